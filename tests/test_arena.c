/* The embedded arena on memory the caller supplies (the freestanding way to use it). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vmspace.h"

#define ARENA_SIZE ((uint64_t)4 << 20)

Test(arena, caller_memory_backs_tables_and_data) {
    void *mem = aligned_alloc(4096, ARENA_SIZE);
    vms_arena_t a;
    vms_provider_t prov;
    vms_space_desc_t d;
    vms_space_t s;
    vms_arena_desc_t ad = {ARENA_SIZE, (uint64_t)32 << 20, NULL};
    uint64_t data = 0, pa = 0;
    uint32_t word = 0;
    cr_assert_not_null(mem);
    /* Garbage in the caller's memory must not leak into tables or data frames. */
    memset(mem, 0xa5, ARENA_SIZE);
    ad.memory = mem;
    cr_assert_eq(vms_arena_init(&a, &ad), VMS_OK);
    cr_expect_eq(a.base, mem);
    prov = vms_arena_provider(&a);
    memset(&d, 0, sizeof d);
    d.provider = &prov;
    cr_assert_eq(vms_space_init(&s, &d), VMS_OK);
    cr_assert_eq(vms_arena_alloc_data(&a, 0x2000, 0x1000, &data), VMS_OK);
    cr_expect_eq(*(uint32_t *)vms_arena_ptr(&a, data), 0, "data frames come zeroed");
    cr_assert_eq(vms_space_map(&s, 0x10000000, data, 0x2000, VMS_RW | VMS_USER, 0), VMS_OK);
    cr_expect(vms_translate(&s, 0x10001008, &pa));
    cr_expect_eq(pa, data + 0x1008);
    word = 0x1234abcd;
    cr_assert_eq(vms_write_val(&s, 0x10001ffc, &word, 4, NULL), VMS_OK);
    cr_expect_eq(memcmp((uint8_t *)vms_arena_ptr(&a, data) + 0x1ffc, &word, 4), 0);
#ifdef VMSPACE_DEBUG
    cr_expect_null(vms_space_check(&s));
#endif
    cr_assert_eq(vms_space_unmap(&s, 0x10000000, 0x2000), VMS_OK);
    cr_expect_eq(s.counts.table_pages, 1);
    cr_assert_eq(vms_space_destroy(&s), VMS_OK);
    cr_expect_eq(a.frames_in_use, 0, "every table frame went back to the caller's arena");
    vms_arena_destroy(&a);
    free(mem);
}

Test(arena, caller_memory_must_be_page_aligned) {
    static uint8_t mem[3 * 4096];
    vms_arena_t a;
    vms_arena_desc_t ad = {2 << 20, 0, mem + 8};
    cr_expect_eq(vms_arena_init(&a, &ad), VMS_ERR_ALIGN);
}
