# Extract one of the README's examples (the ```c block right after the line `<!-- example -->`,
# or `<!-- example: NAME -->` with -DNAME=NAME), build it exactly as a user would, with
# `cc -I<repo> example.c -o example`, and run it. The test fails if the block is missing, does
# not compile, or exits non-zero.
#   cmake -DREADME=<README.md> -DREPO=<repo root> -DWORK_DIR=<dir> [-DNAME=<name>]
#         -P extract_and_run.cmake
foreach(var README REPO WORK_DIR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "extract_and_run.cmake: ${var} is not set")
    endif()
endforeach()

# Whole-text string operations: C code is full of semicolons, which CMake lists would split.
file(READ "${README}" text)
string(PREPEND text "\n")
if(DEFINED NAME AND NOT NAME STREQUAL "")
    set(marker "\n<!-- example: ${NAME} -->\n")
else()
    set(marker "\n<!-- example -->\n")
endif()
string(FIND "${text}" "${marker}" at)
if(at EQUAL -1)
    message(FATAL_ERROR "README: no line `${marker}`")
endif()
string(LENGTH "${marker}" marker_len)
math(EXPR at "${at} + ${marker_len}")
string(SUBSTRING "${text}" ${at} -1 rest)
string(STRIP "${rest}" rest)
set(fence "```c\n")
string(FIND "${rest}" "${fence}" fence_at)
if(NOT fence_at EQUAL 0)
    message(FATAL_ERROR "README: `${marker}` is not followed by a ```c block")
endif()
string(LENGTH "${fence}" fence_len)
string(SUBSTRING "${rest}" ${fence_len} -1 rest)
string(FIND "${rest}" "\n```" close_at)
if(close_at EQUAL -1)
    message(FATAL_ERROR "README: the example block is not closed")
endif()
math(EXPR code_len "${close_at} + 1")
string(SUBSTRING "${rest}" 0 ${code_len} code)

file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/example.c" "${code}")

find_program(USER_CC cc)
if(NOT USER_CC)
    message(FATAL_ERROR "no `cc` on PATH")
endif()
execute_process(
    COMMAND "${USER_CC}" "-I${REPO}" example.c -o example
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE cc_result)
if(NOT cc_result EQUAL 0)
    message(FATAL_ERROR "README example: `cc -I<repo> example.c -o example` failed")
endif()
execute_process(
    COMMAND "${WORK_DIR}/example"
    WORKING_DIRECTORY "${WORK_DIR}"
    RESULT_VARIABLE run_result)
if(NOT run_result EQUAL 0)
    message(FATAL_ERROR "README example exited with ${run_result}")
endif()
message(STATUS "README example: built with plain cc and ran")
