#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# into build/fuzz/, replays every saved regression input once, then fuzzes
# each target for SECONDS (default 60) from a scratch copy of its seed corpus.
# Exits 1 on any crash, printing the input that caused it. Leaks are checked
# when the regression inputs run, not per fuzzing input: the library keeps
# caches across inputs by design, and a leak scan after each one costs most
# of the time.
# Usage: tests/fuzz/run.sh [SECONDS]     (SECONDS 0: build and replay only)
# Environment: CC (default clang), FUZZ_TARGETS (default "api trace report roundtrip").
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
cc=${CC:-clang}
targets=${FUZZ_TARGETS:-api trace report roundtrip}
out=build/fuzz
mkdir -p "$out"

flags=(-std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer -Wall -Wextra -Wpedantic -Werror
       -Iinclude -Ibench -Itools/replay -Itests/support -Itests/fuzz)
mapfile -t lib < <(awk '/^[a-z]+ +src\// { print $2 }' src/LAYERS)
lib+=(tests/support/mm_json.c)

for t in $targets; do
  extra=()
  # the replay loops and the legacy table: fuzz_trace replays what loads, and
  # fuzz_roundtrip checks its traces with tools/replay's model
  replay=(bench/trace.c bench/replay.c bench/legacy_table.c)
  [ "$t" = trace ] && extra=("${replay[@]}" -lz)
  [ "$t" = roundtrip ] && extra=("${replay[@]}" tools/replay/replay_core.c bench/bench_util.c -lz -lm)
  echo "building $out/fuzz_$t"
  "$cc" "${flags[@]}" "tests/fuzz/fuzz_$t.c" "${lib[@]}" "${extra[@]}" -lpthread -o "$out/fuzz_$t"
done

status=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Regression inputs: each file once through its target (one run per file, so
# every failing file is named).
for t in $targets; do
  dir=tests/fuzz/regressions/$t
  [ -d "$dir" ] || continue
  n=0
  bad=0
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    if ! "$out/fuzz_$t" "$f" >"$out/regress.log" 2>&1; then
      grep -a "fuzz check failed\|ERROR\|SUMMARY" "$out/regress.log" | head -5
      echo "fuzz_$t: regression input $f fails; replay: $out/fuzz_$t $f"
      bad=1
    fi
  done
  [ "$bad" = 0 ] && [ "$n" -gt 0 ] && echo "fuzz_$t: $n regression inputs pass"
  [ "$bad" = 0 ] || status=1
done

[ "$seconds" -gt 0 ] || exit $status

declare -A max_len=([api]=4096 [trace]=8192 [report]=2048 [roundtrip]=4096)
for t in $targets; do
  work=$out/work_$t
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null || true
  echo "fuzzing fuzz_$t for $seconds s"
  set +e
  "$out/fuzz_$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
    -rss_limit_mb=2048 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" >"$work/log" 2>&1
  rc=$?
  set -e
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$work/log" \
    | sed "s/^/  fuzz_$t /" || true
  crash=$(ls "$work"/artifacts/* 2>/dev/null | head -1 || true)
  if [ "$rc" -ne 0 ] || [ -n "$crash" ]; then
    tail -60 "$work/log"
    echo "fuzz_$t: FAILED (exit $rc); crash input: ${crash:-none saved}; log: $work/log"
    echo "  reproduce: $out/fuzz_$t ${crash:-<input>}"
    status=1
  fi
done
exit $status
