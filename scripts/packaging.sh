#!/usr/bin/env bash
# Checks that libkinesis can be used the two ways a project would pick it
# up, with test/packaging/ as that project (its own meson.build, calling
# dependency('kinesis')):
#   1. installed: BUILD_DIR is installed into a staging directory, and the
#      project finds it there through pkg-config (kinesis.pc);
#   2. bundled: the project gets a copy of this tree as subprojects/libkinesis
#      and meson's fallback builds it.
# Each time the project's program links, checks the version and opens and
# closes a client. Usage: scripts/packaging.sh [BUILD_DIR] (default build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/kn-packaging.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "=== packaging: installed, found through pkg-config"
meson install -C "$build" --destdir "$tmp/root" --quiet >/dev/null
pc="$(find "$tmp/root" -name kinesis.pc | head -n 1)"
if [ -z "$pc" ]; then
  echo "packaging.sh: no kinesis.pc was installed" >&2
  exit 1
fi
lib="$(dirname "$(find "$tmp/root" -name 'libkinesis.so' | head -n 1)")"
# The soname follows the version (meson.build): libkinesis.so.0.MINOR while
# the major version is 0, libkinesis.so.MAJOR after.
major="$(sed -n 's/^#define KINESIS_VERSION_MAJOR \([0-9]*\).*/\1/p' \
  "$root/include/kinesis/version.h")"
minor="$(sed -n 's/^#define KINESIS_VERSION_MINOR \([0-9]*\).*/\1/p' \
  "$root/include/kinesis/version.h")"
if [ "$major" = 0 ]; then
  soname="libkinesis.so.0.$minor"
else
  soname="libkinesis.so.$major"
fi
if ! readelf -d "$lib/libkinesis.so" | grep -q "SONAME.*\[$soname\]"; then
  echo "packaging.sh: the library's soname is not $soname:" \
    "$(readelf -d "$lib/libkinesis.so" | grep SONAME)" >&2
  exit 1
fi
# The staged files keep their installed paths under the staging root:
# pkg-config adds that root to every -I and -L it prints.
PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH="$(dirname "$pc")" \
  meson setup "$tmp/installed" "$root/test/packaging" -Dwerror=true >/dev/null
meson compile -C "$tmp/installed" >/dev/null
if ! LD_LIBRARY_PATH="$lib" ldd "$tmp/installed/use_kinesis" |
     grep -q "$soname => $lib/"; then
  echo "packaging.sh: use_kinesis does not load the staged libkinesis" >&2
  exit 1
fi
LD_LIBRARY_PATH="$lib" "$tmp/installed/use_kinesis"

echo "=== packaging: bundled as a meson subproject"
mkdir -p "$tmp/bundled/subprojects/libkinesis"
cp "$root/test/packaging/meson.build" "$root/test/packaging/use_kinesis.c" \
  "$tmp/bundled/"
# The tracked files as they are in the working tree; without git, the tree
# less its build directories and node modules.
dest="$tmp/bundled/subprojects/libkinesis"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$dest")
else
  tar -C "$root" --exclude='./build*' --exclude='*/node_modules' -cf - . |
    tar -C "$dest" -xf -
fi
meson setup "$tmp/bundled-build" "$tmp/bundled" -Dwerror=true \
  --force-fallback-for=kinesis >/dev/null
meson compile -C "$tmp/bundled-build" >/dev/null
"$tmp/bundled-build/use_kinesis"
echo "packaging.sh: ok"
