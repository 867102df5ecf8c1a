/* The library's implementation for bench_threads, in its own translation unit. */
#define VMSPACE_IMPLEMENTATION
#include "vmspace_owner.h"
