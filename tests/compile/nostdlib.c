/* nostdlib.c - the implementation built freestanding: -ffreestanding, VMSPACE_NO_STDLIB, no C
 * library. It is compiled to an object file only; freestanding.cmake then checks that the
 * object needs no symbol from outside (beyond memcpy, memmove, memset and memcmp). */
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#ifdef VMSPACE_TEST_HAVE_OWNER
#define VMSPACE_OWNER_IMPLEMENTATION
#include "vmspace_owner.h"
#endif

int vms_test_freestanding(void *memory, uint64_t size);

/* What a kernel would do: a space over memory it owns, one mapping, one translation. */
int vms_test_freestanding(void *memory, uint64_t size) {
    vms_space_desc_t desc;
    vms_space_t sp;
    uint64_t pa = 0;
    unsigned char *p = (unsigned char *)&desc;
    size_t i;
    int rc;

    for (i = 0; i < sizeof desc; i++) p[i] = 0;
    desc.arena.memory = memory;
    desc.arena.size = size;
    rc = vms_space_init(&sp, &desc);
    if (rc != VMS_OK) return rc;
    rc = vms_space_map(&sp, 0x400000, 0x200000, 0x200000, VMS_R | VMS_W, 0);
    if (rc == VMS_OK && (!vms_translate(&sp, 0x400123, &pa) || pa != 0x200123)) rc = -1000;
    if (rc == VMS_OK) rc = vms_space_unmap(&sp, 0x400000, 0x200000);
    if (vms_space_destroy(&sp) != VMS_OK && rc == VMS_OK) rc = -1001;
    return rc;
}
