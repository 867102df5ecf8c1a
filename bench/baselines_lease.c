/* baselines_lease.c - the lease baselines, written for the benchmark:
 *
 *   lease_rb    a red-black interval tree from libbsd's <sys/tree.h> (RB_GENERATE), ordered
 *               by start, with the RB_AUGMENT hook keeping each node's subtree maximum end, so
 *               "does anything overlap [s, e)" is one O(log n) descent. Readers and writers
 *               live in two trees, so a shared reader checks only the writers.
 *   lease_list  a plain doubly linked list scanned linearly on every take.
 *
 * Both follow the owner's rules: a writer overlaps nothing; a reader overlaps no writer, and
 * no reader either unless the set is in shared-reader mode; ranges that only touch do not
 * overlap. Nodes come from a preallocated pool with a free list (no malloc in the loop).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_list.h"

/* ------------------------------------------------------------------------------------------ */
/* Red-black interval tree */

struct bl_node;
static void bl_augment(struct bl_node *n);
#define RB_AUGMENT(x) bl_augment(x)
#include <bsd/sys/tree.h>

typedef struct bl_node {
    RB_ENTRY(bl_node) link;
    uint64_t start, end; /* [start, end) */
    uint64_t max;        /* largest end in this subtree */
    uint64_t id;
} bl_node_t;

RB_HEAD(bl_tree, bl_node);

static void bl_augment(struct bl_node *n) {
    uint64_t m = n->end;
    struct bl_node *c = RB_LEFT(n, link);
    if (c && c->max > m) m = c->max;
    c = RB_RIGHT(n, link);
    if (c && c->max > m) m = c->max;
    n->max = m;
}

static int bl_cmp(const struct bl_node *a, const struct bl_node *b) {
    if (a->start != b->start) return a->start < b->start ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(bl_tree, bl_node, link, bl_cmp)

/* Is any node of the tree overlapping [s, e)? (Go left whenever the left subtree reaches past
 * s: if nothing there overlaps, nothing on the right can either.) */
static int bl_tree_overlaps(const struct bl_tree *t, uint64_t s, uint64_t e) {
    const struct bl_node *x = RB_ROOT(t);
    while (x) {
        const struct bl_node *l;
        if (x->start < e && x->end > s) return 1;
        l = RB_LEFT(x, link);
        if (l && l->max > s) x = l;
        else x = RB_RIGHT(x, link);
    }
    return 0;
}

static void bl_tree_insert(struct bl_tree *t, struct bl_node *n) {
    struct bl_node *x = RB_ROOT(t);
    /* Raise the maxima along the search path first, so every rotation in the rebalance
     * recomputes from exact children. */
    n->max = n->end;
    while (x) {
        if (x->max < n->end) x->max = n->end;
        x = bl_cmp(n, x) < 0 ? RB_LEFT(x, link) : RB_RIGHT(x, link);
    }
    bl_tree_RB_INSERT(t, n);
}

static void bl_tree_remove(struct bl_tree *t, struct bl_node *n) {
    struct bl_node *p;
    /* Take n's end out of the maxima above it first, then unlink it; the rotations and the
     * successor walk in RB_REMOVE recompute from exact children. */
    n->end = n->start;
    for (p = n; p; p = RB_PARENT(p, link)) bl_augment(p);
    p = RB_PARENT(n, link);
    bl_tree_RB_REMOVE(t, n);
    for (; p; p = RB_PARENT(p, link)) bl_augment(p);
}

typedef struct bl_rb_s {
    struct bl_tree readers, writers;
    bl_node_t *pool, *free_list;
    uint64_t cap, next_id, live;
    int shared;
    uint64_t batch, pos;
    vms_bench_lease_load_t load;
} bl_rb_t;

static bl_node_t *bl_rb_take(bl_rb_t *b, uint64_t s, uint64_t len, int writer) {
    uint64_t e = s + len;
    bl_node_t *n;
    if (bl_tree_overlaps(&b->writers, s, e)) return NULL;
    if ((writer || !b->shared) && bl_tree_overlaps(&b->readers, s, e)) return NULL;
    n = b->free_list;
    if (!n) return NULL;
    b->free_list = RB_LEFT(n, link);
    n->start = s;
    n->end = e;
    n->id = ++b->next_id;
    bl_tree_insert(writer ? &b->writers : &b->readers, n);
    b->live++;
    return n;
}

static void bl_rb_release(bl_rb_t *b, bl_node_t *n, int writer) {
    bl_tree_remove(writer ? &b->writers : &b->readers, n);
    RB_LEFT(n, link) = b->free_list;
    b->free_list = n;
    b->live--;
}

void *vms_bench_lease_rb_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bl_rb_t *b = calloc(1, sizeof *b);
    uint64_t n = (uint64_t)arg, k;
    if (!b) vms_bench_die("calloc", 0);
    RB_INIT(&b->readers);
    RB_INIT(&b->writers);
    vms_bench_lease_load_init(&b->load, variant, n);
    b->shared = variant == VMS_BENCH_LEASE_SHARED;
    b->cap = n + 2;
    b->pool = vms_bench_alloc(b->cap * sizeof *b->pool);
    for (k = b->cap; k-- > 0;) {
        RB_LEFT(&b->pool[k], link) = b->free_list;
        b->free_list = &b->pool[k];
    }
    for (k = 0; k < n; k++) {
        if (!bl_rb_take(b, vms_bench_live_start(&b->load, k), vms_bench_lease_len(&b->load),
                        vms_bench_live_writer(&b->load, k)))
            vms_bench_die("rbtree live set", (int)k);
    }
    b->batch = 64;
    info->items = b->batch;
    return b;
}

uint64_t vms_bench_lease_rb_step(void *state) {
    bl_rb_t *b = state;
    uint64_t i, acc = 0, len = vms_bench_lease_len(&b->load), pos = b->pos;
    int op = b->load.op;
    for (i = 0; i < b->batch; i++, pos++) {
        uint64_t s = vms_bench_probe_start(&b->load, pos);
        int writer = op == VMS_BENCH_LEASE_WRITER || op == VMS_BENCH_LEASE_CONFLICT;
        bl_node_t *n = bl_rb_take(b, s, len, writer);
        if (op == VMS_BENCH_LEASE_CONFLICT) {
            if (n) vms_bench_die("rbtree conflict not found", 0);
            acc++;
            continue;
        }
        if (!n) vms_bench_die("rbtree take", (int)i);
        acc += n->id;
        bl_rb_release(b, n, writer);
    }
    b->pos = pos;
    return acc;
}

void vms_bench_lease_rb_reset(void *state) { (void)state; }

void vms_bench_lease_rb_report(void *state, vms_bench_info_t *info) {
    bl_rb_t *b = state;
    vms_bench_counter(info, "bytes_per_lease", (double)sizeof(bl_node_t));
    vms_bench_counter(info, "live", (double)b->live);
}

void vms_bench_lease_rb_teardown(void *state) {
    bl_rb_t *b = state;
    vms_bench_free(b->pool, b->cap * sizeof *b->pool);
    vms_bench_lease_load_fini(&b->load);
    free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* Plain list */

typedef struct bl_lnode_s {
    struct bl_lnode_s *prev, *next;
    uint64_t start, end, id;
    int writer;
} bl_lnode_t;

typedef struct bl_list_s {
    bl_lnode_t head; /* sentinel */
    bl_lnode_t *pool, *free_list;
    uint64_t cap, next_id, live;
    int shared;
    uint64_t batch, pos;
    vms_bench_lease_load_t load;
} bl_list_t;

static bl_lnode_t *bl_list_take(bl_list_t *b, uint64_t s, uint64_t len, int writer) {
    uint64_t e = s + len;
    bl_lnode_t *x, *n;
    int strict = writer || !b->shared;
    for (x = b->head.next; x != &b->head; x = x->next) {
        if (x->start < e && x->end > s && (strict || x->writer)) return NULL;
    }
    n = b->free_list;
    if (!n) return NULL;
    b->free_list = n->next;
    n->start = s;
    n->end = e;
    n->writer = writer;
    n->id = ++b->next_id;
    n->next = b->head.next;
    n->prev = &b->head;
    b->head.next->prev = n;
    b->head.next = n;
    b->live++;
    return n;
}

static void bl_list_release(bl_list_t *b, bl_lnode_t *n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = b->free_list;
    b->free_list = n;
    b->live--;
}

void *vms_bench_lease_list_setup(int variant, int64_t arg, vms_bench_info_t *info) {
    bl_list_t *b = calloc(1, sizeof *b);
    uint64_t n = (uint64_t)arg, k;
    if (!b) vms_bench_die("calloc", 0);
    b->head.next = b->head.prev = &b->head;
    vms_bench_lease_load_init(&b->load, variant, n);
    b->shared = variant == VMS_BENCH_LEASE_SHARED;
    b->cap = n + 2;
    b->pool = vms_bench_alloc(b->cap * sizeof *b->pool);
    for (k = b->cap; k-- > 0;) {
        b->pool[k].next = b->free_list;
        b->free_list = &b->pool[k];
    }
    /* Building the live set through take would be O(n^2); the live sets are conflict-free
     * by construction, so link them directly (the rbtree baseline checks that). */
    for (k = 0; k < n; k++) {
        bl_lnode_t *x = b->free_list;
        b->free_list = x->next;
        x->start = vms_bench_live_start(&b->load, k);
        x->end = x->start + vms_bench_lease_len(&b->load);
        x->writer = vms_bench_live_writer(&b->load, k);
        x->id = ++b->next_id;
        x->next = b->head.next;
        x->prev = &b->head;
        b->head.next->prev = x;
        b->head.next = x;
        b->live++;
    }
    b->batch = n >= 100000 ? 1 : n >= 1000 ? 8 : 64;
    info->items = b->batch;
    return b;
}

uint64_t vms_bench_lease_list_step(void *state) {
    bl_list_t *b = state;
    uint64_t i, acc = 0, len = vms_bench_lease_len(&b->load), pos = b->pos;
    int op = b->load.op;
    for (i = 0; i < b->batch; i++, pos++) {
        uint64_t s = vms_bench_probe_start(&b->load, pos);
        int writer = op == VMS_BENCH_LEASE_WRITER || op == VMS_BENCH_LEASE_CONFLICT;
        bl_lnode_t *n = bl_list_take(b, s, len, writer);
        if (op == VMS_BENCH_LEASE_CONFLICT) {
            if (n) vms_bench_die("list conflict not found", 0);
            acc++;
            continue;
        }
        if (!n) vms_bench_die("list take", (int)i);
        acc += n->id;
        bl_list_release(b, n);
    }
    b->pos = pos;
    return acc;
}

void vms_bench_lease_list_reset(void *state) { (void)state; }

void vms_bench_lease_list_report(void *state, vms_bench_info_t *info) {
    bl_list_t *b = state;
    vms_bench_counter(info, "bytes_per_lease", (double)sizeof(bl_lnode_t));
    vms_bench_counter(info, "live", (double)b->live);
}

void vms_bench_lease_list_teardown(void *state) {
    bl_list_t *b = state;
    vms_bench_free(b->pool, b->cap * sizeof *b->pool);
    vms_bench_lease_load_fini(&b->load);
    free(b);
}
