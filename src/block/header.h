/* Layer 1, block: the 16-byte header in front of every block, process-wide
 * or context. It holds the requested size, the category, what kind of block
 * it is and where its owner is, and a seal that binds all of it to the
 * block's address. Every state a header can be in, and every transition
 * between states, is written here once. */
#ifndef MMI_HEADER_H
#define MMI_HEADER_H

#include <stddef.h>
#include <stdint.h>

/*
 *   header h (16-aligned)                                 user pointer p
 *   |                                                     |
 *   v                                                     v
 *   +------------------------------+-----------+----------+-----------------
 *   | size_cat (64 bits)           | info (32) | seal (32)| payload ...
 *   | bits 0..47  requested bytes  |           |          |
 *   | bits 48..63 category id      |           |          |
 *   +------------------------------+-----------+----------+-----------------
 *   p - 16                          p - 8       p - 4
 *
 *   info   bits 0..4   flags: CONTEXT, GUARD, TAIL, POISON, BIG
 *          bits 5..7   carved context block: log2(chunk bytes / 8 KiB)
 *          bits 8..31  carved context block: the context's epoch tag
 *                      big block: distance / 16 from the system allocation's
 *                      start to h (h sits at page offset MMI_BIG_OFFSET)
 *
 *   kind of block            info                         owner found by
 *   process, small           0 (+ decoration flags)       - (none needed)
 *   process, big             BIG | distance               -
 *   context, carved          CONTEXT | chunk class | tag  h & ~(chunk bytes - 1)
 *   context, large           CONTEXT | BIG | distance     the chunk header at h - 64
 *
 * seal = mix(size_cat, info, address) XOR a constant per state: any damaged
 * bit of the header, a header copied elsewhere or random bytes fail the
 * check except with probability 2^-32.
 *
 * A freed block keeps its span (bytes after the header) in bits 0..23 of
 * the size field; a poisoned one also keeps a 24-bit fold of its free-list
 * link (the first 8 bytes of its payload) in bits 24..47, sealed with the
 * rest, so a write over the link is found before the link is followed.
 */
typedef struct mmi_header {
    uint64_t size_cat; /* bits 0..47 requested bytes, 48..63 category id */
    uint32_t info;     /* flags, chunk class and epoch tag, or big distance */
    uint32_t seal;     /* mix of the above and the address, per state */
} mmi_header;

#define MMI_HEADER_BYTES ((size_t)16)
#define MMI_SIZE_BITS    48
#define MMI_SIZE_MASK    ((((uint64_t)1) << MMI_SIZE_BITS) - 1)
/* Largest request a header can describe (256 TiB - 1). */
#define MMI_MAX_REQUEST ((size_t)MMI_SIZE_MASK)

#define MMI_HF_CONTEXT 0x01u /* owned by a context (carved from a chunk, or large) */
#define MMI_HF_GUARD   0x02u /* an 8-byte canary follows the payload (checking modes) */
#define MMI_HF_TAIL    0x04u /* a tail record (site, trace id) follows the payload */
#define MMI_HF_POISON  0x08u /* fill the payload with MM_FREED_BYTE when it is freed */
#define MMI_HF_BIG     0x10u /* one system allocation of its own (arena/big.c) */
#define MMI_HF_DECOR   (MMI_HF_GUARD | MMI_HF_TAIL | MMI_HF_POISON) /* free goes to check.c */
#define MMI_HF_MASK    0x1Fu

#define MMI_INFO_CLASS_SHIFT 5    /* carved: chunk class in bits 5..7 */
#define MMI_INFO_CLASS_MASK  0xE0u
#define MMI_INFO_HIGH_SHIFT  8    /* carved: epoch tag; big: distance / 16 */
#define MMI_TAG_MASK         0xFFFFFFu

/* Big blocks put their header at this offset in a page, and only there:
 * a pointer whose header is elsewhere is never a big block, so its header
 * is in memory that stays mapped (arena/big.c, docs/design.md). */
#define MMI_BIG_OFFSET ((uintptr_t)16)
#define MMI_PAGE_MASK  ((uintptr_t)4095)

#define MMI_SEAL_LIVE     0x6D6D4C56u /* "mmLV" */
#define MMI_SEAL_FREED    0x6D6D4644u /* "mmFD" */
#define MMI_SEAL_POISONED 0x6D6D5046u /* "mmPF": freed, payload filled, link fold kept */

#define MMI_FREED_SPAN_MASK ((uint64_t)0xFFFFFF) /* a freed block's span: carved <= 256 KiB,
                                                    cached <= 32 KiB */

_Static_assert(sizeof(mmi_header) == MMI_HEADER_BYTES, "block header must be 16 bytes");

static inline mmi_header *mmi_hdr_of(const void *p) {
    return (mmi_header *)((char *)(uintptr_t)p - MMI_HEADER_BYTES);
}

static inline void *mmi_payload_of(mmi_header *h) {
    return (char *)h + MMI_HEADER_BYTES;
}

static inline size_t mmi_hdr_size(const mmi_header *h) {
    return (size_t)(h->size_cat & MMI_SIZE_MASK);
}

static inline int mmi_hdr_cat(const mmi_header *h) {
    return (int)(h->size_cat >> MMI_SIZE_BITS);
}

static inline uint64_t mmi_pack_size_cat(size_t size, int cat) {
    return (uint64_t)size | ((uint64_t)(uint16_t)cat << MMI_SIZE_BITS);
}

/* True when p's header sits where a big block's header would: only then can
 * its memory have gone back to the system, and arena/big.c is asked first. */
static inline int mmi_maybe_big(const void *p) {
    return (((uintptr_t)p - MMI_HEADER_BYTES) & MMI_PAGE_MASK) == MMI_BIG_OFFSET;
}

/* ----------------------------------------------------------------------
 * The seal and the states
 * -------------------------------------------------------------------- */

/* Mixes the three header inputs: info is spread by an odd multiplier before
 * it joins the size/category word and the address, so no simple pair of bit
 * flips in different fields cancels; the high half of the final product
 * depends on every bit of its input. */
static inline uint32_t mmi_seal_mix(const mmi_header *h) {
    uint64_t x = (h->size_cat ^ (uint64_t)((uintptr_t)h >> 4)) + h->info * 0xD6E8FEB86659FD93ull;
    return (uint32_t)((x * 0x9E3779B97F4A7C15ull) >> 32);
}

/* A free-list link folded to 24 bits, kept in a poisoned block's header. */
static inline uint64_t mmi_link_fold(uint64_t link) {
    return (link * 0xC2B2AE3D27D4EB4Full) >> 40;
}

/* The link stored in the first 8 bytes of a freed block's payload. */
static inline void *mmi_hdr_link(mmi_header *h) {
    return *(void **)mmi_payload_of(h);
}

typedef enum {
    MMI_HDR_LIVE,     /* allocated */
    MMI_HDR_FREED,    /* freed; the first 8 payload bytes may hold a free-list link */
    MMI_HDR_BAD,      /* not a header of ours, or damaged */
    MMI_HDR_POISONED  /* freed under poison: payload from byte 8 filled with
                         MM_FREED_BYTE, the link in bytes 0..7 folded into the
                         header */
} mmi_hdr_state;

/* live: after every allocation and every change of size, category or info */
static inline void mmi_hdr_seal_live(mmi_header *h) {
    h->seal = mmi_seal_mix(h) ^ MMI_SEAL_LIVE;
}

/* live -> freed, for a header already known to be live (no mix needed) */
static inline void mmi_hdr_live_to_freed(mmi_header *h) {
    h->seal ^= MMI_SEAL_LIVE ^ MMI_SEAL_FREED;
}

/* live (size field = span) -> poisoned, once the payload is filled: link
 * stored in the first 8 bytes, its fold in the size field, sealed */
static inline void mmi_hdr_seal_poisoned(mmi_header *h, void *link) {
    *(void **)mmi_payload_of(h) = link;
    uint64_t fold = mmi_link_fold((uint64_t)(uintptr_t)link);
    h->size_cat = (h->size_cat & ~MMI_SIZE_MASK) | (h->size_cat & MMI_FREED_SPAN_MASK) | fold << 24;
    h->seal = mmi_seal_mix(h) ^ MMI_SEAL_POISONED;
}

/* A poisoned block whose link was overwritten, once reported, becomes a
 * plain freed block (set aside, never on a list again), so later walks do
 * not report it again. */
static inline void mmi_hdr_set_aside(mmi_header *h) {
    h->size_cat &= ~(MMI_SIZE_MASK & ~MMI_FREED_SPAN_MASK);
    h->seal = mmi_seal_mix(h) ^ MMI_SEAL_FREED;
}

/* The span of a freed (or poisoned) block. */
static inline size_t mmi_hdr_freed_span(const mmi_header *h) {
    return (size_t)(h->size_cat & MMI_FREED_SPAN_MASK);
}

/* A poisoned block's link is the one it was freed with: its first 8 bytes
 * were not written after the free. */
static inline int mmi_hdr_link_intact(const mmi_header *h) {
    uint64_t link = *(const uint64_t *)(const void *)((const char *)h + MMI_HEADER_BYTES);
    return ((h->size_cat >> 24) & MMI_FREED_SPAN_MASK) == mmi_link_fold(link);
}

/* What h is, from its seal alone. */
static inline mmi_hdr_state mmi_hdr_check(const mmi_header *h) {
    uint32_t m = mmi_seal_mix(h);
    if (h->seal == (m ^ MMI_SEAL_LIVE)) return MMI_HDR_LIVE;
    if (h->seal == (m ^ MMI_SEAL_FREED)) return MMI_HDR_FREED;
    if (h->seal == (m ^ MMI_SEAL_POISONED)) return MMI_HDR_POISONED;
    return MMI_HDR_BAD;
}

/* True when h is sealed live (the hot paths' test). */
static inline int mmi_hdr_is_live(const mmi_header *h) {
    return h->seal == (mmi_seal_mix(h) ^ MMI_SEAL_LIVE);
}

/* ----------------------------------------------------------------------
 * Decorated blocks (checking modes, sites, tracing; see diag/check.c)
 *
 *   p                 p + size      p + tail_at(size, info)
 *   | payload ...     | canary (8)  | pad | site (8) | trace id (8) |
 *                     ^ MMI_HF_GUARD      ^ MMI_HF_TAIL (8-aligned)
 *
 * The header keeps the caller's size; the block's span (what it occupies
 * after the header) is size plus these extras. A freed block's header holds
 * its span as size and no decoration flags, so free lists, caches and chunk
 * walks see plain blocks.
 * -------------------------------------------------------------------- */

#define MMI_GUARD_BYTES ((size_t)8)
#define MMI_TAIL_BYTES  ((size_t)16)

typedef struct {
    const void *site;  /* site record of the allocation (diag/site.c), or NULL */
    uint64_t trace_id; /* id in the trace, 0 when the block is not traced */
} mmi_tail;

/* Offset from the payload of the tail record of a block of size bytes. */
static inline size_t mmi_tail_at(size_t size, uint32_t info) {
    size_t end = size + ((info & MMI_HF_GUARD) ? MMI_GUARD_BYTES : 0);
    return (end + 7) & ~(size_t)7;
}

/* Bytes the block occupies after its header. */
static inline size_t mmi_span(size_t size, uint32_t info) {
    if (!(info & (MMI_HF_GUARD | MMI_HF_TAIL))) return size;
    if (info & MMI_HF_TAIL) return mmi_tail_at(size, info) + MMI_TAIL_BYTES;
    return size + MMI_GUARD_BYTES;
}

static inline size_t mmi_hdr_span(const mmi_header *h) {
    return mmi_span(mmi_hdr_size(h), h->info);
}

/* The canary's bytes (MM_GUARD_BYTE in mimicmem.h), as one word. */
#define MMI_GUARD_WORD 0xFDFDFDFDFDFDFDFDull

/* Offset (0..7) of the first damaged canary byte of a guarded block, or -1. */
static inline int mmi_hdr_guard_damage(const mmi_header *h) {
    const unsigned char *g = (const unsigned char *)h + MMI_HEADER_BYTES + mmi_hdr_size(h);
    for (int i = 0; i < (int)MMI_GUARD_BYTES; i++)
        if (g[i] != (unsigned char)(MMI_GUARD_WORD & 0xFF)) return i;
    return -1;
}

#endif /* MMI_HEADER_H */
