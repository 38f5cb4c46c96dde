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
#define MMI_HF_MASK    0xFu /* bits 1..3 are reserved for checking modes */
#define MMI_DIST_SHIFT 4
#define MMI_MAX_DIST   ((size_t)0x0FFFFFFF << 4) /* 4 GiB - 16 */

#define MMI_SEAL_LIVE  0x6D6D4C56u /* "mmLV" */
#define MMI_SEAL_FREED 0x6D6D4644u /* "mmFD" */

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

/* What a header says about its block. */
typedef enum { MMI_HDR_LIVE, MMI_HDR_FREED, MMI_HDR_BAD } mmi_hdr_state;

static inline mmi_hdr_state mmi_hdr_check(const mmi_header *h) {
    uint32_t m = mmi_seal_mix(h);
    if (h->seal == (m ^ MMI_SEAL_LIVE)) return MMI_HDR_LIVE;
    if (h->seal == (m ^ MMI_SEAL_FREED)) return MMI_HDR_FREED;
    return MMI_HDR_BAD;
}

#endif /* MMI_HEADER_H */
