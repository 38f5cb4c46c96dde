/* Layer 2, statistics and cache: each thread's record (mmi_thread) holds its
 * process-wide counters (stats.c) and its cache of freed process blocks
 * (cache.c). The hot-path updates are inline here so every allocation path
 * shares one definition. */
#ifndef MMI_STATS_H
#define MMI_STATS_H

#include "../block/block.h"

/* ======================================================================
 * Per-thread cache of freed process-wide blocks (cache.c)
 *
 * A free of a process-wide block of up to 32 KiB parks it in the freeing
 * thread's cache; an allocation that fits takes it back, LIFO. Up to 4,104
 * bytes a process block is given a capacity of 16k+8 bytes (8, 24, 40, ...,
 * 104, 120, ...), which with the 16-byte header is exactly what glibc's
 * 16-byte granularity would hand out anyway, so bins are exact: bin =
 * capacity / 16. Above that, bins are the size classes (four per doubling),
 * a block going to the largest class it holds. Blocks are linked through
 * their payload.
 *
 * The cache is bounded per thread by its cap (the option "cache"): by
 * default it adapts, four times the bytes the thread has live, at least
 * 256 KiB and at most 4 MiB; a byte count fixes it; off is 0.
 * The push compares against the thread's own cap, which only the slow
 * paths set: the thread's creation, each fold of its total figure (every
 * 64 KiB of net change) and the option's change (the calling thread at
 * once, the others at their next fold). A cap that falls below the cached
 * bytes gives the excess back, largest blocks first (docs/design.md).
 * ==================================================================== */

#define MMI_CACHE_EXACT_MAX     ((size_t)4104) /* exact bins up to here */
#define MMI_CACHE_MAX_REQUEST   ((size_t)32768)
#define MMI_CACHE_BIG0          27u            /* mmi_size_class(4096): class of bin 256 */
#define MMI_CACHE_BINS          (257 + 12)     /* 0..256 exact, 12 classes above */
#define MMI_DEFAULT_CACHE_BYTES ((size_t)4 << 20) /* the adaptive cap's ceiling */
#define MMI_CACHE_FLOOR_BYTES   ((size_t)256 << 10) /* the adaptive cap's floor */
#define MMI_CACHE_LIVE_TIMES    4                   /* adaptive cap: live bytes times this */

typedef struct {
    size_t bytes;                     /* capacity of the cached blocks, summed; <= cap
                                         unless a damaged bin stopped a trim */
    size_t cap;                       /* bytes may grow to this (mmi_cache_adapt sets
                                         it; owner only) */
    mmi_header *head[MMI_CACHE_BINS]; /* freed-sealed blocks, linked via payload */
} mmi_cache;

/* The option "cache": the cap's ceiling in bytes (0: off), and whether the
 * cap adapts to the thread's live bytes below it (on, the default) or is
 * that ceiling (a byte count). Written by mmi_cache_set_limit. */
extern _Atomic size_t mmi_cache_limit;
extern _Atomic bool mmi_cache_adaptive;

/* Payload bytes given to a process block of n requested bytes. */
static inline size_t mmi_process_capacity(size_t n) {
    return n <= MMI_CACHE_EXACT_MAX ? ((n + 7) & ~(size_t)15) + 8 : n;
}

/* Bin to take a block of n requested bytes from (n <= MMI_CACHE_MAX_REQUEST). */
static inline unsigned mmi_cache_bin_fit(size_t n) {
    if (n <= MMI_CACHE_EXACT_MAX) return (unsigned)(mmi_process_capacity(n) >> 4);
    return 256 + mmi_size_class(n) - MMI_CACHE_BIG0;
}

/* Bin to park a block of n requested bytes in (n <= MMI_CACHE_MAX_REQUEST). */
static inline unsigned mmi_cache_bin_held(size_t n) {
    if (n <= MMI_CACHE_EXACT_MAX) return (unsigned)(mmi_process_capacity(n) >> 4);
    unsigned k = mmi_size_class(n);
    if (mmi_class_bytes(k) > n) k--;
    return 256 + k - MMI_CACHE_BIG0;
}

/* ======================================================================
 * Process statistics (stats.c)
 *
 * Each thread counts into its own mmi_thread (one writer: the thread;
 * readers: anyone summing under the statistics lock, with relaxed atomics).
 * A thread folds its pending bytes into the global `flushed` sum once they
 * are 256 KiB above or below what it folded last, so `global + own pending`
 * is the process figure as this thread sees it (its "estimate"), within
 * 256 KiB per other thread either way. A context per forest of up to
 * 256 KiB, made and destroyed again and again, folds nothing: two threads
 * doing that write no shared line for their statistics.
 *
 * Peaks are kept at the turn: a figure's maximum is reached just before one
 * of its decreases (or is the value now), so only decreases look for a new
 * peak. Each direction is one compare. A growth compares against `hi`:
 * the next fold or 64 KiB above the bytes at the last slow path (which reads
 * the global sum again), or `turn` if lower (the value above which the
 * estimate passes the recorded peak); the growth that crosses `turn` takes
 * the slow path once and marks the figure rising (`lo` = MMI_LO_RISING). A
 * decrease compares against `lo`: 64 KiB below the bytes at the last slow
 * path (the cache's cap follows live bytes) or the fold bound if higher, or,
 * while rising, always; its slow path sums the figure exactly under the
 * statistics lock, records a new peak (for the total also its composition),
 * and takes the sum as its view of the others, so the figure stops rising
 * (a view lifted by others' unfolded decreases sums once, not at every
 * decrease). Readers take max(recorded peaks, the exact sum now). A thread
 * that exits records the sums, folds everything in and drops the others'
 * `hi`, so their next growth re-reads the sums: the peak stays exact while
 * one thread allocates after the others exited (design.md).
 * ==================================================================== */

/* A fold: pending bytes this far from what was folded last go into the
 * global sum (the bound of the process peak's lag, per thread). */
#define MMI_BATCH ((int64_t)256 * 1024)
/* A slow path between folds: every 64 KiB a figure moves from where the
 * last slow path left it (a growth reads the global sum again; a decrease of
 * the total moves the cache's cap). */
#define MMI_STEP ((int64_t)64 * 1024)
/* `lo` while a figure rises past its turn: every decrease takes the slow path */
#define MMI_LO_RISING INT64_MAX

/* One figure of one thread: cache-line aligned, its hot fields on the first
 * line (the peak, read by slow paths, on the second). */
typedef struct {
    _Alignas(MMI_CACHE_LINE) _Atomic int64_t bytes; /* net requested bytes added by this
                                                       thread (may be < 0) */
    _Atomic int64_t hi;      /* a growth taking bytes above this takes the slow path: a
                                fold is due, the figure rose 64 KiB since the last slow
                                path, or it starts to rise past `turn`;
                                written by the owner, dropped by an exiting thread */
    _Atomic int64_t turn;    /* a decrease from above this may end a new peak; written
                                by the owner, dropped by an exiting thread */
    _Atomic uint64_t allocs; /* allocations made by this thread */
    _Atomic uint64_t frees;  /* frees made by this thread (reset/destroy included) */
    _Atomic int64_t moved;   /* blocks moved in minus moved out (realloc_cat); live
                                blocks = allocs - frees + moved */
    int64_t flushed;         /* part of bytes already added to the global sum; owner only */
    int64_t lo;              /* a decrease to or below it takes the slow path: the
                                larger of flushed - 256 KiB (a fold) and the bytes at the
                                last slow path - 64 KiB (the cache's cap), or
                                MMI_LO_RISING while bytes > turn (every decrease is a
                                turn); owner only */
    _Atomic int64_t peak;    /* largest process-wide estimate seen by this thread */
} mmi_tcount;

/* One figure's global part: a cache line of its own. */
typedef struct {
    _Alignas(MMI_CACHE_LINE) _Atomic int64_t flushed; /* sum of all threads' flushed bytes */
    _Atomic int64_t peak;  /* max of thread peaks folded in at flush and retire, and of
                              every exact sum a query computed: never decreases */
    int64_t bytes, blocks; /* retired threads' net figures; under the statistics lock */
    uint64_t allocs, frees; /* retired threads' counts; under the statistics lock */
} mmi_gcount;

typedef struct mmi_thread {
    mmi_tcount cat[MM_CATEGORY_MAX]; /* per category id (first: &cat[i] is t plus i records) */
    mmi_tcount total;                /* all categories: bytes and peak only */
    const struct mm_context *where;  /* context of this thread's last allocation (NULL:
                                        process-wide): where a peak found at the turn was
                                        reached; cleared when that context goes away */
    mmi_cache cache;                 /* freed process-wide blocks for reuse */
    uint64_t serial;                 /* unique per thread record, from 1 */
    struct mmi_thread *next, *prev;  /* registry list; under the statistics lock */
} mmi_thread;

extern mmi_gcount mmi_g_total;
extern mmi_gcount mmi_g_cat[MM_CATEGORY_MAX];
extern _Thread_local mmi_thread *mmi_tls MMI_TLS_MODEL;

/* Creates the calling thread's record; NULL after an MM_ERR_OUT_OF_MEMORY
 * error naming fn (the call that needed it then fails). */
MMI_COLD mmi_thread *mmi_thread_create(const char *fn);
/* A growth took c above `hi`: folds when due, and marks c rising when it
 * passed its turn (the thresholds from the sums now). */
void mmi_tcount_rise(mmi_tcount *c, mmi_gcount *g);
/* c decreased from b_old (its value before) to its value now: records a new
 * peak estimate (g + b_old - flushed) and folds when due. Returns the new
 * peak estimate when it moved, else 0. */
int64_t mmi_tcount_turn(mmi_tcount *c, mmi_gcount *g, int64_t b_old);

/* The calling thread's record, created at its first call; NULL only when
 * that creation failed (the error is reported). */
static inline mmi_thread *mmi_thread_get(const char *fn) {
    mmi_thread *t = mmi_tls;
    if (MMI_UNLIKELY(t == NULL)) t = mmi_thread_create(fn);
    return t;
}

/* Adds bytes to one figure of the calling thread. The common case is one
 * compare and touches no cache line another thread writes. */
static MMI_INLINE void mmi_tcount_grow(mmi_tcount *c, mmi_gcount *g, int64_t bytes) {
    int64_t b = mmi_load(&c->bytes) + bytes;
    mmi_store(&c->bytes, b);
    if (MMI_UNLIKELY(b > mmi_load(&c->hi))) mmi_tcount_rise(c, g);
}

/* The composition of a process peak (diag/peak.c, through mmi_hooks) is
 * recorded when a turn finds a peak estimate at or above this mark. */
extern _Atomic int64_t mmi_peak_next; /* diag/peak.c moves it; defined in stats.c */
extern _Atomic size_t mmi_peak_step;  /* option "peak_step", bytes >= 1 (diag/peak.c sets it) */

/* Takes bytes off one figure; returns the new peak estimate when this turn
 * found one, else 0. */
static MMI_INLINE int64_t mmi_tcount_shrink(mmi_tcount *c, mmi_gcount *g, int64_t bytes) {
    int64_t old = mmi_load(&c->bytes), b = old - bytes;
    mmi_store(&c->bytes, b);
    if (MMI_UNLIKELY(b <= c->lo))
        return mmi_tcount_turn(c, g, old);
    return 0;
}

/* The hot paths count in two steps: the fast step updates the figures and
 * says whether one of the two (the category's, the total's) needs the slow
 * path (nonzero); only then does the caller settle them, out of line, after
 * its own work, so the common path makes no call and keeps its registers.
 * The settle looks again at which figure passed its threshold (only the
 * owner moves them further, so it finds what the fast step found).
 *
 * calls: count the call too (allocs, frees, moved) for a process block. A
 * context block's calls are counted by its context alone: the process
 * counts are the threads' plus every context's (alloc/registry.c), so a
 * context allocation or free writes one counter fewer. calls is a constant
 * at every use. */

/* Counts an allocation (no peak can end at an allocation). */
static MMI_INLINE unsigned mmi_count_alloc_fast(mmi_thread *t, int cat, size_t bytes, bool calls) {
    mmi_tcount *c = &t->cat[cat];
    MMI_HOLD(c);
    if (calls) mmi_bump(&c->allocs, 1);
    int64_t b = mmi_load(&c->bytes) + (int64_t)bytes;
    mmi_store(&c->bytes, b);
    int64_t tb = mmi_load(&t->total.bytes) + (int64_t)bytes;
    mmi_store(&t->total.bytes, tb);
    return MMI_UNLIKELY(b > mmi_load(&c->hi)) || MMI_UNLIKELY(tb > mmi_load(&t->total.hi));
}

/* After mmi_count_alloc_fast returned nonzero: the folds due (the category's,
 * the total's: whichever passed its `hi`). */
MMI_COLD void mmi_count_settle_alloc(mmi_thread *t, int cat);

static MMI_INLINE unsigned mmi_count_free_fast(mmi_thread *t, int cat, size_t bytes, bool calls) {
    mmi_tcount *c = &t->cat[cat];
    MMI_HOLD(c);
    if (calls) mmi_bump(&c->frees, 1);
    int64_t b = mmi_load(&c->bytes) - (int64_t)bytes;
    mmi_store(&c->bytes, b);
    int64_t tb = mmi_load(&t->total.bytes) - (int64_t)bytes;
    mmi_store(&t->total.bytes, tb);
    return MMI_UNLIKELY(b <= c->lo) || MMI_UNLIKELY(tb <= t->total.lo);
}

/* After mmi_count_free_fast returned nonzero for a free of bytes in cat:
 * records the peaks that turn ended and folds; true when a process peak
 * composition is due (the caller then calls mmi_hooks.peak_process(t, cat,
 * bytes): the state at the peak is now's plus the freed block). */
MMI_COLD bool mmi_count_settle_free(mmi_thread *t, int cat, size_t bytes);

/* Counts an allocation. */
static MMI_INLINE void mmi_count_alloc(mmi_thread *t, int cat, size_t bytes, bool calls) {
    unsigned need = mmi_count_alloc_fast(t, cat, bytes, calls);
    if (MMI_UNLIKELY(need != 0)) mmi_count_settle_alloc(t, cat);
}

/* Counts a free; true when a process peak composition is due (as
 * mmi_count_settle_free). */
static MMI_INLINE bool mmi_count_free(mmi_thread *t, int cat, size_t bytes, bool calls) {
    unsigned need = mmi_count_free_fast(t, cat, bytes, calls);
    return MMI_UNLIKELY(need != 0) && mmi_count_settle_free(t, cat, bytes);
}

/* A block of old_bytes in old_cat became new_bytes in new_cat (calls: a
 * process block, whose move between categories the thread counts); true
 * when a process peak composition is due: the state at the peak is now's
 * with old_bytes back in old_cat and new_bytes out of new_cat (the caller
 * passes both to mmi_hooks.peak_resized). */
bool mmi_count_resize(mmi_thread *t, int old_cat, size_t old_bytes, int new_cat,
                      size_t new_bytes, bool calls);

/* Before a release (reset/destroy): a turn of the total now, as if it were
 * about to decrease; true when a process peak composition is due (the state
 * at the peak is now's). */
bool mmi_count_turn_now(mmi_thread *t);

/* Bytes of one category of a context released at once (reset/destroy; its
 * context counts the frees); true when a process peak composition is due
 * (the state at the peak: now's plus bytes in cat). */
bool mmi_count_release(mmi_thread *t, int cat, size_t bytes);

/* The figures the threads hold, summed over all threads (takes the
 * statistics lock); cat < 0: all categories. Bytes and the peak are the
 * process's, context blocks included; blocks, allocs and frees are of
 * process blocks only (the contexts hold the rest: mmi_process_stats in
 * alloc/registry.c adds them). The peak never decreases between calls. */
mm_stats mmi_process_sums(int cat);
/* Live bytes of categories 0..ncat-1 summed over all threads into out. */
void mmi_process_cat_bytes(size_t *out, int ncat);
/* The calling thread's view of live process bytes (of cat; cat < 0: all):
 * within 256 KiB per other live thread of the exact figure, either way
 * (their unfolded changes). */
int64_t mmi_process_bytes_view(mmi_thread *t, int cat);
/* The exact live process bytes of cat (cat < 0: all), under the statistics
 * lock; for a check near a bound where the view is not enough. */
int64_t mmi_process_bytes_exact(int cat);
/* How many exact sums the turns took since the process started (under the
 * statistics lock; read by tests). */
uint64_t mmi_stats_turn_sums(void);

/* ======================================================================
 * The cache's inline paths (cache.c has the rest)
 * ==================================================================== */

/* A cached block that holds size bytes, or NULL. The caller re-seals it. */
static MMI_INLINE mmi_header *mmi_cache_pop(mmi_thread *t, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return NULL;
    unsigned bin = mmi_cache_bin_fit(size);
    mmi_header *h = t->cache.head[bin];
    if (h == NULL) return NULL;
    t->cache.head[bin] = mmi_hdr_link(h);
    MMI_ASSERT(t->cache.bytes >= mmi_process_capacity(mmi_hdr_freed_span(h)));
    t->cache.bytes -= mmi_process_capacity(mmi_hdr_freed_span(h));
    return h;
}

/* Parks a freed block (sealed freed) that holds size bytes; false when it
 * does not fit. */
static MMI_INLINE bool mmi_cache_push(mmi_thread *t, mmi_header *h, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return false;
    unsigned bin = mmi_cache_bin_held(size);
    size_t bytes = mmi_process_capacity(size);
    if (t->cache.bytes + bytes > t->cache.cap) return false;
    t->cache.bytes += bytes;
    MMI_ASSERT(t->cache.bytes <= t->cache.cap); /* cache bytes <= its cap */
    *(mmi_header **)mmi_payload_of(h) = t->cache.head[bin];
    t->cache.head[bin] = h;
    return true;
}

/* Under poison: parks a poisoned block, its link sealed with it; false when
 * it does not fit. */
bool mmi_cache_push_poisoned(mmi_thread *t, mmi_header *h, size_t size);
/* Under poison: pops a block that holds size bytes, following a link only
 * after its block's header vouches for it. *bad is set to a block whose
 * header or link was written after its free: that bin is then emptied (the
 * blocks behind it are abandoned, never followed); the caller reports it
 * and gives it back to the system when only its link was hit. */
mmi_header *mmi_cache_pop_checked(mmi_thread *t, size_t size, mmi_header **bad);
/* A small process block (capacity <= MMI_CACHE_MAX_REQUEST) straight from
 * the system allocator, header info cleared, registered in MMI_SET_OURS when
 * its header lands on the big-block offset; NULL when the system (or that
 * registration) fails. mmi_process_sys_put gives one back. */
mmi_header *mmi_process_sys_get(size_t capacity, bool zero, int cat);
void mmi_process_sys_put(mmi_header *h);
/* Gives every cached block back to the system; returns the bytes (capacity
 * plus headers) released. (thread exit, mm_trim, cleanup) */
size_t mmi_cache_flush(mmi_thread *t);
/* Sets t's cap from the option and t's live bytes now, and gives back the
 * cached blocks above it (largest first). Only t's own thread calls it. */
void mmi_cache_adapt(mmi_thread *t);
/* stats.c: the total figure of a thread record folded, or fell by a 64 KiB
 * step (total is &t->total): the cap follows. */
void mmi_cache_fold(mmi_tcount *total);
/* Sets the option "cache" (bytes 0: off) and the cap of t, the calling
 * thread's record (NULL: none yet); other threads follow at their next
 * fold or 64 KiB fall of their total. */
void mmi_cache_set_limit(mmi_thread *t, size_t bytes, bool adaptive);
/* Retires the calling thread's record now (as its exit would): its figures
 * fold into the retired sums, its cache is released and the record freed;
 * its next call creates a new one. Used by cleanup_memory_system and at
 * exit, so a leak checker finds nothing of ours still reachable. */
void mmi_thread_release(void);

#endif /* MMI_STATS_H */
