/* The reference model: a sorted array of leaves (page-granular mappings that remember their
 * page size). It implements the documented semantics directly: a range map uses the largest
 * page that VA, PA and the remaining length allow; unmap and protect split a huge page that
 * the range covers in part (1 GiB into 2 MiB pages, then the 2 MiB page that still straddles
 * the edge into 4 KiB pages); a move takes each leaf's part in range to the new address as
 * pages no larger than it was; a collapse folds 512 alike leaves with contiguous, aligned
 * frames into one of the next size. */
#include <stdlib.h>
#include <string.h>

#include "vt.h"

void vt_model_init(vt_model_t *m) { memset(m, 0, sizeof *m); }

void vt_model_free(vt_model_t *m) {
    free(m->v);
    free(m->tmp);
    memset(m, 0, sizeof *m);
}

static void vt__reserve(vt_leaf_t **v, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    *v = (vt_leaf_t *)realloc(*v, c * sizeof **v);
    *cap = c;
}

size_t vt_model_lower(const vt_model_t *m, uint64_t va) {
    /* Leaves are disjoint and sorted, so their last bytes are sorted too. */
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].va + (m->v[mid].size - 1) < va)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index whose leaf starts after `last`. */
static size_t vt__upper(const vt_model_t *m, uint64_t last) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].va <= last)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const vt_leaf_t *vt_model_find(const vt_model_t *m, uint64_t va) {
    size_t i = vt_model_lower(m, va);
    if (i < m->n && m->v[i].va <= va) return &m->v[i];
    return NULL;
}

bool vt_model_any(const vt_model_t *m, uint64_t va, uint64_t len) {
    size_t i = vt_model_lower(m, va);
    return i < m->n && m->v[i].va <= va + (len - 1);
}

/* Replace v[lo, hi) with k leaves from src. */
static void vt__splice(vt_model_t *m, size_t lo, size_t hi, const vt_leaf_t *src, size_t k) {
    size_t tail = m->n - hi;
    vt__reserve(&m->v, &m->cap, m->n - (hi - lo) + k);
    memmove(&m->v[lo + k], &m->v[hi], tail * sizeof *m->v);
    if (k) memcpy(&m->v[lo], src, k * sizeof *src);
    m->n = lo + k + tail;
}

/* Split the leaf that holds addr strictly inside it, so that addr starts a leaf. */
static void vt__split_at(vt_model_t *m, uint64_t addr) {
    for (;;) {
        size_t i = vt_model_lower(m, addr);
        if (i >= m->n || m->v[i].va >= addr) return;
        vt_leaf_t big = m->v[i];
        uint64_t sub = big.size == VT_SZ_1G ? VT_SZ_2M : VT_SZ_4K;
        vt__reserve(&m->tmp, &m->tmp_cap, 512);
        for (unsigned j = 0; j < 512; j++) {
            m->tmp[j].va = big.va + j * sub;
            m->tmp[j].pa = big.pa + j * sub;
            m->tmp[j].size = sub;
            m->tmp[j].prop = big.prop;
        }
        vt__splice(m, i, i + 1, m->tmp, 512);
    }
}

size_t vt_plan_map(uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop, uint32_t flags,
                   vt_leaf_t *out, size_t max) {
    size_t k = 0;
    uint64_t off = 0;
    while (off < len) {
        uint64_t v = va + off, p = pa + off, rem = len - off, sz = VT_SZ_4K;
        bool allow1g = !(flags & (VMS_MAP_MAX_4K | VMS_MAP_MAX_2M));
        bool allow2m = !(flags & VMS_MAP_MAX_4K);
        if (allow1g && v % VT_SZ_1G == 0 && p % VT_SZ_1G == 0 && rem >= VT_SZ_1G)
            sz = VT_SZ_1G;
        else if (allow2m && v % VT_SZ_2M == 0 && p % VT_SZ_2M == 0 && rem >= VT_SZ_2M)
            sz = VT_SZ_2M;
        if (k < max) {
            out[k].va = v;
            out[k].pa = p;
            out[k].size = sz;
            out[k].prop = prop;
        }
        k++;
        off += sz;
    }
    return k;
}

/* Split at both edges and return the index range [*lo, *hi) of the leaves inside. */
static void vt__isolate(vt_model_t *m, uint64_t va, uint64_t len, size_t *lo, size_t *hi) {
    uint64_t last = va + (len - 1);
    vt__split_at(m, va);
    if (last != UINT64_MAX) vt__split_at(m, last + 1);
    *lo = vt_model_lower(m, va);
    *hi = vt__upper(m, last);
}

uint64_t vt_model_unmap(vt_model_t *m, uint64_t va, uint64_t len) {
    size_t lo, hi;
    uint64_t bytes = 0;
    if (!vt_model_any(m, va, len)) return 0;
    vt__isolate(m, va, len, &lo, &hi);
    for (size_t i = lo; i < hi; i++) bytes += m->v[i].size;
    vt__splice(m, lo, hi, NULL, 0);
    return bytes;
}

int vt_model_map(vt_model_t *m, uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop,
                 uint32_t flags) {
    if (vt_model_any(m, va, len)) {
        if (!(flags & VMS_MAP_REPLACE)) return VMS_ERR_EXIST;
        vt_model_unmap(m, va, len);
    }
    size_t k = vt_plan_map(va, pa, len, prop, flags, NULL, 0);
    vt__reserve(&m->tmp, &m->tmp_cap, k);
    vt_plan_map(va, pa, len, prop, flags, m->tmp, k);
    size_t at = vt_model_lower(m, va);
    vt__splice(m, at, at, m->tmp, k);
    if (flags & VMS_MAP_COLLAPSE) { /* the blocks the range touches, in whole */
        uint64_t b = (flags & VMS_MAP_MAX_2M) ? VT_SZ_2M : VT_SZ_1G, lo = va & ~(b - 1);
        uint64_t last = (va + (len - 1)) | (b - 1);
        (void)vt_model_collapse(m, lo, last - lo + 1, flags & VMS_MAP_MAX_2M, false);
    }
    return VMS_OK;
}

void vt_model_protect(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t prop) {
    size_t lo, hi;
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    if (!vt_model_any(m, va, len)) return;
    vt__isolate(m, va, len, &lo, &hi);
    for (size_t i = lo; i < hi; i++) m->v[i].prop = (prop & ~ad) | (m->v[i].prop & ad);
}

void vt_model_protect_mask(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t set,
                           vms_prop_t clear) {
    size_t lo, hi;
    if (!vt_model_any(m, va, len)) return;
    vt__isolate(m, va, len, &lo, &hi);
    for (size_t i = lo; i < hi; i++) m->v[i].prop = (m->v[i].prop & ~clear) | set;
}

void vt_model_protect_fn(vt_model_t *m, uint64_t va, uint64_t len, vms_protect_fn fn,
                         void *user) {
    const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    size_t lo, hi;
    if (!vt_model_any(m, va, len)) return;
    vt__isolate(m, va, len, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        vt_leaf_t *f = &m->v[i];
        vms_mapping_t q = {f->va, f->pa, f->size, f->prop};
        f->prop = (fn(user, &q) & rel) | (f->prop & ~rel);
    }
}

uint64_t vt_model_harvest(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t bits, bool clear,
                          uint64_t *bitmap) {
    uint64_t last = va + (len - 1), found = 0;
    for (size_t i = vt_model_lower(m, va); i < m->n && m->v[i].va <= last; i++) {
        vt_leaf_t *f = &m->v[i];
        uint64_t f_last = f->va + (f->size - 1);
        uint64_t lo = f->va > va ? f->va : va, hi = f_last < last ? f_last : last;
        if (!(f->prop & bits)) continue;
        found += hi - lo + 1;
        if (bitmap)
            for (uint64_t p = lo; p <= hi && p >= lo; p += VT_SZ_4K)
                bitmap[(p - va) >> 18] |= (uint64_t)1 << (((p - va) >> 12) & 63);
        if (clear && f->va >= va && f_last <= last) f->prop &= ~bits;
    }
    return found;
}

int vt_model_move(vt_model_t *m, uint64_t old_va, uint64_t new_va, uint64_t len, bool active) {
    typedef struct piece_s {
        uint64_t va, pa, len; /* where it goes, its first frame, its length */
        uint32_t cap;         /* no page larger than the leaf it comes from */
        vms_prop_t prop;
    } piece_t;
    const uint64_t last = old_va + (len - 1), new_last = new_va + (len - 1);
    size_t lo = vt_model_lower(m, old_va), hi = vt__upper(m, last), k = 0;
    piece_t *p;
    if (old_va <= new_last && new_va <= last) return VMS_ERR_OVERLAP;
    if (vt_model_any(m, new_va, len)) return VMS_ERR_EXIST;
    if (lo >= hi) return VMS_OK;
    /* The part of each leaf inside the range, taken before unmap splits the cut ones. */
    p = (piece_t *)malloc((hi - lo) * sizeof *p);
    if (!p) abort();
    for (size_t i = lo; i < hi; i++, k++) {
        const vt_leaf_t *f = &m->v[i];
        uint64_t a = f->va > old_va ? f->va : old_va;
        uint64_t z = f->va + (f->size - 1) < last ? f->va + (f->size - 1) : last;
        p[k].va = a - old_va + new_va;
        p[k].pa = f->pa + (a - f->va);
        p[k].len = z - a + 1;
        p[k].cap = f->size == VT_SZ_4K ? VMS_MAP_MAX_4K : f->size == VT_SZ_2M ? VMS_MAP_MAX_2M : 0;
        p[k].prop = f->prop;
        /* Not relinked (its 2 MiB block, or the huge page itself, is not wholly inside at a
         * distance that keeps it aligned): copied, and in an active space A/D set if
         * writable. */
        uint64_t blk = f->size == VT_SZ_4K ? VT_SZ_2M : f->size, base = a & ~(blk - 1);
        bool relinked =
            base >= old_va && last - base >= blk - 1 && !((new_va - old_va) & (blk - 1));
        if (active && !relinked && (f->prop & VMS_W)) p[k].prop |= VMS_ACCESSED | VMS_DIRTY;
    }
    (void)vt_model_unmap(m, old_va, len);
    for (size_t i = 0; i < k; i++)
        if (vt_model_map(m, p[i].va, p[i].pa, p[i].len, p[i].prop, p[i].cap) != VMS_OK)
            abort(); /* the new range was checked empty */
    free(p);
    return VMS_OK;
}

/* If the leaves from index i are 512 alike leaves of `size` starting at va, with contiguous
 * frames from one aligned to 512 * size: the leaf they make (A/D the union), in *out. */
static bool vt__alike(const vt_model_t *m, size_t i, uint64_t va, uint64_t size, bool active,
                      vt_leaf_t *out) {
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    const vt_leaf_t *f = &m->v[i];
    vms_prop_t any = 0;
    if (i + 512 > m->n || f->va != va || f->size != size || (f->pa & (512 * size - 1)) != 0)
        return false;
    for (size_t j = 0; j < 512; j++) {
        if (f[j].va != va + j * size || f[j].size != size || f[j].pa != f->pa + j * size ||
            (f[j].prop & ~ad) != (f->prop & ~ad))
            return false;
        any |= f[j].prop;
    }
    out->va = va;
    out->pa = f->pa;
    out->size = 512 * size;
    out->prop = (f->prop & ~ad) | (any & ad);
    if (active && (out->prop & VMS_W)) out->prop |= ad;
    return true;
}

/* Collapse the block of 512 * size at va if it is alike; returns its bytes or 0. */
static uint64_t vt__collapse_block(vt_model_t *m, uint64_t va, uint64_t size, bool active) {
    size_t i = vt_model_lower(m, va);
    vt_leaf_t big;
    if (!vt__alike(m, i, va, size, active, &big)) return 0;
    vt__splice(m, i, i + 512, &big, 1);
    return big.size;
}

uint64_t vt_model_collapse(vt_model_t *m, uint64_t va, uint64_t len, uint32_t flags,
                           bool active) {
    uint64_t done = 0, b;
    if (len < VT_SZ_2M) return 0;
    /* Blocks b wholly inside: b >= va and b - va <= len - size (no sum can wrap). */
    b = (va + (VT_SZ_2M - 1)) & ~(VT_SZ_2M - 1);
    while (b >= va && b - va <= len - VT_SZ_2M) {
        if (!(flags & VMS_MAP_MAX_2M) && b % VT_SZ_1G == 0 && len >= VT_SZ_1G &&
            b - va <= len - VT_SZ_1G) {
            uint64_t d2 = 0, d1;
            for (uint64_t o = 0; o < VT_SZ_1G; o += VT_SZ_2M)
                d2 += vt__collapse_block(m, b + o, VT_SZ_4K, active);
            d1 = vt__collapse_block(m, b, VT_SZ_2M, active);
            done += d1 ? d1 : d2;
            b += VT_SZ_1G;
        } else {
            done += vt__collapse_block(m, b, VT_SZ_4K, active);
            b += VT_SZ_2M;
        }
    }
    return done;
}

uint64_t vt_model_table_pages(const vt_model_t *m, int levels) {
    /* A table at level l exists for every distinct region of VMS_LEVEL_SIZE(l + 1) bytes that
     * holds a leaf of level l or below. Leaves are sorted, so each key sequence is sorted. */
    uint64_t n = 1;
    static const unsigned shift[6] = {0, 21, 30, 39, 48, 57};
    for (int l = 1; l < levels; l++) {
        bool have = false;
        uint64_t prev = 0;
        for (size_t i = 0; i < m->n; i++) {
            const vt_leaf_t *f = &m->v[i];
            int leaf_level = f->size == VT_SZ_4K ? 1 : f->size == VT_SZ_2M ? 2 : 3;
            if (leaf_level > l) continue;
            uint64_t key = f->va >> shift[l];
            if (!have || key != prev) n++;
            have = true;
            prev = key;
        }
    }
    return n;
}

void vt_model_bytes(const vt_model_t *m, uint64_t bytes[3]) {
    bytes[0] = bytes[1] = bytes[2] = 0;
    for (size_t i = 0; i < m->n; i++) {
        const vt_leaf_t *f = &m->v[i];
        bytes[f->size == VT_SZ_4K ? 0 : f->size == VT_SZ_2M ? 1 : 2] += f->size;
    }
}
