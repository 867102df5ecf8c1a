/* Addresses: table indices, canonical form, page sizes and range validation. The expected
 * indices are written out by hand from the SDM's bit ranges (bits 12..20 index the page table,
 * 21..29 the directory, 30..38 the PDPT, 39..47 the PML4, 48..56 the PML5). */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include "support/vt.h"

struct addr_case {
    uint64_t va;
    int levels;
    bool canonical;
    unsigned idx[6]; /* idx[l] for l = 1..levels */
};

/* idx[] lists {unused, l1, l2, l3, l4, l5}. */
ParameterizedTestParameters(addr, decompose) {
    static struct addr_case cases[] = {
        {0x0000000000000000, 4, true, {0, 0, 0, 0, 0, 0}},
        {0x0000000000001000, 4, true, {0, 1, 0, 0, 0, 0}},
        {0x00000000001ff000, 4, true, {0, 511, 0, 0, 0, 0}},
        {0x0000000000200000, 4, true, {0, 0, 1, 0, 0, 0}},
        {0x000000003ffff000, 4, true, {0, 511, 511, 0, 0, 0}},
        {0x0000000040000000, 4, true, {0, 0, 0, 1, 0, 0}},
        {0x0000007fc0000000, 4, true, {0, 0, 0, 511, 0, 0}},
        {0x0000008000000000, 4, true, {0, 0, 0, 0, 1, 0}},
        {0x0000123456789000, 4, true, {0, 393, 179, 209, 36, 0}},
        {0x00007abcdef01000, 4, true, {0, 257, 247, 243, 245, 0}},
        {0x00007ffffffff000, 4, true, {0, 511, 511, 511, 255, 0}},
        {0x0000800000000000, 4, false, {0, 0, 0, 0, 256, 0}},
        {0xffff7ffffffff000, 4, false, {0, 511, 511, 511, 255, 0}},
        {0xffff800000000000, 4, true, {0, 0, 0, 0, 256, 0}},
        {0xfffffffffffff000, 4, true, {0, 511, 511, 511, 511, 0}},
        {0x8000000000000000, 4, false, {0, 0, 0, 0, 0, 0}},
        {0x0000000000000000, 5, true, {0, 0, 0, 0, 0, 0}},
        {0x0000800000000000, 5, true, {0, 0, 0, 0, 256, 0}},
        {0x0001000000000000, 5, true, {0, 0, 0, 0, 0, 1}},
        {0x00abcdef12345000, 5, true, {0, 325, 145, 444, 411, 171}},
        {0x00fffffffffff000, 5, true, {0, 511, 511, 511, 511, 255}},
        {0x0100000000000000, 5, false, {0, 0, 0, 0, 0, 256}},
        {0xfefffffffffff000, 5, false, {0, 511, 511, 511, 511, 255}},
        {0xff00000000000000, 5, true, {0, 0, 0, 0, 0, 256}},
        {0xffff800000000000, 5, true, {0, 0, 0, 0, 256, 511}},
        {0xfffffffffffff000, 5, true, {0, 511, 511, 511, 511, 511}},
    };
    return cr_make_param_array(struct addr_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct addr_case *c, addr, decompose) {
    cr_expect(eq(int, vms_addr_is_canonical(c->va, c->levels), c->canonical), "va %#llx levels %d",
              (unsigned long long)c->va, c->levels);
    for (int l = 1; l <= c->levels; l++)
        cr_expect(eq(uint, vms_addr_index(c->va, l), c->idx[l]), "va %#llx level %d",
                  (unsigned long long)c->va, l);
    /* The walk the library does through a real space uses the same slots: map the page and
     * find it where the hand-computed indices say. */
    if (c->canonical) {
        vms_space_t s;
        cr_assert(eq(int, vt_space_init(&s, c->levels, 0), VMS_OK));
        cr_assert(eq(int, vms_space_map(&s, c->va, 0x5000, 0x1000, VMS_RW, 0), VMS_OK));
        const uint64_t *t = vms_space_table(&s, s.root_pa);
        for (int l = c->levels; l > 1; l--) {
            uint64_t e = t[c->idx[l]];
            cr_assert(eq(u64, e & 1, 1), "level %d entry not present", l);
            t = vms_space_table(&s, e & VT_ADDR_BITS);
        }
        cr_expect(eq(u64, t[c->idx[1]] & VT_ADDR_BITS, 0x5000));
        vms_space_destroy(&s);
    }
}

Test(addr, bits_and_sizes) {
    cr_expect(eq(uint, vms_addr_bits(4), 48));
    cr_expect(eq(uint, vms_addr_bits(5), 57));
    cr_expect(eq(int, vms_page_level(0x1000), 1));
    cr_expect(eq(int, vms_page_level(0x200000), 2));
    cr_expect(eq(int, vms_page_level(0x40000000), 3));
    cr_expect(eq(int, vms_page_level(0), 0));
    cr_expect(eq(int, vms_page_level(0x2000), 0));
    cr_expect(eq(int, vms_page_level(0x400000), 0));
    cr_expect(eq(int, vms_page_level(0x8000000000), 0));
    cr_expect(eq(int, vms_page_level(0x800), 0));
    cr_expect(eq(u64, VMS_LEVEL_SIZE(1), 0x1000));
    cr_expect(eq(u64, VMS_LEVEL_SIZE(2), 0x200000));
    cr_expect(eq(u64, VMS_LEVEL_SIZE(3), 0x40000000));
    cr_expect(eq(u64, VMS_LEVEL_SIZE(4), 0x8000000000));
    cr_expect(eq(u64, VMS_LEVEL_SIZE(5), 0x1000000000000));
}

struct range_case {
    int levels;
    uint64_t va, len;
    int expect;
};

ParameterizedTestParameters(addr, check_range) {
    static struct range_case cases[] = {
        /* Valid ranges at every edge. */
        {4, 0x0, 0x1000, VMS_OK},
        {4, 0x00007ffffffff000, 0x1000, VMS_OK},
        {4, 0x0, 0x0000800000000000, VMS_OK},
        {4, 0xffff800000000000, 0x1000, VMS_OK},
        {4, 0xffff800000000000, 0x0000800000000000, VMS_OK}, /* ends exactly at 2^64 */
        {4, 0xfffffffffffff000, 0x1000, VMS_OK},
        {4, 0x000000003ffff000, 0x2000, VMS_OK}, /* across a 1 GiB edge */
        {5, 0x0000800000000000, 0x1000, VMS_OK},
        {5, 0x00fffffffffff000, 0x1000, VMS_OK},
        {5, 0xff00000000000000, 0x1000, VMS_OK},
        {5, 0x0000ff8000000000, 0x0000010000000000, VMS_OK}, /* across 2^48 */
        /* Not canonical. */
        {4, 0x0000800000000000, 0x1000, VMS_ERR_NONCANON},
        {4, 0xffff7ffffffff000, 0x1000, VMS_ERR_NONCANON},
        {4, 0x0100000000000000, 0x1000, VMS_ERR_NONCANON},
        {5, 0x0100000000000000, 0x1000, VMS_ERR_NONCANON},
        {5, 0xfefffffffffff000, 0x1000, VMS_ERR_NONCANON},
        /* Misaligned start or length. */
        {4, 0x1001, 0x1000, VMS_ERR_ALIGN},
        {4, 0x1000, 0x1001, VMS_ERR_ALIGN},
        {4, 0x1000, 0x800, VMS_ERR_ALIGN},
        /* Zero length. */
        {4, 0x1000, 0, VMS_ERR_ZEROLEN},
        /* Crossing the hole or wrapping. */
        {4, 0x00007ffffffff000, 0x2000, VMS_ERR_OVERFLOW},
        {4, 0x0, 0x0000800000001000, VMS_ERR_OVERFLOW},
        {5, 0x00fffffffffff000, 0x2000, VMS_ERR_OVERFLOW},
        {4, 0xfffffffffffff000, 0x2000, VMS_ERR_OVERFLOW},
        {4, 0xffff800000000000, 0xfffffffffffff000, VMS_ERR_OVERFLOW},
    };
    return cr_make_param_array(struct range_case, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct range_case *c, addr, check_range) {
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, c->levels, 0), VMS_OK));
    int rc = vms_space_check_range(&s, c->va, c->len);
    cr_expect(eq(int, rc, c->expect), "levels %d va %#llx len %#llx: got %s want %s", c->levels,
              (unsigned long long)c->va, (unsigned long long)c->len, vms_err_name(rc),
              vms_err_name(c->expect));
    vms_space_destroy(&s);
}

Test(addr, error_names) {
    /* Every code has its own name and message; unknown codes are named as such. */
    cr_expect(eq(int, VMS_OK, 0));
    for (int e = -1; e >= -VMS__ERR_COUNT; e--) {
        cr_expect(lt(int, e, 0));
        cr_expect(ne(str, (char *)vms_err_name(e), "VMS_ERR_UNKNOWN"), "code %d", e);
        cr_expect(ne(ptr, (void *)vms_strerror(e), NULL));
        for (int f = e - 1; f >= -VMS__ERR_COUNT; f--)
            cr_expect(ne(str, (char *)vms_err_name(e), (char *)vms_err_name(f)));
    }
    cr_expect(eq(str, (char *)vms_err_name(VMS_ERR_NOMEM), "VMS_ERR_NOMEM"));
    cr_expect(eq(str, (char *)vms_err_name(VMS_ERR_EXIST), "VMS_ERR_EXIST"));
    cr_expect(eq(str, (char *)vms_err_name(-1000), "VMS_ERR_UNKNOWN"));
    cr_expect(eq(str, (char *)vms_err_name(5), "VMS_ERR_UNKNOWN"));
}
