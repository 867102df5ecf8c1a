/* Coverage of vmspace.h parts the other suites leave out: the dump, the error names, NULL
 * arguments of the set-up functions, and every clause of vms_space_check (tables broken one
 * way at a time, then repaired). */
#include <stdio.h>

#include "support/vt_cr.h"

/* ---- vms_space_dump ---- */

typedef struct dump_s {
    char lines[16][200];
    int n;
} dump_t;

static void dump_line(void *user, const char *line) {
    dump_t *d = (dump_t *)user;
    cr_assert(lt(int, d->n, 16), "too many dump lines");
    cr_assert(lt(sz, strlen(line), sizeof d->lines[0]));
    strcpy(d->lines[d->n++], line);
}

static bool has(const char *line, const char *what) { return strstr(line, what) != NULL; }

Test(coverage_core, dump_lists_merged_runs) {
    vms_space_t s;
    dump_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_space_init(&s, 5, (uint64_t)16 << 20), VMS_OK));
    /* Run 1: two 4 KiB pages that merge (contiguous in VA and PA, same property). */
    cr_assert(eq(int, vms_space_map(&s, 0x1000, 0x5000, 0x2000, VMS_RWX | VMS_USER, 0), VMS_OK));
    /* Run 2: the next page, contiguous but another property: a new run. */
    cr_assert(eq(int,
                 vms_space_map(&s, 0x3000, 0x7000, 0x1000, VMS_R | VMS_GLOBAL | VMS_CACHE_UC, 0),
                 VMS_OK));
    /* Run 3: no access, PAT index 5. */
    cr_assert(eq(int, vms_space_map(&s, 0x10000, 0x9000, 0x1000, VMS_CACHE_PAT(5), 0), VMS_OK));
    /* Run 4: 2 MiB pages (4 MiB, one run); run 5: a 1 GiB page in the upper half. */
    cr_assert(
        eq(int, vms_space_map(&s, 0x400000, 0x400000, 0x400000, VMS_R | VMS_CACHE_WC, 0), VMS_OK));
    cr_assert(eq(int,
                 vms_space_map(&s, 0xff00000040000000ull, 0x40000000, VT_SZ_1G,
                               VMS_R | VMS_W | VMS_CACHE_WT, 0),
                 VMS_OK));
    vms_space_dump(&s, dump_line, &d);
    cr_assert(eq(int, d.n, 7), "header, five runs, footer");
    cr_expect(has(d.lines[0], "5-level"), "%s", d.lines[0]);
    cr_expect(has(d.lines[1], "0x0000000000001000-0x0000000000003000"), "%s", d.lines[1]);
    cr_expect(has(d.lines[1], "8K") && has(d.lines[1], "pte") && has(d.lines[1], "rwx") &&
                  has(d.lines[1], "USR") && has(d.lines[1], "WB"),
              "%s", d.lines[1]);
    cr_expect(has(d.lines[1], "pa 0x0000000005000-0x0000000007000"), "%s", d.lines[1]);
    cr_expect(has(d.lines[2], "r--") && has(d.lines[2], "GLB") && has(d.lines[2], "UC"), "%s",
              d.lines[2]);
    cr_expect(has(d.lines[3], "none") && has(d.lines[3], "PAT5"), "%s", d.lines[3]);
    cr_expect(has(d.lines[4], "4M") && has(d.lines[4], "pmd") && has(d.lines[4], "WC"), "%s",
              d.lines[4]);
    cr_expect(has(d.lines[5], "0xff00000040000000-0xff00000080000000") && has(d.lines[5], "1G") &&
                  has(d.lines[5], "pud") && has(d.lines[5], "rw-") && has(d.lines[5], "WT"),
              "%s", d.lines[5]);
    cr_expect(has(d.lines[6], "table pages") && has(d.lines[6], "by 1G pages: 1G"), "%s",
              d.lines[6]);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

Test(coverage_core, dump_of_empty_4_level_space) {
    vms_space_t s;
    dump_t d;
    memset(&d, 0, sizeof d);
    cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)4 << 20), VMS_OK));
    vms_space_dump(&s, dump_line, &d);
    cr_expect(eq(int, d.n, 2));
    cr_expect(has(d.lines[0], "4-level"), "%s", d.lines[0]);
    cr_expect(has(d.lines[1], "table pages: 4K"), "%s", d.lines[1]);
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* ---- error names and messages ---- */

Test(coverage_core, every_code_has_a_name_and_message) {
    cr_expect(eq(str, (char *)vms_err_name(VMS_OK), "VMS_OK"));
    cr_expect(eq(str, (char *)vms_strerror(VMS_OK), "success"));
    for (int code = 1; code <= VMS__ERR_COUNT; code++) {
        const char *n = vms_err_name(-code), *m = vms_strerror(-code);
        cr_expect(eq(int, strncmp(n, "VMS_ERR_", 8), 0), "%d: %s", code, n);
        cr_expect(ne(str, (char *)n, "VMS_ERR_UNKNOWN"), "%d", code);
        cr_expect(ne(str, (char *)m, "unknown error"), "%d", code);
    }
    cr_expect(eq(str, (char *)vms_err_name(-(VMS__ERR_COUNT + 1)), "VMS_ERR_UNKNOWN"));
    cr_expect(eq(str, (char *)vms_err_name(1), "VMS_ERR_UNKNOWN"));
    cr_expect(eq(str, (char *)vms_strerror(-(VMS__ERR_COUNT + 1)), "unknown error"));
    cr_expect(eq(str, (char *)vms_strerror(7), "unknown error"));
    cr_expect(eq(str, (char *)vms_err_name(VMS_ERR_STALE), "VMS_ERR_STALE"));
}

/* ---- NULL arguments of set-up functions ---- */

Test(coverage_core, null_arguments) {
    vms_arena_t a;
    uint64_t pa;
    cr_expect(eq(int, vms_arena_init(NULL, NULL), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_init(NULL, NULL), VMS_ERR_ARG));
    cr_expect(eq(int, vms_arena_alloc_data(NULL, 0x1000, 0x1000, &pa), VMS_ERR_ARG));
    /* No descriptor: the defaults (1 GiB reserved lazily, physical base 16 MiB). */
    cr_assert(eq(int, vms_arena_init(&a, NULL), VMS_OK));
    cr_expect(eq(u64, a.phys_base, (uint64_t)16 << 20));
    cr_expect(eq(u64, a.size, (uint64_t)1 << 30));
    cr_expect(eq(int, vms_arena_alloc_data(&a, 0x1000, 0x1000, NULL), VMS_ERR_ARG));
    cr_expect(eq(ptr, vms_arena_ptr(&a, a.phys_base - 1), NULL));
    cr_expect(eq(ptr, vms_arena_ptr(&a, a.phys_base + a.size), NULL));
    vms_arena_destroy(&a);
}

/* ---- vms_space_check: each clause ---- */

#ifdef VMSPACE_DEBUG
/* A 4-level space with a 4 KiB page at 0x1000, a 2 MiB page at 2 MiB and a 1 GiB page at
 * 1 GiB. Returns the entries on the walk to the 4 KiB page. */
static void check_space(vms_space_t *s, uint64_t *l4e[5]) {
    cr_assert(eq(int, vt_space_init(s, 4, (uint64_t)8 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 0x1000, 0x100000, 0x1000, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, VT_SZ_2M, VT_SZ_2M, VT_SZ_2M, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, VT_SZ_1G, VT_SZ_1G, VT_SZ_1G, VMS_R, 0), VMS_OK));
    cr_assert(eq(ptr, (void *)vms_space_check(s), NULL));
    uint64_t *t = vms_space_table(s, s->root_pa);
    for (int l = 4; l >= 1; l--) {
        l4e[l] = &t[vt_index(0x1000, l)];
        if (l > 1) t = vms_space_table(s, *l4e[l] & VT_ADDR_BITS);
    }
}

/* Break one thing with `e` = value, check the clause, restore. */
static void expect_clause(vms_space_t *s, uint64_t *where, uint64_t value, const char *clause) {
    uint64_t old = *where;
    *where = value;
    const char *got = vms_space_check(s);
    *where = old;
    cr_expect(eq(str, (char *)(got ? got : "(none)"), (char *)clause));
    cr_expect(eq(ptr, (void *)vms_space_check(s), NULL), "repaired: %s", clause);
}

Test(coverage_core, space_check_names_each_clause) {
    vms_space_t s;
    uint64_t *e[5];
    check_space(&s, e);
    uint64_t *pd = vms_space_table(&s, *e[3] & VT_ADDR_BITS); /* the page directory */
    uint64_t *pdpt = vms_space_table(&s, *e[4] & VT_ADDR_BITS);
    uint64_t *e2m = &pd[1], *e1g = &pdpt[1];
    expect_clause(&s, e1g, *e1g | VT_BIT(54), "reserved_bits_clear");
    expect_clause(&s, e2m, *e2m | 0x1000 * 3, "leaf_aligned");
    expect_clause(&s, e[1], *e[1] | VT_BIT(10), "noaccess_only_when_not_present");
    expect_clause(&s, e[2], *e[2] & ~VT_BIT(2), "table_entry_bits");
    expect_clause(&s, &pd[7], VT_BIT(1), "unused_entry_zero");
    expect_clause(&s, e[4], *e[4] | VT_BIT(7), "no_huge_above_1g");
    /* Two entries pointing at one table. */
    expect_clause(&s, &pd[9], *e[2], "table_reachable_once");
    /* A table whose metadata says another level, or another child count. */
    vms_table_meta_t *m = (vms_table_meta_t *)(s.prov.meta_map + (*e[2] & VT_ADDR_BITS) / 4096 *
                                                                     sizeof(vms_table_meta_t));
    m->level = 3;
    cr_expect(eq(str, (char *)vms_space_check(&s), "table_level"));
    m->level = 1;
    m->children++;
    cr_expect(eq(str, (char *)vms_space_check(&s), "child_count"));
    m->children--;
    /* Counters. */
    s.counts.table_pages++;
    cr_expect(eq(str, (char *)vms_space_check(&s), "table_pages_counter"));
    s.counts.table_pages--;
    s.counts.mapped_bytes[1] += VT_SZ_2M;
    cr_expect(eq(str, (char *)vms_space_check(&s), "mapped_bytes_counter"));
    s.counts.mapped_bytes[1] -= VT_SZ_2M;
    /* An empty table below the root: clear the only leaf of the page table. */
    {
        uint64_t old = *e[1];
        *e[1] = 0;
        m->children = 0;
        s.counts.mapped_bytes[0] -= 0x1000;
        cr_expect(eq(str, (char *)vms_space_check(&s), "no_empty_tables"));
        *e[1] = old;
        m->children = 1;
        s.counts.mapped_bytes[0] += 0x1000;
    }
    cr_expect(eq(ptr, (void *)vms_space_check(&s), NULL));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

/* The check only reads: the metadata of every table (a byte each of level, flags, children,
 * lock) is the same after it, even when it finds a fault, so it may run beside readers. */
Test(coverage_core, space_check_writes_nothing) {
    vms_space_t s;
    uint64_t *e[5];
    check_space(&s, e);
    const uint8_t *meta = (const uint8_t *)(s.prov.meta_map + (uintptr_t)(s.arena.phys_base /
                                                              4096 * sizeof(vms_table_meta_t)));
    size_t n = (size_t)(s.arena.size / 4096 * sizeof(vms_table_meta_t));
    uint8_t *before = malloc(n);
    cr_assert(not(eq(ptr, before, NULL)));
    memcpy(before, meta, n);
    cr_expect(eq(ptr, (void *)vms_space_check(&s), NULL));
    cr_expect(eq(int, memcmp(before, meta, n), 0), "a clean check wrote metadata");
    uint64_t old = *e[2];
    uint64_t *pd = vms_space_table(&s, *e[3] & VT_ADDR_BITS);
    pd[9] = old; /* the page table reached twice */
    cr_expect(eq(str, (char *)vms_space_check(&s), "table_reachable_once"));
    pd[9] = 0;
    cr_expect(eq(int, memcmp(before, meta, n), 0), "a failed check wrote metadata");
    cr_expect(eq(ptr, (void *)vms_space_check(&s), NULL));
    free(before);
    vms_space_destroy(&s);
}
#endif
