#!/usr/bin/env bash
# Builds libkinesis and runs the whole test suite twice: a normal build in
# build/ (warnings are errors) and an AddressSanitizer + UBSan build in
# build-sanitize/. Runs scripts/setup.sh first. Exits non-zero if anything
# fails; the last line summarises both runs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh

# meson setup for a new build directory, --reconfigure for an existing one.
configure() {
  local dir=$1
  shift
  if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

# run NAME DIR TIMEOUT_MULTIPLIER -- MESON_OPTIONS...
run() {
  local dir=$1 mult=$2
  shift 2
  echo "=== $dir: configure"
  configure "$dir" "$@" || return 1
  echo "=== $dir: compile"
  meson compile -C "$dir" || return 1
  echo "=== $dir: test"
  meson test -C "$dir" --print-errorlogs --timeout-multiplier "$mult" || return 1
}

normal=FAIL
sanitize=FAIL

if run build 1 -Dwerror=true -Dbenchmarks=true; then
  normal=ok
fi

if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   run build-sanitize 3 -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false; then
  sanitize=ok
fi

echo "test.sh: build: $normal; build-sanitize (address,undefined): $sanitize"
[ "$normal" = ok ] && [ "$sanitize" = ok ]
