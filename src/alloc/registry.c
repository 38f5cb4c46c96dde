/* The registry of live contexts: the lock readers on any thread hold while
 * they copy a context's figures, and under which owners change a context's
 * structure (children, category arrays, labels, epochs); the lists of
 * top-level contexts, one per shard of threads, and the queues of destroyed
 * context structs; the process figures with every context's calls; and the
 * errors whose message names a context. Lowest
 * file of the allocation layer, so every other file of it may use these. */
#include "alloc.h"

#include <string.h>

mmi_lock mmi_ctx_lock = MMI_LOCK_INIT(MMI_RANK_CONTEXTS, "contexts");

/* ======================================================================
 * Shards
 *
 * Each thread links the top-level contexts it creates into its shard's
 * list and queues the structs of the contexts it destroys in its shard's
 * queue, under the shard's lock: two threads that create and destroy a
 * context per forest take different locks (threads get shards in turn, so
 * up to REG_SHARDS threads created one after the other share none). A
 * reader of every context holds the registry lock, then each shard's lock
 * in turn (a lower rank), so neither list nor structure changes under it.
 * ==================================================================== */

#define REG_SHARDS 16

typedef struct {
    _Alignas(MMI_CACHE_LINE) mmi_lock lock; /* the list and the queue below */
    mm_context *top;       /* live top-level contexts, newest first (sibling links) */
    mm_context *dead_head; /* destroyed context structs, oldest first (next_sibling) */
    mm_context *dead_tail; /* the newest of them */
    int ndead;             /* entries in the queue */
} reg_shard;

#define REG_SHARD_INIT {MMI_LOCK_INIT(MMI_RANK_CTX_LIST, "context list"), NULL, NULL, NULL, 0}
#define REG_SHARD_INIT4 REG_SHARD_INIT, REG_SHARD_INIT, REG_SHARD_INIT, REG_SHARD_INIT
static reg_shard reg_shards[REG_SHARDS] = {REG_SHARD_INIT4, REG_SHARD_INIT4, REG_SHARD_INIT4,
                                           REG_SHARD_INIT4};
static _Atomic unsigned reg_next_shard;              /* handed out in turn */
static _Thread_local unsigned reg_mine MMI_TLS_MODEL; /* this thread's shard + 1; 0: none yet */

static unsigned reg_my_shard(void) {
    if (MMI_UNLIKELY(reg_mine == 0))
        reg_mine = atomic_fetch_add_explicit(&reg_next_shard, 1, MMI_RELAXED) % REG_SHARDS + 1;
    return reg_mine - 1;
}

void mmi_ctx_link_top(mm_context *ctx) {
    ctx->shard = reg_my_shard();
    reg_shard *s = &reg_shards[ctx->shard];
    mmi_lock_take(&s->lock);
    ctx->prev_sibling = NULL;
    ctx->next_sibling = s->top;
    if (s->top) s->top->prev_sibling = ctx;
    s->top = ctx;
    mmi_lock_drop(&s->lock);
}

/* The calls (allocations, frees, moves between categories) of the destroyed
 * top-level contexts of each shard, their subtrees' included, per category:
 * added at the unlink, under the shard's lock, so a reader under that lock
 * counts a context's calls once, live or gone. (A context block's calls are
 * counted by its context alone, not by the thread: stats.h.) */
typedef struct {
    uint64_t allocs, frees;
    int64_t moved;
} reg_calls;
static reg_calls reg_gone[REG_SHARDS][MM_CATEGORY_MAX];

void mmi_ctx_unlink_top(mm_context *ctx) {
    reg_shard *s = &reg_shards[ctx->shard]; /* its creator's: it may have changed hands */
    reg_calls *gone = reg_gone[ctx->shard];
    mmi_lock_take(&s->lock);
    for (int c = 0; c < ctx->ncounted; c++) { /* no category above has a figure */
        const mmi_ccat *cc = &ctx->cats[c];
        gone[c].allocs += mmi_load(&cc->allocs);
        gone[c].frees += mmi_load(&cc->frees);
        gone[c].moved += mmi_load(&cc->moved);
    }
    if (ctx->prev_sibling)
        ctx->prev_sibling->next_sibling = ctx->next_sibling;
    else
        s->top = ctx->next_sibling;
    if (ctx->next_sibling) ctx->next_sibling->prev_sibling = ctx->prev_sibling;
    mmi_lock_drop(&s->lock);
}

mm_context *mmi_ctx_reuse(void) {
    reg_shard *s = &reg_shards[reg_my_shard()];
    mm_context *ctx = NULL;
    mmi_lock_take(&s->lock);
    if (s->ndead >= MMI_CTX_DEAD_KEEP) {
        ctx = s->dead_head;
        s->dead_head = ctx->next_sibling;
        if (s->dead_head == NULL) s->dead_tail = NULL;
        s->ndead--;
    }
    mmi_lock_drop(&s->lock);
    return ctx;
}

mm_context *mmi_ctx_retire(mm_context *ctx) {
    reg_shard *s = &reg_shards[reg_my_shard()];
    mm_context *drop = NULL;
    mmi_lock_take(&s->lock);
    ctx->next_sibling = NULL;
    if (s->dead_tail)
        s->dead_tail->next_sibling = ctx;
    else
        s->dead_head = ctx;
    s->dead_tail = ctx;
    s->ndead++;
    if (s->ndead > MMI_CTX_DEAD_KEEP) {
        drop = s->dead_head;
        s->dead_head = drop->next_sibling;
        s->ndead--;
    }
    mmi_lock_drop(&s->lock);
    return drop;
}

/* Adds the calls of every context, live or destroyed, in category cat (cat
 * < 0: every registered one) to *calls. */
static void reg_context_calls(int cat, reg_calls *calls) {
    int first = cat < 0 ? 0 : cat, last = cat < 0 ? mm_category_count() - 1 : cat;
    mmi_lock_take(&mmi_ctx_lock); /* category arrays are swapped under it */
    for (unsigned i = 0; i < REG_SHARDS; i++) {
        reg_shard *s = &reg_shards[i];
        mmi_lock_take(&s->lock);
        for (int c = first; c <= last; c++) {
            calls->allocs += reg_gone[i][c].allocs;
            calls->frees += reg_gone[i][c].frees;
            calls->moved += reg_gone[i][c].moved;
        }
        for (const mm_context *ctx = s->top; ctx; ctx = ctx->next_sibling)
            for (int c = first; c <= last && c < ctx->ncap; c++) {
                calls->allocs += mmi_load(&ctx->cats[c].allocs);
                calls->frees += mmi_load(&ctx->cats[c].frees);
                calls->moved += mmi_load(&ctx->cats[c].moved);
            }
        mmi_lock_drop(&s->lock);
    }
    mmi_lock_drop(&mmi_ctx_lock);
}

mm_stats mmi_process_stats(int cat) {
    reg_calls calls = {0, 0, 0};
    reg_context_calls(cat, &calls);
    mm_stats s = mmi_process_sums(cat);
    s.allocs += calls.allocs;
    s.frees += calls.frees;
    int64_t blocks = (int64_t)s.blocks + (int64_t)(calls.allocs - calls.frees) + calls.moved;
    s.blocks = blocks > 0 ? (size_t)blocks : 0; /* < 0 only while an owner is mid-update */
    return s;
}

/* ======================================================================
 * Owner locks (alloc.h)
 * ==================================================================== */

typedef struct {
    _Alignas(MMI_CACHE_LINE) mmi_lock lock; /* a line each: neighbours' owners share none */
} reg_owner_lock;
#define REG_OWNER_INIT {MMI_LOCK_INIT(MMI_RANK_CTX_OWNER, "context owner")}
#define REG_OWNER_INIT4 REG_OWNER_INIT, REG_OWNER_INIT, REG_OWNER_INIT, REG_OWNER_INIT
static reg_owner_lock reg_owner_locks[MMI_OWNER_LOCKS] = {REG_OWNER_INIT4, REG_OWNER_INIT4,
                                                          REG_OWNER_INIT4, REG_OWNER_INIT4};

unsigned mmi_ctx_owner_stripe(const mm_context *ctx) {
    return (unsigned)(ctx->owner_serial % MMI_OWNER_LOCKS);
}

mmi_lock *mmi_owner_lock_at(unsigned i) {
    return &reg_owner_locks[i].lock;
}

mmi_lock *mmi_ctx_owner_lock(const mm_context *ctx) {
    return mmi_owner_lock_at(mmi_ctx_owner_stripe(ctx));
}

/* ======================================================================
 * Limits, readers, errors
 * ==================================================================== */

static mmi_lock reg_limits_lock = MMI_LOCK_INIT(MMI_RANK_LIMIT, "limits");
static long reg_limits; /* limits set anywhere (process, contexts); reg_limits_lock */

void mmi_limits_counted(size_t old, size_t new_bytes) {
    long d = (old == 0 && new_bytes != 0) - (old != 0 && new_bytes == 0);
    if (d == 0) return;
    mmi_lock_take(&reg_limits_lock); /* the count and its bit change together */
    reg_limits += d;
    mmi_diag_set(MMI_DIAG_LIMITS, reg_limits > 0);
    mmi_lock_drop(&reg_limits_lock);
}

void mmi_contexts_lock(void) {
    mmi_lock_take(&mmi_ctx_lock);
}

void mmi_contexts_unlock(void) {
    mmi_lock_drop(&mmi_ctx_lock);
}

void mmi_contexts_read(void (*fn)(const mm_context *top, void *arg), void *arg) {
    mmi_lock_take(&mmi_ctx_lock);
    for (int i = 0; i < REG_SHARDS; i++) {
        reg_shard *s = &reg_shards[i];
        mmi_lock_take(&s->lock);
        for (mm_context *c = s->top; c; c = c->next_sibling) fn(c, arg);
        mmi_lock_drop(&s->lock);
    }
    mmi_lock_drop(&mmi_ctx_lock);
}

void mmi_context_error(const mm_context *ctx, const char *fn) {
    if (ctx == NULL)
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, NULL, "%s: the context is NULL", fn);
    else
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "%s: %p is not a live context (destroyed, or never created)", fn,
                  (const void *)ctx);
}

/* ======================================================================
 * The out-of-memory message
 * ==================================================================== */

void mmi_error_oom(size_t size, int cat, const mm_context *ctx, const char *fn) {
    char sz[32], live[32], peak[32], where[2 * MM_NAME_MAX + 48] = "", largest[256] = "";
    mm_format_bytes(size, sz, sizeof sz);
    if (mmi_ctx_alive(ctx)) {
        char label[MM_NAME_MAX + 1];
        mmi_lock_take(&mmi_ctx_lock);
        mmi_lock_take(mmi_ctx_owner_lock(ctx));
        memcpy(label, ctx->label, sizeof label);
        mmi_lock_drop(mmi_ctx_owner_lock(ctx));
        mmi_lock_drop(&mmi_ctx_lock);
        if (label[0])
            snprintf(where, sizeof where, " in context \"%s\" (epoch \"%s\")", ctx->name, label);
        else
            snprintf(where, sizeof where, " in context \"%s\"", ctx->name);
    }
    mm_stats tot = mmi_process_sums(-1); /* bytes and peak only */
    mm_format_bytes(tot.bytes, live, sizeof live);
    mm_format_bytes(tot.peak_bytes, peak, sizeof peak);
    /* the three largest categories by live bytes */
    int ncat = atomic_load(&mmi_ncat);
    size_t bytes[MM_CATEGORY_MAX];
    mmi_process_cat_bytes(bytes, ncat);
    int top[3] = {-1, -1, -1};
    for (int c = 0; c < ncat; c++) {
        for (int k = 0; k < 3; k++) {
            if (bytes[c] > 0 && (top[k] < 0 || bytes[c] > bytes[top[k]])) {
                for (int j = 2; j > k; j--) top[j] = top[j - 1];
                top[k] = c;
                break;
            }
        }
    }
    size_t used = 0;
    for (int k = 0; k < 3 && top[k] >= 0; k++) {
        char b[32];
        mm_format_bytes(bytes[top[k]], b, sizeof b);
        int w = snprintf(largest + used, sizeof largest - used, "%s%s %s",
                         k ? ", " : "; largest: ", mmi_cat_name(top[k]), b);
        if (w < 0 || (size_t)w >= sizeof largest - used) break;
        used += (size_t)w;
    }
    mmi_error(MM_ERR_OUT_OF_MEMORY, size, cat, NULL, ctx,
              "%s (%zu bytes) for category \"%s\"%s in %s\n"
              "mimicmem:   live %s, peak %s%s",
              sz, size, mmi_cat_name(cat), where, fn, live, peak, largest);
}
