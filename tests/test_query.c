/* Query and enumerate. */
#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(query, .init = setup4, .fini = teardown);
TestSuite(query5, .init = setup5, .fini = teardown);

Test(query, each_page_size) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 3 * G1, G1 + M2 + K4, VMS_RW | VMS_USER, 0), VMS_OK));
    vms_mapping_t m;
    cr_assert(eq(int, vms_space_query(&sp, G1 + 0x3456789, &m), VMS_OK));
    cr_expect(eq(u64, m.va, G1));
    cr_expect(eq(u64, m.pa, 3 * G1));
    cr_expect(eq(u64, m.size, G1));
    cr_expect(eq(u32, m.prop, VMS_RW | VMS_USER));
    cr_assert(eq(int, vms_space_query(&sp, 2 * G1 + M2 - 1, &m), VMS_OK));
    cr_expect(eq(u64, m.va, 2 * G1));
    cr_expect(eq(u64, m.pa, 4 * G1));
    cr_expect(eq(u64, m.size, M2));
    cr_assert(eq(int, vms_space_query(&sp, 2 * G1 + M2 + 0xfff, &m), VMS_OK));
    cr_expect(eq(u64, m.va, 2 * G1 + M2));
    cr_expect(eq(u64, m.pa, 4 * G1 + M2));
    cr_expect(eq(u64, m.size, K4));
    /* Unaligned addresses are fine for query; unmapped and non-canonical ones are not. */
    cr_expect(eq(int, vms_space_query(&sp, 2 * G1 + M2 + K4, &m), VMS_ERR_NOENT));
    cr_expect(eq(int, vms_space_query(&sp, G1 - 1, &m), VMS_ERR_NOENT));
    cr_expect(eq(int, vms_space_query(&sp, 0x0000800000000000, &m), VMS_ERR_NONCANON));
    cr_expect(eq(int, vms_space_query(&sp, 0xffff7fffffffffff, &m), VMS_ERR_NONCANON));
    cr_expect(eq(int, vms_space_query(&sp, 0xffff800000000000, &m), VMS_ERR_NOENT));
}

Test(query5, noncanonical_5_levels) {
    vms_mapping_t m;
    cr_assert(eq(int, vms_space_map(&sp, 0x0000800000000000, 0, K4, VMS_R, 0), VMS_OK));
    cr_expect(eq(int, vms_space_query(&sp, 0x0000800000000000, &m), VMS_OK));
    cr_expect(eq(int, vms_space_query(&sp, 0x0100000000000000, &m), VMS_ERR_NONCANON));
    cr_expect(eq(int, vms_space_query(&sp, 0xfeffffffffffffff, &m), VMS_ERR_NONCANON));
    cr_expect(eq(int, vms_space_query(&sp, 0xff00000000000000, &m), VMS_ERR_NOENT));
}

struct collect {
    vms_mapping_t v[64];
    int n, stop_after;
};

static int collect_fn(void *user, const vms_mapping_t *m) {
    struct collect *c = (struct collect *)user;
    if (c->n < 64) c->v[c->n] = *m;
    c->n++;
    return c->n == c->stop_after ? 77 : 0;
}

Test(query, enumerate_order_and_early_stop) {
    /* Mapped in scrambled order, across both halves. */
    static const uint64_t vas[] = {0xffffffffc0000000, 0x3000, 0xffff800000000000,
                                   0x7fffffe00000,     G1,     0x1000,
                                   0xffff800000200000};
    static const uint64_t sizes[] = {G1, K4, K4, M2, G1, K4, M2};
    for (int i = 0; i < 7; i++)
        cr_assert(
            eq(int, vms_space_map(&sp, vas[i], (uint64_t)i * G1, sizes[i], VMS_R, 0), VMS_OK));
    struct collect c = {.n = 0, .stop_after = 0};
    cr_expect(eq(int, vms_space_enumerate(&sp, collect_fn, &c), 0));
    cr_assert(eq(int, c.n, 7));
    static const uint64_t want[] = {0x1000,
                                    0x3000,
                                    G1,
                                    0x7fffffe00000,
                                    0xffff800000000000,
                                    0xffff800000200000,
                                    0xffffffffc0000000};
    for (int i = 0; i < 7; i++) {
        cr_expect(eq(u64, c.v[i].va, want[i]), "item %d", i);
        int k = 0;
        while (vas[k] != want[i]) k++;
        cr_expect(eq(u64, c.v[i].size, sizes[k]));
        cr_expect(eq(u64, c.v[i].pa, (uint64_t)k * G1));
    }
    struct collect d = {.n = 0, .stop_after = 3};
    cr_expect(eq(int, vms_space_enumerate(&sp, collect_fn, &d), 77));
    cr_expect(eq(int, d.n, 3));
}

Test(query, enumerate_empty) {
    struct collect c = {.n = 0, .stop_after = 0};
    cr_expect(eq(int, vms_space_enumerate(&sp, collect_fn, &c), 0));
    cr_expect(eq(int, c.n, 0));
}

Test(query5, enumerate_order_5_levels) {
    static const uint64_t vas[] = {0xff00000000000000, 0x00fffffffffff000, 0x0000800000000000,
                                   0x0001000000000000, 0xfffffffffffff000};
    for (int i = 0; i < 5; i++)
        cr_assert(eq(int, vms_space_map(&sp, vas[i], 0, K4, VMS_R, 0), VMS_OK));
    struct collect c = {.n = 0, .stop_after = 0};
    vms_space_enumerate(&sp, collect_fn, &c);
    cr_assert(eq(int, c.n, 5));
    static const uint64_t want[] = {0x0000800000000000, 0x0001000000000000, 0x00fffffffffff000,
                                    0xff00000000000000, 0xfffffffffffff000};
    for (int i = 0; i < 5; i++) cr_expect(eq(u64, c.v[i].va, want[i]), "item %d", i);
}
