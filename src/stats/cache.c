/* The per-thread cache of freed process-wide blocks (see stats.h): it keeps
 * the malloc/free churn of simulation codes off the system allocator's slow
 * paths, within a cap that follows the thread's live bytes. Off under
 * AddressSanitizer and ThreadSanitizer (so the sanitizer sees every free)
 * and when the option "cache" is 0 (MIMICMEM_CACHE=0). Blocks freed under
 * poison keep their link sealed with them, and the checked pop follows a
 * link only after the seal vouches for it. */
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
_Atomic bool mmi_cache_adaptive = true;

bool mmi_cache_push_poisoned(mmi_thread *t, mmi_header *h, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return false;
    unsigned bin = mmi_cache_bin_held(size);
    size_t bytes = mmi_process_capacity(size);
    if (t->cache.bytes + bytes > t->cache.cap) return false;
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

/* Is h, the head of a bin, safe to follow (its header and link intact)? */
static bool cache_head_intact(mmi_header *h) {
    mmi_hdr_state st = mmi_hdr_check(h);
    return st != MMI_HDR_BAD && (st != MMI_HDR_POISONED || mmi_hdr_link_intact(h));
}

size_t mmi_cache_flush(mmi_thread *t) {
    size_t released = 0;
    for (unsigned bin = 0; bin < MMI_CACHE_BINS; bin++) {
        while (t->cache.head[bin]) {
            mmi_header *h = t->cache.head[bin];
            if (!cache_head_intact(h)) break; /* a damaged link is never followed */
            t->cache.head[bin] = mmi_hdr_link(h);
            released += MMI_HEADER_BYTES + mmi_process_capacity(mmi_hdr_freed_span(h));
            mmi_process_sys_put(h);
        }
        t->cache.head[bin] = NULL;
    }
    t->cache.bytes = 0;
    return released;
}

/* ======================================================================
 * The cap
 * ==================================================================== */

/* Gives cached blocks back, largest first, until the cache holds at most
 * cap bytes: the small bins are the ones the churn between two bursts of a
 * Mimic run keeps using (smallest first cost the trace-mm replay of
 * bench/callgrind.sh 2.4x its instructions per call, largest first about
 * 1.3x, at no more peak RSS). A bin whose head is damaged is left for the checked
 * pop to report. */
static void cache_trim(mmi_thread *t, size_t cap) {
    for (unsigned bin = MMI_CACHE_BINS; bin-- > 0 && t->cache.bytes > cap;) {
        while (t->cache.bytes > cap && t->cache.head[bin] &&
               cache_head_intact(t->cache.head[bin])) {
            mmi_header *h = t->cache.head[bin];
            t->cache.head[bin] = mmi_hdr_link(h);
            t->cache.bytes -= mmi_process_capacity(mmi_hdr_freed_span(h));
            mmi_process_sys_put(h);
        }
    }
}

/* The adaptive cap is MMI_CACHE_LIVE_TIMES times the thread's live bytes,
 * between the floor and the ceiling (the option's bytes). Why four: a
 * churn of random sizes finds a block in the cache only once most bins
 * hold some, which takes a cache a few times its live set (churn1k of
 * bench/callgrind.sh: 1,000 blocks, 0.7 MiB live, needs about 2.4 MiB to
 * stay at its instructions per call); and the cap that falls with live
 * bytes when a burst of allocations ends is what keeps the peak RSS of the
 * Mimic trace replays near the legacy tracker's (bench/README.md, "Peak
 * RSS"). The floor keeps a thread with little live (or one that frees
 * what others allocated) churning from its cache. */
void mmi_cache_adapt(mmi_thread *t) {
    size_t cap = mmi_load(&mmi_cache_limit);
    if (cap != 0 && mmi_load(&mmi_cache_adaptive)) {
        int64_t b = mmi_load(&t->total.bytes); /* < 0 when it frees others' blocks */
        size_t live = b > 0 ? (size_t)b : 0;
        size_t want = live < cap / MMI_CACHE_LIVE_TIMES ? live * MMI_CACHE_LIVE_TIMES : cap;
        if (want < MMI_CACHE_FLOOR_BYTES) want = MMI_CACHE_FLOOR_BYTES;
        if (want < cap) cap = want;
    }
    t->cache.cap = cap;
    if (t->cache.bytes > cap) cache_trim(t, cap);
}

void mmi_cache_fold(mmi_tcount *total) {
    mmi_cache_adapt((mmi_thread *)((char *)total - offsetof(mmi_thread, total)));
}

void mmi_cache_set_limit(mmi_thread *t, size_t bytes, bool adaptive) {
    mmi_store(&mmi_cache_adaptive, adaptive);
    mmi_store(&mmi_cache_limit, bytes);
    if (t) mmi_cache_adapt(t);
}
