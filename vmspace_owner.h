/* vmspace_owner.h - reader and writer leases over the address ranges of a vmspace.
 *
 * A single-header C11 library (stb style) on top of vmspace.h. An owner wraps one space and
 * hands out leases: a reader lease lets its holder read [va, va + len), a writer lease lets it
 * read and write. The rules hold at run time in every build: a writer overlaps no other lease,
 * a reader overlaps no writer (and no other reader unless the owner allows shared reading), a
 * lease covers only mapped memory with the rights it needs, and while a lease lives the owner
 * refuses to unmap, protect or replace the memory under it. Leases live in two interval trees
 * (B-trees with cache-line nodes and per-child maximum ends), so a conflict check, a take and a
 * release are O(log n).
 *
 * Do this in exactly one .c file (VMSPACE_IMPLEMENTATION alone also switches this on, as
 * sokol's SOKOL_IMPL does):
 *
 *     #define VMSPACE_IMPLEMENTATION
 *     #include "vmspace.h"
 *     #define VMSPACE_OWNER_IMPLEMENTATION
 *     #include "vmspace_owner.h"
 *
 * TABLE OF CONTENTS (grep for the markers)
 *   >>config      compile-time options and the allocation hook
 *   >>itree       vms_itree: a B-tree of closed intervals [first, last] (public)
 *   >>lease       lease handles and their information
 *   >>owner       the owner: leases, copies through them, guarded mutations, queries
 *   >>debug       the invariant checker (only under VMSPACE_DEBUG)
 *   >>impl        the implementation
 *
 * COMPILE-TIME OPTIONS (define before including)
 *   VMSPACE_OWNER_IMPLEMENTATION  emit the definitions here (VMSPACE_IMPLEMENTATION does too).
 *   VMSPACE_OWNER_STATIC          make them static (VMSPACE_STATIC does too).
 *   VMSPACE_DEBUG                 per-lease snapshots and a full invariant check after every
 *                                 operation that changes leases or tables; without it none
 *                                 of that is compiled. All translation units of one program
 *                                 must agree on it (the lease slot layout depends on it).
 *   VMSPACE_NO_STDLIB             no malloc: pass an allocator in vms_owner_desc_t.
 *   VMS_TREE_MAX_DEPTH            deepest interval tree (default 16; 10^9 leases need 12).
 *   VMSPACE_ITREE_NODE_LINES      cache lines per interval-tree node (default 8); every
 *                                 translation unit of a program must agree on it.
 *
 * RUNTIME HOOKS
 *   vms_allocator_t  where the tree slabs and the lease registry live (default malloc/free).
 *   check_failed     under VMSPACE_DEBUG, called with the name of a broken invariant clause
 *                    (default: abort, or trap under VMSPACE_NO_STDLIB).
 *
 * SHARED CONTRACT (besides vmspace.h's)
 *   - Owner pointers are non-NULL and initialized; all changes to the space go through the
 *     owner while it exists (changes made around it void the guarantees; debug builds catch
 *     them at the next check).
 *   - Every allocation of an operation happens before it changes anything: VMS_ERR_NOMEM
 *     leaves leases and tables exactly as they were.
 *   - Threads: the owner of a concurrent space (vms_space_desc_t.concurrent) may be called
 *     from any number of threads at once: each call runs under the owner's lock, so a lease
 *     and a guarded unmap/protect of the same range are linearizable (the lease sees the
 *     range before or after the change, never half-changed) and "no unmap under a live
 *     lease" holds under any interleaving. Iterators, vms_owner_check and anything that
 *     needs a snapshot run between vms_owner_lock and vms_owner_unlock. Any other owner is
 *     the caller's to serialise.
 *
 * ACTIVE / INACTIVE (the seed's `active`): an inactive owner refuses with VMS_ERR_INACTIVE to
 * acquire leases (vms_lease_acquire) and to copy through them (vms_lease_read/write). Release,
 * the guarded mutations (vms_owner_map/unmap/protect), queries and checks work in both states,
 * so leases can always be ended and an inactive space can still be edited.
 *
 * vmspace_owner DOES NOT: pin frames or watch writes made around it (except for the debug
 * fingerprint of reader bytes).
 *
 * EXAMPLE
 *     vms_owner_t o;
 *     vms_lease_t w, blocker;
 *     vms_owner_init(&o, &space, NULL);                    // exclusive readers, active
 *     vms_lease_acquire(&o, VMS_LEASE_WRITE, 0x400000, 0x2000, &w, &blocker);
 *     vms_lease_write(&o, w, 0x400010, "hi", 2);
 *     vms_owner_unmap(&o, 0x400000, 0x1000, &blocker);     // VMS_ERR_BUSY, blocker == w
 *     vms_lease_release(&o, w);
 *     vms_owner_destroy(&o);
 *
 * COMPLEXITY: acquire is O(log n + m) for n live leases and m mappings under the range,
 * release and the conflict query O(log n), enumeration O(log n + k). Handles are 64-bit
 * values; owners and trees may move in memory between calls (nothing points into them).
 *
 * License: MIT (see the end of the file).
 */
#ifndef VMSPACE_OWNER_H_INCLUDED
#define VMSPACE_OWNER_H_INCLUDED

#include "vmspace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* >>config ------------------------------------------------------------------------------ */
/* Public: options and the allocation hook. */

#if defined(VMSPACE_OWNER_STATIC) || defined(VMSPACE_STATIC)
#define VMS_OWNER_API static VMS_MAYBE_UNUSED
#else
#define VMS_OWNER_API extern
#endif

#ifndef VMS_TREE_MAX_DEPTH
#define VMS_TREE_MAX_DEPTH 16
#endif
#if VMS_TREE_MAX_DEPTH < 4 || VMS_TREE_MAX_DEPTH > 64
#error "VMS_TREE_MAX_DEPTH must be between 4 and 64"
#endif

#ifdef __cplusplus
#define VMS__STATIC_ASSERT(c, msg) static_assert(c, msg)
#else
#define VMS__STATIC_ASSERT(c, msg) _Static_assert(c, msg)
#endif

/* Memory for tree slabs and the lease registry. Both functions or neither (then malloc/free,
 * which VMSPACE_NO_STDLIB does not have). alloc returns NULL on failure; free gets the size
 * that was allocated. */
typedef struct vms_allocator_s {
    void *(*alloc)(void *user, size_t size);
    void (*free)(void *user, void *ptr, size_t size);
    void *user;
} vms_allocator_t;

/* >>itree ------------------------------------------------------------------------------- */
/* Public building block: a B+-tree of closed intervals [first, last] keyed by (first, ref),
 * with the largest `last` of each child kept in its parent. The owner keeps one for readers
 * and one for writers; tests and other users may use it alone. Nodes are a whole number of
 * cache lines (VMSPACE_ITREE_NODE_LINES, default 8: 512 bytes) and come from one contiguous
 * slab that grows through the allocator and recycles freed nodes on a free list.
 *
 *   leaf  (25 entries):  n | first[25] | last[25] | ref[25]          search scans first[]
 *   inner (20 children): n | max[20] | child[20] | first[20] | ref[20]
 *                        (max and child serve an overlap query, first and ref a key search)
 *
 * In an inner node (first[i], ref[i]) for i >= 1 is a lower bound of the keys of child i and
 * greater than every key of child i - 1; max[i] is the largest `last` under child i. Every
 * node but the root holds at least half its capacity (12 entries, 10 children).
 *
 * Why 512 bytes: with 10^6 leases the bottom levels live in DRAM, and a wide node cuts the
 * depth (5 levels instead of 7 at 256 bytes), so a descent takes fewer dependent misses;
 * the whole node is prefetched at once, so its extra lines cost little more than one. */
#ifndef VMSPACE_ITREE_NODE_LINES
#define VMSPACE_ITREE_NODE_LINES 8
#endif
#define VMS_ITREE_NODE_SIZE (64 * VMSPACE_ITREE_NODE_LINES)
/* An 8-byte header; a leaf entry takes 20 bytes, an inner child 24 (an even count keeps the
 * 32-bit child[] array from misaligning the 64-bit first[] after it). */
#define VMS_ITREE_LEAF_CAP ((VMS_ITREE_NODE_SIZE - 8) / 20)
#define VMS_ITREE_INNER_CAP (((VMS_ITREE_NODE_SIZE - 8) / 24) & ~1)
#define VMS_ITREE_LEAF_MIN (VMS_ITREE_LEAF_CAP / 2)
#define VMS_ITREE_INNER_MIN (VMS_ITREE_INNER_CAP / 2)
#define VMS_ITREE_NIL UINT32_MAX

typedef struct vms_itree_node_s {
    uint16_t n;   /* entries (leaf) or children (inner) */
    uint8_t leaf; /* 1 for a leaf */
    uint8_t reserved;
    uint32_t next_free; /* free-list link while the node is free */
    union {
        struct {
            uint64_t first[VMS_ITREE_LEAF_CAP];
            uint64_t last[VMS_ITREE_LEAF_CAP];
            uint32_t ref[VMS_ITREE_LEAF_CAP];
        } l;
        struct { /* max and child: what a query descent reads; first and ref: the keys */
            uint64_t max[VMS_ITREE_INNER_CAP];
            uint32_t child[VMS_ITREE_INNER_CAP];
            uint64_t first[VMS_ITREE_INNER_CAP];
            uint32_t ref[VMS_ITREE_INNER_CAP];
        } in;
        unsigned char size[VMS_ITREE_NODE_SIZE - 8]; /* pads the node to whole lines */
    } u;
} vms_itree_node_t;
VMS__STATIC_ASSERT(sizeof(vms_itree_node_t) == VMS_ITREE_NODE_SIZE,
                   "a interval-tree node is exactly VMSPACE_ITREE_NODE_LINES cache lines");
VMS__STATIC_ASSERT(VMSPACE_ITREE_NODE_LINES >= 2 && VMSPACE_ITREE_NODE_LINES <= 64,
                   "VMSPACE_ITREE_NODE_LINES is 2 to 64");

typedef struct vms_itree_s {
    vms_itree_node_t *nodes; /* the slab, 64-byte aligned, `cap` nodes */
    void *raw;               /* the allocation holding the slab */
    size_t raw_size;
    uint32_t cap, bump; /* nodes [0, bump) have been handed out at least once */
    uint32_t free_head, free_count;
    uint32_t root;   /* VMS_ITREE_NIL when empty */
    uint32_t height; /* 0 when empty, 1 when the root is a leaf */
    uint64_t count;  /* entries */
    vms_allocator_t alloc;
} vms_itree_t;

/* An entry: the interval [first, last] and the caller's 32-bit reference. */
typedef struct vms_itree_entry_s {
    uint64_t first, last;
    uint32_t ref;
} vms_itree_entry_t;

/* Iterator over the entries that overlap [first, last], in (first, ref) order. Any insert or
 * remove invalidates it. */
typedef struct vms_itree_iter_s {
    const vms_itree_t *t;
    uint64_t first, last;
    int depth; /* -1 when finished */
    uint32_t node[VMS_TREE_MAX_DEPTH];
    uint16_t idx[VMS_TREE_MAX_DEPTH];
} vms_itree_iter_t;

/* An empty tree. alloc may be NULL (malloc/free). @return VMS_OK, VMS_ERR_ARG (only one of
 * the two hooks, or no hooks under VMSPACE_NO_STDLIB). */
VMS_NODISCARD VMS_OWNER_API int vms_itree_init(vms_itree_t *t, const vms_allocator_t *alloc);
/* Free the slab. */
VMS_OWNER_API void vms_itree_destroy(vms_itree_t *t);
/* Make sure the next insert cannot fail (grows the slab if needed). @return VMS_OK or
 * VMS_ERR_NOMEM (the tree is unchanged). */
VMS_NODISCARD VMS_OWNER_API int vms_itree_reserve(vms_itree_t *t);
/* Insert [first, last] with reference ref. @pre first <= last; (first, ref) not present.
 * @return VMS_OK or VMS_ERR_NOMEM (the tree is unchanged). */
VMS_NODISCARD VMS_OWNER_API int vms_itree_insert(vms_itree_t *t, uint64_t first, uint64_t last,
                                                 uint32_t ref);
/* Remove the entry with key (first, ref). @return true if it was there. Never allocates. */
VMS_OWNER_API bool vms_itree_remove(vms_itree_t *t, uint64_t first, uint32_t ref);
/* The first entry (in key order) that overlaps [first, last]. @return true if one does. */
VMS_OWNER_API bool vms_itree_first_overlap(const vms_itree_t *t, uint64_t first, uint64_t last,
                                           vms_itree_entry_t *out);
/* Start an iteration over the entries overlapping [first, last]; *out gets the first one.
 * @return false if there is none. */
VMS_OWNER_API bool vms_itree_iter_first(const vms_itree_t *t, uint64_t first, uint64_t last,
                                        vms_itree_iter_t *it, vms_itree_entry_t *out);
/* The next overlapping entry. @return false at the end. */
VMS_OWNER_API bool vms_itree_iter_next(vms_itree_iter_t *it, vms_itree_entry_t *out);
/* Bytes of slab memory the tree holds (capacity, not only live nodes). */
VMS_OWNER_API size_t vms_itree_bytes(const vms_itree_t *t);
/* Nodes in use (reachable). */
VMS_INLINE uint32_t vms_itree_nodes_live(const vms_itree_t *t) { return t->bump - t->free_count; }

/* >>lease ------------------------------------------------------------------------------- */
/* Public: handles. A handle packs a registry slot index (low 32 bits) and that slot's
 * generation (high 32 bits, never 0), so 0 is never a valid handle and a stale handle is
 * recognised without touching freed memory. A slot whose generation would wrap is retired. */
typedef struct vms_lease_s {
    uint64_t id;
} vms_lease_t;
#define VMS_LEASE_INVALID_ID 0u

typedef enum vms_lease_kind {
    VMS_LEASE_READ = 1, /* read only; may share memory with other readers in shared mode */
    VMS_LEASE_WRITE = 2 /* read and write; exclusive */
} vms_lease_kind;

typedef struct vms_lease_info_s {
    vms_lease_t handle;
    uint64_t serial; /* fresh per lease, never reused by this owner (the seed's new_vm_io_id) */
    uint64_t va, len;
    vms_lease_kind kind;
} vms_lease_info_t;

/* One registry slot (implementation detail, visible for sizing and tests). */
typedef struct vms__lease_slot_s {
    uint64_t serial; /* 0 while the slot is free */
    uint64_t first, last;
    uint32_t gen;  /* generation of the current (or next) handle; 0 = retired */
    uint32_t next; /* free-list link */
    uint32_t kind;
    uint32_t reserved;
#ifdef VMSPACE_DEBUG
    uint64_t view_digest;  /* XXH3 of the translation of [first, last] when taken */
    uint64_t bytes_digest; /* readers: XXH3 of the bytes when taken */
#endif
} vms__lease_slot_t;

/* >>owner ------------------------------------------------------------------------------- */
/* Public: the owner. */

/* Set-up of an owner; all zero means: exclusive readers, active, malloc/free. */
typedef struct vms_owner_desc_s {
    bool shared_reader;        /* readers may overlap each other */
    bool inactive;             /* start inactive (see ACTIVE / INACTIVE above) */
    vms_allocator_t allocator; /* both hooks or neither */
    /* Under VMSPACE_DEBUG: called with the broken clause after a failed check; if it returns,
     * the operation returns normally. NULL = abort. Ignored without VMSPACE_DEBUG. */
    void (*check_failed)(void *user, const char *clause);
    void *check_user;
} vms_owner_desc_t;

typedef struct vms_owner_s {
    vms_space_t *space;
    bool shared_reader;
    bool active;
    uint64_t next_serial;
    vms_itree_t readers, writers;
    vms__lease_slot_t *slots;
    uint32_t slot_cap, slot_used, slot_free;
    uint64_t writer_bytes; /* sum of the writers' lengths */
    vms_allocator_t alloc;
    void (*check_failed)(void *user, const char *clause);
    void *check_user;
    uint32_t lock; /* of an owner of a concurrent space: see vms_owner_lock */
} vms_owner_t;

typedef struct vms_owner_stats_s {
    uint64_t readers, writers;
    size_t tree_bytes;      /* both slabs (capacity) */
    size_t tree_bytes_live; /* nodes in use x VMS_ITREE_NODE_SIZE (512 bytes by default) */
    size_t registry_bytes;  /* the handle slots (capacity) */
} vms_owner_stats_t;

/* Iterator over the leases overlapping a range, in VA order (readers and writers merged).
 * Any change to the owner invalidates it. */
typedef struct vms_owner_iter_s {
    const vms_owner_t *o;
    vms_itree_iter_t r, w;
    vms_itree_entry_t re, we;
    bool rv, wv;
} vms_owner_iter_t;

/* Create an owner over space s (which must outlive it). desc may be NULL. It guards the
 * changes made through s: a range s shares (vms_share_init) can change through the other
 * members too, whose owners do not see these leases, so change a shared range through one
 * member and its owner only.
 * @return VMS_OK, VMS_ERR_ARG (one allocator hook without the other). */
VMS_NODISCARD VMS_OWNER_API int vms_owner_init(vms_owner_t *o, vms_space_t *s,
                                               const vms_owner_desc_t *desc);
/* Free the owner's memory (not the space). @return VMS_OK, or VMS_ERR_BUSY (nothing freed)
 * while any lease lives. */
VMS_OWNER_API int vms_owner_destroy(vms_owner_t *o);
/* Mark the owner active or inactive (the seed's `active`). */
VMS_OWNER_API void vms_owner_set_active(vms_owner_t *o, bool active);
VMS_INLINE bool vms_owner_is_active(const vms_owner_t *o) { return o->active; }

/* Take a lease of `kind` over [va, va + len). The whole range must be mapped, readable, and
 * for a writer writable. Checks, in order: kind, range, active, conflicts, mappings, memory.
 * @pre out non-NULL; blocker may be NULL.
 * @return VMS_OK (*out = the new lease), VMS_ERR_ARG (bad kind), the range errors of
 *         vms_space_check_range (VMS_ERR_ZEROLEN, VMS_ERR_NONCANON, VMS_ERR_ALIGN,
 *         VMS_ERR_OVERFLOW), VMS_ERR_INACTIVE, VMS_ERR_CONFLICT (*blocker = the first
 *         conflicting lease in VA order), VMS_ERR_NOENT (a hole), VMS_ERR_PERM (a page lacks
 *         R, or W for a writer), VMS_ERR_NOMEM. On failure *out is invalid and nothing
 *         changed. */
VMS_NODISCARD VMS_OWNER_API int vms_lease_acquire(vms_owner_t *o, vms_lease_kind kind, uint64_t va,
                                                  uint64_t len, vms_lease_t *out,
                                                  vms_lease_t *blocker);
/* End a lease. Works on an inactive owner too.
 * @return VMS_OK, VMS_ERR_STALE (not a live lease: nothing changes), and under VMSPACE_DEBUG
 *         for a reader: VMS_ERR_TAMPERED if its bytes changed while it lived (a write went
 *         around the owner), VMS_ERR_FAULT if part of its range was unmapped around the
 *         owner. Either way the lease is ended all the same. */
VMS_NODISCARD VMS_OWNER_API int vms_lease_release(vms_owner_t *o, vms_lease_t l);
/* Whether l is a live lease of this owner. */
VMS_OWNER_API bool vms_lease_is_live(const vms_owner_t *o, vms_lease_t l);
/* Information about a live lease. @return VMS_OK or VMS_ERR_STALE. */
VMS_NODISCARD VMS_OWNER_API int vms_lease_info(const vms_owner_t *o, vms_lease_t l,
                                               vms_lease_info_t *out);

/* Copy len bytes at va (inside the lease) to dst, through the tables, with the lease's rights
 * (supervisor access, page by page through the provider's direct map).
 * @return VMS_OK (len 0 included), VMS_ERR_STALE, VMS_ERR_INACTIVE, VMS_ERR_RANGE (not inside
 *         the lease), VMS_ERR_FAULT (a page lost its translation or its frame is outside the
 *         provider's [direct_map_lo, phys_limit); only possible after changes around the
 *         owner; bytes before it were copied). */
VMS_NODISCARD VMS_OWNER_API int vms_lease_read(const vms_owner_t *o, vms_lease_t l, uint64_t va,
                                               void *dst, uint64_t len);
/* Copy len bytes from src to va through a writer lease.
 * @return as vms_lease_read, plus VMS_ERR_PERM for a reader lease. */
VMS_NODISCARD VMS_OWNER_API int vms_lease_write(vms_owner_t *o, vms_lease_t l, uint64_t va,
                                                const void *src, uint64_t len);

/* vms_space_map through the owner: with VMS_MAP_REPLACE it refuses to replace memory under a
 * live lease; with VMS_MAP_COLLAPSE, to map where a live lease lies in a block the collapse
 * would reach. @return VMS_ERR_BUSY (*blocker = the first lease in the way, blocker may be
 *         NULL) or what vms_space_map returns. */
VMS_NODISCARD VMS_OWNER_API int vms_owner_map(vms_owner_t *o, uint64_t va, uint64_t pa,
                                              uint64_t len, vms_prop_t prop, uint32_t flags,
                                              vms_lease_t *blocker);
/* vms_space_unmap through the owner. @return VMS_ERR_BUSY (*blocker set) if a live lease
 *         overlaps the range, else what vms_space_unmap returns. */
VMS_NODISCARD VMS_OWNER_API int vms_owner_unmap(vms_owner_t *o, uint64_t va, uint64_t len,
                                                vms_lease_t *blocker);
/* vms_space_protect through the owner. @return VMS_ERR_BUSY (*blocker set) if a live lease
 *         overlaps the range, else what vms_space_protect returns. */
VMS_NODISCARD VMS_OWNER_API int vms_owner_protect(vms_owner_t *o, uint64_t va, uint64_t len,
                                                  vms_prop_t prop, vms_lease_t *blocker);
/* vms_space_protect_mask and vms_space_protect_fn through the owner: the arguments are
 * checked first, then a live lease over the range refuses them with VMS_ERR_BUSY
 * (*blocker set), as for protect. */
VMS_NODISCARD VMS_OWNER_API int vms_owner_protect_mask(vms_owner_t *o, uint64_t va, uint64_t len,
                                                       vms_prop_t set, vms_prop_t clear,
                                                       vms_lease_t *blocker);
VMS_NODISCARD VMS_OWNER_API int vms_owner_protect_fn(vms_owner_t *o, uint64_t va, uint64_t len,
                                                     vms_protect_fn fn, void *user,
                                                     vms_lease_t *blocker);
/* vms_space_clone from the owner's space into dst: with VMS_CLONE_COW, which takes W from
 * the owner's mappings, a live lease over the range refuses it (VMS_ERR_BUSY, *blocker set);
 * a plain clone changes nothing of the owner's and is never refused. */
VMS_NODISCARD VMS_OWNER_API int vms_owner_clone(vms_owner_t *o, vms_space_t *dst, uint64_t va,
                                                uint64_t len, uint32_t flags,
                                                vms_frames_fn shared, void *user,
                                                vms_lease_t *blocker);
/* vms_space_move and vms_space_collapse through the owner: the arguments are checked first
 * (ranges, overlap, flags), then a live lease over either range of the move (a reader of the
 * old one would lose its memory; a writer of the new one may be filling it) or over the
 * collapsed range refuses them (VMS_ERR_BUSY, *blocker set). */
VMS_NODISCARD VMS_OWNER_API int vms_owner_move(vms_owner_t *o, uint64_t old_va, uint64_t new_va,
                                               uint64_t len, vms_lease_t *blocker);
VMS_NODISCARD VMS_OWNER_API int vms_owner_collapse(vms_owner_t *o, uint64_t va, uint64_t len,
                                                   uint32_t flags, uint64_t *collapsed,
                                                   vms_lease_t *blocker);

/* The first lease (in VA order) that a new lease of `kind` over [va, va + len) would conflict
 * with (the seed's can_create_reader / can_create_writer, with shared_reader applied).
 * @return true and *out if there is one; false also for an empty or wrapping range. */
VMS_OWNER_API bool vms_owner_first_conflict(const vms_owner_t *o, vms_lease_kind kind, uint64_t va,
                                            uint64_t len, vms_lease_t *out);
/* The first lease of any kind overlapping [va, va + len). */
VMS_OWNER_API bool vms_owner_first_overlap(const vms_owner_t *o, uint64_t va, uint64_t len,
                                           vms_lease_t *out);
/* Enumerate the leases overlapping [va, va + len) in VA order (a range that would wrap is cut
 * at the top of the address space). @return false when there are none / no more. */
VMS_OWNER_API bool vms_owner_iter_first(const vms_owner_t *o, uint64_t va, uint64_t len,
                                        vms_owner_iter_t *it, vms_lease_info_t *out);
VMS_OWNER_API bool vms_owner_iter_next(vms_owner_iter_t *it, vms_lease_info_t *out);
/* Call fn for each lease overlapping [va, va + len) in VA order; stop when fn returns non-zero
 * and return that value. fn must not change the owner. */
VMS_OWNER_API int vms_owner_foreach(const vms_owner_t *o, uint64_t va, uint64_t len,
                                    int (*fn)(void *user, const vms_lease_info_t *l), void *user);
VMS_OWNER_API void vms_owner_stats(const vms_owner_t *o, vms_owner_stats_t *out);
/* Hold the owner of a concurrent space still: while a thread holds its lock, no lease is
 * taken or released and no guarded change runs (for iterators, vms_owner_check and
 * snapshots). Every other call takes the lock itself: never call them while holding it. */
VMS_OWNER_API void vms_owner_lock(vms_owner_t *o);
VMS_OWNER_API void vms_owner_unlock(vms_owner_t *o);

/* >>debug ------------------------------------------------------------------------------- */
/* Public under VMSPACE_DEBUG only. Each returns the name of the first broken clause, or NULL.
 *
 * vms_itree_check clauses: tree_nodes (slab indices, free list and reachable nodes add up),
 *   tree_balance (leaves at one depth), tree_fill (fill bounds), tree_order (keys strictly
 *   increasing, separators bound their children), tree_max (each stored maximum exact),
 *   tree_count.
 * vms_owner_check clauses, in the order they are checked:
 *   page tables well formed: the clause of vms_space_check (table_reachable_once,
 *     child_count, leaf_aligned, reserved_bits_clear, ...), plus pt_mappings_disjoint;
 *   registry (the seed's inv_with): registry_counts, registry_ids, registry_ranges, and the
 *     tree clauses for each tree;
 *   inv: writers_disjoint, readers_writers_disjoint, readers_disjoint (only without shared
 *     reading);
 *   mem_view_wf, coherent form: remaining_view_is_total_minus_writers (every writer's range
 *     is wholly translated with write rights, so total = remaining + writers),
 *     writer_view_agrees / reader_view_agrees (the translation of the range still equals the
 *     snapshot taken with the lease);
 *   reader_bytes_unchanged (a reader's bytes still hash as when it was taken).
 * After every operation that changes leases or tables the owner runs these checks except
 * reader_bytes_unchanged (which costs a hash of every reader's bytes; it is checked on
 * release and by vms_owner_check) and calls check_failed with the clause. */
#ifdef VMSPACE_DEBUG
VMS_OWNER_API const char *vms_itree_check(const vms_itree_t *t);
VMS_OWNER_API const char *vms_owner_check(const vms_owner_t *o);
#endif

#ifdef __cplusplus
}
#endif
#endif /* VMSPACE_OWNER_H_INCLUDED */

/* ===================================================================================== */
/* >>impl: implementation detail, compiled where VMSPACE_OWNER_IMPLEMENTATION or          */
/* VMSPACE_IMPLEMENTATION is defined.                                                    */
/* ===================================================================================== */
#if (defined(VMSPACE_OWNER_IMPLEMENTATION) || defined(VMSPACE_IMPLEMENTATION)) && \
    !defined(VMSPACE_OWNER_IMPL_INCLUDED)
#define VMSPACE_OWNER_IMPL_INCLUDED

#ifndef VMSPACE_NO_STDLIB
#include <stdlib.h>
#include <string.h>
#define VMS__OMEMCPY(d, s, n) memcpy((d), (s), (size_t)(n))
#else
#define VMS__OMEMCPY(d, s, n) __builtin_memcpy((d), (s), (size_t)(n))
#endif

#if defined(VMSPACE_DEBUG) && !defined(VMSPACE_NO_STDLIB)
#define XXH_INLINE_ALL
#include <xxhash.h>
#define VMS__HAVE_XXH 1
#endif

#ifndef VMS__PRIVATE
#define VMS__PRIVATE static VMS_MAYBE_UNUSED
#endif

/* Fetch a whole node as soon as its index is known, so its lines arrive in parallel
 * instead of one dependent miss after another. */
#if defined(__GNUC__) || defined(__clang__)
#define VMS__PREFETCH_NODE(p)                                         \
    do {                                                              \
        const char *vms__pf = (const char *)(p);                      \
        unsigned vms__k;                                              \
        for (vms__k = 0; vms__k < VMS_ITREE_NODE_SIZE; vms__k += 64u) \
            __builtin_prefetch(vms__pf + vms__k);                     \
    } while (0)
#else
#define VMS__PREFETCH_NODE(p) ((void)(p))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* >>impl-alloc */

#ifndef VMSPACE_NO_STDLIB
VMS__PRIVATE void *vms__std_alloc(void *user, size_t size) {
    (void)user;
    return malloc(size);
}
VMS__PRIVATE void vms__std_free(void *user, void *p, size_t size) {
    (void)user;
    (void)size;
    free(p);
}
#endif

/* Resolve the allocator: both hooks, or neither (then the default). */
VMS__PRIVATE int vms__alloc_resolve(vms_allocator_t *dst, const vms_allocator_t *src) {
    if (src && (src->alloc || src->free)) {
        if (!src->alloc || !src->free) return VMS_ERR_ARG;
        *dst = *src;
        return VMS_OK;
    }
#ifndef VMSPACE_NO_STDLIB
    dst->alloc = vms__std_alloc;
    dst->free = vms__std_free;
    dst->user = NULL;
    return VMS_OK;
#else
    return VMS_ERR_ARG;
#endif
}

/* >>impl-itree */

/* (f1, r1) < (f2, r2) in key order. */
VMS__PRIVATE bool vms__key_lt(uint64_t f1, uint32_t r1, uint64_t f2, uint32_t r2) {
    return f1 < f2 || (f1 == f2 && r1 < r2);
}

VMS_OWNER_API int vms_itree_init(vms_itree_t *t, const vms_allocator_t *alloc) {
    vms_allocator_t a;
    int err = vms__alloc_resolve(&a, alloc);
    if (err) return err;
    t->nodes = NULL;
    t->raw = NULL;
    t->raw_size = 0;
    t->cap = t->bump = 0;
    t->free_head = VMS_ITREE_NIL;
    t->free_count = 0;
    t->root = VMS_ITREE_NIL;
    t->height = 0;
    t->count = 0;
    t->alloc = a;
    return VMS_OK;
}

VMS_OWNER_API void vms_itree_destroy(vms_itree_t *t) {
    if (t->raw) t->alloc.free(t->alloc.user, t->raw, t->raw_size);
    t->raw = NULL;
    t->nodes = NULL;
    t->raw_size = 0;
    t->cap = t->bump = t->free_count = 0;
    t->free_head = t->root = VMS_ITREE_NIL;
    t->height = 0;
    t->count = 0;
}

VMS_OWNER_API size_t vms_itree_bytes(const vms_itree_t *t) {
    return (size_t)t->cap * sizeof(vms_itree_node_t);
}

/* Grow the slab so that `need` nodes can be handed out without allocating. The new slab is
 * allocated and filled before the old one is let go, so a failure changes nothing. */
VMS__PRIVATE int vms__itree_ensure(vms_itree_t *t, uint32_t need) {
    uint64_t avail = (uint64_t)t->free_count + (t->cap - t->bump);
    uint64_t ncap;
    size_t size;
    void *raw;
    vms_itree_node_t *nodes;
    if (avail >= need) return VMS_OK;
    ncap = (uint64_t)t->cap + t->cap / 2u; /* 1.5x keeps slack (and bytes per lease) low */
    if (ncap < (uint64_t)t->bump + need) ncap = (uint64_t)t->bump + need;
    if (ncap < 8) ncap = 8;
    if (ncap >= VMS_ITREE_NIL) return VMS_ERR_NOMEM;
    size = (size_t)ncap * sizeof(vms_itree_node_t) + 63u;
    raw = t->alloc.alloc(t->alloc.user, size);
    if (!raw) return VMS_ERR_NOMEM;
    nodes = (vms_itree_node_t *)(void *)(((uintptr_t)raw + 63u) & ~(uintptr_t)63u);
    if (t->bump) VMS__OMEMCPY(nodes, t->nodes, (size_t)t->bump * sizeof(vms_itree_node_t));
    if (t->raw) t->alloc.free(t->alloc.user, t->raw, t->raw_size);
    t->raw = raw;
    t->raw_size = size;
    t->nodes = nodes;
    t->cap = (uint32_t)ncap;
    return VMS_OK;
}

VMS_OWNER_API int vms_itree_reserve(vms_itree_t *t) {
    /* An insert splits at most one node per level and adds one root. */
    if (t->height + 1u >= VMS_TREE_MAX_DEPTH) return VMS_ERR_NOMEM;
    return vms__itree_ensure(t, t->height + 1u);
}

/* A node from the free list or the untouched end of the slab (reserved beforehand). */
VMS__PRIVATE uint32_t vms__itree_node_alloc(vms_itree_t *t, bool leaf) {
    uint32_t x;
    vms_itree_node_t *nd;
    if (t->free_head != VMS_ITREE_NIL) {
        x = t->free_head;
        t->free_head = t->nodes[x].next_free;
        t->free_count--;
    } else {
        x = t->bump++;
    }
    nd = &t->nodes[x];
    nd->n = 0;
    nd->leaf = (uint8_t)(leaf ? 1 : 0);
    nd->reserved = 0;
    nd->next_free = VMS_ITREE_NIL;
    return x;
}

VMS__PRIVATE void vms__itree_node_free(vms_itree_t *t, uint32_t x) {
    t->nodes[x].n = 0;
    t->nodes[x].next_free = t->free_head;
    t->free_head = x;
    t->free_count++;
}

/* Largest `last` in a node's subtree, from the node alone. */
VMS__PRIVATE uint64_t vms__itree_node_max(const vms_itree_node_t *nd) {
    uint64_t m = 0;
    unsigned i;
    if (nd->leaf) {
        for (i = 0; i < nd->n; i++)
            if (nd->u.l.last[i] > m) m = nd->u.l.last[i];
    } else {
        for (i = 0; i < nd->n; i++)
            if (nd->u.in.max[i] > m) m = nd->u.in.max[i];
    }
    return m;
}

/* The child of an inner node whose key range holds (f, r): the last i with sep[i] <= key. */
VMS__PRIVATE unsigned vms__inner_find(const vms_itree_node_t *nd, uint64_t f, uint32_t r) {
    unsigned i = 1;
    while (i < nd->n && !vms__key_lt(f, r, nd->u.in.first[i], nd->u.in.ref[i])) i++;
    return i - 1u;
}

VMS__PRIVATE void vms__leaf_set(vms_itree_node_t *nd, unsigned i, uint64_t f, uint64_t l,
                                uint32_t r) {
    nd->u.l.first[i] = f;
    nd->u.l.last[i] = l;
    nd->u.l.ref[i] = r;
}

VMS__PRIVATE void vms__inner_set(vms_itree_node_t *nd, unsigned i, uint64_t f, uint32_t r,
                                 uint64_t mx, uint32_t child) {
    nd->u.in.first[i] = f;
    nd->u.in.ref[i] = r;
    nd->u.in.max[i] = mx;
    nd->u.in.child[i] = child;
}

/* Move entries [from, n) of a node by `by` slots (+1 or -1). One loop per node kind: a loop
 * that indexed the leaf arrays and the (shorter) inner arrays at once lets gcc -O3 bound the
 * leaf loop by the inner arrays' size, and it then drops iterations. Plain loops, not
 * memmove: the runs are short, and a library call per array costs more than the copy. */
VMS__PRIVATE void vms__itree_node_shift(vms_itree_node_t *nd, unsigned from, int by) {
    unsigned n = nd->n, i;
    if (nd->leaf && by > 0) {
        for (i = n; i > from; i--)
            vms__leaf_set(nd, i, nd->u.l.first[i - 1], nd->u.l.last[i - 1], nd->u.l.ref[i - 1]);
    } else if (nd->leaf) {
        for (i = from; i < n; i++)
            vms__leaf_set(nd, i - 1, nd->u.l.first[i], nd->u.l.last[i], nd->u.l.ref[i]);
    } else if (by > 0) {
        for (i = n; i > from; i--)
            vms__inner_set(nd, i, nd->u.in.first[i - 1], nd->u.in.ref[i - 1], nd->u.in.max[i - 1],
                           nd->u.in.child[i - 1]);
    } else {
        for (i = from; i < n; i++)
            vms__inner_set(nd, i - 1, nd->u.in.first[i], nd->u.in.ref[i], nd->u.in.max[i],
                           nd->u.in.child[i]);
    }
}

/* Copy entry i of src to slot j of dst (same kind). */
VMS__PRIVATE void vms__itree_node_copy(vms_itree_node_t *dst, unsigned j,
                                       const vms_itree_node_t *src, unsigned i) {
    if (src->leaf) {
        vms__leaf_set(dst, j, src->u.l.first[i], src->u.l.last[i], src->u.l.ref[i]);
    } else {
        vms__inner_set(dst, j, src->u.in.first[i], src->u.in.ref[i], src->u.in.max[i],
                       src->u.in.child[i]);
    }
}

VMS_OWNER_API int vms_itree_insert(vms_itree_t *t, uint64_t first, uint64_t last, uint32_t ref) {
    uint32_t path[VMS_TREE_MAX_DEPTH];
    unsigned pidx[VMS_TREE_MAX_DEPTH];
    uint32_t x, right;
    unsigned d, pos, i;
    vms_itree_node_t *nd, *rn, tmp;
    uint64_t sep_f, max_l, max_r;
    uint32_t sep_r;
    int err = vms_itree_reserve(t);
    if (err) return err;
    /* From here on nothing can fail. */
    if (t->root == VMS_ITREE_NIL) {
        x = vms__itree_node_alloc(t, true);
        vms__leaf_set(&t->nodes[x], 0, first, last, ref);
        t->nodes[x].n = 1;
        t->root = x;
        t->height = 1;
        t->count = 1;
        return VMS_OK;
    }
    /* Descend, widening each maximum on the way: the subtree gains [first, last]. */
    x = t->root;
    for (d = 0; d + 1u < t->height; d++) {
        nd = &t->nodes[x];
        i = vms__inner_find(nd, first, ref);
        path[d] = x;
        pidx[d] = i;
        if (nd->u.in.max[i] < last) nd->u.in.max[i] = last;
        x = nd->u.in.child[i];
        VMS__PREFETCH_NODE(&t->nodes[x]);
    }
    path[d] = x;
    t->count++;
    nd = &t->nodes[x];
    pos = 0;
    while (pos < nd->n && vms__key_lt(nd->u.l.first[pos], nd->u.l.ref[pos], first, ref)) pos++;
    if (nd->n < VMS_ITREE_LEAF_CAP) {
        vms__itree_node_shift(nd, pos, 1);
        vms__leaf_set(nd, pos, first, last, ref);
        nd->n++;
        return VMS_OK;
    }
    /* Split the full leaf: of the LEAF_CAP + 1 entries, LEAF_MIN stay left, the rest go right. */
    tmp = *nd;
    right = vms__itree_node_alloc(t, true);
    rn = &t->nodes[right];
    {
        unsigned total = VMS_ITREE_LEAF_CAP + 1u, keep = VMS_ITREE_LEAF_MIN, k, src = 0;
        for (k = 0; k < total; k++) {
            uint64_t f, l;
            uint32_t r;
            if (k == pos) {
                f = first;
                l = last;
                r = ref;
            } else {
                f = tmp.u.l.first[src];
                l = tmp.u.l.last[src];
                r = tmp.u.l.ref[src];
                src++;
            }
            if (k < keep)
                vms__leaf_set(nd, k, f, l, r);
            else
                vms__leaf_set(rn, k - keep, f, l, r);
        }
        nd->n = (uint16_t)keep;
        rn->n = (uint16_t)(total - keep);
    }
    sep_f = rn->u.l.first[0];
    sep_r = rn->u.l.ref[0];
    max_l = vms__itree_node_max(nd);
    max_r = vms__itree_node_max(rn);
    /* Insert (sep, right) next to the split node in its parent, splitting upward. */
    while (d > 0) {
        uint32_t px = path[d - 1];
        unsigned ci = pidx[d - 1];
        vms_itree_node_t *p = &t->nodes[px];
        d--;
        p->u.in.max[ci] = max_l;
        if (p->n < VMS_ITREE_INNER_CAP) {
            vms__itree_node_shift(p, ci + 1u, 1);
            vms__inner_set(p, ci + 1u, sep_f, sep_r, max_r, right);
            p->n++;
            return VMS_OK;
        }
        tmp = *p;
        {
            uint32_t nr = vms__itree_node_alloc(t, false);
            unsigned total = VMS_ITREE_INNER_CAP + 1u, keep = VMS_ITREE_INNER_MIN + 1u, k;
            unsigned src = 0;
            p = &t->nodes[px];
            rn = &t->nodes[nr];
            for (k = 0; k < total; k++) {
                uint64_t f, mx;
                uint32_t r, c;
                if (k == ci + 1u) {
                    f = sep_f;
                    r = sep_r;
                    mx = max_r;
                    c = right;
                } else {
                    f = tmp.u.in.first[src];
                    r = tmp.u.in.ref[src];
                    mx = tmp.u.in.max[src];
                    c = tmp.u.in.child[src];
                    src++;
                }
                if (k < keep)
                    vms__inner_set(p, k, f, r, mx, c);
                else
                    vms__inner_set(rn, k - keep, f, r, mx, c);
            }
            p->n = (uint16_t)keep;
            rn->n = (uint16_t)(total - keep);
            sep_f = rn->u.in.first[0];
            sep_r = rn->u.in.ref[0];
            max_l = vms__itree_node_max(p);
            max_r = vms__itree_node_max(rn);
            right = nr;
        }
    }
    /* The root split: a new root over the two halves. */
    {
        uint32_t old = t->root, nroot = vms__itree_node_alloc(t, false);
        vms_itree_node_t *r = &t->nodes[nroot];
        vms__inner_set(r, 0, 0, 0, max_l, old);
        vms__inner_set(r, 1, sep_f, sep_r, max_r, right);
        r->n = 2;
        t->root = nroot;
        t->height++;
    }
    return VMS_OK;
}

/* Remove entry i from an inner node. */
VMS__PRIVATE void vms__inner_remove(vms_itree_node_t *p, unsigned i) {
    vms__itree_node_shift(p, i + 1u, -1);
    p->n--;
}

VMS_OWNER_API bool vms_itree_remove(vms_itree_t *t, uint64_t first, uint32_t ref) {
    uint32_t path[VMS_TREE_MAX_DEPTH];
    unsigned pidx[VMS_TREE_MAX_DEPTH];
    uint32_t x;
    uint64_t gone;
    unsigned d, i;
    vms_itree_node_t *nd;
    if (t->root == VMS_ITREE_NIL) return false;
    x = t->root;
    for (d = 0; d + 1u < t->height; d++) {
        nd = &t->nodes[x];
        i = vms__inner_find(nd, first, ref);
        path[d] = x;
        pidx[d] = i;
        x = nd->u.in.child[i];
        VMS__PREFETCH_NODE(&t->nodes[x]);
    }
    path[d] = x;
    nd = &t->nodes[x];
    for (i = 0; i < nd->n; i++)
        if (nd->u.l.first[i] == first && nd->u.l.ref[i] == ref) break;
    if (i == nd->n) return false;
    gone = nd->u.l.last[i];
    vms__itree_node_shift(nd, i + 1u, -1);
    nd->n--;
    t->count--;
    /* Bottom-up: fix underflow by borrowing from or merging with a sibling, and keep every
     * maximum on the path exact (they can only have shrunk). Once a node keeps its fill and
     * its parent's maximum for it stands, nothing above changes: stop there. `gone` is the
     * largest end that may have left the current subtree. */
    while (d > 0) {
        vms_itree_node_t *p = &t->nodes[path[d - 1]];
        unsigned ci = pidx[d - 1];
        unsigned min;
        nd = &t->nodes[path[d]];
        min = nd->leaf ? VMS_ITREE_LEAF_MIN : VMS_ITREE_INNER_MIN;
        if (nd->n >= min) {
            uint64_t m;
            if (gone < p->u.in.max[ci]) break; /* the maximum was elsewhere */
            m = vms__itree_node_max(nd);
            if (m == p->u.in.max[ci]) break;
            gone = p->u.in.max[ci];
            p->u.in.max[ci] = m;
        } else if (ci > 0) {
            uint32_t sx = p->u.in.child[ci - 1];
            vms_itree_node_t *s = &t->nodes[sx];
            if (s->n > min) { /* borrow the left sibling's last entry */
                unsigned k = s->n - 1u;
                vms__itree_node_shift(nd, 0, 1);
                vms__itree_node_copy(nd, 0, s, k);
                if (nd->leaf) {
                    p->u.in.first[ci] = nd->u.l.first[0];
                    p->u.in.ref[ci] = nd->u.l.ref[0];
                } else {
                    /* The old lower bound of child 0 becomes the separator before it. */
                    nd->u.in.first[1] = p->u.in.first[ci];
                    nd->u.in.ref[1] = p->u.in.ref[ci];
                    p->u.in.first[ci] = s->u.in.first[k];
                    p->u.in.ref[ci] = s->u.in.ref[k];
                }
                nd->n++;
                s->n--;
                p->u.in.max[ci - 1] = vms__itree_node_max(s);
                p->u.in.max[ci] = vms__itree_node_max(nd);
            } else { /* merge this node into its left sibling */
                unsigned k, base = s->n;
                for (k = 0; k < nd->n; k++) vms__itree_node_copy(s, base + k, nd, k);
                if (!nd->leaf) {
                    s->u.in.first[base] = p->u.in.first[ci];
                    s->u.in.ref[base] = p->u.in.ref[ci];
                }
                s->n = (uint16_t)(base + nd->n);
                vms__itree_node_free(t, path[d]);
                vms__inner_remove(p, ci);
                p->u.in.max[ci - 1] = vms__itree_node_max(s);
            }
        } else {
            uint32_t sx = p->u.in.child[1];
            vms_itree_node_t *s = &t->nodes[sx];
            if (s->n > min) { /* borrow the right sibling's first entry */
                unsigned k = nd->n;
                vms__itree_node_copy(nd, k, s, 0);
                if (!nd->leaf) {
                    nd->u.in.first[k] = p->u.in.first[1];
                    nd->u.in.ref[k] = p->u.in.ref[1];
                    p->u.in.first[1] = s->u.in.first[1];
                    p->u.in.ref[1] = s->u.in.ref[1];
                }
                vms__itree_node_shift(s, 1, -1);
                s->n--;
                nd->n++;
                if (nd->leaf) {
                    p->u.in.first[1] = s->u.l.first[0];
                    p->u.in.ref[1] = s->u.l.ref[0];
                }
                p->u.in.max[0] = vms__itree_node_max(nd);
                p->u.in.max[1] = vms__itree_node_max(s);
            } else { /* merge the right sibling into this node */
                unsigned k, base = nd->n;
                for (k = 0; k < s->n; k++) vms__itree_node_copy(nd, base + k, s, k);
                if (!nd->leaf) {
                    nd->u.in.first[base] = p->u.in.first[1];
                    nd->u.in.ref[base] = p->u.in.ref[1];
                }
                nd->n = (uint16_t)(base + s->n);
                vms__itree_node_free(t, sx);
                vms__inner_remove(p, 1);
                p->u.in.max[0] = vms__itree_node_max(nd);
            }
        }
        d--;
    }
    nd = &t->nodes[t->root];
    if (!nd->leaf && nd->n == 1) {
        uint32_t old = t->root;
        t->root = nd->u.in.child[0];
        vms__itree_node_free(t, old);
        t->height--;
    } else if (nd->leaf && nd->n == 0) {
        vms__itree_node_free(t, t->root);
        t->root = VMS_ITREE_NIL;
        t->height = 0;
    }
    return true;
}

/* Leftmost overlap without backtracking. Loop invariant: every entry overlapping [f, l] that
 * precedes the current subtree in key order does not exist; if an overlap exists at all, the
 * leftmost one is in the current subtree. At an inner node the first child whose maximum
 * reaches f is the only candidate: earlier children end before f, and if that child holds an
 * entry starting after l, every later child starts after l too.
 *
 * The descent advances one level per call, so that the owner can walk its two trees in
 * lockstep: each step prefetches its next node before the other tree's step reads, and the
 * two trees' cache misses overlap instead of adding up. */
typedef struct vms__ovwalk_s {
    const vms_itree_t *t;
    uint32_t x;
    int state; /* 0 descending, 1 found (in e), 2 nothing overlaps */
    vms_itree_entry_t e;
} vms__ovwalk_t;

VMS__PRIVATE void vms__ov_start(vms__ovwalk_t *w, const vms_itree_t *t) {
    w->t = t;
    w->x = t->root;
    w->state = t->root == VMS_ITREE_NIL ? 2 : 0;
}

/* One level of the descent. @return true while it goes on. */
VMS__PRIVATE bool vms__ov_step(vms__ovwalk_t *w, uint64_t f, uint64_t l) {
    const vms_itree_node_t *nd = &w->t->nodes[w->x];
    unsigned i;
    if (!nd->leaf) {
        for (i = 0; i < nd->n && nd->u.in.max[i] < f; i++) {}
        if (i == nd->n || (i > 0 && nd->u.in.first[i] > l)) {
            w->state = 2;
            return false;
        }
        w->x = nd->u.in.child[i];
        VMS__PREFETCH_NODE(&w->t->nodes[w->x]);
        return true;
    }
    w->state = 2;
    for (i = 0; i < nd->n && nd->u.l.first[i] <= l; i++) {
        if (nd->u.l.last[i] >= f) {
            w->e.first = nd->u.l.first[i];
            w->e.last = nd->u.l.last[i];
            w->e.ref = nd->u.l.ref[i];
            w->state = 1;
            break;
        }
    }
    return false;
}

VMS_OWNER_API bool vms_itree_first_overlap(const vms_itree_t *t, uint64_t f, uint64_t l,
                                           vms_itree_entry_t *out) {
    vms__ovwalk_t w;
    vms__ov_start(&w, t);
    if (w.state) return false;
    while (vms__ov_step(&w, f, l)) {}
    if (w.state != 1) return false;
    *out = w.e;
    return true;
}

/* Advance the iterator to the next overlapping entry at or after its position. Children are
 * skipped when their maximum ends before `first`; the walk stops for good at the first key
 * that starts after `last`. */
VMS__PRIVATE bool vms__itree_seek(vms_itree_iter_t *it, vms_itree_entry_t *out) {
    const vms_itree_t *t = it->t;
    while (it->depth >= 0) {
        int d = it->depth;
        const vms_itree_node_t *nd = &t->nodes[it->node[d]];
        unsigned i = it->idx[d];
        if (nd->leaf) {
            for (; i < nd->n; i++) {
                if (nd->u.l.first[i] > it->last) {
                    it->depth = -1;
                    return false;
                }
                if (nd->u.l.last[i] >= it->first) {
                    it->idx[d] = (uint16_t)(i + 1u);
                    out->first = nd->u.l.first[i];
                    out->last = nd->u.l.last[i];
                    out->ref = nd->u.l.ref[i];
                    return true;
                }
            }
        } else {
            for (; i < nd->n; i++) {
                if (i > 0 && nd->u.in.first[i] > it->last) {
                    it->depth = -1;
                    return false;
                }
                if (nd->u.in.max[i] >= it->first) break;
            }
            if (i < nd->n) {
                it->idx[d] = (uint16_t)i;
                it->node[d + 1] = nd->u.in.child[i];
                it->idx[d + 1] = 0;
                it->depth = d + 1;
                continue;
            }
        }
        /* This node is done: resume its parent after it. */
        it->depth = d - 1;
        if (d > 0) it->idx[d - 1]++;
    }
    return false;
}

VMS_OWNER_API bool vms_itree_iter_first(const vms_itree_t *t, uint64_t first, uint64_t last,
                                        vms_itree_iter_t *it, vms_itree_entry_t *out) {
    it->t = t;
    it->first = first;
    it->last = last;
    if (t->root == VMS_ITREE_NIL || first > last) {
        it->depth = -1;
        return false;
    }
    it->depth = 0;
    it->node[0] = t->root;
    it->idx[0] = 0;
    return vms__itree_seek(it, out);
}

VMS_OWNER_API bool vms_itree_iter_next(vms_itree_iter_t *it, vms_itree_entry_t *out) {
    return vms__itree_seek(it, out);
}

/* >>impl-owner */

VMS__PRIVATE vms_lease_t vms__handle(uint32_t slot, uint32_t gen) {
    vms_lease_t h;
    h.id = ((uint64_t)gen << 32) | slot;
    return h;
}

/* The live slot of a handle, or NULL. Reads only the slot array, whose entries stay valid
 * (free slots keep their generation), so a stale handle never touches freed memory. */
VMS__PRIVATE const vms__lease_slot_t *vms__slot_of(const vms_owner_t *o, vms_lease_t h) {
    uint32_t idx = (uint32_t)(h.id & 0xffffffffu), gen = (uint32_t)(h.id >> 32);
    const vms__lease_slot_t *s;
    if (gen == 0 || idx >= o->slot_used) return NULL;
    s = &o->slots[idx];
    if (s->gen != gen || s->serial == 0) return NULL;
    return s;
}

VMS__PRIVATE void vms__info_of(const vms_owner_t *o, uint32_t idx, vms_lease_info_t *out) {
    const vms__lease_slot_t *s = &o->slots[idx];
    out->handle = vms__handle(idx, s->gen);
    out->serial = s->serial;
    out->va = s->first;
    out->len = s->last - s->first + 1u;
    out->kind = (vms_lease_kind)s->kind;
}

/* Make sure one slot can be taken without allocating. */
VMS__PRIVATE int vms__slot_reserve(vms_owner_t *o) {
    uint64_t ncap;
    size_t size;
    vms__lease_slot_t *ns;
    if (o->slot_free != VMS_ITREE_NIL || o->slot_used < o->slot_cap) return VMS_OK;
    ncap = (uint64_t)o->slot_cap + o->slot_cap / 2u;
    if (ncap < 16) ncap = 16;
    if (ncap >= 0xffffffffu) return VMS_ERR_NOMEM;
    size = (size_t)ncap * sizeof(vms__lease_slot_t);
    ns = (vms__lease_slot_t *)o->alloc.alloc(o->alloc.user, size);
    if (!ns) return VMS_ERR_NOMEM;
    if (o->slot_used) VMS__OMEMCPY(ns, o->slots, (size_t)o->slot_used * sizeof(vms__lease_slot_t));
    if (o->slots) o->alloc.free(o->alloc.user, o->slots, (size_t)o->slot_cap * sizeof(*ns));
    o->slots = ns;
    o->slot_cap = (uint32_t)ncap;
    return VMS_OK;
}

#ifdef VMSPACE_DEBUG
VMS__PRIVATE void vms__owner_verify(const vms_owner_t *o);
VMS__PRIVATE int vms__view_digest(const vms_space_t *s, uint64_t first, uint64_t last,
                                  vms_prop_t need, uint64_t *out);
VMS__PRIVATE int vms__bytes_digest(const vms_space_t *s, uint64_t first, uint64_t last,
                                   uint64_t *out);
#define VMS__VERIFY(o) vms__owner_verify(o)
#else
#define VMS__VERIFY(o) ((void)0)
#endif

VMS_OWNER_API int vms_owner_init(vms_owner_t *o, vms_space_t *s, const vms_owner_desc_t *desc) {
    vms_allocator_t a;
    int err;
    if (!o || !s) return VMS_ERR_ARG;
    err = vms__alloc_resolve(&a, desc ? &desc->allocator : NULL);
    if (err) return err;
    o->space = s;
    o->shared_reader = desc ? desc->shared_reader : false;
    o->active = desc ? !desc->inactive : true;
    o->next_serial = 1;
    (void)vms_itree_init(&o->readers, &a);
    (void)vms_itree_init(&o->writers, &a);
    o->slots = NULL;
    o->slot_cap = o->slot_used = 0;
    o->slot_free = VMS_ITREE_NIL;
    o->writer_bytes = 0;
    o->lock = 0;
    o->alloc = a;
    o->check_failed = desc ? desc->check_failed : NULL;
    o->check_user = desc ? desc->check_user : NULL;
    VMS__VERIFY(o);
    return VMS_OK;
}

VMS_OWNER_API int vms_owner_destroy(vms_owner_t *o) {
    if (o->readers.count || o->writers.count) return VMS_ERR_BUSY;
    vms_itree_destroy(&o->readers);
    vms_itree_destroy(&o->writers);
    if (o->slots) {
        o->alloc.free(o->alloc.user, o->slots, (size_t)o->slot_cap * sizeof(vms__lease_slot_t));
    }
    o->slots = NULL;
    o->slot_cap = o->slot_used = 0;
    o->slot_free = VMS_ITREE_NIL;
    return VMS_OK;
}

VMS__PRIVATE void vms__owner_set_active_locked(vms_owner_t *o, bool active) {
    o->active = active;
    VMS__VERIFY(o);
}

/* [va, va + len) as a closed interval, cut at the top of the address space. */
VMS__PRIVATE bool vms__closed(uint64_t va, uint64_t len, uint64_t *last) {
    if (!len) return false;
    *last = va + (len - 1u) < va ? UINT64_MAX : va + (len - 1u);
    return true;
}

/* First overlap among writers and (if `readers`) readers, lowest start first. */
VMS__PRIVATE bool vms__first_in(const vms_owner_t *o, uint64_t f, uint64_t l, bool readers,
                                vms_lease_t *out) {
    vms__ovwalk_t r, w;
    bool hr, hw;
    uint32_t idx;
    vms__ov_start(&r, &o->readers);
    vms__ov_start(&w, &o->writers);
    if (!readers) r.state = 2;
    /* Both descents in lockstep: their cache misses overlap. */
    for (;;) {
        bool more_r = r.state == 0 && vms__ov_step(&r, f, l);
        bool more_w = w.state == 0 && vms__ov_step(&w, f, l);
        if (!more_r && !more_w) break;
    }
    hr = r.state == 1;
    hw = w.state == 1;
    if (!hr && !hw) return false;
    if (hr && hw)
        idx = w.e.first < r.e.first ? w.e.ref : r.e.ref;
    else
        idx = hr ? r.e.ref : w.e.ref;
    if (out) *out = vms__handle(idx, o->slots[idx].gen);
    return true;
}

VMS__PRIVATE bool vms__owner_first_conflict_locked(const vms_owner_t *o, vms_lease_kind kind,
                                                   uint64_t va, uint64_t len, vms_lease_t *out) {
    uint64_t last;
    if (!vms__closed(va, len, &last)) return false;
    if (kind == VMS_LEASE_WRITE) return vms__first_in(o, va, last, true, out);
    return vms__first_in(o, va, last, !o->shared_reader, out);
}

VMS__PRIVATE bool vms__owner_first_overlap_locked(const vms_owner_t *o, uint64_t va, uint64_t len,
                                           vms_lease_t *out) {
    uint64_t last;
    if (!vms__closed(va, len, &last)) return false;
    return vms__first_in(o, va, last, true, out);
}

/* A walk over [first, last] one mapping at a time, shared by the rights check and the debug
 * digests: each step gives the piece of the mapping that holds the current address, cut to
 * the range. */
typedef struct vms__piece_walk_s {
    const vms_space_t *s;
    uint64_t va, last;
    bool done, hole; /* hole: the walk stopped at an unmapped address */
} vms__piece_walk_t;

typedef struct vms__piece_s {
    uint64_t va, pa, len; /* the piece: [va, va + len) -> [pa, pa + len) */
    vms_prop_t prop;
} vms__piece_t;

VMS__PRIVATE void vms__piece_start(vms__piece_walk_t *w, const vms_space_t *s, uint64_t first,
                                   uint64_t last) {
    w->s = s;
    w->va = first;
    w->last = last;
    w->done = w->hole = false;
}

/* @return false at the end of the range or at a hole (then w->hole). */
VMS__PRIVATE bool vms__piece_next(vms__piece_walk_t *w, vms__piece_t *p) {
    vms_mapping_t m;
    uint64_t end;
    if (w->done) return false;
    if (vms_space_query(w->s, w->va, &m) != VMS_OK) {
        w->done = w->hole = true;
        return false;
    }
    end = m.va + m.size - 1u; /* last byte of the mapping; cannot wrap */
    if (end >= w->last) {
        end = w->last;
        w->done = true;
    }
    p->va = w->va;
    p->pa = m.pa + (w->va - m.va);
    p->len = end - w->va + 1u;
    p->prop = m.prop;
    w->va = end + 1u;
    return true;
}

/* Whether [first, last] is wholly mapped with the rights in `need`. @return VMS_OK,
 * VMS_ERR_NOENT (a hole comes first) or VMS_ERR_PERM (a page without the rights comes
 * first). */
VMS__PRIVATE int vms__range_rights(const vms_space_t *s, uint64_t first, uint64_t last,
                                   vms_prop_t need) {
    vms__piece_walk_t w;
    vms__piece_t p;
    vms__piece_start(&w, s, first, last);
    while (vms__piece_next(&w, &p))
        if ((p.prop & need) != need) return VMS_ERR_PERM;
    return w.hole ? VMS_ERR_NOENT : VMS_OK;
}

VMS__PRIVATE int vms__lease_acquire_locked(vms_owner_t *o, vms_lease_kind kind, uint64_t va,
                                           uint64_t len, vms_lease_t *out, vms_lease_t *blocker) {
    uint64_t last;
    vms_itree_t *tree;
    vms_prop_t need;
    vms__lease_slot_t *s;
    uint32_t idx;
    int err;
    out->id = VMS_LEASE_INVALID_ID;
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (kind != VMS_LEASE_READ && kind != VMS_LEASE_WRITE) return VMS_ERR_ARG;
    err = vms_space_check_range(o->space, va, len);
    if (err) return err;
    if (!o->active) return VMS_ERR_INACTIVE;
    last = va + (len - 1u);
    if (vms__owner_first_conflict_locked(o, kind, va, len, blocker)) return VMS_ERR_CONFLICT;
    need = kind == VMS_LEASE_WRITE ? (VMS_R | VMS_W) : VMS_R;
    err = vms__range_rights(o->space, va, last, need);
    if (err) return err;
    /* Every allocation before any change. */
    tree = kind == VMS_LEASE_WRITE ? &o->writers : &o->readers;
    err = vms_itree_reserve(tree);
    if (err) return err;
    err = vms__slot_reserve(o);
    if (err) return err;
    if (o->slot_free != VMS_ITREE_NIL) {
        idx = o->slot_free;
        o->slot_free = o->slots[idx].next;
    } else {
        idx = o->slot_used++;
        o->slots[idx].gen = 1;
    }
    s = &o->slots[idx];
    s->serial = o->next_serial++;
    s->first = va;
    s->last = last;
    s->kind = (uint32_t)kind;
    s->next = VMS_ITREE_NIL;
    s->reserved = 0;
#ifdef VMSPACE_DEBUG
    s->view_digest = 0;
    s->bytes_digest = 0;
    (void)vms__view_digest(o->space, va, last, need, &s->view_digest);
    if (kind == VMS_LEASE_READ) (void)vms__bytes_digest(o->space, va, last, &s->bytes_digest);
#endif
    err = vms_itree_insert(tree, va, last, idx); /* reserved: cannot fail */
    (void)err;
    if (kind == VMS_LEASE_WRITE) o->writer_bytes += len;
    *out = vms__handle(idx, s->gen);
    VMS__VERIFY(o);
    return VMS_OK;
}

VMS__PRIVATE int vms__lease_release_locked(vms_owner_t *o, vms_lease_t l) {
    uint32_t idx = (uint32_t)(l.id & 0xffffffffu);
    vms__lease_slot_t *s;
    int rc = VMS_OK;
    if (!vms__slot_of(o, l)) return VMS_ERR_STALE;
    s = &o->slots[idx];
#ifdef VMSPACE_DEBUG
    if (s->kind == VMS_LEASE_READ) {
        uint64_t h = 0;
        if (vms__bytes_digest(o->space, s->first, s->last, &h) != VMS_OK)
            rc = VMS_ERR_FAULT; /* part of the range was unmapped around the owner */
        else if (h != s->bytes_digest)
            rc = VMS_ERR_TAMPERED; /* written around the owner */
    }
#endif
    if (s->kind == VMS_LEASE_WRITE) {
        (void)vms_itree_remove(&o->writers, s->first, idx);
        o->writer_bytes -= s->last - s->first + 1u;
    } else {
        (void)vms_itree_remove(&o->readers, s->first, idx);
    }
    s->serial = 0;
    s->gen++;
    if (s->gen != 0) { /* a slot whose generation wrapped is retired for good */
        s->next = o->slot_free;
        o->slot_free = idx;
    }
    VMS__VERIFY(o);
    return rc;
}

VMS__PRIVATE bool vms__lease_is_live_locked(const vms_owner_t *o, vms_lease_t l) {
    return vms__slot_of(o, l) != NULL;
}

VMS__PRIVATE int vms__lease_info_locked(const vms_owner_t *o, vms_lease_t l,
                                        vms_lease_info_t *out) {
    if (!vms__slot_of(o, l)) return VMS_ERR_STALE;
    vms__info_of(o, (uint32_t)(l.id & 0xffffffffu), out);
    return VMS_OK;
}

/* Copy between the caller's buffer and [va, va + len) of the space, mapping by mapping. */
VMS__PRIVATE int vms__lease_copy(const vms_owner_t *o, vms_lease_t l, uint64_t va, void *buf,
                                 uint64_t len, bool write) {
    const vms__lease_slot_t *s = vms__slot_of(o, l);
    const vms_space_t *sp = o->space;
    vms_prop_t need = write ? (VMS_R | VMS_W) : VMS_R;
    unsigned char *p = (unsigned char *)buf;
    if (!s) return VMS_ERR_STALE;
    if (!o->active) return VMS_ERR_INACTIVE;
    if (write && s->kind != VMS_LEASE_WRITE) return VMS_ERR_PERM;
    if (!len) return (va >= s->first && va <= s->last) ? VMS_OK : VMS_ERR_RANGE;
    if (va < s->first || va > s->last || len - 1u > s->last - va) return VMS_ERR_RANGE;
    while (len) {
        vms_mapping_t m;
        uint64_t off, n, pa;
        unsigned char *host;
        if (vms_space_query(sp, va, &m) != VMS_OK) return VMS_ERR_FAULT;
        if ((m.prop & need) != need) return VMS_ERR_FAULT;
        off = va - m.va;
        n = m.size - off;
        if (n > len) n = len;
        pa = m.pa + off;
        if (pa < sp->prov.direct_map_lo || pa >= sp->prov.phys_limit ||
            n > sp->prov.phys_limit - pa)
            return VMS_ERR_FAULT;
        host = (unsigned char *)(sp->prov.direct_map + (uintptr_t)pa);
        if (write)
            VMS__OMEMCPY(host, p, n);
        else
            VMS__OMEMCPY(p, host, n);
        p += n;
        va += n;
        len -= n;
    }
    return VMS_OK;
}

VMS__PRIVATE int vms__lease_read_locked(const vms_owner_t *o, vms_lease_t l, uint64_t va, void *dst,
                                 uint64_t len) {
    return vms__lease_copy(o, l, va, dst, len, false);
}

VMS__PRIVATE int vms__lease_write_locked(vms_owner_t *o, vms_lease_t l, uint64_t va,
                                         const void *src, uint64_t len) {
    /* The buffer is only read when writing; the shared helper takes it untyped. */
    return vms__lease_copy(o, l, va, (void *)(uintptr_t)src, len, true);
}

/* BUSY with the first lease in [va, va + len) in *blocker, or VMS_OK. */
VMS__PRIVATE int vms__guard(const vms_owner_t *o, uint64_t va, uint64_t len, vms_lease_t *blocker) {
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (vms__owner_first_overlap_locked(o, va, len, blocker)) return VMS_ERR_BUSY;
    return VMS_OK;
}

VMS__PRIVATE int vms__owner_map_locked(vms_owner_t *o, uint64_t va, uint64_t pa, uint64_t len,
                                vms_prop_t prop, uint32_t flags, vms_lease_t *blocker) {
    /* Every argument first: bad input gets its own code, whatever leases there are. */
    int err = vms_space_check_map(o->space, va, pa, len, prop, flags);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (err) return err;
    /* Without REPLACE, mapping over anything mapped fails with EXIST, so only a replace can
     * pull memory from under a lease; a collapse frees tables of the blocks around. */
    if (flags & VMS_MAP_COLLAPSE) {
        uint64_t lo, hi;
        vms__collapse_span(vms__lin(o->space, va), vms__lin(o->space, va) + len, flags, &lo, &hi);
        err = vms__guard(o, vms__canon(o->space, lo), hi - lo, blocker);
        if (err) return err;
    } else if (flags & VMS_MAP_REPLACE) {
        err = vms__guard(o, va, len, blocker);
        if (err) return err;
    }
    err = vms_space_map(o->space, va, pa, len, prop, flags);
    VMS__VERIFY(o);
    return err;
}

VMS__PRIVATE int vms__owner_unmap_locked(vms_owner_t *o, uint64_t va, uint64_t len,
                                         vms_lease_t *blocker) {
    int err = vms_space_check_range(o->space, va, len);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (err) return err;
    err = vms__guard(o, va, len, blocker);
    if (err) return err;
    err = vms_space_unmap(o->space, va, len);
    VMS__VERIFY(o);
    return err;
}

VMS__PRIVATE int vms__owner_protect_locked(vms_owner_t *o, uint64_t va, uint64_t len,
                                           vms_prop_t prop, vms_lease_t *blocker) {
    int err = vms_space_check_range(o->space, va, len);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (!err) err = vms_prop_check(prop);
    if (err) return err;
    err = vms__guard(o, va, len, blocker);
    if (err) return err;
    err = vms_space_protect(o->space, va, len, prop);
    VMS__VERIFY(o);
    return err;
}

/* Relative protect under the guard: by fn if by_fn, else by the masks. */
VMS__PRIVATE int vms__owner_protect_rel_locked(vms_owner_t *o, uint64_t va, uint64_t len,
                                               vms_prop_t set, vms_prop_t clear, bool by_fn,
                                               vms_protect_fn fn, void *user,
                                               vms_lease_t *blocker) {
    const vms_prop_t rel = VMS_PROP_FLAGS_MASK & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY);
    int err = vms_space_check_range(o->space, va, len);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (!err && by_fn && !fn) err = VMS_ERR_ARG;
    if (!err && !by_fn && ((set | clear) & ~rel)) err = VMS_ERR_FLAGS;
    if (!err && !by_fn && (set & clear)) err = VMS_ERR_ARG;
    if (err) return err;
    err = vms__guard(o, va, len, blocker);
    if (err) return err;
    err = by_fn ? vms_space_protect_fn(o->space, va, len, fn, user)
                : vms_space_protect_mask(o->space, va, len, set, clear);
    VMS__VERIFY(o);
    return err;
}

/* The next lease of the merged iteration (readers and writers never share a start, since a
 * reader and a writer never overlap). */
VMS__PRIVATE bool vms__oiter_take(vms_owner_iter_t *it, vms_lease_info_t *out) {
    bool use_w;
    if (!it->rv && !it->wv) return false;
    use_w = !it->rv || (it->wv && it->we.first < it->re.first);
    if (use_w) {
        vms__info_of(it->o, it->we.ref, out);
        it->wv = vms_itree_iter_next(&it->w, &it->we);
    } else {
        vms__info_of(it->o, it->re.ref, out);
        it->rv = vms_itree_iter_next(&it->r, &it->re);
    }
    return true;
}

VMS_OWNER_API bool vms_owner_iter_first(const vms_owner_t *o, uint64_t va, uint64_t len,
                                        vms_owner_iter_t *it, vms_lease_info_t *out) {
    uint64_t last = 0;
    it->o = o;
    it->rv = it->wv = false;
    if (!vms__closed(va, len, &last)) return false;
    it->rv = vms_itree_iter_first(&o->readers, va, last, &it->r, &it->re);
    it->wv = vms_itree_iter_first(&o->writers, va, last, &it->w, &it->we);
    return vms__oiter_take(it, out);
}

VMS_OWNER_API bool vms_owner_iter_next(vms_owner_iter_t *it, vms_lease_info_t *out) {
    return vms__oiter_take(it, out);
}

VMS__PRIVATE int vms__owner_foreach_locked(const vms_owner_t *o, uint64_t va, uint64_t len,
                                    int (*fn)(void *user, const vms_lease_info_t *l), void *user) {
    vms_owner_iter_t it;
    vms_lease_info_t info;
    bool more = vms_owner_iter_first(o, va, len, &it, &info);
    while (more) {
        int rc = fn(user, &info);
        if (rc) return rc;
        more = vms_owner_iter_next(&it, &info);
    }
    return 0;
}

VMS__PRIVATE void vms__owner_stats_locked(const vms_owner_t *o, vms_owner_stats_t *out) {
    out->readers = o->readers.count;
    out->writers = o->writers.count;
    out->tree_bytes = vms_itree_bytes(&o->readers) + vms_itree_bytes(&o->writers);
    out->tree_bytes_live =
        ((size_t)vms_itree_nodes_live(&o->readers) + vms_itree_nodes_live(&o->writers)) *
        sizeof(vms_itree_node_t);
    out->registry_bytes = (size_t)o->slot_cap * sizeof(vms__lease_slot_t);
}

/* >>impl-threads: an owner of a concurrent space is used from many threads at once. Every
 * call below takes the owner's lock for its whole critical section (the lease check and
 * insert, the guard and the page-table change it allows), so a lease and a guarded
 * unmap/protect of one range are linearizable. The lock is taken before the space's lock,
 * never after. The vms__*_locked bodies above assume it is held. */
VMS__PRIVATE void vms__owner_lock(const vms_owner_t *o) {
    if (o->space->concurrent) vms__lock(&((vms_owner_t *)(uintptr_t)o)->lock); /* its only write */
}
VMS__PRIVATE void vms__owner_unlock(const vms_owner_t *o) {
    if (o->space->concurrent) vms__unlock(&((vms_owner_t *)(uintptr_t)o)->lock);
}

VMS_OWNER_API void vms_owner_lock(vms_owner_t *o) { vms__owner_lock(o); }
VMS_OWNER_API void vms_owner_unlock(vms_owner_t *o) { vms__owner_unlock(o); }

VMS_OWNER_API int vms_lease_acquire(vms_owner_t *o, vms_lease_kind kind, uint64_t va, uint64_t len,
                                    vms_lease_t *out, vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__lease_acquire_locked(o, kind, va, len, out, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_lease_release(vms_owner_t *o, vms_lease_t l) {
    int rc;
    vms__owner_lock(o);
    rc = vms__lease_release_locked(o, l);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API bool vms_lease_is_live(const vms_owner_t *o, vms_lease_t l) {
    bool rc;
    vms__owner_lock(o);
    rc = vms__lease_is_live_locked(o, l);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_lease_info(const vms_owner_t *o, vms_lease_t l, vms_lease_info_t *out) {
    int rc;
    vms__owner_lock(o);
    rc = vms__lease_info_locked(o, l, out);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_lease_read(const vms_owner_t *o, vms_lease_t l, uint64_t va, void *dst,
                                 uint64_t len) {
    int rc;
    vms__owner_lock(o);
    rc = vms__lease_read_locked(o, l, va, dst, len);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_lease_write(vms_owner_t *o, vms_lease_t l, uint64_t va, const void *src,
                                  uint64_t len) {
    int rc;
    vms__owner_lock(o);
    rc = vms__lease_write_locked(o, l, va, src, len);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_map(vms_owner_t *o, uint64_t va, uint64_t pa, uint64_t len,
                                vms_prop_t prop, uint32_t flags, vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_map_locked(o, va, pa, len, prop, flags, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_unmap(vms_owner_t *o, uint64_t va, uint64_t len, vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_unmap_locked(o, va, len, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_protect(vms_owner_t *o, uint64_t va, uint64_t len, vms_prop_t prop,
                                    vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_protect_locked(o, va, len, prop, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_protect_mask(vms_owner_t *o, uint64_t va, uint64_t len,
                                         vms_prop_t set, vms_prop_t clear, vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_protect_rel_locked(o, va, len, set, clear, false, NULL, NULL, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_protect_fn(vms_owner_t *o, uint64_t va, uint64_t len,
                                       vms_protect_fn fn, void *user, vms_lease_t *blocker) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_protect_rel_locked(o, va, len, 0, 0, true, fn, user, blocker);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_clone(vms_owner_t *o, vms_space_t *dst, uint64_t va, uint64_t len,
                                  uint32_t flags, vms_frames_fn shared, void *user,
                                  vms_lease_t *blocker) {
    int rc = vms_space_check_range(o->space, va, len);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (!rc && (flags & ~(uint32_t)VMS_CLONE_COW)) rc = VMS_ERR_FLAGS;
    if (rc) return rc;
    vms__owner_lock(o);
    if (flags & VMS_CLONE_COW) rc = vms__guard(o, va, len, blocker);
    if (!rc) rc = vms_space_clone(dst, o->space, va, len, flags, shared, user);
    VMS__VERIFY(o);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_move(vms_owner_t *o, uint64_t old_va, uint64_t new_va,
                                 uint64_t len, vms_lease_t *blocker) {
    int rc = vms__move_check(o->space, old_va, new_va, len); /* arguments first */
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (rc) return rc;
    vms__owner_lock(o);
    rc = vms__guard(o, old_va, len, blocker);
    if (!rc) rc = vms__guard(o, new_va, len, blocker);
    if (!rc) rc = vms_space_move(o->space, old_va, new_va, len);
    VMS__VERIFY(o);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_collapse(vms_owner_t *o, uint64_t va, uint64_t len, uint32_t flags,
                                     uint64_t *collapsed, vms_lease_t *blocker) {
    int rc = vms_space_check_range(o->space, va, len);
    if (blocker) blocker->id = VMS_LEASE_INVALID_ID;
    if (collapsed) *collapsed = 0;
    if (!rc && (flags & ~(uint32_t)VMS_MAP_MAX_2M)) rc = VMS_ERR_FLAGS; /* arguments first */
    if (rc) return rc;
    vms__owner_lock(o);
    rc = vms__guard(o, va, len, blocker);
    if (!rc) rc = vms_space_collapse(o->space, va, len, flags, collapsed);
    VMS__VERIFY(o);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API bool vms_owner_first_conflict(const vms_owner_t *o, vms_lease_kind kind, uint64_t va,
                                            uint64_t len, vms_lease_t *out) {
    bool rc;
    vms__owner_lock(o);
    rc = vms__owner_first_conflict_locked(o, kind, va, len, out);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API bool vms_owner_first_overlap(const vms_owner_t *o, uint64_t va, uint64_t len,
                                           vms_lease_t *out) {
    bool rc;
    vms__owner_lock(o);
    rc = vms__owner_first_overlap_locked(o, va, len, out);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API int vms_owner_foreach(const vms_owner_t *o, uint64_t va, uint64_t len,
                                    int (*fn)(void *user, const vms_lease_info_t *l), void *user) {
    int rc;
    vms__owner_lock(o);
    rc = vms__owner_foreach_locked(o, va, len, fn, user);
    vms__owner_unlock(o);
    return rc;
}

VMS_OWNER_API void vms_owner_stats(const vms_owner_t *o, vms_owner_stats_t *out) {
    vms__owner_lock(o);
    vms__owner_stats_locked(o, out);
    vms__owner_unlock(o);
}

VMS_OWNER_API void vms_owner_set_active(vms_owner_t *o, bool active) {
    vms__owner_lock(o);
    vms__owner_set_active_locked(o, active);
    vms__owner_unlock(o);
}

/* >>impl-debug */

#ifdef VMSPACE_DEBUG

/* A streaming 64-bit hash: XXH3 where the C library exists, else a simple multiplicative mix
 * (freestanding debug builds). */
typedef struct vms__hash_s {
#ifdef VMS__HAVE_XXH
    XXH3_state_t st;
#else
    uint64_t h;
#endif
} vms__hash_t;

VMS__PRIVATE void vms__hash_reset(vms__hash_t *h) {
#ifdef VMS__HAVE_XXH
    (void)XXH3_64bits_reset(&h->st);
#else
    h->h = 0x9e3779b97f4a7c15u;
#endif
}
VMS__PRIVATE void vms__hash_update(vms__hash_t *h, const void *p, size_t n) {
#ifdef VMS__HAVE_XXH
    (void)XXH3_64bits_update(&h->st, p, n);
#else
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) h->h = (h->h ^ b[i]) * 0x100000001b3u;
#endif
}
VMS__PRIVATE uint64_t vms__hash_digest(vms__hash_t *h) {
#ifdef VMS__HAVE_XXH
    return (uint64_t)XXH3_64bits_digest(&h->st);
#else
    return h->h;
#endif
}

/* Digest of the translation of [first, last]: maximal runs of (va, pa, len, prop without A
 * and D), cut to the range, so splitting a huge page or re-mapping the same frames gives the
 * same digest. @return VMS_OK, VMS_ERR_NOENT (a hole), VMS_ERR_PERM (rights below need). */
VMS__PRIVATE int vms__view_digest(const vms_space_t *s, uint64_t first, uint64_t last,
                                  vms_prop_t need, uint64_t *out) {
    vms__hash_t h;
    uint64_t run[4] = {0, 0, 0, 0}; /* va, pa, len, prop */
    bool have = false;
    int rc = VMS_OK;
    vms__piece_walk_t w;
    vms__piece_t p;
    vms__hash_reset(&h);
    vms__piece_start(&w, s, first, last);
    while (vms__piece_next(&w, &p)) {
        uint64_t prop = (uint64_t)(p.prop & ~(vms_prop_t)(VMS_ACCESSED | VMS_DIRTY));
        if ((p.prop & need) != need) rc = VMS_ERR_PERM;
        if (have && run[0] + run[2] == p.va && run[1] + run[2] == p.pa && run[3] == prop) {
            run[2] += p.len;
        } else {
            if (have) vms__hash_update(&h, run, sizeof run);
            run[0] = p.va;
            run[1] = p.pa;
            run[2] = p.len;
            run[3] = prop;
            have = true;
        }
    }
    if (have) vms__hash_update(&h, run, sizeof run);
    *out = vms__hash_digest(&h);
    return w.hole ? VMS_ERR_NOENT : rc;
}

/* Digest of the bytes of [first, last] read through the direct map; a page that cannot be
 * read hashes as its va and a marker. */
VMS__PRIVATE int vms__bytes_digest(const vms_space_t *s, uint64_t first, uint64_t last,
                                   uint64_t *out) {
    vms__hash_t h;
    vms__piece_walk_t w;
    vms__piece_t p;
    vms__hash_reset(&h);
    vms__piece_start(&w, s, first, last);
    while (vms__piece_next(&w, &p)) {
        if (p.pa >= s->prov.direct_map_lo && p.pa < s->prov.phys_limit &&
            p.len <= s->prov.phys_limit - p.pa) {
            vms__hash_update(&h, (const void *)(s->prov.direct_map + (uintptr_t)p.pa),
                             (size_t)p.len);
        } else {
            uint64_t mark[2] = {p.va, 0xdeadu};
            vms__hash_update(&h, mark, sizeof mark);
        }
    }
    *out = vms__hash_digest(&h);
    return w.hole ? VMS_ERR_NOENT : VMS_OK;
}

VMS_OWNER_API const char *vms_itree_check(const vms_itree_t *t) {
    /* Iterative post-order walk. Each frame carries the key bounds its subtree must respect
     * and the maximum gathered so far. */
    struct frame {
        uint32_t node;
        unsigned next;
        uint64_t lo_f, hi_f, acc;
        uint32_t lo_r, hi_r;
        bool has_lo, has_hi;
    } st[VMS_TREE_MAX_DEPTH];
    int d;
    uint64_t entries = 0, reached = 0, prev_f = 0;
    uint32_t prev_r = 0;
    bool have_prev = false;
    uint32_t x, nfree = 0;
    if (t->bump > t->cap || t->free_count > t->bump) return "tree_nodes";
    for (x = t->free_head; x != VMS_ITREE_NIL; x = t->nodes[x].next_free) {
        if (x >= t->bump || ++nfree > t->free_count) return "tree_nodes";
    }
    if (nfree != t->free_count) return "tree_nodes";
    if (t->root == VMS_ITREE_NIL) {
        if (t->height != 0 || t->count != 0) return "tree_count";
        return t->bump == t->free_count ? NULL : "tree_nodes";
    }
    if (t->height == 0 || t->height > VMS_TREE_MAX_DEPTH) return "tree_balance";
    if (t->root >= t->bump) return "tree_nodes";
    st[0].node = t->root;
    st[0].next = 0;
    st[0].acc = 0;
    st[0].has_lo = st[0].has_hi = false;
    st[0].lo_f = st[0].hi_f = 0;
    st[0].lo_r = st[0].hi_r = 0;
    d = 0;
    reached = 1;
    while (d >= 0) {
        struct frame *f = &st[d];
        const vms_itree_node_t *nd = &t->nodes[f->node];
        unsigned i;
        if (f->next == 0) { /* first visit */
            bool is_root = d == 0;
            bool want_leaf = (unsigned)d + 1u == t->height;
            if ((nd->leaf != 0) != want_leaf) return "tree_balance";
            if (nd->leaf) {
                if (nd->n > VMS_ITREE_LEAF_CAP || nd->n == 0) return "tree_fill";
                if (!is_root && nd->n < VMS_ITREE_LEAF_MIN) return "tree_fill";
                for (i = 0; i < nd->n; i++) {
                    uint64_t kf = nd->u.l.first[i];
                    uint32_t kr = nd->u.l.ref[i];
                    if (nd->u.l.last[i] < kf) return "tree_order";
                    if (have_prev && !vms__key_lt(prev_f, prev_r, kf, kr)) return "tree_order";
                    if (f->has_lo && vms__key_lt(kf, kr, f->lo_f, f->lo_r)) return "tree_order";
                    if (f->has_hi && !vms__key_lt(kf, kr, f->hi_f, f->hi_r)) return "tree_order";
                    prev_f = kf;
                    prev_r = kr;
                    have_prev = true;
                    if (nd->u.l.last[i] > f->acc) f->acc = nd->u.l.last[i];
                }
                entries += nd->n;
                f->next = nd->n;
            } else {
                if (nd->n > VMS_ITREE_INNER_CAP || nd->n < 2) return "tree_fill";
                if (!is_root && nd->n < VMS_ITREE_INNER_MIN) return "tree_fill";
                for (i = 2; i < nd->n; i++) {
                    if (!vms__key_lt(nd->u.in.first[i - 1], nd->u.in.ref[i - 1], nd->u.in.first[i],
                                     nd->u.in.ref[i]))
                        return "tree_order";
                }
            }
        }
        if (!nd->leaf && f->next < nd->n) { /* descend into child `next` */
            struct frame *c;
            i = f->next;
            x = nd->u.in.child[i];
            if (x >= t->bump || (unsigned)d + 1u >= t->height) return "tree_nodes";
            if (++reached > t->bump) return "tree_nodes";
            c = &st[d + 1];
            c->node = x;
            c->next = 0;
            c->acc = 0;
            c->has_lo = i > 0 ? true : f->has_lo;
            c->lo_f = i > 0 ? nd->u.in.first[i] : f->lo_f;
            c->lo_r = i > 0 ? nd->u.in.ref[i] : f->lo_r;
            c->has_hi = i + 1u < nd->n ? true : f->has_hi;
            c->hi_f = i + 1u < nd->n ? nd->u.in.first[i + 1] : f->hi_f;
            c->hi_r = i + 1u < nd->n ? nd->u.in.ref[i + 1] : f->hi_r;
            d++;
            continue;
        }
        /* Done with this node: report its maximum to the parent. */
        if (d > 0) {
            struct frame *p = &st[d - 1];
            const vms_itree_node_t *pn = &t->nodes[p->node];
            if (pn->u.in.max[p->next] != f->acc) return "tree_max";
            if (f->acc > p->acc) p->acc = f->acc;
            p->next++;
        }
        d--;
    }
    if (entries != t->count) return "tree_count";
    if (reached + t->free_count != t->bump) return "tree_nodes";
    return NULL;
}

/* Checks of the registry against one tree (the seed's inv_with). */
VMS__PRIVATE const char *vms__check_registry_tree(const vms_owner_t *o, const vms_itree_t *t,
                                                  uint32_t kind) {
    vms_itree_iter_t it;
    vms_itree_entry_t e;
    bool more = vms_itree_iter_first(t, 0, UINT64_MAX, &it, &e);
    while (more) {
        const vms__lease_slot_t *s;
        if (e.ref >= o->slot_used) return "registry_ranges";
        s = &o->slots[e.ref];
        if (s->serial == 0 || s->kind != kind) return "registry_ranges";
        if (s->first != e.first || s->last != e.last) return "registry_ranges";
        more = vms_itree_iter_next(&it, &e);
    }
    return NULL;
}

/* Mappings of the total view (the tables) pairwise disjoint, in VA order. state[0] is the
 * first address the next mapping may start at; state[1] is 0 before the first mapping, 1
 * after one, 2 after one that ends at the top of the address space. */
VMS__PRIVATE int vms__check_disjoint_fn(void *user, const vms_mapping_t *m) {
    uint64_t *state = (uint64_t *)user;
    if (state[1] == 2 || (state[1] == 1 && m->va < state[0])) return 1;
    state[0] = m->va + m->size;
    state[1] = state[0] == 0 ? 2u : 1u;
    return 0;
}

/* The full check; `bytes` adds reader_bytes_unchanged. */
VMS__PRIVATE const char *vms__owner_check(const vms_owner_t *o, bool bytes) {
    const char *bad;
    uint64_t live[3] = {0, 0, 0}, wbytes = 0, state[2] = {0, 0};
    uint32_t i, nfree = 0;
    vms_itree_iter_t it;
    vms_itree_entry_t e, prev;
    bool more, have_prev;

    /* Page tables well formed: the core's check, then mappings disjoint in VA order. */
    bad = vms_space_check(o->space);
    if (bad) return bad;
    if (vms_space_enumerate(o->space, vms__check_disjoint_fn, state)) return "pt_mappings_disjoint";

    /* Registry: slots, ids and counts against the trees. */
    for (i = o->slot_free; i != VMS_ITREE_NIL; i = o->slots[i].next) {
        if (i >= o->slot_used || o->slots[i].serial != 0 || ++nfree > o->slot_used)
            return "registry_counts";
    }
    for (i = 0; i < o->slot_used; i++) {
        const vms__lease_slot_t *s = &o->slots[i];
        if (s->serial == 0) continue;
        if (s->serial >= o->next_serial || s->gen == 0) return "registry_ids";
        if ((s->kind != VMS_LEASE_READ && s->kind != VMS_LEASE_WRITE) || s->last < s->first)
            return "registry_ranges";
        live[s->kind]++;
        if (s->kind == VMS_LEASE_WRITE) wbytes += s->last - s->first + 1u;
    }
    if (live[VMS_LEASE_READ] != o->readers.count || live[VMS_LEASE_WRITE] != o->writers.count)
        return "registry_counts";
    bad = vms_itree_check(&o->readers);
    if (bad) return bad;
    bad = vms_itree_check(&o->writers);
    if (bad) return bad;
    bad = vms__check_registry_tree(o, &o->readers, VMS_LEASE_READ);
    if (bad) return bad;
    bad = vms__check_registry_tree(o, &o->writers, VMS_LEASE_WRITE);
    if (bad) return bad;

    /* Writers pairwise disjoint: in key order each ends before the next starts. */
    have_prev = false;
    more = vms_itree_iter_first(&o->writers, 0, UINT64_MAX, &it, &e);
    while (more) {
        if (have_prev && prev.last >= e.first) return "writers_disjoint";
        if (vms_itree_first_overlap(&o->readers, e.first, e.last, &prev))
            return "readers_writers_disjoint";
        prev = e;
        have_prev = true;
        more = vms_itree_iter_next(&it, &e);
    }
    if (!o->shared_reader) {
        have_prev = false;
        more = vms_itree_iter_first(&o->readers, 0, UINT64_MAX, &it, &e);
        while (more) {
            if (have_prev && prev.last >= e.first) return "readers_disjoint";
            prev = e;
            have_prev = true;
            more = vms_itree_iter_next(&it, &e);
        }
    }
    /* mem_view_wf: total = remaining + writers, and each lease's view agrees with the total
     * view on its range. */
    if (wbytes != o->writer_bytes) return "remaining_view_is_total_minus_writers";
    for (i = 0; i < o->slot_used; i++) {
        const vms__lease_slot_t *s = &o->slots[i];
        uint64_t h = 0;
        int rc;
        if (s->serial == 0) continue;
        if (s->kind == VMS_LEASE_WRITE) {
            rc = vms__view_digest(o->space, s->first, s->last, VMS_R | VMS_W, &h);
            if (rc != VMS_OK) return "remaining_view_is_total_minus_writers";
            if (h != s->view_digest) return "writer_view_agrees";
        } else {
            rc = vms__view_digest(o->space, s->first, s->last, VMS_R, &h);
            if (rc != VMS_OK || h != s->view_digest) return "reader_view_agrees";
        }
    }
    if (bytes) {
        for (i = 0; i < o->slot_used; i++) {
            const vms__lease_slot_t *s = &o->slots[i];
            uint64_t h = 0;
            if (s->serial == 0 || s->kind != VMS_LEASE_READ) continue;
            if (vms__bytes_digest(o->space, s->first, s->last, &h) != VMS_OK ||
                h != s->bytes_digest)
                return "reader_bytes_unchanged";
        }
    }
    return NULL;
}

VMS_OWNER_API const char *vms_owner_check(const vms_owner_t *o) {
    return vms__owner_check(o, true);
}

VMS__PRIVATE void vms__owner_verify(const vms_owner_t *o) {
    const char *bad = vms__owner_check(o, false);
    if (!bad) return;
    if (o->check_failed) {
        o->check_failed(o->check_user, bad);
        return;
    }
#ifndef VMSPACE_NO_STDLIB
    abort();
#else
    __builtin_trap();
#endif
}

#endif /* VMSPACE_DEBUG */

#ifdef __cplusplus
}
#endif
#endif /* VMSPACE_OWNER_IMPLEMENTATION */

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
