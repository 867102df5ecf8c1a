/* A page walk written from the SDM, and digests of a space's tables and mappings. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "vt.h"

unsigned vt_index(uint64_t va, int level) {
    /* Level 1 uses bits 20..12, level 2 bits 29..21, level 3 bits 38..30, level 4 bits
     * 47..39, level 5 bits 56..48. */
    static const unsigned lo[6] = {0, 12, 21, 30, 39, 48};
    return (unsigned)((va >> lo[level]) & 0x1ff);
}

uint64_t vt_level_size(int level) {
    static const uint64_t sz[6] = {0, 0x1000, 0x200000, 0x40000000, 0x8000000000, 0x1000000000000};
    return sz[level];
}

bool vt_used(uint64_t e) { return (e & (VT_BIT(0) | VT_BIT(10))) != 0; }

static bool vt__is_leaf(uint64_t e, int level) {
    return level == 1 || ((level == 2 || level == 3) && (e & VT_BIT(7)));
}

uint64_t *vt_walk(const vms_space_t *s, uint64_t va, int *level, uint64_t inter[6]) {
    uint64_t *t = vms_space_table(s, s->root_pa);
    for (int l = s->levels; l >= 1; l--) {
        uint64_t *e = &t[vt_index(va, l)];
        *level = l;
        if (!vt_used(*e)) return NULL;
        if (vt__is_leaf(*e, l)) return e;
        if (inter) inter[l] = *e;
        t = vms_space_table(s, *e & VT_ADDR_BITS);
    }
    return NULL;
}

/* Depth-first walk over all tables; calls visit(table_pa, table, level) in walk order. */
typedef void (*vt__visit_fn)(void *user, uint64_t pa, const uint64_t *t, int level);

static void vt__walk_tables(const vms_space_t *s, vt__visit_fn visit, void *user) {
    struct {
        const uint64_t *t;
        int level;
        unsigned next;
    } st[6];
    int sp = 0;
    st[0].t = vms_space_table(s, s->root_pa);
    st[0].level = s->levels;
    st[0].next = 0;
    visit(user, s->root_pa, st[0].t, s->levels);
    while (sp >= 0) {
        if (st[sp].next == 512) {
            sp--;
            continue;
        }
        unsigned i = st[sp].next++;
        uint64_t e = st[sp].t[i];
        int l = st[sp].level;
        if (l == 1 || !vt_used(e) || vt__is_leaf(e, l)) continue;
        uint64_t pa = e & VT_ADDR_BITS;
        sp++;
        st[sp].t = vms_space_table(s, pa);
        st[sp].level = l - 1;
        st[sp].next = 0;
        visit(user, pa, st[sp].t, l - 1);
    }
}

static void vt__hash_table(void *user, uint64_t pa, const uint64_t *t, int level) {
    XXH3_state_t *h = (XXH3_state_t *)user;
    (void)level;
    XXH3_64bits_update(h, &pa, sizeof pa);
    XXH3_64bits_update(h, t, 4096);
}

static int vt__hash_mapping(void *user, const vms_mapping_t *m) {
    XXH3_state_t *h = (XXH3_state_t *)user;
    uint64_t w[4] = {m->va, m->pa, m->size, m->prop};
    XXH3_64bits_update(h, w, sizeof w);
    return 0;
}

static void vt__hash_stats(XXH3_state_t *h, const vms_space_t *s, bool tables) {
    vms_stats_t st;
    memset(&st, 0, sizeof st);
    vms_space_stats(s, &st);
    uint64_t w[4] = {tables ? st.table_pages : 0, st.mapped_bytes[0], st.mapped_bytes[1],
                     st.mapped_bytes[2]};
    XXH3_64bits_update(h, w, sizeof w);
}

uint64_t vt_digest(const vms_space_t *s) {
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    vt__walk_tables(s, vt__hash_table, h);
    vms_space_enumerate(s, vt__hash_mapping, h);
    vt__hash_stats(h, s, true);
    uint64_t d = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return d;
}

uint64_t vt_digest_mappings(const vms_space_t *s) {
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    vms_space_enumerate(s, vt__hash_mapping, h);
    vt__hash_stats(h, s, false);
    uint64_t d = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return d;
}

static void vt__count(void *user, uint64_t pa, const uint64_t *t, int level) {
    (void)pa, (void)t, (void)level;
    ++*(uint64_t *)user;
}

uint64_t vt_count_tables(const vms_space_t *s) {
    uint64_t n = 0;
    vt__walk_tables(s, vt__count, &n);
    return n;
}

/* A top table of the range the space shares (vms_share_t): the group keeps it while it
 * lives, even empty. The root entry that points to it gives its slot; the group's range is
 * linear (sign-extension bits stripped), as slot * span is. */
static bool vt__pinned(const vms_space_t *s, uint64_t pa, int level) {
    const uint64_t *root = vms_space_table(s, s->root_pa);
    if (s->share == NULL || level != s->levels - 1) return false;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t lin = (uint64_t)i * vt_level_size(s->levels);
        if (vt_used(root[i]) && (root[i] & VT_ADDR_BITS) == pa)
            return lin >= s->share->lo && lin < s->share->hi;
    }
    return false;
}

struct vt__check {
    const vms_space_t *s;
    const char *err;
    uint64_t *pas;
    size_t n, cap;
};

static void vt__check_table(void *user, uint64_t pa, const uint64_t *t, int level) {
    struct vt__check *c = (struct vt__check *)user;
    unsigned used = 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->pas = (uint64_t *)realloc(c->pas, c->cap * sizeof *c->pas);
    }
    c->pas[c->n++] = pa;
    if (pa & 0xfff) c->err = c->err ? c->err : "table page not 4 KiB aligned";
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = t[i];
        if (!vt_used(e)) {
            if (e != 0 && !c->err) c->err = "unused entry is not zero";
            continue;
        }
        used++;
        if (!vt__is_leaf(e, level)) {
            if ((e & ~VT_ADDR_BITS) != (VT_BIT(0) | VT_BIT(1) | VT_BIT(2)) && !c->err)
                c->err = "intermediate entry is not exactly P|RW|US";
            continue;
        }
        if (level >= 2) {
            /* Address bits below the page size, except PAT at bit 12, are reserved. */
            uint64_t low = (vt_level_size(level) - 1) & VT_ADDR_BITS & ~VT_BIT(12);
            if ((e & low) && !c->err) c->err = "huge leaf has reserved address bits set";
        }
        if (level > 3 && !c->err) c->err = "leaf above level 3";
    }
    if (used == 0 && pa != c->s->root_pa && !vt__pinned(c->s, pa, level) && !c->err)
        c->err = "empty table page kept";
}

static int vt__cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

const char *vt_check_tables(const vms_space_t *s) {
    struct vt__check c = {s, NULL, NULL, 0, 0};
    vt__walk_tables(s, vt__check_table, &c);
    qsort(c.pas, c.n, sizeof *c.pas, vt__cmp_u64);
    for (size_t i = 1; i < c.n && !c.err; i++)
        if (c.pas[i] == c.pas[i - 1]) c.err = "table page reachable twice";
    free(c.pas);
    return c.err;
}

struct vt__enum {
    vms_mapping_t *v;
    size_t n, cap;
};

static int vt__collect(void *user, const vms_mapping_t *m) {
    struct vt__enum *e = (struct vt__enum *)user;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 256;
        e->v = (vms_mapping_t *)realloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n++] = *m;
    return 0;
}

vms_mapping_t *vt_enumerate(const vms_space_t *s, size_t *n) {
    struct vt__enum e = {NULL, 0, 0};
    vms_space_enumerate(s, vt__collect, &e);
    *n = e.n;
    return e.v;
}
