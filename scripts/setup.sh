#!/usr/bin/env bash
# Installs what building and testing libkinesis needs on Debian 12 (bookworm):
# the Debian packages that are missing, then the pinned test servers
# (test/package-lock.json) into test/node_modules. Runs as root, or uses sudo.
# Quick and quiet when everything is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential meson ninja-build pkg-config
  libuv1-dev libcurl4-openssl-dev libjansson-dev libmbedtls-dev libhiredis-dev
  zlib1g-dev
  libh2o-dev
  redis-server redis-tools openssl nodejs npm ca-certificates curl time python3
  valgrind clang libclang-rt-14-dev doxygen python3-prometheus-client
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup.sh: need root (or sudo) to run: $*" >&2
    exit 1
  fi
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]
}

missing=()
for p in "${packages[@]}"; do
  case "$p" in
    # nodesource's "nodejs" package includes npm; Debian's npm would conflict.
    npm) command -v npm >/dev/null 2>&1 && continue ;;
    # node from elsewhere (nvm, a tarball) is fine too.
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
  esac
  installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: missing packages and no apt-get: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Test servers: npm ci unless test/node_modules matches the lock file.
lock="$root/test/package-lock.json"
stamp="$root/test/node_modules/.lock-hash"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ] || [ ! -f "$root/test/node_modules/kinesalite/package.json" ]; then
  echo "setup.sh: npm ci --prefix test"
  npm ci --prefix "$root/test" --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
