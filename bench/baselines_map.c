/* baselines_map.c - the mapping baselines the library is measured against, written for the
 * benchmark (no library code is used here):
 *
 *   map_bare      the bare limit: store precomputed PTEs into an existing, already allocated
 *                 leaf-table array (512 page tables for 1 GiB of 4 KiB pages, or one page
 *                 directory for 1 GiB of 2 MiB pages).
 *   map_bare_gen  the same stores with each PTE computed in the loop (no source array).
 *   map_rootwalk  the common per-page mapper: every page walks from the root, allocating and
 *                 zeroing missing tables on the way, then stores one leaf entry. A fresh root
 *                 every step, so the tables are built from nothing as in a fresh space.
 *   map_clear     the bare limit of an unmap: clear the 4 KiB entries of the leaf tables.
 *   map_rewrite   the bare limit of a protect: clear RW in every entry (a read, a store).
 *   cow_copy      the bare limit of a copy-on-write clone: every leaf entry copied into a
 *                 second set of leaf tables without RW, A and D and with a software bit,
 *                 and the source entry rewritten the same way (the reset restores it).
 *   scan_clear    the bare limit of a dirty harvest: every entry with D set loses it and
 *                 sets its bit in a bitmap (the reset, untimed, sets D again everywhere).
 *   op1_rootwalk  the same per-page mapper installing single pages into a populated region
 *                 (every other slot mapped, tables present), one call per page, as the
 *                 library's op1 cases do; variant 4 + level is the bare inline walk and store
 *                 (no call, no checks), the floor of any single-page map.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_list.h"

#define BM_PAGE ((uint64_t)4096)
#define BM_GIB ((uint64_t)1 << 30)
#define BM_P ((uint64_t)1 << 0)
#define BM_RW ((uint64_t)1 << 1)
#define BM_US ((uint64_t)1 << 2)
#define BM_PS ((uint64_t)1 << 7)
#define BM_XD ((uint64_t)1 << 63)
#define BM_ADDR ((uint64_t)0x000ffffffffff000)
#define BM_LEAF_FLAGS (BM_P | BM_RW | BM_XD)
#define BM_TABLE_FLAGS (BM_P | BM_RW | BM_US)
/* The range every map case uses: PML4[1], PDPT[1] (as in the peer measurements), 1 GiB
 * aligned, mapped to physical addresses from 4 GiB up (never touched). */
#define BM_VA ((uint64_t)0x8040000000)
#define BM_PA ((uint64_t)1 << 32)

#if defined(__GNUC__) || defined(__clang__)
#define BM_NOINLINE __attribute__((noinline))
#else
#define BM_NOINLINE
#endif

static uint64_t bm_level_size(int level) { return (uint64_t)1 << (12 + 9 * (level - 1)); }

/* ------------------------------------------------------------------------------------------ */
/* map_bare / map_bare_gen */

typedef struct bm_bare_s {
    uint64_t *dst; /* the leaf tables (already allocated, contiguous) */
    uint64_t *src; /* precomputed entries */
    uint64_t n, salt, first, huge;
} bm_bare_t;

static void *bm_bare_setup(int level, vms_bench_info_t *info) {
    bm_bare_t *b = calloc(1, sizeof *b);
    uint64_t i;
    if (!b) vms_bench_die("calloc", 0);
    b->n = BM_GIB / bm_level_size(level);
    b->huge = level > 1 ? BM_PS : 0;
    b->first = BM_PA | BM_LEAF_FLAGS | b->huge;
    b->dst = vms_bench_alloc(b->n * 8);
    b->src = vms_bench_alloc(b->n * 8);
    for (i = 0; i < b->n; i++) b->src[i] = b->first + i * bm_level_size(level);
    b->salt = vms_bench_runtime_zero(); /* keeps the loop a store loop, not a memcpy call */
    info->items = b->n;
    return b;
}

void *vms_bench_map_bare_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    (void)arg;
    return bm_bare_setup(variant, info);
}

uint64_t vms_bench_map_bare_step(void *state) {
    bm_bare_t *b = state;
    uint64_t *restrict dst = b->dst;
    const uint64_t *restrict src = b->src;
    uint64_t i, n = b->n, salt = b->salt;
    for (i = 0; i < n; i++) dst[i] = src[i] | salt;
    return dst[n - 1];
}

void vms_bench_map_bare_reset(void *state) { (void)state; }

void vms_bench_map_bare_report(void *state, vms_bench_info_t *info) {
    bm_bare_t *b = state;
    if (b->dst[b->n - 1] != b->src[b->n - 1]) vms_bench_die("bare store check", 0);
    (void)info;
}

void vms_bench_map_bare_teardown(void *state) {
    bm_bare_t *b = state;
    vms_bench_free(b->dst, b->n * 8);
    vms_bench_free(b->src, b->n * 8);
    free(b);
}

void *vms_bench_map_bare_gen_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    (void)arg;
    return bm_bare_setup(variant, info);
}

uint64_t vms_bench_map_bare_gen_step(void *state) {
    bm_bare_t *b = state;
    uint64_t *restrict dst = b->dst;
    uint64_t i, n = b->n, e = b->first | b->salt;
    for (i = 0; i < n; i++) dst[i] = e + (i << 12);
    return dst[n - 1];
}

void vms_bench_map_bare_gen_reset(void *state) { (void)state; }

void vms_bench_map_bare_gen_report(void *state, vms_bench_info_t *info) {
    vms_bench_map_bare_report(state, info);
}

void vms_bench_map_bare_gen_teardown(void *state) { vms_bench_map_bare_teardown(state); }

void *vms_bench_map_clear_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    (void)arg;
    return bm_bare_setup(variant, info);
}

uint64_t vms_bench_map_clear_step(void *state) {
    bm_bare_t *b = state;
    uint64_t *restrict dst = b->dst;
    uint64_t i, n = b->n, z = b->salt;
    for (i = 0; i < n; i++) dst[i] = z;
    return dst[n - 1];
}

void vms_bench_map_clear_reset(void *state) { (void)state; }
void vms_bench_map_clear_report(void *state, vms_bench_info_t *info) {
    bm_bare_t *b = state;
    if (b->dst[b->n - 1] != 0) vms_bench_die("bare clear check", 0);
    (void)info;
}
void vms_bench_map_clear_teardown(void *state) { vms_bench_map_bare_teardown(state); }

void *vms_bench_map_rewrite_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bm_bare_t *b = bm_bare_setup(variant, info);
    (void)arg;
    memcpy(b->dst, b->src, b->n * 8);
    return b;
}

uint64_t vms_bench_map_rewrite_step(void *state) {
    bm_bare_t *b = state;
    uint64_t *restrict dst = b->dst;
    uint64_t i, n = b->n, flip = BM_RW | b->salt;
    for (i = 0; i < n; i++) dst[i] ^= flip;
    return dst[n - 1];
}

void vms_bench_map_rewrite_reset(void *state) { (void)state; }
void vms_bench_map_rewrite_report(void *state, vms_bench_info_t *info) {
    bm_bare_t *b = state;
    if ((b->dst[b->n - 1] & ~BM_RW) != (b->src[b->n - 1] & ~BM_RW))
        vms_bench_die("bare rewrite check", 0);
    (void)info;
}
void vms_bench_map_rewrite_teardown(void *state) { vms_bench_map_bare_teardown(state); }

#define BM_D ((uint64_t)1 << 6)
#define BM_A ((uint64_t)1 << 5)
#define BM_SW3 ((uint64_t)1 << 53)

typedef struct bm_cow_s {
    bm_bare_t b;
    uint64_t *copy;
} bm_cow_t;

void *vms_bench_cow_copy_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bm_bare_t *b = bm_bare_setup(variant, info);
    bm_cow_t *c = calloc(1, sizeof *c);
    (void)arg;
    if (!c) vms_bench_die("calloc", 0);
    c->b = *b;
    free(b);
    c->copy = vms_bench_alloc(c->b.n * 8);
    info->manual = 1;
    vms_bench_cow_copy_reset(c);
    return c;
}

uint64_t vms_bench_cow_copy_step(void *state) {
    bm_cow_t *c = state;
    uint64_t *restrict t = c->b.dst, *restrict d = c->copy;
    uint64_t i, n = c->b.n, strip = BM_RW | BM_A | BM_D | c->b.salt;
    for (i = 0; i < n; i++) {
        uint64_t e = (t[i] & ~strip) | BM_SW3;
        d[i] = e;
        t[i] = e;
    }
    return d[n - 1];
}

void vms_bench_cow_copy_reset(void *state) {
    bm_cow_t *c = state;
    memcpy(c->b.dst, c->b.src, c->b.n * 8);
    memset(c->copy, 0, c->b.n * 8);
}
void vms_bench_cow_copy_report(void *state, vms_bench_info_t *info) {
    bm_cow_t *c = state;
    (void)info;
    vms_bench_cow_copy_step(c);
    if (c->copy[c->b.n - 1] != ((c->b.src[c->b.n - 1] & ~BM_RW) | BM_SW3))
        vms_bench_die("bare copy-on-write check", 0);
}
void vms_bench_cow_copy_teardown(void *state) {
    bm_cow_t *c = state;
    vms_bench_free(c->copy, c->b.n * 8);
    vms_bench_free(c->b.dst, c->b.n * 8);
    vms_bench_free(c->b.src, c->b.n * 8);
    free(c);
}
typedef struct bm_scan_s {
    bm_bare_t b;
    uint64_t *bitmap;
} bm_scan_t;

void *vms_bench_scan_clear_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bm_bare_t *b = bm_bare_setup(variant, info);
    bm_scan_t *s = calloc(1, sizeof *s);
    (void)arg;
    if (!s) vms_bench_die("calloc", 0);
    s->b = *b;
    free(b);
    s->bitmap = calloc(s->b.n / 64 + 1, 8);
    if (!s->bitmap) vms_bench_die("calloc", 0);
    info->manual = 1;
    vms_bench_scan_clear_reset(s);
    return s;
}

uint64_t vms_bench_scan_clear_step(void *state) {
    bm_scan_t *s = state;
    uint64_t *restrict t = s->b.dst, *restrict bm = s->bitmap;
    uint64_t i, n = s->b.n, d = BM_D | s->b.salt;
    for (i = 0; i < n; i++) {
        uint64_t e = t[i];
        if (e & d) {
            t[i] = e & ~d;
            bm[i >> 6] |= (uint64_t)1 << (i & 63);
        }
    }
    return bm[0];
}

void vms_bench_scan_clear_reset(void *state) {
    bm_scan_t *s = state;
    uint64_t i;
    for (i = 0; i < s->b.n; i++) s->b.dst[i] = s->b.src[i] | BM_D;
    memset(s->bitmap, 0, (s->b.n / 64 + 1) * 8);
}
void vms_bench_scan_clear_report(void *state, vms_bench_info_t *info) {
    bm_scan_t *s = state;
    vms_bench_scan_clear_step(s);
    if (s->b.dst[s->b.n - 1] != s->b.src[s->b.n - 1] || s->bitmap[s->b.n / 64 - 1] != ~(uint64_t)0)
        vms_bench_die("bare scan-and-clear check", 0);
    (void)info;
}
void vms_bench_scan_clear_teardown(void *state) {
    bm_scan_t *s = state;
    vms_bench_free(s->b.dst, s->b.n * 8);
    vms_bench_free(s->b.src, s->b.n * 8);
    free(s->bitmap);
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* map_rootwalk */

typedef struct bm_rw_s {
    uint8_t *mem;     /* table frames; "physical" address = offset in mem (root at 0) */
    uint64_t nframes; /* capacity */
    uint64_t used;    /* frames handed out */
    int leaf_level;
    uint64_t reps;    /* 1 GiB ranges per step */
    uint64_t tables_after;
} bm_rw_t;

/* Map one page at va: walk from the root (4 levels), allocate and zero missing tables. */
static BM_NOINLINE int bm_rw_map_page(bm_rw_t *w, uint64_t va, uint64_t pa, int leaf_level) {
    uint64_t *t = (uint64_t *)w->mem;
    int level;
    unsigned idx;
    for (level = 4; level > leaf_level; level--) {
        uint64_t e;
        idx = (unsigned)(va >> (12 + 9 * (level - 1))) & 511u;
        e = t[idx];
        if (!(e & BM_P)) {
            uint64_t off;
            if (w->used == w->nframes) return -1;
            off = w->used++ * BM_PAGE;
            memset(w->mem + off, 0, BM_PAGE);
            e = off | BM_TABLE_FLAGS;
            t[idx] = e;
        } else if (e & BM_PS) {
            return -2;
        }
        t = (uint64_t *)(w->mem + (e & BM_ADDR));
    }
    idx = (unsigned)(va >> (12 + 9 * (leaf_level - 1))) & 511u;
    if (t[idx] & BM_P) return -3;
    t[idx] = pa | BM_LEAF_FLAGS | (leaf_level > 1 ? BM_PS : 0);
    return 0;
}

/* The same walk without allocation, for the untimed check. */
static uint64_t bm_rw_lookup(const bm_rw_t *w, uint64_t va) {
    const uint64_t *t = (const uint64_t *)w->mem;
    int level;
    for (level = 4; level >= 1; level--) {
        uint64_t e = t[(va >> (12 + 9 * (level - 1))) & 511u];
        if (!(e & BM_P)) return 1;
        if (level == 1 || (level <= 3 && (e & BM_PS))) {
            uint64_t mask = bm_level_size(level) - 1;
            return (e & BM_ADDR & ~mask) | (va & mask);
        }
        t = (const uint64_t *)(w->mem + (e & BM_ADDR));
    }
    return 1;
}

/* Map every range from a fresh root (the step; also run once, untimed, by setup). */
static uint64_t bm_rw_run(bm_rw_t *w) {
    uint64_t size = bm_level_size(w->leaf_level), r, off;
    /* 1 GiB pages: 64 ranges in one PDPT; smaller pages: consecutive 1 GiB ranges. */
    uint64_t base = w->leaf_level == 3 ? BM_VA & ~(512 * BM_GIB - 1) : BM_VA;
    int leaf = w->leaf_level;
    w->used = 1;
    memset(w->mem, 0, BM_PAGE); /* a fresh root */
    for (r = 0; r < w->reps; r++) {
        uint64_t va = base + r * BM_GIB, pa = BM_PA + r * BM_GIB;
        for (off = 0; off < BM_GIB; off += size) {
            int err = bm_rw_map_page(w, va + off, pa + off, leaf);
            if (err) vms_bench_die("rootwalk map", err);
        }
    }
    return w->used;
}

void *vms_bench_map_rootwalk_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bm_rw_t *w = calloc(1, sizeof *w);
    (void)arg;
    if (!w) vms_bench_die("calloc", 0);
    w->leaf_level = variant;
    w->reps = variant == 3 ? 64 : variant == 2 ? 8 : 1;
    w->nframes = 600;
    w->mem = vms_bench_alloc(w->nframes * BM_PAGE);
    info->items = w->reps * (BM_GIB / bm_level_size(variant));
    /* One untimed run, checked page by page at the first and last address of each page. */
    bm_rw_run(w);
    {
        uint64_t size = bm_level_size(variant), total = w->reps * BM_GIB, off;
        uint64_t base = variant == 3 ? BM_VA & ~(512 * BM_GIB - 1) : BM_VA;
        for (off = 0; off < total; off += size) {
            if (bm_rw_lookup(w, base + off) != BM_PA + off ||
                bm_rw_lookup(w, base + off + size - 8) != BM_PA + off + size - 8)
                vms_bench_die("rootwalk mapper check", (int)(off / size));
        }
    }
    w->tables_after = w->used;
    return w;
}

uint64_t vms_bench_map_rootwalk_step(void *state) { return bm_rw_run(state); }

void vms_bench_map_rootwalk_reset(void *state) { (void)state; }

void vms_bench_map_rootwalk_report(void *state, vms_bench_info_t *info) {
    bm_rw_t *w = state;
    vms_bench_counter(info, "table_pages", (double)w->tables_after);
}

void vms_bench_map_rootwalk_teardown(void *state) {
    bm_rw_t *w = state;
    vms_bench_free(w->mem, w->nframes * BM_PAGE);
    free(w);
}

/* ------------------------------------------------------------------------------------------ */
/* op1_rootwalk */

#define BM_OP1_HOLES 256

typedef struct bm_op1_s {
    bm_rw_t w;
    int level, bare;
    uint64_t size, base;
} bm_op1_t;

static uint64_t bm_op1_va(const bm_op1_t *o, uint64_t k) { return o->base + k * o->size; }
static uint64_t bm_op1_pa(const bm_op1_t *o, uint64_t k) { return BM_PA + k * o->size; }

/* The entry of va at level (the tables exist). */
static uint64_t *bm_op1_slot(bm_op1_t *o, uint64_t va) {
    uint64_t *t = (uint64_t *)o->w.mem;
    int level;
    for (level = 4; level > o->level; level--)
        t = (uint64_t *)(o->w.mem + (t[(va >> (12 + 9 * (level - 1))) & 511u] & BM_ADDR));
    return &t[(va >> (12 + 9 * (o->level - 1))) & 511u];
}

void *vms_bench_op1_rootwalk_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bm_op1_t *o = calloc(1, sizeof *o);
    uint64_t k;
    (void)arg;
    if (!o) vms_bench_die("calloc", 0);
    o->level = variant % 4;
    o->bare = variant >= 4;
    o->size = bm_level_size(o->level);
    o->base = o->level == 3 ? BM_VA & ~(512 * BM_GIB - 1) : BM_VA;
    o->w.nframes = 16;
    o->w.mem = vms_bench_alloc(o->w.nframes * BM_PAGE);
    o->w.used = 1;
    for (k = 0; k < 2 * BM_OP1_HOLES; k += 2)
        if (bm_rw_map_page(&o->w, bm_op1_va(o, k), bm_op1_pa(o, k), o->level))
            vms_bench_die("op1 rootwalk setup", (int)k);
    info->items = BM_OP1_HOLES;
    info->manual = 1;
    return o;
}

uint64_t vms_bench_op1_rootwalk_step(void *state) {
    bm_op1_t *o = state;
    uint64_t k;
    if (o->bare) {
        /* The walk and the store inline: no call, no presence or size checks. */
        const uint64_t flags = BM_LEAF_FLAGS | (o->level > 1 ? BM_PS : 0);
        uint8_t *mem = o->w.mem;
        int leaf = o->level;
        for (k = 1; k < 2 * BM_OP1_HOLES; k += 2) {
            uint64_t va = bm_op1_va(o, k), *t = (uint64_t *)mem;
            int level;
            for (level = 4; level > leaf; level--)
                t = (uint64_t *)(mem + (t[(va >> (12 + 9 * (level - 1))) & 511u] & BM_ADDR));
            t[(va >> (12 + 9 * (leaf - 1))) & 511u] = bm_op1_pa(o, k) | flags;
        }
    } else {
        for (k = 1; k < 2 * BM_OP1_HOLES; k += 2)
            if (bm_rw_map_page(&o->w, bm_op1_va(o, k), bm_op1_pa(o, k), o->level))
                vms_bench_die("op1 rootwalk", (int)k);
    }
    return o->w.used;
}

void vms_bench_op1_rootwalk_reset(void *state) {
    bm_op1_t *o = state;
    uint64_t k;
    for (k = 1; k < 2 * BM_OP1_HOLES; k += 2) *bm_op1_slot(o, bm_op1_va(o, k)) = 0;
}

void vms_bench_op1_rootwalk_report(void *state, vms_bench_info_t *info) {
    bm_op1_t *o = state;
    uint64_t k;
    vms_bench_op1_rootwalk_step(o);
    for (k = 0; k < 2 * BM_OP1_HOLES; k++)
        if (bm_rw_lookup(&o->w, bm_op1_va(o, k) + 8) != bm_op1_pa(o, k) + 8)
            vms_bench_die("op1 rootwalk check", (int)k);
    vms_bench_op1_rootwalk_reset(o);
    vms_bench_counter(info, "table_pages", (double)o->w.used);
}

void vms_bench_op1_rootwalk_teardown(void *state) {
    bm_op1_t *o = state;
    vms_bench_free(o->w.mem, o->w.nframes * BM_PAGE);
    free(o);
}
