/* workloads_foreign: the forest's runs through mimalloc heaps and talloc
 * (see workloads_foreign.h); each is left out when its library was not
 * found at build time. */
#include "workloads_foreign.h"

#include "bench_util.h"

#ifdef MM_BENCH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#ifdef MM_BENCH_HAVE_TALLOC
#include <talloc.h>
#endif

/* Each allocator's calls for forest_one (workloads.h), scope its heap or
 * talloc context. */
#ifdef MM_BENCH_HAVE_MIMALLOC
static inline void *forest_mi_alloc(void *heap, size_t bytes, mm_category cat)
{
    (void)cat;
    return mi_heap_malloc(heap, bytes);
}

static inline void *forest_mi_grow(void *heap, void *q, size_t bytes)
{
    return mi_heap_realloc(heap, q, bytes);
}

int forest_run_mimalloc(const forest_plan *p)
{
    for (size_t f = 0; f < p->nforests; f++) {
        mi_heap_t *heap = mi_heap_new();
        void **ws;
        size_t n;
        if (heap == NULL ||
            forest_one(p, f, heap, forest_mi_alloc, forest_mi_grow, mi_free, &ws, &n) != 0) {
            return -1;
        }
        mi_heap_destroy(heap);
    }
    return 0;
}
#endif

#ifdef MM_BENCH_HAVE_TALLOC
static inline void *forest_talloc_alloc(void *ctx, size_t bytes, mm_category cat)
{
    (void)cat;
    return talloc_size(ctx, bytes);
}

static inline void *forest_talloc_grow(void *ctx, void *q, size_t bytes)
{
    return talloc_realloc_size(ctx, q, bytes);
}

static inline void forest_talloc_release(void *q)
{
    talloc_free(q);
}

int forest_run_talloc(const forest_plan *p)
{
    for (size_t f = 0; f < p->nforests; f++) {
        void *fctx = talloc_new(NULL);
        void **ws;
        size_t n;
        if (fctx == NULL || forest_one(p, f, fctx, forest_talloc_alloc, forest_talloc_grow,
                                       forest_talloc_release, &ws, &n) != 0) {
            return -1;
        }
        talloc_free(fctx);
    }
    return 0;
}
#endif
