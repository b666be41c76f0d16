#!/usr/bin/env bash
# Runs COMMAND [ARGS...] with the integration test servers running.
#
# Generates a throwaway test CA and a certificate for "localhost" (no IP SAN),
# starts test/servers.js (kinesalite over HTTP and HTTPS, the fault server,
# dynalite, and the credential fakes, each on a free loopback port), exports
#   KINESIS_TEST_ENDPOINT  KINESIS_TEST_TLS_ENDPOINT
#   KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT  KINESIS_TEST_CA_FILE
#   KINESIS_TEST_FAULT_ENDPOINT  KINESIS_TEST_DYNAMODB_ENDPOINT
#   KINESIS_TEST_METADATA_URL  KINESIS_TEST_STS_URL  KINESIS_TEST_SSO_URL
#   (and KINESIS_TEST_MOCK_ENDPOINT  KINESIS_TEST_MOCK_TLS_ENDPOINT with
#   KINESIS_TEST_WITH_MOCK=1)
# runs the command, stops the servers, removes the temporary files and exits
# with the command's status. Several instances may run at once.
#
# Without node or test/node_modules/kinesalite it exits 77 (meson's "skip"),
# or 1 when CI=true.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prog="with-servers.sh"

if [ "$#" -eq 0 ]; then
  echo "usage: $prog COMMAND [ARGS...]" >&2
  exit 2
fi

missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "$prog: error: $1 (CI=true, so this is a failure)" >&2
    exit 1
  fi
  echo "$prog: SKIP: $1" >&2
  echo "$prog: install the test servers with: npm ci --prefix test   (or scripts/setup.sh)" >&2
  exit 77
}

command -v node >/dev/null 2>&1 || missing "node is not installed"
[ -f "$here/node_modules/kinesalite/package.json" ] ||
  missing "kinesalite is not installed in $here/node_modules"
[ -f "$here/node_modules/dynalite/package.json" ] ||
  missing "dynalite is not installed in $here/node_modules"
command -v openssl >/dev/null 2>&1 || missing "openssl is not installed"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-servers.XXXXXX")"
node_pid=""
cmd_pid=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$cmd_pid" ] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null || true
    wait "$cmd_pid" 2>/dev/null || true
  fi
  exec 3>&-
  if [ -n "$node_pid" ]; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- certificates: a test CA and a server certificate for localhost only.
gen_certs() {
  cat >"$tmp/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/ca-key.pem" -out "$tmp/ca.pem" -days 2 \
    -subj "/CN=libkinesis test CA" \
    -addext "basicConstraints = critical, CA:TRUE" \
    -addext "keyUsage = critical, keyCertSign, cRLSign" &&
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/server-key.pem" -out "$tmp/server.csr" -subj "/CN=localhost" &&
  openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$tmp/server.ext" \
    -out "$tmp/server.pem"
}
if ! gen_certs >"$tmp/openssl.log" 2>&1; then
  echo "$prog: error: generating the test certificates failed:" >&2
  cat "$tmp/openssl.log" >&2
  exit 1
fi

# --- servers. Their stdin is a FIFO whose only writer is this shell (fd 3),
# so they exit as soon as this script is gone, even after a SIGKILL.
mkfifo "$tmp/stdin"
node "$here/servers.js" --cert "$tmp/server.pem" --key "$tmp/server-key.pem" \
  --ca "$tmp/ca.pem" --export-file "$tmp/env" <"$tmp/stdin" >"$tmp/servers.log" 2>&1 &
node_pid=$!
exec 3>"$tmp/stdin"

deadline=$((SECONDS + 15))
while [ ! -s "$tmp/env" ]; do
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "$prog: error: test/servers.js exited before it was ready:" >&2
    cat "$tmp/servers.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "$prog: error: test/servers.js did not report its ports within 15 s:" >&2
    cat "$tmp/servers.log" >&2
    exit 1
  fi
  sleep 0.05
done
# shellcheck disable=SC1091
. "$tmp/env"

# Loopback traffic must never go through a proxy from the environment.
for v in no_proxy NO_PROXY; do
  export "$v=${!v:+${!v},}127.0.0.1,localhost,::1"
done

# --- the command. It runs in the background so that a signal to this shell
# is handled at once (and forwarded by cleanup); fd 3 is not passed on, and
# stdin is passed explicitly (background jobs would get /dev/null).
exec 4<&0
"$@" <&4 3>&- 4<&- &
cmd_pid=$!
exec 4<&-
set +e
wait "$cmd_pid"
status=$?
set -e
cmd_pid=""
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ] && [ -s "$tmp/servers.log" ]; then
  echo "--- test/servers.js output ---" >&2
  cat "$tmp/servers.log" >&2
fi
exit "$status"
