/* Reclamation: after mapping many scattered ranges of every page size (with splits from
 * protect and REPLACE along the way) and unmapping everything in random pieces, the space
 * holds only its root table and the arena has every frame back. */
#include <stdio.h>

#include "support/vt_cr.h"

/* Bases of the scattered clusters; the 5-level ones only with 5 levels. */
static const uint64_t bases4[] = {0x0,
                                  0x0000000040000000,
                                  0x0000007fc0000000,
                                  0x0000008000000000,
                                  0x00007fff00000000,
                                  0xffff800000000000,
                                  0xffffc12340000000,
                                  0xffffffff00000000};
static const uint64_t bases5[] = {0x0000800000000000, 0x0000ffff80000000, 0x00ffffff00000000,
                                  0xff00000000000000, 0xff7fffff80000000};
#define SPAN (4 * G1)

static void reclaim(int levels, bool by_cursor, uint64_t seed) {
    vms_space_t s;
    vt_rng_t rng;
    uint64_t bases[16];
    int nb = 0;
    vt_rng_seed(&rng, seed);
    cr_assert(eq(int, vt_space_init(&s, levels, 0), VMS_OK));
    const uint64_t frames0 = s.arena.frames_in_use;
    cr_expect(eq(u64, vt_table_pages(&s), 1));
    for (size_t i = 0; i < sizeof bases4 / sizeof bases4[0]; i++) bases[nb++] = bases4[i];
    if (levels == 5)
        for (size_t i = 0; i < sizeof bases5 / sizeof bases5[0]; i++) bases[nb++] = bases5[i];
    /* Map: per cluster a few 1 GiB pages, 2 MiB runs and scattered 4 KiB pages. */
    for (int b = 0; b < nb; b++) {
        uint64_t base = bases[b];
        for (int i = 0; i < 40; i++) {
            uint64_t kind = vt_rng_below(&rng, 3), va, len;
            if (kind == 2) {
                va = base + vt_rng_below(&rng, SPAN / G1) * G1;
                len = G1;
            } else if (kind == 1) {
                va = base + vt_rng_below(&rng, SPAN / M2) * M2;
                len = M2 * (1 + vt_rng_below(&rng, 4));
            } else {
                va = base + vt_rng_below(&rng, SPAN / K4) * K4;
                len = K4 * (1 + vt_rng_below(&rng, 40));
            }
            if (va + len - base > SPAN) len = base + SPAN - va;
            int rc = vms_space_map(&s, va, va & (VT_SZ_512G - 1), len, VMS_RW, VMS_MAP_REPLACE);
            cr_assert(eq(int, rc, VMS_OK), "map %#llx+%#llx: %s", VT_ULL(va), VT_ULL(len),
                      vms_err_name(rc));
        }
        /* Split some of them with protect. */
        for (int i = 0; i < 10; i++) {
            uint64_t va = base + vt_rng_below(&rng, SPAN / K4) * K4;
            uint64_t len = K4 * (1 + vt_rng_below(&rng, 8));
            if (va + len - base > SPAN) len = base + SPAN - va;
            cr_assert(eq(int, vms_space_protect(&s, va, len, VMS_R), VMS_OK));
        }
    }
    vms_stats_t st = vt_stats(&s);
    cr_expect(gt(u64, st.mapped_bytes[0], 0));
    cr_expect(gt(u64, st.mapped_bytes[1], 0));
    cr_expect(gt(u64, st.mapped_bytes[2], 0));
    const uint64_t peak = st.table_pages;
    cr_expect(eq(u64, s.arena.frames_in_use - frames0, peak - 1),
              "the arena's frames and the table count agree");
    /* Unmap everything in random pieces, in a random order of clusters. */
    for (int b = nb - 1; b > 0; b--) {
        int j = (int)vt_rng_below(&rng, (uint64_t)b + 1);
        uint64_t t = bases[b];
        bases[b] = bases[j];
        bases[j] = t;
    }
    for (int b = 0; b < nb; b++) {
        uint64_t base = bases[b], off = 0;
        /* Pieces of random size, not aligned to the pages they cut. */
        while (off < SPAN) {
            uint64_t len = K4 * (1 + vt_rng_below(&rng, 3 * 512 * 100));
            if (len > SPAN - off) len = SPAN - off;
            if (by_cursor) {
                vms_cursor_t c;
                uint64_t n = 0;
                cr_assert(eq(int, vms_cursor_open(&c, &s, base + off, len), VMS_OK));
                cr_assert(eq(int, vms_cursor_unmap(&c, len, &n), VMS_OK));
                vms_cursor_close(&c);
            } else {
                cr_assert(eq(int, vms_space_unmap(&s, base + off, len), VMS_OK));
            }
            off += len;
        }
        vt_expect_wellformed(&s);
    }
    st = vt_stats(&s);
    cr_expect(eq(u64, st.table_pages, 1));
    cr_expect(eq(u64, st.mapped_bytes[0] + st.mapped_bytes[1] + st.mapped_bytes[2], 0));
    cr_expect(eq(u64, vt_count_tables(&s), 1));
    cr_expect(eq(u64, s.arena.frames_in_use, frames0));
    const uint64_t *root = vms_space_table(&s, s.root_pa);
    for (int i = 0; i < 512; i++) cr_expect(eq(u64, root[i], 0), "root[%d]", i);
    printf("reclaim: levels %d%s: peak %llu table pages, back to 1\n", levels,
           by_cursor ? " (cursor unmap)" : "", VT_ULL(peak));
    fflush(stdout);
    vms_space_destroy(&s);
}

Test(reclaim, levels4) { reclaim(4, false, 1); }
Test(reclaim, levels5) { reclaim(5, false, 2); }
Test(reclaim, levels4_cursor) { reclaim(4, true, 3); }
Test(reclaim, levels5_cursor) { reclaim(5, true, 4); }

Test(reclaim, replace_frees_tables) {
    /* Tables under a range replaced by huge pages are freed at once. */
    vms_space_t s;
    cr_assert(eq(int, vt_space_init(&s, 4, 0), VMS_OK));
    const uint64_t frames0 = s.arena.frames_in_use;
    for (uint64_t i = 0; i < 64; i++)
        cr_assert(eq(int, vms_space_map(&s, G1 + i * 3 * M2 + K4, 0, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, G1, G1, G1, VMS_RW, VMS_MAP_REPLACE), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&s), 2));
    cr_expect(eq(u64, s.arena.frames_in_use, frames0 + 1));
    cr_assert(eq(int, vms_space_unmap(&s, G1, G1), VMS_OK));
    cr_expect(eq(u64, vt_table_pages(&s), 1));
    cr_expect(eq(u64, s.arena.frames_in_use, frames0));
    vms_space_destroy(&s);
}
