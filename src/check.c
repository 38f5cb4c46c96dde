/* Checking modes and the decorated allocation paths: guards (a canary after
 * the payload), poisoning (fills of new and freed blocks), and the tail
 * record that carries a block's allocation site and trace id. Every
 * allocation runs here while mmi_diag is nonzero, and every free or realloc
 * of a block whose header has MMI_HF_DECOR; the plain paths stay in alloc.c
 * and context.c. The block layout is drawn in header.h. */
#include "internal.h"

#include <string.h>

_Atomic unsigned mmi_diag;
_Atomic int mmi_fill = MM_FILL_NAN;
static _Atomic int check_mode = MM_CHECK_OFF;

_Atomic size_t mmi_ctx_fast_below = MMI_SMALL_MAX + 1;
static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;

unsigned mmi_diag_set(unsigned mask, bool on) {
    pthread_mutex_lock(&diag_lock); /* keeps mmi_ctx_fast_below in step with mmi_diag */
    unsigned old = mmi_load(&mmi_diag);
    unsigned now = on ? old | mask : old & ~mask;
    mmi_store(&mmi_diag, now);
    mmi_store(&mmi_ctx_fast_below, now == 0 ? MMI_SMALL_MAX + 1 : 0);
    pthread_mutex_unlock(&diag_lock);
    return old;
}

mm_check_mode mm_set_check(mm_check_mode mode) {
    mmi_options_init();
    if ((unsigned)mode > MM_CHECK_FULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_set_check: %d is not a checking mode (0..3)", (int)mode);
        return (mm_check_mode)mmi_load(&check_mode);
    }
    mm_check_mode old = (mm_check_mode)atomic_exchange(&check_mode, (int)mode);
    mmi_diag_set(MMI_DIAG_GUARDS, mode == MM_CHECK_GUARDS || mode == MM_CHECK_FULL);
    mmi_diag_set(MMI_DIAG_POISON, mode == MM_CHECK_POISON || mode == MM_CHECK_FULL);
    return old;
}

mm_check_mode mm_get_check(void) {
    mmi_options_init();
    return (mm_check_mode)mmi_load(&check_mode);
}

/* ======================================================================
 * Guards, fills, tails
 * ==================================================================== */

static void check_guard_write(mmi_header *h) {
    memset((char *)mmi_payload_of(h) + mmi_hdr_size(h), MM_GUARD_BYTE, MMI_GUARD_BYTES);
}

/* Offset of the first damaged canary byte, or -1 when intact. */
static int check_guard_damage(const mmi_header *h) {
    const unsigned char *g = (const unsigned char *)h + MMI_HEADER_BYTES + mmi_hdr_size(h);
    for (int i = 0; i < (int)MMI_GUARD_BYTES; i++)
        if (g[i] != MM_GUARD_BYTE) return i;
    return -1;
}

bool mmi_guard_intact(const mmi_header *h) {
    return check_guard_damage(h) < 0;
}

static mmi_tail *check_tail(const mmi_header *h) {
    return (mmi_tail *)((char *)(uintptr_t)h + MMI_HEADER_BYTES + mmi_tail_at(mmi_hdr_size(h), h->info));
}

/* Fill of a new block of size bytes under poison. */
static void check_fill_fresh(void *p, size_t size) {
    if (mmi_load(&mmi_fill) == MM_FILL_BYTES) {
        memset(p, MM_FRESH_BYTE, size);
        return;
    }
    uint64_t pattern = MM_FILL_NAN_PATTERN;
    unsigned char word[8];
    memcpy(word, &pattern, sizeof word); /* the payload is 16-aligned: words stay aligned */
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) memcpy(b + i, word, 8);
    for (size_t j = 0; i < size; i++, j++) b[i] = word[j];
}

/* Offset of the first byte of a poisoned freed block that is no longer the
 * free fill, or -1. The first 8 bytes hold a free-list link. */
static long check_poison_damage(const mmi_header *h) {
    const unsigned char *b = (const unsigned char *)h + MMI_HEADER_BYTES;
    size_t span = mmi_hdr_size(h); /* a freed header holds its span */
    const uint64_t fill = 0x0101010101010101ull * MM_FREED_BYTE;
    size_t i = 8;
    for (; i + 8 <= span; i += 8) { /* a word at a time (aligned: the payload is) */
        uint64_t w;
        memcpy(&w, b + i, sizeof w);
        if (w != fill) break;
    }
    for (; i < span; i++)
        if (b[i] != MM_FREED_BYTE) return (long)i;
    return -1;
}

/* The context a context block belongs to, for the error record (NULL for
 * process blocks, or when its chunk cannot be trusted). */
static const mm_context *check_owner(const mmi_header *h) {
    if (!(h->info & MMI_HF_CONTEXT)) return NULL;
    const char *why = NULL;
    const mmi_chunk *ch = mmi_context_chunk_of(h, &why);
    return ch ? ch->ctx : NULL;
}

static MMI_COLD void check_report_overrun(const mmi_header *h, const char *fn) {
    const void *p = (const char *)h + MMI_HEADER_BYTES;
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    char where[MM_NAME_MAX + 64] = "";
    if (h->info & MMI_HF_TAIL) {
        const char *file;
        int line;
        const mmi_site *s = check_tail(h)->site;
        if (s != NULL) {
            mmi_site_where(s, &file, &line);
            if (file) snprintf(where, sizeof where, ", allocated at %s:%d,", file, line);
        }
    }
    mmi_error(MM_ERR_OVERRUN, size, cat, p, check_owner(h),
              "block %p of %zu bytes in category \"%s\"%s was written past its end (guard byte "
              "%d of %d after the block overwritten), found in %s",
              p, size, mmi_cat_name(cat), where, check_guard_damage(h) + 1, (int)MMI_GUARD_BYTES,
              fn);
}

static MMI_COLD void check_report_poison(const mmi_header *h, long at, const char *fn) {
    const void *p = (const char *)h + MMI_HEADER_BYTES;
    int cat = mmi_hdr_cat(h);
    mmi_error(MM_ERR_WRITE_AFTER_FREE, mmi_hdr_size(h), cat, p, check_owner(h),
              "freed block %p (%zu bytes held, category \"%s\") was written after its free: "
              "byte %ld is no longer the free fill 0x%02X, found in %s",
              p, mmi_hdr_size(h), mmi_cat_name(cat), at, MM_FREED_BYTE, fn);
}

/* A block taken from a free list or a cache: if it was poisoned at its
 * free, its fill must be intact. The allocation goes ahead either way. */
static void check_reused(const mmi_header *h, const char *fn) {
    if (mmi_hdr_check(h) != MMI_HDR_POISONED) return;
    long at = check_poison_damage(h);
    if (at >= 0) check_report_poison(h, at, fn);
}

/* ======================================================================
 * Allocation
 * ==================================================================== */

/* Decoration flags for a new block under the current modes. */
static uint32_t check_flags(unsigned diag) {
    uint32_t f = 0;
    if (diag & MMI_DIAG_GUARDS) f |= MMI_HF_GUARD;
    if (diag & MMI_DIAG_POISON) f |= MMI_HF_POISON;
    if (diag & (MMI_DIAG_TRACE | MMI_DIAG_SITES)) f |= MMI_HF_TAIL; /* plain calls: unknown site */
    return f;
}

/* Writes header, guard and tail of a fresh block; counts it with its site. */
static void check_finish(mmi_header *h, size_t size, int cat, uint32_t flags,
                         const mmi_site *site, uint64_t id) {
    h->size_cat = mmi_pack_size_cat(size, cat);
    h->info = (h->info & ~MMI_HF_DECOR) | flags;
    mmi_hdr_seal_live(h);
    if (flags & MMI_HF_GUARD) check_guard_write(h);
    if (flags & MMI_HF_TAIL) {
        mmi_tail *t = check_tail(h);
        t->site = site;
        t->trace_id = id;
    }
}

/* A raw block with room for size bytes and the extras of flags, for ctx
 * (NULL: process-wide; its info word cleared). A block reused from a free
 * list or the cache is checked for writes after its free first (under
 * poison), and only then zeroed when zero is asked. NULL after an error. */
static mmi_header *check_get(mm_context *ctx, mmi_thread *t, size_t size, int cat, uint32_t flags,
                             bool zero, const char *fn, unsigned diag) {
    size_t span = mmi_span(size, flags);
    if (span < size) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx, "request of %zu bytes in %s", size,
                  fn);
        return NULL;
    }
    bool reused = false;
    bool zero_late = zero && (diag & MMI_DIAG_POISON);
    mmi_header *h = ctx ? mmi_context_get(ctx, span, cat, zero && !zero_late, fn, &reused)
                        : mmi_process_get(t, span, cat, zero && !zero_late, fn, &reused);
    if (h == NULL) return NULL;
    if (reused && (diag & MMI_DIAG_POISON)) check_reused(h, fn);
    if (zero_late) memset(mmi_payload_of(h), 0, size);
    if (ctx == NULL) h->info = 0;
    return h;
}

void *mmi_diag_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                     const char *file, int line) {
    if (!mmi_alloc_check(size, cat, ctx, fn)) return NULL;
    if (ctx != NULL && !mmi_context_cats(ctx, cat, fn)) return NULL;
    unsigned diag = mmi_load(&mmi_diag);
    if ((diag & MMI_DIAG_LIMITS) && !mmi_limit_check(ctx, cat, size, size, size, fn))
        return NULL;
    uint32_t flags = check_flags(diag);
    mmi_thread *t = mmi_thread_get();
    mmi_header *h = check_get(ctx, t, size, cat, flags, zero, fn, diag);
    if (h == NULL) return NULL;
    mmi_site *site = NULL;
    if ((flags & MMI_HF_TAIL) && (diag & MMI_DIAG_SITES)) {
        site = mmi_site_get(file, line, cat);
        mmi_site_alloc(site, size);
    }
    uint64_t id = (diag & MMI_DIAG_TRACE) ? mmi_trace_alloc(size, cat) : 0;
    check_finish(h, size, cat, flags, site, id);
    if ((diag & MMI_DIAG_POISON) && !zero) check_fill_fresh(mmi_payload_of(h), size);
    if (ctx) {
        if (flags & MMI_HF_TAIL) ctx->tail_blocks++;
        mmi_context_count_alloc(ctx, cat, size);
    }
    if (mmi_count_alloc(t, cat, size)) mmi_peak_process(ctx);
    return mmi_payload_of(h);
}

/* ======================================================================
 * Free
 * ==================================================================== */

/* The context chunk of a context block, or NULL after reporting why not. */
static mmi_chunk *check_chunk(mmi_header *h, const char *fn) {
    if (!(h->info & MMI_HF_CONTEXT)) return NULL;
    const char *why = NULL;
    mmi_chunk *ch = mmi_context_chunk_of(h, &why);
    if (ch == NULL) mmi_error_pointer(mmi_payload_of(h), MMI_HDR_LIVE, why, fn);
    return ch;
}

/* Gives back a block whose figures are already taken off: its header
 * becomes a plain one holding its span, and under poison its payload is
 * filled with MM_FREED_BYTE. */
static void check_release(mmi_thread *t, mmi_chunk *ch, mmi_header *h, unsigned diag) {
    size_t span = mmi_hdr_span(h);
    bool poison = ((h->info & MMI_HF_POISON) || (diag & MMI_DIAG_POISON)) &&
                  !(ch && ch->kind == MMI_CHUNK_LARGE); /* large blocks go back to the system */
    h->size_cat = mmi_pack_size_cat(span, mmi_hdr_cat(h));
    h->info &= ~MMI_HF_DECOR;
    mmi_hdr_seal_live(h);
    if (poison) memset(mmi_payload_of(h), MM_FREED_BYTE, span);
    if (ch)
        mmi_context_put(ch, h, poison);
    else
        mmi_process_put(t, h, poison);
}

void mmi_diag_free(mmi_header *h, const char *fn) {
    mmi_chunk *ch = NULL;
    if ((h->info & MMI_HF_CONTEXT) && (ch = check_chunk(h, fn)) == NULL) return;
    if ((h->info & MMI_HF_GUARD) && !mmi_guard_intact(h)) {
        check_report_overrun(h, fn);
        return;
    }
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    if (h->info & MMI_HF_TAIL) {
        mmi_tail *tl = check_tail(h);
        if (tl->site) mmi_site_free((mmi_site *)(uintptr_t)tl->site, size);
        if (tl->trace_id) mmi_trace_free(tl->trace_id);
        if (ch) ch->ctx->tail_blocks--;
    }
    mmi_thread *t = mmi_thread_get();
    if (ch) mmi_context_count_free(ch->ctx, cat, size);
    mmi_count_free(t, cat, size);
    check_release(t, ch, h, mmi_load(&mmi_diag));
}

/* ======================================================================
 * Realloc: a new block, a copy, the old block released (diagnostic runs
 * trade the system realloc's in-place growth for one code path).
 * ==================================================================== */

void *mmi_diag_realloc(mmi_header *h, size_t size, int cat, const char *fn, const char *file,
                       int line) {
    mmi_chunk *ch = NULL;
    if ((h->info & MMI_HF_CONTEXT) && (ch = check_chunk(h, fn)) == NULL) return NULL;
    if ((h->info & MMI_HF_GUARD) && !mmi_guard_intact(h)) {
        check_report_overrun(h, fn);
        return NULL;
    }
    mm_context *ctx = ch ? ch->ctx : NULL;
    if (ctx != NULL && !mmi_context_cats(ctx, cat, fn)) return NULL;
    size_t old_size = mmi_hdr_size(h);
    int old_cat = mmi_hdr_cat(h);
    unsigned diag = mmi_load(&mmi_diag);
    size_t grow_total = size > old_size ? size - old_size : 0;
    size_t grow_cat = cat != old_cat ? size : grow_total;
    if ((diag & MMI_DIAG_LIMITS) && grow_cat > 0 &&
        !mmi_limit_check(ctx, cat, grow_cat, grow_total, size, fn))
        return NULL;

    mmi_tail old_tail = {NULL, 0};
    if (h->info & MMI_HF_TAIL) old_tail = *check_tail(h);
    uint32_t flags = check_flags(diag);
    if (old_tail.site || old_tail.trace_id) flags |= MMI_HF_TAIL; /* records stay with the block */
    mmi_thread *t = mmi_thread_get();
    mmi_header *n = check_get(ctx, t, size, cat, flags, false, fn, diag);
    if (n == NULL) return NULL;
    memcpy(mmi_payload_of(n), mmi_payload_of(h), old_size < size ? old_size : size);

    /* the site: kept (moved to the new category if it changes), or given now */
    mmi_site *site = (mmi_site *)(uintptr_t)old_tail.site;
    if (site != NULL) {
        if (cat != old_cat) {
            const char *sfile;
            int sline;
            mmi_site_where(site, &sfile, &sline);
            mmi_site_free(site, old_size);
            site = mmi_site_get(sfile, sline, cat);
            mmi_site_alloc(site, size);
        } else {
            mmi_site_resize(site, old_size, size);
        }
    } else if ((flags & MMI_HF_TAIL) && (diag & MMI_DIAG_SITES)) {
        site = mmi_site_get(file, line, cat);
        mmi_site_alloc(site, size);
    }
    uint64_t id = old_tail.trace_id;
    if (diag & MMI_DIAG_TRACE) {
        if (id != 0)
            mmi_trace_realloc(id, size, cat);
        else
            id = mmi_trace_alloc(size, cat); /* the block enters the trace here */
    }
    if (ctx && (h->info & MMI_HF_TAIL)) ctx->tail_blocks--;
    check_release(t, ch, h, diag);
    check_finish(n, size, cat, flags, site, id);
    if ((diag & MMI_DIAG_POISON) && size > old_size)
        check_fill_fresh((char *)mmi_payload_of(n) + old_size, size - old_size);
    if (ctx) {
        if (flags & MMI_HF_TAIL) ctx->tail_blocks++;
        mmi_context_count_resize(ctx, old_cat, old_size, cat, size);
    }
    mmi_count_resize(t, old_cat, old_size, cat, size, ctx);
    return mmi_payload_of(n);
}

/* ======================================================================
 * Reset and destroy: tails of blocks freed without a call per block
 * ==================================================================== */

static void check_drop_tail(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg) {
    (void)arg;
    if (kind != MMI_SLOT_BLOCK || st != MMI_HDR_LIVE || !(h->info & MMI_HF_TAIL)) return;
    mmi_tail *tl = check_tail(h);
    if (tl->site) mmi_site_free((mmi_site *)(uintptr_t)tl->site, mmi_hdr_size(h));
    if (tl->trace_id) mmi_trace_free(tl->trace_id);
}

void mmi_context_drop_tails(mm_context *ctx) {
    mmi_context_walk(ctx, check_drop_tail, NULL);
    ctx->tail_blocks = 0;
}

/* ======================================================================
 * mm_check: walk what can be enumerated
 * ==================================================================== */

typedef struct {
    size_t problems; /* reported so far */
    const char *fn;  /* name for the messages */
} check_walk;

static void check_slot(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg) {
    check_walk *w = arg;
    if (kind != MMI_SLOT_BLOCK) {
        w->problems++;
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, mmi_payload_of(h), NULL,
                  "%s: %s at %p is damaged (a write past the end of the block before it, or "
                  "a stray write)",
                  w->fn, kind == MMI_SLOT_BAD_CHUNK ? "a context chunk header" : "the block header",
                  mmi_payload_of(h));
        return;
    }
    if (st == MMI_HDR_LIVE && (h->info & MMI_HF_GUARD) && !mmi_guard_intact(h)) {
        w->problems++;
        check_report_overrun(h, w->fn);
    } else if (st == MMI_HDR_POISONED) {
        long at = check_poison_damage(h);
        if (at >= 0) {
            w->problems++;
            check_report_poison(h, at, w->fn);
        }
    }
}

static void check_context_tree(const mm_context *ctx, check_walk *w) {
    mmi_context_walk(ctx, check_slot, w);
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) check_context_tree(c, w);
}

static void check_top(const mm_context *ctx, void *arg) {
    check_context_tree(ctx, arg);
}

size_t mm_check(const mm_context *ctx) {
    check_walk w = {0, "mm_check"};
    if (ctx != NULL) {
        if (!mmi_ctx_alive(ctx)) {
            mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                      "mm_check: %p is not a live context", (const void *)ctx);
            return 0;
        }
        check_context_tree(ctx, &w);
        return w.problems;
    }
    mmi_contexts_foreach(check_top, &w);
    mmi_thread *t = mmi_thread_get();
    for (unsigned bin = 0; bin < MMI_CACHE_BINS; bin++)
        for (mmi_header *h = t->cache.head[bin]; h; h = *(mmi_header **)mmi_payload_of(h))
            check_slot(h, mmi_hdr_check(h), MMI_SLOT_BLOCK, &w);
    return w.problems;
}
