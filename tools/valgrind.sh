#!/usr/bin/env bash
# Runs every test executable of a build (and the examples) under Valgrind
# memcheck, following Criterion's worker processes, and fails on any memcheck
# error or definite leak in any process. Usage: tools/valgrind.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: tools/valgrind.sh BUILD_DIR}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export MM_TEST_SCALE=${MM_TEST_SCALE:-0.05} MIMICMEM_CACHE=0
# Criterion starts libgit2 in every test process (it uses it only to diff
# strings in failure messages), and libgit2's start parses every CA certificate
# of the system: under Valgrind that was a third of each process's time. These
# two no-op stand-ins, preloaded for this run only, skip it; nothing of
# mimicmem or of our tests uses libgit2.
printf '%s\n' 'int git_libgit2_init(void);' 'int git_libgit2_shutdown(void);' \
  'int git_libgit2_init(void) { return 1; }' 'int git_libgit2_shutdown(void) { return 0; }' \
  >"$logs/no_git_init.c"
cc -shared -fPIC -o "$logs/no_git_init.so" "$logs/no_git_init.c"
export LD_PRELOAD="$logs/no_git_init.so${LD_PRELOAD:+:$LD_PRELOAD}"
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
    --trace-children=yes --child-silent-after-fork=yes)
run() { # name command...
  local name=$1; shift
  mkdir -p "$logs/$name"
  if ! "${vg[@]}" --log-file="$logs/$name/%p.log" "$@" >"$logs/$name.out" 2>&1; then
    echo "valgrind: $name failed:"; tail -20 "$logs/$name.out"; return 1
  fi
}
pids=()
names=()
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  n=$(basename "$t")
  run "$n" "$t" --jobs=1 & pids+=($!); names+=("$n")
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 0.2; done
done
run example_basic "$build/examples/mm_example_basic" & pids+=($!); names+=(example_basic)
run forest_demo "$build/examples/mimicmem-forest-demo" --forests 300 & pids+=($!); names+=(forest_demo)
fail=0
for i in "${!pids[@]}"; do wait "${pids[$i]}" || { echo "valgrind: ${names[$i]} did not pass"; fail=1; }; done
bad=$(grep -lE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" -r "$logs" || true)
if [ -n "$bad" ]; then
  for f in $bad; do echo "---- $f"; cat "$f"; done
  fail=1
fi
n=$(find "$logs" -name '*.log' | wc -l)
if [ $fail -ne 0 ]; then echo "valgrind: errors found ($n processes checked)"; exit 1; fi
echo "valgrind: ${#names[@]} programs, $n processes, 0 errors, 0 definite leaks"
