#!/usr/bin/env bash
# Runs every libFuzzer harness (test/fuzz/fuzz_<name>.c) for SECONDS each
# (default 30) in an AddressSanitizer + UBSan build made with clang in
# build-fuzz/.
#
#   scripts/fuzz.sh [SECONDS [HARNESS...]]     e.g. scripts/fuzz.sh 60 deagg
#
# Each harness starts from its committed seeds and past crashes
# (test/fuzz/corpus/<name>/, test/fuzz/regressions/<name>/), copied into a
# temporary working corpus, so the tree is never modified
# (FUZZ_KEEP_CORPUS=1 keeps that directory). Crash, leak and timeout inputs
# are written to the artifact directory printed at the start
# (FUZZ_ARTIFACTS=DIR chooses it). Exits non-zero if any harness failed.
#
# Needs clang and libFuzzer's runtime; on Debian 12:
#   apt-get install clang libclang-rt-14-dev
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

duration=${1:-30}
if [ $# -gt 0 ]; then
  shift
fi
case $duration in
  '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS [HARNESS...]]" >&2
    exit 2
    ;;
esac
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(responses deagg profile metadata put_line scanner_diff sts_xml url svc serve_auth eventstream)
fi

build=build-fuzz
options=(-Dfuzz=true -Dtests=true -Db_sanitize=address,undefined
  -Db_lundef=false -Dbuildtype=debugoptimized -Dwerror=true)
echo "=== $build: configure"
if [ -f "$build/meson-private/coredata.dat" ]; then
  meson setup --reconfigure "$build" "${options[@]}" >/dev/null
else
  CC=${CC:-clang} meson setup "$build" "${options[@]}" >/dev/null
fi
echo "=== $build: compile"
targets=()
for h in "${harnesses[@]}"; do
  targets+=("fuzz_$h")
done
meson compile -C "$build" "${targets[@]}" >/dev/null

artifacts=${FUZZ_ARTIFACTS:-$root/$build/fuzz-artifacts/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$artifacts"
work=$(mktemp -d "${TMPDIR:-/tmp}/kinesis-fuzz.XXXXXX")
if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
  echo "working corpus: $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
echo "artifacts: $artifacts"

# Any sanitizer report ends the run as a crash that libFuzzer saves.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

failed=()
for h in "${harnesses[@]}"; do
  exe=$build/test/fuzz/fuzz_$h
  mkdir -p "$work/$h"
  for seeds in test/fuzz/corpus/$h test/fuzz/regressions/$h; do
    if [ -d "$seeds" ]; then
      find "$seeds" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$work/$h/" \;
    fi
  done
  echo "=== fuzz_$h: ${duration}s"
  log=$artifacts/fuzz_$h.log
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser
  # that allocates what an input claims rather than what it holds.
  if "$exe" "$work/$h" -max_total_time="$duration" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$h-" >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
      "$log" | sed 's/^/    /' || true
  else
    echo "    FAILED: see $log and $artifacts/$h-*"
    grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -5 | sed 's/^/    /' || true
    failed+=("$h")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $artifacts)"
  exit 1
fi
echo "fuzz: ok, ${#harnesses[@]} harnesses, ${duration}s each (logs in $artifacts)"
