#!/usr/bin/env bash
# Runs COMMAND [ARGS...] with `kinesis serve`, the library's fake Kinesis
# service, running: KINESIS is the kinesis command to start it with.
#
# Starts `KINESIS serve --no-limits` on a free loopback port (the service
# picks it), waits for the URL it prints once it accepts connections, exports
#   KINESIS_TEST_ENDPOINT  http://127.0.0.1:PORT
# as test/with-servers.sh does for kinesalite, runs the command, stops the
# service (SIGTERM) and exits with the command's status; the service exiting
# other than 0 then fails the run. Needs no Node. Several instances may run at
# once, and it chains with test/with-redis.sh in either order.
set -euo pipefail

prog="with-serve.sh"

if [ "$#" -lt 2 ]; then
  echo "usage: $prog KINESIS COMMAND [ARGS...]" >&2
  exit 2
fi
kinesis="$1"
shift

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-serve.XXXXXX")"
serve_pid=""
cmd_pid=""

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$? serve_status=0
  trap - EXIT INT TERM HUP
  if [ -n "$cmd_pid" ] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null || true
    wait "$cmd_pid" 2>/dev/null || true
  fi
  if [ -n "$serve_pid" ]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || serve_status=$?
    if [ "$serve_status" -ne 0 ] && [ "$status" -eq 0 ]; then
      echo "$prog: kinesis serve exited with status $serve_status" >&2
      sed -e 's/^/  serve: /' "$tmp/serve.err" >&2 || true
      status=1
    fi
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# No file descriptor of the caller is passed on but stderr's copy: a service
# that outlived the run must not hold the test runner's pipes open.
"$kinesis" serve --no-limits </dev/null >"$tmp/url" 2>"$tmp/serve.err" &
serve_pid=$!

url=""
for _ in $(seq 1 200); do
  if IFS= read -r url <"$tmp/url" 2>/dev/null && [ -n "$url" ]; then
    break
  fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "$prog: kinesis serve exited before printing its URL:" >&2
    cat "$tmp/serve.err" >&2
    exit 1
  fi
  sleep 0.05
done
case "$url" in
  http://127.0.0.1:*) ;;
  *) echo "$prog: kinesis serve printed no URL within 10 s" >&2; exit 1 ;;
esac
export KINESIS_TEST_ENDPOINT="$url"

"$@" &
cmd_pid=$!
status=0
wait "$cmd_pid" || status=$?
cmd_pid=""
exit "$status"
