/* static_impl.c - a private copy of the implementation (VMSPACE_STATIC), linked beside
 * static_impl_other.c, which holds the normal one. The link proves there is no symbol clash;
 * the program proves the two copies are separate and keep no state of their own: each
 * activates on the machine it is given. */
#define VMSPACE_STATIC
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_STATIC
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif

#include "exercise.h"

#include "static_impl.h"

int vms_test_static_run(void) { return vms_ex_run("static copy"); }

vms_test_map_fn vms_test_static_map_fn(void) { return vms_space_map; }

int vms_test_static_activate(vms_space_t *sp, vms_machine_t *m, int cpu) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.machine = m;
    if (vms_space_init(sp, &d) != VMS_OK) return -1;
    return vms_space_activate(sp, cpu);
}

int vms_test_static_is_current(const vms_machine_t *m, const vms_space_t *sp, int cpu) {
    return vms_machine_current(m, cpu) == sp;
}

int vms_test_static_release(vms_space_t *sp, int cpu) {
    int rc = vms_space_deactivate(sp, cpu);
    if (rc != VMS_OK) return rc;
    return vms_space_destroy(sp);
}
