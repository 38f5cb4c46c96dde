/* mimicmem_mpi.h: the MPI reduction of mimicmem's report (opt-in). The one
 * file of mimicmem that includes <mpi.h>; its functions live in the library
 * mimicmem_mpi (CMake target mimicmem::mimicmem_mpi, pkg-config mimicmem-mpi),
 * built only where MPI was found. docs/mpi.md has the merge rules. */
#ifndef MIMICMEM_MPI_H
#define MIMICMEM_MPI_H

#include <mpi.h>
#include <stdio.h>

#include "mimicmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * The report of a parallel job
 * Rule: collective. Every rank of comm calls it, from one thread at a time
 * (the thread that may make MPI calls), with the same root and format.
 * ====================================================================== */

/* The number of largest forests (epochs) over all ranks the merged report
 * lists. */
#define MM_MPI_TOP_EPOCHS 10

/* Gathers each rank's process figures (the same snapshot mm_report(out,
 * NULL, fmt) is written from) to rank root, which merges them and writes one
 * report to out: format MM_REPORT_TEXT or MM_REPORT_JSON ("schema_version"
 * 1: per category by name and for the process total, current and peak bytes
 * as min, mean, max and the rank of the max, lowest rank on ties; the peak
 * composition of the rank with the largest peak; every rank's forests, and
 * the MM_MPI_TOP_EPOCHS largest with rank, context and label; figures per
 * rank). Other ranks ignore out (it may be NULL there). Categories are
 * matched by name, so ranks may register them in any order or not at all.
 * Also calls mm_set_rank with this process's rank in comm.
 * Returns 0 on every rank, or the MPI error code of a failed MPI call (the
 * communicator's error handler sees it first: with the default
 * MPI_ERRORS_ARE_FATAL the job stops there). root outside comm is
 * MPI_ERR_ROOT on every rank, with no communication. On root, out == NULL or
 * an unknown format is MM_ERR_BAD_ARGUMENT through the error handler, and the
 * call returns MPI_ERR_ARG after taking part in the collective calls (no rank
 * is left waiting). A memory shortage is MM_ERR_OUT_OF_MEMORY on the rank it
 * hits (the default handler stops the process, and mpiexec the job); if a
 * handler returns, a rank that could not pack its figures returns
 * MPI_ERR_NO_MEM and root writes nothing (MPI_ERR_OTHER), but a root short of
 * memory returns MPI_ERR_NO_MEM at once and the other ranks may wait in the
 * gather: a handler that returns should call MPI_Abort.
 * Cost: one MPI_Gather and one MPI_Gatherv of about 100 bytes per category
 * plus 200 per listed forest per rank (at most 2 GiB in all); the merge on
 * root is proportional to ranks times categories. */
MM_API int mm_mpi_report(MPI_Comm comm, int root, FILE *out, int format);

#ifdef __cplusplus
}
#endif

#endif /* MIMICMEM_MPI_H */
