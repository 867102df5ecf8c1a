/* Protect: new properties, splitting huge pages covered in part, no-access mappings, A/D. */
#include "support/vt_cr.h"

static vms_space_t sp;

static void setup4(void) { cr_assert(eq(int, vt_space_init(&sp, 4, 0), VMS_OK)); }
static void teardown(void) {
    vt_expect_wellformed(&sp);
    vms_space_destroy(&sp);
}

TestSuite(protect, .init = setup4, .fini = teardown);

Test(protect, small_pages) {
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x80000, 4 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 0x11000, 2 * K4, VMS_R | VMS_USER), VMS_OK));
    vt_expect_page(&sp, 0x10000, 0x10000, 0x80000, K4, VMS_RW);
    vt_expect_page(&sp, 0x11000, 0x11000, 0x81000, K4, VMS_R | VMS_USER);
    vt_expect_page(&sp, 0x12000, 0x12000, 0x82000, K4, VMS_R | VMS_USER);
    vt_expect_page(&sp, 0x13000, 0x13000, 0x83000, K4, VMS_RW);
    int level;
    uint64_t *e = vt_walk(&sp, 0x11000, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & 0x7, 0x5)); /* P and US, not RW */
}

Test(protect, split_1g_page) {
    const uint64_t P = 2 * G1;
    cr_assert(eq(int, vms_space_map(&sp, G1, P, G1, VMS_RWX, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, G1 + 9 * M2 + K4, K4, VMS_R), VMS_OK));
    vt_expect_page(&sp, G1, G1, P, M2, VMS_RWX);
    vt_expect_page(&sp, G1 + 9 * M2, G1 + 9 * M2, P + 9 * M2, K4, VMS_RWX);
    vt_expect_page(&sp, G1 + 9 * M2 + K4, G1 + 9 * M2 + K4, P + 9 * M2 + K4, K4, VMS_R);
    vt_expect_page(&sp, G1 + 9 * M2 + 2 * K4, G1 + 9 * M2 + 2 * K4, P + 9 * M2 + 2 * K4, K4,
                   VMS_RWX);
    vt_expect_page(&sp, G1 + 10 * M2, G1 + 10 * M2, P + 10 * M2, M2, VMS_RWX);
    cr_expect(eq(sz, vt_count_mappings(&sp), 511 + 512));
    cr_expect(eq(u64, vt_mapped_total(&sp), G1));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], M2));
}

Test(protect, split_2m_page_both_sides) {
    cr_assert(eq(int, vms_space_map(&sp, 2 * M2, 0, 2 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 3 * M2 - K4, 2 * K4, VMS_R | VMS_GLOBAL), VMS_OK));
    vt_expect_page(&sp, 3 * M2 - 2 * K4, 3 * M2 - 2 * K4, M2 - 2 * K4, K4, VMS_RW);
    vt_expect_page(&sp, 3 * M2 - K4, 3 * M2 - K4, M2 - K4, K4, VMS_R | VMS_GLOBAL);
    vt_expect_page(&sp, 3 * M2, 3 * M2, M2, K4, VMS_R | VMS_GLOBAL);
    vt_expect_page(&sp, 3 * M2 + K4, 3 * M2 + K4, M2 + K4, K4, VMS_RW);
    cr_expect(eq(sz, vt_count_mappings(&sp), 1024));
}

Test(protect, whole_huge_page_is_not_split) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, G1 + M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, G1, G1 + M2, VMS_R), VMS_OK));
    vt_expect_page(&sp, G1, G1, 0, G1, VMS_R);
    vt_expect_page(&sp, 2 * G1, 2 * G1, G1, M2, VMS_R);
    cr_expect(eq(sz, vt_count_mappings(&sp), 2));
}

Test(protect, no_access_and_back) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 4 * M2, M2 + K4, VMS_RW | VMS_USER, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, M2, M2 + K4, 0), VMS_OK));
    vt_expect_page(&sp, M2 + 0x10000, M2, 4 * M2, M2, 0);
    vt_expect_page(&sp, 2 * M2, 2 * M2, 5 * M2, K4, 0);
    /* Not present to the hardware, frame kept in the entry. */
    int level;
    uint64_t *e = vt_walk(&sp, M2, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(int, level, 2));
    cr_expect(eq(u64, *e & VT_BIT(0), 0));
    cr_expect(eq(u64, *e & VT_ADDR_BITS & ~(M2 - 1), 4 * M2));
    vms_access_result_t r;
    cr_expect(not(vms_translate_access(&sp, M2, VMS_ACCESS_READ, &r)));
    cr_expect(eq(int, r.fault, VMS_FAULT_NOT_PRESENT));
    /* Still a mapping: query and unmap see it, map without REPLACE does not overwrite it. */
    cr_expect(eq(int, vms_space_map(&sp, M2, 0, K4, VMS_R, 0), VMS_ERR_EXIST));
    cr_assert(eq(int, vms_space_protect(&sp, M2, M2, VMS_RW), VMS_OK));
    vt_expect_page(&sp, M2 + 0x1234, M2, 4 * M2, M2, VMS_RW);
    vt_expect_page(&sp, 2 * M2, 2 * M2, 5 * M2, K4, 0);
    /* Write-only is not expressible: W without R is a no-access mapping that remembers W. */
    cr_assert(eq(int, vms_space_protect(&sp, 2 * M2, K4, VMS_W), VMS_OK));
    vt_expect_page(&sp, 2 * M2, 2 * M2, 5 * M2, K4, VMS_W);
    cr_assert(eq(int, vms_space_unmap(&sp, M2, M2 + K4), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
}

Test(protect, accessed_dirty_kept) {
    cr_assert(eq(int, vms_space_map(&sp, 0x1000, 0x1000, K4, VMS_RW | VMS_ACCESSED | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, M2, VMS_RW | VMS_ACCESSED, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 0x1000, K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, M2, K4, VMS_RX), VMS_OK));
    vt_expect_page(&sp, 0x1000, 0x1000, 0x1000, K4, VMS_R | VMS_ACCESSED | VMS_DIRTY);
    vt_expect_page(&sp, M2, M2, 0, K4, VMS_RX | VMS_ACCESSED);
    vt_expect_page(&sp, M2 + K4, M2 + K4, K4, K4, VMS_RW | VMS_ACCESSED);
    int level;
    uint64_t *e = vt_walk(&sp, 0x1000, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & (VT_BIT(5) | VT_BIT(6)), VT_BIT(5) | VT_BIT(6)));
}

/* Relative protect: each mapping keeps its own property but for the bits set and cleared. */
Test(protect, mask_keeps_the_rest) {
    static const vms_prop_t props[] = {VMS_RW | VMS_USER, VMS_RX | VMS_GLOBAL, VMS_R | VMS_SW1,
                                       VMS_RWX | VMS_CACHE_WC, 0, VMS_W | VMS_SW3};
    const size_t n = sizeof props / sizeof props[0];
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(int, vms_space_map(&sp, 0x40000 + i * K4, 0x90000 + i * K4, K4, props[i], 0),
                     VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&sp, 0x40000, n * K4, VMS_SW0, VMS_W | VMS_X),
                 VMS_OK));
    for (size_t i = 0; i < n; i++)
        vt_expect_page(&sp, 0x40000 + i * K4, 0x40000 + i * K4, 0x90000 + i * K4, K4,
                       (props[i] & ~(VMS_W | VMS_X)) | VMS_SW0);
    /* Outside the range nothing moved. */
    cr_assert(eq(int, vms_space_map(&sp, 0x80000, 0x70000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&sp, 0x40000, K4, 0, VMS_R), VMS_OK));
    vt_expect_page(&sp, 0x80000, 0x80000, 0x70000, K4, VMS_RW);
    vt_expect_page(&sp, 0x41000, 0x41000, 0x91000, K4, VMS_R | VMS_GLOBAL | VMS_SW0);
}

Test(protect, mask_splits_huge_pages_and_keeps_ad) {
    const uint64_t P = 2 * G1;
    cr_assert(eq(int, vms_space_map(&sp, G1, P, G1, VMS_RWX | VMS_ACCESSED | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&sp, G1 + 9 * M2 + K4, K4, VMS_USER, VMS_X), VMS_OK));
    vt_expect_page(&sp, G1, G1, P, M2, VMS_RWX | VMS_ACCESSED | VMS_DIRTY);
    vt_expect_page(&sp, G1 + 9 * M2, G1 + 9 * M2, P + 9 * M2, K4,
                   VMS_RWX | VMS_ACCESSED | VMS_DIRTY);
    vt_expect_page(&sp, G1 + 9 * M2 + K4, G1 + 9 * M2 + K4, P + 9 * M2 + K4, K4,
                   VMS_RW | VMS_USER | VMS_ACCESSED | VMS_DIRTY);
    cr_expect(eq(u64, vt_mapped_total(&sp), G1));
    /* A whole huge page is changed in place. */
    cr_assert(eq(int, vms_space_protect_mask(&sp, G1 + 20 * M2, M2, 0, VMS_W), VMS_OK));
    vt_expect_page(&sp, G1 + 20 * M2, G1 + 20 * M2, P + 20 * M2, M2,
                   VMS_RX | VMS_ACCESSED | VMS_DIRTY);
    cr_expect(eq(sz, vt_count_mappings(&sp), 511 + 512));
}

Test(protect, mask_bad_input_changes_nothing) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, M2 + K4, VMS_RW, 0), VMS_OK));
    const uint64_t d0 = vt_digest(&sp);
    struct {
        uint64_t va, len;
        vms_prop_t set, clear;
        int want;
    } bad[] = {
        {G1, K4, VMS_ACCESSED, 0, VMS_ERR_FLAGS},  {G1, K4, 0, VMS_DIRTY, VMS_ERR_FLAGS},
        {G1, K4, VMS_CACHE_UC, 0, VMS_ERR_FLAGS},  {G1, K4, 0, 0x800, VMS_ERR_FLAGS},
        {G1, K4, VMS_W, VMS_W | VMS_R, VMS_ERR_ARG}, {G1 + 1, K4, VMS_X, 0, VMS_ERR_ALIGN},
        {G1, 0, VMS_X, 0, VMS_ERR_ZEROLEN},         {(uint64_t)1 << 47, K4, VMS_X, 0,
                                                    VMS_ERR_NONCANON},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = vms_space_protect_mask(&sp, bad[i].va, bad[i].len, bad[i].set, bad[i].clear);
        cr_expect(eq(int, rc, bad[i].want), "case %zu: %s", i, vms_err_name(rc));
        cr_expect(eq(u64, vt_digest(&sp), d0), "case %zu changed the tables", i);
    }
}

Test(protect, cache_policy_and_pat_bit) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, G1, M2, VMS_RW | VMS_CACHE_PAT(5)), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, G1 + M2, K4, VMS_RW | VMS_CACHE_PAT(6)), VMS_OK));
    vt_expect_page(&sp, G1, G1, 0, M2, VMS_RW | VMS_CACHE_PAT(5));
    vt_expect_page(&sp, G1 + M2, G1 + M2, M2, K4, VMS_RW | VMS_CACHE_PAT(6));
    int level;
    uint64_t *e = vt_walk(&sp, G1, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & (VT_BIT(3) | VT_BIT(4) | VT_BIT(7) | VT_BIT(12)),
                 VT_BIT(3) | VT_BIT(7) | VT_BIT(12)));
    e = vt_walk(&sp, G1 + M2, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & (VT_BIT(3) | VT_BIT(4) | VT_BIT(7)), VT_BIT(4) | VT_BIT(7)));
    /* The split 4 KiB pages next to it keep PAT index 0 (bit 7 clear). */
    e = vt_walk(&sp, G1 + M2 + K4, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(int, level, 1));
    cr_expect(eq(u64, *e & (VT_BIT(3) | VT_BIT(4) | VT_BIT(7)), 0));
}

Test(protect, split_pages_keep_pat_index) {
    /* A 2 MiB page with PAT index 4 split into 4 KiB pages: the PAT bit moves from 12 to 7. */
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, M2, VMS_R | VMS_CACHE_PAT(4), 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, M2, K4, VMS_RW | VMS_CACHE_PAT(4)), VMS_OK));
    vt_expect_page(&sp, M2 + K4, M2 + K4, K4, K4, VMS_R | VMS_CACHE_PAT(4));
    int level;
    uint64_t *e = vt_walk(&sp, M2 + K4, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & VT_BIT(7), VT_BIT(7)));
    cr_expect(eq(u64, *e & VT_ADDR_BITS, K4));
}

Test(protect, unmapped_and_partly_mapped) {
    cr_assert(eq(int, vms_space_map(&sp, 0x4000, 0x4000, K4, VMS_R, 0), VMS_OK));
    uint64_t d = vt_digest(&sp);
    cr_expect(eq(int, vms_space_protect(&sp, G1, M2, VMS_RW), VMS_OK));
    cr_expect(eq(u64, vt_digest(&sp), d));
    cr_expect(eq(int, vms_space_protect(&sp, 0, M2, VMS_RW), VMS_OK));
    vt_expect_page(&sp, 0x4000, 0x4000, 0x4000, K4, VMS_RW);
    vt_expect_unmapped(&sp, 0x3000);
    vt_expect_unmapped(&sp, 0x5000);
    cr_expect(eq(sz, vt_count_mappings(&sp), 1));
}

/* A whole leaf table inside the range: every entry takes the new bits and keeps its own frame
 * and A/D bits, whether the table's entries all looked alike or not. */
Test(protect, whole_table_uniform_and_mixed) {
    const uint64_t pa = 0x4001000; /* not 2 MiB aligned: 512 small pages */
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2, pa, 3 * M2, VMS_RW, 0), VMS_OK));
    for (uint64_t k = 0; k < 512; k += 5) { /* A on some entries, A and D on others */
        int level;
        uint64_t *e = vt_walk(&sp, 4 * M2 + k * K4, &level, NULL);
        cr_assert(ne(ptr, e, NULL));
        *e |= k % 2 ? VT_BIT(5) : VT_BIT(5) | VT_BIT(6);
    }
    /* The second table differs in one entry; the third is already what is asked for in one. */
    cr_assert(eq(int, vms_space_protect(&sp, 5 * M2 + 17 * K4, K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 6 * M2 + 3 * K4, K4, VMS_RX), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 4 * M2, 3 * M2, VMS_R), VMS_OK));
    for (uint64_t k = 0; k < 3 * 512; k++) {
        uint64_t va = 4 * M2 + k * K4;
        vms_prop_t ad = 0;
        if (k < 512 && k % 5 == 0) ad = k % 2 ? VMS_ACCESSED : VMS_ACCESSED | VMS_DIRTY;
        vt_expect_page(&sp, va, va, pa + k * K4, K4, VMS_R | ad);
    }
    cr_assert(eq(int, vms_space_protect(&sp, 4 * M2, 3 * M2, VMS_R), VMS_OK)); /* no change */
    vt_expect_page(&sp, 6 * M2 + 3 * K4, 6 * M2 + 3 * K4, pa + 1027 * K4, K4, VMS_R);
    cr_expect(eq(sz, vt_count_mappings(&sp), 3 * 512));
}

/* Relative protect over whole leaf tables whose entries differ at the first slot, in the
 * middle and in the last: each entry keeps its own rights less the cleared ones. */
Test(protect, mask_whole_table_mixed) {
    const uint64_t pa = 0x4001000;
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2, pa, 3 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 4 * M2, K4, VMS_RWX), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 5 * M2 + 300 * K4, K4, VMS_RW | VMS_USER),
                 VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 6 * M2 + 511 * K4, K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&sp, 4 * M2, 3 * M2, VMS_GLOBAL, VMS_W), VMS_OK));
    for (uint64_t k = 0; k < 3 * 512; k++) {
        uint64_t va = 4 * M2 + k * K4;
        vms_prop_t want = VMS_R | VMS_GLOBAL;
        if (k == 0) want |= VMS_X;
        if (k == 512 + 300) want |= VMS_USER;
        vt_expect_page(&sp, va, va, pa + k * K4, K4, want);
    }
}
