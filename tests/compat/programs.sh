#!/usr/bin/env bash
# Real Debian programs built for Boehm GC, unmodified, under
# `gomem run --libgc`: w3m -dump of a large generated page must print what it
# prints on bdwgc, and mmv must rename thousands of files as it does on
# bdwgc. Skipped (with a message) when the packages are not installed
# (scripts/deps installs them).
#   programs.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
gomem=$build/gomem
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ran=0

if command -v w3m >/dev/null; then
  python3 - "$tmp/big.html" <<'PY'
import random, sys
random.seed(1)
words = ['alpha', 'beta', '<b>gamma</b>', 'delta', '<i>eps</i>', 'zeta']
with open(sys.argv[1], 'w') as f:
    f.write('<html><body>\n')
    for i in range(3000):
        f.write('<h2>Section %d</h2><p>%s</p>\n' % (i, ' '.join(random.choice(words) for _ in range(60))))
        if i % 10 == 0:
            f.write('<table border=1>' + ''.join('<tr>' + ''.join('<td>%d</td>' % (i * j + k) for k in range(8)) + '</tr>' for j in range(5)) + '</table>\n')
            f.write('<ul>' + ''.join('<li><a href="x%d.html">link %d</a></li>' % (j, j) for j in range(10)) + '</ul>\n')
    f.write('</body></html>\n')
PY
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
[ $ran -eq 1 ] || echo "no program ran"
