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
    vms_space_t sp, other;
    vms_space_desc_t d;
    vms_machine_t m1, m2;
    int failures = 0;

    failures += vms_ex_run("extern copy");
    failures += vms_test_static_run();

    /* Two copies, two functions. */
    if (vms_test_static_map_fn() == vms_space_map) {
        fprintf(stderr, "static_impl: the static copy's vms_space_map is the extern one\n");
        failures++;
    }

    /* Two machines, one per copy: each copy's space is current on CPU 0 of its own. */
    vms_machine_init(&m1);
    vms_machine_init(&m2);
    memset(&d, 0, sizeof d);
    d.machine = &m2;
    if (vms_test_static_activate(&sp, &m1, 0) != VMS_OK || vms_space_init(&other, &d) != VMS_OK ||
        vms_space_activate(&other, 0) != VMS_OK) {
        fprintf(stderr, "static_impl: activation failed\n");
        return 1;
    }
    if (!vms_test_static_is_current(&m1, &sp, 0) || vms_machine_current(&m2, 0) != &other) {
        fprintf(stderr, "static_impl: a copy lost its current space\n");
        failures++;
    }
    if (vms_machine_current(&m1, 0) != &sp || !vms_test_static_is_current(&m2, &other, 0)) {
        fprintf(stderr, "static_impl: the copies read a machine differently\n");
        failures++;
    }
    if (vms_test_static_release(&sp, 0) != VMS_OK || vms_space_deactivate(&other, 0) != VMS_OK ||
        vms_space_destroy(&other) != VMS_OK) {
        fprintf(stderr, "static_impl: release failed\n");
        failures++;
    }
    return failures == 0 ? 0 : 1;
}
