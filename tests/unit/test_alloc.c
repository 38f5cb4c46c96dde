/* Unit tests for src/alloc.c: mm_malloc, mm_calloc, mm_realloc,
 * mm_realloc_cat, mm_free, mm_strdup, mm_validate and the mm_block_*
 * queries, with each edge case (size 0, SIZE_MAX, n*size overflow, NULL,
 * bad categories, foreign and damaged pointers) in a test of its own.
 * Errors are recorded in-process here; test_errors.c covers the messages and
 * the default handler. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mm_test.h"

_Static_assert(sizeof(size_t) >= 8, "these tests need a 64-bit size_t");

/* Refused by every system allocator on a 47-bit address space, yet below
 * the 2^48-byte header limit: out of memory, not a size overflow. */
#define OOM_BYTES ((size_t)1 << 47)
/* The first size a header cannot describe. */
#define HEADER_LIMIT ((size_t)1 << 48)

#define ALIGN_OF_ANY _Alignof(max_align_t)

/* Memory mimicmem never handed out: pointers at offset 64 have 64 readable
 * bytes in front of them, so reading the would-be header is defined. */
static _Alignas(max_align_t) unsigned char foreign_static[256];

static int is_aligned(const void *p) { return ((uintptr_t)p % ALIGN_OF_ANY) == 0; }

/* Expects the process totals to equal before: a failed call changes nothing. */
#define expect_stats_untouched(before, what) \
    mmt_expect_stats(mm_stats_total(NULL), (before), (what))

/* A 64-byte Halos block holding mmt_fill's pattern for seed. */
static char *alloc_filled_block(unsigned seed)
{
    char *p = mm_malloc(64, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(64) should succeed");
    mmt_fill(p, 64, seed);
    return p;
}

/* Expects a call that failed (after says which) to have left the block of
 * alloc_filled_block(seed) valid with its contents, and the process totals
 * at before. */
static void expect_block_kept(const char *p, unsigned seed, mm_stats before, const char *after)
{
    char what[128];
    cr_expect(mm_validate(p), "the block should stay valid after %s", after);
    size_t at = mmt_first_mismatch(p, 64, seed);
    cr_expect_eq(at, 64, "the contents should be unchanged after %s, byte %zu differs", after, at);
    snprintf(what, sizeof what, "statistics after %s", after);
    expect_stats_untouched(before, what);
}

/* ------------------------------------------------------------------------
 * mm_malloc
 * ---------------------------------------------------------------------- */

Test(alloc, malloc_returns_a_writable_block_of_the_requested_size_and_category)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    mmt_fill(p, 100, 7);
    cr_expect_eq(mmt_first_mismatch(p, 100, 7), 100, "all 100 bytes should keep what was written");
    cr_expect_eq(mm_block_size(p), 100, "mm_block_size should report the 100 bytes requested");
    cr_expect_eq(mm_block_category(p), MM_CAT_HALOS, "the block should be in Halos");
    cr_expect_null(mm_block_context(p), "a process-wide block should have no context");
    cr_expect(mm_validate(p), "a live block should validate");
    mm_free(p);
}

Test(alloc, malloc_aligns_every_block_for_any_type)
{
    static void *blocks[300];
    static const size_t big[] = {4095, 4096, 4097, 65536, 65537, 1 << 20};
    for (size_t i = 0; i < 300; i++) {
        blocks[i] = mm_malloc(i, MM_CAT_UTILITY);
        cr_assert_not_null(blocks[i], "mm_malloc(%zu) should succeed", i);
        cr_expect(is_aligned(blocks[i]), "mm_malloc(%zu) = %p should be aligned to %zu", i,
                  blocks[i], (size_t)ALIGN_OF_ANY);
    }
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        void *p = mm_malloc(big[i], MM_CAT_UTILITY);
        cr_assert_not_null(p, "mm_malloc(%zu) should succeed", big[i]);
        cr_expect(is_aligned(p), "mm_malloc(%zu) = %p should be aligned to %zu", big[i], p,
                  (size_t)ALIGN_OF_ANY);
        mm_free(p);
    }
    for (size_t i = 0; i < 300; i++) mm_free(blocks[i]);
}

Test(alloc, blocks_do_not_overlap)
{
    enum { N = 200 };
    static void *blocks[N];
    for (unsigned i = 0; i < N; i++) {
        size_t n = (i * 37u) % 300u;
        blocks[i] = mm_malloc(n, MM_CAT_GALAXIES);
        cr_assert_not_null(blocks[i], "mm_malloc(%zu) should succeed", n);
        mmt_fill(blocks[i], n, i);
    }
    for (unsigned i = 0; i < N; i++) {
        size_t n = (i * 37u) % 300u;
        cr_expect_eq(mmt_first_mismatch(blocks[i], n, i), n,
                     "block %u should keep its %zu bytes after its neighbours were written", i, n);
        cr_expect(mm_validate(blocks[i]), "block %u should still validate", i);
        cr_expect_eq(mm_block_size(blocks[i]), n, "block %u should still report size %zu", i, n);
    }
    size_t sum = 0;
    for (unsigned i = 0; i < N; i++) sum += (i * 37u) % 300u;
    mmt_expect_total(sum, sum, N, N, 0, "totals with every block live");
    for (unsigned i = 0; i < N; i++) mm_free(blocks[i]);
    mmt_expect_total(0, sum, 0, N, N, "totals after freeing every block");
}

Test(alloc, malloc_of_size_zero_returns_a_unique_live_pointer)
{
    void *a = mm_malloc(0, MM_CAT_TREES);
    void *b = mm_malloc(0, MM_CAT_TREES);
    cr_assert_not_null(a, "mm_malloc(0) should return a pointer, not NULL");
    cr_assert_not_null(b, "a second mm_malloc(0) should return a pointer, not NULL");
    cr_expect_neq(a, b, "two zero-size blocks should have different addresses");
    cr_expect(is_aligned(a) && is_aligned(b), "zero-size blocks should be aligned");
    cr_expect(mm_validate(a), "a zero-size block should validate");
    cr_expect_eq(mm_block_size(a), 0, "a zero-size block should report size 0");
    mmt_expect_category(MM_CAT_TREES, 0, 0, 2, 2, 0, "Trees with two zero-size blocks");
    mm_free(a);
    mm_free(b);
    mmt_expect_category(MM_CAT_TREES, 0, 0, 0, 2, 2, "Trees after freeing both");
}

Test(alloc, malloc_of_size_max_is_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_malloc(SIZE_MAX, MM_CAT_HALOS), "mm_malloc(SIZE_MAX) should return NULL");
    cr_expect_eq(rec.size, SIZE_MAX, "the error should carry the size SIZE_MAX");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_malloc(SIZE_MAX)");
    cr_expect_null(mm_malloc(SIZE_MAX - 8, MM_CAT_HALOS),
                   "mm_malloc(SIZE_MAX - 8) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_malloc(SIZE_MAX - 8)");
    expect_stats_untouched(before, "statistics after a size overflow");
}

Test(alloc, malloc_of_the_first_size_past_the_header_limit_is_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(HEADER_LIMIT, MM_CAT_HALOS), "mm_malloc(2^48) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_malloc(2^48)");
}

Test(alloc, malloc_of_the_largest_header_size_is_out_of_memory)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(HEADER_LIMIT - 1, MM_CAT_HALOS),
                   "mm_malloc(2^48 - 1) should return NULL: the system cannot give 256 TB");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY,
                         "mm_malloc(2^48 - 1) fits the header, so the system refuses it");
}

Test(alloc, malloc_that_the_system_refuses_is_out_of_memory)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_malloc(OOM_BYTES, MM_CAT_HALOS), "mm_malloc(2^47) should return NULL");
    cr_expect_eq(rec.size, OOM_BYTES, "the error should carry the %zu bytes requested", OOM_BYTES);
    cr_expect_eq(rec.category, MM_CAT_HALOS, "the error should carry the category Halos");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "mm_malloc(2^47)");
    expect_stats_untouched(before, "statistics after an out-of-memory failure");
    mmt_expect_category(MM_CAT_HALOS, 0, 0, 0, 0, 0, "Halos after a failed allocation");
}

Test(alloc, malloc_in_an_unknown_category_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats before = mm_stats_total(NULL);
    int id = mm_category_count();
    cr_expect_null(mm_malloc(16, id), "mm_malloc in category %d (== count) should return NULL", id);
    cr_expect_eq(rec.category, id, "the error should carry the bad id %d", id);
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in the id equal to count");
    cr_expect_null(mm_malloc(16, MM_CATEGORY_MAX), "mm_malloc in MM_CATEGORY_MAX should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in MM_CATEGORY_MAX");
    cr_expect_null(mm_malloc(16, 1 << 20), "mm_malloc in category 2^20 should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in category 2^20");
    expect_stats_untouched(before, "statistics after bad-category failures");
}

Test(alloc, malloc_in_a_negative_category_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_malloc(16, MM_CAT_INVALID), "mm_malloc in MM_CAT_INVALID should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in MM_CAT_INVALID");
    cr_expect_null(mm_malloc(16, -7), "mm_malloc in category -7 should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in category -7");
    cr_expect_null(mm_malloc(16, -65536), "mm_malloc in category -65536 should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_malloc in category -65536");
    expect_stats_untouched(before, "statistics after negative-category failures");
}

/* ------------------------------------------------------------------------
 * mm_calloc
 * ---------------------------------------------------------------------- */

Test(alloc, calloc_returns_zeroed_memory)
{
    /* Dirty blocks of the same size first, so a recycled block would show
     * stale bytes: the classic way a caching allocator breaks calloc. */
    static const size_t sizes[] = {16, 64, 100, 1000, 1024, 4096, 5000, 40000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        void *dirty[8];
        for (int i = 0; i < 8; i++) {
            dirty[i] = mm_malloc(n, MM_CAT_IO);
            cr_assert_not_null(dirty[i], "mm_malloc(%zu) should succeed", n);
            memset(dirty[i], 0xAB, n);
        }
        for (int i = 0; i < 8; i++) mm_free(dirty[i]);
        for (int i = 0; i < 8; i++) {
            unsigned char *c = (i & 1) ? mm_calloc(n, 1, MM_CAT_IO) : mm_calloc(1, n, MM_CAT_IO);
            cr_assert_not_null(c, "mm_calloc of %zu bytes should succeed", n);
            size_t nonzero = 0;
            for (size_t k = 0; k < n; k++) nonzero += c[k] != 0;
            cr_expect_eq(nonzero, 0, "all %zu bytes from mm_calloc should be zero, %zu were not",
                         n, nonzero);
            cr_expect_eq(mm_block_size(c), n, "the block should hold n*size = %zu bytes", n);
            cr_expect_eq(mm_block_category(c), MM_CAT_IO, "the block should be in IO");
            cr_expect(is_aligned(c), "a calloc block should be aligned");
            dirty[i] = c;
        }
        for (int i = 0; i < 8; i++) mm_free(dirty[i]);
    }
}

Test(alloc, calloc_counts_n_times_size_bytes)
{
    void *p = mm_calloc(7, 13, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "mm_calloc(7, 13) should succeed");
    mmt_expect_category(MM_CAT_GALAXIES, 91, 91, 1, 1, 0, "Galaxies after mm_calloc(7, 13)");
    mm_free(p);
}

Test(alloc, calloc_with_an_overflowing_product_is_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_calloc(SIZE_MAX / 2 + 1, 2, MM_CAT_HALOS),
                   "mm_calloc whose product wraps to 0 should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "n*size wrapping to exactly 0");
    cr_expect_null(mm_calloc((size_t)1 << 33, (size_t)1 << 33, MM_CAT_HALOS),
                   "mm_calloc(2^33, 2^33) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "n*size = 2^66");
    cr_expect_null(mm_calloc(3, SIZE_MAX / 3 + 1, MM_CAT_HALOS),
                   "mm_calloc(3, SIZE_MAX/3 + 1) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "n*size just past SIZE_MAX");
    expect_stats_untouched(before, "statistics after calloc overflows");
}

Test(alloc, calloc_whose_product_passes_the_header_limit_is_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc((size_t)1 << 24, (size_t)1 << 24, MM_CAT_HALOS),
                   "mm_calloc(2^24, 2^24) = 2^48 bytes should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "n*size = 2^48, past the header limit");
}

Test(alloc, calloc_of_size_max_by_one_is_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc(1, SIZE_MAX, MM_CAT_HALOS), "mm_calloc(1, SIZE_MAX) should fail");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_calloc(1, SIZE_MAX)");
    cr_expect_null(mm_calloc(SIZE_MAX, 1, MM_CAT_HALOS), "mm_calloc(SIZE_MAX, 1) should fail");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_calloc(SIZE_MAX, 1)");
}

Test(alloc, calloc_of_zero_elements_returns_a_live_zero_size_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *a = mm_calloc(0, 16, MM_CAT_TREES);
    void *b = mm_calloc(16, 0, MM_CAT_TREES);
    void *c = mm_calloc(0, SIZE_MAX, MM_CAT_TREES);
    mmt_expect_no_error(&rec, "a zero product is not an overflow");
    cr_assert(a != NULL && b != NULL && c != NULL, "zero-size callocs should return pointers");
    cr_expect(a != b && b != c && a != c, "zero-size callocs should be distinct");
    cr_expect_eq(mm_block_size(a), 0, "mm_calloc(0, 16) should be a zero-size block");
    mmt_expect_category(MM_CAT_TREES, 0, 0, 3, 3, 0, "Trees with three zero-size callocs");
    mm_free(a);
    mm_free(b);
    mm_free(c);
}

Test(alloc, calloc_in_an_unknown_category_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc(2, 8, mm_category_count()),
                   "mm_calloc in an unknown category should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_calloc in an unknown category");
    cr_expect_null(mm_calloc(2, 8, -2), "mm_calloc in category -2 should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_calloc in category -2");
}

Test(alloc, calloc_that_the_system_refuses_is_out_of_memory)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc(OOM_BYTES / 8, 8, MM_CAT_TREES),
                   "mm_calloc of 2^47 bytes should return NULL");
    cr_expect_eq(rec.size, OOM_BYTES, "the error should carry n*size = %zu bytes", OOM_BYTES);
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "mm_calloc of 2^47 bytes");
}

/* ------------------------------------------------------------------------
 * mm_realloc
 * ---------------------------------------------------------------------- */

Test(alloc, realloc_keeps_the_contents_when_growing)
{
    char *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    mmt_fill(p, 100, 3);
    char *q = mm_realloc(p, 100000);
    cr_assert_not_null(q, "growing to 100000 bytes should succeed");
    cr_expect_eq(mmt_first_mismatch(q, 100, 3), 100, "the first 100 bytes should survive growth");
    memset(q + 100, 0x11, 100000 - 100);
    cr_expect_eq(mm_block_size(q), 100000, "the block should now report 100000 bytes");
    cr_expect(is_aligned(q), "a resized block should be aligned");
    mm_free(q);
}

Test(alloc, realloc_keeps_the_contents_when_shrinking)
{
    char *p = mm_malloc(5000, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(5000) should succeed");
    mmt_fill(p, 5000, 9);
    char *q = mm_realloc(p, 10);
    cr_assert_not_null(q, "shrinking to 10 bytes should succeed");
    cr_expect_eq(mmt_first_mismatch(q, 10, 9), 10, "the first 10 bytes should survive shrinking");
    cr_expect_eq(mm_block_size(q), 10, "the block should now report 10 bytes");
    mm_free(q);
}

Test(alloc, realloc_keeps_the_category)
{
    void *p = mm_malloc(10, MM_CAT_TREES);
    cr_assert_not_null(p, "mm_malloc(10) should succeed");
    p = mm_realloc(p, 2000);
    cr_assert_not_null(p, "mm_realloc(p, 2000) should succeed");
    cr_expect_eq(mm_block_category(p), MM_CAT_TREES, "mm_realloc should keep the category Trees");
    mmt_expect_category(MM_CAT_TREES, 2000, 2000, 1, 1, 0, "Trees after growing 10 -> 2000");
    mm_free(p);
}

Test(alloc, realloc_of_null_allocates_in_unknown)
{
    void *p = mm_realloc(NULL, 48);
    cr_assert_not_null(p, "mm_realloc(NULL, 48) should allocate");
    cr_expect_eq(mm_block_category(p), MM_CAT_UNKNOWN, "mm_realloc(NULL) should use Unknown");
    cr_expect_eq(mm_block_size(p), 48, "mm_realloc(NULL, 48) should give 48 bytes");
    mmt_expect_category(MM_CAT_UNKNOWN, 48, 48, 1, 1, 0, "Unknown after mm_realloc(NULL, 48)");
    mm_free(p);
}

Test(alloc, realloc_of_null_to_zero_gives_a_live_zero_size_block)
{
    void *p = mm_realloc(NULL, 0);
    cr_assert_not_null(p, "mm_realloc(NULL, 0) should return a pointer");
    cr_expect(mm_validate(p), "the zero-size block should be live");
    mmt_expect_category(MM_CAT_UNKNOWN, 0, 0, 1, 1, 0, "Unknown after mm_realloc(NULL, 0)");
    mm_free(p);
}

Test(alloc, realloc_to_zero_keeps_a_live_zero_size_block)
{
    void *p = mm_malloc(300, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "mm_malloc(300) should succeed");
    void *q = mm_realloc(p, 0);
    cr_assert_not_null(q, "mm_realloc(p, 0) should return a live block, not free it");
    cr_expect(mm_validate(q), "the zero-size block should validate");
    cr_expect_eq(mm_block_size(q), 0, "the block should report size 0");
    cr_expect_eq(mm_block_category(q), MM_CAT_GALAXIES, "the block should stay in Galaxies");
    mmt_expect_category(MM_CAT_GALAXIES, 0, 300, 1, 1, 0, "Galaxies after resizing 300 -> 0");
    mm_free(q);
    mmt_expect_category(MM_CAT_GALAXIES, 0, 300, 0, 1, 1, "Galaxies after freeing it");
}

Test(alloc, realloc_of_size_max_is_a_size_overflow_and_keeps_the_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    char *p = alloc_filled_block(5);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_realloc(p, SIZE_MAX), "mm_realloc(p, SIZE_MAX) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_realloc(p, SIZE_MAX)");
    cr_expect_null(mm_realloc(p, HEADER_LIMIT), "mm_realloc(p, 2^48) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_SIZE_OVERFLOW, "mm_realloc(p, 2^48)");
    cr_expect_eq(mm_block_size(p), 64, "the block should keep its 64 bytes");
    expect_block_kept(p, 5, before, "a failed resize");
    mm_free(p);
}

Test(alloc, realloc_that_the_system_refuses_keeps_the_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    char *p = alloc_filled_block(6);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_realloc(p, OOM_BYTES), "mm_realloc(p, 2^47) should return NULL");
    cr_expect_eq(rec.size, OOM_BYTES, "the error should carry the %zu bytes requested", OOM_BYTES);
    cr_expect_eq(rec.category, MM_CAT_HALOS, "the error should carry the block's category");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "mm_realloc(p, 2^47)");
    cr_expect_eq(mm_block_size(p), 64, "the block should keep its 64 bytes");
    expect_block_kept(p, 6, before, "a refused resize");
    mm_free(p);
}

Test(alloc, realloc_of_a_foreign_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = foreign_static + 64;
    cr_expect_null(mm_realloc(p, 10), "mm_realloc of a foreign pointer should return NULL");
    cr_expect_eq(rec.ptr, p, "the error should carry the foreign pointer");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_realloc of a foreign pointer");
}

Test(alloc, realloc_of_a_context_block_keeps_its_context)
{
    mm_context *ctx = mmt_context("t", NULL);
    char *p = mm_context_malloc(ctx, 40, MM_CAT_TREES);
    cr_assert_not_null(p, "mm_context_malloc(40) should succeed");
    mmt_fill(p, 40, 1);
    char *q = mm_realloc(p, 50000);
    cr_assert_not_null(q, "growing a context block should succeed");
    cr_expect_eq(mm_block_context(q), ctx, "the resized block should stay in its context");
    cr_expect_eq(mm_block_category(q), MM_CAT_TREES, "the resized block should stay in Trees");
    cr_expect_eq(mmt_first_mismatch(q, 40, 1), 40, "the contents should survive the resize");
    mm_free(q);
    mm_context_destroy(ctx);
}

Test(alloc, realloc_of_a_freed_context_block_is_a_double_free)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 32, MM_CAT_HALOS);
    mmt_expect_no_error(&rec, "the first free");
    cr_expect_null(mm_realloc(p, 64), "mm_realloc of a freed block should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_DOUBLE_FREE, "mm_realloc of a freed context block");
    mm_context_destroy(ctx);
}

/* ------------------------------------------------------------------------
 * mm_realloc_cat
 * ---------------------------------------------------------------------- */

Test(alloc, realloc_cat_moves_the_block_to_the_new_category)
{
    char *p = mm_malloc(100, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    mmt_fill(p, 100, 2);
    char *q = mm_realloc_cat(p, 250, MM_CAT_TREES);
    cr_assert_not_null(q, "mm_realloc_cat to Trees should succeed");
    cr_expect_eq(mm_block_category(q), MM_CAT_TREES, "the block should now be in Trees");
    cr_expect_eq(mm_block_size(q), 250, "the block should now hold 250 bytes");
    cr_expect_eq(mmt_first_mismatch(q, 100, 2), 100, "the contents should survive the move");
    mmt_expect_category(MM_CAT_HALOS, 0, 100, 0, 1, 0, "Halos after its block moved out");
    mmt_expect_category(MM_CAT_TREES, 250, 250, 1, 0, 0, "Trees after the block moved in");
    mm_free(q);
    mmt_expect_category(MM_CAT_TREES, 0, 250, 0, 0, 1, "Trees after freeing the moved block");
}

Test(alloc, realloc_cat_to_the_same_category_is_a_plain_resize)
{
    void *p = mm_malloc(100, MM_CAT_IO);
    cr_assert_not_null(p, "mm_malloc(100) should succeed");
    void *q = mm_realloc_cat(p, 40, MM_CAT_IO);
    cr_assert_not_null(q, "mm_realloc_cat in the same category should succeed");
    mmt_expect_category(MM_CAT_IO, 40, 100, 1, 1, 0, "IO after resizing 100 -> 40 in place");
    mm_free(q);
}

Test(alloc, realloc_cat_of_null_allocates_in_the_category)
{
    void *p = mm_realloc_cat(NULL, 77, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "mm_realloc_cat(NULL, 77, Galaxies) should allocate");
    cr_expect_eq(mm_block_category(p), MM_CAT_GALAXIES, "the block should be in Galaxies");
    mmt_expect_category(MM_CAT_GALAXIES, 77, 77, 1, 1, 0, "Galaxies after realloc_cat(NULL)");
    mmt_expect_category(MM_CAT_UNKNOWN, 0, 0, 0, 0, 0, "Unknown untouched by realloc_cat(NULL)");
    mm_free(p);
}

Test(alloc, realloc_cat_to_an_unknown_category_keeps_the_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    char *p = alloc_filled_block(4);
    mm_stats before = mm_stats_total(NULL);
    cr_expect_null(mm_realloc_cat(p, 128, mm_category_count()),
                   "mm_realloc_cat to an unknown category should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_realloc_cat to an unknown category");
    cr_expect_null(mm_realloc_cat(p, 128, -3), "mm_realloc_cat to category -3 should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_realloc_cat to category -3");
    cr_expect_eq(mm_block_category(p), MM_CAT_HALOS, "the block should stay in Halos");
    expect_block_kept(p, 4, before, "a refused move");
    mm_free(p);
}

Test(alloc, realloc_cat_of_null_in_an_unknown_category_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_realloc_cat(NULL, 8, 999),
                   "mm_realloc_cat(NULL, 8, 999) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_realloc_cat(NULL) in category 999");
    mmt_expect_total(0, 0, 0, 0, 0, "no allocation after the refused call");
}

/* ------------------------------------------------------------------------
 * mm_free
 * ---------------------------------------------------------------------- */

Test(alloc, free_of_null_does_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = mm_malloc(10, MM_CAT_IO);
    cr_assert_not_null(p, "mm_malloc(10) should succeed");
    mm_free(NULL);
    mmt_expect_no_error(&rec, "mm_free(NULL)");
    mmt_expect_total(10, 10, 1, 1, 0, "totals after mm_free(NULL)");
    mm_free(p);
}

Test(alloc, free_of_a_foreign_static_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = foreign_static + 64;
    mm_free(p);
    cr_expect_eq(rec.ptr, p, "the error should carry the pointer %p", p);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of a pointer into a static buffer");
    mmt_expect_total(0, 0, 0, 0, 0, "a refused free should not count");
}

Test(alloc, free_of_a_pointer_into_a_heap_buffer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    unsigned char *buf = malloc(256);
    cr_assert_not_null(buf, "the system malloc should give 256 bytes");
    for (int i = 0; i < 256; i++) buf[i] = (unsigned char)(i * 7 + 1);
    mm_free(buf + 128);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of a pointer into a heap buffer");
    memset(buf, 0, 256);
    mm_free(buf + 64);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of a pointer into zeroed memory");
    free(buf);
}

Test(alloc, free_of_a_pointer_into_the_middle_of_a_block_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    char *p = mm_malloc(256, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(256) should succeed");
    memset(p, 0, 256);
    mm_free(p + 64);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of p + 64");
    cr_expect(mm_validate(p), "the real block should stay live");
    mmt_expect_category(MM_CAT_HALOS, 256, 256, 1, 1, 0, "Halos after the refused free");
    mm_free(p);
}

Test(alloc, free_of_a_misaligned_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    unsigned char *p = mm_malloc(64, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(64) should succeed");
    mm_free(p + 1);
    cr_expect_eq(rec.ptr, p + 1, "the error should carry the misaligned pointer");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of p + 1");
    mm_free(foreign_static + 33);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of a misaligned static pointer");
    mmt_expect_category(MM_CAT_HALOS, 64, 64, 1, 1, 0, "Halos after the refused frees");
    mm_free(p);
}

Test(alloc, free_of_a_header_copied_elsewhere_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    static _Alignas(max_align_t) unsigned char copy[128];
    unsigned char *p = mm_malloc(32, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(32) should succeed");
    memcpy(copy + 48, p - 16, 16 + 32);
    cr_expect(!mm_validate(copy + 64), "a copied header at another address should not validate");
    mm_free(copy + 64);
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_free of a copied header");
    mmt_expect_category(MM_CAT_HALOS, 32, 32, 1, 1, 0, "Halos after the refused free");
    mm_free(p);
}

/* Flips bits of each of the 16 header bytes in turn and runs check, then
 * restores the byte and expects the block to be whole again. */
typedef void (*damage_check)(unsigned char *p, int offset, unsigned mask, mmt_recorder *rec);

static void for_each_damaged_header_byte(damage_check check)
{
    static const unsigned masks[] = {0x01, 0x80, 0xFF};
    mmt_recorder rec;
    mmt_record_errors(&rec);
    unsigned char *p = mm_malloc(64, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(64) should succeed");
    mmt_fill(p, 64, 8);
    for (int offset = 1; offset <= 16; offset++) {
        for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
            p[-offset] ^= (unsigned char)masks[m];
            check(p, offset, masks[m], &rec);
            p[-offset] ^= (unsigned char)masks[m];
            cr_expect(mm_validate(p), "the restored header (byte p-%d) should validate", offset);
        }
    }
    mmt_expect_no_error(&rec, "the checks left nothing unconsumed");
    cr_expect_eq(mmt_first_mismatch(p, 64, 8), 64, "the payload should be untouched");
    mmt_expect_category(MM_CAT_HALOS, 64, 64, 1, 1, 0, "Halos after the refused calls");
    mm_free(p);
    mmt_expect_no_error(&rec, "freeing the restored block");
    mmt_expect_category(MM_CAT_HALOS, 0, 64, 0, 1, 1, "Halos after freeing the restored block");
}

static void check_free_damaged(unsigned char *p, int offset, unsigned mask, mmt_recorder *rec)
{
    mm_free(p);
    cr_expect_eq(rec->count, 1, "mm_free with byte p-%d xor 0x%02x should report one error",
                 offset, mask);
    cr_expect_eq(rec->kind, MM_ERR_BAD_POINTER,
                 "mm_free with byte p-%d xor 0x%02x should be a bad pointer, got %s", offset,
                 mask, mm_error_kind_name(rec->kind));
    cr_expect_eq(rec->ptr, p, "the error should carry the damaged block's pointer");
    mmt_recorder_clear(rec);
}

static void check_realloc_damaged(unsigned char *p, int offset, unsigned mask, mmt_recorder *rec)
{
    void *q = mm_realloc(p, 200);
    cr_expect_null(q, "mm_realloc with byte p-%d xor 0x%02x should return NULL", offset, mask);
    cr_expect_eq(rec->count, 1, "mm_realloc with byte p-%d xor 0x%02x should report one error",
                 offset, mask);
    cr_expect_eq(rec->kind, MM_ERR_BAD_POINTER,
                 "mm_realloc with byte p-%d xor 0x%02x should be a bad pointer, got %s", offset,
                 mask, mm_error_kind_name(rec->kind));
    mmt_recorder_clear(rec);
}

static void check_validate_damaged(unsigned char *p, int offset, unsigned mask, mmt_recorder *rec)
{
    cr_expect(!mm_validate(p), "mm_validate with byte p-%d xor 0x%02x should return 0", offset,
              mask);
    cr_expect_eq(rec->count, 0, "mm_validate should never call the error handler");
    mmt_recorder_clear(rec);
}

Test(alloc, free_of_a_block_with_any_damaged_header_byte_is_a_bad_pointer)
{
    for_each_damaged_header_byte(check_free_damaged);
}

Test(alloc, realloc_of_a_block_with_any_damaged_header_byte_is_a_bad_pointer)
{
    for_each_damaged_header_byte(check_realloc_damaged);
}

Test(alloc, validate_rejects_a_block_with_any_damaged_header_byte)
{
    for_each_damaged_header_byte(check_validate_damaged);
}

Test(alloc, double_free_of_a_context_block_is_a_double_free)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 32, MM_CAT_HALOS);
    mmt_expect_no_error(&rec, "the first free");
    mm_stats before = mm_stats_total(NULL);
    mm_free(p);
    cr_expect_eq(rec.ptr, p, "the error should carry the freed pointer");
    cr_expect_eq(rec.category, MM_CAT_HALOS, "the error should name the block's category");
    cr_expect_eq(rec.context, ctx, "the error should name the block's context");
    mmt_expect_one_error(&rec, MM_ERR_DOUBLE_FREE, "the second mm_free of a context block");
    expect_stats_untouched(before, "statistics after a double free");
    mm_context_destroy(ctx);
}

Test(alloc, double_free_of_a_process_block_is_reported)
{
    if (mmt_use_after_free_is_checked()) {
        cr_skip_test("a second free of a process block reads freed memory, which the "
                     "sanitizer or Valgrind would flag; the context test covers it");
    }
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = mm_malloc(32, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(32) should succeed");
    mm_free(p);
    mmt_expect_no_error(&rec, "the first free");
    mm_free(p);
    cr_expect_eq(rec.count, 1, "the second free should report exactly one error, got %d",
                 rec.count);
    cr_expect(rec.kind == MM_ERR_DOUBLE_FREE || rec.kind == MM_ERR_BAD_POINTER,
              "the second free should be a double free or a bad pointer, got %s",
              mm_error_kind_name(rec.kind));
    mmt_expect_total(0, 32, 0, 1, 1, "a refused second free should not count");
}

/* ------------------------------------------------------------------------
 * mm_strdup
 * ---------------------------------------------------------------------- */

Test(alloc, strdup_copies_the_string_into_a_new_block)
{
    const char *s = "Forest 17";
    char *d = mm_strdup(s, MM_CAT_IO);
    cr_assert_not_null(d, "mm_strdup should succeed");
    cr_expect_neq(d, s, "mm_strdup should return a new block");
    cr_expect_str_eq(d, s, "the copy should equal the original");
    cr_expect_eq(mm_block_size(d), strlen(s) + 1, "the block should hold strlen + 1 = %zu bytes",
                 strlen(s) + 1);
    cr_expect_eq(mm_block_category(d), MM_CAT_IO, "the copy should be in IO");
    mmt_expect_category(MM_CAT_IO, 10, 10, 1, 1, 0, "IO after one 10-byte strdup");
    mm_free(d);
}

Test(alloc, strdup_of_the_empty_string_gives_a_one_byte_block)
{
    char *d = mm_strdup("", MM_CAT_IO);
    cr_assert_not_null(d, "mm_strdup(\"\") should succeed");
    cr_expect_eq(d[0], '\0', "the copy should be the empty string");
    cr_expect_eq(mm_block_size(d), 1, "the block should hold the NUL only");
    mm_free(d);
}

Test(alloc, strdup_of_null_is_a_bad_argument)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_strdup(NULL, MM_CAT_IO), "mm_strdup(NULL) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_strdup(NULL)");
    mmt_expect_total(0, 0, 0, 0, 0, "a refused strdup should not count");
}

Test(alloc, strdup_in_an_unknown_category_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_strdup("x", mm_category_count()),
                   "mm_strdup in an unknown category should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_strdup in an unknown category");
    cr_expect_null(mm_strdup("x", -1), "mm_strdup in category -1 should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_strdup in category -1");
}

/* ------------------------------------------------------------------------
 * mm_validate and the block queries
 * ---------------------------------------------------------------------- */

Test(alloc, validate_accepts_live_blocks)
{
    void *a = mm_malloc(1, MM_CAT_HALOS);
    void *b = mm_malloc(0, MM_CAT_HALOS);
    void *c = mm_calloc(3, 1000, MM_CAT_HALOS);
    mm_context *ctx = mmt_context("t", NULL);
    void *d = mm_context_malloc(ctx, 24, MM_CAT_TREES);
    void *e = mm_context_malloc(ctx, 100000, MM_CAT_TREES);
    cr_assert(a && b && c && d && e, "the allocations should succeed");
    cr_expect(mm_validate(a), "a 1-byte block should validate");
    cr_expect(mm_validate(b), "a zero-size block should validate");
    cr_expect(mm_validate(c), "a calloc block should validate");
    cr_expect(mm_validate(d), "a small context block should validate");
    cr_expect(mm_validate(e), "a large context block should validate");
    mm_free(a);
    mm_free(b);
    mm_free(c);
    mm_context_destroy(ctx);
}

Test(alloc, validate_of_null_returns_zero)
{
    cr_expect_eq(mm_validate(NULL), 0, "mm_validate(NULL) should return 0");
}

Test(alloc, validate_rejects_foreign_pointers)
{
    static _Alignas(max_align_t) unsigned char noise[256];
    for (int i = 0; i < 256; i++) noise[i] = (unsigned char)(i * 13 + 5);
    cr_expect_eq(mm_validate(foreign_static + 64), 0, "a pointer into zeroed static memory "
                 "should not validate");
    cr_expect_eq(mm_validate(noise + 128), 0, "a pointer into patterned memory should not "
                 "validate");
}

Test(alloc, validate_rejects_a_misaligned_pointer)
{
    static _Alignas(max_align_t) unsigned char noise[256];
    for (int i = 0; i < 256; i++) noise[i] = (unsigned char)(i * 13 + 5);
    unsigned char *p = mm_malloc(64, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(64) should succeed");
    cr_expect_eq(mm_validate(noise + 17), 0, "a misaligned foreign pointer should not validate");
    cr_expect_eq(mm_validate(p + 1), 0, "a pointer one byte into a block should not validate");
    mm_free(p);
}

Test(alloc, validate_rejects_a_freed_context_block)
{
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mm_context_malloc(ctx, 32, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_context_malloc(32) should succeed");
    cr_expect(mm_validate(p), "the live context block should validate");
    mm_free(p);
    cr_expect_eq(mm_validate(p), 0, "a freed context block should not validate");
    mm_context_destroy(ctx);
}

Test(alloc, validate_never_calls_the_handler)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 32, MM_CAT_HALOS);
    (void)mm_validate(NULL);
    (void)mm_validate(foreign_static + 64);
    (void)mm_validate(p);
    mmt_expect_no_error(&rec, "mm_validate on NULL, foreign and freed pointers");
    mm_context_destroy(ctx);
}

Test(alloc, validate_never_aborts_under_the_default_handler)
{
    mm_set_error_handler(NULL, NULL);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 32, MM_CAT_HALOS);
    cr_expect_eq(mm_validate(foreign_static + 64), 0, "a foreign pointer should give 0");
    cr_expect_eq(mm_validate(p), 0, "a freed block should give 0");
    cr_expect_eq(mm_validate(NULL), 0, "NULL should give 0");
    mm_context_destroy(ctx);
}

Test(alloc, block_queries_describe_a_context_block)
{
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mm_context_malloc(ctx, 123, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "mm_context_malloc(123) should succeed");
    cr_expect_eq(mm_block_size(p), 123, "a context block should report its 123 bytes");
    cr_expect_eq(mm_block_category(p), MM_CAT_GALAXIES, "a context block should report Galaxies");
    cr_expect_eq(mm_block_context(p), ctx, "a context block should report its context");
    mm_context_destroy(ctx);
}

Test(alloc, block_size_of_a_foreign_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_block_size(foreign_static + 64), 0, "mm_block_size should return 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_block_size of a foreign pointer");
}

Test(alloc, block_category_of_a_foreign_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_block_category(foreign_static + 64), MM_CAT_INVALID,
                 "mm_block_category should return MM_CAT_INVALID");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_block_category of a foreign pointer");
}

Test(alloc, block_context_of_a_foreign_pointer_is_a_bad_pointer)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_block_context(foreign_static + 64), "mm_block_context should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "mm_block_context of a foreign pointer");
}

Test(alloc, block_queries_of_a_freed_context_block_are_double_frees_or_bad_pointers)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 32, MM_CAT_HALOS);
    cr_expect_eq(mm_block_size(p), 0, "mm_block_size of a freed block should return 0");
    cr_expect_eq(rec.count, 1, "mm_block_size of a freed block should report one error");
    cr_expect(rec.kind == MM_ERR_DOUBLE_FREE || rec.kind == MM_ERR_BAD_POINTER,
              "mm_block_size of a freed block should be an error as for mm_free, got %s",
              mm_error_kind_name(rec.kind));
    mm_context_destroy(ctx);
}
