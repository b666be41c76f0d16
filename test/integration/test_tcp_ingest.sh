#!/usr/bin/env bash
# examples/tcp_ingest against a Kinesis service (run under test/with-serve.sh
# KINESIS, or test/with-servers.sh for kinesalite):
# 20,000 lines sent over one TCP connection as fast as bash can write them,
# with a producer buffer of 200 records, so reading must pause again and
# again. Every line must come out of the stream exactly once.
#
#   test_tcp_ingest.sh TCP_INGEST KINESIS
set -euo pipefail

ingest="$1"
kinesis="$2"
endpoint="$KINESIS_TEST_ENDPOINT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY=test-secret-key AWS_EC2_METADATA_DISABLED=true
stream="tcp-ingest-$$"
n=20000
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-tcp-ingest.XXXXXX")"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "not ok - $*"
  exit 1
}

"$kinesis" --endpoint-url "$endpoint" create-stream --stream "$stream" \
  --shards 2 --wait >/dev/null 2>&1 || fail "create-stream"
seq 1 "$n" | sed 's/^/line-/' >"$tmp/lines"

"$ingest" "$stream" "$endpoint" 0 --once --queue 200 \
  >"$tmp/port" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && break
  sleep 0.1
done
port="$(head -n 1 "$tmp/port")"
[ -n "$port" ] || fail "tcp_ingest printed no port: $(cat "$tmp/err")"

exec 3<>"/dev/tcp/127.0.0.1/$port"
cat "$tmp/lines" >&3
exec 3>&-

status=0
for _ in $(seq 600); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  fail "tcp_ingest did not exit within 60 s: $(cat "$tmp/err")"
fi
wait "$pid" || status=$?
pid=""
summary="$(tail -n 1 "$tmp/err")"
echo "# $summary"
[ "$status" -eq 0 ] || fail "tcp_ingest exited $status: $(cat "$tmp/err")"
[[ "$summary" == "tcp_ingest: $n lines, $n acknowledged, 0 failed, reading paused "* ]] ||
  fail "unexpected summary: $summary"
pauses="${summary##*reading paused }"
pauses="${pauses%% times}"
[ "$pauses" -gt 0 ] || fail "reading never paused, so backpressure was not tested"
echo "ok - $n lines sent, $n acknowledged; reading paused $pauses times"

"$kinesis" --endpoint-url "$endpoint" tail --stream "$stream" --count "$n" \
  --idle-exit 10 >"$tmp/out" 2>"$tmp/tail-err" || fail "tail: $(cat "$tmp/tail-err")"
if diff <(sort "$tmp/lines") <(sort "$tmp/out") >"$tmp/diff"; then
  echo "ok - the stream holds every line exactly once"
else
  fail "the stream differs from what was sent: $(head -5 "$tmp/diff")"
fi
"$kinesis" --endpoint-url "$endpoint" delete-stream --stream "$stream" \
  >/dev/null 2>&1 || true
