/* Process-wide statistics: per-thread counters, their registry, the flush
 * that keeps peak estimates, and the exact sums the public queries return.
 * Thread rule: a thread writes only its own mmi_thread; readers sum under
 * stats_lock with relaxed loads; a thread that exits folds its figures into
 * the retired sums (mmi_g_*) under the same lock. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

mmi_gcount mmi_g_total;
mmi_gcount mmi_g_cat[MM_CATEGORY_MAX];
/* diag/peak.c moves the composition mark; the allocation paths read it */
_Alignas(MMI_CACHE_LINE) _Atomic int64_t mmi_peak_next = (int64_t)MM_DEFAULT_PEAK_STEP;
_Atomic size_t mmi_peak_step = MM_DEFAULT_PEAK_STEP;
_Thread_local mmi_thread *mmi_tls MMI_TLS_MODEL;

static mmi_lock stats_lock = MMI_LOCK_INIT(MMI_RANK_STATS, "statistics");
static mmi_thread *stats_threads;   /* live threads' records; under stats_lock */
static _Atomic uint64_t stats_serial; /* last thread serial handed out */
static pthread_key_t stats_key;     /* its destructor retires a thread */
static pthread_once_t stats_once = PTHREAD_ONCE_INIT;

/* Values an exiting thread drops the others' `hi` to: below any figure, so
 * their next growth takes the slow path and reads the sums again. Each
 * retirement drops to a value of its own, so an owner whose slow path began
 * before a drop never mistakes the drop for the value it read (its CAS
 * fails and the drop stays). */
static _Atomic uint64_t stats_drops;
static int64_t stats_drop_value(void) {
    return INT64_MIN + (int64_t)(atomic_fetch_add(&stats_drops, 1) & 0xFFFFFF);
}

/* The thresholds after a fold or a reading of the global sum g (seen_hi:
 * `hi` as the slow path found it on entry). `turn` is the value above which
 * this thread's estimate (g + bytes - flushed) passes its recorded peak.
 * Above it the figure is rising: every decrease is a turn (lo = RISING) and
 * `hi` only marks the next step; below it `hi` is also the turn, so the
 * allocation that crosses it takes the slow path and starts the rise.
 * Between folds (256 KiB either way from what was folded) the slow path
 * comes every 64 KiB the figure moves from where the last one left it:
 * going up it reads the global sum again, so the view a thread rises on is
 * never older than its last 64 KiB; going down the total's moves the
 * cache's cap, which follows live bytes (up, at the folds only: a cap that
 * rises late keeps less, one that falls late keeps memory). */
static void stats_thresholds(mmi_tcount *c, int64_t g, int64_t seen_hi) {
    int64_t turn = mmi_load(&c->peak) - g + c->flushed, b = mmi_load(&c->bytes);
    int64_t hi = c->flushed + MMI_BATCH - 1;
    if (b + MMI_STEP - 1 < hi) hi = b + MMI_STEP - 1;
    mmi_store(&c->turn, turn);
    if (b > turn) {
        c->lo = MMI_LO_RISING;
    } else {
        c->lo = c->flushed - MMI_BATCH;
        if (b - MMI_STEP > c->lo) c->lo = b - MMI_STEP;
        if (turn < hi) hi = turn;
    }
    /* unless an exiting thread dropped it meanwhile: then it stays dropped,
     * and so does `turn`, and the next growth reads the sums again */
    if (!atomic_compare_exchange_strong_explicit(&c->hi, &seen_hi, hi, memory_order_acq_rel,
                                                 memory_order_acquire))
        mmi_store(&c->turn, INT64_MIN);
}

/* Adds c's pending bytes to g; returns g's sum before the add. */
static int64_t stats_fold_in(mmi_tcount *c, mmi_gcount *g) {
    int64_t b = mmi_load(&c->bytes);
    int64_t pending = b - c->flushed;
    c->flushed = b;
    return atomic_fetch_add_explicit(&g->flushed, pending, MMI_RELAXED);
}

/* Folds c's pending bytes into g and sets its thresholds. (The estimate it
 * gives is not recorded as a peak: other threads' unfolded frees could put
 * it above any value the sum had. Turns and readers record exact sums
 * only.) */
static void stats_fold(mmi_tcount *c, mmi_gcount *g, int64_t seen_hi) {
    int64_t before = c->flushed;
    int64_t now = stats_fold_in(c, g) + (c->flushed - before);
    stats_thresholds(c, now, seen_hi);
    if (g == &mmi_g_total) mmi_cache_fold(c); /* the cache's cap follows live bytes */
}

void mmi_tcount_rise(mmi_tcount *c, mmi_gcount *g) {
    int64_t seen = atomic_load_explicit(&c->hi, memory_order_acquire);
    if (mmi_load(&c->bytes) - c->flushed >= MMI_BATCH)
        stats_fold(c, g, seen);
    else /* a step, the turn crossed, or hi dropped: the sums as they are now */
        stats_thresholds(c, mmi_load(&g->flushed), seen);
}

static uint64_t stats_turn_sums; /* exact sums taken by turns; under stats_lock */

/* The exact process figure of g (the total or one category): the retired
 * threads' bytes and every live thread's, under the statistics lock. */
static int64_t stats_exact_bytes(const mmi_gcount *g, bool turn) {
    bool total = g == &mmi_g_total;
    size_t cat = total ? 0 : (size_t)(g - mmi_g_cat);
    mmi_lock_take(&stats_lock);
    int64_t b = g->bytes;
    for (mmi_thread *t = stats_threads; t; t = t->next)
        b += mmi_load(total ? &t->total.bytes : &t->cat[cat].bytes);
    if (turn) stats_turn_sums++;
    mmi_lock_drop(&stats_lock);
    return b;
}

int64_t mmi_tcount_turn(mmi_tcount *c, mmi_gcount *g, int64_t b_old) {
    int64_t seen = atomic_load_explicit(&c->hi, memory_order_acquire);
    int64_t flushed = c->flushed;
    bool fold = mmi_load(&c->bytes) - flushed <= -MMI_BATCH;
    /* the global sum as this turn finds it: when a fold is due, the fold's
     * own add reads it (one access to a line other threads write, not a
     * read and then an add) */
    int64_t gl = fold ? stats_fold_in(c, g) : mmi_load(&g->flushed);
    int64_t est = gl + (b_old - flushed), moved = 0;
    int64_t now = gl + (c->flushed - flushed); /* the global sum, this fold in */
    /* a figure that has not read the sums since the thread began (or since
     * another thread's exit dropped its turn) sums at its first decrease:
     * its estimate lacks what others hold unfolded (up to 256 KiB each), and
     * a thread that only frees another's blocks would otherwise miss the
     * peak that thread reached */
    if (mmi_load(&c->turn) == INT64_MIN || est > mmi_load(&c->peak)) {
        /* perhaps a peak just before this decrease: the exact figure then
         * (now's plus what this decrease took; other threads' pending bytes
         * are in it, which the estimate lacks) */
        int64_t sum = stats_exact_bytes(g, true), b = mmi_load(&c->bytes);
        int64_t exact = sum + (b_old - b);
        if (exact > mmi_load(&c->peak)) {
            mmi_store(&c->peak, exact);
            mmi_atomic_max(&g->peak, exact);
            moved = exact;
        }
        /* the thresholds from the sum: the estimate can stand above it by
         * the decreases other threads have not folded (under 256 KiB each),
         * and taken from the global again it would keep the figure rising
         * and sum at every decrease */
        now = sum - b + c->flushed;
    }
    stats_thresholds(c, now, seen);
    if (g == &mmi_g_total) mmi_cache_fold(c); /* the cap follows live bytes down */
    return moved;
}

void mmi_count_settle_alloc(mmi_thread *t, int cat) {
    mmi_tcount *c = &t->cat[cat];
    if (mmi_load(&c->bytes) > mmi_load(&c->hi)) mmi_tcount_rise(c, &mmi_g_cat[cat]);
    if (mmi_load(&t->total.bytes) > mmi_load(&t->total.hi)) mmi_tcount_rise(&t->total, &mmi_g_total);
}

/* A new process peak estimate est found at a turn: is its composition due? */
static bool stats_comp_due(int64_t est) {
    return est != 0 && est >= mmi_load(&mmi_peak_next);
}

bool mmi_count_settle_free(mmi_thread *t, int cat, size_t bytes) {
    mmi_tcount *c = &t->cat[cat];
    if (mmi_load(&c->bytes) <= c->lo)
        mmi_tcount_turn(c, &mmi_g_cat[cat], mmi_load(&c->bytes) + (int64_t)bytes);
    if (mmi_load(&t->total.bytes) > t->total.lo) return false;
    int64_t old = mmi_load(&t->total.bytes) + (int64_t)bytes;
    return stats_comp_due(mmi_tcount_turn(&t->total, &mmi_g_total, old));
}

static void stats_retire_count(mmi_tcount *c, mmi_gcount *g) {
    stats_fold(c, g, atomic_load_explicit(&c->hi, memory_order_acquire));
    g->bytes += mmi_load(&c->bytes);
    g->allocs += mmi_load(&c->allocs);
    g->frees += mmi_load(&c->frees);
    g->blocks += (int64_t)(mmi_load(&c->allocs) - mmi_load(&c->frees)) + mmi_load(&c->moved);
}

static mm_stats stats_sum(int cat);

/* Whether this thread counted anything in c: calls (process blocks), bytes
 * (a context block's allocation adds bytes and no call), or a peak (every
 * category that ever decreased went through a turn, which records one). */
static bool stats_used(const mmi_tcount *c) {
    return mmi_load(&c->allocs) || mmi_load(&c->frees) || mmi_load(&c->moved) ||
           mmi_load(&c->bytes) || c->flushed || mmi_load(&c->peak);
}

/* pthread key destructor: the thread is exiting. */
static void stats_retire(void *arg) {
    mmi_thread *t = arg;
    mmi_lock_take(&stats_lock);
    /* a rise of this thread that no decrease ended is recorded now: the
     * exact sums raise the recorded peaks */
    (void)stats_sum(-1);
    for (int i = 0; i < MM_CATEGORY_MAX; i++)
        if (stats_used(&t->cat[i])) (void)stats_sum(i);
    stats_retire_count(&t->total, &mmi_g_total);
    for (int i = 0; i < MM_CATEGORY_MAX; i++)
        if (stats_used(&t->cat[i])) stats_retire_count(&t->cat[i], &mmi_g_cat[i]);
    if (t->prev)
        t->prev->next = t->next;
    else
        stats_threads = t->next;
    if (t->next) t->next->prev = t->prev;
    /* the others' views of the sums this thread changed are stale: their next
     * growth re-reads them (the peak stays exact while one thread allocates:
     * the sum now is recorded above, and only a growth can pass it) */
    int64_t drop = stats_drop_value();
    for (mmi_thread *o = stats_threads; o; o = o->next) {
        mmi_store(&o->total.turn, INT64_MIN);
        atomic_store_explicit(&o->total.hi, drop, memory_order_release);
        for (int i = 0; i < MM_CATEGORY_MAX; i++)
            if (stats_used(&t->cat[i])) {
                mmi_store(&o->cat[i].turn, INT64_MIN);
                atomic_store_explicit(&o->cat[i].hi, drop, memory_order_release);
            }
    }
    mmi_lock_drop(&stats_lock);
    if (mmi_tls == t) mmi_tls = NULL;
    mmi_cache_flush(t);
    mmi_sys_free(t);
}

static void stats_release_at_exit(void) {
    mmi_thread_release();
}

static void stats_init_key(void) {
    if (pthread_key_create(&stats_key, stats_retire) != 0) abort();
    /* registered before any other exit handler of ours, so it runs after them */
    atexit(stats_release_at_exit);
}

void mmi_thread_release(void) {
    mmi_thread *t = mmi_tls;
    if (t == NULL) return;
    pthread_setspecific(stats_key, NULL); /* the key's destructor must not retire it again */
    stats_retire(t);
}

mmi_thread *mmi_thread_create(const char *fn) {
    pthread_once(&stats_once, stats_init_key);
    mmi_first_use(); /* the environment is read at the first allocation */
    if (mmi_tls != NULL) return mmi_tls; /* the first use allocated on this thread */
    /* library bookkeeping: fault injection may fail it like any other (the
     * call that needed it then fails with MM_ERR_OUT_OF_MEMORY) */
    mmi_thread *t = mmi_sys_aligned_calloc(sizeof *t, MMI_CACHE_LINE, MM_CAT_INVALID, NULL);
    if (t == NULL) {
        char sz[32];
        mmi_error(MM_ERR_OUT_OF_MEMORY, sizeof(mmi_thread), MM_CAT_UTILITY, NULL, NULL,
                  "%s (%zu bytes) for category \"%s\" in %s: the statistics of a new thread "
                  "(the call fails; the thread's next call tries again)",
                  mm_format_bytes(sizeof(mmi_thread), sz, sizeof sz), sizeof(mmi_thread),
                  mmi_cat_name(MM_CAT_UTILITY), fn);
        return NULL;
    }
    t->serial = atomic_fetch_add(&stats_serial, 1) + 1;
    mmi_cache_adapt(t); /* nothing live yet: the cache's floor */
    /* rising from the start: the first decrease reads the sums; the first
     * slow path of a growth is 64 KiB away */
    mmi_store(&t->total.turn, INT64_MIN);
    mmi_store(&t->total.hi, MMI_STEP - 1);
    t->total.lo = MMI_LO_RISING;
    for (int i = 0; i < MM_CATEGORY_MAX; i++) {
        mmi_store(&t->cat[i].turn, INT64_MIN);
        mmi_store(&t->cat[i].hi, MMI_STEP - 1);
        t->cat[i].lo = MMI_LO_RISING;
    }
    mmi_lock_take(&stats_lock);
    t->next = stats_threads;
    if (stats_threads) stats_threads->prev = t;
    stats_threads = t;
    mmi_lock_drop(&stats_lock);
    pthread_setspecific(stats_key, t);
    mmi_tls = t;
    return t;
}

bool mmi_count_resize(mmi_thread *t, int old_cat, size_t old_bytes, int new_cat,
                      size_t new_bytes, bool calls) {
    if (old_cat != new_cat) {
        mmi_tcount *o = &t->cat[old_cat], *n = &t->cat[new_cat];
        if (calls) {
            mmi_bump(&o->moved, -1);
            mmi_bump(&n->moved, 1);
        }
        mmi_tcount_shrink(o, &mmi_g_cat[old_cat], (int64_t)old_bytes);
        mmi_tcount_grow(n, &mmi_g_cat[new_cat], (int64_t)new_bytes);
    } else if (new_bytes >= old_bytes) {
        mmi_tcount_grow(&t->cat[old_cat], &mmi_g_cat[old_cat], (int64_t)(new_bytes - old_bytes));
    } else {
        mmi_tcount_shrink(&t->cat[old_cat], &mmi_g_cat[old_cat], (int64_t)(old_bytes - new_bytes));
    }
    if (new_bytes >= old_bytes) {
        mmi_tcount_grow(&t->total, &mmi_g_total, (int64_t)(new_bytes - old_bytes));
        return false;
    }
    return stats_comp_due(mmi_tcount_shrink(&t->total, &mmi_g_total, (int64_t)(old_bytes - new_bytes)));
}

bool mmi_count_turn_now(mmi_thread *t) {
    int64_t b = mmi_load(&t->total.bytes);
    if (b <= mmi_load(&t->total.turn)) return false;
    return stats_comp_due(mmi_tcount_turn(&t->total, &mmi_g_total, b));
}

bool mmi_count_release(mmi_thread *t, int cat, size_t bytes) {
    mmi_tcount *c = &t->cat[cat];
    mmi_tcount_shrink(c, &mmi_g_cat[cat], (int64_t)bytes);
    return stats_comp_due(mmi_tcount_shrink(&t->total, &mmi_g_total, (int64_t)bytes));
}

/* Sums one figure over the retired sums and every live thread. The total's
 * block and call counts are the sums over categories (only its bytes and peak
 * are kept as a figure of their own, for the peak estimate). The exact sum
 * raises the recorded peak, so a peak a query saw is never lost. */
static mm_stats stats_sum(int cat) {
    mmi_gcount *g = cat < 0 ? &mmi_g_total : &mmi_g_cat[cat];
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
    mmi_atomic_max(&g->peak, peak);
    mm_stats s = {(size_t)bytes, (size_t)peak, (size_t)blocks, allocs, frees};
    return s;
}

void mmi_process_cat_bytes(size_t *out, int ncat) {
    mmi_lock_take(&stats_lock);
    for (int c = 0; c < ncat; c++) {
        int64_t b = mmi_g_cat[c].bytes;
        for (mmi_thread *t = stats_threads; t; t = t->next) b += mmi_load(&t->cat[c].bytes);
        out[c] = b > 0 ? (size_t)b : 0;
    }
    mmi_lock_drop(&stats_lock);
}

int64_t mmi_process_bytes_exact(int cat) {
    return stats_exact_bytes(cat < 0 ? &mmi_g_total : &mmi_g_cat[cat], false);
}

uint64_t mmi_stats_turn_sums(void) {
    mmi_lock_take(&stats_lock);
    uint64_t n = stats_turn_sums;
    mmi_lock_drop(&stats_lock);
    return n;
}

int64_t mmi_process_bytes_view(mmi_thread *t, int cat) {
    mmi_tcount *c = cat < 0 ? &t->total : &t->cat[cat];
    const mmi_gcount *g = cat < 0 ? &mmi_g_total : &mmi_g_cat[cat];
    /* retired threads' bytes are folded into flushed at retirement */
    return mmi_load(&g->flushed) + (mmi_load(&c->bytes) - c->flushed);
}

mm_stats mmi_process_sums(int cat) {
    mmi_lock_take(&stats_lock);
    mm_stats s = stats_sum(cat);
    mmi_lock_drop(&stats_lock);
    return s;
}
