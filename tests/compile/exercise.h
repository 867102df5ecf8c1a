/* exercise.h - the work every compile-matrix program does once the header is included.
 *
 * Include it after vmspace.h. It maps a 2 MiB range, translates inside and outside it, queries
 * the mapping, unmaps it and destroys the space; when vmspace_owner.h is there, it also takes,
 * uses and releases leases. Every step compares the library's answer with a value computed
 * here, so a broken build of the implementation fails the program. */
#ifndef VMS_COMPILE_EXERCISE_H
#define VMS_COMPILE_EXERCISE_H

#include <stdio.h>
#include <string.h>

#define VMS_EX_VA ((uint64_t)0x40000000)
#define VMS_EX_PA ((uint64_t)0x7e00000)
#define VMS_EX_LEN ((uint64_t)0x200000)

/* Report a failed check and count it. */
#define VMS_EX_CHECK(what, cond)                                        \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s: check failed: %s\n", (what), #cond); \
            failures++;                                                 \
        }                                                               \
    } while (0)

#ifdef VMSPACE_TEST_HAVE_OWNER
/* The owner: a writer excludes readers and blocks unmapping under it; its bytes come back
 * through a reader; a released handle is stale. @return the failures. */
static int vms_ex_run_owner(const char *what) {
    vms_space_t sp;
    vms_owner_t own;
    vms_lease_t w, r, blocker;
    uint64_t pa = 0;
    unsigned char out[64], in[64];
    size_t i;
    int failures = 0;
    int rc;

    w.id = r.id = blocker.id = VMS_LEASE_INVALID_ID;
    if (vms_space_init(&sp, NULL) != VMS_OK) return 1;
    /* Data frames from the embedded arena, so lease copies reach real bytes. */
    rc = vms_arena_alloc_data(&sp.arena, 4 * VMS_PAGE_4K, VMS_PAGE_4K, &pa);
    VMS_EX_CHECK(what, rc == VMS_OK);
    VMS_EX_CHECK(what, vms_owner_init(&own, &sp, NULL) == VMS_OK);
    rc = vms_owner_map(&own, VMS_EX_VA, pa, 4 * VMS_PAGE_4K, VMS_R | VMS_W, 0, NULL);
    VMS_EX_CHECK(what, rc == VMS_OK);

    rc = vms_lease_acquire(&own, VMS_LEASE_WRITE, VMS_EX_VA, 2 * VMS_PAGE_4K, &w, NULL);
    VMS_EX_CHECK(what, rc == VMS_OK);
    for (i = 0; i < sizeof out; i++) out[i] = (unsigned char)(i * 7u + 3u);
    VMS_EX_CHECK(what, vms_lease_write(&own, w, VMS_EX_VA + 100, out, sizeof out) == VMS_OK);

    /* A reader overlapping the writer conflicts; one that only touches it does not. */
    rc = vms_lease_acquire(&own, VMS_LEASE_READ, VMS_EX_VA + VMS_PAGE_4K, VMS_PAGE_4K, &r,
                           &blocker);
    VMS_EX_CHECK(what, rc == VMS_ERR_CONFLICT);
    VMS_EX_CHECK(what, rc != VMS_ERR_CONFLICT || blocker.id == w.id);
    rc = vms_lease_acquire(&own, VMS_LEASE_READ, VMS_EX_VA + 2 * VMS_PAGE_4K, VMS_PAGE_4K, &r,
                           NULL);
    VMS_EX_CHECK(what, rc == VMS_OK);
    if (rc == VMS_OK) VMS_EX_CHECK(what, vms_lease_release(&own, r) == VMS_OK);

    /* The memory under a live lease stays mapped. */
    rc = vms_owner_unmap(&own, VMS_EX_VA, VMS_PAGE_4K, NULL);
    VMS_EX_CHECK(what, rc == VMS_ERR_BUSY);
    VMS_EX_CHECK(what, vms_lease_release(&own, w) == VMS_OK);
    VMS_EX_CHECK(what, vms_lease_release(&own, w) == VMS_ERR_STALE);

    rc = vms_lease_acquire(&own, VMS_LEASE_READ, VMS_EX_VA, VMS_PAGE_4K, &r, NULL);
    VMS_EX_CHECK(what, rc == VMS_OK);
    memset(in, 0, sizeof in);
    VMS_EX_CHECK(what, vms_lease_read(&own, r, VMS_EX_VA + 100, in, sizeof in) == VMS_OK);
    VMS_EX_CHECK(what, memcmp(in, out, sizeof in) == 0);
    VMS_EX_CHECK(what, vms_lease_release(&own, r) == VMS_OK);

    VMS_EX_CHECK(what, vms_owner_unmap(&own, VMS_EX_VA, 4 * VMS_PAGE_4K, NULL) == VMS_OK);
    VMS_EX_CHECK(what, vms_owner_destroy(&own) == VMS_OK);
    VMS_EX_CHECK(what, vms_space_destroy(&sp) == VMS_OK);
    return failures;
}
#endif

/* Run the exercise; `what` names the configuration in messages. @return the failures. */
static int vms_ex_run(const char *what) {
    vms_space_t sp;
    vms_mapping_t m;
    uint64_t pa = 0;
    uint64_t offset = 0x1234;
    int failures = 0;
    int rc;

    rc = vms_space_init(&sp, NULL);
    if (rc != VMS_OK) {
        fprintf(stderr, "%s: vms_space_init: %s\n", what, vms_err_name(rc));
        return 1;
    }
    rc = vms_space_map(&sp, VMS_EX_VA, VMS_EX_PA, VMS_EX_LEN, VMS_R | VMS_W | VMS_USER, 0);
    VMS_EX_CHECK(what, rc == VMS_OK);

    /* Inside the range: the offset carries over to the physical address. */
    VMS_EX_CHECK(what, vms_translate(&sp, VMS_EX_VA + offset, &pa));
    VMS_EX_CHECK(what, pa == VMS_EX_PA + offset);
    VMS_EX_CHECK(what, vms_translate(&sp, VMS_EX_VA + VMS_EX_LEN - 1, &pa));
    VMS_EX_CHECK(what, pa == VMS_EX_PA + VMS_EX_LEN - 1);
    /* Just outside it on both sides: nothing. */
    VMS_EX_CHECK(what, !vms_translate(&sp, VMS_EX_VA + VMS_EX_LEN, &pa));
    VMS_EX_CHECK(what, !vms_translate(&sp, VMS_EX_VA - 1, &pa));

    /* The mapping holding an inner address covers it, with the rights asked for. */
    memset(&m, 0, sizeof m);
    VMS_EX_CHECK(what, vms_space_query(&sp, VMS_EX_VA + offset, &m) == VMS_OK);
    VMS_EX_CHECK(what, m.va <= VMS_EX_VA + offset && VMS_EX_VA + offset < m.va + m.size);
    VMS_EX_CHECK(what, m.pa + (VMS_EX_VA + offset - m.va) == VMS_EX_PA + offset);
    VMS_EX_CHECK(what, (m.prop & (VMS_R | VMS_W | VMS_USER)) == (VMS_R | VMS_W | VMS_USER));

    /* Mapping again over it is refused and changes nothing. */
    rc = vms_space_map(&sp, VMS_EX_VA, VMS_EX_PA + VMS_EX_LEN, VMS_EX_LEN, VMS_R, 0);
    VMS_EX_CHECK(what, rc == VMS_ERR_EXIST);
    VMS_EX_CHECK(what, strcmp(vms_err_name(VMS_ERR_EXIST), "VMS_ERR_EXIST") == 0);
    VMS_EX_CHECK(what, vms_translate(&sp, VMS_EX_VA + offset, &pa) && pa == VMS_EX_PA + offset);

    VMS_EX_CHECK(what, vms_space_unmap(&sp, VMS_EX_VA, VMS_EX_LEN) == VMS_OK);
    VMS_EX_CHECK(what, !vms_translate(&sp, VMS_EX_VA + offset, &pa));
    VMS_EX_CHECK(what, vms_space_query(&sp, VMS_EX_VA + offset, &m) == VMS_ERR_NOENT);
    VMS_EX_CHECK(what, vms_space_destroy(&sp) == VMS_OK);

#ifdef VMSPACE_TEST_HAVE_OWNER
    failures += vms_ex_run_owner(what);
#endif
    if (failures == 0) printf("%s: ok\n", what);
    return failures;
}

#endif /* VMS_COMPILE_EXERCISE_H */
