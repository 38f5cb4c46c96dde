/* replay_core: what mimicmem-replay computes, as a library its tests can call.
 * A model pass over a loaded trace (bench/trace.h) gives the exact peak, its
 * composition and block counts; a timed pass replays the trace through raw
 * malloc, mimicmem and the legacy table; a check pass compares mimicmem's own
 * statistics after one replay with the model. Not thread-safe: one caller. */
#ifndef MM_REPLAY_CORE_H
#define MM_REPLAY_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "mimicmem.h"
#include "trace.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MMR_SCHEMA_VERSION 1

/* ========================================================================
 * Loading
 * ====================================================================== */

/* trace_load with mimicmem's error handler made quiet for the duration, so a
 * category the registry cannot take is reported as "path:line: cannot
 * register category" instead of aborting; afterwards the default handler is
 * installed (a handler set before is not kept). Same contract as trace_load. */
int mmr_load(const char *path, trace *out, char *err, size_t errlen);

/* ========================================================================
 * Model pass
 * Rule: exact figures from the trace alone, in requested bytes, with no
 * allocator involved. An R moves its block to the category it names (as
 * mm_realloc_cat does). The peak moment is the first operation after which
 * the live bytes equal their maximum; when the maximum is 0 there is none.
 * ====================================================================== */

typedef struct {
    mm_category category;   /* mimicmem id (names via mm_category_name) */
    uint64_t peak_bytes;    /* the category's own high-water mark; the moments differ
                               between categories, so these do not add up to the peak */
    uint64_t at_peak_bytes; /* its live bytes at the peak moment; these add up to the
                               peak exactly */
    uint64_t allocs;        /* A lines in this category */
    uint64_t bytes_at_end;  /* its live bytes after the last line */
    uint64_t blocks_at_end; /* its live blocks after the last line */
} mmr_category;

typedef struct {
    size_t operations;          /* F, A, R and D lines */
    size_t forests;             /* F lines */
    size_t allocs;              /* A lines */
    size_t reallocs;            /* R lines */
    size_t frees;               /* D lines */
    size_t blocks;              /* distinct blocks (equals allocs) */
    uint64_t peak_bytes;        /* high-water mark of live requested bytes */
    size_t peak_operation;      /* 1-based number of the operation that made the peak
                                   (counting F/A/R/D lines only); 0 when peak_bytes is 0 */
    int64_t peak_forest;        /* value of the last F line before that operation;
                                   -1 when it came before any F (or there is no peak) */
    size_t live_blocks_at_peak; /* live blocks right after that operation */
    size_t max_live_blocks;     /* high-water mark of live blocks (any moment) */
    size_t live_blocks_at_end;  /* blocks the trace never frees */
    uint64_t live_bytes_at_end; /* their bytes */
    mmr_category *categories;   /* every category named by an A or R line, in id order */
    size_t ncategories;         /* entries of categories */
} mmr_summary;

/* Fills *out (zeroed first) from t. Returns 0, or -1 when memory for the
 * working arrays cannot be had or live bytes pass 2^64 - 1 (out is then
 * empty). Cost: two passes over the operations, O(blocks + categories)
 * memory. */
int mmr_analyse(const trace *t, mmr_summary *out);

/* Frees what mmr_analyse allocated and zeroes *s. NULL is a no-op. */
void mmr_summary_free(mmr_summary *s);

/* ========================================================================
 * Agreement with mimicmem's own statistics
 * Rule: mimicmem's process statistics are cumulative over the process, so
 * the check means something only when nothing was allocated through
 * mimicmem before it (fresh is then 1): run it first. The replay frees the
 * blocks the trace leaves live after its last line, so mimicmem's frees
 * equal its allocations afterwards.
 * ====================================================================== */

typedef struct {
    int fresh;               /* 1 when mimicmem's process peak was 0 before the replay */
    int agree;               /* 1 when fresh and every figure below equals the model */
    uint64_t peak_bytes;     /* mm_stats_total(NULL).peak_bytes after the replay */
    uint64_t allocs;         /* mm_stats_total(NULL).allocs gained by the replay (the
                                model's allocs expected) */
    uint64_t frees;          /* .frees gained (the model's allocs expected: every block) */
    uint64_t *category_peak_bytes; /* mm_stats_category(NULL, c).peak_bytes, one per
                                      summary category, same order */
    uint64_t *category_allocs; /* mm_stats_category(NULL, c).allocs gained, same order */
    size_t ncategories;      /* entries of category_peak_bytes and category_allocs */
    size_t live_bytes_after; /* mm_stats_total(NULL).bytes after the replay (0 expected) */
} mmr_check;

/* Replays t once through mimicmem (replay_mm) and compares its statistics
 * with s. Returns 0, or -1 when memory for the slots cannot be had. */
int mmr_check_stats(const trace *t, const mmr_summary *s, mmr_check *out);

/* Frees what mmr_check_stats allocated and zeroes *c. NULL is a no-op. */
void mmr_check_free(mmr_check *c);

/* ========================================================================
 * Timed comparison
 * Rule: each round replays the whole trace once through each allocator in
 * turn (malloc, mimicmem, legacy table), so drifts in machine speed hit all
 * three alike; only the replay loop is timed (the trace is parsed before).
 * An allocator that fails is not run again.
 * ====================================================================== */

enum { MMR_MALLOC = 0, MMR_MIMICMEM = 1, MMR_LEGACY = 2, MMR_NALLOCATORS = 3 };

typedef struct {
    const char *name;      /* "malloc", "mimicmem", "legacy table" */
    const char *failure;   /* NULL when every round ran; else e.g. "failed: table full" */
    int nrounds;           /* rounds that completed */
    double median_seconds; /* median over completed rounds; 0 when none */
    double min_seconds;    /* fastest completed round */
    double max_seconds;    /* slowest completed round */
} mmr_allocator_time;

typedef struct {
    int rounds;                                   /* rounds asked for */
    mmr_allocator_time allocators[MMR_NALLOCATORS]; /* indexed by MMR_MALLOC.. */
} mmr_timing;

/* Runs rounds (>= 1) rounds and fills *out. Returns 0, or -1 when rounds is
 * below 1 or memory for the slots or the times cannot be had. */
int mmr_time(const trace *t, int rounds, mmr_timing *out);

#ifdef __cplusplus
}
#endif

#endif /* MM_REPLAY_CORE_H */
