/* The debug assertions of vmspace.h that guard what callers hand back and what a mutation
 * leaves behind: a frame returned to the arena that it never handed out, and a table whose
 * child count was broken around the library, caught by the check that ends each kind of range
 * operation. A private copy of the library counts failed assertions instead of trapping. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

static int assert_failures;
#define VMS_ASSERT(c) ((c) ? (void)0 : (void)assert_failures++)
#define VMSPACE_STATIC
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#define K4 ((uint64_t)0x1000)

#ifdef VMSPACE_DEBUG
/* The arena sits 16 KiB into a larger buffer, so that even a frame "below" it is memory. */
Test(cov_asserts, arena_free_of_a_frame_it_never_handed_out) {
    uint8_t *buf = (uint8_t *)aligned_alloc(4096, 64 * 1024);
    cr_assert(ne(ptr, buf, NULL));
    vms_arena_t a;
    vms_arena_desc_t d;
    uint64_t pa = 0;
    memset(&d, 0, sizeof d);
    d.memory = buf + 16 * 1024;
    d.size = 32 * 1024;
    cr_assert(eq(int, vms_arena_init(&a, &d), VMS_OK));
    vms_provider_t p = vms_arena_provider(&a);
    cr_assert(eq(int, p.alloc_frame(p.user, &pa, true), VMS_OK));
    cr_assert(eq(u64, pa, a.phys_base + K4));
    const vms_arena_t good = a;
    static const int64_t bad[] = {-(int64_t)K4, 3 * (int64_t)K4, (int64_t)K4 + 8};
    static const char *const what[] = {"below the arena", "never bumped", "unaligned"};
    for (int k = 0; k < 3; k++) {
        assert_failures = 0;
        p.free_frame(p.user, a.phys_base + (uint64_t)bad[k]);
        cr_expect(eq(int, assert_failures, 1), "%s", what[k]);
        a = good;
    }
    assert_failures = 0;
    p.free_frame(p.user, pa);
    cr_expect(eq(int, assert_failures, 0), "the frame it handed out");
    cr_expect(eq(u64, a.free_head, pa));
    cr_expect(eq(u64, a.frames_in_use, 0));
    vms_arena_destroy(&a);
    free(buf);
}

static vms_space_t sp;

static vms_table_meta_t *meta_of(uint64_t pa) {
    return (vms_table_meta_t *)(sp.prov.meta_map +
                                (uintptr_t)(pa >> 12) * sizeof(vms_table_meta_t));
}

/* The page table that holds va. */
static uint64_t leaf_table_pa(uint64_t va) {
    uint64_t pa = sp.root_pa;
    for (int l = 4; l > 1; l--) {
        uint64_t e = vms_space_table(&sp, pa)[(va >> (12 + 9 * (l - 1))) & 511];
        cr_assert(e & 1, "no table on the walk");
        pa = e & 0x000ffffffffff000ull;
    }
    return pa;
}

/* Each range operation ends with a check of the tables it covered, on success and on error:
 * a child count one too high in the page table it works in is reported, once per call. */
Test(cov_asserts, range_operations_check_the_tables_they_cover) {
    vms_space_desc_t d;
    vms_cursor_t c;
    vms_mapping_t m;
    const uint64_t va = 0x10000000;
    memset(&d, 0, sizeof d);
    d.arena.size = 8 << 20;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va, 0x5000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va + 8 * K4, 0x6000, K4, VMS_R, 0), VMS_OK));
    vms_table_meta_t *m1 = meta_of(leaf_table_pa(va));
    cr_assert(eq(int, m1->children, 2));
    assert_failures = 0;
    /* Another 1 GiB region: the broken table is not covered, nothing is reported. */
    cr_assert(eq(int, vms_space_map(&sp, 0x80000000, 0x7000, K4, VMS_R, 0), VMS_OK));
    m1->children++;
    cr_expect(eq(int, vms_space_map(&sp, 0x80001000, 0x7000, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, assert_failures, 0), "an uncovered table was checked");

    /* vms_cursor_map_range, succeeding. */
    cr_expect(eq(int, vms_space_map(&sp, va + K4, 0x8000, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, assert_failures, 1), "map_range");
    /* vms_cursor_map_range, failing (the range is taken). */
    assert_failures = 0;
    cr_expect(eq(int, vms_space_map(&sp, va, 0x8000, K4, VMS_R, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, assert_failures, 1), "map_range, EXIST");
    /* vms_cursor_map off its fast path (the slot is taken), failing and replacing. */
    cr_assert(eq(int, vms_cursor_open(&c, &sp, va, 4 * K4), VMS_OK));
    assert_failures = 0;
    cr_expect(eq(int, vms_cursor_map(&c, 0x9000, K4, VMS_R, 0), VMS_ERR_EXIST));
    cr_expect(eq(int, assert_failures, 1), "cursor_map, EXIST");
    assert_failures = 0;
    cr_expect(eq(int, vms_cursor_map(&c, 0x9000, K4, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    cr_expect(eq(int, assert_failures, 1), "cursor_map, REPLACE");
    /* vms_cursor_protect_next, then protect and unmap (vms__change). */
    assert_failures = 0;
    cr_expect(eq(int, vms_cursor_protect_next(&c, 3 * K4, VMS_R, &m), VMS_OK));
    cr_expect(eq(u64, m.va, va + K4));
    cr_expect(eq(int, assert_failures, 1), "protect_next");
    vms_cursor_close(&c);
    assert_failures = 0;
    cr_expect(eq(int, vms_space_protect(&sp, va, 2 * K4, VMS_RW), VMS_OK));
    cr_expect(eq(int, assert_failures, 1), "protect");
    assert_failures = 0;
    cr_expect(eq(int, vms_space_unmap(&sp, va + K4, K4), VMS_OK));
    cr_expect(eq(int, assert_failures, 1), "unmap");
    /* Repaired: silent again, and the whole space checks clean. */
    m1->children--;
    assert_failures = 0;
    cr_expect(eq(int, vms_space_unmap(&sp, va, K4), VMS_OK));
    cr_expect(eq(int, assert_failures, 0), "repaired");
    cr_expect(eq(ptr, (void *)vms_space_check(&sp), NULL));
    cr_expect(eq(int, vms_space_destroy(&sp), VMS_OK));
}
#else
/* Without VMSPACE_DEBUG nothing is checked: the same broken count goes unnoticed and the
 * operation does its work. */
Test(cov_asserts, release_build_checks_nothing) {
    vms_space_t s;
    vms_space_desc_t d;
    uint64_t pa = 0;
    memset(&d, 0, sizeof d);
    d.arena.size = 8 << 20;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x10000000, 0x5000, K4, VMS_R, 0), VMS_OK));
    vms_table_meta_t *m =
        (vms_table_meta_t *)(s.prov.meta_map + (uintptr_t)(s.root_pa >> 12) * sizeof *m);
    m->children++;
    cr_expect(eq(int, vms_space_map(&s, 0x10001000, 0x6000, K4, VMS_R, 0), VMS_OK));
    cr_expect(vms_translate(&s, 0x10001010, &pa));
    cr_expect(eq(u64, pa, 0x6010));
    cr_expect(eq(int, assert_failures, 0));
    m->children--;
    cr_expect(eq(int, vms_space_destroy(&s), VMS_OK));
}
#endif
