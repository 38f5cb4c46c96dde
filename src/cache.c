/* The per-thread cache of freed process-wide blocks (see internal.h): it keeps
 * the malloc/free churn of simulation codes off the system allocator's slow
 * paths. Off under AddressSanitizer and ThreadSanitizer (so the sanitizer sees
 * every free) and when the option "cache" is 0 (MIMICMEM_CACHE=0). */
#include "internal.h"

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

void mmi_cache_flush(mmi_thread *t) {
    for (unsigned bin = 0; bin < MMI_CACHE_BINS; bin++) {
        while (t->cache.head[bin]) {
            mmi_header *h = t->cache.head[bin];
            t->cache.head[bin] = *(mmi_header **)mmi_payload_of(h);
            mmi_sys_free(h);
        }
    }
    t->cache.bytes = 0;
}
