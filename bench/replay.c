/* replay.c: the trace replay loops of the benchmark programs, one function
 * per allocator so each loop has direct calls only (malloc's and mimicmem's
 * are one loop inlined twice). They do nothing but the allocator calls, the
 * slot bookkeeping and one byte written per block. */
#include "replay.h"

#include <stdlib.h>

#include "bench_util.h"
#include "legacy_table.h"

/* Calls release on every block the trace leaves live (none in the Mimic
 * traces: every block is freed by their end). */
static void replay_leftovers(const trace *t, void **slots, void (*release)(void *))
{
    if (t->live_at_end == 0) {
        return;
    }
    unsigned char *live = calloc(t->nblocks ? t->nblocks : 1, 1);
    if (live == NULL) {
        return; /* cannot tell which are live: leak rather than guess */
    }
    for (size_t i = 0; i < t->nops; i++) {
        if (t->ops[i].op == 'A') {
            live[t->ops[i].block] = 1;
        } else if (t->ops[i].op == 'D') {
            live[t->ops[i].block] = 0;
        }
    }
    for (size_t b = 0; b < t->nblocks; b++) {
        if (live[b]) {
            release(slots[b]);
        }
    }
    free(live);
}

static void replay_free_malloc(void *p)
{
    free(p);
}

static void replay_free_mm(void *p)
{
    mm_free(p);
}

static void replay_free_legacy(void *p)
{
    legacy_free(p);
}

/* The size asked of malloc and realloc for a traced size. A traced 0 is a
 * live zero-size block (mimicmem's malloc(0) and realloc(p, 0) keep one, and
 * a later D frees it), but C leaves malloc(0) and realloc(p, 0) to the
 * implementation: glibc's realloc(p, 0) frees p, so the later free would be a
 * double free. One byte is the smallest block every C library keeps. */
static size_t replay_malloc_size(uint64_t size)
{
    return size > 0 ? (size_t)size : 1;
}

/* Keeps the block an A line allocated in its slot, its first byte written. */
static inline void replay_store_new(void **slots, const trace_op *op, void *p, size_t i)
{
    if (op->size > 0) {
        bench_touch(p, (unsigned char)i);
    }
    slots[op->block] = p;
}

/* The same for the block an R line resized; a resize that returned NULL
 * leaves the block where it was. */
static inline void replay_store_resized(void **slots, const trace_op *op, void *p, size_t i)
{
    if (p != NULL) {
        slots[op->block] = p;
        if (op->size > 0) {
            bench_touch(p, (unsigned char)i);
        }
    }
}

/* The loop of replay_malloc and replay_mm, written once: alloc, resize and
 * release are constants at each call, so each inlined copy has direct calls
 * only. A resize that returns NULL leaves the block where it was. */
static BENCH_ALWAYS_INLINE void replay_loop(const trace *t, void **slots,
                                            void *(*alloc)(uint64_t size, mm_category cat),
                                            void *(*resize)(void *p, uint64_t size,
                                                            mm_category cat),
                                            void (*release)(void *p))
{
    const trace_op *ops = t->ops;
    for (size_t i = 0, n = t->nops; i < n; i++) {
        const trace_op *op = &ops[i];
        switch (op->op) {
        case 'A':
            replay_store_new(slots, op, alloc(op->size, op->category), i);
            break;
        case 'R':
            replay_store_resized(slots, op, resize(slots[op->block], op->size, op->category), i);
            break;
        case 'D':
            release(slots[op->block]);
            break;
        default:
            break;
        }
    }
    replay_leftovers(t, slots, release);
}

static inline void *replay_alloc_malloc(uint64_t size, mm_category cat)
{
    (void)cat;
    return malloc(replay_malloc_size(size));
}

static inline void *replay_resize_malloc(void *p, uint64_t size, mm_category cat)
{
    (void)cat;
    return realloc(p, replay_malloc_size(size));
}

void replay_malloc(const trace *t, void **slots)
{
    replay_loop(t, slots, replay_alloc_malloc, replay_resize_malloc, replay_free_malloc);
}

static inline void *replay_alloc_mm(uint64_t size, mm_category cat)
{
    return mm_malloc((size_t)size, cat);
}

static inline void *replay_resize_mm(void *p, uint64_t size, mm_category cat)
{
    return mm_realloc_cat(p, (size_t)size, cat);
}

void replay_mm(const trace *t, void **slots)
{
    replay_loop(t, slots, replay_alloc_mm, replay_resize_mm, replay_free_mm);
}

int replay_legacy(const trace *t, void **slots)
{
    const trace_op *ops = t->ops;
    for (size_t i = 0, n = t->nops; i < n; i++) {
        const trace_op *op = &ops[i];
        void *p;
        switch (op->op) {
        case 'A':
            p = legacy_malloc_cat((size_t)op->size, op->category);
            if (p == NULL) {
                legacy_free_all();
                return -1;
            }
            bench_touch(p, (unsigned char)i); /* legacy blocks are at least 8 bytes */
            slots[op->block] = p;
            break;
        case 'R':
            p = legacy_realloc_cat(slots[op->block], (size_t)op->size, op->category);
            if (p == NULL) {
                legacy_free_all();
                return -1;
            }
            bench_touch(p, (unsigned char)i);
            slots[op->block] = p;
            break;
        case 'D':
            legacy_free(slots[op->block]);
            break;
        default:
            break;
        }
    }
    replay_leftovers(t, slots, replay_free_legacy);
    return 0;
}

void replay_mm_scoped(const trace *t, void **slots, mm_context *ctx, int skip_local_frees)
{
    const trace_op *ops = t->ops;
    for (size_t i = 0, n = t->nops; i < n; i++) {
        const trace_op *op = &ops[i];
        void *p;
        switch (op->op) {
        case 'F':
            mm_context_reset(ctx);
            break;
        case 'A':
            if (op->flags & TRACE_FOREST_LOCAL) {
                p = mm_context_malloc(ctx, (size_t)op->size, op->category);
            } else {
                p = mm_malloc((size_t)op->size, op->category);
            }
            replay_store_new(slots, op, p, i);
            break;
        case 'R':
            p = mm_realloc_cat(slots[op->block], (size_t)op->size, op->category);
            replay_store_resized(slots, op, p, i);
            break;
        case 'D':
            if (!(skip_local_frees && (op->flags & TRACE_FOREST_LOCAL))) {
                mm_free(slots[op->block]);
            }
            break;
        default:
            break;
        }
    }
    mm_context_reset(ctx);
    replay_leftovers(t, slots, replay_free_mm);
}
