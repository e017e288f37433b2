# Helpers shared by every module's CMakeLists.txt.
#
#   rsp_add_test(NAME SOURCES a.c b.c LIBS x y [LABEL unit] [TIMEOUT 60])
#     A cmocka test program registered as its own CTest test.
#   rsp_add_fuzz(NAME SOURCE f.c LIBS x [CORPUS dir])
#     A libFuzzer target, built and registered (label "fuzz") only with
#     RSP_FUZZ=ON; it runs for RSP_FUZZ_SECONDS over its seed corpus (the
#     environment variable of that name, if set, wins at ctest time).
#   rsp_add_script_test(NAME COMMAND ... [LABEL qemu] [TIMEOUT 300])
#     A test driven by a script (end-to-end tests).
#
# Tests signal "skipped" with exit code 77.  RSP_NO_SKIP=1 in the environment
# (set by .ci/run) makes every test treat a missing prerequisite as a failure.

function(rsp_add_test name)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
                                          SKIP_RETURN_CODE 77)
endfunction()

function(rsp_add_fuzz name)
  cmake_parse_arguments(F "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  if(NOT RSP_FUZZ)
    return()
  endif()
  add_executable(${name} ${F_SOURCE})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}.corpus)
  file(MAKE_DIRECTORY ${work})
  set(seeds)
  if(F_CORPUS)
    set(seeds ${CMAKE_CURRENT_SOURCE_DIR}/${F_CORPUS})
  endif()
  # The committed seeds are read-only input; new inputs go to the build tree.
  # RSP_FUZZ_SECONDS in the environment overrides the configured length at
  # ctest time (nightly runs); as CTest's TIMEOUT cannot follow it, timeout(1)
  # is the hang guard instead (no semicolons: CTest would split the script).
  set(run "s=\${RSP_FUZZ_SECONDS:-${RSP_FUZZ_SECONDS}}
if ! test \"$s\" -gt 0 2>/dev/null
then echo \"RSP_FUZZ_SECONDS=$s: a number of seconds above 0 expected\" >&2
exit 2
fi
exec timeout -k 10 $((s + 60)) \"$0\" -max_total_time=$s \"$@\"")
  add_test(NAME ${name}
           COMMAND sh -c "${run}" $<TARGET_FILE:${name}> -timeout=10 -rss_limit_mb=2048
                   -print_final_stats=1 ${work} ${seeds})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 0)
endfunction()

function(rsp_add_script_test name)
  cmake_parse_arguments(S "" "LABEL;TIMEOUT" "COMMAND" ${ARGN})
  if(NOT S_LABEL)
    set(S_LABEL qemu)
  endif()
  if(NOT S_TIMEOUT)
    set(S_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${S_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS ${S_LABEL} TIMEOUT ${S_TIMEOUT}
                                          SKIP_RETURN_CODE 77)
endfunction()
