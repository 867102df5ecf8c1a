/* libFuzzer harness for saved images: the input is the bytes of a file vms_space_save wrote
 * (a 64-byte header, then the arena image), loaded with vms_space_load_mem.
 *
 * A load that fails must return VMS_ERR_FORMAT or VMS_ERR_NOMEM and leave nothing allocated:
 * LeakSanitizer sees malloc, and the arena's mmap reservations are counted here (fi_mapped).
 * A load that succeeds must give a space that every operation can trust, so the harness
 * walks the loaded tables itself (fi_walk: a tree of well-formed entries on frames of the
 * image, no leaf on a frame the arena owns, the counters right) and holds every read-only
 * call to what that walk says: the enumeration entry by entry, vms_space_query,
 * vms_translate, vms_translate_access, a software TLB, vms_copy_from (bytes compared with the
 * file), the dump's line count, and vms_space_check under VMSPACE_DEBUG. Then a few
 * vms_space_map / unmap / protect calls at addresses from the walk and from the input, each
 * followed by vms_space_check (VMSPACE_DEBUG) and point checks, a walk of the result, and
 * vms_space_destroy.
 *
 * Every space loaded is, after those calls, saved with vms_space_save_mem,
 * loaded again and saved again: the reload must succeed with the same mappings, and the two
 * images must be equal byte for byte. An input that does not start with the file's magic is
 * instead a script that builds a space through the API (4 or 5 levels, a physical width of
 * 32..52 bits, up to 64 map / unmap / protect steps), whose saved image must then load and
 * pass all of the above.
 *
 * The image leaves no byte free for operands, so they come from a generator seeded with a
 * hash of the input (every input is still replayed exactly), and from words of the input.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined [-DVMSPACE_DEBUG=1] -I<repo> this file.
 * tools/fuzz.sh builds it with and without VMSPACE_DEBUG and runs it. */
#define _DEFAULT_SOURCE /* madvise under -std=c11 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The arena reserves its memory with mmap, which LeakSanitizer does not track: route the
 * library's calls through counters so a leaked reservation is a failure too. */
static long long fi_mapped; /* bytes the library holds mapped */
static void *fi_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
static int fi_munmap(void *addr, size_t len);
#define mmap fi_mmap
#define munmap fi_munmap
#define VMSPACE_IMPLEMENTATION
#include "vmspace.h"
#undef mmap
#undef munmap

static void *fi_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    void *p = mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED) return p;
    fi_mapped += (long long)len;
    /* An arena touches a few frames: a transparent huge page would clear 2 MiB per input. */
    (void)madvise(p, len, MADV_NOHUGEPAGE);
    return p;
}
static int fi_munmap(void *addr, size_t len) {
    int rc = munmap(addr, len);
    if (rc == 0) fi_mapped -= (long long)len;
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Failure reporting. */

static void fi_fail(int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "\nfuzz_image: mismatch at line %d: ", line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}
#define FI_CHECK(c, ...)                          \
    do {                                          \
        if (!(c)) fi_fail(__LINE__, __VA_ARGS__); \
    } while (0)
#define FI_EQ(a, b, what)                                                                    \
    do {                                                                                     \
        unsigned long long fi_a_ = (unsigned long long)(a), fi_b_ = (unsigned long long)(b); \
        if (fi_a_ != fi_b_)                                                                  \
            fi_fail(__LINE__, "%s: got %#llx, expected %#llx", what, fi_a_, fi_b_);          \
    } while (0)

#ifdef VMSPACE_DEBUG
#define FI_SPACE_CHECK(s, when)                                      \
    do {                                                             \
        const char *fi_bad_ = vms_space_check(s);                    \
        FI_CHECK(!fi_bad_, "vms_space_check %s: %s", when, fi_bad_); \
    } while (0)
#else
#define FI_SPACE_CHECK(s, when) ((void)0)
#endif

/* ------------------------------------------------------------------------------------------
 * Operands: a generator seeded from the input, and words of the input. */

static uint64_t fi_rng;
static const uint8_t *fi_data;
static size_t fi_size;

static uint64_t fi_next(void) { /* splitmix64 */
    uint64_t z = (fi_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static unsigned fi_below(unsigned n) { return (unsigned)(fi_next() % n); }

/* An 8-byte word of the input at an aligned offset: header fields and entries. */
static uint64_t fi_word(void) {
    uint64_t v = 0;
    size_t off;
    if (fi_size < 8) return 0;
    off = (size_t)(fi_next() % (fi_size / 8)) * 8;
    memcpy(&v, fi_data + off, 8);
    return v;
}

/* ------------------------------------------------------------------------------------------
 * The harness's own walk of the tables. */

typedef struct fi_leaf_s {
    uint64_t va; /* canonical */
    uint64_t pa, size, e;
    int level;
} fi_leaf_t;

static fi_leaf_t *fi_leaves;
static size_t fi_nleaves, fi_capleaves;
static uint8_t *fi_kind; /* per frame from the arena's first one: 0, FI_TABLE or FI_FREE */
static size_t fi_nframes;
static uint64_t fi_tables;
static uint64_t fi_bytes[3];
#define FI_TABLE 1u
#define FI_FREE 2u

/* The arena's layout, from the space: frames in [fi_lo, fi_hi) may hold tables. */
static uint64_t fi_base, fi_lo, fi_hi, fi_arena_end;

static uint64_t fi_meta_bytes(uint64_t size) {
    return ((size >> 12) * 8u + 4095u) & ~(uint64_t)4095u;
}
static unsigned fi_bits(const vms_space_t *s) { return s->levels == 5 ? 57u : 48u; }
static uint64_t fi_canon(const vms_space_t *s, uint64_t lin) {
    uint64_t sign = (uint64_t)1 << (fi_bits(s) - 1u);
    return (lin ^ sign) - sign;
}
static bool fi_canonical(const vms_space_t *s, uint64_t va) {
    unsigned sh = fi_bits(s) - 1u;
    return (va >> sh) == 0 || (va >> sh) == (UINT64_MAX >> sh);
}

static const uint64_t *fi_table(const vms_space_t *s, uint64_t pa) {
    FI_CHECK(!(pa & 0xfff) && pa >= fi_lo && pa < fi_hi,
             "table at %#llx outside the arena's table frames [%#llx, %#llx)",
             (unsigned long long)pa, (unsigned long long)fi_lo, (unsigned long long)fi_hi);
    return vms_space_table(s, pa);
}

/* The rules of the entries the library writes (vmspace.h >>pte and the loader's contract). */
static void fi_check_entry(uint64_t e, int l, uint64_t va) {
    if (!vms_pte_is_used(e)) {
        FI_CHECK(e == 0, "unused entry %#llx not zero (level %d, va %#llx)", (unsigned long long)e,
                 l, (unsigned long long)va);
    } else if (vms_pte_is_leaf(e, l)) {
        uint64_t low = e & VMS_PTE_ADDR_MASK & (VMS_LEVEL_SIZE(l) - 1u);
        if (l >= 2) low &= ~VMS_PTE_PAT_HUGE;
        FI_CHECK(!low, "leaf %#llx misaligned (level %d)", (unsigned long long)e, l);
        FI_CHECK(!(e & ((uint64_t)0x1ff << 54)), "leaf %#llx with bits 54..62",
                 (unsigned long long)e);
        FI_CHECK(!((e & VMS_PTE_P) && (e & VMS_PTE_NOACCESS)), "leaf %#llx present and no-access",
                 (unsigned long long)e);
    } else {
        FI_CHECK((e & ~VMS_PTE_ADDR_MASK & ~VMS_PTE_A) == VMS_PTE_TABLE,
                 "table entry %#llx is not P|RW|US (level %d, va %#llx)", (unsigned long long)e, l,
                 (unsigned long long)va);
    }
}

static void fi_walk_table(const vms_space_t *s, uint64_t pa, int l, uint64_t lin) {
    const uint64_t *t = fi_table(s, pa);
    size_t f = (size_t)((pa - fi_base) >> 12);
    unsigned i;
    FI_CHECK(f < fi_nframes && !fi_kind[f], "table %#llx reached twice", (unsigned long long)pa);
    fi_kind[f] = FI_TABLE;
    fi_tables++;
    for (i = 0; i < 512; i++) {
        uint64_t e = t[i], a = lin + ((uint64_t)i << VMS_LEVEL_SHIFT(l));
        fi_check_entry(e, l, fi_canon(s, a));
        if (!vms_pte_is_used(e)) continue;
        if (!vms_pte_is_leaf(e, l)) {
            fi_walk_table(s, e & VMS_PTE_ADDR_MASK, l - 1, a);
            continue;
        }
        if (fi_nleaves == fi_capleaves) {
            fi_capleaves = fi_capleaves ? fi_capleaves * 2 : 1024;
            fi_leaves = (fi_leaf_t *)realloc(fi_leaves, fi_capleaves * sizeof *fi_leaves);
            if (!fi_leaves) abort();
        }
        fi_leaves[fi_nleaves].va = fi_canon(s, a);
        fi_leaves[fi_nleaves].pa = vms_pte_leaf_pa(e, l);
        fi_leaves[fi_nleaves].size = VMS_LEVEL_SIZE(l);
        fi_leaves[fi_nleaves].e = e;
        fi_leaves[fi_nleaves].level = l;
        fi_nleaves++;
        fi_bytes[l - 1] += VMS_LEVEL_SIZE(l);
    }
}

/* Walk everything; `loaded`: right after the load, when the image's own rules hold too. */
static void fi_walk(const vms_space_t *s, bool loaded) {
    vms_stats_t st;
    uint64_t pa, n = 0;
    size_t i;
    fi_base = s->arena.phys_base;
    fi_lo = fi_base + fi_meta_bytes(s->arena.size);
    fi_hi = fi_base + s->arena.bump;
    fi_arena_end = fi_base + s->arena.size;
    FI_CHECK(s->arena.bump <= s->arena.size && fi_lo <= fi_hi, "arena bump %#llx of size %#llx",
             (unsigned long long)s->arena.bump, (unsigned long long)s->arena.size);
    fi_nframes = (size_t)(s->arena.bump >> 12);
    free(fi_kind);
    fi_kind = (uint8_t *)calloc(fi_nframes + 1, 1);
    if (!fi_kind) abort();
    fi_nleaves = 0;
    fi_tables = 0;
    fi_bytes[0] = fi_bytes[1] = fi_bytes[2] = 0;
    fi_walk_table(s, s->root_pa, s->levels, 0);
    /* The free list: frames past the metadata that hold no table, each once. */
    for (pa = s->arena.free_head; pa; n++) {
        size_t f;
        FI_CHECK(!(pa & 0xfff) && pa >= fi_lo && pa < fi_hi, "free frame %#llx outside the arena",
                 (unsigned long long)pa);
        f = (size_t)((pa - fi_base) >> 12);
        FI_CHECK(!fi_kind[f], "free frame %#llx is a table or listed twice",
                 (unsigned long long)pa);
        fi_kind[f] = FI_FREE;
        memcpy(&pa, vms_arena_ptr(&s->arena, pa), 8);
    }
    vms_space_stats(s, &st);
    FI_EQ(st.table_pages, fi_tables, "table pages");
    FI_EQ(s->arena.frames_in_use, fi_tables, "arena frames in use");
    for (i = 0; i < 3; i++) FI_EQ(st.mapped_bytes[i], fi_bytes[i], "mapped bytes");
    /* Leaves may map any frame, the arena's own included (as a kernel's direct map covers
     * its tables): the loader checks the tables, not what the leaves point at. */
    (void)loaded;
}

/* Where a walk of va ends: the leaf entry (*e, at *level), or 0 and the level of the unused
 * entry. False for a non-canonical address. */
static bool fi_lookup(const vms_space_t *s, uint64_t va, uint64_t *e, int *level) {
    uint64_t pa = s->root_pa, lin;
    int l;
    if (!fi_canonical(s, va)) return false;
    lin = va & (((uint64_t)1 << fi_bits(s)) - 1u);
    for (l = s->levels;; l--) {
        uint64_t x = fi_table(s, pa)[(lin >> VMS_LEVEL_SHIFT(l)) & 511u];
        *level = l;
        if (!vms_pte_is_used(x)) {
            *e = 0;
            return true;
        }
        if (vms_pte_is_leaf(x, l)) {
            *e = x;
            return true;
        }
        pa = x & VMS_PTE_ADDR_MASK;
    }
}

/* ------------------------------------------------------------------------------------------
 * Read-only calls against the walk. */

static vms_swtlb_t fi_tlb;
static uint8_t fi_buf[0x3000];

/* Bytes of [pa, pa + n) as the file holds them, or NULL outside the image. */
static const uint8_t *fi_file_bytes(uint64_t pa, uint64_t n) {
    uint64_t len = fi_size - 64;
    if (pa < fi_base || pa - fi_base >= len || n > len - (pa - fi_base)) return NULL;
    return fi_data + 64 + (pa - fi_base);
}

static void fi_check_copy(const vms_space_t *s, uint64_t va, uint64_t len, bool loaded) {
    vms_copy_result_t r;
    uint64_t done = 0, fva = 0;
    vms_fault want = VMS_FAULT_NONE;
    int rc;
    if (len && va + (len - 1) < va) {
        FI_EQ(vms_copy_from(s, fi_buf, va, len, &r), VMS_ERR_OVERFLOW, "copy_from wrap");
        return;
    }
    /* The expected result, page by page. */
    while (done < len) {
        uint64_t cur = va + done, e = 0, chunk, pa;
        int l = 0;
        if (!fi_lookup(s, cur, &e, &l)) {
            want = VMS_FAULT_NONCANONICAL;
        } else if (!(e & VMS_PTE_P)) {
            want = VMS_FAULT_NOT_PRESENT;
        } else if (!(e & VMS_PTE_US)) {
            want = VMS_FAULT_USER;
        } else {
            uint64_t sz = VMS_LEVEL_SIZE(l);
            pa = vms_pte_leaf_pa(e, l) + (cur & (sz - 1u));
            chunk = sz - (cur & (sz - 1u));
            if (chunk > len - done) chunk = len - done;
            if (pa < fi_base || pa >= fi_arena_end || chunk > fi_arena_end - pa)
                want = VMS_FAULT_PHYS;
        }
        if (want != VMS_FAULT_NONE) {
            fva = cur;
            break;
        }
        done += chunk;
    }
    rc = vms_copy_from(s, fi_buf, va, len, &r);
    FI_EQ(rc, want ? VMS_ERR_FAULT : VMS_OK, "copy_from result");
    FI_EQ(r.done, done, "copy_from done");
    FI_EQ(r.fault, want, "copy_from fault");
    if (want) FI_EQ(r.fault_va, fva, "copy_from fault va");
    /* Right after the load the bytes are the file's, but for the metadata, which the loader
     * rebuilds. */
    if (loaded) {
        uint64_t k = 0;
        while (k < r.done) {
            uint64_t e = 0, sz, pa, chunk, skip;
            const uint8_t *want_bytes;
            int l = 0;
            fi_lookup(s, va + k, &e, &l);
            sz = VMS_LEVEL_SIZE(l);
            pa = vms_pte_leaf_pa(e, l) + ((va + k) & (sz - 1u));
            chunk = sz - ((va + k) & (sz - 1u));
            if (chunk > r.done - k) chunk = r.done - k;
            skip = pa < fi_lo ? (fi_lo - pa < chunk ? fi_lo - pa : chunk) : 0;
            want_bytes = fi_file_bytes(pa + skip, chunk - skip);
            if (want_bytes && chunk > skip)
                FI_CHECK(!memcmp(want_bytes, fi_buf + k + skip, chunk - skip),
                         "copy_from bytes at va %#llx differ from the file",
                         (unsigned long long)(va + k));
            k += chunk;
        }
    }
}

static void fi_check_va(const vms_space_t *s, uint64_t va, bool loaded) {
    vms_mapping_t mp;
    vms_access_result_t r;
    uint64_t e = 0, pa = 0, pa2 = 0, sz = 0, leaf_pa = 0;
    vms_prop_t prop = 0;
    int l = 0, rc;
    unsigned acc;
    bool canon = fi_lookup(s, va, &e, &l), ok;
    if (e) {
        sz = VMS_LEVEL_SIZE(l);
        prop = vms_pte_prop(e, l);
        leaf_pa = vms_pte_leaf_pa(e, l);
    }
    rc = vms_space_query(s, va, &mp);
    if (!canon) {
        FI_EQ(rc, VMS_ERR_NONCANON, "query of a non-canonical address");
    } else if (!e) {
        FI_EQ(rc, VMS_ERR_NOENT, "query of a hole");
    } else {
        FI_EQ(rc, VMS_OK, "query");
        FI_EQ(mp.va, va & ~(sz - 1u), "query va");
        FI_EQ(mp.pa, leaf_pa, "query pa");
        FI_EQ(mp.size, sz, "query size");
        FI_EQ(mp.prop, prop, "query prop");
    }
    ok = vms_translate(s, va, &pa);
    FI_EQ(ok, (e & VMS_PTE_P) != 0, "translate");
    if (ok) FI_EQ(pa, leaf_pa + (va & (sz - 1u)), "translate pa");
    ok = vms_swtlb_translate(&fi_tlb, va, &pa2);
    FI_EQ(ok, (e & VMS_PTE_P) != 0, "software TLB translate");
    if (ok) FI_EQ(pa2, pa, "software TLB pa");
    for (acc = 0; acc < 8; acc++) {
        vms_fault want = VMS_FAULT_NONE;
        int wl = canon ? l : s->levels;
        if (!canon)
            want = VMS_FAULT_NONCANONICAL;
        else if (!(e & VMS_PTE_P))
            want = VMS_FAULT_NOT_PRESENT;
        else if ((acc & VMS_ACCESS_USER) && !(prop & VMS_USER))
            want = VMS_FAULT_USER;
        else if ((acc & VMS_ACCESS_WRITE) && !(prop & VMS_W))
            want = VMS_FAULT_WRITE;
        else if ((acc & VMS_ACCESS_EXEC) && !(prop & VMS_X))
            want = VMS_FAULT_EXEC;
        ok = vms_translate_access(s, va, acc, &r);
        FI_EQ(ok, want == VMS_FAULT_NONE, "translate_access result");
        FI_EQ(r.fault, want, "translate_access fault");
        FI_EQ(r.level, wl, "translate_access level");
        if (ok) {
            FI_EQ(r.pa, pa, "translate_access pa");
            FI_EQ(r.prop, VMS_R | (prop & (VMS_W | VMS_X | VMS_USER)), "translate_access prop");
        }
    }
    {
        static const uint64_t lens[6] = {1, 8, 64, 0x1000, 0x1001, 0x2800};
        fi_check_copy(s, va, lens[fi_below(6)], loaded);
    }
}

typedef struct fi_cmp_s {
    size_t i;
} fi_cmp_t;

static int fi_cmp_mapping(void *user, const vms_mapping_t *m) {
    fi_cmp_t *c = (fi_cmp_t *)user;
    const fi_leaf_t *l;
    FI_CHECK(c->i < fi_nleaves, "enumeration has an extra mapping at %#llx",
             (unsigned long long)m->va);
    l = &fi_leaves[c->i++];
    if (m->va != l->va || m->pa != l->pa || m->size != l->size ||
        m->prop != vms_pte_prop(l->e, l->level))
        fi_fail(__LINE__,
                "mapping %zu: got va %#llx pa %#llx size %#llx prop %#x, the tables say "
                "va %#llx pa %#llx size %#llx prop %#x",
                c->i - 1, (unsigned long long)m->va, (unsigned long long)m->pa,
                (unsigned long long)m->size, m->prop, (unsigned long long)l->va,
                (unsigned long long)l->pa, (unsigned long long)l->size,
                vms_pte_prop(l->e, l->level));
    return 0;
}

static unsigned fi_stop_after;
static int fi_stop_fn(void *user, const vms_mapping_t *m) {
    unsigned *seen = (unsigned *)user;
    (void)m;
    return ++*seen == fi_stop_after ? 7 : 0;
}

static size_t fi_dump_lines;
static void fi_dump_line(void *user, const char *line) {
    (void)user;
    FI_CHECK(strlen(line) < 192, "dump line too long");
    fi_dump_lines++;
}

/* The enumeration, the dump and a sample of addresses against the walk (fi_walk first). */
static void fi_read_all(const vms_space_t *s, bool loaded) {
    fi_cmp_t c = {0};
    size_t i, runs = 0;
    unsigned k, seen = 0;
    vms_space_enumerate(s, fi_cmp_mapping, &c);
    FI_EQ(c.i, fi_nleaves, "number of mappings");
    fi_stop_after = 1 + fi_below(4);
    FI_EQ(vms_space_enumerate(s, fi_stop_fn, &seen), fi_stop_after <= fi_nleaves ? 7 : 0,
          "enumeration stopped early");
    /* The dump merges pages that continue a run in VA and PA with the same size and prop. */
    for (i = 0; i < fi_nleaves; i++) {
        const fi_leaf_t *a = &fi_leaves[i], *b = i ? &fi_leaves[i - 1] : NULL;
        if (!b || b->va + b->size != a->va || b->pa + b->size != a->pa || b->size != a->size ||
            vms_pte_prop(b->e, b->level) != vms_pte_prop(a->e, a->level))
            runs++;
    }
    fi_dump_lines = 0;
    vms_space_dump(s, fi_dump_line, NULL);
    FI_EQ(fi_dump_lines, runs + 2, "dump lines");
    if (fi_below(4) == 0) vms_swtlb_flush(&fi_tlb);
    /* Each end of the first leaves, then leaves and words of the input at random. */
    for (i = 0; i < fi_nleaves && i < 24; i++) {
        fi_check_va(s, fi_leaves[i].va, loaded);
        fi_check_va(s, fi_leaves[i].va + fi_leaves[i].size - 1, loaded);
        fi_check_va(s, fi_leaves[i].va + fi_leaves[i].size, loaded);
    }
    for (k = 0; fi_nleaves && k < 16; k++) {
        const fi_leaf_t *l = &fi_leaves[fi_next() % fi_nleaves];
        fi_check_va(s, l->va + ((fi_next() % l->size) & ~(uint64_t)7), loaded);
    }
    for (k = 0; k < 16; k++) {
        uint64_t w = fi_word();
        switch (fi_below(3)) {
        case 0: break;                                        /* raw: often non-canonical */
        case 1: w = fi_canon(s, w & ~(uint64_t)0xfff); break; /* as an address */
        default: w = fi_canon(s, (w & VMS_PTE_ADDR_MASK) << 9); break; /* an entry's frame */
        }
        fi_check_va(s, w, loaded);
    }
}

/* ------------------------------------------------------------------------------------------
 * Mutations. */

static uint64_t fi_pick_va(const vms_space_t *s) {
    const fi_leaf_t *l = fi_nleaves ? &fi_leaves[fi_next() % fi_nleaves] : NULL;
    switch (fi_below(6)) {
    case 0:
        if (l) return l->va;
        break;
    case 1:
        if (l) return l->va + 0x1000;
        break; /* splits a huge page */
    case 2:
        if (l) return l->va + (l->size > 0x200000 ? 0x200000 : 0x1000);
        break;
    case 3:
        if (l) return l->va + l->size;
        break; /* just after */
    case 4: return fi_canon(s, fi_word() & ~(uint64_t)0xfff);
    default: break;
    }
    return fi_canon(s, (uint64_t)fi_below(4) << 30);
}

static void fi_mutate(vms_space_t *s) {
    static const uint64_t lens[8] = {0x1000,     0x2000, 0x200000, 0x201000,
                                     0x40000000, 0x3000, 0x1800,   0};
    static const vms_prop_t props[8] = {VMS_R | VMS_W | VMS_USER,
                                        VMS_R,
                                        0,
                                        VMS_W | VMS_X,
                                        VMS_R | VMS_X | VMS_GLOBAL | VMS_SW0 | VMS_SW3,
                                        VMS_R | VMS_CACHE_PAT(5),
                                        VMS_R | VMS_ACCESSED | VMS_DIRTY | VMS_SW1 | VMS_SW2,
                                        (vms_prop_t)1 << 20};
    unsigned n = fi_below(5), k;
    for (k = 0; k < n; k++) {
        uint64_t va = fi_pick_va(s), len = lens[fi_below(8)], pa = 0;
        vms_prop_t prop = props[fi_below(8)];
        unsigned op = fi_below(3);
        uint32_t flags = 0;
        int rc;
        const char *name;
        if (!len && fi_nleaves) len = fi_leaves[fi_next() % fi_nleaves].size;
        if (op == 0) {
            const fi_leaf_t *l = fi_nleaves ? &fi_leaves[fi_next() % fi_nleaves] : NULL;
            static const uint32_t fl[4] = {0, VMS_MAP_REPLACE, VMS_MAP_REPLACE | VMS_MAP_MAX_2M,
                                           VMS_MAP_REPLACE | VMS_MAP_MAX_4K};
            flags = fl[fi_below(4)];
            /* 4 KiB pages over a long range would take more table frames than an arena has. */
            if ((flags & VMS_MAP_MAX_4K) && len > 0x400000) flags &= ~VMS_MAP_MAX_4K;
            switch (fi_below(3)) {
            case 0: pa = l ? l->pa : 0; break; /* alias a mapped frame */
            case 1: pa = ((uint64_t)1 << 40) + ((uint64_t)fi_below(4) << 21); break;
            default: pa = fi_word() & VMS_PTE_ADDR_MASK; break;
            }
            /* A long range of 4 KiB pages would fill the arena with tables and the walks
             * with leaves: keep those 2 MiB aligned. */
            if (len > 0x400000) {
                pa &= ~(uint64_t)0x1fffff;
                va &= ~(uint64_t)0x1fffff;
            }
            rc = vms_space_map(s, va, pa, len, prop, flags);
            name = "map";
        } else if (op == 1) {
            rc = vms_space_unmap(s, va, len);
            name = "unmap";
        } else {
            rc = vms_space_protect(s, va, len, prop);
            name = "protect";
        }
        FI_CHECK(rc == VMS_OK || rc == VMS_ERR_NONCANON || rc == VMS_ERR_ALIGN ||
                     rc == VMS_ERR_ZEROLEN || rc == VMS_ERR_OVERFLOW || rc == VMS_ERR_FLAGS ||
                     rc == VMS_ERR_CACHE || rc == VMS_ERR_NOMEM ||
                     (op == 0 && (rc == VMS_ERR_PHYS || rc == VMS_ERR_EXIST)),
                 "%s(%#llx, %#llx): %s", name, (unsigned long long)va, (unsigned long long)len,
                 vms_err_name(rc));
        FI_SPACE_CHECK(s, "after a change");
        fi_walk(s, false);
        if (rc == VMS_OK) {
            uint64_t e = 0;
            int l = 0;
            FI_CHECK(fi_lookup(s, va, &e, &l), "changed a non-canonical address");
            if (op == 0)
                FI_CHECK(e && vms_pte_leaf_pa(e, l) + (va & (VMS_LEVEL_SIZE(l) - 1u)) == pa,
                         "map(%#llx -> %#llx) did not map it", (unsigned long long)va,
                         (unsigned long long)pa);
            else if (op == 1)
                FI_CHECK(!e, "unmap(%#llx) left a mapping", (unsigned long long)va);
            else if (e)
                FI_EQ(vms_pte_prop(e, l) & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY),
                      prop & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY), "protect");
            fi_check_va(s, va, false);
            fi_check_va(s, va + len - 1, false);
        }
    }
    if (n) fi_read_all(s, false);
}

/* ------------------------------------------------------------------------------------------
 * Saving: an image written by vms_space_save_mem loads, and saves again to the same bytes. */

/* Every mapping of a, and what vms_space_enumerate of b must then give. */
static vms_mapping_t *fi_maps;
static size_t fi_nmaps, fi_capmaps;
static int fi_collect(void *user, const vms_mapping_t *m) {
    (void)user;
    if (fi_nmaps == fi_capmaps) {
        fi_capmaps = fi_capmaps ? fi_capmaps * 2 : 1024;
        fi_maps = (vms_mapping_t *)realloc(fi_maps, fi_capmaps * sizeof *fi_maps);
        if (!fi_maps) abort();
    }
    fi_maps[fi_nmaps++] = *m;
    return 0;
}
static int fi_same_mapping(void *user, const vms_mapping_t *m) {
    size_t *i = (size_t *)user;
    const vms_mapping_t *w = &fi_maps[*i];
    FI_CHECK(*i < fi_nmaps, "the reloaded space has an extra mapping at %#llx",
             (unsigned long long)m->va);
    FI_CHECK(m->va == w->va && m->pa == w->pa && m->size == w->size && m->prop == w->prop,
             "reloaded mapping %zu: va %#llx size %#llx, saved va %#llx size %#llx", *i,
             (unsigned long long)m->va, (unsigned long long)m->size, (unsigned long long)w->va,
             (unsigned long long)w->size);
    ++*i;
    return 0;
}

/* Save s to a new buffer (*len bytes), checking what a buffer too small gets. */
static uint8_t *fi_save(const vms_space_t *s, size_t *len) {
    size_t need = 0, got = 0;
    uint8_t *b;
    FI_EQ(vms_space_save_mem(s, NULL, 0, &need), VMS_ERR_SMALL, "save of unknown size");
    FI_EQ(need, 64u + s->arena.bump, "image size");
    b = (uint8_t *)malloc(need);
    if (!b) abort();
    FI_EQ(vms_space_save_mem(s, b, need, &got), VMS_OK, "save");
    FI_EQ(got, need, "saved size");
    *len = need;
    return b;
}

/* s saved, loaded and saved again: the load succeeds, shows the same mappings, and the second
 * image is the first byte for byte (the loader rebuilds exactly what the library keeps). */
static void fi_roundtrip(const vms_space_t *s) {
    size_t n1, n2, i = 0;
    uint8_t *b1 = fi_save(s, &n1), *b2;
    vms_space_t back;
    fi_nmaps = 0;
    vms_space_enumerate(s, fi_collect, NULL);
    FI_EQ(vms_space_load_mem(&back, b1, n1), VMS_OK, "load of a saved space");
    vms_space_enumerate(&back, fi_same_mapping, &i);
    FI_EQ(i, fi_nmaps, "mappings after a reload");
    FI_EQ(back.levels, s->levels, "levels after a reload");
    FI_EQ(back.phys_limit, s->phys_limit, "physical width after a reload");
    FI_SPACE_CHECK(&back, "after a reload");
    b2 = fi_save(&back, &n2);
    FI_EQ(n2, n1, "size of the second image");
    if (memcmp(b1, b2, n1)) { /* one call, not a traced comparison per byte */
        for (i = 0; b1[i] == b2[i]; i++) {}
        fi_fail(__LINE__, "saving a reloaded space gave other bytes: at %zu, %#x, not %#x", i,
                b2[i], b1[i]);
    }
    FI_EQ(vms_space_destroy(&back), VMS_OK, "destroy of the reloaded space");
    free(b1);
    free(b2);
}

/* ------------------------------------------------------------------------------------------
 * Building: an input without the file's magic is a script that builds a space through the API
 * (levels, physical width, then map / unmap / protect steps), whose image must load. */

#define FI_BUILD_ARENA ((uint64_t)2 << 20)

static uint8_t fi_take(const uint8_t **p, size_t *n) {
    if (!*n) return 0;
    --*n;
    return *(*p)++;
}

static uint8_t *fi_build(const uint8_t *data, size_t size, size_t *len) {
    static const uint64_t sizes[3] = {0x1000, 0x200000, 0x40000000};
    vms_space_desc_t d;
    vms_space_t s;
    uint8_t *img;
    uint8_t b = fi_take(&data, &size);
    unsigned steps = 0;
    memset(&d, 0, sizeof d);
    d.levels = (b & 1) ? 5 : 4;
    d.phys_bits = (b >> 1) % 22u ? 31u + (b >> 1) % 22u : 0u; /* 32..52, or the default */
    d.arena.size = FI_BUILD_ARENA;
    FI_EQ(vms_space_init(&s, &d), VMS_OK, "init of a built space");
    while (size && steps++ < 64) {
        uint8_t op = fi_take(&data, &size), where = fi_take(&data, &size);
        uint8_t count = fi_take(&data, &size);
        uint64_t page = sizes[(op >> 2) % 3u];
        uint64_t va = fi_canon(&s, ((uint64_t)(where >> 4) << (9 + 12 * (where & 3))) * page);
        uint64_t len = page * (1u + count % 8u);
        uint64_t pa = ((uint64_t)fi_take(&data, &size) * page) & (s.phys_limit - 1u);
        vms_prop_t prop = VMS_R | ((op & 0x10) ? VMS_W : 0) | ((op & 0x20) ? VMS_X : 0) |
                          ((op & 0x40) ? VMS_USER : 0) | ((op & 0x80) ? VMS_GLOBAL : 0);
        switch (op & 3) {
        case 0:
        case 1: (void)vms_space_map(&s, va, pa & ~(page - 1u), len, prop, page); break;
        case 2: (void)vms_space_unmap(&s, va, len); break;
        default: (void)vms_space_protect(&s, va, len, prop); break;
        }
    }
    FI_SPACE_CHECK(&s, "after building");
    fi_roundtrip(&s);
    img = fi_save(&s, len);
    FI_EQ(vms_space_destroy(&s), VMS_OK, "destroy of a built space");
    return img;
}

/* ------------------------------------------------------------------------------------------
 * One input. */

/* Load data as an image; `must_load`: it was saved by the library. */
static void fi_run(const uint8_t *data, size_t size, bool must_load) {
    vms_space_t s;
    int rc;
    fi_data = data;
    fi_size = size;
    fi_rng = XXH3_64bits(data, size);
    FI_CHECK(fi_mapped == 0, "arena memory mapped before a load");
    rc = vms_space_load_mem(&s, data, size);
    if (rc != VMS_OK) {
        FI_CHECK(!must_load, "a saved image did not load: %s", vms_err_name(rc));
        FI_CHECK(rc == VMS_ERR_FORMAT || rc == VMS_ERR_NOMEM, "failed load returned %s",
                 vms_err_name(rc));
        FI_CHECK(fi_mapped == 0, "failed load left %lld bytes of arena mapped", fi_mapped);
        return;
    }
    FI_SPACE_CHECK(&s, "after the load");
    vms_swtlb_init(&fi_tlb, &s);
    fi_walk(&s, true);
    fi_read_all(&s, true);
    fi_mutate(&s);
    fi_roundtrip(&s);
    FI_EQ(vms_space_destroy(&s), VMS_OK, "destroy");
    FI_CHECK(fi_mapped == 0, "destroy left %lld bytes of arena mapped", fi_mapped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *img;
    size_t n;
    if (size >= 8 && !memcmp(data, VMS_SAVE_MAGIC, 8)) {
        fi_run(data, size, false);
        return 0;
    }
    img = fi_build(data, size, &n);
    FI_CHECK(fi_mapped == 0, "a built space left %lld bytes of arena mapped", fi_mapped);
    fi_run(img, n, true);
    free(img);
    return 0;
}
