/* Shared helpers for the vmspace tests: a random generator, a digest of a space's tables,
 * a provider that fails on demand, a hand-written page walk and a reference model of the
 * mappings. Nothing here uses the library's internals: only its public API, and raw table
 * memory read through vms_space_table(). */
#ifndef VT_H_INCLUDED
#define VT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmspace.h"

/* Hardware facts written out independently of the library's macros (Intel SDM vol. 3,
 * section 4.5, tables 4-15 to 4-20). */
#define VT_BIT(n) ((uint64_t)1 << (n))
#define VT_ADDR_BITS ((uint64_t)0x000ffffffffff000) /* bits 12..51 */
#define VT_SZ_4K ((uint64_t)0x1000)
#define VT_SZ_2M ((uint64_t)0x200000)
#define VT_SZ_1G ((uint64_t)0x40000000)
#define VT_SZ_512G ((uint64_t)0x8000000000)
#define VT_SZ_256T ((uint64_t)0x1000000000000)

/* ---- random numbers (xoshiro256**, seeded with splitmix64) ---- */
typedef struct vt_rng_s {
    uint64_t s[4];
} vt_rng_t;
void vt_rng_seed(vt_rng_t *r, uint64_t seed);
uint64_t vt_rng_next(vt_rng_t *r);
/* Uniform in [0, n); n > 0. */
uint64_t vt_rng_below(vt_rng_t *r, uint64_t n);
/* The seed from the VMS_SEED environment variable (decimal or 0x hex), else def. */
uint64_t vt_seed_from_env(uint64_t def);

/* ---- hand-written walk ---- */
/* Index of va in the table at level l (1..5), from the SDM's bit ranges. */
unsigned vt_index(uint64_t va, int level);
/* Size mapped by an entry at level l. */
uint64_t vt_level_size(int level);
/* Entry in use (present, or a no-access mapping that keeps bit 10). */
bool vt_used(uint64_t e);
/* Walk va by hand. Returns a pointer to the leaf entry and its level, or NULL if the walk
 * ends at an unused entry (then *level is the level of that entry). Every intermediate entry
 * met on the way is stored in inter[level] when inter is not NULL. */
uint64_t *vt_walk(const vms_space_t *s, uint64_t va, int *level, uint64_t inter[6]);

/* ---- digests ---- */
/* XXH3 over every table page reachable from the root (physical address and contents, in
 * walk order), the enumeration and the stats. */
uint64_t vt_digest(const vms_space_t *s);
/* XXH3 over the enumeration and the mapped-byte counters only (independent of where the
 * table pages sit in physical memory). */
uint64_t vt_digest_mappings(const vms_space_t *s);
/* Number of table pages reachable from the root, counted by walking. */
uint64_t vt_count_tables(const vms_space_t *s);
/* Check structural facts of the tables by walking them: intermediate entries are exactly
 * P|RW|US plus an address, huge leaves have their reserved address bits clear, and no table
 * other than the root is empty (but for the top tables of the range the space shares, which
 * its group keeps). Returns NULL or a static message naming the problem. */
const char *vt_check_tables(const vms_space_t *s);

/* ---- a provider over an arena that fails on demand ---- */
typedef struct vt_fprov_s {
    vms_arena_t arena;
    vms_provider_t inner; /* the arena's own provider */
    vms_provider_t prov;  /* pass this one to vms_space_init */
    uint64_t allocs;      /* successful allocations so far */
    uint64_t frees;
    uint64_t attempts; /* allocation calls so far, failed ones included */
    uint64_t fail_at;  /* fail the call whose attempt number equals this; 0 = never */
    uint64_t failures; /* how many calls failed */
} vt_fprov_t;
int vt_fprov_init(vt_fprov_t *f, uint64_t arena_size);
void vt_fprov_destroy(vt_fprov_t *f);
/* Fail the k-th allocation from now (k >= 1); 0 disables. */
void vt_fprov_fail_in(vt_fprov_t *f, uint64_t k);

/* ---- a reference model of the mappings ---- */
typedef struct vt_leaf_s {
    uint64_t va, pa, size;
    vms_prop_t prop;
} vt_leaf_t;

typedef struct vt_model_s {
    vt_leaf_t *v; /* sorted by va, disjoint */
    size_t n, cap;
    vt_leaf_t *tmp; /* scratch for building replacements */
    size_t tmp_cap;
} vt_model_t;

void vt_model_init(vt_model_t *m);
void vt_model_free(vt_model_t *m);
/* Leaves a range map produces: the largest page that va, pa and the remaining length allow,
 * capped by VMS_MAP_MAX_4K / VMS_MAP_MAX_2M. Writes up to max leaves, returns the count. */
size_t vt_plan_map(uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop, uint32_t flags,
                   vt_leaf_t *out, size_t max);
/* Arguments must be valid. Returns VMS_OK or VMS_ERR_EXIST (and then changes nothing). */
int vt_model_map(vt_model_t *m, uint64_t va, uint64_t pa, uint64_t len, vms_prop_t prop,
                 uint32_t flags);
/* Returns the number of bytes unmapped. */
uint64_t vt_model_unmap(vt_model_t *m, uint64_t va, uint64_t len);
/* Sets prop on every leaf in range (A and D kept from the old leaf). */
void vt_model_protect(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t prop);
/* Clears `clear` and sets `set` in every leaf's property in range (relative protect). */
void vt_model_protect_mask(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t set,
                           vms_prop_t clear);
/* Gives each leaf in range (split at the edges) the rights fn returns for it; cache policy
 * and A/D stay (protect by callback). */
void vt_model_protect_fn(vt_model_t *m, uint64_t va, uint64_t len, vms_protect_fn fn,
                         void *user);
/* Harvest: the bytes of the range in leaves with any of `bits`, their pages set in bitmap
 * (if not NULL; bit i for va + i * 4 KiB); with clear, leaves wholly inside lose the bits. */
uint64_t vt_model_harvest(vt_model_t *m, uint64_t va, uint64_t len, vms_prop_t bits, bool clear,
                          uint64_t *bitmap);
/* Move (mremap) [old_va, old_va + len) to new_va: every leaf of the range (huge ones cut at
 * its edges, as by unmap, their outside parts left mapped) moves by new_va - old_va with its
 * frame offset and property (A/D kept), as pages no larger than the leaf it came from, the
 * largest that the new address, the frame and the remaining length allow. Ranges must be
 * valid. Returns VMS_OK, VMS_ERR_OVERLAP (the ranges overlap) or VMS_ERR_EXIST (something
 * is mapped in the new range); on an error nothing changes. active: the space is active on
 * a CPU, so writable leaves copied rather than relinked gain A and D, as the library does. */
int vt_model_move(vt_model_t *m, uint64_t old_va, uint64_t new_va, uint64_t len, bool active);
/* Collapse [va, va + len) (a valid range; flags 0 or VMS_MAP_MAX_2M): every 2 MiB-aligned
 * block wholly inside that is 512 leaves of 4 KiB, alike in property outside A/D, with
 * contiguous frames from a 2 MiB-aligned one, becomes one 2 MiB leaf whose A/D are the
 * union of theirs; then, without VMS_MAP_MAX_2M, every 1 GiB-aligned block wholly inside
 * made of 512 such 2 MiB leaves (new or old) from a 1 GiB-aligned frame becomes one 1 GiB
 * leaf. With `active` (the space runs on a CPU) a new writable leaf gets both A and D.
 * Returns the bytes held by new huge leaves (a new 2 MiB leaf folded into a new 1 GiB one
 * counted once, as part of it). */
uint64_t vt_model_collapse(vt_model_t *m, uint64_t va, uint64_t len, uint32_t flags,
                           bool active);
/* The leaf holding va, or NULL. */
const vt_leaf_t *vt_model_find(const vt_model_t *m, uint64_t va);
bool vt_model_any(const vt_model_t *m, uint64_t va, uint64_t len);
/* Index of the first leaf that ends after va. */
size_t vt_model_lower(const vt_model_t *m, uint64_t va);
/* Table pages a space holding exactly these leaves needs, root included, assuming every
 * empty table is freed. */
uint64_t vt_model_table_pages(const vt_model_t *m, int levels);
void vt_model_bytes(const vt_model_t *m, uint64_t bytes[3]);

/* ---- spaces ---- */
/* A space with `levels` levels over an embedded arena of arena_size bytes (0 = default). */
int vt_space_init(vms_space_t *s, int levels, uint64_t arena_size);
/* Mapped bytes of all sizes from vms_space_stats. */
uint64_t vt_mapped_total(const vms_space_t *s);
uint64_t vt_table_pages(const vms_space_t *s);

/* Compare the space with the model: the full enumeration, the mapped-byte counters and the
 * number of table pages (stats and a walk). Returns true if equal, else false with a
 * description of the first difference in msg. */
bool vt_compare_model(const vms_space_t *s, const vt_model_t *m, char *msg, size_t n);
/* vt_compare_model for a member of a share group (vms_share_t): m holds all its leaves (its
 * own and the group's), and the group's top tables, kept even empty, count too. For an
 * unshared space the same as vt_compare_model. */
bool vt_compare_model_member(const vms_space_t *s, const vt_model_t *m, char *msg, size_t n);
/* Compare one address: vms_space_query and vms_translate against the model. */
bool vt_compare_va(const vms_space_t *s, const vt_model_t *m, uint64_t va, char *msg, size_t n);

/* Collect a space's enumeration into a malloc'ed array (*n entries). */
vms_mapping_t *vt_enumerate(const vms_space_t *s, size_t *n);

/* ---- shared checks (tests/support/expect.c; they fail the running Criterion test) ---- */
/* What an operation failed with VMS_ERR_NOMEM must leave as it was: the tables (vt_digest),
 * the stats and the frames in use of the failing provider's arena. */
typedef struct vt_snap_s {
    uint64_t digest;
    vms_stats_t stats;
    uint64_t frames;
} vt_snap_t;
vt_snap_t vt_snap_take(const vms_space_t *s, const vt_fprov_t *f);
/* After the operation `name` ran with allocation k failing (f->failures was `failures`
 * before it) and returned rc: rc is VMS_ERR_NOMEM, exactly that one allocation failed, and s
 * and f are as in the snapshot v. Asserts (ends the test on the first difference). */
void vt_expect_unchanged_after_nomem(const char *name, uint64_t k, int rc, const vms_space_t *s,
                                     const vt_fprov_t *f, uint64_t failures, const vt_snap_t *v);
/* The end of a test with an owner (only with vmspace_owner.h): the owner's check under
 * VMSPACE_DEBUG, every live lease released, the owner destroyed, the space checked well
 * formed (vt_expect_wellformed) and destroyed. */
struct vms_owner_s;
void vt_owner_teardown(struct vms_owner_s *o, vms_space_t *s);

#endif
