/* bench_threads.c (mm_bench_threads): per-forest contexts on 1, 2 and 4
 * threads of one process, each thread with its own contexts or heaps:
 * throughput kT/1T and CPU time per forest beside raw malloc, mimalloc heaps
 * and talloc. Three workloads (bench/README.md, "Threads"): a context
 * created and destroyed per forest, one context per thread reset per
 * forest, and mixed forests destroyed per forest. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "mimicmem.h"
#include "workloads.h"
#include "workloads_foreign.h"

#ifdef MM_BENCH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#ifdef MM_BENCH_HAVE_TALLOC
#include <talloc.h>
#endif

#define THR_SMALL_BLOCKS 1500     /* blocks per forest of the destroy and reset workloads */
#define THR_SMALL_BYTES 104       /* their size (a galaxy copy) */
#define THR_SMALL_FORESTS 10000   /* forests per thread */
#define THR_MIXED_FORESTS 8000    /* forests per thread of the mixed workload */
#define THR_QUICK_DIV 20          /* --quick divides the counts by this */
#define THR_SPIN_PASSES 24        /* the CPU-only control's passes over the events */

static const int thr_counts[] = {1, 2, 4};
#define THR_NCOUNTS 3

static const char thr_usage[] =
    "workloads: destroy reset mixed; allocators malloc mm mimalloc talloc cpu-only,\n"
    "           each with -1t -2t -4t (reset: mm and talloc only)\n"
    "e.g. --only destroy:mm-2t    (--ops N sets the forests per thread)\n";

/* ------------------------------------------------------------------------
 * The mixed plan: mm_bench_forest's forests (workloads.h) with fewer 64 KiB
 * blocks (0.2%, as the table), drawn once, replayed by every thread
 * of every allocator.
 * ---------------------------------------------------------------------- */

static const forest_size thr_sizes[] = {
    {104, 0.40, MM_CAT_HALOS},    {184, 0.25, MM_CAT_GALAXIES}, {256, 0.25, MM_CAT_TREES},
    {4096, 0.098, MM_CAT_IO},     {65536, 0.002, MM_CAT_UTILITY},
};
#define THR_NSIZES (sizeof thr_sizes / sizeof thr_sizes[0])

/* What one thread runs: the whole workload (every thread the same). */
typedef struct {
    size_t small_forests;  /* forests of the destroy and reset workloads */
    const forest_plan *mixed; /* the mixed plan */
} thr_work;

/* ------------------------------------------------------------------------
 * Destroy: 1,500 blocks of 104 B per forest, a context (heap) made and
 * destroyed per forest. Raw malloc frees each block.
 * ---------------------------------------------------------------------- */

static BENCH_NOINLINE int destroy_malloc(const thr_work *w)
{
    void **ws = malloc(THR_SMALL_BLOCKS * sizeof *ws);
    if (ws == NULL) {
        return -1;
    }
    for (size_t f = 0; f < w->small_forests; f++) {
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            ws[i] = malloc(THR_SMALL_BYTES);
            bench_touch(ws[i], (unsigned char)i);
        }
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            free(ws[i]);
        }
    }
    free(ws);
    return 0;
}

static BENCH_NOINLINE int destroy_mm(const thr_work *w)
{
    for (size_t f = 0; f < w->small_forests; f++) {
        mm_context *ctx = mm_context_create("forest", NULL);
        if (ctx == NULL) {
            return -1;
        }
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            bench_touch(mm_context_malloc(ctx, THR_SMALL_BYTES, MM_CAT_HALOS), (unsigned char)i);
        }
        mm_context_destroy(ctx);
    }
    return 0;
}

#ifdef MM_BENCH_HAVE_MIMALLOC
static BENCH_NOINLINE int destroy_mimalloc(const thr_work *w)
{
    for (size_t f = 0; f < w->small_forests; f++) {
        mi_heap_t *heap = mi_heap_new();
        if (heap == NULL) {
            return -1;
        }
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            bench_touch(mi_heap_malloc(heap, THR_SMALL_BYTES), (unsigned char)i);
        }
        mi_heap_destroy(heap);
    }
    return 0;
}
#endif

#ifdef MM_BENCH_HAVE_TALLOC
static BENCH_NOINLINE int destroy_talloc(const thr_work *w)
{
    for (size_t f = 0; f < w->small_forests; f++) {
        void *ctx = talloc_new(NULL);
        if (ctx == NULL) {
            return -1;
        }
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            bench_touch(talloc_size(ctx, THR_SMALL_BYTES), (unsigned char)i);
        }
        talloc_free(ctx);
    }
    return 0;
}
#endif

/* ------------------------------------------------------------------------
 * Reset: the same blocks, one context per thread emptied per forest
 * (talloc: talloc_free_children). mimalloc and malloc have no such call.
 * ---------------------------------------------------------------------- */

static BENCH_NOINLINE int reset_mm(const thr_work *w)
{
    mm_context *ctx = mm_context_create("forest", NULL);
    if (ctx == NULL) {
        return -1;
    }
    for (size_t f = 0; f < w->small_forests; f++) {
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            bench_touch(mm_context_malloc(ctx, THR_SMALL_BYTES, MM_CAT_HALOS), (unsigned char)i);
        }
        mm_context_reset(ctx);
    }
    mm_context_destroy(ctx);
    return 0;
}

#ifdef MM_BENCH_HAVE_TALLOC
static BENCH_NOINLINE int reset_talloc(const thr_work *w)
{
    void *ctx = talloc_new(NULL);
    if (ctx == NULL) {
        return -1;
    }
    for (size_t f = 0; f < w->small_forests; f++) {
        for (size_t i = 0; i < THR_SMALL_BLOCKS; i++) {
            bench_touch(talloc_size(ctx, THR_SMALL_BYTES), (unsigned char)i);
        }
        talloc_free_children(ctx);
    }
    talloc_free(ctx);
    return 0;
}
#endif

/* ------------------------------------------------------------------------
 * Mixed: the plan's forests, a workspace grown by doubling realloc, the
 * explicit frees, every page of each block written, destroy per forest
 * (workloads.h; each in a function of its own for callgrind and perf).
 * ---------------------------------------------------------------------- */

static BENCH_NOINLINE int mixed_malloc(const thr_work *w)
{
    return forest_run_malloc(w->mixed);
}

static BENCH_NOINLINE int mixed_mm(const thr_work *w)
{
    return forest_run_mm_destroy(w->mixed);
}

#ifdef MM_BENCH_HAVE_MIMALLOC
static BENCH_NOINLINE int mixed_mimalloc(const thr_work *w)
{
    return forest_run_mimalloc(w->mixed);
}
#endif

#ifdef MM_BENCH_HAVE_TALLOC
static BENCH_NOINLINE int mixed_talloc(const thr_work *w)
{
    return forest_run_talloc(w->mixed);
}
#endif

/* A control with no allocation: integer mixing over the mixed plan's
 * events, to show how far this machine's CPUs scale right now. */
static BENCH_NOINLINE int spin_control(const thr_work *w)
{
    return forest_spin(w->mixed, THR_SPIN_PASSES);
}

/* ------------------------------------------------------------------------
 * Running k threads (bench_run_threads): timed from before the first
 * pthread_create to after the last join; CPU time is the process's (user +
 * system) over the same span, so it counts every thread.
 * ---------------------------------------------------------------------- */

typedef int (*thr_fn)(const thr_work *w);

typedef struct {
    const char *name; /* allocator label */
    thr_fn fn[3];     /* per workload (destroy, reset, mixed); NULL: not applicable */
} thr_allocator;

static const thr_allocator thr_allocators[] = {
    {"malloc", {destroy_malloc, NULL, mixed_malloc}},
    {"mm", {destroy_mm, reset_mm, mixed_mm}},
#ifdef MM_BENCH_HAVE_MIMALLOC
    {"mimalloc", {destroy_mimalloc, NULL, mixed_mimalloc}},
#endif
#ifdef MM_BENCH_HAVE_TALLOC
    {"talloc", {destroy_talloc, reset_talloc, mixed_talloc}},
#endif
    {"cpu-only", {spin_control, spin_control, spin_control}},
};
#define THR_NALLOCATORS (sizeof thr_allocators / sizeof thr_allocators[0])

static const char *const thr_workloads[3] = {"destroy", "reset", "mixed"};

typedef struct {
    thr_fn fn;            /* what each thread runs */
    const thr_work *work; /* its argument */
} thr_job;

static int thr_main(const void *arg)
{
    const thr_job *j = arg;
    return j->fn(j->work);
}

/* Runs fn on k new threads at once; wall and CPU seconds; BENCH_OK or
 * BENCH_ERROR. */
static int thr_run(thr_fn fn, const thr_work *w, int k, double *wall, double *cpu)
{
    const thr_job job = {fn, w};
    return bench_run_threads(thr_main, &job, k, wall, cpu);
}

/* ------------------------------------------------------------------------
 * Rounds and the table
 * ---------------------------------------------------------------------- */

typedef struct {
    int status;                  /* BENCH_OK or the first failure */
    int n;                       /* rounds completed */
    double wall[64], cpu[64];    /* per round */
    double wall_med, wall_best;  /* median and fastest wall time */
    double cpu_med;              /* median CPU time */
} thr_cell;

static double thr_median_of(const double *v, int n)
{
    double tmp[64];
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    return bench_median(tmp, (size_t)n);
}

static void thr_ratio(char *buf, size_t len, const thr_cell *one, const thr_cell *k, int nthreads)
{
    if (one->status != BENCH_OK || k->status != BENCH_OK) {
        snprintf(buf, len, "-");
        return;
    }
    snprintf(buf, len, "%.2f (%.2f)", nthreads * one->wall_med / k->wall_med,
             nthreads * one->wall_best / k->wall_best);
}

/* One workload: every applicable allocator on 1, 2 and 4 threads, the
 * variants alternated within each round. Returns 0, or -1 on a failure. */
static int thr_workload(int wl, const thr_work *w, int rounds, size_t forests, double *mm_ratio2,
                        double *mm_ratio4)
{
    static thr_cell cells[THR_NALLOCATORS][THR_NCOUNTS];
    memset(cells, 0, sizeof cells);
    fprintf(stderr, "  %s: %d rounds...\n", thr_workloads[wl], rounds);
    double started = bench_now();
    for (int r = 0; r < rounds; r++) {
        for (size_t a = 0; a < THR_NALLOCATORS; a++) {
            for (int c = 0; c < THR_NCOUNTS; c++) {
                thr_cell *cell = &cells[a][c];
                if (thr_allocators[a].fn[wl] == NULL || cell->status != BENCH_OK) {
                    continue;
                }
                int st = thr_run(thr_allocators[a].fn[wl], w, thr_counts[c], &cell->wall[cell->n],
                                 &cell->cpu[cell->n]);
                if (st != BENCH_OK) {
                    cell->status = st;
                    continue;
                }
                cell->n++;
            }
        }
    }
    fprintf(stderr, "  %s: done in %.1f s\n", thr_workloads[wl], bench_now() - started);

    printf("\n%s: %zu forests per thread; wall ms = median (best) of %d rounds; throughput "
           "kT/1T = k x t(1T) / t(kT) from the medians (from the best), ideal 2.00 on 2 cores; "
           "CPU/forest kT/1T = CPU(kT) / (k x CPU(1T)), ideal 1.00\n",
           thr_workloads[wl], forests, rounds);
    printf("%-9s %17s %17s %17s %13s %13s %8s %8s %8s %8s %8s\n", "allocator", "1T wall ms",
           "2T wall ms", "4T wall ms", "2T/1T", "4T/1T", "1T cpu", "2T cpu", "4T cpu",
           "cpu 2T", "cpu 4T");
    int failed = 0;
    for (size_t a = 0; a < THR_NALLOCATORS; a++) {
        if (thr_allocators[a].fn[wl] == NULL) {
            continue;
        }
        char wall[THR_NCOUNTS][32], cpu[THR_NCOUNTS][32], r2[32], r4[32], c2[16] = "-",
                                                                       c4[16] = "-";
        for (int c = 0; c < THR_NCOUNTS; c++) {
            thr_cell *cell = &cells[a][c];
            if (cell->status != BENCH_OK || cell->n == 0) {
                cell->status = BENCH_ERROR;
                failed = 1;
                snprintf(wall[c], sizeof wall[c], "ERROR");
                snprintf(cpu[c], sizeof cpu[c], "-");
                continue;
            }
            cell->wall_med = thr_median_of(cell->wall, cell->n);
            cell->cpu_med = thr_median_of(cell->cpu, cell->n);
            cell->wall_best = cell->wall[0];
            for (int i = 1; i < cell->n; i++) {
                if (cell->wall[i] < cell->wall_best) {
                    cell->wall_best = cell->wall[i];
                }
            }
            snprintf(wall[c], sizeof wall[c], "%.1f (%.1f)", cell->wall_med * 1e3,
                     cell->wall_best * 1e3);
            snprintf(cpu[c], sizeof cpu[c], "%.1f", cell->cpu_med * 1e3);
        }
        const thr_cell *one = &cells[a][0];
        thr_ratio(r2, sizeof r2, one, &cells[a][1], 2);
        thr_ratio(r4, sizeof r4, one, &cells[a][2], 4);
        if (one->status == BENCH_OK && cells[a][1].status == BENCH_OK)
            snprintf(c2, sizeof c2, "%.2f", cells[a][1].cpu_med / (2 * one->cpu_med));
        if (one->status == BENCH_OK && cells[a][2].status == BENCH_OK)
            snprintf(c4, sizeof c4, "%.2f", cells[a][2].cpu_med / (4 * one->cpu_med));
        printf("%-9s %17s %17s %17s %13s %13s %8s %8s %8s %8s %8s\n", thr_allocators[a].name,
               wall[0], wall[1], wall[2], r2, r4, cpu[0], cpu[1], cpu[2], c2, c4);
        if (strcmp(thr_allocators[a].name, "mm") == 0 && one->status == BENCH_OK &&
            cells[a][1].status == BENCH_OK && cells[a][2].status == BENCH_OK) {
            *mm_ratio2 = 2 * one->wall_med / cells[a][1].wall_med;
            *mm_ratio4 = 4 * one->wall_med / cells[a][2].wall_med;
        }
    }
    fflush(stdout);
    return failed ? -1 : 0;
}

/* --only W:A-kt: one run, one parseable line (for callgrind and perf). */
static int thr_only(const char *only, const thr_work *w, const char *prog)
{
    for (int wl = 0; wl < 3; wl++) {
        size_t n = strlen(thr_workloads[wl]);
        if (strncmp(only, thr_workloads[wl], n) != 0 || only[n] != ':') {
            continue;
        }
        for (size_t a = 0; a < THR_NALLOCATORS; a++) {
            for (int c = 0; c < THR_NCOUNTS; c++) {
                char name[64];
                snprintf(name, sizeof name, "%s-%dt", thr_allocators[a].name, thr_counts[c]);
                if (strcmp(only + n + 1, name) != 0 || thr_allocators[a].fn[wl] == NULL) {
                    continue;
                }
                double wall = 0, cpu = 0;
                int st = thr_run(thr_allocators[a].fn[wl], w, thr_counts[c], &wall, &cpu);
                printf("only %s status=%s ms=%.3f cpu_ms=%.3f\n", only,
                       st == BENCH_OK ? "ok" : "error", wall * 1e3, cpu * 1e3);
                return st == BENCH_OK ? 0 : 1;
            }
        }
    }
    fprintf(stderr, "%s: no variant '%s'\n%s", prog, only, thr_usage);
    return 2;
}

int main(int argc, char **argv)
{
    bench_options o;
    int pr = bench_parse_options(argc, argv, &o, thr_usage);
    if (pr != 0) {
        return pr > 0 ? 0 : 2;
    }
    if (o.rounds > 64) {
        o.rounds = 64;
    }
    size_t small = o.quick ? THR_SMALL_FORESTS / THR_QUICK_DIV : THR_SMALL_FORESTS;
    size_t mixed = o.quick ? THR_MIXED_FORESTS / THR_QUICK_DIV : THR_MIXED_FORESTS;
    if (o.ops != 0) {
        small = mixed = (size_t)o.ops;
    }
    forest_plan plan;
    if (forest_plan_make_sized(&plan, mixed, o.seed, thr_sizes, THR_NSIZES) != 0) {
        forest_plan_free(&plan);
        fprintf(stderr, "%s: out of memory building the plan\n", o.prog);
        return 1;
    }
    thr_work w = {small, &plan};
    if (o.only != NULL) {
        int rc = thr_only(o.only, &w, o.prog);
        forest_plan_free(&plan);
        return rc;
    }

    bench_print_banner(stdout, "mm_bench_threads: mimicmem " MM_VERSION_STRING
                               " per-forest contexts on 1, 2 and 4 threads", &o);
    printf("destroy : %zu forests per thread of %d blocks of %d B, a context (heap) created and "
           "destroyed per forest; malloc frees each block\n",
           small, THR_SMALL_BLOCKS, THR_SMALL_BYTES);
    printf("reset   : the same with one context per thread, reset per forest (talloc: "
           "talloc_free_children)\n");
    printf("mixed   : %zu forests per thread of %d..%d blocks (Pareto %.1f): 104 B 40%%, 184 B "
           "25%%, 256 B 25%%, 4 KiB 9.8%%, 64 KiB 0.2%%, every page written; a realloc-grown "
           "workspace, %.0f%% freed one by one, destroy per forest; per thread %llu allocations\n",
           mixed, FOREST_MIN_BLOCKS, FOREST_MAX_BLOCKS, FOREST_PARETO_ALPHA,
           100.0 * FOREST_FREE_PROB, (unsigned long long)plan.nallocs);
    printf("columns : mimalloc %s, talloc %s; cpu-only: integer mixing, no allocation (the "
           "machine's own scaling right now)\n",
           BENCH_MIMALLOC_COLUMN, BENCH_TALLOC_COLUMN);
    fflush(stdout);

    double r2[3] = {-1, -1, -1}, r4[3] = {-1, -1, -1};
    int failed = 0;
    for (int wl = 0; wl < 3; wl++) {
        failed |= thr_workload(wl, &w, o.rounds, wl == 2 ? mixed : small, &r2[wl], &r4[wl]) != 0;
    }
    printf("\nAgainst the issue's targets (measured here; not a pass/fail test):\n");
    for (int wl = 0; wl < 3; wl++) {
        printf("  %-8s mm throughput 2T/1T %.2f (target >= 1.8 for destroy), 4T/1T %.2f (not "
               "below 2T/1T)\n",
               thr_workloads[wl], r2[wl], r4[wl]);
    }
    forest_plan_free(&plan);
    return failed ? 1 : 0;
}
