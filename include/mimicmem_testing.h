/* mimicmem_testing.h: fault injection, for tests (the library's and its
 * hosts'). Kept out of mimicmem.h: production code has no business with it.
 * Link the same library; include this header beside mimicmem.h. */
#ifndef MIMICMEM_TESTING_H
#define MIMICMEM_TESTING_H

#include "mimicmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Fault injection
 * Rule: one process-wide setting, for tests (the library's and its hosts'):
 * out-of-memory loops that fail the k-th system allocation for k = 1, 2, ...
 * until a scenario completes. Counting is atomic, so any thread may allocate
 * while it is armed; arm and disarm between phases, not while other threads
 * are in the middle of a scenario you mean to count.
 * ====================================================================== */

typedef enum {
    MM_FAULT_OFF = 0,  /* disarmed: nothing is counted, nothing fails (the default) */
    MM_FAULT_ONCE = 1, /* the k-th matching system allocation fails, later ones succeed */
    MM_FAULT_FROM = 2  /* the k-th matching system allocation and every later one fail */
} mm_fault_mode;

/* Arms (or, with MM_FAULT_OFF, disarms) fault injection and restarts both
 * counters at 0. Counted are the library's calls to the system allocator
 * (malloc, calloc, realloc), not mm_ calls: a block served from a cache, a
 * free list or a context's current chunk makes no system call and cannot
 * fail. k is 1-based; k 0 never fails and only counts (to size a loop).
 * A system allocation matches when cat is MM_CAT_INVALID (any) or it is made
 * for a block of category cat, and when ctx is NULL (any) or it is made by a
 * call on ctx itself (its blocks, chunks, per-category arrays, epoch
 * records; not its descendants'; ctx is compared by address). The library's
 * bookkeeping (context structs, per-category arrays, epoch records, report
 * buffers) belongs to no category: it matches only cat MM_CAT_INVALID; what
 * mm_context_create allocates matches only ctx NULL. A thread's statistics
 * record is exempt: it is made once per thread and nothing can be counted
 * without it. Only matching allocations are counted. An injected failure is reported as any
 * out of memory is: one MM_ERR_OUT_OF_MEMORY through the error handler, whose
 * message names the size and the category ("Utility" for bookkeeping).
 * Errors: a bad mode (MM_ERR_BAD_ARGUMENT), an unknown cat
 * (MM_ERR_BAD_CATEGORY), a dead ctx (MM_ERR_BAD_CONTEXT); the setting then
 * stays as it was. Cost: while disarmed, one relaxed atomic load per system
 * allocation, none on the paths that make no system call. */
MM_API void mm_fault_inject(mm_fault_mode mode, uint64_t k, mm_category cat, const mm_context *ctx);

/* Matching system allocations attempted since the last mm_fault_inject
 * (failed ones included), and how many of them were made to fail. */
MM_API uint64_t mm_fault_attempts(void);
MM_API uint64_t mm_fault_failures(void);

#ifdef __cplusplus
}
#endif

#endif /* MIMICMEM_TESTING_H */
