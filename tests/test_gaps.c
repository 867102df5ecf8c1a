/* Behaviour that mutation testing found unpinned. */
#include "support/vt_cr.h"

/* Destroying an arena on the caller's memory gives the memory back untouched: it is not
 * unmapped, and stays the caller's to use. */
Test(gaps, arena_destroy_leaves_callers_memory_mapped) {
    const uint64_t size = 2 * VT_SZ_2M;
    uint8_t *mem = (uint8_t *)aligned_alloc(VT_SZ_2M, (size_t)size);
    cr_assert(ne(ptr, mem, NULL));
    vms_arena_desc_t ad = {size, 0, mem};
    vms_arena_t a;
    cr_assert(eq(int, vms_arena_init(&a, &ad), VMS_OK));
    vms_arena_destroy(&a);
    memset(mem, 0x3c, (size_t)size); /* faults if the pages were unmapped */
    cr_expect(eq(u8, mem[size - 1], 0x3c));
    free(mem);
}
