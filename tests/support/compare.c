/* Comparisons between a space and the reference model. */
#include <stdio.h>
#include <stdlib.h>

#include "vt.h"

/* Top tables of the range s shares that a model of m's leaves would not count: those of the
 * slots where m has no leaf (the group keeps them, empty). Zero for an unshared space. */
static uint64_t vt__pinned_empty(const vms_space_t *s, const vt_model_t *m) {
    uint64_t span, mask, extra = 0;
    if (s->share == NULL) return 0;
    span = vt_level_size(s->levels);
    mask = s->levels == 5 ? ((uint64_t)1 << 57) - 1 : ((uint64_t)1 << 48) - 1;
    for (uint64_t lin = s->share->lo; lin < s->share->hi; lin += span) {
        /* The canonical form of the slot's first address, as the model holds addresses. */
        uint64_t sign = (mask >> 1) + 1, va = (lin ^ sign) - sign;
        if (!vt_model_any(m, va, span)) extra++;
    }
    return extra;
}

static bool vt__compare(const vms_space_t *s, const vt_model_t *m, bool member, char *msg,
                        size_t n);

bool vt_compare_model(const vms_space_t *s, const vt_model_t *m, char *msg, size_t n) {
    return vt__compare(s, m, false, msg, n);
}

bool vt_compare_model_member(const vms_space_t *s, const vt_model_t *m, char *msg, size_t n) {
    return vt__compare(s, m, true, msg, n);
}

static bool vt__compare(const vms_space_t *s, const vt_model_t *m, bool member, char *msg,
                        size_t n) {
    size_t cnt;
    vms_mapping_t *e = vt_enumerate(s, &cnt);
    bool ok = true;
    for (size_t i = 0; i < cnt && i < m->n && ok; i++) {
        const vt_leaf_t *f = &m->v[i];
        if (e[i].va != f->va || e[i].pa != f->pa || e[i].size != f->size || e[i].prop != f->prop) {
            snprintf(msg, n,
                     "mapping %zu: space va %#llx pa %#llx size %#llx prop %#x, model va %#llx "
                     "pa %#llx size %#llx prop %#x",
                     i, (unsigned long long)e[i].va, (unsigned long long)e[i].pa,
                     (unsigned long long)e[i].size, e[i].prop, (unsigned long long)f->va,
                     (unsigned long long)f->pa, (unsigned long long)f->size, f->prop);
            ok = false;
        }
    }
    if (ok && cnt != m->n) {
        size_t i = cnt < m->n ? cnt : m->n;
        snprintf(msg, n, "space has %zu mappings, model %zu; first extra at va %#llx", cnt, m->n,
                 (unsigned long long)(cnt > m->n ? e[i].va : m->v[i].va));
        ok = false;
    }
    free(e);
    if (!ok) return false;
    vms_stats_t st;
    uint64_t bytes[3];
    vms_space_stats(s, &st);
    vt_model_bytes(m, bytes);
    for (int i = 0; i < 3; i++)
        if (st.mapped_bytes[i] != bytes[i]) {
            snprintf(msg, n, "mapped_bytes[%d] %#llx, model %#llx", i,
                     (unsigned long long)st.mapped_bytes[i], (unsigned long long)bytes[i]);
            return false;
        }
    uint64_t want = vt_model_table_pages(m, s->levels), walked = vt_count_tables(s);
    if (member) want += vt__pinned_empty(s, m);
    if (st.table_pages != want || walked != want) {
        snprintf(msg, n, "table pages: stats %llu, walk %llu, model %llu",
                 (unsigned long long)st.table_pages, (unsigned long long)walked,
                 (unsigned long long)want);
        return false;
    }
    const char *bad = vt_check_tables(s);
    if (bad) {
        snprintf(msg, n, "tables malformed: %s", bad);
        return false;
    }
    return true;
}

bool vt_compare_va(const vms_space_t *s, const vt_model_t *m, uint64_t va, char *msg, size_t n) {
    const vt_leaf_t *f = vt_model_find(m, va);
    vms_mapping_t q;
    uint64_t pa = 0;
    int rc = vms_space_query(s, va, &q);
    bool tr = vms_translate(s, va, &pa);
    unsigned shift = s->levels == 5 ? 56 : 47;
    uint64_t top = va >> shift;
    if (top != 0 && top != (UINT64_MAX >> shift)) {
        if (rc != VMS_ERR_NONCANON || tr) {
            snprintf(msg, n, "va %#llx is not canonical: query %s translate %d",
                     (unsigned long long)va, vms_err_name(rc), tr);
            return false;
        }
        return true;
    }
    if (f == NULL) {
        if (rc != VMS_ERR_NOENT || tr) {
            snprintf(msg, n, "va %#llx: model unmapped, query %s translate %d",
                     (unsigned long long)va, vms_err_name(rc), tr);
            return false;
        }
        return true;
    }
    if (rc != VMS_OK || q.va != f->va || q.pa != f->pa || q.size != f->size || q.prop != f->prop) {
        snprintf(msg, n,
                 "va %#llx: query %s va %#llx pa %#llx size %#llx prop %#x; model va %#llx pa "
                 "%#llx size %#llx prop %#x",
                 (unsigned long long)va, vms_err_name(rc), (unsigned long long)q.va,
                 (unsigned long long)q.pa, (unsigned long long)q.size, q.prop,
                 (unsigned long long)f->va, (unsigned long long)f->pa, (unsigned long long)f->size,
                 f->prop);
        return false;
    }
    bool want_tr = (f->prop & VMS_R) != 0;
    if (tr != want_tr || (tr && pa != f->pa + (va - f->va))) {
        snprintf(msg, n, "va %#llx: translate %d pa %#llx, model %d pa %#llx",
                 (unsigned long long)va, tr, (unsigned long long)pa, want_tr,
                 (unsigned long long)(f->pa + (va - f->va)));
        return false;
    }
    return true;
}
