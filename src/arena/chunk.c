/* Chunk memory. Segments of 4 MiB, aligned to their size, are mapped as
 * needed and never unmapped; each is split buddy-style into chunks of
 * 8 KiB << order, aligned to their size. A free chunk waits for reuse on
 * one of two lists per order: warm (its pages resident: the chunks of
 * destroyed contexts, up to MMI_DEAD_MAX bytes, and the upper halves of
 * splits) or cold (decommitted: beyond that cap, or after mmi_chunk_trim;
 * they read as zeros, so their addresses are kept in a side array, not in
 * their own memory). Everything here is under chunk_lock; a context's own
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
static void chunk_push_warm(mmi_chunk *ch, unsigned order, bool dead) {
    if (dead) chunk_dead_resident += chunk_bytes_of(order);
    ch->magic = mmi_chunk_magic(ch, MMI_CHUNK_SMALL);
    ch->kind = MMI_CHUNK_SMALL;
    ch->order = (uint8_t)order;
    ch->committed = dead;
    ch->ctx = NULL;
    ch->arena = NULL;
    ch->bytes = chunk_bytes_of(order);
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

/* A chunk of the order split from a larger free one or from a new segment;
 * under chunk_lock. NULL when the system has no memory left. */
static char *chunk_carve(unsigned order) {
    unsigned o = order + 1;
    char *base = NULL;
    while (o <= CHUNK_TOP_ORDER && (base = chunk_pop(o, false)) == NULL) o++;
    if (base == NULL) {
        base = mmi_os_map(MMI_SEGMENT_BYTES, MMI_SEGMENT_BYTES);
        if (base == NULL) return NULL;
        /* known as chunk memory before any block in it exists; if the set
         * cannot grow, the segment stays mapped and unused */
        if (!mmi_addrset_add(MMI_SET_SEGMENTS, (uintptr_t)base)) return NULL;
        o = CHUNK_TOP_ORDER;
    }
    while (o > order) { /* keep the lower half of each split */
        o--;
        chunk_push_warm((mmi_chunk *)(base + chunk_bytes_of(o)), o, false);
    }
    return base;
}

mmi_chunk *mmi_chunk_get(size_t need, mm_context *ctx, int cat) {
    unsigned order = 0;
    while (chunk_bytes_of(order) < need) order++;
    MMI_ASSERT(order < MMI_CHUNK_ORDERS);
    mmi_lock_take(&chunk_lock);
    /* a destroyed context's resident chunk of the right size is no failure
     * point (as a cache hit); anything else is fresh memory and may fail */
    char *p = chunk_pop(order, true);
    if (p == NULL && !mmi_sys_fails(cat, ctx)) {
        p = chunk_pop(order, false);
        if (p == NULL) p = chunk_carve(order);
    }
    mmi_lock_drop(&chunk_lock);
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

void mmi_chunk_put(mmi_chunk *list) {
    mmi_chunk *over = NULL; /* dead chunks beyond the resident cap */
    mmi_lock_take(&chunk_lock);
    for (mmi_chunk *ch = list, *next; ch; ch = next) {
        next = ch->next;
        unsigned order = ch->order;
        if (chunk_dead_resident + chunk_bytes_of(order) <= MMI_DEAD_MAX) {
            chunk_push_warm(ch, order, true);
        } else { /* decommitted below, outside the lock */
            ch->ctx = NULL;
            ch->arena = NULL;
            ch->next = over;
            over = ch;
        }
    }
    mmi_lock_drop(&chunk_lock);
    for (mmi_chunk *ch = over, *next; ch; ch = next) {
        next = ch->next;
        unsigned order = ch->order;
        mmi_os_decommit(ch, chunk_bytes_of(order));
        mmi_lock_take(&chunk_lock);
        chunk_push_cold((char *)ch, order);
        mmi_lock_drop(&chunk_lock);
    }
}

size_t mmi_chunk_trim(void) {
    size_t released = 0;
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
            mmi_os_decommit(ch, chunk_bytes_of(order));
            released += chunk_bytes_of(order);
            mmi_lock_take(&chunk_lock);
            chunk_push_cold((char *)ch, order);
            mmi_lock_drop(&chunk_lock);
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
    mmi_lock_drop(&chunk_lock);
    return n;
}
