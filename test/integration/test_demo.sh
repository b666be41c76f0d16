#!/usr/bin/env bash
# examples/demo against kinesalite (run under test/with-servers.sh): 5000
# records produced and consumed on one loop, the stream deleted, everything
# closed (exit 0). With --stats the summary is followed by the statistics
# in the Prometheus text format, checked with the Prometheus project's
# Python parser; stderr says when the consumer became ready.
#
#   test_demo.sh DEMO
set -euo pipefail

demo="$1"
n=5000
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-demo.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "not ok - $1"
  shift
  for line in "$@"; do
    echo "#   $line"
  done
  echo "#   stderr: $(tail -n 5 "$tmp/err")"
  exit 1
}

status=0
"$demo" "$KINESIS_TEST_ENDPOINT" "demo-test-$$" "$n" --stats \
  >"$tmp/out" 2>"$tmp/err" || status=$?
[ "$status" -eq 0 ] || fail "demo exits 0 (status $status)"
grep -q "^demo: $n records produced and consumed in " "$tmp/out" ||
  fail "demo prints its summary"
grep -q "consumer ready: every shard it leases is being read" "$tmp/err" ||
  fail "demo says when its consumer became ready"
echo "ok - demo produced and consumed $n records, and its consumer became ready"

grep -v '^demo: ' "$tmp/out" >"$tmp/prom"
/usr/bin/python3 - "$tmp/prom" "$n" <<'PY' || fail "the statistics parse, with the demo's figures"
import sys
from prometheus_client.parser import text_string_to_metric_families
n = int(sys.argv[2])
v = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        if s.labels.get("stream", "").startswith("demo-test-"):
            rest = {k: x for k, x in s.labels.items() if k != "stream"}
            v[s.name + "".join("|%s=%s" % kv for kv in sorted(rest.items()))] = s.value
def check(ok, what):
    if not ok:
        print("#   " + what)
        sys.exit(1)
check(v.get("kinesis_producer_records_put_total") == n, "records put")
check(v.get("kinesis_consumer_records_delivered_total", 0) >= n, "delivered")
check(v.get("kinesis_consumer_ready") == 1, "ready")
check(v.get("kinesis_consumer_leases_held") == 2, "leases held")
puts = v.get("kinesis_client_calls_total|operation=PutRecords", 0)
check(puts >= 1 and puts == v.get("kinesis_producer_requests_total"), "PutRecords calls")
check(v.get("kinesis_client_request_duration_seconds_count|operation=GetRecords", 0) >= 2, "GetRecords timed")
PY
echo "ok - the statistics parse as Prometheus text, with the demo's figures"
