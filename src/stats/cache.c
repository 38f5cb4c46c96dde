/* The per-thread cache of freed process-wide blocks (see stats.h): it keeps
 * the malloc/free churn of simulation codes off the system allocator's slow
 * paths. Off under AddressSanitizer and ThreadSanitizer (so the sanitizer
 * sees every free) and when the option "cache" is 0 (MIMICMEM_CACHE=0).
 * Blocks freed under poison keep their link sealed with them, and the
 * checked pop follows a link only after the seal vouches for it. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CACHE_DEFAULT false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CACHE_DEFAULT false
#endif
#endif
#ifndef CACHE_DEFAULT
#define CACHE_DEFAULT true
#endif

_Atomic size_t mmi_cache_limit = CACHE_DEFAULT ? MMI_DEFAULT_CACHE_BYTES : 0;

bool mmi_cache_push_poisoned(mmi_thread *t, mmi_header *h, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return false;
    unsigned bin = mmi_cache_bin_held(size);
    size_t bytes = mmi_process_capacity(size);
    if (t->cache.bytes + bytes > mmi_load(&mmi_cache_limit)) return false;
    t->cache.bytes += bytes;
    mmi_hdr_seal_poisoned(h, t->cache.head[bin]);
    t->cache.head[bin] = h;
    return true;
}

mmi_header *mmi_cache_pop_checked(mmi_thread *t, size_t size, mmi_header **bad) {
    *bad = NULL;
    if (size > MMI_CACHE_MAX_REQUEST) return NULL;
    unsigned bin = mmi_cache_bin_fit(size);
    mmi_header *h = t->cache.head[bin];
    if (h == NULL) return NULL;
    mmi_hdr_state st = mmi_hdr_check(h);
    if (st == MMI_HDR_BAD || (st == MMI_HDR_POISONED && !mmi_hdr_link_intact(h))) {
        /* its header or its link changed after the free: nothing behind it
         * can be trusted, so the bin is abandoned, never followed */
        *bad = h;
        t->cache.head[bin] = NULL;
        if (st == MMI_HDR_POISONED) mmi_hdr_set_aside(h); /* whole but for its link */
        return NULL;
    }
    t->cache.head[bin] = mmi_hdr_link(h);
    t->cache.bytes -= mmi_process_capacity(mmi_hdr_freed_span(h));
    return h;
}

mmi_header *mmi_process_sys_get(size_t capacity, bool zero, int cat) {
    size_t bytes = MMI_HEADER_BYTES + capacity;
    mmi_header *h = zero ? mmi_sys_calloc(bytes, cat, NULL) : mmi_sys_malloc(bytes, cat, NULL);
    if (MMI_UNLIKELY(h == NULL)) return NULL;
    if (MMI_UNLIKELY(mmi_maybe_big(mmi_payload_of(h))) &&
        !mmi_addrset_add(MMI_SET_OURS, (uintptr_t)h)) {
        mmi_sys_free(h);
        return NULL;
    }
    h->info = 0;
    return h;
}

void mmi_process_sys_put(mmi_header *h) {
    if (MMI_UNLIKELY(mmi_maybe_big(mmi_payload_of(h)))) mmi_ours_release((uintptr_t)h);
    mmi_sys_free(h);
}

size_t mmi_cache_flush(mmi_thread *t) {
    size_t released = 0;
    for (unsigned bin = 0; bin < MMI_CACHE_BINS; bin++) {
        while (t->cache.head[bin]) {
            mmi_header *h = t->cache.head[bin];
            mmi_hdr_state st = mmi_hdr_check(h);
            if (st == MMI_HDR_BAD || (st == MMI_HDR_POISONED && !mmi_hdr_link_intact(h)))
                break; /* a damaged link is never followed */
            t->cache.head[bin] = mmi_hdr_link(h);
            released += MMI_HEADER_BYTES + mmi_process_capacity(mmi_hdr_freed_span(h));
            mmi_process_sys_put(h);
        }
        t->cache.head[bin] = NULL;
    }
    t->cache.bytes = 0;
    return released;
}
