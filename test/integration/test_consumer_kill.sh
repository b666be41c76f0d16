#!/usr/bin/env bash
# Fault campaign (issue 7): a `kinesis tail` over a Redis checkpoint killed
# with SIGKILL at random points and restarted, 20 times, while records keep
# arriving; then a last one runs until the stream has been idle. Everything
# the tails printed, taken together, must cover every record put: a kill -9
# may cost duplicates (records printed past the last checkpoint are printed
# again by the next tail), never a record.
#
#   test/with-serve.sh PATH-TO-KINESIS test/with-redis.sh \
#     test/integration/test_consumer_kill.sh PATH-TO-KINESIS
#
# Needs a Kinesis service (KINESIS_TEST_ENDPOINT: `kinesis serve` from
# test/with-serve.sh, or kinesalite from test/with-servers.sh), a throwaway
# redis-server (KINESIS_TEST_REDIS_URL) and python3; without them it exits 77
# (skip), or 1 when CI=true. KINESIS_CAMPAIGN_SEED fixes the random kill delays.
# With KINESIS_KILL_EFO=NAME the tails read through enhanced fan-out as the
# stream consumer NAME (tail --efo): a tail killed with its subscriptions
# open is taken over by the next, whose subscriptions may first be refused
# while the service still holds the dead ones. KINESIS_KILL_RUNS sets the
# number of kills (default 20). With KINESIS_KILL_ON_MOCK=1 the service is
# kinesis-mock (KINESIS_TEST_MOCK_ENDPOINT, from test/with-servers.sh with
# KINESIS_TEST_WITH_MOCK=1) rather than KINESIS_TEST_ENDPOINT's.
#
# Figures (kill delays, lines printed per run, duplicates) are printed as
# "# ..." lines. It takes about 2 minutes: 20 runs of 0.2 to 7 s (the tail
# checkpoints every 5 s, so some runs die before their first checkpoint and
# some after it), each followed by the wait for the dead tail's leases to
# expire (--session-timeout 2), then the last run.
set -u

prog="test_consumer_kill.sh"
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

ep_var=KINESIS_TEST_ENDPOINT
[ "${KINESIS_KILL_ON_MOCK:-}" = 1 ] && ep_var=KINESIS_TEST_MOCK_ENDPOINT
for v in "$ep_var" KINESIS_TEST_REDIS_URL; do
  if [ -z "${!v:-}" ]; then
    skip_or_fail "$v is not set; run me under test/with-serve.sh KINESIS (or test/with-servers.sh) and test/with-redis.sh"
  fi
done
command -v python3 >/dev/null 2>&1 || skip_or_fail "python3 is not installed"

export LC_ALL=C
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=secret
unset AWS_DEFAULT_REGION AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL \
      AWS_ENDPOINT_URL_KINESIS AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_EC2_METADATA_DISABLED=true

EP="${!ep_var}"
RURL="$KINESIS_TEST_REDIS_URL"
KILLS="${KINESIS_KILL_RUNS:-20}"
EFO="${KINESIS_KILL_EFO:-}"
N=3000                 # records, put at about 40 a second
SESSION=2              # --session-timeout, seconds
SEED="${KINESIS_CAMPAIGN_SEED:-$$}"
RANDOM=$SEED

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-kill.XXXXXX")"
: >"$tmp/empty"
export AWS_CONFIG_FILE="$tmp/empty"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"

suffix="$$-$RANDOM"
stream="kill-$suffix"
app="killapp-$suffix"
put_pid=""
tail_pid=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$? p
  trap - EXIT INT TERM HUP
  for p in $tail_pid $put_pid; do
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  timeout 10 "$KINESIS" --endpoint-url "$EP" delete-stream --stream "$stream" \
    >/dev/null 2>&1
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

pass=0
fail=0
ok() {
  pass=$((pass + 1))
  echo "ok $((pass + fail)) - $1"
}
not_ok() {
  fail=$((fail + 1))
  echo "not ok $((pass + fail)) - $1"
  shift
  local line
  for line in "$@"; do
    printf '%s\n' "$line" | sed -e 's/^/#   /'
  done
}
note() {
  echo "# $*"
}
now_ms() {
  local t="$EPOCHREALTIME"
  echo $((10#${t//[.,]/} / 1000))
}

start_ms=$(now_ms)
note "seed $SEED (KINESIS_CAMPAIGN_SEED), stream $stream, app $app${EFO:+, through enhanced fan-out as $EFO}"

if ! timeout 60 "$KINESIS" --endpoint-url "$EP" create-stream --stream "$stream" \
    --shards 4 --wait >/dev/null 2>"$tmp/create.err"; then
  not_ok "create-stream --shards 4" "$(cat "$tmp/create.err")"
  exit 1
fi
ok "create-stream --shards 4"

# The records, unique data, one a line; fed to `kinesis put` 20 at a time,
# every half second, so that records keep arriving while tails are killed.
awk -v p="k$suffix" -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "%s-%06d\n", p, i }' \
  >"$tmp/expected"
python3 -c '
import sys, time
lines = open(sys.argv[1]).read().splitlines()
for i in range(0, len(lines), 20):
    sys.stdout.write("\n".join(lines[i:i + 20]) + "\n")
    sys.stdout.flush()
    time.sleep(0.5)
' "$tmp/expected" | timeout 150 "$KINESIS" --endpoint-url "$EP" put --stream "$stream" \
  >/dev/null 2>"$tmp/put.err" &
put_pid=$!

# A tail in the background; its output goes to $tmp/run-I.out.
start_tail() {
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$KINESIS" --endpoint-url "$EP" tail --stream "$stream" --checkpoint "$RURL" \
    --app "$app" --session-timeout "$SESSION" --format raw \
    ${EFO:+--efo "$EFO"} "$@" \
    >"$tmp/run-$i.out" 2>"$tmp/run-$i.err" </dev/null &
  tail_pid=$!
}

: >"$tmp/seen"
killed_ok=0
for i in $(seq 1 "$KILLS"); do
  # 0.2 to 7.0 s, in ms.
  delay_ms=$((200 + (RANDOM * 32768 + RANDOM) % 6801))
  start_tail
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -0 "$tail_pid" 2>/dev/null; then
    kill -KILL "$tail_pid"
    wait "$tail_pid" 2>/dev/null
    st=$?
    [ "$st" -eq 137 ] && killed_ok=$((killed_ok + 1))
  else
    wait "$tail_pid" 2>/dev/null
    st=$?
    note "run $i: the tail had already exited with status $st: $(tail -n 3 "$tmp/run-$i.err")"
  fi
  tail_pid=""
  printed=$(grep -c . "$tmp/run-$i.out")
  new=$(grep -v -x -F -f "$tmp/seen" "$tmp/run-$i.out" | sort -u | wc -l)
  sort -u "$tmp/seen" "$tmp/run-$i.out" -o "$tmp/seen"
  note "run $i: SIGKILL after $delay_ms ms; printed $printed lines, $new new; $(wc -l <"$tmp/seen") distinct so far"
done
if [ "$killed_ok" -eq "$KILLS" ]; then
  ok "$KILLS tails killed with SIGKILL at random points"
else
  not_ok "$KILLS tails killed with SIGKILL at random points" "only $killed_ok were still running"
fi

# Every record was acknowledged by Kinesis.
if wait "$put_pid"; then
  ok "put $N records"
else
  not_ok "put $N records" "$(tail -n 5 "$tmp/put.err")"
fi
put_pid=""

# The last tail runs until the stream has been idle for 8 s (its leases
# first wait for the last killed tail's to expire).
i=final
start_tail --idle-exit 8 ${EFO:+--stats}
final_start=$(now_ms)
if wait "$tail_pid"; then
  ok "the last tail exits 0 ($(tail -n 1 "$tmp/run-final.err"))"
else
  not_ok "the last tail exits 0" "$(tail -n 5 "$tmp/run-final.err")"
fi
tail_pid=""
note "final run: printed $(grep -c . "$tmp/run-final.out") lines in $(( $(now_ms) - final_start )) ms"
# Through enhanced fan-out alone: subscriptions, and no GetRecords.
if [ -n "$EFO" ]; then
  if grep -q "enhanced fan-out: [1-9][0-9]* subscriptions" "$tmp/run-final.err" &&
     grep -q " 0 GetRecords" "$tmp/run-final.err"; then
    ok "the last tail read through enhanced fan-out"
  else
    not_ok "the last tail read through enhanced fan-out" "$(grep stats: "$tmp/run-final.err")"
  fi
fi

# The union of everything printed covers every record; duplicates counted.
cat "$tmp"/run-*.out | grep -x "k$suffix-[0-9]\{6\}" >"$tmp/all"
sort -u "$tmp/all" >"$tmp/union"
total=$(wc -l <"$tmp/all")
distinct=$(wc -l <"$tmp/union")
missing=$(comm -23 "$tmp/expected" "$tmp/union" | wc -l)
foreign=$(comm -13 "$tmp/expected" "$tmp/union" | wc -l)
note "printed $total lines: $distinct distinct records of $N, $((total - distinct)) duplicates, $missing missing, $foreign unexpected"
if [ "$missing" -eq 0 ] && [ "$foreign" -eq 0 ]; then
  ok "every record printed at least once across $((KILLS + 1)) runs"
else
  not_ok "every record printed at least once across $((KILLS + 1)) runs" \
    "missing (first 10): $(comm -23 "$tmp/expected" "$tmp/union" | head -n 10 | tr '\n' ' ')"
fi
note "duration $(( ($(now_ms) - start_ms) / 1000 )) s"

echo "1..$((pass + fail))"
[ "$fail" -eq 0 ]
