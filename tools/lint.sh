#!/usr/bin/env bash
# Static analysis of src/: cppcheck and clang-tidy (settings in .clang-tidy),
# any finding fails. Usage: tools/lint.sh [BUILD_DIR for compile_commands.json]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/lint}
cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DMM_BUILD_TESTS=OFF \
  -DMM_BUILD_BENCH=OFF -DMM_BUILD_EXAMPLES=OFF >/dev/null
mapfile -t sources < <(awk '/^[a-z]+ +src\// { print $2 }' src/LAYERS)
cppcheck --error-exitcode=1 --enable=warning,style,performance,portability --std=c11 \
  --inline-suppr --quiet -I include "${sources[@]}"
echo "lint: cppcheck clean (${#sources[@]} files)"
# one clang-tidy per file, as many at a time as there are cores; any finding
# is an error (WarningsAsErrors)
if ! printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 1 clang-tidy -p "$build" --quiet \
    >"$build/clang-tidy.log" 2>&1; then
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' "$build/clang-tidy.log"
  echo "lint: clang-tidy found problems"
  exit 1
fi
echo "lint: clang-tidy clean (.clang-tidy checks)"
