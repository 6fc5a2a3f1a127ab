# Run by cpack (CPACK_PRE_BUILD_SCRIPTS, cmake/package.cmake) after it has
# installed each component into its staging directory and before it builds
# the .debs, to finish what install() rules cannot say per package:
# - src/compat/boehm installs Boehm GC's API as one piece (the libraries,
#   their -lgc links and its headers) into the runtime component; the
#   headers and the unversioned .so links belong in libgomem-dev, so they
#   move there (a Debian -dev package owns what only a compiler reads);
# - manual pages are gzipped, as Debian's man expects them;
# - every package gets /usr/share/doc/<package>/copyright (the LICENSE).
set(top "${CPACK_TEMPORARY_DIRECTORY}")
set(runtime "${top}/runtime${CPACK_PACKAGING_INSTALL_PREFIX}")
set(dev "${top}/dev${CPACK_PACKAGING_INSTALL_PREFIX}")
if(NOT IS_DIRECTORY "${runtime}" OR NOT IS_DIRECTORY "${dev}")
  message(FATAL_ERROR "gomem prebuild: no staging directories under ${top}")
endif()
file(GLOB_RECURSE moved RELATIVE "${runtime}" LIST_DIRECTORIES false "${runtime}/include/*" "${runtime}/*.so")
foreach(f IN LISTS moved)
  get_filename_component(dir "${dev}/${f}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  file(RENAME "${runtime}/${f}" "${dev}/${f}")
endforeach()
if(IS_DIRECTORY "${runtime}/include")
  file(REMOVE_RECURSE "${runtime}/include")
endif()
foreach(comp IN ITEMS runtime dev tools)
  string(TOUPPER ${comp} COMP)
  set(root "${top}/${comp}${CPACK_PACKAGING_INSTALL_PREFIX}")
  file(GLOB_RECURSE pages "${root}/share/man/*.[1-9]")
  foreach(page IN LISTS pages)
    execute_process(COMMAND gzip -9n "${page}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "gomem prebuild: gzip ${page} failed")
    endif()
  endforeach()
  set(doc "${root}/share/doc/${CPACK_DEBIAN_${COMP}_PACKAGE_NAME}")
  file(MAKE_DIRECTORY "${doc}")
  file(COPY_FILE "${CPACK_GOMEM_LICENSE_FILE}" "${doc}/copyright")
endforeach()
