#!/usr/bin/env bash
# Scale test: two `kinesis tail` processes sharing, through Redis, a stream
# of 1,000 open shards with a history (docs/consumer.md "A fleet of
# consumers" and "Start positions on resharded streams").
#
#   test/with-serve.sh PATH-TO-KINESIS test/with-redis.sh \
#     test/integration/test_scale_tail.sh PATH-TO-KINESIS
#
# Needs a Kinesis service (KINESIS_TEST_ENDPOINT: `kinesis serve` from
# test/with-serve.sh, as meson runs it, or kinesalite from
# test/with-servers.sh, which allows 2,000 open shards), a throwaway
# redis-server (KINESIS_TEST_REDIS_URL
# and _PORT, from test/with-redis.sh), redis-cli and python3. Without them it
# exits 77 (skip), or 1 when CI=true.
#
# The scenario:
#   1. a stream of 500 shards; 5,000 records put (they land in the 500
#      parents); then every shard split once: 1,000 open shards, 1,500
#      listed;
#   2. two tails started together (--from trim-horizon, one --app, JSON
#      output, Prometheus statistics at exit) while 15,000 more records are
#      put (they land in the children);
#   3. once the two outputs hold all 20,000 records and the leases have
#      settled, a few seconds of idle; then SIGINT to both.
# It checks that every record is printed exactly once across the two
# outputs, that the tails hold 500 shards each (within one) in the lease
# table and in their own statistics, that both exit 0 within 5 s of the
# signal, and, except under a sanitizer (KINESIS_TEST_SANITIZE, set by
# meson, not "none"), that no turn of either tail's loop used 10 ms of CPU
# or more (kinesis_consumer_loop_turn_max_cpu_seconds: the loop's own work;
# by the clock a turn also counts the time the service, busy on the same two
# cores, kept the thread from running, which is printed, not bounded).
# Figures (setup and reading times, each tail's turns, its CPU while idle,
# the service's) are printed as "# ..." lines.
set -u

prog="test_scale_tail.sh"
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

for v in KINESIS_TEST_ENDPOINT KINESIS_TEST_REDIS_URL KINESIS_TEST_REDIS_PORT; do
  if [ -z "${!v:-}" ]; then
    skip_or_fail "$v is not set; run me under test/with-serve.sh KINESIS (or test/with-servers.sh) and test/with-redis.sh"
  fi
done
for c in redis-cli python3; do
  command -v "$c" >/dev/null 2>&1 || skip_or_fail "$c is not installed"
done

export LC_ALL=C
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
PARENTS=500
FIRST=5000                  # records put before the splits
SECOND=15000                # records put while the tails start
TOTAL=$((FIRST + SECOND))
OPEN=$((2 * PARENTS))
TURN_BOUND=0.010            # seconds; not under a sanitizer
STOP_BOUND=5                # seconds from SIGINT to exit
IDLE_SECS=5                 # CPU measured while idle
# kinesalite answers each call on a stream of 1,500 shards in about 5 ms of
# its CPU, one at a time, and the tails keep it busy: a PutRecords may wait
# longer than the default record TTL of 30 s (`kinesis serve` is far
# quicker).
PUT_TTL_MS=240000

sanitized=0
if [ -n "${KINESIS_TEST_SANITIZE:-}" ] && [ "$KINESIS_TEST_SANITIZE" != none ]; then
  sanitized=1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-scale.XXXXXX")"
: >"$tmp/empty"
export AWS_CONFIG_FILE="$tmp/empty"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"

bg_pids=()
stream=""

forget() {
  local p keep=()
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  bg_pids=(${keep[@]+"${keep[@]}"})
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$? p
  trap - EXIT INT TERM HUP
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in ${bg_pids[@]+"${bg_pids[@]}"}; do
    wait "$p" 2>/dev/null
  done
  if [ -n "$stream" ]; then
    timeout 10 "$KINESIS" --endpoint-url "$EP" delete-stream --stream "$stream" \
      >/dev/null 2>&1
  fi
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

check() {
  local what="$1" st="$2"
  shift 2
  if [ "$st" -eq 0 ]; then ok "$what"; else not_ok "$what" "$@"; fi
}

note() {
  echo "# $*"
}

now_us() {
  local t="$EPOCHREALTIME"
  echo $((10#${t//[.,]/}))
}

secs_since() {
  local d=$(($(now_us) - $1))
  printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000))
}

# poll MS CMD [ARGS...]: runs CMD every 0.2 s until it succeeds or MS pass.
poll() {
  local end=$(($(now_us) + $1 * 1000))
  shift
  while :; do
    "$@" && return 0
    [ "$(now_us)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

gone() {
  local state=""
  kill -0 "$1" 2>/dev/null || return 0
  state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)"
  [ "$state" = "Z" ]
}

# cpu_ticks PID: utime + stime of the process, in clock ticks.
cpu_ticks() {
  sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'
}

# The process listening on the endpoint's port (`kinesis serve`, or
# kinesalite with the other servers of test/servers.js, which stay idle), or
# nothing.
server_pid() {
  local port="${EP##*:}" inode
  port="${port%%/*}"
  inode="$(awk -v p="$(printf '%04X' "$port")" \
    '$4 == "0A" && substr($2, index($2, ":") + 1) == p { print $10; exit }' \
    /proc/net/tcp 2>/dev/null)"
  [ -n "$inode" ] || return 0
  find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null |
    head -n 1 | cut -d/ -f3
}

# ---- 1. The stream: 500 shards, 5,000 records, every shard split once

# The splits, straight to the service (it checks no signature): SplitShard
# wants the stream ACTIVE, so one at a time, each followed by
# DescribeStreamSummary until ACTIVE again.
cat >"$tmp/reshard.py" <<'EOF'
import http.client, json, sys, time, urllib.parse

ep, stream, want_open = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlsplit(ep)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/"
                     "kinesis/aws4_request, SignedHeaders=host, Signature=abc",
    "X-Amz-Date": "20150830T123600Z",
}

def call(action, body):
    h = dict(HEADERS)
    h["X-Amz-Target"] = "Kinesis_20131202." + action
    conn.request("POST", "/", json.dumps(body), h)
    r = conn.getresponse()
    data = r.read()
    doc = json.loads(data) if data else {}
    if r.status != 200:
        sys.exit("%s: HTTP %d %s" % (action, r.status, data[:300]))
    return doc

def shards():
    out, token = [], None
    while True:
        body = {"NextToken": token} if token else {"StreamName": stream}
        doc = call("ListShards", body)
        out += doc["Shards"]
        token = doc.get("NextToken")
        if not token:
            return out

def wait_active():
    while call("DescribeStreamSummary", {"StreamName": stream}) \
            ["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.005)

for s in [s for s in shards() if "EndingSequenceNumber" not in s["SequenceNumberRange"]]:
    lo = int(s["HashKeyRange"]["StartingHashKey"])
    hi = int(s["HashKeyRange"]["EndingHashKey"])
    call("SplitShard", {"StreamName": stream, "ShardToSplit": s["ShardId"],
                        "NewStartingHashKey": str(lo + (hi - lo) // 2 + 1)})
    wait_active()
listed = shards()
nopen = sum(1 for s in listed if "EndingSequenceNumber" not in s["SequenceNumberRange"])
for s in listed:
    print(s["ShardId"])
if nopen != want_open:
    sys.exit("%d shards open after the splits, not %d" % (nopen, want_open))
EOF

# make_lines PREFIX FIRST LAST: PREFIX-NUMBER, one a line.
make_lines() {
  awk -v p="$1" -v a="$2" -v b="$3" \
    'BEGIN { for (i = a; i <= b; i++) printf "%s-%06d\n", p, i }'
}

stream="scale-$suffix"
app="scale-$suffix"
T_SETUP=$(now_us)
if timeout 60 "$KINESIS" --endpoint-url "$EP" create-stream --stream "$stream" \
    --shards "$PARENTS" --wait >/dev/null 2>"$tmp/create.err"; then
  ok "create-stream --shards $PARENTS"
else
  not_ok "create-stream --shards $PARENTS" "$(cat "$tmp/create.err")"
  echo "$pass passed, $fail failed"
  exit 1
fi
make_lines P 1 "$FIRST" >"$tmp/first"
make_lines C 1 "$SECOND" >"$tmp/second"
cat "$tmp/first" "$tmp/second" >"$tmp/expected"
t=$(now_us)
timeout 300 "$KINESIS" --endpoint-url "$EP" put --stream "$stream" \
  --record-ttl "$PUT_TTL_MS" <"$tmp/first" >/dev/null 2>"$tmp/put1.err"
check "put $FIRST records into the $PARENTS parents" $? "$(tail -n 5 "$tmp/put1.err")"
note "put $FIRST records in $(secs_since "$t") s: $(tail -n 1 "$tmp/put1.err")"
t=$(now_us)
if timeout 300 python3 "$tmp/reshard.py" "$EP" "$stream" "$OPEN" \
    >"$tmp/shards" 2>"$tmp/reshard.err"; then
  ok "every parent split once: $OPEN open, $(wc -l <"$tmp/shards") listed"
else
  not_ok "every parent split once" "$(tail -n 5 "$tmp/reshard.err")"
  echo "$pass passed, $fail failed"
  exit 1
fi
note "$PARENTS splits in $(secs_since "$t") s; setup (create, put, split) $(secs_since "$T_SETUP") s"

# ---- 2. Two tails while 15,000 more records are put

# start_tail NAME: a tail in the background, stdout in $tmp/NAME.out and
# stderr (its Prometheus statistics at exit among it) in $tmp/NAME.err.
# Under AddressSanitizer a signalled process skips LeakSanitizer's exit scan
# (see test_shared_tail.sh); test_cli.sh checks tail for leaks.
start_tail() {
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
    "$KINESIS" --endpoint-url "$EP" tail --stream "$stream" \
    --from trim-horizon --checkpoint "$RURL" --app "$app" --format json \
    --stats-format prometheus \
    >"$tmp/$1.out" 2>"$tmp/$1.err" </dev/null &
  TAIL_PID=$!
  bg_pids+=("$TAIL_PID")
}

T_READ=$(now_us)
start_tail t1
p1=$TAIL_PID
start_tail t2
p2=$TAIL_PID
timeout 300 "$KINESIS" --endpoint-url "$EP" put --stream "$stream" \
  --record-ttl "$PUT_TTL_MS" <"$tmp/second" >/dev/null 2>"$tmp/put2.err" &
put_pid=$!
bg_pids+=("$put_pid")
wait "$put_pid"
rc=$?
forget "$put_pid"
check "put $SECOND records into the children while the tails start" "$rc" \
  "$(tail -n 5 "$tmp/put2.err")"
note "put $SECOND records in $(secs_since "$T_READ") s: $(tail -n 1 "$tmp/put2.err")"

# A record is its shard, sequence number and subsequence number: one
# printed twice is a duplicate of the consumers. The same data under two
# sequence numbers is the producer's (a PutRecords retried after a timeout
# that had been written): counted apart, as a figure.
cat >"$tmp/check.py" <<'EOF'
import base64, collections, json, sys

expected = set(open(sys.argv[1], "rb").read().split(b"\n")) - {b""}
printed = collections.Counter()
keys = collections.defaultdict(set)
bad = 0
for path in sys.argv[2:]:
    for line in open(path, "rb").read().split(b"\n"):
        if not line:
            continue
        try:
            o = json.loads(line)
            key = (o["shard_id"], o["sequence_number"], o["sub_sequence_number"])
            data = base64.b64decode(o["data_b64"], validate=True)
        except Exception:
            bad += 1
            continue
        printed[key] += 1
        keys[data].add(key)
lost = len(expected - set(keys))
dups = sum(n - 1 for n in printed.values() if n > 1)
unexpected = len(set(keys) - expected)
producer_dups = sum(len(k) - 1 for k in keys.values() if len(k) > 1)
with open(sys.argv[1] + ".detail", "w") as f:
    for d in sorted(expected - set(keys))[:5]:
        f.write("lost %r\n" % d)
    for k, n in [(k, n) for k, n in printed.items() if n > 1][:5]:
        f.write("printed %d times: %r\n" % (n, k))
    for d, k in [(d, k) for d, k in keys.items() if len(k) > 1][:3]:
        f.write("written twice by the producer: %r at %r\n" % (d, sorted(k)))
print(lost, dups, unexpected, bad, producer_dups)
EOF
# records: runs the checker; sets LOST DUPS UNEXPECTED BAD PDUPS.
records() {
  read -r LOST DUPS UNEXPECTED BAD PDUPS < <(python3 "$tmp/check.py" \
    "$tmp/expected" "$tmp/t1.out" "$tmp/t2.out" 2>&1 ||
    echo 999999 999999 999999 999999 999999)
}

# printed: every record is printed (the checker runs once the lines are
# enough); every 10 s it notes how far the tails are.
next_note=$(($(now_us) + 10000000))
printed() {
  local n1 n2
  n1="$(wc -l <"$tmp/t1.out")"
  n2="$(wc -l <"$tmp/t2.out")"
  if [ "$(now_us)" -ge "$next_note" ]; then
    note "$(secs_since "$T_READ") s: t1 printed $n1, t2 $n2"
    next_note=$((next_note + 10000000))
  fi
  [ $((n1 + n2)) -ge "$TOTAL" ] || return 1
  records
  [ "$LOST" -eq 0 ]
}
if poll 300000 printed; then
  read_s="$(secs_since "$T_READ")"
  ok "the two tails print all $TOTAL records"
  note "every record printed $read_s s after the tails started"
else
  not_ok "the two tails print all $TOTAL records" \
    "t1 $(wc -l <"$tmp/t1.out"), t2 $(wc -l <"$tmp/t2.out") after $(secs_since "$T_READ") s" \
    "t1: $(tail -n 3 "$tmp/t1.err")" "t2: $(tail -n 3 "$tmp/t2.err")"
fi

# ---- 3. The shares, idle, then SIGINT

# The lease table: each tail's live leases, then the shards with no live
# owner that are not finished. One atomic read of every listed shard.
SHARES_LUA='local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n1, n2, free = 0, 0, 0
for i, k in ipairs(KEYS) do
  local h = redis.call("HMGET", k, "owner", "expires_ms", "finished")
  local live = h[1] and h[1] ~= "" and now <= (tonumber(h[2]) or 0)
  if live and h[1] == ARGV[1] then n1 = n1 + 1
  elseif live and h[1] == ARGV[2] then n2 = n2 + 1
  elseif not live and h[3] ~= "1" then free = free + 1 end
end
return n1 .. " " .. n2 .. " " .. free'
keys=()
while read -r id; do
  keys+=("kinesis:{$app:$stream}:shard:$id")
done <"$tmp/shards"

settled() {
  SHARES="$(timeout 5 redis-cli -p "$RPORT" EVAL "$SHARES_LUA" "${#keys[@]}" \
    "${keys[@]}" "$app-$host-$p1" "$app-$host-$p2" 2>&1)" || return 1
  local a b f
  read -r a b f <<<"$SHARES" || return 1
  [ "$((a + b))" -eq "$OPEN" ] && [ "$f" -eq 0 ] &&
    [ "$a" -ge $((OPEN / 2 - 1)) ] && [ "$b" -ge $((OPEN / 2 - 1)) ]
}
t=$(now_us)
if poll 60000 settled; then
  ok "the lease table settles at $OPEN/2 each, within one (t1 t2 free: $SHARES)"
  note "shares settled $(secs_since "$t") s after the last record was printed"
else
  not_ok "the lease table settles at $OPEN/2 each, within one" \
    "last read (t1 t2 free): $SHARES"
fi

# Idle: nothing is put; each tail polls its 500 empty shards.
srv="$(server_pid)"
c1="$(cpu_ticks "$p1")"
c2="$(cpu_ticks "$p2")"
cs="$( [ -n "$srv" ] && cpu_ticks "$srv")"
t=$(now_us)
sleep "$IDLE_SECS"
hz="$(getconf CLK_TCK)"
el=$(($(now_us) - t))
pct() {
  awk -v a="$1" -v b="$2" -v hz="$hz" -v us="$el" \
    'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%.1f%%", (b - a) * 100 / hz / (us / 1e6) }'
}
note "CPU while idle over $IDLE_SECS s: t1 $(pct "$c1" "$(cpu_ticks "$p1")"), t2 $(pct "$c2" "$(cpu_ticks "$p2")"), the service (pid ${srv:-?}) $(pct "$cs" "$( [ -n "$srv" ] && cpu_ticks "$srv")")"

# SIGINT to both at once; each must be gone within STOP_BOUND seconds. One
# that is not is watched for up to a minute more, so that the report says
# how long it took, and what it was doing at STOP_BOUND (its last stderr
# lines, its kernel wait channel and, with gdb, its stack) is kept.
evidence() {
  local p="$1" n="$2"
  {
    echo "last stderr lines:"
    grep -v '^kinesis_\|^#' "$tmp/t$n.err" | tail -n 3
    echo "state: $(sed -e 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)," \
      "wchan: $(cat "/proc/$p/wchan" 2>/dev/null)," \
      "open fds: $(ls "/proc/$p/fd" 2>/dev/null | wc -l)"
    if command -v gdb >/dev/null 2>&1; then
      echo "stack:"
      timeout 20 gdb -p "$p" -batch -ex bt 2>/dev/null | grep '^#'
    fi
  } >"$tmp/t$n.slow" 2>&1
}
kill -INT "$p1" "$p2"
t_int=$(now_us)
declare -A stop_s
looked=0
while :; do
  for n in 1 2; do
    eval "p=\$p$n"
    if [ -z "${stop_s[$n]:-}" ] && gone "$p"; then
      stop_s[$n]="$(secs_since "$t_int")"
    fi
  done
  [ -n "${stop_s[1]:-}" ] && [ -n "${stop_s[2]:-}" ] && break
  waited=$(($(now_us) - t_int))
  if [ "$looked" -eq 0 ] && [ "$waited" -ge $((STOP_BOUND * 1000000)) ]; then
    looked=1
    for n in 1 2; do
      eval "p=\$p$n"
      [ -z "${stop_s[$n]:-}" ] && evidence "$p" "$n"
    done
  fi
  [ "$waited" -ge $(((STOP_BOUND + 60) * 1000000)) ] && break
  sleep 0.05
done
for n in 1 2; do
  eval "p=\$p$n"
  if [ -z "${stop_s[$n]:-}" ]; then
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    forget "$p"
    not_ok "t$n exits within $STOP_BOUND s of SIGINT" \
      "still running $((STOP_BOUND + 60)) s after" "$(cat "$tmp/t$n.slow")"
    continue
  fi
  wait "$p"
  rc=$?
  forget "$p"
  awk -v s="${stop_s[$n]}" -v b="$STOP_BOUND" 'BEGIN { exit !(s < b) }'
  check "t$n exits within $STOP_BOUND s of SIGINT (${stop_s[$n]} s)" $? \
    "$(cat "$tmp/t$n.slow" 2>/dev/null)"
  check "t$n exits 0" "$rc" "exit status $rc" "$(tail -n 5 "$tmp/t$n.err")"
  last="$(tail -n 1 "$tmp/t$n.err")"
  lines="$(wc -l <"$tmp/t$n.out")"
  [ "$last" = "kinesis: tail: $lines records (interrupted)" ]
  check "t$n ends with its summary line ($lines records)" $? "last line: $last"
done

# ---- What was printed

records
note "printed: t1 $(wc -l <"$tmp/t1.out"), t2 $(wc -l <"$tmp/t2.out"); records the producer wrote twice (a retried PutRecords): $PDUPS"
[ "$LOST" -eq 0 ] && [ "$DUPS" -eq 0 ] && [ "$UNEXPECTED" -eq 0 ] && [ "$BAD" -eq 0 ]
check "every record printed exactly once (lost $LOST, duplicates $DUPS, unexpected $UNEXPECTED, bad lines $BAD)" $? \
  "$(cat "$tmp/expected.detail" 2>/dev/null)"
if [ "$PDUPS" -gt 0 ]; then
  note "for example: $(grep -m 1 'written twice' "$tmp/expected.detail")"
fi

# metric NAME FILE: the value of an unlabelled Prometheus sample.
metric() {
  awk -v m="$1" '$1 == m { print $2; exit }' "$2"
}

held=()
for n in 1 2; do
  f="$tmp/t$n.err"
  h="$(metric kinesis_consumer_leases_held "$f")"
  mx="$(metric kinesis_consumer_loop_turn_max_cpu_seconds "$f")"
  wall="$(metric kinesis_consumer_loop_turn_max_seconds "$f")"
  hist="$(awk '/^kinesis_consumer_loop_turn_seconds_bucket/ {
      le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
      printf "%s%s:%s", sep, le, $2; sep = " " }' "$f")"
  cnt="$(metric kinesis_consumer_loop_turn_seconds_count "$f")"
  sum="$(metric kinesis_consumer_loop_turn_seconds_sum "$f")"
  gr="$(metric kinesis_consumer_get_records_total "$f")"
  note "t$n: $h leases held at the stop, $gr GetRecords; loop turns: the most CPU in one ${mx:-?} s, the longest by the clock ${wall:-?} s, $cnt turns, $sum s in all; cumulative buckets by the clock (le:count) $hist"
  held+=("${h:-0}")
  if [ -z "$mx" ]; then
    not_ok "t$n printed its statistics" "$(tail -n 5 "$f")"
    continue
  fi
  awk -v m="$mx" -v b="$TURN_BOUND" 'BEGIN { exit !(m < b) }'
  st=$?
  if [ "$sanitized" -eq 1 ]; then
    note "t$n: the most CPU in one loop turn $mx s; the $TURN_BOUND s bound is not checked under a sanitizer (KINESIS_TEST_SANITIZE=$KINESIS_TEST_SANITIZE)"
  else
    check "t$n: no loop turn used $TURN_BOUND s of CPU or more (the most $mx s)" "$st"
  fi
done
d=$((held[0] - held[1]))
[ "$((held[0] + held[1]))" -eq "$OPEN" ] && [ "${d#-}" -le 1 ]
check "each tail held its share at the stop (leases_held ${held[0]} and ${held[1]}, of $OPEN)" $?

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
