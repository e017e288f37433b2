# Install rules for what a user puts on PATH (component tools; the stub core
# library is component dev, in stub/CMakeLists.txt), and the tests that check
# the installed tree, the man pages and the version.
#
#   bin/rspbridge, bin/rspstub
#   share/man/man1/rspbridge.1, rspstub.1
#   share/rspbridge/rspbridge.py          (the GDB helper, once gdb/ has it)
#   share/doc/rspbridge/README.md, CHANGELOG.md, LICENSE

# The man pages carry the project version (doc/*.1.in, @PROJECT_VERSION@).
foreach(prog rspbridge rspstub)
  if(TARGET ${prog})
    configure_file(${PROJECT_SOURCE_DIR}/doc/${prog}.1.in ${PROJECT_BINARY_DIR}/doc/${prog}.1 @ONLY)
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
    install(FILES ${PROJECT_BINARY_DIR}/doc/${prog}.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
            COMPONENT tools)
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
    foreach(prog rspbridge rspstub)
      if(TARGET ${prog})
        rsp_add_script_test(man_${prog}
                            COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/doc/check_man.py
                                    $<TARGET_FILE:${prog}> ${PROJECT_BINARY_DIR}/doc/${prog}.1
                                    ${PROJECT_VERSION} ${PROJECT_SOURCE_DIR}/CHANGELOG.md
                            LABEL unit TIMEOUT 30)
      endif()
    endforeach()
  endif()
endif()
