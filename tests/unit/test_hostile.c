/* Hostile input at the API boundary: NULL and destroyed contexts, sizes near
 * SIZE_MAX, n*size overflow, out-of-range categories, names with control
 * characters or of extreme length. Each call must give exactly one error of
 * the documented kind (or none, where the header documents a safe meaning)
 * and leave the process statistics exactly as they were. Reports with hostile
 * names must stay well-formed: text lines unbroken, JSON valid (mm_json). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mm_json.h"
#include "mm_test.h"

/* ------------------------------------------------------------------------
 * Fixture: a recording handler and the process figures to compare against
 * ---------------------------------------------------------------------- */

static mmt_recorder rec;
static mm_stats base; /* process totals before the hostile calls */

static void hostile_setup(void) {
    mmt_record_errors(&rec);
    base = mm_stats_total(NULL);
}

/* Takes the current process totals as the reference (after setup steps). */
static void hostile_rebase(void) {
    base = mm_stats_total(NULL);
    mmt_recorder_clear(&rec);
}

#define expect_unchanged(what)                                                                     \
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), base,                                          \
                        "%s: the process statistics should be unchanged", (what))

/* Runs stmt, then expects exactly one error of kind k and unchanged totals. */
#define expect_error(stmt, k, what)                                                                \
    do {                                                                                           \
        mmt_recorder_clear(&rec);                                                                  \
        stmt;                                                                                      \
        mmt_expect_one_error(&rec, (k), what);                                                     \
        expect_unchanged(what);                                                                    \
    } while (0)

/* Runs stmt, then expects no error and unchanged totals. */
#define expect_safe(stmt, what)                                                                    \
    do {                                                                                           \
        mmt_recorder_clear(&rec);                                                                  \
        stmt;                                                                                      \
        mmt_expect_no_error(&rec, what);                                                           \
        expect_unchanged(what);                                                                    \
    } while (0)

/* A context that held a block and was then destroyed. Nothing is created
 * afterwards in the tests that use it before the dangling use, so its struct
 * is still in the library's queue of the last 64 destroyed contexts. */
static mm_context *destroyed_context(void) {
    mm_context *ctx = mm_context_create("doomed", NULL);
    cr_assert_not_null(ctx, "creating the context to destroy should succeed");
    cr_assert_not_null(mm_context_malloc(ctx, 100, MM_CAT_HALOS), "a block in it");
    mm_context_set_label(ctx, "last");
    mm_context_destroy(ctx);
    return ctx;
}

static char *repeated(char c, size_t n) {
    char *s = malloc(n + 1);
    cr_assert_not_null(s, "the system malloc should hold %zu bytes", n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ========================================================================
 * NULL contexts
 * ====================================================================== */

Test(hostile, null_context_is_a_bad_context_error_where_a_context_is_needed,
     .init = hostile_setup) {
    mm_epoch_info info;
    expect_error(cr_expect_null(mm_context_name(NULL)), MM_ERR_BAD_CONTEXT,
                 "mm_context_name(NULL)");
    expect_error(cr_expect_null(mm_context_parent(NULL)), MM_ERR_BAD_CONTEXT,
                 "mm_context_parent(NULL)");
    expect_error(cr_expect_null(mm_context_label(NULL)), MM_ERR_BAD_CONTEXT,
                 "mm_context_label(NULL)");
    expect_error(mm_context_set_label(NULL, "x"), MM_ERR_BAD_CONTEXT, "mm_context_set_label(NULL)");
    expect_error(mm_context_set_retain(NULL, 100), MM_ERR_BAD_CONTEXT,
                 "mm_context_set_retain(NULL)");
    expect_error(mm_context_warn_reclaimed(NULL, 1), MM_ERR_BAD_CONTEXT,
                 "mm_context_warn_reclaimed(NULL)");
    expect_error(cr_expect_eq(mm_context_reclaimed(NULL, MM_CAT_HALOS, 0).blocks, 0),
                 MM_ERR_BAD_CONTEXT, "mm_context_reclaimed(NULL)");
    expect_error(cr_expect_eq(mm_context_epochs(NULL).count, 0), MM_ERR_BAD_CONTEXT,
                 "mm_context_epochs(NULL)");
    expect_error(mm_context_set_top_epochs(NULL, 3), MM_ERR_BAD_CONTEXT,
                 "mm_context_set_top_epochs(NULL)");
    expect_error(cr_expect_eq(mm_context_top_epoch(NULL, 0, &info), 0), MM_ERR_BAD_CONTEXT,
                 "mm_context_top_epoch(NULL)");
    expect_error(cr_expect_eq(mm_context_top_epoch_category(NULL, 0, MM_CAT_HALOS), 0),
                 MM_ERR_BAD_CONTEXT, "mm_context_top_epoch_category(NULL)");
    expect_error(mm_context_set_epoch_log(NULL, stderr, MM_EPOCH_LOG_CSV), MM_ERR_BAD_CONTEXT,
                 "mm_context_set_epoch_log(NULL)");
    expect_error(cr_expect_eq(mm_stats_self(NULL).blocks, 0), MM_ERR_BAD_CONTEXT,
                 "mm_stats_self(NULL)");
    expect_error(cr_expect_eq(mm_context_epoch_stats(NULL).blocks, 0), MM_ERR_BAD_CONTEXT,
                 "mm_context_epoch_stats(NULL)");
}

Test(hostile, null_context_means_the_process_where_the_header_says_so, .init = hostile_setup) {
    expect_safe(mm_context_destroy(NULL), "mm_context_destroy(NULL) is a no-op");
    expect_safe(mm_context_reset(NULL), "mm_context_reset(NULL) is a no-op");
    expect_safe(mmt_expect_stats(mm_stats_total(NULL), base, "mm_stats_total(NULL)"),
                "mm_stats_total(NULL) is the process");
    expect_safe((void)mm_stats_category(NULL, MM_CAT_HALOS), "mm_stats_category(NULL, Halos)");
    char *text = NULL;
    expect_safe(text = mmt_report_string(NULL, MM_REPORT_TEXT), "mm_report(out, NULL, TEXT)");
    free(text);
    expect_safe(text = mmt_report_string(NULL, MM_REPORT_JSON), "mm_report(out, NULL, JSON)");
    free(text);

    /* allocation with ctx NULL is process-wide */
    void *p = mm_context_malloc(NULL, 10, MM_CAT_HALOS);
    void *q = mm_context_calloc(NULL, 2, 5, MM_CAT_HALOS);
    char *s = mm_context_strdup(NULL, "abc", MM_CAT_HALOS);
    mmt_expect_no_error(&rec, "allocating with ctx NULL");
    cr_assert(p && q && s, "allocations with ctx NULL should succeed");
    cr_expect_null(mm_block_context(p), "mm_context_malloc(NULL) gives a process-wide block");
    cr_expect_null(mm_block_context(q), "mm_context_calloc(NULL) gives a process-wide block");
    cr_expect_null(mm_block_context(s), "mm_context_strdup(NULL) gives a process-wide block");
    mmt_expect_stats(
        mm_stats_total(NULL),
        mmt_stats(base.bytes + 24,
                  base.peak_bytes > base.bytes + 24 ? base.peak_bytes : base.bytes + 24,
                  base.blocks + 3, base.allocs + 3, base.frees),
        "three process-wide blocks of 10 + 10 + 4 bytes");
    mm_free(p);
    mm_free(q);
    mm_free(s);

    mm_context *top = mm_context_create(NULL, NULL);
    mmt_expect_no_error(&rec, "mm_context_create(NULL, NULL)");
    cr_assert_not_null(top, "mm_context_create(NULL, NULL) gives a top-level context");
    cr_expect_str_eq(mm_context_name(top), "context", "a NULL name gives \"context\"");
    cr_expect_null(mm_context_parent(top), "a NULL parent gives a top-level context");
    mm_context_destroy(top);
    mmt_expect_no_error(&rec, "destroying it");
}

Test(hostile, report_to_a_null_file_or_in_an_unknown_format_is_a_bad_argument,
     .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "mm_context_create");
    expect_error(mm_report(NULL, NULL, MM_REPORT_TEXT), MM_ERR_BAD_ARGUMENT,
                 "mm_report(NULL out, process)");
    expect_error(mm_report(NULL, ctx, MM_REPORT_JSON), MM_ERR_BAD_ARGUMENT,
                 "mm_report(NULL out, ctx)");
    FILE *f = tmpfile();
    cr_assert_not_null(f, "tmpfile");
    expect_error(mm_report(f, NULL, (mm_report_format)7), MM_ERR_BAD_ARGUMENT,
                 "mm_report in format 7");
    expect_error(mm_report(f, ctx, (mm_report_format)-1), MM_ERR_BAD_ARGUMENT,
                 "mm_report in format -1");
    expect_error(mm_context_set_epoch_log(ctx, f, (mm_epoch_log_format)5), MM_ERR_BAD_ARGUMENT,
                 "an epoch log in format 5");
    cr_expect_eq(ftell(f), 0, "nothing should be written for a rejected call");
    fclose(f);
    expect_error(mm_context_set_top_epochs(ctx, 1001), MM_ERR_BAD_ARGUMENT,
                 "mm_context_set_top_epochs above 1000");
    expect_error(mm_context_set_top_epochs(ctx, SIZE_MAX), MM_ERR_BAD_ARGUMENT,
                 "mm_context_set_top_epochs(SIZE_MAX)");
    expect_safe(cr_expect_eq(mm_context_set_top_epochs(ctx, 1000), MM_DEFAULT_TOP_EPOCHS,
                             "the rejected calls should leave k at its default"),
                "mm_context_set_top_epochs(1000)");
    mm_context_destroy(ctx);
}

/* ========================================================================
 * Destroyed contexts
 * ====================================================================== */

/* Every function taking a context, called with dead, expects MM_ERR_BAD_CONTEXT. */
static void expect_dead_everywhere(mm_context *dead, const char *how) {
    char what[160];
    mm_epoch_info info;
#define DEAD(stmt, fn)                                                                             \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s passed to %s", how, fn);                                   \
        expect_error(stmt, MM_ERR_BAD_CONTEXT, what);                                              \
    } while (0)
    DEAD(cr_expect_null(mm_context_malloc(dead, 8, MM_CAT_HALOS)), "mm_context_malloc");
    DEAD(cr_expect_null(mm_context_malloc(dead, 0, MM_CAT_HALOS)), "mm_context_malloc (size 0)");
    DEAD(cr_expect_null(mm_context_malloc(dead, 1 << 20, MM_CAT_HALOS)),
         "mm_context_malloc (large)");
    DEAD(cr_expect_null(mm_context_calloc(dead, 4, 4, MM_CAT_HALOS)), "mm_context_calloc");
    DEAD(cr_expect_null(mm_context_strdup(dead, "x", MM_CAT_HALOS)), "mm_context_strdup");
    DEAD(cr_expect_null(mm_context_create("child", dead)), "mm_context_create (parent)");
    DEAD(mm_context_destroy(dead), "mm_context_destroy");
    DEAD(mm_context_reset(dead), "mm_context_reset");
    DEAD(cr_expect_null(mm_context_name(dead)), "mm_context_name");
    DEAD(cr_expect_null(mm_context_parent(dead)), "mm_context_parent");
    DEAD(cr_expect_null(mm_context_label(dead)), "mm_context_label");
    DEAD(mm_context_set_label(dead, "x"), "mm_context_set_label");
    DEAD(mm_context_set_retain(dead, 0), "mm_context_set_retain");
    DEAD(mm_context_warn_reclaimed(dead, 1), "mm_context_warn_reclaimed");
    DEAD(cr_expect_eq(mm_context_reclaimed(dead, MM_CAT_HALOS, 0).bytes, 0),
         "mm_context_reclaimed");
    DEAD(cr_expect_eq(mm_context_epochs(dead).count, 0), "mm_context_epochs");
    DEAD(mm_context_set_top_epochs(dead, 2), "mm_context_set_top_epochs");
    DEAD(cr_expect_eq(mm_context_top_epoch(dead, 0, &info), 0), "mm_context_top_epoch");
    DEAD(cr_expect_eq(mm_context_top_epoch_category(dead, 0, MM_CAT_HALOS), 0),
         "mm_context_top_epoch_category");
    DEAD(mm_context_set_epoch_log(dead, stderr, MM_EPOCH_LOG_JSONL), "mm_context_set_epoch_log");
    DEAD(cr_expect_eq(mm_stats_total(dead).bytes, 0), "mm_stats_total");
    DEAD(cr_expect_eq(mm_stats_category(dead, MM_CAT_HALOS).bytes, 0), "mm_stats_category");
    DEAD(cr_expect_eq(mm_stats_self(dead).bytes, 0), "mm_stats_self");
    DEAD(cr_expect_eq(mm_context_epoch_stats(dead).bytes, 0), "mm_context_epoch_stats");
    DEAD(mm_report(stderr, dead, MM_REPORT_TEXT), "mm_report (text)");
    DEAD(mm_report(stderr, dead, MM_REPORT_JSON), "mm_report (json)");
#undef DEAD
}

Test(hostile, a_destroyed_context_is_a_bad_context_error_in_every_function, .init = hostile_setup) {
    mm_context *dead = destroyed_context();
    hostile_rebase();
    expect_dead_everywhere(dead, "a destroyed context");
}

Test(hostile, the_error_for_a_destroyed_context_names_it, .init = hostile_setup) {
    mm_context *dead = destroyed_context();
    hostile_rebase();
    cr_expect_null(mm_context_malloc(dead, 8, MM_CAT_HALOS), "allocation should fail");
    cr_expect_eq(rec.count, 1, "one error expected, got %d", rec.count);
    cr_expect_eq(rec.context, dead, "the error should carry the dead context pointer");
    cr_expect(strstr(rec.message, "not a live context") != NULL,
              "the message should say the context is not live: %s", rec.message);
}

Test(hostile, a_child_destroyed_with_its_parent_is_a_bad_context, .init = hostile_setup) {
    mm_context *parent = mm_context_create("parent", NULL);
    cr_assert_not_null(parent, "parent");
    mm_context *child = mm_context_create("child", parent);
    cr_assert_not_null(child, "child");
    cr_assert_not_null(mm_context_malloc(child, 40, MM_CAT_TREES), "a block in the child");
    mm_context_destroy(parent);
    hostile_rebase();
    expect_dead_everywhere(child, "a child destroyed with its parent");
}

Test(hostile, a_child_destroyed_by_its_parents_reset_is_a_bad_context, .init = hostile_setup) {
    mm_context *parent = mm_context_create("parent", NULL);
    cr_assert_not_null(parent, "parent");
    mm_context *child = mm_context_create("child", parent);
    cr_assert_not_null(child, "child");
    cr_assert_not_null(mm_context_malloc(child, 40, MM_CAT_TREES), "a block in the child");
    mm_context_reset(parent);
    hostile_rebase();
    mm_context *keep = parent;
    /* only the child is dead: the parent must stay usable and untouched */
    expect_error(cr_expect_null(mm_context_malloc(child, 8, MM_CAT_HALOS)), MM_ERR_BAD_CONTEXT,
                 "allocating in a child destroyed by the reset");
    expect_error(mm_context_destroy(child), MM_ERR_BAD_CONTEXT,
                 "destroying a child destroyed by the reset");
    expect_error(cr_expect_null(mm_context_create("grandchild", child)), MM_ERR_BAD_CONTEXT,
                 "a child under a dead child");
    mmt_expect_stats(mm_stats_total(keep), mmt_stats(0, 40, 0, 1, 1),
                     "the parent's figures should not be touched by the dead child's errors");
    cr_expect_null(mm_context_parent(keep), "the parent is still a live top-level context");
    mmt_expect_no_error(&rec, "using the live parent");
    mm_context_destroy(parent);
}

Test(hostile, destroying_a_context_twice_is_an_error_and_frees_nothing, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("twice", NULL);
    cr_assert_not_null(ctx, "create");
    cr_assert_not_null(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "a block");
    mm_context_destroy(ctx);
    hostile_rebase();
    expect_error(mm_context_destroy(ctx), MM_ERR_BAD_CONTEXT, "a second destroy");
    expect_error(mm_context_reset(ctx), MM_ERR_BAD_CONTEXT, "a reset after destroy");
}

/* ========================================================================
 * Sizes near SIZE_MAX and n*size overflow
 * ====================================================================== */

static const size_t huge_sizes[] = {SIZE_MAX, SIZE_MAX - 15, (size_t)1 << 48, SIZE_MAX - 16,
                                    SIZE_MAX / 2 + 1};
#define NHUGE (sizeof huge_sizes / sizeof huge_sizes[0])

Test(hostile, huge_sizes_are_size_overflow_in_every_allocating_function, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    for (size_t i = 0; i < NHUGE; i++) {
        size_t n = huge_sizes[i];
        char what[160];
#define HUGE(stmt, fn)                                                                             \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s with %zu bytes", fn, n);                                   \
        expect_error(cr_expect_null(stmt, "%s should return NULL", what), MM_ERR_SIZE_OVERFLOW,    \
                     what);                                                                        \
    } while (0)
        HUGE(mm_malloc(n, MM_CAT_HALOS), "mm_malloc");
        HUGE(mm_calloc(1, n, MM_CAT_HALOS), "mm_calloc(1, n)");
        HUGE(mm_calloc(n, 1, MM_CAT_HALOS), "mm_calloc(n, 1)");
        HUGE(mm_realloc(NULL, n), "mm_realloc(NULL)");
        HUGE(mm_realloc_cat(NULL, n, MM_CAT_HALOS), "mm_realloc_cat(NULL)");
        HUGE(mm_context_malloc(ctx, n, MM_CAT_HALOS), "mm_context_malloc");
        HUGE(mm_context_calloc(ctx, 1, n, MM_CAT_HALOS), "mm_context_calloc(1, n)");
        HUGE(mm_context_calloc(ctx, n, 1, MM_CAT_HALOS), "mm_context_calloc(n, 1)");
        HUGE(mm_context_malloc(NULL, n, MM_CAT_HALOS), "mm_context_malloc(NULL ctx)");
        HUGE(mm_context_calloc(NULL, n, 1, MM_CAT_HALOS), "mm_context_calloc(NULL ctx)");
#undef HUGE
    }
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(0, 0, 0, 0, 0),
                     "the context should have counted nothing");
    mm_context_destroy(ctx);
}

Test(hostile, the_size_overflow_error_names_the_requested_size, .init = hostile_setup) {
    cr_expect_null(mm_malloc(SIZE_MAX - 15, MM_CAT_IO), "mm_malloc(SIZE_MAX - 15)");
    cr_expect_eq(rec.count, 1, "one error");
    cr_expect_eq(rec.kind, MM_ERR_SIZE_OVERFLOW, "size overflow");
    cr_expect_eq(rec.size, SIZE_MAX - 15, "the error should carry the requested size, got %zu",
                 rec.size);
    cr_expect_eq(rec.category, MM_CAT_IO, "the error should carry the category, got %d",
                 rec.category);
}

Test(hostile, the_largest_size_the_header_holds_is_out_of_memory_not_a_crash,
     .init = hostile_setup) {
    const size_t top = ((size_t)1 << 48) - 1; /* fits the 48-bit size field */
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    expect_error(cr_expect_null(mm_malloc(top, MM_CAT_HALOS)), MM_ERR_OUT_OF_MEMORY,
                 "mm_malloc(2^48 - 1)");
    expect_error(cr_expect_null(mm_context_malloc(ctx, top, MM_CAT_HALOS)), MM_ERR_OUT_OF_MEMORY,
                 "mm_context_malloc(2^48 - 1)");
    expect_error(cr_expect_null(mm_context_calloc(ctx, 1, top, MM_CAT_HALOS)), MM_ERR_OUT_OF_MEMORY,
                 "mm_context_calloc(1, 2^48 - 1)");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(0, 0, 0, 0, 0),
                     "the context should have counted nothing");
    mm_context_destroy(ctx);
}

static const size_t overflow_products[][2] = {
    {SIZE_MAX / 2 + 1, 2},
    {(size_t)1 << 32, (size_t)1 << 32},
    {SIZE_MAX, SIZE_MAX},
    {3, SIZE_MAX / 3 + 1},
    {SIZE_MAX / 16, 16},                /* the product fits, the product plus the header does not */
    {(size_t)1 << 24, (size_t)1 << 24}, /* 2^48: fits size_t, not the 48-bit size field */
};
#define NPRODUCTS (sizeof overflow_products / sizeof overflow_products[0])

Test(hostile, calloc_products_that_overflow_are_size_overflow, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    for (size_t i = 0; i < NPRODUCTS; i++) {
        size_t n = overflow_products[i][0], size = overflow_products[i][1];
        char what[160];
        snprintf(what, sizeof what, "mm_calloc(%zu, %zu)", n, size);
        expect_error(cr_expect_null(mm_calloc(n, size, MM_CAT_HALOS), "%s", what),
                     MM_ERR_SIZE_OVERFLOW, what);
        snprintf(what, sizeof what, "mm_calloc(%zu, %zu) swapped", size, n);
        expect_error(cr_expect_null(mm_calloc(size, n, MM_CAT_HALOS), "%s", what),
                     MM_ERR_SIZE_OVERFLOW, what);
        snprintf(what, sizeof what, "mm_context_calloc(ctx, %zu, %zu)", n, size);
        expect_error(cr_expect_null(mm_context_calloc(ctx, n, size, MM_CAT_HALOS), "%s", what),
                     MM_ERR_SIZE_OVERFLOW, what);
        snprintf(what, sizeof what, "mm_context_calloc(NULL, %zu, %zu)", n, size);
        expect_error(cr_expect_null(mm_context_calloc(NULL, n, size, MM_CAT_HALOS), "%s", what),
                     MM_ERR_SIZE_OVERFLOW, what);
    }
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(0, 0, 0, 0, 0),
                     "the context should have counted nothing");
    mm_context_destroy(ctx);
}

/* A failed resize leaves the block valid, unchanged and counted as before. */
static void expect_realloc_refused(void *p, size_t bytes, mm_category cat, const char *where) {
    for (size_t i = 0; i < NHUGE; i++) {
        char what[160];
        snprintf(what, sizeof what, "mm_realloc of a %s block to %zu bytes", where, huge_sizes[i]);
        expect_error(cr_expect_null(mm_realloc(p, huge_sizes[i]), "%s", what), MM_ERR_SIZE_OVERFLOW,
                     what);
        snprintf(what, sizeof what, "mm_realloc_cat of a %s block to %zu bytes", where,
                 huge_sizes[i]);
        expect_error(cr_expect_null(mm_realloc_cat(p, huge_sizes[i], MM_CAT_IO), "%s", what),
                     MM_ERR_SIZE_OVERFLOW, what);
        cr_expect(mm_validate(p), "%s: the block should stay valid", what);
        cr_expect_eq(mm_block_size(p), bytes, "%s: the block keeps its size", what);
        cr_expect_eq(mm_block_category(p), cat, "%s: the block keeps its category", what);
        const unsigned char *b = p;
        for (size_t k = 0; k < bytes; k++)
            if (b[k] != 0xA5) {
                cr_expect_fail("%s: byte %zu of the block changed", what, k);
                break;
            }
    }
}

Test(hostile, realloc_to_a_huge_size_keeps_the_block_and_the_statistics, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    void *p = mm_malloc(40, MM_CAT_TREES);
    void *c = mm_context_malloc(ctx, 40, MM_CAT_TREES);
    void *big = mm_context_malloc(ctx, 300000, MM_CAT_TREES); /* a large context block */
    cr_assert(p && c && big, "the blocks to resize");
    memset(p, 0xA5, 40);
    memset(c, 0xA5, 40);
    memset(big, 0xA5, 300000);
    hostile_rebase();
    mm_stats ctx_before = mm_stats_total(ctx);
    expect_realloc_refused(p, 40, MM_CAT_TREES, "process-wide");
    expect_realloc_refused(c, 40, MM_CAT_TREES, "context");
    expect_realloc_refused(big, 300000, MM_CAT_TREES, "large context");
    mmt_expect_stats(mm_stats_total(ctx), ctx_before, "the context figures should not move");
    mm_free(p);
    mm_free(c);
    mm_free(big);
    mmt_expect_no_error(&rec, "freeing the blocks afterwards");
    mm_context_destroy(ctx);
}

/* ========================================================================
 * Unregistered and out-of-range categories
 * ====================================================================== */

static void bad_categories(mm_category out[5]) {
    out[0] = -1;
    out[1] = INT_MIN;
    out[2] = mm_category_count(); /* the first id not registered */
    out[3] = MM_CATEGORY_MAX;
    out[4] = 65535; /* fits the header's 16-bit field, never registered */
}

Test(hostile, bad_categories_are_refused_by_every_allocating_function, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    cr_assert_not_null(mm_context_malloc(ctx, 8, MM_CAT_HALOS), "warm the context's fast path");
    void *p = mm_malloc(24, MM_CAT_TREES);
    void *c = mm_context_malloc(ctx, 24, MM_CAT_TREES);
    cr_assert(p && c, "blocks to recategorise");
    hostile_rebase();
    mm_stats ctx_before = mm_stats_total(ctx);
    mm_category bad[5];
    bad_categories(bad);
    for (int i = 0; i < 5; i++) {
        mm_category cat = bad[i];
        char what[160];
#define BADCAT(stmt, fn)                                                                           \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s in category %d", fn, cat);                                 \
        expect_error(cr_expect_null(stmt, "%s should return NULL", what), MM_ERR_BAD_CATEGORY,     \
                     what);                                                                        \
    } while (0)
        BADCAT(mm_malloc(8, cat), "mm_malloc");
        BADCAT(mm_malloc(0, cat), "mm_malloc (size 0)");
        BADCAT(mm_calloc(2, 8, cat), "mm_calloc");
        BADCAT(mm_strdup("abc", cat), "mm_strdup");
        BADCAT(mm_realloc_cat(NULL, 8, cat), "mm_realloc_cat(NULL)");
        BADCAT(mm_realloc_cat(p, 8, cat), "mm_realloc_cat of a process-wide block");
        BADCAT(mm_realloc_cat(c, 8, cat), "mm_realloc_cat of a context block");
        BADCAT(mm_context_malloc(ctx, 8, cat), "mm_context_malloc");
        BADCAT(mm_context_malloc(ctx, 300000, cat), "mm_context_malloc (large)");
        BADCAT(mm_context_calloc(ctx, 2, 8, cat), "mm_context_calloc");
        BADCAT(mm_context_strdup(ctx, "abc", cat), "mm_context_strdup");
        BADCAT(mm_context_malloc(NULL, 8, cat), "mm_context_malloc(NULL ctx)");
        BADCAT(mm_context_calloc(NULL, 2, 8, cat), "mm_context_calloc(NULL ctx)");
        BADCAT(mm_context_strdup(NULL, "abc", cat), "mm_context_strdup(NULL ctx)");
#undef BADCAT
        cr_expect_eq(mm_block_category(p), MM_CAT_TREES, "category %d: p keeps its category", cat);
        cr_expect_eq(mm_block_category(c), MM_CAT_TREES, "category %d: c keeps its category", cat);
        cr_expect_eq(mm_block_size(p), 24, "category %d: p keeps its size", cat);
        cr_expect_eq(mm_block_size(c), 24, "category %d: c keeps its size", cat);
    }
    mmt_expect_stats(mm_stats_total(ctx), ctx_before, "the context figures should not move");
    mm_free(p);
    mm_free(c);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "cleaning up");
}

Test(hostile, bad_categories_are_refused_by_every_query, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    cr_assert_not_null(mm_context_malloc(ctx, 8, MM_CAT_HALOS), "a block");
    mm_context_reset(ctx); /* one epoch, so rank 0 exists */
    hostile_rebase();
    mm_category bad[5];
    bad_categories(bad);
    for (int i = 0; i < 5; i++) {
        mm_category cat = bad[i];
        char what[160];
#define BADQ(stmt, fn)                                                                             \
    do {                                                                                           \
        snprintf(what, sizeof what, "%s of category %d", fn, cat);                                 \
        expect_error(stmt, MM_ERR_BAD_CATEGORY, what);                                             \
    } while (0)
        BADQ(cr_expect_null(mm_category_name(cat)), "mm_category_name");
        BADQ(cr_expect_null(mm_category_group(cat)), "mm_category_group");
        BADQ(cr_expect_eq(mm_stats_category(NULL, cat).blocks, 0), "mm_stats_category(NULL)");
        BADQ(cr_expect_eq(mm_stats_category(ctx, cat).blocks, 0), "mm_stats_category(ctx)");
        BADQ(cr_expect_eq(mm_context_reclaimed(ctx, cat, 0).blocks, 0),
             "mm_context_reclaimed(all epochs)");
        BADQ(cr_expect_eq(mm_context_reclaimed(ctx, cat, 1).blocks, 0),
             "mm_context_reclaimed(last epoch)");
        BADQ(cr_expect_eq(mm_context_top_epoch_category(ctx, 0, cat), 0),
             "mm_context_top_epoch_category");
#undef BADQ
        expect_safe(cr_expect_eq(mm_category_find("no such category"), MM_CAT_INVALID),
                    "mm_category_find of an unknown name");
    }
    mm_context_destroy(ctx);
}

Test(hostile, the_bad_category_error_carries_the_category, .init = hostile_setup) {
    cr_expect_null(mm_malloc(8, 65535), "mm_malloc in category 65535");
    cr_expect_eq(rec.count, 1, "one error");
    cr_expect_eq(rec.category, 65535, "the error should carry category 65535, got %d",
                 rec.category);
}

/* ========================================================================
 * Names: length limits and control characters
 * ====================================================================== */

Test(hostile, category_names_of_63_bytes_register_and_longer_ones_are_refused,
     .init = hostile_setup) {
    char *n63 = repeated('a', 63), *n64 = repeated('b', 64), *n10k = repeated('c', 10000);
    int count = mm_category_count();
    mm_category c = MM_CAT_INVALID;
    expect_safe(c = mm_category_register(n63, "G"), "a 63-byte name");
    cr_expect_neq(c, MM_CAT_INVALID, "a 63-byte name should register");
    cr_expect_str_eq(mm_category_name(c), n63, "the 63-byte name should round-trip");
    count++;
    expect_error(cr_expect_eq(mm_category_register(n64, "G"), MM_CAT_INVALID), MM_ERR_BAD_ARGUMENT,
                 "a 64-byte name");
    expect_error(cr_expect_eq(mm_category_register(n10k, "G"), MM_CAT_INVALID), MM_ERR_BAD_ARGUMENT,
                 "a 10000-byte name");
    expect_error(cr_expect_eq(mm_category_register("ok", n64), MM_CAT_INVALID), MM_ERR_BAD_ARGUMENT,
                 "a 64-byte group");
    expect_error(cr_expect_eq(mm_category_register("ok", n10k), MM_CAT_INVALID),
                 MM_ERR_BAD_ARGUMENT, "a 10000-byte group");
    expect_error(cr_expect_eq(mm_category_register(NULL, "G"), MM_CAT_INVALID), MM_ERR_BAD_ARGUMENT,
                 "a NULL name");
    expect_error(cr_expect_eq(mm_category_register("", "G"), MM_CAT_INVALID), MM_ERR_BAD_ARGUMENT,
                 "an empty name");
    cr_expect_eq(mm_category_count(), count, "refused names should not take a registry slot");
    expect_safe(cr_expect_eq(mm_category_find(n64), MM_CAT_INVALID), "find of a 64-byte name");
    expect_safe(cr_expect_eq(mm_category_find(n10k), MM_CAT_INVALID), "find of a 10000-byte name");
    mm_category g = MM_CAT_INVALID;
    expect_safe(g = mm_category_register("no group", NULL), "a NULL group");
    cr_expect_str_eq(mm_category_group(g), "Other", "a NULL group means \"Other\"");
    expect_safe(g = mm_category_register("empty group", ""), "an empty group");
    cr_expect_str_eq(mm_category_group(g), "Other", "an empty group means \"Other\"");
    free(n63);
    free(n64);
    free(n10k);
}

static const char *const odd_names[] = {
    "new\nline", "tab\there", "ctl\x01one", "del\x7f", "say \"hi\"", "back\\slash", "cr\rret",
};
#define NODD (sizeof odd_names / sizeof odd_names[0])

Test(hostile, names_with_control_characters_and_quotes_register_and_round_trip,
     .init = hostile_setup) {
    for (size_t i = 0; i < NODD; i++) {
        mm_category c = MM_CAT_INVALID;
        expect_safe(c = mm_category_register(odd_names[i], odd_names[i]), "an odd name");
        cr_assert_neq(c, MM_CAT_INVALID, "odd name %zu should register", i);
        cr_expect_str_eq(mm_category_name(c), odd_names[i], "odd name %zu should round-trip", i);
        cr_expect_str_eq(mm_category_group(c), odd_names[i], "odd group %zu should round-trip", i);
        cr_expect_eq(mm_category_register(odd_names[i], NULL), c,
                     "registering odd name %zu again gives the same id", i);
        cr_expect_eq(mm_category_find(odd_names[i]), c, "odd name %zu should be found", i);
    }
}

/* Fails unless every byte of text is printable or a line end; names each
 * offending line (raw bytes shown as \xNN) so the log says where. */
static void expect_unbroken_lines(const char *text, const char *what) {
    int bad = 0;
    const char *line = text;
    while (*line != '\0') {
        const char *eol = strchr(line, '\n');
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        int raw = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char b = (unsigned char)line[i];
            raw |= b < 0x20 || b == 0x7f;
        }
        if (raw && bad++ < 8) {
            char shown[512];
            size_t o = 0;
            for (size_t i = 0; i < n && o + 5 < sizeof shown; i++) {
                unsigned char b = (unsigned char)line[i];
                if (b < 0x20 || b == 0x7f)
                    o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", b);
                else
                    shown[o++] = (char)b;
            }
            shown[o] = '\0';
            cr_expect_fail("%s: a raw control byte breaks this line: %s", what, shown);
        }
        if (eol == NULL) break;
        line = eol + 1;
    }
}

static void *odd_blocks[NODD]; /* the process-wide blocks of allocate_in_odd_categories */

/* Every odd name as a category in an odd group, with a live block each
 * (ctx NULL: process-wide, kept in odd_blocks for free_odd_blocks). */
static void allocate_in_odd_categories(mm_context *ctx) {
    for (size_t i = 0; i < NODD; i++) {
        mm_category c = mm_category_register(odd_names[i], odd_names[(i + 1) % NODD]);
        cr_assert_neq(c, MM_CAT_INVALID, "odd name %zu should register", i);
        void *p = mm_context_malloc(ctx, 10 + i, c);
        cr_assert_not_null(p, "a block in odd category %zu", i);
        if (ctx == NULL) odd_blocks[i] = p;
    }
}

static void free_odd_blocks(void) {
    for (size_t i = 0; i < NODD; i++) {
        mm_free(odd_blocks[i]);
        odd_blocks[i] = NULL;
    }
}

/* A context with an odd name and an odd label, with odd categories, one
 * closed epoch (so top epochs and reclaimed lines appear) and a child. */
static mm_context *odd_context(void) {
    mm_context *ctx = mm_context_create("forest\n\"1\"\t\x01\x7f", NULL);
    cr_assert_not_null(ctx, "the oddly named context");
    mm_context *child = mm_context_create("child\nline", ctx);
    cr_assert_not_null(child, "the oddly named child");
    allocate_in_odd_categories(ctx);
    allocate_in_odd_categories(child);
    mm_context_set_label(ctx, "label\nwith \"quotes\"\x01");
    mm_context_reset(ctx); /* closes an epoch with that label, reclaims the blocks */
    allocate_in_odd_categories(ctx);
    mm_context_set_label(ctx, "now\ttoo\x7f");
    return ctx;
}

Test(hostile, text_reports_with_control_characters_in_names_keep_their_lines,
     .init = hostile_setup) {
    allocate_in_odd_categories(NULL);
    mm_context *ctx = odd_context();
    mmt_expect_no_error(&rec, "setting up the odd names");
    /* names holding a line feed must not appear verbatim: that splits a line */
    static const char *const split[] = {"new\nline", "forest\n\"1\"", "child\nline", "label\nwith"};
    for (int scope = 0; scope < 2; scope++) {
        const char *what = scope ? "context text report" : "process text report";
        char *text = mmt_report_string(scope ? ctx : NULL, MM_REPORT_TEXT);
        expect_unbroken_lines(text, what);
        for (size_t i = 0; i < sizeof split / sizeof split[0]; i++) {
            const char *at = strstr(text, split[i]);
            if (at != NULL) {
                const char *from = at - text > 40 ? at - 40 : text;
                cr_expect_fail("%s: the line feed in \"%.*s\\n...\" splits a line; around "
                               "it:\n%.80s",
                               what, (int)(strchr(split[i], '\n') - split[i]), split[i], from);
            }
        }
        free(text);
    }
    mmt_expect_no_error(&rec, "writing the reports");
    mm_context_destroy(ctx);
    free_odd_blocks();
}

Test(hostile, json_reports_with_control_characters_in_names_stay_valid, .init = hostile_setup) {
    allocate_in_odd_categories(NULL);
    mm_context *ctx = odd_context();
    for (int scope = 0; scope < 2; scope++) {
        char *text = mmt_report_string(scope ? ctx : NULL, MM_REPORT_JSON);
        char err[256];
        mmt_json *doc = mmt_json_parse(text, err, sizeof err);
        cr_expect_not_null(doc, "the %s JSON report should parse: %s\n%s",
                           scope ? "context" : "process", err, text);
        if (doc != NULL) {
            const mmt_json *cats = mmt_json_get(doc, "categories");
            cr_expect(cats != NULL && cats->type == MMT_JSON_ARRAY, "categories array expected");
            for (size_t i = 0; cats && i < NODD; i++) {
                int found = 0;
                for (size_t k = 0; k < cats->count; k++)
                    found |= mmt_json_string_is(mmt_json_get(cats->items[k], "name"), odd_names[i]);
                cr_expect(found, "odd name %zu should be listed exactly:\n%s", i, text);
            }
            mmt_json_free(doc);
        }
        free(text);
    }
    mmt_expect_no_error(&rec, "writing the reports");
    mm_context_destroy(ctx);
    free_odd_blocks();
}

Test(hostile, epoch_logs_with_control_characters_in_labels_keep_one_line_per_epoch,
     .init = hostile_setup) {
    mm_category c = mm_category_register("log\ncat", "G");
    cr_assert_neq(c, MM_CAT_INVALID, "register");
    for (int fmt = 0; fmt < 2; fmt++) {
        FILE *f = tmpfile();
        cr_assert_not_null(f, "tmpfile");
        mm_context *ctx = mm_context_create("log", NULL);
        cr_assert_not_null(ctx, "create");
        mm_context_set_epoch_log(ctx, f, (mm_epoch_log_format)fmt);
        cr_assert_not_null(mm_context_malloc(ctx, 10, c), "a block");
        mm_context_set_label(ctx, "two\nlines,\"q\"\x01");
        mm_context_reset(ctx);
        mm_context_set_epoch_log(ctx, NULL, (mm_epoch_log_format)fmt);
        mm_context_destroy(ctx);
        rewind(f);
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        int lines = 0;
        for (size_t i = 0; i < n; i++) lines += buf[i] == '\n';
        if (fmt == MM_EPOCH_LOG_JSONL) {
            cr_expect_eq(lines, 1, "one JSON line per epoch, got %d:\n%s", lines, buf);
            char err[256];
            mmt_json *doc = mmt_json_parse(buf, err, sizeof err);
            cr_expect_not_null(doc, "the JSON line should parse: %s\n%s", err, buf);
            if (doc) {
                cr_expect(mmt_json_string_is(mmt_json_get(doc, "label"), "two\nlines,\"q\"\x01"),
                          "the label should decode exactly:\n%s", buf);
                mmt_json_free(doc);
            }
        } else {
            /* RFC 4180 allows a line break inside a quoted field: check quoting */
            cr_expect(strstr(buf, "\"two\nlines,\"\"q\"\"\x01\"") != NULL,
                      "the label should be one quoted CSV field:\n%s", buf);
        }
    }
    mmt_expect_no_error(&rec, "writing the epoch logs");
}

Test(hostile, labels_of_10000_bytes_are_truncated_to_63, .init = hostile_setup) {
    mm_context *ctx = mm_context_create("ctx", NULL);
    cr_assert_not_null(ctx, "create");
    char *label = repeated('L', 10000);
    expect_safe(mm_context_set_label(ctx, label), "a 10000-byte label");
    cr_expect_eq(strlen(mm_context_label(ctx)), MM_NAME_MAX, "the label should keep 63 bytes");
    cr_expect_eq(strncmp(mm_context_label(ctx), label, MM_NAME_MAX), 0,
                 "the kept bytes should be the start of the label");
    mm_context_reset(ctx);
    mm_epoch_info info;
    cr_assert(mm_context_top_epoch(ctx, 0, &info), "the closed epoch should be kept");
    cr_expect_eq(strlen(info.label), MM_NAME_MAX, "the epoch keeps the 63-byte label");
    free(label);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "using the long label");
}

Test(hostile, context_names_of_10000_bytes_are_safe, .init = hostile_setup) {
    char *name = repeated('N', 10000);
    mm_context *ctx = NULL;
    expect_safe(ctx = mm_context_create(name, NULL), "a 10000-byte context name");
    cr_assert_not_null(ctx, "a long name should not stop the context being created");
    const char *kept = mm_context_name(ctx);
    size_t len = strlen(kept);
    cr_expect(len >= 1 && len <= 10000, "the name should be kept (maybe truncated)");
    cr_expect_eq(strncmp(kept, name, len), 0, "the kept name should be the start of the name");
    cr_assert_not_null(mm_context_malloc(ctx, 5, MM_CAT_IO), "allocation in it");
    char *text = mmt_report_string(ctx, MM_REPORT_TEXT);
    expect_unbroken_lines(text, "text report of the long-named context");
    free(text);
    text = mmt_report_string(ctx, MM_REPORT_JSON);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_expect_not_null(doc, "the JSON report should parse: %s", err);
    mmt_json_free(doc);
    free(text);
    free(name);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "using the long-named context");
}

/* Truncation to 63 bytes must not cut a UTF-8 character in two: the JSON
 * report (RFC 8259: UTF-8 only) would become invalid. */
Test(hostile, truncating_a_utf8_label_or_name_keeps_the_json_report_valid, .init = hostile_setup) {
    char name[80];
    memset(name, 'a', 62);
    strcpy(name + 62, "\xc3\xa9tail"); /* U+00E9 straddles the 63-byte limit */
    mm_context *ctx = mm_context_create(name, NULL);
    cr_assert_not_null(ctx, "create");
    mm_context_set_label(ctx, name);
    cr_assert_not_null(mm_context_malloc(ctx, 5, MM_CAT_IO), "allocation in it");
    mm_context_reset(ctx);
    mm_context_set_label(ctx, name);
    char *text = mmt_report_string(ctx, MM_REPORT_JSON);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_expect_not_null(doc, "the JSON report should stay valid UTF-8: %s", err);
    mmt_json_free(doc);
    free(text);
    text = mmt_report_string(NULL, MM_REPORT_JSON);
    doc = mmt_json_parse(text, err, sizeof err);
    cr_expect_not_null(doc, "the process JSON report should stay valid UTF-8: %s", err);
    mmt_json_free(doc);
    free(text);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "using the UTF-8 name");
}

/* The header does not say whether names must be UTF-8. Either registration
 * refuses a name that is not (MM_ERR_BAD_ARGUMENT) or the JSON report must
 * still be valid (RFC 8259 allows UTF-8 only). */
Test(hostile, a_category_name_that_is_not_utf8_is_refused_or_kept_out_of_invalid_json,
     .init = hostile_setup) {
    mm_category c = mm_category_register("bad\xff\xfe utf8", "G");
    if (c == MM_CAT_INVALID) {
        mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "registering a name that is not UTF-8");
        return;
    }
    mmt_expect_no_error(&rec, "registering a name that is not UTF-8");
    void *p = mm_malloc(7, c);
    cr_assert_not_null(p, "a block in it");
    char *text = mmt_report_string(NULL, MM_REPORT_JSON);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_expect_not_null(doc, "the process JSON report should stay valid: %s", err);
    mmt_json_free(doc);
    free(text);
    mm_free(p);
}
