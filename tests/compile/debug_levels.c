/* debug_levels.c - the implementation built at one VMSPACE_DEBUG level (the build passes
 * -DVMSPACE_DEBUG=0, 1, 2 or 3); every level must compile cleanly and give the same answers. */
#ifndef VMSPACE_DEBUG
#error "build this file with -DVMSPACE_DEBUG=<level>"
#endif

#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif

#include "exercise.h"

#define VMS_EX_STR2(x) #x
#define VMS_EX_STR(x) VMS_EX_STR2(x)

int main(void) {
    int failures = vms_ex_run("debug level " VMS_EX_STR(VMSPACE_DEBUG));
    return failures == 0 ? 0 : 1;
}
