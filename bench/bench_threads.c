/* bench_threads.c - many threads on one space, measured by tools/bench.sh beside the main
 * suite (Google Benchmark's harness times one thread's loop; these cases need several).
 *
 * Prints one line per case: "case NAME NS_PER_OP [extra]". Cases:
 *   st/<space>/<op>        one thread; <space> is plain (a space the caller serialises) or
 *                          conc (a concurrent space with the liburcu hook); built once with
 *                          threads and once with VMSPACE_NO_THREADS, so the report can give
 *                          the cost of the threaded build per case
 *   mt/<space>/<op>/<n>    n threads, each in its own 1 GiB region; <space> conc, or mutex
 *                          (a plain space under one pthread mutex: the baseline)
 *   (each the best of five runs after a warm-up run)
 *   tr/quiet, tr/beside    translate in read sections of 64, alone or beside a thread that
 *                          maps and unmaps elsewhere in the space; "stale" counts answers that
 *                          break the mappings' rule (frame = offset in the region)
 * Ops: mapunmap (map 512 pages of 4 KiB one by one, unmap them as one range: per page),
 * fault (map one page into a populated table and unmap it again: per pair), openclose (an
 * uncontended cursor open and close over one 4 KiB page), lease (take and release a writer
 * lease beside 1000 live ones of the same thread, each thread in its own region).
 * The library is compiled in its own translation unit (threads_impl.c), as users build. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmspace_owner.h"
#if !defined(VMSPACE_NO_THREADS)
#include "vmspace_urcu.h"
#define BT_THREADS 1
#else
#define BT_THREADS 0
#endif

#define BT_GIB ((uint64_t)1 << 30)
#define BT_PA ((uint64_t)1 << 40)

static uint64_t bt_scale = 1; /* --quick: 1/8 of the work */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void check(int rc, const char *what) {
    if (rc != VMS_OK) {
        fprintf(stderr, "bench_threads: %s: %s\n", what, vms_err_name(rc));
        exit(1);
    }
}

typedef struct bt_space_s {
    vms_space_t sp;
    bool mutex; /* serialise every call through mu */
    pthread_mutex_t mu;
#if BT_THREADS
    vms_reclaim_t rc;
#endif
} bt_space_t;

static void bt_init(bt_space_t *b, bool concurrent, bool mutex) {
    vms_space_desc_t d;
    memset(b, 0, sizeof *b);
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)512 << 20;
#if BT_THREADS
    if (concurrent) {
        b->rc = vms_urcu_reclaim();
        d.concurrent = true;
        d.reclaim = &b->rc;
    }
#else
    (void)concurrent;
#endif
    b->mutex = mutex;
    pthread_mutex_init(&b->mu, NULL);
    check(vms_space_init(&b->sp, &d), "init");
}

static void bt_lock(bt_space_t *b) {
    if (b->mutex) pthread_mutex_lock(&b->mu);
}
static void bt_unlock(bt_space_t *b) {
    if (b->mutex) pthread_mutex_unlock(&b->mu);
}

static uint64_t region(int r) { return (uint64_t)(r + 1) * BT_GIB; }
static uint64_t frame(uint64_t va) { return BT_PA | (va & (BT_GIB - 1u)); }

/* Map 512 pages one by one, unmap them as one range; n rounds. Returns pages done. */
static uint64_t op_mapunmap(bt_space_t *b, int r, uint64_t n) {
    uint64_t base = region(r), k, i;
    for (k = 0; k < n; k++) {
        uint64_t va = base + (k & 63) * ((uint64_t)2 << 20);
        for (i = 0; i < 512; i++) {
            bt_lock(b);
            check(vms_space_map(&b->sp, va + i * 4096, frame(va + i * 4096), 4096, VMS_RW, 0),
                  "map");
            bt_unlock(b);
        }
        bt_lock(b);
        check(vms_space_unmap(&b->sp, va, (uint64_t)2 << 20), "unmap");
        bt_unlock(b);
    }
    return n * 512;
}

/* An uncontended cursor over one page: open and close. */
static uint64_t op_openclose(bt_space_t *b, int r, uint64_t n) {
    uint64_t base = region(r), k;
    for (k = 0; k < n; k++) {
        vms_cursor_t c;
        check(vms_cursor_open(&c, &b->sp, base + 4096 * (k & 511), 4096), "open");
        vms_cursor_close(&c);
    }
    return n;
}

/* Leases: the owner of b, with 1000 live writer leases per region (set up by bt_leases). */
static vms_owner_t bt_owner;
#define BT_LIVE 1000
static vms_lease_t bt_live[2 * BT_LIVE];
#if BT_THREADS
static void bt_leases(bt_space_t *b, int regions) {
    int r, k;
    vms_lease_t blk;
    check(vms_owner_init(&bt_owner, &b->sp, NULL), "owner");
    for (r = 0; r < regions; r++) {
        check(vms_space_map(&b->sp, region(r), frame(region(r)), (uint64_t)2 * BT_LIVE * 4096,
                            VMS_RW, 0),
              "map lease region");
        for (k = 0; k < BT_LIVE; k++)
            check(vms_lease_acquire(&bt_owner, VMS_LEASE_WRITE, region(r) + 8192u * k, 4096,
                                    &bt_live[r * BT_LIVE + k], &blk),
                  "live lease");
    }
}
#endif
static uint64_t op_lease(bt_space_t *b, int r, uint64_t n) {
    uint64_t k;
    (void)b;
    for (k = 0; k < n; k++) {
        vms_lease_t l, blk;
        uint64_t va = region(r) + 8192u * (k % BT_LIVE) + 4096;
        check(vms_lease_acquire(&bt_owner, VMS_LEASE_WRITE, va, 4096, &l, &blk), "lease");
        check(vms_lease_release(&bt_owner, l), "release");
    }
    return n;
}

/* One page in and out of a table that stays (a neighbour keeps it). */
static uint64_t op_fault(bt_space_t *b, int r, uint64_t n) {
    uint64_t base = region(r) + (uint64_t)512 * 4096 * 8, k;
    bt_lock(b);
    check(vms_space_map(&b->sp, base, frame(base), 4096, VMS_RW, 0), "map keeper");
    bt_unlock(b);
    for (k = 0; k < n; k++) {
        uint64_t va = base + 4096 * (1 + (k & 255));
        bt_lock(b);
        check(vms_space_map(&b->sp, va, frame(va), 4096, VMS_RW, 0), "fault map");
        bt_unlock(b);
        bt_lock(b);
        check(vms_space_unmap(&b->sp, va, 4096), "fault unmap");
        bt_unlock(b);
    }
    bt_lock(b);
    check(vms_space_unmap(&b->sp, base, 4096), "unmap keeper");
    bt_unlock(b);
    return n;
}

typedef struct bt_job_s {
    bt_space_t *b;
    int region, op;
    uint64_t n, done;
    atomic_int *go;
    double ns;
} bt_job_t;

static void *bt_run(void *arg) {
    bt_job_t *j = (bt_job_t *)arg;
    double t0;
#if BT_THREADS
    urcu_memb_register_thread();
#endif
    while (!atomic_load(j->go)) {
    }
    t0 = now_ns();
    switch (j->op) {
    case 0: j->done = op_mapunmap(j->b, j->region, j->n); break;
    case 1: j->done = op_fault(j->b, j->region, j->n); break;
    case 2: j->done = op_openclose(j->b, j->region, j->n); break;
    default: j->done = op_lease(j->b, j->region, j->n); break;
    }
    j->ns = now_ns() - t0;
#if BT_THREADS
    urcu_memb_unregister_thread();
#endif
    return NULL;
}

/* nthreads threads, each in its own region; returns ns per op of the whole (wall clock over
 * all ops: throughput). A first, unmeasured run touches the arena's memory and the tables. */
static double bt_once(bt_space_t *b, int op, int nthreads, uint64_t n);
static double bt_parallel(bt_space_t *b, int op, int nthreads, uint64_t n) {
    double best = 1e30;
    int k;
    (void)bt_once(b, op, nthreads, n / 4 + 1);
    for (k = 0; k < 5; k++) { /* the best of five: the least disturbed run */
        double t = bt_once(b, op, nthreads, n);
        if (t < best) best = t;
    }
    return best;
}
static double bt_once(bt_space_t *b, int op, int nthreads, uint64_t n) {
    pthread_t th[8];
    bt_job_t j[8];
    atomic_int go = 0;
    double t0, wall;
    uint64_t total = 0;
    int t;
    for (t = 0; t < nthreads; t++) {
        j[t].b = b;
        j[t].region = t;
        j[t].op = op;
        j[t].n = n;
        j[t].go = &go;
        pthread_create(&th[t], NULL, bt_run, &j[t]);
    }
    t0 = now_ns();
    atomic_store(&go, 1);
    for (t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
    wall = now_ns() - t0;
    for (t = 0; t < nthreads; t++) total += j[t].done;
    return wall / (double)total;
}

/* ---- translate, alone and beside a mutator ---- */
typedef struct bt_reader_s {
    bt_space_t *b;
    uint64_t n, stale;
    double ns;
} bt_reader_t;

static void *bt_read(void *arg) {
    bt_reader_t *r = (bt_reader_t *)arg;
    uint64_t x = 0x9e3779b97f4a7c15u, k, sum = 0;
    double t0;
#if BT_THREADS
    urcu_memb_register_thread();
#endif
    t0 = now_ns();
    for (k = 0; k < r->n; k += 64) {
        int i;
        vms_read_enter(&r->b->sp);
        for (i = 0; i < 64; i++) {
            uint64_t va, pa = 0;
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            va = region(3) + ((x >> 12) & ((64u << 8) - 1u)) * 4096; /* 64 MiB */
            if (vms_translate(&r->b->sp, va, &pa)) {
                if (pa != frame(va)) r->stale++;
                sum += pa;
            } else {
                r->stale++; /* region 3 is never unmapped */
            }
        }
        vms_read_leave(&r->b->sp);
    }
    r->ns = (now_ns() - t0) / (double)r->n;
    if (sum == 1) printf(" ");
#if BT_THREADS
    urcu_memb_unregister_thread();
#endif
    return NULL;
}

static atomic_int bt_mutating;
static void *bt_mutate(void *arg) {
    bt_space_t *b = (bt_space_t *)arg;
#if BT_THREADS
    urcu_memb_register_thread();
#endif
    while (atomic_load(&bt_mutating)) (void)op_mapunmap(b, 0, 1);
#if BT_THREADS
    urcu_memb_unregister_thread();
#endif
    return NULL;
}

static void bt_translate(bt_space_t *b, bool beside, const char *name) {
    double best = 1e30;
    uint64_t stale = 0;
    int k;
    for (k = 0; k < 3; k++) { /* the best of three */
        bt_reader_t r;
        pthread_t tr, tm;
        memset(&r, 0, sizeof r);
        r.b = b;
        r.n = ((uint64_t)16 << 20) / bt_scale;
        atomic_store(&bt_mutating, beside);
        if (beside) pthread_create(&tm, NULL, bt_mutate, b);
        pthread_create(&tr, NULL, bt_read, &r);
        pthread_join(tr, NULL);
        atomic_store(&bt_mutating, 0);
        if (beside) pthread_join(tm, NULL);
        if (r.ns < best) best = r.ns;
        stale += r.stale;
    }
    printf("case %s %.3f stale=%llu\n", name, best, (unsigned long long)stale);
}

int main(int argc, char **argv) {
    static bt_space_t plain, conc, mutex;
    uint64_t n_mu = 1024, n_fault = (uint64_t)1 << 20;
    int t;
    if (argc > 1 && !strcmp(argv[1], "--quick")) bt_scale = 8;
    n_mu /= bt_scale;
    n_fault /= bt_scale;
#if BT_THREADS
    urcu_memb_register_thread();
#endif
    bt_init(&plain, false, false);
    /* Single thread: every case that runs in both builds. */
    printf("case st/plain/mapunmap %.3f\n", bt_parallel(&plain, 0, 1, n_mu));
    printf("case st/plain/fault %.3f\n", bt_parallel(&plain, 1, 1, n_fault));
    printf("case st/plain/openclose %.3f\n", bt_parallel(&plain, 2, 1, n_fault));
#if BT_THREADS
    bt_init(&conc, true, false);
    bt_init(&mutex, false, true);
    printf("case st/conc/mapunmap %.3f\n", bt_parallel(&conc, 0, 1, n_mu));
    printf("case st/conc/fault %.3f\n", bt_parallel(&conc, 1, 1, n_fault));
    printf("case st/conc/openclose %.3f\n", bt_parallel(&conc, 2, 1, n_fault));
    for (t = 1; t <= 2; t++) {
        printf("case mt/conc/mapunmap/%d %.3f\n", t, bt_parallel(&conc, 0, t, n_mu));
        printf("case mt/mutex/mapunmap/%d %.3f\n", t, bt_parallel(&mutex, 0, t, n_mu));
        printf("case mt/conc/fault/%d %.3f\n", t, bt_parallel(&conc, 1, t, n_fault));
        printf("case mt/mutex/fault/%d %.3f\n", t, bt_parallel(&mutex, 1, t, n_fault));
    }
    check(vms_space_map(&conc.sp, region(3), frame(region(3)), (uint64_t)64 << 20, VMS_RW,
                        VMS_MAP_MAX_4K),
          "map translate region");
    bt_translate(&conc, false, "tr/quiet");
    bt_translate(&conc, true, "tr/beside");
    check(vms_space_unmap(&conc.sp, region(0), BT_GIB), "unmap");
    check(vms_space_unmap(&conc.sp, region(1), BT_GIB), "unmap");
    bt_leases(&conc, 2);
    for (t = 1; t <= 2; t++)
        printf("case mt/conc/lease/%d %.3f\n", t, bt_parallel(&conc, 3, t, n_fault / 4));
    for (t = 0; t < 2 * BT_LIVE; t++) check(vms_lease_release(&bt_owner, bt_live[t]), "release");
    check(vms_owner_destroy(&bt_owner), "owner destroy");
    check(vms_space_destroy(&conc.sp), "destroy");
    check(vms_space_destroy(&mutex.sp), "destroy");
#else
    (void)conc;
    (void)mutex;
    (void)t;
#endif
    {
        /* The plain space's translate, in both builds. */
        check(vms_space_map(&plain.sp, region(3), frame(region(3)), (uint64_t)64 << 20,
                            VMS_RW, VMS_MAP_MAX_4K),
              "map translate region");
        bt_translate(&plain, false, "st/plain/translate");
    }
    check(vms_space_destroy(&plain.sp), "destroy");
#if BT_THREADS
    urcu_memb_unregister_thread();
#endif
    return 0;
}
