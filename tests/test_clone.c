/* Clone (fork): the destination maps the source's frames with the same page sizes and
 * properties, A/D stripped; with copy-on-write both sides lose W and gain VMS_COW where they
 * had W; all or nothing. */
#include "support/vt_cr.h"

static vms_space_t src, dst;

static void setup(void) {
    cr_assert(eq(int, vt_space_init(&src, 4, (uint64_t)64 << 20), VMS_OK));
    cr_assert(eq(int, vt_space_init(&dst, 4, (uint64_t)64 << 20), VMS_OK));
}
static void teardown(void) {
    vt_expect_wellformed(&src);
    vt_expect_wellformed(&dst);
    vms_space_destroy(&src);
    vms_space_destroy(&dst);
}

TestSuite(clone, .init = setup, .fini = teardown);

/* What a clone must leave at each page, from what src mapped there before. */
static vms_prop_t cloned(vms_prop_t p, bool cow) {
    p &= ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    if (cow && (p & VMS_W)) p = (p & ~(vms_prop_t)VMS_W) | VMS_COW;
    return p;
}

typedef struct shared_s {
    uint64_t calls, bytes;
} shared_t;

static void on_shared(void *user, uint64_t pa, uint64_t len) {
    shared_t *s = (shared_t *)user;
    (void)pa;
    s->calls++;
    s->bytes += len;
}

Test(clone, same_frames_sizes_and_rights) {
    shared_t sh = {0, 0};
    cr_assert(eq(int, vms_space_map(&src, 0x400000, 0x800000, 8 * K4, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&src, 0x408000, 0x900000, 2 * K4, VMS_RX | VMS_USER, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&src, G1, 4 * G1, M2, VMS_RW | VMS_ACCESSED, 0), VMS_OK));
    cr_assert(eq(int, vms_space_clone(&dst, &src, 0, 2 * G1, 0, on_shared, &sh), VMS_OK));
    vt_expect_page(&dst, 0x401000, 0x401000, 0x801000, K4, VMS_RW);
    vt_expect_page(&dst, 0x409000, 0x409000, 0x901000, K4, VMS_RX | VMS_USER);
    vt_expect_page(&dst, G1 + 5, G1, 4 * G1, M2, VMS_RW);
    vt_expect_page(&src, 0x401000, 0x401000, 0x801000, K4, VMS_RW | VMS_DIRTY); /* untouched */
    cr_expect(eq(sz, vt_count_mappings(&dst), 11));
    cr_expect(eq(u64, sh.calls, 3));
    cr_expect(eq(u64, sh.bytes, 10 * K4 + M2));
}

Test(clone, copy_on_write_marks_both_sides) {
    cr_assert(eq(int, vms_space_map(&src, 0x400000, 0x800000, 4 * K4, VMS_RW | VMS_USER, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&src, 0x404000, 0x900000, 4 * K4, VMS_RX | VMS_USER, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_clone(&dst, &src, 0x400000, 8 * K4, VMS_CLONE_COW, NULL, NULL),
                 VMS_OK));
    for (int side = 0; side < 2; side++) {
        vms_space_t *s = side ? &dst : &src;
        vt_expect_page(s, 0x402000, 0x402000, 0x802000, K4, VMS_R | VMS_USER | VMS_COW);
        vt_expect_page(s, 0x405000, 0x405000, 0x901000, K4, VMS_RX | VMS_USER); /* not W */
    }
    /* A write faults on both sides; the handler's copy is a replace. */
    vms_access_result_t r;
    cr_expect(not(vms_translate_access(&src, 0x402000, VMS_ACCESS_WRITE | VMS_ACCESS_USER, &r)));
    cr_expect(eq(int, r.fault, VMS_FAULT_WRITE));
    cr_assert(eq(int, vms_space_map(&dst, 0x402000, 0xa00000, K4, VMS_RW | VMS_USER,
                                    VMS_MAP_REPLACE),
                 VMS_OK));
    vt_expect_page(&dst, 0x402000, 0x402000, 0xa00000, K4, VMS_RW | VMS_USER);
    vt_expect_page(&src, 0x402000, 0x402000, 0x802000, K4, VMS_R | VMS_USER | VMS_COW);
}

/* A huge page the range cuts is split in the source and mapped in part in the destination,
 * as the same pieces. */
Test(clone, huge_page_cut_by_the_range) {
    cr_assert(eq(int, vms_space_map(&src, M2, 0, M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_clone(&dst, &src, M2 + 3 * K4, 5 * K4, VMS_CLONE_COW, NULL,
                                      NULL),
                 VMS_OK));
    vt_expect_page(&dst, M2 + 3 * K4, M2 + 3 * K4, 3 * K4, K4, VMS_R | VMS_COW);
    vt_expect_page(&dst, M2 + 7 * K4, M2 + 7 * K4, 7 * K4, K4, VMS_R | VMS_COW);
    vt_expect_unmapped(&dst, M2 + 8 * K4);
    vt_expect_page(&src, M2 + 7 * K4, M2 + 7 * K4, 7 * K4, K4, VMS_R | VMS_COW);
    vt_expect_page(&src, M2 + 8 * K4, M2 + 8 * K4, 8 * K4, K4, VMS_RW);
    cr_expect(eq(u64, vt_mapped_total(&dst), 5 * K4));
    cr_expect(eq(u64, vt_mapped_total(&src), M2));
}

Test(clone, bad_input_changes_nothing) {
    vms_space_t five;
    uint64_t ds, dd;
    cr_assert(eq(int, vms_space_map(&src, 0x400000, 0x800000, 4 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&dst, 0x403000, 0x700000, K4, VMS_R, 0), VMS_OK));
    ds = vt_digest(&src);
    dd = vt_digest(&dst);
    cr_expect(eq(int, vms_space_clone(&dst, &src, 0x400000, 4 * K4, VMS_CLONE_COW, NULL, NULL),
                 VMS_ERR_EXIST));
    cr_expect(eq(int, vms_space_clone(&src, &src, 0x400000, 4 * K4, 0, NULL, NULL), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_clone(&dst, &src, 0x400000, 4 * K4, 0x10, NULL, NULL),
                 VMS_ERR_FLAGS));
    cr_expect(eq(int, vms_space_clone(&dst, &src, 0x400100, K4, 0, NULL, NULL), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_space_clone(&dst, &src, 0x400000, 0, 0, NULL, NULL), VMS_ERR_ZEROLEN));
    cr_assert(eq(int, vt_space_init(&five, 5, 0), VMS_OK));
    cr_expect(eq(int, vms_space_clone(&five, &src, 0x400000, K4, 0, NULL, NULL), VMS_ERR_LEVELS));
    vms_space_destroy(&five);
    cr_expect(eq(u64, vt_digest(&src), ds));
    cr_expect(eq(u64, vt_digest(&dst), dd));
}

/* Out of memory at every allocation of a clone (the destination's tables, then the
 * source's splits): both spaces unchanged, until it succeeds. */
TestSuite(clone_more);

Test(clone_more, out_of_memory_changes_nothing) {
    for (int which = 0; which < 2; which++) {
        uint64_t k, failed = 0, made = 0;
        for (k = 1;; k++) {
            static vt_fprov_t fs, fd;
            vms_space_t s, d;
            vms_space_desc_t ds_, dd_;
            cr_assert(eq(int, vt_fprov_init(&fs, (uint64_t)16 << 20), VMS_OK));
            cr_assert(eq(int, vt_fprov_init(&fd, (uint64_t)16 << 20), VMS_OK));
            memset(&ds_, 0, sizeof ds_);
            memset(&dd_, 0, sizeof dd_);
            ds_.provider = &fs.prov;
            dd_.provider = &fd.prov;
            cr_assert(eq(int, vms_space_init(&s, &ds_), VMS_OK));
            cr_assert(eq(int, vms_space_init(&d, &dd_), VMS_OK));
            cr_assert(eq(int, vms_space_map(&s, G1, 2 * G1, G1, VMS_RW, 0), VMS_OK));
            cr_assert(eq(int, vms_space_map(&s, 0x400000, 0x800000, 600 * K4, VMS_RW, 0),
                         VMS_OK));
            const uint64_t s0 = vt_digest(&s), d0 = vt_digest(&d), t0 = vt_table_pages(&d);
            const uint64_t ts0 = vt_table_pages(&s);
            vt_fprov_fail_in(which ? &fs : &fd, k);
            int rc = vms_space_clone(&d, &s, 0x400000, G1 + 5 * M2 + K4 - 0x400000,
                                     VMS_CLONE_COW, NULL, NULL);
            vt_fprov_fail_in(&fs, 0);
            vt_fprov_fail_in(&fd, 0);
            if (rc == VMS_OK) {
                vt_expect_page(&d, G1 + 5 * M2, G1 + 5 * M2, 2 * G1 + 5 * M2, K4,
                               VMS_R | VMS_COW);
                vt_expect_page(&s, G1 + 5 * M2, G1 + 5 * M2, 2 * G1 + 5 * M2, K4,
                               VMS_R | VMS_COW);
                vt_expect_page(&s, G1 + 5 * M2 + K4, G1 + 5 * M2 + K4, 2 * G1 + 5 * M2 + K4, K4,
                               VMS_RW);
                made = which ? vt_table_pages(&s) - ts0 : vt_table_pages(&d) - t0;
            } else {
                failed++;
                cr_assert(eq(int, rc, VMS_ERR_NOMEM), "k=%llu", VT_ULL(k));
                cr_assert(eq(u64, vt_digest(&s), s0), "source changed, k=%llu", VT_ULL(k));
                cr_assert(eq(u64, vt_digest(&d), d0), "destination changed, k=%llu", VT_ULL(k));
                cr_assert(eq(u64, vt_table_pages(&d), t0));
            }
            vt_expect_wellformed(&s);
            vt_expect_wellformed(&d);
            vms_space_destroy(&s);
            vms_space_destroy(&d);
            vt_fprov_destroy(&fs);
            vt_fprov_destroy(&fd);
            if (rc == VMS_OK) break;
            cr_assert(lt(u64, k, 200));
        }
        /* Each table the clone added (the destination's, the source's splits) was a point of
         * failure. */
        cr_expect(gt(u64, made, 0));
        cr_expect(eq(u64, failed, made), "side %d: %llu failures", which, VT_ULL(failed));
    }
}

/* Random source spaces (run lengths, huge pages, A/D, rights), random ranges: page by page,
 * the destination and the source against what the source held before. */
Test(clone_more, random_spaces) {
    vt_rng_t g;
    vt_rng_seed(&g, 42);
    for (int round = 0; round < 40; round++) {
        vms_space_t s, d;
        cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)32 << 20), VMS_OK));
        cr_assert(eq(int, vt_space_init(&d, 4, (uint64_t)32 << 20), VMS_OK));
        for (int i = 0; i < 30; i++) {
            uint64_t sz = vt_rng_below(&g, 6) == 0 ? M2 : K4;
            uint64_t va = G1 + vt_rng_below(&g, 8 * M2 / sz) * sz;
            uint64_t len = sz * (1 + vt_rng_below(&g, sz == K4 ? 700 : 2));
            uint64_t pa = vt_rng_below(&g, 2) ? va : 4 * G1 + vt_rng_below(&g, 1000) * sz;
            vms_prop_t p = VMS_R | (vms_prop_t)vt_rng_below(&g, 0x80);
            if (va + len > G1 + 8 * M2) len = G1 + 8 * M2 - va;
            (void)vms_space_map(&s, va, pa, len, p, 0);
        }
        uint64_t va = G1 + vt_rng_below(&g, 1024) * K4;
        uint64_t len = K4 * (1 + vt_rng_below(&g, 3000));
        bool cow = vt_rng_below(&g, 2) != 0;
        size_t n = (size_t)(len / K4);
        vms_mapping_t *before = (vms_mapping_t *)calloc(n, sizeof *before);
        int *had = (int *)calloc(n, sizeof *had);
        for (size_t i = 0; i < n; i++)
            had[i] = vms_space_query(&s, va + i * K4, &before[i]) == VMS_OK;
        cr_assert(eq(int, vms_space_clone(&d, &s, va, len, cow ? VMS_CLONE_COW : 0, NULL, NULL),
                     VMS_OK));
        for (size_t i = 0; i < n; i++) {
            uint64_t at = va + i * K4;
            vms_mapping_t m;
            if (!had[i]) {
                cr_expect(eq(int, vms_space_query(&d, at, &m), VMS_ERR_NOENT));
                continue;
            }
            uint64_t pa = before[i].pa + (at - before[i].va);
            for (int side = 0; side < 2; side++) {
                vms_prop_t want = cloned(before[i].prop, cow);
                cr_assert(eq(int, vms_space_query(side ? &d : &s, at, &m), VMS_OK));
                cr_expect(eq(u64, m.pa + (at - m.va), pa), "round %d va %#llx", round, VT_ULL(at));
                if (!side) /* the source keeps its A/D, and is changed only with COW */
                    want = cow ? want | (before[i].prop & (VMS_ACCESSED | VMS_DIRTY))
                               : before[i].prop;
                cr_expect(eq(u32, m.prop, want), "round %d side %d va %#llx", round, side,
                          VT_ULL(at));
            }
        }
        free(before);
        free(had);
        vt_expect_wellformed(&s);
        vt_expect_wellformed(&d);
        vms_space_destroy(&s);
        vms_space_destroy(&d);
    }
}
