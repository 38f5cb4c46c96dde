/* Big blocks: process blocks too large for the thread cache and context
 * blocks too large for a chunk. Each is one system allocation whose header
 * sits at page offset MMI_BIG_OFFSET (arena.h draws it), registered in
 * MMI_SET_OURS while held: the system may unmap such a block when it is
 * freed, and a later free of the same pointer must be named, not fault. */
#include "arena.h"

#include <string.h>

/* The header position in an allocation starting at raw. */
static mmi_header *big_place(char *raw, size_t prefix) {
    uintptr_t first = (uintptr_t)raw + prefix;
    uintptr_t h = first + ((MMI_BIG_OFFSET - first) & MMI_PAGE_MASK);
    return (mmi_header *)h;
}

static uint32_t big_info(const mmi_header *h, const char *raw) {
    return MMI_HF_BIG | (uint32_t)(((uintptr_t)h - (uintptr_t)raw) >> 4 << MMI_INFO_HIGH_SHIFT);
}

static char *big_raw(const mmi_header *h) {
    return (char *)(uintptr_t)h - ((size_t)(h->info >> MMI_INFO_HIGH_SHIFT) << 4);
}

mmi_header *mmi_big_alloc(size_t prefix, size_t size, bool zero, int cat, const mm_context *ctx) {
    size_t total = mmi_big_total(prefix, size);
    if (total < size) return NULL;
    char *raw = zero ? mmi_sys_calloc(total, cat, ctx) : mmi_sys_malloc(total, cat, ctx);
    if (raw == NULL) return NULL;
    mmi_header *h = big_place(raw, prefix);
    if (!mmi_addrset_add(MMI_SET_OURS, (uintptr_t)h)) {
        mmi_sys_free(raw);
        return NULL;
    }
    h->info = big_info(h, raw);
    return h;
}

mmi_header *mmi_big_realloc(mmi_header *h, size_t prefix, size_t size, int cat,
                            const mm_context *ctx) {
    size_t total = mmi_big_total(prefix, size);
    if (total < size) return NULL;
    char *raw = big_raw(h);
    size_t old_at = (size_t)((char *)h - raw), keep = mmi_hdr_size(h);
    if (keep > size) keep = size;
    uintptr_t old_h = (uintptr_t)h;
    /* out of the set before realloc can hand the old memory to another
     * thread (whose block there registers itself); back in on failure */
    mmi_addrset_remove(MMI_SET_OURS, old_h);
    char *nraw = mmi_sys_realloc(raw, total, cat, ctx);
    if (nraw == NULL) {
        if (!mmi_addrset_add(MMI_SET_OURS, old_h))
            mmi_log(MM_LOG_WARNING,
                    "out of memory registering the big block %p: it stays valid, but its free "
                    "will be reported as a bad pointer",
                    (void *)(old_h + MMI_HEADER_BYTES));
        return NULL;
    }
    mmi_header *n = big_place(nraw, prefix);
    if ((char *)n != nraw + old_at) /* the prefix, header and payload sit elsewhere now */
        memmove((char *)n - prefix, nraw + old_at - prefix, prefix + MMI_HEADER_BYTES + keep);
    n->info = (n->info & ~((uint32_t)MMI_TAG_MASK << MMI_INFO_HIGH_SHIFT)) |
              (big_info(n, nraw) & ((uint32_t)MMI_TAG_MASK << MMI_INFO_HIGH_SHIFT));
    if (!mmi_addrset_add(MMI_SET_OURS, (uintptr_t)n))
        mmi_log(MM_LOG_WARNING,
                "out of memory registering the big block %p: it stays valid, but its free will "
                "be reported as a bad pointer",
                mmi_payload_of(n));
    return n;
}

void mmi_big_free(mmi_header *h) {
    char *raw = big_raw(h);
    mmi_ours_release((uintptr_t)h);
    mmi_sys_free(raw);
}
