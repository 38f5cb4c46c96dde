/* Unit tests for src/context.c: a context owns its blocks (create, reset,
 * destroy, nesting), keeps exact self, subtree and process statistics,
 * catches frees of blocks it already released, and runs on its own thread
 * next to other threads' contexts without locks. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

/* base moved by some activity: bytes, blocks, allocs and frees added, and
 * high the most live bytes above base.bytes at any moment since base. */
static mm_stats ctx_moved(mm_stats base, size_t bytes, size_t high, size_t blocks,
                          uint64_t allocs, uint64_t frees)
{
    size_t peak = base.bytes + high;
    if (peak < base.peak_bytes) peak = base.peak_bytes;
    return mmt_stats(base.bytes + bytes, peak, base.blocks + blocks, base.allocs + allocs,
                     base.frees + frees);
}

/* Whether the "Live Contexts" part of the process report (the context
 * tree, not the peak composition, which may name a context since destroyed)
 * mentions name. */
static int ctx_report_mentions(const char *name)
{
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    const char *tree = strstr(text, "=== Live Contexts ===");
    int found = tree != NULL && strstr(tree, name) != NULL;
    free(text);
    return found;
}

/* ========================================================================
 * Life cycle
 * ====================================================================== */

Test(context, create_then_destroy_leaves_the_process_statistics_as_before)
{
    mm_category cooling = mmt_cooling();
    mm_stats base = mm_stats_total(NULL);
    mm_stats base_halos = mm_stats_category(NULL, MM_CAT_HALOS);
    mm_stats base_cooling = mm_stats_category(NULL, cooling);

    mm_context *f = mmt_context("forest", NULL);
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 0, 0, 0),
                        "a new context should have empty subtree statistics");
    mmt_expect_stats_of(f, mm_stats_self(f), mmt_stats(0, 0, 0, 0, 0),
                        "a new context should have empty self statistics");

    void *blocks[50];
    size_t halos = 0, cool = 0;
    for (int i = 0; i < 50; i++) {
        size_t n = 8 + 24 * (size_t)i;
        mm_category c = i % 2 ? MM_CAT_HALOS : cooling;
        blocks[i] = mm_context_malloc(f, n, c);
        cr_assert_not_null(blocks[i], "allocation %d (%zu bytes) in the context should succeed", i, n);
        mmt_fill(blocks[i], n, (unsigned)i);
        if (c == MM_CAT_HALOS) halos += n; else cool += n;
    }
    size_t all = halos + cool;
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(all, all, 50, 50, 0),
                        "the context should hold the 50 blocks just allocated");
    mmt_expect_stats_of(f, mm_stats_total(NULL), ctx_moved(base, all, all, 50, 50, 0),
                        "the process view should count the context's 50 blocks");

    /* Ten explicit frees, the other forty are left to destroy. */
    size_t freed = 0;
    for (int i = 0; i < 10; i++) {
        size_t n = 8 + 24 * (size_t)i;
        cr_expect(mmt_filled(blocks[i], n, (unsigned)i), "block %d should keep its contents", i);
        mm_free(blocks[i]);
        freed += n;
    }
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(all - freed, all, 40, 50, 10),
                        "ten explicit frees should leave 40 blocks in the context");

    mm_context_destroy(f);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, all, 0, 50, 50),
                        "after destroy the process bytes and blocks should be back to their "
                        "values before the context, with 50 more allocs and 50 more frees");
    mmt_expect_stats_of(NULL, mm_stats_category(NULL, MM_CAT_HALOS),
                        ctx_moved(base_halos, 0, halos, 0, 25, 25),
                        "after destroy the process Halos figures should be back to before");
    mmt_expect_stats_of(NULL, mm_stats_category(NULL, cooling),
                        ctx_moved(base_cooling, 0, cool, 0, 25, 25),
                        "after destroy the process Cooling figures should be back to before");
}

Test(context, reset_frees_every_block_and_the_context_stays_usable)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mmt_context("forest", NULL);
    for (int i = 0; i < 100; i++) {
        void *p = mm_context_malloc(f, 64, MM_CAT_HALOS);
        cr_assert_not_null(p, "allocation %d of 64 bytes should succeed", i);
        memset(p, 0xA5, 64);
    }
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(6400, 6400, 100, 100, 0),
                        "100 blocks of 64 bytes should be live before the reset");

    mm_context_reset(f);
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 6400, 0, 100, 100),
                        "reset should free every block, count them as frees and keep the peak");
    mmt_expect_stats_of(f, mm_stats_self(f), mmt_stats(0, 6400, 0, 100, 100),
                        "reset should empty the context's self figures");
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(0, 0, 0, 0, 0),
                        "a new epoch should start empty after reset");
    mmt_expect_stats_of(f, mm_stats_total(NULL), ctx_moved(base, 0, 6400, 0, 100, 100),
                        "after reset the process bytes and blocks should be back to before");

    /* The context is reusable: new blocks, written and counted. */
    void *again[50];
    for (int i = 0; i < 50; i++) {
        again[i] = mm_context_malloc(f, 128, MM_CAT_TREES);
        cr_assert_not_null(again[i], "allocation %d after the reset should succeed", i);
        mmt_fill(again[i], 128, (unsigned)i);
        cr_expect_eq(mm_block_context(again[i]), f, "block %d should belong to the reset context", i);
    }
    for (int i = 0; i < 50; i++) {
        cr_expect(mmt_filled(again[i], 128, (unsigned)i),
                  "block %d allocated after the reset should keep its contents", i);
    }
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(6400, 6400, 50, 150, 100),
                        "50 blocks of 128 bytes should be live in the reused context");
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(6400, 6400, 50, 50, 0),
                        "the second epoch should count only its own 50 allocations");

    mm_context_destroy(f);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 6400, 0, 150, 150),
                        "destroying the reused context should leave the process as before");
}

Test(context, name_is_copied_and_defaults_to_context)
{
    char name[32];
    snprintf(name, sizeof name, "%s", "Forest 17");
    mm_context *f = mmt_context(name, NULL);
    memset(name, 'x', sizeof name - 1);
    cr_expect_str_eq(mm_context_name(f), "Forest 17",
                     "the context should keep its own copy of the name");
    cr_expect_null(mm_context_parent(f), "a top-level context should have no parent");
    mm_context *g = mm_context_create(NULL, f);
    cr_assert_not_null(g, "mm_context_create(NULL, parent) should return a context");
    cr_expect_str_eq(mm_context_name(g), "context", "a NULL name should give \"context\"");
    cr_expect_eq(mm_context_parent(g), f, "the child should name its parent");
    mm_context_destroy(f);
}

Test(context, destroy_and_reset_of_NULL_do_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats base = mm_stats_total(NULL);
    mm_context_destroy(NULL);
    mm_context_reset(NULL);
    mmt_expect_no_error(&rec, "destroy and reset of NULL");
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), base,
                        "destroy and reset of NULL should leave the process statistics alone");
}

Test(context, allocating_in_the_NULL_context_is_process_wide)
{
    mm_stats base = mm_stats_total(NULL);
    void *p = mm_context_malloc(NULL, 40, MM_CAT_IO);
    cr_assert_not_null(p, "mm_context_malloc(NULL, ...) should allocate process-wide");
    cr_expect_null(mm_block_context(p), "a process-wide block should have no context");
    cr_expect_eq(mm_block_size(p), 40, "the process-wide block should be 40 bytes");
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 40, 40, 1, 1, 0),
                        "the process should count the 40-byte block");
    mm_free(p);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 40, 0, 1, 1),
                        "freeing it should bring the process back to before");
}

/* ========================================================================
 * Nesting
 * ====================================================================== */

/* A > B > C with A: 60 + 40 Halos, B: 200 Trees, C: 400 Halos. */
typedef struct {
    mm_context *a, *b, *c;
    void *a1, *a2, *b1, *c1;
} ctx_tree3;

static void ctx_tree3_build(ctx_tree3 *t)
{
    t->a = mm_context_create("level-A", NULL);
    cr_assert_not_null(t->a, "creating A should succeed");
    t->b = mm_context_create("level-B", t->a);
    cr_assert_not_null(t->b, "creating B under A should succeed");
    t->c = mm_context_create("level-C", t->b);
    cr_assert_not_null(t->c, "creating C under B should succeed");
    t->a1 = mm_context_malloc(t->a, 60, MM_CAT_HALOS);
    t->a2 = mm_context_malloc(t->a, 40, MM_CAT_HALOS);
    t->b1 = mm_context_malloc(t->b, 200, MM_CAT_TREES);
    t->c1 = mm_context_malloc(t->c, 400, MM_CAT_HALOS);
    cr_assert(t->a1 && t->a2 && t->b1 && t->c1, "the four allocations should succeed");
}

Test(context, nested_contexts_three_levels_deep_are_inclusive_in_totals_and_exclusive_in_self)
{
    mm_stats base = mm_stats_total(NULL);
    ctx_tree3 t;
    ctx_tree3_build(&t);

    cr_expect_eq(mm_context_parent(t.c), t.b, "C's parent should be B");
    cr_expect_eq(mm_context_parent(t.b), t.a, "B's parent should be A");
    cr_expect_null(mm_context_parent(t.a), "A should be top-level");
    cr_expect_eq(mm_block_context(t.a1), t.a, "A's block should belong to A");
    cr_expect_eq(mm_block_context(t.b1), t.b, "B's block should belong to B");
    cr_expect_eq(mm_block_context(t.c1), t.c, "C's block should belong to C");

    mmt_expect_stats_of(t.a, mm_stats_total(t.a), mmt_stats(700, 700, 4, 4, 0),
                        "A's total should include B and C");
    mmt_expect_stats_of(t.a, mm_stats_total(t.b), mmt_stats(600, 600, 2, 2, 0),
                        "B's total should include C but not A");
    mmt_expect_stats_of(t.a, mm_stats_total(t.c), mmt_stats(400, 400, 1, 1, 0),
                        "C's total should be its own block");
    mmt_expect_stats_of(t.a, mm_stats_self(t.a), mmt_stats(100, 100, 2, 2, 0),
                        "A's self figures should exclude B and C");
    mmt_expect_stats_of(t.a, mm_stats_self(t.b), mmt_stats(200, 200, 1, 1, 0),
                        "B's self figures should exclude C");
    mmt_expect_stats_of(t.a, mm_stats_self(t.c), mmt_stats(400, 400, 1, 1, 0),
                        "C's self figures should be its own block");
    mmt_expect_stats_of(t.a, mm_stats_category(t.a, MM_CAT_HALOS), mmt_stats(500, 500, 2 + 1, 3, 0),
                        "A's Halos should be A's 100 plus C's 400");
    mmt_expect_stats_of(t.a, mm_stats_category(t.b, MM_CAT_HALOS), mmt_stats(400, 400, 1, 1, 0),
                        "B's Halos should be C's 400");
    mmt_expect_stats_of(t.a, mm_stats_category(t.a, MM_CAT_TREES), mmt_stats(200, 200, 1, 1, 0),
                        "A's Trees should be B's 200");

    /* A free deep down updates every level above. */
    mm_free(t.c1);
    mmt_expect_stats_of(t.a, mm_stats_total(t.a), mmt_stats(300, 700, 3, 4, 1),
                        "freeing C's block should lower A's total and keep its peak");
    mmt_expect_stats_of(t.a, mm_stats_total(t.b), mmt_stats(200, 600, 1, 2, 1),
                        "freeing C's block should lower B's total and keep its peak");
    mmt_expect_stats_of(t.a, mm_stats_self(t.c), mmt_stats(0, 400, 0, 1, 1),
                        "C's self figures should show the free");

    mm_context_destroy(t.a);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 700, 0, 4, 4),
                        "destroying A should free B and C too and leave the process as before");
}

Test(context, destroying_the_middle_context_updates_the_top_one)
{
    mm_stats base = mm_stats_total(NULL);
    ctx_tree3 t;
    ctx_tree3_build(&t);
    mm_free(t.c1);

    mm_context_destroy(t.b);
    mmt_expect_stats_of(t.a, mm_stats_total(t.a), mmt_stats(100, 700, 2, 4, 2),
                        "after B is destroyed A's total should be A's own 100 bytes, its peak "
                        "still 700 and B's block counted as freed");
    mmt_expect_stats_of(t.a, mm_stats_self(t.a), mmt_stats(100, 100, 2, 2, 0),
                        "destroying B should not change A's self figures");
    mmt_expect_stats_of(t.a, mm_stats_category(t.a, MM_CAT_TREES), mmt_stats(0, 200, 0, 1, 1),
                        "A's Trees should drop to 0 when B goes");
    mmt_expect_stats_of(t.a, mm_stats_category(t.a, MM_CAT_HALOS), mmt_stats(100, 500, 2, 3, 1),
                        "A's Halos should be its own 100 after C was freed and B went");
    mmt_expect_stats_of(t.a, mm_stats_total(NULL), ctx_moved(base, 100, 700, 2, 4, 2),
                        "the process should hold only A's two blocks");
    cr_expect_not(ctx_report_mentions("level-B"), "B should no longer be listed in the report");
    cr_expect_not(ctx_report_mentions("level-C"), "C should no longer be listed in the report");
    cr_expect(ctx_report_mentions("level-A"), "A should still be listed in the report");

    /* A is still usable and can get new children. */
    mm_context *d = mm_context_create("level-D", t.a);
    cr_assert_not_null(d, "A should accept a new child");
    cr_assert_not_null(mm_context_malloc(d, 10, MM_CAT_TREES), "the new child should allocate");
    mmt_expect_stats_of(t.a, mm_stats_total(t.a), mmt_stats(110, 700, 3, 5, 2),
                        "A's total should include its new child");
    mm_context_destroy(t.a);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 700, 0, 5, 5),
                        "destroying A should leave the process as before");
}

Test(context, reset_destroys_child_contexts)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *a = mm_context_create("parent-ctx-A", NULL);
    mm_context *b = mm_context_create("child-ctx-B", a);
    mm_context *c = mm_context_create("grandchild-ctx-C", b);
    mm_context *d = mm_context_create("child-ctx-D", a);
    cr_assert(a && b && c && d, "creating the four contexts should succeed");
    cr_assert_not_null(mm_context_malloc(a, 10, MM_CAT_HALOS), "allocating in A should succeed");
    cr_assert_not_null(mm_context_malloc(b, 20, MM_CAT_HALOS), "allocating in B should succeed");
    cr_assert_not_null(mm_context_malloc(c, 30, MM_CAT_TREES), "allocating in C should succeed");
    cr_assert_not_null(mm_context_malloc(d, 100000, MM_CAT_IO), "a large block in D should succeed");
    cr_expect(ctx_report_mentions("grandchild-ctx-C"), "C should be listed before the reset");
    mmt_expect_stats_of(a, mm_stats_total(a), mmt_stats(100060, 100060, 4, 4, 0),
                        "A's total should include its three descendants");

    mm_context_reset(a);
    mmt_expect_stats_of(a, mm_stats_total(a), mmt_stats(0, 100060, 0, 4, 4),
                        "reset of A should free the blocks of A and of every descendant");
    mmt_expect_stats_of(a, mm_stats_total(NULL), ctx_moved(base, 0, 100060, 0, 4, 4),
                        "after the reset the process should hold none of the four blocks");
    cr_expect_not(ctx_report_mentions("child-ctx-B"), "reset should destroy child B");
    cr_expect_not(ctx_report_mentions("grandchild-ctx-C"), "reset should destroy grandchild C");
    cr_expect_not(ctx_report_mentions("child-ctx-D"), "reset should destroy child D");
    cr_expect(ctx_report_mentions("parent-ctx-A"), "reset should keep A itself");

    mm_context *e = mm_context_create("child-ctx-E", a);
    cr_assert_not_null(e, "A should accept a child after the reset");
    cr_assert_not_null(mm_context_malloc(e, 5, MM_CAT_HALOS), "the new child should allocate");
    mmt_expect_stats_of(a, mm_stats_total(a), mmt_stats(5, 100060, 1, 5, 4),
                        "A's total should include the child created after the reset");
    mm_context_destroy(a);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 100060, 0, 5, 5),
                        "destroying A should leave the process as before");
}

/* ========================================================================
 * Blocks: realloc, calloc, strdup, sizes
 * ====================================================================== */

Test(context, realloc_keeps_a_block_in_its_context_with_its_data)
{
    mm_category cooling = mmt_cooling();
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *g = mm_context_create("scratch", f);
    cr_assert(f && g, "creating the contexts should succeed");

    void *p = mm_context_malloc(g, 100, MM_CAT_HALOS);
    cr_assert_not_null(p, "a 100-byte block should be allocated");
    mmt_fill(p, 100, 7);

    /* Small to large (> 64 KiB). */
    void *q = mm_realloc(p, 200000);
    cr_assert_not_null(q, "growing to 200000 bytes should succeed");
    cr_expect_eq(mm_block_context(q), g, "the grown block should stay in its context");
    cr_expect_eq(mm_block_size(q), 200000, "the grown block should be 200000 bytes");
    cr_expect_eq(mm_block_category(q), MM_CAT_HALOS, "the grown block should stay in Halos");
    cr_expect(mmt_filled(q, 100, 7), "growing should keep the first 100 bytes");
    mmt_expect_stats_of(f, mm_stats_self(g), mmt_stats(200000, 200000, 1, 1, 0),
                        "the context should hold one 200000-byte block after growing");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(200000, 200000, 1, 1, 0),
                        "the parent's total should follow the grown block");
    mmt_fill(q, 200000, 9);

    /* Large to small. */
    void *r = mm_realloc(q, 50);
    cr_assert_not_null(r, "shrinking to 50 bytes should succeed");
    cr_expect_eq(mm_block_context(r), g, "the shrunk block should stay in its context");
    cr_expect_eq(mm_block_size(r), 50, "the shrunk block should be 50 bytes");
    cr_expect(mmt_filled(r, 50, 9), "shrinking should keep the first 50 bytes");
    mmt_expect_stats_of(f, mm_stats_self(g), mmt_stats(50, 200000, 1, 1, 0),
                        "the context should hold one 50-byte block after shrinking");

    /* Small to small, moving category. */
    void *s = mm_realloc_cat(r, 70, cooling);
    cr_assert_not_null(s, "mm_realloc_cat to 70 bytes should succeed");
    cr_expect_eq(mm_block_context(s), g, "mm_realloc_cat should keep the block in its context");
    cr_expect_eq(mm_block_category(s), cooling, "mm_realloc_cat should move the block to Cooling");
    cr_expect(mmt_filled(s, 50, 9), "mm_realloc_cat should keep the first 50 bytes");
    /* A move is neither an allocation nor a free (as for process blocks). */
    mmt_expect_stats_of(f, mm_stats_category(f, MM_CAT_HALOS), mmt_stats(0, 200000, 0, 1, 0),
                        "Halos should be empty after the block moved to Cooling");
    mmt_expect_figure(f, mm_stats_category(f, cooling).bytes, 70,
                      "Cooling bytes in the context after the move");
    mmt_expect_figure(f, mm_stats_category(f, cooling).blocks, 1,
                      "Cooling blocks in the context after the move");

    /* Size 0 keeps a live zero-size block. */
    void *z = mm_realloc(s, 0);
    cr_assert_not_null(z, "realloc to 0 should keep a live zero-size block");
    cr_expect_eq(mm_block_context(z), g, "the zero-size block should stay in its context");
    cr_expect_eq(mm_block_size(z), 0, "the block should be 0 bytes");
    mmt_expect_figure(f, mm_stats_self(g).blocks, 1,
                      "live blocks in the context after realloc to 0");
    mmt_expect_figure(f, mm_stats_self(g).bytes, 0, "live bytes in the context after realloc to 0");

    /* Grow again to a large block, then let the parent's reset reclaim it. */
    void *big = mm_realloc(z, 300000);
    cr_assert_not_null(big, "growing the zero-size block to 300000 bytes should succeed");
    cr_expect_eq(mm_block_context(big), g, "the regrown block should stay in its context");
    mmt_expect_stats_of(f, mm_stats_total(NULL), ctx_moved(base, 300000, 300000, 1, 1, 0),
                        "the process should hold the one 300000-byte block");
    mm_context_reset(f);
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 300000, 0, 1, 1),
                        "the parent's reset should free the child's reallocated block");
    mmt_expect_stats_of(f, mm_stats_total(NULL), ctx_moved(base, 0, 300000, 0, 1, 1),
                        "after the reset the process should be back to before");
    mm_context_destroy(f);
}

Test(context, realloc_of_NULL_allocates_process_wide)
{
    void *p = mm_realloc(NULL, 24);
    cr_assert_not_null(p, "mm_realloc(NULL, 24) should allocate");
    cr_expect_null(mm_block_context(p), "mm_realloc(NULL, ...) should give a process-wide block");
    mm_free(p);
}

Test(context, context_calloc_returns_zeroed_memory)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mmt_context("forest", NULL);
    /* Dirty the context's memory first so that reused chunks hold junk. */
    for (int i = 0; i < 64; i++) {
        void *p = mm_context_malloc(f, 1000, MM_CAT_HALOS);
        cr_assert_not_null(p, "the dirtying allocation %d should succeed", i);
        memset(p, 0xFF, 1000);
    }
    void *large = mm_context_malloc(f, 150000, MM_CAT_HALOS);
    cr_assert_not_null(large, "the large dirtying allocation should succeed");
    memset(large, 0xFF, 150000);
    mm_context_reset(f);

    for (int i = 0; i < 64; i++) {
        unsigned char *z = mm_context_calloc(f, 10, 100, MM_CAT_TREES);
        cr_assert_not_null(z, "calloc %d of 10 x 100 should succeed", i);
        size_t nonzero = 0;
        for (size_t k = 0; k < 1000; k++) nonzero += z[k] != 0;
        cr_expect_eq(nonzero, 0, "calloc %d should return 1000 zero bytes, %zu were not", i, nonzero);
        cr_expect_eq(mm_block_size(z), 1000, "calloc %d should make a 1000-byte block", i);
        cr_expect_eq(mm_block_context(z), f, "calloc %d should allocate in the context", i);
    }
    unsigned char *zl = mm_context_calloc(f, 3, 50000, MM_CAT_TREES);
    cr_assert_not_null(zl, "a large calloc of 3 x 50000 should succeed");
    size_t nonzero = 0;
    for (size_t k = 0; k < 150000; k++) nonzero += zl[k] != 0;
    cr_expect_eq(nonzero, 0, "the large calloc should return zeros, %zu bytes were not", nonzero);
    void *empty = mm_context_calloc(f, 0, 16, MM_CAT_TREES);
    cr_expect_not_null(empty, "calloc of 0 elements should give a valid block");
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(64000 + 150000, 64000 + 150000, 66,
                        66, 0),
                        "the epoch should hold the 64 small, the large and the empty calloc blocks");
    mm_context_destroy(f);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 64000 + 150000, 0, 131, 131),
                        "destroy should leave the process as before");
}

Test(context, context_strdup_copies_the_string_into_the_context)
{
    mm_context *f = mmt_context("forest", NULL);
    char src[] = "Forest 17";
    char *s = mm_context_strdup(f, src, MM_CAT_UTILITY);
    cr_assert_not_null(s, "mm_context_strdup should return a copy");
    cr_expect_neq((void *)s, (void *)src, "the copy should be a new block");
    src[0] = 'X';
    cr_expect_str_eq(s, "Forest 17", "the copy should hold the original text");
    cr_expect_eq(mm_block_size(s), 10, "the copy should be strlen + 1 = 10 bytes");
    cr_expect_eq(mm_block_category(s), MM_CAT_UTILITY, "the copy should be in Utility");
    cr_expect_eq(mm_block_context(s), f, "the copy should belong to the context");
    char *e = mm_context_strdup(f, "", MM_CAT_UTILITY);
    cr_assert_not_null(e, "copying an empty string should succeed");
    cr_expect_str_eq(e, "", "the copy of \"\" should be empty");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(11, 11, 2, 2, 0),
                        "the context should hold 10 + 1 bytes in two blocks");
    mm_context_destroy(f);
}

Test(context, zero_size_blocks_are_unique_live_blocks_of_the_context)
{
    mm_context *f = mmt_context("forest", NULL);
    void *z[3];
    for (int i = 0; i < 3; i++) {
        z[i] = mm_context_malloc(f, 0, MM_CAT_HALOS);
        cr_assert_not_null(z[i], "zero-size block %d should be a valid pointer", i);
        cr_expect(mm_validate(z[i]), "zero-size block %d should validate", i);
        cr_expect_eq(mm_block_size(z[i]), 0, "zero-size block %d should be 0 bytes", i);
        cr_expect_eq(mm_block_context(z[i]), f, "zero-size block %d should belong to the context", i);
    }
    cr_expect(z[0] != z[1] && z[1] != z[2] && z[0] != z[2], "zero-size blocks should be distinct");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 3, 3, 0),
                        "three zero-size blocks should count as three live blocks of 0 bytes");
    mm_free(z[1]);
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 2, 3, 1),
                        "freeing one zero-size block should leave two");
    mm_context_reset(f);
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 0, 3, 3),
                        "reset should free the other two zero-size blocks");
    mm_context_destroy(f);
}

static const size_t ctx_sizes[] = {16,    17,    24,    32,     48,     64,     100,    128,
                                   255,   256,   500,   1000,   1024,   4096,   8192,   16383,
                                   16384, 16385, 32768, 65535,  65536,  65537,  100000, 262144,
                                   524288, 1048575, 1048576};
#define CTX_NSIZES (sizeof ctx_sizes / sizeof ctx_sizes[0])
#define CTX_PER_SIZE 3

Test(context, blocks_from_16_bytes_to_1_MiB_are_freed_one_by_one)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mmt_context("forest", NULL);
    void *p[CTX_NSIZES * CTX_PER_SIZE];
    size_t sz[CTX_NSIZES * CTX_PER_SIZE];
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < CTX_NSIZES; i++) {
        for (int k = 0; k < CTX_PER_SIZE; k++) {
            sz[n] = ctx_sizes[i];
            p[n] = mm_context_malloc(f, sz[n], (mm_category)(k + MM_CAT_GALAXIES));
            cr_assert_not_null(p[n], "allocating %zu bytes in the context should succeed", sz[n]);
            cr_expect_eq((uintptr_t)p[n] % _Alignof(max_align_t), 0,
                         "a %zu-byte block should be aligned for max_align_t", sz[n]);
            mmt_fill(p[n], sz[n], (unsigned)n);
            bytes += sz[n];
            n++;
        }
    }
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(bytes, bytes, n, n, 0),
                        "the context should hold every block of every size");
    for (size_t i = 0; i < n; i++) {
        cr_expect(mm_validate(p[i]), "block %zu (%zu bytes) should validate", i, sz[i]);
        cr_expect_eq(mm_block_size(p[i]), sz[i], "block %zu should report its size", i);
        cr_expect_eq(mm_block_context(p[i]), f, "block %zu (%zu bytes) should belong to the context",
                     i, sz[i]);
        cr_expect(mmt_filled(p[i], sz[i], (unsigned)i),
                             "block %zu (%zu bytes) should keep its data",
                  i, sz[i]);
    }

    /* Free in a shuffled order, checking the figures after each free. */
    size_t order[CTX_NSIZES * CTX_PER_SIZE];
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint64_t state = 42;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(mmt_rand(&state) % (i + 1));
        size_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    size_t live = bytes;
    for (size_t i = 0; i < n; i++) {
        size_t k = order[i];
        mm_free(p[k]);
        live -= sz[k];
        mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(live, bytes, n - i - 1, n, i + 1),
                            "after freeing block %zu (%zu bytes), %zu frees in", k, sz[k], i + 1);
    }
    mmt_expect_stats_of(f, mm_stats_total(NULL), ctx_moved(base, 0, bytes, 0, n, n),
                        "after every free the process should be back to before");
    mm_context_destroy(f);
}

Test(context, blocks_from_16_bytes_to_1_MiB_are_freed_by_reset)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mmt_context("forest", NULL);
    size_t bytes = 0, n = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < CTX_NSIZES; i++) {
            for (int k = 0; k < CTX_PER_SIZE; k++) {
                void *q = mm_context_malloc(f, ctx_sizes[i], MM_CAT_TREES);
                cr_assert_not_null(q, "round %d: allocating %zu bytes should succeed", round,
                                   ctx_sizes[i]);
                memset(q, 0x3C, ctx_sizes[i]);
                if (round == 0) { bytes += ctx_sizes[i]; n++; }
            }
        }
        mmt_expect_stats_of(f, mm_stats_total(f),
                            mmt_stats(bytes, bytes, n, n * (size_t)(round + 1), n * (size_t)round),
                            "round %d: the context should hold every block before the reset", round);
        mm_context_reset(f);
        mmt_expect_stats_of(f, mm_stats_total(f),
                            mmt_stats(0, bytes, 0, n * (size_t)(round + 1), n * (size_t)(round + 1)),
                            "round %d: reset should free every block, small and large", round);
        mmt_expect_stats_of(f, mm_stats_total(NULL),
                            ctx_moved(base, 0, bytes, 0, n * (size_t)(round + 1), n * (size_t)(round + 1)),
                            "round %d: after the reset the process should be back to before", round);
    }
    mm_context_destroy(f);
}

/* ========================================================================
 * Statistics
 * ====================================================================== */

Test(context, per_category_figures_cover_the_context_its_subtree_and_the_process)
{
    mm_category cooling = mmt_cooling();
    mm_stats base_halos = mm_stats_category(NULL, MM_CAT_HALOS);
    mm_stats base_trees = mm_stats_category(NULL, MM_CAT_TREES);
    mm_context *a = mm_context_create("A", NULL);
    mm_context *b = mm_context_create("B", a);
    cr_assert(a && b, "creating the contexts should succeed");
    void *h1 = mm_context_malloc(a, 100, MM_CAT_HALOS);
    void *h2 = mm_context_malloc(a, 200, MM_CAT_HALOS);
    void *c1 = mm_context_malloc(a, 50, cooling);
    void *h3 = mm_context_malloc(b, 1000, MM_CAT_HALOS);
    void *t1 = mm_context_malloc(b, 7, MM_CAT_TREES);
    cr_assert(h1 && h2 && c1 && h3 && t1, "the five allocations should succeed");

    mmt_expect_stats_of(a, mm_stats_category(a, MM_CAT_HALOS), mmt_stats(1300, 1300, 3, 3, 0),
                        "A's Halos should be 100 + 200 of A plus 1000 of B");
    mmt_expect_stats_of(a, mm_stats_category(a, cooling), mmt_stats(50, 50, 1, 1, 0),
                        "A's Cooling should be its 50-byte block");
    mmt_expect_stats_of(a, mm_stats_category(a, MM_CAT_TREES), mmt_stats(7, 7, 1, 1, 0),
                        "A's Trees should be B's 7-byte block");
    mmt_expect_stats_of(a, mm_stats_category(a, MM_CAT_IO), mmt_stats(0, 0, 0, 0, 0),
                        "A's IO should be empty");
    mmt_expect_stats_of(a, mm_stats_category(b, MM_CAT_HALOS), mmt_stats(1000, 1000, 1, 1, 0),
                        "B's Halos should be its own 1000 bytes");
    mmt_expect_stats_of(a, mm_stats_category(b, cooling), mmt_stats(0, 0, 0, 0, 0),
                        "B's Cooling should be empty");
    mmt_expect_stats_of(a, mm_stats_category(NULL, MM_CAT_HALOS), ctx_moved(base_halos, 1300, 1300,
                        3, 3, 0),
                        "the process Halos should include both contexts");

    size_t sum = 0, nblocks = 0;
    for (mm_category c = 0; c < mm_category_count(); c++) {
        sum += mm_stats_category(a, c).bytes;
        nblocks += mm_stats_category(a, c).blocks;
    }
    mmt_expect_figure(a, sum, mm_stats_total(a).bytes, "the sum of A's category bytes (A's total)");
    mmt_expect_figure(a, nblocks, mm_stats_total(a).blocks,
                      "the sum of A's category blocks (A's total)");

    mm_free(h2);
    mmt_expect_stats_of(a, mm_stats_category(a, MM_CAT_HALOS), mmt_stats(1100, 1300, 2, 3, 1),
                        "freeing 200 Halos bytes should lower A's Halos and keep its peak");
    mm_free(h3);
    mmt_expect_stats_of(a, mm_stats_category(b, MM_CAT_HALOS), mmt_stats(0, 1000, 0, 1, 1),
                        "freeing B's Halos block should empty B's Halos");
    mmt_expect_stats_of(a, mm_stats_category(a, MM_CAT_HALOS), mmt_stats(100, 1300, 1, 3, 2),
                        "freeing B's Halos block should lower A's Halos too");

    mm_context_destroy(a);
    mmt_expect_stats_of(NULL, mm_stats_category(NULL, MM_CAT_HALOS), ctx_moved(base_halos, 0, 1300,
                        0, 3, 3),
                        "destroy should bring the process Halos back to before");
    mmt_expect_stats_of(NULL, mm_stats_category(NULL, MM_CAT_TREES), ctx_moved(base_trees, 0, 7, 0,
                        1, 1),
                        "destroy should bring the process Trees back to before");
}

Test(context, peaks_are_exact_for_self_subtree_epoch_and_all_time)
{
    mm_stats base = mm_stats_total(NULL);
    mm_context *t = mm_context_create("top", NULL);
    mm_context *c = mm_context_create("child", t);
    cr_assert(t && c, "creating the contexts should succeed");

    void *t1 = mm_context_malloc(t, 1000, MM_CAT_HALOS); /* subtree 1000 */
    void *c1 = mm_context_malloc(c, 500, MM_CAT_HALOS);  /* subtree 1500 */
    cr_assert(t1 && c1, "the first allocations should succeed");
    mm_free(t1);                                         /* subtree 500, self(t) 0 */
    void *c2 = mm_context_malloc(c, 2000, MM_CAT_TREES); /* subtree 2500, self(c) 2500 */
    cr_assert_not_null(c2, "the 2000-byte allocation should succeed");
    mm_free(c1);                                         /* subtree 2000 */
    void *t2 = mm_context_malloc(t, 100, MM_CAT_HALOS);  /* subtree 2100, self(t) 100 */
    cr_assert_not_null(t2, "the 100-byte allocation should succeed");

    mmt_expect_stats_of(t, mm_stats_self(t), mmt_stats(100, 1000, 1, 2, 1),
                        "top's self peak should be its own 1000, not the subtree's");
    mmt_expect_stats_of(t, mm_stats_self(c), mmt_stats(2000, 2500, 1, 2, 1),
                        "child's self peak should be 500 + 2000");
    mmt_expect_stats_of(t, mm_stats_total(t), mmt_stats(2100, 2500, 2, 4, 2),
                        "top's subtree peak should be the 2500 reached when both child blocks were live");
    mmt_expect_stats_of(t, mm_context_epoch_stats(t), mmt_stats(2100, 2500, 2, 4, 2),
                        "in the first epoch the epoch figures should equal the totals");
    mmt_expect_stats_of(t, mm_stats_category(t, MM_CAT_HALOS), mmt_stats(100, 1500, 1, 3, 2),
                        "top's Halos peak should be the 1500 of t1 + c1");
    mmt_expect_stats_of(t, mm_stats_category(t, MM_CAT_TREES), mmt_stats(2000, 2000, 1, 1, 0),
                        "top's Trees peak should be 2000");
    mmt_expect_stats_of(t, mm_stats_total(NULL), ctx_moved(base, 2100, 2500, 2, 4, 2),
                        "the process peak should include the 2500 of the subtree");

    mm_context_reset(t); /* closes epoch 0 (peak 2500) and destroys the child */
    mmt_expect_stats_of(t, mm_context_epoch_stats(t), mmt_stats(0, 0, 0, 0, 0),
                        "the epoch figures should restart from zero after the reset");
    mmt_expect_stats_of(t, mm_stats_total(t), mmt_stats(0, 2500, 0, 4, 4),
                        "the all-time subtree peak should survive the reset");
    mmt_expect_stats_of(t, mm_stats_self(t), mmt_stats(0, 1000, 0, 2, 2),
                        "the self peak should survive the reset");

    void *t3 = mm_context_malloc(t, 300, MM_CAT_HALOS);
    cr_assert_not_null(t3, "the 300-byte allocation should succeed");
    mm_free(t3);
    void *t4 = mm_context_malloc(t, 200, MM_CAT_HALOS);
    cr_assert_not_null(t4, "the 200-byte allocation should succeed");
    mmt_expect_stats_of(t, mm_context_epoch_stats(t), mmt_stats(200, 300, 1, 2, 1),
                        "the second epoch's peak should be its own 300");
    mmt_expect_stats_of(t, mm_stats_total(t), mmt_stats(200, 2500, 1, 6, 5),
                        "the all-time peak should stay 2500 during a smaller epoch");

    /* An epoch that beats the old peak moves the all-time peak. */
    void *t5 = mm_context_malloc(t, 3000, MM_CAT_IO);
    cr_assert_not_null(t5, "the 3000-byte allocation should succeed");
    mmt_expect_stats_of(t, mm_context_epoch_stats(t), mmt_stats(3200, 3200, 2, 3, 1),
                        "the epoch peak should follow the new high of 3200");
    mmt_expect_stats_of(t, mm_stats_total(t), mmt_stats(3200, 3200, 2, 7, 5),
                        "the all-time peak should rise to 3200");
    mmt_expect_stats_of(t, mm_stats_self(t), mmt_stats(3200, 3200, 2, 5, 3),
                        "the self peak should rise to 3200");
    mm_context_reset(t);

    mm_epoch_summary e = mm_context_epochs(t);
    mmt_expect_figure(t, e.count, 2, "the number of closed epochs");
    mmt_expect_figure(t, e.min_peak, 2500, "the smallest epoch peak");
    mmt_expect_figure(t, e.max_peak, 3200, "the largest epoch peak");
    cr_expect(e.mean_peak > 2849.999 && e.mean_peak < 2850.001,
              "the mean epoch peak should be 2850, got %f", e.mean_peak);
    mm_context_destroy(t);
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), ctx_moved(base, 0, 3200, 0, 7, 7),
                        "destroy should leave the process as before, its peak at 3200 above");
}

/* ========================================================================
 * Errors
 * ====================================================================== */

Test(context, a_bad_category_is_reported_and_leaves_the_statistics_untouched)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *f = mmt_context("forest", NULL);
    cr_assert_not_null(mm_context_malloc(f, 32, MM_CAT_HALOS), "a good allocation should succeed");
    mm_stats before_f = mm_stats_total(f);
    mm_stats before_p = mm_stats_total(NULL);
    const mm_category bad[] = {MM_CAT_INVALID, -5, (mm_category)mm_category_count(),
                               MM_CATEGORY_MAX, 99999};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "mm_context_malloc with category %d", bad[i]);
        cr_expect_null(mm_context_malloc(f, 16, bad[i]), "%s should return NULL", what);
        cr_expect_eq(rec.category, bad[i], "%s: the error should name the category", what);
        cr_expect_eq(rec.context, f, "%s: the error should name the context", what);
        mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, what);

        snprintf(what, sizeof what, "mm_context_calloc with category %d", bad[i]);
        cr_expect_null(mm_context_calloc(f, 2, 8, bad[i]), "%s should return NULL", what);
        mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, what);

        snprintf(what, sizeof what, "mm_context_strdup with category %d", bad[i]);
        cr_expect_null(mm_context_strdup(f, "x", bad[i]), "%s should return NULL", what);
        mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, what);
    }
    mmt_expect_stats_of(f, mm_stats_total(f), before_f,
                        "failed allocations should leave the context's statistics untouched");
    mmt_expect_stats_of(f, mm_stats_total(NULL), before_p,
                        "failed allocations should leave the process statistics untouched");
    mm_context_destroy(f);
}

Test(context, a_size_that_overflows_is_reported_in_a_context)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *f = mmt_context("forest", NULL);
    cr_expect_null(mm_context_malloc(f, SIZE_MAX, MM_CAT_HALOS),
                   "mm_context_malloc(SIZE_MAX) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_context_malloc(SIZE_MAX)");
    cr_expect_null(mm_context_calloc(f, SIZE_MAX / 2, 3, MM_CAT_HALOS),
                   "mm_context_calloc with an overflowing product should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_context_calloc(SIZE_MAX / 2, 3)");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 0, 0, 0),
                        "failed allocations should leave the context empty");
    mm_context_destroy(f);
}

Test(context, strdup_of_NULL_is_a_bad_argument)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *f = mmt_context("forest", NULL);
    cr_expect_null(mm_context_strdup(f, NULL, MM_CAT_HALOS), "mm_context_strdup(NULL) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_context_strdup(NULL)");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(0, 0, 0, 0, 0),
                        "a failed strdup should leave the context empty");
    mm_context_destroy(f);
}

/* ========================================================================
 * Frees of blocks a context already released
 * ====================================================================== */

/* A destroyed context's chunks go to the process-wide chunk cache, not back
 * to the system (docs/design.md), so reading a stale header is defined and
 * these tests also run under ASan and Valgrind.
 *
 * Frees p and expects exactly one error, MM_ERR_DOUBLE_FREE or (allowed for
 * blocks released by reset/destroy) MM_ERR_BAD_POINTER. */
static void ctx_expect_released(mmt_recorder *rec, void *p, const char *what)
{
    cr_expect_eq(mm_validate(p), 0, "%s: mm_validate should return 0", what);
    mm_free(p);
    cr_expect_eq(rec->count, 1, "%s: mm_free should report exactly one error, got %d", what,
                 rec->count);
    cr_expect(rec->kind == MM_ERR_DOUBLE_FREE || rec->kind == MM_ERR_BAD_POINTER,
              "%s: the error should be a double free (or a bad pointer), got %d (%s)", what,
              (int)rec->kind, mm_error_kind_name(rec->kind));
    mmt_recorder_clear(rec);
}

static const size_t ctx_small_sizes[] = {0, 1, 16, 64, 100, 1000, 4096};
#define CTX_NSMALL (sizeof ctx_small_sizes / sizeof ctx_small_sizes[0])

/* Creates "forest" with one Halos block of each of ctx_small_sizes in p. */
static mm_context *ctx_forest_with_small_blocks(void *p[CTX_NSMALL])
{
    mm_context *f = mmt_context("forest", NULL);
    for (size_t i = 0; i < CTX_NSMALL; i++) {
        p[i] = mm_context_malloc(f, ctx_small_sizes[i], MM_CAT_HALOS);
        cr_assert_not_null(p[i], "allocating %zu bytes should succeed", ctx_small_sizes[i]);
    }
    return f;
}

/* ctx_expect_released for every block of ctx_forest_with_small_blocks after
 * its context's how ("reset" or "destroy"). */
static void ctx_expect_all_released(mmt_recorder *rec, void *p[CTX_NSMALL], const char *how)
{
    for (size_t i = 0; i < CTX_NSMALL; i++) {
        char what[96];
        snprintf(what, sizeof what, "freeing a %zu-byte block after its context's %s",
                 ctx_small_sizes[i], how);
        ctx_expect_released(rec, p[i], what);
    }
}

Test(context, freeing_a_block_of_a_reset_context_is_detected)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p[CTX_NSMALL];
    mm_context *f = ctx_forest_with_small_blocks(p);
    mm_context_reset(f);
    mm_stats before_f = mm_stats_total(f);
    mm_stats before_p = mm_stats_total(NULL);
    ctx_expect_all_released(&rec, p, "reset");
    mmt_expect_stats_of(f, mm_stats_total(f), before_f,
                        "the rejected frees should leave the context's statistics untouched");
    mmt_expect_stats_of(f, mm_stats_total(NULL), before_p,
                        "the rejected frees should leave the process statistics untouched");

    void *q = mm_context_malloc(f, 64, MM_CAT_HALOS);
    cr_assert_not_null(q, "the context should still allocate after the rejected frees");
    mm_free(q);
    mmt_expect_no_error(&rec, "allocating and freeing after the rejected frees");
    mm_context_destroy(f);
}

Test(context, freeing_a_block_of_a_destroyed_context_is_detected)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p[CTX_NSMALL];
    mm_context *f = ctx_forest_with_small_blocks(p);
    mm_context_destroy(f);
    mm_stats before_p = mm_stats_total(NULL);
    ctx_expect_all_released(&rec, p, "destroy");
    mmt_expect_stats_of(NULL, mm_stats_total(NULL), before_p,
                        "the rejected frees should leave the process statistics untouched");
}

Test(context, freeing_a_block_of_a_child_destroyed_by_its_parents_reset_is_detected)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *f = mm_context_create("forest", NULL);
    mm_context *g = mm_context_create("scratch", f);
    cr_assert(f && g, "creating the contexts should succeed");
    void *p = mm_context_malloc(g, 48, MM_CAT_TREES);
    cr_assert_not_null(p, "allocating in the child should succeed");
    mm_context_reset(f);
    mm_stats before_f = mm_stats_total(f);
    ctx_expect_released(&rec, p, "freeing a block of a child destroyed by the parent's reset");
    mmt_expect_stats_of(f, mm_stats_total(f), before_f,
                        "the rejected free should leave the parent's statistics untouched");
    mm_context_destroy(f);
}

Test(context, a_double_free_of_a_context_block_is_a_double_free)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *f = mmt_context("forest", NULL);
    for (size_t i = 0; i < CTX_NSMALL; i++) {
        void *p = mm_context_malloc(f, ctx_small_sizes[i], MM_CAT_HALOS);
        cr_assert_not_null(p, "allocating %zu bytes should succeed", ctx_small_sizes[i]);
        mm_free(p);
        mmt_expect_no_error(&rec, "the first free");
        mm_stats before = mm_stats_total(f);
        cr_expect_eq(mm_validate(p), 0, "a freed %zu-byte block should not validate",
                     ctx_small_sizes[i]);
        mm_free(p);
        cr_expect_eq(rec.ptr, p, "the double free of %zu bytes should name the pointer",
                     ctx_small_sizes[i]);
        char what[96];
        snprintf(what, sizeof what, "the second free of a %zu-byte context block", ctx_small_sizes[i]);
        mmt_expect_one_error(&rec, MM_ERR_DOUBLE_FREE, what);
        mmt_expect_stats_of(f, mm_stats_total(f), before,
                            "the second free of %zu bytes should leave the statistics untouched",
                            ctx_small_sizes[i]);
    }
    mm_context_destroy(f);
}

/* Child: allocates 64 bytes in "forest", releases the block by how
 * ("reset", "destroy" or "free" the context or the block), then frees it. */
static void ctx_child_release_then_free(void *arg)
{
    const char *how = arg;
    mm_context *f = mm_context_create("forest", NULL);
    void *p = mm_context_malloc(f, 64, MM_CAT_HALOS);
    if (strcmp(how, "reset") == 0) mm_context_reset(f);
    else if (strcmp(how, "destroy") == 0) mm_context_destroy(f);
    else mm_free(p);
    mm_free(p);
}

/* Runs ctx_child_release_then_free(how) under the default handler and
 * expects SIGABRT with a
 * "mimicmem: " line naming a double free (or a bad pointer). */
static void ctx_expect_released_death(const char *how, const char *what)
{
    static mmt_death d;
    char line[MMT_MESSAGE_MAX];
    mmt_run_child(ctx_child_release_then_free, (void *)how, &d);
    cr_expect_eq(d.signal, SIGABRT,
                 "%s: the default handler should abort, the child ended with signal %d, exit "
                 "status %d; stderr:\n%s", what, d.signal, d.exit_status, d.text);
    line[0] = '\0';
    cr_expect(mmt_death_message(&d, line, sizeof line),
              "%s: the default handler should print a \"mimicmem: \" line; stderr:\n%s", what,
              d.text);
    cr_expect(strstr(line, "double free") != NULL || strstr(line, "bad pointer") != NULL,
              "%s: the message should say \"double free\" (or \"bad pointer\"), it was: %s", what,
              line);
}

Test(context, freeing_a_block_of_a_reset_context_aborts_under_the_default_handler)
{
    ctx_expect_released_death("reset", "free after reset");
}

Test(context, freeing_a_block_of_a_destroyed_context_aborts_under_the_default_handler)
{
    ctx_expect_released_death("destroy", "free after destroy");
}

Test(context, a_double_free_of_a_context_block_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(ctx_child_release_then_free, (void *)"free", "double free", msg);
}

/* ========================================================================
 * Threads
 * ====================================================================== */

/* One thread's work: its own scratch context (reset every 1000 allocations)
 * and a context it keeps and hands to the main thread at join. Only the
 * thread touches the job until the join. */
typedef struct {
    uint64_t seed;           /* generator state */
    mm_category cat;         /* this thread's own category */
    size_t nallocs;          /* allocations to make */
    mm_context *kept;        /* context handed over at join */
    size_t kept_bytes;       /* live bytes left in kept */
    size_t kept_blocks;      /* live blocks left in kept */
    size_t shared_bytes;     /* live Utility bytes left in kept */
    size_t shared_blocks;    /* live Utility blocks left in kept */
    uint64_t cat_allocs;     /* allocations made in cat */
    uint64_t shared_allocs;  /* allocations made in Utility */
    int failures;            /* checks that failed on the thread */
    char first_failure[256]; /* description of the first one */
} ctx_job;

static void ctx_job_fail(ctx_job *j, const char *what, uintmax_t got, uintmax_t want)
{
    if (j->failures++ == 0) {
        snprintf(j->first_failure, sizeof j->first_failure, "%s should be %ju, got %ju", what,
                 want, got);
    }
}

#define CTX_THREAD_LIVE 64

static void *ctx_thread_main(void *arg)
{
    ctx_job *j = arg;
    char name[32];
    snprintf(name, sizeof name, "kept-%d", (int)j->cat);
    j->kept = mm_context_create(name, NULL);
    mm_context *scratch = mm_context_create("scratch", NULL);
    if (j->kept == NULL || scratch == NULL) {
        ctx_job_fail(j, "contexts created", 0, 2);
        return NULL;
    }
    void *live[CTX_THREAD_LIVE];
    size_t live_size[CTX_THREAD_LIVE];
    size_t nlive = 0, scratch_bytes = 0, scratch_blocks = 0;
    uint64_t scratch_allocs = 0, scratch_frees = 0;
    for (size_t i = 0; i < j->nallocs; i++) {
        uint64_t r = mmt_rand(&j->seed);
        size_t size = (size_t)(r % 512);
        if (r % 997 == 0) size = 70000 + (size_t)(r % 5000); /* now and then a large block */
        mm_category c = (r >> 20) % 4 == 0 ? MM_CAT_UTILITY : j->cat;
        if (c == MM_CAT_UTILITY) j->shared_allocs++; else j->cat_allocs++;
        if (i % 100 == 0) {
            void *k = mm_context_malloc(j->kept, size, c);
            if (k == NULL) { ctx_job_fail(j, "a kept allocation", 0, 1); continue; }
            j->kept_bytes += size;
            j->kept_blocks++;
            if (c == MM_CAT_UTILITY) { j->shared_bytes += size; j->shared_blocks++; }
            continue;
        }
        void *p = mm_context_malloc(scratch, size, c);
        if (p == NULL) { ctx_job_fail(j, "a scratch allocation", 0, 1); continue; }
        if (size > 0) ((unsigned char *)p)[size - 1] = (unsigned char)i;
        scratch_allocs++;
        scratch_bytes += size;
        scratch_blocks++;
        if (nlive == CTX_THREAD_LIVE) { /* free half of the live blocks explicitly */
            for (size_t k = 0; k < CTX_THREAD_LIVE / 2; k++) {
                mm_free(live[k]);
                scratch_bytes -= live_size[k];
                scratch_blocks--;
                scratch_frees++;
            }
            memmove(live, live + CTX_THREAD_LIVE / 2, sizeof live / 2);
            memmove(live_size, live_size + CTX_THREAD_LIVE / 2, sizeof live_size / 2);
            nlive -= CTX_THREAD_LIVE / 2;
        }
        live[nlive] = p;
        live_size[nlive] = size;
        nlive++;
        if (i % 1000 == 999) {
            mm_stats s = mm_stats_total(scratch);
            if (s.bytes != scratch_bytes) ctx_job_fail(j, "scratch bytes before a reset", s.bytes, scratch_bytes);
            if (s.blocks != scratch_blocks) ctx_job_fail(j, "scratch blocks before a reset", s.blocks, scratch_blocks);
            mm_context_reset(scratch);
            scratch_frees += scratch_blocks;
            scratch_bytes = 0;
            scratch_blocks = 0;
            nlive = 0;
            s = mm_stats_total(scratch);
            if (s.bytes != 0) ctx_job_fail(j, "scratch bytes after a reset", s.bytes, 0);
            if (s.blocks != 0) ctx_job_fail(j, "scratch blocks after a reset", s.blocks, 0);
        }
    }
    mm_stats s = mm_stats_total(scratch);
    if (s.allocs != scratch_allocs) ctx_job_fail(j, "scratch allocs at the end", s.allocs, scratch_allocs);
    if (s.frees != scratch_frees) ctx_job_fail(j, "scratch frees at the end", s.frees, scratch_frees);
    if (s.bytes != scratch_bytes) ctx_job_fail(j, "scratch bytes at the end", s.bytes, scratch_bytes);
    mm_context_destroy(scratch);
    return NULL;
}

Test(context, two_threads_with_their_own_contexts_leave_exact_process_totals, .timeout = 300)
{
    mm_stats base = mm_stats_total(NULL);
    mm_stats base_halos = mm_stats_category(NULL, MM_CAT_HALOS);
    mm_stats base_trees = mm_stats_category(NULL, MM_CAT_TREES);
    mm_stats base_util = mm_stats_category(NULL, MM_CAT_UTILITY);
    size_t n = mmt_scaled(100000, 2000);
    ctx_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    jobs[0].seed = 1;
    jobs[0].cat = MM_CAT_HALOS;
    jobs[1].seed = 2;
    jobs[1].cat = MM_CAT_TREES;
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        jobs[i].nallocs = n;
        cr_assert_eq(pthread_create(&th[i], NULL, ctx_thread_main, &jobs[i]), 0,
                     "starting thread %d should succeed", i);
    }
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_join(th[i], NULL), 0, "joining thread %d should succeed", i);
    }
    for (int i = 0; i < 2; i++) {
        cr_expect_eq(jobs[i].failures, 0, "thread %d should see exact figures in its contexts; "
                     "%d checks failed, the first: %s", i, jobs[i].failures, jobs[i].first_failure);
        cr_assert_not_null(jobs[i].kept, "thread %d should hand over its kept context", i);
        mmt_expect_stats_of(jobs[i].kept, mm_stats_total(jobs[i].kept),
                            mmt_stats(jobs[i].kept_bytes, jobs[i].kept_bytes, jobs[i].kept_blocks,
                                   jobs[i].kept_blocks, 0),
                            "thread %d's kept context, read after the join", i);
    }

    size_t kept_bytes = jobs[0].kept_bytes + jobs[1].kept_bytes;
    size_t kept_blocks = jobs[0].kept_blocks + jobs[1].kept_blocks;
    mm_stats p = mm_stats_total(NULL);
    mmt_expect_figure(NULL, p.bytes, base.bytes + kept_bytes,
                      "process bytes after the join (before + the kept blocks)");
    mmt_expect_figure(NULL, p.blocks, base.blocks + kept_blocks,
                      "process blocks after the join (before + the kept blocks)");
    mmt_expect_figure(NULL, p.allocs, base.allocs + 2 * n,
                      "process allocs after the join (before + 2 x %zu)", n);
    mmt_expect_figure(NULL, p.frees, base.frees + 2 * n - kept_blocks,
                      "process frees after the join (every block but the kept ones)");

    mm_stats u = mm_stats_category(NULL, MM_CAT_UTILITY);
    mmt_expect_figure(NULL, u.bytes, base_util.bytes + jobs[0].shared_bytes + jobs[1].shared_bytes,
                      "process Utility bytes (both threads used it) after the join");
    mmt_expect_figure(NULL, u.allocs,
                      base_util.allocs + jobs[0].shared_allocs + jobs[1].shared_allocs,
                      "process Utility allocs after the join");
    mmt_expect_figure(NULL, mm_stats_category(NULL, MM_CAT_HALOS).allocs,
                      base_halos.allocs + jobs[0].cat_allocs, "process Halos allocs after the join");
    mmt_expect_figure(NULL, mm_stats_category(NULL, MM_CAT_TREES).allocs,
                      base_trees.allocs + jobs[1].cat_allocs, "process Trees allocs after the join");
    mmt_expect_figure(NULL, mm_stats_category(NULL, MM_CAT_HALOS).bytes,
                      base_halos.bytes + jobs[0].kept_bytes - jobs[0].shared_bytes,
                      "process Halos bytes after the join");

    /* The main thread owns the kept contexts after the join. */
    mm_context_destroy(jobs[0].kept);
    mm_context_destroy(jobs[1].kept);
    p = mm_stats_total(NULL);
    mmt_expect_figure(NULL, p.bytes, base.bytes,
                      "process bytes after destroying the kept contexts");
    mmt_expect_figure(NULL, p.blocks, base.blocks,
                      "process blocks after destroying the kept contexts");
    mmt_expect_figure(NULL, p.frees, base.frees + 2 * n,
                      "process frees after destroying the kept contexts");
}

/* A reset takes the whole subtree's bytes off at once, category by category:
 * the context's own peak must stay the high-water mark of its own blocks
 * (the fuzzer once found it wrapped to 2^64 - 209,320 here). */
Test(context, a_reset_with_children_keeps_the_own_peak_of_the_own_blocks)
{
    mm_context *parent = mm_context_create("parent", NULL);
    mm_context *child = mm_context_create("child", parent);
    cr_assert(parent != NULL && child != NULL, "both contexts should be created");
    cr_assert_not_null(mm_context_malloc(parent, 100, MM_CAT_HALOS), "own block");
    cr_assert_not_null(mm_context_malloc(child, 5000, MM_CAT_TREES), "child's block");
    cr_assert_not_null(mm_context_malloc(child, 300, MM_CAT_GALAXIES), "child's block");
    mm_context_reset(parent); /* destroys child */
    mm_stats s = mm_stats_self(parent);
    cr_expect_eq(s.bytes, 0, "nothing of its own is left, got %zu", s.bytes);
    cr_expect_eq(s.peak_bytes, 100, "its own blocks peaked at 100 bytes, got %zu", s.peak_bytes);
    mm_context_destroy(parent);
}

/* A category registered after a context was made, first used by a child
 * made later: the parent's figures count it too, and the parent's reset
 * and destroy take it off (the owner-side loops stop at the largest id any
 * context of the tree counts). */
static void ctx_expect_late_category_released(int destroy)
{
    mm_context *parent = mmt_context("forest", NULL);
    mm_category late = mm_category_register("Late module", "Physics Modules");
    cr_assert_neq(late, MM_CAT_INVALID, "registering a category after the context");
    mm_context *child = mmt_context("module", parent);
    cr_assert_not_null(mm_context_malloc(child, 1000, late), "a block of the late category");
    cr_assert_not_null(mm_context_malloc(child, 24, MM_CAT_HALOS), "a block of a first category");
    mmt_expect_stats_of(parent, mm_stats_category(parent, late), mmt_stats(1000, 1000, 1, 1, 0),
                        "the parent counts its child's block of the late category");
    if (destroy) {
        mm_context_destroy(parent);
    } else {
        mm_context_reset(parent); /* destroys the child and frees its blocks */
        mmt_expect_stats_of(parent, mm_stats_category(parent, late), mmt_stats(0, 1000, 0, 1, 1),
                            "the reset took the late category's block off the parent");
        mmt_expect_stats_of(parent, mm_stats_total(parent), mmt_stats(0, 1024, 0, 2, 2),
                            "the reset took every block off the parent");
        mm_context_destroy(parent);
    }
    mm_stats p = mm_stats_category(NULL, late);
    cr_expect_eq(p.bytes, 0, "no byte of the late category is left in the process, got %zu",
                 p.bytes);
    cr_expect_eq(p.blocks, 0, "no block of the late category is left in the process, got %zu",
                 p.blocks);
    cr_expect_eq(p.peak_bytes, 1000, "the process peak of the late category, got %zu",
                 p.peak_bytes);
}

Test(context, a_category_first_used_by_a_later_child_is_released_by_the_parents_reset)
{
    ctx_expect_late_category_released(0);
}

Test(context, a_category_first_used_by_a_later_child_is_released_by_the_parents_destroy)
{
    ctx_expect_late_category_released(1);
}
