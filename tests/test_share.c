/* Share groups (vms_share_t): spaces whose tables for a range of whole top-level slots are the
 * same tables, as every process shares the kernel half.
 *
 *   share          the kernel half seen by every member (4 and 5 levels): what one member
 *                  changes there the others see, private halves stay apart, and each
 *                  member's stats are its own tables and mappings plus the group's
 *   share_flush    a shared change reaches every member's CPUs through its own flush hook;
 *                  a member away from a CPU where it holds a PCID reloads it with a flush
 *   share_swtlb    software TLBs and open cursors of the other members notice
 *   share_pinned   the top tables stay, even empty, while the group lives; destroy and leave
 *                  in any order free every table exactly once; the last leave unmaps
 *   share_errors   refused init, join and leave change nothing
 *   share_oom      out of memory at every allocation of init and of a member's map
 *   share_move     move, collapse and clone with a shared range
 *   share_diff     random operations through random members against a model per member
 *   share_threads  concurrent members (when threads are available)
 *
 * The checks after each step (check_group) walk every member's tables by hand: each is well
 * formed (vt_check_tables; vms_space_check under VMSPACE_DEBUG), the members hold the same
 * root entries and mappings for the shared range, and stats = own + group, where "own" and
 * "group" are counted from the walk and the enumeration, split at the range's edges.
 * VMS_SEED=<n> replays the differential test, VMS_SHARE_OPS=<n> changes its length (and half
 * of it the thread test's operations per thread).
 *
 * No test has a Criterion .timeout: with one, Criterion 2.4's runner leaks 48 bytes under
 * LeakSanitizer when tests run in parallel (ctest's TIMEOUT still applies). */
#define _GNU_SOURCE /* a writer-preferring rwlock for the reclaim hook of the thread tests */
#include <stdarg.h>
#include <stdio.h>

#include "support/vt_cr.h"

#if !defined(VMSPACE_NO_THREADS) && !defined(VT_SHARE_NO_PTHREADS)
#define VT_SHARE_THREADS 1
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#else
#define VT_SHARE_THREADS 0
#endif

#define MAXLOG 64
#define MAXFRAMES 4096
#define TOPVA ((uint64_t)0xffffffff80000000) /* where a kernel's text goes: the last slot */

enum { K, P1, P2, NSP };
static const char *const nm[NSP] = {"K", "P1", "P2"};

/* ---- the world: one failing-on-demand provider, a machine, up to three members ---- */

typedef struct hooks_s {
    size_t nflush; /* calls; the first MAXLOG are kept */
    struct {
        uint64_t cpus;
        vms_flush_batch_t b;
    } flush[MAXLOG];
    size_t ncr3; /* calls; the last MAXLOG are kept, by call number modulo MAXLOG */
    struct {
        int cpu;
        uint64_t cr3;
    } cr3[MAXLOG];
    size_t nframes;
    struct {
        uint64_t pa, len;
    } frames[MAXFRAMES];
    uint64_t frame_bytes;
} hooks_t;

typedef struct world_s {
    int levels;
    uint64_t up, half, span; /* the upper half (canonical start, length), one top slot */
    vt_fprov_t f;            /* every member's provider (f.prov); fails only when told */
    vms_machine_t mach;
    vms_space_t s[NSP];
    bool live[NSP];
    vms_share_t g;
    hooks_t h[NSP];
    uint64_t frames0; /* the arena's frames in use before any space */
    bool ready;       /* set by world_init; world_fini undoes it */
} world_t;
static world_t w;

static void on_flush(int id, void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    hooks_t *h = &w.h[id];
    cr_assert(eq(ptr, user, (void *)h), "%s's flush hook got another user", nm[id]);
    if (h->nflush < MAXLOG) {
        h->flush[h->nflush].cpus = cpus;
        h->flush[h->nflush].b = *b;
    }
    h->nflush++;
}
/* One hook function per space, so a flush sent through the wrong member's hook shows. */
static void flush_k(void *u, const vms_flush_batch_t *b, uint64_t c) { on_flush(K, u, b, c); }
static void flush_p1(void *u, const vms_flush_batch_t *b, uint64_t c) { on_flush(P1, u, b, c); }
static void flush_p2(void *u, const vms_flush_batch_t *b, uint64_t c) { on_flush(P2, u, b, c); }
static const vms_flush_fn flush_fns[NSP] = {flush_k, flush_p1, flush_p2};

static void on_cr3(void *user, int cpu, uint64_t cr3) {
    hooks_t *h = (hooks_t *)user;
    h->cr3[h->ncr3 % MAXLOG].cpu = cpu;
    h->cr3[h->ncr3 % MAXLOG].cr3 = cr3;
    h->ncr3++;
}
static uint64_t last_cr3(int id) {
    const hooks_t *h = &w.h[id];
    cr_assert(gt(sz, h->ncr3, 0), "%s: load_cr3 never called", nm[id]);
    return h->cr3[(h->ncr3 - 1) % MAXLOG].cr3;
}

static void on_frames(void *user, uint64_t pa, uint64_t len) {
    hooks_t *h = (hooks_t *)user;
    cr_assert(lt(sz, h->nframes, (size_t)MAXFRAMES));
    h->frames[h->nframes].pa = pa;
    h->frames[h->nframes].len = len;
    h->nframes++;
    h->frame_bytes += len;
}

static void world_init(int levels) {
    memset(&w, 0, sizeof w);
    w.levels = levels;
    w.half = levels == 5 ? (uint64_t)1 << 56 : (uint64_t)1 << 47;
    w.up = (uint64_t)0 - w.half; /* 0xffff800000000000, 0xff00000000000000 */
    w.span = levels == 5 ? VT_SZ_256T : VT_SZ_512G;
    cr_assert(eq(int, vt_fprov_init(&w.f, (uint64_t)128 << 20), VMS_OK));
    vms_machine_init(&w.mach);
    w.frames0 = w.f.arena.frames_in_use;
    w.ready = true;
}

static vms_space_t *space_new_desc(int id, bool pcid, bool frames, bool concurrent,
                                   const vms_reclaim_t *reclaim) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = w.levels;
    d.provider = &w.f.prov;
    d.flush = flush_fns[id];
    d.load_cr3 = on_cr3;
    d.hook_user = &w.h[id];
    d.pcid = pcid;
    d.frames = frames ? on_frames : NULL;
    d.concurrent = concurrent;
    d.reclaim = reclaim;
    cr_assert(eq(int, vms_space_init(&w.s[id], &d), VMS_OK));
    w.live[id] = true;
    return &w.s[id];
}
static vms_space_t *space_new(int id) { return space_new_desc(id, false, false, false, NULL); }

static void check_space(int id, const char *what);

static void space_gone(int id) {
    vms_space_t *s = &w.s[id];
    if (s->machine)
        for (int cpu = 0; cpu < 8; cpu++) cr_assert(eq(int, vms_space_deactivate(s, cpu), 0));
    cr_assert(eq(int, vms_space_destroy(s), VMS_OK), "destroy %s", nm[id]);
    w.live[id] = false;
}

static void world_fini(void) {
    if (!w.ready) return;
    for (int id = 0; id < NSP; id++)
        if (w.live[id]) {
            check_space(id, "teardown");
            space_gone(id);
        }
    cr_expect(eq(u64, w.f.arena.frames_in_use, w.frames0),
              "tables leaked or freed twice: %lld frames", (long long)w.f.arena.frames_in_use);
    vt_fprov_destroy(&w.f);
    w.ready = false;
}

/* ---- checks ---- */

#define MAP(s, va, pa, len, prop, flags)                                               \
    cr_assert(eq(int, vms_space_map((s), (va), (pa), (len), (prop), (flags)), VMS_OK), \
              "map %#llx", VT_ULL(va))
#define UNMAP(s, va, len) \
    cr_assert(eq(int, vms_space_unmap((s), (va), (len)), VMS_OK), "unmap %#llx", VT_ULL(va))

static uint64_t lin_of(const vms_space_t *s, uint64_t va) {
    return va & (s->levels == 5 ? ((uint64_t)1 << 57) - 1 : ((uint64_t)1 << 48) - 1);
}
/* The canonical address of linear address lin in the world's spaces. */
static uint64_t canon_of(uint64_t lin) {
    const uint64_t sign = (uint64_t)1 << (w.levels == 5 ? 56 : 47);
    return (lin ^ sign) - sign;
}
static bool in_share(const vms_space_t *s, uint64_t va) {
    return s->share && lin_of(s, va) >= s->share->lo && lin_of(s, va) < s->share->hi;
}
static int size_index(uint64_t size) { return size == K4 ? 0 : size == M2 ? 1 : 2; }
static bool is_leaf(uint64_t e, int l) { return l == 1 || ((l == 2 || l == 3) && (e & VT_BIT(7))); }

/* Tables at and below the table at pa (level `level`). */
static uint64_t tables_under(const vms_space_t *s, uint64_t pa, int level) {
    const uint64_t *t = vms_space_table(s, pa);
    uint64_t n = 1;
    if (level == 1) return 1;
    for (unsigned i = 0; i < 512; i++)
        if (vt_used(t[i]) && !is_leaf(t[i], level))
            n += tables_under(s, t[i] & VT_ADDR_BITS, level - 1);
    return n;
}

/* What the space holds, counted by hand and split at the edges of its shared range: `own`
 * (root included) and `grp` (the shared slots' tables and mappings). */
typedef struct split_s {
    vms_stats_t own, grp;
} split_t;

static int tally_map(void *user, const vms_mapping_t *m);
typedef struct tally_ctx_s {
    const vms_space_t *s;
    split_t *r;
} tally_ctx_t;
static int tally_map(void *user, const vms_mapping_t *m) {
    tally_ctx_t *c = (tally_ctx_t *)user;
    vms_stats_t *st = in_share(c->s, m->va) ? &c->r->grp : &c->r->own;
    st->mapped_bytes[size_index(m->size)] += m->size;
    return 0;
}

static split_t tally(const vms_space_t *s) {
    split_t r;
    const uint64_t *root = vms_space_table(s, s->root_pa);
    const uint64_t span = s->levels == 5 ? VT_SZ_256T : VT_SZ_512G;
    tally_ctx_t c = {s, &r};
    memset(&r, 0, sizeof r);
    r.own.table_pages = 1;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lin = (uint64_t)i * span, n;
        if (!vt_used(root[i])) continue;
        n = tables_under(s, root[i] & VT_ADDR_BITS, s->levels - 1);
        if (s->share && lin >= s->share->lo && lin < s->share->hi)
            r.grp.table_pages += n;
        else
            r.own.table_pages += n;
    }
    vms_space_enumerate(s, tally_map, &c);
    return r;
}

static void expect_stats_eq(const vms_stats_t *got, const vms_stats_t *want, const char *what,
                            const char *name, const char *which) {
    cr_assert(eq(u64, got->table_pages, want->table_pages),
              "%s: %s: %s table_pages %llu, walk %llu", what, name, which, VT_ULL(got->table_pages),
              VT_ULL(want->table_pages));
    for (int i = 0; i < 3; i++)
        cr_assert(eq(u64, got->mapped_bytes[i], want->mapped_bytes[i]),
                  "%s: %s: %s mapped_bytes[%d] %#llx, enumeration %#llx", what, name, which, i,
                  VT_ULL(got->mapped_bytes[i]), VT_ULL(want->mapped_bytes[i]));
}

/* One space: well formed, and its stats (and its own and its group's counters) what a walk
 * and an enumeration count. */
static void check_space_s(const vms_space_t *s, const char *name, const char *what) {
#ifdef VMSPACE_DEBUG
    const char *bad = vms_space_check(s);
    cr_assert(eq(ptr, (void *)bad, NULL), "%s: %s: vms_space_check: %s", what, name,
              bad ? bad : "");
#endif
    const char *why = vt_check_tables(s);
    cr_assert(eq(ptr, (void *)why, NULL), "%s: %s: tables: %s", what, name, why ? why : "");
    split_t t = tally(s);
    vms_stats_t st = vt_stats(s), all = t.own;
    all.table_pages += t.grp.table_pages;
    for (int i = 0; i < 3; i++) all.mapped_bytes[i] += t.grp.mapped_bytes[i];
    expect_stats_eq(&st, &all, what, name, "stats");
    if (s->share) {
        expect_stats_eq(&s->share->counts, &t.grp, what, name, "group");
        expect_stats_eq(&s->counts, &t.own, what, name, "own");
    }
}
static void check_space(int id, const char *what) { check_space_s(&w.s[id], nm[id], what); }

/* The mappings of s in [lo, lo + len), in order (malloc'ed). */
static vms_mapping_t *mappings_in(const vms_space_t *s, uint64_t lo, uint64_t len, size_t *n) {
    size_t all, k = 0;
    vms_mapping_t *v = vt_enumerate(s, &all);
    for (size_t i = 0; i < all; i++)
        if (v[i].va - lo < len) v[k++] = v[i];
    *n = k;
    return v;
}

/* Every live space checked; the members of w.g agree on the shared range: the same root
 * entries for its slots (the same tables), the same mappings. */
static void check_group(const char *what) {
    int ref = -1, members = 0;
    for (int id = 0; id < NSP; id++) {
        if (!w.live[id]) continue;
        check_space(id, what);
        if (w.s[id].share != &w.g) continue;
        members++;
        if (ref < 0) {
            ref = id;
            continue;
        }
        const uint64_t *a = vms_space_table(&w.s[ref], w.s[ref].root_pa);
        const uint64_t *b = vms_space_table(&w.s[id], w.s[id].root_pa);
        for (uint64_t i = w.g.lo / w.span; i < w.g.hi / w.span; i++) {
            cr_assert(eq(u64, a[i], b[i]), "%s: root entry %u: %s %#llx, %s %#llx", what,
                      (unsigned)i, nm[ref], VT_ULL(a[i]), nm[id], VT_ULL(b[i]));
            cr_assert(vt_used(a[i]), "%s: shared slot %u has no table", what, (unsigned)i);
        }
        size_t na, nb;
        const uint64_t glo = canon_of(w.g.lo), glen = w.g.hi - w.g.lo;
        vms_mapping_t *ma = mappings_in(&w.s[ref], glo, glen, &na);
        vms_mapping_t *mb = mappings_in(&w.s[id], glo, glen, &nb);
        cr_assert(eq(sz, na, nb), "%s: %s maps %zu pages in the shared range, %s %zu", what,
                  nm[ref], na, nm[id], nb);
        for (size_t i = 0; i < na; i++)
            cr_assert(ma[i].va == mb[i].va && ma[i].pa == mb[i].pa && ma[i].size == mb[i].size &&
                          ma[i].prop == mb[i].prop,
                      "%s: shared mapping %zu differs: %s va %#llx, %s va %#llx", what, i, nm[ref],
                      VT_ULL(ma[i].va), nm[id], VT_ULL(mb[i].va));
        free(ma);
        free(mb);
    }
    if (members) cr_assert(eq(u32, w.g.nmembers, (uint32_t)members), "%s: nmembers", what);
}

/* va lies in [pva, pva + size) at ppa with prop, in every member of w.g. */
static void expect_everywhere(uint64_t va, uint64_t pva, uint64_t ppa, uint64_t size,
                              vms_prop_t prop) {
    for (int id = 0; id < NSP; id++)
        if (w.live[id] && w.s[id].share == &w.g) vt_expect_page(&w.s[id], va, pva, ppa, size, prop);
}
static void expect_nowhere(uint64_t va) {
    for (int id = 0; id < NSP; id++)
        if (w.live[id] && w.s[id].share == &w.g) vt_expect_unmapped(&w.s[id], va);
}

/* K shares the upper half; P1 and P2 join. */
static void group_of_three(void) {
    cr_assert(eq(int, vms_share_init(&w.g, &w.s[K], w.up, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, &w.s[P1]), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, &w.s[P2]), VMS_OK));
}

/* ---- 1. the kernel half, seen by all ---- */

TestSuite(share, .fini = world_fini);

static void kernel_half(int levels) {
    world_init(levels);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = space_new(K), *p1, *p2;
    MAP(k, U + 0x1000, 0x100000, 4 * K4, VMS_RW | VMS_GLOBAL, 0);
    MAP(k, U + 5 * M2, 20 * M2, M2, VMS_RX | VMS_GLOBAL, 0);
    MAP(k, U + 3 * G1, 4 * G1, G1, VMS_RW | VMS_GLOBAL, 0);
    MAP(k, TOPVA, 0x1000000, 2 * M2, VMS_RX | VMS_GLOBAL, 0);
    MAP(k, 0x200000, 0x300000, K4, VMS_RW, 0); /* K's own */
    size_t n0, nup;
    vms_mapping_t *before = vt_enumerate(k, &n0);
    vms_mapping_t *up0 = mappings_in(k, U, w.half, &nup);
    const vms_stats_t st0 = vt_stats(k);
    const uint64_t dmap0 = vt_digest_mappings(k), nslots = w.half / S;
    /* The slots that had a table already. */
    uint64_t used = 0, prev = UINT64_MAX;
    for (size_t i = 0; i < nup; i++) {
        uint64_t slot = lin_of(k, up0[i].va) / S;
        if (slot != prev) used++;
        prev = slot;
    }
    cr_assert(eq(u64, used, 2), "the kernel mappings sit in two slots");

    cr_assert(eq(int, vms_share_init(&w.g, k, U, w.half), VMS_OK));
    cr_expect(eq(ptr, (void *)k->share, (void *)&w.g));
    cr_expect(eq(u32, w.g.nmembers, 1));
    cr_expect(eq(ptr, (void *)w.g.members, (void *)k));
    cr_expect(eq(u64, w.g.lo, lin_of(k, U)));
    cr_expect(eq(u64, w.g.hi, lin_of(k, U) + w.half));
    cr_expect(eq(u64, vt_table_pages(k), st0.table_pages + nslots - used),
              "every shared slot gets its top table");
    cr_expect(eq(u64, vt_digest_mappings(k), dmap0), "init changed the mappings");
    check_group("init");

    p1 = space_new(P1);
    MAP(p1, 0x400000, 0x800000, 8 * K4, VMS_RW | VMS_USER, 0);
    const uint64_t t1 = vt_table_pages(p1);
    cr_assert(eq(int, vms_share_join(&w.g, p1), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(p1), t1 + tally(k).grp.table_pages));
    vt_expect_page(p1, 0x401000, 0x401000, 0x801000, K4, VMS_RW | VMS_USER);
    p2 = space_new(P2);
    cr_assert(eq(int, vms_share_join(&w.g, p2), VMS_OK));
    check_group("joined");
    for (size_t i = 0; i < nup; i++) {
        const vms_mapping_t *m = &up0[i];
        expect_everywhere(m->va, m->va, m->pa, m->size, m->prop);
        expect_everywhere(m->va + m->size - K4, m->va, m->pa, m->size, m->prop);
    }
    vt_expect_unmapped(p1, 0x200000);
    vt_expect_unmapped(p2, 0x200000);
    vt_expect_unmapped(k, 0x400000);
    vt_expect_unmapped(p2, 0x400000);

    /* Changes through P1, seen by K and P2. */
    MAP(p1, U + 7 * G1 + 0x3000, 0x7000000, 3 * K4, VMS_RW, 0);
    check_group("map 4K through P1");
    expect_everywhere(U + 7 * G1 + 0x4000, U + 7 * G1 + 0x4000, 0x7001000, K4, VMS_RW);
    MAP(p1, U + S + G1, 6 * M2, M2, VMS_R, 0);
    check_group("map 2M through P1 in the second slot");
    expect_everywhere(U + S + G1 + 0x1234, U + S + G1, 6 * M2, M2, VMS_R);
    MAP(p1, U + 2 * S - K4, 0x9000000, 2 * K4, VMS_RW, 0);
    check_group("map across two shared slots");
    expect_everywhere(U + 2 * S - K4, U + 2 * S - K4, 0x9000000, K4, VMS_RW);
    expect_everywhere(U + 2 * S, U + 2 * S, 0x9001000, K4, VMS_RW);
    MAP(p1, U + 9 * G1, 9 * G1, G1, VMS_RX, 0);
    check_group("map 1G through P1");
    expect_everywhere(U + 9 * G1 + 77 * M2, U + 9 * G1, 9 * G1, G1, VMS_RX);
    UNMAP(p1, U + 0x2000, K4);
    check_group("unmap through P1");
    expect_nowhere(U + 0x2000);
    expect_everywhere(U + 0x1000, U + 0x1000, 0x100000, K4, VMS_RW | VMS_GLOBAL);
    expect_everywhere(U + 0x3000, U + 0x3000, 0x102000, K4, VMS_RW | VMS_GLOBAL);
    cr_assert(eq(int, vms_space_protect(p1, U + 5 * M2 + 0x1000, K4, VMS_R), VMS_OK));
    check_group("protect through P1 (splits a 2M page)");
    expect_everywhere(U + 5 * M2 + 0x1000, U + 5 * M2 + 0x1000, 20 * M2 + 0x1000, K4, VMS_R);
    expect_everywhere(U + 5 * M2, U + 5 * M2, 20 * M2, K4, VMS_RX | VMS_GLOBAL);
    cr_assert(eq(int, vms_space_protect_mask(p1, U + 3 * G1, G1, 0, VMS_W), VMS_OK));
    check_group("protect_mask through P1");
    expect_everywhere(U + 3 * G1 + 7 * M2, U + 3 * G1, 4 * G1, G1, VMS_R | VMS_GLOBAL);
    UNMAP(p2, TOPVA, 2 * M2);
    check_group("unmap through P2 at the top");
    expect_nowhere(TOPVA);
    expect_nowhere(TOPVA + M2);

    /* The private halves stay apart. */
    MAP(p2, 0x400000, 0x900000, K4, VMS_R, 0);
    vt_expect_page(p1, 0x400000, 0x400000, 0x800000, K4, VMS_RW | VMS_USER);
    vt_expect_page(p2, 0x400000, 0x400000, 0x900000, K4, VMS_R);
    vt_expect_unmapped(k, 0x400000);
    UNMAP(p1, 0x400000, K4);
    vt_expect_unmapped(p1, 0x400000);
    vt_expect_page(p2, 0x400000, 0x400000, 0x900000, K4, VMS_R);
    vt_expect_page(k, 0x200000, 0x200000, 0x300000, K4, VMS_RW);
    check_group("private changes");
    free(before);
    free(up0);
}

Test(share, kernel_half_seen_by_all) { kernel_half(4); }
Test(share, kernel_half_seen_by_all_5_levels) { kernel_half(5); }

/* A group over two slots of the upper half only: the slots around it are each space's own. */
Test(share, part_of_the_upper_half) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = space_new(K), *p1 = space_new(P1);
    cr_assert(eq(int, vms_share_init(&w.g, k, U + S, 2 * S), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, p1), VMS_OK));
    /* One map across the group's lower edge, one across its upper edge. */
    MAP(p1, U + S - K4, 0x10000, 2 * K4, VMS_RW, 0);
    MAP(p1, U + 3 * S - K4, 0x20000, 2 * K4, VMS_RW, 0);
    check_group("maps across the edges");
    vt_expect_unmapped(k, U + S - K4);
    vt_expect_page(k, U + S, U + S, 0x11000, K4, VMS_RW);
    vt_expect_page(k, U + 3 * S - K4, U + 3 * S - K4, 0x20000, K4, VMS_RW);
    vt_expect_unmapped(k, U + 3 * S);
    vt_expect_page(p1, U + 3 * S, U + 3 * S, 0x21000, K4, VMS_RW);
    MAP(k, U + S - K4, 0x30000, K4, VMS_R, 0); /* K's own slot */
    vt_expect_page(p1, U + S - K4, U + S - K4, 0x10000, K4, VMS_RW);
    UNMAP(k, U + S - K4, 2 * K4);
    check_group("unmap across the lower edge through K");
    vt_expect_unmapped(p1, U + S);
    vt_expect_page(p1, U + S - K4, U + S - K4, 0x10000, K4, VMS_RW);
}

/* ---- 2. flushes ---- */

TestSuite(share_flush, .fini = world_fini);

static bool covers(const vms_flush_batch_t *b, uint64_t va, uint64_t len) {
    if (b->all) return true;
    for (uint32_t i = 0; i < b->nranges; i++)
        if (b->ranges[i].va <= va && va - b->ranges[i].va + len <= b->ranges[i].len) return true;
    return false;
}

static void reset_logs(void) {
    for (int id = 0; id < NSP; id++) w.h[id].nflush = 0;
}

/* Exactly `n` flushes reached id since the reset; the last covers [va, va + len) for cpus. */
static void expect_flushed(int id, size_t n, uint64_t cpus, uint64_t va, uint64_t len) {
    const hooks_t *h = &w.h[id];
    cr_assert(eq(sz, h->nflush, n), "%s: %zu flushes, want %zu", nm[id], h->nflush, n);
    if (!n) return;
    cr_expect(eq(u64, h->flush[n - 1].cpus, cpus), "%s: flushed CPUs %#llx, want %#llx", nm[id],
              VT_ULL(h->flush[n - 1].cpus), VT_ULL(cpus));
    cr_expect(covers(&h->flush[n - 1].b, va, len), "%s: the flush misses %#llx", nm[id],
              VT_ULL(va));
}

static void three_attached(bool pcid) {
    world_init(4);
    for (int id = 0; id < NSP; id++) space_new_desc(id, pcid, false, false, NULL);
    for (int id = 0; id < NSP; id++)
        cr_assert(eq(int, vms_space_attach(&w.s[id], &w.mach), VMS_OK));
    MAP(&w.s[K], w.up + 0x1000, 0x100000, 8 * K4, VMS_RW | VMS_GLOBAL, 0);
    MAP(&w.s[K], w.up + G1, 2 * G1, G1, VMS_RW, 0);
    group_of_three();
    MAP(&w.s[P1], 0x400000, 0x800000, 4 * K4, VMS_RW | VMS_USER, 0);
}

Test(share_flush, shared_changes_reach_every_member) {
    const uint64_t U = (uint64_t)0xffff800000000000;
    three_attached(false);
    cr_assert(eq(int, vms_space_activate(&w.s[K], 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&w.s[K], 4), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&w.s[P1], 1), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&w.s[P2], 2), VMS_OK));
    reset_logs();
    UNMAP(&w.s[P1], U + 0x2000, K4);
    expect_flushed(K, 1, 0x11, U + 0x2000, K4);
    expect_flushed(P1, 1, 0x2, U + 0x2000, K4);
    expect_flushed(P2, 1, 0x4, U + 0x2000, K4);
    cr_expect(w.h[P2].flush[0].b.global, "a global page left: globals flushed too");
    /* A private change flushes only its own space. */
    reset_logs();
    UNMAP(&w.s[P1], 0x401000, K4);
    expect_flushed(P1, 1, 0x2, 0x401000, K4);
    expect_flushed(K, 0, 0, 0, 0);
    expect_flushed(P2, 0, 0, 0, 0);
    /* Weakening through K: every member; mapping into a hole: none. */
    reset_logs();
    cr_assert(eq(int, vms_space_protect(&w.s[K], U + 0x3000, 2 * K4, VMS_R), VMS_OK));
    expect_flushed(K, 1, 0x11, U + 0x3000, 2 * K4);
    expect_flushed(P1, 1, 0x2, U + 0x3000, 2 * K4);
    expect_flushed(P2, 1, 0x4, U + 0x3000, 2 * K4);
    reset_logs();
    MAP(&w.s[P2], U + 5 * G1, 0x5000000, K4, VMS_RW, 0);
    for (int id = 0; id < NSP; id++) expect_flushed(id, 0, 0, 0, 0);
    /* A split of the 1 GiB page through P2 (protect of one 4 KiB page in it). */
    reset_logs();
    cr_assert(eq(int, vms_space_protect(&w.s[P2], U + G1 + M2, K4, VMS_R), VMS_OK));
    expect_flushed(K, 1, 0x11, U + G1 + M2, K4);
    expect_flushed(P1, 1, 0x2, U + G1 + M2, K4);
    expect_flushed(P2, 1, 0x4, U + G1 + M2, K4);
    /* A member active nowhere hears nothing; the others still do. */
    cr_assert(eq(int, vms_space_deactivate(&w.s[P1], 1), VMS_OK));
    reset_logs();
    UNMAP(&w.s[K], U + G1, G1);
    expect_flushed(K, 1, 0x11, U + G1, G1);
    expect_flushed(P1, 0, 0, 0, 0);
    expect_flushed(P2, 1, 0x4, U + G1, G1);
    check_group("flushes");
}

/* A member away from a CPU where it holds a PCID must reload it with a flush after a shared
 * change made through another member, and only then. */
Test(share_flush, pcid_stale_after_a_shared_change) {
    const uint64_t U = (uint64_t)0xffff800000000000;
    three_attached(true);
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    cr_assert(eq(int, vms_space_activate(k, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p1, 1), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p2, 2), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p2, 3), VMS_OK)); /* P2 gets a PCID on CPU 3 */
    cr_assert(eq(int, vms_space_activate(k, 3), VMS_OK));  /* and leaves it */
    /* Control: nothing changed, so the TLB may be kept. */
    cr_assert(eq(int, vms_space_activate(p2, 3), VMS_OK));
    cr_expect(eq(u64, last_cr3(P2) & VMS_CR3_NOFLUSH, VMS_CR3_NOFLUSH), "no change, no flush");
    cr_assert(eq(int, vms_space_activate(k, 3), VMS_OK));
    /* A private change of P1 leaves P2's entries alone. */
    UNMAP(p1, 0x400000, K4);
    cr_assert(eq(int, vms_space_activate(p2, 3), VMS_OK));
    cr_expect(eq(u64, last_cr3(P2) & VMS_CR3_NOFLUSH, VMS_CR3_NOFLUSH),
              "P1's private unmap made P2 stale");
    cr_assert(eq(int, vms_space_activate(k, 3), VMS_OK));
    /* A shared change through P1: P2 missed it on CPU 3. */
    UNMAP(p1, U + 0x1000, K4);
    cr_assert(eq(int, vms_space_activate(p2, 3), VMS_OK));
    cr_expect(eq(u64, last_cr3(P2) & VMS_CR3_NOFLUSH, 0), "P2 kept stale shared entries");
    cr_expect(eq(u64, last_cr3(P2) & VT_ADDR_BITS, p2->root_pa));
    /* The same for a weakening through K, seen by P1 away from CPU 2. */
    cr_assert(eq(int, vms_space_activate(p1, 2), VMS_OK)); /* P1 gets a PCID on CPU 2 */
    cr_assert(eq(int, vms_space_activate(p2, 2), VMS_OK));
    cr_assert(eq(int, vms_space_protect(k, U + 0x2000, K4, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p1, 2), VMS_OK));
    cr_expect(eq(u64, last_cr3(P1) & VMS_CR3_NOFLUSH, 0), "P1 kept stale shared entries");
    /* And once reloaded, a switch back keeps the TLB again. */
    cr_assert(eq(int, vms_space_activate(p2, 2), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p1, 2), VMS_OK));
    cr_expect(eq(u64, last_cr3(P1) & VMS_CR3_NOFLUSH, VMS_CR3_NOFLUSH));
    check_group("pcid");
}

/* ---- 3. software TLBs and cursors of the other members ---- */

TestSuite(share_swtlb, .fini = world_fini);

static void three_members(int levels) {
    world_init(levels);
    for (int id = 0; id < NSP; id++) space_new(id);
    group_of_three();
}

Test(share_swtlb, other_members_caches_drop_shared_changes) {
    three_members(4);
    const uint64_t U = w.up;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    vms_swtlb_t t, tk;
    uint64_t pa = 0;
    MAP(k, U + 0x1000, 0x100000, 2 * K4, VMS_RW, 0);
    MAP(k, U + 3 * G1, 4 * G1, G1, VMS_RW, 0);
    MAP(p2, 0x400000, 0x800000, K4, VMS_RW, 0);
    vms_swtlb_init(&t, p2);
    vms_swtlb_init(&tk, k);
    cr_assert(vms_swtlb_translate(&t, U + 0x1008, &pa));
    cr_expect(eq(u64, pa, 0x100008));
    cr_assert(vms_swtlb_translate(&t, U + 3 * G1 + 0x5000, &pa));
    cr_assert(vms_swtlb_translate(&tk, U + 3 * G1, &pa));
    const uint64_t m0 = t.misses;
    cr_assert(vms_swtlb_translate(&t, U + 0x1010, &pa));
    cr_expect(eq(u64, t.misses, m0), "a cached entry hits");
    /* A change of P1's own half is none of P2's business. */
    MAP(p1, 0x400000, 0x900000, K4, VMS_RW, 0);
    UNMAP(p1, 0x400000, K4);
    cr_assert(vms_swtlb_translate(&t, U + 0x1010, &pa));
    cr_expect(eq(u64, t.misses, m0), "P1's private unmap dropped P2's cache");
    /* The shared page goes through P1: P2's cache must not answer for it. */
    UNMAP(p1, U + 0x1000, K4);
    cr_expect(not(vms_swtlb_translate(&t, U + 0x1000, &pa)), "P2's software TLB kept it");
    cr_expect(vms_swtlb_translate(&t, U + 0x2000, &pa));
    cr_expect(eq(u64, pa, 0x101000));
    /* A 1 GiB page replaced through P2, seen by K's cache; then taken to no access. */
    MAP(p2, U + 3 * G1, 8 * G1, G1, VMS_RW, VMS_MAP_REPLACE);
    cr_assert(vms_swtlb_translate(&tk, U + 3 * G1 + 0x123, &pa));
    cr_expect(eq(u64, pa, 8 * G1 + 0x123), "K's software TLB kept the old frame");
    cr_assert(eq(int, vms_space_protect(p1, U + 3 * G1, G1, 0), VMS_OK));
    cr_expect(not(vms_swtlb_translate(&tk, U + 3 * G1 + 0x123, &pa)));
    cr_expect(not(vms_swtlb_translate(&t, U + 3 * G1 + 0x5000, &pa)));
    cr_assert(vms_swtlb_translate(&t, 0x400000, &pa), "P2's own page");
    cr_expect(eq(u64, pa, 0x800000));
    check_group("swtlb");
}

/* A cursor of P2 holds the path to a shared table that P1's unmap frees: its next call
 * walks again instead of reading the freed table. */
Test(share_swtlb, other_members_cursors_walk_again) {
    three_members(4);
    const uint64_t U = w.up;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    vms_cursor_t c;
    vms_mapping_t m;
    MAP(k, U + 0x1000, 0x100000, 4 * K4, VMS_RW, 0);
    cr_assert(eq(int, vms_cursor_open(&c, p2, U, M2), VMS_OK));
    cr_assert(eq(int, vms_cursor_jump(&c, U + 0x2000), VMS_OK));
    cr_assert(eq(int, vms_cursor_query(&c, &m), VMS_OK));
    cr_expect(eq(u64, m.pa, 0x101000));
    UNMAP(p1, U, M2); /* the page table goes back to the arena */
    MAP(k, U + G1, 0x200000, K4, VMS_R, 0);
    cr_assert(eq(int, vms_cursor_jump(&c, U + 0x2000), VMS_OK));
    cr_expect(eq(int, vms_cursor_query(&c, &m), VMS_ERR_NOENT), "the cursor read a freed table");
    /* And maps through a path it walks again: seen by all. */
    cr_assert(eq(int, vms_cursor_map(&c, 0x700000, K4, VMS_RW, 0), VMS_OK));
    vms_cursor_close(&c);
    expect_everywhere(U + 0x2000, U + 0x2000, 0x700000, K4, VMS_RW);
    check_group("cursor");
}

/* ---- 4. the top tables are pinned; destroy and leave ---- */

TestSuite(share_pinned, .fini = world_fini);

Test(share_pinned, empty_top_tables_stay_and_any_destroy_order) {
    world_init(4);
    const uint64_t U = w.up, S = w.span, nslots = w.half / S;
    vms_space_t *k = space_new(K), *p1 = space_new(P1), *p2 = space_new(P2);
    uint64_t data[8];
    const uint64_t f0 = w.f.arena.frames_in_use - 3; /* before the three roots */
    for (int i = 0; i < 8; i++)
        cr_assert(eq(int, vms_arena_alloc_data(&w.f.arena, K4, K4, &data[i]), VMS_OK));
    const uint64_t fdata = w.f.arena.frames_in_use - 3; /* data frames are not counted */
    cr_expect(eq(u64, fdata, f0));
    group_of_three();
    for (int i = 0; i < 4; i++) MAP(k, U + (uint64_t)i * K4, data[i], K4, VMS_RW, 0);
    MAP(k, U + 2 * S + M2, 6 * M2, M2, VMS_RW, 0);
    MAP(p1, U + 7 * S + 3 * G1, 3 * G1, G1, VMS_R, 0);
    check_group("mapped");
    /* Everything in the range unmapped through P2: the top tables stay. */
    UNMAP(p2, U, w.half);
    check_group("all unmapped");
    for (int id = 0; id < NSP; id++) {
        size_t n;
        free(mappings_in(&w.s[id], U, w.half, &n));
        cr_expect(eq(sz, n, 0), "%s still maps %zu pages in the range", nm[id], n);
        cr_expect(eq(u64, tally(&w.s[id]).grp.table_pages, nslots),
                  "%s: the top tables of the range", nm[id]);
    }
    cr_expect(eq(u64, w.g.counts.table_pages, nslots));
    const vms_stats_t gc = w.g.counts;
    cr_expect(eq(u64, gc.mapped_bytes[0] + gc.mapped_bytes[1] + gc.mapped_bytes[2], 0));
    /* Mapping again works through any member. */
    for (int i = 0; i < 4; i++) MAP(p1, U + 9 * S + (uint64_t)i * K4, data[i], K4, VMS_RW, 0);
    MAP(k, U + 5 * S + G1, 7 * G1, G1, VMS_RX, 0);
    MAP(p2, U + 6 * S + 3 * M2, 3 * M2, M2, VMS_R, 0);
    for (int id = 0; id < NSP; id++) MAP(&w.s[id], 0x400000, data[4 + id], K4, VMS_RW, 0);
    check_group("mapped again");
    /* K goes first: the others keep the range. */
    space_gone(K);
    check_group("K destroyed");
    vt_expect_page(p1, U + 9 * S + K4, U + 9 * S + K4, data[1], K4, VMS_RW);
    vt_expect_page(p2, U + 5 * S + G1 + 5, U + 5 * S + G1, 7 * G1, G1, VMS_RX);
    vt_expect_page(p2, 0x400000, 0x400000, data[6], K4, VMS_RW);
    MAP(p2, U + 11 * S, data[7], K4, VMS_R, 0);
    vt_expect_page(p1, U + 11 * S, U + 11 * S, data[7], K4, VMS_R);
    space_gone(P1);
    check_group("P1 destroyed");
    vt_expect_page(p2, U + 6 * S + 3 * M2, U + 6 * S + 3 * M2, 3 * M2, M2, VMS_R);
    vt_expect_page(p2, U + 9 * S + 3 * K4, U + 9 * S + 3 * K4, data[3], K4, VMS_RW);
    cr_expect(eq(u32, w.g.nmembers, 1));
    space_gone(P2);
    cr_expect(eq(u64, w.f.arena.frames_in_use, fdata), "tables leaked or freed twice");
    for (int i = 0; i < 8; i++)
        cr_expect(eq(int, vms_arena_free_data(&w.f.arena, data[i], K4), VMS_OK),
                  "data frame %d no longer live data", i);
}

/* The other destroy order: the last member is the one that made the group. */
Test(share_pinned, destroy_members_before_the_kernel) {
    three_members(5);
    const uint64_t U = w.up, S = w.span;
    MAP(&w.s[P2], U + S + G1, 0x1000000, 3 * K4, VMS_RW, 0);
    MAP(&w.s[P1], U + 3 * S, 4 * G1, G1, VMS_RW, 0);
    space_gone(P2);
    check_group("P2 destroyed");
    space_gone(P1);
    check_group("P1 destroyed");
    vt_expect_page(&w.s[K], U + S + G1 + K4, U + S + G1 + K4, 0x1001000, K4, VMS_RW);
    vt_expect_page(&w.s[K], U + 3 * S + M2, U + 3 * S, 4 * G1, G1, VMS_RW);
}

/* Every frame the runs reported by a frames hook cover: the mapping lies in one run. */
static bool heard(const hooks_t *h, uint64_t pa, uint64_t len) {
    for (size_t i = 0; i < h->nframes; i++)
        if (pa >= h->frames[i].pa && pa - h->frames[i].pa + len <= h->frames[i].len) return true;
    return false;
}

/* K, P1 and P2 with frames hooks, on the machine; P1 runs on CPU 1, P2 on CPU 2. */
static void leave_setup(void) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    for (int id = 0; id < NSP; id++) {
        space_new_desc(id, false, true, false, NULL);
        cr_assert(eq(int, vms_space_attach(&w.s[id], &w.mach), VMS_OK));
    }
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    MAP(k, U + 0x1000, 0x100000, 4 * K4, VMS_RW | VMS_GLOBAL, 0);
    MAP(k, U + S + 5 * M2, 20 * M2, M2, VMS_RX, 0);
    MAP(k, U + 4 * S + 3 * G1, 4 * G1, G1, VMS_RW, 0);
    MAP(k, TOPVA, 0x3000000, 3 * K4, VMS_RW, 0);
    MAP(p1, 0x400000, 0x800000, 2 * K4, VMS_RW, 0);
    group_of_three();
    MAP(p2, U + 2 * S, 0x4000000, 2 * M2 + K4, VMS_R, 0);
    cr_assert(eq(int, vms_space_activate(p1, 1), VMS_OK));
    cr_assert(eq(int, vms_space_activate(p2, 2), VMS_OK));
    check_group("before leave");
}

Test(share_pinned, leave_by_members_that_are_not_last) {
    leave_setup();
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1];
    const uint64_t own1 = tally(p1).own.table_pages;

    /* P1 leaves: it maps nothing there any more, its CPUs flushed, nothing freed. */
    const uint64_t f0 = w.f.arena.frames_in_use;
    reset_logs();
    cr_assert(eq(int, vms_share_leave(p1), VMS_OK));
    cr_expect(eq(ptr, (void *)p1->share, NULL));
    cr_expect(eq(sz, w.h[P1].nflush, 1), "P1's CPUs were not flushed");
    if (w.h[P1].nflush) {
        cr_expect(eq(u64, w.h[P1].flush[0].cpus, 0x2));
        cr_expect(covers(&w.h[P1].flush[0].b, U, w.half), "the flush misses the range");
        cr_expect(w.h[P1].flush[0].b.global, "global kernel pages left: globals flushed");
    }
    cr_expect(eq(sz, w.h[K].nflush + w.h[P2].nflush, 0), "the others lost nothing");
    cr_expect(eq(sz, w.h[P1].nframes, 0), "frames handed back by a member that is not last");
    cr_expect(eq(u64, w.f.arena.frames_in_use, f0), "a leave that is not the last freed tables");
    cr_expect(eq(u64, vt_table_pages(p1), own1));
    size_t n;
    free(mappings_in(p1, U, w.half, &n));
    cr_expect(eq(sz, n, 0));
    vt_expect_unmapped(p1, U + 0x1000);
    vt_expect_unmapped(p1, U + 4 * S + 3 * G1);
    vt_expect_page(p1, 0x400000, 0x400000, 0x800000, K4, VMS_RW);
    check_group("P1 left");
    expect_everywhere(U + 0x1000, U + 0x1000, 0x100000, K4, VMS_RW | VMS_GLOBAL);
    cr_expect(eq(int, vms_share_leave(p1), VMS_ERR_ARG), "a second leave");
    /* P1's upper half is its own now. */
    MAP(p1, U + 0x1000, 0x900000, K4, VMS_R, 0);
    vt_expect_page(k, U + 0x1000, U + 0x1000, 0x100000, K4, VMS_RW | VMS_GLOBAL);
    check_group("P1 maps its own upper half");

    /* K leaves too (not the last either). */
    cr_assert(eq(int, vms_share_leave(k), VMS_OK));
    vt_expect_unmapped(k, U + 0x1000);
    vt_expect_page(&w.s[P2], U + 0x1000, U + 0x1000, 0x100000, K4, VMS_RW | VMS_GLOBAL);
    check_group("K left");
}

/* Regression: the last member's leave once ran the debug check of its unmap while the top
 * tables were unpinned but not yet pruned. */

Test(share_pinned, the_last_leave_unmaps_the_range) {
    leave_setup();
    const uint64_t U = w.up;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    size_t n;
    cr_assert(eq(int, vms_share_leave(p1), VMS_OK));
    cr_assert(eq(int, vms_share_leave(k), VMS_OK));
    check_group("K and P1 left");
    size_t ng;
    vms_mapping_t *gm = mappings_in(p2, U, w.half, &ng);
    const split_t t2 = tally(p2);
    const uint64_t gbytes =
        t2.grp.mapped_bytes[0] + t2.grp.mapped_bytes[1] + t2.grp.mapped_bytes[2];
    const uint64_t f1 = w.f.arena.frames_in_use;
    reset_logs();
    cr_assert(eq(int, vms_share_leave(p2), VMS_OK));
    cr_expect(eq(u64, w.h[P2].frame_bytes, gbytes), "the frames hook heard %#llx bytes of %#llx",
              VT_ULL(w.h[P2].frame_bytes), VT_ULL(gbytes));
    for (size_t i = 0; i < ng; i++)
        cr_expect(heard(&w.h[P2], gm[i].pa, gm[i].size), "frame %#llx of %#llx not heard",
                  VT_ULL(gm[i].pa), VT_ULL(gm[i].va));
    cr_expect(eq(u64, f1 - w.f.arena.frames_in_use, t2.grp.table_pages),
              "the group's %llu tables: %lld went back", VT_ULL(t2.grp.table_pages),
              (long long)(f1 - w.f.arena.frames_in_use));
    cr_expect(ge(sz, w.h[P2].nflush, 1), "P2's CPUs were not flushed");
    cr_expect(eq(sz, w.h[K].nframes + w.h[P1].nframes, 0));
    free(gm);
    free(mappings_in(p2, U, w.half, &n));
    cr_expect(eq(sz, n, 0));
    cr_expect(eq(u64, vt_table_pages(p2), t2.own.table_pages));
    cr_expect(eq(u32, w.g.nmembers, 0));
    cr_expect(eq(ptr, (void *)w.g.members, NULL));
    check_group("P2 left");
    /* The group's storage may be used again. */
    cr_assert(eq(int, vms_share_init(&w.g, p2, U, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, k), VMS_OK));
    MAP(k, U + 0x5000, 0x5000, K4, VMS_RW, 0);
    expect_everywhere(U + 0x5000, U + 0x5000, 0x5000, K4, VMS_RW);
    check_group("again");
}

/* ---- 5. errors change nothing ---- */

TestSuite(share_errors, .fini = world_fini);

typedef struct init_case_s {
    const char *what;
    uint64_t va, len;
    int want;
} init_case_t;

Test(share_errors, init_refusals) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = space_new(K), *p1 = space_new(P1);
    vms_share_t g2, g3;
    MAP(k, U + 0x1000, 0x100000, 2 * K4, VMS_RW, 0);
    MAP(k, 0x1000, 0x200000, K4, VMS_RW, 0);
    const init_case_t cases[] = {
        {"va a page into a slot", U + K4, S, VMS_ERR_ALIGN},
        {"va half a slot in", U + S / 2, S, VMS_ERR_ALIGN},
        {"len half a slot", U, S / 2, VMS_ERR_ALIGN},
        {"len a slot and a page", U, S + K4, VMS_ERR_ALIGN},
        {"va not page aligned", U + 0x800, S, VMS_ERR_ALIGN},
        {"non-canonical va", (uint64_t)1 << 47, S, VMS_ERR_NONCANON},
        {"zero length", U, 0, VMS_ERR_ZEROLEN},
        {"across the hole", ((uint64_t)1 << 47) - S, 2 * S, VMS_ERR_OVERFLOW},
        {"past the top", U + w.half - S, 2 * S, VMS_ERR_OVERFLOW},
    };
    const uint64_t dk = vt_digest(k), f0 = w.f.arena.frames_in_use;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = vms_share_init(&w.g, k, cases[i].va, cases[i].len);
        cr_expect(eq(int, rc, cases[i].want), "%s: %s, want %s", cases[i].what, vms_err_name(rc),
                  vms_err_name(cases[i].want));
        cr_expect(eq(u64, vt_digest(k), dk), "%s: the space changed", cases[i].what);
        cr_expect(eq(ptr, (void *)k->share, NULL), "%s", cases[i].what);
        cr_expect(eq(u64, w.f.arena.frames_in_use, f0), "%s: frames", cases[i].what);
    }
    cr_expect(eq(int, vms_share_init(NULL, k, U, w.half), VMS_ERR_ARG));
    cr_expect(eq(u64, vt_digest(k), dk));
    /* Sharing already. */
    cr_assert(eq(int, vms_share_init(&w.g, k, U, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, p1), VMS_OK));
    const uint64_t dk2 = vt_digest(k), dp = vt_digest(p1);
    const vms_share_t g0 = w.g;
    cr_expect(eq(int, vms_share_init(&g2, k, U, S), VMS_ERR_SHARED));
    cr_expect(eq(int, vms_share_init(&g3, p1, 0, S), VMS_ERR_SHARED), "a joined member");
    cr_expect(eq(int, vms_share_init(&w.g, k, U, w.half), VMS_ERR_SHARED), "its own group");
    cr_expect(eq(u64, vt_digest(k), dk2));
    cr_expect(eq(u64, vt_digest(p1), dp));
    cr_expect(eq(int, memcmp(&g0, &w.g, sizeof g0), 0), "the group changed");
    check_group("init refusals");
}

Test(share_errors, join_and_leave_refusals) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = space_new(K), *p1 = space_new(P1), *p2 = space_new(P2);
    vms_space_t five, own, narrow, other, q;
    vms_space_desc_t d;
    vt_fprov_t f2;
    vms_share_t zero, g2;
    MAP(k, U + 0x1000, 0x100000, 2 * K4, VMS_RW, 0);
    MAP(p2, 0x1000, 0x200000, K4, VMS_RW, 0);
    cr_assert(eq(int, vms_share_init(&w.g, k, U, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, p1), VMS_OK));
    /* Candidates that differ from the members in one way each. */
    memset(&d, 0, sizeof d);
    d.provider = &w.f.prov;
    d.levels = 5;
    cr_assert(eq(int, vms_space_init(&five, &d), VMS_OK));
    d.levels = 4;
    d.phys_bits = 46;
    cr_assert(eq(int, vms_space_init(&narrow, &d), VMS_OK));
    cr_assert(eq(int, vt_space_init(&own, 4, (uint64_t)16 << 20), VMS_OK)); /* its own arena */
    cr_assert(eq(int, vt_fprov_init(&f2, (uint64_t)16 << 20), VMS_OK));
    d.phys_bits = 0;
    d.provider = &f2.prov; /* the same hooks over other memory */
    cr_assert(eq(int, vms_space_init(&other, &d), VMS_OK));
    d.provider = &w.f.prov;
    cr_assert(eq(int, vms_space_init(&q, &d), VMS_OK));
    MAP(&q, U + 0x7000, 0x7000, K4, VMS_R, 0);
    struct {
        const char *what;
        vms_share_t *g;
        vms_space_t *s;
        int want;
    } cases[] = {
        {"a zeroed group", &zero, p2, VMS_ERR_ARG},
        {"no group", NULL, p2, VMS_ERR_ARG},
        {"5 levels", &w.g, &five, VMS_ERR_LEVELS},
        {"its own arena", &w.g, &own, VMS_ERR_MISMATCH},
        {"the same hooks over other memory", &w.g, &other, VMS_ERR_MISMATCH},
        {"another physical-address width", &w.g, &narrow, VMS_ERR_MISMATCH},
        {"maps a page in the range", &w.g, &q, VMS_ERR_EXIST},
        {"a member already", &w.g, p1, VMS_ERR_SHARED},
        {"the member that made it", &w.g, k, VMS_ERR_SHARED},
    };
    memset(&zero, 0, sizeof zero);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint64_t dk = vt_digest(k), d1 = vt_digest(p1), ds = vt_digest(cases[i].s);
        const vms_share_t g0 = w.g;
        int rc = vms_share_join(cases[i].g, cases[i].s);
        cr_expect(eq(int, rc, cases[i].want), "%s: %s, want %s", cases[i].what, vms_err_name(rc),
                  vms_err_name(cases[i].want));
        cr_expect(eq(u64, vt_digest(k), dk), "%s: K changed", cases[i].what);
        cr_expect(eq(u64, vt_digest(p1), d1), "%s: P1 changed", cases[i].what);
        cr_expect(eq(u64, vt_digest(cases[i].s), ds), "%s: the candidate changed", cases[i].what);
        cr_expect(eq(int, memcmp(&g0, &w.g, sizeof g0), 0), "%s: the group changed", cases[i].what);
        if (cases[i].s != p1 && cases[i].s != k)
            cr_expect(eq(ptr, (void *)cases[i].s->share, NULL), "%s", cases[i].what);
    }
    /* A member of another group. */
    cr_assert(eq(int, vms_share_init(&g2, &other, U, S), VMS_OK));
    cr_expect(eq(int, vms_share_join(&w.g, &other), VMS_ERR_SHARED));
    /* Once the page is gone (and its tables with it) q may join. */
    UNMAP(&q, U + 0x7000, K4);
    cr_expect(eq(int, vms_share_join(&w.g, &q), VMS_OK));
    vt_expect_page(&q, U + 0x1000, U + 0x1000, 0x100000, K4, VMS_RW);
    /* Leave of a space that shares nothing. */
    const uint64_t d2 = vt_digest(p2);
    cr_expect(eq(int, vms_share_leave(p2), VMS_ERR_ARG));
    cr_expect(eq(u64, vt_digest(p2), d2));
    check_space_s(&q, "q", "join refusals");
    check_space_s(&other, "other", "join refusals");
    cr_assert(eq(int, vms_space_destroy(&q), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&five), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&narrow), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&own), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&other), VMS_OK));
    cr_expect(eq(u64, f2.arena.frames_in_use, 0));
    vt_fprov_destroy(&f2);
    check_group("join refusals");
}

/* ---- 6. out of memory ---- */

TestSuite(share_oom, .fini = world_fini);

Test(share_oom, init_fails_cleanly_at_every_allocation) {
    world_init(4);
    const uint64_t U = w.up, S = w.span, nslots = w.half / S;
    vms_space_t *k = space_new(K);
    MAP(k, U + 0x1000, 0x100000, 4 * K4, VMS_RW, 0);
    MAP(k, U + 7 * S + G1, 4 * G1, G1, VMS_RW, 0);
    MAP(k, 0x400000, 0x800000, K4, VMS_RW, 0);
    const uint64_t t0 = vt_table_pages(k);
    uint64_t kk;
    int rc;
    for (kk = 1;; kk++) {
        const vt_snap_t v = vt_snap_take(k, &w.f);
        const uint64_t failures = w.f.failures;
        vt_fprov_fail_in(&w.f, kk);
        rc = vms_share_init(&w.g, k, U, w.half);
        vt_fprov_fail_in(&w.f, 0);
        if (rc == VMS_OK) break;
        vt_expect_unchanged_after_nomem("share_init", kk, rc, k, &w.f, failures, &v);
        cr_assert(eq(ptr, (void *)k->share, NULL), "k=%llu: sharing after NOMEM", VT_ULL(kk));
        cr_assert(lt(u64, kk, 4 * nslots), "init never succeeded");
    }
    cr_expect(eq(u64, kk - 1, nslots - 2), "allocation points: %llu, slots without a table %llu",
              VT_ULL(kk - 1), VT_ULL(nslots - 2));
    cr_expect(eq(u64, vt_table_pages(k), t0 + nslots - 2));
    check_group("init after failures");
}

enum { OOM_MAP, OOM_REPLACE, OOM_PROTECT_MASK, OOM_UNMAP, OOM_MOVE_IN, OOM_COUNT };

static int oom_op(int op) {
    const uint64_t U = w.up, S = w.span;
    switch (op) {
    case OOM_MAP: /* new tables in the group: two 1 GiB blocks, two page tables */
        return vms_space_map(&w.s[P1], U + 5 * S + G1 - 4 * K4, 0x5000000, 8 * K4, VMS_RW,
                             VMS_MAP_MAX_4K);
    case OOM_REPLACE: /* splits K's 1 GiB page twice */
        return vms_space_map(&w.s[P1], U + 7 * S + G1 + M2 + K4, 0x6000000, K4, VMS_R,
                             VMS_MAP_REPLACE);
    case OOM_PROTECT_MASK: /* splits K's 2 MiB page */
        return vms_space_protect_mask(&w.s[P2], U + 2 * M2 + 5 * K4, K4, 0, VMS_W);
    case OOM_UNMAP: /* splits the 1 GiB page at 3 GiB at both edges */
        return vms_space_unmap(&w.s[P2], U + 3 * G1 + 3 * K4, M2 + 2 * K4);
    default: /* P1's private pages move into the group, entry by entry */
        return vms_space_move(&w.s[P1], 0x40000000, U + 9 * S + 3 * K4, 2 * M2);
    }
}
static const char *const oom_names[OOM_COUNT] = {"map", "replace", "protect_mask", "unmap",
                                                 "move in"};

/* Every allocation point of each operation through a member: all three spaces, the group's
 * counters and the frames in use as they were. */
Test(share_oom, member_changes_fail_cleanly_at_every_allocation) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    for (int id = 0; id < NSP; id++) space_new(id);
    MAP(&w.s[K], U + 7 * S + G1, 4 * G1, G1, VMS_RW, 0);
    MAP(&w.s[K], U + 2 * M2, 8 * M2, M2, VMS_RW, 0);
    MAP(&w.s[K], U + 3 * G1, 3 * G1, G1, VMS_RW, 0);
    MAP(&w.s[P1], 0x40000000, 0x60000000, M2, VMS_RW, VMS_MAP_MAX_4K);
    MAP(&w.s[P1], 0x40000000 + M2, 0x70000000, M2, VMS_RX, 0);
    group_of_three();
    for (int op = 0; op < OOM_COUNT; op++) {
        uint64_t kk;
        int rc;
        for (kk = 1;; kk++) {
            uint64_t d[NSP];
            for (int id = 0; id < NSP; id++) d[id] = vt_digest(&w.s[id]);
            const vms_stats_t gc = w.g.counts;
            const uint64_t frames = w.f.arena.frames_in_use, failures = w.f.failures;
            vt_fprov_fail_in(&w.f, kk);
            rc = oom_op(op);
            vt_fprov_fail_in(&w.f, 0);
            if (rc == VMS_OK) break;
            cr_assert(eq(int, rc, VMS_ERR_NOMEM), "%s: k=%llu: %s", oom_names[op], VT_ULL(kk),
                      vms_err_name(rc));
            cr_assert(eq(u64, w.f.failures, failures + 1), "%s: k=%llu", oom_names[op], VT_ULL(kk));
            for (int id = 0; id < NSP; id++)
                cr_assert(eq(u64, vt_digest(&w.s[id]), d[id]), "%s: k=%llu: %s changed",
                          oom_names[op], VT_ULL(kk), nm[id]);
            cr_assert(eq(int, memcmp(&gc, &w.g.counts, sizeof gc), 0),
                      "%s: k=%llu: the group's counters changed", oom_names[op], VT_ULL(kk));
            cr_assert(eq(u64, w.f.arena.frames_in_use, frames), "%s: k=%llu: frames", oom_names[op],
                      VT_ULL(kk));
            cr_assert(lt(u64, kk, 64), "%s never succeeded", oom_names[op]);
        }
        cr_expect(gt(u64, kk, 1), "%s allocated nothing", oom_names[op]);
        check_group(oom_names[op]);
    }
    expect_everywhere(U + 5 * S + G1 + K4, U + 5 * S + G1 + K4, 0x5005000, K4, VMS_RW);
    expect_everywhere(U + 7 * S + G1 + M2 + K4, U + 7 * S + G1 + M2 + K4, 0x6000000, K4, VMS_R);
    expect_everywhere(U + 7 * S + G1 + M2, U + 7 * S + G1 + M2, 4 * G1 + M2, K4, VMS_RW);
    expect_everywhere(U + 2 * M2 + 5 * K4, U + 2 * M2 + 5 * K4, 8 * M2 + 5 * K4, K4, VMS_R);
    expect_nowhere(U + 3 * G1 + 3 * K4);
    expect_everywhere(U + 3 * G1 + 2 * K4, U + 3 * G1 + 2 * K4, 3 * G1 + 2 * K4, K4, VMS_RW);
    expect_everywhere(U + 9 * S + 3 * K4, U + 9 * S + 3 * K4, 0x60000000, K4, VMS_RW);
    expect_everywhere(U + 9 * S + 3 * K4 + M2, U + 9 * S + 3 * K4 + M2, 0x70000000, K4, VMS_RX);
    vt_expect_unmapped(&w.s[P1], 0x40000000);
}

/* ---- models: one for the shared range, one per space for the rest ---- */

static vt_model_t MS, ML[NSP];

static void model_push(vt_model_t *m, const vt_leaf_t *f) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->v = (vt_leaf_t *)realloc(m->v, m->cap * sizeof *m->v);
        cr_assert(ne(ptr, m->v, NULL));
    }
    m->v[m->n++] = *f;
}

static void models_free(void) {
    vt_model_free(&MS);
    for (int id = 0; id < NSP; id++) vt_model_free(&ML[id]);
}

/* The models from the spaces: the shared range from its first live member. */
static void models_load(void) {
    bool have_shared = false;
    models_free();
    for (int id = 0; id < NSP; id++) {
        size_t n;
        vms_mapping_t *v;
        bool first;
        if (!w.live[id]) continue;
        first = w.s[id].share == &w.g && !have_shared;
        if (first) have_shared = true;
        v = vt_enumerate(&w.s[id], &n);
        for (size_t i = 0; i < n; i++) {
            vt_leaf_t f = {v[i].va, v[i].pa, v[i].size, v[i].prop};
            if (!in_share(&w.s[id], v[i].va))
                model_push(&ML[id], &f);
            else if (first)
                model_push(&MS, &f);
        }
        free(v);
    }
}

/* What space id holds: its own leaves and, for a member, the group's (a merge by address). */
static void model_merged(int id, vt_model_t *out) {
    const vt_model_t *a = &ML[id], *b = &MS;
    size_t i = 0, j = 0;
    bool member = w.s[id].share == &w.g;
    vt_model_init(out);
    while (i < a->n || (member && j < b->n)) {
        if (!member || j == b->n || (i < a->n && a->v[i].va < b->v[j].va))
            model_push(out, &a->v[i++]);
        else
            model_push(out, &b->v[j++]);
    }
}

/* The leaves of m back into the models, split by where they lie for space id (m is freed). */
static void model_split(int id, vt_model_t *m) {
    vt_model_t own, grp;
    bool member = w.s[id].share == &w.g;
    vt_model_init(&own);
    vt_model_init(&grp);
    for (size_t i = 0; i < m->n; i++)
        model_push(member && in_share(&w.s[id], m->v[i].va) ? &grp : &own, &m->v[i]);
    vt_model_free(m);
    vt_model_free(&ML[id]);
    ML[id] = own;
    if (member) {
        vt_model_free(&MS);
        MS = grp;
    } else {
        vt_model_free(&grp);
    }
}

static char cmp_msg[512];

/* Every live space against its merged model, then check_group. */
static void compare_all(const char *what) {
    for (int id = 0; id < NSP; id++) {
        vt_model_t m;
        bool ok;
        if (!w.live[id]) continue;
        model_merged(id, &m);
        cmp_msg[0] = 0;
        ok = vt_compare_model_member(&w.s[id], &m, cmp_msg, sizeof cmp_msg);
        vt_model_free(&m);
        cr_assert(ok, "%s: %s: %s", what, nm[id], cmp_msg);
    }
    check_group(what);
}

/* A move through space id, in the space and in the model; returns the space's answer. */
static int move_via(int id, uint64_t from, uint64_t to, uint64_t len) {
    vt_model_t m;
    char what[160];
    model_merged(id, &m);
    int want = vt_model_move(&m, from, to, len, w.s[id].active_cpus != 0);
    int rc = vms_space_move(&w.s[id], from, to, len);
    snprintf(what, sizeof what, "move through %s %#llx -> %#llx len %#llx", nm[id], VT_ULL(from),
             VT_ULL(to), VT_ULL(len));
    cr_assert(eq(int, rc, want), "%s: %s, model %s", what, vms_err_name(rc), vms_err_name(want));
    model_split(id, &m);
    compare_all(what);
    return rc;
}

/* The table the entry at `level` + 1 on va's walk points to (physical address). */
static uint64_t table_at(const vms_space_t *s, uint64_t va, int level) {
    uint64_t inter[6] = {0, 0, 0, 0, 0, 0};
    int l;
    cr_assert(ne(ptr, vt_walk(s, va, &l, inter), NULL), "nothing at %#llx", VT_ULL(va));
    return inter[level + 1] & VT_ADDR_BITS;
}

static void root_slots(const vms_space_t *s, uint64_t out[512]) {
    memcpy(out, vms_space_table(s, s->root_pa), 4096);
}

/* ---- 7. move, collapse and clone ---- */

static void models_fini(void) {
    models_free();
    world_fini();
}

TestSuite(share_move, .fini = models_fini);

Test(share_move, relinks_inside_the_range_and_copies_across) {
    three_members(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    uint64_t r0[512], r1[512];
    MAP(k, U + G1, 0x10000000, 2 * M2, VMS_RW, VMS_MAP_MAX_4K);
    MAP(k, U + G1 + 2 * M2, 0x20000000, 3 * M2, VMS_RX, 0);
    MAP(k, U + 2 * G1 - K4, 0x30000000, K4, VMS_R, 0);
    models_load();
    compare_all("setup");
    /* 4 GiB on, inside one slot: the 1 GiB block's table is relinked, not copied. */
    uint64_t t2 = table_at(k, U + G1, 2);
    cr_assert(eq(int, move_via(P1, U + G1, U + 5 * G1, G1), VMS_OK));
    cr_expect(eq(u64, table_at(p2, U + 5 * G1, 2), t2), "not relinked");
    expect_everywhere(U + 5 * G1 + 3 * M2, U + 5 * G1 + 3 * M2, 0x20000000 + M2, M2, VMS_RX);
    expect_nowhere(U + G1);
    /* 2 slots on (a multiple of 512 GiB): the root entries stay, the block's table moves into
     * the other slot's top table. */
    root_slots(k, r0);
    cr_assert(eq(int, move_via(P2, U + 5 * G1, U + 2 * S + 5 * G1, G1), VMS_OK));
    root_slots(k, r1);
    cr_expect(eq(int, memcmp(r0, r1, sizeof r0), 0), "a root entry of the range changed");
    cr_expect(eq(u64, table_at(p1, U + 2 * S + 5 * G1, 2), t2), "not relinked");
    /* A whole slot: its top table stays (pinned, and every member's). */
    root_slots(k, r0);
    cr_assert(eq(int, move_via(K, U + 2 * S, U + 4 * S, S), VMS_OK));
    root_slots(p1, r1);
    cr_expect(eq(int, memcmp(r0 + 256, r1 + 256, 256 * sizeof r0[0]), 0),
              "a root entry of the range changed");
    cr_expect(eq(u64, table_at(p2, U + 4 * S + 5 * G1, 2), t2), "not relinked");
    /* From P1's own half into the range: entries copied, seen by all. */
    MAP(p1, 0x40000000, 0x60000000, 2 * M2, VMS_RW, 0);
    MAP(p1, 0x40000000 + 2 * M2, 0x61000000, 16 * K4, VMS_RW | VMS_USER, 0);
    models_load();
    cr_assert(eq(int, move_via(P1, 0x40000000, U + 9 * G1, G1), VMS_OK));
    expect_everywhere(U + 9 * G1 + M2, U + 9 * G1 + M2, 0x60000000 + M2, M2, VMS_RW);
    expect_everywhere(U + 9 * G1 + 2 * M2 + K4, U + 9 * G1 + 2 * M2 + K4, 0x61001000, K4,
                      VMS_RW | VMS_USER);
    vt_expect_unmapped(p1, 0x40000000);
    /* Out of the range into P2's own half: gone from K and P1. */
    cr_assert(eq(int, move_via(P2, U + 9 * G1, 0x80000000, G1), VMS_OK));
    expect_nowhere(U + 9 * G1 + M2);
    vt_expect_page(p2, 0x80000000 + M2, 0x80000000 + M2, 0x60000000 + M2, M2, VMS_RW);
    vt_expect_unmapped(k, 0x80000000 + M2);
    vt_expect_unmapped(p1, 0x80000000 + M2);
    /* The 4 KiB pages of the range to K's own half, 4 KiB off alignment. */
    cr_assert(eq(int, move_via(K, U + 4 * S + 5 * G1, 0x3000, 4 * M2), VMS_OK));
    vt_expect_page(k, 0x4000, 0x4000, 0x10001000, K4, VMS_RW);
    expect_nowhere(U + 4 * S + 5 * G1 + K4);
    /* Refusals change nothing in any member: the new range maps something (in the group). */
    MAP(p2, U + 11 * G1, 0x7000000, K4, VMS_R, 0);
    models_load();
    cr_expect(eq(int, move_via(K, 0x3000, U + 11 * G1 - M2, 4 * M2), VMS_ERR_EXIST));
    cr_expect(eq(int, move_via(P1, U + 11 * G1, U + 11 * G1 + K4, M2), VMS_ERR_OVERLAP));
}

/* A group of two slots in the middle of the upper half: moves across its edges copy, and
 * what lands outside it is the mover's own. */
Test(share_move, across_the_edges_of_a_partial_range) {
    world_init(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = space_new(K), *p1 = space_new(P1);
    cr_assert(eq(int, vms_share_init(&w.g, k, U + S, 2 * S), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, p1), VMS_OK));
    MAP(k, U + S + G1, 4 * G1, 4 * M2, VMS_RW, 0);
    MAP(k, U + S + G1 + 4 * M2, 0x1000000, 8 * K4, VMS_RX, 0);
    MAP(k, U + 3 * S - M2, 0x2000000, 2 * M2, VMS_R, 0); /* across the upper edge */
    models_load();
    compare_all("setup");
    /* Out of the group, a multiple of 512 GiB away: copied into K's own slot. */
    cr_assert(eq(int, move_via(K, U + S + G1, U + 3 * S + G1, G1), VMS_OK));
    vt_expect_page(k, U + 3 * S + G1 + M2, U + 3 * S + G1 + M2, 4 * G1 + M2, M2, VMS_RW);
    vt_expect_unmapped(p1, U + 3 * S + G1 + M2);
    vt_expect_unmapped(p1, U + S + G1 + M2);
    /* From P1's own slot into the group. */
    MAP(p1, U + 3 * S + 2 * G1, 6 * G1, G1, VMS_RW, 0);
    models_load();
    cr_assert(eq(int, move_via(P1, U + 3 * S + 2 * G1, U + 2 * S + 2 * G1, G1), VMS_OK));
    vt_expect_page(k, U + 2 * S + 2 * G1 + 5, U + 2 * S + 2 * G1, 6 * G1, G1, VMS_RW);
    /* A range astride the upper edge, to K's own slot further up. */
    cr_assert(eq(int, move_via(K, U + 3 * S - M2, U + 5 * S - M2, 2 * M2), VMS_OK));
    vt_expect_unmapped(p1, U + 3 * S - M2);
    vt_expect_unmapped(k, U + 3 * S);
    vt_expect_page(k, U + 5 * S, U + 5 * S, 0x2000000 + M2, M2, VMS_R);
    /* Inside the group, across the slot boundary between its two slots. */
    MAP(p1, U + 2 * S - M2, 0x3000000, 2 * M2, VMS_RW, 0);
    models_load();
    cr_assert(eq(int, move_via(P1, U + 2 * S - M2, U + 2 * S + 7 * G1, 2 * M2), VMS_OK));
    vt_expect_page(k, U + 2 * S + 7 * G1 + M2, U + 2 * S + 7 * G1 + M2, 0x3000000 + M2, M2, VMS_RW);
}

Test(share_move, collapse_through_a_member) {
    three_members(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2];
    uint64_t done = 0;
    MAP(k, U + 3 * S, 0x40000000, M2, VMS_RW, VMS_MAP_MAX_4K);
    MAP(k, U + 3 * S + G1, 5 * G1, G1, VMS_RX, VMS_MAP_MAX_2M);
    MAP(k, U + 3 * S + G1 + 7 * M2, 5 * G1 + 7 * M2, M2, VMS_RX, VMS_MAP_MAX_4K | VMS_MAP_REPLACE);
    models_load();
    compare_all("setup");
    const uint64_t t0 = vt_table_pages(k);
    cr_assert(eq(int, vms_space_collapse(p2, U + 3 * S, M2, 0, &done), VMS_OK));
    cr_expect(eq(u64, done, M2));
    expect_everywhere(U + 3 * S + K4, U + 3 * S, 0x40000000, M2, VMS_RW);
    for (int id = 0; id < NSP; id++)
        cr_expect(eq(u64, vt_table_pages(&w.s[id]), t0 - 1), "%s: the page table was not freed",
                  nm[id]);
    models_load();
    compare_all("collapse 2M through P2");
    /* 1 GiB of 2 MiB pages, one of them 4 KiB pages: both steps, through P1. */
    cr_assert(eq(int, vms_space_collapse(p1, U + 3 * S + G1, G1, 0, &done), VMS_OK));
    cr_expect(eq(u64, done, G1));
    expect_everywhere(U + 3 * S + G1 + 7 * M2 + K4, U + 3 * S + G1, 5 * G1, G1, VMS_RX);
    for (int id = 0; id < NSP; id++)
        cr_expect(eq(u64, vt_table_pages(&w.s[id]), t0 - 3), "%s: tables", nm[id]);
    /* A map with VMS_MAP_COLLAPSE through K fills the last hole of a block. */
    MAP(p2, U + 5 * S, 0x80000000, M2 - K4, VMS_RW, VMS_MAP_MAX_4K);
    MAP(k, U + 5 * S + M2 - K4, 0x80000000 + M2 - K4, K4, VMS_RW,
        VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M);
    expect_everywhere(U + 5 * S + 9 * K4, U + 5 * S, 0x80000000, M2, VMS_RW);
    models_load();
    compare_all("collapsing map through K");
}

typedef struct shared_cnt_s {
    uint64_t calls, bytes;
} shared_cnt_t;
static void on_shared(void *user, uint64_t pa, uint64_t len) {
    shared_cnt_t *c = (shared_cnt_t *)user;
    (void)pa;
    c->calls++;
    c->bytes += len;
}

static vms_prop_t cow_of(void *user, const vms_mapping_t *m) {
    (void)user;
    return (m->prop & VMS_W) ? (m->prop & ~(vms_prop_t)VMS_W) | VMS_COW : m->prop;
}

Test(share_move, clone_from_a_members_shared_range) {
    three_members(4);
    const uint64_t U = w.up, S = w.span;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2], q, q2;
    shared_cnt_t sh = {0, 0};
    MAP(k, U + 3 * S + 0x1000, 0x100000, 4 * K4, VMS_RW | VMS_DIRTY, 0);
    MAP(k, U + 3 * S + 5 * M2, 20 * M2, M2, VMS_RX | VMS_ACCESSED, 0);
    MAP(k, U + 3 * S + G1, 4 * G1, G1, VMS_RW, 0);
    MAP(p1, 0x400000, 0x800000, 2 * K4, VMS_RW, 0);
    models_load();
    cr_assert(eq(int, vt_space_init(&q, 4, (uint64_t)16 << 20), VMS_OK));
    cr_assert(eq(int, vt_space_init(&q2, 4, (uint64_t)16 << 20), VMS_OK));
    /* Into an unshared space: the members are left as they were. */
    cr_assert(eq(int, vms_space_clone(&q, p1, U + 3 * S, 2 * G1, 0, on_shared, &sh), VMS_OK));
    vt_expect_page(&q, U + 3 * S + 0x2000, U + 3 * S + 0x2000, 0x101000, K4, VMS_RW);
    vt_expect_page(&q, U + 3 * S + 5 * M2, U + 3 * S + 5 * M2, 20 * M2, M2, VMS_RX);
    vt_expect_page(&q, U + 3 * S + G1 + 9, U + 3 * S + G1, 4 * G1, G1, VMS_RW);
    cr_expect(eq(u64, sh.bytes, 4 * K4 + M2 + G1));
    cr_expect(eq(u64, vt_mapped_total(&q), 4 * K4 + M2 + G1));
    compare_all("clone out of P1");
    /* Copy-on-write through P2: every member sees its range lose W. */
    cr_assert(
        eq(int, vms_space_clone(&q2, p2, U + 3 * S, 2 * G1, VMS_CLONE_COW, NULL, NULL), VMS_OK));
    vt_model_protect_fn(&MS, U + 3 * S, 2 * G1, cow_of, NULL);
    compare_all("copy-on-write clone out of P2");
    expect_everywhere(U + 3 * S + G1, U + 3 * S + G1, 4 * G1, G1, VMS_R | VMS_COW);
    vt_expect_page(&q2, U + 3 * S + 0x1000, U + 3 * S + 0x1000, 0x100000, K4, VMS_R | VMS_COW);
    /* Between two members: their own halves clone as for any two spaces; the shared range is
     * the same tables, so it maps something already. */
    cr_assert(eq(int, vms_space_clone(p2, p1, 0x400000, 2 * K4, 0, NULL, NULL), VMS_OK));
    vt_expect_page(p2, 0x401000, 0x401000, 0x801000, K4, VMS_RW);
    const uint64_t d1 = vt_digest(p1), d2 = vt_digest(p2);
    cr_expect(eq(int, vms_space_clone(p2, p1, U + 3 * S, G1, 0, NULL, NULL), VMS_ERR_EXIST));
    cr_expect(eq(u64, vt_digest(p1), d1));
    cr_expect(eq(u64, vt_digest(p2), d2));
    models_load();
    compare_all("clone between members");
    check_space_s(&q, "q", "clone");
    check_space_s(&q2, "q2", "clone");
    vms_space_destroy(&q);
    vms_space_destroy(&q2);
}

/* ---- 8. differential: random operations through random members ---- */

#define D_WIN (2 * M2) /* hot windows for 4 KiB-granular operations */
#define D_REG (2 * G1) /* each region spans 2 GiB */
#define D_NWIN 3
#define D_CHECK_EVERY 100
#define D_OPS_DEFAULT 2000

typedef struct dreg_s {
    uint64_t base; /* 1 GiB aligned */
    bool shared;
    uint64_t win[D_NWIN];
} dreg_t;

enum {
    D_MAP,
    D_UNMAP,
    D_PROTECT,
    D_PROTECT_MASK,
    D_MOVE,
    D_MOVE_ACROSS,
    D_COLLAPSE,
    D_PROBE,
    D_COUNT
};
static const char *const d_names[D_COUNT] = {"map",  "unmap",       "protect",  "protect_mask",
                                             "move", "move_across", "collapse", "probe"};

typedef struct diff_s {
    vt_rng_t rng;
    dreg_t reg[8];
    int nreg;
    uint64_t step, counts[D_COUNT], failed[D_COUNT], moved, collapsed;
    char log[16][200];
} diff_t;
static diff_t D;

static uint64_t drnd(uint64_t n) { return vt_rng_below(&D.rng, n); }

static void dlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dlog(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(D.log[D.step % 16], sizeof D.log[0], fmt, ap);
    va_end(ap);
}
static void dump_log(void) {
    uint64_t first = D.step >= 15 ? D.step - 15 : 0;
    fprintf(stderr, "share_diff: last operations:\n");
    for (uint64_t i = first; i <= D.step; i++)
        fprintf(stderr, "  %llu %s\n", VT_ULL(i), D.log[i % 16]);
}
#define D_FAIL(...)            \
    do {                       \
        dump_log();            \
        cr_fatal(__VA_ARGS__); \
    } while (0)

static void add_dreg(uint64_t base, bool shared) {
    dreg_t *r = &D.reg[D.nreg++];
    r->base = base;
    r->shared = shared;
    r->win[0] = base;
    r->win[1] = base + G1 - D_WIN / 2;
    r->win[2] = base + D_REG - D_WIN;
}

static vms_prop_t d_prop(bool for_protect) {
    vms_prop_t p = (vms_prop_t)drnd(0x800);
    if (drnd(4) != 0) p |= VMS_R;
    if (for_protect) p &= ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    if (drnd(3) == 0) p |= VMS_CACHE_PAT(drnd(8));
    return p;
}

/* grain 0: 4 KiB pages in a hot window; 1: 2 MiB-granular; 2: 1 GiB-granular. */
static void d_range(const dreg_t *r, int grain, uint64_t *va, uint64_t *len) {
    if (grain == 0) {
        uint64_t wv = r->win[drnd(D_NWIN)], pages = 1 + drnd(drnd(8) == 0 ? 700 : 48);
        uint64_t off = drnd(D_WIN / K4);
        if (off + pages > D_WIN / K4) pages = D_WIN / K4 - off;
        *va = wv + off * K4;
        *len = pages * K4;
    } else if (grain == 1) {
        uint64_t slots = D_REG / M2, off = drnd(slots), n = 1 + drnd(drnd(4) == 0 ? 300 : 8);
        if (off + n > slots) n = slots - off;
        *va = r->base + off * M2;
        *len = n * M2;
    } else {
        uint64_t off = drnd(2), n = 1 + drnd(2);
        if (off + n > 2) n = 2 - off;
        *va = r->base + off * G1;
        *len = n * G1;
    }
}

/* The model answer for id at va: the group's model in the shared range, else its own. */
static void d_probe(int id, uint64_t va) {
    const vt_model_t *m = in_share(&w.s[id], va) ? &MS : &ML[id];
    if (!vt_compare_va(&w.s[id], m, va, cmp_msg, sizeof cmp_msg))
        D_FAIL("step %llu: %s: %s", VT_ULL(D.step), nm[id], cmp_msg);
}
static void d_probe_range(uint64_t va, uint64_t len) {
    for (int id = 0; id < NSP; id++) {
        d_probe(id, va);
        d_probe(id, va + len - K4);
        if (va >= K4) d_probe(id, va - K4);
        if (va + len != 0) d_probe(id, va + len);
        d_probe(id, va + drnd(len / K4) * K4 + drnd(K4));
    }
}

/* The model an operation on [lo, hi] (inclusive) through member a changes: the group's or
 * a's own when the span lies on one side of the shared range's edges, else a's merged model
 * (split back by d_end). Operating on one side's model alone keeps the steps cheap. */
static vt_model_t d_tmp;
static vt_model_t *d_begin(int a, uint64_t lo, uint64_t hi) {
    const vms_space_t *s = &w.s[a];
    bool in_lo = in_share(s, lo), in_hi = in_share(s, hi);
    if (in_lo == in_hi && (in_lo || !(lo <= canon_of(w.g.lo) && canon_of(w.g.lo) <= hi)))
        return in_lo ? &MS : &ML[a];
    model_merged(a, &d_tmp);
    return &d_tmp;
}
static void d_end(int a, vt_model_t *m) {
    if (m == &d_tmp) model_split(a, &d_tmp);
}

/* One operation through member a on its merged model; returns the space's result (checked
 * against the model's). */
static int d_map(int a, uint64_t va, uint64_t pa, uint64_t len, vms_prop_t p, uint32_t flags) {
    vt_model_t *m = d_begin(a, va & ~(G1 - 1), (va + len - 1) | (G1 - 1));
    int want = vt_model_map(m, va, pa, len, p, flags);
    int rc = vms_space_map(&w.s[a], va, pa, len, p, flags);
    d_end(a, m);
    if (rc != want)
        D_FAIL("step %llu: map through %s %#llx pa %#llx len %#llx prop %#x flags %#x: %s, "
               "model %s",
               VT_ULL(D.step), nm[a], VT_ULL(va), VT_ULL(pa), VT_ULL(len), p, flags,
               vms_err_name(rc), vms_err_name(want));
    return rc;
}
static void d_unmap(int a, uint64_t va, uint64_t len) {
    vt_model_t *m = d_begin(a, va, va + len - 1);
    (void)vt_model_unmap(m, va, len);
    int rc = vms_space_unmap(&w.s[a], va, len);
    d_end(a, m);
    if (rc != VMS_OK)
        D_FAIL("step %llu: unmap through %s %#llx len %#llx: %s", VT_ULL(D.step), nm[a], VT_ULL(va),
               VT_ULL(len), vms_err_name(rc));
}

/* Where a move of [va, va + len) out of region r goes: region r2, at a distance from r's
 * offset that is a multiple of 1 GiB (kind 0), 2 MiB (1) or 4 KiB (2). */
static uint64_t d_target(const dreg_t *r, const dreg_t *r2, uint64_t va, uint64_t len, int kind) {
    const int64_t o = (int64_t)(va - r->base), room = (int64_t)(D_REG - len);
    int64_t delta, o2;
    if (kind == 0)
        delta = (int64_t)G1 * ((int64_t)drnd(3) - 1);
    else if (kind == 1)
        delta = (int64_t)M2 * (int64_t)(1 + drnd(drnd(4) == 0 ? 600 : 12));
    else
        delta = (int64_t)K4 * (int64_t)(1 + drnd(drnd(4) == 0 ? 1100 : 200));
    if (drnd(2)) delta = -delta;
    o2 = o + delta;
    if (o2 < 0 || o2 > room) o2 = o - delta;
    if (o2 < 0 || o2 > room) o2 = o;
    return r2->base + (uint64_t)o2;
}

/* Blocks a collapse can fold (or nearly), mapped through a; the range to collapse. */
static void d_collapse_prep(int a, const dreg_t *r, uint64_t *va, uint64_t *len) {
    vms_prop_t p = d_prop(false);
    uint64_t pa_base = drnd((uint64_t)1 << 21) << 30, vb, n, bs;
    if (drnd(3) != 0) {
        n = 1 + drnd(4);
        bs = M2;
        vb = drnd(2) ? r->win[drnd(D_NWIN)] : r->base + drnd(D_REG / M2 - n) * M2;
        if (vb - r->base + n * M2 > D_REG) vb = r->base + D_REG - n * M2;
        (void)d_map(a, vb, pa_base + drnd(G1 / M2) * M2, n * M2, p,
                    VMS_MAP_REPLACE | VMS_MAP_MAX_4K);
    } else {
        n = 1;
        bs = G1;
        vb = r->base + drnd(2) * G1;
        (void)d_map(a, vb, pa_base, G1, p, VMS_MAP_REPLACE | VMS_MAP_MAX_2M);
        for (uint64_t k = drnd(3); k; k--) {
            uint64_t b = drnd(G1 / M2) * M2;
            (void)d_map(a, vb + b, pa_base + b, M2, p, VMS_MAP_REPLACE | VMS_MAP_MAX_4K);
        }
    }
    if (drnd(4) == 0) { /* break it: one page off */
        uint64_t off = drnd(n * bs / K4) * K4;
        if (drnd(2))
            d_unmap(a, vb + off, K4);
        else
            (void)d_map(a, vb + off, 0x1000, K4, p, VMS_MAP_REPLACE);
    }
    *va = vb;
    *len = n * bs;
}

static void d_step(void) {
    const int a = (int)drnd(NSP);
    const dreg_t *r = &D.reg[drnd((uint64_t)D.nreg)];
    const uint64_t roll = drnd(100);
    int grain = drnd(10) < 6 ? 0 : drnd(5) != 0 ? 1 : 2;
    int op = roll < 30   ? D_MAP
             : roll < 46 ? D_UNMAP
             : roll < 60 ? D_PROTECT
             : roll < 70 ? D_PROTECT_MASK
             : roll < 80 ? D_MOVE
             : roll < 86 ? D_MOVE_ACROSS
             : roll < 93 ? D_COLLAPSE
                         : D_PROBE;
    uint64_t va, len;
    int rc = VMS_OK;
    vt_model_t *m;
    d_range(r, grain, &va, &len);
    D.counts[op]++;
    switch (op) {
    case D_MAP: {
        vms_prop_t p = d_prop(false);
        uint32_t flags = drnd(5) < 2 ? VMS_MAP_REPLACE : 0;
        uint64_t pa_base = drnd((uint64_t)1 << 21) << 30, pa, k = drnd(10);
        if (grain == 0)
            pa = k < 5 ? pa_base + (va & (G1 - 1)) : pa_base + drnd(G1 / K4) * K4;
        else
            pa = k < 7 ? pa_base + (va & (G1 - 1)) : pa_base + drnd(G1 / M2) * M2;
        k = drnd(20);
        if (k < 3)
            flags |= VMS_MAP_MAX_2M;
        else if (k < 5 && len <= 4 * M2)
            flags |= VMS_MAP_MAX_4K;
        if (!(flags & VMS_MAP_MAX_4K) && drnd(8) == 0) flags |= VMS_MAP_COLLAPSE;
        dlog("map via %s va %#llx pa %#llx len %#llx prop %#x flags %#x", nm[a], VT_ULL(va),
             VT_ULL(pa), VT_ULL(len), p, flags);
        rc = d_map(a, va, pa, len, p, flags);
        break;
    }
    case D_UNMAP:
        dlog("unmap via %s va %#llx len %#llx", nm[a], VT_ULL(va), VT_ULL(len));
        d_unmap(a, va, len);
        break;
    case D_PROTECT: {
        vms_prop_t p = d_prop(true);
        dlog("protect via %s va %#llx len %#llx prop %#x", nm[a], VT_ULL(va), VT_ULL(len), p);
        m = d_begin(a, va, va + len - 1);
        vt_model_protect(m, va, len, p);
        rc = vms_space_protect(&w.s[a], va, len, p);
        d_end(a, m);
        if (rc != VMS_OK) D_FAIL("step %llu: protect: %s", VT_ULL(D.step), vms_err_name(rc));
        break;
    }
    case D_PROTECT_MASK: {
        const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
        vms_prop_t set = (vms_prop_t)drnd(0x800) & rel & (vms_prop_t)drnd(0x800);
        vms_prop_t clear = (vms_prop_t)drnd(0x800) & rel & ~set;
        dlog("protect_mask via %s va %#llx len %#llx set %#x clear %#x", nm[a], VT_ULL(va),
             VT_ULL(len), set, clear);
        m = d_begin(a, va, va + len - 1);
        vt_model_protect_mask(m, va, len, set, clear);
        rc = vms_space_protect_mask(&w.s[a], va, len, set, clear);
        d_end(a, m);
        if (rc != VMS_OK) D_FAIL("step %llu: protect_mask: %s", VT_ULL(D.step), vms_err_name(rc));
        break;
    }
    case D_MOVE:
    case D_MOVE_ACROSS: {
        /* D_MOVE: to a region of the same kind (shared to shared, own to own); across: from
         * the member's own half into the range or back. */
        const dreg_t *r2;
        int kind = (int)drnd(3), want;
        do {
            r2 = &D.reg[drnd((uint64_t)D.nreg)];
        } while ((r2->shared == r->shared) != (op == D_MOVE));
        if (kind == 2 && len > 2 * M2) kind = (int)drnd(2);
        uint64_t nva = d_target(r, r2, va, len, kind);
        /* Often between the first shared region and the one 2 slots on, at the same offset:
         * a distance of a multiple of 512 GiB, where a root entry must not move. */
        if (op == D_MOVE && r->shared && (r == &D.reg[0] || r == &D.reg[2]) && drnd(3) == 0)
            nva = va - r->base + (r == &D.reg[0] ? D.reg[2].base : D.reg[0].base);
        bool apart = nva + (len - 1) < va || va + (len - 1) < nva;
        if (apart && drnd(2)) d_unmap(a, nva, len);
        dlog("move via %s %#llx -> %#llx len %#llx", nm[a], VT_ULL(va), VT_ULL(nva), VT_ULL(len));
        m = d_begin(a, va < nva ? va : nva, (va < nva ? nva : va) + len - 1);
        want = vt_model_move(m, va, nva, len, false);
        rc = vms_space_move(&w.s[a], va, nva, len);
        d_end(a, m);
        if (rc != want)
            D_FAIL("step %llu: move via %s %#llx -> %#llx len %#llx: %s, model %s", VT_ULL(D.step),
                   nm[a], VT_ULL(va), VT_ULL(nva), VT_ULL(len), vms_err_name(rc),
                   vms_err_name(want));
        if (rc == VMS_OK) D.moved++;
        d_probe_range(nva, len);
        break;
    }
    case D_COLLAPSE: {
        /* Set up (through a) and collapsed through another member when the range is
         * shared. */
        const int b = r->shared ? (int)drnd(NSP) : a;
        uint32_t flags = drnd(4) == 0 ? VMS_MAP_MAX_2M : 0;
        uint64_t got = 0, made;
        if (drnd(2)) d_collapse_prep(a, r, &va, &len);
        dlog("collapse via %s va %#llx len %#llx flags %#x", nm[b], VT_ULL(va), VT_ULL(len), flags);
        m = d_begin(b, va, va + len - 1);
        made = vt_model_collapse(m, va, len, flags, false);
        rc = vms_space_collapse(&w.s[b], va, len, flags, &got);
        d_end(b, m);
        if (rc != VMS_OK || got != made)
            D_FAIL("step %llu: collapse via %s: %s, %#llx bytes, model %#llx", VT_ULL(D.step),
                   nm[b], vms_err_name(rc), VT_ULL(got), VT_ULL(made));
        D.collapsed += made;
        break;
    }
    default: dlog("probe %#llx len %#llx", VT_ULL(va), VT_ULL(len)); break;
    }
    if (rc != VMS_OK) D.failed[op]++;
    d_probe_range(va, len);
}

static void d_full(const char *what) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s at step %llu", what, VT_ULL(D.step));
    compare_all(buf);
}

TestSuite(share_diff, .fini = models_fini);

Test(share_diff, random_ops_through_random_members) {
    const uint64_t seed = vt_seed_from_env(0x5ba4ed5u);
    const char *ops_env = getenv("VMS_SHARE_OPS");
    const uint64_t nops = ops_env && *ops_env ? strtoull(ops_env, NULL, 0) : D_OPS_DEFAULT;
    memset(&D, 0, sizeof D);
    vt_rng_seed(&D.rng, seed);
    fprintf(stderr, "share_diff: seed %#llx (VMS_SEED), %llu operations\n", VT_ULL(seed),
            VT_ULL(nops));
    three_members(4);
    const uint64_t U = w.up, S = w.span;
    add_dreg(U, true);
    add_dreg(U + S - G1, true);     /* across the first two slots */
    add_dreg(U + 2 * S, true);      /* 512 GiB multiples from the first */
    add_dreg(TOPVA - 2 * G1, true); /* the last slot */
    add_dreg(0x40000000, false);
    add_dreg(((uint64_t)1 << 47) - 4 * G1, false); /* the top of the lower half */
    models_load();
    for (D.step = 0; D.step < nops; D.step++) {
        d_step();
        if (D.step % D_CHECK_EVERY == D_CHECK_EVERY - 1) d_full("random operations");
    }
    D.step = nops ? nops - 1 : 0;
    d_full("the end");
    fprintf(stderr, "share_diff:");
    for (int i = 0; i < D_COUNT; i++)
        fprintf(stderr, " %s %llu (%llu refused)", d_names[i], VT_ULL(D.counts[i]),
                VT_ULL(D.failed[i]));
    fprintf(stderr, "; %llu moves moved, %#llx bytes collapsed\n", VT_ULL(D.moved),
            VT_ULL(D.collapsed));
    size_t n[NSP];
    for (int id = 0; id < NSP; id++) free(vt_enumerate(&w.s[id], &n[id]));
    fprintf(stderr, "share_diff: %zu shared leaves; own leaves K %zu, P1 %zu, P2 %zu\n", MS.n,
            ML[K].n, ML[P1].n, ML[P2].n);
    cr_expect(gt(u64, D.moved, 0));
    cr_expect(gt(u64, D.collapsed, 0));
}

/* ---- 9. concurrent members ---- */

#if VT_SHARE_THREADS

/* Reclaim over a rwlock: a read section is a read lock; a grace period is taking the write
 * lock once. Writers first, so the reader's back-to-back sections cannot starve it. */
static pthread_rwlock_t rw_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static _Thread_local int rw_depth;
static void rw_enter(void *u) {
    (void)u;
    if (!rw_depth++) pthread_rwlock_rdlock(&rw_lock);
}
static void rw_leave(void *u) {
    (void)u;
    if (!--rw_depth) pthread_rwlock_unlock(&rw_lock);
}
static void rw_retire(void *u, void (*done)(void *, uint64_t), void *ctx, uint64_t list) {
    (void)u;
    pthread_rwlock_wrlock(&rw_lock);
    pthread_rwlock_unlock(&rw_lock);
    done(ctx, list);
}
static void rw_barrier(void *u) { (void)u; }
static const vms_reclaim_t rw_reclaim = {rw_enter, rw_leave, rw_retire, rw_barrier, NULL};
static int other_user;
static const vms_reclaim_t rw_reclaim_other = {rw_enter, rw_leave, rw_retire, rw_barrier,
                                               &other_user};

#define T_SLOTS 16 /* 2 MiB slots per window */
#define T_OPS_DEFAULT 1500

enum { T_EMPTY, T_SMALL, T_HUGE }; /* a slot: unmapped, its first 8 pages, one 2 MiB page */

typedef struct job_s {
    int id; /* the member it goes through */
    uint64_t base, pa_base;
    uint64_t seed, ops;
    uint8_t state[T_SLOTS];
    uint64_t errors;
} job_t;

/* Map, remap as pages, unmap whole slots, over and over; every frame is pa_base + (va - base),
 * so a reader can tell a right answer from a torn or foreign one. */
static void *mutator(void *arg) {
    job_t *j = (job_t *)arg;
    vms_space_t *s = &w.s[j->id];
    vt_rng_t r;
    vt_rng_seed(&r, j->seed);
    for (uint64_t i = 0; i < j->ops; i++) {
        unsigned k = (unsigned)vt_rng_below(&r, T_SLOTS);
        uint64_t va = j->base + k * M2, pa = j->pa_base + k * M2;
        int rc;
        switch (vt_rng_below(&r, 3)) {
        case 0:
            rc = vms_space_map(s, va, pa, M2, VMS_RW, VMS_MAP_REPLACE);
            if (rc == VMS_OK) j->state[k] = T_HUGE;
            break;
        case 1:
            rc = vms_space_unmap(s, va, M2);
            if (rc == VMS_OK) rc = vms_space_map(s, va, pa, 8 * K4, VMS_RW, VMS_MAP_MAX_4K);
            if (rc == VMS_OK) j->state[k] = T_SMALL;
            break;
        default:
            rc = vms_space_unmap(s, va, M2);
            if (rc == VMS_OK) j->state[k] = T_EMPTY;
            break;
        }
        if (rc != VMS_OK) j->errors++;
    }
    return NULL;
}

typedef struct reader_s {
    const job_t *jobs[4];
    int njobs;
    atomic_int stop;
    uint64_t reads, found, bad;
} reader_t;

static void *reader(void *arg) {
    reader_t *rd = (reader_t *)arg;
    vms_space_t *s = &w.s[P2];
    vt_rng_t r;
    vt_rng_seed(&r, 77);
    while (!atomic_load(&rd->stop)) {
        const job_t *j = rd->jobs[vt_rng_below(&r, (uint64_t)rd->njobs)];
        uint64_t va = j->base + vt_rng_below(&r, T_SLOTS * M2 / K4) * K4 + 8, pa = 0;
        bool ok;
        vms_read_enter(s);
        ok = vms_translate(s, va, &pa);
        vms_read_leave(s);
        rd->reads++;
        if (ok) {
            rd->found++;
            if (pa != j->pa_base + (va - j->base)) rd->bad++;
        }
        if (!(rd->reads & 63)) sched_yield();
    }
    return NULL;
}

/* The window holds exactly what its job's last operations left, in space s. */
static void expect_window(const vms_space_t *s, const char *name, const job_t *j) {
    size_t n, at = 0;
    vms_mapping_t *v = mappings_in(s, j->base, T_SLOTS * M2, &n);
    for (unsigned k = 0; k < T_SLOTS; k++) {
        uint64_t va = j->base + k * M2, pa = j->pa_base + k * M2;
        unsigned pages = j->state[k] == T_SMALL ? 8 : j->state[k] == T_HUGE ? 1 : 0;
        for (unsigned p = 0; p < pages; p++, at++) {
            uint64_t size = j->state[k] == T_HUGE ? M2 : K4;
            cr_assert(lt(sz, at, n), "%s: window %#llx: slot %u page %u missing", name,
                      VT_ULL(j->base), k, p);
            cr_assert(v[at].va == va + p * size && v[at].pa == pa + p * size &&
                          v[at].size == size && v[at].prop == VMS_RW,
                      "%s: window %#llx: slot %u page %u: va %#llx pa %#llx size %#llx", name,
                      VT_ULL(j->base), k, p, VT_ULL(v[at].va), VT_ULL(v[at].pa),
                      VT_ULL(v[at].size));
        }
    }
    cr_assert(eq(sz, at, n), "%s: window %#llx: %zu extra mappings", name, VT_ULL(j->base), n - at);
    free(v);
}

static void concurrent_members(const vms_reclaim_t *rc2) {
    world_init(4);
    space_new_desc(K, false, false, true, &rw_reclaim);
    space_new_desc(P1, false, false, true, &rw_reclaim);
    space_new_desc(P2, false, false, true, rc2);
}

TestSuite(share_threads, .fini = world_fini);

/* Regression: a join once ran its debug check of the shared tables after releasing the
 * group's lock, beside members changing them. */

/* A space joins and leaves again and again while a member's thread changes the range. */
static atomic_int hammer_stop, hammer_errors;
static void *hammer(void *arg) {
    vms_space_t *s = (vms_space_t *)arg;
    for (unsigned i = 0; !atomic_load(&hammer_stop); i++) {
        uint64_t va = w.up + (uint64_t)(i % 16) * M2;
        if (vms_space_map(s, va, G1 + (va - w.up), 8 * K4, VMS_RW, VMS_MAP_REPLACE) ||
            vms_space_unmap(s, va, M2))
            atomic_fetch_add(&hammer_errors, 1);
    }
    return NULL;
}

Test(share_threads, join_and_leave_while_members_run) {
    concurrent_members(&rw_reclaim);
    pthread_t t;
    cr_assert(eq(int, vms_share_init(&w.g, &w.s[K], w.up, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, &w.s[P1]), VMS_OK));
    MAP(&w.s[K], w.up + G1, 5 * G1, G1, VMS_RW, 0);
    atomic_store(&hammer_stop, 0);
    atomic_store(&hammer_errors, 0);
    cr_assert(eq(int, pthread_create(&t, NULL, hammer, &w.s[P1]), 0));
    for (int i = 0; i < 300; i++) {
        cr_assert(eq(int, vms_share_join(&w.g, &w.s[P2]), VMS_OK));
        vt_expect_page(&w.s[P2], w.up + G1 + 5, w.up + G1, 5 * G1, G1, VMS_RW);
        cr_assert(eq(int, vms_share_leave(&w.s[P2]), VMS_OK));
        vt_expect_unmapped(&w.s[P2], w.up + G1);
    }
    atomic_store(&hammer_stop, 1);
    pthread_join(t, NULL);
    cr_expect(eq(int, atomic_load(&hammer_errors), 0), "the member's changes failed");
    check_group("join and leave while members run");
}

Test(share_threads, members_change_the_range_at_once) {
    const char *ops_env = getenv("VMS_SHARE_OPS");
    const uint64_t ops = ops_env && *ops_env ? strtoull(ops_env, NULL, 0) / 2 : T_OPS_DEFAULT;
    concurrent_members(&rw_reclaim);
    const uint64_t U = w.up, S = w.span;
    /* Own halves (the same addresses in each space), and three pieces of the range: two
     * under one 1 GiB table (page tables of their own), one in another slot. */
    job_t jobs[6] = {
        {K, 0x40000000, (uint64_t)1 << 32, 1, ops, {0}, 0},
        {P1, 0x40000000, (uint64_t)2 << 32, 2, ops, {0}, 0},
        {P2, 0x40000000, (uint64_t)3 << 32, 3, ops, {0}, 0},
        {K, U, (uint64_t)4 << 32, 4, ops, {0}, 0},
        {P1, U + T_SLOTS * M2, (uint64_t)5 << 32, 5, ops, {0}, 0},
        {P2, U + S + G1, (uint64_t)6 << 32, 6, ops, {0}, 0},
    };
    pthread_t th[6], rt;
    reader_t rd;
    memset(&rd, 0, sizeof rd);
    rd.jobs[0] = &jobs[2];
    rd.jobs[1] = &jobs[3];
    rd.jobs[2] = &jobs[4];
    rd.jobs[3] = &jobs[5];
    rd.njobs = 4;
    cr_assert(eq(int, vms_share_init(&w.g, &w.s[K], U, w.half), VMS_OK));
    cr_assert(eq(int, vms_share_join(&w.g, &w.s[P1]), VMS_OK));
    /* K's and P1's threads start; P2 joins while they run (members may be in use). */
    for (int i = 0; i < 6; i++)
        if (jobs[i].id != P2)
            cr_assert(eq(int, pthread_create(&th[i], NULL, mutator, &jobs[i]), 0));
    cr_assert(eq(int, vms_share_join(&w.g, &w.s[P2]), VMS_OK));
    for (int i = 0; i < 6; i++)
        if (jobs[i].id == P2)
            cr_assert(eq(int, pthread_create(&th[i], NULL, mutator, &jobs[i]), 0));
    cr_assert(eq(int, pthread_create(&rt, NULL, reader, &rd), 0));
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    atomic_store(&rd.stop, 1);
    pthread_join(rt, NULL);
    fprintf(stderr, "share_threads: %llu operations per thread, %llu reads, %llu found\n",
            VT_ULL(ops), VT_ULL(rd.reads), VT_ULL(rd.found));
    for (int i = 0; i < 6; i++)
        cr_expect(eq(u64, jobs[i].errors, 0), "job %d: %llu failed operations", i,
                  VT_ULL(jobs[i].errors));
    cr_expect(eq(u64, rd.bad, 0), "the reader saw %llu wrong translations", VT_ULL(rd.bad));
    check_group("after the threads");
    for (int i = 0; i < 6; i++) {
        if (jobs[i].base < U) {
            expect_window(&w.s[jobs[i].id], nm[jobs[i].id], &jobs[i]);
            continue;
        }
        for (int id = 0; id < NSP; id++) expect_window(&w.s[id], nm[id], &jobs[i]);
    }
}

/* Concurrent members take their group's lock: a clone between two of them takes it once,
 * and a cursor of one keeps the others' cursors out. */
Test(share_threads, one_lock_for_the_group) {
    concurrent_members(&rw_reclaim);
    const uint64_t U = w.up;
    vms_space_t *k = &w.s[K], *p1 = &w.s[P1], *p2 = &w.s[P2], q;
    vms_space_desc_t d;
    vms_cursor_t c, c2;
    group_of_three();
    MAP(k, U + 0x1000, 0x100000, 2 * K4, VMS_RW, 0);
    MAP(p1, 0x400000, 0x800000, 4 * K4, VMS_RW, 0);
    MAP(p2, 0x600000, 0xa00000, 2 * K4, VMS_RW, 0);
    /* Both address orders of the two spaces. */
    cr_assert(
        eq(int, vms_space_clone(p2, p1, 0x400000, 4 * K4, VMS_CLONE_COW, NULL, NULL), VMS_OK));
    vt_expect_page(p2, 0x401000, 0x401000, 0x801000, K4, VMS_R | VMS_COW);
    vt_expect_page(p1, 0x401000, 0x401000, 0x801000, K4, VMS_R | VMS_COW);
    cr_assert(eq(int, vms_space_clone(p1, p2, 0x600000, 2 * K4, 0, NULL, NULL), VMS_OK));
    vt_expect_page(p1, 0x601000, 0x601000, 0xa01000, K4, VMS_RW);
    cr_expect(eq(int, vms_space_clone(k, p2, U, M2, 0, NULL, NULL), VMS_ERR_EXIST));
    /* Into a concurrent space outside the group: two locks. */
    memset(&d, 0, sizeof d);
    d.provider = &w.f.prov;
    d.concurrent = true;
    d.reclaim = &rw_reclaim;
    cr_assert(eq(int, vms_space_init(&q, &d), VMS_OK));
    cr_assert(eq(int, vms_space_clone(&q, k, U, M2, 0, NULL, NULL), VMS_OK));
    vt_expect_page(&q, U + 0x2000, U + 0x2000, 0x101000, K4, VMS_RW);
    /* A cursor of P1 holds the group's lock, in either half. */
    cr_assert(eq(int, vms_cursor_open(&c, p1, 0x400000, M2), VMS_OK));
    cr_expect(eq(int, vms_cursor_try_open(&c2, p2, 0x600000, M2), VMS_ERR_BUSY));
    cr_expect(eq(int, vms_cursor_try_open(&c2, k, U, M2), VMS_ERR_BUSY));
    cr_assert(eq(int, vms_cursor_try_open(&c2, &q, U, M2), VMS_OK), "q has a lock of its own");
    vms_cursor_close(&c2);
    vms_cursor_close(&c);
    cr_assert(eq(int, vms_cursor_try_open(&c2, p2, 0x600000, M2), VMS_OK));
    vms_cursor_close(&c2);
    check_space_s(&q, "q", "one lock");
    cr_assert(eq(int, vms_space_destroy(&q), VMS_OK));
    check_group("one lock");
}

/* The members' threading and reclaim hook must match. */
Test(share_threads, join_refuses_other_threading) {
    concurrent_members(&rw_reclaim_other);
    vms_space_t plain, bare;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.provider = &w.f.prov;
    cr_assert(eq(int, vms_space_init(&plain, &d), VMS_OK));
    d.concurrent = true;
    cr_assert(eq(int, vms_space_init(&bare, &d), VMS_OK)); /* no reclaim hook */
    cr_assert(eq(int, vms_share_init(&w.g, &w.s[K], w.up, w.half), VMS_OK));
    const vms_share_t g0 = w.g;
    const uint64_t dk = vt_digest(&w.s[K]);
    cr_expect(eq(int, vms_share_join(&w.g, &plain), VMS_ERR_MISMATCH), "not concurrent");
    cr_expect(eq(int, vms_share_join(&w.g, &bare), VMS_ERR_MISMATCH), "no reclaim hook");
    cr_expect(eq(int, vms_share_join(&w.g, &w.s[P2]), VMS_ERR_MISMATCH), "another hook user");
    cr_expect(eq(int, memcmp(&g0, &w.g, sizeof g0), 0));
    cr_expect(eq(u64, vt_digest(&w.s[K]), dk));
    cr_expect(eq(int, vms_share_join(&w.g, &w.s[P1]), VMS_OK));
    /* And a plain group refuses a concurrent space. */
    vms_share_t g2;
    cr_assert(eq(int, vms_share_init(&g2, &plain, w.up, w.span), VMS_OK));
    cr_expect(eq(int, vms_share_join(&g2, &bare), VMS_ERR_MISMATCH));
    cr_assert(eq(int, vms_space_destroy(&plain), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&bare), VMS_OK));
    check_group("threading refusals");
}

#else /* no threads: a concurrent space cannot be made, and so cannot join */

Test(share_threads, none_without_threads) {
    vms_space_t s;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    cr_expect(eq(int, vms_space_init(&s, &d), VMS_ERR_ARG));
}
#endif
