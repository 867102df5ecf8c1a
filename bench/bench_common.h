/* bench_common.h - what the C benchmark bodies share with each other and with the shim.
 *
 * Every case is a family of four C functions (see bench_list.h):
 *   void *vms_bench_<family>_setup(int variant, int64_t arg, vms_bench_info_t *info);
 *   uint64_t vms_bench_<family>_step(void *state);     one timed operation, returns a value
 *   void vms_bench_<family>_reset(void *state);        untimed, only when info->manual is set
 *   void vms_bench_<family>_report(void *state, vms_bench_info_t *info);  add counters
 *   void vms_bench_<family>_teardown(void *state);
 * setup prepares everything outside the timed loop and says how many items one step does.
 * When info->manual is set the shim times each step alone and calls reset between steps
 * (outside the timed region), so a map can start from a fresh space every time without
 * PauseTiming in the loop. The shim keeps a state across the runs of one case (Google
 * Benchmark calls a case several times) and calls report after each run.
 */
#ifndef VMS_BENCH_COMMON_H
#define VMS_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMS_BENCH_MAX_COUNTERS 6

typedef struct vms_bench_info_s {
    uint64_t items;  /* items one step performs (pages, translations, lease pairs) */
    int manual;      /* 1: time each step alone and call reset between steps */
    const char *skip; /* set by setup to skip the case with this message; set by report to
                       * mark the run as failed (a consistency check after the run) */
    int ncounters;
    const char *counter_name[VMS_BENCH_MAX_COUNTERS];
    double counter_value[VMS_BENCH_MAX_COUNTERS];
} vms_bench_info_t;

/* Add a named counter (reported in the JSON with every run of the case). */
void vms_bench_counter(vms_bench_info_t *info, const char *name, double value);
/* Print a message and abort: a benchmark that computes the wrong thing must not report. */
void vms_bench_die(const char *what, int err);
/* Anonymous memory, 2 MiB aligned, touched so no page fault lands in a timed region; the
 * same huge-page advice as the library's arena gets, so baselines and library pay the same
 * TLB costs. */
void *vms_bench_alloc(size_t size);
void vms_bench_free(void *p, size_t size);

/* splitmix64: a small deterministic generator for address and key streams. */
static inline uint64_t vms_bench_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* Uniform in [0, n). */
static inline uint64_t vms_bench_below(uint64_t *s, uint64_t n) {
    return vms_bench_rand(s) % n;
}
/* Fisher-Yates shuffle of n 64-bit values. */
void vms_bench_shuffle(uint64_t *v, uint64_t n, uint64_t *seed);

/* A value the compiler cannot know: 0 at run time (for dependent chains). */
uint64_t vms_bench_runtime_zero(void);

/* The lease workloads shared by the owner and the baselines. Live leases and probes are whole
 * 4 KiB pages at base + page * 4096:
 *   reader, writer, conflict: live lease k covers slot 2*order[k] (one page; odd slots are
 *     writers, even ones readers); a reader/writer probe takes the free slot 2*key+1 between
 *     two live leases (touching both, overlapping neither); a conflict probe asks for a
 *     writer over the live slot 2*key.
 *   shared: live lease k is a reader over 64 pages from page order[k], with order[k] drawn
 *     from a window of n/8 pages, so every page is under about 512 readers; a probe takes
 *     another reader of 64 pages from page key. */
#define VMS_BENCH_LEASE_BASE ((uint64_t)0x4000000000)
#define VMS_BENCH_SHARED_PAGES 64
typedef struct vms_bench_lease_load_s {
    int op;
    uint64_t n;      /* live leases */
    uint64_t *order; /* see above, n entries */
    uint64_t *keys;  /* probe stream, mask + 1 entries */
    uint64_t mask;
    uint64_t span;   /* bytes from VMS_BENCH_LEASE_BASE that leases and probes touch */
} vms_bench_lease_load_t;
void vms_bench_lease_load_init(vms_bench_lease_load_t *l, int op, uint64_t n);
void vms_bench_lease_load_fini(vms_bench_lease_load_t *l);
static inline uint64_t vms_bench_lease_len(const vms_bench_lease_load_t *l) {
    return l->op == 3 ? (uint64_t)VMS_BENCH_SHARED_PAGES << 12 : (uint64_t)1 << 12;
}
static inline uint64_t vms_bench_live_start(const vms_bench_lease_load_t *l, uint64_t k) {
    return VMS_BENCH_LEASE_BASE + ((l->op == 3 ? l->order[k] : 2 * l->order[k]) << 12);
}
static inline int vms_bench_live_writer(const vms_bench_lease_load_t *l, uint64_t k) {
    return l->op != 3 && (l->order[k] & 1);
}
static inline uint64_t vms_bench_probe_start(const vms_bench_lease_load_t *l, uint64_t i) {
    uint64_t key = l->keys[i & l->mask];
    if (l->op == 3) return VMS_BENCH_LEASE_BASE + (key << 12);
    if (l->op == 2) return VMS_BENCH_LEASE_BASE + ((2 * key) << 12);
    return VMS_BENCH_LEASE_BASE + ((2 * key + 1) << 12);
}

/* Build settings recorded in the report (set by the build; "unknown" otherwise). */
const char *vms_bench_build_flags(void);
/* 1 when the library was compiled with VMSPACE_DEBUG set (the numbers are then meaningless). */
int vms_bench_debug_build(void);

#ifdef __cplusplus
}
#endif
#endif
