/* vmspace.h - x86-64 page tables you own: build, walk, map, unmap, protect, translate.
 *
 * A single-header C11 library (stb style). It builds real x86-64 4-level (48-bit) or
 * 5-level (57-bit, LA57) page tables, bit-exact with the hardware format, in memory that a
 * physical-memory provider hands out: your kernel's frame allocator, or the embedded arena
 * in plain user memory. A cursor keeps its walk, so ranges map at the speed of the stores.
 *
 * Do this in exactly one .c file:
 *
 *     #define VMSPACE_IMPLEMENTATION
 *     #include "vmspace.h"
 *
 * Everywhere else just include it. Define VMSPACE_STATIC before the implementation to make
 * every function static (a private copy). The hot paths (translate, PTE encode/decode) are
 * static inline and always visible.
 *
 * TABLE OF CONTENTS (grep for the markers; in file order)
 *   >>config    compile-time options
 *   >>errors    the error enum, names and messages
 *   >>addr      canonical checks, table indices, page sizes
 *   >>pte       the entry format: hardware bits, properties, encode and decode
 *   >>provider  physical memory: the provider interface and the embedded arena
 *   >>tlb       flush batches and the flush and CR3 hooks
 *   >>space     a space: init, destroy, range operations, stats
 *   >>cursor    the cursor that keeps its walk
 *   >>translate the inline walk and the MMU's access rules
 *   >>activate  machines: which space each CPU runs, PCIDs
 *   >>swtlb     the software TLB
 *   >>copy      fallible copies through a space
 *   >>dump      printing, saving and loading a space
 *   >>debug     the invariant checker (VMSPACE_DEBUG)
 *   >>impl      the implementation, one >>impl-<part> marker per part: errors, pte,
 *               arena, helpers, walk, flush, reserve, cursor, map, unmap-protect, space,
 *               translate, activate, swtlb, copy, dump, save, debug
 *
 * COMPILE-TIME OPTIONS (define before including)
 *   VMSPACE_IMPLEMENTATION  emit the out-of-line definitions in this translation unit.
 *   VMSPACE_STATIC          make them static (a private copy per translation unit).
 *   VMSPACE_DEBUG           on or off (0 = off): internal assertions, and every mutating
 *                           call ends with a check of the tables it touched;
 *                           vms_space_check checks them all.
 *   VMSPACE_NO_STDLIB       no libc at all: no default arena memory (pass your own), no
 *                           file save/load, memset/memcpy become compiler builtins.
 *   VMS_ASSERT(c)           assertion used under VMSPACE_DEBUG (default: trap on failure).
 *   VMSPACE_NODISCARD       1 or 0: warn when an error code is dropped (default: on for
 *                           clang, C++17 and C23, where (void) silences it; off for gcc C).
 *   VMSPACE_NO_THREADS      single-threaded program: no atomics, no locks; concurrent
 *                           spaces are refused (implied by compilers without __atomic).
 *   VMSPACE_RELAX()         what a thread waiting for a lock does after spinning a while
 *                           (default: sched_yield() in hosted builds, a pause otherwise).
 *
 * SHARED CONTRACT (applies to every function unless its comment says otherwise)
 *   - NULL: pointers to spaces, cursors and outputs must be non-NULL and spaces
 *     initialised; only the calls that create or load an object (vms_space_init,
 *     vms_arena_init, vms_space_load[_mem], vms_arena_alloc_data, the machine of
 *     vms_space_attach) test for NULL and return VMS_ERR_ARG. A NULL descriptor means
 *     all defaults. Everywhere else a NULL is a caller bug, not a checked error.
 *   - Ranges are half-open [va, va + len). Addresses must be canonical for the space's
 *     number of levels and a range may not cross the canonical hole.
 *   - Bad input returns its own negative vms_err and changes nothing. Running out of
 *     page-table frames returns VMS_ERR_NOMEM and leaves the tables exactly as they were.
 *   - Saved images are hostile until validated (see vms_space_load).
 *   - Threads: a space made with vms_space_desc_t.concurrent may be used by any number of
 *     threads at once (see THREADS below); any other space is the caller's to serialise.
 *
 * THREADS (a concurrent space)
 *   - Every operation may be called from any thread at any time. Mutations (cursors, map,
 *     unmap, protect, activation, enumerate, dump, save, check) serialise on the space's
 *     lock: a cursor holds it from open to close, so a thread must not call any of them on
 *     the same space while it holds a cursor there (vms_cursor_try_open returns
 *     VMS_ERR_BUSY instead of waiting).
 *   - Readers take no lock and never wait: vms_translate, vms_swtlb_translate,
 *     vms_translate_access, vms_space_query and the copy functions run beside any mutation
 *     and return the translation from before it or from after it, never a torn entry.
 *   - Removed tables go back to the provider only after every reader that might still walk
 *     them has left: bracket translate and software-TLB calls with vms_read_enter/leave (one
 *     pair may cover many calls), and give the space a reclaim hook (vms_reclaim_t; a stock
 *     one over liburcu is in vmspace_urcu.h). Query and the copy functions bracket
 *     themselves. Without a hook, tables are freed at once: then no thread may translate
 *     while another unmaps.
 *   - Every store to a live entry is one atomic 64-bit store, and unmap, protect and replace
 *     change live leaves with exchange or compare-and-swap, so accessed and dirty bits a CPU
 *     sets meanwhile are kept.
 *
 * vmspace DOES NOT: load CR3, execute invlpg or send IPIs (those are hooks you supply), or
 * manage the frames you map (it maps physical addresses, it does not own them; the frames
 * hook tells you when an unmap or a replace let go of one, after its flush).
 *
 * EXAMPLE
 *     vms_space_t sp;
 *     if (vms_space_init(&sp, NULL) != VMS_OK) return 1;     // 4 levels, embedded arena
 *     vms_space_map(&sp, 0x400000, 0x200000, 0x200000, VMS_R | VMS_W | VMS_USER, 0);
 *     uint64_t pa;
 *     if (vms_translate(&sp, 0x400123, &pa)) ...               // pa == 0x200123
 *     vms_space_unmap(&sp, 0x400000, 0x200000);
 *     vms_space_destroy(&sp);
 *
 * License: MIT (see the end of the file).
 */
#ifndef VMSPACE_H_INCLUDED
#define VMSPACE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMSPACE_VERSION_MAJOR 0
#define VMSPACE_VERSION_MINOR 1
#define VMSPACE_VERSION_PATCH 0
#define VMSPACE_VERSION_NUMBER \
    (VMSPACE_VERSION_MAJOR * 10000 + VMSPACE_VERSION_MINOR * 100 + VMSPACE_VERSION_PATCH)

/* VMSPACE_DEBUG=0 means off, like leaving it undefined; an empty definition means on. */
#if defined(VMSPACE_DEBUG) && (0 - VMSPACE_DEBUG - 1) == -1
#undef VMSPACE_DEBUG
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* >>config ------------------------------------------------------------------------------ */

#if defined(__GNUC__) || defined(__clang__)
#define VMS_MAYBE_UNUSED __attribute__((unused))
#define VMS_LIKELY(x) __builtin_expect(!!(x), 1)
#define VMS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VMS_NOINLINE __attribute__((noinline))
#define VMS_ALWAYS_INLINE inline __attribute__((always_inline))
#define VMS_COLD __attribute__((cold))
#define VMS_NORETURN __attribute__((noreturn))
#else
#define VMS_MAYBE_UNUSED
#define VMS_LIKELY(x) (x)
#define VMS_UNLIKELY(x) (x)
#define VMS_NOINLINE
#define VMS_ALWAYS_INLINE inline
#define VMS_COLD
#define VMS_NORETURN
#endif

/* A private copy (VMSPACE_STATIC) may leave functions unused: they must not warn. */
#ifdef VMSPACE_STATIC
#define VMS_API static VMS_MAYBE_UNUSED
#else
#define VMS_API extern
#endif

/* Inline helpers that every translation unit sees; unused ones must not warn. */
#define VMS_INLINE static inline VMS_MAYBE_UNUSED

/* Functions whose result is an error code are VMS_NODISCARD: ignoring it warns wherever a
 * (void) cast can still say "on purpose" (C++17, C23, clang). gcc's C attribute warns even
 * through (void), so there it is opt-in. VMSPACE_NODISCARD 1 or 0 forces it on or off. */
#ifndef VMSPACE_NODISCARD
#if (defined(__cplusplus) && __cplusplus >= 201703L) ||                          \
    (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L) || defined(__clang__)
#define VMSPACE_NODISCARD 1
#else
#define VMSPACE_NODISCARD 0
#endif
#endif
#if !VMSPACE_NODISCARD
#define VMS_NODISCARD
#elif (defined(__cplusplus) && __cplusplus >= 201703L) ||                        \
    (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L)
#define VMS_NODISCARD [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#define VMS_NODISCARD __attribute__((warn_unused_result))
#else
#define VMS_NODISCARD
#endif

/* Most CPUs a space can be activated on (the active set is a bitmap of this many bits). */
#ifndef VMSPACE_MAX_CPUS
#define VMSPACE_MAX_CPUS 64
#endif
#if VMSPACE_MAX_CPUS < 1 || VMSPACE_MAX_CPUS > 64
#error "VMSPACE_MAX_CPUS must be between 1 and 64"
#endif

/* Atomics and locks for concurrent spaces (GNU __atomic builtins, also in C++). */
#if !defined(VMSPACE_NO_THREADS) && (defined(__GNUC__) || defined(__clang__))
#define VMS__THREADS 1
#else
#define VMS__THREADS 0
#endif

/* >>errors ------------------------------------------------------------------------------ */

/* Every failing call returns one of these negative codes; VMS_OK is 0. */
#define VMS_ERROR_MAP(X)                                                              \
    X(NOMEM, "out of memory for page-table pages")                                    \
    X(NONCANON, "address is not canonical for this space")                            \
    X(ALIGN, "address, length or size not aligned to the page size")                  \
    X(ZEROLEN, "length is zero")                                                      \
    X(OVERFLOW, "range wraps around the address space or crosses the canonical hole") \
    X(PHYS, "physical address beyond the space's physical-address width")            \
    X(FLAGS, "unknown property or operation flag")                                    \
    X(CACHE, "unknown cache policy")                                                  \
    X(PAGESIZE, "page size is not 4 KiB, 2 MiB or 1 GiB")                             \
    X(LEVELS, "paging levels must be 4 or 5")                                         \
    X(EXIST, "range already mapped")                                                  \
    X(NOENT, "nothing mapped there")                                                  \
    X(RANGE, "address outside the cursor's range")                                    \
    X(FAULT, "access faulted")                                                        \
    X(ACTIVE, "space is active on a CPU")                                             \
    X(CPU, "CPU index out of range")                                                  \
    X(ARG, "invalid argument: null pointer or missing hook")                          \
    X(IO, "file read or write failed")                                                \
    X(FORMAT, "not a saved vmspace file, or a corrupt one")                           \
    X(BUSY, "a live lease or another thread's cursor holds part of the range")        \
    X(CONFLICT, "the lease would overlap a conflicting lease")                        \
    X(STALE, "lease handle is stale or forged")                                       \
    X(PERM, "the range lacks the rights the lease needs")                             \
    X(INACTIVE, "the owner is inactive")                                              \
    X(TAMPERED, "a reader's bytes changed while it was held (debug builds)")          \
    X(SMALL, "buffer too small: for an arena's metadata and root table, or an image") \
    X(OVERLAP, "the old and new ranges of a move overlap")                            \
    X(SHARED, "the space shares a range already")                                     \
    X(MISMATCH, "the space's provider, threading or reclaim hook differ from the group's")

/* Position of each code in the map (1, 2, ...); the public codes are their negatives. */
enum vms__err_index {
    VMS__ERR_FIRST = 0,
#define VMS__ERR_INDEX(name, msg) VMS__EI_##name,
    VMS_ERROR_MAP(VMS__ERR_INDEX)
#undef VMS__ERR_INDEX
    VMS__ERR_END
};
enum vms_err_code {
    VMS_OK = 0,
#define VMS__ERR_CODE(name, msg) VMS_ERR_##name = -(int)VMS__EI_##name,
    VMS_ERROR_MAP(VMS__ERR_CODE)
#undef VMS__ERR_CODE
    VMS__ERR_COUNT = (int)VMS__ERR_END - 1
};
/* Functions that can fail return int: VMS_OK or a VMS_ERR_* code. */
typedef int vms_err;

/* "VMS_ERR_NOMEM" style name and a one-line message; unknown codes give "VMS_ERR_UNKNOWN". */
VMS_API const char *vms_err_name(int err);
VMS_API const char *vms_strerror(int err);

/* >>addr -------------------------------------------------------------------------------- */

#define VMS_PAGE_4K ((uint64_t)1 << 12)
#define VMS_PAGE_2M ((uint64_t)1 << 21)
#define VMS_PAGE_1G ((uint64_t)1 << 30)
#define VMS_PHYS_BITS 52
/* The most paging levels a space has (5-level paging); arrays indexed by level are one
 * longer, as levels count from 1. */
#define VMS_MAX_LEVELS 5
#define VMS_PHYS_LIMIT ((uint64_t)1 << VMS_PHYS_BITS)

/* Level 1 is the page table (4 KiB leaves), 2 the page directory, 3 the PDPT, 4 the PML4,
 * 5 the PML5. An entry at level l maps VMS_LEVEL_SIZE(l) bytes; a table at level l spans
 * VMS_LEVEL_SIZE(l + 1) bytes. */
#define VMS_LEVEL_SHIFT(l) (12u + 9u * ((unsigned)(l) - 1u))
#define VMS_LEVEL_SIZE(l) ((uint64_t)1 << VMS_LEVEL_SHIFT(l))

/* Index of va's entry in the table at level l. */
VMS_INLINE unsigned vms_addr_index(uint64_t va, int level) {
    return (unsigned)(va >> VMS_LEVEL_SHIFT(level)) & 511u;
}

/* Number of significant VA bits: 48 for 4 levels, 57 for 5. */
VMS_INLINE unsigned vms_addr_bits(int levels) { return levels == 5 ? 57u : 48u; }

/* Canonical: bits 63..(bits-1) all equal. */
VMS_INLINE bool vms_addr_is_canonical(uint64_t va, int levels) {
    unsigned shift = vms_addr_bits(levels) - 1u;
    uint64_t top = va >> shift;
    return top == 0 || top == (UINT64_MAX >> shift);
}

/* The leaf level for a page size (1, 2 or 3), or 0 if the size is not a page size. */
VMS_INLINE int vms_page_level(uint64_t size) {
    return size == VMS_PAGE_4K ? 1 : size == VMS_PAGE_2M ? 2 : size == VMS_PAGE_1G ? 3 : 0;
}

/* >>pte --------------------------------------------------------------------------------- */

/* Hardware entry bits (Intel SDM vol. 3, 4.5):
 *
 *   63  62..59 58..52  51..12       11  10   9   8  7     6  5  4   3   2  1  0
 *   XD  PKEY   ignored address      ign ign ign  G  PS/PAT D  A  PCD PWT US RW P
 *
 * In a 2 MiB or 1 GiB leaf, bit 7 is PS and the PAT bit moves to bit 12 (the address then
 * starts at bit 21 or 30). In a 4 KiB leaf, bit 7 is PAT. The library keeps two things in
 * ignored bits: VMS_PTE_NOACCESS (bit 10) marks a mapping with no access rights, whose P bit
 * is clear (the CPU faults on it, the library still sees the frame and properties), and the
 * user's software bits VMS_SW0..3 live in bits 9, 11, 52 and 53. Intermediate entries are
 * always P|RW|US (the leaf decides). */
#define VMS_PTE_P ((uint64_t)1 << 0)
#define VMS_PTE_RW ((uint64_t)1 << 1)
#define VMS_PTE_US ((uint64_t)1 << 2)
#define VMS_PTE_PWT ((uint64_t)1 << 3)
#define VMS_PTE_PCD ((uint64_t)1 << 4)
#define VMS_PTE_A ((uint64_t)1 << 5)
#define VMS_PTE_D ((uint64_t)1 << 6)
#define VMS_PTE_PS ((uint64_t)1 << 7)
#define VMS_PTE_PAT_4K ((uint64_t)1 << 7)
#define VMS_PTE_G ((uint64_t)1 << 8)
#define VMS_PTE_SW0 ((uint64_t)1 << 9)
#define VMS_PTE_NOACCESS ((uint64_t)1 << 10)
#define VMS_PTE_SW1 ((uint64_t)1 << 11)
#define VMS_PTE_PAT_HUGE ((uint64_t)1 << 12)
#define VMS_PTE_SW2 ((uint64_t)1 << 52)
#define VMS_PTE_SW3 ((uint64_t)1 << 53)
#define VMS_PTE_XD ((uint64_t)1 << 63)
#define VMS_PTE_ADDR_MASK ((uint64_t)0x000ffffffffff000)
/* An intermediate entry pointing at a child table. */
#define VMS_PTE_TABLE (VMS_PTE_P | VMS_PTE_RW | VMS_PTE_US)

/* Page properties: a 32-bit value of rights and flags, plus a cache policy in bits 12..15.
 *   VMS_R        readable; the entry is present to the CPU iff R is set (x86 cannot express
 *                write- or execute-only: W and X without R give an inaccessible mapping that
 *                remembers them)
 *   VMS_W        writable (RW)           VMS_X  executable (XD clear)
 *   VMS_USER     user-accessible (US)    VMS_GLOBAL  global (G)
 *   VMS_ACCESSED, VMS_DIRTY              preset the A and D bits
 *   VMS_SW0..3   software bits for the caller, ignored by the CPU
 * A property with none of R, W, X is a mapping with no access (like PROT_NONE). */
typedef uint32_t vms_prop_t;
#define VMS_R 0x001u
#define VMS_W 0x002u
#define VMS_X 0x004u
#define VMS_USER 0x008u
#define VMS_GLOBAL 0x010u
#define VMS_ACCESSED 0x020u
#define VMS_DIRTY 0x040u
#define VMS_SW0 0x080u
#define VMS_SW1 0x100u
#define VMS_SW2 0x200u
#define VMS_SW3 0x400u
#define VMS_PROP_FLAGS_MASK 0x7ffu
#define VMS_RW (VMS_R | VMS_W)
#define VMS_RX (VMS_R | VMS_X)
#define VMS_RWX (VMS_R | VMS_W | VMS_X)

/* Cache policy = PAT index (PAT:PCD:PWT). The library documents, and expects the kernel to
 * program, IA32_PAT = VMS_PAT_MSR_VALUE: entries 0..3 are WB, WT, WC, UC and entries 4..7
 * repeat them, so the four named policies never need the PAT bit. Indices 4..7 are accepted
 * for kernels that program the upper half differently; the PAT bit is then encoded at its
 * per-level position. Values 8..15 are rejected with VMS_ERR_CACHE. */
#define VMS_CACHE_SHIFT 12u
#define VMS_CACHE_MASK (0xfu << VMS_CACHE_SHIFT)
#define VMS_CACHE_PAT(i) ((vms_prop_t)(i) << VMS_CACHE_SHIFT)
#define VMS_CACHE_WB VMS_CACHE_PAT(0)
#define VMS_CACHE_WT VMS_CACHE_PAT(1)
#define VMS_CACHE_WC VMS_CACHE_PAT(2)
#define VMS_CACHE_UC VMS_CACHE_PAT(3)
#define VMS_PROP_CACHE(p) (((p) >> VMS_CACHE_SHIFT) & 0xfu)
/* IA32_PAT value (MSR 0x277) matching the table above: WB=6, WT=4, WC=1, UC=0 per byte. */
#define VMS_PAT_MSR_VALUE ((uint64_t)0x0001040600010406)

/* VMS_OK if p is a valid property, else VMS_ERR_FLAGS or VMS_ERR_CACHE. */
VMS_INLINE int vms_prop_check(vms_prop_t p) {
    if (p & ~(VMS_PROP_FLAGS_MASK | VMS_CACHE_MASK)) return VMS_ERR_FLAGS;
    if (VMS_PROP_CACHE(p) > 7u) return VMS_ERR_CACHE;
    return VMS_OK;
}

/* Leaf entry for a page of level `level` (1, 2 or 3) at physical address pa with property p.
 * pa must be aligned to the page size and p valid. */
VMS_INLINE uint64_t vms_pte_encode(uint64_t pa, vms_prop_t p, int level) {
    /* Straight-line moves of each property bit to its entry bit (no branch per bit): W, A
     * and D sit at the same positions in both; the rest shift by fixed amounts. */
    uint64_t q = p, huge = level > 1;
    uint64_t e = pa | (q & (VMS_W | VMS_ACCESSED | VMS_DIRTY)) | (q & VMS_R) /* P */
                 | ((~q & VMS_R) << 10)                                     /* NOACCESS */
                 | ((q & VMS_USER) >> 1)                                    /* US, bit 2 */
                 | ((~q & VMS_X) << 61)                                     /* XD, bit 63 */
                 | ((q & VMS_GLOBAL) << 4)                                  /* G, bit 8 */
                 | ((q & VMS_SW0) << 2) | ((q & VMS_SW1) << 3)              /* bits 9, 11 */
                 | ((q & (VMS_SW2 | VMS_SW3)) << 43)                        /* bits 52, 53 */
                 | ((q >> 9) & (VMS_PTE_PWT | VMS_PTE_PCD));                /* PAT 0..1 */
    uint64_t pat2 = (q >> (VMS_CACHE_SHIFT + 2)) & 1u;
    return e | (huge << 7) /* PS */ | (pat2 << (huge ? 12 : 7));
}

/* Property of a leaf entry at `level` (the inverse of vms_pte_encode). */
VMS_INLINE vms_prop_t vms_pte_prop(uint64_t e, int level) {
    uint64_t p = (e & (VMS_PTE_P | VMS_PTE_RW | VMS_PTE_A | VMS_PTE_D)) /* R W A D */
                 | ((e & VMS_PTE_US) << 1) | ((~e & VMS_PTE_XD) >> 61) | ((e & VMS_PTE_G) >> 4) |
                 ((e & VMS_PTE_SW0) >> 2) | ((e & VMS_PTE_SW1) >> 3) |
                 ((e & (VMS_PTE_SW2 | VMS_PTE_SW3)) >> 43) |
                 ((e & (VMS_PTE_PWT | VMS_PTE_PCD)) << 9) |
                 (((e >> (level == 1 ? 7 : 12)) & 1u) << (VMS_CACHE_SHIFT + 2));
    return (vms_prop_t)p;
}

/* Physical address of the page a leaf entry at `level` maps (PAT bit excluded). */
VMS_INLINE uint64_t vms_pte_leaf_pa(uint64_t e, int level) {
    return e & VMS_PTE_ADDR_MASK & ~(VMS_LEVEL_SIZE(level) - 1u);
}

/* An entry is in use if the CPU sees it present or it is a no-access mapping. */
VMS_INLINE bool vms_pte_is_used(uint64_t e) { return (e & (VMS_PTE_P | VMS_PTE_NOACCESS)) != 0; }

/* A used entry at `level` is a leaf (level 1, or PS set at level 2 or 3), else a table. */
VMS_INLINE bool vms_pte_is_leaf(uint64_t e, int level) {
    return level == 1 || (level <= 3 && (e & VMS_PTE_PS));
}

/* The CPU sees the entry (P). */
VMS_INLINE bool vms_pte_present(uint64_t e) { return (e & VMS_PTE_P) != 0; }

/* A used entry at level 2 or 3 with PS set maps a huge page (vms_pte_is_leaf adds the
 * level test). */
VMS_INLINE bool vms_pte_huge(uint64_t e) { return (e & VMS_PTE_PS) != 0; }

/* Physical address of the table an intermediate entry points at. */
VMS_INLINE uint64_t vms_pte_table_pa(uint64_t e) { return e & VMS_PTE_ADDR_MASK; }

/* The intermediate entry for the table at pa: P|RW|US, the leaves below decide. */
VMS_INLINE uint64_t vms_pte_table_entry(uint64_t pa) { return pa | VMS_PTE_TABLE; }

/* The rights an entry grants at its level of the walk: writes (RW), user mode (US),
 * fetches (XD clear); a right needs every level of the walk to grant it. */
VMS_INLINE bool vms_pte_writable(uint64_t e) { return (e & VMS_PTE_RW) != 0; }
VMS_INLINE bool vms_pte_user(uint64_t e) { return (e & VMS_PTE_US) != 0; }
VMS_INLINE bool vms_pte_executable(uint64_t e) { return !(e & VMS_PTE_XD); }

/* The entry is global (G): PCID switches and CR3 loads keep its translation. */
VMS_INLINE bool vms_pte_global(uint64_t e) { return (e & VMS_PTE_G) != 0; }

/* How the library touches an entry another thread may be using: one 64-bit atomic access
 * (a plain mov on x86, so a walk costs what it did). A reader's load is an acquire, so a
 * table it reaches is seen as it was when its entry was stored (with release). Plain
 * accesses under VMSPACE_NO_THREADS. */
VMS_INLINE uint64_t vms__pte_get(const uint64_t *p) {
#if VMS__THREADS
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    return *p;
#endif
}
VMS_INLINE void vms__pte_set(uint64_t *p, uint64_t e) {
#if VMS__THREADS
    __atomic_store_n(p, e, __ATOMIC_RELEASE);
#else
    *p = e;
#endif
}

/* The lock of a concurrent space (and of its owner). Test and test-and-set: a waiter spins
 * on a plain load (its cache line stays shared) and yields after a while, since pure
 * spinning with more threads than cores wastes whole time slices. */
#ifndef VMSPACE_RELAX
#if VMS__THREADS && !defined(VMSPACE_NO_STDLIB) && (defined(__unix__) || defined(__APPLE__))
#include <sched.h>
#define VMSPACE_RELAX() ((void)sched_yield())
#elif defined(__x86_64__) || defined(__i386__)
#define VMSPACE_RELAX() __builtin_ia32_pause()
#else
#define VMSPACE_RELAX() ((void)0)
#endif
#endif

VMS_INLINE bool vms__trylock(uint32_t *w) {
#if VMS__THREADS
    return !__atomic_load_n(w, __ATOMIC_RELAXED) && !__atomic_exchange_n(w, 1u, __ATOMIC_ACQUIRE);
#else
    (void)w;
    return true;
#endif
}

VMS_INLINE void vms__lock(uint32_t *w) {
#if VMS__THREADS
    unsigned spins = 0;
    while (!vms__trylock(w)) {
        if (++spins < 256u) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            VMSPACE_RELAX();
        }
    }
#else
    (void)w;
#endif
}

VMS_INLINE void vms__unlock(uint32_t *w) {
#if VMS__THREADS
    __atomic_store_n(w, 0u, __ATOMIC_RELEASE);
#else
    (void)w;
#endif
}

/* A read-modify-write of a live leaf in a concurrent space: the accessed and dirty bits a
 * CPU sets between the read and the write are not lost. */
VMS_INLINE uint64_t vms__pte_xchg(uint64_t *p, uint64_t e) {
#if VMS__THREADS
    return __atomic_exchange_n(p, e, __ATOMIC_ACQ_REL);
#else
    uint64_t old = *p;
    *p = e;
    return old;
#endif
}
/* Store neu if *p still holds *old; else put the current value in *old. */
VMS_INLINE bool vms__pte_cas(uint64_t *p, uint64_t *old, uint64_t neu) {
#if VMS__THREADS
    return __atomic_compare_exchange_n(p, old, neu, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
#else
    if (*p != *old) {
        *old = *p;
        return false;
    }
    *p = neu;
    return true;
#endif
}

/* >>provider ---------------------------------------------------------------------------- */

/* Per-table-page metadata, one 8-byte slot per frame, found by physical address through the
 * provider's metadata map. `children` counts the used entries of the table; the lock word is
 * reserved for concurrent cursors. A removed table waiting to be freed holds in its slot
 * the physical address of the next such table instead. */
typedef struct vms_table_meta_s {
    uint16_t children;
    uint8_t level;
    uint8_t flags;
    uint32_t lock;
} vms_table_meta_t;

/* Physical memory for page tables. Contract for every hook:
 *   alloc_frame  hands out one 4 KiB-aligned frame below the space's physical-address
 *                limit (1 << vms_space_desc_t.phys_bits, 2^52 by default) and stores its
 *                physical address in *pa. If `zero` is true the frame must read as zeros;
 *                if false the caller will overwrite every byte. Returns VMS_OK or
 *                VMS_ERR_NOMEM (and then changes nothing).
 *   free_frame   takes back a frame alloc_frame handed out.
 *   direct_map   a frame at physical address pa is accessible at (void *)(direct_map + pa).
 *   meta_map     its metadata slot is (vms_table_meta_t *)(meta_map + (pa >> 12) * 8);
 *                it must exist for every frame alloc_frame can return.
 *   phys_limit   physical addresses below it (and at or above direct_map_lo) may be read and
 *                written through the direct map by the copy functions; 0 means none may.
 */
typedef struct vms_provider_s {
    int (*alloc_frame)(void *user, uint64_t *pa, bool zero);
    void (*free_frame)(void *user, uint64_t pa);
    void *user;
    uintptr_t direct_map;
    uintptr_t meta_map;
    uint64_t direct_map_lo;
    uint64_t phys_limit;
} vms_provider_t;

/* The embedded provider: a bump-and-free-list arena of 4 KiB frames in user memory. The
 * memory is reserved up front and committed by the OS on first touch (huge-page backed where
 * the OS allows); physical addresses start at phys_base. The first frames hold the metadata
 * array. The arena also hands out data frames for callers to map. */
typedef struct vms_arena_desc_s {
    uint64_t size;      /* bytes of the arena; 0 = 1 GiB (only when the arena reserves its own
                         * memory). Reserved memory is rounded up to 4 KiB; the caller's
                         * memory must be a multiple of 4 KiB and is never rounded. */
    uint64_t phys_base; /* physical address of the first byte; 0 = 16 MiB. 2 MiB aligned. */
    void *memory;       /* caller's memory (size bytes, 4 KiB aligned); NULL = reserve it.
                         * The arena touches exactly these bytes and no others. */
} vms_arena_desc_t;

typedef struct vms_arena_s {
    uint8_t *base;
    uint64_t size;
    uint64_t phys_base;
    uint64_t bump;      /* offset of the first never-used byte */
    uint64_t free_head; /* physical address of the first freed frame, 0 = none */
    uint64_t frames_in_use;
    uint64_t fail_after; /* test hook: fail the (fail_after)-th next allocation; 0 = never */
    bool owns_memory;
} vms_arena_t;

/* Bytes of metadata an arena of `size` bytes keeps in its first frames (8 per frame, rounded
 * up to whole frames): tables and data frames start after them. */
VMS_INLINE uint64_t vms_arena_meta_bytes(uint64_t size) {
    return ((size >> 12) * 8u + 4095u) & ~(uint64_t)4095u;
}
/* Set up an arena. @return VMS_OK, VMS_ERR_ALIGN (phys_base, memory or the size of the
 * caller's memory misaligned), VMS_ERR_SMALL (the caller's memory holds no frame beyond the
 * metadata), VMS_ERR_PHYS (range beyond 52 bits), VMS_ERR_NOMEM (reservation failed),
 * VMS_ERR_ARG. */
VMS_NODISCARD VMS_API int vms_arena_init(vms_arena_t *a, const vms_arena_desc_t *desc);
/* Release the arena's memory (if it reserved it). */
VMS_API void vms_arena_destroy(vms_arena_t *a);
/* A provider that allocates from the arena. */
VMS_API vms_provider_t vms_arena_provider(vms_arena_t *a);
/* Allocate `size` bytes of data frames aligned to `align` (both powers of two, multiples of
 * 4 KiB), zeroed; their physical address goes in *pa. A single frame is taken from the frames
 * given back first. */
VMS_NODISCARD VMS_API int vms_arena_alloc_data(vms_arena_t *a, uint64_t size, uint64_t align,
                                               uint64_t *pa);
/* Give data frames [pa, pa + size) back (for page tables and single-frame data). Every frame
 * must be a live data frame of this arena, else nothing is freed.
 * @return VMS_OK, VMS_ERR_ARG (a NULL arena, or a frame that is not live data: a table, a
 *         free frame, one given back already, or outside the arena), VMS_ERR_ALIGN,
 *         VMS_ERR_ZEROLEN. */
VMS_NODISCARD VMS_API int vms_arena_free_data(vms_arena_t *a, uint64_t pa, uint64_t size);
/* Host pointer to arena physical address pa, or NULL if pa is outside the arena. */
VMS_API void *vms_arena_ptr(const vms_arena_t *a, uint64_t pa);

/* >>tlb --------------------------------------------------------------------------------- */

/* What a flush covers. A batch is all of these that an operation (or a cursor's lifetime)
 * gathered: single pages and ranges until `threshold` pages have been recorded, then
 * everything. */
typedef struct vms_flush_batch_s {
    uint32_t npages;  /* 4 KiB pages recorded so far (saturating) */
    uint32_t nranges; /* number of valid entries in ranges[] */
    bool all;         /* flush every non-global translation */
    bool global;      /* a global mapping was affected: flush globals too */
    struct { uint64_t va, len; } ranges[8];
    uint64_t deferred_head; /* table frames to free after the flush (physical, linked) */
} vms_flush_batch_t;

/* Called with the batch and the CPUs where the space is active (bit i = CPU i). Not called
 * when no CPU has the space active; the batch is simply dropped. */
typedef void (*vms_flush_fn)(void *user, const vms_flush_batch_t *batch, uint64_t cpus);
/* Called to switch a CPU to a space: load `cr3` on CPU `cpu`. */
typedef void (*vms_load_cr3_fn)(void *user, int cpu, uint64_t cr3);

/* When a table a concurrent space removed may go back to the provider: once every thread
 * that might still be walking it has left its read section (a grace period, as RCU calls
 * it). The hook says what a read section and a grace period are: liburcu's (vmspace_urcu.h),
 * a kernel's RCU or epochs. Every hook may be called from any thread. */
typedef struct vms_reclaim_s {
    void (*read_enter)(void *user); /* enter a read section (they nest) */
    void (*read_leave)(void *user);
    /* Call done(ctx, list) once every read section open now has been left; at once if
     * none can be. done may run on any thread; it does not block. */
    void (*retire)(void *user, void (*done)(void *ctx, uint64_t list), void *ctx,
                   uint64_t list);
    void (*barrier)(void *user); /* wait until every promised done() has run */
    void *user;
} vms_reclaim_t;

/* >>space ------------------------------------------------------------------------------- */

struct vms_machine_s;

/* Frames a change took out of the space (an unmap, a replace): [pa, pa + len), physically
 * contiguous, called once the flush that covers them has been dispatched and, in a
 * concurrent space with a reclaim hook, after a grace period (the cursor retires nothing and
 * waits on the hook's barrier: no reader can still be copying from them), so the caller may
 * free or reuse them. Calls come at cursor close and, for a cursor that removes more than 16
 * separate runs, along the way (after a flush of everything). In a concurrent space, a thread
 * must not be inside a read section while it changes a space that has this hook. */
typedef void (*vms_frames_fn)(void *user, uint64_t pa, uint64_t len);

/* Set-up of a space; zero means default for every field. */
typedef struct vms_space_desc_s {
    int levels;                     /* 4 or 5; 0 = 4 */
    const vms_provider_t *provider; /* NULL = an embedded arena of arena.size bytes */
    vms_arena_desc_t arena;         /* used only when provider is NULL */
    vms_flush_fn flush;             /* NULL = no flushes are sent */
    vms_load_cr3_fn load_cr3;       /* NULL = activation only bookkeeps */
    void *hook_user;                /* passed to flush and load_cr3 */
    uint32_t flush_threshold;       /* pages before a batch becomes "flush all"; 0 = 32 */
    bool pcid;                      /* give the space a PCID per CPU (see vms_space_activate) */
    unsigned phys_bits;             /* the CPU's physical-address width (MAXPHYADDR), 32..52;
                                     * 0 = 52. Entry address bits at or above it are reserved:
                                     * maps beyond it fail with VMS_ERR_PHYS. */
    struct vms_machine_s *machine;  /* the CPUs it runs on (see vms_machine_t); NULL = none:
                                     * it cannot be activated until vms_space_attach */
    bool concurrent;                /* many threads use it (see THREADS at the top) */
    const vms_reclaim_t *reclaim;   /* concurrent spaces: when removed tables are freed;
                                     * NULL = at once (no reader may walk meanwhile) */
    vms_frames_fn frames;           /* NULL = removed frames are not reported */
} vms_space_desc_t;

typedef struct vms_stats_s {
    uint64_t table_pages;     /* page-table frames in use, root included */
    uint64_t mapped_bytes[3]; /* bytes mapped by 4 KiB, 2 MiB and 1 GiB leaves */
} vms_stats_t;

struct vms_share_s;

typedef struct vms_space_s {
    /* Hot fields first: the inline walk needs only these. */
    uint64_t root_pa;
    uintptr_t direct_map;
    int levels;
    uint32_t flush_threshold;
    uint64_t generation; /* bumped whenever a translation is removed, weakened or changed;
                          * with a machine, never repeats across the destroy and re-init
                          * of one struct */
    uint64_t tables_freed; /* bumped whenever a table is unhooked: cursors re-walk on a change */
    uint64_t phys_limit;   /* 1 << the physical-address width */
    /* The last property a map encoded, keyed with its level (0 = none), and its entry bits:
     * a fault handler maps with one property over and over. */
    uint64_t enc_key, enc_bits;
    vms_provider_t prov;
    vms_arena_t arena; /* the embedded arena when desc->provider was NULL */
    bool owns_arena;
    /* Counters of what only this space holds (a share group counts its range). */
    vms_stats_t counts;
    struct vms_share_s *share; /* the group it shares a range with, or NULL */
    struct vms_space_s *share_next;
    /* Flushes and activation. */
    vms_flush_fn flush;
    vms_load_cr3_fn load_cr3;
    vms_frames_fn frames;
    void *hook_user;
    struct vms_machine_s *machine;
    uint64_t active_cpus;
    bool pcid;
    uint64_t pcid_stale;              /* CPUs whose cached PCID entries missed a flush */
    uint16_t pcids[VMSPACE_MAX_CPUS]; /* 0 = none on that CPU */
    uint64_t pcid_epoch[VMSPACE_MAX_CPUS];
    /* Threads (a concurrent space). */
    bool concurrent;
    uint32_t lock;         /* serialises mutations: 0 free, 1 held */
    vms_reclaim_t reclaim; /* all NULL: free at once */
    uint64_t reclaimed;    /* tables whose grace period ended, to free under the lock */
} vms_space_t;

/* A share group: spaces whose tables for one range, whole top-level slots (512 GiB each at
 * 4 levels, 256 TiB at 5), are the same tables, as every process shares the kernel half. A
 * change there through any member is seen by all: its flush reaches the CPUs where any
 * member is active, and every member's software TLBs and cursors notice. The top tables of
 * the range stay while the group lives, even empty; the last member to leave frees them.
 * The caller provides the storage; it must outlive the group (see vms_share_init). */
typedef struct vms_share_s {
    uint64_t lo, hi;          /* the linear range */
    vms_stats_t counts;       /* tables and mappings of the range (its top tables included) */
    vms_space_t *members;     /* linked through share_next */
    uint32_t nmembers;
    uint32_t lock;            /* concurrent members serialise on it instead of their own */
} vms_share_t;

/* One mapping: a leaf page. */
typedef struct vms_mapping_s {
    uint64_t va;   /* start of the page */
    uint64_t pa;   /* physical address of the page */
    uint64_t size; /* VMS_PAGE_4K, VMS_PAGE_2M or VMS_PAGE_1G */
    vms_prop_t prop;
} vms_mapping_t;


/* Map flags. By default a range map uses the largest page that VA, PA and the remaining
 * length allow; VMS_MAP_MAX_4K / VMS_MAP_MAX_2M cap it. VMS_MAP_REPLACE overwrites existing
 * mappings (splitting huge pages at the edges) instead of failing with VMS_ERR_EXIST.
 * VMS_MAP_COLLAPSE then collapses, as vms_space_collapse does, the 1 GiB blocks the range
 * touches (2 MiB blocks with VMS_MAP_MAX_2M), around the range too: filling a table's last
 * hole is what makes it uniform. With VMS_MAP_MAX_4K it is VMS_ERR_FLAGS. */
#define VMS_MAP_REPLACE 0x1u
#define VMS_MAP_MAX_4K 0x2u
#define VMS_MAP_MAX_2M 0x4u
#define VMS_MAP_COLLAPSE 0x8u
#define VMS_MAP_FLAGS_MASK 0xfu

/* Create an empty space (only a root table). desc may be NULL (all defaults).
 * @return VMS_OK, VMS_ERR_LEVELS, VMS_ERR_ARG (a provider without alloc/free hooks or
 *         direct map), VMS_ERR_FLAGS, VMS_ERR_NOMEM, or an arena error. */
VMS_NODISCARD VMS_API int vms_space_init(vms_space_t *s, const vms_space_desc_t *desc);
/* Free every table page (and the embedded arena). @return VMS_OK, or VMS_ERR_ACTIVE (and
 * nothing freed) while the space is active on any CPU. */
VMS_API int vms_space_destroy(vms_space_t *s);

/* Map [va, va + len) to [pa, pa + len) with property prop.
 * @pre va, pa, len multiples of 4 KiB.
 * @return VMS_OK, VMS_ERR_NONCANON, VMS_ERR_ALIGN, VMS_ERR_ZEROLEN, VMS_ERR_OVERFLOW,
 *         VMS_ERR_PHYS, VMS_ERR_FLAGS, VMS_ERR_CACHE, VMS_ERR_EXIST, VMS_ERR_NOMEM. */
VMS_NODISCARD VMS_API int vms_space_map(vms_space_t *s, uint64_t va, uint64_t pa, uint64_t len,
                                        vms_prop_t prop, uint32_t flags);
/* Unmap every mapping in [va, va + len), splitting huge pages covered in part and freeing
 * every table page that becomes empty. Unmapping nothing is not an error.
 * @return VMS_OK, the range errors of vms_space_map, VMS_ERR_NOMEM (a split failed). */
VMS_NODISCARD VMS_API int vms_space_unmap(vms_space_t *s, uint64_t va, uint64_t len);
/* Set the property of every mapping in [va, va + len) to prop (A and D are kept from the
 * old entry), splitting huge pages covered in part.
 * @return as vms_space_unmap, plus VMS_ERR_FLAGS and VMS_ERR_CACHE. */
VMS_NODISCARD VMS_API int vms_space_protect(vms_space_t *s, uint64_t va, uint64_t len,
                                            vms_prop_t prop);
/* Relative protect: every mapping in [va, va + len) keeps its own property (frame, cache
 * policy, A and D) with the bits of `clear` removed and those of `set` added ("-W", "+X"),
 * splitting huge pages covered in part. Only mappings whose access weakens are flushed.
 * @return as vms_space_protect; VMS_ERR_FLAGS for a bit other than R, W, X, USER, GLOBAL or
 *         SW0..3 in set or clear, VMS_ERR_ARG for a bit in both. */
VMS_NODISCARD VMS_API int vms_space_protect_mask(vms_space_t *s, uint64_t va, uint64_t len,
                                                 vms_prop_t set, vms_prop_t clear);
/* Protect by callback: fn sees each mapping in [va, va + len) in order (huge pages covered
 * in part are split first, as by protect) and returns its new property; returning m->prop
 * leaves it. Only the bits relative protect may change (R, W, X, USER, GLOBAL, SW0..3) are
 * taken from what fn returns; the cache policy and A/D stay the mapping's own (under
 * VMSPACE_DEBUG a return that differs in them is a caller bug and asserts). fn runs while
 * the space is being changed: it must not call this space's functions. Only mappings
 * whose access weakens are flushed.
 * @return as vms_space_protect, VMS_ERR_ARG (fn NULL). */
typedef vms_prop_t (*vms_protect_fn)(void *user, const vms_mapping_t *m);
VMS_NODISCARD VMS_API int vms_space_protect_fn(vms_space_t *s, uint64_t va, uint64_t len,
                                               vms_protect_fn fn, void *user);

/* Harvest accessed and dirty bits (dirty tracking, working-set sampling): report the
 * mappings of a range whose leaf has any of `bits`, and with VMS_HARVEST_CLEAR clear them,
 * per entry (atomically in a concurrent space, so a bit a CPU sets meanwhile is reported
 * now or kept for the next harvest). Clearing D records a flush of the page: a CPU that
 * cached the dirty translation would write on without setting D again. Clearing A records
 * none unless VMS_HARVEST_FLUSH_ACCESSED: a stale translation only delays the next A until
 * the CPU drops it, which sampling tolerates (what Linux does on x86 for
 * ptep_clear_flush_young); ask for the flush for exact sampling. A huge page the range
 * covers in part is reported, but its bits are not cleared: they also speak for its pages
 * outside the range, which a later harvest must still see. Translations do not change, so
 * software TLBs keep their entries. */
#define VMS_HARVEST_CLEAR 0x1u
#define VMS_HARVEST_FLUSH_ACCESSED 0x2u
typedef struct vms_harvest_s {
    vms_prop_t bits;  /* VMS_ACCESSED, VMS_DIRTY or both */
    uint32_t flags;   /* VMS_HARVEST_* */
    uint64_t *bitmap; /* NULL, or one bit per 4 KiB page of the range (bit i % 64 of word
                       * i / 64 for va + i * 4 KiB), set for each page reported; bits are
                       * only set, so the caller clears the bitmap first */
    void (*fn)(void *user, const vms_mapping_t *m); /* NULL, or called for each mapping
                       * reported, in order, with the A/D bits it had in m->prop; it runs
                       * while the space is being changed and must not call its functions */
    void *user;
    uint64_t found; /* out: bytes of the range reported (added to) */
} vms_harvest_t;
/* @return VMS_OK, the range errors of vms_space_unmap, VMS_ERR_FLAGS (bits not a non-empty
 *         subset of VMS_ACCESSED | VMS_DIRTY, or an unknown flag). */
VMS_NODISCARD VMS_API int vms_space_harvest(vms_space_t *s, uint64_t va, uint64_t len,
                                            vms_harvest_t *h);

/* Clone (fork): map in dst, at the same addresses, the frames that src maps in
 * [va, va + len), with the same page sizes and properties but without A/D. With
 * VMS_CLONE_COW every writable mapping of the range, on both sides, loses W and gains
 * VMS_COW (the software bit SW3), so a write faults on either side and the fault handler
 * copies the frame and maps the copy writable (a VMS_MAP_REPLACE, whose old frame then goes
 * to the frames hook); the source's changes flush as one batch. shared (may be NULL) hears
 * of every frame run the two spaces now share, to count references. dst must map nothing
 * in the range. All or nothing: on any error both spaces are as they were.
 * @return VMS_OK, the range errors of vms_space_map, VMS_ERR_ARG (dst is src),
 *         VMS_ERR_LEVELS (their levels differ), VMS_ERR_FLAGS, VMS_ERR_EXIST, VMS_ERR_NOMEM. */
#define VMS_CLONE_COW 0x1u
#define VMS_COW VMS_SW3
VMS_NODISCARD VMS_API int vms_space_clone(vms_space_t *dst, vms_space_t *src, uint64_t va,
                                          uint64_t len, uint32_t flags, vms_frames_fn shared,
                                          void *user);

/* Move (mremap): the mappings of [old, old + len) move to [new, new + len), keeping frames,
 * properties and A/D bits; the old range is left empty. Where both ends sit alike in a table's
 * span (old - new a multiple of 2 MiB, or of 1 GiB), whole tables and huge pages are relinked,
 * not copied; the rest moves entry by entry, huge pages becoming smaller ones where the new
 * address is not aligned for them. One flush batch covers the old range. The frames stay
 * mapped, so the frames hook hears nothing. The new range must map nothing. All or nothing:
 * on any error the space is as it was. In a space active on a CPU, writable pages moved
 * entry by entry get A and D set (the CPU may mark the old entries until the flush), as
 * collapse does; relinked tables and huge pages carry the bits the CPU sets.
 * @return VMS_OK, the range errors of vms_space_unmap for either range, VMS_ERR_OVERLAP,
 *         VMS_ERR_EXIST (the new range maps something), VMS_ERR_NOMEM. */
VMS_NODISCARD VMS_API int vms_space_move(vms_space_t *s, uint64_t old_va, uint64_t new_va,
                                         uint64_t len);

/* Collapse: every aligned 2 MiB block of [va, va + len) whose table holds 512 leaves with
 * one property and contiguous frames from a 2 MiB-aligned one becomes one 2 MiB leaf (A and
 * D are the union of its pages'; both are set on writable pages of a space active on a CPU,
 * which may still mark the old entries until the flush), and its table is freed after the
 * flush; then, unless
 * VMS_MAP_MAX_2M, every aligned 1 GiB block made of 512 such 2 MiB leaves becomes one 1 GiB
 * leaf. Translations do not change; the TLB is flushed for the blocks, since the SDM leaves
 * undefined which of two cached page sizes a CPU uses. *collapsed (may be NULL) receives the
 * bytes now held by new huge leaves.
 * @return VMS_OK (also when nothing was alike), the range errors of vms_space_unmap,
 *         VMS_ERR_FLAGS (a flag other than VMS_MAP_MAX_2M). */
VMS_NODISCARD VMS_API int vms_space_collapse(vms_space_t *s, uint64_t va, uint64_t len,
                                             uint32_t flags, uint64_t *collapsed);
/* The mapping that holds va. @return VMS_OK, VMS_ERR_NONCANON, VMS_ERR_NOENT. */
VMS_NODISCARD VMS_API int vms_space_query(const vms_space_t *s, uint64_t va, vms_mapping_t *out);
/* Call fn for every mapping in VA order (lower half first); stop early if fn returns
 * non-zero and return that value. */
VMS_API int vms_space_enumerate(const vms_space_t *s, int (*fn)(void *user, const vms_mapping_t *m),
                                void *user);
/* What the space holds: its tables (root included) and mapped bytes, those of the range it
 * shares included. */
VMS_API void vms_space_stats(const vms_space_t *s, vms_stats_t *out);

/* Sharing tables (see vms_share_t). The bytes one top-level slot covers: 512 GiB at 4 levels,
 * 256 TiB at 5. */
VMS_INLINE uint64_t vms_share_span(int levels) {
    return (uint64_t)1 << (12 + 9 * (levels - 1));
}
/* Make [va, va + len) of s, whole top-level slots, the range of a new share group g (the
 * caller's storage, which must outlive the group). Every slot gets its top table now (all or
 * nothing); those tables stay, even empty, while the group lives. What s maps there stays,
 * and is the group's. No other thread may use s meanwhile.
 * @return VMS_OK, VMS_ERR_ARG (g NULL), the range errors of vms_space_unmap, VMS_ERR_ALIGN
 *         (not whole slots), VMS_ERR_SHARED (s shares a range already), VMS_ERR_NOMEM. */
VMS_NODISCARD VMS_API int vms_share_init(vms_share_t *g, vms_space_t *s, uint64_t va,
                                         uint64_t len);
/* s joins g: its slots for the range point to the group's tables, so it sees what they map
 * and every change made there through any member. s must map nothing there and have the
 * members' levels, provider (the same memory and hooks) and physical-address width, and be
 * concurrent, with the same reclaim hook, exactly when they are. Nothing is allocated. No
 * other thread may use s meanwhile; members may be in use.
 * @return VMS_OK, VMS_ERR_ARG (g NULL or without members), VMS_ERR_SHARED (s shares a range
 *         already), VMS_ERR_LEVELS, VMS_ERR_MISMATCH, VMS_ERR_EXIST (s maps something there). */
VMS_NODISCARD VMS_API int vms_share_join(vms_share_t *g, vms_space_t *s);
/* s leaves its group: it maps nothing in the range any more (its CPUs are flushed). The last
 * member to leave takes the group's mappings down: they are unmapped, as vms_space_unmap
 * does (the frames hook hears of them), and the tables freed; g may then be used again.
 * vms_space_destroy leaves first (and then frees the last member's tables with the rest).
 * No other thread may use s meanwhile. @return VMS_OK, VMS_ERR_ARG (s shares nothing). */
VMS_NODISCARD VMS_API int vms_share_leave(vms_space_t *s);
/* Pointer to the table page at physical address pa (through the provider's direct map). */
VMS_INLINE uint64_t *vms_space_table(const vms_space_t *s, uint64_t pa) {
    return (uint64_t *)(s->direct_map + (uintptr_t)pa);
}
/* Validate a range for this space: VMS_OK or the specific range error. */
VMS_NODISCARD VMS_API int vms_space_check_range(const vms_space_t *s, uint64_t va, uint64_t len);
/* A read section of a concurrent space's reclaim hook (nothing without one): tables a
 * translate inside it reaches are not freed before it is left. */
VMS_INLINE void vms_read_enter(const vms_space_t *s) {
    if (s->reclaim.read_enter) s->reclaim.read_enter(s->reclaim.user);
}
VMS_INLINE void vms_read_leave(const vms_space_t *s) {
    if (s->reclaim.read_leave) s->reclaim.read_leave(s->reclaim.user);
}
/* Validate every argument of vms_space_map (not whether the range is free): VMS_OK or the
 * error vms_space_map would return for them. */
VMS_NODISCARD VMS_API int vms_space_check_map(const vms_space_t *s, uint64_t va, uint64_t pa,
                                              uint64_t len, vms_prop_t prop, uint32_t flags);

/* >>cursor ------------------------------------------------------------------------------ */

/* A cursor over [start, end) of one space. It keeps the tables of its current walk in
 * path[], so consecutive operations touch only the current table and climb only at table
 * boundaries. A cursor may stay open across other operations on its space: when any of them
 * unhooked a table, its next call notices (one compare) and walks again from the root.
 * Operations that remove or weaken translations gather their flushes in `batch`;
 * vms_cursor_close dispatches them (and then frees table pages the operations emptied). */
typedef struct vms_cursor_s {
    vms_space_t *space;
    uint64_t va, start, end;
    int level;                  /* lowest level with a valid table in path[] */
    uint64_t *path[VMS_MAX_LEVELS + 1]; /* path[l] = table at level l covering va, for
                                         * l >= level */
    uint64_t tables_seen;       /* space->tables_freed when path[] was last valid */
    bool locked;                /* holds its concurrent space's lock until closed */
    vms_flush_batch_t batch;
    uint32_t ngone;             /* frame runs removed, for the space's frames hook */
    struct { uint64_t pa, len; } gone[16];
} vms_cursor_t;

/* The cursor's current address (canonical). Its fields va/start/end hold addresses with the
 * sign-extension bits stripped (so the top of the space does not wrap to 0): use this. */
VMS_INLINE uint64_t vms_cursor_addr(const vms_cursor_t *c) {
    unsigned bits = vms_addr_bits(c->space->levels);
    uint64_t sign = (uint64_t)1 << (bits - 1u);
    return (c->va ^ sign) - sign; /* sign-extend from bit bits-1 */
}

/* Open a cursor over [va, va + len). In a concurrent space it waits for the space's lock
 * and holds it until closed. @return VMS_OK or a range error. */
VMS_NODISCARD VMS_API int vms_cursor_open(vms_cursor_t *c, vms_space_t *s, uint64_t va,
                                          uint64_t len);
/* vms_cursor_open that never waits. @return as vms_cursor_open, or VMS_ERR_BUSY when
 * another cursor of a concurrent space holds its lock. */
VMS_NODISCARD VMS_API int vms_cursor_try_open(vms_cursor_t *c, vms_space_t *s, uint64_t va,
                                              uint64_t len);
/* Dispatch the gathered flush (if any), release deferred table pages and the lock. */
VMS_API void vms_cursor_close(vms_cursor_t *c);
/* Dispatch the flush now without closing (grouping point for callers). */
VMS_API void vms_cursor_flush(vms_cursor_t *c);
/* Move to va. @return VMS_OK, VMS_ERR_ALIGN, VMS_ERR_RANGE. */
VMS_NODISCARD VMS_API int vms_cursor_jump(vms_cursor_t *c, uint64_t va);
/* The mapping that holds the current address. On VMS_ERR_NOENT, out->va and out->size give
 * the unmapped slot that holds it (the largest empty entry on the walk). Does not move.
 * @return VMS_OK, VMS_ERR_NOENT, VMS_ERR_RANGE (cursor at its end). */
VMS_NODISCARD VMS_API int vms_cursor_query(vms_cursor_t *c, vms_mapping_t *out);
/* Move to the first mapped address in [va, va + len) (va itself if it lies inside a
 * mapping) and store it in *found. On VMS_ERR_NOENT the cursor is at min(va + len, end).
 * @return VMS_OK, VMS_ERR_NOENT, VMS_ERR_ZEROLEN, VMS_ERR_ALIGN, VMS_ERR_RANGE. */
VMS_NODISCARD VMS_API int vms_cursor_find_next(vms_cursor_t *c, uint64_t len, uint64_t *found);
/* Next mapping at or after the current address: fill *out, move past it. false at the end. */
VMS_API bool vms_cursor_next(vms_cursor_t *c, vms_mapping_t *out);
/* Map one page of `size` bytes at the current address to pa, then advance past it.
 * @return VMS_OK, VMS_ERR_PAGESIZE, VMS_ERR_ALIGN, VMS_ERR_RANGE, VMS_ERR_PHYS,
 *         VMS_ERR_FLAGS, VMS_ERR_CACHE, VMS_ERR_EXIST, VMS_ERR_NOMEM. */
VMS_NODISCARD VMS_INLINE int vms_cursor_map(vms_cursor_t *c, uint64_t pa, uint64_t size,
                                            vms_prop_t prop, uint32_t flags);
/* Every case of vms_cursor_map; the inline part takes only the next small page of a table
 * already on the path. */
VMS_NODISCARD VMS_API int vms__cursor_map_slow(vms_cursor_t *c, uint64_t pa, uint64_t size,
                                               vms_prop_t prop, uint32_t flags);
/* Map [va, va + len) from the current address to [pa, pa + len) with the largest pages
 * allowed, then advance to va + len. Errors as vms_space_map, plus VMS_ERR_RANGE. */
VMS_NODISCARD VMS_API int vms_cursor_map_range(vms_cursor_t *c, uint64_t pa, uint64_t len,
                                               vms_prop_t prop, uint32_t flags);
/* Unmap [va, va + len) from the current address; advance to va + len. *unmapped (may be
 * NULL) receives the bytes unmapped. */
VMS_NODISCARD VMS_API int vms_cursor_unmap(vms_cursor_t *c, uint64_t len, uint64_t *unmapped);
/* Protect the next mapped page in [va, va + len): split it if it sticks out of the range,
 * set its property, store its range in *done, and advance past it.
 * @return VMS_OK, VMS_ERR_NOENT (nothing mapped; cursor at va + len), errors as protect. */
VMS_NODISCARD VMS_API int vms_cursor_protect_next(vms_cursor_t *c, uint64_t len, vms_prop_t prop,
                                                  vms_mapping_t *done);
/* Protect every mapping in [va, va + len) from the current address; advance to va + len. */
VMS_NODISCARD VMS_API int vms_cursor_protect(vms_cursor_t *c, uint64_t len, vms_prop_t prop);
/* vms_space_protect_mask from the current address; advance to va + len. */
VMS_NODISCARD VMS_API int vms_cursor_protect_mask(vms_cursor_t *c, uint64_t len, vms_prop_t set,
                                                  vms_prop_t clear);
/* vms_space_protect_fn from the current address; advance to va + len. */
VMS_NODISCARD VMS_API int vms_cursor_protect_fn(vms_cursor_t *c, uint64_t len, vms_protect_fn fn,
                                                void *user);
/* vms_space_harvest from the current address (the bitmap starts there); advance to
 * va + len. Flushes go in the cursor's batch. */
VMS_NODISCARD VMS_API int vms_cursor_harvest(vms_cursor_t *c, uint64_t len, vms_harvest_t *h);

/* The counters a change at linear address lin goes to: the share group's in its range. */
VMS_INLINE vms_stats_t *vms__counts(vms_space_t *s, uint64_t lin) {
    vms_share_t *g = s->share;
    if (VMS_UNLIKELY(g != NULL) && lin - g->lo < g->hi - g->lo) return &g->counts;
    return &s->counts;
}

/* The fast case of vms_cursor_map, inline: a 4 KiB page into an empty slot of the level-1
 * table on the cursor's path, not its last slot (so the cursor stays in that table), with
 * the property the space encoded last. Anything else, and every debug build (which checks
 * each change), goes out of line, which decides every error. */
VMS_INLINE int vms_cursor_map(vms_cursor_t *c, uint64_t pa, uint64_t size, vms_prop_t prop,
                              uint32_t flags) {
#ifndef VMSPACE_DEBUG
    vms_space_t *s = c->space;
    uint64_t va = c->va, *t = c->path[1];
    unsigned i = vms_addr_index(va, 1);
    if (size == VMS_PAGE_4K && !flags && c->level == 1 && i != 511u && va < c->end &&
        !((va | pa) & (VMS_PAGE_4K - 1u)) && pa < s->phys_limit - VMS_PAGE_4K &&
        s->enc_key == ((uint64_t)prop << 8 | 1u) && !vms_prop_check(prop) &&
        c->tables_seen == s->tables_freed && !vms_pte_is_used(t[i])) {
        vms__pte_set(&t[i], pa | s->enc_bits);
        ((vms_table_meta_t *)(s->prov.meta_map +
                              (((uintptr_t)t - s->direct_map) >> 12) * sizeof(vms_table_meta_t)))
            ->children++;
        vms__counts(s, va)->mapped_bytes[0] += VMS_PAGE_4K;
        c->va = va + VMS_PAGE_4K;
        return VMS_OK;
    }
#endif
    return vms__cursor_map_slow(c, pa, size, prop, flags);
}

/* >>translate --------------------------------------------------------------------------- */

/* The space's generation as a reader sees it: read before a walk, so that a change the walk
 * missed bumps it afterwards (changes bump it after their stores). */
VMS_INLINE uint64_t vms__generation(const vms_space_t *s) {
#if VMS__THREADS
    return __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
#else
    return s->generation;
#endif
}

/* The one descent to the leaf mapping va: unrolled, one load per level, a present test at
 * each, a PS test where huge leaves can be; no calls, no loop. Returns the leaf's level (1,
 * 2 or 3) with va's physical address in *pa, or 0 if va is not canonical, not mapped, or
 * mapped with no access. */
VMS_INLINE int vms__leaf_walk(const vms_space_t *s, uint64_t va, uint64_t *pa) {
    const uintptr_t dm = s->direct_map;
    const uint64_t *t = (const uint64_t *)(dm + (uintptr_t)s->root_pa);
    uint64_t e;
    if (VMS_UNLIKELY(s->levels == 5)) {
        if (VMS_UNLIKELY((uint64_t)((int64_t)(va << 7) >> 7) != va)) return 0;
        e = vms__pte_get(&t[(va >> 48) & 511u]);
        if (!vms_pte_present(e)) return 0;
        t = (const uint64_t *)(dm + (uintptr_t)vms_pte_table_pa(e));
    } else if (VMS_UNLIKELY((uint64_t)((int64_t)(va << 16) >> 16) != va)) {
        return 0;
    }
    e = vms__pte_get(&t[(va >> 39) & 511u]);
    if (!vms_pte_present(e)) return 0;
    e = vms__pte_get((const uint64_t *)(dm + (uintptr_t)vms_pte_table_pa(e)) + ((va >> 30) & 511u));
    if (!vms_pte_present(e)) return 0;
    if (VMS_UNLIKELY(vms_pte_huge(e))) {
        *pa = vms_pte_leaf_pa(e, 3) | (va & (VMS_PAGE_1G - 1u));
        return 3;
    }
    e = vms__pte_get((const uint64_t *)(dm + (uintptr_t)vms_pte_table_pa(e)) + ((va >> 21) & 511u));
    if (!vms_pte_present(e)) return 0;
    if (vms_pte_huge(e)) {
        *pa = vms_pte_leaf_pa(e, 2) | (va & (VMS_PAGE_2M - 1u));
        return 2;
    }
    e = vms__pte_get((const uint64_t *)(dm + (uintptr_t)vms_pte_table_pa(e)) + ((va >> 12) & 511u));
    if (!vms_pte_present(e)) return 0;
    *pa = vms_pte_leaf_pa(e, 1) | (va & (VMS_PAGE_4K - 1u));
    return 1;
}

/* Translate va to a physical address as the MMU would for a supervisor read: false if va is
 * not canonical, not mapped, or mapped with no access. */
VMS_INLINE bool vms_translate(const vms_space_t *s, uint64_t va, uint64_t *pa) {
    return vms__leaf_walk(s, va, pa) != 0;
}

/* Kinds of access for vms_translate_access, combinable. */
#define VMS_ACCESS_READ 0x0u
#define VMS_ACCESS_WRITE 0x1u
#define VMS_ACCESS_EXEC 0x2u
#define VMS_ACCESS_USER 0x4u /* from user mode (CPL 3); else supervisor */

/* Why an access faulted. */
typedef enum vms_fault {
    VMS_FAULT_NONE = 0,
    VMS_FAULT_NONCANONICAL, /* the address is not canonical (#GP on hardware) */
    VMS_FAULT_NOT_PRESENT,  /* an entry on the walk is not present */
    VMS_FAULT_WRITE,        /* write to a page read-only at some level (CR0.WP=1) */
    VMS_FAULT_USER,         /* user access to a page supervisor-only at some level */
    VMS_FAULT_EXEC,         /* fetch from a page with XD set at some level */
    VMS_FAULT_PHYS          /* (copies only) the frame is outside the provider's memory */
} vms_fault;

typedef struct vms_access_result_s {
    uint64_t pa;      /* on success */
    vms_fault fault;  /* VMS_FAULT_NONE on success */
    int level;        /* level of the leaf, or of the entry that faulted */
    vms_prop_t prop;  /* effective rights across levels (R, W, X, USER) on success */
} vms_access_result_t;

/* Translate va for an access of kind `access` (VMS_ACCESS_*), applying the MMU's rules:
 * present at every level, and the effective W, US and XD across all levels (a right must be
 * granted at every level). @return true if the access is allowed. */
VMS_API bool vms_translate_access(const vms_space_t *s, uint64_t va, unsigned access,
                                  vms_access_result_t *out);

/* >>activate ---------------------------------------------------------------------------- */

/* PCIDs handed out per CPU before they are recycled (1..VMSPACE_MAX_PCID; 0 is the kernel's). */
#ifndef VMSPACE_MAX_PCID
#define VMSPACE_MAX_PCID 4095
#endif
#if VMSPACE_MAX_PCID < 1 || VMSPACE_MAX_PCID > 4095
#error "VMSPACE_MAX_PCID must be between 1 and 4095"
#endif
#define VMS_CR3_NOFLUSH ((uint64_t)1 << 63)

/* A machine: the CPUs a set of spaces runs on, owned by the caller (one per VM, per emulated
 * board, per kernel). It records which space each CPU has loaded and hands out each CPU's
 * PCIDs, and its clock numbers the generations of the spaces bound to it, so a software TLB
 * never confuses two lives of one vms_space_t struct. The library keeps no state of its
 * own: two machines in one process never meet. All zero (or vms_machine_init) is an idle
 * machine. Not thread-safe: activation of one machine is serialised by the caller. */
typedef struct vms_machine_s {
    vms_space_t *current[VMSPACE_MAX_CPUS];
    uint16_t next_pcid[VMSPACE_MAX_CPUS]; /* next PCID to hand out; 0 = start an epoch */
    uint64_t pcid_epoch[VMSPACE_MAX_CPUS]; /* bumped when a CPU's PCIDs are recycled */
    uint64_t clock;                        /* the highest generation any space reached */
} vms_machine_t;

VMS_API void vms_machine_init(vms_machine_t *m);
/* The space current on `cpu` of m, or NULL. */
VMS_API vms_space_t *vms_machine_current(const vms_machine_t *m, int cpu);
/* Bind a space made without a machine (a loaded one, say) to m; its generation moves past
 * m's clock. @return VMS_OK, VMS_ERR_ARG (s already has a machine). */
VMS_NODISCARD VMS_API int vms_space_attach(vms_space_t *s, vms_machine_t *m);
/* Make s the current space on CPU `cpu` (0 <= cpu < VMSPACE_MAX_CPUS) of its machine: the
 * space that was current there is deactivated on that CPU, and load_cr3 is called with the
 * root (and, with PCIDs, the PCID and the no-flush bit 63 when the CPU's PCID for this space
 * is still valid). @return VMS_OK, VMS_ERR_CPU, VMS_ERR_ARG (s has no machine). */
VMS_NODISCARD VMS_API int vms_space_activate(vms_space_t *s, int cpu);
/* Forget s on CPU `cpu` (e.g. the CPU switched to a space the library does not manage).
 * @return VMS_OK, VMS_ERR_CPU, VMS_ERR_ARG (s has no machine). */
VMS_NODISCARD VMS_API int vms_space_deactivate(vms_space_t *s, int cpu);

/* >>swtlb ------------------------------------------------------------------------------- */

/* A software TLB: a small direct-mapped cache of translations owned by the caller (one per
 * thread or emulated CPU) in front of vms_translate. Each page size has its own small array,
 * so huge pages are cached at their size. It is always coherent: it remembers the space's
 * generation, which every change that removes, weakens or changes a translation bumps, and
 * drops all its entries when that moved. A hit is two dependent loads (the space's
 * generation through t->space) beside the entry's own load. */
#ifndef VMSPACE_SWTLB_ENTRIES
#define VMSPACE_SWTLB_ENTRIES 64 /* 4 KiB entries; 2 MiB get a quarter, 1 GiB 4 */
#endif
#if VMSPACE_SWTLB_ENTRIES < 4 || (VMSPACE_SWTLB_ENTRIES & (VMSPACE_SWTLB_ENTRIES - 1))
#error "VMSPACE_SWTLB_ENTRIES must be a power of two, at least 4"
#endif
typedef struct vms_swtlb_entry_s {
    /* base first: a hit at any page size then loads base from the entry's own address, and
     * a compiler that merges the three hit paths needs no extra add to reach it. */
    uint64_t base; /* pa - va for the page: pa = va + base (mod 2^64) */
    uint64_t tag;  /* canonical va >> page shift, or UINT64_MAX when empty */
} vms_swtlb_entry_t;
typedef struct vms_swtlb_s {
    const vms_space_t *space;
    uint64_t generation; /* the space's generation the entries were filled at */
    uint64_t misses;     /* slow-path calls, for measurements */
    uint64_t huge;       /* nonzero once a 2 MiB or 1 GiB entry is filled: probe those too */
    vms_swtlb_entry_t e4k[VMSPACE_SWTLB_ENTRIES];
    vms_swtlb_entry_t e2m[VMSPACE_SWTLB_ENTRIES / 4];
    vms_swtlb_entry_t e1g[4];
} vms_swtlb_t;

/* Bind t to s, empty. */
VMS_API void vms_swtlb_init(vms_swtlb_t *t, const vms_space_t *s);
/* Drop every entry (done automatically when the space changes). */
VMS_API void vms_swtlb_flush(vms_swtlb_t *t);
/* Fill the entry for a huge page at level l (2 or 3) mapping va at pa. */
VMS_API void vms__swtlb_put_huge(vms_swtlb_t *t, uint64_t va, uint64_t pa, int l);

/* Same answer as vms_translate(t->space, va, pa), from the cache when it can. A miss is the
 * walk of vms_translate and one entry's fill, inline: out of line, the call alone would cost
 * a miss a third more than the walk. */
VMS_INLINE bool vms_swtlb_translate(vms_swtlb_t *t, uint64_t va, uint64_t *pa) {
    /* The entry's byte offset straight from va (entries are 16 bytes): one shift and one
     * mask, which shortens a chain of dependent lookups by a cycle. */
    vms_swtlb_entry_t *e =
        (vms_swtlb_entry_t *)(void *)((char *)t->e4k +
                                      ((va >> 8) & ((uint64_t)(VMSPACE_SWTLB_ENTRIES - 1) << 4)));
    const vms_swtlb_entry_t *h;
    uint64_t p = 0;
    int l;
    if (VMS_LIKELY(t->generation == vms__generation(t->space))) {
        if (VMS_LIKELY(e->tag == va >> 12)) {
            *pa = va + e->base;
            return true;
        }
        if (t->huge) { /* a miss in a space of small pages skips the two probes */
            h = &t->e2m[(va >> 21) & (VMSPACE_SWTLB_ENTRIES / 4 - 1)];
            if (h->tag == va >> 21) {
                *pa = va + h->base;
                return true;
            }
            h = &t->e1g[(va >> 30) & 3];
            if (h->tag == va >> 30) {
                *pa = va + h->base;
                return true;
            }
        }
    } else {
        vms_swtlb_flush(t); /* the space changed: start over */
    }
    t->misses++;
    l = vms__leaf_walk(t->space, va, &p); /* absences are not cached */
    if (VMS_UNLIKELY(l != 1)) {
        if (!l) return false;
        vms__swtlb_put_huge(t, va, p, l);
    } else {
        e->tag = va >> 12;
        e->base = p - va; /* at every size, the entry's base is pa - va */
    }
    *pa = p;
    return true;
}

/* >>copy -------------------------------------------------------------------------------- */

/* Result of a fallible copy: bytes done, and on a fault where and why. */
typedef struct vms_copy_result_s {
    uint64_t done;
    uint64_t fault_va;
    vms_fault fault;
} vms_copy_result_t;
/* Copy len bytes from the space's va to dst with the rules of a user read (present, user).
 * Stops at the first page that faults. @return VMS_OK or VMS_ERR_FAULT (see *r). */
VMS_NODISCARD VMS_API int vms_copy_from(const vms_space_t *s, void *dst, uint64_t va, uint64_t len,
                                        vms_copy_result_t *r);
/* Copy len bytes from src to the space's va with the rules of a user write (present, user,
 * writable). Stops at the first page that faults. */
VMS_NODISCARD VMS_API int vms_copy_to(vms_space_t *s, uint64_t va, const void *src, uint64_t len,
                                      vms_copy_result_t *r);
/* Fill len bytes at va with byte b, as a user write. */
VMS_NODISCARD VMS_API int vms_fill(vms_space_t *s, uint64_t va, int b, uint64_t len,
                                   vms_copy_result_t *r);
/* All-or-nothing read / write of a small value (len <= 64): nothing is copied on a fault. */
VMS_NODISCARD VMS_API int vms_read_val(const vms_space_t *s, uint64_t va, void *dst, uint64_t len,
                                       vms_copy_result_t *r);
VMS_NODISCARD VMS_API int vms_write_val(vms_space_t *s, uint64_t va, const void *src, uint64_t len,
                                        vms_copy_result_t *r);

/* >>dump -------------------------------------------------------------------------------- */

/* Write a readable listing of the space (merged runs: start, end, size, page size, rights,
 * cache policy, physical range) through `out` (called once per line, NUL-terminated). */
VMS_API void vms_space_dump(const vms_space_t *s, void (*out)(void *user, const char *line),
                            void *user);
/* Saved file: a 64-byte little-endian header, then the raw arena bytes from phys_base.
 *   0: magic "VMSPACE1" | 8: u32 version (1) | 12: u8 levels | 13: u8 physical-address
 *   width (0 = 52) | 14: u16 zero | 16: u64 root_pa | 24: u64 phys_base
 *   32: u64 length of the arena image (the rest of the file) | 40: u64 arena free-list head
 *   48: u64 arena frames in use | 56: u64 arena size (bytes reserved)
 * The image holds the tables, the data frames and the arena's metadata array, so an
 * emulator can load it at phys_base and point CR3 at root_pa.
 *
 * Loading trusts nothing in the file. The header must agree with the file's length and with
 * itself; the tables must form a tree under the root (each table reached once, at one level,
 * inside the image, never on the metadata frames); every entry must be one the library
 * could have written at its level and width (no reserved bits, huge pages only at 2 MiB and
 * 1 GiB, aligned) and each table must sit at the level the saved metadata gives it; the free
 * list must be frames of the image that hold no table, each once. Child counts, counters and
 * frames in use are recomputed. Any breach is VMS_ERR_FORMAT, and a failed load leaves
 * nothing allocated. Leaves may map any frame, the arena's own included (a kernel's direct
 * map covers its page tables), so what a copy writes through such a mapping is the caller's
 * business, as on hardware. */
#define VMS_SAVE_MAGIC "VMSPACE1"
#ifndef VMSPACE_NO_STDLIB
/* Save a space that uses the embedded arena. @return VMS_OK, VMS_ERR_ARG (not an arena
 * space), VMS_ERR_IO. */
VMS_NODISCARD VMS_API int vms_space_save(const vms_space_t *s, const char *path);
/* The same into memory: *len is set to the image's size (header included) and, if it fits
 * in cap bytes at buf, the image is written there. @return VMS_OK, VMS_ERR_ARG (not an arena
 * space, or a NULL s or len), VMS_ERR_SMALL (cap < *len: nothing written; buf may be NULL). */
VMS_NODISCARD VMS_API int vms_space_save_mem(const vms_space_t *s, void *buf, size_t cap,
                                             size_t *len);
/* Load a saved space into s (a new arena). @return VMS_OK, VMS_ERR_ARG, VMS_ERR_IO,
 * VMS_ERR_FORMAT, VMS_ERR_NOMEM. */
VMS_NODISCARD VMS_API int vms_space_load(vms_space_t *s, const char *path);
/* The same from the bytes of a saved file in memory (len bytes at data, header included). */
VMS_NODISCARD VMS_API int vms_space_load_mem(vms_space_t *s, const void *data, size_t len);
#endif

/* >>debug ------------------------------------------------------------------------------- */

#ifdef VMSPACE_DEBUG
/* Full check of the tables: every table reachable exactly once and at its level, child
 * counts right, leaves aligned, reserved bits clear, counters right. Returns the name of the
 * first broken clause, or NULL. Compiled only under VMSPACE_DEBUG. */
VMS_API const char *vms_space_check(const vms_space_t *s);
#endif

#ifdef __cplusplus
}
#endif
#endif /* VMSPACE_H_INCLUDED */

/* ===================================================================================== */
/* >>impl: everything below is implementation detail, compiled where                   */
/* VMSPACE_IMPLEMENTATION is defined.                                                    */
/* ===================================================================================== */
#if defined(VMSPACE_IMPLEMENTATION) && !defined(VMSPACE_IMPL_INCLUDED)
#define VMSPACE_IMPL_INCLUDED

#ifndef VMSPACE_NO_STDLIB
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define VMS__HAVE_MMAP 1
/* Strict -std=c11 hides these names; their values are fixed by the Linux ABI. */
#if !defined(MAP_ANONYMOUS) && defined(__linux__)
#define MAP_ANONYMOUS 0x20
#endif
#if !defined(MAP_NORESERVE) && defined(__linux__)
#define MAP_NORESERVE 0x4000
#endif
#endif
#define VMS_MEMSET(d, c, n) memset((d), (c), (size_t)(n))
#define VMS_MEMCPY(d, s, n) memcpy((d), (s), (size_t)(n))
#else
#define VMS_MEMSET(d, c, n) __builtin_memset((d), (c), (size_t)(n))
#define VMS_MEMCPY(d, s, n) __builtin_memcpy((d), (s), (size_t)(n))
#endif

#ifndef VMS_ASSERT
#ifdef VMSPACE_DEBUG
#define VMS_ASSERT(c) ((c) ? (void)0 : __builtin_trap())
#else
/* Disabled checks stay type-checked and generate no code (never an optimiser hint). */
#define VMS_ASSERT(c) ((void)sizeof(!(c)))
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VMS__PRIVATE static VMS_MAYBE_UNUSED
#define VMS__SIZE(l) VMS_LEVEL_SIZE(l)
#define VMS__SHIFT(l) VMS_LEVEL_SHIFT(l)
#define VMS__ENTRIES 512u /* entries in a table, at every level */

/* >>impl-errors */

static const char *const vms__err_names[] = {
#define VMS__ERR_NAME(name, msg) "VMS_ERR_" #name,
    VMS_ERROR_MAP(VMS__ERR_NAME)
#undef VMS__ERR_NAME
};
static const char *const vms__err_msgs[] = {
#define VMS__ERR_MSG(name, msg) msg,
    VMS_ERROR_MAP(VMS__ERR_MSG)
#undef VMS__ERR_MSG
};

VMS_API const char *vms_err_name(int err) {
    if (err == VMS_OK) return "VMS_OK";
    if (err < 0 && -err <= VMS__ERR_COUNT) return vms__err_names[-err - 1];
    return "VMS_ERR_UNKNOWN";
}

VMS_API const char *vms_strerror(int err) {
    if (err == VMS_OK) return "success";
    if (err < 0 && -err <= VMS__ERR_COUNT) return vms__err_msgs[-err - 1];
    return "unknown error";
}

/* >>impl-pte: the entry format's rules for the implementation. Together with >>pte, the only
 * code that knows entry bits. */

/* What a plan's stand-in table reads as: a leaf at any level (P|PS). */
#define VMS__LEAF_ENTRY (VMS_PTE_P | VMS_PTE_PS)

/* The A and D bits of e, which a rewrite of the entry keeps. */

/* Changes a CPU must be told of: a lost right (P, RW, US), a gained XD, or any change of the
 * cache bits or of G. Adding rights needs no flush (the CPU refetches on the fault). */
VMS__PRIVATE bool vms__pte_weakens(uint64_t old, uint64_t neu, int level) {
    uint64_t pat = level == 1 ? VMS_PTE_PAT_4K : VMS_PTE_PAT_HUGE;
    return ((old & ~neu & (VMS_PTE_P | VMS_PTE_RW | VMS_PTE_US)) | (neu & ~old & VMS_PTE_XD) |
            ((old ^ neu) & (VMS_PTE_PWT | VMS_PTE_PCD | VMS_PTE_G | pat))) != 0;
}

/* The bits of a leaf at `level` that a protect keeps: its frame and its A/D bits. */
VMS__PRIVATE uint64_t vms__pte_kept(int level) {
    return (VMS_PTE_ADDR_MASK & ~(VMS__SIZE(level) - 1u)) | VMS_PTE_A | VMS_PTE_D;
}

/* The clause an entry at level l breaks, or NULL: the rules of every entry the library
 * writes, shared by the debug check and the loader. Unused entries are zero; used ones have
 * P or the no-access mark, not both; huge leaves sit only at levels 2 and 3, aligned; no
 * address bit at or above the physical-address width; leaves keep bits 54..62 clear (the
 * library never sets them); tables are exactly P|RW|US (the CPU may add A). */
VMS__PRIVATE const char *vms__entry_fault(const vms_space_t *s, uint64_t e, int l) {
    if (!vms_pte_is_used(e)) return e ? "unused_entry_zero" : NULL;
    if (l >= 4 && (e & VMS_PTE_PS)) return "no_huge_above_1g";
    if (e & VMS_PTE_ADDR_MASK & ~(s->phys_limit - 1u)) return "phys_width";
    if (vms_pte_is_leaf(e, l)) {
        uint64_t low = (e & VMS_PTE_ADDR_MASK) & (VMS__SIZE(l) - 1u);
        if (l >= 2) low &= ~VMS_PTE_PAT_HUGE;
        if (low) return "leaf_aligned";
        if (e & ((uint64_t)0x1ff << 54)) return "reserved_bits_clear";
        if ((e & VMS_PTE_P) && (e & VMS_PTE_NOACCESS)) return "noaccess_only_when_not_present";
        return NULL;
    }
    if ((e & ~VMS_PTE_ADDR_MASK & ~VMS_PTE_A) != VMS_PTE_TABLE) return "table_entry_bits";
    return NULL;
}

/* >>impl-arena */

#define VMS__ARENA_DEFAULT_SIZE ((uint64_t)1 << 30)
#define VMS__ARENA_DEFAULT_PHYS ((uint64_t)16 << 20)

VMS_API int vms_arena_init(vms_arena_t *a, const vms_arena_desc_t *desc) {
    vms_arena_desc_t d;
    uint64_t meta_bytes;
    if (!a) return VMS_ERR_ARG;
    if (desc) d = *desc;
    else VMS_MEMSET(&d, 0, sizeof d);
    if (!d.phys_base) d.phys_base = VMS__ARENA_DEFAULT_PHYS;
    if (d.phys_base & (VMS_PAGE_2M - 1)) return VMS_ERR_ALIGN;
    if (d.memory) {
        /* The caller's bytes are all there is: no default size, no rounding. */
        if (((uintptr_t)d.memory | d.size) & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
        if (d.size <= vms_arena_meta_bytes(d.size)) return VMS_ERR_SMALL;
    } else {
        if (!d.size) d.size = VMS__ARENA_DEFAULT_SIZE;
        if (d.size > VMS_PHYS_LIMIT) return VMS_ERR_PHYS;
        d.size = (d.size + VMS_PAGE_4K - 1) & ~(VMS_PAGE_4K - 1);
        if (d.size <= vms_arena_meta_bytes(d.size)) d.size += VMS_PAGE_4K;
    }
    if (d.phys_base >= VMS_PHYS_LIMIT || d.size > VMS_PHYS_LIMIT - d.phys_base) return VMS_ERR_PHYS;
    VMS_MEMSET(a, 0, sizeof *a);
    if (d.memory) {
        a->base = (uint8_t *)d.memory;
    } else {
#ifdef VMS__HAVE_MMAP
        /* Reserve with room to align to 2 MiB so the OS can back it with huge pages. Pages
         * are committed on first touch (MAP_NORESERVE), so a large reservation is cheap. */
        size_t span = (size_t)(d.size + VMS_PAGE_2M);
        void *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
#ifdef MAP_NORESERVE
                                                               | MAP_NORESERVE
#endif
                       , -1, 0);
        uintptr_t p, aligned;
        if (m == MAP_FAILED) return VMS_ERR_NOMEM;
        p = (uintptr_t)m;
        aligned = (p + VMS_PAGE_2M - 1) & ~(uintptr_t)(VMS_PAGE_2M - 1);
        if (aligned > p) munmap(m, aligned - p);
        if (aligned + d.size < p + span) {
            munmap((void *)(aligned + d.size), (size_t)(p + span - aligned - d.size));
        }
#ifdef MADV_HUGEPAGE
        madvise((void *)aligned, (size_t)d.size, MADV_HUGEPAGE);
#endif
        a->base = (uint8_t *)aligned;
        a->owns_memory = true;
#else
        return VMS_ERR_ARG; /* no OS to reserve from: pass desc->memory */
#endif
    }
    a->size = d.size;
    a->phys_base = d.phys_base;
    /* The metadata array (8 bytes per frame) sits in the first frames of the arena. */
    meta_bytes = vms_arena_meta_bytes(d.size);
    if (!a->owns_memory) VMS_MEMSET(a->base, 0, meta_bytes);
    a->bump = meta_bytes;
    return VMS_OK;
}

VMS_API void vms_arena_destroy(vms_arena_t *a) {
#ifdef VMS__HAVE_MMAP
    if (a->owns_memory && a->base) munmap(a->base, (size_t)a->size);
#endif
    VMS_MEMSET(a, 0, sizeof *a);
}

VMS__PRIVATE int vms__arena_alloc(void *user, uint64_t *pa, bool zero) {
    vms_arena_t *a = (vms_arena_t *)user;
    uint8_t *p;
    if (VMS_UNLIKELY(a->fail_after) && --a->fail_after == 0) return VMS_ERR_NOMEM;
    if (a->free_head) {
        p = a->base + (a->free_head - a->phys_base);
        *pa = a->free_head;
        VMS_MEMCPY(&a->free_head, p, 8);
        if (zero) VMS_MEMSET(p, 0, VMS_PAGE_4K);
    } else {
        if (a->size - a->bump < VMS_PAGE_4K) return VMS_ERR_NOMEM;
        p = a->base + a->bump;
        *pa = a->phys_base + a->bump;
        a->bump += VMS_PAGE_4K;
        /* Fresh memory we reserved is zero already; the caller's memory may not be. */
        if (zero && !a->owns_memory) VMS_MEMSET(p, 0, VMS_PAGE_4K);
    }
    a->frames_in_use++;
    return VMS_OK;
}

VMS__PRIVATE void vms__arena_free(void *user, uint64_t pa) {
    vms_arena_t *a = (vms_arena_t *)user;
    VMS_ASSERT(pa >= a->phys_base && pa - a->phys_base < a->bump && !(pa & (VMS_PAGE_4K - 1)));
    VMS_MEMCPY(a->base + (pa - a->phys_base), &a->free_head, 8);
    /* Its metadata slot reads as "not a table" again, as a loaded image's free frames do
     * (the test keeps a frame the assertion refused from writing far outside). */
    if (VMS_LIKELY(pa - a->phys_base < a->bump))
        VMS_MEMSET(a->base + ((pa - a->phys_base) >> 12) * sizeof(vms_table_meta_t), 0,
                   sizeof(vms_table_meta_t));
    a->free_head = pa;
    a->frames_in_use--;
}

VMS_API vms_provider_t vms_arena_provider(vms_arena_t *a) {
    vms_provider_t p;
    p.alloc_frame = vms__arena_alloc;
    p.free_frame = vms__arena_free;
    p.user = a;
    p.direct_map = (uintptr_t)a->base - (uintptr_t)a->phys_base;
    p.meta_map = (uintptr_t)a->base - (uintptr_t)((a->phys_base >> 12) * sizeof(vms_table_meta_t));
    p.direct_map_lo = a->phys_base;
    p.phys_limit = a->phys_base + a->size;
    return p;
}

/* The metadata flag of a live data frame (vms_arena_alloc_data), so that only those can be
 * given back; a loaded image marks every frame that is neither a table nor free. */
#define VMS__DATA_MARK 0x20u
#define VMS__PINNED_MARK 0x40u /* a top table of a share group: kept while the group lives */

VMS__PRIVATE vms_table_meta_t *vms__arena_meta(const vms_arena_t *a, uint64_t pa) {
    return (vms_table_meta_t *)(void *)(a->base + ((pa - a->phys_base) >> 12) *
                                                      sizeof(vms_table_meta_t));
}

VMS__PRIVATE void vms__mark_data(vms_arena_t *a, uint64_t pa, uint64_t size) {
    uint64_t off;
    for (off = 0; off < size; off += VMS_PAGE_4K)
        vms__arena_meta(a, pa + off)->flags = VMS__DATA_MARK;
}

VMS_API int vms_arena_free_data(vms_arena_t *a, uint64_t pa, uint64_t size) {
    uint64_t off;
    if (!a || !a->base) return VMS_ERR_ARG;
    if (!size) return VMS_ERR_ZEROLEN;
    if ((pa | size) & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (pa < a->phys_base || pa - a->phys_base > a->bump || size > a->bump - (pa - a->phys_base))
        return VMS_ERR_ARG;
    for (off = 0; off < size; off += VMS_PAGE_4K)
        if (vms__arena_meta(a, pa + off)->flags != VMS__DATA_MARK) return VMS_ERR_ARG;
    for (off = 0; off < size; off += VMS_PAGE_4K) {
        a->frames_in_use++; /* data frames are not counted; the free list's frames are */
        vms__arena_free(a, pa + off);
    }
    return VMS_OK;
}

VMS_API int vms_arena_alloc_data(vms_arena_t *a, uint64_t size, uint64_t align, uint64_t *pa) {
    uint64_t start;
    if (!a || !pa) return VMS_ERR_ARG;
    if (!size) return VMS_ERR_ZEROLEN;
    if (align < VMS_PAGE_4K) align = VMS_PAGE_4K;
    if ((align & (align - 1)) || (size & (VMS_PAGE_4K - 1))) return VMS_ERR_ALIGN;
    if (size == VMS_PAGE_4K && align == VMS_PAGE_4K && a->free_head) {
        /* One frame: reuse a freed one (zeroed; it leaves the frames counted as in use). */
        int err = vms__arena_alloc(a, pa, true);
        if (err) return err;
        a->frames_in_use--;
        vms__mark_data(a, *pa, size);
        return VMS_OK;
    }
    /* Align the physical address, not the offset: phys_base is only 2 MiB aligned. */
    start = ((a->phys_base + a->bump + align - 1) & ~(align - 1)) - a->phys_base;
    if (start > a->size || a->size - start < size) return VMS_ERR_NOMEM;
    /* Frames skipped by the alignment go to the free list for page tables. */
    while (a->bump < start) {
        uint64_t f = a->phys_base + a->bump;
        a->bump += VMS_PAGE_4K;
        a->frames_in_use++;
        vms__arena_free(a, f);
    }
    if (!a->owns_memory) VMS_MEMSET(a->base + start, 0, size);
    a->bump = start + size;
    *pa = a->phys_base + start;
    vms__mark_data(a, *pa, size);
    return VMS_OK;
}

VMS_API void *vms_arena_ptr(const vms_arena_t *a, uint64_t pa) {
    if (pa < a->phys_base || pa - a->phys_base >= a->size) return NULL;
    return a->base + (pa - a->phys_base);
}

/* >>impl-helpers */

/* Addresses inside the library are "linear": the sign-extension bits stripped, so the space
 * is [0, 2^bits) and the top of the high half does not wrap to 0. */
VMS__PRIVATE uint64_t vms__lin(const vms_space_t *s, uint64_t va) {
    return va & (((uint64_t)1 << vms_addr_bits(s->levels)) - 1u);
}
VMS__PRIVATE uint64_t vms__canon(const vms_space_t *s, uint64_t lin) {
    uint64_t sign = (uint64_t)1 << (vms_addr_bits(s->levels) - 1u);
    return (lin ^ sign) - sign;
}
VMS__PRIVATE uint64_t vms__top(const vms_space_t *s) {
    return (uint64_t)1 << vms_addr_bits(s->levels);
}
VMS__PRIVATE uint64_t *vms__tbl(const vms_space_t *s, uint64_t pa) {
    return (uint64_t *)(s->direct_map + (uintptr_t)pa);
}
VMS__PRIVATE uint64_t vms__pa_of(const vms_space_t *s, const uint64_t *t) {
    return (uint64_t)((uintptr_t)t - s->direct_map);
}
VMS__PRIVATE vms_table_meta_t *vms__meta(const vms_space_t *s, const uint64_t *t) {
    return (vms_table_meta_t *)(s->prov.meta_map +
                                (uintptr_t)(vms__pa_of(s, t) >> 12) * sizeof(vms_table_meta_t));
}

/* Stand-ins that plans walk through where the apply step would create a table: an empty
 * one, and one that reads as the leaves a split produces (P|PS: a leaf at any level). */
static const uint64_t vms__zero_table[VMS__ENTRIES] = {0};
#define VMS__VIRTUAL ((uint64_t *)(uintptr_t)vms__zero_table)
#define VMS__LEAF_ROW8                                                                      \
    VMS__LEAF_ENTRY, VMS__LEAF_ENTRY, VMS__LEAF_ENTRY, VMS__LEAF_ENTRY, VMS__LEAF_ENTRY,   \
        VMS__LEAF_ENTRY, VMS__LEAF_ENTRY, VMS__LEAF_ENTRY
#define VMS__LEAF_ROW64                                                                     \
    VMS__LEAF_ROW8, VMS__LEAF_ROW8, VMS__LEAF_ROW8, VMS__LEAF_ROW8, VMS__LEAF_ROW8,       \
        VMS__LEAF_ROW8, VMS__LEAF_ROW8, VMS__LEAF_ROW8
static const uint64_t vms__split_table[VMS__ENTRIES] = {
    VMS__LEAF_ROW64, VMS__LEAF_ROW64, VMS__LEAF_ROW64, VMS__LEAF_ROW64,
    VMS__LEAF_ROW64, VMS__LEAF_ROW64, VMS__LEAF_ROW64, VMS__LEAF_ROW64};
#define VMS__VIRTUAL_SPLIT ((uint64_t *)(uintptr_t)vms__split_table)

VMS_API int vms_space_check_range(const vms_space_t *s, uint64_t va, uint64_t len) {
    uint64_t last;
    if (!len) return VMS_ERR_ZEROLEN;
    if (!vms_addr_is_canonical(va, s->levels)) return VMS_ERR_NONCANON;
    if ((va | len) & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    last = va + (len - 1u);
    if (last < va) return VMS_ERR_OVERFLOW;
    if (!vms_addr_is_canonical(last, s->levels) || (last >> 63) != (va >> 63))
        return VMS_ERR_OVERFLOW;
    return VMS_OK;
}

/* A move's arguments: both ranges valid and apart. */
VMS__PRIVATE int vms__move_check(const vms_space_t *s, uint64_t old_va, uint64_t new_va,
                                 uint64_t len) {
    int err = vms_space_check_range(s, old_va, len);
    uint64_t from = vms__lin(s, old_va), to = vms__lin(s, new_va);
    if (!err) err = vms_space_check_range(s, new_va, len);
    if (!err && from < to + len && to < from + len) err = VMS_ERR_OVERLAP;
    return err;
}

/* The linear span [*lo, *hi) of the blocks a VMS_MAP_COLLAPSE map of linear [from, end)
 * collapses: every block the range touches, since filling a table's last hole is what makes
 * it uniform. */
VMS__PRIVATE void vms__collapse_span(uint64_t from, uint64_t end, uint32_t flags, uint64_t *lo,
                                     uint64_t *hi) {
    const uint64_t b = (flags & VMS_MAP_MAX_2M) ? VMS_PAGE_2M : VMS_PAGE_1G;
    *lo = from & ~(b - 1u);
    *hi = (end + b - 1u) & ~(b - 1u);
}

VMS__PRIVATE int vms__check_pa(const vms_space_t *s, uint64_t pa, uint64_t len) {
    if (pa & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (pa >= s->phys_limit || len > s->phys_limit - pa) return VMS_ERR_PHYS;
    return VMS_OK;
}


#ifdef VMSPACE_DEBUG
VMS__PRIVATE const char *vms__check_span(const vms_space_t *s, uint64_t lo, uint64_t hi);
/* Every mutating call ends by checking the tables that cover what it touched... */
#define VMS__CHECK_SPAN(s, lo, hi) VMS_ASSERT((lo) >= (hi) || !vms__check_span((s), (lo), (hi)))
/* ...or, when it wrote into one table only, that table: its entries and its child count. */
VMS__PRIVATE bool vms__check_table(const vms_space_t *s, const uint64_t *t, int l) {
    unsigned k, used = 0;
    for (k = 0; k < VMS__ENTRIES; k++) {
        if (vms__entry_fault(s, t[k], l)) return false;
        used += vms_pte_is_used(t[k]);
    }
    return used == vms__meta(s, t)->children;
}
#define VMS__CHECK_TABLE(s, t, l) VMS_ASSERT(vms__check_table((s), (t), (l)))
#else
#define VMS__CHECK_SPAN(s, lo, hi) ((void)0)
#define VMS__CHECK_TABLE(s, t, l) ((void)0)
#endif

/* >>impl-lock: the space's lock itself is vms__lock (see >>pte); the rest of its rules. */

/* Bump the generation after the stores of a change (one writer: the lock holder). */
VMS__PRIVATE void vms__generation_inc(vms_space_t *s) {
#if VMS__THREADS
    __atomic_store_n(&s->generation, s->generation + 1u, __ATOMIC_RELEASE);
#else
    s->generation++;
#endif
}

/* Whether linear [lo, hi) meets the range s shares. */
VMS__PRIVATE bool vms__in_share(const vms_space_t *s, uint64_t lo, uint64_t hi) {
    const vms_share_t *g = s->share;
    return g && lo < g->hi && g->lo < hi;
}

/* The other members of s's group, when [lo, hi) meets the shared range: their software TLBs
 * (generation) and cursors (tables_freed) must notice a change made through s. */
VMS_NOINLINE VMS__PRIVATE void vms__share_notice(vms_space_t *s, uint64_t lo, uint64_t hi,
                                                 bool tables) {
    vms_space_t *m;
    if (!vms__in_share(s, lo, hi)) return;
    for (m = s->share->members; m; m = m->share_next) {
        if (m == s) continue;
        if (tables) m->tables_freed++;
        else vms__generation_inc(m);
    }
}

/* A change in [lo, hi) removed, weakened or changed translations (called after its stores:
 * see vms__generation). */
VMS__PRIVATE void vms__generation_bump(vms_space_t *s, uint64_t lo, uint64_t hi) {
    vms__generation_inc(s);
    if (VMS_UNLIKELY(s->share != NULL)) vms__share_notice(s, lo, hi, false);
}

/* Tables of [lo, hi) were unhooked: cursors re-walk before they read their paths again. */
VMS__PRIVATE void vms__tables_unhooked(vms_space_t *s, uint64_t lo, uint64_t hi) {
    s->tables_freed++;
    if (VMS_UNLIKELY(s->share != NULL)) vms__share_notice(s, lo, hi, true);
}

/* Free tables whose grace period ended (under the lock, or with no other thread left). */
VMS__PRIVATE void vms__free_reclaimed(vms_space_t *s) {
    uint64_t pa;
#if VMS__THREADS
    if (!__atomic_load_n(&s->reclaimed, __ATOMIC_RELAXED)) return;
    pa = __atomic_exchange_n(&s->reclaimed, 0, __ATOMIC_ACQUIRE);
#else
    pa = s->reclaimed;
    s->reclaimed = 0;
#endif
    while (pa) {
        uint64_t next;
        VMS_MEMCPY(&next, vms__meta(s, vms__tbl(s, pa)), 8);
        s->prov.free_frame(s->prov.user, pa);
        pa = next;
    }
}

/* The reclaim hook's done(): a list whose grace period ended joins the space's list of
 * tables to free. Lock-free (it may run on any thread, beside a cursor). */
VMS__PRIVATE void vms__reclaim_done(void *ctx, uint64_t list) {
    vms_space_t *s = (vms_space_t *)ctx;
    uint64_t tail = list, next, head;
    for (;;) { /* the list's last table takes the old head as its link */
        VMS_MEMCPY(&next, vms__meta(s, vms__tbl(s, tail)), 8);
        if (!next) break;
        tail = next;
    }
#if VMS__THREADS
    head = __atomic_load_n(&s->reclaimed, __ATOMIC_RELAXED);
    do {
        VMS_MEMCPY(vms__meta(s, vms__tbl(s, tail)), &head, 8);
    } while (!__atomic_compare_exchange_n(&s->reclaimed, &head, list, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
#else
    head = s->reclaimed;
    VMS_MEMCPY(vms__meta(s, vms__tbl(s, tail)), &head, 8);
    s->reclaimed = list;
#endif
}

/* The lock a concurrent space's mutations take: its share group's while it has one, since
 * members change the same tables. */
VMS__PRIVATE uint32_t *vms__lockword(vms_space_t *s) {
    return s->share ? &s->share->lock : &s->lock;
}
VMS__PRIVATE void vms__space_lock(vms_space_t *s) {
    if (s->concurrent) vms__lock(vms__lockword(s));
}
VMS__PRIVATE void vms__space_unlock(vms_space_t *s) {
    if (s->concurrent) {
        vms__free_reclaimed(s);
        vms__unlock(vms__lockword(s));
    }
}

/* >>impl-walk */

/* The one whole-tree walker: every walk over tables (drop a subtree, adopt a loaded image,
 * check) is a visitor of it. Depth first, in address order, it visits the table `table` at
 * level `top` (its span taken to start at linear address 0: a root, or a subtree walked
 * whole), the entries of it in [lo, hi), and the same below every used table entry among
 * them. The visitor sees three events:
 *   VMS__WALK_ENTER  table w->tb[w->level] is reached, before any of it is read;
 *   VMS__WALK_ENTRY  its entry e at index w->ix[w->level]; a table entry is descended into
 *                    after the call;
 *   VMS__WALK_LEAVE  every entry of the table in range was visited (the table may be freed).
 * A non-zero return stops the walk, which returns it. Inlined into each caller, so the
 * visitor's calls are direct. */
typedef struct vms__walk_s {
    uint64_t *tb[VMS_MAX_LEVELS + 1];
    uint64_t base[VMS_MAX_LEVELS + 1]; /* linear address where tb[l] starts */
    unsigned ix[VMS_MAX_LEVELS + 1], last[VMS_MAX_LEVELS + 1];
    int level, top;
} vms__walk_t;

enum { VMS__WALK_ENTER, VMS__WALK_ENTRY, VMS__WALK_LEAVE };

typedef int (*vms__visit_fn)(void *user, vms__walk_t *w, int event, uint64_t e);

static VMS_ALWAYS_INLINE int vms__walk(const vms_space_t *s, uint64_t *table, int top,
                                       uint64_t lo, uint64_t hi, vms__visit_fn visit,
                                       void *user) {
    vms__walk_t w;
    int l = top, rc;
    bool enter = true;
    w.top = top;
    w.tb[l] = table;
    w.base[l] = 0;
    for (;;) {
        w.level = l;
        if (enter) {
            uint64_t span = VMS__SIZE(l + 1), b = w.base[l];
            rc = visit(user, &w, VMS__WALK_ENTER, 0);
            if (rc) return rc;
            w.ix[l] = lo > b ? vms_addr_index(lo, l) : 0;
            w.last[l] = hi - b < span ? vms_addr_index(hi - 1u, l) : 511;
            enter = false;
        }
        if (w.ix[l] > w.last[l]) {
            rc = visit(user, &w, VMS__WALK_LEAVE, 0);
            if (rc) return rc;
            if (l == top) return 0;
            l++;
            w.ix[l]++;
            continue;
        }
        {
            uint64_t e = w.tb[l][w.ix[l]];
            rc = visit(user, &w, VMS__WALK_ENTRY, e);
            if (rc) return rc;
            if (vms_pte_is_used(e) && !vms_pte_is_leaf(e, l)) {
                w.tb[l - 1] = vms__tbl(s, vms_pte_table_pa(e));
                w.base[l - 1] = w.base[l] + (uint64_t)w.ix[l] * VMS__SIZE(l);
                l--;
                enter = true;
                continue;
            }
        }
        w.ix[l]++;
    }
}

/* >>impl-flush */

VMS__PRIVATE void vms__batch_reset(vms_flush_batch_t *b) {
    b->npages = 0;
    b->nranges = 0;
    b->all = false;
    b->global = false;
    b->deferred_head = 0;
}

/* Record that [lin, lin + len) lost or changed translations. */
VMS__PRIVATE void vms__flush_record(vms_cursor_t *c, uint64_t lin, uint64_t len, bool global) {
    vms_flush_batch_t *b = &c->batch;
    uint64_t pages = len >> 12, va = vms__canon(c->space, lin);
    if (global) b->global = true;
    if (b->all) return;
    if (pages > c->space->flush_threshold || b->npages + pages > c->space->flush_threshold) {
        b->all = true;
        b->npages = c->space->flush_threshold == UINT32_MAX ? UINT32_MAX
                                                            : c->space->flush_threshold + 1u;
        return;
    }
    b->npages += (uint32_t)pages;
    if (b->nranges && b->ranges[b->nranges - 1].va + b->ranges[b->nranges - 1].len == va) {
        b->ranges[b->nranges - 1].len += len;
    } else if (b->nranges < sizeof b->ranges / sizeof b->ranges[0]) {
        b->ranges[b->nranges].va = va;
        b->ranges[b->nranges].len = len;
        b->nranges++;
    } else {
        b->all = true;
    }
}

/* Free a table page after the flush that covers it has been dispatched (and, in a
 * concurrent space, after the grace period). Linked through its metadata slot, since a
 * reader may still read every entry of the table until then. */
VMS__PRIVATE void vms__grace_done(void *ctx, uint64_t list) {
    (void)ctx;
    (void)list;
}

/* The frames hook hears of the removed runs; the flush was dispatched already. In a
 * concurrent space readers may still copy from them: wait out a grace period first. */
VMS__PRIVATE void vms__frames_hand_back(vms_cursor_t *c) {
    vms_space_t *s = c->space;
    uint32_t i, n = c->ngone;
    c->ngone = 0;
    if (s->concurrent && s->reclaim.retire) {
        s->reclaim.retire(s->reclaim.user, vms__grace_done, s, 0);
        s->reclaim.barrier(s->reclaim.user);
    }
    for (i = 0; i < n; i++) s->frames(s->hook_user, c->gone[i].pa, c->gone[i].len);
}

/* The leaf e at level l left the space (its entry is clear already): remember its frame for
 * the frames hook. Runs that continue the last one join it. A full list is handed back at
 * once, after a flush of everything (as Linux's mmu_gather flushes when its batch fills):
 * the flush of the leaves removed last may not be recorded yet. */
VMS__PRIVATE void vms__frame_gone(vms_cursor_t *c, uint64_t e, int l) {
    uint64_t pa = vms_pte_leaf_pa(e, l), len = VMS__SIZE(l);
    uint32_t n = c->ngone;
    if (!c->space->frames) return;
    if (n && c->gone[n - 1].pa + c->gone[n - 1].len == pa) {
        c->gone[n - 1].len += len;
        return;
    }
    if (n == sizeof c->gone / sizeof c->gone[0]) {
        c->batch.all = c->batch.global = true;
        vms_cursor_flush(c);
        n = 0;
    }
    c->gone[n].pa = pa;
    c->gone[n].len = len;
    c->ngone = n + 1;
}

/* Free table t, which held linear address lin, once the flush is dispatched. */
VMS__PRIVATE void vms__defer_free(vms_cursor_t *c, uint64_t *t, uint64_t lin) {
    VMS_MEMCPY(vms__meta(c->space, t), &c->batch.deferred_head, 8);
    c->batch.deferred_head = vms__pa_of(c->space, t);
    vms__counts(c->space, lin)->table_pages--;
    /* Other cursors re-walk; this one keeps its path right itself. */
    vms__tables_unhooked(c->space, lin, lin + 1u);
    c->tables_seen++;
}

/* Whether the batch may cover part of the range s shares (a flush of everything does). */
VMS__PRIVATE bool vms__batch_in_share(const vms_space_t *s, const vms_flush_batch_t *b) {
    uint32_t i;
    if (b->all) return true;
    for (i = 0; i < b->nranges; i++)
        if (vms__in_share(s, vms__lin(s, b->ranges[i].va),
                          vms__lin(s, b->ranges[i].va) + b->ranges[i].len))
            return true;
    return false;
}

/* Send a flush to a space's CPUs; those where it is not active keep stale PCID entries. */
VMS__PRIVATE void vms__flush_send(vms_space_t *s, const vms_flush_batch_t *b) {
    if (s->active_cpus && s->flush) s->flush(s->hook_user, b, s->active_cpus);
    s->pcid_stale |= ~s->active_cpus;
}

VMS_API void vms_cursor_flush(vms_cursor_t *c) {
    vms_space_t *s = c->space;
    vms_flush_batch_t *b = &c->batch;
    if (b->npages || b->all) {
        vms__flush_send(s, b);
        if (VMS_UNLIKELY(s->share != NULL) && vms__batch_in_share(s, b)) {
            vms_space_t *m; /* the other members run on the same tables */
            for (m = s->share->members; m; m = m->share_next)
                if (m != s) vms__flush_send(m, b);
        }
    }
    if (b->deferred_head && s->reclaim.retire) {
        s->reclaim.retire(s->reclaim.user, vms__reclaim_done, s, b->deferred_head);
        b->deferred_head = 0;
    }
    while (b->deferred_head) {
        uint64_t pa = b->deferred_head;
        VMS_MEMCPY(&b->deferred_head, vms__meta(s, vms__tbl(s, pa)), 8);
        s->prov.free_frame(s->prov.user, pa);
    }
    vms__batch_reset(b);
    if (c->ngone) vms__frames_hand_back(c);
}

VMS_API void vms_cursor_close(vms_cursor_t *c) {
    vms_cursor_flush(c);
    if (c->locked) {
        c->locked = false;
        vms__space_unlock(c->space);
    }
}

/* >>impl-reserve */

/* Frames taken before an operation changes anything, so that running out of memory leaves
 * the tables as they were. Two lists: frames that must read as zero, and frames the
 * operation overwrites entirely. Linked through their first word. */
typedef struct vms__reserve_s {
    uint64_t zero_head, raw_head;
} vms__reserve_t;

VMS__PRIVATE void vms__reserve_release(vms_space_t *s, vms__reserve_t *r) {
    uint64_t *head[2];
    int k;
    head[0] = &r->zero_head;
    head[1] = &r->raw_head;
    for (k = 0; k < 2; k++) {
        while (*head[k]) {
            uint64_t pa = *head[k];
            VMS_MEMCPY(head[k], vms__tbl(s, pa), 8);
            s->prov.free_frame(s->prov.user, pa);
        }
    }
}

VMS__PRIVATE int vms__reserve(vms_space_t *s, vms__reserve_t *r, uint64_t nzero, uint64_t nraw) {
    uint64_t pa, i;
    r->zero_head = r->raw_head = 0;
    for (i = 0; i < nzero + nraw; i++) {
        bool zero = i < nzero;
        uint64_t *head = zero ? &r->zero_head : &r->raw_head;
        if (s->prov.alloc_frame(s->prov.user, &pa, zero) != VMS_OK) {
            vms__reserve_release(s, r);
            return VMS_ERR_NOMEM;
        }
        VMS_MEMCPY(vms__tbl(s, pa), head, 8);
        *head = pa;
    }
    return VMS_OK;
}

/* Take a reserved frame and make it a table at `level`. */
VMS__PRIVATE uint64_t *vms__new_table(vms_space_t *s, vms__reserve_t *r, int level, bool zero,
                                       uint64_t lin) {
    uint64_t *head = zero ? &r->zero_head : &r->raw_head;
    uint64_t pa;
    uint64_t *t;
    vms_table_meta_t *m;
    VMS_ASSERT(*head != 0); /* the plan counted exactly what the apply step takes */
    pa = *head;
    t = vms__tbl(s, pa);
    VMS_MEMCPY(head, t, 8);
    t[0] = 0; /* the list link */
    m = vms__meta(s, t);
    m->children = 0;
    m->level = (uint8_t)level;
    m->flags = 0;
    m->lock = 0;
    vms__counts(s, lin)->table_pages++;
    return t;
}

/* >>impl-cursor */

/* The one descent through existing tables toward lin's entry at level `target`: from table
 * *t at level *l, stopping early at an unused entry or a leaf. Each table it enters goes in
 * path[level] (path may be NULL). Returns the entry where it stopped; *l and *t say where. */
VMS__PRIVATE VMS_ALWAYS_INLINE uint64_t vms__descend_at(const vms_space_t *s, uint64_t lin,
                                                         int target, int *l, uint64_t **t,
                                                         uint64_t **path) {
    const uintptr_t dm = s->direct_map; /* in registers: the path's stores alias memory */
    int lv = *l;
    uint64_t *tb = *t, e;
    for (;;) {
        e = vms__pte_get(&tb[vms_addr_index(lin, lv)]);
        if (lv <= target || !vms_pte_is_used(e) || vms_pte_is_leaf(e, lv)) break;
        tb = (uint64_t *)(dm + (uintptr_t)vms_pte_table_pa(e));
        lv--;
        if (path) path[lv] = tb;
    }
    *l = lv;
    *t = tb;
    return e;
}

/* Move the cursor to lin address nva, dropping the tables of its path that do not cover it. */
VMS__PRIVATE void vms__move(vms_cursor_t *c, uint64_t nva) {
    int l = c->level, top = c->space->levels;
    while (l < top && (c->va >> VMS__SHIFT(l + 1)) != (nva >> VMS__SHIFT(l + 1))) l++;
    c->level = l;
    c->va = nva;
}

VMS__PRIVATE void vms__cursor_init_lin(vms_cursor_t *c, vms_space_t *s, uint64_t start,
                                       uint64_t end) {
    /* Only what is read: path[] below c->level and the batch's ranges past nranges are
     * written before they are read (a whole-struct clear would cost more than the map). */
    c->space = s;
    c->va = c->start = start;
    c->end = end;
    c->level = s->levels;
    c->path[s->levels] = vms__tbl(s, s->root_pa);
    c->tables_seen = s->tables_freed;
    c->locked = false;
    c->ngone = 0;
    vms__batch_reset(&c->batch);
}

/* vms__cursor_init_lin for a cursor that mutates: in a concurrent space it takes the lock
 * (waiting, or failing with VMS_ERR_BUSY if `try`), released by vms_cursor_close. */
VMS__PRIVATE int vms__cursor_begin(vms_cursor_t *c, vms_space_t *s, uint64_t start,
                                   uint64_t end, bool try_only) {
    if (s->concurrent) {
        if (!try_only) vms__lock(vms__lockword(s));
        else if (!vms__trylock(vms__lockword(s))) return VMS_ERR_BUSY;
    }
    vms__cursor_init_lin(c, s, start, end);
    c->locked = s->concurrent;
    return VMS_OK;
}

/* Another operation unhooked tables since this cursor last looked, so its path may hold
 * freed ones: drop the path to the root. Every call that reads the path starts here. */
VMS__PRIVATE void vms__cursor_sync(vms_cursor_t *c) {
    if (VMS_UNLIKELY(c->tables_seen != c->space->tables_freed)) {
        c->level = c->space->levels;
        c->tables_seen = c->space->tables_freed;
    }
}

/* Descend from the cursor's lowest table through existing tables as far as `target`.
 * Returns the entry for va at the level reached (c->level); 0 if unused there. */
VMS__PRIVATE uint64_t vms__descend(vms_cursor_t *c, int target) {
    int l = c->level;
    uint64_t *t = c->path[l];
    uint64_t e = vms__descend_at(c->space, c->va, target, &l, &t, c->path);
    c->level = l;
    return e;
}

VMS__PRIVATE int vms__cursor_open(vms_cursor_t *c, vms_space_t *s, uint64_t va, uint64_t len,
                                  bool try_only) {
    int err = vms_space_check_range(s, va, len);
    if (err) return err;
    err = vms__cursor_begin(c, s, vms__lin(s, va), vms__lin(s, va) + len, try_only);
    if (err) return err;
    /* A cursor over one small page (a fault handler's open, map, close) goes down the
     * existing tables now, so that vms_cursor_map takes its inline case. */
    if (len == VMS_PAGE_4K) (void)vms__descend(c, 1);
    return VMS_OK;
}

VMS_API int vms_cursor_open(vms_cursor_t *c, vms_space_t *s, uint64_t va, uint64_t len) {
    return vms__cursor_open(c, s, va, len, false);
}

VMS_API int vms_cursor_try_open(vms_cursor_t *c, vms_space_t *s, uint64_t va, uint64_t len) {
    return vms__cursor_open(c, s, va, len, true);
}

VMS_API int vms_cursor_jump(vms_cursor_t *c, uint64_t va) {
    uint64_t lin;
    if (va & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (!vms_addr_is_canonical(va, c->space->levels)) return VMS_ERR_RANGE;
    lin = vms__lin(c->space, va);
    if (lin < c->start || lin >= c->end) return VMS_ERR_RANGE;
    vms__move(c, lin);
    return VMS_OK;
}

VMS__PRIVATE void vms__fill_mapping(const vms_space_t *s, uint64_t lin, uint64_t e, int l,
                                    vms_mapping_t *out) {
    out->va = vms__canon(s, lin & ~(VMS__SIZE(l) - 1u));
    out->size = VMS__SIZE(l);
    out->pa = vms_pte_leaf_pa(e, l);
    out->prop = vms_pte_prop(e, l);
}

VMS_API int vms_cursor_query(vms_cursor_t *c, vms_mapping_t *out) {
    uint64_t e;
    int l;
    if (c->va >= c->end) return VMS_ERR_RANGE;
    vms__cursor_sync(c);
    e = vms__descend(c, 1);
    l = c->level;
    if (vms_pte_is_used(e)) {
        vms__fill_mapping(c->space, c->va, e, l, out);
        return VMS_OK;
    }
    out->va = vms__canon(c->space, c->va & ~(VMS__SIZE(l) - 1u));
    out->size = VMS__SIZE(l);
    out->pa = 0;
    out->prop = 0;
    return VMS_ERR_NOENT;
}

/* Find the first used leaf at or after c->va, below limit. */
VMS__PRIVATE int vms__find(vms_cursor_t *c, uint64_t limit) {
    while (c->va < limit) {
        uint64_t e = vms__descend(c, 1);
        int l = c->level;
        uint64_t next;
        if (vms_pte_is_used(e)) return VMS_OK;
        next = (c->va & ~(VMS__SIZE(l) - 1u)) + VMS__SIZE(l);
        vms__move(c, next < limit ? next : limit);
    }
    return VMS_ERR_NOENT;
}

VMS_API int vms_cursor_find_next(vms_cursor_t *c, uint64_t len, uint64_t *found) {
    int err;
    if (!len) return VMS_ERR_ZEROLEN;
    if (len & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || len > c->end - c->va) return VMS_ERR_RANGE;
    vms__cursor_sync(c);
    err = vms__find(c, c->va + len);
    if (!err && found) *found = vms_cursor_addr(c);
    return err;
}

VMS_API bool vms_cursor_next(vms_cursor_t *c, vms_mapping_t *out) {
    uint64_t e, next;
    int l;
    vms__cursor_sync(c);
    if (vms__find(c, c->end) != VMS_OK) return false;
    e = c->path[c->level][vms_addr_index(c->va, c->level)];
    l = c->level;
    vms__fill_mapping(c->space, c->va, e, l, out);
    next = (c->va & ~(VMS__SIZE(l) - 1u)) + VMS__SIZE(l);
    vms__move(c, next < c->end ? next : c->end);
    return true;
}

/* >>impl-map */

/* Store e in a live slot and return what it held: an exchange in a concurrent space, so the
 * accessed and dirty bits a CPU set up to that moment come back with it. */
VMS__PRIVATE uint64_t vms__leaf_swap(const vms_space_t *s, uint64_t *p, uint64_t e) {
    uint64_t old;
    if (s->concurrent) return vms__pte_xchg(p, e);
    old = *p;
    *p = e;
    return old;
}

/* Rewrite the live leaf *p, read as old, to its `kept` bits plus `bits`. In a concurrent space
 * a CPU may set A or D between the read and the write: compare-and-swap until none did. */
VMS__PRIVATE void vms__leaf_rewrite(const vms_space_t *s, uint64_t *p, uint64_t old,
                                    uint64_t kept, uint64_t bits) {
    if (!s->concurrent) {
        *p = (old & kept) | bits;
        return;
    }
    while (!vms__pte_cas(p, &old, (old & kept) | bits)) {
    }
}

/* Store n entries e, e + step, e + 2 * step, ... A plain k * step loop stays scalar (the
 * multiply defeats the vectoriser), which made it twice the bare store of precomputed
 * entries; four running vectors of two entries each store at the bare rate. */
#if defined(__GNUC__) || defined(__clang__)
typedef uint64_t vms__v2 __attribute__((vector_size(16), aligned(8), may_alias));
#endif
VMS__PRIVATE void vms__store_run(uint64_t *t, uint64_t e, uint64_t step, uint64_t n,
                                 bool shared) {
    uint64_t k = 0;
#if defined(__GNUC__) || defined(__clang__)
    uint64_t m = n & ~(uint64_t)7;
    if (VMS__THREADS && shared) { /* readers may be walking t: one atomic store per entry */
        for (k = 0; k < n; k++, e += step) vms__pte_set(&t[k], e);
        return;
    }
    if (m) {
        vms__v2 a = {e, e + step}, inc = {2 * step, 2 * step};
        vms__v2 b = a + inc, c = b + inc, d = c + inc;
        inc = inc + inc + inc + inc;
        for (; k < m; k += 8) {
            *(vms__v2 *)(void *)(t + k) = a;
            *(vms__v2 *)(void *)(t + k + 2) = b;
            *(vms__v2 *)(void *)(t + k + 4) = c;
            *(vms__v2 *)(void *)(t + k + 6) = d;
            a += inc, b += inc, c += inc, d += inc;
        }
        e = a[0];
    }
    t += m, n -= m; /* counting the tail from 0 keeps gcc's loop-bound analysis quiet */
#endif
    for (k = 0; k < n; k++, e += step) t[k] = e;
}

/* Split the huge leaf t[i] at level l into a table of 512 leaves one level down that
 * translate exactly as it did. */
VMS__PRIVATE void vms__split(vms_cursor_t *c, vms__reserve_t *r, int l, uint64_t *t, unsigned i) {
    vms_space_t *s = c->space;
    uint64_t e = t[i], base = vms_pte_leaf_pa(e, l), sz = VMS__SIZE(l - 1);
    uint64_t *child = vms__new_table(s, r, l - 1, false, c->va);
    uint64_t te = vms_pte_table_entry(vms__pa_of(s, child));
    vms_stats_t *n = vms__counts(s, c->va);
    vms__meta(s, child)->children = VMS__ENTRIES;
    for (;;) { /* the new table is filled before it is published */
        uint64_t ce = vms_pte_encode(0, vms_pte_prop(e, l), l - 1);
        vms__store_run(child, ce | base, sz, VMS__ENTRIES, false);
        if (!s->concurrent) {
            t[i] = te;
            break;
        }
        if (vms__pte_cas(&t[i], &e, te)) break; /* else a CPU set A or D: copy them too */
    }
    n->mapped_bytes[l - 1] -= VMS__SIZE(l);
    n->mapped_bytes[l - 2] += VMS__SIZE(l);
    /* The CPU may hold the huge translation; Intel asks for an invalidation on a split. One
     * invlpg anywhere in a large page drops its whole entry, so one page is recorded. */
    vms__flush_record(c, c->va & ~(VMS__SIZE(l) - 1u), VMS_PAGE_4K, vms_pte_global(e));
}

/* Remove the subtree under table t at level l (its leaves and tables) after a replace, or
 * the whole tree on destroy: each leaf leaves the counters, each table is freed once its
 * entries are done (deferred to the cursor's flush when `defer` is given). */
typedef struct vms__drop_s {
    vms_space_t *s;
    vms_cursor_t *defer;
    uint64_t lin; /* where the subtree starts */
} vms__drop_t;

VMS__PRIVATE int vms__drop_visit(void *user, vms__walk_t *w, int event, uint64_t e) {
    vms__drop_t *d = (vms__drop_t *)user;
    vms_space_t *s = d->s;
    int l = w->level;
    if (event == VMS__WALK_ENTRY) {
        if (vms_pte_is_used(e) && vms_pte_is_leaf(e, l)) {
            vms__counts(s, d->lin + w->base[l])->mapped_bytes[l - 1] -= VMS__SIZE(l);
            if (d->defer) vms__frame_gone(d->defer, e, l);
        }
    } else if (event == VMS__WALK_LEAVE) {
        if (d->defer) {
            vms__defer_free(d->defer, w->tb[l], d->lin + w->base[l]);
        } else {
            vms__counts(s, d->lin + w->base[l])->table_pages--;
            vms__tables_unhooked(s, d->lin + w->base[l], d->lin + w->base[l] + 1u);
            s->prov.free_frame(s->prov.user, vms__pa_of(s, w->tb[l]));
        }
    }
    return 0;
}

VMS__PRIVATE void vms__drop_subtree(vms_space_t *s, uint64_t *t, int top, uint64_t lin,
                                    vms_cursor_t *defer) {
    vms__drop_t d;
    d.s = s;
    d.defer = defer;
    d.lin = lin;
    (void)vms__walk(s, t, top, 0, UINT64_MAX, vms__drop_visit, &d);
}

/* The largest leaf level, at most maxlvl, that va and pa are aligned to and that fits in
 * len bytes. */
VMS__PRIVATE int vms__fit_level(uint64_t va, uint64_t pa, uint64_t len, int maxlvl) {
    int L = maxlvl;
    while (L > 1 && (((va | pa) & (VMS__SIZE(L) - 1u)) || len < VMS__SIZE(L))) L--;
    return L;
}

/* The entry bits of prop at level L (no address), from the space's one-entry cache. */
VMS__PRIVATE uint64_t vms__prop_bits(vms_space_t *s, vms_prop_t prop, int L) {
    uint64_t key = (uint64_t)prop << 8 | (uint64_t)L;
    if (VMS_LIKELY(s->enc_key == key)) return s->enc_bits;
    s->enc_key = key;
    s->enc_bits = vms_pte_encode(0, prop, L);
    return s->enc_bits;
}

/* Slots from index i of a level-L table that a run from va to end covers. */
VMS__PRIVATE uint64_t vms__run_slots(uint64_t va, uint64_t end, int L, unsigned i) {
    uint64_t n = VMS__ENTRIES - i, left = (end - va) >> VMS__SHIFT(L);
    return left < n ? left : n;
}

/* A map, planned: what mapping [va, end) to pa will do, found without changing anything.
 * It is a value (a locking cursor can hold it between planning and applying): the request,
 * and the table frames the apply step takes, zeroed ones and ones it overwrites whole. */
typedef struct vms__map_plan_s {
    uint64_t va, end, pa;
    vms_prop_t prop;
    int maxlvl;
    bool replace;
    bool shared; /* concurrent space: a new table is published before it is filled, so it
                  * must read as zeros from the start */
    uint64_t need[2];
} vms__map_plan_t;

/* A table the run from va will fill completely need not be zeroed first. Not with replace:
 * its loop reads every old slot, so the frame must hold no stale entries. */
VMS__PRIVATE bool vms__fills_table(const vms__map_plan_t *p, uint64_t va, int L) {
    return !p->replace && !p->shared && !(va & (VMS__SIZE(L + 1) - 1u)) &&
           p->end - va >= VMS__SIZE(L + 1);
}

/* Plan a map of the cursor's range [c->va, c->va + len). It walks a copy of the cursor's path
 * (stand-in tables where the apply step would create or split one) and reports VMS_ERR_EXIST
 * where a slot is taken and replace is off. The cursor is untouched. */
VMS__PRIVATE int vms__map_plan(const vms_cursor_t *c, uint64_t pa, uint64_t len, vms_prop_t prop,
                               int maxlvl, bool replace, vms__map_plan_t *p) {
    vms_cursor_t w; /* only its walk: space, va, level, path */
    int l;
    p->va = c->va;
    p->end = c->va + len;
    p->pa = pa;
    p->prop = prop;
    p->maxlvl = maxlvl;
    p->replace = replace;
    p->shared = c->space->concurrent;
    p->need[0] = p->need[1] = 0;
    w.space = c->space;
    w.va = c->va;
    w.level = c->level;
    for (l = c->level; l <= c->space->levels; l++) w.path[l] = c->path[l];
    while (w.va < p->end) {
        uint64_t va = w.va, n, k;
        uint64_t *t;
        unsigned i;
        int L = vms__fit_level(va, pa, p->end - va, maxlvl);
        while (w.level > L) {
            uint64_t e;
            l = w.level;
            e = w.path[l][vms_addr_index(va, l)];
            if (vms_pte_is_used(e) && !vms_pte_is_leaf(e, l)) {
                w.path[l - 1] = vms__tbl(w.space, vms_pte_table_pa(e));
            } else if (vms_pte_is_used(e)) {
                if (!replace) return VMS_ERR_EXIST;
                p->need[1]++; /* a split: every slot of the new table is written */
                w.path[l - 1] = VMS__VIRTUAL_SPLIT;
            } else {
                p->need[l - 1 == L && vms__fills_table(p, va, L) ? 1 : 0]++;
                w.path[l - 1] = VMS__VIRTUAL;
            }
            w.level = l - 1;
        }
        t = w.path[L];
        i = vms_addr_index(va, L);
        n = vms__run_slots(va, p->end, L, i);
        if (t != VMS__VIRTUAL && t != VMS__VIRTUAL_SPLIT && !replace)
            for (k = 0; k < n; k++)
                if (vms_pte_is_used(t[i + k])) return VMS_ERR_EXIST;
        pa += n * VMS__SIZE(L);
        vms__move(&w, va + n * VMS__SIZE(L));
    }
    return VMS_OK;
}

/* Apply a plan from the cursor's position (p->va), taking the frames it counted from r. */
VMS__PRIVATE void vms__map_apply(vms_cursor_t *c, const vms__map_plan_t *p, vms__reserve_t *r) {
    vms_space_t *s = c->space;
    uint64_t pa = p->pa;
    VMS_ASSERT(c->va == p->va);
    while (c->va < p->end) {
        uint64_t va = c->va, sz, n, k, e0;
        uint64_t *t;
        unsigned i;
        int L = vms__fit_level(va, pa, p->end - va, p->maxlvl);
        while (c->level > L) {
            int l = c->level;
            uint64_t *pt = c->path[l];
            unsigned pi = vms_addr_index(va, l);
            uint64_t e = pt[pi];
            if (vms_pte_is_used(e) && !vms_pte_is_leaf(e, l)) {
                c->path[l - 1] = vms__tbl(s, vms_pte_table_pa(e));
            } else if (vms_pte_is_used(e)) {
                vms__split(c, r, l, pt, pi);
                c->path[l - 1] = vms__tbl(s, vms_pte_table_pa(pt[pi]));
            } else {
                bool full = l - 1 == L && vms__fills_table(p, va, L);
                uint64_t *child = vms__new_table(s, r, l - 1, !full, va);
                vms__pte_set(&pt[pi], vms_pte_table_entry(vms__pa_of(s, child)));
                vms__meta(s, pt)->children++;
                c->path[l - 1] = child;
            }
            c->level = l - 1;
        }
        t = c->path[L];
        i = vms_addr_index(va, L);
        sz = VMS__SIZE(L);
        n = vms__run_slots(va, p->end, L, i);
        e0 = vms__prop_bits(s, p->prop, L);
        if (!p->replace) {
            /* The plan proved every slot empty: this loop is the whole cost. */
            vms__store_run(t + i, e0 | pa, sz, n, s->concurrent);
            vms__meta(s, t)->children = (uint16_t)(vms__meta(s, t)->children + n);
        } else {
            unsigned added = 0;
            bool changed = false;
            for (k = 0; k < n; k++) {
                uint64_t old = vms__leaf_swap(s, &t[i + k], e0 | (pa + k * sz));
                if (!vms_pte_is_used(old)) {
                    added++;
                } else if (vms_pte_is_leaf(old, L)) {
                    changed = true;
                    vms__counts(s, va)->mapped_bytes[L - 1] -= sz;
                    vms__flush_record(c, va + k * sz, sz, vms_pte_global(old));
                    vms__frame_gone(c, old, L);
                } else {
                    changed = true;
                    vms__flush_record(c, va + k * sz, sz, true);
                    vms__drop_subtree(s, vms__tbl(s, vms_pte_table_pa(old)), L - 1,
                                      va + k * sz, c);
                }
            }
            if (changed) vms__generation_bump(s, va, va + n * sz); /* after the stores */
            vms__meta(s, t)->children = (uint16_t)(vms__meta(s, t)->children + added);
        }
        vms__counts(s, va)->mapped_bytes[L - 1] += n * sz;
        pa += n * sz;
        vms__move(c, va + n * sz);
    }
}

VMS__PRIVATE int vms__max_level(uint32_t flags) {
    return (flags & VMS_MAP_MAX_4K) ? 1 : (flags & VMS_MAP_MAX_2M) ? 2 : 3;
}

/* Map [c->va, c->va + len): plan, reserve what the plan needs (nothing, often), apply. */
VMS__PRIVATE int vms__map(vms_cursor_t *c, uint64_t pa, uint64_t len, vms_prop_t prop, int maxlvl,
                          bool replace) {
    vms__map_plan_t p;
    vms__reserve_t r;
    int err = vms__map_plan(c, pa, len, prop, maxlvl, replace, &p);
    if (err) return err;
    r.zero_head = r.raw_head = 0;
    if (p.need[0] || p.need[1]) {
        err = vms__reserve(c->space, &r, p.need[0], p.need[1]);
        if (err) return err;
    }
    vms__map_apply(c, &p, &r);
    VMS_ASSERT(!r.zero_head && !r.raw_head); /* the plan counted exactly what it took */
    return VMS_OK;
}

VMS__PRIVATE int vms__check_map_args(const vms_space_t *s, uint64_t pa, uint64_t len,
                                     vms_prop_t prop, uint32_t flags) {
    int err = vms__check_pa(s, pa, len);
    if (err) return err;
    if (flags & ~VMS_MAP_FLAGS_MASK) return VMS_ERR_FLAGS;
    if ((flags & VMS_MAP_COLLAPSE) && (flags & VMS_MAP_MAX_4K)) return VMS_ERR_FLAGS;
    return vms_prop_check(prop);
}

VMS_API int vms_space_check_map(const vms_space_t *s, uint64_t va, uint64_t pa, uint64_t len,
                                vms_prop_t prop, uint32_t flags) {
    int err = vms_space_check_range(s, va, len);
    return err ? err : vms__check_map_args(s, pa, len, prop, flags);
}

/* A new leaf for pa with prop in the empty slot for lin of t, a table at level L. */
VMS__PRIVATE VMS_ALWAYS_INLINE void vms__put_leaf(vms_space_t *s, uint64_t *t, uint64_t lin,
                                                  int L, uint64_t pa, vms_prop_t prop) {
    vms__pte_set(&t[vms_addr_index(lin, L)], pa | vms__prop_bits(s, prop, L));
    vms__meta(s, t)->children++;
    vms__counts(s, lin)->mapped_bytes[L - 1] += VMS__SIZE(L);
    VMS__CHECK_TABLE(s, t, L);
}

/* One leaf at level L where its table is on the path (or reachable without allocating) and
 * the slot is empty: a store, nothing to plan. */
VMS__PRIVATE VMS_ALWAYS_INLINE bool vms__map_leaf_fast(vms_cursor_t *c, uint64_t pa, int L,
                                                    vms_prop_t prop) {
    uint64_t e = vms__descend(c, L);
    if (c->level != L || vms_pte_is_used(e)) return false;
    vms__put_leaf(c->space, c->path[L], c->va, L, pa, prop);
    vms__move(c, c->va + VMS__SIZE(L));
    return true;
}

VMS__PRIVATE void vms__collapse_after_map(vms_cursor_t *c, uint64_t from, uint32_t flags);

VMS_API int vms_cursor_map_range(vms_cursor_t *c, uint64_t pa, uint64_t len, vms_prop_t prop,
                                 uint32_t flags) {
    int err, L = vms__max_level(flags);
    if (!len) return VMS_ERR_ZEROLEN;
    if (len & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || len > c->end - c->va) return VMS_ERR_RANGE;
    err = vms__check_map_args(c->space, pa, len, prop, flags);
    if (err) return err;
    vms__cursor_sync(c);
    /* A range that is one page of the largest size it allows (a fault handler's map). */
    L = vms__fit_level(c->va, pa, len, L);
    if (len == VMS__SIZE(L) && vms__map_leaf_fast(c, pa, L, prop)) {
        err = VMS_OK;
    } else {
        err = vms__map(c, pa, len, prop, vms__max_level(flags), (flags & VMS_MAP_REPLACE) != 0);
        VMS__CHECK_SPAN(c->space, c->va - (err ? 0 : len), c->va + (err ? len : 0));
    }
    if (!err && (flags & VMS_MAP_COLLAPSE)) vms__collapse_after_map(c, c->va - len, flags);
    return err;
}

VMS_API int vms__cursor_map_slow(vms_cursor_t *c, uint64_t pa, uint64_t size, vms_prop_t prop,
                                 uint32_t flags) {
    int L = vms_page_level(size), err;
    if (!L) return VMS_ERR_PAGESIZE;
    if ((c->va | pa) & (size - 1u)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || size > c->end - c->va) return VMS_ERR_RANGE;
    err = vms__check_map_args(c->space, pa, size, prop, flags);
    if (err) return err;
    /* Fast path: the table is on the path and the slot is empty. */
    vms__cursor_sync(c);
    if (vms__map_leaf_fast(c, pa, L, prop)) {
        err = VMS_OK;
    } else {
        err = vms__map(c, pa, size, prop, L, (flags & VMS_MAP_REPLACE) != 0);
        VMS__CHECK_SPAN(c->space, c->va - (err ? 0 : size), c->va + (err ? size : 0));
    }
    if (!err && (flags & VMS_MAP_COLLAPSE)) vms__collapse_after_map(c, c->va - size, flags);
    return err;
}

/* >>impl-unmap-protect */

/* The huge leaf that lin falls inside of, not on its start: its level (2 or 3; 0 if none) and
 * its base in *base. */
VMS__PRIVATE int vms__huge_around(const vms_space_t *s, uint64_t lin, uint64_t *base) {
    const uint64_t *t = vms__tbl(s, s->root_pa);
    int l = s->levels;
    if (lin >= vms__top(s)) return 0;
    for (;;) {
        uint64_t e = t[vms_addr_index(lin, l)];
        if (!vms_pte_is_used(e)) return 0;
        if (vms_pte_is_leaf(e, l)) {
            if (l == 1 || !(lin & (VMS__SIZE(l) - 1u))) return 0;
            *base = lin & ~(VMS__SIZE(l) - 1u);
            return l;
        }
        t = vms__tbl(s, vms_pte_table_pa(e));
        l--;
    }
}

/* Exactly the splits an unmap or protect of [start, end) makes: one per level that a huge
 * page at either edge sticks out of, counted once when both edges cut the same page. */
VMS__PRIVATE uint64_t vms__edge_splits(const vms_space_t *s, uint64_t start, uint64_t end) {
    uint64_t bs = 0, be = 0, need = 0;
    int ls = vms__huge_around(s, start, &bs), le = vms__huge_around(s, end, &be);
    bool s2 = (start & (VMS_PAGE_2M - 1u)) != 0, e2 = (end & (VMS_PAGE_2M - 1u)) != 0;
    if (ls) need += (ls == 3 && s2) ? 2u : 1u;
    if (le) need += (le == 3 && e2) ? 2u : 1u;
    if (ls && ls == le && bs == be) {
        need--; /* one split of the shared page */
        if (ls == 3 && s2 && e2 && (start >> 21) == (end >> 21)) need--; /* and of its 2M */
    }
    return need;
}

/* Whether table t may go: it is empty and not a top table of a share group. */
VMS__PRIVATE bool vms__prunable(const vms_space_t *s, const uint64_t *t) {
    const vms_table_meta_t *m = vms__meta(s, t);
    return m->children == 0 && m->flags != VMS__PINNED_MARK;
}

/* Free tables emptied at and above level l on the cursor's path. */
VMS__PRIVATE void vms__prune(vms_cursor_t *c, int l) {
    vms_space_t *s = c->space;
    while (l < s->levels && vms__prunable(s, c->path[l])) {
        uint64_t *parent = c->path[l + 1];
        vms__pte_set(&parent[vms_addr_index(c->va, l + 1)], 0);
        vms__meta(s, parent)->children--;
        vms__defer_free(c, c->path[l], c->va);
        l++;
    }
    if (c->level < l) c->level = l;
}

/* Whether the eight entries at t match `first` outside `kept`. */
VMS__PRIVATE bool vms__alike8(const uint64_t *t, uint64_t first, uint64_t kept) {
    uint64_t any = 0;
    unsigned j;
    for (j = 0; j < 8; j++) any |= (t[j] ^ first) & ~kept;
    return !any;
}

/* Rewrite the leading entries of the leaf table t that match `first` outside `kept` to
 * their kept bits plus pbits; returns how many (a multiple of 8). Not for a concurrent
 * space. GCC's -O2 leaves the plain loop scalar: explicit two-entry vectors make it load
 * and store at the rate of a bare rewrite. */
VMS__PRIVATE unsigned vms__rewrite_alike(uint64_t *t, uint64_t first, uint64_t kept,
                                         uint64_t pbits) {
    unsigned k, j;
#if defined(__GNUC__) || defined(__clang__)
    const vms__v2 f = {first, first}, m = {~kept, ~kept}, kv = {kept, kept},
                  pv = {pbits, pbits};
    for (k = 0; k < VMS__ENTRIES; k += 8) {
        vms__v2 x[4], d;
        for (j = 0; j < 4; j++) x[j] = *(const vms__v2 *)(const void *)(t + k + 2 * j);
        d = ((x[0] ^ f) | (x[1] ^ f) | (x[2] ^ f) | (x[3] ^ f)) & m;
        if (d[0] | d[1]) break;
        for (j = 0; j < 4; j++) *(vms__v2 *)(void *)(t + k + 2 * j) = (x[j] & kv) | pv;
    }
#else
    for (k = 0; k < VMS__ENTRIES && vms__alike8(t + k, first, kept); k += 8)
        for (j = 0; j < 8; j++) t[k + j] = (t[k + j] & kept) | pbits;
#endif
    return k;
}

/* An unmap or protect, planned: the range's end, what it does to each leaf (remove it, or
 * give it prop, keeping its frame and A/D bits), and the frames its edge splits take. A
 * value, like a map plan. */
typedef struct vms__change_plan_s {
    uint64_t end, need;
    vms_prop_t prop; /* protect: the new property, A and D masked out */
    bool unmap;
    bool quiet;              /* unmap: the frames were never this space's (no frames hook) */
    bool flushed;            /* unmap: the caller recorded the flush of every leaf */
    bool rel;                /* relative protect: each leaf's own property... */
    vms_prop_t set, clear;   /* ...with `clear` removed and `set` added, */
    vms_protect_fn fn;       /* ...or what fn makes of it, */
    void *user;
    bool cow;                /* ...or, if writable, -W +VMS_COW (a clone's source) */
} vms__change_plan_t;

/* The whole-table case of the change loop: a full leaf table entirely inside the range, as
 * an unmap or protect of a large range meets it 511 times in 512. Branch-free loops the
 * compiler vectorises. The table an unmap empties is freed as it is (its entries are never
 * read again), so nothing clears it. A protect takes the leading entries that carry the
 * same bits as t[0] besides frame and A/D (a range mapped and protected as one is all
 * alike): they change alike, or none does. One pass in blocks of eight (check, rewrite), so
 * each entry is loaded once. Returns the entries taken (the slot loop does the rest); sets
 * *changed to those rewritten. */
VMS__PRIVATE unsigned vms__change_whole(vms_cursor_t *c, uint64_t *t, uint64_t va,
                                        const vms__change_plan_t *p, uint64_t pbits,
                                        unsigned *changed) {
    const uint64_t kept = vms__pte_kept(1), first = t[0], neu = (first & kept) | pbits;
    uint64_t any = 0;
    unsigned k = 0, j;
    if (p->unmap) {
        if (!p->flushed) {
            for (k = 0; k < VMS__ENTRIES; k++) any |= t[k];
            vms__flush_record(c, va, VMS__ENTRIES * VMS_PAGE_4K, vms_pte_global(any));
        }
        if (c->space->frames && !p->quiet)
            for (k = 0; k < VMS__ENTRIES; k++) vms__frame_gone(c, t[k], 1);
        *changed = VMS__ENTRIES;
        return VMS__ENTRIES;
    }
    if ((first & ~kept) == pbits) { /* nothing to do for the alike ones: count them */
        while (k < VMS__ENTRIES && vms__alike8(t + k, first, kept)) k += 8;
        *changed = 0;
        return k;
    }
    if (c->space->concurrent) {
        for (; k < VMS__ENTRIES && vms__alike8(t + k, first, kept); k += 8)
            for (j = 0; j < 8; j++) vms__leaf_rewrite(c->space, &t[k + j], t[k + j], kept, pbits);
    } else {
        k = vms__rewrite_alike(t, first, kept, pbits);
    }
    *changed = k;
    if (k && vms__pte_weakens(first, neu, 1))
        vms__flush_record(c, va, k * VMS_PAGE_4K, vms_pte_global(first | neu));
    return k;
}

/* The plan of a change with its splits already made (need 0)... */
VMS__PRIVATE void vms__change_plan_split(vms__change_plan_t *p, uint64_t end, bool unmap,
                                         vms_prop_t prop) {
    p->end = end;
    p->need = 0;
    p->prop = prop & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    p->unmap = unmap;
    p->quiet = p->flushed = false;
    p->rel = false;
    p->set = p->clear = 0;
    p->fn = NULL;
    p->user = NULL;
    p->cow = false;
}

/* The bits a relative protect may set or clear: rights, user, global, software bits. */
#define VMS__REL_MASK (VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY))

/* The entry bits (no frame, no A/D) a relative protect gives the leaf e at lin, level l. */
VMS__PRIVATE uint64_t vms__rel_bits(vms_space_t *s, const vms__change_plan_t *p, uint64_t lin,
                                    uint64_t e, int l) {
    vms_prop_t old = vms_pte_prop(e, l), q;
    if (p->fn) {
        vms_mapping_t m;
        vms__fill_mapping(s, lin, e, l, &m);
        q = p->fn(p->user, &m);
        VMS_ASSERT(!((q ^ old) & ~VMS__REL_MASK)); /* fn changed what it may not */
        q = (q & VMS__REL_MASK) | (old & ~VMS__REL_MASK);
    } else if (p->cow) {
        q = (old & VMS_W) ? (old & ~(vms_prop_t)VMS_W) | VMS_COW : old;
    } else {
        q = (old & ~p->clear) | p->set;
    }
    return vms__prop_bits(s, q & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY), l);
}

/* Apply a change plan from the cursor's position. Splits take frames from r. */
VMS__PRIVATE void vms__change_apply(vms_cursor_t *c, const vms__change_plan_t *p,
                                    vms__reserve_t *r, uint64_t *done) {
    vms_space_t *s = c->space;
    const uint64_t end = p->end;
    while (c->va < end) {
        uint64_t va = c->va, e = vms__descend(c, 1), base, sz, n, k;
        int l = c->level;
        uint64_t *t = c->path[l];
        unsigned i = vms_addr_index(va, l);
        sz = VMS__SIZE(l);
        base = va & ~(sz - 1u);
        if (!vms_pte_is_used(e)) {
            vms__move(c, base + sz < end ? base + sz : end);
            continue;
        }
        if (base < va || end - base < sz) { /* a huge page covered in part */
            vms__split(c, r, l, t, i);
            continue;
        }
        n = vms__run_slots(va, end, l, i);
        {
            /* Change the slots of the run; flush only the runs of slots that changed. */
            uint64_t pbits = p->unmap ? 0 : vms__prop_bits(s, p->prop, l), kept = vms__pte_kept(l);
            unsigned changed = 0;
            uint64_t first = 0, count = 0;
            bool global = false, weak = false;
            k = 0;
            if (l == 1 && n == VMS__ENTRIES && vms__meta(s, t)->children == VMS__ENTRIES &&
                !p->fn) {
                if (p->rel) pbits = vms__rel_bits(s, p, va, t[0], l); /* those like t[0] */
                k = vms__change_whole(c, t, va, p, pbits, &changed);
            }
            for (; k < n; k++) {
                uint64_t old = t[i + k], neu = 0;
                bool hit;
                if (vms_pte_is_used(old) && !vms_pte_is_leaf(old, l)) break; /* descend next */
                hit = vms_pte_is_used(old);
                if (hit && !p->unmap) {
                    /* New bits computed once per run (per leaf if relative); keep the frame
                     * and the A/D bits. */
                    if (p->rel) pbits = vms__rel_bits(s, p, va + k * sz, old, l);
                    neu = (old & kept) | pbits;
                    hit = neu != old;
                    weak = hit && vms__pte_weakens(old, neu, l);
                }
                if (hit) {
                    if (!p->unmap) vms__leaf_rewrite(s, &t[i + k], old, kept, pbits);
                    else if (p->quiet) (void)vms__leaf_swap(s, &t[i + k], 0);
                    else vms__frame_gone(c, vms__leaf_swap(s, &t[i + k], 0), l);
                    changed++;
                    if (p->unmap) weak = true;
                }
                if (!weak || !hit) {
                    if (count) vms__flush_record(c, va + first * sz, count * sz, global);
                    count = 0;
                    global = false;
                    continue;
                }
                if (!count) first = k;
                count++;
                global |= vms_pte_global(old | neu);
            }
            if (count) vms__flush_record(c, va + first * sz, count * sz, global);
            n = k ? k : 1;
            if (changed && p->unmap) {
                vms__meta(s, t)->children = (uint16_t)(vms__meta(s, t)->children - changed);
                vms__counts(s, va)->mapped_bytes[l - 1] -= changed * sz;
                if (done) *done += changed * sz;
                vms__prune(c, l); /* a whole table unmapped disappears only here */
                vms__generation_bump(s, va, va + n * sz);
            } else if (changed) {
                if (done) *done += changed * sz;
                vms__generation_bump(s, va, va + n * sz);
            }
        }
        vms__move(c, va + n * sz < end ? va + n * sz : end);
    }
}

/* The fast path of every unmap: exactly one whole leaf at c->va, as a fault path or a driver
 * unmaps one page. Clear it, record its flush, free its table if it empties; nothing splits,
 * nothing is allocated; the cursor stays at va. false: not that case (the cursor has only
 * descended). */
VMS__PRIVATE VMS_ALWAYS_INLINE bool vms__unmap_one(vms_cursor_t *c, uint64_t len,
                                                  uint64_t *done) {
    vms_space_t *s = c->space;
    const uint64_t va = c->va;
    const int L = vms_page_level(len);
    uint64_t e, *t;
    if (!L || (va & (len - 1u))) return false;
    e = vms__descend(c, L);
    t = c->path[L];
    if (c->level != L || !vms_pte_is_used(e) || !vms_pte_is_leaf(e, L)) return false;
    e = vms__leaf_swap(s, &t[vms_addr_index(va, L)], 0);
    vms__meta(s, t)->children--;
    vms__counts(s, va)->mapped_bytes[L - 1] -= len;
    vms__generation_bump(s, va, va + len);
    if (done) *done += len;
    vms__flush_record(c, va, len, vms_pte_global(e));
    vms__frame_gone(c, e, L);
    vms__prune(c, L);
    VMS__CHECK_SPAN(s, va, va + len);
    return true;
}

/* Unmap or protect [c->va, c->va + len) as the request p says (end and splits filled in
 * here): plan, reserve the splits, apply. */
VMS__PRIVATE int vms__change(vms_cursor_t *c, uint64_t len, const vms__change_plan_t *req,
                             uint64_t *done) {
    vms_space_t *s = c->space;
    vms__change_plan_t p = *req;
    vms__reserve_t r;
    uint64_t end;
    const bool unmap = p.unmap;
    int err;
    if (!len) return VMS_ERR_ZEROLEN;
    if (len & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || len > c->end - c->va) return VMS_ERR_RANGE;
    end = c->va + len;
    vms__cursor_sync(c);
    if (unmap && !p.quiet && vms__unmap_one(c, len, done)) {
        vms__move(c, end);
        return VMS_OK;
    }
    p.end = end;
    p.need = vms__edge_splits(s, c->va, end);
    r.zero_head = r.raw_head = 0;
    if (p.need) {
        err = vms__reserve(s, &r, 0, p.need);
        if (err) return err;
    }
    vms__change_apply(c, &p, &r, done);
    VMS_ASSERT(!r.raw_head); /* the plan counted exactly the splits the apply step made */
    VMS__CHECK_SPAN(s, end - len, end);
    return VMS_OK;
}

VMS_API int vms_cursor_unmap(vms_cursor_t *c, uint64_t len, uint64_t *unmapped) {
    uint64_t done = 0;
    vms__change_plan_t p;
    int err;
    vms__change_plan_split(&p, 0, true, 0);
    err = vms__change(c, len, &p, &done);
    if (unmapped) *unmapped = done;
    return err;
}

VMS_API int vms_cursor_protect(vms_cursor_t *c, uint64_t len, vms_prop_t prop) {
    vms__change_plan_t p;
    int err = vms_prop_check(prop);
    if (err) return err;
    vms__change_plan_split(&p, 0, false, prop);
    return vms__change(c, len, &p, NULL);
}

VMS_API int vms_cursor_protect_mask(vms_cursor_t *c, uint64_t len, vms_prop_t set,
                                    vms_prop_t clear) {
    vms__change_plan_t p;
    if ((set | clear) & ~VMS__REL_MASK) return VMS_ERR_FLAGS;
    if (set & clear) return VMS_ERR_ARG;
    vms__change_plan_split(&p, 0, false, 0);
    p.rel = true;
    p.set = set;
    p.clear = clear;
    return vms__change(c, len, &p, NULL);
}

VMS_API int vms_cursor_protect_fn(vms_cursor_t *c, uint64_t len, vms_protect_fn fn, void *user) {
    vms__change_plan_t p;
    if (!fn) return VMS_ERR_ARG;
    vms__change_plan_split(&p, 0, false, 0);
    p.rel = true;
    p.fn = fn;
    p.user = user;
    return vms__change(c, len, &p, NULL);
}

VMS_API int vms_cursor_protect_next(vms_cursor_t *c, uint64_t len, vms_prop_t prop,
                                    vms_mapping_t *done) {
    vms_space_t *s = c->space;
    uint64_t limit;
    int err = vms_prop_check(prop);
    if (err) return err;
    if (!len) return VMS_ERR_ZEROLEN;
    if (len & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || len > c->end - c->va) return VMS_ERR_RANGE;
    limit = c->va + len;
    vms__cursor_sync(c);
    err = vms__find(c, limit);
    if (err) return err;
    {
        /* Count the splits first (one per level the page sticks out of the range), so that
         * running out of frames leaves the tables untouched. */
        vms__reserve_t r;
        uint64_t need = 0;
        int l;
        (void)vms__descend(c, 1);
        for (l = c->level; l > 1; l--) {
            uint64_t base = c->va & ~(VMS__SIZE(l) - 1u);
            if (base == c->va && limit - base >= VMS__SIZE(l)) break;
            need++;
        }
        err = vms__reserve(s, &r, 0, need);
        if (err) return err;
        while (need--) {
            l = c->level;
            vms__split(c, &r, l, c->path[l], vms_addr_index(c->va, l));
            (void)vms__descend(c, 1);
        }
    }
    for (;;) {
        int l;
        uint64_t base, sz;
        (void)vms__descend(c, 1);
        l = c->level;
        sz = VMS__SIZE(l);
        base = c->va & ~(sz - 1u);
        {
            uint64_t *t = c->path[l];
            vms__change_plan_t p;
            vms__change_plan_split(&p, base + sz, false, prop);
            vms__change_apply(c, &p, NULL, NULL);
            if (done) vms__fill_mapping(s, base, t[vms_addr_index(base, l)], l, done);
        }
        /* The splits reach back to the start of the huge page the range began in. */
        VMS__CHECK_SPAN(s, base & ~(VMS_PAGE_1G - 1u), limit);
        return VMS_OK;
    }
}

/* >>impl-harvest */

/* Set bits [first, first + n) of a bitmap. */
VMS__PRIVATE void vms__bits_set(uint64_t *bm, uint64_t first, uint64_t n) {
    while (n) {
        unsigned b = (unsigned)(first & 63u);
        uint64_t take = 64u - b < n ? 64u - b : n;
        bm[first >> 6] |= (take == 64u ? ~(uint64_t)0 : (((uint64_t)1 << take) - 1u)) << b;
        first += take;
        n -= take;
    }
}

/* What a harvest does, worked out once: the entry bits it looks for, clears and flushes. */
typedef struct vms__harvest_plan_s {
    uint64_t start, end; /* the range (lin); the bitmap counts pages from start */
    uint64_t want;       /* VMS_PTE_A and/or VMS_PTE_D */
    uint64_t clear;      /* want, or 0 */
    uint64_t flushed;    /* the cleared bits whose clearing is flushed */
} vms__harvest_plan_t;

/* Report the leaf e (as it was before any clearing) at level l, of which [from, to) is in
 * the range. */
VMS__PRIVATE void vms__harvest_report(vms_cursor_t *c, const vms__harvest_plan_t *p,
                                      vms_harvest_t *h, uint64_t from, uint64_t to,
                                      uint64_t e, int l) {
    h->found += to - from;
    if (h->bitmap) vms__bits_set(h->bitmap, (from - p->start) >> 12, (to - from) >> 12);
    if (h->fn) {
        vms_mapping_t m;
        vms__fill_mapping(c->space, from, e, l, &m);
        h->fn(h->user, &m);
    }
}

/* Clear the looked-for bits of a live leaf, returning what it held: an atomic AND in a
 * concurrent space, so a bit a CPU sets between the read and the write is not lost. */
VMS__PRIVATE uint64_t vms__leaf_clear(const vms_space_t *s, uint64_t *p, uint64_t old,
                                      uint64_t bits) {
#if VMS__THREADS
    if (s->concurrent) return __atomic_fetch_and(p, ~bits, __ATOMIC_ACQ_REL);
#endif
    (void)s;
    vms__pte_set(p, old & ~bits);
    return old;
}

/* A whole level-1 table inside the range, in a plain space, bitmap or count only: one pass
 * in blocks of 64 entries that builds each bitmap word without a branch per entry, and
 * stores back only blocks of 8 that held a looked-for bit. Flushes cover the cleared
 * entries whose clearing is flushed, in runs (vms__flush_record joins adjacent ones). */
VMS__PRIVATE void vms__harvest_table(vms_cursor_t *c, const vms__harvest_plan_t *p,
                                     vms_harvest_t *h, uint64_t *t, uint64_t va) {
    const uint64_t want = p->want, idx = (va - p->start) >> 12;
    uint64_t found = 0, global = 0;
    unsigned w, j, k;
    for (w = 0; w < VMS__ENTRIES / 64u; w++) {
        uint64_t *b = t + w * 64u, m = 0, f = 0, wva = va + w * 64u * VMS_PAGE_4K;
        for (j = 0; j < 64u; j += 8) {
            uint64_t any = 0;
            for (k = 0; k < 8u; k++) {
                uint64_t e = b[j + k], hit = (e & want) != 0;
                found += hit;
                m |= hit << (j + k);
                f |= (uint64_t)((e & p->flushed) && (e & VMS_PTE_P)) << (j + k);
                any |= e & want;
            }
            if (any && p->clear)
                for (k = 0; k < 8u; k++) {
                    global |= b[j + k];
                    b[j + k] &= ~p->clear;
                }
        }
        if (h->bitmap) {
            uint64_t at = idx + w * 64u;
            unsigned sh = (unsigned)(at & 63u);
            h->bitmap[at >> 6] |= m << sh;
            if (sh) h->bitmap[(at >> 6) + 1] |= m >> (64u - sh);
        }
        if (f == ~(uint64_t)0) {
            vms__flush_record(c, wva, 64u * VMS_PAGE_4K, vms_pte_global(global));
        } else if (f) {
            for (j = 0; j < 64u; j = k) {
                for (k = j; k < 64u && (f >> k & 1u); k++) {}
                if (k > j) vms__flush_record(c, wva + j * VMS_PAGE_4K, (k - j) * VMS_PAGE_4K,
                                             vms_pte_global(global));
                else k++;
            }
        }
    }
    h->found += found * VMS_PAGE_4K;
}

VMS_API int vms_cursor_harvest(vms_cursor_t *c, uint64_t len, vms_harvest_t *h) {
    vms_space_t *s = c->space;
    vms__harvest_plan_t p;
    const vms_prop_t ad = VMS_ACCESSED | VMS_DIRTY;
    if (!h->bits || (h->bits & ~ad) ||
        (h->flags & ~(uint32_t)(VMS_HARVEST_CLEAR | VMS_HARVEST_FLUSH_ACCESSED)))
        return VMS_ERR_FLAGS;
    if (!len) return VMS_ERR_ZEROLEN;
    if (len & (VMS_PAGE_4K - 1)) return VMS_ERR_ALIGN;
    if (c->va >= c->end || len > c->end - c->va) return VMS_ERR_RANGE;
    /* A and D are at the same bit positions in properties and entries. */
    p.want = h->bits;
    p.clear = (h->flags & VMS_HARVEST_CLEAR) ? p.want : 0;
    p.flushed = p.clear & (VMS_PTE_D | ((h->flags & VMS_HARVEST_FLUSH_ACCESSED) ? VMS_PTE_A : 0));
    p.start = c->va;
    p.end = c->va + len;
    vms__cursor_sync(c);
    while (c->va < p.end) {
        uint64_t va = c->va, e = vms__descend(c, 1), base, sz, n, k, stop;
        int l = c->level;
        uint64_t *t = c->path[l];
        unsigned i = vms_addr_index(va, l);
        bool global = false;
        uint64_t first = 0, count = 0;
        sz = VMS__SIZE(l);
        base = va & ~(sz - 1u);
        stop = base + sz < p.end ? base + sz : p.end;
        if (!vms_pte_is_used(e)) {
            vms__move(c, stop);
            continue;
        }
        if (base < va || p.end - base < sz) { /* a huge page covered in part: bits kept */
            if (e & p.want) vms__harvest_report(c, &p, h, va, stop, e, l);
            vms__move(c, stop);
            continue;
        }
        n = vms__run_slots(va, p.end, l, i);
        k = 0;
        if (l == 1 && n == VMS__ENTRIES && !h->fn && !s->concurrent) {
            vms__harvest_table(c, &p, h, t, va);
            k = n;
        }
        for (; k < n; k++) {
            uint64_t old = vms__pte_get(&t[i + k]), at = va + k * sz;
            bool flush = false;
            if (old && !vms_pte_is_leaf(old, l)) break; /* a table: descend next */
            if (old & p.want) {
                if (p.clear) {
                    old = vms__leaf_clear(s, &t[i + k], old, p.clear);
                    flush = (old & p.flushed) && (old & VMS_PTE_P); /* cached if present */
                }
                vms__harvest_report(c, &p, h, at, at + sz, old, l);
            }
            if (!flush) {
                if (count) vms__flush_record(c, first, count * sz, global);
                count = 0;
                global = false;
                continue;
            }
            if (!count) first = at;
            count++;
            global |= vms_pte_global(old);
        }
        if (count) vms__flush_record(c, first, count * sz, global);
        n = k ? k : 1;
        vms__move(c, va + n * sz < p.end ? va + n * sz : p.end);
    }
    return VMS_OK;
}

/* >>impl-clone */

/* How many of the n entries from t are want, want + step, ... outside the bits of ignore:
 * the scan of a clone or a move. In blocks of eight, which the compiler vectorises, where no
 * other thread writes the tables. */
VMS__PRIVATE uint64_t vms__run_match(const vms_space_t *s, const uint64_t *t, uint64_t n,
                                     uint64_t want, uint64_t step, uint64_t ignore) {
    const uint64_t m = ~ignore;
    uint64_t k = 0;
    if (!s->concurrent) {
#if defined(__GNUC__) || defined(__clang__)
        /* Four running vectors of two expected entries, as vms__store_run stores them. */
        const vms__v2 mv = {m, m}, inc = {2 * step, 2 * step}, inc4 = inc * 4;
        vms__v2 w = {want, want + step};
        for (; k + 8 <= n; k += 8, w += inc4) {
            const vms__v2 *x = (const vms__v2 *)(const void *)(t + k);
            vms__v2 d = ((x[0] & mv) ^ w) | ((x[1] & mv) ^ (w + inc)) |
                        ((x[2] & mv) ^ (w + inc * 2)) | ((x[3] & mv) ^ (w + inc * 3));
            if (d[0] | d[1]) break;
        }
#else
        unsigned j;
        for (; k + 8 <= n; k += 8) {
            uint64_t d = 0;
            for (j = 0; j < 8; j++) d |= (t[k + j] & m) ^ (want + (k + j) * step);
            if (d) break;
        }
#endif
    }
    while (k < n && (vms__pte_get(&t[k]) & m) == want + k * step) k++;
    return k;
}

/* The next run of leaves from c->va below end: one level, frames contiguous, alike outside
 * the frame and the bits of `ignore` (A/D for a clone, none for a move). The cursor moves
 * past it. false: nothing mapped. */
VMS__PRIVATE bool vms__next_run(vms_cursor_t *c, uint64_t end, uint64_t ignore, uint64_t *va,
                                uint64_t *pa, uint64_t *len, uint64_t *e0, int *lvl) {
    uint64_t e, start, next, p, bits, frame, sz;
    int l;
    if (vms__find(c, end) != VMS_OK) return false;
    l = c->level;
    e = vms__pte_get(&c->path[l][vms_addr_index(c->va, l)]);
    sz = VMS__SIZE(l);
    frame = vms__pte_kept(l) & ~(uint64_t)(VMS_PTE_A | VMS_PTE_D);
    start = c->va;
    next = (start & ~(sz - 1u)) + sz;
    p = vms_pte_leaf_pa(e, l) + (start & (sz - 1u));
    bits = e & ~frame & ~ignore;
    for (;;) {
        /* The rest of this table: each entry must be the one expected, bits and frame, the
         * ignored bits aside (one compare per entry; i is 0 once the run leaves the table). */
        const uint64_t *t = c->path[l], ad = ignore;
        unsigned i = vms_addr_index(next, l);
        uint64_t want = bits | (p + (next - start)), stop = end - next;
        uint64_t k, room = (uint64_t)(VMS__ENTRIES - i) & (VMS__ENTRIES - 1u);
        uint64_t most = stop / sz < room ? (stop + sz - 1u) / sz : room;
        k = vms__run_match(c->space, t + i, most, want, sz, ad);
        want += k * sz;
        next += k * sz;
        if (next >= end || k < room) break;
        vms__move(c, next); /* into the next table, if the run goes on there */
        e = vms__descend(c, 1);
        if (c->level != l || (e & ~ad) != want) break;
        next += sz;
    }
    if (next > end) next = end;
    *va = start;
    *pa = p;
    *len = next - start;
    *e0 = bits; /* the run's entry bits: no frame, none of `ignore` */
    *lvl = l;
    vms__move(c, next);
    return true;
}

/* Map through cd, delta bytes on, the leaves cs meets from its place up to end, run by run,
 * each with its page size or smaller ones where the new address is not aligned for it. A
 * clone drops A/D (and marks copy-on-write if cow); a move keeps every bit. */
VMS__PRIVATE int vms__copy_runs(vms_cursor_t *cd, vms_cursor_t *cs, uint64_t end, uint64_t delta,
                                bool clone, bool cow) {
    uint64_t va, pa, n, e0;
    int l, err;
    while (vms__next_run(cs, end, clone ? VMS_PTE_A | VMS_PTE_D : 0, &va, &pa, &n, &e0, &l)) {
        vms_prop_t p = vms_pte_prop(e0, l);
        if (cow && (p & VMS_W)) p = (p & ~(vms_prop_t)VMS_W) | VMS_COW;
        /* A CPU may still mark the old entries, which a move then drops: as collapse does. */
        if (!clone && cs->space->active_cpus && (p & VMS_W)) p |= VMS_ACCESSED | VMS_DIRTY;
        vms__move(cd, va + delta);
        err = vms__map(cd, pa, n, p, l, false);
        if (err) return err;
        /* A move's old place flushes here, where the run's G bit is known: the unmap that
         * follows need not read the entries again. */
        if (!clone) vms__flush_record(cs, va, n, vms_pte_global(e0));
    }
    return VMS_OK;
}

/* Take out of cd's space [start, start + len), which holds only what this operation mapped
 * there: whole leaves of the range, so nothing splits; the frames were never its own to hand
 * back. */
VMS__PRIVATE void vms__undo_copy(vms_cursor_t *cd, uint64_t start, uint64_t len) {
    const uint64_t generation = cd->space->generation;
    vms__change_plan_t u;
    vms__change_plan_split(&u, 0, true, 0);
    u.quiet = true;
    vms__move(cd, start);
    vms__cursor_sync(cd);
    (void)vms__change(cd, len, &u, NULL);
    /* Only another thread could have seen what is taken out (and cached it in a software
     * TLB): without one the space is as it was, generation included. */
    if (!cd->space->concurrent) cd->space->generation = generation;
}

/* Copy [c->va, +len) of the source cursor cs into the empty range at the same place of the
 * destination cursor cd; with COW both sides lose W and gain VMS_COW where they had W. */
VMS__PRIVATE int vms__clone(vms_cursor_t *cd, vms_cursor_t *cs, uint64_t len, bool cow) {
    const uint64_t start = cs->va, end = cs->va + len;
    int err;
    vms__cursor_sync(cs);
    vms__cursor_sync(cd);
    if (vms__find(cd, end) == VMS_OK) return VMS_ERR_EXIST;
    err = vms__copy_runs(cd, cs, end, 0, true, cow);
    if (!err && cow) {
        vms__change_plan_t q;
        vms__change_plan_split(&q, 0, false, 0);
        q.rel = q.cow = true;
        vms__move(cs, start);
        err = vms__change(cs, len, &q, NULL);
    }
    if (err) vms__undo_copy(cd, start, len);
    return err;
}

VMS_API int vms_space_clone(vms_space_t *dst, vms_space_t *src, uint64_t va, uint64_t len,
                            uint32_t flags, vms_frames_fn shared, void *user) {
    vms_cursor_t cs, cd, *first = &cs, *second = &cd;
    vms_space_t *s1 = src, *s2 = dst;
    int err;
    if (dst == src) return VMS_ERR_ARG;
    if (dst->levels != src->levels) return VMS_ERR_LEVELS;
    err = vms_space_check_range(src, va, len);
    if (err) return err;
    if (flags & ~(uint32_t)VMS_CLONE_COW) return VMS_ERR_FLAGS;
    /* Two concurrent spaces: take their locks in address order, as every clone does. */
    if ((uintptr_t)dst < (uintptr_t)src) {
        first = &cd;
        second = &cs;
        s1 = dst;
        s2 = src;
    }
    err = vms_cursor_open(first, s1, va, len);
    if (err) return err;
    if (s2->concurrent && vms__lockword(s1) == vms__lockword(s2)) { /* one group: one lock */
        err = vms_space_check_range(s2, va, len);
        if (!err) vms__cursor_init_lin(second, s2, vms__lin(s2, va), vms__lin(s2, va) + len);
    } else {
        err = vms_cursor_open(second, s2, va, len);
    }
    if (err) {
        vms_cursor_close(first);
        return err;
    }
    err = vms__clone(&cd, &cs, len, (flags & VMS_CLONE_COW) != 0);
    if (!err && shared) { /* the frames now shared, run by run */
        uint64_t rva, rpa, n, e0;
        int l;
        vms__move(&cd, vms__lin(dst, va));
        while (vms__next_run(&cd, vms__lin(dst, va) + len, 0, &rva, &rpa, &n, &e0, &l))
            shared(user, rpa, n);
    }
    vms_cursor_close(second);
    vms_cursor_close(first);
    return err;
}

/* >>impl-move */

/* What a move does from cs->va (the cursor descends there): returns the end of the piece and
 * sets *kind: 0 nothing mapped, 1 entry by entry, 2 relink the one entry at level *lvl (a table
 * or a huge page wholly inside the range, at an address the delta keeps aligned for it). Entry
 * by entry pieces run to the end of a leaf table, so that a run is copied in one go. */
VMS__PRIVATE uint64_t vms__move_piece(vms_cursor_t *cs, uint64_t end, int lmax, int *kind,
                                      int *lvl) {
    const uint64_t va = cs->va;
    uint64_t e, sz, next;
    int L = lmax, l;
    while (L > 1 && ((va & (VMS__SIZE(L) - 1u)) || end - va < VMS__SIZE(L))) L--;
    if (cs->level < L) cs->level = L; /* the path above the cursor's level covers va */
    e = vms__descend(cs, L);
    l = cs->level;
    sz = VMS__SIZE(l == 1 ? 2 : l);
    next = (va & ~(sz - 1u)) + sz;
    if (next > end || next < va) next = end;
    *lvl = l;
    if (l == 1) *kind = 1;
    else if (!vms_pte_is_used(e)) *kind = 0;
    else *kind = l == L && L > 1 ? 2 : 1;
    return next;
}

/* Relink the entry at cs->va, level l, to the same slot delta bytes on: the destination's
 * tables above it come zeroed from r. Nothing is copied; the source's table loses an entry
 * (freed by vms__prune_range if that was its last: a free here could take a table that a
 * later relink's destination was counted to find). A huge page is taken out first, so that
 * a CPU's late A/D lands nowhere but in the value moved; a table moves with its entries. */
VMS__PRIVATE void vms__relink(vms_cursor_t *cs, vms_cursor_t *cd, uint64_t delta, int l,
                              vms__reserve_t *r) {
    vms_space_t *s = cs->space;
    const uint64_t va = cs->va, d = va + delta;
    uint64_t *st = cs->path[l], *dt, e;
    vms__move(cd, d);
    vms__cursor_sync(cd);
    if (cd->level < l) cd->level = l;
    (void)vms__descend(cd, l);
    while (cd->level > l) {
        int k = cd->level;
        uint64_t *pt = cd->path[k], *child = vms__new_table(s, r, k - 1, true, d);
        vms__pte_set(&pt[vms_addr_index(d, k)], vms_pte_table_entry(vms__pa_of(s, child)));
        vms__meta(s, pt)->children++;
        cd->path[k - 1] = child;
        cd->level = k - 1;
    }
    dt = cd->path[l];
    e = vms__pte_get(&st[vms_addr_index(va, l)]);
    if (vms_pte_is_leaf(e, l)) {
        e = vms__leaf_swap(s, &st[vms_addr_index(va, l)], 0);
        vms__pte_set(&dt[vms_addr_index(d, l)], e);
    } else {
        vms__pte_set(&dt[vms_addr_index(d, l)], e); /* readers always find the table */
        vms__pte_set(&st[vms_addr_index(va, l)], 0);
    }
    vms__meta(s, dt)->children++;
    vms__meta(s, st)->children--;
    /* A table may hold global leaves: flush as if it did. */
    vms__flush_record(cs, va, VMS__SIZE(l), vms_pte_is_leaf(e, l) ? vms_pte_global(e) : true);
}

/* Free the tables that relinks emptied in [start, end), which maps nothing now: each descent
 * stops at an unused entry, and an empty table there goes with the parents it empties. */
VMS__PRIVATE void vms__prune_range(vms_cursor_t *c, uint64_t start, uint64_t end) {
    vms_space_t *s = c->space;
    uint64_t va = start, next;
    vms__cursor_sync(c);
    while (va < end) {
        int l;
        vms__move(c, va);
        (void)vms__descend(c, 1);
        l = c->level;
        if (l < s->levels && vms__prunable(s, c->path[l])) {
            vms__prune(c, l);
            continue; /* again from va: the parent's entry is clear now */
        }
        next = (va & ~(VMS__SIZE(l) - 1u)) + VMS__SIZE(l);
        if (next <= va) break; /* the top of the address space */
        va = next;
    }
}

/* Move [cs->va, +len) to cd->va (same space, ranges apart, the new one checked empty here).
 * 1. the entry-by-entry pieces are mapped at the new place (undone on failure); 2. the
 * tables the relinks still need and the splits at the old range's edges are counted and
 * reserved;
 * 3. relinks; 4. the old range is unmapped, its frames kept. Only 1 and 2 can fail. */
VMS__PRIVATE int vms__move_range(vms_cursor_t *cs, vms_cursor_t *cd, uint64_t len) {
    vms_space_t *s = cs->space;
    const uint64_t start = cs->va, end = start + len, delta = cd->va - cs->va;
    uint64_t last[VMS_MAX_LEVELS + 1], need = 0, relinks = 0, va, next = end;
    vms__change_plan_t u;
    vms__reserve_t r;
    int lmax = 1, kind, lvl, k, err = VMS_OK;
    while (lmax < s->levels && !(delta & (VMS__SIZE(lmax + 1) - 1u))) lmax++;
    if (VMS_UNLIKELY(s->share != NULL)) {
        /* A relinked table takes its counts along, so relinks stay on one side of the shared
         * range's edges; and a root entry there is every member's, so it stays put. */
        const vms_share_t *g = s->share;
        bool in_old = vms__in_share(s, start, end), in_new = vms__in_share(s, start + delta,
                                                                           end + delta);
        if (in_old && in_new && start >= g->lo && end <= g->hi && start + delta >= g->lo &&
            end + delta <= g->hi) {
            if (lmax == s->levels) lmax--;
        } else if (in_old || in_new) {
            lmax = 1;
        }
    }
    vms__cursor_sync(cd);
    if (vms__find(cd, cd->va + len) == VMS_OK) return VMS_ERR_EXIST;
    for (k = 0; k <= VMS_MAX_LEVELS; k++) last[k] = ~(uint64_t)0;
    vms__move(cs, start);
    if (lmax == 1) /* nothing relinks: the whole range, run by run */
        err = vms__copy_runs(cd, cs, end, delta, false, false);
    for (; lmax > 1 && !err && cs->va < end; vms__move(cs, next)) {
        next = vms__move_piece(cs, end, lmax, &kind, &lvl);
        if (kind == 1) err = vms__copy_runs(cd, cs, next, delta, false, false);
    }
    /* Counted once the copies made their tables: the ones still missing above each slot. */
    for (vms__move(cs, start); lmax > 1 && !err && cs->va < end; vms__move(cs, next)) {
        va = cs->va;
        next = vms__move_piece(cs, end, lmax, &kind, &lvl);
        if (kind == 2) {
            uint64_t *t = vms__tbl(s, s->root_pa);
            int m = s->levels;
            relinks++;
            (void)vms__descend_at(s, va + delta, lvl, &m, &t, NULL);
            for (k = lvl; k < m; k++) {
                if (last[k] == (va + delta) >> VMS__SHIFT(k + 1)) continue;
                last[k] = (va + delta) >> VMS__SHIFT(k + 1);
                need++;
            }
        }
    }
    vms__change_plan_split(&u, end, true, 0);
    u.quiet = u.flushed = true; /* the frames stay mapped, at their new place; flushed above */
    u.need = vms__edge_splits(s, start, end);
    if (!err) err = vms__reserve(s, &r, need, u.need);
    if (err) {
        vms__undo_copy(cd, start + delta, len);
        return err;
    }
    vms__cursor_sync(cs);
    for (vms__move(cs, start); relinks && cs->va < end; vms__move(cs, next)) {
        next = vms__move_piece(cs, end, lmax, &kind, &lvl);
        if (kind == 2) vms__relink(cs, cd, delta, lvl, &r);
    }
    vms__tables_unhooked(s, start, end); /* relinked tables left the old paths: re-walk */
    vms__cursor_sync(cs);
    vms__move(cs, start);
    vms__change_apply(cs, &u, &r, NULL);
    if (relinks) vms__prune_range(cs, start, end);
    VMS_ASSERT(!r.zero_head && !r.raw_head); /* the counts were exact */
    vms__generation_bump(s, start < start + delta ? start : start + delta,
                         start < start + delta ? end + delta : end);
    VMS__CHECK_SPAN(s, start, end);
    VMS__CHECK_SPAN(s, start + delta, start + delta + len);
    return VMS_OK;
}

VMS_API int vms_space_move(vms_space_t *s, uint64_t old_va, uint64_t new_va, uint64_t len) {
    vms_cursor_t cs, cd;
    uint64_t from, to;
    int err = vms__move_check(s, old_va, new_va, len);
    if (err) return err;
    from = vms__lin(s, old_va);
    to = vms__lin(s, new_va);
    (void)vms__cursor_begin(&cs, s, from, from + len, false);
    vms__cursor_init_lin(&cd, s, to, to + len); /* under cs's lock */
    err = vms__move_range(&cs, &cd, len);
    vms_cursor_close(&cd); /* tables an undo freed */
    vms_cursor_close(&cs);
    return err;
}

/* >>impl-collapse */

/* The one leaf at level l + 1 that the 512 leaves of table t (level l) make, or 0: alike
 * outside frame and A/D, frames contiguous from one aligned for l + 1. A and D are their
 * union; where a CPU runs the space and the pages are writable, both are set, since a CPU
 * may write through a translation it cached clean before the flush and mark only the old
 * entry (Linux's collapse takes the table out first for that). */
VMS__PRIVATE uint64_t vms__collapsed_leaf(const vms_space_t *s, const uint64_t *t, int l) {
    const uint64_t ad = VMS_PTE_A | VMS_PTE_D, sz = VMS__SIZE(l), e0 = vms__pte_get(&t[0]);
    uint64_t want = e0 & ~ad, any = 0, k;
    vms_prop_t prop;
    if (vms__meta(s, t)->children != VMS__ENTRIES || !vms_pte_is_leaf(e0, l) ||
        (vms_pte_leaf_pa(e0, l) & (VMS__SIZE(l + 1) - 1u)))
        return 0;
    for (k = 0; k < VMS__ENTRIES; k++, want += sz) {
        uint64_t e = vms__pte_get(&t[k]);
        if ((e & ~ad) != want) return 0;
        any |= e;
    }
    prop = vms_pte_prop(e0 | (any & ad), l);
    if (s->active_cpus && (prop & VMS_W)) prop |= VMS_ACCESSED | VMS_DIRTY;
    return vms_pte_encode(vms_pte_leaf_pa(e0, l), prop, l + 1);
}

/* Collapse, at level l + 1, the blocks of VMS__SIZE(l + 1) wholly inside [from, end).
 * Returns the bytes they hold. */
VMS__PRIVATE uint64_t vms__collapse_level(vms_cursor_t *c, uint64_t from, uint64_t end, int l) {
    vms_space_t *s = c->space;
    const uint64_t bs = VMS__SIZE(l + 1);
    uint64_t va = (from + bs - 1u) & ~(bs - 1u), done = 0;
    while (va >= from && va < end && end - va >= bs) {
        uint64_t e, leaf, *child, next;
        int at;
        vms__move(c, va);
        if (c->level < l + 1) c->level = l + 1;
        e = vms__descend(c, l + 1);
        at = c->level;
        next = (va & ~(VMS__SIZE(at) - 1u)) + VMS__SIZE(at);
        if (at == l + 1 && vms_pte_is_used(e) && !vms_pte_is_leaf(e, at)) {
            child = vms__tbl(s, vms_pte_table_pa(e));
            leaf = vms__collapsed_leaf(s, child, l);
            if (leaf) {
                vms__pte_set(&c->path[at][vms_addr_index(va, at)], leaf);
                vms__counts(s, va)->mapped_bytes[l - 1] -= bs;
                vms__counts(s, va)->mapped_bytes[l] += bs;
                vms__flush_record(c, va, bs, vms_pte_global(leaf));
                vms__defer_free(c, child, va);
                done += bs;
            }
        }
        if (next <= va) break; /* the top of the address space */
        va = next;
    }
    return done;
}

/* Collapse [start, end) through c (flags: VMS_MAP_MAX_2M or not); returns the bytes held by
 * new huge leaves. */
VMS__PRIVATE uint64_t vms__collapse_range(vms_cursor_t *c, uint64_t start, uint64_t end,
                                          uint32_t flags) {
    uint64_t g0 = (start + VMS_PAGE_1G - 1u) & ~(VMS_PAGE_1G - 1u), g1, g, done;
    g1 = end & ~(VMS_PAGE_1G - 1u);
    if ((flags & VMS_MAP_MAX_2M) || g0 >= g1) g0 = g1 = end;
    done = vms__collapse_level(c, start, g0, 1) + vms__collapse_level(c, g1, end, 1);
    /* Whole GiBs: their 2 MiB blocks first, then the GiB; the new 2 MiB leaves a 1 GiB one
     * takes in are no longer leaves. */
    for (g = g0; g < g1; g += VMS_PAGE_1G) {
        uint64_t d2 = vms__collapse_level(c, g, g + VMS_PAGE_1G, 1);
        uint64_t d1 = vms__collapse_level(c, g, g + VMS_PAGE_1G, 2);
        done += d1 ? d1 : d2;
    }
    if (done) vms__generation_bump(c->space, start, end);
    VMS__CHECK_SPAN(c->space, start, end);
    return done;
}

VMS_API int vms_space_collapse(vms_space_t *s, uint64_t va, uint64_t len, uint32_t flags,
                               uint64_t *collapsed) {
    vms_cursor_t c;
    uint64_t start, done;
    int err = vms_space_check_range(s, va, len);
    if (collapsed) *collapsed = 0;
    if (err) return err;
    if (flags & ~(uint32_t)VMS_MAP_MAX_2M) return VMS_ERR_FLAGS;
    start = vms__lin(s, va);
    (void)vms__cursor_begin(&c, s, start, start + len, false);
    done = vms__collapse_range(&c, start, start + len, flags);
    vms_cursor_close(&c);
    if (collapsed) *collapsed = done;
    return VMS_OK;
}

/* VMS_MAP_COLLAPSE after a map of [from, c->va): collapse the blocks the range touches, then
 * put the cursor back at the range's end. */
VMS__PRIVATE void vms__collapse_after_map(vms_cursor_t *c, uint64_t from, uint32_t flags) {
    const uint64_t end = c->va;
    uint64_t lo, hi;
    vms__collapse_span(from, end, flags, &lo, &hi);
    (void)vms__collapse_range(c, lo, hi, flags);
    vms__move(c, end);
}

/* >>impl-space */

/* A software TLB remembers its space by address and generation, so the generations of one
 * struct must never repeat, even when it is destroyed and initialised (or loaded) again: a
 * space of a machine starts above every generation a space of that machine reached (like
 * Linux's mm context ids, the clock only grows). Without a machine a space counts from
 * `from` + 1. */
VMS__PRIVATE uint64_t vms__generation_start(vms_machine_t *m, uint64_t from) {
    if (!m) return from + 1;
    if (m->clock < from) m->clock = from;
    return ++m->clock;
}

VMS__PRIVATE void vms__generation_retire(vms_machine_t *m, uint64_t g) {
    if (m && m->clock < g) m->clock = g;
}

VMS_API int vms_space_init(vms_space_t *s, const vms_space_desc_t *desc) {
    vms_space_desc_t d;
    uint64_t pa;
    uint64_t *root;
    vms_table_meta_t *m;
    int err;
    if (!s) return VMS_ERR_ARG;
    if (desc) d = *desc;
    else VMS_MEMSET(&d, 0, sizeof d);
    if (!d.levels) d.levels = 4;
    if (d.levels != 4 && d.levels != 5) return VMS_ERR_LEVELS;
    if (d.provider && (!d.provider->alloc_frame || !d.provider->free_frame)) return VMS_ERR_ARG;
    if (!d.phys_bits) d.phys_bits = VMS_PHYS_BITS;
    if (d.phys_bits < 32 || d.phys_bits > VMS_PHYS_BITS) return VMS_ERR_PHYS;
    if (d.concurrent && !VMS__THREADS) return VMS_ERR_ARG; /* VMSPACE_NO_THREADS */
    if (d.reclaim && (!d.reclaim->retire || !d.reclaim->barrier || !d.reclaim->read_enter ||
                      !d.reclaim->read_leave))
        return VMS_ERR_ARG;
    if (!d.provider) {
        /* The arena's frames must fit in table entries of this width. */
        uint64_t lo = d.arena.phys_base ? d.arena.phys_base : VMS__ARENA_DEFAULT_PHYS;
        uint64_t len = d.arena.size ? d.arena.size : VMS__ARENA_DEFAULT_SIZE;
        if (lo >= ((uint64_t)1 << d.phys_bits) || len > ((uint64_t)1 << d.phys_bits) - lo)
            return VMS_ERR_PHYS;
    }
    VMS_MEMSET(s, 0, sizeof *s);
    s->levels = d.levels;
    s->phys_limit = (uint64_t)1 << d.phys_bits;
    s->flush_threshold = d.flush_threshold ? d.flush_threshold : 32u;
    s->flush = d.flush;
    s->load_cr3 = d.load_cr3;
    s->frames = d.frames;
    s->hook_user = d.hook_user;
    s->pcid = d.pcid;
    s->machine = d.machine;
    s->concurrent = d.concurrent;
    if (d.reclaim) s->reclaim = *d.reclaim;
    if (d.provider) {
        s->prov = *d.provider;
    } else {
        err = vms_arena_init(&s->arena, &d.arena);
        if (err) return err;
        s->owns_arena = true;
        s->prov = vms_arena_provider(&s->arena);
    }
    s->direct_map = s->prov.direct_map;
    err = s->prov.alloc_frame(s->prov.user, &pa, true);
    if (err) {
        if (s->owns_arena) vms_arena_destroy(&s->arena);
        return VMS_ERR_NOMEM;
    }
    s->root_pa = pa;
    root = vms__tbl(s, pa);
    m = vms__meta(s, root);
    m->children = 0;
    m->level = (uint8_t)s->levels;
    m->flags = 0;
    m->lock = 0;
    s->counts.table_pages = 1;
    s->generation = vms__generation_start(s->machine, 0);
    return VMS_OK;
}

VMS__PRIVATE void vms__share_leave(vms_space_t *s, bool unmap);

VMS_API int vms_space_destroy(vms_space_t *s) {
    if (s->active_cpus) return VMS_ERR_ACTIVE;
    if (s->share) vms__share_leave(s, false);
    if (s->reclaim.barrier) s->reclaim.barrier(s->reclaim.user); /* tables still in grace */
    vms__free_reclaimed(s);
    vms__drop_subtree(s, vms__tbl(s, s->root_pa), s->levels, 0, NULL);
    if (s->owns_arena) vms_arena_destroy(&s->arena);
    vms__generation_retire(s->machine, s->generation);
    VMS_MEMSET(s, 0, sizeof *s);
    return VMS_OK;
}

/* >>impl-share */

/* Tables (below the top) and leaf bytes a walk passes: what a range holds. */
VMS__PRIVATE int vms__tally_visit(void *user, vms__walk_t *w, int event, uint64_t e) {
    vms_stats_t *t = (vms_stats_t *)user;
    if (event == VMS__WALK_ENTER && w->level != w->top) t->table_pages++;
    else if (event == VMS__WALK_ENTRY && vms_pte_is_used(e) && vms_pte_is_leaf(e, w->level))
        t->mapped_bytes[w->level - 1] += VMS__SIZE(w->level);
    return 0;
}

VMS_API int vms_share_init(vms_share_t *g, vms_space_t *s, uint64_t va, uint64_t len) {
    const uint64_t span = vms_share_span(s->levels);
    uint64_t lo, hi, lin, need = 0, *root = vms__tbl(s, s->root_pa);
    vms__reserve_t r;
    vms_stats_t t;
    int i, err;
    if (!g) return VMS_ERR_ARG;
    err = vms_space_check_range(s, va, len);
    if (err) return err;
    if ((va | len) & (span - 1u)) return VMS_ERR_ALIGN;
    if (s->share) return VMS_ERR_SHARED;
    lo = vms__lin(s, va);
    hi = lo + len;
    for (lin = lo; lin < hi; lin += span)
        if (!vms_pte_is_used(root[vms_addr_index(lin, s->levels)])) need++;
    err = vms__reserve(s, &r, need, 0);
    if (err) return err;
    for (lin = lo; lin < hi; lin += span) { /* every slot gets its table: members see them all */
        uint64_t *e = &root[vms_addr_index(lin, s->levels)];
        if (!vms_pte_is_used(*e)) {
            uint64_t *top = vms__new_table(s, &r, s->levels - 1, true, lin);
            vms__pte_set(e, vms_pte_table_entry(vms__pa_of(s, top)));
            vms__meta(s, root)->children++;
        }
        vms__meta(s, vms__tbl(s, vms_pte_table_pa(*e)))->flags = VMS__PINNED_MARK;
    }
    /* What s holds there is the group's from now on. */
    VMS_MEMSET(&t, 0, sizeof t);
    (void)vms__walk(s, root, s->levels, lo, hi, vms__tally_visit, &t);
    s->counts.table_pages -= t.table_pages;
    for (i = 0; i < 3; i++) s->counts.mapped_bytes[i] -= t.mapped_bytes[i];
    VMS_MEMSET(g, 0, sizeof *g);
    g->lo = lo;
    g->hi = hi;
    g->counts = t;
    g->members = s;
    g->nmembers = 1;
    s->share_next = NULL;
    s->share = g;
    VMS__CHECK_SPAN(s, 0, vms__top(s));
    return VMS_OK;
}

/* Whether two spaces' tables live in the same memory, handed out by the same hooks. */
VMS__PRIVATE bool vms__same_memory(const vms_space_t *a, const vms_space_t *b) {
    return a->prov.alloc_frame == b->prov.alloc_frame &&
           a->prov.free_frame == b->prov.free_frame && a->prov.user == b->prov.user &&
           a->prov.direct_map == b->prov.direct_map && a->prov.meta_map == b->prov.meta_map &&
           a->phys_limit == b->phys_limit;
}

VMS__PRIVATE bool vms__same_threads(const vms_space_t *a, const vms_space_t *b) {
    return a->concurrent == b->concurrent && a->reclaim.read_enter == b->reclaim.read_enter &&
           a->reclaim.read_leave == b->reclaim.read_leave &&
           a->reclaim.retire == b->reclaim.retire && a->reclaim.barrier == b->reclaim.barrier &&
           a->reclaim.user == b->reclaim.user;
}

VMS_API int vms_share_join(vms_share_t *g, vms_space_t *s) {
    vms_space_t *h;
    uint64_t *root, *from;
    unsigned i, i0, i1;
    if (!g || !g->members) return VMS_ERR_ARG;
    h = g->members;
    if (s->share) return VMS_ERR_SHARED;
    if (s->levels != h->levels) return VMS_ERR_LEVELS;
    if (!vms__same_memory(s, h) || !vms__same_threads(s, h)) return VMS_ERR_MISMATCH;
    root = vms__tbl(s, s->root_pa);
    from = vms__tbl(h, h->root_pa);
    i0 = vms_addr_index(g->lo, s->levels);
    i1 = vms_addr_index(g->hi - 1u, s->levels);
    for (i = i0; i <= i1; i++)
        if (vms_pte_is_used(root[i])) return VMS_ERR_EXIST;
    if (s->concurrent) vms__lock(&g->lock); /* members' flushes walk the member list */
    for (i = i0; i <= i1; i++) vms__pte_set(&root[i], from[i]);
    vms__meta(s, root)->children = (uint16_t)(vms__meta(s, root)->children + (i1 - i0 + 1u));
    s->share_next = g->members;
    g->members = s;
    g->nmembers++;
    s->share = g;
    VMS__CHECK_SPAN(s, 0, vms__top(s)); /* under the lock: members change the shared tables */
    if (s->concurrent) vms__unlock(&g->lock);
    return VMS_OK;
}

/* s leaves its group. The last member keeps the tables as its own, and with `unmap` takes
 * down what they map (destroy frees them as they are); any other member just loses its
 * view of the range. */
VMS__PRIVATE void vms__share_leave(vms_space_t *s, bool unmap) {
    vms_share_t *g = s->share;
    vms_space_t **pp;
    vms_cursor_t c;
    uint64_t *root = vms__tbl(s, s->root_pa);
    const uint64_t lo = g->lo, hi = g->hi;
    unsigned i, i0 = vms_addr_index(lo, s->levels), i1 = vms_addr_index(hi - 1u, s->levels);
    bool last;
    int k;
    if (unmap && g->nmembers == 1) { /* the last: the range goes while its tables are pinned */
        vms__change_plan_t p;
        (void)vms__cursor_begin(&c, s, lo, hi, false);
        vms__change_plan_split(&p, 0, true, 0);
        (void)vms__change(&c, hi - lo, &p, NULL); /* whole slots: nothing to split */
        vms_cursor_close(&c);
    }
    if (s->concurrent) vms__lock(&g->lock);
    for (pp = &g->members; *pp != s; pp = &(*pp)->share_next) {
    }
    *pp = s->share_next;
    s->share_next = NULL;
    last = --g->nmembers == 0;
    if (last) {
        for (i = i0; i <= i1; i++) vms__meta(s, vms__tbl(s, vms_pte_table_pa(root[i])))->flags = 0;
        s->counts.table_pages += g->counts.table_pages;
        for (k = 0; k < 3; k++) s->counts.mapped_bytes[k] += g->counts.mapped_bytes[k];
    } else {
        for (i = i0; i <= i1; i++) vms__pte_set(&root[i], 0);
        vms__meta(s, root)->children = (uint16_t)(vms__meta(s, root)->children - (i1 - i0 + 1u));
    }
    s->share = NULL;
    if (s->concurrent) vms__unlock(&g->lock);
    if (last) VMS_MEMSET(g, 0, sizeof *g); /* a join now finds no member */
    (void)vms__cursor_begin(&c, s, lo, hi, false);
    if (!last) { /* s's translations there are gone: its CPUs and software TLBs forget them */
        vms__flush_record(&c, lo, hi - lo, true);
        vms__tables_unhooked(s, lo, hi);
        vms__generation_bump(s, lo, hi);
    } else if (unmap) {
        vms__prune_range(&c, lo, hi); /* the top tables, emptied above and now unpinned */
    }
    vms_cursor_close(&c);
    if (unmap || !last) VMS__CHECK_SPAN(s, 0, vms__top(s)); /* else destroy frees it as is */
}

VMS_API int vms_share_leave(vms_space_t *s) {
    if (!s->share) return VMS_ERR_ARG;
    vms__share_leave(s, true);
    return VMS_OK;
}

VMS_API int vms_space_map(vms_space_t *s, uint64_t va, uint64_t pa, uint64_t len,
                          vms_prop_t prop, uint32_t flags) {
    vms_cursor_t c;
    int err = vms_space_check_map(s, va, pa, len, prop, flags);
    if (err) return err;
    vms__space_lock(s);
    /* One page into an empty slot under tables that exist, as a fault handler maps: a
     * descent from the root and a store. Nothing to flush, so no cursor. */
    if (!(flags & (VMS_MAP_REPLACE | VMS_MAP_COLLAPSE))) {
        uint64_t lin = vms__lin(s, va), *t = vms__tbl(s, s->root_pa);
        int L = vms_page_level(len), l = s->levels; /* what vms__fit_level picks for one page */
        if (L && L <= vms__max_level(flags) && !((lin | pa) & (len - 1u)) &&
            !vms_pte_is_used(vms__descend_at(s, lin, L, &l, &t, NULL)) && l == L) {
            vms__put_leaf(s, t, lin, L, pa, prop);
            vms__space_unlock(s);
            return VMS_OK;
        }
    }
    vms__cursor_init_lin(&c, s, vms__lin(s, va), vms__lin(s, va) + len);
    c.locked = s->concurrent;
    err = vms_cursor_map_range(&c, pa, len, prop, flags);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_unmap(vms_space_t *s, uint64_t va, uint64_t len) {
    vms_cursor_t c;
    int err = vms_space_check_range(s, va, len);
    if (err) return err;
    (void)vms__cursor_begin(&c, s, vms__lin(s, va), vms__lin(s, va) + len, false);
    /* The range is checked and the cursor new: one page goes without a plan. */
    if (!vms__unmap_one(&c, len, NULL)) err = vms_cursor_unmap(&c, len, NULL);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_protect(vms_space_t *s, uint64_t va, uint64_t len, vms_prop_t prop) {
    vms_cursor_t c;
    int err = vms_cursor_open(&c, s, va, len);
    if (err) return err;
    err = vms_cursor_protect(&c, len, prop);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_protect_mask(vms_space_t *s, uint64_t va, uint64_t len, vms_prop_t set,
                                   vms_prop_t clear) {
    vms_cursor_t c;
    int err = vms_cursor_open(&c, s, va, len);
    if (err) return err;
    err = vms_cursor_protect_mask(&c, len, set, clear);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_protect_fn(vms_space_t *s, uint64_t va, uint64_t len, vms_protect_fn fn,
                                 void *user) {
    vms_cursor_t c;
    int err = vms_cursor_open(&c, s, va, len);
    if (err) return err;
    err = vms_cursor_protect_fn(&c, len, fn, user);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_harvest(vms_space_t *s, uint64_t va, uint64_t len, vms_harvest_t *h) {
    vms_cursor_t c;
    int err = vms_cursor_open(&c, s, va, len);
    if (err) return err;
    err = vms_cursor_harvest(&c, len, h);
    vms_cursor_close(&c);
    return err;
}

VMS_API int vms_space_query(const vms_space_t *s, uint64_t va, vms_mapping_t *out) {
    const uint64_t *t = vms__tbl(s, s->root_pa);
    uint64_t lin;
    int l = s->levels, rc;
    if (!vms_addr_is_canonical(va, s->levels)) return VMS_ERR_NONCANON;
    lin = vms__lin(s, va);
    vms_read_enter(s);
    for (;;) {
        uint64_t e = vms__pte_get(&t[vms_addr_index(lin, l)]);
        if (!vms_pte_is_used(e)) {
            rc = VMS_ERR_NOENT;
            break;
        }
        if (vms_pte_is_leaf(e, l)) {
            vms__fill_mapping(s, lin, e, l, out);
            rc = VMS_OK;
            break;
        }
        t = vms__tbl(s, vms_pte_table_pa(e));
        l--;
    }
    vms_read_leave(s);
    return rc;
}

VMS_API int vms_space_enumerate(const vms_space_t *s,
                                int (*fn)(void *user, const vms_mapping_t *m), void *user) {
    vms_cursor_t c;
    vms_mapping_t m;
    int rc = VMS_OK;
    /* The cursor only reads here; it needs a mutable space pointer for its type. It holds a
     * concurrent space's lock, so fn sees one state of the space. */
    (void)vms__cursor_begin(&c, (vms_space_t *)(uintptr_t)s, 0, vms__top(s), false);
    while (vms_cursor_next(&c, &m)) {
        rc = fn(user, &m);
        if (rc) break;
    }
    vms_cursor_close(&c);
    return rc;
}

/* What s holds: its own tables and mappings and those of the range it shares. */
VMS__PRIVATE vms_stats_t vms__totals(const vms_space_t *s) {
    vms_stats_t t = s->counts;
    int i;
    if (s->share) {
        t.table_pages += s->share->counts.table_pages;
        for (i = 0; i < 3; i++) t.mapped_bytes[i] += s->share->counts.mapped_bytes[i];
    }
    return t;
}

VMS_API void vms_space_stats(const vms_space_t *s, vms_stats_t *out) {
    vms_space_t *w = (vms_space_t *)(uintptr_t)s; /* the lock is the only write */
    vms__space_lock(w);
    *out = vms__totals(s);
    vms__space_unlock(w);
}

/* >>impl-translate */

VMS_API bool vms_translate_access(const vms_space_t *s, uint64_t va, unsigned access,
                                  vms_access_result_t *out) {
    const uint64_t *t = vms__tbl(s, s->root_pa);
    uint64_t e = 0, lin, mask;
    bool w = true, u = true, x = true;
    int l = s->levels;
    out->pa = 0;
    out->prop = 0;
    out->level = l;
    if (!vms_addr_is_canonical(va, s->levels)) {
        out->fault = VMS_FAULT_NONCANONICAL;
        return false;
    }
    lin = vms__lin(s, va);
    for (;;) {
        e = vms__pte_get(&t[vms_addr_index(lin, l)]);
        out->level = l;
        if (!vms_pte_present(e)) {
            out->fault = VMS_FAULT_NOT_PRESENT;
            return false;
        }
        w = w && vms_pte_writable(e);
        u = u && vms_pte_user(e);
        x = x && vms_pte_executable(e);
        if (vms_pte_is_leaf(e, l)) break;
        t = vms__tbl(s, vms_pte_table_pa(e));
        l--;
    }
    if ((access & VMS_ACCESS_USER) && !u) out->fault = VMS_FAULT_USER;
    else if ((access & VMS_ACCESS_WRITE) && !w) out->fault = VMS_FAULT_WRITE;
    else if ((access & VMS_ACCESS_EXEC) && !x) out->fault = VMS_FAULT_EXEC;
    else out->fault = VMS_FAULT_NONE;
    if (out->fault != VMS_FAULT_NONE) return false;
    mask = VMS__SIZE(l) - 1u;
    out->pa = vms_pte_leaf_pa(e, l) | (va & mask);
    out->prop = VMS_R | (w ? VMS_W : 0u) | (u ? VMS_USER : 0u) | (x ? VMS_X : 0u);
    return true;
}

/* >>impl-activate */

VMS_API void vms_machine_init(vms_machine_t *m) { VMS_MEMSET(m, 0, sizeof *m); }

VMS_API vms_space_t *vms_machine_current(const vms_machine_t *m, int cpu) {
    if (cpu < 0 || cpu >= VMSPACE_MAX_CPUS) return NULL;
    return m->current[cpu];
}

VMS_API int vms_space_attach(vms_space_t *s, vms_machine_t *m) {
    if (!m || s->machine) return VMS_ERR_ARG;
    s->machine = m;
    s->generation = vms__generation_start(m, s->generation);
    return VMS_OK;
}

VMS_API int vms_space_activate(vms_space_t *s, int cpu) {
    vms_machine_t *mc = s->machine;
    vms_space_t *prev;
    uint64_t bit, cr3;
    if (!mc) return VMS_ERR_ARG;
    if (cpu < 0 || cpu >= VMSPACE_MAX_CPUS) return VMS_ERR_CPU;
    prev = mc->current[cpu];
    if (prev == s) return VMS_OK; /* already loaded: nothing to do */
    bit = (uint64_t)1 << cpu;
    /* Under each space's lock, one at a time: a cursor flushing either space sees the CPU
     * in its set or sees the switch complete. */
    if (prev) {
        vms__space_lock(prev);
        prev->active_cpus &= ~bit;
        vms__space_unlock(prev);
    }
    vms__space_lock(s);
    s->active_cpus |= bit;
    mc->current[cpu] = s;
    cr3 = s->root_pa;
    if (s->pcid) {
        bool valid = s->pcids[cpu] && s->pcid_epoch[cpu] == mc->pcid_epoch[cpu];
        if (!valid) {
            /* Out of PCIDs: start a new epoch. Every PCID handed out before is void, and
             * each is flushed on its next first use, since that load lacks the no-flush bit. */
            if (mc->next_pcid[cpu] == 0 || mc->next_pcid[cpu] > VMSPACE_MAX_PCID) {
                mc->next_pcid[cpu] = 1;
                mc->pcid_epoch[cpu]++;
            }
            s->pcids[cpu] = mc->next_pcid[cpu]++;
            s->pcid_epoch[cpu] = mc->pcid_epoch[cpu];
        }
        cr3 |= s->pcids[cpu];
        /* Keep the TLB entries only if no flush for this space was skipped while it was
         * away from this CPU. */
        if (valid && !(s->pcid_stale & bit)) cr3 |= VMS_CR3_NOFLUSH;
        s->pcid_stale &= ~bit;
    }
    if (s->load_cr3) s->load_cr3(s->hook_user, cpu, cr3);
    vms__space_unlock(s);
    return VMS_OK;
}

VMS_API int vms_space_deactivate(vms_space_t *s, int cpu) {
    if (!s->machine) return VMS_ERR_ARG;
    if (cpu < 0 || cpu >= VMSPACE_MAX_CPUS) return VMS_ERR_CPU;
    vms__space_lock(s);
    if (s->machine->current[cpu] == s) {
        s->machine->current[cpu] = NULL;
        s->active_cpus &= ~((uint64_t)1 << cpu);
    }
    vms__space_unlock(s);
    return VMS_OK;
}

/* >>impl-swtlb */

VMS_API void vms_swtlb_flush(vms_swtlb_t *t) {
    unsigned i;
    for (i = 0; i < VMSPACE_SWTLB_ENTRIES; i++) t->e4k[i].tag = UINT64_MAX;
    for (i = 0; i < VMSPACE_SWTLB_ENTRIES / 4; i++) t->e2m[i].tag = UINT64_MAX;
    for (i = 0; i < 4; i++) t->e1g[i].tag = UINT64_MAX;
    t->generation = vms__generation(t->space);
    t->huge = 0;
}

VMS_API void vms_swtlb_init(vms_swtlb_t *t, const vms_space_t *s) {
    t->space = s;
    t->misses = 0;
    vms_swtlb_flush(t);
}

VMS_API void vms__swtlb_put_huge(vms_swtlb_t *t, uint64_t va, uint64_t pa, int l) {
    vms_swtlb_entry_t *slot =
        l == 2 ? &t->e2m[(va >> 21) & (VMSPACE_SWTLB_ENTRIES / 4 - 1)] : &t->e1g[(va >> 30) & 3];
    slot->tag = va >> VMS__SHIFT(l);
    slot->base = pa - va;
    t->huge = 1;
}

/* >>impl-copy */

#define VMS__COPY_FROM 0
#define VMS__COPY_TO 1
#define VMS__COPY_FILL 2
#define VMS__CHECK_READ 3  /* check the pages, move nothing */
#define VMS__CHECK_WRITE 4

/* The host pointer for [pa, pa + n) if the provider lets us touch it, else NULL. */
VMS__PRIVATE uint8_t *vms__phys_ptr(const vms_space_t *s, uint64_t pa, uint64_t n) {
    if (pa < s->prov.direct_map_lo || pa >= s->prov.phys_limit || n > s->prov.phys_limit - pa)
        return NULL;
    return (uint8_t *)(s->direct_map + (uintptr_t)pa);
}

/* Check [va, va + len) page by page for `access`; stop at the first fault. With mode >= 0
 * also move the bytes of each allowed page. Returns VMS_OK or VMS_ERR_FAULT. */
VMS__PRIVATE int vms__copy_walk(const vms_space_t *s, uint64_t va, uint64_t len, int mode,
                                uint8_t *buf, int fill, vms_copy_result_t *r) {
    bool write = mode == VMS__COPY_TO || mode == VMS__COPY_FILL || mode == VMS__CHECK_WRITE;
    unsigned access = VMS_ACCESS_USER | (write ? VMS_ACCESS_WRITE : 0u);
    vms_copy_result_t tmp;
    if (!r) r = &tmp;
    r->done = 0;
    r->fault_va = 0;
    r->fault = VMS_FAULT_NONE;
    if (len && va + (len - 1u) < va) return VMS_ERR_OVERFLOW;
    while (r->done < len) {
        vms_access_result_t a;
        uint64_t cur = va + r->done, chunk;
        uint8_t *host;
        if (!vms_translate_access(s, cur, access, &a)) {
            r->fault_va = cur;
            r->fault = a.fault;
            return VMS_ERR_FAULT;
        }
        chunk = VMS__SIZE(a.level) - (cur & (VMS__SIZE(a.level) - 1u));
        if (chunk > len - r->done) chunk = len - r->done;
        host = vms__phys_ptr(s, a.pa, chunk);
        if (!host) {
            r->fault_va = cur;
            r->fault = VMS_FAULT_PHYS;
            return VMS_ERR_FAULT;
        }
        if (mode == VMS__COPY_FROM) VMS_MEMCPY(buf + r->done, host, chunk);
        else if (mode == VMS__COPY_TO) VMS_MEMCPY(host, buf + r->done, chunk);
        else if (mode == VMS__COPY_FILL) VMS_MEMSET(host, fill, chunk);
        r->done += chunk;
    }
    return VMS_OK;
}

/* In a read section: a concurrent unmap cannot free a table the copy is walking. (The frames
 * it copies are the caller's; vmspace does not own them.) */
VMS__PRIVATE int vms__copy(const vms_space_t *s, uint64_t va, uint64_t len, int mode,
                           uint8_t *buf, int fill, vms_copy_result_t *r) {
    int rc;
    vms_read_enter(s);
    rc = vms__copy_walk(s, va, len, mode, buf, fill, r);
    vms_read_leave(s);
    return rc;
}

VMS_API int vms_copy_from(const vms_space_t *s, void *dst, uint64_t va, uint64_t len,
                          vms_copy_result_t *r) {
    return vms__copy(s, va, len, VMS__COPY_FROM, (uint8_t *)dst, 0, r);
}

VMS_API int vms_copy_to(vms_space_t *s, uint64_t va, const void *src, uint64_t len,
                        vms_copy_result_t *r) {
    /* The buffer is only read in this mode. */
    return vms__copy(s, va, len, VMS__COPY_TO, (uint8_t *)(uintptr_t)src, 0, r);
}

VMS_API int vms_fill(vms_space_t *s, uint64_t va, int b, uint64_t len, vms_copy_result_t *r) {
    return vms__copy(s, va, len, VMS__COPY_FILL, NULL, b, r);
}

/* Small values: check every page first, then copy, so a fault copies nothing. */
VMS_API int vms_read_val(const vms_space_t *s, uint64_t va, void *dst, uint64_t len,
                         vms_copy_result_t *r) {
    int err;
    if (len > 64) return VMS_ERR_ARG;
    err = vms__copy(s, va, len, VMS__CHECK_READ, NULL, 0, r);
    if (err) {
        if (r) r->done = 0;
        return err;
    }
    return vms__copy(s, va, len, VMS__COPY_FROM, (uint8_t *)dst, 0, r);
}

VMS_API int vms_write_val(vms_space_t *s, uint64_t va, const void *src, uint64_t len,
                          vms_copy_result_t *r) {
    vms_copy_result_t tmp;
    int err;
    if (len > 64) return VMS_ERR_ARG;
    if (!r) r = &tmp;
    err = vms__copy(s, va, len, VMS__CHECK_WRITE, NULL, 0, r);
    if (err) {
        r->done = 0;
        return err;
    }
    return vms__copy(s, va, len, VMS__COPY_TO, (uint8_t *)(uintptr_t)src, 0, r);
}

/* >>impl-dump */

/* A tiny formatter, so the dump needs no libc. */
typedef struct vms__line_s {
    char buf[192];
    unsigned n;
} vms__line_t;

VMS__PRIVATE void vms__put(vms__line_t *l, const char *str) {
    while (*str && l->n + 1 < sizeof l->buf) l->buf[l->n++] = *str++;
    l->buf[l->n] = 0;
}

VMS__PRIVATE void vms__put_hex(vms__line_t *l, uint64_t v, int digits) {
    char tmp[19];
    int i;
    tmp[0] = '0';
    tmp[1] = 'x';
    for (i = 0; i < digits; i++)
        tmp[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 15];
    tmp[2 + digits] = 0;
    vms__put(l, tmp);
}

VMS__PRIVATE void vms__put_size(vms__line_t *l, uint64_t bytes, int width) {
    static const char units[] = "KMGTPE";
    char tmp[24];
    int u = 0, n = 0, i;
    uint64_t v = bytes >> 10;
    while (v >= 1024 && !(v & 1023) && u < 5) {
        v >>= 10;
        u++;
    }
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = n + 1; i < width; i++) vms__put(l, " ");
    while (n) {
        char c[2];
        c[0] = tmp[--n];
        c[1] = 0;
        vms__put(l, c);
    }
    {
        char c[2];
        c[0] = units[u];
        c[1] = 0;
        vms__put(l, c);
    }
}

VMS__PRIVATE void vms__dump_run(const vms_mapping_t *m, uint64_t len,
                                void (*out)(void *, const char *), void *user) {
    static const char *const cache[8] = {"WB  ", "WT  ", "WC  ", "UC  ",
                                         "PAT4", "PAT5", "PAT6", "PAT7"};
    vms__line_t l;
    vms_prop_t p = m->prop;
    l.n = 0;
    l.buf[0] = 0;
    vms__put_hex(&l, m->va, 16);
    vms__put(&l, "-");
    /* A run that ends at the top of the high half ends at 2^64, which 64 bits cannot hold. */
    if (m->va + len == 0) vms__put(&l, "0x10000000000000000");
    else vms__put_hex(&l, m->va + len, 16);
    vms__put(&l, " ");
    vms__put_size(&l, len, 8);
    vms__put(&l, " ");
    vms__put(&l, m->size == VMS_PAGE_4K ? "pte" : m->size == VMS_PAGE_2M ? "pmd" : "pud");
    vms__put(&l, (p & (VMS_R | VMS_W | VMS_X)) ? "  " : "  none ");
    if (p & (VMS_R | VMS_W | VMS_X)) {
        vms__put(&l, (p & VMS_R) ? "r" : "-");
        vms__put(&l, (p & VMS_W) ? "w" : "-");
        vms__put(&l, (p & VMS_X) ? "x" : "-");
        vms__put(&l, "  ");
    }
    vms__put(&l, (p & VMS_USER) ? "USR " : "    ");
    vms__put(&l, (p & VMS_GLOBAL) ? "GLB " : "    ");
    vms__put(&l, cache[VMS_PROP_CACHE(p) & 7u]);
    vms__put(&l, "  pa ");
    vms__put_hex(&l, m->pa, 13);
    vms__put(&l, "-");
    vms__put_hex(&l, m->pa + len, 13);
    out(user, l.buf);
}

VMS_API void vms_space_dump(const vms_space_t *s, void (*out)(void *user, const char *line),
                            void *user) {
    vms_cursor_t c;
    vms_mapping_t m, run;
    vms_stats_t st;
    uint64_t run_len = 0;
    vms__line_t l;
    l.n = 0;
    l.buf[0] = 0;
    vms__put(&l, "---[ vmspace: ");
    vms__put(&l, s->levels == 5 ? "5-level" : "4-level");
    vms__put(&l, ", root ");
    vms__put_hex(&l, s->root_pa, 13);
    vms__put(&l, " ]---");
    out(user, l.buf);
    (void)vms__cursor_begin(&c, (vms_space_t *)(uintptr_t)s, 0, vms__top(s), false);
    VMS_MEMSET(&run, 0, sizeof run);
    while (vms_cursor_next(&c, &m)) {
        /* Merge pages that continue the run in VA and PA with the same size and property. */
        if (run_len && m.va == run.va + run_len && m.pa == run.pa + run_len &&
            m.size == run.size && m.prop == run.prop) {
            run_len += m.size;
            continue;
        }
        if (run_len) vms__dump_run(&run, run_len, out, user);
        run = m;
        run_len = m.size;
    }
    if (run_len) vms__dump_run(&run, run_len, out, user);
    l.n = 0;
    l.buf[0] = 0;
    st = vms__totals(s);
    vms__put(&l, "---[ table pages: ");
    vms__put_size(&l, st.table_pages * VMS_PAGE_4K, 0);
    vms__put(&l, "; mapped by 4K pages: ");
    vms__put_size(&l, st.mapped_bytes[0], 0);
    vms__put(&l, ", by 2M pages: ");
    vms__put_size(&l, st.mapped_bytes[1], 0);
    vms__put(&l, ", by 1G pages: ");
    vms__put_size(&l, st.mapped_bytes[2], 0);
    vms__put(&l, " ]---");
    vms_cursor_close(&c);
    out(user, l.buf);
}

/* >>impl-save */

/* A concurrent space is saved under its lock, with no table waiting for its grace period
 * (the image holds only reachable tables and free frames). */
VMS__PRIVATE void vms__save_lock(const vms_space_t *cs) {
    vms_space_t *s = (vms_space_t *)(uintptr_t)cs;
    vms__space_lock(s);
    if (s->reclaim.barrier) s->reclaim.barrier(s->reclaim.user);
    vms__free_reclaimed(s);
}

#ifndef VMSPACE_NO_STDLIB
VMS__PRIVATE void vms__le64(uint8_t *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
VMS__PRIVATE uint64_t vms__rd64(const uint8_t *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

VMS__PRIVATE void vms__save_header(const vms_space_t *s, uint8_t h[64]) {
    VMS_MEMSET(h, 0, 64);
    VMS_MEMCPY(h, VMS_SAVE_MAGIC, 8);
    h[8] = 1;
    h[12] = (uint8_t)s->levels;
    if (s->phys_limit != VMS_PHYS_LIMIT) { /* 0 keeps files of the default width as before */
        while (((uint64_t)1 << h[13]) < s->phys_limit) h[13]++;
    }
    vms__le64(h + 16, s->root_pa);
    vms__le64(h + 24, s->arena.phys_base);
    vms__le64(h + 32, s->arena.bump);
    vms__le64(h + 40, s->arena.free_head);
    vms__le64(h + 48, s->arena.frames_in_use);
    vms__le64(h + 56, s->arena.size);
}

VMS_API int vms_space_save(const vms_space_t *s, const char *path) {
    uint8_t h[64];
    FILE *f;
    int ok;
    if (!s || !s->owns_arena || !path) return VMS_ERR_ARG;
    f = fopen(path, "wb");
    if (!f) return VMS_ERR_IO;
    vms__save_lock(s);
    vms__save_header(s, h);
    ok = fwrite(h, 1, sizeof h, f) == sizeof h &&
         fwrite(s->arena.base, 1, (size_t)s->arena.bump, f) == (size_t)s->arena.bump;
    vms__space_unlock((vms_space_t *)(uintptr_t)s);
    ok = (fclose(f) == 0) && ok;
    return ok ? VMS_OK : VMS_ERR_IO;
}

VMS_API int vms_space_save_mem(const vms_space_t *s, void *buf, size_t cap, size_t *len) {
    bool fits;
    if (!s || !s->owns_arena || !len) return VMS_ERR_ARG;
    vms__save_lock(s);
    *len = 64u + (size_t)s->arena.bump;
    fits = buf && cap >= *len;
    if (fits) {
        vms__save_header(s, (uint8_t *)buf);
        VMS_MEMCPY((uint8_t *)buf + 64, s->arena.base, (size_t)s->arena.bump);
    }
    vms__space_unlock((vms_space_t *)(uintptr_t)s);
    return fits ? VMS_OK : VMS_ERR_SMALL;
}

VMS__PRIVATE bool vms__magic_differs(const uint8_t *h) {
    int i;
    for (i = 0; i < 8; i++)
        if (h[i] != (uint8_t)VMS_SAVE_MAGIC[i]) return true;
    return false;
}

/* The header of a saved space, read and checked against the length of the data it heads. */
typedef struct vms__image_s {
    int levels;
    unsigned phys_bits;
    uint64_t root, base, len, free_head, size, meta;
} vms__image_t;

VMS__PRIVATE int vms__image_header(vms__image_t *im, const uint8_t *h, uint64_t data_len) {
    uint64_t limit;
    if (data_len < 64 || vms__magic_differs(h)) return VMS_ERR_FORMAT;
    if ((vms__rd64(h + 8) & 0xffffffffu) != 1 || (h[12] != 4 && h[12] != 5) || h[14] || h[15])
        return VMS_ERR_FORMAT;
    im->levels = h[12];
    im->phys_bits = h[13] ? h[13] : VMS_PHYS_BITS;
    if (im->phys_bits < 32 || im->phys_bits > VMS_PHYS_BITS) return VMS_ERR_FORMAT;
    limit = (uint64_t)1 << im->phys_bits;
    im->root = vms__rd64(h + 16);
    im->base = vms__rd64(h + 24);
    im->len = vms__rd64(h + 32);
    im->free_head = vms__rd64(h + 40);
    im->size = vms__rd64(h + 56);
    /* The image is exactly the rest of the data, inside the arena, inside the width. */
    if (im->len != data_len - 64 || !im->len || (im->len & (VMS_PAGE_4K - 1)))
        return VMS_ERR_FORMAT;
    /* No arena starts at physical 0 (0 asks vms_arena_init for the default base). */
    if (!im->base || (im->base & (VMS_PAGE_2M - 1)) || im->base >= limit) return VMS_ERR_FORMAT;
    if (im->size < im->len || (im->size & (VMS_PAGE_4K - 1)) || im->size > limit - im->base)
        return VMS_ERR_FORMAT;
    /* The metadata array is part of the image, which bounds the arena by the data: no header
     * can make a short file reserve more than 512 times its length. */
    im->meta = vms_arena_meta_bytes(im->size);
    if (im->len <= im->meta) return VMS_ERR_FORMAT;
    if ((im->root & (VMS_PAGE_4K - 1)) || im->root < im->base + im->meta ||
        im->root >= im->base + im->len)
        return VMS_ERR_FORMAT;
    if (vms__rd64(h + 48) > (im->len - im->meta) >> 12) return VMS_ERR_FORMAT; /* in use */
    return VMS_OK;
}

/* Frame of the image at pa (a metadata slot to rebuild), or NULL outside the frames that may
 * hold tables: past the metadata, before the end of the image. */
VMS__PRIVATE vms_table_meta_t *vms__image_frame(const vms_space_t *s, const vms__image_t *im,
                                                uint64_t pa) {
    if ((pa & (VMS_PAGE_4K - 1)) || pa < im->base + im->meta || pa - im->base >= im->len)
        return NULL;
    return (vms_table_meta_t *)(s->prov.meta_map + (uintptr_t)(pa >> 12) * 8u);
}

#define VMS__FREE_MARK 0x40u

/* Check and rebuild a loaded image in place. The image is hostile: the tables must form a
 * tree (every table reached once, from the root, on a frame of the image past the metadata,
 * at the level the saved metadata gives it, which is how a wrong level count shows), and
 * every entry must obey the rules the library writes by (vms__entry_fault). Child counts,
 * counters and frames in use are recomputed, never taken from the file; the free list must
 * be frames of the image that hold no table, each once. O(image size). `saved` is the
 * file's copy of the image, whose metadata the arena's copy overwrites. */
typedef struct vms__adopt_s {
    vms_space_t *s;
    const vms__image_t *im;
    const uint8_t *saved;
    uint64_t tables;
    unsigned used[VMS_MAX_LEVELS + 1];
} vms__adopt_t;

VMS__PRIVATE int vms__adopt_visit(void *user, vms__walk_t *w, int event, uint64_t e) {
    vms__adopt_t *a = (vms__adopt_t *)user;
    vms_space_t *s = a->s;
    int l = w->level;
    if (event == VMS__WALK_ENTER) { /* before the table is read: is it one of the image's? */
        uint64_t pa = vms__pa_of(s, w->tb[l]);
        vms_table_meta_t *m = vms__image_frame(s, a->im, pa);
        if (!m || m->level) return VMS_ERR_FORMAT; /* outside, or reached before */
        if (a->saved[((pa - a->im->base) >> 12) * 8u + 2u] != l) return VMS_ERR_FORMAT;
        m->level = (uint8_t)l;
        a->used[l] = 0;
        a->tables++;
    } else if (event == VMS__WALK_ENTRY) {
        if (vms__entry_fault(s, e, l)) return VMS_ERR_FORMAT;
        if (!vms_pte_is_used(e)) return 0;
        a->used[l]++;
        if (vms_pte_is_leaf(e, l)) s->counts.mapped_bytes[l - 1] += VMS__SIZE(l);
    } else {
        if (l != w->top && !a->used[l]) return VMS_ERR_FORMAT; /* an empty table */
        vms__meta(s, w->tb[l])->children = (uint16_t)a->used[l];
    }
    return 0;
}

VMS__PRIVATE int vms__image_adopt(vms_space_t *s, const vms__image_t *im, const uint8_t *saved) {
    vms__adopt_t a;
    vms_table_meta_t *m;
    uint64_t pa, i, frames = (im->len - im->meta) >> 12;
    int err;
    /* The file's metadata is derived data: start from zero slots (level 0 = not a table). */
    VMS_MEMSET(s->arena.base, 0, im->meta);
    s->root_pa = im->root;
    s->counts.mapped_bytes[0] = s->counts.mapped_bytes[1] = s->counts.mapped_bytes[2] = 0;
    a.s = s;
    a.im = im;
    a.saved = saved;
    a.tables = 0;
    err = vms__walk(s, vms__tbl(s, im->root), im->levels, 0, UINT64_MAX, vms__adopt_visit, &a);
    if (err) return err;
    /* The free list: frames of the image that hold no table, each once. */
    for (pa = im->free_head; pa; VMS_MEMCPY(&pa, vms__tbl(s, pa), 8)) {
        m = vms__image_frame(s, im, pa);
        if (!m || m->level || m->flags) return VMS_ERR_FORMAT;
        m->flags = VMS__FREE_MARK;
    }
    for (i = 0; i < frames; i++) { /* neither a table nor free: a data frame */
        m = vms__image_frame(s, im, im->base + im->meta + (i << 12));
        m->flags = (m->level || m->flags) ? 0 : VMS__DATA_MARK;
    }
    s->counts.table_pages = a.tables;
    s->arena.bump = im->len;
    s->arena.free_head = im->free_head;
    s->arena.frames_in_use = a.tables;
    return VMS_OK;
}

VMS_API int vms_space_load_mem(vms_space_t *s, const void *data, size_t len) {
    vms__image_t im;
    vms_space_desc_t d;
    int err;
    if (!s || !data) return VMS_ERR_ARG;
    err = vms__image_header(&im, (const uint8_t *)data, len);
    if (err) return err;
    VMS_MEMSET(&d, 0, sizeof d);
    d.levels = im.levels;
    d.phys_bits = im.phys_bits;
    d.arena.size = im.size; /* the same size, so the metadata array keeps its extent */
    d.arena.phys_base = im.base;
    err = vms_space_init(s, &d);
    if (err) return err;
    VMS_MEMCPY(s->arena.base, (const uint8_t *)data + 64, im.len);
    err = vms__image_adopt(s, &im, (const uint8_t *)data + 64);
    if (err) {
        vms_arena_destroy(&s->arena);
        VMS_MEMSET(s, 0, sizeof *s);
    }
    return err;
}

VMS_API int vms_space_load(vms_space_t *s, const char *path) {
    uint8_t *buf = NULL;
    long n;
    FILE *f;
    int err = VMS_ERR_IO;
    if (!s || !path) return VMS_ERR_ARG;
    f = fopen(path, "rb");
    if (!f) return VMS_ERR_IO;
    /* The whole file, so its length is known before the header is believed. */
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        if ((unsigned long)n < 64) {
            err = VMS_ERR_FORMAT;
        } else if ((buf = (uint8_t *)malloc((size_t)n)) == NULL) {
            err = VMS_ERR_NOMEM;
        } else if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
            err = vms_space_load_mem(s, buf, (size_t)n);
        }
    }
    free(buf);
    fclose(f);
    return err;
}
#endif

/* >>impl-debug */

#ifdef VMSPACE_DEBUG
typedef struct vms__check_s {
    const vms_space_t *s;
    const char *bad;
    uint64_t tables, bytes[3], most; /* most: the tables the space may hold */
    unsigned used[VMS_MAX_LEVELS + 1];
} vms__check_t;

VMS__PRIVATE int vms__check_visit(void *user, vms__walk_t *w, int event, uint64_t e) {
    vms__check_t *c = (vms__check_t *)user;
    const vms_space_t *s = c->s;
    const uint64_t *t = w->tb[w->level];
    int l = w->level;
    unsigned i;
    if (event == VMS__WALK_ENTER) {
        bool pinned = l == s->levels - 1 && vms__in_share(s, w->base[l], w->base[l] + 1u);
        if (++c->tables > c->most) c->bad = "table_reachable_once";
        else if (vms__meta(s, t)->level != l) c->bad = "table_level";
        else if (vms__meta(s, t)->flags != (pinned ? VMS__PINNED_MARK : 0)) c->bad = "table_pinned";
        if (c->bad) return -1;
        /* Every entry counts for the child count, in the range or not. */
        for (i = 0, c->used[l] = 0; i < VMS__ENTRIES; i++) {
            if (!vms_pte_is_used(t[i])) continue;
            c->used[l]++;
            if (vms_pte_is_leaf(t[i], l)) c->bytes[l - 1] += VMS__SIZE(l);
        }
    } else if (event == VMS__WALK_ENTRY) {
        c->bad = vms__entry_fault(s, e, l);
    } else if (vms__meta(s, t)->children != c->used[l]) {
        c->bad = "child_count";
    } else if (l != w->top && c->used[l] == 0 && vms__meta(s, t)->flags != VMS__PINNED_MARK) {
        c->bad = "no_empty_tables";
    }
    return c->bad ? -1 : 0;
}

/* Check the tables that cover the linear range [lo, hi): each at its level, with the right
 * child count, no empty table below the root, every entry in the range by the rules of
 * vms__entry_fault. Over the whole space the counters are checked too. It writes nothing: a
 * table reached twice shows as more tables than the space counts (levels only go down, so a
 * walk over tables that reference each other still ends). */
VMS__PRIVATE bool vms__check_walk(const vms_space_t *s, vms__check_t *c, uint64_t lo,
                                  uint64_t hi) {
    c->s = s;
    c->bad = NULL;
    c->tables = c->bytes[0] = c->bytes[1] = c->bytes[2] = 0;
    c->most = vms__totals(s).table_pages;
    (void)vms__walk(s, vms__tbl(s, s->root_pa), s->levels, lo, hi, vms__check_visit, c);
    return c->bad == NULL;
}

/* Whether what a walk counted is what st says (tables: besides the root, if `roots` is 0). */
VMS__PRIVATE bool vms__check_counts(const vms__check_t *c, const vms_stats_t *st,
                                    uint64_t roots) {
    return c->tables == st->table_pages + 1u - roots && c->bytes[0] == st->mapped_bytes[0] &&
           c->bytes[1] == st->mapped_bytes[1] && c->bytes[2] == st->mapped_bytes[2];
}

VMS__PRIVATE const char *vms__check_span(const vms_space_t *s, uint64_t lo, uint64_t hi) {
    vms__check_t c;
    vms_stats_t st = vms__totals(s);
    const vms_share_t *g = s->share;
    if (!vms__check_walk(s, &c, lo, hi) || lo != 0 || hi != vms__top(s)) return c.bad;
    if (c.tables != st.table_pages) return "table_pages_counter";
    if (!vms__check_counts(&c, &st, 1)) return "mapped_bytes_counter";
    if (g) { /* every member reaches the group's tables, and the group counts them */
        const uint64_t *r = vms__tbl(s, s->root_pa), *h = vms__tbl(s, g->members->root_pa);
        unsigned i;
        for (i = vms_addr_index(g->lo, s->levels); i <= vms_addr_index(g->hi - 1u, s->levels); i++)
            if (r[i] != h[i] || !vms_pte_is_used(r[i])) return "share_slot";
        (void)vms__check_walk(s, &c, g->lo, g->hi);
        if (!vms__check_counts(&c, &g->counts, 0)) return "share_counters";
    }
    return NULL;
}

VMS_API const char *vms_space_check(const vms_space_t *s) {
    const char *fault;
    vms__space_lock((vms_space_t *)(uintptr_t)s);
    fault = vms__check_span(s, 0, vms__top(s));
    vms__space_unlock((vms_space_t *)(uintptr_t)s);
    return fault;
}
#endif

#ifdef __cplusplus
}
#endif
#endif /* VMSPACE_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 The vmspace authors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
*/
