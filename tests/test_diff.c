/* Randomized differential test: hundreds of thousands of map / unmap / protect / harvest /
 * clone / move / collapse operations, through the range API and through cursors, compared
 * against the reference model in tests/support/model.c. Operations cluster in a few regions
 * (around 1 GiB, 512 GiB and 2^47 / 2^48 edges, the ends of both halves), so huge pages get
 * split, tables get emptied and freed, and neighbouring operations interact. Moves go 1 GiB,
 * 2 MiB or 4 KiB multiples away, into emptied or occupied ranges; collapses run over blocks
 * set up to fold (or nearly) as well as over random ranges.
 *
 * Every mutation is checked at once (return code, and query + translate at its edges and
 * around them); every few hundred steps the whole enumeration, the stats and the table
 * count are compared (VMS_DIFF_CHECK_EVERY=<n> changes that). The seed is printed;
 * VMS_SEED=<n> replays a run, VMS_DIFF_OPS=<n> changes its length, and VMS_DIFF_SHOW=<va>
 * prints the mappings near va at the end of a (shortened) run. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "support/vt_cr.h"

#define CHECK_EVERY_DEFAULT 400
#define DEFAULT_OPS 200000
#define DEFAULT_SEED 0x5eed2024u
#define WINDOW (2 * M2) /* hot windows for 4 KiB-granular operations */
#define REGION (2 * G1) /* each region spans 2 GiB */
#define NWIN 3

typedef struct region_s {
    uint64_t base;      /* 1 GiB aligned */
    uint64_t win[NWIN]; /* 2 MiB-aligned hot windows inside [base, base + REGION) */
} region_t;

typedef struct diff_s {
    vms_space_t s;
    vt_model_t m;
    vt_rng_t rng;
    region_t reg[10];
    int nreg;
    uint64_t step;
    char log[16][160]; /* the last operations, printed on a failure */
    char msg[512];
    uint64_t counts[16];
    uint64_t moved, collapsed; /* moves that moved something, bytes collapses made */
    uint64_t gone;    /* bytes the frames hook was handed */
    uint64_t removed; /* bytes the model says unmaps and replaces took out */
} diff_t;

static void count_gone(void *user, uint64_t pa, uint64_t len) {
    (void)pa;
    ((diff_t *)user)->gone += len;
}

static uint64_t model_total(const vt_model_t *m) {
    uint64_t b[3];
    vt_model_bytes(m, b);
    return b[0] + b[1] + b[2];
}

enum {
    OP_MAP,
    OP_MAP_CURSOR,
    OP_UNMAP,
    OP_UNMAP_CURSOR,
    OP_PROTECT,
    OP_PROTECT_CURSOR,
    OP_PROTECT_MASK,
    OP_PROTECT_FN,
    OP_HARVEST,
    OP_CLONE,
    OP_MOVE,
    OP_COLLAPSE,
    OP_PROBE,
    OP_COUNT
};
static const char *op_names[OP_COUNT] = {"map",     "cursor_map_range", "unmap", "cursor_unmap",
                                         "protect", "cursor_protect",   "protect_mask",
                                         "protect_fn", "harvest", "clone", "move",
                                         "collapse", "probe"};

/* What a copy-on-write clone does to a writable mapping, on both sides. */
static vms_prop_t cow_of(void *user, const vms_mapping_t *m) {
    (void)user;
    return (m->prop & VMS_W) ? (m->prop & ~(vms_prop_t)VMS_W) | VMS_COW : m->prop;
}
static vms_prop_t same(void *user, const vms_mapping_t *m) {
    (void)user;
    return m->prop;
}

/* Protect by callback: flip the rights a hash of the page's address picks among `*mask`. */
static vms_prop_t flip_by_va(void *user, const vms_mapping_t *m) {
    const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    uint64_t h = (m->va >> 12) * 0x9e3779b97f4a7c15u;
    return m->prop ^ ((vms_prop_t)(h >> 40) & *(const vms_prop_t *)user & rel);
}

static void add_region(diff_t *d, uint64_t base) {
    region_t *r = &d->reg[d->nreg++];
    r->base = base;
    /* A window at the start, one straddling the middle 1 GiB edge, one at the end. */
    r->win[0] = base;
    r->win[1] = base + G1 - WINDOW / 2;
    r->win[2] = base + REGION - WINDOW;
}

static void logop(diff_t *d, const char *fmt, uint64_t a, uint64_t b, uint64_t c, unsigned p,
                  unsigned f) {
    snprintf(d->log[d->step % 16], sizeof d->log[0], fmt, VT_ULL(d->step), VT_ULL(a), VT_ULL(b),
             VT_ULL(c), p, f);
}

static void dump_log(diff_t *d) {
    uint64_t first = d->step >= 15 ? d->step - 15 : 0;
    fprintf(stderr, "last operations (seed given above):\n");
    for (uint64_t i = first; i <= d->step; i++) fprintf(stderr, "  %s\n", d->log[i % 16]);
}

#define DIFF_FAIL(d, ...)      \
    do {                       \
        dump_log(d);           \
        cr_fatal(__VA_ARGS__); \
    } while (0)

static uint64_t rnd(diff_t *d, uint64_t n) { return vt_rng_below(&d->rng, n); }

static vms_prop_t random_prop(diff_t *d, bool for_protect) {
    vms_prop_t p = (vms_prop_t)rnd(d, 0x800);
    /* Mostly readable, so translate has something to find. */
    if (rnd(d, 4) != 0) p |= VMS_R;
    if (for_protect) p &= ~(VMS_ACCESSED | VMS_DIRTY);
    if (rnd(d, 3) == 0) p |= VMS_CACHE_PAT(rnd(d, 8));
    return p;
}

/* A random operation range. grain: 0 = 4 KiB inside a hot window, 1 = 2 MiB anywhere in the
 * region, 2 = 1 GiB-sized. */
static void random_range(diff_t *d, const region_t *r, int grain, uint64_t *va, uint64_t *len) {
    if (grain == 0) {
        uint64_t w = r->win[rnd(d, NWIN)];
        uint64_t pages = rnd(d, 8) == 0 ? 1 + rnd(d, 700) : 1 + rnd(d, 48);
        uint64_t off = rnd(d, WINDOW / K4);
        if (off + pages > WINDOW / K4) pages = WINDOW / K4 - off;
        *va = w + off * K4;
        *len = pages * K4;
    } else if (grain == 1) {
        uint64_t slots = REGION / M2;
        uint64_t off = rnd(d, slots), n = 1 + rnd(d, rnd(d, 4) == 0 ? 300 : 8);
        if (off + n > slots) n = slots - off;
        *va = r->base + off * M2;
        *len = n * M2;
    } else {
        uint64_t off = rnd(d, 2), n = 1 + rnd(d, 2);
        if (off + n > 2) n = 2 - off;
        *va = r->base + off * G1;
        *len = n * G1;
        /* Sometimes shift by 2 MiB so the ends cut huge pages. */
        if (rnd(d, 3) == 0 && n > 1) {
            uint64_t shift = M2 * (1 + rnd(d, 8));
            *va += shift;
            *len -= shift + M2 * rnd(d, 8);
        }
    }
}

static void probe(diff_t *d, uint64_t va) {
    if (!vt_compare_va(&d->s, &d->m, va, d->msg, sizeof d->msg))
        DIFF_FAIL(d, "step %llu: %s", VT_ULL(d->step), d->msg);
}

static void probe_access(diff_t *d, uint64_t va) {
    unsigned kind = (unsigned)rnd(d, 8);
    vms_access_result_t r;
    bool ok = vms_translate_access(&d->s, va, kind, &r);
    const vt_leaf_t *f = vt_model_find(&d->m, va);
    bool present = f && (f->prop & VMS_R);
    bool wfault = present && (kind & VMS_ACCESS_WRITE) && !(f->prop & VMS_W);
    bool ufault = present && (kind & VMS_ACCESS_USER) && !(f->prop & VMS_USER);
    bool xfault = present && (kind & VMS_ACCESS_EXEC) && !(f->prop & VMS_X);
    bool want = present && !wfault && !ufault && !xfault;
    if (ok != want)
        DIFF_FAIL(d, "step %llu: translate_access(%#llx, %#x) = %d, model %d", VT_ULL(d->step),
                  VT_ULL(va), kind, ok, want);
    if (ok) {
        int lvl = f->size == K4 ? 1 : f->size == M2 ? 2 : 3;
        vms_prop_t rights = f->prop & (VMS_R | VMS_W | VMS_X | VMS_USER);
        if (r.fault != VMS_FAULT_NONE || r.pa != f->pa + (va - f->va) || r.level != lvl ||
            r.prop != rights)
            DIFF_FAIL(d, "step %llu: translate_access(%#llx) fault %d pa %#llx level %d prop %#x",
                      VT_ULL(d->step), VT_ULL(va), r.fault, VT_ULL(r.pa), r.level, r.prop);
    } else {
        bool fine = (!present && r.fault == VMS_FAULT_NOT_PRESENT) ||
                    (wfault && r.fault == VMS_FAULT_WRITE) ||
                    (ufault && r.fault == VMS_FAULT_USER) || (xfault && r.fault == VMS_FAULT_EXEC);
        if (!fine)
            DIFF_FAIL(d, "step %llu: translate_access(%#llx, %#x) fault %d not a reason here",
                      VT_ULL(d->step), VT_ULL(va), kind, r.fault);
    }
}

static void probe_around(diff_t *d, uint64_t va, uint64_t len) {
    uint64_t last = va + len - K4;
    probe(d, va);
    probe(d, last + (K4 - 1));
    if (va >= K4) probe(d, va - K4);
    if (last + K4 != 0) probe(d, last + K4);
    probe(d, va + (rnd(d, len / K4) * K4) + rnd(d, K4));
    probe_access(d, va + rnd(d, len));
}

/* A cursor over [va, va + len): find_next finds the first mapped address, and next visits
 * exactly the model's leaves that overlap the window, in order. */
static void walk_cursor(diff_t *d, uint64_t va, uint64_t len) {
    vms_cursor_t c;
    vms_mapping_t m;
    uint64_t found = 0;
    size_t i = vt_model_lower(&d->m, va);
    const uint64_t last = va + (len - 1);
    bool any = i < d->m.n && d->m.v[i].va <= last;
    cr_assert(eq(int, vms_cursor_open(&c, &d->s, va, len), VMS_OK));
    int rc = vms_cursor_find_next(&c, len, &found);
    uint64_t want = any ? (d->m.v[i].va > va ? d->m.v[i].va : va) : 0;
    if (rc != (any ? VMS_OK : VMS_ERR_NOENT) || (any && found != want))
        DIFF_FAIL(d, "step %llu: find_next(%#llx, %#llx) %s found %#llx, model %s %#llx",
                  VT_ULL(d->step), VT_ULL(va), VT_ULL(len), vms_err_name(rc), VT_ULL(found),
                  any ? "at" : "nothing", VT_ULL(want));
    cr_assert(eq(int, vms_cursor_jump(&c, va), VMS_OK));
    for (; i < d->m.n && d->m.v[i].va <= last; i++) {
        const vt_leaf_t *f = &d->m.v[i];
        if (!vms_cursor_next(&c, &m))
            DIFF_FAIL(d, "step %llu: cursor next ended before %#llx", VT_ULL(d->step),
                      VT_ULL(f->va));
        if (m.va != f->va || m.pa != f->pa || m.size != f->size || m.prop != f->prop)
            DIFF_FAIL(d,
                      "step %llu: cursor next gave va %#llx size %#llx, model va %#llx size "
                      "%#llx",
                      VT_ULL(d->step), VT_ULL(m.va), VT_ULL(m.size), VT_ULL(f->va),
                      VT_ULL(f->size));
    }
    if (vms_cursor_next(&c, &m))
        DIFF_FAIL(d, "step %llu: cursor next gave extra va %#llx", VT_ULL(d->step), VT_ULL(m.va));
    vms_cursor_close(&c);
}

static void full_compare(diff_t *d) {
    if (!vt_compare_model(&d->s, &d->m, d->msg, sizeof d->msg))
        DIFF_FAIL(d, "step %llu: %s", VT_ULL(d->step), d->msg);
#ifdef VMSPACE_DEBUG
    const char *why = vms_space_check(&d->s);
    if (why) DIFF_FAIL(d, "step %llu: vms_space_check: %s", VT_ULL(d->step), why);
#endif
}

/* A map both sides must accept (a replacing one, or one into an empty range), done on both. */
static void map_both(diff_t *d, uint64_t va, uint64_t pa, uint64_t len, vms_prop_t p,
                     uint32_t flags) {
    uint64_t before = model_total(&d->m);
    int want = vt_model_map(&d->m, va, pa, len, p, flags);
    int rc = vms_space_map(&d->s, va, pa, len, p, flags);
    if (want == VMS_OK) d->removed += before + len - model_total(&d->m);
    if (rc != want)
        DIFF_FAIL(d, "step %llu: map %#llx pa %#llx len %#llx prop %#x flags %#x: %s, model %s",
                  VT_ULL(d->step), VT_ULL(va), VT_ULL(pa), VT_ULL(len), p, flags,
                  vms_err_name(rc), vms_err_name(want));
}

static void unmap_both(diff_t *d, uint64_t va, uint64_t len) {
    int rc = vms_space_unmap(&d->s, va, len);
    d->removed += vt_model_unmap(&d->m, va, len);
    if (rc != VMS_OK)
        DIFF_FAIL(d, "step %llu: unmap %#llx len %#llx: %s", VT_ULL(d->step), VT_ULL(va),
                  VT_ULL(len), vms_err_name(rc));
}

/* The table pages the model's leaves need (the library frees every emptied table). */
static void check_tables(diff_t *d, const char *what) {
    uint64_t got = vt_table_pages(&d->s), want = vt_model_table_pages(&d->m, d->s.levels);
    if (got != want)
        DIFF_FAIL(d, "step %llu: after %s: %llu table pages, model %llu", VT_ULL(d->step), what,
                  VT_ULL(got), VT_ULL(want));
}

/* The new address of a move of [va, va + len) (in region r): a distance that is a multiple
 * of 1 GiB (kind 0: into another region, or 1 GiB on), of 2 MiB (kind 1) or of 4 KiB (kind
 * 2), mostly short ones; where none fits in the region, the same address (an overlap). */
static uint64_t move_target(diff_t *d, const region_t *r, uint64_t va, uint64_t len,
                            int kind) {
    const int64_t o = (int64_t)(va - r->base), room = (int64_t)(REGION - len);
    const region_t *r2 = r;
    int64_t delta, o2;
    if (kind == 0) {
        if (rnd(d, 3) != 0) r2 = &d->reg[rnd(d, (uint64_t)d->nreg)];
        delta = (int64_t)G1 * ((int64_t)rnd(d, 3) - 1);
    } else if (kind == 1) {
        if (rnd(d, 4) == 0) r2 = &d->reg[rnd(d, (uint64_t)d->nreg)];
        delta = (int64_t)M2 * (int64_t)(1 + rnd(d, rnd(d, 4) == 0 ? 600 : 12));
    } else {
        delta = (int64_t)K4 * (int64_t)(1 + rnd(d, rnd(d, 4) == 0 ? 1100 : 200));
    }
    if (rnd(d, 2)) delta = -delta;
    o2 = o + delta;
    if (o2 < 0 || o2 > room) o2 = o - delta; /* the other way */
    if (o2 < 0 || o2 > room) o2 = o;
    return r2->base + (uint64_t)o2;
}

/* Set up blocks a collapse can fold, in region r: a run of 2 MiB blocks of 4 KiB pages
 * (frames 2 MiB-aligned), or 1 GiB of 2 MiB pages (frame 1 GiB-aligned) with a few blocks
 * of 4 KiB pages; then perhaps vary A/D on a few pages (still alike) or break one block
 * (a property, a frame out of sequence, a hole). The collapse range is set to the blocks,
 * sometimes one page wider or narrower at an end. */
static void collapse_prep(diff_t *d, const region_t *r, uint64_t *va, uint64_t *len) {
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    vms_prop_t p = random_prop(d, false);
    uint64_t pa_base = rnd(d, (uint64_t)1 << 21) << 30, vb, n, bs, pa;
    if (rnd(d, 3) != 0) { /* 2 MiB blocks */
        n = 1 + rnd(d, 4);
        bs = M2;
        if (rnd(d, 2))
            vb = r->win[rnd(d, NWIN)];
        else
            vb = r->base + rnd(d, REGION / M2 - n) * M2;
        if (vb - r->base + n * M2 > REGION) vb = r->base + REGION - n * M2;
        pa = pa_base + rnd(d, G1 / M2) * M2;
        map_both(d, vb, pa, n * M2, p, VMS_MAP_REPLACE | VMS_MAP_MAX_4K);
    } else { /* 1 GiB of 2 MiB pages, some of 4 KiB pages */
        n = 1;
        bs = G1;
        vb = r->base + rnd(d, 2) * G1;
        pa = pa_base;
        map_both(d, vb, pa, G1, p, VMS_MAP_REPLACE | VMS_MAP_MAX_2M);
        for (uint64_t k = rnd(d, 4); k; k--) {
            uint64_t b = rnd(d, G1 / M2) * M2;
            vms_prop_t q = rnd(d, 2) ? p : p ^ ((vms_prop_t)rnd(d, 4) * VMS_ACCESSED);
            map_both(d, vb + b, pa + b, M2, q, VMS_MAP_REPLACE | VMS_MAP_MAX_4K);
        }
    }
    uint64_t t = rnd(d, 6);
    if (t == 1 || t == 2) { /* A/D differ on a few pages */
        for (uint64_t k = 1 + rnd(d, 3); k; k--) {
            uint64_t off = rnd(d, n * bs / K4) * K4;
            const vt_leaf_t *f = vt_model_find(&d->m, vb + off);
            if (!f) continue;
            vms_prop_t q = (f->prop & ~ad) | ((vms_prop_t)rnd(d, 4) * VMS_ACCESSED);
            uint64_t at = f->va; /* the whole leaf, so its size stays */
            map_both(d, at, f->pa, f->size, q,
                     VMS_MAP_REPLACE | (f->size == K4 ? VMS_MAP_MAX_4K
                                        : f->size == M2 ? VMS_MAP_MAX_2M
                                                        : 0));
        }
    } else if (t == 3) { /* break one page or 2 MiB page */
        uint64_t off = rnd(d, n * bs / K4) * K4;
        const vt_leaf_t *f = vt_model_find(&d->m, vb + off);
        if (f) {
            uint64_t at = f->va, sz = f->size, fpa = f->pa;
            vms_prop_t q = f->prop;
            uint32_t cap = VMS_MAP_REPLACE | (sz == K4 ? VMS_MAP_MAX_4K : VMS_MAP_MAX_2M);
            switch (rnd(d, 4)) {
            case 0: q ^= VMS_W; break;
            case 1: q ^= VMS_CACHE_PAT(1 + rnd(d, 7)); break;
            case 2: fpa += sz * (1 + rnd(d, 3)); break;
            default: q = 0xffffffffu; break; /* a hole */
            }
            if (q == 0xffffffffu)
                unmap_both(d, at, sz);
            else
                map_both(d, at, fpa, sz, q, cap);
        }
    }
    *va = vb;
    *len = n * bs;
    switch (rnd(d, 8)) {
    case 0: /* a page short at the start */
        *va += K4;
        *len -= K4;
        break;
    case 1: *len -= K4; break; /* at the end */
    case 2:                    /* a page wider at both ends, inside the region */
        if (*va > r->base) {
            *va -= K4;
            *len += K4;
        }
        if (*va - r->base + *len < REGION) *len += K4;
        break;
    default: break;
    }
}

static void one_step(diff_t *d) {
    const region_t *r = &d->reg[rnd(d, (uint64_t)d->nreg)];
    uint64_t roll = rnd(d, 100), va, len;
    int grain = rnd(d, 10) < 6 ? 0 : rnd(d, 5) != 0 ? 1 : 2;
    int op = roll < 26   ? OP_MAP
             : roll < 32 ? OP_MAP_CURSOR
             : roll < 48 ? OP_UNMAP
             : roll < 53 ? OP_UNMAP_CURSOR
             : roll < 68 ? OP_PROTECT
             : roll < 73 ? OP_PROTECT_CURSOR
             : roll < 77 ? OP_PROTECT_MASK
             : roll < 80 ? OP_PROTECT_FN
             : roll < 84 ? OP_HARVEST
             : roll < 85 ? OP_CLONE
             : roll < 89 ? OP_MOVE
             : roll < 92 ? OP_COLLAPSE
                         : OP_PROBE;
    int rc, want;
    random_range(d, r, grain, &va, &len);
    d->counts[op]++;
    switch (op) {
    case OP_MAP:
    case OP_MAP_CURSOR: {
        vms_prop_t p = random_prop(d, false);
        uint32_t flags = rnd(d, 5) < 2 ? VMS_MAP_REPLACE : 0;
        uint64_t pa_base = rnd(d, (uint64_t)1 << 21) << 30, pa;
        uint64_t k = rnd(d, 10);
        if (grain == 0)
            pa = k < 5 ? pa_base + (va & (G1 - 1)) : pa_base + rnd(d, G1 / K4) * K4;
        else
            pa = k < 7 ? pa_base + (va & (G1 - 1)) : pa_base + rnd(d, G1 / M2) * M2;
        /* Caps: 4 KiB only where the range is small. */
        k = rnd(d, 20);
        if (k < 3)
            flags |= VMS_MAP_MAX_2M;
        else if (k < 5 && len <= 4 * M2)
            flags |= VMS_MAP_MAX_4K;
        if (!(flags & VMS_MAP_MAX_4K) && rnd(d, 8) == 0) flags |= VMS_MAP_COLLAPSE;
        logop(d, "%llu map va %#llx pa %#llx len %#llx prop %#x flags %#x", va, pa, len, p, flags);
        {
            uint64_t before = model_total(&d->m);
            want = vt_model_map(&d->m, va, pa, len, p, flags);
            if (want == VMS_OK) d->removed += before + len - model_total(&d->m);
        }
        if (op == OP_MAP) {
            rc = vms_space_map(&d->s, va, pa, len, p, flags);
        } else {
            vms_cursor_t c;
            /* Open a wider window than needed, and jump into it. */
            uint64_t lo = va - (((va - r->base) / 2) & ~(K4 - 1));
            cr_assert(eq(int, vms_cursor_open(&c, &d->s, lo, va + len - lo), VMS_OK));
            rc = vms_cursor_jump(&c, va);
            if (rc == VMS_OK) rc = vms_cursor_map_range(&c, pa, len, p, flags);
            /* The window ends at va + len, so the cursor must be at its end, and (unless that
             * end is the end of a half, which has no canonical form) report it. */
            if (rc == VMS_OK && c.va != c.end)
                DIFF_FAIL(d, "step %llu: cursor at %#llx after map_range", VT_ULL(d->step),
                          VT_ULL(c.va));
            if (rc == VMS_OK && va + len != 0 && vms_addr_is_canonical(va + len, d->s.levels) &&
                vms_cursor_addr(&c) != va + len)
                DIFF_FAIL(d, "step %llu: vms_cursor_addr %#llx after map_range, want %#llx",
                          VT_ULL(d->step), VT_ULL(vms_cursor_addr(&c)), VT_ULL(va + len));
            vms_cursor_close(&c);
        }
        break;
    }
    case OP_UNMAP:
    case OP_UNMAP_CURSOR: {
        uint64_t gone, done = 0;
        logop(d, "%llu unmap va %#llx len %#llx%.0llx%.0u%.0u", va, len, 0, 0, 0);
        gone = vt_model_unmap(&d->m, va, len);
        d->removed += gone;
        want = VMS_OK;
        if (op == OP_UNMAP) {
            rc = vms_space_unmap(&d->s, va, len);
        } else {
            vms_cursor_t c;
            cr_assert(eq(int, vms_cursor_open(&c, &d->s, va, len), VMS_OK));
            rc = vms_cursor_unmap(&c, len, &done);
            vms_cursor_close(&c);
            if (rc == VMS_OK && done != gone)
                DIFF_FAIL(d, "step %llu: cursor_unmap reported %#llx bytes, model %#llx",
                          VT_ULL(d->step), VT_ULL(done), VT_ULL(gone));
        }
        break;
    }
    case OP_PROTECT:
    case OP_PROTECT_CURSOR: {
        vms_prop_t p = random_prop(d, true);
        logop(d, "%llu protect va %#llx len %#llx%.0llx prop %#x%.0u", va, len, 0, p, 0);
        vt_model_protect(&d->m, va, len, p);
        want = VMS_OK;
        if (op == OP_PROTECT) {
            rc = vms_space_protect(&d->s, va, len, p);
        } else {
            vms_cursor_t c;
            cr_assert(eq(int, vms_cursor_open(&c, &d->s, va, len), VMS_OK));
            rc = vms_cursor_protect(&c, len, p);
            vms_cursor_close(&c);
        }
        break;
    }
    case OP_PROTECT_MASK: {
        /* Bits to set and clear among rights, user, global and software bits, disjoint. */
        const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
        vms_prop_t set = (vms_prop_t)rnd(d, 0x800) & rel & (vms_prop_t)rnd(d, 0x800);
        vms_prop_t clear = (vms_prop_t)rnd(d, 0x800) & rel & ~set;
        logop(d, "%llu protect_mask va %#llx len %#llx%.0llx set %#x clear %#x", va, len, 0, set,
              clear);
        vt_model_protect_mask(&d->m, va, len, set, clear);
        want = VMS_OK;
        rc = vms_space_protect_mask(&d->s, va, len, set, clear);
        break;
    }
    case OP_PROTECT_FN: {
        vms_prop_t mask = (vms_prop_t)rnd(d, 0x800);
        logop(d, "%llu protect_fn va %#llx len %#llx%.0llx mask %#x%.0u", va, len, 0, mask, 0);
        vt_model_protect_fn(&d->m, va, len, flip_by_va, &mask);
        want = VMS_OK;
        rc = vms_space_protect_fn(&d->s, va, len, flip_by_va, &mask);
        break;
    }
    case OP_CLONE: {
        /* Into a fresh child: it must hold the model's leaves of the range (split at its
         * edges) without A/D; with copy-on-write the parent changes as the model says. */
        vms_space_t child;
        vt_model_t t;
        bool cow = rnd(d, 2) != 0;
        size_t n, i, k;
        vms_mapping_t *got;
        logop(d, "%llu clone va %#llx len %#llx%.0llx cow %u%.0u", va, len, 0, cow, 0);
        memset(&t, 0, sizeof t);
        t.n = t.cap = d->m.n;
        t.v = (vt_leaf_t *)malloc((d->m.n + 1) * sizeof *t.v);
        cr_assert(t.v != NULL);
        memcpy(t.v, d->m.v, d->m.n * sizeof *t.v);
        vt_model_protect_fn(&t, va, len, cow ? cow_of : same, NULL);
        cr_assert(eq(int, vt_space_init(&child, d->s.levels, (uint64_t)16 << 20), VMS_OK));
        want = VMS_OK;
        rc = vms_space_clone(&child, &d->s, va, len, cow ? VMS_CLONE_COW : 0, NULL, NULL);
        got = vt_enumerate(&child, &n);
        k = 0;
        for (i = vt_model_lower(&t, va); rc == VMS_OK && i < t.n && t.v[i].va - va < len;
             i++, k++) {
            const vt_leaf_t *f = &t.v[i];
            vms_prop_t p = f->prop & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
            if (k >= n || got[k].va != f->va || got[k].pa != f->pa || got[k].size != f->size ||
                got[k].prop != p)
                DIFF_FAIL(d, "step %llu: clone: child differs at model leaf %#llx",
                          VT_ULL(d->step), VT_ULL(f->va));
        }
        if (rc == VMS_OK && k != n)
            DIFF_FAIL(d, "step %llu: clone: child has %zu mappings, model %zu", VT_ULL(d->step),
                      n, k);
        free(got);
        vms_space_destroy(&child);
        if (cow && rc == VMS_OK) {
            vt_model_free(&d->m);
            d->m = t;
        } else {
            vt_model_free(&t);
        }
        break;
    }
    case OP_MOVE: {
        /* To a new address at one of the three kinds of distance; the new range is emptied
         * first half the time, else whatever is there refuses the move. 4 KiB distances only
         * for ranges up to 16 MiB (a 1 GiB page moved by one becomes 262144 pages). */
        int kind = (int)rnd(d, 3);
        uint64_t nva;
        if (kind == 2 && len > 8 * M2) kind = (int)rnd(d, 2);
        nva = move_target(d, r, va, len, kind);
        bool apart = nva + (len - 1) < va || va + (len - 1) < nva;
        bool clear = apart && rnd(d, 2) != 0;
        logop(d, "%llu move va %#llx to %#llx len %#llx clear %u%.0u", va, nva, len, clear, 0);
        if (clear) unmap_both(d, nva, len);
        want = vt_model_move(&d->m, va, nva, len, false);
        rc = vms_space_move(&d->s, va, nva, len);
        if (rc != want)
            DIFF_FAIL(d, "step %llu: move %#llx -> %#llx len %#llx returned %s, model %s",
                      VT_ULL(d->step), VT_ULL(va), VT_ULL(nva), VT_ULL(len), vms_err_name(rc),
                      vms_err_name(want));
        if (rc == VMS_OK) d->moved++;
        check_tables(d, "move");
        probe_around(d, nva, len);
        break;
    }
    case OP_COLLAPSE: {
        /* Half the time over blocks set up to fold (or nearly); else over a random range.
         * *collapsed is set, not added to. */
        uint32_t flags = rnd(d, 4) == 0 ? VMS_MAP_MAX_2M : 0;
        uint64_t got = 0xdead000, made = 0;
        if (rnd(d, 2)) collapse_prep(d, r, &va, &len);
        if (rnd(d, 40) == 0) flags |= rnd(d, 2) ? VMS_MAP_REPLACE : 0x8u;
        logop(d, "%llu collapse va %#llx len %#llx%.0llx%.0u flags %#x", va, len, 0, 0, flags);
        if (flags & ~(uint32_t)VMS_MAP_MAX_2M) {
            want = VMS_ERR_FLAGS;
        } else {
            want = VMS_OK;
            made = vt_model_collapse(&d->m, va, len, flags, d->s.active_cpus != 0);
        }
        rc = vms_space_collapse(&d->s, va, len, flags, &got);
        if (rc == VMS_OK && got != made)
            DIFF_FAIL(d, "step %llu: collapse %#llx len %#llx flags %#x: %#llx bytes, model %#llx",
                      VT_ULL(d->step), VT_ULL(va), VT_ULL(len), flags, VT_ULL(got), VT_ULL(made));
        if (rc != VMS_OK && got != 0)
            DIFF_FAIL(d, "step %llu: a refused collapse set *collapsed %#llx", VT_ULL(d->step),
                      VT_ULL(got));
        d->collapsed += made;
        check_tables(d, "collapse");
        break;
    }
    case OP_HARVEST: {
        /* Reported bytes and bitmap as the model has them; the model's bits then cleared
         * and compared at the next full comparison. */
        vms_harvest_t h;
        size_t words = (size_t)(len >> 18) + 1;
        uint64_t *bm = (uint64_t *)calloc(words, 8), *mbm = (uint64_t *)calloc(words, 8);
        uint64_t found;
        cr_assert(bm && mbm);
        memset(&h, 0, sizeof h);
        h.bits = (vms_prop_t)(1 + rnd(d, 3)) * VMS_ACCESSED;
        h.flags = (uint32_t)rnd(d, 4);
        h.bitmap = bm;
        logop(d, "%llu harvest va %#llx len %#llx%.0llx bits %#x flags %#x", va, len, 0, h.bits,
              h.flags);
        found = vt_model_harvest(&d->m, va, len, h.bits, (h.flags & VMS_HARVEST_CLEAR) != 0, mbm);
        want = VMS_OK;
        rc = vms_space_harvest(&d->s, va, len, &h);
        if (rc == VMS_OK && h.found != found)
            DIFF_FAIL(d, "step %llu: harvest found %#llx bytes, model %#llx", VT_ULL(d->step),
                      VT_ULL(h.found), VT_ULL(found));
        if (rc == VMS_OK && memcmp(bm, mbm, words * 8) != 0)
            DIFF_FAIL(d, "step %llu: harvest bitmap differs from the model's", VT_ULL(d->step));
        free(bm);
        free(mbm);
        break;
    }
    default:
        logop(d, "%llu probe va %#llx len %#llx%.0llx%.0u%.0u", va, len, 0, 0, 0);
        for (int i = 0; i < 4; i++) {
            probe(d, va + rnd(d, len));
            probe_access(d, va + rnd(d, len));
        }
        if (rnd(d, 4) == 0) walk_cursor(d, va, len);
        /* A non-canonical neighbour of the region never translates. */
        {
            uint64_t bit62 = (uint64_t)1 << 62;
            uint64_t bad = (r->base >> 63) ? r->base & ~bit62 : r->base | bit62;
            vms_mapping_t q;
            if (vms_space_query(&d->s, bad, &q) != VMS_ERR_NONCANON)
                DIFF_FAIL(d, "step %llu: query(%#llx) not NONCANON", VT_ULL(d->step), VT_ULL(bad));
        }
        return;
    }
    if (rc != want)
        DIFF_FAIL(d, "step %llu: %s returned %s, model %s", VT_ULL(d->step), op_names[op],
                  vms_err_name(rc), vms_err_name(want));
    if (d->gone != d->removed)
        DIFF_FAIL(d, "step %llu: %s: the frames hook got %#llx bytes in all, the model %#llx",
                  VT_ULL(d->step), op_names[op], VT_ULL(d->gone), VT_ULL(d->removed));
    probe_around(d, va, len);
}

/* Debugging aid: print the model's leaves and the space's mappings near va (after a run
 * shortened with VMS_DIFF_OPS to stop just before a failing step). */
static void show(diff_t *d, uint64_t va) {
    uint64_t lo = (va & ~(M2 - 1)) - M2, hi = lo + 4 * M2;
    size_t n;
    vms_mapping_t *v = vt_enumerate(&d->s, &n);
    fprintf(stderr, "model near %#llx:\n", VT_ULL(va));
    for (size_t i = 0; i < d->m.n; i++)
        if (d->m.v[i].va + d->m.v[i].size > lo && d->m.v[i].va < hi)
            fprintf(stderr, "  va %#llx pa %#llx size %#llx prop %#x\n", VT_ULL(d->m.v[i].va),
                    VT_ULL(d->m.v[i].pa), VT_ULL(d->m.v[i].size), d->m.v[i].prop);
    fprintf(stderr, "space near %#llx:\n", VT_ULL(va));
    for (size_t i = 0; i < n; i++)
        if (v[i].va + v[i].size > lo && v[i].va < hi)
            fprintf(stderr, "  va %#llx pa %#llx size %#llx prop %#x\n", VT_ULL(v[i].va),
                    VT_ULL(v[i].pa), VT_ULL(v[i].size), v[i].prop);
    free(v);
}

static void run(int levels) {
    static diff_t d; /* large; keep it off the stack */
    uint64_t seed = vt_seed_from_env(DEFAULT_SEED + (uint64_t)levels);
    uint64_t ops = DEFAULT_OPS;
    uint64_t every = CHECK_EVERY_DEFAULT;
    const char *e = getenv("VMS_DIFF_OPS");
    if (e && *e) ops = strtoull(e, NULL, 0);
    e = getenv("VMS_DIFF_CHECK_EVERY");
    if (e && *e) every = strtoull(e, NULL, 0);
    if (every == 0) every = 1;
    memset(&d, 0, sizeof d);
    vt_rng_seed(&d.rng, seed);
    vt_model_init(&d.m);
    {
        vms_space_desc_t sd;
        memset(&sd, 0, sizeof sd);
        sd.levels = levels;
        sd.frames = count_gone; /* frames come back exactly as the model removes them */
        sd.hook_user = &d;
        cr_assert(eq(int, vms_space_init(&d.s, &sd), VMS_OK));
    }
    add_region(&d, 0);                           /* the first pages */
    add_region(&d, VT_SZ_512G - G1);             /* across a PML4 edge */
    add_region(&d, 0x0000800000000000 - REGION); /* the end of the 4-level lower half */
    add_region(&d, 0xffff800000000000);          /* the start of the 4-level high half */
    add_region(&d, 0 - REGION);                  /* the last bytes of the space */
    if (levels == 5) {
        add_region(&d, 0x0000800000000000);          /* just above 2^47 */
        add_region(&d, 0x0001000000000000 - G1);     /* across 2^48 (a PML5 edge) */
        add_region(&d, 0x0100000000000000 - REGION); /* the end of the 5-level lower half */
        add_region(&d, 0xff00000000000000);          /* the start of the 5-level high half */
    }
    printf("diff: levels %d seed %#llx (VMS_SEED=%llu to replay) ops %llu\n", levels, VT_ULL(seed),
           VT_ULL(seed), VT_ULL(ops));
    fflush(stdout);
    struct timespec t0, t1;
    clock_t c0 = clock();
    timespec_get(&t0, TIME_UTC);
    size_t max_leaves = 0;
    for (d.step = 0; d.step < ops; d.step++) {
        one_step(&d);
        if (d.m.n > max_leaves) max_leaves = d.m.n;
        if (d.step % every == every - 1) full_compare(&d);
    }
    e = getenv("VMS_DIFF_SHOW");
    if (e && *e) show(&d, strtoull(e, NULL, 0));
    full_compare(&d);
    /* Unmap everything: only the root may remain. */
    for (int i = 0; i < d.nreg; i++) {
        cr_assert(eq(int, vms_space_unmap(&d.s, d.reg[i].base, REGION), VMS_OK));
        vt_model_unmap(&d.m, d.reg[i].base, REGION);
    }
    full_compare(&d);
    cr_expect(eq(u64, vt_table_pages(&d.s), 1));
    timespec_get(&t1, TIME_UTC);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("diff: levels %d: %llu ops in %.2f s (%.2f s CPU) (map %llu, cursor map %llu, unmap "
           "%llu, cursor unmap %llu, protect %llu, cursor protect %llu, protect mask %llu, "
           "protect fn %llu, harvest %llu, clone %llu, move %llu (%llu moved), collapse %llu "
           "(%#llx bytes), probe %llu); most leaves %zu\n",
           levels, VT_ULL(ops), secs, cpu, VT_ULL(d.counts[0]), VT_ULL(d.counts[1]),
           VT_ULL(d.counts[2]), VT_ULL(d.counts[3]), VT_ULL(d.counts[4]), VT_ULL(d.counts[5]),
           VT_ULL(d.counts[6]), VT_ULL(d.counts[7]), VT_ULL(d.counts[8]), VT_ULL(d.counts[9]),
           VT_ULL(d.counts[OP_MOVE]), VT_ULL(d.moved), VT_ULL(d.counts[OP_COLLAPSE]),
           VT_ULL(d.collapsed), VT_ULL(d.counts[OP_PROBE]), max_leaves);
    fflush(stdout);
    vms_space_destroy(&d.s);
    vt_model_free(&d.m);
}

Test(diff, levels4, .timeout = 600) { run(4); }
Test(diff, levels5, .timeout = 600) { run(5); }
