#!/usr/bin/env bash
# Builds libkinesis and runs the whole test suite twice: a normal build in
# build/ (warnings are errors), whose unit tests also run under valgrind's
# memcheck, whose API reference must build without a doxygen warning or an
# undocumented public name (meson compile docs, scripts/apidoc.sh), and
# which a separate project finds installed and as a subproject
# (scripts/packaging.sh), and an AddressSanitizer + UBSan build in
# build-sanitize/; then fuzzes every harness for KN_FUZZ_SECONDS (default 20)
# each with clang in build-fuzz/ (scripts/fuzz.sh). Runs scripts/setup.sh
# first, then scripts/check-no-shared.sh (nothing may read test data from
# outside the checkout) and scripts/check-tools-api.sh (the kinesis command
# uses the public API only). Exits non-zero if anything fails; the last line
# summarises the runs. The scale suite (test_scale_tail.sh) runs alone after
# the normal build's tests.
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
  # The scale suite runs once, alone, in the normal build (below).
  meson test -C "$dir" --print-errorlogs --timeout-multiplier "$mult" \
    --no-suite scale || return 1
}

selfcontained=FAIL
toolsapi=FAIL
normal=FAIL
sanitize=FAIL
memcheck=FAIL
packaging=FAIL
fuzz=FAIL
docs=FAIL
scale=FAIL

# A plain clone must pass alone: no file may point outside the checkout for
# test data (the vectors are in test/data/).
echo "=== check: nothing refers outside the checkout"
if scripts/check-no-shared.sh; then
  selfcontained=ok
fi

# tools/ is built like any user's program: no lib/ header, no kn_ name.
echo "=== check: tools/ uses the public API only"
if scripts/check-tools-api.sh; then
  toolsapi=ok
fi

if run build 1 -Dwerror=true -Dbenchmarks=true -Ddocs=enabled -Dserve=enabled; then
  normal=ok
fi

# The scale test (test_scale_tail.sh: two tails sharing 1,000 shards through
# Redis, no loop turn using 10 ms of CPU or more), alone, since it measures
# the loop's turns, and only here: under the sanitizers it would take long
# and its CPU bound does not apply.
echo "=== build: scale suite"
if [ "$normal" = ok ] &&
   meson test -C build --suite scale --print-errorlogs; then
  scale=ok
fi

# The API reference from the public headers (docs/meson.build): any doxygen
# warning, and any undocumented public function, type, member, enum value or
# macro, fails it.
echo "=== build: API reference (doxygen)"
if meson compile -C build docs; then
  docs=ok
fi

# A project of its own finds the library installed (pkg-config) and bundled
# as a meson subproject, and links and runs against it.
if [ "$normal" = ok ] && scripts/packaging.sh build; then
  packaging=ok
fi

# The unit tests and the corpus replays under valgrind's memcheck, in the
# normal build (no sanitizer): no error, and no definite, indirect or
# possible leak.
echo "=== build: unit tests and corpus replays under valgrind memcheck"
if [ "$normal" = ok ] &&
   meson test -C build --suite unit --suite fuzz --print-errorlogs \
     --timeout-multiplier 10 \
     --wrap="valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible -q"; then
  memcheck=ok
fi

if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   run build-sanitize 3 -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dserve=enabled; then
  sanitize=ok
fi

# A short fuzzing run of every harness (clang, ASan + UBSan, build-fuzz/).
echo "=== build-fuzz: ${KN_FUZZ_SECONDS:-20} s of fuzzing per harness"
if scripts/fuzz.sh "${KN_FUZZ_SECONDS:-20}"; then
  fuzz=ok
fi

echo "test.sh: self-contained: $selfcontained; tools API: $toolsapi;" \
  "build: $normal;" \
  "scale: $scale; API reference: $docs; packaging: $packaging;" \
  "unit tests under memcheck: $memcheck;" \
  "build-sanitize (address,undefined): $sanitize; fuzzing: $fuzz"
[ "$selfcontained" = ok ] && [ "$toolsapi" = ok ] && [ "$normal" = ok ] &&
  [ "$scale" = ok ] &&
  [ "$docs" = ok ] &&
  [ "$packaging" = ok ] && [ "$memcheck" = ok ] && [ "$sanitize" = ok ] &&
  [ "$fuzz" = ok ]
