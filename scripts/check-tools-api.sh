#!/usr/bin/env bash
# Fails when the kinesis command (tools/) uses more than the public API: a
# file that includes one of lib/'s headers, names a kn_ function or type,
# or a tools/meson.build that links the internal archive. The command is
# built like any user's program (issue 17), so what it needs from the
# library must be public. Prints each offending line, then exits 1; exits
# 0 when there is none.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

status=0

# #include "X.h" or <X.h> where lib/X.h exists and tools/X.h does not.
for h in lib/*.h; do
  name="$(basename "$h")"
  [ -e "tools/$name" ] && continue
  if hits="$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<](\.\./)*(lib/)?$name[\">]" \
               tools/*.c tools/*.h)"; then
    printf '%s\n' "$hits" | sed 's/^/check-tools-api: /' >&2
    status=1
  fi
done

# Any kn_ name, in code or comments: the library's internal prefix.
if hits="$(grep -nwE 'kn_[A-Za-z0-9_]+' tools/*.c tools/*.h)"; then
  printf '%s\n' "$hits" | sed 's/^/check-tools-api: /' >&2
  status=1
fi

if hits="$(grep -nE 'kinesis_internal|include_directories\(.*lib' \
             tools/meson.build)"; then
  printf '%s\n' "$hits" | sed 's/^/check-tools-api: /' >&2
  status=1
fi

if [ "$status" -ne 0 ]; then
  echo "check-tools-api: the lines above reach past the public API;" \
    "tools/ may use include/ only (make what it needs public, or keep" \
    "its own copy in tools/)" >&2
  exit 1
fi
echo "check-tools-api: ok (tools/ uses the public API only)"
