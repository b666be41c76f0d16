#!/usr/bin/env bash
# Builds a benchmark if needed and runs it under test/with-servers.sh, which
# starts kinesalite and exports KINESIS_TEST_ENDPOINT; efo runs under
# test/with-serve.sh instead, which starts the fake service (`kinesis serve`,
# built with -Dserve), since kinesalite has no SubscribeToShard.
#
#   bench/run.sh producer [--config 1..4] [--records N] [--in-flight N] [--queue N]
#                         [--batch N]
#   bench/run.sh consumer [--config 1..3] [--records N] [--fetch-rate R]
#                         [--queue N] [--record-limit N]
#   bench/run.sh efo [--records N] [--latency-records N] [--phase cpu|latency|all]
#
# BUILD_DIR picks the build directory (default: build, beside this
# directory). BENCH_WRAPPER runs the benchmark under a tool. Each step runs in
# a child process, and callgrind writes one file per process; for the
# consumer, --toggle-collect=consume keeps only the consuming phase:
#   BENCH_WRAPPER="valgrind --tool=callgrind --toggle-collect=consume" \
#     bench/run.sh consumer --config 1 --records 20000 --fetch-rate 50
set -euo pipefail

if [ $# -lt 1 ] || { [ "$1" != producer ] && [ "$1" != consumer ] &&
                     [ "$1" != efo ]; }; then
  echo "usage: bench/run.sh producer|consumer|efo [OPTIONS]" >&2
  exit 2
fi
name="bench_$1"
shift

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Dbenchmarks=true
fi
if ! meson introspect --buildoptions "$build" |
    grep -q '"name": "benchmarks", "value": true'; then
  echo "run.sh: $build is configured without benchmarks;" \
    "run: meson configure $build -Dbenchmarks=true" >&2
  exit 1
fi
meson compile -C "$build" "$name" >/dev/null
if [ "$name" = bench_efo ]; then
  meson compile -C "$build" tools/kinesis:executable >/dev/null
fi

wrapper=()
if [ -n "${BENCH_WRAPPER:-}" ]; then
  read -r -a wrapper <<<"$BENCH_WRAPPER"
fi
if [ "$name" = bench_efo ]; then
  exec "$root/test/with-serve.sh" "$build/tools/kinesis" "${wrapper[@]}" \
    "$build/bench/$name" "$@"
fi
exec "$root/test/with-servers.sh" "${wrapper[@]}" "$build/bench/$name" "$@"
