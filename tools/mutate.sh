#!/usr/bin/env bash
# tools/mutate.sh - mutation testing of vmspace.h and vmspace_owner.h (not part of CI).
#
# Usage:
#   tools/mutate.sh [OPTIONS]              a sample of mutants against the fast unit suite
#   tools/mutate.sh --fuzz [--fuzz-time S] the same, killed by the fuzz targets alone
#   tools/mutate.sh --list [--all]         print the mutants and their ids, run nothing
#
# Options:
#   --count N        run mutants (in sample order) until N of them compiled (default 200)
#   --seed S         the sample's seed (default 1); the order is a hash of seed and id
#   --all            every mutant instead of a sample
#   --file F         only vmspace.h or vmspace_owner.h (repeatable)
#   --op OP          only this operator (repeatable): rel logic mask mask-tilde mask-macro
#                    const+1 const-1 del negate-if return-ok
#   --id ID          only this mutant (repeatable), as printed by --list
#   --sanitize LIST  build the unit suite with these sanitizers ("address;undefined"): for
#                    mutants that only a sanitizer sees (an overrun of a few bytes)
#   -j N             mutants at once, each in its own copy of the tree (default 1)
#   --build-jobs N   ninja -j of each rebuild (default 2)
#   --test-timeout S Criterion's per-test timeout, libFuzzer's per-input one (default 10)
#   --exe-timeout S  least time one test executable may take (default 30; at least 5 times
#                    its unmutated time); a mutant over it is killed by timeout
#   --fuzz-time S    seconds of fuzzing per fuzz target and mutant (default 60, as in CI)
#   --out DIR        where results go (default build-mutate/, ignored by git)
#   --equivalent F   the list of equivalent mutants (default tests/mutate-equivalent.txt)
#   --rev REV        mutate the files of commit REV instead of the work tree
#
# Nothing in the work tree is touched: the tracked and untracked-but-not-ignored files are
# copied to a scratch directory, $MUTATE_SCRATCH or ${TMPDIR:-/tmp}/vmspace-mutate-<uid>-<hash
# of the tree's path>, kept between runs (its build directory and object cache make the next
# run start fast). Each mutant is applied to that copy, the tests/test_*.c executables are
# rebuilt (-O1, VMSPACE_DEBUG=1, no sanitizers; unchanged objects come from the cache) and run
# until one fails: test_owner_checker without its release_build_has_no_checker test (it
# compiles the headers at -O2 twice), and not the _O3/_n4 rebuilds of the randomized tests.
# --fuzz builds every tests/fuzz/fuzz_*.c as a libFuzzer target (through CMake, or as
# tools/fuzz.sh does), replays the committed inputs, then fuzzes with -seed=1.
#
# Output: one line per mutant, then a summary (generated, compiled, killed by tests / by
# timeout, survived, equivalent, did not compile, score = killed / (compiled - equivalent))
# and the survivors with file:line, operator, original and mutated text; the same in
# OUT/summary.txt, one row per mutant in OUT/results.tsv (the --fuzz run: *-fuzz.*), and the
# build and test log of each survivor in OUT/logs/.
#
# Environment: CC (unit builds, default cc), FUZZ_CC (default clang), MUTATE_SCRATCH,
# FUZZ_CFLAGS (extra flags for a harness built as tools/fuzz.sh does).
#
# Equivalent mutants: tests/mutate-equivalent.txt, one "ID reason" a line, # for comments.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

REV=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
        exit 0
        ;;
    --rev)
        [ $# -ge 2 ] || {
            echo "tools/mutate.sh: --rev needs a commit" >&2
            exit 2
        }
        REV=$2
        shift
        ;;
    --rev=*) REV=${1#--rev=} ;;
    *) args+=("$1") ;;
    esac
    shift
done

for tool in python3 git tar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tools/mutate.sh: $tool not found" >&2
        exit 1
    fi
done

tree_hash=$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
SCRATCH=${MUTATE_SCRATCH:-${TMPDIR:-/tmp}/vmspace-mutate-$(id -u)-$tree_hash}
mkdir -p "$SCRATCH"
SCRATCH=$(cd "$SCRATCH" && pwd)

# Only one run per scratch directory at a time.
exec 9>"$SCRATCH/lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    echo "tools/mutate.sh: another run uses $SCRATCH" >&2
    exit 1
fi

# Snapshot: tracked files that exist, and untracked files that git does not ignore; or the
# files of commit REV (git archive reads the object store only).
SNAP="$SCRATCH/snapshot"
rm -rf "$SNAP"
mkdir -p "$SNAP"
if [ -n "$REV" ]; then
    git archive --format=tar "$REV" | tar -xf - -C "$SNAP"
else
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -f "$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar --null -T - -cf - | tar -xf - -C "$SNAP"
fi

exec nice -n 10 python3 "$ROOT/tools/mutate.py" --root "$ROOT" --scratch "$SCRATCH" \
    --snapshot "$SNAP" ${args[@]+"${args[@]}"}
