#!/usr/bin/env bash
# Installs gomem into a temporary prefix and checks what a user gets:
# lib/libgomem.so, the headers, gomem.pc (pkg-config) and the CMake package
# (find_package(gomem), target gomem::gomem), and the gomem command.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(ls -d "$prefix"/lib*/libgomem.so 2>/dev/null | head -1)
for f in "$lib" "$prefix/include/gomem/gomem.h" "$prefix/include/gomem/gomem.hpp" "$prefix/bin/gomem"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
libdir=$(dirname "$lib")
[ -e "$libdir/pkgconfig/gomem.pc" ] || { echo "missing gomem.pc"; exit 1; }
[ -e "$libdir/cmake/gomem/gomemConfig.cmake" ] || { echo "missing gomemConfig.cmake"; exit 1; }
# CMake package.
cmake -S "$src/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH=$libdir "$tmp/consumer/consumer"
# pkg-config.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs gomem)
c++ -std=c++20 "$src/consumer/consumer.cc" -o "$tmp/pc_consumer" $flags
LD_LIBRARY_PATH=$libdir "$tmp/pc_consumer"
# The gomem command finds the installed library next to itself.
out=$("$prefix/bin/gomem" run --stats -- /usr/bin/python3 -c 'print("hello")' 2>&1)
echo "$out" | grep -q hello || { echo "gomem run did not run the program"; exit 1; }
echo "$out" | grep -q "gomem statistics" || { echo "gomem run --stats printed no statistics"; exit 1; }
echo "install layout, find_package, pkg-config and gomem run: ok"
