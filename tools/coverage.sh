#!/usr/bin/env bash
# Line and branch coverage of src/ by the test suite (gcc --coverage, gcovr),
# printed per file with the uncovered lines; fails below MM_COVERAGE_MIN
# percent of lines (default 95). Usage: tools/coverage.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/coverage}
min=${MM_COVERAGE_MIN:-95}
flags="--coverage -O0 -fprofile-update=atomic"
CC=gcc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage \
  -DMM_BUILD_BENCH=OFF -DMM_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
find "$build" -name '*.gcda' -delete
(cd "$build" && ctest -j"$(nproc)" --output-on-failure >/dev/null)
gcovr -r . "$build" --filter 'src/' --branches | tail -n +4
gcovr -r . "$build" --filter 'src/' --fail-under-line "$min"
