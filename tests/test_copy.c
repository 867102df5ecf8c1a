/* Fallible copies through the tables: vms_copy_from, vms_copy_to, vms_fill over 4 KiB, 2 MiB
 * and 1 GiB pages, stopping at each kind of faulting page with the exact byte count, address
 * and reason; vms_read_val / vms_write_val all or nothing. */
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "support/vt_cr.h"

#define URW (VMS_RW | VMS_USER)

static vms_space_t sp;
/* Data frames in the space's arena: one of each size, plus spare 4 KiB frames. */
static uint64_t f1g, f2m, f4k[8], f12k; /* f12k: three contiguous 4 KiB frames */

static uint8_t *host(uint64_t pa) {
    uint8_t *p = (uint8_t *)vms_arena_ptr(&sp.arena, pa);
    cr_assert(ne(ptr, p, NULL), "pa %#llx outside the arena", VT_ULL(pa));
    return p;
}

/* A space whose arena can hold a 1 GiB data frame without touching much memory: the arena
 * is placed so that its first free byte after the root sits just below a 1 GiB boundary
 * (memory is committed on first touch; the few frames skipped for alignment are all that
 * alloc_data writes to). */
static void setup(void) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = 4;
    d.arena.size = 3 * G1;
    d.arena.phys_base = G1;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    uint64_t used = (sp.arena.bump + M2 - 1) & ~(M2 - 1);
    cr_assert(lt(u64, used, G1 / 2));
    vms_space_destroy(&sp);
    d.arena.phys_base = G1 - used;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&sp.arena, G1, G1, &f1g), VMS_OK));
    cr_assert(eq(u64, f1g & (G1 - 1), 0));
    cr_assert(eq(int, vms_arena_alloc_data(&sp.arena, M2, M2, &f2m), VMS_OK));
    cr_assert(eq(u64, f2m & (M2 - 1), 0));
    for (int i = 0; i < 8; i++)
        cr_assert(eq(int, vms_arena_alloc_data(&sp.arena, K4, K4, &f4k[i]), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&sp.arena, 3 * K4, K4, &f12k), VMS_OK));
}

static void teardown(void) {
    vt_expect_wellformed(&sp);
    vms_space_destroy(&sp);
}

TestSuite(copy, .init = setup, .fini = teardown);

static void fill_random(vt_rng_t *r, uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)vt_rng_next(r);
}

static uint64_t digest(const void *p, size_t n) { return XXH3_64bits(p, n); }

static void expect_result(int rc, const vms_copy_result_t *r, int want_rc, uint64_t done,
                          uint64_t fault_va, vms_fault fault, const char *what) {
    cr_expect(eq(int, rc, want_rc), "%s: rc %s", what, vms_err_name(rc));
    cr_expect(eq(u64, r->done, done), "%s: done", what);
    if (want_rc == VMS_ERR_FAULT) {
        cr_expect(eq(u64, r->fault_va, fault_va), "%s: fault_va", what);
        cr_expect(eq(int, (int)r->fault, (int)fault), "%s: fault", what);
    } else {
        cr_expect(eq(int, (int)r->fault, (int)VMS_FAULT_NONE), "%s: fault", what);
    }
}

/* ---- whole copies across page sizes ---- */

Test(copy, across_1g_2m_4k_pages) {
    /* [4G, 5G) one 1 GiB page, then a 2 MiB page, then four 4 KiB pages, contiguous in VA. */
    const uint64_t va = 4 * G1;
    cr_assert(eq(int, vms_space_map(&sp, va, f1g, G1, URW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va + G1, f2m, M2, URW, 0), VMS_OK));
    for (int i = 0; i < 4; i++)
        cr_assert(eq(int, vms_space_map(&sp, va + G1 + M2 + (uint64_t)i * K4, f4k[3 - i], K4,
                                        URW, 0),
                     VMS_OK));
    vms_mapping_t m;
    cr_assert(eq(int, vms_space_query(&sp, va + 5, &m), VMS_OK));
    cr_assert(eq(u64, m.size, G1));
    /* From 40 KiB + 3 before the 1 GiB page's end to 4 KiB - 5 into the last small page. */
    const uint64_t start = va + G1 - 40 * K4 - 3;
    const uint64_t len = 40 * K4 + 3 + M2 + 3 * K4 + (K4 - 5);
    uint8_t *src = (uint8_t *)malloc(len), *back = (uint8_t *)malloc(len);
    vt_rng_t rng;
    vt_rng_seed(&rng, vt_seed_from_env(0xc0b1));
    fill_random(&rng, src, len);
    vms_copy_result_t r;
    expect_result(vms_copy_to(&sp, start, src, len, &r), &r, VMS_OK, len, 0, VMS_FAULT_NONE,
                  "copy_to");
    /* The bytes landed at the frames the tables name. */
    size_t off1 = 40 * K4 + 3;
    cr_expect(eq(u64, digest(host(f1g + G1 - off1), off1), digest(src, off1)));
    cr_expect(eq(u64, digest(host(f2m), M2), digest(src + off1, M2)));
    for (int i = 0; i < 3; i++)
        cr_expect(eq(u64, digest(host(f4k[3 - i]), K4), digest(src + off1 + M2 + i * K4, K4)),
                  "4 KiB page %d", i);
    cr_expect(eq(u64, digest(host(f4k[0]), K4 - 5), digest(src + off1 + M2 + 3 * K4, K4 - 5)));
    cr_expect(eq(u8, host(f4k[0])[K4 - 5], 0), "byte after the range untouched");
    cr_expect(eq(u8, host(f1g + G1 - off1 - 1)[0], 0), "byte before the range untouched");
    /* Read back through the tables. */
    memset(back, 0xee, len);
    expect_result(vms_copy_from(&sp, back, start, len, &r), &r, VMS_OK, len, 0, VMS_FAULT_NONE,
                  "copy_from");
    cr_expect(eq(u64, digest(back, len), digest(src, len)));
    /* Fill part of it, read back. */
    expect_result(vms_fill(&sp, start + 7, 0x5a, len - 9, &r), &r, VMS_OK, len - 9, 0,
                  VMS_FAULT_NONE, "fill");
    memset(src + 7, 0x5a, len - 9);
    expect_result(vms_copy_from(&sp, back, start, len, &r), &r, VMS_OK, len, 0, VMS_FAULT_NONE,
                  "copy_from after fill");
    cr_expect(eq(u64, digest(back, len), digest(src, len)));
    /* Zero length: nothing to do. */
    expect_result(vms_copy_from(&sp, back, start, 0, &r), &r, VMS_OK, 0, 0, VMS_FAULT_NONE,
                  "zero length");
    free(src);
    free(back);
}

/* ---- a fault at each kind of boundary ---- */

enum fault_kind { F_UNMAPPED, F_READONLY, F_SUPERVISOR, F_NOACCESS, F_KINDS };
static const char *const kind_name[F_KINDS] = {"unmapped", "read-only", "supervisor",
                                               "no-access"};

/* The good region before the boundary: one page of size g, or three 4 KiB pages. */
static uint64_t good_len(uint64_t g) { return g == K4 ? 3 * K4 : g; }
static uint64_t good_frame(uint64_t g) { return g == G1 ? f1g : g == M2 ? f2m : f12k; }

/* Map the good region (user RW, pages of size g) at base and the faulting page right after
 * it; returns the boundary. The faulting page is 4 KiB, or 2 MiB when big is set. */
static uint64_t build(uint64_t base, uint64_t g, enum fault_kind k, bool big) {
    uint32_t cap = g == K4 ? VMS_MAP_MAX_4K : g == M2 ? VMS_MAP_MAX_2M : 0;
    cr_assert(eq(int, vms_space_map(&sp, base, good_frame(g), good_len(g), URW, cap), VMS_OK));
    vms_mapping_t gm;
    cr_assert(eq(int, vms_space_query(&sp, base + good_len(g) - 1, &gm), VMS_OK));
    cr_assert(eq(u64, gm.size, g));
    uint64_t b = base + good_len(g), fsz = big ? M2 : K4, fpa = big ? f2m : f4k[1];
    vms_prop_t p = 0;
    switch (k) {
    case F_UNMAPPED: return b;
    case F_READONLY: p = VMS_R | VMS_USER; break;
    case F_SUPERVISOR: p = VMS_RW; break;
    case F_NOACCESS: p = VMS_W | VMS_USER; break; /* no R: not present */
    default: break;
    }
    cr_assert(eq(int, vms_space_map(&sp, b, fpa, fsz, p, 0), VMS_OK));
    vms_mapping_t m;
    cr_assert(eq(int, vms_space_query(&sp, b, &m), VMS_OK));
    cr_assert(eq(u64, m.size, fsz));
    return b;
}

static vms_fault expected(enum fault_kind k, bool write) {
    switch (k) {
    case F_READONLY: return write ? VMS_FAULT_WRITE : VMS_FAULT_NONE;
    case F_SUPERVISOR: return VMS_FAULT_USER;
    default: return VMS_FAULT_NOT_PRESENT;
    }
}

static void boundary_case(uint64_t base, uint64_t g, enum fault_kind k, bool big) {
    char what[96];
    /* Starts two and a bit pages before the boundary, ends inside the faulting page. */
    const uint64_t before = 2 * K4 + 50, after = K4 - 77, len = before + after;
    uint64_t b = build(base, g, k, big);
    uint64_t start = b - before;
    uint64_t good_pa = good_frame(g) + good_len(g) - before;
    uint64_t bad_pa = big ? f2m : f4k[1];
    uint8_t src[4 * K4], dst[4 * K4], saved_bad[2 * K4];
    vt_rng_t rng;
    vt_rng_seed(&rng, g ^ (uint64_t)k ^ (big ? 0x99 : 0));
    fill_random(&rng, src, len);
    if (k != F_UNMAPPED) memcpy(saved_bad, host(bad_pa), after);
    vms_copy_result_t r;

    /* copy_to: writes up to the boundary, nothing beyond. */
    vms_fault fw = expected(k, true), fr = expected(k, false);
    snprintf(what, sizeof what, "copy_to g=%#llx %s big=%d", VT_ULL(g), kind_name[k], big);
    expect_result(vms_copy_to(&sp, start, src, len, &r), &r, VMS_ERR_FAULT, before, b, fw, what);
    cr_expect(eq(u64, digest(host(good_pa), before), digest(src, before)), "%s: data", what);
    if (k != F_UNMAPPED)
        cr_expect(eq(u64, digest(host(bad_pa), after), digest(saved_bad, after)),
                  "%s: faulting page written", what);

    /* copy_from: reads up to the boundary (through a read-only page entirely). */
    memset(dst, 0xcc, sizeof dst);
    snprintf(what, sizeof what, "copy_from g=%#llx %s big=%d", VT_ULL(g), kind_name[k], big);
    if (fr == VMS_FAULT_NONE) {
        expect_result(vms_copy_from(&sp, dst, start, len, &r), &r, VMS_OK, len, 0, fr, what);
        cr_expect(eq(u64, digest(dst, before), digest(src, before)), "%s: data", what);
        cr_expect(eq(u64, digest(dst + before, after), digest(saved_bad, after)), "%s: data",
                  what);
    } else {
        expect_result(vms_copy_from(&sp, dst, start, len, &r), &r, VMS_ERR_FAULT, before, b, fr,
                      what);
        cr_expect(eq(u64, digest(dst, before), digest(src, before)), "%s: data", what);
        for (uint64_t i = before; i < len; i++)
            cr_assert(eq(u8, dst[i], 0xcc), "%s: byte %llu beyond the fault written", what,
                      VT_ULL(i));
    }

    /* fill: as copy_to. */
    snprintf(what, sizeof what, "fill g=%#llx %s big=%d", VT_ULL(g), kind_name[k], big);
    expect_result(vms_fill(&sp, start + 1, 0xa5, len - 1, &r), &r, VMS_ERR_FAULT, before - 1, b,
                  fw, what);
    cr_expect(eq(u8, host(good_pa)[0], src[0]), "%s: byte before the fill", what);
    for (uint64_t i = 1; i < before; i++)
        cr_assert(eq(u8, host(good_pa)[i], 0xa5), "%s: byte %llu", what, VT_ULL(i));
    if (k != F_UNMAPPED)
        cr_expect(eq(u64, digest(host(bad_pa), after), digest(saved_bad, after)),
                  "%s: faulting page written", what);

    /* Starting inside the faulting page: nothing done, fault at the start. */
    snprintf(what, sizeof what, "copy_to at fault g=%#llx %s", VT_ULL(g), kind_name[k]);
    expect_result(vms_copy_to(&sp, b + 9, src, 16, &r), &r, VMS_ERR_FAULT, 0, b + 9, fw, what);

    /* read_val / write_val across the boundary: all or nothing. */
    uint8_t val[64], out[64];
    memset(val, 0x3c, sizeof val);
    memset(out, 0x77, sizeof out);
    uint8_t before_bytes[64];
    memcpy(before_bytes, host(good_pa + before - 20), 20);
    snprintf(what, sizeof what, "write_val g=%#llx %s", VT_ULL(g), kind_name[k]);
    expect_result(vms_write_val(&sp, b - 20, val, 40, &r), &r, VMS_ERR_FAULT, 0, b, fw, what);
    cr_expect(eq(u64, digest(host(good_pa + before - 20), 20), digest(before_bytes, 20)),
              "%s: wrote part of the value", what);
    snprintf(what, sizeof what, "read_val g=%#llx %s", VT_ULL(g), kind_name[k]);
    if (fr == VMS_FAULT_NONE) {
        expect_result(vms_read_val(&sp, b - 20, out, 40, &r), &r, VMS_OK, 40, 0, fr, what);
        cr_expect(eq(u64, digest(out, 20), digest(before_bytes, 20)), "%s: data", what);
        cr_expect(eq(u64, digest(out + 20, 20), digest(saved_bad, 20)), "%s: data", what);
    } else {
        expect_result(vms_read_val(&sp, b - 20, out, 40, &r), &r, VMS_ERR_FAULT, 0, b, fr, what);
        for (int i = 0; i < 64; i++)
            cr_assert(eq(u8, out[i], 0x77), "%s: destination byte %d touched", what, i);
    }
    (void)dst;
}

Test(copy, fault_after_4k_page) {
    for (int k = 0; k < F_KINDS; k++)
        boundary_case((uint64_t)(16 + 2 * k) * G1, K4, (enum fault_kind)k, false);
}

Test(copy, fault_after_2m_page) {
    for (int k = 0; k < F_KINDS; k++)
        boundary_case((uint64_t)(16 + 2 * k) * G1, M2, (enum fault_kind)k, false);
}

Test(copy, fault_after_1g_page) {
    for (int k = 0; k < F_KINDS; k++)
        boundary_case((uint64_t)(16 + 2 * k) * G1, G1, (enum fault_kind)k, false);
}

Test(copy, fault_at_huge_faulting_page) {
    for (int k = 0; k < F_KINDS; k++)
        boundary_case((uint64_t)(16 + 2 * k) * G1, M2, (enum fault_kind)k, true);
}

/* ---- other faults ---- */

Test(copy, frame_outside_provider_memory) {
    /* A user page whose frame the provider does not cover: the walk allows the access, the
     * copy cannot reach the frame. */
    uint64_t va = 0x600000;
    cr_assert(eq(int, vms_space_map(&sp, va, f4k[2], K4, URW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va + K4, 0x1000, K4, URW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, va + 2 * K4, (uint64_t)1 << 45, K4, URW, 0), VMS_OK));
    uint8_t buf[3 * K4];
    memset(buf, 1, sizeof buf);
    vms_copy_result_t r;
    expect_result(vms_copy_from(&sp, buf, va + 100, 2 * K4, &r), &r, VMS_ERR_FAULT, K4 - 100,
                  va + K4, VMS_FAULT_PHYS, "below the arena");
    expect_result(vms_copy_to(&sp, va + 2 * K4 + 8, buf, 8, &r), &r, VMS_ERR_FAULT, 0,
                  va + 2 * K4 + 8, VMS_FAULT_PHYS, "beyond the arena");
    expect_result(vms_read_val(&sp, va + K4 - 4, buf, 8, &r), &r, VMS_ERR_FAULT, 0, va + K4,
                  VMS_FAULT_PHYS, "read_val");
}

Test(copy, top_of_lower_half_is_noncanonical_beyond) {
    uint64_t last = 0x00007ffffffff000ull;
    cr_assert(eq(int, vms_space_map(&sp, last, f4k[3], K4, URW, 0), VMS_OK));
    uint8_t src[32], dst[32];
    for (int i = 0; i < 32; i++) src[i] = (uint8_t)(i * 7 + 1);
    vms_copy_result_t r;
    expect_result(vms_copy_to(&sp, last + K4 - 16, src, 32, &r), &r, VMS_ERR_FAULT, 16,
                  last + K4, VMS_FAULT_NONCANONICAL, "copy_to over the hole");
    cr_expect(eq(int, memcmp(host(f4k[3]) + K4 - 16, src, 16), 0));
    memset(dst, 0, sizeof dst);
    expect_result(vms_copy_from(&sp, dst, last + K4 - 16, 32, &r), &r, VMS_ERR_FAULT, 16,
                  last + K4, VMS_FAULT_NONCANONICAL, "copy_from over the hole");
    cr_expect(eq(int, memcmp(dst, src, 16), 0));
    expect_result(vms_copy_from(&sp, dst, 0xffff000000000000ull, 8, &r), &r, VMS_ERR_FAULT, 0,
                  0xffff000000000000ull, VMS_FAULT_NONCANONICAL, "non-canonical start");
}

Test(copy, supervisor_page_refused_even_when_readable) {
    /* User copies follow user rules: a present, writable kernel page is off limits. */
    cr_assert(eq(int, vms_space_map(&sp, 0x800000, f4k[4], K4, VMS_RWX | VMS_GLOBAL, 0),
                 VMS_OK));
    uint8_t b[8] = {0};
    vms_copy_result_t r;
    expect_result(vms_copy_from(&sp, b, 0x800010, 8, &r), &r, VMS_ERR_FAULT, 0, 0x800010,
                  VMS_FAULT_USER, "kernel page");
    /* Protect to user: now allowed. */
    cr_assert(eq(int, vms_space_protect(&sp, 0x800000, K4, URW), VMS_OK));
    expect_result(vms_copy_from(&sp, b, 0x800010, 8, &r), &r, VMS_OK, 8, 0, VMS_FAULT_NONE,
                  "user page");
    /* Read-only user page: reads fine, writes fault; after protect RW writes work. */
    cr_assert(eq(int, vms_space_protect(&sp, 0x800000, K4, VMS_R | VMS_USER), VMS_OK));
    expect_result(vms_copy_to(&sp, 0x800010, b, 8, &r), &r, VMS_ERR_FAULT, 0, 0x800010,
                  VMS_FAULT_WRITE, "read-only page");
}

Test(copy, values_within_and_across_pages) {
    /* A value across a 4 KiB -> 2 MiB boundary of two good pages. */
    uint64_t base = 2 * G1 + M2 - K4;
    cr_assert(eq(int, vms_space_map(&sp, base, f4k[5], K4, URW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, base + K4, f2m, M2, URW, 0), VMS_OK));
    uint8_t v[64], o[64];
    for (int i = 0; i < 64; i++) v[i] = (uint8_t)(0x80 + i);
    vms_copy_result_t r;
    expect_result(vms_write_val(&sp, base + K4 - 24, v, 64, &r), &r, VMS_OK, 64, 0,
                  VMS_FAULT_NONE, "write_val across");
    cr_expect(eq(int, memcmp(host(f4k[5]) + K4 - 24, v, 24), 0));
    cr_expect(eq(int, memcmp(host(f2m), v + 24, 40), 0));
    memset(o, 0, sizeof o);
    expect_result(vms_read_val(&sp, base + K4 - 24, o, 64, &r), &r, VMS_OK, 64, 0,
                  VMS_FAULT_NONE, "read_val across");
    cr_expect(eq(int, memcmp(o, v, 64), 0));
    uint64_t x = 0x1122334455667788ull, y = 0;
    expect_result(vms_write_val(&sp, base + 8, &x, sizeof x, &r), &r, VMS_OK, 8, 0,
                  VMS_FAULT_NONE, "write_val u64");
    expect_result(vms_read_val(&sp, base + 8, &y, sizeof y, &r), &r, VMS_OK, 8, 0,
                  VMS_FAULT_NONE, "read_val u64");
    cr_expect(eq(u64, y, x));
    /* Over 64 bytes is refused and touches nothing. */
    uint8_t big[65];
    memset(big, 0x42, sizeof big);
    memset(o, 0x11, sizeof o);
    cr_expect(ne(int, vms_write_val(&sp, base, big, 65, &r), VMS_OK));
    cr_expect(ne(int, host(f4k[5])[0], 0x42));
    cr_expect(ne(int, vms_read_val(&sp, base, big, 65, &r), VMS_OK));
    cr_expect(eq(u8, big[0], 0x42));
}

Test(copy, randomized_against_host_memory) {
    /* Random copies over a region of mixed pages with holes; each result is checked against
     * a page-by-page prediction made from vms_translate_access. */
    const uint64_t base = 64 * G1;
    cr_assert(eq(int, vms_space_map(&sp, base, f1g + G1 - 4 * M2, 4 * M2, URW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, base + 4 * M2, f2m, M2, VMS_R | VMS_USER, 0), VMS_OK));
    for (int i = 0; i < 6; i++) {
        vms_prop_t p = i == 2 ? VMS_RW : i == 4 ? 0 : URW;
        if (i == 3) continue; /* a hole */
        cr_assert(eq(int, vms_space_map(&sp, base + 5 * M2 + (uint64_t)i * K4, f4k[i], K4, p, 0),
                     VMS_OK));
    }
    const uint64_t span = 5 * M2 + 7 * K4;
    vt_rng_t rng;
    vt_rng_seed(&rng, vt_seed_from_env(0xc097));
    uint8_t *buf = (uint8_t *)malloc(3 * M2), *chk = (uint8_t *)malloc(3 * M2);
    for (int it = 0; it < 400; it++) {
        uint64_t len = 1 + vt_rng_below(&rng, it % 4 ? 3 * K4 : 2 * M2);
        uint64_t va = base + vt_rng_below(&rng, span - len + 1);
        bool write = vt_rng_below(&rng, 2);
        /* Prediction: walk page by page with the user rules. */
        uint64_t done = 0, fva = 0;
        vms_fault f = VMS_FAULT_NONE;
        while (done < len) {
            vms_access_result_t a;
            uint64_t cur = va + done;
            if (!vms_translate_access(&sp, cur, VMS_ACCESS_USER | (write ? VMS_ACCESS_WRITE : 0),
                                      &a)) {
                f = a.fault;
                fva = cur;
                break;
            }
            uint64_t step = K4 - (cur & (K4 - 1));
            done += step < len - done ? step : len - done;
        }
        vms_copy_result_t r;
        if (write) {
            fill_random(&rng, buf, len);
            int rc = vms_copy_to(&sp, va, buf, len, &r);
            expect_result(rc, &r, f ? VMS_ERR_FAULT : VMS_OK, done, fva, f, "random copy_to");
            /* What was written reads back. */
            if (r.done) {
                cr_assert(eq(int, vms_copy_from(&sp, chk, va, r.done, NULL), VMS_OK));
                cr_assert(eq(u64, digest(chk, r.done), digest(buf, r.done)));
            }
        } else {
            int rc = vms_copy_from(&sp, buf, va, len, &r);
            expect_result(rc, &r, f ? VMS_ERR_FAULT : VMS_OK, done, fva, f, "random copy_from");
            /* Compare with the frames, page by page. */
            for (uint64_t o = 0; o < r.done;) {
                uint64_t pa;
                cr_assert(vms_translate(&sp, va + o, &pa));
                uint64_t step = K4 - ((va + o) & (K4 - 1));
                if (step > r.done - o) step = r.done - o;
                cr_assert(eq(int, memcmp(buf + o, host(pa), step), 0), "byte %llu",
                          VT_ULL(o));
                o += step;
            }
        }
    }
    free(buf);
    free(chk);
}
