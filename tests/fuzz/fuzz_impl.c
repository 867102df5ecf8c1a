/* The library's implementation for fuzz_vmspace, in a translation unit of its own.
 *
 * tools/fuzz.sh and CMakeLists.txt build it with edge coverage but without comparison
 * tracing (-fno-sanitize-coverage=trace-cmp): the library compares addresses and table
 * entries that the harness derives from the input through lookup tables, so libFuzzer could
 * not splice those values back into an input, and tracing every compare of every table walk
 * cost about half of the run time. The harness keeps its tracing (its decoder compares input
 * bytes). Both units must agree on VMSPACE_DEBUG (the lease slot layout depends on it). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
