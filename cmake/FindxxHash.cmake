# FindxxHash: the xxHash library (libxxhash).
#
# Tries pkg-config first, then a plain header and library search. Defines:
#     xxHash_FOUND, xxHash_VERSION (when pkg-config knows it)
#     xxHash::xxHash   an INTERFACE IMPORTED target (include directory and library)
include(FindPackageHandleStandardArgs)

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
    pkg_check_modules(PC_xxHash QUIET IMPORTED_TARGET libxxhash)
endif()

if(PC_xxHash_FOUND)
    set(xxHash_VERSION "${PC_xxHash_VERSION}")
    set(xxHash_LIBRARY "PkgConfig::PC_xxHash")
    find_package_handle_standard_args(xxHash
        REQUIRED_VARS xxHash_LIBRARY
        VERSION_VAR xxHash_VERSION)
    if(xxHash_FOUND AND NOT TARGET xxHash::xxHash)
        add_library(xxHash::xxHash INTERFACE IMPORTED)
        target_link_libraries(xxHash::xxHash INTERFACE PkgConfig::PC_xxHash)
    endif()
else()
    find_path(xxHash_INCLUDE_DIR xxhash.h)
    find_library(xxHash_LIBRARY NAMES xxhash)
    find_package_handle_standard_args(xxHash
        REQUIRED_VARS xxHash_LIBRARY xxHash_INCLUDE_DIR)
    if(xxHash_FOUND AND NOT TARGET xxHash::xxHash)
        add_library(xxHash::xxHash INTERFACE IMPORTED)
        target_include_directories(xxHash::xxHash INTERFACE "${xxHash_INCLUDE_DIR}")
        target_link_libraries(xxHash::xxHash INTERFACE "${xxHash_LIBRARY}")
    endif()
    mark_as_advanced(xxHash_INCLUDE_DIR xxHash_LIBRARY)
endif()
