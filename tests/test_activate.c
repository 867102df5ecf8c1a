/* Activation: which space is current on each CPU, the active sets, the CR3 values handed to
 * load_cr3 (root, PCID, no-flush bit), PCID recycling, and destroy while active. */
#include <string.h>

#include "support/vt_cr.h"

#define CR3_NOFLUSH VT_BIT(63)
#define CR3_PCID_MASK ((uint64_t)0xfff)

/* ---- a CR3 log and a model of each CPU's PCID-tagged TLB ----
 *
 * owner[cpu][pcid] is the root whose translations the CPU may hold under that PCID (0 = none);
 * stale[cpu][root] says that translations of that root were removed or weakened while the
 * space was not current on the CPU (no flush reached it). A load with the no-flush bit is
 * correct only if the PCID still belongs to the space on that CPU and nothing went stale. */

#define NCPU 8
#define MAX_LOADS 16384

typedef struct load_s {
    int cpu;
    uint64_t cr3;
} load_t;

typedef struct cr3_log_s {
    load_t v[MAX_LOADS];
    size_t n;
    bool check;                          /* run the model on every load */
    uint64_t owner[NCPU][4096];          /* root pa per PCID */
} cr3_log_t;

static cr3_log_t lg;
static vms_machine_t mach; /* the CPUs of every space of a test */

/* Staleness per space: a small table of (root, cpu mask) pairs. */
#define MAX_STALE 8192
static struct {
    uint64_t root;
    uint64_t cpus;
} stale[MAX_STALE];
static size_t nstale;

static uint64_t *stale_of(uint64_t root) {
    for (size_t i = 0; i < nstale; i++)
        if (stale[i].root == root) return &stale[i].cpus;
    cr_assert(lt(sz, nstale, (size_t)MAX_STALE));
    stale[nstale].root = root;
    stale[nstale].cpus = 0;
    return &stale[nstale++].cpus;
}

static void on_load(void *user, int cpu, uint64_t cr3) {
    cr_assert(eq(ptr, user, (void *)&lg));
    cr_assert(lt(sz, lg.n, (size_t)MAX_LOADS));
    lg.v[lg.n].cpu = cpu;
    lg.v[lg.n].cr3 = cr3;
    lg.n++;
    if (!lg.check) return;
    cr_assert(lt(int, cpu, NCPU));
    uint64_t pcid = cr3 & CR3_PCID_MASK, root = cr3 & VT_ADDR_BITS;
    cr_assert(ge(u64, pcid, 1), "PCID 0 handed out");
    cr_assert(le(u64, pcid, VMSPACE_MAX_PCID));
    uint64_t *st = stale_of(root);
    if (cr3 & CR3_NOFLUSH) {
        cr_assert(eq(u64, lg.owner[cpu][pcid], root),
                  "cpu %d: no-flush load of PCID %llu, whose TLB entries belong to root %#llx, "
                  "for root %#llx",
                  cpu, VT_ULL(pcid), VT_ULL(lg.owner[cpu][pcid]), VT_ULL(root));
        bool was_stale = (*st >> cpu) & 1;
        cr_assert(not(was_stale),
                  "cpu %d: no-flush load of root %#llx that missed a flush", cpu, VT_ULL(root));
    }
    /* Another root that held this PCID on this CPU lost its entries here. */
    lg.owner[cpu][pcid] = root;
    *st &= ~((uint64_t)1 << cpu);
}

/* A flush-needing change to space s: CPUs where it is not current keep stale entries. */
static void mark_stale(const vms_space_t *s) {
    uint64_t *st = stale_of(s->root_pa);
    for (int c = 0; c < NCPU; c++)
        if (vms_machine_current(&mach, c) != s) *st |= (uint64_t)1 << c;
}

/* The last CR3 loaded, and on which CPU. */
static load_t last_load(void) {
    cr_assert(gt(sz, lg.n, 0), "load_cr3 never called");
    return lg.v[lg.n - 1];
}

/* All spaces of a test share one arena, so their roots are distinct frames. */
static vt_fprov_t fp;

static void space_new_on(vms_space_t *s, bool pcid, vms_machine_t *m) {
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.provider = &fp.prov;
    d.load_cr3 = on_load;
    d.hook_user = &lg;
    d.pcid = pcid;
    d.machine = m;
    cr_assert(eq(int, vms_space_init(s, &d), VMS_OK));
}

static void space_new(vms_space_t *s, bool pcid) { space_new_on(s, pcid, &mach); }

static void space_free(vms_space_t *s) {
    for (int c = 0; c < VMSPACE_MAX_CPUS; c++) (void)vms_space_deactivate(s, c);
    cr_expect(eq(int, vms_space_destroy(s), VMS_OK));
}

static void setup(void) {
    memset(&lg, 0, sizeof lg);
    nstale = 0;
    vms_machine_init(&mach);
    cr_assert(eq(int, vt_fprov_init(&fp, 64 << 20), VMS_OK));
}
static void teardown(void) { vt_fprov_destroy(&fp); }

TestSuite(activate, .init = setup, .fini = teardown);

static uint64_t bit(int c) { return (uint64_t)1 << c; }

/* ---- bookkeeping ---- */

Test(activate, current_and_active_sets) {
    vms_space_t a, b;
    space_new(&a, false);
    space_new(&b, false);
    for (int c = 0; c < VMSPACE_MAX_CPUS; c++)
        cr_expect(eq(ptr, vms_machine_current(&mach, c), NULL));
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 0), &a));
    cr_expect(eq(u64, a.active_cpus, bit(0)));
    cr_assert(eq(int, vms_space_activate(&a, 2), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, VMSPACE_MAX_CPUS - 1), VMS_OK));
    cr_expect(eq(u64, a.active_cpus, bit(0) | bit(2) | bit(VMSPACE_MAX_CPUS - 1)));
    /* b takes CPU 2 over: a loses it. */
    cr_assert(eq(int, vms_space_activate(&b, 2), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 2), &b));
    cr_expect(eq(u64, a.active_cpus, bit(0) | bit(VMSPACE_MAX_CPUS - 1)));
    cr_expect(eq(u64, b.active_cpus, bit(2)));
    /* Activating the current space again changes nothing. */
    cr_assert(eq(int, vms_space_activate(&b, 2), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 2), &b));
    cr_expect(eq(u64, b.active_cpus, bit(2)));
    /* Deactivating a space that is not current on that CPU leaves the CPU alone. */
    cr_expect(eq(int, vms_space_deactivate(&a, 2), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 2), &b));
    cr_expect(eq(u64, b.active_cpus, bit(2)));
    cr_expect(eq(u64, a.active_cpus, bit(0) | bit(VMSPACE_MAX_CPUS - 1)));
    cr_assert(eq(int, vms_space_deactivate(&a, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 0), NULL));
    cr_expect(eq(u64, a.active_cpus, bit(VMSPACE_MAX_CPUS - 1)));
    /* Move a and b around every CPU. */
    for (int c = 0; c < VMSPACE_MAX_CPUS; c++) {
        cr_assert(eq(int, vms_space_activate(c % 3 ? &a : &b, c), VMS_OK));
    }
    uint64_t wa = 0, wb = 0;
    for (int c = 0; c < VMSPACE_MAX_CPUS; c++) {
        if (c % 3) wa |= bit(c);
        else wb |= bit(c);
        cr_expect(eq(ptr, vms_machine_current(&mach, c), c % 3 ? &a : &b));
    }
    cr_expect(eq(u64, a.active_cpus, wa));
    cr_expect(eq(u64, b.active_cpus, wb));
    space_free(&a);
    space_free(&b);
    for (int c = 0; c < VMSPACE_MAX_CPUS; c++)
        cr_expect(eq(ptr, vms_machine_current(&mach, c), NULL));
}

/* Two machines in one process (two VMs): CPU 0 of each runs its own space, each hands out
 * PCIDs from 1, and neither sees the other's spaces. */
Test(activate, two_machines_never_meet) {
    vms_machine_t other;
    vms_space_t a, b;
    vms_machine_init(&other);
    space_new(&a, true);
    space_new_on(&b, true, &other);
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    uint64_t cr3a = last_load().cr3;
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    uint64_t cr3b = last_load().cr3;
    cr_expect(eq(ptr, vms_machine_current(&mach, 0), &a), "b did not take a's CPU");
    cr_expect(eq(ptr, vms_machine_current(&other, 0), &b));
    cr_expect(eq(u64, a.active_cpus, bit(0)));
    cr_expect(eq(u64, b.active_cpus, bit(0)));
    cr_expect(eq(u64, cr3a & CR3_PCID_MASK, 1));
    cr_expect(eq(u64, cr3b & CR3_PCID_MASK, 1), "each machine has its own PCIDs");
    cr_expect(eq(u64, cr3b & VT_ADDR_BITS, b.root_pa));
    /* A space of one machine leaving a CPU of it leaves the other machine alone. */
    cr_assert(eq(int, vms_space_deactivate(&a, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&other, 0), &b));
    cr_assert(eq(int, vms_space_deactivate(&b, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&other, 0), NULL));
    space_free(&a);
    space_free(&b);
}

Test(activate, cpu_out_of_range) {
    vms_space_t a;
    space_new(&a, true);
    cr_assert(eq(int, vms_space_activate(&a, 1), VMS_OK));
    size_t loads = lg.n;
    cr_expect(eq(int, vms_space_activate(&a, -1), VMS_ERR_CPU));
    cr_expect(eq(int, vms_space_activate(&a, VMSPACE_MAX_CPUS), VMS_ERR_CPU));
    cr_expect(eq(int, vms_space_activate(&a, 1 << 20), VMS_ERR_CPU));
    cr_expect(eq(int, vms_space_deactivate(&a, -1), VMS_ERR_CPU));
    cr_expect(eq(int, vms_space_deactivate(&a, VMSPACE_MAX_CPUS), VMS_ERR_CPU));
    cr_expect(eq(ptr, vms_machine_current(&mach, -1), NULL));
    cr_expect(eq(ptr, vms_machine_current(&mach, VMSPACE_MAX_CPUS), NULL));
    cr_expect(eq(sz, lg.n, loads), "a refused activation loads nothing");
    cr_expect(eq(u64, a.active_cpus, bit(1)));
    cr_expect(eq(ptr, vms_machine_current(&mach, 1), &a));
    space_free(&a);
}

Test(activate, destroy_while_active) {
    vms_space_t a, b;
    space_new(&a, true);
    space_new(&b, true);
    cr_assert(eq(int, vms_space_map(&a, 0x400000, 0x400000, 3 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, 3), VMS_OK));
    uint64_t frees = fp.frees, tables = vt_table_pages(&a);
    cr_expect(eq(int, vms_space_destroy(&a), VMS_ERR_ACTIVE));
    cr_expect(eq(u64, fp.frees, frees), "a refused destroy freed frames");
    cr_expect(eq(u64, vt_table_pages(&a), tables));
    cr_expect(eq(ptr, vms_machine_current(&mach, 3), &a));
    vt_expect_page(&a, 0x401000, 0x401000, 0x401000, K4, VMS_RW);
    /* Still active elsewhere after losing CPU 3 to b. */
    cr_assert(eq(int, vms_space_activate(&a, 5), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&b, 3), VMS_OK));
    cr_expect(eq(int, vms_space_destroy(&a), VMS_ERR_ACTIVE));
    cr_expect(eq(u64, fp.frees, frees));
    cr_assert(eq(int, vms_space_activate(&b, 5), VMS_OK));
    cr_expect(eq(u64, a.active_cpus, 0));
    cr_expect(eq(int, vms_space_destroy(&a), VMS_OK));
    cr_expect(eq(u64, fp.frees, frees + tables), "every table page freed");
    space_free(&b);
}

Test(activate, no_hook_only_bookkeeps) {
    vms_space_t a;
    vms_space_desc_t d;
    memset(&d, 0, sizeof d);
    d.provider = &fp.prov;
    d.pcid = true;
    d.machine = &mach;
    cr_assert(eq(int, vms_space_init(&a, &d), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(ptr, vms_machine_current(&mach, 0), &a));
    cr_expect(eq(sz, lg.n, 0));
    space_free(&a);
}

/* ---- CR3 values ---- */

Test(activate, cr3_without_pcid) {
    vms_space_t a, b;
    space_new(&a, false);
    space_new(&b, false);
    cr_assert(eq(int, vms_space_activate(&a, 4), VMS_OK));
    cr_assert(eq(sz, lg.n, 1));
    cr_expect(eq(int, last_load().cpu, 4));
    cr_expect(eq(u64, last_load().cr3, a.root_pa), "plain root, no PCID, no no-flush bit");
    cr_assert(eq(int, vms_space_activate(&b, 4), VMS_OK));
    cr_expect(eq(u64, last_load().cr3, b.root_pa));
    cr_assert(eq(int, vms_space_activate(&a, 4), VMS_OK));
    cr_expect(eq(u64, last_load().cr3, a.root_pa));
    cr_expect(eq(sz, lg.n, 3));
    space_free(&a);
    space_free(&b);
}

Test(activate, pcid_switch_back_keeps_tlb) {
    vms_space_t a, b;
    lg.check = true;
    space_new(&a, true);
    space_new(&b, true);
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    load_t la = last_load();
    cr_expect(eq(int, la.cpu, 0));
    cr_expect(eq(u64, la.cr3 & VT_ADDR_BITS, a.root_pa));
    cr_expect(eq(u64, la.cr3 & CR3_NOFLUSH, 0), "first use of a PCID must flush");
    uint64_t pa_ = la.cr3 & CR3_PCID_MASK;
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    load_t lb = last_load();
    uint64_t pb = lb.cr3 & CR3_PCID_MASK;
    cr_expect(eq(u64, lb.cr3 & VT_ADDR_BITS, b.root_pa));
    cr_expect(ne(u64, pa_, pb), "two spaces share a PCID on one CPU");
    cr_expect(eq(u64, lb.cr3 & CR3_NOFLUSH, 0));
    /* Back to a: same PCID, still valid, so no flush. */
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(u64, last_load().cr3, a.root_pa | pa_ | CR3_NOFLUSH));
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    cr_expect(eq(u64, last_load().cr3, b.root_pa | pb | CR3_NOFLUSH));
    /* A second CPU: a PCID of its own there, first use flushes. */
    cr_assert(eq(int, vms_space_activate(&a, 1), VMS_OK));
    cr_expect(eq(int, last_load().cpu, 1));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, 0));
    cr_expect(eq(u64, last_load().cr3 & VT_ADDR_BITS, a.root_pa));
    /* Through deactivate (a foreign space ran) and back: entries still valid. */
    cr_assert(eq(int, vms_space_deactivate(&a, 1), VMS_OK));
    uint64_t p1 = last_load().cr3 & CR3_PCID_MASK;
    cr_assert(eq(int, vms_space_activate(&a, 1), VMS_OK));
    cr_expect(eq(u64, last_load().cr3, a.root_pa | p1 | CR3_NOFLUSH));
    space_free(&a);
    space_free(&b);
}

Test(activate, pcid_missed_flush_forces_flush) {
    vms_space_t a, b;
    lg.check = true;
    space_new(&a, true);
    space_new(&b, true);
    cr_assert(eq(int, vms_space_map(&a, 0x10000, 0x10000, 4 * K4, VMS_RW, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, 1), VMS_OK));
    uint64_t p0 = lg.v[0].cr3 & CR3_PCID_MASK;
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    /* a changes while away from CPU 0 (CPU 1 gets the flush, CPU 0 does not). */
    cr_assert(eq(int, vms_space_unmap(&a, 0x10000, K4), VMS_OK));
    mark_stale(&a);
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, 0), "stale PCID entries kept");
    cr_expect(eq(u64, last_load().cr3 & VT_ADDR_BITS, a.root_pa));
    /* Once flushed, the next switch back may keep the TLB again. */
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, CR3_NOFLUSH));
    (void)p0;
    /* Weakening also counts: drop W while away. */
    cr_assert(eq(int, vms_space_activate(&b, 0), VMS_OK));
    cr_assert(eq(int, vms_space_protect(&a, 0x11000, K4, VMS_R), VMS_OK));
    mark_stale(&a);
    cr_assert(eq(int, vms_space_activate(&a, 0), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, 0));
    /* A change while a is current on CPU 0 reaches CPU 0 through the flush hook: no
     * staleness on CPU 0 from it, but CPU 1 (where b now runs) goes stale. */
    cr_assert(eq(int, vms_space_activate(&b, 1), VMS_OK));
    cr_assert(eq(int, vms_space_unmap(&a, 0x12000, K4), VMS_OK));
    mark_stale(&a);
    cr_assert(eq(int, vms_space_activate(&a, 1), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, 0));
    space_free(&a);
    space_free(&b);
}

Test(activate, pcid_recycled_after_exhaustion) {
    const size_t n = VMSPACE_MAX_PCID + 40;
    vms_space_t *v = (vms_space_t *)calloc(n, sizeof *v);
    cr_assert(ne(ptr, v, NULL));
    lg.check = true;
    for (size_t i = 0; i < n; i++) space_new(&v[i], true);
    /* Every space once on CPU 0: PCIDs run out and are recycled. */
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(int, vms_space_activate(&v[i], 0), VMS_OK));
        load_t l = last_load();
        cr_assert(eq(u64, l.cr3 & VT_ADDR_BITS, v[i].root_pa));
        cr_assert(eq(u64, l.cr3 & CR3_NOFLUSH, 0), "space %zu: first activation kept the TLB", i);
    }
    /* The first spaces' PCIDs went to later spaces: switching back must flush (the model
     * checks it); a space whose PCID survived may keep its TLB. */
    size_t noflush = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(eq(int, vms_space_activate(&v[i], 0), VMS_OK));
        if (last_load().cr3 & CR3_NOFLUSH) noflush++;
    }
    cr_expect(lt(sz, noflush, n));
    /* Two recent spaces alternate on CPU 2: both keep their TLB after the first round. */
    cr_assert(eq(int, vms_space_activate(&v[n - 1], 2), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&v[n - 2], 2), VMS_OK));
    cr_assert(eq(int, vms_space_activate(&v[n - 1], 2), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, CR3_NOFLUSH));
    cr_assert(eq(int, vms_space_activate(&v[n - 2], 2), VMS_OK));
    cr_expect(eq(u64, last_load().cr3 & CR3_NOFLUSH, CR3_NOFLUSH));
    for (size_t i = 0; i < n; i++) space_free(&v[i]);
    free(v);
}

Test(activate, randomized_model) {
    enum { NS = 7, OPS = 20000 };
    vms_space_t v[NS];
    lg.check = true;
    vt_rng_t rng;
    vt_rng_seed(&rng, vt_seed_from_env(0xac71));
    for (int i = 0; i < NS; i++) {
        space_new(&v[i], i != 0); /* space 0 without PCIDs */
        cr_assert(eq(int, vms_space_map(&v[i], 0, 0x100000, 64 * K4, VMS_RW, 0), VMS_OK));
    }
    for (int it = 0; it < OPS; it++) {
        vms_space_t *s = &v[vt_rng_below(&rng, NS)];
        int cpu = (int)vt_rng_below(&rng, NCPU);
        uint64_t va = vt_rng_below(&rng, 64) * K4;
        size_t loads = lg.n;
        switch (vt_rng_below(&rng, 6)) {
        case 0:
        case 1: {
            bool was = vms_machine_current(&mach, cpu) == s;
            vms_space_t *prev = vms_machine_current(&mach, cpu);
            if (s == &v[0]) lg.check = false;
            cr_assert(eq(int, vms_space_activate(s, cpu), VMS_OK));
            lg.check = true;
            cr_assert(eq(ptr, vms_machine_current(&mach, cpu), s));
            cr_assert(ne(u64, s->active_cpus & bit(cpu), 0));
            if (prev && prev != s) cr_assert(eq(u64, prev->active_cpus & bit(cpu), 0));
            if (!was) {
                cr_assert(eq(sz, lg.n, loads + 1));
                cr_assert(eq(int, last_load().cpu, cpu));
                if (s == &v[0]) cr_assert(eq(u64, last_load().cr3, s->root_pa));
            }
            break;
        }
        case 2:
            cr_assert(eq(int, vms_space_deactivate(s, cpu), VMS_OK));
            cr_assert(eq(u64, s->active_cpus & bit(cpu), 0));
            cr_assert(ne(ptr, vms_machine_current(&mach, cpu), s));
            break;
        case 3: { /* unmap a present page (if mapped), then map it back */
            uint64_t pa;
            if (vms_translate(s, va, &pa)) {
                cr_assert(eq(int, vms_space_unmap(s, va, K4), VMS_OK));
                mark_stale(s);
            }
            cr_assert(eq(int, vms_space_map(s, va, 0x100000 + va, K4, VMS_RW, 0), VMS_OK));
            break;
        }
        case 4: { /* drop W (a weakening when it was writable) */
            vms_mapping_t m;
            bool weakens = vms_space_query(s, va, &m) == VMS_OK && (m.prop & VMS_W);
            cr_assert(eq(int, vms_space_protect(s, va, K4, VMS_R), VMS_OK));
            if (weakens) mark_stale(s);
            break;
        }
        default: /* add W back: never needs a flush */
            cr_assert(eq(int, vms_space_protect(s, va, K4, VMS_RW), VMS_OK));
            break;
        }
        /* The active sets always match vms_machine_current. */
        for (int i = 0; i < NS; i++) {
            uint64_t want = 0;
            for (int c = 0; c < VMSPACE_MAX_CPUS; c++)
                if (vms_machine_current(&mach, c) == &v[i]) want |= bit(c);
            cr_assert(eq(u64, v[i].active_cpus, want), "space %d active set", i);
        }
    }
    /* The model must have seen no-flush loads too (else it checked little). */
    size_t nf = 0;
    for (size_t i = 0; i < lg.n; i++)
        if (lg.v[i].cr3 & CR3_NOFLUSH) nf++;
    cr_expect(gt(sz, nf, 0));
    for (int i = 0; i < NS; i++) space_free(&v[i]);
}
