#!/usr/bin/env bash
# Builds bench_consumer if needed and runs it under test/with-servers.sh,
# which starts kinesalite and exports KINESIS_TEST_ENDPOINT.
#
#   bench/run-consumer.sh [--config 1..3] [--records N] [--fetch-rate R]
#                         [--queue N] [--record-limit N]
#
# BUILD_DIR picks the build directory (default: build, beside this
# directory). BENCH_WRAPPER runs the benchmark under a tool. Every step runs
# in a child process (fill, each consuming run, delete), and callgrind
# writes one file per process; --toggle-collect=consume keeps only the
# consuming phase, so the other files stay empty:
#   BENCH_WRAPPER="valgrind --tool=callgrind --toggle-collect=consume" \
#     bench/run-consumer.sh --config 1 --records 20000 --fetch-rate 50
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Dbenchmarks=true
fi
if ! meson introspect --buildoptions "$build" |
    grep -q '"name": "benchmarks", "value": true'; then
  echo "run-consumer.sh: $build is configured without benchmarks;" \
    "run: meson configure $build -Dbenchmarks=true" >&2
  exit 1
fi
meson compile -C "$build" bench_consumer >/dev/null

wrapper=()
if [ -n "${BENCH_WRAPPER:-}" ]; then
  read -r -a wrapper <<<"$BENCH_WRAPPER"
fi
exec "$root/test/with-servers.sh" "${wrapper[@]}" \
  "$build/bench/bench_consumer" "$@"
