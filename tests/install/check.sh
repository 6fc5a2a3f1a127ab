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
for f in "$lib" "$prefix/include/gomem/gomem.h" "$prefix/include/gomem/gomem.hpp" "$prefix/bin/gomem" \
  "$prefix/share/man/man1/gomem.1"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
libdir=$(dirname "$lib")
[ -e "$libdir/pkgconfig/gomem.pc" ] || { echo "missing gomem.pc"; exit 1; }
[ -e "$libdir/cmake/gomem/gomemConfig.cmake" ] || { echo "missing gomemConfig.cmake"; exit 1; }
# CMake package.
cmake -S "$src/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
ninja -C "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH=$libdir "$tmp/consumer/consumer"
# pkg-config: the program starts as built, without LD_LIBRARY_PATH or
# ldconfig (gomem.pc's rpath), from any directory.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs gomem)
c++ -std=c++20 "$src/consumer/consumer.cc" -o "$tmp/pc_consumer" $flags
(cd / && env -u LD_LIBRARY_PATH "$tmp/pc_consumer") || { echo "pkg-config consumer does not start"; exit 1; }
# ldconfig at install (cmake/ldconfig.cmake), with a stand-in: run for a
# root install into /usr/local, not into a staging DESTDIR nor another prefix.
printf '#!/bin/sh\ntouch "%s/ran"\n' "$tmp" >"$tmp/ldconfig" && chmod +x "$tmp/ldconfig"
ldconfig_ran() {  # ldconfig_ran PREFIX [DESTDIR]
  rm -f "$tmp/ran"
  DESTDIR=${2-} cmake -DCMAKE_INSTALL_PREFIX="$1" -DGOMEM_LDCONFIG="$tmp/ldconfig" -P "$src/../../cmake/ldconfig.cmake" >/dev/null
  [ -e "$tmp/ran" ]
}
if [ "$(id -u)" -eq 0 ]; then
  ldconfig_ran /usr/local || { echo "no ldconfig after a root install into /usr/local"; exit 1; }
fi
! ldconfig_ran /usr/local "$tmp/stage" || { echo "ldconfig ran for a DESTDIR install"; exit 1; }
! ldconfig_ran "$prefix" || { echo "ldconfig ran for a private prefix"; exit 1; }
# The gomem command finds the installed library next to itself.
out=$("$prefix/bin/gomem" run --stats -- /usr/bin/python3 -c 'print("hello")' 2>&1)
echo "$out" | grep -q hello || { echo "gomem run did not run the program"; exit 1; }
echo "$out" | grep -q "gomem statistics" || { echo "gomem run --stats printed no statistics"; exit 1; }
# Its manual page: `man gomem` with MANPATH, the same text as --help.
if command -v man >/dev/null; then
  MANPATH=$prefix/share/man man gomem 2>/dev/null | grep -q "GOMEM_STATS" || { echo "man gomem: no manual"; exit 1; }
fi
echo "install layout, find_package, pkg-config, gomem run and its manual: ok"
