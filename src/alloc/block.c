/* Calls that take any block, process-wide or context: mm_free, mm_realloc,
 * mm_realloc_cat, mm_validate and the queries, each dispatching on what the
 * header says; and the one place that names a pointer error (a bad pointer,
 * a double free, a block its context already released). A pointer whose
 * header sits where a big block's would is first looked up (block.h): its
 * memory may be gone, and reading it could fault. */
#include "alloc.h"

#include <string.h>

/* True when the header memory of p (at the big-block offset) is ours to
 * read; otherwise reports why p is not a live block (report: to fn). */
static MMI_COLD bool block_readable(const void *p, const char *fn, bool report) {
    uintptr_t h = (uintptr_t)mmi_hdr_of(p);
    if (mmi_addrset_contains(MMI_SET_OURS, h) || mmi_chunk_memory(h)) return true;
    if (!report) return false;
    if (mmi_ours_recently_released(h))
        mmi_error(MM_ERR_DOUBLE_FREE, 0, MM_CAT_INVALID, p, NULL,
                  "%p passed to %s was already freed (a big block, whose memory went back to the "
                  "system)",
                  p, fn);
    else
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, p, NULL,
                  "%p passed to %s is not a live mimicmem block: its memory is not mimicmem's (a "
                  "pointer mimicmem never returned, or a big block freed long ago whose memory "
                  "went back to the system)",
                  p, fn);
    return false;
}

/* Under a tool, a header in chunk memory is peeked at (mmi_tool_peek;
 * other memory is the system allocator's, which the tool watches as it is),
 * in functions of their own: the peek's buffer would cost the plain paths a
 * stack-protector check. */
static bool block_peeks(const mmi_header *h) {
    return mmi_tool_on() && mmi_chunk_memory((uintptr_t)h);
}

void mmi_error_pointer(const void *p, mmi_hdr_state st, mmi_owner_state owner, const char *fn) {
    const mmi_header *h = mmi_hdr_of(p);
    if (st == MMI_HDR_BAD) {
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, p, NULL,
                  "%p passed to %s is not a live mimicmem block (a damaged header, a pointer "
                  "mimicmem never returned, or a block freed earlier whose memory was reused)",
                  p, fn);
        return;
    }
    /* the sealed header is intact, so its size, category and chunk can be used */
    int cat = mmi_hdr_cat(h);
    size_t size = st == MMI_HDR_LIVE ? mmi_hdr_size(h) : mmi_hdr_freed_span(h);
    const mmi_chunk *ch = (h->info & MMI_HF_CONTEXT) ? mmi_arena_chunk_at(h) : NULL;
    if (owner == MMI_OWNER_DAMAGED) {
        mmi_error(MM_ERR_BAD_POINTER, size, cat, p, NULL,
                  "%p passed to %s: the header of its context chunk at %p is damaged (a write "
                  "before the chunk's first block, or a stray write); the block cannot be freed",
                  p, fn, (const void *)ch);
        return;
    }
    const mm_context *ctx = NULL;
    char where[MM_NAME_MAX + 32] = "";
    if (ch && ch->ctx && mmi_ctx_alive(ch->ctx)) {
        ctx = ch->ctx;
        snprintf(where, sizeof where, " of context \"%s\"", ctx->name);
    }
    const char *why = owner == MMI_OWNER_DESTROYED ? "released when its context was destroyed"
                      : owner == MMI_OWNER_RESET
                          ? "released by a reset of its context (a pointer kept from an earlier "
                            "epoch)"
                          : "freed";
    mmi_error(MM_ERR_DOUBLE_FREE, size, cat, p, ctx,
              "%p passed to %s: block of %zu bytes in category \"%s\"%s was already %s", p, fn,
              size, mmi_cat_name(cat), where, why);
}

static mmi_header *block_live_peeked(const void *p, mmi_header *h, const char *fn,
                                     mmi_chunk **ch);
static inline mmi_header *block_live_at(const void *p, mmi_header *h, const char *fn,
                                        mmi_chunk **ch);

mmi_header *mmi_block_live(const void *p, const char *fn, mmi_chunk **ch) {
    *ch = NULL;
    if (MMI_UNLIKELY((uintptr_t)p % MMI_HEADER_BYTES != 0)) { /* never one of ours */
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, p, NULL,
                  "%p passed to %s is not a mimicmem block: it is not 16-byte aligned", p, fn);
        return NULL;
    }
    if (MMI_UNLIKELY(mmi_maybe_big(p)) && !block_readable(p, fn, true)) return NULL;
    mmi_header *h = mmi_hdr_of(p);
    if (MMI_UNLIKELY(block_peeks(h))) return block_live_peeked(p, h, fn, ch);
    return block_live_at(p, h, fn, ch);
}

/* Under a tool a context block's header is no-access: opened here, and left
 * open for the caller, who closes it (mmi_arena_tool_close) or frees the
 * block; put back when p is no live block (after the message, which reads
 * it). */
static MMI_NOINLINE mmi_header *block_live_peeked(const void *p, mmi_header *h, const char *fn,
                                                  mmi_chunk **ch) {
    mmi_tool_peek pk;
    mmi_tool_peek_begin(h, &pk);
    mmi_header *live = block_live_at(p, h, fn, ch);
    if (live == NULL) mmi_tool_peek_end(h, &pk);
    return live;
}

/* mmi_block_live once h is readable. */
static inline mmi_header *block_live_at(const void *p, mmi_header *h, const char *fn,
                                        mmi_chunk **ch) {
    mmi_hdr_state st = mmi_hdr_check(h);
    if (MMI_UNLIKELY(st != MMI_HDR_LIVE)) {
        mmi_owner_state owner = MMI_OWNER_OK;
        if (st != MMI_HDR_BAD && (h->info & MMI_HF_CONTEXT)) (void)mmi_arena_owner(h, &owner);
        if (owner == MMI_OWNER_DAMAGED) owner = MMI_OWNER_OK; /* say "freed", not "damaged" */
        mmi_error_pointer(p, st, owner, fn);
        return NULL;
    }
    if (h->info & MMI_HF_CONTEXT) {
        mmi_owner_state owner;
        *ch = mmi_arena_owner(h, &owner);
        if (MMI_UNLIKELY(*ch == NULL)) {
            mmi_error_pointer(p, st, owner, fn);
            return NULL;
        }
    }
    return h;
}

/* ======================================================================
 * Free
 * ==================================================================== */

/* Everything but the two plain cases: NULL, errors, decorated and big
 * blocks, a block whose owner is gone, a thread's first call. */
static MMI_NOINLINE void block_free_slow(void *p, const char *fn) {
    if (p == NULL) return;
    mmi_thread *t;
    mmi_chunk *ch;
    mmi_header *h = mmi_block_live(p, fn, &ch);
    if (h == NULL) return;
    if ((t = mmi_thread_get(fn)) == NULL) return;
    if (h->info & MMI_HF_DECOR) {
        mmi_hooks.diag_free(h, fn);
    } else if (ch && mmi_tool_on() && ch->kind == MMI_CHUNK_SMALL) {
        mmi_arena *a = &ch->ctx->arena;
        mmi_arena_tool_freeing(h);
        mmi_context_free(t, h, ch);
        mmi_arena_tool_freed(a, h, false);
    } else if (ch) {
        mmi_context_free(t, h, ch);
    } else
        mmi_process_free(t, h);
}

/* The plain cases: a live undecorated process block, or a context block of
 * a live owner in its current epoch. Every call here is a tail call, so the
 * common path needs no stack frame. */
_Static_assert(MMI_PAGE_MASK == 4095 && MMI_BIG_OFFSET == 16,
               "platform/tool.c's free switches hold header.h's big-block test");

static MMI_INLINE void block_free(void *p, const char *fn) {
    mmi_thread *t = mmi_tls;
    /* NULL goes the slow way, which returns; so does every p while a tool
     * runs (the second test is mmi_maybe_big's, its constants 0 then) */
    if (MMI_LIKELY(p != NULL && ((uintptr_t)p & 15) == 0 &&
                   (((uintptr_t)p - MMI_HEADER_BYTES) & MMI_FREE_PAGE_MASK) != MMI_FREE_BIG_AT &&
                   t != NULL && mmi_hdr_is_live(mmi_hdr_of(p)))) {
        mmi_header *h = mmi_hdr_of(p);
        uint32_t info = h->info;
        if (info == 0) { /* a plain process block: the hottest case */
            mmi_process_free(t, h);
            return;
        }
        /* a carved context block of a live owner in its current epoch; the
         * counting of a flat context inline, every other case a tail call */
        if (MMI_LIKELY(!(info & (MMI_HF_DECOR | MMI_HF_BIG)))) {
            mmi_chunk *ch = mmi_arena_owner_small(h);
            if (MMI_LIKELY(ch != NULL)) {
                mmi_context_free_small(t, h, ch);
                return;
            }
        }
    }
    block_free_slow(p, fn); /* it names what is wrong, if anything */
}

void mm_free(void *p) {
    block_free(p, "mm_free");
}

void mmi_free_as(void *p, const char *fn) {
    block_free(p, fn);
}

/* ======================================================================
 * Realloc
 * ==================================================================== */

void *mmi_realloc_as(void *p, size_t size, int cat, bool keep_cat, const char *fn,
                     const char *file, int line) {
    if (p == NULL) return mmi_malloc_as(size, keep_cat ? MM_CAT_UNKNOWN : cat, false, fn, file, line);
    mmi_chunk *ch;
    mmi_header *h = mmi_block_live(p, fn, &ch);
    if (h == NULL) return NULL;
    if (keep_cat) cat = mmi_hdr_cat(h);
    if (!mmi_alloc_check(size, cat, ch ? ch->ctx : NULL, fn)) return NULL;
    if (MMI_UNLIKELY(h->info & MMI_HF_DECOR) || MMI_UNLIKELY(mmi_load(&mmi_diag) != 0)) {
        if (mmi_thread_get(fn) == NULL) return NULL;
        /* under a tool: check.c resizes within the slot, so a plain block's
         * pool allocation widens to it, as its own blocks' are
         * (mmi_context_get) */
        if (ch && mmi_tool_on() && ch->kind == MMI_CHUNK_SMALL && !(h->info & MMI_HF_DECOR))
            mmi_tool_pool_resize(&ch->ctx->arena, p, mmi_hdr_size(h),
                                 mmi_class_bytes(mmi_size_class(mmi_hdr_size(h))));
        return mmi_hooks.diag_realloc(h, size, cat, fn, file, line);
    }
    if (ch) return mmi_context_realloc(h, ch, size, cat, fn);
    return mmi_process_realloc(h, size, cat, fn);
}

void *mm_realloc(void *p, size_t size) {
    return mmi_realloc_as(p, size, MM_CAT_UNKNOWN, true, "mm_realloc", NULL, 0);
}

void *mm_realloc_cat(void *p, size_t size, mm_category cat) {
    return mmi_realloc_as(p, size, cat, false, "mm_realloc_cat", NULL, 0);
}

void *mm_realloc_at(void *p, size_t size, const char *file, int line) {
    return mmi_realloc_as(p, size, MM_CAT_UNKNOWN, true, "mm_realloc", file, line);
}

void *mm_realloc_cat_at(void *p, size_t size, mm_category cat, const char *file, int line) {
    return mmi_realloc_as(p, size, cat, false, "mm_realloc_cat", file, line);
}

/* ======================================================================
 * Validation and queries
 * ==================================================================== */

/* mm_validate of an aligned, readable header. */
static int block_valid(const mmi_header *h) {
    if (!mmi_hdr_is_live(h)) return 0;
    if (!mmi_cat_valid(mmi_hdr_cat(h))) return 0;
    if ((h->info & MMI_HF_GUARD) && mmi_hdr_guard_damage(h) >= 0) return 0;
    if (h->info & MMI_HF_CONTEXT) {
        mmi_owner_state owner;
        return mmi_arena_owner(h, &owner) != NULL;
    }
    return (h->info & ~(uint32_t)(MMI_HF_DECOR | MMI_HF_BIG | (MMI_TAG_MASK << MMI_INFO_HIGH_SHIFT))) == 0;
}

/* block_valid of a header a tool may watch (block_peeks). */
static MMI_NOINLINE int block_valid_peeked(const mmi_header *h) {
    mmi_tool_peek pk;
    mmi_tool_peek_begin(h, &pk);
    int ok = block_valid(h);
    mmi_tool_peek_end(h, &pk);
    return ok;
}

int mm_validate(const void *p) {
    if (p == NULL || (uintptr_t)p % MMI_HEADER_BYTES != 0) return 0;
    if (mmi_maybe_big(p) && !block_readable(p, "mm_validate", false)) return 0;
    const mmi_header *h = mmi_hdr_of(p);
    if (MMI_UNLIKELY(block_peeks(h))) return block_valid_peeked(h);
    return block_valid(h);
}

/* Header of a live block for the query functions, or NULL after an error. */
static mmi_header *block_query(const void *p, const char *fn, mmi_chunk **ch) {
    if (p == NULL) {
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, NULL, NULL, "NULL passed to %s", fn);
        return NULL;
    }
    return mmi_block_live(p, fn, ch);
}

size_t mm_block_size(const void *p) {
    mmi_chunk *ch;
    mmi_header *h = block_query(p, "mm_block_size", &ch);
    if (h == NULL) return 0;
    size_t size = mmi_hdr_size(h);
    mmi_arena_tool_close(h);
    return size;
}

mm_category mm_block_category(const void *p) {
    mmi_chunk *ch;
    mmi_header *h = block_query(p, "mm_block_category", &ch);
    if (h == NULL) return MM_CAT_INVALID;
    int cat = mmi_hdr_cat(h);
    mmi_arena_tool_close(h);
    return cat;
}

mm_context *mm_block_context(const void *p) {
    mmi_chunk *ch = NULL; /* set whenever h is; gcc -O3 cannot see that */
    mmi_header *h = block_query(p, "mm_block_context", &ch);
    if (h == NULL) return NULL;
    mmi_arena_tool_close(h);
    return ch ? ch->ctx : NULL;
}
