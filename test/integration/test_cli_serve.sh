#!/usr/bin/env bash
# `kinesis serve` (tools/cmd_serve.c) driven by the kinesis command itself:
# it prints its URL as its first line, answers create-stream, put,
# list-shards, tail, split-shard and merge-shards against that URL, and
# exits 0 on SIGTERM and on
# SIGINT; with --keys, it accepts the right keys and refuses others; its
# fault flags (--throttle makes put fail; a bad fraction is a usage error;
# the admin request, sent with curl when there is one, clears them). Needs
# no server: the service is the one under test. Its limits throttle a put
# of 2,500 records into one shard (put retries, and loses none);
# --no-limits turns them off (no retry); --reshard schedules reshards (a
# malformed one is a usage error).
#
#   test/integration/test_cli_serve.sh PATH-TO-KINESIS
set -u

prog="test_cli_serve.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS" >&2
  exit 1
fi
KINESIS="$1"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-cli-serve.XXXXXX")"
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill -KILL "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "$prog: FAIL: $*" >&2
  for f in "$tmp"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
  done
  exit 1
}

export AWS_ACCESS_KEY_ID=AKIDSERVE AWS_SECRET_ACCESS_KEY=serve-secret
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_KINESIS

# put_read STREAM N RETRIES: creates STREAM (one shard), puts 1 to N into it
# with put's own rate limit off, checks that none failed and that the
# summary's retries match RETRIES (an extended regular expression), and
# reads exactly those N records back.
put_read() {
  k create-stream --stream "$1" --wait 2>"$tmp/create-$1.err" ||
    fail "create-stream $1"
  seq 1 "$2" | k put --stream "$1" --rate-limit 0 2>"$tmp/put-$1.err" ||
    fail "put into $1"
  grep -Eq "^kinesis: put: $2 records, [0-9]+ bytes, 0 failed, $3 retries" \
    "$tmp/put-$1.err" || fail "put into $1: retries are not $3"
  k tail --stream "$1" --from trim-horizon --count "$2" --idle-exit 10 \
    >"$tmp/tail-$1.out" 2>"$tmp/tail-$1.err" || fail "tail of $1"
  if [ "$(sort -n "$tmp/tail-$1.out" | uniq | wc -l)" -ne "$2" ] ||
    [ "$(wc -l <"$tmp/tail-$1.out")" -ne "$2" ]; then
    fail "tail of $1: not the $2 records"
  fi
}

# Starts `kinesis serve "$@"` and sets URL to its first line.
start_serve() {
  mkfifo "$tmp/out.fifo"
  "$KINESIS" serve "$@" >"$tmp/out.fifo" 2>"$tmp/serve.err" &
  serve_pid=$!
  exec 3<"$tmp/out.fifo"
  rm -f "$tmp/out.fifo"
  URL=""
  read -r -t 10 URL <&3 || fail "no URL line from kinesis serve"
  case "$URL" in
    http://127.0.0.1:[0-9]*) ;;
    *) fail "first line is not the URL: '$URL'" ;;
  esac
}

# Sends `$1` to the service and checks it exits 0 within 10 s.
stop_serve() {
  kill "-$1" "$serve_pid" || fail "kinesis serve is gone before $1"
  for _ in $(seq 100); do
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$serve_pid" 2>/dev/null && fail "kinesis serve still runs 10 s after $1"
  wait "$serve_pid"
  status=$?
  serve_pid=""
  exec 3<&-
  [ "$status" -eq 0 ] || fail "kinesis serve exited $status after $1"
}

k() {
  "$KINESIS" --endpoint-url "$URL" "$@"
}

# --help names the command; bad options are usage errors.
"$KINESIS" serve --help >"$tmp/help.out" 2>"$tmp/help.err" ||
  fail "serve --help failed"
grep -q "Usage: kinesis serve" "$tmp/help.out" || fail "serve --help"
grep -q -- "--no-limits" "$tmp/help.out" || fail "serve --help: --no-limits"
"$KINESIS" serve --no-limits=1 >/dev/null 2>"$tmp/usage.err"
[ $? -eq 2 ] || fail "serve --no-limits=1 is not a usage error"
"$KINESIS" serve --port 70000 >/dev/null 2>"$tmp/usage.err"
[ $? -eq 2 ] || fail "serve --port 70000 is not a usage error"

start_serve
k create-stream --stream cli-serve --shards 2 --wait 2>"$tmp/create.err" ||
  fail "create-stream"
k list-shards --stream cli-serve >"$tmp/shards.out" 2>"$tmp/shards.err" ||
  fail "list-shards"
grep -q "shardId-000000000001" "$tmp/shards.out" || fail "two shards listed"
printf 'one\ntwo\nthree\n' |
  k put --stream cli-serve 2>"$tmp/put.err" || fail "put"
k tail --stream cli-serve --from trim-horizon --count 3 --idle-exit 10 \
  >"$tmp/tail.out" 2>"$tmp/tail.err" || fail "tail"
[ "$(sort "$tmp/tail.out" | tr '\n' ' ')" = "one three two " ] ||
  fail "tail gave '$(tr '\n' ' ' <"$tmp/tail.out")'"
# tail --efo: through enhanced fan-out, registering the consumer; it stays
# registered, and --efo-deregister removes it at exit. A bad name and
# --efo-deregister alone are usage errors.
k tail --stream cli-serve --efo cli-efo --count 3 --idle-exit 10 \
  >"$tmp/efo.out" 2>"$tmp/efo.err" || fail "tail --efo"
[ "$(sort "$tmp/efo.out" | tr '\n' ' ')" = "one three two " ] ||
  fail "tail --efo gave '$(tr '\n' ' ' <"$tmp/efo.out")'"
k list-consumers --stream cli-serve >"$tmp/consumers.out" 2>"$tmp/lc.err" ||
  fail "list-consumers"
grep -q '"ConsumerName": *"cli-efo"' "$tmp/consumers.out" ||
  fail "tail --efo registered no consumer: $(cat "$tmp/consumers.out")"
printf 'four\n' | k put --stream cli-serve 2>"$tmp/put4.err" || fail "put four"
k tail --stream cli-serve --efo cli-efo --efo-deregister --count 4 \
  --idle-exit 10 >"$tmp/efo2.out" 2>"$tmp/efo2.err" ||
  fail "tail --efo --efo-deregister"
grep -qx four "$tmp/efo2.out" || fail "tail --efo missed 'four'"
k list-consumers --stream cli-serve >"$tmp/consumers2.out" \
  2>"$tmp/lc2.err" || fail "list-consumers after --efo-deregister"
if grep '"ConsumerName": *"cli-efo"' -A3 "$tmp/consumers2.out" |
   grep -q '"ConsumerStatus": *"ACTIVE"'; then
  fail "--efo-deregister left the consumer ACTIVE: $(cat "$tmp/consumers2.out")"
fi
k tail --stream cli-serve --efo 'bad name' >/dev/null 2>"$tmp/efo-bad.err"
[ $? -eq 2 ] || fail "tail --efo 'bad name' is not a usage error"
k tail --stream cli-serve --efo-deregister >/dev/null 2>"$tmp/efo-bad2.err"
[ $? -eq 2 ] || fail "tail --efo-deregister without --efo is not a usage error"
# The limits, on by default: 2,500 records into one shard with the
# command's own rate limit off are more than the shard's 1,000 a second, so
# the service throttles some entries and put retries them; none is lost.
put_read cli-lim 2500 '[1-9][0-9]*'
# Split the first shard, then merge its two children back: each child
# names its parent, and the merge leaves three open shards of five.
k split-shard --stream cli-serve --shard-id shardId-000000000000 \
  2>"$tmp/split.err" || fail "split-shard"
k list-shards --stream cli-serve >"$tmp/split.out" 2>"$tmp/split-ls.err" ||
  fail "list-shards after the split"
[ "$(grep -c '"ParentShardId": *"shardId-000000000000"' "$tmp/split.out")" -eq 2 ] ||
  fail "the split's children: $(cat "$tmp/split.out")"
k merge-shards --stream cli-serve --shard-id shardId-000000000002 \
  --adjacent-shard-id shardId-000000000003 2>"$tmp/merge.err" ||
  fail "merge-shards"
k list-shards --stream cli-serve >"$tmp/merge.out" 2>"$tmp/merge-ls.err" ||
  fail "list-shards after the merge"
grep -q '"AdjacentParentShardId": *"shardId-000000000003"' "$tmp/merge.out" ||
  fail "the merged shard: $(cat "$tmp/merge.out")"
[ "$(grep -o '"ShardId": *"shardId-[0-9]*"' "$tmp/merge.out" | wc -l)" -eq 5 ] ||
  fail "five shards after split and merge: $(cat "$tmp/merge.out")"
# A second service cannot take the same port.
port="${URL##*:}"
"$KINESIS" serve --port "$port" >/dev/null 2>"$tmp/busy.err"
[ $? -eq 1 ] || fail "a second serve on port $port did not fail"
grep -q "already in use" "$tmp/busy.err" || fail "the busy port message"
stop_serve TERM

# SIGINT too, on a port of our choosing: the one just freed.
start_serve --port "$port" --host 127.0.0.1
[ "$URL" = "http://127.0.0.1:$port" ] || fail "--port $port gave $URL"
k list-streams >"$tmp/ls.out" 2>"$tmp/ls.err" || fail "list-streams"
stop_serve INT

# --keys: signatures checked. The environment's keys are among them.
"$KINESIS" serve --keys "AKIDSERVE" >/dev/null 2>"$tmp/keys-usage.err"
[ $? -eq 2 ] || fail "serve --keys without a secret is not a usage error"
"$KINESIS" serve --keys "A B:x" >/dev/null 2>"$tmp/keys-usage.err"
[ $? -eq 2 ] || fail "serve --keys with a bad access key id is not a usage error"
start_serve --keys "AKIDOTHER:other,AKIDSERVE:serve-secret"
k create-stream --stream signed --shards 1 --wait 2>"$tmp/kcreate.err" ||
  fail "create-stream with the right keys"
printf 'a\nb\n' | k put --stream signed 2>"$tmp/kput.err" ||
  fail "put with the right keys"
k tail --stream signed --from trim-horizon --count 2 --idle-exit 10 \
  >"$tmp/ktail.out" 2>"$tmp/ktail.err" || fail "tail with the right keys"
[ "$(tr '\n' ' ' <"$tmp/ktail.out")" = "a b " ] || fail "tail with keys"
AWS_SECRET_ACCESS_KEY=wrong k list-streams >/dev/null 2>"$tmp/kwrong.out" &&
  fail "list-streams with a wrong secret succeeded"
grep -q "InvalidSignatureException" "$tmp/kwrong.out" ||
  fail "a wrong secret: $(cat "$tmp/kwrong.out")"
AWS_ACCESS_KEY_ID=AKIDNOBODY k list-streams >/dev/null 2>"$tmp/kunknown.out" &&
  fail "list-streams with an unknown key succeeded"
grep -q "UnrecognizedClientException" "$tmp/kunknown.out" ||
  fail "an unknown key: $(cat "$tmp/kunknown.out")"
AWS_ACCESS_KEY_ID=AKIDOTHER AWS_SECRET_ACCESS_KEY=other \
  AWS_SESSION_TOKEN=some-token k list-streams >/dev/null 2>"$tmp/ktoken.err" ||
  fail "list-streams with the other key and a session token"
stop_serve TERM
# Faults: a bad fraction is a usage error; with --throttle 1 put fails
# (its records' TTL passes while every PutRecords is throttled), and once
# the admin request clears the faults it succeeds.
for bad in "--throttle 1.5" "--error-5xx -0.1" "--partial x" "--drop 2" \
    "--latency -1"; do
  # shellcheck disable=SC2086
  "$KINESIS" serve $bad >/dev/null 2>"$tmp/fault-usage.err"
  [ $? -eq 2 ] || fail "serve $bad is not a usage error"
done
start_serve --throttle 1 --seed 5
k create-stream --stream cli-faults --wait 2>"$tmp/fcreate.err" ||
  fail "create-stream under --throttle (the control plane is not throttled)"
echo one | k put --stream cli-faults --record-ttl 500 2>"$tmp/fput.err"
[ $? -eq 1 ] || fail "put under --throttle 1 did not fail"
grep -q "1 failed" "$tmp/fput.err" || fail "put's summary under --throttle"
if command -v curl >/dev/null 2>&1; then
  curl -s -o "$tmp/admin.out" -w '%{http_code}' "$URL/" \
    -H 'Content-Type: application/x-amz-json-1.1' \
    -H 'X-Amz-Target: LibkinesisServe.SetFaults' -d '{}' \
    >"$tmp/admin.code" 2>"$tmp/admin.err" || fail "the admin request"
  [ "$(cat "$tmp/admin.code")" = 200 ] || fail "the admin request's status"
  echo one | k put --stream cli-faults --record-ttl 5000 \
    2>"$tmp/fput2.err" || fail "put once the faults are cleared"
fi
stop_serve TERM
# --no-limits: 1,500 records to one shard, put and read back, no retry.
start_serve --no-limits
put_read cli-nolim 1500 0
stop_serve TERM

# --reshard: a malformed value is a usage error. A repeating schedule
# reshards the stream once it exists (2 -> 4 first: shards 2 to 5 appear),
# by the wall clock here, so AFTER_MS is small and list-shards is polled;
# a schedule of a stream that never exists is skipped, quietly.
grep -q -- "--reshard STREAM:COUNT@AFTER_MS" "$tmp/help.out" ||
  fail "serve --help: --reshard"
for bad in "s" "s:2" "s@2:100" "s:x@100" "s:0@100" "s:10001@100" "s:2@" \
    "s:2@1x" "s:2@100/" "s:2@100/x" ":2@100" "a/b:2@100" "s:-2@100"; do
  "$KINESIS" serve --reshard "$bad" >/dev/null 2>"$tmp/reshard-usage.err"
  [ $? -eq 2 ] || fail "serve --reshard '$bad' is not a usage error"
done
start_serve --reshard cli-reshard:4@500/500 --reshard never-made:2@100
k create-stream --stream cli-reshard --shards 2 --wait \
  2>"$tmp/rcreate.err" || fail "create-stream (--reshard)"
resharded=""
for _ in $(seq 50); do
  k list-shards --stream cli-reshard >"$tmp/rshards.out" \
    2>"$tmp/rshards.err" || fail "list-shards (--reshard)"
  if grep -q "shardId-000000000005" "$tmp/rshards.out"; then
    resharded=1
    break
  fi
  sleep 0.2
done
[ -n "$resharded" ] || fail "--reshard: no reshard seen in 10 s"
printf 'x\ny\n' | k put --stream cli-reshard 2>"$tmp/rput.err" ||
  fail "put while resharding"
stop_serve TERM

echo "$prog: ok"
