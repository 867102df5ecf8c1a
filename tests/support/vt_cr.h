/* Criterion helpers shared by the test files (header only; each test file includes it). */
#ifndef VT_CR_H_INCLUDED
#define VT_CR_H_INCLUDED

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include "vt.h"

#define VT_ULL(x) ((unsigned long long)(x))

/* va lies in the page [pva, pva + size) mapped to ppa with property prop. */
static inline void vt_expect_page(const vms_space_t *s, uint64_t va, uint64_t pva, uint64_t ppa,
                                  uint64_t size, vms_prop_t prop) {
    vms_mapping_t m;
    int rc = vms_space_query(s, va, &m);
    cr_expect(eq(int, rc, VMS_OK), "query %#llx: %s", VT_ULL(va), vms_err_name(rc));
    if (rc != VMS_OK) return;
    cr_expect(eq(u64, m.va, pva), "query %#llx: va", VT_ULL(va));
    cr_expect(eq(u64, m.pa, ppa), "query %#llx: pa", VT_ULL(va));
    cr_expect(eq(u64, m.size, size), "query %#llx: size", VT_ULL(va));
    cr_expect(eq(u32, m.prop, prop), "query %#llx: prop", VT_ULL(va));
    uint64_t pa = 0;
    bool ok = vms_translate(s, va, &pa);
    cr_expect(eq(int, ok, (prop & VMS_R) != 0), "translate %#llx", VT_ULL(va));
    if (ok) cr_expect(eq(u64, pa, ppa + (va - pva)), "translate %#llx: pa", VT_ULL(va));
}

static inline void vt_expect_unmapped(const vms_space_t *s, uint64_t va) {
    vms_mapping_t m;
    uint64_t pa;
    cr_expect(eq(int, vms_space_query(s, va, &m), VMS_ERR_NOENT), "query %#llx", VT_ULL(va));
    cr_expect(not(vms_translate(s, va, &pa)), "translate %#llx", VT_ULL(va));
}

static inline size_t vt_count_mappings(const vms_space_t *s) {
    size_t n;
    vms_mapping_t *v = vt_enumerate(s, &n);
    free(v);
    return n;
}

static inline void vt_expect_wellformed(const vms_space_t *s) {
    const char *why = vt_check_tables(s);
    cr_expect(eq(ptr, (void *)why, NULL), "tables: %s", why ? why : "");
    cr_expect(eq(u64, vt_table_pages(s), vt_count_tables(s)), "stats table_pages vs walk");
}

static inline vms_stats_t vt_stats(const vms_space_t *s) {
    vms_stats_t st;
    vms_space_stats(s, &st);
    return st;
}

/* Shorthands for the page sizes. */
#define K4 VT_SZ_4K
#define M2 VT_SZ_2M
#define G1 VT_SZ_1G

/* The common fixture of a test file: `sp`, a fresh 4-level (setup4) or 5-level (setup5) space
 * per test, checked well formed and destroyed by teardown. */
#define VT_SPACE_FIXTURE                                                                   \
    static vms_space_t sp;                                                                 \
    static void setup4(void) { cr_assert(eq(int, vt_space_init(&sp, 4, 0), VMS_OK)); }    \
    static void setup5(void) { cr_assert(eq(int, vt_space_init(&sp, 5, 0), VMS_OK)); }    \
    static void teardown(void) {                                                           \
        vt_expect_wellformed(&sp);                                                         \
        vms_space_destroy(&sp);                                                            \
    }

#endif
