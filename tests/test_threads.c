/* Many threads on one concurrent space.
 *
 *   stress      mutator threads (map, replace, unmap, protect through cursors, on ranges that
 *               overlap across threads and ranges that do not) beside translate, software-TLB
 *               and query readers, more threads than cores. Every mutation takes a sequence
 *               number while its cursor holds the space's lock (its linearization point);
 *               the log replayed in that order against the sequential reference model must
 *               give every result the threads saw, and the model must equal the final
 *               tables (mappings, counters, table pages). Readers check every answer against
 *               the rule the mutators keep (no torn or foreign entry).
 *   space_ops   the same mixture through vms_space_map/unmap/protect, checked for the
 *               invariants (no replay: those calls take their lock inside).
 *   try_open    VMS_ERR_BUSY while another thread holds a cursor, and no change made.
 *   reclaim     a removed table is not freed while a reader is inside its read section.
 *
 * Two reclaim hooks: a test-local one over a pthread rwlock (ThreadSanitizer understands it,
 * so the sanitizer run sees every grace period) and the stock liburcu one (vmspace_urcu.h),
 * which ThreadSanitizer cannot follow (membarrier), so it runs without it.
 * VMS_THREAD_OPS sets the number of mutations of the stress test (default 200000). */
#define _GNU_SOURCE /* rwlocks, a writer-preferring kind, sched_yield under -std=c11 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#ifndef VT_NO_CRITERION
#include "support/vt_cr.h"
#include "vmspace_owner.h"
#else
/* Built without Criterion, as the ThreadSanitizer run needs (Criterion's arena cannot start
 * under it): the same tests, with just enough of Criterion's assertions. */
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"
#define VT_ULL(x) ((unsigned long long)(x))
#define eq(t, a, b) ((a) == (b))
#define not(x) (!(x))
#define gt(t, a, b) ((a) > (b))
static int vt_failures;
static void vt_fail(const char *file, int line, const char *what, int fatal) {
    fprintf(stderr, "%s:%d: failed: %s\n", file, line, what);
    vt_failures++;
    if (fatal) exit(1);
}
#define VT_CHECK_(fatal, c, ...) ((c) ? (void)0 : vt_fail(__FILE__, __LINE__, #c, fatal))
#define cr_expect(...) VT_CHECK_(0, __VA_ARGS__, "")
#define cr_assert(...) VT_CHECK_(1, __VA_ARGS__, "")
static void vt_expect_wellformed(const vms_space_t *s) {
    cr_expect(eq(ptr, (void *)vt_check_tables(s), NULL));
    cr_expect(eq(u64, vt_table_pages(s), vt_count_tables(s)));
}
typedef struct vt_test_s {
    const char *name;
    void (*fn)(void);
} vt_test_t;
static vt_test_t vt_tests[16];
static int vt_ntests;
#define TestSuite(...) typedef int vt_suite_unused
#define Test(suite, tname)                                                                  \
    static void suite##_##tname(void);                                                      \
    __attribute__((constructor)) static void suite##_##tname##_reg(void) {                  \
        vt_tests[vt_ntests].name = #suite "/" #tname;                                       \
        vt_tests[vt_ntests++].fn = suite##_##tname;                                         \
    }                                                                                      \
    static void suite##_##tname(void)
#endif

#if defined(__SANITIZE_THREAD__)
#define VT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VT_TSAN 1
#endif
#endif
#ifndef VT_TSAN
#define VT_TSAN 0
#include "vmspace_urcu.h"
#endif

#ifndef VMSPACE_NO_THREADS

/* ---- reclaim over a rwlock: a read section is a read lock; a grace period is taking the
 * write lock once (every reader that was inside has then left). ---- */
/* Writers first: readers that keep overlapping would otherwise starve the grace period. */
static pthread_rwlock_t rw_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static atomic_ulong rw_retired;

static _Thread_local int rw_depth; /* read sections nest (query inside a caller's section) */
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
    atomic_fetch_add(&rw_retired, 1);
    done(ctx, list);
}
static void rw_barrier(void *u) { (void)u; }

static vms_reclaim_t rw_reclaim(void) {
    vms_reclaim_t r = {rw_enter, rw_leave, rw_retire, rw_barrier, NULL};
    return r;
}

static void thread_register(bool urcu) {
#if !VT_TSAN
    if (urcu) urcu_memb_register_thread();
#else
    (void)urcu;
#endif
}
static void thread_unregister(bool urcu) {
#if !VT_TSAN
    if (urcu) urcu_memb_unregister_thread();
#else
    (void)urcu;
#endif
}

/* ---- the workload ---- */
#define REGION VT_SZ_1G
#define NREGIONS 4
#define WINDOW ((uint64_t)8 << 20) /* ops fall in the first 8 MiB of a region: dense */
#define MUTATORS 4
#define READERS 3

enum { OP_MAP, OP_UNMAP, OP_PROTECT };

typedef struct rec_s {
    uint64_t seq;
    uint64_t va, len, pa, out;
    uint32_t flags;
    vms_prop_t prop;
    int op, rc;
} rec_t;

typedef struct shared_s {
    vms_space_t sp;
    bool urcu;
    atomic_ulong seq;
    atomic_int stop;
    atomic_ulong bad; /* reader answers that break the mutators' rule */
    atomic_ulong reads;
    uint64_t ops_per_thread;
    bool space_ops;
} shared_t;

typedef struct worker_s {
    shared_t *sh;
    int id;
    rec_t *log;
    uint64_t n;
} worker_t;

static uint64_t region_base(int r) { return (uint64_t)(r + 1) * REGION; }

/* The rule every mapping keeps: its frame sits at the offset of its address in the region,
 * above a version tag. A torn or foreign entry breaks it. */
static uint64_t frame_for(uint64_t va, uint64_t version) {
    return (version << 30) | (va & (REGION - 1u));
}
static bool frame_ok(uint64_t va, uint64_t pa) {
    return (pa & (REGION - 1u)) == (va & (REGION - 1u)) && (pa >> 30) != 0;
}

static const vms_prop_t props[] = {VMS_R, VMS_RW, VMS_RX, VMS_RW | VMS_USER, VMS_R | VMS_USER};

static void random_op(vt_rng_t *g, int id, rec_t *r) {
    int region = vt_rng_below(g, 4) == 0 ? 0 : 1 + id % (NREGIONS - 1); /* 0 is shared */
    uint64_t base = region_base(region), kind = vt_rng_below(g, 10);
    bool huge = vt_rng_below(g, 6) == 0;
    if (huge) {
        r->va = base + vt_rng_below(g, WINDOW / VT_SZ_2M) * VT_SZ_2M;
        r->len = VT_SZ_2M;
    } else {
        r->va = base + vt_rng_below(g, WINDOW / VT_SZ_4K) * VT_SZ_4K;
        r->len = (1 + vt_rng_below(g, 24)) * VT_SZ_4K;
        if (r->va + r->len > base + WINDOW) r->len = base + WINDOW - r->va;
    }
    r->prop = props[vt_rng_below(g, sizeof props / sizeof props[0])];
    r->flags = 0;
    r->pa = frame_for(r->va, 1 + vt_rng_below(g, 1000));
    if (kind < 5) {
        r->op = OP_MAP;
        if (vt_rng_below(g, 3) == 0) r->flags |= VMS_MAP_REPLACE;
        if (vt_rng_below(g, 4) == 0) r->flags |= VMS_MAP_MAX_4K;
    } else if (kind < 8) {
        r->op = OP_UNMAP;
    } else {
        r->op = OP_PROTECT;
    }
}

/* One mutation through a cursor; the sequence number is taken while the cursor holds the
 * lock, so sequence order is the order the mutations took effect in. */
static void run_op(vms_space_t *s, rec_t *r, atomic_ulong *seq) {
    vms_cursor_t c;
    int rc = vms_cursor_open(&c, s, r->va, r->len);
    r->out = 0;
    if (rc) {
        r->rc = rc;
        r->seq = atomic_fetch_add(seq, 1);
        return;
    }
    r->seq = atomic_fetch_add(seq, 1);
    if (r->op == OP_MAP) rc = vms_cursor_map_range(&c, r->pa, r->len, r->prop, r->flags);
    else if (r->op == OP_UNMAP) rc = vms_cursor_unmap(&c, r->len, &r->out);
    else rc = vms_cursor_protect(&c, r->len, r->prop);
    r->rc = rc;
    vms_cursor_close(&c);
}

static void run_space_op(vms_space_t *s, rec_t *r) {
    if (r->op == OP_MAP) r->rc = vms_space_map(s, r->va, r->pa, r->len, r->prop, r->flags);
    else if (r->op == OP_UNMAP) r->rc = vms_space_unmap(s, r->va, r->len);
    else r->rc = vms_space_protect(s, r->va, r->len, r->prop);
}

static void *mutator(void *arg) {
    worker_t *w = (worker_t *)arg;
    vt_rng_t g;
    uint64_t i;
    thread_register(w->sh->urcu);
    vt_rng_seed(&g, vt_seed_from_env(0x7e57) * 31u + (uint64_t)w->id);
    for (i = 0; i < w->n; i++) {
        rec_t *r = &w->log[i];
        random_op(&g, w->id, r);
        if (w->sh->space_ops) run_space_op(&w->sh->sp, r);
        else run_op(&w->sh->sp, r, &w->sh->seq);
    }
    thread_unregister(w->sh->urcu);
    return NULL;
}

/* Readers: translate, software TLB and query, in read sections of 64 lookups. */
static void *reader(void *arg) {
    worker_t *w = (worker_t *)arg;
    shared_t *sh = w->sh;
    vms_swtlb_t tlb;
    vt_rng_t g;
    unsigned long bad = 0, reads = 0;
    thread_register(sh->urcu);
    vt_rng_seed(&g, 0x4ead + (uint64_t)w->id);
    vms_swtlb_init(&tlb, &sh->sp);
    while (!atomic_load(&sh->stop)) {
        int k;
        vms_read_enter(&sh->sp);
        for (k = 0; k < 64; k++) {
            int region = (int)vt_rng_below(&g, NREGIONS);
            uint64_t va = region_base(region) + vt_rng_below(&g, WINDOW / 8) * 8, pa = 0;
            vms_mapping_t m;
            if (w->id % 3 == 0) {
                if (vms_translate(&sh->sp, va, &pa) && !frame_ok(va, pa)) bad++;
            } else if (w->id % 3 == 1) {
                if (vms_swtlb_translate(&tlb, va, &pa) && !frame_ok(va, pa)) bad++;
            } else if (vms_space_query(&sh->sp, va, &m) == VMS_OK) {
                if (!frame_ok(m.va, m.pa) || va < m.va || va - m.va >= m.size) bad++;
            }
            reads++;
        }
        vms_read_leave(&sh->sp);
    }
    atomic_fetch_add(&sh->bad, bad);
    atomic_fetch_add(&sh->reads, reads);
    thread_unregister(sh->urcu);
    return NULL;
}

static int by_seq(const void *a, const void *b) {
    uint64_t x = ((const rec_t *)a)->seq, y = ((const rec_t *)b)->seq;
    return x < y ? -1 : x > y;
}

static uint64_t ops_from_env(void) {
    const char *e = getenv("VMS_THREAD_OPS");
    uint64_t n = e ? strtoull(e, NULL, 0) : 0;
    return n ? n : 200000u;
}

/* Run the workload; with `replay`, check the log against the model. */
static void run_stress(bool urcu, bool space_ops) {
    static shared_t sh; /* large: the space and its arena bookkeeping */
    pthread_t th[MUTATORS + READERS];
    worker_t w[MUTATORS + READERS];
    vms_reclaim_t rc;
    vms_space_desc_t d;
    uint64_t total, i, k;
    rec_t *all;
    int t;
    memset(&sh, 0, sizeof sh);
#if VT_TSAN
    cr_assert(not(urcu));
    rc = rw_reclaim();
#else
    rc = urcu ? vms_urcu_reclaim() : rw_reclaim();
#endif
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.arena.size = (uint64_t)256 << 20;
    cr_assert(eq(int, vms_space_init(&sh.sp, &d), VMS_OK));
    sh.urcu = urcu;
    sh.space_ops = space_ops;
    sh.ops_per_thread = ops_from_env() / MUTATORS;
    if (VT_TSAN) sh.ops_per_thread /= 8; /* ThreadSanitizer runs ~10x slower */
    thread_register(urcu);
    for (t = 0; t < MUTATORS + READERS; t++) {
        w[t].sh = &sh;
        w[t].id = t;
        w[t].n = t < MUTATORS ? sh.ops_per_thread : 0;
        w[t].log = t < MUTATORS ? (rec_t *)calloc(w[t].n, sizeof(rec_t)) : NULL;
        if (t < MUTATORS) cr_assert(not(eq(ptr, w[t].log, NULL)));
    }
    for (t = MUTATORS; t < MUTATORS + READERS; t++)
        cr_assert(eq(int, pthread_create(&th[t], NULL, reader, &w[t]), 0));
    for (t = 0; t < MUTATORS; t++)
        cr_assert(eq(int, pthread_create(&th[t], NULL, mutator, &w[t]), 0));
    for (t = 0; t < MUTATORS; t++) pthread_join(th[t], NULL);
    atomic_store(&sh.stop, 1);
    for (t = MUTATORS; t < MUTATORS + READERS; t++) pthread_join(th[t], NULL);
    cr_expect(eq(u64, atomic_load(&sh.bad), 0), "%lu torn or foreign answers of %lu",
              atomic_load(&sh.bad), atomic_load(&sh.reads));
    cr_expect(gt(u64, atomic_load(&sh.reads), 0));

    total = sh.ops_per_thread * MUTATORS;
    all = (rec_t *)malloc(total * sizeof(rec_t));
    cr_assert(not(eq(ptr, all, NULL)));
    for (t = 0, k = 0; t < MUTATORS; t++)
        for (i = 0; i < w[t].n; i++) all[k++] = w[t].log[i];
    {
        vt_model_t m;
        char msg[256];
        uint64_t mismatches = 0, ok = 0;
        vt_model_init(&m);
        if (!space_ops) qsort(all, total, sizeof(rec_t), by_seq);
        for (i = 0; i < total && !space_ops; i++) {
            rec_t *r = &all[i];
            int want = VMS_OK;
            uint64_t out = 0;
            cr_assert(eq(u64, r->seq, i), "sequence numbers are dense");
            if (r->op == OP_MAP) want = vt_model_map(&m, r->va, r->pa, r->len, r->prop, r->flags);
            else if (r->op == OP_UNMAP) out = vt_model_unmap(&m, r->va, r->len);
            else vt_model_protect(&m, r->va, r->len, r->prop);
            if (r->rc != want || r->out != out) {
                if (!mismatches)
                    fprintf(stderr, "op %llu (kind %d at %#llx+%#llx): rc %d want %d, out %#llx"
                                    " want %#llx\n",
                            VT_ULL(i), r->op, VT_ULL(r->va), VT_ULL(r->len), r->rc, want,
                            VT_ULL(r->out), VT_ULL(out));
                mismatches++;
            }
            ok += r->rc == VMS_OK;
        }
        cr_expect(eq(u64, mismatches, 0), "%llu of %llu results differ from the replay",
                  VT_ULL(mismatches), VT_ULL(total));
        if (!space_ops) {
            cr_expect(vt_compare_model(&sh.sp, &m, msg, sizeof msg), "final tables: %s", msg);
            cr_expect(gt(u64, ok, total / 4), "the workload mostly succeeds");
            fprintf(stderr, "threads: %llu mutations by %d threads beside %d readers (%lu"
                            " lookups), replayed: %llu differences\n",
                    VT_ULL(total), MUTATORS, READERS, atomic_load(&sh.reads),
                    VT_ULL(mismatches));
        } else {
            for (i = 0; i < total; i++)
                cr_expect(eq(int, all[i].rc == VMS_OK || all[i].rc == VMS_ERR_EXIST, 1),
                          "op %llu: %s", VT_ULL(i), vms_err_name(all[i].rc));
        }
        vt_model_free(&m);
    }
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&sh.sp), NULL));
#endif
    vt_expect_wellformed(&sh.sp);
    /* Unmap everything: only the root is left once the grace periods are over. */
    for (t = 0; t < NREGIONS; t++)
        cr_assert(eq(int, vms_space_unmap(&sh.sp, region_base(t), WINDOW), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sh.sp), 1));
    cr_expect(eq(u64, vt_mapped_total(&sh.sp), 0));
    cr_assert(eq(int, vms_space_destroy(&sh.sp), VMS_OK));
    thread_unregister(urcu);
    for (t = 0; t < MUTATORS; t++) free(w[t].log);
    free(all);
}

TestSuite(threads, .timeout = 600);

Test(threads, stress_replay_rwlock_reclaim) { run_stress(false, false); }

#if !VT_TSAN
Test(threads, stress_replay_urcu_reclaim) { run_stress(true, false); }
#endif

Test(threads, space_ops_beside_readers) { run_stress(false, true); }

/* ---- a share group from many threads: three concurrent spaces share one top-level slot;
 * a thread per space maps, unmaps and protects its own lower half and the shared slot, while
 * readers translate through all three. The members serialise on the group's lock, so the
 * sequence numbers order every mutation; replaying them (a change in the slot reaching every
 * member's model) must give each member's results and final mappings. ---- */
#define SHARED_BASE 0xffff800000000000ull
#define MEMBERS 3

typedef struct share_run_s {
    vms_space_t sp[MEMBERS];
    atomic_ulong seq;
    atomic_int stop;
    atomic_ulong bad, reads;
} share_run_t;

typedef struct share_worker_s {
    share_run_t *run;
    int id;
    rec_t *log;
    uint64_t n;
} share_worker_t;

static void *share_mutator(void *arg) {
    share_worker_t *w = (share_worker_t *)arg;
    vt_rng_t g;
    uint64_t i;
    vt_rng_seed(&g, vt_seed_from_env(0x5a4e) * 17u + (uint64_t)w->id);
    for (i = 0; i < w->n; i++) {
        rec_t *r = &w->log[i];
        random_op(&g, w->id, r);
        if (vt_rng_below(&g, 2)) r->va += SHARED_BASE; /* the same offsets: frames keep the rule */
        run_op(&w->run->sp[w->id], r, &w->run->seq);
    }
    return NULL;
}

static void *share_reader(void *arg) {
    share_worker_t *w = (share_worker_t *)arg;
    share_run_t *run = w->run;
    vt_rng_t g;
    unsigned long bad = 0, reads = 0;
    vt_rng_seed(&g, 0x5ead + (uint64_t)w->id);
    while (!atomic_load(&run->stop)) {
        int k;
        vms_read_enter(&run->sp[0]); /* one reclaim hook for the group */
        for (k = 0; k < 64; k++) {
            int region = (int)vt_rng_below(&g, NREGIONS);
            uint64_t va = region_base(region) + vt_rng_below(&g, WINDOW / 8) * 8, pa = 0;
            if (vt_rng_below(&g, 2)) va += SHARED_BASE;
            if (vms_translate(&run->sp[vt_rng_below(&g, MEMBERS)], va, &pa) && !frame_ok(va, pa))
                bad++;
            reads++;
        }
        vms_read_leave(&run->sp[0]);
    }
    atomic_fetch_add(&run->bad, bad);
    atomic_fetch_add(&run->reads, reads);
    return NULL;
}

/* The member's mappings against its model, leaf by leaf, and its mapped-byte counters. */
static uint64_t share_differences(const vms_space_t *s, const vt_model_t *m) {
    size_t n, i;
    vms_mapping_t *e = vt_enumerate(s, &n);
    uint64_t diff = n == m->n ? 0 : 1, bytes[3];
    vms_stats_t st;
    for (i = 0; i < n && i < m->n; i++)
        diff += e[i].va != m->v[i].va || e[i].pa != m->v[i].pa || e[i].size != m->v[i].size ||
                e[i].prop != m->v[i].prop;
    free(e);
    vms_space_stats(s, &st);
    vt_model_bytes(m, bytes);
    for (i = 0; i < 3; i++) diff += st.mapped_bytes[i] != bytes[i];
    return diff;
}

Test(threads, share_group_members_and_readers) {
    static share_run_t run;
    static vms_arena_t arena;
    pthread_t th[MEMBERS + 2];
    share_worker_t w[MEMBERS + 2];
    vms_reclaim_t rc = rw_reclaim();
    vms_arena_desc_t ad;
    vms_provider_t prov;
    vms_space_desc_t d;
    vms_share_t group;
    vt_model_t m[MEMBERS];
    rec_t *all;
    uint64_t per = ops_from_env() / (MUTATORS * 2), total, i, k, mismatches = 0, ok = 0;
    int t, j;
    if (VT_TSAN) per /= 8;
    memset(&run, 0, sizeof run);
    memset(&ad, 0, sizeof ad);
    ad.size = (uint64_t)256 << 20;
    cr_assert(eq(int, vms_arena_init(&arena, &ad), VMS_OK));
    prov = vms_arena_provider(&arena);
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.provider = &prov;
    for (j = 0; j < MEMBERS; j++) cr_assert(eq(int, vms_space_init(&run.sp[j], &d), VMS_OK));
    cr_assert(eq(int, vms_share_init(&group, &run.sp[0], SHARED_BASE, vms_share_span(4)),
                 VMS_OK));
    for (j = 1; j < MEMBERS; j++) cr_assert(eq(int, vms_share_join(&group, &run.sp[j]), VMS_OK));
    for (t = 0; t < MEMBERS + 2; t++) {
        w[t].run = &run;
        w[t].id = t;
        w[t].n = t < MEMBERS ? per : 0;
        w[t].log = t < MEMBERS ? (rec_t *)calloc(per, sizeof(rec_t)) : NULL;
        if (t < MEMBERS) cr_assert(not(eq(ptr, w[t].log, NULL)));
    }
    for (t = MEMBERS; t < MEMBERS + 2; t++)
        cr_assert(eq(int, pthread_create(&th[t], NULL, share_reader, &w[t]), 0));
    for (t = 0; t < MEMBERS; t++)
        cr_assert(eq(int, pthread_create(&th[t], NULL, share_mutator, &w[t]), 0));
    for (t = 0; t < MEMBERS; t++) pthread_join(th[t], NULL);
    atomic_store(&run.stop, 1);
    for (t = MEMBERS; t < MEMBERS + 2; t++) pthread_join(th[t], NULL);
    cr_expect(eq(u64, atomic_load(&run.bad), 0), "%lu torn or foreign answers of %lu",
              atomic_load(&run.bad), atomic_load(&run.reads));

    /* Replay in sequence order; w[t].log[i].seq says when each took effect. */
    total = per * MEMBERS;
    all = (rec_t *)malloc(total * sizeof(rec_t));
    cr_assert(not(eq(ptr, all, NULL)));
    for (t = 0, k = 0; t < MEMBERS; t++)
        for (i = 0; i < per; i++) {
            all[k] = w[t].log[i];
            all[k++].flags |= (uint32_t)t << 24; /* the member, beside the map flags */
        }
    qsort(all, total, sizeof(rec_t), by_seq);
    for (j = 0; j < MEMBERS; j++) vt_model_init(&m[j]);
    for (i = 0; i < total; i++) {
        rec_t *r = &all[i];
        int who = (int)(r->flags >> 24), want = VMS_OK, first = 1;
        uint32_t flags = r->flags & 0xffffffu;
        uint64_t out = 0;
        cr_assert(eq(u64, r->seq, i), "sequence numbers are dense");
        for (j = 0; j < MEMBERS; j++) {
            int got = VMS_OK;
            uint64_t o = 0;
            if (j != who && r->va < SHARED_BASE) continue; /* a private change */
            if (r->op == OP_MAP) got = vt_model_map(&m[j], r->va, r->pa, r->len, r->prop, flags);
            else if (r->op == OP_UNMAP) o = vt_model_unmap(&m[j], r->va, r->len);
            else vt_model_protect(&m[j], r->va, r->len, r->prop);
            if (j == who || first) {
                want = got;
                out = o;
            }
            first = 0;
        }
        if (r->rc != want || r->out != out) mismatches++;
        ok += r->rc == VMS_OK;
    }
    cr_expect(eq(u64, mismatches, 0), "%llu of %llu results differ from the replay",
              VT_ULL(mismatches), VT_ULL(total));
    cr_expect(gt(u64, ok, total / 4), "the workload mostly succeeds");
    for (j = 0; j < MEMBERS; j++) {
        cr_expect(eq(u64, share_differences(&run.sp[j], &m[j]), 0), "member %d", j);
#ifdef VMSPACE_DEBUG
        cr_expect(eq(ptr, (void *)vms_space_check(&run.sp[j]), NULL), "member %d", j);
#endif
        vt_model_free(&m[j]);
    }
    fprintf(stderr, "threads: %llu mutations through %d spaces sharing a slot beside 2 readers"
                    " (%lu lookups), replayed: %llu differences\n",
            VT_ULL(total), MEMBERS, atomic_load(&run.reads), VT_ULL(mismatches));
    /* The members leave one by one; the last frees the slot's tables. */
    for (j = 0; j < MEMBERS; j++) cr_assert(eq(int, vms_space_destroy(&run.sp[j]), VMS_OK));
    cr_expect(eq(u64, arena.frames_in_use, 0), "every table went back: %llu left",
              VT_ULL(arena.frames_in_use));
    vms_arena_destroy(&arena);
    for (t = 0; t < MEMBERS; t++) free(w[t].log);
    free(all);
}

/* ---- try-open and the lock's exclusion ---- */
typedef struct hold_s {
    vms_space_t *sp;
    atomic_int held, release;
} hold_t;

static void *holder(void *arg) {
    hold_t *h = (hold_t *)arg;
    vms_cursor_t c;
    if (vms_cursor_open(&c, h->sp, 0x400000, VT_SZ_2M) != VMS_OK) return NULL;
    (void)vms_cursor_map_range(&c, 0x40000000, VT_SZ_4K, VMS_RW, 0);
    atomic_store(&h->held, 1);
    while (!atomic_load(&h->release)) sched_yield();
    vms_cursor_close(&c);
    return NULL;
}

Test(threads, try_open_busy_while_held) {
    vms_space_t sp;
    vms_space_desc_t d;
    vms_cursor_t c;
    pthread_t t;
    hold_t h;
    vms_reclaim_t rc = rw_reclaim();
    uint64_t pa = 0;
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.arena.size = (uint64_t)16 << 20;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    memset(&h, 0, sizeof h);
    h.sp = &sp;
    cr_assert(eq(int, pthread_create(&t, NULL, holder, &h), 0));
    while (!atomic_load(&h.held)) sched_yield();
    /* Readers run beside the held cursor; a second cursor cannot open. */
    vms_read_enter(&sp);
    cr_expect(vms_translate(&sp, 0x400000, &pa));
    vms_read_leave(&sp);
    cr_expect(eq(u64, pa, 0x40000000));
    cr_expect(eq(int, vms_cursor_try_open(&c, &sp, 0x800000, VT_SZ_4K), VMS_ERR_BUSY));
    atomic_store(&h.release, 1);
    pthread_join(t, NULL);
    cr_assert(eq(int, vms_cursor_try_open(&c, &sp, 0x800000, VT_SZ_4K), VMS_OK));
    cr_expect(eq(int, vms_cursor_map_range(&c, 0x40200000, VT_SZ_4K, VMS_R, 0), VMS_OK));
    vms_cursor_close(&c);
    cr_expect(eq(u64, vt_mapped_total(&sp), 2 * VT_SZ_4K));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
}

/* ---- harvest beside a CPU that sets A and D: the clearing is an atomic AND, so no bit the
 * CPU sets between the harvest's read and write is lost. The CPU sets a bit only when it
 * sees it clear (as a walker does), so every set is reported exactly once. ---- */
#define CPU_PAGES 4

typedef struct cpu_s {
    uint64_t *leaf[CPU_PAGES];
    atomic_int stop;
    uint64_t sets[2]; /* A, D */
} cpu_t;

static void *cpu_thread(void *arg) {
    cpu_t *c = (cpu_t *)arg;
    vt_rng_t g;
    vt_rng_seed(&g, 0xc0u);
    while (!atomic_load(&c->stop)) {
        uint64_t *e = c->leaf[vt_rng_below(&g, CPU_PAGES)];
        int d = (int)vt_rng_below(&g, 2);
        uint64_t bit = d ? 0x40u : 0x20u;
        if (!(__atomic_load_n(e, __ATOMIC_ACQUIRE) & bit)) {
            __atomic_fetch_or(e, bit, __ATOMIC_ACQ_REL);
            c->sets[d]++;
        }
    }
    return NULL;
}

Test(threads, harvest_beside_a_cpu_setting_bits) {
    vms_space_t sp;
    vms_space_desc_t d;
    vms_reclaim_t rc = rw_reclaim();
    static cpu_t cpu;
    pthread_t t;
    uint64_t seen[2] = {0, 0};
    int i, round;
    memset(&cpu, 0, sizeof cpu);
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.arena.size = (uint64_t)16 << 20;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, CPU_PAGES * VT_SZ_4K, VMS_RW, 0),
                 VMS_OK));
    for (i = 0; i < CPU_PAGES; i++) {
        int level;
        cpu.leaf[i] = vt_walk(&sp, 0x400000 + (uint64_t)i * VT_SZ_4K, &level, NULL);
        cr_assert(cpu.leaf[i] != NULL);
    }
    cr_assert(eq(int, pthread_create(&t, NULL, cpu_thread, &cpu), 0));
    for (round = 0; round < (VT_TSAN ? 20000 : 1000000) || !seen[0] || !seen[1]; round++) {
        vms_harvest_t h;
        int k = round & 1; /* A on even rounds, D on odd ones */
        memset(&h, 0, sizeof h);
        h.bits = k ? VMS_DIRTY : VMS_ACCESSED;
        h.flags = VMS_HARVEST_CLEAR;
        cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, CPU_PAGES * VT_SZ_4K, &h), VMS_OK));
        seen[k] += h.found / VT_SZ_4K;
        if (round > 4000000) break;
    }
    atomic_store(&cpu.stop, 1);
    pthread_join(t, NULL);
    for (i = 0; i < 2; i++) { /* what the CPU set since the last rounds */
        vms_harvest_t h;
        memset(&h, 0, sizeof h);
        h.bits = i ? VMS_DIRTY : VMS_ACCESSED;
        h.flags = VMS_HARVEST_CLEAR;
        cr_assert(eq(int, vms_space_harvest(&sp, 0x400000, CPU_PAGES * VT_SZ_4K, &h), VMS_OK));
        seen[i] += h.found / VT_SZ_4K;
    }
    cr_expect(eq(u64, seen[0], cpu.sets[0]), "A: %lu reported, %lu set", (unsigned long)seen[0],
              (unsigned long)cpu.sets[0]);
    cr_expect(eq(u64, seen[1], cpu.sets[1]), "D: %lu reported, %lu set", (unsigned long)seen[1],
              (unsigned long)cpu.sets[1]);
    cr_expect(gt(u64, cpu.sets[0] + cpu.sets[1], 0));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
}

/* A concurrent space is refused in a build without threads, and a reclaim hook must be
 * whole; the refusal changes nothing. */
Test(threads, bad_reclaim_hook_refused) {
    vms_space_t sp;
    vms_space_desc_t d;
    vms_reclaim_t rc = rw_reclaim();
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    rc.barrier = NULL;
    d.reclaim = &rc;
    cr_expect(eq(int, vms_space_init(&sp, &d), VMS_ERR_ARG));
}

/* ---- the grace period: a table removed while a reader is inside its read section is not
 * given back to the provider until the reader leaves. ---- */
typedef struct gp_s {
    atomic_int entered, leave;
    vms_space_t *sp;
} gp_t;

static void *gp_reader(void *arg) {
    gp_t *g = (gp_t *)arg;
    uint64_t pa;
    vms_read_enter(g->sp);
    (void)vms_translate(g->sp, 0x400000, &pa);
    atomic_store(&g->entered, 1);
    while (!atomic_load(&g->leave)) sched_yield();
    vms_read_leave(g->sp);
    return NULL;
}

typedef struct gp_hook_s {
    atomic_int pending;
    void (*done)(void *, uint64_t);
    void *ctx;
    uint64_t list;
} gp_hook_t;

/* A hook that parks retired lists until the test lets them go, so the test can watch the
 * provider: the parked tables must not be freed meanwhile. */
static gp_hook_t gp_hook;
static void gp_retire(void *u, void (*done)(void *, uint64_t), void *ctx, uint64_t list) {
    (void)u;
    gp_hook.done = done;
    gp_hook.ctx = ctx;
    gp_hook.list = list;
    atomic_store(&gp_hook.pending, 1);
}
static void gp_barrier(void *u) {
    (void)u;
    if (atomic_exchange(&gp_hook.pending, 0)) gp_hook.done(gp_hook.ctx, gp_hook.list);
}

Test(threads, removed_tables_wait_for_grace) {
    vt_fprov_t f;
    vms_space_t sp;
    vms_space_desc_t d;
    vms_reclaim_t rc = {rw_enter, rw_leave, gp_retire, gp_barrier, NULL};
    gp_t g;
    pthread_t t;
    uint64_t frees_before, tables;
    memset(&gp_hook, 0, sizeof gp_hook);
    cr_assert(eq(int, vt_fprov_init(&f, (uint64_t)16 << 20), VMS_OK));
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.provider = &f.prov;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x200000, VT_SZ_4K, VMS_RW, 0), VMS_OK));
    tables = vt_table_pages(&sp);
    cr_assert(eq(u64, tables, 4));
    memset(&g, 0, sizeof g);
    g.sp = &sp;
    cr_assert(eq(int, pthread_create(&t, NULL, gp_reader, &g), 0));
    while (!atomic_load(&g.entered)) sched_yield();
    frees_before = f.frees;
    /* Unmapping the only page empties three tables: they leave the tree at once... */
    cr_assert(eq(int, vms_space_unmap(&sp, 0x400000, VT_SZ_4K), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&sp), 1));
    /* ...but stay with the hook, not the provider, while the grace period lasts. */
    cr_expect(eq(int, atomic_load(&gp_hook.pending), 1));
    cr_expect(eq(u64, f.frees, frees_before));
    atomic_store(&g.leave, 1);
    pthread_join(t, NULL);
    gp_barrier(NULL); /* the grace period ends: the next lock holder frees them */
    cr_assert(eq(int, vms_space_map(&sp, 0x800000, 0x200000, VT_SZ_4K, VMS_RW, 0), VMS_OK));
    cr_expect(eq(u64, f.frees, frees_before + 3));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
    vt_fprov_destroy(&f);
}

/* ---- the owner from many threads: leases on disjoint and shared ranges beside guarded
 * unmaps and remaps. A lease holder re-reads its range while it holds the lease: nothing may
 * change under it; a guarded unmap that overlaps a live lease must fail with BUSY. ---- */
#define OWNER_THREADS 4
#define OWNER_PAGES 64 /* per region; region 0 is shared by all threads */

typedef struct owner_shared_s {
    vms_space_t sp;
    vms_owner_t o;
    atomic_ulong broken, leases, busy, unmaps;
    atomic_int conflicted; /* a guarded unmap has met another thread's lease */
    pthread_barrier_t start;
    uint64_t rounds;
} owner_shared_t;

typedef struct owner_worker_s {
    owner_shared_t *sh;
    int id;
} owner_worker_t;

static void *owner_worker(void *arg) {
    owner_worker_t *w = (owner_worker_t *)arg;
    owner_shared_t *sh = w->sh;
    vt_rng_t g;
    uint64_t i, broken = 0, leases = 0, busy = 0, unmaps = 0;
    vt_rng_seed(&g, 0x0e11 + (uint64_t)w->id);
    /* All start together, and on a loaded machine, where the threads may still run one
     * after another, they go on (up to 64 times as long) until the shared region has seen
     * a conflict, so the test does not depend on the scheduler to exercise it. */
    pthread_barrier_wait(&sh->start);
    for (i = 0; i < sh->rounds || (!atomic_load(&sh->conflicted) && i < 64 * sh->rounds);
         i++) {
        int region = vt_rng_below(&g, 3) == 0 ? 0 : 1 + w->id;
        uint64_t base = region_base(region), va, len, k;
        vms_lease_t l, b;
        va = base + vt_rng_below(&g, OWNER_PAGES - 4) * VT_SZ_4K;
        len = (1 + vt_rng_below(&g, 4)) * VT_SZ_4K;
        if (vt_rng_below(&g, 2)) {
            vms_lease_kind kind = vt_rng_below(&g, 2) ? VMS_LEASE_READ : VMS_LEASE_WRITE;
            if (vms_lease_acquire(&sh->o, kind, va, len, &l, &b) != VMS_OK) continue;
            leases++;
            for (k = 0; k < 8; k++) { /* the range must stay as it was taken */
                uint64_t off;
                for (off = 0; off < len; off += VT_SZ_4K) {
                    vms_mapping_t m;
                    if (vms_space_query(&sh->sp, va + off, &m) != VMS_OK ||
                        m.pa != frame_for(va + off, 1))
                        broken++;
                }
            }
            if (vms_lease_release(&sh->o, l) != VMS_OK) broken++;
        } else {
            int rc = vms_owner_unmap(&sh->o, va, len, &b);
            if (rc == VMS_ERR_BUSY) {
                busy++;
                atomic_store(&sh->conflicted, 1);
                continue;
            }
            if (rc != VMS_OK) broken++;
            unmaps++;
            /* Another thread may have remapped part of it meanwhile (same frames): replace,
             * and wait out a lease taken on the part still mapped. */
            while ((rc = vms_owner_map(&sh->o, va, frame_for(va, 1), len, VMS_RW,
                                       VMS_MAP_REPLACE, &b)) == VMS_ERR_BUSY)
                sched_yield();
            if (rc != VMS_OK) broken++;
        }
    }
    atomic_fetch_add(&sh->broken, broken);
    atomic_fetch_add(&sh->leases, leases);
    atomic_fetch_add(&sh->busy, busy);
    atomic_fetch_add(&sh->unmaps, unmaps);
    return NULL;
}

Test(threads, owner_leases_beside_guarded_unmaps) {
    static owner_shared_t sh;
    pthread_t th[OWNER_THREADS];
    owner_worker_t w[OWNER_THREADS];
    vms_reclaim_t rc = rw_reclaim();
    vms_space_desc_t d;
    int t, r;
    memset(&sh, 0, sizeof sh);
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    d.reclaim = &rc;
    d.arena.size = (uint64_t)32 << 20;
    cr_assert(eq(int, vms_space_init(&sh.sp, &d), VMS_OK));
    cr_assert(eq(int, vms_owner_init(&sh.o, &sh.sp, NULL), VMS_OK));
    for (r = 0; r <= OWNER_THREADS; r++)
        cr_assert(eq(int, vms_space_map(&sh.sp, region_base(r), frame_for(region_base(r), 1),
                                        OWNER_PAGES * VT_SZ_4K, VMS_RW, 0),
                     VMS_OK));
    sh.rounds = VT_TSAN ? 1500 : 3000;
    cr_assert(eq(int, pthread_barrier_init(&sh.start, NULL, OWNER_THREADS), 0));
    for (t = 0; t < OWNER_THREADS; t++) {
        w[t].sh = &sh;
        w[t].id = t;
        cr_assert(eq(int, pthread_create(&th[t], NULL, owner_worker, &w[t]), 0));
    }
    for (t = 0; t < OWNER_THREADS; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&sh.start);
    cr_expect(eq(u64, atomic_load(&sh.broken), 0), "%lu changes seen under a live lease",
              atomic_load(&sh.broken));
    cr_expect(gt(u64, atomic_load(&sh.leases), 0));
    cr_expect(gt(u64, atomic_load(&sh.busy), 0), "the shared region saw no conflict");
    cr_expect(gt(u64, atomic_load(&sh.unmaps), 0));
    vms_owner_lock(&sh.o);
    cr_expect(eq(u64, sh.o.readers.count + sh.o.writers.count, 0));
    vms_owner_unlock(&sh.o);
    cr_expect(eq(u64, vt_mapped_total(&sh.sp), (OWNER_THREADS + 1) * OWNER_PAGES * VT_SZ_4K));
    cr_assert(eq(int, vms_owner_destroy(&sh.o), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&sh.sp), VMS_OK));
}

/* ---- a concurrent space flushes exactly what a plain one does for the same changes (the
 * atomic rewrite of live leaves must not lose the flush records). ---- */
typedef struct flushes_s {
    uint64_t calls, pages;
} flushes_t;

static void count_flush(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    flushes_t *f = (flushes_t *)user;
    (void)cpus;
    f->calls++;
    f->pages += b->all ? 1000000u : b->npages;
}

static flushes_t flushes_of(bool concurrent) {
    static vms_space_t sp;
    vms_machine_t m;
    vms_space_desc_t d;
    vms_reclaim_t rc = rw_reclaim();
    flushes_t f = {0, 0};
    vms_machine_init(&m);
    memset(&d, 0, sizeof d);
    d.concurrent = concurrent;
    d.reclaim = concurrent ? &rc : NULL;
    d.arena.size = (uint64_t)16 << 20;
    d.flush = count_flush;
    d.hook_user = &f;
    d.machine = &m;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 8 * VT_SZ_4K, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x401000, 2 * VT_SZ_4K), VMS_OK)); /* slot loop */
    cr_assert(eq(int, vms_space_unmap(&sp, 0x404000, VT_SZ_4K), VMS_OK));     /* one page */
    cr_assert(eq(int, vms_space_protect(&sp, 0x400000, 8 * VT_SZ_4K, VMS_R), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x405000, 0x900000, VT_SZ_4K, VMS_RW,
                                    VMS_MAP_REPLACE),
                 VMS_OK));
    cr_assert(eq(int, vms_space_deactivate(&sp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
    return f;
}

Test(threads, concurrent_space_flushes_like_a_plain_one) {
    flushes_t plain = flushes_of(false), conc = flushes_of(true);
    cr_expect(eq(u64, conc.calls, plain.calls));
    cr_expect(eq(u64, conc.pages, plain.pages));
    cr_expect(eq(u64, plain.pages, 2 + 1 + 5 + 1), "unmap 2, unmap 1, protect 5 left, replace 1");
}

#else /* VMSPACE_NO_THREADS: a concurrent space is refused, and nothing is set up */

Test(threads, concurrent_space_refused_without_threads) {
    vms_space_t sp;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.concurrent = true;
    cr_expect(eq(int, vms_space_init(&sp, &d), VMS_ERR_ARG));
}
#endif

#ifdef VT_NO_CRITERION
int main(void) {
    int i;
    for (i = 0; i < vt_ntests; i++) {
        int before = vt_failures;
        vt_tests[i].fn();
        fprintf(stderr, "[%s] %s\n", vt_failures == before ? "PASS" : "FAIL", vt_tests[i].name);
    }
    fprintf(stderr, "%d tests, %d failed checks\n", vt_ntests, vt_failures);
    return vt_failures != 0;
}
#endif
