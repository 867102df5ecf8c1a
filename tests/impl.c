/* The one translation unit that holds the library's out-of-line definitions for the tests. */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#if defined(__has_include)
#if __has_include("vmspace_owner.h")
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif
#endif
