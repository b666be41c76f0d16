#!/usr/bin/env bash
# The fake service against kinesalite, as servers (issue 18's benchmark):
# records a second each takes in PutRecords of 500 x 100 B and gives back
# with GetRecords, and the same per second of the server's own CPU time,
# which is what one core of its own would take. bench_serve measures both
# from outside with the same client; the fake runs with its limits off.
#
#   bench/serve.sh [--build DIR] [--records N] [--in-flight K] [--shards S]
#
# DIR (default build-release, else build) must hold tools/kinesis and
# bench/bench_serve (-Dbenchmarks=true -Dserve=enabled). kinesalite comes
# from test/node_modules (scripts/setup.sh). Prints each RESULT line, then
# the ratios. Asserts nothing about speed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --records | --in-flight | --shards) args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: bench/serve.sh [--build DIR] [--records N] [--in-flight K] [--shards S]" >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  build=$root/build-release
  [ -x "$build/bench/bench_serve" ] || build=$root/build
fi
kinesis=$build/tools/kinesis
bench=$build/bench/bench_serve
for f in "$kinesis" "$bench"; do
  [ -x "$f" ] || { echo "serve.sh: $f is missing (-Dbenchmarks=true -Dserve=enabled)" >&2; exit 1; }
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run() { # NAME URL
  echo "=== $1"
  KINESIS_TEST_ENDPOINT=$2 "$bench" "${args[@]}" | tee "$tmp/$1"
}

tmp=$(mktemp -d)
trap 'cleanup; rm -rf "$tmp"' EXIT

# The fake service: its URL is its first line.
coproc SERVE { exec "$kinesis" serve --no-limits; }
pids+=("$SERVE_PID")
read -r serve_url <&"${SERVE[0]}"
run serve "$serve_url"

# kinesalite, as the tests start it: in memory, streams ACTIVE at once.
port=$(free_port)
node "$root/test/node_modules/kinesalite/cli.js" --port "$port" \
  --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 100 &
pids+=("$!")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
run kinesalite "http://127.0.0.1:$port"

# The ratios, per phase: wall records/s and records per server CPU second.
echo "=== serve / kinesalite"
for phase in put read; do
  s=$(grep "phase=$phase " "$tmp/serve")
  k=$(grep "phase=$phase " "$tmp/kinesalite")
  field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
  awk -v p="$phase" -v sw="$(field records_per_s "$s")" -v kw="$(field records_per_s "$k")" \
      -v sc="$(field records_per_server_cpu_s "$s")" -v kc="$(field records_per_server_cpu_s "$k")" \
      'BEGIN { printf "%s: %.1fx the records/s, %.1fx the records per server CPU second\n", p, sw / kw, (kc > 0 ? sc / kc : 0) }'
done
