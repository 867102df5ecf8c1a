/* Range map: largest-page choice, caps, EXIST, REPLACE and the address-space edges. */
#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(map, .init = setup4, .fini = teardown);
TestSuite(map5, .init = setup5, .fini = teardown);

Test(map, largest_pages) {
    /* 1 GiB + 2 MiB + 4 KiB at a 1 GiB-aligned VA and PA: one leaf of each size. */
    cr_assert(eq(int, vms_space_map(&sp, G1, 3 * G1, G1 + M2 + K4, VMS_RW, 0), VMS_OK));
    vt_expect_page(&sp, G1, G1, 3 * G1, G1, VMS_RW);
    vt_expect_page(&sp, 2 * G1 - K4, G1, 3 * G1, G1, VMS_RW);
    vt_expect_page(&sp, 2 * G1, 2 * G1, 4 * G1, M2, VMS_RW);
    vt_expect_page(&sp, 2 * G1 + M2, 2 * G1 + M2, 4 * G1 + M2, K4, VMS_RW);
    vt_expect_unmapped(&sp, 2 * G1 + M2 + K4);
    vt_expect_unmapped(&sp, G1 - K4);
    cr_expect(eq(sz, vt_count_mappings(&sp), 3));
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[0], K4));
    cr_expect(eq(u64, st.mapped_bytes[1], M2));
    cr_expect(eq(u64, st.mapped_bytes[2], G1));
    /* Root, one PDPT, one PD (for the 2 MiB and the table of the 4 KiB), one PT. */
    cr_expect(eq(u64, st.table_pages, 4));
    /* The 1 GiB leaf sits in the PDPT with PS (bit 7) set. */
    int level;
    uint64_t *e = vt_walk(&sp, G1, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(int, level, 3));
    cr_expect(eq(u64, *e & VT_BIT(7), VT_BIT(7)));
}

Test(map, leading_and_trailing_small_pages) {
    /* Starts 4 KiB below a 2 MiB edge: 4K, then 2M, then 4K. */
    cr_assert(eq(int, vms_space_map(&sp, M2 - K4, M2 - K4, K4 + M2 + K4, VMS_R, 0), VMS_OK));
    vt_expect_page(&sp, M2 - K4, M2 - K4, M2 - K4, K4, VMS_R);
    vt_expect_page(&sp, M2 + 0x1000, M2, M2, M2, VMS_R);
    vt_expect_page(&sp, 2 * M2, 2 * M2, 2 * M2, K4, VMS_R);
    cr_expect(eq(sz, vt_count_mappings(&sp), 3));
}

Test(map, misaligned_pa_falls_back) {
    /* VA 1 GiB aligned, PA only 2 MiB aligned: 2 MiB leaves. */
    cr_assert(eq(int, vms_space_map(&sp, G1, G1 + M2, G1, VMS_RW, 0), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&sp), 512));
    vt_expect_page(&sp, G1 + 5 * M2 + 0x10000, G1 + 5 * M2, G1 + 6 * M2, M2, VMS_RW);
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], G1));
    /* VA 2 MiB aligned, PA only 4 KiB aligned: 4 KiB leaves. */
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 0x7000, 2 * M2, VMS_RW, 0), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&sp), 512 + 1024));
    vt_expect_page(&sp, 4 * G1 + M2, 4 * G1 + M2, 0x7000 + M2, K4, VMS_RW);
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], 2 * M2));
}

Test(map, pa_offset_within_huge_page) {
    /* PA and VA 1 GiB aligned but with different 2 MiB offsets never give huge pages. */
    cr_assert(eq(int, vms_space_map(&sp, 0, K4, 4 * M2, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], 4 * M2));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], 0));
}

Test(map, caps) {
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_RW, VMS_MAP_MAX_2M), VMS_OK));
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[2], 0));
    cr_expect(eq(u64, st.mapped_bytes[1], G1));
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 4 * G1, 2 * M2, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[0], 2 * M2));
    cr_expect(eq(u64, st.mapped_bytes[1], G1));
    vt_expect_page(&sp, 4 * G1 + M2, 4 * G1 + M2, 4 * G1 + M2, K4, VMS_RW);
    /* Both caps: the smaller wins. */
    cr_assert(eq(int,
                 vms_space_map(&sp, 8 * G1, 8 * G1, M2, VMS_R, VMS_MAP_MAX_4K | VMS_MAP_MAX_2M),
                 VMS_OK));
    vt_expect_page(&sp, 8 * G1, 8 * G1, 8 * G1, K4, VMS_R);
}

Test(map, exist_changes_nothing) {
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x90000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_R, 0), VMS_OK));
    uint64_t d = vt_digest(&sp);
    /* Overlapping in the middle, at the last page only, at the first page only. */
    cr_expect(eq(int, vms_space_map(&sp, 0xe000, 0x1000, 0x4000, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, vms_space_map(&sp, 0xf000, 0x1000, 0x2000, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, vms_space_map(&sp, 0x10000, 0x1000, 0x2000, VMS_RW, 0), VMS_ERR_EXIST));
    /* Inside a 1 GiB page, and a range whose earlier part is free (no partial map). */
    cr_expect(eq(int, vms_space_map(&sp, G1 + M2, 0, K4, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, vms_space_map(&sp, G1 - 4 * M2, 0, 5 * M2, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, vms_space_map(&sp, 0, 0, 2 * G1, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(u64, vt_digest(&sp), d));
    vt_expect_unmapped(&sp, G1 - 4 * M2);
    vt_expect_unmapped(&sp, 0xe000);
}

Test(map, replace_small_pages) {
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x90000, 4 * K4, VMS_R, 0), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&sp, 0xf000, 0x500000, 3 * K4, VMS_RWX, VMS_MAP_REPLACE), VMS_OK));
    vt_expect_page(&sp, 0xf000, 0xf000, 0x500000, K4, VMS_RWX);
    vt_expect_page(&sp, 0x11000, 0x11000, 0x502000, K4, VMS_RWX);
    vt_expect_page(&sp, 0x12000, 0x12000, 0x92000, K4, VMS_R);
    vt_expect_page(&sp, 0x13000, 0x13000, 0x93000, K4, VMS_R);
    cr_expect(eq(sz, vt_count_mappings(&sp), 5));
    cr_expect(eq(u64, vt_mapped_total(&sp), 5 * K4));
    /* REPLACE over nothing is an ordinary map. */
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, K4, VMS_R, VMS_MAP_REPLACE), VMS_OK));
    vt_expect_page(&sp, G1, G1, 0, K4, VMS_R);
}

Test(map, replace_inside_1g_page) {
    const uint64_t P = 7 * G1;
    cr_assert(eq(int, vms_space_map(&sp, G1, P, G1, VMS_RW | VMS_USER, 0), VMS_OK));
    uint64_t before = vt_table_pages(&sp);
    cr_assert(
        eq(int, vms_space_map(&sp, G1 + M2 + K4, 0x123000, K4, VMS_R, VMS_MAP_REPLACE), VMS_OK));
    /* The 1 GiB page became 511 2 MiB pages and one 2 MiB page became 512 4 KiB pages, one of
     * them the new mapping; everything else still translates to the old frames. */
    vt_expect_page(&sp, G1, G1, P, M2, VMS_RW | VMS_USER);
    vt_expect_page(&sp, G1 + M2, G1 + M2, P + M2, K4, VMS_RW | VMS_USER);
    vt_expect_page(&sp, G1 + M2 + K4, G1 + M2 + K4, 0x123000, K4, VMS_R);
    vt_expect_page(&sp, G1 + M2 + 2 * K4, G1 + M2 + 2 * K4, P + M2 + 2 * K4, K4, VMS_RW | VMS_USER);
    vt_expect_page(&sp, 2 * G1 - 1, 2 * G1 - M2, P + G1 - M2, M2, VMS_RW | VMS_USER);
    cr_expect(eq(sz, vt_count_mappings(&sp), 511 + 512));
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[0], M2));
    cr_expect(eq(u64, st.mapped_bytes[1], G1 - M2));
    cr_expect(eq(u64, st.mapped_bytes[2], 0));
    cr_expect(eq(u64, st.table_pages, before + 2));
}

Test(map, replace_2m_pages_partially) {
    /* Two 2 MiB pages; replace a range from the middle of the first to the middle of the
     * second with 4 KiB-aligned frames. */
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2, 10 * M2, 2 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int,
                 vms_space_map(&sp, 5 * M2 - 3 * K4, 0x40000000, 5 * K4, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK));
    vt_expect_page(&sp, 4 * M2, 4 * M2, 10 * M2, K4, VMS_RW);
    vt_expect_page(&sp, 5 * M2 - 4 * K4, 5 * M2 - 4 * K4, 11 * M2 - 4 * K4, K4, VMS_RW);
    vt_expect_page(&sp, 5 * M2 - 3 * K4, 5 * M2 - 3 * K4, 0x40000000, K4, VMS_R);
    vt_expect_page(&sp, 5 * M2 + K4, 5 * M2 + K4, 0x40004000, K4, VMS_R);
    vt_expect_page(&sp, 5 * M2 + 2 * K4, 5 * M2 + 2 * K4, 11 * M2 + 2 * K4, K4, VMS_RW);
    cr_expect(eq(sz, vt_count_mappings(&sp), 1024));
    cr_expect(eq(u64, vt_mapped_total(&sp), 2 * M2));
}

Test(map, replace_table_with_huge_page) {
    /* A 2 MiB leaf replacing a page table of 4 KiB leaves frees that table. */
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, 16 * K4, VMS_R, 0), VMS_OK));
    uint64_t before = vt_table_pages(&sp);
    cr_assert(eq(int, vms_space_map(&sp, M2, 4 * M2, M2, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    vt_expect_page(&sp, M2 + 5 * K4, M2, 4 * M2, M2, VMS_RW);
    cr_expect(eq(u64, vt_table_pages(&sp), before - 1));
    /* And a 1 GiB leaf replacing a directory with tables below it frees both. */
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, G1, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 2));
    cr_expect(eq(sz, vt_count_mappings(&sp), 1));
}

Test(map, edges_4_levels) {
    cr_assert(eq(int, vms_space_map(&sp, 0, 0x1000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x00007ffffffff000, 0x2000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xffff800000000000, 0x3000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xfffffffffffff000, 0x4000, K4, VMS_R, 0), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&sp, 0x00007fffc0000000, G1, G1, VMS_R, VMS_MAP_REPLACE), VMS_OK));
    vt_expect_page(&sp, 0xfff, 0, 0x1000, K4, VMS_R);
    vt_expect_page(&sp, 0x00007fffffffffff, 0x00007fffc0000000, G1, G1, VMS_R);
    vt_expect_page(&sp, 0xffff800000000000, 0xffff800000000000, 0x3000, K4, VMS_R);
    vt_expect_page(&sp, 0xffffffffffffffff, 0xfffffffffffff000, 0x4000, K4, VMS_R);
    vt_expect_unmapped(&sp, 0xffff800000001000);
    vt_expect_unmapped(&sp, 0xffffffffffffe000);
    /* The whole range up to the end of the address space. */
    cr_assert(eq(int,
                 vms_space_map(&sp, 0xffffffffc0000000, 0x80000000, G1, VMS_RW, VMS_MAP_REPLACE),
                 VMS_OK));
    vt_expect_page(&sp, 0xfffffffffffff000, 0xffffffffc0000000, 0x80000000, G1, VMS_RW);
    /* Enumeration: lower half first, then the high half, each in VA order. */
    size_t n;
    vms_mapping_t *v = vt_enumerate(&sp, &n);
    cr_assert(eq(sz, n, 4));
    cr_expect(eq(u64, v[0].va, 0));
    cr_expect(eq(u64, v[1].va, 0x00007fffc0000000));
    cr_expect(eq(u64, v[2].va, 0xffff800000000000));
    cr_expect(eq(u64, v[3].va, 0xffffffffc0000000));
    free(v);
}

Test(map5, edges_5_levels) {
    cr_assert(eq(int, vms_space_map(&sp, 0x00fffffffffff000, 0x2000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xff00000000000000, 0x3000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x0000800000000000, 0, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x0001000000000000 - M2, 0, 2 * M2, VMS_RW, 0), VMS_OK));
    vt_expect_page(&sp, 0x00fffffffffff123, 0x00fffffffffff000, 0x2000, K4, VMS_R);
    vt_expect_page(&sp, 0xff00000000000fff, 0xff00000000000000, 0x3000, K4, VMS_R);
    vt_expect_page(&sp, 0x0000800000000000 + G1 - 1, 0x0000800000000000, 0, G1, VMS_RW);
    vt_expect_page(&sp, 0x0001000000000000, 0x0001000000000000, M2, M2, VMS_RW);
    vt_expect_page(&sp, 0x0000ffffffe00000, 0x0000ffffffe00000, 0, M2, VMS_RW);
    /* The 2 MiB page above 2^48 sits under PML5 entry 1; find it by hand. */
    const uint64_t *root = vms_space_table(&sp, sp.root_pa);
    cr_expect(eq(u64, root[1] & 7, 7));
    cr_expect(eq(u64, root[255] & 7, 7));
    cr_expect(eq(u64, root[256] & 7, 7));
    cr_expect(eq(u64, root[2], 0));
    /* Root; PML4+PDPT+PD+PT for each 4 KiB page; PML4 0 + PDPT for the 1 GiB page; a PDPT
     * and PD under PML4 0 for the 2 MiB page below 2^48; PML4+PDPT+PD above 2^48. */
    cr_expect(eq(u64, vt_table_pages(&sp), 1 + 4 + 4 + 2 + 2 + 3));
}

Test(map5, above_47_bits) {
    /* Addresses that are non-canonical with 4 levels work with 5. */
    const uint64_t va = 0x00ab000000000000;
    cr_assert(eq(int, vms_space_map(&sp, va, G1, G1 + K4, VMS_RX, 0), VMS_OK));
    vt_expect_page(&sp, va + 0x12345678, va, G1, G1, VMS_RX);
    vt_expect_page(&sp, va + G1, va + G1, 2 * G1, K4, VMS_RX);
    int level;
    uint64_t *e = vt_walk(&sp, va, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(int, level, 3));
}

Test(map, across_512g_boundary) {
    cr_assert(eq(int, vms_space_map(&sp, VT_SZ_512G - 2 * K4, 0, 4 * K4, VMS_R, 0), VMS_OK));
    /* Root, and PDPT + PD + PT on each side. */
    cr_expect(eq(u64, vt_table_pages(&sp), 7));
    vt_expect_page(&sp, VT_SZ_512G + K4, VT_SZ_512G + K4, 3 * K4, K4, VMS_R);
    const uint64_t *root = vms_space_table(&sp, sp.root_pa);
    cr_expect(eq(u64, root[0] & 7, 7));
    cr_expect(eq(u64, root[1] & 7, 7));
}

Test(map, no_access_mapping) {
    cr_assert(eq(int, vms_space_map(&sp, 0x5000, 0x9000, K4, 0, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, M2, 2 * M2, M2, VMS_W | VMS_X, 0), VMS_OK));
    vt_expect_page(&sp, 0x5000, 0x5000, 0x9000, K4, 0);
    vt_expect_page(&sp, M2 + K4, M2, 2 * M2, M2, VMS_W | VMS_X);
    int level;
    uint64_t *e = vt_walk(&sp, 0x5000, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & 1, 0));
    cr_expect(eq(u64, *e & VT_ADDR_BITS, 0x9000));
    /* Still a mapping: mapping over it is EXIST. */
    cr_expect(eq(int, vms_space_map(&sp, 0x5000, 0, K4, VMS_R, 0), VMS_ERR_EXIST));
}

Test(map, phys_limit_edge) {
    cr_expect(eq(int, vms_space_map(&sp, 0, VMS_PHYS_LIMIT - K4, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_space_map(&sp, G1, VMS_PHYS_LIMIT - G1, G1, VMS_R, 0), VMS_OK));
    vt_expect_page(&sp, G1, G1, VMS_PHYS_LIMIT - G1, G1, VMS_R);
}

Test(map, stats_count_tables) {
    /* 4 MiB + 4 KiB of 4 KiB pages starting 4 KiB below a 2 MiB edge: 4 page tables. */
    cr_assert(
        eq(int, vms_space_map(&sp, M2 - K4, 0, 2 * M2 + 2 * K4, VMS_R, VMS_MAP_MAX_4K), VMS_OK));
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.table_pages, 1 + 1 + 1 + 4));
    cr_expect(eq(u64, st.mapped_bytes[0], 2 * M2 + 2 * K4));
    cr_expect(eq(u64, vt_count_tables(&sp), st.table_pages));
}
