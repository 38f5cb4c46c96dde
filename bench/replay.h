/* replay: runs a loaded trace (trace.h) through one allocator. slots is a
 * caller-owned array of t->nblocks pointers (block number -> live pointer);
 * nothing else is allocated, so a caller can time one call alone. Every
 * allocated block has its first byte written. A replay that returns leaves
 * no block live: blocks the trace never frees are released by the replay's
 * own cleanup, outside what the caller times only if the trace has none. */
#ifndef MM_BENCH_REPLAY_H
#define MM_BENCH_REPLAY_H

#include "trace.h"

/* Plain replay through malloc/realloc/free. F lines are ignored. A size 0
 * (A or R) asks for 1 byte: mimicmem keeps a live zero-size block there,
 * while realloc(p, 0) may free p (glibc does), making the later D a double
 * free. */
void replay_malloc(const trace *t, void **slots);

/* Through mm_malloc (category as recorded), mm_realloc_cat, mm_free. */
void replay_mm(const trace *t, void **slots);

/* Through the legacy table (legacy_table.h); categories above 5 count as
 * Unknown, as in the original. Returns 0, or -1 when the table filled up
 * (its 50,000-block limit): then every block allocated so far is released
 * and the legacy table is empty again. */
int replay_legacy(const trace *t, void **slots);

/* Scoped replay: forest-local blocks (TRACE_FOREST_LOCAL) are allocated in
 * ctx with mm_context_malloc, and ctx is reset (mm_context_reset) at every F
 * line and at the end; every other block uses mm_malloc/mm_free. With
 * skip_local_frees 0 every D is replayed with mm_free, as recorded; with 1
 * the D lines of forest-local blocks are skipped and the reset reclaims those
 * blocks (what a program that relies on its forest context would do). */
void replay_mm_scoped(const trace *t, void **slots, mm_context *ctx, int skip_local_frees);

#endif /* MM_BENCH_REPLAY_H */
