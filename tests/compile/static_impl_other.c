/* static_impl_other.c - the normal implementation, linked with static_impl.c's private copy. */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif

#include "exercise.h"

#include "static_impl.h"

int main(void) {
    vms_space_t sp;
    int failures = 0;

    failures += vms_ex_run("extern copy");
    failures += vms_test_static_run();

    /* Two copies, two functions. */
    if (vms_test_static_map_fn() == vms_space_map) {
        fprintf(stderr, "static_impl: the static copy's vms_space_map is the extern one\n");
        failures++;
    }

    /* Activation state lives in each copy: the extern copy must not see the static one's. */
    if (vms_test_static_activate(&sp, 0) != VMS_OK) {
        fprintf(stderr, "static_impl: activation in the static copy failed\n");
        return 1;
    }
    if (!vms_test_static_is_current(&sp, 0)) {
        fprintf(stderr, "static_impl: the static copy lost its current space\n");
        failures++;
    }
    if (vms_cpu_current(0) != NULL) {
        fprintf(stderr, "static_impl: the extern copy sees the static copy's current space\n");
        failures++;
    }
    if (vms_test_static_release(&sp, 0) != VMS_OK) {
        fprintf(stderr, "static_impl: release in the static copy failed\n");
        failures++;
    }
    return failures == 0 ? 0 : 1;
}
