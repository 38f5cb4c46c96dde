/* Everything OS- or compiler-specific: the system allocator entry points
 * (the one place memory comes from, with the fault-injection check), page
 * mappings for chunk memory, the ranked locks and the fork handlers that
 * take them all, the first-use once, memstreams and the process id. The
 * thread-exit hook that retires a thread's counters is stats.c's. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* MAP_ANON, madvise */
#else
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, madvise (glibc, musl) */
#endif
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream, getpid */
#endif
#include "platform.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

_Atomic unsigned mmi_diag;
/* 0 in an ASan build (every context allocation is annotated), and at first
 * use under memcheck (mmi_tool_detect): the fast path never runs under a tool */
_Atomic size_t mmi_ctx_fast_below = MMI_TOOL_ASAN ? 0 : (size_t)256 * 1024 + 1;
static mmi_lock plat_diag_lock = MMI_LOCK_INIT(MMI_RANK_DIAG, "diagnostics bits");

unsigned mmi_diag_set(unsigned mask, bool on) {
    mmi_lock_take(&plat_diag_lock); /* keeps mmi_ctx_fast_below in step with mmi_diag */
    unsigned old = mmi_load(&mmi_diag);
    unsigned now = on ? old | mask : old & ~mask;
    mmi_store(&mmi_diag, now);
    mmi_store(&mmi_ctx_fast_below, now == 0 && !mmi_tool_on() ? (size_t)256 * 1024 + 1 : 0);
    mmi_lock_drop(&plat_diag_lock);
    return old;
}

/* ======================================================================
 * Fault injection state (diag/fault.c arms it; checked here)
 * ==================================================================== */

_Atomic int mmi_fault_armed;
mmi_fault_settings mmi_fault;

bool mmi_fault_fail(int cat, const mm_context *ctx) {
    if (cat == MMI_SYS_EXEMPT) return false;
    int want_cat = mmi_load(&mmi_fault.cat);
    if (want_cat != MM_CAT_INVALID && cat != want_cat) return false;
    const mm_context *want_ctx = mmi_load(&mmi_fault.ctx);
    if (want_ctx != NULL && ctx != want_ctx) return false;
    uint64_t n = atomic_fetch_add_explicit(&mmi_fault.attempts, 1, MMI_RELAXED) + 1;
    uint64_t k = mmi_load(&mmi_fault.k);
    int mode = mmi_load(&mmi_fault.mode);
    bool fail = k != 0 && (mode == MM_FAULT_ONCE ? n == k : mode == MM_FAULT_FROM && n >= k);
    if (fail) atomic_fetch_add_explicit(&mmi_fault.failures, 1, MMI_RELAXED);
    return fail;
}

/* ======================================================================
 * System allocator
 * ==================================================================== */

void *mmi_sys_malloc(size_t n, int cat, const mm_context *ctx) {
    if (mmi_sys_fails(cat, ctx)) return NULL;
    return malloc(n);
}

void *mmi_sys_calloc(size_t n, int cat, const mm_context *ctx) {
    if (mmi_sys_fails(cat, ctx)) return NULL;
    return calloc(1, n);
}

void *mmi_sys_realloc(void *p, size_t n, int cat, const mm_context *ctx) {
    if (mmi_sys_fails(cat, ctx)) return NULL;
    return realloc(p, n);
}

void mmi_sys_free(void *p) {
    free(p);
}

void *mmi_sys_aligned_calloc(size_t n, size_t align, int cat, const mm_context *ctx) {
    if (mmi_sys_fails(cat, ctx)) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, n) != 0) return NULL;
    memset(p, 0, n);
    return p;
}

/* ======================================================================
 * Page mappings
 * ==================================================================== */

size_t mmi_os_page(void) {
    static _Atomic size_t page;
    size_t p = mmi_load(&page);
    if (p == 0) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        mmi_store(&page, p);
    }
    return p;
}

void *mmi_os_map(size_t bytes, size_t align) {
    size_t span = bytes + align; /* room to align the start, trimmed below */
    if (span < bytes) return NULL;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = start - (uintptr_t)raw, tail = span - head - bytes;
    if (head) munmap(raw, head);
    if (tail) munmap((char *)start + bytes, tail);
    return (void *)start;
}

void mmi_os_decommit(void *p, size_t bytes) {
#if defined(__linux__)
    /* private anonymous pages: freed now, zero-filled when touched again */
    if (madvise(p, bytes, MADV_DONTNEED) == 0) return;
#endif
    /* elsewhere (macOS: MADV_FREE keeps the old bytes readable), fresh
     * zero pages mapped over the range do the same */
    (void)mmap(p, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

/* ======================================================================
 * Streams and the process id
 * ==================================================================== */

FILE *mmi_memstream(char **buf, size_t *len) {
    return open_memstream(buf, len); /* POSIX 2008: glibc, musl, macOS 10.13+ */
}

long mmi_getpid(void) {
    return (long)getpid();
}

/* ======================================================================
 * Locks and fork
 *
 * plat_known_lock guards the list of locks taken at least once; a lock
 * joins it at its first take, which may come while its taker holds another
 * lock (a reader holding the registry lock takes an owner lock no thread
 * took before). So the fork handler never waits for a lock while it holds
 * plat_known_lock: it copies the list, takes every lock on it from the
 * highest rank down, then takes plat_known_lock and checks that no lock
 * joined meanwhile (if one did, it lets all go and starts again), and holds
 * plat_known_lock across the fork, so none joins then. After fork both
 * processes release them in the opposite order, and the child then lets the
 * higher layers repair what only the parent may keep (mmi_hooks.fork_child:
 * an open trace).
 * ==================================================================== */

static pthread_mutex_t plat_known_lock = PTHREAD_MUTEX_INITIALIZER;
static mmi_lock *plat_known;   /* locks taken at least once; under plat_known_lock */
static int plat_nknown;        /* entries of plat_known; under plat_known_lock */
#define PLAT_MAX_LOCKS 256     /* more than the library has */
static mmi_lock *plat_forked[PLAT_MAX_LOCKS]; /* locks held across fork, by rank */
static int plat_nforked;

#ifdef MM_DEBUG
#define PLAT_DEPTH 16
static _Thread_local int plat_held;              /* locks this thread holds */
static _Thread_local int plat_ranks[PLAT_DEPTH]; /* their ranks, innermost last */

void mmi_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "mimicmem: internal invariant failed: %s (%s:%d)\n", expr, file, line);
    fflush(NULL);
    abort();
}
#endif

int mmi_locks_held(void) {
#ifdef MM_DEBUG
    return plat_held;
#else
    return 0;
#endif
}

static MMI_NOINLINE void plat_know(mmi_lock *l) {
    pthread_mutex_lock(&plat_known_lock);
    if (!mmi_load(&l->known)) {
        l->next = plat_known;
        plat_known = l;
        plat_nknown++;
        atomic_store(&l->known, 1);
    }
    pthread_mutex_unlock(&plat_known_lock);
}

void mmi_lock_take(mmi_lock *l) {
    if (MMI_UNLIKELY(!atomic_load_explicit(&l->known, memory_order_acquire))) plat_know(l);
#ifdef MM_DEBUG
    /* a thread takes locks in decreasing rank only (see platform.h) */
    MMI_ASSERT(plat_held == 0 || l->rank < plat_ranks[plat_held - 1]);
#endif
    pthread_mutex_lock(&l->mutex);
#ifdef MM_DEBUG
    if (plat_held < PLAT_DEPTH) plat_ranks[plat_held] = l->rank;
    plat_held++;
#endif
}

void mmi_lock_drop(mmi_lock *l) {
#ifdef MM_DEBUG
    MMI_ASSERT(plat_held > 0);
    plat_held--;
#endif
    pthread_mutex_unlock(&l->mutex);
}

static void plat_fork_prepare(void) {
    for (;;) {
        pthread_mutex_lock(&plat_known_lock);
        int known = plat_nknown;
        plat_nforked = 0;
        for (mmi_lock *l = plat_known; l && plat_nforked < PLAT_MAX_LOCKS; l = l->next) {
            int i = plat_nforked++; /* insertion sort, highest rank first */
            while (i > 0 && plat_forked[i - 1]->rank < l->rank) {
                plat_forked[i] = plat_forked[i - 1];
                i--;
            }
            plat_forked[i] = l;
        }
        pthread_mutex_unlock(&plat_known_lock);
        for (int i = 0; i < plat_nforked; i++) pthread_mutex_lock(&plat_forked[i]->mutex);
        pthread_mutex_lock(&plat_known_lock);
        if (plat_nknown == known) return; /* both held until the fork's release */
        pthread_mutex_unlock(&plat_known_lock);
        for (int i = plat_nforked - 1; i >= 0; i--) pthread_mutex_unlock(&plat_forked[i]->mutex);
    }
}

static void plat_fork_release(void) {
    for (int i = plat_nforked - 1; i >= 0; i--) pthread_mutex_unlock(&plat_forked[i]->mutex);
    pthread_mutex_unlock(&plat_known_lock);
}

static void plat_fork_child(void) {
    plat_fork_release();
    mmi_hooks.fork_child();
}

/* ======================================================================
 * First use
 * ==================================================================== */

static pthread_once_t plat_once = PTHREAD_ONCE_INIT;
/* set while this thread runs the first use: calls back into the library
 * from the environment reading must not wait for it to end */
static _Thread_local bool plat_in_first_use;

static void plat_first_use_once(void) {
    plat_in_first_use = true;
    pthread_atfork(plat_fork_prepare, plat_fork_release, plat_fork_child);
    if (mmi_tool_detect() != MMI_TOOL_NONE) mmi_diag_set(0, true); /* the fast path off */
    mmi_hooks.read_environment();
    plat_in_first_use = false;
}

void mmi_first_use(void) {
    if (!plat_in_first_use) pthread_once(&plat_once, plat_first_use_once);
}
