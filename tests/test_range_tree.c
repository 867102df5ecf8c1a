/* The range tree alone: a B+-tree of closed intervals with per-child maxima. Every query is
 * compared with a brute-force scan of a plain array of the same intervals; under VMSPACE_DEBUG
 * the tree's full structural check (order, balance, fill, maxima, node accounting) runs too. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"

/* ---- the reference: an unsorted array of live intervals ---- */
typedef struct ref_s {
    vms_itree_entry_t *v;
    size_t n, cap;
} ref_t;

static void ref_add(ref_t *r, uint64_t f, uint64_t l, uint32_t id) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        cr_assert(r->v != NULL);
    }
    r->v[r->n].first = f;
    r->v[r->n].last = l;
    r->v[r->n].ref = id;
    r->n++;
}

static void ref_del(ref_t *r, size_t i) { r->v[i] = r->v[--r->n]; }

static bool key_lt(const vms_itree_entry_t *a, const vms_itree_entry_t *b) {
    return a->first < b->first || (a->first == b->first && a->ref < b->ref);
}

/* The brute-force leftmost overlap (in (first, ref) order). */
static bool ref_first(const ref_t *r, uint64_t f, uint64_t l, vms_itree_entry_t *out) {
    bool found = false;
    for (size_t i = 0; i < r->n; i++) {
        const vms_itree_entry_t *e = &r->v[i];
        if (e->first <= l && e->last >= f && (!found || key_lt(e, out))) {
            *out = *e;
            found = true;
        }
    }
    return found;
}

static size_t ref_count(const ref_t *r, uint64_t f, uint64_t l) {
    size_t c = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].first <= l && r->v[i].last >= f) c++;
    return c;
}

static void expect_tree_ok(const vms_itree_t *t) {
#ifdef VMSPACE_DEBUG
    const char *bad = vms_itree_check(t);
    cr_assert(bad == NULL, "tree check: %s", bad ? bad : "");
#else
    (void)t;
#endif
}

/* Enumerate [f, l] through the iterator: strictly increasing keys, each overlapping, and as
 * many as the reference has. */
static void expect_iter(const vms_itree_t *t, const ref_t *r, uint64_t f, uint64_t l) {
    vms_itree_iter_t it;
    vms_itree_entry_t e, prev;
    size_t n = 0;
    bool more = vms_itree_iter_first(t, f, l, &it, &e);
    while (more) {
        cr_assert(e.first <= l && e.last >= f, "entry [%llx,%llx] outside the query",
                  (unsigned long long)e.first, (unsigned long long)e.last);
        if (n) cr_assert(key_lt(&prev, &e), "iteration out of order");
        prev = e;
        n++;
        more = vms_itree_iter_next(&it, &e);
    }
    cr_assert(eq(sz, n, ref_count(r, f, l)), "query [%llx,%llx]", (unsigned long long)f,
              (unsigned long long)l);
}

static void expect_first(const vms_itree_t *t, const ref_t *r, uint64_t f, uint64_t l) {
    vms_itree_entry_t a, b;
    bool ha = vms_itree_first_overlap(t, f, l, &a), hb = ref_first(r, f, l, &b);
    cr_assert(eq(int, ha, hb), "first_overlap [%llx,%llx]: tree %d, reference %d",
              (unsigned long long)f, (unsigned long long)l, ha, hb);
    if (ha) {
        cr_assert(eq(u64, a.first, b.first));
        cr_assert(eq(u64, a.last, b.last));
        cr_assert(eq(u32, a.ref, b.ref));
    }
}

Test(range_tree, empty) {
    vms_itree_t t;
    vms_itree_entry_t e;
    vms_itree_iter_t it;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    cr_expect(not(vms_itree_first_overlap(&t, 0, UINT64_MAX, &e)));
    cr_expect(not(vms_itree_iter_first(&t, 0, UINT64_MAX, &it, &e)));
    cr_expect(not(vms_itree_remove(&t, 0, 0)));
    cr_expect(eq(sz, vms_itree_bytes(&t), 0));
    expect_tree_ok(&t);
    vms_itree_destroy(&t);
}

/* Closed intervals: [10, 19] and [20, 29] touch but do not overlap; the extreme values of the
 * key space work. */
Test(range_tree, boundaries) {
    vms_itree_t t;
    vms_itree_entry_t e;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, 10, 19, 1), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, 20, 29, 2), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, UINT64_MAX - 5, UINT64_MAX, 3), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, 0, 0, 4), VMS_OK));
    cr_expect(vms_itree_first_overlap(&t, 19, 19, &e) && e.ref == 1);
    cr_expect(vms_itree_first_overlap(&t, 20, 20, &e) && e.ref == 2);
    cr_expect(vms_itree_first_overlap(&t, 19, 20, &e) && e.ref == 1);
    cr_expect(not(vms_itree_first_overlap(&t, 30, UINT64_MAX - 6, &e)));
    cr_expect(not(vms_itree_first_overlap(&t, 1, 9, &e)));
    cr_expect(vms_itree_first_overlap(&t, UINT64_MAX, UINT64_MAX, &e) && e.ref == 3);
    cr_expect(vms_itree_first_overlap(&t, 0, UINT64_MAX, &e) && e.ref == 4);
    /* first > last is an empty query. */
    cr_expect(not(vms_itree_first_overlap(&t, 25, 15, &e)));
    cr_expect(not(vms_itree_remove(&t, 10, 2)), "key is (first, ref): wrong ref");
    cr_expect(vms_itree_remove(&t, 10, 1));
    cr_expect(not(vms_itree_remove(&t, 10, 1)));
    cr_expect(not(vms_itree_first_overlap(&t, 11, 19, &e)));
    expect_tree_ok(&t);
    vms_itree_destroy(&t);
}

/* Random inserts and removes of small, heavily overlapping intervals (same starts included),
 * checked against the reference after every step. */
Test(range_tree, differential) {
    uint64_t seed = vt_seed_from_env(0x5eed7ee);
    vt_rng_t rng;
    vms_itree_t t;
    ref_t r = {0};
    uint32_t next_id = 0;
    vt_rng_seed(&rng, seed);
    cr_log_info("range_tree.differential seed %#llx", (unsigned long long)seed);
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    for (int step = 0; step < 60000; step++) {
        uint64_t op = vt_rng_below(&rng, 100);
        /* Grow to about 300 entries, then hover. */
        if (r.n == 0 || op < (r.n < 300 ? 60u : 45u)) {
            uint64_t f = vt_rng_below(&rng, 2000), l = f + vt_rng_below(&rng, 64);
            cr_assert(eq(int, vms_itree_insert(&t, f, l, next_id), VMS_OK));
            ref_add(&r, f, l, next_id++);
        } else {
            size_t i = (size_t)vt_rng_below(&rng, r.n);
            cr_assert(vms_itree_remove(&t, r.v[i].first, r.v[i].ref), "step %d", step);
            ref_del(&r, i);
        }
        cr_assert(eq(u64, t.count, r.n));
        expect_tree_ok(&t);
        for (int q = 0; q < 3; q++) {
            uint64_t f = vt_rng_below(&rng, 2100), l = f + vt_rng_below(&rng, 100);
            expect_first(&t, &r, f, l);
            if (q == 0) expect_iter(&t, &r, f, l);
        }
    }
    expect_iter(&t, &r, 0, UINT64_MAX);
    while (r.n) {
        cr_assert(vms_itree_remove(&t, r.v[r.n - 1].first, r.v[r.n - 1].ref));
        r.n--;
        expect_tree_ok(&t);
    }
    cr_expect(eq(u32, t.root, VMS_ITREE_NIL));
    cr_expect(eq(u32, vms_itree_nodes_live(&t), 0));
    free(r.v);
    vms_itree_destroy(&t);
}

/* A million disjoint intervals inserted in random order and removed in another random order,
 * with periodic checks, a full check at the peak, and the memory budget (live nodes at most
 * 64 bytes per entry). */
Test(range_tree, million, .timeout = 120) {
    enum { N = 1000000 };
    uint64_t seed = vt_seed_from_env(0x1e6);
    vt_rng_t rng;
    vms_itree_t t;
    uint32_t *perm = malloc(N * sizeof *perm);
    cr_assert(perm != NULL);
    vt_rng_seed(&rng, seed);
    cr_log_info("range_tree.million seed %#llx", (unsigned long long)seed);
    for (uint32_t i = 0; i < N; i++) perm[i] = i;
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)vt_rng_below(&rng, i + 1u), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    /* Interval i is [16 i, 16 i + 9]: disjoint, with gaps. */
    for (uint32_t k = 0; k < N; k++) {
        uint64_t f = (uint64_t)perm[k] * 16;
        cr_assert(eq(int, vms_itree_insert(&t, f, f + 9, perm[k]), VMS_OK));
        if (k % 200000 == 199999) expect_tree_ok(&t);
    }
    expect_tree_ok(&t);
    cr_assert(eq(u64, t.count, N));
    {
        double live = (double)vms_itree_nodes_live(&t) * VMS_ITREE_NODE_SIZE / N;
        double cap = (double)vms_itree_bytes(&t) / N;
        cr_log_info("million: height %u, %.1f live bytes and %.1f slab bytes per entry", t.height,
                    live, cap);
        cr_expect(le(dbl, live, 64.0), "live node bytes per entry %.1f", live);
        cr_expect(le(u32, t.height, 8u));
    }
    /* Full in-order walk: exactly 0, 1, 2, ... */
    {
        vms_itree_iter_t it;
        vms_itree_entry_t e;
        uint32_t want = 0;
        bool more = vms_itree_iter_first(&t, 0, UINT64_MAX, &it, &e);
        while (more) {
            cr_assert(eq(u32, e.ref, want));
            cr_assert(eq(u64, e.first, (uint64_t)want * 16));
            want++;
            more = vms_itree_iter_next(&it, &e);
        }
        cr_assert(eq(u32, want, N));
    }
    /* Point queries: inside, in a gap, touching. */
    for (int q = 0; q < 10000; q++) {
        uint64_t i = vt_rng_below(&rng, N);
        vms_itree_entry_t e;
        cr_assert(vms_itree_first_overlap(&t, i * 16 + 9, i * 16 + 9, &e) && e.ref == i);
        cr_assert(not(vms_itree_first_overlap(&t, i * 16 + 10, i * 16 + 15, &e)));
        if (i + 1 < N)
            cr_assert(vms_itree_first_overlap(&t, i * 16 + 10, i * 16 + 16, &e) &&
                      e.first == i * 16 + 16);
    }
    /* Remove in a fresh random order. */
    for (uint32_t i = N - 1; i > 0; i--) {
        uint32_t j = (uint32_t)vt_rng_below(&rng, i + 1u), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    for (uint32_t k = 0; k < N; k++) {
        cr_assert(vms_itree_remove(&t, (uint64_t)perm[k] * 16, perm[k]));
        if (k % 200000 == 199999) {
            expect_tree_ok(&t);
            cr_assert(eq(u64, t.count, (uint64_t)(N - 1 - k)));
        }
    }
    expect_tree_ok(&t);
    cr_expect(eq(u64, t.count, 0));
    cr_expect(eq(u32, vms_itree_nodes_live(&t), 0));
    free(perm);
    vms_itree_destroy(&t);
}

/* Ascending and descending insertion (the worst fill for an even split) stay within budget
 * and keep the structure valid; nested intervals (all sharing a start) exercise the maxima. */
Test(range_tree, sequential_and_nested) {
    enum { N = 100000 };
    vms_itree_t t;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    for (uint32_t i = 0; i < N; i++)
        cr_assert(eq(int, vms_itree_insert(&t, (uint64_t)i * 8, (uint64_t)i * 8 + 7, i), VMS_OK));
    expect_tree_ok(&t);
    cr_expect(le(dbl, (double)vms_itree_nodes_live(&t) * VMS_ITREE_NODE_SIZE / N, 64.0));
    for (uint32_t i = N; i-- > 0;) cr_assert(vms_itree_remove(&t, (uint64_t)i * 8, i));
    expect_tree_ok(&t);
    for (uint32_t i = N; i-- > 0;)
        cr_assert(eq(int, vms_itree_insert(&t, (uint64_t)i * 8, (uint64_t)i * 8 + 7, i), VMS_OK));
    expect_tree_ok(&t);
    cr_expect(le(dbl, (double)vms_itree_nodes_live(&t) * VMS_ITREE_NODE_SIZE / N, 64.0));
    for (uint32_t i = 0; i < N; i++) cr_assert(vms_itree_remove(&t, (uint64_t)i * 8, i));
    /* Nested: [1000, 1000 + k] for k = 0..999; the longest is the only one reaching 1999. */
    for (uint32_t k = 0; k < 1000; k++)
        cr_assert(eq(int, vms_itree_insert(&t, 1000, 1000 + k, k), VMS_OK));
    expect_tree_ok(&t);
    {
        vms_itree_entry_t e;
        cr_expect(vms_itree_first_overlap(&t, 1999, 5000, &e) && e.ref == 999);
        cr_expect(vms_itree_remove(&t, 1000, 999));
        expect_tree_ok(&t);
        cr_expect(not(vms_itree_first_overlap(&t, 1999, 5000, &e)));
        cr_expect(vms_itree_first_overlap(&t, 1998, 5000, &e) && e.ref == 998);
    }
    vms_itree_destroy(&t);
}

/* ---- allocation failure ---- */
typedef struct fail_alloc_s {
    long calls, fail_at; /* fail the call numbered fail_at (1-based); 0 = never */
    long live;
} fail_alloc_t;

static void *fa_alloc(void *user, size_t size) {
    fail_alloc_t *f = user;
    if (++f->calls == f->fail_at) return NULL;
    f->live++;
    return malloc(size);
}

static void fa_free(void *user, void *p, size_t size) {
    fail_alloc_t *f = user;
    (void)size;
    f->live--;
    free(p);
}

/* Every insert that needs the slab to grow fails once: the tree must read exactly as before
 * (same entries, same structure) and the retry must succeed. */
Test(range_tree, alloc_failure) {
    fail_alloc_t fa = {0, 0, 0};
    vms_allocator_t a = {fa_alloc, fa_free, &fa};
    vms_itree_t t;
    ref_t r = {0};
    int failures = 0;
    cr_assert(eq(int, vms_itree_init(&t, &a), VMS_OK));
    for (uint32_t i = 0; i < 3000; i++) {
        uint64_t f = (uint64_t)(i * 7919u % 3000u) * 4;
        uint32_t cap = t.cap, bump = t.bump, root = t.root, height = t.height;
        uint64_t count = t.count;
        fa.fail_at = fa.calls + 1; /* the next allocation fails */
        int rc = vms_itree_insert(&t, f, f + 5, i);
        if (rc == VMS_ERR_NOMEM) {
            failures++;
            cr_assert(eq(u32, t.cap, cap));
            cr_assert(eq(u32, t.bump, bump));
            cr_assert(eq(u32, t.root, root));
            cr_assert(eq(u32, t.height, height));
            cr_assert(eq(u64, t.count, count));
            expect_tree_ok(&t);
            expect_iter(&t, &r, 0, UINT64_MAX);
            fa.fail_at = 0;
            rc = vms_itree_insert(&t, f, f + 5, i);
        }
        cr_assert(eq(int, rc, VMS_OK));
        ref_add(&r, f, f + 5, i);
    }
    cr_expect(gt(int, failures, 5), "the slab grew only %d times", failures);
    expect_tree_ok(&t);
    expect_iter(&t, &r, 0, UINT64_MAX);
    vms_itree_destroy(&t);
    cr_expect(eq(long, fa.live, 0));
    free(r.v);
}

Test(range_tree, allocator_hooks_both_or_neither) {
    vms_itree_t t;
    vms_allocator_t half = {fa_alloc, NULL, NULL};
    cr_expect(eq(int, vms_itree_init(&t, &half), VMS_ERR_ARG));
}
