/* Unit tests for src/stats.c: the exact process-wide figures (bytes, peak,
 * blocks, allocs, frees per category and in total) after every kind of
 * call, a randomized run of a million operations checked against a reference
 * model, a million live blocks at once, and the context views. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mimicmem.h"
#include "mm_test.h"

/* ------------------------------------------------------------------------
 * Single calls
 * ---------------------------------------------------------------------- */

Test(stats, a_fresh_process_has_zero_statistics)
{
    mmt_expect_total(0, 0, 0, 0, 0, "totals of a fresh process");
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        mmt_expect_category(c, 0, 0, 0, 0, 0, "a built-in category of a fresh process");
    }
}

Test(stats, malloc_adds_its_bytes_a_block_and_an_alloc)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    mmt_expect_category(MM_CAT_HALOS, 100, 100, 1, 1, 0, "Halos after one 100-byte malloc");
    mmt_expect_total(100, 100, 1, 1, 0, "totals after one 100-byte malloc");
    mmt_expect_category(MM_CAT_TREES, 0, 0, 0, 0, 0, "Trees untouched by a Halos malloc");
    mm_free(p);
}

Test(stats, free_removes_the_bytes_and_the_block_and_keeps_the_peak)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    void *q = mm_malloc(50, MM_CAT_HALOS);
    cr_assert(p && q, "the mallocs should succeed");
    mm_free(p);
    mmt_expect_category(MM_CAT_HALOS, 50, 150, 1, 2, 1, "Halos after freeing the 100-byte block");
    mmt_expect_total(50, 150, 1, 2, 1, "totals after freeing the 100-byte block");
    mm_free(q);
    mmt_expect_category(MM_CAT_HALOS, 0, 150, 0, 2, 2, "Halos after freeing both blocks");
    mmt_expect_total(0, 150, 0, 2, 2, "totals after freeing both blocks");
}

Test(stats, the_peak_of_a_category_is_its_high_water_mark)
{
    void *a = mm_malloc(1000, MM_CAT_TREES);
    void *b = mm_malloc(500, MM_CAT_TREES);
    mm_free(a);
    void *c = mm_malloc(800, MM_CAT_TREES);
    cr_assert(a && b && c, "the mallocs should succeed");
    mmt_expect_category(MM_CAT_TREES, 1300, 1500, 2, 3, 1,
                        "Trees: peak 1500 reached before the free, 1300 live now");
    void *d = mm_malloc(300, MM_CAT_TREES);
    cr_assert_not_null(d, "mm_malloc(300) should succeed");
    mmt_expect_category(MM_CAT_TREES, 1600, 1600, 3, 4, 1, "Trees: a new high of 1600");
    mm_free(b);
    mm_free(c);
    mm_free(d);
    mmt_expect_category(MM_CAT_TREES, 0, 1600, 0, 4, 4, "Trees: the peak outlives the blocks");
}

Test(stats, the_total_peak_is_the_peak_of_the_sum_not_the_sum_of_peaks)
{
    void *a = mm_malloc(1000, MM_CAT_HALOS);
    cr_assert_not_null(a, "mm_malloc(1000) should succeed");
    mm_free(a);
    void *b = mm_malloc(600, MM_CAT_GALAXIES);
    cr_assert_not_null(b, "mm_malloc(600) should succeed");
    mmt_expect_category(MM_CAT_HALOS, 0, 1000, 0, 1, 1, "Halos peaked at 1000");
    mmt_expect_category(MM_CAT_GALAXIES, 600, 600, 1, 1, 0, "Galaxies peaked at 600");
    mmt_expect_total(600, 1000, 1, 2, 1,
                     "the total peak is 1000 (never 1600: the blocks were not live together)");
    mm_free(b);
}

Test(stats, calloc_counts_one_alloc_of_n_times_size_bytes)
{
    void *p = mm_calloc(12, 10, MM_CAT_IO);
    cr_assert_not_null(p, "mm_calloc(12, 10) should succeed");
    mmt_expect_category(MM_CAT_IO, 120, 120, 1, 1, 0, "IO after mm_calloc(12, 10)");
    mm_free(p);
    mmt_expect_category(MM_CAT_IO, 0, 120, 0, 1, 1, "IO after freeing it");
}

Test(stats, strdup_counts_strlen_plus_one_bytes)
{
    char *s = mm_strdup("halo", MM_CAT_UTILITY);
    cr_assert_not_null(s, "mm_strdup should succeed");
    mmt_expect_category(MM_CAT_UTILITY, 5, 5, 1, 1, 0, "Utility after strdup(\"halo\")");
    mm_free(s);
}

Test(stats, zero_size_blocks_count_as_blocks_without_bytes)
{
    void *p = mm_malloc(0, MM_CAT_IO);
    cr_assert_not_null(p, "mm_malloc(0) should succeed");
    mmt_expect_category(MM_CAT_IO, 0, 0, 1, 1, 0, "IO with one zero-size block");
    mm_free(p);
    mmt_expect_category(MM_CAT_IO, 0, 0, 0, 1, 1, "IO after freeing the zero-size block");
}

Test(stats, realloc_changes_the_bytes_but_not_the_counts)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    p = mm_realloc(p, 400);
    cr_assert_not_null(p, "growing to 400 should succeed");
    mmt_expect_category(MM_CAT_HALOS, 400, 400, 1, 1, 0, "Halos after growing 100 -> 400");
    p = mm_realloc(p, 50);
    cr_assert_not_null(p, "shrinking to 50 should succeed");
    mmt_expect_category(MM_CAT_HALOS, 50, 400, 1, 1, 0, "Halos after shrinking 400 -> 50");
    mmt_expect_total(50, 400, 1, 1, 0, "totals after the resizes");
    mm_free(p);
    mmt_expect_category(MM_CAT_HALOS, 0, 400, 0, 1, 1, "Halos after the free");
}

Test(stats, realloc_growth_raises_the_peak_by_the_difference_only)
{
    void *other = mm_malloc(1000, MM_CAT_TREES);
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert(other && p, "the mallocs should succeed");
    p = mm_realloc(p, 150);
    cr_assert_not_null(p, "growing to 150 should succeed");
    mmt_expect_total(1150, 1150, 2, 2, 0,
                     "the peak should be the live 1150 bytes, not old + new sizes together");
    mmt_expect_category(MM_CAT_HALOS, 150, 150, 1, 1, 0, "Halos after growing 100 -> 150");
    mm_free(p);
    mm_free(other);
}

Test(stats, realloc_of_null_counts_an_alloc_in_unknown)
{
    void *p = mm_realloc(NULL, 64);
    cr_assert_not_null(p, "mm_realloc(NULL, 64) should allocate");
    mmt_expect_category(MM_CAT_UNKNOWN, 64, 64, 1, 1, 0, "Unknown after mm_realloc(NULL, 64)");
    mmt_expect_total(64, 64, 1, 1, 0, "totals after mm_realloc(NULL, 64)");
    mm_free(p);
}

Test(stats, realloc_to_zero_drops_the_bytes_and_keeps_the_block)
{
    void *p = mm_malloc(256, MM_CAT_IO);
    cr_assert_not_null(p, "mm_malloc(256) should succeed");
    p = mm_realloc(p, 0);
    cr_assert_not_null(p, "mm_realloc(p, 0) should keep a block");
    mmt_expect_category(MM_CAT_IO, 0, 256, 1, 1, 0, "IO after resizing to zero");
    mmt_expect_total(0, 256, 1, 1, 0, "totals after resizing to zero");
    mm_free(p);
    mmt_expect_total(0, 256, 0, 1, 1, "totals after freeing the zero-size block");
}

Test(stats, realloc_cat_moves_the_bytes_and_the_block_between_categories)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    p = mm_realloc_cat(p, 300, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "mm_realloc_cat to Galaxies should succeed");
    mmt_expect_category(MM_CAT_HALOS, 0, 100, 0, 1, 0,
                        "Halos after the move: no bytes or block, its alloc stays, no free");
    mmt_expect_category(MM_CAT_GALAXIES, 300, 300, 1, 0, 0,
                        "Galaxies after the move: the block and its new size, no alloc");
    mmt_expect_total(300, 300, 1, 1, 0, "totals after the move: one alloc, no free");
}

Test(stats, a_moved_block_is_freed_in_its_new_category)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    p = mm_realloc_cat(p, 60, MM_CAT_TREES);
    cr_assert_not_null(p, "mm_realloc_cat to Trees should succeed");
    mm_free(p);
    mmt_expect_category(MM_CAT_HALOS, 0, 100, 0, 1, 0, "Halos keeps the alloc, not the free");
    mmt_expect_category(MM_CAT_TREES, 0, 60, 0, 0, 1, "Trees counts the free, not the alloc");
    mmt_expect_total(0, 100, 0, 1, 1, "totals: one alloc, one free");
}

Test(stats, totals_are_the_sum_over_categories)
{
    mm_category cool = mm_category_register("Cooling", "Physics Modules");
    void *a = mm_malloc(10, MM_CAT_HALOS);
    void *b = mm_calloc(2, 20, MM_CAT_TREES);
    void *c = mm_strdup("abc", cool);
    void *d = mm_malloc(7, cool);
    cr_assert(a && b && c && d, "the allocations should succeed");
    mm_free(a);
    d = mm_realloc_cat(d, 70, MM_CAT_IO);
    cr_assert_not_null(d, "mm_realloc_cat should succeed");
    mm_stats sum = mmt_stats(0, 0, 0, 0, 0);
    for (int i = 0; i < mm_category_count(); i++) {
        mm_stats s = mm_stats_category(NULL, i);
        sum.bytes += s.bytes;
        sum.blocks += s.blocks;
        sum.allocs += s.allocs;
        sum.frees += s.frees;
    }
    mm_stats t = mm_stats_total(NULL);
    cr_expect_eq(t.bytes, sum.bytes, "total bytes %zu should be the sum %zu", t.bytes, sum.bytes);
    cr_expect_eq(t.blocks, sum.blocks, "total blocks %zu should be the sum %zu", t.blocks,
                 sum.blocks);
    cr_expect_eq(t.allocs, sum.allocs, "total allocs should be the sum over categories");
    cr_expect_eq(t.frees, sum.frees, "total frees should be the sum over categories");
    mmt_expect_total(114, 114, 3, 4, 1, "totals after the mix");
    mm_free(b);
    mm_free(c);
    mm_free(d);
}

Test(stats, failed_calls_leave_the_statistics_untouched)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    static _Alignas(max_align_t) unsigned char foreign[128];
    void *live = mm_malloc(40, MM_CAT_HALOS);
    cr_assert_not_null(live, "mm_malloc(40) should succeed");
    mm_stats total = mm_stats_total(NULL);
    mm_stats halos = mm_stats_category(NULL, MM_CAT_HALOS);
    cr_expect_null(mm_malloc(SIZE_MAX, MM_CAT_HALOS), "a size overflow should return NULL");
    cr_expect_null(mm_malloc((size_t)1 << 47, MM_CAT_HALOS), "out of memory should return NULL");
    cr_expect_null(mm_malloc(8, 5000), "a bad category should return NULL");
    cr_expect_null(mm_calloc(SIZE_MAX, 2, MM_CAT_HALOS), "an n*size overflow should return NULL");
    cr_expect_null(mm_strdup(NULL, MM_CAT_HALOS), "strdup(NULL) should return NULL");
    cr_expect_null(mm_realloc(live, (size_t)1 << 47), "a refused resize should return NULL");
    cr_expect_null(mm_realloc_cat(live, 8, -4), "a move to category -4 should return NULL");
    mm_free(foreign + 64);
    cr_expect_eq(rec.count, 8, "each of the 8 failing calls should report one error, got %d",
                 rec.count);
    mmt_expect_stats(mm_stats_total(NULL), total, "totals after 8 failed calls");
    mmt_expect_stats(mm_stats_category(NULL, MM_CAT_HALOS), halos, "Halos after 8 failed calls");
    mm_free(live);
}

/* ------------------------------------------------------------------------
 * Context views
 * ---------------------------------------------------------------------- */

Test(stats, process_statistics_include_context_blocks)
{
    mm_context *ctx = mmt_context("forest", NULL);
    void *a = mm_context_malloc(ctx, 100, MM_CAT_HALOS);
    void *b = mm_malloc(50, MM_CAT_HALOS);
    cr_assert(a && b, "the allocations should succeed");
    mmt_expect_category(MM_CAT_HALOS, 150, 150, 2, 2, 0,
                        "process Halos counts the context block and the process block");
    mmt_expect_stats(mm_stats_category(ctx, MM_CAT_HALOS), mmt_stats(100, 100, 1, 1, 0),
                     "the context's Halos counts its own block only");
    mm_context_reset(ctx);
    mmt_expect_category(MM_CAT_HALOS, 50, 150, 1, 2, 1,
                        "a reset frees the context block in the process figures too");
    mm_free(b);
    mm_context_destroy(ctx);
    mmt_expect_total(0, 150, 0, 2, 2, "totals after everything is freed");
}

/* A context counts its blocks' calls (allocs, frees, moves between
 * categories) itself; the process figures add every context's, live or
 * destroyed, nested ones through their top context, each exactly once. */
Test(stats, process_counts_add_every_contexts_calls_live_reset_and_destroyed)
{
    mm_context *top = mmt_context("forest", NULL);
    mm_context *kid = mmt_context("module", top);
    void *a[3], *k[2];
    for (int i = 0; i < 3; i++) cr_assert_not_null(a[i] = mm_context_malloc(top, 100, MM_CAT_HALOS));
    for (int i = 0; i < 2; i++) cr_assert_not_null(k[i] = mm_context_malloc(kid, 50, MM_CAT_HALOS));
    cr_assert_not_null(mm_malloc(10, MM_CAT_HALOS), "a process block beside them");
    mmt_expect_category(MM_CAT_HALOS, 410, 410, 6, 6, 0, "five context blocks, one process block");
    mm_free(a[0]);
    mmt_expect_category(MM_CAT_HALOS, 310, 410, 5, 6, 1, "a context block freed");
    cr_assert_not_null(k[0] = mm_realloc_cat(k[0], 60, MM_CAT_TREES), "moved to Trees");
    mmt_expect_category(MM_CAT_HALOS, 260, 410, 4, 6, 1, "the moved block left Halos");
    mmt_expect_category(MM_CAT_TREES, 60, 60, 1, 0, 0, "the moved block is a Trees block");
    mm_context_destroy(kid); /* its calls stay in the top context's figures */
    mmt_expect_category(MM_CAT_HALOS, 210, 410, 3, 6, 2, "the child's Halos block went");
    mmt_expect_category(MM_CAT_TREES, 0, 60, 0, 0, 1, "the child's Trees block went");
    mm_context_reset(top);
    mmt_expect_category(MM_CAT_HALOS, 10, 410, 1, 6, 4, "the reset freed the top's blocks");
    mm_stats before = mm_stats_total(NULL);
    mm_context_destroy(top); /* nothing live: the destroy moves no count */
    mmt_expect_stats(mm_stats_total(NULL), before, "a destroy moves the calls, counted once");
    mmt_expect_category(MM_CAT_TREES, 0, 60, 0, 0, 1, "Trees after the destroy");
}

static void *stats_forest_thread(void *arg)
{
    mm_context *ctx = mm_context_create("handed over", NULL);
    for (int i = 0; ctx != NULL && i < 3; i++)
        if (mm_context_malloc(ctx, 200, MM_CAT_GALAXIES) == NULL) return NULL;
    *(mm_context **)arg = ctx;
    return NULL;
}

Test(stats, a_context_outliving_its_threads_exit_keeps_its_calls_in_the_process_counts)
{
    mm_context *ctx = NULL;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, stats_forest_thread, &ctx), 0, "a thread");
    cr_assert_eq(pthread_join(th, NULL), 0, "the thread ends (its record retires)");
    cr_assert_not_null(ctx, "the thread made its context and three blocks");
    mmt_expect_category(MM_CAT_GALAXIES, 600, 600, 3, 3, 0, "the handed-over context's blocks");
    mm_context_destroy(ctx);
    mmt_expect_category(MM_CAT_GALAXIES, 0, 600, 0, 3, 3, "destroyed by another thread");
}

Test(stats, stats_total_of_a_context_includes_its_children_and_stats_self_does_not)
{
    mm_context *parent = mm_context_create("run", NULL);
    cr_assert_not_null(parent, "creating the parent should succeed");
    mm_context *child = mmt_context("forest", parent);
    cr_assert_not_null(mm_context_malloc(parent, 100, MM_CAT_TREES), "parent malloc");
    cr_assert_not_null(mm_context_malloc(child, 30, MM_CAT_HALOS), "child malloc");
    cr_assert_not_null(mm_context_malloc(child, 20, MM_CAT_HALOS), "child malloc");
    mmt_expect_stats(mm_stats_total(parent), mmt_stats(150, 150, 3, 3, 0),
                     "the parent's total includes its child");
    mmt_expect_stats(mm_stats_self(parent), mmt_stats(100, 100, 1, 1, 0),
                     "the parent's self figures exclude its child");
    mmt_expect_stats(mm_stats_self(child), mmt_stats(50, 50, 2, 2, 0),
                     "the child's self figures are its own two blocks");
    mmt_expect_stats(mm_stats_category(parent, MM_CAT_HALOS), mmt_stats(50, 50, 2, 2, 0),
                     "the parent's Halos come from its child");
    mm_context_destroy(parent);
    mmt_expect_total(0, 150, 0, 3, 3, "destroying the parent frees the whole subtree");
}

Test(stats, epoch_stats_count_since_the_last_reset)
{
    mm_context *ctx = mmt_context("forest", NULL);
    cr_assert_not_null(mm_context_malloc(ctx, 500, MM_CAT_HALOS), "first epoch malloc");
    mm_context_reset(ctx);
    void *p = mm_context_malloc(ctx, 70, MM_CAT_HALOS);
    cr_assert_not_null(p, "second epoch malloc");
    mmt_expect_stats(mm_context_epoch_stats(ctx), mmt_stats(70, 70, 1, 1, 0),
                     "the epoch figures start again after a reset");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(70, 500, 1, 2, 1),
                     "the lifetime figures keep the first epoch's peak and counts");
    mm_context_destroy(ctx);
}

/* ------------------------------------------------------------------------
 * A million live blocks
 * ---------------------------------------------------------------------- */

Test(stats, a_million_live_blocks_are_counted_exactly)
{
    size_t n = mmt_scaled(1000000, 1000);
    void **blocks = malloc(n * sizeof *blocks);
    cr_assert_not_null(blocks, "the system malloc should hold %zu pointers", n);
    size_t bytes[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        size_t size = i % 17;
        blocks[i] = mm_malloc(size, (i & 1) ? MM_CAT_TREES : MM_CAT_HALOS);
        if (blocks[i] == NULL) cr_assert_fail("mm_malloc number %zu of %zu failed", i, n);
        bytes[i & 1] += size;
    }
    size_t nh = (n + 1) / 2, nt = n / 2;
    mmt_expect_category(MM_CAT_HALOS, bytes[0], bytes[0], nh, nh, 0,
                        "Halos with every even-numbered block live");
    mmt_expect_category(MM_CAT_TREES, bytes[1], bytes[1], nt, nt, 0,
                        "Trees with every odd-numbered block live");
    mmt_expect_total(bytes[0] + bytes[1], bytes[0] + bytes[1], n, n, 0,
                     "totals with a million blocks live");
    for (size_t i = 0; i < n; i++) mm_free(blocks[i]);
    mmt_expect_category(MM_CAT_HALOS, 0, bytes[0], 0, nh, nh, "Halos after freeing every block");
    mmt_expect_category(MM_CAT_TREES, 0, bytes[1], 0, nt, nt, "Trees after freeing every block");
    mmt_expect_total(0, bytes[0] + bytes[1], 0, n, n, "totals after freeing every block");
    free(blocks);
}

/* ------------------------------------------------------------------------
 * Randomized operations against a reference model
 * ---------------------------------------------------------------------- */

enum { MODEL_CATS = 8, MODEL_SLOTS = 2048, MODEL_CHECK_EVERY = 1000, MODEL_MAX_SMALL = 4096 };

typedef struct {
    size_t bytes;    /* live bytes */
    size_t peak;     /* high-water mark of bytes */
    size_t blocks;   /* live blocks */
    uint64_t allocs; /* allocation calls counted here */
    uint64_t frees;  /* frees counted here */
} model_fig;

typedef struct {
    unsigned char *p; /* the block, or NULL for an empty slot */
    size_t size;      /* its requested size */
    int cat;          /* its category */
} model_slot;

typedef struct {
    model_fig cat[MODEL_CATS];      /* per category id */
    model_fig total;                /* all categories (peak of the sum) */
    model_slot slot[MODEL_SLOTS];   /* the live set */
    uint64_t rng;                   /* xorshift64* state */
    uint64_t seed;                  /* printed on failure */
    size_t op;                      /* operations done */
} model;

static uint64_t model_next(model *m)
{
    m->rng ^= m->rng >> 12;
    m->rng ^= m->rng << 25;
    m->rng ^= m->rng >> 27;
    return m->rng * 0x2545F4914F6CDD1Dull;
}

static size_t model_below(model *m, size_t n) { return (size_t)(model_next(m) % n); }

static void fig_add(model_fig *f, size_t bytes)
{
    f->bytes += bytes;
    if (f->bytes > f->peak) f->peak = f->bytes;
}

static void model_alloc(model *m, int cat, size_t size)
{
    fig_add(&m->cat[cat], size);
    m->cat[cat].blocks++;
    m->cat[cat].allocs++;
    fig_add(&m->total, size);
    m->total.blocks++;
    m->total.allocs++;
}

static void model_free(model *m, int cat, size_t size)
{
    m->cat[cat].bytes -= size;
    m->cat[cat].blocks--;
    m->cat[cat].frees++;
    m->total.bytes -= size;
    m->total.blocks--;
    m->total.frees++;
}

static void model_resize(model *m, int old_cat, size_t old_size, int new_cat, size_t new_size)
{
    if (old_cat == new_cat) {
        m->cat[old_cat].bytes -= old_size;
        fig_add(&m->cat[old_cat], new_size);
    } else {
        m->cat[old_cat].bytes -= old_size;
        m->cat[old_cat].blocks--;
        fig_add(&m->cat[new_cat], new_size);
        m->cat[new_cat].blocks++;
    }
    m->total.bytes -= old_size;
    fig_add(&m->total, new_size);
}

static mm_stats fig_stats(const model_fig *f)
{
    return mmt_stats(f->bytes, f->peak, f->blocks, f->allocs, f->frees);
}

/* Compares the library with the model; on a difference fails the test with
 * the seed and the operation number, after printing the report. */
static void model_check(const model *m, const char *when)
{
    char why[512];
    for (int c = 0; c < MODEL_CATS; c++) {
        if (mmt_stats_differ(mm_stats_category(NULL, c), fig_stats(&m->cat[c]), why, sizeof why)) {
            mmt_dump_report();
            cr_assert_fail("category %d (%s) should match the model %s (op %zu, seed %llu, "
                           "rerun with MM_TEST_SEED=%llu): %s",
                           c, mm_category_name(c), when, m->op, (unsigned long long)m->seed,
                           (unsigned long long)m->seed, why);
        }
    }
    if (mmt_stats_differ(mm_stats_total(NULL), fig_stats(&m->total), why, sizeof why)) {
        mmt_dump_report();
        cr_assert_fail("the totals should match the model %s (op %zu, seed %llu, rerun with "
                       "MM_TEST_SEED=%llu): %s",
                       when, m->op, (unsigned long long)m->seed, (unsigned long long)m->seed, why);
    }
}

static size_t model_size(model *m)
{
    if (model_below(m, 256) == 0) return 65536;
    return model_below(m, MODEL_MAX_SMALL + 1);
}

static void model_fail(const model *m, const char *what)
{
    mmt_dump_report();
    cr_assert_fail("%s (op %zu, seed %llu, rerun with MM_TEST_SEED=%llu)", what, m->op,
                   (unsigned long long)m->seed, (unsigned long long)m->seed);
}

/* Marks a block so a lost or mixed-up copy shows: first and last byte. */
static void model_tag(model_slot *s, unsigned char tag)
{
    if (s->size > 0) {
        s->p[0] = tag;
        s->p[s->size - 1] = tag;
    }
}

static void model_step(model *m, int cats[MODEL_CATS], const char *text)
{
    size_t i = model_below(m, MODEL_SLOTS);
    model_slot *s = &m->slot[i];
    unsigned char tag = (unsigned char)(i * 7 + 1);
    int cat = cats[model_below(m, MODEL_CATS)];
    if (s->p == NULL) {
        size_t size = model_size(m);
        unsigned kind = (unsigned)model_below(m, 100);
        if (kind < 40) {
            s->p = mm_malloc(size, cat);
        } else if (kind < 60) {
            size_t n = size == 0 ? 0 : (size_t)1 + model_below(m, 8);
            size_t each = n == 0 ? model_below(m, 64) : size / n;
            size = n * each;
            s->p = mm_calloc(n, each, cat);
            if (s->p != NULL) {
                for (size_t k = 0; k < size; k++) {
                    if (s->p[k] != 0) model_fail(m, "mm_calloc memory should be zero");
                }
            }
        } else if (kind < 75) {
            size = size > MODEL_MAX_SMALL ? MODEL_MAX_SMALL : size;
            size_t len = size == 0 ? 0 : size - 1;
            char *d = mm_strdup(text + (MODEL_MAX_SMALL - len), cat);
            size = len + 1;
            s->p = (unsigned char *)d;
            if (d != NULL && memcmp(d, text + (MODEL_MAX_SMALL - len), len + 1) != 0) {
                model_fail(m, "mm_strdup should copy the string and its NUL");
            }
        } else if (kind < 85) {
            cat = MM_CAT_UNKNOWN;
            s->p = mm_realloc(NULL, size);
        } else {
            s->p = mm_realloc_cat(NULL, size, cat);
        }
        if (s->p == NULL) model_fail(m, "an allocation should succeed");
        s->size = size;
        s->cat = cat;
        model_alloc(m, cat, size);
        model_tag(s, tag);
        return;
    }
    unsigned kind = (unsigned)model_below(m, 100);
    if (s->size > 0 && (s->p[0] != tag || s->p[s->size - 1] != tag)) {
        model_fail(m, "a live block should keep the bytes written to it");
    }
    if (kind < 45) {
        mm_free(s->p);
        model_free(m, s->cat, s->size);
        s->p = NULL;
        return;
    }
    size_t size = model_size(m);
    unsigned char *q;
    int new_cat = s->cat;
    if (kind < 75) {
        q = mm_realloc(s->p, size);
    } else {
        new_cat = cat;
        q = mm_realloc_cat(s->p, size, new_cat);
    }
    if (q == NULL) model_fail(m, "a resize should succeed");
    size_t kept = size < s->size ? size : s->size;
    if (kept > 0 && q[0] != tag) model_fail(m, "a resize should keep the first byte");
    if (kept > 0 && size >= s->size && q[kept - 1] != tag) {
        model_fail(m, "a resize should keep the last byte of the old block");
    }
    model_resize(m, s->cat, s->size, new_cat, size);
    s->p = q;
    s->size = size;
    s->cat = new_cat;
    model_tag(s, tag);
    if (model_below(m, 64) == 0) {
        if (mm_block_size(q) != size) model_fail(m, "mm_block_size should give the new size");
        if (mm_block_category(q) != new_cat) {
            model_fail(m, "mm_block_category should give the block's category");
        }
    }
}

Test(stats, random_operations_match_a_reference_model)
{
    static model m;
    static char text[MODEL_MAX_SMALL + 1];
    memset(&m, 0, sizeof m);
    const char *env = getenv("MM_TEST_SEED");
    m.seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761u;
    if (m.seed == 0) m.seed = 1;
    m.rng = m.seed;
    for (size_t k = 0; k < MODEL_MAX_SMALL; k++) text[k] = (char)('a' + k % 26);
    text[MODEL_MAX_SMALL] = '\0';

    int cats[MODEL_CATS];
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) cats[c] = c;
    cats[6] = mm_category_register("Cooling", "Physics Modules");
    cats[7] = mm_category_register("Mergers", "Physics Modules");
    cr_assert(cats[6] == 6 && cats[7] == 7, "the two registered categories should get ids 6, 7");

    size_t ops = mmt_scaled(1000000, 10000);
    for (m.op = 0; m.op < ops; m.op++) {
        model_step(&m, cats, text);
        if ((m.op + 1) % MODEL_CHECK_EVERY == 0) model_check(&m, "during the run");
    }
    model_check(&m, "at the end of the run");
    for (size_t i = 0; i < MODEL_SLOTS; i++) {
        if (m.slot[i].p != NULL) {
            mm_free(m.slot[i].p);
            model_free(&m, m.slot[i].cat, m.slot[i].size);
            m.slot[i].p = NULL;
        }
    }
    model_check(&m, "after freeing the live set");
    cr_expect_eq(m.total.bytes, 0, "the model should end with no live bytes");
    cr_expect_eq(mm_stats_total(NULL).blocks, 0, "no block should be left live");
}
