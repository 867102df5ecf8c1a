/* Unmap: splitting huge pages covered in part, freeing emptied tables, unmapping nothing. */
#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(unmap, .init = setup4, .fini = teardown);
TestSuite(unmap5, .init = setup5, .fini = teardown);

Test(unmap, split_1g_page_into_2m_and_4k) {
    const uint64_t P = 5 * G1;
    cr_assert(eq(int, vms_space_map(&sp, G1, P, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + 3 * M2 + 5 * K4, 2 * K4), VMS_OK));
    vt_expect_page(&sp, G1, G1, P, M2, VMS_RW);
    vt_expect_page(&sp, G1 + 3 * M2, G1 + 3 * M2, P + 3 * M2, K4, VMS_RW);
    vt_expect_page(&sp, G1 + 3 * M2 + 4 * K4, G1 + 3 * M2 + 4 * K4, P + 3 * M2 + 4 * K4, K4,
                   VMS_RW);
    vt_expect_unmapped(&sp, G1 + 3 * M2 + 5 * K4);
    vt_expect_unmapped(&sp, G1 + 3 * M2 + 6 * K4 - 1);
    vt_expect_page(&sp, G1 + 3 * M2 + 7 * K4, G1 + 3 * M2 + 7 * K4, P + 3 * M2 + 7 * K4, K4,
                   VMS_RW);
    vt_expect_page(&sp, 2 * G1 - 1, 2 * G1 - M2, P + G1 - M2, M2, VMS_RW);
    cr_expect(eq(sz, vt_count_mappings(&sp), 511 + 510));
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[2], 0));
    cr_expect(eq(u64, st.mapped_bytes[1], G1 - M2));
    cr_expect(eq(u64, st.mapped_bytes[0], M2 - 2 * K4));
    /* Root, PDPT, the new PD and the new PT. */
    cr_expect(eq(u64, st.table_pages, 4));
}

Test(unmap, split_1g_page_into_2m_only) {
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + 4 * M2, 2 * M2), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&sp), 510));
    vt_expect_page(&sp, G1 + 3 * M2, G1 + 3 * M2, G1 + 3 * M2, M2, VMS_R);
    vt_expect_unmapped(&sp, G1 + 4 * M2);
    vt_expect_unmapped(&sp, G1 + 6 * M2 - K4);
    vt_expect_page(&sp, G1 + 6 * M2, G1 + 6 * M2, G1 + 6 * M2, M2, VMS_R);
    cr_expect(eq(u64, vt_table_pages(&sp), 3));
}

Test(unmap, split_2m_page_in_part) {
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2, 8 * M2, M2, VMS_RX, 0), VMS_OK));
    /* Unmap the first half. */
    cr_assert(eq(int, vms_space_unmap(&sp, 4 * M2, M2 / 2), VMS_OK));
    vt_expect_unmapped(&sp, 4 * M2);
    vt_expect_unmapped(&sp, 4 * M2 + M2 / 2 - K4);
    vt_expect_page(&sp, 4 * M2 + M2 / 2, 4 * M2 + M2 / 2, 8 * M2 + M2 / 2, K4, VMS_RX);
    vt_expect_page(&sp, 5 * M2 - 1, 5 * M2 - K4, 9 * M2 - K4, K4, VMS_RX);
    cr_expect(eq(sz, vt_count_mappings(&sp), 256));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], M2 / 2));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], 0));
}

Test(unmap, range_over_both_edges) {
    /* Two 1 GiB pages; unmap from inside the first to inside the second. */
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, 2 * G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 2 * G1 - K4, 2 * K4), VMS_OK));
    vt_expect_page(&sp, 2 * G1 - 2 * K4, 2 * G1 - 2 * K4, G1 - 2 * K4, K4, VMS_RW);
    vt_expect_unmapped(&sp, 2 * G1 - K4);
    vt_expect_unmapped(&sp, 2 * G1);
    vt_expect_page(&sp, 2 * G1 + K4, 2 * G1 + K4, G1 + K4, K4, VMS_RW);
    vt_expect_page(&sp, 2 * G1 + M2, 2 * G1 + M2, G1 + M2, M2, VMS_RW);
    cr_expect(eq(u64, vt_mapped_total(&sp), 2 * G1 - 2 * K4));
    cr_expect(eq(sz, vt_count_mappings(&sp), 2 * (511 + 511)));
    cr_expect(eq(u64, vt_table_pages(&sp), 1 + 1 + 2 + 2));
}

Test(unmap, nothing_is_ok) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, K4, VMS_R, 0), VMS_OK));
    uint64_t d = vt_digest(&sp);
    cr_expect(eq(int, vms_space_unmap(&sp, 0, M2), VMS_OK));
    cr_expect(eq(int, vms_space_unmap(&sp, M2 + K4, M2), VMS_OK));
    cr_expect(eq(int, vms_space_unmap(&sp, 0xffff800000000000, G1), VMS_OK));
    cr_expect(eq(u64, vt_digest(&sp), d));
}

Test(unmap, frees_tables) {
    cr_assert(eq(int, vms_space_map(&sp, 0x12345000, 0, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 4));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x12345000, K4), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
    const uint64_t *root = vms_space_table(&sp, sp.root_pa);
    for (int i = 0; i < 512; i++) cr_expect(eq(u64, root[i], 0), "root[%d]", i);
    /* Only the emptied ones go: two pages in different tables under one directory. */
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 5));
    cr_assert(eq(int, vms_space_unmap(&sp, M2, K4), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 4));
    vt_expect_page(&sp, 0, 0, 0, K4, VMS_R);
    /* A 1 GiB leaf alone in its PDPT. */
    cr_assert(eq(int, vms_space_unmap(&sp, 0, K4), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 3 * G1, 0, G1, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 2));
    cr_assert(eq(int, vms_space_unmap(&sp, 0, VT_SZ_512G), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
}

Test(unmap, split_then_unmap_rest_frees_split_tables) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, G1, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + K4, K4), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 4));
    cr_assert(eq(int, vms_space_unmap(&sp, G1, K4), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + 2 * K4, G1 - 2 * K4), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
    cr_expect(eq(u64, vt_mapped_total(&sp), 0));
}

Test(unmap5, high_addresses) {
    const uint64_t va = 0x00f0000000000000;
    cr_assert(eq(int, vms_space_map(&sp, va, 0, G1 + M2 + K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xff00000000000000, 0, M2, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1 + 3 + 1 + 3));
    cr_assert(eq(int, vms_space_unmap(&sp, va + K4, G1), VMS_OK));
    vt_expect_page(&sp, va, va, 0, K4, VMS_R);
    vt_expect_unmapped(&sp, va + K4);
    vt_expect_page(&sp, va + G1 + K4, va + G1 + K4, G1 + K4, K4, VMS_R);
    vt_expect_page(&sp, va + G1 + M2, va + G1 + M2, G1 + M2, K4, VMS_R);
    cr_assert(eq(int, vms_space_unmap(&sp, va, 2 * G1), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0xff00000000000000, 0x0100000000000000), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
    cr_expect(eq(u64, vt_mapped_total(&sp), 0));
}

Test(unmap, whole_lower_half_and_high_half) {
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 3 * M2, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x00007ffffffff000, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xfffffffffffff000, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 0x0000800000000000), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&sp), 1));
    cr_assert(eq(int, vms_space_unmap(&sp, 0xffff800000000000, 0x0000800000000000), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&sp), 0));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
}
