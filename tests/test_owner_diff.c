/* Randomized differential test of the owner against a plain model: a list of leases checked
 * by brute force, a page-by-page model of a small window of the address space, and a shadow
 * of every data frame's bytes. Every result code, every blocker, every enumeration and every
 * byte read is compared; under VMSPACE_DEBUG the full invariant check (reader bytes included)
 * runs after every step. The window is small (36 pages) so that check stays cheap.
 * Seed: VMS_SEED in the environment, printed with --verbose. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "support/vt.h"
#include "vmspace_owner.h"

#define PG VMS_PAGE_4K
#define BASE ((uint64_t)0x10000000)
#define NP 32         /* pages where ranges start (plus two beyond) */
#define NPM (NP + 4)  /* pages the model tracks: ranges end before NP + 4 */
#define NF (2 * NPM)  /* data frames; page p maps frame p or p + NPM */
#define MAXL 64      /* model capacity for live leases */
#define STEPS 120000 /* per mode; two modes */

typedef struct mlease_s {
    vms_lease_t h;
    vms_lease_kind kind;
    uint64_t first, last, serial;
} mlease_t;

typedef struct model_s {
    bool mapped[NPM];
    unsigned frame[NPM];
    vms_prop_t prop[NPM];
    mlease_t l[MAXL];
    size_t n;
    vms_lease_t dead[16]; /* recently released handles */
    size_t ndead;
    bool shared, active;
    unsigned char shadow[NF][4096];
} model_t;

typedef struct ctx_s {
    vms_space_t s;
    vms_owner_t o;
    uint64_t data_pa;
    model_t m;
    vt_rng_t rng;
    long counts[16];
} ctx_t;

static void on_broken(void *user, const char *clause) {
    (void)user;
    cr_fatal("owner invariant broken: %s", clause);
}

static bool overlaps(uint64_t f1, uint64_t l1, uint64_t f2, uint64_t l2) {
    return f1 <= l2 && f2 <= l1;
}

/* The model's answer to "who conflicts with a new lease of kind k over [f, l]": the lowest
 * start among the conflicting leases (ties: any of them). Returns the index or -1. */
static int model_conflict(const model_t *m, vms_lease_kind k, uint64_t f, uint64_t l,
                          bool readers_too) {
    int best = -1;
    for (size_t i = 0; i < m->n; i++) {
        const mlease_t *x = &m->l[i];
        if (!overlaps(x->first, x->last, f, l)) continue;
        if (k == VMS_LEASE_READ && x->kind == VMS_LEASE_READ && !readers_too) continue;
        if (best < 0 || x->first < m->l[best].first) best = (int)i;
    }
    return best;
}

/* The blocker the owner reported must be live, conflict, and start where the model's
 * leftmost conflicting lease starts. */
static void expect_blocker(const ctx_t *c, vms_lease_t b, int want, const char *what) {
    cr_assert(want >= 0);
    size_t i;
    for (i = 0; i < c->m.n; i++)
        if (c->m.l[i].h.id == b.id) break;
    cr_assert(lt(sz, i, c->m.n), "%s: blocker %#llx is not a live lease", what,
              (unsigned long long)b.id);
    cr_assert(eq(u64, c->m.l[i].first, c->m.l[want].first), "%s: blocker not leftmost", what);
}

static uint64_t rpage(ctx_t *c, uint64_t extra) { return vt_rng_below(&c->rng, NP + extra); }

/* A random range in the window, sometimes poking past its end, sometimes malformed. */
static void rrange(ctx_t *c, uint64_t *va, uint64_t *len, int *want_err) {
    uint64_t p = rpage(c, 2), n = 1 + vt_rng_below(&c->rng, 3);
    *want_err = VMS_OK;
    *va = BASE + p * PG;
    *len = n * PG;
    switch (vt_rng_below(&c->rng, 40)) {
    case 0: *len = 0; *want_err = VMS_ERR_ZEROLEN; break;
    case 1: *va += 8; *want_err = VMS_ERR_ALIGN; break;
    case 2: *len += 1; *want_err = VMS_ERR_ALIGN; break;
    default: break;
    }
}

static bool page_in(uint64_t va, uint64_t len, unsigned p) {
    uint64_t a = BASE + (uint64_t)p * PG;
    return a >= va && a < va + len;
}

static void step_acquire(ctx_t *c) {
    model_t *m = &c->m;
    vms_lease_kind k = vt_rng_below(&c->rng, 2) ? VMS_LEASE_READ : VMS_LEASE_WRITE;
    uint64_t va, len, last;
    int want, got, who = -1;
    vms_lease_t h, b;
    rrange(c, &va, &len, &want);
    last = va + len - 1;
    if (want == VMS_OK && !m->active) want = VMS_ERR_INACTIVE;
    if (want == VMS_OK) {
        who = model_conflict(m, k, va, last, !m->shared);
        if (who >= 0) want = VMS_ERR_CONFLICT;
    }
    if (want == VMS_OK) {
        vms_prop_t need = k == VMS_LEASE_WRITE ? VMS_RW : VMS_R;
        for (uint64_t a = va; a <= last && want == VMS_OK; a += PG) {
            uint64_t p = (a - BASE) / PG;
            if (p >= NPM || !m->mapped[p]) want = VMS_ERR_NOENT;
            else if ((m->prop[p] & need) != need) want = VMS_ERR_PERM;
        }
    }
    if (m->n == MAXL && want == VMS_OK) return; /* model full: skip */
    got = vms_lease_acquire(&c->o, k, va, len, &h, &b);
    cr_assert(eq(int, got, want), "acquire %s %#llx+%#llx: got %s want %s",
              k == VMS_LEASE_READ ? "R" : "W", (unsigned long long)va,
              (unsigned long long)len, vms_err_name(got), vms_err_name(want));
    if (got == VMS_ERR_CONFLICT) expect_blocker(c, b, who, "acquire");
    if (got != VMS_OK) {
        cr_assert(eq(u64, h.id, VMS_LEASE_INVALID_ID));
        return;
    }
    vms_lease_info_t info;
    cr_assert(eq(int, vms_lease_info(&c->o, h, &info), VMS_OK));
    for (size_t i = 0; i < m->n; i++) cr_assert(lt(u64, m->l[i].serial, info.serial));
    m->l[m->n].h = h;
    m->l[m->n].kind = k;
    m->l[m->n].first = va;
    m->l[m->n].last = last;
    m->l[m->n].serial = info.serial;
    m->n++;
    c->counts[0]++;
}

static void step_release(ctx_t *c) {
    model_t *m = &c->m;
    if (m->ndead && (m->n == 0 || vt_rng_below(&c->rng, 8) == 0)) {
        vms_lease_t d = m->dead[vt_rng_below(&c->rng, m->ndead)];
        cr_assert(eq(int, vms_lease_release(&c->o, d), VMS_ERR_STALE));
        return;
    }
    if (!m->n) return;
    size_t i = (size_t)vt_rng_below(&c->rng, m->n);
    cr_assert(eq(int, vms_lease_release(&c->o, m->l[i].h), VMS_OK));
    if (m->ndead < 16) m->dead[m->ndead++] = m->l[i].h;
    else m->dead[vt_rng_below(&c->rng, 16)] = m->l[i].h;
    m->l[i] = m->l[--m->n];
    c->counts[1]++;
}

/* Whether frames [f, f + n) are mapped by no page outside [va, va + len) (moves take frames
 * to other pages, and two pages sharing a frame would let a writer change a reader's bytes). */
static bool frames_free(const model_t *m, unsigned f, uint64_t n, uint64_t va, uint64_t len) {
    if (f + n > NF) return false;
    for (unsigned p = 0; p < NPM; p++)
        if (m->mapped[p] && !page_in(va, len, p) && m->frame[p] >= f && m->frame[p] < f + n)
            return false;
    return true;
}

/* Unmap, protect or map (plain or replacing) a random range through the owner. */
static void step_mutate(ctx_t *c) {
    model_t *m = &c->m;
    uint64_t va, len, last;
    /* Ops: 0 unmap (15%), 1 protect (20%), 2 replacing map (30%), 3 plain map (35%). */
    uint64_t r = vt_rng_below(&c->rng, 100);
    int want, got, who = -1, op = r < 15 ? 0 : r < 35 ? 1 : r < 65 ? 2 : 3;
    vms_lease_t b;
    rrange(c, &va, &len, &want);
    last = va + len - 1;
    bool guarded = op != 3; /* a plain map is never refused for leases */
    if (want == VMS_OK && guarded) {
        who = model_conflict(m, VMS_LEASE_WRITE, va, last, true);
        if (who >= 0) want = VMS_ERR_BUSY;
    }
    unsigned choice = (unsigned)vt_rng_below(&c->rng, 2);
    uint64_t p0 = (va - BASE) / PG;
    /* Frame p0 or p0 + NPM for page p0 (and on), unless moves put those under other pages:
     * then the other one, else any free run. */
    unsigned f0 = (unsigned)p0 + choice * NPM;
    if (want == VMS_OK && op >= 2 && !frames_free(m, f0, len / PG, va, len)) {
        f0 = (unsigned)p0 + (1 - choice) * NPM;
        for (unsigned k = 0; k < NF && !frames_free(m, f0, len / PG, va, len); k++)
            f0 = (unsigned)(vt_rng_next(&c->rng) % NF);
        if (!frames_free(m, f0, len / PG, va, len)) return; /* none: skip */
    }
    uint64_t pa = c->data_pa + f0 * PG;
    vms_prop_t props[6] = {VMS_RW, VMS_R, 0, VMS_RW | VMS_USER, VMS_RW, VMS_RWX};
    vms_prop_t prop = props[vt_rng_below(&c->rng, 6)];
    if (want == VMS_OK && op == 3) {
        for (unsigned p = 0; p < NPM; p++)
            if (page_in(va, len, p) && m->mapped[p]) want = VMS_ERR_EXIST;
    }
    switch (op) {
    case 0: got = vms_owner_unmap(&c->o, va, len, &b); break;
    case 1: got = vms_owner_protect(&c->o, va, len, prop, &b); break;
    case 2: got = vms_owner_map(&c->o, va, pa, len, prop, VMS_MAP_REPLACE, &b); break;
    default: got = vms_owner_map(&c->o, va, pa, len, prop, 0, &b); break;
    }
    cr_assert(eq(int, got, want), "mutation %d %#llx+%#llx: got %s want %s", op,
              (unsigned long long)va, (unsigned long long)len, vms_err_name(got),
              vms_err_name(want));
    if (got == VMS_ERR_BUSY) expect_blocker(c, b, who, "mutation");
    if (got != VMS_OK) return;
    for (unsigned p = 0; p < NPM; p++) {
        if (!page_in(va, len, p)) continue;
        if (op == 0) {
            m->mapped[p] = false;
        } else if (op == 1) {
            if (m->mapped[p]) m->prop[p] = prop;
        } else {
            m->mapped[p] = true;
            m->prop[p] = prop;
            m->frame[p] = f0 + p - (unsigned)p0;
        }
    }
    c->counts[2 + op]++;
}

/* The space's pages in [va, va + len) against the model: mapped, frame and property (A/D
 * aside: lease copies go through the tables). */
static void check_pages(const ctx_t *c, uint64_t va, uint64_t len, const char *what) {
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    for (uint64_t a = va; a - va < len; a += PG) {
        uint64_t p = (a - BASE) / PG;
        vms_mapping_t q;
        int rc = vms_space_query(&c->s, a, &q);
        cr_assert(lt(u64, p, NPM));
        if (!c->m.mapped[p]) {
            cr_assert(eq(int, rc, VMS_ERR_NOENT), "%s: page %#llx mapped", what,
                      (unsigned long long)a);
            continue;
        }
        cr_assert(eq(int, rc, VMS_OK), "%s: page %#llx: %s", what, (unsigned long long)a,
                  vms_err_name(rc));
        cr_assert(eq(u64, q.size, PG), "%s: page %#llx", what, (unsigned long long)a);
        cr_assert(eq(u64, q.pa, c->data_pa + c->m.frame[p] * PG), "%s: frame of %#llx", what,
                  (unsigned long long)a);
        cr_assert(eq(u32, q.prop & ~ad, c->m.prop[p]), "%s: property of %#llx", what,
                  (unsigned long long)a);
    }
}

/* Move a random range to another place in the window through the owner. The arguments
 * first (both ranges, then OVERLAP), then a live lease over the old range or (if none) the
 * new one refuses it, then the space's move says EXIST. The pages (and so the bytes the
 * leases read later) follow their frames. */
static void step_move(ctx_t *c) {
    model_t *m = &c->m;
    uint64_t va, len, last, nva, nlast;
    int want, got, who = -1;
    vms_lease_t b;
    rrange(c, &va, &len, &want);
    nva = BASE + rpage(c, 2) * PG;
    if (vt_rng_below(&c->rng, 40) == 0) {
        nva += 8;
        if (want == VMS_OK) want = VMS_ERR_ALIGN;
    }
    last = va + len - 1;
    nlast = nva + len - 1;
    if (want == VMS_OK && overlaps(va, last, nva, nlast)) want = VMS_ERR_OVERLAP;
    if (want == VMS_OK) {
        who = model_conflict(m, VMS_LEASE_WRITE, va, last, true);
        if (who < 0) who = model_conflict(m, VMS_LEASE_WRITE, nva, nlast, true);
        if (who >= 0) want = VMS_ERR_BUSY;
    }
    for (unsigned p = 0; p < NPM && want == VMS_OK; p++)
        if (page_in(nva, len, p) && m->mapped[p]) want = VMS_ERR_EXIST;
    b.id = VMS_LEASE_INVALID_ID;
    got = vms_owner_move(&c->o, va, nva, len, &b);
    cr_assert(eq(int, got, want), "move %#llx -> %#llx len %#llx: got %s want %s",
              (unsigned long long)va, (unsigned long long)nva, (unsigned long long)len,
              vms_err_name(got), vms_err_name(want));
    if (got == VMS_ERR_BUSY) {
        expect_blocker(c, b, who, "move");
        c->counts[10]++;
    } else {
        cr_assert(eq(u64, b.id, VMS_LEASE_INVALID_ID), "move: a blocker without BUSY");
    }
    if (got != VMS_OK) {
        if (want == VMS_ERR_BUSY || want == VMS_ERR_OVERLAP || want == VMS_ERR_EXIST) {
            check_pages(c, va, len, "refused move, old range");
            check_pages(c, nva, len, "refused move, new range");
        }
        return;
    }
    {
        const uint64_t n = len / PG, p0 = (va - BASE) / PG, q0 = (nva - BASE) / PG;
        bool mp[4];
        unsigned fr[4];
        vms_prop_t pr[4];
        cr_assert(le(u64, n, 4));
        for (uint64_t i = 0; i < n; i++) {
            mp[i] = m->mapped[p0 + i];
            fr[i] = m->frame[p0 + i];
            pr[i] = m->prop[p0 + i];
            m->mapped[p0 + i] = false;
        }
        for (uint64_t i = 0; i < n; i++) {
            m->mapped[q0 + i] = mp[i];
            m->frame[q0 + i] = fr[i];
            m->prop[q0 + i] = pr[i];
        }
    }
    check_pages(c, va, len, "move, old range");
    check_pages(c, nva, len, "move, new range");
    c->counts[8]++;
}

/* Collapse a random range (or the window's whole 2 MiB block) through the owner: the
 * arguments first (range, flags), then a live lease over the range refuses it. The window
 * never holds 512 alike pages, so nothing folds and the pages stay. */
static void step_collapse(ctx_t *c) {
    uint64_t va, len, made = 77;
    uint32_t flags = vt_rng_below(&c->rng, 4) == 0 ? VMS_MAP_MAX_2M : 0;
    int want, got, who = -1;
    vms_lease_t b;
    rrange(c, &va, &len, &want);
    if (vt_rng_below(&c->rng, 4) == 0) {
        va = BASE;
        len = VMS_PAGE_2M;
        want = VMS_OK;
    }
    if (vt_rng_below(&c->rng, 20) == 0) flags |= VMS_MAP_REPLACE;
    if (want == VMS_OK && (flags & VMS_MAP_REPLACE)) want = VMS_ERR_FLAGS;
    if (want == VMS_OK) {
        who = model_conflict(&c->m, VMS_LEASE_WRITE, va, va + len - 1, true);
        if (who >= 0) want = VMS_ERR_BUSY;
    }
    b.id = VMS_LEASE_INVALID_ID;
    got = vms_owner_collapse(&c->o, va, len, flags, &made, &b);
    cr_assert(eq(int, got, want), "collapse %#llx len %#llx flags %#x: got %s want %s",
              (unsigned long long)va, (unsigned long long)len, flags, vms_err_name(got),
              vms_err_name(want));
    cr_assert(eq(u64, made, 0), "collapse %#llx len %#llx: collapsed %#llx",
              (unsigned long long)va, (unsigned long long)len, (unsigned long long)made);
    if (got == VMS_ERR_BUSY) {
        expect_blocker(c, b, who, "collapse");
        c->counts[11]++;
    }
    if (want == VMS_OK || want == VMS_ERR_BUSY || want == VMS_ERR_FLAGS)
        check_pages(c, BASE, NPM * PG, "collapse");
    if (got == VMS_OK) c->counts[9]++;
}

/* Copy through a random lease and compare with the shadow frames. */
static void step_copy(ctx_t *c, bool write) {
    model_t *m = &c->m;
    unsigned char buf[3 * 4096], want_buf[3 * 4096];
    if (!m->n) return;
    const mlease_t *x = &m->l[vt_rng_below(&c->rng, m->n)];
    uint64_t span = x->last - x->first + 1;
    uint64_t off = vt_rng_below(&c->rng, span), len = 1 + vt_rng_below(&c->rng, span - off);
    int want = VMS_OK, got;
    uint64_t va = x->first + off;
    if (vt_rng_below(&c->rng, 10) == 0) { /* poke outside: one byte past either end */
        if (vt_rng_below(&c->rng, 2)) {
            len = span - off + 1;
        } else {
            va = x->first - 1;
            len = 2;
        }
        want = VMS_ERR_RANGE;
    }
    /* The owner checks the handle, the state, the rights, then the range. */
    if (write && x->kind == VMS_LEASE_READ) want = VMS_ERR_PERM;
    if (!m->active) want = VMS_ERR_INACTIVE;
    if (write) {
        for (uint64_t i = 0; i < len && i < sizeof buf; i++)
            buf[i] = (unsigned char)vt_rng_next(&c->rng);
        got = vms_lease_write(&c->o, x->h, va, buf, len);
    } else {
        got = vms_lease_read(&c->o, x->h, va, buf, len);
    }
    cr_assert(eq(int, got, want), "%s %#llx+%llu: got %s want %s", write ? "write" : "read",
              (unsigned long long)va, (unsigned long long)len, vms_err_name(got),
              vms_err_name(want));
    if (got != VMS_OK) return;
    for (uint64_t i = 0; i < len; i++) {
        uint64_t a = va + i, p = (a - BASE) / PG;
        unsigned char *sh = &m->shadow[m->frame[p]][a & (PG - 1)];
        if (write) *sh = buf[i];
        else want_buf[i] = *sh;
    }
    if (!write) cr_assert(eq(int, memcmp(buf, want_buf, (size_t)len), 0), "bytes differ");
    c->counts[write ? 7 : 6]++;
}

/* Enumeration and first_conflict of a random range against the model. */
static void step_query(ctx_t *c) {
    model_t *m = &c->m;
    uint64_t va = BASE + rpage(c, 2) * PG, len = (1 + vt_rng_below(&c->rng, 8)) * PG;
    uint64_t last = va + len - 1, prev_first = 0;
    vms_owner_iter_t it;
    vms_lease_info_t info;
    size_t n = 0, want = 0;
    for (size_t i = 0; i < m->n; i++)
        if (overlaps(m->l[i].first, m->l[i].last, va, last)) want++;
    bool more = vms_owner_iter_first(&c->o, va, len, &it, &info);
    while (more) {
        size_t i;
        for (i = 0; i < m->n; i++)
            if (m->l[i].h.id == info.handle.id) break;
        cr_assert(lt(sz, i, m->n), "enumerated a lease the model does not have");
        cr_assert(overlaps(info.va, info.va + info.len - 1, va, last));
        cr_assert(eq(u64, info.va, m->l[i].first));
        cr_assert(eq(u64, info.serial, m->l[i].serial));
        cr_assert(eq(int, info.kind, m->l[i].kind));
        cr_assert(ge(u64, info.va, prev_first), "not in VA order");
        prev_first = info.va;
        n++;
        more = vms_owner_iter_next(&it, &info);
    }
    cr_assert(eq(sz, n, want));
    for (int k = VMS_LEASE_READ; k <= VMS_LEASE_WRITE; k++) {
        vms_lease_t b;
        int who = model_conflict(m, (vms_lease_kind)k, va, last, !m->shared);
        bool got = vms_owner_first_conflict(&c->o, (vms_lease_kind)k, va, len, &b);
        cr_assert(eq(int, got, who >= 0));
        if (got) expect_blocker(c, b, who, "first_conflict");
    }
}

static void run(bool shared, uint64_t seed) {
    ctx_t *c = calloc(1, sizeof *c);
    vms_owner_desc_t d;
    cr_assert(c != NULL);
    vt_rng_seed(&c->rng, seed);
    cr_log_info("owner_diff shared=%d seed %#llx", shared, (unsigned long long)seed);
    cr_assert(eq(int, vt_space_init(&c->s, 4, 16u << 20), VMS_OK));
    cr_assert(eq(int, vms_arena_alloc_data(&c->s.arena, NF * PG, PG, &c->data_pa), VMS_OK));
    memset(&d, 0, sizeof d);
    d.shared_reader = shared;
    d.check_failed = on_broken;
    cr_assert(eq(int, vms_owner_init(&c->o, &c->s, &d), VMS_OK));
    c->m.shared = shared;
    c->m.active = true;
    /* Start with pages 0..23 read-write, 24..27 read-only, 28..31 unmapped. */
    cr_assert(eq(int, vms_owner_map(&c->o, BASE, c->data_pa, 24 * PG, VMS_RW, 0, NULL), VMS_OK));
    cr_assert(eq(int, vms_owner_map(&c->o, BASE + 24 * PG, c->data_pa + 24 * PG, 4 * PG, VMS_R, 0,
                                    NULL), VMS_OK));
    for (unsigned p = 0; p < 28; p++) {
        c->m.mapped[p] = true;
        c->m.frame[p] = p;
        c->m.prop[p] = p < 24 ? VMS_RW : VMS_R;
    }
    for (long step = 0; step < STEPS; step++) {
        uint64_t r = vt_rng_below(&c->rng, 100);
        if (r < 35) step_acquire(c);
        else if (r < 57) step_release(c);
        else if (r < 67) step_mutate(c);
        else if (r < 71) step_move(c);
        else if (r < 73) step_collapse(c);
        else if (r < 81) step_copy(c, true);
        else if (r < 89) step_copy(c, false);
        else if (r < 99) step_query(c);
        else {
            c->m.active = !c->m.active;
            vms_owner_set_active(&c->o, c->m.active);
        }
        {
            vms_owner_stats_t st;
            size_t nr = 0;
            vms_owner_stats(&c->o, &st);
            for (size_t i = 0; i < c->m.n; i++) nr += c->m.l[i].kind == VMS_LEASE_READ;
            cr_assert(eq(u64, st.readers, nr), "step %ld", step);
            cr_assert(eq(u64, st.writers, c->m.n - nr), "step %ld", step);
        }
#ifdef VMSPACE_DEBUG
        {
            const char *bad = vms_owner_check(&c->o);
            cr_assert(bad == NULL, "step %ld: %s", step, bad ? bad : "");
        }
#endif
    }
    cr_log_info("acquired %ld released %ld unmap %ld protect %ld replace %ld map %ld read %ld "
                "write %ld move %ld collapse %ld move busy %ld collapse busy %ld",
                c->counts[0], c->counts[1], c->counts[2], c->counts[3], c->counts[4],
                c->counts[5], c->counts[6], c->counts[7], c->counts[8], c->counts[9],
                c->counts[10], c->counts[11]);
    /* Every kind of step happened many times. */
    for (int i = 0; i < 12; i++) cr_expect(gt(long, c->counts[i], 200), "step kind %d", i);
    while (c->m.n) {
        cr_assert(eq(int, vms_lease_release(&c->o, c->m.l[c->m.n - 1].h), VMS_OK));
        c->m.n--;
    }
    cr_assert(eq(int, vms_owner_destroy(&c->o), VMS_OK));
    cr_assert(eq(int, vms_space_destroy(&c->s), VMS_OK));
    free(c);
}

Test(owner_diff, exclusive_readers, .timeout = 300) {
    run(false, vt_seed_from_env(0xd1ff0001));
}

Test(owner_diff, shared_readers, .timeout = 300) {
    run(true, vt_seed_from_env(0xd1ff0002));
}
