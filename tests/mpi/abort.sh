#!/usr/bin/env bash
# The MPI example's error handler ends the whole job with MPI_Abort(..., 3).
#   abort.sh MPIEXEC ARGS...   (the whole launcher command line)
# Passes when the launcher exits with status 3 (Open MPI and MPICH return
# the abort's error code) and the output shows why: the launcher's "MPI_ABORT
# was invoked" line or the handler's own mimicmem message. Either line alone
# can be lost when the launcher kills the job before forwarding a rank's
# stderr (seen on a loaded 2-core machine), so one of them is enough; the
# status cannot come from anything but the abort.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out" 2>&1
status=$?
if [ "$status" -ne 3 ]; then
  cat "$out"
  echo "FAIL: the job should end with the abort's status 3, not $status"
  exit 1
fi
if ! grep -qE "MPI_ABORT was invoked on rank [01]|rank [01]: mimicmem: memory limit exceeded" "$out"; then
  cat "$out"
  echo "FAIL: neither the launcher's abort line nor the handler's message was printed"
  exit 1
fi
echo "ok: the job ended with status 3 after the handler called MPI_Abort"
