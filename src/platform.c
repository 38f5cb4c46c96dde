/* Everything OS- or compiler-specific: the system allocator entry points (the
 * one place every byte of memory comes from, so fault injection can hook it)
 * and the thread-exit hook that retires a thread's counters. */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open_memstream, getpid */
#endif
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

FILE *mmi_memstream(char **buf, size_t *len) {
    return open_memstream(buf, len); /* POSIX 2008: glibc, musl, macOS 10.13+ */
}

long mmi_getpid(void) {
    return (long)getpid();
}

/* True when fault injection wants this allocation to fail; one relaxed load
 * while disarmed. */
static inline bool platform_fails(int cat, const mm_context *ctx) {
    return MMI_UNLIKELY(mmi_load(&mmi_fault_armed)) && mmi_fault_fail(cat, ctx);
}

void *mmi_sys_malloc(size_t n, int cat, const mm_context *ctx) {
    if (platform_fails(cat, ctx)) return NULL;
    return malloc(n);
}

void *mmi_sys_calloc(size_t n, int cat, const mm_context *ctx) {
    if (platform_fails(cat, ctx)) return NULL;
    return calloc(1, n);
}

/* A failed realloc leaves p as it was, as realloc does. */
void *mmi_sys_realloc(void *p, size_t n, int cat, const mm_context *ctx) {
    if (platform_fails(cat, ctx)) return NULL;
    return realloc(p, n);
}

void mmi_sys_free(void *p) {
    free(p);
}
