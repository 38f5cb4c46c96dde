/* Unit tests for tools/replay: the model pass on a hand-written trace whose
 * figures are worked out below, the recorded Mimic trace against the figures
 * of its README, mimicmem's statistics against the model, the timed pass
 * (legacy table full included), bad input with its line number, the
 * mimicmem-replay program itself run as a child (JSON, exit statuses, its
 * environment), and the round trip: random API sequences traced by mimicmem,
 * replayed, and the replay's figures against what mimicmem reported live
 * (the driver is tests/fuzz/roundtrip.h, shared with fuzz_roundtrip). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mimicmem.h"
#include "mm_json.h"
#include "mm_test.h"
#include "replay_core.h"
#include "../fuzz/roundtrip.h"

#ifndef MMR_TEST_TOOL
#error "MMR_TEST_TOOL (path of mimicmem-replay) must be defined by tests/CMakeLists.txt"
#endif
#ifndef MMR_TEST_SMALL_TRACE
#error "MMR_TEST_SMALL_TRACE (path of mimic-trace-small.txt.gz) must be defined"
#endif

/* ------------------------------------------------------------------------
 * Helpers: temporary traces, a child running the tool
 * ---------------------------------------------------------------------- */

/* Writes text to a new temporary file; its path goes to path (64 bytes). */
static void write_temp(const char *text, char *path)
{
    snprintf(path, 64, "/tmp/mmr_test_XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp should create a temporary file: %s", strerror(errno));
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f, "fdopen should succeed");
    cr_assert_eq(fputs(text, f) >= 0, 1, "writing the trace should succeed");
    cr_assert_eq(fclose(f), 0, "closing the trace should succeed");
}

/* Loads text as a trace; the file is removed again. */
static int load_text(const char *text, trace *t, char *err, size_t errlen, char *path)
{
    write_temp(text, path);
    int rc = mmr_load(path, t, err, errlen);
    unlink(path);
    return rc;
}

typedef struct {
    int exit_status; /* exit status, or -1 when a signal ended the child */
    char *out;       /* its stdout (malloc'd) */
    char *err;       /* its stderr (malloc'd) */
} tool_run;

extern char **environ;

/* In a child about to exec: unsets every MIMICMEM_* variable the test
 * inherited (tools/valgrind.sh exports MIMICMEM_CACHE=0), so the tool's
 * stderr is the same under every harness; 0, or -1 when one stays. */
static int child_clear_mimicmem_environment(void)
{
    for (;;) {
        char name[256];
        const char *var = NULL;
        for (char **v = environ; v != NULL && *v != NULL && var == NULL; v++) {
            if (strncmp(*v, "MIMICMEM_", 9) == 0) {
                var = *v;
            }
        }
        if (var == NULL) {
            return 0;
        }
        size_t n = strcspn(var, "=");
        if (n >= sizeof name) {
            return -1;
        }
        memcpy(name, var, n);
        name[n] = '\0';
        if (unsetenv(name) != 0) {
            return -1;
        }
    }
}

/* Runs mimicmem-replay with args (NULL-terminated, program name excluded)
 * and, in the child only, the variables of env (name, value, name, value,
 * ..., NULL; NULL for none) set in its environment, which holds no other
 * MIMICMEM_* variable. */
static void run_tool_env(const char *const args[], const char *const env[], tool_run *r)
{
    char out_path[64], err_path[64];
    write_temp("", out_path);
    write_temp("", err_path);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = MMR_TEST_TOOL;
    for (size_t i = 0; args[i] != NULL && n + 1 < 16; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork() should succeed: %s", strerror(errno));
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_TRUNC);
        int e = open(err_path, O_WRONLY | O_TRUNC);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) {
            _exit(126);
        }
        if (child_clear_mimicmem_environment() != 0) {
            _exit(125);
        }
        for (size_t i = 0; env != NULL && env[i] != NULL && env[i + 1] != NULL; i += 2) {
            if (setenv(env[i], env[i + 1], 1) != 0) {
                _exit(125);
            }
        }
        execv(MMR_TEST_TOOL, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid should return the child");
    r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r->out = mmt_read_file(out_path, "the tool's stdout");
    r->err = mmt_read_file(err_path, "the tool's stderr");
    unlink(out_path);
    unlink(err_path);
}

static void run_tool(const char *const args[], tool_run *r)
{
    run_tool_env(args, NULL, r);
}

/* Options for one timed round, after the trace's path. */
static const char *const one_round[] = {"--rounds", "1", NULL};

/* Writes text to a temporary trace and runs the tool on it with opts
 * (NULL-terminated) after the trace's path; the trace is removed again. Its
 * path goes to path (64 bytes), for the messages that name it. */
static void run_tool_on_text(const char *text, const char *const opts[], tool_run *r, char *path)
{
    write_temp(text, path);
    const char *args[16];
    size_t n = 0;
    args[n++] = path;
    for (size_t i = 0; opts[i] != NULL && n + 1 < 16; i++) {
        args[n++] = opts[i];
    }
    args[n] = NULL;
    run_tool(args, r);
    unlink(path);
}

static void tool_run_free(tool_run *r)
{
    free(r->out);
    free(r->err);
}

static const mmr_category *find_category(const mmr_summary *s, mm_category c)
{
    for (size_t k = 0; k < s->ncategories; k++) {
        if (s->categories[k].category == c) {
            return &s->categories[k];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * The hand-written trace
 *
 * Running state after each operation (L live bytes, N live blocks; per
 * category H Halos, T Trees, I IO, U Utility, C Cooling):
 *
 *   op  line               L     N  what changes
 *    1  A 1 100 Utility    100   1  U 100
 *    2  F 0                            forest 0 starts
 *    3  A 2 1000 Halos     1100  2  H 1000  (Halos' own peak)
 *    4  A 3 500 Trees      1600  3  T 500
 *    5  D 2                600   2  H 0
 *    6  F 1                            forest 1 starts
 *    7  A 4 300 Halos      900   3  H 300
 *    8  A 5 200 Cooling    1100  4  C 200
 *    9  R 5 900 Cooling    1800  4  C 900   <- the peak: first time above 1600
 *   10  A 6 0 IO           1800  5  I 0     (ties the peak: not the moment)
 *   11  D 4                1500  4  H 0
 *   12  A 7 300 Trees      1800  5  T 800   (ties again; Trees' own peak)
 *   13  F 5                            forest value 5 (values need not run on)
 *   14  D 7                1500  4  T 500
 *   15  D 6                1500  3
 *   16  D 5                600   2  C 0
 *   17  D 3                100   1  T 0
 *   18  R 1 50 IO          50    1  U 0, I 50 (moves the block to IO)
 *   19  D 1                0     0
 *
 * Peak 1,800 bytes at op 9, in forest 1, 4 live blocks. Max live blocks 5.
 * At the peak: Halos 300 + Trees 500 + IO 0 + Utility 100 + Cooling 900 =
 * 1,800. Own peaks: Halos 1,000, Trees 800, IO 50, Utility 100, Cooling 900.
 * ---------------------------------------------------------------------- */

static const char hand_trace[] = "# mimic allocation trace v1\n"
                                 "# written by hand for test_replay.c\n"
                                 "A 1 100 Utility\n"
                                 "F 0\n"
                                 "A 2 1000 Halos\n"
                                 "A 3 500 Trees\n"
                                 "D 2\n"
                                 "\n"
                                 "F 1\n"
                                 "A 4 300 Halos\n"
                                 "A 5 200 Cooling\n"
                                 "R 5 900 Cooling\n"
                                 "A 6 0 IO\n"
                                 "D 4\n"
                                 "A 7 300 Trees\n"
                                 "F 5\n"
                                 "D 7\n"
                                 "D 6\n"
                                 "D 5\n"
                                 "D 3\n"
                                 "R 1 50 IO\n"
                                 "D 1\n";

Test(replay, hand_trace_gives_the_figures_worked_out_by_hand)
{
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text(hand_trace, &t, err, sizeof err, path), 0, "the trace should load: %s",
                 err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0, "the analysis should succeed");

    cr_expect_eq(s.operations, 19, "19 operations (comments and blank lines are not), got %zu",
                 s.operations);
    cr_expect_eq(s.forests, 3, "3 forests, got %zu", s.forests);
    cr_expect_eq(s.allocs, 7, "7 allocations, got %zu", s.allocs);
    cr_expect_eq(s.reallocs, 2, "2 reallocs, got %zu", s.reallocs);
    cr_expect_eq(s.frees, 7, "7 frees, got %zu", s.frees);
    cr_expect_eq(s.blocks, 7, "7 blocks, got %zu", s.blocks);
    cr_expect_eq(s.peak_bytes, 1800, "peak 1,800 bytes, got %llu", (unsigned long long)s.peak_bytes);
    cr_expect_eq(s.peak_operation, 9, "the peak is made by op 9 (the first to reach it), got %zu",
                 s.peak_operation);
    cr_expect_eq(s.peak_forest, 1, "the peak is in forest 1, got %lld", (long long)s.peak_forest);
    cr_expect_eq(s.live_blocks_at_peak, 4, "4 live blocks at the peak, got %zu",
                 s.live_blocks_at_peak);
    cr_expect_eq(s.max_live_blocks, 5, "at most 5 live blocks, got %zu", s.max_live_blocks);
    cr_expect_eq(s.live_blocks_at_end, 0, "no block left live, got %zu", s.live_blocks_at_end);

    mm_category cooling = mm_category_find("Cooling");
    cr_assert_geq(cooling, MM_CAT_BUILTIN_COUNT, "loading registers Cooling");
    cr_assert_eq(s.ncategories, 5, "5 categories occur (Halos Trees IO Utility Cooling), got %zu",
                 s.ncategories);
    static const struct {
        mm_category cat;       /* which */
        uint64_t peak_bytes;   /* own peak */
        uint64_t at_peak;      /* bytes at the total peak */
        uint64_t allocs;       /* A lines */
    } want[] = {{MM_CAT_HALOS, 1000, 300, 2}, {MM_CAT_TREES, 800, 500, 2}, {MM_CAT_IO, 50, 0, 1},
                {MM_CAT_UTILITY, 100, 100, 1}};
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mmr_category *c = &s.categories[i];
        cr_expect_eq(c->category, want[i].cat, "categories come in id order: %zu is %d, got %d",
                     i, want[i].cat, c->category);
        cr_expect_eq(c->peak_bytes, want[i].peak_bytes, "%s own peak %llu, got %llu",
                     mm_category_name(want[i].cat), (unsigned long long)want[i].peak_bytes,
                     (unsigned long long)c->peak_bytes);
        cr_expect_eq(c->at_peak_bytes, want[i].at_peak, "%s at the peak %llu, got %llu",
                     mm_category_name(want[i].cat), (unsigned long long)want[i].at_peak,
                     (unsigned long long)c->at_peak_bytes);
        cr_expect_eq(c->allocs, want[i].allocs, "%s allocations %llu, got %llu",
                     mm_category_name(want[i].cat), (unsigned long long)want[i].allocs,
                     (unsigned long long)c->allocs);
    }
    const mmr_category *c = &s.categories[4];
    cr_expect_eq(c->category, cooling, "Cooling comes last (highest id)");
    cr_expect_eq(c->peak_bytes, 900, "Cooling own peak 900, got %llu",
                 (unsigned long long)c->peak_bytes);
    cr_expect_eq(c->at_peak_bytes, 900, "Cooling 900 at the peak, got %llu",
                 (unsigned long long)c->at_peak_bytes);
    for (size_t k = 0; k < s.ncategories; k++) {
        sum += s.categories[k].at_peak_bytes;
    }
    cr_expect_eq(sum, s.peak_bytes, "the composition sums to the peak: %llu vs %llu",
                 (unsigned long long)sum, (unsigned long long)s.peak_bytes);
    mmr_summary_free(&s);
    trace_free(&t);
}

Test(replay, peak_before_the_first_forest_has_forest_minus_one)
{
    trace t;
    char err[256], path[64];
    /* Peak 64 at op 2 (before F 0); max live blocks 2. */
    cr_assert_eq(load_text("A 1 32 Trees\nA 2 32 Halos\nF 0\nD 1\nD 2\n", &t, err, sizeof err,
                           path),
                 0, "the trace should load: %s", err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0);
    cr_expect_eq(s.peak_bytes, 64, "peak 64, got %llu", (unsigned long long)s.peak_bytes);
    cr_expect_eq(s.peak_forest, -1, "no F line before the peak: forest -1, got %lld",
                 (long long)s.peak_forest);
    cr_expect_eq(s.peak_operation, 2, "op 2 makes the peak, got %zu", s.peak_operation);
    cr_expect_eq(s.live_blocks_at_peak, 2, "2 live blocks at the peak, got %zu",
                 s.live_blocks_at_peak);
    mmr_summary_free(&s);
    trace_free(&t);
}

/* Left live at the end: block 2 (moved from Trees to Halos, 70 bytes) and
 * block 3 (Trees, 5 bytes); block 1 was freed. */
static const char leftover_trace[] = "A 1 100 Halos\nA 2 50 Trees\nR 2 70 Halos\nA 3 5 Trees\nD 1\n";

Test(replay, blocks_left_live_at_the_end_are_counted_per_category)
{
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text(leftover_trace, &t, err, sizeof err, path), 0, "load: %s", err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0);
    cr_expect_eq(s.live_blocks_at_end, 2, "2 blocks left live, got %zu", s.live_blocks_at_end);
    cr_expect_eq(s.live_bytes_at_end, 75, "75 bytes left live, got %llu",
                 (unsigned long long)s.live_bytes_at_end);
    const mmr_category *h = find_category(&s, MM_CAT_HALOS), *tr = find_category(&s, MM_CAT_TREES);
    cr_assert(h != NULL && tr != NULL, "Halos and Trees occur");
    cr_expect(h->bytes_at_end == 70 && h->blocks_at_end == 1,
              "Halos: 70 bytes in 1 block at the end, got %llu in %llu",
              (unsigned long long)h->bytes_at_end, (unsigned long long)h->blocks_at_end);
    cr_expect(tr->bytes_at_end == 5 && tr->blocks_at_end == 1,
              "Trees: 5 bytes in 1 block at the end (the realloc moved the other), got %llu in %llu",
              (unsigned long long)tr->bytes_at_end, (unsigned long long)tr->blocks_at_end);
    mmr_check chk;
    cr_assert_eq(mmr_check_stats(&t, &s, &chk), 0);
    cr_expect_eq(chk.allocs, 3, "mimicmem made 3 allocations, got %llu",
                 (unsigned long long)chk.allocs);
    cr_expect_eq(chk.frees, 3, "and 3 frees (the replay frees what is left), got %llu",
                 (unsigned long long)chk.frees);
    cr_expect_eq(chk.agree, 1, "agree");
    mmr_check_free(&chk);
    mmr_summary_free(&s);
    trace_free(&t);

    write_temp(leftover_trace, path);
    const char *args[] = {path, "--rounds", "1", NULL};
    tool_run r;
    run_tool(args, &r);
    unlink(path);
    cr_expect(strstr(r.out, "2 left live at the end (75 B (75 B))\n") != NULL,
              "the blocks line gives their bytes; output:\n%s", r.out);
    cr_expect(strstr(r.out, "mimicmem statistics agree: yes (peak 175 B, 3 allocations and frees") !=
                  NULL,
              "the agreement line names the counts; output:\n%s", r.out);
    tool_run_free(&r);
}

Test(replay, empty_trace_has_no_peak_moment)
{
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text("# mimic allocation trace v1\nF 0\n", &t, err, sizeof err, path), 0,
                 "the trace should load: %s", err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0);
    cr_expect_eq(s.operations, 1, "one F line, got %zu", s.operations);
    cr_expect_eq(s.peak_bytes, 0, "peak 0, got %llu", (unsigned long long)s.peak_bytes);
    cr_expect_eq(s.peak_operation, 0, "no peak moment, got op %zu", s.peak_operation);
    cr_expect_eq(s.peak_forest, -1, "no peak forest, got %lld", (long long)s.peak_forest);
    cr_expect_eq(s.ncategories, 0, "no category occurs, got %zu", s.ncategories);
    mmr_summary_free(&s);
    trace_free(&t);
}

Test(replay, mimicmem_statistics_agree_with_the_model_on_the_hand_trace)
{
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text(hand_trace, &t, err, sizeof err, path), 0, "load: %s", err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0);
    mmr_check chk;
    cr_assert_eq(mmr_check_stats(&t, &s, &chk), 0);
    cr_expect_eq(chk.fresh, 1, "nothing went through mimicmem before the replay");
    cr_expect_eq(chk.peak_bytes, 1800, "mimicmem's process peak is 1,800, got %llu",
                 (unsigned long long)chk.peak_bytes);
    cr_expect_eq(chk.live_bytes_after, 0, "nothing live after the replay, got %zu",
                 chk.live_bytes_after);
    cr_assert_eq(chk.ncategories, s.ncategories);
    for (size_t k = 0; k < s.ncategories; k++) {
        cr_expect_eq(chk.category_peak_bytes[k], s.categories[k].peak_bytes,
                     "%s: mimicmem peak %llu, model %llu",
                     mm_category_name(s.categories[k].category),
                     (unsigned long long)chk.category_peak_bytes[k],
                     (unsigned long long)s.categories[k].peak_bytes);
    }
    cr_expect_eq(chk.agree, 1, "agree: yes");
    mmr_check_free(&chk);

    /* A second check in the same process sees the first replay's peak. */
    cr_assert_eq(mmr_check_stats(&t, &s, &chk), 0);
    cr_expect_eq(chk.fresh, 0, "after one replay mimicmem's peak is no longer 0");
    cr_expect_eq(chk.agree, 0, "a check that is not fresh never agrees");
    mmr_check_free(&chk);
    mmr_summary_free(&s);
    trace_free(&t);
}

/* ------------------------------------------------------------------------
 * The recorded Mimic trace (figures from README-mimic-data.md)
 * ---------------------------------------------------------------------- */

Test(replay, small_mimic_trace_gives_the_documented_figures, .timeout = 120)
{
    trace t;
    char err[512];
    cr_assert_eq(mmr_load(MMR_TEST_SMALL_TRACE, &t, err, sizeof err), 0,
                 "the small trace should load: %s", err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0);
    cr_expect_eq(s.forests, 1000, "1,000 forests, got %zu", s.forests);
    cr_expect_eq(s.allocs, 109247, "109,247 allocations, got %zu", s.allocs);
    cr_expect_eq(s.reallocs, 0, "no realloc, got %zu", s.reallocs);
    cr_expect_eq(s.frees, 109247, "109,247 frees, got %zu", s.frees);
    cr_expect_eq(s.peak_bytes, 7927592, "peak 7,927,592 bytes, got %llu",
                 (unsigned long long)s.peak_bytes);
    cr_expect_eq(s.max_live_blocks, 12518, "max live 12,518 blocks, got %zu", s.max_live_blocks);
    cr_expect_eq(s.live_blocks_at_end, 0, "every block freed, got %zu live", s.live_blocks_at_end);
    static const struct {
        mm_category cat;     /* which */
        uint64_t at_peak;    /* bytes at the peak, from the README */
    } want[] = {{MM_CAT_HALOS, 7005488}, {MM_CAT_TREES, 864096}, {MM_CAT_IO, 50008},
                {MM_CAT_UTILITY, 8000}};
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const mmr_category *c = find_category(&s, want[i].cat);
        cr_assert_not_null(c, "%s occurs in the trace", mm_category_name(want[i].cat));
        cr_expect_eq(c->at_peak_bytes, want[i].at_peak, "%s at the peak %llu, got %llu",
                     mm_category_name(want[i].cat), (unsigned long long)want[i].at_peak,
                     (unsigned long long)c->at_peak_bytes);
        sum += c->at_peak_bytes;
    }
    cr_expect_eq(s.ncategories, 4, "only Halos, Trees, IO and Utility occur, got %zu",
                 s.ncategories);
    cr_expect_eq(sum, s.peak_bytes, "the composition sums to the peak");
    cr_expect_leq(s.live_blocks_at_peak, s.max_live_blocks, "live blocks at the peak <= max");
    cr_expect_gt(s.peak_forest, -1, "the peak is inside a forest");

    mmr_check chk;
    cr_assert_eq(mmr_check_stats(&t, &s, &chk), 0);
    cr_expect_eq(chk.agree, 1, "mimicmem's peaks agree with the model (process peak %llu)",
                 (unsigned long long)chk.peak_bytes);
    mmr_check_free(&chk);
    mmr_summary_free(&s);
    trace_free(&t);
}

/* ------------------------------------------------------------------------
 * Timed comparison
 * ---------------------------------------------------------------------- */

Test(replay, timing_runs_every_allocator_every_round)
{
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text(hand_trace, &t, err, sizeof err, path), 0, "load: %s", err);
    mmr_timing tm;
    cr_assert_eq(mmr_time(&t, 3, &tm), 0);
    cr_expect_eq(tm.rounds, 3);
    static const char *const names[MMR_NALLOCATORS] = {"malloc", "mimicmem", "legacy table"};
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        const mmr_allocator_time *at = &tm.allocators[a];
        cr_expect_str_eq(at->name, names[a]);
        cr_expect_null(at->failure, "%s should not fail", names[a]);
        cr_expect_eq(at->nrounds, 3, "%s: 3 rounds, got %d", names[a], at->nrounds);
        cr_expect(at->min_seconds <= at->median_seconds && at->median_seconds <= at->max_seconds,
                  "%s: min <= median <= max", names[a]);
    }
    cr_expect_eq(mm_stats_total(NULL).bytes, 0, "the mimicmem replays leave nothing live");
    cr_expect_eq(mmr_time(&t, 0, &tm), -1, "0 rounds is refused");
    trace_free(&t);
}

Test(replay, timing_records_a_full_legacy_table_as_a_failure, .timeout = 120)
{
    /* 50,001 live blocks: one more than the legacy table holds. */
    size_t n = 50001, cap = n * 2 * 24 + 64, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (size_t i = 1; i <= n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "A %zu 8 Halos\n", i);
    }
    for (size_t i = 1; i <= n; i++) {
        len += (size_t)snprintf(text + len, cap - len, "D %zu\n", i);
    }
    trace t;
    char err[256], path[64];
    cr_assert_eq(load_text(text, &t, err, sizeof err, path), 0, "load: %s", err);
    free(text);
    mmr_timing tm;
    cr_assert_eq(mmr_time(&t, 2, &tm), 0);
    cr_expect_null(tm.allocators[MMR_MALLOC].failure, "malloc completes");
    cr_expect_null(tm.allocators[MMR_MIMICMEM].failure, "mimicmem completes");
    cr_expect_eq(tm.allocators[MMR_MIMICMEM].nrounds, 2, "mimicmem ran both rounds");
    cr_assert_not_null(tm.allocators[MMR_LEGACY].failure, "the legacy table fills up");
    cr_expect_str_eq(tm.allocators[MMR_LEGACY].failure, "failed: table full");
    cr_expect_eq(tm.allocators[MMR_LEGACY].nrounds, 0, "no legacy round completes");
    trace_free(&t);
}

/* ------------------------------------------------------------------------
 * Bad input: each error names its line
 * ---------------------------------------------------------------------- */

static void expect_load_error(const char *text, const char *line_and_what)
{
    trace t;
    char err[256], path[64], want[128];
    int rc = load_text(text, &t, err, sizeof err, path);
    cr_assert_eq(rc, -1, "loading should fail with \"%s\"", line_and_what);
    snprintf(want, sizeof want, "%s:%s", path, line_and_what);
    cr_expect(strstr(err, want) == err, "the message should start with \"%s\", it is \"%s\"", want,
              err);
    cr_expect_eq(t.nops, 0, "a failed load leaves the trace empty");
    cr_expect_null(t.ops, "a failed load leaves no operations");
}

Test(replay, unknown_op_is_reported_with_its_line)
{
    expect_load_error("# mimic allocation trace v1\nA 1 8 Halos\nX 1 8 Halos\nD 1\n",
                      "3: unknown op 'X'");
}

Test(replay, free_of_an_unknown_id_is_reported_with_its_line)
{
    expect_load_error("# mimic allocation trace v1\nF 0\nA 1 8 Halos\nD 99\n",
                      "4: free of unknown id 99");
}

Test(replay, realloc_of_an_unknown_id_is_reported_with_its_line)
{
    expect_load_error("A 1 8 Halos\nR 2 16 Halos\n", "2: realloc of unknown id 2");
}

Test(replay, truncated_line_is_reported_with_its_line)
{
    expect_load_error("# mimic allocation trace v1\nA 1 8 Halos\nA 2 8\n", "3: truncated line");
    expect_load_error("A 1 8 Halos\nD\n", "2: truncated line");
    expect_load_error("F 0\nA 1", "2: truncated line");
}

/* ------------------------------------------------------------------------
 * The program
 * ---------------------------------------------------------------------- */

Test(replay, tool_writes_json_that_parses_with_escaped_names)
{
    /* Two odd category names: a quote and a backslash, and a byte that is
     * not UTF-8 (written as U+FFFD). */
    char path[64];
    const char *const opts[] = {"--json", "--rounds", "1", NULL};
    tool_run r;
    run_tool_on_text("# mimic allocation trace v1\n"
                     "F 0\n"
                     "A 1 100 Halos\n"
                     "A 2 50 Quote\"Back\\slash\n"
                     "A 3 25 Bad\xff"
                     "Byte\n"
                     "D 1\nD 2\nD 3\n",
                     opts, &r, path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    char jerr[256];
    mmt_json *doc = mmt_json_parse(r.out, jerr, sizeof jerr);
    cr_assert_not_null(doc, "the output should be strict JSON: %s\n%s", jerr, r.out);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "schema_version"), &v) && v == 1, "schema_version 1");
    cr_expect(mmt_json_uint(mmt_json_get(doc, "peak_bytes"), &v) && v == 175, "peak_bytes 175");
    cr_expect(mmt_json_uint(mmt_json_get(doc, "peak_forest"), &v) && v == 0, "peak_forest 0");
    cr_expect(mmt_json_uint(mmt_json_get(doc, "live_blocks_at_peak"), &v) && v == 3,
              "live_blocks_at_peak 3");
    cr_expect(mmt_json_string_is(mmt_json_get(doc, "trace"), path), "trace is the path");
    const mmt_json *cats = mmt_json_get(doc, "categories");
    cr_assert(cats != NULL && cats->count == 3, "three categories");
    cr_expect(mmt_json_string_is(mmt_json_get(cats->items[0], "name"), "Halos"), "Halos first");
    cr_expect(mmt_json_string_is(mmt_json_get(cats->items[1], "name"), "Quote\"Back\\slash"),
              "quote and backslash survive the escaping");
    cr_expect(mmt_json_string_is(mmt_json_get(cats->items[2], "name"), "Bad\xef\xbf\xbd"
                                                                        "Byte"),
              "a byte that is not UTF-8 becomes U+FFFD");
    uint64_t sum = 0;
    for (size_t k = 0; k < cats->count; k++) {
        cr_expect(mmt_json_uint(mmt_json_get(cats->items[k], "bytes_at_peak"), &v),
                  "bytes_at_peak is a number");
        sum += v;
    }
    cr_expect_eq(sum, 175, "the composition sums to the peak");
    const mmt_json *mm = mmt_json_get(doc, "mimicmem");
    cr_expect(mm != NULL && mmt_json_get(mm, "agree") != NULL &&
                  mmt_json_get(mm, "agree")->type == MMT_JSON_TRUE,
              "mimicmem agrees");
    const mmt_json *timing = mmt_json_get(doc, "timing");
    cr_assert_not_null(timing);
    const mmt_json *allocs = mmt_json_get(timing, "allocators");
    cr_assert(allocs != NULL && allocs->count == 3, "three allocators timed");
    for (size_t a = 0; a < allocs->count; a++) {
        cr_expect(mmt_json_string_is(mmt_json_get(allocs->items[a], "status"), "ok"),
                  "allocator %zu ok", a);
        const mmt_json *med = mmt_json_get(allocs->items[a], "median_seconds");
        cr_expect(med != NULL && med->type == MMT_JSON_NUMBER, "median_seconds is a number");
    }
    mmt_json_free(doc);
    tool_run_free(&r);
}

Test(replay, tool_prints_the_peak_line_in_text)
{
    char path[64];
    tool_run r;
    run_tool_on_text(hand_trace, one_round, &r, path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    cr_expect(strstr(r.out,
                     "Peak 1.8 KB (1,800 bytes), reached in forest 1, 4 live blocks at peak\n") !=
                  NULL,
              "the peak line is printed; output:\n%s", r.out);
    cr_expect(strstr(r.out, "mimicmem statistics agree: yes") != NULL, "agreement is printed");
    tool_run_free(&r);
}

/* A trace of n operations: A/D pairs in Halos, then one A when n is odd. */
static char *many_ops_trace(size_t n)
{
    char *text = malloc(n * 24 + 64);
    cr_assert_not_null(text, "the trace text should be allocated");
    size_t len = 0, id = 1;
    for (size_t op = 0; op + 1 < n; op += 2, id++) {
        len += (size_t)sprintf(text + len, "A %zu 64 Halos\nD %zu\n", id, id);
    }
    if (n % 2 == 1) {
        len += (size_t)sprintf(text + len, "A %zu 64 Halos\n", id);
    }
    text[len] = '\0';
    return text;
}

Test(replay, tool_says_a_trace_without_F_lines_has_no_forests)
{
    char path[64];
    tool_run r;
    run_tool_on_text("A 1 100 Halos\nA 2 50 IO\nD 1\nD 2\n", one_round, &r, path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    cr_expect(strstr(r.out, "reached with no forests marked (the trace has no F lines)") != NULL,
              "the peak line should say the trace has no F lines; output:\n%s", r.out);
    cr_expect(strstr(r.out, "before the first forest") == NULL,
              "a trace without forests has no 'first forest'; output:\n%s", r.out);
    tool_run_free(&r);
}

Test(replay, tool_says_before_the_first_forest_when_forests_come_later)
{
    char path[64];
    tool_run r;
    run_tool_on_text("A 1 32 Trees\nA 2 32 Halos\nF 0\nD 1\nD 2\n", one_round, &r, path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    cr_expect(strstr(r.out, "reached before the first forest") != NULL,
              "a peak before the first F line is 'before the first forest'; output:\n%s", r.out);
    tool_run_free(&r);
}

Test(replay, tool_warns_that_timings_mean_little_below_100000_operations, .timeout = 60)
{
    static const size_t counts[] = {19, 99999, 100000}; /* the hand trace, then the boundary */
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        char path[64];
        char *text = i == 0 ? NULL : many_ops_trace(counts[i]);
        tool_run r;
        run_tool_on_text(i == 0 ? hand_trace : text, one_round, &r, path);
        free(text);
        cr_expect_eq(r.exit_status, 0, "%zu operations: exit 0, got %d; stderr:\n%s", counts[i],
                     r.exit_status, r.err);
        int warned = strstr(r.err, "(under 100,000): the replay times below mean little") != NULL;
        if (counts[i] < 100000) {
            cr_expect(warned, "%zu operations should get the warning; stderr:\n%s", counts[i],
                      r.err);
        } else {
            cr_expect(!warned, "%zu operations should get no warning; stderr:\n%s", counts[i],
                      r.err);
        }
        tool_run_free(&r);
    }
}

Test(replay, tool_exits_1_with_the_line_number_for_a_bad_trace)
{
    char path[64], want[128];
    const char *const no_opts[] = {NULL};
    tool_run r;
    run_tool_on_text("# mimic allocation trace v1\nF 0\nA 1 8 Halos\nD 2\n", no_opts, &r, path);
    snprintf(want, sizeof want, "mimicmem-replay: %s:4: free of unknown id 2\n", path);
    cr_expect_eq(r.exit_status, 1, "exit 1, got %d", r.exit_status);
    cr_expect_str_eq(r.err, want, "stderr names the line");
    cr_expect_str_eq(r.out, "", "nothing on stdout");
    tool_run_free(&r);
}

Test(replay, tool_exits_1_for_a_missing_file)
{
    const char *args[] = {"/nonexistent/trace.txt.gz", NULL};
    tool_run r;
    run_tool(args, &r);
    cr_expect_eq(r.exit_status, 1, "exit 1, got %d", r.exit_status);
    cr_expect(strstr(r.err, "mimicmem-replay: /nonexistent/trace.txt.gz: cannot open") == r.err,
              "stderr says the file cannot be opened: %s", r.err);
    tool_run_free(&r);
}

Test(replay, tool_exits_2_for_bad_usage)
{
    const char *no_trace[] = {"--json", NULL};
    const char *unknown[] = {"x.txt", "--frobnicate", NULL};
    const char *zero_rounds[] = {"x.txt", "--rounds", "0", NULL};
    const char *two_traces[] = {"a.txt", "b.txt", NULL};
    const char *const *cases[] = {no_trace, unknown, zero_rounds, two_traces};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tool_run r;
        run_tool(cases[i], &r);
        cr_expect_eq(r.exit_status, 2, "case %zu: exit 2, got %d", i, r.exit_status);
        cr_expect(strstr(r.err, "usage: mimicmem-replay TRACE") != NULL,
                  "case %zu: usage on stderr: %s", i, r.err);
        cr_expect_str_eq(r.out, "", "case %zu: nothing on stdout", i);
        tool_run_free(&r);
    }
    const char *help[] = {"--help", NULL};
    tool_run r;
    run_tool(help, &r);
    cr_expect_eq(r.exit_status, 0, "--help exits 0");
    cr_expect(strstr(r.out, "usage: mimicmem-replay TRACE") == r.out, "--help prints usage");
    tool_run_free(&r);
}

/* ------------------------------------------------------------------------
 * Traces mimicmem writes replay through every allocator (issue 15)
 * ---------------------------------------------------------------------- */

/* The trace of mm_malloc(100, Halos); mm_realloc(p, 0); mm_free(p), as
 * mimicmem wrote it. The malloc replay used to call realloc(p, 0), which
 * glibc takes as a free, and the D line then freed p again (abort). */
static const char zero_realloc_trace[] = "# mimic allocation trace v1\n"
                                         "# written by mimicmem 0.3.0, process 13664\n"
                                         "A 1 100 Halos\n"
                                         "R 1 0 Halos\n"
                                         "D 1\n";

Test(replay, realloc_to_zero_then_free_replays_through_every_allocator)
{
    trace t;
    char err[256], path[64];
    /* the same trace, freshly written by mimicmem, is the one of the issue */
    char live_path[64];
    write_temp("", live_path);
    cr_assert_eq(mm_trace_start(live_path), 0, "the trace should open");
    void *p = mm_malloc(100, MM_CAT_HALOS);
    p = mm_realloc(p, 0);
    cr_assert_not_null(p, "realloc to 0 keeps a live block");
    cr_expect_eq(mm_block_size(p), 0, "of size 0");
    mm_free(p);
    mm_trace_stop();
    char *written = mmt_read_file(live_path, "the trace mimicmem wrote");
    unlink(live_path);
    const char *body = strstr(written, "A 1 100 Halos\n");
    cr_assert_not_null(body, "the trace holds the A line:\n%s", written);
    cr_expect_str_eq(body, "A 1 100 Halos\nR 1 0 Halos\nD 1\n", "the lines of the issue");
    free(written);

    cr_assert_eq(load_text(zero_realloc_trace, &t, err, sizeof err, path), 0, "load: %s", err);
    mmr_timing tm;
    cr_assert_eq(mmr_time(&t, 2, &tm), 0);
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        cr_expect_null(tm.allocators[a].failure, "%s completes", tm.allocators[a].name);
        cr_expect_eq(tm.allocators[a].nrounds, 2, "%s ran both rounds", tm.allocators[a].name);
    }
    trace_free(&t);

    const char *const two_rounds[] = {"--rounds", "2", NULL};
    tool_run r;
    run_tool_on_text(zero_realloc_trace, two_rounds, &r, path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    cr_expect(strstr(r.out, "mimicmem statistics agree: yes") != NULL, "agree; output:\n%s", r.out);
    cr_expect(strstr(r.out, "failed") == NULL, "no allocator fails; output:\n%s", r.out);
    tool_run_free(&r);
}

Test(replay, tool_ignores_mimicmem_settings_in_its_environment)
{
    /* exported for the traced run and still set: the trace named must not
     * be overwritten by the replay's own, and a limit must not fail it */
    char path[64];
    write_temp(zero_realloc_trace, path);
    const char *env[] = {"MIMICMEM_TRACE", path,   "MIMICMEM_LIMIT",  "1",    "MIMICMEM_CHECK",
                         "full",           "MIMICMEM_REPORT", "exit", NULL};
    const char *args[] = {path, "--json", "--rounds", "1", NULL};
    tool_run r;
    run_tool_env(args, env, &r);
    char *after = mmt_read_file(path, "the trace read");
    unlink(path);
    cr_expect_eq(r.exit_status, 0, "exit 0, got %d; stderr:\n%s", r.exit_status, r.err);
    cr_expect_str_eq(after, zero_realloc_trace, "the trace read is left as it was");
    free(after);
    cr_expect(strstr(r.err, "mimicmem-replay: note: MIMICMEM_TRACE is ignored") != NULL,
              "a note names each variable dropped; stderr:\n%s", r.err);
    cr_expect(strstr(r.err, "MIMICMEM_LIMIT is ignored") != NULL, "and the limit; stderr:\n%s",
              r.err);
    cr_expect(strstr(r.err, "Memory Usage") == NULL, "no report at exit; stderr:\n%s", r.err);
    char jerr[256];
    mmt_json *doc = mmt_json_parse(r.out, jerr, sizeof jerr);
    cr_assert_not_null(doc, "strict JSON: %s\n%s", jerr, r.out);
    const mmt_json *agree = mmt_json_get(mmt_json_get(doc, "mimicmem"), "agree");
    cr_expect(agree != NULL && agree->type == MMT_JSON_TRUE, "mimicmem agrees");
    mmt_json_free(doc);
    tool_run_free(&r);
}

/* ---- round trip ---------------------------------------------------------- */

/* ncalls calls' worth of bytes from seed (splitmix64), malloc'd. */
static uint8_t *rt_bytes(uint64_t seed, size_t n)
{
    uint8_t *b = malloc(n);
    cr_assert_not_null(b);
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        b[i] = (uint8_t)(z ^ (z >> 31));
    }
    return b;
}

static uint64_t json_u64(const mmt_json *obj, const char *key)
{
    uint64_t v = 0;
    cr_assert(mmt_json_uint(mmt_json_get(obj, key), &v), "\"%s\" should be a number", key);
    return v;
}

/* Runs seed's calls traced, checks the trace against the live figures
 * in-process (rt_verify), then runs mimicmem-replay on it and checks what it
 * prints against the same figures. first: nothing went through mimicmem in
 * this process before, so its process peak is the traced peak too. */
static void roundtrip_seed(uint64_t seed, size_t nbytes, int first, rt_live *out)
{
    char path[64], why[512];
    write_temp("", path);
    uint8_t *bytes = rt_bytes(seed, nbytes);
    rt_live l;
    cr_assert_eq(rt_run(bytes, nbytes, path, &l), 0, "seed %llu: the trace should open",
                 (unsigned long long)seed);
    free(bytes);
    if (first) {
        cr_expect_eq(l.process_peak, l.peak,
                     "seed %llu: mimicmem's process peak %llu is the largest live total seen %llu",
                     (unsigned long long)seed, (unsigned long long)l.process_peak,
                     (unsigned long long)l.peak);
    }
    int rc = rt_verify(path, &l, why, sizeof why);
    cr_expect_eq(rc, 0, "seed %llu (%zu calls): %s", (unsigned long long)seed, l.calls, why);
    mm_set_error_handler(NULL, NULL); /* rt_run's recording handler: the default again */

    const char *args[] = {path, "--json", "--rounds", "1", NULL};
    tool_run r;
    run_tool(args, &r);
    unlink(path);
    cr_assert_eq(r.exit_status, 0, "seed %llu: the tool exits 0, got %d; stderr:\n%s",
                 (unsigned long long)seed, r.exit_status, r.err);
    char jerr[256];
    mmt_json *doc = mmt_json_parse(r.out, jerr, sizeof jerr);
    cr_assert_not_null(doc, "seed %llu: strict JSON: %s", (unsigned long long)seed, jerr);
    cr_expect_eq(json_u64(doc, "peak_bytes"), l.peak, "seed %llu: peak", (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "allocations"), l.allocs, "seed %llu: allocations",
                 (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "frees"), l.frees, "seed %llu: frees", (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "reallocs"), l.reallocs, "seed %llu: reallocs",
                 (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "forests"), l.forests, "seed %llu: forests",
                 (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "live_blocks_at_end"), l.blocks_end, "seed %llu: live blocks",
                 (unsigned long long)seed);
    cr_expect_eq(json_u64(doc, "live_bytes_at_end"), l.bytes_end, "seed %llu: live bytes",
                 (unsigned long long)seed);
    const mmt_json *cats = mmt_json_get(doc, "categories");
    cr_assert_not_null(cats);
    for (int k = 0; k < RT_NCAT; k++) {
        char tn[MM_NAME_MAX + 1];
        rt_trace_name(rt_cat_names[k], tn, sizeof tn);
        const mmt_json *c = NULL;
        for (size_t i = 0; i < cats->count; i++)
            if (mmt_json_string_is(mmt_json_get(cats->items[i], "name"), tn)) c = cats->items[i];
        if (c == NULL) {
            cr_expect_eq(l.cat[k].allocs, 0, "seed %llu: %s absent from the replay only if unused",
                         (unsigned long long)seed, tn);
            continue;
        }
        cr_expect_eq(json_u64(c, "peak_bytes"), l.cat[k].peak, "seed %llu: %s peak",
                     (unsigned long long)seed, tn);
        cr_expect_eq(json_u64(c, "allocations"), l.cat[k].allocs, "seed %llu: %s allocations",
                     (unsigned long long)seed, tn);
        cr_expect_eq(json_u64(c, "bytes_at_end"), l.cat[k].bytes_end, "seed %llu: %s at the end",
                     (unsigned long long)seed, tn);
        cr_expect_eq(json_u64(c, "blocks_at_end"), l.cat[k].blocks_end,
                     "seed %llu: %s blocks at the end", (unsigned long long)seed, tn);
    }
    const mmt_json *mm = mmt_json_get(doc, "mimicmem");
    cr_expect(mmt_json_get(mm, "fresh") && mmt_json_get(mm, "fresh")->type == MMT_JSON_TRUE &&
                  mmt_json_get(mm, "agree") && mmt_json_get(mm, "agree")->type == MMT_JSON_TRUE,
              "seed %llu: mimicmem statistics agree in the replay; output:\n%s",
              (unsigned long long)seed, r.out);
    const mmt_json *allocs = mmt_json_get(mmt_json_get(doc, "timing"), "allocators");
    cr_assert(allocs != NULL && allocs->count == 3, "three allocators");
    for (size_t a = 0; a < allocs->count; a++)
        cr_expect(mmt_json_string_is(mmt_json_get(allocs->items[a], "status"), "ok"),
                  "seed %llu: allocator %zu replays the trace", (unsigned long long)seed, a);
    mmt_json_free(doc);
    tool_run_free(&r);
    if (out != NULL) *out = l;
}

Test(replay, roundtrip_of_a_fixed_seed_agrees_with_the_live_figures, .timeout = 120)
{
    rt_live l;
    roundtrip_seed(0x15, 12000, 1, &l);
    /* the sequence exercised what the round trip is about */
    cr_expect_gt(l.zero_reallocs, 0, "reallocs to 0 happened");
    cr_expect_gt(l.forests, 1, "top-level contexts were created or reset");
    cr_expect_gt(l.failed, 0, "some calls failed (limits, impossible sizes)");
    cr_expect_gt(l.blocks_end, 0, "blocks were live when the trace stopped");
    cr_expect_gt(l.reallocs, l.zero_reallocs, "reallocs to other sizes happened");
}

/* One process per seed (Criterion runs each parameter apart), so mimicmem's
 * own process peak is checked for every seed too. */
ParameterizedTestParameters(replay, roundtrip_of_several_seeds_agrees_with_the_live_figures)
{
    static uint64_t seeds[] = {1, 2, 3, 42, 0xdeadbeef, 20261206};
    return cr_make_param_array(uint64_t, seeds, sizeof seeds / sizeof seeds[0]);
}

ParameterizedTest(uint64_t *seed, replay, roundtrip_of_several_seeds_agrees_with_the_live_figures,
                  .timeout = 120)
{
    roundtrip_seed(*seed, 6000, 1, NULL);
}
