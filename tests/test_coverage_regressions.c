/* Regression tests for bugs the fuzzer (tests/fuzz) found, one per bug, named after what it
 * caught. Each replays the smallest sequence that showed the bug, written with the public API. */
#include "support/vt_cr.h"

/* vms_cursor_protect_next splits a huge page one level at a time. When the frame for a later
 * split could not be had, the earlier split stayed: VMS_ERR_NOMEM with the 1 GiB page turned
 * into 2 MiB pages. Every failing allocation point must leave the tables as they were. */
Test(regressions, protect_next_nomem_keeps_split) {
    for (uint64_t k = 1; k <= 3; k++) {
        vms_space_t s;
        vms_cursor_t c;
        vms_mapping_t done;
        cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)8 << 20), VMS_OK));
        cr_assert(
            eq(int, vms_space_map(&s, VT_SZ_1G, (uint64_t)4 << 30, VT_SZ_1G, VMS_R, 0), VMS_OK));
        uint64_t before = vt_digest(&s);
        cr_assert(eq(int, vms_cursor_open(&c, &s, VT_SZ_1G + 0x1000, 0x1000), VMS_OK));
        s.arena.fail_after = k; /* fail the k-th allocation from here */
        int rc = vms_cursor_protect_next(&c, 0x1000, VMS_RW, &done);
        s.arena.fail_after = 0;
        vms_cursor_close(&c);
        if (rc == VMS_ERR_NOMEM) {
            cr_expect(eq(u64, vt_digest(&s), before), "fail point %llu: tables changed", VT_ULL(k));
            vt_expect_page(&s, VT_SZ_1G, VT_SZ_1G, (uint64_t)4 << 30, VT_SZ_1G, VMS_R);
        } else {
            /* Enough frames: the one page is protected, split down to 4 KiB. */
            cr_expect(eq(int, rc, VMS_OK), "fail point %llu: %s", VT_ULL(k), vms_err_name(rc));
            vt_expect_page(&s, VT_SZ_1G + 0x1000, VT_SZ_1G + 0x1000, ((uint64_t)4 << 30) + 0x1000,
                           0x1000, VMS_RW);
        }
        vt_expect_wellformed(&s);
        cr_expect(eq(u64, s.arena.frames_in_use, vt_table_pages(&s)), "frames leaked");
        cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
    }
}
