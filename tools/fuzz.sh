#!/usr/bin/env bash
# tools/fuzz.sh - build the libFuzzer targets of tests/fuzz/ and run them.
#
# Targets:
#   vmspace  fuzz_vmspace.c (+ fuzz_impl.c): operation sequences over the whole API, every
#            result predicted by a reference model
#   image    fuzz_image.c: saved images loaded with vms_space_load_mem, then every read-only
#            call and a few changes, held to the harness's own walk of the tables
#
# Usage:
#   tools/fuzz.sh [SECONDS]   replay the committed inputs, then fuzz each target for SECONDS
#                             (default 60)
#   tools/fuzz.sh --ci        the same with 60 seconds per target, each from an empty corpus
#                             plus the committed seeds; exit 1 on any crash, leak, sanitizer
#                             report or mismatch
#   tools/fuzz.sh --replay    only build and replay the committed inputs
#   tools/fuzz.sh --fast [SECONDS]
#                             throughput run: fuzz fuzz_vmspace's release-speed build instead
#                             of the ASan one (crashes it finds are re-run on the ASan build)
#   tools/fuzz.sh --seeds     regenerate the committed seeds (corpus/ with make_corpus.py,
#                             image_corpus/ with make_image_seeds.c), then replay them
#   --target=vmspace|image    with any of the above: that target only
#
# Environment: CC (default clang; must support -fsanitize=fuzzer), FUZZ_BUILD_DIR (default
# build-fuzz), FUZZ_JOBS (parallel fuzzing jobs per target, default 1), FUZZ_CFLAGS (extra
# compiler flags for every build). With CI=true (and always with --ci) fuzzing uses -seed=1.
#
# Builds, in $FUZZ_BUILD_DIR:
#   fuzz_vmspace        ASan+UBSan, VMSPACE_DEBUG (the library's checkers run too); what is
#                       fuzzed by default and in CI. The library unit is built without
#                       comparison tracing and the checkers without coverage (fuzz_impl.c,
#                       coverage_ignore.txt): that halves the time of an input.
#   fuzz_vmspace_fast   -O2, -fsanitize=fuzzer only, VMSPACE_DEBUG off (--fast)
#   fuzz_image          ASan+UBSan, VMSPACE_DEBUG (vms_space_check after the load and changes)
#   fuzz_image_nodebug  ASan+UBSan, VMSPACE_DEBUG off (the loader's own checks alone)
#   make_image_seeds    the seed generator of image_corpus/
# The committed seeds (tests/fuzz/corpus/, image_corpus/) and the inputs that once found bugs
# (regressions/, image_regressions/) are replayed first on both builds of each target; new
# inputs found while fuzzing go to $FUZZ_BUILD_DIR/corpus/TARGET (not committed; --ci uses an
# empty ci-corpus/TARGET instead), crashes to $FUZZ_BUILD_DIR/artifacts/TARGET/. A summary
# per target (executions, exec/s, libFuzzer's cov: edges and ft: features) ends the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

SECONDS_TO_RUN=60
MODE=fuzz
FAST=0
TARGETS=(vmspace image)
for arg in "$@"; do
    case "$arg" in
    --ci) MODE=ci ;;
    --replay) MODE=replay ;;
    --seeds) MODE=seeds ;;
    --fast) FAST=1 ;;
    --target=vmspace | --target=image) TARGETS=("${arg#--target=}") ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d'
        exit 0
        ;;
    *[!0-9]* | '')
        echo "tools/fuzz.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    *) SECONDS_TO_RUN=$arg ;;
    esac
done

CC=${CC:-clang}
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${FUZZ_JOBS:-1}
FZ="$ROOT/tests/fuzz"

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "tools/fuzz.sh: $CC not found (libFuzzer needs clang)" >&2
    exit 1
fi
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)

wants() {
    local t
    for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Build: at most two compilers at a time (the machine has two cores).

COMMON=(-std=c11 -pedantic -Wall -Wextra -Werror -g -I"$ROOT")
# shellcheck disable=SC2054 # the commas belong to the flags
ASAN=(-O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
IGNORE=(-fsanitize-coverage-ignorelist="$FZ/coverage_ignore.txt")
# shellcheck disable=SC2206 # FUZZ_CFLAGS is a list of flags
EXTRA=(${FUZZ_CFLAGS:-})

build_names=()
# build NAME COMMAND...: run a build step in the background; its log is build-NAME.log.
build() {
    local name=$1
    shift
    build_names+=("$name")
    rm -f "$BUILD/build-$name.ok"
    # renice, not nice: a step may be a shell function.
    (
        renice -n 10 -p "$BASHPID" >/dev/null 2>&1 || true
        "$@" >"$BUILD/build-$name.log" 2>&1 && touch "$BUILD/build-$name.ok"
    ) &
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
}

cc_vmspace() { # OUT OBJ FLAGS...: the model harness and the library in a unit of its own
    local out=$1 obj=$2
    shift 2
    "$CC" "${COMMON[@]}" "$@" "${IGNORE[@]}" -fsanitize=fuzzer-no-link \
        -fno-sanitize-coverage=trace-cmp "${EXTRA[@]}" -c "$FZ/fuzz_impl.c" -o "$obj" &&
        "$CC" "${COMMON[@]}" "$@" "${IGNORE[@]}" -fsanitize=fuzzer "${EXTRA[@]}" \
            "$FZ/fuzz_vmspace.c" "$obj" -o "$out"
}

echo "== building in $BUILD"
start=$SECONDS
if wants vmspace; then
    build fuzz_vmspace cc_vmspace "$BUILD/fuzz_vmspace" "$BUILD/fuzz_impl.o" "${ASAN[@]}" \
        -DVMSPACE_DEBUG=1
    build fuzz_vmspace_fast cc_vmspace "$BUILD/fuzz_vmspace_fast" "$BUILD/fuzz_impl_fast.o" -O2
fi
if wants image; then
    build fuzz_image "$CC" "${COMMON[@]}" "${ASAN[@]}" -fsanitize=fuzzer -DVMSPACE_DEBUG=1 \
        "${EXTRA[@]}" "$FZ/fuzz_image.c" -o "$BUILD/fuzz_image"
    build fuzz_image_nodebug "$CC" "${COMMON[@]}" "${ASAN[@]}" -fsanitize=fuzzer "${EXTRA[@]}" \
        "$FZ/fuzz_image.c" -o "$BUILD/fuzz_image_nodebug"
    build make_image_seeds "$CC" "${COMMON[@]}" "${ASAN[@]}" -DVMSPACE_DEBUG=1 "${EXTRA[@]}" \
        "$FZ/make_image_seeds.c" -o "$BUILD/make_image_seeds"
fi
wait
failed=0
for name in "${build_names[@]}"; do
    if [ ! -f "$BUILD/build-$name.ok" ]; then
        cat "$BUILD/build-$name.log"
        echo "FAILED: building $name (log: $BUILD/build-$name.log)"
        failed=1
    fi
done
[ "$failed" -eq 0 ] || exit 1
echo "built ${build_names[*]} in $((SECONDS - start))s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# ---------------------------------------------------------------------------------------------
# Seeds: regenerate, then replay them like any committed input.

if [ "$MODE" = seeds ]; then
    if wants vmspace; then python3 "$FZ/make_corpus.py" "$FZ/corpus"; fi
    if wants image; then
        rm -rf "$FZ/image_corpus"
        mkdir -p "$FZ/image_corpus"
        "$BUILD/make_image_seeds" "$FZ/image_corpus"
    fi
    MODE=replay
fi

# ---------------------------------------------------------------------------------------------
# Replay: every committed input must pass, on both builds of its target.

seeds_of() { [ "$1" = vmspace ] && echo "$FZ/corpus" || echo "$FZ/image_corpus"; }
regressions_of() { [ "$1" = vmspace ] && echo "$FZ/regressions" || echo "$FZ/image_regressions"; }
builds_of() {
    if [ "$1" = vmspace ]; then echo fuzz_vmspace fuzz_vmspace_fast; else
        echo fuzz_image fuzz_image_nodebug
    fi
}

problems='ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)'
problems+='|runtime error|fuzz_(vmspace|image): mismatch'

for t in "${TARGETS[@]}"; do
    inputs=()
    for f in "$(seeds_of "$t")"/* "$(regressions_of "$t")"/*; do
        [ -f "$f" ] && inputs+=("$f")
    done
    if [ ${#inputs[@]} -eq 0 ]; then
        echo "tools/fuzz.sh: no committed inputs for $t in $(seeds_of "$t")" >&2
        exit 1
    fi
    for exe in $(builds_of "$t"); do
        replay_log="$BUILD/replay-$exe.log"
        if ! nice "$BUILD/$exe" -runs=1 "${inputs[@]}" >"$replay_log" 2>&1 ||
            grep -qE "$problems" "$replay_log"; then
            tail -n 40 "$replay_log"
            echo "FAILED: a committed input of $t fails on $exe (full log: $replay_log)"
            exit 1
        fi
        echo "replay: ${#inputs[@]} inputs of $t passed on $exe"
    done
done
[ "$MODE" = replay ] && exit 0

# ---------------------------------------------------------------------------------------------
# Fuzz, one target after the other.

[ "$MODE" = ci ] && SECONDS_TO_RUN=60
# In CI a fixed seed makes the run repeatable (the same inputs, cut at a time limit).
seed_args=()
if [ "${CI:-}" = "true" ] || [ "$MODE" = "ci" ]; then seed_args=(-seed=1); fi

summary=()
status=0
for t in "${TARGETS[@]}"; do
    exe=fuzz_$t
    [ "$t" = vmspace ] && [ "$FAST" -eq 1 ] && exe=fuzz_vmspace_fast
    if [ "$MODE" = ci ]; then
        corpus="$BUILD/ci-corpus/$t"
        rm -rf "$corpus" # an empty corpus, as on a fresh CI machine
    else
        corpus="$BUILD/corpus/$t"
    fi
    artifacts="$BUILD/artifacts/$t"
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    if [ "$t" = vmspace ]; then
        target_args=(-max_len=1024)
    else
        # The seeds are at most 64 KiB; a little room to grow, and the header in the dictionary.
        target_args=(-max_len=69632 -dict="$FZ/image.dict")
    fi
    log="$BUILD/fuzz-$t.log"
    echo "== fuzzing $t ($exe) for ${SECONDS_TO_RUN}s (log: $log)"
    fuzz_args=("${seed_args[@]}" "${target_args[@]}" -max_total_time="$SECONDS_TO_RUN"
        -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [ "$JOBS" -gt 1 ]; then
        fuzz_args+=(-jobs="$JOBS" -workers="$JOBS")
    fi
    rc=0
    # From the build directory: with -jobs, libFuzzer writes its fuzz-N.log files there.
    (cd "$BUILD" && nice "$BUILD/$exe" "${fuzz_args[@]}" "$corpus" "$(seeds_of "$t")") \
        >"$log" 2>&1 || rc=$?

    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')
    result=passed
    if [ "$rc" -ne 0 ] || grep -qE "$problems" "$log"; then
        result=FAILED
        status=1
        echo
        grep -E 'fuzz_(vmspace|image): mismatch|ERROR:|runtime error|SUMMARY' "$log" |
            head -n 20 || true
        for a in "$artifacts"/*; do
            [ -f "$a" ] || continue
            echo "   artifact: $a"
            if [ "$exe" = fuzz_vmspace_fast ]; then # the ASan build says more
                "$BUILD/fuzz_vmspace" "$a" 2>&1 | grep -E 'mismatch|ERROR:|runtime error|#[0-3] ' |
                    head -n 8 || true
            fi
        done
        trace=
        [ "$t" = vmspace ] && trace="FZ_TRACE=1 " # the model harness can print each step
        echo "   reproduce with: $trace$BUILD/${exe%_fast} <artifact>"
    fi
    line=$(printf '   %-8s %-18s %4ss  executions %-8s exec/s %-5s cov %-5s ft %-6s' "$t" "$exe" \
        "$SECONDS_TO_RUN" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}")
    summary+=("$line corpus ${corp:-?}  $result")
done

echo
corpus_root="$BUILD/corpus"
[ "$MODE" = ci ] && corpus_root="$BUILD/ci-corpus"
echo "== fuzz summary (cov: edges, ft: features; new inputs in $corpus_root/)"
printf '%s\n' "${summary[@]}"
if [ "$status" -ne 0 ]; then
    echo "FAILED: the fuzzer found a problem (artifacts in $BUILD/artifacts/)"
    exit 1
fi
echo "PASSED"
