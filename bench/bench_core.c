/* bench_core.c (mm_bench_core): malloc/free churn at 1,000 and 50,000 live
 * blocks and plain replay of the Mimic traces, each through raw malloc,
 * mimicmem (mm_malloc/mm_free) and the legacy block table. Prints one table
 * of medians with ratios to raw malloc from the same run. See README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "workloads.h"
#include "legacy_table.h"
#include "mimicmem.h"
#include "replay.h"
#include "trace.h"

#define CORE_DEFAULT_OPS 2000000ULL   /* allocator calls per churn run */
#define CORE_QUICK_OPS 200000ULL      /* the same with --quick */

static const char core_usage[] =
    "workloads: churn1k churn50k trace-mm trace-cluster trace-small\n"
    "allocators: malloc mm legacy      e.g. --only churn50k:mm\n";

/* ------------------------------------------------------------------------
 * The allocators, behind small non-inlined wrappers. callgrind's
 * --toggle-collect=bench_free_<name> counts the instructions of the
 * steady-state frees alone (the wrappers are called nowhere else).
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *name;                               /* column label */
    void *(*alloc)(size_t size, mm_category cat);   /* fill and steady-state allocations */
    void (*release)(void *p);                       /* steady-state frees only */
    void (*drain)(void **live, size_t n);           /* untimed teardown of the live set */
} core_allocator;

static BENCH_NOINLINE void *bench_alloc_malloc(size_t size, mm_category cat)
{
    (void)cat;
    return malloc(size);
}

static BENCH_NOINLINE void bench_free_malloc(void *p)
{
    free(p);
}

static void core_drain_malloc(void **live, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(live[i]);
    }
}

static BENCH_NOINLINE void *bench_alloc_mm(size_t size, mm_category cat)
{
    return mm_malloc(size, cat);
}

static BENCH_NOINLINE void bench_free_mm(void *p)
{
    mm_free(p);
}

static void core_drain_mm(void **live, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mm_free(live[i]);
    }
}

static BENCH_NOINLINE void *bench_alloc_legacy(size_t size, mm_category cat)
{
    return legacy_malloc_cat(size, cat);
}

static BENCH_NOINLINE void bench_free_legacy(void *p)
{
    legacy_free(p);
}

static void core_drain_legacy(void **live, size_t n)
{
    (void)live;
    (void)n;
    legacy_free_all();
}

static const core_allocator core_allocators[] = {
    {"malloc", bench_alloc_malloc, bench_free_malloc, core_drain_malloc},
    {"mm", bench_alloc_mm, bench_free_mm, core_drain_mm},
    {"legacy", bench_alloc_legacy, bench_free_legacy, core_drain_legacy},
};
#define CORE_NALLOCATORS (sizeof core_allocators / sizeof core_allocators[0])

/* ------------------------------------------------------------------------
 * Churn (the plan is in workloads.h): every allocator sees the same sizes
 * and victims.
 * ---------------------------------------------------------------------- */

typedef struct {
    const churn_plan *plan;      /* shared by the variants of one workload */
    const core_allocator *alloc; /* the allocator of this variant */
} churn_arg;

/* The measured part of one churn run. Returns 0, or -1 when an allocation
 * failed (the legacy table full); the live set is then partly filled. */
static BENCH_NOINLINE int timed_churn(const churn_plan *p, const core_allocator *a, size_t *filled)
{
    void **live = p->live;
    const uint32_t *req = p->requests;
    for (size_t i = 0; i < p->nlive; i++) {
        void *q = a->alloc(req[i] & 0xffffu, (mm_category)(req[i] >> 16));
        if (q == NULL) {
            return -1;
        }
        bench_touch(q, (unsigned char)i);
        live[i] = q;
        *filled = i + 1;
    }
    req += p->nlive;
    for (size_t k = 0; k < p->npairs; k++) {
        uint32_t j = p->victims[k];
        a->release(live[j]);
        void *q = a->alloc(req[k] & 0xffffu, (mm_category)(req[k] >> 16));
        if (q == NULL) {
            live[j] = live[--*filled]; /* keep the live set dense for the drain */
            return -1;
        }
        bench_touch(q, (unsigned char)k);
        live[j] = q;
    }
    return 0;
}

static int churn_run(void *arg, double *seconds)
{
    const churn_arg *ca = arg;
    size_t filled = 0;
    double t0 = bench_now();
    int st = timed_churn(ca->plan, ca->alloc, &filled);
    *seconds = bench_now() - t0;
    ca->alloc->drain(ca->plan->live, filled);
    return st == 0 ? BENCH_OK : BENCH_FATAL;
}

/* ------------------------------------------------------------------------
 * Trace replay (parsed before timing; only the replay is measured)
 * ---------------------------------------------------------------------- */

typedef struct {
    const trace *t;      /* the loaded trace */
    void **slots;        /* t->nblocks pointers, shared by the variants */
    int which;           /* 0 malloc, 1 mm, 2 legacy */
} trace_arg;

static BENCH_NOINLINE int timed_trace_replay(const trace_arg *ta)
{
    switch (ta->which) {
    case 0: replay_malloc(ta->t, ta->slots); return 0;
    case 1: replay_mm(ta->t, ta->slots); return 0;
    default: return replay_legacy(ta->t, ta->slots);
    }
}

static int trace_run(void *arg, double *seconds)
{
    double t0 = bench_now();
    int st = timed_trace_replay(arg);
    *seconds = bench_now() - t0;
    return st == 0 ? BENCH_OK : BENCH_FATAL;
}

/* ------------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------- */

/* The medians of one workload, kept for the closing comparison with the targets. */
typedef struct {
    const char *workload;          /* workload label */
    double median_s[CORE_NALLOCATORS]; /* per allocator; -1 when not OK */
} core_summary;

static void core_summarise(core_summary *s, const bench_workload *w, const bench_result res[])
{
    s->workload = w->name;
    for (size_t v = 0; v < CORE_NALLOCATORS; v++) {
        s->median_s[v] = (v < w->nvariants && res[v].status == BENCH_OK) ? res[v].median_s : -1.0;
    }
}

static void core_print_ratio(const core_summary *s, size_t num, size_t den, const char *what,
                             const char *target)
{
    if (s == NULL || s->median_s[num] <= 0.0 || s->median_s[den] <= 0.0) {
        printf("  %-44s %10s   (target %s)\n", what, "n/a", target);
        return;
    }
    char buf[32];
    bench_fmt_ratio(s->median_s[num] / s->median_s[den], buf, sizeof buf);
    printf("  %-44s %10s   (target %s)\n", what, buf, target);
}

static int run_churn(const bench_options *o, bench_table *tab, const char *name, size_t nlive,
                     core_summary *sum)
{
    if (!bench_only_wants(o, name)) {
        return 0;
    }
    uint64_t ops = o->ops ? o->ops : (o->quick ? CORE_QUICK_OPS : CORE_DEFAULT_OPS);
    churn_plan plan;
    if (churn_plan_make(&plan, nlive, ops, 0, o->seed ^ (uint64_t)nlive) != 0) {
        fprintf(stderr, "%s: out of memory building the %s plan\n", o->prog, name);
        churn_plan_free(&plan);
        return -1;
    }
    bench_workload w;
    memset(&w, 0, sizeof w);
    w.name = name;
    w.ops = (uint64_t)plan.nlive + 2 * (uint64_t)plan.npairs;
    w.frees = plan.npairs;
    churn_arg args[CORE_NALLOCATORS];
    for (size_t a = 0; a < CORE_NALLOCATORS; a++) {
        args[a].plan = &plan;
        args[a].alloc = &core_allocators[a];
        bench_add_variant(&w, core_allocators[a].name, churn_run, &args[a]);
    }
    bench_result res[BENCH_MAX_VARIANTS];
    int rc = bench_run_standard(&w, o, tab, res);
    if (rc == 0) {
        core_summarise(sum, &w, res);
    }
    churn_plan_free(&plan);
    return rc;
}

static int run_trace(const bench_options *o, bench_table *tab, const char *file, core_summary *sum)
{
    char name[32], path[4096], err[512];
    if (!bench_trace_wanted(o, file, name, sizeof name, path, sizeof path)) {
        return 0;
    }
    trace t;
    double t0 = bench_now();
    if (trace_load(path, &t, err, sizeof err) != 0) {
        return bench_table_add_load_failure(tab, o, name, "trace", err);
    }
    double load_s = bench_now() - t0;
    if (o->only == NULL) {
        char ops[32], blocks[32], live[32], peak[32];
        printf("trace   : %s: %s lines, %s blocks, %zu forests, max live %s blocks, "
               "peak %s B; parsed in %.2f s\n",
               file, bench_fmt_count(t.nops, ops, sizeof ops),
               bench_fmt_count(t.nblocks, blocks, sizeof blocks), t.nforests,
               bench_fmt_count(t.max_live_blocks, live, sizeof live),
               bench_fmt_count(t.peak_bytes, peak, sizeof peak), load_s);
        fflush(stdout);
    }
    void **slots = malloc((t.nblocks ? t.nblocks : 1) * sizeof *slots);
    if (slots == NULL) {
        trace_free(&t);
        return -1;
    }
    memset(slots, 0, (t.nblocks ? t.nblocks : 1) * sizeof *slots); /* fault the pages in now */

    bench_workload w;
    memset(&w, 0, sizeof w);
    w.name = name;
    w.ops = t.nallocs + t.nreallocs + t.nfrees;
    trace_arg args[CORE_NALLOCATORS];
    for (size_t a = 0; a < CORE_NALLOCATORS; a++) {
        args[a].t = &t;
        args[a].slots = slots;
        args[a].which = (int)a;
        bench_add_variant(&w, core_allocators[a].name, trace_run, &args[a]);
    }
    bench_result res[BENCH_MAX_VARIANTS];
    int rc = bench_run_standard(&w, o, tab, res);
    if (rc == 0) {
        core_summarise(sum, &w, res);
    }
    free(slots);
    trace_free(&t);
    return rc;
}

int main(int argc, char **argv)
{
    bench_options o;
    int pr = bench_parse_options(argc, argv, &o, core_usage);
    if (pr != 0) {
        return pr > 0 ? 0 : 2;
    }
    if (legacy_init(0) != 0) {
        return 1;
    }
    if (o.only == NULL) {
        bench_print_banner(stdout, "mm_bench_core: mimicmem " MM_VERSION_STRING
                                   " vs raw malloc vs the legacy block table", &o);
        printf("churn   : sizes log-uniform %d..%d B, categories Galaxies..Utility, "
               "first byte of each block written; fill + steady state timed\n",
               CHURN_MIN_SIZE, CHURN_MAX_SIZE);
        printf("traces  : %s/mimic-trace-{mm,cluster,small}.txt.gz, parsed first, replay timed\n",
               o.data_dir);
        fflush(stdout);
    }

    bench_table *tab = bench_table_new("Median wall time per run; 'vs malloc' = median / raw "
                                       "malloc median of the same run (lower is better)",
                                       BENCH_STANDARD_COLS, bench_standard_headers, bench_standard_align);
    core_summary s_c1k = {0}, s_c50k = {0}, s_mm = {0}, s_cluster = {0}, s_small = {0};
    int failed = 0;
    int rcs[5];
    rcs[0] = run_churn(&o, tab, "churn1k", 1000, &s_c1k);
    rcs[1] = run_churn(&o, tab, "churn50k", 50000, &s_c50k);
    rcs[2] = run_trace(&o, tab, "mm", &s_mm);
    rcs[3] = run_trace(&o, tab, "cluster", &s_cluster);
    rcs[4] = run_trace(&o, tab, "small", &s_small);
    int only_status = bench_tally(&o, rcs, sizeof rcs / sizeof rcs[0], core_usage, &failed);

    if (o.only != NULL) {
        bench_table_free(tab);
        legacy_shutdown();
        return only_status;
    }

    bench_table_print(tab, stdout);
    bench_table_free(tab);
    printf("\nAgainst the targets of the issue (measured here; not a pass/fail test):\n");
    core_print_ratio(s_c1k.workload ? &s_c1k : NULL, 1, 0, "churn1k:  mm / malloc", "<= 1.10x");
    core_print_ratio(s_c50k.workload ? &s_c50k : NULL, 1, 0, "churn50k: mm / malloc", "<= 1.25x");
    core_print_ratio(s_c50k.workload ? &s_c50k : NULL, 2, 1, "churn50k: legacy / mm (mm speed-up)",
                     ">= 30x");
    core_print_ratio(s_mm.workload ? &s_mm : NULL, 1, 0, "trace-mm: mm / malloc", "<= 1.10x");
    core_print_ratio(s_cluster.workload ? &s_cluster : NULL, 1, 0, "trace-cluster: mm / malloc",
                     "<= 1.10x");
    core_print_ratio(s_small.workload ? &s_small : NULL, 1, 0, "trace-small: mm / malloc",
                     "(none)");
    core_print_ratio(s_mm.workload ? &s_mm : NULL, 2, 1, "trace-mm: legacy / mm", "(none)");
    printf("  free instructions at 50,000 live, legacy / mm: run bench/callgrind.sh "
           "(target >= 200x)\n");
    legacy_shutdown();
    return failed ? 1 : 0;
}
