#!/usr/bin/env bash
# Runs COMMAND [ARGS...] with a fresh redis-server running.
#
# Starts redis-server on a free loopback port, without persistence
# (--save '' --appendonly no) and in its own temporary directory, waits until
# it answers PING, exports
#   KINESIS_TEST_REDIS_URL   redis://127.0.0.1:PORT
#   KINESIS_TEST_REDIS_PORT  PORT
#   KINESIS_TEST_REDIS_CTL   a script: "$KINESIS_TEST_REDIS_CTL stop" stops
#                            the server (SIGTERM, and waits until it is gone);
#                            "$KINESIS_TEST_REDIS_CTL start" starts it again
#                            on the same port (and waits for PING)
# runs the command, stops the server, removes the temporary files and exits
# with the command's status. Several instances may run at once, and it
# chains with test/with-servers.sh in either order.
#
# Without redis-server it exits 77 (meson's "skip"), or 1 when CI=true.
set -euo pipefail

prog="with-redis.sh"

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
  echo "$prog: install it with: apt-get install redis-server" \
    "(or scripts/setup.sh)" >&2
  exit 77
}

redis_server="$(command -v redis-server 2>/dev/null)" ||
  missing "redis-server is not installed"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-redis.XXXXXX")"
ctl="$tmp/ctl"
cmd_pid=""

# --- the control script. Everything it needs is written into it, so the
# test can run it without any environment but its path.
cat >"$ctl" <<EOF
#!/usr/bin/env bash
# Controls the redis-server of one with-redis.sh run: ctl start|stop.
# with-redis.sh sources it for its functions.
tmp=$(printf '%q' "$tmp")
redis_server=$(printf '%q' "$redis_server")
EOF
cat >>"$ctl" <<'EOF'
port="$(cat "$tmp/port" 2>/dev/null || true)"

# A server started by the ctl command outlives it, so its parent is init (or a
# subreaper), which in a container may never reap it: a zombie counts as gone.
alive() {
  local state=""
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    state="$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || true
  fi
  [ "$state" != "Z" ]
}

running() {
  local pid
  pid="$(cat "$tmp/pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && alive "$pid"
}

# PING over bash's /dev/tcp: no redis-cli needed. Any answer means the server
# is up (once a password is set, it is -NOAUTH).
ping_redis() {
  local reply=""
  exec 5<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'PING\r\n' >&5 || { exec 5>&-; return 1; }
  IFS= read -r -t 2 reply <&5 || true
  exec 5>&-
  case "$reply" in
    +PONG* | -NOAUTH*) return 0 ;;
  esac
  return 1
}

start() {
  local i
  if running; then
    echo "ctl: redis-server is already running" >&2
    return 1
  fi
  : >"$tmp/redis.log"
  # No file descriptor of the caller is passed on: a server that outlives the
  # test must not hold the test runner's pipes open.
  "$redis_server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$tmp" --daemonize no --logfile "$tmp/redis.log" \
    </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- &
  echo $! >"$tmp/pid"
  for i in $(seq 1 200); do
    if ! running; then
      return 1  # It exited, usually because the port was taken.
    fi
    if ping_redis 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "ctl: redis-server did not answer PING within 10 s" >&2
  stop
  return 1
}

stop() {
  local pid i
  pid="$(cat "$tmp/pid" 2>/dev/null || true)"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    echo "ctl: redis-server did not stop within 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.05; done
  fi
  # Reaps it when it is this shell's child (with-redis.sh's first start).
  wait "$pid" 2>/dev/null || true
  : >"$tmp/pid"
}

# Sourced by with-redis.sh: only the functions.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0
set -euo pipefail
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: ctl start|stop" >&2; exit 2 ;;
esac
EOF
chmod +x "$ctl"

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [ -n "$cmd_pid" ] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null || true
    wait "$cmd_pid" 2>/dev/null || true
  fi
  stop || true
  # Closing the FIFO lets the watchdog go; it has nothing left to do. Then
  # every child is reaped: the watchdog, and the first server if the command
  # stopped it with ctl.
  exec 3>&-
  wait 2>/dev/null || true
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- a watchdog, for when this shell is killed with SIGKILL and cleanup never
# runs: it waits for the end of a FIFO whose only writer is this shell (fd 3),
# then stops the server and removes the directory.
mkfifo "$tmp/alive"
(
  trap '' INT TERM HUP
  read -r _ <"$tmp/alive" || true
  if [ -d "$tmp" ]; then
    "$ctl" stop || true
    rm -rf "$tmp"
  fi
) </dev/null >/dev/null 2>&1 &
exec 3>"$tmp/alive"

# --- a free port. The kernel picks one (python3), or we probe random ones;
# either way another process may take it before redis binds it, so a failed
# start is retried on another port.
pick_port() {
  local p
  if command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2>/dev/null; then
    return 0
  fi
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 5<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
}

# The first server is started by this shell, so that it is this shell's
# child and is reaped; servers restarted by "ctl start" are not.
# shellcheck disable=SC1090
. "$ctl"
started=""
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  port="$(pick_port)"
  echo "$port" >"$tmp/port"
  if start; then
    started=1
    break
  fi
  stop || true
done
if [ -z "$started" ]; then
  echo "$prog: error: redis-server did not start after $attempt attempts:" >&2
  cat "$tmp/redis.log" >&2 || true
  exit 1
fi

export KINESIS_TEST_REDIS_URL="redis://127.0.0.1:$port"
export KINESIS_TEST_REDIS_PORT="$port"
export KINESIS_TEST_REDIS_CTL="$ctl"

# Loopback traffic must never go through a proxy from the environment.
for v in no_proxy NO_PROXY; do
  export "$v=${!v:+${!v},}127.0.0.1,localhost,::1"
done

# --- the command, in the background so that a signal to this shell is
# handled at once (and forwarded by cleanup); fd 3 is not passed on, and
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
if [ "$status" -ne 0 ] && [ "$status" -ne 77 ] && [ -s "$tmp/redis.log" ]; then
  echo "--- redis-server log ---" >&2
  tail -n 50 "$tmp/redis.log" >&2
fi
exit "$status"
