#!/usr/bin/env bash
# Integration test of the `kinesis` command (tools/kinesis.c, docs/cli.md).
#
#   test/with-servers.sh test/integration/test_cli.sh PATH-TO-KINESIS
#
# Needs the servers that test/with-servers.sh starts (KINESIS_TEST_*). Without
# them it exits 77 (skip), or 1 when CI=true. Needs node to check the JSON.
set -u

prog="test_cli.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS (run it under test/with-servers.sh)" >&2
  exit 1
fi
KINESIS="$1"

for v in KINESIS_TEST_ENDPOINT KINESIS_TEST_TLS_ENDPOINT \
         KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT KINESIS_TEST_CA_FILE \
         KINESIS_TEST_FAULT_ENDPOINT; do
  if [ -z "${!v:-}" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "$prog: error: $v is not set (CI=true, so this is a failure)" >&2
      exit 1
    fi
    echo "$prog: SKIP: $v is not set; run me under test/with-servers.sh" >&2
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
TLS="$KINESIS_TEST_TLS_ENDPOINT"
WRONG_HOST="$KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT"
CA="$KINESIS_TEST_CA_FILE"
FAULT="$KINESIS_TEST_FAULT_ENDPOINT"

# A known environment: these credentials, this region, nothing else from the
# caller's configuration.
SECRET="secret"
PROFILE_SECRET="profile-secret-KN0test"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDTEST
export AWS_SECRET_ACCESS_KEY="$SECRET"
unset AWS_DEFAULT_REGION AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL \
      AWS_ENDPOINT_URL_KINESIS AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_EC2_METADATA_DISABLED=true

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-cli.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/empty"
export AWS_CONFIG_FILE="$tmp/empty"
export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"

suffix="$$-$RANDOM"
pass=0
fail=0

# ---- helpers

# run [VAR=value | -u VAR]... -- ARGS...: runs the command under env with
# those changes; sets RC, OUT and ERR, and logs everything for the final
# secret check.
run() {
  local envargs=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    envargs+=("$1")
    shift
  done
  [ "$#" -gt 0 ] && shift
  timeout 90 env ${envargs[@]+"${envargs[@]}"} "$KINESIS" "$@" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
  RC=$?
  OUT="$(cat "$tmp/out")"
  ERR="$(cat "$tmp/err")"
  {
    printf '$ kinesis %s\n' "$*"
    cat "$tmp/out" "$tmp/err"
  } >>"$tmp/all"
}

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
    echo "#   $line"
  done
  echo "#   exit status: $RC"
  echo "#   stdout: $(head -c 2000 "$tmp/out")"
  echo "#   stderr: $(head -c 2000 "$tmp/err")"
}

# expect DESCRIPTION RC [stdout-empty] : checks the exit status (and that
# stdout is empty).
expect_rc() {
  local what="$1" want="$2" empty="${3:-}"
  if [ "$RC" -ne "$want" ]; then
    not_ok "$what" "expected exit status $want"
  elif [ "$empty" = "stdout-empty" ] && [ -s "$tmp/out" ]; then
    not_ok "$what" "expected nothing on stdout"
  else
    ok "$what"
  fi
}

# A failure: exit status 1, nothing on stdout, exactly one line on stderr.
expect_failure_line() {
  local what="$1"
  local lines
  lines="$(wc -l <"$tmp/err")"
  if [ "$RC" -ne 1 ]; then
    not_ok "$what" "expected exit status 1"
  elif [ -s "$tmp/out" ]; then
    not_ok "$what" "expected nothing on stdout"
  elif [ "$lines" -ne 1 ]; then
    not_ok "$what" "expected exactly one line on stderr, got $lines"
  else
    ok "$what"
  fi
}

expect_err_prefix() {
  local what="$1" prefix="$2"
  if [[ "$ERR" == "$prefix"* ]]; then
    ok "$what"
  else
    not_ok "$what" "expected stderr to start with: $prefix"
  fi
}

expect_err_exact() {
  local what="$1" want="$2"
  if [ "$ERR" = "$want" ]; then
    ok "$what"
  else
    not_ok "$what" "expected stderr: $want"
  fi
}

expect_err_contains() {
  local what="$1" needle="$2"
  if [[ "$ERR" == *"$needle"* ]]; then
    ok "$what"
  else
    not_ok "$what" "expected stderr to contain: $needle"
  fi
}

expect_out_contains() {
  local what="$1" needle="$2"
  if [[ "$OUT" == *"$needle"* ]]; then
    ok "$what"
  else
    not_ok "$what" "expected stdout to contain: $needle"
  fi
}

# check_describe DESCRIPTION NAME NSHARDS: the describe-stream JSON on stdout.
check_describe() {
  local what="$1" name="$2" n="$3" msg
  if msg="$(node - "$tmp/out" "$name" "$n" 2>&1 <<'EOF'
'use strict'
const fs = require('fs')
const [file, name, nText] = process.argv.slice(2)
const n = Number(nText)
const text = fs.readFileSync(file, 'utf8')
const fail = (m) => { console.log(m); process.exit(1) }
let d
try { d = JSON.parse(text) } catch (e) { fail('stdout is not one JSON value: ' + e.message) }
if (!text.endsWith('}\n')) fail('the JSON does not end with "}" and a newline')
if (!text.startsWith('{\n  "StreamName": ')) fail('not indented with two spaces')
if (d === null || typeof d !== 'object' || Array.isArray(d)) fail('not an object')
const noNulls = (v, path) => {
  if (v === null) fail('null at ' + path + ' (absent members must be omitted)')
  if (typeof v === 'object') for (const k of Object.keys(v)) noNulls(v[k], path + '.' + k)
}
noNulls(d, '$')
if (d.StreamName !== name) fail('StreamName is ' + d.StreamName)
if (d.StreamStatus !== 'ACTIVE') fail('StreamStatus is ' + d.StreamStatus)
if (typeof d.StreamARN !== 'string' || !d.StreamARN.endsWith(':stream/' + name)) fail('StreamARN is ' + d.StreamARN)
if (d.RetentionPeriodHours !== 24) fail('RetentionPeriodHours is ' + d.RetentionPeriodHours)
if (d.OpenShardCount !== n) fail('OpenShardCount is ' + d.OpenShardCount)
if (typeof d.StreamCreationTimestamp !== 'number' || d.StreamCreationTimestamp < 1e9) fail('StreamCreationTimestamp is ' + d.StreamCreationTimestamp)
if (d.EncryptionType !== 'NONE') fail('EncryptionType is ' + d.EncryptionType)
const keys = Object.keys(d)
if (keys[keys.length - 1] !== 'Shards') fail('Shards is not the last member')
if (!Array.isArray(d.Shards) || d.Shards.length !== n) fail('expected ' + n + ' shards, got ' + JSON.stringify(d.Shards))
const ids = new Set(d.Shards.map((s) => s.ShardId))
if (ids.size !== n) fail('ShardIds are not ' + n + ' distinct ids')
let next = 0n
for (const s of d.Shards) {
  if (!/^shardId-\d{12}$/.test(s.ShardId)) fail('bad ShardId ' + s.ShardId)
  if ('ParentShardId' in s || 'AdjacentParentShardId' in s) fail('a new shard has no parent: ' + JSON.stringify(s))
  const r = s.HashKeyRange || fail('no HashKeyRange in ' + s.ShardId)
  if (BigInt(r.StartingHashKey) !== next) fail(s.ShardId + ' starts at ' + r.StartingHashKey + ', expected ' + next)
  next = BigInt(r.EndingHashKey) + 1n
  const q = s.SequenceNumberRange || fail('no SequenceNumberRange in ' + s.ShardId)
  if (!/^\d+$/.test(q.StartingSequenceNumber)) fail('bad StartingSequenceNumber in ' + s.ShardId)
  if ('EndingSequenceNumber' in q) fail('an open shard has no EndingSequenceNumber')
}
if (next !== 1n << 128n) fail('the hash ranges do not cover [0, 2^128)')
if (n === 2 && d.Shards[0].HashKeyRange.EndingHashKey !== '170141183460469231731687303715884105727') fail('not an even split: ' + d.Shards[0].HashKeyRange.EndingHashKey)
EOF
  )"; then
    ok "$what"
  else
    not_ok "$what" "$msg"
  fi
}

# wait_deleted ENDPOINT NAME [ARGS...]: describe-stream until the stream is
# gone (kinesalite keeps it DELETING for a moment).
wait_deleted() {
  local endpoint="$1" name="$2"
  shift 2
  local _
  for _ in $(seq 1 100); do
    run -- --endpoint-url "$endpoint" "$@" describe-stream --stream "$name"
    [ "$RC" -ne 0 ] && return
    sleep 0.1
  done
}

script_fault() {
  if ! curl -sf -X POST "$FAULT/__control/script" -d "$1" >/dev/null; then
    echo "$prog: error: cannot script the fault server at $FAULT" >&2
    exit 1
  fi
}

# ---- usage

run -- --help
expect_rc "--help exits 0" 0
expect_out_contains "--help lists the commands" "describe-stream"
run -- -h
expect_rc "-h exits 0" 0
run -- create-stream --help
expect_rc "create-stream --help exits 0" 0
expect_out_contains "create-stream --help shows its usage" \
  "Usage: kinesis create-stream --stream NAME"
run -- --version
expect_rc "--version exits 0" 0
expect_out_contains "--version prints the version" "kinesis "
run -- frobnicate-stream --stream x
expect_rc "an unknown command exits 2" 2 stdout-empty
expect_err_prefix "an unknown command is named" \
  "kinesis: unknown command 'frobnicate-stream'"
run --
expect_rc "no command exits 2" 2 stdout-empty
run -- describe-stream
expect_rc "a missing --stream exits 2" 2 stdout-empty
expect_err_prefix "a missing --stream is named" \
  "kinesis: describe-stream: missing --stream NAME"
run -- describe-stream --stream x --bogus
expect_rc "an unknown option exits 2" 2 stdout-empty
run -- delete-stream --stream x --shards 2
expect_rc "an option of another command exits 2" 2 stdout-empty
run -- create-stream --stream x --shards 0
expect_rc "--shards 0 exits 2" 2 stdout-empty
expect_err_contains "--shards 0 points to --on-demand" "--on-demand"
run -- create-stream --stream x --shards two
expect_rc "--shards two exits 2" 2 stdout-empty
run -- create-stream --stream x --shards 2 --on-demand
expect_rc "--shards with --on-demand exits 2" 2 stdout-empty
run -- describe-stream --stream
expect_rc "--stream without a value exits 2" 2 stdout-empty

# ---- create, describe, delete over HTTP

s1="cli-http-$suffix"
run -- --endpoint-url "$HTTP" create-stream --stream "$s1" --shards 2 --wait
expect_rc "create-stream --shards 2 --wait" 0 stdout-empty
expect_err_exact "create-stream --wait confirms on stderr" \
  "kinesis: created stream $s1 (2 shards), ACTIVE"
# Global options after the command, and --opt=value.
run -- describe-stream --stream="$s1" --endpoint-url="$HTTP"
expect_rc "describe-stream exits 0" 0
check_describe "describe-stream prints the summary and 2 even shards" "$s1" 2
if [ -z "$ERR" ]; then ok "describe-stream prints nothing on stderr"; else
  not_ok "describe-stream prints nothing on stderr"; fi
run -- --endpoint-url "$HTTP" delete-stream --stream "$s1"
expect_rc "delete-stream exits 0" 0 stdout-empty
wait_deleted "$HTTP" "$s1"
expect_failure_line "describe-stream of a deleted stream fails"
expect_err_prefix "describe-stream of a deleted stream says why" \
  "kinesis: describe-stream: ResourceNotFoundException: "
run -- --endpoint-url "$HTTP" delete-stream --stream "$s1"
expect_failure_line "delete-stream of a missing stream fails"
expect_err_prefix "delete-stream of a missing stream says why" \
  "kinesis: delete-stream: ResourceNotFoundException: "

s2="cli-default-$suffix"
run -- --endpoint-url "$HTTP" create-stream --stream "$s2"
expect_rc "create-stream without --wait" 0 stdout-empty
expect_err_exact "create-stream confirms on stderr" \
  "kinesis: creating stream $s2 (1 shard)"
run -- --endpoint-url "$HTTP" create-stream --stream "$s2" --wait
expect_failure_line "create-stream of an existing stream fails"
expect_err_prefix "create-stream of an existing stream says why" \
  "kinesis: create-stream: ResourceInUseException: "

# ---- HTTPS

s3="cli-tls-$suffix"
run -- --endpoint-url "$TLS" --ca-file "$CA" create-stream --stream "$s3" \
  --wait
expect_rc "create-stream over HTTPS with --ca-file" 0 stdout-empty
run -- --endpoint-url "$TLS" --ca-file "$CA" describe-stream --stream "$s3"
expect_rc "describe-stream over HTTPS with --ca-file" 0
check_describe "describe-stream over HTTPS prints 1 shard" "$s3" 1
run -- --endpoint-url "$TLS" describe-stream --stream "$s3"
expect_failure_line "HTTPS without --ca-file fails"
expect_err_prefix "HTTPS without --ca-file is a TLS error" \
  "kinesis: describe-stream: TLS certificate or handshake failure: "
expect_err_contains "HTTPS without --ca-file names the certificate" \
  "certificate"
run -- --endpoint-url "$WRONG_HOST" --ca-file "$CA" describe-stream \
  --stream "$s3"
expect_failure_line "HTTPS to the wrong host name fails"
expect_err_prefix "HTTPS to the wrong host name is a TLS error" \
  "kinesis: describe-stream: TLS certificate or handshake failure: "
run -- describe-stream --stream "$s3" --endpoint-url "$WRONG_HOST" \
  --no-verify-ssl
expect_rc "--no-verify-ssl to the wrong host name works" 0
check_describe "--no-verify-ssl describes the stream" "$s3" 1
run -- --endpoint-url "$TLS" --ca-file "$CA" delete-stream --stream "$s3"
expect_rc "delete-stream over HTTPS" 0 stdout-empty
wait_deleted "$TLS" "$s3" --ca-file "$CA"
expect_failure_line "the HTTPS stream is gone"
expect_err_prefix "the HTTPS stream is gone: ResourceNotFoundException" \
  "kinesis: describe-stream: ResourceNotFoundException: "
run -- --endpoint-url "$TLS" --ca-file "$tmp/no-such-ca.pem" \
  describe-stream --stream "$s3"
expect_failure_line "a missing --ca-file fails"
expect_err_contains "a missing --ca-file is named" "no-such-ca.pem"

# ---- service errors through the fault server

curl -sf -X POST "$FAULT/__control/reset" >/dev/null
script_fault '[{"status":400,"body":"{\"__type\":\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException\",\"message\":\"Stream x under account 0 not found.\"}"}]'
run -- --endpoint-url "$FAULT" describe-stream --stream x
expect_failure_line "a scripted ResourceNotFoundException fails"
expect_err_exact "a scripted ResourceNotFoundException gives the exact line" \
  "kinesis: describe-stream: ResourceNotFoundException: Stream x under account 0 not found."

script_fault '[{"status":400,"body":"{\"__type\":\"ValidationException\",\"message\":\"first line\\nsecond line\"}"}]'
run -- --endpoint-url "$FAULT" delete-stream --stream x
expect_failure_line "a message with a newline stays on one line"
expect_err_exact "a message with a newline is flattened" \
  "kinesis: delete-stream: ValidationException: first line second line"

# ListShards fails after DescribeStreamSummary succeeded: no partial JSON.
s4="cli-fault-$suffix"
run -- --endpoint-url "$HTTP" create-stream --stream "$s4" --wait
expect_rc "create-stream for the fault tests" 0 stdout-empty
script_fault '[{"target":"ListShards","status":400,"body":"{\"__type\":\"LimitExceededException\",\"message\":\"Rate exceeded for stream.\"}","times":5}]'
run -- --endpoint-url "$FAULT" describe-stream --stream "$s4"
expect_failure_line "a failing ListShards fails describe-stream"
expect_err_exact "a failing ListShards is reported" \
  "kinesis: describe-stream: LimitExceededException: Rate exceeded for stream."
curl -sf -X POST "$FAULT/__control/reset" >/dev/null
run -- --endpoint-url "$FAULT" describe-stream --stream "$s4"
expect_rc "describe-stream through the fault proxy" 0
check_describe "describe-stream through the fault proxy prints 1 shard" \
  "$s4" 1
run -- --endpoint-url "$HTTP" delete-stream --stream "$s4"
expect_rc "delete-stream after the fault tests" 0 stdout-empty

# ---- configuration errors

run -u AWS_REGION -u AWS_DEFAULT_REGION -- --endpoint-url "$HTTP" \
  describe-stream --stream x
expect_failure_line "no region fails"
expect_err_exact "no region says so" \
  "kinesis: describe-stream: no AWS region configured (set --region or AWS_REGION)"
run -u AWS_REGION -u AWS_DEFAULT_REGION -- --region us-east-1 \
  --endpoint-url "$HTTP" describe-stream --stream "cli-none-$suffix"
expect_failure_line "--region supplies the region"
expect_err_prefix "--region supplies the region: the request is answered" \
  "kinesis: describe-stream: ResourceNotFoundException: "

run -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -- --endpoint-url "$HTTP" \
  describe-stream --stream x
expect_failure_line "no credentials fails"
expect_err_contains "no credentials says so" "credentials"

cat >"$tmp/credentials" <<EOF
[kn-cli]
aws_access_key_id = AKIDPROFILE
aws_secret_access_key = $PROFILE_SECRET
EOF
cat >"$tmp/config" <<EOF
[profile kn-cli]
region = us-east-1
EOF
run -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION \
  "AWS_SHARED_CREDENTIALS_FILE=$tmp/credentials" \
  "AWS_CONFIG_FILE=$tmp/config" -- --profile kn-cli --endpoint-url "$HTTP" \
  describe-stream --stream "cli-none-$suffix"
expect_failure_line "--profile supplies credentials and region"
expect_err_prefix "--profile: the request is answered" \
  "kinesis: describe-stream: ResourceNotFoundException: "

run -- --endpoint-url "ftp://127.0.0.1:1" describe-stream --stream x
expect_failure_line "a bad --endpoint-url fails"
expect_err_contains "a bad --endpoint-url is named" \
  "invalid endpoint URL 'ftp://127.0.0.1:1'"
run -- --endpoint-url "$HTTP" describe-stream --stream 'bad name!'
expect_failure_line "a bad stream name fails"
expect_err_contains "a bad stream name is named" "invalid stream name"

# ---- no secret in any output

if grep -qF -e "$SECRET" -e "$PROFILE_SECRET" "$tmp/all"; then
  not_ok "no secret key in any output" \
    "$(grep -nF -e "$SECRET" -e "$PROFILE_SECRET" "$tmp/all" | head -5)"
else
  ok "no secret key in any output"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
