/* vms_cursor_locks.pml - SPIN model of the cursor lock protocol and the deferred freeing of
 * page tables (run by tools/spin.sh).
 *
 * What it models: a root table R (level 2, id 0) with 2 slots, each empty or pointing at a
 * level-1 table taken from a pool of 3 ids (1..3, lowest free id first, so a freed id comes
 * back: use-after-free and ABA). A level-1 table has 2 leaves (0 = unmapped, else a frame).
 * Each table has a lock, a stray flag and a count of used slots. A table is freed (back to
 * the pool, metadata cleared) only after a grace period: retire records the processes then
 * in a read section and the table is freed when the last of them leaves its section.
 *
 * Processes and the C functions they stand for:
 *   cursor(1), cursor(2)  vms_cursor_open + map/unmap + vms_cursor_close, NOPS operations
 *                         each, every one chosen freely: map one leaf, unmap one leaf, unmap
 *                         everything under R. Cursor 1's leaf is (0,0); cursor 2's is (0,0),
 *                         (0,1) or (1,0): the same leaf, the other leaf of the same child, a
 *                         leaf of the other child ((1,1) would only mirror (1,0)).
 *   reader(3)             vms_translate: a lock-free walk inside a read section, NREAD times
 *   collector(4)          vms_space_collect, once, concurrently; init runs one more collect
 *                         after every process has ended, then checks the final tree
 * The protocol's steps are numbered in the comments as in its description (1 read section,
 * 2 lock-free descent, 3 lock and stray check, 4 DFS locks, 5 operate, 6 close, 7 leave).
 * The collect checks, under R's lock, that R still points at a listed table before it locks
 * it (see BUG_COLLECT_LOCK_FIRST for why).
 *
 * Properties (assertions, plus pan's invalid-end-state and non-progress-cycle checks):
 *   - two cursors with overlapping ranges are never both in step 5 (a ghost owner per leaf);
 *   - a cursor in step 5 writes only tables that are allocated, not stray and hang from R;
 *   - no lock-free read (reader, descent) and no lock lands on a table that is free, or that
 *     was freed and reused since its id was read (ABA: the ghost stale flags);
 *   - no deadlock (invalid end state), and no cycle at all (pan -l): every process ends;
 *   - at the end the tree is consistent (children counts), every retired table is free, no
 *     table leaked, and with nothing mapped only R is left.
 *
 * Bounds: 2 R slots, 3 pool tables, 2 leaves each, NOPS = 2 operations per cursor, NREAD = 1.
 * About 1.4 million states (safety) and 2.8 million (cycle search).
 *
 * Broken variants (tools/spin.sh --mutate expects each one to be caught):
 *   BUG_NO_STRAY_CHECK      step 3 skips the stray check after locking the descent's table
 *   BUG_FREE_BEFORE_GRACE   retire frees at once, with no grace period
 *   BUG_NO_DFS_LOCK         a cursor covering R does not lock the children it works on
 *   BUG_MAP_NO_RECHECK      a map does not re-read R's slot under R's lock before allocating
 *   BUG_PUBLISH_BEFORE_LOCK a new table is stored into R before the map cursor locks it
 *   BUG_CLOSE_WAIT_R        the close waits for R's lock instead of a trylock (deadlock)
 *   BUG_CLOSE_SPIN_TRYLOCK  the close retries the trylock while holding its table (livelock,
 *                           caught only by the non-progress run)
 *   BUG_COLLECT_LOCK_FIRST  collect locks a listed table before checking, under R's lock,
 *                           that R still points at it. This is the order the protocol was
 *                           first described in, and it fails: a close finds R held by an
 *                           unmap-everything cursor that waits for the close's table T, so
 *                           it lists T; that cursor then detaches and retires T, the grace
 *                           period ends and T is freed; the collect locks the free T. The
 *                           default (check the slot first, touch T only if R still holds
 *                           it) is the fix.
 */

#ifndef NOPS
#define NOPS 2
#endif
#ifndef NREAD
#define NREAD 1
#endif

/* Owner ids: cursors 1 and 2, reader 3, collector 4, init 5. Steps that touch only what the
 * process's locks protect, or only its own locals, are merged into one atomic step: no other
 * process can tell them apart. Lock-free reads and every lock acquisition stay steps of their
 * own, and so do the start and the end of each operating phase. */
#define ME_INIT 5
#define NREF 3      /* processes that read tables lock-free: 1..3 */
#define NONE 255

#define MAP 1
#define UNMAP 2
#define UNMAP_ALL 3

#define BIT(p) (1 << (p))
#define LEAF(t, y) leaf[(t) * 2 + (y)]

byte rslot[2];      /* R's slots: 0 = empty, else a table id */
byte leaf[8];       /* LEAF(t, y) for t in 1..3 */
byte lck[4];        /* 0 = unlocked, else the owner */
bool stray[4];
byte children[4];
bool allocd[4];     /* allocd[0] (R) is always set */
bool retired[4];
byte waitm[4];      /* retired table: processes whose read section must still end */
bool maybe[4];      /* the "maybe empty" list */
byte inrs;          /* processes in a read section */
byte ref[NREF + 1];     /* the table id a process last read lock-free */
bool stale[NREF + 1];   /* ...and that table was freed since */
byte own[4];        /* ghost: the cursor operating on leaf j*2+x */

/* A lock-free read of R's slot j. */
inline read_slot() {
    t = rslot[j]; ref[me] = t; stale[me] = 0
}

inline free_tbl(t) {
    assert(stray[t]);
    allocd[t] = 0; retired[t] = 0; waitm[t] = 0;
    LEAF(t, 0) = 0; LEAF(t, 1) = 0; children[t] = 0; stray[t] = 0;
    for (p2 : 1 .. NREF) {
        if
        :: ref[p2] == t -> stale[p2] = 1
        :: else -> skip
        fi
    }
}

/* Called once the table is unreachable from R: whoever is in a read section now may still
 * hold it; whoever enters later cannot find it. */
inline retire(t) {
    retired[t] = 1;
    waitm[t] = inrs;
#ifdef BUG_FREE_BEFORE_GRACE
    free_tbl(t)
#else
    if
    :: waitm[t] == 0 -> free_tbl(t)
    :: else -> skip
    fi
#endif
}

inline rs_enter() {
    inrs = inrs | BIT(me)
}

/* Leaving a read section ends the grace period of every table retired while in it. */
inline rs_leave() {
    inrs = inrs & ~BIT(me);
    ref[me] = 0;
    stale[me] = 0;
    for (q : 1 .. 3) {
        if
        :: retired[q] && (waitm[q] & BIT(me)) ->
            waitm[q] = waitm[q] & ~BIT(me);
            if
            :: waitm[q] == 0 -> free_tbl(q)
            :: else -> skip
            fi
        :: else -> skip
        fi
    }
}

inline unlock(t) {
    assert(lck[t] == me); lck[t] = 0
}

/* An operating cursor writes table t, which must hang from R's slot k. */
inline touch(t, k) {
    assert(allocd[t] && !stray[t] && rslot[k] == t)
}

inline claim(pos) {
    assert(own[pos] == 0); own[pos] = me
}

/* t hangs from R's slot k, is empty and is locked (with R) by the caller. */
inline detach(t, k) {
    rslot[k] = 0; children[0]--; stray[t] = 1;
#ifdef BUG_NO_DFS_LOCK
    if
    :: lck[t] == me -> unlock(t)
    :: else -> skip
    fi;
#else
    unlock(t);
#endif
    retire(t)
}

/* Step 5 of a leaf operation on the level-1 table cov. */
inline operate(cov) {
    touch(cov, j);
    if
    :: op == MAP ->
        if
        :: LEAF(cov, x) == 0 -> children[cov]++
        :: else -> skip
        fi;
        LEAF(cov, x) = 1
    :: else ->
        if
        :: LEAF(cov, x) != 0 -> LEAF(cov, x) = 0; children[cov]--
        :: else -> skip
        fi
    fi
}

/* vms_space_collect: under R's lock, each listed table that still hangs from R. */
inline collect() {
    atomic { lck[0] == 0 -> lck[0] = me };
    for (q : 1 .. 3) {
        atomic {
            if
            :: maybe[q] ->
                maybe[q] = 0;
#ifdef BUG_COLLECT_LOCK_FIRST
                lck[q] == 0 -> assert(allocd[q]); lck[q] = me;
#endif
                if
                :: rslot[0] == q -> k = 0
                :: rslot[1] == q -> k = 1
                :: else -> k = 2
                fi;
                if
                :: k < 2 ->
#ifndef BUG_COLLECT_LOCK_FIRST
                    lck[q] == 0 -> assert(allocd[q]); lck[q] = me;
#endif
                    if
                    :: children[q] == 0 && !stray[q] -> detach(q, k)
                    :: else -> unlock(q)
                    fi
                :: else ->
#ifdef BUG_COLLECT_LOCK_FIRST
                    unlock(q)
#else
                    skip
#endif
                fi
            :: else -> skip
            fi
        }
    }
    atomic { unlock(0) }
}

/* Unmap everything: the covering table is R, both children intersect the range. */
inline unmap_all() {
    atomic { lck[0] == 0 -> lck[0] = me };  /* step 3 (R is never stray) */
    /* step 4: every child, in slot order, re-read under R's lock */
#ifndef BUG_NO_DFS_LOCK
    for (k : 0 .. 1) {
        atomic {
            c = rslot[k];
            if
            :: c != 0 -> lck[c] == 0 -> assert(allocd[c]); lck[c] = me
            :: else -> skip
            fi
        }
    }
#endif
    atomic {    /* step 5: clear both children and detach them */
        for (q : 0 .. 3) {
            claim(q)
        }
        for (k : 0 .. 1) {
            c = rslot[k];
            if
            :: c != 0 ->
                touch(c, k);
                LEAF(c, 0) = 0; LEAF(c, 1) = 0; children[c] = 0;
                detach(c, k)
            :: else -> skip
            fi
        }
    }
    atomic {    /* steps 6 and 7 */
        for (q : 0 .. 3) {
            own[q] = 0
        }
        unlock(0);
        rs_leave()
    }
}

/* Map or unmap leaf x of child j; t holds the lock-free read of R's slot j. */
inline leaf_op() {
    do
    :: t != 0 ->
        /* steps 2-3: lock the table the descent found, retry from R if it is stray */
        atomic {
            lck[t] == 0 ->
            assert(allocd[t] && !stale[me]);
            lck[t] = me;
            if
#ifndef BUG_NO_STRAY_CHECK
            :: stray[t] -> unlock(t); read_slot()
#endif
            :: else -> cov = t; claim(j * 2 + x); operate(cov); break
            fi
        }
    :: t == 0 && op == MAP ->
        atomic {
            lck[0] == 0 -> lck[0] = me;
            if
#ifndef BUG_MAP_NO_RECHECK
            :: rslot[j] != 0 -> unlock(0); read_slot()   /* published meanwhile */
#endif
            :: else ->
                if
                :: !allocd[1] -> t = 1
                :: allocd[1] && !allocd[2] -> t = 2
                :: allocd[1] && allocd[2] && !allocd[3] -> t = 3
                :: else -> t = 0
                fi;
                if
                :: t == 0 -> unlock(0); cov = NONE; break   /* out of tables: map fails */
                :: else -> skip
                fi;
                allocd[t] = 1;
                cov = t;
#ifdef BUG_PUBLISH_BEFORE_LOCK
                rslot[j] = t; children[0]++;
                unlock(0);
                break
#else
                lck[t] = me;    /* locked before it is published */
                rslot[j] = t; children[0]++;
                unlock(0);
                claim(j * 2 + x); operate(cov);
                break
#endif
            fi
        }
    :: t == 0 && op == UNMAP ->
        /* nothing under slot j: the covering table is R */
        atomic { lck[0] == 0 -> lck[0] = me; cov = 0; c = rslot[j] };
        break
    od;
#ifdef BUG_PUBLISH_BEFORE_LOCK
    if
    :: cov != NONE && cov != 0 && lck[cov] != me ->
        atomic { lck[cov] == 0 -> lck[cov] = me; claim(j * 2 + x); operate(cov) }
    :: else -> skip
    fi;
#endif
    if
    :: cov == NONE -> atomic { rs_leave() }
    :: cov == 0 ->
        /* step 4: the one child in range, re-read under R's lock; step 5 */
        atomic {
#ifndef BUG_NO_DFS_LOCK
            if
            :: c != 0 -> lck[c] == 0 -> assert(allocd[c]); lck[c] = me
            :: else -> skip
            fi;
#endif
            claim(j * 2 + x);
            if
            :: c != 0 ->
                touch(c, j);
                if
                :: LEAF(c, x) != 0 -> LEAF(c, x) = 0; children[c]--
                :: else -> skip
                fi;
                if
                :: children[c] == 0 -> detach(c, j); c = 0
                :: else -> skip
                fi
            :: else -> skip
            fi
        };
        /* steps 6 and 7 */
        atomic {
            own[j * 2 + x] = 0;
#ifdef BUG_NO_DFS_LOCK
            c = 0;
#endif
            if
            :: c != 0 -> unlock(c)
            :: else -> skip
            fi;
            unlock(0);
            rs_leave()
        }
    :: else ->
        /* steps 6-7 for the level-1 table cov: an empty one is detached, under its own lock,
         * if R can be had at once; else it goes on the "maybe empty" list */
        own[j * 2 + x] = 0;
        if
        :: children[cov] == 0 ->
#if defined(BUG_CLOSE_WAIT_R)
            atomic { lck[0] == 0 -> lck[0] = me; got = 1 };
#elif defined(BUG_CLOSE_SPIN_TRYLOCK)
            do
            :: atomic { lck[0] == 0 -> lck[0] = me; got = 1 }; break
            :: lck[0] != 0 -> skip
            od;
#endif
            atomic {
#if !defined(BUG_CLOSE_WAIT_R) && !defined(BUG_CLOSE_SPIN_TRYLOCK)
                if
                :: lck[0] == 0 -> lck[0] = me; got = 1
                :: else -> got = 0
                fi;
#endif
                if
                :: got ->
                    if
                    :: rslot[j] == cov && children[cov] == 0 && !stray[cov] ->
                        rslot[j] = 0; children[0]--; stray[cov] = 1;
                        retire(cov)
                    :: else -> skip
                    fi;
                    unlock(0)
                :: else -> maybe[cov] = 1
                fi;
                unlock(cov);
                rs_leave()
            }
        :: else -> atomic { unlock(cov); rs_leave() }
        fi
    fi
}

proctype cursor(byte me) {
    byte n, op, j, x, t, c, k, cov, got, q, p2;
    do
    :: n == NOPS -> break
    :: n < NOPS ->
        atomic {
            if
            :: op = MAP
            :: op = UNMAP
            :: op = UNMAP_ALL
            fi;
            /* cursor 1 works on leaf (0,0); cursor 2 on the same leaf, the other leaf of
             * the same child or a leaf of the other child ((1,1) would mirror (1,0)) */
            if
            :: op == UNMAP_ALL || me == 1 -> skip
            :: else ->
                if
                :: skip
                :: x = 1
                :: j = 1
                fi
            fi;
            rs_enter();     /* step 1 */
            if
            :: op != UNMAP_ALL -> read_slot()   /* step 2 */
            :: else -> skip
            fi
        };
        if
        :: op == UNMAP_ALL -> unmap_all()
        :: else -> leaf_op()
        fi;
        d_step { n++; op = 0; j = 0; x = 0; t = 0; c = 0; k = 0; cov = 0; got = 0 }
    od
}

/* vms_translate: a walk with no lock, inside a read section. */
proctype reader(byte me) {
    byte n, j, x, t, q, p2;
    do
    :: n == NREAD -> break
    :: n < NREAD ->
        atomic {
            if
            :: j = 0
            :: j = 1
            fi;
            if
            :: x = 0
            :: x = 1
            fi;
            rs_enter();
            read_slot()
        };
        atomic {
            if
            :: t != 0 -> assert(allocd[t] && !stale[me]); t = LEAF(t, x)
            :: else -> skip
            fi;
            rs_leave()
        };
        d_step { n++; j = 0; x = 0; t = 0 }
    od
}

proctype collector(byte me) {
    byte q, k, p2;
    collect()
}

init {
    byte me = ME_INIT;
    byte q, k, p2, t, used;
    atomic {
        allocd[0] = 1;
        run cursor(1);
        run cursor(2);
        run reader(3);
        run collector(4)
    };
    _nr_pr == 1;
    collect();
    d_step {
        assert(inrs == 0);
        used = 0;
        for (k : 0 .. 1) {
            t = rslot[k];
            if
            :: t != 0 ->
                assert(allocd[t] && !stray[t] && children[t] > 0);
                assert(children[t] == (LEAF(t, 0) != 0) + (LEAF(t, 1) != 0));
                used++
            :: else -> skip
            fi
        }
        assert(children[0] == used);
        for (q : 0 .. 3) {
            assert(lck[q] == 0 && !retired[q]);
            /* no leak: an allocated pool table hangs from R */
            assert(q == 0 || allocd[q] == (rslot[0] == q || rslot[1] == q))
        }
        /* with nothing mapped, only R is left */
        assert(used > 0 || !(allocd[1] || allocd[2] || allocd[3]))
    }
}
