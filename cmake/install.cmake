# Install rules for what a user puts on PATH (component tools; the stub core
# library is component dev, in stub/CMakeLists.txt), and the tests that check
# the installed tree, the man pages and the version.
#
#   bin/rspbridge, bin/rspstub
#   share/man/man1/rspbridge.1.gz, rspstub.1.gz
#   share/rspbridge/rspbridge.py          (the GDB helper, once gdb/ has it)
#   share/doc/rspbridge/README.md, CHANGELOG.md, LICENSE

# The man pages carry the project version (doc/*.1.in, @PROJECT_VERSION@) and
# are installed gzipped (-n: no name or time stamp, reproducible), as Debian
# policy asks and man(1) reads everywhere.
find_program(RSP_GZIP gzip REQUIRED)
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
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT tools)

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
