# Check VMS_NODISCARD with one compiler and language (see nodiscard.c): the dropped result must
# fail to compile, the used one must compile; where VOID_OK is set, so must a (void) cast.
#   cmake -DCC=<compiler> -DSRC=<file> -DINCLUDE_DIR=<dir> -DOUT=<file.o> [-DFLAGS=<flags>]
#         [-DVOID_OK=1] -P nodiscard.cmake
foreach(var CC SRC INCLUDE_DIR OUT)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "nodiscard.cmake: ${var} is not set")
    endif()
endforeach()
separate_arguments(flags UNIX_COMMAND "${FLAGS}")

function(try_cc expect what)
    execute_process(
        COMMAND "${CC}" ${flags} -Wall -Wextra -Werror "-I${INCLUDE_DIR}" ${ARGN}
                -c "${SRC}" -o "${OUT}"
        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(expect STREQUAL "ok" AND NOT rc EQUAL 0)
        message(FATAL_ERROR "nodiscard: ${what} did not compile:\n${err}")
    elseif(expect STREQUAL "fail" AND rc EQUAL 0)
        message(FATAL_ERROR "nodiscard: ${what} compiled without a warning")
    endif()
endfunction()

try_cc(ok "a used result")
try_cc(fail "a dropped result" -DVMS_TEST_DROP)
if(VOID_OK)
    try_cc(ok "a result cast to void" -DVMS_TEST_VOID)
endif()
message(STATUS "nodiscard: ${CC} ${FLAGS} as expected")
