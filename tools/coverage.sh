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
echo "coverage: building $build (gcc --coverage -O0)"
start=$SECONDS
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "coverage: built in $((SECONDS - start)) s; running the suite (one line per test)"
find "$build" -name '*.gcda' -delete
if ! (cd "$build" && ctest -j"$(nproc)" --output-on-failure) 2>&1 | tee "$build/ctest.log" |
    grep --line-buffered -E "Test +#"; then
  tail -80 "$build/ctest.log"; echo "coverage: the suite failed (log: $build/ctest.log)"; exit 1
fi
echo "coverage: suite ran; $((SECONDS - start)) s so far"
gcovr -r . "$build" --filter 'src/' --branches | tail -n +4
gcovr -r . "$build" --filter 'src/' --fail-under-line "$min"
