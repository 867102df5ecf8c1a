/* Flush batching: what each operation hands to the flush hook, to which CPUs, the switch to
 * "flush everything" past the threshold, and table pages freed only after the flush. */
#include <string.h>

#include "support/vt_cr.h"

/* ---- a recording flush hook and a recording provider, sharing one event log ---- */

#define MAX_EVENTS 4096

enum { EV_FLUSH = 1, EV_FREE = 2 };

typedef struct event_s {
    int kind;
    uint64_t pa;   /* EV_FREE: the frame */
    uint64_t cpus; /* EV_FLUSH: the CPU set */
    vms_flush_batch_t batch;
} event_t;

typedef struct recorder_s {
    event_t ev[MAX_EVENTS];
    size_t n;
    size_t flushes;
    vms_arena_t arena;
    vms_provider_t inner;
    vms_provider_t prov;
} recorder_t;

static recorder_t rec;

static void rec_push(int kind, uint64_t pa, uint64_t cpus, const vms_flush_batch_t *b) {
    cr_assert(lt(sz, rec.n, (size_t)MAX_EVENTS), "event log full");
    event_t *e = &rec.ev[rec.n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->pa = pa;
    e->cpus = cpus;
    if (b) e->batch = *b;
}

static void rec_flush(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    cr_assert(eq(ptr, user, (void *)&rec), "hook_user not passed through");
    rec.flushes++;
    rec_push(EV_FLUSH, 0, cpus, b);
}

static int rec_alloc(void *user, uint64_t *pa, bool zero) {
    recorder_t *r = (recorder_t *)user;
    return r->inner.alloc_frame(r->inner.user, pa, zero);
}

static void rec_free(void *user, uint64_t pa) {
    recorder_t *r = (recorder_t *)user;
    rec_push(EV_FREE, pa, 0, NULL);
    r->inner.free_frame(r->inner.user, pa);
}

/* The last flush event, or NULL. */
static const event_t *last_flush(void) {
    for (size_t i = rec.n; i-- > 0;)
        if (rec.ev[i].kind == EV_FLUSH) return &rec.ev[i];
    return NULL;
}

static vms_space_t sp;
static vms_machine_t mach;

static void space_init_with(uint32_t threshold, bool own_provider) {
    vms_space_desc_t d;
    memset(&rec, 0, sizeof rec);
    memset(&d, 0, sizeof d);
    d.levels = 4;
    d.flush = rec_flush;
    d.hook_user = &rec;
    d.flush_threshold = threshold;
    d.arena.size = 64 << 20;
    d.machine = &mach;
    if (own_provider) {
        vms_arena_desc_t ad;
        memset(&ad, 0, sizeof ad);
        ad.size = 64 << 20;
        cr_assert(eq(int, vms_arena_init(&rec.arena, &ad), VMS_OK));
        rec.inner = vms_arena_provider(&rec.arena);
        rec.prov = rec.inner;
        rec.prov.alloc_frame = rec_alloc;
        rec.prov.free_frame = rec_free;
        rec.prov.user = &rec;
        d.provider = &rec.prov;
    }
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
}

static void setup(void) { space_init_with(0, true); }

static void teardown(void) {
    for (int cpu = 0; cpu < VMSPACE_MAX_CPUS; cpu++) (void)vms_space_deactivate(&sp, cpu);
    vt_expect_wellformed(&sp);
    cr_expect(eq(int, vms_space_destroy(&sp), VMS_OK));
    if (rec.arena.base) vms_arena_destroy(&rec.arena);
}

TestSuite(flush, .init = setup, .fini = teardown);

/* [va, va + len) lies inside the union of the batch's ranges (or the batch flushes all). */
static bool batch_covers(const vms_flush_batch_t *b, uint64_t va, uint64_t len) {
    if (b->all) return true;
    for (uint64_t p = va; p < va + len; p += K4) {
        bool in = false;
        for (uint32_t i = 0; i < b->nranges && !in; i++)
            in = p >= b->ranges[i].va && p - b->ranges[i].va < b->ranges[i].len;
        if (!in) return false;
    }
    return true;
}

/* The batch flushes some page of [va, va + len). For a huge page that is enough: one invlpg
 * anywhere inside it drops the whole TLB entry (SDM vol. 3, 4.10.4.1). */
static bool batch_touches(const vms_flush_batch_t *b, uint64_t va, uint64_t len) {
    if (b->all) return true;
    for (uint32_t i = 0; i < b->nranges; i++)
        if (b->ranges[i].va < va + len && va < b->ranges[i].va + b->ranges[i].len) return true;
    return false;
}

/* Total bytes named by the ranges. */
static uint64_t batch_bytes(const vms_flush_batch_t *b) {
    uint64_t t = 0;
    for (uint32_t i = 0; i < b->nranges; i++) t += b->ranges[i].len;
    return t;
}

/* Exactly one flush since event index `from`, of one range [va, va + len), not all. */
static void expect_one_range(size_t from, uint64_t va, uint64_t len, uint64_t cpus) {
    size_t n = 0;
    const event_t *f = NULL;
    for (size_t i = from; i < rec.n; i++)
        if (rec.ev[i].kind == EV_FLUSH) {
            n++;
            f = &rec.ev[i];
        }
    cr_assert(eq(sz, n, 1), "flush calls for [%#llx, +%#llx)", VT_ULL(va), VT_ULL(len));
    cr_expect(eq(u64, f->cpus, cpus));
    cr_expect(not(f->batch.all));
    cr_expect(eq(u32, f->batch.npages, (uint32_t)(len / K4)));
    cr_expect(batch_covers(&f->batch, va, len));
    cr_expect(eq(u64, batch_bytes(&f->batch), len), "ranges name exactly the range");
}

static uint64_t bit(int cpu) { return (uint64_t)1 << cpu; }

/* ---- what is sent ---- */

Test(flush, map_into_empty_slots_sends_nothing) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x1000, 0x5000, 3 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2, 4 * M2, 3 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 2 * G1, 2 * G1, G1 + M2 + K4, VMS_RX, 0), VMS_OK));
    /* REPLACE over nothing replaces nothing. */
    cr_assert(eq(int, vms_space_map(&sp, 8 * G1, 0, M2, VMS_R, VMS_MAP_REPLACE), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 0));
    /* Unmapping a hole sends nothing either. */
    cr_assert(eq(int, vms_space_unmap(&sp, 100 * G1, G1), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 0));
}

Test(flush, unmap_single_page) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x40000, 0x9000, 4 * K4, VMS_RW, 0), VMS_OK));
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 0x41000, K4), VMS_OK));
    expect_one_range(from, 0x41000, K4, bit(0));
    cr_expect(not(last_flush()->batch.global));
    /* High half: ranges carry canonical addresses. */
    uint64_t hi = 0xffff800000000000ull + 7 * K4;
    cr_assert(eq(int, vms_space_map(&sp, hi, 0x9000, 2 * K4, VMS_RW, 0), VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, hi, 2 * K4), VMS_OK));
    expect_one_range(from, hi, 2 * K4, bit(0));
}

Test(flush, sent_to_active_cpus_only) {
    vms_space_t other;
    cr_assert(eq(int, vt_space_init(&other, 4, 16 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_attach(&other, &mach), VMS_OK));
    int last = VMSPACE_MAX_CPUS - 1;
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&sp, 3), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&sp, last), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 16 * K4, VMS_RW, 0), VMS_OK));
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 0, K4), VMS_OK));
    expect_one_range(from, 0, K4, bit(0) | bit(3) | bit(last));
    /* Another space takes CPU 3 over: it no longer gets this space's flushes. */
    cr_assert(eq(int, vms_space_activate(&other, 3), VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, K4, K4), VMS_OK));
    expect_one_range(from, K4, K4, bit(0) | bit(last));
    cr_assert(eq(int, vms_space_deactivate(&sp, 0), VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 2 * K4, K4), VMS_OK));
    expect_one_range(from, 2 * K4, K4, bit(last));
    /* Active nowhere: the batch is dropped, no call. */
    cr_assert(eq(int, vms_space_deactivate(&sp, last), VMS_OK));
    from = rec.flushes;
    cr_assert(eq(int, vms_space_unmap(&sp, 3 * K4, K4), VMS_OK));
    cr_expect(eq(sz, rec.flushes, from));
    vt_expect_unmapped(&sp, 3 * K4);
    cr_assert(eq(int, vms_space_deactivate(&other, 3), VMS_OK));
    cr_expect(eq(int, vms_space_destroy(&other), VMS_OK));
}

Test(flush, never_activated_sends_nothing) {
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 8 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 0, 8 * K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 8 * K4), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 0));
    /* The tables were freed all the same. */
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
}

/* ---- threshold ---- */

Test(flush, threshold_default_32_pages) {
    cr_assert(eq(int, vms_space_activate(&sp, 1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 128 * K4, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 32 * K4), VMS_OK));
    expect_one_range(from, 0, 32 * K4, bit(1));
    from = rec.flushes;
    cr_assert(eq(int, vms_space_unmap(&sp, 32 * K4, 33 * K4), VMS_OK));
    cr_assert(eq(sz, rec.flushes, from + 1));
    cr_expect(last_flush()->batch.all, "33 pages > threshold 32: flush all");
    cr_expect(eq(u64, last_flush()->cpus, bit(1)));
    /* Pages recorded by several operations of one cursor add up: 16 + 16 stay ranges... */
    vms_cursor_t c;
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 128 * K4, VMS_RW, VMS_MAP_MAX_4K | VMS_MAP_REPLACE),
                 VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 128 * K4), VMS_OK));
    from = rec.flushes;
    cr_assert(eq(int, vms_cursor_unmap(&c, 16 * K4, NULL), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, 20 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, 16 * K4, NULL), VMS_OK));
    cr_expect(eq(sz, rec.flushes, from), "nothing sent before close");
    vms_cursor_close(&c);
    cr_assert(eq(sz, rec.flushes, from + 1));
    cr_expect(not(last_flush()->batch.all));
    cr_expect(eq(u32, last_flush()->batch.npages, 32));
    cr_expect(batch_covers(&last_flush()->batch, 0, 16 * K4));
    cr_expect(batch_covers(&last_flush()->batch, 20 * K4, 16 * K4));
    cr_expect(eq(u64, batch_bytes(&last_flush()->batch), 32 * K4));
    /* ...and 11 + 11 + 11 = 33 pages become "all". */
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 40 * K4, 80 * K4), VMS_OK));
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, vms_cursor_jump(&c, (uint64_t)(40 + 20 * i) * K4), VMS_OK));
        cr_assert(eq(int, vms_cursor_unmap(&c, 11 * K4, NULL), VMS_OK));
    }
    from = rec.flushes;
    vms_cursor_close(&c);
    cr_assert(eq(sz, rec.flushes, from + 1));
    cr_expect(last_flush()->batch.all);
}

Test(flush, threshold_custom) {
    teardown();
    space_init_with(4, true);
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 16 * K4, VMS_RW, 0), VMS_OK));
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 4 * K4), VMS_OK));
    expect_one_range(from, 0, 4 * K4, bit(0));
    cr_assert(eq(int, vms_space_unmap(&sp, 4 * K4, 5 * K4), VMS_OK));
    cr_expect(last_flush()->batch.all);
}

Test(flush, huge_pages) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 0, 2 * M2, VMS_RW, 0), VMS_OK));
    size_t from = rec.flushes;
    /* One 2 MiB page is 512 pages, past the default threshold. */
    cr_assert(eq(int, vms_space_unmap(&sp, 4 * G1, M2), VMS_OK));
    cr_assert(eq(sz, rec.flushes, from + 1));
    cr_expect(last_flush()->batch.all);
    teardown();
    space_init_with(512, true);
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 0, 2 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_RW, 0), VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 4 * G1 + M2, M2), VMS_OK));
    expect_one_range(from, 4 * G1 + M2, M2, bit(0));
    /* 1 GiB is past 512 pages. */
    from = rec.flushes;
    cr_assert(eq(int, vms_space_unmap(&sp, G1, G1), VMS_OK));
    cr_assert(eq(sz, rec.flushes, from + 1));
    cr_expect(last_flush()->batch.all);
}

/* ---- protect, replace, split ---- */

Test(flush, protect_dropping_rights) {
    teardown();
    space_init_with(1024, true);
    cr_assert(eq(int, vms_space_activate(&sp, 2), VMS_OK));
    uint64_t va = 0x7f0000000000ull;
    cr_assert(eq(int, vms_space_map(&sp, va, 0x100000, 4 * K4, VMS_RW | VMS_USER, 0), VMS_OK));
    struct {
        vms_prop_t to;
        bool flush;
    } steps[] = {
        {VMS_RW | VMS_USER, false},           /* no change */
        {VMS_RWX | VMS_USER, false},          /* adds X */
        {VMS_RW | VMS_USER, true},            /* drops X */
        {VMS_R | VMS_USER, true},             /* drops W */
        {VMS_R, true},                        /* drops USER */
        {VMS_R | VMS_USER, false},            /* adds USER */
        {0, true},                            /* drops R: no access */
        {VMS_W, false},                       /* still no access, remembers W: adds only */
        {VMS_RW, false},                      /* adds R */
        {VMS_RW | VMS_CACHE_UC, true},        /* cache policy changed */
        {VMS_RW | VMS_CACHE_UC | VMS_SW1, false} /* software bit: CPU does not care */,
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t from = rec.n, nf = rec.flushes;
        cr_assert(eq(int, vms_space_protect(&sp, va + K4, 2 * K4, steps[i].to), VMS_OK));
        vt_expect_page(&sp, va + K4, va + K4, 0x101000, K4, steps[i].to);
        if (steps[i].flush) {
            expect_one_range(from, va + K4, 2 * K4, bit(2));
        } else {
            cr_expect(eq(sz, rec.flushes, nf), "step %zu: protect to %#x sent a flush", i,
                      steps[i].to);
        }
    }
}

/* A relative protect flushes exactly where it weakens a mapping: -W on a writable page,
 * not on a read-only one, and never for +X or +USER. */
Test(flush, protect_mask_weakening_only) {
    teardown();
    space_init_with(1024, true);
    cr_assert(eq(int, vms_space_activate(&sp, 1), VMS_OK));
    uint64_t va = 0x7f0000000000ull;
    cr_assert(eq(int, vms_space_map(&sp, va, 0x100000, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va + 2 * K4, 0x102000, 2 * K4, VMS_R, 0), VMS_OK));
    size_t from = rec.n, nf = rec.flushes;
    cr_assert(eq(int, vms_space_protect_mask(&sp, va, 4 * K4, VMS_X | VMS_USER, 0), VMS_OK));
    cr_expect(eq(sz, rec.flushes, nf), "adding rights sent a flush");
    vt_expect_page(&sp, va, va, 0x100000, K4, VMS_RWX | VMS_USER);
    vt_expect_page(&sp, va + 3 * K4, va + 3 * K4, 0x103000, K4, VMS_RX | VMS_USER);
    from = rec.n;
    cr_assert(eq(int, vms_space_protect_mask(&sp, va, 4 * K4, 0, VMS_W), VMS_OK));
    expect_one_range(from, va, 2 * K4, bit(1)); /* the read-only pages did not change */
    vt_expect_page(&sp, va + K4, va + K4, 0x101000, K4, VMS_RX | VMS_USER);
    vt_expect_page(&sp, va + 2 * K4, va + 2 * K4, 0x102000, K4, VMS_RX | VMS_USER);
    /* The whole-table case: a full table of alike pages weakens and flushes once. */
    uint64_t t = va + 4 * M2;
    cr_assert(eq(int, vms_space_map(&sp, t, 0x400000, M2, VMS_RW | VMS_SW2, VMS_MAP_MAX_4K),
                 VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_protect_mask(&sp, t, M2, VMS_GLOBAL, VMS_W), VMS_OK));
    expect_one_range(from, t, M2, bit(1));
    vt_expect_page(&sp, t + 77 * K4, t + 77 * K4, 0x400000 + 77 * K4, K4,
                   VMS_R | VMS_SW2 | VMS_GLOBAL);
    nf = rec.flushes;
    cr_assert(eq(int, vms_space_protect_mask(&sp, t, M2, VMS_GLOBAL, VMS_W), VMS_OK));
    cr_expect(eq(sz, rec.flushes, nf), "a protect_mask that changes nothing sent a flush");
}

/* The same steps over a whole leaf table (the change loop's whole-table case): a weakening
 * protect flushes the table's 2 MiB once, one that only adds rights flushes nothing, and an
 * unmap of it flushes it once and marks the batch global if any entry was. */
Test(flush, whole_leaf_table) {
    teardown();
    space_init_with(1024, true);
    cr_assert(eq(int, vms_space_activate(&sp, 1), VMS_OK));
    const uint64_t va = 0x40000000, pa = 0x101000; /* pa not 2 MiB aligned: small pages */
    cr_assert(eq(int, vms_space_map(&sp, va, pa, M2, VMS_RW, 0), VMS_OK));
    const struct {
        vms_prop_t to;
        bool flush;
    } steps[] = {{VMS_RW, false}, {VMS_RWX, false}, {VMS_R, true}, {VMS_R | VMS_USER, false},
                 {VMS_R | VMS_GLOBAL, true}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t from = rec.n, nf = rec.flushes;
        cr_assert(eq(int, vms_space_protect(&sp, va, M2, steps[i].to), VMS_OK));
        vt_expect_page(&sp, va + 77 * K4, va + 77 * K4, pa + 77 * K4, K4, steps[i].to);
        if (steps[i].flush)
            expect_one_range(from, va, M2, bit(1));
        else
            cr_expect(eq(sz, rec.flushes, nf), "step %zu sent a flush", i);
    }
    /* One entry differs: the rest change, and the flush covers them. */
    cr_assert(eq(int, vms_space_protect(&sp, va + 9 * K4, K4, VMS_RW), VMS_OK));
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_protect(&sp, va, M2, VMS_RW), VMS_OK));
    vt_expect_page(&sp, va, va, pa, K4, VMS_RW);
    cr_expect(batch_covers(&last_flush()->batch, va, 9 * K4));
    cr_expect(batch_covers(&last_flush()->batch, va + 10 * K4, M2 - 10 * K4));
    cr_expect(last_flush()->batch.global, "the entries it weakened were global");
    cr_expect(gt(sz, rec.n, from));
    /* An unmap: one flush of the table's range, global because one entry is. */
    cr_assert(eq(int, vms_space_protect(&sp, va + 300 * K4, K4, VMS_RW | VMS_GLOBAL), VMS_OK));
    from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, va, M2), VMS_OK));
    expect_one_range(from, va, M2, bit(1));
    cr_expect(last_flush()->batch.global);
    cr_expect(eq(sz, vt_count_mappings(&sp), 0));
}

Test(flush, global_mappings_flag_the_batch) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, K4, VMS_RW | VMS_GLOBAL, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, K4, 0, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, K4, K4), VMS_OK));
    cr_expect(not(last_flush()->batch.global));
    cr_assert(eq(int, vms_space_protect(&sp, 0, K4, VMS_R | VMS_GLOBAL), VMS_OK));
    cr_expect(last_flush()->batch.global);
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, 0, K4), VMS_OK));
    expect_one_range(from, 0, K4, bit(0));
    cr_expect(last_flush()->batch.global);
}

Test(flush, replace_flushes_what_it_overwrites) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x200000, 0x1000, 2 * K4, VMS_RW, 0), VMS_OK));
    size_t from = rec.n;
    /* Four pages, the middle two of which were mapped. */
    cr_assert(eq(int, vms_space_map(&sp, 0x1ff000, 0x50000, 4 * K4, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK));
    cr_assert(eq(sz, rec.flushes, 1));
    cr_expect(batch_covers(&last_flush()->batch, 0x200000, 2 * K4));
    cr_expect(not(last_flush()->batch.all));
    cr_expect(eq(u32, last_flush()->batch.npages, 2), "only the overwritten pages");
    (void)from;
    vt_expect_page(&sp, 0x200000, 0x200000, 0x51000, K4, VMS_R);
}

Test(flush, split_of_huge_page) {
    teardown();
    space_init_with(1024, true);
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 6 * M2, 6 * M2, M2, VMS_R, 0), VMS_OK));
    /* Adding a right to one 4 KiB piece splits the 2 MiB page: the split is flushed (the CPU
     * may hold the huge translation, and Intel asks for an invalidation on a split). */
    cr_assert(eq(int, vms_space_protect(&sp, 6 * M2 + 5 * K4, K4, VMS_RW), VMS_OK));
    cr_assert(eq(sz, rec.flushes, 1));
    cr_expect(batch_touches(&last_flush()->batch, 6 * M2, M2));
    cr_expect(not(batch_touches(&last_flush()->batch, 5 * M2, M2)));
    cr_expect(not(batch_touches(&last_flush()->batch, 7 * M2, M2)));
    vt_expect_page(&sp, 6 * M2 + 5 * K4, 6 * M2 + 5 * K4, 6 * M2 + 5 * K4, K4, VMS_RW);
    vt_expect_page(&sp, 6 * M2, 6 * M2, 6 * M2, K4, VMS_R);
    /* Unmapping inside a 1 GiB page: its split and the unmapped part are flushed. */
    cr_assert(eq(int, vms_space_map(&sp, 3 * G1, G1, G1, VMS_RW, 0), VMS_OK));
    size_t nf = rec.flushes;
    cr_assert(eq(int, vms_space_unmap(&sp, 3 * G1 + 7 * M2, K4), VMS_OK));
    cr_assert(eq(sz, rec.flushes, nf + 1));
    cr_expect(batch_covers(&last_flush()->batch, 3 * G1 + 7 * M2, K4));
    vt_expect_unmapped(&sp, 3 * G1 + 7 * M2);
    vt_expect_page(&sp, 3 * G1 + 7 * M2 + K4, 3 * G1 + 7 * M2 + K4, G1 + 7 * M2 + K4, K4,
                   VMS_RW);
}

Test(flush, one_call_per_space_operation) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    for (int i = 0; i < 6; i++)
        cr_assert(eq(int, vms_space_map(&sp, (uint64_t)i * 2 * M2, 0, 3 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&sp, 0, 12 * M2, VMS_R), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 1));
    cr_expect(eq(u32, last_flush()->batch.npages, 18));
    for (int i = 0; i < 6; i++)
        cr_expect(batch_covers(&last_flush()->batch, (uint64_t)i * 2 * M2, 3 * K4));
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 12 * M2), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 2));
    for (int i = 0; i < 6; i++)
        cr_expect(batch_covers(&last_flush()->batch, (uint64_t)i * 2 * M2, 3 * K4));
}

Test(flush, cursor_groups_until_flush_or_close) {
    cr_assert(eq(int, vms_space_activate(&sp, 4), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0, 64 * K4, VMS_RW, 0), VMS_OK));
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 64 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, 2 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, K4, NULL), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, 10 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_protect(&c, 2 * K4, VMS_R), VMS_OK));
    cr_expect(eq(sz, rec.flushes, 0));
    vms_cursor_flush(&c);
    cr_assert(eq(sz, rec.flushes, 1));
    const event_t *f = last_flush();
    cr_expect(eq(u64, f->cpus, bit(4)));
    cr_expect(eq(u32, f->batch.npages, 3));
    cr_expect(batch_covers(&f->batch, 2 * K4, K4));
    cr_expect(batch_covers(&f->batch, 10 * K4, 2 * K4));
    cr_expect(eq(u64, batch_bytes(&f->batch), 3 * K4));
    /* A flush with nothing gathered sends nothing. */
    vms_cursor_flush(&c);
    cr_expect(eq(sz, rec.flushes, 1));
    cr_assert(eq(int, vms_cursor_jump(&c, 40 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, K4, NULL), VMS_OK));
    vms_cursor_close(&c);
    cr_assert(eq(sz, rec.flushes, 2));
    f = last_flush();
    cr_expect(eq(u32, f->batch.npages, 1), "the batch restarts after a flush");
    cr_expect(eq(u64, batch_bytes(&f->batch), K4));
    cr_expect(batch_covers(&f->batch, 40 * K4, K4));
}

/* ---- table pages are freed after the flush ---- */

/* Physical addresses of the tables on the walk to va, below the root (levels 1..3). */
static void tables_on_walk(uint64_t va, uint64_t out[3]) {
    uint64_t inter[6] = {0};
    int level;
    cr_assert(ne(ptr, vt_walk(&sp, va, &level, inter), NULL));
    cr_assert(eq(int, level, 1));
    for (int l = 2; l <= 4; l++) out[l - 2] = inter[l] & VT_ADDR_BITS;
}

/* Each of tables[0..n) was freed exactly once, after the single flush, after event `from`. */
static void expect_freed_after_flush(size_t from, const uint64_t *tables, size_t n) {
    size_t flush_at = SIZE_MAX, flushes = 0;
    for (size_t i = from; i < rec.n; i++)
        if (rec.ev[i].kind == EV_FLUSH) {
            flushes++;
            if (flush_at == SIZE_MAX) flush_at = i;
        }
    cr_assert(eq(sz, flushes, 1));
    for (size_t k = 0; k < n; k++) {
        size_t times = 0;
        for (size_t i = from; i < rec.n; i++)
            if (rec.ev[i].kind == EV_FREE && rec.ev[i].pa == tables[k]) {
                times++;
                cr_expect(gt(sz, i, flush_at), "table %#llx freed before the flush",
                          VT_ULL(tables[k]));
            }
        cr_expect(eq(sz, times, 1), "table %#llx freed %zu times", VT_ULL(tables[k]), times);
    }
}

Test(flush, tables_freed_after_flush_unmap) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    uint64_t va = 0x12345000ull * 16;
    cr_assert(eq(int, vms_space_map(&sp, va, 0x7000, K4, VMS_RW, 0), VMS_OK));
    uint64_t t[3];
    tables_on_walk(va, t);
    size_t from = rec.n;
    cr_assert(eq(int, vms_space_unmap(&sp, va, K4), VMS_OK));
    expect_freed_after_flush(from, t, 3);
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
}

Test(flush, tables_freed_after_flush_cursor) {
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0x7000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 5 * G1, 0x7000, K4, VMS_RW, 0), VMS_OK));
    uint64_t t[6];
    tables_on_walk(0, t);
    tables_on_walk(5 * G1, t + 3);
    size_t from = rec.n;
    vms_cursor_t c;
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0, 6 * G1), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, K4, NULL), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, 5 * G1), VMS_OK));
    cr_assert(eq(int, vms_cursor_unmap(&c, K4, NULL), VMS_OK));
    for (size_t i = from; i < rec.n; i++)
        for (int k = 0; k < 5; k++) /* t[2] and t[5] are the same PDPT */
            cr_expect(not(rec.ev[i].kind == EV_FREE && rec.ev[i].pa == t[k]),
                      "table freed while the cursor is open");
    vms_cursor_close(&c);
    uint64_t distinct[5] = {t[0], t[1], t[2], t[3], t[4]};
    cr_assert(eq(u64, t[2], t[5]));
    expect_freed_after_flush(from, distinct, 5);
}

Test(flush, tables_freed_after_flush_replace) {
    cr_assert(eq(int, vms_space_activate(&sp, 7), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 3 * M2, 0, 8 * K4, VMS_RW, 0), VMS_OK));
    uint64_t t[3];
    tables_on_walk(3 * M2, t);
    size_t from = rec.n;
    /* A 2 MiB page over the page table's slot drops the page table. */
    cr_assert(eq(int, vms_space_map(&sp, 3 * M2, 5 * M2, M2, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    expect_freed_after_flush(from, t, 1);
    cr_expect(eq(u64, last_flush()->cpus, bit(7)));
    cr_expect(batch_covers(&last_flush()->batch, 3 * M2, 8 * K4));
    vt_expect_page(&sp, 3 * M2 + K4, 3 * M2, 5 * M2, M2, VMS_RW);
}

/* ---- randomized: every removed or weakened translation is covered ---- */

static bool rights_lost(vms_prop_t old, vms_prop_t neu) {
    const vms_prop_t r = VMS_R | VMS_W | VMS_X | VMS_USER;
    if (old & ~neu & r) return true;
    return ((old ^ neu) & (VMS_CACHE_MASK | VMS_GLOBAL)) != 0;
}

Test(flush, randomized_coverage) {
    teardown();
    space_init_with(64, true);
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    vt_rng_t rng;
    vt_rng_seed(&rng, vt_seed_from_env(0xf1a5));
    vt_model_t m;
    vt_model_init(&m);
    static const vms_prop_t props[] = {VMS_R,         VMS_RW,           VMS_RX | VMS_USER,
                                       VMS_RW | VMS_USER, 0,            VMS_R | VMS_GLOBAL,
                                       VMS_RW | VMS_CACHE_WC};
    const uint64_t window = 4 * G1;
    for (int it = 0; it < 3000; it++) {
        uint64_t sz = (vt_rng_below(&rng, 4) == 0) ? M2 : K4;
        uint64_t va = vt_rng_below(&rng, window / sz) * sz;
        uint64_t len = (1 + vt_rng_below(&rng, 40)) * (vt_rng_below(&rng, 3) ? K4 : M2);
        if (va + len > window) len = window - va;
        vms_prop_t p = props[vt_rng_below(&rng, sizeof props / sizeof props[0])];
        int op = (int)vt_rng_below(&rng, 4);
        /* The model's leaves the operation touches, before it. */
        size_t lo = vt_model_lower(&m, va), hi = lo;
        while (hi < m.n && m.v[hi].va < va + len) hi++;
        size_t k = hi - lo;
        vt_leaf_t *old = (vt_leaf_t *)malloc((k ? k : 1) * sizeof *old);
        if (k) memcpy(old, m.v + lo, k * sizeof *old);
        size_t nf = rec.flushes;
        bool split = false, must = false, may_skip = true, present = false;
        for (size_t i = 0; i < k; i++) {
            if (old[i].va < va || old[i].va + old[i].size > va + len) split = true;
            if (old[i].prop & VMS_R) present = true;
        }
        if (op == 0) { /* map, new slots only */
            uint64_t pa = vt_rng_below(&rng, 64) * G1 + (va & (G1 - 1));
            int want = vt_model_map(&m, va, pa, len, p, 0);
            cr_assert(eq(int, vms_space_map(&sp, va, pa, len, p, 0), want));
        } else if (op == 1) { /* map with replace */
            uint64_t pa = vt_rng_below(&rng, 64) * G1 + (va & (G1 - 1));
            cr_assert(eq(int, vt_model_map(&m, va, pa, len, p, VMS_MAP_REPLACE), VMS_OK));
            cr_assert(eq(int, vms_space_map(&sp, va, pa, len, p, VMS_MAP_REPLACE), VMS_OK));
            must = present; /* removing a no-access mapping need not flush */
            may_skip = k == 0;
        } else if (op == 2) {
            vt_model_unmap(&m, va, len);
            cr_assert(eq(int, vms_space_unmap(&sp, va, len), VMS_OK));
            must = present; /* removing a no-access mapping need not flush */
            may_skip = k == 0;
        } else {
            vt_model_protect(&m, va, len, p);
            cr_assert(eq(int, vms_space_protect(&sp, va, len, p), VMS_OK));
            bool weak = false;
            for (size_t i = 0; i < k; i++) {
                if (rights_lost(old[i].prop, p)) weak = true;
                if ((old[i].prop & VMS_R) && rights_lost(old[i].prop, p)) must = true;
            }
            may_skip = !split && !weak;
        }
        if (must) {
            cr_assert(eq(sz, rec.flushes, nf + 1), "op %d at %#llx +%#llx: flushes", op,
                      VT_ULL(va), VT_ULL(len));
            const vms_flush_batch_t *b = &last_flush()->batch;
            for (size_t i = 0; i < k; i++) {
                uint64_t s0 = old[i].va > va ? old[i].va : va;
                uint64_t e0 = old[i].va + old[i].size < va + len ? old[i].va + old[i].size
                                                                 : va + len;
                if ((old[i].prop & VMS_R) && (op != 3 || rights_lost(old[i].prop, p)))
                    cr_assert(batch_covers(b, s0, e0 - s0), "op %d: [%#llx, %#llx) not covered",
                              op, VT_ULL(s0), VT_ULL(e0));
            }
        } else if (may_skip) {
            cr_assert(eq(sz, rec.flushes, nf), "op %d at %#llx +%#llx: unexpected flush", op,
                      VT_ULL(va), VT_ULL(len));
        } else {
            cr_assert(le(sz, rec.flushes, nf + 1));
        }
        free(old);
        rec.n = 0; /* keep the log short */
        if (it % 250 == 0) {
            char msg[256];
            cr_assert(vt_compare_model(&sp, &m, msg, sizeof msg), "%s", msg);
        }
    }
    vt_model_free(&m);
}
