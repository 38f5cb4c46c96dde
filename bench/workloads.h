/* workloads: the synthetic workloads shared by the benchmark programs. Each
 * is a plan drawn once from a seed, before timing, and replayed identically
 * by every allocator or configuration.
 * - Churn (mm_bench_core, mm_bench_diag): fill to nlive blocks of
 *   log-uniform sizes, then npairs times free a random live block and
 *   allocate a new one in its slot.
 * - Forest (mm_bench_forest, mm_bench_diag): forests of 100..5000 blocks
 *   (Pareto), 104 B 40%, 184 B 25%, 256 B 25%, 4 KiB 9.5%, 64 KiB 0.5%, an
 *   explicit free after 30% of the allocations, and a workspace array grown
 *   by doubling realloc. */
#ifndef MM_BENCH_WORKLOADS_H
#define MM_BENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "mimicmem.h"

/* ------------------------------------------------------------------------
 * Churn
 * ---------------------------------------------------------------------- */

#define CHURN_MIN_SIZE 16   /* sizes log-uniform in [16, 4096] ... */
#define CHURN_MAX_SIZE 4096 /* ... unless a fixed size is asked for */

typedef struct {
    size_t nlive;        /* live blocks held */
    size_t npairs;       /* free+allocate pairs after the fill */
    uint32_t *requests;  /* nlive + npairs requests: size | category << 16 */
    uint32_t *victims;   /* npairs slot numbers, each < nlive */
    void **live;         /* nlive slots */
} churn_plan;

/* Draws a churn of ops calls around nlive live blocks from seed: sizes
 * log-uniform in [CHURN_MIN_SIZE, CHURN_MAX_SIZE], or all fixed_size bytes
 * when it is not 0; categories Galaxies..Utility. 0, or -1 out of memory
 * (then churn_plan_free still frees what was made). */
int churn_plan_make(churn_plan *p, size_t nlive, uint64_t ops, size_t fixed_size, uint64_t seed);
void churn_plan_free(churn_plan *p);

/* ------------------------------------------------------------------------
 * Forest
 * ---------------------------------------------------------------------- */

#define FOREST_MIN_BLOCKS 100       /* blocks per forest: Pareto from here ... */
#define FOREST_MAX_BLOCKS 5000      /* ... capped here */
#define FOREST_PARETO_ALPHA 1.2     /* tail index: ~1% of forests hit the cap */
#define FOREST_FREE_PROB 0.3        /* chance, after each allocation, of one explicit free */
#define FOREST_WS_START 64          /* workspace entries at the start of a forest */
#define FOREST_FREE_BIT 0x80000000u /* event: free of block (event & ~FREE_BIT) */

/* Block sizes of the forest workload and how often each is drawn. */
typedef struct {
    uint32_t bytes;        /* block size */
    double weight;         /* probability */
    mm_category category;  /* category used by mimicmem */
} forest_size;

extern const forest_size forest_sizes[];
extern const size_t forest_nsizes;

typedef struct {
    size_t nforests;       /* forests per run */
    size_t *first;         /* nforests + 1 offsets into events */
    uint32_t *events;      /* size-class index (allocate) or FREE_BIT | block number (free) */
    size_t nevents;        /* entries of events */
    uint64_t nallocs;      /* allocations per run, workspace growth excluded */
    uint64_t nfrees;       /* explicit frees per run */
    uint64_t nws_grows;    /* workspace reallocs per run */
    size_t max_blocks;     /* largest forest */
} forest_plan;

/* Draws the plan of nforests forests from seed; 0, or -1 out of memory. */
int forest_plan_make(forest_plan *p, size_t nforests, uint64_t seed);
void forest_plan_free(forest_plan *p);

/* One run of the plan through mimicmem: one context, a reset per forest,
 * every block's pages written. 0, or -1 when the context cannot be made. */
int forest_run_mm(const forest_plan *p);

#endif /* MM_BENCH_WORKLOADS_H */
