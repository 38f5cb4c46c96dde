/* Declarations shared between the files of src/ (prefix mmi_). Nothing here is
 * public. The hot-path counter updates are inline here so that alloc.c and
 * context.c share one definition. */
#ifndef MMI_INTERNAL_H
#define MMI_INTERNAL_H

#include "mimicmem.h"
#include "header.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define MMI_LIKELY(x)    __builtin_expect(!!(x), 1)
#define MMI_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define MMI_NOINLINE     __attribute__((noinline))
#define MMI_COLD         __attribute__((cold, noinline))
#define MMI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MMI_TLS_MODEL    __attribute__((tls_model("initial-exec")))
#else
#define MMI_LIKELY(x)   (x)
#define MMI_UNLIKELY(x) (x)
#define MMI_NOINLINE
#define MMI_COLD
#define MMI_PRINTF(f, a)
#define MMI_TLS_MODEL
#endif

#define MMI_RELAXED     memory_order_relaxed
#define mmi_load(p)     atomic_load_explicit((p), MMI_RELAXED)
#define mmi_store(p, v) atomic_store_explicit((p), (v), MMI_RELAXED)

/* ======================================================================
 * Categories (category.c)
 * ==================================================================== */

/* Number of registered categories; ids below it are valid. Release-stored
 * after the entry is written, so a reader that sees id < count sees its name. */
extern _Atomic int mmi_ncat;

static inline bool mmi_cat_valid(int c) {
    return (unsigned)c < (unsigned)atomic_load_explicit(&mmi_ncat, memory_order_acquire);
}

/* Index of category c's group in registration order of groups (Core = 0). */
int mmi_category_group_index(int c);
const char *mmi_group_name(int g);
int mmi_group_count(void);
/* Name of c without error checking ("?" for an invalid id). */
const char *mmi_cat_name(int c);

/* ======================================================================
 * Size classes: 16, 32, 48, 64 bytes, then four per doubling
 * (80, 96, 112, 128, 160, ...): at most 25% rounding above 64 bytes.
 * ==================================================================== */

static inline unsigned mmi_msb(size_t x) { /* x > 0 */
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll((unsigned long long)x);
#else
    unsigned r = 0;
    while (x >>= 1) r++;
    return r;
#endif
}

/* Smallest class that holds n bytes. */
static inline unsigned mmi_size_class(size_t n) {
    if (n <= 64) return n == 0 ? 0 : (unsigned)((n - 1) >> 4);
    unsigned msb = mmi_msb(n - 1);
    return 4 + (msb - 6) * 4 + (unsigned)(((n - 1) >> (msb - 2)) & 3);
}

static inline size_t mmi_class_bytes(unsigned k) {
    if (k < 4) return (size_t)(k + 1) * 16;
    unsigned msb = (k - 4) / 4 + 6, q = (k - 4) % 4;
    return (size_t)(5 + q) << (msb - 2);
}

/* ======================================================================
 * Per-thread cache of freed process-wide blocks (cache.c)
 *
 * A free of a process-wide block of up to 32 KiB parks it in the freeing
 * thread's cache; an allocation that fits takes it back, LIFO. Up to 4,104
 * bytes a process block is given a capacity of 16k+8 bytes (8, 24, 40, ...,
 * 104, 120, ...), which with the 16-byte header is exactly what glibc's
 * 16-byte granularity would hand out anyway, so bins are exact: bin = capacity
 * / 16. Above that, bins are the size classes (four per doubling), a block
 * going to the largest class it holds. Blocks are linked through their
 * payload; the cache is bounded in bytes per thread.
 * ==================================================================== */

#define MMI_CACHE_EXACT_MAX     ((size_t)4104) /* exact bins up to here */
#define MMI_CACHE_MAX_REQUEST   ((size_t)32768)
#define MMI_CACHE_BIG0          mmi_size_class(4096) /* class matching bin 256 */
#define MMI_CACHE_BINS          (257 + 12)           /* 0..256 exact, 12 classes above */
#define MMI_DEFAULT_CACHE_BYTES ((size_t)4 << 20)    /* per thread */

typedef struct {
    size_t bytes;                     /* capacity of the cached blocks, summed */
    mmi_header *head[MMI_CACHE_BINS]; /* freed-sealed blocks, linked via payload */
} mmi_cache;

/* bytes a thread may cache; 0 turns the cache off (option "cache") */
extern _Atomic size_t mmi_cache_limit;

/* Payload bytes given to a process block of n requested bytes. */
static inline size_t mmi_process_capacity(size_t n) {
    return n <= MMI_CACHE_EXACT_MAX ? ((n + 7) & ~(size_t)15) + 8 : n;
}

/* Bin to take a block of n requested bytes from (n <= MMI_CACHE_MAX_REQUEST). */
static inline unsigned mmi_cache_bin_fit(size_t n) {
    if (n <= MMI_CACHE_EXACT_MAX) return (unsigned)(mmi_process_capacity(n) >> 4);
    return 256 + mmi_size_class(n) - MMI_CACHE_BIG0;
}

/* Bin to park a block of n requested bytes in (n <= MMI_CACHE_MAX_REQUEST). */
static inline unsigned mmi_cache_bin_held(size_t n) {
    if (n <= MMI_CACHE_EXACT_MAX) return (unsigned)(mmi_process_capacity(n) >> 4);
    unsigned k = mmi_size_class(n);
    if (mmi_class_bytes(k) > n) k--;
    return 256 + k - MMI_CACHE_BIG0;
}

/* ======================================================================
 * Process statistics (stats.c)
 *
 * Each thread counts into its own mmi_thread (one writer: the thread; readers:
 * anyone summing under stats_lock (stats.c), with relaxed atomics). Every 64 KiB of
 * net change per figure, a thread folds its pending bytes into the global
 * `flushed` sum, so `flushed + own pending` is the process figure as this
 * thread sees it; its maximum is the thread's peak estimate. See design.md.
 * ==================================================================== */

#define MMI_BATCH ((int64_t)64 * 1024)

typedef struct {
    _Atomic int64_t bytes;   /* net requested bytes added by this thread (may be < 0) */
    _Atomic uint64_t allocs; /* allocations made by this thread */
    _Atomic uint64_t frees;  /* frees made by this thread (reset/destroy included) */
    _Atomic int64_t moved;   /* blocks moved in minus moved out (realloc_cat); live
                                blocks = allocs - frees + moved */
    int64_t flushed;         /* part of bytes already added to the global sum; owner only */
    int64_t g_seen;          /* the global sum when this thread last read it; owner only */
    _Atomic int64_t peak;    /* largest process-wide estimate seen by this thread */
} mmi_tcount;

typedef struct {
    /* aligned: each figure on a cache line of its own, so threads flushing
     * different figures never share a line */
    _Alignas(64) _Atomic int64_t flushed; /* sum of all threads' flushed bytes */
    _Atomic int64_t peak;                 /* max of thread peaks folded in at flush and retire */
    int64_t bytes, blocks;                /* retired threads' net figures; under stats_lock (stats.c) */
    uint64_t allocs, frees;               /* retired threads' counts; under stats_lock (stats.c) */
} mmi_gcount;

typedef struct mmi_thread {
    mmi_cache cache;                 /* freed process-wide blocks for reuse */
    mmi_tcount total;                /* all categories: bytes and peak only */
    mmi_tcount cat[MM_CATEGORY_MAX]; /* per category id */
    struct mmi_thread *next, *prev;  /* registry list; under stats_lock (stats.c) */
} mmi_thread;

extern mmi_gcount mmi_g_total;
extern mmi_gcount mmi_g_cat[MM_CATEGORY_MAX];
extern _Thread_local mmi_thread *mmi_tls MMI_TLS_MODEL;

mmi_thread *mmi_thread_create(void);
/* Folds c's pending bytes into g; returns the new peak estimate if it moved
 * the thread's peak, else 0. */
int64_t mmi_tcount_flush(mmi_tcount *c, mmi_gcount *g);

/* ======================================================================
 * Peak composition (peak.c)
 * ==================================================================== */

/* Process estimate at which the next composition is recorded (recorded
 * total + step); read only when a thread's peak estimate moves. */
extern _Atomic int64_t mmi_peak_next;
extern _Atomic size_t mmi_peak_step; /* option "peak_step", bytes >= 1 */
/* Records the process composition if the calling thread's estimate passed
 * mmi_peak_next, reached by an allocation in ctx (NULL: process-wide). */
MMI_COLD void mmi_peak_process(const mm_context *ctx);

static inline mmi_thread *mmi_thread_get(void) {
    mmi_thread *t = mmi_tls;
    if (MMI_UNLIKELY(t == NULL)) t = mmi_thread_create();
    return t;
}

/* Adds bytes to one figure of the calling thread and keeps its peak estimate
 * (the global flushed sum plus what this thread has not flushed yet).
 * Returns the new peak estimate when it moved, else 0. */
static inline int64_t mmi_tcount_grow(mmi_tcount *c, mmi_gcount *g, int64_t bytes) {
    int64_t b = mmi_load(&c->bytes) + bytes;
    mmi_store(&c->bytes, b);
    int64_t pending = b - c->flushed;
    if (MMI_UNLIKELY(pending >= MMI_BATCH))
        return mmi_tcount_flush(c, g); /* reads the global sum and keeps the peak */
    /* Only a possible new peak reads the shared sum: the common case touches
     * no cache line another thread writes. */
    if (MMI_UNLIKELY(c->g_seen + pending > mmi_load(&c->peak))) {
        c->g_seen = mmi_load(&g->flushed);
        int64_t est = c->g_seen + pending;
        if (est > mmi_load(&c->peak)) {
            mmi_store(&c->peak, est);
            return est;
        }
    }
    return 0;
}

/* Grows the process total; true when its peak estimate passed the next
 * composition mark (the caller then calls mmi_peak_process last, so the hot
 * path itself makes no call there). */
static inline bool mmi_total_grow(mmi_thread *t, int64_t bytes) {
    int64_t est = mmi_tcount_grow(&t->total, &mmi_g_total, bytes);
    return MMI_UNLIKELY(est != 0) && est >= mmi_load(&mmi_peak_next);
}

/* Takes bytes off one figure; a shrinking figure cannot make a peak. */
static inline void mmi_tcount_shrink(mmi_tcount *c, mmi_gcount *g, int64_t bytes) {
    int64_t b = mmi_load(&c->bytes) - bytes;
    mmi_store(&c->bytes, b);
    if (MMI_UNLIKELY(b - c->flushed <= -MMI_BATCH)) mmi_tcount_flush(c, g);
}

/* Counts an allocation; true when a process peak composition is due (see
 * mmi_total_grow). */
static inline bool mmi_count_alloc(mmi_thread *t, int cat, size_t bytes) {
    mmi_tcount *c = &t->cat[cat];
    mmi_store(&c->allocs, mmi_load(&c->allocs) + 1);
    mmi_tcount_grow(c, &mmi_g_cat[cat], (int64_t)bytes);
    return mmi_total_grow(t, (int64_t)bytes);
}

static inline void mmi_count_free(mmi_thread *t, int cat, size_t bytes) {
    mmi_tcount *c = &t->cat[cat];
    mmi_store(&c->frees, mmi_load(&c->frees) + 1);
    mmi_tcount_shrink(c, &mmi_g_cat[cat], (int64_t)bytes);
    mmi_tcount_shrink(&t->total, &mmi_g_total, (int64_t)bytes);
}

/* A cached block that holds size bytes, or NULL. */
static inline mmi_header *mmi_cache_pop(mmi_thread *t, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return NULL;
    unsigned bin = mmi_cache_bin_fit(size);
    mmi_header *h = t->cache.head[bin];
    if (h == NULL) return NULL;
    t->cache.head[bin] = *(mmi_header **)mmi_payload_of(h);
    t->cache.bytes -= mmi_process_capacity(mmi_hdr_size(h));
    return h;
}

/* Parks a freed block that holds size bytes; false when it does not fit. */
static inline bool mmi_cache_push(mmi_thread *t, mmi_header *h, size_t size) {
    if (size > MMI_CACHE_MAX_REQUEST) return false;
    unsigned bin = mmi_cache_bin_held(size);
    size_t bytes = mmi_process_capacity(size);
    if (t->cache.bytes + bytes > mmi_load(&mmi_cache_limit)) return false;
    t->cache.bytes += bytes;
    *(mmi_header **)mmi_payload_of(h) = t->cache.head[bin];
    t->cache.head[bin] = h;
    return true;
}

/* Returns every cached block to the system (thread exit, cleanup). */
void mmi_cache_flush(mmi_thread *t);

/* A block of old_bytes in old_cat became new_bytes in new_cat (realloc) in
 * ctx (NULL: process-wide). */
void mmi_count_resize(mmi_thread *t, int old_cat, size_t old_bytes, int new_cat, size_t new_bytes,
                      const mm_context *ctx);

/* Many blocks of one category released at once (reset/destroy). */
void mmi_count_release(mmi_thread *t, int cat, size_t bytes, size_t blocks);

/* The calling thread's estimate of the process peak (no lock; exact while one
 * thread allocates, see design.md). For cheap threshold checks. */
static inline size_t mmi_process_peak_hint(void) {
    int64_t p = mmi_load(&mmi_thread_get()->total.peak);
    return p > 0 ? (size_t)p : 0;
}

/* Process-wide figures summed over all threads (takes stats_lock in stats.c). */
mm_stats mmi_process_stats(int cat); /* cat < 0: all categories */
/* Live bytes of categories 0..ncat-1 summed over all threads into out. */
void mmi_process_cat_bytes(size_t *out, int ncat);
/* The calling thread's view of live process bytes (of cat; cat < 0: all). */
int64_t mmi_process_bytes_view(mmi_thread *t, int cat);

/* Allocation entry points that name their caller in error messages (alloc.c;
 * the legacy layer passes "mymalloc", "myfree", ...). keep_cat: realloc keeps
 * the block's category (p NULL: allocate in Unknown). file and line: the call
 * site (NULL: none), recorded while sites are on. */
void *mmi_malloc_as(size_t size, int cat, const char *fn, const char *file, int line);
void *mmi_realloc_as(void *p, size_t size, int cat, bool keep_cat, const char *fn,
                     const char *file, int line);
void mmi_free_as(void *p, const char *fn);

/* ======================================================================
 * Contexts (context.c, epoch.c)
 * ==================================================================== */

/* Exact counters of one context; touched only by the thread owning it.
 * Live blocks are allocs - frees + moved (moved only changes per category). */
typedef struct {
    size_t bytes;             /* live requested bytes */
    size_t peak;              /* high-water mark of bytes in the current epoch */
    uint64_t allocs;          /* cumulative allocations */
    uint64_t frees;           /* cumulative frees, reset/destroy included */
    int64_t moved;            /* blocks moved in minus moved out (realloc_cat) */
    size_t peak_closed;       /* high-water mark over the closed epochs */
    uint64_t allocs_at_epoch; /* allocs when the current epoch began */
    uint64_t frees_at_epoch;  /* frees when the current epoch began */
} mmi_ccount;

static inline size_t mmi_ccount_blocks(const mmi_ccount *c) {
    return (size_t)((int64_t)(c->allocs - c->frees) + c->moved);
}

/* Per-category figures of one context. */
typedef struct {
    mmi_ccount tree;              /* the context and its descendants */
    size_t comp_bytes;            /* bytes at the recorded peak composition (peak.c) */
    size_t limit_bytes;           /* limit on tree.bytes; 0: none (limit.c) */
    int limit_warned;             /* the soft-threshold warning was logged */
    size_t reclaimed_bytes;       /* found live by resets, cumulative */
    size_t reclaimed_blocks;      /* found live by resets, cumulative */
    size_t last_reclaimed_bytes;  /* found live by the last reset */
    size_t last_reclaimed_blocks; /* found live by the last reset */
} mmi_ccat;

typedef struct mmi_chunk mmi_chunk;
typedef struct mmi_epochs mmi_epochs;

#define MMI_NCLASSES  52                   /* size classes 16 B .. 256 KiB (mmi_size_class) */
#define MMI_SMALL_MAX ((size_t)256 * 1024) /* larger blocks: allocations of their own */

struct mm_context {
    uint32_t magic;               /* MMI_CTX_ALIVE, MMI_CTX_DEAD after destroy */
    int ncap;                     /* entries in cats */
    int ncounted;                 /* ids below this are registered and in cats (fast check) */
    mmi_ccat *cats;               /* [ncap] per-category figures */
    mm_context *parent;           /* NULL for a top-level context */
    mm_context *first_child;      /* children, newest first */
    mm_context *next_sibling;     /* next child of parent */
    mm_context *prev_sibling;     /* previous child of parent */
    mmi_ccount tree;              /* all categories, with descendants */
    size_t self_bytes;            /* own blocks only: live requested bytes */
    size_t self_peak;             /* own blocks only: all-time high-water mark */
    uint64_t gone_allocs;         /* allocs of destroyed children, kept in tree.allocs */
    uint64_t gone_frees;          /* frees of destroyed children, kept in tree.frees */
    mmi_chunk *chunks;            /* small-block chunks in use; the first one is current */
    mmi_chunk *spare;             /* chunks kept for the next epoch */
    mmi_chunk *large;             /* own-allocation blocks (> MMI_SMALL_MAX), doubly linked */
    char *bump;                   /* next free byte of the current chunk */
    char *bump_end;               /* end of the current chunk */
    size_t chunk_bytes;           /* bytes of all small chunks held (in use + spare) */
    size_t next_chunk_bytes;      /* size of the next chunk to get from the system */
    size_t retain_bytes;          /* cap on chunk bytes kept across resets (SIZE_MAX: all) */
    void *freelist[MMI_NCLASSES]; /* freed small blocks by size class (payload-linked) */
    mmi_epochs *epochs;           /* epoch statistics (epoch.c) */
    int warn_reclaimed;           /* log a warning per category left to reset */
    size_t tail_blocks;           /* own live blocks with a tail record (check.c) */
    size_t limit_bytes;           /* limit on tree.bytes; 0: none (limit.c) */
    int limit_warned;             /* the soft-threshold warning was logged */
    size_t comp_bytes;            /* tree.bytes at the recorded peak composition (peak.c) */
    size_t comp_next;             /* tree.bytes that records the next composition */
    uint64_t comp_epoch;          /* epoch index in force at the recorded composition */
    char comp_where[MM_NAME_MAX + 1]; /* context allocated in at the recorded composition */
    char comp_label[MM_NAME_MAX + 1]; /* epoch label in force there ("" none) */
    char name[MM_NAME_MAX + 1];   /* copied at create */
    char label[MM_NAME_MAX + 1];  /* current epoch's label */
};

#define MMI_CTX_ALIVE 0x6D6D4358u /* "mmCX" */
#define MMI_CTX_DEAD  0x6D6D4444u /* "mmDD" */

/* A chunk or a large block, found from a block header by its distance. */
struct mmi_chunk {
    uint32_t magic;  /* MMI_CHUNK_MAGIC ^ address bits */
    uint32_t kind;   /* MMI_CHUNK_SMALL or MMI_CHUNK_LARGE */
    mm_context *ctx; /* owner; NULL when cached after its context died */
    mmi_chunk *next; /* list link (ctx->chunks / spare / large, or cache) */
    mmi_chunk *prev; /* large blocks only: back link */
    char *limit;     /* small: first byte past the carved part (blocks below are
                        or were live); reset sets it back to the start */
    size_t bytes;    /* bytes of this chunk, header included */
    uint64_t pad[2]; /* keeps the payload 16-aligned (sizeof = 64) */
};

#define MMI_CHUNK_SMALL 1u
#define MMI_CHUNK_LARGE 2u
#define MMI_CHUNK_MAGIC 0x6D6D4348u /* "mmCH" */

static inline uint32_t mmi_chunk_magic(const mmi_chunk *ch) {
    return MMI_CHUNK_MAGIC ^ (uint32_t)((uintptr_t)ch >> 6);
}

static inline bool mmi_ctx_alive(const mm_context *ctx) {
    return ctx != NULL && ctx->magic == MMI_CTX_ALIVE;
}

void *mmi_context_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn);
/* mm_context_malloc beyond its fast path (alloc.c): checks, errors, refills. */
void *mmi_context_malloc_slow(mm_context *ctx, size_t size, int cat);
void mmi_context_free(mmi_header *h, const char *fn);
void *mmi_context_realloc(mmi_header *h, size_t size, int cat, const char *fn);
/* The chunk of a context block, or NULL (with *why set) when it is not one
 * that belongs to a live context and lies below the carved limit. */
mmi_chunk *mmi_context_chunk_of(const mmi_header *h, const char **why);
/* Visits the live top-level contexts under the registry lock. */
void mmi_contexts_foreach(void (*fn)(const mm_context *ctx, void *arg), void *arg);
mm_stats mmi_ccount_stats(const mmi_ccount *c);
/* ctx without its descendants (destroyed children's counts stay in ctx's). */
mm_stats mmi_context_self_stats(const mm_context *ctx);

/* Raw pieces of the context paths for check.c: a block with room for span
 * bytes (header info set; NULL after an error; *reused says it came from a
 * free list), a block given back (h sealed live; poisoned: reseal as
 * poisoned, payload already filled), and the context-side counting. */
mmi_header *mmi_context_get(mm_context *ctx, size_t span, int cat, bool zero, const char *fn,
                            bool *reused);
void mmi_context_put(mmi_chunk *ch, mmi_header *h, bool poisoned);
bool mmi_context_cats(mm_context *ctx, int cat, const char *fn); /* ctx can count cat */
void mmi_context_count_alloc(mm_context *ctx, int cat, size_t bytes);
void mmi_context_count_free(mm_context *ctx, int cat, size_t bytes);
void mmi_context_count_resize(mm_context *ctx, int old_cat, size_t old_bytes, int new_cat,
                              size_t new_bytes);

/* Visits every carved slot of ctx's own chunks and large blocks (not its
 * descendants'): kind says whether h is a block (st: its state), a place whose
 * header is damaged (the walk resynchronises 16 bytes at a time on the next
 * header that names its own position), or a damaged chunk header (h is then
 * the chunk's first slot; the rest of that list is not walked). */
typedef enum { MMI_SLOT_BLOCK, MMI_SLOT_BAD_HEADER, MMI_SLOT_BAD_CHUNK } mmi_slot_kind;
typedef void (*mmi_slot_fn)(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg);
void mmi_context_walk(const mm_context *ctx, mmi_slot_fn fn, void *arg);

/* epoch.c */
uint64_t mmi_epochs_count(const mmi_epochs *e); /* closed epochs */
mmi_epochs *mmi_epochs_new(void);
void mmi_epochs_free(mmi_epochs *e);
void mmi_epochs_close(mm_context *ctx);

/* JSON string literal with escapes, invalid UTF-8 as U+FFFD (report.c). */
void mmi_json_string(FILE *f, const char *s);
/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is invalid. */
size_t mmi_utf8_len(const unsigned char *p);

/* ======================================================================
 * Errors and logging (error.c)
 * ==================================================================== */

/* Builds the message from fmt and sends an mm_error to the handler. */
MMI_COLD void mmi_error(mm_error_kind kind, size_t size, int cat, const void *ptr,
                        const mm_context *ctx, const char *fmt, ...) MMI_PRINTF(6, 7);
/* Out of memory, with the totals and largest categories in the message. */
MMI_COLD void mmi_error_oom(size_t size, int cat, const mm_context *ctx, const char *fn);
MMI_COLD void mmi_error_bad_category(int cat, size_t size, const mm_context *ctx, const char *fn);
/* Sends an error whose message is head, a newline and body (any length). */
MMI_COLD void mmi_error_long(mm_error_kind kind, size_t size, int cat, const void *ptr,
                             const mm_context *ctx, const char *head, const char *body);
/* Reports a bad pointer or double free for header h given to fn. */
MMI_COLD void mmi_error_pointer(const void *p, mmi_hdr_state st, const char *why, const char *fn);
void mmi_log(mm_log_level level, const char *fmt, ...) MMI_PRINTF(2, 3);

/* ======================================================================
 * Reports (report.c) and platform (platform.c)
 * ==================================================================== */

char *mmi_format_count(uint64_t n, char *buf, size_t len); /* 41,233 */

/* A FILE writing into a growing memory buffer (*buf, *len after fclose), or
 * NULL; and the process id. */
FILE *mmi_memstream(char **buf, size_t *len);
long mmi_getpid(void);

/* System allocator entry points: one place to hook fault injection. cat and
 * ctx say what the memory is for: the block's category (MM_CAT_INVALID for
 * the library's bookkeeping, MMI_SYS_EXEMPT for what injection never fails)
 * and its context (NULL for process-wide memory). */
#define MMI_SYS_EXEMPT (-2)
void *mmi_sys_malloc(size_t n, int cat, const mm_context *ctx);
void *mmi_sys_calloc(size_t n, int cat, const mm_context *ctx);
void *mmi_sys_realloc(void *p, size_t n, int cat, const mm_context *ctx);
void mmi_sys_free(void *p);

/* ======================================================================
 * Fault injection (fault.c)
 * ==================================================================== */

/* Nonzero while mm_fault_inject has armed a mode; the platform entry points
 * read it (relaxed) before anything else, so a disarmed library pays one
 * load, on system calls only. */
extern _Atomic int mmi_fault_armed;

/* Counts a system allocation for (cat, ctx) if it matches the filter, and
 * says whether it must fail. Called only while armed. */
MMI_COLD bool mmi_fault_fail(int cat, const mm_context *ctx);

/* ======================================================================
 * Diagnostics: options (options.c), checking modes (check.c), sites
 * (site.c), limits (limit.c), trace record (trace.c)
 *
 * mmi_diag says which of them need the decorated paths. While it is 0 the
 * plain paths run: one relaxed load on allocation, free and realloc. A
 * block's own flags (MMI_HF_DECOR) send its free and realloc to check.c
 * whatever mmi_diag says later.
 * ==================================================================== */

#define MMI_DIAG_GUARDS 0x01u /* write a canary after new blocks */
#define MMI_DIAG_POISON 0x02u /* fill new and freed blocks */
#define MMI_DIAG_SITES  0x04u /* record allocation sites */
#define MMI_DIAG_TRACE  0x08u /* a trace is open */
#define MMI_DIAG_LIMITS 0x10u /* some limit is set */

extern _Atomic unsigned mmi_diag;
/* The context fast path serves sizes below this: MMI_SMALL_MAX + 1 while
 * mmi_diag is 0, else 0 (one compare covers the size bound and the modes). */
extern _Atomic size_t mmi_ctx_fast_below;
/* Turns the bits of mask on or off in mmi_diag (atomic, any thread);
 * returns the old mmi_diag. */
unsigned mmi_diag_set(unsigned mask, bool on);

/* Reads the environment once (first use); every public entry point that
 * depends on an option calls it, and so does a thread's first allocation. */
void mmi_options_init(void);

/* check.c: the decorated allocation paths (ctx NULL: process-wide). */
void *mmi_diag_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                     const char *file, int line);
void *mmi_diag_realloc(mmi_header *h, size_t size, int cat, const char *fn, const char *file,
                       int line);
void mmi_diag_free(mmi_header *h, const char *fn);
bool mmi_guard_intact(const mmi_header *h);
/* Drops the site and trace records of ctx's own live blocks that have a tail
 * (reset and destroy free them without a call per block). */
void mmi_context_drop_tails(mm_context *ctx);
extern _Atomic int mmi_fill; /* mm_fill */

/* alloc.c: checks and raw process blocks for check.c. */
bool mmi_alloc_check(size_t size, int cat, const mm_context *ctx, const char *fn);
mmi_header *mmi_process_get(mmi_thread *t, size_t span, int cat, bool zero, const char *fn,
                            bool *reused);
void mmi_process_put(mmi_thread *t, mmi_header *h, bool poisoned); /* h: size = span, live seal */

/* site.c */
typedef struct mmi_site mmi_site;
/* The record of (file, line, cat); file NULL: the unknown site. Never NULL
 * (a full table gives the "(other sites)" record). */
mmi_site *mmi_site_get(const char *file, int line, int cat);
void mmi_site_alloc(mmi_site *s, size_t bytes);
void mmi_site_free(mmi_site *s, size_t bytes);
void mmi_site_resize(mmi_site *s, size_t old_bytes, size_t new_bytes);
int mmi_site_cat(const mmi_site *s);
void mmi_site_where(const mmi_site *s, const char **file, int *line);

/* limit.c: false after an MM_ERR_LIMIT error. A call on a block of size
 * bytes in ctx (NULL: process-wide) adds grow_cat bytes to category cat and
 * grow_total to the total. */
bool mmi_limit_check(mm_context *ctx, int cat, size_t grow_cat, size_t grow_total, size_t size,
                     const char *fn);
/* context.c calls this from ctx_count_alloc when tree.bytes passes comp_next. */
MMI_COLD void mmi_peak_context(mm_context *p, const mm_context *where);
/* Takes the limits of a context being destroyed off the count of limits set. */
void mmi_limit_context_gone(mm_context *ctx);
unsigned mmi_limit_warn_get(void); /* the soft threshold, percent */

/* trace.c: lines of the open trace (no-ops when none is open). */
uint64_t mmi_trace_alloc(size_t size, int cat); /* writes A; returns the id (0: none open) */
void mmi_trace_realloc(uint64_t id, size_t size, int cat);
void mmi_trace_free(uint64_t id);
void mmi_trace_forest(void); /* writes F with the next forest number */
void mmi_trace_flush(void);
void mmi_trace_path(char *buf, size_t len); /* the open trace's path ("" none) */
/* Expands %p in pattern to the process id; false when it does not fit. */
bool mmi_expand_path(const char *pattern, char *out, size_t len);

/* report.c: the whole text report as one heap string (system malloc; NULL on failure). */
char *mmi_report_text(const mm_context *ctx);
/* options.c: writes the exit report (registered with atexit when asked). */
void mmi_exit_report(void);

#endif /* MMI_INTERNAL_H */
