#!/usr/bin/env bash
# The C merge (mm_mpi_report) and the Python merge (mimicmem-report merge) of
# the same ranks agree: runs the MPI test program, which also writes each
# rank's own JSON report and the merged one, merges the rank reports with
# mimicmem-report and compares the two field by field (compare_merged.py).
# Usage: agree.sh WORKDIR PYTHON MIMICMEM_REPORT MPIEXEC-COMMAND... PROGRAM
set -euo pipefail
work=$1 py=$2 tool=$3
shift 3
here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
rm -rf "$work"
mkdir -p "$work"
"$@" "$work"
ranks=("$work"/rank-*.json)
echo "agree: ${#ranks[@]} rank reports; merging them with $tool"
"$tool" merge --format json --out "$work/python.json" "${ranks[@]}"
export PYTHONDONTWRITEBYTECODE=1
"$py" "$here/compare_merged.py" "$work/merged.json" "$work/python.json"
# The text forms too, line for line (both round byte figures to a tenth of a
# unit; no figure of this plan falls on a half tenth, where C rounds up and
# Python to even).
"$tool" merge --format text --out "$work/python.txt" "${ranks[@]}"
diff -u "$work/python.txt" "$work/merged.txt"
echo "agree: the text reports are identical"
