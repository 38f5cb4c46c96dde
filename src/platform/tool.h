/* Layer 0, platform: what Valgrind memcheck and AddressSanitizer are told
 * about context blocks, so that each carved block is a block of its own to
 * them (docs/design.md, "What Valgrind and ASan see"). Memcheck is found at
 * run time (RUNNING_ON_VALGRIND, in tool.c) when <valgrind/memcheck.h> was
 * there at build time; ASan at compile time. Under no tool mmi_tool_on() is
 * false and every call here is skipped; the hot paths never reach them:
 * mmi_ctx_fast_below (0) and MMI_FREE_PAGE_MASK (0) send them the slow way
 * while a tool runs. */
#ifndef MMI_TOOL_H
#define MMI_TOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* AddressSanitizer: gcc says __SANITIZE_ADDRESS__, clang __has_feature */
#if defined(__SANITIZE_ADDRESS__)
#define MMI_TOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMI_TOOL_ASAN 1
#endif
#endif
#ifndef MMI_TOOL_ASAN
#define MMI_TOOL_ASAN 0
#endif

/* Valgrind: CMake defines MM_WITH_VALGRIND (0 or 1) from its header check;
 * the two-file distribution asks the compiler. A build without the headers
 * knows no Valgrind and runs as before under it (chunks are then one big
 * mapping to memcheck). */
#ifndef MM_WITH_VALGRIND
#if defined(__has_include) && !defined(__CPPCHECK__) /* cppcheck cannot evaluate it */
#if __has_include(<valgrind/memcheck.h>)
#define MM_WITH_VALGRIND 1
#endif
#endif
#endif
#ifndef MM_WITH_VALGRIND
#define MM_WITH_VALGRIND 0
#endif

#if MMI_TOOL_ASAN
#include <sanitizer/asan_interface.h>
#define MMI_TOOL_VG 0
#elif MM_WITH_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define MMI_TOOL_VG 1
#else
#define MMI_TOOL_VG 0
#endif

#define MMI_TOOL_NONE     0
#define MMI_TOOL_MEMCHECK 1
#define MMI_TOOL_ASANRT   2

/* The tool in force (tool.c): set once at first use, before any context
 * exists; constant MMI_TOOL_ASANRT in an ASan build. */
extern _Atomic int mmi_tool;
/* The free fast path leaves to the slow path a p whose header may be a big
 * block's: ((p - 16) & MMI_FREE_PAGE_MASK) == MMI_FREE_BIG_AT, that is 4095
 * and 16 (header.h's mmi_maybe_big), and 0 and 0 while a tool runs, so every
 * free goes the slow way, where headers are opened. Read from memory as
 * operands of the same two instructions the constants were (no instruction
 * more); constants in a build that can know no tool. Not atomic: written
 * once, by the first use under memcheck (which runs one thread at a time),
 * read-only otherwise. */
#if defined(__GNUC__) || defined(__clang__)
#define MMI_TOOL_HIDDEN __attribute__((visibility("hidden"))) /* PC-relative, no GOT */
#else
#define MMI_TOOL_HIDDEN
#endif
MMI_TOOL_HIDDEN extern uintptr_t mmi_free_page_mask;
MMI_TOOL_HIDDEN extern uintptr_t mmi_free_big_at;
#if MMI_TOOL_VG || MMI_TOOL_ASAN
#define MMI_FREE_PAGE_MASK mmi_free_page_mask
#define MMI_FREE_BIG_AT    mmi_free_big_at
#else
#define MMI_FREE_PAGE_MASK ((uintptr_t)4095)
#define MMI_FREE_BIG_AT    ((uintptr_t)16)
#endif

/* Finds the tool the process runs under (first use, once); returns it. */
int mmi_tool_detect(void);

static inline bool mmi_tool_on(void) {
#if MMI_TOOL_ASAN
    return true;
#elif MMI_TOOL_VG
    return __builtin_expect(atomic_load_explicit(&mmi_tool, memory_order_relaxed) != 0, 0);
#else
    return false;
#endif
}

/* ----------------------------------------------------------------------
 * Marking memory. noaccess: any use is reported; undefined: usable, its
 * value unknown (memcheck reports a branch on it); defined: usable.
 * ASan knows only poisoned (noaccess) and not.
 * -------------------------------------------------------------------- */

static inline void mmi_tool_noaccess(const void *p, size_t n) {
#if MMI_TOOL_ASAN
    ASAN_POISON_MEMORY_REGION(p, n);
#elif MMI_TOOL_VG
    if (mmi_tool_on()) (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
#else
    (void)p, (void)n;
#endif
}

static inline void mmi_tool_undefined(const void *p, size_t n) {
#if MMI_TOOL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif MMI_TOOL_VG
    if (mmi_tool_on()) (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#else
    (void)p, (void)n;
#endif
}

static inline void mmi_tool_defined(const void *p, size_t n) {
#if MMI_TOOL_ASAN
    ASAN_UNPOISON_MEMORY_REGION(p, n);
#elif MMI_TOOL_VG
    if (mmi_tool_on()) (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
    (void)p, (void)n;
#endif
}

/* Opens n bytes at p for the library to read or write when they are closed
 * now (their first 16 bytes say: slots, headers and free space are closed or
 * open as a whole); true when it opened them, for mmi_tool_reclose. Used
 * where the state is not known (a pointer handed in, a walk). */
static inline bool mmi_tool_open(const void *p, size_t n) {
#if MMI_TOOL_ASAN
    if (__asan_region_is_poisoned((void *)(uintptr_t)p, n < 16 ? n : 16) == NULL) return false;
    ASAN_UNPOISON_MEMORY_REGION(p, n);
    return true;
#elif MMI_TOOL_VG
    if (!mmi_tool_on()) return false;
    unsigned char vbits[16];
    /* 3: some byte is not addressable (the call is silent) */
    if (VALGRIND_GET_VBITS(p, vbits, n < 16 ? n : 16) != 3) return false;
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
    return true;
#else
    (void)p, (void)n;
    return false;
#endif
}

static inline void mmi_tool_reclose(const void *p, size_t n, bool opened) {
    if (opened) mmi_tool_noaccess(p, n);
}

/* A peek at 16 bytes that may be a header or not (a pointer handed in, a
 * walk resynchronising after damage): made readable and defined whatever
 * they are now (closed, or inside a live block and never written, which
 * memcheck would report as a branch on undefined bytes), and put back as
 * they were by mmi_tool_peek_end unless the caller keeps a real header
 * open. */
typedef struct {
    int how;                  /* 0: left as it was; 1: was closed; 2: had undefined bits */
    unsigned char vbits[16];  /* memcheck's definedness bits, for how 2 */
} mmi_tool_peek;

static inline void mmi_tool_peek_begin(const void *p, mmi_tool_peek *s) {
    s->how = 0;
#if MMI_TOOL_ASAN
    if (__asan_region_is_poisoned((void *)(uintptr_t)p, 16) != NULL) {
        ASAN_UNPOISON_MEMORY_REGION(p, 16);
        s->how = 1;
    }
#elif MMI_TOOL_VG
    if (!mmi_tool_on()) return;
    for (int i = 0; i < 16; i++) s->vbits[i] = 0; /* the analyzer cannot see the request fill it */
    unsigned rc = VALGRIND_GET_VBITS(p, s->vbits, 16);
    if (rc == 3) {
        s->how = 1;
    } else if (rc == 1) {
        for (int i = 0; i < 16; i++)
            if (s->vbits[i] != 0) s->how = 2;
    }
    if (s->how != 0) (void)VALGRIND_MAKE_MEM_DEFINED(p, 16);
#else
    (void)p;
#endif
}

static inline void mmi_tool_peek_end(const void *p, mmi_tool_peek *s) {
    if (s->how == 1) mmi_tool_noaccess(p, 16);
#if MMI_TOOL_VG
    if (s->how == 2) (void)VALGRIND_SET_VBITS(p, s->vbits, 16);
#endif
    s->how = 0;
}

/* ----------------------------------------------------------------------
 * Pools: under memcheck each context's arena is a memory pool and each
 * carved block an allocation of it (allocation and free stacks in reports,
 * the leak check); under ASan the same calls (un)poison the bytes.
 * -------------------------------------------------------------------- */

static inline void mmi_tool_pool_create(const void *pool) {
#if MMI_TOOL_VG
    if (mmi_tool_on()) VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
#else
    (void)pool;
#endif
}

static inline void mmi_tool_pool_destroy(const void *pool) {
#if MMI_TOOL_VG
    if (mmi_tool_on()) VALGRIND_DESTROY_MEMPOOL(pool);
#else
    (void)pool;
#endif
}

/* A block of n bytes at p: usable, undefined. */
static inline void mmi_tool_pool_alloc(const void *pool, const void *p, size_t n) {
#if MMI_TOOL_VG
    if (mmi_tool_on()) VALGRIND_MEMPOOL_ALLOC(pool, p, n);
#else
    (void)pool;
    mmi_tool_undefined(p, n);
#endif
}

/* The block at p (n bytes) is freed: no access. */
static inline void mmi_tool_pool_free(const void *pool, const void *p, size_t n) {
#if MMI_TOOL_VG
    if (mmi_tool_on()) VALGRIND_MEMPOOL_FREE(pool, p);
    (void)n;
#else
    (void)pool;
    mmi_tool_noaccess(p, n);
#endif
}

/* The block at p changes from old_n to new_n bytes in place. */
static inline void mmi_tool_pool_resize(const void *pool, const void *p, size_t old_n,
                                        size_t new_n) {
#if MMI_TOOL_VG
    if (mmi_tool_on()) VALGRIND_MEMPOOL_CHANGE(pool, p, p, new_n);
#else
    (void)pool;
#endif
    if (new_n > old_n) mmi_tool_undefined((const char *)p + old_n, new_n - old_n);
    if (new_n < old_n) mmi_tool_noaccess((const char *)p + new_n, old_n - new_n);
}

#endif /* MMI_TOOL_H */
