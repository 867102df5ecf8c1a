/* Untrusted input and stale state, one suite per class of hole:
 *   image   a saved image is hostile: every forged field is refused or recomputed
 *   arena   the arena on the caller's memory touches those bytes and no others
 *   swtlb   a software TLB never answers from an earlier life of the struct it is bound to
 *   cursor  a cursor kept open across an operation that freed its tables re-walks
 *   dump    the listing of a run that ends at 2^64
 * Images are built through the public API, saved, edited byte by byte and loaded again. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/vt_cr.h"

/* ---- images in memory ---- */

typedef struct img_s {
    uint8_t *b;
    size_t n;
} img_t;

static char tmp_file[64];

static void tmp_init(void) {
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_file, sizeof tmp_file, "%s/vmspace-untrusted-XXXXXX",
             dir && strlen(dir) < 36 ? dir : "/tmp");
    int fd = mkstemp(tmp_file);
    cr_assert(ge(int, fd, 0), "mkstemp");
    close(fd);
}
static void tmp_fini(void) { unlink(tmp_file); }
TestSuite(image, .init = tmp_init, .fini = tmp_fini);
TestSuite(swtlb_life, .init = tmp_init, .fini = tmp_fini);

static uint64_t rd64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static img_t img_save(const vms_space_t *s) {
    img_t im;
    cr_assert(eq(int, vms_space_save(s, tmp_file), VMS_OK));
    FILE *f = fopen(tmp_file, "rb");
    cr_assert(ne(ptr, f, NULL));
    fseek(f, 0, SEEK_END);
    im.n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    im.b = (uint8_t *)malloc(im.n);
    cr_assert(eq(sz, fread(im.b, 1, im.n, f), im.n));
    fclose(f);
    return im;
}

/* Load through the file (the path every user and tools/vmspace-dump take). */
static int img_load(const img_t *im, vms_space_t *ld) {
    FILE *f = fopen(tmp_file, "wb");
    cr_assert(ne(ptr, f, NULL));
    cr_assert(eq(sz, fwrite(im->b, 1, im->n, f), im->n));
    cr_assert(eq(int, fclose(f), 0));
    return vms_space_load(ld, tmp_file);
}

#define H_ROOT 16
#define H_BASE 24
#define H_LEN 32
#define H_FREE 40
#define H_INUSE 48
#define H_SIZE 56

static uint64_t hdr(const img_t *im, int off) { return rd64(im->b + off); }
/* Entry i of the table at physical address pa in the image. */
static uint8_t *ent(const img_t *im, uint64_t pa, unsigned i) {
    uint64_t off = pa - hdr(im, H_BASE);
    cr_assert(lt(u64, off + 8 * i, hdr(im, H_LEN)), "entry outside the image");
    return im->b + 64 + off + 8 * i;
}
/* The table at `level` on the walk of va (its physical address), walking the image. */
static uint64_t table_of(const img_t *im, int levels, uint64_t va, int level) {
    uint64_t pa = hdr(im, H_ROOT);
    for (int l = levels; l > level; l--) {
        uint64_t e = rd64(ent(im, pa, vt_index(va, l)));
        cr_assert(vt_used(e), "no table at level %d for %#llx", l - 1, VT_ULL(va));
        pa = e & VT_ADDR_BITS;
    }
    return pa;
}
/* Metadata slot byte k (0-1 children, 2 level) of the frame at pa, in the image. */
static uint8_t *meta_byte(const img_t *im, uint64_t pa, int k) {
    return im->b + 64 + ((pa - hdr(im, H_BASE)) >> 12) * 8 + k;
}

/* A small space with a bit of everything: 4 KiB, 2 MiB and 1 GiB leaves, a no-access page, a
 * free list. A 2 MiB arena keeps the metadata to one frame and the image small. */
static vms_space_t sp;
#define VA_A 0x40000000ull /* two 4 KiB pages in one leaf table */
#define VA_NONE 0x40005000ull
#define VA_2M 0x80000000ull
#define VA_1G 0x8000000000ull

static uint64_t arena_size = 2 << 20;

static void build(int levels, unsigned phys_bits) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = levels;
    d.arena.size = arena_size;
    d.phys_bits = phys_bits;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, VA_A, 0x111000, 2 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, VA_NONE, 0x222000, K4, 0, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, VA_2M, 0x400000, M2, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, VA_1G, G1, G1, VMS_RX, 0), VMS_OK));
    /* Map and unmap elsewhere: its tables go to the free list. */
    cr_assert(eq(int, vms_space_map(&sp, 0x7000000000ull, 0x5000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x7000000000ull, K4), VMS_OK));
    cr_assert(ne(u64, sp.arena.free_head, 0));
}

static img_t built(int levels) {
    build(levels, 0);
    img_t im = img_save(&sp);
    vms_space_destroy(&sp);
    return im;
}

/* Load must refuse the image with VMS_ERR_FORMAT and leave nothing allocated (LeakSanitizer
 * and valgrind see the rest). */
static void expect_refused(img_t *im, const char *what) {
    vms_space_t ld;
    int rc = img_load(im, &ld);
    cr_expect(eq(int, rc, VMS_ERR_FORMAT), "%s: %s", what, vms_err_name(rc));
    if (rc == VMS_OK) vms_space_destroy(&ld);
    rc = vms_space_load_mem(&ld, im->b, im->n);
    cr_expect(eq(int, rc, VMS_ERR_FORMAT), "%s (from memory): %s", what, vms_err_name(rc));
    if (rc == VMS_OK) vms_space_destroy(&ld);
    free(im->b);
}

Test(image, untouched_image_loads_and_checks) {
    for (int levels = 4; levels <= 5; levels++) {
        img_t im = built(levels);
        vms_space_t ld;
        cr_assert(eq(int, img_load(&im, &ld), VMS_OK));
        vt_expect_page(&ld, VA_A + K4, VA_A + K4, 0x112000, K4, VMS_RW);
        vt_expect_page(&ld, VA_1G + 5, VA_1G, G1, G1, VMS_RX);
#ifdef VMSPACE_DEBUG
        cr_expect(eq(ptr, (void *)vms_space_check(&ld), NULL));
#endif
        vt_expect_wellformed(&ld);
        vms_space_destroy(&ld);
        cr_assert(eq(int, vms_space_load_mem(&ld, im.b, im.n), VMS_OK));
        vt_expect_page(&ld, VA_2M + K4, VA_2M, 0x400000, M2, VMS_R);
        vms_space_destroy(&ld);
        free(im.b);
    }
}

/* -- the free list -- */

Test(image, free_link_outside_the_image) {
    img_t im = built(4);
    uint64_t head = hdr(&im, H_FREE);
    wr64(ent(&im, head, 0), hdr(&im, H_BASE) + hdr(&im, H_LEN) + 64 * K4);
    expect_refused(&im, "a free frame links past the image");
}

Test(image, free_link_into_the_metadata) {
    img_t im = built(4);
    wr64(ent(&im, hdr(&im, H_FREE), 0), hdr(&im, H_BASE));
    expect_refused(&im, "a free frame links to the metadata");
}

Test(image, free_head_misaligned) {
    img_t im = built(4);
    wr64(im.b + H_FREE, hdr(&im, H_FREE) + 8);
    expect_refused(&im, "free head not 4 KiB aligned");
}

Test(image, free_list_cycle) {
    img_t im = built(4);
    uint64_t head = hdr(&im, H_FREE);
    wr64(ent(&im, head, 0), head);
    expect_refused(&im, "a free frame links to itself");
}

Test(image, free_frame_is_a_table) {
    img_t im = built(4);
    wr64(im.b + H_FREE, table_of(&im, 4, VA_A, 1));
    expect_refused(&im, "the free list holds a live table");
}

/* -- where tables may be -- */

/* A 4 MiB arena has two metadata frames, the second all zero slots: a table copied there
 * reads as a valid one, so only its place gives it away. */
static void table_into_second_meta_frame(img_t *im, uint64_t table) {
    uint64_t meta2 = hdr(im, H_BASE) + K4;
    memcpy(ent(im, meta2, 0), ent(im, table, 0), K4);
}

Test(image, table_on_the_metadata) {
    arena_size = 4 << 20;
    img_t im = built(4);
    uint64_t pdpt = table_of(&im, 4, VA_A, 3);
    table_into_second_meta_frame(&im, pdpt);
    uint8_t *e = ent(&im, hdr(&im, H_ROOT), vt_index(VA_A, 4));
    wr64(e, (rd64(e) & ~VT_ADDR_BITS) | (hdr(&im, H_BASE) + K4));
    expect_refused(&im, "a table on the metadata frame");
}

Test(image, image_shorter_than_its_metadata) {
    img_t im = built(4);
    /* An arena of 2^33 bytes has 16 MiB of metadata: more than the whole image. */
    wr64(im.b + H_SIZE, (uint64_t)1 << 33);
    expect_refused(&im, "metadata longer than the image");
}

Test(image, arena_far_larger_than_the_file) {
    img_t im = built(4);
    wr64(im.b + H_SIZE, (uint64_t)1 << 46);
    expect_refused(&im, "2^46-byte arena in a small file");
}

Test(image, table_under_two_parents) {
    img_t im = built(4);
    uint64_t pd = table_of(&im, 4, VA_A, 2);
    /* The PD of VA_A also hangs under another PDPT slot. */
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 3), vt_index(VA_A, 3) + 7);
    cr_assert(eq(u64, rd64(e), 0));
    wr64(e, pd | 7);
    expect_refused(&im, "one table under two parents");
}

Test(image, table_cycle) {
    img_t im = built(4);
    /* A directory entry (a table pointer at level 2) back to the root. At level 1 the same
     * entry would be a 4 KiB leaf that maps the root's frame, which is allowed. */
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 2), 100);
    wr64(e, hdr(&im, H_ROOT) | 7);
    expect_refused(&im, "a directory points back at the root");
}

Test(image, table_on_a_free_frame_is_fine_only_off_the_list) {
    /* A table whose frame the free list also holds: the arena would hand it out again. */
    img_t im = built(4);
    uint64_t head = hdr(&im, H_FREE);
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 3), vt_index(VA_A, 3) + 9);
    uint8_t *pt = ent(&im, head, 0);
    memset(pt, 0, K4);
    wr64(pt, 0x333000 | 1); /* a valid leaf table on the frame */
    *meta_byte(&im, head, 2) = 2;
    wr64(e, head | 7);
    /* The frame is then both a table and the head of the free list. */
    expect_refused(&im, "a table on the free list's head");
}

/* -- child counts and counters come from the tables, not the file -- */

Test(image, forged_child_count_is_recomputed) {
    img_t im = built(4);
    uint64_t pt = table_of(&im, 4, VA_A, 1);
    /* The leaf table holds three used entries (two pages and the no-access one); say one. */
    meta_byte(&im, pt, 0)[0] = 1;
    meta_byte(&im, pt, 0)[1] = 0;
    vms_space_t ld;
    cr_assert(eq(int, img_load(&im, &ld), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&ld, VA_A, K4), VMS_OK));
    /* The neighbours must survive the unmap. */
    vt_expect_page(&ld, VA_A + K4, VA_A + K4, 0x112000, K4, VMS_RW);
    vt_expect_page(&ld, VA_NONE, VA_NONE, 0x222000, K4, 0);
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&ld), NULL));
#endif
    vms_space_destroy(&ld);
    free(im.b);
}

Test(image, frames_in_use_beyond_the_image) {
    img_t im = built(4);
    wr64(im.b + H_INUSE, hdr(&im, H_LEN));
    expect_refused(&im, "more frames in use than the image holds");
}

Test(image, frames_in_use_recounted) {
    img_t im = built(4);
    wr64(im.b + H_INUSE, 0);
    vms_space_t ld;
    cr_assert(eq(int, img_load(&im, &ld), VMS_OK));
    cr_expect(eq(u64, ld.arena.frames_in_use, vt_count_tables(&ld)));
    vms_space_destroy(&ld);
    free(im.b);
}

/* -- entries the hardware or the library would never have -- */

Test(image, page_size_bit_at_the_top_level) {
    img_t im = built(4);
    uint8_t *e = ent(&im, hdr(&im, H_ROOT), vt_index(VA_A, 4));
    wr64(e, rd64(e) | VT_BIT(7));
    expect_refused(&im, "PS in a PML4 entry");
}

Test(image, page_size_bit_at_the_top_of_five_levels) {
    img_t im = built(5);
    uint8_t *e = ent(&im, hdr(&im, H_ROOT), 0);
    wr64(e, rd64(e) | VT_BIT(7));
    expect_refused(&im, "PS in a PML5 entry");
}

Test(image, noaccess_mark_on_a_table_entry) {
    /* P clear with the no-access mark on a directory entry without PS: query would walk it
     * as a table, translate would stop. */
    img_t im = built(4);
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 2), vt_index(VA_A, 2));
    wr64(e, (rd64(e) & ~VT_BIT(0)) | VT_BIT(10));
    expect_refused(&im, "no-access mark on a table entry");
}

Test(image, present_and_noaccess) {
    img_t im = built(4);
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 1), vt_index(VA_A, 1));
    wr64(e, rd64(e) | VT_BIT(10));
    expect_refused(&im, "P and the no-access mark together");
}

Test(image, garbage_in_an_unused_entry) {
    img_t im = built(4);
    wr64(ent(&im, table_of(&im, 4, VA_A, 1), 300), 0x5000);
    expect_refused(&im, "bits in an unused entry");
}

Test(image, reserved_high_bits_in_a_leaf) {
    img_t im = built(4);
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 1), vt_index(VA_A, 1));
    wr64(e, rd64(e) | VT_BIT(56));
    expect_refused(&im, "bit 56 in a leaf");
}

Test(image, misaligned_huge_leaf) {
    img_t im = built(4);
    uint8_t *e = ent(&im, table_of(&im, 4, VA_2M, 2), vt_index(VA_2M, 2));
    wr64(e, rd64(e) | VT_BIT(13));
    expect_refused(&im, "a 2 MiB leaf with bit 13 set");
}

Test(image, table_entry_with_xd) {
    img_t im = built(4);
    uint8_t *e = ent(&im, hdr(&im, H_ROOT), vt_index(VA_A, 4));
    wr64(e, rd64(e) | VT_BIT(63));
    expect_refused(&im, "XD on a table entry");
}

Test(image, empty_table) {
    img_t im = built(4);
    uint64_t pt = table_of(&im, 4, VA_A, 1);
    memset(ent(&im, pt, 0), 0, K4);
    expect_refused(&im, "an empty leaf table");
}

Test(image, address_beyond_the_physical_width) {
    build(4, 40);
    img_t im = img_save(&sp);
    vms_space_destroy(&sp);
    {
        vms_space_t ld;
        cr_assert(eq(int, img_load(&im, &ld), VMS_OK), "the width is saved and loads");
        cr_expect(eq(int, vms_space_map(&ld, 0x10000000, (uint64_t)1 << 40, K4, VMS_R, 0),
                     VMS_ERR_PHYS));
        vms_space_destroy(&ld);
    }
    uint8_t *e = ent(&im, table_of(&im, 4, VA_A, 1), vt_index(VA_A, 1));
    wr64(e, rd64(e) | VT_BIT(45));
    expect_refused(&im, "bit 45 in a leaf of a 40-bit space");
}

Test(image, width_out_of_range) {
    img_t im = built(4);
    im.b[13] = 53;
    expect_refused(&im, "a 53-bit physical width");
}

/* -- the header against the tables -- */

Test(image, five_levels_marked_four) {
    img_t im = built(5);
    im.b[12] = 4;
    expect_refused(&im, "a 5-level image marked 4");
}

Test(image, four_levels_marked_five) {
    img_t im = built(4);
    im.b[12] = 5;
    expect_refused(&im, "a 4-level image marked 5");
}

Test(image, length_disagrees_with_the_file) {
    img_t im = built(4);
    wr64(im.b + H_LEN, hdr(&im, H_LEN) - K4);
    expect_refused(&im, "a length shorter than the file");
}

Test(image, phys_base_zero) {
    /* An arena never starts at physical 0 (0 asks for the default base): such a header would
     * make the loader read the image where it is not. */
    img_t im = built(4);
    wr64(im.b + H_BASE, 0);
    wr64(im.b + H_ROOT, hdr(&im, H_ROOT) - (16 << 20));
    expect_refused(&im, "phys_base 0");
}

Test(image, root_on_the_metadata) {
    arena_size = 4 << 20;
    img_t im = built(4);
    table_into_second_meta_frame(&im, hdr(&im, H_ROOT));
    wr64(im.b + H_ROOT, hdr(&im, H_BASE) + K4);
    expect_refused(&im, "root on the metadata frame");
}

Test(image, levels_word_high_bytes) {
    img_t im = built(4);
    im.b[15] = 1;
    expect_refused(&im, "bytes 14..15 not zero");
}

Test(image, load_mem_arguments) {
    vms_space_t ld;
    uint8_t b[16] = {0};
    cr_expect(eq(int, vms_space_load_mem(&ld, NULL, 100), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_load_mem(NULL, b, sizeof b), VMS_ERR_ARG));
    cr_expect(eq(int, vms_space_load_mem(&ld, b, sizeof b), VMS_ERR_FORMAT));
}

/* ---- the arena on the caller's memory ---- */

/* A heap buffer of exactly `size` bytes, page aligned, followed by a guard the arena must not
 * touch (AddressSanitizer also sees a write past the buffer). */
static uint8_t *guarded(uint64_t size, uint64_t guard) {
    uint8_t *m = (uint8_t *)aligned_alloc(4096, (size_t)(size + guard));
    cr_assert(ne(ptr, m, NULL));
    memset(m, 0xa5, (size_t)(size + guard));
    return m;
}

static void expect_guard(const uint8_t *m, uint64_t size, uint64_t guard) {
    for (uint64_t i = 0; i < guard; i++)
        if (m[size + i] != 0xa5) {
            cr_expect(eq(u64, i, guard), "byte %llu past the buffer was written", VT_ULL(i));
            return;
        }
}

Test(arena_memory, odd_size_is_used_exactly) {
    const uint64_t size = 3 * M2 + 5 * K4, guard = 2 * M2;
    uint8_t *m = guarded(size, guard);
    vms_arena_desc_t ad = {size, 0, m};
    vms_arena_t a;
    cr_assert(eq(int, vms_arena_init(&a, &ad), VMS_OK));
    cr_expect(eq(u64, a.size, size));
    vms_provider_t p = vms_arena_provider(&a);
    uint64_t pa, frames = 0;
    while (p.alloc_frame(p.user, &pa, true) == VMS_OK) {
        cr_expect(lt(u64, pa + K4 - a.phys_base, size + 1));
        frames++;
    }
    /* Every frame past the metadata, and not one more. */
    cr_expect(eq(u64, frames, (size - vms_arena_meta_bytes(size)) / K4));
    expect_guard(m, size, guard);
    vms_arena_destroy(&a);
    free(m);
}

Test(arena_memory, data_frames_stay_inside) {
    const uint64_t size = 2 * M2 + 3 * K4, guard = 2 * M2;
    uint8_t *m = guarded(size, guard);
    vms_arena_desc_t ad = {size, 0, m};
    vms_arena_t a;
    uint64_t pa;
    cr_assert(eq(int, vms_arena_init(&a, &ad), VMS_OK));
    /* 2 MiB aligned data: only one such block fits below the end of the caller's bytes. */
    cr_expect(eq(int, vms_arena_alloc_data(&a, M2, M2, &pa), VMS_OK));
    cr_expect(eq(int, vms_arena_alloc_data(&a, M2, M2, &pa), VMS_ERR_NOMEM));
    cr_expect(eq(int, vms_arena_alloc_data(&a, 4 * K4, K4, &pa), VMS_ERR_NOMEM));
    cr_expect(eq(int, vms_arena_alloc_data(&a, 3 * K4, K4, &pa), VMS_OK));
    cr_expect(eq(u64, pa + 3 * K4, a.phys_base + size));
    expect_guard(m, size, guard);
    vms_arena_destroy(&a);
    free(m);
}

Test(arena_memory, a_space_on_a_small_buffer) {
    const uint64_t size = 64 * K4, guard = 2 * M2;
    uint8_t *m = guarded(size, guard);
    vms_arena_desc_t ad = {size, 0, m};
    vms_arena_t a;
    cr_assert(eq(int, vms_arena_init(&a, &ad), VMS_OK));
    vms_provider_t p = vms_arena_provider(&a);
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.provider = &p;
    cr_assert(eq(int, vms_space_init(&sp, &d), VMS_OK));
    /* Map until the frames run out: each failure is clean, and nothing leaks past. */
    int rc = VMS_OK;
    uint64_t va = 0;
    for (int i = 0; i < 200 && rc == VMS_OK; i++, va += G1)
        rc = vms_space_map(&sp, va, 0, K4, VMS_R, 0);
    cr_expect(eq(int, rc, VMS_ERR_NOMEM));
    expect_guard(m, size, guard);
    vms_space_destroy(&sp);
    vms_arena_destroy(&a);
    free(m);
}

Test(arena_memory, size_errors) {
    static uint8_t mem[8 * 4096] __attribute__((aligned(4096)));
    vms_arena_t a;
    vms_arena_desc_t ad = {sizeof mem - 100, 0, mem};
    cr_expect(eq(int, vms_arena_init(&a, &ad), VMS_ERR_ALIGN), "size not a multiple of 4 KiB");
    ad.size = 0;
    cr_expect(eq(int, vms_arena_init(&a, &ad), VMS_ERR_SMALL), "no size for the caller's bytes");
    ad.size = 4096;
    cr_expect(eq(int, vms_arena_init(&a, &ad), VMS_ERR_SMALL), "only the metadata fits");
    ad.size = 2 * 4096;
    cr_expect(eq(int, vms_arena_init(&a, &ad), VMS_OK), "metadata and one frame");
    vms_arena_destroy(&a);
}

/* ---- a software TLB over the lives of one struct ----
 *
 * The spaces belong to a machine, whose clock numbers their generations: a new life of the
 * struct starts above every generation the old one reached. */

static vms_machine_t life_machine;

static int life_init(vms_space_t *s) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = 4;
    d.arena.size = 4 << 20;
    d.machine = &life_machine;
    return vms_space_init(s, &d);
}

Test(swtlb_life, reinit_in_the_same_struct) {
    vms_swtlb_t t;
    uint64_t pa = 0;
    vms_machine_init(&life_machine);
    cr_assert(eq(int, life_init(&sp), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x111000, K4, VMS_R, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    cr_assert(vms_swtlb_translate(&t, 0x10000010, &pa));
    cr_assert(eq(u64, pa, 0x111010));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
    cr_assert(eq(int, life_init(&sp), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x999000, K4, VMS_R, 0), VMS_OK));
    cr_expect(vms_swtlb_translate(&t, 0x10000010, &pa));
    cr_expect(eq(u64, pa, 0x999010), "the new life's translation, not the old one");
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
    /* The same after as many changes as the first life made. */
    cr_assert(eq(int, life_init(&sp), VMS_OK));
    cr_expect(not(vms_swtlb_translate(&t, 0x10000010, &pa)), "unmapped in the third life");
    vms_space_destroy(&sp);
}

/* A loaded space has no machine until it is attached; attaching moves its generation past
 * every generation the machine's spaces reached. */
Test(swtlb_life, load_in_the_same_struct) {
    vms_swtlb_t t;
    uint64_t pa = 0;
    vms_machine_init(&life_machine);
    cr_assert(eq(int, life_init(&sp), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x111000, K4, VMS_R, 0), VMS_OK));
    img_t im = img_save(&sp);
    cr_assert(eq(int, vms_space_unmap(&sp, 0x10000000, K4), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x777000, K4, VMS_R, 0), VMS_OK));
    vms_swtlb_init(&t, &sp);
    cr_assert(vms_swtlb_translate(&t, 0x10000010, &pa));
    cr_assert(eq(u64, pa, 0x777010));
    cr_assert(eq(int, vms_space_destroy(&sp), VMS_OK));
    cr_assert(eq(int, img_load(&im, &sp), VMS_OK));
    cr_expect(eq(int, vms_space_activate(&sp, 0), VMS_ERR_ARG), "no machine yet");
    cr_assert(eq(int, vms_space_attach(&sp, &life_machine), VMS_OK));
    cr_expect(eq(int, vms_space_attach(&sp, &life_machine), VMS_ERR_ARG), "attached once");
    cr_expect(vms_swtlb_translate(&t, 0x10000010, &pa));
    cr_expect(eq(u64, pa, 0x111010), "the loaded translation");
    cr_expect(eq(int, vms_space_activate(&sp, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&life_machine, 0), &sp));
    cr_expect(eq(int, vms_space_deactivate(&sp, 0), VMS_OK));
    vms_space_destroy(&sp);
    free(im.b);
}

/* ---- a cursor kept open across an operation that frees its tables ---- */

Test(cursor_life, map_after_another_unmap_freed_the_path) {
    vms_cursor_t c;
    uint64_t pa = 0;
    cr_assert(eq(int, vt_space_init(&sp, 4, 8 << 20), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000000, 16 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_map(&c, 0x111000, K4, VMS_R, 0), VMS_OK));
    /* Another operation empties the range: the cursor's leaf table and its parents go. */
    cr_assert(eq(int, vms_space_unmap(&sp, 0x10000000, K4), VMS_OK));
    cr_assert(eq(u64, vt_table_pages(&sp), 1));
    /* Something else takes the freed frames. */
    cr_assert(eq(int, vms_space_map(&sp, 0x7000000000ull, 0x222000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_map(&c, 0x333000, K4, VMS_RW, 0), VMS_OK));
    vms_cursor_close(&c);
    cr_expect(vms_translate(&sp, 0x10001000, &pa), "the cursor's map took effect");
    cr_expect(eq(u64, pa, 0x333000));
    cr_expect(vms_translate(&sp, 0x7000000000ull, &pa), "the other mapping is intact");
    cr_expect(eq(u64, pa, 0x222000));
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&sp), NULL));
#endif
    vt_expect_wellformed(&sp);
    vms_space_destroy(&sp);
}

Test(cursor_life, query_and_next_after_another_unmap) {
    vms_cursor_t c;
    vms_mapping_t m;
    cr_assert(eq(int, vt_space_init(&sp, 4, 8 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x111000, 2 * K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000000, 16 * K4), VMS_OK));
    cr_assert(eq(int, vms_cursor_query(&c, &m), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x10000000, 2 * K4), VMS_OK));
    /* The freed leaf table is reused for a mapping elsewhere, with other contents. */
    cr_assert(eq(int, vms_space_map(&sp, 0x7000000000ull, 0x222000, 8 * K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_cursor_query(&c, &m), VMS_ERR_NOENT));
    cr_expect(not(vms_cursor_next(&c, &m)), "nothing is left in the cursor's range");
    vms_cursor_close(&c);
    vms_space_destroy(&sp);
}

Test(cursor_life, unmap_through_a_stale_path) {
    vms_cursor_t c;
    cr_assert(eq(int, vt_space_init(&sp, 4, 8 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x10000000, 0x111000, K4, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_cursor_open(&c, &sp, 0x10000000, 16 * K4), VMS_OK));
    vms_mapping_t m;
    cr_assert(eq(int, vms_cursor_query(&c, &m), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&sp, 0x10000000, K4), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0x7000000000ull, 0x222000, K4, VMS_R, 0), VMS_OK));
    uint64_t done = 1;
    cr_expect(eq(int, vms_cursor_unmap(&c, 16 * K4, &done), VMS_OK));
    cr_expect(eq(u64, done, 0), "nothing was left to unmap");
    vms_cursor_close(&c);
    vt_expect_page(&sp, 0x7000000000ull, 0x7000000000ull, 0x222000, K4, VMS_R);
    vt_expect_wellformed(&sp);
    vms_space_destroy(&sp);
}

/* ---- the dump of a run that ends at 2^64 ---- */

static char dump_buf[4096];
static void dump_line(void *user, const char *line) {
    (void)user;
    strncat(dump_buf, line, sizeof dump_buf - strlen(dump_buf) - 2);
    strcat(dump_buf, "\n");
}

Test(dump_end, run_to_the_top_of_the_high_half) {
    cr_assert(eq(int, vt_space_init(&sp, 4, 4 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 0xffffffffffffe000ull, 0x5000, 2 * K4, VMS_RX, 0),
                 VMS_OK));
    dump_buf[0] = 0;
    vms_space_dump(&sp, dump_line, NULL);
    cr_expect(ne(ptr, strstr(dump_buf, "0xffffffffffffe000-0x10000000000000000"), NULL), "%s",
              dump_buf);
    /* Supervisor R+X: the rights column says exactly that. */
    cr_expect(ne(ptr, strstr(dump_buf, "r-x          WB"), NULL), "%s", dump_buf);
    vms_space_destroy(&sp);
}
