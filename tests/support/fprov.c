/* A provider that forwards to an arena and fails the k-th allocation on request. */
#include <string.h>

#include "vt.h"

static int vt__fprov_alloc(void *user, uint64_t *pa, bool zero) {
    vt_fprov_t *f = (vt_fprov_t *)user;
    f->attempts++;
    if (f->fail_at != 0 && f->attempts == f->fail_at) {
        f->failures++;
        return VMS_ERR_NOMEM;
    }
    int rc = f->inner.alloc_frame(f->inner.user, pa, zero);
    if (rc == VMS_OK) f->allocs++;
    return rc;
}

static void vt__fprov_free(void *user, uint64_t pa) {
    vt_fprov_t *f = (vt_fprov_t *)user;
    f->frees++;
    f->inner.free_frame(f->inner.user, pa);
}

int vt_fprov_init(vt_fprov_t *f, uint64_t arena_size) {
    vms_arena_desc_t d;
    memset(f, 0, sizeof *f);
    memset(&d, 0, sizeof d);
    d.size = arena_size;
    int rc = vms_arena_init(&f->arena, &d);
    if (rc != VMS_OK) return rc;
    f->inner = vms_arena_provider(&f->arena);
    f->prov = f->inner;
    f->prov.alloc_frame = vt__fprov_alloc;
    f->prov.free_frame = vt__fprov_free;
    f->prov.user = f;
    return VMS_OK;
}

void vt_fprov_destroy(vt_fprov_t *f) { vms_arena_destroy(&f->arena); }

void vt_fprov_fail_in(vt_fprov_t *f, uint64_t k) { f->fail_at = k ? f->attempts + k : 0; }
