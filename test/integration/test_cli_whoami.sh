#!/usr/bin/env bash
# Integration test of `kinesis whoami` (tools/kinesis.c, docs/cli.md): which
# provider of the credential chain answered, the profile and role, the last
# four characters of the access key id and the expiry, and never a secret.
#
#   test/with-servers.sh test/integration/test_cli_whoami.sh PATH-TO-KINESIS
#
# The web identity case goes through the STS fake of test/servers.js. Without
# the servers it exits 77 (skip), or 1 when CI=true. Needs node and curl.
set -u

prog="test_cli_whoami.sh"
if [ "$#" -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $prog PATH-TO-KINESIS (run it under test/with-servers.sh)" >&2
  exit 1
fi
KINESIS="$1"

for v in KINESIS_TEST_STS_URL; do
  if [ -z "${!v:-}" ]; then
    if [ "${CI:-}" = "true" ]; then
      echo "$prog: error: $v is not set (CI=true, so this is a failure)" >&2
      exit 1
    fi
    echo "$prog: SKIP: $v is not set; run me under test/with-servers.sh" >&2
    exit 77
  fi
done
for tool in node curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "$prog: error: $tool is not installed (CI=true)" >&2
      exit 1
    fi
    echo "$prog: SKIP: $tool is not installed" >&2
    exit 77
  fi
done

SECRET="whoami-secret-KN0who"
. "$(dirname "${BASH_SOURCE[0]}")/cli_helpers.sh"
cli_known_env cli-whoami

# run [VAR=VALUE...] -- ARGS...: runs `kinesis whoami`-style commands with
# those variables; sets RC and logs everything for the final secret check.
run() {
  local envargs=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    envargs+=("$1")
    shift
  done
  [ "$#" -gt 0 ] && shift
  timeout 60 env ${envargs[@]+"${envargs[@]}"} "$KINESIS" "$@" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
  RC=$?
  {
    printf '$ kinesis %s\n' "$*"
    cat "$tmp/out" "$tmp/err"
  } >>"$tmp/all"
}

# ---- the environment's keys

run AWS_ACCESS_KEY_ID=AKIDWHOAMIENVK3YS AWS_SECRET_ACCESS_KEY="$SECRET" \
  -- -v whoami
expect_rc "whoami with the environment's keys exits 0" 0
check_json "whoami names the environment and the key's last four" "
  assert.deepStrictEqual(d, { Source: 'environment',
    AccessKeyIdLast4: 'K3YS' })"

# ---- a profile with keys, named by AWS_PROFILE

cat >"$tmp/credentials" <<EOF
[reader]
aws_access_key_id = AKIDWHOAMIPROFILE1
aws_secret_access_key = $SECRET
EOF
chmod 600 "$tmp/credentials"
run AWS_SHARED_CREDENTIALS_FILE="$tmp/credentials" AWS_PROFILE=reader \
  -- whoami
expect_rc "whoami with a profile's keys exits 0" 0
check_json "whoami names the profile" "
  assert.deepStrictEqual(d, { Source: 'profile', Profile: 'reader',
    AccessKeyIdLast4: 'ILE1' })"

# ---- web identity from the environment, exchanged with the STS fake

printf 'whoami-web-identity-token' >"$tmp/token"
curl -sf -X POST -d '{"reset": true, "web_token": "whoami-web-identity-token", "expiry_seconds": 3600}' \
  "$KINESIS_TEST_STS_URL/__control/sts" >/dev/null ||
  not_ok "the STS fake takes its script"
ROLE="arn:aws:iam::123456789012:role/whoami-reader"
run AWS_WEB_IDENTITY_TOKEN_FILE="$tmp/token" AWS_ROLE_ARN="$ROLE" \
  AWS_ENDPOINT_URL_STS="$KINESIS_TEST_STS_URL" AWS_REGION=us-east-1 -- \
  -v whoami
expect_rc "whoami with a web identity exits 0" 0
check_json "whoami names the web identity, its role and when it expires" "
  assert.strictEqual(d.Source, 'web identity')
  assert.strictEqual(d.RoleArn, '$ROLE')
  assert.match(d.AccessKeyIdLast4, /^.{4}\$/)
  assert.ok(!('Profile' in d))
  const left = Date.parse(d.Expiration) - Date.now()
  assert.ok(left > 3000 * 1000 && left <= 3600 * 1000, 'expires in ' + left)"
if grep -aq "whoami-web-identity-token" "$tmp/out" "$tmp/err"; then
  not_ok "whoami does not print the web identity token"
else
  ok "whoami does not print the web identity token"
fi

# ---- nothing in the chain

run -- whoami
expect_failure_line "whoami with no credentials fails with one line"
if grep -q "^kinesis: whoami: tried: options, environment" "$tmp/err"; then
  ok "the line says which sources were tried"
else
  not_ok "the line says which sources were tried"
fi

run -- whoami --stream x
if [ "$RC" -eq 2 ]; then
  ok "whoami takes no --stream"
else
  not_ok "whoami takes no --stream"
fi

# ---- no secret in any output

grep -av '^\$ kinesis ' "$tmp/all" >"$tmp/all-output"
if grep -aqF -e "$SECRET" "$tmp/all-output" ||
   grep -aq "sts-secret-\|sts-token-" "$tmp/all-output"; then
  not_ok "no secret key or session token in any output"
else
  ok "no secret key or session token in any output"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
