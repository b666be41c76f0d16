#!/usr/bin/env bash
# Integration test of several `kinesis tail` processes sharing one stream
# through the Redis checkpointer (docs/cli.md `tail`, docs/consumer.md
# "Sharing a stream", docs/checkpointers.md "The Redis lease protocol").
#
#   test/with-serve.sh PATH-TO-KINESIS test/with-redis.sh \
#     test/integration/test_shared_tail.sh PATH-TO-KINESIS
#
# Needs a Kinesis service (KINESIS_TEST_ENDPOINT: `kinesis serve` from
# test/with-serve.sh, or kinesalite from test/with-servers.sh), a
# throwaway redis-server (KINESIS_TEST_REDIS_URL, _PORT and _CTL, from
# test/with-redis.sh), redis-cli and python3. Without them it exits 77
# (skip), or 1 when CI=true.
#
# Each scenario has its own 8-shard stream and its own --app, and runs
# separate `tail` processes (--session-timeout 3, so leases are heartbeaten
# every second) while `kinesis put` produces records with unique data:
#
#   1. two tails, then three: the shards split 4/4, then 3/3/2; every record
#      is printed by exactly one tail; SIGTERM frees every lease.
#   2. kill -9 of one of two tails: the other takes its shards over within
#      the session timeout plus a heartbeat; nothing is lost, and the only
#      duplicates are records the dead tail printed past its checkpoints.
#   3. SIGSTOP of one of two tails for longer than the session: the other
#      takes over; after SIGCONT the stalled tail writes no stale checkpoint,
#      drops its shards, and rejoins; nothing is lost.
#   4. Redis down for 6 s: the tails stop printing once their leases cannot
#      be confirmed, and after the restart they take their shares again and
#      print everything, records produced during the outage included.
#
# Measured figures (convergence, takeover and recovery times, duplicate
# counts) are printed as "# ..." lines.
set -u

prog="test_shared_tail.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS (run it under test/with-serve.sh KINESIS (or test/with-servers.sh) and test/with-redis.sh)" >&2
  exit 1
fi
KINESIS="$1"

skip_or_fail() {
  if [ "${CI:-}" = "true" ]; then
    echo "$prog: error: $1 (CI=true, so this is a failure)" >&2
    exit 1
  fi
  echo "$prog: SKIP: $1" >&2
  exit 77
}

for v in KINESIS_TEST_ENDPOINT KINESIS_TEST_REDIS_URL KINESIS_TEST_REDIS_PORT \
         KINESIS_TEST_REDIS_CTL; do
  if [ -z "${!v:-}" ]; then
    skip_or_fail "$v is not set; run me under test/with-serve.sh KINESIS (or test/with-servers.sh) and test/with-redis.sh"
  fi
done
for c in redis-cli python3; do
  command -v "$c" >/dev/null 2>&1 || skip_or_fail "$c is not installed"
done

# Sequence numbers are compared as strings (by length, then bytes): the C
# locale makes [[ < ]] compare bytes.
export LC_ALL=C

# A known environment: these credentials, this region, nothing else from the
# caller's configuration.
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=secret
unset AWS_DEFAULT_REGION AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL \
      AWS_ENDPOINT_URL_KINESIS AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_EC2_METADATA_DISABLED=true

EP="$KINESIS_TEST_ENDPOINT"
RURL="$KINESIS_TEST_REDIS_URL"
RPORT="$KINESIS_TEST_REDIS_PORT"
RCTL="$KINESIS_TEST_REDIS_CTL"
SESSION=3                     # --session-timeout of every tail, seconds

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-shared.XXXXXX")"
: >"$tmp/empty"
export AWS_CONFIG_FILE="$tmp/empty"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"

# Every background process this script starts, killed at exit.
bg_pids=()
streams=()

# forget PID: a process that was reaped is no longer killed at exit (its id
# may be reused).
forget() {
  local p keep=()
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  bg_pids=(${keep[@]+"${keep[@]}"})
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$? p s
  trap - EXIT INT TERM HUP
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    kill -CONT "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
  done
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    wait "$p" 2>/dev/null
  done
  for s in ${streams[@]+"${streams[@]}"}; do
    timeout 10 "$KINESIS" --endpoint-url "$EP" delete-stream --stream "$s" \
      >/dev/null 2>&1
  done
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

suffix="$$-$RANDOM"
host="$(uname -n)"
pass=0
fail=0

# ---- helpers

ok() {
  pass=$((pass + 1))
  echo "ok $((pass + fail)) - $1"
}

# not_ok DESCRIPTION [DETAIL]...
not_ok() {
  fail=$((fail + 1))
  echo "not ok $((pass + fail)) - $1"
  shift
  local line
  for line in "$@"; do
    printf '%s\n' "$line" | sed -e 's/^/#   /'
  done
}

# check DESCRIPTION CONDITION-STATUS [DETAIL]...: ok when the status is 0.
check() {
  local what="$1" st="$2"
  shift 2
  if [ "$st" -eq 0 ]; then ok "$what"; else not_ok "$what" "$@"; fi
}

note() {
  echo "# $*"
}

# Microseconds since the epoch.
now_us() {
  local t="$EPOCHREALTIME"
  echo $((10#${t//[.,]/}))
}

# secs_since START_US: seconds since START_US, with two decimals.
secs_since() {
  local d=$(($(now_us) - $1))
  printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

# sleep_until US: sleeps until that time (at once when it has passed).
sleep_until() {
  local d=$(($1 - $(now_us)))
  if [ "$d" -gt 0 ]; then
    sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
  fi
}

# poll MS CMD [ARGS...]: runs CMD every 0.1 s until it succeeds (status 0)
# or MS milliseconds pass (status 1).
poll() {
  local end=$(($(now_us) + $1 * 1000))
  shift
  while :; do
    "$@" && return 0
    [ "$(now_us)" -ge "$end" ] && return 1
    sleep 0.1
  done
}

rcli() {
  timeout 5 redis-cli -p "$RPORT" "$@"
}

# gone PID: the process has exited (a zombie counts as gone).
gone() {
  local state=""
  kill -0 "$1" 2>/dev/null || return 0
  state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)"
  [ "$state" = "Z" ]
}

# Every record's data is unique: PREFIX-BATCH-NUMBER.
# make_lines PREFIX FIRST LAST: the lines PREFIX-NUMBER, FIRST to LAST.
make_lines() {
  awk -v p="$1" -v a="$2" -v b="$3" \
    'BEGIN { for (i = a; i <= b; i++) printf "%s-%06d\n", p, i }'
}

# create STREAM: an 8-shard stream; sets `shards` to its shard ids.
create() {
  local s="$1"
  streams+=("$s")
  if ! timeout 60 "$KINESIS" --endpoint-url "$EP" create-stream --stream "$s" \
      --shards 8 --wait >"$tmp/create.out" 2>"$tmp/create.err"; then
    not_ok "create-stream $s --shards 8" "$(cat "$tmp/create.err")"
    shards=()
    return 1
  fi
  mapfile -t shards < <(timeout 30 "$KINESIS" --endpoint-url "$EP" \
    describe-stream --stream "$s" 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin)["Shards"]:
    print(s["ShardId"])')
  if [ "${#shards[@]}" -ne 8 ]; then
    not_ok "create-stream $s --shards 8" "describe-stream lists ${#shards[@]} shards"
    return 1
  fi
  ok "create-stream $s --shards 8"
}

# put_lines STREAM FILE: puts the file's lines; checks the exit status.
put_lines() {
  if timeout 120 "$KINESIS" --endpoint-url "$EP" put --stream "$1" \
      <"$2" >"$tmp/put.out" 2>"$tmp/put.err"; then
    ok "put $(wc -l <"$2") records"
  else
    not_ok "put $(wc -l <"$2") records" "$(tail -n 5 "$tmp/put.err")"
  fi
}

# start_tail STREAM APP NAME: a tail in the background, stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err; sets TAIL_PID.
# Every tail here ends by a signal: under AddressSanitizer, LeakSanitizer's
# exit-time scan of a signalled process has been seen to spin forever (see
# test_cli.sh), so the tails skip it; test_cli.sh checks tail for leaks.
start_tail() {
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$KINESIS" --endpoint-url "$EP" -v tail --stream "$1" --checkpoint "$RURL" \
    --app "$2" --session-timeout "$SESSION" --format json \
    >"$tmp/$3.out" 2>"$tmp/$3.err" </dev/null &
  TAIL_PID=$!
  bg_pids+=("$TAIL_PID")
}

# stop_tail PID NAME: SIGTERM, then checks that it exits 0 within 20 s with
# its summary line, and that the summary counts the lines it printed.
stop_tail() {
  local pid="$1" name="$2" rc last n
  kill -TERM "$pid" 2>/dev/null
  if ! poll 20000 gone "$pid"; then
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    forget "$pid"
    not_ok "$name stops within 20 s of SIGTERM" \
      "$(tail -n 10 "$tmp/$name.err")"
    return
  fi
  wait "$pid"
  rc=$?
  forget "$pid"
  check "$name exits 0 at SIGTERM" $((rc != 0)) "exit status $rc" \
    "$(tail -n 10 "$tmp/$name.err")"
  last="$(tail -n 1 "$tmp/$name.err")"
  n="$(wc -l <"$tmp/$name.out")"
  [ "$last" = "kinesis: tail: $n records (terminated)" ]
  check "$name ends with its summary line ($n records)" $? \
    "last stderr line: $last" "lines on stdout: $n"
}

# owner_of APP PID: the lease owner name of that tail.
owner_of() {
  echo "$1-$host-$2"
}

# The lease table of a stream, one line per shard: "SHARD OWNER SEQ LIVE",
# with "-" for no owner or no checkpoint, and LIVE 1 when the lease has not
# expired by Redis's clock (docs/checkpointers.md), else 0. One atomic read.
LEASES_LUA='local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = {}
for i, k in ipairs(KEYS) do
  local h = redis.call("HMGET", k, "owner", "seq", "expires_ms")
  local o = h[1]
  local live = 0
  if not o or o == "" then
    o = "-"
  elseif now <= (tonumber(h[3]) or 0) then
    live = 1
  end
  r[i] = string.match(k, ":shard:(.*)$") .. " " .. o .. " " .. (h[2] or "-") ..
    " " .. live
end
return r'

# leases APP STREAM: prints the table (status 1 when Redis does not answer).
leases() {
  local keys=() s out
  for s in "${shards[@]}"; do
    keys+=("kinesis:{$1:$2}:shard:$s")
  done
  out="$(rcli EVAL "$LEASES_LUA" "${#keys[@]}" "${keys[@]}" 2>&1)" || return 1
  [ "$(printf '%s\n' "$out" | wc -l)" -eq "${#shards[@]}" ] || return 1
  printf '%s\n' "$out"
}

# split_of APP STREAM PID...: how many shards each tail holds a live lease
# on, in the order given, then how many are free, expired or held by someone
# else: "4 4 0".
split_of() {
  local app="$1" stream="$2" table p o counts=() n other
  shift 2
  table="$(leases "$app" "$stream")" || return 1
  other="${#shards[@]}"
  for p in "$@"; do
    o="$(owner_of "$app" "$p")"
    n="$(awk -v o="$o" '$2 == o && $4 == 1 { n++ } END { print n + 0 }' <<<"$table")"
    counts+=("$n")
    other=$((other - n))
  done
  echo "${counts[*]} $other"
}

# has_split APP STREAM WANT PID...: the tails own shards in the amounts WANT
# ("3 3 2", in any order) and no shard is free. Sets SPLIT.
has_split() {
  local app="$1" stream="$2" want="$3" got sorted
  shift 3
  SPLIT="$(split_of "$app" "$stream" "$@")" || { SPLIT="(Redis did not answer)"; return 1; }
  got="${SPLIT% *}"
  [ "${SPLIT##* }" -eq 0 ] || return 1
  sorted="$(tr ' ' '\n' <<<"$got" | sort -rn | tr '\n' ' ')"
  [ "${sorted% }" = "$(tr ' ' '\n' <<<"$want" | sort -rn | tr '\n' ' ' | sed -e 's/ $//')" ]
}

# owns_all APP STREAM PID: that tail owns every shard. Sets SPLIT.
owns_all() {
  SPLIT="$(split_of "$1" "$2" "$3")" || { SPLIT="(Redis did not answer)"; return 1; }
  [ "$SPLIT" = "${#shards[@]} 0" ]
}

# seq_ge A B: sequence number A >= B, as decimal strings ("-": none, which
# is below everything).
seq_ge() {
  local a="$1" b="$2"
  [ "$b" = "-" ] && return 0
  [ "$a" = "-" ] && return 1
  [ "${#a}" -ne "${#b}" ] && { [ "${#a}" -gt "${#b}" ]; return; }
  [[ ! "$a" < "$b" ]]
}

# seqs_not_below SNAPSHOT-FILE APP STREAM: every shard's current checkpoint
# is >= the one in the snapshot (a `leases` table). The shards that are not
# go to $tmp/below.
seqs_not_below() {
  local snap="$1" table shard owner seq live want bad=0
  table="$(leases "$2" "$3")" || { echo "(Redis did not answer)" >>"$tmp/below"; return 1; }
  while read -r shard owner seq live; do
    want="$(awk -v s="$shard" '$1 == s { print $3 }' "$snap")"
    if ! seq_ge "$seq" "${want:--}"; then
      echo "$shard: seq $seq < snapshot $want (owner $owner)" >>"$tmp/below"
      bad=1
    fi
  done <<<"$table"
  return "$bad"
}

# A checkpoint tick: the consumer writes checkpoints on a timer (every 5 s
# from its start), so the first change of a checkpoint tells its phase.
# tick_seen BASE-FILE APP STREAM [PID]: a shard (owned by PID) has a seq other
# than in BASE-FILE.
tick_seen() {
  local base="$1" app="$2" stream="$3" pid="${4:-}" o="" table
  [ -n "$pid" ] && o="$(owner_of "$app" "$pid")"
  table="$(leases "$app" "$stream")" || return 1
  awk -v o="$o" 'NR == FNR { seq[$1] = $3; next }
    (o == "" || $2 == o) && $3 != "-" && $3 != seq[$1] { found = 1 }
    END { exit !found }' "$base" - <<<"$table"
}

# wait_tick APP STREAM MS [PID]: waits until a checkpoint of the stream (of
# a shard PID owns) changes; sets TICK_US to when that was seen.
wait_tick() {
  local app="$1" stream="$2" ms="$3" pid="${4:-}"
  leases "$app" "$stream" >"$tmp/tick.base" || : >"$tmp/tick.base"
  if poll "$ms" tick_seen "$tmp/tick.base" "$app" "$stream" "$pid"; then
    TICK_US=$(now_us)
    return 0
  fi
  TICK_US=$(now_us)
  not_ok "a checkpoint is written within $((ms / 1000)) s" \
    "$(leases "$app" "$stream")"
  return 1
}

# status CMD [ARGS...]: prints the command's exit status.
status() {
  "$@"
  echo $?
}

# state_of APP STREAM NAME...: evidence for a failure: the lease table and
# the consumer's log lines of each tail.
state_of() {
  local app="$1" stream="$2" n
  shift 2
  echo "leases (shard owner seq live):"
  leases "$app" "$stream" || echo "(Redis did not answer)"
  for n in "$@"; do
    echo "$n stderr (last 12 lines):"
    tail -n 12 "$tmp/$n.err"
  done
}

# producer STREAM PREFIX SECONDS: in the background, puts batches of 200
# lines PREFIX-BATCH-NNN about every 0.3 s for SECONDS. A batch that `put`
# acknowledged goes to $tmp/PREFIX.expected, one that failed to
# $tmp/PREFIX.maybe (some of its records may be in the stream); each batch
# logs "BATCH START_US END_US STATUS" to $tmp/PREFIX.log. Sets PRODUCER_PID.
producer() {
  local stream="$1" prefix="$2" secs="$3"
  : >"$tmp/$prefix.expected"
  : >"$tmp/$prefix.maybe"
  : >"$tmp/$prefix.log"
  (
    child=""
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 143' TERM
    end=$(($(now_us) + secs * 1000000))
    b=0
    while [ "$(now_us)" -lt "$end" ]; do
      b=$((b + 1))
      make_lines "$prefix-$b" 1 200 >"$tmp/$prefix.batch"
      start=$(now_us)
      timeout 60 "$KINESIS" --endpoint-url "$EP" put --stream "$stream" \
        <"$tmp/$prefix.batch" >/dev/null 2>>"$tmp/$prefix.put.err" &
      child=$!
      wait "$child"
      rc=$?
      child=""
      if [ "$rc" -eq 0 ]; then
        cat "$tmp/$prefix.batch" >>"$tmp/$prefix.expected"
      else
        cat "$tmp/$prefix.batch" >>"$tmp/$prefix.maybe"
      fi
      echo "$b $start $(now_us) $rc" >>"$tmp/$prefix.log"
      sleep 0.3
    done
  ) </dev/null &
  PRODUCER_PID=$!
  bg_pids+=("$PRODUCER_PID")
}

# wait_producer PREFIX: waits for the producer and checks its puts.
wait_producer() {
  local prefix="$1" failed batches
  wait "$PRODUCER_PID"
  forget "$PRODUCER_PID"
  batches="$(wc -l <"$tmp/$prefix.log")"
  failed="$(awk '$4 != 0' "$tmp/$prefix.log" | wc -l)"
  note "$prefix producer: $batches batches, $(wc -l <"$tmp/$prefix.expected") records acknowledged"
  check "every put of the $prefix producer succeeded ($batches batches)" \
    $((failed != 0)) "$failed batches failed:" \
    "$(tail -n 5 "$tmp/$prefix.put.err" 2>/dev/null)"
}

# The record checker: reads the tails' JSON lines, decodes the data, and
# compares it with the records put.
cat >"$tmp/check.py" <<'EOF'
import argparse, base64, collections, json, sys

p = argparse.ArgumentParser()
p.add_argument("--expected", action="append", default=[])
p.add_argument("--maybe", action="append", default=[])
p.add_argument("--out", action="append", default=[], help="NAME=FILE")
p.add_argument("--victim", help="NAME of the tail whose checkpoints are --ckpt")
p.add_argument("--ckpt", help="lines SHARD SEQ: the victim's shards and checkpoints")
p.add_argument("--detail")
a = p.parse_args()

def read_lines(files):
    s = set()
    for f in files:
        with open(f, "rb") as fh:
            for line in fh:
                s.add(line.rstrip(b"\n"))
    return s

expected = read_lines(a.expected)
maybe = read_lines(a.maybe)
details = []
bad = 0
seen = collections.defaultdict(list)   # data -> [(name, shard, seq)]
for spec in a.out:
    name, path = spec.split("=", 1)
    with open(path, "rb") as fh:
        text = fh.read()
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        bad += 1
        details.append("%s: the last line has no newline" % name)
    for i, line in enumerate(lines):
        try:
            o = json.loads(line)
            data = base64.b64decode(o["data_b64"], validate=True)
            seen[data].append((name, o["shard_id"], o["sequence_number"]))
        except Exception as e:
            bad += 1
            details.append("%s line %d is not a record: %r (%s)" % (name, i + 1, line[:200], e))

def seq_key(s):
    return (len(s), s)

ckpt = None
if a.ckpt:
    ckpt = {}
    with open(a.ckpt) as fh:
        for line in fh:
            shard, seq = line.split()
            ckpt[shard] = seq

lost = [d for d in expected if d not in seen]
unexpected = [d for d in seen if d not in expected and d not in maybe]
dups = 0
outside = 0
for d, prints in seen.items():
    if len(prints) < 2:
        continue
    dups += len(prints) - 1
    if ckpt is None:
        details.append("duplicate %r: %s" % (d, prints))
        continue
    names = sorted(n for n, _, _ in prints)
    shard, seq = prints[0][1], prints[0][2]
    why = None
    if any((s, q) != (shard, seq) for _, s, q in prints):
        why = "printed with different shards or sequence numbers"
    elif len(prints) != 2 or a.victim not in names or names[0] == names[1]:
        why = "not printed once by the killed tail and once by the other"
    elif shard not in ckpt:
        why = "on a shard the killed tail did not own"
    elif ckpt[shard] != "-" and seq_key(seq) <= seq_key(ckpt[shard]):
        why = "at or below the killed tail's checkpoint %s" % ckpt[shard]
    if why:
        outside += 1
        details.append("duplicate %r %s: %s" % (d, why, prints))

for d in sorted(lost)[:10]:
    details.append("lost %r" % d)
for d in sorted(unexpected)[:10]:
    details.append("unexpected %r: %s" % (d, seen[d]))
if a.detail:
    with open(a.detail, "w") as fh:
        fh.write("\n".join(details[:30]) + ("\n" if details else ""))
print(len(lost), dups, len(unexpected), bad, outside)
EOF

# records PREFIX NAME...: checks the tails' outputs against what the
# producers of PREFIX put; sets LOST DUPS UNEXPECTED BAD OUTSIDE, and the
# details go to $tmp/detail. Extra checker arguments in CHECK_ARGS.
records() {
  local prefix="$1" n args=()
  shift
  args=(--expected "$tmp/$prefix.expected" --detail "$tmp/detail")
  [ -f "$tmp/$prefix.maybe" ] && args+=(--maybe "$tmp/$prefix.maybe")
  for n in "$@"; do
    args+=(--out "$n=$tmp/$n.out")
  done
  read -r LOST DUPS UNEXPECTED BAD OUTSIDE < <(python3 "$tmp/check.py" \
    "${args[@]}" ${CHECK_ARGS[@]+"${CHECK_ARGS[@]}"} 2>"$tmp/check.err" ||
    echo 999999 999999 999999 999999 999999)
  if [ -s "$tmp/check.err" ]; then
    cat "$tmp/check.err" >>"$tmp/detail"
  fi
}

# all_printed PREFIX NAME...: no record of PREFIX is missing.
all_printed() {
  records "$@"
  [ "$LOST" -eq 0 ]
}

# wait_all_printed PREFIX MS NAME...: polls until every record is printed.
wait_all_printed() {
  local prefix="$1" ms="$2" t0
  shift 2
  t0=$(now_us)
  if poll "$ms" all_printed "$prefix" "$@"; then
    note "$prefix: all $(wc -l <"$tmp/$prefix.expected") records printed $(secs_since "$t0") s after the producer ended"
    return 0
  fi
  return 1
}

# The members of a stream still live (score not past), by Redis's clock.
LIVE_MEMBERS_LUA='local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call("ZCOUNT", KEYS[1], now, "+inf")'

# converge APP STREAM WANT MS NAMES PID...: polls until the split is WANT;
# checks it and prints the time taken from $T0.
converge() {
  local app="$1" stream="$2" want="$3" ms="$4" names="$5"
  shift 5
  if poll "$ms" has_split "$app" "$stream" "$want" "$@"; then
    ok "$names converge to ${want// //} shards within $((ms / 1000)) s (split ${SPLIT% *})"
    note "$names: ${want// //} after $(secs_since "$T0") s"
  else
    # shellcheck disable=SC2086
    not_ok "$names converge to ${want// //} shards within $((ms / 1000)) s" \
      "last split (per tail, then free): $SPLIT" \
      "$(state_of "$app" "$stream" $names)"
  fi
}

# ==== 1. Two tails, then three

echo "# scenario 1: two tails, then three"
app="app1-$suffix"
st="shared1-$suffix"
create "$st"
start_tail "$st" "$app" s1t1
p1=$TAIL_PID
start_tail "$st" "$app" s1t2
p2=$TAIL_PID
T0=$(now_us)
make_lines A 1 4000 >"$tmp/A.expected"
put_lines "$st" "$tmp/A.expected"
converge "$app" "$st" "4 4" 15000 "s1t1 s1t2" "$p1" "$p2"

start_tail "$st" "$app" s1t3
p3=$TAIL_PID
T0=$(now_us)
converge "$app" "$st" "3 3 2" 15000 "s1t1 s1t2 s1t3" "$p1" "$p2" "$p3"
note "split after the third tail joined (s1t1 s1t2 s1t3 free): $SPLIT"

make_lines A 4001 8000 >"$tmp/A.second"
put_lines "$st" "$tmp/A.second"
cat "$tmp/A.second" >>"$tmp/A.expected"
T0=$(now_us)
if wait_all_printed A 30000 s1t1 s1t2 s1t3; then
  ok "scenario 1: all 8000 records printed"
else
  not_ok "scenario 1: all 8000 records printed" "$LOST missing" \
    "$(head -n 10 "$tmp/detail")" "$(state_of "$app" "$st" s1t1 s1t2 s1t3)"
fi

stop_tail "$p1" s1t1
stop_tail "$p2" s1t2
stop_tail "$p3" s1t3
records A s1t1 s1t2 s1t3
note "scenario 1: printed s1t1 $(wc -l <"$tmp/s1t1.out"), s1t2 $(wc -l <"$tmp/s1t2.out"), s1t3 $(wc -l <"$tmp/s1t3.out"); duplicates $DUPS"
note "scenario 1: handovers logged: $(cat "$tmp"/s1t?.err | grep -c 'consumer: handed shard'), leases dropped: $(cat "$tmp"/s1t?.err | grep -c 'consumer: dropping shard')"
[ "$LOST" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$UNEXPECTED" -eq 0 ] && [ "$BAD" -eq 0 ]
check "scenario 1: every record printed by exactly one tail (lost $LOST, duplicates $DUPS, unexpected $UNEXPECTED, bad lines $BAD)" $? \
  "$(head -n 20 "$tmp/detail")"

table="$(leases "$app" "$st")"
owned="$(awk '$2 != "-"' <<<"$table")"
[ -n "$table" ] && [ -z "$owned" ]
check "scenario 1: no shard has an owner after the tails stopped" $? \
  "shards still owned:" "$owned"
live="$(rcli EVAL "$LIVE_MEMBERS_LUA" 1 "kinesis:{$app:$st}:members")"
[ "$live" = "0" ]
check "scenario 1: the members set is empty or expired" $? \
  "live members: $live" "$(rcli ZRANGE "kinesis:{$app:$st}:members" 0 -1 WITHSCORES)"

# ==== 2. kill -9

echo "# scenario 2: kill -9 of one of two tails"
app="app2-$suffix"
st="shared2-$suffix"
create "$st"
start_tail "$st" "$app" s2t1
p1=$TAIL_PID
start_tail "$st" "$app" s2t2
p2=$TAIL_PID
T0=$(now_us)
converge "$app" "$st" "4 4" 15000 "s2t1 s2t2" "$p1" "$p2"

producer "$st" B 14
# The kill comes 2.5 s after the tail to be killed wrote checkpoints, so it
# has printed records past them (it checkpoints every 5 s).
wait_tick "$app" "$st" 8000 "$p2"
sleep_until $((TICK_US + 2500000))
disown "$p2"   # no "Killed" message from the shell
kill -KILL "$p2"
t_kill=$(now_us)
poll 2000 gone "$p2" && forget "$p2"
note "scenario 2: kill -9 $(secs_since "$TICK_US") s after a checkpoint of the killed tail was seen"
leases "$app" "$st" >"$tmp/s2.killed" || : >"$tmp/s2.killed"
o2="$(owner_of "$app" "$p2")"
awk -v o="$o2" '$2 == o { print $1, $3 }' "$tmp/s2.killed" >"$tmp/s2.ckpt"
note "scenario 2: s2t2 had printed $(wc -l <"$tmp/s2t2.out") records; at the kill it owned (shard checkpoint):"
sed -e 's/^/#   /' "$tmp/s2.ckpt"
[ -s "$tmp/s2.ckpt" ]
check "scenario 2: the killed tail owned shards at the kill" $? "$(cat "$tmp/s2.killed")"

limit=$(( (SESSION + 1 + 1) * 1000 ))
if poll $((limit - ($(now_us) - t_kill) / 1000)) owns_all "$app" "$st" "$p1"; then
  took="$(secs_since "$t_kill")"
  ok "scenario 2: the surviving tail owns all 8 shards within $((limit / 1000)) s of the kill"
  note "scenario 2: takeover after kill -9: $took s"
else
  not_ok "scenario 2: the surviving tail owns all 8 shards within $((limit / 1000)) s of the kill" \
    "split (s2t1, other/free) $SPLIT after $(secs_since "$t_kill") s" \
    "$(state_of "$app" "$st" s2t1)"
  if poll 15000 owns_all "$app" "$st" "$p1"; then
    note "scenario 2: takeover after kill -9 took $(secs_since "$t_kill") s"
  fi
fi

wait_producer B
if wait_all_printed B 30000 s2t1 s2t2; then
  ok "scenario 2: every record printed after the kill (none lost)"
else
  not_ok "scenario 2: every record printed after the kill (none lost)" \
    "$LOST missing" "$(head -n 10 "$tmp/detail")" "$(state_of "$app" "$st" s2t1)"
fi
stop_tail "$p1" s2t1
CHECK_ARGS=(--victim s2t2 --ckpt "$tmp/s2.ckpt")
records B s2t1 s2t2
CHECK_ARGS=()
note "scenario 2: duplicates: $DUPS (records the killed tail printed past its last checkpoint)"
[ "$LOST" -eq 0 ] && [ "$UNEXPECTED" -eq 0 ] && [ "$BAD" -eq 0 ]
check "scenario 2: no record lost (lost $LOST, unexpected $UNEXPECTED, bad lines $BAD)" $? \
  "$(head -n 20 "$tmp/detail")"
check "scenario 2: every duplicate is on a shard of the killed tail above its checkpoint ($DUPS duplicates, $OUTSIDE not)" \
  $((OUTSIDE != 0)) "$(head -n 20 "$tmp/detail")"

# ==== 3. SIGSTOP

echo "# scenario 3: SIGSTOP of one of two tails for longer than the session"
app="app3-$suffix"
st="shared3-$suffix"
create "$st"
start_tail "$st" "$app" s3t1
p1=$TAIL_PID
start_tail "$st" "$app" s3t2
p2=$TAIL_PID
T0=$(now_us)
converge "$app" "$st" "4 4" 15000 "s3t1 s3t2" "$p1" "$p2"

producer "$st" C 18
# The stop comes 4.5 s after a checkpoint tick of the running tail, so that
# its next tick (5.5 s into the stop) falls after it took the shards over
# (3 to 4 s) and before SIGCONT (7 s): the snapshot then holds the running
# tail's checkpoints, past what the stalled tail had printed, and a stale
# checkpoint from the stalled tail would move them back.
wait_tick "$app" "$st" 8000 "$p1"
sleep_until $((TICK_US + 4500000))
leases "$app" "$st" >"$tmp/s3.stop"
kill -STOP "$p2"
t_stop=$(now_us)
if poll 7000 owns_all "$app" "$st" "$p1"; then
  ok "scenario 3: the running tail owns all 8 shards while the other is stopped"
  note "scenario 3: takeover after SIGSTOP: $(secs_since "$t_stop") s"
else
  not_ok "scenario 3: the running tail owns all 8 shards while the other is stopped" \
    "split (s3t1, other/free) $SPLIT after $(secs_since "$t_stop") s" \
    "$(state_of "$app" "$st" s3t1)"
fi
sleep_until $((t_stop + 7000000 - 150000))
leases "$app" "$st" >"$tmp/s3.snap" || : >"$tmp/s3.snap"
kill -CONT "$p2"
t_cont=$(now_us)
note "scenario 3: checkpoints at SIGSTOP (shard owner seq live):"
sed -e 's/^/#   /' "$tmp/s3.stop"
note "scenario 3: SIGCONT after $(secs_since "$t_stop") s stopped; checkpoints just before (shard owner seq live):"
sed -e 's/^/#   /' "$tmp/s3.snap"
# How many of the stalled tail's shards the running tail had checkpointed
# past the stalled tail's checkpoints by SIGCONT: those are where a stale
# checkpoint would show.
o2="$(owner_of "$app" "$p2")"
moved=0
held=0
while read -r shard owner seq _; do
  [ "$owner" = "$o2" ] || continue
  held=$((held + 1))
  now_seq="$(awk -v s="$shard" '$1 == s { print $3 }' "$tmp/s3.snap")"
  if [ -n "$now_seq" ] && [ "$now_seq" != "$seq" ] && seq_ge "$now_seq" "$seq"; then
    moved=$((moved + 1))
  fi
done <"$tmp/s3.stop"
note "scenario 3: $moved of the stalled tail's $held shards were checkpointed further by the other tail before SIGCONT"

# For 2 s after SIGCONT, and until the split is 4/4 again, no checkpoint
# may go back: the stalled tail must not write what it had before the stop.
: >"$tmp/below"
samples=0
while [ "$(now_us)" -lt $((t_cont + 2000000)) ]; do
  seqs_not_below "$tmp/s3.snap" "$app" "$st"
  samples=$((samples + 1))
  sleep 0.1
done
seqs_not_below "$tmp/s3.snap" "$app" "$st"
check "scenario 3: 2 s after SIGCONT every shard's seq is >= its snapshot ($samples samples in between)" \
  "$(status test ! -s "$tmp/below")" "$(sort -u "$tmp/below" | head -n 10)" \
  "$(state_of "$app" "$st" s3t1 s3t2)"
grep -E "consumer: dropping shard .*(could not be confirmed|taken by another consumer)" \
  "$tmp/s3t2.err" >"$tmp/s3.dropped"
check "scenario 3: the stalled tail logs that it dropped its shards ($(wc -l <"$tmp/s3.dropped") lines)" \
  "$(status test -s "$tmp/s3.dropped")" "$(tail -n 12 "$tmp/s3t2.err")"
sed -e 's/^/#   /' "$tmp/s3.dropped" | head -n 4

rejoined_and_monotonic() {
  seqs_not_below "$tmp/s3.snap" "$app" "$st"
  has_split "$app" "$st" "4 4" "$p1" "$p2"
}
: >"$tmp/below"
if poll 15000 rejoined_and_monotonic; then
  ok "scenario 3: the stalled tail rejoins: 4/4 within 15 s of SIGCONT"
  note "scenario 3: 4/4 again $(secs_since "$t_cont") s after SIGCONT"
else
  not_ok "scenario 3: the stalled tail rejoins: 4/4 within 15 s of SIGCONT" \
    "split (s3t1 s3t2 free) $SPLIT" "$(state_of "$app" "$st" s3t1 s3t2)"
fi
check "scenario 3: until the rejoin no shard's seq went below its snapshot" \
  "$(status test ! -s "$tmp/below")" "$(sort -u "$tmp/below" | head -n 10)"

wait_producer C
if wait_all_printed C 30000 s3t1 s3t2; then
  ok "scenario 3: every record printed (none lost)"
else
  not_ok "scenario 3: every record printed (none lost)" \
    "$LOST missing" "$(head -n 10 "$tmp/detail")" "$(state_of "$app" "$st" s3t1 s3t2)"
fi
stop_tail "$p1" s3t1
stop_tail "$p2" s3t2
records C s3t1 s3t2
note "scenario 3: duplicates: $DUPS"
[ "$LOST" -eq 0 ] && [ "$UNEXPECTED" -eq 0 ] && [ "$BAD" -eq 0 ]
check "scenario 3: no record lost overall (lost $LOST, unexpected $UNEXPECTED, bad lines $BAD)" $? \
  "$(head -n 20 "$tmp/detail")"

# ==== 4. Redis down

echo "# scenario 4: Redis down for 6 s"
app="app4-$suffix"
st="shared4-$suffix"
create "$st"
start_tail "$st" "$app" s4t1
p1=$TAIL_PID
start_tail "$st" "$app" s4t2
p2=$TAIL_PID
T0=$(now_us)
converge "$app" "$st" "4 4" 15000 "s4t1 s4t2" "$p1" "$p2"

producer "$st" D 16
# The outage starts 2 s after a checkpoint tick: the tails have checkpoints,
# and records printed past them.
wait_tick "$app" "$st" 8000
sleep_until $((TICK_US + 2000000))
leases "$app" "$st" >"$tmp/s4.snap" || : >"$tmp/s4.snap"
note "scenario 4: checkpoints before SAVE (shard owner seq live):"
sed -e 's/^/#   /' "$tmp/s4.snap"
saved="$(rcli SAVE 2>&1)"
check "scenario 4: redis-cli SAVE" "$(status test "$saved" = "OK")" "$saved"
"$RCTL" stop
t_down=$(now_us)
if rcli PING >/dev/null 2>&1; then
  not_ok "scenario 4: Redis is down" "it still answers PING"
else
  ok "scenario 4: Redis is down"
fi
sleep_until $((t_down + (SESSION * 1000 + 1500) * 1000))
c1a="$(wc -l <"$tmp/s4t1.out")"
c2a="$(wc -l <"$tmp/s4t2.out")"
sleep 1
c1b="$(wc -l <"$tmp/s4t1.out")"
c2b="$(wc -l <"$tmp/s4t2.out")"
note "scenario 4: lines printed $(secs_since "$t_down") s into the outage: s4t1 $c1a -> $c1b, s4t2 $c2a -> $c2b (1 s apart)"
[ "$c1a" -eq "$c1b" ] && [ "$c2a" -eq "$c2b" ]
check "scenario 4: with Redis down past the session timeout + 1.5 s, the tails print nothing more" $? \
  "s4t1 $c1a -> $c1b, s4t2 $c2a -> $c2b" "$(tail -n 8 "$tmp/s4t1.err")" \
  "$(tail -n 8 "$tmp/s4t2.err")"
for n in s4t1 s4t2; do
  k="$(grep -c "consumer: dropping shard .*could not be confirmed" "$tmp/$n.err")"
  check "scenario 4: $n logs that it dropped shards it could not confirm ($k lines)" \
    $((k == 0)) "$(tail -n 8 "$tmp/$n.err")"
done

sleep_until $((t_down + 6000000))
"$RCTL" start
st_rc=$?
t_up=$(now_us)
check "scenario 4: Redis starts again after $(secs_since "$t_down") s" "$st_rc"
nkeys=0
for s in "${shards[@]}"; do
  [ "$(rcli EXISTS "kinesis:{$app:$st}:shard:$s")" = "1" ] && nkeys=$((nkeys + 1))
done
: >"$tmp/below"
seqs_not_below "$tmp/s4.snap" "$app" "$st"
[ "$nkeys" -eq "${#shards[@]}" ] && [ ! -s "$tmp/below" ]
check "scenario 4: the shard keys and checkpoints are back after the restart ($nkeys of ${#shards[@]})" $? \
  "$(cat "$tmp/below")" "$(leases "$app" "$st")"

# The restored leases have expired: 4/4 again means claimed anew.
T0=$t_up
converge "$app" "$st" "4 4" 20000 "s4t1 s4t2" "$p1" "$p2"
wait_producer D
during="$(awk -v a="$t_down" -v b="$t_up" '$4 == 0 && $3 > a && $2 < b { n += 200 } END { print n + 0 }' "$tmp/D.log")"
note "scenario 4: records acknowledged by puts that ran during the outage: $during"
check "scenario 4: the producer put records during the outage ($during)" $((during == 0))
if wait_all_printed D 30000 s4t1 s4t2; then
  ok "scenario 4: every record printed after the outage (none lost)"
else
  not_ok "scenario 4: every record printed after the outage (none lost)" \
    "$LOST missing" "$(head -n 10 "$tmp/detail")" "$(state_of "$app" "$st" s4t1 s4t2)"
fi
stop_tail "$p1" s4t1
stop_tail "$p2" s4t2
records D s4t1 s4t2
note "scenario 4: duplicates: $DUPS"
[ "$LOST" -eq 0 ] && [ "$UNEXPECTED" -eq 0 ] && [ "$BAD" -eq 0 ]
check "scenario 4: no record lost (lost $LOST, unexpected $UNEXPECTED, bad lines $BAD)" $? \
  "$(head -n 20 "$tmp/detail")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
