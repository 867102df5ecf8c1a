/* bench_cases.c - the benchmark bodies that exercise the library (plain C; see R23).
 *
 * Map cases build a 1 GiB range at 0x8040000000 (PML4[1], PDPT[1], 1 GiB aligned) to physical
 * addresses from 4 GiB up (never touched). 2 MiB cases map 8 such ranges per step and 1 GiB
 * cases 64, so one step is long enough to time alone. A map step starts from a space that
 * holds only its root: the reset between steps (untimed, manual timing) unmaps the range,
 * which frees every table the map built.
 *
 * Single-operation cases (op1/...) time one call per page into a populated region: every
 * other page (or 2 MiB, or 1 GiB entry) of the region is mapped, so the tables exist, and a
 * step maps, or unmaps, the 256 holes between them one call each.
 *
 * Translate cases read pre-generated address streams; one step is 4096 translations. In a
 * dependent chain each address is XORed with (previous result AND a run-time zero), so each
 * walk waits for the one before (the peer measurements' "dependent mode").
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_list.h"

#if VMS_BENCH_HAVE_IMPL

/* Only the headers: the implementation is bench_impl.c, its own translation unit built with
 * the same flags, as a user builds it (compiled in here, constants would fold across the
 * call and flatter the library). */
#include "vmspace.h"
#if VMS_BENCH_HAVE_OWNER
#include "vmspace_owner.h"
#endif

#define BC_VA ((uint64_t)0x8040000000)
#define BC_PA ((uint64_t)1 << 32)
#define BC_GIB ((uint64_t)1 << 30)

static void bc_check(int err, const char *what) {
    if (err != VMS_OK) {
        fprintf(stderr, "vmspace bench: %s: %s\n", what, vms_strerror(err));
        vms_bench_die(what, err);
    }
}

/* Fewest table pages (root included) a 4-level space needs to map [va, va + len) with leaves
 * at leaf_level: one table per distinct span at every level above the leaves. */
static uint64_t bc_min_tables(uint64_t va, uint64_t len, int leaf_level, int levels) {
    uint64_t n = 1;
    int t;
    for (t = leaf_level; t < levels; t++) {
        unsigned shift = VMS_LEVEL_SHIFT(t + 1);
        n += ((va + len - 1) >> shift) - (va >> shift) + 1;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* map / unmap / protect */

enum { BC_MAP_CURSOR, BC_MAP_SPACE, BC_MAP_SINGLE, BC_UNMAP, BC_PROTECT, BC_PROTECT_MASK };

typedef struct bc_map_s {
    vms_space_t sp;
    int op, level;
    uint64_t size, base, reps;
    uint32_t flags;
    int flip;
    uint64_t tables_mapped, tables_empty, min_tables;
} bc_map_t;

static uint64_t bc_va(const bc_map_t *m, uint64_t r) { return m->base + r * BC_GIB; }
static uint64_t bc_pa(uint64_t r) { return BC_PA + r * BC_GIB; }

static void bc_map_all(bc_map_t *m, int op) {
    uint64_t r, off;
    for (r = 0; r < m->reps; r++) {
        uint64_t va = bc_va(m, r), pa = bc_pa(r);
        vms_cursor_t c;
        switch (op) {
        case BC_MAP_SPACE:
            bc_check(vms_space_map(&m->sp, va, pa, BC_GIB, VMS_RW, m->flags), "vms_space_map");
            break;
        case BC_MAP_SINGLE:
            bc_check(vms_cursor_open(&c, &m->sp, va, BC_GIB), "vms_cursor_open");
            for (off = 0; off < BC_GIB; off += m->size)
                bc_check(vms_cursor_map(&c, pa + off, m->size, VMS_RW, 0), "vms_cursor_map");
            vms_cursor_close(&c);
            break;
        default:
            bc_check(vms_cursor_open(&c, &m->sp, va, BC_GIB), "vms_cursor_open");
            bc_check(vms_cursor_map_range(&c, pa, BC_GIB, VMS_RW, m->flags),
                     "vms_cursor_map_range");
            vms_cursor_close(&c);
            break;
        }
    }
}

static void bc_unmap_all(bc_map_t *m) {
    uint64_t r;
    for (r = 0; r < m->reps; r++)
        bc_check(vms_space_unmap(&m->sp, bc_va(m, r), BC_GIB), "vms_space_unmap");
}

/* Untimed: every page of the map translates to the right frame. */
static void bc_map_verify(bc_map_t *m) {
    uint64_t r, off, pa;
    for (r = 0; r < m->reps; r++) {
        for (off = 0; off < BC_GIB; off += m->size) {
            uint64_t va = bc_va(m, r) + off + m->size - 8;
            if (!vms_translate(&m->sp, va, &pa) || pa != bc_pa(r) + off + m->size - 8)
                vms_bench_die("map check", (int)(off / m->size));
        }
    }
}

static void *bc_map_setup(int op, int level, vms_bench_info_t *info) {
    bc_map_t *m = calloc(1, sizeof *m);
    vms_space_desc_t d;
    vms_stats_t st;
    if (!m) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 64u << 20;
    bc_check(vms_space_init(&m->sp, &d), "vms_space_init");
    m->op = op;
    m->level = level;
    m->size = VMS_LEVEL_SIZE(level);
    m->reps = level == 3 ? 64 : level == 2 ? 8 : 1;
    m->base = level == 3 ? BC_VA & ~(VMS_LEVEL_SIZE(4) - 1) : BC_VA;
    m->flags = level == 1 ? VMS_MAP_MAX_4K : level == 2 ? VMS_MAP_MAX_2M : 0;
    m->min_tables = bc_min_tables(m->base, m->reps * BC_GIB, level, 4);
    info->items = m->reps * (BC_GIB / m->size);
    info->manual = op != BC_PROTECT && op != BC_PROTECT_MASK;
    /* One untimed round trip touches the arena and checks the result. */
    bc_map_all(m, op == BC_MAP_SINGLE || op == BC_MAP_SPACE ? op : BC_MAP_CURSOR);
    bc_map_verify(m);
    vms_space_stats(&m->sp, &st);
    m->tables_mapped = st.table_pages;
    if (st.mapped_bytes[level - 1] != m->reps * BC_GIB) vms_bench_die("mapped_bytes", 0);
    bc_unmap_all(m);
    vms_space_stats(&m->sp, &st);
    m->tables_empty = st.table_pages;
    /* Map and unmap steps start from a fresh space or a full one respectively. */
    if (op == BC_UNMAP || op == BC_PROTECT || op == BC_PROTECT_MASK)
        bc_map_all(m, BC_MAP_CURSOR);
    return m;
}

uint64_t vms_bench_map_cursor_step(void *state) {
    bc_map_t *m = state;
    bc_map_all(m, BC_MAP_CURSOR);
    return m->sp.counts.table_pages;
}
uint64_t vms_bench_map_space_step(void *state) {
    bc_map_t *m = state;
    bc_map_all(m, BC_MAP_SPACE);
    return m->sp.counts.table_pages;
}
uint64_t vms_bench_map_single_step(void *state) {
    bc_map_t *m = state;
    bc_map_all(m, BC_MAP_SINGLE);
    return m->sp.counts.table_pages;
}
uint64_t vms_bench_unmap_space_step(void *state) {
    bc_map_t *m = state;
    bc_unmap_all(m);
    return m->sp.counts.table_pages;
}
uint64_t vms_bench_protect_space_step(void *state) {
    bc_map_t *m = state;
    uint64_t r;
    vms_prop_t p = (m->flip ^= 1) ? VMS_R : VMS_RW;
    for (r = 0; r < m->reps; r++)
        bc_check(vms_space_protect(&m->sp, bc_va(m, r), BC_GIB, p), "vms_space_protect");
    return m->sp.generation;
}
/* Relative protect: -W, then +W, keeping the rest of every mapping. */
uint64_t vms_bench_protect_mask_step(void *state) {
    bc_map_t *m = state;
    uint64_t r;
    int clear = (m->flip ^= 1);
    for (r = 0; r < m->reps; r++)
        bc_check(vms_space_protect_mask(&m->sp, bc_va(m, r), BC_GIB, clear ? 0 : VMS_W,
                                        clear ? VMS_W : 0),
                 "vms_space_protect_mask");
    return m->sp.generation;
}

static void bc_map_reset(void *state) {
    bc_map_t *m = state;
    if (m->op == BC_UNMAP) bc_map_all(m, BC_MAP_CURSOR);
    else bc_unmap_all(m);
}

static void bc_map_report(void *state, vms_bench_info_t *info) {
    bc_map_t *m = state;
    vms_bench_counter(info, "table_pages", (double)m->tables_mapped);
    vms_bench_counter(info, "table_pages_min", (double)m->min_tables);
    vms_bench_counter(info, "table_pages_after_unmap", (double)m->tables_empty);
}

static void bc_map_teardown(void *state) {
    bc_map_t *m = state;
    vms_space_destroy(&m->sp);
    free(m);
}

#define BC_MAP_FAMILY(family, op)                                                       \
    void *vms_bench_##family##_setup(int variant, int64_t arg, vms_bench_info_t *info) { \
        (void)arg;                                                                      \
        return bc_map_setup(op, variant, info);                                         \
    }                                                                                   \
    void vms_bench_##family##_reset(void *state) { bc_map_reset(state); }               \
    void vms_bench_##family##_report(void *state, vms_bench_info_t *info) {             \
        bc_map_report(state, info);                                                     \
    }                                                                                   \
    void vms_bench_##family##_teardown(void *state) { bc_map_teardown(state); }
BC_MAP_FAMILY(map_cursor, BC_MAP_CURSOR)
BC_MAP_FAMILY(map_space, BC_MAP_SPACE)
BC_MAP_FAMILY(map_single, BC_MAP_SINGLE)
BC_MAP_FAMILY(unmap_space, BC_UNMAP)
BC_MAP_FAMILY(protect_space, BC_PROTECT)
BC_MAP_FAMILY(protect_mask, BC_PROTECT_MASK)

/* ------------------------------------------------------------------------------------------ */
/* harvest: 1 GiB of 4 KiB pages, all dirty (the reset, untimed, sets D in every leaf as a
 * CPU would, through the leaf tables found once at setup); a step reports them into a
 * bitmap and clears them. The cursor_next case is what a caller without harvest writes: a
 * walk of vms_cursor_next that tests D and sets the bit, without even clearing it. */

typedef struct bc_harvest_s {
    vms_space_t sp;
    uint64_t *tables[512]; /* the leaf tables of the range */
    uint64_t *bitmap;
    int via_next;
} bc_harvest_t;

static void bc_harvest_reset(void *state) {
    bc_harvest_t *h = state;
    unsigned t, i;
    for (t = 0; t < 512; t++)
        for (i = 0; i < 512; i++) h->tables[t][i] |= VMS_DIRTY; /* D is bit 6 in both */
    memset(h->bitmap, 0, BC_GIB / VMS_PAGE_4K / 8);
}

static void *bc_harvest_setup(int via_next, vms_bench_info_t *info) {
    bc_harvest_t *h = calloc(1, sizeof *h);
    vms_space_desc_t d;
    unsigned t;
    if (!h) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 64u << 20;
    bc_check(vms_space_init(&h->sp, &d), "vms_space_init");
    bc_check(vms_space_map(&h->sp, BC_VA, BC_PA, BC_GIB, VMS_RW, VMS_MAP_MAX_4K), "map");
    for (t = 0; t < 512; t++) {
        uint64_t va = BC_VA + (uint64_t)t * VMS_PAGE_2M;
        uint64_t *tb = vms_space_table(&h->sp, h->sp.root_pa);
        int l;
        for (l = 4; l > 1; l--)
            tb = vms_space_table(&h->sp, vms_pte_table_pa(tb[vms_addr_index(va, l)]));
        h->tables[t] = tb;
    }
    h->bitmap = calloc(BC_GIB / VMS_PAGE_4K / 8, 1);
    if (!h->bitmap) vms_bench_die("calloc", 0);
    h->via_next = via_next;
    info->items = BC_GIB / VMS_PAGE_4K;
    info->manual = 1;
    bc_harvest_reset(h);
    return h;
}

static uint64_t bc_harvest_step(void *state) {
    bc_harvest_t *h = state;
    if (h->via_next) {
        vms_cursor_t c;
        vms_mapping_t m;
        bc_check(vms_cursor_open(&c, &h->sp, BC_VA, BC_GIB), "vms_cursor_open");
        while (vms_cursor_next(&c, &m))
            if (m.prop & VMS_DIRTY) {
                uint64_t i = (m.va - BC_VA) >> 12;
                h->bitmap[i >> 6] |= (uint64_t)1 << (i & 63);
            }
        vms_cursor_close(&c);
    } else {
        vms_harvest_t hv;
        memset(&hv, 0, sizeof hv);
        hv.bits = VMS_DIRTY;
        hv.flags = VMS_HARVEST_CLEAR;
        hv.bitmap = h->bitmap;
        bc_check(vms_space_harvest(&h->sp, BC_VA, BC_GIB, &hv), "vms_space_harvest");
    }
    return h->bitmap[0];
}

static void bc_harvest_report(void *state, vms_bench_info_t *info) {
    bc_harvest_t *h = state;
    uint64_t i, n = BC_GIB / VMS_PAGE_4K / 64;
    (void)info;
    bc_harvest_reset(h);
    bc_harvest_step(h);
    for (i = 0; i < n; i++)
        if (h->bitmap[i] != ~(uint64_t)0) vms_bench_die("harvest bitmap check", (int)i);
    if (!h->via_next && (h->tables[511][511] & VMS_DIRTY)) vms_bench_die("harvest clear check", 0);
}

static void bc_harvest_teardown(void *state) {
    bc_harvest_t *h = state;
    vms_space_destroy(&h->sp);
    free(h->bitmap);
    free(h);
}

#define BC_HARVEST_FAMILY(family, via_next)                                             \
    void *vms_bench_##family##_setup(int variant, int64_t arg, vms_bench_info_t *info) { \
        (void)variant;                                                                  \
        (void)arg;                                                                      \
        return bc_harvest_setup(via_next, info);                                        \
    }                                                                                   \
    uint64_t vms_bench_##family##_step(void *state) { return bc_harvest_step(state); }  \
    void vms_bench_##family##_reset(void *state) { bc_harvest_reset(state); }           \
    void vms_bench_##family##_report(void *state, vms_bench_info_t *info) {             \
        bc_harvest_report(state, info);                                                 \
    }                                                                                   \
    void vms_bench_##family##_teardown(void *state) { bc_harvest_teardown(state); }
BC_HARVEST_FAMILY(harvest_space, 0)
BC_HARVEST_FAMILY(harvest_next, 1)

/* ------------------------------------------------------------------------------------------ */
/* clone: fork 1 GiB of writable 4 KiB pages with copy-on-write into an empty space; the
 * reset (untimed) unmaps the copy and gives the source its W back. */

typedef struct bc_clone_s {
    vms_space_t src, dst;
} bc_clone_t;

void *vms_bench_clone_cow_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bc_clone_t *c = calloc(1, sizeof *c);
    vms_space_desc_t d;
    (void)variant;
    (void)arg;
    if (!c) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 64u << 20;
    bc_check(vms_space_init(&c->src, &d), "vms_space_init");
    bc_check(vms_space_init(&c->dst, &d), "vms_space_init");
    bc_check(vms_space_map(&c->src, BC_VA, BC_PA, BC_GIB, VMS_RW, VMS_MAP_MAX_4K), "map");
    info->items = BC_GIB / VMS_PAGE_4K;
    info->manual = 1;
    return c;
}

uint64_t vms_bench_clone_cow_step(void *state) {
    bc_clone_t *c = state;
    bc_check(vms_space_clone(&c->dst, &c->src, BC_VA, BC_GIB, VMS_CLONE_COW, NULL, NULL),
             "vms_space_clone");
    return c->dst.counts.table_pages;
}

void vms_bench_clone_cow_reset(void *state) {
    bc_clone_t *c = state;
    bc_check(vms_space_unmap(&c->dst, BC_VA, BC_GIB), "vms_space_unmap");
    bc_check(vms_space_protect_mask(&c->src, BC_VA, BC_GIB, VMS_W, VMS_COW), "protect_mask");
}

void vms_bench_clone_cow_report(void *state, vms_bench_info_t *info) {
    bc_clone_t *c = state;
    vms_mapping_t m;
    (void)info;
    vms_bench_clone_cow_step(c);
    bc_check(vms_space_query(&c->dst, BC_VA + BC_GIB - VMS_PAGE_4K, &m), "query");
    if (m.pa != BC_PA + BC_GIB - VMS_PAGE_4K || m.prop != (VMS_R | VMS_COW))
        vms_bench_die("clone check", 0);
    vms_bench_clone_cow_reset(c);
}

void vms_bench_clone_cow_teardown(void *state) {
    bc_clone_t *c = state;
    vms_space_destroy(&c->src);
    vms_space_destroy(&c->dst);
    free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* move: 1 GiB of 4 KiB pages goes back and forth between two places, each step one way.
 * BC_MOVE_RELINK 4 GiB apart (its one table relinks), BC_MOVE_ENTRIES 4 GiB + 4 KiB apart
 * (every entry moves), BC_MOVE_UNMAP_MAP the same distance by unmap then map (the baseline
 * of the second). */

enum { BC_MOVE_RELINK, BC_MOVE_ENTRIES, BC_MOVE_UNMAP_MAP };

typedef struct bc_move_s {
    vms_space_t sp;
    int how;
    uint64_t at, other;
} bc_move_t;

void *vms_bench_move_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bc_move_t *m = calloc(1, sizeof *m);
    vms_space_desc_t d;
    (void)arg;
    if (!m) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 16u << 20;
    bc_check(vms_space_init(&m->sp, &d), "vms_space_init");
    m->how = variant;
    m->at = BC_VA;
    m->other = BC_VA + 4 * BC_GIB + (variant == BC_MOVE_RELINK ? 0 : VMS_PAGE_4K);
    bc_check(vms_space_map(&m->sp, BC_VA, BC_PA, BC_GIB, VMS_RW, VMS_MAP_MAX_4K), "map");
    info->items = variant == BC_MOVE_RELINK ? 1 : BC_GIB / VMS_PAGE_4K;
    return m;
}

uint64_t vms_bench_move_step(void *state) {
    bc_move_t *m = state;
    uint64_t to = m->other;
    if (m->how == BC_MOVE_UNMAP_MAP) {
        bc_check(vms_space_unmap(&m->sp, m->at, BC_GIB), "vms_space_unmap");
        bc_check(vms_space_map(&m->sp, to, BC_PA, BC_GIB, VMS_RW, VMS_MAP_MAX_4K), "map");
    } else {
        bc_check(vms_space_move(&m->sp, m->at, to, BC_GIB), "vms_space_move");
    }
    m->other = m->at;
    m->at = to;
    return m->sp.counts.table_pages;
}

void vms_bench_move_reset(void *state) { (void)state; }

void vms_bench_move_report(void *state, vms_bench_info_t *info) {
    bc_move_t *m = state;
    vms_mapping_t q;
    (void)info;
    vms_bench_move_step(m);
    bc_check(vms_space_query(&m->sp, m->at + BC_GIB - VMS_PAGE_4K, &q), "query");
    if (q.pa != BC_PA + BC_GIB - VMS_PAGE_4K || q.size != VMS_PAGE_4K ||
        vms_space_query(&m->sp, m->other, &q) != VMS_ERR_NOENT)
        vms_bench_die("move check", 0);
}

void vms_bench_move_teardown(void *state) {
    bc_move_t *m = state;
    vms_space_destroy(&m->sp);
    free(m);
}

/* collapse: one 2 MiB block of 512 alike 4 KiB pages becomes a 2 MiB page; the reset
 * (untimed) maps it back as 4 KiB pages. */

typedef struct bc_collapse_s {
    vms_space_t sp;
} bc_collapse_t;

void vms_bench_collapse_reset(void *state) {
    bc_collapse_t *c = state;
    bc_check(vms_space_map(&c->sp, BC_VA, BC_PA, VMS_PAGE_2M, VMS_RW,
                           VMS_MAP_MAX_4K | VMS_MAP_REPLACE), "map");
}

void *vms_bench_collapse_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bc_collapse_t *c = calloc(1, sizeof *c);
    vms_space_desc_t d;
    (void)variant;
    (void)arg;
    if (!c) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 1u << 20;
    bc_check(vms_space_init(&c->sp, &d), "vms_space_init");
    vms_bench_collapse_reset(c);
    info->items = 1;
    info->manual = 1;
    return c;
}

uint64_t vms_bench_collapse_step(void *state) {
    bc_collapse_t *c = state;
    uint64_t done = 0;
    bc_check(vms_space_collapse(&c->sp, BC_VA, VMS_PAGE_2M, 0, &done), "vms_space_collapse");
    return done;
}

void vms_bench_collapse_report(void *state, vms_bench_info_t *info) {
    bc_collapse_t *c = state;
    vms_mapping_t q;
    (void)info;
    if (vms_bench_collapse_step(c) != VMS_PAGE_2M) vms_bench_die("collapse check", 0);
    bc_check(vms_space_query(&c->sp, BC_VA + VMS_PAGE_4K, &q), "query");
    if (q.size != VMS_PAGE_2M || q.pa != BC_PA) vms_bench_die("collapse check", 1);
    vms_bench_collapse_reset(c);
}

void vms_bench_collapse_teardown(void *state) {
    bc_collapse_t *c = state;
    vms_space_destroy(&c->sp);
    free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* op1: one call per page into a populated region */

#define BC_OP1_HOLES 256

enum { BC_OP1_ONESHOT, BC_OP1_SPACE_MAP, BC_OP1_SPACE_UNMAP };

typedef struct bc_op1_s {
    vms_space_t sp;
    int op, level;
    uint64_t size, base;
} bc_op1_t;

/* Slot k of the region: even slots stay mapped, odd ones are the holes. */
static uint64_t bc_op1_va(const bc_op1_t *o, uint64_t k) { return o->base + k * o->size; }
static uint64_t bc_op1_pa(const bc_op1_t *o, uint64_t k) { return BC_PA + k * o->size; }

static void bc_op1_map_holes(bc_op1_t *o) {
    uint64_t k;
    for (k = 1; k < 2 * BC_OP1_HOLES; k += 2)
        bc_check(vms_space_map(&o->sp, bc_op1_va(o, k), bc_op1_pa(o, k), o->size, VMS_RW, 0),
                 "vms_space_map");
}

static void bc_op1_unmap_holes(bc_op1_t *o) {
    uint64_t k;
    for (k = 1; k < 2 * BC_OP1_HOLES; k += 2)
        bc_check(vms_space_unmap(&o->sp, bc_op1_va(o, k), o->size), "vms_space_unmap");
}

void *vms_bench_op1_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bc_op1_t *o = calloc(1, sizeof *o);
    vms_space_desc_t d;
    uint64_t k, pa;
    (void)arg;
    if (!o) vms_bench_die("calloc", 0);
    memset(&d, 0, sizeof d);
    d.arena.size = 64u << 20;
    bc_check(vms_space_init(&o->sp, &d), "vms_space_init");
    o->op = variant / 4;
    o->level = variant % 4;
    o->size = VMS_LEVEL_SIZE(o->level);
    o->base = o->level == 3 ? BC_VA & ~(VMS_LEVEL_SIZE(4) - 1) : BC_VA;
    for (k = 0; k < 2 * BC_OP1_HOLES; k += 2)
        bc_check(vms_space_map(&o->sp, bc_op1_va(o, k), bc_op1_pa(o, k), o->size, VMS_RW, 0),
                 "vms_space_map");
    /* One untimed round trip, checked. */
    bc_op1_map_holes(o);
    for (k = 0; k < 2 * BC_OP1_HOLES; k++)
        if (!vms_translate(&o->sp, bc_op1_va(o, k) + 8, &pa) || pa != bc_op1_pa(o, k) + 8)
            vms_bench_die("op1 check", (int)k);
    if (o->op != BC_OP1_SPACE_UNMAP) bc_op1_unmap_holes(o);
    info->items = BC_OP1_HOLES;
    info->manual = 1;
    return o;
}

uint64_t vms_bench_op1_step(void *state) {
    bc_op1_t *o = state;
    uint64_t k;
    vms_cursor_t c;
    switch (o->op) {
    case BC_OP1_ONESHOT:
        for (k = 1; k < 2 * BC_OP1_HOLES; k += 2) {
            bc_check(vms_cursor_open(&c, &o->sp, bc_op1_va(o, k), o->size), "vms_cursor_open");
            bc_check(vms_cursor_map(&c, bc_op1_pa(o, k), o->size, VMS_RW, 0), "vms_cursor_map");
            vms_cursor_close(&c);
        }
        break;
    case BC_OP1_SPACE_MAP: bc_op1_map_holes(o); break;
    default: bc_op1_unmap_holes(o); break;
    }
    return o->sp.counts.table_pages;
}

void vms_bench_op1_reset(void *state) {
    bc_op1_t *o = state;
    if (o->op == BC_OP1_SPACE_UNMAP) bc_op1_map_holes(o);
    else bc_op1_unmap_holes(o);
}

void vms_bench_op1_report(void *state, vms_bench_info_t *info) {
    bc_op1_t *o = state;
    vms_bench_counter(info, "table_pages", (double)o->sp.counts.table_pages);
}

void vms_bench_op1_teardown(void *state) {
    bc_op1_t *o = state;
    vms_space_destroy(&o->sp);
    free(o);
}

/* ------------------------------------------------------------------------------------------ */
/* translate */

#define BC_TR_BATCH 4096
#define BC_SPARSE_VA ((uint64_t)0x100000000000)
#define BC_HOT_PAGES 32

/* The two address spaces, built once and shared by every translate case. */
static vms_space_t bc_dense, bc_sparse;
static int bc_dense_ready, bc_sparse_ready;
static uint64_t bc_sparse_tables;

static vms_space_t *bc_dense_space(void) {
    if (!bc_dense_ready) {
        vms_cursor_t c;
        bc_check(vms_space_init(&bc_dense, NULL), "vms_space_init");
        bc_check(vms_cursor_open(&c, &bc_dense, BC_VA, BC_GIB), "vms_cursor_open");
        bc_check(vms_cursor_map_range(&c, BC_PA, BC_GIB, VMS_RW, VMS_MAP_MAX_4K), "map dense");
        vms_cursor_close(&c);
        bc_dense_ready = 1;
    }
    return &bc_dense;
}

/* 64 GiB, one 4 KiB page in every 2 MiB: 32,768 pages in 32,834 tables (128 MiB). */
static vms_space_t *bc_sparse_space(void) {
    if (!bc_sparse_ready) {
        vms_space_desc_t d;
        vms_stats_t st;
        uint64_t i;
        memset(&d, 0, sizeof d);
        d.arena.size = 256u << 20;
        bc_check(vms_space_init(&bc_sparse, &d), "vms_space_init");
        for (i = 0; i < 32768; i++)
            bc_check(vms_space_map(&bc_sparse, BC_SPARSE_VA + (i << 21), BC_PA + (i << 12),
                                   4096, VMS_RW, 0),
                     "map sparse");
        vms_space_stats(&bc_sparse, &st);
        bc_sparse_tables = st.table_pages;
        bc_sparse_ready = 1;
    }
    return &bc_sparse;
}

typedef struct bc_tr_s {
    const vms_space_t *sp;
    uint64_t *addr, mask, pos, zmask, expect_sum;
    int set, dep, swtlb;
#if VMS_BENCH_HAVE_SWTLB
    vms_swtlb_t tlb;
#endif
} bc_tr_t;

static void *bc_tr_setup(int variant, vms_bench_info_t *info) {
    bc_tr_t *t = calloc(1, sizeof *t);
    uint64_t seed = 0x7a11 + (uint64_t)variant, n, i, pa, hot0;
    if (!t) vms_bench_die("calloc", 0);
    t->set = variant / 2;
    t->dep = variant & 1;
    t->sp = t->set == VMS_BENCH_TR_SPARSE ? bc_sparse_space() : bc_dense_space();
    n = t->set == VMS_BENCH_TR_HOT ? (1u << 14) : (1u << 20);
    t->mask = n - 1;
    t->addr = vms_bench_alloc(n * 8);
    hot0 = BC_VA + (vms_bench_below(&seed, 262144 - BC_HOT_PAGES) << 12);
    for (i = 0; i < n; i++) {
        uint64_t off = vms_bench_below(&seed, 4096);
        switch (t->set) {
        case VMS_BENCH_TR_DENSE:
            t->addr[i] = BC_VA + (vms_bench_below(&seed, 262144) << 12) + off;
            break;
        case VMS_BENCH_TR_SEQ: t->addr[i] = BC_VA + ((i << 10) & (BC_GIB - 1)); break;
        case VMS_BENCH_TR_SPARSE:
            t->addr[i] = BC_SPARSE_VA + (vms_bench_below(&seed, 32768) << 21) + off;
            break;
        case VMS_BENCH_TR_HOT:
            t->addr[i] = hot0 + (vms_bench_below(&seed, BC_HOT_PAGES) << 12) + off;
            break;
        default: /* mix */
            if (vms_bench_below(&seed, 8) == 0)
                t->addr[i] = BC_VA + (vms_bench_below(&seed, 262144) << 12) + off;
            else
                t->addr[i] = hot0 + (vms_bench_below(&seed, BC_HOT_PAGES) << 12) + off;
            break;
        }
        if (!vms_translate(t->sp, t->addr[i], &pa)) vms_bench_die("stream address unmapped", 0);
    }
    t->zmask = vms_bench_runtime_zero();
#if VMS_BENCH_HAVE_SWTLB
    vms_swtlb_init(&t->tlb, t->sp);
#endif
    info->items = BC_TR_BATCH;
    return t;
}

/* The bare limit: four loads, present and PS checks, no canonical check, no level loop. */
static inline uint64_t bc_bare_walk(uintptr_t dm, uint64_t root, uint64_t va) {
    uint64_t e = ((const uint64_t *)(dm + root))[(va >> 39) & 511];
    if (!(e & VMS_PTE_P)) return 1;
    e = ((const uint64_t *)(dm + (e & VMS_PTE_ADDR_MASK)))[(va >> 30) & 511];
    if (!(e & VMS_PTE_P)) return 1;
    if (e & VMS_PTE_PS) return (e & VMS_PTE_ADDR_MASK & ~(BC_GIB - 1)) | (va & (BC_GIB - 1));
    e = ((const uint64_t *)(dm + (e & VMS_PTE_ADDR_MASK)))[(va >> 21) & 511];
    if (!(e & VMS_PTE_P)) return 1;
    if (e & VMS_PTE_PS)
        return (e & VMS_PTE_ADDR_MASK & ~(VMS_PAGE_2M - 1)) | (va & (VMS_PAGE_2M - 1));
    e = ((const uint64_t *)(dm + (e & VMS_PTE_ADDR_MASK)))[(va >> 12) & 511];
    if (!(e & VMS_PTE_P)) return 1;
    return (e & VMS_PTE_ADDR_MASK) | (va & 4095);
}

/* One step: BC_TR_BATCH translations; the sum keeps them alive. TRANSLATE(va, pa) must set
 * pa (1 when unmapped). */
#define BC_TR_LOOP(t, TRANSLATE)                                                        \
    do {                                                                                \
        const uint64_t *addr_ = (t)->addr;                                              \
        uint64_t mask_ = (t)->mask, pos_ = (t)->pos, sum_ = 0, prev_ = 0, i_;           \
        if ((t)->dep) {                                                                 \
            uint64_t z_ = (t)->zmask;                                                   \
            for (i_ = 0; i_ < BC_TR_BATCH; i_++) {                                      \
                uint64_t va = addr_[(pos_ + i_) & mask_] ^ (prev_ & z_), pa;            \
                TRANSLATE(va, pa);                                                      \
                prev_ = pa;                                                             \
                sum_ += pa;                                                             \
            }                                                                           \
        } else {                                                                        \
            for (i_ = 0; i_ < BC_TR_BATCH; i_++) {                                      \
                uint64_t va = addr_[(pos_ + i_) & mask_], pa;                           \
                TRANSLATE(va, pa);                                                      \
                sum_ += pa;                                                             \
            }                                                                           \
        }                                                                               \
        (t)->pos = pos_ + BC_TR_BATCH;                                                  \
        return sum_;                                                                    \
    } while (0)

uint64_t vms_bench_tr_walk_step(void *state) {
    bc_tr_t *t = state;
    const vms_space_t *sp = t->sp;
#define BC_WALK(va, pa) \
    if (!vms_translate(sp, va, &pa)) pa = 1
    BC_TR_LOOP(t, BC_WALK);
#undef BC_WALK
}

uint64_t vms_bench_tr_bare_step(void *state) {
    bc_tr_t *t = state;
    uintptr_t dm = t->sp->direct_map;
    uint64_t root = t->sp->root_pa;
#define BC_BARE(va, pa) pa = bc_bare_walk(dm, root, va)
    BC_TR_LOOP(t, BC_BARE);
#undef BC_BARE
}

#if VMS_BENCH_HAVE_SWTLB
uint64_t vms_bench_tr_swtlb_step(void *state) {
    bc_tr_t *t = state;
    vms_swtlb_t *tlb = &t->tlb;
#define BC_SWTLB(va, pa) \
    if (!vms_swtlb_translate(tlb, va, &pa)) pa = 1
    BC_TR_LOOP(t, BC_SWTLB);
#undef BC_SWTLB
}
#else
uint64_t vms_bench_tr_swtlb_step(void *state) { return vms_bench_tr_walk_step(state); }
#endif

static void bc_tr_report(void *state, vms_bench_info_t *info) {
    bc_tr_t *t = state;
    if (t->set == VMS_BENCH_TR_SPARSE)
        vms_bench_counter(info, "table_pages", (double)bc_sparse_tables);
#if VMS_BENCH_HAVE_SWTLB
    if (!t->swtlb) {
    } else if (t->pos && t->tlb.misses)
        vms_bench_counter(info, "swtlb_hit_rate", 1.0 - (double)t->tlb.misses / (double)t->pos);
    else if (t->pos)
        vms_bench_counter(info, "swtlb_hit_rate", 1.0);
#endif
}

static void bc_tr_teardown(void *state) {
    bc_tr_t *t = state;
    vms_bench_free(t->addr, (t->mask + 1) * 8);
    free(t);
}

#define BC_TR_FAMILY(family, is_swtlb)                                                  \
    void *vms_bench_##family##_setup(int variant, int64_t arg, vms_bench_info_t *info) { \
        bc_tr_t *t_ = bc_tr_setup(variant, info);                                       \
        (void)arg;                                                                      \
        t_->swtlb = is_swtlb;                                                           \
        return t_;                                                                      \
    }                                                                                   \
    void vms_bench_##family##_reset(void *state) { (void)state; }                       \
    void vms_bench_##family##_report(void *state, vms_bench_info_t *info) {             \
        bc_tr_report(state, info);                                                      \
    }                                                                                   \
    void vms_bench_##family##_teardown(void *state) { bc_tr_teardown(state); }
BC_TR_FAMILY(tr_walk, 0)
BC_TR_FAMILY(tr_bare, 0)
BC_TR_FAMILY(tr_swtlb, 1)

/* ------------------------------------------------------------------------------------------ */
/* leases (the owner) */

#if VMS_BENCH_HAVE_OWNER
/* The owner over a space where the leased span is mapped read-write with 1 GiB pages, so the
 * mapping check of an acquire is one walk and the cost measured is the lease bookkeeping (the
 * baselines check no mappings at all). */
typedef struct bc_owner_s {
    vms_space_t sp;
    vms_owner_t o;
    vms_bench_lease_load_t load;
    vms_lease_t *live;
    uint64_t batch, pos;
    int failed; /* an unexpected error in a step: stop working, report() fails the case */
    char why[160];
} bc_owner_t;

static void bc_owner_fail(bc_owner_t *b, const char *what, int err) {
    b->failed = 1;
    snprintf(b->why, sizeof b->why, "owner: %s returned %s after %llu probes", what,
             err ? vms_err_name(err) : "VMS_OK", (unsigned long long)b->pos);
}

void *vms_bench_lease_owner_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bc_owner_t *b = calloc(1, sizeof *b);
    vms_owner_desc_t d;
    uint64_t n = (uint64_t)arg, k, len;
    if (!b) vms_bench_die("calloc", 0);
    vms_bench_lease_load_init(&b->load, variant, n);
    len = (b->load.span + BC_GIB - 1) & ~(BC_GIB - 1);
    bc_check(vms_space_init(&b->sp, NULL), "vms_space_init");
    bc_check(vms_space_map(&b->sp, VMS_BENCH_LEASE_BASE, BC_PA, len, VMS_RW, 0), "map leases");
    memset(&d, 0, sizeof d);
    d.shared_reader = variant == VMS_BENCH_LEASE_SHARED;
    bc_check(vms_owner_init(&b->o, &b->sp, &d), "vms_owner_init");
    b->live = malloc((n ? n : 1) * sizeof *b->live);
    if (!b->live) vms_bench_die("malloc", 0);
    for (k = 0; k < n; k++) {
        bc_check(vms_lease_acquire(&b->o,
                                   vms_bench_live_writer(&b->load, k) ? VMS_LEASE_WRITE
                                                                      : VMS_LEASE_READ,
                                   vms_bench_live_start(&b->load, k),
                                   vms_bench_lease_len(&b->load), &b->live[k], NULL),
                 "owner live set");
    }
    /* Untimed: a sample of the live set (every lease when n <= 4096) must be found where it
     * was taken; an owner that lost a lease fails the case instead of timing a wrong tree. */
    if (variant != VMS_BENCH_LEASE_SHARED) {
        uint64_t stride = n > 4096 ? n / 4096 : 1, lost = 0;
        for (k = 0; k < n; k += stride) {
            vms_lease_t found;
            if (!vms_owner_first_overlap(&b->o, vms_bench_live_start(&b->load, k), 4096,
                                         &found) ||
                found.id != b->live[k].id)
                lost++;
        }
        if (lost) {
            b->failed = 1;
            snprintf(b->why, sizeof b->why,
                     "owner: %llu of %llu sampled live leases not found after taking them",
                     (unsigned long long)lost, (unsigned long long)((n + stride - 1) / stride));
            fprintf(stderr, "vmspace bench: ERROR: %s (n = %llu)\n", b->why,
                    (unsigned long long)n);
        }
    }
    b->batch = 64;
    info->items = b->batch;
    return b;
}

uint64_t vms_bench_lease_owner_step(void *state) {
    bc_owner_t *b = state;
    uint64_t i, acc = 0, len = vms_bench_lease_len(&b->load), pos = b->pos;
    int op = b->load.op;
    vms_lease_kind kind =
        op == VMS_BENCH_LEASE_WRITER || op == VMS_BENCH_LEASE_CONFLICT ? VMS_LEASE_WRITE
                                                                      : VMS_LEASE_READ;
    if (b->failed) return 0;
    for (i = 0; i < b->batch; i++, pos++) {
        vms_lease_t l, blocker;
        int err = vms_lease_acquire(&b->o, kind, vms_bench_probe_start(&b->load, pos), len, &l,
                                    &blocker);
        if (op == VMS_BENCH_LEASE_CONFLICT) {
            if (err != VMS_ERR_CONFLICT) {
                bc_owner_fail(b, "acquire over a live lease", err);
                break;
            }
            acc += blocker.id;
            continue;
        }
        if (err == VMS_OK) err = vms_lease_release(&b->o, l);
        if (err != VMS_OK) {
            bc_owner_fail(b, "acquire + release of a free range", err);
            break;
        }
        acc += l.id;
    }
    b->pos = pos;
    return acc;
}

void vms_bench_lease_owner_reset(void *state) { (void)state; }

void vms_bench_lease_owner_report(void *state, vms_bench_info_t *info) {
    bc_owner_t *b = state;
    vms_owner_stats_t st;
    double live;
    vms_owner_stats(&b->o, &st);
    live = (double)(st.readers + st.writers);
    vms_bench_counter(info, "live", live);
    if (b->failed) info->skip = b->why;
    else if (st.readers + st.writers != b->load.n)
        info->skip = "owner inconsistent: live lease count differs from the leases held";
    if (live > 0) {
        /* Live tree nodes plus the registry (its capacity), and everything held. */
        vms_bench_counter(info, "bytes_per_lease",
                          (double)(st.tree_bytes_live + st.registry_bytes) / live);
        vms_bench_counter(info, "bytes_per_lease_capacity",
                          (double)(st.tree_bytes + st.registry_bytes) / live);
        /* The trees alone (slab capacity, not just live nodes): the 64-byte budget. */
        vms_bench_counter(info, "tree_bytes_per_lease", (double)st.tree_bytes / live);
    }
}

void vms_bench_lease_owner_teardown(void *state) {
    bc_owner_t *b = state;
    uint64_t k;
    int err;
    for (k = 0; k < b->load.n; k++) (void)vms_lease_release(&b->o, b->live[k]);
    err = vms_owner_destroy(&b->o);
    if (err != VMS_OK) {
        /* Every lease was released, yet the owner still counts some: a library bug. Report
         * it and leak the owner, so the other cases still run. */
        fprintf(stderr, "vmspace bench: ERROR: vms_owner_destroy after releasing every lease: "
                        "%s\n", vms_strerror(err));
    } else {
        vms_space_destroy(&b->sp);
    }
    vms_bench_lease_load_fini(&b->load);
    free(b->live);
    free(b);
}
#endif

#endif /* VMS_BENCH_HAVE_IMPL */
