/* The arena of one context: blocks carved by size class from chunks the
 * context holds, a free list per class threaded through freed payloads, a
 * bump pointer for fresh space, large blocks on a list of their own, and
 * the slot walker that checks and reports use. Every function here runs on
 * the thread that owns the context (docs/design.md, "Threads"). */
#include "arena.h"

#include <string.h>

#define ARENA_FIRST_CHUNK ((size_t)8 * 1024) /* first chunk a context gets */

static uint32_t arena_carve_info(const mmi_chunk *ch, uint32_t tag) {
    return MMI_HF_CONTEXT | ((uint32_t)ch->order << MMI_INFO_CLASS_SHIFT) |
           (tag << MMI_INFO_HIGH_SHIFT);
}

void mmi_arena_init(mmi_arena *a, uint32_t tag) {
    memset(a, 0, sizeof *a);
    a->tag = tag & MMI_TAG_MASK;
    a->next_chunk_bytes = ARENA_FIRST_CHUNK;
    a->retain_bytes = SIZE_MAX;
    mmi_tool_pool_create(a); /* memcheck: the context's blocks are this pool's */
}

void mmi_arena_set_tag(mmi_arena *a, uint32_t tag) {
    a->tag = tag & MMI_TAG_MASK;
    if (a->chunks) a->carve_info = arena_carve_info(a->chunks, a->tag);
}

/* ======================================================================
 * Chunks
 * ==================================================================== */

bool mmi_arena_refill(mmi_arena *a, mm_context *ctx, size_t need, int cat) {
    need += MMI_CHUNK_HEADER;
    if (a->chunks) a->chunks->limit = a->bump;
    mmi_chunk *ch = NULL;
    for (mmi_chunk **pp = &a->spare; *pp; pp = &(*pp)->next) { /* kept from the last epoch */
        if ((*pp)->bytes >= need) {
            ch = *pp;
            *pp = ch->next;
            break;
        }
    }
    if (ch == NULL) {
        size_t bytes = a->next_chunk_bytes;
        while (bytes < need) bytes *= 2;
        ch = mmi_chunk_get(bytes, ctx, cat);
        if (ch == NULL) return false;
        mmi_bump(&a->chunk_bytes, ch->bytes);
        if (a->next_chunk_bytes < MMI_CHUNK_MAX) a->next_chunk_bytes *= 2;
    }
    ch->ctx = ctx;
    ch->arena = a;
    ch->limit = (char *)(ch + 1);
    /* under a tool: nothing carved yet, nothing to touch (a chunk of the
     * dead cache is closed already; a fresh one is not) */
    if (mmi_tool_on()) mmi_tool_noaccess(ch + 1, ch->bytes - MMI_CHUNK_HEADER);
    ch->next = a->chunks;
    a->chunks = ch;
    a->bump = (char *)(ch + 1);
    a->bump_end = (char *)ch + ch->bytes;
    a->carve_info = arena_carve_info(ch, a->tag);
    return true;
}

void mmi_arena_rewind(mmi_arena *a) {
    for (mmi_chunk *ch = a->large, *next; ch; ch = next) {
        next = ch->next;
        mmi_big_free((mmi_header *)(ch + 1));
    }
    a->large = NULL;
    if (mmi_tool_on()) { /* every block of the epoch is gone: a pool anew */
        mmi_tool_pool_destroy(a);
        mmi_tool_pool_create(a);
    }
    for (mmi_chunk *ch = a->chunks, *next; ch; ch = next) {
        next = ch->next;
        if (mmi_tool_on()) mmi_tool_noaccess(ch + 1, ch->bytes - MMI_CHUNK_HEADER);
        ch->limit = (char *)(ch + 1);
        ch->next = a->spare;
        a->spare = ch;
    }
    a->chunks = NULL;
    a->bump = a->bump_end = NULL;
    memset(a->freelist, 0, sizeof a->freelist);
    /* spare chunks beyond the retain cap go to the dead chunks */
    mmi_chunk *drop = NULL;
    size_t held = mmi_load(&a->chunk_bytes);
    for (mmi_chunk **pp = &a->spare; *pp && held > a->retain_bytes;) {
        mmi_chunk *ch = *pp;
        *pp = ch->next;
        held -= ch->bytes;
        ch->next = drop;
        drop = ch;
    }
    mmi_store(&a->chunk_bytes, held);
    if (drop) mmi_chunk_put(drop);
}

void mmi_arena_release(mmi_arena *a) {
    mmi_arena_rewind(a);
    mmi_chunk_put(a->spare);
    a->spare = NULL;
    mmi_store(&a->chunk_bytes, 0);
    mmi_tool_pool_destroy(a);
}

/* ======================================================================
 * Under a tool (arena.h)
 * ==================================================================== */

mmi_header *mmi_arena_get_tool(mmi_arena *a, mm_context *ctx, size_t span, int cat,
                               bool *reused) {
    unsigned k = mmi_size_class(span);
    void *f = a->freelist[k];
    mmi_header *h;
    if (f != NULL) {
        h = mmi_hdr_of(f);
        mmi_tool_defined(h, MMI_HEADER_BYTES + sizeof(void *)); /* header and link */
        a->freelist[k] = *(void **)f;
        mmi_tool_noaccess(f, sizeof(void *));
        *reused = true;
    } else {
        *reused = false;
        size_t need = MMI_HEADER_BYTES + mmi_class_bytes(k);
        if ((size_t)(a->bump_end - a->bump) < need && !mmi_arena_refill(a, ctx, need, cat))
            return NULL;
        h = (mmi_header *)a->bump;
        a->bump += need;
        mmi_tool_undefined(h, MMI_HEADER_BYTES);
        h->info = a->carve_info;
    }
    mmi_tool_pool_alloc(a, mmi_payload_of(h), span);
    return h;
}

void mmi_arena_tool_freeing(mmi_header *h) {
    mmi_tool_defined(mmi_payload_of(h), sizeof(void *));
}

void mmi_arena_tool_freed(mmi_arena *a, mmi_header *h, bool poisoned) {
    size_t span = mmi_hdr_freed_span(h); /* the header is open: sealed freed by now */
    size_t slot = MMI_HEADER_BYTES + mmi_class_bytes(mmi_size_class(span));
    mmi_tool_pool_free(a, mmi_payload_of(h), span);
    if (poisoned)
        mmi_tool_defined(h, slot);
    else
        mmi_tool_noaccess(h, slot);
}

/* ======================================================================
 * Blocks
 * ==================================================================== */

void mmi_arena_put_poisoned(mmi_arena *a, mmi_header *h) {
    unsigned k = mmi_size_class(mmi_hdr_size(h));
    void *head = a->freelist[k];
    mmi_hdr_seal_poisoned(h, head);
    a->freelist[k] = mmi_payload_of(h);
}

mmi_header *mmi_arena_get_checked(mmi_arena *a, mm_context *ctx, size_t span, int cat,
                                  bool *reused, mmi_header **bad) {
    *bad = NULL;
    unsigned k = mmi_size_class(span);
    void *f = a->freelist[k];
    /* under a tool: the head's header and link are read here (and the
     * header stays open: it is reused or set aside and reported) */
    if (f != NULL) mmi_tool_defined(mmi_hdr_of(f), MMI_HEADER_BYTES + sizeof(void *));
    mmi_hdr_state st = f ? mmi_hdr_check(mmi_hdr_of(f)) : MMI_HDR_FREED;
    if (st == MMI_HDR_BAD || (st == MMI_HDR_POISONED && !mmi_hdr_link_intact(mmi_hdr_of(f)))) {
        /* its header or its link changed after the free: the list is
         * dropped (its slots stay unused until the next reset) */
        *bad = mmi_hdr_of(f);
        a->freelist[k] = NULL;
        if (st == MMI_HDR_POISONED) mmi_hdr_set_aside(*bad);
    }
    return mmi_arena_get(a, ctx, span, cat, reused);
}

mmi_header *mmi_arena_large(mmi_arena *a, mm_context *ctx, size_t span, bool zero, int cat) {
    mmi_header *h = mmi_big_alloc(MMI_CHUNK_HEADER, span, zero, cat, ctx);
    if (h == NULL) return NULL;
    mmi_chunk *ch = (mmi_chunk *)((char *)h - MMI_CHUNK_HEADER);
    ch->magic = mmi_chunk_magic(ch, MMI_CHUNK_LARGE);
    ch->kind = MMI_CHUNK_LARGE;
    ch->order = 0;
    ch->committed = 1;
    ch->ctx = ctx;
    ch->arena = a;
    ch->limit = NULL;
    ch->bytes = mmi_big_total(MMI_CHUNK_HEADER, span);
    ch->prev = NULL;
    ch->next = a->large;
    if (a->large) a->large->prev = ch;
    a->large = ch;
    h->info |= MMI_HF_CONTEXT;
    return h;
}

static void arena_unlink_large(mmi_arena *a, mmi_chunk *ch) {
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        a->large = ch->next;
    if (ch->next) ch->next->prev = ch->prev;
}

void mmi_arena_large_free(mmi_arena *a, mmi_chunk *ch) {
    arena_unlink_large(a, ch);
    mmi_big_free((mmi_header *)(ch + 1));
}

mmi_header *mmi_arena_large_realloc(mmi_arena *a, mmi_chunk *ch, size_t span, int cat,
                                    const mm_context *ctx) {
    mmi_chunk *prev = ch->prev, *next = ch->next;
    mmi_header *n = mmi_big_realloc((mmi_header *)(ch + 1), MMI_CHUNK_HEADER, span, cat, ctx);
    if (n == NULL) return NULL;
    mmi_chunk *nc = (mmi_chunk *)((char *)n - MMI_CHUNK_HEADER);
    nc->magic = mmi_chunk_magic(nc, MMI_CHUNK_LARGE);
    nc->bytes = mmi_big_total(MMI_CHUNK_HEADER, span);
    if (prev)
        prev->next = nc;
    else
        a->large = nc;
    if (next) next->prev = nc;
    return n;
}


/* ======================================================================
 * Walking the slots (check.c, legacy.c, the reset checks)
 *
 * A small chunk is carved from its start, slot after slot, up to its limit
 * (the bump pointer for the current, first chunk); each slot is a header
 * and mmi_class_bytes(mmi_size_class(span)) bytes, live, freed or poisoned
 * as the seal says. A damaged header hides its size, so the walk then
 * moves on 16 bytes at a time to the next place whose info word names this
 * chunk's order and this epoch's tag (payload bytes pass with odds near
 * 2^-29). A large block is an mmi_chunk followed by one header.
 * ==================================================================== */

static bool arena_positioned(const mmi_header *h, uint32_t info) {
    return (h->info & ~(uint32_t)MMI_HF_DECOR) == info;
}

/* arena_positioned of a place that may be closed under a tool. */
static bool arena_positioned_open(const mmi_header *h, uint32_t info) {
    mmi_tool_peek pk;
    mmi_tool_peek_begin(h, &pk);
    bool at = arena_positioned(h, info);
    mmi_tool_peek_end(h, &pk);
    return at;
}

static void arena_walk_small(const mmi_chunk *ch, const char *limit, uint32_t info,
                             mmi_slot_fn fn, void *arg) {
    char *p = (char *)(uintptr_t)(ch + 1);
    while ((size_t)(limit - p) >= MMI_HEADER_BYTES) {
        mmi_header *h = (mmi_header *)p;
        /* under a tool: the header, and a free slot (fn reads its fill), are
         * open only while fn looks at them */
        mmi_tool_peek pk;
        mmi_tool_peek_begin(h, &pk);
        mmi_hdr_state st = mmi_hdr_check(h);
        size_t span = st == MMI_HDR_LIVE ? mmi_hdr_span(h) : mmi_hdr_freed_span(h);
        if (st != MMI_HDR_BAD && arena_positioned(h, info) && span <= MMI_SMALL_MAX &&
            mmi_cat_valid(mmi_hdr_cat(h))) {
            size_t step = MMI_HEADER_BYTES + mmi_class_bytes(mmi_size_class(span));
            if (step <= (size_t)(limit - p)) {
                bool free_open = st != MMI_HDR_LIVE &&
                                 mmi_tool_open(mmi_payload_of(h), step - MMI_HEADER_BYTES);
                fn(h, st, MMI_SLOT_BLOCK, arg);
                mmi_tool_reclose(mmi_payload_of(h), step - MMI_HEADER_BYTES, free_open);
                mmi_tool_peek_end(h, &pk);
                p += step;
                continue;
            }
        }
        fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_HEADER, arg);
        mmi_tool_peek_end(h, &pk);
        do {
            p += MMI_HEADER_BYTES;
        } while ((size_t)(limit - p) >= MMI_HEADER_BYTES &&
                 !arena_positioned_open((mmi_header *)p, info));
    }
}

static bool arena_chunk_ok(const mmi_chunk *ch, const mmi_arena *a, uint32_t kind) {
    return ch->magic == mmi_chunk_magic(ch, kind) && ch->kind == kind && ch->arena == a;
}

void mmi_arena_walk(const mmi_arena *a, const mm_context *ctx, mmi_slot_fn fn, void *arg) {
    (void)ctx;
    for (const mmi_chunk *ch = a->chunks; ch; ch = ch->next) {
        char *start = (char *)(uintptr_t)(ch + 1);
        char *limit = ch == a->chunks ? a->bump : ch->limit;
        if (!arena_chunk_ok(ch, a, MMI_CHUNK_SMALL) || (uintptr_t)limit < (uintptr_t)start ||
            (uintptr_t)limit - (uintptr_t)ch > ch->bytes) {
            fn((mmi_header *)start, MMI_HDR_BAD, MMI_SLOT_BAD_CHUNK, arg);
            break; /* its next link is not to be trusted either */
        }
        arena_walk_small(ch, limit, arena_carve_info(ch, a->tag), fn, arg);
    }
    for (const mmi_chunk *ch = a->large; ch; ch = ch->next) {
        mmi_header *h = (mmi_header *)(uintptr_t)(ch + 1);
        if (!arena_chunk_ok(ch, a, MMI_CHUNK_LARGE)) {
            fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_CHUNK, arg);
            break;
        }
        mmi_hdr_state st = mmi_hdr_check(h);
        if (st == MMI_HDR_LIVE && (h->info & (MMI_HF_CONTEXT | MMI_HF_BIG)) ==
                                      (MMI_HF_CONTEXT | MMI_HF_BIG) &&
            mmi_cat_valid(mmi_hdr_cat(h)))
            fn(h, st, MMI_SLOT_BLOCK, arg);
        else
            fn(h, MMI_HDR_BAD, MMI_SLOT_BAD_HEADER, arg);
    }
}
