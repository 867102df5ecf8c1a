/* static_impl.h - what static_impl.c (the VMSPACE_STATIC copy) offers to the other file. */
#ifndef VMS_TEST_STATIC_IMPL_H
#define VMS_TEST_STATIC_IMPL_H

typedef int (*vms_test_map_fn)(vms_space_t *, uint64_t, uint64_t, uint64_t, vms_prop_t,
                               uint32_t);

/* The exercise, run against the static copy. @return the failures. */
int vms_test_static_run(void);
/* The static copy's vms_space_map. */
vms_test_map_fn vms_test_static_map_fn(void);
/* Init sp on machine m and activate it on cpu with the static copy. */
int vms_test_static_activate(vms_space_t *sp, vms_machine_t *m, int cpu);
/* Whether the static copy sees sp current on cpu of m. */
int vms_test_static_is_current(const vms_machine_t *m, const vms_space_t *sp, int cpu);
/* Deactivate and destroy sp with the static copy. */
int vms_test_static_release(vms_space_t *sp, int cpu);

#endif
