/* Software TLB: same answers as vms_translate after any change, and huge pages cached at
 * their size. */
#include <string.h>

#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(swtlb, .init = setup4, .fini = teardown);
TestSuite(swtlb5, .init = setup5, .fini = teardown);

/* The software TLB and the walk agree on va; returns the answer. */
static bool agree(vms_swtlb_t *t, uint64_t va) {
    uint64_t want = 0, got = 0;
    bool w = vms_translate(t->space, va, &want);
    bool g = vms_swtlb_translate(t, va, &got);
    cr_assert(eq(int, g, w), "va %#llx: swtlb %d, walk %d", VT_ULL(va), g, w);
    if (w) cr_assert(eq(u64, got, want), "va %#llx: swtlb pa %#llx, walk %#llx", VT_ULL(va),
                     VT_ULL(got), VT_ULL(want));
    return w;
}

Test(swtlb, hits_and_misses_by_page_size) {
    vms_swtlb_t t;
    cr_assert(eq(int, vms_space_map(&sp, 0x400000, 0x9000, 2 * K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 5 * M2, 9 * M2, M2, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 3 * G1, 7 * G1, G1, VMS_RX, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    cr_expect(eq(u64, t.misses, 0));
    uint64_t pa;
    /* 4 KiB: each page misses once. */
    cr_assert(vms_swtlb_translate(&t, 0x400010, &pa));
    cr_expect(eq(u64, pa, 0x9010));
    cr_expect(eq(u64, t.misses, 1));
    cr_assert(vms_swtlb_translate(&t, 0x400ff8, &pa));
    cr_expect(eq(u64, pa, 0x9ff8));
    cr_expect(eq(u64, t.misses, 1), "same 4 KiB page hits");
    cr_assert(vms_swtlb_translate(&t, 0x401000, &pa));
    cr_expect(eq(u64, pa, 0xa000));
    cr_expect(eq(u64, t.misses, 2), "next 4 KiB page misses");
    /* 2 MiB: one miss for the whole page. */
    cr_assert(vms_swtlb_translate(&t, 5 * M2 + 0x123, &pa));
    cr_expect(eq(u64, pa, 9 * M2 + 0x123));
    cr_expect(eq(u64, t.misses, 3));
    cr_assert(vms_swtlb_translate(&t, 6 * M2 - 8, &pa));
    cr_expect(eq(u64, pa, 10 * M2 - 8));
    cr_assert(vms_swtlb_translate(&t, 5 * M2 + 0x77000, &pa));
    cr_expect(eq(u64, pa, 9 * M2 + 0x77000));
    cr_expect(eq(u64, t.misses, 3), "same 2 MiB page hits");
    /* 1 GiB: one miss for the whole page. */
    cr_assert(vms_swtlb_translate(&t, 3 * G1 + 0x3ffffff0, &pa));
    cr_expect(eq(u64, pa, 7 * G1 + 0x3ffffff0));
    cr_expect(eq(u64, t.misses, 4));
    cr_assert(vms_swtlb_translate(&t, 3 * G1 + 0x1234567, &pa));
    cr_assert(vms_swtlb_translate(&t, 3 * G1 + 5 * M2, &pa));
    cr_expect(eq(u64, pa, 7 * G1 + 5 * M2));
    cr_expect(eq(u64, t.misses, 4), "same 1 GiB page hits");
    /* All three sizes stay cached side by side. */
    cr_assert(vms_swtlb_translate(&t, 0x400000, &pa));
    cr_assert(vms_swtlb_translate(&t, 5 * M2, &pa));
    cr_assert(vms_swtlb_translate(&t, 3 * G1, &pa));
    cr_expect(eq(u64, t.misses, 4));
    /* An explicit flush empties it. */
    vms_swtlb_flush(&t);
    cr_assert(vms_swtlb_translate(&t, 5 * M2 + 8, &pa));
    cr_expect(eq(u64, t.misses, 5));
}

Test(swtlb, absent_noaccess_noncanonical) {
    vms_swtlb_t t;
    cr_assert(eq(int, vms_space_map(&sp, 0x1000, 0x1000, K4, 0, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, M2, M2, M2, VMS_W, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    uint64_t pa = 0x5555;
    cr_expect(not(vms_swtlb_translate(&t, 0x1000, &pa)), "no-access page");
    cr_expect(not(vms_swtlb_translate(&t, M2 + 0x10, &pa)), "write-only = no access");
    cr_expect(not(vms_swtlb_translate(&t, 0x2000, &pa)), "unmapped");
    cr_expect(not(vms_swtlb_translate(&t, 0x0000800000000000ull, &pa)), "non-canonical");
    cr_expect(not(vms_swtlb_translate(&t, 0x8000000000001000ull, &pa)), "non-canonical");
    /* Not cached as absent: mapping the hole (no change the generation must see) shows. */
    cr_assert(eq(int, vms_space_map(&sp, 0x2000, 0x7000, K4, VMS_R, 0), VMS_OK));
    cr_expect(vms_swtlb_translate(&t, 0x2000, &pa));
    cr_expect(eq(u64, pa, 0x7000));
    cr_assert(eq(int, vms_space_protect(&sp, 0x1000, K4, VMS_R), VMS_OK));
    cr_expect(vms_swtlb_translate(&t, 0x1008, &pa));
    cr_expect(eq(u64, pa, 0x1008));
}

Test(swtlb, coherent_after_each_kind_of_change) {
    vms_swtlb_t t;
    uint64_t pa;
    cr_assert(eq(int, vms_space_map(&sp, G1, G1, G1, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0, 0x10000, 4 * K4, VMS_RW, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    cr_assert(agree(&t, 0x1000));
    cr_assert(agree(&t, G1 + 3 * M2 + 5));
    /* unmap */
    cr_assert(eq(int, vms_space_unmap(&sp, 0x1000, K4), VMS_OK));
    cr_expect(not(agree(&t, 0x1000)));
    cr_expect(agree(&t, 0x2000));
    /* unmap part of the cached 1 GiB page */
    cr_assert(eq(int, vms_space_unmap(&sp, G1 + 3 * M2, K4), VMS_OK));
    cr_expect(not(agree(&t, G1 + 3 * M2 + 5)));
    cr_expect(agree(&t, G1 + 3 * M2 + K4));
    /* replace */
    cr_assert(agree(&t, 0x3000));
    cr_assert(eq(int, vms_space_map(&sp, 0x3000, 0x99000, K4, VMS_R, VMS_MAP_REPLACE), VMS_OK));
    cr_assert(vms_swtlb_translate(&t, 0x3000, &pa));
    cr_expect(eq(u64, pa, 0x99000));
    /* replace a cached 2 MiB piece of what was the 1 GiB page with another frame */
    cr_assert(agree(&t, G1 + 9 * M2 + 7));
    cr_assert(eq(int, vms_space_map(&sp, G1 + 9 * M2, 40 * M2, M2, VMS_R, VMS_MAP_REPLACE),
                 VMS_OK));
    cr_assert(vms_swtlb_translate(&t, G1 + 9 * M2 + 7, &pa));
    cr_expect(eq(u64, pa, 40 * M2 + 7));
    /* protect to no access, and back */
    cr_assert(agree(&t, 0x2000));
    cr_assert(eq(int, vms_space_protect(&sp, 0x2000, K4, 0), VMS_OK));
    cr_expect(not(agree(&t, 0x2000)));
    cr_assert(eq(int, vms_space_protect(&sp, 0x2000, K4, VMS_R), VMS_OK));
    cr_expect(agree(&t, 0x2000));
    /* protect a huge page to W only (no access) */
    cr_assert(agree(&t, G1 + 100 * M2));
    cr_assert(eq(int, vms_space_protect(&sp, G1 + 100 * M2, M2, VMS_W), VMS_OK));
    cr_expect(not(agree(&t, G1 + 100 * M2 + 0x800)));
}

Test(swtlb5, five_levels_high_half) {
    vms_swtlb_t t;
    uint64_t hi = 0xff00000000000000ull, pa;
    cr_assert(eq(int, vms_space_map(&sp, hi, 2 * G1, G1, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x00ff000000000000ull, 0x3000, K4, VMS_R, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    cr_assert(vms_swtlb_translate(&t, hi + 0x12345678, &pa));
    cr_expect(eq(u64, pa, 2 * G1 + 0x12345678));
    cr_assert(vms_swtlb_translate(&t, hi + 0x2345678, &pa));
    cr_expect(eq(u64, t.misses, 1));
    cr_assert(agree(&t, 0x00ff000000000010ull));
    /* Canonical for 4 levels' hole, fine for 5 levels; non-canonical for 5 levels. */
    cr_expect(not(agree(&t, 0x0000800000000000ull)));
    cr_expect(not(agree(&t, 0x0100000000000000ull)));
    cr_assert(eq(int, vms_space_unmap(&sp, hi, G1), VMS_OK));
    cr_expect(not(agree(&t, hi + 0x12345678)));
}

/* ---- randomized: at least 200,000 space operations, lookups after each ---- */

static const vms_prop_t props[] = {
    VMS_R,          VMS_RW,           VMS_RX | VMS_USER, VMS_RWX | VMS_GLOBAL, 0,
    VMS_W,          VMS_X,            VMS_R | VMS_CACHE_UC, VMS_RW | VMS_USER | VMS_CACHE_WC,
};
#define NPROPS (sizeof props / sizeof props[0])

/* A random page-aligned range inside the window: 4 KiB runs, 2 MiB runs or one 1 GiB page. */
static void random_range(vt_rng_t *r, uint64_t window, uint64_t *va, uint64_t *len,
                         uint64_t *align) {
    uint64_t k = vt_rng_below(r, 10);
    uint64_t sz = k < 6 ? K4 : k < 9 ? M2 : G1;
    uint64_t n = sz == G1 ? 1 : 1 + vt_rng_below(r, sz == K4 ? 24 : 4);
    /* Most 4 KiB runs land in a few hot 2 MiB regions, so they meet the huge pages. */
    if (sz == K4 && vt_rng_below(r, 4)) {
        uint64_t region = vt_rng_below(r, window / G1) * G1 + vt_rng_below(r, 4) * M2;
        *va = region + vt_rng_below(r, 512) * K4;
    } else {
        *va = vt_rng_below(r, window / sz) * sz;
    }
    *len = n * sz;
    if (*va + *len > window) *len = window - *va;
    *align = sz;
}

static uint64_t random_pa(vt_rng_t *r, uint64_t align) {
    return vt_rng_below(r, ((uint64_t)1 << 40) / align) * align;
}

Test(swtlb, randomized_coherence, .timeout = 600) {
    enum { OPS = 200000, HOT = 64 };
    const uint64_t window = 8 * G1;
    vt_rng_t rng;
    vt_rng_seed(&rng, vt_seed_from_env(0x5eed7b));
    vms_swtlb_t fast, slow; /* slow is looked up rarely, so it sees many changes at once */
    vms_swtlb_init(&fast, &sp);
    vms_swtlb_init(&slow, &sp);
    uint64_t hot[HOT] = {0};
    uint64_t lookups = 0, hits_true = 0, ops_done = 0, present2 = 0, missed2 = 0, with_1g = 0;
    for (int it = 0; it < OPS; it++) {
        uint64_t va, len, align;
        random_range(&rng, window, &va, &len, &align);
        vms_prop_t p = props[vt_rng_below(&rng, NPROPS)];
        int rc;
        switch (vt_rng_below(&rng, 8)) {
        case 0:
        case 1:
        case 2: /* map into free space (EXIST is fine) */
            rc = vms_space_map(&sp, va, random_pa(&rng, align), len, p, 0);
            if (rc != VMS_ERR_EXIST) cr_assert(eq(int, rc, VMS_OK), "map: %s", vms_err_name(rc));
            break;
        case 3: /* replace */
            rc = vms_space_map(&sp, va, random_pa(&rng, align), len, p, VMS_MAP_REPLACE);
            cr_assert(eq(int, rc, VMS_OK), "replace: %s", vms_err_name(rc));
            break;
        case 4:
        case 5:
            rc = vms_space_unmap(&sp, va, len);
            cr_assert(eq(int, rc, VMS_OK), "unmap: %s", vms_err_name(rc));
            break;
        default:
            rc = vms_space_protect(&sp, va, len, p);
            cr_assert(eq(int, rc, VMS_OK), "protect: %s", vms_err_name(rc));
            break;
        }
        ops_done++;
        /* Lookups: the range just changed, hot addresses (cached earlier), random ones. */
        uint64_t probe[6];
        probe[0] = va + vt_rng_below(&rng, len);
        probe[1] = va + len - 1;
        probe[2] = hot[vt_rng_below(&rng, HOT)];
        probe[3] = hot[vt_rng_below(&rng, HOT)] ^ vt_rng_below(&rng, M2);
        probe[4] = vt_rng_below(&rng, window);
        probe[5] = hot[vt_rng_below(&rng, HOT)];
        for (int k = 0; k < 6; k++) {
            if (agree(&fast, probe[k])) hits_true++;
            lookups++;
        }
        /* The same addresses again, no change in between: present ones mostly hit now. */
        uint64_t m0 = fast.misses, absent = 0;
        for (int k = 0; k < 6; k++) {
            if (agree(&fast, probe[k])) present2++;
            else absent++;
            lookups++;
        }
        missed2 += fast.misses - m0 - absent;
        if (vt_stats(&sp).mapped_bytes[2]) with_1g++;
        hot[vt_rng_below(&rng, HOT)] = probe[0];
        if (it % 97 == 0)
            for (int k = 0; k < HOT; k++) agree(&slow, hot[k]);
    }
    cr_expect(eq(u64, ops_done, OPS));
    /* The cache was used (many hits), and the test saw translations, not only holes. */
    cr_expect(lt(u64, missed2, present2 / 10), "repeated present lookups: %llu of %llu missed",
              VT_ULL(missed2), VT_ULL(present2));
    cr_expect(gt(u64, hits_true, lookups / 20));
    cr_expect(gt(u64, with_1g, OPS / 100), "1 GiB pages were seldom mapped");
    vms_stats_t st = vt_stats(&sp);
    cr_log_info("swtlb randomized: %llu ops, %llu lookups, %llu misses, %llu present, "
                "%llu of %llu repeats missed, %llu ops with 1G pages; mapped 4K %llu 2M %llu "
                "1G %llu",
                VT_ULL(ops_done), VT_ULL(lookups), VT_ULL(fast.misses), VT_ULL(hits_true),
                VT_ULL(missed2), VT_ULL(present2), VT_ULL(with_1g),
                VT_ULL(st.mapped_bytes[0]), VT_ULL(st.mapped_bytes[1]),
                VT_ULL(st.mapped_bytes[2]));
}
