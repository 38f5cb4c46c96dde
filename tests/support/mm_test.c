/* Recording error handler, statistics comparison, byte patterns, the
 * generator, environment knobs, file, report and leak-list capture and the
 * site finder shared by the unit tests (declared in mm_test.h). */
#include "mm_test.h"

#include <errno.h>
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
    /* Field by field: the 64 KiB message only needs its first byte cleared. */
    rec->count = 0;
    rec->kind = MM_ERR_NONE;
    rec->size = 0;
    rec->category = MM_CAT_INVALID;
    rec->ptr = NULL;
    rec->context = NULL;
    rec->message_null = 0;
    rec->message[0] = '\0';
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

static int mmt_dumped; /* the report is printed once per test process */

void mmt_dump_report_once(const mm_context *ctx)
{
    if (mmt_dumped) return;
    mmt_dumped = 1;
    fprintf(stderr, "---- mm_report of %s at the first failure ----\n",
            ctx != NULL ? mm_context_name(ctx) : "the process");
    mm_report(stderr, ctx, MM_REPORT_TEXT);
    fprintf(stderr, "----------------------------------------------\n");
}

const char *mmt_view_name(const mm_context *ctx, char *buf, size_t len)
{
    if (ctx == NULL) return "the process";
    snprintf(buf, len, "context \"%s\"", mm_context_name(ctx));
    return buf;
}

/* ========================================================================
 * Contexts
 * ====================================================================== */

mm_context *mmt_context(const char *name, mm_context *parent)
{
    mm_context *ctx = mm_context_create(name, parent);
    cr_assert_not_null(ctx, "mm_context_create(\"%s\", %s) should return a context", name,
                       parent != NULL ? mm_context_name(parent) : "NULL");
    return ctx;
}

void *mmt_freed_block(mm_context *ctx, size_t size, mm_category cat)
{
    void *p = mm_context_malloc(ctx, size, cat);
    cr_assert_not_null(p, "mm_context_malloc(%zu) in context \"%s\" should succeed", size,
                       mm_context_name(ctx));
    mm_free(p);
    return p;
}

/* ========================================================================
 * Byte patterns, a generator, a test category
 * ====================================================================== */

void mmt_fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 31u);
}

size_t mmt_first_mismatch(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != (unsigned char)(seed + i * 31u)) return i;
    }
    return n;
}

int mmt_filled(const void *p, size_t n, unsigned seed)
{
    return mmt_first_mismatch(p, n, seed) == n;
}

uint64_t mmt_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

mm_category mmt_cooling(void)
{
    mm_category c = mm_category_register("Cooling", "Physics");
    cr_assert_neq(c, MM_CAT_INVALID, "registering \"Cooling\" should give a category id");
    return c;
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

#if MMT_ASAN
#include <sanitizer/asan_interface.h>
#elif defined(MM_WITH_VALGRIND) && MM_WITH_VALGRIND
#include <valgrind/memcheck.h>
#define MMT_MEMCHECK 1
#endif

void mmt_tool_open(void *p, size_t n)
{
#if MMT_ASAN
    __asan_unpoison_memory_region(p, n);
#elif defined(MMT_MEMCHECK)
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void)p;
    (void)n;
#endif
}

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
    char *text = mmt_read_stream(f, "the captured report");
    fclose(f);
    return text;
}

char *mmt_leaks_string(mm_report_format fmt, size_t *nblocks)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f, "tmpfile() should give a file to capture the leak list");
    size_t n = mm_report_leaks(f, fmt);
    if (nblocks != NULL) *nblocks = n;
    char *text = mmt_read_stream(f, "the captured leak list");
    fclose(f);
    return text;
}

/* ========================================================================
 * Sites
 * ====================================================================== */

int mmt_site_find(const char *file, int line, mm_category cat, mm_site_stats *out)
{
    mm_site_stats all[64];
    size_t n = mm_sites(all, 64);
    cr_assert_leq(n, 64, "the tests make at most 64 sites, mm_sites says %zu", n);
    for (size_t i = 0; i < n; i++) {
        const mm_site_stats *s = &all[i];
        int same_file = file == NULL ? s->file == NULL : s->file && strcmp(s->file, file) == 0;
        if (same_file && s->line == line && s->category == cat) {
            *out = *s;
            return 1;
        }
    }
    return 0;
}

/* ========================================================================
 * Files
 * ====================================================================== */

char *mmt_read_stream(FILE *f, const char *what)
{
    cr_assert_eq(fflush(f), 0, "%s should flush", what);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0, "%s should seek to its end", what);
    long len = ftell(f);
    cr_assert_geq(len, 0, "%s should have a length", what);
    char *text = malloc((size_t)len + 1);
    cr_assert_not_null(text, "the system malloc should hold the %ld bytes of %s", len, what);
    rewind(f);
    size_t got = fread(text, 1, (size_t)len, f);
    cr_assert_eq(got, (size_t)len, "all %ld bytes of %s should read back, got %zu", len, what,
                 got);
    text[len] = '\0';
    cr_assert_eq(fseek(f, 0, SEEK_END), 0, "%s should seek back to its end", what);
    return text;
}

static char *mmt_slurp_open(FILE *f)
{
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);
    cr_assert_not_null(buf, "the system malloc should give a read buffer");
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf, "the system realloc should grow the read buffer to %zu bytes",
                               cap);
        }
    }
    cr_assert_eq(ferror(f), 0, "reading the file should not fail after %zu bytes", len);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

char *mmt_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    return mmt_slurp_open(f);
}

char *mmt_read_file(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s %s should exist: %s", what, path, strerror(errno));
    return mmt_slurp_open(f);
}
