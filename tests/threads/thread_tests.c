/* Threaded tests as plain programs (Criterion's process arena does not run
 * under ThreadSanitizer), so CI runs these under TSan. Each scenario checks
 * exact process totals after the threads join, that every allocation site is
 * empty again and that mm_check finds nothing. With "toggle" the main thread
 * switches the checking modes and site recording on and off while the
 * workers allocate (blocks made under one mode are freed under another).
 * Usage: thread_tests process|contexts|mixed [threads] [ops per thread] [toggle] */
#include <mimicmem.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MMP_PROGRAM "thread_tests"
#include "../support/mm_plain.h"

enum { LIVE = 512 };

typedef struct {
    int id;                 /* thread number */
    long ops;               /* operations to run */
    int mode;               /* 0 process, 1 contexts, 2 both */
    mm_category cat;        /* this thread's own category */
    unsigned long long allocs, frees; /* what this thread did */
} worker;

static unsigned long long rng_next(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void *work(void *arg) {
    worker *w = arg;
    unsigned long long seed = 1234567u + (unsigned long long)w->id;
    void *live[LIVE] = {0};
    mm_context *ctx = w->mode ? mm_context_create("worker", NULL) : NULL;
    mm_context *child = ctx ? mm_context_create("module", ctx) : NULL;
    for (long i = 0; i < w->ops; i++) {
        unsigned long long r = rng_next(&seed);
        int k = (int)(r % LIVE);
        size_t size = (size_t)((r >> 16) % 2048);
        int in_ctx = w->mode == 1 || (w->mode == 2 && (r >> 40) % 2);
        if (live[k]) {
            if ((r >> 32) % 4 == 0) {
                void *n = mm_realloc_at(live[k], size, __FILE__, __LINE__);
                CHECK(n != NULL, "realloc failed");
                live[k] = n;
                continue;
            }
            mm_free(live[k]);
            live[k] = NULL;
            w->frees++;
        } else {
            mm_context *where = in_ctx ? ((r >> 48) % 3 ? ctx : child) : NULL;
            live[k] = mm_context_malloc_at(where, size, (r >> 56) % 2 ? w->cat : MM_CAT_HALOS,
                                           __FILE__, __LINE__);
            CHECK(live[k] != NULL, "allocation failed");
            memset(live[k], w->id, size < 64 ? size : 64);
            w->allocs++;
        }
        if (ctx && i % 20000 == 19999) { /* a forest ends: every context block goes */
            for (int j = 0; j < LIVE; j++) {
                if (live[j] && mm_block_context(live[j]) != NULL) {
                    live[j] = NULL;
                    w->frees++;
                }
            }
            mm_context_reset(ctx);
            child = mm_context_create("module", ctx);
        }
    }
    for (int j = 0; j < LIVE; j++) {
        if (live[j] && (ctx == NULL || mm_block_context(live[j]) == NULL)) {
            mm_free(live[j]);
            w->frees++;
            live[j] = NULL;
        } else if (live[j]) {
            w->frees++; /* released by the destroy below */
        }
    }
    mm_context_destroy(ctx);
    return NULL;
}

static atomic_int workers_done; /* set when every worker has joined */

/* Cycles through every checking mode and site recording until told to stop. */
static void *toggle(void *arg) {
    (void)arg;
    for (unsigned i = 0; !atomic_load(&workers_done); i++) {
        mm_set_check((mm_check_mode)(i % 4));
        mm_set_sites((int)(i / 4 % 2));
        for (volatile int spin = 0; spin < 20000; spin++) {
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "process";
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    long ops = argc > 3 ? atol(argv[3]) : 200000;
    int toggling = argc > 4 && strcmp(argv[4], "toggle") == 0;
    int m = strcmp(mode, "process") == 0 ? 0 : strcmp(mode, "contexts") == 0 ? 1 : 2;
    if (nthreads < 1 || nthreads > 64 || ops < 1) {
        fprintf(stderr, "usage: thread_tests process|contexts|mixed [threads 1..64] [ops]\n");
        return 2;
    }
    mm_stats before = mm_stats_total(NULL);
    worker w[64];
    pthread_t tid[64];
    for (int i = 0; i < nthreads; i++) {
        char name[32];
        snprintf(name, sizeof name, "Worker %d", i);
        w[i] = (worker){i, ops, m, mm_category_register(name, "Threads"), 0, 0};
        CHECK(pthread_create(&tid[i], NULL, work, &w[i]) == 0, "pthread_create failed");
    }
    pthread_t toggler;
    if (toggling) CHECK(pthread_create(&toggler, NULL, toggle, NULL) == 0, "pthread_create failed");
    unsigned long long allocs = 0, frees = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(tid[i], NULL);
        allocs += w[i].allocs;
        frees += w[i].frees;
    }
    atomic_store(&workers_done, 1);
    if (toggling) pthread_join(toggler, NULL);
    mm_stats after = mm_stats_total(NULL);
    CHECK(after.bytes == before.bytes, "live bytes should return to %zu, got %zu", before.bytes,
          after.bytes);
    CHECK(after.blocks == before.blocks, "live blocks should return to %zu, got %zu",
          before.blocks, after.blocks);
    CHECK(after.allocs - before.allocs == allocs, "allocations should be %llu, got %llu", allocs,
          (unsigned long long)(after.allocs - before.allocs));
    CHECK(after.frees - before.frees == frees, "frees should be %llu, got %llu", frees,
          (unsigned long long)(after.frees - before.frees));
    for (int i = 0; i < nthreads; i++) {
        mm_stats c = mm_stats_category(NULL, w[i].cat);
        CHECK(c.bytes == 0 && c.blocks == 0, "category of worker %d should be empty", i);
    }
    CHECK(after.peak_bytes >= before.peak_bytes, "the peak never goes down");
    size_t nsites = mm_sites(NULL, 0);
    if (nsites > 0) {
        mm_site_stats *sites = malloc(nsites * sizeof *sites);
        CHECK(sites != NULL, "out of memory");
        nsites = mm_sites(sites, nsites);
        for (size_t i = 0; i < nsites; i++)
            CHECK(sites[i].blocks == 0 && sites[i].bytes == 0,
                  "site %s:%d should be empty, has %zu blocks", sites[i].file ? sites[i].file : "?",
                  sites[i].line, sites[i].blocks);
        free(sites);
    }
    CHECK(mm_check(NULL) == 0, "mm_check should find no damaged block");
    printf("thread_tests %s%s: %d threads x %ld ops: %llu allocations, %llu frees, totals exact, "
           "%zu sites empty\n",
           mode, toggling ? " (modes toggled)" : "", nthreads, ops, allocs, frees, nsites);
    return 0;
}
