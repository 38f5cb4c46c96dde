/* Layer 1, block: the block header (header.h), size classes and the
 * category registry. Everything above works in these terms. */
#ifndef MMI_BLOCK_H
#define MMI_BLOCK_H

#include "../platform/platform.h"
#include "header.h"

/* ======================================================================
 * Size classes (sizeclass.c): 16, 32, 48, 64 bytes, then four per doubling
 * (80, 96, 112, 128, 160, ...) up to 256 KiB: at most 25% rounding above
 * 64 bytes. Contexts carve slots of these sizes; the thread cache bins
 * blocks above 4 KiB by them.
 * ==================================================================== */

#define MMI_NCLASSES  52                   /* classes 0..51: 16 B .. 256 KiB */
#define MMI_SMALL_MAX ((size_t)256 * 1024) /* larger context blocks are big blocks */
#define MMI_CLASS_TABLE_MAX ((size_t)4096) /* sizes up to here: one table load */

extern const uint8_t mmi_class_of_small[MMI_CLASS_TABLE_MAX / 16 + 1]; /* by (n + 15) / 16 */
extern const uint32_t mmi_class_size[MMI_NCLASSES];                    /* bytes of class k */

static inline unsigned mmi_msb(size_t x) { /* x > 0 */
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll((unsigned long long)x);
#else
    unsigned r = 0;
    while (x >>= 1) r++;
    return r;
#endif
}

/* Smallest class that holds n bytes (n <= MMI_SMALL_MAX). */
static inline unsigned mmi_size_class(size_t n) {
    if (MMI_LIKELY(n <= MMI_CLASS_TABLE_MAX)) return mmi_class_of_small[(n + 15) >> 4];
    unsigned msb = mmi_msb(n - 1);
    return 4 + (msb - 6) * 4 + (unsigned)(((n - 1) >> (msb - 2)) & 3);
}

static inline size_t mmi_class_bytes(unsigned k) {
    return mmi_class_size[k];
}

/* ======================================================================
 * Categories (category.c)
 * ==================================================================== */

/* Number of registered categories; ids below it are valid. Release-stored
 * after the entry is written, so a reader that sees id < count sees its name. */
extern _Atomic int mmi_ncat;

static inline bool mmi_cat_valid(int c) {
    return (unsigned)c < (unsigned)atomic_load_explicit(&mmi_ncat, memory_order_acquire);
}

/* Name of c without error checking ("?" for an invalid id). */
const char *mmi_cat_name(int c);
/* Index of category c's group in registration order of groups (Core = 0). */
int mmi_category_group_index(int c);
const char *mmi_group_name(int g);
int mmi_group_count(void);
/* Reports MM_ERR_BAD_CATEGORY for cat given to fn. */
MMI_COLD void mmi_error_bad_category(int cat, size_t size, const mm_context *ctx, const char *fn);

/* ======================================================================
 * Address sets (addrset.c)
 *
 * A pointer whose header sits at the big-block page offset (mmi_maybe_big)
 * may be a big block whose memory went back to the system, so its header is
 * not read before one of these sets says the memory is ours:
 *   MMI_SET_OURS      headers at that offset that mimicmem holds: big blocks
 *                     and the small process blocks that land there by chance
 *   MMI_SET_SEGMENTS  bases of the segments chunk memory is carved from
 *                     (never unmapped, so a carved block's header is readable)
 * Any thread; each set is split into shards with a lock each. Cost: a hash
 * probe under one shard lock, on rare paths only.
 * ==================================================================== */

enum { MMI_SET_OURS = 0, MMI_SET_SEGMENTS = 1 };

/* false when the set cannot grow (out of memory; nothing changes) */
bool mmi_addrset_add(int set, uintptr_t key);
void mmi_addrset_remove(int set, uintptr_t key);
bool mmi_addrset_contains(int set, uintptr_t key);

/* OURS only: h goes back to the system; it is remembered among the last
 * MMI_RELEASED_KEPT released headers, so a second free can say "double
 * free" without reading memory that may be gone. */
#define MMI_RELEASED_KEPT 256
void mmi_ours_release(uintptr_t h);
bool mmi_ours_recently_released(uintptr_t h);

#endif /* MMI_BLOCK_H */
