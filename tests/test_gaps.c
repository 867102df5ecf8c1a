/* Behaviour that mutation testing found unpinned. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "support/vt_cr.h"
#include "vmspace_owner.h"

/* Destroying an arena on the caller's memory gives the memory back untouched: it is not
 * unmapped, and stays the caller's to use. */
Test(gaps, arena_destroy_leaves_callers_memory_mapped) {
    const uint64_t size = 2 * VT_SZ_2M;
    uint8_t *mem = (uint8_t *)aligned_alloc(VT_SZ_2M, (size_t)size);
    cr_assert(ne(ptr, mem, NULL));
    vms_arena_desc_t ad = {size, 0, mem};
    vms_arena_t a;
    cr_assert(eq(int, vms_arena_init(&a, &ad), VMS_OK));
    vms_arena_destroy(&a);
    memset(mem, 0x3c, (size_t)size); /* faults if the pages were unmapped */
    cr_expect(eq(u8, mem[size - 1], 0x3c));
    free(mem);
}

/* An image whose arena base is 2 MiB aligned plus one byte is refused as a corrupt file. */
Test(gaps, image_base_not_2m_aligned) {
    vms_space_t s, ld;
    char path[64];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/vmspace-gaps-XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    cr_assert(ge(int, fd, 0));
    close(fd);
    cr_assert(eq(int, vt_space_init(&s, 4, 2 << 20), VMS_OK));
    cr_assert(eq(int, vms_space_map(&s, 0x10000000, 0x5000, VT_SZ_4K, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_save(&s, path), VMS_OK));
    vms_space_destroy(&s);
    FILE *f = fopen(path, "rb");
    cr_assert(ne(ptr, f, NULL));
    uint8_t *b = (uint8_t *)malloc(1 << 20);
    size_t n = fread(b, 1, 1 << 20, f);
    fclose(f);
    unlink(path);
    cr_assert(eq(int, vms_space_load_mem(&ld, b, n), VMS_OK));
    vms_space_destroy(&ld);
    uint64_t base = 0;
    memcpy(&base, b + 24, 8); /* phys_base (little-endian hosts only run these tests) */
    for (uint64_t delta = 1; delta <= 0x1000; delta <<= 12) {
        uint64_t v = base + delta;
        memcpy(b + 24, &v, 8);
        int rc = vms_space_load_mem(&ld, b, n);
        cr_expect(eq(int, rc, VMS_ERR_FORMAT), "base + %llu: %s", VT_ULL(delta), vms_err_name(rc));
        if (rc == VMS_OK) vms_space_destroy(&ld);
    }
    memcpy(b + 24, &base, 8);
    free(b);
}

/* A destroyed range tree reads as empty. */
Test(gaps, itree_destroyed_is_empty) {
    vms_itree_t t;
    vms_itree_entry_t e;
    vms_itree_iter_t it;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    for (uint32_t i = 0; i < 100; i++)
        cr_assert(eq(int, vms_itree_insert(&t, 10u * i, 10u * i + 9, i + 1), VMS_OK));
    vms_itree_destroy(&t);
    cr_expect(not(vms_itree_first_overlap(&t, 0, UINT64_MAX, &e)));
    cr_expect(not(vms_itree_iter_first(&t, 0, UINT64_MAX, &it, &e)));
    cr_expect(eq(u32, vms_itree_nodes_live(&t), 0));
}

/* An iteration that stops inside the tree says it has finished (depth -1). */
Test(gaps, itree_iteration_marks_its_end) {
    vms_itree_t t;
    vms_itree_entry_t e;
    vms_itree_iter_t it;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    for (uint32_t i = 0; i < 200; i++)
        cr_assert(eq(int, vms_itree_insert(&t, 10u * i, 10u * i + 9, i + 1), VMS_OK));
    int n = 0;
    for (bool ok = vms_itree_iter_first(&t, 300, 1005, &it, &e); ok;
         ok = vms_itree_iter_next(&it, &e))
        n++;
    cr_expect(eq(int, n, 71), "entries 30..100 overlap [300, 1005]");
    cr_expect(eq(int, it.depth, -1));
    cr_expect(not(vms_itree_iter_next(&it, &e)));
    /* Every end point: some stop at a leaf's last key, where the walk ends in the parent
     * (the next child starts after the range). */
    for (uint32_t k = 0; k < 200; k++) {
        n = 0;
        for (bool ok = vms_itree_iter_first(&t, 0, 10u * k + 9, &it, &e); ok;
             ok = vms_itree_iter_next(&it, &e))
            n++;
        cr_expect(eq(int, n, (int)k + 1));
        cr_expect(eq(int, it.depth, -1), "iteration up to entry %u did not mark its end", k);
    }
    vms_itree_destroy(&t);
}

/* An allocator that returns byte-aligned memory (one past a 64-byte boundary): the slab still
 * starts on a cache line inside what it was given, and each node keeps its bytes. */
typedef struct odd_alloc_s {
    unsigned char *base[8];
    void *given[8];
    size_t n;
} odd_alloc_t;

static void *odd_alloc(void *user, size_t size) {
    odd_alloc_t *a = user;
    cr_assert(lt(sz, a->n, (size_t)8));
    unsigned char *b = aligned_alloc(64, (size + 128 + 63) & ~(size_t)63);
    cr_assert(not(eq(ptr, b, NULL)));
    a->base[a->n] = b;
    a->given[a->n] = b + 1;
    return a->given[a->n++];
}

static void odd_free(void *user, void *p, size_t size) {
    odd_alloc_t *a = user;
    (void)size;
    for (size_t i = 0; i < a->n; i++)
        if (a->given[i] == p) {
            free(a->base[i]);
            a->given[i] = NULL;
            return;
        }
    cr_assert(false, "freed a pointer the allocator never gave");
}

Test(gaps, itree_slab_aligned_inside_a_byte_aligned_allocation) {
    odd_alloc_t oa;
    memset(&oa, 0, sizeof oa);
    vms_allocator_t al = {odd_alloc, odd_free, &oa};
    vms_itree_t t;
    vms_itree_entry_t e;
    cr_assert(eq(int, vms_itree_init(&t, &al), VMS_OK));
    for (uint32_t i = 0; i < 300; i++)
        cr_assert(eq(int, vms_itree_insert(&t, 10u * i, 10u * i + 9, i + 1), VMS_OK));
    uintptr_t given = (uintptr_t)oa.given[oa.n - 1], nodes = (uintptr_t)t.nodes;
    cr_expect(eq(u64, nodes % 64, 0), "nodes on a cache line");
    cr_expect(ge(u64, nodes, given), "the slab starts inside the allocation");
    cr_expect(lt(u64, nodes - given, 64));
    cr_expect(vms_itree_first_overlap(&t, 2995, 2995, &e));
    cr_expect(eq(u32, e.ref, 300));
    vms_itree_destroy(&t);
}
