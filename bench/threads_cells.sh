#!/usr/bin/env bash
# Thread scaling from many short cells, interleaved: each iteration runs one
# workload of mm_bench_threads once per cell (--only W:A-kT, a fresh process
# each), for every build given (mimicmem on 1, 2 and 4 threads) and, from the
# first build, mimalloc heaps (talloc for reset) and the cpu-only control on
# 1 and 2 threads. A ratio is taken within an iteration (its cells ran
# seconds apart) and the medians over iterations are printed, so a host that
# is busy for a minute moves a few iterations, not the figure. mimalloc and
# cpu-only show what the machine gave: when mimalloc heaps do not scale
# either, the host is in the way, not the library.
#
# Usage: bench/threads_cells.sh [--iterations N] [--workload W] [--ops N] BUILD [BUILD...]
#   BUILD: a build directory with bench/mm_bench_threads (Release or
#   RelWithDebInfo). Two builds (before, after) are measured side by side.
#   Defaults: 30 iterations, destroy, 20000 forests per thread.
set -euo pipefail
iterations=30 workload=destroy ops=20000
while [ $# -gt 0 ]; do
  case $1 in
    --iterations) iterations=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --ops) ops=$2; shift 2 ;;
    -*) echo "usage: $0 [--iterations N] [--workload destroy|reset|mixed] [--ops N] BUILD [BUILD...]" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: $0 [--iterations N] [--workload W] [--ops N] BUILD [BUILD...]" >&2; exit 2; }
for b in "$@"; do
  [ -x "$b/bench/mm_bench_threads" ] || { echo "$0: no $b/bench/mm_bench_threads (build it first)" >&2; exit 2; }
done
other=mimalloc
[ "$workload" = reset ] && other=talloc

cells=() # "label binary allocator threads"
for b in "$@"; do
  for k in 1 2 4; do cells+=("$b|$b/bench/mm_bench_threads|mm|$k"); done
done
first="$1/bench/mm_bench_threads"
if "$first" --only "$workload:$other-1t" --ops 1 >/dev/null 2>&1; then
  for k in 1 2; do cells+=("$other|$first|$other|$k"); done
fi
for k in 1 2; do cells+=("cpu-only|$first|cpu-only|$k"); done

# one line per cell and iteration: label threads wall_ms cpu_ms
run() {
  local i c label bin alloc k out
  for ((i = 1; i <= iterations; i++)); do
    for c in "${cells[@]}"; do
      IFS='|' read -r label bin alloc k <<<"$c"
      out=$("$bin" --only "$workload:$alloc-${k}t" --ops "$ops" 2>/dev/null | tail -1)
      case $out in
        *status=ok*) ;;
        *) echo "$0: $bin --only $workload:$alloc-${k}t failed: $out" >&2; exit 1 ;;
      esac
      echo "$i $label $k $(sed -n 's/.* ms=\([0-9.]*\) cpu_ms=\([0-9.]*\).*/\1 \2/p' <<<"$out")"
    done
    echo "iteration $i of $iterations done" >&2
  done
}

echo "$workload: $ops forests per thread, $iterations iterations; medians over iterations of"
echo "2T/1T = 2 x t(1T) / t(2T) (ideal 2.00 on 2 cores), 4T/1T likewise, and CPU per forest"
echo "kT vs 1T = CPU(kT) / (k x CPU(1T)) (ideal 1.00)"
echo
run | awk '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { w[$1, $2, $3] = $4; c[$1, $2, $3] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++nl] = $2 } it[$1] = 1 }
  END {
    printf "%-40s %9s %7s %7s %9s %9s\n", "cells", "1T ms", "2T/1T", "4T/1T", "cpu 2T", "cpu 4T"
    for (l = 1; l <= nl; l++) {
      L = order[l]; n = 0; n4 = 0
      for (i in it) {
        if (!((i, L, 1) in w) || !((i, L, 2) in w)) continue
        n++; one[n] = w[i, L, 1]; r2[n] = 2 * w[i, L, 1] / w[i, L, 2]; p2[n] = c[i, L, 2] / (2 * c[i, L, 1])
        if ((i, L, 4) in w) { n4++; r4[n4] = 4 * w[i, L, 1] / w[i, L, 4]; p4[n4] = c[i, L, 4] / (4 * c[i, L, 1]) }
      }
      if (n == 0) continue
      if (n4) printf "%-40s %9.1f %7.2f %7.2f %9.2f %9.2f\n", L, median(one, n), median(r2, n), median(r4, n4), median(p2, n), median(p4, n4)
      else printf "%-40s %9.1f %7.2f %7s %9.2f %9s\n", L, median(one, n), median(r2, n), "", median(p2, n), ""
    }
  }'
