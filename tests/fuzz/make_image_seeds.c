/* Seed corpus of fuzz_image (tests/fuzz/image_corpus/): spaces of every shape, built through
 * the public API on a small arena and saved with vms_space_save, one file per shape.
 *
 * A 2 MiB arena keeps the metadata in one 4 KiB frame, so an image is the header, that frame,
 * the tables and the data frames: a few to a few tens of KiB. The output is the same on
 * every run (fresh arena memory is zero and the library is deterministic).
 *
 * Usage: make_image_seeds OUTPUT-DIR   (tools/fuzz.sh --seeds builds and runs it) */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_ARENA ((uint64_t)2 << 20)
#define SEED_MAX_IMAGE ((uint64_t)64 << 10)

static const char *out_dir;
static unsigned written;

static void must(int rc, const char *what, int line) {
    if (rc == VMS_OK) return;
    fprintf(stderr, "make_image_seeds:%d: %s: %s\n", line, what, vms_err_name(rc));
    exit(1);
}
#define MUST(call) must((call), #call, __LINE__)

static void open_space(vms_space_t *s, int levels) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = levels;
    d.arena.size = SEED_ARENA;
    MUST(vms_space_init(s, &d));
}

/* Save s as OUT/name, check the image is small and loads back, and destroy s. */
static void save(vms_space_t *s, const char *name) {
    char path[1024];
    vms_space_t back;
    if (s->arena.bump > SEED_MAX_IMAGE) {
        fprintf(stderr, "make_image_seeds: %s: image of %llu bytes is too big\n", name,
                (unsigned long long)s->arena.bump);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    MUST(vms_space_save(s, path));
    MUST(vms_space_load(&back, path));
    MUST(vms_space_destroy(&back));
    MUST(vms_space_destroy(s));
    written++;
}

/* Far above the arena (which sits at 16 MiB): frames for mappings that are not data. */
#define FAR ((uint64_t)1 << 32)
#define RWU (VMS_R | VMS_W | VMS_USER)

static void seed_empty(void) {
    vms_space_t s;
    open_space(&s, 4);
    save(&s, "empty_4level");
    open_space(&s, 5);
    save(&s, "empty_5level");
}

static void seed_pages(void) {
    vms_space_t s;
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x1000, FAR, 0x3000, RWU, 0));
    MUST(vms_space_map(&s, 0x7000, FAR + 0x10000, 0x1000, VMS_R | VMS_X | VMS_USER, 0));
    MUST(vms_space_map(&s, 0xffff800000000000, FAR + 0x20000, 0x2000, VMS_RW | VMS_GLOBAL, 0));
    save(&s, "pages_4k");

    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x200000, FAR, 0x400000, VMS_RX | VMS_USER, 0));
    MUST(vms_space_map(&s, 0xffffffffffe00000, FAR + 0x800000, 0x200000, VMS_RW, 0));
    save(&s, "huge_2m");

    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x40000000, FAR, 0x80000000, RWU, 0));
    MUST(vms_space_map(&s, 0x7fffc0000000, FAR + 0x80000000, 0x40000000, VMS_R, 0));
    save(&s, "huge_1g");

    /* Every leaf size in one space, and a run the dump merges next to one it does not. */
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x40000000, FAR, 0x40000000, VMS_RW, 0));
    MUST(vms_space_map(&s, 0x80000000, FAR + 0x40000000, 0x400000, VMS_RW, 0));
    MUST(vms_space_map(&s, 0x80400000, FAR + 0x40400000, 0x3000, VMS_RW, 0));
    MUST(vms_space_map(&s, 0x80403000, FAR + 0x50000000, 0x1000, VMS_RW, 0));
    save(&s, "mixed_4level");
}

static void seed_five_levels(void) {
    vms_space_t s;
    open_space(&s, 5);
    MUST(vms_space_map(&s, 0x0010000000000000, FAR, 0x40000000, VMS_R, 0)); /* 2^52 */
    MUST(vms_space_map(&s, 0x0010000040000000, FAR + 0x40000000, 0x200000, RWU, 0));
    MUST(vms_space_map(&s, 0xff00000000000000, FAR + 0x80000000, 0x2000, RWU | VMS_X, 0));
    MUST(vms_space_map(&s, 0x00ffffffc0000000, FAR + 0xc0000000, 0x40000000, VMS_R, 0));
    MUST(vms_space_map(&s, 0xfffffffffffff000, FAR + 0xa0000000, 0x1000, VMS_RW | VMS_GLOBAL, 0));
    save(&s, "mixed_5level");
}

/* No-access mappings (not present, remembered by the library) at each leaf level. */
static void seed_noaccess(void) {
    vms_space_t s;
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x1000, FAR, 0x2000, 0, 0));
    MUST(vms_space_map(&s, 0x3000, FAR + 0x3000, 0x1000, VMS_W | VMS_X | VMS_USER, 0));
    MUST(vms_space_map(&s, 0x400000, FAR, 0x200000, VMS_W, 0));
    MUST(vms_space_map(&s, 0x40000000, FAR, 0x40000000, VMS_X | VMS_SW2, 0));
    save(&s, "noaccess");
}

/* Software bits, A/D, global and every PAT index, on 4 KiB and 2 MiB leaves (the PAT bit
 * sits in a different place in each). */
static void seed_props(void) {
    static const vms_prop_t extra[8] = {VMS_SW0,    VMS_SW1,          VMS_SW2,
                                        VMS_SW3,    VMS_ACCESSED,     VMS_DIRTY | VMS_ACCESSED,
                                        VMS_GLOBAL, VMS_SW0 | VMS_SW3};
    vms_space_t s;
    unsigned i;
    open_space(&s, 4);
    for (i = 0; i < 8; i++) {
        vms_prop_t p = VMS_R | extra[i] | VMS_CACHE_PAT(i);
        MUST(vms_space_map(&s, 0x10000 + (uint64_t)i * 0x1000, FAR + (uint64_t)i * 0x1000, 0x1000,
                           p, 0));
        MUST(vms_space_map(&s, 0x40000000 + (uint64_t)i * 0x200000, FAR + (uint64_t)i * 0x200000,
                           0x200000, p | VMS_W, 0));
    }
    MUST(vms_space_map(&s, 0x80000000, FAR, 0x40000000, VMS_RX | VMS_CACHE_PAT(7) | VMS_SW1, 0));
    save(&s, "props");
}

/* Tables freed by unmaps: the free list links frames inside the image. */
static void seed_free_list(void) {
    vms_space_t s;
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x1000, FAR, 0x1000, VMS_R, 0));
    MUST(vms_space_map(&s, 0x8000000000, FAR, 0x1000, VMS_R, 0)); /* another PML4 entry */
    MUST(vms_space_map(&s, 0x40001000, FAR, 0x1000, VMS_R, 0));
    MUST(vms_space_map(&s, 0x600000, FAR, 0x1000, VMS_R, 0));
    MUST(vms_space_unmap(&s, 0x8000000000, 0x1000)); /* three tables go */
    MUST(vms_space_unmap(&s, 0x40001000, 0x1000));   /* a PD and a PT */
    save(&s, "free_list_unmap");

    /* A 1 GiB page split down to 4 KiB, then the split undone by an unmap of the rest. */
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x40000000, FAR, 0x40000000, RWU, 0));
    MUST(vms_space_unmap(&s, 0x40201000, 0x1000));
    save(&s, "split_1g");
    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x40000000, FAR, 0x40000000, RWU, 0));
    MUST(vms_space_protect(&s, 0x40201000, 0x1000, VMS_R));
    MUST(vms_space_unmap(&s, 0x40000000, 0x40000000));
    MUST(vms_space_map(&s, 0x1000, FAR, 0x1000, VMS_R, 0));
    save(&s, "split_then_unmap");
}

/* Data frames: mapped, written, aliased; an aligned allocation leaves skipped frames on the
 * free list. */
static void seed_data(void) {
    vms_space_t s;
    uint64_t pa, pa2;
    uint8_t buf[0x2000];
    unsigned i;
    for (i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 7u + 1u);
    open_space(&s, 4);
    MUST(vms_arena_alloc_data(&s.arena, 0x4000, 0x1000, &pa));
    MUST(vms_space_map(&s, 0x400000, pa, 0x4000, RWU, 0));
    MUST(vms_space_map(&s, 0x7fffffffe000, pa + 0x2000, 0x2000, VMS_R | VMS_USER, 0)); /* alias */
    MUST(vms_copy_to(&s, 0x400010, buf, 0x2000, NULL));
    MUST(vms_copy_to(&s, 0x403ff0, buf, 0x10, NULL));
    save(&s, "data_frames");

    open_space(&s, 4);
    MUST(vms_space_map(&s, 0x1000, FAR, 0x1000, VMS_R, 0));
    MUST(vms_arena_alloc_data(&s.arena, 0x2000, 0x8000, &pa)); /* skips frames to 32 KiB */
    MUST(vms_arena_alloc_data(&s.arena, 0x1000, 0x4000, &pa2));
    MUST(vms_space_map(&s, 0x200000, pa, 0x2000, RWU, 0));
    MUST(vms_space_map(&s, 0x40000000, pa2, 0x1000, RWU | VMS_X, 0));
    MUST(vms_copy_to(&s, 0x200ff8, buf, 0x10, NULL));
    MUST(vms_copy_to(&s, 0x40000000, buf, 0x1000, NULL));
    save(&s, "data_aligned_free_list");

    open_space(&s, 5);
    MUST(vms_arena_alloc_data(&s.arena, 0x1000, 0x1000, &pa));
    MUST(vms_space_map(&s, 0xff00000000001000, pa, 0x1000, RWU, 0));
    MUST(vms_copy_to(&s, 0xff00000000001800, buf, 0x800, NULL));
    save(&s, "data_5level");
}

/* Many tables (13, as many as 64 KiB allows): pages spread over PDPT and PD entries, and
 * the tops of both halves. */
static void seed_many_tables(void) {
    static const uint64_t vas[] = {0x0,        0x1ff000,       0x200000,
                                   0x40000000, 0x7ffffffff000, 0xfffffffffffff000};
    vms_space_t s;
    unsigned i;
    open_space(&s, 4);
    for (i = 0; i < sizeof vas / sizeof vas[0]; i++)
        MUST(
            vms_space_map(&s, vas[i], FAR + (uint64_t)i * 0x1000, 0x1000, i & 1 ? VMS_RW : RWU, 0));
    save(&s, "many_tables");
}

/* A narrower physical-address width than the default 52 bits (kept in the header). */
static void seed_phys_bits(void) {
    vms_space_t s;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = 4;
    d.arena.size = SEED_ARENA;
    d.phys_bits = 40;
    MUST(vms_space_init(&s, &d));
    MUST(vms_space_map(&s, 0x1000, (uint64_t)1 << 39, 0x2000, RWU, 0));
    MUST(vms_space_map(&s, 0x200000, ((uint64_t)1 << 40) - 0x200000, 0x200000, VMS_R, 0));
    save(&s, "phys_bits_40");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_image_seeds OUTPUT-DIR\n");
        return 2;
    }
    out_dir = argv[1];
    seed_empty();
    seed_pages();
    seed_five_levels();
    seed_noaccess();
    seed_props();
    seed_free_list();
    seed_data();
    seed_many_tables();
    seed_phys_bits();
    printf("wrote %u images to %s\n", written, out_dir);
    return 0;
}
