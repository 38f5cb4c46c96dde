/* Chunk memory. Segments of 4 MiB, aligned to their size, are mapped as
 * needed and never unmapped; each is split buddy-style into chunks of
 * 8 KiB << order, aligned to their size. A thread carves its fresh chunks
 * from regions of its own (a segment, or a piece of at least 1 MiB), kept
 * in its cache; a free chunk waits for reuse in the cache of the thread
 * that destroyed its context (resident, a share of the cap below; no lock
 * another thread takes on its own create, destroy or refill), or on one of
 * two process-wide lists per order: warm (its pages resident: the chunks
 * of destroyed contexts beyond a cache's share, up to MMI_DEAD_MAX bytes
 * with the threads' shares, and the pieces of splits made without a cache)
 * or cold (decommitted: beyond that cap, or after mmi_chunk_trim; they read
 * as zeros, so their addresses are kept in a side array, not in their own
 * memory). The process-wide lists are under chunk_lock; a context's own
 * chunks are its arena's (arena.c). */
#include "arena.h"

#include <string.h>

#define CHUNK_TOP_ORDER 9 /* a whole segment: 8 KiB << 9 = 4 MiB */
_Static_assert((MMI_CHUNK_MIN << CHUNK_TOP_ORDER) == MMI_SEGMENT_BYTES, "orders up to a segment");

typedef struct {
    mmi_chunk *warm;   /* free chunks with a header, linked through it */
    char **cold;       /* decommitted chunks' addresses (system malloc) */
    size_t ncold;      /* entries used in cold */
    size_t capcold;    /* entries allocated in cold */
} chunk_list;

static mmi_lock chunk_lock = MMI_LOCK_INIT(MMI_RANK_CHUNKS, "chunks");
static chunk_list chunk_free[CHUNK_TOP_ORDER + 1]; /* per order; chunk_lock */
static size_t chunk_dead_resident; /* bytes of warm chunks that held blocks; chunk_lock */

static size_t chunk_bytes_of(unsigned order) {
    return MMI_CHUNK_MIN << order;
}

/* Writes the header of a free chunk and puts it on its warm list; under
 * chunk_lock. dead: it held blocks (its pages count as resident). */
/* Writes the header of a free chunk of this order (dead: it held blocks). */
static void chunk_free_header(mmi_chunk *ch, unsigned order, bool dead) {
    /* under a tool the rest of a free chunk is no-access (arena.c); a split
     * writes this header where a larger chunk's closed memory was */
    mmi_tool_undefined(ch, MMI_CHUNK_HEADER);
    ch->magic = mmi_chunk_magic(ch, MMI_CHUNK_SMALL);
    ch->kind = MMI_CHUNK_SMALL;
    ch->order = (uint8_t)order;
    ch->committed = dead;
    ch->ctx = NULL;
    ch->arena = NULL;
    ch->bytes = chunk_bytes_of(order);
}

static void chunk_push_warm(mmi_chunk *ch, unsigned order, bool dead) {
    if (dead) chunk_dead_resident += chunk_bytes_of(order);
    chunk_free_header(ch, order, dead);
    ch->next = chunk_free[order].warm;
    chunk_free[order].warm = ch;
}

/* Puts a decommitted chunk's address on its cold list; under chunk_lock.
 * false when the side array cannot grow (the chunk is then lost to reuse:
 * its addresses stay mapped and safe, only the space is not recycled). */
static bool chunk_push_cold(char *p, unsigned order) {
    chunk_list *l = &chunk_free[order];
    if (l->ncold == l->capcold) {
        size_t cap = l->capcold ? l->capcold * 2 : 64;
        char **n = mmi_sys_realloc(l->cold, cap * sizeof *n, MMI_SYS_EXEMPT, NULL);
        if (n == NULL) return false;
        l->cold = n;
        l->capcold = cap;
    }
    l->cold[l->ncold++] = p;
    return true;
}

/* A free chunk of exactly this order, or NULL; under chunk_lock. dead_only:
 * only a resident chunk of a destroyed context (no failure point). */
static char *chunk_pop(unsigned order, bool dead_only) {
    chunk_list *l = &chunk_free[order];
    for (mmi_chunk **pp = &l->warm; *pp; pp = &(*pp)->next) {
        mmi_chunk *ch = *pp;
        if (dead_only && !ch->committed) continue;
        *pp = ch->next;
        if (ch->committed) chunk_dead_resident -= chunk_bytes_of(order);
        return (char *)ch;
    }
    return !dead_only && l->ncold ? l->cold[--l->ncold] : NULL;
}

/* A new segment, known as chunk memory before any block in it exists;
 * NULL when the system has no memory left (or the set cannot grow: the
 * segment then stays mapped and unused). Under chunk_lock. */
static char *chunk_map_segment(void) {
    char *base = mmi_os_map(MMI_SEGMENT_BYTES, MMI_SEGMENT_BYTES);
    if (base == NULL) return NULL;
    if (!mmi_addrset_add(MMI_SET_SEGMENTS, (uintptr_t)base)) return NULL;
    return base;
}


/* ======================================================================
 * The threads' caches
 *
 * A thread that makes contexts has a cache (chunk_tcache) of two kinds of
 * chunks, one LIFO list per order each:
 *  - dead: a destroyed context's chunks (or those a reset dropped), taken
 *    back by the next context this thread makes. The memory is still in
 *    this core's caches, where a chunk from the process-wide lists was last
 *    written by whichever core destroyed its context (every line a coherence
 *    miss), and the common create/destroy/refill path takes no lock another
 *    thread's takes. Each cache holds what fits in its share (quota) of
 *    MMI_DEAD_MAX, reserved under chunk_lock in CHUNK_TC_STEP steps up to
 *    CHUNK_TC_MAX, so the cached and the process-wide warm dead chunks
 *    together stay under the cap; the rest goes to the process-wide lists.
 *  - fresh: the never used pieces of the cache's own regions. A thread
 *    carves fresh chunks only from regions of its own (a segment it maps, or
 *    a process-wide free piece of at least CHUNK_REGION_ORDER), split
 *    buddy-style into these lists, so two threads' chunks never interleave
 *    at a finer grain than a region: on the VM this was measured on, two
 *    threads whose pages interleave at 8 KiB took up to 1.7 times their
 *    time alone, at 1 MiB no longer than alone (docs/design.md, "Threads'
 *    regions"; bench/bench_interleave.c).
 * The owner works on its cache's dead lists under the cache's flag (busy),
 * which another thread takes only in mmi_chunk_trim, and only while it holds
 * chunk_lock; a cache it finds busy is marked and its owner trims it at its
 * next call. The fresh lists are used under chunk_lock only (the slow path
 * of a get). When a thread exits its cache is parked, whole (a pthread key
 * of this file: the arena's own exit path): the next thread that needs a
 * cache adopts a parked one, and a thread that has used up its own chunks
 * merges a parked one into its own before it takes a new region, so the
 * regions stay one thread's and parked dead chunks are reused.
 * ==================================================================== */

#define CHUNK_TC_MAX       MMI_DEAD_THREAD_MAX /* dead bytes one thread's cache may hold */
#define CHUNK_TC_STEP      ((size_t)1 << 20)    /* quota reserved at a time */
#define CHUNK_REGION_ORDER 7                    /* a region: 1 MiB (8 KiB << 7) or more */

typedef struct chunk_tcache {
    _Alignas(MMI_CACHE_LINE) _Atomic int busy; /* 1 while the owner (or a trim) works on it */
    _Atomic int trim_due;              /* a trim found it busy: the owner trims it next */
    mmi_chunk *free[MMI_CHUNK_ORDERS]; /* committed dead chunks per order; busy */
    mmi_chunk *fresh[CHUNK_TOP_ORDER]; /* never used pieces of its regions, orders 0..8;
                                          chunk_lock */
    _Atomic size_t bytes;              /* dead bytes on the lists; written under busy, read
                                          anywhere */
    size_t quota;                      /* share of MMI_DEAD_MAX reserved (>= bytes); changed
                                          under busy and chunk_lock, read under either */
    struct chunk_tcache *next, *prev;  /* every cache, parked ones too; chunk_lock */
    struct chunk_tcache *next_parked;  /* chunk_parked; chunk_lock */
} chunk_tcache;

static chunk_tcache *chunk_tcaches; /* chunk_lock */
static chunk_tcache *chunk_parked;  /* caches of exited threads, to adopt; chunk_lock */
static size_t chunk_quota;          /* the caches' quotas summed; chunk_lock */
static pthread_key_t chunk_tc_key;  /* its destructor parks an exiting thread's cache */
static pthread_once_t chunk_tc_once = PTHREAD_ONCE_INIT;
static bool chunk_tc_keyed;         /* the key exists (set once, under chunk_tc_once) */
static _Thread_local chunk_tcache *chunk_tc MMI_TLS_MODEL; /* the calling thread's, or NULL */
static _Thread_local bool chunk_tc_off MMI_TLS_MODEL; /* exited, or no key: no cache */

static void chunk_tc_take(chunk_tcache *tc) {
    /* held by the owner for a few loads and stores, by a trim for a detach */
    while (atomic_exchange_explicit(&tc->busy, 1, memory_order_acquire))
        while (atomic_load_explicit(&tc->busy, memory_order_relaxed)) {
        }
}

static bool chunk_tc_try(chunk_tcache *tc) {
    return !atomic_exchange_explicit(&tc->busy, 1, memory_order_acquire);
}

static void chunk_tc_drop(chunk_tcache *tc) {
    atomic_store_explicit(&tc->busy, 0, memory_order_release);
}

/* Every dead chunk of tc, linked through next; under busy and chunk_lock:
 * the quota goes back to the process-wide cap too. */
static mmi_chunk *chunk_tc_detach(chunk_tcache *tc) {
    mmi_chunk *all = NULL;
    for (unsigned o = 0; o < MMI_CHUNK_ORDERS; o++) {
        for (mmi_chunk *ch = tc->free[o], *next; ch; ch = next) {
            next = ch->next;
            ch->next = all;
            all = ch;
        }
        tc->free[o] = NULL;
    }
    mmi_store(&tc->bytes, 0);
    chunk_quota -= tc->quota;
    tc->quota = 0;
    return all;
}

/* Decommits one chunk of 2^order units and puts it on its cold list;
 * returns the bytes given back. Called without chunk_lock. */
static size_t chunk_decommit_one(mmi_chunk *ch, unsigned order) {
    mmi_os_decommit(ch, chunk_bytes_of(order));
    mmi_lock_take(&chunk_lock);
    chunk_push_cold((char *)ch, order);
    mmi_lock_drop(&chunk_lock);
    return chunk_bytes_of(order);
}

/* Decommits each chunk of list and puts it on its cold list; returns the
 * bytes given back. No lock held. */
static size_t chunk_decommit(mmi_chunk *list) {
    size_t released = 0;
    for (mmi_chunk *ch = list, *next; ch; ch = next) {
        next = ch->next;
        released += chunk_decommit_one(ch, ch->order);
    }
    return released;
}

/* A trim found tc busy: its owner gives it back now. */
static MMI_NOINLINE void chunk_tc_trim_due(chunk_tcache *tc) {
    atomic_store_explicit(&tc->trim_due, 0, MMI_RELAXED);
    mmi_lock_take(&chunk_lock);
    chunk_tc_take(tc);
    mmi_chunk *list = chunk_tc_detach(tc);
    chunk_tc_drop(tc);
    mmi_lock_drop(&chunk_lock);
    chunk_decommit(list);
}

/* pthread key destructor: the thread exits; its cache, dead and fresh
 * chunks and share of the cap with it, is parked for another thread. */
static void chunk_tc_exit(void *arg) {
    chunk_tcache *tc = arg;
    if (MMI_UNLIKELY(atomic_load_explicit(&tc->trim_due, MMI_RELAXED))) chunk_tc_trim_due(tc);
    mmi_lock_take(&chunk_lock);
    tc->next_parked = chunk_parked;
    chunk_parked = tc;
    mmi_lock_drop(&chunk_lock);
    chunk_tc = NULL;
    chunk_tc_off = true; /* a context destroyed later on this thread: process-wide */
}

static void chunk_tc_make_key(void) {
    chunk_tc_keyed = pthread_key_create(&chunk_tc_key, chunk_tc_exit) == 0;
}

/* The calling thread's cache, made (or adopted from an exited thread) at
 * its first get or put; NULL when it cannot have one (exited, or out of
 * memory: its chunks then come from and go to the process-wide lists). */
static MMI_NOINLINE chunk_tcache *chunk_tc_make(void) {
    pthread_once(&chunk_tc_once, chunk_tc_make_key);
    chunk_tcache *tc = NULL;
    bool adopted = false;
    if (chunk_tc_keyed) {
        mmi_lock_take(&chunk_lock);
        if ((tc = chunk_parked) != NULL) {
            chunk_parked = tc->next_parked;
            tc->next_parked = NULL;
            adopted = true;
        }
        mmi_lock_drop(&chunk_lock);
        /* library bookkeeping exempt from fault injection: the k-th failure
         * of a test counts the same attempts with the cache as without it */
        if (tc == NULL) tc = mmi_sys_aligned_calloc(sizeof *tc, MMI_CACHE_LINE, MMI_SYS_EXEMPT, NULL);
    }
    if (tc == NULL || pthread_setspecific(chunk_tc_key, tc) != 0) {
        if (adopted) {
            chunk_tc_exit(tc); /* parked again */
        } else {
            mmi_sys_free(tc);
        }
        chunk_tc_off = true;
        return NULL;
    }
    if (!adopted) {
        mmi_lock_take(&chunk_lock);
        tc->next = chunk_tcaches;
        if (chunk_tcaches) chunk_tcaches->prev = tc;
        chunk_tcaches = tc;
        mmi_lock_drop(&chunk_lock);
    }
    chunk_tc = tc;
    return tc;
}

/* A dead chunk of this order from tc, or NULL; the caller checks trim_due
 * once it holds no lock. */
static char *chunk_tc_pop(chunk_tcache *tc, unsigned order) {
    chunk_tc_take(tc);
    mmi_chunk *ch = tc->free[order];
    if (ch != NULL) {
        tc->free[order] = ch->next;
        mmi_store(&tc->bytes, mmi_load(&tc->bytes) - chunk_bytes_of(order));
    }
    chunk_tc_drop(tc);
    return (char *)ch;
}

/* Grows tc's quota to hold want bytes, in steps, as far as the cap and
 * CHUNK_TC_MAX allow; under busy and chunk_lock. */
static void chunk_tc_reserve(chunk_tcache *tc, size_t want) {
    size_t used = chunk_dead_resident + chunk_quota;
    size_t room = used < MMI_DEAD_MAX ? MMI_DEAD_MAX - used : 0;
    size_t grow = (want - tc->quota + CHUNK_TC_STEP - 1) / CHUNK_TC_STEP * CHUNK_TC_STEP;
    if (grow > CHUNK_TC_MAX - tc->quota) grow = CHUNK_TC_MAX - tc->quota;
    if (grow > room) grow = room;
    tc->quota += grow;
    chunk_quota += grow;
}

/* Puts what fits of list in the calling thread's cache; returns the rest. */
static mmi_chunk *chunk_tc_put(mmi_chunk *list) {
    chunk_tcache *tc = chunk_tc;
    if (tc == NULL && (chunk_tc_off || (tc = chunk_tc_make()) == NULL)) return list;
    size_t total = 0;
    for (mmi_chunk *ch = list; ch; ch = ch->next) total += chunk_bytes_of(ch->order);
    bool locked = false;
    chunk_tc_take(tc);
    if (mmi_load(&tc->bytes) + total > tc->quota && tc->quota < CHUNK_TC_MAX) {
        chunk_tc_drop(tc); /* chunk_lock first, as a trim takes them */
        mmi_lock_take(&chunk_lock);
        locked = true;
        chunk_tc_take(tc);
        chunk_tc_reserve(tc, mmi_load(&tc->bytes) + total);
    }
    size_t bytes = mmi_load(&tc->bytes);
    mmi_chunk *rest = NULL;
    for (mmi_chunk *ch = list, *next; ch; ch = next) {
        next = ch->next;
        unsigned order = ch->order;
        if (bytes + chunk_bytes_of(order) <= tc->quota) {
            bytes += chunk_bytes_of(order);
            ch->ctx = NULL; /* dead: a stale pointer into it is named so */
            ch->arena = NULL;
            ch->committed = 1;
            ch->next = tc->free[order];
            tc->free[order] = ch;
        } else {
            ch->next = rest;
            rest = ch;
        }
    }
    mmi_store(&tc->bytes, bytes);
    chunk_tc_drop(tc);
    if (locked) mmi_lock_drop(&chunk_lock);
    if (MMI_UNLIKELY(atomic_load_explicit(&tc->trim_due, MMI_RELAXED))) chunk_tc_trim_due(tc);
    return rest;
}

/* ======================================================================
 * Regions of a thread's own
 * ==================================================================== */

/* Splits the free piece p of order `from` down to `order`, keeping the
 * lower half of each split: the upper halves go to tc's fresh lists, or
 * with no tc to the process-wide warm lists; returns p. Under chunk_lock. */
static char *chunk_split(chunk_tcache *tc, char *p, unsigned from, unsigned order) {
    while (from > order) {
        from--;
        mmi_chunk *half = (mmi_chunk *)(p + chunk_bytes_of(from));
        if (tc == NULL) {
            chunk_push_warm(half, from, false);
            continue;
        }
        chunk_free_header(half, from, false);
        half->next = tc->fresh[from];
        tc->fresh[from] = half;
    }
    return p;
}

/* A chunk of this order from tc's fresh pieces (the smallest that holds it,
 * split), or NULL. Under chunk_lock. */
static char *chunk_own_pop(chunk_tcache *tc, unsigned order) {
    for (unsigned o = order; o < CHUNK_TOP_ORDER; o++) {
        mmi_chunk *ch = tc->fresh[o];
        if (ch != NULL) {
            tc->fresh[o] = ch->next;
            return chunk_split(tc, (char *)ch, o, order);
        }
    }
    return NULL;
}

/* A chunk of this order split from a process-wide free piece of order
 * `least` or more (warm or cold), else from a new segment. With tc the
 * piece is a new region of tc's (the other halves to its fresh lists);
 * with none (a thread without a cache, or no region left) the other halves
 * go to the process-wide lists. Under chunk_lock; NULL when the system has
 * no memory left. */
static char *chunk_carve(chunk_tcache *tc, unsigned order, unsigned least) {
    unsigned o = least;
    char *base = NULL;
    while (o <= CHUNK_TOP_ORDER && (base = chunk_pop(o, false)) == NULL) o++;
    if (base == NULL) {
        if ((base = chunk_map_segment()) == NULL) return NULL;
        o = CHUNK_TOP_ORDER;
    }
    return chunk_split(tc, base, o, order);
}

/* Moves every chunk of the n lists from[] onto the lists to[] of the same
 * order, emptying from[]. */
static void chunk_lists_move(mmi_chunk **to, mmi_chunk **from, unsigned n) {
    for (unsigned o = 0; o < n; o++)
        while (from[o]) {
            mmi_chunk *ch = from[o];
            from[o] = ch->next;
            ch->next = to[o];
            to[o] = ch;
        }
}

/* Moves the parked cache pk into tc, whose thread has used up its own
 * chunks: pk's fresh pieces and dead chunks (those beyond one cache's most
 * go to the process-wide warm lists, their share of the cap with them);
 * pk leaves every list and the caller frees it once it holds no lock.
 * Under chunk_lock. */
static void chunk_tc_merge(chunk_tcache *tc, chunk_tcache *pk) {
    chunk_parked = pk->next_parked;
    if (pk->prev)
        pk->prev->next = pk->next;
    else
        chunk_tcaches = pk->next;
    if (pk->next) pk->next->prev = pk->prev;
    chunk_lists_move(tc->fresh, pk->fresh, CHUNK_TOP_ORDER);
    chunk_tc_take(tc);
    size_t bytes = mmi_load(&tc->bytes) + mmi_load(&pk->bytes);
    tc->quota += pk->quota; /* the shares add up: chunk_quota is unchanged */
    chunk_lists_move(tc->free, pk->free, MMI_CHUNK_ORDERS);
    for (unsigned o = MMI_CHUNK_ORDERS; o-- > 0;)
        while (bytes > CHUNK_TC_MAX && tc->free[o]) {
            mmi_chunk *ch = tc->free[o];
            tc->free[o] = ch->next;
            bytes -= chunk_bytes_of(o);
            tc->quota -= chunk_bytes_of(o); /* its share becomes its resident count */
            chunk_quota -= chunk_bytes_of(o);
            chunk_push_warm(ch, o, true);
        }
    if (tc->quota > CHUNK_TC_MAX) {
        chunk_quota -= tc->quota - CHUNK_TC_MAX;
        tc->quota = CHUNK_TC_MAX;
    }
    mmi_store(&tc->bytes, bytes);
    chunk_tc_drop(tc);
}

/* ======================================================================
 * Getting and putting chunks
 * ==================================================================== */

/* A chunk of this order when the calling thread's cache (tc, NULL when it
 * has none) holds no dead one: a process-wide dead one; else, fresh memory
 * (a failure point): tc's own pieces, a parked cache's chunks merged into
 * tc, a new region; the process-wide pieces when no region can be had (or
 * with no cache). NULL when none is left. */
static MMI_NOINLINE char *chunk_get_slow(chunk_tcache *tc, unsigned order, mm_context *ctx,
                                         int cat) {
    chunk_tcache *merged = NULL; /* freed once chunk_lock is dropped */
    mmi_lock_take(&chunk_lock);
    char *p = chunk_pop(order, true);
    if (p == NULL && !mmi_sys_fails(cat, ctx)) {
        if (tc != NULL) p = chunk_own_pop(tc, order);
        while (p == NULL && tc != NULL && chunk_parked != NULL) {
            chunk_tcache *pk = chunk_parked;
            chunk_tc_merge(tc, pk);
            pk->next_parked = merged;
            merged = pk;
            p = chunk_tc_pop(tc, order);
            if (p == NULL) p = chunk_own_pop(tc, order);
        }
        if (p == NULL && tc != NULL)
            p = chunk_carve(tc, order, order > CHUNK_REGION_ORDER ? order : CHUNK_REGION_ORDER);
        if (p == NULL) p = chunk_pop(order, false);
        if (p == NULL) p = chunk_carve(NULL, order, order + 1);
    }
    mmi_lock_drop(&chunk_lock);
    while (merged) {
        chunk_tcache *next = merged->next_parked;
        mmi_sys_free(merged);
        merged = next;
    }
    return p;
}

mmi_chunk *mmi_chunk_get(size_t need, mm_context *ctx, int cat) {
    unsigned order = 0;
    while (chunk_bytes_of(order) < need) order++;
    MMI_ASSERT(order < MMI_CHUNK_ORDERS);
    chunk_tcache *tc = chunk_tc;
    if (MMI_UNLIKELY(tc == NULL) && !chunk_tc_off) tc = chunk_tc_make();
    /* a destroyed context's resident chunk of the right size is no failure
     * point (as a cache hit); anything else is fresh memory and may fail */
    char *p = tc ? chunk_tc_pop(tc, order) : NULL;
    if (p == NULL) p = chunk_get_slow(tc, order, ctx, cat);
    if (tc && MMI_UNLIKELY(atomic_load_explicit(&tc->trim_due, MMI_RELAXED))) chunk_tc_trim_due(tc);
    if (p == NULL) return NULL;
    mmi_chunk *ch = (mmi_chunk *)p;
    ch->magic = mmi_chunk_magic(ch, MMI_CHUNK_SMALL);
    ch->kind = MMI_CHUNK_SMALL;
    ch->order = (uint8_t)order;
    ch->committed = 1;
    ch->ctx = ctx;
    ch->arena = NULL;
    ch->next = ch->prev = NULL;
    ch->bytes = chunk_bytes_of(order);
    ch->limit = (char *)(ch + 1);
    return ch;
}

/* The process-wide lists: warm while the cap allows, else decommitted. */
static void chunk_put_global(mmi_chunk *list) {
    mmi_chunk *over = NULL; /* dead chunks beyond the resident cap */
    mmi_lock_take(&chunk_lock);
    for (mmi_chunk *ch = list, *next; ch; ch = next) {
        next = ch->next;
        unsigned order = ch->order;
        if (chunk_dead_resident + chunk_quota + chunk_bytes_of(order) <= MMI_DEAD_MAX) {
            chunk_push_warm(ch, order, true);
        } else { /* decommitted below, outside the lock */
            ch->ctx = NULL;
            ch->arena = NULL;
            ch->next = over;
            over = ch;
        }
    }
    mmi_lock_drop(&chunk_lock);
    chunk_decommit(over);
}

void mmi_chunk_put(mmi_chunk *list) {
    list = chunk_tc_put(list);
    if (list) chunk_put_global(list);
}

size_t mmi_chunk_trim(void) {
    /* every thread's cache; one whose owner is at work gives itself back at
     * its next call (the calling thread's never is) */
    mmi_chunk *cached = NULL;
    mmi_lock_take(&chunk_lock);
    for (chunk_tcache *tc = chunk_tcaches; tc; tc = tc->next) {
        if (!chunk_tc_try(tc)) {
            atomic_store_explicit(&tc->trim_due, 1, MMI_RELAXED);
            continue;
        }
        mmi_chunk *list = chunk_tc_detach(tc);
        chunk_tc_drop(tc);
        while (list) {
            mmi_chunk *next = list->next;
            list->next = cached;
            cached = list;
            list = next;
        }
    }
    mmi_lock_drop(&chunk_lock);
    size_t released = chunk_decommit(cached);
    for (unsigned order = 0; order <= CHUNK_TOP_ORDER; order++) {
        for (;;) { /* one at a time, decommitted outside the lock */
            mmi_lock_take(&chunk_lock);
            mmi_chunk **pp = &chunk_free[order].warm;
            while (*pp && !(*pp)->committed) pp = &(*pp)->next;
            mmi_chunk *ch = *pp;
            if (ch) {
                *pp = ch->next;
                chunk_dead_resident -= chunk_bytes_of(order);
            }
            mmi_lock_drop(&chunk_lock);
            if (ch == NULL) break;
            released += chunk_decommit_one(ch, order);
        }
    }
    return released;
}

bool mmi_chunk_memory(uintptr_t addr) {
    return mmi_addrset_contains(MMI_SET_SEGMENTS, addr & ~(uintptr_t)(MMI_SEGMENT_BYTES - 1));
}

size_t mmi_chunk_dead_bytes(void) {
    mmi_lock_take(&chunk_lock);
    size_t n = chunk_dead_resident;
    for (const chunk_tcache *tc = chunk_tcaches; tc; tc = tc->next) n += mmi_load(&tc->bytes);
    mmi_lock_drop(&chunk_lock);
    return n;
}

size_t mmi_chunk_cached_bytes(void) {
    chunk_tcache *tc = chunk_tc;
    return tc ? mmi_load(&tc->bytes) : 0;
}
