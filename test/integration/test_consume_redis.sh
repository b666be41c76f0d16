#!/usr/bin/env bash
# examples/consume_redis against a Kinesis service and a throwaway
# redis-server (run under test/with-serve.sh KINESIS, or
# test/with-servers.sh, and test/with-redis.sh): two processes of
# one application share a 4-shard stream.
#
#   1. 2,000 records are put; the first process starts and leases all 4
#      shards; a producer puts 2,000 more in batches while the second
#      starts, so that the first hands 2 shards over as records flow;
#      together they print every record, and the shards split 2/2 (the
#      leases in Redis);
#   2. 500 more: each process prints those of its own shards, both some;
#   3. SIGTERM to the first: it exits 0, releasing its leases; the second
#      takes all 4 shards and prints 500 records put then;
#   4. SIGTERM to the second: it exits 0.
#
# Every stop and handover is graceful, which checkpoints everything
# acknowledged first (docs/checkpointers.md, "At least once"), so every
# record must be printed exactly once, and each shard's checkpoint in Redis
# must be its last record.
#
#   test_consume_redis.sh CONSUME_REDIS KINESIS
set -euo pipefail

prog="test_consume_redis.sh"
example="$1"
kinesis="$2"

skip_or_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "not ok - $1 (CI=true)"
    exit 1
  fi
  echo "$prog: SKIP: $1" >&2
  exit 77
}
[ -n "${KINESIS_TEST_ENDPOINT:-}" ] && [ -n "${KINESIS_TEST_REDIS_URL:-}" ] &&
  [ -n "${KINESIS_TEST_REDIS_PORT:-}" ] ||
  skip_or_fail "run me under test/with-serve.sh KINESIS (or test/with-servers.sh) and test/with-redis.sh"
command -v redis-cli >/dev/null 2>&1 || skip_or_fail "redis-cli is not installed"

endpoint="$KINESIS_TEST_ENDPOINT"
redis="$KINESIS_TEST_REDIS_URL"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=test-secret-key AWS_EC2_METADATA_DISABLED=true
export LC_ALL=C
stream="consume-redis-$$"
app="app-$$"
session=6 # so heartbeats come every 2 s
shards=(shardId-000000000000 shardId-000000000001 shardId-000000000002
  shardId-000000000003)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-consume-redis.XXXXXX")"
pids=()
producer=""
cleanup() {
  local p
  for p in ${pids[@]+"${pids[@]}"} $producer; do kill -KILL "$p" 2>/dev/null || true; done
  "$kinesis" --endpoint-url "$endpoint" delete-stream --stream "$stream" \
    >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Evidence for a failure: the leases and each process's last log lines.
state() {
  local name
  echo "leases (shard owner):"
  leases
  for name in c1 c2; do
    [ -f "$tmp/$name.err" ] && echo "$name:" && tail -n 8 "$tmp/$name.err"
  done
}

fail() {
  echo "not ok - $1"
  shift
  { for line in "$@"; do printf '%s\n' "$line"; done; state; } | sed -e 's/^/#   /'
  exit 1
}

ok() {
  echo "ok - $*"
}

# poll TENTHS CMD...: runs CMD every 0.1 s until it succeeds, at most
# TENTHS times.
poll() {
  local i tries="$1"
  shift
  for i in $(seq "$tries"); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

put() {
  "$kinesis" --endpoint-url "$endpoint" put --stream "$stream" <"$1" \
    >/dev/null 2>"$tmp/put.err" || fail "put $(wc -l <"$1") records" "$(cat "$tmp/put.err")"
  cat "$1" >>"$tmp/expected"
}

# The lease of each shard: "SHARD OWNER" lines, "-" when free (the key
# schema of docs/checkpointers.md).
leases() {
  local s o
  for s in "${shards[@]}"; do
    o="$(redis-cli -p "$KINESIS_TEST_REDIS_PORT" HGET "kinesis:{$app:$stream}:shard:$s" owner)"
    echo "$s ${o:--}"
  done
}

# held_by OWNER: how many shards OWNER leases.
held_by() {
  leases | awk -v o="$1" '$2 == o { n++ } END { print n + 0 }'
}

start() {
  "$example" "$stream" "$redis" "$app" "$endpoint" --session-timeout "$session" \
    >"$tmp/$1.out" 2>"$tmp/$1.err" &
  pids+=($!)
}

# The owner name a process logs first: "consume_redis: OWNER reading ...".
owner_of() {
  sed -n -e 's/^consume_redis: \(.*\) reading .*/\1/p' "$tmp/$1.err" | head -n 1
}

# all_printed: every record put is in the outputs.
all_printed() {
  [ -z "$(comm -23 <(sort "$tmp/expected") <(cut -f3 "$tmp/c1.out" "$tmp/c2.out" | sort -u))" ]
}

# gone PID: the process has exited (a zombie not reaped yet counts).
gone() {
  local state=""
  kill -0 "$1" 2>/dev/null || return 0
  state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)"
  [ "$state" = "Z" ]
}

# stop NAME PID: SIGTERM; it must exit 0 within 20 s, with its summary.
stop() {
  local rc=0
  kill -TERM "$2"
  poll 200 gone "$2" || fail "$1 exits within 20 s of SIGTERM"
  wait "$2" || rc=$?
  [ "$rc" -eq 0 ] || fail "$1 exits 0 at SIGTERM (status $rc)"
  [ "$(tail -n 1 "$tmp/$1.err")" = "consume_redis: $(wc -l <"$tmp/$1.out") records" ] ||
    fail "$1 ends with its summary, counting what it printed"
}

"$kinesis" --endpoint-url "$endpoint" create-stream --stream "$stream" \
  --shards 4 --wait >/dev/null 2>"$tmp/create.err" ||
  fail "create-stream" "$(cat "$tmp/create.err")"
: >"$tmp/expected"
seq -f 'A-%06g' 1 2000 >"$tmp/A"
put "$tmp/A"
ok "put 2000 records into a 4-shard stream"

# ---- 1. c1 alone, then c2 joins while records flow.
start c1
p1=${pids[0]}
poll 100 eval '[ -n "$(owner_of c1)" ]' || fail "c1 starts"
o1="$(owner_of c1)"
poll 200 eval '[ "$(held_by "$o1")" -eq 4 ]' || fail "c1, alone, leases all 4 shards"
ok "c1, alone, leases all 4 shards"
# 20 batches of 100, one every 0.2 s or so, while c2 joins.
: >"$tmp/produced"
(
  for b in $(seq 20); do
    seq -f "P$b-%06g" 1 100 >"$tmp/batch"
    "$kinesis" --endpoint-url "$endpoint" put --stream "$stream" <"$tmp/batch" \
      >/dev/null 2>>"$tmp/producer.err" || exit 1
    cat "$tmp/batch" >>"$tmp/produced"
    sleep 0.2
  done
) &
producer=$!
sleep 1
start c2
p2=${pids[1]}
poll 100 eval '[ -n "$(owner_of c2)" ]' || fail "c2 starts"
o2="$(owner_of c2)"
wait "$producer" || fail "the producer's puts succeed" "$(tail -n 5 "$tmp/producer.err")"
producer=""
cat "$tmp/produced" >>"$tmp/expected"
poll 600 all_printed ||
  fail "the two print every record within 60 s" \
    "$(comm -23 <(sort "$tmp/expected") <(cut -f3 "$tmp/c1.out" "$tmp/c2.out" | sort -u) | wc -l) missing"
ok "the two processes print all 4000 records (c1 $(wc -l <"$tmp/c1.out"), c2 $(wc -l <"$tmp/c2.out"))"
split() {
  [ "$(held_by "$o1")" -eq 2 ] && [ "$(held_by "$o2")" -eq 2 ]
}
poll 300 split || fail "the shards split 2/2 within 30 s"
ok "the shards split 2/2"
handed="$(grep -c 'handed shard' "$tmp/c1.err" || true)"
[ "$handed" -ge 2 ] || fail "c1 hands shards over to c2 (its log has $handed 'handed shard' lines)"
ok "c1 hands $handed shards over to c2"

# ---- 2. Each prints the records of its own shards.
c1_before=$(wc -l <"$tmp/c1.out")
c2_before=$(wc -l <"$tmp/c2.out")
leases >"$tmp/split"
seq -f 'B-%06g' 1 500 >"$tmp/B"
put "$tmp/B"
poll 300 all_printed || fail "the 500 records put after the split are printed within 30 s"
for name in c1 c2; do
  before=c1_before
  owner="$o1"
  [ "$name" = c2 ] && before=c2_before && owner="$o2"
  tail -n +$((${!before} + 1)) "$tmp/$name.out" >"$tmp/$name.B"
  [ -s "$tmp/$name.B" ] || fail "$name prints some of the 500 records"
  others="$(cut -f1 "$tmp/$name.B" | sort -u |
    comm -23 - <(awk -v o="$owner" '$2 == o { print $1 }' "$tmp/split"))"
  [ -z "$others" ] || fail "$name prints only records of its own shards" \
    "it printed records of $others"
done
ok "each prints only its own shards' records (c1 $(wc -l <"$tmp/c1.B"), c2 $(wc -l <"$tmp/c2.B"))"

# ---- 3. c1 stops; c2 takes over.
stop c1 "$p1"
pids=("$p2")
[ "$(held_by "$o1")" -eq 0 ] || fail "c1 releases its leases when it stops"
ok "c1 exits 0 at SIGTERM and releases its leases"
c2_before=$(wc -l <"$tmp/c2.out")
poll 200 eval '[ "$(held_by "$o2")" -eq 4 ]' ||
  fail "c2 takes all 4 shards within 20 s"
ok "c2 takes c1's shards over"
seq -f 'C-%06g' 1 500 >"$tmp/C"
put "$tmp/C"
poll 300 all_printed || fail "c2 prints the 500 records put after c1 stopped"
[ "$(tail -n +$((c2_before + 1)) "$tmp/c2.out" | cut -f1 | sort -u | wc -l)" -eq 4 ] ||
  fail "c2 prints records of all 4 shards"
ok "c2 prints the 500 records put since, from all 4 shards"

# ---- 4. c2 stops.
stop c2 "$p2"
pids=()
[ "$(held_by "$o2")" -eq 0 ] || fail "c2 releases its leases when it stops"
ok "c2 exits 0 at SIGTERM and releases its leases"

# ---- Exactly once, and the checkpoints.
cut -f3 "$tmp/c1.out" "$tmp/c2.out" | sort >"$tmp/printed"
if ! diff <(sort "$tmp/expected") "$tmp/printed" >"$tmp/diff"; then
  fail "every record printed exactly once" "$(grep -c '^>' "$tmp/diff") extra, $(grep -c '^<' "$tmp/diff") missing" \
    "$(head -n 10 "$tmp/diff")"
fi
ok "every one of the $(wc -l <"$tmp/expected") records printed exactly once"
for s in "${shards[@]}"; do
  want="$(cat "$tmp/c1.out" "$tmp/c2.out" | awk -F '\t' -v s="$s" '$1 == s { print $2 }' |
    awk '{ if (length($0) > length(m) || (length($0) == length(m) && ($0 "") > (m ""))) m = $0 }
      END { print m }')"
  got="$(redis-cli -p "$KINESIS_TEST_REDIS_PORT" HGET "kinesis:{$app:$stream}:shard:$s" seq)"
  [ -n "$want" ] && [ "$got" = "$want" ] ||
    fail "$s's checkpoint is its last record" "checkpoint $got, last record $want"
done
ok "each shard's checkpoint in Redis is its last record"
