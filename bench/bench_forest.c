/* bench_forest.c (mm_bench_forest): the per-forest pattern of a semi-analytic
 * model. (1) A synthetic forest workload through mimicmem contexts, raw
 * malloc, mimalloc heaps and talloc; (2) "scoped" replay of the Mimic traces,
 * forest-local blocks in a context reset at each forest; (3) the forest
 * workload on one thread and on two, as a throughput ratio. See README.md. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "workloads.h"
#include "workloads_foreign.h"
#include "mimicmem.h"
#include "replay.h"
#include "trace.h"

#ifdef MM_BENCH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

#define FOREST_DEFAULT_COUNT 3000   /* forests per run */
#define FOREST_QUICK_COUNT 300      /* the same with --quick */

static const char forest_usage[] =
    "workloads: forest (malloc mm mimalloc talloc)\n"
    "           trace-mm trace-cluster trace-small (malloc mm mm-scoped mm-scoped-reset)\n"
    "           threads (malloc-1t malloc-2t mm-1t mm-2t mimalloc-1t mimalloc-2t)\n"
    "e.g. --only forest:mm        (here --ops N sets the number of forests)\n";


/* ------------------------------------------------------------------------
 * One full run of the plan per allocator (workloads.h), each in a function of
 * its own for callgrind's --toggle-collect='timed_*'.
 * ---------------------------------------------------------------------- */

static BENCH_NOINLINE int timed_forest_malloc(const forest_plan *p)
{
    return forest_run_malloc(p);
}

static BENCH_NOINLINE int timed_forest_mm(const forest_plan *p)
{
    return forest_run_mm(p);
}

#ifdef MM_BENCH_HAVE_MIMALLOC
static BENCH_NOINLINE int timed_forest_mimalloc(const forest_plan *p)
{
    return forest_run_mimalloc(p);
}
#endif

#ifdef MM_BENCH_HAVE_TALLOC
static BENCH_NOINLINE int timed_forest_talloc(const forest_plan *p)
{
    return forest_run_talloc(p);
}
#endif

/* A control with no allocation at all: integer mixing over the plan's
 * events, to show how far this machine's CPUs scale from 1 thread to 2. */
#define FOREST_SPIN_PASSES 16

static BENCH_NOINLINE int timed_spin(const forest_plan *p)
{
    return forest_spin(p, FOREST_SPIN_PASSES);
}

typedef int (*forest_fn)(const forest_plan *p);

typedef struct {
    const char *name;   /* allocator label */
    forest_fn fn;       /* one full run of the plan */
} forest_allocator;

static const forest_allocator forest_allocators[] = {
    {"malloc", timed_forest_malloc},
    {"mm", timed_forest_mm},
#ifdef MM_BENCH_HAVE_MIMALLOC
    {"mimalloc", timed_forest_mimalloc},
#endif
#ifdef MM_BENCH_HAVE_TALLOC
    {"talloc", timed_forest_talloc},
#endif
};
#define FOREST_NALLOCATORS (sizeof forest_allocators / sizeof forest_allocators[0])

/* Whether malloc in this process is mimalloc's (libmimalloc.so exports
 * malloc; CMakeLists.txt links libc ahead of it to prevent that). */
static int forest_malloc_is_mimalloc(void)
{
#ifdef MM_BENCH_HAVE_MIMALLOC
    void *p = calloc(1, 64); /* calloc: gcc warns when mi_is_in_heap_region gets unwritten memory */
    int yes = p != NULL && mi_is_in_heap_region(p);
    free(p);
    return yes;
#else
    return 0;
#endif
}

typedef struct {
    const forest_plan *plan;        /* shared, read-only */
    const forest_allocator *alloc;  /* this variant's allocator */
    int nthreads;                   /* 0: run on the calling thread; 1 or 2: on new threads */
} forest_arg;

static int forest_run(void *arg, double *seconds)
{
    const forest_arg *fa = arg;
    double t0 = bench_now();
    int st = fa->alloc->fn(fa->plan);
    *seconds = bench_now() - t0;
    return st == 0 ? BENCH_OK : BENCH_ERROR;
}

/* ------------------------------------------------------------------------
 * Threads: each thread runs the whole plan with its own context or heaps
 * (bench_run_threads: timed from the first pthread_create to the last join).
 * ---------------------------------------------------------------------- */

static int forest_thread(const void *arg)
{
    const forest_arg *fa = arg;
    return fa->alloc->fn(fa->plan);
}

static int forest_run_threads(void *arg, double *seconds)
{
    const forest_arg *fa = arg;
    return bench_run_threads(forest_thread, fa, fa->nthreads, seconds, NULL);
}

/* ------------------------------------------------------------------------
 * Scoped trace replay
 * ---------------------------------------------------------------------- */

typedef struct {
    const trace *t;   /* the loaded trace */
    void **slots;     /* t->nblocks pointers */
    int mode;         /* 0 malloc, 1 mm, 2 mm-scoped, 3 mm-scoped-reset */
} scoped_arg;

static BENCH_NOINLINE void timed_scoped_replay(const scoped_arg *sa, mm_context *ctx)
{
    switch (sa->mode) {
    case 0: replay_malloc(sa->t, sa->slots); break;
    case 1: replay_mm(sa->t, sa->slots); break;
    default: replay_mm_scoped(sa->t, sa->slots, ctx, sa->mode == 3); break;
    }
}

static int scoped_run(void *arg, double *seconds)
{
    const scoped_arg *sa = arg;
    mm_context *ctx = NULL;
    if (sa->mode >= 2 && (ctx = mm_context_create("forest", NULL)) == NULL) {
        return BENCH_ERROR;
    }
    double t0 = bench_now();
    timed_scoped_replay(sa, ctx);
    *seconds = bench_now() - t0;
    mm_context_destroy(ctx);
    return BENCH_OK;
}

/* ------------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------- */

/* Median of the variant called name, or -1 when absent or not OK. */
static double forest_median(const bench_workload *w, const bench_result res[], const char *name)
{
    for (size_t v = 0; v < w->nvariants; v++) {
        if (strcmp(w->variants[v].name, name) == 0) {
            return res[v].status == BENCH_OK ? res[v].median_s : -1.0;
        }
    }
    return -1.0;
}

static void forest_print_ratio(double num, double den, const char *what, const char *target)
{
    char buf[32] = "n/a";
    if (num > 0.0 && den > 0.0) {
        bench_fmt_ratio(num / den, buf, sizeof buf);
    }
    printf("  %-48s %10s   (target %s)\n", what, buf, target);
}

static int run_forest(const bench_options *o, const forest_plan *plan, bench_table *tab,
                      double *malloc_s, double *mm_s, double *talloc_s)
{
    if (!bench_only_wants(o, "forest")) {
        return 0;
    }
    bench_workload w;
    memset(&w, 0, sizeof w);
    w.name = "forest";
    w.ops = plan->nallocs + plan->nfrees + plan->nws_grows;
    forest_arg args[FOREST_NALLOCATORS];
    for (size_t a = 0; a < FOREST_NALLOCATORS; a++) {
        args[a].plan = plan;
        args[a].alloc = &forest_allocators[a];
        args[a].nthreads = 0;
        bench_add_variant(&w, forest_allocators[a].name, forest_run, &args[a]);
    }
    bench_result res[BENCH_MAX_VARIANTS];
    int rc = bench_run_standard(&w, o, tab, res);
    if (rc != 0) {
        return rc;
    }
    *malloc_s = forest_median(&w, res, "malloc");
    *mm_s = forest_median(&w, res, "mm");
    *talloc_s = forest_median(&w, res, "talloc");
    return 0;
}

static int run_scoped(const bench_options *o, const char *file, bench_table *tab, double *malloc_s,
                      double *scoped_s, double *scoped_reset_s)
{
    char name[32], path[4096], err[512];
    if (!bench_trace_wanted(o, file, name, sizeof name, path, sizeof path)) {
        return 0;
    }
    trace t;
    if (trace_load(path, &t, err, sizeof err) != 0) {
        return bench_table_add_load_failure(tab, o, name, "trace", err);
    }
    if (o->only == NULL) {
        char ops[32], local[32];
        char blocks[32];
        printf("trace   : %s: %s lines, %zu forests, %s of %s blocks forest-local\n", file,
               bench_fmt_count(t.nops, ops, sizeof ops), t.nforests,
               bench_fmt_count(t.nlocal, local, sizeof local),
               bench_fmt_count(t.nblocks, blocks, sizeof blocks));
        fflush(stdout);
    }
    void **slots = calloc(t.nblocks ? t.nblocks : 1, sizeof *slots);
    if (slots == NULL) {
        trace_free(&t);
        return -1;
    }
    static const char *const modes[] = {"malloc", "mm", "mm-scoped", "mm-scoped-reset"};
    bench_workload w;
    memset(&w, 0, sizeof w);
    w.name = name;
    w.ops = t.nallocs + t.nreallocs + t.nfrees;
    scoped_arg args[4];
    for (int m = 0; m < 4; m++) {
        args[m].t = &t;
        args[m].slots = slots;
        args[m].mode = m;
        bench_add_variant(&w, modes[m], scoped_run, &args[m]);
    }
    bench_result res[BENCH_MAX_VARIANTS];
    int rc = bench_run_standard(&w, o, tab, res);
    if (rc == 0) {
        *malloc_s = forest_median(&w, res, "malloc");
        *scoped_s = forest_median(&w, res, "mm-scoped");
        *scoped_reset_s = forest_median(&w, res, "mm-scoped-reset");
    }
    free(slots);
    trace_free(&t);
    return rc;
}

/* The thread table: one row per allocator, 1-thread and 2-thread medians. */
static int run_threads(const bench_options *o, const forest_plan *plan, double *mm_ratio,
                       double *cpu_ratio)
{
    if (!bench_only_wants(o, "threads")) {
        return 0;
    }
    /* malloc, mm and mimalloc (not talloc: it is not meant for threads), then
     * the CPU-only control. */
    size_t nalloc = FOREST_NALLOCATORS;
#ifdef MM_BENCH_HAVE_TALLOC
    nalloc--;
#endif
    static const forest_allocator spin = {"cpu-only", timed_spin};
    const forest_allocator *rows[FOREST_NALLOCATORS + 1];
    for (size_t a = 0; a < nalloc; a++) {
        rows[a] = &forest_allocators[a];
    }
    rows[nalloc++] = &spin; /* the control goes last */
    static char names[FOREST_NALLOCATORS + 1][2][24];
    bench_workload w;
    memset(&w, 0, sizeof w);
    w.name = "threads";
    w.ops = plan->nallocs + plan->nfrees + plan->nws_grows;
    forest_arg args[FOREST_NALLOCATORS + 1][2];
    for (size_t a = 0; a < nalloc; a++) {
        for (int k = 0; k < 2; k++) {
            snprintf(names[a][k], sizeof names[a][k], "%s-%dt", rows[a]->name, k + 1);
            args[a][k].plan = plan;
            args[a][k].alloc = rows[a];
            args[a][k].nthreads = k + 1;
            bench_add_variant(&w, names[a][k], forest_run_threads, &args[a][k]);
        }
    }
    if (o->only != NULL) {
        return bench_run_only(&w, o) == 1 ? 1 : -1;
    }
    bench_result res[BENCH_MAX_VARIANTS];
    bench_run_rounds(&w, o->rounds, res);

    static const char *const headers[] = {"allocator", "1 thread ms", "2 threads ms",
                                          "forests/s 1T", "forests/s 2T", "throughput 2T/1T"};
    bench_table *tab = bench_table_new("Two threads, each running the whole forest workload with its "
                                       "own context/heaps; throughput 2T/1T = 2 x t(1T) / t(2T), "
                                       "ideal 2.00x",
                                       6, headers, "lrrrrr");
    for (size_t a = 0; a < nalloc; a++) {
        const bench_result *r1 = &res[2 * a], *r2 = &res[2 * a + 1];
        char t1[32] = "ERROR", t2[32] = "ERROR", f1[32] = "-", f2[32] = "-", ratio[32] = "-";
        if (r1->status == BENCH_OK) {
            bench_fmt_ms(r1->median_s, t1, sizeof t1);
            snprintf(f1, sizeof f1, "%.0f", (double)plan->nforests / r1->median_s);
        }
        if (r2->status == BENCH_OK) {
            bench_fmt_ms(r2->median_s, t2, sizeof t2);
            snprintf(f2, sizeof f2, "%.0f", 2.0 * (double)plan->nforests / r2->median_s);
        }
        if (r1->status == BENCH_OK && r2->status == BENCH_OK) {
            bench_fmt_ratio(2.0 * r1->median_s / r2->median_s, ratio, sizeof ratio);
            if (strcmp(rows[a]->name, "mm") == 0) {
                *mm_ratio = 2.0 * r1->median_s / r2->median_s;
            }
            if (rows[a] == &spin) {
                *cpu_ratio = 2.0 * r1->median_s / r2->median_s;
            }
        }
        const char *name = rows[a] == &spin ? "cpu-only (control, no allocation)" : rows[a]->name;
        const char *cells[] = {name, t1, t2, f1, f2, ratio};
        bench_table_row(tab, cells);
    }
    bench_table_print(tab, stdout);
    bench_table_free(tab);
    return 0;
}

int main(int argc, char **argv)
{
    bench_options o;
    int pr = bench_parse_options(argc, argv, &o, forest_usage);
    if (pr != 0) {
        return pr > 0 ? 0 : 2;
    }
    size_t nforests = o.quick ? FOREST_QUICK_COUNT : FOREST_DEFAULT_COUNT;
    if (o.ops != 0) {
        nforests = (size_t)o.ops; /* --ops counts forests here */
    }
    forest_plan plan;
    if (forest_plan_make(&plan, nforests, o.seed) != 0) {
        fprintf(stderr, "%s: out of memory building the forest plan\n", o.prog);
        return 1;
    }

    if (o.only == NULL) {
        char a[32], f[32], g[32];
        bench_print_banner(stdout, "mm_bench_forest: mimicmem " MM_VERSION_STRING
                                   " contexts vs raw malloc, mimalloc heaps, talloc", &o);
        printf("forest  : %zu forests of %d..%d blocks (Pareto alpha %.1f, largest %zu); "
               "%s allocations, %s explicit frees (%.0f%%), %s workspace reallocs per run\n",
               plan.nforests, FOREST_MIN_BLOCKS, FOREST_MAX_BLOCKS, FOREST_PARETO_ALPHA,
               plan.max_blocks, bench_fmt_count(plan.nallocs, a, sizeof a),
               bench_fmt_count(plan.nfrees, f, sizeof f),
               100.0 * (double)plan.nfrees / (double)(plan.nallocs ? plan.nallocs : 1),
               bench_fmt_count(plan.nws_grows, g, sizeof g));
        printf("sizes   : 104 B 40%%, 184 B 25%%, 256 B 25%%, 4096 B 9.5%%, 64 KiB 0.5%%; "
               "every 4 KiB page of each block written\n");
        printf("columns : mimalloc %s, talloc %s\n", BENCH_MIMALLOC_COLUMN, BENCH_TALLOC_COLUMN);
        if (forest_malloc_is_mimalloc()) {
            printf("WARNING : malloc in this process is mimalloc's, not the system's: every "
                   "'malloc' figure (and mimicmem's and talloc's) runs on mimalloc\n");
        }
        fflush(stdout);
    }

    bench_table *tab = bench_table_new("Median wall time per run; 'vs malloc' = median / raw "
                                       "malloc median of the same run (lower is better)",
                                       BENCH_STANDARD_COLS, bench_standard_headers, bench_standard_align);
    double f_malloc = -1, f_mm = -1, f_talloc = -1, mm_threads = -1, cpu_threads = -1;
    double s_malloc[3] = {-1, -1, -1}, s_scoped[3] = {-1, -1, -1}, s_reset[3] = {-1, -1, -1};
    static const char *const files[3] = {"mm", "cluster", "small"};
    int rcs[5], failed = 0;
    rcs[0] = run_forest(&o, &plan, tab, &f_malloc, &f_mm, &f_talloc);
    for (int i = 0; i < 3; i++) {
        rcs[1 + i] = run_scoped(&o, files[i], tab, &s_malloc[i], &s_scoped[i], &s_reset[i]);
    }
    if (o.only == NULL) {
        bench_table_print(tab, stdout);
    }
    rcs[4] = run_threads(&o, &plan, &mm_threads, &cpu_threads);
    bench_table_free(tab);
    forest_plan_free(&plan);
    int only_status = bench_tally(&o, rcs, sizeof rcs / sizeof rcs[0], forest_usage, &failed);
    if (o.only != NULL) {
        return only_status;
    }

    printf("\nAgainst the targets of the issue (measured here; not a pass/fail test):\n");
    forest_print_ratio(f_malloc, f_mm, "forest: malloc / mm (mm speed-up)", ">= 5x");
    forest_print_ratio(f_talloc, f_mm, "forest: talloc / mm (mm speed-up)", "> 1x");
    for (int i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "trace-%s: malloc / mm-scoped (speed-up)", files[i]);
        forest_print_ratio(s_malloc[i], s_scoped[i], what, "> 1x");
        snprintf(what, sizeof what, "trace-%s: malloc / mm-scoped-reset", files[i]);
        forest_print_ratio(s_malloc[i], s_reset[i], what, "(none)");
    }
    forest_print_ratio(mm_threads, 1.0, "threads: mm throughput 2T/1T", ">= 1.8x");
    forest_print_ratio(cpu_threads, 1.0, "threads: cpu-only control 2T/1T (machine)", "(~2x on 2 free cores)");
    return failed ? 1 : 0;
}
