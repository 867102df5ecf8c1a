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
    "tree_nodes", "tree_balance", "tree_fill", "tree_order", "tree_max", "tree_count",
    "pt_mappings_disjoint", "registry_counts", "registry_ids", "registry_ranges",
    "writers_disjoint", "readers_writers_disjoint", "readers_disjoint",
    "remaining_view_is_total_minus_writers", "writer_view_agrees", "reader_view_agrees",
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
          "int vms_owner_probe(void) { return (int)sizeof(vms_owner_t); }\n", fp);
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
    vms_rtree_destroy(&f->o.readers);
    vms_rtree_destroy(&f->o.writers);
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

@@GENERAL@@
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
    vms_rnode_t *root = &f.o.readers.nodes[f.o.readers.root];
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
    vms_rnode_t *wl = &f.o.writers.nodes[f.o.writers.root];
    vms_rnode_t *rl = &f.o.readers.nodes[f.o.readers.root];
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
    cr_assert(eq(int, vms_space_map(&f.s, BASE + PG, f.data_pa + 100 * PG, PG, VMS_RW,
                                    VMS_MAP_REPLACE), VMS_OK));
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
    cr_assert(eq(int, vms_space_map(&f.s, BASE + 4 * PG, f.data_pa + 4 * PG, PG, VMS_RW, 0),
                 VMS_OK));
    expect_clean(&f.o);
    /* Same rights, other frame under the writer. */
    cr_assert(eq(int, vms_space_map(&f.s, BASE + 4 * PG, f.data_pa + 101 * PG, PG, VMS_RW,
                                    VMS_MAP_REPLACE), VMS_OK));
    expect_clause(&f.o, "writer_view_agrees");
    fx_free(&f);
}

/* A write that goes around the owner into a reader's memory: the check names it, the owner's
 * own per-operation check does not (too costly), and release reports it with VMS_ERR_FAULT. */
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
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_ERR_FAULT));
    cr_expect(not(vms_lease_is_live(&f.o, r)), "the lease ends all the same");
    expect_clause(&f.o, "reader_bytes_unchanged"); /* r2 still sees it */
    cr_expect(eq(int, vms_lease_release(&f.o, r2), VMS_ERR_FAULT));
    expect_clean(&f.o);
    /* A fresh reader fingerprints the new bytes. */
    vms_lease_t r3 = take(&f, VMS_LEASE_READ, 2, 3);
    expect_clean(&f.o);
    cr_expect(eq(int, vms_lease_release(&f.o, r3), VMS_OK));
    fx_free(&f);
}

/* The tree's own clauses, on a standalone tree. */
Test(owner_checker, tree_clauses) {
    vms_rtree_t t;
    cr_assert(eq(int, vms_rtree_init(&t, NULL), VMS_OK));
    for (uint32_t i = 0; i < 200; i++)
        cr_assert(eq(int, vms_rtree_insert(&t, (uint64_t)i * 10, (uint64_t)i * 10 + 5, i),
                     VMS_OK));
    cr_assert(vms_rtree_check(&t) == NULL);
    vms_rnode_t *root = &t.nodes[t.root];
    cr_assert(eq(int, root->leaf, 0));
    vms_rnode_t *leaf = &t.nodes[root->u.in.child[0]];
    while (!leaf->leaf) leaf = &t.nodes[leaf->u.in.child[0]];
    /* Order: swap two keys of a leaf. */
    uint64_t a = leaf->u.l.first[0];
    leaf->u.l.first[0] = leaf->u.l.first[1];
    leaf->u.l.first[1] = a;
    cr_expect(eq(str, (char *)vms_rtree_check(&t), "tree_order"));
    leaf->u.l.first[1] = leaf->u.l.first[0];
    leaf->u.l.first[0] = a;
    cr_assert(vms_rtree_check(&t) == NULL);
    /* Fill: a non-root leaf below half. */
    uint16_t n = leaf->n;
    leaf->n = VMS_RTREE_LEAF_MIN - 1;
    cr_expect(eq(str, (char *)vms_rtree_check(&t), "tree_fill"));
    leaf->n = n;
    /* Balance: the recorded height disagrees with the leaves' depth. */
    t.height++;
    cr_expect(eq(str, (char *)vms_rtree_check(&t), "tree_balance"));
    t.height--;
    /* Count and node accounting. */
    t.count++;
    cr_expect(eq(str, (char *)vms_rtree_check(&t), "tree_count"));
    t.count--;
    t.free_count++;
    cr_expect(eq(str, (char *)vms_rtree_check(&t), "tree_nodes"));
    t.free_count--;
    cr_expect(vms_rtree_check(&t) == NULL);
    vms_rtree_destroy(&t);
}

@@DEBUG@@
#endif /* VMSPACE_DEBUG */
