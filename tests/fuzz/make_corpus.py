#!/usr/bin/env python3
"""Write the seed corpus of fuzz_vmspace (tests/fuzz/corpus/): one small file per scenario.

The byte encoding mirrors the decoders of fuzz_vmspace.c (fz_setup, fz_va, fz_len, fz_pa,
fz_prop and the op switch); change both together. Usage: make_corpus.py [output-dir]
"""
import os
import sys

# ---- configuration byte (fz_setup) ----
L5, PCID, THRESH4, OTHER, OWNER = 1, 2, 4, 8, 16

# ---- op numbers (low nibble of the op byte); FAIL arms an allocation failure ----
MAP, UNMAP, PROTECT, CHECK, CHECKOFF, CURSOR, COPY, ACT = 0, 3, 4, 5, 6, 7, 8, 9
ACQ, LEASE, TLB, ENUM = 10, 12, 13, 14
FAIL = 0xC0

# ---- properties ----
R, W, X, USER, GLOBAL, ACC, DIRTY = 1, 2, 4, 8, 16, 32, 64

# ---- regions of fz_va ----
LOW, G1, B512, TOP4, HIGH4, TOPALL, P52, HIGH5 = range(8)

# ---- length indices of fz_lens ----
LEN = {"4k": 0, "8k": 1, "12k": 2, "64k": 3, "2m-4k": 4, "2m": 5, "2m+4k": 6, "4m": 7,
       "4m-4k": 8, "1g": 9, "1g+2m": 10, "2g": 11, "0": 12, "unaligned": 13, "2^63": 14,
       "max": 15}


def va(region, mode=0, idx=0, g=0):
    """mode 0: idx*4K, 1: idx*2M, 2: (idx&1)*1G + (g&7)*2M, 3: (g&15)*4K + idx*2M."""
    return bytes([region | (idx << 3) | (mode << 6), g])


def ln(name):
    return bytes([LEN[name]])


def pa_data(page=0):
    return bytes([(page & 15) << 2])


def pa_data_2m():
    return bytes([0xC0])


def pa_high_1g(k=0):
    return bytes([1 | (k << 4)])


def pa_high_2m(k=0):
    return bytes([1 | 8 | (k << 4)])


def pa_high_4k(k=0):
    return bytes([1 | 4 | (k << 3)])


def pa_limit(k=0):
    return bytes([2 | (k << 2)])


def pa_unaligned():
    return bytes([3 | 4])


def prop(p, cache=None, sw=0):
    c = sw & 7
    if cache is not None:
        c |= 8 | (cache << 4)
    return bytes([p & 0xFF, c])


def bad_cache_prop():
    return bytes([R, 0xF8])


def bad_flag_prop():
    return bytes([R, 0xF9])


def op(n, fail=False):
    return bytes([n | (FAIL if fail else 0)])


def map_(v, length, pa, p, flags=0, owner=False, fail=False, fail_k=0):
    how = (flags << 1) | (1 if owner else 0) | (fail_k << 4)
    return op(MAP, fail) + v + length + bytes([how]) + pa + p


def unmap(v, length, owner=False, fail=False, fail_k=0):
    return op(UNMAP, fail) + v + length + bytes([(1 if owner else 0) | (fail_k << 4)])


def protect(v, length, p, owner=False, fail=False, fail_k=0):
    return op(PROTECT, fail) + v + length + bytes([(1 if owner else 0) | (fail_k << 4)]) + p


def check(v):
    return op(CHECK) + v


def copy(kind, length_idx, v, off=0, seed=0x11):
    """kind 0 copy_from, 2 copy_to, 4 fill, 5 read_val, 6 write_val, 7 shadow check."""
    return op(COPY) + bytes([length_idx | (kind << 3)]) + v + bytes([off, seed])


def activate(cpu_slot=0, other=False, deactivate=False, bad=None, destroy=False):
    if destroy:
        return op(ACT) + bytes([0x37])
    b = cpu_slot & 3
    if bad is not None:
        b = 0x40 | (bad << 4)
    if deactivate:
        b |= 8
    if other:
        b |= 0x80
    return op(ACT) + bytes([b])


def acquire(write, v, length, fail=False, fail_k=0, bad_kind=False):
    b = (1 if write else 0) | (fail_k << 4)
    if bad_kind:
        b = 6
    return op(ACQ, fail) + bytes([b]) + v + length


def lease(sub, pick=0, extra=b""):
    """sub 0 release, 2|k<<3 stale release, 3 read, 4 write, 5|a<<3 set active, 6 query,
    7|0x80 destroy the owner."""
    return op(LEASE) + bytes([sub, pick]) + extra


def cursor(v, length, subops):
    return op(CURSOR) + v + length + bytes([len(subops) - 1]) + b"".join(subops)


def c_jump(v):
    return bytes([0]) + v


def c_step(pages):
    return bytes([8 | (pages << 4)])


def c_query():
    return bytes([1])


def c_find(length):
    return bytes([2]) + length


def c_next():
    return bytes([3])


def c_protect_next(length, p, fail_k=0):
    return bytes([4 | (fail_k << 6)]) + length + p


def c_map(size_idx, pa, p, replace=False, fail_k=0):
    return bytes([5 | (size_idx << 3) | (0x20 if replace else 0) | (fail_k << 6)]) + pa + p


def c_unmap(length, fail_k=0):
    return bytes([6 | (fail_k << 6)]) + length


def c_flush():
    return bytes([7])


RWU = R | W | USER

SEEDS = {
    # Plain maps of each page size and their checks.
    "map_4k_copy": bytes([0]) + map_(va(LOW, 0, 1), ln("8k"), pa_data(1), prop(RWU))
    + copy(2, 5, va(LOW, 0, 1), 0x10) + copy(0, 6, va(LOW, 0, 1)) + copy(7, 0, va(LOW)),
    "map_2m_data": bytes([0]) + map_(va(LOW, 1, 1), ln("2m"), pa_data_2m(), prop(RWU | X))
    + check(va(LOW, 1, 1)) + copy(4, 7, va(LOW, 1, 1)) + copy(5, 3, va(LOW, 1, 1)),
    "map_1g_split": bytes([0]) + map_(va(G1, 2, 0), ln("1g"), pa_high_1g(1), prop(R | W))
    + unmap(va(G1, 3, 0, 3), ln("4k")) + protect(va(G1, 1, 2), ln("2m+4k"), prop(R)),
    "map_caps": bytes([0]) + map_(va(LOW, 1, 2), ln("4m"), pa_high_2m(0), prop(R), flags=4)
    + map_(va(G1, 1, 0), ln("2m"), pa_high_2m(1), prop(R), flags=2),
    "map_exist": bytes([0]) + map_(va(LOW), ln("64k"), pa_high_4k(), prop(R))
    + map_(va(LOW, 0, 3), ln("4k"), pa_high_4k(2), prop(R)),
    "replace_in_1g": bytes([0]) + map_(va(G1, 2, 0), ln("1g"), pa_high_1g(0), prop(R | W))
    + map_(va(G1, 3, 1, 1), ln("4k"), pa_data(2), prop(RWU), flags=1)
    + copy(2, 4, va(G1, 3, 1, 1)),
    "replace_table_by_huge": bytes([0]) + map_(va(LOW, 1, 1), ln("8k"), pa_data(0), prop(R))
    + map_(va(LOW, 1, 1), ln("2m"), pa_high_2m(1), prop(R | GLOBAL), flags=1),
    "five_levels": bytes([L5]) + map_(va(P52, 1, 1), ln("2m"), pa_high_2m(), prop(R))
    + map_(va(HIGH5, 0, 2), ln("12k"), pa_data(3), prop(RWU))
    + check(va(P52, 1, 1)) + check(va(HIGH5, 0, 2)) + unmap(va(P52, 1, 1), ln("2m")),
    "noncanon_4": bytes([0]) + map_(va(P52), ln("4k"), pa_data(), prop(R))
    + check(va(P52)) + unmap(va(HIGH5), ln("4k")),
    "top_edges": bytes([0]) + map_(va(TOP4, 1, 1), ln("2m"), pa_high_2m(), prop(R))
    + map_(va(TOP4, 1, 1), ln("4m"), pa_high_2m(), prop(R))
    + map_(va(TOPALL, 1, 1), ln("2m"), pa_high_2m(), prop(R)) + unmap(va(TOPALL), ln("8k")),
    "across_512g": bytes([L5]) + map_(va(B512, 1, 1), ln("4m"), pa_high_2m(2), prop(R))
    + unmap(va(B512, 3, 1, 15), ln("8k")),
    "bad_args": bytes([0]) + map_(va(LOW), ln("unaligned"), pa_data(), prop(R))
    + map_(va(LOW), ln("0"), pa_data(), prop(R)) + map_(va(LOW), ln("4k"), pa_unaligned(), prop(R))
    + map_(va(LOW), ln("4m"), pa_limit(), prop(R)) + map_(va(LOW), ln("4k"), pa_data(), bad_cache_prop())
    + map_(va(LOW), ln("4k"), pa_data(), bad_flag_prop()) + unmap(va(LOW), ln("2^63"))
    + protect(va(LOW), ln("max"), prop(R)),
    "protect_cache_sw": bytes([0]) + map_(va(LOW, 0, 4), ln("64k"), pa_data(4), prop(RWU | ACC))
    + protect(va(LOW, 0, 5), ln("8k"), prop(R | DIRTY, cache=3, sw=7))
    + protect(va(LOW, 0, 4), ln("4k"), prop(0, cache=5)) + check(va(LOW, 0, 5)),
    "noaccess_pages": bytes([0]) + map_(va(LOW, 0, 1), ln("12k"), pa_data(1), prop(W | X))
    + check(va(LOW, 0, 1)) + copy(0, 4, va(LOW, 0, 1)) + protect(va(LOW, 0, 1), ln("4k"), prop(RWU)),
    "enumerate_stop": bytes([0]) + map_(va(LOW), ln("64k"), pa_high_4k(), prop(R)) + op(ENUM) + bytes([3]),
    "swtlb": bytes([0]) + map_(va(LOW, 1, 1), ln("4m"), pa_high_2m(), prop(R))
    + op(TLB) + bytes([0]) + va(LOW, 1, 1) + va(LOW, 1, 2) + va(LOW, 1, 1) + va(LOW, 1, 3)
    + unmap(va(LOW, 1, 1), ln("2m")) + op(TLB) + bytes([0]) + va(LOW, 1, 1) * 4,
    # Copies.
    "copies_faults": bytes([0]) + map_(va(LOW, 0, 1), ln("4k"), pa_data(), prop(RWU))
    + map_(va(LOW, 0, 2), ln("4k"), pa_data(1), prop(R)) + map_(va(LOW, 0, 3), ln("4k"), pa_high_4k(), prop(RWU))
    + copy(2, 6, va(LOW, 0, 1), 0x20) + copy(0, 6, va(LOW, 0, 2)) + copy(0, 6, va(LOW, 0, 3))
    + copy(6, 2, va(LOW, 0, 1), 0x3c) + copy(5, 2 | 0xC0, va(LOW, 0, 1)),
    "copy_wrap": bytes([0]) + copy(0, 7, va(TOPALL, 0, 7, 0x8f), 0x3f) + copy(2, 7, va(TOPALL, 0, 7, 0x8f), 0x3f),
    # Cursor.
    "cursor_walk": bytes([0]) + map_(va(LOW, 0, 2), ln("12k"), pa_high_4k(), prop(R))
    + map_(va(LOW, 1, 1), ln("2m"), pa_high_2m(), prop(R))
    + cursor(va(LOW), ln("4m"), [c_next(), c_next(), c_query(), c_find(ln("4m")), c_jump(va(LOW, 0, 1)),
                                 c_find(ln("4k")), c_next(), c_step(3), c_query()]),
    "cursor_mutate": bytes([0]) + map_(va(G1, 2, 0), ln("1g"), pa_high_1g(), prop(R))
    + cursor(va(G1, 3, 0, 1), ln("4m"), [c_protect_next(ln("4k"), prop(R | W)), c_map(0, pa_data(), prop(RWU), True),
                                          c_unmap(ln("8k")), c_flush(), c_map(3, pa_data(), prop(R)),
                                          c_protect_next(ln("2m"), prop(R))]),
    "cursor_map_pages": bytes([0]) + cursor(va(LOW), ln("4m"), [c_map(0, pa_data(0), prop(R)), c_map(0, pa_data(1), prop(R)),
                                                              c_jump(va(LOW, 1, 1)), c_map(1, pa_high_2m(), prop(R)),
                                                              c_map(2, pa_high_1g(), prop(R))]),
    # Activation.
    "activate_pcid": bytes([PCID | OTHER]) + activate(0) + activate(1) + map_(va(LOW), ln("8k"), pa_high_4k(), prop(R))
    + unmap(va(LOW), ln("4k")) + activate(0, other=True) + protect(va(LOW, 0, 1), ln("4k"), prop(0))
    + activate(0) + activate(2, deactivate=True) + activate(1, deactivate=True) + activate(1),
    "activate_bad_cpu": bytes([0]) + activate(bad=0) + activate(bad=1) + activate(bad=2, deactivate=True)
    + activate(3) + activate(destroy=True) + activate(3, deactivate=True),
    "flush_threshold": bytes([THRESH4]) + activate(0) + map_(va(LOW), ln("64k"), pa_high_4k(), prop(R | GLOBAL))
    + unmap(va(LOW, 0, 1), ln("8k")) + unmap(va(LOW), ln("64k")),
    # Owner and leases.
    "owner_basic": bytes([OWNER]) + map_(va(LOW), ln("64k"), pa_data(), prop(RWU))
    + acquire(False, va(LOW, 0, 1), ln("8k")) + acquire(True, va(LOW, 0, 4), ln("4k"))
    + acquire(True, va(LOW, 0, 1), ln("4k")) + lease(3, 0, b"\x10\x00") + lease(4, 1, b"\x20\x00")
    + unmap(va(LOW), ln("64k"), owner=True) + lease(0, 0) + lease(0, 0),
    "owner_shared": bytes([OWNER]) + op(LEASE) + bytes([0x87, 0]) + op(ACQ) + bytes([1])
    + map_(va(LOW), ln("64k"), pa_data(), prop(RWU)) + acquire(False, va(LOW), ln("8k"))
    + acquire(False, va(LOW, 0, 1), ln("8k")) + acquire(True, va(LOW, 0, 1), ln("4k")),
    "owner_stale": bytes([OWNER]) + map_(va(LOW), ln("64k"), pa_data(), prop(RWU))
    + acquire(True, va(LOW), ln("4k")) + lease(0, 0) + lease(2, 0) + acquire(False, va(LOW), ln("4k"))
    + lease(2 | 8, 0) + lease(2 | 16, 0) + lease(2 | 24, 0),
    "owner_inactive": bytes([OWNER]) + map_(va(LOW), ln("64k"), pa_data(), prop(RWU))
    + acquire(True, va(LOW), ln("8k")) + lease(5, 0) + acquire(False, va(LOW, 0, 5), ln("4k"))
    + lease(3, 0) + lease(5 | 8, 0) + lease(4, 0),
    "owner_errors": bytes([OWNER]) + acquire(False, va(LOW), ln("4k")) + acquire(False, va(LOW), ln("0"), bad_kind=True)
    + map_(va(LOW), ln("8k"), pa_data(), prop(R)) + acquire(True, va(LOW), ln("8k"))
    + acquire(False, va(LOW), ln("12k")) + acquire(False, va(P52), ln("4k")),
    "owner_busy": bytes([OWNER]) + map_(va(LOW), ln("64k"), pa_data(), prop(RWU))
    + acquire(False, va(LOW, 0, 2), ln("4k")) + map_(va(LOW), ln("8k"), pa_data(3), prop(R), flags=1, owner=True)
    + map_(va(LOW, 0, 2), ln("4k"), pa_data(3), prop(R), flags=1, owner=True)
    + protect(va(LOW, 0, 2), ln("4k"), prop(R), owner=True) + lease(6, 0, va(LOW) + ln("64k"))
    + lease(0x87, 0),
    "owner_alias_write": bytes([OWNER]) + map_(va(LOW), ln("4k"), pa_data(5), prop(RWU))
    + map_(va(LOW, 0, 1), ln("4k"), pa_data(5), prop(RWU)) + acquire(False, va(LOW), ln("4k"))
    + acquire(True, va(LOW, 0, 1), ln("4k")) + lease(4, 1, b"\x00\x10") + lease(0, 0),
    "owner_copy_around": bytes([OWNER]) + map_(va(LOW), ln("8k"), pa_data(), prop(RWU))
    + acquire(False, va(LOW), ln("8k")) + copy(2, 4, va(LOW)) + lease(0, 0),
    # Allocation failures at chosen points.
    "nomem_map": bytes([L5]) + map_(va(P52, 3, 1, 3), ln("4k"), pa_data(), prop(R), fail=True, fail_k=2)
    + map_(va(P52, 3, 1, 3), ln("4k"), pa_data(), prop(R), fail=True, fail_k=9),
    "nomem_split": bytes([0]) + map_(va(G1, 2, 0), ln("1g"), pa_high_1g(), prop(R))
    + unmap(va(G1, 3, 0, 1), ln("4k"), fail=True, fail_k=1) + protect(va(G1, 3, 0, 1), ln("4k"), prop(R | W), fail=True, fail_k=2)
    + map_(va(G1, 3, 0, 1), ln("4k"), pa_data(), prop(R), flags=1, fail=True, fail_k=1),
    "nomem_cursor": bytes([0]) + map_(va(G1, 2, 0), ln("1g"), pa_high_1g(), prop(R))
    + op(CURSOR, True) + va(G1, 3, 0, 1) + ln("4m") + bytes([2]) + c_protect_next(ln("4k"), prop(R | W), fail_k=1)
    + c_protect_next(ln("4k"), prop(R | W), fail_k=0) + c_unmap(ln("4k"), fail_k=0),
    "nomem_acquire": bytes([OWNER]) + map_(va(LOW), ln("64k"), pa_data(), prop(RWU))
    + acquire(False, va(LOW), ln("4k"), fail=True, fail_k=0) + acquire(False, va(LOW), ln("4k"), fail=True, fail_k=1)
    + acquire(True, va(LOW, 0, 3), ln("4k"), fail=True, fail_k=2),
    "many_leases": bytes([OWNER | 0]) + map_(va(LOW), ln("2m"), pa_data_2m(), prop(RWU))
    + b"".join(acquire(i % 3 == 0, va(LOW, 0, i % 8, 0), ln("4k")) + acquire(False, va(LOW, 3, i % 8, i), ln("4k"))
               for i in range(12))
    + lease(6, 0, va(LOW) + ln("2m")) + lease(0, 3) + lease(0, 5) + lease(0x87, 0),
    "owner_destroy_busy": bytes([OWNER]) + map_(va(LOW), ln("8k"), pa_data(), prop(RWU))
    + acquire(False, va(LOW), ln("4k")) + lease(0x87, 0) + acquire(False, va(LOW), ln("4k")),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        assert len(data) < 1024, name
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
