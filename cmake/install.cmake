# Install rules for what a user puts on PATH (component tools; the stub core
# library is component dev, in stub/CMakeLists.txt), and the tests that check
# the installed tree, the man pages and the version.
#
#   bin/rspbridge, bin/rspstub
#   share/man/man1/rspbridge.1.gz, rspstub.1.gz
#   share/rspbridge/rspbridge.py          (the GDB helper, once gdb/ has it)
#   share/doc/rspbridge/README.md, CHANGELOG.md.gz, changelog.gz, copyright
#   share/doc/librspstub-core-dev/changelog.gz, copyright (component dev)

find_program(RSP_GZIP gzip REQUIRED)

# The man pages carry the project version (doc/*.1.in, @PROJECT_VERSION@) and
# are installed gzipped (-n: no name or time stamp, reproducible), as Debian
# policy asks and man(1) reads everywhere.
foreach(prog rspbridge rspstub)
  if(TARGET ${prog})
    set(page ${PROJECT_BINARY_DIR}/doc/${prog}.1)
    configure_file(${PROJECT_SOURCE_DIR}/doc/${prog}.1.in ${page} @ONLY)
    add_custom_command(OUTPUT ${page}.gz COMMAND ${RSP_GZIP} -9nf -k ${page} DEPENDS ${page}
                       COMMENT "Compressing ${prog}.1")
    add_custom_target(man_${prog}_gz ALL DEPENDS ${page}.gz)
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
    install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tools)
  endif()
endforeach()
if(EXISTS ${PROJECT_SOURCE_DIR}/gdb/rspbridge.py)
  install(FILES ${PROJECT_SOURCE_DIR}/gdb/rspbridge.py
          DESTINATION ${CMAKE_INSTALL_DATADIR}/rspbridge COMPONENT tools)
endif()
# Each package's doc directory has the license as "copyright" and a Debian
# changelog (changelog.gz, which points to CHANGELOG.md.gz), the names Debian
# policy asks for; the date is the last commit's, so a rebuild of the same
# tree gives the same file.
set(RSP_DEB_MAINTAINER "the rspbridge authors <rspbridge@invalid>"
    CACHE STRING "Maintainer of the Debian packages (their control files and changelog)")
set(RSP_DEB_DATE "Thu, 01 Jan 1970 00:00:00 +0000")
find_package(Git QUIET)
if(Git_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%aD WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE rsp_git_date OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rsp_git_date)
    set(RSP_DEB_DATE "${rsp_git_date}")
  endif()
endif()
configure_file(${PROJECT_SOURCE_DIR}/packaging/changelog.Debian.in ${PROJECT_BINARY_DIR}/doc/changelog
               @ONLY)
set(rsp_docs ${PROJECT_BINARY_DIR}/doc/changelog.gz ${PROJECT_BINARY_DIR}/doc/CHANGELOG.md.gz)
add_custom_command(OUTPUT ${rsp_docs}
                   COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/CHANGELOG.md
                           ${PROJECT_BINARY_DIR}/doc/CHANGELOG.md
                   COMMAND ${RSP_GZIP} -9nkf ${PROJECT_BINARY_DIR}/doc/CHANGELOG.md
                           ${PROJECT_BINARY_DIR}/doc/changelog
                   DEPENDS ${PROJECT_SOURCE_DIR}/CHANGELOG.md ${PROJECT_BINARY_DIR}/doc/changelog
                   COMMENT "Compressing the changelogs")
add_custom_target(changelogs_gz ALL DEPENDS ${rsp_docs})
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${rsp_docs}
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT tools)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME copyright COMPONENT tools)
set(rsp_dev_doc ${CMAKE_INSTALL_DATAROOTDIR}/doc/librspstub-core-dev)
install(FILES ${PROJECT_BINARY_DIR}/doc/changelog.gz DESTINATION ${rsp_dev_doc} COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${rsp_dev_doc} RENAME copyright
        COMPONENT dev)

# Tests.  The install test links a plain program against the installed
# archive, so it only makes sense in a tree built without sanitizers or
# libFuzzer instrumentation.
if(BUILD_TESTING)
  find_package(Python3 COMPONENTS Interpreter)
  if(TARGET rspbridge AND TARGET rspstub AND NOT RSP_SANITIZE AND NOT RSP_FUZZ)
    rsp_add_script_test(install_tree
                        COMMAND sh ${PROJECT_SOURCE_DIR}/packaging/test-install.sh
                                ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER} ${PROJECT_VERSION}
                        LABEL install TIMEOUT 120)
  endif()
  if(Python3_Interpreter_FOUND)
    set(rspbridge_more ${PROJECT_SOURCE_DIR}/bridge/service/commands.c)
    set(rspstub_more)
    foreach(prog rspbridge rspstub)
      if(TARGET ${prog})
        rsp_add_script_test(man_${prog}
                            COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/doc/check_man.py
                                    $<TARGET_FILE:${prog}> ${PROJECT_BINARY_DIR}/doc/${prog}.1
                                    ${PROJECT_VERSION} ${PROJECT_SOURCE_DIR}/CHANGELOG.md
                                    ${${prog}_more}
                            LABEL unit TIMEOUT 30)
      endif()
    endforeach()
  endif()
endif()
