#!/usr/bin/env bash
# Counts the instructions of malloc's and free's fast paths with
# valgrind --tool=callgrind: the exclusive cost of each function in two runs
# of fastpath_bench (N1 and N2 pairs), divided by the difference in calls.
#
#   count.sh BENCH [PRELOAD.so] [SIZE]     prints "malloc N" and "free N"
set -euo pipefail
bench=$1
preload=${2:-}
size=${3:-32}
n1=200000
n2=400000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
  local n=$1 out=$tmp/cg.$1
  if [ -n "$preload" ]; then
    LD_PRELOAD=$preload valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$n" "$size" >/dev/null 2>&1
  else
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" "$n" "$size" >/dev/null 2>&1
  fi
  callgrind_annotate --threshold=100 "$out" 2>/dev/null
}
cost() {  # exclusive Ir of function $2 in annotate output $1
  awk -v fn="$2" '
    { line=$0; sub(/^[ \t]+/, "", line); split(line, f, /[ \t]+/)
      if (f[1] !~ /^[0-9,]+$/) next
      name=line; sub(/^[0-9,]+[ \t]+(\([^)]*\)[ \t]+)?/, "", name)
      sub(/ \[.*$/, "", name); n=split(name, parts, ":"); sym=parts[n]
      if (sym == fn) { gsub(",", "", f[1]); s += f[1] } }
    END { print s+0 }' <<<"$1"
}
a=$(run $n1)
b=$(run $n2)
for fn in malloc free; do
  c1=$(cost "$a" $fn)
  c2=$(cost "$b" $fn)
  echo "$fn $(( (c2 - c1 + (n2 - n1) / 2) / (n2 - n1) ))"
done
