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
    --trace-children=yes --child-silent-after-fork=yes
    --trace-children-skip='*/localedef,*/true,*/addr2line')
# (localedef, which a test runs to make a comma locale, is not ours to check;
# /bin/true is how forked test children end, see test_safety.c; addr2line is
# what the reports run to resolve legacy sites, and test_legacy_sites's fake
# ones are called the same)
run() { # name command...
  local name=$1; shift
  mkdir -p "$logs/$name"
  if ! "${vg[@]}" --log-file="$logs/$name/%p.log" "$@" >"$logs/$name.out" 2>&1; then
    echo "valgrind: $name failed:"; tail -20 "$logs/$name.out"
    cat "$logs/$name"/*.log 2>/dev/null | tail -40; return 1
  fi
}
tests=()
# The MPI tests (build/tests/mpi/, mpi_* in ctest) are left out on purpose:
# under mpiexec memcheck would follow the launcher and its daemons, and Open
# MPI's own allocations show as leaks and uninitialised reads of the test.
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  tests+=("$t")
done
total=$((${#tests[@]} + 2))
# Progress: one line per program as it ends ("valgrind 12/40 test_context ok
# (14 s)"), so the layer's minutes are never silent.
declare -A started=() names=()
finished=0
fail=0
reap() { # reports and collects every program that has ended
  local pid running
  running=" $(jobs -rp | tr '\n' ' ') "
  for pid in "${!names[@]}"; do
    case $running in *" $pid "*) continue ;; esac
    local st=ok
    wait "$pid" || { st=FAILED; fail=1; }
    finished=$((finished + 1))
    echo "valgrind $finished/$total ${names[$pid]} $st ($((SECONDS - started[$pid])) s)"
    unset "names[$pid]" "started[$pid]"
  done
}
launch() { # name command...: starts it when a core is free
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 0.2; done
  reap
  run "$@" & started[$!]=$SECONDS; names[$!]=$1
}
for t in "${tests[@]}"; do
  launch "$(basename "$t")" "$t" --jobs=1
done
launch example_basic "$build/examples/mm_example_basic"
launch forest_demo "$build/examples/mimicmem-forest-demo" --forests 300
while [ ${#names[@]} -gt 0 ]; do sleep 0.2; reap; done
# -q leaves only reports in the logs (no summary line): look for the error
# kinds themselves, so an error in a process whose exit status nobody checks
# (a Criterion worker) still fails the layer. Leak records are left to the
# exit status: tests that end with blocks live (the process exits) show
# them as lost, which says nothing of the library
bad=$(grep -lE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write|free)|Conditional jump|Use of uninitialised|uninitialised byte|Mismatched free|overlap in|Syscall param|Illegal memory pool" -r "$logs" || true)
if [ -n "$bad" ]; then
  for f in $bad; do echo "---- $f"; cat "$f"; done
  fail=1
fi
n=$(find "$logs" -name '*.log' | wc -l)
if [ $fail -ne 0 ]; then echo "valgrind: errors found ($n processes checked)"; exit 1; fi
echo "valgrind: $total programs, $n processes, 0 errors, 0 definite leaks"
