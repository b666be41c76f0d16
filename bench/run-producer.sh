#!/usr/bin/env bash
# Builds bench_producer if needed and runs it under test/with-servers.sh,
# which starts kinesalite and exports KINESIS_TEST_ENDPOINT.
#
#   bench/run-producer.sh [--config 1..4] [--records N] [--in-flight N]
#                         [--queue N]
#
# BUILD_DIR picks the build directory (default: build, beside this
# directory). BENCH_WRAPPER runs the benchmark under a tool, for example
#   BENCH_WRAPPER="valgrind --tool=callgrind" bench/run-producer.sh \
#     --config 1 --records 5000
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Dbenchmarks=true
fi
if ! meson introspect --buildoptions "$build" |
    grep -q '"name": "benchmarks", "value": true'; then
  echo "run-producer.sh: $build is configured without benchmarks;" \
    "run: meson configure $build -Dbenchmarks=true" >&2
  exit 1
fi
meson compile -C "$build" bench_producer >/dev/null

wrapper=()
if [ -n "${BENCH_WRAPPER:-}" ]; then
  read -r -a wrapper <<<"$BENCH_WRAPPER"
fi
exec "$root/test/with-servers.sh" "${wrapper[@]}" \
  "$build/bench/bench_producer" "$@"
