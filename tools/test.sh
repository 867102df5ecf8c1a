#!/usr/bin/env bash
# shellcheck disable=SC2317 # stage functions are called indirectly, through run_stage.
# tools/test.sh - install what is missing, then build and run every test of vmspace.
#
# Stages (each one runs even when an earlier one failed; the script exits 1 at the end if any
# stage failed):
#   build-asan          gcc, Debug, address+undefined sanitizers, VMSPACE_DEBUG on, ctest
#   build-asan-nodebug  clang, address+undefined sanitizers, VMSPACE_DEBUG off, ctest
#   header-gcc, header-clang, header-g++
#                       the headers with their implementation under -Wall -Wextra -Werror
#   header-no-threads   the same with VMSPACE_NO_THREADS
#   build-no-threads    gcc, Release, sanitizers, VMSPACE_NO_THREADS, ctest
#   threads             the concurrency tests under ThreadSanitizer, then the
#                       linearizability replay (10^6 mutations per run) without it
#   spin                tools/spin.sh: the lock protocol and software-TLB models
#   install             install to a scratch prefix; build a consumer with find_package,
#                       add_subdirectory and pkg-config
#   conformance, fuzz, bench-smoke, style
#                       tools/conformance.sh --ci, tools/fuzz.sh --ci,
#                       tools/bench.sh --quick --no-plots, tools/check_style.sh; each only if
#                       the script exists
#
# Usage: tools/test.sh [--no-install]   (--no-install: never call apt-get)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

INSTALL_DEPS=1
for arg in "$@"; do
    case "$arg" in
    --no-install) INSTALL_DEPS=0 ;;
    -h | --help)
        sed -n '3,23p' "$0"
        exit 0
        ;;
    *)
        echo "tools/test.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

JOBS=2
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
export CTEST_OUTPUT_ON_FAILURE=1

PASSED=()
FAILED=()
SKIPPED=()

section() {
    echo
    echo "=================================================================================="
    echo "== $*"
    echo "=================================================================================="
}

# run_stage NAME COMMAND...: run a stage, record its result, never stop the script.
run_stage() {
    local name=$1
    shift
    section "stage: $name"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        echo "-- stage $name: PASSED (${took}s)"
        PASSED+=("$name")
    else
        echo "-- stage $name: FAILED with status $rc (${took}s)"
        FAILED+=("$name")
    fi
}

skip_stage() {
    section "stage: $1"
    echo "-- stage $1: SKIPPED ($2)"
    SKIPPED+=("$1")
}

# ---------------------------------------------------------------------------------------------
# Dependencies (Debian).

install_deps() {
    local pkgs=(cmake ninja-build pkg-config libcriterion-dev libxxhash-dev clang gcc g++
        valgrind libbsd-dev libbenchmark-dev qemu-system-x86 gnuplot-nox liburcu-dev spin)
    local missing=() p
    if ! command -v dpkg >/dev/null 2>&1; then
        echo "no dpkg: not a Debian system, assuming the tools are installed"
        return 0
    fi
    # clang's sanitizer runtimes are only a recommendation of clang; the sanitizer stage
    # needs them.
    local clang_major
    clang_major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' |
        head -n1 || true)
    if [ -n "$clang_major" ] && apt-cache show "libclang-rt-$clang_major-dev" >/dev/null 2>&1; then
        pkgs+=("libclang-rt-$clang_major-dev")
    fi
    for p in "${pkgs[@]}"; do
        if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all packages present"
        return 0
    fi
    echo "missing packages: ${missing[*]}"
    if [ "$INSTALL_DEPS" -eq 0 ]; then
        echo "--no-install given: not installing"
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "not root and no sudo: cannot install ${missing[*]}"
            return 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update || return 1
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}" || return 1
    # A clang installed just now: add its sanitizer runtimes too.
    clang_major=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' |
        head -n1 || true)
    if [ -n "$clang_major" ] && ! dpkg -s "libclang-rt-$clang_major-dev" >/dev/null 2>&1 &&
        apt-cache show "libclang-rt-$clang_major-dev" >/dev/null 2>&1; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "libclang-rt-$clang_major-dev" || return 1
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# CMake builds with ctest.

# Print each Criterion test's synthesis line from ctest's log, prefixed with the test's name.
print_synthesis() {
    local log=$1/Testing/Temporary/LastTest.log
    [ -f "$log" ] || return 0
    echo "-- Criterion results:"
    awk '
        /^[0-9]+\/[0-9]+ Testing: / { name = $3 }
        /Synthesis: / {
            line = $0
            gsub(/\033\[[0-9;]*m/, "", line)
            sub(/^.*Synthesis: /, "Synthesis: ", line)
            printf "   %-28s %s\n", name, line
        }' "$log"
}

# cmake_stage BUILD_DIR CC CXX BUILD_TYPE DEBUG_TESTS [EXTRA_CFLAGS]
cmake_stage() {
    local dir=$1 cc=$2 cxx=$3 type=$4 debug=$5 extra=${6:-} rc=0
    rm -rf "$dir"
    CFLAGS="$extra" CXXFLAGS="$extra" cmake -S "$ROOT" -B "$dir" -G Ninja \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_BUILD_TYPE="$type" \
        -DVMSPACE_BUILD_TESTS=ON -DVMSPACE_BUILD_BENCH=OFF \
        "-DVMSPACE_SANITIZE=address;undefined" \
        -DVMSPACE_DEBUG_TESTS="$debug" || return 1
    # Keep building past errors so every test that can build does; a failed build still fails
    # the stage after the tests ran.
    nice cmake --build "$dir" -j "$JOBS" -- -k 0 || rc=1
    (cd "$dir" && nice ctest --output-on-failure --no-tests=error -j "$JOBS" --timeout 900) ||
        rc=1
    print_synthesis "$dir"
    return "$rc"
}

# ---------------------------------------------------------------------------------------------
# Header compile checks: one translation unit with the implementation, strict warnings.

header_tu() {
    local out=$1
    {
        echo '/* Generated by tools/test.sh: every header with its implementation. */'
        echo '#define VMSPACE_IMPLEMENTATION'
        echo '#include "vmspace.h"'
        if [ -f "$ROOT/vmspace_owner.h" ]; then
            echo '#define VMSPACE_OWNER_IMPLEMENTATION'
            echo '#include "vmspace_owner.h"'
        fi
        echo 'int main(void) {'
        echo '    vms_space_t sp;'
        echo '    uint64_t pa = 0;'
        echo '    int bad;'
        echo '    if (vms_space_init(&sp, NULL) != VMS_OK) return 1;'
        echo '    bad = vms_space_map(&sp, 0x200000, 0x600000, 0x1000, VMS_R, 0) != VMS_OK;'
        echo '    bad |= !vms_translate(&sp, 0x200010, &pa) || pa != 0x600010;'
        echo '    bad |= vms_space_destroy(&sp) != VMS_OK;'
        echo '    return bad;'
        echo '}'
    } >"$out"
}

# ---------------------------------------------------------------------------------------------
# Threads: the concurrency tests under ThreadSanitizer (built without Criterion, whose arena
# cannot start under it), the linearizability replay at full length, and the spin models.

threads_stage() {
    local dir="$ROOT/build-threads" src=(tests/test_threads.c tests/support/*.c tests/impl.c)
    local flags=(-std=c11 -g -Wall -Wextra -Werror -DVT_NO_CRITERION -I"$ROOT/tests" -I"$ROOT")
    mkdir -p "$dir"
    echo "-- ThreadSanitizer: clang -fsanitize=thread"
    clang "${flags[@]}" -O1 -fsanitize=thread "${src[@]}" -lxxhash -lpthread \
        -o "$dir/threads_tsan" || return 1
    # The program divides the count by 8 under the sanitizer.
    TSAN_OPTIONS=halt_on_error=1:exitcode=66 VMS_THREAD_OPS=800000 "$dir/threads_tsan" ||
        return 1
    echo "-- linearizability replay, 10^6 mutations per hook, liburcu and rwlock reclaim"
    gcc "${flags[@]}" -O2 "${src[@]}" -lxxhash -lurcu-memb -lpthread -o "$dir/threads" ||
        return 1
    VMS_THREAD_OPS=1000000 "$dir/threads" || return 1
}

# header_stage COMPILER LANG_FLAGS...
header_stage() {
    local compiler=$1
    shift
    local dir="$ROOT/build-headers"
    mkdir -p "$dir"
    local ext=c
    case "$compiler" in *++) ext=cc ;; esac
    local src="$dir/header_$compiler.$ext" exe="$dir/header_$compiler"
    header_tu "$src"
    echo "$compiler $* -Wall -Wextra -Werror -I. $src"
    "$compiler" "$@" -Wall -Wextra -Werror -I"$ROOT" "$src" -o "$exe" || return 1
    "$exe" || {
        echo "the program built by $compiler failed"
        return 1
    }
    echo "$compiler: compiled cleanly and ran"
}

# ---------------------------------------------------------------------------------------------
# Install and consume.

install_stage() {
    local dir="$ROOT/build-install"
    local prefix="$dir/prefix"
    rm -rf "$dir"
    cmake -S "$ROOT" -B "$dir/lib" -G Ninja -DCMAKE_INSTALL_PREFIX="$prefix" \
        -DVMSPACE_BUILD_TESTS=OFF -DVMSPACE_BUILD_BENCH=OFF || return 1
    cmake --install "$dir/lib" || return 1
    echo "-- installed files:"
    (cd "$prefix" && find . -type f | sort)
    local consumer="$ROOT/tests/compile/consumer"
    # find_package(vmspace) from the install prefix.
    cmake -S "$consumer" -B "$dir/find" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
        -DVMSPACE_CONSUMER_MODE=find_package || return 1
    cmake --build "$dir/find" || return 1
    "$dir/find/consumer" || return 1
    # add_subdirectory(vmspace): no tests, no install rules, no warnings leak in.
    cmake -S "$consumer" -B "$dir/subdir" -G Ninja -DVMSPACE_CONSUMER_MODE=add_subdirectory \
        -DVMSPACE_SOURCE_DIR="$ROOT" || return 1
    cmake --build "$dir/subdir" || return 1
    "$dir/subdir/consumer" || return 1
    # pkg-config.
    local pc cflags
    pc=$(find "$prefix" -name vmspace.pc | head -n1)
    [ -n "$pc" ] || {
        echo "vmspace.pc was not installed"
        return 1
    }
    cflags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags vmspace) || return 1
    echo "pkg-config --cflags vmspace: $cflags"
    # shellcheck disable=SC2086 # the flags are meant to split.
    cc $cflags "$consumer/main.c" -o "$dir/pkgconfig-consumer" || return 1
    "$dir/pkgconfig-consumer" || return 1
}

# ---------------------------------------------------------------------------------------------
# Hooks for the other parts of the suite: run only when their script exists.

hook_stage() {
    local name=$1 script=$2
    shift 2
    if [ -x "$ROOT/$script" ]; then
        run_stage "$name" "$ROOT/$script" "$@"
    elif [ -f "$ROOT/$script" ]; then
        run_stage "$name" bash "$ROOT/$script" "$@"
    else
        skip_stage "$name" "$script not present"
    fi
}

# ---------------------------------------------------------------------------------------------

section "vmspace tests in $ROOT"
echo "started $(date -u '+%Y-%m-%d %H:%M:%S') UTC, jobs: $JOBS, CI: ${CI:-false}"

run_stage deps install_deps
run_stage build-asan cmake_stage "$ROOT/build-asan" gcc g++ Debug ON
run_stage build-asan-nodebug cmake_stage "$ROOT/build-asan-nodebug" clang clang++ \
    RelWithDebInfo OFF
run_stage header-gcc header_stage gcc -std=c11 -pedantic
run_stage header-clang header_stage clang -std=c11 -pedantic
run_stage header-g++ header_stage g++ -std=c++17
run_stage header-no-threads header_stage gcc -std=c11 -pedantic -DVMSPACE_NO_THREADS
run_stage build-no-threads cmake_stage "$ROOT/build-no-threads" gcc g++ Release OFF \
    -DVMSPACE_NO_THREADS
run_stage threads threads_stage
hook_stage spin tools/spin.sh
run_stage install install_stage
hook_stage conformance tools/conformance.sh --ci
hook_stage fuzz tools/fuzz.sh --ci
hook_stage bench-smoke tools/bench.sh --quick --no-plots
hook_stage style tools/check_style.sh

section "summary"
echo "passed:  ${PASSED[*]:-none}"
echo "failed:  ${FAILED[*]:-none}"
echo "skipped: ${SKIPPED[*]:-none}"
echo "took ${SECONDS}s"
echo
echo "stages: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped"
if [ ${#FAILED[@]} -ne 0 ]; then
    exit 1
fi
exit 0
