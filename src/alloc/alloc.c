/* Process-wide blocks: mm_malloc, mm_calloc, mm_strdup and their _at forms,
 * and the process side of free and realloc that block.c dispatches to. A
 * small block is one system allocation of 16 + capacity bytes (or a block
 * from the thread's cache); a block too large for the cache is a big block
 * (arena/big.c). */
#include "alloc.h"

#include <string.h>

_Static_assert(_Alignof(max_align_t) <= MMI_HEADER_BYTES,
               "the 16-byte header keeps payloads aligned only if max_align_t needs <= 16");

/* The request is valid: a registered category, a size a header and a big
 * block can describe. */
static inline bool alloc_valid(size_t size, int cat) {
    /* the second size test only matters where size_t is narrower than 64 bits */
    /* NOLINTNEXTLINE(misc-redundant-expression) */
    return mmi_cat_valid(cat) && size <= MMI_MAX_REQUEST && size <= SIZE_MAX - 2 * MMI_BIG_SLACK;
}

bool mmi_alloc_check(size_t size, int cat, const mm_context *ctx, const char *fn) {
    if (MMI_LIKELY(alloc_valid(size, cat))) return true;
    if (!mmi_cat_valid(cat)) {
        mmi_error_bad_category(cat, size, ctx, fn);
        return false;
    }
    mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx,
              "request of %zu bytes for category \"%s\" in %s exceeds the largest block "
              "mimicmem can describe (%zu bytes)",
              size, mmi_cat_name(cat), fn, (size_t)MMI_MAX_REQUEST);
    return false;
}

/* A raw process block with room for span bytes from the system: a small
 * system allocation or a big block. Info cleared (small) or set (big). */
static inline mmi_header *alloc_sys(size_t span, int cat, bool zero) {
    if (span <= MMI_CACHE_MAX_REQUEST) return mmi_process_sys_get(mmi_process_capacity(span), zero, cat);
    return mmi_big_alloc(0, span, zero, cat, NULL);
}

/* Seals and counts a new plain process block h of size bytes; h NULL: the
 * system said no, reported to fn. */
static inline void *alloc_done(mmi_thread *t, mmi_header *h, size_t size, int cat,
                               const char *fn) {
    if (MMI_UNLIKELY(h == NULL)) {
        mmi_error_oom(size, cat, NULL, fn);
        return NULL;
    }
    h->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(h);
    mmi_count_alloc(t, cat, size, true);
    t->where = NULL;
    return mmi_payload_of(h);
}

/* A raw process block with room for span bytes: from the cache, a small
 * system allocation, or a big block. Info cleared (small) or set (big). */
static mmi_header *alloc_raw(mmi_thread *t, size_t span, int cat, bool zero, bool *reused) {
    mmi_header *h = mmi_cache_pop(t, span);
    *reused = h != NULL;
    if (h != NULL) {
        h->info = 0;
        if (zero) memset(mmi_payload_of(h), 0, span);
        return h;
    }
    return alloc_sys(span, cat, zero);
}

mmi_header *mmi_process_get(mmi_thread *t, size_t span, int cat, bool zero, const char *fn,
                            bool *reused, mmi_header **bad) {
    *reused = false;
    *bad = NULL;
    mmi_header *h = mmi_cache_pop_checked(t, span, bad);
    if (h != NULL) {
        *reused = true;
        h->info = 0;
        if (zero) memset(mmi_payload_of(h), 0, span);
        return h;
    }
    h = alloc_sys(span, cat, zero);
    if (MMI_UNLIKELY(h == NULL)) mmi_error_oom(span, cat, NULL, fn);
    return h;
}

void mmi_process_release(mmi_header *h) {
    if (h->info & MMI_HF_BIG)
        mmi_big_free(h);
    else
        mmi_process_sys_put(h);
}

void mmi_process_put(mmi_thread *t, mmi_header *h, bool poisoned) {
    if (h->info & MMI_HF_BIG) {
        mmi_big_free(h);
        return;
    }
    size_t span = mmi_hdr_size(h);
    if (poisoned) {
        if (!mmi_cache_push_poisoned(t, h, span)) mmi_process_sys_put(h);
        return;
    }
    mmi_hdr_live_to_freed(h);
    if (!mmi_cache_push(t, h, span)) mmi_process_sys_put(h);
}

/* Everything but the plain path: a thread's first call, diagnostics on,
 * a bad request, a system allocation. */
static MMI_NOINLINE void *alloc_slow(size_t size, int cat, bool zero, const char *fn,
                                     const char *file, int line) {
    mmi_thread *t = mmi_thread_get(fn); /* first: a thread's first call reads the environment */
    if (MMI_UNLIKELY(t == NULL)) return NULL;
    if (MMI_UNLIKELY(mmi_load(&mmi_diag) != 0))
        return mmi_hooks.diag_alloc(NULL, size, cat, zero, fn, file, line);
    if (MMI_UNLIKELY(!mmi_alloc_check(size, cat, NULL, fn))) return NULL;
    bool reused;
    return alloc_done(t, alloc_raw(t, size, cat, zero, &reused), size, cat, fn);
}

/* The plain path's miss: a valid request, no diagnostics, an empty cache
 * bin: straight to the system (the checks are done). */
static MMI_NOINLINE void *alloc_miss(mmi_thread *t, size_t size, int cat, bool zero,
                                     const char *fn) {
    return alloc_done(t, alloc_sys(size, cat, zero), size, cat, fn);
}

/* The rare end of the plain path: a fold due. */
static MMI_NOINLINE void *alloc_settle(mmi_thread *t, mmi_header *h, int cat) {
    mmi_count_settle_alloc(t, cat);
    return mmi_payload_of(h);
}

/* The plain path: a block from the thread's cache (or the system), no
 * diagnostics; no call but tail calls. */
static MMI_INLINE void *alloc_process(size_t size, int cat, bool zero, const char *fn,
                                      const char *file, int line) {
    mmi_thread *t = mmi_tls;
    if (MMI_LIKELY(t != NULL && mmi_load(&mmi_diag) == 0 && alloc_valid(size, cat))) {
        mmi_header *h = mmi_cache_pop(t, size);
        if (MMI_UNLIKELY(h == NULL)) return alloc_miss(t, size, cat, zero, fn);
        if (zero) memset(mmi_payload_of(h), 0, size);
        h->size_cat = mmi_pack_size_cat(size, cat);
        h->info = 0;
        mmi_hdr_seal_live(h);
        unsigned need = mmi_count_alloc_fast(t, cat, size, true);
        t->where = NULL; /* a peak reached now is reached outside contexts */
        if (MMI_UNLIKELY(need != 0)) return alloc_settle(t, h, cat);
        return mmi_payload_of(h);
    }
    return alloc_slow(size, cat, zero, fn, file, line);
}

void *mmi_malloc_as(size_t size, int cat, bool zero, const char *fn, const char *file, int line) {
    return alloc_process(size, cat, zero, fn, file, line);
}

void mmi_process_free_end(mmi_thread *t, mmi_header *h, int cat, size_t size, unsigned need) {
    if (h != NULL) {
        if (h->info & MMI_HF_BIG)
            mmi_big_free(h);
        else
            mmi_process_sys_put(h); /* sealed freed: the cache had no room */
    }
    if (need != 0 && mmi_count_settle_free(t, cat, size))
        mmi_hooks.peak_process(t->where, cat, size, 0, 0);
}

mmi_header *mmi_process_sys_resize(mmi_header *h, size_t span, int cat) {
    uintptr_t old = (uintptr_t)h; /* an address only, once realloc has run */
    bool at_big_offset = ((old & MMI_PAGE_MASK) == MMI_BIG_OFFSET);
    /* out of the set before realloc can hand the old memory to another
     * thread (whose block there registers itself); back in on failure */
    if (at_big_offset) mmi_addrset_remove(MMI_SET_OURS, old);
    mmi_header *n = mmi_sys_realloc(h, MMI_HEADER_BYTES + mmi_process_capacity(span), cat, NULL);
    uintptr_t now = n ? (uintptr_t)n : old;
    if ((now & MMI_PAGE_MASK) == MMI_BIG_OFFSET && !mmi_addrset_add(MMI_SET_OURS, now))
        mmi_log(MM_LOG_WARNING,
                "out of memory registering the block %p: it stays valid, but its free "
                "will be reported as a bad pointer",
                (void *)(now + MMI_HEADER_BYTES));
    return n;
}

void *mmi_process_realloc(mmi_header *h, size_t size, int cat, const char *fn) {
    mmi_thread *t = mmi_thread_get(fn);
    if (t == NULL) return NULL;
    size_t old_size = mmi_hdr_size(h);
    int old_cat = mmi_hdr_cat(h);
    mmi_header *n;
    bool big = (h->info & MMI_HF_BIG) != 0;
    if (big && size > MMI_CACHE_MAX_REQUEST) {
        n = mmi_big_realloc(h, 0, size, cat, NULL);
    } else if (!big && size <= MMI_CACHE_MAX_REQUEST) {
        n = mmi_process_sys_resize(h, size, cat);
    } else { /* between small and big: a new block, a copy */
        bool reused;
        n = alloc_raw(t, size, cat, false, &reused);
        if (n != NULL) {
            memcpy(mmi_payload_of(n), mmi_payload_of(h), old_size < size ? old_size : size);
            mmi_process_release(h);
        }
    }
    if (MMI_UNLIKELY(n == NULL)) {
        mmi_error_oom(size, cat, NULL, fn);
        return NULL;
    }
    n->size_cat = mmi_pack_size_cat(size, cat);
    mmi_hdr_seal_live(n);
    t->where = NULL;
    if (mmi_count_resize(t, old_cat, old_size, cat, size, true))
        mmi_hooks.peak_process(NULL, old_cat, old_size, cat, size);
    return mmi_payload_of(n);
}

/* ---- entry points -------------------------------------------------------- */

void *mm_malloc(size_t size, mm_category cat) {
    return alloc_process(size, cat, false, "mm_malloc", NULL, 0);
}

static bool alloc_mul(size_t n, size_t size, int cat, size_t *out, const char *fn) {
    if (size != 0 && n > SIZE_MAX / size) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, NULL,
                  "%s of %zu x %zu bytes for category \"%s\" overflows size_t", fn, n, size,
                  mmi_cat_name(cat));
        return false;
    }
    *out = n * size;
    return true;
}

void *mm_calloc(size_t n, size_t size, mm_category cat) {
    size_t total = 0;
    if (!alloc_mul(n, size, cat, &total, "mm_calloc")) return NULL;
    return mmi_malloc_as(total, cat, true, "mm_calloc", NULL, 0);
}

char *mm_strdup(const char *s, mm_category cat) {
    if (s == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, cat, NULL, NULL, "mm_strdup: the string is NULL");
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *p = mmi_malloc_as(n, cat, false, "mm_strdup", NULL, 0);
    if (p) memcpy(p, s, n);
    return p;
}

void *mm_malloc_at(size_t size, mm_category cat, const char *file, int line) {
    return mmi_malloc_as(size, cat, false, "mm_malloc", file, line);
}

void *mm_calloc_at(size_t n, size_t size, mm_category cat, const char *file, int line) {
    size_t total = 0;
    if (!alloc_mul(n, size, cat, &total, "mm_calloc")) return NULL;
    return mmi_malloc_as(total, cat, true, "mm_calloc", file, line);
}

char *mm_strdup_at(const char *s, mm_category cat, const char *file, int line) {
    if (s == NULL) return mm_strdup(s, cat);
    size_t n = strlen(s) + 1;
    char *p = mmi_malloc_as(n, cat, false, "mm_strdup", file, line);
    if (p) memcpy(p, s, n);
    return p;
}

/* ---- memory given back ---------------------------------------------------- */

size_t mm_trim(void) {
    mmi_first_use();
    size_t released = mmi_chunk_trim();
    mmi_thread *t = mmi_tls;
    if (t) released += mmi_cache_flush(t);
    return released;
}
