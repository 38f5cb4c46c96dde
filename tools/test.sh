#!/usr/bin/env bash
# Builds mimicmem and runs every test layer, as CI does: gcc and clang with
# -Werror, the suite under ASan+UBSan, the threaded tests under TSan, the suite
# under Valgrind memcheck, the examples, an install + find_package/pkg-config
# consumer, the two-file distribution built with plain make, libFuzzer runs,
# coverage, static analysis, and a benchmark smoke run. Usage: tools/test.sh [--quick]
# (MM_FUZZ_SECONDS sets the fuzzing time per target, default 10: CI has a time
# budget, and the valgrind layer takes most of it; fuzz longer by hand with
# tests/fuzz/run.sh 300.)
#   --quick   gcc build and its ctest run only (for local iteration)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh test
jobs=$(nproc)
passed=0
current=""
step() { current=$*; layer_start=$SECONDS; echo; echo "=== $* ==="; }
# any failing command ends the run (set -e); say which layer failed
trap 'echo; echo "tests: $passed passed, 1 failed (layer: $current)"' ERR
ok() { passed=$((passed + 1)); echo "(layer passed in $((SECONDS - layer_start)) s; $SECONDS s in all)"; }
configure() { # dir cc cmake-args...
  local dir=$1 cc=$2; shift 2
  CC=$cc cmake -S . -B "build/$dir" -DMM_WERROR=ON "$@" >/dev/null
  echo "building build/$dir with $cc (log: build/$dir.log)"
  if ! cmake --build "build/$dir" -j"$jobs" >"build/$dir.log" 2>&1; then
    tail -60 "build/$dir.log"; echo "build $dir failed"; exit 1
  fi
  echo "built build/$dir with $cc (warnings are errors)"
}
ctest_in() { # dir ctest-args...
  local dir=$1; shift
  (cd "build/$dir" && ctest --output-on-failure -j"$jobs" "$@")
}

step "gcc, -Wall -Wextra -Wpedantic -Werror, tests"
configure gcc gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest_in gcc
ok
bash tools/check-symbols.sh build/gcc
bash tools/check-layers.sh build/gcc
[ "${1:-}" = "--quick" ] && { echo; echo "tests: $passed passed, 0 failed"; exit 0; }

# Release (-O3) as users build it, with both compilers: gcc's -O3 inlining
# finds warnings -O2 does not. The gcc build above stays RelWithDebInfo: the
# Valgrind layer and the memcheck "wrong programs" read its debug info.
step "Release builds: clang -Werror with tests, gcc -Werror (build only)"
configure clang clang -DCMAKE_BUILD_TYPE=Release
ctest_in clang
configure gcc-release gcc -DCMAKE_BUILD_TYPE=Release
ok

step "AddressSanitizer + UndefinedBehaviorSanitizer (clang) with MM_DEBUG invariants, tests"
configure asan clang -DCMAKE_BUILD_TYPE=Debug -DMM_SANITIZE=address -DMM_DEBUG=ON -DMM_BUILD_BENCH=OFF
ctest_in asan
ok

step "libFuzzer targets (clang, ASan+UBSan): regression inputs, then ${MM_FUZZ_SECONDS:-10} s per target"
bash tests/fuzz/run.sh "${MM_FUZZ_SECONDS:-10}"
ok

step "ThreadSanitizer (clang), threaded tests"
configure tsan clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMM_SANITIZE=thread -DMM_BUILD_BENCH=OFF -DMM_BUILD_EXAMPLES=OFF
ctest_in tsan -R '^(thread_|stress_threads|stress_concurrent)'
ok

step "Valgrind memcheck, every test program and the examples"
bash tools/valgrind.sh build/gcc
ok

step "examples"
build/gcc/examples/mm_example_basic >/dev/null
build/gcc/examples/mimicmem-forest-demo --forests 2000 --json build/demo.json --epochs build/demo.csv >/dev/null
[ "$(wc -l <build/demo.csv)" -eq 2001 ] || { echo "forest demo: expected 2001 epoch lines"; exit 1; }
# what tools/demo.sh does next: plot the demo's epoch log and JSON report
rm -rf build/demo-plots
tools/report/mimicmem-report plot --epochs build/demo.csv --report build/demo.json \
  --out build/demo-plots >build/demo-plots.txt
[ "$(find build/demo-plots -name '*.png' | wc -l)" -eq 3 ] ||
  { cat build/demo-plots.txt; echo "forest demo: expected 3 plots of its report and epoch log"; exit 1; }
rc=0; build/gcc/examples/mimicmem-forest-demo --forests 10x >/dev/null 2>&1 || rc=$? # no ERR trap
[ "$rc" -eq 2 ] || { echo "forest demo: a bad option should exit 2, not $rc"; exit 1; }
build/gcc/examples/mm_example_diagnostics >/dev/null
# the demo under every check, traced; the trace replays to the figures mimicmem saw
rm -f build/demo-*.trace
MIMICMEM_CHECK=full MIMICMEM_SITES=on MIMICMEM_TRACE='build/demo-%p.trace' \
  build/gcc/examples/mimicmem-forest-demo --forests 300 >/dev/null
build/gcc/tools/replay/mimicmem-replay build/demo-*.trace --rounds 1 >build/demo-replay.txt
grep -q "mimicmem statistics agree: yes" build/demo-replay.txt ||
  { cat build/demo-replay.txt; echo "replay of the demo's trace: statistics disagree"; exit 1; }
echo "examples: basic, diagnostics and forest demo ran and plotted; bad option exits 2; the demo's trace replays"
ok

step "install, then build a consumer with find_package and with pkg-config"
rm -rf build/prefix build/consumer
cmake --install build/gcc --prefix "$PWD/build/prefix" >/dev/null
cmake -S tests/install -B build/consumer -DCMAKE_PREFIX_PATH="$PWD/build/prefix" >/dev/null
cmake --build build/consumer >/dev/null
LD_LIBRARY_PATH="$PWD/build/prefix/lib" build/consumer/consumer_shared
# from its build tree a find_package consumer runs without LD_LIBRARY_PATH
# (CMake's build rpath), as docs/quickstart-cluster.md says
env -u LD_LIBRARY_PATH build/consumer/consumer_shared
build/consumer/consumer_static
libdir=$(ls -d build/prefix/lib*/pkgconfig | head -1)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror tests/install/consumer.c -o build/consumer/consumer_pc \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs mimicmem)
LD_LIBRARY_PATH="$(dirname "$libdir")" build/consumer/consumer_pc
# the quickstart's other two ways: an rpath (runs with no LD_LIBRARY_PATH and
# loads the prefix's library), and the static archive named directly
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror tests/install/consumer.c -o build/consumer/consumer_pc_rpath \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs mimicmem) -Wl,-rpath,"$PWD/$(dirname "$libdir")"
env -u LD_LIBRARY_PATH build/consumer/consumer_pc_rpath
# (ldd's whole output first: with pipefail, grep -q leaving early can end ldd
# with SIGPIPE and fail the check even when the line is there)
rpath_libs=$(env -u LD_LIBRARY_PATH ldd build/consumer/consumer_pc_rpath)
grep -q "libmimicmem.so.* => $PWD/build/prefix/" <<<"$rpath_libs" ||
  { echo "$rpath_libs"; echo "install: the rpath consumer does not load build/prefix's library"; exit 1; }
cc -std=c11 -Wall -Werror tests/install/consumer.c -o build/consumer/consumer_a -Ibuild/prefix/include \
  "$(dirname "$libdir")/libmimicmem.a" -pthread
build/consumer/consumer_a
ok

step "two-file distribution: generate, then build and run a Mimic-style program with plain make"
rm -rf build/dist
bash tools/amalgamate.sh "$PWD/build/dist"
make -s -C tests/dist DIST="$PWD/build/dist" CC=gcc
make -s -C tests/dist DIST="$PWD/build/dist" CC=clang GENERATE=no
CC=gcc bash tests/dist/host_swap.sh   # the --mimic swap on a host-shaped fixture
CC=clang bash tests/dist/host_swap.sh
ok

step "coverage of src/ by the suite (gcov): lines and branches, at least 95% of lines"
bash tools/coverage.sh build/coverage
ok

step "mimicmem-report (Python, pytest): merge, plots, summaries, bad input"
bash tests/report/run.sh -q
ok

step "static analysis: cppcheck and clang-tidy on src/"
bash tools/lint.sh build/lint
ok

step "benchmark smoke run (figures are not checked here; see bench/README.md)"
build/gcc/bench/mm_bench_core --quick >build/bench-smoke.log 2>&1
build/gcc/bench/mm_bench_forest --quick >>build/bench-smoke.log 2>&1
if [ -x build/gcc/bench/mm_bench_diag ]; then
  build/gcc/bench/mm_bench_diag --quick >>build/bench-smoke.log 2>&1
fi
build/gcc/tools/replay/mimicmem-replay bench/data/mimic-trace-small.txt.gz --rounds 1 \
  >>build/bench-smoke.log 2>&1
echo "bench: the benchmark programs and mimicmem-replay ran (tables in build/bench-smoke.log)"
ok

echo
echo "tests: $passed passed, 0 failed"
