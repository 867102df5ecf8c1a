/* vms_translate and vms_translate_access: offsets in every page size and each fault kind. */
#include "support/vt_cr.h"

VT_SPACE_FIXTURE

TestSuite(translate, .init = setup4, .fini = teardown);
TestSuite(translate5, .init = setup5, .fini = teardown);

Test(translate, offsets) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0x000fffffc0000000, G1, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 4 * G1, 0x200000, M2, VMS_R, 0), VMS_OK));
    cr_assert(eq(int, vms_space_map(&sp, 8 * G1, 0x7000, K4, VMS_R, 0), VMS_OK));
    uint64_t pa = 0;
    cr_expect(vms_translate(&sp, G1 + 0x3fffffff, &pa));
    cr_expect(eq(u64, pa, 0x000fffffffffffff));
    cr_expect(vms_translate(&sp, 4 * G1 + 0x1abcde, &pa));
    cr_expect(eq(u64, pa, 0x3abcde));
    cr_expect(vms_translate(&sp, 8 * G1 + 0xfff, &pa));
    cr_expect(eq(u64, pa, 0x7fff));
    cr_expect(not(vms_translate(&sp, 8 * G1 + K4, &pa)));
    cr_expect(not(vms_translate(&sp, 0x0000800000000000, &pa)));
    cr_expect(not(vms_translate(&sp, 0x8000000000000000, &pa)));
}

Test(translate5, offsets_5_levels) {
    cr_assert(eq(int, vms_space_map(&sp, 0x00ff800000000000, G1, G1, VMS_R, 0), VMS_OK));
    uint64_t pa = 0;
    cr_expect(vms_translate(&sp, 0x00ff800012345678, &pa));
    cr_expect(eq(u64, pa, G1 + 0x12345678));
    cr_expect(not(vms_translate(&sp, 0x01ff800012345678, &pa)));
    /* 0x0000ff8012345678 differs only above bit 47: a different PML5 slot. */
    cr_expect(not(vms_translate(&sp, 0x0000ff8012345678, &pa)));
}

static vms_access_result_t access(uint64_t va, unsigned kind, bool want_ok) {
    vms_access_result_t r;
    memset(&r, 0xa5, sizeof r);
    bool ok = vms_translate_access(&sp, va, kind, &r);
    cr_expect(eq(int, ok, want_ok), "va %#llx access %#x", VT_ULL(va), kind);
    return r;
}

Test(translate, access_allowed) {
    cr_assert(eq(int, vms_space_map(&sp, M2, 6 * M2, M2, VMS_RWX | VMS_USER, 0), VMS_OK));
    vms_access_result_t r = access(M2 + 0x1234, VMS_ACCESS_WRITE | VMS_ACCESS_USER, true);
    cr_expect(eq(int, r.fault, VMS_FAULT_NONE));
    cr_expect(eq(u64, r.pa, 6 * M2 + 0x1234));
    cr_expect(eq(int, r.level, 2));
    cr_expect(eq(u32, r.prop, VMS_RWX | VMS_USER));
    access(M2, VMS_ACCESS_EXEC | VMS_ACCESS_USER, true);
    access(M2, VMS_ACCESS_READ, true);
    /* A supervisor write to a writable user page is allowed (no SMAP in this model). */
    access(M2, VMS_ACCESS_WRITE, true);
}

Test(translate, fault_not_present) {
    vms_access_result_t r = access(0x5000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NOT_PRESENT));
    cr_expect(eq(int, r.level, 4)); /* the root entry is the one missing */
    cr_assert(eq(int, vms_space_map(&sp, 0x4000, 0, K4, VMS_RW, 0), VMS_OK));
    r = access(0x5000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NOT_PRESENT));
    cr_expect(eq(int, r.level, 1));
    r = access(0x40000000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NOT_PRESENT));
    cr_expect(eq(int, r.level, 3));
    /* A no-access mapping faults as not present. */
    cr_assert(eq(int, vms_space_map(&sp, M2, 0, M2, VMS_W | VMS_USER, 0), VMS_OK));
    r = access(M2 + K4, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NOT_PRESENT));
    cr_expect(eq(int, r.level, 2));
}

Test(translate, fault_write) {
    cr_assert(eq(int, vms_space_map(&sp, 0x4000, 0, K4, VMS_R | VMS_USER, 0), VMS_OK));
    vms_access_result_t r = access(0x4000, VMS_ACCESS_WRITE, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_WRITE));
    r = access(0x4000, VMS_ACCESS_WRITE | VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_WRITE));
    access(0x4000, VMS_ACCESS_READ | VMS_ACCESS_USER, true);
}

Test(translate, fault_user) {
    cr_assert(eq(int, vms_space_map(&sp, G1, 0, G1, VMS_RWX, 0), VMS_OK));
    vms_access_result_t r = access(G1 + 0x777, VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_USER));
    r = access(G1, VMS_ACCESS_EXEC | VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_USER));
    r = access(G1, VMS_ACCESS_READ, true);
    cr_expect(eq(int, r.level, 3));
    cr_expect(eq(u32, r.prop, VMS_RWX));
}

Test(translate, fault_exec) {
    cr_assert(eq(int, vms_space_map(&sp, 0x4000, 0, K4, VMS_RW | VMS_USER, 0), VMS_OK));
    vms_access_result_t r = access(0x4000, VMS_ACCESS_EXEC, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_EXEC));
    r = access(0x4000, VMS_ACCESS_EXEC | VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_EXEC));
}

Test(translate, fault_noncanonical) {
    vms_access_result_t r = access(0x0000800000000000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NONCANONICAL));
    r = access(0xffff7ffffffff000, VMS_ACCESS_WRITE, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NONCANONICAL));
}

Test(translate5, fault_noncanonical_5_levels) {
    vms_access_result_t r = access(0x0100000000000000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_NONCANONICAL));
    cr_assert(eq(int, vms_space_map(&sp, 0x0000800000000000, 0, K4, VMS_R, 0), VMS_OK));
    r = access(0x0000800000000000, VMS_ACCESS_READ, true);
    cr_expect(eq(int, r.level, 1));
    r = access(0x0001000000000000, VMS_ACCESS_READ, false);
    cr_expect(eq(int, r.level, 5));
}

Test(translate, rights_after_protect) {
    cr_assert(eq(int, vms_space_map(&sp, 0x4000, 0x9000, K4, VMS_RWX | VMS_USER, 0), VMS_OK));
    access(0x4000, VMS_ACCESS_WRITE | VMS_ACCESS_USER, true);
    cr_assert(eq(int, vms_space_protect(&sp, 0x4000, K4, VMS_R | VMS_USER), VMS_OK));
    vms_access_result_t r = access(0x4000, VMS_ACCESS_WRITE | VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_WRITE));
    r = access(0x4000, VMS_ACCESS_EXEC | VMS_ACCESS_USER, false);
    cr_expect(eq(int, r.fault, VMS_FAULT_EXEC));
    r = access(0x4000, VMS_ACCESS_USER, true);
    cr_expect(eq(u64, r.pa, 0x9000));
    cr_expect(eq(u32, r.prop, VMS_R | VMS_USER));
}
