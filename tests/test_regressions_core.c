/* Regression tests named after the bugs they caught. */
#include <criterion/criterion.h>

#include "vmspace.h"

#define G1 ((uint64_t)1 << 30)

/* Two 1 GiB pages at 1 GiB and a 2 MiB page at 3 GiB. */
static void huge_space(vms_space_t *s) {
    cr_assert_eq(vms_space_init(s, NULL), VMS_OK);
    cr_assert_eq(vms_space_map(s, G1, G1, 2 * G1, VMS_RW, 0), VMS_OK);
    cr_assert_eq(vms_space_map(s, 3 * G1, 0, 0x200000, VMS_RW, 0), VMS_OK);
}

/* Caught: unmap reserved a split for each edge even when both edges cut the same huge page,
 * so with exactly enough free frames it failed with VMS_ERR_NOMEM. Now an arena that fails
 * on the first allocation past the splits the unmap really makes must still let it through. */
Test(regressions, unmap_reserves_exactly_the_splits_it_makes) {
    static const uint64_t cases[][2] = {
        {G1 + 0x1000, G1 + 0x2000},   {G1 + 0x1000, G1 + 0x201000}, {G1 + 0x200000, G1 + 0x400000},
        {G1 + 0x1000, 2 * G1},        {G1, G1 + 0x1000},            {G1 + 0x1000, 2 * G1 + 0x1000},
        {G1 + 0x3000, 3 * G1 - 0x1000}, {3 * G1 + 0x1000, 3 * G1 + 0x3000}};
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vms_space_t s;
        uint64_t before, used, len = cases[i][1] - cases[i][0];
        huge_space(&s);
        before = s.arena.frames_in_use;
        cr_assert_eq(vms_space_unmap(&s, cases[i][0], len), VMS_OK);
        used = s.arena.frames_in_use - before;
        cr_expect_gt(used, 0, "case %u splits nothing", i);
        cr_assert_eq(vms_space_destroy(&s), VMS_OK);

        huge_space(&s);
        s.arena.fail_after = used + 1;
        cr_expect_eq(vms_space_unmap(&s, cases[i][0], len), VMS_OK, "case %u", i);
        cr_expect_eq(s.arena.frames_in_use - before, used, "case %u", i);
        cr_assert_eq(vms_space_destroy(&s), VMS_OK);
    }
}

/* Caught: the dry run of a replacing map took the table a split creates for an empty one,
 * so a 4 KiB replace inside a 1 GiB page ran out of reserved frames and crashed. */
Test(regressions, replace_inside_1g_page_counts_both_splits) {
    vms_space_t s;
    vms_mapping_t m;
    uint64_t pa;
    cr_assert_eq(vms_space_init(&s, NULL), VMS_OK);
    cr_assert_eq(vms_space_map(&s, G1, G1, G1, VMS_RW, 0), VMS_OK);
    cr_assert_eq(vms_space_map(&s, G1 + 0x201000, 0x123000, 0x1000, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK);
    cr_assert_eq(vms_space_query(&s, G1 + 0x201000, &m), VMS_OK);
    cr_expect_eq(m.size, 0x1000);
    cr_expect_eq(m.pa, 0x123000);
    cr_expect(vms_translate(&s, G1 + 0x202008, &pa));
    cr_expect_eq(pa, G1 + 0x202008);
    cr_expect(vms_translate(&s, G1 + 0x400000, &pa));
    cr_expect_eq(pa, G1 + 0x400000);
    cr_assert_eq(vms_space_destroy(&s), VMS_OK);
}
