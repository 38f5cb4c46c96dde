/* Memory contexts: per-forest (and per-module) scopes whose blocks are carved
 * from chunks the context owns, so reset and destroy cost per chunk, not per
 * block. Small blocks (<= 256 KiB) come from size-class free lists or a bump
 * pointer; larger ones are allocations of their own on a doubly linked list.
 * Thread rule: everything here runs on the thread that owns the context; the
 * only shared state (top-level list, chunk cache, dead-context queue) is
 * behind ctx_lock and touched only on create/destroy and chunk refills. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define CTX_FIRST_CHUNK     ((size_t)8 * 1024)    /* first chunk a context gets */
#define CTX_MAX_CHUNK       ((size_t)1024 * 1024) /* chunks grow by doubling up to this */
#define CTX_CACHE_MAX_BYTES ((size_t)64 << 20)    /* dead contexts' chunks kept for reuse */
#define CTX_DEAD_KEEP       64                    /* destroyed context structs kept */

_Static_assert(sizeof(mmi_chunk) == 64, "chunk header keeps payloads 16-aligned");

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_context *ctx_top;       /* live top-level contexts (sibling links); ctx_lock */
static mmi_chunk *ctx_cache;      /* chunks of destroyed contexts; ctx_lock */
static size_t ctx_cache_bytes;    /* bytes in ctx_cache; ctx_lock */
static mm_context *ctx_dead_head; /* destroyed contexts, oldest first; ctx_lock */
static mm_context *ctx_dead_tail; /* newest destroyed context; ctx_lock */
static int ctx_dead_count;        /* entries in the dead queue; ctx_lock */

/* ======================================================================
 * Counting: the context, its ancestors' subtree figures, the process
 * ==================================================================== */

static inline void ctx_grow(mmi_ccount *c, size_t bytes) {
    c->bytes += bytes;
    if (c->bytes > c->peak) c->peak = c->bytes;
}

/* An allocation of bytes in category cat of ctx: ctx's own figure, then the
 * subtree figures of ctx and every ancestor. Returns true when one of them
 * passed its next peak-composition mark: the caller then calls ctx_peaks
 * last, so the loop itself makes no call and keeps its registers. */
static inline bool ctx_count_alloc(mm_context *ctx, int cat, size_t bytes) {
    ctx->self_bytes += bytes;
    if (ctx->self_bytes > ctx->self_peak) ctx->self_peak = ctx->self_bytes;
    mm_context *p = ctx;
    bool comp = false;
    do {
        p->tree.bytes += bytes;
        if (p->tree.bytes > p->tree.peak) { /* only a new peak can pass the mark */
            p->tree.peak = p->tree.bytes;
            if (MMI_UNLIKELY(p->tree.bytes >= p->comp_next)) comp = true;
        }
        p->tree.allocs++;
        ctx_grow(&p->cats[cat].tree, bytes);
        p->cats[cat].tree.allocs++;
    } while ((p = p->parent) != NULL);
    return comp;
}

/* Records the peak composition of the process (when its mark was passed)
 * and of every context from ctx up whose figure passed its mark (peak.c). */
static MMI_COLD void ctx_peaks(mm_context *ctx) {
    mmi_peak_process(ctx); /* checks its own mark */
    for (mm_context *p = ctx; p; p = p->parent)
        if (p->tree.bytes >= p->comp_next) mmi_peak_context(p, ctx);
}

/* blocks blocks of bytes bytes in total left category cat of ctx by free,
 * reset or destroy. */
static inline void ctx_count_free(mm_context *ctx, int cat, size_t bytes, uint64_t blocks) {
    ctx->self_bytes -= bytes;
    for (mm_context *p = ctx; p; p = p->parent) {
        p->tree.bytes -= bytes;
        p->tree.frees += blocks;
        p->cats[cat].tree.bytes -= bytes;
        p->cats[cat].tree.frees += blocks;
    }
}

/* A block of ctx went from old_bytes in old_cat to new_bytes in new_cat. */
static void ctx_count_resize(mm_context *ctx, int old_cat, size_t old_bytes, int new_cat,
                             size_t new_bytes) {
    ctx->self_bytes += new_bytes - old_bytes; /* modular: exact whichever is larger */
    if (ctx->self_bytes > ctx->self_peak) ctx->self_peak = ctx->self_bytes;
    for (mm_context *p = ctx; p; p = p->parent) {
        p->tree.bytes -= old_bytes;
        ctx_grow(&p->tree, new_bytes);
        p->cats[old_cat].tree.bytes -= old_bytes;
        ctx_grow(&p->cats[new_cat].tree, new_bytes);
        if (old_cat != new_cat) {
            p->cats[old_cat].tree.moved--;
            p->cats[new_cat].tree.moved++;
        }
    }
    for (mm_context *p = ctx; p; p = p->parent)
        if (p->tree.bytes >= p->comp_next) mmi_peak_context(p, ctx);
}

void mmi_context_count_alloc(mm_context *ctx, int cat, size_t bytes) {
    if (ctx_count_alloc(ctx, cat, bytes))
        for (mm_context *p = ctx; p; p = p->parent)
            if (p->tree.bytes >= p->comp_next) mmi_peak_context(p, ctx);
}

void mmi_context_count_free(mm_context *ctx, int cat, size_t bytes) {
    ctx_count_free(ctx, cat, bytes, 1);
}

void mmi_context_count_resize(mm_context *ctx, int old_cat, size_t old_bytes, int new_cat,
                              size_t new_bytes) {
    ctx_count_resize(ctx, old_cat, old_bytes, new_cat, new_bytes);
}

/* Makes ctx and its ancestors able to count category cat. */
static MMI_NOINLINE bool ctx_grow_cats(mm_context *ctx, int cat, const char *fn) {
    for (mm_context *p = ctx; p; p = p->parent) {
        if (cat < p->ncap) continue;
        int ncap = p->ncap ? p->ncap : 16;
        while (ncap <= cat) ncap *= 2;
        if (ncap > MM_CATEGORY_MAX) ncap = MM_CATEGORY_MAX;
        mmi_ccat *n = mmi_sys_realloc(p->cats, (size_t)ncap * sizeof *n, MM_CAT_INVALID, ctx);
        if (n == NULL) {
            mmi_error_oom((size_t)ncap * sizeof *n, cat, ctx, fn);
            return false;
        }
        memset(n + p->ncap, 0, (size_t)(ncap - p->ncap) * sizeof *n);
        p->cats = n;
        p->ncap = ncap;
    }
    /* ancestors never have fewer entries than ctx (they grow for every id any
     * descendant uses), so ids below ncounted are safe all the way up */
    int registered = mm_category_count();
    ctx->ncounted = ctx->ncap < registered ? ctx->ncap : registered;
    return true;
}

bool mmi_context_cats(mm_context *ctx, int cat, const char *fn) {
    return cat < ctx->ncounted || ctx_grow_cats(ctx, cat, fn);
}

static MMI_COLD void ctx_error_dead(const mm_context *ctx, const char *fn) {
    if (ctx == NULL)
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, NULL, "%s: context is NULL", fn);
    else
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "%s: %p is not a live context (destroyed, or never created)", fn,
                  (const void *)ctx);
}

/* ======================================================================
 * Chunks
 * ==================================================================== */

static void ctx_chunk_init(mm_context *ctx, mmi_chunk *ch, uint32_t kind) {
    ch->magic = mmi_chunk_magic(ch);
    ch->kind = kind;
    ch->ctx = ctx;
    ch->prev = NULL;
    ch->limit = (char *)(ch + 1);
}

/* Takes a chunk with room for need bytes from the dead contexts' cache. */
static mmi_chunk *ctx_cache_take(size_t need) {
    mmi_chunk *found = NULL;
    pthread_mutex_lock(&ctx_lock);
    for (mmi_chunk **pp = &ctx_cache; *pp; pp = &(*pp)->next) {
        if ((*pp)->bytes - sizeof(mmi_chunk) >= need) {
            found = *pp;
            *pp = found->next;
            ctx_cache_bytes -= found->bytes;
            break;
        }
    }
    pthread_mutex_unlock(&ctx_lock);
    return found;
}

/* Makes a chunk with at least need free bytes current. */
static MMI_NOINLINE bool ctx_refill(mm_context *ctx, size_t need, size_t size, int cat,
                                    const char *fn) {
    if (ctx->chunks) ctx->chunks->limit = ctx->bump;
    mmi_chunk *ch = NULL;
    for (mmi_chunk **pp = &ctx->spare; *pp; pp = &(*pp)->next) {
        if ((*pp)->bytes - sizeof(mmi_chunk) >= need) {
            ch = *pp;
            *pp = ch->next;
            break;
        }
    }
    if (ch == NULL && (ch = ctx_cache_take(need)) != NULL) ctx->chunk_bytes += ch->bytes;
    if (ch == NULL) {
        size_t bytes = ctx->next_chunk_bytes;
        while (bytes - sizeof(mmi_chunk) < need) bytes *= 2;
        ch = mmi_sys_malloc(bytes, cat, ctx);
        if (ch == NULL) {
            mmi_error_oom(size, cat, ctx, fn);
            return false;
        }
        ch->bytes = bytes;
        ctx->chunk_bytes += bytes;
        if (ctx->next_chunk_bytes < CTX_MAX_CHUNK) ctx->next_chunk_bytes *= 2;
    }
    ctx_chunk_init(ctx, ch, MMI_CHUNK_SMALL);
    ch->next = ctx->chunks;
    ctx->chunks = ch;
    ctx->bump = (char *)(ch + 1);
    ctx->bump_end = (char *)ch + ch->bytes;
    return true;
}

/* A block with room for size bytes, header info set; size_cat and seal are the
 * caller's. NULL after an out-of-memory error. */
static inline mmi_header *ctx_get_block(mm_context *ctx, size_t size, int cat, bool zero,
                                        const char *fn, bool *reused) {
    mmi_header *h;
    *reused = false;
    if (MMI_LIKELY(size <= MMI_SMALL_MAX)) {
        unsigned k = mmi_size_class(size);
        void *f = ctx->freelist[k];
        if (f != NULL) {
            ctx->freelist[k] = *(void **)f;
            h = mmi_hdr_of(f);
            *reused = true;
        } else {
            size_t need = MMI_HEADER_BYTES + mmi_class_bytes(k);
            if (MMI_UNLIKELY((size_t)(ctx->bump_end - ctx->bump) < need) &&
                !ctx_refill(ctx, need, size, cat, fn))
                return NULL;
            h = (mmi_header *)ctx->bump;
            ctx->bump += need;
            h->info = MMI_HF_CONTEXT |
                      (uint32_t)(((uintptr_t)h - (uintptr_t)ctx->chunks) >> 4 << MMI_DIST_SHIFT);
        }
        if (zero) memset(mmi_payload_of(h), 0, size);
        return h;
    }
    size_t total = sizeof(mmi_chunk) + MMI_HEADER_BYTES + size;
    if (total < size) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx, "request of %zu bytes in %s", size,
                  fn);
        return NULL;
    }
    mmi_chunk *ch = zero ? mmi_sys_calloc(total, cat, ctx) : mmi_sys_malloc(total, cat, ctx);
    if (ch == NULL) {
        mmi_error_oom(size, cat, ctx, fn);
        return NULL;
    }
    ctx_chunk_init(ctx, ch, MMI_CHUNK_LARGE);
    ch->bytes = total;
    ch->next = ctx->large;
    if (ctx->large) ctx->large->prev = ch;
    ctx->large = ch;
    h = (mmi_header *)(ch + 1);
    h->info = MMI_HF_CONTEXT | (uint32_t)(sizeof(mmi_chunk) >> 4 << MMI_DIST_SHIFT);
    return h;
}

static void ctx_unlink_large(mm_context *ctx, mmi_chunk *ch) {
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        ctx->large = ch->next;
    if (ch->next) ch->next->prev = ch->prev;
}

mmi_header *mmi_context_get(mm_context *ctx, size_t span, int cat, bool zero, const char *fn,
                            bool *reused) {
    return ctx_get_block(ctx, span, cat, zero, fn, reused);
}

/* Gives a block back to its context (no counting). */
static inline void ctx_put_block(mm_context *ctx, mmi_chunk *ch, mmi_header *h) {
    if (ch->kind == MMI_CHUNK_LARGE) {
        ctx_unlink_large(ctx, ch);
        mmi_sys_free(ch);
        return;
    }
    unsigned k = mmi_size_class(mmi_hdr_size(h));
    mmi_hdr_live_to_freed(h); /* callers pass a verified live header */
    void *payload = mmi_payload_of(h);
    *(void **)payload = ctx->freelist[k];
    ctx->freelist[k] = payload;
}

void mmi_context_put(mmi_chunk *ch, mmi_header *h, bool poisoned) {
    mm_context *ctx = ch->ctx;
    bool large = ch->kind == MMI_CHUNK_LARGE;
    ctx_put_block(ctx, ch, h);
    if (poisoned && !large) h->seal ^= MMI_SEAL_FREED ^ MMI_SEAL_POISONED;
}

mmi_chunk *mmi_context_chunk_of(const mmi_header *h, const char **why) {
    mmi_chunk *ch = (mmi_chunk *)((uintptr_t)h - ((uintptr_t)(h->info >> MMI_DIST_SHIFT) << 4));
    if (ch->magic != mmi_chunk_magic(ch) ||
        (ch->kind != MMI_CHUNK_SMALL && ch->kind != MMI_CHUNK_LARGE)) {
        *why = "the header of its context chunk is damaged";
        return NULL;
    }
    if (ch->ctx == NULL) {
        *why = "released when its context was destroyed";
        return NULL;
    }
    if (ch->kind == MMI_CHUNK_SMALL) {
        const char *limit = ch == ch->ctx->chunks ? ch->ctx->bump : ch->limit;
        if ((const char *)h >= limit) {
            *why = "released by a reset of its context";
            return NULL;
        }
    }
    return ch;
}

/* ======================================================================
 * Allocation, free, realloc of context blocks
 * ==================================================================== */

/* The fast path of mm_context_malloc: a live context that already counts cat,
 * a small block, a free-list hit or room in the current chunk. Everything
 * else (errors, NULL context, refills, large blocks) goes the general way. */
void *mm_context_malloc(mm_context *ctx, size_t size, mm_category cat) {
    if (MMI_LIKELY(ctx != NULL && ctx->magic == MMI_CTX_ALIVE &&
                   (unsigned)cat < (unsigned)ctx->ncounted &&
                   size < mmi_load(&mmi_ctx_fast_below))) {
        unsigned k = mmi_size_class(size);
        void *f = ctx->freelist[k];
        mmi_header *h = NULL;
        if (f != NULL) {
            ctx->freelist[k] = *(void **)f;
            h = mmi_hdr_of(f);
        } else if ((size_t)(ctx->bump_end - ctx->bump) >= MMI_HEADER_BYTES + mmi_class_bytes(k)) {
            h = (mmi_header *)ctx->bump;
            ctx->bump += MMI_HEADER_BYTES + mmi_class_bytes(k);
            h->info = MMI_HF_CONTEXT |
                      (uint32_t)(((uintptr_t)h - (uintptr_t)ctx->chunks) >> 4 << MMI_DIST_SHIFT);
        }
        if (MMI_LIKELY(h != NULL)) {
            h->size_cat = mmi_pack_size_cat(size, cat);
            mmi_hdr_seal_live(h);
            if (MMI_UNLIKELY(ctx_count_alloc(ctx, cat, size))) ctx_peaks(ctx);
            if (MMI_UNLIKELY(mmi_count_alloc(mmi_thread_get(), cat, size))) mmi_peak_process(ctx);
            return mmi_payload_of(h);
        }
    }
    return mmi_context_malloc_slow(ctx, size, cat);
}

void *mmi_context_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn) {
    if (MMI_UNLIKELY(!mmi_ctx_alive(ctx))) {
        ctx_error_dead(ctx, fn);
        return NULL;
    }
    if (MMI_UNLIKELY(mmi_load(&mmi_diag) != 0))
        return mmi_diag_alloc(ctx, size, cat, zero, fn, NULL, 0);
    if (MMI_UNLIKELY(cat >= ctx->ncounted) && !ctx_grow_cats(ctx, cat, fn)) return NULL;
    bool reused;
    mmi_header *h = ctx_get_block(ctx, size, cat, zero, fn, &reused);
    if (MMI_UNLIKELY(h == NULL)) return NULL;
    h->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(h);
    bool comp = ctx_count_alloc(ctx, cat, size);
    comp |= mmi_count_alloc(mmi_thread_get(), cat, size);
    if (MMI_UNLIKELY(comp)) ctx_peaks(ctx);
    return mmi_payload_of(h);
}

void mmi_context_free(mmi_header *h, const char *fn) {
    const char *why = NULL;
    mmi_chunk *ch = mmi_context_chunk_of(h, &why);
    if (MMI_UNLIKELY(ch == NULL)) {
        mmi_error_pointer(mmi_payload_of(h), MMI_HDR_LIVE, why, fn);
        return;
    }
    mm_context *ctx = ch->ctx;
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    ctx_count_free(ctx, cat, size, 1);
    mmi_count_free(mmi_thread_get(), cat, size);
    ctx_put_block(ctx, ch, h);
}

void *mmi_context_realloc(mmi_header *h, size_t size, int cat, const char *fn) {
    const char *why = NULL;
    mmi_chunk *ch = mmi_context_chunk_of(h, &why);
    if (MMI_UNLIKELY(ch == NULL)) {
        mmi_error_pointer(mmi_payload_of(h), MMI_HDR_LIVE, why, fn);
        return NULL;
    }
    mm_context *ctx = ch->ctx;
    if (MMI_UNLIKELY(cat >= ctx->ncap) && !ctx_grow_cats(ctx, cat, fn)) return NULL;
    size_t old_size = mmi_hdr_size(h);
    int old_cat = mmi_hdr_cat(h);
    mmi_header *n;
    if (ch->kind == MMI_CHUNK_SMALL && size <= MMI_SMALL_MAX &&
        mmi_size_class(size) == mmi_size_class(old_size)) {
        n = h; /* fits the same slot */
    } else if (ch->kind == MMI_CHUNK_LARGE && size > MMI_SMALL_MAX) {
        mmi_chunk *prev = ch->prev, *next = ch->next;
        mmi_chunk *nc = mmi_sys_realloc(ch, sizeof(mmi_chunk) + MMI_HEADER_BYTES + size, cat, ctx);
        if (nc == NULL) {
            mmi_error_oom(size, cat, ctx, fn);
            return NULL;
        }
        nc->magic = mmi_chunk_magic(nc);
        nc->bytes = sizeof(mmi_chunk) + MMI_HEADER_BYTES + size;
        if (prev)
            prev->next = nc;
        else
            ctx->large = nc;
        if (next) next->prev = nc;
        n = (mmi_header *)(nc + 1);
    } else {
        bool reused;
        n = ctx_get_block(ctx, size, cat, false, fn, &reused);
        if (n == NULL) return NULL;
        memcpy(mmi_payload_of(n), mmi_payload_of(h), old_size < size ? old_size : size);
        ctx_put_block(ctx, ch, h);
    }
    n->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(n);
    ctx_count_resize(ctx, old_cat, old_size, cat, size);
    mmi_count_resize(mmi_thread_get(), old_cat, old_size, cat, size, ctx);
    return mmi_payload_of(n);
}

/* ======================================================================
 * Create, reset, destroy
 * ==================================================================== */

/* Copies at most MM_NAME_MAX bytes, never cutting a UTF-8 character. */
static void ctx_copy_name(char *dst, const char *src) {
    size_t n = strlen(src);
    if (n > MM_NAME_MAX) {
        n = MM_NAME_MAX;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

mm_context *mm_context_create(const char *name, mm_context *parent) {
    mmi_options_init(); /* a trace opened by the environment sees this context's F line */
    if (parent != NULL && !mmi_ctx_alive(parent)) {
        ctx_error_dead(parent, "mm_context_create (parent)");
        return NULL;
    }
    mm_context *ctx = NULL;
    pthread_mutex_lock(&ctx_lock);
    if (ctx_dead_count >= CTX_DEAD_KEEP) { /* reuse the oldest destroyed context */
        ctx = ctx_dead_head;
        ctx_dead_head = ctx->next_sibling;
        if (ctx_dead_head == NULL) ctx_dead_tail = NULL;
        ctx_dead_count--;
    }
    pthread_mutex_unlock(&ctx_lock);
    if (ctx == NULL && (ctx = mmi_sys_malloc(sizeof *ctx, MM_CAT_INVALID, NULL)) == NULL) {
        mmi_error_oom(sizeof *ctx, MM_CAT_UTILITY, parent, "mm_context_create");
        return NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    ctx->epochs = mmi_epochs_new();
    if (ctx->epochs == NULL) {
        mmi_sys_free(ctx);
        mmi_error_oom(sizeof *ctx, MM_CAT_UTILITY, parent, "mm_context_create");
        return NULL;
    }
    ctx->magic = MMI_CTX_ALIVE;
    ctx_copy_name(ctx->name, name ? name : "context");
    ctx->retain_bytes = SIZE_MAX;
    ctx->next_chunk_bytes = CTX_FIRST_CHUNK;
    ctx->comp_next = mmi_load(&mmi_peak_step);
    ctx->parent = parent;
    if (parent) {
        ctx->next_sibling = parent->first_child;
        if (parent->first_child) parent->first_child->prev_sibling = ctx;
        parent->first_child = ctx;
    } else {
        pthread_mutex_lock(&ctx_lock);
        ctx->next_sibling = ctx_top;
        if (ctx_top) ctx_top->prev_sibling = ctx;
        ctx_top = ctx;
        pthread_mutex_unlock(&ctx_lock);
        if (mmi_load(&mmi_diag) & MMI_DIAG_TRACE) mmi_trace_forest();
    }
    return ctx;
}

/* Frees every block of ctx itself (not its children): takes them off the
 * process and ancestor figures, returns large blocks to the system and
 * rewinds every chunk. */
static void ctx_release_blocks(mm_context *ctx, mmi_thread *t) {
    if (ctx->tail_blocks) mmi_context_drop_tails(ctx); /* sites and trace lines */
    /* the children are gone, so the subtree figures are ctx's own blocks */
    for (int c = 0; c < ctx->ncap; c++) {
        const mmi_ccount *cc = &ctx->cats[c].tree;
        size_t bytes = cc->bytes, blocks = mmi_ccount_blocks(cc);
        if (blocks == 0) continue;
        ctx_count_free(ctx, c, bytes, blocks);
        mmi_count_release(t, c, bytes, blocks);
    }
    for (mmi_chunk *ch = ctx->large, *next; ch; ch = next) {
        next = ch->next;
        mmi_sys_free(ch);
    }
    ctx->large = NULL;
    for (mmi_chunk *ch = ctx->chunks, *next; ch; ch = next) {
        next = ch->next;
        ch->limit = (char *)(ch + 1);
        ch->next = ctx->spare;
        ctx->spare = ch;
    }
    ctx->chunks = NULL;
    ctx->bump = ctx->bump_end = NULL;
    memset(ctx->freelist, 0, sizeof ctx->freelist);
}

/* Hands the context's chunks to the cache of dead chunks (or the system). */
static void ctx_release_chunks(mm_context *ctx) {
    mmi_chunk *drop = NULL;
    pthread_mutex_lock(&ctx_lock);
    for (mmi_chunk *ch = ctx->spare, *next; ch; ch = next) {
        next = ch->next;
        ch->ctx = NULL;
        if (ctx_cache_bytes + ch->bytes <= CTX_CACHE_MAX_BYTES) {
            ch->next = ctx_cache;
            ctx_cache = ch;
            ctx_cache_bytes += ch->bytes;
        } else {
            ch->next = drop;
            drop = ch;
        }
    }
    pthread_mutex_unlock(&ctx_lock);
    for (mmi_chunk *ch = drop, *next; ch; ch = next) {
        next = ch->next;
        mmi_sys_free(ch);
    }
    ctx->spare = NULL;
    ctx->chunk_bytes = 0;
}

static void ctx_destroy_tree(mm_context *ctx, mmi_thread *t) {
    while (ctx->first_child) ctx_destroy_tree(ctx->first_child, t);
    ctx_release_blocks(ctx, t);
    ctx_release_chunks(ctx);
    mm_context *parent = ctx->parent;
    if (parent) {
        if (ctx->prev_sibling)
            ctx->prev_sibling->next_sibling = ctx->next_sibling;
        else
            parent->first_child = ctx->next_sibling;
        if (ctx->next_sibling) ctx->next_sibling->prev_sibling = ctx->prev_sibling;
        /* the subtree's cumulative counts stay in the ancestors' figures */
        parent->gone_allocs += ctx->tree.allocs;
        parent->gone_frees += ctx->tree.frees;
    }
    mmi_limit_context_gone(ctx);
    mmi_epochs_free(ctx->epochs);
    mmi_sys_free(ctx->cats);
    ctx->epochs = NULL;
    ctx->cats = NULL;
    ctx->ncap = 0;
    ctx->ncounted = 0;
    ctx->magic = MMI_CTX_DEAD;

    pthread_mutex_lock(&ctx_lock);
    if (parent == NULL) {
        if (ctx->prev_sibling)
            ctx->prev_sibling->next_sibling = ctx->next_sibling;
        else
            ctx_top = ctx->next_sibling;
        if (ctx->next_sibling) ctx->next_sibling->prev_sibling = ctx->prev_sibling;
    }
    ctx->next_sibling = NULL;
    if (ctx_dead_tail)
        ctx_dead_tail->next_sibling = ctx;
    else
        ctx_dead_head = ctx;
    ctx_dead_tail = ctx;
    ctx_dead_count++;
    mm_context *drop = NULL;
    if (ctx_dead_count > CTX_DEAD_KEEP) {
        drop = ctx_dead_head;
        ctx_dead_head = drop->next_sibling;
        ctx_dead_count--;
    }
    pthread_mutex_unlock(&ctx_lock);
    mmi_sys_free(drop);
}

void mm_context_destroy(mm_context *ctx) {
    if (ctx == NULL) return;
    if (!mmi_ctx_alive(ctx)) {
        ctx_error_dead(ctx, "mm_context_destroy");
        return;
    }
    ctx_destroy_tree(ctx, mmi_thread_get());
}

/* Drops spare chunks beyond the retain cap. */
static void ctx_trim(mm_context *ctx) {
    if (ctx->chunk_bytes <= ctx->retain_bytes) return;
    for (mmi_chunk **pp = &ctx->spare; *pp && ctx->chunk_bytes > ctx->retain_bytes;) {
        mmi_chunk *ch = *pp;
        *pp = ch->next;
        ctx->chunk_bytes -= ch->bytes;
        mmi_sys_free(ch);
    }
}

/* What the reset is about to free in ctx and its descendants was never freed
 * explicitly: count it as reclaimed, per category, and warn if asked to. */
static void ctx_count_reclaimed(mm_context *ctx) {
    for (int c = 0; c < ctx->ncap; c++) {
        mmi_ccat *cc = &ctx->cats[c];
        size_t blocks = mmi_ccount_blocks(&cc->tree);
        cc->last_reclaimed_bytes = cc->tree.bytes;
        cc->last_reclaimed_blocks = blocks;
        if (blocks == 0) continue;
        cc->reclaimed_bytes += cc->tree.bytes;
        cc->reclaimed_blocks += blocks;
        if (ctx->warn_reclaimed)
            mmi_log(MM_LOG_WARNING,
                    "context \"%s\"%s%s%s: %zu blocks (%zu bytes) of category \"%s\" were not "
                    "freed and were reclaimed by reset",
                    ctx->name, ctx->label[0] ? " (epoch \"" : "", ctx->label,
                    ctx->label[0] ? "\")" : "", blocks, cc->tree.bytes, mmi_cat_name(c));
    }
}

void mm_context_reset(mm_context *ctx) {
    if (ctx == NULL) return;
    if (!mmi_ctx_alive(ctx)) {
        ctx_error_dead(ctx, "mm_context_reset");
        return;
    }
    mmi_thread *t = mmi_thread_get();
    mmi_epochs_close(ctx); /* reads the epoch's peaks before anything is freed */
    ctx_count_reclaimed(ctx);
    while (ctx->first_child) ctx_destroy_tree(ctx->first_child, t);
    ctx_release_blocks(ctx, t);
    ctx_trim(ctx);
    /* a new epoch: peaks restart from the (now empty) live figures */
    for (int k = -1; k < ctx->ncap; k++) {
        mmi_ccount *c = k < 0 ? &ctx->tree : &ctx->cats[k].tree;
        if (c->peak > c->peak_closed) c->peak_closed = c->peak;
        c->peak = c->bytes;
        c->allocs_at_epoch = c->allocs;
        c->frees_at_epoch = c->frees;
    }
    ctx->label[0] = '\0';
    if (ctx->parent == NULL && (mmi_load(&mmi_diag) & MMI_DIAG_TRACE)) mmi_trace_forest();
}

/* ======================================================================
 * Small accessors and settings
 * ==================================================================== */

#define CTX_REQUIRE(ctx, fn, fail)                                                                 \
    do {                                                                                           \
        if (!mmi_ctx_alive(ctx)) {                                                                 \
            ctx_error_dead((ctx), (fn));                                                           \
            return fail;                                                                           \
        }                                                                                          \
    } while (0)

const char *mm_context_name(const mm_context *ctx) {
    CTX_REQUIRE(ctx, "mm_context_name", NULL);
    return ctx->name;
}

mm_context *mm_context_parent(const mm_context *ctx) {
    CTX_REQUIRE(ctx, "mm_context_parent", NULL);
    return ctx->parent;
}

const char *mm_context_label(const mm_context *ctx) {
    CTX_REQUIRE(ctx, "mm_context_label", NULL);
    return ctx->label;
}

void mm_context_set_label(mm_context *ctx, const char *label) {
    CTX_REQUIRE(ctx, "mm_context_set_label", );
    ctx_copy_name(ctx->label, label ? label : "");
}

size_t mm_context_set_retain(mm_context *ctx, size_t bytes) {
    CTX_REQUIRE(ctx, "mm_context_set_retain", 0);
    size_t old = ctx->retain_bytes;
    ctx->retain_bytes = bytes;
    return old;
}

int mm_context_warn_reclaimed(mm_context *ctx, int on) {
    CTX_REQUIRE(ctx, "mm_context_warn_reclaimed", 0);
    int old = ctx->warn_reclaimed;
    ctx->warn_reclaimed = on != 0;
    return old;
}

mm_reclaimed mm_context_reclaimed(const mm_context *ctx, mm_category c, int last_epoch) {
    mm_reclaimed r = {0, 0};
    CTX_REQUIRE(ctx, "mm_context_reclaimed", r);
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_context_reclaimed");
        return r;
    }
    if (c >= ctx->ncap) return r;
    const mmi_ccat *cc = &ctx->cats[c];
    r.bytes = last_epoch ? cc->last_reclaimed_bytes : cc->reclaimed_bytes;
    r.blocks = last_epoch ? cc->last_reclaimed_blocks : cc->reclaimed_blocks;
    return r;
}

void mmi_contexts_foreach(void (*fn)(const mm_context *ctx, void *arg), void *arg) {
    pthread_mutex_lock(&ctx_lock);
    for (mm_context *c = ctx_top; c; c = c->next_sibling) fn(c, arg);
    pthread_mutex_unlock(&ctx_lock);
}

/* ======================================================================
 * Walking the slots of a context (check.c, legacy.c)
 *
 * A small-block chunk is carved from its start, block after block, up to
 * its limit (the context's bump pointer for the current, first chunk):
 *
 *   mmi_chunk (64 B) | hdr | slot | hdr | slot ........ | hdr | slot | uncarved
 *                    ^ ch + 1                                        ^ limit
 *
 * each slot being mmi_class_bytes(mmi_size_class(span)) bytes, live, freed
 * or poisoned as the header's seal says. A damaged header hides its size, so
 * the walk then moves on 16 bytes at a time to the next place whose info
 * word gives that place's own distance from the chunk: a header, intact or
 * damaged in another byte (payload bytes pass with odds near 2^-29). A large
 * block is an mmi_chunk followed by one header, on ctx->large.
 * ==================================================================== */

/* The info word at h says "a context block at this distance from ch". */
static bool ctx_positioned(const mmi_header *h, const mmi_chunk *ch) {
    uintptr_t dist = (uintptr_t)h - (uintptr_t)ch;
    return (h->info & MMI_HF_CONTEXT) && (uintptr_t)(h->info >> MMI_DIST_SHIFT) << 4 == dist;
}

static bool ctx_chunk_ok(const mmi_chunk *ch, const mm_context *ctx, uint32_t kind) {
    return ch->magic == mmi_chunk_magic(ch) && ch->kind == kind && ch->ctx == ctx;
}

static void ctx_walk_small(const mmi_chunk *ch, const char *limit, mmi_slot_fn fn, void *arg) {
    char *p = (char *)(uintptr_t)(ch + 1);
    while ((size_t)(limit - p) >= MMI_HEADER_BYTES) {
        mmi_header *h = (mmi_header *)p;
        mmi_hdr_state st = mmi_hdr_check(h);
        if (st != MMI_HDR_BAD && ctx_positioned(h, ch) && mmi_hdr_span(h) <= MMI_SMALL_MAX &&
            mmi_cat_valid(mmi_hdr_cat(h))) {
            size_t step = MMI_HEADER_BYTES + mmi_class_bytes(mmi_size_class(mmi_hdr_span(h)));
            if (step <= (size_t)(limit - p)) {
                fn(h, st, MMI_SLOT_BLOCK, arg);
                p += step;
                continue;
            }
        }
        fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_HEADER, arg);
        do {
            p += MMI_HEADER_BYTES;
        } while ((size_t)(limit - p) >= MMI_HEADER_BYTES && !ctx_positioned((mmi_header *)p, ch));
    }
}

void mmi_context_walk(const mm_context *ctx, mmi_slot_fn fn, void *arg) {
    for (const mmi_chunk *ch = ctx->chunks; ch; ch = ch->next) {
        char *start = (char *)(uintptr_t)(ch + 1);
        char *limit = ch == ctx->chunks ? ctx->bump : ch->limit;
        if (!ctx_chunk_ok(ch, ctx, MMI_CHUNK_SMALL) || (uintptr_t)limit < (uintptr_t)start ||
            (uintptr_t)limit - (uintptr_t)ch > ch->bytes) {
            fn((mmi_header *)start, MMI_HDR_BAD, MMI_SLOT_BAD_CHUNK, arg);
            break; /* its next link is not to be trusted either */
        }
        ctx_walk_small(ch, limit, fn, arg);
    }
    for (const mmi_chunk *ch = ctx->large; ch; ch = ch->next) {
        mmi_header *h = (mmi_header *)(uintptr_t)(ch + 1);
        if (!ctx_chunk_ok(ch, ctx, MMI_CHUNK_LARGE)) {
            fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_CHUNK, arg);
            break;
        }
        mmi_hdr_state st = mmi_hdr_check(h);
        if (st == MMI_HDR_LIVE && ctx_positioned(h, ch) && mmi_cat_valid(mmi_hdr_cat(h)))
            fn(h, st, MMI_SLOT_BLOCK, arg);
        else
            fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_HEADER, arg);
    }
}
