/* Harvest of accessed and dirty bits, and protect by callback.
 *
 * The CPU's side is played by the tests: they set A and D in the leaf entries as a walker
 * would (through vt_walk), then check what the harvest reports (bitmap, callback, count),
 * what it clears, and what it flushes, against an expectation built from the enumeration
 * before the call. */
#include "support/vt_cr.h"

/* Concurrent spaces exist only in a threaded build. */
#ifdef VMSPACE_NO_THREADS
#define KINDS 1
#else
#define KINDS 2
#endif

#define PTE_A 0x20u
#define PTE_D 0x40u

static vms_space_t sp;

static void setup4(void) { cr_assert(eq(int, vt_space_init(&sp, 4, 0), VMS_OK)); }
static void teardown(void) {
    vt_expect_wellformed(&sp);
    vms_space_destroy(&sp);
}

TestSuite(harvest, .init = setup4, .fini = teardown);

/* Set bits in the leaf entry that maps va, as the CPU would. */
static void cpu_sets(const vms_space_t *s, uint64_t va, uint64_t bits) {
    int level;
    uint64_t *e = vt_walk(s, va, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    *e |= bits;
}

static uint64_t leaf_of(const vms_space_t *s, uint64_t va) {
    int level;
    uint64_t *e = vt_walk(s, va, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    return *e;
}

typedef struct seen_s {
    vms_mapping_t m[64];
    int n;
} seen_t;

static void record(void *user, const vms_mapping_t *m) {
    seen_t *s = (seen_t *)user;
    if (s->n < 64) s->m[s->n] = *m;
    s->n++;
}

Test(harvest, dirty_pages_reported_and_cleared) {
    uint64_t bm[1] = {0};
    seen_t seen;
    vms_harvest_t h;
    memset(&seen, 0, sizeof seen);
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 16 * K4, VMS_RW, 0), VMS_OK));
    cpu_sets(&sp, 0x401000, PTE_A | PTE_D);
    cpu_sets(&sp, 0x405000, PTE_A);
    cpu_sets(&sp, 0x40f000, PTE_A | PTE_D);
    memset(&h, 0, sizeof h);
    h.bits = VMS_DIRTY;
    h.flags = VMS_HARVEST_CLEAR;
    h.bitmap = bm;
    h.fn = record;
    h.user = &seen;
    cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, 16 * K4, &h), VMS_OK));
    cr_expect(eq(u64, bm[0], (1u << 1) | (1u << 15)));
    cr_expect(eq(u64, h.found, 2 * K4));
    cr_assert(eq(int, seen.n, 2));
    cr_expect(eq(u64, seen.m[0].va, 0x401000));
    cr_expect(eq(u64, seen.m[0].pa, 0x801000));
    cr_expect(eq(u32, seen.m[0].prop, VMS_RW | VMS_ACCESSED | VMS_DIRTY));
    cr_expect(eq(u64, seen.m[1].va, 0x40f000));
    /* D is gone, A stays (it was not asked for), the rest of the entry is as it was. */
    cr_expect(eq(u64, leaf_of(&sp, 0x401000) & (PTE_A | PTE_D), PTE_A));
    cr_expect(eq(u64, leaf_of(&sp, 0x405000) & (PTE_A | PTE_D), PTE_A));
    vt_expect_page(&sp, 0x401000, 0x401000, 0x801000, K4, VMS_RW | VMS_ACCESSED);
    /* A second harvest finds nothing; one for A finds the three accessed pages. */
    bm[0] = 0;
    h.found = 0;
    cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, 16 * K4, &h), VMS_OK));
    cr_expect(eq(u64, bm[0], 0));
    cr_expect(eq(u64, h.found, 0));
    h.bits = VMS_ACCESSED;
    h.flags = 0;
    h.fn = NULL;
    cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, 16 * K4, &h), VMS_OK));
    cr_expect(eq(u64, bm[0], (1u << 1) | (1u << 5) | (1u << 15)));
    cr_expect(eq(u64, leaf_of(&sp, 0x405000) & PTE_A, PTE_A)); /* no CLEAR: kept */
}

/* Property presets count like bits the CPU set. */
Test(harvest, preset_bits_and_both_kinds) {
    uint64_t bm[1] = {0};
    vms_harvest_t h;
    cr_assert(eq(int, vms_space_map(&sp, 0x10000, 0x10000, 4 * K4, VMS_RW | VMS_ACCESSED, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x14000, 0x14000, 4 * K4, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    memset(&h, 0, sizeof h);
    h.bits = VMS_ACCESSED | VMS_DIRTY;
    h.flags = VMS_HARVEST_CLEAR;
    h.bitmap = bm;
    cr_assert(eq(int, vms_space_harvest(&sp, 0x10000, 8 * K4, &h), VMS_OK));
    cr_expect(eq(u64, bm[0], 0xff));
    vt_expect_page(&sp, 0x10000, 0x10000, 0x10000, K4, VMS_RW);
    vt_expect_page(&sp, 0x17000, 0x17000, 0x17000, K4, VMS_RW);
}

/* A huge page inside the range is one mapping and all its pages in the bitmap; one the
 * range covers in part is reported for its pages inside, and keeps its bits. */
Test(harvest, huge_pages) {
    uint64_t bm[1024];
    seen_t seen;
    vms_harvest_t h;
    memset(bm, 0, sizeof bm);
    memset(&seen, 0, sizeof seen);
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, 2 * M2, VMS_RW, 0), VMS_OK));
    cpu_sets(&sp, G1, PTE_A | PTE_D);
    cpu_sets(&sp, G1 + M2, PTE_A | PTE_D);
    memset(&h, 0, sizeof h);
    h.bits = VMS_DIRTY;
    h.flags = VMS_HARVEST_CLEAR;
    h.bitmap = bm;
    h.fn = record;
    h.user = &seen;
    /* [G1 + 1 MiB, G1 + 4 MiB): the second half of the first page, all of the second. */
    cr_assert(eq(int, vms_space_harvest(&sp, G1 + M2 / 2, M2 + M2 / 2, &h), VMS_OK));
    cr_expect(eq(u64, h.found, M2 + M2 / 2));
    cr_assert(eq(int, seen.n, 2));
    cr_expect(eq(u64, seen.m[0].va, G1));
    cr_expect(eq(u64, seen.m[0].size, M2));
    cr_expect(eq(u64, seen.m[1].va, G1 + M2));
    for (int i = 0; i < 768 / 64; i++) cr_expect(eq(u64, bm[i], ~(uint64_t)0), "word %d", i);
    cr_expect(eq(u64, bm[768 / 64], 0));
    cr_expect(eq(u64, leaf_of(&sp, G1) & PTE_D, PTE_D)); /* covered in part: kept */
    cr_expect(eq(u64, leaf_of(&sp, G1 + M2) & PTE_D, 0));
    cr_expect(eq(sz, vt_count_mappings(&sp), 2)); /* nothing split */
}

/* ---- flushes: clearing D flushes the pages it cleared; clearing A only when asked ---- */
typedef struct flushes_s {
    uint64_t calls, pages;
} flushes_t;

static void count_flush(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    flushes_t *f = (flushes_t *)user;
    (void)cpus;
    f->calls++;
    f->pages += b->all ? 1000000u : b->npages;
}

static flushes_t flushes_of(vms_prop_t bits, uint32_t flags, bool concurrent) {
    vms_space_t s;
    vms_machine_t m;
    vms_space_desc_t d;
    vms_harvest_t h;
    flushes_t f = {0, 0};
    vms_machine_init(&m);
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)16 << 20;
    d.flush = count_flush;
    d.hook_user = &f;
    d.machine = &m;
    d.concurrent = concurrent;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&s, 0), VMS_OK));
    /* A whole table (the vector path) and a few pages beside it (the slot loop). */
    cr_assert(eq(int, vms_space_map(&s, M2, M2, M2 + 8 * K4, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    for (uint64_t va = M2; va < 2 * M2; va += 2 * K4) cpu_sets(&s, va, PTE_A | PTE_D);
    cpu_sets(&s, 2 * M2 + 3 * K4, PTE_A | PTE_D);
    cpu_sets(&s, 2 * M2 + 5 * K4, PTE_A);
    f.calls = f.pages = 0;
    memset(&h, 0, sizeof h);
    h.bits = bits;
    h.flags = flags;
    cr_assert(eq(int, vms_space_harvest(&s, M2, M2 + 8 * K4, &h), VMS_OK));
    cr_expect(eq(u64, h.found, (bits == VMS_DIRTY ? 257 : 258) * K4));
    cr_assert(eq(int, vms_space_deactivate(&s, 0), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
    return f;
}

Test(harvest, flushes_follow_what_was_cleared) {
    for (int conc = 0; conc < KINDS; conc++) {
        flushes_t f;
        f = flushes_of(VMS_DIRTY, 0, conc);
        cr_expect(eq(u64, f.calls, 0), "reporting alone flushes nothing");
        f = flushes_of(VMS_DIRTY, VMS_HARVEST_CLEAR, conc);
        cr_expect(eq(u64, f.calls, 1));
        /* 257 separate pages: past the batch's threshold, so it flushes all (counted as
         * 10^6 pages); at least the pages cleared either way */
        cr_expect(ge(u64, f.pages, 257));
        f = flushes_of(VMS_ACCESSED, VMS_HARVEST_CLEAR, conc);
        cr_expect(eq(u64, f.calls, 0), "clearing A is not flushed by default");
        f = flushes_of(VMS_ACCESSED, VMS_HARVEST_CLEAR | VMS_HARVEST_FLUSH_ACCESSED, conc);
        cr_expect(eq(u64, f.calls, 1));
        cr_expect(ge(u64, f.pages, 258));
    }
}

/* Exact flush records below the threshold: the runs of cleared dirty pages. */
Test(harvest, flush_ranges_are_the_cleared_runs) {
    vms_cursor_t c;
    vms_harvest_t h;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, 32 * K4, VMS_RW, 0), VMS_OK));
    cpu_sets(&sp, 0x402000, PTE_D);
    cpu_sets(&sp, 0x403000, PTE_D);
    cpu_sets(&sp, 0x409000, PTE_D | PTE_A);
    cpu_sets(&sp, 0x40a000, PTE_A); /* A only: not flushed */
    memset(&h, 0, sizeof h);
    h.bits = VMS_DIRTY | VMS_ACCESSED;
    h.flags = VMS_HARVEST_CLEAR;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x400000, 32 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_harvest(&c, 32 * K4, &h), VMS_OK));
    cr_expect(eq(u64, vms_cursor_addr(&c), 0x400000 + 32 * K4));
    cr_expect(not(c.batch.all));
    cr_assert(eq(u32, c.batch.nranges, 2));
    cr_expect(eq(u64, c.batch.ranges[0].va, 0x402000));
    cr_expect(eq(u64, c.batch.ranges[0].len, 2 * K4));
    cr_expect(eq(u64, c.batch.ranges[1].va, 0x409000));
    cr_expect(eq(u64, c.batch.ranges[1].len, K4));
    vms_cursor_close(&c);
    cr_expect(eq(u64, h.found, 4 * K4));
    cr_expect(eq(u64, leaf_of(&sp, 0x40a000) & PTE_A, 0));
}

Test(harvest, bad_input_changes_nothing) {
    vms_harvest_t h;
    uint64_t before;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, 4 * K4, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    before = vt_digest(&sp);
    memset(&h, 0, sizeof h);
    h.flags = VMS_HARVEST_CLEAR;
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400000, 4 * K4, &h), VMS_ERR_FLAGS)); /* none */
    h.bits = VMS_W;
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400000, 4 * K4, &h), VMS_ERR_FLAGS));
    h.bits = VMS_DIRTY;
    h.flags = 0x80u;
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400000, 4 * K4, &h), VMS_ERR_FLAGS));
    h.flags = VMS_HARVEST_CLEAR;
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400000, 0, &h), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400001, K4, &h), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_space_harvest(&sp, 0x400000, K4 + 1, &h), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_space_harvest(&sp, (uint64_t)1 << 47, K4, &h), VMS_ERR_NONCANON));
    cr_expect(eq(u64, vt_digest(&sp), before));
    cr_expect(eq(u64, h.found, 0));
}

/* ---- random spaces: the harvest against an expectation from the enumeration ---- */
typedef struct expect_s {
    uint64_t *bitmap, found;
    vms_mapping_t *after; /* the enumeration the harvest must leave */
    size_t n;
    int reported;
} expect_t;

static void expect_of(const vms_space_t *s, uint64_t va, uint64_t len, const vms_harvest_t *h,
                      expect_t *x) {
    vms_mapping_t *all = vt_enumerate(s, &x->n);
    uint64_t end = va + len;
    x->after = all;
    x->found = 0;
    x->reported = 0;
    x->bitmap = (uint64_t *)calloc((len >> 12) / 64 + 1, 8);
    for (size_t i = 0; i < x->n; i++) {
        vms_mapping_t *m = &all[i];
        uint64_t lo = m->va > va ? m->va : va, hi = m->va + m->size < end ? m->va + m->size : end;
        if (lo >= hi || !(m->prop & h->bits)) continue;
        x->found += hi - lo;
        x->reported++;
        for (uint64_t p = lo; p < hi; p += K4)
            x->bitmap[(p - va) >> 18] |= (uint64_t)1 << (((p - va) >> 12) & 63);
        if ((h->flags & VMS_HARVEST_CLEAR) && m->va >= va && m->va + m->size <= end)
            m->prop &= ~h->bits;
    }
}

static void count_calls(void *user, const vms_mapping_t *m) {
    (void)m;
    (*(int *)user)++;
}

static void random_space(vms_space_t *s, vt_rng_t *g, uint64_t base, uint64_t span) {
    for (int i = 0; i < 40; i++) {
        uint64_t sz = vt_rng_below(g, 8) == 0 ? M2 : K4;
        uint64_t va = base + vt_rng_below(g, span / sz) * sz;
        uint64_t len = sz * (1 + vt_rng_below(g, sz == K4 ? 1500 : 3));
        if (va + len > base + span) len = base + span - va;
        (void)vms_space_map(s, va, va, len, VMS_RW, 0);
    }
    size_t n;
    vms_mapping_t *all = vt_enumerate(s, &n);
    for (size_t i = 0; i < n; i++) {
        uint64_t r = vt_rng_below(g, 4);
        if (r) cpu_sets(s, all[i].va, r == 1 ? PTE_A : r == 2 ? PTE_D : PTE_A | PTE_D);
    }
    free(all);
}

static void random_round(bool concurrent, uint64_t seed) {
    vms_space_t s;
    vms_space_desc_t d;
    vt_rng_t g;
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)64 << 20;
    d.concurrent = concurrent;
    cr_assert(eq(int, vms_space_init(&s, &d), VMS_OK));
    vt_rng_seed(&g, seed);
    random_space(&s, &g, G1, 16 * M2);
    for (int round = 0; round < 12; round++) {
        vms_harvest_t h;
        expect_t x;
        size_t n;
        uint64_t va = G1 + vt_rng_below(&g, 4 * 512) * K4;
        uint64_t len = K4 * (1 + vt_rng_below(&g, 12 * 512));
        int calls = 0;
        memset(&h, 0, sizeof h);
        h.bits = (vms_prop_t)(1 + vt_rng_below(&g, 3)) * VMS_ACCESSED;
        h.flags = (uint32_t)vt_rng_below(&g, 4);
        expect_of(&s, va, len, &h, &x);
        h.bitmap = (uint64_t *)calloc((len >> 12) / 64 + 1, 8);
        if (vt_rng_below(&g, 2)) {
            h.fn = count_calls;
            h.user = &calls;
        }
        cr_assert(eq(int, vms_space_harvest(&s, va, len, &h), VMS_OK));
        cr_expect(eq(u64, h.found, x.found), "seed %llu round %d", VT_ULL(seed), round);
        cr_expect(eq(int, memcmp(h.bitmap, x.bitmap, ((len >> 12) / 64 + 1) * 8), 0),
                  "bitmap, seed %llu round %d", VT_ULL(seed), round);
        if (h.fn) cr_expect(eq(int, calls, x.reported));
        vms_mapping_t *now = vt_enumerate(&s, &n);
        cr_assert(eq(sz, n, x.n));
        for (size_t i = 0; i < n; i++) {
            cr_expect(eq(u64, now[i].va, x.after[i].va));
            cr_expect(eq(u32, now[i].prop, x.after[i].prop), "va %#llx seed %llu round %d",
                      VT_ULL(now[i].va), VT_ULL(seed), round);
        }
        free(now);
        free(x.after);
        free(x.bitmap);
        free(h.bitmap);
    }
    cr_expect(eq(ptr, (void *)vt_check_tables(&s), NULL));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

Test(harvest, random_spaces_plain_and_concurrent) {
    for (uint64_t seed = 1; seed <= 20; seed++) {
        random_round(false, seed);
        if (KINDS > 1) random_round(true, seed);
    }
}

/* ---- protect by callback ---- */
static vms_prop_t drop_w_of_dirty(void *user, const vms_mapping_t *m) {
    int *calls = (int *)user;
    (*calls)++;
    return (m->prop & VMS_DIRTY) ? m->prop & ~VMS_W : m->prop;
}

TestSuite(protect_fn, .init = setup4, .fini = teardown);

Test(protect_fn, sees_each_mapping_and_changes_what_it_returns) {
    int calls = 0;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, 8 * K4, VMS_RW | VMS_USER, 0),
                 VMS_OK));
    cpu_sets(&sp, 0x402000, PTE_A | PTE_D);
    cpu_sets(&sp, 0x406000, PTE_D);
    cr_assert(eq(int, vms_space_protect_fn(&sp, 0x400000, 8 * K4, drop_w_of_dirty, &calls),
                 VMS_OK));
    cr_expect(eq(int, calls, 8));
    for (uint64_t va = 0x400000; va < 0x408000; va += K4) {
        vms_prop_t want = VMS_RW | VMS_USER;
        if (va == 0x402000) want = VMS_R | VMS_USER | VMS_ACCESSED | VMS_DIRTY;
        if (va == 0x406000) want = VMS_R | VMS_USER | VMS_DIRTY;
        vt_expect_page(&sp, va, va, va, K4, want);
    }
}

/* A huge page covered in part is split first; the callback sees the pieces in range. */
Test(protect_fn, splits_huge_pages_at_the_edges) {
    int calls = 0;
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, M2, VMS_RW | VMS_DIRTY, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect_fn(&sp, M2 + 4 * K4, 2 * K4, drop_w_of_dirty, &calls),
                 VMS_OK));
    cr_expect(eq(int, calls, 2));
    vt_expect_page(&sp, M2 + 3 * K4, M2 + 3 * K4, 3 * K4, K4, VMS_RW | VMS_DIRTY);
    vt_expect_page(&sp, M2 + 4 * K4, M2 + 4 * K4, 4 * K4, K4, VMS_R | VMS_DIRTY);
    vt_expect_page(&sp, M2 + 6 * K4, M2 + 6 * K4, 6 * K4, K4, VMS_RW | VMS_DIRTY);
    cr_expect(eq(sz, vt_count_mappings(&sp), 512));
}

/* Matches protect_mask on a random space when the callback does what the masks do. */
static vms_prop_t like_mask(void *user, const vms_mapping_t *m) {
    (void)user;
    return (m->prop & ~(vms_prop_t)VMS_W) | VMS_X;
}

Test(protect_fn, equals_protect_mask) {
    vms_space_t other;
    vt_rng_t g;
    vt_rng_seed(&g, 7);
    cr_assert(eq(int, vt_space_init(&other, 4, 0), VMS_OK));
    random_space(&sp, &g, G1, 16 * M2);
    vt_rng_seed(&g, 7);
    random_space(&other, &g, G1, 16 * M2);
    cr_assert(eq(u64, vt_digest(&sp), vt_digest(&other)));
    cr_assert(eq(int, vms_space_protect_fn(&sp, G1 + 5 * K4, 9 * M2, like_mask, NULL), VMS_OK));
    cr_assert(eq(int, vms_space_protect_mask(&other, G1 + 5 * K4, 9 * M2, VMS_X, VMS_W), VMS_OK));
    cr_expect(eq(u64, vt_digest(&sp), vt_digest(&other)));
    vms_space_destroy(&other);
}

Test(protect_fn, bad_input_changes_nothing) {
    int calls = 0;
    uint64_t before;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, 4 * K4, VMS_RW, 0), VMS_OK));
    before = vt_digest(&sp);
    cr_expect(eq(int, vms_space_protect_fn(&sp, 0x400000, 4 * K4, NULL, NULL), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_protect_fn(&sp, 0x400000, 0, drop_w_of_dirty, &calls),
                 VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_space_protect_fn(&sp, 0x400800, K4, drop_w_of_dirty, &calls),
                 VMS_ERR_ALIGN));
    cr_expect(eq(int, calls, 0));
    cr_expect(eq(u64, vt_digest(&sp), before));
}

#ifndef VMSPACE_DEBUG
/* Bits the callback may not change (cache policy, A/D) stay the mapping's own. */
static vms_prop_t tries_cache(void *user, const vms_mapping_t *m) {
    (void)user;
    return (m->prop & ~(vms_prop_t)(VMS_DIRTY | VMS_CACHE_MASK)) | VMS_CACHE_UC | VMS_ACCESSED;
}

Test(protect_fn, cache_and_ad_bits_stay) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, K4, VMS_RW | VMS_DIRTY, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect_fn(&sp, 0x400000, K4, tries_cache, NULL), VMS_OK));
    vt_expect_page(&sp, 0x400000, 0x400000, 0x400000, K4, VMS_RW | VMS_DIRTY);
}
#endif
