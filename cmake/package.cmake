# Debian packages: `cpack -G DEB` in the build directory (scripts/package-test
# builds, installs, uses and removes them). Three, as Debian splits a library:
#
#   libgomem0     the shared libraries: libgomem.so.0, and Boehm GC's API on
#                 gomem (libgc.so.1, libgccpp.so.1, libgctba.so.1) in the
#                 private directory <libdir>/gomem-gc, as `cmake --install`
#                 puts them: Debian's libgc1 owns those names in <libdir>, and
#                 a program moves to gomem's only when asked (gomem run
#                 --libgc). An ldconfig trigger (cmake/deb/triggers); CPack
#                 adds a postinst and postrm that run ldconfig too.
#   libgomem-dev  headers (gomem/, gomem-gc/), libgomem.so, libgomem.a,
#                 gomem.pc and the CMake package; depends on libgomem0 of
#                 the same version.
#   gomem-tools   the gomem command and its manual page; depends on libgomem0
#                 of the same version (the command preloads libgomem.so.0).
#
# Configure for Debian's layout first: -DCMAKE_INSTALL_PREFIX=/usr (the
# multiarch libdir, lib/x86_64-linux-gnu) and -DGOMEM_PC_RPATH=OFF (no
# rpath to a directory the loader searches anyway). The install() rules name
# the components (runtime, dev, tools); cmake/deb/prebuild.cmake moves what
# src/compat/boehm installs as one piece to the right package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gomem)
set(CPACK_PACKAGE_VENDOR "The gomem authors")
set(CPACK_PACKAGE_CONTACT "The gomem authors <gomem@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files (dpkg-shlibdeps), and between the packages.
# Each package's first description line is its summary.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_INSTALL_FULL_LIBDIR}/gomem-gc)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# No shlibs file: CPack would list the private gomem-gc libraries in it too.
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_COMPONENT_TOOLS_DEPENDS runtime)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libgomem0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/deb/triggers)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "Go's memory manager for C and C++: shared libraries\nlibgomem.so.0: a malloc for any program (LD_PRELOAD) and a collected heap\nwith Go's mark-sweep garbage collector; libgc.so.1 with Boehm GC's API on\ngomem's collector, in a private directory.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libgomem-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "Go's memory manager for C and C++: development files\nHeaders, libgomem.so, the static libgomem.a, gomem.pc for pkg-config and\nthe CMake package (find_package(gomem)).")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME gomem-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
    "Go's memory manager for C and C++: the gomem command\ngomem run [OPTIONS] -- CMD runs any program on gomem's malloc, with\nstatistics, gctrace lines and heap profiles.")

set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/deb/prebuild.cmake)
# Read by prebuild.cmake (cpack passes its scripts the CPACK_ variables).
set(CPACK_GOMEM_LICENSE_FILE ${PROJECT_SOURCE_DIR}/LICENSE)
include(CPack)
