#!/usr/bin/env bash
# Installs and builds what bench/compare.sh runs; does nothing that is
# already done, so it is safe to run again.
#
#   bench/peers/setup.sh [BUILD_DIR]
#
#  - the test servers (kinesalite): npm ci --prefix test
#  - the AWS SDK for JavaScript v3: npm ci --prefix bench/peers, from the
#    committed package-lock.json
#  - boto3 and matplotlib from Debian's packages (python3-boto3,
#    python3-matplotlib) for /usr/bin/python3, with apt-get when missing
#    (as root; otherwise it says what to install)
#  - libkinesis in BUILD_DIR (default build-bench in the checkout; a
#    release build with the benchmarks, without the tests), with
#    bench/peers/kn_peer.c as BUILD_DIR/bench/kn_peer
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build-bench}"
prog="setup.sh"
python=/usr/bin/python3

say() { echo "$prog: $*" >&2; }

# --- node packages. npm ci replaces node_modules; skip it when the lock
# file is not newer than what npm last installed.
npm_ci() {
  local dir="$1"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
      [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "npm ci --prefix $dir"
    npm ci --prefix "$dir" --no-audit --no-fund >&2
  fi
}
command -v node >/dev/null || { say "error: node is not installed"; exit 1; }
npm_ci "$root/test"
npm_ci "$here"

# --- Debian's boto3 and matplotlib, for Debian's python.
missing=()
"$python" -c 'import boto3' 2>/dev/null || missing+=(python3-boto3)
"$python" -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    say "error: missing ${missing[*]}; run: sudo apt-get install ${missing[*]}"
    exit 1
  fi
fi

# --- libkinesis, and kn_peer on it.
if [ ! -f "$build/build.ninja" ]; then
  say "meson setup $build"
  meson setup "$build" "$root" --buildtype=release -Dbenchmarks=true \
    -Dtests=false >&2
fi
ninja -C "$build" bench/kn_peer >/dev/null
