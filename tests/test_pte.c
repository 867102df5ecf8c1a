/* Entry encoding: every bit position is checked against the SDM (vol. 3, tables 4-15 to 4-20)
 * with literal bit numbers, both on vms_pte_encode's output and on raw table memory that the
 * library wrote through vms_space_map. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include "support/vt.h"

/* Hardware bit numbers, independent of the library's VMS_PTE_* macros. */
enum {
    B_P = 0,
    B_RW = 1,
    B_US = 2,
    B_PWT = 3,
    B_PCD = 4,
    B_A = 5,
    B_D = 6,
    B_PS = 7,
    B_PAT4K = 7,
    B_G = 8,
    B_PATHUGE = 12,
    B_XD = 63
};

static bool bit(uint64_t e, int n) { return (e >> n) & 1; }

/* Check one leaf entry e at level `level` against property p and frame pa: NULL if it
 * matches, else the name of the first field that does not. */
static const char *entry_mismatch(uint64_t e, int level, uint64_t pa, vms_prop_t p) {
    unsigned pat = VMS_PROP_CACHE(p);
    if (bit(e, B_P) != !!(p & VMS_R)) return "P";
    if (!(p & VMS_R) && !bit(e, 10)) return "no-access marker (bit 10)";
    if (bit(e, B_RW) != !!(p & VMS_W)) return "RW";
    if (bit(e, B_US) != !!(p & VMS_USER)) return "US";
    if (bit(e, B_XD) != !(p & VMS_X)) return "XD";
    if (bit(e, B_G) != !!(p & VMS_GLOBAL)) return "G";
    if (bit(e, B_A) != !!(p & VMS_ACCESSED)) return "A";
    if (bit(e, B_D) != !!(p & VMS_DIRTY)) return "D";
    if (bit(e, B_PWT) != (pat & 1)) return "PWT";
    if (bit(e, B_PCD) != ((pat >> 1) & 1)) return "PCD";
    if (level == 1) {
        if (bit(e, B_PAT4K) != ((pat >> 2) & 1)) return "PAT (bit 7)";
        if ((e & VT_ADDR_BITS) != pa) return "address";
    } else {
        uint64_t low = vt_level_size(level) - 1;
        if (!bit(e, B_PS)) return "PS";
        if (bit(e, B_PATHUGE) != ((pat >> 2) & 1)) return "PAT (bit 12)";
        if ((e & VT_ADDR_BITS & ~low) != pa) return "address";
        /* Bits 13..20 (2 MiB) or 13..29 (1 GiB) are reserved in huge leaves. */
        if (e & low & ~(uint64_t)0x1fff) return "reserved address bits";
    }
    /* Protection keys (59..62) and bits 54..58 are not used. */
    if (e & 0x7fc0000000000000) return "bits 54..62";
    /* The software bits the header documents. */
    if (bit(e, 9) != !!(p & VMS_SW0)) return "SW0 (bit 9)";
    if (bit(e, 11) != !!(p & VMS_SW1)) return "SW1 (bit 11)";
    if (bit(e, 52) != !!(p & VMS_SW2)) return "SW2 (bit 52)";
    if (bit(e, 53) != !!(p & VMS_SW3)) return "SW3 (bit 53)";
    return NULL;
}

static void check_entry(uint64_t e, int level, uint64_t pa, vms_prop_t p) {
    const char *why = entry_mismatch(e, level, pa, p);
    cr_expect(eq(ptr, (void *)why, NULL), "field %s wrong: entry %#llx level %d prop %#x",
              why ? why : "", (unsigned long long)e, level, p);
}

Test(pte, encode_bits_exhaustive) {
    /* Every property (11 flag bits x 8 cache policies) at every level, at two frames. */
    static const uint64_t frames[4][2] = {
        {0, 0},
        {0x0000000000000000, 0x000ffffffffff000},
        {0x0000000000000000, 0x000fffffffe00000},
        {0x0000000000000000, 0x000fffffc0000000},
    };
    for (int level = 1; level <= 3; level++)
        for (int f = 0; f < 2; f++)
            for (vms_prop_t flags = 0; flags <= 0x7ff; flags++)
                for (unsigned c = 0; c < 8; c++) {
                    vms_prop_t p = flags | VMS_CACHE_PAT(c);
                    uint64_t pa = frames[level][f];
                    uint64_t e = vms_pte_encode(pa, p, level);
                    cr_assert(eq(int, vms_prop_check(p), VMS_OK));
                    const char *why = entry_mismatch(e, level, pa, p);
                    if (why == NULL && vms_pte_prop(e, level) != p) why = "round trip";
                    if (why == NULL && vms_pte_leaf_pa(e, level) != pa) why = "leaf_pa";
                    if (why == NULL && !vms_pte_is_used(e)) why = "is_used";
                    if (why == NULL && !vms_pte_is_leaf(e, level)) why = "is_leaf";
                    if (why == NULL && vms_prop_check(p) != VMS_OK) why = "prop_check";
                    if (why) {
                        cr_fail("%s: level %d prop %#x entry %#llx", why, level, p,
                                (unsigned long long)e);
                        return;
                    }
                }
}

Test(pte, prop_check) {
    cr_expect(eq(int, vms_prop_check(0), VMS_OK));
    cr_expect(eq(int, vms_prop_check(0x7ff | VMS_CACHE_PAT(7)), VMS_OK));
    cr_expect(eq(int, vms_prop_check(0x800), VMS_ERR_FLAGS));
    cr_expect(eq(int, vms_prop_check(1u << 16), VMS_ERR_FLAGS));
    cr_expect(eq(int, vms_prop_check(1u << 31), VMS_ERR_FLAGS));
    for (unsigned c = 8; c < 16; c++)
        cr_expect(eq(int, vms_prop_check(VMS_R | VMS_CACHE_PAT(c)), VMS_ERR_CACHE), "c=%u", c);
}

Test(pte, pat_msr_value) {
    /* SDM table 11-10 memory types: UC=0, WC=1, WT=4, WP=5, WB=6, UC-=7. PAT entry i is byte
     * i of IA32_PAT; the header promises WB, WT, WC, UC at 0..3 and again at 4..7. */
    static const uint8_t want[8] = {6, 4, 1, 0, 6, 4, 1, 0};
    for (int i = 0; i < 8; i++)
        cr_expect(eq(u8, (uint8_t)(VMS_PAT_MSR_VALUE >> (8 * i)), want[i]), "PAT%d", i);
    cr_expect(eq(u32, VMS_PROP_CACHE(VMS_CACHE_WB), 0));
    cr_expect(eq(u32, VMS_PROP_CACHE(VMS_CACHE_WT), 1));
    cr_expect(eq(u32, VMS_PROP_CACHE(VMS_CACHE_WC), 2));
    cr_expect(eq(u32, VMS_PROP_CACHE(VMS_CACHE_UC), 3));
}

Test(pte, classify) {
    cr_expect(not(vms_pte_is_used(0)));
    cr_expect(vms_pte_is_used(VT_BIT(0)));
    cr_expect(vms_pte_is_used(VT_BIT(10)));
    cr_expect(not(vms_pte_is_used(VT_BIT(1) | VT_BIT(63) | 0x1000)));
    cr_expect(vms_pte_is_leaf(0x1001, 1));
    cr_expect(vms_pte_is_leaf(0x1081, 2));
    cr_expect(vms_pte_is_leaf(0x1081, 3));
    cr_expect(not(vms_pte_is_leaf(0x1007, 2)));
    cr_expect(not(vms_pte_is_leaf(0x1007, 3)));
    cr_expect(not(vms_pte_is_leaf(0x1087, 4))); /* bit 7 is reserved in a PML4E, never PS */
    /* The PAT bit of a huge leaf is not part of its frame address. */
    cr_expect(eq(u64, vms_pte_leaf_pa(0x40001081 | VT_BIT(63), 3), 0x40000000));
    cr_expect(eq(u64, vms_pte_leaf_pa(0x00201081, 2), 0x200000));
    cr_expect(eq(u64, vms_pte_leaf_pa(0x00201081, 1), 0x201000));
}

/* Properties written through the library, decoded from raw table memory. */
struct written_case {
    uint64_t size;
    vms_prop_t prop;
};

ParameterizedTestParameters(pte, written_by_library) {
    static struct written_case cases[] = {
        {0x1000, VMS_R},
        {0x1000, VMS_RW | VMS_USER},
        {0x1000, VMS_RWX | VMS_USER | VMS_GLOBAL | VMS_ACCESSED | VMS_DIRTY},
        {0x1000, VMS_R | VMS_CACHE_WT},
        {0x1000, VMS_R | VMS_CACHE_WC},
        {0x1000, VMS_RW | VMS_CACHE_UC},
        {0x1000, VMS_R | VMS_CACHE_PAT(4)},
        {0x1000, VMS_RX | VMS_CACHE_PAT(7) | VMS_SW0 | VMS_SW1 | VMS_SW2 | VMS_SW3},
        {0x1000, 0},
        {0x1000, VMS_W | VMS_X | VMS_USER},
        {0x200000, VMS_R},
        {0x200000, VMS_RWX | VMS_USER | VMS_GLOBAL},
        {0x200000, VMS_RW | VMS_CACHE_PAT(4)},
        {0x200000, VMS_RW | VMS_CACHE_PAT(5) | VMS_DIRTY},
        {0x200000, VMS_R | VMS_CACHE_PAT(7) | VMS_SW2},
        {0x200000, VMS_USER},
        {0x40000000, VMS_R},
        {0x40000000, VMS_RWX | VMS_ACCESSED},
        {0x40000000, VMS_RW | VMS_CACHE_PAT(6) | VMS_GLOBAL},
        {0x40000000, VMS_X | VMS_CACHE_PAT(4)},
    };
    return cr_make_param_array(struct written_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct written_case *c, pte, written_by_library) {
    for (int levels = 4; levels <= 5; levels++) {
        vms_space_t s;
        cr_assert(eq(int, vt_space_init(&s, levels, 0), VMS_OK));
        /* A frame with high address bits set, aligned to the page size. */
        uint64_t pa = (0x000ab00000000000 | 0x3c0000000) & ~(c->size - 1);
        uint64_t va = levels == 5 ? 0x00ab000040000000 : 0x00007f0040000000;
        cr_assert(eq(int, vms_space_map(&s, va, pa, c->size, c->prop, 0), VMS_OK));
        int level;
        uint64_t inter[6] = {0};
        uint64_t *e = vt_walk(&s, va, &level, inter);
        cr_assert(ne(ptr, e, NULL), "no leaf found by the hand walk");
        cr_assert(eq(u64, vt_level_size(level), c->size), "leaf at level %d", level);
        check_entry(*e, level, pa, c->prop);
        /* Intermediate entries are exactly P|RW|US plus the table's address. */
        for (int l = levels; l > level; l--)
            cr_expect(eq(u64, inter[l] & ~VT_ADDR_BITS, 0x7), "level %d entry %#llx", l,
                      (unsigned long long)inter[l]);
        vms_mapping_t m;
        cr_assert(eq(int, vms_space_query(&s, va, &m), VMS_OK));
        cr_expect(eq(u32, m.prop, c->prop));
        cr_expect(eq(u64, m.pa, pa));
        cr_expect(eq(u64, m.size, c->size));
        cr_expect(eq(ptr, (void *)vt_check_tables(&s), NULL));
        vms_space_destroy(&s);
    }
}

Test(pte, top_frame) {
    /* The last 4 KiB frame below 2^52 sets every address bit 12..51. */
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, 4, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x1000, 0x000ffffffffff000, 0x1000, VMS_RWX, 0), VMS_OK));
    int level;
    uint64_t *e = vt_walk(&s, 0x1000, &level, NULL);
    cr_assert(ne(ptr, e, NULL));
    cr_expect(eq(u64, *e, 0x000ffffffffff003));
    uint64_t pa = 0;
    cr_expect(vms_translate(&s, 0x1abc, &pa));
    cr_expect(eq(u64, pa, 0x000ffffffffffabc));
    vms_space_destroy(&s);
}
