# Tests of vmspace, included from the top-level CMakeLists.txt when VMSPACE_BUILD_TESTS is on.
#
# Conventions (files are picked up by name, so adding a test needs no CMake edit):
#   tests/test_*.c       one Criterion executable each, named after the file, registered with
#                        add_test, linked with tests/impl.c and tests/support/*.c.
#   tests/impl.c         the one translation unit that defines the implementation macros.
#   tests/support/*.c    shared helpers (fake allocator, fake hooks, log capture).
#   tests/compile/       the compile matrix: every inclusion mode and configuration.
#   tests/fuzz/          added with add_subdirectory when it has a CMakeLists.txt (clang only).
#   README.md            its example block is compiled with plain `cc` and run.
list(APPEND CMAKE_MODULE_PATH "${PROJECT_SOURCE_DIR}/cmake")
find_package(Criterion REQUIRED)
find_package(xxHash REQUIRED)

set(VMSPACE_TESTS_DIR "${PROJECT_SOURCE_DIR}/tests")

# ---------------------------------------------------------------------------------------------
# Criterion tests.

# impl.c and the support files are compiled once and linked into every test executable. An
# OBJECT library keeps every object, so support files may hold Criterion hooks of their own.
file(GLOB VMSPACE_TEST_SUPPORT_SOURCES CONFIGURE_DEPENDS
    "${VMSPACE_TESTS_DIR}/impl.c"
    "${VMSPACE_TESTS_DIR}/support/*.c")
list(SORT VMSPACE_TEST_SUPPORT_SOURCES)
if(VMSPACE_TEST_SUPPORT_SOURCES)
    add_library(vmspace_test_support OBJECT ${VMSPACE_TEST_SUPPORT_SOURCES})
    vmspace_test_target(vmspace_test_support)
    target_include_directories(vmspace_test_support PUBLIC "${VMSPACE_TESTS_DIR}")
    target_link_libraries(vmspace_test_support PUBLIC
        vmspace::vmspace Criterion::Criterion xxHash::xxHash)
endif()

file(GLOB VMSPACE_TEST_SOURCES CONFIGURE_DEPENDS "${VMSPACE_TESTS_DIR}/test_*.c")
list(SORT VMSPACE_TEST_SOURCES)
foreach(_vms_src IN LISTS VMSPACE_TEST_SOURCES)
    get_filename_component(_vms_name "${_vms_src}" NAME_WE)
    add_executable(${_vms_name} "${_vms_src}")
    vmspace_test_target(${_vms_name})
    target_include_directories(${_vms_name} PRIVATE "${VMSPACE_TESTS_DIR}")
    if(TARGET vmspace_test_support)
        target_link_libraries(${_vms_name} PRIVATE vmspace_test_support)
    endif()
    target_link_libraries(${_vms_name} PRIVATE Criterion::Criterion xxHash::xxHash)
    add_test(NAME ${_vms_name} COMMAND ${_vms_name})
    set_tests_properties(${_vms_name} PROPERTIES LABELS "unit" TIMEOUT 600)
endforeach()

# The threads test: pthreads, and the stock reclaim hook over liburcu (its memb flavour).
if(TARGET test_threads)
    find_package(Threads REQUIRED)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(URCU_MEMB REQUIRED IMPORTED_TARGET liburcu-memb)
    target_link_libraries(test_threads PRIVATE Threads::Threads PkgConfig::URCU_MEMB)
endif()

# The share test's concurrent members run on pthreads; without them it builds its other tests.
if(TARGET test_share)
    find_package(Threads)
    if(Threads_FOUND)
        target_link_libraries(test_share PRIVATE Threads::Threads)
    else()
        target_compile_definitions(test_share PRIVATE VT_SHARE_NO_PTHREADS=1)
    endif()
endif()

# The randomized tests again at -O3 and without sanitizers, library included: gcc's aggressive
# loop optimisations once dropped iterations of a B-tree shift loop (bounding it by the wrong
# array), which neither -O0 nor a sanitized build shows.
set(VMSPACE_O3_FLAGS -O3 -fno-sanitize=all)
if(TARGET vmspace_test_support)
    add_library(vmspace_test_support_O3 OBJECT ${VMSPACE_TEST_SUPPORT_SOURCES})
    vmspace_test_target(vmspace_test_support_O3)
    target_compile_options(vmspace_test_support_O3 PRIVATE ${VMSPACE_O3_FLAGS})
    target_include_directories(vmspace_test_support_O3 PUBLIC "${VMSPACE_TESTS_DIR}")
    target_link_libraries(vmspace_test_support_O3 PUBLIC
        vmspace::vmspace Criterion::Criterion xxHash::xxHash)
    foreach(_vms_name test_diff test_range_tree test_owner_diff test_swtlb)
        if(NOT EXISTS "${VMSPACE_TESTS_DIR}/${_vms_name}.c")
            continue()
        endif()
        add_executable(${_vms_name}_O3 "${VMSPACE_TESTS_DIR}/${_vms_name}.c")
        vmspace_test_target(${_vms_name}_O3)
        target_compile_options(${_vms_name}_O3 PRIVATE ${VMSPACE_O3_FLAGS})
        target_link_options(${_vms_name}_O3 PRIVATE -fno-sanitize=all)
        target_link_libraries(${_vms_name}_O3 PRIVATE vmspace_test_support_O3)
        add_test(NAME ${_vms_name}_O3 COMMAND ${_vms_name}_O3)
        set_tests_properties(${_vms_name}_O3 PROPERTIES LABELS "unit" TIMEOUT 600)
    endforeach()
endif()

# The range-tree tests again with the narrower 4-line (256-byte) nodes, so that both node
# sizes keep their splits, merges and maxima right (every unit must agree on the size).
if(TARGET vmspace_test_support)
    add_library(vmspace_test_support_n4 OBJECT ${VMSPACE_TEST_SUPPORT_SOURCES})
    vmspace_test_target(vmspace_test_support_n4)
    target_compile_definitions(vmspace_test_support_n4 PUBLIC VMSPACE_ITREE_NODE_LINES=4)
    target_include_directories(vmspace_test_support_n4 PUBLIC "${VMSPACE_TESTS_DIR}")
    target_link_libraries(vmspace_test_support_n4 PUBLIC
        vmspace::vmspace Criterion::Criterion xxHash::xxHash)
    foreach(_vms_name test_range_tree test_owner_diff)
        if(NOT EXISTS "${VMSPACE_TESTS_DIR}/${_vms_name}.c")
            continue()
        endif()
        add_executable(${_vms_name}_n4 "${VMSPACE_TESTS_DIR}/${_vms_name}.c")
        vmspace_test_target(${_vms_name}_n4)
        target_link_libraries(${_vms_name}_n4 PRIVATE vmspace_test_support_n4)
        add_test(NAME ${_vms_name}_n4 COMMAND ${_vms_name}_n4)
        set_tests_properties(${_vms_name}_n4 PROPERTIES LABELS "unit" TIMEOUT 600)
    endforeach()
endif()

# ---------------------------------------------------------------------------------------------
# Compile matrix. These targets stay out of `all`: each test builds its own target and then runs
# it, so one configuration that fails to compile is one failing test, not a broken build.

set(VMSPACE_COMPILE_DIR "${VMSPACE_TESTS_DIR}/compile")
# Extra warnings for the compile matrix, on top of vmspace_strict_target.
set(VMSPACE_COMPILE_WARNINGS
    -Wconversion $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes>)

# vmspace_compile_test(<name> SOURCES <files...> [DEFINITIONS <defs...>] [NO_DEBUG])
function(vmspace_compile_test name)
    cmake_parse_arguments(ARG "NO_DEBUG" "" "SOURCES;DEFINITIONS" ${ARGN})
    set(target "compile_${name}")
    add_executable(${target} EXCLUDE_FROM_ALL ${ARG_SOURCES})
    if(ARG_NO_DEBUG)
        vmspace_strict_target(${target})
        target_link_libraries(${target} PRIVATE vmspace::vmspace)
        if(VMSPACE_HAVE_OWNER)
            target_compile_definitions(${target} PRIVATE VMSPACE_TEST_HAVE_OWNER=1)
        endif()
    else()
        vmspace_test_target(${target})
    endif()
    # The owner's debug build hashes with xxHash (header only, inlined).
    target_link_libraries(${target} PRIVATE xxHash::xxHash)
    target_compile_options(${target} PRIVATE ${VMSPACE_COMPILE_WARNINGS})
    target_compile_definitions(${target} PRIVATE ${ARG_DEFINITIONS})
    add_test(NAME ${target}
        COMMAND "${CMAKE_COMMAND}"
            "-DBUILD_DIR=${PROJECT_BINARY_DIR}"
            "-DTARGET=${target}"
            "-DCONFIG=$<CONFIG>"
            "-DEXE=$<TARGET_FILE:${target}>"
            -P "${VMSPACE_COMPILE_DIR}/build_and_run.cmake")
    # Two builds must never run in one build tree at the same time.
    set_tests_properties(${target} PROPERTIES
        LABELS "compile" RESOURCE_LOCK vmspace_build_tree TIMEOUT 600)
endfunction()

vmspace_compile_test(include_twice SOURCES "${VMSPACE_COMPILE_DIR}/include_twice.c")
vmspace_compile_test(static_impl SOURCES
    "${VMSPACE_COMPILE_DIR}/static_impl.c"
    "${VMSPACE_COMPILE_DIR}/static_impl_other.c")
vmspace_compile_test(cxx_include SOURCES "${VMSPACE_COMPILE_DIR}/cxx_include.cc")
# The exercise program at both ends of the optimiser: -O0 with the debug checks, -O3 without.
vmspace_compile_test(opt_O0 NO_DEBUG SOURCES "${VMSPACE_COMPILE_DIR}/debug_levels.c"
    DEFINITIONS VMSPACE_DEBUG=1)
target_compile_options(compile_opt_O0 PRIVATE -O0)
vmspace_compile_test(opt_O3 NO_DEBUG SOURCES "${VMSPACE_COMPILE_DIR}/debug_levels.c"
    DEFINITIONS VMSPACE_DEBUG=0)
target_compile_options(compile_opt_O3 PRIVATE -O3)
foreach(_vms_level 0 1 2 3)
    vmspace_compile_test(debug_level_${_vms_level} NO_DEBUG
        SOURCES "${VMSPACE_COMPILE_DIR}/debug_levels.c"
        DEFINITIONS VMSPACE_DEBUG=${_vms_level})
endforeach()

# Freestanding: compile with -ffreestanding and VMSPACE_NO_STDLIB to an object file and check
# that it needs nothing from a C library beyond what a freestanding compiler may call.
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    set(_vms_fs_defs "")
    if(VMSPACE_HAVE_OWNER)
        set(_vms_fs_defs "-DVMSPACE_TEST_HAVE_OWNER=1")
    endif()
    add_test(NAME compile_freestanding
        COMMAND "${CMAKE_COMMAND}"
            "-DCC=${CMAKE_C_COMPILER}"
            "-DNM=${CMAKE_NM}"
            "-DSRC=${VMSPACE_COMPILE_DIR}/nostdlib.c"
            "-DINCLUDE_DIR=${PROJECT_SOURCE_DIR}"
            "-DOUT=${PROJECT_BINARY_DIR}/compile_freestanding.o"
            "-DEXTRA=${_vms_fs_defs}"
            -P "${VMSPACE_COMPILE_DIR}/freestanding.cmake")
    set_tests_properties(compile_freestanding PROPERTIES LABELS "compile" TIMEOUT 300)
endif()

# VMS_NODISCARD: on by default where a (void) cast silences it (clang, C++17), opt-in under
# gcc's C (whose attribute ignores the cast).
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    if(CMAKE_C_COMPILER_ID MATCHES "Clang")
        set(_vms_nd_flags "-std=c11")
        set(_vms_nd_void 1)
    else()
        set(_vms_nd_flags "-std=c11 -DVMSPACE_NODISCARD=1")
        set(_vms_nd_void 0)
    endif()
    add_test(NAME compile_nodiscard
        COMMAND "${CMAKE_COMMAND}"
            "-DCC=${CMAKE_C_COMPILER}"
            "-DSRC=${VMSPACE_COMPILE_DIR}/nodiscard.c"
            "-DINCLUDE_DIR=${PROJECT_SOURCE_DIR}"
            "-DOUT=${PROJECT_BINARY_DIR}/compile_nodiscard.o"
            "-DFLAGS=${_vms_nd_flags}"
            "-DVOID_OK=${_vms_nd_void}"
            -P "${VMSPACE_COMPILE_DIR}/nodiscard.cmake")
    set_tests_properties(compile_nodiscard PROPERTIES LABELS "compile" TIMEOUT 300)
    find_program(VMSPACE_CXX_FOR_TESTS NAMES c++ g++ clang++)
    if(VMSPACE_CXX_FOR_TESTS)
        add_test(NAME compile_nodiscard_cxx17
            COMMAND "${CMAKE_COMMAND}"
                "-DCC=${VMSPACE_CXX_FOR_TESTS}"
                "-DSRC=${VMSPACE_COMPILE_DIR}/nodiscard.c"
                "-DINCLUDE_DIR=${PROJECT_SOURCE_DIR}"
                "-DOUT=${PROJECT_BINARY_DIR}/compile_nodiscard_cxx.o"
                "-DFLAGS=-x c++ -std=c++17"
                "-DVOID_OK=1"
                -P "${VMSPACE_COMPILE_DIR}/nodiscard.cmake")
        set_tests_properties(compile_nodiscard_cxx17 PROPERTIES LABELS "compile" TIMEOUT 300)
    endif()
endif()

# ---------------------------------------------------------------------------------------------
# The README example, built with plain `cc -I<repo> example.c -o example` as a user would.

add_test(NAME readme_example
    COMMAND "${CMAKE_COMMAND}"
        "-DREADME=${PROJECT_SOURCE_DIR}/README.md"
        "-DREPO=${PROJECT_SOURCE_DIR}"
        "-DWORK_DIR=${PROJECT_BINARY_DIR}/readme_example"
        -P "${VMSPACE_TESTS_DIR}/readme_example/extract_and_run.cmake")
set_tests_properties(readme_example PROPERTIES LABELS "readme" TIMEOUT 300)
add_test(NAME readme_example_dirty_tracking
    COMMAND "${CMAKE_COMMAND}"
        "-DREADME=${PROJECT_SOURCE_DIR}/README.md"
        "-DREPO=${PROJECT_SOURCE_DIR}"
        "-DWORK_DIR=${PROJECT_BINARY_DIR}/readme_example_dirty_tracking"
        "-DNAME=dirty-tracking"
        -P "${VMSPACE_TESTS_DIR}/readme_example/extract_and_run.cmake")
set_tests_properties(readme_example_dirty_tracking PROPERTIES LABELS "readme" TIMEOUT 300)
add_test(NAME readme_example_fork_cow
    COMMAND "${CMAKE_COMMAND}"
        "-DREADME=${PROJECT_SOURCE_DIR}/README.md"
        "-DREPO=${PROJECT_SOURCE_DIR}"
        "-DWORK_DIR=${PROJECT_BINARY_DIR}/readme_example_fork_cow"
        "-DNAME=fork-cow"
        -P "${VMSPACE_TESTS_DIR}/readme_example/extract_and_run.cmake")
set_tests_properties(readme_example_fork_cow PROPERTIES LABELS "readme" TIMEOUT 300)

# ---------------------------------------------------------------------------------------------
# Fuzz targets (their CMakeLists.txt decides what they build and register).

if(VMSPACE_BUILD_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang"
   AND EXISTS "${VMSPACE_TESTS_DIR}/fuzz/CMakeLists.txt")
    add_subdirectory("${VMSPACE_TESTS_DIR}/fuzz" "${PROJECT_BINARY_DIR}/tests/fuzz")
endif()
