/* bench_list.h - the registry of benchmark cases (an X-macro; adding a case is one line).
 *
 *   X(name, family, variant, args)
 *     name     "group/method/..." as shown by Google Benchmark and read by the report
 *     family   the C functions vms_bench_<family>_{setup,step,reset,teardown}
 *     variant  an int handed to setup (page level, address set, lease operation, ...)
 *     args     a parenthesised list of problem sizes for ->Arg(), or (-1) for none
 *
 * The build defines VMS_BENCH_HAVE_IMPL (vmspace.h has its implementation),
 * VMS_BENCH_HAVE_SWTLB (vms_swtlb_translate exists) and VMS_BENCH_HAVE_OWNER
 * (vmspace_owner.h exists); the lists for missing parts expand to nothing.
 */
#ifndef VMS_BENCH_LIST_H
#define VMS_BENCH_LIST_H

#include "bench_common.h"

#ifndef VMS_BENCH_HAVE_IMPL
#define VMS_BENCH_HAVE_IMPL 0
#endif
#ifndef VMS_BENCH_HAVE_SWTLB
#define VMS_BENCH_HAVE_SWTLB 0
#endif
#ifndef VMS_BENCH_HAVE_OWNER
#define VMS_BENCH_HAVE_OWNER 0
#endif

/* Variants. */
#define VMS_BENCH_4K 1 /* page level: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB */
#define VMS_BENCH_2M 2
#define VMS_BENCH_1G 3
/* Single-operation cases: op * 4 + page level. */
#define VMS_BENCH_OP1_ONESHOT(level) (0 * 4 + (level)) /* cursor open, map, close */
#define VMS_BENCH_OP1_MAP(level) (1 * 4 + (level))     /* vms_space_map */
#define VMS_BENCH_OP1_UNMAP(level) (2 * 4 + (level))   /* vms_space_unmap */
#define VMS_BENCH_OP1_BARE(level) (4 + (level))        /* op1_rootwalk: inline walk+store */
/* Translate address sets (times 2, plus 1 for a dependent chain). */
#define VMS_BENCH_TR_DENSE 0  /* random in 1 GiB of 4 KiB pages, tables warm */
#define VMS_BENCH_TR_SEQ 1    /* sequential through the same 1 GiB, 1 KiB stride */
#define VMS_BENCH_TR_SPARSE 2 /* random over 64 GiB, one 4 KiB page per 2 MiB, tables cold */
#define VMS_BENCH_TR_HOT 3    /* 32 pages, random offsets (fits any TLB) */
#define VMS_BENCH_TR_MIX 4    /* 7/8 from the hot set, 1/8 random in the 1 GiB */
#define VMS_BENCH_IND(set) ((set) * 2)
#define VMS_BENCH_DEP(set) ((set) * 2 + 1)
/* Lease operations. */
#define VMS_BENCH_LEASE_READER 0   /* take + release a reader next to n live leases */
#define VMS_BENCH_LEASE_WRITER 1   /* take + release a writer next to n live leases */
#define VMS_BENCH_LEASE_CONFLICT 2 /* a writer over a live lease: refused */
#define VMS_BENCH_LEASE_SHARED 3   /* shared readers, heavily overlapping */

#define VMS_BENCH_LIVE (10, 1000, 100000, 1000000)
#define VMS_BENCH_SHARED_LIVE (10, 1000, 100000)

/* Baselines written for the benchmark (need nothing from the library). */
#define VMS_BENCH_LIST_BASELINES(X)                                                     \
    X("map/bare_store/4k", map_bare, VMS_BENCH_4K, (-1))                               \
    X("map/bare_gen/4k", map_bare_gen, VMS_BENCH_4K, (-1))                             \
    X("map/bare_store/2m", map_bare, VMS_BENCH_2M, (-1))                               \
    X("map/rootwalk/4k", map_rootwalk, VMS_BENCH_4K, (-1))                             \
    X("map/rootwalk/2m", map_rootwalk, VMS_BENCH_2M, (-1))                             \
    X("map/rootwalk/1g", map_rootwalk, VMS_BENCH_1G, (-1))                             \
    X("unmap/bare_clear/4k", map_clear, VMS_BENCH_4K, (-1))                            \
    X("protect/bare_rewrite/4k", map_rewrite, VMS_BENCH_4K, (-1))                      \
    X("harvest/bare_scan_clear/4k", scan_clear, VMS_BENCH_4K, (-1))                    \
    X("clone/bare_cow_copy/4k", cow_copy, VMS_BENCH_4K, (-1))                          \
    X("op1/rootwalk/4k", op1_rootwalk, VMS_BENCH_4K, (-1))                             \
    X("op1/rootwalk/2m", op1_rootwalk, VMS_BENCH_2M, (-1))                             \
    X("op1/rootwalk/1g", op1_rootwalk, VMS_BENCH_1G, (-1))                             \
    X("op1/bare_walk_store/4k", op1_rootwalk, VMS_BENCH_OP1_BARE(1), (-1))             \
    X("lease/rbtree/reader", lease_rb, VMS_BENCH_LEASE_READER, VMS_BENCH_LIVE)          \
    X("lease/rbtree/writer", lease_rb, VMS_BENCH_LEASE_WRITER, VMS_BENCH_LIVE)          \
    X("lease/rbtree/conflict", lease_rb, VMS_BENCH_LEASE_CONFLICT, VMS_BENCH_LIVE)      \
    X("lease/rbtree/shared", lease_rb, VMS_BENCH_LEASE_SHARED, VMS_BENCH_SHARED_LIVE)   \
    X("lease/list/reader", lease_list, VMS_BENCH_LEASE_READER, VMS_BENCH_LIVE)          \
    X("lease/list/writer", lease_list, VMS_BENCH_LEASE_WRITER, VMS_BENCH_LIVE)          \
    X("lease/list/conflict", lease_list, VMS_BENCH_LEASE_CONFLICT, VMS_BENCH_LIVE)      \
    X("lease/list/shared", lease_list, VMS_BENCH_LEASE_SHARED, VMS_BENCH_SHARED_LIVE)

#if VMS_BENCH_HAVE_IMPL
#define VMS_BENCH_TR_ALL(X, set, sname)                                                 \
    X("translate/" sname "/walk/indep", tr_walk, VMS_BENCH_IND(set), (-1))             \
    X("translate/" sname "/bare/indep", tr_bare, VMS_BENCH_IND(set), (-1))             \
    X("translate/" sname "/walk/dep", tr_walk, VMS_BENCH_DEP(set), (-1))               \
    X("translate/" sname "/bare/dep", tr_bare, VMS_BENCH_DEP(set), (-1))
#define VMS_BENCH_LIST_LIBRARY(X)                                                       \
    X("map/cursor/4k", map_cursor, VMS_BENCH_4K, (-1))                                 \
    X("op1/oneshot/4k", op1, VMS_BENCH_OP1_ONESHOT(1), (-1))                           \
    X("op1/space_map/4k", op1, VMS_BENCH_OP1_MAP(1), (-1))                             \
    X("op1/space_map/2m", op1, VMS_BENCH_OP1_MAP(2), (-1))                             \
    X("op1/space_map/1g", op1, VMS_BENCH_OP1_MAP(3), (-1))                             \
    X("op1/space_unmap/4k", op1, VMS_BENCH_OP1_UNMAP(1), (-1))                         \
    X("op1/space_unmap/2m", op1, VMS_BENCH_OP1_UNMAP(2), (-1))                         \
    X("op1/space_unmap/1g", op1, VMS_BENCH_OP1_UNMAP(3), (-1))                         \
    X("map/space/4k", map_space, VMS_BENCH_4K, (-1))                                   \
    X("map/single/4k", map_single, VMS_BENCH_4K, (-1))                                 \
    X("map/cursor/2m", map_cursor, VMS_BENCH_2M, (-1))                                 \
    X("map/single/2m", map_single, VMS_BENCH_2M, (-1))                                 \
    X("map/cursor/1g", map_cursor, VMS_BENCH_1G, (-1))                                 \
    X("unmap/space/4k", unmap_space, VMS_BENCH_4K, (-1))                               \
    X("unmap/space/2m", unmap_space, VMS_BENCH_2M, (-1))                               \
    X("unmap/space/1g", unmap_space, VMS_BENCH_1G, (-1))                               \
    X("protect/space/4k", protect_space, VMS_BENCH_4K, (-1))                           \
    X("protect/space/2m", protect_space, VMS_BENCH_2M, (-1))                           \
    X("protect/space/1g", protect_space, VMS_BENCH_1G, (-1))                           \
    X("protect/mask/4k", protect_mask, VMS_BENCH_4K, (-1))                             \
    X("harvest/space/4k", harvest_space, VMS_BENCH_4K, (-1))                           \
    X("harvest/cursor_next/4k", harvest_next, VMS_BENCH_4K, (-1))                      \
    X("clone/cow/4k", clone_cow, VMS_BENCH_4K, (-1))                                   \
    X("move/relink/4k", move, 0, (-1))                                                 \
    X("move/entries/4k", move, 1, (-1))                                                \
    X("move/unmap_map/4k", move, 2, (-1))                                              \
    X("collapse/2m/4k", collapse, 0, (-1))                                             \
    VMS_BENCH_TR_ALL(X, VMS_BENCH_TR_DENSE, "dense")                                   \
    VMS_BENCH_TR_ALL(X, VMS_BENCH_TR_SEQ, "seq")                                       \
    VMS_BENCH_TR_ALL(X, VMS_BENCH_TR_SPARSE, "sparse")                                 \
    VMS_BENCH_TR_ALL(X, VMS_BENCH_TR_HOT, "hot")                                       \
    VMS_BENCH_TR_ALL(X, VMS_BENCH_TR_MIX, "mix")
#else
#define VMS_BENCH_LIST_LIBRARY(X)
#endif

#if VMS_BENCH_HAVE_IMPL && VMS_BENCH_HAVE_SWTLB
#define VMS_BENCH_LIST_SWTLB(X)                                                         \
    X("translate/dense/swtlb/indep", tr_swtlb, VMS_BENCH_IND(VMS_BENCH_TR_DENSE), (-1)) \
    X("translate/dense/swtlb/dep", tr_swtlb, VMS_BENCH_DEP(VMS_BENCH_TR_DENSE), (-1))   \
    X("translate/seq/swtlb/indep", tr_swtlb, VMS_BENCH_IND(VMS_BENCH_TR_SEQ), (-1))     \
    X("translate/seq/swtlb/dep", tr_swtlb, VMS_BENCH_DEP(VMS_BENCH_TR_SEQ), (-1))       \
    X("translate/sparse/swtlb/indep", tr_swtlb, VMS_BENCH_IND(VMS_BENCH_TR_SPARSE), (-1)) \
    X("translate/hot/swtlb/indep", tr_swtlb, VMS_BENCH_IND(VMS_BENCH_TR_HOT), (-1))     \
    X("translate/hot/swtlb/dep", tr_swtlb, VMS_BENCH_DEP(VMS_BENCH_TR_HOT), (-1))       \
    X("translate/mix/swtlb/indep", tr_swtlb, VMS_BENCH_IND(VMS_BENCH_TR_MIX), (-1))     \
    X("translate/mix/swtlb/dep", tr_swtlb, VMS_BENCH_DEP(VMS_BENCH_TR_MIX), (-1))
#else
#define VMS_BENCH_LIST_SWTLB(X)
#endif

#if VMS_BENCH_HAVE_IMPL && VMS_BENCH_HAVE_OWNER
#define VMS_BENCH_LIST_OWNER(X)                                                         \
    X("lease/owner/reader", lease_owner, VMS_BENCH_LEASE_READER, VMS_BENCH_LIVE)        \
    X("lease/owner/writer", lease_owner, VMS_BENCH_LEASE_WRITER, VMS_BENCH_LIVE)        \
    X("lease/owner/conflict", lease_owner, VMS_BENCH_LEASE_CONFLICT, VMS_BENCH_LIVE)    \
    X("lease/owner/shared", lease_owner, VMS_BENCH_LEASE_SHARED, VMS_BENCH_SHARED_LIVE)
#else
#define VMS_BENCH_LIST_OWNER(X)
#endif

#define VMS_BENCH_LIST(X)      \
    VMS_BENCH_LIST_LIBRARY(X)  \
    VMS_BENCH_LIST_SWTLB(X)    \
    VMS_BENCH_LIST_OWNER(X)    \
    VMS_BENCH_LIST_BASELINES(X)

/* Declarations of every family's functions (families may appear in several lines). */
#define VMS_BENCH_DECLARE_FAMILY(family)                                                \
    void *vms_bench_##family##_setup(int variant, int64_t arg, vms_bench_info_t *info);  \
    uint64_t vms_bench_##family##_step(void *state);                                    \
    void vms_bench_##family##_reset(void *state);                                       \
    void vms_bench_##family##_report(void *state, vms_bench_info_t *info);              \
    void vms_bench_##family##_teardown(void *state);

#ifdef __cplusplus
extern "C" {
#endif
VMS_BENCH_DECLARE_FAMILY(map_bare)
VMS_BENCH_DECLARE_FAMILY(map_bare_gen)
VMS_BENCH_DECLARE_FAMILY(map_rootwalk)
VMS_BENCH_DECLARE_FAMILY(map_clear)
VMS_BENCH_DECLARE_FAMILY(map_rewrite)
VMS_BENCH_DECLARE_FAMILY(scan_clear)
VMS_BENCH_DECLARE_FAMILY(cow_copy)
VMS_BENCH_DECLARE_FAMILY(op1_rootwalk)
VMS_BENCH_DECLARE_FAMILY(op1)
VMS_BENCH_DECLARE_FAMILY(lease_rb)
VMS_BENCH_DECLARE_FAMILY(lease_list)
VMS_BENCH_DECLARE_FAMILY(map_cursor)
VMS_BENCH_DECLARE_FAMILY(map_space)
VMS_BENCH_DECLARE_FAMILY(map_single)
VMS_BENCH_DECLARE_FAMILY(unmap_space)
VMS_BENCH_DECLARE_FAMILY(protect_space)
VMS_BENCH_DECLARE_FAMILY(protect_mask)
VMS_BENCH_DECLARE_FAMILY(harvest_space)
VMS_BENCH_DECLARE_FAMILY(harvest_next)
VMS_BENCH_DECLARE_FAMILY(clone_cow)
VMS_BENCH_DECLARE_FAMILY(move)
VMS_BENCH_DECLARE_FAMILY(collapse)
VMS_BENCH_DECLARE_FAMILY(tr_walk)
VMS_BENCH_DECLARE_FAMILY(tr_bare)
VMS_BENCH_DECLARE_FAMILY(tr_swtlb)
VMS_BENCH_DECLARE_FAMILY(lease_owner)
#ifdef __cplusplus
}
#endif

#endif
