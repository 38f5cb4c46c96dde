/* Unit tests for src/limit.c: byte limits for the process, a category, a
 * context (with its descendants) and a category within a context. An
 * allocation or growth that would pass a limit is one MM_ERR_LIMIT naming the
 * scope, the size and the limit and carrying the report; the call returns
 * NULL with statistics untouched. The soft threshold logs one warning per
 * limit. Fatal paths run a second time in a child under the default handler. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

/* The shared recorder keeps whole messages (a limit message carries a
 * report). One thread at a time. */
static mmt_recorder lim_rec;

/* Captured log lines: warnings counted, the last one kept. */
typedef struct {
    int warnings;        /* MM_LOG_WARNING lines */
    int others;          /* lines of any other level */
    char last[1024];     /* the last warning */
} lim_log;

static lim_log lim_logged;

static void lim_log_fn(mm_log_level level, const char *msg, void *user)
{
    lim_log *l = user;
    if (level == MM_LOG_WARNING) {
        l->warnings++;
        snprintf(l->last, sizeof l->last, "%s", msg);
    } else {
        l->others++;
    }
}

static void lim_capture_log(void)
{
    memset(&lim_logged, 0, sizeof lim_logged);
    mm_set_log_handler(lim_log_fn, &lim_logged);
}

#define lim_expect_contains(text, phrase, what)                                           \
    cr_expect(strstr((text), (phrase)) != NULL, "%s should contain \"%s\"; it was:\n%s", \
              (what), (phrase), (text))

/* Expects exactly one MM_ERR_LIMIT since the last clear, for sz bytes of
 * category cat in context ctx, then clears the recorder. */
#define lim_expect_limit_error(sz, cat, ctx, what)                                               \
    do {                                                                                         \
        cr_expect_eq(lim_rec.count, 1, "%s: expected exactly one error, got %d", (what),         \
                     lim_rec.count);                                                             \
        cr_expect_eq(lim_rec.kind, MM_ERR_LIMIT, "%s: the error should be MM_ERR_LIMIT (%d), "  \
                     "got %d (%s)", (what), (int)MM_ERR_LIMIT, (int)lim_rec.kind,                \
                     mm_error_kind_name(lim_rec.kind));                                          \
        cr_expect_eq(lim_rec.size, (size_t)(sz), "%s: the error size should be %zu, got %zu",   \
                     (what), (size_t)(sz), lim_rec.size);                                        \
        cr_expect_eq(lim_rec.category, (cat), "%s: the error category should be %d, got %d",    \
                     (what), (int)(cat), (int)lim_rec.category);                                 \
        cr_expect_eq(lim_rec.context, (ctx), "%s: the error context should be %p, got %p",      \
                     (what), (const void *)(ctx), (const void *)lim_rec.context);                \
        mmt_recorder_clear(&lim_rec);                                                            \
    } while (0)

/* ========================================================================
 * The process limit
 * ====================================================================== */

Test(limit, process_limit_refuses_an_allocation_that_would_pass_it)
{
    mmt_record_errors(&lim_rec);
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_INVALID, 1000), 0, "no process limit should be set "
                 "at start, so mm_limit_set should return 0");
    void *a = mm_malloc(600, MM_CAT_HALOS);
    void *b = mm_malloc(300, MM_CAT_TREES);
    cr_assert(a != NULL && b != NULL, "600 + 300 bytes under a 1000-byte limit should succeed");
    mmt_expect_total(900, 900, 2, 2, 0, "two blocks of 600 and 300 bytes should be live");

    void *c = mm_malloc(200, MM_CAT_HALOS);
    cr_expect_null(c, "an allocation that would bring the process to 1100 of 1000 bytes should "
                      "return NULL");
    const char *m = lim_rec.message;
    lim_expect_contains(m, "mimicmem: memory limit exceeded", "the limit message");
    lim_expect_contains(m, "200 B (200 bytes) for category \"Halos\" in mm_malloc",
                        "the limit message (size and category)");
    lim_expect_contains(m, "would bring the process to 1.1 KB, over its limit of 1000 B",
                        "the limit message (scope, would-be use and limit)");
    lim_expect_contains(m, "=== Memory Usage by Category ===", "the limit message (report)");
    lim_expect_contains(m, "Halos", "the report in the limit message");
    lim_expect_contains(m, "Trees", "the report in the limit message");
    lim_expect_contains(m, "Total", "the report in the limit message");
    lim_expect_limit_error(200, MM_CAT_HALOS, NULL, "malloc past the process limit");
    mmt_expect_total(900, 900, 2, 2, 0, "the refused allocation should leave the totals as they "
                     "were");
    mmt_expect_category(MM_CAT_HALOS, 600, 600, 1, 1, 0,
                        "the refused allocation should leave Halos as it was");
    mm_free(a);
    mm_free(b);
}

Test(limit, process_limit_allows_an_allocation_that_reaches_it_exactly)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(600, MM_CAT_HALOS);
    void *b = mm_malloc(400, MM_CAT_TREES);
    cr_expect(a != NULL && b != NULL, "600 + 400 bytes should reach a 1000-byte limit exactly");
    mmt_expect_no_error(&lim_rec, "reaching the limit exactly is no error");
    mmt_expect_total(1000, 1000, 2, 2, 0, "the process should hold exactly its limit");
    cr_expect_null(mm_malloc(1, MM_CAT_HALOS), "one byte more than the limit should be refused");
    lim_expect_limit_error(1, MM_CAT_HALOS, NULL, "one byte past the process limit");
    mmt_expect_total(1000, 1000, 2, 2, 0, "the refused byte should leave the totals unchanged");
    mm_free(a);
    mm_free(b);
}

Test(limit, a_zero_byte_allocation_at_the_limit_succeeds)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 64);
    void *a = mm_malloc(64, MM_CAT_HALOS);
    cr_assert_not_null(a, "64 bytes should fit a 64-byte limit");
    void *z = mm_malloc(0, MM_CAT_HALOS);
    cr_expect_not_null(z, "a zero-byte allocation adds nothing and should succeed at the limit");
    mmt_expect_no_error(&lim_rec, "a zero-byte allocation should raise no error");
    mmt_expect_total(64, 64, 2, 2, 0, "64 bytes in two blocks should be live");
    mm_free(z);
    mm_free(a);
}

Test(limit, calloc_counts_the_product_against_the_limit)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    cr_expect_null(mm_calloc(10, 101, MM_CAT_IO), "10 x 101 = 1010 bytes should pass 1000");
    lim_expect_limit_error(1010, MM_CAT_IO, NULL, "calloc past the process limit");
    void *p = mm_calloc(10, 100, MM_CAT_IO);
    cr_expect_not_null(p, "10 x 100 = 1000 bytes should reach the limit exactly");
    mmt_expect_total(1000, 1000, 1, 1, 0, "one 1000-byte block should be live");
    mm_free(p);
}

Test(limit, a_limit_of_zero_removes_the_limit)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 100);
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_INVALID, 0), 100,
                 "setting 0 should return the old limit of 100");
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_INVALID), 0, "the process limit should now be 0");
    void *p = mm_malloc(100000, MM_CAT_HALOS);
    cr_expect_not_null(p, "with the limit removed 100000 bytes should be allocated");
    mmt_expect_no_error(&lim_rec, "no limit error is expected");
    mm_free(p);
}

/* ========================================================================
 * Category limits, process-wide
 * ====================================================================== */

Test(limit, process_category_limit_counts_only_its_category)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mmt_context("forest", NULL);
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_HALOS, 500), 0, "no Halos limit was set before");
    void *t = mm_malloc(2000, MM_CAT_TREES);
    cr_expect_not_null(t, "Trees are not limited: 2000 bytes should succeed");
    void *h1 = mm_malloc(300, MM_CAT_HALOS);
    void *h2 = mm_context_malloc(f, 200, MM_CAT_HALOS);
    cr_expect(h1 != NULL && h2 != NULL, "300 + 200 Halos bytes should reach the limit exactly");
    mmt_expect_category(MM_CAT_HALOS, 500, 500, 2, 2, 0, "Halos should hold exactly its limit");

    cr_expect_null(mm_context_malloc(f, 1, MM_CAT_HALOS),
                   "one Halos byte in a context should pass the process-wide Halos limit");
    lim_expect_contains(lim_rec.message,
                        "would bring category \"Halos\" (process-wide) to 501 B, over its limit "
                        "of 500 B", "the process category limit message");
    lim_expect_contains(lim_rec.message, "1 B (1 bytes) for category \"Halos\" in context "
                        "\"forest\" in mm_context_malloc", "the process category limit message");
    lim_expect_contains(lim_rec.message, "=== Memory Usage by Category ===",
                        "the process category limit message (report)");
    lim_expect_limit_error(1, MM_CAT_HALOS, f, "a context Halos byte past the Halos limit");
    cr_expect_null(mm_malloc(1, MM_CAT_HALOS), "one process Halos byte should be refused too");
    lim_expect_limit_error(1, MM_CAT_HALOS, NULL, "a process Halos byte past the Halos limit");
    mmt_expect_category(MM_CAT_HALOS, 500, 500, 2, 2, 0, "refusals should leave Halos unchanged");
    mmt_expect_total(2500, 2500, 3, 3, 0, "refusals should leave the totals unchanged");

    void *t2 = mm_malloc(3000, MM_CAT_TREES);
    cr_expect_not_null(t2, "Trees should still be unlimited");
    mmt_expect_no_error(&lim_rec, "no error is expected for Trees");
    mm_free(t);
    mm_free(t2);
    mm_free(h1);
    mm_context_destroy(f);
}

/* ========================================================================
 * Context limits
 * ====================================================================== */

Test(limit, context_limit_counts_its_descendants)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *m = mm_context_create("module", f);
    cr_assert(f != NULL && m != NULL, "both contexts should be created");
    cr_expect_eq(mm_limit_set(f, MM_CAT_INVALID, 1000), 0, "a new context has no limit");
    void *a = mm_context_malloc(m, 600, MM_CAT_HALOS);
    void *b = mm_context_malloc(f, 400, MM_CAT_TREES);
    cr_expect(a != NULL && b != NULL, "600 in the child + 400 in the parent reach 1000 exactly");
    mmt_expect_no_error(&lim_rec, "reaching the limit is no error");
    mm_stats before_f = mm_stats_total(f), before_m = mm_stats_total(m);

    cr_expect_null(mm_context_malloc(m, 1, MM_CAT_HALOS),
                   "one byte in the child should pass the parent's limit");
    const char *msg = lim_rec.message;
    lim_expect_contains(msg, "mimicmem: memory limit exceeded: 1 B (1 bytes) for category "
                        "\"Halos\" in context \"module\" in mm_context_malloc",
                        "the context limit message (size, category, where)");
    lim_expect_contains(msg, "would bring context \"forest\" to 1001 B, over its limit of "
                        "1000 B", "the context limit message (scope and limit)");
    lim_expect_contains(msg, "=== Memory Usage by Category: context \"forest\" and its children",
                        "the context limit message (the scope's report)");
    lim_expect_contains(msg, "Halos", "the report of the context");
    lim_expect_contains(msg, "Trees", "the report of the context");
    lim_expect_limit_error(1, MM_CAT_HALOS, m, "a child byte past the parent's limit");
    mmt_expect_stats(mm_stats_total(f), before_f, "the refusal should leave the parent unchanged");
    mmt_expect_stats(mm_stats_total(m), before_m, "the refusal should leave the child unchanged");
    mmt_expect_total(1000, 1000, 2, 2, 0, "the refusal should leave the process unchanged");

    cr_expect_null(mm_context_malloc(f, 1, MM_CAT_TREES), "the parent itself is at its limit");
    lim_expect_limit_error(1, MM_CAT_TREES, f, "a parent byte past its own limit");
    void *p = mm_malloc(5000, MM_CAT_TREES);
    cr_expect_not_null(p, "process-wide blocks are outside the context's limit");
    mmt_expect_no_error(&lim_rec, "no error is expected outside the context");
    mm_free(p);
    mm_context_destroy(f);
}

Test(limit, a_child_limit_does_not_limit_its_parent)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *m = mm_context_create("module", f);
    mm_limit_set(m, MM_CAT_INVALID, 100);
    void *a = mm_context_malloc(f, 1000, MM_CAT_HALOS);
    cr_expect_not_null(a, "the parent should not be held to its child's limit");
    void *b = mm_context_malloc(m, 100, MM_CAT_HALOS);
    cr_expect_not_null(b, "the child should reach its own limit exactly");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    cr_expect_null(mm_context_malloc(m, 1, MM_CAT_HALOS), "the child is at its limit");
    lim_expect_contains(lim_rec.message, "would bring context \"module\" to 101 B, over its limit "
                        "of 100 B", "the child limit message");
    lim_expect_limit_error(1, MM_CAT_HALOS, m, "a child byte past the child's limit");
    mm_context_destroy(f);
}

Test(limit, context_category_limit_counts_that_category_in_the_subtree)
{
    mmt_record_errors(&lim_rec);
    mm_category cooling = mmt_cooling();
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *m = mm_context_create("module", f);
    mm_context *g = mm_context_create("other forest", NULL);
    cr_assert(f && m && g, "three contexts should be created");
    cr_expect_eq(mm_limit_set(f, cooling, 500), 0, "no Cooling limit was set in the context");
    void *a = mm_context_malloc(m, 300, cooling);
    void *b = mm_context_malloc(f, 200, cooling);
    void *c = mm_context_malloc(f, 4000, MM_CAT_HALOS);
    void *d = mm_context_malloc(g, 4000, cooling);
    void *e = mm_malloc(4000, cooling);
    cr_expect(a && b && c && d && e, "Cooling up to the limit in the subtree, Halos there, and "
              "Cooling outside it should all succeed");
    mmt_expect_no_error(&lim_rec, "no error is expected so far");

    cr_expect_null(mm_context_malloc(m, 1, cooling),
                   "one more Cooling byte in the subtree should pass the context category limit");
    lim_expect_contains(lim_rec.message, "would bring category \"Cooling\" in context \"forest\" "
                        "to 501 B, over its limit of 500 B", "the context category limit message");
    lim_expect_contains(lim_rec.message, "Cooling", "the report in the message");
    lim_expect_limit_error(1, cooling, m, "a Cooling byte past the forest's Cooling limit");
    mmt_expect_stats(mm_stats_category(f, cooling), mmt_stats(500, 500, 2, 2, 0),
                     "the refusal should leave the forest's Cooling figures unchanged");
    void *h = mm_context_malloc(m, 100, MM_CAT_HALOS);
    cr_expect_not_null(h, "Halos in the subtree are not limited");
    mmt_expect_no_error(&lim_rec, "no error is expected for Halos");
    mm_free(e);
    mm_context_destroy(f);
    mm_context_destroy(g);
}

Test(limit, reset_keeps_the_context_limit)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_limit_set(f, MM_CAT_INVALID, 256);
    mm_limit_set(f, MM_CAT_HALOS, 128);
    cr_expect_not_null(mm_context_malloc(f, 256, MM_CAT_TREES), "256 bytes should fit");
    mm_context_reset(f);
    cr_expect_eq(mm_limit_get(f, MM_CAT_INVALID), 256, "reset should keep the context limit");
    cr_expect_eq(mm_limit_get(f, MM_CAT_HALOS), 128, "reset should keep the category limit");
    cr_expect_not_null(mm_context_malloc(f, 128, MM_CAT_HALOS), "after reset 128 Halos fit");
    cr_expect_null(mm_context_malloc(f, 1, MM_CAT_HALOS), "the Halos limit still holds");
    lim_expect_limit_error(1, MM_CAT_HALOS, f, "a Halos byte past the limit after reset");
    cr_expect_null(mm_context_malloc(f, 129, MM_CAT_TREES), "the total limit still holds");
    lim_expect_limit_error(129, MM_CAT_TREES, f, "Trees past the total limit after reset");
    mm_context_destroy(f);
}

/* ========================================================================
 * Growth, frees and lowered limits
 * ====================================================================== */

Test(limit, realloc_growth_counts_only_the_growth)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    char *p = mm_malloc(600, MM_CAT_HALOS);
    cr_assert_not_null(p, "600 bytes should fit");
    memset(p, 7, 600);
    char *q = mm_realloc(p, 900);
    cr_assert_not_null(q, "growing 600 to 900 adds 300 bytes: 900 of 1000 should fit");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mmt_expect_total(900, 900, 1, 1, 0, "one 900-byte block should be live");
    q[899] = 1;

    char *r = mm_realloc(q, 1001);
    cr_expect_null(r, "growing to 1001 bytes should pass the limit");
    lim_expect_contains(lim_rec.message, "1001 B (1001 bytes) for category \"Halos\" in "
                        "mm_realloc would bring the process to 1001 B, over its limit of 1000 B",
                        "the realloc limit message");
    lim_expect_limit_error(1001, MM_CAT_HALOS, NULL, "a realloc past the process limit");
    mmt_expect_total(900, 900, 1, 1, 0, "the refused realloc should leave the totals unchanged");
    cr_expect(mm_validate(q), "the block should stay valid after the refused realloc");
    cr_expect_eq(mm_block_size(q), 900, "the block should keep its 900 bytes");
    cr_expect_eq(q[0], 7, "the block should keep its contents");

    char *s = mm_realloc(q, 1000);
    cr_expect_not_null(s, "growing to exactly the limit should succeed");
    s = mm_realloc(s, 100);
    cr_expect_not_null(s, "shrinking always fits");
    mmt_expect_total(100, 1000, 1, 1, 0, "one 100-byte block after the shrink, peak 1000");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mm_free(s);
}

Test(limit, realloc_growth_in_a_context_counts_only_the_growth)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_limit_set(f, MM_CAT_INVALID, 1000);
    void *p = mm_context_malloc(f, 600, MM_CAT_TREES);
    void *q = mm_realloc(p, 1000);
    cr_expect_not_null(q, "growing 600 to 1000 in the context should reach the limit exactly");
    cr_expect_null(mm_realloc(q, 1001), "growing past the limit should be refused");
    lim_expect_limit_error(1001, MM_CAT_TREES, f, "a context realloc past its limit");
    mmt_expect_stats(mm_stats_total(f), mmt_stats(1000, 1000, 1, 1, 0),
                     "the refused realloc should leave the context unchanged");
    cr_expect_eq(mm_block_size(q), 1000, "the block should keep its size");
    mm_context_destroy(f);
}

Test(limit, realloc_to_another_category_counts_the_whole_block_there)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_HALOS, 1000);
    void *h = mm_malloc(300, MM_CAT_HALOS);
    void *t = mm_malloc(800, MM_CAT_TREES);
    cr_assert(h && t, "both blocks should be allocated");
    cr_expect_null(mm_realloc_cat(t, 800, MM_CAT_HALOS),
                   "moving 800 bytes into Halos (300 used) should pass the 1000-byte limit");
    lim_expect_limit_error(800, MM_CAT_HALOS, NULL, "moving a block into a full category");
    mmt_expect_category(MM_CAT_TREES, 800, 800, 1, 1, 0, "Trees should keep the block");
    void *u = mm_realloc_cat(t, 700, MM_CAT_HALOS);
    cr_expect_not_null(u, "moving 700 bytes into Halos should reach the limit exactly");
    mmt_expect_category(MM_CAT_HALOS, 1000, 1000, 2, 1, 0,
                        "Halos should hold 1000 bytes in two blocks (one allocated there)");
    mmt_expect_category(MM_CAT_TREES, 0, 800, 0, 1, 0, "Trees should be empty");
    mmt_expect_no_error(&lim_rec, "no further error is expected");
    mm_free(h);
    mm_free(u);
}

Test(limit, freeing_makes_room_again)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(1000, MM_CAT_HALOS);
    cr_assert_not_null(a, "1000 bytes should fit");
    cr_expect_null(mm_malloc(1, MM_CAT_HALOS), "the process is full");
    lim_expect_limit_error(1, MM_CAT_HALOS, NULL, "one byte past a full limit");
    mm_free(a);
    mmt_expect_total(0, 1000, 0, 1, 1, "the free should leave nothing live");
    void *b = mm_malloc(1000, MM_CAT_HALOS);
    cr_expect_not_null(b, "after the free 1000 bytes fit again");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mmt_expect_total(1000, 1000, 1, 2, 1, "one 1000-byte block should be live again");
    mm_free(b);
}

Test(limit, a_limit_lowered_below_the_use_refuses_growth_but_not_shrinking)
{
    mmt_record_errors(&lim_rec);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(800, MM_CAT_HALOS);
    cr_assert_not_null(a, "800 bytes should fit");
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_INVALID, 500), 1000,
                 "lowering the limit should return the old 1000");
    mmt_expect_no_error(&lim_rec, "lowering a limit below the use is allowed");
    cr_expect_null(mm_malloc(1, MM_CAT_HALOS), "over the lowered limit nothing more fits");
    lim_expect_limit_error(1, MM_CAT_HALOS, NULL, "an allocation over a lowered limit");
    void *b = mm_realloc(a, 400);
    cr_expect_not_null(b, "shrinking below the lowered limit should succeed");
    mmt_expect_no_error(&lim_rec, "shrinking raises no error");
    void *c = mm_malloc(100, MM_CAT_HALOS);
    cr_expect_not_null(c, "400 + 100 bytes should reach the lowered limit exactly");
    mmt_expect_total(500, 800, 2, 2, 0, "400 + 100 bytes should be live, peak 800");
    mm_free(b);
    mm_free(c);
}

/* ========================================================================
 * Setting and reading limits
 * ====================================================================== */

Test(limit, limit_set_returns_the_old_limit_and_limit_get_reads_it_for_every_scope)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_INVALID), 0, "no process limit at start");
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_HALOS), 0, "no process Halos limit at start");
    cr_expect_eq(mm_limit_get(f, MM_CAT_INVALID), 0, "no context limit at start");
    cr_expect_eq(mm_limit_get(f, MM_CAT_HALOS), 0, "no context Halos limit at start");

    cr_expect_eq(mm_limit_set(NULL, MM_CAT_INVALID, 111), 0, "first process limit: old 0");
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_INVALID, 222), 111, "second: old 111");
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_HALOS, 333), 0, "first Halos limit: old 0");
    cr_expect_eq(mm_limit_set(NULL, MM_CAT_HALOS, 444), 333, "second Halos limit: old 333");
    cr_expect_eq(mm_limit_set(f, MM_CAT_INVALID, 555), 0, "first context limit: old 0");
    cr_expect_eq(mm_limit_set(f, MM_CAT_INVALID, 666), 555, "second context limit: old 555");
    cr_expect_eq(mm_limit_set(f, MM_CAT_TREES, 777), 0, "first context Trees limit: old 0");
    cr_expect_eq(mm_limit_set(f, MM_CAT_TREES, 888), 777, "second context Trees limit: old 777");

    cr_expect_eq(mm_limit_get(NULL, MM_CAT_INVALID), 222, "process limit should read 222");
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_HALOS), 444, "process Halos limit should read 444");
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_TREES), 0, "process Trees limit should read 0");
    cr_expect_eq(mm_limit_get(f, MM_CAT_INVALID), 666, "context limit should read 666");
    cr_expect_eq(mm_limit_get(f, MM_CAT_TREES), 888, "context Trees limit should read 888");
    cr_expect_eq(mm_limit_get(f, MM_CAT_HALOS), 0, "context Halos limit should read 0");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mm_context_destroy(f);
}

Test(limit, an_unknown_category_is_an_error_and_sets_nothing)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    cr_expect_eq(mm_limit_set(NULL, 999, 100), 0, "an unknown category should return 0");
    lim_expect_contains(lim_rec.message, "mm_limit_set", "the bad category message");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_CATEGORY, "mm_limit_set(NULL, 999, 100)");
    cr_expect_eq(mm_limit_set(f, 999, 100), 0, "an unknown category in a context returns 0");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_CATEGORY, "mm_limit_set(f, 999, 100)");
    cr_expect_eq(mm_limit_get(NULL, 999), 0, "reading an unknown category's limit returns 0");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_CATEGORY, "mm_limit_get(NULL, 999)");
    void *p = mm_malloc(100000, MM_CAT_HALOS);
    cr_expect_not_null(p, "no limit should have been set by the failed calls");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mm_free(p);
    mm_context_destroy(f);
}

Test(limit, a_destroyed_context_is_an_error)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context_destroy(f);
    cr_expect_eq(mm_limit_set(f, MM_CAT_INVALID, 100), 0, "a destroyed context returns 0");
    lim_expect_contains(lim_rec.message, "mm_limit_set", "the bad context message");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_CONTEXT, "mm_limit_set(f, MM_CAT_INVALID, 100)");
    cr_expect_eq(mm_limit_get(f, MM_CAT_INVALID), 0, "reading a destroyed context returns 0");
    lim_expect_contains(lim_rec.message, "mm_limit_get", "the bad context message");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_CONTEXT, "mm_limit_get(f, MM_CAT_INVALID)");
}

Test(limit, destroying_a_context_with_limits_keeps_the_other_limits_enforced)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *m = mm_context_create("module", f);
    mm_limit_set(f, MM_CAT_INVALID, 4096);
    mm_limit_set(f, MM_CAT_HALOS, 2048);
    mm_limit_set(m, MM_CAT_TREES, 1024);
    mm_limit_set(NULL, MM_CAT_INVALID, 10000);
    cr_expect_not_null(mm_context_malloc(m, 1000, MM_CAT_TREES), "1000 Trees bytes should fit");
    mm_context_destroy(f);
    mmt_expect_total(0, 1000, 0, 1, 1, "destroy should free the context's block");

    void *a = mm_malloc(10000, MM_CAT_HALOS);
    cr_expect_not_null(a, "10000 bytes should reach the process limit exactly");
    cr_expect_null(mm_malloc(1, MM_CAT_HALOS),
                   "the process limit should still hold after the limited contexts are gone");
    lim_expect_limit_error(1, MM_CAT_HALOS, NULL, "one byte past the process limit");
    mm_free(a);

    mm_context *g = mm_context_create("forest", NULL);
    cr_expect_eq(mm_limit_get(g, MM_CAT_INVALID), 0, "a new context should have no limit");
    cr_expect_eq(mm_limit_get(g, MM_CAT_HALOS), 0, "a new context has no category limit");
    void *b = mm_context_malloc(g, 9000, MM_CAT_HALOS);
    cr_expect_not_null(b, "the new context should not inherit the destroyed one's limits");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mm_context_destroy(g);
}

Test(limit, removing_every_limit_leaves_allocation_unlimited)
{
    mmt_record_errors(&lim_rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_limit_set(f, MM_CAT_HALOS, 10);
    mm_limit_set(NULL, MM_CAT_TREES, 10);
    mm_context_destroy(f);
    mm_limit_set(NULL, MM_CAT_TREES, 0);
    void *p = mm_malloc(100000, MM_CAT_TREES);
    cr_expect_not_null(p, "with every limit gone 100000 Trees bytes should be allocated");
    mmt_expect_no_error(&lim_rec, "no error is expected");
    mm_free(p);
}

/* ========================================================================
 * Soft threshold
 * ====================================================================== */

Test(limit, one_warning_at_ninety_percent_of_the_process_limit_by_default)
{
    mmt_record_errors(&lim_rec);
    lim_capture_log();
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(899, MM_CAT_HALOS);
    cr_expect_eq(lim_logged.warnings, 0, "899 of 1000 bytes is under 90%%: no warning expected, "
                 "got: %s", lim_logged.last);
    void *b = mm_malloc(1, MM_CAT_HALOS);
    cr_expect_eq(lim_logged.warnings, 1, "900 of 1000 bytes should log one warning, got %d",
                 lim_logged.warnings);
    lim_expect_contains(lim_logged.last, "the process reached 900 B, 90% of its limit of 1000 B",
                        "the soft threshold warning");
    void *c = mm_malloc(50, MM_CAT_HALOS);
    void *d = mm_malloc(50, MM_CAT_HALOS);
    cr_expect(a && b && c && d, "every allocation up to the limit should succeed");
    cr_expect_eq(lim_logged.warnings, 1, "the warning should be logged once per limit, got %d",
                 lim_logged.warnings);
    mmt_expect_no_error(&lim_rec, "warnings are not errors");
    cr_expect_eq(lim_logged.others, 0, "nothing but the warning should be logged");
    mm_free(a);
    mm_free(b);
    mm_free(c);
    mm_free(d);
}

Test(limit, each_limit_warns_once_and_setting_it_again_rearms_the_warning)
{
    mmt_record_errors(&lim_rec);
    lim_capture_log();
    mm_context *f = mm_context_create("forest", NULL);
    mm_limit_set(NULL, MM_CAT_INVALID, 10000);
    mm_limit_set(f, MM_CAT_INVALID, 1000);
    mm_limit_set(f, MM_CAT_HALOS, 100);
    cr_expect_not_null(mm_context_malloc(f, 95, MM_CAT_HALOS), "95 Halos bytes should fit");
    cr_expect_eq(lim_logged.warnings, 1, "95 of 100 Halos bytes should warn once, got %d",
                 lim_logged.warnings);
    lim_expect_contains(lim_logged.last, "category \"Halos\" in context \"forest\" reached 95 B, "
                        "95% of its limit of 100 B", "the context category warning");
    cr_expect_not_null(mm_context_malloc(f, 805, MM_CAT_TREES), "805 Trees bytes should fit");
    cr_expect_eq(lim_logged.warnings, 2, "900 of 1000 context bytes should add one warning, "
                 "got %d", lim_logged.warnings);
    lim_expect_contains(lim_logged.last, "context \"forest\" reached 900 B, 90% of its limit of "
                        "1000 B", "the context warning");
    cr_expect_not_null(mm_context_malloc(f, 5, MM_CAT_HALOS), "5 more Halos bytes should fit");
    void *io1 = mm_malloc(8100, MM_CAT_IO);
    cr_expect_not_null(io1, "8100 process bytes should fit");
    cr_expect_eq(lim_logged.warnings, 3, "9005 of 10000 process bytes should add one warning, "
                 "got %d", lim_logged.warnings);
    lim_expect_contains(lim_logged.last, "the process reached", "the process warning");
    void *io2 = mm_malloc(10, MM_CAT_IO);
    cr_expect_not_null(io2, "10 more process bytes should fit");
    cr_expect_eq(lim_logged.warnings, 3, "no limit should warn twice, got %d warnings",
                 lim_logged.warnings);

    mm_limit_set(f, MM_CAT_INVALID, 1000);
    cr_expect_not_null(mm_context_malloc(f, 1, MM_CAT_TREES), "one more byte should fit");
    cr_expect_eq(lim_logged.warnings, 4, "setting the context limit again should rearm its "
                 "warning, got %d warnings", lim_logged.warnings);
    mmt_expect_no_error(&lim_rec, "warnings are not errors");
    mm_free(io1);
    mm_free(io2);
    mm_context_destroy(f);
}

Test(limit, a_zero_threshold_turns_the_warnings_off)
{
    mmt_record_errors(&lim_rec);
    lim_capture_log();
    cr_expect_eq(mm_set_limit_warn(0), 90, "the default threshold should be 90");
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(1000, MM_CAT_HALOS);
    cr_expect_not_null(a, "1000 bytes should reach the limit exactly");
    cr_expect_eq(lim_logged.warnings, 0, "with the threshold at 0 nothing should be logged, got: "
                 "%s", lim_logged.last);
    cr_expect_eq(mm_set_limit_warn(90), 0, "the threshold should read back as 0");
    mm_free(a);
}

Test(limit, a_lower_threshold_warns_earlier)
{
    mmt_record_errors(&lim_rec);
    lim_capture_log();
    mm_set_limit_warn(50);
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(499, MM_CAT_HALOS);
    cr_expect_eq(lim_logged.warnings, 0, "499 of 1000 is under 50%%: no warning, got: %s",
                 lim_logged.last);
    void *b = mm_malloc(1, MM_CAT_HALOS);
    cr_expect_eq(lim_logged.warnings, 1, "500 of 1000 should warn once at 50%%, got %d",
                 lim_logged.warnings);
    lim_expect_contains(lim_logged.last, "reached 500 B, 50% of its limit of 1000 B",
                        "the 50% warning");
    mm_free(a);
    mm_free(b);
}

Test(limit, a_threshold_over_one_hundred_is_a_bad_argument)
{
    mmt_record_errors(&lim_rec);
    cr_expect_eq(mm_set_limit_warn(101), 90, "a refused threshold should return the current 90");
    lim_expect_contains(lim_rec.message, "101", "the bad threshold message");
    mmt_expect_one_error(&lim_rec, MM_ERR_BAD_ARGUMENT, "mm_set_limit_warn(101)");
    cr_expect_eq(mm_set_limit_warn(100), 90, "the threshold should still be 90");
    cr_expect_eq(mm_set_limit_warn(90), 100, "100 is a valid threshold");
    mmt_expect_no_error(&lim_rec, "no further error is expected");
}

/* ========================================================================
 * Under the default handler
 * ====================================================================== */

static void lim_child_process_limit(void *arg)
{
    (void)arg;
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(600, MM_CAT_HALOS);
    (void)a;
    void *b = mm_malloc(500, MM_CAT_TREES);
    (void)b;
}

static void lim_child_context_limit(void *arg)
{
    (void)arg;
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *m = mm_context_create("module", f);
    mm_set_limit_warn(0); /* the first "mimicmem: " line is then the error */
    mm_limit_set(f, MM_CAT_INVALID, 1000);
    void *a = mm_context_malloc(m, 1000, MM_CAT_HALOS);
    (void)a;
    void *b = mm_context_malloc(m, 24, MM_CAT_TREES);
    (void)b;
}

Test(limit, passing_the_process_limit_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(lim_child_process_limit, NULL, "memory limit exceeded", msg);
    lim_expect_contains(msg, "500 B (500 bytes) for category \"Trees\" in mm_malloc",
                        "the message printed by the default handler");
    lim_expect_contains(msg, "would bring the process to 1.1 KB, over its limit of 1000 B",
                        "the message printed by the default handler");

    static mmt_death d;
    mmt_run_child(lim_child_process_limit, NULL, &d);
    lim_expect_contains(d.text, "=== Memory Usage by Category ===", "the child's stderr");
    lim_expect_contains(d.text, "Halos", "the report on the child's stderr");
}

Test(limit, passing_a_context_limit_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(lim_child_context_limit, NULL, "memory limit exceeded", msg);
    lim_expect_contains(msg, "24 B (24 bytes) for category \"Trees\" in context \"module\"",
                        "the message printed by the default handler");
    lim_expect_contains(msg, "would bring context \"forest\" to 1.0 KB, over its limit of 1000 B",
                        "the message printed by the default handler");

    static mmt_death d;
    mmt_run_child(lim_child_context_limit, NULL, &d);
    lim_expect_contains(d.text, "=== Memory Usage by Category: context \"forest\"",
                        "the child's stderr");
}
