/* legacy_table.c: the block-table tracker mimicmem replaces, reproduced for
 * comparison (see legacy_table.h for what is kept and what differs). The cost
 * model is the point: O(1) append on allocation, a linear search on free and
 * realloc. Keep it that way; do not "fix" it. */
#include "legacy_table.h"

#include <stdio.h>
#include <stdlib.h>

/* One process-wide table, as in the original. */
static struct {
    void **ptrs;          /* ptrs[i]: block i, for i < nblocks */
    size_t *sizes;        /* sizes[i]: rounded size of block i, bytes */
    int *categories;      /* categories[i]: category of block i, 0..LEGACY_CAT_COUNT-1 */
    size_t nblocks;       /* live blocks; entries 0..nblocks-1 are valid */
    size_t max_blocks;    /* capacity of the three arrays */
    size_t current_bytes; /* sum of sizes[0..nblocks-1] */
    size_t peak_bytes;    /* high-water mark of current_bytes */
    size_t category_bytes[LEGACY_CAT_COUNT]; /* live bytes per category */
    int initialised;      /* arrays allocated */
} legacy_state;

/* ------------------------------------------------------------------------
 * Table management
 * ---------------------------------------------------------------------- */

int legacy_init(unsigned long max_blocks)
{
    legacy_shutdown();
    size_t cap = max_blocks > 0 ? (size_t)max_blocks : (size_t)LEGACY_DEFAULT_MAX_BLOCKS;
    legacy_state.ptrs = calloc(cap, sizeof *legacy_state.ptrs);
    legacy_state.sizes = calloc(cap, sizeof *legacy_state.sizes);
    legacy_state.categories = calloc(cap, sizeof *legacy_state.categories);
    if (legacy_state.ptrs == NULL || legacy_state.sizes == NULL || legacy_state.categories == NULL) {
        fprintf(stderr, "legacy: cannot allocate the block table (%zu blocks)\n", cap);
        legacy_shutdown();
        return -1;
    }
    legacy_state.max_blocks = cap;
    legacy_state.initialised = 1;
    return 0;
}

void legacy_shutdown(void)
{
    free(legacy_state.ptrs);
    free(legacy_state.sizes);
    free(legacy_state.categories);
    legacy_state.ptrs = NULL;
    legacy_state.sizes = NULL;
    legacy_state.categories = NULL;
    legacy_state.nblocks = 0;
    legacy_state.max_blocks = 0;
    legacy_state.current_bytes = 0;
    legacy_state.peak_bytes = 0;
    for (int c = 0; c < LEGACY_CAT_COUNT; c++) {
        legacy_state.category_bytes[c] = 0;
    }
    legacy_state.initialised = 0;
}

/* The original's lookup: the most recent block first, then a scan from the
 * start. Returns the slot, or -1. */
static long legacy_find(const void *p)
{
    size_t n = legacy_state.nblocks;
    if (p == NULL) {
        return -1;
    }
    if (n > 0 && legacy_state.ptrs[n - 1] == p) {
        return (long)(n - 1);
    }
    for (size_t i = 0; i < n; i++) {
        if (legacy_state.ptrs[i] == p) {
            return (long)i;
        }
    }
    return -1;
}

/* Multiple of 8, minimum 8 (the original's rounding; it wraps for sizes
 * within 7 of SIZE_MAX exactly as the original did, and malloc then gets a
 * small size: callers of the benchmark never ask for such sizes). */
static size_t legacy_round(size_t size)
{
    if (size % 8 > 0) {
        size = (size / 8 + 1) * 8;
    }
    if (size == 0) {
        size = 8;
    }
    return size;
}

static int legacy_clamp_category(int category)
{
    return (category < 0 || category >= LEGACY_CAT_COUNT) ? LEGACY_CAT_UNKNOWN : category;
}

static void legacy_note_peak(void)
{
    if (legacy_state.current_bytes > legacy_state.peak_bytes) {
        legacy_state.peak_bytes = legacy_state.current_bytes;
    }
}

/* ------------------------------------------------------------------------
 * Allocation, resize, free
 * ---------------------------------------------------------------------- */

void *legacy_malloc_cat(size_t size, int category)
{
    if (!legacy_state.initialised && legacy_init(0) != 0) {
        return NULL;
    }
    category = legacy_clamp_category(category);
    size = legacy_round(size);
    if (legacy_state.nblocks >= legacy_state.max_blocks) {
        fprintf(stderr, "legacy: no blocks left (%zu)\n", legacy_state.max_blocks);
        return NULL;
    }
    void *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "legacy: malloc of %zu bytes failed\n", size);
        return NULL;
    }
    size_t i = legacy_state.nblocks;
    legacy_state.ptrs[i] = p;
    legacy_state.sizes[i] = size;
    legacy_state.categories[i] = category;
    legacy_state.category_bytes[category] += size;
    legacy_state.current_bytes += size;
    legacy_note_peak();
    legacy_state.nblocks = i + 1;
    return p;
}

void *legacy_malloc(size_t size)
{
    return legacy_malloc_cat(size, LEGACY_CAT_UNKNOWN);
}

void *legacy_realloc_cat(void *p, size_t size, int category)
{
    if (p == NULL) {
        return legacy_malloc_cat(size, category);
    }
    category = legacy_clamp_category(category);
    size = legacy_round(size);
    long i = legacy_find(p);
    if (i < 0) {
        fprintf(stderr, "legacy: realloc of untracked pointer %p\n", p);
        return NULL;
    }
    void *q = realloc(p, size);
    if (q == NULL) {
        fprintf(stderr, "legacy: realloc to %zu bytes failed\n", size);
        return NULL;
    }
    legacy_state.category_bytes[legacy_state.categories[i]] -= legacy_state.sizes[i];
    legacy_state.category_bytes[category] += size;
    legacy_state.current_bytes -= legacy_state.sizes[i];
    legacy_state.current_bytes += size;
    legacy_state.ptrs[i] = q;
    legacy_state.sizes[i] = size;
    legacy_state.categories[i] = category;
    legacy_note_peak();
    return q;
}

void *legacy_realloc(void *p, size_t size)
{
    if (p == NULL) {
        return legacy_malloc(size);
    }
    long i = legacy_find(p);
    if (i < 0) {
        fprintf(stderr, "legacy: realloc of untracked pointer %p\n", p);
        return NULL;
    }
    return legacy_realloc_cat(p, size, legacy_state.categories[i]);
}

int legacy_free(void *p)
{
    if (p == NULL) {
        return 0;
    }
    long found = legacy_find(p);
    if (found < 0) {
        fprintf(stderr, "legacy: free of untracked pointer %p\n", p);
        return -1;
    }
    size_t i = (size_t)found;
    size_t last = legacy_state.nblocks - 1;
    legacy_state.category_bytes[legacy_state.categories[i]] -= legacy_state.sizes[i];
    legacy_state.current_bytes -= legacy_state.sizes[i];
    free(p);
    if (i < last) {
        legacy_state.ptrs[i] = legacy_state.ptrs[last];
        legacy_state.sizes[i] = legacy_state.sizes[last];
        legacy_state.categories[i] = legacy_state.categories[last];
    }
    legacy_state.nblocks = last;
    return 0;
}

void legacy_free_all(void)
{
    for (size_t i = 0; i < legacy_state.nblocks; i++) {
        free(legacy_state.ptrs[i]);
    }
    legacy_state.nblocks = 0;
    legacy_state.current_bytes = 0;
    for (int c = 0; c < LEGACY_CAT_COUNT; c++) {
        legacy_state.category_bytes[c] = 0;
    }
}

/* ------------------------------------------------------------------------
 * Counters
 * ---------------------------------------------------------------------- */

size_t legacy_current_bytes(void)
{
    return legacy_state.current_bytes;
}

size_t legacy_peak_bytes(void)
{
    return legacy_state.peak_bytes;
}

size_t legacy_category_bytes(int category)
{
    if (category < 0 || category >= LEGACY_CAT_COUNT) {
        return 0;
    }
    return legacy_state.category_bytes[category];
}

size_t legacy_block_count(void)
{
    return legacy_state.nblocks;
}

size_t legacy_max_blocks(void)
{
    return legacy_state.initialised ? legacy_state.max_blocks : (size_t)LEGACY_DEFAULT_MAX_BLOCKS;
}
