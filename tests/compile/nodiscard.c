/* VMS_NODISCARD: a call whose error code is dropped must not compile under -Werror, and the
 * same call with the code checked, or cast to void where the compiler honours that, must.
 * nodiscard.cmake compiles this with and without -DVMS_TEST_DROP (and -DVMS_TEST_VOID). */
#include "vmspace.h"

int vms_test_use(vms_space_t *s);

int vms_test_use(vms_space_t *s) {
#if defined(VMS_TEST_DROP)
    vms_space_unmap(s, 0, 4096);
    return 0;
#elif defined(VMS_TEST_VOID)
    (void)vms_space_unmap(s, 0, 4096);
    return 0;
#else
    return vms_space_unmap(s, 0, 4096);
#endif
}
