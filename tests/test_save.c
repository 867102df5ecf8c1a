/* Save and load: a loaded space enumerates and translates exactly as the saved one; corrupt
 * files give VMS_ERR_FORMAT, missing ones VMS_ERR_IO. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "support/vt_cr.h"

/* ---- temporary files ---- */

static char tmp_path[4][64];
static int ntmp;

static const char *tmp_new(void) {
    cr_assert(lt(int, ntmp, 4));
    char *p = tmp_path[ntmp++];
    const char *dir = getenv("TMPDIR");
    snprintf(p, 64, "%s/vmspace-save-XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(p);
    cr_assert(ge(int, fd, 0), "mkstemp");
    close(fd);
    return p;
}

static void tmp_cleanup(void) {
    for (int i = 0; i < ntmp; i++) unlink(tmp_path[i]);
    ntmp = 0;
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(ne(ptr, f, NULL));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = (uint8_t *)malloc((size_t)sz + 1);
    cr_assert(eq(sz, fread(b, 1, (size_t)sz, f), (size_t)sz));
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_all(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(sz, fwrite(b, 1, n, f), n));
    cr_assert(eq(int, fclose(f), 0));
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- a space with a bit of everything ---- */

static vms_space_t sp;
static uint64_t data_pa;

static void populate(vms_space_t *s, uint64_t seed) {
    vt_rng_t rng;
    vt_rng_seed(&rng, seed);
    /* Data frames with content, mapped as user RW. */
    cr_assert(eq(int, vms_arena_alloc_data(&s->arena, M2 + 4 * K4, M2, &data_pa), VMS_OK));
    uint8_t *h = (uint8_t *)vms_arena_ptr(&s->arena, data_pa);
    for (uint64_t i = 0; i < M2 + 4 * K4; i += 8) {
        uint64_t v = vt_rng_next(&rng);
        memcpy(h + i, &v, 8);
    }
    cr_assert(eq(int, vms_space_map(s, 0x400000, data_pa, M2 + 4 * K4, VMS_RW | VMS_USER, 0),
                 VMS_OK));
    /* Mixed sizes, rights and cache policies, frames anywhere. */
    cr_assert(eq(int, vms_space_map(s, 3 * G1, 9 * G1, 2 * G1 + 3 * M2 + 5 * K4,
                                     VMS_RX | VMS_GLOBAL, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 8 * G1, 0x123000, 7 * K4, 0, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(s, 9 * G1, 0xfe000000, 2 * M2, VMS_RW | VMS_CACHE_UC, 0),
                 VMS_OK));
    uint64_t hi = s->levels == 5 ? 0xff00000000000000ull : 0xffff800000000000ull;
    cr_assert(eq(int, vms_space_map(s, hi, 0x200000, G1, VMS_RWX | VMS_CACHE_WC, 0), VMS_OK));
    for (int i = 0; i < 40; i++) {
        uint64_t va = 0x10000000000ull + vt_rng_below(&rng, 1u << 20) * K4;
        (void)vms_space_map(s, va, vt_rng_below(&rng, 1u << 20) * K4, K4, /* may collide */
                      VMS_R | (vt_rng_below(&rng, 2) ? VMS_W : 0) | VMS_SW1, 0);
    }
    /* Split and unmap some, so the free list is not empty. */
    cr_assert(eq(int, vms_space_unmap(s, 3 * G1 + 5 * M2, 3 * K4), VMS_OK));
    cr_assert(eq(int, vms_space_protect(s, 4 * G1 + 7 * M2, M2 + K4, VMS_R), VMS_OK));
}

static void init_space(vms_space_t *s, int levels) {
    cr_assert(eq(int, vt_space_init(s, levels, 64 << 20), VMS_OK));
}

static void teardown(void) { tmp_cleanup(); }

TestSuite(save, .fini = teardown);

/* The loaded space equals the saved one: levels, root, enumeration, stats, translations and
 * the bytes of the data frames. */
static void expect_same(const vms_space_t *a, const vms_space_t *b) {
    cr_expect(eq(int, b->levels, a->levels));
    cr_expect(eq(u64, b->root_pa, a->root_pa));
    size_t na, nb;
    vms_mapping_t *ea = vt_enumerate(a, &na), *eb = vt_enumerate(b, &nb);
    cr_assert(eq(sz, nb, na));
    /* Field by field: the struct has padding that no copy is obliged to preserve. */
    for (size_t i = 0; i < na; i++) {
        cr_expect(eq(u64, eb[i].va, ea[i].va), "mapping %zu va", i);
        cr_expect(eq(u64, eb[i].pa, ea[i].pa), "mapping %zu pa", i);
        cr_expect(eq(u64, eb[i].size, ea[i].size), "mapping %zu size", i);
        cr_expect(eq(u32, eb[i].prop, ea[i].prop), "mapping %zu prop", i);
    }
    cr_expect(eq(u64, vt_digest_mappings(b), vt_digest_mappings(a)));
    vms_stats_t sa = vt_stats(a), sb = vt_stats(b);
    cr_expect(eq(u64, sb.table_pages, sa.table_pages));
    for (int i = 0; i < 3; i++) cr_expect(eq(u64, sb.mapped_bytes[i], sa.mapped_bytes[i]));
    cr_expect(eq(u64, vt_digest(b), vt_digest(a)), "table pages differ");
    /* Translations at every mapping's edges and inside. */
    for (size_t i = 0; i < na; i++) {
        uint64_t probe[3] = {ea[i].va, ea[i].va + ea[i].size / 2 + 8, ea[i].va + ea[i].size - 1};
        for (int k = 0; k < 3; k++) {
            uint64_t pa1 = 0, pa2 = 0;
            bool t1 = vms_translate(a, probe[k], &pa1), t2 = vms_translate(b, probe[k], &pa2);
            cr_assert(eq(int, t2, t1));
            cr_assert(eq(u64, pa2, pa1));
        }
    }
    free(ea);
    free(eb);
    /* The data frames came along. */
    size_t n = M2 + 4 * K4;
    uint8_t *da = (uint8_t *)malloc(n), *db = (uint8_t *)malloc(n);
    vms_copy_result_t r;
    cr_assert(eq(int, vms_copy_from(a, da, 0x400000, n, &r), VMS_OK));
    cr_assert(eq(int, vms_copy_from(b, db, 0x400000, n, &r), VMS_OK));
    cr_expect(eq(u64, XXH3_64bits(db, n), XXH3_64bits(da, n)));
    free(da);
    free(db);
}

static void roundtrip(int levels) {
    init_space(&sp, levels);
    populate(&sp, 0x5a1e + (uint64_t)levels);
    const char *path = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, path), VMS_OK));
    vms_space_t ld;
    cr_assert(eq(int, vms_space_load(&ld, path), VMS_OK));
    expect_same(&sp, &ld);
    vt_expect_wellformed(&ld);
    /* The loaded space is a working space: its arena allocates, its tables change. */
    cr_assert(eq(int, vms_space_map(&ld, 0x7000000000ull, 0x5000, 9 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&ld, 0x10000000000ull, 1ull << 32), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&ld, 3 * G1, 4 * G1), VMS_OK));
    vt_expect_wellformed(&ld);
    vt_expect_page(&ld, 0x7000003000ull, 0x7000003000ull, 0x8000, K4, VMS_RW);
    uint64_t d;
    cr_assert(eq(int, vms_arena_alloc_data(&ld.arena, K4, K4, &d), VMS_OK));
    /* A frame no saved data or live table uses (one the unmaps freed, or a fresh one): the
     * tables stay whole when it is overwritten. */
    cr_expect(d < data_pa || d >= data_pa + M2 + 4 * K4, "the loaded arena hands out saved data");
    memset(vms_arena_ptr(&ld.arena, d), 0xff, K4);
    vt_expect_wellformed(&ld);
    /* The original is untouched by all that. */
    vt_expect_page(&sp, 3 * G1 + 100 * M2 + K4, 3 * G1 + 100 * M2, 9 * G1 + 100 * M2, M2,
                   VMS_RX | VMS_GLOBAL);
    cr_expect(eq(int, vms_space_destroy(&ld), VMS_OK));
    cr_expect(eq(int, vms_space_destroy(&sp), VMS_OK));
}

Test(save, roundtrip_4_levels) { roundtrip(4); }
Test(save, roundtrip_5_levels) { roundtrip(5); }

Test(save, roundtrip_empty_space) {
    init_space(&sp, 4);
    const char *path = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, path), VMS_OK));
    vms_space_t ld;
    cr_assert(eq(int, vms_space_load(&ld, path), VMS_OK));
    cr_expect(eq(sz, vt_count_mappings(&ld), 0));
    cr_expect(eq(u64, vt_table_pages(&ld), 1));
    cr_expect(eq(u64, ld.root_pa, sp.root_pa));
    vms_space_destroy(&ld);
    vms_space_destroy(&sp);
}

/* vms_space_save_mem writes the bytes vms_space_save writes, or nothing when they don't fit. */
Test(save, to_memory_as_to_a_file) {
    init_space(&sp, 5);
    populate(&sp, 0x3e3);
    const char *path = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, path), VMS_OK));
    size_t nfile, need = 0, len = 0;
    uint8_t *file = read_all(path, &nfile);
    cr_assert(eq(int, vms_space_save_mem(&sp, NULL, 0, &need), VMS_ERR_SMALL));
    cr_assert(eq(sz, need, nfile));
    uint8_t *buf = (uint8_t *)malloc(need + 1);
    memset(buf, 0xa5, need + 1);
    cr_assert(eq(int, vms_space_save_mem(&sp, buf, need - 1, &len), VMS_ERR_SMALL));
    cr_expect(eq(sz, len, need));
    for (size_t i = 0; i < need + 1; i++)
        if (buf[i] != 0xa5) cr_assert(false, "a save that did not fit wrote byte %zu", i);
    cr_assert(eq(int, vms_space_save_mem(&sp, buf, need + 1, &len), VMS_OK));
    cr_assert(eq(sz, len, need));
    cr_expect(eq(int, memcmp(buf, file, need), 0), "memory and file images differ");
    cr_expect(eq(u8, buf[need], 0xa5), "wrote past the image");
    vms_space_t ld;
    cr_assert(eq(int, vms_space_load_mem(&ld, buf, len), VMS_OK));
    expect_same(&sp, &ld);
    cr_expect(eq(int, vms_space_save_mem(&ld, NULL, 0, NULL), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_save_mem(NULL, buf, need, &len), VMS_ERR_ARG));
    vms_space_destroy(&ld);
    vms_space_destroy(&sp);
    free(buf);
    free(file);
}

Test(save, header_as_documented) {
    init_space(&sp, 5);
    populate(&sp, 1);
    const char *path = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, path), VMS_OK));
    size_t n;
    uint8_t *b = read_all(path, &n);
    cr_assert(ge(sz, n, 64));
    cr_expect(eq(int, memcmp(b, VMS_SAVE_MAGIC, 8), 0));
    cr_expect(eq(int, memcmp(b, "VMSPACE1", 8), 0));
    cr_expect(eq(u32, rd32(b + 8), 1), "version");
    cr_expect(eq(u32, rd32(b + 12), 5), "levels");
    cr_expect(eq(u64, rd64(b + 16), sp.root_pa));
    cr_expect(eq(u64, rd64(b + 24), sp.arena.phys_base));
    uint64_t len = rd64(b + 32);
    cr_expect(eq(u64, n, 64 + len), "file = header + image");
    cr_expect(lt(u64, sp.root_pa - sp.arena.phys_base, len), "root inside the image");
    cr_expect(eq(u64, rd64(b + 48), sp.arena.frames_in_use));
    /* The image holds the root table at root_pa - phys_base. */
    const uint64_t *root = vms_space_table(&sp, sp.root_pa);
    cr_expect(eq(int, memcmp(b + 64 + (sp.root_pa - sp.arena.phys_base), root, K4), 0));
    /* The image holds the data frames at their physical offsets. */
    cr_expect(eq(int, memcmp(b + 64 + (data_pa - sp.arena.phys_base),
                             vms_arena_ptr(&sp.arena, data_pa), M2), 0));
    cr_expect(eq(u64, rd64(b + 40), sp.arena.free_head));
    cr_expect(eq(u64, rd64(b + 56), sp.arena.size), "arena size");
    cr_expect(le(u64, len, sp.arena.size));
    free(b);
    vms_space_destroy(&sp);
}

Test(save, arena_size_must_agree_with_the_image) {
    /* The header's arena size fixes the extent of the metadata array at the start of the
     * image. A larger one would put the saved tables inside the metadata: refused. */
    init_space(&sp, 4);
    populate(&sp, 2);
    const char *path = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, path), VMS_OK));
    size_t n;
    uint8_t *b = read_all(path, &n);
    wr64(b + 56, rd64(b + 56) + 64 * M2);
    write_all(path, b, n);
    free(b);
    vms_space_t ld;
    int rc = vms_space_load(&ld, path);
    cr_expect(eq(int, rc, VMS_ERR_FORMAT), "load: %s", vms_err_name(rc));
    if (rc == VMS_OK) vms_space_destroy(&ld);
    vms_space_destroy(&sp);
}

/* ---- corrupt and missing files ---- */

typedef void (*corrupt_fn)(uint8_t *b, size_t *n);

static void c_magic(uint8_t *b, size_t *n) { (void)n; b[3] ^= 0x20; }
static void c_magic_v2(uint8_t *b, size_t *n) { (void)n; b[7] = '2'; }
static void c_version(uint8_t *b, size_t *n) { (void)n; b[8] = 2; }
static void c_version_hi(uint8_t *b, size_t *n) { (void)n; b[11] = 1; }
static void c_levels3(uint8_t *b, size_t *n) { (void)n; b[12] = 3; }
static void c_levels0(uint8_t *b, size_t *n) { (void)n; b[12] = 0; }
static void c_root_beyond(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 16, rd64(b + 24) + rd64(b + 32));
}
static void c_root_far(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 16, rd64(b + 24) + ((uint64_t)1 << 40));
}
static void c_root_below(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 16, rd64(b + 24) - K4);
}
static void c_trunc_header(uint8_t *b, size_t *n) { (void)b; *n = 40; }
static void c_trunc_image(uint8_t *b, size_t *n) { (void)b; *n -= K4; }
static void c_trunc_one(uint8_t *b, size_t *n) { (void)b; *n -= 1; }
static void c_empty(uint8_t *b, size_t *n) { (void)b; *n = 0; }
static void c_length_huge(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 32, (uint64_t)1 << 60);
}
static void c_arena_small(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 56, rd64(b + 32) - M2); /* arena smaller than its own image */
}
static void c_arena_zero(uint8_t *b, size_t *n) {
    (void)n;
    wr64(b + 56, 0);
}
static void c_table_outside(uint8_t *b, size_t *n) {
    /* The root's first used entry points to a table beyond the image. */
    (void)n;
    uint64_t root = rd64(b + 16), base = rd64(b + 24), len = rd64(b + 32);
    uint8_t *t = b + 64 + (root - base);
    for (int i = 0; i < 512; i++) {
        uint64_t e = rd64(t + 8 * i);
        if (e & 1) {
            wr64(t + 8 * i, (e & ~VT_ADDR_BITS) | ((base + len + 16 * K4) & VT_ADDR_BITS));
            return;
        }
    }
    cr_assert(eq(int, 0, 1), "root has no entry");
}

static const struct {
    const char *name;
    corrupt_fn fn;
} corruptions[] = {
    {"bad magic", c_magic},
    {"other magic", c_magic_v2},
    {"version 2", c_version},
    {"version 2^24+1", c_version_hi},
    {"levels 3", c_levels3},
    {"levels 0", c_levels0},
    {"root at image end", c_root_beyond},
    {"root far beyond", c_root_far},
    {"root below phys_base", c_root_below},
    {"truncated header", c_trunc_header},
    {"truncated image", c_trunc_image},
    {"one byte short", c_trunc_one},
    {"empty file", c_empty},
    {"length beyond the file", c_length_huge},
    {"arena smaller than the image", c_arena_small},
    {"arena size zero", c_arena_zero},
    {"table outside the image", c_table_outside},
};

Test(save, corrupt_files) {
    init_space(&sp, 4);
    populate(&sp, 3);
    const char *good = tmp_new(), *bad = tmp_new();
    cr_assert(eq(int, vms_space_save(&sp, good), VMS_OK));
    size_t n0;
    uint8_t *orig = read_all(good, &n0);
    for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
        uint8_t *b = (uint8_t *)malloc(n0);
        memcpy(b, orig, n0);
        size_t n = n0;
        corruptions[i].fn(b, &n);
        write_all(bad, b, n);
        free(b);
        vms_space_t ld;
        cr_log_info("corruption: %s", corruptions[i].name);
        int rc = vms_space_load(&ld, bad);
        cr_expect(eq(int, rc, VMS_ERR_FORMAT), "%s: %s", corruptions[i].name, vms_err_name(rc));
        if (rc == VMS_OK) vms_space_destroy(&ld);
    }
    /* The untouched file still loads. */
    write_all(bad, orig, n0);
    vms_space_t ld;
    cr_assert(eq(int, vms_space_load(&ld, bad), VMS_OK));
    vms_space_destroy(&ld);
    free(orig);
    vms_space_destroy(&sp);
}

Test(save, missing_file_and_unwritable_path) {
    vms_space_t ld;
    const char *p = tmp_new();
    unlink(p);
    cr_expect(eq(int, vms_space_load(&ld, p), VMS_ERR_IO));
    init_space(&sp, 4);
    char bad[128];
    snprintf(bad, sizeof bad, "%s.missing-dir/x", p);
    cr_expect(eq(int, vms_space_save(&sp, bad), VMS_ERR_IO));
    vms_space_destroy(&sp);
}

Test(save, needs_an_arena_space) {
    vt_fprov_t fp;
    cr_assert(eq(int, vt_fprov_init(&fp, 16 << 20), VMS_OK));
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.provider = &fp.prov;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    const char *p = tmp_new();
    cr_expect(eq(int, vms_space_save(&sp, p), VMS_ERR_ARG));
    vms_space_destroy(&sp);
    vt_fprov_destroy(&fp);
}
