#!/usr/bin/env bash
# Integration test of the `kinesis` stream management commands
# (tools/kinesis.c, docs/cli.md): list-streams, list-shards,
# update-shard-count, split-shard, merge-shards, update-stream-mode, the
# retention, encryption and tag commands and update-max-record-size.
#
#   KINESIS_TEST_WITH_MOCK=1 test/with-servers.sh \
#     test/integration/test_cli_mgmt.sh PATH-TO-KINESIS
#
# Runs what kinesalite has against kinesalite, and the rest (UpdateShardCount,
# UpdateStreamMode, the encryption calls, UpdateMaxRecordSize, on-demand
# streams, and ARNs everywhere) against kinesis-mock. Without the servers it
# exits 77 (skip), or 1 when CI=true. Needs node to check the JSON.
set -u

prog="test_cli_mgmt.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS (run it under test/with-servers.sh)" >&2
  exit 1
fi
KINESIS="$1"

for v in KINESIS_TEST_ENDPOINT KINESIS_TEST_MOCK_ENDPOINT; do
  if [ -z "${!v:-}" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "$prog: error: $v is not set (CI=true, so this is a failure)" >&2
      exit 1
    fi
    echo "$prog: SKIP: $v is not set; run me under test/with-servers.sh" \
      "with KINESIS_TEST_WITH_MOCK=1" >&2
    exit 77
  fi
done
if ! command -v node >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "$prog: error: node is not installed (CI=true)" >&2
    exit 1
  fi
  echo "$prog: SKIP: node is not installed" >&2
  exit 77
fi

HTTP="$KINESIS_TEST_ENDPOINT"
MOCK="$KINESIS_TEST_MOCK_ENDPOINT"

SECRET="env-secret-KN0mgmt"
. "$(dirname "${BASH_SOURCE[0]}")/cli_helpers.sh"
cli_known_env cli-mgmt
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY="$SECRET"

suffix="$$-$RANDOM"

# ---- helpers

# run ARGS...: runs the command; sets RC, OUT and ERR, and logs everything
# for the final secret check.
run() {
  timeout 60 "$KINESIS" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  RC=$?
  OUT="$(cat "$tmp/out")"
  ERR="$(cat "$tmp/err")"
  {
    printf '$ kinesis %s\n' "$*"
    cat "$tmp/out" "$tmp/err"
  } >>"$tmp/all"
}

# wait_active ENDPOINT STREAM: describe-stream until it is ACTIVE (10 s).
wait_active() {
  local i
  for i in $(seq 1 40); do
    run --endpoint-url "$1" describe-stream --stream "$2"
    if [ "$RC" -eq 0 ] && grep -q '"StreamStatus": "ACTIVE"' "$tmp/out"; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

MAX_KEY="340282366920938463463374607431768211455"
HALF_KEY="170141183460469231731687303715884105728"     # 2^127
HALF_END="170141183460469231731687303715884105727"     # 2^127 - 1
THREE_Q="255211775190703847597530955573826158592"      # 3 * 2^126

# ---- help and usage errors (no server needed)

run --help
cp "$tmp/out" "$tmp/help"
if [ "$RC" -eq 0 ] && grep -q '^  list-streams  ' "$tmp/help" &&
   grep -q '^  update-max-record-size  ' "$tmp/help"; then
  ok "kinesis --help lists the management commands"
else
  not_ok "kinesis --help lists the management commands"
fi
for c in list-streams list-shards update-shard-count split-shard \
         merge-shards update-stream-mode increase-stream-retention \
         decrease-stream-retention start-stream-encryption \
         stop-stream-encryption add-tags remove-tags list-tags \
         update-max-record-size; do
  run "$c" --help
  if [ "$RC" -eq 0 ] && [ "$(head -n 1 "$tmp/out" | cut -d' ' -f1-3)" = \
       "Usage: kinesis $c" ] && grep -q "^  $c " "$tmp/help"; then
    ok "$c --help shows its usage, and kinesis --help lists it"
  else
    not_ok "$c --help shows its usage, and kinesis --help lists it"
  fi
done

run list-streams --stream x
expect_usage "list-streams takes no --stream" \
  "kinesis: list-streams: unknown option '--stream'"
run update-shard-count --stream s
expect_usage "update-shard-count without a target" \
  "kinesis: update-shard-count: missing --target-shard-count N"
run update-shard-count --stream s --target-shard-count 0
expect_usage "update-shard-count to 0" \
  "kinesis: update-shard-count: --target-shard-count needs a number from 1 to 100000, not '0'"
run update-shard-count --stream s --target-shard-count 100001
expect_usage "update-shard-count above the API's limit" \
  "kinesis: update-shard-count: --target-shard-count needs a number from 1 to 100000, not '100001'"
run split-shard --stream s
expect_usage "split-shard without a shard" \
  "kinesis: split-shard: missing --shard-id ID"
# Shard ids and tags are checked by the library's calls, which refuse
# them (KINESIS_EINVAL) before sending anything: one line, exit status 1.
run split-shard --stream s --shard-id 'a b' --endpoint-url "$HTTP"
expect_failure_line "split-shard with a bad shard id fails at once"
expect_err_exact "split-shard with a bad shard id says what a shard id is" \
  "kinesis: split-shard: invalid --shard-id 'a b' or --stream 's' (a shard id is 1 to 128 letters, digits, '_', '.' or '-'; a stream name too, or a stream ARN)"
run merge-shards --stream s --shard-id a --adjacent-shard-id "$(printf 'b%.0s' $(seq 1 129))" --endpoint-url "$HTTP"
expect_failure_line "merge-shards with a 129-character shard id fails at once"
if grep -q "^kinesis: merge-shards: invalid --shard-id 'a', --adjacent-shard-id 'bbb*' or --stream 's' (a shard id is 1 to 128 letters" "$tmp/err"; then
  ok "merge-shards with a 129-character shard id says what a shard id is"
else
  not_ok "merge-shards with a 129-character shard id says what a shard id is"
fi
run split-shard --stream s --shard-id x --new-starting-hash-key 340282366920938463463374607431768211456
expect_usage "split-shard at 2^128" \
  "kinesis: split-shard: --new-starting-hash-key needs a decimal from 0 to 2^128-1, not '340282366920938463463374607431768211456'"
run split-shard --stream s --shard-id x --new-starting-hash-key -1
expect_usage "split-shard at a negative key" \
  "kinesis: split-shard: --new-starting-hash-key needs a decimal from 0 to 2^128-1, not '-1'"
run merge-shards --stream s --shard-id a
expect_usage "merge-shards without the adjacent shard" \
  "kinesis: merge-shards: missing --adjacent-shard-id ID"
run merge-shards --stream s --shard-id a --adjacent-shard-id a
expect_usage "merge-shards of a shard with itself" \
  "kinesis: merge-shards: --shard-id and --adjacent-shard-id name the same shard"
run update-stream-mode --stream s --stream-mode on_demand
expect_usage "update-stream-mode with a bad mode" \
  "kinesis: update-stream-mode: --stream-mode needs ON_DEMAND or PROVISIONED, not 'on_demand'"
run update-stream-mode --stream s
expect_usage "update-stream-mode without a mode" \
  "kinesis: update-stream-mode: missing --stream-mode ON_DEMAND|PROVISIONED"
run increase-stream-retention --stream s --retention-period-hours 23
expect_usage "increase-stream-retention below 24 hours" \
  "kinesis: increase-stream-retention: --retention-period-hours needs a number from 24 to 8760, not '23'"
run decrease-stream-retention --stream s
expect_usage "decrease-stream-retention without hours" \
  "kinesis: decrease-stream-retention: missing --retention-period-hours N"
run start-stream-encryption --stream s --key-id ''
expect_usage "start-stream-encryption with an empty key" \
  "kinesis: start-stream-encryption: option '--key-id' needs a non-empty value"
run add-tags --stream s
expect_usage "add-tags without tags" \
  "kinesis: add-tags: missing --tags KEY=VALUE[,KEY=VALUE...]"
run add-tags --stream s --tags novalue
expect_usage "add-tags with a tag without '='" \
  "kinesis: add-tags: --tags needs KEY=VALUE pairs separated by ',', not 'novalue'"
run add-tags --stream s --tags =v
expect_usage "add-tags with an empty key" \
  "kinesis: add-tags: --tags needs KEY=VALUE pairs separated by ',', not '=v'"
run add-tags --stream s --tags a=1,a=2
expect_usage "add-tags with a key twice" \
  "kinesis: add-tags: --tags: key 'a' is given twice"
many="$(seq -s, -f 'k%g=v' 1 51)"
run add-tags --stream s --tags "$many"
expect_usage "add-tags with 51 tags" "kinesis: add-tags: --tags: at most 50 tags"
run add-tags --stream s --tags "$(printf 'k%.0s' $(seq 1 129))=v" --endpoint-url "$HTTP"
expect_failure_line "add-tags with a 129-character key fails at once"
expect_err_exact "add-tags with a 129-character key says what a tag is" \
  "kinesis: add-tags: invalid --tags or --stream 's' (a tag key needs 1 to 128 characters of UTF-8, a value at most 256; a stream name is 1 to 128 letters, digits, '_', '.' or '-', or a stream ARN)"
run add-tags --stream s --tags "k=$(printf 'v%.0s' $(seq 1 257))" --endpoint-url "$HTTP"
expect_failure_line "add-tags with a 257-character value fails at once"
run add-tags --stream s --tags "$(printf 'k=\xff')" --endpoint-url "$HTTP"
expect_failure_line "add-tags with a value that is not UTF-8 fails at once"
run add-tags --stream s --tags "k=$(printf 'v%.0s' $(seq 1 256))" --endpoint-url "$HTTP"
if [ "$RC" -eq 1 ] && ! grep -q "invalid --tags" "$tmp/err"; then
  ok "add-tags with a 256-character value is sent"
else
  not_ok "add-tags with a 256-character value is sent"
fi
run remove-tags --stream s
expect_usage "remove-tags without keys" \
  "kinesis: remove-tags: missing --tag-keys KEY[,KEY...]"
run remove-tags --stream s --tag-keys a,,b --endpoint-url "$HTTP"
expect_failure_line "remove-tags with an empty key fails at once"
expect_err_exact "remove-tags with an empty key says what a tag key is" \
  "kinesis: remove-tags: invalid --tag-keys or --stream 's' (a tag key needs 1 to 128 characters of UTF-8; a stream name is 1 to 128 letters, digits, '_', '.' or '-', or a stream ARN)"
run update-max-record-size --stream s --max-record-size-kib 1023
expect_usage "update-max-record-size below 1024 KiB" \
  "kinesis: update-max-record-size: --max-record-size-kib needs a number from 1024 to 10240, not '1023'"
run update-max-record-size --stream s --max-record-size-kib 10241
expect_usage "update-max-record-size above 10240 KiB" \
  "kinesis: update-max-record-size: --max-record-size-kib needs a number from 1024 to 10240, not '10241'"
run list-tags
expect_usage "list-tags without a stream" "kinesis: list-tags: missing --stream NAME"
run list-tags --stream 'a b' --endpoint-url "$HTTP"
expect_failure_line "list-tags with a bad stream name fails at once"

# ---- kinesalite

s1="mgmt-a-$suffix"
s2="mgmt-b-$suffix"
run --endpoint-url "$HTTP" create-stream --stream "$s1" --wait
expect_rc "create-stream $s1" 0 stdout-empty
run --endpoint-url "$HTTP" create-stream --stream "$s2" --shards 2 --wait
expect_rc "create-stream $s2" 0 stdout-empty

run --endpoint-url "$HTTP" list-streams
expect_rc "list-streams exits 0" 0
check_json "list-streams prints every stream's name" "
  assert.deepStrictEqual(Object.keys(d), ['StreamNames'])
  assert.deepStrictEqual(d.StreamNames, ['$s1', '$s2'].sort())"

run --endpoint-url "$HTTP" list-shards --stream "$s2"
expect_rc "list-shards exits 0" 0
check_json "list-shards prints the shards" "
  assert.deepStrictEqual(Object.keys(d), ['Shards'])
  assert.strictEqual(d.Shards.length, 2)
  assert.strictEqual(d.Shards[0].ShardId, 'shardId-000000000000')
  assert.strictEqual(d.Shards[1].HashKeyRange.EndingHashKey, '$MAX_KEY')"

# Split in the middle of the whole range: the children meet at 2^127.
run --endpoint-url "$HTTP" split-shard --stream "$s1" \
  --shard-id shardId-000000000000
expect_rc "split-shard in the middle exits 0" 0 stdout-empty
expect_err_exact "split-shard says what it did" \
  "kinesis: splitting shard shardId-000000000000 of stream $s1 in the middle"
wait_active "$HTTP" "$s1" || not_ok "$s1 is ACTIVE again after the split"
run --endpoint-url "$HTTP" list-shards --stream "$s1"
check_json "after split-shard, list-shards shows the children at 2^127" "
  const s = d.Shards
  assert.strictEqual(s.length, 3)
  assert.ok(s[0].SequenceNumberRange.EndingSequenceNumber, 'parent closed')
  assert.deepStrictEqual(s[1].HashKeyRange,
    { StartingHashKey: '0', EndingHashKey: '$HALF_END' })
  assert.deepStrictEqual(s[2].HashKeyRange,
    { StartingHashKey: '$HALF_KEY', EndingHashKey: '$MAX_KEY' })
  assert.strictEqual(s[1].ParentShardId, 'shardId-000000000000')
  assert.strictEqual(s[2].ParentShardId, 'shardId-000000000000')"

# At a given key.
run --endpoint-url "$HTTP" split-shard --stream "$s1" \
  --shard-id shardId-000000000002 --new-starting-hash-key "$THREE_Q"
expect_rc "split-shard at a given key exits 0" 0 stdout-empty
wait_active "$HTTP" "$s1" || not_ok "$s1 is ACTIVE again after the split"
run --endpoint-url "$HTTP" list-shards --stream "$s1"
check_json "after split-shard at a key, the second child starts there" "
  const s = d.Shards
  assert.strictEqual(s.length, 5)
  assert.strictEqual(s[3].HashKeyRange.StartingHashKey, '$HALF_KEY')
  assert.strictEqual(s[4].HashKeyRange.StartingHashKey, '$THREE_Q')
  assert.strictEqual(s[4].HashKeyRange.EndingHashKey, '$MAX_KEY')"

run --endpoint-url "$HTTP" merge-shards --stream "$s1" \
  --shard-id shardId-000000000003 --adjacent-shard-id shardId-000000000004
expect_rc "merge-shards exits 0" 0 stdout-empty
expect_err_exact "merge-shards says what it did" \
  "kinesis: merging shards shardId-000000000003 and shardId-000000000004 of stream $s1"
wait_active "$HTTP" "$s1" || not_ok "$s1 is ACTIVE again after the merge"
run --endpoint-url "$HTTP" list-shards --stream "$s1"
check_json "after merge-shards, one child has both parents' range" "
  const s = d.Shards
  assert.strictEqual(s.length, 6)
  assert.strictEqual(s[5].ParentShardId, 'shardId-000000000003')
  assert.strictEqual(s[5].AdjacentParentShardId, 'shardId-000000000004')
  assert.deepStrictEqual(s[5].HashKeyRange,
    { StartingHashKey: '$HALF_KEY', EndingHashKey: '$MAX_KEY' })"

# A single-key shard cannot be split in the middle: the service would
# refuse, the command says why first. (A shard that is not there.)
run --endpoint-url "$HTTP" split-shard --stream "$s1" --shard-id shardId-000000000042
expect_failure_line "split-shard of a shard that is not there fails"
expect_err_exact "split-shard names the missing shard" \
  "kinesis: split-shard: stream or shard not found: the stream has no shard shardId-000000000042"

run --endpoint-url "$HTTP" add-tags --stream "$s1" --tags 'team=data,empty=,env=test'
expect_rc "add-tags exits 0" 0 stdout-empty
expect_err_exact "add-tags says what it did" "kinesis: tagged stream $s1 with 3 tags"
run --endpoint-url "$HTTP" list-tags --stream "$s1"
expect_rc "list-tags exits 0" 0
check_json "list-tags prints the tags, an empty value too" "
  assert.deepStrictEqual(d, { Tags: [
    { Key: 'empty', Value: '' }, { Key: 'env', Value: 'test' },
    { Key: 'team', Value: 'data' } ] })"
run --endpoint-url "$HTTP" remove-tags --stream "$s1" --tag-keys team,empty
expect_rc "remove-tags exits 0" 0 stdout-empty
expect_err_exact "remove-tags says what it did" "kinesis: removed 2 tags from stream $s1"
run --endpoint-url "$HTTP" list-tags --stream "$s1"
check_json "after remove-tags, list-tags shows the tag left" "
  assert.deepStrictEqual(d, { Tags: [ { Key: 'env', Value: 'test' } ] })"
# Eleven tags take two pages of ListTagsForStream in kinesalite.
run --endpoint-url "$HTTP" add-tags --stream "$s2" --tags "$(seq -s, -f 'k%02g=v' 1 10)"
expect_rc "add-tags of ten tags exits 0" 0 stdout-empty
run --endpoint-url "$HTTP" add-tags --stream "$s2" --tags k11=v --tags k00=v
expect_rc "add-tags with --tags twice exits 0" 0 stdout-empty
run --endpoint-url "$HTTP" list-tags --stream "$s2"
check_json "list-tags follows every page" "
  assert.strictEqual(d.Tags.length, 12)
  assert.strictEqual(d.Tags[0].Key, 'k00')
  assert.strictEqual(d.Tags[11].Key, 'k11')"

run --endpoint-url "$HTTP" increase-stream-retention --stream "$s1" \
  --retention-period-hours 72
expect_rc "increase-stream-retention exits 0" 0 stdout-empty
expect_err_exact "increase-stream-retention says what it did" \
  "kinesis: stream $s1 keeps records 72 hours"
wait_active "$HTTP" "$s1"
check_json "describe-stream shows the longer retention" "
  assert.strictEqual(d.RetentionPeriodHours, 72)"
run --endpoint-url "$HTTP" decrease-stream-retention --stream "$s1" \
  --retention-period-hours 24
expect_rc "decrease-stream-retention exits 0" 0 stdout-empty
wait_active "$HTTP" "$s1"
check_json "describe-stream shows the shorter retention" "
  assert.strictEqual(d.RetentionPeriodHours, 24)
  assert.strictEqual(d.EncryptionType, 'NONE')"
run --endpoint-url "$HTTP" decrease-stream-retention --stream "$s1" \
  --retention-period-hours 48
expect_failure_line "decrease-stream-retention to a longer period is refused"
if [[ "$ERR" == "kinesis: decrease-stream-retention: InvalidArgumentException: "* ]]; then
  ok "the refusal names the service's error"
else
  not_ok "the refusal names the service's error"
fi

run --endpoint-url "$HTTP" list-tags --stream "mgmt-none-$suffix"
expect_failure_line "list-tags of a stream that is not there fails"
run --endpoint-url "$HTTP" update-shard-count --stream "$s1" --target-shard-count 2
expect_failure_line "update-shard-count on kinesalite, which lacks it, fails"
if [[ "$ERR" == "kinesis: update-shard-count: UnknownOperationException"* ]]; then
  ok "the failure names the service's error"
else
  not_ok "the failure names the service's error"
fi

# ---- kinesis-mock: the calls kinesalite lacks, and ARNs

m1="mgmt-m-$suffix"
m2="mgmt-od-$suffix"
run --endpoint-url "$MOCK" create-stream --stream "$m2" --on-demand --wait
expect_rc "create-stream --on-demand exits 0" 0 stdout-empty
run --endpoint-url "$MOCK" describe-stream --stream "$m2"
check_json "describe-stream shows the on-demand mode" "
  assert.strictEqual(d.StreamMode, 'ON_DEMAND')"
run --endpoint-url "$MOCK" create-stream --stream "$m1" --shards 2 --wait
expect_rc "create-stream on kinesis-mock exits 0" 0 stdout-empty
run --endpoint-url "$MOCK" describe-stream --stream "$m1"
arn="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).StreamARN)' "$tmp/out")"

# A stream ARN names its region: with none configured, the command takes it;
# with another configured, the ARN is refused before anything is sent.
AWS_REGION= run --endpoint-url "$MOCK" describe-stream --stream "$arn"
expect_rc "describe-stream by ARN with no region configured exits 0" 0
check_json "describe-stream by ARN takes the ARN's region" "
  assert.strictEqual(d.StreamName, '$m1')"
run --endpoint-url "$MOCK" --region eu-west-1 describe-stream --stream "$arn"
if [ "$RC" -eq 1 ] && [ ! -s "$tmp/out" ] &&
   grep -q "is in region us-east-1, and this client's region is eu-west-1" \
     "$tmp/err" &&
   grep -q "unusable stream ARN" "$tmp/err"; then
  ok "an ARN of another region than --region is refused, naming both"
else
  not_ok "an ARN of another region than --region is refused, naming both"
fi

run --endpoint-url "$MOCK" update-shard-count --stream "$m1" --target-shard-count 4
expect_rc "update-shard-count exits 0" 0
check_json "update-shard-count prints the service's answer" "
  assert.deepStrictEqual(d, { StreamName: '$m1', CurrentShardCount: 2,
    TargetShardCount: 4 })"
wait_active "$MOCK" "$m1" || not_ok "$m1 is ACTIVE again after scaling"
check_json "describe-stream shows four open shards" "
  assert.strictEqual(d.OpenShardCount, 4)"

run --endpoint-url "$MOCK" update-stream-mode --stream "$m1" --stream-mode ON_DEMAND
expect_rc "update-stream-mode by name exits 0" 0 stdout-empty
expect_err_exact "update-stream-mode says what it did" \
  "kinesis: switching stream $m1 to ON_DEMAND"
wait_active "$MOCK" "$m1"
check_json "describe-stream shows ON_DEMAND" "
  assert.strictEqual(d.StreamMode, 'ON_DEMAND')"
run --endpoint-url "$MOCK" update-stream-mode --stream "$arn" --stream-mode PROVISIONED
expect_rc "update-stream-mode by ARN exits 0" 0 stdout-empty
wait_active "$MOCK" "$m1"
check_json "describe-stream shows PROVISIONED again" "
  assert.strictEqual(d.StreamMode, 'PROVISIONED')"

run --endpoint-url "$MOCK" start-stream-encryption --stream "$m1"
expect_rc "start-stream-encryption exits 0" 0 stdout-empty
expect_err_exact "start-stream-encryption names the default key" \
  "kinesis: encrypting stream $m1 with KMS key alias/aws/kinesis"
wait_active "$MOCK" "$m1"
check_json "describe-stream shows KMS and the key" "
  assert.strictEqual(d.EncryptionType, 'KMS')
  assert.strictEqual(d.KeyId, 'alias/aws/kinesis')"
run --endpoint-url "$MOCK" stop-stream-encryption --stream "$arn"
expect_rc "stop-stream-encryption by ARN exits 0" 0 stdout-empty
wait_active "$MOCK" "$m1"
check_json "describe-stream shows no encryption" "
  assert.strictEqual(d.EncryptionType, 'NONE')
  assert.strictEqual(d.KeyId, undefined)"
run --endpoint-url "$MOCK" start-stream-encryption --stream "$m1" --key-id alias/mine
expect_rc "start-stream-encryption --key-id exits 0" 0 stdout-empty
wait_active "$MOCK" "$m1"
check_json "describe-stream shows the given key" "
  assert.strictEqual(d.KeyId, 'alias/mine')"

run --endpoint-url "$MOCK" update-max-record-size --stream "$m1" --max-record-size-kib 2048
expect_rc "update-max-record-size exits 0" 0 stdout-empty
expect_err_exact "update-max-record-size says what it did" \
  "kinesis: stream $m1 takes records up to 2048 KiB"
wait_active "$MOCK" "$m1"
check_json "describe-stream shows the record size limit" "
  assert.strictEqual(d.MaxRecordSizeInKiB, 2048)"
run --endpoint-url "$MOCK" update-max-record-size --stream "mgmt-none-$suffix" \
  --max-record-size-kib 2048
expect_failure_line "update-max-record-size of a stream that is not there fails"

# ARNs for the rest.
run --endpoint-url "$MOCK" list-shards --stream "$m1"
cp "$tmp/out" "$tmp/shards-by-name"
run --endpoint-url "$MOCK" list-shards --stream "$arn"
if [ "$RC" -eq 0 ] && cmp -s "$tmp/out" "$tmp/shards-by-name" &&
   grep -q '"ShardId": "shardId-000000000005"' "$tmp/out"; then
  ok "list-shards takes an ARN"
else
  not_ok "list-shards takes an ARN" "expected the same shards as by name"
fi
run --endpoint-url "$MOCK" add-tags --stream "$arn" --tags owner=me
expect_rc "add-tags takes an ARN" 0 stdout-empty
run --endpoint-url "$MOCK" list-tags --stream "$arn"
check_json "list-tags takes an ARN" "
  assert.deepStrictEqual(d, { Tags: [ { Key: 'owner', Value: 'me' } ] })"
run --endpoint-url "$MOCK" remove-tags --stream "$arn" --tag-keys owner
expect_rc "remove-tags takes an ARN" 0 stdout-empty
run --endpoint-url "$MOCK" increase-stream-retention --stream "$arn" \
  --retention-period-hours 48
expect_rc "increase-stream-retention takes an ARN" 0 stdout-empty
wait_active "$MOCK" "$m1"
check_json "describe-stream shows the retention set by ARN" "
  assert.strictEqual(d.RetentionPeriodHours, 48)"
run --endpoint-url "$MOCK" split-shard --stream "$arn" --shard-id shardId-000000000002
expect_rc "split-shard in the middle takes an ARN" 0 stdout-empty
wait_active "$MOCK" "$m1"
check_json "describe-stream shows five open shards" "
  assert.strictEqual(d.OpenShardCount, 5)"
run --endpoint-url "$MOCK" list-streams
check_json "list-streams on kinesis-mock" "
  assert.ok(d.StreamNames.includes('$m1') && d.StreamNames.includes('$m2'))"

# ---- enhanced fan-out consumers, on kinesis-mock (kinesalite has none)

run register-consumer --stream s
expect_usage "register-consumer without a name" \
  "kinesis: register-consumer: missing --consumer-name NAME"
run describe-consumer --stream s
expect_usage "describe-consumer without a consumer" \
  "kinesis: describe-consumer: missing --consumer-name NAME or --consumer-arn ARN"
run deregister-consumer --consumer-name c
expect_usage "deregister-consumer by name without a stream" \
  "kinesis: deregister-consumer: missing --stream NAME"
run describe-consumer --consumer-arn x --consumer-name c
expect_usage "describe-consumer with an ARN and a name" \
  "kinesis: describe-consumer: --consumer-arn names the consumer alone: no --stream or --consumer-name with it"
run list-consumers --stream s --consumer-name c
expect_usage "list-consumers takes no --consumer-name" \
  "kinesis: list-consumers: unknown option '--consumer-name'"
run register-consumer --stream s --consumer-name 'a b' --endpoint-url "$MOCK"
expect_failure_line "register-consumer with a bad name fails at once"
expect_err_exact "register-consumer says what a consumer name is" \
  "kinesis: register-consumer: invalid --consumer-name 'a b' or --stream 's' (a consumer name is 1 to 128 letters, digits, '_', '.' or '-'; a stream name too, or a stream ARN)"
run describe-consumer --consumer-arn arn:nope --endpoint-url "$MOCK"
expect_failure_line "describe-consumer with a bad ARN fails at once"

m4="mgmt-efo-$suffix"
run --endpoint-url "$MOCK" create-stream --stream "$m4" --wait
expect_rc "create-stream for the consumers exits 0" 0 stdout-empty
run --endpoint-url "$MOCK" register-consumer --stream "$m4" --consumer-name app
expect_rc "register-consumer by stream name exits 0" 0
check_json "register-consumer prints the consumer" "
  assert.deepStrictEqual(Object.keys(d), ['Consumer'])
  assert.strictEqual(d.Consumer.ConsumerName, 'app')
  assert.match(d.Consumer.ConsumerARN, /:stream\/$m4\/consumer\/app:[0-9]+\$/)
  assert.ok(['CREATING', 'ACTIVE'].includes(d.Consumer.ConsumerStatus))
  assert.ok(d.Consumer.ConsumerCreationTimestamp > 1.6e9)"
carn="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).Consumer.ConsumerARN)' "$tmp/out")"
run --endpoint-url "$MOCK" register-consumer --stream "$m4" --consumer-name app
expect_failure_line "registering the same name again fails"
if grep -q "ResourceInUseException" "$tmp/err"; then
  ok "the failure names ResourceInUseException"
else
  not_ok "the failure names ResourceInUseException"
fi
run --endpoint-url "$MOCK" describe-consumer --consumer-arn "$carn"
expect_rc "describe-consumer by ARN exits 0" 0
check_json "describe-consumer prints the description with the stream's ARN" "
  assert.deepStrictEqual(Object.keys(d), ['ConsumerDescription'])
  assert.strictEqual(d.ConsumerDescription.ConsumerARN, '$carn')
  assert.match(d.ConsumerDescription.StreamARN, /:stream\/$m4\$/)"
run --endpoint-url "$MOCK" describe-consumer --stream "$m4" --consumer-name app
expect_rc "describe-consumer by stream and name exits 0" 0
check_json "describe-consumer by name finds the same consumer" "
  assert.strictEqual(d.ConsumerDescription.ConsumerARN, '$carn')"
run --endpoint-url "$MOCK" list-consumers --stream "$m4"
expect_rc "list-consumers exits 0" 0
check_json "list-consumers prints the one consumer" "
  assert.strictEqual(d.Consumers.length, 1)
  assert.strictEqual(d.Consumers[0].ConsumerName, 'app')
  assert.strictEqual(d.Consumers[0].StreamARN, undefined)"
for _ in $(seq 1 100); do
  run --endpoint-url "$MOCK" describe-consumer --consumer-arn "$carn"
  grep -q '"ACTIVE"' "$tmp/out" && break
  sleep 0.1
done
run --endpoint-url "$MOCK" deregister-consumer --stream "$m4" --consumer-name app
expect_rc "deregister-consumer exits 0" 0 stdout-empty
expect_err_exact "deregister-consumer says what it did" \
  "kinesis: deregistering consumer app of stream $m4"
gone=0
for _ in $(seq 1 100); do
  run --endpoint-url "$MOCK" list-consumers --stream "$m4"
  if [ "$RC" -eq 0 ] && grep -q '"Consumers": \[\]' "$tmp/out"; then
    gone=1
    break
  fi
  sleep 0.1
done
if [ "$gone" -eq 1 ]; then
  ok "the consumer is gone from list-consumers"
else
  not_ok "the consumer is gone from list-consumers" "$(cat "$tmp/out")"
fi

# ---- a round trip on kinesis-mock: `put` (the library's producer) of 1,000
# lines into a stream of 2 shards, then `tail` (its consumer) reads exactly
# those lines back. The fake service runs most tests; this one and
# consumer_more's keep the producer, the consumer and the command honest
# against another implementation.
m3="mgmt-rt-$suffix"
run --endpoint-url "$MOCK" create-stream --stream "$m3" --shards 2 --wait
expect_rc "create-stream for the round trip exits 0" 0 stdout-empty
seq 1 1000 | sed -e 's/^/round-trip-/' >"$tmp/rt-in"
timeout 60 "$KINESIS" --endpoint-url "$MOCK" put --stream "$m3" \
  <"$tmp/rt-in" >"$tmp/out" 2>"$tmp/err"
RC=$?
if [ "$RC" -eq 0 ] && [ ! -s "$tmp/out" ] &&
   grep -q '^kinesis: put: 1000 records, [0-9]* bytes, 0 failed, ' "$tmp/err"; then
  ok "put of 1000 lines to kinesis-mock exits 0 with 0 failed"
else
  not_ok "put of 1000 lines to kinesis-mock exits 0 with 0 failed" \
    "exit $RC: $(cat "$tmp/err")"
fi
run --endpoint-url "$MOCK" tail --stream "$m3" --count 1000
sort "$tmp/out" >"$tmp/rt-out"
sort "$tmp/rt-in" >"$tmp/rt-want"
if [ "$RC" -eq 0 ] && cmp -s "$tmp/rt-out" "$tmp/rt-want"; then
  ok "tail reads the 1000 lines back from kinesis-mock, each once"
else
  not_ok "tail reads the 1000 lines back from kinesis-mock, each once" \
    "exit $RC, $(wc -l <"$tmp/out") lines: $(head -c 300 "$tmp/err")"
fi

# ---- no secret in any output

grep -av '^\$ kinesis ' "$tmp/all" >"$tmp/all-output"
if grep -aqF -e "$SECRET" "$tmp/all-output"; then
  not_ok "no secret key in any output"
else
  ok "no secret key in any output"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
