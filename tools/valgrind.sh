#!/usr/bin/env bash
# tools/valgrind.sh - run the Criterion tests under valgrind memcheck: no invalid access, no
# use of uninitialised memory, no leaks.
#
# Builds the tests without sanitizers (gcc -O1 -g, VMSPACE_DEBUG on) in build-valgrind, then
# runs every tests/test_*.c executable under
#     valgrind --error-exitcode=1 --leak-check=full --trace-children=yes
# (Criterion runs each test in a child process: every child is checked). One log per process
# goes to build-valgrind/valgrind/; any "ERROR SUMMARY" above zero or any definite/indirect
# leak fails the run.
#
# Randomized tests are scaled down to keep the run to a few minutes: VMS_DIFF_OPS (the
# differential test's operation count, default 3000 here). Tests too slow under valgrind that
# have no size knob are left out with Criterion's --filter (listed in SLOW below).
#
# Usage: tools/valgrind.sh [test_name...]     (default: every test executable)
# Environment: VALGRIND_BUILD_DIR (default build-valgrind), VMS_DIFF_OPS, VALGRIND_JOBS
# (Criterion workers at a time, default 2: valgrind's start-up per test child dominates).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD=${VALGRIND_BUILD_DIR:-$ROOT/build-valgrind}
export VMS_DIFF_OPS=${VMS_DIFF_OPS:-3000}

# test executable -> Criterion filter that leaves out its slow tests.
declare -A SLOW=(
    [test_owner_diff]='!(owner_diff/*)'
    [test_range_tree]='!(range_tree/million)'
)

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

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for f in "$ROOT"/tests/test_*.c; do
        tests+=("$(basename "$f" .c)")
    done
fi

logdir="$BUILD/valgrind"
rm -rf "$logdir"
mkdir -p "$logdir"
failed=()
start=$SECONDS
for t in "${tests[@]}"; do
    exe="$BUILD/$t"
    if [ ! -x "$exe" ]; then
        echo "-- $t: not built"
        failed+=("$t(not built)")
        continue
    fi
    args=(--jobs "${VALGRIND_JOBS:-2}")
    if [ -n "${SLOW[$t]:-}" ]; then
        args+=(--filter "${SLOW[$t]}")
    fi
    t0=$SECONDS
    rc=0
    (cd "$BUILD" && nice valgrind -q --tool=memcheck --error-exitcode=1 --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --trace-children=yes --child-silent-after-fork=yes \
        --log-file="$logdir/$t.%p.log" "$exe" "${args[@]}" >"$logdir/$t.out" 2>&1) || rc=$?
    errs=$(cat "$logdir/$t".*.log 2>/dev/null |
        grep -cE 'ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]|Invalid (read|write)' ||
        true)
    synth=$(grep -a 'Synthesis' "$logdir/$t.out" | sed 's/\x1b\[[0-9;]*m//g; s/.*Synthesis: //' |
        tail -n 1)
    if [ "$rc" -ne 0 ] || [ "$errs" -ne 0 ]; then
        echo "-- $t: FAILED (exit $rc, $errs valgrind findings; $synth) $((SECONDS - t0))s"
        failed+=("$t")
    else
        echo "-- $t: clean ($synth) $((SECONDS - t0))s"
    fi
done

echo
echo "== valgrind: ${#tests[@]} test executables in $((SECONDS - start))s, logs in $logdir"
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    for t in "${failed[@]}"; do
        grep -lE 'ERROR SUMMARY: [1-9]|lost: [1-9]' "$logdir/${t%%(*}".*.log 2>/dev/null |
            head -n 3 |
            while read -r l; do
                echo "--- $l"
                head -n 40 "$l"
            done
    done
    exit 1
fi
echo "PASSED: no memory errors, no leaks"
