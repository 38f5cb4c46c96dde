/* Process-wide statistics: per-thread counters, their registry, the flush that
 * keeps peak estimates, and the exact sums the public queries return.
 * Thread rule: a thread writes only its own mmi_thread; readers sum under
 * stats_lock with relaxed loads; a thread that exits folds its figures into
 * the retired sums (mmi_g_*) under the same lock. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

mmi_gcount mmi_g_total;
mmi_gcount mmi_g_cat[MM_CATEGORY_MAX];
_Thread_local mmi_thread *mmi_tls MMI_TLS_MODEL;

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static mmi_thread *stats_threads; /* live threads' counters; under stats_lock */
static pthread_key_t stats_key;   /* its destructor retires a thread */
static pthread_once_t stats_once = PTHREAD_ONCE_INIT;

static void stats_max(_Atomic int64_t *dst, int64_t v) {
    int64_t cur = mmi_load(dst);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(dst, &cur, v, MMI_RELAXED, MMI_RELAXED)) {
    }
}

int64_t mmi_tcount_flush(mmi_tcount *c, mmi_gcount *g) {
    int64_t b = mmi_load(&c->bytes);
    int64_t pending = b - c->flushed;
    c->flushed = b;
    int64_t now = atomic_fetch_add_explicit(&g->flushed, pending, MMI_RELAXED) + pending;
    c->g_seen = now;
    int64_t moved = 0;
    if (now > mmi_load(&c->peak)) {
        mmi_store(&c->peak, now);
        moved = now;
    }
    stats_max(&g->peak, mmi_load(&c->peak));
    return moved;
}

static void stats_retire_count(mmi_tcount *c, mmi_gcount *g) {
    mmi_tcount_flush(c, g);
    g->bytes += mmi_load(&c->bytes);
    g->allocs += mmi_load(&c->allocs);
    g->frees += mmi_load(&c->frees);
    g->blocks += (int64_t)(mmi_load(&c->allocs) - mmi_load(&c->frees)) + mmi_load(&c->moved);
}

/* pthread key destructor: the thread is exiting. */
static void stats_retire(void *arg) {
    mmi_thread *t = arg;
    pthread_mutex_lock(&stats_lock);
    stats_retire_count(&t->total, &mmi_g_total);
    for (int i = 0; i < MM_CATEGORY_MAX; i++)
        if (mmi_load(&t->cat[i].allocs) || mmi_load(&t->cat[i].frees) ||
            mmi_load(&t->cat[i].moved) || mmi_load(&t->cat[i].bytes))
            stats_retire_count(&t->cat[i], &mmi_g_cat[i]);
    if (t->prev)
        t->prev->next = t->next;
    else
        stats_threads = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_mutex_unlock(&stats_lock);
    if (mmi_tls == t) mmi_tls = NULL;
    mmi_cache_flush(t);
    mmi_sys_free(t);
}

static void stats_init_key(void) {
    if (pthread_key_create(&stats_key, stats_retire) != 0) abort();
}

mmi_thread *mmi_thread_create(void) {
    pthread_once(&stats_once, stats_init_key);
    mmi_options_init(); /* the environment is read at the first allocation */
    /* exempt from fault injection: nothing can be counted without it */
    mmi_thread *t = mmi_sys_calloc(sizeof *t, MMI_SYS_EXEMPT, NULL);
    if (t == NULL) {
        fputs("mimicmem: out of memory creating the per-thread statistics\n", stderr);
        abort();
    }
    pthread_mutex_lock(&stats_lock);
    t->next = stats_threads;
    if (stats_threads) stats_threads->prev = t;
    stats_threads = t;
    pthread_mutex_unlock(&stats_lock);
    pthread_setspecific(stats_key, t);
    mmi_tls = t;
    return t;
}

void mmi_count_resize(mmi_thread *t, int old_cat, size_t old_bytes, int new_cat, size_t new_bytes,
                      const mm_context *ctx) {
    if (old_cat != new_cat) {
        mmi_tcount *o = &t->cat[old_cat], *n = &t->cat[new_cat];
        mmi_store(&o->moved, mmi_load(&o->moved) - 1);
        mmi_store(&n->moved, mmi_load(&n->moved) + 1);
        mmi_tcount_shrink(o, &mmi_g_cat[old_cat], (int64_t)old_bytes);
        mmi_tcount_grow(n, &mmi_g_cat[new_cat], (int64_t)new_bytes);
    } else if (new_bytes >= old_bytes) {
        mmi_tcount_grow(&t->cat[old_cat], &mmi_g_cat[old_cat], (int64_t)(new_bytes - old_bytes));
    } else {
        mmi_tcount_shrink(&t->cat[old_cat], &mmi_g_cat[old_cat], (int64_t)(old_bytes - new_bytes));
    }
    if (new_bytes >= old_bytes) {
        if (mmi_total_grow(t, (int64_t)(new_bytes - old_bytes))) mmi_peak_process(ctx);
    } else
        mmi_tcount_shrink(&t->total, &mmi_g_total, (int64_t)(old_bytes - new_bytes));
}

void mmi_count_release(mmi_thread *t, int cat, size_t bytes, size_t blocks) {
    mmi_tcount *c = &t->cat[cat];
    mmi_store(&c->frees, mmi_load(&c->frees) + blocks);
    mmi_tcount_shrink(c, &mmi_g_cat[cat], (int64_t)bytes);
    mmi_tcount_shrink(&t->total, &mmi_g_total, (int64_t)bytes);
}

/* Sums one figure over the retired sums and every live thread. The total's
 * block and call counts are the sums over categories (only its bytes and peak
 * are kept as a figure of their own, for the peak estimate). */
static mm_stats stats_sum(int cat) {
    const mmi_gcount *g = cat < 0 ? &mmi_g_total : &mmi_g_cat[cat];
    int64_t bytes = g->bytes, blocks = 0;
    uint64_t allocs = 0, frees = 0;
    int64_t peak = mmi_load(&g->peak);
    int first = cat < 0 ? 0 : cat, last = cat < 0 ? atomic_load(&mmi_ncat) - 1 : cat;
    for (int c = first; c <= last; c++) {
        blocks += mmi_g_cat[c].blocks;
        allocs += mmi_g_cat[c].allocs;
        frees += mmi_g_cat[c].frees;
    }
    for (mmi_thread *t = stats_threads; t; t = t->next) {
        const mmi_tcount *tc = cat < 0 ? &t->total : &t->cat[cat];
        bytes += mmi_load(&tc->bytes);
        int64_t p = mmi_load(&tc->peak);
        if (p > peak) peak = p;
        for (int c = first; c <= last; c++) {
            uint64_t a = mmi_load(&t->cat[c].allocs), f = mmi_load(&t->cat[c].frees);
            blocks += (int64_t)(a - f) + mmi_load(&t->cat[c].moved);
            allocs += a;
            frees += f;
        }
    }
    if (bytes < 0) bytes = 0; /* only while another thread is mid-update */
    if (blocks < 0) blocks = 0;
    if (peak < bytes) peak = bytes;
    mm_stats s = {(size_t)bytes, (size_t)peak, (size_t)blocks, allocs, frees};
    return s;
}

void mmi_process_cat_bytes(size_t *out, int ncat) {
    pthread_mutex_lock(&stats_lock);
    for (int c = 0; c < ncat; c++) {
        int64_t b = mmi_g_cat[c].bytes;
        for (mmi_thread *t = stats_threads; t; t = t->next) b += mmi_load(&t->cat[c].bytes);
        out[c] = b > 0 ? (size_t)b : 0;
    }
    pthread_mutex_unlock(&stats_lock);
}

int64_t mmi_process_bytes_view(mmi_thread *t, int cat) {
    mmi_tcount *c = cat < 0 ? &t->total : &t->cat[cat];
    const mmi_gcount *g = cat < 0 ? &mmi_g_total : &mmi_g_cat[cat];
    /* retired threads' bytes are folded into flushed at retirement */
    return mmi_load(&g->flushed) + (mmi_load(&c->bytes) - c->flushed);
}

mm_stats mmi_process_stats(int cat) {
    pthread_mutex_lock(&stats_lock);
    mm_stats s = stats_sum(cat);
    pthread_mutex_unlock(&stats_lock);
    return s;
}

mm_stats mmi_ccount_stats(const mmi_ccount *c) {
    size_t peak = c->peak > c->peak_closed ? c->peak : c->peak_closed;
    mm_stats s = {c->bytes, peak, mmi_ccount_blocks(c), c->allocs, c->frees};
    return s;
}

mm_stats mmi_context_self_stats(const mm_context *ctx) {
    mm_stats s = mmi_ccount_stats(&ctx->tree);
    s.allocs -= ctx->gone_allocs;
    s.frees -= ctx->gone_frees;
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) {
        s.blocks -= mmi_ccount_blocks(&c->tree);
        s.allocs -= c->tree.allocs;
        s.frees -= c->tree.frees;
    }
    s.bytes = ctx->self_bytes;
    s.peak_bytes = ctx->self_peak;
    return s;
}

mm_stats mm_stats_total(const mm_context *ctx) {
    if (ctx == NULL) return mmi_process_stats(-1);
    mm_stats zero = {0, 0, 0, 0, 0};
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_stats_total: %p is not a live context", (const void *)ctx);
        return zero;
    }
    return mmi_ccount_stats(&ctx->tree);
}

mm_stats mm_stats_self(const mm_context *ctx) {
    mm_stats zero = {0, 0, 0, 0, 0};
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_stats_self: %p is not a live context", (const void *)ctx);
        return zero;
    }
    return mmi_context_self_stats(ctx);
}

mm_stats mm_stats_category(const mm_context *ctx, mm_category c) {
    mm_stats zero = {0, 0, 0, 0, 0};
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_stats_category");
        return zero;
    }
    if (ctx == NULL) return mmi_process_stats(c);
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, c, NULL, ctx,
                  "mm_stats_category: %p is not a live context", (const void *)ctx);
        return zero;
    }
    if (c >= ctx->ncap) return zero;
    return mmi_ccount_stats(&ctx->cats[c].tree);
}

mm_stats mm_context_epoch_stats(const mm_context *ctx) {
    mm_stats zero = {0, 0, 0, 0, 0};
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_context_epoch_stats: %p is not a live context", (const void *)ctx);
        return zero;
    }
    const mmi_ccount *c = &ctx->tree;
    mm_stats s = {c->bytes, c->peak, mmi_ccount_blocks(c), c->allocs - c->allocs_at_epoch,
                  c->frees - c->frees_at_epoch};
    return s;
}
