#!/usr/bin/env bash
# tools/valgrind.sh - run the Criterion tests under valgrind memcheck: no invalid access, no
# use of uninitialised memory, no leaks.
#
# Builds the tests without sanitizers (gcc -O1 -g, VMSPACE_DEBUG on) in build-valgrind, then
# runs every test executable there (test_*, the -O3 variants included), one Criterion test
# (with all its parameters) per valgrind run:
#     valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --trace-children=yes
#              <exe> --filter <suite/test> --jobs 1
# Criterion runs each test in a child process that it starts with exec, so every child runs
# under its own valgrind and writes its own log (build-valgrind/valgrind/<exe>/<test>.<pid>.log).
# Programs from the system (/usr, /bin: the compiler a test may call) are not traced.
# valgrind's start-up (about a second per process) dominates, so the runs go VALGRIND_JOBS at
# a time (default 2), slowest tests first.
#
# A run fails when a log reports any error ("ERROR SUMMARY" above zero; definite and indirect
# leaks count as errors), when a log has no summary (the process was killed, e.g. by a
# Criterion timeout), or when a test fails.
#
# Every test runs at its full size (the whole suite takes about ten minutes on two cores);
# VMS_DIFF_OPS and the other knobs of the tests are passed on if set.
#
# Usage: tools/valgrind.sh [test_executable...]   (default: every test executable)
# Environment: VALGRIND_BUILD_DIR (default build-valgrind), VALGRIND_JOBS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD=${VALGRIND_BUILD_DIR:-$ROOT/build-valgrind}
JOBS=${VALGRIND_JOBS:-2}

# The longest tests under valgrind (half a minute to two minutes each): they start first.
SLOW=(badinput/each owner_diff/exclusive_readers owner_diff/shared_readers diff/levels4
    diff/levels5 addr/decompose addr/check_range copy/randomized_against_host_memory)

tests=()
for arg in "$@"; do
    case "$arg" in
    -h | --help)
        sed -n '2,24p' "$0"
        exit 0
        ;;
    -*)
        echo "tools/valgrind.sh: unknown option: $arg" >&2
        exit 2
        ;;
    *) tests+=("$arg") ;;
    esac
done

if ! command -v valgrind >/dev/null 2>&1; then
    echo "tools/valgrind.sh: valgrind not found (Debian package valgrind)" >&2
    exit 1
fi

echo "== configuring $BUILD (gcc -O1 -g, no sanitizers, VMSPACE_DEBUG on)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
    -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="-O1 -g" -DVMSPACE_BUILD_TESTS=ON -DVMSPACE_BUILD_BENCH=OFF \
    -DVMSPACE_BUILD_FUZZ=OFF -DVMSPACE_INSTALL=OFF -DVMSPACE_SANITIZE= \
    -DVMSPACE_DEBUG_TESTS=ON >/dev/null
echo "== building"
nice cmake --build "$BUILD" -j 2

if [ ${#tests[@]} -eq 0 ]; then
    for f in "$BUILD"/test_*; do
        [ -f "$f" ] && [ -x "$f" ] && tests+=("$(basename "$f")")
    done
fi

logdir="$BUILD/valgrind"
rm -rf "$logdir"
mkdir -p "$logdir"

# The work list: "<exe> <suite/test>" per line, the slow tests first.
is_slow() {
    local s
    for s in "${SLOW[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}
: >"$logdir/items.slow"
: >"$logdir/items.rest"
for t in "${tests[@]}"; do
    exe="$BUILD/$t"
    if [ ! -x "$exe" ]; then
        echo "tools/valgrind.sh: $t: not built" >&2
        exit 1
    fi
    mkdir -p "$logdir/$t"
    while read -r name; do
        if is_slow "$name"; then
            echo "$t $name" >>"$logdir/items.slow"
        else
            echo "$t $name" >>"$logdir/items.rest"
        fi
    done < <("$exe" --list | awk '
        /^[^ ]+: [0-9]+ tests?$/ { suite = substr($0, 1, index($0, ": ") - 1); next }
        /── / { n = $0; sub(/.*── /, "", n); print suite "/" n }')
done
cat "$logdir/items.slow" "$logdir/items.rest" >"$logdir/items"
nitems=$(wc -l <"$logdir/items")

# One item: run it, then write "<exe> <test> <exit> <seconds> <tests> <failed> <logs>
# <errors> <no-summary> <definitely lost bytes> <indirectly lost bytes>" to its .result file.
run_one() {
    local t=$1 name=$2 safe dir rc t0 out
    safe=${name//\//.}
    dir="$LOGDIR/$t"
    t0=$(date +%s)
    rc=0
    (cd "$BUILD" && nice valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --trace-children=yes --trace-children-skip='/usr/*,/bin/*,/sbin/*' \
        --child-silent-after-fork=yes --log-file="$dir/$safe.%p.log" \
        "./$t" --filter "$name" --jobs 1 >"$dir/$safe.out" 2>&1) || rc=$?
    out=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/$safe.out" | grep -a 'Synthesis' | tail -n 1 || true)
    awk -v t="$t" -v name="$name" -v rc="$rc" -v secs="$(($(date +%s) - t0))" \
        -v syn="$out" '
        function after(key, i) { # the number after the field `key` ("4,624" counts too)
            for (i = 1; i < NF; i++) if ($i == key) { gsub(",", "", $(i + 1)); return $(i + 1) }
            return 0
        }
        FNR == 1 { logs++; if (NR > 1 && !sum) nosum++; sum = 0 }
        /ERROR SUMMARY:/ { sum = 1; err += after("SUMMARY:") }
        /definitely lost:/ { dl += after("lost:") }
        /indirectly lost:/ { il += after("lost:") }
        END {
            if (logs && !sum) nosum++
            tested = 0; failed = 0
            if (match(syn, /Tested: [0-9]+/)) tested = substr(syn, RSTART + 8, RLENGTH - 8)
            if (match(syn, /Failing: [0-9]+/)) failed += substr(syn, RSTART + 9, RLENGTH - 9)
            if (match(syn, /Crashing: [0-9]+/)) failed += substr(syn, RSTART + 10, RLENGTH - 10)
            printf "%s %s %d %d %d %d %d %d %d %d %d\n", t, name, rc, secs, tested, failed,
                   logs, err, nosum, dl, il
        }' "$dir/$safe".*.log >"$dir/$safe.result"
    read -r _ _ rc secs tested failed logs err nosum _ _ <"$dir/$safe.result"
    if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$err" -ne 0 ] || [ "$nosum" -ne 0 ]; then
        echo "-- $t $name: FAILED (exit $rc, $failed failing, $err errors, $nosum logs" \
            "without summary; $logs processes) ${secs}s"
    else
        echo "-- $t $name: clean ($tested tests, $logs processes) ${secs}s"
    fi
}
export -f run_one
export BUILD LOGDIR="$logdir"

echo "== valgrind over ${#tests[@]} executables, $nitems tests, $JOBS at a time" \
    "(VMS_DIFF_OPS=${VMS_DIFF_OPS:-default})"
start=$SECONDS
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ <"$logdir/items" || true

# Totals per executable and overall.
cat "$logdir"/*/*.result >"$logdir/results"
echo
echo "== per executable: tests, processes checked, errors, logs without summary," \
    "definitely/indirectly lost bytes"
awk '
    { e = $1; tests[e] += $5; fail[e] += $6; logs[e] += $7; err[e] += $8; nos[e] += $9
      dl[e] += $10; il[e] += $11; if ($3 != 0) bad[e]++; n[e]++ }
    END {
        for (e in n) {
            st = (fail[e] || err[e] || nos[e] || bad[e]) ? "FAIL" : "pass"
            printf "%-28s %s  tests %4d  processes %4d  errors %d  no-summary %d  lost %d/%d%s\n",
                   e, st, tests[e], logs[e], err[e], nos[e], dl[e], il[e],
                   fail[e] ? "  (" fail[e] " failing tests)" : ""
        }
    }' "$logdir/results" | sort
awk '
    { T += $5; F += $6; L += $7; E += $8; N += $9; D += $10; I += $11; n[$1] = 1
      if ($3 != 0 || $6 != 0 || $8 != 0 || $9 != 0) x[$1] = 1 }
    END {
        printf "TOTAL: %d executables (%d failed), %d tests (%d failing), %d processes, " \
               "%d errors, %d logs without summary, lost %d bytes definitely, %d indirectly\n",
               length(n), length(x), T, F, L, E, N, D, I
    }' "$logdir/results"
echo "== valgrind: $((SECONDS - start))s, logs in $logdir"
if [ "$(wc -l <"$logdir/results")" -ne "$nitems" ]; then
    echo "FAILED: $(wc -l <"$logdir/results") results for $nitems tests"
    exit 1
fi
if awk '$3 != 0 || $6 != 0 || $8 != 0 || $9 != 0 { bad = 1 } END { exit !bad }' \
    "$logdir/results"; then
    echo "FAILED. First findings:"
    grep -lE 'ERROR SUMMARY: [1-9]' "$logdir"/*/*.log 2>/dev/null | head -n 3 |
        while read -r l; do
            echo "--- $l"
            grep -v '^==[0-9]*== *$' "$l" | head -n 40
        done
    exit 1
fi
echo "PASSED: no memory errors, no leaks"
