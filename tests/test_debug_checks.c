/* Under VMSPACE_DEBUG every mutating call of vmspace.h ends with a check of the tables it
 * touched, and the checker enforces the space's physical-address width. This file holds a
 * private copy of the library whose VMS_ASSERT counts failures instead of trapping, so a
 * table broken by hand shows up at the next call that touches it, and only there. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

static int assert_failures;
#define VMS_ASSERT(c) ((c) ? (void)0 : (void)assert_failures++)
#define VMSPACE_STATIC
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#define K4 ((uint64_t)0x1000)
#define BIT(n) ((uint64_t)1 << (n))

static vms_space_t sp;

static void init40(void) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.arena.size = 8 << 20;
    d.phys_bits = 40;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    assert_failures = 0;
}

/* The leaf entry of the 4 KiB page at va, walked by hand. */
static uint64_t *leaf(uint64_t va) {
    uint64_t *t = vms_space_table(&sp, sp.root_pa);
    for (int l = 4; l > 1; l--) {
        uint64_t e = t[(va >> (12 + 9 * (l - 1))) & 511];
        cr_assert(e & 1, "no table on the walk");
        t = vms_space_table(&sp, e & 0x000ffffffffff000ull);
    }
    return &t[(va >> 12) & 511];
}

#ifdef VMSPACE_DEBUG
Test(debug_checks, checker_enforces_the_physical_width) {
    init40();
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x5000, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(ptr, (void *)vms_space_check(&sp), NULL));
    uint64_t *e = leaf(0x10000000);
    *e |= BIT(45); /* a frame beyond 2^40 */
    cr_expect(eq(str, (char *)vms_space_check(&sp), "phys_width"));
    *e &= ~BIT(45);
    *e |= BIT(39); /* inside the width: fine */
    cr_expect(eq(ptr, (void *)vms_space_check(&sp), NULL));
    cr_expect(eq(int, vms_space_map(&sp, 0x20000000, BIT(40), K4, VMS_R, 0), VMS_ERR_PHYS));
    cr_expect(eq(int, vms_space_map(&sp, 0x20000000, BIT(40) - K4, K4, VMS_R, 0), VMS_OK));
    vms_space_destroy(&sp);
}

Test(debug_checks, width_out_of_range) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.phys_bits = 53;
    cr_expect(eq(int, vms_space_init(&sp, &d), VMS_ERR_PHYS));
    d.phys_bits = 31;
    cr_expect(eq(int, vms_space_init(&sp, &d), VMS_ERR_PHYS));
    /* The embedded arena must fit in the width: 1 GiB at 16 MiB does not fit in 30 bits. */
    d.phys_bits = 32;
    d.arena.phys_base = (uint64_t)4 << 30;
    cr_expect(eq(int, vms_space_init(&sp, &d), VMS_ERR_PHYS));
}

/* Each mutating call, next to a leaf broken by hand in the same leaf table, must report it. */
Test(debug_checks, every_mutation_checks_what_it_touched) {
    init40();
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x5000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x80000000, 0x6000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, assert_failures, 0));
    uint64_t *e = leaf(0x10000000);
    *e |= BIT(56); /* bits the library never writes */

    /* A change elsewhere (another 1 GiB region) does not walk into the broken table. */
    cr_expect(eq(int, vms_space_protect(&sp, 0x80000000, K4, VMS_RW), VMS_OK));
    cr_expect(eq(int, assert_failures, 0), "an untouched table was checked");

    cr_expect(eq(int, vms_space_map(&sp, 0x10001000, 0x7000, K4, VMS_R, 0), VMS_OK));
    cr_expect(gt(int, assert_failures, 0), "vms_space_map");
    assert_failures = 0;
    cr_expect(eq(int, vms_space_protect(&sp, 0x10001000, K4, VMS_RW), VMS_OK));
    cr_expect(gt(int, assert_failures, 0), "vms_space_protect");
    assert_failures = 0;
    cr_expect(eq(int, vms_space_unmap(&sp, 0x10001000, K4), VMS_OK));
    cr_expect(gt(int, assert_failures, 0), "vms_space_unmap");
    assert_failures = 0;
    {
        vms_cursor_t c;
        vms_mapping_t m;
        cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10002000, 4 * K4), VMS_OK));
        cr_expect(eq(int, vms_cursor_map(&c, 0x8000, K4, VMS_R, 0), VMS_OK));
        cr_expect(gt(int, assert_failures, 0), "vms_cursor_map (fast path)");
        assert_failures = 0;
        cr_expect(eq(int, vms_cursor_map_range(&c, 0x9000, K4, VMS_R, 0), VMS_OK));
        cr_expect(gt(int, assert_failures, 0), "vms_cursor_map_range");
        assert_failures = 0;
        cr_assert(eq(int, vms_cursor_jump(&c, 0x10002000), VMS_OK));
        cr_expect(eq(int, vms_cursor_protect_next(&c, 4 * K4, VMS_RW, &m), VMS_OK));
        cr_expect(gt(int, assert_failures, 0), "vms_cursor_protect_next");
        vms_cursor_close(&c);
    }
    *e &= ~BIT(56);
    assert_failures = 0;
    cr_expect(eq(int, vms_space_unmap(&sp, 0x10000000, 16 * K4), VMS_OK));
    cr_expect(eq(int, assert_failures, 0), "repaired");
    cr_expect(eq(ptr, (void *)vms_space_check(&sp), NULL));
    vms_space_destroy(&sp);
}

#else
/* Without VMSPACE_DEBUG the checks are not compiled: a broken neighbour goes unnoticed and the
 * call does its work. */
Test(debug_checks, release_build_runs_no_checks) {
    init40();
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x5000, K4, VMS_R, 0), VMS_OK));
    *leaf(0x10000000) |= BIT(56);
    cr_expect(eq(int, vms_space_map(&sp, 0x10001000, 0x7000, K4, VMS_R, 0), VMS_OK));
    uint64_t pa = 0;
    cr_expect(vms_translate(&sp, 0x10001010, &pa));
    cr_expect(eq(u64, pa, 0x7010));
    cr_expect(eq(int, assert_failures, 0));
    *leaf(0x10000000) &= ~BIT(56);
    vms_space_destroy(&sp);
}
#endif
