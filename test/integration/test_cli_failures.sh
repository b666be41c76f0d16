#!/usr/bin/env bash
# Integration test of what the `kinesis` command says when the same call
# keeps failing (docs/cli.md, "Failures that repeat"): tail and put show the
# library's warning without -v, and `tail --idle-exit` exits 1 when no shard
# could be read at all, 0 when the stream was read and held no record.
#
#   test/with-servers.sh test/integration/test_cli_failures.sh PATH-TO-KINESIS
#
# The failures come from the fault server of test/servers.js: GetRecords
# and ListShards answered with a 200 whose body the library cannot use.
# Without the servers it exits 77 (skip), or 1 when CI=true. Needs curl.
set -u

prog="test_cli_failures.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS (run it under test/with-servers.sh)" >&2
  exit 1
fi
KINESIS="$1"

for v in KINESIS_TEST_ENDPOINT KINESIS_TEST_FAULT_ENDPOINT; do
  if [ -z "${!v:-}" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "$prog: error: $v is not set (CI=true, so this is a failure)" >&2
      exit 1
    fi
    echo "$prog: SKIP: $v is not set; run me under test/with-servers.sh" >&2
    exit 77
  fi
done
if ! command -v curl >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "$prog: error: curl is not installed (CI=true)" >&2
    exit 1
  fi
  echo "$prog: SKIP: curl is not installed" >&2
  exit 77
fi

HTTP="$KINESIS_TEST_ENDPOINT"
FAULT="$KINESIS_TEST_FAULT_ENDPOINT"

SECRET="failures-secret-KN0fail"
. "$(dirname "${BASH_SOURCE[0]}")/cli_helpers.sh"
cli_known_env cli-failures
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY="$SECRET"

suffix="$$-$RANDOM"

# run -- ARGS...: runs the command, stdin from $STDIN_FILE (default
# /dev/null); sets RC and ERR, and logs everything for the final secret check.
run() {
  [ "${1:-}" = "--" ] && shift
  timeout 60 "$KINESIS" "$@" >"$tmp/out" 2>"$tmp/err" \
    <"${STDIN_FILE:-/dev/null}"
  RC=$?
  ERR="$(cat "$tmp/err")"
  {
    printf '$ kinesis %s\n' "$*"
    cat "$tmp/out" "$tmp/err"
  } >>"$tmp/all"
}

# expect_err_count DESCRIPTION N TEXT: TEXT is on exactly N lines of stderr.
expect_err_count() {
  local what="$1" want="$2" text="$3" n
  n="$(grep -cF -- "$text" "$tmp/err")"
  if [ "$n" -eq "$want" ]; then
    ok "$what"
  else
    not_ok "$what" "expected $want line(s) with: $text (got $n)"
  fi
}

fault_reset() {
  curl -sf -X POST "$FAULT/__control/reset" >/dev/null
}

script_fault() {
  if ! curl -sf -X POST "$FAULT/__control/script" -d "$1" >/dev/null; then
    echo "$prog: error: cannot script the fault server at $FAULT" >&2
    exit 1
  fi
}

s="cli-fail-$suffix"
run -- --endpoint-url "$HTTP" create-stream --stream "$s" --shards 1 --wait
expect_rc "create-stream" 0 stdout-empty

# ---- tail --idle-exit

# An empty stream that is read: no record, and that is a success.
run -- --endpoint-url "$HTTP" tail --stream "$s" --idle-exit 2
expect_rc "tail --idle-exit 2 on an empty stream exits 0" 0 stdout-empty
expect_err_exact "it says 0 records, and nothing else" \
  "kinesis: tail: 0 records (no record for 2 s)"

# Every GetRecords answer is a 200 whose body is not JSON: not one shard is
# read. The reason is on stderr without -v, the warning once (the next
# would come 10 s after the first), and the exit status is 1.
fault_reset
script_fault '{"target":"GetRecords","status":200,"body":"this is not JSON","times":100000}'
run -- --endpoint-url "$FAULT" tail --stream "$s" --idle-exit 2
expect_rc "tail --idle-exit 2 with GetRecords unreadable exits 1" 1 \
  stdout-empty
expect_err_count "the warning names the shard and the reason, once" 1 \
  "kinesis: consumer: GetRecords on shardId-000000000000 failed: malformed service response ("
expect_err_count "the exit gives the last reason" 1 \
  "kinesis: tail: no shard could be read in 2 s: GetRecords on shardId-000000000000: malformed service response ("
expect_err_count "no summary of 0 records" 0 "0 records"

# The consumer cannot list the shards: after tail's own first listing
# (whose failure would end the run at once), ListShards answers a body that
# is not JSON.
fault_reset
script_fault '[{"target":"ListShards","proxy":true},{"target":"ListShards","status":200,"body":"this is not JSON","times":100000}]'
run -- --endpoint-url "$FAULT" tail --stream "$s" --idle-exit 2
expect_rc "tail --idle-exit 2 with ListShards unusable exits 1" 1 \
  stdout-empty
expect_err_count "the listing's warning, once" 1 \
  "kinesis: consumer: ListShards on $s failed: "
expect_err_count "the exit gives the listing's reason" 1 \
  "kinesis: tail: no shard could be read in 2 s: ListShards on $s: "

# Without --idle-exit, the warning shows all the same: tail stopped by a
# signal after 2 s. Under the sanitizers, LeakSanitizer's check at exit has
# been seen to hang there (its tracer waiting forever for the process to
# stop) after tail had printed its warning and closed: -k ends such a run
# 10 s later, so that it cannot hold the suite to its timeout.
fault_reset
script_fault '{"target":"GetRecords","status":200,"body":"this is not JSON","times":100000}'
timeout -k 10 -s INT 2 "$KINESIS" --endpoint-url "$FAULT" tail --stream "$s" \
  >"$tmp/out" 2>"$tmp/err" </dev/null
RC=$?
cat "$tmp/out" "$tmp/err" >>"$tmp/all"
expect_err_count "tail without --idle-exit shows the warning" 1 \
  "kinesis: consumer: GetRecords on shardId-000000000000 failed: malformed service response ("

# ---- put

# put lists the shards once before it starts (a failure then ends the run
# at once); the producer's own listings then answer a body that is not
# JSON, three times: put says so at once, without -v, while its records
# wait; then they land.
printf 'p1\np2\n' >"$tmp/two.txt"
fault_reset
script_fault '[{"target":"ListShards","proxy":true},{"target":"ListShards","status":200,"body":"this is not JSON","times":3}]'
STDIN_FILE="$tmp/two.txt" run -- --endpoint-url "$FAULT" put --stream "$s" \
  --partition-key p
expect_rc "put through three unusable listings exits 0" 0 stdout-empty
expect_err_count "put shows the listing's warning once" 1 \
  "kinesis: producer: ListShards on $s failed: malformed service response ("
expect_err_count "and its summary" 1 "kinesis: put: 2 records, "

# A listing that never works: the records fail at their TTL, exit 1, and
# the reason was shown.
fault_reset
script_fault '[{"target":"ListShards","proxy":true},{"target":"ListShards","status":200,"body":"this is not JSON","times":100000}]'
STDIN_FILE="$tmp/two.txt" run -- --endpoint-url "$FAULT" put --stream "$s" \
  --partition-key p --record-ttl 1500
expect_rc "put whose listing never works exits 1" 1 stdout-empty
expect_err_count "put shows the listing's warning" 1 \
  "kinesis: producer: ListShards on $s failed: malformed service response ("
expect_err_count "each record's failure" 2 "kinesis: put: line "
fault_reset

run -- --endpoint-url "$HTTP" delete-stream --stream "$s"
expect_rc "delete-stream" 0 stdout-empty

# ---- no secret in any output

grep -av '^\$ kinesis ' "$tmp/all" >"$tmp/all-output"
if grep -aqF -e "$SECRET" "$tmp/all-output"; then
  not_ok "no secret key in any output" \
    "$(grep -anF -e "$SECRET" "$tmp/all-output" | head -5)"
else
  ok "no secret key in any output"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
