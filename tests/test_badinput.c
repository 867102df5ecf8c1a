/* Bad input: every kind gets its own error code, and nothing changes (tables, enumeration,
 * stats and the cursor position are compared before and after). A few valid neighbours of
 * the bad values are in the table too, to show that the boundary sits where it should. */
#include "support/vt_cr.h"

#define PHYS_TOP ((uint64_t)1 << 52)

enum op {
    MAP,
    UNMAP,
    PROTECT,
    QUERY,
    CUR_OPEN,
    CUR_MAP,
    CUR_MAP_RANGE,
    CUR_JUMP,
    CUR_UNMAP,
    CUR_PROTECT,
    CUR_PROTECT_NEXT,
    CUR_FIND_NEXT,
    INIT
};

struct bad_case {
    char name[56];
    int levels;
    enum op op;
    uint64_t va, pa, len; /* len is the page size for CUR_MAP */
    uint32_t prop, flags;
    int expect;
};

/* Cursors are opened over [CUR_LO, CUR_LO + CUR_LEN), where nothing is mapped. */
#define CUR_LO (4 * G1)
#define CUR_LEN (2 * G1 - M2) /* the end is not 1 GiB aligned */

ParameterizedTestParameters(badinput, each) {
    static struct bad_case cases[] = {
        /* map */
        {"map: va non-canonical (bit 47)", 4, MAP, 0x0000800000000000, 0, K4, VMS_R, 0,
         VMS_ERR_NONCANON},
        {"map: va non-canonical (high)", 4, MAP, 0xffff7ffffffff000, 0, K4, VMS_R, 0,
         VMS_ERR_NONCANON},
        {"map: va non-canonical (5 levels)", 5, MAP, 0x0100000000000000, 0, K4, VMS_R, 0,
         VMS_ERR_NONCANON},
        {"map: va canonical with 5 levels", 5, MAP, 0x0000800000000000, 0, K4, VMS_R, 0, VMS_OK},
        {"map: va misaligned", 4, MAP, 0x10800, 0, K4, VMS_R, 0, VMS_ERR_ALIGN},
        {"map: pa misaligned", 4, MAP, 0x10000, 0x1800, K4, VMS_R, 0, VMS_ERR_ALIGN},
        {"map: len misaligned", 4, MAP, 0x10000, 0, 0x1800, VMS_R, 0, VMS_ERR_ALIGN},
        {"map: len zero", 4, MAP, 0x10000, 0, 0, VMS_R, 0, VMS_ERR_ZEROLEN},
        {"map: across the canonical hole", 4, MAP, 0x00007ffffffff000, 0, 2 * K4, VMS_R, 0,
         VMS_ERR_OVERFLOW},
        {"map: across the hole (5 levels)", 5, MAP, 0x00fffffffffff000, 0, 2 * K4, VMS_R, 0,
         VMS_ERR_OVERFLOW},
        {"map: va + len wraps", 4, MAP, 0xfffffffffffff000, 0, 2 * K4, VMS_R, 0, VMS_ERR_OVERFLOW},
        {"map: huge len wraps", 4, MAP, 0xffff800000000000, 0, 0xffff800000000000, VMS_R, 0,
         VMS_ERR_OVERFLOW},
        {"map: last page of the space", 4, MAP, 0xfffffffffffff000, 0, K4, VMS_R, 0, VMS_OK},
        {"map: pa at 2^52", 4, MAP, 0x10000, PHYS_TOP, K4, VMS_R, 0, VMS_ERR_PHYS},
        {"map: pa + len beyond 2^52", 4, MAP, 0x10000, PHYS_TOP - K4, 2 * K4, VMS_R, 0,
         VMS_ERR_PHYS},
        {"map: pa with high bits", 4, MAP, 0x10000, 0x8000000000001000, K4, VMS_R, 0, VMS_ERR_PHYS},
        {"map: pa + len wraps", 4, MAP, 0x10000, 0xfffffffffffff000, 2 * K4, VMS_R, 0,
         VMS_ERR_PHYS},
        {"map: last frame below 2^52", 4, MAP, 0x10000, PHYS_TOP - K4, K4, VMS_R, 0, VMS_OK},
        {"map: unknown prop bit 11", 4, MAP, 0x10000, 0, K4, VMS_R | 0x800, 0, VMS_ERR_FLAGS},
        {"map: unknown prop bit 20", 4, MAP, 0x10000, 0, K4, VMS_R | (1u << 20), 0, VMS_ERR_FLAGS},
        {"map: unknown prop bit 31", 4, MAP, 0x10000, 0, K4, VMS_R | (1u << 31), 0, VMS_ERR_FLAGS},
        {"map: cache policy 8", 4, MAP, 0x10000, 0, K4, VMS_R | VMS_CACHE_PAT(8), 0, VMS_ERR_CACHE},
        {"map: cache policy 15", 4, MAP, 0x10000, 0, K4, VMS_R | VMS_CACHE_PAT(15), 0,
         VMS_ERR_CACHE},
        {"map: cache policy 7", 4, MAP, 0x10000, 0, K4, VMS_R | VMS_CACHE_PAT(7), 0, VMS_OK},
        {"map: unknown map flag 0x10", 4, MAP, 0x10000, 0, K4, VMS_R, 0x10, VMS_ERR_FLAGS},
        {"map: collapse with a 4K cap", 4, MAP, 0x10000, 0, K4, VMS_R,
         VMS_MAP_COLLAPSE | VMS_MAP_MAX_4K, VMS_ERR_FLAGS},
        {"map: unknown map flag bit 31", 4, MAP, 0x10000, 0, K4, VMS_R, 0x80000000u, VMS_ERR_FLAGS},
        {"map: over a mapping", 4, MAP, G1 + M2, 0, K4, VMS_R, 0, VMS_ERR_EXIST},
        /* unmap */
        {"unmap: va non-canonical", 4, UNMAP, 0x0000800000000000, 0, K4, 0, 0, VMS_ERR_NONCANON},
        {"unmap: va misaligned", 4, UNMAP, G1 + 0x10, 0, K4, 0, 0, VMS_ERR_ALIGN},
        {"unmap: len misaligned", 4, UNMAP, G1, 0, K4 + 1, 0, 0, VMS_ERR_ALIGN},
        {"unmap: len zero", 4, UNMAP, G1, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
        {"unmap: across the hole", 4, UNMAP, 0x00007ffff0000000, 0, 0x20000000, 0, 0,
         VMS_ERR_OVERFLOW},
        {"unmap: wraps", 4, UNMAP, 0xffffffffffe00000, 0, 0x400000, 0, 0, VMS_ERR_OVERFLOW},
        {"unmap: va non-canonical (5 levels)", 5, UNMAP, 0xfeffffffffe00000, 0, M2, 0, 0,
         VMS_ERR_NONCANON},
        /* protect */
        {"protect: va non-canonical", 4, PROTECT, 0x0000800000000000, 0, K4, VMS_R, 0,
         VMS_ERR_NONCANON},
        {"protect: va misaligned", 4, PROTECT, G1 + 0x10, 0, K4, VMS_R, 0, VMS_ERR_ALIGN},
        {"protect: len misaligned", 4, PROTECT, G1, 0, 0x10, VMS_R, 0, VMS_ERR_ALIGN},
        {"protect: len zero", 4, PROTECT, G1, 0, 0, VMS_R, 0, VMS_ERR_ZEROLEN},
        {"protect: across the hole", 4, PROTECT, 0x00007ffffffff000, 0, 2 * K4, VMS_R, 0,
         VMS_ERR_OVERFLOW},
        {"protect: unknown prop flag", 4, PROTECT, G1, 0, K4, VMS_R | 0x1000000, 0, VMS_ERR_FLAGS},
        {"protect: cache policy 9", 4, PROTECT, G1, 0, K4, VMS_R | VMS_CACHE_PAT(9), 0,
         VMS_ERR_CACHE},
        /* query */
        {"query: non-canonical", 4, QUERY, 0x0000800000000000, 0, 0, 0, 0, VMS_ERR_NONCANON},
        {"query: non-canonical (5 levels)", 5, QUERY, 0x0100000000000000, 0, 0, 0, 0,
         VMS_ERR_NONCANON},
        {"query: unmapped", 4, QUERY, 0x20000000, 0, 0, 0, 0, VMS_ERR_NOENT},
        /* cursor_open */
        {"cursor_open: non-canonical", 4, CUR_OPEN, 0x0000800000000000, 0, K4, 0, 0,
         VMS_ERR_NONCANON},
        {"cursor_open: misaligned", 4, CUR_OPEN, 0x1004, 0, K4, 0, 0, VMS_ERR_ALIGN},
        {"cursor_open: len zero", 4, CUR_OPEN, 0x1000, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
        {"cursor_open: across the hole", 4, CUR_OPEN, 0x00007fffffe00000, 0, 0x400000, 0, 0,
         VMS_ERR_OVERFLOW},
        /* cursor_map, at CUR_LO + va offset (va is absolute here) */
        {"cursor_map: size 8K", 4, CUR_MAP, CUR_LO, 0, 2 * K4, VMS_R, 0, VMS_ERR_PAGESIZE},
        {"cursor_map: size 4M", 4, CUR_MAP, CUR_LO, 0, 2 * M2, VMS_R, 0, VMS_ERR_PAGESIZE},
        {"cursor_map: size 0", 4, CUR_MAP, CUR_LO, 0, 0, VMS_R, 0, VMS_ERR_PAGESIZE},
        {"cursor_map: size 2K", 4, CUR_MAP, CUR_LO, 0, 0x800, VMS_R, 0, VMS_ERR_PAGESIZE},
        {"cursor_map: size 512G", 4, CUR_MAP, CUR_LO, 0, VT_SZ_512G, VMS_R, 0, VMS_ERR_PAGESIZE},
        {"cursor_map: 2M at a 4K-aligned va", 4, CUR_MAP, CUR_LO + K4, 0, M2, VMS_R, 0,
         VMS_ERR_ALIGN},
        {"cursor_map: 2M with a 4K-aligned pa", 4, CUR_MAP, CUR_LO, K4, M2, VMS_R, 0,
         VMS_ERR_ALIGN},
        {"cursor_map: 1G with a 2M-aligned pa", 4, CUR_MAP, CUR_LO, M2, G1, VMS_R, 0,
         VMS_ERR_ALIGN},
        {"cursor_map: 1G past the cursor end", 4, CUR_MAP, CUR_LO + G1, 0, G1, VMS_R, 0,
         VMS_ERR_RANGE},
        {"cursor_map: 1G inside the cursor", 4, CUR_MAP, CUR_LO, 0, G1, VMS_R, 0, VMS_OK},
        {"cursor_map: 2M up to the cursor end", 4, CUR_MAP, CUR_LO + CUR_LEN - M2, 0, M2, VMS_R, 0,
         VMS_OK},
        {"cursor_map: pa beyond 2^52", 4, CUR_MAP, CUR_LO, PHYS_TOP, K4, VMS_R, 0, VMS_ERR_PHYS},
        {"cursor_map: unknown prop flag", 4, CUR_MAP, CUR_LO, 0, K4, VMS_R | 0x4000000, 0,
         VMS_ERR_FLAGS},
        {"cursor_map: unknown map flag", 4, CUR_MAP, CUR_LO, 0, K4, VMS_R, 0x100, VMS_ERR_FLAGS},
        {"cursor_map: cache policy 12", 4, CUR_MAP, CUR_LO, 0, K4, VMS_R | VMS_CACHE_PAT(12), 0,
         VMS_ERR_CACHE},
        /* cursor_map_range */
        {"cursor_map_range: len past the end", 4, CUR_MAP_RANGE, CUR_LO + G1, 0, G1, VMS_R, 0,
         VMS_ERR_RANGE},
        {"cursor_map_range: len zero", 4, CUR_MAP_RANGE, CUR_LO, 0, 0, VMS_R, 0, VMS_ERR_ZEROLEN},
        {"cursor_map_range: pa misaligned", 4, CUR_MAP_RANGE, CUR_LO, 0x10, K4, VMS_R, 0,
         VMS_ERR_ALIGN},
        {"cursor_map_range: unknown flag", 4, CUR_MAP_RANGE, CUR_LO, 0, K4, VMS_R, 0x10,
         VMS_ERR_FLAGS},
        /* cursor_jump */
        {"cursor_jump: below the range", 4, CUR_JUMP, CUR_LO - K4, 0, 0, 0, 0, VMS_ERR_RANGE},
        {"cursor_jump: far below", 4, CUR_JUMP, 0, 0, 0, 0, 0, VMS_ERR_RANGE},
        {"cursor_jump: past the end", 4, CUR_JUMP, CUR_LO + CUR_LEN + K4, 0, 0, 0, 0,
         VMS_ERR_RANGE},
        {"cursor_jump: misaligned", 4, CUR_JUMP, CUR_LO + 8, 0, 0, 0, 0, VMS_ERR_ALIGN},
        {"cursor_jump: last page", 4, CUR_JUMP, CUR_LO + CUR_LEN - K4, 0, 0, 0, 0, VMS_OK},
        /* cursor_unmap / protect / find_next with a length past the end */
        {"cursor_unmap: len past the end", 4, CUR_UNMAP, CUR_LO, 0, CUR_LEN + K4, 0, 0,
         VMS_ERR_RANGE},
        {"cursor_unmap: len misaligned", 4, CUR_UNMAP, CUR_LO, 0, 0x10, 0, 0, VMS_ERR_ALIGN},
        {"cursor_protect: bad prop", 4, CUR_PROTECT, CUR_LO, 0, K4, 0x800, 0, VMS_ERR_FLAGS},
        {"cursor_protect: len past the end", 4, CUR_PROTECT, CUR_LO, 0, CUR_LEN + K4, VMS_R, 0,
         VMS_ERR_RANGE},
        {"cursor_protect_next: bad cache", 4, CUR_PROTECT_NEXT, CUR_LO, 0, K4, VMS_CACHE_PAT(10), 0,
         VMS_ERR_CACHE},
        {"cursor_find_next: len misaligned", 4, CUR_FIND_NEXT, CUR_LO, 0, 0x800, 0, 0,
         VMS_ERR_ALIGN},
        {"cursor_find_next: len past the end", 4, CUR_FIND_NEXT, CUR_LO, 0, CUR_LEN + K4, 0, 0,
         VMS_ERR_RANGE},
        {"cursor_find_next: zero length", 4, CUR_FIND_NEXT, CUR_LO, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
        /* init */
        {"init: 3 levels", 3, INIT, 0, 0, 0, 0, 0, VMS_ERR_LEVELS},
        {"init: 6 levels", 6, INIT, 0, 0, 0, 0, 0, VMS_ERR_LEVELS},
        {"init: -1 levels", -1, INIT, 0, 0, 0, 0, 0, VMS_ERR_LEVELS},
        {"init: 1 level", 1, INIT, 0, 0, 0, 0, 0, VMS_ERR_LEVELS},
        {"init: 5 levels", 5, INIT, 0, 0, 0, 0, 0, VMS_OK},
    };
    return cr_make_param_array(struct bad_case, cases, sizeof cases / sizeof cases[0]);
}

static void populate(vms_space_t *s) {
    cr_assert(eq(int, vms_space_map(s, G1, 8 * G1, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x1000, 0x1000, 3 * K4, VMS_R | VMS_USER, 0), VMS_OK));
    cr_assert(eq(int,
                 vms_space_map(s, s->levels == 5 ? 0xff00000000000000 : 0xffff800000000000, M2, M2,
                               VMS_RX | VMS_GLOBAL, 0),
                 VMS_OK));
}

static void run_init(const struct bad_case *c) {
    vt_fprov_t f;
    vms_space_t s;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_fprov_init(&f, 16 * 1024 * 1024), VMS_OK));
    d.levels = c->levels;
    d.provider = &f.prov;
    uint64_t frames = f.arena.frames_in_use;
    int rc = vms_space_init(&s, &d);
    cr_expect(eq(int, rc, c->expect), "%s: got %s", c->name, vms_err_name(rc));
    if (rc == VMS_OK) {
        cr_expect(eq(int, s.levels, c->levels));
        vms_space_destroy(&s);
    }
    cr_expect(eq(u64, f.arena.frames_in_use, frames), "%s: frames", c->name);
    vt_fprov_destroy(&f);
}

ParameterizedTest(struct bad_case *c, badinput, each) {
    if (c->op == INIT) {
        run_init(c);
        return;
    }
    vms_space_t s;
    vms_cursor_t cur;
    vms_mapping_t m;
    uint64_t x = 0;
    int rc = VMS_OK;
    cr_assert(eq(int, vt_space_init(&s, c->levels, 0), VMS_OK));
    populate(&s);
    const uint64_t before = vt_digest(&s);
    const bool cursor_op = c->op >= CUR_MAP && c->op <= CUR_FIND_NEXT;
    if (cursor_op) {
        cr_assert(eq(int, vms_cursor_open(&cur, &s, CUR_LO, CUR_LEN), VMS_OK));
        if (c->op != CUR_JUMP) cr_assert(eq(int, vms_cursor_jump(&cur, c->va), VMS_OK));
    }
    const uint64_t cur_va = cursor_op ? cur.va : 0;
    switch (c->op) {
    case MAP: rc = vms_space_map(&s, c->va, c->pa, c->len, c->prop, c->flags); break;
    case UNMAP: rc = vms_space_unmap(&s, c->va, c->len); break;
    case PROTECT: rc = vms_space_protect(&s, c->va, c->len, c->prop); break;
    case QUERY: rc = vms_space_query(&s, c->va, &m); break;
    case CUR_OPEN:
        rc = vms_cursor_open(&cur, &s, c->va, c->len);
        if (rc == VMS_OK) vms_cursor_close(&cur);
        break;
    case CUR_MAP: rc = vms_cursor_map(&cur, c->pa, c->len, c->prop, c->flags); break;
    case CUR_MAP_RANGE: rc = vms_cursor_map_range(&cur, c->pa, c->len, c->prop, c->flags); break;
    case CUR_JUMP: rc = vms_cursor_jump(&cur, c->va); break;
    case CUR_UNMAP: rc = vms_cursor_unmap(&cur, c->len, &x); break;
    case CUR_PROTECT: rc = vms_cursor_protect(&cur, c->len, c->prop); break;
    case CUR_PROTECT_NEXT: rc = vms_cursor_protect_next(&cur, c->len, c->prop, &m); break;
    case CUR_FIND_NEXT: rc = vms_cursor_find_next(&cur, c->len, &x); break;
    case INIT: break;
    }
    cr_expect(eq(int, rc, c->expect), "%s: got %s, want %s", c->name, vms_err_name(rc),
              vms_err_name(c->expect));
    if (c->expect != VMS_OK) {
        if (cursor_op) cr_expect(eq(u64, cur.va, cur_va), "%s: the cursor moved", c->name);
        if (cursor_op) vms_cursor_close(&cur);
        cr_expect(eq(u64, vt_digest(&s), before), "%s: the space changed", c->name);
    } else if (cursor_op) {
        vms_cursor_close(&cur);
    }
    vt_expect_wellformed(&s);
    vms_space_destroy(&s);
}

Test(badinput, error_codes_distinct) {
    /* The codes the table above relies on are distinct and negative. */
    static const int codes[] = {VMS_ERR_NOMEM,    VMS_ERR_NONCANON, VMS_ERR_ALIGN, VMS_ERR_ZEROLEN,
                                VMS_ERR_OVERFLOW, VMS_ERR_PHYS,     VMS_ERR_FLAGS, VMS_ERR_CACHE,
                                VMS_ERR_PAGESIZE, VMS_ERR_LEVELS,   VMS_ERR_EXIST, VMS_ERR_NOENT,
                                VMS_ERR_RANGE};
    const int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++) {
        cr_expect(lt(int, codes[i], 0));
        for (int j = i + 1; j < n; j++) cr_expect(ne(int, codes[i], codes[j]));
    }
}
