#!/usr/bin/env bash
# The main job: set up (a C compiler, CMake, Python 3 with matplotlib), build
# the forest demo (optimised), run it, then plot its per-forest memory.
# Extra arguments go to the demo (try --help). The report, its JSON form, the
# per-forest epoch log and the plots go to build/demo/ (MM_DEMO_OUT=DIR for
# another folder); the plot paths are printed at the end. Without a Python 3
# that has matplotlib the demo still runs and says the plots were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh demo
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DMM_BUILD_TESTS=OFF \
  -DMM_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target mimicmem-forest-demo >/dev/null
demo=build/release/examples/mimicmem-forest-demo

out=${MM_DEMO_OUT:-build/demo}
json=$out/report.json
epochs=$out/forests.csv
# --json and --epochs given on the command line win (the demo takes the last
# of a repeated option); the plots read whatever files the demo wrote.
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[$i]} in
    --help | -h) exec "$demo" "$@" ;;
    --json) json=${args[$((i + 1))]:-$json} ;;
    --json=*) json=${args[$i]#--json=} ;;
    --epochs) epochs=${args[$((i + 1))]:-$epochs} ;;
    --epochs=*) epochs=${args[$i]#--epochs=} ;;
  esac
done
mkdir -p "$out"
# The text report goes to the terminal and to $out/report.txt; the progress
# bar (stderr) shows as long as stderr is a terminal.
"$demo" --json "$out/report.json" --epochs "$out/forests.csv" "$@" | tee "$out/report.txt"

echo
echo "report: $out/report.txt, $json (JSON); per-forest log: $epochs"
plot_err=$(mktemp)
trap 'rm -f "$plot_err"' EXIT
if plots=$(tools/report/mimicmem-report plot --epochs "$epochs" --report "$json" \
             --out "$out" 2>"$plot_err"); then
  echo "plots:"
  while IFS= read -r png; do echo "  $png"; done <<<"$plots"
elif grep -q -e matplotlib -e "no Python" "$plot_err"; then
  echo "plots skipped: no Python 3 with matplotlib here (Debian/Ubuntu: apt-get install" \
       "python3-matplotlib; or set MIMICMEM_PYTHON to a python3 that has it)"
else
  cat "$plot_err" >&2
  echo "demo: plotting failed (tools/report/mimicmem-report plot)" >&2
  exit 1
fi
