#!/bin/sh
# conformance.sh - check the page tables vmspace builds against QEMU's x86-64 page walker.
#
#     tools/conformance.sh [TABLES] [run.py options...]    (default 200 tables)
#     tools/conformance.sh --ci                            (50 smaller tables, a few seconds)
#     tools/conformance.sh --self-test                     (the checks catch broken tables)
#
# Builds the generator (tests/conformance/gen.c) with cc into build-conformance/, makes sure
# qemu-system-x86_64 is there (installs qemu-system-x86 with apt-get when running as root),
# then runs tests/conformance/run.py over TABLES random spaces and prints the totals. Exits
# non-zero on any mismatch. Works from any directory.
set -eu

cd "$(dirname "$0")/.."

tables=200
ci=
if [ $# -gt 0 ]; then
    case "$1" in
    --ci) tables=50; ci="--max-leaves 6000"; shift ;;
    ''|*[!0-9]*) ;;
    *) tables=$1; shift ;;
    esac
fi

CC=${CC:-cc}
mkdir -p build-conformance
$CC -O1 -std=c11 -Wall -Wextra -I. tests/conformance/gen.c \
    -o build-conformance/gen

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "conformance: installing qemu-system-x86" >&2
        apt-get update >&2 && apt-get install -y qemu-system-x86 >&2
    else
        echo "conformance: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2
        exit 2
    fi
fi

# shellcheck disable=SC2086 # $ci is a list of options
exec python3 tests/conformance/run.py --gen build-conformance/gen --tables "$tables" -q $ci "$@"
