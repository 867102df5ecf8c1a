/* Small helpers to set up spaces for the tests. */
#include <string.h>

#include "vt.h"

int vt_space_init(vms_space_t *s, int levels, uint64_t arena_size) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.levels = levels;
    d.arena.size = arena_size;
    return vms_space_init(s, &d);
}

uint64_t vt_mapped_total(const vms_space_t *s) {
    vms_stats_t st;
    vms_space_stats(s, &st);
    return st.mapped_bytes[0] + st.mapped_bytes[1] + st.mapped_bytes[2];
}

uint64_t vt_table_pages(const vms_space_t *s) {
    vms_stats_t st;
    vms_space_stats(s, &st);
    return st.table_pages;
}
