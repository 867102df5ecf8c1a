#!/usr/bin/env bash
# tools/bench.sh - build the benchmarks in Release, run every case, write bench-results/.
#
# Usage: tools/bench.sh [--quick | --full] [--cc gcc|clang] [--opt N] [--no-matrix]
#                       [--no-plots] [--out DIR] [--filter REGEX] [--cflags "FLAGS"]
#                       [--no-install]
#
#   (default)    every case, a few minutes: 5 repetitions of at least 0.05 s each, all cases'
#                repetitions interleaved in random order; the best repetition is reported.
#                Then the cost cases (single operations, bulk map, unmap, protect, software
#                TLB and their baselines) again under the three other builds of gcc/clang
#                and -O2/-O3, reported per build in the summary
#   --quick      a smoke run for CI: seconds, one short repetition, no 10^6-lease cases
#                (numbers are rough)
#   --full       9 repetitions of at least 0.3 s each
#   --cc         compiler: gcc (default, with g++) or clang (with clang++)
#   --opt N      optimisation level of the main build: 2 (default) or 3
#   --no-matrix  only the main build (--quick never runs the other builds)
#   --no-plots   skip the gnuplot PNGs
#   --out DIR    results directory (default: bench-results)
#   --filter RE  only the cases whose name matches RE (Google Benchmark regex)
#   --cflags F   extra C and C++ flags for the build (recorded in the summary)
#   --no-install do not try to install missing Debian packages
#   --build-only configure and build, print the executable's path, run nothing
#
# Writes DIR/raw.json (Google Benchmark JSON), DIR/summary.md (headline figures, ratios
# against the baselines, each target with its measured value and met / not met, compiler and
# flags) and DIR/*.png (lease cost vs live leases, map cost per page, translate cost), and
# DIR/threads.md (bench/bench_threads.c: 1 and 2 threads on one space, the one-mutex baseline,
# translate beside a mutating thread, the threaded build against VMSPACE_NO_THREADS), which
# summary.md also gets.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=default
cc=gcc
plots=1
out=bench-results
filter=""
extra_flags=""
install=1
build_only=0
opt=2
matrix=1

while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --cc) cc="${2:?--cc needs gcc or clang}"; shift ;;
    --cc=*) cc="${1#--cc=}" ;;
    --opt) opt="${2:?--opt needs 2 or 3}"; shift ;;
    --opt=*) opt="${1#--opt=}" ;;
    --no-matrix) matrix=0 ;;
    --no-plots) plots=0 ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --filter) filter="${2:?--filter needs a regex}"; shift ;;
    --cflags) extra_flags="${2-}"; shift ;;
    --no-install) install=0 ;;
    --build-only) build_only=1 ;;
    -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cxx_of() {
    case "$1" in
    gcc) echo g++ ;;
    clang) echo clang++ ;;
    *) echo "bench.sh: --cc must be gcc or clang, not '$1'" >&2; exit 2 ;;
    esac
}
cxx_of "$cc" >/dev/null
[[ $opt == 2 || $opt == 3 ]] || { echo "bench.sh: --opt must be 2 or 3" >&2; exit 2; }
[[ $mode == quick || $build_only -eq 1 || -n "$filter" ]] && matrix=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# --- Dependencies (Debian) ------------------------------------------------------------------
packages=(cmake ninja-build pkg-config libbenchmark-dev libbsd-dev gnuplot-nox libxxhash-dev
          gcc g++ clang python3 liburcu-dev)
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        if [[ $install -eq 0 ]]; then
            echo "bench.sh: missing packages: ${missing[*]} (not installing: --no-install)" >&2
        else
            sudo=""
            if [[ $(id -u) -ne 0 ]]; then
                if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
                    echo "bench.sh: missing packages ${missing[*]} and not root" >&2; exit 1
                fi
            fi
            say "installing ${missing[*]}"
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get update
            $sudo env DEBIAN_FRONTEND=noninteractive \
                apt-get install -y --no-install-recommends "${missing[@]}"
        fi
    fi
else
    echo "bench.sh: not a Debian system; make sure cmake, ninja, Google Benchmark, libbsd," \
         "gnuplot and python3 are installed" >&2
fi
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja) || generator=()

# --- Build (Release, VMSPACE_DEBUG off) -----------------------------------------------------
if [[ "${CFLAGS-} ${CXXFLAGS-} $extra_flags" == *VMSPACE_DEBUG* ]]; then
    cat >&2 <<'EOF'

*************************************************************************************
*** WARNING: VMSPACE_DEBUG is in the compiler flags. The library then checks every ***
*** invariant after every operation: the benchmark numbers will mean NOTHING.     ***
*************************************************************************************

EOF
fi
# build CC OPT: configure and build vmspace_bench with CC at -OOPT; sets exe.
build() {
    local bcc=$1 bopt=$2 bcxx
    bcxx=$(cxx_of "$bcc")
    local dir="$root/build-bench-$bcc-O$bopt"
    say "configuring $dir ($bcc, Release, -O$bopt)"
    mkdir -p "$dir"
    cmake -S "$root" -B "$dir" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER="$bcc" -DCMAKE_CXX_COMPILER="$bcxx" \
        -DCMAKE_C_FLAGS_RELEASE="-O$bopt -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O$bopt -DNDEBUG" \
        -DCMAKE_C_FLAGS="${CFLAGS-} $extra_flags" -DCMAKE_CXX_FLAGS="${CXXFLAGS-} $extra_flags" \
        -DVMSPACE_BUILD_BENCH=ON -DVMSPACE_BUILD_TESTS=OFF -DVMSPACE_BUILD_FUZZ=OFF \
        -DVMSPACE_INSTALL=OFF >"$dir/configure.log" 2>&1 || {
        cat "$dir/configure.log" >&2; exit 1; }
    grep -E 'vmspace bench|WARNING' "$dir/configure.log" || true
    say "building vmspace_bench"
    nice cmake --build "$dir" --target vmspace_bench -j 2
    exe="$dir/bench/vmspace_bench"
}
build "$cc" "$opt"
if [[ $build_only -eq 1 ]]; then
    echo "$exe"
    exit 0
fi

# --- Run ------------------------------------------------------------------------------------
case "$mode" in
quick) args=(--benchmark_min_time=0.005 --benchmark_repetitions=1) ;;
full) args=(--benchmark_min_time=0.3 --benchmark_repetitions=9
            --benchmark_enable_random_interleaving=true
            --benchmark_report_aggregates_only=true) ;;
*) args=(--benchmark_min_time=0.05 --benchmark_repetitions=5
         --benchmark_enable_random_interleaving=true
         --benchmark_report_aggregates_only=true) ;;
esac
# A quick run leaves out the 10^6-lease cases (building those sets takes most of its time).
[[ -z "$filter" && $mode == quick ]] && filter='-/1000000/'
[[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")
mkdir -p "$out"
say "running ($mode) -> $out/raw.json"
# stderr is kept too: errors found after the JSON is written (at tear-down) go into the summary.
nice "$exe" "${args[@]}" --benchmark_out="$out/raw.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=false 2> >(tee "$out/stderr.log" >&2)

# --- The other compilers and levels: the cost cases only --------------------------------------
matrix_args=()
if [[ $matrix -eq 1 ]]; then
    cost='^(op1/|map/(cursor|single|rootwalk|bare_store|bare_gen)/4k|unmap/(space|bare_clear)/4k|'
    cost+='protect/(space|bare_rewrite)/4k|translate/(dense|hot)/(walk|swtlb)/indep)'
    main_label="$cc -O$opt"
    for cfg in gcc:2 gcc:3 clang:2 clang:3; do
        mcc=${cfg%:*} mopt=${cfg#*:}
        [[ "$mcc -O$mopt" == "$main_label" ]] && continue
        main_exe=$exe
        build "$mcc" "$mopt"
        mdir="$out/matrix-$mcc-O$mopt"
        mkdir -p "$mdir"
        say "running the cost cases ($mcc -O$mopt) -> $mdir/raw.json"
        nice "$exe" "${args[@]}" --benchmark_filter="$cost" --benchmark_out="$mdir/raw.json" \
            --benchmark_out_format=json --benchmark_counters_tabular=false >"$mdir/stdout.log" \
            2>"$mdir/stderr.log" || echo "bench.sh: the $mcc -O$mopt run failed" >&2
        matrix_args+=(--matrix "$mcc -O$mopt=$mdir/raw.json")
        exe=$main_exe
    done
fi

# --- Report ---------------------------------------------------------------------------------
# --- Threads: its own program, built as users build (library in its own unit), twice -------
threads_run() {
    local tdir="$root/build-bench-threads" q=() v
    mkdir -p "$tdir"
    [[ $mode == quick ]] && q=(--quick)
    for v in threads no-threads; do
        local def=() libs=(-lurcu-memb)
        [[ $v == no-threads ]] && def=(-DVMSPACE_NO_THREADS) && libs=()
        # shellcheck disable=SC2086 # extra flags are meant to split
        "$cc" -std=c11 -O"$opt" -DNDEBUG $extra_flags "${def[@]}" -I"$root" \
            "$root/bench/bench_threads.c" "$root/bench/threads_impl.c" "${libs[@]}" -lpthread \
            -o "$tdir/bench_threads-$v" || return 1
        say "running bench_threads ($v)"
        nice "$tdir/bench_threads-$v" "${q[@]}" >"$out/threads-$v.txt" || return 1
    done
    python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
def load(v):
    d = {}
    for line in open(f"{out}/threads-{v}.txt"):
        f = line.split()
        if f and f[0] == "case":
            d[f[1]] = (float(f[2]), " ".join(f[3:]))
    return d
t, n = load("threads"), load("no-threads")
def ns(k): return t[k][0]
rows = ["## Threads (bench/bench_threads.c)", "",
        "| case | value | target |", "| --- | --- | --- |"]
def row(name, val, target, ok):
    rows.append(f"| {name} | {val} | {target}: {'met' if ok else 'NOT met'} |")
for op in ("mapunmap", "fault"):
    r = ns(f"st/plain/{op}") / n[f"st/plain/{op}"][0]
    row(f"threaded build / NO_THREADS, {op}, plain space", f"{r:.2f}x", "<= 1.05x", r <= 1.05)
    r = ns(f"st/conc/{op}") / ns(f"st/plain/{op}")
    rows.append(f"| concurrent / plain space, {op}, 1 thread | {r:.2f}x | (the price of "
                "atomics and the lock) |")
    for sp in ("conc", "mutex"):
        s = ns(f"mt/{sp}/{op}/1") / ns(f"mt/{sp}/{op}/2")
        if sp == "conc":
            row(f"2 threads / 1, disjoint 1 GiB regions, {op}, concurrent", f"{s:.2f}x",
                ">= 1.8x", s >= 1.8)
        else:
            rows.append(f"| 2 threads / 1, {op}, one mutex (baseline) | {s:.2f}x | <= 1.0x |")
r = ns("st/conc/openclose") / ns("st/plain/openclose")
row("cursor open+close over 4 KiB, concurrent / plain space", f"{r:.2f}x", "<= 1.5x", r <= 1.5)
s = ns("mt/conc/lease/1") / ns("mt/conc/lease/2")
row("leases, 2 threads / 1, disjoint ranges, 10^3 live", f"{s:.2f}x", ">= 1.6x", s >= 1.6)
r = ns("st/plain/translate") / n["st/plain/translate"][0]
row("threaded build / NO_THREADS, translate", f"{r:.2f}x", "<= 1.05x", r <= 1.05)
q, b = t["tr/quiet"], t["tr/beside"]
r = q[0] / b[0]
row("translate beside a mutating thread / quiet", f"{r:.2f}x ({b[1]})", ">= 0.9x", r >= 0.9)
rows.append("")
rows.append("ns per op: " + ", ".join(f"{k} {v[0]:.1f}" for k, v in t.items()) +
            "; NO_THREADS: " + ", ".join(f"{k} {v[0]:.1f}" for k, v in n.items()))
open(f"{out}/threads.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
}
threads_ok=1
threads_run || { threads_ok=0; echo "bench.sh: the threads benchmark failed" >&2; }

report=(python3 "$root/tools/bench_report.py" "$out/raw.json" --out "$out" --mode "$mode"
        "${matrix_args[@]}")
[[ $plots -eq 0 ]] && report+=(--no-plots)
say "writing $out/summary.md"
"${report[@]}"
if [[ $threads_ok -eq 1 ]]; then
    { echo; cat "$out/threads.md"; } >>"$out/summary.md"
else
    exit 1
fi
