/* Recording error handler, statistics comparison, environment knobs and
 * report capture shared by the unit tests (declared in mm_test.h). */
#include "mm_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ========================================================================
 * Recording error handler
 * ====================================================================== */

static void rec_handler(const mm_error *err, void *user)
{
    mmt_recorder *rec = user;
    rec->count++;
    rec->kind = err->kind;
    rec->size = err->size;
    rec->category = err->category;
    rec->ptr = err->ptr;
    rec->context = err->context;
    rec->message_null = err->message == NULL;
    if (err->message != NULL) {
        snprintf(rec->message, sizeof rec->message, "%s", err->message);
    } else {
        rec->message[0] = '\0';
    }
}

void mmt_recorder_clear(mmt_recorder *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->kind = MM_ERR_NONE;
    rec->category = MM_CAT_INVALID;
}

void mmt_record_errors(mmt_recorder *rec)
{
    mmt_recorder_clear(rec);
    mm_set_error_handler(rec_handler, rec);
}

/* ========================================================================
 * Statistics
 * ====================================================================== */

mm_stats mmt_stats(size_t bytes, size_t peak_bytes, size_t blocks, uint64_t allocs,
                   uint64_t frees)
{
    mm_stats s;
    memset(&s, 0, sizeof s);
    s.bytes = bytes;
    s.peak_bytes = peak_bytes;
    s.blocks = blocks;
    s.allocs = allocs;
    s.frees = frees;
    return s;
}

static void stats_note(char *why, size_t whylen, size_t *used, const char *field,
                       unsigned long long got, unsigned long long want)
{
    if (*used >= whylen) return;
    int n = snprintf(why + *used, whylen - *used, "%s%s %llu (expected %llu)",
                     *used ? ", " : "", field, got, want);
    if (n > 0) *used += (size_t)n;
}

int mmt_stats_differ(mm_stats got, mm_stats want, char *why, size_t whylen)
{
    size_t used = 0;
    if (whylen > 0) why[0] = '\0';
    if (got.bytes != want.bytes) stats_note(why, whylen, &used, "bytes", got.bytes, want.bytes);
    if (got.peak_bytes != want.peak_bytes)
        stats_note(why, whylen, &used, "peak_bytes", got.peak_bytes, want.peak_bytes);
    if (got.blocks != want.blocks)
        stats_note(why, whylen, &used, "blocks", got.blocks, want.blocks);
    if (got.allocs != want.allocs)
        stats_note(why, whylen, &used, "allocs", got.allocs, want.allocs);
    if (got.frees != want.frees) stats_note(why, whylen, &used, "frees", got.frees, want.frees);
    return used > 0;
}

void mmt_dump_report(void)
{
    fprintf(stderr, "---- mm_report at the failure ----\n");
    mm_report(stderr, NULL, MM_REPORT_TEXT);
    fprintf(stderr, "----------------------------------\n");
}

/* ========================================================================
 * Environment
 * ====================================================================== */

double mmt_scale(void)
{
    const char *v = getenv("MM_TEST_SCALE");
    if (v == NULL || *v == '\0') return 1.0;
    char *end = NULL;
    double s = strtod(v, &end);
    if (end == v || !(s > 0.0) || s > 1000.0) return 1.0;
    return s;
}

size_t mmt_scaled(size_t n, size_t minimum)
{
    double v = (double)n * mmt_scale();
    size_t r = v < 1.0 ? 0 : (size_t)v;
    return r < minimum ? minimum : r;
}

#if defined(__SANITIZE_ADDRESS__)
#define MMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMT_ASAN 1
#endif
#endif
#ifndef MMT_ASAN
#define MMT_ASAN 0
#endif

int mmt_use_after_free_is_checked(void)
{
    if (MMT_ASAN) return 1;
    const char *skip = getenv("MM_TEST_SKIP_UAF");
    if (skip != NULL && *skip != '\0' && strcmp(skip, "0") != 0) return 1;
    /* Valgrind preloads its vgpreload_*.so into the program it runs. */
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL) return 1;
    return 0;
}

/* ========================================================================
 * Reports
 * ====================================================================== */

char *mmt_report_string(const mm_context *ctx, mm_report_format fmt)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f, "tmpfile() should give a file to capture the report");
    mm_report(f, ctx, fmt);
    cr_assert_eq(fflush(f), 0, "the captured report should flush");
    long len = ftell(f);
    cr_assert_geq(len, 0, "the captured report should have a length");
    char *text = malloc((size_t)len + 1);
    cr_assert_not_null(text, "the system malloc should hold the %ld-byte report", len);
    rewind(f);
    size_t got = fread(text, 1, (size_t)len, f);
    cr_assert_eq(got, (size_t)len, "the whole %ld-byte report should read back", len);
    text[len] = '\0';
    fclose(f);
    return text;
}
