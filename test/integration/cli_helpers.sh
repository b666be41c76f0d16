# Helpers shared by the `kinesis` command's shell tests (test_cli.sh,
# test_cli_mgmt.sh, test_cli_whoami.sh). cli_known_env sets `tmp` (a
# temporary directory holding the last run's `out` and `err`), `pass` and
# `fail`; each script defines `run`, which sets RC. TAP output: one "ok N - ..." or
# "not ok N - ..." line a check, with what was seen after a failure.

# cli_known_env NAME: a known environment for the command, set up the same
# way by every script: nothing from the caller's AWS configuration (keys,
# profile, region, endpoints, roles, container and instance metadata), `tmp`
# a fresh directory removed at exit, empty shared config and credentials
# files, and the counters at zero. The script then sets what it tests with.
cli_known_env() {
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
        AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL \
        AWS_ENDPOINT_URL_KINESIS AWS_ENDPOINT_URL_STS AWS_ENDPOINT_URL_SSO \
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
        AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE \
        AWS_ROLE_ARN AWS_ROLE_SESSION_NAME
  export AWS_EC2_METADATA_DISABLED=true
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-$1.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  : >"$tmp/empty"
  export AWS_CONFIG_FILE="$tmp/empty"
  export AWS_SHARED_CREDENTIALS_FILE="$tmp/empty"
  pass=0
  fail=0
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

# expect_rc DESCRIPTION RC [stdout-empty]
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

expect_err_exact() {
  local what="$1" want="$2"
  if [ "$ERR" = "$want" ]; then
    ok "$what"
  else
    not_ok "$what" "expected stderr: $want"
  fi
}

# expect_usage DESCRIPTION FIRST-LINE: exit status 2, nothing on stdout, and
# stderr starting with that line, then the command's usage.
expect_usage() {
  local what="$1" want="$2" first
  first="$(head -n 1 "$tmp/err")"
  if [ "$RC" -ne 2 ]; then
    not_ok "$what" "expected exit status 2"
  elif [ -s "$tmp/out" ]; then
    not_ok "$what" "expected nothing on stdout"
  elif [ "$first" != "$want" ]; then
    not_ok "$what" "expected the first line on stderr: $want"
  elif ! grep -q '^Usage: kinesis ' "$tmp/err"; then
    not_ok "$what" "expected the usage line on stderr"
  else
    ok "$what"
  fi
}

# check_json DESCRIPTION JS: stdout is one JSON object, indented with two
# spaces, ending with a newline; JS, with the object as `d`, must not throw
# nor return false (a string it returns is the reason).
check_json() {
  local what="$1" js="$2" msg
  if msg="$(node - "$tmp/out" "$js" 2>&1 <<'EOF'
'use strict'
const fs = require('fs')
const assert = require('assert')
const [file, js] = process.argv.slice(2)
const text = fs.readFileSync(file, 'utf8')
const fail = (m) => { console.log(m); process.exit(1) }
let d
try { d = JSON.parse(text) } catch (e) { fail('stdout is not one JSON value: ' + e.message) }
if (!text.endsWith('}\n')) fail('the JSON does not end with "}" and a newline')
if (!text.startsWith('{\n  "')) fail('not an object indented with two spaces')
try {
  const r = new Function('d', 'assert', js)(d, assert)
  if (r === false) fail('check returned false')
  if (typeof r === 'string') fail(r)
} catch (e) { fail(e.message) }
EOF
)"; then
    ok "$what"
  else
    not_ok "$what" "$msg"
  fi
}
