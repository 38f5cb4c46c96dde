/* workloads: the synthetic workloads shared by the benchmark programs, and
 * their runs through libc malloc and mimicmem (mimalloc's and talloc's are in
 * workloads_foreign.h). Each is a plan drawn once from a seed, before timing,
 * and replayed identically by every allocator or configuration.
 * - Churn (mm_bench_core, mm_bench_diag): fill to nlive blocks of
 *   log-uniform sizes, then npairs times free a random live block and
 *   allocate a new one in its slot.
 * - Forest (mm_bench_forest, mm_bench_diag): forests of 100..5000 blocks
 *   (Pareto), 104 B 40%, 184 B 25%, 256 B 25%, 4 KiB 9.5%, 64 KiB 0.5%, an
 *   explicit free after 30% of the allocations, and a workspace array grown
 *   by doubling realloc. mm_bench_threads draws its mixed forests the same
 *   way from its own size table (forest_plan_make_sized). */
#ifndef MM_BENCH_WORKLOADS_H
#define MM_BENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#include "bench_util.h"
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
    const forest_size *sizes; /* the size table the events index */
    size_t nsizes;         /* entries of sizes */
    size_t nforests;       /* forests per run */
    size_t *first;         /* nforests + 1 offsets into events */
    uint32_t *events;      /* size-class index (allocate) or FREE_BIT | block number (free) */
    size_t nevents;        /* entries of events */
    uint64_t nallocs;      /* allocations per run, workspace growth excluded */
    uint64_t nfrees;       /* explicit frees per run */
    uint64_t nws_grows;    /* workspace reallocs per run */
    size_t max_blocks;     /* largest forest */
} forest_plan;

/* Draws the plan of nforests forests from seed, sizes drawn from
 * forest_sizes; 0, or -1 out of memory (then forest_plan_free still frees
 * what was made). */
int forest_plan_make(forest_plan *p, size_t nforests, uint64_t seed);
/* The same with sizes drawn from another table of nsizes entries (weights
 * summing to 1), which must outlive the plan. */
int forest_plan_make_sized(forest_plan *p, size_t nforests, uint64_t seed,
                           const forest_size *sizes, size_t nsizes);
void forest_plan_free(forest_plan *p);

/* Runs of the plan. Each forest keeps its blocks in a workspace array grown
 * by doubling realloc; an explicit free clears its entry; every block's pages
 * are written; the end of a forest releases the rest the allocator's way.
 * Each returns 0, or -1 when an allocation or a context fails. */

/* Through libc: every block freed one by one at the end of a forest. */
int forest_run_malloc(const forest_plan *p);
/* Through mimicmem: one context, a reset per forest. */
int forest_run_mm(const forest_plan *p);
/* Through mimicmem: a context created and destroyed per forest. */
int forest_run_mm_destroy(const forest_plan *p);

/* Forest f of the plan through one allocator, written once for every
 * allocator: the workspace and each block from alloc in scope (the forest's
 * heap or context; NULL for malloc), the workspace grown by grow, the
 * explicit frees by release. *ws_out and *n_out get the workspace and its
 * entries, for an allocator without scopes to free. 0, or -1 when the
 * workspace cannot be made or grown. Inline, with the three calls constants
 * at every use, so that each copy makes direct calls only. */
static BENCH_ALWAYS_INLINE int forest_one(const forest_plan *p, size_t f, void *scope,
                                          void *(*alloc)(void *scope, size_t bytes,
                                                         mm_category cat),
                                          void *(*grow)(void *scope, void *q, size_t bytes),
                                          void (*release)(void *q), void ***ws_out,
                                          size_t *n_out)
{
    const forest_size *sizes = p->sizes;
    size_t cap = FOREST_WS_START, n = 0;
    void **ws = alloc(scope, cap * sizeof(void *), MM_CAT_UTILITY);
    if (ws == NULL) {
        return -1;
    }
    for (size_t e = p->first[f]; e < p->first[f + 1]; e++) {
        uint32_t ev = p->events[e];
        if (ev & FOREST_FREE_BIT) {
            release(ws[ev & ~FOREST_FREE_BIT]);
            ws[ev & ~FOREST_FREE_BIT] = NULL;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            void **grown = grow(scope, ws, cap * sizeof *ws);
            if (grown == NULL) {
                return -1;
            }
            ws = grown;
        }
        uint32_t bytes = sizes[ev].bytes; /* a local: not read again after the call */
        void *q = alloc(scope, bytes, sizes[ev].category);
        bench_write_pages(q, bytes, (unsigned char)e);
        ws[n++] = q;
    }
    *ws_out = ws;
    *n_out = n;
    return 0;
}

/* mimicmem's calls for forest_one, scope a context: plain, or the _at calls
 * that take a call site (mm_bench_diag's "sites" configurations). */
static inline void *forest_mm_alloc(void *ctx, size_t bytes, mm_category cat)
{
    return mm_context_malloc(ctx, bytes, cat);
}

static inline void *forest_mm_alloc_at(void *ctx, size_t bytes, mm_category cat)
{
    return mm_context_malloc_at(ctx, bytes, cat, __FILE__, __LINE__);
}

static inline void *forest_mm_grow(void *ctx, void *q, size_t bytes)
{
    (void)ctx;
    return mm_realloc(q, bytes);
}

static inline void *forest_mm_grow_at(void *ctx, void *q, size_t bytes)
{
    (void)ctx;
    return mm_realloc_at(q, bytes, __FILE__, __LINE__);
}

/* Forest f of the plan into ctx through the plain calls or, with use_at (a
 * constant at every call), the _at calls; the caller resets or destroys ctx. */
static inline int forest_mm_one(const forest_plan *p, size_t f, mm_context *ctx, int use_at)
{
    void **ws;
    size_t n;
    return use_at ? forest_one(p, f, ctx, forest_mm_alloc_at, forest_mm_grow_at, mm_free, &ws, &n)
                  : forest_one(p, f, ctx, forest_mm_alloc, forest_mm_grow, mm_free, &ws, &n);
}

/* A control with no allocation at all: passes rounds of integer mixing over
 * the plan's events, to show how far the machine's CPUs scale. Returns 0. */
int forest_spin(const forest_plan *p, int passes);

#endif /* MM_BENCH_WORKLOADS_H */
