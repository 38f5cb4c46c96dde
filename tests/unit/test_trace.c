/* Unit tests for src/trace.c: the trace record in the Mimic format (format
 * line, A/R/D/F lines, category names with spaces as '_'), the lines a
 * context reset, destroy and creation write, %p in the path, an unopenable
 * path and a write error (one warning, tracing off, host unaffected), two
 * threads tracing at once, and a recorded run whose trace replays to the
 * same peak and per-category peaks as the live statistics. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mm_test.h"

#ifdef MM_HAVE_REPLAY_CORE
#include "replay_core.h"
#endif

/* ========================================================================
 * Helpers
 * ====================================================================== */

typedef struct {
    int warnings;      /* MM_LOG_WARNING lines */
    int others;        /* other lines */
    char first[1024];  /* the first warning */
} trc_log;

static trc_log trc_logged;
static pthread_mutex_t trc_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void trc_log_fn(mm_log_level level, const char *msg, void *user)
{
    trc_log *l = user;
    pthread_mutex_lock(&trc_log_lock);
    if (level == MM_LOG_WARNING) {
        if (l->warnings++ == 0) snprintf(l->first, sizeof l->first, "%s", msg);
    } else {
        l->others++;
    }
    pthread_mutex_unlock(&trc_log_lock);
}

static void trc_capture_log(void)
{
    memset(&trc_logged, 0, sizeof trc_logged);
    mm_set_log_handler(trc_log_fn, &trc_logged);
}

static mmt_recorder trc_rec;

#define trc_expect_contains(text, phrase, what)                                           \
    cr_expect(strstr((text), (phrase)) != NULL, "%s should contain \"%s\"; it was:\n%s", \
              (what), (phrase), (text))

/* A fresh directory for this test's files; removed by trc_cleanup. */
static char trc_dir[64];

static void trc_mkdir(void)
{
    snprintf(trc_dir, sizeof trc_dir, "/tmp/mm-trace-XXXXXX");
    cr_assert_not_null(mkdtemp(trc_dir), "mkdtemp should make a directory: %s", strerror(errno));
}

static void trc_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", trc_dir, name);
}

static void trc_cleanup(const char *path)
{
    if (path) remove(path);
    rmdir(trc_dir);
}

/* The trace text after its two comment lines (format line and writer). */
static const char *trc_body(const char *text)
{
    cr_assert(strncmp(text, "# mimic allocation trace v1\n", 28) == 0,
              "the trace should start with \"# mimic allocation trace v1\"; it was:\n%s", text);
    const char *p = text + 28;
    cr_assert(strncmp(p, "# written by mimicmem ", 22) == 0,
              "the second line should name the writer; the trace was:\n%s", text);
    p = strchr(p, '\n');
    cr_assert_not_null(p, "the writer line should end");
    return p + 1;
}

#define trc_expect_body(text, want, what)                                                    \
    do {                                                                                     \
        const char *trc_b_ = trc_body(text);                                                 \
        cr_expect_str_eq(trc_b_, (want), "%s: the trace lines should be\n%s\nthey were\n%s", \
                         (what), (want), trc_b_);                                            \
    } while (0)

/* Stops the trace, expects its lines after the two comment lines to be want
 * (what names the scenario) and removes the trace file and its directory. */
static void trc_stop_and_expect_body(const char *path, const char *want, const char *what)
{
    mm_trace_stop();
    char *text = mmt_read_file(path, "the trace");
    trc_expect_body(text, want, what);
    free(text);
    trc_cleanup(path);
}

/* ========================================================================
 * An independent reader: checks every line and computes the peak of live
 * requested bytes and each category's own peak (an R moves its block to the
 * category it names).
 * ====================================================================== */

#define TRC_MAX_CATS 64

typedef struct {
    char names[TRC_MAX_CATS][MM_NAME_MAX + 1]; /* category names as written */
    uint64_t live[TRC_MAX_CATS];               /* live bytes per category */
    uint64_t peak[TRC_MAX_CATS];               /* each category's own high-water mark */
    int ncats;                                 /* categories seen */
    uint64_t live_total;                       /* live bytes */
    uint64_t peak_total;                       /* high-water mark of live_total */
    size_t allocs, reallocs, frees, forests;   /* lines by kind */
    uint64_t *size;                            /* by id: live size (0 when not live) */
    int *cat;                                  /* by id: category index, -1 when not live */
    uint64_t nids;                             /* entries of size and cat */
    uint64_t next_forest;                      /* the F number expected next */
    size_t live_blocks;                        /* blocks live at the end */
    char error[256];                           /* first problem, "" when none */
} trc_model;

static int trc_cat_index(trc_model *m, const char *name)
{
    for (int i = 0; i < m->ncats; i++)
        if (strcmp(m->names[i], name) == 0) return i;
    /* mimicmem writes names of at most MM_NAME_MAX bytes; a longer one is a
     * trace fault, not something to truncate */
    size_t len = strlen(name);
    cr_assert_leq(len, MM_NAME_MAX, "a trace category name has at most %d bytes, not %zu: %s",
                  MM_NAME_MAX, len, name);
    if (m->ncats == TRC_MAX_CATS || len > MM_NAME_MAX) return -1;
    memcpy(m->names[m->ncats], name, len + 1);
    return m->ncats++;
}

static void trc_model_grow(trc_model *m, uint64_t id)
{
    if (id < m->nids) return;
    uint64_t n = m->nids ? m->nids : 1024;
    while (n <= id) n *= 2;
    m->size = realloc(m->size, n * sizeof *m->size);
    m->cat = realloc(m->cat, n * sizeof *m->cat);
    cr_assert(m->size && m->cat, "the system realloc should grow the model to %llu ids",
              (unsigned long long)n);
    for (uint64_t i = m->nids; i < n; i++) {
        m->size[i] = 0;
        m->cat[i] = -1;
    }
    m->nids = n;
}

static void trc_model_set(trc_model *m, uint64_t id, uint64_t size, int c)
{
    m->size[id] = size;
    m->cat[id] = c;
    m->live[c] += size;
    m->live_total += size;
    if (m->live[c] > m->peak[c]) m->peak[c] = m->live[c];
    if (m->live_total > m->peak_total) m->peak_total = m->live_total;
}

static void trc_model_clear(trc_model *m, uint64_t id)
{
    m->live[m->cat[id]] -= m->size[id];
    m->live_total -= m->size[id];
    m->size[id] = 0;
    m->cat[id] = -1;
}

/* Reads text into m; returns 0, or -1 with m->error naming the line. */
static int trc_model_read(trc_model *m, const char *text)
{
    memset(m, 0, sizeof *m);
    int lineno = 0;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        if (eol == NULL) {
            snprintf(m->error, sizeof m->error, "the last line does not end with a newline");
            return -1;
        }
        char line[256];
        size_t n = (size_t)(eol - p);
        lineno++;
        if (n >= sizeof line) {
            snprintf(m->error, sizeof m->error, "line %d is too long", lineno);
            return -1;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = eol + 1;
        if (line[0] == '#') continue;
        unsigned long long id = 0, size = 0;
        char name[128], extra[2];
        if (line[0] == 'F' && sscanf(line, "F %llu %1s", &id, extra) == 1) {
            if (id != m->next_forest) {
                snprintf(m->error, sizeof m->error, "line %d: F %llu, expected F %llu", lineno,
                         id, (unsigned long long)m->next_forest);
                return -1;
            }
            m->next_forest++;
            m->forests++;
        } else if (line[0] == 'A' && sscanf(line, "A %llu %llu %127s %1s", &id, &size, name,
                                            extra) == 3) {
            trc_model_grow(m, id);
            if (id == 0 || m->cat[id] >= 0) {
                snprintf(m->error, sizeof m->error, "line %d: A of id %llu that is live or 0",
                         lineno, id);
                return -1;
            }
            int c = trc_cat_index(m, name);
            cr_assert_geq(c, 0, "the model holds at most %d categories", TRC_MAX_CATS);
            trc_model_set(m, id, size, c);
            m->allocs++;
        } else if (line[0] == 'R' && sscanf(line, "R %llu %llu %127s %1s", &id, &size, name,
                                            extra) == 3) {
            if (id >= m->nids || m->cat[id] < 0) {
                snprintf(m->error, sizeof m->error, "line %d: R of id %llu that is not live",
                         lineno, id);
                return -1;
            }
            trc_model_clear(m, id);
            int c = trc_cat_index(m, name);
            cr_assert_geq(c, 0, "the model holds at most %d categories", TRC_MAX_CATS);
            trc_model_set(m, id, size, c);
            m->reallocs++;
        } else if (line[0] == 'D' && sscanf(line, "D %llu %1s", &id, extra) == 1) {
            if (id >= m->nids || m->cat[id] < 0) {
                snprintf(m->error, sizeof m->error, "line %d: D of id %llu that is not live",
                         lineno, id);
                return -1;
            }
            trc_model_clear(m, id);
            m->frees++;
        } else {
            snprintf(m->error, sizeof m->error, "line %d is malformed: \"%.200s\"", lineno, line);
            return -1;
        }
    }
    for (uint64_t i = 0; i < m->nids; i++) m->live_blocks += m->cat[i] >= 0;
    return 0;
}

static void trc_model_free(trc_model *m)
{
    free(m->size);
    free(m->cat);
    m->size = NULL;
    m->cat = NULL;
}

/* Category c's name as the trace writes it (spaces and controls as '_'). */
static void trc_trace_name(mm_category c, char *out, size_t len)
{
    snprintf(out, len, "%s", mm_category_name(c));
    for (char *q = out; *q; q++)
        if ((unsigned char)*q <= 0x20 || *q == 0x7f) *q = '_';
}

/* ========================================================================
 * The format
 * ====================================================================== */

Test(trace, a_trace_starts_with_the_format_line_and_the_writer)
{
    char path[128], want[128];
    trc_mkdir();
    trc_path(path, sizeof path, "head.trace");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_trace_stop();
    char *text = mmt_read_file(path, "the trace");
    snprintf(want, sizeof want, "# mimic allocation trace v1\n# written by mimicmem %s, process "
             "%ld\n", MM_VERSION_STRING, (long)getpid());
    cr_expect_str_eq(text, want, "an empty trace should hold the two comment lines only");
    free(text);
    trc_cleanup(path);
}

Test(trace, a_small_scenario_writes_exactly_the_expected_lines)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "scenario.trace");
    mmt_record_errors(&trc_rec);
    mm_category gas = mm_category_register("Cooling Gas", "Physics");
    cr_assert_neq(gas, MM_CAT_INVALID, "\"Cooling Gas\" should be registered");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);

    char *a = mm_malloc(100, MM_CAT_HALOS);          /* A 1 100 Halos */
    char *b = mm_malloc(50, gas);                    /* A 2 50 Cooling_Gas */
    a = mm_realloc(a, 300);                          /* R 1 300 Halos */
    b = mm_realloc_cat(b, 70, MM_CAT_TREES);         /* R 2 70 Trees */
    mm_free(a);                                      /* D 1 */
    mm_free(NULL);                                   /* nothing */
    mm_context *f = mm_context_create("forest", NULL); /* F 0 */
    void *c1 = mm_context_malloc(f, 24, MM_CAT_GALAXIES); /* A 3 24 Galaxies */
    void *c2 = mm_context_calloc(f, 4, 10, gas);     /* A 4 40 Cooling_Gas */
    (void)c2;
    mm_free(c1);                                     /* D 3 */
    mm_context *m = mm_context_create("module", f);  /* no line: not top-level */
    char *s = mm_context_strdup(m, "abcdefg", MM_CAT_IO); /* A 5 8 IO */
    (void)s;
    mm_context_reset(f);                             /* D 5, D 4, F 1 */
    void *c4 = mm_context_malloc(f, 16, MM_CAT_UTILITY); /* A 6 16 Utility */
    (void)c4;
    mm_context_destroy(f);                           /* D 6, no F */
    mm_free(b);                                      /* D 2 */

    trc_stop_and_expect_body(path,
                             "A 1 100 Halos\n"
                             "A 2 50 Cooling_Gas\n"
                             "R 1 300 Halos\n"
                             "R 2 70 Trees\n"
                             "D 1\n"
                             "F 0\n"
                             "A 3 24 Galaxies\n"
                             "A 4 40 Cooling_Gas\n"
                             "D 3\n"
                             "A 5 8 IO\n"
                             "D 5\n"
                             "D 4\n"
                             "F 1\n"
                             "A 6 16 Utility\n"
                             "D 6\n"
                             "D 2\n",
                             "the hand-checked scenario");
    mmt_expect_no_error(&trc_rec, "the scenario");
}

Test(trace, control_characters_in_a_category_name_are_written_as_underscores)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "names.trace");
    mm_category odd = mm_category_register("Hot\tgas here", NULL);
    cr_assert_neq(odd, MM_CAT_INVALID, "a name with a tab should be registered");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    void *p = mm_malloc(8, odd);
    mm_free(p);
    trc_stop_and_expect_body(path, "A 1 8 Hot_gas_here\nD 1\n",
                             "a category name with a tab and spaces");
}

/* ========================================================================
 * Contexts
 * ====================================================================== */

Test(trace, reset_writes_a_d_line_for_every_block_it_frees_then_the_next_f)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "reset.trace");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_context *f = mm_context_create("forest", NULL); /* F 0 */
    for (int i = 0; i < 5; i++) mm_context_malloc(f, 16 + 8 * (size_t)i, MM_CAT_HALOS);
    void *big = mm_context_malloc(f, 300000, MM_CAT_TREES); /* a large block */
    (void)big;
    mm_context_reset(f);
    mm_context_reset(f); /* nothing live: only F 2 */
    mm_context_destroy(f);
    mm_trace_stop();
    char *text = mmt_read_file(path, "the trace");
    const char *body = trc_body(text);
    const char *head = "F 0\nA 1 16 Halos\nA 2 24 Halos\nA 3 32 Halos\nA 4 40 Halos\n"
                       "A 5 48 Halos\nA 6 300000 Trees\n";
    cr_assert(strncmp(body, head, strlen(head)) == 0, "the trace should start with\n%s\nit was\n%s",
              head, body);
    const char *rest = body + strlen(head);
    int seen[7] = {0};
    for (int i = 0; i < 6; i++) {
        unsigned id = 0;
        int n = 0;
        cr_assert_eq(sscanf(rest, "D %u\n%n", &id, &n), 1, "line %d after the allocations should "
                     "be a D line; the rest was:\n%s", i + 1, rest);
        cr_assert(id >= 1 && id <= 6 && !seen[id], "D %u should free a live block once", id);
        seen[id] = 1;
        rest += n;
    }
    cr_expect_str_eq(rest, "F 1\nF 2\n", "after the six D lines the reset writes F 1, the second "
                     "reset F 2 and destroy nothing; the rest was:\n%s", rest);
    free(text);
    trc_cleanup(path);
}

Test(trace, resetting_a_child_context_writes_its_d_lines_but_no_f)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "child.trace");
    mm_context *f = mm_context_create("forest", NULL); /* before the trace: no line */
    mm_context *m = mm_context_create("module", f);
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_context_malloc(m, 64, MM_CAT_GALAXIES);
    mm_context_reset(m);
    mm_context *m2 = mm_context_create("module 2", f);
    mm_context_malloc(m2, 8, MM_CAT_IO);
    mm_context_destroy(m2);
    trc_stop_and_expect_body(path, "A 1 64 Galaxies\nD 1\nA 2 8 IO\nD 2\n",
                             "a child's reset, a child's creation and destroy");
    mm_context_destroy(f);
}

Test(trace, each_top_level_context_created_writes_the_next_f_line)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "create.trace");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_context *a = mm_context_create("a", NULL);
    mm_context *b = mm_context_create("b", NULL);
    mm_context *c = mm_context_create("c", a);
    mm_context_destroy(a);
    mm_context_destroy(b);
    (void)c;
    trc_stop_and_expect_body(path, "F 0\nF 1\n", "two top-level contexts and one child");
}

Test(trace, the_trace_named_by_the_environment_sees_the_first_context)
{
    char pattern[128], path[128];
    trc_mkdir();
    snprintf(pattern, sizeof pattern, "%s/env-%%p.trace", trc_dir);
    snprintf(path, sizeof path, "%s/env-%ld.trace", trc_dir, (long)getpid());
    setenv("MIMICMEM_TRACE", pattern, 1);
    mm_context *f = mm_context_create("forest", NULL); /* the first use */
    void *p = mm_context_malloc(f, 32, MM_CAT_HALOS);
    (void)p;
    mm_context_destroy(f);
    trc_stop_and_expect_body(path, "F 0\nA 1 32 Halos\nD 1\n",
                             "MIMICMEM_TRACE with a first context");
}

/* ========================================================================
 * Which blocks are in a trace
 * ====================================================================== */

Test(trace, a_block_from_before_the_trace_enters_it_at_its_realloc_and_not_at_its_free)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "before.trace");
    void *old1 = mm_malloc(10, MM_CAT_HALOS);
    void *old2 = mm_malloc(20, MM_CAT_TREES);
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_free(old1);                    /* not in the trace */
    old2 = mm_realloc(old2, 40);      /* enters it: A 1 40 Trees */
    mm_free(old2);                    /* D 1 */
    trc_stop_and_expect_body(path, "A 1 40 Trees\nD 1\n", "blocks allocated before the trace");
}

Test(trace, a_block_of_an_earlier_trace_writes_nothing_into_the_next_one)
{
    char first[128], second[128];
    trc_mkdir();
    trc_path(first, sizeof first, "first.trace");
    trc_path(second, sizeof second, "second.trace");
    cr_assert_eq(mm_trace_start(first), 0, "the first trace should open");
    void *a = mm_malloc(10, MM_CAT_HALOS); /* A 1 in the first trace */
    void *b = mm_malloc(20, MM_CAT_HALOS); /* A 2 in the first trace */
    cr_assert_eq(mm_trace_start(second), 0, "the second trace should open (closing the first)");
    void *c = mm_malloc(30, MM_CAT_IO);
    b = mm_realloc(b, 25);
    mm_free(a);
    mm_free(b);
    mm_free(c);
    mm_trace_stop();
    char *t1 = mmt_read_file(first, "the trace"), *t2 = mmt_read_file(second, "the trace");
    trc_expect_body(t1, "A 1 10 Halos\nA 2 20 Halos\n", "the first trace, closed by the second");
    trc_model m;
    int rc = trc_model_read(&m, t2);
    cr_expect_eq(rc, 0, "the second trace should read on its own: %s\n%s", m.error, t2);
    cr_expect_eq(m.live_blocks, 0, "the second trace should free what it allocates:\n%s", t2);
    trc_expect_contains(t2, "A 3 30 IO\nD 3\n", "the second trace");
    trc_model_free(&m);
    free(t1);
    free(t2);
    remove(first);
    trc_cleanup(second);
}

/* ========================================================================
 * Paths
 * ====================================================================== */

Test(trace, percent_p_expands_to_the_process_id_and_double_percent_to_one)
{
    char pattern[128], path[128];
    trc_mkdir();
    snprintf(pattern, sizeof pattern, "%s/run-%%p-100%%%%.trace", trc_dir);
    snprintf(path, sizeof path, "%s/run-%ld-100%%.trace", trc_dir, (long)getpid());
    cr_assert_eq(mm_trace_start(pattern), 0, "mm_trace_start should open %s", pattern);
    char open_path[256];
    cr_assert_eq(mm_option_get("trace", open_path, sizeof open_path), 0, "trace is an option");
    cr_expect_str_eq(open_path, path, "the open trace should be %s, it is %s", path, open_path);
    mm_trace_stop();
    struct stat st;
    cr_expect_eq(stat(path, &st), 0, "the file %s should exist", path);
    trc_cleanup(path);
}

Test(trace, an_unopenable_path_warns_once_and_leaves_tracing_off)
{
    mmt_record_errors(&trc_rec);
    trc_capture_log();
    cr_expect_eq(mm_trace_start("/nonexistent-dir-of-mimicmem/x.trace"), -1,
                 "an unopenable path should return -1");
    cr_expect_eq(trc_logged.warnings, 1, "one warning is expected, got %d", trc_logged.warnings);
    trc_expect_contains(trc_logged.first, "/nonexistent-dir-of-mimicmem/x.trace",
                        "the warning (the path)");
    trc_expect_contains(trc_logged.first, "tracing is off", "the warning");
    char open_path[64] = "x";
    mm_option_get("trace", open_path, sizeof open_path);
    cr_expect_str_eq(open_path, "", "no trace should be open");
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_expect_not_null(p, "allocation should work without a trace");
    mm_free(p);
    mmt_expect_total(0, 100, 0, 1, 1, "the host's statistics should be exact");
    mmt_expect_no_error(&trc_rec, "an unopenable trace is a warning, not an error");
    cr_expect_eq(trc_logged.warnings, 1, "no further warning is expected");
}

Test(trace, a_null_or_empty_path_is_a_bad_argument)
{
    mmt_record_errors(&trc_rec);
    cr_expect_eq(mm_trace_start(NULL), -1, "a NULL path should return -1");
    mmt_expect_one_error(&trc_rec, MM_ERR_BAD_ARGUMENT, "mm_trace_start(NULL)");
    cr_expect_eq(mm_trace_start(""), -1, "an empty path should return -1");
    mmt_expect_one_error(&trc_rec, MM_ERR_BAD_ARGUMENT, "mm_trace_start(\"\")");
}

Test(trace, stop_without_a_trace_does_nothing)
{
    mmt_record_errors(&trc_rec);
    trc_capture_log();
    mm_trace_stop();
    mm_trace_stop();
    mmt_expect_no_error(&trc_rec, "mm_trace_stop without a trace");
    cr_expect_eq(trc_logged.warnings + trc_logged.others, 0, "nothing should be logged");
}

/* ========================================================================
 * Write errors
 * ====================================================================== */

Test(trace, a_write_error_on_a_full_buffer_warns_once_and_turns_tracing_off)
{
    mmt_record_errors(&trc_rec);
    trc_capture_log();
    cr_assert_eq(mm_trace_start("/dev/full"), 0, "/dev/full opens for writing");
    size_t n = 20000; /* about 20 bytes a line: well past the 64 KiB buffer */
    for (size_t i = 0; i < n; i++) {
        void *p = mm_malloc(24, MM_CAT_HALOS);
        cr_assert_not_null(p, "allocation %zu should work while the trace fails", i);
        mm_free(p);
    }
    cr_expect_eq(trc_logged.warnings, 1, "one warning is expected, got %d", trc_logged.warnings);
    trc_expect_contains(trc_logged.first, "/dev/full", "the write error warning");
    trc_expect_contains(trc_logged.first, "tracing is off", "the write error warning");
    char open_path[64] = "x";
    mm_option_get("trace", open_path, sizeof open_path);
    cr_expect_str_eq(open_path, "", "the failed trace should be closed");
    mm_trace_stop();
    void *q = mm_malloc(24, MM_CAT_HALOS);
    cr_expect_not_null(q, "allocation should keep working");
    mm_free(q);
    mmt_expect_total(0, 24, 0, n + 1, n + 1, "every allocation and free should be counted");
    mmt_expect_no_error(&trc_rec, "a write error is a warning, not an error");
    cr_expect_eq(trc_logged.warnings, 1, "still one warning at the end, got %d",
                 trc_logged.warnings);
}

Test(trace, a_write_error_when_stopping_warns_once)
{
    mmt_record_errors(&trc_rec);
    trc_capture_log();
    cr_assert_eq(mm_trace_start("/dev/full"), 0, "/dev/full opens for writing");
    void *p = mm_malloc(24, MM_CAT_HALOS);
    mm_free(p);
    cr_expect_eq(trc_logged.warnings, 0, "nothing is written before the buffer is flushed");
    mm_trace_stop();
    cr_expect_eq(trc_logged.warnings, 1, "the failed flush should warn once, got %d",
                 trc_logged.warnings);
    trc_expect_contains(trc_logged.first, "writing the trace \"/dev/full\" failed",
                        "the write error warning");
    mm_trace_stop();
    void *q = mm_malloc(24, MM_CAT_HALOS);
    cr_expect_not_null(q, "allocation should keep working");
    mm_free(q);
    cr_expect_eq(trc_logged.warnings, 1, "no further warning is expected");
    mmt_expect_no_error(&trc_rec, "a write error is a warning, not an error");
}

/* ========================================================================
 * Threads
 * ====================================================================== */

#define TRC_THREAD_OPS 5000

static void *trc_thread(void *arg)
{
    mm_category cat = *(const mm_category *)arg;
    void *keep[16] = {0};
    for (int i = 0; i < TRC_THREAD_OPS; i++) {
        int k = i % 16;
        if (keep[k]) mm_free(keep[k]);
        keep[k] = mm_malloc(8 + (size_t)(i % 100), cat);
        if (i % 7 == 0 && keep[k]) keep[k] = mm_realloc(keep[k], 200);
    }
    for (int k = 0; k < 16; k++) mm_free(keep[k]);
    return NULL;
}

Test(trace, two_threads_write_a_well_formed_trace)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "threads.trace");
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    pthread_t t[2];
    mm_category cats[2] = {MM_CAT_HALOS, MM_CAT_TREES};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, trc_thread, &cats[i]), 0, "thread %d starts", i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    mm_trace_stop();
    char *text = mmt_read_file(path, "the trace");
    trc_model m;
    int rc = trc_model_read(&m, trc_body(text));
    cr_expect_eq(rc, 0, "every line should be well formed and every R and D should follow its "
                 "block's A: %s", m.error);
    cr_expect_eq(m.allocs, 2 * TRC_THREAD_OPS, "one A line per allocation: %zu", m.allocs);
    cr_expect_eq(m.frees, 2 * TRC_THREAD_OPS, "one D line per free: %zu", m.frees);
    cr_expect_eq(m.live_blocks, 0, "every block should be freed by the end");
    cr_expect_eq(m.live_total, 0, "no bytes should be live at the end");
    trc_model_free(&m);
    free(text);
    trc_cleanup(path);
}

/* ========================================================================
 * Replay: the trace gives the live run's peak and per-category peaks
 * ====================================================================== */

/* Several categories, process blocks grown, shrunk and moved, forests of a
 * top-level context with a child module, frees, reallocs and resets. */
static void trc_scenario(mm_category gas, mm_category stars)
{
    uint64_t seed = 20240601;
    mm_category cats[5] = {MM_CAT_HALOS, MM_CAT_GALAXIES, gas, stars, MM_CAT_TREES};
    void *age = mm_malloc(8000, MM_CAT_UTILITY);
    void *table = mm_calloc(100, 4, MM_CAT_TREES);
    table = mm_realloc(table, 4000);
    mm_context *f = mm_context_create("forest", NULL);
    for (int forest = 0; forest < 12; forest++) {
        mm_context *m = mm_context_create("module", f);
        void *live[64] = {0};
        int nblocks = 20 + (int)(mmt_rand(&seed) % 40);
        for (int i = 0; i < nblocks; i++) {
            mm_category c = cats[mmt_rand(&seed) % 5];
            size_t size = 8 + (size_t)(mmt_rand(&seed) % 2000);
            if (i % 13 == 5) size = 100000 + (size_t)(mmt_rand(&seed) % 300000); /* large */
            live[i] = mm_context_malloc(i % 3 ? f : m, size, c);
        }
        for (int i = 0; i < nblocks; i += 4) { /* grow, shrink or move some */
            size_t size = 16 + (size_t)(mmt_rand(&seed) % 5000);
            if (i % 8 == 0)
                live[i] = mm_realloc_cat(live[i], size, cats[(i / 8) % 5]);
            else
                live[i] = mm_realloc(live[i], size);
        }
        for (int i = 1; i < nblocks; i += 3) { /* free some explicitly */
            mm_free(live[i]);
            live[i] = NULL;
        }
        if (forest % 4 == 3) table = mm_realloc_cat(table, 4000 + 100 * (size_t)forest, stars);
        mm_context_reset(f); /* the rest, the module included */
    }
    mm_context_destroy(f);
    mm_free(table);
    mm_free(age);
}

Test(trace, a_recorded_trace_replays_to_the_live_peak_and_category_peaks)
{
    char path[128];
    trc_mkdir();
    trc_path(path, sizeof path, "replay.trace");
    mmt_record_errors(&trc_rec);
    /* the first call of the process: the trace covers every allocation */
    cr_assert_eq(mm_trace_start(path), 0, "mm_trace_start should open %s", path);
    mm_category gas = mm_category_register("Cooling Gas", "Physics");
    mm_category stars = mm_category_register("Stars", "Physics");
    cr_assert(gas != MM_CAT_INVALID && stars != MM_CAT_INVALID, "categories should register");
    trc_scenario(gas, stars);
    mm_trace_stop();
    mmt_expect_no_error(&trc_rec, "the recorded scenario");

    int ncat = mm_category_count();
    size_t live_peak = mm_stats_total(NULL).peak_bytes;
    size_t *live_cat_peak = calloc((size_t)ncat, sizeof *live_cat_peak);
    cr_assert_not_null(live_cat_peak, "the system calloc should give the peak array");
    for (int c = 0; c < ncat; c++) live_cat_peak[c] = mm_stats_category(NULL, c).peak_bytes;
    mmt_expect_total(0, live_peak, 0, mm_stats_total(NULL).allocs, mm_stats_total(NULL).allocs,
                     "the scenario should free everything");

    char *text = mmt_read_file(path, "the trace");
    trc_model m;
    int rc = trc_model_read(&m, trc_body(text));
    cr_assert_eq(rc, 0, "the trace should read: %s", m.error);
    cr_expect_eq(m.forests, 13, "one F per forest: the creation and 12 resets, got %zu",
                 m.forests);
    cr_expect(m.reallocs > 0, "the scenario should have written R lines");
    cr_expect_eq(m.live_blocks, 0, "the trace should free every block it allocates");
    cr_expect_eq(m.peak_total, (uint64_t)live_peak,
                 "the trace's peak should equal the live peak %zu, got %llu", live_peak,
                 (unsigned long long)m.peak_total);
    int compared = 0;
    for (int c = 0; c < ncat; c++) {
        char name[MM_NAME_MAX + 1];
        trc_trace_name(c, name, sizeof name);
        uint64_t traced = 0;
        for (int i = 0; i < m.ncats; i++)
            if (strcmp(m.names[i], name) == 0) traced = m.peak[i];
        cr_expect_eq(traced, (uint64_t)live_cat_peak[c],
                     "category %s: the trace's peak %llu should equal the live peak %zu", name,
                     (unsigned long long)traced, live_cat_peak[c]);
        compared += live_cat_peak[c] > 0;
    }
    cr_expect_geq(compared, 5, "at least five categories should have been used, got %d",
                  compared);
    for (int i = 0; i < m.ncats; i++) {
        int known = 0;
        for (int c = 0; c < ncat; c++) {
            char name[MM_NAME_MAX + 1];
            trc_trace_name(c, name, sizeof name);
            known |= strcmp(name, m.names[i]) == 0;
        }
        cr_expect(known, "the trace names category %s, which the process does not know",
                  m.names[i]);
    }

#ifdef MM_HAVE_REPLAY_CORE
    trace t;
    char err[256] = "";
    cr_assert_eq(mmr_load(path, &t, err, sizeof err), 0, "replay_core should load the trace: %s",
                 err);
    mmr_summary s;
    cr_assert_eq(mmr_analyse(&t, &s), 0, "replay_core should analyse the trace");
    cr_expect_eq(s.peak_bytes, (uint64_t)live_peak,
                 "replay_core's peak %llu should equal the live peak %zu",
                 (unsigned long long)s.peak_bytes, live_peak);
    for (size_t i = 0; i < s.ncategories; i++) {
        const char *name = mm_category_name(s.categories[i].category);
        uint64_t want = 0;
        for (int c = 0; c < ncat; c++) {
            char tn[MM_NAME_MAX + 1];
            trc_trace_name(c, tn, sizeof tn);
            if (strcmp(tn, name) == 0) want = live_cat_peak[c];
        }
        cr_expect_eq(s.categories[i].peak_bytes, want,
                     "replay_core: category %s peak %llu should equal the live peak %llu", name,
                     (unsigned long long)s.categories[i].peak_bytes, (unsigned long long)want);
    }
    mmr_summary_free(&s);
    trace_free(&t);
#endif

    trc_model_free(&m);
    free(live_cat_peak);
    free(text);
    trc_cleanup(path);
}
