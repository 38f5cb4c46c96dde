/* The per-thread chunk caches (src/arena/chunk.c): a destroyed context's
 * chunks stay with the thread that destroyed it and come back to its next
 * context; two threads carve their chunks from regions of their own;
 * mm_trim empties every thread's cache; an exiting thread's cache is parked
 * and taken over whole by the next thread that needs chunks; the caches and
 * the process-wide lists together stay under the cap. Reads the library's
 * internal figures (includes src/ headers, as test_internals does). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../../src/alloc/alloc.h"
#include "mm_test.h"

/* A forest of the benchmark: 1,500 blocks of 104 B. Returns the
 * context; *chunk: the chunk of its first block; *held: its chunk bytes. */
static mm_context *make_forest(uintptr_t *chunk, size_t *held) {
    mm_context *ctx = mmt_context("forest", NULL);
    for (int i = 0; i < 1500; i++) {
        char *p = mm_context_malloc(ctx, 104, MM_CAT_HALOS);
        cr_assert_not_null(p, "block %d of the forest", i);
        if (i == 0 && chunk) *chunk = (uintptr_t)p & ~(uintptr_t)(MMI_CHUNK_MIN - 1);
    }
    if (held) *held = mmi_load(&ctx->arena.chunk_bytes);
    return ctx;
}

/* Blocks of 64 KiB up to bytes in a new context, destroyed at once: its
 * chunks (8 KiB .. 1 MiB) go to the calling thread's cache. Returns the
 * chunk bytes it held. */
static size_t destroy_big_forest(size_t bytes) {
    mm_context *ctx = mmt_context("big forest", NULL);
    for (size_t n = 0; n < bytes; n += 64 * 1024) {
        char *p = mm_context_malloc(ctx, 64 * 1024, MM_CAT_HALOS);
        cr_assert_not_null(p, "a block of 64 KiB at %zu bytes", n);
        p[0] = 1;
    }
    size_t held = mmi_load(&ctx->arena.chunk_bytes);
    mm_context_destroy(ctx);
    return held;
}

Test(chunk_cache, a_destroyed_contexts_chunks_come_back_to_the_same_threads_next_context) {
    mm_trim();
    uintptr_t first = 0, again = 0;
    size_t held = 0;
    mm_context *ctx = make_forest(&first, &held);
    cr_assert_gt(held, 0, "the forest holds chunks");
    mm_context_destroy(ctx);
    cr_expect_eq(mmi_chunk_cached_bytes(), held,
                 "every chunk of the destroyed context (%zu bytes) is in this thread's cache, "
                 "%zu bytes are", held, mmi_chunk_cached_bytes());
    ctx = make_forest(&again, NULL);
    cr_expect_eq(again, first, "the next forest starts in the same chunk (%#zx), not %#zx",
                 (size_t)first, (size_t)again);
    cr_expect_eq(mmi_chunk_cached_bytes(), 0,
                 "the next forest of the same shape takes every cached chunk back, %zu bytes left",
                 mmi_chunk_cached_bytes());
    mm_context_destroy(ctx);
}

Test(chunk_cache, mm_trim_gives_the_calling_threads_cache_back) {
    mm_trim();
    size_t held = destroy_big_forest(4u << 20);
    cr_assert_eq(mmi_chunk_cached_bytes(), held, "the 4 MiB forest's chunks are cached");
    size_t released = mm_trim();
    cr_expect_geq(released, held, "mm_trim releases the cached %zu bytes (released %zu)", held,
                  released);
    cr_expect_eq(mmi_chunk_cached_bytes(), 0, "nothing stays in the cache after mm_trim");
    cr_expect_eq(mmi_chunk_dead_bytes(), 0, "no dead chunk stays resident after mm_trim");
    cr_expect_eq(mm_trim(), 0, "a second mm_trim has nothing left to release");
}

/* A worker that destroys a forest, then waits until told to go on. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;          /* 1: the worker's forest is destroyed; 2: main is done */
    size_t held;        /* chunk bytes the worker's forest held */
    size_t cached;      /* the worker's cache after its destroy */
    size_t cached_after; /* the worker's cache once main is done */
} idle_worker;

static void stage_set(idle_worker *w, int stage) {
    pthread_mutex_lock(&w->mu);
    w->stage = stage;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void stage_wait(idle_worker *w, int stage) {
    pthread_mutex_lock(&w->mu);
    while (w->stage < stage) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void *idle_worker_main(void *arg) {
    idle_worker *w = arg;
    w->held = destroy_big_forest(2u << 20);
    w->cached = mmi_chunk_cached_bytes();
    stage_set(w, 1);
    stage_wait(w, 2);
    w->cached_after = mmi_chunk_cached_bytes();
    return NULL;
}

Test(chunk_cache, mm_trim_on_one_thread_empties_an_idle_threads_cache) {
    mm_trim();
    idle_worker w = {.stage = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, idle_worker_main, &w), 0, "a worker starts");
    stage_wait(&w, 1);
    size_t released = mm_trim();
    stage_set(&w, 2);
    pthread_join(t, NULL);
    cr_expect_eq(w.cached, w.held, "the worker's destroyed forest (%zu bytes) is in its cache",
                 w.held);
    cr_expect_geq(released, w.held,
                  "mm_trim on the main thread releases the idle worker's cache (%zu bytes; "
                  "released %zu)", w.held, released);
    cr_expect_eq(w.cached_after, 0, "the worker's cache is empty after the trim (%zu bytes)",
                 w.cached_after);
}

static void *exit_worker_main(void *arg) {
    uintptr_t *chunk = arg;
    size_t held = 0;
    mm_context *ctx = make_forest(chunk, &held);
    mm_context_destroy(ctx);
    cr_expect_eq(mmi_chunk_cached_bytes(), held, "the worker's chunks are cached before it exits");
    return NULL;
}

Test(chunk_cache, an_exiting_thread_gives_its_cache_to_the_next_context_of_any_thread) {
    mm_trim();
    uintptr_t worker_chunk = 0, main_chunk = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, exit_worker_main, &worker_chunk), 0, "a worker starts");
    pthread_join(t, NULL);
    size_t dead = mmi_chunk_dead_bytes();
    cr_expect_gt(dead, 0, "the exited worker's chunks wait, resident, in its parked cache");
    cr_expect_eq(mmi_chunk_cached_bytes(), 0, "the main thread has no cache of its own yet");
    mm_context *ctx = make_forest(&main_chunk, NULL);
    cr_expect_eq(main_chunk, worker_chunk,
                 "the main thread's forest starts in the worker's first chunk (%#zx), not %#zx",
                 (size_t)worker_chunk, (size_t)main_chunk);
    cr_expect_eq(mmi_chunk_dead_bytes(), 0,
                 "the forest of the same shape takes every chunk the worker left (%zu of %zu "
                 "bytes left)", mmi_chunk_dead_bytes(), dead);
    mm_context_destroy(ctx);
}

/* Many threads each destroy more than a cache may hold and stay alive. */
#define CAP_THREADS 12
typedef struct {
    idle_worker *w;     /* shared stage */
    size_t cached;      /* this thread's cache after its destroy */
} cap_arg;

static pthread_mutex_t cap_mu = PTHREAD_MUTEX_INITIALIZER;
static int cap_ready;

static void *cap_worker_main(void *arg) {
    cap_arg *a = arg;
    destroy_big_forest(12u << 20);
    a->cached = mmi_chunk_cached_bytes();
    pthread_mutex_lock(&cap_mu);
    cap_ready++;
    pthread_mutex_unlock(&cap_mu);
    pthread_mutex_lock(&a->w->mu);
    pthread_cond_broadcast(&a->w->cv);
    pthread_mutex_unlock(&a->w->mu);
    stage_wait(a->w, 2);
    return NULL;
}

Test(chunk_cache, the_caches_and_the_process_lists_together_stay_under_the_cap) {
    mm_trim();
    idle_worker w = {.stage = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t t[CAP_THREADS];
    cap_arg a[CAP_THREADS];
    for (int i = 0; i < CAP_THREADS; i++) {
        a[i] = (cap_arg){&w, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, cap_worker_main, &a[i]), 0, "worker %d starts", i);
    }
    pthread_mutex_lock(&w.mu);
    for (;;) {
        pthread_mutex_lock(&cap_mu);
        int ready = cap_ready;
        pthread_mutex_unlock(&cap_mu);
        if (ready == CAP_THREADS) break;
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    size_t dead = mmi_chunk_dead_bytes(), cached = 0;
    for (int i = 0; i < CAP_THREADS; i++) {
        cr_expect_leq(a[i].cached, MMI_DEAD_THREAD_MAX, "worker %d caches %zu bytes, at most %zu",
                      i, a[i].cached, MMI_DEAD_THREAD_MAX);
        cached += a[i].cached;
    }
    cr_expect_leq(dead, MMI_DEAD_MAX,
                  "%d threads that destroyed 12 MiB each keep %zu dead bytes resident, at most "
                  "the cap of %zu", CAP_THREADS, dead, MMI_DEAD_MAX);
    cr_expect_geq(cached, MMI_DEAD_MAX / 2,
                  "the threads' caches hold at least half the cap (%zu bytes)", cached);
    stage_set(&w, 2);
    for (int i = 0; i < CAP_THREADS; i++) pthread_join(t[i], NULL);
    cr_expect_leq(mmi_chunk_dead_bytes(), MMI_DEAD_MAX,
                  "once the threads exited, the process lists keep %zu bytes, at most the cap",
                  mmi_chunk_dead_bytes());
}

Test(chunk_cache, a_reset_beyond_its_retain_cap_caches_what_it_drops) {
    mm_trim();
    mm_context *ctx = mmt_context("forest", NULL);
    mm_context_set_retain(ctx, 0);
    for (int i = 0; i < 1500; i++) cr_assert_not_null(mm_context_malloc(ctx, 104, MM_CAT_HALOS));
    size_t held = mmi_load(&ctx->arena.chunk_bytes);
    mm_context_reset(ctx);
    cr_expect_eq(mmi_chunk_cached_bytes(), held,
                 "a reset that keeps nothing puts its %zu chunk bytes in this thread's cache",
                 held);
    mm_context_destroy(ctx);
}

/* Two threads that each fill a forest at the same time: the 1 MiB regions
 * (aligned) that hold one thread's chunks hold none of the other's. */
#define REGION_SHIFT 20
#define REGION_FORESTS 8
typedef struct {
    pthread_barrier_t *go;
    uintptr_t regions[REGION_FORESTS * 64]; /* 1 MiB regions of its chunks, unsorted */
    int nregions;
} region_arg;

/* A chunk (at most 1 MiB, aligned to its size) lies in one 1 MiB region:
 * its blocks' addresses name it (headers are closed under a tool). */
static void region_note(region_arg *a, const void *p) {
    uintptr_t r = (uintptr_t)p >> REGION_SHIFT;
    for (int i = 0; i < a->nregions; i++)
        if (a->regions[i] == r) return;
    if (a->nregions < (int)(sizeof a->regions / sizeof a->regions[0])) a->regions[a->nregions++] = r;
}

static void *region_worker(void *arg) {
    region_arg *a = arg;
    mm_context *ctx[REGION_FORESTS];
    for (int f = 0; f < REGION_FORESTS; f++) {
        ctx[f] = mm_context_create("forest", NULL);
        if (ctx[f] == NULL) return NULL;
    }
    pthread_barrier_wait(a->go);
    /* the two threads' allocations alternate as closely as the scheduler
     * lets them: each block a chunk refill at its own time */
    for (int i = 0; i < 1500; i++)
        for (int f = 0; f < REGION_FORESTS; f++) {
            char *p = mm_context_malloc(ctx[f], 104 + 8 * (size_t)f, MM_CAT_HALOS);
            if (p == NULL) return NULL;
            region_note(a, p);
        }
    pthread_barrier_wait(a->go);
    for (int f = 0; f < REGION_FORESTS; f++) mm_context_destroy(ctx[f]);
    return a;
}

Test(chunk_cache, two_threads_carve_their_chunks_from_regions_of_their_own) {
    mm_trim();
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    static region_arg a[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (region_arg){.go = &go};
        cr_assert_eq(pthread_create(&t[i], NULL, region_worker, &a[i]), 0, "worker %d starts", i);
    }
    void *done[2];
    for (int i = 0; i < 2; i++) pthread_join(t[i], &done[i]);
    cr_assert(done[0] && done[1], "both workers filled their forests");
    cr_assert_gt(a[0].nregions, 0, "the first worker's chunks are somewhere");
    for (int i = 0; i < a[0].nregions; i++)
        for (int j = 0; j < a[1].nregions; j++)
            cr_expect_neq(a[0].regions[i], a[1].regions[j],
                          "the 1 MiB region at %#zx holds chunks of both threads",
                          (size_t)(a[0].regions[i] << REGION_SHIFT));
    pthread_barrier_destroy(&go);
}

/* A thread with a cache of its own that runs out of its own chunks takes
 * over an exited thread's parked cache before it maps new memory. */
static void *park_worker_main(void *arg) {
    size_t *held = arg;
    *held = destroy_big_forest(2u << 20);
    return NULL;
}

Test(chunk_cache, a_thread_that_runs_out_takes_over_a_parked_cache) {
    mm_trim();
    /* the main thread's own region used up: a live context holds it */
    mm_context *big = mmt_context("holds the first region", NULL);
    for (int i = 0; i < 64; i++) cr_assert_not_null(mm_context_malloc(big, 64 * 1024, MM_CAT_TREES));
    size_t held = 0;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, park_worker_main, &held), 0, "a worker starts");
    pthread_join(t, NULL);
    cr_assert_eq(mmi_chunk_dead_bytes(), held,
                 "the exited worker's %zu bytes wait in its parked cache (%zu dead)", held,
                 mmi_chunk_dead_bytes());
    cr_assert_eq(mmi_chunk_cached_bytes(), 0, "the main thread's own cache holds nothing yet");
    destroy_big_forest(2u << 20);
    cr_expect_geq(mmi_chunk_cached_bytes(), held,
                  "the main thread's cache took the parked one over (%zu bytes; the worker "
                  "left %zu)", mmi_chunk_cached_bytes(), held);
    cr_expect_eq(mmi_chunk_dead_bytes(), mmi_chunk_cached_bytes(),
                 "every dead chunk is the main thread's now: %zu dead bytes, %zu in its cache",
                 mmi_chunk_dead_bytes(), mmi_chunk_cached_bytes());
    mm_context_destroy(big);
}
