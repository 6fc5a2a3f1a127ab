#!/usr/bin/env bash
# Real Debian programs built for Boehm GC, unmodified, under
# `gomem run --libgc`: w3m -dump of a large generated page must print what it
# prints on bdwgc, mmv must rename thousands of files as it does on bdwgc,
# and guile must print what it prints on bdwgc for a script of lists, hash
# tables and weak tables. Skipped (with a message) when the packages are not installed
# (scripts/deps installs them).
#   programs.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
gomem=$build/gomem
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ran=0

if command -v w3m >/dev/null; then
  python3 "$src/gen_html.py" "$tmp/big.html"
  w3m -dump "$tmp/big.html" >"$tmp/bdwgc.txt"
  "$gomem" run --libgc -- w3m -dump "$tmp/big.html" >"$tmp/gomem.txt"
  [ -s "$tmp/bdwgc.txt" ] || { echo "w3m printed nothing"; exit 1; }
  cmp "$tmp/bdwgc.txt" "$tmp/gomem.txt" || { echo "w3m -dump differs on gomem"; exit 1; }
  echo "w3m -dump: same output on gomem ($(wc -l <"$tmp/gomem.txt") lines)"
  ran=1
else
  echo "w3m not installed: skipped"
fi

if command -v mmv >/dev/null; then
  for d in bdwgc gomem; do
    mkdir "$tmp/$d"
    (cd "$tmp/$d" && seq 1 5000 | sed 's/^/file_/; s/$/.txt/' | xargs touch)
  done
  (cd "$tmp/bdwgc" && mmv -m '*.txt' '#1.dat')
  (cd "$tmp/gomem" && "$gomem" run --libgc -- mmv -m '*.txt' '#1.dat')
  diff <(ls "$tmp/bdwgc") <(ls "$tmp/gomem") || { echo "mmv renamed differently on gomem"; exit 1; }
  [ "$(ls "$tmp/gomem" | grep -c '\.dat$')" -eq 5000 ] || { echo "mmv did not rename 5000 files"; exit 1; }
  echo "mmv: 5000 files renamed as on bdwgc"
  ran=1
else
  echo "mmv not installed: skipped"
fi
if command -v guile >/dev/null; then
  # Guile uses bdwgc's internals: custom kinds, mark procedures (its VM
  # stacks), disappearing links, finalizers on demand.
  ROUNDS=8 guile --no-auto-compile "$src/lists.scm" >"$tmp/guile.bdwgc"
  ROUNDS=8 "$gomem" run --libgc -- guile --no-auto-compile "$src/lists.scm" >"$tmp/guile.gomem"
  cmp "$tmp/guile.bdwgc" "$tmp/guile.gomem" || { echo "guile printed something else on gomem"; exit 1; }
  echo "guile: lists, hash tables and weak tables, same output on gomem"
  ran=1
else
  echo "guile not installed: skipped"
fi
[ $ran -eq 1 ] || echo "no program ran"
