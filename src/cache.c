/* The per-thread cache of freed process-wide blocks (see internal.h): it keeps
 * the malloc/free churn of simulation codes off the system allocator's slow
 * paths. Off under AddressSanitizer (so the sanitizer sees every free) and
 * when MIMICMEM_CACHE=0 is set in the environment. */
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

bool mmi_cache_enabled = CACHE_DEFAULT;

void mmi_cache_flush(mmi_thread *t) {
    for (unsigned k = 0; k < MMI_CACHE_CLASSES; k++) {
        while (t->cache.count[k]) mmi_sys_free(t->cache.slot[k][--t->cache.count[k]]);
    }
    t->cache.bytes = 0;
}
