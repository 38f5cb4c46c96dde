/* Shared helpers for the mimicmem unit tests: a recording error handler,
 * exact statistics and figure checks that print the report on failure,
 * byte patterns, a deterministic generator, the scale knob for slow runners,
 * file, report and leak-list capture, the site finder and the expect_death
 * child runner.
 * Test code only; it uses the system malloc, never mimicmem, for itself. */
#ifndef MM_TEST_H
#define MM_TEST_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mimicmem.h"

/* ========================================================================
 * Recording error handler
 * Rule: one thread at a time (the handler writes plain fields). Tests that
 * raise errors from several threads count them with their own atomic handler.
 * ====================================================================== */

#define MMT_MESSAGE_MAX 1024

/* The recorder keeps whole messages up to 64 KiB: a limit message carries a
 * report, longer than one line. */
#define MMT_RECORD_MAX (64 * 1024)

typedef struct {
    int count;                     /* handler calls since mmt_record_errors */
    mm_error_kind kind;            /* kind of the last error */
    size_t size;                   /* size of the last error */
    mm_category category;          /* category of the last error */
    const void *ptr;               /* pointer of the last error */
    const mm_context *context;     /* context of the last error */
    int message_null;              /* nonzero when the last message was NULL */
    char message[MMT_RECORD_MAX];  /* copy of the last message (truncated) */
} mmt_recorder;

/* Clears rec and installs a handler that records into it and returns, so
 * the failing call returns NULL or does nothing. */
void mmt_record_errors(mmt_recorder *rec);

/* Forgets the errors recorded so far (the handler stays installed). */
void mmt_recorder_clear(mmt_recorder *rec);

/* Checks that exactly one error of kind k was recorded since the last
 * clear, then clears the recorder. */
#define mmt_expect_one_error(rec, k, what)                                              \
    do {                                                                                \
        cr_expect_eq((rec)->count, 1, "%s: expected exactly one error, got %d", (what), \
                     (rec)->count);                                                     \
        cr_expect_eq((rec)->kind, (k), "%s: expected error kind %d (%s), got %d (%s)",  \
                     (what), (int)(k), mm_error_kind_name(k), (int)(rec)->kind,         \
                     mm_error_kind_name((rec)->kind));                                  \
        mmt_recorder_clear(rec);                                                        \
    } while (0)

#define mmt_expect_no_error(rec, what)                                                   \
    do {                                                                                 \
        cr_expect_eq((rec)->count, 0, "%s: expected no error, got %d (last: %s)", (what), \
                     (rec)->count, (rec)->count ? (rec)->message : "");                  \
    } while (0)

/* ========================================================================
 * Statistics checks
 * ====================================================================== */

mm_stats mmt_stats(size_t bytes, size_t peak_bytes, size_t blocks, uint64_t allocs,
                   uint64_t frees);

/* Writes a description of every field where got differs from want into why
 * and returns nonzero, or returns 0 when they are equal. */
int mmt_stats_differ(mm_stats got, mm_stats want, char *why, size_t whylen);

/* Prints the process report to stderr so a failure log shows the state. */
void mmt_dump_report(void);

/* Expects got == want field by field; on a difference prints the process
 * report and fails with what (the expectation) and the differing fields. */
#define mmt_expect_stats(got, want, what)                             \
    do {                                                              \
        char mmt_why_[512];                                           \
        if (mmt_stats_differ((got), (want), mmt_why_, sizeof mmt_why_)) { \
            mmt_dump_report();                                        \
            cr_expect_fail("%s: %s", (what), mmt_why_);               \
        }                                                             \
    } while (0)

/* Shorthands for the process view: category c, and the total. */
#define mmt_expect_category(c, bytes, peak, blocks, allocs, frees, what) \
    mmt_expect_stats(mm_stats_category(NULL, (c)),                      \
                     mmt_stats((bytes), (peak), (blocks), (allocs), (frees)), (what))
#define mmt_expect_total(bytes, peak, blocks, allocs, frees, what)         \
    mmt_expect_stats(mm_stats_total(NULL),                                 \
                     mmt_stats((bytes), (peak), (blocks), (allocs), (frees)), (what))

/* Prints mm_report of ctx (NULL: the process) to stderr the first time a
 * check fails in this process, so the log shows the state once, not again
 * for every later failure. */
void mmt_dump_report_once(const mm_context *ctx);

/* "context \"name\"" for ctx, or "the process" for NULL, for messages. */
const char *mmt_view_name(const mm_context *ctx, char *buf, size_t len);

/* Expects got == want field by field for the statistics of ctx (NULL: the
 * process); the printf-style message states the expectation, the failure
 * adds whose statistics they are and every differing field, and the report
 * of ctx is printed at the first failure. */
#define mmt_expect_stats_of(ctx, got, want, ...)                                   \
    do {                                                                           \
        char mmt_why_[512];                                                        \
        if (mmt_stats_differ((got), (want), mmt_why_, sizeof mmt_why_)) {          \
            char mmt_what_[256], mmt_view_[96];                                    \
            snprintf(mmt_what_, sizeof mmt_what_, __VA_ARGS__);                    \
            mmt_dump_report_once(ctx);                                             \
            cr_expect_fail("%s (%s): %s", mmt_what_,                              \
                           mmt_view_name((ctx), mmt_view_, sizeof mmt_view_), mmt_why_); \
        }                                                                          \
    } while (0)

/* Expects got == want for one integer figure of ctx (NULL: the process); the
 * printf-style message names the figure, the failure adds the expected and
 * the actual value and their difference. mmt_assert_figure stops the test:
 * for loops, to stop at the first error. */
#define mmt_figure_check_(fail, ctx, got, want, ...)                               \
    do {                                                                           \
        uintmax_t mmt_got_ = (uintmax_t)(got), mmt_want_ = (uintmax_t)(want);      \
        if (mmt_got_ != mmt_want_) {                                               \
            char mmt_what_[256];                                                   \
            snprintf(mmt_what_, sizeof mmt_what_, __VA_ARGS__);                    \
            mmt_dump_report_once(ctx);                                             \
            fail("%s should be %ju, got %ju (%s by %ju)", mmt_what_, mmt_want_, mmt_got_, \
                 mmt_got_ > mmt_want_ ? "over" : "under",                          \
                 mmt_got_ > mmt_want_ ? mmt_got_ - mmt_want_ : mmt_want_ - mmt_got_); \
        }                                                                          \
    } while (0)
#define mmt_expect_figure(ctx, got, want, ...) \
    mmt_figure_check_(cr_expect_fail, ctx, got, want, __VA_ARGS__)
#define mmt_assert_figure(ctx, got, want, ...) \
    mmt_figure_check_(cr_assert_fail, ctx, got, want, __VA_ARGS__)

/* ========================================================================
 * Contexts
 * ====================================================================== */

/* mm_context_create(name, parent); fails the test, naming the context, when
 * it returns NULL. */
mm_context *mmt_context(const char *name, mm_context *parent);

/* A block of size bytes in category cat allocated in ctx and freed again:
 * the dangling pointer, for tests of what using it does. */
void *mmt_freed_block(mm_context *ctx, size_t size, mm_category cat);

/* ========================================================================
 * Byte patterns, a generator, a test category
 * ====================================================================== */

/* Fills n bytes at p with a pattern derived from seed (byte i is
 * seed + i * 31). */
void mmt_fill(void *p, size_t n, unsigned seed);

/* Offset of the first byte that differs from mmt_fill(p, n, seed), or n
 * when all n bytes still hold the pattern. */
size_t mmt_first_mismatch(const void *p, size_t n, unsigned seed);

/* Nonzero when the first n bytes of p still hold mmt_fill's pattern. */
int mmt_filled(const void *p, size_t n, unsigned seed);

/* Deterministic generator (splitmix64) for sizes and orders. */
uint64_t mmt_rand(uint64_t *state);

/* Registers (or finds) the category "Cooling" in group "Physics"; fails the
 * test when the registry refuses it. */
mm_category mmt_cooling(void);

/* ========================================================================
 * Environment
 * ====================================================================== */

/* MM_TEST_SCALE (default 1): CI lowers it for Valgrind. */
double mmt_scale(void);

/* n scaled by mmt_scale(), at least minimum. */
size_t mmt_scaled(size_t n, size_t minimum);

/* Nonzero when reading freed system memory would be flagged (ASan,
 * Valgrind, or MM_TEST_SKIP_UAF set to anything but "" or "0"). */
int mmt_use_after_free_is_checked(void);

/* Lets the test write n bytes at p that Valgrind memcheck or ASan watch as
 * no-access (a context block's header, docs/design.md "What Valgrind and
 * ASan see"): a test that damages a header on purpose calls it first. */
void mmt_tool_open(void *p, size_t n);

/* ========================================================================
 * Reports
 * ====================================================================== */

/* mm_report(out, ctx, fmt) captured into a NUL-terminated string from the
 * system malloc; the caller frees it. Fails the test if capture fails. */
char *mmt_report_string(const mm_context *ctx, mm_report_format fmt);

/* mm_report_leaks(out, fmt) captured the same way; *nblocks (unless NULL)
 * gets what mm_report_leaks returned, the live blocks it listed. */
char *mmt_leaks_string(mm_report_format fmt, size_t *nblocks);

/* ========================================================================
 * Sites
 * ====================================================================== */

/* Copies the site (file, line, cat) of mm_sites into *out and returns 1, or
 * returns 0 when it is not known; file NULL finds the unknown site. Fails
 * the test when the process has more than 64 sites (tests make fewer). */
int mmt_site_find(const char *file, int line, mm_category cat, mm_site_stats *out);

/* ========================================================================
 * Files
 * ====================================================================== */

/* The whole of f, read from its start, in a NUL-terminated string from the
 * system malloc (the caller frees it); f is left at its end for more writes.
 * Fails the test, naming what (e.g. "the log file"), if f cannot be read. */
char *mmt_read_stream(FILE *f, const char *what);

/* The whole file at path in a system-malloc string, or NULL when it cannot
 * be opened (the caller frees it). */
char *mmt_slurp(const char *path);

/* The same, but a file that cannot be opened fails the test, naming what the
 * file is, its path and the reason. */
char *mmt_read_file(const char *path, const char *what);

/* ========================================================================
 * expect_death: run a function in a child under the default handler
 * ====================================================================== */

#define MMT_DEATH_TEXT_MAX 16384

typedef struct {
    int signal;                        /* signal that ended the child, 0 if it exited */
    int exit_status;                   /* exit status, or -1 when a signal ended it */
    char text[MMT_DEATH_TEXT_MAX];     /* the child's stderr (truncated, NUL-terminated) */
} mmt_death;

typedef void (*mmt_child_fn)(void *arg);

/* Forks; the child restores the default error handler, sends its stderr to a
 * pipe, runs fn(arg) and exits with status 0 if fn returns. A 20 s alarm
 * ends a child that hangs. The parent collects the text and the status. */
void mmt_run_child(mmt_child_fn fn, void *arg, mmt_death *out);

/* The first line of text that starts with "mimicmem: ", copied into line
 * (without the newline); returns 0 when there is none. */
int mmt_death_message(const mmt_death *d, char *line, size_t linelen);

/* The part both death checks share: the child's "mimicmem: " line goes
 * into msg (char[MMT_MESSAGE_MAX]) and must contain phrase. */
#define mmt_expect_death_line_(d, phrase, msg)                                               \
    do {                                                                                     \
        (msg)[0] = '\0';                                                                     \
        cr_expect(mmt_death_message(&(d), (msg), MMT_MESSAGE_MAX),                           \
                  "the default handler should print a line starting with \"mimicmem: \"; "  \
                  "stderr was:\n%s", (d).text);                                              \
        cr_expect(strstr((msg), (phrase)) != NULL,                                           \
                  "the message should contain \"%s\", it was: %s; stderr was:\n%s", (phrase), \
                  (msg), (d).text);                                                          \
    } while (0)

/* Runs fn(arg) in a child and expects it to die of SIGABRT after printing a
 * line that starts with "mimicmem: " and contains phrase. The line is left
 * in msg (char[MMT_MESSAGE_MAX]) for further checks. */
#define mmt_expect_death(fn, arg, phrase, msg)                                               \
    do {                                                                                     \
        static mmt_death mmt_d_;                                                             \
        mmt_run_child((fn), (arg), &mmt_d_);                                                 \
        cr_expect_eq(mmt_d_.signal, SIGABRT,                                                 \
                     "the default handler should abort (SIGABRT=%d), child ended with "     \
                     "signal %d, exit status %d; stderr:\n%s",                               \
                     SIGABRT, mmt_d_.signal, mmt_d_.exit_status, mmt_d_.text);               \
        mmt_expect_death_line_(mmt_d_, phrase, msg);                                         \
    } while (0)

/* A whole test, suite.name, that expects only that: fn(NULL) in a child
 * dies of SIGABRT after a "mimicmem: " line containing phrase. */
#define MMT_DEATH_TEST(suite, name, fn, phrase)                \
    Test(suite, name)                                          \
    {                                                          \
        char mmt_msg_[MMT_MESSAGE_MAX];                        \
        mmt_expect_death((fn), NULL, (phrase), mmt_msg_);      \
    }

/* The same for a call made through Mimic's legacy API: the default handler
 * ends the process with exit status 1 after the message, as Mimic's own
 * fatal path does. */
#define mmt_expect_legacy_death(fn, arg, phrase, msg)                                        \
    do {                                                                                     \
        static mmt_death mmt_d_;                                                             \
        mmt_run_child((fn), (arg), &mmt_d_);                                                 \
        cr_expect(mmt_d_.signal == 0 && mmt_d_.exit_status == 1,                             \
                  "the default handler should exit with status 1 after a legacy call's "     \
                  "error; child ended with signal %d, exit status %d; stderr:\n%s",          \
                  mmt_d_.signal, mmt_d_.exit_status, mmt_d_.text);                           \
        mmt_expect_death_line_(mmt_d_, phrase, msg);                                         \
    } while (0)

#endif /* MM_TEST_H */
