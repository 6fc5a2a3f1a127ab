#!/usr/bin/env bash
# The Boehm GC layer as a user gets it: installs gomem into a temporary
# prefix, compiles each group's test (test_*.c, test_cpp.cc) against the
# installed headers (include/gomem-gc) and links it with -lgc from
# lib/gomem-gc, then runs it. Then the soname switch: a program built against
# Debian's bdwgc runs on gomem under `gomem run --libgc`, unchanged.
#   check.sh BUILD_DIR [test_name...]
set -euo pipefail
build=$1
shift
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
gcdir=$(ls -d "$prefix"/lib*/gomem-gc | head -1)
inc=$prefix/include/gomem-gc
for f in "$gcdir/libgc.so.1" "$gcdir/libgc.so" "$inc/gc.h" "$inc/gc/gc.h" "$inc/gc_cpp.h" "$inc/gc/gc_cpp.h" \
         "$inc/gc_allocator.h" "$inc/gc/gc_allocator.h" "$inc/gc/gc_mark.h" "$inc/gc/gc_typed.h" "$inc/gc/gc_inline.h"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
soname=$(readelf -d "$gcdir/libgc.so.1" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libgc.so.1 ] || { echo "soname is '$soname', not libgc.so.1"; exit 1; }

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test_alloc test_warn test_threads test_finalize test_links test_control test_stats test_typed test_kinds test_cpp)
fi
flags=(-O1 -g -Wall -Wextra -Wno-unused-parameter -I"$inc" -L"$gcdir" -Wl,-rpath,"$gcdir")
failed=0
for t in "${tests[@]}"; do
  if [ -e "$src/$t.cc" ]; then
    c++ -std=c++17 "${flags[@]}" "$src/$t.cc" -o "$tmp/$t" -lgc -lpthread
  else
    cc -std=gnu11 "${flags[@]}" "$src/$t.c" -o "$tmp/$t" -lgc -lpthread
  fi
  # Linked with -lgc from the install tree: the loader must pick gomem's.
  ldd "$tmp/$t" >"$tmp/ldd.txt"
  grep -q "libgc.so.1 => $gcdir/libgc.so.1" "$tmp/ldd.txt" || { echo "$t: not linked with $gcdir/libgc.so.1"; exit 1; }
  if ! timeout 300 "$tmp/$t"; then
    echo "FAILED: $t"
    failed=1
  fi
done

# The switch: a binary linked with Debian's libgc.so.1 runs on gomem's.
if [ -e /usr/include/gc.h ] && [ -e /usr/lib/x86_64-linux-gnu/libgc.so ] || [ -e /usr/lib/libgc.so ]; then
  cc -O1 "$src/switch.c" -o "$tmp/switch" -lgc
  [ "$("$tmp/switch")" = "bdwgc alive" ] || { echo "switch: not on bdwgc without gomem"; exit 1; }
  out=$("$prefix/bin/gomem" run --libgc -- "$tmp/switch")
  [ "$out" = "gomem alive" ] || { echo "switch: gomem run --libgc gave '$out'"; exit 1; }
fi
[ $failed -eq 0 ] || exit 1
echo "Boehm GC layer: installed headers, -lgc, every group and the soname switch: ok"
