#!/usr/bin/env bash
# Counts, with valgrind --tool=callgrind, what disappearing links cost on
# gomem's libgc.so.1 (links_bench.c: N keys with a link each in Guile-like
# pointer-free holders): the instructions of one
# GC_general_register_disappearing_link call, and of one collection per
# link (GC_gcollect's inclusive cost, six collections, as the difference of
# two runs of N1 and N2 links, divided by 6 (N2 - N1); one marker thread,
# so that the count is the whole collection's); and the futex wake
# calls per thousand links cleared (each is cleared by a finalizer of the
# layer's: a finalizer that returns must not cost a system call). Fails when a count goes above its limit in
# links_instructions.txt (hardened_NAME in a GOMEM_HARDENED build); lower the limit in the commit that makes a count
# smaller.
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
# Inclusive Ir of function $2 in callgrind output $1 (the largest line, if
# a function is listed twice).
inclusive() {
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk -v fn="$2" '
    { line=$0; sub(/^[ \t]+/, "", line); split(line, f, /[ \t]+/)
      if (f[1] !~ /^[0-9,]+$/) next
      name=line; sub(/^[0-9,]+[ \t]+(\([^)]*\)[ \t]+)?/, "", name)
      sub(/ \[.*$/, "", name); n=split(name, parts, ":"); sym=parts[n]
      if (sym == fn) { gsub(",", "", f[1]); if (f[1] + 0 > s) s = f[1] + 0 } }
    END { print s+0 }'
}
# From a directory without the sources: where callgrind_annotate finds
# them, it lists functions under two names and drops callers from its tree.
cd "$tmp"
for n in $n1 $n2; do
  GOMEM_GC_MARKERS=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$n" "$tmp/bench" $n >/dev/null 2>&1
done
r1=$(inclusive "$tmp/cg.$n1" GC_general_register_disappearing_link)
r2=$(inclusive "$tmp/cg.$n2" GC_general_register_disappearing_link)
c1=$(inclusive "$tmp/cg.$n1" GC_gcollect)
c2=$(inclusive "$tmp/cg.$n2" GC_gcollect)
register=$(( (r2 - r1) / (n2 - n1) ))
cycle=$(( (c2 - c1) / (6 * (n2 - n1)) ))
echo "register_link $register"
echo "collection_per_link $cycle"
# Calls of gomem's futex_wake (a system call each) in the N2 run, summed
# over its callers (the largest of a duplicated listing).
wakes=$(callgrind_annotate --tree=caller --threshold=100 "$tmp/cg.$n2" 2>/dev/null | awk '
  /^[ \t]*$/ { s = 0; next }
  /  < / { if (match($0, /\(([0-9,]+)x\)/)) { c = substr($0, RSTART + 1, RLENGTH - 3); gsub(",", "", c); s += c } next }
  /  \*  / { if ($0 ~ /os::futex_wake/ && s > m) m = s; s = 0 }
  END { print m + 0 }')
futex=$(( wakes * 1000 / (n2 / 2) ))
echo "futex_wake_per_1000_cleared $futex"
# A hardened build (checked free lists) is held to its own hardened_NAME
# limits where the file gives one.
hardened=0
grep -q '^GOMEM_HARDENED:BOOL=ON' "$build/CMakeCache.txt" && hardened=1
failed=0
while read -r name limit; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ $hardened = 1 ]; then
    case "$name" in
      hardened_*) name=${name#hardened_} ;;
      *) if grep -q "^hardened_$name " "$src/links_instructions.txt"; then continue; fi ;;
    esac
  else
    case "$name" in hardened_*) continue ;; esac
  fi
  case "$name" in
    register_link) value=$register ;;
    collection_per_link) value=$cycle ;;
    *) value=$futex ;;
  esac
  if [ "$value" -gt "$limit" ]; then
    echo "$name: $value, above the limit $limit"
    failed=1
  fi
done <"$src/links_instructions.txt"
exit $failed
