/* The owner: each lease rule, each error and each boundary, one test per rule. Under
 * VMSPACE_DEBUG every owner operation also runs the full invariant check; the hook installed
 * here turns a broken clause into a test failure that names it. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"

#define PG VMS_PAGE_4K
#define BASE ((uint64_t)0x40000000)

/* The window used by most tests, page by page from BASE:
 *   0..31   read-write, frames 0..31
 *   32..39  read-only, frames 32..39
 *   40..47  a hole
 *   48..55  read-write, frames 48..55
 *   56..63  no access (a mapping the CPU cannot touch) */
typedef struct fx_s {
    vms_space_t s;
    vms_owner_t o;
    uint64_t data_pa;
} fx_t;

static void on_broken(void *user, const char *clause) {
    (void)user;
    cr_fatal("owner invariant broken: %s", clause);
}

static void fx_init_desc(fx_t *f, vms_owner_desc_t *d) {
    cr_assert(eq(int, vt_space_init(&f->s, 4, 64u << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&f->s.arena, 64 * PG, PG, &f->data_pa), VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, BASE, f->data_pa, 32 * PG, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, BASE + 32 * PG, f->data_pa + 32 * PG, 8 * PG, VMS_R, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, BASE + 48 * PG, f->data_pa + 48 * PG, 8 * PG, VMS_RW, 0),
                 VMS_OK));
    cr_assert(eq(int, vms_space_map(&f->s, BASE + 56 * PG, f->data_pa + 56 * PG, 8 * PG, 0, 0),
                 VMS_OK));
    d->check_failed = on_broken;
    cr_assert(eq(int, vms_owner_init(&f->o, &f->s, d), VMS_OK));
}

static void fx_init(fx_t *f, bool shared) {
    vms_owner_desc_t d;
    memset(&d, 0, sizeof d);
    d.shared_reader = shared;
    fx_init_desc(f, &d);
}

static void fx_fini(fx_t *f) { vt_owner_teardown(&f->o, &f->s); }

static vms_lease_t take(fx_t *f, vms_lease_kind k, uint64_t page, uint64_t npages) {
    vms_lease_t l, b;
    int rc = vms_lease_acquire(&f->o, k, BASE + page * PG, npages * PG, &l, &b);
    cr_assert(eq(int, rc, VMS_OK), "take %s pages [%llu, +%llu): %s",
              k == VMS_LEASE_READ ? "reader" : "writer", (unsigned long long)page,
              (unsigned long long)npages, vms_err_name(rc));
    cr_assert(vms_lease_is_live(&f->o, l));
    return l;
}

/* Acquire expecting `want`; returns the blocker. */
static vms_lease_t refuse(fx_t *f, vms_lease_kind k, uint64_t va, uint64_t len, int want) {
    vms_lease_t l, b;
    vms_owner_stats_t before, after;
    vms_owner_stats(&f->o, &before);
    int rc = vms_lease_acquire(&f->o, k, va, len, &l, &b);
    cr_assert(eq(int, rc, want), "acquire %#llx+%#llx: got %s, want %s",
              (unsigned long long)va, (unsigned long long)len, vms_err_name(rc),
              vms_err_name(want));
    cr_assert(eq(u64, l.id, VMS_LEASE_INVALID_ID));
    vms_owner_stats(&f->o, &after);
    cr_assert(eq(u64, after.readers, before.readers));
    cr_assert(eq(u64, after.writers, before.writers));
    return b;
}

/* The blocker reported for a refused (conflicting) acquire. */
static uint64_t blocker_of(fx_t *f, vms_lease_kind k, uint64_t va, uint64_t len) {
    return refuse(f, k, va, len, VMS_ERR_CONFLICT).id;
}

Test(owner, writer_excludes_every_overlap) {
    fx_t f;
    fx_init(&f, true);
    vms_lease_t w = take(&f, VMS_LEASE_WRITE, 4, 4);
    /* Overlapping writers and readers are refused and told who is in the way, shared reading
     * or not; one shared byte page is enough. */
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE + 7 * PG, 2 * PG), w.id));
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_READ, BASE + 3 * PG, 2 * PG), w.id));
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_READ, BASE, 32 * PG), w.id));
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE + 5 * PG, PG), w.id));
    /* Touching on either side is not overlapping (half-open ranges). */
    vms_lease_t a = take(&f, VMS_LEASE_WRITE, 8, 2);
    vms_lease_t b = take(&f, VMS_LEASE_READ, 2, 2);
    cr_expect(ne(u64, a.id, b.id));
    fx_fini(&f);
}

Test(owner, readers_exclusive_without_shared_reading) {
    fx_t f;
    fx_init(&f, false);
    vms_lease_t r = take(&f, VMS_LEASE_READ, 10, 4);
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_READ, BASE + 13 * PG, PG), r.id));
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE + 9 * PG, 2 * PG), r.id));
    take(&f, VMS_LEASE_READ, 14, 1);
    take(&f, VMS_LEASE_READ, 9, 1);
    fx_fini(&f);
}

Test(owner, readers_overlap_with_shared_reading) {
    fx_t f;
    fx_init(&f, true);
    vms_lease_t r1 = take(&f, VMS_LEASE_READ, 10, 4);
    vms_lease_t r2 = take(&f, VMS_LEASE_READ, 10, 4);
    vms_lease_t r3 = take(&f, VMS_LEASE_READ, 12, 6);
    vms_lease_t r0 = take(&f, VMS_LEASE_READ, 6, 5);
    cr_expect(ne(u64, r1.id, r2.id));
    (void)r3;
    /* A writer is refused; the blocker is the first conflicting lease in VA order. */
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE + 8 * PG, PG), r0.id));
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE, 32 * PG), r0.id));
    {
        vms_lease_t b = refuse(&f, VMS_LEASE_WRITE, BASE + 13 * PG, 10 * PG, VMS_ERR_CONFLICT);
        cr_expect(b.id == r1.id || b.id == r2.id, "blocker must start at page 10");
    }
    cr_expect(eq(u64, blocker_of(&f, VMS_LEASE_WRITE, BASE + 17 * PG, PG), r3.id));
    /* first_conflict: a reader ignores readers in shared mode, a writer does not. */
    vms_lease_t c;
    cr_expect(not(vms_owner_first_conflict(&f.o, VMS_LEASE_READ, BASE, 32 * PG, &c)));
    cr_expect(vms_owner_first_conflict(&f.o, VMS_LEASE_WRITE, BASE, 32 * PG, &c) && c.id == r0.id);
    fx_fini(&f);
}

Test(owner, range_errors) {
    fx_t f;
    fx_init(&f, false);
    for (int k = VMS_LEASE_READ; k <= VMS_LEASE_WRITE; k++) {
        refuse(&f, (vms_lease_kind)k, BASE, 0, VMS_ERR_ZEROLEN);
        refuse(&f, (vms_lease_kind)k, BASE + 1, PG, VMS_ERR_ALIGN);
        refuse(&f, (vms_lease_kind)k, BASE, PG + 1, VMS_ERR_ALIGN);
        refuse(&f, (vms_lease_kind)k, (uint64_t)1 << 47, PG, VMS_ERR_NONCANON);
        refuse(&f, (vms_lease_kind)k, 0x00007ffffffff000, 2 * PG, VMS_ERR_OVERFLOW);
        refuse(&f, (vms_lease_kind)k, 0xfffffffffffff000, 2 * PG, VMS_ERR_OVERFLOW);
        refuse(&f, (vms_lease_kind)k, BASE, UINT64_MAX - PG + 1, VMS_ERR_OVERFLOW);
    }
    {
        vms_lease_t l, b;
        cr_expect(eq(int, vms_lease_acquire(&f.o, (vms_lease_kind)0, BASE, PG, &l, &b),
                     VMS_ERR_ARG));
        cr_expect(eq(int, vms_lease_acquire(&f.o, (vms_lease_kind)3, BASE, PG, &l, &b),
                     VMS_ERR_ARG));
    }
    fx_fini(&f);
}

Test(owner, range_must_be_mapped_with_rights) {
    fx_t f;
    fx_init(&f, false);
    refuse(&f, VMS_LEASE_READ, BASE + 40 * PG, PG, VMS_ERR_NOENT);      /* a hole */
    refuse(&f, VMS_LEASE_READ, BASE + 38 * PG, 4 * PG, VMS_ERR_NOENT);  /* runs into it */
    refuse(&f, VMS_LEASE_WRITE, BASE + 32 * PG, PG, VMS_ERR_PERM);      /* read-only */
    refuse(&f, VMS_LEASE_WRITE, BASE + 30 * PG, 4 * PG, VMS_ERR_PERM);  /* partly */
    refuse(&f, VMS_LEASE_WRITE, BASE + 36 * PG, 8 * PG, VMS_ERR_PERM);  /* PERM comes first */
    refuse(&f, VMS_LEASE_READ, BASE + 56 * PG, PG, VMS_ERR_PERM);       /* no access */
    refuse(&f, VMS_LEASE_READ, BASE + 55 * PG, 2 * PG, VMS_ERR_PERM);
    refuse(&f, VMS_LEASE_READ, BASE - PG, 2 * PG, VMS_ERR_NOENT);
    take(&f, VMS_LEASE_READ, 32, 8); /* a reader over read-only memory is fine */
    take(&f, VMS_LEASE_WRITE, 0, 32);
    fx_fini(&f);
}

/* The first and last user pages of the lower half and the last page of the address space. */
Test(owner, first_and_last_pages) {
    vms_space_t s;
    vms_owner_t o;
    uint64_t pa;
    vms_lease_t l[3], b, c;
    const uint64_t vas[3] = {0, 0x00007ffffffff000, 0xfffffffffffff000};
    cr_assert(eq(int, vt_space_init(&s, 4, 16u << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, 3 * PG, PG, &pa), VMS_OK));
    cr_assert(eq(int, vms_owner_init(&o, &s, NULL), VMS_OK));
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, vms_owner_map(&o, vas[i], pa + (uint64_t)i * PG, PG, VMS_RW, 0, &b),
                     VMS_OK));
        cr_assert(eq(int, vms_lease_acquire(&o, VMS_LEASE_WRITE, vas[i], PG, &l[i], &b), VMS_OK));
        cr_expect(eq(int, vms_lease_acquire(&o, VMS_LEASE_READ, vas[i], PG, &c, &b),
                     VMS_ERR_CONFLICT));
        cr_expect(eq(u64, b.id, l[i].id));
        cr_expect(eq(int, vms_lease_write(&o, l[i], vas[i] + PG - 8, "lastbyte", 8), VMS_OK));
    }
    {
        char buf[8];
        cr_expect(eq(int, vms_lease_read(&o, l[2], 0xfffffffffffffff8, buf, 8), VMS_OK));
        cr_expect(eq(int, memcmp(buf, "lastbyte", 8), 0));
        cr_expect(eq(int, vms_lease_read(&o, l[2], 0xfffffffffffffff8, buf, 9), VMS_ERR_RANGE));
    }
    {
        vms_lease_info_t info;
        cr_assert(eq(int, vms_lease_info(&o, l[2], &info), VMS_OK));
        cr_expect(eq(u64, info.va, vas[2]));
        cr_expect(eq(u64, info.len, PG));
        cr_expect(eq(int, info.kind, VMS_LEASE_WRITE));
    }
    cr_expect(eq(int, vms_owner_unmap(&o, 0xfffffffffffff000, PG, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, l[2].id));
#ifdef VMSPACE_DEBUG
    cr_expect(vms_owner_check(&o) == NULL);
#endif
    for (int i = 0; i < 3; i++) cr_assert(eq(int, vms_lease_release(&o, l[i]), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&o, 0xfffffffffffff000, PG, &b), VMS_OK));
    cr_assert(eq(int, vms_owner_destroy(&o), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

Test(owner, inactive_owner) {
    fx_t f;
    vms_owner_desc_t d;
    vms_lease_t l, b;
    char buf[16] = {0};
    memset(&d, 0, sizeof d);
    d.inactive = true;
    fx_init_desc(&f, &d);
    cr_expect(not(vms_owner_is_active(&f.o)));
    cr_expect(eq(int, vms_lease_acquire(&f.o, VMS_LEASE_READ, BASE, PG, &l, &b),
                 VMS_ERR_INACTIVE));
    /* Bad input is reported before the state. */
    cr_expect(eq(int, vms_lease_acquire(&f.o, VMS_LEASE_READ, BASE, 0, &l, &b), VMS_ERR_ZEROLEN));
    vms_owner_set_active(&f.o, true);
    l = take(&f, VMS_LEASE_WRITE, 0, 2);
    vms_owner_set_active(&f.o, false);
    cr_expect(eq(int, vms_lease_write(&f.o, l, BASE, buf, 16), VMS_ERR_INACTIVE));
    cr_expect(eq(int, vms_lease_read(&f.o, l, BASE, buf, 16), VMS_ERR_INACTIVE));
    /* Guarded mutations and release still work, and still guard. */
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE, PG, &b), VMS_ERR_BUSY));
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE + 4 * PG, PG, VMS_R, &b), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, l), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE, PG, &b), VMS_OK));
    vms_owner_set_active(&f.o, true);
    fx_fini(&f);
}

/* While a lease lives the owner refuses unmap, protect and replace under it, reports the
 * lease, and leaves the tables untouched; touching ranges and plain maps are not affected. */
Test(owner, busy_under_a_lease) {
    fx_t f;
    vms_lease_t b, w, r;
    fx_init(&f, false);
    w = take(&f, VMS_LEASE_WRITE, 4, 4);
    r = take(&f, VMS_LEASE_READ, 10, 2);
    uint64_t before = vt_digest(&f.s);
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 7 * PG, 4 * PG, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, w.id));
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 8 * PG, 4 * PG, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE, 32 * PG, VMS_R, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, w.id));
    cr_expect(eq(int, vms_owner_map(&f.o, BASE + 11 * PG, f.data_pa, PG, VMS_RW, VMS_MAP_REPLACE,
                                    &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(int, vms_owner_map(&f.o, BASE + 11 * PG, f.data_pa, PG, VMS_RW, 0, &b),
                 VMS_ERR_EXIST));
    cr_expect(eq(u64, vt_digest(&f.s), before), "tables changed under a refused operation");
    /* Touching: fine. NULL blocker: fine. */
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE + 8 * PG, 2 * PG, VMS_R, NULL), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 12 * PG, PG, &b), VMS_OK));
    cr_expect(eq(u64, b.id, VMS_LEASE_INVALID_ID));
    cr_expect(eq(int, vms_owner_map(&f.o, BASE + 3 * PG, f.data_pa + 3 * PG, PG, VMS_RW,
                                    VMS_MAP_REPLACE, &b), VMS_OK));
    /* Range errors come first. */
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 1, PG, &b), VMS_ERR_ALIGN));
    cr_expect(eq(int, vms_owner_protect(&f.o, BASE, 0, VMS_R, &b), VMS_ERR_ZEROLEN));
    cr_expect(eq(int, vms_lease_release(&f.o, w), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&f.o, BASE + 7 * PG, PG, &b), VMS_OK));
    fx_fini(&f);
}

/* Relative protect through the owner: refused under a lease (tables untouched, blocker
 * reported), argument errors first, and done beside it. */
static vms_prop_t owner_drop_w(void *user, const vms_mapping_t *m) {
    (*(int *)user)++;
    return m->prop & ~(vms_prop_t)VMS_W;
}

Test(owner, relative_protect_guarded) {
    fx_t f;
    vms_lease_t b, w;
    vms_mapping_t m;
    int calls = 0;
    fx_init(&f, false);
    w = take(&f, VMS_LEASE_WRITE, 4, 4);
    uint64_t before = vt_digest(&f.s);
    cr_expect(eq(int, vms_owner_protect_mask(&f.o, BASE, 8 * PG, 0, VMS_W, &b), VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, w.id));
    cr_expect(eq(int, vms_owner_protect_fn(&f.o, BASE + 7 * PG, PG, owner_drop_w, &calls, &b),
                 VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, w.id));
    cr_expect(eq(int, calls, 0));
    cr_expect(eq(int, vms_owner_protect_mask(&f.o, BASE, 8 * PG, VMS_W, VMS_W, &b), VMS_ERR_ARG));
    cr_expect(eq(int, vms_owner_protect_mask(&f.o, BASE, 8 * PG, VMS_DIRTY, 0, &b),
                 VMS_ERR_FLAGS));
    cr_expect(eq(int, vms_owner_protect_fn(&f.o, BASE, 8 * PG, NULL, NULL, &b), VMS_ERR_ARG));
    cr_expect(eq(int, vms_owner_protect_fn(&f.o, BASE, 0, owner_drop_w, &calls, &b),
                 VMS_ERR_ZEROLEN));
    cr_expect(eq(u64, vt_digest(&f.s), before), "tables changed under a refused operation");
    cr_expect(eq(int, vms_owner_protect_mask(&f.o, BASE, 4 * PG, 0, VMS_W, &b), VMS_OK));
    cr_expect(eq(u64, b.id, VMS_LEASE_INVALID_ID));
    cr_expect(eq(int, vms_owner_protect_fn(&f.o, BASE + 8 * PG, 2 * PG, owner_drop_w, &calls, &b),
                 VMS_OK));
    cr_expect(eq(int, calls, 2));
    cr_assert(eq(int, vms_space_query(&f.s, BASE + 9 * PG, &m), VMS_OK));
    cr_expect(eq(u32, m.prop & VMS_W, 0));
    cr_assert(eq(int, vms_space_query(&f.s, BASE + 5 * PG, &m), VMS_OK));
    cr_expect(eq(u32, m.prop & VMS_W, VMS_W), "the leased page kept W");
    cr_expect(eq(int, vms_lease_release(&f.o, w), VMS_OK));
    fx_fini(&f);
}

/* A copy-on-write clone takes W from the owner's pages: refused under a lease; a plain one
 * is not. */
Test(owner, clone_guarded_when_copy_on_write) {
    fx_t f;
    vms_lease_t b, r;
    vms_space_t child;
    vms_mapping_t m;
    fx_init(&f, false);
    cr_assert(eq(int, vt_space_init(&child, f.s.levels, 0), VMS_OK));
    r = take(&f, VMS_LEASE_READ, 4, 2);
    uint64_t before = vt_digest(&f.s);
    cr_expect(eq(int, vms_owner_clone(&f.o, &child, BASE, 8 * PG, VMS_CLONE_COW, NULL, NULL, &b),
                 VMS_ERR_BUSY));
    cr_expect(eq(u64, b.id, r.id));
    cr_expect(eq(int, vms_owner_clone(&f.o, &child, BASE, 8 * PG, 0x8, NULL, NULL, &b),
                 VMS_ERR_FLAGS));
    cr_expect(eq(u64, vt_digest(&f.s), before));
    cr_expect(eq(u64, vt_mapped_total(&child), 0));
    cr_expect(eq(int, vms_owner_clone(&f.o, &child, BASE, 8 * PG, 0, NULL, NULL, &b), VMS_OK));
    cr_expect(eq(u64, vt_digest(&f.s), before));
    cr_assert(eq(int, vms_space_query(&child, BASE + 5 * PG, &m), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, r), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&child, BASE, 8 * PG), VMS_OK));
    cr_expect(eq(int, vms_owner_clone(&f.o, &child, BASE, 8 * PG, VMS_CLONE_COW, NULL, NULL, &b),
                 VMS_OK));
    cr_assert(eq(int, vms_space_query(&f.s, BASE + 5 * PG, &m), VMS_OK));
    cr_expect(eq(u32, m.prop & (VMS_W | VMS_COW), VMS_COW));
    vms_space_destroy(&child);
    fx_fini(&f);
}

Test(owner, stale_handles) {
    fx_t f;
    vms_lease_info_t info;
    fx_init(&f, false);
    vms_lease_t a = take(&f, VMS_LEASE_WRITE, 0, 1);
    cr_expect(eq(int, vms_lease_release(&f.o, a), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, a), VMS_ERR_STALE));
    cr_expect(not(vms_lease_is_live(&f.o, a)));
    cr_expect(eq(int, vms_lease_info(&f.o, a, &info), VMS_ERR_STALE));
    /* The slot is reused, the handle is not: the old handle cannot end the new lease. */
    vms_lease_t b = take(&f, VMS_LEASE_WRITE, 0, 1);
    cr_expect(ne(u64, a.id, b.id));
    cr_expect(eq(int, vms_lease_release(&f.o, a), VMS_ERR_STALE));
    cr_expect(vms_lease_is_live(&f.o, b));
    {
        vms_lease_t forged[4] = {{0}, {1}, {b.id + ((uint64_t)1 << 32)}, {b.id + 1}};
        char c;
        for (int i = 0; i < 4; i++) {
            cr_expect(eq(int, vms_lease_release(&f.o, forged[i]), VMS_ERR_STALE));
            cr_expect(eq(int, vms_lease_read(&f.o, forged[i], BASE, &c, 1), VMS_ERR_STALE));
            cr_expect(eq(int, vms_lease_write(&f.o, forged[i], BASE, &c, 1), VMS_ERR_STALE));
        }
    }
    cr_expect(vms_lease_is_live(&f.o, b));
    cr_expect(eq(u64, f.o.writers.count, 1));
    fx_fini(&f);
}

/* Serials are fresh for every lease, even when slots and ranges repeat. */
Test(owner, serials_never_reused) {
    fx_t f;
    vms_lease_info_t info;
    uint64_t prev = 0;
    fx_init(&f, true);
    vms_lease_t keep = take(&f, VMS_LEASE_READ, 20, 1);
    for (int i = 0; i < 2000; i++) {
        vms_lease_t l = take(&f, i & 1 ? VMS_LEASE_READ : VMS_LEASE_WRITE, (uint64_t)(i % 8), 1);
        cr_assert(eq(int, vms_lease_info(&f.o, l, &info), VMS_OK));
        cr_assert(gt(u64, info.serial, prev));
        cr_assert(eq(u64, info.handle.id, l.id));
        prev = info.serial;
        cr_assert(eq(int, vms_lease_release(&f.o, l), VMS_OK));
    }
    cr_assert(eq(int, vms_lease_info(&f.o, keep, &info), VMS_OK));
    cr_expect(lt(u64, info.serial, prev));
    fx_fini(&f);
}

Test(owner, copies_through_leases) {
    fx_t f;
    unsigned char src[3 * 4096], dst[3 * 4096];
    fx_init(&f, true);
    for (size_t i = 0; i < sizeof src; i++) src[i] = (unsigned char)(i * 31u + 7u);
    vms_lease_t w = take(&f, VMS_LEASE_WRITE, 1, 4);
    /* Across page boundaries, unaligned. */
    cr_assert(eq(int, vms_lease_write(&f.o, w, BASE + PG + 100, src, sizeof src), VMS_OK));
    cr_assert(eq(int, vms_lease_read(&f.o, w, BASE + PG + 100, dst, sizeof dst), VMS_OK));
    cr_expect(eq(int, memcmp(src, dst, sizeof src), 0));
    /* The bytes went to the frames the tables name. */
    cr_expect(eq(int, memcmp(vms_arena_ptr(&f.s.arena, f.data_pa + PG + 100), src, sizeof src), 0));
    /* Outside the lease, or wrapping. */
    cr_expect(eq(int, vms_lease_write(&f.o, w, BASE, src, 1), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_lease_write(&f.o, w, BASE + 5 * PG - 1, src, 2), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_lease_read(&f.o, w, BASE + 5 * PG, dst, 1), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_lease_read(&f.o, w, BASE + PG, dst, UINT64_MAX), VMS_ERR_RANGE));
    cr_expect(eq(int, vms_lease_read(&f.o, w, BASE + 5 * PG - 1, dst, 1), VMS_OK));
    cr_expect(eq(int, vms_lease_read(&f.o, w, BASE + PG, dst, 0), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&f.o, w), VMS_OK));
    /* A reader reads what the writer wrote and may not write. */
    vms_lease_t r = take(&f, VMS_LEASE_READ, 1, 4);
    memset(dst, 0, sizeof dst);
    cr_assert(eq(int, vms_lease_read(&f.o, r, BASE + PG + 100, dst, sizeof dst), VMS_OK));
    cr_expect(eq(int, memcmp(src, dst, sizeof src), 0));
    cr_expect(eq(int, vms_lease_write(&f.o, r, BASE + PG + 100, src, 1), VMS_ERR_PERM));
    /* A reader of read-only memory reads it. */
    vms_lease_t ro = take(&f, VMS_LEASE_READ, 32, 1);
    cr_expect(eq(int, vms_lease_read(&f.o, ro, BASE + 32 * PG, dst, PG), VMS_OK));
    fx_fini(&f);
}

/* A lease inside a 2 MiB page: unmapping the rest of that page splits it, the lease's
 * translation and bytes stay, and unmapping under the lease is refused. */
Test(owner, lease_inside_a_huge_page) {
    vms_space_t s;
    vms_owner_t o;
    vms_owner_desc_t d;
    uint64_t pa;
    vms_lease_t r, b;
    const uint64_t va = 0x200000 * 8;
    unsigned char buf[64];
    memset(&d, 0, sizeof d);
    d.check_failed = on_broken;
    cr_assert(eq(int, vt_space_init(&s, 4, 32u << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&s.arena, VMS_PAGE_2M, VMS_PAGE_2M, &pa), VMS_OK));
    memset(vms_arena_ptr(&s.arena, pa + 5 * PG), 0xab, PG);
    cr_assert(eq(int, vms_owner_init(&o, &s, &d), VMS_OK));
    cr_assert(eq(int, vms_owner_map(&o, va, pa, VMS_PAGE_2M, VMS_RW, 0, &b), VMS_OK));
    cr_assert(eq(int, vms_lease_acquire(&o, VMS_LEASE_READ, va + 5 * PG, 2 * PG, &r, &b), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&o, va, VMS_PAGE_2M, &b), VMS_ERR_BUSY));
    cr_expect(eq(int, vms_owner_unmap(&o, va, 5 * PG, &b), VMS_OK));
    cr_expect(eq(int, vms_owner_unmap(&o, va + 7 * PG, VMS_PAGE_2M - 7 * PG, &b), VMS_OK));
    cr_expect(eq(int, vms_lease_read(&o, r, va + 5 * PG, buf, sizeof buf), VMS_OK));
    cr_expect(eq(int, buf[0], 0xab));
    cr_expect(eq(int, vms_lease_release(&o, r), VMS_OK));
    cr_assert(eq(int, vms_owner_destroy(&o), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}

static int collect(void *user, const vms_lease_info_t *l) {
    vms_lease_info_t *out = user;
    size_t i = 0;
    while (out[i].handle.id) i++;
    out[i] = *l;
    return i == 3 ? 42 : 0; /* stop after four */
}

Test(owner, enumeration_in_va_order) {
    fx_t f;
    vms_owner_iter_t it;
    vms_lease_info_t info, got[8];
    fx_init(&f, true);
    vms_lease_t w1 = take(&f, VMS_LEASE_WRITE, 20, 2);
    vms_lease_t r1 = take(&f, VMS_LEASE_READ, 2, 6);
    vms_lease_t r2 = take(&f, VMS_LEASE_READ, 4, 1);
    vms_lease_t w0 = take(&f, VMS_LEASE_WRITE, 10, 1);
    vms_lease_t r3 = take(&f, VMS_LEASE_READ, 24, 1);
    vms_lease_t order[5] = {r1, r2, w0, w1, r3};
    /* [BASE + 3 pages, BASE + 24 pages) touches r3 and does not include it. */
    size_t n = 0;
    bool more = vms_owner_iter_first(&f.o, BASE + 3 * PG, 21 * PG, &it, &info);
    while (more) {
        cr_assert(lt(sz, n, 4));
        cr_expect(eq(u64, info.handle.id, order[n].id), "position %zu", n);
        n++;
        more = vms_owner_iter_next(&it, &info);
    }
    cr_expect(eq(sz, n, 4));
    cr_expect(not(vms_owner_iter_first(&f.o, BASE + 8 * PG, 2 * PG, &it, &info)));
    cr_expect(not(vms_owner_iter_first(&f.o, BASE, 0, &it, &info)));
    /* foreach stops on a non-zero return and passes it on. */
    memset(got, 0, sizeof got);
    cr_expect(eq(int, vms_owner_foreach(&f.o, 0, UINT64_MAX, collect, got), 42));
    for (int i = 0; i < 4; i++) cr_expect(eq(u64, got[i].handle.id, order[i].id));
    cr_expect(eq(int, got[0].kind, VMS_LEASE_READ));
    cr_expect(eq(u64, got[0].va, BASE + 2 * PG));
    cr_expect(eq(u64, got[0].len, 6 * PG));
    fx_fini(&f);
}

Test(owner, destroy_refused_while_leased) {
    fx_t f;
    fx_init(&f, false);
    vms_lease_t l = take(&f, VMS_LEASE_READ, 0, 1);
    cr_expect(eq(int, vms_owner_destroy(&f.o), VMS_ERR_BUSY));
    cr_expect(vms_lease_is_live(&f.o, l));
    fx_fini(&f);
}

/* ---- allocation failure ---- */
typedef struct fail_alloc_s {
    long calls, fail_at, live;
} fail_alloc_t;

static void *fa_alloc(void *user, size_t size) {
    fail_alloc_t *f = user;
    if (++f->calls == f->fail_at) return NULL;
    f->live++;
    return malloc(size);
}

static void fa_free(void *user, void *p, size_t size) {
    fail_alloc_t *f = user;
    (void)size;
    f->live--;
    free(p);
}

/* Snapshot of everything observable: the leases in VA order and the tables. */
static uint64_t owner_digest(const vms_owner_t *o) {
    vms_owner_iter_t it;
    vms_lease_info_t info;
    uint64_t h = vt_digest(o->space) ^ o->next_serial * 0x9e3779b97f4a7c15u;
    bool more = vms_owner_iter_first(o, 0, UINT64_MAX, &it, &info);
    while (more) {
        h = (h ^ info.handle.id) * 0x100000001b3u;
        h = (h ^ info.serial ^ info.va ^ (info.len << 3) ^ info.kind) * 0x100000001b3u;
        more = vms_owner_iter_next(&it, &info);
    }
    return h;
}

/* Make the k-th allocation fail for every k an acquire performs, over a growing owner: each
 * failure returns VMS_ERR_NOMEM and leaves leases, tables and serial counter exactly as they
 * were; the retry then succeeds. */
Test(owner, allocation_failure_changes_nothing) {
    fail_alloc_t fa = {0, 0, 0};
    vms_owner_desc_t d;
    fx_t f;
    int failures = 0;
    memset(&d, 0, sizeof d);
    d.shared_reader = true;
    d.allocator.alloc = fa_alloc;
    d.allocator.free = fa_free;
    d.allocator.user = &fa;
    fx_init_desc(&f, &d);
    for (int i = 0; i < 400; i++) {
        vms_lease_kind k = i % 3 ? VMS_LEASE_READ : VMS_LEASE_WRITE;
        uint64_t page = k == VMS_LEASE_WRITE ? 48 + (uint64_t)(i / 3 % 8) : (uint64_t)(i % 32);
        vms_lease_t l, b;
        int rc;
        if (k == VMS_LEASE_WRITE && vms_owner_first_conflict(&f.o, k, BASE + page * PG, PG, &b))
            continue;
        for (long at = 1;; at++) {
            uint64_t before = owner_digest(&f.o);
            fa.fail_at = fa.calls + at;
            rc = vms_lease_acquire(&f.o, k, BASE + page * PG, PG, &l, &b);
            if (rc == VMS_OK) break;
            cr_assert(eq(int, rc, VMS_ERR_NOMEM), "acquire %d: %s", i, vms_err_name(rc));
            cr_assert(eq(u64, l.id, VMS_LEASE_INVALID_ID));
            cr_assert(eq(u64, owner_digest(&f.o), before), "state changed on NOMEM");
#ifdef VMSPACE_DEBUG
            cr_assert(vms_owner_check(&f.o) == NULL);
#endif
            failures++;
        }
        fa.fail_at = 0;
    }
    cr_expect(gt(int, failures, 10), "only %d allocation points hit", failures);
    fx_fini(&f);
    cr_expect(eq(long, fa.live, 0), "owner leaked %ld blocks", fa.live);
}

Test(owner, allocator_hooks_both_or_neither) {
    vms_space_t s;
    vms_owner_t o;
    vms_owner_desc_t d;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = fa_alloc;
    cr_assert(eq(int, vt_space_init(&s, 4, 16u << 20), VMS_OK));
    cr_expect(eq(int, vms_owner_init(&o, &s, &d), VMS_ERR_ARG));
    cr_assert(eq(int, vms_space_destroy(&s), VMS_OK));
}
