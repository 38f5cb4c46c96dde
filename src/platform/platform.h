/* Layer 0, platform: what every other file of src/ may use. Compiler and
 * atomics shorthands, the library's locks (ranked, known to the fork
 * handlers), the first-use hook, the system memory entry points (the one
 * place memory comes from, with the fault-injection check), and the error
 * and log dispatch of error.c. Nothing here knows about blocks or contexts.
 * Names: mmi_ for what other files use; file statics carry their file's
 * word (plat_, err_). */
#ifndef MMI_PLATFORM_H
#define MMI_PLATFORM_H

/* The library's own sources see the real names, never the MM_WITH_SITES
 * routing a host's build may define. */
#ifndef MM_BUILDING_LIBRARY
#define MM_BUILDING_LIBRARY 1
#endif

#include "mimicmem.h"
#include "mimicmem_testing.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tool.h" /* Valgrind and ASan annotations (no cost under no tool) */

/* ======================================================================
 * Compiler and atomics shorthands
 * ==================================================================== */

#if defined(__GNUC__) || defined(__clang__)
#define MMI_LIKELY(x)    __builtin_expect(!!(x), 1)
#define MMI_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define MMI_NOINLINE     __attribute__((noinline))
#define MMI_INLINE       inline __attribute__((always_inline))
#define MMI_COLD         __attribute__((cold, noinline))
#define MMI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MMI_TLS_MODEL    __attribute__((tls_model("initial-exec")))
/* Makes the compiler keep pointer p in a register and address every field
 * through it (gcc otherwise forms base + index + field anew for each atomic
 * access of an array element). No instruction is emitted. */
#define MMI_HOLD(p)      __asm__("" : "+r"(p))
#else
#define MMI_LIKELY(x)   (x)
#define MMI_UNLIKELY(x) (x)
#define MMI_NOINLINE
#define MMI_INLINE inline
#define MMI_COLD
#define MMI_PRINTF(f, a)
#define MMI_TLS_MODEL
#define MMI_HOLD(p) ((void)0)
#endif

#define MMI_CACHE_LINE 64

/* Relaxed atomics: a figure with one writer (its owner thread) that other
 * threads may read. On x86-64 and arm64 each is a plain move. */
#define MMI_RELAXED     memory_order_relaxed
#define mmi_load(p)     atomic_load_explicit((p), MMI_RELAXED)
#define mmi_store(p, v) atomic_store_explicit((p), (v), MMI_RELAXED)
/* owner-only update of a single-writer figure: load, add, store (no locked
 * read-modify-write: nobody else writes it) */
#define mmi_bump(p, v)  mmi_store((p), mmi_load(p) + (v))

/* Raises *dst to v (a high-water mark several threads may raise). */
static inline void mmi_atomic_max(_Atomic int64_t *dst, int64_t v) {
    int64_t cur = mmi_load(dst);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(dst, &cur, v, MMI_RELAXED, MMI_RELAXED)) {
    }
}

/* ======================================================================
 * Debug assertions (MM_DEBUG builds: the ASan layer of the tests)
 * MMI_ASSERT checks an invariant and aborts with the expression, file and
 * line; without MM_DEBUG it compiles to nothing and evaluates nothing.
 * ==================================================================== */

#ifdef MM_DEBUG
MMI_COLD void mmi_assert_fail(const char *expr, const char *file, int line);
#define MMI_ASSERT(cond) ((cond) ? (void)0 : mmi_assert_fail(#cond, __FILE__, __LINE__))
#else
#define MMI_ASSERT(cond) ((void)0)
#endif

/* ======================================================================
 * Locks
 *
 * Every lock of the library is an mmi_lock with a rank: a thread that holds
 * a lock takes only locks of lower rank, so the fork handlers can take them
 * all, highest rank first, without deadlock (pthread_atfork: a child of a
 * multi-threaded parent then finds every lock free and every structure
 * whole). A lock becomes known to the fork handlers the first time it is
 * taken. MM_DEBUG builds check the rank order and keep a count of the locks
 * the calling thread holds, so error.c can check that no handler is ever
 * called under one.
 * ==================================================================== */

typedef struct mmi_lock {
    pthread_mutex_t mutex; /* the lock itself */
    int rank;              /* higher ranks are taken first (outer locks) */
    _Atomic int known;     /* on the list of known locks */
    const char *name;      /* for the debug messages */
    struct mmi_lock *next; /* that list; under plat_known_lock (platform.c) */
} mmi_lock;

#define MMI_LOCK_INIT(rank_, name_)                                                                \
    {.mutex = PTHREAD_MUTEX_INITIALIZER, .rank = (rank_), .known = 0, .name = (name_), .next = NULL}

/* Ranks, outer to inner (a lock may be taken while holding one of higher rank). */
enum {
    MMI_RANK_LEGACY = 100, /* legacy.c: the reporting mark */
    MMI_RANK_OPTIONS = 95, /* options.c: the report file pattern */
    MMI_RANK_TRACE = 90,   /* trace.c: the trace buffer (takes diag inside) */
    MMI_RANK_LIMIT = 90,   /* limit.c: the count of limits (takes diag inside) */
    MMI_RANK_CONTEXTS = 80, /* context.c: the context registry (readers and structure) */
    MMI_RANK_CTX_LIST = 75, /* registry.c: one shard's list of top-level contexts */
    MMI_RANK_CTX_OWNER = 72, /* registry.c: the own data of the contexts of one stripe of
                                owner threads (epochs, reclaimed figures, compositions) */
    MMI_RANK_PEAK = 70,    /* peak.c: the composition record (takes stats inside) */
    MMI_RANK_EPOCHS = 65,  /* epoch.c: the process-wide epoch ledger */
    MMI_RANK_STATS = 60,   /* stats.c: the thread registry and retired sums */
    MMI_RANK_SITES = 50,   /* site.c: site inserts */
    MMI_RANK_CATEGORIES = 50, /* category.c: registration */
    MMI_RANK_CHUNKS = 40,  /* chunk.c: segments and the dead-chunk cache */
    MMI_RANK_ADDRSET = 30, /* addrset.c: one shard of an address set */
    MMI_RANK_DIAG = 20,    /* check.c: the diagnostics bits */
    MMI_RANK_HANDLERS = 10 /* error.c: the handler pointers */
};

void mmi_lock_take(mmi_lock *l);
void mmi_lock_drop(mmi_lock *l);
/* Locks the calling thread holds (counted in MM_DEBUG builds only; 0 otherwise). */
int mmi_locks_held(void);

/* ======================================================================
 * First use and the hook table
 * ==================================================================== */

/* Runs once per process, before the library does anything that depends on
 * an option: registers the fork handlers, then reads the environment
 * (mmi_hooks.read_environment). Every public entry point that depends on an
 * option calls it, and so does a thread's first allocation. Calls made while
 * the environment is being read (the option setters call back in) return at
 * once. */
void mmi_first_use(void);

struct mmi_header;
struct mmi_arena_chunk;

/* The one way from a lower layer up to a higher one (docs/design.md,
 * "Layers"): a constant table defined by the top file, src/hooks.c, so the
 * link pulls in every layer and no call site names a higher file. */
typedef struct mmi_hooks {
    /* report/options.c: reads MIMICMEM_* once (from mmi_first_use) */
    void (*read_environment)(void);
    /* in a child after fork: diag/trace.c stops or reopens an open trace */
    void (*fork_child)(void);
    /* diag/check.c: the decorated paths, taken while any diagnostic is on or
     * for a block whose header says it carries a decoration */
    void *(*diag_alloc)(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                        const char *file, int line);
    void *(*diag_realloc)(struct mmi_header *h, size_t size, int cat, const char *fn,
                          const char *file, int line);
    void (*diag_free)(struct mmi_header *h, const char *fn);
    /* diag/check.c: a reset or destroy is about to release ctx's own blocks:
     * check the decorated ones and take their sites and trace ids off */
    void (*diag_release)(mm_context *ctx, const char *fn);
    /* diag/peak.c: a turn (a decrease) ended a peak at or above the next
     * composition mark: of the process (where: the context of the thread's
     * last allocation) or of context p. The state at that peak is now's with
     * out_bytes of category out_cat still live and in_bytes of in_cat not yet
     * (a free: out only; a shrinking or moving realloc: both). */
    void (*peak_process)(const mm_context *where, int out_cat, size_t out_bytes, int in_cat,
                         size_t in_bytes);
    void (*peak_context)(mm_context *p, int out_cat, size_t out_bytes, int in_cat,
                         size_t in_bytes);
    /* diag/trace.c: a forest starts (top-level create or reset) */
    void (*trace_forest)(void);
    /* report/report.c: the text report of ctx (NULL: the process) as one
     * system-malloc string, for the limit message; NULL out of memory */
    char *(*report_text)(const mm_context *ctx);
    /* report/report.c: writes the epoch log line of the epoch a reset closes
     * (owner thread, before the reset changes anything, no lock held) */
    void (*epoch_log)(mm_context *ctx);
} mmi_hooks_t;

extern const mmi_hooks_t mmi_hooks;

/* ======================================================================
 * The slow-path switch
 * mmi_diag says which diagnostics need the decorated paths (diag/check.c
 * sets it; one bit per feature). While it is 0 every allocation takes the
 * plain path: one relaxed load. The context fast path compares the request
 * with mmi_ctx_fast_below instead: 256 KiB + 1 while mmi_diag is 0, else 0,
 * so one compare covers the size bound and the modes.
 * ==================================================================== */

#define MMI_DIAG_GUARDS 0x01u /* write a canary after new blocks */
#define MMI_DIAG_POISON 0x02u /* fill new and freed blocks */
#define MMI_DIAG_SITES  0x04u /* record allocation sites */
#define MMI_DIAG_TRACE  0x08u /* a trace is open */
#define MMI_DIAG_LIMITS 0x10u /* some limit is set */

extern _Atomic unsigned mmi_diag;
extern _Atomic size_t mmi_ctx_fast_below;
/* Turns the bits of mask on or off in mmi_diag, keeping mmi_ctx_fast_below
 * in step (any thread); returns the old mmi_diag. */
unsigned mmi_diag_set(unsigned mask, bool on);

/* ======================================================================
 * System memory: the one place every byte comes from
 *
 * cat and ctx say what the memory is for: the block's category
 * (MM_CAT_INVALID for the library's bookkeeping, MMI_SYS_EXEMPT for what
 * injection never fails) and the context whose call made it (NULL for
 * process-wide memory). Fault injection (diag/fault.c arms it) is checked
 * here first: one relaxed load while disarmed.
 * ==================================================================== */

#define MMI_SYS_EXEMPT (-2)

extern _Atomic int mmi_fault_armed;
/* What mm_fault_inject armed (diag/fault.c writes it, disarmed first). */
typedef struct {
    _Atomic int mode;                 /* mm_fault_mode in force */
    _Atomic uint64_t k;               /* 1-based attempt that fails first; 0: never */
    _Atomic int cat;                  /* category filter; MM_CAT_INVALID: any */
    _Atomic(const mm_context *) ctx;  /* context filter (by address); NULL: any */
    _Atomic uint64_t attempts;        /* matching attempts since the last inject */
    _Atomic uint64_t failures;        /* attempts made to fail since then */
} mmi_fault_settings;
extern mmi_fault_settings mmi_fault;
/* Counts an attempt for (cat, ctx) if it matches the armed filter, and says
 * whether it must fail. Called only while armed. */
MMI_COLD bool mmi_fault_fail(int cat, const mm_context *ctx);

static inline bool mmi_sys_fails(int cat, const mm_context *ctx) {
    return MMI_UNLIKELY(mmi_load(&mmi_fault_armed)) && mmi_fault_fail(cat, ctx);
}

void *mmi_sys_malloc(size_t n, int cat, const mm_context *ctx);
void *mmi_sys_calloc(size_t n, int cat, const mm_context *ctx);
void *mmi_sys_realloc(void *p, size_t n, int cat, const mm_context *ctx); /* p kept on failure */
void mmi_sys_free(void *p);
/* n zeroed bytes aligned to align (a power of two, at least sizeof(void *)),
 * freed with mmi_sys_free; NULL on failure. For records that must not share
 * a cache line with anything else. */
void *mmi_sys_aligned_calloc(size_t n, size_t align, int cat, const mm_context *ctx);

/* Page mappings for chunk memory: bytes (a multiple of align) aligned to
 * align (a power of two, at least the page size), zero-filled, or NULL.
 * Mappings are never unmapped: decommit gives the pages' memory back to the
 * system and keeps the addresses, which then read as zeros until written
 * again, so a stale pointer into them never faults. */
void *mmi_os_map(size_t bytes, size_t align);
void mmi_os_decommit(void *p, size_t bytes);
size_t mmi_os_page(void);

/* A FILE writing into a growing memory buffer (*buf, *len after fclose), or NULL. */
FILE *mmi_memstream(char **buf, size_t *len);
long mmi_getpid(void);
/* Expands %p (process id), %r (rank, 0 when unknown) and %% in pattern;
 * false when the result does not fit. */
bool mmi_expand_path(const char *pattern, char *out, size_t len);

/* ======================================================================
 * Text (format.c): numbers never depend on the locale (a host may call
 * setlocale with a comma decimal point; JSON and CSV must not change).
 * ==================================================================== */

char *mmi_format_count(uint64_t n, char *buf, size_t len);  /* "41,233" */
/* x >= 0 with one decimal ("86528.3"). */
char *mmi_format_tenths(double x, char *buf, size_t len);
/* Any finite double, shortest exact-enough form ("1234", "0.52",
 * "1.5e-07"); "" for NaN and infinities (the caller writes null). */
char *mmi_format_double(double x, char *buf, size_t len);
/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 if it is invalid. */
size_t mmi_utf8_len(const unsigned char *p);
/* Copies at most max bytes of src (and a NUL), never cutting a UTF-8
 * character. */
void mmi_copy_name(char *dst, const char *src, size_t max);

/* ======================================================================
 * Errors and logging (error.c)
 * Every failure of the library fills an mm_error and goes to the handler;
 * informational lines go to the log handler. Neither is ever called while
 * the calling thread holds one of the library's locks (checked in MM_DEBUG
 * builds), so a handler may call any mimicmem function.
 * ==================================================================== */

/* Builds the message "mimicmem: <kind>: <fmt...>" and dispatches it. */
MMI_COLD void mmi_error(mm_error_kind kind, size_t size, int cat, const void *ptr,
                        const mm_context *ctx, const char *fmt, ...) MMI_PRINTF(6, 7);
/* Dispatches head, a newline and body (any length) as one message. */
MMI_COLD void mmi_error_long(mm_error_kind kind, size_t size, int cat, const void *ptr,
                             const mm_context *ctx, const char *head, const char *body);
void mmi_log(mm_log_level level, const char *fmt, ...) MMI_PRINTF(2, 3);

/* The status the default handler exits with instead of aborting, for calls
 * made through Mimic's legacy entry points (legacy.c sets it around each
 * call; 0: abort). Thread-local. */
extern _Thread_local int mmi_fatal_status MMI_TLS_MODEL;

#endif /* MMI_PLATFORM_H */
