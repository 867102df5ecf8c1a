/* Move (mremap) and collapse.
 *
 * Move: the mappings of the old range reappear in the new one with their frames, properties
 * and A/D bits, the old range is left empty; at a distance that is a multiple of 2 MiB or
 * 1 GiB whole tables and huge pages are relinked, else entries move one by one and huge pages
 * whose new address is not aligned for them become smaller pages. Collapse: 512 alike 4 KiB
 * leaves with contiguous, 2 MiB-aligned frames become one 2 MiB leaf (A/D the union), and
 * 512 alike 2 MiB leaves with contiguous, 1 GiB-aligned frames one 1 GiB leaf.
 *
 * The expected results come from the reference model (tests/support/model.c): the space
 * before the call is read back into a model, the documented semantics are applied to the
 * model's leaves here, and vt_compare_model checks the enumeration, the byte counters and
 * the number of table pages (a space holding those leaves and no empty table). Errors must
 * leave the tables bit for bit as they were (vt_digest). */
#include <stdio.h>

#include "support/vt_cr.h"
#include "vmspace_owner.h"

/* Concurrent spaces exist only in a threaded build. */
#ifdef VMSPACE_NO_THREADS
#define KINDS 1
#else
#define KINDS 2
#endif

#define PTE_A VT_BIT(5)
#define PTE_D VT_BIT(6)
#define AD ((vms_prop_t)(VMS_ACCESSED | VMS_DIRTY))
#define T512G VT_SZ_512G

VT_SPACE_FIXTURE

/* ---- helpers ---- */

/* Set bits in the leaf entry that maps va, as the CPU would. */
static void cpu_sets(const vms_space_t *s, uint64_t va, uint64_t bits) {
    int level;
    uint64_t *e = vt_walk(s, va, &level, NULL);
    cr_assert(ne(ptr, e, NULL), "no leaf at %#llx", VT_ULL(va));
    *e |= bits;
}

/* Physical address of the table at `level` (1 = page table) on va's walk. */
static uint64_t table_pa(const vms_space_t *s, uint64_t va, int level) {
    uint64_t inter[6] = {0, 0, 0, 0, 0, 0};
    int l;
    cr_assert(ne(ptr, vt_walk(s, va, &l, inter), NULL), "no leaf at %#llx", VT_ULL(va));
    cr_assert(le(int, l, level), "%#llx: leaf at level %d", VT_ULL(va), l);
    return inter[level + 1] & VT_ADDR_BITS;
}

static uint32_t cap_of(uint64_t size) {
    return size == K4 ? VMS_MAP_MAX_4K : size == M2 ? VMS_MAP_MAX_2M : 0;
}

/* The space's mappings, read back into a model. */
static void model_of(const vms_space_t *s, vt_model_t *m) {
    size_t n;
    vms_mapping_t *v = vt_enumerate(s, &n);
    vt_model_init(m);
    for (size_t i = 0; i < n; i++)
        cr_assert(eq(int, vt_model_map(m, v[i].va, v[i].pa, v[i].size, v[i].prop,
                                       cap_of(v[i].size)),
                     VMS_OK));
    free(v);
}

static void expect_model(const vms_space_t *s, const vt_model_t *m, const char *what) {
    char msg[512];
    msg[0] = 0;
    bool ok = vt_compare_model(s, m, msg, sizeof msg);
    cr_expect(ok, "%s: %s", what, msg);
}

/* Move and check against the model; returns the call's result. */
static int move_checked(vms_space_t *s, uint64_t old_va, uint64_t new_va, uint64_t len) {
    vt_model_t m;
    model_of(s, &m);
    int rc = vms_space_move(s, old_va, new_va, len);
    cr_expect(eq(int, rc, VMS_OK), "move %#llx -> %#llx len %#llx: %s", VT_ULL(old_va),
              VT_ULL(new_va), VT_ULL(len), vms_err_name(rc));
    if (rc == VMS_OK) {
        char what[128];
        snprintf(what, sizeof what, "move %#llx -> %#llx len %#llx", VT_ULL(old_va),
                 VT_ULL(new_va), VT_ULL(len));
        cr_assert(eq(int, vt_model_move(&m, old_va, new_va, len, s->active_cpus != 0), VMS_OK));
        expect_model(s, &m, what);
    }
    vt_model_free(&m);
    return rc;
}

/* Every 4 KiB page of [va, va + len) unmapped (queried in steps of `step`). */
static void expect_empty(const vms_space_t *s, uint64_t va, uint64_t len, uint64_t step) {
    for (uint64_t off = 0; off < len; off += step) vt_expect_unmapped(s, va + off);
    vt_expect_unmapped(s, va + len - K4);
}

/* ---- move: bad input ---- */

TestSuite(move, .init = setup4, .fini = teardown);
TestSuite(move5, .init = setup5, .fini = teardown);

typedef struct bad_s {
    const char *what;
    uint64_t old_va, new_va, len;
    int want;
} bad_t;

Test(move, bad_input_changes_nothing) {
    static const bad_t cases[] = {
        {"old unaligned", 0x400800, 0x10000000, K4, VMS_ERR_ALIGN},
        {"new unaligned", 0x400000, 0x10000800, K4, VMS_ERR_ALIGN},
        {"len unaligned", 0x400000, 0x10000000, K4 + 0x800, VMS_ERR_ALIGN},
        {"len zero", 0x400000, 0x10000000, 0, VMS_ERR_ZEROLEN},
        {"old non-canonical", 0x0000800000000000, 0x10000000, K4, VMS_ERR_NONCANON},
        {"new non-canonical", 0x400000, 0x0000800000000000, K4, VMS_ERR_NONCANON},
        {"new non-canonical, high", 0x400000, 0xffff7ffffffff000, K4, VMS_ERR_NONCANON},
        {"old crosses the hole", 0x00007ffffffff000, 0x10000000, 2 * K4, VMS_ERR_OVERFLOW},
        {"new crosses the hole", 0x400000, 0x00007ffffffff000, 2 * K4, VMS_ERR_OVERFLOW},
        {"old wraps", 0xfffffffffffff000, 0x10000000, 2 * K4, VMS_ERR_OVERFLOW},
        {"new wraps", 0x400000, 0xfffffffffffff000, 2 * K4, VMS_ERR_OVERFLOW},
        {"same range", 0x400000, 0x400000, 16 * K4, VMS_ERR_OVERLAP},
        {"new overlaps the old tail", 0x400000, 0x402000, 16 * K4, VMS_ERR_OVERLAP},
        {"new overlaps the old head", 0x400000, 0x3fe000, 16 * K4, VMS_ERR_OVERLAP},
        {"overlap by one page", 0x400000, 0x40f000, 16 * K4, VMS_ERR_OVERLAP},
        {"overlap where nothing is mapped", 0x40e000, 0x412000, 8 * K4, VMS_ERR_OVERLAP},
        {"overlap moving a huge page by 4K", G1, G1 + K4, M2, VMS_ERR_OVERLAP},
        {"new maps its last page", 0x400000, 0x7f1000, 16 * K4, VMS_ERR_EXIST},
        {"new inside a huge page", 0x400000, G1 + 5 * K4, 16 * K4, VMS_ERR_EXIST},
        {"new covers a huge page", 0x400000, G1 - M2, 4 * M2, VMS_ERR_EXIST},
        {"old cuts a huge page, new taken", G1 + K4, 0x7fe000, 8 * K4, VMS_ERR_EXIST},
        {"old over everything, new taken", 0, 0x800000 - 4 * K4, 0x800000, VMS_ERR_OVERLAP},
    };
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 16 * K4, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x800000, 0x900000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1, 4 * G1, M2, VMS_RX | VMS_ACCESSED, 0), VMS_OK));
    const uint64_t d0 = vt_digest(&sp), gen0 = sp.generation;
    const size_t n0 = vt_count_mappings(&sp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_t *c = &cases[i];
        int rc = vms_space_move(&sp, c->old_va, c->new_va, c->len);
        cr_expect(eq(int, rc, c->want), "%s: got %s, want %s", c->what, vms_err_name(rc),
                  vms_err_name(c->want));
        cr_expect(eq(u64, vt_digest(&sp), d0), "%s: the space changed", c->what);
        cr_expect(eq(sz, vt_count_mappings(&sp), n0), "%s", c->what);
    }
    cr_expect(eq(u64, sp.generation, gen0), "a refused move removed a translation");
    vt_expect_page(&sp, G1 + 3 * K4, G1, 4 * G1, M2, VMS_RX | VMS_ACCESSED);
}

Test(move5, bad_input_at_57_bits) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 4 * K4, VMS_RW, 0), VMS_OK));
    const uint64_t d0 = vt_digest(&sp);
    cr_expect(eq(int, vms_space_move(&sp, 0x400000, 0x0100000000000000, 4 * K4),
                 VMS_ERR_NONCANON));
    cr_expect(eq(int, vms_space_move(&sp, 0x400000, 0x00fffffffffff000, 2 * K4),
                 VMS_ERR_OVERFLOW));
    cr_expect(eq(int, vms_space_move(&sp, 0x0100000000000000, 0x400000, K4),
                 VMS_ERR_NONCANON));
    cr_expect(eq(u64, vt_digest(&sp), d0));
}

/* ---- move: the simple cases ---- */

Test(move, touching_ranges_are_not_overlapping) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 16 * K4, VMS_RW | VMS_USER, 0),
                 VMS_OK));
    const uint64_t gen0 = sp.generation;
    cr_assert(eq(int, move_checked(&sp, 0x400000, 0x410000, 16 * K4), VMS_OK));
    for (uint64_t i = 0; i < 16; i++)
        vt_expect_page(&sp, 0x410000 + i * K4, 0x410000 + i * K4, 0x800000 + i * K4, K4,
                       VMS_RW | VMS_USER);
    expect_empty(&sp, 0x400000, 16 * K4, K4);
    cr_expect(gt(u64, sp.generation, gen0), "the old translations are gone");
    /* And back down, touching from above. */
    cr_assert(eq(int, move_checked(&sp, 0x410000, 0x400000, 16 * K4), VMS_OK));
    vt_expect_page(&sp, 0x40f000, 0x40f000, 0x80f000, K4, VMS_RW | VMS_USER);
    expect_empty(&sp, 0x410000, 16 * K4, K4);
}

Test(move, nothing_mapped_moves_nothing) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 4 * K4, VMS_RW, 0), VMS_OK));
    const uint64_t d0 = vt_digest_mappings(&sp), t0 = vt_table_pages(&sp);
    cr_expect(eq(int, vms_space_move(&sp, 0x600000, 0x10000000, 16 * K4), VMS_OK));
    cr_expect(eq(u64, vt_digest_mappings(&sp), d0));
    cr_expect(eq(u64, vt_table_pages(&sp), t0));
}

/* The range holds mappings with holes and ends in the middle of a run: only what it
 * covers moves, holes stay holes. */
Test(move, holes_and_a_partial_run) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 4 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x406000, 0x900000, 6 * K4, VMS_RX, 0), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, 0x401000, 0x20001000, 8 * K4), VMS_OK));
    vt_expect_page(&sp, 0x400000, 0x400000, 0x800000, K4, VMS_RW);
    vt_expect_page(&sp, 0x20001000, 0x20001000, 0x801000, K4, VMS_RW);
    vt_expect_page(&sp, 0x20003000, 0x20003000, 0x803000, K4, VMS_RW);
    vt_expect_unmapped(&sp, 0x20004000);
    vt_expect_unmapped(&sp, 0x20005000);
    vt_expect_page(&sp, 0x20006000, 0x20006000, 0x900000, K4, VMS_RX);
    vt_expect_page(&sp, 0x20008000, 0x20008000, 0x902000, K4, VMS_RX);
    vt_expect_unmapped(&sp, 0x20009000);
    vt_expect_page(&sp, 0x409000, 0x409000, 0x903000, K4, VMS_RX); /* past the range */
    expect_empty(&sp, 0x401000, 8 * K4, K4);
    cr_expect(eq(sz, vt_count_mappings(&sp), 1 + 3 + 3 + 3));
}

/* ---- move: 1 GiB distances relink page directories and 1 GiB pages ---- */

Test(move, by_1g_relinks_tables) {
    const uint64_t P = 0x40000000 * (uint64_t)6;
    /* In [G1, 2 G1): 4 KiB pages of assorted properties, a 2 MiB page, a full page table;
     * in [2 G1, 3 G1): a 1 GiB page. */
    static const vms_prop_t props[8] = {
        VMS_RW | VMS_ACCESSED,
        VMS_RX | VMS_DIRTY,
        VMS_R | VMS_USER | VMS_GLOBAL,
        0, /* no access */
        VMS_W | VMS_SW0,
        VMS_RW | VMS_CACHE_WC | VMS_ACCESSED | VMS_DIRTY,
        VMS_R | VMS_CACHE_PAT(5) | VMS_SW3,
        VMS_RWX | VMS_USER | VMS_SW1 | VMS_SW2,
    };
    for (uint64_t i = 0; i < 8; i++)
        cr_assert(eq(int, vms_space_map(&sp, G1 + i * K4, P + i * 3 * K4, K4, props[i], 0),
                     VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1 + 2 * M2, P + M2, M2, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1 + 4 * M2, P + 4 * M2, M2, VMS_RX | VMS_USER,
                                    VMS_MAP_MAX_4K),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 2 * G1, 2 * P, G1, VMS_RW | VMS_GLOBAL, 0), VMS_OK));
    cpu_sets(&sp, G1 + 4 * M2 + 9 * K4, PTE_A | PTE_D);
    cpu_sets(&sp, 2 * G1, PTE_A);
    const uint64_t pd = table_pa(&sp, G1, 2), pt = table_pa(&sp, G1 + 4 * M2, 1);
    const uint64_t t0 = vt_table_pages(&sp);

    /* Within the same PDPT: the directory and its tables are relinked, none allocated. */
    cr_assert(eq(int, move_checked(&sp, G1, 8 * G1, 2 * G1), VMS_OK));
    for (uint64_t i = 0; i < 8; i++)
        vt_expect_page(&sp, 8 * G1 + i * K4, 8 * G1 + i * K4, P + i * 3 * K4, K4, props[i]);
    vt_expect_page(&sp, 8 * G1 + 2 * M2 + 77 * K4, 8 * G1 + 2 * M2, P + M2, M2,
                   VMS_RW | VMS_DIRTY);
    vt_expect_page(&sp, 8 * G1 + 4 * M2 + 9 * K4, 8 * G1 + 4 * M2 + 9 * K4, P + 4 * M2 + 9 * K4,
                   K4, VMS_RX | VMS_USER | AD);
    vt_expect_page(&sp, 8 * G1 + 4 * M2 + 10 * K4, 8 * G1 + 4 * M2 + 10 * K4,
                   P + 4 * M2 + 10 * K4, K4, VMS_RX | VMS_USER);
    vt_expect_page(&sp, 9 * G1 + 12345 * K4, 9 * G1, 2 * P, G1,
                   VMS_RW | VMS_GLOBAL | VMS_ACCESSED);
    expect_empty(&sp, G1, 2 * G1, M2);
    cr_expect(eq(u64, table_pa(&sp, 8 * G1, 2), pd), "the page directory was not relinked");
    cr_expect(eq(u64, table_pa(&sp, 8 * G1 + 4 * M2, 1), pt), "the page table was not relinked");
    cr_expect(eq(u64, vt_table_pages(&sp), t0), "table pages grew");

    /* Into another PML4 slot: a new PDPT there, the emptied one freed. */
    cr_assert(eq(int, move_checked(&sp, 8 * G1, 3 * T512G + 5 * G1, 2 * G1), VMS_OK));
    vt_expect_page(&sp, 3 * T512G + 5 * G1 + 5 * K4, 3 * T512G + 5 * G1 + 5 * K4, P + 15 * K4,
                   K4, props[5]);
    vt_expect_page(&sp, 3 * T512G + 6 * G1 + 1, 3 * T512G + 6 * G1, 2 * P, G1,
                   VMS_RW | VMS_GLOBAL | VMS_ACCESSED);
    cr_expect(eq(u64, table_pa(&sp, 3 * T512G + 5 * G1, 2), pd));
    cr_expect(eq(u64, vt_table_pages(&sp), t0));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[2], G1));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], M2));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], 8 * K4 + M2));
}

/* A range that cuts 1 GiB pages at both ends: the cut pages split in the old place (like an
 * unmap) and the moved parts keep the sizes the split gave them. */
Test(move, by_1g_cutting_1g_pages) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 4 * G1, 2 * G1, VMS_RW | VMS_ACCESSED, 0),
                 VMS_OK));
    cr_assert(eq(int, move_checked(&sp, G1 + 3 * M2 + 5 * K4, 20 * G1 + 3 * M2 + 5 * K4,
                                   G1 - 2 * M2),
                 VMS_OK));
    vt_expect_page(&sp, G1 + 3 * M2 + 4 * K4, G1 + 3 * M2 + 4 * K4, 4 * G1 + 3 * M2 + 4 * K4,
                   K4, VMS_RW | VMS_ACCESSED);
    vt_expect_page(&sp, 20 * G1 + 3 * M2 + 5 * K4, 20 * G1 + 3 * M2 + 5 * K4,
                   4 * G1 + 3 * M2 + 5 * K4, K4, VMS_RW | VMS_ACCESSED);
    vt_expect_page(&sp, 20 * G1 + 4 * M2, 20 * G1 + 4 * M2, 4 * G1 + 4 * M2, M2,
                   VMS_RW | VMS_ACCESSED);
    vt_expect_page(&sp, 21 * G1, 21 * G1, 5 * G1, M2, VMS_RW | VMS_ACCESSED);
    vt_expect_unmapped(&sp, G1 + 3 * M2 + 5 * K4);
    vt_expect_unmapped(&sp, 2 * G1 + M2);
    vt_expect_page(&sp, 2 * G1 + M2 + 5 * K4, 2 * G1 + M2 + 5 * K4, 5 * G1 + M2 + 5 * K4, K4,
                   VMS_RW | VMS_ACCESSED);
    cr_expect(eq(u64, vt_mapped_total(&sp), 2 * G1));
}

/* ---- move: 2 MiB distances relink page tables and 2 MiB pages ---- */

Test(move, by_2m_relinks_page_tables) {
    const uint64_t P = 0x10000000;
    /* [4M, 6M): a full page table, assorted properties; [6M, 8M): a 2 MiB page; [8M, 10M): a
     * page table with a few pages. */
    for (uint64_t i = 0; i < 512; i++) {
        vms_prop_t p = (i % 3 ? VMS_RW : VMS_RX) | (i % 5 ? 0 : VMS_DIRTY);
        cr_assert(eq(int, vms_space_map(&sp, 2 * M2 + i * K4, P + (511 - i) * K4, K4, p,
                                        0),
                     VMS_OK));
    }
    cr_assert(eq(int, vms_space_map(&sp, 3 * M2, P + 4 * M2, M2, VMS_R | VMS_GLOBAL, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * M2 + 7 * K4, P + 8 * M2, 3 * K4, VMS_RW, 0),
                 VMS_OK));
    cpu_sets(&sp, 2 * M2 + 100 * K4, PTE_A);
    cpu_sets(&sp, 3 * M2, PTE_A | PTE_D);
    const uint64_t pt0 = table_pa(&sp, 2 * M2, 1), pt1 = table_pa(&sp, 4 * M2 + 7 * K4, 1);
    const uint64_t t0 = vt_table_pages(&sp);
    const uint64_t NEW = G1 + 10 * M2; /* a multiple of 2 MiB away, not of 1 GiB */
    cr_assert(eq(int, move_checked(&sp, 2 * M2, NEW, 3 * M2), VMS_OK));
    for (uint64_t i = 0; i < 512; i += 37) {
        vms_prop_t p = (i % 3 ? VMS_RW : VMS_RX) | (i % 5 ? 0 : VMS_DIRTY);
        vt_expect_page(&sp, NEW + i * K4, NEW + i * K4, P + (511 - i) * K4, K4, p);
    }
    vt_expect_page(&sp, NEW + 100 * K4, NEW + 100 * K4, P + 411 * K4, K4,
                   VMS_RW | VMS_DIRTY | VMS_ACCESSED);
    vt_expect_page(&sp, NEW + M2 + 5, NEW + M2, P + 4 * M2, M2, VMS_R | VMS_GLOBAL | AD);
    vt_expect_page(&sp, NEW + 2 * M2 + 8 * K4, NEW + 2 * M2 + 8 * K4, P + 8 * M2 + K4, K4,
                   VMS_RW);
    expect_empty(&sp, 2 * M2, 3 * M2, K4);
    cr_expect(eq(u64, table_pa(&sp, NEW, 1), pt0), "the full page table was not relinked");
    cr_expect(eq(u64, table_pa(&sp, NEW + 2 * M2 + 7 * K4, 1), pt1),
              "the partial page table was not relinked");
    /* Root, PDPT, one directory (the old one emptied and freed), two page tables. */
    cr_expect(eq(u64, vt_table_pages(&sp), t0));
}

/* A range that starts and ends inside page tables, at a 2 MiB distance: the entries of the
 * cut tables move one by one to the same slots, the tables in between are relinked. */
Test(move, by_2m_cutting_tables) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x10000000, 3 * M2, VMS_RW, VMS_MAP_MAX_4K),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xa00000, 0x20000000, M2, VMS_RX, 0), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, 0x400000 + 100 * K4, 3 * G1 + 100 * K4,
                                   0xa00000 + 20 * K4 - (0x400000 + 100 * K4)),
                 VMS_OK));
    vt_expect_page(&sp, 0x400000 + 99 * K4, 0x400000 + 99 * K4, 0x10000000 + 99 * K4, K4,
                   VMS_RW);
    vt_expect_page(&sp, 3 * G1 + 100 * K4, 3 * G1 + 100 * K4, 0x10000000 + 100 * K4, K4,
                   VMS_RW);
    vt_expect_page(&sp, 3 * G1 + 3 * M2 - K4, 3 * G1 + 3 * M2 - K4, 0x10000000 + 3 * M2 - K4, K4,
                   VMS_RW);
    /* The 2 MiB page the range cut: the head moved (as 4 KiB pages), the rest stayed. */
    vt_expect_page(&sp, 3 * G1 + 0x600000 + 19 * K4, 3 * G1 + 0x600000 + 19 * K4,
                   0x20000000 + 19 * K4, K4, VMS_RX);
    vt_expect_page(&sp, 0xa00000 + 20 * K4, 0xa00000 + 20 * K4, 0x20000000 + 20 * K4, K4, VMS_RX);
    vt_expect_unmapped(&sp, 0xa00000 + 19 * K4);
}

/* A 1 GiB page moved by 2 MiB becomes 2 MiB pages. */
Test(move, by_2m_splits_a_1g_page_into_2m) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 8 * G1, G1, VMS_RWX | VMS_DIRTY, 0), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, G1, 4 * G1 + M2, G1), VMS_OK));
    vt_expect_page(&sp, 4 * G1 + M2, 4 * G1 + M2, 8 * G1, M2, VMS_RWX | VMS_DIRTY);
    vt_expect_page(&sp, 5 * G1 + 5, 5 * G1, 9 * G1 - M2, M2, VMS_RWX | VMS_DIRTY);
    vt_expect_unmapped(&sp, 5 * G1 + M2);
    expect_empty(&sp, G1, G1, M2);
    cr_expect(eq(sz, vt_count_mappings(&sp), 512));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], G1));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[2], 0));
}

/* ---- move: 4 KiB distances move entry by entry ---- */

Test(move, by_4k_mixed_pages) {
    const uint64_t OLD = 0x400000, NEW = 3 * G1 + K4;
    static const vms_prop_t props[6] = {
        VMS_RW, VMS_RW | VMS_ACCESSED, VMS_RX | VMS_DIRTY | VMS_ACCESSED, 0,
        VMS_R | VMS_CACHE_UC, VMS_RW | VMS_USER | VMS_GLOBAL | VMS_SW2,
    };
    /* Six 4 KiB pages at 4M, a 2 MiB page at 6M (PAT index 5: its PAT bit moves from bit 12
     * to bit 7 when it becomes 4 KiB pages), three 4 KiB pages at 8M. */
    for (uint64_t i = 0; i < 6; i++)
        cr_assert(eq(int, vms_space_map(&sp, OLD + i * K4, 0x7000000 + i * 2 * K4, K4, props[i],
                                        0),
                     VMS_OK));
    const vms_prop_t hp = VMS_RW | VMS_CACHE_PAT(5) | VMS_SW1;
    cr_assert(eq(int, vms_space_map(&sp, 0x600000, 0x9000000, M2, hp, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x800000, 0xb000000, 3 * K4, VMS_RX, 0), VMS_OK));
    cpu_sets(&sp, 0x600000, PTE_A | PTE_D);
    cpu_sets(&sp, 0x801000, PTE_D);
    const uint64_t len = 0x803000 - OLD;
    cr_assert(eq(int, move_checked(&sp, OLD, NEW, len), VMS_OK));
    for (uint64_t i = 0; i < 6; i++)
        vt_expect_page(&sp, NEW + i * K4, NEW + i * K4, 0x7000000 + i * 2 * K4, K4, props[i]);
    for (uint64_t i = 0; i < 512; i++) /* the 2 MiB page: 512 pages, contiguous frames */
        vt_expect_page(&sp, NEW + 0x200000 + i * K4, NEW + 0x200000 + i * K4, 0x9000000 + i * K4,
                       K4, hp | AD);
    vt_expect_page(&sp, NEW + 0x400000, NEW + 0x400000, 0xb000000, K4, VMS_RX);
    vt_expect_page(&sp, NEW + 0x401000, NEW + 0x401000, 0xb001000, K4, VMS_RX | VMS_DIRTY);
    vt_expect_page(&sp, NEW + 0x402000, NEW + 0x402000, 0xb002000, K4, VMS_RX);
    vt_expect_unmapped(&sp, NEW + 6 * K4);
    vt_expect_unmapped(&sp, NEW + len);
    expect_empty(&sp, OLD, len, K4);
    vms_stats_t st = vt_stats(&sp);
    cr_expect(eq(u64, st.mapped_bytes[1], 0), "the 2 MiB page did not become 4 KiB pages");
    cr_expect(eq(u64, st.mapped_bytes[0], 9 * K4 + M2));
    cr_expect(eq(sz, vt_count_mappings(&sp), 9 + 512));
    /* Check the PAT bit in the raw entries: bit 7 of a 4 KiB leaf. */
    int level;
    uint64_t *e = vt_walk(&sp, NEW + 0x200000 + 4 * K4, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(int, level, 1));
    cr_expect(eq(u64, *e & (VT_BIT(7) | VT_ADDR_BITS), VT_BIT(7) | (0x9000000 + 4 * K4)));
}

/* Back and forth by one page: the result equals the start (with the 2 MiB page in pieces). */
Test(move, by_4k_and_back) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x400000, M2 + 5 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, 0x400000, G1 + 0x400000 + K4, M2 + 5 * K4), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, G1 + 0x400000 + K4, 0x400000, M2 + 5 * K4), VMS_OK));
    for (uint64_t va = 0x400000; va < 0x400000 + M2 + 5 * K4; va += 61 * K4)
        vt_expect_page(&sp, va, va, va, K4, VMS_RW);
    cr_expect(eq(u64, vt_mapped_total(&sp), M2 + 5 * K4));
    cr_expect(eq(u64, vt_table_pages(&sp), 5));
}

/* ---- move: 5 levels ---- */

Test(move5, across_the_4_level_limits) {
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x800000, 8 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x600000, 0x1000000, M2, VMS_RX, 0), VMS_OK));
    /* Past 2^47 (a 1 GiB multiple), into the high half, then by one page. */
    cr_assert(eq(int, move_checked(&sp, 0x400000, 0x0000800000400000, 2 * M2), VMS_OK));
    vt_expect_page(&sp, 0x0000800000403000, 0x0000800000403000, 0x803000, K4, VMS_RW);
    vt_expect_page(&sp, 0x0000800000600000, 0x0000800000600000, 0x1000000, M2, VMS_RX);
    cr_assert(eq(int, move_checked(&sp, 0x0000800000400000, 0xff00000000400000, 2 * M2),
                 VMS_OK));
    vt_expect_page(&sp, 0xff00000000403000, 0xff00000000403000, 0x803000, K4, VMS_RW);
    cr_assert(eq(int, move_checked(&sp, 0xff00000000400000, 0xff00000040401000, 2 * M2),
                 VMS_OK));
    vt_expect_page(&sp, 0xff00000040404000, 0xff00000040404000, 0x803000, K4, VMS_RW);
    vt_expect_page(&sp, 0xff00000040601000, 0xff00000040601000, 0x1000000, K4, VMS_RX);
    cr_expect(eq(u64, vt_mapped_total(&sp), 8 * K4 + M2));
}

/* ---- move: random spaces, random ranges, every kind of distance ---- */

/* Random runs of 4 KiB and 2 MiB pages in [base, base + span): assorted properties (A/D,
 * software bits, no access, cache policies), frames at the address or scattered. */
static void random_space(vms_space_t *s, vt_rng_t *g, uint64_t base, uint64_t span) {
    for (int i = 0; i < 30; i++) {
        uint64_t sz = vt_rng_below(g, 5) == 0 ? M2 : K4;
        uint64_t va = base + vt_rng_below(g, span / sz) * sz;
        uint64_t len = sz * (1 + vt_rng_below(g, sz == K4 ? 600 : 2));
        uint64_t pa = vt_rng_below(g, 2) ? va - base : 8 * G1 + vt_rng_below(g, 1000) * sz;
        vms_prop_t p = (vms_prop_t)vt_rng_below(g, 0x800);
        if (vt_rng_below(g, 4) == 0) p |= VMS_CACHE_PAT(vt_rng_below(g, 8));
        if (va + len > base + span) len = base + span - va;
        (void)vms_space_map(s, va, pa, len, p, vt_rng_below(g, 3) ? 0 : VMS_MAP_MAX_4K);
    }
}

Test(move, random_moves_match_the_model) {
    vt_rng_t g;
    const uint64_t seed = vt_seed_from_env(2024);
    int moved = 0, refused = 0;
    vt_rng_seed(&g, seed);
    for (int round = 0; round < 80; round++) {
        vms_space_t s;
        vt_model_t m;
        cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)64 << 20), VMS_OK));
        random_space(&s, &g, G1, 16 * M2);
        uint64_t old_va = G1 + vt_rng_below(&g, 16 * 512) * K4;
        uint64_t len = K4 * (1 + vt_rng_below(&g, 8 * 512)), new_va;
        switch (vt_rng_below(&g, 5)) {
        case 0: new_va = old_va + G1 * (1 + vt_rng_below(&g, 3)); break;
        case 1: new_va = old_va - G1; break;
        case 2: new_va = old_va + T512G * (1 + vt_rng_below(&g, 2)); break;
        case 3: new_va = old_va + M2 * vt_rng_below(&g, 40) - 20 * M2; break;
        default: new_va = old_va + K4 * vt_rng_below(&g, 32 * 512) - 16 * 512 * K4; break;
        }
        model_of(&s, &m);
        const uint64_t d0 = vt_digest(&s);
        const uint64_t other0 = s.arena.frames_in_use - vt_table_pages(&s);
        const uint64_t dist = new_va > old_va ? new_va - old_va : old_va - new_va;
        const int want = dist < len                         ? VMS_ERR_OVERLAP
                         : vt_model_any(&m, new_va, len) ? VMS_ERR_EXIST
                                                          : VMS_OK;
        int rc = vms_space_move(&s, old_va, new_va, len);
        char what[160];
        snprintf(what, sizeof what, "seed %llu round %d: move %#llx -> %#llx len %#llx",
                 VT_ULL(seed), round, VT_ULL(old_va), VT_ULL(new_va), VT_ULL(len));
        cr_expect(eq(int, rc, want), "%s: got %s, want %s", what, vms_err_name(rc),
                  vms_err_name(want));
        if (rc == VMS_OK && want == VMS_OK) {
            cr_assert(eq(int, vt_model_move(&m, old_va, new_va, len, false), VMS_OK));
            expect_model(&s, &m, what);
            moved++;
        } else if (rc != VMS_OK) {
            cr_expect(eq(u64, vt_digest(&s), d0), "%s: refused, but the space changed", what);
            refused++;
        }
        cr_expect(eq(u64, s.arena.frames_in_use - vt_table_pages(&s), other0),
                  "%s: arena frames in use beside the tables changed (a leak)", what);
        vt_expect_wellformed(&s);
        vt_model_free(&m);
        vms_space_destroy(&s);
    }
    cr_expect(gt(int, moved, 20), "only %d moves done", moved);
    cr_expect(gt(int, refused, 5), "only %d moves refused", refused);
}

/* ---- move: out of memory at every allocation ---- */

typedef struct oom_case_s {
    const char *name;
    int levels;
    void (*setup)(vms_space_t *s);
    uint64_t old_va, new_va, len;
} oom_case_t;

/* 4 KiB pages at 4M, a 2 MiB page at 6M, 4 KiB pages at 8M, a 1 GiB page at 1G. */
static void setup_mixed(vms_space_t *s) {
    cr_assert(eq(int, vms_space_map(s, 0x400000, 0x1000000, 8 * K4, VMS_RW | VMS_ACCESSED, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x600000, 0x1200000, M2, VMS_RX | VMS_DIRTY, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x800000, 0x1400000, 3 * K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, G1, 2 * G1, G1, VMS_RW | VMS_GLOBAL, 0), VMS_OK));
}

static void setup_5_top(vms_space_t *s) {
    cr_assert(eq(int, vms_space_map(s, 0x0001000000000000 - 2 * K4, 0x5000, 4 * K4, VMS_RW, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x0001000000200000, 0x200000, M2, VMS_RW, 0), VMS_OK));
}

static const oom_case_t oom_cases[] = {
    {"4K distance into a new PML4 slot, splitting 2M", 4, setup_mixed, 0x400000,
     T512G + 3 * G1 + K4, 0x803000 - 0x400000},
    {"2M distance into a new PML4 slot", 4, setup_mixed, 0x400000, 2 * T512G + 6 * M2,
     0x803000 - 0x400000},
    {"a 1G page by 2M", 4, setup_mixed, G1, 4 * G1 + M2, G1},
    {"cutting a 2M and a 1G page, 4K distance", 4, setup_mixed, 0x600000 + 5 * K4,
     3 * G1 + 0x600000 + 6 * K4, G1 + 7 * K4 - (0x600000 + 5 * K4)},
    {"cutting a 1G page, 1G distance", 4, setup_mixed, G1 + 3 * M2 + K4, 5 * G1 + 3 * M2 + K4,
     M2},
    {"5 levels: across 2^48 by 4K", 5, setup_5_top, 0x0001000000000000 - 2 * K4,
     0x00f0000000000000 + K4, M2 + M2},
};

static void oom_space(vt_fprov_t *f, vms_space_t *s, int levels) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_fprov_init(f, (uint64_t)64 << 20), VMS_OK));
    d.levels = levels;
    d.provider = &f->prov;
    cr_assert(eq(int, vms_space_init(s, &d), VMS_OK));
}

static void oom_run(const oom_case_t *c) {
    static vt_fprov_t fa, fb; /* the space under test, and a reference that never fails */
    vms_space_t a, b;
    vt_model_t m;
    oom_space(&fa, &a, c->levels);
    oom_space(&fb, &b, c->levels);
    c->setup(&a);
    c->setup(&b);
    const uint64_t allocs0 = fb.allocs, tables0 = vt_table_pages(&b);
    cr_assert(eq(int, vms_space_move(&b, c->old_va, c->new_va, c->len), VMS_OK), "%s: reference",
              c->name);
    const uint64_t ref_allocs = fb.allocs - allocs0;
    model_of(&a, &m);
    cr_assert(eq(int, vt_model_move(&m, c->old_va, c->new_va, c->len, false), VMS_OK));
    expect_model(&b, &m, c->name);

    const vt_snap_t v0 = vt_snap_take(&a, &fa);
    uint64_t k;
    for (k = 1;; k++) {
        uint64_t failures = fa.failures;
        vt_fprov_fail_in(&fa, k);
        int rc = vms_space_move(&a, c->old_va, c->new_va, c->len);
        vt_fprov_fail_in(&fa, 0);
        if (rc == VMS_OK) {
            cr_expect(eq(u64, fa.failures, failures), "%s: succeeded past a failed allocation",
                      c->name);
            break;
        }
        vt_expect_unchanged_after_nomem(c->name, k, rc, &a, &fa, failures, &v0);
        cr_assert(lt(u64, k, 5000), "%s: does not terminate", c->name);
    }
    const uint64_t points = k - 1;
    printf("move oom: %-50s %2llu allocation points\n", c->name, VT_ULL(points));
    fflush(stdout);
    cr_expect(eq(u64, points, ref_allocs), "%s: failure points vs allocations of a clean run",
              c->name);
    /* The move added tables: each was an allocation that could fail. */
    if (vt_table_pages(&b) > tables0)
        cr_expect(ge(u64, points, vt_table_pages(&b) - tables0), "%s", c->name);
    cr_expect(gt(u64, points, 0), "%s: a new destination needs new tables", c->name);
    expect_model(&a, &m, c->name);
    vt_expect_wellformed(&a);
    vt_expect_wellformed(&b);
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&a), NULL));
#endif
    vt_model_free(&m);
    vms_space_destroy(&a);
    vms_space_destroy(&b);
    /* Every table frame went back: none was reserved and then forgotten. */
    cr_expect(eq(u64, fa.frees, fa.allocs), "%s: %lld table frames leaked", c->name,
              (long long)(fa.allocs - fa.frees));
    cr_expect(eq(u64, fb.frees, fb.allocs), "%s: reference run: %lld table frames leaked",
              c->name, (long long)(fb.allocs - fb.frees));
    vt_fprov_destroy(&fa);
    vt_fprov_destroy(&fb);
}

TestSuite(move_oom);

Test(move_oom, by_4k_into_a_new_slot) { oom_run(&oom_cases[0]); }
Test(move_oom, by_2m_into_a_new_slot) { oom_run(&oom_cases[1]); }
Test(move_oom, a_1g_page_by_2m) { oom_run(&oom_cases[2]); }
Test(move_oom, cutting_2m_and_1g) { oom_run(&oom_cases[3]); }
Test(move_oom, cutting_1g_by_1g) { oom_run(&oom_cases[4]); }
Test(move_oom, five_levels_across_2_48) { oom_run(&oom_cases[5]); }

/* Collapse only frees: an allocation that would fail does not stop it. */
Test(move_oom, collapse_allocates_nothing) {
    static vt_fprov_t f;
    vms_space_t s;
    uint64_t got = 0;
    oom_space(&f, &s, 4);
    cr_assert(eq(int, vms_space_map(&s, G1, 4 * G1, 2 * M2, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    const uint64_t frees0 = f.frees;
    vt_fprov_fail_in(&f, 1);
    cr_expect(eq(int, vms_space_collapse(&s, G1, 2 * M2, 0, &got), VMS_OK));
    vt_fprov_fail_in(&f, 0);
    cr_expect(eq(u64, got, 2 * M2));
    cr_expect(eq(u64, f.frees - frees0, 2), "the two page tables go back to the provider");
    vt_expect_page(&s, G1 + M2 + 5, G1 + M2, 4 * G1 + M2, M2, VMS_RW);
    vt_expect_wellformed(&s);
    vms_space_destroy(&s);
    vt_fprov_destroy(&f);
}

/* ---- hooks: a move and a collapse hand no frame back; each flushes what it changed ---- */

typedef struct hooks_s {
    uint64_t flushes, frame_calls, frame_bytes;
    vms_flush_batch_t last;
} hooks_t;

static hooks_t hk;
static vms_machine_t mach;

static void on_flush(void *user, const vms_flush_batch_t *b, uint64_t cpus) {
    hooks_t *h = (hooks_t *)user;
    (void)cpus;
    h->flushes++;
    h->last = *b;
}

static void on_frames(void *user, uint64_t pa, uint64_t len) {
    hooks_t *h = (hooks_t *)user;
    (void)pa;
    h->frame_calls++;
    h->frame_bytes += len;
}

static bool batch_covers(const vms_flush_batch_t *b, uint64_t va) {
    if (b->all) return true;
    for (uint32_t i = 0; i < b->nranges && i < 8; i++)
        if (va >= b->ranges[i].va && va - b->ranges[i].va < b->ranges[i].len) return true;
    return false;
}

static void setup_hooks(void) {
    vms_space_desc_t d;
    memset(&hk, 0, sizeof hk);
    vms_machine_init(&mach);
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)64 << 20;
    d.flush = on_flush;
    d.frames = on_frames;
    d.hook_user = &hk;
    d.machine = &mach;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&sp, 0), VMS_OK));
}
static void teardown_hooks(void) {
    vt_expect_wellformed(&sp);
    cr_assert(eq(int, vms_space_deactivate(&sp, 0), VMS_OK));
    vms_space_destroy(&sp);
}

TestSuite(move_hooks, .init = setup_hooks, .fini = teardown_hooks);

Test(move_hooks, moves_hand_back_nothing_and_flush_the_old_range) {
    static const struct {
        uint64_t old_va, new_va, len;
    } moves[] = {
        {0x400000, 3 * G1 + K4, 0x803000 - 0x400000},             /* 4K: the 2M page splits */
        {3 * G1 + K4, 3 * G1 + 4 * M2 + K4, 0x803000 - 0x400000}, /* 2M */
        {G1, 5 * G1, G1},                                         /* 1G: the 1G page */
        {3 * G1 + 4 * M2 + K4, 7 * G1 + 4 * M2 + K4, 0x803000 - 0x400000}, /* 1G */
    };
    setup_mixed(&sp);
    const uint64_t total = vt_mapped_total(&sp);
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        const uint64_t f0 = hk.flushes;
        cr_assert(eq(int, move_checked(&sp, moves[i].old_va, moves[i].new_va, moves[i].len),
                     VMS_OK));
        cr_expect(eq(u64, hk.frame_calls, 0), "move %zu handed frames back", i);
        cr_expect(eq(u64, hk.flushes - f0, 1), "move %zu: one flush batch", i);
        cr_expect(batch_covers(&hk.last, moves[i].old_va), "move %zu: old range not flushed", i);
        cr_expect(eq(u64, vt_mapped_total(&sp), total));
    }
    /* Copied entry by entry in an active space: a writable page gains D (a CPU could have
     * marked the old entry until the flush). */
    vt_expect_page(&sp, 7 * G1 + 4 * M2 + K4, 7 * G1 + 4 * M2 + K4, 0x1000000, K4,
                   VMS_RW | VMS_ACCESSED | VMS_DIRTY);
    vt_expect_page(&sp, 5 * G1 + 77, 5 * G1, 2 * G1, G1, VMS_RW | VMS_GLOBAL);
    /* The hook is live: an unmap hands the frames back. */
    cr_assert(eq(int, vms_space_unmap(&sp, 0, 16 * G1), VMS_OK));
    cr_expect(eq(u64, hk.frame_bytes, total));
}

Test(move_hooks, collapse_hands_back_nothing_and_flushes_the_block) {
    uint64_t got = 0;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x1000000, M2, VMS_RW, VMS_MAP_MAX_4K),
                 VMS_OK));
    const uint64_t f0 = hk.flushes, t0 = vt_table_pages(&sp);
    cr_assert(eq(int, vms_space_collapse(&sp, 0x400000, M2, 0, &got), VMS_OK));
    cr_expect(eq(u64, got, M2));
    cr_expect(eq(u64, hk.frame_calls, 0));
    cr_expect(ge(u64, hk.flushes - f0, 1), "the block was not flushed");
    cr_expect(batch_covers(&hk.last, 0x400000 + 100 * K4));
    cr_expect(eq(u64, vt_table_pages(&sp), t0 - 1));
}

/* ---- collapse ---- */

TestSuite(collapse, .init = setup4, .fini = teardown);

/* Collapse and check against the model; returns *collapsed. */
static uint64_t collapse_checked(vms_space_t *s, uint64_t va, uint64_t len, uint32_t flags) {
    vt_model_t m;
    uint64_t got = 0;
    char what[128];
    model_of(s, &m);
    int rc = vms_space_collapse(s, va, len, flags, &got);
    snprintf(what, sizeof what, "collapse %#llx len %#llx flags %#x", VT_ULL(va), VT_ULL(len),
             flags);
    cr_expect(eq(int, rc, VMS_OK), "%s: %s", what, vms_err_name(rc));
    uint64_t want = vt_model_collapse(&m, va, len, flags, false);
    cr_expect(eq(u64, got, want), "%s: collapsed bytes", what);
    expect_model(s, &m, what);
    vt_model_free(&m);
    return got;
}

Test(collapse, full_alike_table_becomes_a_2m_page) {
    const uint64_t VA = 0x400000, PA = 0x10000000;
    cr_assert(eq(int, vms_space_map(&sp, VA, PA, M2, VMS_RW | VMS_USER, VMS_MAP_MAX_4K),
                 VMS_OK));
    const uint64_t t0 = vt_table_pages(&sp);
    cr_expect(eq(u64, collapse_checked(&sp, VA, M2, 0), M2));
    vt_expect_page(&sp, VA + 123 * K4 + 7, VA, PA, M2, VMS_RW | VMS_USER);
    for (uint64_t i = 0; i < 512; i++) {
        uint64_t pa = 0;
        cr_expect(vms_translate(&sp, VA + i * K4 + 0x9a, &pa));
        cr_expect(eq(u64, pa, PA + i * K4 + 0x9a), "page %llu", VT_ULL(i));
    }
    cr_expect(eq(u64, vt_table_pages(&sp), t0 - 1), "the page table was not freed");
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[0], 0));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], M2));
    cr_expect(eq(sz, vt_count_mappings(&sp), 1));
    int level;
    cr_expect(ne(ptr, vt_walk(&sp, VA, &level, NULL), NULL));
    cr_expect(eq(int, level, 2));
}

/* A and D may differ from page to page: the 2 MiB page gets their union. */
Test(collapse, accessed_and_dirty_are_united) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 0x10000000, 3 * M2, VMS_RX, VMS_MAP_MAX_4K),
                 VMS_OK));
    cpu_sets(&sp, M2 + 3 * K4, PTE_A);
    cpu_sets(&sp, M2 + 100 * K4, PTE_A | PTE_D);
    cpu_sets(&sp, 2 * M2 + 511 * K4, PTE_A);
    /* Preset by the map, in part of the third block. */
    cr_assert(eq(int, vms_space_map(&sp, 3 * M2 + 8 * K4, 0x10000000 + 2 * M2 + 8 * K4, K4,
                                    VMS_RX | VMS_DIRTY, VMS_MAP_REPLACE),
                 VMS_OK));
    cr_expect(eq(u64, collapse_checked(&sp, M2, 3 * M2, 0), 3 * M2));
    vt_expect_page(&sp, M2, M2, 0x10000000, M2, VMS_RX | VMS_ACCESSED | VMS_DIRTY);
    vt_expect_page(&sp, 2 * M2, 2 * M2, 0x10000000 + M2, M2, VMS_RX | VMS_ACCESSED);
    vt_expect_page(&sp, 3 * M2, 3 * M2, 0x10000000 + 2 * M2, M2, VMS_RX | VMS_DIRTY);
    int level;
    uint64_t *e = vt_walk(&sp, M2, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e & (PTE_A | PTE_D), PTE_A | PTE_D), "raw entry");
}

/* Blocks that must stay as they are, beside two that collapse; the range starts one page
 * into the first block and ends one page before the end of the last. */
Test(collapse, what_must_not_collapse) {
    const uint64_t B = G1, P = 0x20000000;
    for (uint64_t i = 0; i < 10; i++)
        cr_assert(eq(int, vms_space_map(&sp, B + i * M2, P + i * M2, M2, VMS_RW, VMS_MAP_MAX_4K),
                     VMS_OK));
    /* 0: good, but only partly in the range (its first page is not). 1: good. */
    /* 2: one page with another property. */
    cr_assert(eq(int, vms_space_protect(&sp, B + 2 * M2 + 17 * K4, K4, VMS_R), VMS_OK));
    /* 3: one page with another cache policy. */
    cr_assert(eq(int, vms_space_protect(&sp, B + 3 * M2 + 511 * K4, K4, VMS_RW | VMS_CACHE_WC),
                 VMS_OK));
    /* 4: a hole. */
    cr_assert(eq(int, vms_space_unmap(&sp, B + 4 * M2 + 200 * K4, K4), VMS_OK));
    /* 5: one frame out of sequence. */
    cr_assert(eq(int, vms_space_map(&sp, B + 5 * M2 + 300 * K4, 0x30000000, K4, VMS_RW,
                                    VMS_MAP_REPLACE),
                 VMS_OK));
    /* 6: contiguous frames, but the first is not 2 MiB-aligned. */
    cr_assert(eq(int, vms_space_unmap(&sp, B + 6 * M2, M2), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, B + 6 * M2, 0x30000000 + K4, M2, VMS_RW,
                                    VMS_MAP_MAX_4K),
                 VMS_OK));
    /* 7: a software bit on one page. */
    cr_assert(eq(int, vms_space_protect_mask(&sp, B + 7 * M2, K4, VMS_SW0, 0), VMS_OK));
    /* 8: good, with A on one page and D on another. 9: good, its last page out of range. */
    cpu_sets(&sp, B + 8 * M2 + 5 * K4, PTE_A);
    cpu_sets(&sp, B + 8 * M2 + 400 * K4, PTE_D);
    const uint64_t t0 = vt_table_pages(&sp);
    const size_t n0 = vt_count_mappings(&sp);
    cr_expect(eq(u64, collapse_checked(&sp, B + K4, 10 * M2 - 2 * K4, 0), 2 * M2));
    vt_expect_page(&sp, B + M2 + 5, B + M2, P + M2, M2, VMS_RW);
    vt_expect_page(&sp, B + 8 * M2 + 5, B + 8 * M2, P + 8 * M2, M2, VMS_RW | AD);
    for (uint64_t i = 0; i < 10; i++) {
        if (i == 1 || i == 8) continue;
        vms_mapping_t m;
        cr_assert(eq(int, vms_space_query(&sp, B + i * M2 + 201 * K4, &m), VMS_OK));
        cr_expect(eq(u64, m.size, K4), "block %llu collapsed", VT_ULL(i));
    }
    cr_expect(eq(u64, vt_table_pages(&sp), t0 - 2));
    cr_expect(eq(sz, vt_count_mappings(&sp), n0 - 2 * 511));
    /* The same range again: nothing more is alike. */
    cr_expect(eq(u64, collapse_checked(&sp, B + K4, 10 * M2 - 2 * K4, 0), 0));
}

/* 512 no-access pages (P clear, the library's marker set) are alike too. */
Test(collapse, no_access_pages_are_alike) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 0x10000000, M2, VMS_W, VMS_MAP_MAX_4K), VMS_OK));
    cr_expect(eq(u64, collapse_checked(&sp, M2, M2, 0), M2));
    vt_expect_page(&sp, M2 + 5 * K4, M2, 0x10000000, M2, VMS_W);
}

/* 2 MiB pages and one table of 4 KiB pages, all alike and contiguous over an aligned
 * 1 GiB: first the table becomes a 2 MiB page, then the whole a 1 GiB page. */
static void map_1g_of_2m_with_a_table(vms_space_t *s, uint64_t va, uint64_t pa) {
    cr_assert(eq(int, vms_space_map(s, va, pa, G1, VMS_RW | VMS_USER, VMS_MAP_MAX_2M), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, va + 7 * M2, pa + 7 * M2, M2, VMS_RW | VMS_USER,
                                    VMS_MAP_REPLACE | VMS_MAP_MAX_4K),
                 VMS_OK));
}

Test(collapse, up_to_a_1g_page) {
    map_1g_of_2m_with_a_table(&sp, 2 * G1, 5 * G1);
    cpu_sets(&sp, 2 * G1 + 300 * M2, PTE_D);
    cpu_sets(&sp, 2 * G1 + 7 * M2 + 9 * K4, PTE_A);
    cr_assert(eq(u64, vt_table_pages(&sp), 4));
    cr_expect(eq(u64, collapse_checked(&sp, 2 * G1, G1, 0), G1));
    vt_expect_page(&sp, 2 * G1 + 12345 * K4, 2 * G1, 5 * G1, G1, VMS_RW | VMS_USER | AD);
    cr_expect(eq(u64, vt_table_pages(&sp), 2), "the directory and the table were not freed");
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[2], G1));
    cr_expect(eq(sz, vt_count_mappings(&sp), 1));
}

Test(collapse, max_2m_stops_at_2m_pages) {
    map_1g_of_2m_with_a_table(&sp, 2 * G1, 5 * G1);
    cr_expect(eq(u64, collapse_checked(&sp, 2 * G1, G1, VMS_MAP_MAX_2M), M2));
    vt_expect_page(&sp, 2 * G1 + 7 * M2 + 5, 2 * G1 + 7 * M2, 5 * G1 + 7 * M2, M2,
                   VMS_RW | VMS_USER);
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[2], 0));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], G1));
    cr_expect(eq(u64, vt_table_pages(&sp), 3));
    /* Without the cap, the 2 MiB pages (none of them new) make a 1 GiB page. */
    cr_expect(eq(u64, collapse_checked(&sp, 2 * G1, G1, 0), G1));
    vt_expect_page(&sp, 2 * G1 + 7 * M2 + 5, 2 * G1, 5 * G1, G1, VMS_RW | VMS_USER);
}

/* 262144 pages of 4 KiB in one call: 512 tables, then their directory, freed. */
Test(collapse, from_4k_pages_all_the_way_to_1g) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 3 * G1, G1, VMS_RX, VMS_MAP_MAX_4K), VMS_OK));
    const uint64_t t0 = vt_table_pages(&sp);
    cr_expect(eq(u64, collapse_checked(&sp, 0, 4 * G1, 0), G1));
    vt_expect_page(&sp, G1 + G1 / 3 * 2 / K4 * K4, G1, 3 * G1, G1, VMS_RX);
    cr_expect(eq(u64, vt_table_pages(&sp), t0 - 513));
}

Test(collapse, what_must_not_become_a_1g_page) {
    /* Each case in its own 1 GiB of VA, starting at 1G; frames at 8G and up. */
    const uint64_t P = 8 * G1;
    for (uint64_t i = 1; i <= 6; i++)
        cr_assert(eq(int, vms_space_map(&sp, i * G1, P + i * G1, G1, VMS_RW, VMS_MAP_MAX_2M),
                     VMS_OK));
    /* 1: one 2 MiB page with another property. */
    cr_assert(eq(int, vms_space_protect(&sp, G1 + 9 * M2, M2, VMS_R), VMS_OK));
    /* 2: a hole of 2 MiB. */
    cr_assert(eq(int, vms_space_unmap(&sp, 2 * G1 + 500 * M2, M2), VMS_OK));
    /* 3: one 2 MiB frame out of sequence. */
    cr_assert(eq(int, vms_space_map(&sp, 3 * G1 + 3 * M2, 40 * G1, M2, VMS_RW, VMS_MAP_REPLACE),
                 VMS_OK));
    /* 4: contiguous 2 MiB frames from one that is not 1 GiB-aligned. */
    cr_assert(eq(int, vms_space_unmap(&sp, 4 * G1, G1), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 41 * G1 + M2, G1, VMS_RW, VMS_MAP_MAX_2M),
                 VMS_OK));
    /* 5: one 2 MiB page is a table of 4 KiB pages, one of which differs. */
    cr_assert(eq(int, vms_space_protect(&sp, 5 * G1 + 3 * M2 + 5 * K4, K4, VMS_R), VMS_OK));
    /* 6: good, but the range ends 2 MiB short of its end. */
    const uint64_t t0 = vt_table_pages(&sp);
    cr_expect(eq(u64, collapse_checked(&sp, G1, 6 * G1 - M2, 0), 0));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[2], 0));
    cr_expect(eq(u64, vt_table_pages(&sp), t0));
    /* With the whole of the last one in range, it collapses. */
    cr_expect(eq(u64, collapse_checked(&sp, 6 * G1, G1, 0), G1));
}

Test(collapse, bad_input_changes_nothing) {
    static const struct {
        const char *what;
        uint64_t va, len;
        uint32_t flags;
        int want;
    } cases[] = {
        {"REPLACE flag", 0x400000, M2, VMS_MAP_REPLACE, VMS_ERR_FLAGS},
        {"MAX_4K flag", 0x400000, M2, VMS_MAP_MAX_4K, VMS_ERR_FLAGS},
        {"unknown flag", 0x400000, M2, 0x8, VMS_ERR_FLAGS},
        {"top flag", 0x400000, M2, 0x80000000u, VMS_ERR_FLAGS},
        {"unaligned va", 0x400800, M2, 0, VMS_ERR_ALIGN},
        {"unaligned len", 0x400000, M2 + 1, 0, VMS_ERR_ALIGN},
        {"zero len", 0x400000, 0, 0, VMS_ERR_ZEROLEN},
        {"non-canonical", 0x0000800000000000, M2, 0, VMS_ERR_NONCANON},
        {"crosses the hole", 0x00007fffffe00000, 2 * M2, 0, VMS_ERR_OVERFLOW},
        {"wraps", 0xffffffffffe00000, 2 * M2, 0, VMS_ERR_OVERFLOW},
    };
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x10000000, M2, VMS_RW, VMS_MAP_MAX_4K),
                 VMS_OK));
    const uint64_t d0 = vt_digest(&sp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = 0;
        int rc = vms_space_collapse(&sp, cases[i].va, cases[i].len, cases[i].flags, &got);
        cr_expect(eq(int, rc, cases[i].want), "%s: got %s", cases[i].what, vms_err_name(rc));
        cr_expect(eq(u64, vt_digest(&sp), d0), "%s: the space changed", cases[i].what);
    }
    /* MAX_2M alone is accepted. */
    cr_expect(eq(int, vms_space_collapse(&sp, 0x400000, M2, VMS_MAP_MAX_2M, NULL), VMS_OK));
    vt_expect_page(&sp, 0x400000, 0x400000, 0x10000000, M2, VMS_RW);
}

Test(collapse, nothing_alike_is_not_an_error) {
    uint64_t got = 99;
    cr_expect(eq(int, vms_space_collapse(&sp, G1, G1, 0, &got), VMS_OK), "an empty space");
    cr_expect(eq(u64, got, 0));
    cr_assert(eq(int, vms_space_map(&sp, G1, 4 * G1, 4 * M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, G1 + 4 * M2, 0x10000000, 8 * K4, VMS_RW, 0), VMS_OK));
    const uint64_t d0 = vt_digest(&sp);
    got = 99;
    cr_expect(eq(int, vms_space_collapse(&sp, G1, G1, 0, &got), VMS_OK));
    cr_expect(eq(u64, got, 0), "2 MiB pages already there are not new");
    cr_expect(eq(u64, vt_digest(&sp), d0));
    cr_expect(eq(int, vms_space_collapse(&sp, G1, G1, 0, NULL), VMS_OK), "collapsed may be NULL");
    cr_expect(eq(u64, vt_digest(&sp), d0));
}

Test(collapse, collapsed_receives_not_adds) {
    uint64_t got = 7 * G1;
    cr_assert(eq(int, vms_space_map(&sp, M2, 0x10000000, M2, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    cr_expect(eq(int, vms_space_collapse(&sp, 0, G1, 0, &got), VMS_OK));
    cr_expect(eq(u64, got, M2));
}

/* A 2 MiB page moved by one page and back is 512 pages of 4 KiB: collapse restores it. */
Test(collapse, restores_a_page_split_by_moves) {
    vms_space_t ref;
    cr_assert(eq(int, vt_space_init(&ref, 4, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&ref, 0x600000, 0x1000000, M2, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x600000, 0x1000000, M2, VMS_RW | VMS_DIRTY, 0),
                 VMS_OK));
    cr_assert(eq(int, move_checked(&sp, 0x600000, G1 + K4, M2), VMS_OK));
    cr_assert(eq(int, move_checked(&sp, G1 + K4, 0x600000, M2), VMS_OK));
    cr_expect(eq(u64, vt_stats(&sp).mapped_bytes[1], 0));
    cr_expect(eq(u64, collapse_checked(&sp, 0x600000, M2, 0), M2));
    cr_expect(eq(u64, vt_digest_mappings(&sp), vt_digest_mappings(&ref)));
    cr_expect(eq(u64, vt_table_pages(&sp), vt_table_pages(&ref)));
    vms_space_destroy(&ref);
}

/* Random blocks of every kind, random ranges: against the model. */
Test(collapse, random_blocks_match_the_model) {
    vt_rng_t g;
    const uint64_t seed = vt_seed_from_env(77);
    uint64_t total = 0;
    vt_rng_seed(&g, seed);
    for (int round = 0; round < 30; round++) {
        vms_space_t s;
        cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)64 << 20), VMS_OK));
        for (uint64_t b = 0; b < 24; b++) {
            const uint64_t va = G1 + b * M2, pa = 16 * G1 + vt_rng_below(&g, 64) * M2;
            vms_prop_t p = (vms_prop_t)vt_rng_below(&g, 0x800) | VMS_CACHE_PAT(b % 8);
            uint64_t r = vt_rng_below(&g, 8);
            if (r == 7) continue; /* empty */
            cr_assert(eq(int, vms_space_map(&s, va, pa + (r == 6 ? K4 : 0), M2, p,
                                            r == 5 ? 0 : VMS_MAP_MAX_4K),
                         VMS_OK));
            uint64_t pg = vt_rng_below(&g, 512);
            if (r == 1) cpu_sets(&s, va + pg * K4, vt_rng_below(&g, 2) ? PTE_A : PTE_D);
            if (r == 2)
                cr_assert(eq(int, vms_space_protect_mask(&s, va + pg * K4, K4, VMS_SW2, 0),
                             VMS_OK));
            if (r == 3) cr_assert(eq(int, vms_space_unmap(&s, va + pg * K4, K4), VMS_OK));
            if (r == 4)
                cr_assert(eq(int, vms_space_map(&s, va + pg * K4, 0x1000, K4, p,
                                                VMS_MAP_REPLACE),
                             VMS_OK));
        }
        uint64_t va = G1 + vt_rng_below(&g, 4 * 512) * K4;
        uint64_t len = K4 * (1 + vt_rng_below(&g, 24 * 512));
        uint32_t flags = vt_rng_below(&g, 2) ? VMS_MAP_MAX_2M : 0;
        total += collapse_checked(&s, va, len, flags);
        vt_expect_wellformed(&s);
        vms_space_destroy(&s);
    }
    cr_expect(gt(u64, total, 10 * M2), "seed %llu: too few collapses to mean much",
              VT_ULL(seed));
}

/* ---- through the owner ---- */

#define OB ((uint64_t)0x40000000)

typedef struct ofx_s {
    vms_space_t s;
    vms_owner_t o;
    uint64_t data; /* 8 MiB of data frames, 2 MiB-aligned */
} ofx_t;

static void on_broken(void *user, const char *clause) {
    (void)user;
    cr_fatal("owner invariant broken: %s", clause);
}

/* Two blocks of 512 read-write pages at OB over the first 4 MiB of data frames. */
static void ofx_init(ofx_t *f) {
    vms_owner_desc_t d;
    cr_assert(eq(int, vt_space_init(&f->s, 4, (uint64_t)64 << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&f->s.arena, 4 * M2, M2, &f->data), VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, OB, f->data, 2 * M2, VMS_RW, VMS_MAP_MAX_4K),
                 VMS_OK));
    memset(&d, 0, sizeof d);
    d.check_failed = on_broken;
    cr_assert(eq(int, vms_owner_init(&f->o, &f->s, &d), VMS_OK));
}

static void ofx_fini(ofx_t *f) { vt_owner_teardown(&f->o, &f->s); }

static vms_lease_t lease(ofx_t *f, vms_lease_kind k, uint64_t va, uint64_t len) {
    vms_lease_t l, b;
    int rc = vms_lease_acquire(&f->o, k, va, len, &l, &b);
    cr_assert(eq(int, rc, VMS_OK), "lease %#llx+%#llx: %s", VT_ULL(va), VT_ULL(len),
              vms_err_name(rc));
    return l;
}

TestSuite(owner_move);

Test(owner_move, refused_under_a_lease_done_beside_one) {
    ofx_t f;
    vms_lease_t b, r, w, t1, t2;
    const uint64_t NEW = 4 * G1;
    ofx_init(&f);
    /* A reader of the old range. */
    r = lease(&f, VMS_LEASE_READ, OB + 3 * K4, K4);
    uint64_t d0 = vt_digest(&f.s);
    b.id = VMS_LEASE_INVALID_ID;
    cr_expect(eq(int, vms_owner_move(&f.o, OB, NEW, 16 * K4, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 3 * K4, NEW, K4, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(u64, vt_digest(&f.s), d0), "tables changed under a refused move");
    cr_assert(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    /* A writer of the new range (a page there, so the range is not free either: the lease
     * is what refuses it). */
    cr_assert(eq(int, vms_space_map(&f.s, NEW + 5 * K4, f.data + 2 * M2, K4, VMS_RW, 0),
                 VMS_OK));
    w = lease(&f, VMS_LEASE_WRITE, NEW + 5 * K4, K4);
    d0 = vt_digest(&f.s);
    b.id = VMS_LEASE_INVALID_ID;
    cr_expect(eq(int, vms_owner_move(&f.o, OB, NEW, 16 * K4, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, w.id));
    cr_expect(eq(u64, vt_digest(&f.s), d0), "tables changed under a refused move");
    cr_assert(eq(int, vms_lease_release(&f.o, w), VMS_OK));
    cr_expect(eq(int, vms_owner_move(&f.o, OB, NEW, 16 * K4, &b), VMS_ERR_EXIST));
    cr_assert(eq(int, vms_owner_unmap(&f.o, NEW + 5 * K4, K4, &b), VMS_OK));
    /* Leases that touch either range do not stop it. */
    t1 = lease(&f, VMS_LEASE_READ, OB + 16 * K4, K4);
    cr_assert(eq(int, vms_space_map(&f.s, NEW - K4, f.data + 2 * M2 + K4, K4, VMS_RW, 0),
                 VMS_OK));
    t2 = lease(&f, VMS_LEASE_WRITE, NEW - K4, K4);
    cr_expect(eq(int, vms_owner_move(&f.o, OB, NEW, 16 * K4, &b), VMS_OK));
    for (uint64_t i = 0; i < 16; i++)
        vt_expect_page(&f.s, NEW + i * K4, NEW + i * K4, f.data + i * K4, K4, VMS_RW);
    expect_empty(&f.s, OB, 16 * K4, K4);
    vt_expect_page(&f.s, OB + 16 * K4, OB + 16 * K4, f.data + 16 * K4, K4, VMS_RW);
    cr_expect(vms_lease_is_live(&f.o, t1));
    cr_expect(vms_lease_is_live(&f.o, t2));
    /* Errors of the move itself. */
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 100 * K4, OB + 101 * K4, 4 * K4, &b),
                 VMS_ERR_OVERLAP));
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 100 * K4 + 1, NEW + G1, K4, &b), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 100 * K4, NEW + G1, 0, &b), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 100 * K4, NEW + 3 * K4, K4, &b), VMS_ERR_EXIST));
    cr_expect(eq(int, vms_owner_move(&f.o, OB + 100 * K4, 0x0000800000000000, K4, &b),
                 VMS_ERR_NONCANON));
    ofx_fini(&f);
}

TestSuite(owner_collapse);

Test(owner_collapse, refused_under_a_lease_done_beside_one) {
    ofx_t f;
    vms_lease_t b, r;
    uint64_t got = 0;
    ofx_init(&f);
    r = lease(&f, VMS_LEASE_READ, OB + M2 + 100 * K4, 2 * K4);
    const uint64_t d0 = vt_digest(&f.s);
    b.id = VMS_LEASE_INVALID_ID;
    cr_expect(eq(int, vms_owner_collapse(&f.o, OB + M2, M2, 0, &got, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    b.id = VMS_LEASE_INVALID_ID;
    cr_expect(eq(int, vms_owner_collapse(&f.o, OB, M2 + 101 * K4, 0, &got, &b), VMS_ERR_BUSY),
              "a lease covering the range in part");
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(u64, vt_digest(&f.s), d0), "tables changed under a refused collapse");
    /* Beside the lease. */
    cr_expect(eq(int, vms_owner_collapse(&f.o, OB, M2, VMS_MAP_REPLACE, &got, &b),
                 VMS_ERR_FLAGS));
    got = 0;
    cr_expect(eq(int, vms_owner_collapse(&f.o, OB, M2, 0, &got, &b), VMS_OK));
    cr_expect(eq(u64, got, M2));
    vt_expect_page(&f.s, OB + 5, OB, f.data, M2, VMS_RW);
    vt_expect_page(&f.s, OB + M2 + 100 * K4, OB + M2 + 100 * K4, f.data + M2 + 100 * K4, K4,
                   VMS_RW);
    cr_assert(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    got = 0;
    cr_expect(eq(int, vms_owner_collapse(&f.o, OB, 2 * M2, VMS_MAP_MAX_2M, &got, NULL), VMS_OK));
    cr_expect(eq(u64, got, M2));
    vt_expect_page(&f.s, OB + M2 + 100 * K4, OB + M2, f.data + M2, M2, VMS_RW);
    cr_expect(eq(u64, vt_table_pages(&f.s), 3));
    /* A lease over a collapsed page still reads its bytes. */
    r = lease(&f, VMS_LEASE_READ, OB + M2 - K4, 2 * K4);
    cr_assert(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    ofx_fini(&f);
}

/* ---- a concurrent space: the same results, removed tables retired through the hook ---- */

static int retires;
static void c_enter(void *u) { (void)u; }
static void c_leave(void *u) { (void)u; }
static void c_retire(void *u, void (*done)(void *, uint64_t), void *ctx, uint64_t list) {
    (void)u;
    retires++;
    done(ctx, list);
}
static void c_barrier(void *u) { (void)u; }

TestSuite(move_concurrent);

Test(move_concurrent, same_results_as_a_plain_space) {
    static const vms_reclaim_t rc = {c_enter, c_leave, c_retire, c_barrier, NULL};
    vms_space_t plain, conc;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)64 << 20;
    d.concurrent = true;
    d.reclaim = &rc;
    if (KINDS == 1) { /* a build without threads refuses concurrent spaces */
        cr_expect(ne(int, vms_space_init(&conc, &d), VMS_OK));
        return;
    }
    cr_assert(eq(int, vms_space_init(&conc, &d), VMS_OK));
    cr_assert(eq(int, vt_space_init(&plain, 4, (uint64_t)64 << 20), VMS_OK));
    for (int side = 0; side < 2; side++) {
        vms_space_t *s = side ? &conc : &plain;
        setup_mixed(s);
        cr_assert(eq(int, vms_space_map(s, 0xa00000, 0x2000000, M2, VMS_RW, VMS_MAP_MAX_4K),
                     VMS_OK));
    }
    static const struct {
        uint64_t old_va, new_va, len;
    } moves[] = {
        {0x400000, 3 * G1 + K4, 4 * M2},         /* by 4K */
        {3 * G1 + K4, 0x400000, 4 * M2},         /* and back */
        {0x400000, T512G + 0x400000, 4 * M2},    /* by 512G */
        {G1, 6 * G1 + M2, G1},                   /* 1G page by 2M */
        {T512G + 0x400000, 0x800000, 4 * M2},    /* by 2M */
    };
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        cr_assert(eq(int, move_checked(&plain, moves[i].old_va, moves[i].new_va, moves[i].len),
                     VMS_OK));
        cr_assert(eq(int, vms_space_move(&conc, moves[i].old_va, moves[i].new_va, moves[i].len),
                     VMS_OK), "move %zu", i);
        cr_expect(eq(u64, vt_digest_mappings(&conc), vt_digest_mappings(&plain)), "move %zu", i);
        cr_expect(eq(u64, vt_table_pages(&conc), vt_table_pages(&plain)), "move %zu", i);
    }
    uint64_t pa = 0;
    vms_read_enter(&conc);
    cr_expect(vms_translate(&conc, 0x800000 + 5 * K4, &pa));
    vms_read_leave(&conc);
    cr_expect(eq(u64, pa, 0x1000000 + 5 * K4));
    const int r0 = retires;
    const uint64_t t0 = vt_table_pages(&conc);
    uint64_t a = 0, c = 0;
    cr_expect(eq(int, vms_space_collapse(&plain, 0, 8 * G1, 0, &a), VMS_OK));
    cr_expect(eq(int, vms_space_collapse(&conc, 0, 8 * G1, 0, &c), VMS_OK));
    cr_expect(eq(u64, a, c));
    cr_expect(ge(u64, c, 2 * M2), "the split 2 MiB page and the full table");
    cr_expect(eq(u64, vt_digest_mappings(&conc), vt_digest_mappings(&plain)));
    cr_expect(eq(u64, vt_table_pages(&conc), vt_table_pages(&plain)));
    cr_expect(lt(u64, vt_table_pages(&conc), t0));
    cr_expect(gt(int, retires, r0), "freed tables were not retired through the hook");
    vt_expect_wellformed(&conc);
    vt_expect_wellformed(&plain);
    cr_assert(eq(int, vms_space_destroy(&conc), VMS_OK));
    vms_space_destroy(&plain);
}

/* ---- VMS_MAP_COLLAPSE: a map that makes its blocks uniform collapses them ---- */

TestSuite(map_collapse, .init = setup4, .fini = teardown);

Test(map_collapse, filling_the_last_hole_makes_a_2m_page) {
    const uint64_t VA = 0x400000, PA = 0x10000000, HOLE = 300 * K4;
    cr_assert(eq(int, vms_space_map(&sp, VA, PA, HOLE, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, VA + HOLE + K4, PA + HOLE + K4, M2 - HOLE - K4, VMS_RW,
                                    VMS_MAP_MAX_4K),
                 VMS_OK));
    const uint64_t t0 = vt_table_pages(&sp);
    vt_model_t m;
    model_of(&sp, &m);
    cr_assert(eq(int, vt_model_map(&m, VA + HOLE, PA + HOLE, K4, VMS_RW, VMS_MAP_COLLAPSE),
                 VMS_OK));
    cr_expect(eq(int, vms_space_map(&sp, VA + HOLE, PA + HOLE, K4, VMS_RW, VMS_MAP_COLLAPSE),
                 VMS_OK));
    expect_model(&sp, &m, "map the hole with VMS_MAP_COLLAPSE");
    vt_model_free(&m);
    vt_expect_page(&sp, VA + 5, VA, PA, M2, VMS_RW);
    cr_expect(eq(u64, vt_table_pages(&sp), t0 - 1), "the page table was not freed");
}

Test(map_collapse, a_different_page_keeps_the_table) {
    const uint64_t VA = 0x400000, PA = 0x10000000;
    cr_assert(eq(int, vms_space_map(&sp, VA, PA, M2 - K4, VMS_RW, VMS_MAP_MAX_4K), VMS_OK));
    cr_expect(eq(int, vms_space_map(&sp, VA + M2 - K4, PA + M2 - K4, K4, VMS_R,
                                    VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M),
                 VMS_OK));
    vt_expect_page(&sp, VA + M2 - K4, VA + M2 - K4, PA + M2 - K4, K4, VMS_R);
    vt_expect_page(&sp, VA, VA, PA, K4, VMS_RW);
}

Test(map_collapse, the_last_2m_page_of_a_gib_makes_a_1g_page) {
    const uint64_t VA = G1, PA = 4 * G1;
    cr_assert(eq(int, vms_space_map(&sp, VA, PA, G1 - M2, VMS_RW, VMS_MAP_MAX_2M), VMS_OK));
    /* With the 2 MiB cap only 2 MiB blocks collapse: nothing here. */
    cr_expect(eq(int, vms_space_map(&sp, VA + G1 - M2, PA + G1 - M2, K4, VMS_RW,
                                    VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M),
                 VMS_OK));
    vt_expect_page(&sp, VA + G1 - M2, VA + G1 - M2, PA + G1 - M2, K4, VMS_RW);
    cr_expect(eq(int, vms_space_map(&sp, VA + G1 - M2 + K4, PA + G1 - M2 + K4, M2 - K4, VMS_RW,
                                    VMS_MAP_COLLAPSE),
                 VMS_OK));
    vt_expect_page(&sp, VA + 12345, VA, PA, G1, VMS_RW);
    cr_expect(eq(u64, vt_table_pages(&sp), 2), "the root and one PDPT");
}

Test(map_collapse, with_a_4k_cap_is_bad_flags) {
    const uint64_t d0 = vt_digest(&sp);
    cr_expect(eq(int, vms_space_map(&sp, 0x400000, 0, K4, VMS_RW,
                                    VMS_MAP_COLLAPSE | VMS_MAP_MAX_4K),
                 VMS_ERR_FLAGS));
    cr_expect(eq(u64, vt_digest(&sp), d0));
}

Test(map_collapse, owner_refuses_a_lease_in_the_block) {
    ofx_t f;
    vms_lease_t b, r;
    ofx_init(&f);
    cr_assert(eq(int, vms_space_unmap(&f.s, OB + 7 * K4, K4), VMS_OK));
    r = lease(&f, VMS_LEASE_READ, OB + 100 * K4, K4);
    b.id = VMS_LEASE_INVALID_ID;
    cr_expect(eq(int, vms_owner_map(&f.o, OB + 7 * K4, f.data + 7 * K4, K4, VMS_RW,
                                    VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M, &b),
                 VMS_ERR_BUSY), "a lease elsewhere in the 2 MiB block");
    cr_expect(eq(u64, b.id, r.id));
    vt_expect_unmapped(&f.s, OB + 7 * K4);
    cr_assert(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    cr_expect(eq(int, vms_owner_map(&f.o, OB + 7 * K4, f.data + 7 * K4, K4, VMS_RW,
                                    VMS_MAP_COLLAPSE | VMS_MAP_MAX_2M, &b),
                 VMS_OK));
    cr_expect(eq(u64, b.id, VMS_LEASE_INVALID_ID));
    vt_expect_page(&f.s, OB + 7 * K4, OB, f.data, M2, VMS_RW);
    ofx_fini(&f);
}

/* A relink that empties its old tables must not free one that a later relink's new place
 * lies under (the tables it needs were counted before any relink). */
Test(move, relinks_into_the_tables_others_emptied) {
    const uint64_t T1 = 2 * T512G, old_va = T1 - M2;
    cr_assert(eq(int, vms_space_map(&sp, T1 - M2, 0x200000, K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, T1 + M2, 0x400000, K4, VMS_RW, 0), VMS_OK));
    cr_expect(eq(int, move_checked(&sp, old_va, old_va - (T512G + M2), 3 * M2), VMS_OK));
    vt_expect_page(&sp, T1 - T512G, T1 - T512G, 0x400000, K4, VMS_RW);
    cr_expect(eq(int, move_checked(&sp, T1 - T512G - 3 * M2, T1 - 2 * M2, 4 * M2), VMS_OK));
}
