/* bench_util.c: clock, random numbers, options, machine banner, the round
 * runner, the thread runner and the table printer shared by the benchmark
 * programs.
 * Everything OS-specific in bench/ lives here, behind #ifdefs. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "bench_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>
#define BENCH_HAVE_POSIX 1
#endif
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#ifndef MM_BENCH_DATA_DIR
#define MM_BENCH_DATA_DIR "bench/data"
#endif
#ifndef MM_BENCH_BUILD_TYPE
#define MM_BENCH_BUILD_TYPE "unknown"
#endif

/* ------------------------------------------------------------------------
 * Clock and random numbers
 * ---------------------------------------------------------------------- */

double bench_now(void)
{
    struct timespec ts;
#if defined(BENCH_HAVE_POSIX) && defined(CLOCK_MONOTONIC)
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t bench_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void bench_rng_seed(bench_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    r->state = bench_splitmix64(&x);
    if (r->state == 0) {
        r->state = 0x9e3779b97f4a7c15ULL;
    }
}

uint64_t bench_rng_next(bench_rng *r)
{
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

uint64_t bench_rng_below(bench_rng *r, uint64_t n)
{
    /* Multiply-shift on the top 32 bits: bias below 2^-32 * n, irrelevant here. */
    return ((bench_rng_next(r) >> 32) * n) >> 32;
}

double bench_rng_unit(bench_rng *r)
{
    return (double)(bench_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

size_t bench_rng_log_uniform(bench_rng *r, size_t lo, size_t hi)
{
    double a = log((double)lo);
    double b = log((double)hi + 1.0);
    size_t v = (size_t)exp(a + (b - a) * bench_rng_unit(r));
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------- */

static void bench_usage(FILE *out, const char *prog, const char *extra)
{
    fprintf(out,
            "usage: %s [--rounds N] [--quick] [--only WORKLOAD:ALLOCATOR] [--data DIR]\n"
            "          [--seed N] [--ops N]\n"
            "  --rounds N   rounds per workload, allocators alternated in each (default %d)\n"
            "  --quick      smaller workloads, for a smoke run\n"
            "  --only W:A   run one workload through one allocator once (for callgrind)\n"
            "  --data DIR   directory of mimic-trace-*.txt.gz (default %s)\n"
            "  --seed N     random seed (default 0x%llx)\n"
            "  --ops N      allocator calls per synthetic run (overrides the default)\n",
            prog, BENCH_DEFAULT_ROUNDS, MM_BENCH_DATA_DIR, (unsigned long long)BENCH_DEFAULT_SEED);
    if (extra != NULL) {
        fputs(extra, out);
    }
}

/* Value of option name at argv[*i] ("--name V" or "--name=V"), or NULL if
 * argv[*i] is not that option. Sets *missing when the value is absent. */
static const char *bench_option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) {
        return NULL;
    }
    if (a[n] == '=') {
        return a + n + 1;
    }
    if (a[n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    *i += 1;
    return argv[*i];
}

static int bench_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    if (s == NULL || *s == '\0' || *s == '-') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 0);
    if (*end != '\0') {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int bench_parse_options(int argc, char **argv, bench_options *o, const char *usage_extra)
{
    memset(o, 0, sizeof *o);
    o->prog = argc > 0 ? argv[0] : "bench";
    o->rounds = BENCH_DEFAULT_ROUNDS;
    o->data_dir = MM_BENCH_DATA_DIR;
    o->seed = BENCH_DEFAULT_SEED;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        uint64_t n = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            bench_usage(stdout, o->prog, usage_extra);
            return 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
        } else if ((v = bench_option_value(argc, argv, &i, "--rounds", &missing)) != NULL) {
            if (bench_parse_u64(v, &n) != 0 || n < 1 || n > 1000) {
                fprintf(stderr, "%s: --rounds wants 1..1000, not '%s'\n", o->prog, v);
                return -1;
            }
            o->rounds = (int)n;
        } else if ((v = bench_option_value(argc, argv, &i, "--only", &missing)) != NULL) {
            if (strchr(v, ':') == NULL) {
                fprintf(stderr, "%s: --only wants WORKLOAD:ALLOCATOR, not '%s'\n", o->prog, v);
                return -1;
            }
            o->only = v;
        } else if ((v = bench_option_value(argc, argv, &i, "--data", &missing)) != NULL) {
            o->data_dir = v;
        } else if ((v = bench_option_value(argc, argv, &i, "--seed", &missing)) != NULL) {
            if (bench_parse_u64(v, &o->seed) != 0) {
                fprintf(stderr, "%s: bad --seed '%s'\n", o->prog, v);
                return -1;
            }
        } else if ((v = bench_option_value(argc, argv, &i, "--ops", &missing)) != NULL) {
            if (bench_parse_u64(v, &o->ops) != 0 || o->ops == 0) {
                fprintf(stderr, "%s: bad --ops '%s'\n", o->prog, v);
                return -1;
            }
        } else {
            fprintf(stderr, "%s: %s '%s'\n", o->prog, missing ? "missing value for" : "unknown option",
                    argv[i]);
            bench_usage(stderr, o->prog, usage_extra);
            return -1;
        }
        if (missing) {
            fprintf(stderr, "%s: missing value for '%s'\n", o->prog, argv[i]);
            return -1;
        }
    }
    return 0;
}

char *bench_trace_path(const bench_options *o, const char *name, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s/mimic-trace-%s.txt.gz", o->data_dir, name);
    return buf;
}

int bench_trace_wanted(const bench_options *o, const char *name, char *label, size_t labellen,
                       char *path, size_t pathlen)
{
    snprintf(label, labellen, "trace-%s", name);
    bench_trace_path(o, name, path, pathlen);
    return bench_only_wants(o, label);
}

/* ------------------------------------------------------------------------
 * Machine banner
 * ---------------------------------------------------------------------- */

static void bench_cpu_model(char *buf, size_t buflen)
{
    snprintf(buf, buflen, "unknown CPU");
#ifdef __linux__
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) {
        return;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon != NULL) {
                colon++;
                while (*colon == ' ' || *colon == '\t') {
                    colon++;
                }
                snprintf(buf, buflen, "%s", colon);
                buf[strcspn(buf, "\n")] = '\0';
            }
            break;
        }
    }
    fclose(f);
#endif
}

void bench_print_banner(FILE *out, const char *title, const bench_options *o)
{
    char cpu[128];
    bench_cpu_model(cpu, sizeof cpu);
    fprintf(out, "%s\n", title);
#ifdef BENCH_HAVE_POSIX
    struct utsname u;
    if (uname(&u) == 0) {
        fprintf(out, "machine : %s %s %s %s\n", u.sysname, u.nodename, u.release, u.machine);
    }
    fprintf(out, "nproc   : %ld online CPUs; %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu);
#else
    fprintf(out, "machine : %s\n", cpu);
#endif
#ifdef __GLIBC__
    fprintf(out, "libc    : glibc %s\n", gnu_get_libc_version());
#endif
#ifdef __linux__
    FILE *la = fopen("/proc/loadavg", "r");
    double l1 = 0, l5 = 0, l15 = 0;
    if (la != NULL) {
        if (fscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3) {
            fprintf(out, "load    : %.2f %.2f %.2f (1, 5, 15 min) at start; other work on the "
                         "machine skews the timings\n", l1, l5, l15);
        }
        fclose(la);
    }
#endif
#if defined(__clang__)
    fprintf(out, "compiler: clang %s, build type %s\n", __clang_version__, MM_BENCH_BUILD_TYPE);
#elif defined(__GNUC__)
    fprintf(out, "compiler: gcc %s, build type %s\n", __VERSION__, MM_BENCH_BUILD_TYPE);
#else
    fprintf(out, "compiler: unknown, build type %s\n", MM_BENCH_BUILD_TYPE);
#endif
    fprintf(out, "seed    : 0x%016llx    rounds: %d (allocators alternated in each round; "
                 "median reported)%s\n",
            (unsigned long long)o->seed, o->rounds, o->quick ? "    QUICK (reduced sizes)" : "");
    fflush(out);
}

/* ------------------------------------------------------------------------
 * Rounds
 * ---------------------------------------------------------------------- */

void bench_add_variant(bench_workload *w, const char *name, bench_fn fn, void *arg)
{
    if (w->nvariants >= BENCH_MAX_VARIANTS) {
        fprintf(stderr, "bench: too many variants in %s\n", w->name);
        return;
    }
    w->variants[w->nvariants].name = name;
    w->variants[w->nvariants].fn = fn;
    w->variants[w->nvariants].arg = arg;
    w->nvariants++;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------- */

#ifdef BENCH_HAVE_POSIX
typedef struct {
    bench_thread_fn fn; /* what the thread runs */
    const void *arg;    /* its argument */
    int status;         /* fn's return */
} bench_thread_job;

static void *bench_thread_main(void *arg)
{
    bench_thread_job *j = arg;
    j->status = j->fn(j->arg);
    return NULL;
}

static double bench_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}
#endif

int bench_run_threads(bench_thread_fn fn, const void *arg, int nthreads, double *wall_s,
                      double *cpu_s)
{
    *wall_s = 0.0;
    if (cpu_s != NULL) {
        *cpu_s = 0.0;
    }
#ifdef BENCH_HAVE_POSIX
    pthread_t tid[BENCH_MAX_THREADS];
    bench_thread_job jobs[BENCH_MAX_THREADS];
    int started = 0, st = BENCH_OK;
    double c0 = cpu_s != NULL ? bench_cpu_seconds() : 0.0, t0 = bench_now();
    for (int i = 0; i < nthreads && i < BENCH_MAX_THREADS; i++) {
        jobs[i].fn = fn;
        jobs[i].arg = arg;
        jobs[i].status = 0;
        if (pthread_create(&tid[i], NULL, bench_thread_main, &jobs[i]) != 0) {
            st = BENCH_ERROR;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        if (jobs[i].status != 0) {
            st = BENCH_ERROR;
        }
    }
    *wall_s = bench_now() - t0;
    if (cpu_s != NULL) {
        *cpu_s = bench_cpu_seconds() - c0;
    }
    return st;
#else
    (void)fn;
    (void)arg;
    (void)nthreads;
    return BENCH_ERROR;
#endif
}

int bench_tally(const bench_options *o, const int rcs[], size_t n, const char *usage, int *failed)
{
    int hits = 0;
    *failed = 0;
    for (size_t i = 0; i < n; i++) {
        hits += rcs[i] > 0;
        *failed |= rcs[i] < 0;
    }
    if (o->only == NULL) {
        return -1;
    }
    if (hits == 0 && !*failed) {
        fprintf(stderr, "%s: no workload called '%.*s'\n%s", o->prog, (int)strcspn(o->only, ":"),
                o->only, usage);
    }
    return hits > 0 && !*failed ? 0 : 2;
}

void bench_run_rounds(const bench_workload *w, int rounds, bench_result out[])
{
    double *times = calloc((size_t)rounds * w->nvariants, sizeof *times);
    if (times == NULL) {
        for (size_t v = 0; v < w->nvariants; v++) {
            out[v].status = BENCH_ERROR;
            out[v].nrounds = 0;
        }
        return;
    }
    for (size_t v = 0; v < w->nvariants; v++) {
        memset(&out[v], 0, sizeof out[v]);
    }
    fprintf(stderr, "  %s: %d rounds x %zu allocators...\n", w->name, rounds, w->nvariants);
    double started = bench_now();
    for (int r = 0; r < rounds; r++) {
        for (size_t v = 0; v < w->nvariants; v++) {
            if (out[v].status != BENCH_OK) {
                continue;
            }
            double s = 0.0;
            int st = w->variants[v].fn(w->variants[v].arg, &s);
            if (st != BENCH_OK) {
                out[v].status = st;
                continue;
            }
            times[v * (size_t)rounds + (size_t)out[v].nrounds] = s;
            out[v].nrounds++;
        }
    }
    fprintf(stderr, "  %s: done in %.1f s\n", w->name, bench_now() - started);
    for (size_t v = 0; v < w->nvariants; v++) {
        double *t = times + v * (size_t)rounds;
        size_t n = (size_t)out[v].nrounds;
        if (n == 0) {
            if (out[v].status == BENCH_OK) {
                out[v].status = BENCH_ERROR;
            }
            continue;
        }
        out[v].median_s = bench_median(t, n);
        out[v].min_s = t[0];
        out[v].max_s = t[n - 1];
    }
    free(times);
}

int bench_only_wants(const bench_options *o, const char *workload)
{
    if (o->only == NULL) {
        return 1;
    }
    size_t n = strcspn(o->only, ":");
    return strlen(workload) == n && strncmp(o->only, workload, n) == 0;
}

int bench_run_only(const bench_workload *w, const bench_options *o)
{
    if (!bench_only_wants(o, w->name)) {
        return 0;
    }
    const char *alloc = strchr(o->only, ':') + 1;
    for (size_t v = 0; v < w->nvariants; v++) {
        if (strcmp(alloc, w->variants[v].name) != 0) {
            continue;
        }
        double s = 0.0;
        int st = w->variants[v].fn(w->variants[v].arg, &s);
        printf("only %s:%s status=%s ms=%.3f ops=%llu frees=%llu\n", w->name, w->variants[v].name,
               st == BENCH_OK ? "ok" : (st == BENCH_FATAL ? "fatal" : "error"), s * 1e3,
               (unsigned long long)w->ops, (unsigned long long)w->frees);
        return 1;
    }
    fprintf(stderr, "%s: workload %s has no allocator '%s'; it has:", o->prog, w->name, alloc);
    for (size_t v = 0; v < w->nvariants; v++) {
        fprintf(stderr, " %s", w->variants[v].name);
    }
    fprintf(stderr, "\n");
    return -1;
}

/* ------------------------------------------------------------------------
 * Tables
 * ---------------------------------------------------------------------- */

typedef struct {
    int rule;                                       /* a separator line, no cells */
    char cells[BENCH_TABLE_MAX_COLS][BENCH_CELL_MAX]; /* NUL-terminated cell texts */
} bench_row;

struct bench_table {
    char title[256];                     /* printed above the table */
    size_t ncols;                        /* columns, <= BENCH_TABLE_MAX_COLS */
    char align[BENCH_TABLE_MAX_COLS];    /* 'l' or 'r' per column */
    bench_row header;                    /* column titles */
    bench_row *rows;                     /* nrows rows */
    size_t nrows;                        /* rows used */
    size_t cap;                          /* rows allocated */
};

bench_table *bench_table_new(const char *title, size_t ncols, const char *const headers[], const char *align)
{
    bench_table *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    if (ncols > BENCH_TABLE_MAX_COLS) {
        ncols = BENCH_TABLE_MAX_COLS;
    }
    snprintf(t->title, sizeof t->title, "%s", title != NULL ? title : "");
    t->ncols = ncols;
    for (size_t c = 0; c < ncols; c++) {
        t->align[c] = (align != NULL && align[c] == 'l') ? 'l' : 'r';
        snprintf(t->header.cells[c], BENCH_CELL_MAX, "%s", headers[c]);
    }
    return t;
}

static bench_row *bench_table_push(bench_table *t)
{
    if (t == NULL) {
        return NULL;
    }
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        bench_row *rows = realloc(t->rows, cap * sizeof *rows);
        if (rows == NULL) {
            return NULL;
        }
        t->rows = rows;
        t->cap = cap;
    }
    bench_row *r = &t->rows[t->nrows++];
    memset(r, 0, sizeof *r);
    return r;
}

void bench_table_row(bench_table *t, const char *const cells[])
{
    bench_row *r = bench_table_push(t);
    if (r == NULL) {
        return;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        snprintf(r->cells[c], BENCH_CELL_MAX, "%s", cells[c] != NULL ? cells[c] : "");
    }
}

void bench_table_rule(bench_table *t)
{
    bench_row *r = bench_table_push(t);
    if (r != NULL) {
        r->rule = 1;
    }
}

static void bench_print_cells(const bench_table *t, const bench_row *r, const size_t width[], FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        int w = (int)width[c];
        const char *sep = c + 1 < t->ncols ? "  " : "";
        if (t->align[c] == 'l' && c + 1 == t->ncols) {
            fprintf(out, "%s", r->cells[c]);
        } else if (t->align[c] == 'l') {
            fprintf(out, "%-*s%s", w, r->cells[c], sep);
        } else {
            fprintf(out, "%*s%s", w, r->cells[c], sep);
        }
    }
    fputc('\n', out);
}

void bench_table_print(const bench_table *t, FILE *out)
{
    if (t == NULL) {
        return;
    }
    size_t width[BENCH_TABLE_MAX_COLS] = {0};
    size_t total = 0;
    for (size_t c = 0; c < t->ncols; c++) {
        width[c] = strlen(t->header.cells[c]);
        for (size_t i = 0; i < t->nrows; i++) {
            size_t n = strlen(t->rows[i].cells[c]);
            if (!t->rows[i].rule && n > width[c]) {
                width[c] = n;
            }
        }
        total += width[c] + (c + 1 < t->ncols ? 2 : 0);
    }
    fprintf(out, "\n%s\n", t->title);
    bench_print_cells(t, &t->header, width, out);
    for (size_t i = 0; i < total; i++) {
        fputc('-', out);
    }
    fputc('\n', out);
    for (size_t i = 0; i < t->nrows; i++) {
        if (t->rows[i].rule) {
            fputc('\n', out);
        } else {
            bench_print_cells(t, &t->rows[i], width, out);
        }
    }
    fflush(out);
}

void bench_table_free(bench_table *t)
{
    if (t != NULL) {
        free(t->rows);
        free(t);
    }
}

const char *const bench_standard_headers[BENCH_STANDARD_COLS] = {
    "workload", "allocator", "ops", "median ms", "min ms", "max ms", "ns/op", "vs malloc"};
const char bench_standard_align[BENCH_STANDARD_COLS + 1] = "llrrrrrr";

int bench_run_standard(const bench_workload *w, const bench_options *o, bench_table *t,
                       bench_result res[])
{
    if (o->only != NULL) {
        return bench_run_only(w, o) == 1 ? 1 : -1;
    }
    bench_run_rounds(w, o->rounds, res);
    bench_table_add_results(t, w, res);
    bench_table_rule(t);
    return 0;
}

int bench_table_add_load_failure(bench_table *t, const bench_options *o, const char *workload,
                                 const char *noun, const char *why)
{
    fprintf(stderr, "%s: %s\n", o->prog, why);
    if (o->only == NULL) {
        char what[BENCH_CELL_MAX];
        snprintf(what, sizeof what, "ERROR: %s not loaded", noun);
        const char *cells[BENCH_STANDARD_COLS] = {workload, "(all)", "-", "-", "-", "-", "-", what};
        bench_table_row(t, cells);
        bench_table_rule(t);
    }
    return -1;
}

void bench_table_add_results(bench_table *t, const bench_workload *w, const bench_result res[])
{
    char ops[32], med[32], lo[32], hi[32], nsop[32], ratio[BENCH_CELL_MAX];
    bench_fmt_count(w->ops, ops, sizeof ops);
    for (size_t v = 0; v < w->nvariants; v++) {
        const bench_result *r = &res[v];
        if (r->status != BENCH_OK) {
            const char *what = r->status == BENCH_FATAL ? BENCH_FATAL_CELL : "ERROR";
            const char *cells[BENCH_STANDARD_COLS] = {
                v == 0 ? w->name : "", w->variants[v].name, ops, "-", "-", "-", "-", what};
            bench_table_row(t, cells);
            continue;
        }
        bench_fmt_ms(r->median_s, med, sizeof med);
        bench_fmt_ms(r->min_s, lo, sizeof lo);
        bench_fmt_ms(r->max_s, hi, sizeof hi);
        snprintf(nsop, sizeof nsop, "%.1f", w->ops ? r->median_s * 1e9 / (double)w->ops : 0.0);
        if (res[0].status == BENCH_OK && res[0].median_s > 0.0) {
            bench_fmt_ratio(r->median_s / res[0].median_s, ratio, sizeof ratio);
        } else {
            snprintf(ratio, sizeof ratio, "-");
        }
        const char *cells[BENCH_STANDARD_COLS] = {
            v == 0 ? w->name : "", w->variants[v].name, ops, med, lo, hi, nsop, ratio};
        bench_table_row(t, cells);
    }
}

char *bench_fmt_count(uint64_t n, char *buf, size_t buflen)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t len = strlen(digits);
    size_t j = 0;
    for (size_t i = 0; i < len && j + 2 < buflen; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            buf[j++] = ',';
        }
        buf[j++] = digits[i];
    }
    buf[j] = '\0';
    return buf;
}

char *bench_fmt_ms(double seconds, char *buf, size_t buflen)
{
    double ms = seconds * 1e3;
    snprintf(buf, buflen, ms < 10.0 ? "%.3f" : (ms < 1000.0 ? "%.2f" : "%.1f"), ms);
    return buf;
}

char *bench_fmt_ratio(double ratio, char *buf, size_t buflen)
{
    snprintf(buf, buflen, ratio < 10.0 ? "%.2fx" : (ratio < 100.0 ? "%.1fx" : "%.0fx"), ratio);
    return buf;
}
