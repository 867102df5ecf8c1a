#!/usr/bin/env bash
# tools/spin.sh - model-check the SPIN models of tests/model/: the cursor lock protocol with
# its deferred freeing (vms_cursor_locks.pml) and the software TLB's generation rule
# (vms_swtlb_gen.pml). Each .pml says what it models, its bounds and its BUG_* variants.
#
# Usage:
#   tools/spin.sh           check every model; exit 1 if any run reports an error or could
#                           not search the whole state space
#   tools/spin.sh --mutate  check every deliberately broken variant (a BUG_* macro) instead;
#                           exit 1 unless each one is caught (errors > 0), which shows that
#                           the models can fail
#
# Needs spin and gcc (apt-get install -y spin gcc). Each run prints one line: model, run,
# states stored, errors and wall time. Everything is built in a temporary directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODEL_DIR=$(pwd)/tests/model

mode=check
case "${1:-}" in
"") ;;
--mutate) mode=mutate ;;
-h | --help)
    sed -n '2,14p' "$0"
    exit 0
    ;;
*)
    echo "spin.sh: unknown argument: $1 (try --help)" >&2
    exit 2
    ;;
esac

for tool in spin gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "spin.sh: $tool is missing (apt-get install -y $tool)" >&2
        exit 1
    fi
done

MODELS=(vms_cursor_locks vms_swtlb_gen)
# Runs of each model. safety: assertions and invalid end states (deadlocks). progress: a
# search for cycles; the models have no progress labels, so any cycle at all is reported,
# which proves that every execution ends. Weak fairness (-f) would only discard unfair
# cycles: with none at all it has nothing to add and costs a fivefold longer run.
declare -A RUNS=(
    [vms_cursor_locks]="safety progress"
    [vms_swtlb_gen]="safety"
)
# The broken variants that --mutate expects to be caught.
declare -A BUGS=(
    [vms_cursor_locks]="BUG_NO_STRAY_CHECK BUG_FREE_BEFORE_GRACE BUG_NO_DFS_LOCK
        BUG_MAP_NO_RECHECK BUG_PUBLISH_BEFORE_LOCK BUG_CLOSE_WAIT_R BUG_CLOSE_SPIN_TRYLOCK
        BUG_COLLECT_LOCK_FIRST"
    [vms_swtlb_gen]="BUG_FILL_GEN_AFTER BUG_FILL_ODD BUG_DETACH_NO_GEN BUG_GEN_RESET_ON_REUSE"
)

# Depth bound far above the deepest path (a few hundred steps): a run that reaches it is
# reported as incomplete, not passed. COLLAPSE and MEMLIM keep memory at a few hundred MB.
# -O1 builds pan.c in half the time of -O2 for nearly the same search speed; a broken variant
# stops at its first counterexample, so there the quickest build (-O0) wins.
DEPTH=100000
CFLAGS=(-O1 -w -DCOLLAPSE -DMEMLIM=1024)
[ "$mode" = check ] || CFLAGS[0]=-O0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run MODEL KIND [MACRO]: generate, build and run one verifier in a directory of its own, print
# its summary line, set run_errors (empty when pan gave no verdict) and run_complete.
run() {
    local model=$1 kind=$2 macro=${3:-} dir states t0 t1 note=""
    local defs=() cflags=() pflags=()
    dir=$(mktemp -d "$tmp/$model.XXXXXX")
    [ -z "$macro" ] || defs=("-D$macro")
    case $kind in
    safety) cflags=(-DSAFETY) ;;
    progress)
        cflags=(-DNP)
        pflags=(-l)
        ;;
    esac
    t0=$EPOCHREALTIME
    run_errors=""
    run_complete=0
    if (cd "$dir" && spin "${defs[@]}" -a "$MODEL_DIR/$model.pml") >"$dir/spin.log" 2>&1 &&
        gcc "${CFLAGS[@]}" "${cflags[@]}" -o "$dir/pan" "$dir/pan.c" >"$dir/gcc.log" 2>&1; then
        # pan's exit status says nothing about the verdict: read it from the report.
        (cd "$dir" && ./pan -m"$DEPTH" "${pflags[@]}") >"$dir/pan.log" 2>&1 || true
        run_errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$dir/pan.log" | tail -n 1)
        if ! grep -q -e 'max search depth too small' -e 'Search not completed' "$dir/pan.log"
        then
            run_complete=1
        fi
    else
        cat "$dir/spin.log" "$dir/gcc.log" 2>/dev/null >&2 || true
    fi
    t1=$EPOCHREALTIME
    states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log" 2>/dev/null || true)
    # a search that stopped at a counterexample is incomplete too, and that is fine
    [ "$run_complete" = 1 ] || [ "${run_errors:-0}" != 0 ] || note=" (search incomplete)"
    [ -n "$run_errors" ] || note=" (no verdict)"
    printf 'spin: %-16s %-8s %-23s %9s states, errors %s, %s s%s\n' "$model" "$kind" \
        "${macro:--}" "${states:-?}" "${run_errors:-?}" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" "$note"
    if [ "$mode" = mutate ] && [ "${run_errors:-0}" != 0 ]; then
        # the first thing pan found, to see that the bug was caught by the right property
        grep -m 1 -E '^pan:[0-9]+:' "$dir/pan.log" | sed 's/^/        /' || true
    fi
}

start=$EPOCHREALTIME
passed=0
failed=0
for model in "${MODELS[@]}"; do
    if [ "$mode" = check ]; then
        for kind in ${RUNS[$model]}; do
            run "$model" "$kind"
            if [ "$run_errors" = 0 ] && [ "$run_complete" = 1 ]; then
                passed=$((passed + 1))
            else
                failed=$((failed + 1))
            fi
        done
    else
        for bug in ${BUGS[$model]}; do
            caught=0
            for kind in ${RUNS[$model]}; do
                run "$model" "$kind" "$bug"
                if [ -n "$run_errors" ] && [ "$run_errors" != 0 ]; then
                    caught=1
                    break # one counterexample is enough
                fi
            done
            if [ "$caught" = 1 ]; then
                passed=$((passed + 1))
            else
                echo "spin: $model $bug was NOT caught"
                failed=$((failed + 1))
            fi
        done
    fi
done

what=runs
[ "$mode" = check ] || what="broken variants caught"
echo "spin: $what in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
echo "spin: $passed passed, $failed failed"
[ "$failed" = 0 ]
