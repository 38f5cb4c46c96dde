/* The block header: 16 bytes in front of every block, process-wide or context.
 * It holds the requested size, the category, where the owning chunk is (for
 * context blocks) and a seal that binds all of it to the block's address. */
#ifndef MMI_HEADER_H
#define MMI_HEADER_H

#include <stddef.h>
#include <stdint.h>

/*
 *   block start (16-aligned)                              user pointer p
 *   |                                                     |
 *   v                                                     v
 *   +------------------------------+-----------+----------+-----------------
 *   | size_cat (64 bits)           | info (32) | seal (32)| payload ...
 *   | bits 0..47  requested bytes  | bits 0..3 |          |
 *   | bits 48..63 category id      |   flags   |          |
 *   |                              | bits 4..31|          |
 *   |                              |   chunk   |          |
 *   |                              |  distance |          |
 *   |                              |  / 16     |          |
 *   +------------------------------+-----------+----------+-----------------
 *   p - 16                          p - 8       p - 4
 *
 * Process-wide blocks: info is 0; the block is malloc(16 + size).
 * Context blocks: info has MMI_HF_CONTEXT and the distance, in 16-byte units,
 * from the header back to the mmi_chunk that holds it; the chunk names the
 * context, so mm_free finds the context in O(1).
 *
 * seal = mix(size_cat, info, address) XOR a live or a freed constant: any
 * damaged bit of the header, a header copied elsewhere, or random bytes fail
 * the check except with probability 2^-32.
 */
typedef struct mmi_header {
    uint64_t size_cat; /* bits 0..47 requested bytes, 48..63 category id */
    uint32_t info;     /* bits 0..3 MMI_HF_* flags, 4..31 chunk distance / 16 */
    uint32_t seal;     /* mmi_seal(): MMI_SEAL_LIVE or MMI_SEAL_FREED form */
} mmi_header;

#define MMI_HEADER_BYTES ((size_t)16)
#define MMI_SIZE_BITS    48
#define MMI_SIZE_MASK    ((((uint64_t)1) << MMI_SIZE_BITS) - 1)
/* Largest request a header can describe (256 TiB - 1). */
#define MMI_MAX_REQUEST ((size_t)MMI_SIZE_MASK)

#define MMI_HF_CONTEXT 0x1u /* the block lives in a context's chunk or large block */
#define MMI_HF_GUARD   0x2u /* an 8-byte canary follows the payload (checking modes) */
#define MMI_HF_TAIL    0x4u /* a tail record (site, trace id) follows the payload */
#define MMI_HF_POISON  0x8u /* fill the payload with MM_FREED_BYTE when it is freed */
#define MMI_HF_DECOR   (MMI_HF_GUARD | MMI_HF_TAIL | MMI_HF_POISON) /* free goes to check.c */
#define MMI_HF_MASK    0xFu
#define MMI_DIST_SHIFT 4
#define MMI_MAX_DIST   ((size_t)0x0FFFFFFF << 4) /* 4 GiB - 16 */

#define MMI_SEAL_LIVE     0x6D6D4C56u /* "mmLV" */
#define MMI_SEAL_FREED    0x6D6D4644u /* "mmFD" */
#define MMI_SEAL_POISONED 0x6D6D5046u /* "mmPF": freed, payload filled with MM_FREED_BYTE */

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

/* Mixes the three header inputs: info is spread by an odd multiplier before it
 * joins the size/category word and the address, so no simple pair of bit
 * flips in different fields cancels; the high half of the final product
 * depends on every bit of its input. */
static inline uint32_t mmi_seal_mix(const mmi_header *h) {
    uint64_t x = (h->size_cat ^ (uint64_t)((uintptr_t)h >> 4)) + h->info * 0xD6E8FEB86659FD93ull;
    return (uint32_t)((x * 0x9E3779B97F4A7C15ull) >> 32);
}

static inline void mmi_hdr_seal_live(mmi_header *h) {
    h->seal = mmi_seal_mix(h) ^ MMI_SEAL_LIVE;
}

/* Turns the seal of a header known to be live into its freed form, without
 * recomputing the mix. */
static inline void mmi_hdr_live_to_freed(mmi_header *h) {
    h->seal ^= MMI_SEAL_LIVE ^ MMI_SEAL_FREED;
}

/* What a header says about its block. A poisoned block is a freed one whose
 * payload (after the first 8 bytes, which hold a free-list link) was filled
 * with MM_FREED_BYTE when it was freed; any reuse re-seals it live. */
typedef enum { MMI_HDR_LIVE, MMI_HDR_FREED, MMI_HDR_BAD, MMI_HDR_POISONED } mmi_hdr_state;

static inline mmi_hdr_state mmi_hdr_check(const mmi_header *h) {
    uint32_t m = mmi_seal_mix(h);
    if (h->seal == (m ^ MMI_SEAL_LIVE)) return MMI_HDR_LIVE;
    if (h->seal == (m ^ MMI_SEAL_FREED)) return MMI_HDR_FREED;
    if (h->seal == (m ^ MMI_SEAL_POISONED)) return MMI_HDR_POISONED;
    return MMI_HDR_BAD;
}

/* ----------------------------------------------------------------------
 * Decorated blocks (checking modes, sites, tracing; see check.c)
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
    const void *site;  /* mmi_site of the allocation, or NULL (sites off) */
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

#endif /* MMI_HEADER_H */
