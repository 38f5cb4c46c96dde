/* bench_util: what the benchmark programs share: the clock, a seeded random
 * generator, command-line options, the machine banner, the round runner
 * (variants alternated ABCABC..., medians), the thread runner and the aligned
 * table printer. */
#ifndef MM_BENCH_UTIL_H
#define MM_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#if defined(__clang__)
#define BENCH_NOINLINE __attribute__((noinline))
#else
#define BENCH_NOINLINE __attribute__((noinline, noclone))
#endif
#else
#define BENCH_NOINLINE
#endif

/* For a loop written once and inlined into several functions, each with its
 * own calls passed as constant function pointers: after inlining, each copy
 * makes direct calls only. */
#if defined(__GNUC__) || defined(__clang__)
#define BENCH_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define BENCH_ALWAYS_INLINE inline
#endif

/* Default seed; --seed overrides it. Printed in every banner. */
#define BENCH_DEFAULT_SEED 0x6d696d69636d656dULL /* "mimicmem" */
#define BENCH_DEFAULT_ROUNDS 5
#define BENCH_MAX_VARIANTS 8

/* ------------------------------------------------------------------------
 * Clock and random numbers
 * ---------------------------------------------------------------------- */

/* Monotonic wall time in seconds (clock_gettime(CLOCK_MONOTONIC)). */
double bench_now(void);

/* xorshift64* seeded through splitmix64: fast, reproducible from one seed. */
typedef struct {
    uint64_t state; /* never 0 */
} bench_rng;

void bench_rng_seed(bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(bench_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t bench_rng_below(bench_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double bench_rng_unit(bench_rng *r);
/* Log-uniform integer in [lo, hi]; 0 < lo <= hi. */
size_t bench_rng_log_uniform(bench_rng *r, size_t lo, size_t hi);

/* Keeps the compiler from dropping a store to a block: writes one byte
 * through a volatile pointer. */
static inline void bench_touch(void *p, unsigned char v)
{
    *(volatile unsigned char *)p = v;
}

/* Writes one byte in every 4 KiB page of a block of n bytes (and its last
 * byte), as a simulation writes the data it allocates: an allocator that gave
 * its pages back to the kernel pays the page faults again. */
static inline void bench_write_pages(void *p, size_t n, unsigned char v)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < n; i += 4096) {
        b[i] = v;
    }
    if (n > 0) {
        b[n - 1] = v;
    }
}

/* ------------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------- */

typedef struct {
    const char *prog;     /* argv[0] */
    int rounds;           /* rounds per workload (--rounds N) */
    int quick;            /* --quick: smaller workloads for a smoke run */
    const char *only;     /* --only WORKLOAD:ALLOCATOR, or NULL */
    const char *data_dir; /* --data DIR: where the mimic-trace-*.txt.gz files are */
    uint64_t seed;        /* --seed N */
    uint64_t ops;         /* --ops N: override the op count of synthetic workloads (0: default) */
} bench_options;

/* Parses argv. Returns 0 to run, 1 when --help was printed (exit 0), -1
 * after printing an error (exit 2). usage_extra is appended to --help. */
int bench_parse_options(int argc, char **argv, bench_options *o, const char *usage_extra);

/* Path of the named trace ("mm" -> DIR/mimic-trace-mm.txt.gz) into buf. */
char *bench_trace_path(const bench_options *o, const char *name, char *buf, size_t buflen);

/* The workload of the named trace: its label ("mm" -> "trace-mm") into
 * label and its path into path. Returns whether --only wants it (always
 * without --only). */
int bench_trace_wanted(const bench_options *o, const char *name, char *label, size_t labellen,
                       char *path, size_t pathlen);

/* Prints the title, machine (uname, nproc, CPU model, libc, compiler, build
 * type), seed and rounds. */
void bench_print_banner(FILE *out, const char *title, const bench_options *o);

/* ------------------------------------------------------------------------
 * Rounds
 * ---------------------------------------------------------------------- */

enum {
    BENCH_OK = 0,    /* the run completed */
    BENCH_FATAL = 1, /* the allocator gave up (e.g. legacy table full): a FATAL cell */
    BENCH_ERROR = 2  /* something else failed: an ERROR cell */
};

/* Runs a workload once through one allocator, sets *seconds to the time of
 * the measured part only (setup and teardown excluded) and returns BENCH_*. */
typedef int (*bench_fn)(void *arg, double *seconds);

typedef struct {
    const char *name;   /* allocator label: "malloc", "mm", "legacy", ... */
    bench_fn fn;        /* the run */
    void *arg;          /* passed to fn */
} bench_variant;

typedef struct {
    const char *name;       /* workload label, e.g. "churn50k" */
    uint64_t ops;           /* allocator calls per run, for ns/op */
    uint64_t frees;         /* calls of the bench_free_* wrapper per run (callgrind), 0 if none */
    size_t nvariants;       /* entries of variants; variants[0] is the ratio baseline */
    bench_variant variants[BENCH_MAX_VARIANTS];
} bench_workload;

typedef struct {
    int status;          /* BENCH_OK, or the first non-OK status seen */
    int nrounds;         /* rounds that completed */
    double median_s;     /* median over completed rounds */
    double min_s;        /* fastest round */
    double max_s;        /* slowest round */
} bench_result;

/* Adds a variant to w (at most BENCH_MAX_VARIANTS). */
void bench_add_variant(bench_workload *w, const char *name, bench_fn fn, void *arg);

/* Runs every variant of w rounds times, alternating them within each round
 * (ABCABC...). A variant that returns FATAL or ERROR is not run again.
 * Progress goes to stderr. */
void bench_run_rounds(const bench_workload *w, int rounds, bench_result out[]);

/* Whether --only selects workload name (always true without --only). */
int bench_only_wants(const bench_options *o, const char *workload);

/* With --only: runs the one matching variant of w once, prints a parseable
 * line ("only NAME:ALLOC status=.. ms=.. ops=.. frees=..") and returns 1;
 * returns 0 when w has no matching variant. */
int bench_run_only(const bench_workload *w, const bench_options *o);

/* Median of n values (n > 0); v is reordered. */
double bench_median(double *v, size_t n);

/* Tallies the returns of a program's workload runners (1: ran the --only
 * variant, 0: not run, -1: failed): *failed is set when one failed. With
 * --only, says so on stderr when no workload has that name (usage follows)
 * and returns the exit status, 0 or 2; without, returns -1 (go on). */
int bench_tally(const bench_options *o, const int rcs[], size_t n, const char *usage, int *failed);

/* ------------------------------------------------------------------------
 * Threads
 * ---------------------------------------------------------------------- */

#define BENCH_MAX_THREADS 8

/* What each thread runs; its return is 0 for success. */
typedef int (*bench_thread_fn)(const void *arg);

/* Runs fn(arg) on nthreads (1..BENCH_MAX_THREADS) new threads at once and
 * waits for them. *wall_s is the time from before the first pthread_create
 * to after the last join; *cpu_s (unless NULL) the process's CPU time, user
 * plus system, over the same span, which counts every thread (the joining
 * thread sleeps). BENCH_OK, or BENCH_ERROR when a thread could not start or
 * an fn returned non-zero. POSIX only; elsewhere BENCH_ERROR. */
int bench_run_threads(bench_thread_fn fn, const void *arg, int nthreads, double *wall_s,
                      double *cpu_s);

/* ------------------------------------------------------------------------
 * Tables
 * ---------------------------------------------------------------------- */

#define BENCH_TABLE_MAX_COLS 10
#define BENCH_CELL_MAX 40

typedef struct bench_table bench_table;

/* A table with ncols columns; align holds one 'l' or 'r' per column. */
bench_table *bench_table_new(const char *title, size_t ncols, const char *const headers[], const char *align);
/* Appends a row of ncols strings (copied, cut at BENCH_CELL_MAX-1 bytes). */
void bench_table_row(bench_table *t, const char *const cells[]);
/* Appends a separator line. */
void bench_table_rule(bench_table *t);
void bench_table_print(const bench_table *t, FILE *out);
void bench_table_free(bench_table *t);

/* Appends the rows of one workload in the standard layout (see
 * bench_standard_headers): one row per variant, ratio to variants[0]. */
void bench_table_add_results(bench_table *t, const bench_workload *w, const bench_result res[]);
/* Runs workload w as the programs do: with --only, its matching variant once
 * (bench_run_only), returning 1 when that ran and succeeded, else -1; without,
 * every variant for --rounds rounds into res, its rows and a rule appended
 * to t, returning 0. */
int bench_run_standard(const bench_workload *w, const bench_options *o, bench_table *t,
                       bench_result res[]);
/* For a workload whose input could not be loaded: prints "PROG: why" to
 * stderr and, unless --only is given, appends its row in the standard layout
 * ("ERROR: NOUN not loaded") and a rule. Returns -1, for the caller to return:
 * the tables still print, the exit status says something was missing. */
int bench_table_add_load_failure(bench_table *t, const bench_options *o, const char *workload,
                                 const char *noun, const char *why);
/* Headers of the standard layout (BENCH_STANDARD_COLS columns) and alignment. */
#define BENCH_STANDARD_COLS 8
extern const char *const bench_standard_headers[BENCH_STANDARD_COLS];
extern const char bench_standard_align[BENCH_STANDARD_COLS + 1];

/* Formatting: "2,000,000"; "12.34"; "1.07x". */
char *bench_fmt_count(uint64_t n, char *buf, size_t buflen);
char *bench_fmt_ms(double seconds, char *buf, size_t buflen);
char *bench_fmt_ratio(double ratio, char *buf, size_t buflen);

/* The text of a FATAL cell. */
#define BENCH_FATAL_CELL "FATAL (>50,000 live blocks)"

#endif /* MM_BENCH_UTIL_H */
