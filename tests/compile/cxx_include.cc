// cxx_include.cc - the header with its implementation compiled as C++17.
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif

#include "exercise.h"

#include <array>
#include <cstdio>

namespace {

// Map four separate 4 KiB pages with a cursor-free loop and check each from C++ code.
int check_pages() {
    vms_space_t sp;
    int failures = 0;
    if (vms_space_init(&sp, nullptr) != VMS_OK) return 1;
    const std::array<uint64_t, 4> vas = {0x10000, 0x20000, 0x7f0000000000, 0x1000000};
    uint64_t pa_base = 0x100000;
    for (std::size_t i = 0; i < vas.size(); i++) {
        uint64_t pa = pa_base + i * VMS_PAGE_4K;
        if (vms_space_map(&sp, vas[i], pa, VMS_PAGE_4K, VMS_R, VMS_MAP_MAX_4K) != VMS_OK)
            failures++;
    }
    for (std::size_t i = 0; i < vas.size(); i++) {
        uint64_t pa = 0;
        if (!vms_translate(&sp, vas[i] + 0x10, &pa) || pa != pa_base + i * VMS_PAGE_4K + 0x10) {
            std::fprintf(stderr, "cxx_include: page %zu translates wrong\n", i);
            failures++;
        }
    }
    vms_stats_t st;
    vms_space_stats(&sp, &st);
    if (st.mapped_bytes[0] != vas.size() * VMS_PAGE_4K) {
        std::fprintf(stderr, "cxx_include: stats count %llu bytes in 4 KiB pages\n",
                     static_cast<unsigned long long>(st.mapped_bytes[0]));
        failures++;
    }
    if (vms_space_destroy(&sp) != VMS_OK) failures++;
    return failures;
}

} // namespace

int main() {
    int failures = vms_ex_run("cxx_include") + check_pages();
    return failures == 0 ? 0 : 1;
}
