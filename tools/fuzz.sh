#!/usr/bin/env bash
# tools/fuzz.sh - build the libFuzzer harness (tests/fuzz/fuzz_vmspace.c) and run it.
#
# Usage:
#   tools/fuzz.sh [SECONDS]   replay the committed corpus, then fuzz for SECONDS (default 60)
#   tools/fuzz.sh --ci        the same with 60 seconds; exit 1 on any crash, leak or mismatch
#   tools/fuzz.sh --replay    only build and replay the committed corpus and regressions
#
# Environment: CC (default clang; must support -fsanitize=fuzzer), FUZZ_BUILD_DIR (default
# build-fuzz), FUZZ_JOBS (parallel fuzzing jobs, default 1), FUZZ_CFLAGS (extra compiler
# flags for the harness).
#
# The harness is built with -fsanitize=fuzzer,address,undefined and VMSPACE_DEBUG, so the
# library's own checkers run after every step. The committed seeds (tests/fuzz/corpus/) and
# the inputs that once found bugs (tests/fuzz/regressions/) are replayed first as a
# regression test; new inputs found while fuzzing go to $FUZZ_BUILD_DIR/corpus (not
# committed), crashes to $FUZZ_BUILD_DIR/artifacts/. A summary with executions, exec/s and
# coverage (libFuzzer's cov: edges and ft: features) is printed at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SECONDS_TO_RUN=60
MODE=fuzz
for arg in "$@"; do
    case "$arg" in
    --ci) MODE=ci ;;
    --replay) MODE=replay ;;
    -h | --help)
        sed -n '3,18p' "$0"
        exit 0
        ;;
    *[!0-9]*)
        echo "tools/fuzz.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    *) SECONDS_TO_RUN=$arg ;;
    esac
done

CC=${CC:-clang}
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${FUZZ_JOBS:-1}
SRC="$ROOT/tests/fuzz/fuzz_vmspace.c"
SEEDS="$ROOT/tests/fuzz/corpus"
REGRESS="$ROOT/tests/fuzz/regressions"
EXE="$BUILD/fuzz_vmspace"

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "tools/fuzz.sh: $CC not found (libFuzzer needs clang)" >&2
    exit 1
fi

mkdir -p "$BUILD/corpus" "$BUILD/artifacts"

# ---------------------------------------------------------------------------------------------
# Build.

echo "== building $EXE"
nice "$CC" -g -O1 -std=c11 -pedantic -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -DVMSPACE_DEBUG=1 ${FUZZ_CFLAGS:-} -I"$ROOT" "$SRC" -o "$EXE"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---------------------------------------------------------------------------------------------
# Replay: every committed input must pass.

inputs=()
for f in "$SEEDS"/* "$REGRESS"/*; do
    [ -f "$f" ] && inputs+=("$f")
done
if [ ${#inputs[@]} -eq 0 ]; then
    echo "tools/fuzz.sh: no committed inputs in $SEEDS" >&2
    exit 1
fi
echo "== replaying ${#inputs[@]} committed inputs (corpus and regressions)"
replay_log="$BUILD/replay.log"
if ! nice "$EXE" -runs=1 "${inputs[@]}" >"$replay_log" 2>&1; then
    tail -n 40 "$replay_log"
    echo "FAILED: a committed input fails (full log: $replay_log)"
    exit 1
fi
echo "replay: ${#inputs[@]} inputs passed"
[ "$MODE" = replay ] && exit 0

# ---------------------------------------------------------------------------------------------
# Fuzz.

if [ "$MODE" = ci ]; then
    SECONDS_TO_RUN=60
fi
log="$BUILD/fuzz.log"
echo "== fuzzing for ${SECONDS_TO_RUN}s (log: $log)"
rc=0
# In CI a fixed seed makes the run repeatable (the same inputs, cut at a time limit).
seed_args=()
if [ "${CI:-}" = "true" ] || [ "$MODE" = "ci" ]; then seed_args=(-seed=1); fi
fuzz_args=("${seed_args[@]}" -max_total_time="$SECONDS_TO_RUN" -max_len=1024 -timeout=30
    -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/")
if [ "$JOBS" -gt 1 ]; then
    fuzz_args+=(-jobs="$JOBS" -workers="$JOBS")
fi
nice "$EXE" "${fuzz_args[@]}" "$BUILD/corpus" "$SEEDS" >"$log" 2>&1 || rc=$?

# ---------------------------------------------------------------------------------------------
# Summary.

last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
echo
echo "== fuzz summary"
echo "   time:        ${SECONDS_TO_RUN}s"
echo "   executions:  ${runs:-?}"
echo "   exec/s:      ${eps:-?}"
echo "   coverage:    cov ${cov:-?} edges, ft ${ft:-?} features"
echo "   corpus:      ${corp:-?} (entries/bytes; new ones in $BUILD/corpus)"
problems='ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error|fuzz_vmspace: mismatch'
if [ "$rc" -ne 0 ] || grep -qE "$problems" "$log"; then
    echo
    grep -E 'fuzz_vmspace: mismatch|ERROR:|runtime error|SUMMARY' "$log" | head -n 20 || true
    ls -1 "$BUILD/artifacts" 2>/dev/null | sed 's/^/   artifact: /' || true
    echo "FAILED: the fuzzer found a problem (exit status $rc); reproduce with:"
    echo "   FZ_TRACE=1 $EXE <artifact>"
    exit 1
fi
echo "PASSED"
