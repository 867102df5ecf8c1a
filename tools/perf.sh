#!/usr/bin/env bash
# tools/perf.sh - hardware counters (or instruction counts) for chosen benchmark cases.
#
# Usage: tools/perf.sh [--cc gcc|clang] [--top N] [case-regex]
#
# Builds vmspace_bench in Release (through tools/bench.sh --build-only), then for every case
# whose name matches the extended regex (default: a representative set):
#   - where the CPU exposes hardware counters (`perf stat -e instructions true` reports a
#     count), runs the case under
#       perf stat -e cycles,instructions,dTLB-load-misses,cache-misses
#     and prints the counts per item (the whole process is counted: a second, longer run is
#     subtracted from it, so set-up cancels out);
#   - otherwise (virtual machines often have none) runs one iteration of the case under
#       valgrind --tool=callgrind, collecting only inside the case's step function,
#     and prints instructions per item (per page, per translation, per take+release), with the
#     top functions by exclusive count when --top N is given.
# The output says which of the two it used.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cc=gcc
top=0
regex='^(op1/[a-z_]+/(4k|2m|1g)|map/(bare_store|bare_gen|cursor|single|rootwalk)/4k|map/cursor/2m'
regex+='|unmap/(space|bare_clear)/4k|protect/(space|bare_rewrite)/4k'
regex+='|translate/(dense|hot|sparse)/(bare|walk|swtlb)/indep'
regex+='|lease/(owner|rbtree)/(reader|writer)/(1000|100000))/'
while [[ $# -gt 0 ]]; do
    case "$1" in
    --cc) cc="${2:?}"; shift ;;
    --top) top="${2:?}"; shift ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) regex="$1" ;;
    esac
    shift
done

exe="$("$root/tools/bench.sh" --build-only --cc "$cc" | tail -n 1)"
[[ -x "$exe" ]] || { echo "perf.sh: build failed" >&2; exit 1; }

mapfile -t cases < <("$exe" --benchmark_list_tests | grep -E -- "$regex" || true)
if [[ ${#cases[@]} -eq 0 ]]; then
    echo "perf.sh: no case matches '$regex'" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Items one iteration of a case does, and its iteration count, from a JSON result file.
json_field() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
b = [x for x in d["benchmarks"] if x.get("run_type") == "iteration"][0]
print(b.get(sys.argv[2], 0) if sys.argv[2] != "items" else b.get("items_per_iter", 1))
EOF
}

hw=0
if command -v perf >/dev/null 2>&1; then
    probe="$(perf stat -e instructions true 2>&1 || true)"
    if ! grep -qE '<not supported>|<not counted>|not supported|Permission|Error' <<<"$probe" &&
        grep -q instructions <<<"$probe"; then
        hw=1
    fi
fi

if [[ $hw -eq 1 ]]; then
    echo "perf.sh: using perf stat (hardware counters); counts per item are the difference"
    echo "         of a 0.5 s and a 0.1 s run divided by the difference in items."
    printf '%-46s %12s %12s %12s %12s\n' case cycles/item instr/item dTLBmiss/item \
        cachemiss/item
    for c in "${cases[@]}"; do
        for t in 0.1 0.5; do
            perf stat -x, -o "$tmp/perf.$t" -e cycles,instructions,dTLB-load-misses,cache-misses \
                "$exe" --benchmark_filter="^${c}\$" --benchmark_min_time=$t \
                --benchmark_repetitions=1 --benchmark_out="$tmp/out.$t.json" >/dev/null 2>&1
        done
        python3 - "$c" "$tmp" <<'EOF'
import json, sys
c, tmp = sys.argv[1], sys.argv[2]
def load(t):
    ev = {}
    for line in open(f"{tmp}/perf.{t}"):
        p = line.strip().split(",")
        if len(p) > 2 and p[0].replace(".", "").isdigit():
            ev[p[2]] = float(p[0])
    b = [x for x in json.load(open(f"{tmp}/out.{t}.json"))["benchmarks"]
         if x.get("run_type") == "iteration"][0]
    return ev, b["iterations"] * b.get("items_per_iter", 1)
(e1, i1), (e2, i2) = load("0.1"), load("0.5")
di = i2 - i1
row = [c]
for k in ("cycles", "instructions", "dTLB-load-misses", "cache-misses"):
    row.append("n/a" if k not in e1 or k not in e2 or di <= 0 else f"{(e2[k] - e1[k]) / di:.2f}")
print("%-46s %12s %12s %12s %12s" % tuple(row))
EOF
    done
    exit 0
fi

command -v valgrind >/dev/null 2>&1 || {
    echo "perf.sh: no hardware counters and no valgrind (apt-get install valgrind)" >&2; exit 1; }
echo "perf.sh: no hardware counters here (perf stat reports instructions as <not supported>);"
echo "         using valgrind --tool=callgrind, counting only inside the case's step function"
echo "         over one iteration (instructions are deterministic; no cache or TLB figures)."
printf '%-46s %14s %10s %14s\n' case instructions items instr/item
for c in "${cases[@]}"; do
    out="$tmp/cg.out"
    json="$tmp/cg.json"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='vms_bench_*_step' \
        --callgrind-out-file="$out" "$exe" --benchmark_filter="^${c}\$" \
        --benchmark_min_time=0 --benchmark_repetitions=1 \
        --benchmark_out="$json" >/dev/null 2>"$tmp/vg.log" || {
        echo "perf.sh: valgrind failed for $c:" >&2; tail -5 "$tmp/vg.log" >&2; continue; }
    ir="$(callgrind_annotate "$out" 2>/dev/null |
        awk '/PROG(RAM)? TOTALS/ {gsub(",", "", $1); print $1; exit}')"
    iters="$(json_field "$json" iterations)"
    items="$(json_field "$json" items)"
    python3 - "$c" "$ir" "$iters" "$items" <<'EOF'
import sys
c, ir, iters, items = sys.argv[1], float(sys.argv[2] or 0), float(sys.argv[3]), float(sys.argv[4])
n = iters * items
print("%-46s %14.0f %10.0f %14.2f" % (c, ir, n, ir / n if n else 0))
EOF
    if [[ $top -gt 0 ]]; then
        callgrind_annotate "$out" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n "3,$((top + 2))p" |
            sed 's/^/        /'
    fi
done
