# Cross build for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu; the
# tests run under qemu-user (qemu-aarch64, package qemu-user), which ctest and
# gtest_discover_tests call through CMAKE_CROSSCOMPILING_EMULATOR.
#
#   cmake -S . -B build-arm64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# GoogleTest is built from Debian's sources (/usr/src/googletest, package
# libgtest-dev) with the cross compiler: see GOMEM_GTEST_SOURCE in
# tests/CMakeLists.txt.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(GOMEM_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${GOMEM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${GOMEM_CROSS_TRIPLE}-g++)
set(CMAKE_FIND_ROOT_PATH /usr/${GOMEM_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# -L: the target's loader and libraries (Debian's libc6-arm64-cross).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${GOMEM_CROSS_TRIPLE})
