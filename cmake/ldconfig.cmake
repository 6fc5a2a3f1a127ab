# Run at install time (install(CODE) in CMakeLists.txt): refreshes the
# dynamic loader's cache after libgomem.so.0 was installed into a library
# directory the loader searches by default, as a Debian package's ldconfig
# trigger does, so that `cc prog.c -lgomem` programs start without a manual
# `ldconfig`. Only for a root install into /usr or /usr/local: not into a
# staging DESTDIR (a package build; the package's trigger runs it), and not
# into other prefixes, which ld.so does not search (gomem.pc's rpath serves
# those). GOMEM_LDCONFIG names the command (tests give a stand-in).
if(NOT GOMEM_LDCONFIG)
  set(GOMEM_LDCONFIG ldconfig)
endif()
if("$ENV{DESTDIR}" STREQUAL "" AND CMAKE_INSTALL_PREFIX MATCHES "^/usr(/local)?/*$")
  execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(uid STREQUAL "0")
    message(STATUS "Running ${GOMEM_LDCONFIG} (libgomem.so.0 in ${CMAKE_INSTALL_PREFIX})")
    execute_process(COMMAND ${GOMEM_LDCONFIG} RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(WARNING "${GOMEM_LDCONFIG} failed (${rc}): run it by hand")
    endif()
  endif()
endif()
