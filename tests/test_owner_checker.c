/* Negative tests of the invariant checker: break one thing at a time, around the owner, and
 * the check must name the clause that broke. Also: the check after an owner operation calls
 * the hook (or aborts), a reader whose bytes were written around the owner is reported on
 * release, and a build without VMSPACE_DEBUG contains none of the clause names. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"

#define PG VMS_PAGE_4K
#define BASE ((uint64_t)0x40000000)

/* Every clause name the owner's checker can return (the core's vms_space_check adds its own
 * for the tables). */
static const char *const owner_clauses[] = {
    "tree_nodes",
    "tree_balance",
    "tree_fill",
    "tree_order",
    "tree_max",
    "tree_count",
    "pt_mappings_disjoint",
    "registry_counts",
    "registry_ids",
    "registry_ranges",
    "writers_disjoint",
    "readers_writers_disjoint",
    "readers_disjoint",
    "remaining_view_is_total_minus_writers",
    "writer_view_agrees",
    "reader_view_agrees",
    "reader_bytes_unchanged",
};

/* Compile the headers (implementation included) to an object file with the given flags and
 * report which clause names its bytes contain. Returns -1 if the sources or the compiler are
 * not available, else the number of names found. */
static int clauses_in_object(const char *flags, char *found, size_t found_size) {
    char dir[1024], cmd[8192], src[1100];
    const char *file = __FILE__, *slash, *cc = getenv("CC"), *tmp = getenv("TMPDIR");
    const char *env = getenv("VMSPACE_SOURCE_DIR");
    FILE *fp;
    int fd, n = 0;
    found[0] = 0;
    /* The source tree: from this file's path (absolute in CMake builds), else the env. */
    slash = strrchr(file, '/');
    if (file[0] == '/' && slash && (size_t)(slash - file) < sizeof dir - 4) {
        memcpy(dir, file, (size_t)(slash - file));
        dir[slash - file] = 0;
        strcat(dir, "/..");
    } else if (env && strlen(env) < sizeof dir) {
        strcpy(dir, env);
    } else {
        return -1;
    }
    snprintf(cmd, sizeof cmd, "%s/vmspace_owner.h", dir);
    if (!(fp = fopen(cmd, "r"))) return -1;
    fclose(fp);
    snprintf(src, sizeof src, "%s/vms_owner_rel_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    fd = mkstemp(src);
    if (fd < 0) return -1;
    fp = fdopen(fd, "w");
    fputs("#define VMSPACE_IMPLEMENTATION\n#include \"vmspace.h\"\n"
          "#include \"vmspace_owner.h\"\nint vms_owner_probe(void);\n"
          "int vms_owner_probe(void) { return (int)sizeof(vms_owner_t); }\n",
          fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "%s -std=c11 -O2 %s -I'%s' -x c -c '%s' -o '%s.o'",
             cc && *cc ? cc : "cc", flags, dir, src, src);
    if (system(cmd) != 0) {
        remove(src);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "%s.o", src);
    fp = fopen(cmd, "rb");
    remove(src);
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    cr_assert(buf != NULL);
    cr_assert(eq(sz, fread(buf, 1, (size_t)size, fp), (size_t)size));
    fclose(fp);
    remove(cmd);
    for (size_t i = 0; i < sizeof owner_clauses / sizeof owner_clauses[0]; i++) {
        size_t len = strlen(owner_clauses[i]);
        for (long j = 0; j + (long)len <= size; j++) {
            if (memcmp(buf + j, owner_clauses[i], len) == 0) {
                n++;
                if (strlen(found) + len + 2 < found_size) {
                    strcat(found, owner_clauses[i]);
                    strcat(found, " ");
                }
                break;
            }
        }
    }
    free(buf);
    return n;
}

/* Without VMSPACE_DEBUG none of the checker exists in the compiled code: not one clause name
 * is in a release object, while a debug object has all of them (which shows the scan works).
 * This test does not depend on how the suite itself was built. */
Test(owner_checker, release_build_has_no_checker, .timeout = 120) {
    char found[2048];
    int rel = clauses_in_object("", found, sizeof found);
    if (rel < 0) cr_skip_test("sources or compiler not found (set VMSPACE_SOURCE_DIR)");
    cr_expect(eq(int, rel, 0), "release object contains: %s", found);
    int dbg = clauses_in_object("-DVMSPACE_DEBUG=1", found, sizeof found);
    cr_assert(ge(int, dbg, 0));
    cr_expect(eq(int, dbg, (int)(sizeof owner_clauses / sizeof owner_clauses[0])),
              "debug object has only: %s", found);
}

/* ---- fixture (every build) ---- */

typedef struct fx_s {
    vms_space_t s;
    vms_owner_t o;
    uint64_t data_pa;
    const char *hook_clause;
    int hook_calls;
} fx_t;

static void record(void *user, const char *clause) {
    fx_t *f = user;
    f->hook_calls++;
    if (!f->hook_clause) f->hook_clause = clause;
}

/* Pages 0..63 read-write on frames 0..63 (of 128). */
static void fx_init(fx_t *f, bool shared, bool hook) {
    vms_owner_desc_t d;
    memset(f, 0, sizeof *f);
    memset(&d, 0, sizeof d);
    d.shared_reader = shared;
    if (hook) {
        d.check_failed = record;
        d.check_user = f;
    }
    cr_assert(eq(int, vt_space_init(&f->s, 4, 32u << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&f->s.arena, 128 * PG, PG, &f->data_pa), VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, BASE, f->data_pa, 64 * PG, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_owner_init(&f->o, &f->s, &d), VMS_OK));
}

/* Free everything without trusting the (possibly corrupted) state: drop the trees, then the
 * owner (now without leases) and the space. */
static void fx_free(fx_t *f) {
    vms_itree_destroy(&f->o.readers);
    vms_itree_destroy(&f->o.writers);
    cr_assert(eq(int, vms_owner_destroy(&f->o), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&f->s), VMS_OK));
}

static vms_lease_t take(fx_t *f, vms_lease_kind k, uint64_t page, uint64_t n) {
    vms_lease_t l, b;
    cr_assert(eq(int, vms_lease_acquire(&f->o, k, BASE + page * PG, n * PG, &l, &b), VMS_OK));
    return l;
}

static uint32_t slot_of(vms_lease_t l) { return (uint32_t)(l.id & 0xffffffffu); }

/* Under VMSPACE_DEBUG the full check passes; nothing to check in other builds. */
static void check_clean(const vms_owner_t *o) {
#ifdef VMSPACE_DEBUG
    const char *got = vms_owner_check(o);
    cr_assert(got == NULL, "check failed: %s", got ? got : "");
#else
    (void)o;
#endif
}

/* ---- owner paths that only changes around the owner, forged handles or limits reach ---- */

/* A copy through a lease whose tables changed around the owner fails with VMS_ERR_FAULT after
 * copying the bytes before the bad page; an empty copy is in range only inside the lease. */
Test(owner_checker, copies_fault_after_changes_around_the_owner) {
    fx_t f;
    unsigned char buf[2 * PG], src[2 * PG];
    fx_init(&f, false, true);
    unsigned char *frames = vms_arena_ptr(&f.s.arena, f.data_pa);
    cr_assert(frames != NULL);
    memset(frames + 2 * PG, 0xa5, 2 * PG);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 2, 2);
    vms_lease_t w = take(&f, VMS_LEASE_WRITE, 8, 2);
    cr_expect(eq(int, vms_lease_read(&f.o, r, BASE + 2 * PG, buf, 0), VMS_OK));
    cr_expect(eq(int, vms_lease_read(&f.o, r, BASE + 4 * PG - 1, buf, 0), VMS_OK));
    cr_expect(eq(int, vms_lease_read(&f.o, r, BASE + 2 * PG - 1, buf, 0), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_lease_read(&f.o, r, BASE + 4 * PG, buf, 0), VMS_ERR_RANGE));
    /* The reader's second page goes away: the first page is still copied. */
    cr_assert(eq(int, vms_space_unmap(&f.s, BASE + 3 * PG, PG), VMS_OK));
    memset(buf, 0, sizeof buf);
    cr_expect(eq(int, vms_lease_read(&f.o, r, BASE + 2 * PG, buf, 2 * PG), VMS_ERR_FAULT));
    cr_expect(eq(int, buf[0], 0xa5));
    cr_expect(eq(int, buf[PG - 1], 0xa5));
    cr_expect(eq(int, buf[PG], 0), "nothing copied from the unmapped page");
    /* The writer's second page loses W: writes stop there, reads still work. */
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 9 * PG, PG, VMS_R), VMS_OK));
    for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)(i * 7u + 1u);
    cr_expect(eq(int, vms_lease_write(&f.o, w, BASE + 8 * PG, src, 2 * PG), VMS_ERR_FAULT));
    cr_expect(eq(int, memcmp(frames + 8 * PG, src, PG), 0), "first page written");
    cr_expect(eq(int, frames[9 * PG], 0), "second page untouched");
    cr_expect(eq(int, vms_lease_read(&f.o, w, BASE + 9 * PG, buf, PG), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 9 * PG, PG, VMS_RW), VMS_OK));
#ifdef VMSPACE_DEBUG
    /* The reader's bytes cannot all be read back: release reports it and ends the lease. */
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_ERR_FAULT));
#else
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_OK));
#endif
    cr_expect(not(vms_lease_is_live(&f.o, r)));
    cr_expect(eq(int, vms_lease_release(&f.o, w), VMS_OK));
    cr_expect(eq(int, f.hook_calls, 0));
    check_clean(&f.o);
    fx_free(&f);
}

/* Frames below direct_map_lo, at phys_limit, or in a 1 GiB page that crosses phys_limit can be
 * leased (the tables allow it) but not copied; the debug fingerprint of such a reader is
 * stable, so the check passes and release succeeds. */
Test(owner_checker, copies_outside_the_direct_map) {
    fx_t f;
    unsigned char buf[2];
    vms_mapping_t m;
    vms_lease_t below, at, x, b;
    const uint64_t g = (uint64_t)2 << 30; /* 1 GiB aligned, outside the fixture's pages */
    fx_init(&f, false, true);
    const uint64_t lo = f.s.prov.direct_map_lo, lim = f.s.prov.phys_limit;
    cr_assert(ge(u64, lo, PG));
    cr_assert(lt(u64, lim, VMS_PAGE_1G));
    cr_assert(eq(int, vms_owner_map(&f.o, BASE + 64 * PG, lo - PG, PG, VMS_R, 0, NULL), VMS_OK));
    cr_assert(eq(int, vms_owner_map(&f.o, BASE + 65 * PG, lim, PG, VMS_R, 0, NULL), VMS_OK));
    cr_assert(eq(int, vms_owner_map(&f.o, g, 0, VMS_PAGE_1G, VMS_R, 0, NULL), VMS_OK));
    cr_assert(eq(int, vms_space_query(&f.s, g + lim, &m), VMS_OK));
    cr_assert(eq(u64, m.size, VMS_PAGE_1G));
    below = take(&f, VMS_LEASE_READ, 64, 1);
    at = take(&f, VMS_LEASE_READ, 65, 1);
    cr_assert(
        eq(int, vms_lease_acquire(&f.o, VMS_LEASE_READ, g + lim - PG, 2 * PG, &x, &b), VMS_OK));
    cr_expect(eq(int, vms_lease_read(&f.o, below, BASE + 64 * PG, buf, 1), VMS_ERR_FAULT));
    cr_expect(eq(int, vms_lease_read(&f.o, at, BASE + 65 * PG, buf, 1), VMS_ERR_FAULT));
    /* Inside the direct map the huge page reads the arena's byte. */
    unsigned char *host = vms_arena_ptr(&f.s.arena, lim - 2);
    cr_assert(host != NULL);
    cr_expect(eq(int, vms_lease_read(&f.o, x, g + lim - 2, buf, 1), VMS_OK));
    cr_expect(eq(int, buf[0], *host));
    cr_expect(eq(int, vms_lease_read(&f.o, x, g + lim - 1, buf, 2), VMS_ERR_FAULT));
    cr_expect(eq(int, vms_lease_read(&f.o, x, g + lim, buf, 1), VMS_ERR_FAULT));
    check_clean(&f.o);
    cr_expect(eq(int, vms_lease_release(&f.o, below), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, at), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, x), VMS_OK));
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

/* A slot whose generation would wrap to 0 on release is retired: its last handle dies, no
 * handle reaches it again and the next lease takes a fresh slot. */
Test(owner_checker, generation_wrap_retires_the_slot) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t a = take(&f, VMS_LEASE_READ, 0, 1);
    vms_lease_t b = take(&f, VMS_LEASE_READ, 1, 1);
    uint32_t ia = slot_of(a);
    /* As if the slot had been used 2^32 - 2 times: the live lease has the last generation. */
    f.o.slots[ia].gen = UINT32_MAX;
    vms_lease_t last = {((uint64_t)UINT32_MAX << 32) | ia};
    cr_expect(not(vms_lease_is_live(&f.o, a)));
    cr_expect(vms_lease_is_live(&f.o, last));
    cr_expect(eq(int, vms_lease_release(&f.o, a), VMS_ERR_STALE));
    cr_expect(eq(int, vms_lease_release(&f.o, last), VMS_OK));
    cr_expect(eq(u32, f.o.slots[ia].gen, 0u));
    cr_expect(not(vms_lease_is_live(&f.o, last)));
    cr_expect(ne(u32, f.o.slot_free, ia), "a retired slot is not on the free list");
    vms_lease_t zero = {(uint64_t)ia};
    cr_expect(not(vms_lease_is_live(&f.o, zero)));
    uint32_t used = f.o.slot_used;
    vms_lease_t c = take(&f, VMS_LEASE_READ, 0, 1);
    cr_expect(ne(u32, slot_of(c), ia));
    cr_expect(eq(u32, f.o.slot_used, used + 1u));
    check_clean(&f.o);
    cr_expect(eq(int, vms_lease_release(&f.o, b), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, c), VMS_OK));
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

/* Handles nobody was given: the next generation of a free slot, a slot past the used ones. */
Test(owner_checker, forged_handles) {
    fx_t f;
    vms_lease_info_t info;
    fx_init(&f, false, true);
    vms_lease_t a = take(&f, VMS_LEASE_READ, 0, 1);
    uint32_t ia = slot_of(a);
    uint64_t gen = a.id >> 32;
    cr_assert(eq(int, vms_lease_release(&f.o, a), VMS_OK));
    vms_lease_t next = {((gen + 1u) << 32) | ia};
    vms_lease_t past = {((uint64_t)1 << 32) | (f.o.slot_used + 3u)};
    cr_expect(not(vms_lease_is_live(&f.o, next)), "a free slot has no live handle");
    cr_expect(eq(int, vms_lease_release(&f.o, next), VMS_ERR_STALE));
    cr_expect(eq(int, vms_lease_info(&f.o, next, &info), VMS_ERR_STALE));
    cr_expect(not(vms_lease_is_live(&f.o, past)));
    cr_expect(eq(int, vms_lease_release(&f.o, past), VMS_ERR_STALE));
    /* The slot's next lease gets exactly that handle. */
    vms_lease_t c = take(&f, VMS_LEASE_READ, 0, 1);
    cr_expect(eq(u64, c.id, next.id));
    cr_expect(eq(int, vms_lease_info(&f.o, next, &info), VMS_OK));
    cr_expect(eq(u64, info.va, BASE));
    cr_expect(eq(int, vms_lease_release(&f.o, c), VMS_OK));
    check_clean(&f.o);
    fx_free(&f);
}

/* Queries with an empty range, without an out pointer, and with a range that runs past the
 * top of the address space (cut there); the guarded calls without a blocker pointer. */
Test(owner_checker, queries_at_the_edges) {
    fx_t f;
    vms_lease_t x, b;
    vms_owner_iter_t it;
    vms_lease_info_t info;
    vms_itree_iter_t rit;
    vms_itree_entry_t e;
    const uint64_t top = ~(uint64_t)0 - PG + 1u; /* the last page of a 4-level space */
    fx_init(&f, false, true);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 0, 1);
    cr_expect(not(vms_owner_first_overlap(&f.o, BASE, 0, &x)));
    cr_expect(not(vms_owner_first_conflict(&f.o, VMS_LEASE_WRITE, BASE, 0, &x)));
    cr_expect(vms_owner_first_overlap(&f.o, BASE, PG, NULL));
    cr_expect(not(vms_owner_first_overlap(&f.o, BASE + PG, PG, NULL)));
    cr_expect(not(vms_itree_iter_first(&f.o.readers, BASE + 10, BASE + 5, &rit, &e)),
              "first > last is empty");
    /* A lease on the last page of the address space. */
    cr_assert(eq(int, vms_owner_map(&f.o, top, f.data_pa + 100 * PG, PG, VMS_RW, 0, NULL), VMS_OK));
    cr_assert(eq(int, vms_lease_acquire(&f.o, VMS_LEASE_WRITE, top, PG, &x, &b), VMS_OK));
    vms_lease_t y = {0};
    cr_expect(vms_owner_first_overlap(&f.o, top, 4 * PG, &y));
    cr_expect(eq(u64, y.id, x.id));
    y.id = 0;
    cr_expect(vms_owner_first_conflict(&f.o, VMS_LEASE_READ, top - PG, 3 * PG, &y));
    cr_expect(eq(u64, y.id, x.id));
    cr_assert(vms_owner_iter_first(&f.o, top - 8 * PG, 16 * PG, &it, &info));
    cr_expect(eq(u64, info.handle.id, x.id));
    cr_expect(eq(u64, info.len, PG));
    cr_expect(not(vms_owner_iter_next(&it, &info)));
    check_clean(&f.o); /* the tables' last mapping ends at the top of the space */
    /* Guarded calls with no blocker pointer. */
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE, PG, NULL), VMS_ERR_BUSY));
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE, PG, VMS_R, NULL), VMS_ERR_BUSY));
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 40 * PG, PG, NULL), VMS_OK));
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE + 41 * PG, PG, VMS_R, NULL), VMS_OK));
    /* Destroy refuses while only a writer lives. */
    cr_assert(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    cr_expect(eq(int, vms_owner_destroy(&f.o), VMS_ERR_BUSY));
    cr_expect(vms_lease_is_live(&f.o, x));
    cr_expect(eq(int, vms_lease_release(&f.o, x), VMS_OK));
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
    /* No space, no owner. */
    vms_owner_t o;
    cr_expect(eq(int, vms_owner_init(&o, NULL, NULL), VMS_ERR_ARG));
    cr_assert(eq(int, vt_space_init(&f.s, 4, 0), VMS_OK));
    cr_expect(eq(int, vms_owner_init(NULL, &f.s, NULL), VMS_ERR_ARG));
    cr_assert(eq(int, vms_space_destroy(&f.s), VMS_OK));
}

/* ---- growth limits ---- */

typedef struct cnt_alloc_s {
    long calls, live;
} cnt_alloc_t;

static void *ca_alloc(void *user, size_t size) {
    cnt_alloc_t *c = user;
    c->calls++;
    c->live++;
    return malloc(size);
}

static void ca_free(void *user, void *p, size_t size) {
    cnt_alloc_t *c = user;
    (void)size;
    c->live--;
    free(p);
}

/* A slab that would outgrow 32-bit node indices, and a tree as deep as VMS_TREE_MAX_DEPTH
 * allows, refuse to grow with VMS_ERR_NOMEM without calling the allocator and without
 * changing the tree (the limits are reached here by setting the counters). */
Test(owner_checker, tree_growth_limits) {
    cnt_alloc_t ca = {0, 0};
    vms_allocator_t al = {ca_alloc, ca_free, &ca};
    vms_itree_t t;
    vms_itree_entry_t e;
    cr_assert(eq(int, vms_itree_init(&t, &al), VMS_OK));
    for (uint32_t i = 0; i < 30; i++)
        cr_assert(eq(int, vms_itree_insert(&t, (uint64_t)i * 10, (uint64_t)i * 10 + 5, i), VMS_OK));
    cr_assert(eq(u32, t.free_count, 0u));
    const long calls = ca.calls;
    const uint32_t cap = t.cap, bump = t.bump, height = t.height;
    t.cap = t.bump = 0xaaaaaaabu; /* full, and 1.5x would pass VMS_ITREE_NIL */
    cr_expect(eq(int, vms_itree_insert(&t, 1000, 1005, 100), VMS_ERR_NOMEM));
    cr_expect(eq(int, vms_itree_reserve(&t), VMS_ERR_NOMEM));
    t.cap = cap;
    t.bump = bump;
    t.height = VMS_TREE_MAX_DEPTH - 1u;
    cr_expect(eq(int, vms_itree_reserve(&t), VMS_ERR_NOMEM));
    t.height = height;
    cr_expect(eq(long, ca.calls, calls), "no allocation attempted");
    cr_expect(eq(u64, t.count, 30u));
    cr_expect(not(vms_itree_first_overlap(&t, 1000, 1005, &e)));
#ifdef VMSPACE_DEBUG
    cr_expect(vms_itree_check(&t) == NULL);
#endif
    cr_expect(eq(int, vms_itree_insert(&t, 1000, 1005, 100), VMS_OK));
    cr_expect(vms_itree_first_overlap(&t, 1000, 1005, &e));
    vms_itree_destroy(&t);
    cr_expect(eq(long, ca.live, 0));
}

/* A registry that would outgrow 32-bit slot indices, or a lease tree at the depth limit: the
 * acquire fails with VMS_ERR_NOMEM, allocates nothing and changes nothing (not even the
 * serial counter). */
Test(owner_checker, registry_growth_limits) {
    fx_t f;
    cnt_alloc_t ca = {0, 0};
    vms_owner_desc_t d;
    vms_lease_t l, b;
    vms_owner_stats_t before, after;
    fx_init(&f, false, true);
    cr_assert(eq(int, vms_owner_destroy(&f.o), VMS_OK));
    memset(&d, 0, sizeof d);
    d.allocator.alloc = ca_alloc;
    d.allocator.free = ca_free;
    d.allocator.user = &ca;
    d.check_failed = record;
    d.check_user = &f;
    cr_assert(eq(int, vms_owner_init(&f.o, &f.s, &d), VMS_OK));
    take(&f, VMS_LEASE_READ, 0, 1);
    take(&f, VMS_LEASE_WRITE, 2, 1);
    cr_assert(eq(int, vms_itree_reserve(&f.o.readers), VMS_OK));
    cr_assert(eq(u32, f.o.slot_free, VMS_ITREE_NIL));
    const long calls = ca.calls;
    const uint64_t serial = f.o.next_serial;
    const uint32_t cap = f.o.slot_cap, used = f.o.slot_used, wheight = f.o.writers.height;
    vms_owner_stats(&f.o, &before);
    f.o.slot_cap = f.o.slot_used = 0xaaaaaaabu; /* full, and 1.5x would pass 2^32 - 1 */
    cr_expect(
        eq(int, vms_lease_acquire(&f.o, VMS_LEASE_READ, BASE + 4 * PG, PG, &l, &b), VMS_ERR_NOMEM));
    cr_expect(eq(u64, l.id, VMS_LEASE_INVALID_ID));
    f.o.slot_cap = cap;
    f.o.slot_used = used;
    f.o.writers.height = VMS_TREE_MAX_DEPTH - 1u;
    cr_expect(eq(int, vms_lease_acquire(&f.o, VMS_LEASE_WRITE, BASE + 6 * PG, PG, &l, &b),
                 VMS_ERR_NOMEM));
    f.o.writers.height = wheight;
    cr_expect(eq(long, ca.calls, calls), "no allocation attempted");
    cr_expect(eq(u64, f.o.next_serial, serial));
    vms_owner_stats(&f.o, &after);
    cr_expect(eq(u64, after.readers, before.readers));
    cr_expect(eq(u64, after.writers, before.writers));
    cr_expect(eq(sz, after.tree_bytes, before.tree_bytes));
    cr_expect(eq(sz, after.registry_bytes, before.registry_bytes));
    check_clean(&f.o);
    l = take(&f, VMS_LEASE_READ, 4, 1);
    vms_lease_info_t info;
    cr_assert(eq(int, vms_lease_info(&f.o, l, &info), VMS_OK));
    cr_expect(eq(u64, info.serial, serial), "the failed attempts used no serial");
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
    cr_expect(eq(long, ca.live, 0));
}

#ifdef VMSPACE_DEBUG

static void expect_clause(const vms_owner_t *o, const char *want) {
    const char *got = vms_owner_check(o);
    cr_assert(got != NULL, "check passed, expected %s", want);
    cr_expect(eq(str, (char *)got, (char *)want));
}

static void expect_clean(const vms_owner_t *o) {
    const char *got = vms_owner_check(o);
    cr_assert(got == NULL, "check failed: %s", got ? got : "");
}

Test(owner_checker, clean_owner_passes) {
    fx_t f;
    fx_init(&f, true, true);
    expect_clean(&f.o);
    for (uint64_t i = 0; i < 40; i++) take(&f, VMS_LEASE_READ, i, 2);
    take(&f, VMS_LEASE_WRITE, 50, 4);
    expect_clean(&f.o);
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

Test(owner_checker, corrupt_maximum) {
    fx_t f;
    fx_init(&f, true, true);
    /* Enough readers to give the reader tree an inner root that stores maxima. */
    for (uint64_t i = 0; i < 40; i++) take(&f, VMS_LEASE_READ, i, 1 + i % 3);
    cr_assert(gt(u32, f.o.readers.height, 1u));
    vms_itree_node_t *root = &f.o.readers.nodes[f.o.readers.root];
    uint64_t saved = root->u.in.max[1];
    root->u.in.max[1] = saved + 1;
    expect_clause(&f.o, "tree_max");
    root->u.in.max[1] = saved - 1;
    expect_clause(&f.o, "tree_max");
    /* The check after the next owner operation reports it through the hook. */
    take(&f, VMS_LEASE_WRITE, 60, 1);
    cr_expect(eq(int, f.hook_calls, 1));
    cr_expect(eq(str, (char *)f.hook_clause, "tree_max"));
    root->u.in.max[1] = saved;
    expect_clean(&f.o);
    fx_free(&f);
}

/* With no hook, a broken invariant after an owner operation aborts. */
Test(owner_checker, default_hook_aborts, .signal = SIGABRT) {
    fx_t f;
    fx_init(&f, false, false);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 0, 1);
    f.o.slots[slot_of(r)].last += PG; /* the registry disagrees with the tree */
    take(&f, VMS_LEASE_READ, 10, 1);
}

Test(owner_checker, corrupt_lease_range) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 3, 2);
    take(&f, VMS_LEASE_WRITE, 8, 2);
    vms__lease_slot_t *s = &f.o.slots[slot_of(r)];
    s->last += PG;
    expect_clause(&f.o, "registry_ranges");
    s->last -= PG;
    s->serial = f.o.next_serial + 5;
    expect_clause(&f.o, "registry_ids");
    s->serial = 1;
    f.o.writers.count++;
    expect_clause(&f.o, "registry_counts");
    f.o.writers.count--;
    expect_clean(&f.o);
    fx_free(&f);
}

/* Move leases in both the registry and the tree (so the registry agrees) until they overlap:
 * the disjointness clauses fire. */
Test(owner_checker, overlapping_leases) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t w1 = take(&f, VMS_LEASE_WRITE, 0, 2);
    vms_lease_t w2 = take(&f, VMS_LEASE_WRITE, 4, 2);
    vms_lease_t r1 = take(&f, VMS_LEASE_READ, 10, 2);
    vms_lease_t r2 = take(&f, VMS_LEASE_READ, 14, 2);
    (void)w1;
    (void)r1;
    /* The trees are single leaves here; entry 1 is the second lease of each. */
    vms_itree_node_t *wl = &f.o.writers.nodes[f.o.writers.root];
    vms_itree_node_t *rl = &f.o.readers.nodes[f.o.readers.root];
    cr_assert(eq(int, wl->leaf, 1));
    cr_assert(eq(u32, wl->u.l.ref[1], slot_of(w2)));
    wl->u.l.first[1] = BASE + PG;
    f.o.slots[slot_of(w2)].first = BASE + PG;
    expect_clause(&f.o, "writers_disjoint");
    wl->u.l.first[1] = BASE + 4 * PG;
    f.o.slots[slot_of(w2)].first = BASE + 4 * PG;
    expect_clean(&f.o);
    cr_assert(eq(u32, rl->u.l.ref[1], slot_of(r2)));
    rl->u.l.first[1] = BASE + 11 * PG;
    f.o.slots[slot_of(r2)].first = BASE + 11 * PG;
    expect_clause(&f.o, "readers_disjoint");
    /* Shared reading makes that overlap legal; then the view of the moved reader no longer
     * matches its snapshot. */
    f.o.shared_reader = true;
    expect_clause(&f.o, "reader_view_agrees");
    f.o.shared_reader = false;
    rl->u.l.first[1] = BASE + 14 * PG;
    f.o.slots[slot_of(r2)].first = BASE + 14 * PG;
    expect_clean(&f.o);
    /* A reader moved under a writer. */
    rl->u.l.first[0] = BASE + 5 * PG;
    rl->u.l.last[0] = BASE + 6 * PG - 1;
    f.o.slots[slot_of(r1)].first = BASE + 5 * PG;
    f.o.slots[slot_of(r1)].last = BASE + 6 * PG - 1;
    expect_clause(&f.o, "readers_writers_disjoint");
    fx_free(&f);
}

/* Page-table damage is named by the core's clauses. */
Test(owner_checker, corrupt_pte) {
    fx_t f;
    uint64_t *pte;
    int level;
    fx_init(&f, false, true);
    take(&f, VMS_LEASE_READ, 0, 1);
    pte = vt_walk(&f.s, BASE + 20 * PG, &level, NULL);
    cr_assert(pte != NULL);
    cr_assert(eq(int, level, 1));
    uint64_t saved = *pte;
    *pte |= (uint64_t)1 << 55; /* a bit the library never sets */
    expect_clause(&f.o, "reserved_bits_clear");
    *pte = saved;
    expect_clean(&f.o);
    *pte = 0; /* an entry vanishes but the table's child count says otherwise */
    expect_clause(&f.o, "child_count");
    *pte = saved;
    expect_clean(&f.o);
    fx_free(&f);
}

/* The tables changed around the owner under live leases. */
Test(owner_checker, views_changed_around_the_owner) {
    fx_t f;
    fx_init(&f, false, true);
    take(&f, VMS_LEASE_READ, 0, 2);
    take(&f, VMS_LEASE_WRITE, 4, 2);
    /* Another frame under the reader. */
    cr_assert(eq(int,
                 vms_space_map(&f.s, BASE + PG, f.data_pa + 100 * PG, PG, VMS_RW, VMS_MAP_REPLACE),
                 VMS_OK));
    expect_clause(&f.o, "reader_view_agrees");
    cr_assert(eq(int, vms_space_map(&f.s, BASE + PG, f.data_pa + PG, PG, VMS_RW, VMS_MAP_REPLACE),
                 VMS_OK));
    expect_clean(&f.o);
    /* Rights changed under the reader (translation differs by property). */
    cr_assert(eq(int, vms_space_protect(&f.s, BASE, PG, VMS_RWX), VMS_OK));
    expect_clause(&f.o, "reader_view_agrees");
    cr_assert(eq(int, vms_space_protect(&f.s, BASE, PG, VMS_RW), VMS_OK));
    expect_clean(&f.o);
    /* The writer loses write rights, then a page: the remaining view no longer plus the
     * writers no longer make up the total. */
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 5 * PG, PG, VMS_R), VMS_OK));
    expect_clause(&f.o, "remaining_view_is_total_minus_writers");
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 5 * PG, PG, VMS_RW), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&f.s, BASE + 4 * PG, PG), VMS_OK));
    expect_clause(&f.o, "remaining_view_is_total_minus_writers");
    cr_assert(
        eq(int, vms_space_map(&f.s, BASE + 4 * PG, f.data_pa + 4 * PG, PG, VMS_RW, 0), VMS_OK));
    expect_clean(&f.o);
    /* Same rights, other frame under the writer. */
    cr_assert(eq(
        int, vms_space_map(&f.s, BASE + 4 * PG, f.data_pa + 101 * PG, PG, VMS_RW, VMS_MAP_REPLACE),
        VMS_OK));
    expect_clause(&f.o, "writer_view_agrees");
    fx_free(&f);
}

/* A write that goes around the owner into a reader's memory: the check names it, the owner's
 * own per-operation check does not (too costly), and release reports it with VMS_ERR_TAMPERED. */
Test(owner_checker, write_under_a_reader) {
    fx_t f;
    fx_init(&f, true, true);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 2, 3);
    vms_lease_t r2 = take(&f, VMS_LEASE_READ, 2, 3);
    vms_lease_t w = take(&f, VMS_LEASE_WRITE, 8, 1);
    /* Writes through the owner elsewhere do not disturb readers. */
    cr_assert(eq(int, vms_lease_write(&f.o, w, BASE + 8 * PG, "ok", 2), VMS_OK));
    expect_clean(&f.o);
    unsigned char *host = vms_arena_ptr(&f.s.arena, f.data_pa + 3 * PG + 17);
    cr_assert(host != NULL);
    *host ^= 0x5a;
    expect_clause(&f.o, "reader_bytes_unchanged");
    take(&f, VMS_LEASE_READ, 30, 1);
    cr_expect(eq(int, f.hook_calls, 0));
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_ERR_TAMPERED));
    cr_expect(not(vms_lease_is_live(&f.o, r)), "the lease ends all the same");
    expect_clause(&f.o, "reader_bytes_unchanged"); /* r2 still sees it */
    cr_expect(eq(int, vms_lease_release(&f.o, r2), VMS_ERR_TAMPERED));
    expect_clean(&f.o);
    /* A fresh reader fingerprints the new bytes. */
    vms_lease_t r3 = take(&f, VMS_LEASE_READ, 2, 3);
    expect_clean(&f.o);
    cr_expect(eq(int, vms_lease_release(&f.o, r3), VMS_OK));
    fx_free(&f);
}

/* The tree's own clauses, on a standalone tree. */
Test(owner_checker, tree_clauses) {
    vms_itree_t t;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    for (uint32_t i = 0; i < 200; i++)
        cr_assert(eq(int, vms_itree_insert(&t, (uint64_t)i * 10, (uint64_t)i * 10 + 5, i), VMS_OK));
    cr_assert(vms_itree_check(&t) == NULL);
    vms_itree_node_t *root = &t.nodes[t.root];
    cr_assert(eq(int, root->leaf, 0));
    vms_itree_node_t *leaf = &t.nodes[root->u.in.child[0]];
    while (!leaf->leaf) leaf = &t.nodes[leaf->u.in.child[0]];
    /* Order: swap two keys of a leaf. */
    uint64_t a = leaf->u.l.first[0];
    leaf->u.l.first[0] = leaf->u.l.first[1];
    leaf->u.l.first[1] = a;
    cr_expect(eq(str, (char *)vms_itree_check(&t), "tree_order"));
    leaf->u.l.first[1] = leaf->u.l.first[0];
    leaf->u.l.first[0] = a;
    cr_assert(vms_itree_check(&t) == NULL);
    /* Fill: a non-root leaf below half. */
    uint16_t n = leaf->n;
    leaf->n = VMS_ITREE_LEAF_MIN - 1;
    cr_expect(eq(str, (char *)vms_itree_check(&t), "tree_fill"));
    leaf->n = n;
    /* Balance: the recorded height disagrees with the leaves' depth. */
    t.height++;
    cr_expect(eq(str, (char *)vms_itree_check(&t), "tree_balance"));
    t.height--;
    /* Count and node accounting. */
    t.count++;
    cr_expect(eq(str, (char *)vms_itree_check(&t), "tree_count"));
    t.count--;
    t.free_count++;
    cr_expect(eq(str, (char *)vms_itree_check(&t), "tree_nodes"));
    t.free_count--;
    cr_expect(vms_itree_check(&t) == NULL);
    vms_itree_destroy(&t);
}

/* ---- every clause of vms_itree_check, on standalone trees ---- */

static void expect_tree(const vms_itree_t *t, const char *want) {
    const char *got = vms_itree_check(t);
    if (!want) {
        cr_assert(got == NULL, "tree check failed: %s", got ? got : "");
        return;
    }
    cr_assert(got != NULL, "tree check passed, expected %s", want);
    cr_expect(eq(str, (char *)got, (char *)want));
}

/* Entries [10 i, 10 i + 5] with reference i, inserted in ascending order. */
static void tree_fill_seq(vms_itree_t *t, uint32_t n) {
    cr_assert(eq(int, vms_itree_init(t, NULL), VMS_OK));
    for (uint32_t i = 0; i < n; i++)
        cr_assert(eq(int, vms_itree_insert(t, (uint64_t)i * 10, (uint64_t)i * 10 + 5, i), VMS_OK));
    expect_tree(t, NULL);
}

/* The slab's bookkeeping: handed-out nodes, the free list and the reachable nodes. */
Test(owner_checker, tree_node_accounting) {
    vms_itree_t t;
    tree_fill_seq(&t, 1000);
    /* Removing a third of the entries merges nodes onto the free list. */
    for (uint32_t i = 0; i < 1000; i += 3) cr_assert(vms_itree_remove(&t, (uint64_t)i * 10, i));
    cr_assert(gt(u32, t.free_count, 1u));
    cr_assert(eq(int, t.nodes[t.root].leaf, 0));
    expect_tree(&t, NULL);
    const uint32_t bump = t.bump, nfree = t.free_count, head = t.free_head, root = t.root;
    t.bump = t.cap + 1u; /* more handed out than the slab holds */
    expect_tree(&t, "tree_nodes");
    t.bump = bump;
    t.free_count = bump + 1u; /* more free than handed out */
    expect_tree(&t, "tree_nodes");
    t.free_count = nfree - 1u; /* the list is longer than counted */
    expect_tree(&t, "tree_nodes");
    t.free_count = nfree + 1u; /* shorter than counted */
    expect_tree(&t, "tree_nodes");
    t.free_count = nfree;
    expect_tree(&t, NULL);
    t.free_head = bump; /* the list leaves the slab */
    expect_tree(&t, "tree_nodes");
    /* A node neither free nor reachable: the list's first node is dropped from it. */
    t.free_head = t.nodes[head].next_free;
    t.free_count = nfree - 1u;
    expect_tree(&t, "tree_nodes");
    t.free_head = head;
    t.free_count = nfree;
    expect_tree(&t, NULL);
    /* Root and child indices outside the slab. */
    t.root = bump;
    expect_tree(&t, "tree_nodes");
    t.root = root;
    vms_itree_node_t *rn = &t.nodes[root];
    const uint32_t child = rn->u.in.child[rn->n - 1];
    rn->u.in.child[rn->n - 1] = bump;
    expect_tree(&t, "tree_nodes");
    rn->u.in.child[rn->n - 1] = child;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
}

/* One node reached through two parents entries: more nodes reached than handed out. */
Test(owner_checker, tree_node_reached_twice) {
    vms_itree_t t;
    tree_fill_seq(&t, VMS_ITREE_LEAF_CAP + 1); /* one split: a root over two leaves */
    cr_assert(eq(u32, t.height, 2u));
    cr_assert(eq(u32, t.free_count, 0u));
    vms_itree_node_t *rn = &t.nodes[t.root];
    cr_assert(eq(int, rn->n, 2));
    /* A third child that is the second leaf again, behind a separator above every key. */
    rn->u.in.first[2] = UINT64_MAX;
    rn->u.in.ref[2] = 0;
    rn->u.in.max[2] = rn->u.in.max[1];
    rn->u.in.child[2] = rn->u.in.child[1];
    rn->n = 3;
    expect_tree(&t, "tree_nodes");
    rn->n = 2;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
}

/* An empty tree: no height, no entries, every handed-out node on the free list. */
Test(owner_checker, empty_tree_clauses) {
    vms_itree_t t;
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    expect_tree(&t, NULL);
    cr_assert(eq(int, vms_itree_insert(&t, 100, 200, 7), VMS_OK));
    cr_assert(vms_itree_remove(&t, 100, 7));
    cr_assert(eq(u32, t.root, VMS_ITREE_NIL));
    cr_assert(eq(u32, t.free_count, 1u));
    expect_tree(&t, NULL);
    t.height = 1;
    expect_tree(&t, "tree_count");
    t.height = 0;
    t.count = 1;
    expect_tree(&t, "tree_count");
    t.count = 0;
    const uint32_t head = t.free_head;
    t.free_head = VMS_ITREE_NIL; /* the freed node is lost */
    t.free_count = 0;
    expect_tree(&t, "tree_nodes");
    t.free_head = head;
    t.free_count = 1;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
}

/* Height and fill bounds. */
Test(owner_checker, tree_shape_clauses) {
    vms_itree_t t, one;
    tree_fill_seq(&t, 1000);
    const uint32_t h = t.height;
    cr_assert(ge(u32, h, 3u));
    t.height = 0;
    expect_tree(&t, "tree_balance");
    t.height = VMS_TREE_MAX_DEPTH + 1u;
    expect_tree(&t, "tree_balance");
    t.height = h - 1u; /* inner nodes where the leaves should be */
    expect_tree(&t, "tree_balance");
    t.height = h + 1u; /* leaves above the bottom */
    expect_tree(&t, "tree_balance");
    t.height = h;
    expect_tree(&t, NULL);
    vms_itree_node_t *root = &t.nodes[t.root];
    uint16_t n = root->n;
    root->n = 1; /* an inner root needs two children */
    expect_tree(&t, "tree_fill");
    root->n = VMS_ITREE_INNER_CAP + 1;
    expect_tree(&t, "tree_fill");
    root->n = n;
    vms_itree_node_t *in = &t.nodes[root->u.in.child[0]];
    cr_assert(eq(int, in->leaf, 0));
    n = in->n;
    in->n = VMS_ITREE_INNER_MIN - 1;
    expect_tree(&t, "tree_fill");
    in->n = n;
    vms_itree_node_t *leaf = in;
    while (!leaf->leaf) leaf = &t.nodes[leaf->u.in.child[0]];
    n = leaf->n;
    leaf->n = 0;
    expect_tree(&t, "tree_fill");
    leaf->n = VMS_ITREE_LEAF_CAP + 1;
    expect_tree(&t, "tree_fill");
    leaf->n = n;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
    /* A root leaf may hold one entry, not none. */
    tree_fill_seq(&one, 1);
    one.nodes[one.root].n = 0;
    expect_tree(&one, "tree_fill");
    one.nodes[one.root].n = 1;
    expect_tree(&one, NULL);
    vms_itree_destroy(&one);
}

/* Intervals, and keys against the separators that bound them. */
Test(owner_checker, tree_key_bounds) {
    vms_itree_t t;
    tree_fill_seq(&t, 100);
    vms_itree_node_t *p = &t.nodes[t.root];
    cr_assert(eq(int, p->leaf, 0));
    while (!t.nodes[p->u.in.child[0]].leaf) p = &t.nodes[p->u.in.child[0]];
    cr_assert(ge(int, p->n, 3));
    vms_itree_node_t *l0 = &t.nodes[p->u.in.child[0]], *l1 = &t.nodes[p->u.in.child[1]];
    cr_assert(ge(int, l1->n, 2));
    /* An interval that ends before it starts. */
    const uint64_t last = l1->u.l.last[0];
    l1->u.l.last[0] = l1->u.l.first[0] - 1u;
    expect_tree(&t, "tree_order");
    l1->u.l.last[0] = last;
    expect_tree(&t, NULL);
    /* The separator before l1 above l1's first key (its lower bound is broken). */
    const uint64_t sf = p->u.in.first[1];
    const uint32_t sr = p->u.in.ref[1];
    p->u.in.first[1] = l1->u.l.first[0] + 1u;
    expect_tree(&t, "tree_order");
    /* The same separator equal to l0's last key (l0's upper bound is broken). */
    p->u.in.first[1] = l0->u.l.first[l0->n - 1];
    p->u.in.ref[1] = l0->u.l.ref[l0->n - 1];
    expect_tree(&t, "tree_order");
    p->u.in.first[1] = sf;
    p->u.in.ref[1] = sr;
    expect_tree(&t, NULL);
    /* Separators out of order within the node. */
    p->u.in.first[1] = p->u.in.first[2];
    p->u.in.ref[1] = p->u.in.ref[2];
    p->u.in.first[2] = sf;
    p->u.in.ref[2] = sr;
    expect_tree(&t, "tree_order");
    p->u.in.first[2] = p->u.in.first[1];
    p->u.in.ref[2] = p->u.in.ref[1];
    p->u.in.first[1] = sf;
    p->u.in.ref[1] = sr;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
    /* Equal starts are ordered by reference. */
    cr_assert(eq(int, vms_itree_init(&t, NULL), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, 100, 105, 5), VMS_OK));
    cr_assert(eq(int, vms_itree_insert(&t, 100, 110, 3), VMS_OK));
    vms_itree_node_t *l = &t.nodes[t.root];
    cr_assert(eq(u32, l->u.l.ref[0], 3u));
    l->u.l.ref[0] = 5;
    l->u.l.ref[1] = 3;
    expect_tree(&t, "tree_order");
    l->u.l.ref[0] = 3;
    l->u.l.ref[1] = 5;
    expect_tree(&t, NULL);
    vms_itree_destroy(&t);
}

/* ---- the owner's registry clauses ---- */

Test(owner_checker, registry_free_list) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t a = take(&f, VMS_LEASE_READ, 0, 1);
    vms_lease_t b = take(&f, VMS_LEASE_READ, 2, 1);
    take(&f, VMS_LEASE_READ, 4, 1);
    cr_assert(eq(int, vms_lease_release(&f.o, b), VMS_OK));
    const uint32_t fb = slot_of(b);
    cr_assert(eq(u32, f.o.slot_free, fb));
    expect_clean(&f.o);
    f.o.slot_free = f.o.slot_used; /* past the used slots */
    expect_clause(&f.o, "registry_counts");
    f.o.slot_free = slot_of(a); /* a live slot */
    expect_clause(&f.o, "registry_counts");
    f.o.slot_free = fb;
    const uint32_t next = f.o.slots[fb].next;
    f.o.slots[fb].next = fb; /* a cycle */
    expect_clause(&f.o, "registry_counts");
    f.o.slots[fb].next = next;
    expect_clean(&f.o);
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

Test(owner_checker, registry_slots_and_tree_refs) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 0, 2);
    vms_lease_t gone = take(&f, VMS_LEASE_READ, 4, 1);
    vms_lease_t w = take(&f, VMS_LEASE_WRITE, 8, 2);
    cr_assert(eq(int, vms_lease_release(&f.o, gone), VMS_OK));
    vms__lease_slot_t *rs = &f.o.slots[slot_of(r)], *ws = &f.o.slots[slot_of(w)];
    expect_clean(&f.o);
    const uint32_t gen = rs->gen;
    rs->gen = 0; /* live with the retired generation */
    expect_clause(&f.o, "registry_ids");
    rs->gen = gen;
    rs->kind = 3; /* neither kind */
    expect_clause(&f.o, "registry_ranges");
    rs->kind = VMS_LEASE_READ;
    const uint64_t last = rs->last;
    rs->last = rs->first - 1u; /* ends before it starts */
    expect_clause(&f.o, "registry_ranges");
    rs->last = last;
    /* Kinds swapped: the counts agree, but the reader tree points at a writer's slot. */
    rs->kind = VMS_LEASE_WRITE;
    ws->kind = VMS_LEASE_READ;
    expect_clause(&f.o, "registry_ranges");
    rs->kind = VMS_LEASE_READ;
    ws->kind = VMS_LEASE_WRITE;
    expect_clean(&f.o);
    /* One more reader counted than the registry holds. */
    f.o.readers.count++;
    expect_clause(&f.o, "registry_counts");
    f.o.readers.count--;
    /* A slot's range disagrees with its tree entry: the reader's start, the writer's end. */
    rs->first += PG;
    expect_clause(&f.o, "registry_ranges");
    rs->first -= PG;
    ws->last += PG;
    expect_clause(&f.o, "registry_ranges");
    ws->last -= PG;
    expect_clean(&f.o);
    /* The reader tree's entry refers to a slot not in use. */
    vms_itree_node_t *rl = &f.o.readers.nodes[f.o.readers.root];
    cr_assert(eq(int, rl->leaf, 1));
    cr_assert(eq(int, rl->n, 1));
    cr_assert(eq(u32, rl->u.l.ref[0], slot_of(r)));
    /* Past the used slots, where a copy of the reader's slot lies in spare capacity. */
    cr_assert(gt(u32, f.o.slot_cap, f.o.slot_used));
    f.o.slots[f.o.slot_used] = *rs;
    rl->u.l.ref[0] = f.o.slot_used;
    expect_clause(&f.o, "registry_ranges");
    memset(&f.o.slots[f.o.slot_used], 0, sizeof *rs);
    /* A free slot, with the entry made to match the range that slot last held. */
    const vms__lease_slot_t *gs = &f.o.slots[slot_of(gone)];
    cr_assert(eq(u64, gs->serial, 0u));
    rl->u.l.first[0] = gs->first;
    rl->u.l.last[0] = gs->last;
    rl->u.l.ref[0] = slot_of(gone);
    expect_clause(&f.o, "registry_ranges");
    rl->u.l.first[0] = rs->first;
    rl->u.l.last[0] = rs->last;
    rl->u.l.ref[0] = slot_of(r);
    expect_clean(&f.o);
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

/* The owner's check runs the tree check on both trees. */
Test(owner_checker, tree_damage_seen_by_owner_check) {
    fx_t f;
    fx_init(&f, false, true);
    take(&f, VMS_LEASE_READ, 0, 2);
    take(&f, VMS_LEASE_WRITE, 8, 2);
    vms_itree_node_t *rl = &f.o.readers.nodes[f.o.readers.root];
    vms_itree_node_t *wl = &f.o.writers.nodes[f.o.writers.root];
    uint64_t saved = rl->u.l.last[0];
    rl->u.l.last[0] = rl->u.l.first[0] - 1u;
    expect_clause(&f.o, "tree_order");
    cr_expect(eq(str, (char *)vms_itree_check(&f.o.readers), "tree_order"));
    cr_expect(vms_itree_check(&f.o.writers) == NULL);
    rl->u.l.last[0] = saved;
    expect_clean(&f.o);
    saved = wl->u.l.last[0];
    wl->u.l.last[0] = wl->u.l.first[0] - 1u;
    expect_clause(&f.o, "tree_order");
    cr_expect(eq(str, (char *)vms_itree_check(&f.o.writers), "tree_order"));
    cr_expect(vms_itree_check(&f.o.readers) == NULL);
    wl->u.l.last[0] = saved;
    expect_clean(&f.o);
    fx_free(&f);
}

/* A lease's view snapshot is its translation as runs of contiguous frames with one property:
 * mapping the same frames again leaves it equal, another frame or another property does
 * not. */
Test(owner_checker, view_snapshot_runs) {
    fx_t f;
    fx_init(&f, false, true);
    /* Pages 30..33: 31 read-only, 32 on a frame out of sequence. */
    cr_assert(eq(int, vms_owner_protect(&f.o, BASE + 31 * PG, PG, VMS_R, NULL), VMS_OK));
    cr_assert(eq(
        int,
        vms_owner_map(&f.o, BASE + 32 * PG, f.data_pa + 90 * PG, PG, VMS_RW, VMS_MAP_REPLACE, NULL),
        VMS_OK));
    vms_lease_t r = take(&f, VMS_LEASE_READ, 30, 4);
    expect_clean(&f.o);
    /* The same frames and rights again, around the owner: the view is unchanged. */
    cr_assert(eq(
        int,
        vms_space_map(&f.s, BASE + 30 * PG, f.data_pa + 30 * PG, 2 * PG, VMS_RW, VMS_MAP_REPLACE),
        VMS_OK));
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 31 * PG, PG, VMS_R), VMS_OK));
    expect_clean(&f.o);
    /* Page 31 writable again: its run merges with page 30's, and the view differs. */
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 31 * PG, PG, VMS_RW), VMS_OK));
    expect_clause(&f.o, "reader_view_agrees");
    cr_assert(eq(int, vms_space_protect(&f.s, BASE + 31 * PG, PG, VMS_R), VMS_OK));
    expect_clean(&f.o);
    /* Page 32 back on its frame in sequence: one run where the snapshot has two. */
    cr_assert(eq(
        int, vms_space_map(&f.s, BASE + 32 * PG, f.data_pa + 32 * PG, PG, VMS_RW, VMS_MAP_REPLACE),
        VMS_OK));
    expect_clause(&f.o, "reader_view_agrees");
    cr_assert(eq(
        int, vms_space_map(&f.s, BASE + 32 * PG, f.data_pa + 90 * PG, PG, VMS_RW, VMS_MAP_REPLACE),
        VMS_OK));
    expect_clean(&f.o);
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    cr_expect(eq(int, f.hook_calls, 0));
    fx_free(&f);
}

/* The writers' byte total, and a reader whose page was unmapped around the owner. */
Test(owner_checker, writer_bytes_and_unmapped_reader) {
    fx_t f;
    fx_init(&f, false, true);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 0, 2);
    take(&f, VMS_LEASE_WRITE, 8, 2);
    f.o.writer_bytes += PG;
    expect_clause(&f.o, "remaining_view_is_total_minus_writers");
    f.o.writer_bytes -= PG;
    expect_clean(&f.o);
    cr_assert(eq(int, vms_space_unmap(&f.s, BASE + PG, PG), VMS_OK));
    expect_clause(&f.o, "reader_view_agrees");
    /* The next owner operation reports it through the hook. */
    take(&f, VMS_LEASE_READ, 20, 1);
    cr_expect(eq(int, f.hook_calls, 1));
    cr_expect(eq(str, (char *)f.hook_clause, "reader_view_agrees"));
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_ERR_FAULT));
    expect_clean(&f.o);
    fx_free(&f);
}

#endif /* VMSPACE_DEBUG */
