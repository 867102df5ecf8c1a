/* vms_swtlb_gen.pml - SPIN model of the software TLB's per-table generation rule (run by
 * tools/spin.sh).
 *
 * What it models: R has one slot, empty or pointing at a level-1 table taken from a pool of
 * 2 ids (lowest free first, so a detached table comes back: ABA). A table has one leaf
 * (0 = unmapped, else a value; every value stored is new, so an old value never returns) and
 * a generation gen that is never reset, not even when the table is freed and reused. A
 * change makes gen odd before the table's first entry changes and even again at the close;
 * a detach makes it odd and leaves it odd until the table is reused. A retired table is
 * freed once the reader has left the read section it was in at the retire (grace period).
 *
 * Processes and the C functions they stand for:
 *   writer  vms_cursor_open + map/unmap + vms_cursor_close (and vms_space_unmap of the whole
 *           table): NW operations, each chosen freely among those that apply: remap A -> B,
 *           unmap A (the close keeps the empty table or detaches it), unmap everything
 *           (detaches the table whole, its leaf left as it was), map into an empty slot (a
 *           new or reused table) or into an empty table
 *   reader  vms_swtlb_translate with a one-entry TLB, NR translations. A hit is a valid entry
 *           with gen[entry.table] == entry.gen (one load: the hit reads the gen of a table
 *           that may be free, so table memory must stay type-stable); a miss walks inside a
 *           read section: t = R's slot, g1 = gen[t], v = leaf, g2 = gen[t], and fills
 *           (t, g1, v) only if g1 == g2, g1 is even and v is mapped (absences are not cached)
 *
 * Properties: no stale hit (a hit never returns a value whose removal's close has completed;
 * the ghost set dead), and a miss returns only 0 or a value once written (no torn value).
 *
 * Bounds: one slot, 2 pool tables, NW writer operations, NR translations.
 *
 * Broken variants (tools/spin.sh --mutate expects each one to be caught):
 *   BUG_FILL_GEN_AFTER      the fill is tagged with the gen read after the leaf (g2) and does
 *                           not check g1 == g2
 *   BUG_FILL_ODD            the fill does not require an even gen
 *   BUG_DETACH_NO_GEN       a detach leaves gen as it was
 *   BUG_GEN_RESET_ON_REUSE  a freed table's gen restarts at 0
 * Not a bug (kept to document it; spin finds no error): BUG_FILL_NO_RECHECK drops only the
 * g1 == g2 check. With one-word leaves and a gen that only grows, tagging with g1 (read
 * before the leaf) and requiring it even is already enough for this property.
 */

#ifndef NW
#define NW 4
#endif
#ifndef NR
#define NR 4
#endif

#define BIT(v) (1 << (v))

byte rslot = 1;     /* R's slot: 0 = empty, else a table id (1 or 2) */
byte gen[3];
byte leaf[3];
bool allocd[3];
bool retired[3];
bool rwait[3];      /* retired while the reader was in its read section */
bool inrs;          /* the reader is in a read section */
byte dead;          /* ghost: values whose removal has been closed */
byte written;       /* ghost: every value ever stored */
byte nextv = 2;

/* Before the first change to t's entries in a cursor. */
inline begin_change(t) {
    if
    :: (gen[t] & 1) == 0 -> gen[t]++
    :: else -> skip
    fi
}

inline free_tbl(t) {
    allocd[t] = 0; retired[t] = 0; rwait[t] = 0; leaf[t] = 0;
#ifdef BUG_GEN_RESET_ON_REUSE
    gen[t] = 0
#else
    skip
#endif
}

inline retire(t) {
    retired[t] = 1;
    rwait[t] = inrs;
    if
    :: !inrs -> free_tbl(t)
    :: else -> skip
    fi
}

inline new_value() {
    v = nextv; nextv++; written = written | BIT(v)
}

proctype writer() {
    byte n, t, old, v;
    do
    :: n == NW -> break
    :: n < NW ->
        if
        :: rslot != 0 && leaf[rslot] != 0 ->
            /* remap A -> B */
            atomic { t = rslot; old = leaf[t]; begin_change(t) };
            atomic { new_value(); leaf[t] = v };
            atomic { gen[t]++; dead = dead | BIT(old) }
        :: rslot != 0 && leaf[rslot] != 0 ->
            /* unmap A; the close finds the table empty */
            atomic { t = rslot; old = leaf[t]; begin_change(t) };
            leaf[t] = 0;
            if
            :: atomic { gen[t]++; dead = dead | BIT(old) }    /* R busy: table stays */
            :: rslot = 0;                                     /* detached: gen stays odd */
               atomic { dead = dead | BIT(old); retire(t) }
            fi
        :: rslot != 0 ->
            /* unmap everything: the table goes whole, its leaf as it was */
            atomic {
                t = rslot; old = leaf[t];
#ifndef BUG_DETACH_NO_GEN
                begin_change(t)
#endif
            };
            rslot = 0;
            atomic {
                if
                :: old != 0 -> dead = dead | BIT(old)
                :: else -> skip
                fi;
                retire(t)
            }
        :: rslot == 0 && (!allocd[1] || !allocd[2]) ->
            /* map into the empty slot: a new table, or a reused one */
            atomic {
                if
                :: !allocd[1] -> t = 1
                :: else -> t = 2
                fi;
                allocd[t] = 1;
                begin_change(t)
            };
            rslot = t;
            atomic { new_value(); leaf[t] = v };
            gen[t]++
        :: rslot != 0 && leaf[rslot] == 0 ->
            /* map into an empty table */
            atomic { t = rslot; begin_change(t) };
            atomic { new_value(); leaf[t] = v };
            gen[t]++
        fi;
        d_step { n++; t = 0; old = 0; v = 0 }
    od
}

proctype reader() {
    byte n, t, g1, g2, v, et, eg, ev;   /* the entry: table et, gen eg, value ev (0: none) */
    do
    :: n == NR -> break
    :: n < NR ->
        if
        :: atomic {
               ev != 0 && gen[et] == eg ->
               assert((dead & BIT(ev)) == 0)    /* no stale hit */
           }
        :: atomic { !(ev != 0 && gen[et] == eg) -> inrs = 1; t = rslot };
           if
           :: t != 0 ->
               g1 = gen[t];
               v = leaf[t];
               g2 = gen[t];
               assert(v == 0 || (written & BIT(v)) != 0);
               if
#if defined(BUG_FILL_GEN_AFTER)
               :: (g2 & 1) == 0 && v != 0 -> et = t; eg = g2; ev = v
#elif defined(BUG_FILL_ODD)
               :: g1 == g2 && v != 0 -> et = t; eg = g1; ev = v
#elif defined(BUG_FILL_NO_RECHECK)
               :: (g1 & 1) == 0 && v != 0 -> et = t; eg = g1; ev = v
#else
               :: g1 == g2 && (g1 & 1) == 0 && v != 0 -> et = t; eg = g1; ev = v
#endif
               :: else -> skip
               fi
           :: else -> skip
           fi;
           atomic {
               inrs = 0;
               for (t : 1 .. 2) {
                   if
                   :: retired[t] && rwait[t] -> free_tbl(t)
                   :: else -> skip
                   fi
               }
           }
        fi;
        d_step { n++; t = 0; g1 = 0; g2 = 0; v = 0 }
    od
}

init {
    atomic {
        allocd[1] = 1;
        leaf[1] = 1;
        written = BIT(1);
        run writer();
        run reader()
    }
}
