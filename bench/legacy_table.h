/* legacy_table: a faithful re-implementation of the block-table memory tracker
 * that mimicmem replaces (Mimic's mymalloc_cat / myrealloc / myfree), kept so
 * the benchmarks and the replay tool can compare against it.
 *
 * Three parallel arrays (pointers, sizes, categories) with a fixed capacity
 * (50,000 blocks by default). Sizes are rounded up to a multiple of 8 (minimum
 * 8) before malloc. An allocation appends to the table; free and realloc find
 * the pointer by checking the last entry first, then scanning from the start,
 * so they cost O(live blocks); free moves the last entry into the freed slot.
 *
 * Differences from the original, all on error paths: where the original stops
 * the program (table full, untracked pointer), these functions print one line
 * to stderr and return NULL or -1, so the caller decides what is fatal.
 * Self-contained: needs only the C standard library. Not thread-safe (neither
 * was the original): one process-wide table. */
#ifndef LEGACY_TABLE_H
#define LEGACY_TABLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The original's default block limit (DEFAULT_MAX_MEMORY_BLOCKS). */
#define LEGACY_DEFAULT_MAX_BLOCKS 50000UL

/* The original's six categories, same order and values as mimicmem's
 * built-in categories (MM_CAT_UNKNOWN .. MM_CAT_UTILITY). */
enum {
    LEGACY_CAT_UNKNOWN = 0,
    LEGACY_CAT_GALAXIES = 1,
    LEGACY_CAT_HALOS = 2,
    LEGACY_CAT_TREES = 3,
    LEGACY_CAT_IO = 4,
    LEGACY_CAT_UTILITY = 5,
    LEGACY_CAT_COUNT = 6
};

/* (Re)creates the table with room for max_blocks blocks (0: the default
 * 50,000) and zeroes every counter. Blocks still in an old table are
 * forgotten, not freed (call legacy_free_all first). Called implicitly with 0
 * by the first allocation. Returns 0, or -1 when the arrays cannot be
 * allocated (a message is printed). */
int legacy_init(unsigned long max_blocks);

/* Frees the table arrays (not the blocks). legacy_init may be called again. */
void legacy_shutdown(void);

/* Allocates size bytes (rounded up to a multiple of 8, minimum 8) in category
 * category (out of range: LEGACY_CAT_UNKNOWN). Returns NULL after printing
 * "legacy: no blocks left (N)" when the table is full (the original's fatal
 * error), or when malloc fails. Cost: O(1). */
void *legacy_malloc_cat(size_t size, int category);

/* legacy_malloc_cat(size, LEGACY_CAT_UNKNOWN). */
void *legacy_malloc(size_t size);

/* Resizes tracked block p (p NULL: legacy_malloc_cat) and moves it to
 * category. The block keeps its table slot. Returns NULL, with p still valid
 * and tracked, when p is untracked or realloc fails. Cost: O(live blocks). */
void *legacy_realloc_cat(void *p, size_t size, int category);

/* Resizes p keeping its category. Like the original, it looks p up once to
 * read the category and again inside legacy_realloc_cat. */
void *legacy_realloc(void *p, size_t size);

/* Frees tracked block p; NULL is a no-op. Returns 0, or -1 after printing a
 * message when p is not in the table (the original's fatal error).
 * Cost: O(live blocks) unless p is the last entry. */
int legacy_free(void *p);

/* Frees every tracked block in O(live blocks) and empties the table; peak
 * kept. Not in the original: a teardown helper for benchmarks and tools. */
void legacy_free_all(void);

/* Counters, as the original kept them: bytes are rounded sizes. */
size_t legacy_current_bytes(void);      /* live bytes */
size_t legacy_peak_bytes(void);         /* high-water mark of live bytes */
size_t legacy_category_bytes(int category); /* live bytes of one category; 0 if out of range */
size_t legacy_block_count(void);        /* live blocks (table entries) */
size_t legacy_max_blocks(void);         /* table capacity */

#ifdef __cplusplus
}
#endif

#endif /* LEGACY_TABLE_H */
