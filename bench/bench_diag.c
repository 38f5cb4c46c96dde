/* bench_diag.c (mm_bench_diag): the cost of each diagnostics mode. Three
 * workloads, process-wide churn, the forest pattern in a context and one
 * array grown by realloc in 1 MiB steps, run under every configuration
 * (checking modes, sites, trace, limit, peak step) alternated within each
 * round of one process; one table of medians with ratios to the run with
 * every mode off, and the realloc run's peak resident memory. See README.md. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "workloads.h"
#include "mimicmem.h"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define DIAG_HAVE_GETPID 1
#endif

#define DIAG_CHURN_LIVE 50000         /* churn: live blocks held (--live N) */
#define DIAG_CHURN_OPS 2000000ULL     /* churn: allocator calls per run */
#define DIAG_CHURN_QUICK_OPS 200000ULL
#define DIAG_FORESTS 3000             /* forest: forests per run */
#define DIAG_QUICK_FORESTS 300
#define DIAG_LIMIT_BYTES ((size_t)1 << 50) /* the "limit" configuration: 1 PiB, never reached */
#define DIAG_GROW_STEP ((size_t)1 << 20)   /* realloc: the array grows by 1 MiB per call ... */
#define DIAG_GROW_STEPS 160                /* ... to 160 MiB (the case) */
#define DIAG_QUICK_GROW_STEPS 32

static const char diag_usage[] =
    "workloads: churn forest realloc\n"
    "configurations: off guards poison full sites at-off trace limit peak-step-64k peak-step-1\n"
    "  e.g. --only churn:guards      (with --only, frees= counts the steady-state pairs)\n"
    "extra options of this program:\n"
    "  --live N     churn: live blocks (default 50,000)\n"
    "  --size N     churn: every block N bytes (1..65535) instead of log-uniform 16..4096\n";

/* ------------------------------------------------------------------------
 * Configurations. Each timed run enters its configuration, runs, frees
 * everything it allocated, and leaves it, so no block outlives its mode.
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *name;     /* row label and --only name */
    const char *setting;  /* what it sets, for the table */
    int use_at;           /* allocate through the _at variants (__FILE__, __LINE__) */
    mm_check_mode check;  /* checking mode */
    int sites;            /* mm_set_sites(1) */
    int trace;            /* a trace to a temporary file */
    int limit;            /* a process limit of DIAG_LIMIT_BYTES */
    size_t peak_step;     /* mm_set_peak_step(peak_step) when nonzero */
} diag_config;

static const diag_config diag_configs[] = {
    {"off", "nothing (the defaults)", 0, MM_CHECK_OFF, 0, 0, 0, 0},
    {"guards", "mm_set_check(MM_CHECK_GUARDS)", 0, MM_CHECK_GUARDS, 0, 0, 0, 0},
    {"poison", "mm_set_check(MM_CHECK_POISON)", 0, MM_CHECK_POISON, 0, 0, 0, 0},
    {"full", "mm_set_check(MM_CHECK_FULL)", 0, MM_CHECK_FULL, 0, 0, 0, 0},
    {"sites", "mm_set_sites(1), _at calls", 1, MM_CHECK_OFF, 1, 0, 0, 0},
    {"at-off", "_at calls, sites off", 1, MM_CHECK_OFF, 0, 0, 0, 0},
    {"trace", "mm_trace_start(file in /tmp)", 0, MM_CHECK_OFF, 0, 1, 0, 0},
    {"limit", "mm_limit_set(NULL, all, 1 PiB)", 0, MM_CHECK_OFF, 0, 0, 1, 0},
    {"peak-step-64k", "mm_set_peak_step(64 KiB)", 0, MM_CHECK_OFF, 0, 0, 0, (size_t)64 << 10},
    {"peak-step-1", "mm_set_peak_step(1) (= off)", 0, MM_CHECK_OFF, 0, 0, 0, 1},
};
#define DIAG_NCONFIGS (sizeof diag_configs / sizeof diag_configs[0])

static char diag_trace_path[4096]; /* the temporary trace file */

/* Sets the modes of c. Returns 0, or -1 when the trace cannot be opened. */
static int diag_enter(const diag_config *c)
{
    mm_set_check(c->check);
    mm_set_sites(c->sites);
    if (c->limit) {
        mm_limit_set(NULL, MM_CAT_INVALID, DIAG_LIMIT_BYTES);
    }
    if (c->peak_step != 0) {
        mm_set_peak_step(c->peak_step);
    }
    if (c->trace && mm_trace_start(diag_trace_path) != 0) {
        return -1;
    }
    return 0;
}

/* Turns every mode back off. Returns the bytes of the trace written (then
 * deletes it), or 0 when c has no trace. */
static uint64_t diag_leave(const diag_config *c)
{
    mm_trace_stop();
    mm_limit_set(NULL, MM_CAT_INVALID, 0);
    mm_set_peak_step(MM_DEFAULT_PEAK_STEP);
    mm_set_sites(0);
    mm_set_check(MM_CHECK_OFF);
    if (!c->trace) {
        return 0;
    }
    uint64_t bytes = 0;
    FILE *f = fopen(diag_trace_path, "rb");
    if (f != NULL) {
        if (fseek(f, 0, SEEK_END) == 0) {
            long n = ftell(f);
            bytes = n > 0 ? (uint64_t)n : 0;
        }
        fclose(f);
    }
    remove(diag_trace_path);
    return bytes;
}

/* ------------------------------------------------------------------------
 * Churn (the plan is in workloads.h), through process-wide blocks; every
 * configuration replays it identically.
 * ---------------------------------------------------------------------- */

/* The steady state alone, in its own functions: callgrind's
 * --toggle-collect='diag_pairs_*' counts the free+allocate pairs only. */
static BENCH_NOINLINE void diag_pairs_plain(const churn_plan *p)
{
    void **live = p->live;
    const uint32_t *req = p->requests + p->nlive;
    for (size_t k = 0; k < p->npairs; k++) {
        uint32_t j = p->victims[k];
        mm_free(live[j]);
        void *q = mm_malloc(req[k] & 0xffffu, (mm_category)(req[k] >> 16));
        bench_touch(q, (unsigned char)k);
        live[j] = q;
    }
}

static BENCH_NOINLINE void diag_pairs_at(const churn_plan *p)
{
    void **live = p->live;
    const uint32_t *req = p->requests + p->nlive;
    for (size_t k = 0; k < p->npairs; k++) {
        uint32_t j = p->victims[k];
        mm_free(live[j]);
        void *q = mm_malloc_at(req[k] & 0xffffu, (mm_category)(req[k] >> 16), __FILE__, __LINE__);
        bench_touch(q, (unsigned char)k);
        live[j] = q;
    }
}

/* The measured part of one churn run: the fill, then the pairs. The default
 * error handler aborts, so an allocation here never returns NULL. */
static BENCH_NOINLINE void timed_churn(const churn_plan *p, int use_at)
{
    const uint32_t *req = p->requests;
    for (size_t i = 0; i < p->nlive; i++) {
        size_t size = req[i] & 0xffffu;
        mm_category cat = (mm_category)(req[i] >> 16);
        void *q = use_at ? mm_malloc_at(size, cat, __FILE__, __LINE__) : mm_malloc(size, cat);
        bench_touch(q, (unsigned char)i);
        p->live[i] = q;
    }
    if (use_at) {
        diag_pairs_at(p);
    } else {
        diag_pairs_plain(p);
    }
}

/* ------------------------------------------------------------------------
 * Forest: mm_bench_forest's workload (workloads.h). The plain configurations
 * run forest_run_mm; "sites" and "at-off" run the same loop through the _at
 * calls (timed_forest_at): forest_mm_one is inline with use_at a constant,
 * so that each loop measures its own calls with no branch between the two.
 * ---------------------------------------------------------------------- */

/* Allocator calls of one forest run: workspace allocations and reallocs,
 * block allocations, explicit frees (the resets are not counted). */
static uint64_t forest_calls(const forest_plan *p)
{
    return p->nforests + p->nws_grows + p->nallocs + p->nfrees;
}

static BENCH_NOINLINE int timed_forest_at(const forest_plan *p)
{
    mm_context *ctx = mm_context_create("forest", NULL);
    if (ctx == NULL) {
        return -1;
    }
    int st = 0;
    for (size_t f = 0; f < p->nforests && st == 0; f++) {
        st = forest_mm_one(p, f, ctx, 1);
        mm_context_reset(ctx);
    }
    mm_context_destroy(ctx);
    return st;
}

/* ------------------------------------------------------------------------
 * Realloc growth: one array grown from nothing by steps reallocs of 1 MiB
 * each, every new page written, as a program appending to a buffer does. A
 * realloc that copies pays for every byte held at every step (quadratic) and
 * holds two copies at once; the system's realloc moves the pages instead.
 * ---------------------------------------------------------------------- */

static void *diag_grown; /* the array of the last run, freed untimed */

static BENCH_NOINLINE void timed_grow(size_t steps, int use_at)
{
    unsigned char *p = NULL;
    for (size_t i = 1; i <= steps; i++) {
        size_t bytes = i * DIAG_GROW_STEP;
        p = use_at ? mm_realloc_at(p, bytes, __FILE__, __LINE__) : mm_realloc(p, bytes);
        bench_write_pages(p + bytes - DIAG_GROW_STEP, DIAG_GROW_STEP, (unsigned char)i);
    }
    diag_grown = p;
}

/* Peak resident memory of one run: Linux resets the high-water mark VmHWM
 * when 5 is written to /proc/self/clear_refs (since 4.0); elsewhere, or
 * when that fails, -1 and the column says "-". */
static int diag_rss_reset(void)
{
#if defined(__linux__)
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL) {
        return -1;
    }
    int ok = fputs("5", f) >= 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
#else
    return -1;
#endif
}

static long diag_rss_peak_kib(void)
{
    long kib = -1;
#if defined(__linux__)
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return -1;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
#endif
    return kib;
}

/* ------------------------------------------------------------------------
 * One run of one workload under one configuration
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *name;          /* "churn", "forest" or "realloc" */
    const churn_plan *churn;   /* set for churn */
    const forest_plan *forest; /* set for forest */
    size_t grow_steps;         /* set for realloc: 1 MiB steps */
    uint64_t calls;            /* allocator calls in the timed part */
    uint64_t pairs;            /* steady-state free+allocate pairs (churn), else 0 */
    uint64_t traced_calls;     /* calls made while the trace was open (timed + teardown) */
} diag_workload;

/* Enters c, times one run of w, frees what is left, leaves c. Sets *seconds,
 * *trace_bytes and *rss_kib (the run's peak resident memory, -1 unknown);
 * returns BENCH_OK or BENCH_ERROR. */
static int diag_run(const diag_workload *w, const diag_config *c, double *seconds,
                    uint64_t *trace_bytes, long *rss_kib)
{
    if (diag_enter(c) != 0) {
        diag_leave(c);
        return BENCH_ERROR;
    }
    int st = 0;
    int rss = diag_rss_reset();
    double t0 = bench_now();
    if (w->churn != NULL) {
        timed_churn(w->churn, c->use_at);
    } else if (w->forest != NULL) {
        st = c->use_at ? timed_forest_at(w->forest) : forest_run_mm(w->forest);
    } else {
        timed_grow(w->grow_steps, c->use_at);
    }
    *seconds = bench_now() - t0;
    *rss_kib = rss == 0 ? diag_rss_peak_kib() : -1;
    if (w->churn != NULL) {
        for (size_t i = 0; i < w->churn->nlive; i++) { /* untimed, under the same modes */
            mm_free(w->churn->live[i]);
        }
    }
    mm_free(diag_grown); /* untimed, under the same modes */
    diag_grown = NULL;
    *trace_bytes = diag_leave(c);
    return st == 0 ? BENCH_OK : BENCH_ERROR;
}

typedef struct {
    int status;            /* BENCH_OK or the first failure */
    int nrounds;           /* rounds that completed */
    double median_s;       /* median over the rounds */
    double min_s, max_s;   /* fastest and slowest round */
    uint64_t trace_bytes;  /* trace file size of the last run (0 without a trace) */
    long rss_kib;          /* largest peak resident memory of a run, KiB (-1: unknown) */
} diag_result;

/* One untimed warm-up run with every mode off, then rounds rounds; each
 * round runs every configuration once, in table order. */
static void diag_run_rounds(const diag_workload *w, int rounds, diag_result res[])
{
    double *times = calloc((size_t)rounds * DIAG_NCONFIGS, sizeof *times);
    memset(res, 0, DIAG_NCONFIGS * sizeof *res);
    if (times == NULL) {
        for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
            res[c].status = BENCH_ERROR;
        }
        return;
    }
    fprintf(stderr, "  %s: %d rounds x %zu configurations...\n", w->name, rounds,
            (size_t)DIAG_NCONFIGS);
    double started = bench_now(), warm_s = 0.0;
    uint64_t warm_bytes = 0;
    long warm_rss = 0;
    diag_run(w, &diag_configs[0], &warm_s, &warm_bytes, &warm_rss); /* untimed: faults the heap in */
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        res[c].rss_kib = -1;
    }
    for (int r = 0; r < rounds; r++) {
        for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
            if (res[c].status != BENCH_OK) {
                continue;
            }
            double s = 0.0;
            long rss = -1;
            int st = diag_run(w, &diag_configs[c], &s, &res[c].trace_bytes, &rss);
            if (rss > res[c].rss_kib) {
                res[c].rss_kib = rss;
            }
            if (st != BENCH_OK) {
                res[c].status = st;
                continue;
            }
            times[c * (size_t)rounds + (size_t)res[c].nrounds++] = s;
        }
    }
    fprintf(stderr, "  %s: done in %.1f s\n", w->name, bench_now() - started);
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        double *t = times + c * (size_t)rounds;
        size_t n = (size_t)res[c].nrounds;
        if (n == 0) {
            res[c].status = BENCH_ERROR;
            continue;
        }
        res[c].median_s = bench_median(t, n); /* sorts t */
        res[c].min_s = t[0];
        res[c].max_s = t[n - 1];
    }
    free(times);
}

/* ------------------------------------------------------------------------
 * Table
 * ---------------------------------------------------------------------- */

#define DIAG_COLS 9
static const char *const diag_headers[DIAG_COLS] = {
    "workload", "configuration", "what it sets", "calls", "median ms",
    "min ms",   "max ms",        "ns/op",        "vs off"};
static const char diag_align[DIAG_COLS + 1] = "lllrrrrrr";

static void diag_table_add(bench_table *t, const diag_workload *w, const diag_result res[])
{
    double off_s = res[0].status == BENCH_OK ? res[0].median_s : -1.0;
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        char calls[32], med[32] = "ERROR", lo[32] = "-", hi[32] = "-", ns[32] = "-", ratio[32] = "-";
        bench_fmt_count(w->calls, calls, sizeof calls);
        if (res[c].status == BENCH_OK) {
            bench_fmt_ms(res[c].median_s, med, sizeof med);
            bench_fmt_ms(res[c].min_s, lo, sizeof lo);
            bench_fmt_ms(res[c].max_s, hi, sizeof hi);
            snprintf(ns, sizeof ns, "%.1f", res[c].median_s * 1e9 / (double)w->calls);
            if (off_s > 0.0) {
                bench_fmt_ratio(res[c].median_s / off_s, ratio, sizeof ratio);
            }
        }
        const char *cells[DIAG_COLS] = {c == 0 ? w->name : "", diag_configs[c].name,
                                        diag_configs[c].setting, calls, med, lo, hi, ns, ratio};
        bench_table_row(t, cells);
    }
    bench_table_rule(t);
}

/* The trace configuration's output volume, one line per workload. */
static void diag_print_trace(const diag_workload *w, const diag_result res[])
{
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        if (!diag_configs[c].trace || res[c].status != BENCH_OK) {
            continue;
        }
        char calls[32];
        printf("  %-7s %8.1f MB of trace per run, %s calls traced: %.1f MB per million calls\n",
               w->name, (double)res[c].trace_bytes / 1e6,
               bench_fmt_count(w->traced_calls, calls, sizeof calls),
               (double)res[c].trace_bytes / (double)w->traced_calls);
    }
}

/* The realloc workload's peak resident memory per configuration: the final
 * array is steps MiB, so a run that holds it once peaks near that plus the
 * process's own, and a copying realloc near twice. */
static void diag_print_rss(const diag_workload *w, const diag_result res[])
{
    if (res[0].rss_kib < 0) {
        printf("Peak resident memory: not measured on this system (Linux only)\n");
        return;
    }
    printf("Peak resident memory of the %s runs (VmHWM, reset before each run; the array ends "
           "at %zu MiB):\n",
           w->name, w->grow_steps);
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        if (res[c].status != BENCH_OK || res[c].rss_kib < 0) {
            continue;
        }
        printf("  %-14s %8.1f MiB  %5.2fx off\n", diag_configs[c].name,
               (double)res[c].rss_kib / 1024.0, (double)res[c].rss_kib / (double)res[0].rss_kib);
    }
}

/* ------------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------- */

/* Takes this program's own options (--live N, --size N) out of argv, before
 * bench_parse_options sees it. Returns 0, or -1 after printing an error. */
static int diag_own_options(int *argc, char **argv, size_t *nlive, size_t *fixed_size)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        size_t *dst = NULL;
        unsigned long long lo = 1, hi = 0;
        if (strcmp(argv[i], "--live") == 0) {
            dst = nlive;
            hi = 10000000ULL;
        } else if (strcmp(argv[i], "--size") == 0) {
            dst = fixed_size;
            hi = 65535ULL;
        }
        if (dst == NULL) {
            argv[out++] = argv[i];
            continue;
        }
        char *end = NULL;
        unsigned long long v = i + 1 < *argc ? strtoull(argv[i + 1], &end, 0) : 0;
        if (i + 1 >= *argc || *argv[i + 1] == '\0' || *argv[i + 1] == '-' || *end != '\0' ||
            v < lo || v > hi) {
            fprintf(stderr, "%s: %s wants a number in %llu..%llu\n", argv[0], argv[i], lo, hi);
            return -1;
        }
        *dst = (size_t)v;
        i++;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

/* --only W:C: one run of workload w under configuration C, one parseable
 * line. Returns 1 when it ran, 0 when w is not wanted, -1 on error. */
static int diag_run_only(const diag_workload *w, const bench_options *o)
{
    if (!bench_only_wants(o, w->name)) {
        return 0;
    }
    const char *name = strchr(o->only, ':') + 1;
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        if (strcmp(name, diag_configs[c].name) != 0) {
            continue;
        }
        double s = 0.0;
        uint64_t bytes = 0;
        long rss = -1;
        int st = diag_run(w, &diag_configs[c], &s, &bytes, &rss);
        printf("only %s:%s status=%s ms=%.3f ops=%llu frees=%llu trace_bytes=%llu "
               "peak_rss_kib=%ld\n",
               w->name, name, st == BENCH_OK ? "ok" : "error", s * 1e3,
               (unsigned long long)w->calls, (unsigned long long)w->pairs,
               (unsigned long long)bytes, rss);
        return st == BENCH_OK ? 1 : -1;
    }
    fprintf(stderr, "%s: no configuration '%s'\n%s", o->prog, name, diag_usage);
    return -1;
}

int main(int argc, char **argv)
{
    size_t nlive = DIAG_CHURN_LIVE, fixed_size = 0;
    if (diag_own_options(&argc, argv, &nlive, &fixed_size) != 0) {
        return 2;
    }
    bench_options o;
    int pr = bench_parse_options(argc, argv, &o, diag_usage);
    if (pr != 0) {
        return pr > 0 ? 0 : 2;
    }
    const char *tmpdir = getenv("TMPDIR");
#ifdef DIAG_HAVE_GETPID
    snprintf(diag_trace_path, sizeof diag_trace_path, "%s/mm_bench_diag.%ld.trace",
             tmpdir != NULL && *tmpdir != '\0' ? tmpdir : "/tmp", (long)getpid());
#else
    snprintf(diag_trace_path, sizeof diag_trace_path, "%s/mm_bench_diag.trace",
             tmpdir != NULL && *tmpdir != '\0' ? tmpdir : "/tmp");
#endif

    /* --ops sets the churn's calls; the forest count follows --quick only. */
    uint64_t churn_ops = o.ops ? o.ops : (o.quick ? DIAG_CHURN_QUICK_OPS : DIAG_CHURN_OPS);
    size_t nforests = o.quick ? DIAG_QUICK_FORESTS : DIAG_FORESTS;
    int want_churn = bench_only_wants(&o, "churn"), want_forest = bench_only_wants(&o, "forest");
    churn_plan cp;
    forest_plan fp;
    memset(&cp, 0, sizeof cp);
    memset(&fp, 0, sizeof fp);
    if ((want_churn && churn_plan_make(&cp, nlive, churn_ops, fixed_size, o.seed ^ nlive) != 0) ||
        (want_forest && forest_plan_make(&fp, nforests, o.seed) != 0)) {
        fprintf(stderr, "%s: out of memory building the plans\n", o.prog);
        churn_plan_free(&cp);
        forest_plan_free(&fp);
        return 1;
    }
    diag_workload churn = {"churn", &cp, NULL, 0, (uint64_t)cp.nlive + 2 * (uint64_t)cp.npairs,
                           cp.npairs, (uint64_t)2 * cp.nlive + 2 * (uint64_t)cp.npairs};
    diag_workload forest = {"forest", NULL, &fp, 0, forest_calls(&fp), 0, 0};
    forest.traced_calls = forest.calls;
    size_t grow_steps = o.quick ? DIAG_QUICK_GROW_STEPS : DIAG_GROW_STEPS;
    diag_workload grow = {"realloc", NULL, NULL, grow_steps, grow_steps, 0, grow_steps + 1};
    int want_grow = bench_only_wants(&o, "realloc");

    if (o.only != NULL) {
        int rc = 0, hits = 0;
        if (want_churn) {
            rc = diag_run_only(&churn, &o);
            hits += rc > 0;
        }
        if (rc >= 0 && want_forest) {
            rc = diag_run_only(&forest, &o);
            hits += rc > 0;
        }
        if (rc >= 0 && want_grow) {
            rc = diag_run_only(&grow, &o);
            hits += rc > 0;
        }
        if (hits == 0 && rc == 0) {
            fprintf(stderr, "%s: no workload called '%.*s'\n%s", o.prog,
                    (int)strcspn(o.only, ":"), o.only, diag_usage);
        }
        churn_plan_free(&cp);
        forest_plan_free(&fp);
        return hits > 0 && rc >= 0 ? 0 : 2;
    }

    bench_print_banner(stdout, "mm_bench_diag: mimicmem " MM_VERSION_STRING
                               " cost of each diagnostics mode", &o);
    char n1[32], n2[32], n3[32];
    if (fixed_size != 0) {
        printf("churn   : %s live process-wide blocks of %zu B, then %s free+malloc pairs "
               "(mm_malloc/mm_free); fill + pairs timed\n",
               bench_fmt_count(cp.nlive, n1, sizeof n1), fixed_size,
               bench_fmt_count(cp.npairs, n2, sizeof n2));
    } else {
        printf("churn   : %s live process-wide blocks, sizes log-uniform %d..%d B, then %s "
               "free+malloc pairs (mm_malloc/mm_free); fill + pairs timed\n",
               bench_fmt_count(cp.nlive, n1, sizeof n1), CHURN_MIN_SIZE, CHURN_MAX_SIZE,
               bench_fmt_count(cp.npairs, n2, sizeof n2));
    }
    printf("forest  : %zu forests of %d..%d blocks in one context, reset per forest; %s "
           "allocations, %s frees, %s workspace reallocs per run\n",
           fp.nforests, FOREST_MIN_BLOCKS, FOREST_MAX_BLOCKS, bench_fmt_count(fp.nallocs, n1, sizeof n1),
           bench_fmt_count(fp.nfrees, n2, sizeof n2), bench_fmt_count(fp.nws_grows, n3, sizeof n3));
    printf("realloc : one array grown by mm_realloc from 1 MiB to %zu MiB in 1 MiB steps, every "
           "new page written; the last array freed untimed\n",
           grow.grow_steps);
    printf("configs : alternated within each round, in table order, after one untimed warm-up "
           "run; each run enters its modes, frees all it allocated, then turns every mode off\n");
    printf("trace   : %s (deleted after each run)\n", diag_trace_path);
    fflush(stdout);

    diag_result res_churn[DIAG_NCONFIGS], res_forest[DIAG_NCONFIGS], res_grow[DIAG_NCONFIGS];
    diag_run_rounds(&churn, o.rounds, res_churn);
    diag_run_rounds(&forest, o.rounds, res_forest);
    diag_run_rounds(&grow, o.rounds, res_grow);

    bench_table *tab = bench_table_new("Median wall time per run; 'vs off' = median / the median "
                                       "with every mode off, same run (lower is better)",
                                       DIAG_COLS, diag_headers, diag_align);
    diag_table_add(tab, &churn, res_churn);
    diag_table_add(tab, &forest, res_forest);
    diag_table_add(tab, &grow, res_grow);
    bench_table_print(tab, stdout);
    bench_table_free(tab);
    printf("Trace volume (MB = 10^6 bytes; calls traced include the untimed frees of the churn's "
           "last live set):\n");
    diag_print_trace(&churn, res_churn);
    diag_print_trace(&forest, res_forest);
    diag_print_trace(&grow, res_grow);
    diag_print_rss(&grow, res_grow);

    int failed = 0;
    for (size_t c = 0; c < DIAG_NCONFIGS; c++) {
        failed |= res_churn[c].status != BENCH_OK || res_forest[c].status != BENCH_OK ||
                  res_grow[c].status != BENCH_OK;
    }
    churn_plan_free(&cp);
    forest_plan_free(&fp);
    return failed ? 1 : 0;
}
