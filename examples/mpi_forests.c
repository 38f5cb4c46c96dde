/* mpi_forests.c: mimicmem in an MPI job, as Mimic runs. Each rank processes
 * its own share of synthetic forests, one at a time in a "Forest" context
 * reset between forests and labelled with the forest's number; a memory
 * error on any rank prints its message and stops the whole job with
 * MPI_Abort; before MPI_Finalize, mm_mpi_report writes one merged report on
 * rank 0 (min / mean / max over the ranks, the rank and forest of the peak).
 *   mpiexec -n 4 ./mm_example_mpi_forests [FORESTS_PER_RANK] [json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mimicmem_mpi.h"

struct halo {        /* a toy merger-tree halo */
    float pos[3];    /* comoving position, Mpc/h */
    float mvir;      /* virial mass, 1e10 Msun/h */
    int descendant;  /* index of the descendant halo, -1 for a root */
};

/* Any mimicmem error (out of memory, a limit, a bad pointer) ends the job:
 * the other ranks would wait for this one for ever. */
static void abort_job(const mm_error *err, void *user) {
    (void)user;
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "rank %d: %s\n", rank, err->message);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3); /* the job's exit status: 3, "mimicmem error" */
}

/* A deterministic forest size from rank and index: most small, a few large. */
static size_t forest_halos(int rank, unsigned f) {
    unsigned x = (unsigned)rank * 2654435761u ^ (f + 1u) * 40503u;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return 50 + (x % 100 == 0 ? x % 20000 : x % 500);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    mm_set_error_handler(abort_job, NULL);
    unsigned nforests = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
    int json = argc > 2 && strcmp(argv[2], "json") == 0;

    /* modules register their categories by name, in their own order */
    mm_category cooling = mm_category_register("Cooling", "Physics Modules");
    double *age = mm_malloc(1000 * sizeof *age, MM_CAT_UTILITY); /* run-wide table */
    mm_context *forest = mm_context_create("Forest", NULL);
    for (unsigned f = (unsigned)rank; f < nforests * (unsigned)nranks; f += (unsigned)nranks) {
        char label[48];
        snprintf(label, sizeof label, "Forest %u", f);
        mm_context_set_label(forest, label);
        size_t n = forest_halos(rank, f);
        struct halo *halos = mm_context_calloc(forest, n, sizeof *halos, MM_CAT_HALOS);
        double *rates = mm_context_calloc(forest, n, sizeof *rates, cooling);
        for (size_t i = 0; i < n; i++) {
            halos[i].mvir = (float)(i + 1);
            halos[i].descendant = i + 1 < n ? (int)(i + 1) : -1;
            rates[i] = 1e-3 * halos[i].mvir;
        }
        mm_context_reset(forest); /* the forest is done: every block of it goes */
    }

    int rc = mm_mpi_report(MPI_COMM_WORLD, 0, stdout, json ? MM_REPORT_JSON : MM_REPORT_TEXT);
    if (rc != MPI_SUCCESS) fprintf(stderr, "rank %d: mm_mpi_report failed (%d)\n", rank, rc);
    mm_context_destroy(forest);
    mm_free(age);
    MPI_Finalize();
    return rc == MPI_SUCCESS ? 0 : 1;
}
