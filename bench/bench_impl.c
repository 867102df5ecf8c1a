/* bench_impl.c - the library's implementation, alone in its translation unit with the
 * benchmark's flags, as a user builds it. */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#if VMS_BENCH_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif
