# Build one compile-matrix target, then run it. A compile error or a non-zero exit fails the test.
#   cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DCONFIG=<config> -DEXE=<file> -P build_and_run.cmake
foreach(var BUILD_DIR TARGET EXE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "build_and_run.cmake: ${var} is not set")
    endif()
endforeach()

set(config_args "")
if(CONFIG)
    set(config_args --config "${CONFIG}")
endif()

execute_process(
    COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
    RESULT_VARIABLE build_result)
if(NOT build_result EQUAL 0)
    message(FATAL_ERROR "${TARGET}: build failed (${build_result})")
endif()

execute_process(COMMAND "${EXE}" RESULT_VARIABLE run_result)
if(NOT run_result EQUAL 0)
    message(FATAL_ERROR "${TARGET}: the program failed (${run_result})")
endif()
message(STATUS "${TARGET}: built and ran")
