/* Layer 4, allocation: process-wide blocks (alloc.c), contexts and their
 * exact figures (context.c), per-epoch statistics (epoch.c), and the calls
 * that take any block (block.c: mm_free, mm_realloc, queries, and the
 * messages that name a bad pointer). The context struct lives here, its hot
 * fields first; the counting that every context allocation and free does is
 * inline here so context.c and block.c share one definition. */
#ifndef MMI_ALLOC_H
#define MMI_ALLOC_H

#include "../arena/arena.h"

/* ======================================================================
 * Exact figures of a context (owner thread writes, with relaxed atomic
 * stores; readers anywhere read them relaxed, under the registry lock for
 * the structure around them: see docs/design.md, "Reading while others
 * work"). Every figure counts requested bytes.
 * ==================================================================== */

/* Peaks are kept at the turn (as the process figures are, stats.h): a
 * decrease first raises `peak` to the value it leaves, so the high-water
 * mark is max(peak, bytes) at any moment (mmi_cpeak_now). */
typedef struct {
    _Atomic size_t bytes;       /* live requested bytes */
    _Atomic size_t peak;        /* high-water mark of bytes in the current epoch, up to the
                                   last decrease */
    _Atomic size_t peak_closed; /* high-water mark over the closed epochs */
} mmi_cpeak;

/* Per-category figures of a context and its descendants that every
 * allocation and free touches: one cache line each (cats[cat] is a shift). */
typedef struct {
    mmi_cpeak tree;                /* bytes and peaks */
    _Atomic uint64_t allocs;       /* cumulative allocations */
    _Atomic uint64_t frees;        /* cumulative frees, reset/destroy included */
    _Atomic int64_t moved;         /* blocks moved in minus moved out (realloc_cat) */
    uint64_t allocs_at_epoch;      /* allocs when the current epoch began */
    uint64_t frees_at_epoch;       /* frees when the current epoch began */
} mmi_ccat;

_Static_assert(sizeof(mmi_ccat) == 64, "a category's hot figures fill one cache line");

/* Per-category figures that slow paths use (cold[cat], beside cats). */
typedef struct {
    size_t comp_bytes;             /* bytes at the recorded peak composition (peak.c) */
    size_t limit_bytes;            /* limit on tree.bytes; 0: none (limit.c) */
    int limit_warned;              /* the soft-threshold warning was logged */
    size_t reclaimed_bytes;        /* found live by resets, cumulative */
    size_t reclaimed_blocks;       /* found live by resets, cumulative */
    size_t last_reclaimed_bytes;   /* found live by the last reset */
    size_t last_reclaimed_blocks;  /* found live by the last reset */
} mmi_ccold;

static inline size_t mmi_ccat_blocks(const mmi_ccat *c) {
    return (size_t)((int64_t)(mmi_load(&c->allocs) - mmi_load(&c->frees)) + mmi_load(&c->moved));
}

typedef struct mmi_epochs mmi_epochs; /* epoch.c */

#define MMI_CTX_ALIVE 0x6D6D4358u /* "mmCX" */
#define MMI_CTX_DEAD  0x6D6D4444u /* "mmDD" */

struct mm_context {
    /* ---- hot: the allocation and free paths read these first ---------- */
    uint32_t magic;          /* MMI_CTX_ALIVE, MMI_CTX_DEAD after destroy */
    int ncounted;            /* ids below this are registered and in cats (fast check);
                                no category at or above it has a figure here (an
                                ancestor's is at least each descendant's) */
    mmi_ccat *cats;          /* [ncap] per category; swapped under the registry lock */
    mm_context *parent;      /* NULL for a top-level context */
    mmi_cpeak tree;          /* all categories, with descendants */
    size_t comp_next;        /* a peak of tree.bytes at or above this records its composition */
    _Atomic(mm_context *) last; /* the context (this one or a descendant) of the subtree's
                                   last allocation: where a peak found at the turn was
                                   reached (owner writes, readers under the registry lock) */
    int self_tracked;        /* has had children: own figures kept apart from tree's */
    int nested;              /* has a parent or has had children: the counting walks the
                                tree (else one level, the common flat context) */
    _Atomic size_t self_bytes; /* own blocks only (== tree.bytes until self_tracked) */
    _Atomic size_t self_peak;  /* own blocks only: all-time high-water mark, up to the
                                  last decrease (max with self_bytes: the mark now) */
    size_t tail_blocks;      /* own live blocks with a tail record (check.c) */
    size_t decor_blocks;     /* own live blocks with a guard or poison flag (check.c) */
    mmi_arena arena;         /* chunks, free lists, bump pointer */

    /* ---- cold: structure, names, epochs, limits; the owner changes these
     * under the registry lock, so readers under it see them whole ------- */
    int ncap;                     /* entries in cats and cold */
    mmi_ccold *cold;              /* [ncap] per category, the slow paths' figures */
    mm_context *first_child;      /* children, newest first */
    mm_context *next_sibling;     /* next child of parent (or next top-level context) */
    mm_context *prev_sibling;     /* previous child of parent (or top-level context) */
    uint64_t gone_allocs;         /* allocs of destroyed children, kept in the categories' */
    uint64_t gone_frees;          /* frees of destroyed children, kept in the categories' */
    mmi_epochs *epochs;           /* epoch statistics (epoch.c) */
    uint64_t serial;              /* unique per context created, from 1 */
    uint64_t owner_serial;        /* serial of the thread that created it */
    unsigned shard;               /* top-level: the registry list it is on (registry.c) */
    uint64_t resets;              /* resets so far (the epoch tag is a hash of it) */
    int warn_reclaimed;           /* log a warning per category left to reset */
    size_t limit_bytes;           /* limit on tree.bytes; 0: none (limit.c) */
    int limit_warned;             /* the soft-threshold warning was logged */
    size_t comp_bytes;            /* tree.bytes at the recorded peak composition (peak.c) */
    uint64_t comp_epoch;          /* epoch index in force at the recorded composition */
    char comp_where[MM_NAME_MAX + 1]; /* context allocated in at the recorded composition */
    char comp_label[MM_NAME_MAX + 1]; /* epoch label in force there ("" none) */
    char name[MM_NAME_MAX + 1];   /* copied at create */
    char label[MM_NAME_MAX + 1];  /* current epoch's label */
};

static inline bool mmi_ctx_alive(const mm_context *ctx) {
    return ctx != NULL && ctx->magic == MMI_CTX_ALIVE;
}

/* ======================================================================
 * Counting (inline: the hot paths of context.c and block.c)
 * ==================================================================== */

/* The high-water mark of c now. */
static inline size_t mmi_cpeak_now(const mmi_cpeak *c) {
    size_t p = mmi_load(&c->peak), b = mmi_load(&c->bytes);
    return p > b ? p : b;
}

/* Takes bytes off c; true when the value it leaves was a new peak. */
static MMI_INLINE bool mmi_cpeak_shrink(mmi_cpeak *c, size_t bytes) {
    size_t b = mmi_load(&c->bytes);
    bool turn = b > mmi_load(&c->peak);
    if (MMI_UNLIKELY(turn)) mmi_store(&c->peak, b);
    mmi_store(&c->bytes, b - bytes);
    return turn;
}

/* The counting of a context in a tree (a parent, or children once): its
 * own figure, then the figures of each ancestor. A flat context (most: one
 * per forest) is counted in the inline paths below without a walk. */
static MMI_INLINE void mmi_ctx_count_alloc_nested(mm_context *ctx, int cat, size_t bytes) {
    if (ctx->self_tracked) { /* children may have been the last to allocate */
        mmi_store(&ctx->self_bytes, mmi_load(&ctx->self_bytes) + bytes);
        mmi_store(&ctx->last, ctx);
    }
    for (mm_context *p = ctx->parent; p; p = p->parent) {
        size_t b = mmi_load(&p->tree.bytes) + bytes;
        mmi_store(&p->tree.bytes, b);
        mmi_store(&p->last, ctx);
        mmi_ccat *c = &p->cats[cat];
        mmi_store(&c->tree.bytes, mmi_load(&c->tree.bytes) + bytes);
        mmi_bump(&c->allocs, 1);
        /* invariants (MM_DEBUG): a subtree holds at least each part of it */
        MMI_ASSERT(p->parent == NULL || mmi_load(&p->parent->tree.bytes) + bytes >= b);
        MMI_ASSERT(mmi_load(&c->tree.bytes) <= b);
    }
    MMI_ASSERT(!ctx->self_tracked || mmi_load(&ctx->self_bytes) <= mmi_load(&ctx->tree.bytes));
}

/* An allocation of bytes in category cat of ctx: its figures (the _flat
 * part, all of it for a flat context), then (in a tree) its own figure and
 * every ancestor's. No peak can end at an
 * allocation, so this only adds. The subtree's last allocation (`last`) is
 * noted where it can differ from the context itself: in ancestors, and in a
 * context that has had children (readers take NULL as the context itself). */
static MMI_INLINE void mmi_ctx_count_alloc_flat(mm_context *ctx, int cat, size_t bytes) {
    mmi_ccat *c = &ctx->cats[cat];
    mmi_store(&c->tree.bytes, mmi_load(&c->tree.bytes) + bytes);
    mmi_bump(&c->allocs, 1);
    mmi_store(&ctx->tree.bytes, mmi_load(&ctx->tree.bytes) + bytes);
    MMI_ASSERT(mmi_load(&c->tree.bytes) <= mmi_load(&ctx->tree.bytes));
}

static MMI_INLINE void mmi_ctx_count_alloc(mm_context *ctx, int cat, size_t bytes) {
    mmi_ctx_count_alloc_flat(ctx, cat, bytes);
    if (MMI_UNLIKELY(ctx->nested)) mmi_ctx_count_alloc_nested(ctx, cat, bytes);
}

/* One level of a decrease of bytes in cat (blocks of them freed): true when
 * p's total reached a new peak at or above its composition mark just before. */
static MMI_INLINE bool mmi_ctx_count_free_level(mm_context *p, int cat, size_t bytes,
                                                uint64_t blocks) {
    size_t b = mmi_load(&p->tree.bytes);
    bool comp = false;
    if (MMI_UNLIKELY(b > mmi_load(&p->tree.peak))) { /* mmi_cpeak_shrink, b kept */
        mmi_store(&p->tree.peak, b);
        comp = b >= p->comp_next;
    }
    mmi_store(&p->tree.bytes, b - bytes);
    mmi_ccat *c = &p->cats[cat];
    mmi_cpeak_shrink(&c->tree, bytes);
    mmi_bump(&c->frees, blocks);
    return comp;
}

/* blocks blocks of bytes bytes in all left category cat of ctx by free,
 * reset or destroy: a turn for each figure. True when a context's total
 * reached a new peak at or above its composition mark just before (the
 * caller then calls mmi_context_turn, out of line). */
static MMI_INLINE bool mmi_ctx_count_free_tree(mm_context *ctx, int cat, size_t bytes,
                                               uint64_t blocks) {
    bool comp = mmi_ctx_count_free_level(ctx, cat, bytes, blocks);
    for (mm_context *p = ctx->parent; p; p = p->parent)
        comp |= mmi_ctx_count_free_level(p, cat, bytes, blocks);
    return comp;
}

/* The same for blocks of ctx's own (a free): its own figure turns too. (A
 * reset or destroy takes the subtree's bytes off with the _tree form and
 * sets the own figure to 0 itself.) */
static MMI_INLINE bool mmi_ctx_count_free(mm_context *ctx, int cat, size_t bytes, uint64_t blocks) {
    bool comp = mmi_ctx_count_free_level(ctx, cat, bytes, blocks);
    if (MMI_LIKELY(!ctx->nested)) return comp;
    if (ctx->self_tracked) {
        size_t s = mmi_load(&ctx->self_bytes);
        if (s > mmi_load(&ctx->self_peak)) mmi_store(&ctx->self_peak, s);
        mmi_store(&ctx->self_bytes, s - bytes);
    }
    for (mm_context *p = ctx->parent; p; p = p->parent)
        comp |= mmi_ctx_count_free_level(p, cat, bytes, blocks);
    return comp;
}

/* ======================================================================
 * Contexts (context.c)
 * ==================================================================== */

/* After a decrease in ctx's subtree that ended a peak at or above a
 * composition mark: records the composition of every context from ctx up
 * whose new peak it was (through mmi_hooks). The state at the peak is now's
 * with out_bytes of out_cat still live and in_bytes of in_cat not yet. */
MMI_COLD void mmi_context_turn(mm_context *ctx, int out_cat, size_t out_bytes, int in_cat,
                               size_t in_bytes);
/* The rare end of a free of a context block: the large chunk ch (unless
 * NULL) goes back, then the slow parts of the counting (need:
 * mmi_count_free_fast's answer; comp: mmi_ctx_count_free's). */
MMI_COLD void mmi_context_free_settle(mmi_thread *t, mm_context *ctx, mmi_chunk *ch, int cat,
                                      size_t size, unsigned need, bool comp);
/* The same for carved block h just freed (its header still names its size
 * and category), a fold or a peak due (comp: a context peak). */
MMI_COLD void mmi_context_freed_settle(mmi_thread *t, mm_context *ctx, const mmi_header *h,
                                       bool comp);
/* Makes ctx and its ancestors able to count category cat; false after an
 * out-of-memory error naming fn. */
bool mmi_context_cats(mm_context *ctx, int cat, const char *fn);
/* The counting of the decorated paths (check.c). */
void mmi_context_count_alloc(mm_context *ctx, int cat, size_t bytes);
void mmi_context_count_free(mm_context *ctx, int cat, size_t bytes);
void mmi_context_count_resize(mm_context *ctx, int old_cat, size_t old_bytes, int new_cat,
                              size_t new_bytes);
/* A context block: allocate (ctx alive, cat checked), free, resize. */
void *mmi_context_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                        const char *file, int line);
void *mmi_context_realloc(mmi_header *h, mmi_chunk *ch, size_t size, int cat, const char *fn);
/* Raw pieces for check.c: a slot with room for span bytes (NULL after an
 * error), given back (sealed live, size = span; poisoned: payload filled),
 * and a checked one under poison (*bad: a block written after its free). */
mmi_header *mmi_context_get(mm_context *ctx, size_t span, int cat, bool zero, const char *fn,
                            bool *reused, mmi_header **bad);
void mmi_context_put(mmi_chunk *ch, mmi_header *h, bool poisoned);

/* The registry (registry.c): its lock, under which owners change a
 * context's structure and readers copy it. The live top-level contexts are
 * in lists of their own, one per shard of threads, each under a lock of its
 * own: a top-level create or destroy takes only its shard's. */
extern mmi_lock mmi_ctx_lock;
/* Links top-level ctx, fully made, into the calling thread's shard (readers
 * see it from then on); unlinks it (none reaches it after). */
void mmi_ctx_link_top(mm_context *ctx);
void mmi_ctx_unlink_top(mm_context *ctx);
/* The struct of the oldest destroyed context of the calling thread's shard
 * once the shard keeps MMI_CTX_DEAD_KEEP of them (to be made anew), or NULL. */
mm_context *mmi_ctx_reuse(void);
/* Queues the struct of a destroyed context (magic dead), so a stale use of
 * it is named; returns the one it pushes out of the queue (to free), or NULL. */
mm_context *mmi_ctx_retire(mm_context *ctx);
#define MMI_CTX_DEAD_KEEP 64 /* destroyed context structs kept per shard */
/* The owner lock of ctx: one of 16, each on a cache line of its own, chosen
 * by the owner thread's serial (threads made one after another share none).
 * A context's own data that readers copy (its label, epochs, reclaimed
 * figures, epoch marks, composition) changes under the registry lock or
 * under this lock, always by the owner; a reader holds both. So an owner
 * that resets a context without children, or records a peak, takes no lock
 * another owner takes. */
mmi_lock *mmi_ctx_owner_lock(const mm_context *ctx);
#define MMI_OWNER_LOCKS 16
/* ctx's stripe (its owner lock is mmi_owner_lock_at of it), and the owner
 * lock of stripe i < MMI_OWNER_LOCKS: data kept per stripe (the epoch
 * ledger's counts) is under that stripe's lock. */
unsigned mmi_ctx_owner_stripe(const mm_context *ctx);
mmi_lock *mmi_owner_lock_at(unsigned i);

/* One limit (process or context, diag/limit.c sets them) went from old to
 * new bytes (0: none): keeps the count of limits set, and MMI_DIAG_LIMITS
 * on while there is one. A context going away calls it for its own. */
void mmi_limits_counted(size_t old, size_t new_bytes);

/* Reports MM_ERR_BAD_CONTEXT: ctx NULL or not alive, given to fn. */
MMI_COLD void mmi_context_error(const mm_context *ctx, const char *fn);
/* In an mm_context_* entry point: a dead or foreign ctx is reported to fn's
 * caller (mmi_context_error) and the function returns fail. */
#define MMI_CTX_REQUIRE(ctx, fn, fail)                                                             \
    do {                                                                                           \
        if (!mmi_ctx_alive(ctx)) {                                                                 \
            mmi_context_error((ctx), (fn));                                                        \
            return fail;                                                                           \
        }                                                                                          \
    } while (0)

/* Calls fn for every live top-level context while holding the registry lock
 * (fn reads any field of the tree; it must not call a handler or another
 * public function). */
void mmi_contexts_read(void (*fn)(const mm_context *top, void *arg), void *arg);
/* The registry lock itself, for a reader of one context (ctx given by a
 * caller, not found through the registry). */
void mmi_contexts_lock(void);
void mmi_contexts_unlock(void);

/* Process-wide figures (cat < 0: all categories): the threads' sums
 * (mmi_process_sums) with the calls of every context, live or destroyed,
 * added (registry.c; takes the registry lock and each shard's, then the
 * statistics lock: call it holding none of those). */
mm_stats mmi_process_stats(int cat);

/* Figures of a context read by any thread: take the registry lock (and, for
 * mmi_context_epoch_now, ctx's owner lock) around calls when ctx is not the
 * caller's own. */
mm_stats mmi_context_total(const mm_context *ctx);
mm_stats mmi_context_self(const mm_context *ctx);
mm_stats mmi_context_category(const mm_context *ctx, int cat);
mm_stats mmi_context_epoch_now(const mm_context *ctx);

/* The OOM message: size, category, where, in which call, and the process
 * totals with the three largest categories. */
MMI_COLD void mmi_error_oom(size_t size, int cat, const mm_context *ctx, const char *fn);

/* ======================================================================
 * Process-wide blocks (alloc.c)
 * ==================================================================== */

/* Entry points that name their caller in error messages (the legacy layer
 * passes "mymalloc", "myfree", ...). file and line: the call site (NULL:
 * none), recorded while sites are on. */
void *mmi_malloc_as(size_t size, int cat, bool zero, const char *fn, const char *file, int line);
/* Validates cat and size for an allocation; false after the error. */
bool mmi_alloc_check(size_t size, int cat, const mm_context *ctx, const char *fn);
/* Raw process blocks for check.c: room for span bytes, info cleared (NULL
 * after an error), given back (sealed live, size = span), and a checked one
 * under poison. */
mmi_header *mmi_process_get(mmi_thread *t, size_t span, int cat, bool zero, const char *fn,
                            bool *reused, mmi_header **bad);
void mmi_process_put(mmi_thread *t, mmi_header *h, bool poisoned);
/* A small process block's memory made to hold span bytes (<= the cache's
 * largest request) by the system's realloc, as the plain path does: the
 * header and the first bytes move with it. NULL when out of memory (h kept,
 * untouched). The caller re-seals the header. */
mmi_header *mmi_process_sys_resize(mmi_header *h, size_t span, int cat);
/* The process path of realloc for a plain or big block h. */
void *mmi_process_realloc(mmi_header *h, size_t size, int cat, const char *fn);
/* Returns a big or small process block's memory to the system, by its span. */
void mmi_process_release(mmi_header *h);

/* ======================================================================
 * The plain free paths (inline: block.c's mm_free and check.c share them)
 * ==================================================================== */

/* The rare end of mmi_process_free: h (unless NULL) goes back to the system
 * (a big block, or a small one the cache had no room for), then the slow
 * parts of the counting (need: mmi_count_free_fast's answer). */
MMI_COLD void mmi_process_free_end(mmi_thread *t, mmi_header *h, int cat, size_t size,
                                   unsigned need);

/* Frees a live, undecorated process block (small or big) for thread t. */
static MMI_INLINE void mmi_process_free(mmi_thread *t, mmi_header *h) {
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    unsigned need = mmi_count_free_fast(t, cat, size, true);
    /* every call below is a tail call, so the common path needs no frame */
    if (MMI_LIKELY(!(h->info & MMI_HF_BIG))) {
        mmi_hdr_live_to_freed(h);
        if (MMI_LIKELY(mmi_cache_push(t, h, size))) {
            if (MMI_LIKELY(need == 0)) return;
            h = NULL; /* parked: nothing left to give back */
        }
    }
    mmi_process_free_end(t, h, cat, size, need);
}

/* Frees a live, undecorated context block h of chunk ch in a context of a
 * tree or a large chunk: mmi_context_free's general case (context.c). */
void mmi_context_free_general(mmi_thread *t, mmi_header *h, mmi_chunk *ch);

/* Frees a live, undecorated carved block h of small chunk ch (its owner's).
 * The common case, a block of a flat context, is inline and makes no call
 * but tail calls, so it needs no frame. */
static MMI_INLINE void mmi_context_free_small(mmi_thread *t, mmi_header *h, mmi_chunk *ch) {
    mm_context *ctx = ch->ctx;
    if (MMI_UNLIKELY(ctx->nested)) {
        mmi_context_free_general(t, h, ch);
        return;
    }
    uint64_t sc = h->size_cat;
    size_t size = (size_t)(sc & MMI_SIZE_MASK);
    int cat = (int)(sc >> MMI_SIZE_BITS);
    bool comp = mmi_ctx_count_free_level(ctx, cat, size, 1);
    unsigned need = mmi_count_free_fast(t, cat, size, false);
    mmi_arena_put_sized(&ctx->arena, h, size);
    if (MMI_LIKELY((need | (unsigned)comp) == 0)) return;
    mmi_context_freed_settle(t, ctx, h, comp);
}

/* Frees a live, undecorated context block h of chunk ch (its owner's). */
static MMI_INLINE void mmi_context_free(mmi_thread *t, mmi_header *h, mmi_chunk *ch) {
    if (MMI_UNLIKELY(ch->kind == MMI_CHUNK_LARGE))
        mmi_context_free_general(t, h, ch);
    else
        mmi_context_free_small(t, h, ch);
}

/* ======================================================================
 * Any block (block.c)
 * ==================================================================== */

/* The header of a live block p, or NULL after reporting why not to fn
 * (bad alignment, memory that is not ours any more, a damaged or freed
 * header). *ch is set to its chunk for a context block (else NULL). */
mmi_header *mmi_block_live(const void *p, const char *fn, mmi_chunk **ch);
void mmi_free_as(void *p, const char *fn);
void *mmi_realloc_as(void *p, size_t size, int cat, bool keep_cat, const char *fn,
                     const char *file, int line);
/* Reports a pointer error for p given to fn: the state its header was
 * found in, and for a context block why its owner no longer has it. */
MMI_COLD void mmi_error_pointer(const void *p, mmi_hdr_state st, mmi_owner_state owner,
                                const char *fn);

/* ======================================================================
 * Epochs (epoch.c)
 * ==================================================================== */

mmi_epochs *mmi_epochs_new(void);
void mmi_epochs_free(mmi_epochs *e);
uint64_t mmi_epochs_count(const mmi_epochs *e); /* closed epochs */
/* Closes the current epoch of ctx, before the reset frees anything: the
 * summary and top-K (under ctx's owner lock, which the caller holds) and
 * the process ledger. false: the per-category breakdown of a top entry could
 * not be kept (out of memory; the caller reports it after unlocking). */
bool mmi_epochs_close(mm_context *ctx);
/* The user fields of the current epoch are cleared for the next one. */
void mmi_epochs_next(mm_context *ctx);

/* What the epoch log writer (report.c) needs: the stream and its format
 * (NULL: none), the user fields and which are set in the current epoch,
 * and the columns its last wide-CSV header had (it updates them). */
typedef struct {
    FILE *out;                                        /* NULL: no log */
    mm_epoch_log_format fmt;                          /* its format */
    int nfields;                                      /* user field names known */
    char (*names)[MM_NAME_MAX + 1];                   /* [nfields] */
    const double *values;                             /* [nfields] this epoch's values */
    uint32_t set;                                     /* bit i: field i set this epoch */
    int *header_ncat;                                 /* categories in the last wide header */
    int *header_nfields;                              /* fields in the last wide header */
} mmi_epoch_log;

mmi_epoch_log mmi_epochs_log_state(mm_context *ctx);

/* The process-wide ledger of every closed epoch of every context (live or
 * destroyed): count, min/mean/max of the epoch peaks and the top K, for
 * process reports and the MPI reduction. mmi_ledger_copy adds up the counts
 * of every owner-lock stripe and copies the list under its lock. */
#define MMI_LEDGER_TOP 10
typedef struct {
    uint64_t epoch;                  /* index within its context */
    size_t peak_bytes;               /* the epoch's peak */
    char context[MM_NAME_MAX + 1];   /* its context */
    char label[MM_NAME_MAX + 1];     /* its label */
    int ncats;                       /* entries of cats */
    struct {
        int cat;
        size_t peak;
    } cats[16];                      /* its largest categories (at most 16) */
} mmi_ledger_entry;

typedef struct {
    uint64_t count;      /* epochs closed in the process */
    size_t min_peak;     /* smallest epoch peak (0 when count is 0) */
    size_t max_peak;     /* largest */
    double sum_peak;     /* sum, for the mean */
    size_t ntop;         /* entries of top, largest first */
    mmi_ledger_entry top[MMI_LEDGER_TOP];
} mmi_ledger;

void mmi_ledger_copy(mmi_ledger *out);

/* The top-K list and summary of one context, copied for a reader (the
 * caller holds the registry lock and ctx's owner lock). */
typedef struct {
    uint64_t index;                  /* epoch number in its context */
    size_t peak_bytes;               /* its peak */
    char label[MM_NAME_MAX + 1];     /* its label */
    int ncats;                       /* entries of cats */
    const struct mmi_epoch_catpeak *cats; /* valid while those locks are held */
} mmi_epoch_view;

struct mmi_epoch_catpeak {
    int cat;     /* category id */
    size_t peak; /* that category's peak during the epoch, bytes */
};

mm_epoch_summary mmi_epochs_summary(const mm_context *ctx);
size_t mmi_epochs_top(const mm_context *ctx, size_t rank, mmi_epoch_view *out); /* 0: none */

#endif /* MMI_ALLOC_H */
