/* The per-thread chunk caches and the sharded registry under threads: workers
 * create and destroy a context per forest (some with a child, some reset
 * first, some of 5 MiB, more than a region) while one thread trims and one
 * reports every context, for a fixed number of forests, in two waves: the
 * first wave's threads exit (their caches are parked) and the second
 * wave's take them over, whole or merged. Afterwards the figures are exact
 * and the dead chunks stay under the cap. A plain program, so it runs under
 * ThreadSanitizer (ctest thread_chunk_cache). Usage: chunk_cache THREADS
 * FORESTS */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../src/alloc/alloc.h"

static atomic_int workers_left;

static void *worker(void *arg) {
    long forests = *(long *)arg;
    unsigned seed = (unsigned)(uintptr_t)&forests;
    for (long f = 0; f < forests; f++) {
        mm_context *ctx = mm_context_create("forest", NULL);
        mm_context *child = (f % 4 == 1) ? mm_context_create("module", ctx) : NULL;
        if (ctx == NULL || (f % 4 == 1 && child == NULL)) {
            fprintf(stderr, "chunk_cache: create failed\n");
            exit(1);
        }
        seed = seed * 1103515245u + 12345u;
        bool big = f % 97 == 50; /* 5 MiB: beyond one region */
        int n = big ? 80 : 100 + (int)(seed >> 16) % 1500;
        for (int i = 0; i < n; i++) {
            size_t size = big ? 64 * 1024 : (i % 50 == 0) ? 4096 : 104;
            char *p = mm_context_malloc(child && i % 2 ? child : ctx, size, MM_CAT_HALOS);
            if (p == NULL) {
                fprintf(stderr, "chunk_cache: allocation failed\n");
                exit(1);
            }
            p[0] = (char)i;
        }
        if (f % 3 == 0) mm_context_reset(ctx);
        mm_context_destroy(ctx);
    }
    atomic_fetch_sub(&workers_left, 1);
    return NULL;
}

static void *trimmer(void *arg) {
    (void)arg;
    while (atomic_load(&workers_left) > 0) mm_trim();
    return NULL;
}

static void *reporter(void *arg) {
    FILE *out = arg;
    while (atomic_load(&workers_left) > 0) mm_report(out, NULL, MM_REPORT_TEXT);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    long forests = argc > 2 ? atol(argv[2]) : 2000;
    if (threads < 1 || threads > 64 || forests < 1) {
        fprintf(stderr, "usage: chunk_cache THREADS(1..64) FORESTS\n");
        return 2;
    }
    FILE *sink = fopen("/dev/null", "w");
    if (sink == NULL) return 2;
    pthread_t t[66];
    long half = (forests + 1) / 2;
    atomic_store(&workers_left, 2 * threads);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &half);
    pthread_create(&t[threads], NULL, trimmer, NULL);
    pthread_create(&t[threads + 1], NULL, reporter, sink);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    /* the second wave: new threads take the exited ones' caches over */
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &half);
    for (int i = 0; i < threads + 2; i++) pthread_join(t[i], NULL);
    fclose(sink);
    int failed = 0;
    mm_stats s = mm_stats_total(NULL);
    if (s.bytes != 0 || s.blocks != 0) {
        fprintf(stderr, "chunk_cache: %zu bytes in %zu blocks still counted live, want 0\n",
                s.bytes, s.blocks);
        failed = 1;
    }
    if (mmi_chunk_dead_bytes() > MMI_DEAD_MAX) {
        fprintf(stderr, "chunk_cache: %zu dead bytes resident, above the cap of %zu\n",
                mmi_chunk_dead_bytes(), MMI_DEAD_MAX);
        failed = 1;
    }
    mm_trim();
    if (mmi_chunk_dead_bytes() != 0) {
        fprintf(stderr, "chunk_cache: %zu dead bytes resident after mm_trim, want 0\n",
                mmi_chunk_dead_bytes());
        failed = 1;
    }
    if (!failed) printf("chunk_cache: %d threads x %ld forests: figures exact\n", threads, forests);
    return failed;
}
