/* malloc/calloc/realloc/free for process-wide blocks, and the dispatch to
 * context.c for context blocks: the hot path and nothing else. A process-wide
 * block is one system allocation of 16 + size bytes with the header in front. */
#include "internal.h"

#include <string.h>

_Static_assert(_Alignof(max_align_t) <= MMI_HEADER_BYTES,
               "the 16-byte header keeps payloads aligned only if max_align_t needs <= 16");

/* Validates cat and size for an allocation of size bytes; reports and returns
 * false on error. */
static inline bool alloc_check(size_t size, int cat, const mm_context *ctx, const char *fn) {
    if (MMI_UNLIKELY(!mmi_cat_valid(cat))) {
        mmi_error_bad_category(cat, size, ctx, fn);
        return false;
    }
    /* the second test only matters where size_t is narrower than 64 bits */
    /* NOLINTNEXTLINE(misc-redundant-expression) */
    if (MMI_UNLIKELY(size > MMI_MAX_REQUEST || size > SIZE_MAX - 128)) {
        mmi_error(MM_ERR_SIZE_OVERFLOW, size, cat, NULL, ctx,
                  "request of %zu bytes for category \"%s\" in %s exceeds the largest block "
                  "mimicmem can describe (%zu bytes)",
                  size, mmi_cat_name(cat), fn, (size_t)MMI_MAX_REQUEST);
        return false;
    }
    return true;
}

bool mmi_alloc_check(size_t size, int cat, const mm_context *ctx, const char *fn) {
    return alloc_check(size, cat, ctx, fn);
}

/* True when a checking mode, sites, a trace or a limit is on: the decorated
 * paths of check.c take over. One relaxed load. */
static inline bool alloc_diag(void) {
    return MMI_UNLIKELY(mmi_load(&mmi_diag) != 0);
}

/* True when sites are recorded (the _at paths). */
static inline bool alloc_sites(void) {
    (void)mmi_thread_get(); /* a thread's first call reads the environment */
    return MMI_UNLIKELY(mmi_load(&mmi_diag) & MMI_DIAG_SITES);
}

mmi_header *mmi_process_get(mmi_thread *t, size_t span, int cat, bool zero, const char *fn,
                            bool *reused) {
    mmi_header *h = mmi_cache_pop(t, span);
    *reused = h != NULL;
    if (h != NULL) {
        if (zero) memset(mmi_payload_of(h), 0, span);
        return h;
    }
    size_t bytes = MMI_HEADER_BYTES + mmi_process_capacity(span);
    h = zero ? mmi_sys_calloc(bytes, cat, NULL) : mmi_sys_malloc(bytes, cat, NULL);
    if (MMI_UNLIKELY(h == NULL)) mmi_error_oom(span, cat, NULL, fn);
    return h;
}

void mmi_process_put(mmi_thread *t, mmi_header *h, bool poisoned) {
    h->seal ^= MMI_SEAL_LIVE ^ (poisoned ? MMI_SEAL_POISONED : MMI_SEAL_FREED);
    if (!mmi_cache_push(t, h, mmi_hdr_size(h))) mmi_sys_free(h);
}

static void *alloc_process(size_t size, int cat, bool zero, const char *fn) {
    mmi_thread *t = mmi_thread_get(); /* first: a thread's first call reads the environment */
    if (alloc_diag()) return mmi_diag_alloc(NULL, size, cat, zero, fn, NULL, 0);
    if (!alloc_check(size, cat, NULL, fn)) return NULL;
    mmi_header *h = mmi_cache_pop(t, size);
    if (h != NULL) {
        if (zero) memset(mmi_payload_of(h), 0, size);
    } else {
        size_t bytes = MMI_HEADER_BYTES + mmi_process_capacity(size);
        h = zero ? mmi_sys_calloc(bytes, cat, NULL) : mmi_sys_malloc(bytes, cat, NULL);
        if (MMI_UNLIKELY(h == NULL)) {
            mmi_error_oom(size, cat, NULL, fn);
            return NULL;
        }
    }
    h->size_cat = mmi_pack_size_cat(size, cat);
    h->info = 0;
    mmi_hdr_seal_live(h);
    if (mmi_count_alloc(t, cat, size)) mmi_peak_process(NULL);
    return mmi_payload_of(h);
}

void *mm_malloc(size_t size, mm_category cat) {
    return alloc_process(size, cat, false, "mm_malloc");
}

void *mmi_malloc_as(size_t size, int cat, const char *fn, const char *file, int line) {
    if (file != NULL && alloc_sites())
        return mmi_diag_alloc(NULL, size, cat, false, fn, file, line);
    return alloc_process(size, cat, false, fn);
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
    return alloc_process(total, cat, true, "mm_calloc");
}

static char *alloc_strdup(mm_context *ctx, const char *s, int cat, const char *fn) {
    if (s == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, cat, NULL, ctx, "%s: string is NULL", fn);
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *p = ctx ? mmi_context_alloc(ctx, n, cat, false, fn) : alloc_process(n, cat, false, fn);
    if (p) memcpy(p, s, n);
    return p;
}

char *mm_strdup(const char *s, mm_category cat) {
    return alloc_strdup(NULL, s, cat, "mm_strdup");
}

/* Returns the header of a live block p, or NULL after reporting the error. */
static inline mmi_header *alloc_live_header(const void *p, const char *fn) {
    if (MMI_UNLIKELY((uintptr_t)p % MMI_HEADER_BYTES != 0)) { /* never one of ours */
        mmi_error_pointer(p, MMI_HDR_BAD, "it is not 16-byte aligned", fn);
        return NULL;
    }
    mmi_header *h = mmi_hdr_of(p);
    mmi_hdr_state st = mmi_hdr_check(h);
    if (MMI_UNLIKELY(st != MMI_HDR_LIVE)) {
        mmi_error_pointer(p, st, NULL, fn);
        return NULL;
    }
    return h;
}

static inline void alloc_free(void *p, const char *fn) {
    if (p == NULL) return;
    mmi_header *h = alloc_live_header(p, fn);
    if (h == NULL) return;
    if (h->info != 0) { /* a context block, or a decorated one */
        /* Only a decorated block needs check.c: a plain block has no guard,
         * site or trace id and no fill to receive, whatever the modes are now. */
        if (MMI_UNLIKELY(h->info & MMI_HF_DECOR))
            mmi_diag_free(h, fn);
        else
            mmi_context_free(h, fn);
        return;
    }
    size_t size = mmi_hdr_size(h);
    int cat = mmi_hdr_cat(h);
    mmi_hdr_live_to_freed(h);
    mmi_thread *t = mmi_thread_get();
    mmi_count_free(t, cat, size);
    if (!mmi_cache_push(t, h, size)) mmi_sys_free(h);
}

void mm_free(void *p) {
    alloc_free(p, "mm_free");
}

void mmi_free_as(void *p, const char *fn) {
    alloc_free(p, fn);
}

static void *alloc_realloc(void *p, size_t size, int cat, bool keep_cat, const char *fn,
                           const char *file, int line) {
    if (p == NULL) {
        if (keep_cat) cat = MM_CAT_UNKNOWN;
        if (file != NULL && alloc_sites())
            return mmi_diag_alloc(NULL, size, cat, false, fn, file, line);
        return alloc_process(size, cat, false, fn);
    }
    mmi_header *h = alloc_live_header(p, fn);
    if (h == NULL) return NULL;
    int old_cat = mmi_hdr_cat(h);
    if (keep_cat) cat = old_cat;
    if (!alloc_check(size, cat, NULL, fn)) return NULL;
    if (MMI_UNLIKELY(h->info & MMI_HF_DECOR) || alloc_diag())
        return mmi_diag_realloc(h, size, cat, fn, file, line);
    if (h->info & MMI_HF_CONTEXT) return mmi_context_realloc(h, size, cat, fn);

    size_t old_size = mmi_hdr_size(h);
    mmi_header *n = mmi_sys_realloc(h, MMI_HEADER_BYTES + mmi_process_capacity(size), cat, NULL);
    if (MMI_UNLIKELY(n == NULL)) {
        mmi_error_oom(size, cat, NULL, fn);
        return NULL;
    }
    n->size_cat = mmi_pack_size_cat(size, cat);
    n->info = 0;
    mmi_hdr_seal_live(n);
    mmi_count_resize(mmi_thread_get(), old_cat, old_size, cat, size, NULL);
    return mmi_payload_of(n);
}

void *mm_realloc(void *p, size_t size) {
    return alloc_realloc(p, size, MM_CAT_UNKNOWN, true, "mm_realloc", NULL, 0);
}

void *mm_realloc_cat(void *p, size_t size, mm_category cat) {
    return alloc_realloc(p, size, cat, false, "mm_realloc_cat", NULL, 0);
}

void *mmi_realloc_as(void *p, size_t size, int cat, bool keep_cat, const char *fn,
                     const char *file, int line) {
    return alloc_realloc(p, size, cat, keep_cat, fn, file, line);
}

int mm_validate(const void *p) {
    if (p == NULL || (uintptr_t)p % MMI_HEADER_BYTES != 0) return 0;
    const mmi_header *h = mmi_hdr_of(p);
    if (mmi_hdr_check(h) != MMI_HDR_LIVE) return 0;
    if (!mmi_cat_valid(mmi_hdr_cat(h))) return 0;
    if ((h->info & MMI_HF_GUARD) && !mmi_guard_intact(h)) return 0;
    if (h->info & MMI_HF_CONTEXT) {
        const char *why;
        return mmi_context_chunk_of(h, &why) != NULL;
    }
    return (h->info & ~MMI_HF_DECOR) == 0;
}

/* Header of a live block for the query functions, or NULL after an error. */
static const mmi_header *alloc_query(const void *p, const char *fn) {
    if (p == NULL) {
        mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, NULL, NULL, "NULL passed to %s", fn);
        return NULL;
    }
    const mmi_header *h = alloc_live_header(p, fn);
    if (h && (h->info & MMI_HF_CONTEXT)) {
        const char *why = NULL;
        if (mmi_context_chunk_of(h, &why) == NULL) {
            mmi_error_pointer(p, MMI_HDR_LIVE, why, fn);
            return NULL;
        }
    }
    return h;
}

size_t mm_block_size(const void *p) {
    const mmi_header *h = alloc_query(p, "mm_block_size");
    return h ? mmi_hdr_size(h) : 0;
}

mm_category mm_block_category(const void *p) {
    const mmi_header *h = alloc_query(p, "mm_block_category");
    return h ? mmi_hdr_cat(h) : MM_CAT_INVALID;
}

mm_context *mm_block_context(const void *p) {
    const mmi_header *h = alloc_query(p, "mm_block_context");
    if (h == NULL || !(h->info & MMI_HF_CONTEXT)) return NULL;
    const char *why;
    return mmi_context_chunk_of(h, &why)->ctx;
}

/* ---- call-site variants (see the Allocation sites group) ---------------- */

void *mm_malloc_at(size_t size, mm_category cat, const char *file, int line) {
    if (alloc_sites()) return mmi_diag_alloc(NULL, size, cat, false, "mm_malloc", file, line);
    return alloc_process(size, cat, false, "mm_malloc");
}

void *mm_calloc_at(size_t n, size_t size, mm_category cat, const char *file, int line) {
    size_t total = 0;
    if (!alloc_mul(n, size, cat, &total, "mm_calloc")) return NULL;
    if (alloc_sites()) return mmi_diag_alloc(NULL, total, cat, true, "mm_calloc", file, line);
    return alloc_process(total, cat, true, "mm_calloc");
}

void *mm_realloc_at(void *p, size_t size, const char *file, int line) {
    return alloc_realloc(p, size, MM_CAT_UNKNOWN, true, "mm_realloc", file, line);
}

void *mm_realloc_cat_at(void *p, size_t size, mm_category cat, const char *file, int line) {
    return alloc_realloc(p, size, cat, false, "mm_realloc_cat", file, line);
}

char *mm_strdup_at(const char *s, mm_category cat, const char *file, int line) {
    if (!alloc_sites() || s == NULL) return mm_strdup(s, cat);
    size_t n = strlen(s) + 1;
    char *p = mmi_diag_alloc(NULL, n, cat, false, "mm_strdup", file, line);
    if (p) memcpy(p, s, n);
    return p;
}

void *mm_context_malloc_at(mm_context *ctx, size_t size, mm_category cat, const char *file,
                           int line) {
    if (!alloc_sites() || !mmi_ctx_alive(ctx)) return mm_context_malloc(ctx, size, cat);
    return mmi_diag_alloc(ctx, size, cat, false, "mm_context_malloc", file, line);
}

void *mm_context_calloc_at(mm_context *ctx, size_t n, size_t size, mm_category cat,
                           const char *file, int line) {
    if (!alloc_sites() || !mmi_ctx_alive(ctx)) return mm_context_calloc(ctx, n, size, cat);
    size_t total = 0;
    if (!alloc_mul(n, size, cat, &total, "mm_context_calloc")) return NULL;
    return mmi_diag_alloc(ctx, total, cat, true, "mm_context_calloc", file, line);
}

char *mm_context_strdup_at(mm_context *ctx, const char *s, mm_category cat, const char *file,
                           int line) {
    if (!alloc_sites() || !mmi_ctx_alive(ctx) || s == NULL) return mm_context_strdup(ctx, s, cat);
    size_t n = strlen(s) + 1;
    char *p = mmi_diag_alloc(ctx, n, cat, false, "mm_context_strdup", file, line);
    if (p) memcpy(p, s, n);
    return p;
}

/* ---- context entry points that share the checks above ------------------ */

void *mmi_context_malloc_slow(mm_context *ctx, size_t size, int cat) {
    if (ctx == NULL) return alloc_process(size, cat, false, "mm_context_malloc");
    if (!alloc_check(size, cat, ctx, "mm_context_malloc")) return NULL;
    return mmi_context_alloc(ctx, size, cat, false, "mm_context_malloc");
}

void *mm_context_calloc(mm_context *ctx, size_t n, size_t size, mm_category cat) {
    size_t total = 0;
    if (!alloc_mul(n, size, cat, &total, "mm_context_calloc")) return NULL;
    if (ctx == NULL) return alloc_process(total, cat, true, "mm_context_calloc");
    if (!alloc_check(total, cat, ctx, "mm_context_calloc")) return NULL;
    return mmi_context_alloc(ctx, total, cat, true, "mm_context_calloc");
}

char *mm_context_strdup(mm_context *ctx, const char *s, mm_category cat) {
    if (ctx && !alloc_check(0, cat, ctx, "mm_context_strdup")) return NULL;
    return alloc_strdup(ctx, s, cat, "mm_context_strdup");
}
