#!/usr/bin/env bash
# Counts, with valgrind --tool=callgrind, what disappearing links cost on
# gomem's libgc.so.1 (links_bench.c: N keys with a link each in Guile-like
# pointer-free holders): the instructions of one
# GC_general_register_disappearing_link call, and of one collection per
# link (GC_gcollect's inclusive cost, six collections, as the difference of
# two runs of N1 and N2 links, divided by 6 (N2 - N1)). Fails when a count
# goes above its limit in links_instructions.txt; lower the limit in the
# commit that makes a count smaller.
#   count_links.sh BUILD_DIR
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not installed: skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
gcdir=$(ls -d "$prefix"/lib*/gomem-gc | head -1)
cc -O1 -g -I"$prefix/include/gomem-gc" "$src/links_bench.c" -o "$tmp/bench" -L"$gcdir" -Wl,-rpath,"$gcdir" -lgc
n1=20000
n2=60000
# Inclusive Ir of function $2 in callgrind output $1. callgrind_annotate
# may list a function twice (under the source path as compiled and as
# installed), with the same cost: the largest line is taken, not the sum.
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk -v fn="$2" '
    { line=$0; sub(/^[ \t]+/, "", line); split(line, f, /[ \t]+/)
      if (f[1] !~ /^[0-9,]+$/) next
      name=line; sub(/^[0-9,]+[ \t]+(\([^)]*\)[ \t]+)?/, "", name)
      sub(/ \[.*$/, "", name); n=split(name, parts, ":"); sym=parts[n]
      if (sym == fn) { gsub(",", "", f[1]); if (f[1] + 0 > s) s = f[1] + 0 } }
    END { print s+0 }'
}
for n in $n1 $n2; do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" "$tmp/bench" $n >/dev/null 2>&1
done
r1=$(inclusive "$tmp/cg.$n1" GC_general_register_disappearing_link)
r2=$(inclusive "$tmp/cg.$n2" GC_general_register_disappearing_link)
c1=$(inclusive "$tmp/cg.$n1" GC_gcollect)
c2=$(inclusive "$tmp/cg.$n2" GC_gcollect)
register=$(( (r2 - r1) / (n2 - n1) ))
cycle=$(( (c2 - c1) / (6 * (n2 - n1)) ))
echo "register_link $register"
echo "collection_per_link $cycle"
failed=0
while read -r name limit; do
  case "$name" in ''|'#'*) continue ;; esac
  value=$([ "$name" = register_link ] && echo $register || echo $cycle)
  if [ "$value" -gt "$limit" ]; then
    echo "$name: $value instructions, above the limit $limit"
    failed=1
  fi
done <"$src/links_instructions.txt"
exit $failed
