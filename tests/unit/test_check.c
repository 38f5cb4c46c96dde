/* Unit tests for src/check.c: each checking mode detects what it claims.
 * Guards catch a one-byte overrun past the end of process and context
 * blocks (on free, realloc, mm_validate and mm_check); poisoning fills new
 * blocks with NaN or MM_FRESH_BYTE and freed ones with MM_FREED_BYTE, and
 * catches a write into a freed block on mm_check and on reuse; modes switch
 * at run time without breaking blocks made under another mode. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

/* Request sizes of the guard tests: zero, around the 8-byte canary, the
 * 104-byte galaxy copy, the largest exact cache bin, and a block above the
 * 256 KiB small-block limit of contexts. */
static const size_t chk_sizes[] = {0, 1, 7, 8, 9, 104, 4104, 300000};
#define CHK_NSIZES (sizeof chk_sizes / sizeof chk_sizes[0])

/* Expects text to contain phrase; the message names what the text is. */
#define chk_expect_has(text, phrase, what)                                                    \
    cr_expect(strstr((text), (phrase)) != NULL, "%s should contain \"%s\", it was: %s", (what), \
              (phrase), (text))

/* base with one more live block of bytes (allocated, not freed). */
static mm_stats chk_plus_block(mm_stats base, size_t bytes)
{
    size_t live = base.bytes + bytes;
    return mmt_stats(live, live > base.peak_bytes ? live : base.peak_bytes, base.blocks + 1,
                     base.allocs + 1, base.frees);
}

/* base after one explicit free of a block of bytes. */
static mm_stats chk_minus_block(mm_stats base, size_t bytes)
{
    return mmt_stats(base.bytes - bytes, base.peak_bytes, base.blocks - 1, base.allocs,
                     base.frees + 1);
}

/* Nonzero when the per-thread cache of freed process blocks is off (under
 * ASan/TSan, or MIMICMEM_CACHE=0 as in Valgrind runs): freed process blocks
 * then go back to the system at once and cannot be inspected. */
static int chk_cache_off(void)
{
    char buf[64];
    cr_assert_eq(mm_option_get("cache", buf, sizeof buf), 0,
                 "mm_option_get(\"cache\") should know the option");
    return strcmp(buf, "0") == 0;
}

/* Skips a test about freed process blocks when the cache is off: they
 * are then back with the system allocator, and reading them is a use after
 * free. Context blocks are always checked (their memory stays ours). */
#define chk_skip_without_cache()                                                         \
    do {                                                                                 \
        if (chk_cache_off())                                                             \
            cr_skip_test("the per-thread cache is off (sanitizer build or "              \
                         "MIMICMEM_CACHE=0): freed process blocks are not ours to read"); \
    } while (0)

/* Records errors into rec, turns guards on and creates the context name
 * (the tests' common start). */
static mm_context *chk_guarded_context(mmt_recorder *rec, const char *name)
{
    mmt_record_errors(rec);
    mm_set_check(MM_CHECK_GUARDS);
    mm_context *ctx = mm_context_create(name, NULL);
    cr_assert_not_null(ctx, "mm_context_create(\"%s\") should return a context", name);
    return ctx;
}

/* Expects the recorder to hold exactly one overrun of block p (size bytes,
 * category cat) found by fn, with the message naming pointer, size,
 * category and fn; then clears it. */
static void chk_expect_overrun(mmt_recorder *rec, const void *p, size_t size, mm_category cat,
                               const mm_context *ctx, const char *fn, const char *what)
{
    cr_expect_eq(rec->count, 1, "%s: expected exactly one error, got %d", what, rec->count);
    cr_expect_eq(rec->kind, MM_ERR_OVERRUN, "%s: expected an overrun (%d), got kind %d (%s)", what,
                 (int)MM_ERR_OVERRUN, (int)rec->kind, rec->message);
    cr_expect_eq(rec->ptr, p, "%s: the error should carry the block pointer %p, got %p", what, p,
                 rec->ptr);
    cr_expect_eq(rec->size, size, "%s: the error should carry the block size %zu, got %zu", what,
                 size, rec->size);
    cr_expect_eq(rec->category, cat, "%s: the error should carry category %d, got %d", what,
                 (int)cat, (int)rec->category);
    cr_expect_eq(rec->context, ctx, "%s: the error should carry the block's context %p, got %p",
                 what, (const void *)ctx, (const void *)rec->context);
    char phrase[256];
    snprintf(phrase, sizeof phrase, "block %p of %zu bytes in category \"%s\"", p, size,
             mm_category_name(cat));
    chk_expect_has(rec->message, phrase, what);
    chk_expect_has(rec->message, "was written past its end", what);
    chk_expect_has(rec->message, "guard byte 1 of 8", what);
    snprintf(phrase, sizeof phrase, "found in %s", fn);
    chk_expect_has(rec->message, phrase, what);
    mmt_recorder_clear(rec);
}

/* Expects exactly one write-after-free of freed block p found at byte at
 * by fn; then clears the recorder. */
static void chk_expect_write_after_free(mmt_recorder *rec, const void *p, size_t held,
                                        mm_category cat, const mm_context *ctx, long at,
                                        const char *fn, const char *what)
{
    cr_expect_eq(rec->count, 1, "%s: expected exactly one error, got %d", what, rec->count);
    cr_expect_eq(rec->kind, MM_ERR_WRITE_AFTER_FREE,
                 "%s: expected a write after free (%d), got kind %d (%s)", what,
                 (int)MM_ERR_WRITE_AFTER_FREE, (int)rec->kind, rec->message);
    cr_expect_eq(rec->ptr, p, "%s: the error should carry the freed block %p, got %p", what, p,
                 rec->ptr);
    cr_expect_eq(rec->category, cat, "%s: the error should carry category %d, got %d", what,
                 (int)cat, (int)rec->category);
    cr_expect_eq(rec->context, ctx, "%s: the error should carry the block's context %p, got %p",
                 what, (const void *)ctx, (const void *)rec->context);
    char phrase[256];
    cr_expect_eq(rec->size, held, "%s: the error should carry the %zu bytes the block held, got %zu",
                 what, held, rec->size);
    snprintf(phrase, sizeof phrase, "freed block %p (%zu bytes held, category \"%s\")", p, held,
             mm_category_name(cat));
    chk_expect_has(rec->message, phrase, what);
    snprintf(phrase, sizeof phrase, "byte %ld is no longer the free fill 0x5A", at);
    chk_expect_has(rec->message, phrase, what);
    snprintf(phrase, sizeof phrase, "found in %s", fn);
    chk_expect_has(rec->message, phrase, what);
    mmt_recorder_clear(rec);
}

/* Nonzero when the 8 canary bytes right after a block of size bytes are
 * intact (the layout is drawn in src/header.h). */
static int chk_guard_after(const void *p, size_t size)
{
    const unsigned char *g = (const unsigned char *)p + size;
    for (int i = 0; i < 8; i++)
        if (g[i] != MM_GUARD_BYTE) return 0;
    return 1;
}

/* ========================================================================
 * Guards: process-wide blocks
 * ====================================================================== */

Test(check, guards_report_a_one_byte_overrun_of_a_process_block_on_free)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_assert_eq(mm_set_check(MM_CHECK_GUARDS), MM_CHECK_OFF, "the default mode should be off");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_malloc(n, MM_CAT_HALOS);
        cr_assert_not_null(p, "mm_malloc(%zu) under guards should succeed", n);
        mmt_fill(p, n, (unsigned)i);
        mm_stats live = mm_stats_total(NULL);
        mm_stats live_halos = mm_stats_category(NULL, MM_CAT_HALOS);
        p[n] = 0x00; /* one byte past the end */
        mm_free(p);
        char what[128];
        snprintf(what, sizeof what, "mm_free of a %zu-byte process block overrun by one byte", n);
        chk_expect_overrun(&rec, p, n, MM_CAT_HALOS, NULL, "mm_free", what);
        mmt_expect_stats_of(NULL, mm_stats_total(NULL), live,
                            "the reported free of %zu bytes should change no process figure", n);
        mmt_expect_stats_of(NULL, mm_stats_category(NULL, MM_CAT_HALOS), live_halos,
                            "the reported free of %zu bytes should change no Halos figure", n);
        cr_expect(mmt_filled(p, n, (unsigned)i),
                  "the block of %zu bytes should be untouched by the refused free", n);

        p[n] = MM_GUARD_BYTE; /* repaired: the block is whole again and frees normally */
        mm_free(p);
        mmt_expect_no_error(&rec, "freeing the repaired block");
        mmt_expect_stats_of(NULL, mm_stats_total(NULL), chk_minus_block(live, n),
                            "freeing the repaired %zu-byte block should take it off", n);
    }
}

Test(check, guards_report_a_one_byte_overrun_of_a_process_block_on_realloc)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_GUARDS);
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_malloc(n, MM_CAT_TREES);
        cr_assert_not_null(p, "mm_malloc(%zu) under guards should succeed", n);
        mmt_fill(p, n, (unsigned)i);
        mm_stats live = mm_stats_total(NULL);
        p[n] ^= 0x01;
        void *q = mm_realloc(p, n + 100);
        char what[128];
        snprintf(what, sizeof what, "mm_realloc of a %zu-byte process block overrun by one byte",
                 n);
        cr_expect_null(q, "%s should return NULL", what);
        chk_expect_overrun(&rec, p, n, MM_CAT_TREES, NULL, "mm_realloc", what);
        mmt_expect_stats_of(NULL, mm_stats_total(NULL), live,
                            "the refused realloc of %zu bytes should change no figure", n);
        cr_expect(mmt_filled(p, n, (unsigned)i), "the refused realloc should keep the contents");

        p[n] ^= 0x01;
        q = mm_realloc(p, n + 100);
        mmt_expect_no_error(&rec, "reallocating the repaired block");
        cr_assert_not_null(q, "the repaired %zu-byte block should reallocate", n);
        cr_expect(mmt_filled(q, n, (unsigned)i), "the realloc should keep the first %zu bytes",
                  n);
        mm_free(q);
        mmt_expect_no_error(&rec, "freeing the reallocated block");
        size_t grown = live.bytes + 100; /* the block grew from n to n + 100 bytes */
        mmt_expect_stats_of(NULL, mm_stats_total(NULL),
                            mmt_stats(live.bytes - n, grown > live.peak_bytes ? grown : live.peak_bytes,
                                   live.blocks - 1, live.allocs, live.frees + 1),
                            "after realloc and free of the %zu-byte block nothing of it is live", n);
    }
}

Test(check, mm_validate_returns_0_for_an_overrun_block_and_reports_nothing)
{
    mmt_recorder rec;
    mm_context *ctx = chk_guarded_context(&rec, "validate");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        for (int in_ctx = 0; in_ctx < 2; in_ctx++) {
            unsigned char *p = in_ctx ? mm_context_malloc(ctx, n, MM_CAT_IO)
                                      : mm_malloc(n, MM_CAT_IO);
            cr_assert_not_null(p, "the %zu-byte block should be allocated", n);
            const char *where = in_ctx ? "context" : "process";
            cr_expect_eq(mm_validate(p), 1, "an intact guarded %s block of %zu bytes is valid",
                         where, n);
            p[n] = 'x';
            cr_expect_eq(mm_validate(p), 0,
                         "a %s block of %zu bytes overrun by one byte should not validate", where,
                         n);
            mmt_expect_no_error(&rec, "mm_validate never calls the error handler");
            p[n] = MM_GUARD_BYTE;
            cr_expect_eq(mm_validate(p), 1, "the repaired %s block of %zu bytes is valid again",
                         where, n);
            mm_free(p);
            mmt_expect_no_error(&rec, "freeing the repaired block");
        }
    }
    mm_context_destroy(ctx);
}

/* ========================================================================
 * Guards: context blocks (small, and large above 256 KiB)
 * ====================================================================== */

Test(check, guards_report_a_one_byte_overrun_of_a_context_block_on_free)
{
    mmt_recorder rec;
    mm_context *ctx = chk_guarded_context(&rec, "forest");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_context_malloc(ctx, n, MM_CAT_GALAXIES);
        cr_assert_not_null(p, "mm_context_malloc(%zu) under guards should succeed", n);
        mmt_fill(p, n, (unsigned)i);
        mm_stats live = mm_stats_total(ctx), live_proc = mm_stats_total(NULL);
        p[n] = 0x00;
        mm_free(p);
        char what[128];
        snprintf(what, sizeof what, "mm_free of a %zu-byte context block overrun by one byte", n);
        chk_expect_overrun(&rec, p, n, MM_CAT_GALAXIES, ctx, "mm_free", what);
        mmt_expect_stats_of(ctx, mm_stats_total(ctx), live,
                            "the refused free of %zu bytes should change no context figure", n);
        mmt_expect_stats_of(ctx, mm_stats_total(NULL), live_proc,
                            "the refused free of %zu bytes should change no process figure", n);
        cr_expect_eq(mm_validate(p), 0, "the overrun %zu-byte block stays live but invalid", n);

        p[n] = MM_GUARD_BYTE;
        mm_free(p);
        mmt_expect_no_error(&rec, "freeing the repaired context block");
        mmt_expect_stats_of(ctx, mm_stats_total(ctx), chk_minus_block(live, n),
                            "freeing the repaired %zu-byte context block should take it off", n);
    }
    mm_context_destroy(ctx);
}

Test(check, guards_report_a_one_byte_overrun_of_a_context_block_on_realloc)
{
    mmt_recorder rec;
    mm_context *ctx = chk_guarded_context(&rec, "forest");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_context_malloc(ctx, n, MM_CAT_HALOS);
        cr_assert_not_null(p, "mm_context_malloc(%zu) should succeed", n);
        mmt_fill(p, n, (unsigned)i);
        mm_stats live = mm_stats_total(ctx);
        p[n] = 0x01;
        char what[128];
        snprintf(what, sizeof what, "mm_realloc_cat of a %zu-byte context block overrun by one",
                 n);
        cr_expect_null(mm_realloc_cat(p, n / 2, MM_CAT_TREES), "%s should return NULL", what);
        chk_expect_overrun(&rec, p, n, MM_CAT_HALOS, ctx, "mm_realloc_cat", what);
        mmt_expect_stats_of(ctx, mm_stats_total(ctx), live,
                            "the refused realloc of %zu bytes should change no context figure", n);
        cr_expect_eq(mm_block_category(p), MM_CAT_HALOS,
                     "the refused realloc should leave the block in Halos");
        p[n] = MM_GUARD_BYTE;
        mm_free(p);
        mmt_expect_no_error(&rec, "freeing the repaired block");
    }
    mm_context_destroy(ctx);
}

Test(check, mm_check_of_a_context_reports_each_overrun_block_once)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_GUARDS);
    mm_context *ctx = mm_context_create("forest", NULL);
    mm_context *module = mm_context_create("cooling", ctx);
    cr_assert_not_null(module, "mm_context_create should return a child context");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        /* neighbours on both sides, so the walk has to step over a damaged block */
        void *before = mm_context_malloc(module, n, MM_CAT_UTILITY);
        unsigned char *p = mm_context_malloc(module, n, MM_CAT_IO);
        void *after = mm_context_malloc(module, n, MM_CAT_UTILITY);
        cr_assert(before && p && after, "three %zu-byte blocks should be allocated", n);
        cr_expect_eq(mm_check(module), 0, "intact %zu-byte blocks give no problem", n);
        mmt_expect_no_error(&rec, "mm_check of intact blocks");
        p[n] = 0;
        char what[128];
        snprintf(what, sizeof what, "mm_check(module) with one overrun %zu-byte block", n);
        cr_expect_eq(mm_check(module), 1, "%s should return 1", what);
        chk_expect_overrun(&rec, p, n, MM_CAT_IO, module, "mm_check", what);
        snprintf(what, sizeof what, "mm_check(parent) with one overrun %zu-byte block", n);
        cr_expect_eq(mm_check(ctx), 1, "%s should walk the child and return 1", what);
        chk_expect_overrun(&rec, p, n, MM_CAT_IO, module, "mm_check", what);
        snprintf(what, sizeof what, "mm_check(NULL) with one overrun %zu-byte block", n);
        cr_expect_eq(mm_check(NULL), 1, "%s should walk every context and return 1", what);
        chk_expect_overrun(&rec, p, n, MM_CAT_IO, module, "mm_check", what);
        p[n] = MM_GUARD_BYTE;
        cr_expect_eq(mm_check(NULL), 0, "the repaired %zu-byte block gives no problem", n);
        mmt_expect_no_error(&rec, "mm_check after the repair");
        mm_free(before);
        mm_free(p);
        mm_free(after);
        mmt_expect_no_error(&rec, "freeing the three blocks");
    }
    mmt_expect_stats_of(ctx, mm_stats_total(ctx),
                        mmt_stats(0, 3 * 300000, 0, 3 * CHK_NSIZES, 3 * CHK_NSIZES),
                        "every block of the test should be freed");
    mm_context_destroy(ctx);
}

Test(check, overrun_message_names_the_allocation_site_of_a_sited_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_GUARDS);
    cr_assert_eq(mm_set_sites(1), 0, "sites should be off by default");
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_malloc_at(40, MM_CAT_HALOS, "forest.c", 101);
    unsigned char *q = mm_context_malloc_at(ctx, 300000, MM_CAT_TREES, "trees.c", 202);
    cr_assert(p && q, "two sited, guarded blocks should be allocated");
    p[40] = 0;
    q[300000] = 0;
    mm_free(p);
    chk_expect_has(rec.message, ", allocated at forest.c:101, was written past its end",
                   "the overrun message of the process block");
    chk_expect_overrun(&rec, p, 40, MM_CAT_HALOS, NULL, "mm_free", "overrun of a sited block");
    cr_expect_eq(mm_check(ctx), 1, "mm_check should find the overrun large context block");
    chk_expect_has(rec.message, ", allocated at trees.c:202, was written past its end",
                   "the overrun message of the context block");
    chk_expect_overrun(&rec, q, 300000, MM_CAT_TREES, ctx, "mm_check",
                       "overrun of a sited context block");

    /* a block from a plain call has no file: the message names no site */
    unsigned char *r = mm_malloc(16, MM_CAT_IO);
    r[16] = 0;
    mm_free(r);
    cr_expect(strstr(rec.message, "allocated at") == NULL,
              "a block of the unknown site should name no site, message: %s", rec.message);
    chk_expect_overrun(&rec, r, 16, MM_CAT_IO, NULL, "mm_free", "overrun of an unsited block");
    p[40] = q[300000] = r[16] = MM_GUARD_BYTE;
    mm_free(p);
    mm_free(r);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "freeing the repaired blocks");
}

static void chk_child_process_overrun(void *arg)
{
    (void)arg;
    mm_set_check(MM_CHECK_GUARDS);
    unsigned char *p = mm_malloc(104, MM_CAT_HALOS);
    p[104] = 0;
    mm_free(p);
}

Test(check, process_overrun_aborts_under_the_default_handler_with_its_message)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_process_overrun, NULL, "mimicmem: buffer overrun: block ", msg);
    chk_expect_has(msg, " of 104 bytes in category \"Halos\" was written past its end",
                   "the abort message");
    chk_expect_has(msg, "found in mm_free", "the abort message");
}

static void chk_child_process_realloc_overrun(void *arg)
{
    (void)arg;
    mm_set_check(MM_CHECK_FULL);
    unsigned char *p = mm_malloc(9, MM_CAT_TREES);
    p[9] = 0;
    (void)mm_realloc(p, 4000);
}

Test(check, realloc_of_an_overrun_block_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_process_realloc_overrun, NULL, "buffer overrun", msg);
    chk_expect_has(msg, " of 9 bytes in category \"Trees\"", "the abort message");
    chk_expect_has(msg, "found in mm_realloc", "the abort message");
}

static void chk_child_context_overrun(void *arg)
{
    (void)arg;
    mm_set_check(MM_CHECK_GUARDS);
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc_at(ctx, 300000, MM_CAT_GALAXIES, "galaxies.c", 77);
    p[300000] = 0;
    mm_check(ctx);
}

Test(check, context_overrun_found_by_mm_check_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_context_overrun, NULL, "buffer overrun", msg);
    chk_expect_has(msg,
                   " of 300000 bytes in category \"Galaxies\" in context \"forest\", allocated "
                   "at galaxies.c:77, was written past its end",
                   "the abort message names the block, its context and its site");
    chk_expect_has(msg, "found in mm_check", "the abort message");
}

/* ========================================================================
 * Poison: fills of new blocks
 * ====================================================================== */

Test(check, poison_fills_a_new_block_of_doubles_with_nan_by_default)
{
    mm_set_check(MM_CHECK_POISON);
    char fill[16];
    cr_assert_eq(mm_option_get("fill", fill, sizeof fill), 0, "option fill should exist");
    cr_expect_str_eq(fill, "nan", "the default fill should be nan");
    mm_context *ctx = mm_context_create("forest", NULL);
    const size_t counts[] = {1, 13, 512, 40000};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        size_t n = counts[i];
        double *d = mm_malloc(n * sizeof(double), MM_CAT_HALOS);
        double *e = mm_context_malloc(ctx, n * sizeof(double), MM_CAT_HALOS);
        cr_assert(d && e, "two blocks of %zu doubles should be allocated", n);
        size_t bad_d = 0, bad_e = 0;
        for (size_t k = 0; k < n; k++) {
            if (!isnan(d[k])) bad_d++;
            if (!isnan(e[k])) bad_e++;
        }
        cr_expect_eq(bad_d, 0, "every double of a new process block of %zu should be NaN", n);
        cr_expect_eq(bad_e, 0, "every double of a new context block of %zu should be NaN", n);
        float *f = (float *)d;
        size_t bad_f = 0;
        for (size_t k = 0; k < 2 * n; k++)
            if (!isnan(f[k])) bad_f++;
        cr_expect_eq(bad_f, 0, "every aligned float of the block should be NaN too");
        mm_free(d);
        mm_free(e);
    }
    mm_context_destroy(ctx);
}

Test(check, poison_with_fill_bytes_sets_every_byte_of_a_new_block_to_the_fresh_byte)
{
    mm_set_check(MM_CHECK_FULL);
    cr_assert_eq(mm_option_set("fill", "bytes"), 0, "fill=bytes should be accepted");
    mm_context *ctx = mm_context_create("forest", NULL);
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_malloc(n, MM_CAT_TREES);
        unsigned char *q = mm_context_malloc(ctx, n, MM_CAT_TREES);
        cr_assert(p && q, "two %zu-byte blocks should be allocated", n);
        size_t bad_p = 0, bad_q = 0;
        for (size_t k = 0; k < n; k++) {
            if (p[k] != MM_FRESH_BYTE) bad_p++;
            if (q[k] != MM_FRESH_BYTE) bad_q++;
        }
        cr_expect_eq(bad_p, 0, "every byte of a new %zu-byte process block should be 0xA5", n);
        cr_expect_eq(bad_q, 0, "every byte of a new %zu-byte context block should be 0xA5", n);
        cr_expect(chk_guard_after(p, n) && chk_guard_after(q, n),
                  "the fill should stop at the end, before the canary");
        mm_free(p);
        mm_free(q);
    }
    mm_context_destroy(ctx);
}

Test(check, realloc_under_poison_fills_only_the_grown_part)
{
    mm_set_check(MM_CHECK_POISON);
    cr_assert_eq(mm_option_set("fill", "bytes"), 0, "fill=bytes should be accepted");
    unsigned char *p = mm_malloc(50, MM_CAT_IO);
    cr_assert_not_null(p, "mm_malloc(50) should succeed");
    mmt_fill(p, 50, 3);
    p = mm_realloc(p, 500);
    cr_assert_not_null(p, "growing to 500 bytes should succeed");
    cr_expect(mmt_filled(p, 50, 3), "the first 50 bytes should be kept");
    size_t bad = 0;
    for (size_t k = 50; k < 500; k++)
        if (p[k] != MM_FRESH_BYTE) bad++;
    cr_expect_eq(bad, 0, "the 450 grown bytes should hold the fresh fill");
    mm_free(p);
}

Test(check, calloc_under_poison_still_returns_zeroed_memory)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_FULL);
    mm_context *ctx = mm_context_create("forest", NULL);
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        unsigned char *p = mm_calloc(1, n, MM_CAT_HALOS);
        unsigned char *q = mm_context_calloc(ctx, n, 1, MM_CAT_HALOS);
        cr_assert(p && q, "two zeroed %zu-byte blocks should be allocated", n);
        size_t nonzero = 0;
        for (size_t k = 0; k < n; k++) nonzero += (p[k] != 0) + (q[k] != 0);
        cr_expect_eq(nonzero, 0, "calloc'ed %zu-byte blocks should be all zero under poison", n);
        mm_free(p);
        mm_free(q);
    }
    mmt_expect_no_error(&rec, "calloc under poison");
}

Test(check, calloc_reusing_a_poisoned_context_slot_zeroes_it_and_reports_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 64, MM_CAT_HALOS);
    mm_free(p); /* poisoned, first on its size class's free list */
    unsigned char *q = mm_context_calloc(ctx, 8, 8, MM_CAT_HALOS);
    cr_assert_eq(q, p, "the calloc should reuse the freed 64-byte slot");
    mmt_expect_no_error(&rec, "zeroing a reused poisoned block is not a write after free");
    size_t nonzero = 0;
    for (size_t k = 0; k < 64; k++) nonzero += q[k] != 0;
    cr_expect_eq(nonzero, 0, "the reused slot should be zeroed");
    mm_free(q);
    mm_context_destroy(ctx);
}

Test(check, calloc_reusing_a_cached_poisoned_process_block_zeroes_it_and_reports_nothing)
{
    chk_skip_without_cache();
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    unsigned char *r = mm_malloc(64, MM_CAT_TREES);
    mm_free(r); /* poisoned, in the thread's cache */
    unsigned char *s = mm_calloc(64, 1, MM_CAT_TREES);
    cr_assert_eq(s, r, "the calloc should reuse the cached 64-byte block");
    mmt_expect_no_error(&rec, "zeroing a reused cached block is not a write after free");
    size_t nonzero = 0;
    for (size_t k = 0; k < 64; k++) nonzero += s[k] != 0;
    cr_expect_eq(nonzero, 0, "the reused cached block should be zeroed");
    mm_free(s);
}

/* ========================================================================
 * Poison: freed blocks
 * ====================================================================== */

Test(check, a_freed_context_block_is_filled_with_the_freed_byte_after_its_link)
{
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    const size_t sizes[] = {8, 9, 104, 4104, 200000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = mm_context_malloc(ctx, n, MM_CAT_GALAXIES);
        cr_assert_not_null(p, "mm_context_malloc(%zu) should succeed", n);
        memset(p, 0x11, n);
        mm_free(p);
        /* the slot stays in the context's chunk: reading it is reading our own memory */
        size_t bad = 0;
        for (size_t k = 8; k < n; k++) bad += p[k] != MM_FREED_BYTE;
        cr_expect_eq(bad, 0, "bytes 8..%zu of the freed block should all be 0x5A", n - 1);
    }
    cr_expect_eq(mm_check(ctx), 0, "untouched freed blocks give no problem");
    mm_context_destroy(ctx);
}

Test(check, a_write_into_a_freed_context_block_is_caught_by_mm_check)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    mm_context *module = mm_context_create("cooling", ctx);
    unsigned char *keep = mm_context_malloc(module, 104, MM_CAT_HALOS);
    unsigned char *p = mm_context_malloc(module, 104, MM_CAT_HALOS);
    cr_assert(keep && p, "two 104-byte blocks should be allocated");
    mm_free(p);
    mm_stats before = mm_stats_total(module);
    p[40] = 0x00; /* a stale pointer writes into the freed block */

    cr_expect_eq(mm_check(module), 1, "mm_check(module) should find one problem");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_HALOS, module, 40, "mm_check",
                                "mm_check(module) after a write into a freed block");
    cr_expect_eq(mm_check(ctx), 1, "mm_check(parent) should walk the child and find it");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_HALOS, module, 40, "mm_check",
                                "mm_check(parent) after a write into a freed block");
    cr_expect_eq(mm_check(NULL), 1, "mm_check(NULL) should find it in the live contexts");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_HALOS, module, 40, "mm_check",
                                "mm_check(NULL) after a write into a freed block");
    mmt_expect_stats_of(module, mm_stats_total(module), before, "mm_check should change no figure");
    mm_free(keep);
    mm_context_destroy(ctx);
}

Test(check, a_write_into_a_freed_context_block_is_reported_when_the_slot_is_reused)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 104, MM_CAT_HALOS);
    cr_assert_not_null(p, "a 104-byte block should be allocated");
    mm_free(p);
    p[103] = 0x00; /* the last byte of the freed payload */
    mm_stats before = mm_stats_total(ctx);

    /* 100 bytes share the 112-byte size class of 104 */
    unsigned char *q = mm_context_malloc(ctx, 100, MM_CAT_TREES);
    cr_expect_eq(q, p, "the allocation should reuse the freed slot");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_HALOS, ctx, 103, "mm_context_malloc",
                                "reusing a freed slot written after its free");
    cr_assert_not_null(q, "the allocation should still succeed after the report");
    mmt_expect_stats_of(ctx, mm_stats_total(ctx), chk_plus_block(before, 100),
                        "the allocation after the report should be counted");
    cr_expect_eq(mm_block_category(q), MM_CAT_TREES, "the new block is in its own category");
    cr_expect_eq(mm_check(ctx), 0, "the reused block is live: nothing left to report");
    mmt_expect_no_error(&rec, "mm_check after the reuse");
    mm_free(q);
    mm_context_destroy(ctx);
}

Test(check, poisoning_reports_the_offset_of_the_first_byte_written_in_a_freed_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_FULL);
    mm_context *ctx = mm_context_create("forest", NULL);
    const long offsets[] = {8, 9, 63, 100, 110};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        unsigned char *p = mm_context_malloc(ctx, 104, MM_CAT_IO);
        mm_free(p); /* under full checks the block holds 104 + 8 canary bytes */
        p[offsets[i]] = 0x42;
        p[111] = 0x43; /* a second, later write: the last byte held */
        cr_expect_eq(mm_check(ctx), 1, "one damaged freed block is one problem");
        chk_expect_write_after_free(&rec, p, 112, MM_CAT_IO, ctx, offsets[i], "mm_check",
                                    "the first damaged byte is the one reported");
        /* restore the fill so the next round starts clean */
        p[offsets[i]] = MM_FREED_BYTE;
        p[111] = MM_FREED_BYTE;
        cr_expect_eq(mm_check(ctx), 0, "the restored fill gives no problem");
        mmt_expect_no_error(&rec, "mm_check after the fill is restored");
    }
    mm_context_destroy(ctx);
}

Test(check, a_write_into_a_freed_process_block_is_caught_in_the_threads_cache)
{
    chk_skip_without_cache();
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    unsigned char *p = mm_malloc(104, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "a 104-byte block should be allocated");
    mm_free(p);
    size_t bad = 0;
    for (size_t k = 8; k < 104; k++) bad += p[k] != MM_FREED_BYTE;
    cr_expect_eq(bad, 0, "the cached freed block should hold the free fill after its link");
    cr_expect_eq(mm_check(NULL), 0, "an untouched cached block gives no problem");
    mmt_expect_no_error(&rec, "mm_check of an intact cache");

    p[56] = 0x00;
    cr_expect_eq(mm_check(NULL), 1, "mm_check(NULL) should walk the thread's cache");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_GALAXIES, NULL, 56, "mm_check",
                                "mm_check(NULL) after a write into a cached block");
    mm_stats before = mm_stats_total(NULL);
    unsigned char *q = mm_malloc(104, MM_CAT_HALOS);
    cr_expect_eq(q, p, "the next 104-byte allocation should reuse the cached block");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_GALAXIES, NULL, 56, "mm_malloc",
                                "reusing a cached block written after its free");
    cr_assert_not_null(q, "the allocation should still succeed after the report");
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), chk_plus_block(before, 104),
                        "the allocation after the report should be counted");
    mm_free(q);
}

static void chk_child_write_after_free_check(void *arg)
{
    (void)arg;
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 104, MM_CAT_HALOS);
    mm_free(p);
    p[40] = 0;
    mm_check(ctx);
}

Test(check, write_after_free_found_by_mm_check_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_write_after_free_check, NULL, "mimicmem: write after free: ", msg);
    chk_expect_has(msg,
                   "(104 bytes held, category \"Halos\") in context \"forest\" was written after "
                   "its free",
                   "the abort message names the block, its category and its context");
    chk_expect_has(msg, "byte 40 is no longer the free fill 0x5A, found in mm_check",
                   "the abort message");
}

static void chk_child_write_after_free_reuse(void *arg)
{
    (void)arg;
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 4104, MM_CAT_TREES);
    mm_free(p);
    p[4000] = 0;
    (void)mm_context_malloc(ctx, 4104, MM_CAT_TREES);
}

Test(check, write_after_free_found_on_reuse_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_write_after_free_reuse, NULL, "write after free", msg);
    chk_expect_has(msg, "byte 4000 is no longer the free fill", "the abort message");
    chk_expect_has(msg, "found in mm_context_malloc", "the abort message");
}

/* ========================================================================
 * Switching modes
 * ====================================================================== */

Test(check, set_check_returns_the_old_mode_and_get_check_reads_the_current_one)
{
    cr_expect_eq(mm_get_check(), MM_CHECK_OFF, "checks should be off by default");
    cr_expect_eq(mm_set_check(MM_CHECK_GUARDS), MM_CHECK_OFF, "the old mode was off");
    cr_expect_eq(mm_get_check(), MM_CHECK_GUARDS, "the mode should now be guards");
    cr_expect_eq(mm_set_check(MM_CHECK_POISON), MM_CHECK_GUARDS, "the old mode was guards");
    cr_expect_eq(mm_set_check(MM_CHECK_FULL), MM_CHECK_POISON, "the old mode was poison");
    cr_expect_eq(mm_get_check(), MM_CHECK_FULL, "the mode should now be full");
    char buf[16];
    cr_assert_eq(mm_option_get("check", buf, sizeof buf), 0, "option check should exist");
    cr_expect_str_eq(buf, "full", "the option should read the mode set by mm_set_check");
    cr_expect_eq(mm_option_set("check", "guards"), 0, "check=guards should be accepted");
    cr_expect_eq(mm_get_check(), MM_CHECK_GUARDS, "the option should set the mode");
    cr_expect_eq(mm_set_check(MM_CHECK_OFF), MM_CHECK_GUARDS, "the old mode was guards");
    cr_expect_eq(mm_get_check(), MM_CHECK_OFF, "the mode should be off again");
}

Test(check, a_bad_mode_is_a_bad_argument_and_changes_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    cr_expect_eq(mm_set_check((mm_check_mode)4), MM_CHECK_POISON,
                 "a refused mode should return the mode in force");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_set_check(4)");
    cr_expect_eq(mm_set_check((mm_check_mode)-1), MM_CHECK_POISON,
                 "a negative mode should be refused too");
    chk_expect_has(rec.message, "-1 is not a checking mode", "the bad-mode message");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_set_check(-1)");
    cr_expect_eq(mm_get_check(), MM_CHECK_POISON, "the mode should stay poison");
}

static void chk_child_bad_mode(void *arg)
{
    (void)arg;
    mm_set_check((mm_check_mode)9);
}

Test(check, a_bad_mode_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_bad_mode, NULL, "mimicmem: bad argument: ", msg);
    chk_expect_has(msg, "mm_set_check: 9 is not a checking mode (0..3)", "the abort message");
}

Test(check, blocks_allocated_before_checks_were_on_are_freed_resized_and_validated_after)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats base = mm_stats_total(NULL);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p[CHK_NSIZES], *q[CHK_NSIZES];
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        p[i] = mm_malloc(chk_sizes[i], MM_CAT_HALOS);
        q[i] = mm_context_malloc(ctx, chk_sizes[i], MM_CAT_HALOS);
        cr_assert(p[i] && q[i], "plain blocks of %zu bytes should be allocated", chk_sizes[i]);
        mmt_fill(p[i], chk_sizes[i], 1);
        mmt_fill(q[i], chk_sizes[i], 2);
    }
    mm_stats proc = mm_stats_total(NULL), live = mm_stats_total(ctx);
    mm_set_check(MM_CHECK_FULL);
    cr_expect_eq(mm_check(NULL), 0, "plain blocks carry no guard: nothing to report");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        size_t n = chk_sizes[i];
        cr_expect_eq(mm_validate(p[i]), 1, "a plain process block of %zu is valid under full", n);
        cr_expect_eq(mm_validate(q[i]), 1, "a plain context block of %zu is valid under full", n);
        p[i] = mm_realloc(p[i], n + 24);
        q[i] = mm_realloc(q[i], n + 24);
        cr_assert(p[i] && q[i], "plain blocks of %zu bytes should reallocate under full", n);
        cr_expect(mmt_filled(p[i], n, 1) && mmt_filled(q[i], n, 2),
                  "the realloc should keep the contents of the %zu-byte blocks", n);
        cr_expect(chk_guard_after(p[i], n + 24) && chk_guard_after(q[i], n + 24),
                  "the reallocated blocks are new blocks and carry a canary");
    }
    mmt_expect_stats_of(ctx, mm_stats_total(ctx),
                        mmt_stats(live.bytes + 24 * CHK_NSIZES, live.bytes + 24 * CHK_NSIZES,
                               live.blocks, live.allocs, 0),
                        "each realloc should add its 24 bytes and nothing else");
    for (size_t i = 0; i < CHK_NSIZES; i++) {
        mm_free(p[i]);
        mm_free(q[i]);
    }
    mmt_expect_no_error(&rec, "blocks made before the switch");
    /* every step of the test grew the live bytes, so the peak is the end */
    mmt_expect_stats_of(NULL, mm_stats_total(NULL),
                        mmt_stats(base.bytes, proc.bytes + 2 * 24 * CHK_NSIZES, base.blocks,
                               base.allocs + 2 * CHK_NSIZES, base.frees + 2 * CHK_NSIZES),
                        "every block of the test should be freed");
    mm_context_destroy(ctx);
}

Test(check, guarded_blocks_still_have_their_guard_checked_after_checks_are_off)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_GUARDS);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_malloc(24, MM_CAT_TREES);
    unsigned char *q = mm_context_malloc(ctx, 24, MM_CAT_TREES);
    unsigned char *r = mm_context_malloc(ctx, 300000, MM_CAT_TREES);
    cr_assert(p && q && r, "three guarded blocks should be allocated");
    cr_expect_eq(mm_set_check(MM_CHECK_OFF), MM_CHECK_GUARDS, "the old mode was guards");

    p[24] = q[24] = r[300000] = 0;
    cr_expect_eq(mm_validate(p), 0, "mm_validate still checks the canary of p");
    mm_free(p);
    chk_expect_overrun(&rec, p, 24, MM_CAT_TREES, NULL, "mm_free",
                       "mm_free of a guarded block after checks are off");
    cr_expect_null(mm_realloc(q, 50), "a realloc of an overrun block should be refused");
    chk_expect_overrun(&rec, q, 24, MM_CAT_TREES, ctx, "mm_realloc",
                       "mm_realloc of a guarded block after checks are off");
    cr_expect_eq(mm_check(ctx), 2, "mm_check finds both overrun context blocks");
    cr_expect_eq(rec.count, 2, "two overruns should be reported, got %d", rec.count);
    mmt_recorder_clear(&rec);

    p[24] = q[24] = r[300000] = MM_GUARD_BYTE;
    mm_free(p);
    q = mm_realloc(q, 50);
    cr_assert_not_null(q, "the repaired block should reallocate");
    cr_expect_eq(mm_validate(q), 1, "the block reallocated with checks off is valid");
    mm_free(q);
    mm_free(r);
    mmt_expect_no_error(&rec, "the repaired blocks");
    /* q (24, then 50 bytes) and r (300000) were the context's blocks */
    mmt_expect_stats_of(ctx, mm_stats_total(ctx), mmt_stats(0, 300050, 0, 2, 2),
                        "the context should be empty after the frees");
    mm_context_destroy(ctx);
}

Test(check, poisoned_blocks_freed_after_poison_is_off_are_reused_without_reports)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 64, MM_CAT_HALOS);
    mm_free(p);
    mm_set_check(MM_CHECK_OFF);
    unsigned char *q = mm_context_malloc(ctx, 64, MM_CAT_HALOS);
    cr_expect_eq(q, p, "the plain path should reuse the poisoned slot");
    memset(q, 0, 64);
    mm_free(q);
    mm_set_check(MM_CHECK_POISON);
    cr_expect_eq(mm_check(ctx), 0, "a slot freed while poison was off is not poisoned");
    unsigned char *r = mm_context_malloc(ctx, 64, MM_CAT_HALOS);
    cr_expect_eq(r, p, "the slot should be reused again");
    mm_free(r);
    mmt_expect_no_error(&rec, "reusing slots across mode switches");
    mm_context_destroy(ctx);
}

Test(check, blocks_allocated_under_poison_are_filled_when_freed_after_poison_is_off)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_POISON);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 104, MM_CAT_TREES);
    cr_assert_not_null(p, "a 104-byte block should be allocated under poison");
    cr_expect_eq(mm_set_check(MM_CHECK_OFF), MM_CHECK_POISON, "the old mode was poison");
    memset(p, 0x11, 104);
    mm_free(p);
    size_t bad = 0;
    for (size_t k = 8; k < 104; k++) bad += p[k] != MM_FREED_BYTE;
    cr_expect_eq(bad, 0, "the block made under poison gets the free fill after its link");
    p[20] = 0;
    cr_expect_eq(mm_check(ctx), 1, "mm_check should find the write into the poisoned block");
    chk_expect_write_after_free(&rec, p, 104, MM_CAT_TREES, ctx, 20, "mm_check",
                                "mm_check with poison off, block poisoned at its free");

    /* a block made with checks off is not filled when freed under poison */
    unsigned char *q = mm_context_malloc(ctx, 24, MM_CAT_TREES);
    mm_set_check(MM_CHECK_POISON);
    memset(q, 0x11, 24);
    mm_free(q);
    if (!mmt_use_after_free_is_checked()) /* the tools see a plain freed block as no-access */
        cr_expect_eq(q[8], 0x11, "a plain block keeps its bytes after a free under poison");
    p[20] = MM_FREED_BYTE;
    cr_expect_eq(mm_check(ctx), 0, "the restored fill and the plain freed block are fine");
    mmt_expect_no_error(&rec, "mm_check after the repair");
    mm_context_destroy(ctx);
}

/* ========================================================================
 * Realloc, reset and mm_check of intact memory
 * ====================================================================== */

Test(check, realloc_of_a_guarded_process_block_keeps_contents_and_moves_the_guard)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_GUARDS);
    mm_stats base = mm_stats_total(NULL);
    unsigned char *p = mm_malloc(24, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(24) should succeed");
    mmt_fill(p, 24, 5);
    cr_expect(chk_guard_after(p, 24), "a new guarded block has a canary right after its end");
    const size_t steps[] = {200, 5000, 300000, 10, 0, 104};
    size_t old = 24, peak = 24;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = steps[i];
        p = mm_realloc(p, n);
        cr_assert_not_null(p, "realloc from %zu to %zu bytes should succeed", old, n);
        size_t kept = old < n ? old : n;
        kept = kept < 24 ? kept : 24;
        cr_expect(mmt_filled(p, kept, 5), "realloc %zu -> %zu should keep the first %zu bytes",
                  old, n, kept);
        cr_expect(chk_guard_after(p, n), "after realloc to %zu the canary follows the new end",
                  n);
        cr_expect_eq(mm_validate(p), 1, "the reallocated %zu-byte block is valid", n);
        cr_expect_eq(mm_block_size(p), n, "the block size should be %zu", n);
        if (n > peak) peak = n;
        mmt_expect_stats_of(NULL, mm_stats_total(NULL),
                            mmt_stats(base.bytes + n, base.bytes + peak, base.blocks + 1,
                                   base.allocs + 1, base.frees),
                            "after realloc to %zu bytes one block of %zu bytes is live", n, n);
        if (n >= 24) mmt_fill(p, 24, 5);
        old = n;
    }
    p[104] = 0;
    cr_expect_eq(mm_validate(p), 0, "a write at the new end should hit the moved canary");
    p[104] = MM_GUARD_BYTE;
    mm_free(p);
    mmt_expect_no_error(&rec, "reallocating a guarded block");
    mmt_expect_stats_of(NULL, mm_stats_total(NULL),
                        mmt_stats(base.bytes, base.bytes + peak, base.blocks, base.allocs + 1,
                               base.frees + 1),
                        "after the free nothing of the block is live");
}

Test(check, realloc_of_a_guarded_context_block_keeps_contents_and_category_moves)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_FULL);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 104, MM_CAT_HALOS);
    cr_assert_not_null(p, "a guarded 104-byte context block should be allocated");
    mmt_fill(p, 104, 9);
    p = mm_realloc(p, 300000); /* small -> large */
    cr_assert_not_null(p, "growing to 300000 bytes should succeed");
    cr_expect(mmt_filled(p, 104, 9), "the contents should move to the large block");
    cr_expect(chk_guard_after(p, 300000), "the canary should follow the large block");
    cr_expect_eq(mm_block_context(p), ctx, "the large block stays in its context");
    mmt_expect_stats_of(ctx, mm_stats_total(ctx), mmt_stats(300000, 300000, 1, 1, 0),
                        "one 300000-byte block should be live in the context");
    p = mm_realloc_cat(p, 40, MM_CAT_TREES); /* large -> small, new category */
    cr_assert_not_null(p, "shrinking to 40 bytes in Trees should succeed");
    cr_expect(mmt_filled(p, 40, 9), "the first 40 bytes should be kept");
    cr_expect(chk_guard_after(p, 40), "the canary should follow the 40-byte block");
    mmt_expect_stats_of(ctx, mm_stats_category(ctx, MM_CAT_HALOS), mmt_stats(0, 300000, 0, 1, 0),
                        "the block left Halos");
    mmt_expect_stats_of(ctx, mm_stats_category(ctx, MM_CAT_TREES), mmt_stats(40, 40, 1, 0, 0),
                        "the block moved into Trees (moved, not allocated)");
    mmt_expect_stats_of(ctx, mm_stats_total(ctx), mmt_stats(40, 300000, 1, 1, 0),
                        "one 40-byte block should be live in the context");
    cr_expect_eq(mm_check(ctx), 0, "the freed and live slots are intact");
    mm_free(p);
    mmt_expect_no_error(&rec, "reallocating a guarded context block");
    mmt_expect_stats_of(ctx, mm_stats_total(ctx), mmt_stats(0, 300000, 0, 1, 1),
                        "the context should be empty");
    mm_context_destroy(ctx);
}

Test(check, reset_of_a_context_with_guarded_and_poisoned_blocks_frees_them_all)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_FULL);
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    mm_stats base = mm_stats_total(NULL);
    /* each round: the even-indexed sizes (0, 7, 9, 4104) stay live, the odd
     * ones (1, 8, 104, 300000) are freed at once; the 300000-byte block on
     * top of the 4120 live bytes is the epoch's high-water mark */
    const size_t live = 0 + 7 + 9 + 4104, peak = live + 300000;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < CHK_NSIZES; i++) {
            void *p = mm_context_malloc_at(ctx, chk_sizes[i], MM_CAT_HALOS, "reset.c", 1);
            cr_assert_not_null(p, "a %zu-byte block should be allocated", chk_sizes[i]);
            if (i % 2) mm_free(p);
        }
        mmt_expect_stats_of(ctx, mm_context_epoch_stats(ctx), mmt_stats(live, peak, 4, 8, 4),
                            "round %d: the four even-indexed blocks should be live", round);
        cr_expect_eq(mm_check(ctx), 0, "round %d: the blocks are intact before the reset", round);
        mm_context_reset(ctx);
        uint64_t calls = (uint64_t)(round + 1) * CHK_NSIZES;
        mmt_expect_stats_of(ctx, mm_stats_total(NULL),
                            mmt_stats(base.bytes,
                                   base.peak_bytes > base.bytes + peak ? base.peak_bytes
                                                                       : base.bytes + peak,
                                   base.blocks, base.allocs + calls, base.frees + calls),
                            "round %d: reset should free every block of the context", round);
        mmt_expect_stats_of(ctx, mm_stats_total(ctx), mmt_stats(0, peak, 0, calls, calls),
                            "round %d: the context should be empty after the reset", round);
        mm_site_stats s;
        cr_assert_eq(mm_sites(&s, 1), 1, "one site should be known");
        cr_expect_eq(s.blocks, 0, "round %d: reset should take the blocks off their site", round);
        cr_expect_eq(s.bytes, 0, "round %d: reset should take the bytes off their site", round);
        cr_expect_eq(s.allocs, calls, "round %d: the site counts every allocation", round);
        cr_expect_eq(mm_check(ctx), 0, "round %d: the reset context is intact", round);
    }
    mmt_expect_no_error(&rec, "resets of a context with guarded blocks");
    mm_context_destroy(ctx);
}

Test(check, mm_check_of_intact_memory_returns_0_and_reports_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_check(MM_CHECK_FULL);
    cr_expect_eq(mm_check(NULL), 0, "a process without blocks has no problem");
    mm_context *a = mm_context_create("a", NULL);
    mm_context *b = mm_context_create("b", a);
    mm_context *c = mm_context_create("c", NULL);
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)i * 97;
        mm_context *ctx = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
        keep[i] = mm_context_malloc(ctx, n, MM_CAT_TREES);
        void *gone = mm_context_malloc(ctx, n + 1, MM_CAT_HALOS);
        void *proc = mm_malloc(n, MM_CAT_IO);
        cr_assert(keep[i] && gone && proc, "allocation round %d should succeed", i);
        mm_free(gone);
        mm_free(proc);
    }
    void *big = mm_context_malloc(c, 400000, MM_CAT_IO);
    cr_assert_not_null(big, "a large context block should be allocated");
    cr_expect_eq(mm_check(NULL), 0, "live, freed and cached blocks are intact");
    cr_expect_eq(mm_check(a), 0, "context a and its child are intact");
    cr_expect_eq(mm_check(c), 0, "context c is intact");
    mmt_expect_no_error(&rec, "mm_check of intact memory");
    mm_context_destroy(a);
    mm_context_destroy(c);
    cr_expect_eq(mm_check(NULL), 0, "nothing is left to check");
    mmt_expect_no_error(&rec, "mm_check after the contexts are gone");
}

Test(check, mm_check_of_a_destroyed_context_is_a_bad_context)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mm_context_create("gone", NULL);
    mm_context_destroy(ctx);
    cr_expect_eq(mm_check(ctx), 0, "a refused mm_check returns 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CONTEXT, "mm_check of a destroyed context");
}

/* ========================================================================
 * Damaged headers
 * ====================================================================== */

Test(check, a_damaged_block_header_found_by_mm_check_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *before = mm_context_malloc(ctx, 48, MM_CAT_HALOS);
    unsigned char *p = mm_context_malloc(ctx, 48, MM_CAT_HALOS);
    unsigned char *after = mm_context_malloc(ctx, 48, MM_CAT_HALOS);
    cr_assert(before && p && after, "three 48-byte blocks should be allocated");
    /* written payloads: after a damaged header the walk reads the bytes that
     * follow to find the next header */
    memset(before, 0x21, 48);
    memset(p, 0x22, 48);
    memset(after, 0x23, 48);
    unsigned char saved[16];
    mmt_tool_open(p - 16, 16); /* the header, which memcheck and ASan watch */
    memcpy(saved, p - 16, 16);
    p[-16] ^= 0x40; /* one bit of the size word, as a stray write would do */

    cr_expect_eq(mm_check(ctx), 1, "one damaged header is one problem");
    cr_expect_eq(rec.count, 1, "exactly one error should be reported, got %d", rec.count);
    cr_expect_eq(rec.kind, MM_ERR_BAD_POINTER, "a damaged header is a bad pointer, got %d (%s)",
                 (int)rec.kind, rec.message);
    cr_expect_eq(rec.ptr, p, "the error should carry the damaged block %p, got %p", (void *)p,
                 rec.ptr);
    char phrase[128];
    snprintf(phrase, sizeof phrase, "mm_check: the block header at %p is damaged", (void *)p);
    chk_expect_has(rec.message, phrase, "the damaged-header message");
    mmt_recorder_clear(&rec);
    cr_expect_eq(mm_check(NULL), 1, "mm_check(NULL) should find it too");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_check(NULL) of a damaged header");
    cr_expect_eq(mm_validate(p), 0, "the damaged block does not validate");
    cr_expect_eq(mm_validate(after), 1, "the block after it is still valid");
    mmt_expect_no_error(&rec, "mm_validate");

    memcpy(p - 16, saved, 16);
    cr_expect_eq(mm_check(ctx), 0, "the restored header gives no problem");
    mm_free(before);
    mm_free(p);
    mm_free(after);
    mmt_expect_no_error(&rec, "freeing the blocks after the repair");
    mm_context_destroy(ctx);
}

static void chk_child_damaged_header(void *arg)
{
    (void)arg;
    mm_context *ctx = mm_context_create("forest", NULL);
    unsigned char *p = mm_context_malloc(ctx, 48, MM_CAT_HALOS);
    memset(p, 0x22, 48);
    mmt_tool_open(p - 16, 16); /* the header, which memcheck and ASan watch */
    p[-8] ^= 0x01; /* the info word */
    mm_check(ctx);
}

Test(check, a_damaged_block_header_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(chk_child_damaged_header, NULL, "mimicmem: bad pointer: mm_check: ", msg);
    chk_expect_has(msg, "the block header at 0x", "the abort message");
    chk_expect_has(msg, "is damaged", "the abort message");
}
