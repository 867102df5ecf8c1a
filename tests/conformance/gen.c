/* gen.c - build a random vmspace and write what the library thinks it holds.
 *
 * Part of the QEMU conformance check (tools/conformance.sh, tests/conformance/run.py): the
 * tables this program builds with the library are loaded into a paused QEMU guest, whose
 * x86-64 page walker must agree with the expectations written here.
 *
 *     gen SEED OUTDIR [--levels 4|5] [--layout sparse|dense|mixed] [--max-leaves N]
 *
 * writes OUTDIR/space.bin (vms_space_save) and OUTDIR/expect.txt:
 *
 *     levels L / root R / phys_base B / image_len N / seed S    header lines (hex values)
 *     M va pa size prop      one line per mapping, from vms_space_enumerate (hex)
 *     T va pa eff            a probe: vms_translate's pa or '-', and the effective rights
 *                            (R W X USER) of vms_translate_access for a supervisor read, or '-'
 *
 * Everything is decided by the seed; options left out are drawn from it as well.
 * Exit status: 0 on success, 1 if a library call failed unexpectedly, 2 on bad usage.
 */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random numbers (splitmix64: every seed gives a good stream) ---------------------- */

static uint64_t g_rng;

static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

/* True with probability 1/n. */
static bool one_in(uint64_t n) { return rnd_below(n) == 0; }

/* ---- the run's state ------------------------------------------------------------------ */

typedef struct region_s {
    uint64_t va, len;
} region_t;

static vms_space_t g_space;
static vms_space_t *g_cur = &g_space; /* the space the operations go through */
static vms_space_t g_member;          /* shares the upper half of g_space, in some tables */
static vms_share_t g_group;
static bool g_shared;
static int g_levels;
static uint64_t g_seed;
static region_t *g_regions;
static size_t g_nregions, g_capregions;
static uint64_t g_leaf_budget; /* leaves the table should not grow much beyond */
static uint64_t g_ops_failed;  /* ops refused with an error the generator tolerates */

static void die(const char *what, int err) {
    fprintf(stderr, "gen: seed %" PRIu64 ": %s failed: %s (%s)\n", g_seed, what,
            vms_err_name(err), vms_strerror(err));
    exit(1);
}

static void add_region(uint64_t va, uint64_t len) {
    if (g_nregions == g_capregions) {
        g_capregions = g_capregions ? g_capregions * 2 : 64;
        g_regions = (region_t *)realloc(g_regions, g_capregions * sizeof *g_regions);
        if (!g_regions) {
            perror("gen: realloc");
            exit(1);
        }
    }
    g_regions[g_nregions].va = va;
    g_regions[g_nregions].len = len;
    g_nregions++;
}

/* Leaves in the space now (no-access ones included). */
static uint64_t leaf_count(void) {
    vms_stats_t st;
    vms_space_stats(g_cur, &st);
    return st.mapped_bytes[0] / VMS_PAGE_4K + st.mapped_bytes[1] / VMS_PAGE_2M +
           st.mapped_bytes[2] / VMS_PAGE_1G;
}

/* Leaves that may still be added. */
static uint64_t room(void) {
    uint64_t n = leaf_count();
    return n < g_leaf_budget ? g_leaf_budget - n : 0;
}

/* ---- addresses ------------------------------------------------------------------------ */

/* Size of one half of the canonical space: 2^47 or 2^56. */
static uint64_t half_size(void) { return (uint64_t)1 << (vms_addr_bits(g_levels) - 1u); }

/* Canonical address of linear offset off in [0, 2 * half): the lower half, then the upper. */
static uint64_t canon_from_linear(uint64_t off) {
    uint64_t half = half_size();
    return off < half ? off : off - 2 * half; /* wraps to 0xffff8... / 0xff00... */
}

/* A random canonical base for a window of len bytes aligned to align, so that the whole
 * window stays in one half. Avoids page 0 for tidiness (any page would do). */
static uint64_t rand_window(uint64_t len, uint64_t align) {
    uint64_t half = half_size();
    uint64_t slots = (half - len) / align;
    uint64_t off = (1 + rnd_below(slots - 1)) * align;
    /* Cluster a quarter of the windows near the ends of each half: table edges (index 0 and
     * 511 at every level) are where walks go wrong. */
    if (one_in(4)) off = one_in(2) ? align : ((half - len) / align) * align;
    return one_in(2) ? off : canon_from_linear(off + half);
}

/* A random physical address aligned to align for len bytes: mostly below 4 GiB, sometimes
 * anywhere below the 52-bit limit (the top bits exercise the full address field). */
static uint64_t rand_pa(uint64_t len, uint64_t align) {
    uint64_t limit;
    switch (rnd_below(8)) {
    case 0: limit = VMS_PHYS_LIMIT; break;
    case 1: limit = (uint64_t)1 << (40 + rnd_below(12)); break;
    default: limit = (uint64_t)1 << 32; break;
    }
    if (len >= limit) limit = VMS_PHYS_LIMIT;
    uint64_t pa = rnd_below((limit - len) / align + 1) * align;
    if (one_in(16)) pa = ((VMS_PHYS_LIMIT - len) / align) * align; /* the very top */
    return pa;
}

/* ---- properties ----------------------------------------------------------------------- */

/* Rights combination i in 0..31 (bits: R W X USER GLOBAL) with cache index c in 0..7. */
static vms_prop_t prop_combo(unsigned i, unsigned c) {
    vms_prop_t p = 0;
    if (i & 1u) p |= VMS_R;
    if (i & 2u) p |= VMS_W;
    if (i & 4u) p |= VMS_X;
    if (i & 8u) p |= VMS_USER;
    if (i & 16u) p |= VMS_GLOBAL;
    return p | VMS_CACHE_PAT(c);
}

static vms_prop_t rand_prop(void) {
    vms_prop_t p = prop_combo((unsigned)rnd_below(32), (unsigned)rnd_below(8));
    if (one_in(2)) p |= VMS_R; /* more accessible mappings than the uniform draw gives */
    if (one_in(4)) p |= VMS_ACCESSED;
    if (one_in(4)) p |= VMS_DIRTY;
    if (one_in(8)) p |= VMS_SW0;
    if (one_in(8)) p |= VMS_SW1;
    if (one_in(8)) p |= VMS_SW2;
    if (one_in(8)) p |= VMS_SW3;
    return p;
}

static uint32_t rand_map_flags(void) {
    switch (rnd_below(6)) {
    case 0: return VMS_MAP_MAX_4K;
    case 1: return VMS_MAP_MAX_2M;
    case 2: return one_in(2) ? VMS_MAP_COLLAPSE : VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M;
    default: return 0;
    }
}

/* Leaves a largest-page map of [va, va + len) -> pa creates at most (a rough upper bound). */
static uint64_t leaves_for(uint64_t va, uint64_t pa, uint64_t len, uint32_t flags) {
    if (flags & VMS_MAP_MAX_4K) return len / VMS_PAGE_4K;
    if (((va ^ pa) & (VMS_PAGE_2M - 1)) != 0) return len / VMS_PAGE_4K;
    /* 2 MiB-congruent: at most 2 x 511 small pages at the edges plus the big ones. */
    return 1022 + len / VMS_PAGE_2M;
}

/* Map, tolerating VMS_ERR_EXIST for plain maps (the range may overlap an earlier one). */
static void do_map(uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop, uint32_t flags) {
    int err = vms_space_map(g_cur, va, pa, len, prop, flags);
    if (err == VMS_ERR_EXIST && !(flags & VMS_MAP_REPLACE)) {
        g_ops_failed++;
        return;
    }
    if (err != VMS_OK) die("vms_space_map", err);
    add_region(va, len);
}

/* ---- layouts -------------------------------------------------------------------------- */

/* A dense run: one range map over up to a few GiB, VA and PA congruent so huge pages fit. */
static void layout_dense(void) {
    static const uint64_t lens[] = {
        VMS_PAGE_4K * 3, VMS_PAGE_2M, VMS_PAGE_2M * 3 + VMS_PAGE_4K * 17, VMS_PAGE_1G,
        VMS_PAGE_1G + VMS_PAGE_2M * 5 + VMS_PAGE_4K * 9, VMS_PAGE_1G * 3,
        (uint64_t)64 << 20, (uint64_t)8 << 20,
    };
    uint64_t len = lens[rnd_below(sizeof lens / sizeof lens[0])];
    uint32_t flags = rand_map_flags();
    if (one_in(3)) len += rnd_below(512) * VMS_PAGE_4K;
    /* Start somewhere inside a 1 GiB slot so the edges need small pages. */
    uint64_t head = one_in(3) ? 0 : rnd_below(VMS_PAGE_1G / VMS_PAGE_4K) * VMS_PAGE_4K;
    uint64_t va = rand_window(len + VMS_PAGE_1G * 2, VMS_PAGE_1G) + head;
    uint64_t pa = rand_pa(len + VMS_PAGE_1G * 2, VMS_PAGE_1G) + head;
    if (one_in(4)) pa += rnd_below(512) * VMS_PAGE_4K; /* incongruent: 4 KiB pages only */
    if (leaves_for(va, pa, len, flags) > room()) {
        /* Too many small pages for this table: shrink to what the budget allows. */
        len = (room() / 2 + 1) * VMS_PAGE_4K;
    }
    do_map(va, pa, len, rand_prop(), flags);
}

/* Scattered single pages of random sizes over the whole canonical space. */
static void layout_sparse(unsigned n) {
    for (unsigned i = 0; i < n && room() > 0; i++) {
        uint64_t size = one_in(3) ? VMS_PAGE_4K : one_in(2) ? VMS_PAGE_2M : VMS_PAGE_1G;
        uint64_t va = rand_window(size, size);
        uint64_t pa = rand_pa(size, size);
        do_map(va, pa, size, rand_prop(), 0);
    }
}

/* One page of each size for every rights combination and cache policy: 3 x 32 x 8 pages. */
static void layout_matrix(void) {
    static const uint64_t sizes[] = {VMS_PAGE_4K, VMS_PAGE_2M, VMS_PAGE_1G};
    for (unsigned s = 0; s < 3; s++) {
        uint64_t size = sizes[s];
        uint64_t base = rand_window(size * 256 + VMS_PAGE_1G, VMS_PAGE_1G);
        uint64_t pa = rand_pa(size * 256, size);
        for (unsigned i = 0; i < 256; i++) {
            vms_prop_t p = prop_combo(i & 31u, i >> 5);
            int err = vms_space_map(g_cur, base + i * size, pa + i * size, size, p, 0);
            if (err == VMS_ERR_EXIST) {
                g_ops_failed++;
                continue;
            }
            if (err != VMS_OK) die("vms_space_map (matrix)", err);
        }
        add_region(base, size * 256);
    }
}

/* A random 4 KiB-aligned sub-range around a region: inside it, or sticking out at an end. */
static void rand_subrange(uint64_t *va, uint64_t *len) {
    const region_t *r = &g_regions[rnd_below(g_nregions)];
    uint64_t pages = r->len / VMS_PAGE_4K;
    uint64_t first = rnd_below(pages);
    uint64_t n = 1 + rnd_below(one_in(2) ? 4 : pages - first);
    if (one_in(4)) n = pages - first + rnd_below(8); /* past the end */
    uint64_t start = r->va + first * VMS_PAGE_4K;
    /* Snap to a 2 MiB boundary now and then: whole-huge-page operations matter too. */
    if (one_in(4)) start &= ~(VMS_PAGE_2M - 1);
    if (one_in(8)) {
        start &= ~(VMS_PAGE_1G - 1);
        if (!vms_addr_is_canonical(start, g_levels)) start = r->va;
    }
    *va = start;
    *len = n * VMS_PAGE_4K;
    /* Keep inside the region's half of the canonical space. */
    if (vms_space_check_range(g_cur, *va, *len) != VMS_OK) {
        *va = r->va;
        *len = r->len;
    }
}

/* Protect by callback: drop W from dirty mappings, add X to accessed ones (rights from each
 * mapping's own bits, as a kernel's policy would). */
static vms_prop_t policy(void *user, const vms_mapping_t *m) {
    vms_prop_t p = m->prop;
    (void)user;
    if (p & VMS_DIRTY) p &= ~(vms_prop_t)VMS_W;
    if (p & VMS_ACCESSED) p |= VMS_X;
    return p;
}

/* A move of [va, +len) by a random multiple of 1 GiB, 2 MiB or 4 KiB, up or down: a taken,
 * overlapping or impossible destination is refused and changes nothing. */
static void move_somewhere(uint64_t va, uint64_t len) {
    static const uint64_t units[3] = {VMS_PAGE_1G, VMS_PAGE_2M, VMS_PAGE_4K};
    uint64_t unit = units[rnd_below(3)], by;
    int err;
    /* A smaller unit may break huge pages into many small ones: within the leaf budget. */
    while (unit < VMS_PAGE_1G && len / unit > room()) unit <<= 9;
    by = (1 + rnd_below(64)) * unit;
    err = vms_space_move(g_cur, va, one_in(2) ? va + by : va - by, len);
    if (err != VMS_OK && err != VMS_ERR_EXIST && err != VMS_ERR_OVERLAP &&
        err != VMS_ERR_NONCANON && err != VMS_ERR_OVERFLOW)
        die("vms_space_move", err);
}

/* A collapse over [va, +len), or half the time over the 2 MiB block around va after
 * remapping it as 512 alike 4 KiB pages, so that there is something to collapse. */
static void collapse_some(uint64_t va, uint64_t len) {
    uint64_t done = 0;
    int err;
    if (one_in(2) && room() > 1024) {
        va &= ~(VMS_PAGE_2M - 1);
        len = VMS_PAGE_2M;
        err = vms_space_map(g_cur, va, rand_pa(len, len), len, rand_prop(),
                            VMS_MAP_REPLACE | VMS_MAP_MAX_4K);
        if (err != VMS_OK) die("vms_space_map (to collapse)", err);
    }
    err = vms_space_collapse(g_cur, va, len, one_in(2) ? VMS_MAP_MAX_2M : 0, &done);
    if (err != VMS_OK) die("vms_space_collapse", err);
}

/* Random unmaps, protects (whole, relative, by callback), replacing maps, harvests of A/D,
 * moves and collapses over what is there; all but the harvest and collapse split huge pages. */
static void mutate(unsigned n) {
    for (unsigned i = 0; i < n && g_nregions > 0; i++) {
        uint64_t va, len;
        int err;
        unsigned op = (unsigned)rnd_below(8);
        rand_subrange(&va, &len);
        /* Near the budget no replacing maps; over it only unmaps and harvests (protects split
         * too). */
        if (op == 2 && room() <= 2048) op = 1;
        if (op != 0 && op != 5 && op != 7 && room() <= 0) op = 0;
        switch (op) {
        case 6:
            move_somewhere(va, len);
            break;
        case 7:
            collapse_some(va, len);
            break;
        case 3: {
            vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
            vms_prop_t set = rand_prop() & rel, clear = rand_prop() & rel & ~set;
            err = vms_space_protect_mask(g_cur, va, len, set, clear);
            if (err != VMS_OK) die("vms_space_protect_mask", err);
            break;
        }
        case 4:
            err = vms_space_protect_fn(g_cur, va, len, policy, NULL);
            if (err != VMS_OK) die("vms_space_protect_fn", err);
            break;
        case 5: {
            vms_harvest_t h;
            memset(&h, 0, sizeof h);
            h.bits = one_in(3) ? VMS_ACCESSED : one_in(2) ? VMS_DIRTY : VMS_ACCESSED | VMS_DIRTY;
            h.flags = VMS_HARVEST_CLEAR;
            err = vms_space_harvest(g_cur, va, len, &h);
            if (err != VMS_OK) die("vms_space_harvest", err);
            break;
        }
        case 0:
            err = vms_space_unmap(g_cur, va, len);
            if (err != VMS_OK) die("vms_space_unmap", err);
            break;
        case 1:
            err = vms_space_protect(g_cur, va, len, rand_prop());
            if (err != VMS_OK) die("vms_space_protect", err);
            break;
        default: {
            uint32_t flags = VMS_MAP_REPLACE | rand_map_flags();
            uint64_t pa = rand_pa(len, VMS_PAGE_4K);
            if (one_in(2)) pa = rand_pa(len + VMS_PAGE_1G, VMS_PAGE_1G) + (va & (VMS_PAGE_1G - 1));
            uint64_t cap = (uint64_t)64 << 20; /* bytes */
            if (leaves_for(va, pa, len, flags) > 1024) cap = 1024 * VMS_PAGE_4K;
            if (len > cap) len = cap;
            err = vms_space_map(g_cur, va, pa, len, rand_prop(), flags);
            if (err != VMS_OK) die("vms_space_map (replace)", err);
            break;
        }
        }
    }
}

/* ---- expectations --------------------------------------------------------------------- */

typedef struct mapvec_s {
    vms_mapping_t *m;
    size_t n, cap;
} mapvec_t;

static int collect(void *user, const vms_mapping_t *m) {
    mapvec_t *v = (mapvec_t *)user;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->m = (vms_mapping_t *)realloc(v->m, v->cap * sizeof *v->m);
        if (!v->m) {
            perror("gen: realloc");
            exit(1);
        }
    }
    v->m[v->n++] = *m;
    return 0;
}

static void probe(FILE *f, uint64_t va) {
    uint64_t pa = 0;
    vms_access_result_t r;
    memset(&r, 0, sizeof r);
    bool ok = vms_translate(g_cur, va, &pa);
    bool acc = vms_translate_access(g_cur, va, VMS_ACCESS_READ, &r);
    fprintf(f, "T %" PRIx64 " ", va);
    if (ok) fprintf(f, "%" PRIx64, pa);
    else fputc('-', f);
    if (acc) fprintf(f, " %x\n", (unsigned)(r.prop & (VMS_R | VMS_W | VMS_X | VMS_USER)));
    else fputs(" -\n", f);
}

/* Probe addresses: edges of (a sample of) the mappings, random canonical addresses, and
 * non-canonical ones. Huge pages are always probed at their last byte and the byte after. */
static void write_probes(FILE *f, const mapvec_t *v, unsigned budget) {
    size_t nhuge = 0;
    for (size_t i = 0; i < v->n; i++) nhuge += v->m[i].size != VMS_PAGE_4K;
    size_t nsmall = v->n - nhuge;
    for (size_t i = 0; i < v->n; i++) {
        const vms_mapping_t *m = &v->m[i];
        bool huge = m->size != VMS_PAGE_4K;
        /* About `budget` mappings of each kind. */
        if (rnd_below(huge ? nhuge : nsmall) >= budget) continue;
        probe(f, m->va);
        probe(f, m->va + m->size - 1);
        probe(f, m->va + rnd_below(m->size));
        uint64_t after = m->va + m->size;
        if (vms_addr_is_canonical(after, g_levels)) probe(f, after);
        if (m->va != 0 && vms_addr_is_canonical(m->va - 1, g_levels)) probe(f, m->va - 1);
        if (huge) probe(f, m->va + VMS_PAGE_2M + 0x123); /* second 2 MiB of a 1 GiB page */
    }
    for (unsigned i = 0; i < 32; i++) {
        uint64_t off = rnd_below(2 * half_size());
        probe(f, canon_from_linear(off));
    }
    uint64_t h = half_size();
    const uint64_t noncanon[] = {
        h, h + 0x1000, h * 2 - 1, ~(h * 2 - 1) - 1, 0x8000000000000000ull,
        0x7fffffffffffffffull, (uint64_t)1 << 62, ((uint64_t)1 << 47) | 0xfff0000000000000ull,
        h | rnd_below(h), (~(h * 2 - 1)) ^ ((uint64_t)1 << (48 + rnd_below(16))),
    };
    for (size_t i = 0; i < sizeof noncanon / sizeof noncanon[0]; i++) probe(f, noncanon[i]);
    /* The 5-level range seen from a 4-level space and the top of each half. */
    probe(f, (uint64_t)1 << 50);
    probe(f, h - 1);
    probe(f, canon_from_linear(h));
    probe(f, UINT64_MAX);
}

static int usage(void) {
    fprintf(stderr, "usage: gen SEED OUTDIR [--levels 4|5] [--layout sparse|dense|mixed]"
                    " [--max-leaves N]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    char *end;
    errno = 0;
    g_seed = strtoull(argv[1], &end, 0);
    if (errno || *end) return usage();
    const char *outdir = argv[2];
    const char *layout = NULL;
    uint64_t max_leaves = 30000;
    g_rng = g_seed * 0x2545f4914f6cdd1dull + 1;
    g_levels = one_in(2) ? 5 : 4;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--levels") && i + 1 < argc) g_levels = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "--max-leaves") && i + 1 < argc)
            max_leaves = strtoull(argv[++i], NULL, 0);
        else return usage();
    }
    if (g_levels != 4 && g_levels != 5) return usage();
    if (!layout) layout = one_in(3) ? "sparse" : one_in(2) ? "dense" : "mixed";

    /* Most tables use the default arena (phys_base 16 MiB); some move it (below 4 GiB: the
     * harness loads the root into CR3 while the CPU is still in 32-bit mode). */
    vms_space_desc_t desc;
    memset(&desc, 0, sizeof desc);
    desc.levels = g_levels;
    if (one_in(4)) desc.arena.phys_base = (uint64_t)(1 + rnd_below(512)) * VMS_PAGE_2M;
    desc.arena.size = (uint64_t)256 << 20;
    int err = vms_space_init(&g_space, &desc);
    if (err != VMS_OK) die("vms_space_init", err);

    /* Small tables most of the time, a big one now and then. */
    g_leaf_budget = one_in(8) ? max_leaves : 1 + rnd_below(max_leaves / 6 + 1);
    bool sparse = !strcmp(layout, "sparse") || !strcmp(layout, "mixed");
    bool dense = !strcmp(layout, "dense") || !strcmp(layout, "mixed");
    if (!sparse && !dense) return usage();
    if (one_in(2)) layout_matrix();
    if (dense) {
        unsigned runs = 1 + (unsigned)rnd_below(6);
        for (unsigned i = 0; i < runs && room() > 0; i++) layout_dense();
    }
    if (sparse) layout_sparse(1 + (unsigned)rnd_below(one_in(4) ? 2000 : 100));
    mutate((unsigned)rnd_below(one_in(4) ? 200 : 40));
    /* Half the tables are copies: the space goes through two clones (both halves, the first
     * copy-on-write half the time) and the one saved is built by vms_space_clone alone. */
    if (one_in(2)) {
        vms_space_t tmp;
        uint32_t cow = one_in(2) ? VMS_CLONE_COW : 0;
        uint64_t halves[2] = {0, canon_from_linear(half_size())};
        err = vms_space_init(&tmp, &desc);
        if (err != VMS_OK) die("vms_space_init (clone)", err);
        for (int k = 0; k < 2; k++) {
            err = vms_space_clone(&tmp, &g_space, halves[k], half_size(), cow, NULL, NULL);
            if (err != VMS_OK) die("vms_space_clone", err);
        }
        err = vms_space_destroy(&g_space);
        if (err == VMS_OK) err = vms_space_init(&g_space, &desc);
        if (err != VMS_OK) die("vms_space_init (clone back)", err);
        for (int k = 0; k < 2; k++) {
            err = vms_space_clone(&g_space, &tmp, halves[k], half_size(), cow ^ VMS_CLONE_COW,
                                  NULL, NULL);
            if (err != VMS_OK) die("vms_space_clone (back)", err);
        }
        err = vms_space_destroy(&tmp);
        if (err != VMS_OK) die("vms_space_destroy (clone)", err);
    }

    /* A third of the tables are walked through a second space that shares the upper half of
     * the first (its top tables): the operations go through it, on its own lower half and
     * the shared upper half, then some through the first; QEMU walks the second's root. */
    if (one_in(3)) {
        vms_provider_t prov = vms_arena_provider(&g_space.arena);
        vms_space_desc_t md;
        memset(&md, 0, sizeof md);
        md.levels = g_levels;
        md.provider = &prov;
        err = vms_space_init(&g_member, &md);
        if (err == VMS_OK)
            err = vms_share_init(&g_group, &g_space, canon_from_linear(half_size()), half_size());
        if (err == VMS_OK) err = vms_share_join(&g_group, &g_member);
        if (err != VMS_OK) die("sharing the upper half", err);
        g_shared = true;
        g_cur = &g_member;
        if (one_in(2)) layout_sparse(1 + (unsigned)rnd_below(100));
        mutate((unsigned)rnd_below(40));
        g_cur = &g_space;
        mutate((unsigned)rnd_below(20));
        g_cur = &g_member;
    }

    char path[4096];
    snprintf(path, sizeof path, "%s/space.bin", outdir);
    err = vms_space_save(&g_space, path);
    if (err != VMS_OK) die("vms_space_save", err);

    mapvec_t v = {NULL, 0, 0};
    err = vms_space_enumerate(g_cur, collect, &v);
    if (err != 0) die("vms_space_enumerate", err);

    snprintf(path, sizeof path, "%s/expect.txt", outdir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "levels %d\nroot %" PRIx64 "\nphys_base %" PRIx64 "\nimage_len %" PRIx64
               "\nseed %" PRIx64 "\n",
            g_levels, g_space.root_pa, g_space.arena.phys_base, g_space.arena.bump, g_seed);
    if (g_shared) fprintf(f, "walk %" PRIx64 "\n", g_member.root_pa); /* the root QEMU loads */
    for (size_t i = 0; i < v.n; i++)
        fprintf(f, "M %" PRIx64 " %" PRIx64 " %" PRIx64 " %x\n", v.m[i].va, v.m[i].pa,
                v.m[i].size, (unsigned)v.m[i].prop);
    write_probes(f, &v, 40);
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    printf("seed %" PRIu64 " levels %d layout %s%s mappings %zu refused %" PRIu64 "\n", g_seed,
           g_levels, layout, g_shared ? " shared" : "", v.n, g_ops_failed);
    free(v.m);
    free(g_regions);
    if (g_shared) { /* the member first: its tables live in g_space's arena */
        err = vms_space_destroy(&g_member);
        if (err != VMS_OK) die("vms_space_destroy (member)", err);
    }
    err = vms_space_destroy(&g_space);
    if (err != VMS_OK) die("vms_space_destroy", err);
    return 0;
}
