/* bench_common.c - helpers shared by the benchmark bodies. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench_config.h"

void vms_bench_counter(vms_bench_info_t *info, const char *name, double value) {
    if (info->ncounters < VMS_BENCH_MAX_COUNTERS) {
        info->counter_name[info->ncounters] = name;
        info->counter_value[info->ncounters] = value;
        info->ncounters++;
    }
}

void vms_bench_die(const char *what, int err) {
    fprintf(stderr, "vmspace bench: %s failed (%d)\n", what, err);
    abort();
}

#define VMS_BENCH_HUGE ((size_t)2 << 20)

void *vms_bench_alloc(size_t size) {
    size_t len = (size + VMS_BENCH_HUGE - 1) & ~(VMS_BENCH_HUGE - 1);
    /* Over-reserve by 2 MiB and trim, so the block is 2 MiB aligned. */
    uint8_t *raw = mmap(NULL, len + VMS_BENCH_HUGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *p;
    size_t head;
    if (raw == MAP_FAILED) vms_bench_die("mmap", 0);
    p = (uint8_t *)(((uintptr_t)raw + VMS_BENCH_HUGE - 1) & ~(uintptr_t)(VMS_BENCH_HUGE - 1));
    head = (size_t)(p - raw);
    if (head) munmap(raw, head);
    if (VMS_BENCH_HUGE - head) munmap(p + len, VMS_BENCH_HUGE - head);
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE);
#endif
    memset(p, 0, len);
    return p;
}

void vms_bench_free(void *p, size_t size) {
    size_t len = (size + VMS_BENCH_HUGE - 1) & ~(VMS_BENCH_HUGE - 1);
    if (p) munmap(p, len);
}

void vms_bench_shuffle(uint64_t *v, uint64_t n, uint64_t *seed) {
    uint64_t i;
    for (i = n; i > 1; i--) {
        uint64_t j = vms_bench_below(seed, i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

void vms_bench_lease_load_init(vms_bench_lease_load_t *l, int op, uint64_t n) {
    uint64_t seed = 0x1ea5e + n * 7 + (uint64_t)op, i, window;
    memset(l, 0, sizeof *l);
    l->op = op;
    l->n = n;
    l->mask = (1u << 16) - 1;
    l->order = malloc(n * sizeof *l->order);
    l->keys = malloc((l->mask + 1) * sizeof *l->keys);
    if (!l->order || !l->keys) vms_bench_die("malloc", 0);
    if (op == 3) {
        window = n / 8 + 1;
        for (i = 0; i < n; i++) l->order[i] = vms_bench_below(&seed, window);
        for (i = 0; i <= l->mask; i++) l->keys[i] = vms_bench_below(&seed, window);
        l->span = (window + VMS_BENCH_SHARED_PAGES) << 12;
    } else {
        for (i = 0; i < n; i++) l->order[i] = i;
        vms_bench_shuffle(l->order, n, &seed);
        for (i = 0; i <= l->mask; i++) l->keys[i] = vms_bench_below(&seed, n);
        l->span = (2 * n + 2) << 12;
    }
}

void vms_bench_lease_load_fini(vms_bench_lease_load_t *l) {
    free(l->order);
    free(l->keys);
    memset(l, 0, sizeof *l);
}

static volatile uint64_t vms_bench_zero_cell;

uint64_t vms_bench_runtime_zero(void) { return vms_bench_zero_cell; }

const char *vms_bench_build_flags(void) { return VMS_BENCH_BUILD_FLAGS; }

int vms_bench_debug_build(void) {
#ifdef VMSPACE_DEBUG /* the library tests #ifdef: any definition, even 0, turns it on */
    return 1;
#else
    return 0;
#endif
}
