#!/usr/bin/env bash
# Debian programs built for Boehm GC, on bdwgc (Debian's libgc1) and on gomem
# (gomem run --libgc), one run each, side by side: wall time, peak RSS,
# collections and the longest pause. The machine may be shared: read the
# figures as rough ratios, never as absolute times.
#   libgc_programs.sh BUILD_DIR
# Collections and pauses: bdwgc's GC_PRINT_STATS ("Complete collection
# took", its collections stop the world throughout), gomem's gctrace lines
# (stop + mark + termination, all inside the stop today).
set -euo pipefail
build=$(cd "$1" && pwd)
gomem=$build/gomem
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$here/../../tests/compat/gen_html.py" "$tmp/big.html"
cp "$here/../../tests/compat/lists.scm" "$tmp/lists.scm"

# run NAME DIR CMD...: one line of figures for bdwgc and one for gomem.
run() {
  local name=$1 dir=$2
  shift 2
  for gc in bdwgc gomem; do
    local pre=()
    [ $gc = gomem ] && pre=("$gomem" run --libgc --)
    [ -n "$dir" ] && { rm -rf "$tmp/$dir"; mkdir "$tmp/$dir"; (cd "$tmp/$dir" && seq 1 5000 | sed 's/^/f_/; s/$/.txt/' | xargs touch); }
    (cd "$tmp/${dir:-.}" && GC_PRINT_STATS=1 GODEBUG=gctrace=1 /usr/bin/time -f "TIME %e %M" "${pre[@]}" "$@" \
       >"$tmp/out.$gc" 2>"$tmp/err.$gc")
    python3 - "$name" "$gc" "$tmp/err.$gc" <<'PY'
import re, sys
name, gc, path = sys.argv[1:4]
text = open(path, errors='replace').read()
t, rss = re.findall(r'TIME ([\d.]+) (\d+)', text)[-1]
if gc == 'bdwgc':
    p = [int(a) + int(b) / 1e6 for a, b in re.findall(r'Complete collection took (\d+) ms (\d+) ns', text)]
else:
    p = [float(a) + float(b) + float(c) for a, b, c in re.findall(r'^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock', text, re.M)]
print(f'{name:8} {gc:6} {float(t):7.2f} s {int(rss) / 1024:8.1f} MiB {len(p):6} GCs  max pause {max(p) if p else 0:7.2f} ms')
PY
  done
  cmp -s "$tmp/out.bdwgc" "$tmp/out.gomem" || echo "$name: output differs"
}

command -v w3m >/dev/null && run w3m "" w3m -dump "$tmp/big.html"
command -v mmv >/dev/null && run mmv mmv mmv -m '*.txt' '#1.dat'
command -v guile >/dev/null && run guile "" guile --no-auto-compile "$tmp/lists.scm"
