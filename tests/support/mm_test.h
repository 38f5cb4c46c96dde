/* Shared helpers for the mimicmem unit tests: a recording error handler,
 * exact statistics checks that print the report on failure, the scale knob
 * for slow runners, report capture and the expect_death child runner.
 * Test code only; it uses the system malloc, never mimicmem, for itself. */
#ifndef MM_TEST_H
#define MM_TEST_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mimicmem.h"

/* ========================================================================
 * Recording error handler
 * Rule: one thread at a time (the handler writes plain fields). Tests that
 * raise errors from several threads count them with their own atomic handler.
 * ====================================================================== */

#define MMT_MESSAGE_MAX 1024

typedef struct {
    int count;                     /* handler calls since mmt_record_errors */
    mm_error_kind kind;            /* kind of the last error */
    size_t size;                   /* size of the last error */
    mm_category category;          /* category of the last error */
    const void *ptr;               /* pointer of the last error */
    const mm_context *context;     /* context of the last error */
    int message_null;              /* nonzero when the last message was NULL */
    char message[MMT_MESSAGE_MAX]; /* copy of the last message (truncated) */
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

/* ========================================================================
 * Reports
 * ====================================================================== */

/* mm_report(out, ctx, fmt) captured into a NUL-terminated string from the
 * system malloc; the caller frees it. Fails the test if capture fails. */
char *mmt_report_string(const mm_context *ctx, mm_report_format fmt);

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
        (msg)[0] = '\0';                                                                     \
        cr_expect(mmt_death_message(&mmt_d_, (msg), MMT_MESSAGE_MAX),                        \
                  "the default handler should print a line starting with \"mimicmem: \"; "  \
                  "stderr was:\n%s", mmt_d_.text);                                           \
        cr_expect(strstr((msg), (phrase)) != NULL,                                           \
                  "the message should contain \"%s\", it was: %s", (phrase), (msg));         \
    } while (0)

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
        (msg)[0] = '\0';                                                                     \
        cr_expect(mmt_death_message(&mmt_d_, (msg), MMT_MESSAGE_MAX),                        \
                  "the default handler should print a line starting with \"mimicmem: \"; "  \
                  "stderr was:\n%s", mmt_d_.text);                                           \
        cr_expect(strstr((msg), (phrase)) != NULL,                                           \
                  "the message should contain \"%s\", it was: %s", (phrase), (msg));         \
    } while (0)

#endif /* MM_TEST_H */
