/* libFuzzer harness for vmspace.h and vmspace_owner.h.
 *
 * The input bytes drive a sequence of operations over the whole API on one space (4 or 5
 * levels) and, when the input asks for one, an owner of leases. The space is compared with a
 * reference model written here: a sorted list of leaf pages (va, size, pa, prop) over a few
 * small regions of the address space, chosen so that operations collide. The model predicts
 * every result (error codes, page sizes after splits, the faults of copies, the leases a
 * conflict reports). A step with an allocation failure armed must either succeed or return
 * VMS_ERR_NOMEM and leave the tables, their digest and the leases exactly as they were.
 *
 * Checks come in two weights, so that an input runs in well under a millisecond:
 *   every step      the addresses the step touched (query, translate, translate_access, the
 *                   software TLB), the mapped-byte and frame counters, the flushes of every
 *                   translation the step removed or weakened (the model's old leaves in the
 *                   step's range against the new ones), the leases' bookkeeping;
 *   every FZ_FULL_EVERY steps and at the end
 *                   the full enumeration against the model, the table-page count and, under
 *                   VMSPACE_DEBUG, vms_space_check and vms_owner_check.
 * Each step declares the range it may change (fz_snap); a model change outside it aborts, so
 * the per-step diff cannot miss a change.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -DVMSPACE_DEBUG=1 -I<repo> this file and
 * fuzz_impl.c (the library), both with -fsanitize-coverage-ignorelist=coverage_ignore.txt,
 * fuzz_impl.c also with -fno-sanitize-coverage=trace-cmp. tools/fuzz.sh does that, and a
 * release-speed build for throughput, and runs them. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* The implementation is fuzz_impl.c, a unit of its own, so that it can be built without
 * comparison tracing (see there). */
#include "vmspace.h"
#include "vmspace_owner.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------
 * Failure reporting. */

static unsigned fz_step;
static int fz_trace; /* FZ_TRACE set in the environment: print each step */

static void fz_fail(int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\nfuzz_vmspace: mismatch at line %d, step %u: ", line, fz_step);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}
#define FZ_CHECK(c, ...)                          \
    do {                                          \
        if (!(c)) fz_fail(__LINE__, __VA_ARGS__); \
    } while (0)
#define FZ_EQ(a, b, what)                                                                    \
    do {                                                                                     \
        unsigned long long fz_a_ = (unsigned long long)(a), fz_b_ = (unsigned long long)(b); \
        if (fz_a_ != fz_b_)                                                                  \
            fz_fail(__LINE__, "%s: got %#llx, expected %#llx", what, fz_a_, fz_b_);          \
    } while (0)
#define FZ_ERR(got, want, what)                                                     \
    do {                                                                            \
        int fz_g_ = (got), fz_w_ = (want);                                          \
        if (fz_g_ != fz_w_)                                                         \
            fz_fail(__LINE__, "%s: got %s, expected %s", what, vms_err_name(fz_g_), \
                    vms_err_name(fz_w_));                                           \
    } while (0)

/* ------------------------------------------------------------------------------------------
 * Input bytes. */

static const uint8_t *fz_in;
static size_t fz_left;

static unsigned fz_u8(void) {
    if (!fz_left) return 0;
    fz_left--;
    return *fz_in++;
}
static unsigned fz_u16(void) { return fz_u8() | fz_u8() << 8; }

/* ------------------------------------------------------------------------------------------
 * The reference model: leaves sorted by linear address (sign bits stripped), disjoint. */

typedef struct fm_leaf_s {
    uint64_t lin, size, pa;
    vms_prop_t prop;
} fm_leaf_t;

typedef struct fm_s {
    fm_leaf_t *v;
    size_t n, cap;
    uint64_t bytes[3]; /* mapped bytes by leaf level, kept up to date by every change */
} fm_t;

#define FM_MAX_LEAVES 40000u

/* The linear range [fm_lo, fm_hi) the current step declared it may change (fz_snap): the
 * per-step flush check diffs only the leaves there, so a change elsewhere is a harness bug. */
static bool fm_open;
static uint64_t fm_lo, fm_hi;

static void fm_touch(uint64_t a, uint64_t b) {
    FZ_CHECK(fm_open && a >= fm_lo && b <= fm_hi,
             "harness: model change [%#llx, %#llx) outside the step's range [%#llx, %#llx)",
             (unsigned long long)a, (unsigned long long)b, (unsigned long long)fm_lo,
             (unsigned long long)fm_hi);
}

static int fm_levels;
static uint64_t fm_share_lo, fm_share_hi; /* the range fz_s shares with fz_mate (linear) */
static unsigned fm_bits(void) { return fm_levels == 5 ? 57u : 48u; }
static uint64_t fm_top(void) { return (uint64_t)1 << fm_bits(); }
static uint64_t fm_lin(uint64_t va) { return va & (fm_top() - 1u); }
static uint64_t fm_canon(uint64_t lin) {
    uint64_t sign = (uint64_t)1 << (fm_bits() - 1u);
    return (lin ^ sign) - sign;
}
static uint64_t fm_lsize(int l) { return (uint64_t)1 << (12 + 9 * (l - 1)); }
static int fm_level_of(uint64_t size) {
    return size == 0x1000 ? 1 : size == 0x200000 ? 2 : size == 0x40000000 ? 3 : 0;
}
static bool fm_canonical(uint64_t va) {
    unsigned sh = fm_bits() - 1u;
    return (va >> sh) == 0 || (va >> sh) == (UINT64_MAX >> sh);
}

static void fm_reserve(fm_t *m, size_t more) {
    if (m->n + more <= m->cap) return;
    m->cap = (m->n + more) * 2;
    m->v = (fm_leaf_t *)realloc(m->v, m->cap * sizeof *m->v);
    if (!m->v) abort();
}

/* Index of the first leaf that ends after lin. */
static size_t fm_lower(const fm_t *m, uint64_t lin) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->v[mid].lin + m->v[mid].size <= lin)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const fm_leaf_t *fm_find(const fm_t *m, uint64_t lin) {
    size_t i = fm_lower(m, lin);
    if (i < m->n && m->v[i].lin <= lin) return &m->v[i];
    return NULL;
}

/* Any leaf in [a, b) (lin, b > a, b may be fm_top()). */
static bool fm_any(const fm_t *m, uint64_t a, uint64_t b) {
    size_t i = fm_lower(m, a);
    return i < m->n && m->v[i].lin < b;
}

/* Split leaf i into its 512 children (one level, as the library splits). */
static void fm_split_one(fm_t *m, size_t i) {
    fm_leaf_t old = m->v[i];
    uint64_t csz = old.size >> 9, k;
    int l = fm_level_of(old.size);
    /* A split leaf must overlap the declared range: the snapshot holds it whole. */
    FZ_CHECK(fm_open && old.lin < fm_hi && old.lin + old.size > fm_lo,
             "harness: split of %#llx outside the step's range", (unsigned long long)old.lin);
    fm_reserve(m, 511);
    memmove(&m->v[i + 512], &m->v[i + 1], (m->n - i - 1) * sizeof *m->v);
    for (k = 0; k < 512; k++) {
        m->v[i + k].lin = old.lin + k * csz;
        m->v[i + k].size = csz;
        m->v[i + k].pa = old.pa + k * csz;
        m->v[i + k].prop = old.prop;
    }
    m->n += 511;
    m->bytes[l - 1] -= old.size;
    m->bytes[l - 2] += old.size;
}

/* Split the leaf holding x (if x is inside it, not at its start) down to the smallest pages
 * that keep every leaf either before or after x: the library splits one level at a time. */
static void fm_split_at(fm_t *m, uint64_t x) {
    for (;;) {
        size_t i = fm_lower(m, x);
        if (i >= m->n || m->v[i].lin >= x) return;
        fm_split_one(m, i);
    }
}

static void fm_remove(fm_t *m, uint64_t a, uint64_t b) {
    size_t i, j;
    fm_touch(a, b);
    fm_split_at(m, a);
    if (b < fm_top()) fm_split_at(m, b);
    i = fm_lower(m, a);
    j = i;
    while (j < m->n && m->v[j].lin < b) {
        m->bytes[fm_level_of(m->v[j].size) - 1] -= m->v[j].size;
        j++;
    }
    memmove(&m->v[i], &m->v[j], (m->n - j) * sizeof *m->v);
    m->n -= j - i;
}

static void fm_protect(fm_t *m, uint64_t a, uint64_t b, vms_prop_t prop) {
    size_t i;
    fm_touch(a, b);
    fm_split_at(m, a);
    if (b < fm_top()) fm_split_at(m, b);
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b; i++)
        m->v[i].prop =
            (prop & ~(VMS_ACCESSED | VMS_DIRTY)) | (m->v[i].prop & (VMS_ACCESSED | VMS_DIRTY));
}

/* A relative protect: clear, then set, in every leaf's property in [a, b). */
static void fm_protect_mask(fm_t *m, uint64_t a, uint64_t b, vms_prop_t set, vms_prop_t clear) {
    size_t i;
    fm_touch(a, b);
    fm_split_at(m, a);
    if (b < fm_top()) fm_split_at(m, b);
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b; i++)
        m->v[i].prop = (m->v[i].prop & ~clear) | set;
}

/* Protect by callback (fz_flip below): the same function on every leaf of [a, b), split at
 * the edges as the library splits. */
static vms_prop_t fz_flip(void *user, const vms_mapping_t *m);
static void fm_protect_fn(fm_t *m, uint64_t a, uint64_t b, vms_prop_t mask) {
    const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    size_t i;
    fm_touch(a, b);
    fm_split_at(m, a);
    if (b < fm_top()) fm_split_at(m, b);
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b; i++) {
        fm_leaf_t *f = &m->v[i];
        vms_mapping_t q;
        q.va = fm_canon(f->lin);
        q.pa = f->pa;
        q.size = f->size;
        q.prop = f->prop;
        f->prop = (fz_flip(&mask, &q) & rel) | (f->prop & ~rel);
    }
}

/* A copy-on-write clone's source: split at the edges, writable leaves lose W, gain COW. */
static void fm_cow(fm_t *m, uint64_t a, uint64_t b) {
    size_t i;
    fm_touch(a, b);
    fm_split_at(m, a);
    if (b < fm_top()) fm_split_at(m, b);
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b; i++)
        if (m->v[i].prop & VMS_W) m->v[i].prop = (m->v[i].prop & ~(vms_prop_t)VMS_W) | VMS_COW;
}

/* A move of [a, b) to [to, to + b - a) (the new range empty, apart from the old): every leaf,
 * cut at the edges, goes delta bytes on with its frame offset and property (A/D included),
 * as pages no larger than it had, the largest the new address, the frame and the rest of the
 * piece allow; the old range is removed as an unmap removes it (the edges split). `nv` gets
 * the new leaves (built first, so that one memmove makes room). Returns how many there are
 * (counted up to FZ_MAX_PLAN-like caps by the caller: see fz_op_move). In an active space a
 * writable leaf copied entry by entry (not relinked: its 2 MiB block, or the huge page itself,
 * is not wholly inside at a distance that keeps it aligned) gains A and D. */
static fm_leaf_t *fm_mv;
static size_t fm_mv_cap;
static size_t fm_move_plan(const fm_t *m, uint64_t a, uint64_t b, uint64_t to, size_t cap,
                           bool active) {
    size_t i, k = 0;
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b && k < cap; i++) {
        const fm_leaf_t *f = &m->v[i];
        uint64_t lo = f->lin > a ? f->lin : a, hi = f->lin + f->size < b ? f->lin + f->size : b;
        uint64_t v = lo - a + to, end = hi - a + to, p = f->pa + (lo - f->lin);
        uint64_t blk = f->size == 0x1000 ? 0x200000 : f->size, base = lo & ~(blk - 1);
        bool relinked = base >= a && b - base >= blk && !((to - a) & (blk - 1));
        vms_prop_t prop = f->prop;
        int maxl = fm_level_of(f->size);
        if (active && !relinked && (prop & VMS_W)) prop |= VMS_ACCESSED | VMS_DIRTY;
        while (v < end && k < cap) {
            int l = maxl;
            while (l > 1 && (((v | p) & (fm_lsize(l) - 1u)) || end - v < fm_lsize(l))) l--;
            if (k == fm_mv_cap) {
                fm_mv_cap = fm_mv_cap ? fm_mv_cap * 2 : 256;
                fm_mv = (fm_leaf_t *)realloc(fm_mv, fm_mv_cap * sizeof *fm_mv);
                if (!fm_mv) abort();
            }
            fm_mv[k].lin = v;
            fm_mv[k].size = fm_lsize(l);
            fm_mv[k].pa = p;
            fm_mv[k].prop = prop;
            k++;
            v += fm_lsize(l);
            p += fm_lsize(l);
        }
    }
    return k;
}

/* Apply a move planned by fm_move_plan (its k leaves in fm_mv). */
static void fm_move(fm_t *m, uint64_t a, uint64_t b, uint64_t to, size_t k) {
    size_t i, j;
    fm_remove(m, a, b);
    fm_touch(to, to + (b - a));
    i = fm_lower(m, to);
    FZ_CHECK(i == m->n || m->v[i].lin >= to + (b - a), "harness: move onto a mapped range");
    fm_reserve(m, k);
    memmove(&m->v[i + k], &m->v[i], (m->n - i) * sizeof *m->v);
    if (k) memcpy(&m->v[i], fm_mv, k * sizeof *m->v);
    m->n += k;
    for (j = 0; j < k; j++) m->bytes[fm_level_of(fm_mv[j].size) - 1] += fm_mv[j].size;
}

/* Collapse at level l + 1 of the aligned blocks wholly inside [lo, hi): 512 leaves of level l
 * with one property apart from A/D and contiguous frames from one aligned for l + 1 become
 * one leaf, A/D the union (and both set on a writable leaf when the space is active). The
 * new leaves are recorded in fz_made (for the flush check). Returns the bytes collapsed. */
#define FZ_MAX_MADE 256u
static struct {
    uint64_t lin, size;
    vms_prop_t prop;
} fz_made[FZ_MAX_MADE];
static unsigned fz_nmade;
static uint64_t fm_collapse_level(fm_t *m, uint64_t lo, uint64_t hi, int l, bool active) {
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    const uint64_t sz = fm_lsize(l), bs = fm_lsize(l + 1);
    uint64_t done = 0;
    size_t i, j;
    for (i = fm_lower(m, lo); i < m->n && m->v[i].lin < hi; i++) {
        fm_leaf_t *f = &m->v[i];
        vms_prop_t u = 0, p;
        if (f->size != sz || ((f->lin | f->pa) & (bs - 1u)) || f->lin < lo ||
            hi - f->lin < bs || i + 512 > m->n)
            continue;
        for (j = 0; j < 512; j++) {
            const fm_leaf_t *g = &m->v[i + j];
            if (g->size != sz || g->lin != f->lin + j * sz || g->pa != f->pa + j * sz ||
                ((g->prop ^ f->prop) & ~ad))
                break;
            u |= g->prop & ad;
        }
        if (j < 512) continue;
        p = (f->prop & ~ad) | u;
        if (active && (p & VMS_W)) p |= ad;
        fm_touch(f->lin, f->lin + bs);
        f->size = bs;
        f->prop = p;
        memmove(&m->v[i + 1], &m->v[i + 512], (m->n - i - 512) * sizeof *m->v);
        m->n -= 511;
        m->bytes[l - 1] -= bs;
        m->bytes[l] += bs;
        done += bs;
        if (fz_nmade < FZ_MAX_MADE) {
            fz_made[fz_nmade].lin = f->lin;
            fz_made[fz_nmade].size = bs;
            fz_made[fz_nmade].prop = p;
            fz_nmade++;
        }
    }
    return done;
}

/* Collapse of [a, b) as vms_space_collapse does it: 2 MiB blocks, then (unless max_2m) every
 * whole GiB of the range, its 2 MiB blocks first; returns the bytes held by new huge leaves
 * (a GiB that collapsed counts once, whatever 2 MiB blocks it took in). */
static uint64_t fm_collapse(fm_t *m, uint64_t a, uint64_t b, bool max_2m, bool active) {
    const uint64_t G = 0x40000000;
    uint64_t g0 = (a + G - 1u) & ~(G - 1u), g1 = b & ~(G - 1u), g, done;
    fz_nmade = 0;
    if (max_2m || g0 >= g1 || g0 < a) g0 = g1 = b;
    done = fm_collapse_level(m, a, g0, 1, active) + fm_collapse_level(m, g1, b, 1, active);
    /* Only the GiBs that hold a leaf: the range may span 2^47 bytes. */
    for (g = g0; g < g1;) {
        size_t i = fm_lower(m, g);
        uint64_t d1, d2;
        if (i >= m->n || m->v[i].lin >= g1) break;
        g = m->v[i].lin & ~(G - 1u);
        d2 = fm_collapse_level(m, g, g + G, 1, active);
        d1 = fm_collapse_level(m, g, g + G, 2, active);
        done += d1 ? d1 : d2;
        g += G;
    }
    return done;
}

/* Harvest of [a, b): the bytes reported; with clear, leaves wholly inside lose `bits`. */
static uint64_t fm_harvest(fm_t *m, uint64_t a, uint64_t b, vms_prop_t bits, bool clear) {
    uint64_t found = 0;
    size_t i;
    for (i = fm_lower(m, a); i < m->n && m->v[i].lin < b; i++) {
        fm_leaf_t *f = &m->v[i];
        uint64_t lo = f->lin > a ? f->lin : a, hi = f->lin + f->size < b ? f->lin + f->size : b;
        if (!(f->prop & bits)) continue;
        found += hi - lo;
        if (clear && f->lin >= a && f->lin + f->size <= b) {
            fm_touch(f->lin, f->lin + f->size);
            f->prop &= ~bits;
        }
    }
    return found;
}

/* Insert the leaves of a range map (largest page VA, PA and length allow, capped). The range
 * must be empty in the model. */
static void fm_insert_plan(fm_t *m, uint64_t a, uint64_t pa, uint64_t len, vms_prop_t prop,
                           int maxl) {
    size_t i = fm_lower(m, a);
    uint64_t va = a, end = a + len;
    size_t cnt = 0;
    fm_touch(a, end);
    /* Count first so that one memmove makes room. */
    {
        uint64_t v = va, p = pa;
        while (v < end) {
            int l = maxl;
            while (l > 1 && (((v | p) & (fm_lsize(l) - 1u)) || end - v < fm_lsize(l))) l--;
            v += fm_lsize(l);
            p += fm_lsize(l);
            cnt++;
        }
    }
    fm_reserve(m, cnt);
    memmove(&m->v[i + cnt], &m->v[i], (m->n - i) * sizeof *m->v);
    m->n += cnt;
    while (va < end) {
        int l = maxl;
        while (l > 1 && (((va | pa) & (fm_lsize(l) - 1u)) || end - va < fm_lsize(l))) l--;
        m->v[i].lin = va;
        m->v[i].size = fm_lsize(l);
        m->v[i].pa = pa;
        m->v[i].prop = prop;
        m->bytes[l - 1] += fm_lsize(l);
        i++;
        va += fm_lsize(l);
        pa += fm_lsize(l);
    }
}

/* Table pages a space holding these leaves needs, root included (no empty tables but the
 * shared slot's top table, which stays while the group lives). */
static uint64_t fm_table_pages(const fm_t *m) {
    uint64_t count = 1;
    int l;
    if (fm_share_hi > fm_share_lo && !fm_any(m, fm_share_lo, fm_share_hi)) count++;
    for (l = 1; l < fm_levels; l++) {
        uint64_t prev = UINT64_MAX;
        size_t i;
        for (i = 0; i < m->n; i++) {
            int ll = fm_level_of(m->v[i].size);
            uint64_t key;
            if (ll > l) continue;
            key = m->v[i].lin >> (12 + 9 * l);
            if (key != prev) count++;
            prev = key;
        }
    }
    return count;
}

/* Level at which a walk of lin stops on an unused entry (no leaf in that entry's block). */
static int fm_hole_level(const fm_t *m, uint64_t lin) {
    int l = fm_levels;
    if (lin >= fm_share_lo && lin < fm_share_hi) l--; /* the shared slot's table is always there */
    for (; l >= 1; l--) {
        uint64_t sz = fm_lsize(l), a = lin & ~(sz - 1u);
        if (!fm_any(m, a, a + sz)) return l;
    }
    return 1;
}

/* Same rule as the library for "this change must be flushed". */
static bool fm_weakens(vms_prop_t o, vms_prop_t n) {
    if (o & ~n & (VMS_R | VMS_W | VMS_X | VMS_USER)) return true;
    return ((o ^ n) & (VMS_CACHE_MASK | VMS_GLOBAL)) != 0;
}

/* ------------------------------------------------------------------------------------------
 * The world: one space, its model, data frames with a shadow copy, CPUs, an owner. */

#define FZ_ARENA_SIZE ((uint64_t)16 << 20)
#define FZ_DATA_SIZE ((uint64_t)2 << 20)
#define FZ_NCPU 4
#define FZ_MAX_LEASES 64
/* Steps per input: longer inputs add little that shorter ones cannot reach, and cost time
 * (the longest committed regression needs 56). */
#define FZ_MAX_STEPS 64
/* The full comparison every this many steps (and at the end of the input). */
#define FZ_FULL_EVERY 16
/* Dumps per input: each walks the whole space; later dump steps are skipped. */
#define FZ_MAX_DUMPS 2
/* Below this many leaves the table-page count is recomputed at every step. */
#define FZ_CHEAP_TABLES 1024u

typedef struct fz_lease_s {
    vms_lease_t h;
    vms_lease_kind kind;
    uint64_t va, len;
    uint64_t bytes; /* harness hash of the bytes when taken */
    bool live;
} fz_lease_t;

typedef struct fz_flush_s {
    uint64_t cpus;
    bool all, global;
    uint32_t nranges;
    struct {
        uint64_t va, len;
    } ranges[8];
} fz_flush_t;

static vms_space_t fz_s;     /* the space under test */
static vms_space_t fz_other; /* an empty space that competes for CPUs */
static vms_space_t fz_mate;  /* a space that shares one top-level slot of fz_s */
static vms_share_t fz_group;
static bool fz_have_space, fz_have_other, fz_have_mate;
static unsigned long fz_st_mate_runs, fz_st_mate_ops; /* FZ_STATS */
static fm_t fz_m, fz_old;   /* the model, and its leaves in the step's range before it */
static uint64_t fz_data_pa; /* FZ_DATA_SIZE bytes of data frames, 2 MiB aligned */
static uint8_t *fz_shadow;  /* what the data frames must hold */
/* The part of the shadow written since set-up: only it needs clearing for the next input. */
static uint64_t fz_shadow_lo = 0, fz_shadow_hi = FZ_DATA_SIZE;
static vms_swtlb_t fz_tlb;

static vms_space_t *fz_cur[FZ_NCPU]; /* what the harness thinks each CPU runs */
static vms_machine_t fz_machine;    /* the CPUs of both spaces */
static const int fz_cpu_ids[FZ_NCPU] = {0, 1, 7, VMSPACE_MAX_CPUS - 1};
/* Changes that removed, moved or weakened a translation: only those must be flushed, so only
 * those forbid a no-flush return to a CPU. Added rights need no flush (the CPU re-walks on
 * the fault), the same rule as for a CPU where the space stayed active. */
static uint64_t fz_weakenings;
static uint64_t fz_weak_left[FZ_NCPU]; /* fz_weakenings when fz_s left that CPU */
static bool fz_was_on[FZ_NCPU];
static int fz_cr3_calls;
static int fz_cr3_cpu;
static uint64_t fz_cr3;

static fz_flush_t fz_flushes[64];
static unsigned fz_nflush, fz_flush_other;

/* Owner state. */
static vms_owner_t fz_o;
static bool fz_have_owner, fz_shared;
static bool fz_owner_active;
static fz_lease_t fz_leases[FZ_MAX_LEASES];
static unsigned fz_nleases;
static uint64_t fz_dead[32]; /* released handles, for stale releases */
static unsigned fz_ndead;
static long fz_alloc_fail; /* owner allocator: fail the n-th next allocation (0 = never) */
static const char *fz_owner_broken;

static void fz_flush_hook(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    fz_flush_t *f;
    if (user != &fz_s) {
        fz_flush_other++;
        return;
    }
    if (fz_nflush == sizeof fz_flushes / sizeof fz_flushes[0]) {
        fz_flushes[fz_nflush - 1].all = true;
        return;
    }
    f = &fz_flushes[fz_nflush++];
    f->cpus = cpus;
    f->all = b->all;
    f->global = b->global;
    f->nranges = b->nranges;
    FZ_CHECK(b->nranges <= 8, "flush batch with %u ranges", b->nranges);
    memcpy(f->ranges, b->ranges, sizeof f->ranges);
}

static void fz_cr3_hook(void *user, int cpu, uint64_t cr3) {
    (void)user;
    fz_cr3_calls++;
    fz_cr3_cpu = cpu;
    fz_cr3 = cr3;
}

static void *fz_oalloc(void *user, size_t size) {
    (void)user;
    if (fz_alloc_fail > 0 && --fz_alloc_fail == 0) return NULL;
    return malloc(size);
}
static void fz_ofree(void *user, void *p, size_t size) {
    (void)user;
    (void)size;
    free(p);
}
static void fz_check_failed(void *user, const char *clause) {
    (void)user;
    if (!fz_owner_broken) fz_owner_broken = clause;
}

/* ------------------------------------------------------------------------------------------
 * Digest of everything an operation must not change when it fails: the tables reachable
 * from the root (and so the enumeration), the counters, the arena's frame count, the leases. */

static void fz_hash_tables(XXH3_state_t *h, uint64_t pa, int level) {
    const uint64_t *t = vms_space_table(&fz_s, pa);
    unsigned i;
    XXH3_64bits_update(h, &pa, sizeof pa);
    XXH3_64bits_update(h, t, 4096);
    if (level == 1) return;
    for (i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (vms_pte_is_used(e) && !vms_pte_is_leaf(e, level))
            fz_hash_tables(h, e & VMS_PTE_ADDR_MASK, level - 1);
    }
}

/* Field by field: the structs have padding. */
static int fz_hash_lease(void *user, const vms_lease_info_t *l) {
    uint64_t v[5];
    v[0] = l->handle.id;
    v[1] = l->serial;
    v[2] = l->va;
    v[3] = l->len;
    v[4] = (uint64_t)l->kind;
    XXH3_64bits_update((XXH3_state_t *)user, v, sizeof v);
    return 0;
}

static uint64_t fz_digest(void) {
    XXH3_state_t h;
    vms_stats_t st;
    XXH3_64bits_reset(&h);
    /* The table bytes determine the enumeration: no need to walk it as well. */
    fz_hash_tables(&h, fz_s.root_pa, fz_s.levels);
    vms_space_stats(&fz_s, &st);
    XXH3_64bits_update(&h, &st, sizeof st);
    XXH3_64bits_update(&h, &fz_s.arena.frames_in_use, 8);
    XXH3_64bits_update(&h, &fz_s.generation, 8);
    if (fz_have_owner) {
        vms_owner_stats_t os;
        vms_owner_foreach(&fz_o, 0, UINT64_MAX, fz_hash_lease, &h);
        vms_owner_stats(&fz_o, &os);
        XXH3_64bits_update(&h, &os.readers, 8);
        XXH3_64bits_update(&h, &os.writers, 8);
        XXH3_64bits_update(&h, &fz_o.active, sizeof fz_o.active);
    }
    return XXH3_64bits_digest(&h);
}

/* ------------------------------------------------------------------------------------------
 * Whole-space comparison with the model. */

typedef struct fz_cmp_s {
    size_t i;
} fz_cmp_t;

static int fz_cmp_mapping(void *user, const vms_mapping_t *mp) {
    fz_cmp_t *c = (fz_cmp_t *)user;
    const fm_leaf_t *l;
    FZ_CHECK(c->i < fz_m.n, "enumeration has an extra mapping at %#llx size %#llx",
             (unsigned long long)mp->va, (unsigned long long)mp->size);
    l = &fz_m.v[c->i];
    if (mp->va != fm_canon(l->lin) || mp->size != l->size || mp->pa != l->pa || mp->prop != l->prop)
        fz_fail(__LINE__,
                "mapping %zu: got va %#llx size %#llx pa %#llx prop %#x, expected va %#llx "
                "size %#llx pa %#llx prop %#x",
                c->i, (unsigned long long)mp->va, (unsigned long long)mp->size,
                (unsigned long long)mp->pa, mp->prop, (unsigned long long)fm_canon(l->lin),
                (unsigned long long)l->size, (unsigned long long)l->pa, l->prop);
    c->i++;
    return 0;
}

/* The enumeration, the counters and the table count against the model; the library's own
 * checker under VMSPACE_DEBUG. */
/* The mate sees the model's leaves in the shared slot and nothing else; it counts them, and
 * the slot's tables besides its root. */
static int fz_mate_mapping(void *user, const vms_mapping_t *got) {
    size_t *i = (size_t *)user;
    const fm_leaf_t *f;
    FZ_CHECK(fm_lin(got->va) >= fm_share_lo && fm_lin(got->va) < fm_share_hi,
             "mate maps %#llx outside the shared slot", (unsigned long long)got->va);
    f = fm_find(&fz_m, fm_lin(got->va));
    FZ_CHECK(f && f->lin == fm_lin(got->va), "mate maps %#llx, the model does not",
             (unsigned long long)got->va);
    FZ_EQ(got->pa, f->pa, "mate pa");
    FZ_EQ(got->size, f->size, "mate size");
    FZ_EQ(got->prop, f->prop, "mate prop");
    ++*i;
    return 0;
}

static void fz_compare_mate(void) {
    size_t seen = 0, want = 0, i;
    uint64_t bytes[3] = {0, 0, 0};
    vms_stats_t st;
    vms_space_enumerate(&fz_mate, fz_mate_mapping, &seen);
    for (i = fm_lower(&fz_m, fm_share_lo); i < fz_m.n && fz_m.v[i].lin < fm_share_hi; i++) {
        want++;
        bytes[fm_level_of(fz_m.v[i].size) - 1] += fz_m.v[i].size;
    }
    FZ_EQ(seen, want, "mate mappings");
    vms_space_stats(&fz_mate, &st);
    for (i = 0; i < 3; i++) FZ_EQ(st.mapped_bytes[i], bytes[i], "mate mapped bytes");
    FZ_EQ(st.table_pages, 1 + fz_group.counts.table_pages, "mate table pages");
#ifdef VMSPACE_DEBUG
    {
        const char *bad = vms_space_check(&fz_mate);
        FZ_CHECK(!bad, "vms_space_check of the mate: %s", bad);
    }
#endif
}

static void fz_compare_full(bool cursor_open) {
    fz_cmp_t c = {0};
    vms_stats_t st;
    uint64_t bytes[3] = {0, 0, 0};
    size_t i;
    vms_space_enumerate(&fz_s, fz_cmp_mapping, &c);
    FZ_EQ(c.i, fz_m.n, "number of mappings");
    for (i = 0; i < fz_m.n; i++) bytes[fm_level_of(fz_m.v[i].size) - 1] += fz_m.v[i].size;
    for (i = 0; i < 3; i++) FZ_EQ(fz_m.bytes[i], bytes[i], "harness: model byte counters");
    vms_space_stats(&fz_s, &st);
    FZ_EQ(st.mapped_bytes[0], bytes[0], "mapped bytes 4K");
    FZ_EQ(st.mapped_bytes[1], bytes[1], "mapped bytes 2M");
    FZ_EQ(st.mapped_bytes[2], bytes[2], "mapped bytes 1G");
    FZ_EQ(st.table_pages, fm_table_pages(&fz_m), "table pages");
    /* Every frame the arena handed out is a live table (data frames are not counted), the
     * mate's root besides. */
    if (!cursor_open)
        FZ_EQ(fz_s.arena.frames_in_use, st.table_pages + fz_have_mate, "arena frames in use");
    if (fz_have_mate) fz_compare_mate();
#ifdef VMSPACE_DEBUG
    {
        const char *bad = vms_space_check(&fz_s);
        FZ_CHECK(!bad, "vms_space_check: %s", bad);
    }
#endif
}

/* Addresses the current step touched, checked point by point after it (fz_quick). */
static uint64_t fz_pts[24];
static unsigned fz_npts;

static void fz_point(uint64_t va) {
    if (fz_npts < sizeof fz_pts / sizeof fz_pts[0]) fz_pts[fz_npts++] = va;
}

/* The edges of the linear range [a, b), the pages just outside them, and one inside. */
static void fz_point_range(uint64_t a, uint64_t b) {
    if (b <= a) return;
    fz_point(fm_canon(a));
    if (b - a > 0x1000) fz_point(fm_canon((b - 0x1000) & ~(uint64_t)0xfff));
    if (b - a > 0x2000) fz_point(fm_canon((a + (b - a) / 2) & ~(uint64_t)0xfff));
    if (a >= 0x1000) fz_point(fm_canon(a - 0x1000));
    if (b < fm_top()) fz_point(fm_canon(b));
}

/* Declare [a, b) (linear) the range this step may change, and keep the model's leaves there
 * for the flush check. */
static void fz_snap(uint64_t a, uint64_t b) {
    size_t i = fm_lower(&fz_m, a), j = i;
    FZ_CHECK(!fm_open, "harness: two snapshots in one step");
    while (j < fz_m.n && fz_m.v[j].lin < b) j++;
    fz_old.n = 0;
    fm_reserve(&fz_old, j - i + 1);
    if (j > i) memcpy(fz_old.v, &fz_m.v[i], (j - i) * sizeof *fz_m.v);
    fz_old.n = j - i;
    fm_open = true;
    fm_lo = a;
    fm_hi = b;
}

static void fz_check_va(uint64_t va);

/* The cheap comparison after every step (and every mutating cursor call): the counters, the
 * table count while the model is small, and the touched addresses. */
static void fz_quick(bool cursor_open) {
    vms_stats_t st;
    unsigned i;
    vms_space_stats(&fz_s, &st);
    FZ_EQ(st.mapped_bytes[0], fz_m.bytes[0], "mapped bytes 4K");
    FZ_EQ(st.mapped_bytes[1], fz_m.bytes[1], "mapped bytes 2M");
    FZ_EQ(st.mapped_bytes[2], fz_m.bytes[2], "mapped bytes 1G");
    if (fz_m.n <= FZ_CHEAP_TABLES) FZ_EQ(st.table_pages, fm_table_pages(&fz_m), "table pages");
    if (!cursor_open)
        FZ_EQ(fz_s.arena.frames_in_use, st.table_pages + fz_have_mate, "arena frames in use");
    for (i = 0; i < fz_npts; i++) fz_check_va(fz_pts[i]);
    fz_npts = 0;
}

/* Which data frames a leaf's range can be copied through (pa inside the data area). */
static bool fz_is_data(uint64_t pa, uint64_t len) {
    return pa >= fz_data_pa && pa - fz_data_pa < FZ_DATA_SIZE &&
           len <= FZ_DATA_SIZE - (pa - fz_data_pa);
}

/* ------------------------------------------------------------------------------------------
 * Flush and TLB checks over a step: every translation the step removed, moved or weakened
 * was flushed (if the space was active) and bumped the generation. */

static bool fz_flushed(uint64_t lin, uint64_t len, bool global) {
    unsigned k, r;
    uint64_t va = fm_canon(lin);
    for (k = 0; k < fz_nflush; k++) {
        const fz_flush_t *f = &fz_flushes[k];
        if (global && !f->global) continue;
        if (f->all) return true;
        for (r = 0; r < f->nranges; r++)
            if (f->ranges[r].va < va + len && va < f->ranges[r].va + f->ranges[r].len) return true;
    }
    return false;
}

static void fz_check_changes(uint64_t gen_before, uint64_t active_before) {
    size_t i, j = fz_old.n ? fm_lower(&fz_m, fz_old.v[0].lin) : 0;
    bool changed = false;
    for (i = 0; i < fz_old.n; i++) {
        const fm_leaf_t *o = &fz_old.v[i];
        uint64_t a = o->lin, end = o->lin + o->size;
        while (j < fz_m.n && fz_m.v[j].lin + fz_m.v[j].size <= a) j++;
        while (a < end) {
            const fm_leaf_t *n = (j < fz_m.n && fz_m.v[j].lin <= a) ? &fz_m.v[j] : NULL;
            uint64_t b;
            bool bad;
            if (n) {
                b = n->lin + n->size < end ? n->lin + n->size : end;
                bad = n->pa - n->lin != o->pa - o->lin || fm_weakens(o->prop, n->prop);
            } else {
                b = (j < fz_m.n && fz_m.v[j].lin < end) ? fz_m.v[j].lin : end;
                bad = true; /* removed */
            }
            /* Only a present translation can be cached (by a CPU or a software TLB); a
             * global one needs a global flush. */
            if (bad && (o->prop & VMS_R)) {
                bool global = (o->prop & VMS_GLOBAL) != 0;
                changed = true;
                if (active_before)
                    FZ_CHECK(fz_flushed(a, b - a, global), "change at %#llx (+%#llx) not flushed%s",
                             (unsigned long long)fm_canon(a), (unsigned long long)(b - a),
                             global ? " (global)" : "");
            }
            a = b;
            if (n && b == n->lin + n->size) j++;
        }
    }
    if (changed) {
        FZ_CHECK(fz_s.generation != gen_before, "translation changed, generation not");
        fz_weakenings++;
    }
    if (!active_before) FZ_EQ(fz_nflush, 0, "flushes sent to a space active nowhere");
    for (i = 0; i < fz_nflush; i++) {
        FZ_CHECK(fz_flushes[i].cpus != 0, "flush with no CPU");
        FZ_EQ(fz_flushes[i].cpus, fz_s.active_cpus, "flush CPUs");
    }
    fz_nflush = 0;
}

/* ------------------------------------------------------------------------------------------
 * Operands. */

static const uint64_t fz_regions[8] = {
    0x0,                /* the bottom: va 0 */
    0x40000000,         /* 1 GiB..: room for 1 GiB pages */
    0x7fffc00000,       /* across the 512 GiB (PML4 entry) boundary */
    0x00007fffffc00000, /* the top of the lower half with 4 levels */
    0xffff800000000000, /* the bottom of the upper half with 4 levels */
    0xffffffffffc00000, /* the top of the address space */
    0x0010000000000000, /* 2^52: canonical only with 5 levels */
    0xff00000000000000, /* the bottom of the upper half with 5 levels */
};

static uint64_t fz_va(void) {
    unsigned b = fz_u8(), g = fz_u8();
    uint64_t base = fz_regions[b & 7], off;
    unsigned idx = (b >> 3) & 7;
    switch (b >> 6) {
    case 0: off = (uint64_t)idx * 0x1000; break;
    case 1: off = (uint64_t)idx * 0x200000; break;
    case 2: off = (uint64_t)(idx & 1) * 0x40000000 + (uint64_t)(g & 7) * 0x200000; break;
    default: off = (uint64_t)(g & 15) * 0x1000 + (uint64_t)idx * 0x200000; break;
    }
    /* The 4 MiB windows at the tops: stay inside them unless the input asks to run over. */
    if (((b & 7) == 2 || (b & 7) == 3 || (b & 7) == 5) && !(g & 0x80)) off &= 0x3fffff;
    if (g == 0xff) off |= 0x800; /* an unaligned address now and then */
    return base + off;
}

static const uint64_t fz_lens[16] = {
    0x1000,           0x2000,     0x3000,   0x10000,  0x1ff000,
    0x200000,         0x201000,   0x400000, 0x3ff000, 0x40000000,
    0x40200000,       0x80000000, 0,        0x1800,   (uint64_t)1 << 63,
    ~(uint64_t)0xfff,
};

static uint64_t fz_len(void) { return fz_lens[fz_u8() & 15]; }

static uint64_t fz_pa(uint64_t len) {
    unsigned b = fz_u8();
    uint64_t pa;
    switch (b & 3) {
    case 0: /* the data frames, copyable */
        pa = fz_data_pa + (uint64_t)((b >> 2) & 15) * 0x1000;
        if ((b >> 6) == 3) pa = fz_data_pa;
        if (!fz_is_data(pa, len)) pa = (uint64_t)1 << 36;
        return pa;
    case 1: /* far above the arena, aligned as asked */
        pa = (uint64_t)1 << 32;
        if ((b >> 2) & 1)
            pa += 0x1000 * ((b >> 3) & 7);
        else if ((b >> 3) & 1)
            pa += 0x200000 * ((b >> 4) & 3);
        else
            pa += 0x40000000 * ((b >> 4) & 3);
        return pa;
    case 2: /* near the 52-bit limit: VMS_ERR_PHYS when the range runs over */
        return VMS_PHYS_LIMIT - (uint64_t)0x200000 * (1 + ((b >> 2) & 3));
    default:
        if ((b >> 2) & 1) return 0x1234800; /* unaligned */
        /* Below the arena (it starts at 16 MiB); keep the range below it. */
        if (len <= 0x800000) return 0x400000;
        return (uint64_t)1 << 40;
    }
}

static vms_prop_t fz_prop(void) {
    unsigned b = fz_u8(), c = fz_u8();
    vms_prop_t p = b & VMS_PROP_FLAGS_MASK & 0xffu;
    p |= (vms_prop_t)(c & 7) << 8 & VMS_PROP_FLAGS_MASK;
    if ((c >> 3) & 1) p |= VMS_CACHE_PAT((c >> 4) & 7);
    if (c == 0xf8) p |= VMS_CACHE_PAT(9);    /* VMS_ERR_CACHE */
    if (c == 0xf9) p |= (vms_prop_t)1 << 20; /* VMS_ERR_FLAGS */
    return p;
}

static int fz_prop_err(vms_prop_t p) {
    if (p & ~(VMS_PROP_FLAGS_MASK | VMS_CACHE_MASK)) return VMS_ERR_FLAGS;
    if (VMS_PROP_CACHE(p) > 7) return VMS_ERR_CACHE;
    return VMS_OK;
}

static int fz_range_err(uint64_t va, uint64_t len) {
    uint64_t last;
    if (!len) return VMS_ERR_ZEROLEN;
    if (!fm_canonical(va)) return VMS_ERR_NONCANON;
    if ((va | len) & 0xfff) return VMS_ERR_ALIGN;
    last = va + (len - 1);
    if (last < va || !fm_canonical(last) || (last >> 63) != (va >> 63)) return VMS_ERR_OVERFLOW;
    return VMS_OK;
}

static int fz_pa_err(uint64_t pa, uint64_t len) {
    if (pa & 0xfff) return VMS_ERR_ALIGN;
    if (pa >= VMS_PHYS_LIMIT || len > VMS_PHYS_LIMIT - pa) return VMS_ERR_PHYS;
    return VMS_OK;
}

static int fz_map_err(uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop, uint32_t flags) {
    int e = fz_range_err(va, len);
    if (e) return e;
    if ((e = fz_pa_err(pa, len))) return e;
    if (flags & ~VMS_MAP_FLAGS_MASK) return VMS_ERR_FLAGS;
    if ((flags & VMS_MAP_COLLAPSE) && (flags & VMS_MAP_MAX_4K)) return VMS_ERR_FLAGS;
    return fz_prop_err(prop);
}

static int fz_maxl(uint32_t flags) {
    return (flags & VMS_MAP_MAX_4K) ? 1 : (flags & VMS_MAP_MAX_2M) ? 2 : 3;
}

/* Leaves a map would produce, counted up to FZ_MAX_PLAN: maps of more are skipped, to keep
 * the model small. */
#define FZ_MAX_PLAN 4096u
static uint64_t fz_plan_count(uint64_t va, uint64_t pa, uint64_t len, int maxl) {
    uint64_t n = 0, end = va + len;
    while (va < end && n < FZ_MAX_PLAN) {
        int l = maxl;
        while (l > 1 && (((va | pa) & (fm_lsize(l) - 1u)) || end - va < fm_lsize(l))) l--;
        va += fm_lsize(l);
        pa += fm_lsize(l);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------
 * Leases in the model. */

static uint64_t fz_bytes_hash(uint64_t va, uint64_t len) {
    XXH3_state_t h;
    uint64_t a = fm_lin(va), end = a + len;
    XXH3_64bits_reset(&h);
    while (a < end) {
        const fm_leaf_t *l = fm_find(&fz_m, a);
        uint64_t b, pa;
        if (!l) { /* the whole hole at once, up to the next leaf */
            size_t i = fm_lower(&fz_m, a);
            uint64_t mark[2] = {a, 1};
            XXH3_64bits_update(&h, mark, sizeof mark);
            a = i < fz_m.n && fz_m.v[i].lin < end ? fz_m.v[i].lin : end;
            continue;
        }
        b = l->lin + l->size < end ? l->lin + l->size : end;
        pa = l->pa + (a - l->lin);
        if (fz_is_data(pa, b - a))
            XXH3_64bits_update(&h, fz_shadow + (pa - fz_data_pa), b - a);
        else {
            uint64_t mark[2] = {a, 2};
            XXH3_64bits_update(&h, mark, sizeof mark);
        }
        a = b;
    }
    return XXH3_64bits_digest(&h);
}

static bool fz_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
    return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* The first live lease (VA order, then slot) overlapping [va, va + len) that `want` accepts. */
static fz_lease_t *fz_first_lease(uint64_t va, uint64_t len, int want) {
    fz_lease_t *best = NULL;
    unsigned i;
    uint64_t last = va + (len - 1) < va ? UINT64_MAX : va + (len - 1);
    for (i = 0; i < fz_nleases; i++) {
        fz_lease_t *l = &fz_leases[i];
        if (!l->live || !fz_overlap(va, last - va + 1, l->va, l->len)) continue;
        if (want == 1 && l->kind != VMS_LEASE_WRITE) continue; /* writers only */
        if (!best || l->va < best->va ||
            (l->va == best->va && (uint32_t)l->h.id < (uint32_t)best->h.id))
            best = l;
    }
    return best;
}

static bool fz_any_lease(uint64_t va, uint64_t len) {
    return fz_have_owner && len && fz_first_lease(va, len, 0) != NULL;
}

static unsigned fz_live_leases(void) {
    unsigned i, n = 0;
    for (i = 0; i < fz_nleases; i++) n += fz_leases[i].live;
    return n;
}

/* The leases against the model; `full` adds the owner's own checker (it walks the space). */
static void fz_compare_owner(bool full) {
    vms_owner_stats_t st;
    unsigned i, r = 0, w = 0;
    if (!fz_have_owner) return;
    vms_owner_stats(&fz_o, &st);
    for (i = 0; i < fz_nleases; i++) {
        const fz_lease_t *l = &fz_leases[i];
        vms_lease_info_t info;
        if (!l->live) {
            FZ_CHECK(!vms_lease_is_live(&fz_o, l->h), "released lease still live");
            continue;
        }
        if (l->kind == VMS_LEASE_READ)
            r++;
        else
            w++;
        FZ_ERR(vms_lease_info(&fz_o, l->h, &info), VMS_OK, "lease info");
        FZ_EQ(info.va, l->va, "lease va");
        FZ_EQ(info.len, l->len, "lease len");
        FZ_EQ(info.kind, l->kind, "lease kind");
        FZ_EQ(info.handle.id, l->h.id, "lease handle");
    }
    FZ_EQ(st.readers, r, "owner readers");
    FZ_EQ(st.writers, w, "owner writers");
    FZ_EQ(vms_owner_is_active(&fz_o), fz_owner_active, "owner active");
    FZ_CHECK(!fz_owner_broken, "owner check failed after an operation: %s", fz_owner_broken);
#ifdef VMSPACE_DEBUG
    if (full) {
        /* reader_bytes_unchanged fails exactly when a reader's bytes were written around the
         * owner (vms_copy_to and friends, or a writer lease aliasing the same frames). */
        bool changed = false;
        const char *bad;
        for (i = 0; i < fz_nleases; i++) {
            const fz_lease_t *l = &fz_leases[i];
            if (l->live && l->kind == VMS_LEASE_READ && fz_bytes_hash(l->va, l->len) != l->bytes)
                changed = true;
        }
        bad = vms_owner_check(&fz_o);
        if (changed)
            FZ_CHECK(bad && !strcmp(bad, "reader_bytes_unchanged"), "owner check: %s",
                     bad ? bad : "(passed)");
        else
            FZ_CHECK(!bad, "owner check: %s", bad);
    }
#else
    (void)full;
#endif
}

/* ------------------------------------------------------------------------------------------
 * Point checks: query, translate, translate_access, the software TLB, the cursor query. */

static void fz_check_va(uint64_t va) {
    vms_mapping_t mp;
    const fm_leaf_t *l = fm_canonical(va) ? fm_find(&fz_m, fm_lin(va)) : NULL;
    uint64_t pa = 0, pa2 = 0;
    bool ok;
    unsigned acc;
    int rc = vms_space_query(&fz_s, va, &mp);
    if (!fm_canonical(va))
        FZ_ERR(rc, VMS_ERR_NONCANON, "query of non-canonical");
    else if (!l)
        FZ_ERR(rc, VMS_ERR_NOENT, "query of a hole");
    else {
        FZ_ERR(rc, VMS_OK, "query");
        FZ_EQ(mp.va, fm_canon(l->lin), "query va");
        FZ_EQ(mp.pa, l->pa, "query pa");
        FZ_EQ(mp.size, l->size, "query size");
        FZ_EQ(mp.prop, l->prop, "query prop");
    }
    ok = vms_translate(&fz_s, va, &pa);
    FZ_EQ(ok, l && (l->prop & VMS_R), "translate");
    if (ok) FZ_EQ(pa, l->pa + (fm_lin(va) - l->lin), "translate pa");
    ok = vms_swtlb_translate(&fz_tlb, va, &pa2);
    FZ_EQ(ok, l && (l->prop & VMS_R), "swtlb translate");
    if (ok) FZ_EQ(pa2, pa, "swtlb pa");
    for (acc = 0; acc < 8; acc++) {
        vms_access_result_t r;
        vms_fault want = VMS_FAULT_NONE;
        int wl;
        ok = vms_translate_access(&fz_s, va, acc, &r);
        if (!fm_canonical(va)) {
            want = VMS_FAULT_NONCANONICAL;
            wl = fm_levels;
        } else if (!l) {
            want = VMS_FAULT_NOT_PRESENT;
            wl = fm_hole_level(&fz_m, fm_lin(va));
        } else {
            wl = fm_level_of(l->size);
            if (!(l->prop & VMS_R))
                want = VMS_FAULT_NOT_PRESENT;
            else if ((acc & VMS_ACCESS_USER) && !(l->prop & VMS_USER))
                want = VMS_FAULT_USER;
            else if ((acc & VMS_ACCESS_WRITE) && !(l->prop & VMS_W))
                want = VMS_FAULT_WRITE;
            else if ((acc & VMS_ACCESS_EXEC) && !(l->prop & VMS_X))
                want = VMS_FAULT_EXEC;
        }
        FZ_EQ(ok, want == VMS_FAULT_NONE, "translate_access result");
        FZ_EQ(r.fault, want, "translate_access fault");
        FZ_EQ(r.level, wl, "translate_access level");
        if (ok) {
            FZ_EQ(r.pa, pa, "translate_access pa");
            FZ_EQ(r.prop, VMS_R | (l->prop & (VMS_W | VMS_X | VMS_USER)), "translate_access prop");
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Copies. Expected result: the bytes before the first page that faults for a user access. */

static void fz_copy_expect(uint64_t va, uint64_t len, bool write, vms_copy_result_t *want) {
    uint64_t done = 0;
    want->done = 0;
    want->fault = VMS_FAULT_NONE;
    want->fault_va = 0;
    while (done < len) {
        uint64_t cur = va + done, chunk;
        const fm_leaf_t *l = fm_canonical(cur) ? fm_find(&fz_m, fm_lin(cur)) : NULL;
        vms_fault f = VMS_FAULT_NONE;
        if (!fm_canonical(cur))
            f = VMS_FAULT_NONCANONICAL;
        else if (!l || !(l->prop & VMS_R))
            f = VMS_FAULT_NOT_PRESENT;
        else if (!(l->prop & VMS_USER))
            f = VMS_FAULT_USER;
        else if (write && !(l->prop & VMS_W))
            f = VMS_FAULT_WRITE;
        if (f == VMS_FAULT_NONE) {
            uint64_t off = fm_lin(cur) - l->lin;
            chunk = l->size - off;
            if (chunk > len - done) chunk = len - done;
            if (!fz_is_data(l->pa + off, chunk)) {
                /* Frames outside the arena fault; the harness maps none inside it but data. */
                uint64_t p = l->pa + off;
                if (!(p >= fz_s.prov.direct_map_lo && p < fz_s.prov.phys_limit &&
                      chunk <= fz_s.prov.phys_limit - p))
                    f = VMS_FAULT_PHYS;
                else
                    fz_fail(__LINE__, "harness mapped arena memory that is not data");
            }
        }
        if (f != VMS_FAULT_NONE) {
            want->fault = f;
            want->fault_va = cur;
            break;
        }
        done += chunk;
    }
    want->done = done;
}

/* Apply the effect of a successful part of a write to the shadow, as the model sees it. */
static void fz_shadow_write(uint64_t va, uint64_t n, const uint8_t *src, int fill) {
    uint64_t done = 0;
    while (done < n) {
        const fm_leaf_t *l = fm_find(&fz_m, fm_lin(va + done));
        uint64_t off = fm_lin(va + done) - l->lin, chunk = l->size - off, p;
        if (chunk > n - done) chunk = n - done;
        p = l->pa + off - fz_data_pa;
        if (p < fz_shadow_lo) fz_shadow_lo = p;
        if (p + chunk > fz_shadow_hi) fz_shadow_hi = p + chunk;
        if (src)
            memcpy(fz_shadow + p, src + done, chunk);
        else
            memset(fz_shadow + p, fill, chunk);
        done += chunk;
    }
}

/* The bytes [va, va + n) must read as the shadow says (through the model's translation). */
static void fz_check_bytes(uint64_t va, uint64_t n, const uint8_t *got) {
    uint64_t done = 0;
    while (done < n) {
        const fm_leaf_t *l = fm_find(&fz_m, fm_lin(va + done));
        uint64_t off = fm_lin(va + done) - l->lin, chunk = l->size - off, p;
        if (chunk > n - done) chunk = n - done;
        p = l->pa + off - fz_data_pa;
        FZ_CHECK(!memcmp(fz_shadow + p, got + done, chunk), "copied bytes differ at va %#llx",
                 (unsigned long long)(va + done));
        done += chunk;
    }
}

static uint8_t fz_buf[0x14000], fz_src[0x14000];

static void fz_op_copy(void) {
    static const uint64_t lens[8] = {0, 1, 8, 64, 0x1000, 0x1001, 0x3000, 0x12345};
    unsigned b = fz_u8(), i;
    uint64_t va = fz_va() + (fz_u8() & 0x3f);
    uint64_t len = lens[b & 7];
    vms_copy_result_t want, got;
    int rc;
    uint8_t seed = (uint8_t)fz_u8();
    for (i = 0; i < len; i++) fz_src[i] = (uint8_t)(seed + i * 7u);
    switch ((b >> 3) & 7) {
    case 0:
    case 1: /* copy_from */
        fz_copy_expect(va, len, false, &want);
        if (len && va + (len - 1) < va) {
            FZ_ERR(vms_copy_from(&fz_s, fz_buf, va, len, &got), VMS_ERR_OVERFLOW, "copy_from wrap");
            return;
        }
        rc = vms_copy_from(&fz_s, fz_buf, va, len, &got);
        FZ_ERR(rc, want.fault ? VMS_ERR_FAULT : VMS_OK, "copy_from");
        FZ_EQ(got.done, want.done, "copy_from done");
        FZ_EQ(got.fault, want.fault, "copy_from fault");
        if (want.fault) FZ_EQ(got.fault_va, want.fault_va, "copy_from fault va");
        fz_check_bytes(va, got.done, fz_buf);
        break;
    case 2:
    case 3: /* copy_to */
    case 4: /* fill */
        fz_copy_expect(va, len, true, &want);
        if (len && va + (len - 1) < va) {
            FZ_ERR(vms_copy_to(&fz_s, va, fz_src, len, &got), VMS_ERR_OVERFLOW, "copy_to wrap");
            return;
        }
        if (((b >> 3) & 7) == 4)
            rc = vms_fill(&fz_s, va, seed, len, &got);
        else
            rc = vms_copy_to(&fz_s, va, fz_src, len, &got);
        FZ_ERR(rc, want.fault ? VMS_ERR_FAULT : VMS_OK, "copy_to/fill");
        FZ_EQ(got.done, want.done, "copy_to done");
        FZ_EQ(got.fault, want.fault, "copy_to fault");
        if (want.fault) FZ_EQ(got.fault_va, want.fault_va, "copy_to fault va");
        fz_shadow_write(va, got.done, ((b >> 3) & 7) == 4 ? NULL : fz_src, seed);
        /* Read back through the library. */
        if (got.done) {
            FZ_ERR(vms_copy_from(&fz_s, fz_buf, va, got.done, NULL), VMS_OK, "read back");
            fz_check_bytes(va, got.done, fz_buf);
        }
        break;
    case 5:   /* read_val: all or nothing */
    case 6: { /* write_val */
        bool write = ((b >> 3) & 7) == 6;
        uint64_t vlen = (b >> 6) == 3 ? 65 : lens[b & 3] + (b >> 6) * 20;
        if (vlen > 64 && vlen != 65) vlen = 64;
        memset(fz_buf, 0xa5, 80);
        if (vlen > 64) {
            rc = write ? vms_write_val(&fz_s, va, fz_src, vlen, &got)
                       : vms_read_val(&fz_s, va, fz_buf, vlen, &got);
            FZ_ERR(rc, VMS_ERR_ARG, "read/write_val longer than 64");
            return;
        }
        fz_copy_expect(va, vlen, write, &want);
        if (vlen && va + (vlen - 1) < va) return;
        rc = write ? vms_write_val(&fz_s, va, fz_src, vlen, &got)
                   : vms_read_val(&fz_s, va, fz_buf, vlen, &got);
        FZ_ERR(rc, want.fault ? VMS_ERR_FAULT : VMS_OK, "read/write_val");
        FZ_EQ(got.fault, want.fault, "val fault");
        FZ_EQ(got.done, want.fault ? 0 : vlen, "val done");
        if (want.fault) {
            FZ_EQ(got.fault_va, want.fault_va, "val fault va");
            if (!write)
                for (i = 0; i < vlen; i++) FZ_EQ(fz_buf[i], 0xa5, "read_val wrote on a fault");
        } else if (write) {
            fz_shadow_write(va, vlen, fz_src, 0);
        } else {
            fz_check_bytes(va, vlen, fz_buf);
        }
        break;
    }
    default: /* a check of the data frames as the arena holds them */
        FZ_CHECK(!memcmp(vms_arena_ptr(&fz_s.arena, fz_data_pa), fz_shadow, FZ_DATA_SIZE),
                 "data frames differ from the shadow");
        break;
    }
}

/* ------------------------------------------------------------------------------------------
 * Range operations (direct, or through the owner). */

static uint64_t fz_gone;    /* bytes the frames hook was handed (fz_frames_hook) */
static vms_prop_t fz_clear; /* op 3 (relative protect): the bits cleared; prop is those set */

/* Op 4 (protect by callback): flip the rights a hash of the page's address picks in *mask. */
static vms_prop_t fz_flip(void *user, const vms_mapping_t *m) {
    const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    uint64_t h = (m->va >> 12) * 0x9e3779b97f4a7c15u;
    return m->prop ^ ((vms_prop_t)(h >> 40) & *(const vms_prop_t *)user & rel);
}

static void fz_apply_ok(int op, uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop,
                        uint32_t flags) {
    uint64_t a = fm_lin(va);
    if (op == 0) {
        if (flags & VMS_MAP_REPLACE) fm_remove(&fz_m, a, a + len);
        fm_insert_plan(&fz_m, a, pa, len, prop, fz_maxl(flags));
        if (flags & VMS_MAP_COLLAPSE) { /* the blocks the range touches, in whole */
            uint64_t b = (flags & VMS_MAP_MAX_2M) ? 0x200000 : 0x40000000;
            (void)fm_collapse(&fz_m, a & ~(b - 1), ((a + len - 1) | (b - 1)) + 1,
                              (flags & VMS_MAP_MAX_2M) != 0, fz_s.active_cpus != 0);
        }
    } else if (op == 1) {
        fm_remove(&fz_m, a, a + len);
    } else if (op == 3) {
        fm_protect_mask(&fz_m, a, a + len, prop, fz_clear);
    } else if (op == 4) {
        fm_protect_fn(&fz_m, a, a + len, prop);
    } else {
        fm_protect(&fz_m, a, a + len, prop);
    }
}

static void fz_op_range(int op, bool fail) {
    uint64_t va = fz_va(), len = fz_len(), pa = 0;
    vms_prop_t prop = 0;
    uint32_t flags = 0;
    unsigned how = fz_u8();
    bool via_owner = fz_have_owner && ((how & 1) || fz_any_lease(va, len));
    int want, rc;
    uint64_t before = 0, gone0, total0;
    fz_lease_t *blk = NULL;
    vms_lease_t got_blk = {12345};
    vms_space_t *sp = &fz_s;
    /* A range inside the shared slot, now and then through the mate: the same tables. */
    if (fz_have_mate && !via_owner && fz_range_err(va, len) == VMS_OK &&
        fm_lin(va) >= fm_share_lo && fm_lin(va) + len <= fm_share_hi && (fz_u8() & 1)) {
        sp = &fz_mate;
        fz_st_mate_ops++;
    }
    if (op == 0) {
        flags = (how >> 1) & 7;
        if ((how & 0x30) == 0x30) flags |= VMS_MAP_COLLAPSE; /* with MAX_4K: bad flags */
        if (how == 0xff) flags |= 0x100;
        pa = fz_pa(len);
        prop = fz_prop();
        want = fz_map_err(va, pa, len, prop, flags);
    } else {
        want = fz_range_err(va, len);
        if (op == 2) {
            prop = fz_prop();
            if (!want) want = fz_prop_err(prop);
        } else if (op == 3) {
            const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
            prop = fz_prop();
            fz_clear = fz_prop();
            if (!(how & 2)) fz_clear &= ~prop; /* mostly disjoint */
            if (!want && ((prop | fz_clear) & ~rel)) want = VMS_ERR_FLAGS;
            if (!want && (prop & fz_clear)) want = VMS_ERR_ARG;
        } else if (op == 4) {
            prop = fz_prop(); /* the mask of rights the callback may flip */
        }
    }
    if (fz_range_err(va, len) == VMS_OK && op == 0 && (flags & VMS_MAP_COLLAPSE)) {
        /* A collapsing map may change the blocks around its range. */
        uint64_t b = (flags & VMS_MAP_MAX_2M) ? 0x200000 : 0x40000000, a = fm_lin(va);
        fz_snap(a & ~(b - 1), ((a + len - 1) | (b - 1)) + 1);
        fz_point_range(a & ~(b - 1), ((a + len - 1) | (b - 1)) + 1);
    } else if (fz_range_err(va, len) == VMS_OK) {
        fz_snap(fm_lin(va), fm_lin(va) + len);
        fz_point_range(fm_lin(va), fm_lin(va) + len);
    } else {
        fz_point(va);
    }
    /* Keep the model small: a 4 KiB cap over a long range would make 2^18 leaves. */
    if (!want && op == 0 && fz_plan_count(fm_lin(va), pa, len, fz_maxl(flags)) >= FZ_MAX_PLAN)
        return;
    /* The owner checks every argument, then the leases in the way, then the tables. */
    if (via_owner && !want && op == 0 && (flags & VMS_MAP_COLLAPSE)) {
        /* A collapsing map: the leases in the blocks its collapse reaches. */
        uint64_t b = (flags & VMS_MAP_MAX_2M) ? 0x200000 : 0x40000000, lo = va & ~(b - 1);
        uint64_t last = (va + (len - 1)) | (b - 1);
        if ((blk = fz_first_lease(lo, last - lo + 1, 0)) != NULL) want = VMS_ERR_BUSY;
    } else if (via_owner && !want && (op != 0 || (flags & VMS_MAP_REPLACE)) &&
               (blk = fz_first_lease(va, len, 0)) != NULL) {
        want = VMS_ERR_BUSY;
    }
    if (!want && op == 0 && !(flags & VMS_MAP_REPLACE) &&
        fm_any(&fz_m, fm_lin(va), fm_lin(va) + len))
        want = VMS_ERR_EXIST;
    if (fail) {
        fz_s.arena.fail_after = 1 + (how >> 4);
        fz_alloc_fail = 0;
        before = fz_digest();
    }
    gone0 = fz_gone;
    total0 = fz_m.bytes[0] + fz_m.bytes[1] + fz_m.bytes[2];
    if (via_owner) {
        if (op == 0)
            rc = vms_owner_map(&fz_o, va, pa, len, prop, flags, &got_blk);
        else if (op == 1)
            rc = vms_owner_unmap(&fz_o, va, len, &got_blk);
        else if (op == 2)
            rc = vms_owner_protect(&fz_o, va, len, prop, &got_blk);
        else if (op == 3)
            rc = vms_owner_protect_mask(&fz_o, va, len, prop, fz_clear, &got_blk);
        else
            rc = vms_owner_protect_fn(&fz_o, va, len, fz_flip, &prop, &got_blk);
    } else {
        if (op == 0)
            rc = vms_space_map(sp, va, pa, len, prop, flags);
        else if (op == 1)
            rc = vms_space_unmap(sp, va, len);
        else if (op == 2)
            rc = vms_space_protect(sp, va, len, prop);
        else if (op == 3)
            rc = vms_space_protect_mask(sp, va, len, prop, fz_clear);
        else
            rc = vms_space_protect_fn(sp, va, len, fz_flip, &prop);
    }
    fz_s.arena.fail_after = 0;
    if (fail && rc == VMS_ERR_NOMEM && !want) {
        FZ_EQ(fz_digest(), before, "digest after VMS_ERR_NOMEM");
        FZ_EQ(fz_gone, gone0, "frames handed back by a failed call");
        return;
    }
    FZ_ERR(rc, want,
           op == 0   ? "map"
           : op == 1 ? "unmap"
           : op == 2 ? "protect"
           : op == 3 ? "protect_mask"
                     : "protect_fn");
    if (via_owner) {
        if (rc == VMS_ERR_BUSY)
            FZ_EQ(got_blk.id, blk->h.id, "blocker");
        else
            FZ_EQ(got_blk.id, 0, "blocker when not busy");
    }
    if (rc == VMS_OK) fz_apply_ok(op, va, pa, len, prop, flags);
    /* Unmaps and replaces hand back exactly the bytes the model lost. */
    FZ_EQ(fz_gone - gone0,
          total0 + (rc == VMS_OK && op == 0 ? len : 0) -
              (fz_m.bytes[0] + fz_m.bytes[1] + fz_m.bytes[2]),
          "frames handed back");
}

/* Harvest: bits and flags from the input (bad ones too), the count and bitmap against the
 * model, and with the space active, every cleared dirty page that was present flushed. It
 * never allocates, so an armed failure must not matter. */
static void fz_op_harvest(bool fail) {
    uint64_t va = fz_va(), len = fz_len();
    unsigned b = fz_u8();
    vms_harvest_t h;
    uint64_t found = 0, bm[64], *want_bm = NULL;
    int want = fz_range_err(va, len), rc;
    bool clear;
    memset(&h, 0, sizeof h);
    h.bits = (b & 0x80) ? (vms_prop_t)(b & 0x7f) : (vms_prop_t)(1 + (b & 3) % 3) * VMS_ACCESSED;
    h.flags = (b >> 2) & ((b & 0x40) ? 7u : 3u);
    if (!want && (!h.bits || (h.bits & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY)) || h.flags > 3))
        want = VMS_ERR_FLAGS;
    clear = (h.flags & VMS_HARVEST_CLEAR) != 0;
    memset(bm, 0, sizeof bm);
    if (!want && len <= (uint64_t)64 * 64 * 0x1000) h.bitmap = bm;
    if (want == VMS_OK) {
        uint64_t a = fm_lin(va);
        size_t i;
        fz_snap(a, a + len);
        fz_point_range(a, a + len);
        if (h.bitmap) {
            want_bm = (uint64_t *)calloc(64, 8);
            if (!want_bm) abort();
            for (i = fm_lower(&fz_m, a); i < fz_m.n && fz_m.v[i].lin < a + len; i++) {
                const fm_leaf_t *f = &fz_m.v[i];
                uint64_t lo = f->lin > a ? f->lin : a, p;
                uint64_t hi = f->lin + f->size < a + len ? f->lin + f->size : a + len;
                if (f->prop & h.bits)
                    for (p = lo; p < hi; p += 0x1000)
                        want_bm[(p - a) >> 18] |= (uint64_t)1 << (((p - a) >> 12) & 63);
            }
        }
        found = fm_harvest(&fz_m, a, a + len, h.bits, false); /* the count, before clearing */
    } else {
        fz_point(va);
    }
    if (fail) fz_s.arena.fail_after = 1;
    rc = vms_space_harvest(&fz_s, va, len, &h);
    fz_s.arena.fail_after = 0;
    FZ_ERR(rc, want, "harvest");
    if (rc != VMS_OK) {
        free(want_bm);
        return;
    }
    FZ_EQ(h.found, found, "harvest found");
    if (want_bm) FZ_CHECK(!memcmp(bm, want_bm, sizeof bm), "harvest bitmap");
    free(want_bm);
    if (clear) {
        uint64_t a = fm_lin(va);
        size_t i;
        /* Every present leaf wholly inside that had D (if asked for) was flushed. */
        for (i = fm_lower(&fz_m, a); i < fz_m.n && fz_m.v[i].lin < a + len; i++) {
            const fm_leaf_t *f = &fz_m.v[i];
            if (f->lin < a || f->lin + f->size > a + len || !(f->prop & VMS_R)) continue;
            if ((f->prop & h.bits & VMS_DIRTY) ||
                ((h.flags & VMS_HARVEST_FLUSH_ACCESSED) && (f->prop & h.bits & VMS_ACCESSED)))
                if (fz_s.active_cpus)
                    FZ_CHECK(fz_flushed(f->lin, f->size, (f->prop & VMS_GLOBAL) != 0),
                             "cleared D/A at %#llx not flushed",
                             (unsigned long long)fm_canon(f->lin));
        }
        (void)fm_harvest(&fz_m, a, a + len, h.bits, true);
    }
}

/* Clone a range into a scratch space: at sampled addresses the child maps what the parent
 * mapped (A/D stripped, W turned into COW with copy-on-write); with copy-on-write the parent
 * changes as the model says; a failed clone (an injected failure on either side, or the
 * scratch arena running out) leaves the parent as it was and the child empty. */
static _Alignas(4096) uint8_t fz_mem_clone[(uint64_t)4 << 20];
static void fz_op_clone(bool fail) {
    uint64_t va = fz_va(), len = fz_len(), before = 0, pts[8];
    unsigned b = fz_u8(), k, npts = 0;
    bool cow = (b & 1) != 0;
    const fm_leaf_t *had[8];
    fm_leaf_t was[8];
    vms_space_t child;
    vms_space_desc_t d;
    int want = fz_range_err(va, len), rc;
    memset(&d, 0, sizeof d);
    d.levels = fm_levels;
    d.arena.size = sizeof fz_mem_clone;
    d.arena.memory = fz_mem_clone;
    if (vms_space_init(&child, &d) != VMS_OK) return;
    if (!want) {
        uint64_t a = fm_lin(va);
        fz_snap(a, a + len);
        fz_point_range(a, a + len);
        for (k = 0; k < 8; k++) {
            pts[npts] = a + ((fz_u8() * (len >> 12) / 256) << 12);
            had[npts] = fm_find(&fz_m, pts[npts]);
            if (had[npts]) was[npts] = *had[npts];
            npts++;
        }
    } else {
        fz_point(va);
    }
    if (fail) {
        if (b & 2) fz_s.arena.fail_after = 1 + (b >> 4);
        else child.arena.fail_after = 1 + (b >> 4);
    }
    before = fz_digest();
    /* With an owner, through it: a copy-on-write clone under a lease is refused. */
    if (fz_have_owner) {
        vms_lease_t got = {12345};
        fz_lease_t *blk = !want && cow ? fz_first_lease(va, len, 0) : NULL;
        if (blk) want = VMS_ERR_BUSY;
        rc = vms_owner_clone(&fz_o, &child, va, len, cow ? VMS_CLONE_COW : 0, NULL, NULL, &got);
        FZ_EQ(got.id, rc == VMS_ERR_BUSY && blk ? blk->h.id : 0, "clone blocker");
    } else {
        rc = vms_space_clone(&child, &fz_s, va, len, cow ? VMS_CLONE_COW : 0, NULL, NULL);
    }
    fz_s.arena.fail_after = 0;
    if (rc == VMS_ERR_NOMEM && !want) {
        FZ_EQ(fz_digest(), before, "digest after a failed clone");
        FZ_EQ(child.counts.mapped_bytes[0] + child.counts.mapped_bytes[1] +
                  child.counts.mapped_bytes[2],
              0,
              "a failed clone left mappings in the child");
        FZ_EQ(child.counts.table_pages, 1, "a failed clone left tables in the child");
    } else {
        FZ_ERR(rc, want, "clone");
    }
    if (rc == VMS_OK) {
        for (k = 0; k < npts; k++) {
            vms_mapping_t m;
            int q = vms_space_query(&child, fm_canon(pts[k]), &m);
            if (!had[k]) {
                FZ_EQ(q, VMS_ERR_NOENT, "clone mapped a hole");
                continue;
            }
            vms_prop_t p = was[k].prop & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
            if (cow && (p & VMS_W)) p = (p & ~(vms_prop_t)VMS_W) | VMS_COW;
            FZ_EQ(q, VMS_OK, "clone query");
            FZ_EQ(m.pa + (fm_canon(pts[k]) - m.va), was[k].pa + (pts[k] - was[k].lin), "clone pa");
            FZ_EQ(m.prop, p, "clone prop");
        }
        if (cow) fm_cow(&fz_m, fm_lin(va), fm_lin(va) + len);
    }
    vms_space_destroy(&child);
}

/* ------------------------------------------------------------------------------------------
 * Move and collapse (op 14 with bits 4-5 set: 1 and 3 move, 2 collapse). */

/* How often each outcome was seen (FZ_STATS set in the environment: printed at exit). */
static unsigned long fz_st_move[VMS__ERR_COUNT + 1], fz_st_move_nomem, fz_st_move_skip;
static unsigned long fz_st_move_owner, fz_st_move_moved, fz_st_move_delta[5];
static unsigned long fz_st_col[VMS__ERR_COUNT + 1], fz_st_col_owner, fz_st_col_2m, fz_st_col_1g;
static unsigned long fz_st_col_made, fz_st_col_active_w;

static void fz_print_stats(void) {
    int e;
    fprintf(stderr, "fuzz_vmspace stats: move owner %lu moved-something %lu nomem %lu "
            "skipped (too many leaves) %lu; deltas 4K %lu 2M %lu 1G %lu 512G %lu other %lu\n",
            fz_st_move_owner, fz_st_move_moved, fz_st_move_nomem, fz_st_move_skip,
            fz_st_move_delta[0], fz_st_move_delta[1], fz_st_move_delta[2], fz_st_move_delta[3],
            fz_st_move_delta[4]);
    for (e = 0; e <= VMS__ERR_COUNT; e++)
        if (fz_st_move[e]) fprintf(stderr, "  move %-18s %lu\n", vms_err_name(-e), fz_st_move[e]);
    fprintf(stderr, "  collapse owner %lu, made-something %lu (2M leaves %lu, 1G leaves %lu, "
            "A/D forced on an active space %lu)\n",
            fz_st_col_owner, fz_st_col_made, fz_st_col_2m, fz_st_col_1g, fz_st_col_active_w);
    for (e = 0; e <= VMS__ERR_COUNT; e++)
        if (fz_st_col[e]) fprintf(stderr, "  collapse %-14s %lu\n", vms_err_name(-e), fz_st_col[e]);
    fprintf(stderr, "  runs with a space sharing a slot %lu, range steps through it %lu\n",
            fz_st_mate_runs, fz_st_mate_ops);
}

/* Move [old, old + len) to new (decoded relative to old: 4 KiB, 2 MiB, 1 GiB, 512 GiB or mixed
 * multiples either way; or a second address of its own). Direct, or through the owner (then
 * a lease over either range refuses it first). An armed allocation failure must leave the
 * space exactly as it was; so must every error. */
static void fz_op_move(bool fail) {
    static const uint64_t units[5] = {0x1000, 0x1000, 0x200000, 0x40000000, (uint64_t)1 << 39};
    uint64_t va = fz_va(), len = fz_len(), nva, from, to, before = 0, gone0, d = 0;
    unsigned how = fz_u8(), m = fz_u8(), c = fz_u8();
    bool via_owner;
    int want, rc;
    size_t k = 0;
    fz_lease_t *blk = NULL;
    vms_lease_t got_blk = {12345};
    switch (m & 7) {
    case 0:
    case 1: nva = fz_va(); break;
    case 7: /* mixed: GiBs, 2 MiB blocks and pages */
        d = (uint64_t)(c & 3) * 0x40000000 + (uint64_t)((c >> 2) & 3) * 0x200000 +
            (uint64_t)((c >> 4) & 7) * 0x1000;
        nva = (c & 0x80) ? va - d : va + d;
        break;
    default:
        d = units[(m & 7) - 2] * (1 + (c & 0x3f));
        if ((c & 0x40) && (m & 7) < 4) d += 0x200000; /* 2 MiB and some pages */
        nva = (c & 0x80) ? va - d : va + d;
        break;
    }
    if ((m >> 3) == 0x1f) nva |= 0x800; /* unaligned */
    via_owner = fz_have_owner && ((how & 1) || fz_any_lease(va, len) || fz_any_lease(nva, len));
    want = fz_range_err(va, len);
    if (!want) want = fz_range_err(nva, len);
    from = fm_lin(va);
    to = fm_lin(nva);
    if (!want) {
        uint64_t dl = to - from, ad = dl & (0 - dl); /* the largest power of two dividing it */
        fz_st_move_delta[ad >= ((uint64_t)1 << 39)  ? 3
                         : ad >= 0x40000000 ? 2
                         : ad >= 0x200000   ? 1
                         : ad >= 0x1000     ? 0
                                            : 4]++;
        fz_snap(from < to ? from : to, from + len > to + len ? from + len : to + len);
        fz_point_range(from, from + len);
        fz_point_range(to, to + len);
    } else {
        fz_point(va);
        fz_point(nva);
    }
    /* The owner: the arguments (ranges, overlap), then the leases over either range, then the
     * move. */
    if (!want && from < to + len && to < from + len) want = VMS_ERR_OVERLAP;
    if (!want && via_owner) {
        blk = fz_first_lease(va, len, 0);
        if (!blk) blk = fz_first_lease(nva, len, 0);
        if (blk) want = VMS_ERR_BUSY;
    }
    if (!want && fm_any(&fz_m, to, to + len)) want = VMS_ERR_EXIST;
    if (!want) {
        /* Keep the model small: a 1 GiB page moved by 4 KiB is 2^18 leaves. */
        k = fm_move_plan(&fz_m, from, from + len, to, FZ_MAX_PLAN, fz_s.active_cpus != 0);
        if (k >= FZ_MAX_PLAN) {
            fz_st_move_skip++;
            return;
        }
    }
    if (fz_trace)
        fprintf(stderr, "  move %#llx -> %#llx len %#llx%s%s: expect %s (%zu new leaves)\n",
                (unsigned long long)va, (unsigned long long)nva, (unsigned long long)len,
                via_owner ? " via owner" : "", fail ? " fail armed" : "", vms_err_name(want), k);
    if (fail) fz_s.arena.fail_after = 1 + (how >> 4);
    if (fail || want) before = fz_digest();
    gone0 = fz_gone;
    if (via_owner) {
        fz_st_move_owner++;
        rc = vms_owner_move(&fz_o, va, nva, len, &got_blk);
    } else {
        rc = vms_space_move(&fz_s, va, nva, len);
    }
    fz_s.arena.fail_after = 0;
    FZ_EQ(fz_gone, gone0, "frames handed back by a move");
    if (fail && rc == VMS_ERR_NOMEM && !want) {
        fz_st_move_nomem++;
        FZ_EQ(fz_digest(), before, "digest after move VMS_ERR_NOMEM");
        return;
    }
    FZ_ERR(rc, want, "move");
    fz_st_move[-rc]++;
    if (via_owner) {
        if (rc == VMS_ERR_BUSY)
            FZ_EQ(got_blk.id, blk->h.id, "move blocker");
        else
            FZ_EQ(got_blk.id, 0, "move blocker when not busy");
    }
    if (rc) {
        FZ_EQ(fz_digest(), before, "digest after a refused move");
        return;
    }
    if (fm_any(&fz_m, from, from + len)) fz_st_move_moved++;
    fm_move(&fz_m, from, from + len, to, k);
}

/* Collapse [va, va + len): the model's alike runs become huge leaves, the byte count as the
 * model says; with the space active, every present collapsed block flushed (the SDM leaves
 * undefined which of two cached page sizes a CPU uses). It never allocates, so an armed
 * failure must not matter; an error changes nothing. */
static void fz_op_collapse(bool fail) {
    static const uint32_t bad[4] = {VMS_MAP_MAX_4K, VMS_MAP_REPLACE, 0x100,
                                    VMS_MAP_MAX_2M | VMS_MAP_MAX_4K};
    uint64_t va = fz_va(), len = fz_len(), got = 7, done = 0, before = 0;
    unsigned b = fz_u8(), i;
    uint32_t flags = (b & 2) ? VMS_MAP_MAX_2M : 0;
    bool via_owner = fz_have_owner && ((b & 1) || fz_any_lease(va, len));
    bool active = fz_s.active_cpus != 0;
    int want = fz_range_err(va, len), rc;
    fz_lease_t *blk = NULL;
    vms_lease_t got_blk = {12345};
    if ((b & 0x0c) == 0x0c) flags = bad[(b >> 4) & 3];
    if (!want) {
        fz_snap(fm_lin(va), fm_lin(va) + len);
        fz_point_range(fm_lin(va), fm_lin(va) + len);
    } else {
        fz_point(va);
    }
    /* The owner: the arguments (range, flags), then the leases. */
    if (!want && (flags & ~(uint32_t)VMS_MAP_MAX_2M)) want = VMS_ERR_FLAGS;
    if (!want && via_owner && (blk = fz_first_lease(va, len, 0)) != NULL) want = VMS_ERR_BUSY;
    if (fz_trace)
        fprintf(stderr, "  collapse %#llx len %#llx flags %#x%s%s: expect %s\n",
                (unsigned long long)va, (unsigned long long)len, flags,
                via_owner ? " via owner" : "", active ? " active" : "", vms_err_name(want));
    if (want) before = fz_digest();
    if (fail) fz_s.arena.fail_after = 1 + (b >> 6);
    if (via_owner) {
        fz_st_col_owner++;
        rc = vms_owner_collapse(&fz_o, va, len, flags, &got, &got_blk);
    } else {
        rc = vms_space_collapse(&fz_s, va, len, flags, &got);
    }
    fz_s.arena.fail_after = 0;
    FZ_ERR(rc, want, "collapse");
    fz_st_col[-rc]++;
    if (via_owner) {
        if (rc == VMS_ERR_BUSY)
            FZ_EQ(got_blk.id, blk->h.id, "collapse blocker");
        else
            FZ_EQ(got_blk.id, 0, "collapse blocker when not busy");
    }
    if (rc) {
        FZ_EQ(got, 0, "collapsed bytes on an error");
        FZ_EQ(fz_digest(), before, "digest after a refused collapse");
        return;
    }
    done = fm_collapse(&fz_m, fm_lin(va), fm_lin(va) + len, (flags & VMS_MAP_MAX_2M) != 0, active);
    FZ_EQ(got, done, "collapsed bytes");
    if (done) fz_st_col_made++;
    for (i = 0; i < fz_nmade; i++) {
        const uint64_t a = fz_made[i].lin, sz = fz_made[i].size;
        const bool global = (fz_made[i].prop & VMS_GLOBAL) != 0;
        if (sz == 0x200000)
            fz_st_col_2m++;
        else
            fz_st_col_1g++;
        if (active && (fz_made[i].prop & VMS_W)) fz_st_col_active_w++;
        if (!active || !(fz_made[i].prop & VMS_R)) continue;
        FZ_CHECK(fz_flushed(a, 0x1000, global) && fz_flushed(a + sz - 0x1000, 0x1000, global),
                 "collapsed block at %#llx (+%#llx) not flushed%s",
                 (unsigned long long)fm_canon(a), (unsigned long long)sz,
                 global ? " (global)" : "");
    }
}

/* ------------------------------------------------------------------------------------------
 * The cursor. */

/* After a cursor call that may have changed [c0, c0 + len) (clipped to the cursor's end). */
static void fz_cursor_quick(uint64_t c0, uint64_t len, uint64_t cend) {
    if (c0 < cend) fz_point_range(c0, len && len < cend - c0 ? c0 + len : cend);
    fz_quick(true);
}

static void fz_op_cursor(bool fail) {
    uint64_t va = fz_va(), len = fz_len();
    vms_cursor_t c;
    unsigned n = 1 + (fz_u8() & 7), k;
    int want = fz_range_err(va, len), rc;
    uint64_t cva, cend;
    bool mut;
    rc = vms_cursor_open(&c, &fz_s, va, len);
    FZ_ERR(rc, want, "cursor open");
    if (rc) return;
    cva = fm_lin(va);
    cend = cva + len;
    fz_snap(cva, cend);
    mut = !fz_any_lease(va, len);
    for (k = 0; k < n && fz_left; k++) {
        unsigned op = fz_u8();
        uint64_t c0 = cva; /* where this call starts */
        FZ_EQ(vms_cursor_addr(&c), fm_canon(cva), "cursor address");
        switch (op & 7) {
        case 0: { /* jump */
            uint64_t to = fz_va();
            int w = (to & 0xfff) ? VMS_ERR_ALIGN
                    : (!fm_canonical(to) || fm_lin(to) < fm_lin(va) || fm_lin(to) >= cend)
                        ? VMS_ERR_RANGE
                        : VMS_OK;
            if (op & 8) { /* a few pages ahead of the cursor */
                to = fm_canon(cva + ((uint64_t)(op >> 4) << 12));
                w = fm_lin(to) >= fm_lin(va) && fm_lin(to) < cend ? VMS_OK : VMS_ERR_RANGE;
            }
            FZ_ERR(vms_cursor_jump(&c, to), w, "cursor jump");
            if (!w) cva = fm_lin(to);
            break;
        }
        case 1: { /* query */
            vms_mapping_t m;
            const fm_leaf_t *l = fm_find(&fz_m, cva);
            rc = vms_cursor_query(&c, &m);
            if (cva >= cend)
                FZ_ERR(rc, VMS_ERR_RANGE, "cursor query at end");
            else if (l) {
                FZ_ERR(rc, VMS_OK, "cursor query");
                FZ_EQ(m.va, fm_canon(l->lin), "cursor query va");
                FZ_EQ(m.size, l->size, "cursor query size");
            } else {
                int hl = fm_hole_level(&fz_m, cva);
                FZ_ERR(rc, VMS_ERR_NOENT, "cursor query hole");
                FZ_EQ(m.size, fm_lsize(hl), "cursor query hole size");
                FZ_EQ(m.va, fm_canon(cva & ~(fm_lsize(hl) - 1)), "cursor query hole va");
            }
            break;
        }
        case 2: { /* find_next */
            uint64_t l2 = fz_len(), found = 0;
            int w;
            size_t i = fm_lower(&fz_m, cva);
            if (!l2)
                w = VMS_ERR_ZEROLEN;
            else if (l2 & 0xfff)
                w = VMS_ERR_ALIGN;
            else if (cva >= cend || l2 > cend - cva)
                w = VMS_ERR_RANGE;
            else
                w = (i < fz_m.n && fz_m.v[i].lin < cva + l2) ? VMS_OK : VMS_ERR_NOENT;
            rc = vms_cursor_find_next(&c, l2, &found);
            if (fz_trace)
                fprintf(stderr, "  find_next: cursor %#llx + %#llx at %#llx len %#llx -> %d\n",
                        (unsigned long long)va, (unsigned long long)len,
                        (unsigned long long)fm_canon(cva), (unsigned long long)l2, rc);
            FZ_ERR(rc, w, "cursor find_next");
            if (!w) {
                uint64_t at = fz_m.v[i].lin > cva ? fz_m.v[i].lin : cva;
                FZ_EQ(found, fm_canon(at), "find_next found");
                cva = at;
            } else if (w == VMS_ERR_NOENT) {
                cva += l2;
            }
            break;
        }
        case 3: { /* next */
            vms_mapping_t m;
            size_t i = fm_lower(&fz_m, cva);
            bool w = cva < cend && i < fz_m.n && fz_m.v[i].lin < cend;
            FZ_EQ(vms_cursor_next(&c, &m), w, "cursor next");
            if (w) {
                FZ_EQ(m.va, fm_canon(fz_m.v[i].lin), "next va");
                FZ_EQ(m.pa, fz_m.v[i].pa, "next pa");
                FZ_EQ(m.size, fz_m.v[i].size, "next size");
                FZ_EQ(m.prop, fz_m.v[i].prop, "next prop");
                cva = fz_m.v[i].lin + fz_m.v[i].size;
                if (cva > cend) cva = cend;
            } else if (cva < cend) {
                cva = cend;
            }
            break;
        }
        case 4: { /* protect_next */
            uint64_t l2 = fz_len();
            vms_prop_t p = fz_prop();
            vms_mapping_t done;
            int w = fz_prop_err(p);
            size_t i = fm_lower(&fz_m, cva);
            uint64_t before = 0;
            if (!mut) break;
            if (!w)
                w = !l2                                ? VMS_ERR_ZEROLEN
                    : (l2 & 0xfff)                     ? VMS_ERR_ALIGN
                    : (cva >= cend || l2 > cend - cva) ? VMS_ERR_RANGE
                                                       : VMS_OK;
            if (!w && !(i < fz_m.n && fz_m.v[i].lin < cva + l2)) w = VMS_ERR_NOENT;
            if (fail) {
                fz_s.arena.fail_after = 1 + (op >> 6);
                before = fz_digest();
            }
            rc = vms_cursor_protect_next(&c, l2, p, &done);
            fz_s.arena.fail_after = 0;
            if (fail && rc == VMS_ERR_NOMEM && !w) {
                FZ_EQ(fz_digest(), before, "digest after protect_next VMS_ERR_NOMEM");
                cva = fm_lin(vms_cursor_addr(&c));
                break;
            }
            FZ_ERR(rc, w, "cursor protect_next");
            if (w == VMS_ERR_NOENT) cva += l2;
            if (!w) {
                uint64_t x = fz_m.v[i].lin > cva ? fz_m.v[i].lin : cva, lim = cva + l2;
                size_t j;
                for (;;) {
                    j = fm_lower(&fz_m, x);
                    if (fz_m.v[j].lin >= x && fz_m.v[j].lin + fz_m.v[j].size <= lim) break;
                    /* Split the leaf around x one level (the child holding x is checked
                     * again). */
                    fm_split_one(&fz_m, j);
                }
                fm_touch(fz_m.v[j].lin, fz_m.v[j].lin + fz_m.v[j].size);
                fz_m.v[j].prop = (p & ~(VMS_ACCESSED | VMS_DIRTY)) |
                                 (fz_m.v[j].prop & (VMS_ACCESSED | VMS_DIRTY));
                FZ_EQ(done.va, fm_canon(fz_m.v[j].lin), "protect_next done va");
                FZ_EQ(done.size, fz_m.v[j].size, "protect_next done size");
                FZ_EQ(done.prop, fz_m.v[j].prop, "protect_next done prop");
                cva = fz_m.v[j].lin + fz_m.v[j].size;
            }
            fz_cursor_quick(c0, l2, cend);
            break;
        }
        case 5: { /* map one page */
            static const uint64_t sizes[4] = {0x1000, 0x200000, 0x40000000, 0x3000};
            uint64_t sz = sizes[(op >> 3) & 3], pa = fz_pa(sz), before = 0;
            vms_prop_t p = fz_prop();
            uint32_t fl = (op >> 5) & 1 ? VMS_MAP_REPLACE : 0;
            int w, L = fm_level_of(sz);
            if (!mut) break;
            if (!L)
                w = VMS_ERR_PAGESIZE;
            else if ((cva | pa) & (sz - 1))
                w = VMS_ERR_ALIGN;
            else if (cva >= cend || sz > cend - cva)
                w = VMS_ERR_RANGE;
            else if ((w = fz_pa_err(pa, sz)) == VMS_OK && (w = fz_prop_err(p)) == VMS_OK && !fl &&
                     fm_any(&fz_m, cva, cva + sz))
                w = VMS_ERR_EXIST;
            if (fail) {
                fz_s.arena.fail_after = 1 + (op >> 6);
                before = fz_digest();
            }
            rc = vms_cursor_map(&c, pa, sz, p, fl);
            fz_s.arena.fail_after = 0;
            if (fail && rc == VMS_ERR_NOMEM && !w) {
                FZ_EQ(fz_digest(), before, "digest after cursor map VMS_ERR_NOMEM");
                break;
            }
            FZ_ERR(rc, w, "cursor map");
            if (!w) {
                if (fl) fm_remove(&fz_m, cva, cva + sz);
                fm_insert_plan(&fz_m, cva, pa, sz, p, L);
                cva += sz;
            }
            fz_cursor_quick(c0, sz, cend);
            break;
        }
        case 6: { /* unmap */
            uint64_t l2 = fz_len(), un = 7, before = 0, expect = 0;
            int w;
            size_t i;
            if (!mut) break;
            w = !l2                                ? VMS_ERR_ZEROLEN
                : (l2 & 0xfff)                     ? VMS_ERR_ALIGN
                : (cva >= cend || l2 > cend - cva) ? VMS_ERR_RANGE
                                                   : VMS_OK;
            if (fail) {
                fz_s.arena.fail_after = 1 + (op >> 6);
                before = fz_digest();
            }
            rc = vms_cursor_unmap(&c, l2, &un);
            fz_s.arena.fail_after = 0;
            if (fail && rc == VMS_ERR_NOMEM && !w) {
                FZ_EQ(fz_digest(), before, "digest after cursor unmap VMS_ERR_NOMEM");
                break;
            }
            FZ_ERR(rc, w, "cursor unmap");
            if (!w) {
                fm_split_at(&fz_m, cva);
                if (cva + l2 < fm_top()) fm_split_at(&fz_m, cva + l2);
                for (i = fm_lower(&fz_m, cva); i < fz_m.n && fz_m.v[i].lin < cva + l2; i++)
                    expect += fz_m.v[i].size;
                FZ_EQ(un, expect, "cursor unmap bytes");
                fm_remove(&fz_m, cva, cva + l2);
                cva += l2;
            }
            fz_cursor_quick(c0, l2, cend);
            break;
        }
        default:
            if (((op >> 3) & 3) == 1 && mut) { /* map a range from the cursor */
                uint64_t l2 = fz_len(), pa = fz_pa(l2), before = 0;
                vms_prop_t p = fz_prop();
                uint32_t fl = (op >> 5) & 7;
                int w = !l2                                ? VMS_ERR_ZEROLEN
                        : (l2 & 0xfff)                     ? VMS_ERR_ALIGN
                        : (cva >= cend || l2 > cend - cva) ? VMS_ERR_RANGE
                                                           : VMS_OK;
                if (!w && (w = fz_pa_err(pa, l2)) == VMS_OK && (w = fz_prop_err(p)) == VMS_OK &&
                    !(fl & VMS_MAP_REPLACE) && fm_any(&fz_m, cva, cva + l2))
                    w = VMS_ERR_EXIST;
                if (!w && fz_plan_count(cva, pa, l2, fz_maxl(fl)) >= FZ_MAX_PLAN) break;
                if (fail) {
                    fz_s.arena.fail_after = 1 + (op >> 6);
                    before = fz_digest();
                }
                rc = vms_cursor_map_range(&c, pa, l2, p, fl);
                fz_s.arena.fail_after = 0;
                if (fail && rc == VMS_ERR_NOMEM && !w) {
                    FZ_EQ(fz_digest(), before, "digest after cursor map_range VMS_ERR_NOMEM");
                    break;
                }
                FZ_ERR(rc, w, "cursor map_range");
                if (!w) {
                    if (fl & VMS_MAP_REPLACE) fm_remove(&fz_m, cva, cva + l2);
                    fm_insert_plan(&fz_m, cva, pa, l2, p, fz_maxl(fl));
                    cva += l2;
                }
                fz_cursor_quick(c0, l2, cend);
            } else if (((op >> 3) & 3) == 2 && mut) { /* protect a range from the cursor */
                uint64_t l2 = fz_len(), before = 0;
                vms_prop_t p = fz_prop();
                int w = fz_prop_err(p);
                if (!w)
                    w = !l2                                ? VMS_ERR_ZEROLEN
                        : (l2 & 0xfff)                     ? VMS_ERR_ALIGN
                        : (cva >= cend || l2 > cend - cva) ? VMS_ERR_RANGE
                                                           : VMS_OK;
                if (fail) {
                    fz_s.arena.fail_after = 1 + (op >> 6);
                    before = fz_digest();
                }
                rc = vms_cursor_protect(&c, l2, p);
                fz_s.arena.fail_after = 0;
                if (fail && rc == VMS_ERR_NOMEM && !w) {
                    FZ_EQ(fz_digest(), before, "digest after cursor protect VMS_ERR_NOMEM");
                    break;
                }
                FZ_ERR(rc, w, "cursor protect");
                if (!w) {
                    fm_protect(&fz_m, cva, cva + l2, p);
                    cva += l2;
                }
                fz_cursor_quick(c0, l2, cend);
            } else { /* flush now: deferred frames go back */
                vms_cursor_flush(&c);
                fz_quick(false);
            }
            break;
        }
    }
    vms_cursor_close(&c);
}

/* ------------------------------------------------------------------------------------------
 * Activation. */

static int fz_cpu_slot(int cpu) {
    int i;
    for (i = 0; i < FZ_NCPU; i++)
        if (fz_cpu_ids[i] == cpu) return i;
    return -1;
}

static uint64_t fz_active_mask(const vms_space_t *s) {
    uint64_t m = 0;
    int i;
    for (i = 0; i < FZ_NCPU; i++)
        if (fz_cur[i] == s) m |= (uint64_t)1 << fz_cpu_ids[i];
    return m;
}

static void fz_leave(int slot) {
    if (fz_cur[slot] == &fz_s) {
        fz_weak_left[slot] = fz_weakenings;
        fz_was_on[slot] = true;
    }
    fz_cur[slot] = NULL;
}

static void fz_op_activate(void) {
    unsigned b = fz_u8();
    static const int bad[4] = {-1, VMSPACE_MAX_CPUS, 1000, -64};
    int cpu = (b & 0x40) ? bad[(b >> 4) & 3] : fz_cpu_ids[b & 3];
    int slot = fz_cpu_slot(cpu);
    vms_space_t *sp = (b & 0x80) && fz_have_other ? &fz_other : &fz_s;
    int rc;
    if (b & 0x8) { /* deactivate */
        rc = vms_space_deactivate(sp, cpu);
        FZ_ERR(rc, slot < 0 ? VMS_ERR_CPU : VMS_OK, "deactivate");
        if (slot >= 0 && fz_cur[slot] == sp) fz_leave(slot);
    } else {
        vms_space_t *prev = slot >= 0 ? fz_cur[slot] : NULL;
        fz_cr3_calls = 0;
        rc = vms_space_activate(sp, cpu);
        FZ_ERR(rc, slot < 0 ? VMS_ERR_CPU : VMS_OK, "activate");
        if (slot >= 0) {
            FZ_EQ(fz_cr3_calls, prev != sp, "load_cr3 calls");
            if (prev != sp) {
                FZ_EQ(fz_cr3_cpu, cpu, "load_cr3 cpu");
                FZ_EQ(fz_cr3 & VMS_PTE_ADDR_MASK, sp->root_pa, "cr3 root");
                if (sp->pcid) {
                    FZ_CHECK((fz_cr3 & 0xfff) != 0, "PCID space loaded with PCID 0");
                    if (sp == &fz_s && (fz_cr3 & VMS_CR3_NOFLUSH))
                        FZ_CHECK(fz_was_on[slot] && fz_weak_left[slot] == fz_weakenings,
                                 "no-flush load after a weakening while away");
                } else {
                    FZ_EQ(fz_cr3 & 0xfff, 0, "PCID bits without PCIDs");
                    FZ_CHECK(!(fz_cr3 & VMS_CR3_NOFLUSH), "no-flush bit without PCIDs");
                }
                if (prev) fz_leave(slot);
                fz_cur[slot] = sp;
            }
        }
    }
    FZ_EQ(fz_s.active_cpus, fz_active_mask(&fz_s), "active CPUs");
    if (fz_have_other) FZ_EQ(fz_other.active_cpus, fz_active_mask(&fz_other), "other's CPUs");
    if (slot >= 0)
        FZ_CHECK(vms_machine_current(&fz_machine, cpu) == fz_cur[slot], "vms_machine_current");
    else
        FZ_CHECK(vms_machine_current(&fz_machine, cpu) == NULL, "current of a bad CPU");
    if (b == 0x37) { /* destroy while active must refuse */
        if (fz_s.active_cpus) {
            uint64_t d = fz_digest();
            FZ_ERR(vms_space_destroy(&fz_s), VMS_ERR_ACTIVE, "destroy while active");
            FZ_EQ(fz_digest(), d, "digest after a refused destroy");
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * The owner. */

static void fz_owner_create(void) {
    vms_owner_desc_t d;
    unsigned b = fz_u8();
    memset(&d, 0, sizeof d);
    d.shared_reader = b & 1;
    d.inactive = (b >> 1) & 1;
    d.allocator.alloc = fz_oalloc;
    d.allocator.free = fz_ofree;
    d.check_failed = fz_check_failed;
    FZ_ERR(vms_owner_init(&fz_o, &fz_s, &d), VMS_OK, "owner init");
    fz_have_owner = true;
    fz_shared = d.shared_reader;
    fz_owner_active = !d.inactive;
    fz_nleases = 0;
    fz_ndead = 0;
}

static void fz_release(fz_lease_t *l) {
    bool changed = fz_bytes_hash(l->va, l->len) != l->bytes, hole = false;
    uint64_t a;
    int rc;
    /* Leaf by leaf, not page by page: a lease may span gigabytes. */
    for (a = fm_lin(l->va); a < fm_lin(l->va) + l->len && !hole;) {
        const fm_leaf_t *lf = fm_find(&fz_m, a);
        if (!lf)
            hole = true;
        else
            a = lf->lin + lf->size;
    }
    rc = vms_lease_release(&fz_o, l->h);
#ifdef VMSPACE_DEBUG
    /* A reader whose range lost a page: FAULT; whose bytes changed: TAMPERED. */
    FZ_ERR(rc,
           l->kind != VMS_LEASE_READ ? VMS_OK
           : hole                    ? VMS_ERR_FAULT
           : changed                 ? VMS_ERR_TAMPERED
                                     : VMS_OK,
           "release");
#else
    (void)changed, (void)hole;
    FZ_ERR(rc, VMS_OK, "release");
#endif
    l->live = false;
    if (fz_ndead < 32)
        fz_dead[fz_ndead++] = l->h.id;
    else
        fz_dead[l->h.id % 32] = l->h.id;
}

static void fz_owner_destroy(void) {
    unsigned i;
    if (fz_live_leases()) {
        uint64_t d = fz_digest();
        FZ_ERR(vms_owner_destroy(&fz_o), VMS_ERR_BUSY, "owner destroy with leases");
        FZ_EQ(fz_digest(), d, "digest after refused owner destroy");
        for (i = 0; i < fz_nleases; i++)
            if (fz_leases[i].live) fz_release(&fz_leases[i]);
    }
    FZ_ERR(vms_owner_destroy(&fz_o), VMS_OK, "owner destroy");
    fz_have_owner = false;
    fz_nleases = 0;
}

/* Where [va, va + len) first lacks a mapping (NOENT) or the rights (PERM); VMS_OK if none. */
static int fz_rights_err(uint64_t va, uint64_t len, vms_prop_t need) {
    uint64_t a = fm_lin(va), end = a + len;
    while (a < end) {
        const fm_leaf_t *l = fm_find(&fz_m, a);
        if (!l) return VMS_ERR_NOENT;
        if ((l->prop & need) != need) return VMS_ERR_PERM;
        a = l->lin + l->size;
    }
    return VMS_OK;
}

static void fz_op_acquire(bool fail) {
    unsigned b = fz_u8();
    vms_lease_kind kind = (b & 1) ? VMS_LEASE_WRITE : VMS_LEASE_READ;
    uint64_t va = fz_va(), len = fz_len(), before = 0;
    vms_lease_t out = {77}, blk = {77};
    fz_lease_t *cf = NULL;
    int want, rc;
    if ((b & 0x6) == 0x6) kind = (vms_lease_kind)((b >> 3) & 1 ? 0 : 3); /* bad kind */
    if (fz_nleases == FZ_MAX_LEASES) {
        /* Drop released entries to make room. */
        unsigned i, k = 0;
        for (i = 0; i < fz_nleases; i++)
            if (fz_leases[i].live) fz_leases[k++] = fz_leases[i];
        fz_nleases = k;
        if (k == FZ_MAX_LEASES) return;
    }
    if (kind != VMS_LEASE_READ && kind != VMS_LEASE_WRITE)
        want = VMS_ERR_ARG;
    else if ((want = fz_range_err(va, len)) != VMS_OK) {
    } else if (!fz_owner_active)
        want = VMS_ERR_INACTIVE;
    else if ((cf = fz_first_lease(va, len, kind == VMS_LEASE_READ && fz_shared ? 1 : 0)))
        want = VMS_ERR_CONFLICT;
    else
        want = fz_rights_err(va, len, kind == VMS_LEASE_WRITE ? VMS_RW : VMS_R);
    if (fail) {
        fz_alloc_fail = 1 + ((b >> 4) & 3);
        before = fz_digest();
    }
    rc = vms_lease_acquire(&fz_o, kind, va, len, &out, &blk);
    fz_alloc_fail = 0;
    if (fail && rc == VMS_ERR_NOMEM && !want) {
        FZ_EQ(fz_digest(), before, "digest after acquire VMS_ERR_NOMEM");
        FZ_EQ(out.id, 0, "handle after NOMEM");
        return;
    }
    FZ_ERR(rc, want, "acquire");
    if (want == VMS_ERR_CONFLICT)
        FZ_EQ(blk.id, cf->h.id, "acquire blocker");
    else if (want != VMS_ERR_ARG && want != VMS_ERR_ZEROLEN && want != VMS_ERR_NONCANON &&
             want != VMS_ERR_ALIGN && want != VMS_ERR_OVERFLOW)
        FZ_EQ(blk.id, 0, "blocker without conflict");
    {
        vms_lease_t fc;
        bool has = vms_owner_first_conflict(
            &fz_o, kind == VMS_LEASE_WRITE ? VMS_LEASE_WRITE : VMS_LEASE_READ, va, len, &fc);
        fz_lease_t *m = len ? fz_first_lease(va, len, kind != VMS_LEASE_WRITE && fz_shared) : NULL;
        if (rc == VMS_OK) {
            /* The new lease conflicts with itself for a writer / exclusive reader. */
        } else {
            FZ_EQ(has, m != NULL, "first_conflict");
            if (has) FZ_EQ(fc.id, m->h.id, "first_conflict lease");
        }
    }
    if (rc) {
        FZ_EQ(out.id, 0, "handle on failure");
        return;
    }
    FZ_CHECK(out.id != 0, "zero handle");
    {
        unsigned i;
        for (i = 0; i < fz_nleases; i++)
            FZ_CHECK(!fz_leases[i].live || fz_leases[i].h.id != out.id, "duplicate handle");
    }
    fz_leases[fz_nleases].h = out;
    fz_leases[fz_nleases].kind = kind;
    fz_leases[fz_nleases].va = va;
    fz_leases[fz_nleases].len = len;
    fz_leases[fz_nleases].bytes = fz_bytes_hash(va, len);
    fz_leases[fz_nleases].live = true;
    fz_nleases++;
}

static fz_lease_t *fz_pick_lease(unsigned b) {
    unsigned i, live = fz_live_leases(), k;
    if (!live) return NULL;
    k = b % live;
    for (i = 0; i < fz_nleases; i++)
        if (fz_leases[i].live && k-- == 0) return &fz_leases[i];
    return NULL;
}

static void fz_op_lease(void) {
    unsigned b = fz_u8(), c = fz_u8();
    fz_lease_t *l = fz_pick_lease(c);
    switch (b & 7) {
    case 0:
    case 1: /* release a live lease */
        if (l) fz_release(l);
        break;
    case 2: { /* release a stale or forged handle */
        vms_lease_t h;
        uint64_t d = fz_digest();
        switch ((b >> 3) & 3) {
        case 0: h.id = fz_ndead ? fz_dead[c % fz_ndead] : 0; break;
        case 1: h.id = l ? l->h.id + ((uint64_t)1 << 32) : 5; break; /* wrong generation */
        case 2: h.id = l ? (l->h.id & ~(uint64_t)0xffffffff) | 0xfffff : 6; break; /* slot */
        default: h.id = l ? l->h.id & 0xffffffffu : 0; break;                      /* gen 0 */
        }
        {
            unsigned i;
            for (i = 0; i < fz_nleases; i++)
                if (fz_leases[i].live && fz_leases[i].h.id == h.id) return;
        }
        FZ_ERR(vms_lease_release(&fz_o, h), VMS_ERR_STALE, "stale release");
        FZ_CHECK(!vms_lease_is_live(&fz_o, h), "stale handle is live");
        {
            vms_lease_info_t info;
            FZ_ERR(vms_lease_info(&fz_o, h, &info), VMS_ERR_STALE, "stale info");
            FZ_ERR(vms_lease_read(&fz_o, h, 0, fz_buf, 1), VMS_ERR_STALE, "stale read");
        }
        FZ_EQ(fz_digest(), d, "digest after stale release");
        break;
    }
    case 3:
    case 4: { /* read or write through a lease */
        bool write = (b & 7) == 4;
        uint64_t off, n, i;
        int want, rc;
        uint64_t a, done = 0;
        if (!l) break;
        off = ((uint64_t)(b >> 3) * 0x801) % (l->len + 0x1000);
        n = (uint64_t)fz_u16() % 0x3000;
        if (c == 0xff) n = 0;
        if (!fz_owner_active)
            want = VMS_ERR_INACTIVE;
        else if (write && l->kind != VMS_LEASE_WRITE)
            want = VMS_ERR_PERM;
        else if (!n)
            want = off < l->len ? VMS_OK : VMS_ERR_RANGE;
        else
            want = (off < l->len && n - 1 <= l->len - 1 - off) ? VMS_OK : VMS_ERR_RANGE;
        /* A frame outside the provider's memory faults (after the bytes before it). */
        a = fm_lin(l->va + off);
        if (!want && n) {
            while (done < n) {
                const fm_leaf_t *lf = fm_find(&fz_m, a + done);
                uint64_t o2 = a + done - lf->lin, chunk = lf->size - o2;
                if (chunk > n - done) chunk = n - done;
                if (!fz_is_data(lf->pa + o2, chunk)) {
                    want = VMS_ERR_FAULT;
                    break;
                }
                done += chunk;
            }
        }
        for (i = 0; i < n; i++) fz_src[i] = (uint8_t)(c + i * 13u);
        rc = write ? vms_lease_write(&fz_o, l->h, l->va + off, fz_src, n)
                   : vms_lease_read(&fz_o, l->h, l->va + off, fz_buf, n);
        FZ_ERR(rc, want, write ? "lease write" : "lease read");
        if (rc == VMS_OK || rc == VMS_ERR_FAULT) {
            if (write)
                fz_shadow_write(l->va + off, done, fz_src, 0);
            else
                fz_check_bytes(l->va + off, done, fz_buf);
        }
        break;
    }
    case 5: /* active / inactive */
        fz_owner_active = (b >> 3) & 1;
        vms_owner_set_active(&fz_o, fz_owner_active);
        break;
    case 6: { /* queries: first_overlap and the ordered enumeration */
        uint64_t va = fz_va(), len = fz_len();
        vms_lease_t h;
        fz_lease_t *m = len ? fz_first_lease(va, len, 0) : NULL;
        bool has = vms_owner_first_overlap(&fz_o, va, len, &h);
        vms_owner_iter_t it;
        vms_lease_info_t info;
        bool more;
        uint64_t prev = 0;
        unsigned cnt = 0, i, want = 0;
        FZ_EQ(has, m != NULL, "first_overlap");
        if (has) FZ_EQ(h.id, m->h.id, "first_overlap lease");
        more = vms_owner_iter_first(&fz_o, va, len, &it, &info);
        while (more) {
            FZ_CHECK(info.va >= prev, "owner iteration out of order");
            prev = info.va;
            cnt++;
            more = vms_owner_iter_next(&it, &info);
        }
        if (len) {
            uint64_t last = va + (len - 1) < va ? UINT64_MAX : va + (len - 1);
            for (i = 0; i < fz_nleases; i++)
                if (fz_leases[i].live &&
                    fz_overlap(va, last - va + 1, fz_leases[i].va, fz_leases[i].len))
                    want++;
        }
        FZ_EQ(cnt, want, "owner iteration count");
        break;
    }
    default: /* destroy the owner (refused while leases live, then forced) */
        if (b & 0x80) fz_owner_destroy();
        break;
    }
}

/* ------------------------------------------------------------------------------------------
 * Set-up and tear-down of a run. */

static _Alignas(4096) uint8_t fz_mem[FZ_ARENA_SIZE];
static _Alignas(4096) uint8_t fz_mem_other[(uint64_t)2 << 20];

/* The frames hook: bytes handed back (fz_gone), checked around range operations. */
static void fz_frames_hook(void *user, uint64_t pa, uint64_t len) {
    (void)user;
    (void)pa;
    fz_gone += len;
}

static bool fz_setup(unsigned cfg) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = (cfg & 1) ? 5 : 4;
    d.arena.size = FZ_ARENA_SIZE;
    /* Caller memory, reused from run to run: no mmap per input, and frames the library takes
     * without zeroing hold the previous run's bytes. */
    d.arena.memory = fz_mem;
    d.flush = fz_flush_hook;
    d.load_cr3 = fz_cr3_hook;
    d.frames = fz_frames_hook;
    d.hook_user = &fz_s;
    d.pcid = (cfg >> 1) & 1;
    d.flush_threshold = (cfg >> 2) & 1 ? 4 : 0;
    d.machine = &fz_machine;
    vms_machine_init(&fz_machine);
    if (vms_space_init(&fz_s, &d) != VMS_OK) return false;
    fz_have_space = true;
    fm_levels = d.levels;
    fz_m.n = fz_old.n = 0;
    memset(fz_m.bytes, 0, sizeof fz_m.bytes);
    fm_open = false;
    fm_reserve(&fz_m, 1024); /* never a NULL array, even when empty */
    fm_reserve(&fz_old, 1024);
    FZ_ERR(vms_arena_alloc_data(&fz_s.arena, FZ_DATA_SIZE, FZ_DATA_SIZE, &fz_data_pa), VMS_OK,
           "data frames");
    if (!fz_shadow) fz_shadow = (uint8_t *)malloc(FZ_DATA_SIZE);
    if (fz_shadow_hi > fz_shadow_lo)
        memset(fz_shadow + fz_shadow_lo, 0, fz_shadow_hi - fz_shadow_lo);
    fz_shadow_lo = FZ_DATA_SIZE;
    fz_shadow_hi = 0;
    vms_swtlb_init(&fz_tlb, &fz_s);
    memset(fz_cur, 0, sizeof fz_cur);
    memset(fz_was_on, 0, sizeof fz_was_on);
    fz_nflush = 0;
    fz_have_other = false;
    if ((cfg >> 3) & 1) {
        vms_space_desc_t od;
        memset(&od, 0, sizeof od);
        od.levels = 4;
        od.arena.size = sizeof fz_mem_other;
        od.arena.memory = fz_mem_other;
        od.pcid = true;
        od.flush = fz_flush_hook;
        od.hook_user = &fz_other;
        od.load_cr3 = fz_cr3_hook;
        od.machine = &fz_machine;
        if (vms_space_init(&fz_other, &od) == VMS_OK) fz_have_other = true;
    }
    fz_have_mate = false;
    fm_share_lo = fm_share_hi = 0;
    if ((cfg >> 5) & 1) { /* fz_mate joins a group over the slot of the first upper region */
        vms_space_desc_t md;
        uint64_t lo = d.levels == 5 ? 0xff00000000000000ull : 0xffff800000000000ull;
        memset(&md, 0, sizeof md);
        md.levels = d.levels;
        md.provider = &fz_s.prov;
        md.frames = fz_frames_hook;
        FZ_ERR(vms_space_init(&fz_mate, &md), VMS_OK, "mate init");
        FZ_ERR(vms_share_init(&fz_group, &fz_s, lo, vms_share_span(d.levels)), VMS_OK, "share");
        FZ_ERR(vms_share_join(&fz_group, &fz_mate), VMS_OK, "join");
        fz_have_mate = true;
        fz_st_mate_runs++;
        fm_share_lo = fm_lin(lo);
        fm_share_hi = fm_share_lo + vms_share_span(d.levels);
    }
    fz_have_owner = false;
    fz_owner_broken = NULL;
    if ((cfg >> 4) & 1) fz_owner_create();
    return true;
}

static void fz_teardown(void) {
    int i;
    if (fz_have_owner) fz_owner_destroy();
    for (i = 0; i < FZ_NCPU; i++) {
        if (fz_cur[i]) FZ_ERR(vms_space_deactivate(fz_cur[i], fz_cpu_ids[i]), VMS_OK, "deactivate");
        fz_cur[i] = NULL;
    }
    for (i = 0; i < VMSPACE_MAX_CPUS; i++)
        FZ_CHECK(vms_machine_current(&fz_machine, i) == NULL, "CPU left active");
    if (fz_have_mate) FZ_ERR(vms_space_destroy(&fz_mate), VMS_OK, "destroy mate"); /* first:
                                                                      its tables are fz_s's */
    fz_have_mate = false;
    fm_share_lo = fm_share_hi = 0;
    FZ_ERR(vms_space_destroy(&fz_s), VMS_OK, "destroy");
    fz_have_space = false;
    if (fz_have_other) FZ_ERR(vms_space_destroy(&fz_other), VMS_OK, "destroy other");
    fz_have_other = false;
}

static size_t fz_dump_lines;
static void fz_dump_line(void *user, const char *line) {
    (void)user;
    FZ_CHECK(strlen(line) < 192, "dump line too long");
    fz_dump_lines++;
}

static unsigned fz_stop_after;
static int fz_stop_fn(void *user, const vms_mapping_t *m) {
    unsigned *seen = (unsigned *)user;
    (void)m;
    return ++*seen == fz_stop_after ? 42 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every code's name is its own (the harness's messages rely on them), and the messages
 * differ. Once per process. */
static void fz_check_error_names(void) {
    int e, k;
#define FZ_NAME(name, msg)                                                          \
    FZ_CHECK(!strcmp(vms_err_name(VMS_ERR_##name), "VMS_ERR_" #name), "name of %s", \
             "VMS_ERR_" #name);
    VMS_ERROR_MAP(FZ_NAME)
#undef FZ_NAME
    FZ_CHECK(!strcmp(vms_err_name(VMS_OK), "VMS_OK"), "name of VMS_OK");
    for (e = -1; e >= -VMS__ERR_COUNT; e--)
        for (k = e - 1; k >= -VMS__ERR_COUNT; k--)
            FZ_CHECK(strcmp(vms_strerror(e), vms_strerror(k)), "codes %d and %d share a message",
                     e, k);
    FZ_CHECK(!strcmp(vms_err_name(-VMS__ERR_COUNT - 1), "VMS_ERR_UNKNOWN"), "unknown code");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int trace = -1;
    bool full = false; /* the last step ran the full comparison */
    unsigned dumps = 0;
    if (trace < 0) {
        fz_check_error_names();
        trace = getenv("FZ_TRACE") != NULL;
        if (getenv("FZ_STATS")) atexit(fz_print_stats);
    }
    fz_trace = trace;
    fz_in = data;
    fz_left = size;
    fz_step = 0;
    if (!fz_setup(fz_u8())) return 0;
    while (fz_left && fz_step < FZ_MAX_STEPS && fz_m.n < FM_MAX_LEAVES) {
        unsigned op = fz_u8();
        bool fail = (op & 0xc0) == 0xc0; /* arm an allocation failure for this step */
        uint64_t gen = fz_s.generation, act = fz_s.active_cpus;
        fz_step++;
        if (fz_trace) {
            size_t i;
            fprintf(stderr, "step %u: op %#x; active %#llx; model %zu leaves:", fz_step, op,
                    (unsigned long long)fz_s.active_cpus, fz_m.n);
            for (i = 0; i < fz_m.n && i < 8; i++)
                fprintf(stderr, " [%#llx +%#llx -> %#llx %#x]",
                        (unsigned long long)fm_canon(fz_m.v[i].lin),
                        (unsigned long long)fz_m.v[i].size, (unsigned long long)fz_m.v[i].pa,
                        fz_m.v[i].prop);
            fprintf(stderr, "\n");
        }
        fz_old.n = 0;
        fm_open = false;
        fz_npts = 0;
        fz_nflush = 0;
        switch (op & 15) {
        case 0:
        case 1:
        case 2: fz_op_range(0, fail); break;
        case 3: fz_op_range(1, fail); break;
        case 4:
            if (((op >> 4) & 3) == 3)
                fz_op_harvest(fail);
            else
                fz_op_range(2 + ((op >> 4) & 3), fail); /* protect, mask, callback */
            break;
        case 5: fz_check_va(fz_va()); break;
        case 6: fz_check_va(fz_va() + (fz_u8() << 4)); break;
        case 7: fz_op_cursor(fail); break;
        case 8: fz_op_copy(); break;
        case 9: fz_op_activate(); break;
        case 10:
        case 11:
            if (!fz_have_owner)
                fz_owner_create();
            else
                fz_op_acquire(fail);
            break;
        case 12:
            if (fz_have_owner) fz_op_lease();
            break;
        case 13: { /* the software TLB after a flush of its own, and a batch of lookups */
            unsigned k;
            if (op & 16) {
                fz_op_clone(fail);
                break;
            }
            if (fz_u8() & 1) vms_swtlb_flush(&fz_tlb);
            for (k = 0; k < 4; k++) fz_check_va(fz_va());
            break;
        }
        case 15: { /* the dump: a header, one line per merged run, a footer */
            size_t i, runs = 0;
            if (++dumps > FZ_MAX_DUMPS) break;
            fz_dump_lines = 0;
            vms_space_dump(&fz_s, fz_dump_line, NULL);
            for (i = 0; i < fz_m.n; i++) {
                const fm_leaf_t *a = &fz_m.v[i], *b = i ? &fz_m.v[i - 1] : NULL;
                if (!b || fm_canon(b->lin) + b->size != fm_canon(a->lin) ||
                    b->pa + b->size != a->pa || b->size != a->size || b->prop != a->prop)
                    runs++;
            }
            FZ_EQ(fz_dump_lines, runs + 2, "dump lines");
            break;
        }
        case 14: { /* enumeration stopped early returns the callback's value */
            unsigned stop, seen = 0;
            if ((op >> 4) & 3) { /* move (bits 4-5: 1 or 3), collapse (2) */
                if (((op >> 4) & 3) == 2)
                    fz_op_collapse(fail);
                else
                    fz_op_move(fail);
                break;
            }
            stop = fz_u8() % 8;
            fz_stop_after = stop + 1;
            FZ_EQ(vms_space_enumerate(&fz_s, fz_stop_fn, &seen), stop < fz_m.n ? 42 : 0,
                  "enumerate early stop");
            FZ_EQ(seen, stop < fz_m.n ? stop + 1 : fz_m.n, "enumerate calls");
            break;
        }
        }
        fm_open = false;
        fz_check_changes(gen, act);
        fz_quick(false);
        full = fz_step % FZ_FULL_EVERY == 0;
        if (full) fz_compare_full(false);
        fz_compare_owner(full);
    }
    if (!full) {
        fz_compare_full(false);
        fz_compare_owner(true);
    }
    /* Every translation the model holds, spot-checked at its first and last page. */
    {
        size_t i;
        for (i = 0; i < fz_m.n && i < 64; i++) {
            fz_check_va(fm_canon(fz_m.v[i].lin));
            fz_check_va(fm_canon(fz_m.v[i].lin + fz_m.v[i].size - 0x1000));
        }
    }
    fz_teardown();
    return 0;
}
