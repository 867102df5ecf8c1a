# FindCriterion: the Criterion unit-test framework.
#
# Tries pkg-config first, then a plain header and library search. Defines:
#     Criterion_FOUND, Criterion_VERSION (when pkg-config knows it)
#     Criterion::Criterion   an INTERFACE IMPORTED target to link test executables with
include(FindPackageHandleStandardArgs)

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_Criterion QUIET IMPORTED_TARGET criterion)
endif()

if(PC_Criterion_FOUND)
    set(Criterion_VERSION "${PC_Criterion_VERSION}")
    set(Criterion_LIBRARY "PkgConfig::PC_Criterion")
    find_package_handle_standard_args(Criterion
        REQUIRED_VARS Criterion_LIBRARY
        VERSION_VAR Criterion_VERSION)
    if(Criterion_FOUND AND NOT TARGET Criterion::Criterion)
        add_library(Criterion::Criterion INTERFACE IMPORTED)
        target_link_libraries(Criterion::Criterion INTERFACE PkgConfig::PC_Criterion)
    endif()
else()
    find_path(Criterion_INCLUDE_DIR criterion/criterion.h)
    find_library(Criterion_LIBRARY NAMES criterion)
    find_package_handle_standard_args(Criterion
        REQUIRED_VARS Criterion_LIBRARY Criterion_INCLUDE_DIR)
    if(Criterion_FOUND AND NOT TARGET Criterion::Criterion)
        add_library(Criterion::Criterion INTERFACE IMPORTED)
        target_include_directories(Criterion::Criterion INTERFACE "${Criterion_INCLUDE_DIR}")
        target_link_libraries(Criterion::Criterion INTERFACE "${Criterion_LIBRARY}")
    endif()
    mark_as_advanced(Criterion_INCLUDE_DIR Criterion_LIBRARY)
endif()
