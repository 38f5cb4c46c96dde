/* Memory contexts: per-forest (and per-module) scopes whose blocks are
 * carved from chunks the context owns (arena.c), so reset and destroy cost
 * per chunk, not per block. Every mm_context_* entry point is here, with the
 * exact per-context counting, the registry of live contexts and the
 * statistics queries on a context.
 * Thread rule: everything here runs on the thread that owns the context;
 * the owner changes the structure (children, category arrays) under the
 * registry lock (registry.c) and its own data (label, epochs, reclaimed
 * figures, epoch marks) under that lock or its owner lock; readers on any
 * thread hold both while they copy (docs/design.md, "Reading while others
 * work"). */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#define CTX_FIRST_CATS 16 /* category slots a new context starts with (at least) */
#define CTX_SERIAL_BATCH 64 /* serials a thread takes at a time */

/* last context serial handed out, on a line of its own: its batch RMW must
 * not evict read-mostly globals the allocation paths load (mmi_tool) */
static struct {
    _Alignas(MMI_CACHE_LINE) _Atomic uint64_t last; /* serials handed out so far */
} ctx_serial;
/* the calling thread's batch of serials: next to hand out, and the end; a
 * batch at a time keeps creates on two threads off one shared line */
static _Thread_local uint64_t ctx_serial_next MMI_TLS_MODEL, ctx_serial_end MMI_TLS_MODEL;

static uint64_t ctx_new_serial(void) {
    if (MMI_UNLIKELY(ctx_serial_next == ctx_serial_end)) {
        ctx_serial_next = atomic_fetch_add(&ctx_serial.last, CTX_SERIAL_BATCH) + 1;
        ctx_serial_end = ctx_serial_next + CTX_SERIAL_BATCH;
    }
    return ctx_serial_next++;
}

/* The epoch tag of ctx's blocks: a hash of its serial and its reset count,
 * so a pointer kept across a reset, or into a chunk another context now
 * carves, does not match (docs/design.md, "The block header"). */
static uint32_t ctx_tag(const mm_context *ctx) {
    uint64_t x = ctx->serial * 0x9E3779B97F4A7C15ull ^ (ctx->resets + 1) * 0xD6E8FEB86659FD93ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(x >> 40) & MMI_TAG_MASK;
}

/* ======================================================================
 * Counting
 * ==================================================================== */

void mmi_context_turn(mm_context *ctx, int out_cat, size_t out_bytes, int in_cat,
                      size_t in_bytes) {
    for (mm_context *p = ctx; p; p = p->parent) {
        size_t at_peak = mmi_load(&p->tree.bytes) + out_bytes - in_bytes;
        if (at_peak == mmi_load(&p->tree.peak) && at_peak >= p->comp_next)
            mmi_hooks.peak_context(p, out_cat, out_bytes, in_cat, in_bytes);
    }
}

void mmi_context_free_settle(mmi_thread *t, mm_context *ctx, mmi_chunk *ch, int cat,
                             size_t size, unsigned need, bool comp) {
    if (ch != NULL) mmi_arena_large_free(&ctx->arena, ch);
    if (need != 0 && mmi_count_settle_free(t, cat, size))
        mmi_hooks.peak_process(t->where, cat, size, 0, 0);
    if (comp) mmi_context_turn(ctx, cat, size, 0, 0);
}

void mmi_context_freed_settle(mmi_thread *t, mm_context *ctx, const mmi_header *h, bool comp) {
    /* need 1: mmi_count_settle_free looks at which figure is due itself */
    mmi_context_free_settle(t, ctx, NULL, mmi_hdr_cat(h), mmi_hdr_size(h), 1, comp);
}

/* Records every peak that ended before ctx's subtree is released (a reset
 * or destroy is a turn for ctx, its ancestors and each of their
 * categories), with its composition where due; the release that follows
 * then finds no peak of its own: it runs before the epoch closes, so each
 * composition names the epoch it happened in. */
static void ctx_settle_peaks(mm_context *ctx, mmi_thread *t, bool dying) {
    if (mmi_count_turn_now(t)) mmi_hooks.peak_process(t->where, 0, 0, 0, 0);
    if (ctx->self_tracked && mmi_load(&ctx->self_bytes) > mmi_load(&ctx->self_peak))
        mmi_store(&ctx->self_peak, mmi_load(&ctx->self_bytes));
    for (mm_context *p = ctx; p; p = p->parent) {
        size_t b = mmi_load(&p->tree.bytes);
        if (b > mmi_load(&p->tree.peak)) {
            mmi_store(&p->tree.peak, b);
            /* a context being destroyed keeps no composition: nobody can ask */
            if (b >= p->comp_next && !(dying && p == ctx)) mmi_hooks.peak_context(p, 0, 0, 0, 0);
        }
        for (int c = 0; c < p->ncounted; c++) { /* no category above has a figure */
            mmi_cpeak *cp = &p->cats[c].tree;
            if (mmi_load(&cp->bytes) > mmi_load(&cp->peak)) mmi_store(&cp->peak, mmi_load(&cp->bytes));
        }
    }
}

void mmi_context_free_general(mmi_thread *t, mmi_header *h, mmi_chunk *ch) {
    mm_context *ctx = ch->ctx;
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    bool comp = mmi_ctx_count_free(ctx, cat, size, 1);
    unsigned need = mmi_count_free_fast(t, cat, size, false);
    if (ch->kind != MMI_CHUNK_LARGE) {
        mmi_arena_put_sized(&ctx->arena, h, size);
        ch = NULL; /* given back */
    }
    if ((need | (unsigned)comp) != 0 || ch != NULL)
        mmi_context_free_settle(t, ctx, ch, cat, size, need, comp);
}

void mmi_context_count_alloc(mm_context *ctx, int cat, size_t bytes) {
    mmi_ctx_count_alloc(ctx, cat, bytes);
}

void mmi_context_count_free(mm_context *ctx, int cat, size_t bytes) {
    if (mmi_ctx_count_free(ctx, cat, bytes, 1)) mmi_context_turn(ctx, cat, bytes, 0, 0);
}

void mmi_context_count_resize(mm_context *ctx, int old_cat, size_t old_bytes, int new_cat,
                              size_t new_bytes) {
    /* as a free of the old block and an allocation of the new one, except
     * that the counts of calls do not move: the turn (if the block shrinks or
     * changes category) sees the state with the old block still live */
    bool comp = false;
    if (ctx->self_tracked) {
        size_t s = mmi_load(&ctx->self_bytes);
        if (new_bytes < old_bytes && s > mmi_load(&ctx->self_peak)) mmi_store(&ctx->self_peak, s);
        mmi_store(&ctx->self_bytes, s + new_bytes - old_bytes); /* modular: exact */
    }
    for (mm_context *p = ctx; p; p = p->parent) {
        if (new_bytes < old_bytes) {
            if (mmi_cpeak_shrink(&p->tree, old_bytes - new_bytes) &&
                mmi_load(&p->tree.peak) >= p->comp_next)
                comp = true;
        } else {
            mmi_store(&p->tree.bytes, mmi_load(&p->tree.bytes) + (new_bytes - old_bytes));
        }
        mmi_store(&p->last, ctx);
        mmi_cpeak_shrink(&p->cats[old_cat].tree, old_bytes);
        mmi_store(&p->cats[new_cat].tree.bytes, mmi_load(&p->cats[new_cat].tree.bytes) + new_bytes);
        if (old_cat != new_cat) {
            mmi_bump(&p->cats[old_cat].moved, -1);
            mmi_bump(&p->cats[new_cat].moved, 1);
        }
    }
    if (comp) mmi_context_turn(ctx, old_cat, old_bytes, new_cat, new_bytes);
}

/* The per-category arrays of ncap entries, hot and cold, in one allocation
 * (cats first, cache-line aligned; cold after it); NULL out of memory. */
static mmi_ccat *ctx_new_cats(int ncap, const mm_context *ctx) {
    size_t bytes = (size_t)ncap * (sizeof(mmi_ccat) + sizeof(mmi_ccold));
    return mmi_sys_aligned_calloc(bytes, MMI_CACHE_LINE, MM_CAT_INVALID, ctx);
}

static mmi_ccold *ctx_cold_of(mmi_ccat *cats, int ncap) {
    return (mmi_ccold *)(void *)(cats + ncap);
}

/* ncounted bounds every category a context's figures count, its
 * descendants' included (the owner-side loops of reset, destroy and the peak
 * settling stop there): an ancestor's rises to each descendant's, which is
 * safe as ancestors have at least as many entries and the ids are
 * registered. */
static void ctx_ncounted_up(const mm_context *ctx) {
    for (mm_context *p = ctx->parent; p; p = p->parent)
        if (p->ncounted < ctx->ncounted) p->ncounted = ctx->ncounted;
}

/* Makes ctx and its ancestors able to count category cat: each array that
 * is too short is copied into a longer one, published under the registry lock (a
 * reader may be walking the old one), and the old one freed after. */
static MMI_NOINLINE bool ctx_grow_cats(mm_context *ctx, int cat, const char *fn) {
    for (mm_context *p = ctx; p; p = p->parent) {
        if (cat < p->ncap) continue;
        int ncap = p->ncap ? p->ncap : CTX_FIRST_CATS;
        while (ncap <= cat) ncap *= 2;
        if (ncap > MM_CATEGORY_MAX) ncap = MM_CATEGORY_MAX;
        mmi_ccat *n = ctx_new_cats(ncap, ctx);
        if (n == NULL) {
            mmi_error_oom((size_t)ncap * (sizeof(mmi_ccat) + sizeof(mmi_ccold)), cat, ctx, fn);
            return false;
        }
        mmi_ccold *ncold = ctx_cold_of(n, ncap);
        if (p->ncap) {
            memcpy(n, p->cats, (size_t)p->ncap * sizeof *n);
            memcpy(ncold, p->cold, (size_t)p->ncap * sizeof *ncold);
        }
        mmi_ccat *old = p->cats;
        mmi_lock_take(&mmi_ctx_lock);
        p->cats = n;
        p->cold = ncold;
        p->ncap = ncap;
        mmi_lock_drop(&mmi_ctx_lock);
        mmi_sys_free(old);
    }
    /* ancestors never have fewer entries than ctx (they grow for every id any
     * descendant uses), so ids below ncounted are safe all the way up */
    int registered = mm_category_count();
    ctx->ncounted = ctx->ncap < registered ? ctx->ncap : registered;
    ctx_ncounted_up(ctx);
    return true;
}

bool mmi_context_cats(mm_context *ctx, int cat, const char *fn) {
    return cat < ctx->ncounted || ctx_grow_cats(ctx, cat, fn);
}

/* ======================================================================
 * Allocation, free, realloc of context blocks
 * ==================================================================== */

/* The rare end of the fast path: the ancestors' figures of a context in a
 * tree, and the folds due (need). */
static MMI_NOINLINE void *ctx_alloc_settle(mmi_thread *t, mm_context *ctx, mmi_header *h,
                                           int cat, size_t size, unsigned need) {
    if (ctx->nested) mmi_ctx_count_alloc_nested(ctx, cat, size);
    if (need != 0) mmi_count_settle_alloc(t, cat);
    return mmi_payload_of(h);
}

/* The fast path of mm_context_malloc: a live context that already counts
 * cat (a destroyed one counts none), a small block and no diagnostics (one
 * compare: mmi_ctx_fast_below), a free-list hit or room in the current
 * chunk, a thread that has its record. It makes no call but tail calls, so
 * it keeps few registers. Everything else goes the general way. */
void *mm_context_malloc(mm_context *ctx, size_t size, mm_category cat) {
    mmi_thread *t = mmi_tls;
    if (MMI_LIKELY(ctx != NULL && (unsigned)cat < (unsigned)ctx->ncounted &&
                   size < mmi_load(&mmi_ctx_fast_below) && t != NULL)) {
        mmi_arena *a = &ctx->arena;
        unsigned k = mmi_size_class(size);
        void *f = a->freelist[k];
        mmi_header *h;
        if (f != NULL) {
            a->freelist[k] = *(void **)f;
            h = mmi_hdr_of(f);
        } else {
            /* the room test in addresses as integers: bump + need may pass the
             * chunk's end (and with no chunk yet both are NULL) */
            uintptr_t at = (uintptr_t)a->bump, next = at + MMI_HEADER_BYTES + mmi_class_bytes(k);
            if (MMI_UNLIKELY(next > (uintptr_t)a->bump_end)) goto slow;
            h = (mmi_header *)a->bump;
            a->bump = (char *)(uintptr_t)next;
            h->info = a->carve_info;
        }
        h->size_cat = mmi_pack_size_cat(size, cat);
        mmi_hdr_seal_live(h);
        mmi_ctx_count_alloc_flat(ctx, cat, size);
        unsigned need = mmi_count_alloc_fast(t, cat, size, false);
        t->where = ctx;
        if (MMI_UNLIKELY(need | (unsigned)ctx->nested))
            return ctx_alloc_settle(t, ctx, h, cat, size, need);
        return mmi_payload_of(h);
    }
slow:
    return mmi_context_alloc(ctx, size, cat, false, "mm_context_malloc", NULL, 0);
}

void *mmi_context_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                        const char *file, int line) {
    if (ctx == NULL) return mmi_malloc_as(size, cat, zero, fn, file, line);
    if (MMI_UNLIKELY(!mmi_ctx_alive(ctx))) {
        mmi_context_error(ctx, fn);
        return NULL;
    }
    mmi_thread *t = mmi_thread_get(fn); /* a thread's first call reads the environment */
    if (t == NULL) return NULL;
    if (!mmi_alloc_check(size, cat, ctx, fn)) return NULL;
    if (MMI_UNLIKELY(mmi_load(&mmi_diag) != 0))
        return mmi_hooks.diag_alloc(ctx, size, cat, zero, fn, file, line);
    if (MMI_UNLIKELY(cat >= ctx->ncounted) && !ctx_grow_cats(ctx, cat, fn)) return NULL;
    mmi_header *h;
    bool reused = false;
    if (size <= MMI_SMALL_MAX) {
        h = mmi_arena_get(&ctx->arena, ctx, size, cat, &reused);
        if (h != NULL && zero) memset(mmi_payload_of(h), 0, size);
    } else {
        h = mmi_arena_large(&ctx->arena, ctx, size, zero, cat);
    }
    if (MMI_UNLIKELY(h == NULL)) {
        mmi_error_oom(size, cat, ctx, fn);
        return NULL;
    }
    h->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(h);
    mmi_arena_tool_close(h); /* under a tool: the header no-access again */
    mmi_ctx_count_alloc(ctx, cat, size);
    mmi_count_alloc(t, cat, size, false);
    t->where = ctx;
    return mmi_payload_of(h);
}

mmi_header *mmi_context_get(mm_context *ctx, size_t span, int cat, bool zero, const char *fn,
                            bool *reused, mmi_header **bad) {
    mmi_header *h;
    *reused = false;
    *bad = NULL;
    if (span <= MMI_SMALL_MAX) {
        h = mmi_arena_get_checked(&ctx->arena, ctx, span, cat, reused, bad);
        if (h != NULL && mmi_tool_on()) {
            /* a decorated block's pool allocation is its whole slot (check.c
             * resizes within it in place); a reused one keeps the free fill
             * that check.c reads back (docs/design.md) */
            size_t slot = mmi_class_bytes(mmi_size_class(span));
            mmi_tool_pool_resize(&ctx->arena, mmi_payload_of(h), span, slot);
            if (*reused) mmi_tool_defined(mmi_payload_of(h), slot);
        }
        if (h != NULL && zero) memset(mmi_payload_of(h), 0, span);
    } else {
        h = mmi_arena_large(&ctx->arena, ctx, span, zero, cat);
    }
    if (h == NULL) mmi_error_oom(span, cat, ctx, fn);
    return h;
}

void mmi_context_put(mmi_chunk *ch, mmi_header *h, bool poisoned) {
    mmi_arena *a = ch->arena;
    if (ch->kind == MMI_CHUNK_LARGE) {
        mmi_arena_large_free(a, ch);
        return;
    }
    if (mmi_tool_on()) mmi_arena_tool_freeing(h);
    if (poisoned)
        mmi_arena_put_poisoned(a, h);
    else
        mmi_arena_put(a, h);
    if (mmi_tool_on()) mmi_arena_tool_freed(a, h, poisoned);
}


void *mmi_context_realloc(mmi_header *h, mmi_chunk *ch, size_t size, int cat, const char *fn) {
    mm_context *ctx = ch->ctx;
    mmi_thread *t = mmi_thread_get(fn);
    if (t == NULL) return NULL;
    if (MMI_UNLIKELY(cat >= ctx->ncounted) && !ctx_grow_cats(ctx, cat, fn)) return NULL;
    size_t old_size = mmi_hdr_size(h);
    int old_cat = mmi_hdr_cat(h);
    mmi_header *n;
    if (ch->kind == MMI_CHUNK_SMALL && size <= MMI_SMALL_MAX &&
        mmi_size_class(size) == mmi_size_class(old_size)) {
        n = h; /* fits the same slot */
        if (mmi_tool_on()) mmi_tool_pool_resize(&ctx->arena, mmi_payload_of(h), old_size, size);
    } else if (ch->kind == MMI_CHUNK_LARGE && size > MMI_SMALL_MAX) {
        n = mmi_arena_large_realloc(&ctx->arena, ch, size, cat, ctx);
        if (n == NULL) {
            mmi_error_oom(size, cat, ctx, fn);
            return NULL;
        }
    } else {
        bool reused;
        n = size <= MMI_SMALL_MAX ? mmi_arena_get(&ctx->arena, ctx, size, cat, &reused)
                                  : mmi_arena_large(&ctx->arena, ctx, size, false, cat);
        if (n == NULL) {
            mmi_error_oom(size, cat, ctx, fn);
            return NULL;
        }
        memcpy(mmi_payload_of(n), mmi_payload_of(h), old_size < size ? old_size : size);
        if (ch->kind == MMI_CHUNK_LARGE) {
            mmi_arena_large_free(&ctx->arena, ch);
        } else {
            if (mmi_tool_on()) mmi_arena_tool_freeing(h);
            mmi_arena_put(&ctx->arena, h);
            if (mmi_tool_on()) mmi_arena_tool_freed(&ctx->arena, h, false);
        }
    }
    n->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(n);
    mmi_arena_tool_close(n);
    mmi_context_count_resize(ctx, old_cat, old_size, cat, size);
    t->where = ctx;
    if (mmi_count_resize(t, old_cat, old_size, cat, size, false))
        mmi_hooks.peak_process(ctx, old_cat, old_size, cat, size);
    return mmi_payload_of(n);
}

void *mm_context_calloc(mm_context *ctx, size_t n, size_t size, mm_category cat) {
    if (size != 0 && n > SIZE_MAX / size) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx,
                  "mm_context_calloc of %zu x %zu bytes for category \"%s\" overflows size_t", n,
                  size, mmi_cat_name(cat));
        return NULL;
    }
    return mmi_context_alloc(ctx, n * size, cat, true, "mm_context_calloc", NULL, 0);
}

char *mm_context_strdup(mm_context *ctx, const char *s, mm_category cat) {
    if (s == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, cat, NULL, ctx, "mm_context_strdup: the string is NULL");
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *p = mmi_context_alloc(ctx, n, cat, false, "mm_context_strdup", NULL, 0);
    if (p) memcpy(p, s, n);
    return p;
}

void *mm_context_malloc_at(mm_context *ctx, size_t size, mm_category cat, const char *file,
                           int line) {
    return mmi_context_alloc(ctx, size, cat, false, "mm_context_malloc", file, line);
}

void *mm_context_calloc_at(mm_context *ctx, size_t n, size_t size, mm_category cat,
                           const char *file, int line) {
    if (size != 0 && n > SIZE_MAX / size) return mm_context_calloc(ctx, n, size, cat);
    return mmi_context_alloc(ctx, n * size, cat, true, "mm_context_calloc", file, line);
}

char *mm_context_strdup_at(mm_context *ctx, const char *s, mm_category cat, const char *file,
                           int line) {
    if (s == NULL) return mm_context_strdup(ctx, s, cat);
    size_t n = strlen(s) + 1;
    char *p = mmi_context_alloc(ctx, n, cat, false, "mm_context_strdup", file, line);
    if (p) memcpy(p, s, n);
    return p;
}

/* ======================================================================
 * Create, reset, destroy
 * ==================================================================== */

mm_context *mm_context_create(const char *name, mm_context *parent) {
    mmi_first_use(); /* a trace opened by the environment sees this context's F line */
    if (parent != NULL && !mmi_ctx_alive(parent)) {
        mmi_context_error(parent, "mm_context_create (parent)");
        return NULL;
    }
    mmi_thread *t = mmi_thread_get("mm_context_create");
    if (t == NULL) return NULL;
    mm_context *ctx = mmi_ctx_reuse(); /* the oldest destroyed context's struct, if kept long */
    /* aligned: the hot fields share the struct's first two cache lines */
    if (ctx == NULL &&
        (ctx = mmi_sys_aligned_calloc(sizeof *ctx, MMI_CACHE_LINE, MM_CAT_INVALID, NULL)) == NULL) {
        mmi_error_oom(sizeof *ctx, MM_CAT_UTILITY, parent, "mm_context_create");
        return NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    int ncap = CTX_FIRST_CATS;
    while (ncap < mm_category_count() && ncap < MM_CATEGORY_MAX) ncap *= 2;
    ctx->epochs = mmi_epochs_new();
    ctx->cats = ctx->epochs ? ctx_new_cats(ncap, NULL) : NULL;
    if (ctx->cats == NULL) {
        mmi_epochs_free(ctx->epochs);
        mmi_sys_free(ctx);
        mmi_error_oom(sizeof *ctx, MM_CAT_UTILITY, parent, "mm_context_create");
        return NULL;
    }
    ctx->ncap = ncap;
    ctx->cold = ctx_cold_of(ctx->cats, ncap);
    int registered = mm_category_count();
    ctx->ncounted = ncap < registered ? ncap : registered;
    ctx->magic = MMI_CTX_ALIVE;
    mmi_copy_name(ctx->name, name ? name : "context", MM_NAME_MAX);
    ctx->serial = ctx_new_serial();
    ctx->owner_serial = t->serial;
    ctx->comp_next = mmi_load(&mmi_peak_step);
    mmi_arena_init(&ctx->arena, ctx_tag(ctx));
    ctx->parent = parent;
    ctx->nested = parent != NULL;
    /* a parent growing cats for an id first used in this child, later, keeps
     * the rule "ancestors have at least as many entries" */
    if (parent && parent->ncap < ncap && !ctx_grow_cats(parent, ncap - 1, "mm_context_create")) {
        mmi_arena_release(&ctx->arena); /* holds nothing yet; a tool's pool goes */
        mmi_sys_free(ctx->cats);
        mmi_epochs_free(ctx->epochs);
        mmi_sys_free(ctx);
        return NULL;
    }
    ctx_ncounted_up(ctx); /* after that growth: the ancestors have the entries */
    if (parent) {
        mmi_lock_take(&mmi_ctx_lock); /* the parent's children: readers walk them under it */
        if (!parent->self_tracked) { /* its own figures part from the tree's now */
            mmi_store(&parent->self_bytes, mmi_load(&parent->tree.bytes));
            size_t p = mmi_cpeak_now(&parent->tree), pc = mmi_load(&parent->tree.peak_closed);
            mmi_store(&parent->self_peak, p > pc ? p : pc);
            parent->self_tracked = 1;
            parent->nested = 1;
        }
        ctx->next_sibling = parent->first_child;
        if (parent->first_child) parent->first_child->prev_sibling = ctx;
        parent->first_child = ctx;
        mmi_lock_drop(&mmi_ctx_lock);
    } else {
        mmi_ctx_link_top(ctx); /* the calling thread's shard: no lock of another's create */
    }
    if (parent == NULL && (mmi_load(&mmi_diag) & MMI_DIAG_TRACE)) mmi_hooks.trace_forest();
    return ctx;
}

/* Takes every block of ctx's subtree off the figures of ctx, its ancestors
 * and the process, per category: the subtree figures are exactly what a
 * reset or destroy of ctx frees. The caller has settled the peaks first
 * (ctx_settle_peaks), so no decrease here ends one. */
static void ctx_count_release(mm_context *ctx, mmi_thread *t) {
    for (int c = 0; c < ctx->ncounted; c++) {
        mmi_ccat *cc = &ctx->cats[c];
        size_t bytes = mmi_load(&cc->tree.bytes), blocks = mmi_ccat_blocks(cc);
        if (blocks == 0 && bytes == 0) continue;
        mmi_ctx_count_free_tree(ctx, c, bytes, blocks); /* no peak left to find */
        if (mmi_count_release(t, c, bytes)) mmi_hooks.peak_process(t->where, c, bytes, 0, 0);
    }
    mmi_store(&ctx->self_bytes, 0);
}

/* The descendants of ctx, each listed after its own descendants (children
 * before parents), linked through next_sibling once unlinked. */
static mm_context *ctx_collect(mm_context *ctx, mm_context *list) {
    for (mm_context *c = ctx->first_child, *next; c; c = next) {
        next = c->next_sibling;
        list = ctx_collect(c, list);
        c->next_sibling = list;
        list = c;
    }
    ctx->first_child = NULL;
    return list;
}

/* Frees what a context owns once nobody can reach it (unlinked under
 * the registry lock), and queues its struct as dead. */
static void ctx_bury(mm_context *ctx) {
    /* nothing may name it as where a later peak was reached (its owner is
     * the calling thread; ancestors are buried after their descendants) */
    if (mmi_tls && mmi_tls->where == ctx) mmi_tls->where = NULL;
    for (mm_context *p = ctx->parent; p; p = p->parent)
        if (mmi_load(&p->last) == ctx) mmi_store(&p->last, p);
    mmi_limits_counted(ctx->limit_bytes, 0); /* its limits go with it */
    for (int c = 0; c < ctx->ncap; c++) /* a call only for a limit that was set */
        if (ctx->cold[c].limit_bytes != 0) mmi_limits_counted(ctx->cold[c].limit_bytes, 0);
    mmi_arena_release(&ctx->arena);
    mmi_epochs_free(ctx->epochs);
    mmi_sys_free(ctx->cats);
    ctx->epochs = NULL;
    ctx->cats = NULL;
    ctx->cold = NULL;
    ctx->ncap = 0;
    ctx->ncounted = 0;
    ctx->magic = MMI_CTX_DEAD;
    mmi_sys_free(mmi_ctx_retire(ctx));
}

/* The checks and records of the blocks a reset or destroy of ctx frees, in
 * ctx and every descendant (checking modes, sites, trace lines). */
static void ctx_release_diag(mm_context *ctx, const char *fn) {
    for (mm_context *c = ctx->first_child; c; c = c->next_sibling) ctx_release_diag(c, fn);
    if (ctx->tail_blocks || ctx->decor_blocks) mmi_hooks.diag_release(ctx, fn);
}

/* What the reset is about to free in ctx's subtree was never freed
 * explicitly: counted as reclaimed per category (under ctx's owner lock).
 * Returns whether a warning is due. */
static bool ctx_count_reclaimed(mm_context *ctx) {
    bool warn = false;
    for (int c = 0; c < ctx->ncounted; c++) {
        mmi_ccold *cc = &ctx->cold[c];
        size_t blocks = mmi_ccat_blocks(&ctx->cats[c]), bytes = mmi_load(&ctx->cats[c].tree.bytes);
        cc->last_reclaimed_bytes = bytes;
        cc->last_reclaimed_blocks = blocks;
        if (blocks == 0) continue;
        cc->reclaimed_bytes += bytes;
        cc->reclaimed_blocks += blocks;
        warn = warn || ctx->warn_reclaimed;
    }
    return warn;
}

static void ctx_warn_reclaimed(const mm_context *ctx, const char *label) {
    for (int c = 0; c < ctx->ncap; c++) {
        const mmi_ccold *cc = &ctx->cold[c];
        if (cc->last_reclaimed_blocks == 0) continue;
        mmi_log(MM_LOG_WARNING,
                "context \"%s\"%s%s%s: %zu block%s (%zu bytes) of category \"%s\" were not freed "
                "and were reclaimed by reset",
                ctx->name, label[0] ? " (epoch \"" : "", label, label[0] ? "\")" : "",
                cc->last_reclaimed_blocks, cc->last_reclaimed_blocks == 1 ? "" : "s",
                cc->last_reclaimed_bytes, mmi_cat_name(c));
    }
}

void mm_context_reset(mm_context *ctx) {
    if (ctx == NULL) return;
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_context_reset");
        return;
    }
    mmi_thread *t = mmi_thread_get("mm_context_reset");
    if (t == NULL) return;
    ctx_release_diag(ctx, "mm_context_reset");
    if (!mmi_ctx_alive(ctx)) return; /* a handler destroyed it */
    ctx_settle_peaks(ctx, t, false); /* before the epoch closes and its label goes */
    mmi_hooks.epoch_log(ctx); /* the closing epoch's line: owner's figures, no lock */

    /* ctx's own data under its owner lock; the registry lock as well only
     * when children go (the structure readers walk changes) */
    bool structural = ctx->first_child != NULL;
    mmi_lock *own = mmi_ctx_owner_lock(ctx);
    if (structural) mmi_lock_take(&mmi_ctx_lock);
    mmi_lock_take(own);
    bool kept = mmi_epochs_close(ctx);
    bool warn = ctx_count_reclaimed(ctx);
    /* the children's cumulative counts (their descendants' included) stay
     * in ctx's figures; self figures subtract them from now on. Every block
     * a child allocated is freed by now or by this reset. */
    for (mm_context *c = ctx->first_child; c; c = c->next_sibling)
        for (int k = 0; k < c->ncap; k++) {
            ctx->gone_allocs += mmi_load(&c->cats[k].allocs);
            ctx->gone_frees += mmi_load(&c->cats[k].allocs);
        }
    mm_context *gone = structural ? ctx_collect(ctx, NULL) : NULL; /* unreachable from now on */
    char label[MM_NAME_MAX + 1];
    memcpy(label, ctx->label, sizeof label);
    ctx->label[0] = '\0';
    mmi_lock_drop(own);
    if (structural) mmi_lock_drop(&mmi_ctx_lock);

    ctx_count_release(ctx, t); /* the whole subtree's blocks */
    for (mm_context *c = gone, *next; c; c = next) {
        next = c->next_sibling;
        ctx_bury(c);
    }
    mmi_arena_rewind(&ctx->arena);
    mmi_lock_take(own);
    /* a new epoch: peaks restart from the (now empty) live figures */
    for (int k = -1; k < ctx->ncounted; k++) {
        mmi_cpeak *c = k < 0 ? &ctx->tree : &ctx->cats[k].tree;
        size_t p = mmi_load(&c->peak);
        if (p > mmi_load(&c->peak_closed)) mmi_store(&c->peak_closed, p);
        mmi_store(&c->peak, mmi_load(&c->bytes));
        if (k >= 0) {
            ctx->cats[k].allocs_at_epoch = mmi_load(&ctx->cats[k].allocs);
            ctx->cats[k].frees_at_epoch = mmi_load(&ctx->cats[k].frees);
        }
    }
    ctx->resets++;
    mmi_lock_drop(own);
    mmi_arena_set_tag(&ctx->arena, ctx_tag(ctx));
    mmi_epochs_next(ctx);
    if (!kept)
        mmi_error_oom(sizeof(struct mmi_epoch_catpeak) * (size_t)ctx->ncap, MM_CAT_UTILITY, ctx,
                      "mm_context_reset (per-category peaks of a top epoch)");
    if (warn) ctx_warn_reclaimed(ctx, label);
    if (ctx->parent == NULL && (mmi_load(&mmi_diag) & MMI_DIAG_TRACE)) mmi_hooks.trace_forest();
}

void mm_context_destroy(mm_context *ctx) {
    if (ctx == NULL) return;
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_context_destroy");
        return;
    }
    mmi_thread *t = mmi_thread_get("mm_context_destroy");
    if (t == NULL) return;
    ctx_release_diag(ctx, "mm_context_destroy");
    if (!mmi_ctx_alive(ctx)) return; /* a handler destroyed it */
    ctx_settle_peaks(ctx, t, true);
    ctx_count_release(ctx, t);

    mm_context *gone = NULL, *parent = ctx->parent;
    /* a top-level context without children changes no structure a reader
     * walks under the registry lock: only its shard's list */
    if (parent || ctx->first_child) {
        mmi_lock_take(&mmi_ctx_lock);
        gone = ctx_collect(ctx, NULL);
        if (parent) {
            if (ctx->prev_sibling)
                ctx->prev_sibling->next_sibling = ctx->next_sibling;
            else
                parent->first_child = ctx->next_sibling;
            if (ctx->next_sibling) ctx->next_sibling->prev_sibling = ctx->prev_sibling;
            /* the subtree's cumulative counts stay in the ancestors' figures */
            for (int k = 0; k < ctx->ncap; k++) {
                parent->gone_allocs += mmi_load(&ctx->cats[k].allocs);
                parent->gone_frees += mmi_load(&ctx->cats[k].frees);
            }
        }
        mmi_lock_drop(&mmi_ctx_lock);
    }
    if (parent == NULL) mmi_ctx_unlink_top(ctx);

    for (mm_context *c = gone, *next; c; c = next) {
        next = c->next_sibling;
        ctx_bury(c);
    }
    ctx_bury(ctx);
}

/* ======================================================================
 * Small accessors and settings
 * ==================================================================== */


const char *mm_context_name(const mm_context *ctx) {
    MMI_CTX_REQUIRE(ctx, "mm_context_name", NULL);
    return ctx->name;
}

mm_context *mm_context_parent(const mm_context *ctx) {
    MMI_CTX_REQUIRE(ctx, "mm_context_parent", NULL);
    return ctx->parent;
}

const char *mm_context_label(const mm_context *ctx) {
    MMI_CTX_REQUIRE(ctx, "mm_context_label", NULL);
    return ctx->label;
}

void mm_context_set_label(mm_context *ctx, const char *label) {
    MMI_CTX_REQUIRE(ctx, "mm_context_set_label", );
    mmi_lock_take(&mmi_ctx_lock);
    mmi_copy_name(ctx->label, label ? label : "", MM_NAME_MAX);
    mmi_lock_drop(&mmi_ctx_lock);
}

size_t mm_context_set_retain(mm_context *ctx, size_t bytes) {
    MMI_CTX_REQUIRE(ctx, "mm_context_set_retain", 0);
    size_t old = ctx->arena.retain_bytes;
    ctx->arena.retain_bytes = bytes;
    return old;
}

int mm_context_warn_reclaimed(mm_context *ctx, int on) {
    MMI_CTX_REQUIRE(ctx, "mm_context_warn_reclaimed", 0);
    int old = ctx->warn_reclaimed;
    ctx->warn_reclaimed = on != 0;
    return old;
}

mm_reclaimed mm_context_reclaimed(const mm_context *ctx, mm_category c, int last_epoch) {
    mm_reclaimed r = {0, 0};
    MMI_CTX_REQUIRE(ctx, "mm_context_reclaimed", r);
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_context_reclaimed");
        return r;
    }
    mmi_lock_take(&mmi_ctx_lock);
    mmi_lock_take(mmi_ctx_owner_lock(ctx));
    if (c < ctx->ncap) {
        const mmi_ccold *cc = &ctx->cold[c];
        r.bytes = last_epoch ? cc->last_reclaimed_bytes : cc->reclaimed_bytes;
        r.blocks = last_epoch ? cc->last_reclaimed_blocks : cc->reclaimed_blocks;
    }
    mmi_lock_drop(mmi_ctx_owner_lock(ctx));
    mmi_lock_drop(&mmi_ctx_lock);
    return r;
}

/* ======================================================================
 * Statistics of a context (any thread: the caller holds the registry lock when ctx
 * is not its own, and its owner lock for the epoch figures; the public queries
 * below take both)
 * ==================================================================== */

static size_t ctx_peak_of(const mmi_cpeak *c) {
    size_t p = mmi_load(&c->peak), pc = mmi_load(&c->peak_closed);
    return p > pc ? p : pc;
}

mm_stats mmi_context_total(const mm_context *ctx) {
    mm_stats s = {0, 0, 0, 0, 0};
    s.bytes = mmi_load(&ctx->tree.bytes); /* bytes first: the peak read after covers it */
    for (int c = 0; c < ctx->ncap; c++) {
        s.blocks += mmi_ccat_blocks(&ctx->cats[c]);
        s.allocs += mmi_load(&ctx->cats[c].allocs);
        s.frees += mmi_load(&ctx->cats[c].frees);
    }
    s.peak_bytes = ctx_peak_of(&ctx->tree);
    if (s.peak_bytes < s.bytes) s.peak_bytes = s.bytes;
    return s;
}

mm_stats mmi_context_self(const mm_context *ctx) {
    mm_stats s = mmi_context_total(ctx);
    if (!ctx->self_tracked) return s;
    s.allocs -= ctx->gone_allocs;
    s.frees -= ctx->gone_frees;
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) {
        mm_stats cs = mmi_context_total(c);
        s.blocks -= cs.blocks;
        s.allocs -= cs.allocs;
        s.frees -= cs.frees;
    }
    s.bytes = mmi_load(&ctx->self_bytes);
    s.peak_bytes = mmi_load(&ctx->self_peak);
    if (s.peak_bytes < s.bytes) s.peak_bytes = s.bytes;
    return s;
}

mm_stats mmi_context_category(const mm_context *ctx, int cat) {
    mm_stats s = {0, 0, 0, 0, 0};
    if (cat >= ctx->ncap) return s;
    const mmi_ccat *c = &ctx->cats[cat];
    s.bytes = mmi_load(&c->tree.bytes);
    s.blocks = mmi_ccat_blocks(c);
    s.allocs = mmi_load(&c->allocs);
    s.frees = mmi_load(&c->frees);
    s.peak_bytes = ctx_peak_of(&c->tree);
    if (s.peak_bytes < s.bytes) s.peak_bytes = s.bytes;
    return s;
}

mm_stats mmi_context_epoch_now(const mm_context *ctx) {
    mm_stats s = mmi_context_total(ctx);
    s.peak_bytes = mmi_load(&ctx->tree.peak);
    if (s.peak_bytes < s.bytes) s.peak_bytes = s.bytes;
    for (int c = 0; c < ctx->ncap; c++) {
        s.allocs -= ctx->cats[c].allocs_at_epoch;
        s.frees -= ctx->cats[c].frees_at_epoch;
    }
    return s;
}

typedef enum { CTX_FIG_TOTAL, CTX_FIG_SELF, CTX_FIG_CATEGORY, CTX_FIG_EPOCH } ctx_figure_kind;

/* One figure of a live context for the public queries (any thread: under
 * the registry lock and its owner lock); zeros after the error naming fn. */
static mm_stats ctx_figure(const mm_context *ctx, ctx_figure_kind kind, int cat, const char *fn) {
    mm_stats s = {0, 0, 0, 0, 0};
    MMI_CTX_REQUIRE(ctx, fn, s);
    mmi_lock_take(&mmi_ctx_lock);
    mmi_lock_take(mmi_ctx_owner_lock(ctx));
    switch (kind) {
    case CTX_FIG_TOTAL: s = mmi_context_total(ctx); break;
    case CTX_FIG_SELF: s = mmi_context_self(ctx); break;
    case CTX_FIG_CATEGORY: s = mmi_context_category(ctx, cat); break;
    case CTX_FIG_EPOCH: s = mmi_context_epoch_now(ctx); break;
    }
    mmi_lock_drop(mmi_ctx_owner_lock(ctx));
    mmi_lock_drop(&mmi_ctx_lock);
    return s;
}

mm_stats mm_stats_total(const mm_context *ctx) {
    if (ctx == NULL) return mmi_process_stats(-1);
    return ctx_figure(ctx, CTX_FIG_TOTAL, 0, "mm_stats_total");
}

mm_stats mm_stats_self(const mm_context *ctx) {
    return ctx_figure(ctx, CTX_FIG_SELF, 0, "mm_stats_self");
}

mm_stats mm_stats_category(const mm_context *ctx, mm_category c) {
    if (!mmi_cat_valid(c)) {
        mm_stats zero = {0, 0, 0, 0, 0};
        mmi_error_bad_category(c, 0, ctx, "mm_stats_category");
        return zero;
    }
    if (ctx == NULL) return mmi_process_stats(c);
    return ctx_figure(ctx, CTX_FIG_CATEGORY, c, "mm_stats_category");
}

mm_stats mm_context_epoch_stats(const mm_context *ctx) {
    return ctx_figure(ctx, CTX_FIG_EPOCH, 0, "mm_context_epoch_stats");
}
