#!/usr/bin/env bash
# The Boehm GC layer as a user gets it: installs gomem into a temporary
# prefix, compiles each group's test (test_*.c, test_cpp.cc) against the
# installed headers (include/gomem-gc) and links it with -lgc from
# lib/gomem-gc (test_gccpp: -lgccpp -lgc), then runs it. Then the soname
# switch: programs built against Debian's bdwgc (C, and C++ with libgccpp)
# run on gomem under `gomem run --libgc`, unchanged.
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
for f in "$gcdir/libgc.so.1" "$gcdir/libgc.so" "$gcdir/libgccpp.so.1" "$gcdir/libgccpp.so" "$gcdir/libgctba.so.1" "$inc/gc.h" "$inc/gc/gc.h" "$inc/gc_cpp.h" "$inc/gc/gc_cpp.h" \
         "$inc/gc_allocator.h" "$inc/gc/gc_allocator.h" "$inc/gc/gc_mark.h" "$inc/gc/gc_typed.h" "$inc/gc/gc_inline.h" "$inc/gc/gc_gcj.h" "$inc/gc/javaxfc.h"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
for lib in libgc.so.1 libgccpp.so.1 libgctba.so.1; do
  soname=$(readelf -d "$gcdir/$lib" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [ "$soname" = $lib ] || { echo "soname is '$soname', not $lib"; exit 1; }
done

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test_alloc test_warn test_threads test_finalize test_links test_control test_stats test_typed test_kinds test_cpp test_gccpp test_toggleref test_gcj)
fi
flags=(-O1 -g -Wall -Wextra -Wno-unused-parameter -I"$inc" -L"$gcdir" -Wl,-rpath,"$gcdir")
failed=0
for t in "${tests[@]}"; do
  if [ "$t" = test_gccpp ]; then
    c++ -std=c++17 "${flags[@]}" "$src/$t.cc" -o "$tmp/$t" -lgccpp -lgc -lpthread
    # gc_cpp.h's configurations compile too.
    c++ -std=c++17 "${flags[@]}" -DGC_NAMESPACE -DGC_NEW_ABORTS_ON_OOM -c "$src/$t.cc" -o "$tmp/$t.ns.o"
    c++ -std=c++17 "${flags[@]}" -fno-exceptions -DGC_NAME_CONFLICT -c "$src/test_cpp.cc" -o "$tmp/$t.noexc.o"
  elif [ -e "$src/$t.cc" ]; then
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
  # A C++ program built against bdwgc's gc_cpp.h, linked with Debian's
  # -lgccpp -lgc: passes on bdwgc, then on gomem's libgccpp and libgc.
  if [ -e /usr/include/gc/gc_cpp.h ] && { [ -e /usr/lib/x86_64-linux-gnu/libgccpp.so ] || [ -e /usr/lib/libgccpp.so ]; }; then
    c++ -std=c++17 -O1 -g "$src/test_gccpp.cc" -o "$tmp/gccpp_bdwgc" -lgccpp -lgc -lpthread
    timeout 300 "$tmp/gccpp_bdwgc" >/dev/null || { echo "test_gccpp fails on bdwgc itself"; exit 1; }
    LD_DEBUG=libs "$prefix/bin/gomem" run --libgc -- "$tmp/gccpp_bdwgc" 2>"$tmp/ld.txt" >/dev/null ||
      { echo "switch: test_gccpp built for bdwgc fails on gomem"; exit 1; }
    grep -q "calling init: $gcdir/libgccpp.so.1" "$tmp/ld.txt" || { echo "switch: gomem's libgccpp.so.1 not loaded"; exit 1; }
  fi
fi
[ $failed -eq 0 ] || exit 1
echo "Boehm GC layer: installed headers, -lgc, every group and the soname switch: ok"
