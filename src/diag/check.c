/* Checking modes and the decorated allocation paths: guards (a canary after
 * the payload), poisoning (fills of new and freed blocks, free-list links
 * sealed with their blocks), and the tail record that carries a block's
 * allocation site and trace id. Every allocation runs here while mmi_diag
 * is nonzero, and every free or realloc of a block whose header has
 * MMI_HF_DECOR; a reset or destroy has its decorated blocks checked here
 * before it frees them; mm_check walks what can be enumerated. Problems
 * found by a walk are written down first and reported after it, with no
 * lock held. The block layout is drawn in block/header.h. */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

_Atomic int mmi_fill = MM_FILL_NAN;
static _Atomic int check_mode = MM_CHECK_OFF;

mm_check_mode mm_set_check(mm_check_mode mode) {
    mmi_first_use();
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
    mmi_first_use();
    return (mm_check_mode)mmi_load(&check_mode);
}

/* ======================================================================
 * Guards, fills, tails
 * ==================================================================== */

static mmi_tail *check_tail(const mmi_header *h) {
    return (mmi_tail *)((char *)(uintptr_t)h + MMI_HEADER_BYTES +
                        mmi_tail_at(mmi_hdr_size(h), h->info));
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

/* Offset of the first byte of a poisoned freed block written after its
 * free, or -1: 0 when the link in bytes 0..7 is not the one its header keeps
 * a fold of, else the first byte that is no longer the free fill. */
static long check_poison_damage(const mmi_header *h) {
    if (!mmi_hdr_link_intact(h)) return 0;
    const unsigned char *b = (const unsigned char *)h + MMI_HEADER_BYTES;
    size_t span = mmi_hdr_freed_span(h);
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

/* The context of a context block (the owner must be alive), or NULL. */
static mm_context *check_owner(const mmi_header *h) {
    if (!(h->info & MMI_HF_CONTEXT)) return NULL;
    mmi_owner_state st;
    const mmi_chunk *ch = mmi_arena_owner(h, &st);
    return ch ? ch->ctx : NULL;
}

/* " in context \"X\" (epoch \"L\")" for ctx (the caller's own), or "". */
static void check_ctx_phrase(const mm_context *ctx, char *buf, size_t len) {
    buf[0] = '\0';
    if (!mmi_ctx_alive(ctx)) return;
    if (ctx->label[0])
        snprintf(buf, len, " in context \"%s\" (epoch \"%s\")", ctx->name, ctx->label);
    else
        snprintf(buf, len, " in context \"%s\"", ctx->name);
}

/* ---- problems: written down during a walk, reported after it ---------- */

#define CHECK_MAX_HELD 64 /* problems kept word for word; later ones are counted */

typedef struct {
    mm_error_kind kind;
    size_t size;
    int cat;
    const void *ptr;
    const mm_context *ctx;
    char message[640];
} check_problem;

typedef struct {
    check_problem *held; /* [CHECK_MAX_HELD] (system malloc), or NULL */
    bool walking;        /* a walk is under way: never report from inside it */
    size_t nheld;        /* entries of held */
    size_t found;        /* all problems found */
    const char *fn;      /* name for the messages */
} check_list;

static void check_note(check_list *l, mm_error_kind kind, size_t size, int cat, const void *ptr,
                       const mm_context *ctx, const char *fmt, ...) MMI_PRINTF(7, 8);

static void check_note(check_list *l, mm_error_kind kind, size_t size, int cat, const void *ptr,
                       const mm_context *ctx, const char *fmt, ...) {
    l->found++;
    char msg[sizeof ((check_problem *)0)->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!l->walking) { /* no walk under way: report now */
        mmi_error(kind, size, cat, ptr, ctx, "%s", msg);
        return;
    }
    if (l->held == NULL || l->nheld == CHECK_MAX_HELD) return; /* counted only */
    check_problem *p = &l->held[l->nheld++];
    p->kind = kind;
    p->size = size;
    p->cat = cat;
    p->ptr = ptr;
    p->ctx = ctx;
    memcpy(p->message, msg, sizeof msg);
}

static void check_report_held(check_list *l) {
    for (size_t i = 0; i < l->nheld; i++) {
        const check_problem *p = &l->held[i];
        mmi_error(p->kind, p->size, p->cat, p->ptr, p->ctx, "%s", p->message);
    }
    if (l->found > l->nheld)
        mmi_log(MM_LOG_WARNING, "%s: %zu more problems found and not reported one by one", l->fn,
                l->found - l->nheld);
}

static void check_overrun(check_list *l, const mmi_header *h) {
    const void *p = (const char *)h + MMI_HEADER_BYTES;
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    const mm_context *ctx = check_owner(h);
    char where[MM_NAME_MAX + 64] = "", in[2 * MM_NAME_MAX + 48];
    check_ctx_phrase(ctx, in, sizeof in);
    if (h->info & MMI_HF_TAIL) {
        const char *file;
        int line;
        const mmi_site *s = check_tail(h)->site;
        if (s != NULL) {
            mmi_site_where(s, &file, &line);
            if (file) snprintf(where, sizeof where, ", allocated at %s:%d,", file, line);
        }
    }
    check_note(l, MM_ERR_OVERRUN, size, cat, p, ctx,
               "block %p of %zu bytes in category \"%s\"%s%s was written past its end (guard "
               "byte %d of %d after the block overwritten), found in %s",
               p, size, mmi_cat_name(cat), in, where, mmi_hdr_guard_damage(h) + 1,
               (int)MMI_GUARD_BYTES, l->fn);
}

static void check_poisoned(check_list *l, const mmi_header *h, long at) {
    const void *p = (const char *)h + MMI_HEADER_BYTES;
    int cat = mmi_hdr_cat(h);
    const mm_context *ctx = check_owner(h);
    char in[2 * MM_NAME_MAX + 48];
    check_ctx_phrase(ctx, in, sizeof in);
    size_t span = mmi_hdr_freed_span(h);
    if (at < 8)
        check_note(l, MM_ERR_WRITE_AFTER_FREE, span, cat, p, ctx,
                   "freed block %p (%zu bytes held, category \"%s\")%s was written after its "
                   "free: its first 8 bytes (its free-list link) changed; the link is not "
                   "followed, found in %s",
                   p, span, mmi_cat_name(cat), in, l->fn);
    else
        check_note(l, MM_ERR_WRITE_AFTER_FREE, span, cat, p, ctx,
                   "freed block %p (%zu bytes held, category \"%s\")%s was written after its "
                   "free: byte %ld is no longer the free fill 0x%02X, found in %s",
                   p, span, mmi_cat_name(cat), in, at, MM_FREED_BYTE, l->fn);
}

/* A freed block whose seal no longer holds (its header, or the free-list
 * link in its first 8 bytes, was written after its free). */
static void check_bad_link(check_list *l, const mmi_header *h) {
    const void *p = (const char *)h + MMI_HEADER_BYTES;
    check_note(l, MM_ERR_WRITE_AFTER_FREE, 0, MM_CAT_INVALID, p, NULL,
               "freed block %p was written after its free: its first 8 bytes (the free-list "
               "link) or its header changed; the blocks behind it on its free list are left "
               "unused, never followed, found in %s",
               p, l->fn);
}

/* A block taken from a free list or a cache: if it was poisoned at its
 * free, its fill must be intact. The allocation goes ahead either way. */
static void check_reused(const mmi_header *h, const char *fn) {
    if (mmi_hdr_check(h) != MMI_HDR_POISONED) return;
    long at = check_poison_damage(h);
    if (at >= 0) {
        check_list l = {NULL, false, 0, 0, fn};
        check_poisoned(&l, h, at);
    }
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

/* Writes header, guard and tail of a fresh block. */
static void check_finish(mmi_header *h, size_t size, int cat, uint32_t flags,
                         const mmi_site *site, uint64_t id) {
    h->size_cat = mmi_pack_size_cat(size, cat);
    h->info = (h->info & ~MMI_HF_DECOR) | flags;
    mmi_hdr_seal_live(h);
    if (flags & MMI_HF_GUARD)
        memset((char *)mmi_payload_of(h) + size, MM_GUARD_BYTE, MMI_GUARD_BYTES);
    if (flags & MMI_HF_TAIL) {
        mmi_tail *t = check_tail(h);
        t->site = site;
        t->trace_id = id;
    }
}

/* The counts a reset uses to decide whether its blocks need a walk. */
static void check_count_decor(mm_context *ctx, uint32_t flags, int delta) {
    if (ctx == NULL) return;
    if (flags & MMI_HF_TAIL) ctx->tail_blocks += (size_t)delta;
    if (flags & (MMI_HF_GUARD | MMI_HF_POISON)) ctx->decor_blocks += (size_t)delta;
}

/* A raw block with room for size bytes and the extras of flags, for ctx
 * (NULL: process-wide). A block reused from a free list or the cache is
 * checked for writes after its free first (under poison), and only then
 * zeroed when zero is asked. NULL after an error. */
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
    mmi_header *bad = NULL;
    mmi_header *h = ctx ? mmi_context_get(ctx, span, cat, zero && !zero_late, fn, &reused, &bad)
                        : mmi_process_get(t, span, cat, zero && !zero_late, fn, &reused, &bad);
    if (bad != NULL) {
        check_list l = {NULL, false, 0, 0, fn};
        check_bad_link(&l, bad);
        /* a process block hit only in its link is otherwise whole: back to
         * the system (the blocks behind it stay abandoned) */
        if (ctx == NULL && mmi_hdr_check(bad) == MMI_HDR_FREED) mmi_process_release(bad);
    }
    if (h == NULL) return NULL;
    if (reused) {
        if (ctx && mmi_hdr_check(h) == MMI_HDR_POISONED) ctx->decor_blocks--; /* left the list */
        if (diag & MMI_DIAG_POISON) check_reused(h, fn);
    }
    if (zero_late) memset(mmi_payload_of(h), 0, size);
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
    mmi_thread *t = mmi_tls; /* the caller made it */
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
        check_count_decor(ctx, flags, 1);
        mmi_ctx_count_alloc(ctx, cat, size);
    }
    mmi_count_alloc(t, cat, size, ctx == NULL); /* a context counts its own calls */
    t->where = ctx;
    return mmi_payload_of(h);
}

/* ======================================================================
 * Free
 * ==================================================================== */

/* Gives back a block whose figures are already taken off: its header
 * becomes a plain one holding its span, and under poison its payload is
 * filled with MM_FREED_BYTE and its link sealed with it. */
static void check_release(mmi_thread *t, mmi_chunk *ch, mmi_header *h, unsigned diag) {
    size_t span = mmi_hdr_span(h);
    bool large = ch ? ch->kind == MMI_CHUNK_LARGE : (h->info & MMI_HF_BIG) != 0;
    /* big blocks go back to the system: nothing to poison */
    bool poison = ((h->info & MMI_HF_POISON) || (diag & MMI_DIAG_POISON)) && !large;
    h->size_cat = mmi_pack_size_cat(span, mmi_hdr_cat(h));
    h->info &= ~MMI_HF_DECOR;
    mmi_hdr_seal_live(h);
    if (poison) memset(mmi_payload_of(h), MM_FREED_BYTE, span);
    if (ch) {
        if (poison) ch->ctx->decor_blocks++; /* a poisoned block waits on a free list */
        mmi_context_put(ch, h, poison);
    } else {
        mmi_process_put(t, h, poison);
    }
}

/* The first checks of a free or realloc of the live block h: its owner (a
 * context block whose chunk no longer names it is reported) and its guard
 * (an overrun is reported). False after either report; *ch is the chunk of
 * a context block, else NULL. */
static bool check_block_usable(mmi_header *h, const char *fn, mmi_chunk **ch) {
    *ch = NULL;
    if (h->info & MMI_HF_CONTEXT) {
        mmi_owner_state owner;
        *ch = mmi_arena_owner(h, &owner);
        if (*ch == NULL) {
            mmi_error_pointer(mmi_payload_of(h), MMI_HDR_LIVE, owner, fn);
            return false;
        }
    }
    if ((h->info & MMI_HF_GUARD) && mmi_hdr_guard_damage(h) >= 0) {
        check_list l = {NULL, false, 0, 0, fn};
        check_overrun(&l, h);
        return false;
    }
    return true;
}

void mmi_diag_free(mmi_header *h, const char *fn) {
    mmi_chunk *ch;
    if (!check_block_usable(h, fn, &ch)) return;
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    if (h->info & MMI_HF_TAIL) {
        mmi_tail *tl = check_tail(h);
        if (tl->site) mmi_site_free((mmi_site *)(uintptr_t)tl->site, size);
        if (tl->trace_id) mmi_trace_free(tl->trace_id);
    }
    mmi_thread *t = mmi_tls;
    if (ch) {
        check_count_decor(ch->ctx, h->info, -1);
        mmi_context_count_free(ch->ctx, cat, size);
    }
    if (mmi_count_free(t, cat, size, ch == NULL)) mmi_peak_process(t->where, cat, size, 0, 0);
    check_release(t, ch, h, mmi_load(&mmi_diag));
}

/* ======================================================================
 * Realloc. A decorated block is resized where the plain path resizes it:
 * in its slot when the new span keeps the slot's size class, by the
 * system's realloc for a small process block or a big one (which grows and
 * shrinks in place, or moves the pages without copying them, where it can);
 * then its guard and tail are written at the new end. Where the plain path
 * moves (another size class, small to big or back) it moves: a new block, a
 * copy, the old block released. One exception: under poison a small process
 * block whose capacity changes also moves, so the block left behind is
 * poisoned and checked at its reuse (the system's realloc would hand it
 * back unfilled); it is at most 32 KiB.
 * ==================================================================== */

/* h (chunk ch, or NULL: a process block) resized to hold span bytes the
 * way the plain path does it, keeping the payload up to the smaller size:
 * the header (moved or not), or NULL when the plain path would move the
 * block here (*oom false) or the system is out of memory (*oom true; h is
 * then untouched and still holds the block). */
static mmi_header *check_resize(mmi_chunk *ch, mmi_header *h, size_t span, int cat, bool poison,
                                bool *oom) {
    *oom = false;
    size_t old_span = mmi_hdr_span(h);
    mmi_header *n;
    if (ch != NULL && ch->kind == MMI_CHUNK_SMALL) { /* the slot's class is old_span's */
        bool same = span <= MMI_SMALL_MAX && mmi_size_class(span) == mmi_size_class(old_span);
        return same ? h : NULL;
    }
    if (ch != NULL) {
        if (span <= MMI_SMALL_MAX) return NULL;
        n = mmi_arena_large_realloc(&ch->ctx->arena, ch, span, cat, ch->ctx);
    } else if (h->info & MMI_HF_BIG) {
        if (span <= MMI_CACHE_MAX_REQUEST) return NULL;
        n = mmi_big_realloc(h, 0, span, cat, NULL);
    } else {
        if (span > MMI_CACHE_MAX_REQUEST) return NULL;
        if (mmi_process_capacity(span) == mmi_process_capacity(old_span)) return h;
        if (poison) return NULL;
        n = mmi_process_sys_resize(h, span, cat);
    }
    *oom = n == NULL;
    return n;
}

void *mmi_diag_realloc(mmi_header *h, size_t size, int cat, const char *fn, const char *file,
                       int line) {
    mmi_chunk *ch;
    if (!check_block_usable(h, fn, &ch)) return NULL;
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
    size_t span = mmi_span(size, flags);
    if (span < size) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx, "request of %zu bytes in %s", size,
                  fn);
        return NULL;
    }
    mmi_thread *t = mmi_tls;
    uint32_t old_info = h->info;
    bool poison = (old_info & MMI_HF_POISON) || (diag & MMI_DIAG_POISON);
    bool oom;
    mmi_header *n = check_resize(ch, h, span, cat, poison, &oom);
    if (oom) {
        mmi_error_oom(span, cat, ctx, fn);
        return NULL;
    }
    if (n == NULL) { /* where the plain path moves too */
        n = check_get(ctx, t, size, cat, flags, false, fn, diag);
        if (n == NULL) return NULL;
        memcpy(mmi_payload_of(n), mmi_payload_of(h), old_size < size ? old_size : size);
        check_release(t, ch, h, diag);
    }
    /* h is now n, or released: only old_info and old_tail remain of it */

    /* the site: kept (moved to the new category if it changes), or given now */
    mmi_site *site = (mmi_site *)(uintptr_t)old_tail.site;
    if (site != NULL) {
        if (cat != old_cat) {
            mmi_site_free(site, old_size);
            site = mmi_site_recat(site, cat);
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
    check_count_decor(ctx, old_info, -1);
    check_finish(n, size, cat, flags, site, id);
    if ((diag & MMI_DIAG_POISON) && size > old_size)
        check_fill_fresh((char *)mmi_payload_of(n) + old_size, size - old_size);
    if (ctx) {
        check_count_decor(ctx, flags, 1);
        mmi_context_count_resize(ctx, old_cat, old_size, cat, size);
    }
    t->where = ctx;
    if (mmi_count_resize(t, old_cat, old_size, cat, size, ctx == NULL))
        mmi_peak_process(ctx, old_cat, old_size, cat, size);
    return mmi_payload_of(n);
}

/* ======================================================================
 * Walks: reset and destroy (the blocks they free), and mm_check
 * ==================================================================== */

typedef struct {
    check_list list;  /* problems found */
    bool drop_tails;  /* take sites and trace ids off (a reset or destroy) */
} check_walk;

static void check_slot(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg) {
    check_walk *w = arg;
    if (kind != MMI_SLOT_BLOCK) {
        check_note(&w->list, MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, mmi_payload_of(h), NULL,
                   "%s: %s at %p is damaged (a write past the end of the block before it, or a "
                   "stray write)",
                   w->list.fn,
                   kind == MMI_SLOT_BAD_CHUNK ? "a context chunk header" : "the block header",
                   mmi_payload_of(h));
        return;
    }
    if (st == MMI_HDR_LIVE) {
        if ((h->info & MMI_HF_GUARD) && mmi_hdr_guard_damage(h) >= 0) check_overrun(&w->list, h);
        if (w->drop_tails && (h->info & MMI_HF_TAIL)) {
            mmi_tail *tl = check_tail(h);
            if (tl->site) mmi_site_free((mmi_site *)(uintptr_t)tl->site, mmi_hdr_size(h));
            if (tl->trace_id) mmi_trace_free(tl->trace_id);
        }
    } else if (st == MMI_HDR_POISONED) {
        long at = check_poison_damage(h);
        if (at >= 0) check_poisoned(&w->list, h, at);
    }
}

static void check_walk_begin(check_walk *w, const char *fn, bool drop) {
    w->list.held = mmi_sys_malloc(CHECK_MAX_HELD * sizeof *w->list.held, MMI_SYS_EXEMPT, NULL);
    w->list.walking = true;
    w->list.nheld = w->list.found = 0;
    w->list.fn = fn;
    w->drop_tails = drop;
}

static void check_walk_end(check_walk *w) {
    check_report_held(&w->list);
    mmi_sys_free(w->list.held);
}

void mmi_diag_release(mm_context *ctx, const char *fn) {
    check_walk w;
    check_walk_begin(&w, fn, true);
    mmi_arena_walk(&ctx->arena, ctx, check_slot, &w);
    ctx->tail_blocks = 0;
    ctx->decor_blocks = 0;
    check_walk_end(&w); /* the blocks are still there: the handler may look */
}

static void check_context_tree(const mm_context *ctx, check_walk *w) {
    mmi_arena_walk(&ctx->arena, ctx, check_slot, w);
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) check_context_tree(c, w);
}

static void check_top(const mm_context *ctx, void *arg) {
    check_context_tree(ctx, arg);
}

size_t mm_check(const mm_context *ctx) {
    mmi_first_use();
    if (ctx != NULL && !mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_check");
        return 0;
    }
    check_walk w;
    check_walk_begin(&w, "mm_check", false);
    if (ctx != NULL) {
        mmi_contexts_lock(); /* the structure of the tree, against readers' view of it */
        check_context_tree(ctx, &w);
        mmi_contexts_unlock();
    } else {
        mmi_contexts_read(check_top, &w);
        mmi_thread *t = mmi_tls;
        for (unsigned bin = 0; t && bin < MMI_CACHE_BINS; bin++) {
            for (mmi_header *h = t->cache.head[bin]; h;) {
                mmi_hdr_state st = mmi_hdr_check(h);
                if (st == MMI_HDR_BAD) { /* never followed */
                    check_bad_link(&w.list, h);
                    break;
                }
                check_slot(h, st, MMI_SLOT_BLOCK, &w);
                if (st == MMI_HDR_POISONED && !mmi_hdr_link_intact(h)) break; /* reported */
                h = mmi_hdr_link(h);
            }
        }
    }
    size_t found = w.list.found;
    check_walk_end(&w); /* reported with no lock held */
    return found;
}
