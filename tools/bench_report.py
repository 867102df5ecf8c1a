#!/usr/bin/env python3
"""bench_report.py - turn vmspace_bench's Google Benchmark JSON into summary.md and plots.

Usage: tools/bench_report.py RAW.json [--out DIR] [--no-plots] [--mode NAME]
                             [--matrix LABEL=OTHER.json ...]

Every figure is "ns per item": the case's real (or manual) time per iteration divided by the
items one iteration does (pages mapped, translations, take+release pairs). With repetitions the
median is used. Ratios compare cases of the same run. Python 3 standard library only; the
plots are drawn by gnuplot when it is installed.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load(path):
    with open(path) as f:
        raw = json.load(f)
    runs = {}
    medians = {}
    errors = {}
    for b in raw.get("benchmarks", []):
        base = b.get("run_name", b["name"])
        if base.endswith("/manual_time"):
            base = base[: -len("/manual_time")]
        if b.get("error_occurred"):
            errors[base] = b.get("error_message", "error")
            continue
        if b.get("run_type") == "aggregate":
            # The best repetition ("min", added by the shim) when present, else the median.
            if b.get("aggregate_name") == "min" or (
                    b.get("aggregate_name") == "median" and
                    medians.get(base, {}).get("aggregate_name") != "min"):
                medians[base] = b
            continue
        runs.setdefault(base, []).append(b)
    data = {}
    for base in set(runs) | set(medians):
        if base in medians:
            picks = [medians[base]]
        else:
            picks = runs[base]
        rec = {}
        ns = []
        for b in picks:
            items = b.get("items_per_iter") or 1.0
            ns.append(b["real_time"] * UNIT_NS.get(b.get("time_unit", "ns"), 1.0) / items)
        ns.sort()
        rec["ns"] = ns[len(ns) // 2]
        for k, v in picks[0].items():
            if isinstance(v, (int, float)) and k not in rec:
                rec[k] = v
        data[base] = rec
    return raw.get("context", {}), data, errors


def fmt_ns(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.3g} ms"
    if v >= 1e3:
        return f"{v / 1e3:.3g} µs"
    return f"{v:.3g} ns"


def fmt_x(v):
    return "—" if v is None else f"{v:.2f}×"


def ns(data, name):
    r = data.get(name)
    return r["ns"] if r else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def counter(data, name, key):
    r = data.get(name)
    return r.get(key) if r else None


class Targets:
    def __init__(self):
        self.rows = []

    def add(self, what, measured, goal, ok):
        status = "—" if ok is None else ("**met**" if ok else "**NOT met**")
        self.rows.append((what, measured, goal, status))

    def lines(self):
        out = ["| target | measured | goal | result |", "|---|---|---|---|"]
        out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return out


def cost_targets(t, data, suffix=""):
    """The cost targets: each a ratio of two cases of one run, at most a goal."""
    def le(what, a, b, goal):
        va, vb = ns(data, a), ns(data, b)
        r = ratio(va, vb)
        t.add(what + suffix, f"{fmt_ns(va)} vs {fmt_ns(vb)} = {fmt_x(r)}", f"≤ {goal}×",
              None if r is None else r <= goal)

    le("one-shot map of one 4 KiB page (open, map, close) vs the root walker's install",
       "op1/oneshot/4k", "op1/rootwalk/4k", 1.0)
    le("vms_space_map of one 4 KiB page vs the root walker's install",
       "op1/space_map/4k", "op1/rootwalk/4k", 1.3)
    for size, label in (("2m", "2 MiB"), ("1g", "1 GiB")):
        le(f"vms_space_map of one {label} page vs the root walker's install",
           f"op1/space_map/{size}", f"op1/rootwalk/{size}", 2.0)
        le(f"vms_space_unmap of one {label} page vs the root walker's install",
           f"op1/space_unmap/{size}", f"op1/rootwalk/{size}", 2.0)
    le("vms_cursor_map, one 4 KiB page per call, vs the root walker per page",
       "map/single/4k", "map/rootwalk/4k", 0.5)
    le("unmap of 1 GiB of 4 KiB pages vs a bare clear loop",
       "unmap/space/4k", "unmap/bare_clear/4k", 2.0)
    le("protect RW→R of 1 GiB of 4 KiB pages vs a bare rewrite loop",
       "protect/space/4k", "protect/bare_rewrite/4k", 2.0)
    le("relative protect (-W, +W) of 1 GiB of 4 KiB pages vs a bare rewrite loop",
       "protect/mask/4k", "protect/bare_rewrite/4k", 2.0)
    le("harvest of D with clear, 1 GiB of 4 KiB pages all dirty, vs a bare scan-and-clear loop",
       "harvest/space/4k", "harvest/bare_scan_clear/4k", 2.0)
    le("the same harvest vs a walk of vms_cursor_next that only tests D (≥ 5× faster)",
       "harvest/space/4k", "harvest/cursor_next/4k", 0.2)
    le("copy-on-write clone of 1 GiB of 4 KiB pages vs a bare copy of the leaf entries "
       "(source write-protect included)", "clone/cow/4k", "clone/bare_cow_copy/4k", 2.0)
    le("move of 1 GiB of 4 KiB pages 4 GiB + 4 KiB away (entry by entry) vs unmap + map of "
       "the same range", "move/entries/4k", "move/unmap_map/4k", 1.5)
    for name, what, goal in (("move/relink/4k", "move of 1 GiB of 4 KiB pages by 4 GiB "
                              "(relinking its table)", 1000),
                             ("collapse/2m/4k", "collapse of one 2 MiB block of 4 KiB pages", 500)):
        v = ns(data, name)
        t.add(what + suffix, fmt_ns(v), f"≤ {goal} ns", None if v is None else v <= goal)
    le("software-TLB miss (random in 1 GiB, all misses) vs vms_translate on the same stream",
       "translate/dense/swtlb/indep", "translate/dense/walk/indep", 1.3)
    bare = [v for v in (ns(data, "map/bare_store/4k"), ns(data, "map/bare_gen/4k")) if v]
    cur = ns(data, "map/cursor/4k")
    best = min(bare) if bare else None
    r = ratio(cur, best)
    t.add("bulk map of 1 GiB of 4 KiB pages vs the best bare store loop" + suffix,
          f"{fmt_ns(cur)} vs {fmt_ns(best)} = {fmt_x(r)}", "≤ 1.0×",
          None if r is None else r <= 1.0)


def targets(data):
    t = Targets()
    cost_targets(t, data)
    for mode, label in (("indep", "independent"), ("dep", "dependent chain")):
        s = ns(data, f"translate/hot/swtlb/{mode}")
        t.add(f"software-TLB hit ({label}; 32 hot pages)", fmt_ns(s), "≤ 1 ns",
              None if s is None else s <= 1.0)
    for mode, label in (("indep", "independent"), ("dep", "dependent chain")):
        w = ns(data, f"translate/dense/walk/{mode}")
        b = ns(data, f"translate/dense/bare/{mode}")
        r = ratio(w, b)
        t.add(f"translate, warm random 1 GiB of 4 KiB pages ({label}) vs bare walk",
              f"{fmt_ns(w)} vs {fmt_ns(b)} = {fmt_x(r)}", "≤ 1.3×",
              None if r is None else r <= 1.3)
    for op in ("reader", "writer"):
        for live, goal in (("10", 1.0), ("1000", 0.7), ("1000000", 0.3)):
            o = ns(data, f"lease/owner/{op}/{live}")
            rb = ns(data, f"lease/rbtree/{op}/{live}")
            r = ratio(o, rb)
            t.add(f"lease take+release ({op}), {live} live, vs the RB interval tree",
                  f"{fmt_ns(o)} vs {fmt_ns(rb)} = {fmt_x(r)}", f"≤ {goal}×",
                  None if r is None else r <= goal)
        o6 = ns(data, f"lease/owner/{op}/1000000")
        o3 = ns(data, f"lease/owner/{op}/1000")
        r = ratio(o6, o3)
        t.add(f"lease take+release ({op}), cost at 10^6 over cost at 10^3",
              f"{fmt_ns(o6)} / {fmt_ns(o3)} = {fmt_x(r)}", "≤ 3×",
              None if r is None else r <= 3)
    for op in ("reader", "writer"):
        bpl = counter(data, f"lease/owner/{op}/1000000", "bytes_per_lease")
        cap = counter(data, f"lease/owner/{op}/1000000", "bytes_per_lease_capacity")
        tree = counter(data, f"lease/owner/{op}/1000000", "tree_bytes_per_lease")
        t.add(f"bytes per live lease in the trees at 10^6 ({op} set; slab capacity)",
              "—" if tree is None else
              f"{tree:.1f} B (handle registry adds {max(cap - tree, 0):.1f} B; "
              f"live nodes + registry {bpl:.1f} B)",
              "≤ 64 B", None if tree is None else tree <= 64)
    for size, label in (("4k", "4 KiB"), ("2m", "2 MiB"), ("1g", "1 GiB")):
        name = f"map/cursor/{size}"
        tp = counter(data, name, "table_pages")
        mn = counter(data, name, "table_pages_min")
        after = counter(data, name, "table_pages_after_unmap")
        reps = {"4k": "1 GiB", "2m": "8 GiB", "1g": "64 GiB"}[size]
        t.add(f"page-table pages for {reps} of {label} pages (root included); after unmap",
              "—" if tp is None else f"{tp:.0f} (min {mn:.0f}); {after:.0f} after unmap",
              "= minimum; 1 after unmap",
              None if tp is None else (tp <= mn and after == 1))
    return t


def op1_table(data):
    out = ["| operation | page | ns per call | × root walker | × bare walk+store |",
           "|---|---|---|---|---|"]
    names = [("op1/bare_walk_store", "bare inline walk + store (floor)"),
             ("op1/rootwalk", "root walker's install (kvm-unit-tests style)"),
             ("op1/oneshot", "cursor open + vms_cursor_map + close"),
             ("op1/space_map", "vms_space_map"),
             ("op1/space_unmap", "vms_space_unmap")]
    for size in ("4k", "2m", "1g"):
        root = ns(data, f"op1/rootwalk/{size}")
        bare = ns(data, f"op1/bare_walk_store/{size}")
        for prefix, label in names:
            v = ns(data, f"{prefix}/{size}")
            if v is None:
                continue
            out.append(f"| {label} | {size} | {fmt_ns(v)} | {fmt_x(ratio(v, root))} | "
                       f"{fmt_x(ratio(v, bare))} |")
    return out


def matrix_lines(matrix):
    """Per compiler and flags (other builds of this run): the cost targets again."""
    out = []
    for label, path in matrix:
        try:
            _, d, _ = load(path)
        except (OSError, ValueError) as e:
            out += [f"- {label}: no results ({e})", ""]
            continue
        t = Targets()
        cost_targets(t, d)
        out += [f"### {label}", ""] + t.lines() + [""]
    return out


def map_table(data):
    out = ["| operation | page | ns per page | per 1 GiB | × bare store | rootwalk ÷ this |",
           "|---|---|---|---|---|---|"]
    per_gib = {"4k": 262144, "2m": 512, "1g": 1}
    names = [("map/bare_store", "bare PTE store (baseline 1)"),
             ("map/bare_gen", "bare generated-PTE store"),
             ("map/cursor", "vms_cursor_map_range"),
             ("map/space", "vms_space_map"),
             ("map/single", "vms_cursor_map, one page per call"),
             ("map/rootwalk", "walk from the root per page (baseline 2)"),
             ("unmap/space", "vms_space_unmap"),
             ("unmap/bare_clear", "bare clear loop (unmap baseline)"),
             ("protect/space", "vms_space_protect"),
             ("protect/mask", "vms_space_protect_mask"),
             ("protect/bare_rewrite", "bare rewrite loop (protect baseline)"),
             ("harvest/space", "vms_space_harvest of D, clearing"),
             ("harvest/cursor_next", "D tested through vms_cursor_next"),
             ("harvest/bare_scan_clear", "bare scan-and-clear loop (harvest baseline)"),
             ("clone/cow", "vms_space_clone with copy-on-write"),
             ("clone/bare_cow_copy", "bare copy-on-write entry copy (clone baseline)")]
    for size in ("4k", "2m", "1g"):
        bare = ns(data, f"map/bare_store/{size}")
        root = ns(data, f"map/rootwalk/{size}")
        for prefix, label in names:
            v = ns(data, f"{prefix}/{size}")
            if v is None:
                continue
            out.append(f"| {label} | {size} | {fmt_ns(v)} | {fmt_ns(v * per_gib[size])} | "
                       f"{fmt_x(ratio(v, bare))} | {fmt_x(ratio(root, v))} |")
    return out


TR_SETS = [("dense", "random, 1 GiB of 4 KiB pages (warm)"),
           ("seq", "sequential, 1 KiB stride"),
           ("sparse", "random, sparse 64 GiB (cold tables)"),
           ("hot", "random in 32 hot pages"),
           ("mix", "7/8 hot, 1/8 random in 1 GiB")]


def translate_table(data):
    out = ["| addresses | mode | bare walk | vms_translate | software TLB | walk ÷ bare | "
           "walk ÷ TLB | TLB hit rate |", "|---|---|---|---|---|---|---|---|"]
    for s, label in TR_SETS:
        for mode in ("indep", "dep"):
            b = ns(data, f"translate/{s}/bare/{mode}")
            w = ns(data, f"translate/{s}/walk/{mode}")
            t = ns(data, f"translate/{s}/swtlb/{mode}")
            if b is None and w is None and t is None:
                continue
            hr = counter(data, f"translate/{s}/swtlb/{mode}", "swtlb_hit_rate")
            out.append(f"| {label} | {mode} | {fmt_ns(b)} | {fmt_ns(w)} | {fmt_ns(t)} | "
                       f"{fmt_x(ratio(w, b))} | {fmt_x(ratio(w, t))} | "
                       f"{'—' if hr is None else f'{hr * 100:.1f}%'} |")
    return out


def lease_sizes(data, struct, op):
    sizes = []
    for k in data:
        parts = k.split("/")
        if len(parts) == 4 and parts[0] == "lease" and parts[1] == struct and parts[2] == op:
            sizes.append(int(parts[3]))
    return sorted(sizes)


def lease_table(data):
    out = ["| operation | live | owner | RB interval tree | list | RB ÷ owner | list ÷ owner |"
           " owner B/lease | RB B/lease |", "|---|---|---|---|---|---|---|---|---|"]
    for op in ("reader", "writer", "conflict", "shared"):
        sizes = sorted(set(lease_sizes(data, "owner", op)) | set(lease_sizes(data, "rbtree", op))
                       | set(lease_sizes(data, "list", op)))
        for n in sizes:
            o = ns(data, f"lease/owner/{op}/{n}")
            rb = ns(data, f"lease/rbtree/{op}/{n}")
            li = ns(data, f"lease/list/{op}/{n}")
            ob = counter(data, f"lease/owner/{op}/{n}", "bytes_per_lease")
            rbb = counter(data, f"lease/rbtree/{op}/{n}", "bytes_per_lease")
            out.append(f"| {op} | {n:,} | {fmt_ns(o)} | {fmt_ns(rb)} | {fmt_ns(li)} | "
                       f"{fmt_x(ratio(rb, o))} | {fmt_x(ratio(li, o))} | "
                       f"{'—' if ob is None else f'{ob:.1f}'} | "
                       f"{'—' if rbb is None else f'{rbb:.0f}'} |")
    return out


# --------------------------------------------------------------------------------------------
# Plots (gnuplot)

def gp_val(v):
    return "?" if v is None or v <= 0 or math.isnan(v) else f"{v:.6g}"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def plots(data, out):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("bench_report: gnuplot not found, no plots", file=sys.stderr)
        return []
    pdir = os.path.join(out, "plot-data")
    os.makedirs(pdir, exist_ok=True)
    term = "set terminal pngcairo size 1100,650 enhanced font 'Sans,10'"
    try:
        terms = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True,
                               text=True).stdout + subprocess.run(
            [gnuplot, "-e", "set terminal"], capture_output=True, text=True).stderr
        if "pngcairo" not in terms:
            term = "set terminal png size 1100,650"
    except OSError:
        pass
    made = []

    # 1. Lease cost vs live leases.
    series = []
    for struct, slabel in (("owner", "vmspace owner"), ("rbtree", "RB interval tree"),
                           ("list", "plain list")):
        for op in ("reader", "writer", "conflict", "shared"):
            sizes = lease_sizes(data, struct, op)
            if not sizes:
                continue
            fn = os.path.join(pdir, f"lease_{struct}_{op}.dat")
            write(fn, "# live ns_per_op\n" + "".join(
                f"{n} {gp_val(ns(data, f'lease/{struct}/{op}/{n}'))}\n" for n in sizes))
            series.append((fn, f"{slabel}, {op}", struct, op))
    if series:
        colors = {"owner": "#1b9e77", "rbtree": "#d95f02", "list": "#7570b3"}
        dashes = {"reader": 1, "writer": 2, "conflict": 3, "shared": 4}
        points = {"reader": 7, "writer": 5, "conflict": 9, "shared": 13}
        for which, ops, title in (
                ("leases.png", ("reader", "writer"),
                 "Lease take + release next to n live leases"),
                ("leases_conflict_shared.png", ("conflict", "shared"),
                 "Refused writer over a live lease (conflict); shared overlapping readers")):
            pl = [f"'{fn}' using 1:2 with linespoints lc rgb '{colors[s]}' dt {dashes[op]} "
                  f"pt {points[op]} lw 2 title '{lab}'" for fn, lab, s, op in series if op in ops]
            if not pl:
                continue
            write(os.path.join(pdir, which + ".gp"), "\n".join([
                term, f"set output '{os.path.join(out, which)}'",
                f"set title '{title}'", "set logscale xy", "set grid",
                "set xlabel 'live leases (log)'",
                "set ylabel 'ns per operation (log)'", "set key outside right",
                "set datafile missing '?'", "plot " + ", \\\n     ".join(pl), ""]))
            made.append(which)

    # 2. Map cost per page, by method and page size.
    methods = [("map/bare_store", "bare PTE store"), ("map/bare_gen", "bare generated store"),
               ("map/cursor", "cursor map\\_range"), ("map/space", "space\\_map"),
               ("map/single", "cursor map, per page"), ("map/rootwalk", "walk from root"),
               ("unmap/space", "unmap"), ("protect/space", "protect")]
    rows = []
    for size, label in (("4k", "4 KiB"), ("2m", "2 MiB"), ("1g", "1 GiB")):
        rows.append(f"\"{label}\" " + " ".join(gp_val(ns(data, f"{m}/{size}"))
                                                for m, _ in methods))
    fn = os.path.join(pdir, "map.dat")
    write(fn, "# page " + " ".join(m for m, _ in methods) + "\n" + "\n".join(rows) + "\n")
    pl = [f"'{fn}' using {i + 2}:xtic(1) title '{lab}'" for i, (_, lab) in enumerate(methods)]
    write(os.path.join(pdir, "map.png.gp"), "\n".join([
        term, f"set output '{os.path.join(out, 'map.png')}'",
        "set title 'Map, unmap and protect 1 GiB ranges: cost per page'",
        "set style data histogram", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set logscale y", "set grid ytics",
        "set xlabel 'page size'", "set ylabel 'ns per page (log)'",
        "set key outside right", "set datafile missing '?'", "set yrange [0.05:*]",
        "plot " + ", \\\n     ".join(pl), ""]))
    made.append("map.png")

    # 3. Translate cost per method and working set.
    for mode, title in (("indep", "independent addresses (throughput)"),
                        ("dep", "dependent chain (latency)")):
        rows = []
        for s, label in TR_SETS:
            vals = [ns(data, f"translate/{s}/{m}/{mode}") for m in ("bare", "walk", "swtlb")]
            if all(v is None for v in vals):
                continue
            rows.append(f"\"{s}\" " + " ".join(gp_val(v) for v in vals))
        if not rows:
            continue
        fn = os.path.join(pdir, f"translate_{mode}.dat")
        write(fn, "# set bare walk swtlb\n" + "\n".join(rows) + "\n")
        which = f"translate_{mode}.png"
        write(os.path.join(pdir, which + ".gp"), "\n".join([
            term, f"set output '{os.path.join(out, which)}'",
            f"set title 'Translate: {title}'",
            "set style data histogram", "set style histogram clustered gap 1",
            "set style fill solid 0.8 border -1", "set logscale y", "set grid ytics",
            "set xlabel 'working set: dense = random in 1 GiB of 4 KiB pages, seq = sequential, "
            "sparse = random in 64 GiB (cold), hot = 32 pages, mix = 7/8 hot'",
            "set ylabel 'ns per translation (log)'",
            "set key outside right", "set datafile missing '?'", "set yrange [0.3:*]",
            f"plot '{fn}' using 2:xtic(1) title 'bare 4-load walk', "
            f"'' using 3 title 'vms\\_translate', '' using 4 title 'software TLB'", ""]))
        made.append(which)

    done = []
    for which in made:
        gp = os.path.join(pdir, which + ".gp")
        r = subprocess.run([gnuplot, gp], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"bench_report: gnuplot failed for {which}:\n{r.stderr}", file=sys.stderr)
        else:
            done.append(which)
    return done


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--mode", default="default")
    ap.add_argument("--matrix", action="append", default=[], metavar="LABEL=RAW.json",
                    help="another build's results (compiler, flags): its cost targets")
    a = ap.parse_args()
    out = a.out or os.path.dirname(os.path.abspath(a.raw))
    os.makedirs(out, exist_ok=True)
    ctx, data, errors = load(a.raw)
    if not data:
        print("bench_report: no benchmark results in " + a.raw, file=sys.stderr)
        return 1

    lines = ["# vmspace benchmark summary", ""]
    lines.append(f"- date: {ctx.get('date', '?')}; run mode: {a.mode}; host CPUs: "
                 f"{ctx.get('num_cpus', '?')} at {ctx.get('mhz_per_cpu', '?')} MHz; "
                 f"load average at start: {ctx.get('load_avg', '?')}")
    lines.append(f"- build: `{ctx.get('vmspace_build', 'unknown')}`")
    lines.append(f"- VMSPACE_DEBUG: {ctx.get('vmspace_debug', '?')}; software TLB built: "
                 f"{ctx.get('vmspace_have_swtlb', '?')}; owner built: "
                 f"{ctx.get('vmspace_have_owner', '?')}; Google Benchmark library build: "
                 f"{ctx.get('library_build_type', '?')}")
    if ctx.get("vmspace_debug") == "ON":
        lines += ["", "> **WARNING: built with VMSPACE_DEBUG. These numbers mean nothing.**"]
    lines += ["- with repetitions, each figure is the best repetition (noise on a shared "
              "machine only adds time), and repetitions of all cases run interleaved in "
              "random order, so load changes hit every case alike; every ratio compares "
              "cases of this one run.", ""]
    lines += ["## Targets", ""] + targets(data).lines() + [""]
    if a.matrix:
        lines += ["## The cost targets under each compiler and optimisation level", "",
                  "The library's implementation is its own translation unit in every build; "
                  "each build ran the single-operation, bulk and baseline cases.", ""]
        lines += matrix_lines([m.split("=", 1) for m in a.matrix])
    lines += ["## Single operations (one call per page into a populated region: every "
              "other slot mapped, 256 holes per step)", ""]
    lines += op1_table(data) + [""]
    lines += ["## Map, unmap, protect (1 GiB ranges; 2 MiB cases map 8 of them per step, 1 GiB "
              "cases 64; a map starts from a space with only its root)", ""]
    lines += map_table(data) + [""]
    lines += ["## Translate (ns per translation; 4096 per step from a pre-generated stream)", ""]
    lines += translate_table(data) + [""]
    lines += ["## Leases (ns per take + release, or per refused take for conflict; live leases "
              "are 1-page ranges, the probe takes a free page between two of them; shared = "
              "64-page readers about 512 deep)", ""]
    lines += lease_table(data) + [""]
    if errors:
        lines += ["## Cases that reported an error", ""]
        lines += [f"- `{k}`: {v}" for k, v in sorted(errors.items())] + [""]
    log = os.path.join(out, "stderr.log")
    if os.path.exists(log):
        seen = {}
        with open(log, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("vmspace bench:"):
                    seen[line] = seen.get(line, 0) + 1
        if seen:
            lines += ["## Errors the benchmark printed (stderr.log)", ""]
            lines += [f"- `{k}`" + (f" (×{n})" if n > 1 else "") for k, n in seen.items()]
            lines += [""]
    if not a.no_plots:
        made = plots(data, out)
        if made:
            lines += ["## Plots", ""] + [f"![{m}]({m})" for m in made] + [""]
    write(os.path.join(out, "summary.md"), "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
