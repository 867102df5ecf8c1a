# Compile tests/compile/nostdlib.c with -ffreestanding and VMSPACE_NO_STDLIB to an object file,
# then check its undefined symbols: a freestanding build may call only the four functions that
# GCC and Clang may emit on their own (memcpy, memmove, memset, memcmp). It must also define the
# library's functions, or the check would pass on an empty object.
#   cmake -DCC=<compiler> -DNM=<nm> -DSRC=<file> -DINCLUDE_DIR=<dir> -DOUT=<file.o>
#         [-DEXTRA=<flags>] -P freestanding.cmake
foreach(var CC SRC INCLUDE_DIR OUT)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "freestanding.cmake: ${var} is not set")
    endif()
endforeach()
if(NOT NM)
    find_program(NM nm)
endif()

separate_arguments(extra_flags UNIX_COMMAND "${EXTRA}")
execute_process(
    COMMAND "${CC}" -std=c11 -ffreestanding -DVMSPACE_NO_STDLIB
            -pedantic -Wall -Wextra -Werror -Wconversion -Wstrict-prototypes
            ${extra_flags} "-I${INCLUDE_DIR}" -c "${SRC}" -o "${OUT}"
    RESULT_VARIABLE cc_result)
if(NOT cc_result EQUAL 0)
    message(FATAL_ERROR "freestanding compile failed (${cc_result})")
endif()

execute_process(COMMAND "${NM}" -u "${OUT}" OUTPUT_VARIABLE undefined RESULT_VARIABLE nm_result)
if(NOT nm_result EQUAL 0)
    message(FATAL_ERROR "nm -u failed (${nm_result})")
endif()
string(REGEX MATCHALL "[A-Za-z_][A-Za-z0-9_.@]*\n" symbols "${undefined}")
set(bad "")
foreach(sym IN LISTS symbols)
    string(STRIP "${sym}" sym)
    if(NOT sym MATCHES "^(memcpy|memmove|memset|memcmp)$")
        list(APPEND bad "${sym}")
    endif()
endforeach()
if(bad)
    message(FATAL_ERROR "freestanding object needs symbols from outside: ${bad}")
endif()

execute_process(COMMAND "${NM}" --defined-only "${OUT}" OUTPUT_VARIABLE defined)
foreach(sym vms_space_init vms_space_map vms_space_unmap vms_space_destroy)
    if(NOT defined MATCHES " T ${sym}\n")
        message(FATAL_ERROR "freestanding object does not define ${sym}")
    endif()
endforeach()
message(STATUS "freestanding object is self-contained")
