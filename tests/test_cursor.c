/* The cursor: jump, query of empty slots, find_next, next, map of each page size,
 * protect_next, and runs of consecutive operations. */
#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(cursor, .init = setup4, .fini = teardown);
TestSuite(cursor5, .init = setup5, .fini = teardown);

static void expect_slot(vms_cursor_t *c, uint64_t va, uint64_t slot_va, uint64_t slot_size) {
    vms_mapping_t m;
    cr_assert(eq(int, vms_cursor_jump(c, va), VMS_OK), "jump %#llx", VT_ULL(va));
    int rc = vms_cursor_query(c, &m);
    cr_expect(eq(int, rc, VMS_ERR_NOENT), "query at %#llx: %s", VT_ULL(va), vms_err_name(rc));
    cr_expect(eq(u64, m.va, slot_va), "slot va at %#llx", VT_ULL(va));
    cr_expect(eq(u64, m.size, slot_size), "slot size at %#llx", VT_ULL(va));
    cr_expect(eq(u64, vms_cursor_addr(c), va), "query moved the cursor");
}

Test(cursor, query_empty_slots) {
    cr_assert(eq(int, vms_space_map(&sp, 0x200000, 0x9000, K4, VMS_RW, 0), VMS_OK));
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 2 * VT_SZ_512G), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0));
    expect_slot(&c, 0, 0, M2);
    expect_slot(&c, 0x201000, 0x201000, K4);
    expect_slot(&c, 0x3ff000, 0x3ff000, K4);
    expect_slot(&c, 0x400000, 0x400000, M2);
    expect_slot(&c, 0x40000000 + 0x5000, 0x40000000, G1);
    expect_slot(&c, VT_SZ_512G + 3 * M2, VT_SZ_512G, VT_SZ_512G);
    vms_mapping_t m;
    cr_assert(eq(int, vms_cursor_jump(&c, 0x200000), VMS_OK));
    cr_assert(eq(int, vms_cursor_query(&c, &m), VMS_OK));
    cr_expect(eq(u64, m.va, 0x200000));
    cr_expect(eq(u64, m.pa, 0x9000));
    cr_expect(eq(u64, m.size, K4));
    cr_expect(eq(u32, m.prop, VMS_RW));
    vms_cursor_close(&c);
}

Test(cursor5, query_empty_slot_5_levels) {
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 4 * VT_SZ_256T), VMS_OK));
    expect_slot(&c, 3 * VT_SZ_256T + G1, 3 * VT_SZ_256T, VT_SZ_256T);
    vms_cursor_close(&c);
    cr_assert(eq(int, vms_space_map(&sp, 0x00fffffffffff000, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x00ff000000000000, VT_SZ_256T), VMS_OK));
    expect_slot(&c, 0x00ff000000000000, 0x00ff000000000000, VT_SZ_512G);
    expect_slot(&c, 0x00fffffffffff000 - K4, 0x00fffffffffff000 - K4, K4);
    vms_cursor_close(&c);
}

Test(cursor, query_at_end) {
    cr_assert(eq(int, vms_space_map(&sp, 0x200000, 0, K4, VMS_RW, 0), VMS_OK));
    vms_cursor_t c;
    vms_mapping_t m;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x200000, K4), VMS_OK));
    cr_expect(vms_cursor_next(&c, &m));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x201000));
    cr_expect(eq(int, vms_cursor_query(&c, &m), VMS_ERR_RANGE));
    cr_expect(not(vms_cursor_next(&c, &m)));
    vms_cursor_close(&c);
}

Test(cursor, jump_errors) {
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, G1, G1), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, G1 + M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_jump(&c, G1 + M2 + 1), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_cursor_jump(&c, G1 - K4), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_jump(&c, 2 * G1 + K4), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_jump(&c, 0), VMS_ERR_RANGE));
    cr_expect(eq(u64, vms_cursor_addr(&c), G1 + M2), "failed jumps moved the cursor");
    cr_expect(eq(int, vms_cursor_jump(&c, 2 * G1 - K4), VMS_OK));
    cr_expect(eq(int, vms_cursor_jump(&c, G1), VMS_OK));
    vms_cursor_close(&c);
}

Test(cursor, map_each_size) {
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, G1, 2 * G1), VMS_OK));
    cr_expect(eq(int, vms_cursor_map(&c, 5 * G1, G1, VMS_RW, 0), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1));
    cr_expect(eq(int, vms_cursor_map(&c, 7 * M2, M2, VMS_R, 0), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1 + M2));
    cr_expect(eq(int, vms_cursor_map(&c, 0x3000, K4, VMS_RX, 0), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1 + M2 + K4));
    /* Now misaligned for the bigger sizes; a bad size; a misaligned frame. */
    cr_expect(eq(int, vms_cursor_map(&c, 0, M2, VMS_R, 0), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_cursor_map(&c, 0, G1, VMS_R, 0), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_cursor_map(&c, 0, 2 * K4, VMS_R, 0), VMS_ERR_PAGESIZE));
    cr_expect(eq(int, vms_cursor_map(&c, 0x800, K4, VMS_R, 0), VMS_ERR_ALIGN));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1 + M2 + K4));
    vms_cursor_close(&c);
    vt_expect_page(&sp, G1 + 0x12345, G1, 5 * G1, G1, VMS_RW);
    vt_expect_page(&sp, 2 * G1 + 0x12345, 2 * G1, 7 * M2, M2, VMS_R);
    vt_expect_page(&sp, 2 * G1 + M2, 2 * G1 + M2, 0x3000, K4, VMS_RX);
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[0], K4));
    cr_expect(eq(u64, st.mapped_bytes[1], M2));
    cr_expect(eq(u64, st.mapped_bytes[2], G1));
}

Test(cursor, map_exist_replace_and_range_end) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, M2, VMS_R, 0), VMS_OK));
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, M2, 2 * M2), VMS_OK));
    uint64_t d = vt_digest(&sp);
    cr_expect(eq(int, vms_cursor_map(&c, 0, K4, VMS_RW, 0), VMS_ERR_EXIST));
    cr_expect(eq(u64, vt_digest(&sp), d));
    cr_expect(eq(u64, vms_cursor_addr(&c), M2));
    cr_expect(eq(int, vms_cursor_map(&c, 0x55000, K4, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), M2 + K4));
    cr_assert(eq(int, vms_cursor_jump(&c, 3 * M2 - K4), VMS_OK));
    /* A 4 KiB page fits; past the end does not. */
    cr_expect(eq(int, vms_cursor_map(&c, 0, K4, VMS_RW, 0), VMS_OK));
    cr_expect(eq(int, vms_cursor_map(&c, 0, K4, VMS_RW, 0), VMS_ERR_RANGE));
    vms_cursor_close(&c);
    vt_expect_page(&sp, M2, M2, 0x55000, K4, VMS_RW);
    vt_expect_page(&sp, M2 + K4, M2 + K4, K4, K4, VMS_R);
    vt_expect_page(&sp, 3 * M2 - K4, 3 * M2 - K4, 0, K4, VMS_RW);
}

Test(cursor, find_next) {
    const uint64_t A = 0x5000, B = 0x400000, C = G1;
    cr_assert(eq(int, vms_space_map(&sp, A, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, B, 0, M2, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, C, 0, G1, VMS_R, 0), VMS_OK));
    vms_cursor_t c;
    uint64_t found = 0;
    const uint64_t end = 4 * G1;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, end), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, end, &found), VMS_OK));
    cr_expect(eq(u64, found, A));
    cr_expect(eq(u64, vms_cursor_addr(&c), A));
    /* Inside a mapping: the address itself. */
    cr_expect(eq(int, vms_cursor_find_next(&c, K4, &found), VMS_OK));
    cr_expect(eq(u64, found, A));
    cr_assert(eq(int, vms_cursor_jump(&c, B + 0x3000), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, K4, &found), VMS_OK));
    cr_expect(eq(u64, found, B + 0x3000));
    /* A window with nothing in it leaves the cursor at its end. */
    cr_assert(eq(int, vms_cursor_jump(&c, A + K4), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, 0x100000, &found), VMS_ERR_NOENT));
    cr_expect(eq(u64, vms_cursor_addr(&c), A + K4 + 0x100000));
    cr_expect(eq(int, vms_cursor_find_next(&c, end - vms_cursor_addr(&c), &found), VMS_OK));
    cr_expect(eq(u64, found, B));
    cr_assert(eq(int, vms_cursor_jump(&c, B + M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, end - vms_cursor_addr(&c), &found), VMS_OK));
    cr_expect(eq(u64, found, C));
    cr_assert(eq(int, vms_cursor_jump(&c, C + G1), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, end - vms_cursor_addr(&c), &found), VMS_ERR_NOENT));
    cr_expect(eq(u64, vms_cursor_addr(&c), end));
    vms_cursor_close(&c);
}

Test(cursor, find_next_across_tables) {
    /* Empty PDPT slots, an empty PML4 slot, then a page in the high half. */
    cr_assert(eq(int,
                 vms_space_map(&sp, 3 * VT_SZ_512G + 5 * G1 + 7 * M2 + 9 * K4, 0, K4, VMS_R, 0),
                 VMS_OK));
    vms_cursor_t c;
    uint64_t found = 0;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 0x0000800000000000), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, 0x0000800000000000, &found), VMS_OK));
    cr_expect(eq(u64, found, 3 * VT_SZ_512G + 5 * G1 + 7 * M2 + 9 * K4));
    vms_cursor_close(&c);
}

Test(cursor, next_walks_every_mapping) {
    cr_assert(eq(int, vms_space_map(&sp, G1 - 3 * K4, G1 - 3 * K4, G1 + 2 * M2 + 6 * K4, VMS_R, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 5 * G1, 0, K4, VMS_R, 0), VMS_OK));
    size_t n;
    vms_mapping_t *all = vt_enumerate(&sp, &n);
    vms_cursor_t c;
    vms_mapping_t m;
    size_t i = 0;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 8 * G1), VMS_OK));
    while (vms_cursor_next(&c, &m)) {
        cr_assert(lt(sz, i, n));
        cr_expect(eq(u64, m.va, all[i].va), "item %zu", i);
        cr_expect(eq(u64, m.size, all[i].size), "item %zu", i);
        cr_expect(eq(u64, m.pa, all[i].pa), "item %zu", i);
        cr_expect(eq(u64, vms_cursor_addr(&c), m.va + m.size), "cursor after item %zu", i);
        i++;
    }
    cr_expect(eq(sz, i, n));
    cr_expect(eq(sz, n, 3 + 1 + 2 + 3 + 1));
    vms_cursor_close(&c);
    free(all);
}

Test(cursor, protect_next) {
    cr_assert(eq(int, vms_space_map(&sp, 2 * M2, 8 * M2, 2 * M2, VMS_RW, 0), VMS_OK));
    vms_cursor_t c;
    vms_mapping_t done;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 2 * M2, 2 * M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_protect_next(&c, K4, VMS_R, &done), VMS_OK));
    cr_expect(eq(u64, done.va, 2 * M2));
    cr_expect(eq(u64, done.pa, 8 * M2));
    cr_expect(eq(u64, done.size, K4));
    cr_expect(eq(u32, done.prop, VMS_R));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * M2 + K4));
    cr_assert(eq(int, vms_cursor_jump(&c, 3 * M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_protect_next(&c, M2, VMS_RX, &done), VMS_OK));
    cr_expect(eq(u64, done.va, 3 * M2));
    cr_expect(eq(u64, done.size, M2));
    cr_expect(eq(u64, vms_cursor_addr(&c), 4 * M2));
    vms_cursor_close(&c);
    vt_expect_page(&sp, 2 * M2, 2 * M2, 8 * M2, K4, VMS_R);
    vt_expect_page(&sp, 2 * M2 + K4, 2 * M2 + K4, 8 * M2 + K4, K4, VMS_RW);
    vt_expect_page(&sp, 3 * M2 + K4, 3 * M2, 9 * M2, M2, VMS_RX);
    /* Nothing mapped: NOENT, cursor at the end of the window. */
    cr_assert(eq(int, vms_cursor_open(&c, &sp, G1, G1), VMS_OK));
    cr_expect(eq(int, vms_cursor_protect_next(&c, G1, VMS_R, &done), VMS_ERR_NOENT));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1));
    vms_cursor_close(&c);
}

Test(cursor, protect_next_in_steps) {
    /* Protect a 1 GiB page 2 MiB at a time with a window that starts in the middle. */
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, G1, VMS_RW, 0), VMS_OK));
    vms_cursor_t c;
    vms_mapping_t done;
    int steps = 0;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, G1 + 10 * M2, 4 * M2), VMS_OK));
    while (vms_cursor_addr(&c) < G1 + 14 * M2 &&
           vms_cursor_protect_next(&c, G1 + 14 * M2 - vms_cursor_addr(&c), VMS_R, &done) ==
               VMS_OK) {
        cr_expect(eq(u64, done.size, M2));
        cr_expect(eq(u64, done.va, G1 + (uint64_t)(10 + steps) * M2));
        steps++;
    }
    vms_cursor_close(&c);
    cr_expect(eq(int, steps, 4));
    vt_expect_page(&sp, G1 + 9 * M2, G1 + 9 * M2, 9 * M2, M2, VMS_RW);
    vt_expect_page(&sp, G1 + 10 * M2, G1 + 10 * M2, 10 * M2, M2, VMS_R);
    vt_expect_page(&sp, G1 + 13 * M2, G1 + 13 * M2, 13 * M2, M2, VMS_R);
    vt_expect_page(&sp, G1 + 14 * M2, G1 + 14 * M2, 14 * M2, M2, VMS_RW);
}

Test(cursor, consecutive_ops) {
    /* 1000 single pages across a 1 GiB edge, one cursor_map at a time. */
    const uint64_t start = G1 - 500 * K4;
    vms_cursor_t c;
    uint64_t unmapped = 0;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, start, 1000 * K4), VMS_OK));
    for (uint64_t i = 0; i < 1000; i++) {
        cr_assert(eq(int, vms_cursor_map(&c, 0x100000 + i * K4, K4, VMS_RW, 0), VMS_OK));
        cr_assert(eq(u64, vms_cursor_addr(&c), start + (i + 1) * K4));
    }
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], 1000 * K4));
    /* Root, PDPT, a PD on each side of the edge, and one PT on each side (500 pages are less
     * than 2 MiB). */
    cr_expect(eq(u64, vt_table_pages(&sp), 1 + 1 + 2 + 2));
    vt_expect_page(&sp, G1 + 499 * K4, G1 + 499 * K4, 0x100000 + 999 * K4, K4, VMS_RW);
    cr_assert(eq(int, vms_cursor_jump(&c, start + 100 * K4), VMS_OK));
    cr_expect(eq(int, vms_cursor_protect(&c, 800 * K4, VMS_R), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), start + 900 * K4));
    cr_assert(eq(int, vms_cursor_jump(&c, start), VMS_OK));
    cr_expect(eq(int, vms_cursor_unmap(&c, 1000 * K4, &unmapped), VMS_OK));
    cr_expect(eq(u64, unmapped, 1000 * K4));
    cr_expect(eq(u64, vms_cursor_addr(&c), start + 1000 * K4));
    vms_cursor_close(&c);
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
    cr_expect(eq(u64, vt_mapped_total(&sp), 0));
}

Test(cursor, map_range_protect_unmap) {
    vms_cursor_t c;
    uint64_t unmapped = 0;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, G1, 2 * G1), VMS_OK));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0, G1 + M2 + K4, VMS_RW, 0), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 2 * G1 + M2 + K4));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0, G1, VMS_RW, 0), VMS_ERR_RANGE));
    cr_assert(eq(int, vms_cursor_jump(&c, G1 + M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_protect(&c, M2, VMS_R), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), G1 + 2 * M2));
    cr_assert(eq(int, vms_cursor_jump(&c, 2 * G1), VMS_OK));
    cr_expect(eq(int, vms_cursor_unmap(&c, G1, &unmapped), VMS_OK));
    cr_expect(eq(u64, unmapped, M2 + K4));
    cr_expect(eq(u64, vms_cursor_addr(&c), 3 * G1));
    vms_cursor_close(&c);
    vt_expect_page(&sp, G1, G1, 0, M2, VMS_RW);
    vt_expect_page(&sp, G1 + M2, G1 + M2, M2, M2, VMS_R);
    vt_expect_page(&sp, G1 + 2 * M2, G1 + 2 * M2, 2 * M2, M2, VMS_RW);
    vt_expect_unmapped(&sp, 2 * G1);
    cr_expect(eq(u64, vt_mapped_total(&sp), G1));
}

/* Page after page into one cursor, as a fault handler or a loader maps: across table
 * boundaries, into slots already used, with a changing property and with bad arguments in
 * the middle. Each call does what a lone call would; a refused one changes nothing. */
Test(cursor, map_page_by_page) {
    const uint64_t base = 4 * M2 - 8 * K4, n = 1040, pa0 = 0x7000000;
    cr_assert(eq(int, vms_space_map(&sp, base + 20 * K4, 0x100000, K4, VMS_R, 0), VMS_OK));
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, base, n * K4), VMS_OK));
    for (uint64_t k = 0; k < n; k++) {
        vms_prop_t prop = k % 300 < 150 ? VMS_RW : VMS_R | VMS_USER;
        if (k == 20) {
            cr_expect(eq(int, vms_cursor_map(&c, pa0 + k * K4, K4, prop, 0), VMS_ERR_EXIST));
            cr_expect(eq(u64, vms_cursor_addr(&c), base + k * K4), "a refused map moved");
            cr_assert(eq(int, vms_cursor_jump(&c, base + (k + 1) * K4), VMS_OK));
            continue;
        }
        if (k == 40) {
            cr_expect(eq(int, vms_cursor_map(&c, pa0 + k * K4 + 8, K4, prop, 0), VMS_ERR_ALIGN));
            cr_expect(eq(int, vms_cursor_map(&c, pa0, K4, prop | 0x800u, 0), VMS_ERR_FLAGS));
            cr_expect(eq(int, vms_cursor_map(&c, sp.phys_limit, K4, prop, 0), VMS_ERR_PHYS));
            cr_expect(eq(int, vms_cursor_map(&c, pa0, K4, prop, 0x80000000u), VMS_ERR_FLAGS));
        }
        cr_assert(eq(int, vms_cursor_map(&c, pa0 + k * K4, K4, prop, 0), VMS_OK), "page %llu",
                  VT_ULL(k));
    }
    cr_expect(eq(int, vms_cursor_map(&c, pa0, K4, VMS_RW, 0), VMS_ERR_RANGE), "past the end");
    vms_cursor_close(&c);
    for (uint64_t k = 0; k < n; k++) {
        uint64_t va = base + k * K4;
        if (k == 20)
            vt_expect_page(&sp, va, va, 0x100000, K4, VMS_R);
        else
            vt_expect_page(&sp, va, va, pa0 + k * K4, K4,
                           k % 300 < 150 ? VMS_RW : VMS_R | VMS_USER);
    }
    cr_expect(eq(sz, vt_count_mappings(&sp), n));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], n * K4));
    /* The last page below the physical limit is accepted, in the middle of a table too. */
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 64 * M2 + 5 * K4, K4), VMS_OK));
    cr_expect(eq(int, vms_space_map(&sp, 64 * M2, 0, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_cursor_map(&c, sp.phys_limit - K4, K4, VMS_R, 0), VMS_OK));
    vms_cursor_close(&c);
    vt_expect_page(&sp, 64 * M2 + 5 * K4, 64 * M2 + 5 * K4, sp.phys_limit - K4, K4, VMS_R);
}
