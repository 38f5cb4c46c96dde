/* workloads: the churn and forest plans, and the forest's runs through libc
 * malloc and mimicmem (see workloads.h). */
#include "workloads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

/* ======================================================================
 * Churn
 * ==================================================================== */

int churn_plan_make(churn_plan *p, size_t nlive, uint64_t ops, size_t fixed_size, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    p->nlive = nlive;
    p->npairs = ops > nlive ? (size_t)((ops - nlive) / 2) : 0;
    p->requests = malloc((nlive + p->npairs) * sizeof *p->requests);
    p->victims = malloc((p->npairs ? p->npairs : 1) * sizeof *p->victims);
    p->live = malloc(nlive * sizeof *p->live);
    if (p->requests == NULL || p->victims == NULL || p->live == NULL) {
        return -1;
    }
    bench_rng r;
    bench_rng_seed(&r, seed);
    for (size_t i = 0; i < nlive + p->npairs; i++) {
        uint32_t size = fixed_size != 0
                            ? (uint32_t)fixed_size
                            : (uint32_t)bench_rng_log_uniform(&r, CHURN_MIN_SIZE, CHURN_MAX_SIZE);
        uint32_t cat = (uint32_t)(MM_CAT_GALAXIES + bench_rng_below(&r, 5)); /* Galaxies..Utility */
        p->requests[i] = size | cat << 16;
    }
    for (size_t k = 0; k < p->npairs; k++) {
        p->victims[k] = (uint32_t)bench_rng_below(&r, nlive);
    }
    return 0;
}

void churn_plan_free(churn_plan *p)
{
    free(p->requests);
    free(p->victims);
    free(p->live);
    memset(p, 0, sizeof *p);
}

/* ======================================================================
 * Forest
 * ==================================================================== */

const forest_size forest_sizes[] = {
    {104, 0.40, MM_CAT_HALOS},
    {184, 0.25, MM_CAT_GALAXIES},
    {256, 0.25, MM_CAT_TREES},
    {4096, 0.095, MM_CAT_IO},
    {65536, 0.005, MM_CAT_UTILITY},
};
#define FOREST_NSIZES (sizeof forest_sizes / sizeof forest_sizes[0])
const size_t forest_nsizes = FOREST_NSIZES;

/* ------------------------------------------------------------------------
 * The forest plan: drawn once, replayed identically by every allocator.
 * ---------------------------------------------------------------------- */

static uint32_t forest_draw_class(bench_rng *r, const forest_size *sizes, size_t nsizes)
{
    double u = bench_rng_unit(r), acc = 0.0;
    for (uint32_t c = 0; c + 1 < nsizes; c++) {
        acc += sizes[c].weight;
        if (u < acc) {
            return c;
        }
    }
    return (uint32_t)(nsizes - 1);
}

static size_t forest_draw_count(bench_rng *r)
{
    double u = 1.0 - bench_rng_unit(r); /* (0, 1] */
    double x = (double)FOREST_MIN_BLOCKS * pow(u, -1.0 / FOREST_PARETO_ALPHA);
    return x >= (double)FOREST_MAX_BLOCKS ? FOREST_MAX_BLOCKS : (size_t)x;
}

int forest_plan_make(forest_plan *p, size_t nforests, uint64_t seed)
{
    return forest_plan_make_sized(p, nforests, seed, forest_sizes, FOREST_NSIZES);
}

int forest_plan_make_sized(forest_plan *p, size_t nforests, uint64_t seed,
                           const forest_size *sizes, size_t nsizes)
{
    memset(p, 0, sizeof *p);
    p->sizes = sizes;
    p->nsizes = nsizes;
    bench_rng r;
    bench_rng_seed(&r, seed);
    size_t *counts = malloc(nforests * sizeof *counts);
    uint32_t *live = malloc(FOREST_MAX_BLOCKS * sizeof *live);
    p->first = malloc((nforests + 1) * sizeof *p->first);
    if (counts == NULL || live == NULL || p->first == NULL) {
        free(counts);
        free(live);
        return -1;
    }
    size_t cap = 0;
    for (size_t f = 0; f < nforests; f++) {
        counts[f] = forest_draw_count(&r);
        cap += 2 * counts[f];
    }
    p->events = malloc((cap ? cap : 1) * sizeof *p->events);
    if (p->events == NULL) {
        free(counts);
        free(live);
        return -1;
    }
    p->nforests = nforests;
    for (size_t f = 0; f < nforests; f++) {
        size_t nlive = 0, ws = FOREST_WS_START;
        p->first[f] = p->nevents;
        if (counts[f] > p->max_blocks) {
            p->max_blocks = counts[f];
        }
        for (size_t b = 0; b < counts[f]; b++) {
            if (b == ws) {
                ws *= 2;
                p->nws_grows++;
            }
            p->events[p->nevents++] = forest_draw_class(&r, sizes, nsizes);
            live[nlive++] = (uint32_t)b;
            p->nallocs++;
            if (bench_rng_unit(&r) < FOREST_FREE_PROB) {
                size_t k = (size_t)bench_rng_below(&r, nlive);
                p->events[p->nevents++] = FOREST_FREE_BIT | live[k];
                live[k] = live[--nlive];
                p->nfrees++;
            }
        }
    }
    p->first[nforests] = p->nevents;
    free(counts);
    free(live);
    return 0;
}

void forest_plan_free(forest_plan *p)
{
    free(p->first);
    free(p->events);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------------
 * The forest's runs
 * ---------------------------------------------------------------------- */

static inline void *forest_malloc_alloc(void *scope, size_t bytes, mm_category cat)
{
    (void)scope;
    (void)cat;
    return malloc(bytes);
}

static inline void *forest_malloc_grow(void *scope, void *q, size_t bytes)
{
    (void)scope;
    return realloc(q, bytes);
}

int forest_run_malloc(const forest_plan *p)
{
    for (size_t f = 0; f < p->nforests; f++) {
        void **ws;
        size_t n;
        if (forest_one(p, f, NULL, forest_malloc_alloc, forest_malloc_grow, free, &ws, &n) != 0) {
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            free(ws[i]);
        }
        free(ws);
    }
    return 0;
}

int forest_run_mm(const forest_plan *p)
{
    mm_context *ctx = mm_context_create("forest", NULL);
    if (ctx == NULL) {
        return -1;
    }
    int st = 0;
    for (size_t f = 0; f < p->nforests && st == 0; f++) {
        st = forest_mm_one(p, f, ctx, 0);
        mm_context_reset(ctx);
    }
    mm_context_destroy(ctx);
    return st;
}

int forest_run_mm_destroy(const forest_plan *p)
{
    for (size_t f = 0; f < p->nforests; f++) {
        mm_context *ctx = mm_context_create("forest", NULL);
        if (ctx == NULL) {
            return -1;
        }
        int st = forest_mm_one(p, f, ctx, 0);
        mm_context_destroy(ctx);
        if (st != 0) {
            return st;
        }
    }
    return 0;
}

int forest_spin(const forest_plan *p, int passes)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int pass = 0; pass < passes; pass++) {
        for (size_t e = 0; e < p->nevents; e++) {
            h ^= p->events[e] + (uint64_t)pass;
            h *= 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        }
    }
    volatile uint64_t sink = h;
    (void)sink;
    return 0;
}
