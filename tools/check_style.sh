#!/usr/bin/env bash
# Mechanical style checks: lines of at most 100 columns, no trailing white space, no tabs, LF
# endings in C, C++ and CMake sources and scripts; and every symbol the implementation exports
# carries the vms_ prefix. Exits non-zero and lists the offenders when a check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail=0
mapfile -t files < <(git ls-files -- '*.h' '*.c' '*.cc' '*.cmake' 'CMakeLists.txt' \
                     '*/CMakeLists.txt' '*.sh' '.ci/run' 2>/dev/null || true)
if [ "${#files[@]}" -eq 0 ]; then
    mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.[ch]' -o -name '*.cc' \
                         -o -name '*.sh' -o -name CMakeLists.txt \) -print)
fi

report() { echo "check_style: $1"; fail=1; }

long=$(awk 'length > 100 { print FILENAME ":" FNR ": " length " columns" }' "${files[@]}")
[ -z "$long" ] || report "lines over 100 columns:"$'\n'"$long"
trailing=$(grep -nE '[[:space:]]+$' "${files[@]}" || true)
[ -z "$trailing" ] || report "trailing white space:"$'\n'"$trailing"
tabs=$(grep -nP '\t' -- $(printf '%s\n' "${files[@]}" | grep -E '\.(h|c|cc)$') || true)
[ -z "$tabs" ] || report "tabs in C sources:"$'\n'"$tabs"
crlf=$(grep -lU $'\r' "${files[@]}" || true)
[ -z "$crlf" ] || report "CRLF line endings:"$'\n'"$crlf"

# Exported symbols: compile both implementations into one object and list its global symbols.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#define VMSPACE_IMPLEMENTATION\n#include "vmspace_owner.h"\n' > "$tmp/impl.c"
cc -std=c11 -O1 -c -I. "$tmp/impl.c" -o "$tmp/impl.o"
bad=$(nm -g --defined-only "$tmp/impl.o" | awk '{ print $3 }' | grep -v '^vms_' || true)
[ -z "$bad" ] || report "exported symbols without the vms_ prefix:"$'\n'"$bad"

if [ "$fail" -eq 0 ]; then
    echo "check_style: ${#files[@]} files: line length, white space, tabs, endings and" \
        "symbol prefix OK"
fi
exit "$fail"
