/* Layer 3, arena: where context and big blocks live. big.c gives big blocks
 * one system allocation each with the header at a known page offset;
 * chunk.c carves size-aligned chunks from segments that are never unmapped
 * and keeps the chunks of destroyed contexts for reuse; arena.c carves
 * blocks from a context's chunks by size class, keeps its free lists, and
 * walks its slots. An arena belongs to one context and is used only by the
 * thread that owns that context (mm_context is opaque here). */
#ifndef MMI_ARENA_H
#define MMI_ARENA_H

#include "../stats/stats.h"

/* ======================================================================
 * Big blocks (big.c)
 *
 *   system allocation (raw)
 *   |<- prefix + pad ->|                                         |<- slack ->|
 *   +------------------+--------+----------------------------------+----------+
 *   | ... (prefix: a   | header | payload (size)                   |          |
 *   | chunk header)    | h      |                                  |          |
 *   +------------------+--------+----------------------------------+----------+
 *                      ^ h % 4096 == MMI_BIG_OFFSET; info = BIG | (h - raw) / 16 << 8
 *
 * h is registered in MMI_SET_OURS while the block is held, so a free of a
 * pointer at that offset asks the set before it reads a header whose memory
 * the system may have unmapped (a second free of a big block is named,
 * never a crash). The slack (under 4 KiB of address space, untouched) is
 * what lets any system allocation put h there.
 * ==================================================================== */

#define MMI_BIG_SLACK ((size_t)4096)

/* A big block for size bytes with prefix bytes (a multiple of 16) free
 * before its header: header info set (BIG and the distance), size_cat and
 * seal left to the caller; NULL when the system allocator fails. */
mmi_header *mmi_big_alloc(size_t prefix, size_t size, bool zero, int cat, const mm_context *ctx);
/* Resizes; the prefix bytes, the header and the payload up to the smaller
 * size move with it. Returns the new header, or NULL (h kept) on failure. */
mmi_header *mmi_big_realloc(mmi_header *h, size_t prefix, size_t size, int cat,
                            const mm_context *ctx);
void mmi_big_free(mmi_header *h);
/* Bytes the system allocation of a big block of size bytes asks for. */
static inline size_t mmi_big_total(size_t prefix, size_t size) {
    return prefix + MMI_BIG_SLACK + MMI_HEADER_BYTES + size;
}

/* ======================================================================
 * Chunks (chunk.c)
 *
 * A chunk is 8 KiB << order bytes (order 0..7: 8 KiB .. 1 MiB), aligned to
 * its size, so a carved block finds its chunk by masking its own address
 * (the header's info holds the order). Chunks are carved from 4 MiB
 * segments that are mapped once and never unmapped: the memory of a chunk
 * nobody needs is given back with madvise and its addresses read as zeros,
 * so any stale pointer into chunk memory can be read safely and named.
 *
 *   chunk (size-aligned)
 *   +----------------+-----+------+-----+------+ ........ +--------------+
 *   | mmi_chunk (64) | hdr | slot | hdr | slot |          | uncarved     |
 *   +----------------+-----+------+-----+------+ ........ +--------------+
 *                    ^ first slot                          ^ limit (or bump)
 *
 * A large context block (> 256 KiB) is a big block whose prefix is an
 * mmi_chunk of kind LARGE, right before its header.
 * ==================================================================== */

#define MMI_CHUNK_MIN     ((size_t)8 * 1024)   /* order 0 */
#define MMI_CHUNK_MAX     ((size_t)1024 * 1024) /* order 7 */
#define MMI_CHUNK_ORDERS  8
#define MMI_SEGMENT_BYTES ((size_t)4 << 20)     /* mapped at a time, aligned to it */
#define MMI_DEAD_MAX      ((size_t)64 << 20)    /* committed dead chunks kept */
#define MMI_DEAD_THREAD_MAX ((size_t)8 << 20)   /* of which in one thread's cache */

typedef struct mmi_chunk {
    uint32_t magic;         /* mmi_chunk_magic(chunk, kind): stale bytes fail it */
    uint8_t kind;           /* MMI_CHUNK_SMALL or MMI_CHUNK_LARGE */
    uint8_t order;          /* small: bytes = MMI_CHUNK_MIN << order */
    uint8_t committed;      /* dead: its pages are still resident */
    uint8_t unused;         /* (padding) */
    mm_context *ctx;        /* owner; NULL while dead */
    struct mmi_chunk *next; /* list link: arena chunks/spare/large, or dead list */
    struct mmi_chunk *prev; /* large blocks only: back link */
    char *limit;            /* small: first byte past the carved part (slots below
                               are or were live); the arena's bump for the current one */
    size_t bytes;           /* small: bytes of the chunk; large: system allocation */
    struct mmi_arena *arena; /* the owner's arena (its tag); NULL while dead */
    uint64_t pad;           /* keeps the payload 16-aligned (sizeof = 64) */
} mmi_chunk;

#define MMI_CHUNK_SMALL 1u
#define MMI_CHUNK_LARGE 2u
#define MMI_CHUNK_MAGIC 0x6D6D4348u /* "mmCH" */
#define MMI_CHUNK_HEADER ((size_t)64)

_Static_assert(sizeof(mmi_chunk) == MMI_CHUNK_HEADER, "chunk header keeps payloads 16-aligned");

/* The magic of a chunk of kind at ch: one compare checks both. */
static inline uint32_t mmi_chunk_magic(const mmi_chunk *ch, uint32_t kind) {
    return MMI_CHUNK_MAGIC ^ (uint32_t)((uintptr_t)ch >> 6) ^ (kind << 28);
}

/* The chunk of a carved context block (no MMI_HF_BIG) whose header h is
 * sealed (live or freed): its class's alignment. */
static inline mmi_chunk *mmi_arena_carved_chunk_at(const mmi_header *h) {
    size_t bytes = MMI_CHUNK_MIN << ((h->info & MMI_INFO_CLASS_MASK) >> MMI_INFO_CLASS_SHIFT);
    return (mmi_chunk *)((uintptr_t)h & ~(uintptr_t)(bytes - 1));
}

/* The chunk of a context block whose header h is sealed (live or freed). */
static inline mmi_chunk *mmi_arena_chunk_at(const mmi_header *h) {
    if (h->info & MMI_HF_BIG) return (mmi_chunk *)((uintptr_t)h - MMI_CHUNK_HEADER);
    return mmi_arena_carved_chunk_at(h);
}

/* A chunk of at least need bytes (need <= MMI_CHUNK_MAX), its header set for
 * owner ctx and its memory zero or stale (never read before it is carved):
 * from the dead chunks first, else fresh (a failure point of fault
 * injection, for cat and ctx); NULL when no memory is left. */
mmi_chunk *mmi_chunk_get(size_t need, mm_context *ctx, int cat);
/* Chunks nobody owns any more (destroy, a reset's retain cap): kept for
 * reuse, first in the calling thread's cache, the committed ones up to
 * MMI_DEAD_MAX in all, beyond that decommitted. */
void mmi_chunk_put(mmi_chunk *list);
/* Decommits every dead chunk, the threads' caches' included (a thread at
 * work in its cache at that moment gives it back at its next call); returns
 * the bytes given back. */
size_t mmi_chunk_trim(void);
/* True when addr lies in chunk memory (mapped for good, safe to read). */
bool mmi_chunk_memory(uintptr_t addr);
/* Bytes of the dead chunks still committed, the threads' caches' included
 * (reports; exact while the threads are quiet). */
size_t mmi_chunk_dead_bytes(void);
/* Bytes of dead chunks in the calling thread's cache. */
size_t mmi_chunk_cached_bytes(void);

/* ======================================================================
 * The arena of one context (arena.c)
 * ==================================================================== */

typedef struct mmi_arena {
    char *bump;                   /* next free byte of the current chunk */
    char *bump_end;               /* end of the current chunk */
    uint32_t carve_info;          /* info of blocks carved now: CONTEXT | order | tag */
    uint32_t tag;                 /* the epoch tag (24 bits) of this context's blocks */
    mmi_chunk *chunks;            /* small chunks in use; the first one is current */
    void *freelist[MMI_NCLASSES]; /* freed small blocks by class (payload-linked) */
    mmi_chunk *spare;             /* chunks kept for the next epoch */
    mmi_chunk *large;             /* large blocks, doubly linked */
    _Atomic size_t chunk_bytes;   /* bytes of small chunks held (in use + spare); owner
                                     writes, reports read */
    size_t next_chunk_bytes;      /* size of the next chunk to get */
    size_t retain_bytes;          /* cap on chunk bytes kept across resets (SIZE_MAX: all) */
} mmi_arena;

void mmi_arena_init(mmi_arena *a, uint32_t tag);
/* A new epoch tag (after a reset rewound every chunk). */
void mmi_arena_set_tag(mmi_arena *a, uint32_t tag);

/* Makes a chunk with at least need free bytes current; false after the
 * system ran out (nothing changes). */
bool mmi_arena_refill(mmi_arena *a, mm_context *ctx, size_t need, int cat);

/* ======================================================================
 * Under Valgrind memcheck or ASan (platform/tool.h; docs/design.md, "What
 * Valgrind and ASan see"), the arena keeps every byte of its chunks marked
 * past the 64-byte chunk header: a live small block's payload (its span) is
 * an allocation of the arena's pool; its header, the slack of its slot, free
 * slots and the uncarved rest are no-access. The library opens a header
 * only while it reads or writes it, on slow paths (every path is slow under
 * a tool: mmi_ctx_fast_below and MMI_FREE_PAGE_MASK). Blocks with a decoration
 * (checking modes) keep their header open. Large blocks are the system
 * allocator's, which the tools already watch.
 * ==================================================================== */

/* mmi_arena_get under a tool: the slot's header is left open (defined), its
 * span allocated in the pool. */
mmi_header *mmi_arena_get_tool(mmi_arena *a, mm_context *ctx, size_t span, int cat, bool *reused);
/* After the free of small block h (mmi_arena_put, or put_poisoned): the
 * pool frees it and the whole slot, header included, is closed; poisoned
 * (the poison check fills and watches it), the slot stays open instead, so
 * a write after the free is the check's to report, as without a tool.
 * Before that put, mmi_arena_tool_freeing opens the bytes its link takes. */
void mmi_arena_tool_freeing(mmi_header *h);
void mmi_arena_tool_freed(mmi_arena *a, mmi_header *h, bool poisoned);
/* A header the library is done with is closed again when h is a plain
 * carved block (its header is no-access while it lives). */
static inline void mmi_arena_tool_close(mmi_header *h) {
    if (mmi_tool_on() && (h->info & (MMI_HF_CONTEXT | MMI_HF_BIG | MMI_HF_DECOR)) == MMI_HF_CONTEXT)
        mmi_tool_noaccess(h, MMI_HEADER_BYTES);
}

/* Carves or reuses a slot for span bytes (span <= MMI_SMALL_MAX): header
 * info set, size_cat and seal the caller's; *reused says it came from a free
 * list (zero then still to do). NULL when no memory is left. */
static inline mmi_header *mmi_arena_get(mmi_arena *a, mm_context *ctx, size_t span, int cat,
                                        bool *reused) {
    if (mmi_tool_on()) return mmi_arena_get_tool(a, ctx, span, cat, reused);
    unsigned k = mmi_size_class(span);
    void *f = a->freelist[k];
    if (f != NULL) {
        a->freelist[k] = *(void **)f;
        /* invariant (MM_DEBUG): a link leads to a block of this arena's chunks */
        MMI_ASSERT(a->freelist[k] == NULL ||
                   mmi_arena_chunk_at(mmi_hdr_of(a->freelist[k]))->arena == a);
        *reused = true;
        return mmi_hdr_of(f);
    }
    *reused = false;
    size_t need = MMI_HEADER_BYTES + mmi_class_bytes(k);
    if (MMI_UNLIKELY((size_t)(a->bump_end - a->bump) < need) && !mmi_arena_refill(a, ctx, need, cat))
        return NULL;
    mmi_header *h = (mmi_header *)a->bump;
    a->bump += need;
    h->info = a->carve_info;
    return h;
}

/* Gives a small block (sealed live, span bytes after its header) back to
 * its free list. */
static inline void mmi_arena_put_sized(mmi_arena *a, mmi_header *h, size_t span) {
    unsigned k = mmi_size_class(span);
    mmi_hdr_live_to_freed(h);
    void *payload = mmi_payload_of(h);
    *(void **)payload = a->freelist[k];
    a->freelist[k] = payload;
}

/* The same, the span read from the header (its size field). */
static inline void mmi_arena_put(mmi_arena *a, mmi_header *h) {
    mmi_arena_put_sized(a, h, mmi_hdr_size(h));
}

/* Under poison: the same for a block whose payload is already filled; its
 * link is sealed with it. */
void mmi_arena_put_poisoned(mmi_arena *a, mmi_header *h);
/* Under poison: a slot for span bytes whose free-list link is followed only
 * after its block's seal vouches for it; *bad is set to a block written
 * after its free (that free list is then dropped: never followed). */
mmi_header *mmi_arena_get_checked(mmi_arena *a, mm_context *ctx, size_t span, int cat,
                                  bool *reused, mmi_header **bad);

/* A large block (span > MMI_SMALL_MAX): header info set; NULL when the
 * system allocator fails. */
mmi_header *mmi_arena_large(mmi_arena *a, mm_context *ctx, size_t span, bool zero, int cat);
/* Frees a large block; resizes one (NULL, h kept, on failure). */
void mmi_arena_large_free(mmi_arena *a, mmi_chunk *ch);
mmi_header *mmi_arena_large_realloc(mmi_arena *a, mmi_chunk *ch, size_t span, int cat,
                                    const mm_context *ctx);

/* Reset: large blocks back to the system, every chunk rewound and kept as
 * spare, free lists emptied; then spare chunks beyond the retain cap go to
 * the dead chunks. Destroy: everything goes (chunks to the dead chunks). */
void mmi_arena_rewind(mmi_arena *a);
void mmi_arena_release(mmi_arena *a);

/* Where a block of a context lives. */
typedef enum {
    MMI_OWNER_OK,        /* its chunk belongs to a live context, same epoch */
    MMI_OWNER_DAMAGED,   /* the chunk header is damaged */
    MMI_OWNER_DESTROYED, /* the chunk's context was destroyed */
    MMI_OWNER_RESET      /* a reset of its context released it (a pointer kept
                            from an earlier epoch) */
} mmi_owner_state;


/* The chunk of context block h (sealed live or freed) and whether h is
 * still its owner's: a live owner, and h carved in the owner's current epoch
 * (its tag). Inline: every free of a context block asks. */
static inline mmi_chunk *mmi_arena_owner(const mmi_header *h, mmi_owner_state *st) {
    mmi_chunk *ch = mmi_arena_chunk_at(h);
    uint32_t kind = (h->info & MMI_HF_BIG) ? MMI_CHUNK_LARGE : MMI_CHUNK_SMALL;
    if (ch->magic != mmi_chunk_magic(ch, kind)) {
        *st = MMI_OWNER_DAMAGED;
        return NULL;
    }
    const mmi_arena *a = ch->arena;
    if (a == NULL) { /* dead: its context was destroyed */
        *st = MMI_OWNER_DESTROYED;
        return NULL;
    }
    if (kind == MMI_CHUNK_SMALL && (h->info >> MMI_INFO_HIGH_SHIFT) != a->tag) {
        *st = MMI_OWNER_RESET;
        return NULL;
    }
    *st = MMI_OWNER_OK;
    return ch;
}

/* The same for a block known to be carved (no MMI_HF_BIG): its chunk when
 * it is still its owner's, else NULL (mmi_arena_owner says why). */
static inline mmi_chunk *mmi_arena_owner_small(const mmi_header *h) {
    mmi_chunk *ch = mmi_arena_carved_chunk_at(h);
    if (MMI_UNLIKELY(ch->magic != mmi_chunk_magic(ch, MMI_CHUNK_SMALL))) return NULL;
    const mmi_arena *a = ch->arena;
    if (MMI_UNLIKELY(a == NULL) || MMI_UNLIKELY((h->info >> MMI_INFO_HIGH_SHIFT) != a->tag))
        return NULL;
    return ch;
}

/* Visits every carved slot of a's chunks and large blocks: kind says whether
 * h is a block (st: its state), a place whose header is damaged (the walk
 * resynchronises 16 bytes at a time on the next header that names its own
 * chunk and epoch), or a damaged chunk header (h is then the chunk's first
 * slot; the rest of that list is not walked). */
typedef enum { MMI_SLOT_BLOCK, MMI_SLOT_BAD_HEADER, MMI_SLOT_BAD_CHUNK } mmi_slot_kind;
typedef void (*mmi_slot_fn)(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg);
void mmi_arena_walk(const mmi_arena *a, const mm_context *ctx, mmi_slot_fn fn, void *arg);

#endif /* MMI_ARENA_H */
