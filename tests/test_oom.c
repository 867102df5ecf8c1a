/* Out of memory: for every allocation an operation makes, fail exactly that one and check
 * the operation returns VMS_ERR_NOMEM and leaves the space exactly as it was: the same table
 * pages at the same physical addresses with the same bytes, the same enumeration, the same
 * stats, and no frame leaked. Then let it succeed and compare with a run that never failed. */
#include <stdio.h>

#include "support/vt_cr.h"

typedef struct scenario_s {
    const char *name;
    int levels;
    void (*setup)(vms_space_t *s);
    int (*op)(vms_space_t *s);
    uint64_t min_points; /* tables the operation must create, so allocations it must make */
} scenario_t;

static vms_space_t *new_space(vt_fprov_t *f, vms_space_t *s, int levels) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_fprov_init(f, 64 * 1024 * 1024), VMS_OK));
    d.levels = levels;
    d.provider = &f->prov;
    cr_assert(eq(int, vms_space_init(s, &d), VMS_OK));
    return s;
}

static void run(const scenario_t *sc) {
    static vt_fprov_t fa, fb; /* the space under test, and a reference that never fails */
    vms_space_t a, b;
    new_space(&fa, &a, sc->levels);
    new_space(&fb, &b, sc->levels);
    if (sc->setup) {
        sc->setup(&a);
        sc->setup(&b);
    }
    /* The reference run. */
    uint64_t ref_allocs = fb.allocs;
    cr_assert(eq(int, sc->op(&b), VMS_OK), "%s: reference run", sc->name);
    ref_allocs = fb.allocs - ref_allocs;
    const uint64_t want_map = vt_digest_mappings(&b);
    const uint64_t want_tables = vt_table_pages(&b);

    const vt_snap_t v0 = vt_snap_take(&a, &fa);
    uint64_t k;
    for (k = 1;; k++) {
        uint64_t failures = fa.failures;
        vt_fprov_fail_in(&fa, k);
        int rc = sc->op(&a);
        vt_fprov_fail_in(&fa, 0);
        if (rc == VMS_OK) {
            cr_expect(eq(u64, fa.failures, failures), "%s: succeeded past an injected failure",
                      sc->name);
            break;
        }
        vt_expect_unchanged_after_nomem(sc->name, k, rc, &a, &fa, failures, &v0);
        cr_assert(lt(u64, k, 10000), "%s: does not terminate", sc->name);
    }
    uint64_t points = k - 1;
    printf("oom: %-40s %2llu allocation points (table pages %+lld)\n", sc->name, VT_ULL(points),
           (long long)(vt_table_pages(&a) - v0.stats.table_pages));
    fflush(stdout);
    cr_expect(eq(u64, points, ref_allocs), "%s: points reached vs allocations of a clean run",
              sc->name);
    cr_expect(ge(u64, points, sc->min_points), "%s", sc->name);
    cr_expect(eq(u64, vt_digest_mappings(&a), want_map), "%s: result differs from clean run",
              sc->name);
    cr_expect(eq(u64, vt_table_pages(&a), want_tables), "%s", sc->name);
    vt_expect_wellformed(&a);
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&a), NULL));
#endif
    vms_space_destroy(&a);
    vms_space_destroy(&b);
    vt_fprov_destroy(&fa);
    vt_fprov_destroy(&fb);
}

/* ---- the operations ---- */

static int op_map_many_tables(vms_space_t *s) {
    /* 4 KiB pages across a PML4 edge: two PDPTs, two PDs, eight PTs. */
    return vms_space_map(s, VT_SZ_512G - 4 * M2 + K4, 0x1000, 8 * M2 - 2 * K4, VMS_RW,
                         VMS_MAP_MAX_4K);
}

static int op_map_across_1g(vms_space_t *s) {
    /* 4K, 2M, 1G, 1G, 2M, 4K: a PDPT, two PDs, two PTs. */
    return vms_space_map(s, G1 - M2 - K4, G1 - M2 - K4, 2 * G1 + 2 * M2 + 2 * K4, VMS_RW, 0);
}

static void setup_1g(vms_space_t *s) {
    cr_assert(eq(int, vms_space_map(s, G1, 5 * G1, G1, VMS_RW | VMS_GLOBAL, 0), VMS_OK));
}

static void setup_two_1g_and_2m(vms_space_t *s) {
    cr_assert(eq(int, vms_space_map(s, G1, 5 * G1, 2 * G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 4 * G1, 0, 2 * M2, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x7000, 0, K4, VMS_R, 0), VMS_OK));
}

/* The same with A and D set everywhere, for a harvest to clear. */
static void setup_two_1g_and_2m_dirty(vms_space_t *s) {
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    cr_assert(eq(int, vms_space_map(s, G1, 5 * G1, 2 * G1, VMS_RW | ad, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 4 * G1, 0, 2 * M2, VMS_R | ad, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x7000, 0, K4, VMS_R | ad, 0), VMS_OK));
}

static int op_unmap_split_1g(vms_space_t *s) { return vms_space_unmap(s, G1 + M2 + K4, K4); }

static int op_unmap_split_two(vms_space_t *s) {
    /* Cuts two 1 GiB pages down to 4 KiB at the edge between them. */
    return vms_space_unmap(s, 2 * G1 - K4, 2 * K4);
}

static int op_unmap_frees_only(vms_space_t *s) { return vms_space_unmap(s, 0, 8 * G1); }

static int op_protect_split(vms_space_t *s) {
    /* From inside the first 1 GiB page to inside the 2 MiB page at 4 GiB. */
    return vms_space_protect(s, G1 + 5 * M2 + K4, 3 * G1 - 5 * M2, VMS_R);
}

static int op_protect_mask_split(vms_space_t *s) {
    /* -W +USER from inside the first 1 GiB page to inside the 2 MiB page at 4 GiB. */
    return vms_space_protect_mask(s, G1 + 5 * M2 + K4, 3 * G1 - 5 * M2, VMS_USER, VMS_W);
}

static vms_prop_t drop_w(void *user, const vms_mapping_t *m) {
    (void)user;
    return m->prop & ~(vms_prop_t)VMS_W;
}

static int op_protect_fn_split(vms_space_t *s) {
    /* The callback form over the same range: it sees the pieces only once the splits are
     * reserved, so a failed reservation changes nothing. */
    return vms_space_protect_fn(s, G1 + 5 * M2 + K4, 3 * G1 - 5 * M2, drop_w, NULL);
}

static int op_harvest_clear(vms_space_t *s) {
    /* Harvest never allocates, even over huge pages covered in part. */
    vms_harvest_t h;
    memset(&h, 0, sizeof h);
    h.bits = VMS_ACCESSED | VMS_DIRTY;
    h.flags = VMS_HARVEST_CLEAR;
    return vms_space_harvest(s, G1 + 5 * M2 + K4, 3 * G1 - 5 * M2, &h);
}

static int op_replace_split(vms_space_t *s) {
    return vms_space_map(s, G1 + M2 + K4, 0x9000, K4, VMS_R, VMS_MAP_REPLACE);
}

static int op_replace_across(vms_space_t *s) {
    /* From inside the second 1 GiB page to inside the first 2 MiB page at 4 GiB, with 4 KiB
     * pages: splits on both ends and new tables over the unmapped gap in between. */
    return vms_space_map(s, 3 * G1 - 3 * K4, 0x200000 - 3 * K4, G1 + 6 * K4, VMS_RWX,
                         VMS_MAP_REPLACE | VMS_MAP_MAX_2M);
}

static int op_map5_top(vms_space_t *s) {
    return vms_space_map(s, 0x00fffffffffff000, 0, K4, VMS_R, 0);
}

static int op_map5_across_2_48(vms_space_t *s) {
    return vms_space_map(s, 0x0001000000000000 - K4, 0, 2 * K4, VMS_R, 0);
}

static int op_cursor_map5(vms_space_t *s) {
    vms_cursor_t c;
    int rc = vms_cursor_open(&c, s, 0xff00000000000000, G1);
    if (rc) return rc;
    rc = vms_cursor_map(&c, 0x5000, K4, VMS_RW, 0);
    vms_cursor_close(&c);
    return rc;
}

static int op_cursor_protect_next(vms_space_t *s) {
    vms_cursor_t c;
    vms_mapping_t done;
    int rc = vms_cursor_open(&c, s, G1 + 7 * K4, K4);
    if (rc) return rc;
    rc = vms_cursor_protect_next(&c, K4, VMS_R, &done);
    vms_cursor_close(&c);
    return rc;
}

static int op_cursor_unmap(vms_space_t *s) {
    vms_cursor_t c;
    uint64_t n = 0;
    int rc = vms_cursor_open(&c, s, 2 * G1 - M2 - K4, 2 * M2);
    if (rc) return rc;
    rc = vms_cursor_unmap(&c, 2 * M2, &n);
    vms_cursor_close(&c);
    return rc;
}

static const scenario_t scenarios[] = {
    {"map 4K pages across a PML4 edge", 4, NULL, op_map_many_tables, 12},
    {"map 4K..1G across 1G edges", 4, NULL, op_map_across_1g, 5},
    {"unmap splitting 1G->2M->4K", 4, setup_1g, op_unmap_split_1g, 2},
    {"unmap splitting two 1G pages", 4, setup_two_1g_and_2m, op_unmap_split_two, 4},
    {"unmap everything (frees only)", 4, setup_two_1g_and_2m, op_unmap_frees_only, 0},
    {"protect splitting 1G and 2M", 4, setup_two_1g_and_2m, op_protect_split, 3},
    {"map REPLACE splitting 1G", 4, setup_1g, op_replace_split, 2},
    {"map REPLACE across 1G and 2M pages", 4, setup_two_1g_and_2m, op_replace_across, 3},
    {"5 levels: map the last lower-half page", 5, NULL, op_map5_top, 4},
    {"5 levels: map across 2^48", 5, NULL, op_map5_across_2_48, 8},
    {"5 levels: cursor_map in the high half", 5, NULL, op_cursor_map5, 4},
    {"cursor protect_next splitting 1G", 4, setup_1g, op_cursor_protect_next, 2},
    {"cursor unmap splitting two 1G pages", 4, setup_two_1g_and_2m, op_cursor_unmap, 3},
    {"protect_mask splitting 1G and 2M", 4, setup_two_1g_and_2m, op_protect_mask_split, 3},
    {"protect_fn splitting 1G and 2M", 4, setup_two_1g_and_2m, op_protect_fn_split, 3},
    {"harvest with clear (allocates nothing)", 4, setup_two_1g_and_2m_dirty, op_harvest_clear, 0},
};

Test(oom, map_many_tables) { run(&scenarios[0]); }
Test(oom, map_across_1g) { run(&scenarios[1]); }
Test(oom, unmap_split_1g) { run(&scenarios[2]); }
Test(oom, unmap_split_two) { run(&scenarios[3]); }
Test(oom, unmap_frees_only) { run(&scenarios[4]); }
Test(oom, protect_split) { run(&scenarios[5]); }
Test(oom, replace_split) { run(&scenarios[6]); }
Test(oom, replace_across) { run(&scenarios[7]); }
Test(oom, map5_top) { run(&scenarios[8]); }
Test(oom, map5_across_2_48) { run(&scenarios[9]); }
Test(oom, cursor_map5) { run(&scenarios[10]); }
Test(oom, cursor_protect_next) { run(&scenarios[11]); }
Test(oom, cursor_unmap) { run(&scenarios[12]); }
Test(oom, protect_mask_split) { run(&scenarios[13]); }
Test(oom, protect_fn_split) { run(&scenarios[14]); }
Test(oom, harvest_clear) { run(&scenarios[15]); }

Test(oom, embedded_arena_fail_after) {
    /* The embedded arena's own hook: fail the 2nd allocation from now. */
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, 4, 0), VMS_OK));
    uint64_t d0 = vt_digest(&s), frames = s.arena.frames_in_use;
    s.arena.fail_after = 2;
    cr_expect(eq(int, vms_space_map(&s, 0x1000, 0, K4, VMS_R, 0), VMS_ERR_NOMEM));
    cr_expect(eq(u64, vt_digest(&s), d0));
    cr_expect(eq(u64, s.arena.frames_in_use, frames));
    s.arena.fail_after = 0;
    cr_expect(eq(int, vms_space_map(&s, 0x1000, 0, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, s.arena.frames_in_use, frames + 3));
    vms_space_destroy(&s);
}

Test(oom, init_fails_cleanly) {
    /* A provider that fails its first allocation: init reports NOMEM. */
    vt_fprov_t f;
    vms_space_t s;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_fprov_init(&f, 16 * 1024 * 1024), VMS_OK));
    uint64_t frames = f.arena.frames_in_use;
    d.provider = &f.prov;
    vt_fprov_fail_in(&f, 1);
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_NOMEM));
    cr_expect(eq(u64, f.arena.frames_in_use, frames));
    vt_fprov_destroy(&f);
}
