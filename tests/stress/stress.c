/* Stress runs as a plain program (no Criterion), so it also runs under
 * ThreadSanitizer and at full size by hand (see tests/stress/README.md).
 *   stress threads N OPS   N threads share OPS operations, each with its own
 *                          nested contexts, resets and process-wide blocks
 *                          handed to other threads; process totals exact.
 *   stress live COUNT      COUNT live 16..64-byte blocks, process-wide and
 *                          then in one context; prints the bookkeeping
 *                          overhead per block; totals exact. */
#define _GNU_SOURCE

#include <mimicmem.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define MMP_PROGRAM "stress"
#include "../support/mm_plain.h"

enum {
    STRESS_MAX_THREADS = 64,
    STRESS_SLOTS = 1024,       /* live blocks each thread juggles */
    STRESS_QUEUE = 4096,       /* capacity of the handoff queue */
    STRESS_FOREST_OPS = 50000, /* operations between resets of the top context */
    STRESS_MODULE_OPS = 7919   /* operations between resets of the module context */
};

static uint64_t stress_rng(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double stress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ========================================================================
 * Handoff queue: process-wide blocks allocated by one thread, freed by
 * another (allowed by the thread rule for process-wide blocks)
 * ====================================================================== */

typedef struct {
    pthread_mutex_t lock;       /* guards everything below */
    void *blocks[STRESS_QUEUE]; /* ring of handed-off process-wide blocks */
    int producer[STRESS_QUEUE]; /* thread that allocated each one */
    size_t head;                /* next slot to take */
    size_t nqueued;             /* blocks in the ring */
} stress_queue;

static stress_queue stress_handoff = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Queues p; returns 0 (and keeps p with the caller) when the ring is full. */
static int stress_queue_put(void *p, int producer) {
    int ok = 0;
    pthread_mutex_lock(&stress_handoff.lock);
    if (stress_handoff.nqueued < STRESS_QUEUE) {
        size_t at = (stress_handoff.head + stress_handoff.nqueued) % STRESS_QUEUE;
        stress_handoff.blocks[at] = p;
        stress_handoff.producer[at] = producer;
        stress_handoff.nqueued++;
        ok = 1;
    }
    pthread_mutex_unlock(&stress_handoff.lock);
    return ok;
}

/* Takes the oldest block that another thread than me queued, or NULL. */
static void *stress_queue_take(int me) {
    void *p = NULL;
    pthread_mutex_lock(&stress_handoff.lock);
    if (stress_handoff.nqueued > 0 && stress_handoff.producer[stress_handoff.head] != me) {
        p = stress_handoff.blocks[stress_handoff.head];
        stress_handoff.head = (stress_handoff.head + 1) % STRESS_QUEUE;
        stress_handoff.nqueued--;
    }
    pthread_mutex_unlock(&stress_handoff.lock);
    return p;
}

/* ========================================================================
 * threads N OPS
 * ====================================================================== */

typedef enum { WHERE_NONE = 0, WHERE_PROCESS, WHERE_FOREST, WHERE_MODULE, WHERE_SCRATCH } where;

typedef struct {
    int id;              /* thread number */
    long ops;            /* operations this thread runs */
    mm_category cat;     /* this thread's own category */
    uint64_t allocs;     /* allocations this thread made */
    uint64_t frees;      /* blocks this thread freed, explicitly or by reset/destroy */
    uint64_t handed_off; /* blocks it queued for other threads */
    uint64_t taken;      /* queued blocks of other threads it freed */
    uint64_t resets;     /* resets of any of its contexts */
} stress_worker;

typedef struct {
    void *p;      /* live block, or NULL */
    where in;     /* where it lives */
    size_t bytes; /* its requested size */
} stress_slot;

/* Live context blocks in the subtree of w (where >= from) according to slots. */
static size_t stress_count_in(const stress_slot *slots, where from, size_t *bytes) {
    size_t n = 0;
    *bytes = 0;
    for (int j = 0; j < STRESS_SLOTS; j++) {
        if (slots[j].p != NULL && slots[j].in >= from) {
            n++;
            *bytes += slots[j].bytes;
        }
    }
    return n;
}

/* Forgets the slots that a reset of the context at level from released. */
static uint64_t stress_drop_from(stress_slot *slots, where from) {
    uint64_t n = 0;
    for (int j = 0; j < STRESS_SLOTS; j++) {
        if (slots[j].p != NULL && slots[j].in >= from) {
            slots[j].p = NULL;
            slots[j].in = WHERE_NONE;
            n++;
        }
    }
    return n;
}

/* Checks the exact per-context figures of a context against the slots. */
static void stress_check_context(const stress_worker *w, mm_context *ctx, const stress_slot *slots,
                                 where from, const char *what) {
    size_t bytes = 0;
    size_t blocks = stress_count_in(slots, from, &bytes);
    mm_stats s = mm_stats_total(ctx);
    CHECK(s.blocks == blocks && s.bytes == bytes,
          "thread %d: %s should hold %zu blocks / %zu bytes, mm_stats_total says %zu / %zu", w->id,
          what, blocks, bytes, s.blocks, s.bytes);
}

static void *stress_work(void *arg) {
    stress_worker *w = arg;
    uint64_t seed = 0x5EED0000u + (uint64_t)w->id * 7919u;
    stress_slot *slots = calloc(STRESS_SLOTS, sizeof *slots);
    CHECK(slots != NULL, "system calloc of the slot table failed");
    /* forest > module > scratch: three levels of nesting */
    mm_context *forest = mm_context_create("forest", NULL);
    CHECK(forest != NULL, "thread %d: creating the forest context failed", w->id);
    mm_context *module = mm_context_create("module", forest);
    mm_context *scratch = mm_context_create("scratch", module);
    CHECK(module != NULL && scratch != NULL, "thread %d: creating nested contexts failed", w->id);
    for (long i = 0; i < w->ops; i++) {
        uint64_t r = stress_rng(&seed);
        stress_slot *s = &slots[r % STRESS_SLOTS];
        size_t bytes = (size_t)((r >> 12) % 512);
        if ((r >> 24) % 64 == 0) bytes += 300000; /* now and then a large block */
        unsigned op = (unsigned)((r >> 40) % 16);
        if (s->p != NULL) {
            if (op < 3) { /* resize, keeping context and category */
                void *n = mm_realloc(s->p, bytes);
                CHECK(n != NULL, "thread %d: realloc to %zu failed", w->id, bytes);
                s->p = n;
                s->bytes = bytes;
            } else if (op < 5 && s->in == WHERE_PROCESS && stress_queue_put(s->p, w->id)) {
                w->handed_off++; /* another thread frees it */
                s->p = NULL;
                s->in = WHERE_NONE;
            } else {
                mm_free(s->p);
                w->frees++;
                s->p = NULL;
                s->in = WHERE_NONE;
            }
        } else {
            where in = (where)(WHERE_PROCESS + (r >> 48) % 4);
            mm_context *ctx = in == WHERE_PROCESS  ? NULL
                              : in == WHERE_FOREST ? forest
                              : in == WHERE_MODULE ? module
                                                   : scratch;
            mm_category cat = (r >> 56) % 2 ? w->cat : MM_CAT_HALOS;
            void *p;
            if (op == 0) {
                p = mm_context_calloc(ctx, 1, bytes, cat);
                CHECK(p == NULL || bytes == 0 || ((unsigned char *)p)[bytes - 1] == 0,
                      "thread %d: calloc memory should be zero", w->id);
            } else if (op == 1) {
                char text[24];
                snprintf(text, sizeof text, "t%d-%ld", w->id, i);
                p = mm_context_strdup(ctx, text, cat);
                bytes = strlen(text) + 1;
            } else {
                p = mm_context_malloc(ctx, bytes, cat);
            }
            CHECK(p != NULL, "thread %d: allocation of %zu bytes failed", w->id, bytes);
            memset(p, w->id, bytes < 64 ? bytes : 64);
            s->p = p;
            s->in = in;
            s->bytes = bytes;
            w->allocs++;
        }
        if (i % 16 == 15) { /* free a block some other thread handed over */
            void *q = stress_queue_take(w->id);
            if (q != NULL) {
                mm_free(q);
                w->frees++;
                w->taken++;
            }
        }
        if (i % STRESS_MODULE_OPS == STRESS_MODULE_OPS - 1) {
            /* a module ends: reset it (its scratch child goes with it) */
            stress_check_context(w, module, slots, WHERE_MODULE, "the module context");
            mm_context_reset(module);
            w->frees += stress_drop_from(slots, WHERE_MODULE);
            w->resets++;
            scratch = mm_context_create("scratch", module);
            CHECK(scratch != NULL, "thread %d: recreating scratch failed", w->id);
        }
        if (i % STRESS_FOREST_OPS == STRESS_FOREST_OPS - 1) {
            /* a forest ends: every context block goes, the children too */
            stress_check_context(w, forest, slots, WHERE_FOREST, "the forest context");
            mm_context_set_label(forest, "forest");
            mm_context_reset(forest);
            w->frees += stress_drop_from(slots, WHERE_FOREST);
            w->resets++;
            module = mm_context_create("module", forest);
            scratch = mm_context_create("scratch", module);
            CHECK(module != NULL && scratch != NULL, "thread %d: recreating children failed",
                  w->id);
        }
    }
    stress_check_context(w, forest, slots, WHERE_FOREST, "the forest context at the end");
    for (int j = 0; j < STRESS_SLOTS; j++) {
        if (slots[j].p != NULL && slots[j].in == WHERE_PROCESS) {
            mm_free(slots[j].p);
            w->frees++;
            slots[j].p = NULL;
        }
    }
    w->frees += stress_drop_from(slots, WHERE_FOREST); /* released by the destroy below */
    mm_context_destroy(forest);
    free(slots);
    return NULL;
}

static int stress_threads(int nthreads, long ops) {
    CHECK(nthreads >= 1 && nthreads <= STRESS_MAX_THREADS, "threads must be 1..%d",
          STRESS_MAX_THREADS);
    CHECK(ops >= nthreads, "at least one operation per thread");
    stress_worker w[STRESS_MAX_THREADS];
    pthread_t tid[STRESS_MAX_THREADS];
    mm_stats before = mm_stats_total(NULL);
    double t0 = stress_now();
    for (int i = 0; i < nthreads; i++) {
        char name[32];
        snprintf(name, sizeof name, "Stress %d", i);
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        w[i].ops = ops / nthreads + (i == 0 ? ops % nthreads : 0);
        w[i].cat = mm_category_register(name, "Stress");
        CHECK(w[i].cat != MM_CAT_INVALID, "registering %s failed", name);
    }
    for (int i = 0; i < nthreads; i++)
        CHECK(pthread_create(&tid[i], NULL, stress_work, &w[i]) == 0, "pthread_create failed");
    uint64_t allocs = 0, frees = 0, handed = 0, taken = 0, resets = 0;
    for (int i = 0; i < nthreads; i++) {
        CHECK(pthread_join(tid[i], NULL) == 0, "pthread_join failed");
        allocs += w[i].allocs;
        frees += w[i].frees;
        handed += w[i].handed_off;
        taken += w[i].taken;
        resets += w[i].resets;
    }
    /* blocks still queued: the main thread frees them */
    uint64_t leftover = 0;
    for (void *q; (q = stress_queue_take(-1)) != NULL; leftover++) mm_free(q);
    frees += leftover;
    double secs = stress_now() - t0;
    CHECK(handed == taken + leftover,
          "every handed-off block should be freed once: %llu queued, "
          "%llu taken, %llu left",
          (unsigned long long)handed, (unsigned long long)taken, (unsigned long long)leftover);
    mm_stats after = mm_stats_total(NULL);
    CHECK(after.bytes == before.bytes, "live bytes should return to %zu, got %zu", before.bytes,
          after.bytes);
    CHECK(after.blocks == before.blocks, "live blocks should return to %zu, got %zu", before.blocks,
          after.blocks);
    CHECK(after.allocs - before.allocs == allocs, "allocations should be %llu, got %llu",
          (unsigned long long)allocs, (unsigned long long)(after.allocs - before.allocs));
    CHECK(after.frees - before.frees == frees, "frees should be %llu, got %llu",
          (unsigned long long)frees, (unsigned long long)(after.frees - before.frees));
    CHECK(after.peak_bytes >= before.peak_bytes, "the peak never goes down");
    for (int i = 0; i < nthreads; i++) {
        mm_stats c = mm_stats_category(NULL, w[i].cat);
        CHECK(c.bytes == 0 && c.blocks == 0,
              "category of thread %d should be empty (%zu bytes, "
              "%zu blocks)",
              i, c.bytes, c.blocks);
    }
    mm_stats h = mm_stats_category(NULL, MM_CAT_HALOS);
    CHECK(h.bytes == 0 && h.blocks == 0, "Halos should be empty (%zu bytes, %zu blocks)", h.bytes,
          h.blocks);
    printf("stress threads: %d threads x %ld ops in %.2f s (%.1f Mops/s): %llu allocations, "
           "%llu frees, %llu handed between threads, %llu resets; totals exact\n",
           nthreads, ops, secs, (double)ops / secs / 1e6, (unsigned long long)allocs,
           (unsigned long long)frees, (unsigned long long)handed, (unsigned long long)resets);
    return 0;
}

/* ========================================================================
 * live COUNT
 * ====================================================================== */

typedef struct {
    double resident; /* resident set, bytes (0 when unknown) */
    double heap;     /* bytes the C library handed out, mmapped ones included (0 when unknown) */
} stress_mem;

static stress_mem stress_memory(void) {
    stress_mem m = {0.0, 0.0};
#ifdef __linux__
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        unsigned long size = 0, resident = 0;
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            m.resident = (double)resident * (double)sysconf(_SC_PAGESIZE);
        fclose(f);
    }
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    m.heap = (double)mi.uordblks + (double)mi.hblkhd;
#endif
    return m;
}

static void stress_print_overhead(const char *what, size_t count, size_t requested,
                                  stress_mem before, stress_mem after, double secs) {
    double rss = after.resident - before.resident, heap = after.heap - before.heap;
    printf("stress live %s: %zu blocks, %zu requested bytes (%.1f per block) in %.2f s\n", what,
           count, requested, (double)requested / (double)count, secs);
    printf("  resident growth %.0f bytes: overhead %.1f bytes per block\n", rss,
           (rss - (double)requested) / (double)count);
    if (after.heap > 0.0)
        printf("  C library heap growth %.0f bytes: overhead %.1f bytes per block\n", heap,
               (heap - (double)requested) / (double)count);
}

static void stress_expect_total(mm_stats base, size_t bytes, size_t blocks, uint64_t allocs,
                                uint64_t frees, const char *what) {
    mm_stats s = mm_stats_total(NULL);
    CHECK(s.bytes - base.bytes == bytes && s.blocks - base.blocks == blocks &&
              s.allocs - base.allocs == allocs && s.frees - base.frees == frees,
          "%s: process should show +%zu bytes, +%zu blocks, +%llu allocs, +%llu frees; got "
          "+%zu, +%zu, +%llu, +%llu",
          what, bytes, blocks, (unsigned long long)allocs, (unsigned long long)frees,
          s.bytes - base.bytes, s.blocks - base.blocks,
          (unsigned long long)(s.allocs - base.allocs), (unsigned long long)(s.frees - base.frees));
}

static int stress_live(size_t count) {
    CHECK(count >= 1, "COUNT must be at least 1");
    uint64_t seed = 42;
    /* the pointer table comes from the system and is touched before the baseline */
    void **ptrs = malloc(count * sizeof *ptrs);
    CHECK(ptrs != NULL, "system malloc of %zu pointers failed", count);
    memset(ptrs, 0, count * sizeof *ptrs);

    /* ---- process-wide blocks ---- */
    mm_stats base = mm_stats_total(NULL);
    stress_mem m0 = stress_memory();
    double t0 = stress_now();
    size_t requested = 0;
    for (size_t i = 0; i < count; i++) {
        size_t bytes = 16 + (size_t)(stress_rng(&seed) % 49);
        ptrs[i] = mm_malloc(bytes, MM_CAT_GALAXIES);
        CHECK(ptrs[i] != NULL, "mm_malloc of block %zu failed", i);
        requested += bytes;
    }
    double secs = stress_now() - t0;
    stress_mem m1 = stress_memory();
    stress_expect_total(base, requested, count, count, 0, "with every process-wide block live");
    mm_stats g = mm_stats_category(NULL, MM_CAT_GALAXIES);
    CHECK(g.blocks >= count && g.bytes >= requested, "Galaxies should hold them all");
    stress_print_overhead("process-wide", count, requested, m0, m1, secs);
    for (size_t i = 0; i < count; i++) mm_free(ptrs[i]);
    stress_expect_total(base, 0, 0, count, count, "after freeing every process-wide block");
    free(ptrs);
#ifdef __GLIBC__
    malloc_trim(0); /* give the freed pages back, so the next phase measures its own growth */
#endif

    /* ---- context blocks ---- */
    base = mm_stats_total(NULL);
    mm_context *ctx = mm_context_create("live", NULL);
    CHECK(ctx != NULL, "creating the context failed");
    m0 = stress_memory();
    t0 = stress_now();
    requested = 0;
    seed = 42;
    for (size_t i = 0; i < count; i++) {
        size_t bytes = 16 + (size_t)(stress_rng(&seed) % 49);
        CHECK(mm_context_malloc(ctx, bytes, MM_CAT_HALOS) != NULL,
              "mm_context_malloc of block %zu failed", i);
        requested += bytes;
    }
    secs = stress_now() - t0;
    m1 = stress_memory();
    stress_expect_total(base, requested, count, count, 0, "with every context block live");
    mm_stats c = mm_stats_total(ctx);
    CHECK(c.bytes == requested && c.blocks == count && c.peak_bytes == requested,
          "the context should hold %zu bytes in %zu blocks (peak too); got %zu in %zu, peak %zu",
          requested, count, c.bytes, c.blocks, c.peak_bytes);
    stress_print_overhead("context", count, requested, m0, m1, secs);
    t0 = stress_now();
    mm_context_destroy(ctx);
    printf("  destroy of the context: %.3f s\n", stress_now() - t0);
    stress_expect_total(base, 0, 0, count, count, "after destroying the context");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "threads") == 0)
        return stress_threads(atoi(argv[2]), atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "live") == 0)
        return stress_live((size_t)strtoull(argv[2], NULL, 10));
    fprintf(stderr, "usage: stress threads N OPS | stress live COUNT\n");
    return 2;
}
