/* workloads: the churn and forest plans, and the forest's run through
 * mimicmem (see workloads.h). */
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

static uint32_t forest_draw_class(bench_rng *r)
{
    double u = bench_rng_unit(r), acc = 0.0;
    for (uint32_t c = 0; c + 1 < FOREST_NSIZES; c++) {
        acc += forest_sizes[c].weight;
        if (u < acc) {
            return c;
        }
    }
    return (uint32_t)(FOREST_NSIZES - 1);
}

static size_t forest_draw_count(bench_rng *r)
{
    double u = 1.0 - bench_rng_unit(r); /* (0, 1] */
    double x = (double)FOREST_MIN_BLOCKS * pow(u, -1.0 / FOREST_PARETO_ALPHA);
    return x >= (double)FOREST_MAX_BLOCKS ? FOREST_MAX_BLOCKS : (size_t)x;
}

int forest_plan_make(forest_plan *p, size_t nforests, uint64_t seed)
{
    memset(p, 0, sizeof *p);
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
    p->events = malloc(cap * sizeof *p->events);
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
            p->events[p->nevents++] = forest_draw_class(&r);
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

int forest_run_mm(const forest_plan *p)
{
    mm_context *ctx = mm_context_create("forest", NULL);
    if (ctx == NULL) {
        return -1;
    }
    for (size_t f = 0; f < p->nforests; f++) {
        size_t cap = FOREST_WS_START, n = 0;
        void **ws = mm_context_malloc(ctx, cap * sizeof *ws, MM_CAT_UTILITY);
        for (size_t e = p->first[f]; e < p->first[f + 1]; e++) {
            uint32_t ev = p->events[e];
            if (ev & FOREST_FREE_BIT) {
                mm_free(ws[ev & ~FOREST_FREE_BIT]);
                ws[ev & ~FOREST_FREE_BIT] = NULL;
                continue;
            }
            if (n == cap) {
                cap *= 2;
                ws = mm_realloc(ws, cap * sizeof *ws);
            }
            void *q = mm_context_malloc(ctx, forest_sizes[ev].bytes, forest_sizes[ev].category);
            bench_write_pages(q, forest_sizes[ev].bytes, (unsigned char)e);
            ws[n++] = q;
        }
        mm_context_reset(ctx);
    }
    mm_context_destroy(ctx);
    return 0;
}
