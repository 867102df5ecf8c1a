/* vmspace_urcu.h - the stock reclaim hook for concurrent spaces, over liburcu.
 *
 * A concurrent space (vms_space_desc_t.concurrent) frees a table another thread's unmap
 * removed only after every reader that might still be walking it has left its read section.
 * This header gives that rule liburcu's meaning (the "memb" flavour: a read section is a
 * thread-local counter, a grace period is a membarrier). Include it after vmspace.h in any
 * file; it defines static inline functions only. Link with -lurcu-memb (pkg-config
 * liburcu-memb; Debian package liburcu-dev).
 *
 *     vms_reclaim_t rc = vms_urcu_reclaim();
 *     vms_space_desc_t d = {0};
 *     d.concurrent = true;
 *     d.reclaim = &rc;
 *     ...
 *     // every thread that touches the space:
 *     urcu_memb_register_thread();
 *     vms_read_enter(&sp);
 *     ... vms_translate(&sp, va, &pa) ... vms_swtlb_translate(&tlb, va, &pa) ...
 *     vms_read_leave(&sp);
 *     urcu_memb_unregister_thread();
 *
 * Why liburcu rather than Concurrency Kit's ck_epoch (also packaged): call_rcu may be called
 * from any registered thread and rcu_barrier waits for the callbacks of every thread, which is
 * what vms_space_destroy needs; ck_epoch's deferrals belong to a per-thread record that only
 * its owner may poll. Readers pass no record either: the read section is the thread's own.
 *
 * Rules: register every thread that reads or changes the space with liburcu; do not call a
 * mutation of the space (or destroy it) inside a read section, since a grace period cannot end
 * while its own thread holds one.
 */
#ifndef VMSPACE_URCU_H_INCLUDED
#define VMSPACE_URCU_H_INCLUDED

#include <stdlib.h>

#include <urcu/urcu-memb.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One retired list riding liburcu's callback queue. */
typedef struct vms__urcu_node_s {
    struct rcu_head head; /* first: the callback gets its address */
    void (*done)(void *ctx, uint64_t list);
    void *ctx;
    uint64_t list;
} vms__urcu_node_t;

static inline void vms__urcu_enter(void *user) {
    (void)user;
    urcu_memb_read_lock();
}

static inline void vms__urcu_leave(void *user) {
    (void)user;
    urcu_memb_read_unlock();
}

static inline void vms__urcu_run(struct rcu_head *h) {
    vms__urcu_node_t *n = (vms__urcu_node_t *)(void *)h;
    n->done(n->ctx, n->list);
    free(n);
}

static inline void vms__urcu_retire(void *user, void (*done)(void *ctx, uint64_t list),
                                    void *ctx, uint64_t list) {
    vms__urcu_node_t *n = (vms__urcu_node_t *)malloc(sizeof *n);
    (void)user;
    if (!n) { /* no memory for the queue: wait for the grace period here instead */
        urcu_memb_synchronize_rcu();
        done(ctx, list);
        return;
    }
    n->done = done;
    n->ctx = ctx;
    n->list = list;
    urcu_memb_call_rcu(&n->head, vms__urcu_run);
}

static inline void vms__urcu_barrier(void *user) {
    (void)user;
    urcu_memb_barrier();
}

/* The hook: copy it into vms_space_desc_t.reclaim (the space keeps its own copy). */
static inline vms_reclaim_t vms_urcu_reclaim(void) {
    vms_reclaim_t r;
    r.read_enter = vms__urcu_enter;
    r.read_leave = vms__urcu_leave;
    r.retire = vms__urcu_retire;
    r.barrier = vms__urcu_barrier;
    r.user = NULL;
    return r;
}

#ifdef __cplusplus
}
#endif
#endif /* VMSPACE_URCU_H_INCLUDED */
