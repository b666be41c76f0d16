#!/usr/bin/env bash
# Fails when the project refers to the team's shared directory beside the
# checkout (the parent directory's shared/, or its testdata/). A plain clone
# must build and pass its tests alone: the vectors the tests read are in
# test/data/. Prints each offending file and line, then exits 1; exits 0 when
# there is none. This script names the patterns, so it skips itself.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The third pattern catches the same path built with meson's / operator.
patterns=(-e "../shared" -e "shared/testdata" -e "'shared' / ")

paths=()
for p in test scripts bench .ci examples tools lib include meson.build \
         meson_options.txt; do
  [ -e "$p" ] && paths+=("$p")
done

# -I skips binary files (fuzz corpora); node_modules is the test servers'
# installed packages, not ours.
if hits="$(grep -rnIF --exclude-dir=node_modules \
             --exclude=check-no-shared.sh "${patterns[@]}" "${paths[@]}")"; then
  printf '%s\n' "$hits" | sed 's/^/check-no-shared: /' >&2
  echo "check-no-shared: the lines above refer to a directory outside the" \
    "checkout; a plain clone has none (use test/data/)" >&2
  exit 1
fi
echo "check-no-shared: ok (nothing refers outside the checkout)"
