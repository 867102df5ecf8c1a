/* Edge cases of vmspace_owner.h: conflict queries that must descend a writer tree of more than
 * one level (alone and in lockstep with a one-leaf reader tree), handles forged from a free
 * slot's next generation, and reader leases at the provider's physical limit. Under
 * VMSPACE_DEBUG every owner operation runs the full check; a broken clause fails the test. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"

#define PG VMS_PAGE_4K
#define BASE ((uint64_t)0x40000000)
#define M1 ((uint64_t)1 << 20)
#define NW 60 /* writers: more than two leaves' worth, so the writer tree has an inner root */

static void on_broken(void *user, const char *clause) {
    (void)user;
    cr_fatal("owner invariant broken: %s", clause);
}

static vms_space_t sp;
static vms_owner_t ow;
static uint64_t data_pa;

static void init_owner(bool shared) {
    vms_owner_desc_t d;
    memset(&d, 0, sizeof d);
    d.shared_reader = shared;
    d.check_failed = on_broken;
    cr_assert(eq(int, vms_owner_init(&ow, &sp, &d), VMS_OK));
}

/* 128 read-write pages at BASE. */
static void setup(void) {
    cr_assert(eq(int, vt_space_init(&sp, 4, 16 * M1), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&sp.arena, 128 * PG, PG, &data_pa), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, BASE, data_pa, 128 * PG, VMS_RW, 0), VMS_OK));
}

static void teardown(void) { vt_owner_teardown(&ow, &sp); }

TestSuite(cov_owner, .init = setup, .fini = teardown);

/* Writers on even pages 0, 2, ..., 2 * (NW - 1); returns their handles in w[]. */
static void take_writers(vms_lease_t w[NW]) {
    for (int k = 0; k < NW; k++) {
        vms_lease_t b;
        cr_assert(eq(int,
                     vms_lease_acquire(&ow, VMS_LEASE_WRITE, BASE + 2u * k * PG, PG, &w[k], &b),
                     VMS_OK),
                  "writer %d", k);
    }
    vms_owner_stats_t st;
    vms_owner_stats(&ow, &st);
    cr_assert(eq(u64, st.writers, NW));
}

/* Conflicts found through a writer tree with an inner root, with the reader tree empty (shared
 * readers skip it) or a single leaf: the blocker is exactly the writer in the way. */
static void conflicts_against_writers(bool shared) {
    vms_lease_t w[NW], b, got, r;
    init_owner(shared);
    take_writers(w);
    /* A reader in the odd page gap between writers 50 and 51 (one-leaf reader tree). */
    cr_assert(eq(int, vms_lease_acquire(&ow, VMS_LEASE_READ, BASE + 101 * PG, PG, &r, &b), VMS_OK));
    for (int k = 0; k < NW; k += 7) {
        uint64_t va = BASE + 2u * k * PG;
        cr_expect(
            eq(int, vms_lease_acquire(&ow, VMS_LEASE_READ, va, PG, &got, &b), VMS_ERR_CONFLICT),
            "reader over writer %d", k);
        cr_expect(eq(u64, b.id, w[k].id), "blocker of writer %d", k);
        cr_expect(eq(u64, got.id, VMS_LEASE_INVALID_ID));
        /* A range from the odd page before it: the same writer is the first in the way. */
        if (k > 0) {
            cr_expect(vms_owner_first_conflict(&ow, VMS_LEASE_READ, va - PG, 2 * PG, &got));
            cr_expect(eq(u64, got.id, w[k].id), "first conflict before writer %d", k);
        }
    }
    /* The odd pages are free for readers, but not when the reader sits there (exclusive). */
    cr_expect(not(vms_owner_first_conflict(&ow, VMS_LEASE_READ, BASE + 33 * PG, PG, &got)));
    cr_expect(
        eq(int, vms_owner_first_conflict(&ow, VMS_LEASE_READ, BASE + 101 * PG, PG, &got), !shared));
    cr_expect(vms_owner_first_conflict(&ow, VMS_LEASE_WRITE, BASE + 101 * PG, PG, &got));
    cr_expect(eq(u64, got.id, r.id));
    /* Past the last writer nothing is in the way. */
    cr_expect(not(vms_owner_first_overlap(&ow, BASE + 2u * NW * PG, 8 * PG, &got)));
    /* The first overlap of a range over many leases is the lowest one. */
    cr_expect(vms_owner_first_overlap(&ow, BASE + 99 * PG, 8 * PG, &got));
    cr_expect(eq(u64, got.id, w[50].id));
    cr_expect(vms_owner_first_overlap(&ow, BASE + 101 * PG, 8 * PG, &got));
    cr_expect(eq(u64, got.id, r.id));
    /* A release leaves the others' conflicts as they were. */
    cr_assert(eq(int, vms_lease_release(&ow, w[21]), VMS_OK));
    cr_expect(
        eq(int, vms_lease_acquire(&ow, VMS_LEASE_READ, BASE + 42 * PG, PG, &got, &b), VMS_OK));
    cr_expect(eq(int, vms_lease_acquire(&ow, VMS_LEASE_READ, BASE + 44 * PG, PG, &got, &b),
                 VMS_ERR_CONFLICT));
    cr_expect(eq(u64, b.id, w[22].id));
}

Test(cov_owner, conflicts_through_a_deep_writer_tree_exclusive) {
    conflicts_against_writers(false);
}
Test(cov_owner, conflicts_through_a_deep_writer_tree_shared) { conflicts_against_writers(true); }

/* A handle made from a free slot's next generation is not live (slot index and generation
 * match, but the slot holds no lease); once the slot is taken again it is that lease's. */
Test(cov_owner, forged_handle_of_a_free_slot) {
    vms_lease_t l, b, again;
    vms_lease_info_t info;
    init_owner(false);
    cr_assert(eq(int, vms_lease_acquire(&ow, VMS_LEASE_READ, BASE, PG, &l, &b), VMS_OK));
    cr_assert(eq(int, vms_lease_release(&ow, l), VMS_OK));
    vms_lease_t forged = {l.id + ((uint64_t)1 << 32)};
    cr_expect(not(vms_lease_is_live(&ow, forged)));
    cr_expect(eq(int, vms_lease_release(&ow, forged), VMS_ERR_STALE));
    cr_expect(eq(int, vms_lease_info(&ow, forged, &info), VMS_ERR_STALE));
    uint8_t buf[8];
    cr_expect(eq(int, vms_lease_read(&ow, forged, BASE, buf, 8), VMS_ERR_STALE));
    cr_expect(not(vms_lease_is_live(&ow, l)));
    cr_assert(eq(int, vms_lease_acquire(&ow, VMS_LEASE_WRITE, BASE + PG, PG, &again, &b), VMS_OK));
    cr_expect(eq(u64, again.id, forged.id), "the slot is reused with the next generation");
    cr_expect(vms_lease_is_live(&ow, forged));
    cr_expect(eq(int, vms_lease_info(&ow, forged, &info), VMS_OK));
    cr_expect(eq(u64, info.va, BASE + PG));
    cr_expect(eq(int, info.kind, VMS_LEASE_WRITE));
}

/* An arena of 3 MiB at 16 MiB ends at 19 MiB, in the middle of the 2 MiB page at 18 MiB. A
 * reader of its first MiB ends exactly at the limit and reads all of it; a reader of the whole
 * page reads up to the limit and faults past it. */
Test(cov_owner_limit, reader_lease_ending_exactly_at_the_physical_limit) {
    vms_space_t s;
    vms_owner_t o;
    vms_owner_desc_t d;
    vms_lease_t half, whole, b;
    const uint64_t va = 0x80000000, pa = 18 * M1, lim = 19 * M1;
    cr_assert(eq(int, vt_space_init(&s, 4, 3 * M1), VMS_OK));
    cr_assert(eq(u64, s.prov.phys_limit, lim));
    cr_assert(eq(int, vms_space_map(&s, va, pa, 2 * M1, VMS_R, 0), VMS_OK));
    uint8_t *host = (uint8_t *)vms_arena_ptr(&s.arena, lim - 1);
    *host = 0x3c;
    memset(&d, 0, sizeof d);
    d.shared_reader = true;
    d.check_failed = on_broken;
    cr_assert(eq(int, vms_owner_init(&o, &s, &d), VMS_OK));
    cr_assert(eq(int, vms_lease_acquire(&o, VMS_LEASE_READ, va, M1, &half, &b), VMS_OK));
    cr_assert(eq(int, vms_lease_acquire(&o, VMS_LEASE_READ, va, 2 * M1, &whole, &b), VMS_OK));
    uint8_t *buf = (uint8_t *)malloc((size_t)(2 * M1));
    cr_assert(ne(ptr, buf, NULL));
    cr_expect(eq(int, vms_lease_read(&o, half, va, buf, M1), VMS_OK));
    cr_expect(eq(u8, buf[M1 - 1], 0x3c));
    cr_expect(eq(int, vms_lease_read(&o, whole, va + M1 - 1, buf, 1), VMS_OK));
    cr_expect(eq(u8, buf[0], 0x3c));
    cr_expect(eq(int, vms_lease_read(&o, whole, va + M1 - 1, buf, 2), VMS_ERR_FAULT));
    cr_expect(eq(int, vms_lease_read(&o, whole, va + M1, buf, 1), VMS_ERR_FAULT));
    cr_expect(eq(int, vms_lease_read(&o, half, va + M1, buf, 1), VMS_ERR_RANGE));
    /* Nothing was written around the owner: both releases are clean. */
    cr_expect(eq(int, vms_lease_release(&o, whole), VMS_OK));
    cr_expect(eq(int, vms_lease_release(&o, half), VMS_OK));
    free(buf);
    cr_expect(eq(int, vms_owner_destroy(&o), VMS_OK));
    cr_expect(eq(int, vms_space_destroy(&s), VMS_OK));
}
