/* Checks shared by the test files that need more than one of them: what an operation failed
 * with VMS_ERR_NOMEM must have left alone, and the teardown of a space with an owner. They
 * report through Criterion, as the tests do. */
#include "vt_cr.h"

/* The runs built without Criterion (the ThreadSanitizer stage) have none of it. */
#ifdef VT_NO_CRITERION
typedef int vt_expect_unused;
#else

#ifdef VMSPACE_TEST_HAVE_OWNER
#include "vmspace_owner.h"
#endif

vt_snap_t vt_snap_take(const vms_space_t *s, const vt_fprov_t *f) {
    vt_snap_t v;
    v.digest = vt_digest(s);
    v.stats = vt_stats(s);
    v.frames = f->arena.frames_in_use;
    return v;
}

void vt_expect_unchanged_after_nomem(const char *name, uint64_t k, int rc, const vms_space_t *s,
                                     const vt_fprov_t *f, uint64_t failures, const vt_snap_t *v) {
    cr_assert(eq(int, rc, VMS_ERR_NOMEM), "%s: k=%llu returned %s", name, VT_ULL(k),
              vms_err_name(rc));
    cr_assert(eq(u64, f->failures, failures + 1), "%s: k=%llu: NOMEM without an injected failure",
              name, VT_ULL(k));
    cr_assert(eq(u64, vt_digest(s), v->digest), "%s: tables changed after failing allocation %llu",
              name, VT_ULL(k));
    const vms_stats_t st = vt_stats(s);
    cr_assert(eq(u64, st.table_pages, v->stats.table_pages), "%s: k=%llu: table_pages", name,
              VT_ULL(k));
    for (int i = 0; i < 3; i++)
        cr_assert(eq(u64, st.mapped_bytes[i], v->stats.mapped_bytes[i]),
                  "%s: k=%llu: mapped_bytes[%d]", name, VT_ULL(k), i);
    cr_assert(eq(u64, f->arena.frames_in_use, v->frames), "%s: k=%llu leaked %lld frames", name,
              VT_ULL(k), (long long)(f->arena.frames_in_use - v->frames));
}

#ifdef VMSPACE_TEST_HAVE_OWNER
void vt_owner_teardown(vms_owner_t *o, vms_space_t *s) {
#ifdef VMSPACE_DEBUG
    const char *bad = vms_owner_check(o);
    cr_expect(eq(ptr, (void *)bad, NULL), "final check: %s", bad ? bad : "");
#endif
    /* End whatever is still live so destroy succeeds. */
    vms_lease_t l;
    while (vms_owner_first_overlap(o, 0, UINT64_MAX, &l))
        cr_assert(eq(int, vms_lease_release(o, l), VMS_OK));
    cr_assert(eq(int, vms_owner_destroy(o), VMS_OK));
    vt_expect_wellformed(s);
    cr_assert(eq(int, vms_space_destroy(s), VMS_OK));
}
#endif
#endif
