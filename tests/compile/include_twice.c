/* include_twice.c - the header included for its declarations, then again with
 * VMSPACE_IMPLEMENTATION in the same translation unit, as a single-file program would do. */
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#include "vmspace_owner.h"
#endif

/* Compiled against the declarations alone. */
static int translate_or_zero(const vms_space_t *sp, uint64_t va, uint64_t *pa) {
    *pa = 0;
    return vms_translate(sp, va, pa) ? 1 : 0;
}

#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif
/* A third inclusion must change nothing either. */
#include "vmspace.h"

#include "exercise.h"

int main(void) {
    vms_space_t sp;
    uint64_t pa;
    int failures = vms_ex_run("include_twice");

    /* The function compiled before the implementation sees the same tables. */
    if (vms_space_init(&sp, NULL) != VMS_OK) return 1;
    if (vms_space_map(&sp, 0x1000, 0x5000, 0x1000, VMS_R, 0) != VMS_OK) failures++;
    if (!translate_or_zero(&sp, 0x1abc, &pa) || pa != 0x5abc) failures++;
    if (translate_or_zero(&sp, 0x2000, &pa)) failures++;
    if (vms_space_destroy(&sp) != VMS_OK) failures++;
    return failures == 0 ? 0 : 1;
}
