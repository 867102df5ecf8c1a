/* Edge cases of vmspace.h that the other suites leave out, each pinned by what the public API
 * reports: arena sizes and physical bounds, a cursor at the end of its range, flush batches of
 * the widest threshold, set-up errors, rights across levels, copies that reach the provider's
 * physical limit, dump formatting, save and load failures, and the checker's counters. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "support/vt_cr.h"

/* A file of 2^47 + 4 KiB bytes cannot be buffered (it is larger than the whole user address
 * space); under AddressSanitizer the failing malloc must return NULL instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define M1 ((uint64_t)1 << 20)
#define T1 ((uint64_t)1 << 40)

/* ---- arena: sizes and physical bounds ---- */

/* A reserved arena rounds its size up to whole frames and, when that leaves room for the
 * metadata only, adds one frame: exactly one table frame can then be had. */
Test(cov_arena, tiny_reserved_arena_gets_one_frame) {
    static const uint64_t sizes[] = {1, 4096};
    for (size_t k = 0; k < 2; k++) {
        vms_arena_t a;
        vms_arena_desc_t d;
        uint64_t pa = 0, pa2 = 0;
        memset(&d, 0, sizeof d);
        d.size = sizes[k];
        cr_assert(eq(int, vms_arena_init(&a, &d), VMS_OK), "size %llu", VT_ULL(sizes[k]));
        cr_expect(eq(u64, a.size, 2 * K4), "size %llu", VT_ULL(sizes[k]));
        vms_provider_t p = vms_arena_provider(&a);
        cr_expect(eq(int, p.alloc_frame(p.user, &pa, true), VMS_OK));
        cr_expect(eq(u64, pa, a.phys_base + K4), "the frame after the metadata");
        cr_expect(eq(int, p.alloc_frame(p.user, &pa2, true), VMS_ERR_NOMEM));
        vms_arena_destroy(&a);
    }
    /* Two frames already hold metadata and a frame: no growth. */
    vms_arena_t a;
    vms_arena_desc_t d;
    memset(&d, 0, sizeof d);
    d.size = 2 * K4 - 1;
    cr_assert(eq(int, vms_arena_init(&a, &d), VMS_OK));
    cr_expect(eq(u64, a.size, 2 * K4));
    vms_arena_destroy(&a);
}

/* phys_base at the limit is refused; an arena that ends exactly at the limit is fine, one
 * frame more is not. Both with the caller's memory and with reserved memory. */
Test(cov_arena, arena_ending_exactly_at_the_physical_limit) {
    uint64_t lim = (uint64_t)1 << 52;
    void *mem = aligned_alloc(4096, (size_t)(M2 + K4));
    cr_assert(ne(ptr, mem, NULL));
    for (int own = 0; own < 2; own++) {
        vms_arena_t a;
        vms_arena_desc_t d;
        memset(&d, 0, sizeof d);
        d.memory = own ? NULL : mem;
        d.size = M2;
        d.phys_base = lim;
        cr_expect(eq(int, vms_arena_init(&a, &d), VMS_ERR_PHYS), "own %d", own);
        d.phys_base = lim + M2; /* past the limit: lim - phys_base would wrap */
        cr_expect(eq(int, vms_arena_init(&a, &d), VMS_ERR_PHYS), "own %d", own);
        d.phys_base = (uint64_t)1 << 63;
        cr_expect(eq(int, vms_arena_init(&a, &d), VMS_ERR_PHYS), "own %d", own);
        d.phys_base = lim - M2;
        d.size = M2 + K4;
        cr_expect(eq(int, vms_arena_init(&a, &d), VMS_ERR_PHYS), "own %d", own);
        d.size = M2;
        cr_assert(eq(int, vms_arena_init(&a, &d), VMS_OK), "own %d", own);
        cr_expect(ne(ptr, vms_arena_ptr(&a, lim - 1), NULL));
        cr_expect(eq(ptr, vms_arena_ptr(&a, lim), NULL));
        vms_provider_t p = vms_arena_provider(&a);
        cr_expect(eq(u64, p.phys_limit, lim));
        vms_arena_destroy(&a);
    }
    free(mem);
    /* A space over such an arena maps and translates up to the last frame. */
    vms_space_t s;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.arena.phys_base = lim - M2;
    d.arena.size = M2;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    cr_expect(eq(u64, s.root_pa, lim - M2 + K4));
    cr_expect(eq(int, vms_space_map(&s, 0x5000, lim - K4, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_space_map(&s, 0x6000, lim, K4, VMS_R, 0), VMS_ERR_PHYS));
    vt_expect_page(&s, 0x5000, 0x5000, lim - K4, K4, VMS_R);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* A reservation the OS cannot give (far larger than the user address space) is NOMEM, for the
 * arena and for a space that would embed it. */
Test(cov_arena, reservation_failure_is_nomem) {
    vms_arena_t a;
    vms_arena_desc_t d;
    memset(&d, 0, sizeof d);
    d.size = (uint64_t)1 << 51;
    cr_expect(eq(int, vms_arena_init(&a, &d), VMS_ERR_NOMEM));
    vms_space_t s;
    vms_space_desc_t sd;
    memset(&sd, 0, sizeof sd);
    sd.arena.size = (uint64_t)1 << 51;
    cr_expect(eq(int, vms_space_init(&s, &sd), VMS_ERR_NOMEM));
}

/* Whether the page holding p is mapped, from /proc/self/maps (probing with a system call on
 * an unmapped address would be an error to valgrind). */
static bool page_mapped(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned long lo, hi;
    char line[512];
    bool found = false;
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert(ne(ptr, f, NULL));
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi;
    fclose(f);
    return found;
}

/* Reservations whose size is not a multiple of 2 MiB: the arena still starts on a 2 MiB
 * boundary, every byte of it is usable, and the slack past its end is given back. Several
 * are held at once so that the OS places some of them off a 2 MiB boundary. */
Test(cov_arena, odd_sized_reservations_are_aligned_and_trimmed) {
    static const uint64_t sizes[] = {3 * M1 + K4, 5 * M1 + 3 * K4, M1 + K4,
                                     3 * K4,      7 * K4,          M2 + 5 * K4};
    enum { N = sizeof sizes / sizeof sizes[0] };
    vms_arena_t a[N];
    for (int k = 0; k < N; k++) {
        vms_arena_desc_t d;
        memset(&d, 0, sizeof d);
        d.size = sizes[k];
        cr_assert(eq(int, vms_arena_init(&a[k], &d), VMS_OK));
        cr_expect(eq(u64, a[k].size, sizes[k]));
        cr_expect(eq(u64, (uintptr_t)a[k].base & (M2 - 1), 0), "arena %d not 2 MiB aligned", k);
        cr_expect(page_mapped(a[k].base + sizes[k] - K4), "arena %d: last page", k);
        cr_expect(not(page_mapped(a[k].base + sizes[k])), "arena %d: tail kept", k);
        memset(a[k].base, 0x5a, (size_t)sizes[k]);
    }
    for (int k = 0; k < N; k++) {
        cr_expect(eq(u8, a[k].base[sizes[k] - 1], 0x5a));
        vms_arena_destroy(&a[k]);
    }
}

/* Data allocations: an alignment below 4 KiB means 4 KiB; one that cannot be met in the
 * arena is NOMEM and changes nothing; the rest of the arena can be had exactly. */
Test(cov_arena, alloc_data_alignment_and_exact_fit) {
    vms_arena_t a;
    vms_arena_desc_t d;
    uint64_t pa = 0, pb = 0, pc = 0;
    memset(&d, 0, sizeof d);
    d.size = 4 * M1;
    cr_assert(eq(int, vms_arena_init(&a, &d), VMS_OK));
    uint64_t first = a.phys_base + vms_arena_meta_bytes(4 * M1);
    cr_expect(eq(int, vms_arena_alloc_data(&a, K4, 0, &pa), VMS_OK));
    cr_expect(eq(u64, pa, first));
    cr_expect(eq(int, vms_arena_alloc_data(&a, K4, 512, &pb), VMS_OK));
    cr_expect(eq(u64, pb, first + K4));
    cr_expect(eq(int, vms_arena_alloc_data(&a, K4, (uint64_t)1 << 40, &pc), VMS_ERR_NOMEM));
    cr_expect(eq(u64, a.frames_in_use, 0), "a failed aligned allocation freed frames");
    uint64_t rest = a.phys_base + a.size - (first + 2 * K4);
    cr_expect(eq(int, vms_arena_alloc_data(&a, rest + K4, K4, &pc), VMS_ERR_NOMEM));
    cr_expect(eq(int, vms_arena_alloc_data(&a, rest, K4, &pc), VMS_OK));
    cr_expect(eq(u64, pc, first + 2 * K4));
    cr_expect(eq(int, vms_arena_alloc_data(&a, K4, K4, &pc), VMS_ERR_NOMEM));
    vms_arena_destroy(&a);
}

/* ---- a cursor at and past the end of its range ---- */

VT_SPACE_FIXTURE
TestSuite(cov_cursor, .init = setup4, .fini = teardown);

Test(cov_cursor, find_next_without_output_moves_the_cursor) {
    vms_cursor_t c;
    cr_assert(eq(int, vms_space_map(&sp, 0x13000, 0x7000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000, 8 * K4), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, 2 * K4, NULL), VMS_ERR_NOENT));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x12000));
    cr_expect(eq(int, vms_cursor_find_next(&c, 6 * K4, NULL), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x13000));
    vms_cursor_close(&c);
}

/* The same at the very top of a 5-level space, where the cursor's end is 2^64. */
TestSuite(cov_cursor5, .init = setup5, .fini = teardown);

Test(cov_cursor5, find_next_up_to_the_top_of_the_space) {
    vms_cursor_t c;
    vms_mapping_t m;
    const uint64_t top_page = 0xffffffffffffe000ull, start = 0xfffffffffff00000ull;
    cr_assert(eq(int, vms_space_map(&sp, top_page, 0x7000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, start, M1), VMS_OK));
    cr_expect(eq(int, vms_cursor_find_next(&c, M1, NULL), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), top_page));
    cr_expect(vms_cursor_next(&c, &m));
    cr_expect(eq(u64, m.va, top_page));
    cr_expect(eq(int, vms_cursor_find_next(&c, K4, NULL), VMS_ERR_NOENT));
    cr_expect(eq(int, vms_cursor_find_next(&c, K4, NULL), VMS_ERR_RANGE));
    vms_cursor_close(&c);
}

Test(cov_cursor, every_operation_at_the_end_is_out_of_range) {
    vms_cursor_t c;
    vms_mapping_t m;
    uint64_t u = 0, found = 0;
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x7000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000, 2 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, 2 * K4, &u), VMS_OK));
    cr_expect(eq(u64, u, K4));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x12000));
    cr_expect(eq(int, vms_cursor_find_next(&c, K4, &found), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x8000, K4, VMS_R, 0), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_map(&c, 0x8000, K4, VMS_R, 0), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_unmap(&c, K4, &u), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_protect(&c, K4, VMS_R), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_protect_next(&c, K4, VMS_R, &m), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_query(&c, &m), VMS_ERR_RANGE));
    cr_expect(not(vms_cursor_next(&c, &m)));
    vms_cursor_close(&c);
    vt_expect_unmapped(&sp, 0x12000);
    cr_expect(eq(sz, vt_count_mappings(&sp), 0));
}

Test(cov_cursor, lengths_past_the_end_zero_or_unaligned) {
    vms_cursor_t c;
    vms_mapping_t m;
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x7000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000, 2 * K4), VMS_OK));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x8000, 3 * K4, VMS_R, 0), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x8000, K4 + 0x800, VMS_R, 0), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x8000, 0, VMS_R, 0), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_cursor_protect_next(&c, 3 * K4, VMS_R, &m), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_cursor_protect_next(&c, 0, VMS_R, &m), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_cursor_protect_next(&c, 0x800, VMS_R, &m), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_cursor_protect_next(&c, K4, 0x80000000u, &m), VMS_ERR_FLAGS));
    /* Nothing moved, nothing changed. */
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x10000));
    vt_expect_page(&sp, 0x10000, 0x10000, 0x7000, K4, VMS_RW);
    /* The whole range still works, and protect_next takes a NULL result. */
    cr_expect(eq(int, vms_cursor_protect_next(&c, 2 * K4, VMS_R, NULL), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x11000));
    vt_expect_page(&sp, 0x10000, 0x10000, 0x7000, K4, VMS_R);
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x8000, K4, VMS_RW, 0), VMS_OK));
    vt_expect_page(&sp, 0x11000, 0x11000, 0x8000, K4, VMS_RW);
    vms_cursor_close(&c);
}

/* ---- flushes with the widest threshold ---- */

typedef struct flushes_s {
    int calls;
    bool all;
    uint64_t cpus;
} flushes_t;

static void flush_hook(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    flushes_t *f = (flushes_t *)user;
    f->calls++;
    f->all = b->all;
    f->cpus = cpus;
}

/* With flush_threshold = UINT32_MAX an unmap of 16 TiB records 2^32 pages: more than the
 * threshold, so the batch becomes "flush everything", and it is dispatched. */
Test(cov_flush, threshold_uint32_max_still_dispatches_flush_all) {
    vms_space_t s;
    vms_space_desc_t d;
    vms_machine_t m;
    flushes_t f;
    vms_machine_init(&m);
    memset(&f, 0, sizeof f);
    memset(&d, 0, sizeof d);
    d.arena.size = 4 * M1;
    d.flush = flush_hook;
    d.hook_user = &f;
    d.flush_threshold = UINT32_MAX;
    d.machine = &m;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0, 0, 16 * T1, VMS_RW, 0), VMS_OK));
    cr_expect(eq(u64, vt_stats(&s).mapped_bytes[2], 16 * T1));
    cr_assert(eq(int, vms_space_activate(&s, 3), VMS_OK));
    cr_expect(eq(int, vms_space_unmap(&s, 0, 16 * T1), VMS_OK));
    cr_expect(eq(int, f.calls, 1));
    cr_expect(f.all, "a batch of 2^32 pages must flush everything");
    cr_expect(eq(u64, f.cpus, (uint64_t)1 << 3));
    cr_expect(eq(u64, vt_stats(&s).mapped_bytes[2], 0));
    cr_expect(eq(u64, vt_stats(&s).table_pages, 1));
    /* One page less than the threshold in a fresh batch: a range, not everything. */
    cr_assert(eq(int, vms_space_map(&s, 0, 0, G1, VMS_RW, 0), VMS_OK));
    cr_expect(eq(int, vms_space_unmap(&s, 0, G1), VMS_OK));
    cr_expect(eq(int, f.calls, 2));
    cr_expect(not(f.all));
    cr_assert(eq(int, vms_space_deactivate(&s, 3), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- set-up errors ---- */

static int never_alloc(void *user, uint64_t *pa, bool zero) {
    (void)user, (void)pa, (void)zero;
    return VMS_ERR_NOMEM;
}
static void never_free(void *user, uint64_t pa) { (void)user, (void)pa; }

Test(cov_init, provider_and_arena_errors) {
    vms_space_t s;
    vms_space_desc_t d;
    vt_fprov_t f;
    cr_assert(eq(int, vt_fprov_init(&f, M1), VMS_OK));
    vms_provider_t p = f.prov;
    memset(&d, 0, sizeof d);
    d.provider = &p;
    p.free_frame = NULL;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_ARG), "no free hook");
    p = f.prov;
    p.alloc_frame = NULL;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_ARG), "no alloc hook");
    cr_expect(eq(u64, f.attempts, 0));
    /* The root cannot be had: NOMEM, and the caller's provider is left alone. */
    p = f.prov;
    vt_fprov_fail_in(&f, 1);
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_NOMEM));
    cr_expect(eq(u64, f.failures, 1));
    cr_expect(eq(u64, f.arena.frames_in_use, 0));
    p.alloc_frame = never_alloc;
    p.free_frame = never_free;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_NOMEM));
    vt_fprov_destroy(&f);
    /* Errors of the embedded arena come back as they are. */
    memset(&d, 0, sizeof d);
    d.arena.phys_base = K4;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_ALIGN));
}

/* The embedded arena must end at or below 2^phys_bits: exactly at it is fine. */
Test(cov_init, arena_against_the_physical_width) {
    vms_space_t s;
    vms_space_desc_t d;
    uint64_t lim = (uint64_t)1 << 32;
    memset(&d, 0, sizeof d);
    d.phys_bits = 32;
    d.arena.size = (uint64_t)4 << 30; /* from 16 MiB: past 4 GiB */
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_PHYS));
    d.arena.phys_base = lim - 8 * M1;
    d.arena.size = 8 * M1 + K4;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_PHYS));
    d.arena.size = 8 * M1;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    cr_expect(lt(u64, s.root_pa, lim));
    cr_expect(eq(u64, s.phys_limit, lim));
    cr_expect(eq(int, vms_space_map(&s, 0x1000, lim - K4, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_space_map(&s, 0x2000, lim, K4, VMS_R, 0), VMS_ERR_PHYS));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- rights across levels ---- */

TestSuite(cov_translate, .init = setup4, .fini = teardown);

/* A right must be granted at every level: an intermediate entry without RW, US or with XD
 * takes it away from every page below, whatever the leaf says. */
Test(cov_translate, intermediate_entries_restrict_rights) {
    const uint64_t va = 0x40201000;
    vms_access_result_t r;
    cr_assert(eq(int, vms_space_map(&sp, va, 0x9000, K4, VMS_RWX | VMS_USER, 0), VMS_OK));
    uint64_t *root = vms_space_table(&sp, sp.root_pa);
    uint64_t *e4 = &root[vt_index(va, 4)];
    uint64_t *pdpt = vms_space_table(&sp, *e4 & VT_ADDR_BITS);
    uint64_t *e3 = &pdpt[vt_index(va, 3)];
    const uint64_t o4 = *e4, o3 = *e3;
    static const unsigned all = VMS_ACCESS_WRITE | VMS_ACCESS_EXEC | VMS_ACCESS_USER;
    cr_assert(vms_translate_access(&sp, va, all, &r));
    cr_expect(eq(u32, r.prop, VMS_RWX | VMS_USER));

    *e4 = o4 & ~VT_BIT(1); /* no RW at the root */
    cr_expect(not(vms_translate_access(&sp, va, VMS_ACCESS_WRITE, &r)));
    cr_expect(eq(int, r.fault, VMS_FAULT_WRITE));
    cr_expect(eq(int, r.level, 1));
    cr_expect(vms_translate_access(&sp, va, VMS_ACCESS_EXEC | VMS_ACCESS_USER, &r));
    cr_expect(eq(u32, r.prop, VMS_R | VMS_X | VMS_USER));
    cr_expect(eq(u64, r.pa, 0x9000));

    *e4 = o4 & ~VT_BIT(2); /* supervisor only at the root */
    cr_expect(not(vms_translate_access(&sp, va, VMS_ACCESS_USER, &r)));
    cr_expect(eq(int, r.fault, VMS_FAULT_USER));
    cr_expect(vms_translate_access(&sp, va, VMS_ACCESS_WRITE | VMS_ACCESS_EXEC, &r));
    cr_expect(eq(u32, r.prop, VMS_RWX));

    *e4 = o4 | VT_BIT(63); /* no execution at the root */
    cr_expect(not(vms_translate_access(&sp, va, VMS_ACCESS_EXEC, &r)));
    cr_expect(eq(int, r.fault, VMS_FAULT_EXEC));
    cr_expect(vms_translate_access(&sp, va, VMS_ACCESS_WRITE | VMS_ACCESS_USER, &r));
    cr_expect(eq(u32, r.prop, VMS_RW | VMS_USER));
    *e4 = o4;

    *e3 = o3 & ~(VT_BIT(1) | VT_BIT(2)); /* one level lower, two rights at once */
    cr_expect(vms_translate_access(&sp, va, VMS_ACCESS_EXEC, &r));
    cr_expect(eq(u32, r.prop, VMS_R | VMS_X));
    *e3 = o3;
    cr_expect(vms_translate_access(&sp, va, all, &r));
    cr_expect(eq(u32, r.prop, VMS_RWX | VMS_USER));
}

/* ---- copies at the provider's physical limit ---- */

/* An arena of 3 MiB at 16 MiB ends at 19 MiB, inside the 2 MiB page at 18 MiB: copies may
 * touch that page's frames below 19 MiB only. */
Test(cov_copy, huge_page_straddling_the_physical_limit) {
    vms_space_t s;
    vms_copy_result_t r;
    const uint64_t va = G1, pa = 18 * M1, lim = 19 * M1;
    cr_assert(eq(int, vt_space_init(&s, 4, 3 * M1), VMS_OK));
    cr_assert(eq(u64, s.prov.phys_limit, lim));
    cr_assert(eq(int, vms_space_map(&s, va, pa, M2, VMS_RW | VMS_USER, 0), VMS_OK));
    uint8_t *buf = (uint8_t *)malloc((size_t)M2);
    cr_assert(ne(ptr, buf, NULL));
    uint8_t *host = (uint8_t *)vms_arena_ptr(&s.arena, lim - K4);
    cr_assert(ne(ptr, host, NULL));
    host[K4 - 1] = 0xc3;
    /* The last frame below the limit. */
    cr_expect(eq(int, vms_copy_from(&s, buf, va + M1 - K4, K4, &r), VMS_OK));
    cr_expect(eq(u64, r.done, K4));
    cr_expect(eq(u8, buf[K4 - 1], 0xc3));
    /* Up to the limit exactly: all of it. */
    cr_expect(eq(int, vms_copy_from(&s, buf, va, M1, &r), VMS_OK));
    cr_expect(eq(u64, r.done, M1));
    /* One byte more: the chunk reaches past the limit, nothing is copied. */
    cr_expect(eq(int, vms_copy_from(&s, buf, va + M1 - K4, K4 + 1, &r), VMS_ERR_FAULT));
    cr_expect(eq(int, r.fault, VMS_FAULT_PHYS));
    cr_expect(eq(u64, r.fault_va, va + M1 - K4));
    cr_expect(eq(u64, r.done, 0));
    cr_expect(eq(int, vms_fill(&s, va, 0, M2, &r), VMS_ERR_FAULT));
    cr_expect(eq(int, r.fault, VMS_FAULT_PHYS));
    /* Starting at the limit. */
    cr_expect(eq(int, vms_copy_to(&s, va + M1, buf, 16, &r), VMS_ERR_FAULT));
    cr_expect(eq(int, r.fault, VMS_FAULT_PHYS));
    cr_expect(eq(u64, r.fault_va, va + M1));
    free(buf);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* All or nothing, also without a result struct. */
Test(cov_copy, read_val_without_result_copies_nothing_on_a_fault) {
    vms_space_t s;
    uint8_t buf[16];
    cr_assert(eq(int, vt_space_init(&s, 4, 4 * M1), VMS_OK));
    uint64_t data;
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, K4, K4, &data), VMS_OK));
    memset(vms_arena_ptr(&s.arena, data), 0x77, (size_t)K4);
    cr_assert(eq(int, vms_space_map(&s, 0x10000, data, K4, VMS_R | VMS_USER, 0), VMS_OK));
    memset(buf, 0xaa, sizeof buf);
    cr_expect(eq(int, vms_read_val(&s, 0x10000 + K4 - 8, buf, 16, NULL), VMS_ERR_FAULT));
    for (int i = 0; i < 16; i++) cr_expect(eq(u8, buf[i], 0xaa), "byte %d copied", i);
    cr_expect(eq(int, vms_read_val(&s, 0x20000, buf, 8, NULL), VMS_ERR_FAULT));
    cr_expect(eq(int, vms_read_val(&s, 0x10000 + K4 - 16, buf, 16, NULL), VMS_OK));
    for (int i = 0; i < 16; i++) cr_expect(eq(u8, buf[i], 0x77));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- dump ---- */

typedef struct dump_s {
    char lines[16][200];
    int n;
} dump_t;

static void dump_line(void *user, const char *line) {
    dump_t *d = (dump_t *)user;
    cr_assert(lt(int, d->n, 16), "too many dump lines");
    cr_assert(lt(sz, strlen(line), sizeof d->lines[0]));
    strcpy(d->lines[d->n++], line);
}

static bool has(const char *line, const char *what) { return strstr(line, what) != NULL; }

Test(cov_dump, runs_split_on_pa_and_page_size_and_odd_sizes) {
    vms_space_t s;
    dump_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_space_init(&s, 4, 8 * M1), VMS_OK));
    /* 1: 257 pages in one run (1 MiB + 4 KiB, printed in KiB). */
    cr_assert(eq(int, vms_space_map(&s, 0x1000000, 0x1000000, M1 + K4, VMS_R, 0), VMS_OK));
    /* 2, 3: contiguous in VA, not in PA. */
    cr_assert(eq(int, vms_space_map(&s, 0x3000000, 0x5000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x3001000, 0x9000, K4, VMS_R, 0), VMS_OK));
    /* 4, 5: contiguous in VA and PA, same property, another page size. */
    cr_assert(eq(int, vms_space_map(&s, 0x41ff000, 0x41ff000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x4200000, 0x4200000, M2, VMS_R, 0), VMS_OK));
    /* 6, 7: write-only and execute-only pages (no access, rights remembered). */
    cr_assert(eq(int, vms_space_map(&s, 0x5000000, 0xa000, K4, VMS_W, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x5002000, 0xb000, K4, VMS_X, 0), VMS_OK));
    vms_space_dump(&s, dump_line, &d);
    cr_assert(eq(int, d.n, 9), "header, seven runs, footer");
    cr_expect(has(d.lines[1], "0x0000000001000000-0x0000000001101000") &&
                  has(d.lines[1], " 1028K "),
              "%s", d.lines[1]);
    cr_expect(has(d.lines[2], "0x0000000003000000-0x0000000003001000") &&
                  has(d.lines[2], "pa 0x0000000005000-0x0000000006000"),
              "%s", d.lines[2]);
    cr_expect(has(d.lines[3], "0x0000000003001000-0x0000000003002000") &&
                  has(d.lines[3], "pa 0x0000000009000-0x000000000a000"),
              "%s", d.lines[3]);
    cr_expect(has(d.lines[4], "pte") && has(d.lines[4], "4K"), "%s", d.lines[4]);
    cr_expect(has(d.lines[5], "pmd") && has(d.lines[5], "2M") &&
                  has(d.lines[5], "0x0000000004200000-0x0000000004400000"),
              "%s", d.lines[5]);
    cr_expect(has(d.lines[6], " -w- ") && !has(d.lines[6], "none"), "%s", d.lines[6]);
    cr_expect(has(d.lines[7], " --x ") && !has(d.lines[7], "none"), "%s", d.lines[7]);
    cr_expect(has(d.lines[8], "by 4K pages: 1048K"), "%s", d.lines[8]);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- save and load ---- */

static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static char tmp_file[64];

static void tmp_init(void) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_file, sizeof tmp_file, "%s/vmspace-cov-XXXXXX",
             dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(tmp_file);
    cr_assert(ge(int, fd, 0), "mkstemp");
    close(fd);
}
static void tmp_fini(void) { unlink(tmp_file); }
TestSuite(cov_save, .init = tmp_init, .fini = tmp_fini);

/* A saved image of a small space, read back into memory. */
static uint8_t *saved_image(size_t *n) {
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, 4, 4 * M1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x400000, 0x7000, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_save(&s, tmp_file), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
    FILE *f = fopen(tmp_file, "rb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(int, fseek(f, 0, SEEK_END), 0));
    long len = ftell(f);
    cr_assert(gt(long, len, 64));
    rewind(f);
    uint8_t *b = (uint8_t *)malloc((size_t)len);
    cr_assert(eq(sz, fread(b, 1, (size_t)len, f), (size_t)len));
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int load_changed(const uint8_t *img, size_t n, size_t at, uint64_t v, int bytes) {
    uint8_t *b = (uint8_t *)malloc(n);
    vms_space_t ld;
    memcpy(b, img, n);
    for (int i = 0; i < bytes; i++) b[at + (size_t)i] = (uint8_t)(v >> (8 * i));
    int rc = vms_space_load_mem(&ld, b, n);
    if (rc == VMS_OK) vms_space_destroy(&ld);
    free(b);
    return rc;
}

Test(cov_save, header_fields_each_checked) {
    size_t n;
    uint8_t *img = saved_image(&n);
    uint64_t len = n - 64;
    cr_expect(eq(int, load_changed(img, n, 0, 0, 0), VMS_OK), "the image as saved");
    cr_expect(eq(int, load_changed(img, n, 14, 1, 1), VMS_ERR_FORMAT), "byte 14");
    cr_expect(eq(int, load_changed(img, n, 15, 1, 1), VMS_ERR_FORMAT), "byte 15");
    cr_expect(eq(int, load_changed(img, n, 13, 31, 1), VMS_ERR_FORMAT), "width 31");
    cr_expect(eq(int, load_changed(img, n, 13, 53, 1), VMS_ERR_FORMAT), "width 53");
    /* Width 40: a base at 2^40 is outside it, and 4 MiB from 2^40 - 2 MiB does not fit. */
    {
        uint8_t *b = (uint8_t *)malloc(n);
        vms_space_t ld;
        memcpy(b, img, n);
        b[13] = 40;
        wr64(b + 24, (uint64_t)1 << 40);
        cr_expect(eq(int, vms_space_load_mem(&ld, b, n), VMS_ERR_FORMAT), "base 2^40");
        wr64(b + 24, ((uint64_t)1 << 40) - M2);
        cr_expect(eq(int, vms_space_load_mem(&ld, b, n), VMS_ERR_FORMAT), "size past 2^40");
        free(b);
    }
    cr_expect(eq(int, load_changed(img, n, 56, len + 100, 8), VMS_ERR_FORMAT), "size unaligned");
    cr_expect(eq(int, load_changed(img, n, 56, len - K4, 8), VMS_ERR_FORMAT), "size < image");
    /* The header alone, with a zero image length; a 100-byte image. */
    {
        uint8_t b[64 + 100];
        vms_space_t ld;
        memcpy(b, img, 64);
        wr64(b + 32, 0);
        cr_expect(eq(int, vms_space_load_mem(&ld, b, 64), VMS_ERR_FORMAT), "empty image");
        memset(b + 64, 0, 100);
        wr64(b + 32, 100);
        cr_expect(eq(int, vms_space_load_mem(&ld, b, sizeof b), VMS_ERR_FORMAT), "100 bytes");
    }
    free(img);
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* An image whose length is not whole frames, though long enough for its metadata and
 * tables: refused, however the rest of it looks. */
Test(cov_save, image_length_in_whole_frames) {
    size_t n;
    uint8_t *img = saved_image(&n);
    uint8_t *b = (uint8_t *)calloc(1, n + 100);
    vms_space_t ld;
    memcpy(b, img, n);
    wr64(b + 32, n - 64 + 100);
    cr_expect(eq(int, vms_space_load_mem(&ld, b, n + 100), VMS_ERR_FORMAT));
    wr64(b + 32, n - 64);
    cr_expect(eq(int, vms_space_load_mem(&ld, b, n), VMS_OK), "the same bytes, whole frames");
    cr_expect(eq(int, vms_space_destroy(&ld), VMS_OK));
    free(b);
    free(img);
}

/* The image of an empty space holds no physical address but its root's, so it can be moved to
 * another base (root moved along). Against a 40-bit width: a base of 0, a base at or past
 * 2^40, or an arena that would cross 2^40, is a corrupt header (not an error of the space it
 * would make); below it, the image loads at its new place. */
Test(cov_save, rebased_empty_image_against_the_width) {
    vms_space_t s, ld;
    cr_assert(eq(int, vt_space_init(&s, 4, 4 * M1), VMS_OK));
    cr_assert(eq(int, vms_space_save(&s, tmp_file), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
    size_t n;
    uint8_t *b;
    {
        FILE *f = fopen(tmp_file, "rb");
        cr_assert(ne(ptr, f, NULL));
        fseek(f, 0, SEEK_END);
        n = (size_t)ftell(f);
        rewind(f);
        b = (uint8_t *)malloc(n);
        cr_assert(eq(sz, fread(b, 1, n, f), n));
        fclose(f);
    }
    const uint64_t base = rd64(b + 24), root_off = rd64(b + 16) - base, w = (uint64_t)1 << 40;
    cr_assert(eq(u64, rd64(b + 40), 0), "an empty space has no free frames");
    static const struct {
        uint64_t base;
        int rc;
    } cases[] = {
        {0, VMS_ERR_FORMAT}, /* no arena starts at physical 0 */
        {(uint64_t)1 << 40, VMS_ERR_FORMAT},
        {(uint64_t)1 << 41, VMS_ERR_FORMAT},
        {((uint64_t)1 << 40) - M2, VMS_ERR_FORMAT}, /* 4 MiB from 2 MiB below the width */
        {((uint64_t)1 << 40) - 4 * M1, VMS_OK},     /* ends exactly at the width */
        {(uint64_t)1 << 39, VMS_OK},
    };
    b[13] = 40;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        wr64(b + 24, cases[k].base);
        wr64(b + 16, cases[k].base + root_off);
        int rc = vms_space_load_mem(&ld, b, n);
        cr_expect(eq(int, rc, cases[k].rc), "base %#llx", VT_ULL(cases[k].base));
        if (rc != VMS_OK) continue;
        cr_expect(eq(u64, ld.root_pa, cases[k].base + root_off));
        cr_expect(eq(u64, ld.phys_limit, w));
        cr_expect(eq(int, vms_space_map(&ld, 0x1000, 0x5000, K4, VMS_RW, 0), VMS_OK));
        vt_expect_page(&ld, 0x1000, 0x1000, 0x5000, K4, VMS_RW);
        vt_expect_wellformed(&ld);
        cr_expect(eq(int, vms_space_destroy(&ld), VMS_OK));
    }
    free(b);
}

/* A width of 32 bits fits this image (its frames sit below 20 MiB): the loaded space keeps the
 * width and refuses frames beyond it. */
Test(cov_save, loaded_width_is_enforced) {
    size_t n;
    uint8_t *b = saved_image(&n);
    vms_space_t ld;
    b[13] = 32;
    cr_assert(eq(int, vms_space_load_mem(&ld, b, n), VMS_OK));
    cr_expect(eq(u64, ld.phys_limit, (uint64_t)1 << 32));
    vt_expect_page(&ld, 0x401000, 0x401000, 0x8000, K4, VMS_RW);
    cr_expect(eq(int, vms_space_map(&ld, 0x800000, (uint64_t)1 << 32, K4, VMS_R, 0), VMS_ERR_PHYS));
    cr_expect(
        eq(int, vms_space_map(&ld, 0x800000, ((uint64_t)1 << 32) - K4, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&ld), VMS_OK));
    free(b);
}

Test(cov_save, save_to_a_full_device_is_io_error) {
    vms_space_t s;
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no /dev/full");
    cr_assert(eq(int, vt_space_init(&s, 4, 4 * M1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x400000, 0x7000, K4, VMS_RW, 0), VMS_OK));
    cr_expect(eq(int, vms_space_save(&s, "/dev/full"), VMS_ERR_IO));
    cr_expect(eq(int, vms_space_save(&s, "/nonexistent-dir/x"), VMS_ERR_IO));
    cr_expect(eq(int, vms_space_save(&s, NULL), VMS_ERR_ARG));
    /* The space is unchanged and still saves fine. */
    vt_expect_page(&s, 0x400000, 0x400000, 0x7000, K4, VMS_RW);
    cr_expect(eq(int, vms_space_save(&s, tmp_file), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(int, fseek(f, 0, SEEK_END), 0));
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Save under a file-size limit: one byte short of the image is an I/O error (whichever of the
 * writes or the final flush hits the limit), exactly the image's size is fine. */
static int save_limited(const vms_space_t *s, rlim_t limit) {
    struct rlimit old, lim;
    cr_assert(eq(int, getrlimit(RLIMIT_FSIZE, &old), 0));
    lim = old;
    lim.rlim_cur = limit;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    cr_assert(eq(int, setrlimit(RLIMIT_FSIZE, &lim), 0));
    int rc = vms_space_save(s, tmp_file);
    cr_assert(eq(int, setrlimit(RLIMIT_FSIZE, &old), 0));
    signal(SIGXFSZ, prev);
    return rc;
}

Test(cov_save, save_under_a_file_size_limit) {
    vms_space_t s, ld;
    struct rlimit old;
    cr_assert(eq(int, vt_space_init(&s, 4, 4 * M1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x400000, 0x7000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_save(&s, tmp_file), VMS_OK));
    long n = file_size(tmp_file);
    cr_assert(gt(long, n, 64));
    cr_assert(eq(int, getrlimit(RLIMIT_FSIZE, &old), 0));
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < (rlim_t)n)
        cr_skip_test("file-size limit below the image");
    cr_expect(eq(int, save_limited(&s, (rlim_t)n - 1), VMS_ERR_IO));
    cr_expect(eq(int, save_limited(&s, (rlim_t)n - 4096), VMS_ERR_IO));
    cr_expect(eq(int, save_limited(&s, (rlim_t)n), VMS_OK));
    cr_expect(eq(long, file_size(tmp_file), n));
    cr_assert(eq(int, vms_space_load(&ld, tmp_file), VMS_OK));
    vt_expect_page(&ld, 0x400000, 0x400000, 0x7000, K4, VMS_RW);
    cr_assert(eq(int, vms_space_destroy(&ld), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

Test(cov_save, load_arguments_and_unreadable_files) {
    vms_space_t ld;
    cr_expect(eq(int, vms_space_load(NULL, tmp_file), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_load(&ld, NULL), VMS_ERR_ARG));
    /* A pipe cannot be measured with fseek. */
    int fds[2];
    char path[64];
    cr_assert(eq(int, pipe(fds), 0));
    cr_assert(eq(sz, (size_t)write(fds[1], "VMSPACE1", 8), 8));
    snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
    if (access(path, R_OK) == 0) cr_expect(eq(int, vms_space_load(&ld, path), VMS_ERR_IO));
    close(fds[0]);
    close(fds[1]);
    /* A sysfs file claims 4096 bytes and holds fewer: the short read is an I/O error. */
    const char *sys = "/sys/kernel/mm/transparent_hugepage/enabled";
    if (access(sys, R_OK) == 0) cr_expect(eq(int, vms_space_load(&ld, sys), VMS_ERR_IO));
    /* Shorter than a header. */
    FILE *f = fopen(tmp_file, "wb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(sz, fwrite("VMSPACE1", 1, 8, f), 8));
    fclose(f);
    cr_expect(eq(int, vms_space_load(&ld, tmp_file), VMS_ERR_FORMAT));
}

/* A file larger than the address space cannot be read into memory: NOMEM. */
Test(cov_save, load_of_a_file_too_large_to_buffer) {
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/vmspace-cov-%ld", (long)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0) cr_skip_test("no /dev/shm");
    int rc = ftruncate(fd, (off_t)(((uint64_t)1 << 47) + K4));
    close(fd);
    if (rc != 0) {
        unlink(path);
        cr_skip_test("no sparse file of 2^47 bytes here");
    }
    vms_space_t ld;
    int got = vms_space_load(&ld, path);
    unlink(path);
    cr_expect(eq(int, got, VMS_ERR_NOMEM));
}

/* ---- the checker's counters ---- */

#ifdef VMSPACE_DEBUG
Test(cov_check, every_mapped_bytes_counter_is_compared) {
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, 4, 8 * M1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x1000, 0x100000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, G1, G1, G1, VMS_R, 0), VMS_OK));
    cr_assert(eq(ptr, (void *)vms_space_check(&s), NULL));
    for (int k = 0; k < 3; k++) {
        s.counts.mapped_bytes[k] += K4;
        const char *got = vms_space_check(&s);
        cr_expect(eq(str, (char *)(got ? got : "(none)"), "mapped_bytes_counter"), "counter %d", k);
        s.counts.mapped_bytes[k] -= K4;
    }
    cr_expect(eq(ptr, (void *)vms_space_check(&s), NULL));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}
#endif
