/* Everything OS- or compiler-specific: the system allocator entry points (the
 * one place every byte of memory comes from, so fault injection can hook it)
 * and the thread-exit hook that retires a thread's counters. */
#include "internal.h"

#include <stdlib.h>

void *mmi_sys_malloc(size_t n) {
    return malloc(n);
}

void *mmi_sys_calloc(size_t n) {
    return calloc(1, n);
}

void *mmi_sys_realloc(void *p, size_t n) {
    return realloc(p, n);
}

void mmi_sys_free(void *p) {
    free(p);
}
