/* The bad-input catalogue: every kind of bad input the API of vmspace.h and vmspace_owner.h
 * can receive, one table row each, with the error code it must return. After each call the
 * fixture (a space with pages of every size, an owner with a reader and a writer lease) must
 * be unchanged: the digest covers every table page reachable from the root, the enumeration,
 * the counters, the arena's frame count and the owner's lease list.
 *
 * Outside the table: a destroyed space is all zeros and must be initialised again before any
 * other call (the shared contract makes every other call on it undefined); that part is
 * checked by catalogue::destroyed_space_is_zero_and_reinitialisable. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, access */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "support/vt_cr.h"
#include "vmspace_owner.h"

/* ---- the fixture ---- */

#define CAT_RW_VA 0x400000ull   /* 4 pages RW|USER over data frames */
#define CAT_RO_VA 0x404000ull   /* 1 page read-only */
#define CAT_NA_VA 0x405000ull   /* 1 page with no access */
#define CAT_2M_VA 0x600000ull   /* one 2 MiB page RW */
#define CAT_1G_VA 0x40000000ull /* one 1 GiB page R */
#define CAT_HOLE_VA 0x10000000ull

typedef struct cat_fix_s {
    vms_space_t s;
    vms_owner_t o;
    uint64_t data_pa;
    vms_lease_t reader, writer, stale;
} cat_fix_t;

static cat_fix_t F;
static vms_machine_t cat_machine;

static void cat_setup(void) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.arena.size = (uint64_t)64 << 20;
    d.machine = &cat_machine;
    cr_assert(eq(int, vms_space_init(&F.s, &d), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&F.s.arena, 0x10000, 0x1000, &F.data_pa), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&F.s, CAT_RW_VA, F.data_pa, 0x4000, VMS_RW | VMS_USER, 0), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&F.s, CAT_RO_VA, F.data_pa + 0x4000, 0x1000, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&F.s, CAT_NA_VA, F.data_pa + 0x5000, 0x1000, 0, 0), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&F.s, CAT_2M_VA, 0x100000000ull, VMS_PAGE_2M, VMS_RW, 0), VMS_OK));
    cr_assert(
        eq(int, vms_space_map(&F.s, CAT_1G_VA, 0x200000000ull, VMS_PAGE_1G, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_owner_init(&F.o, &F.s, NULL), VMS_OK));
    cr_assert(eq(int, vms_lease_acquire(&F.o, VMS_LEASE_READ, CAT_RW_VA, 0x1000, &F.reader, NULL),
                 VMS_OK));
    cr_assert(eq(
        int, vms_lease_acquire(&F.o, VMS_LEASE_WRITE, CAT_RW_VA + 0x1000, 0x1000, &F.writer, NULL),
        VMS_OK));
    cr_assert(
        eq(int, vms_lease_acquire(&F.o, VMS_LEASE_READ, CAT_RW_VA + 0x2000, 0x1000, &F.stale, NULL),
           VMS_OK));
    cr_assert(eq(int, vms_lease_release(&F.o, F.stale), VMS_OK));
}

static void cat_teardown(void) {
    (void)vms_lease_release(&F.o, F.reader); /* a case may have released them */
    (void)vms_lease_release(&F.o, F.writer);
    cr_expect(eq(int, vms_owner_destroy(&F.o), VMS_OK));
    cr_expect(eq(int, vms_space_destroy(&F.s), VMS_OK));
}

static int cat_hash_lease(void *user, const vms_lease_info_t *l) {
    uint64_t v[5];
    v[0] = l->handle.id;
    v[1] = l->serial;
    v[2] = l->va;
    v[3] = l->len;
    v[4] = (uint64_t)l->kind;
    XXH3_64bits_update((XXH3_state_t *)user, v, sizeof v);
    return 0;
}

/* Tables, enumeration and stats (vt_digest), the arena's frames, the leases. */
static uint64_t cat_digest(void) {
    XXH3_state_t *h = XXH3_createState();
    uint64_t v[4], d;
    vms_owner_stats_t st;
    XXH3_64bits_reset(h);
    v[0] = vt_digest(&F.s);
    v[1] = F.s.arena.frames_in_use;
    v[2] = F.s.active_cpus;
    v[3] = F.o.active;
    XXH3_64bits_update(h, v, sizeof v);
    vms_owner_foreach(&F.o, 0, UINT64_MAX, cat_hash_lease, h);
    vms_owner_stats(&F.o, &st);
    v[0] = st.readers;
    v[1] = st.writers;
    XXH3_64bits_update(h, v, 2 * sizeof v[0]);
    d = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return d;
}

/* ---- saved files ---- */

/* Save the fixture to a fresh file in the working directory, apply a corruption, return the
 * path (static buffer). */
enum cat_corrupt {
    CC_NONE,
    CC_MAGIC,
    CC_SHORT_HEADER,
    CC_VERSION,
    CC_LEVELS,
    CC_ROOT_OUTSIDE,
    CC_ROOT_UNALIGNED,
    CC_BASE_UNALIGNED,
    CC_TRUNCATED_IMAGE,
    CC_TABLE_OUTSIDE,
    CC_FREE_HEAD,
    CC_LEN_ZERO,
    CC_SIZE_SMALL,
    CC_EMPTY_FILE
};

static char cat_path[64];

static void cat_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t cat_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static const char *cat_saved(int corrupt) {
    snprintf(cat_path, sizeof cat_path, "vms_catalogue_XXXXXX");
    int fd = mkstemp(cat_path);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert(eq(int, vms_space_save(&F.s, cat_path), VMS_OK));
    FILE *f = fopen(cat_path, "rb");
    cr_assert(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = (uint8_t *)malloc((size_t)n);
    cr_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    uint64_t root = cat_get64(b + 16), base = cat_get64(b + 24), len = cat_get64(b + 32);
    switch (corrupt) {
    case CC_MAGIC: b[0] = 'X'; break;
    case CC_SHORT_HEADER: n = 40; break;
    case CC_VERSION: b[8] = 2; break;
    case CC_LEVELS: b[12] = 3; break;
    case CC_ROOT_OUTSIDE: cat_put64(b + 16, base + len); break;
    case CC_ROOT_UNALIGNED: cat_put64(b + 16, root + 8); break;
    case CC_BASE_UNALIGNED: cat_put64(b + 24, base + 0x1000); break;
    case CC_TRUNCATED_IMAGE: n = 64 + (long)(len / 2); break;
    case CC_TABLE_OUTSIDE: {
        /* Point the root's first used entry (a table) far outside the image. */
        uint64_t *t = (uint64_t *)(void *)(b + 64 + (root - base));
        for (int i = 0; i < 512; i++) {
            if (t[i] & 1) {
                t[i] = (t[i] & 0xfff) | ((uint64_t)1 << 40);
                break;
            }
        }
        break;
    }
    case CC_FREE_HEAD: cat_put64(b + 40, base + len + 0x1000); break;
    case CC_LEN_ZERO: cat_put64(b + 32, 0); break;
    case CC_SIZE_SMALL: cat_put64(b + 56, len - 0x1000); break;
    case CC_EMPTY_FILE: n = 0; break;
    default: break;
    }
    f = fopen(cat_path, "wb");
    cr_assert(f != NULL);
    cr_assert(fwrite(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    free(b);
    return cat_path;
}

/* ---- the table ---- */

enum cat_op {
    OP_MAP,
    OP_UNMAP,
    OP_PROTECT,
    OP_QUERY,
    OP_CHECK_RANGE,
    OP_CURSOR_OPEN,
    OP_CURSOR_JUMP,
    OP_CURSOR_MAP,
    OP_CURSOR_MAP_RANGE,
    OP_CURSOR_FIND,
    OP_CURSOR_UNMAP,
    OP_CURSOR_PROTECT,
    OP_CURSOR_PROTECT_NEXT,
    OP_CURSOR_QUERY_END,
    OP_SPACE_INIT_LEVELS,
    OP_SPACE_INIT_PROVIDER,
    OP_ARENA_INIT,
    OP_ALLOC_DATA,
    OP_ACTIVATE,
    OP_DEACTIVATE,
    OP_DESTROY_ACTIVE,
    OP_NO_MACHINE, /* a: 0 activate, 1 deactivate, 2 attach (NULL machine), 3 attach twice */
    OP_COPY_FROM,
    OP_COPY_TO,
    OP_FILL,
    OP_READ_VAL,
    OP_WRITE_VAL,
    OP_SAVE_PROVIDER,
    OP_SAVE_NULL_PATH,
    OP_SAVE_MEM_PROVIDER,
    OP_LOAD,
    OP_LOAD_MISSING,
    OP_ACQUIRE,
    OP_ACQUIRE_INACTIVE,
    OP_RELEASE,
    OP_INFO,
    OP_LEASE_READ,
    OP_LEASE_WRITE,
    OP_LEASE_READ_INACTIVE,
    OP_OWNER_MAP,
    OP_OWNER_UNMAP,
    OP_OWNER_PROTECT,
    OP_MOVE,          /* a old, b len, c new */
    OP_COLLAPSE,      /* a, b, f flags */
    OP_OWNER_MOVE,    /* a old, b len, to CAT_HOLE_VA; c the blocker's handle */
    OP_OWNER_COLLAPSE,
    OP_OWNER_DESTROY,
    OP_OWNER_INIT_ALLOC,
    OP_ITREE_INIT_ALLOC,
    OP_OWNER_INIT_NULL,
    OP_SHARE_INIT,       /* vms_share_init of F.s over [a, a + b); f = 1: a NULL group */
    OP_SHARE_INIT_TWICE, /* a space of its own shares a range, then tries another */
    OP_SHARE_JOIN,       /* F.s or a space of p levels joins a group; f: see cat_share_join */
    OP_SHARE_LEAVE       /* F.s, which shares nothing, leaves */
};

/* Handles for release/info/read/write rows. */
enum { H_READER = 1, H_WRITER, H_STALE, H_ZERO, H_GEN0, H_SLOT_OUT, H_GEN_WRONG, H_RANDOM };

/* The name is an array, not a pointer: Criterion hands each parameter to a fresh worker
 * process, where a pointer into the parent's static data does not hold. */
typedef struct cat_row_s {
    char name[40];
    int op;
    uint64_t a, b, c; /* op-specific: usually va, len (or pa), pa (or size) */
    uint32_t p, f;    /* property (or kind, or handle selector), flags */
    int want;
} cat_row_t;

#define NONCANON4 0x0000800000000000ull
#define TOPPAGE 0xfffffffffffff000ull

static cat_row_t cat_rows[] = {
    /* vms_space_map: addresses, lengths, overflows, physical addresses, flags, caches. */
    {"map_va_noncanonical", OP_MAP, NONCANON4, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_NONCANON},
    {"map_va_57bit_in_4level", OP_MAP, 1ull << 52, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_NONCANON},
    {"map_va_unaligned", OP_MAP, 0x800800, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_ALIGN},
    {"map_len_zero", OP_MAP, 0x800000, 0, 0x1000, VMS_R, 0, VMS_ERR_ZEROLEN},
    {"map_len_unaligned", OP_MAP, 0x800000, 0x1800, 0x1000, VMS_R, 0, VMS_ERR_ALIGN},
    {"map_wraps_top", OP_MAP, TOPPAGE, 0x2000, 0x1000, VMS_R, 0, VMS_ERR_OVERFLOW},
    {"map_crosses_hole", OP_MAP, 0x7ffffffff000ull, 0x2000, 0x1000, VMS_R, 0, VMS_ERR_OVERFLOW},
    {"map_len_2_63", OP_MAP, 0x800000, 1ull << 63, 0x1000, VMS_R, 0, VMS_ERR_OVERFLOW},
    {"map_pa_unaligned", OP_MAP, 0x800000, 0x1000, 0x1010, VMS_R, 0, VMS_ERR_ALIGN},
    {"map_pa_beyond_52_bits", OP_MAP, 0x800000, 0x1000, 1ull << 52, VMS_R, 0, VMS_ERR_PHYS},
    {"map_pa_end_beyond_52_bits", OP_MAP, 0x800000, 0x2000, (1ull << 52) - 0x1000, VMS_R, 0,
     VMS_ERR_PHYS},
    {"map_prop_unknown_flag", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R | 0x800u, 0, VMS_ERR_FLAGS},
    {"map_prop_high_bit", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R | 0x80000000u, 0, VMS_ERR_FLAGS},
    {"map_cache_8", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R | VMS_CACHE_PAT(8), 0, VMS_ERR_CACHE},
    {"map_cache_15", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R | VMS_CACHE_PAT(15), 0, VMS_ERR_CACHE},
    {"map_flags_unknown", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R, 0x10, VMS_ERR_FLAGS},
    {"map_collapse_4k_cap", OP_MAP, 0x800000, 0x1000, 0x1000, VMS_R,
     VMS_MAP_COLLAPSE | VMS_MAP_MAX_4K, VMS_ERR_FLAGS},
    {"map_over_4k_mapping", OP_MAP, CAT_RW_VA, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_EXIST},
    {"map_over_part_of_2m", OP_MAP, CAT_2M_VA + 0x1000, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_EXIST},
    {"map_range_ending_in_1g", OP_MAP, CAT_1G_VA - 0x1000, 0x2000, 0x1000, VMS_R, 0, VMS_ERR_EXIST},
    /* unmap / protect / query / check_range. */
    {"unmap_noncanonical", OP_UNMAP, NONCANON4, 0x1000, 0, 0, 0, VMS_ERR_NONCANON},
    {"unmap_len_zero", OP_UNMAP, CAT_RW_VA, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"unmap_unaligned", OP_UNMAP, CAT_RW_VA + 1, 0x1000, 0, 0, 0, VMS_ERR_ALIGN},
    {"unmap_wraps", OP_UNMAP, TOPPAGE, 0x10000, 0, 0, 0, VMS_ERR_OVERFLOW},
    /* vms_space_move and vms_space_collapse. */
    {"move_overlapping", OP_MOVE, CAT_RW_VA, 0x4000, CAT_RW_VA + 0x1000, 0, 0, VMS_ERR_OVERLAP},
    {"move_onto_a_mapping", OP_MOVE, CAT_RW_VA, 0x1000, CAT_RO_VA, 0, 0, VMS_ERR_EXIST},
    {"move_into_huge_page", OP_MOVE, CAT_RW_VA, 0x1000, CAT_2M_VA + 0x3000, 0, 0, VMS_ERR_EXIST},
    {"move_new_noncanonical", OP_MOVE, CAT_RW_VA, 0x1000, NONCANON4, 0, 0, VMS_ERR_NONCANON},
    {"move_new_unaligned", OP_MOVE, CAT_RW_VA, 0x1000, CAT_HOLE_VA + 8, 0, 0, VMS_ERR_ALIGN},
    {"move_len_zero", OP_MOVE, CAT_RW_VA, 0, CAT_HOLE_VA, 0, 0, VMS_ERR_ZEROLEN},
    {"move_new_wraps", OP_MOVE, CAT_RW_VA, 0x10000, TOPPAGE, 0, 0, VMS_ERR_OVERFLOW},
    {"collapse_bad_flags", OP_COLLAPSE, CAT_RW_VA, VMS_PAGE_2M, 0, 0, VMS_MAP_REPLACE,
     VMS_ERR_FLAGS},
    {"collapse_wraps", OP_COLLAPSE, TOPPAGE, 0x10000, 0, 0, 0, VMS_ERR_OVERFLOW},
    {"collapse_unaligned", OP_COLLAPSE, CAT_RW_VA + 1, 0x1000, 0, 0, 0, VMS_ERR_ALIGN},
    {"protect_flags", OP_PROTECT, CAT_RW_VA, 0x1000, 0, VMS_R | 0x10000u, 0, VMS_ERR_FLAGS},
    {"protect_cache_9", OP_PROTECT, CAT_RW_VA, 0x1000, 0, VMS_R | VMS_CACHE_PAT(9), 0,
     VMS_ERR_CACHE},
    {"protect_overflow", OP_PROTECT, 0x7ffffffff000ull, 0x2000, 0, VMS_R, 0, VMS_ERR_OVERFLOW},
    {"protect_len_zero", OP_PROTECT, CAT_RW_VA, 0, 0, VMS_R, 0, VMS_ERR_ZEROLEN},
    {"query_noncanonical", OP_QUERY, NONCANON4, 0, 0, 0, 0, VMS_ERR_NONCANON},
    {"query_hole", OP_QUERY, CAT_HOLE_VA, 0, 0, 0, 0, VMS_ERR_NOENT},
    {"check_range_max_len", OP_CHECK_RANGE, 0, UINT64_MAX & ~0xfffull, 0, 0, 0, VMS_ERR_OVERFLOW},
    /* The cursor. */
    {"cursor_open_len_zero", OP_CURSOR_OPEN, CAT_RW_VA, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"cursor_open_noncanonical", OP_CURSOR_OPEN, NONCANON4, 0x1000, 0, 0, 0, VMS_ERR_NONCANON},
    {"cursor_jump_unaligned", OP_CURSOR_JUMP, CAT_RW_VA + 0x10, 0, 0, 0, 0, VMS_ERR_ALIGN},
    {"cursor_jump_below_start", OP_CURSOR_JUMP, CAT_RW_VA - 0x1000, 0, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_jump_to_end", OP_CURSOR_JUMP, CAT_RW_VA + 0x400000, 0, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_jump_noncanonical", OP_CURSOR_JUMP, NONCANON4, 0, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_map_page_size_8k", OP_CURSOR_MAP, 0x800000, 0x1000, 0x2000, VMS_R, 0,
     VMS_ERR_PAGESIZE},
    {"cursor_map_page_size_0", OP_CURSOR_MAP, 0x800000, 0x1000, 0, VMS_R, 0, VMS_ERR_PAGESIZE},
    {"cursor_map_2m_unaligned_va", OP_CURSOR_MAP, 0x801000, 0x200000, VMS_PAGE_2M, VMS_R, 0,
     VMS_ERR_ALIGN},
    {"cursor_map_2m_unaligned_pa", OP_CURSOR_MAP, 0x800000, 0x201000, VMS_PAGE_2M, VMS_R, 0,
     VMS_ERR_ALIGN},
    {"cursor_map_1g_past_end", OP_CURSOR_MAP, 0x80000000ull, 0x40000000, VMS_PAGE_1G, VMS_R, 0,
     VMS_ERR_RANGE},
    {"cursor_map_flags", OP_CURSOR_MAP, 0x800000, 0x1000, 0x1000, VMS_R, 0x10, VMS_ERR_FLAGS},
    {"cursor_map_exist", OP_CURSOR_MAP, CAT_RO_VA, 0x1000, 0x1000, VMS_R, 0, VMS_ERR_EXIST},
    {"cursor_map_range_past_end", OP_CURSOR_MAP_RANGE, 0x800000, 0x1000, 0x800000, VMS_R, 0,
     VMS_ERR_RANGE},
    {"cursor_find_len_unaligned", OP_CURSOR_FIND, CAT_RW_VA, 0x10, 0, 0, 0, VMS_ERR_ALIGN},
    {"cursor_find_past_end", OP_CURSOR_FIND, CAT_RW_VA, 0x800000, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_unmap_past_end", OP_CURSOR_UNMAP, CAT_RW_VA, 0x800000, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_unmap_len_zero", OP_CURSOR_UNMAP, CAT_RW_VA, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"cursor_protect_cache", OP_CURSOR_PROTECT, CAT_RW_VA, 0x1000, 0, VMS_CACHE_PAT(12), 0,
     VMS_ERR_CACHE},
    {"cursor_protect_next_hole", OP_CURSOR_PROTECT_NEXT, CAT_HOLE_VA, 0x1000, 0, VMS_R, 0,
     VMS_ERR_NOENT},
    {"cursor_protect_next_unaligned", OP_CURSOR_PROTECT_NEXT, CAT_RW_VA, 0x800, 0, VMS_R, 0,
     VMS_ERR_ALIGN},
    {"cursor_query_at_end", OP_CURSOR_QUERY_END, CAT_RW_VA, 0x1000, 0, 0, 0, VMS_ERR_RANGE},
    {"cursor_map_range_len_zero", OP_CURSOR_MAP_RANGE, 0x800000, 0x1000, 0, VMS_R, 0,
     VMS_ERR_ZEROLEN},
    /* Set-up: levels, providers, arenas. */
    {"space_init_levels_3", OP_SPACE_INIT_LEVELS, 3, 0, 0, 0, 0, VMS_ERR_LEVELS},
    {"space_init_levels_6", OP_SPACE_INIT_LEVELS, 6, 0, 0, 0, 0, VMS_ERR_LEVELS},
    {"space_init_levels_negative", OP_SPACE_INIT_LEVELS, (uint64_t)-1, 0, 0, 0, 0, VMS_ERR_LEVELS},
    {"space_init_provider_no_hooks", OP_SPACE_INIT_PROVIDER, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"arena_phys_base_unaligned", OP_ARENA_INIT, 0x200000, 0x1000, 0, 0, 0, VMS_ERR_ALIGN},
    {"arena_beyond_52_bits", OP_ARENA_INIT, 0x400000, (1ull << 52) - 0x200000, 0, 0, 0,
     VMS_ERR_PHYS},
    {"arena_size_beyond_52_bits", OP_ARENA_INIT, (1ull << 52) + 1, 0, 0, 0, 0, VMS_ERR_PHYS},
    {"arena_memory_unaligned", OP_ARENA_INIT, 0x200000, 0, 1, 0, 0, VMS_ERR_ALIGN},
    {"arena_memory_size_unaligned", OP_ARENA_INIT, 0x2100, 0, 2, 0, 0, VMS_ERR_ALIGN},
    {"arena_memory_only_metadata", OP_ARENA_INIT, 0x1000, 0, 2, 0, 0, VMS_ERR_SMALL},
    {"arena_memory_no_size", OP_ARENA_INIT, 0, 0, 2, 0, 0, VMS_ERR_SMALL},
    {"alloc_data_size_zero", OP_ALLOC_DATA, 0, 0x1000, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"alloc_data_size_unaligned", OP_ALLOC_DATA, 0x1800, 0x1000, 0, 0, 0, VMS_ERR_ALIGN},
    {"alloc_data_align_not_pow2", OP_ALLOC_DATA, 0x1000, 0x3000, 0, 0, 0, VMS_ERR_ALIGN},
    {"alloc_data_too_large", OP_ALLOC_DATA, (uint64_t)1 << 40, 0x1000, 0, 0, 0, VMS_ERR_NOMEM},
    /* CPUs. */
    {"activate_cpu_negative", OP_ACTIVATE, (uint64_t)-1, 0, 0, 0, 0, VMS_ERR_CPU},
    {"activate_cpu_max", OP_ACTIVATE, VMSPACE_MAX_CPUS, 0, 0, 0, 0, VMS_ERR_CPU},
    {"activate_cpu_int_min", OP_ACTIVATE, (uint64_t)(int64_t)INT32_MIN, 0, 0, 0, 0, VMS_ERR_CPU},
    {"deactivate_cpu_max", OP_DEACTIVATE, VMSPACE_MAX_CPUS, 0, 0, 0, 0, VMS_ERR_CPU},
    {"deactivate_cpu_negative", OP_DEACTIVATE, (uint64_t)-5, 0, 0, 0, 0, VMS_ERR_CPU},
    {"destroy_while_active", OP_DESTROY_ACTIVE, 3, 0, 0, 0, 0, VMS_ERR_ACTIVE},
    {"activate_without_machine", OP_NO_MACHINE, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"deactivate_without_machine", OP_NO_MACHINE, 1, 0, 0, 0, 0, VMS_ERR_ARG},
    {"attach_null_machine", OP_NO_MACHINE, 2, 0, 0, 0, 0, VMS_ERR_ARG},
    {"attach_twice", OP_NO_MACHINE, 3, 0, 0, 0, 0, VMS_ERR_ARG},
    /* Copies. */
    {"copy_from_wraps", OP_COPY_FROM, TOPPAGE, 0x2000, 0, 0, 0, VMS_ERR_OVERFLOW},
    {"copy_from_hole", OP_COPY_FROM, CAT_HOLE_VA, 0x10, 0, 0, 0, VMS_ERR_FAULT},
    {"copy_from_supervisor_page", OP_COPY_FROM, CAT_RO_VA, 0x10, 0, 0, 0, VMS_ERR_FAULT},
    {"copy_to_readonly", OP_COPY_TO, CAT_RO_VA, 0x10, 0, 0, 0, VMS_ERR_FAULT},
    {"copy_to_noncanonical", OP_COPY_TO, NONCANON4, 0x10, 0, 0, 0, VMS_ERR_FAULT},
    {"fill_no_access_page", OP_FILL, CAT_NA_VA, 0x10, 0, 0, 0, VMS_ERR_FAULT},
    {"read_val_65_bytes", OP_READ_VAL, CAT_RW_VA, 65, 0, 0, 0, VMS_ERR_ARG},
    {"write_val_65_bytes", OP_WRITE_VAL, CAT_RW_VA, 65, 0, 0, 0, VMS_ERR_ARG},
    {"write_val_across_into_readonly", OP_WRITE_VAL, CAT_RO_VA - 8, 16, 0, 0, 0, VMS_ERR_FAULT},
    /* Saving and loading. */
    {"save_provider_space", OP_SAVE_PROVIDER, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"save_null_path", OP_SAVE_NULL_PATH, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"save_mem_provider_space", OP_SAVE_MEM_PROVIDER, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"load_missing_file", OP_LOAD_MISSING, 0, 0, 0, 0, 0, VMS_ERR_IO},
    {"load_bad_magic", OP_LOAD, CC_MAGIC, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_empty_file", OP_LOAD, CC_EMPTY_FILE, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_short_header", OP_LOAD, CC_SHORT_HEADER, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_version_2", OP_LOAD, CC_VERSION, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_levels_3", OP_LOAD, CC_LEVELS, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_root_outside_image", OP_LOAD, CC_ROOT_OUTSIDE, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_root_unaligned", OP_LOAD, CC_ROOT_UNALIGNED, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_base_unaligned", OP_LOAD, CC_BASE_UNALIGNED, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_truncated_image", OP_LOAD, CC_TRUNCATED_IMAGE, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_table_outside_image", OP_LOAD, CC_TABLE_OUTSIDE, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_free_head_outside", OP_LOAD, CC_FREE_HEAD, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_len_zero", OP_LOAD, CC_LEN_ZERO, 0, 0, 0, 0, VMS_ERR_FORMAT},
    {"load_arena_smaller_than_image", OP_LOAD, CC_SIZE_SMALL, 0, 0, 0, 0, VMS_ERR_FORMAT},
    /* vmspace_owner.h: acquire. */
    {"acquire_kind_0", OP_ACQUIRE, CAT_RW_VA + 0x3000, 0x1000, 0, 0, 0, VMS_ERR_ARG},
    {"acquire_kind_3", OP_ACQUIRE, CAT_RW_VA + 0x3000, 0x1000, 0, 3, 0, VMS_ERR_ARG},
    {"acquire_len_zero", OP_ACQUIRE, CAT_RW_VA + 0x3000, 0, 0, VMS_LEASE_READ, 0, VMS_ERR_ZEROLEN},
    {"acquire_noncanonical", OP_ACQUIRE, NONCANON4, 0x1000, 0, VMS_LEASE_READ, 0, VMS_ERR_NONCANON},
    {"acquire_unaligned", OP_ACQUIRE, CAT_RW_VA + 0x3008, 0x1000, 0, VMS_LEASE_READ, 0,
     VMS_ERR_ALIGN},
    {"acquire_wraps", OP_ACQUIRE, TOPPAGE, 0x2000, 0, VMS_LEASE_READ, 0, VMS_ERR_OVERFLOW},
    {"acquire_inactive_owner", OP_ACQUIRE_INACTIVE, CAT_RW_VA + 0x3000, 0x1000, 0, VMS_LEASE_READ,
     0, VMS_ERR_INACTIVE},
    {"acquire_writer_over_reader", OP_ACQUIRE, CAT_RW_VA, 0x1000, H_READER, VMS_LEASE_WRITE, 0,
     VMS_ERR_CONFLICT},
    {"acquire_reader_over_writer", OP_ACQUIRE, CAT_RW_VA + 0x1000, 0x1000, H_WRITER, VMS_LEASE_READ,
     0, VMS_ERR_CONFLICT},
    {"acquire_reader_over_reader_exclusive", OP_ACQUIRE, CAT_RW_VA, 0x2000, H_READER,
     VMS_LEASE_READ, 0, VMS_ERR_CONFLICT},
    {"acquire_over_hole", OP_ACQUIRE, CAT_2M_VA + 0x1ff000, 0x2000, 0, VMS_LEASE_READ, 0,
     VMS_ERR_NOENT},
    {"acquire_writer_on_readonly", OP_ACQUIRE, CAT_RO_VA, 0x1000, 0, VMS_LEASE_WRITE, 0,
     VMS_ERR_PERM},
    {"acquire_reader_on_no_access", OP_ACQUIRE, CAT_NA_VA, 0x1000, 0, VMS_LEASE_READ, 0,
     VMS_ERR_PERM},
    /* Handles: stale and forged. */
    {"release_stale", OP_RELEASE, 0, 0, 0, H_STALE, 0, VMS_ERR_STALE},
    {"release_zero", OP_RELEASE, 0, 0, 0, H_ZERO, 0, VMS_ERR_STALE},
    {"release_generation_0", OP_RELEASE, 0, 0, 0, H_GEN0, 0, VMS_ERR_STALE},
    {"release_slot_out_of_range", OP_RELEASE, 0, 0, 0, H_SLOT_OUT, 0, VMS_ERR_STALE},
    {"release_wrong_generation", OP_RELEASE, 0, 0, 0, H_GEN_WRONG, 0, VMS_ERR_STALE},
    {"release_random", OP_RELEASE, 0, 0, 0, H_RANDOM, 0, VMS_ERR_STALE},
    {"info_stale", OP_INFO, 0, 0, 0, H_STALE, 0, VMS_ERR_STALE},
    {"lease_read_stale", OP_LEASE_READ, CAT_RW_VA + 0x2000, 8, 0, H_STALE, 0, VMS_ERR_STALE},
    {"lease_read_inactive", OP_LEASE_READ_INACTIVE, CAT_RW_VA, 8, 0, H_READER, 0, VMS_ERR_INACTIVE},
    {"lease_write_through_reader", OP_LEASE_WRITE, CAT_RW_VA, 8, 0, H_READER, 0, VMS_ERR_PERM},
    {"lease_read_outside", OP_LEASE_READ, CAT_RW_VA + 0x1000, 8, 0, H_READER, 0, VMS_ERR_RANGE},
    {"lease_write_past_end", OP_LEASE_WRITE, CAT_RW_VA + 0x1ff8, 16, 0, H_WRITER, 0, VMS_ERR_RANGE},
    {"lease_read_len_zero_outside", OP_LEASE_READ, CAT_RW_VA + 0x1000, 0, 0, H_READER, 0,
     VMS_ERR_RANGE},
    /* Guarded mutations. */
    {"owner_unmap_under_reader", OP_OWNER_UNMAP, CAT_RW_VA, 0x4000, H_READER, 0, 0, VMS_ERR_BUSY},
    {"owner_protect_under_writer", OP_OWNER_PROTECT, CAT_RW_VA + 0x1000, 0x1000, H_WRITER, VMS_R, 0,
     VMS_ERR_BUSY},
    {"owner_replace_under_writer", OP_OWNER_MAP, CAT_RW_VA + 0x1000, 0x1000, H_WRITER, VMS_R,
     VMS_MAP_REPLACE, VMS_ERR_BUSY},
    {"owner_map_noncanonical", OP_OWNER_MAP, NONCANON4, 0x1000, 0, VMS_R, 0, VMS_ERR_NONCANON},
    {"owner_map_exist_without_replace", OP_OWNER_MAP, CAT_RW_VA, 0x1000, 0, VMS_R, 0,
     VMS_ERR_EXIST},
    {"owner_unmap_len_zero", OP_OWNER_UNMAP, CAT_RW_VA, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"owner_move_under_reader", OP_OWNER_MOVE, CAT_RW_VA, 0x1000, H_READER, 0, 0, VMS_ERR_BUSY},
    {"owner_move_len_zero", OP_OWNER_MOVE, CAT_RW_VA, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"owner_collapse_under_writer", OP_OWNER_COLLAPSE, CAT_RW_VA + 0x1000, 0x1000, H_WRITER, 0, 0,
     VMS_ERR_BUSY},
    {"owner_collapse_bad_flags", OP_OWNER_COLLAPSE, CAT_RW_VA, 0x1000, 0, 0, VMS_MAP_REPLACE,
     VMS_ERR_FLAGS},
    {"owner_protect_bad_cache", OP_OWNER_PROTECT, CAT_2M_VA, 0x1000, 0, VMS_CACHE_PAT(8), 0,
     VMS_ERR_CACHE},
    {"owner_destroy_with_leases", OP_OWNER_DESTROY, 0, 0, 0, 0, 0, VMS_ERR_BUSY},
    {"owner_init_one_alloc_hook", OP_OWNER_INIT_ALLOC, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"owner_init_null_space", OP_OWNER_INIT_NULL, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    {"itree_init_one_free_hook", OP_ITREE_INIT_ALLOC, 0, 0, 0, 0, 0, VMS_ERR_ARG},
    /* Share groups. */
    {"share_init_not_whole_slots", OP_SHARE_INIT, 0xffff800000000000ull, 1ull << 30, 0, 0, 0,
     VMS_ERR_ALIGN},
    {"share_init_va_in_a_slot", OP_SHARE_INIT, 0xffff800040000000ull, 1ull << 39, 0, 0, 0,
     VMS_ERR_ALIGN},
    {"share_init_noncanonical", OP_SHARE_INIT, NONCANON4, 1ull << 39, 0, 0, 0, VMS_ERR_NONCANON},
    {"share_init_len_zero", OP_SHARE_INIT, 0xffff800000000000ull, 0, 0, 0, 0, VMS_ERR_ZEROLEN},
    {"share_init_crosses_hole", OP_SHARE_INIT, 0x7f8000000000ull, 1ull << 40, 0, 0, 0,
     VMS_ERR_OVERFLOW},
    {"share_init_null_group", OP_SHARE_INIT, 0xffff800000000000ull, 1ull << 39, 0, 0, 1,
     VMS_ERR_ARG},
    {"share_init_twice", OP_SHARE_INIT_TWICE, 0, 0, 0, 0, 0, VMS_ERR_SHARED},
    {"share_join_no_members", OP_SHARE_JOIN, 0, 0, 0, 4, 0, VMS_ERR_ARG},
    {"share_join_other_memory", OP_SHARE_JOIN, 0, 0, 0, 4, 1, VMS_ERR_MISMATCH},
    {"share_join_other_levels", OP_SHARE_JOIN, 0, 0, 0, 5, 2, VMS_ERR_LEVELS},
    {"share_join_maps_there", OP_SHARE_JOIN, 0, 0, 0, 4, 3, VMS_ERR_EXIST},
    {"share_leave_not_sharing", OP_SHARE_LEAVE, 0, 0, 0, 0, 0, VMS_ERR_ARG},
};

static vms_lease_t cat_handle(uint32_t sel) {
    vms_lease_t h;
    switch (sel) {
    case H_READER: return F.reader;
    case H_WRITER: return F.writer;
    case H_STALE: return F.stale;
    case H_ZERO: h.id = 0; return h;
    case H_GEN0: h.id = F.reader.id & 0xffffffffu; return h;
    case H_SLOT_OUT: h.id = (F.reader.id & ~(uint64_t)0xffffffffu) | 0x7fffffffu; return h;
    case H_GEN_WRONG: h.id = F.reader.id + ((uint64_t)7 << 32); return h;
    default: h.id = 0x123456789abcdefull; return h;
    }
}

static void *cat_alloc(void *u, size_t n) {
    (void)u;
    return malloc(n);
}
static void cat_free(void *u, void *p, size_t n) {
    (void)u;
    (void)n;
    free(p);
}

static uint8_t cat_page[4096] __attribute__((aligned(4096)));

/* A group over the upper half of a space of its own (its own arena), which a space joins:
 * f = 0 F.s joins a zeroed group; 1 F.s (another arena) joins; 2 a space of `levels`
 * levels joins; 3 a space on the group's arena that maps into the range joins. */
static int cat_share_join(uint32_t f, int levels) {
    vms_space_t a, b;
    vms_share_t g;
    vms_provider_t prov;
    vms_space_desc_t d;
    int rc;
    memset(&g, 0, sizeof g);
    if (f == 0) return vms_share_join(&g, &F.s);
    cr_assert(eq(int, vt_space_init(&a, 4, (uint64_t)8 << 20), VMS_OK));
    cr_assert(eq(int, vms_share_init(&g, &a, 0xffff800000000000ull, 1ull << 47), VMS_OK));
    if (f == 1) {
        rc = vms_share_join(&g, &F.s);
    } else {
        prov = vms_arena_provider(&a.arena);
        memset(&d, 0, sizeof d);
        d.levels = levels;
        d.provider = &prov;
        cr_assert(eq(int, vms_space_init(&b, &d), VMS_OK));
        if (f == 3)
            cr_assert(eq(int, vms_space_map(&b, 0xffffc00000000000ull, 0x1000, 0x1000, VMS_R, 0),
                         VMS_OK));
        rc = vms_share_join(&g, &b);
        cr_assert(eq(int, vms_space_destroy(&b), VMS_OK));
    }
    cr_assert(eq(int, vms_space_destroy(&a), VMS_OK));
    return rc;
}

static int cat_run(const cat_row_t *r, vms_lease_t *blocker) {
    vms_cursor_t c;
    vms_mapping_t m;
    vms_copy_result_t cr;
    uint8_t buf[128];
    uint64_t pa = 0, found = 0;
    int rc;
    memset(buf, 0x5a, sizeof buf);
    blocker->id = 99;
    switch (r->op) {
    case OP_MAP: return vms_space_map(&F.s, r->a, r->c, r->b, r->p, r->f);
    case OP_UNMAP: return vms_space_unmap(&F.s, r->a, r->b);
    case OP_MOVE: return vms_space_move(&F.s, r->a, r->c, r->b);
    case OP_COLLAPSE: return vms_space_collapse(&F.s, r->a, r->b, r->f, NULL);
    case OP_PROTECT: return vms_space_protect(&F.s, r->a, r->b, r->p);
    case OP_QUERY: return vms_space_query(&F.s, r->a, &m);
    case OP_CHECK_RANGE: return vms_space_check_range(&F.s, r->a, r->b);
    case OP_CURSOR_OPEN: return vms_cursor_open(&c, &F.s, r->a, r->b);
    case OP_CURSOR_JUMP:
    case OP_CURSOR_MAP:
    case OP_CURSOR_MAP_RANGE:
    case OP_CURSOR_FIND:
    case OP_CURSOR_UNMAP:
    case OP_CURSOR_PROTECT:
    case OP_CURSOR_PROTECT_NEXT:
    case OP_CURSOR_QUERY_END: {
        /* A cursor over the 4 MiB around a, at a; the jump rows use [CAT_RW_VA, +4 MiB),
         * the 1 GiB row one page at a, the end row one mapped page. */
        uint64_t start = r->a & ~(uint64_t)0x3fffff, len = 0x400000;
        if (r->op == OP_CURSOR_JUMP) start = CAT_RW_VA;
        if (r->op == OP_CURSOR_MAP && r->c == VMS_PAGE_1G) start = r->a, len = 0x1000;
        if (r->op == OP_CURSOR_QUERY_END) start = r->a, len = r->b;
        cr_assert(eq(int, vms_cursor_open(&c, &F.s, start, len), VMS_OK));
        if (r->op != OP_CURSOR_JUMP && r->a != start)
            cr_assert(eq(int, vms_cursor_jump(&c, r->a), VMS_OK));
        switch (r->op) {
        case OP_CURSOR_JUMP: rc = vms_cursor_jump(&c, r->a); break;
        case OP_CURSOR_MAP: rc = vms_cursor_map(&c, r->b, r->c, r->p, r->f); break;
        case OP_CURSOR_MAP_RANGE: rc = vms_cursor_map_range(&c, r->b, r->c, r->p, r->f); break;
        case OP_CURSOR_FIND: rc = vms_cursor_find_next(&c, r->b, &found); break;
        case OP_CURSOR_UNMAP: rc = vms_cursor_unmap(&c, r->b, NULL); break;
        case OP_CURSOR_PROTECT: rc = vms_cursor_protect(&c, r->b, r->p); break;
        case OP_CURSOR_PROTECT_NEXT: rc = vms_cursor_protect_next(&c, r->b, r->p, &m); break;
        default:
            cr_assert(vms_cursor_next(&c, &m)); /* moves past the page: the cursor's end */
            rc = vms_cursor_query(&c, &m);
            break;
        }
        vms_cursor_close(&c);
        return rc;
    }
    case OP_SPACE_INIT_LEVELS: {
        vms_space_t t;
        vms_space_desc_t d;
        memset(&d, 0, sizeof d);
        d.levels = (int)r->a;
        rc = vms_space_init(&t, &d);
        if (rc == VMS_OK) vms_space_destroy(&t);
        return rc;
    }
    case OP_SPACE_INIT_PROVIDER: {
        vms_space_t t;
        vms_space_desc_t d;
        vms_provider_t p;
        memset(&d, 0, sizeof d);
        memset(&p, 0, sizeof p);
        d.provider = &p;
        return vms_space_init(&t, &d);
    }
    case OP_ARENA_INIT: {
        vms_arena_t a;
        vms_arena_desc_t d;
        memset(&d, 0, sizeof d);
        if (r->b) d.phys_base = r->b;
        d.size = r->a;
        /* c = 1: misaligned memory; 2: an aligned page (the row fails before any write). */
        if (r->c) d.memory = r->c == 1 ? (void *)(buf + 1) : (void *)cat_page;
        rc = vms_arena_init(&a, &d);
        if (rc == VMS_OK) vms_arena_destroy(&a);
        return rc;
    }
    case OP_ALLOC_DATA: return vms_arena_alloc_data(&F.s.arena, r->a, r->b, &pa);
    case OP_ACTIVATE: return vms_space_activate(&F.s, (int)(int64_t)r->a);
    case OP_DEACTIVATE: return vms_space_deactivate(&F.s, (int)(int64_t)r->a);
    case OP_DESTROY_ACTIVE: {
        uint64_t d0;
        cr_assert(eq(int, vms_space_activate(&F.s, (int)r->a), VMS_OK));
        d0 = cat_digest();
        rc = vms_space_destroy(&F.s);
        cr_expect(eq(u64, cat_digest(), d0), "destroy while active changed the space");
        cr_assert(eq(int, vms_space_deactivate(&F.s, (int)r->a), VMS_OK));
        return rc;
    }
    case OP_NO_MACHINE: {
        vms_space_t t;
        vms_space_desc_t d;
        vms_machine_t other;
        memset(&d, 0, sizeof d);
        d.arena.size = 1 << 20;
        vms_machine_init(&other);
        cr_assert(eq(int, vms_space_init(&t, &d), VMS_OK));
        if (r->a == 0)
            rc = vms_space_activate(&t, 0);
        else if (r->a == 1)
            rc = vms_space_deactivate(&t, 0);
        else if (r->a == 2)
            rc = vms_space_attach(&t, NULL);
        else
            rc = vms_space_attach(&t, &other) == VMS_OK ? vms_space_attach(&t, &other) : -1;
        cr_expect(eq(ptr, (void *)vms_machine_current(&other, 0), NULL));
        cr_expect(eq(u64, t.active_cpus, 0));
        cr_expect(eq(int, vms_space_destroy(&t), VMS_OK));
        return rc;
    }
    case OP_COPY_FROM: return vms_copy_from(&F.s, buf, r->a, r->b, &cr);
    case OP_COPY_TO: return vms_copy_to(&F.s, r->a, buf, r->b, &cr);
    case OP_FILL: return vms_fill(&F.s, r->a, 0x77, r->b, &cr);
    case OP_READ_VAL: return vms_read_val(&F.s, r->a, buf, r->b, &cr);
    case OP_WRITE_VAL: {
        /* All or nothing: the writable half must not have been written either. */
        uint8_t before[16];
        if (r->b <= 16) (void)vms_copy_from(&F.s, before, r->a, 8, NULL); /* may fault */
        rc = vms_write_val(&F.s, r->a, buf, r->b, &cr);
        if (r->b <= 16) {
            uint8_t after[16];
            (void)vms_copy_from(&F.s, after, r->a, 8, NULL);
            cr_expect(eq(int, memcmp(before, after, 8), 0), "write_val wrote part of a value");
        }
        return rc;
    }
    case OP_SAVE_PROVIDER: {
        vt_fprov_t fp;
        vms_space_t t;
        vms_space_desc_t d;
        cr_assert(eq(int, vt_fprov_init(&fp, (uint64_t)4 << 20), VMS_OK));
        memset(&d, 0, sizeof d);
        d.provider = &fp.prov;
        cr_assert(eq(int, vms_space_init(&t, &d), VMS_OK));
        rc = vms_space_save(&t, "vms_catalogue_never_written");
        cr_expect(eq(int, access("vms_catalogue_never_written", F_OK), -1));
        vms_space_destroy(&t);
        vt_fprov_destroy(&fp);
        return rc;
    }
    case OP_SAVE_NULL_PATH: return vms_space_save(&F.s, NULL);
    case OP_SAVE_MEM_PROVIDER: {
        vt_fprov_t fp;
        vms_space_t t;
        vms_space_desc_t d;
        uint8_t img[64];
        size_t len = 7;
        cr_assert(eq(int, vt_fprov_init(&fp, (uint64_t)4 << 20), VMS_OK));
        memset(&d, 0, sizeof d);
        d.provider = &fp.prov;
        cr_assert(eq(int, vms_space_init(&t, &d), VMS_OK));
        memset(img, 0x5c, sizeof img);
        rc = vms_space_save_mem(&t, img, sizeof img, &len);
        cr_expect(eq(sz, len, 7), "the length was written");
        cr_expect(eq(u8, img[0], 0x5c), "the image was written");
        vms_space_destroy(&t);
        vt_fprov_destroy(&fp);
        return rc;
    }
    case OP_LOAD_MISSING: {
        vms_space_t t;
        return vms_space_load(&t, "vms_catalogue_no_such_file/none");
    }
    case OP_LOAD: {
        vms_space_t t;
        const char *path = cat_saved((int)r->a);
        rc = vms_space_load(&t, path);
        if (rc == VMS_OK) vms_space_destroy(&t);
        remove(path);
        return rc;
    }
    case OP_ACQUIRE:
    case OP_ACQUIRE_INACTIVE: {
        vms_lease_t out;
        if (r->op == OP_ACQUIRE_INACTIVE) vms_owner_set_active(&F.o, false);
        rc = vms_lease_acquire(&F.o, (vms_lease_kind)r->p, r->a, r->b, &out, blocker);
        if (r->op == OP_ACQUIRE_INACTIVE) vms_owner_set_active(&F.o, true);
        cr_expect(eq(u64, out.id, VMS_LEASE_INVALID_ID), "handle on failure");
        if (rc == VMS_OK) cr_expect(eq(int, vms_lease_release(&F.o, out), VMS_OK));
        return rc;
    }
    case OP_RELEASE: return vms_lease_release(&F.o, cat_handle(r->p));
    case OP_INFO: {
        vms_lease_info_t info;
        return vms_lease_info(&F.o, cat_handle(r->p), &info);
    }
    case OP_LEASE_READ: return vms_lease_read(&F.o, cat_handle(r->p), r->a, buf, r->b);
    case OP_LEASE_READ_INACTIVE:
        vms_owner_set_active(&F.o, false);
        rc = vms_lease_read(&F.o, cat_handle(r->p), r->a, buf, r->b);
        vms_owner_set_active(&F.o, true);
        return rc;
    case OP_LEASE_WRITE: return vms_lease_write(&F.o, cat_handle(r->p), r->a, buf, r->b);
    case OP_OWNER_MAP: return vms_owner_map(&F.o, r->a, F.data_pa, r->b, r->p, r->f, blocker);
    case OP_OWNER_UNMAP: return vms_owner_unmap(&F.o, r->a, r->b, blocker);
    case OP_OWNER_PROTECT: return vms_owner_protect(&F.o, r->a, r->b, r->p, blocker);
    case OP_OWNER_MOVE: return vms_owner_move(&F.o, r->a, CAT_HOLE_VA, r->b, blocker);
    case OP_OWNER_COLLAPSE: return vms_owner_collapse(&F.o, r->a, r->b, r->f, NULL, blocker);
    case OP_OWNER_DESTROY: return vms_owner_destroy(&F.o);
    case OP_OWNER_INIT_ALLOC: {
        vms_owner_t o2;
        vms_owner_desc_t d;
        memset(&d, 0, sizeof d);
        d.allocator.alloc = cat_alloc;
        return vms_owner_init(&o2, &F.s, &d);
    }
    case OP_SHARE_INIT: {
        vms_share_t g;
        return vms_share_init(r->f ? NULL : &g, &F.s, r->a, r->b);
    }
    case OP_SHARE_INIT_TWICE: {
        vms_space_t a;
        vms_share_t g, h;
        cr_assert(eq(int, vt_space_init(&a, 4, (uint64_t)8 << 20), VMS_OK));
        cr_assert(eq(int, vms_share_init(&g, &a, 0xffff800000000000ull, 1ull << 39), VMS_OK));
        rc = vms_share_init(&h, &a, 0xffffc00000000000ull, 1ull << 39);
        cr_assert(eq(int, vms_space_destroy(&a), VMS_OK));
        return rc;
    }
    case OP_SHARE_JOIN: return cat_share_join(r->f, (int)r->p);
    case OP_SHARE_LEAVE: return vms_share_leave(&F.s);
    case OP_OWNER_INIT_NULL: {
        vms_owner_t o2;
        return vms_owner_init(&o2, NULL, NULL);
    }
    case OP_ITREE_INIT_ALLOC: {
        vms_itree_t t;
        vms_allocator_t a;
        memset(&a, 0, sizeof a);
        a.free = cat_free; /* without alloc */
        return vms_itree_init(&t, &a);
    }
    default: cr_fatal("unknown op %d", r->op);
    }
    return 0;
}

/* ---- the tests ---- */

ParameterizedTestParameters(catalogue, bad_input) {
    return cr_make_param_array(cat_row_t, cat_rows, sizeof cat_rows / sizeof cat_rows[0]);
}

ParameterizedTest(cat_row_t *r, catalogue, bad_input, .init = cat_setup, .fini = cat_teardown) {
    uint64_t before = cat_digest();
    vms_lease_t blk;
    int rc = cat_run(r, &blk);
    cr_expect(eq(str, (char *)vms_err_name(rc), (char *)vms_err_name(r->want)), "row %s", r->name);
    if ((r->want == VMS_ERR_CONFLICT || r->want == VMS_ERR_BUSY) && r->op != OP_OWNER_DESTROY)
        cr_expect(eq(u64, blk.id, cat_handle((uint32_t)r->c).id), "row %s: blocker", r->name);
    else if (r->op == OP_OWNER_MAP || r->op == OP_OWNER_UNMAP || r->op == OP_OWNER_PROTECT ||
             r->op == OP_OWNER_MOVE || r->op == OP_OWNER_COLLAPSE ||
             (r->op == OP_ACQUIRE && r->want != VMS_ERR_ARG))
        cr_expect(eq(u64, blk.id, VMS_LEASE_INVALID_ID), "row %s: blocker set", r->name);
    cr_expect(eq(u64, cat_digest(), before), "row %s changed the fixture", r->name);
#ifdef VMSPACE_DEBUG
    cr_expect(eq(ptr, (void *)vms_space_check(&F.s), NULL), "row %s: space check", r->name);
    cr_expect(eq(ptr, (void *)vms_owner_check(&F.o), NULL), "row %s: owner check", r->name);
#endif
}

/* The table names every error code of both headers at least once, and has at least 40 rows.
 * TAMPERED is the exception: it is not refused input (the release still ends the lease) but
 * a debug finding, tested in test_owner_checker's write_under_a_reader. */
Test(catalogue, every_error_code_has_a_row) {
    size_t n = sizeof cat_rows / sizeof cat_rows[0];
    cr_expect(ge(sz, n, 40));
    for (int code = 1; code <= VMS__ERR_COUNT; code++) {
        bool seen = false;
        if (-code == VMS_ERR_TAMPERED) continue;
        for (size_t i = 0; i < n; i++) seen |= cat_rows[i].want == -code;
        cr_expect(seen, "no catalogue row expects %s", vms_err_name(-code));
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_expect(ne(str, (char *)cat_rows[i].name, (char *)cat_rows[j].name));
}

/* A destroyed space is all zeros (no dangling root, hooks or arena) and can be initialised
 * again; every other call on it is outside the contract and not tested. */
Test(catalogue, destroyed_space_is_zero_and_reinitialisable) {
    vms_space_t s, zero;
    uint64_t pa;
    memset(&zero, 0, sizeof zero);
    cr_assert(eq(int, vt_space_init(&s, 5, (uint64_t)8 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x200000, 0x200000, 0x200000, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
    cr_expect(eq(int, memcmp(&s, &zero, sizeof s), 0), "destroy leaves a zeroed space");
    cr_assert(eq(int, vt_space_init(&s, 4, (uint64_t)8 << 20), VMS_OK));
    cr_expect(not(vms_translate(&s, 0x200000, &pa)), "a new space is empty");
    cr_expect(eq(u64, vt_table_pages(&s), 1));
    cr_expect(eq(int, vms_space_destroy(&s), VMS_OK));
}
