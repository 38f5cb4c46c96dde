/* The per-thread cache of freed process-wide blocks (src/stats/cache.c): its
 * cap follows the thread's live bytes (four times them, between the floor
 * and the 4 MiB ceiling), a byte count fixes it, off keeps nothing, a falling cap
 * gives the excess back, mm_trim gives everything back, and another thread
 * follows a change of the option at its next fold (256 KiB of change of
 * its total). Reads the thread's
 * record (includes src/ headers, as test_internals does). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "../../src/stats/stats.h"
#include "mm_test.h"

#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)
#define SMALL 8192   /* a cacheable block: above 4,104 B its capacity is its size */
#define BALLAST (128 * KIB) /* a big block: never cached, but live */

/* The calling thread's record, created by a first allocation. */
static mmi_thread *cache_thread(void) {
    mm_free(mm_malloc(16, MM_CAT_HALOS));
    cr_assert_not_null(mmi_tls, "the first allocation creates the thread's record");
    return mmi_tls;
}

/* n blocks of bytes each into out[]. */
static void cache_fill(void **out, size_t n, size_t bytes) {
    for (size_t i = 0; i < n; i++) {
        out[i] = mm_malloc(bytes, MM_CAT_HALOS);
        cr_assert_not_null(out[i], "block %zu of %zu bytes", i, bytes);
    }
}

static void cache_free(void **blocks, size_t n) {
    for (size_t i = 0; i < n; i++) mm_free(blocks[i]);
}

static void cache_option(const char *value) {
    cr_assert_eq(mm_option_set("cache", value), 0, "mm_option_set(\"cache\", \"%s\")", value);
}

static const char *cache_option_text(char *buf, size_t len) {
    cr_assert_eq(mm_option_get("cache", buf, len), 0, "the option \"cache\" exists");
    return buf;
}

Test(cache, the_option_reads_on_while_adaptive_and_bytes_when_fixed) {
    char buf[64];
    cache_option("on");
    cr_expect_str_eq(cache_option_text(buf, sizeof buf), "on", "\"on\" is the adaptive cap");
    cache_option("4M");
    cr_expect_str_eq(cache_option_text(buf, sizeof buf), "4194304", "4M is a fixed cap");
    cache_option("off");
    cr_expect_str_eq(cache_option_text(buf, sizeof buf), "0", "off reads 0");
}

Test(cache, a_thread_with_little_live_caches_at_most_the_floor) {
    cache_option("on");
    mmi_thread *t = cache_thread();
    mm_trim();
    cr_expect_eq(t->cache.cap, MMI_CACHE_FLOOR_BYTES, "with nothing live the cap is the floor");
    static void *blocks[128]; /* 1 MiB, all freed: at most 64 KiB live at the last slow path */
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_expect_eq(t->cache.cap, MMI_CACHE_FLOOR_BYTES, "with little live the cap is the floor "
                 "(%zu bytes); it is %zu", MMI_CACHE_FLOOR_BYTES, t->cache.cap);
    cr_expect_leq(t->cache.bytes, MMI_CACHE_FLOOR_BYTES, "the cache holds %zu bytes, above the "
                  "floor", t->cache.bytes);
    cr_expect_gt(t->cache.bytes, MMI_CACHE_FLOOR_BYTES - SMALL, "the cache fills up to the floor "
                 "(it holds %zu bytes)", t->cache.bytes);
}

Test(cache, a_thread_with_more_live_caches_four_times_it) {
    cache_option("on");
    mmi_thread *t = cache_thread();
    mm_trim();
    static void *ballast[4], *blocks[128];
    cache_fill(ballast, 4, BALLAST); /* 512 KiB live: the cap is about 2 MiB */
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_expect_geq(t->cache.cap, 4 * 512 * KIB, "512 KiB live: the cap (%zu) is at least 2 MiB",
                  t->cache.cap);
    cr_expect_leq(t->cache.cap, 4 * (512 + 64 + 1) * KIB, "less than 577 KiB live at the last "
                  "slow path: the cap (%zu) is at most four times that", t->cache.cap);
    cr_expect_geq(t->cache.bytes, 128 * SMALL, "all 1 MiB freed fits under the cap (the "
                  "cache holds %zu bytes)", t->cache.bytes);
    cache_free(ballast, 4);
    cr_expect_eq(t->cache.cap, MMI_CACHE_FLOOR_BYTES, "with the ballast freed the cap falls back "
                 "to the floor; it is %zu", t->cache.cap);
    cr_expect_leq(t->cache.bytes, MMI_CACHE_FLOOR_BYTES, "a falling cap gives the excess back "
                  "(the cache holds %zu bytes)", t->cache.bytes);
}

Test(cache, the_adaptive_cap_never_exceeds_4_MiB) {
    cache_option("on");
    mmi_thread *t = cache_thread();
    static void *ballast[16];
    cache_fill(ballast, 16, BALLAST); /* four times 2 MiB is 8 MiB */
    cr_expect_eq(t->cache.cap, MMI_DEFAULT_CACHE_BYTES, "2 MiB live: the cap is the 4 MiB "
                 "ceiling; it is %zu", t->cache.cap);
    cache_free(ballast, 16);
}

Test(cache, a_fixed_value_is_honoured_exactly_whatever_is_live) {
    cache_option("100K");
    mmi_thread *t = cache_thread();
    cr_expect_eq(t->cache.cap, 100 * KIB, "cache 100K: the cap is 102400 bytes");
    static void *ballast[16], *blocks[128];
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_expect_leq(t->cache.bytes, 100 * KIB, "with little live the cache holds at most 100K "
                  "(it holds %zu)", t->cache.bytes);
    cr_expect_gt(t->cache.bytes, 100 * KIB - SMALL, "the cache fills up to 100K (it holds %zu)",
                 t->cache.bytes);
    cache_fill(ballast, 16, BALLAST);
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_expect_eq(t->cache.cap, 100 * KIB, "with 2 MiB live the cap stays 100K; it is %zu",
                 t->cache.cap);
    cr_expect_leq(t->cache.bytes, 100 * KIB, "with 2 MiB live the cache still holds at most "
                  "100K (it holds %zu)", t->cache.bytes);
    cache_free(ballast, 16);
}

Test(cache, off_keeps_nothing_and_empties_the_cache) {
    cache_option("4M");
    mmi_thread *t = cache_thread();
    static void *blocks[128];
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_assert_geq(t->cache.bytes, 128 * SMALL, "under 4M the 1 MiB freed is cached");
    cache_option("off");
    cr_expect_eq(t->cache.cap, 0, "off: the cap is 0");
    cr_expect_eq(t->cache.bytes, 0, "turning the cache off gives the calling thread's cached "
                 "blocks back (it holds %zu)", t->cache.bytes);
    cache_fill(blocks, 128, SMALL);
    cache_free(blocks, 128);
    cr_expect_eq(t->cache.bytes, 0, "off: nothing freed is cached (it holds %zu)",
                 t->cache.bytes);
}

Test(cache, mm_trim_gives_every_cached_block_back) {
    cache_option("4M");
    mmi_thread *t = cache_thread();
    static void *blocks[256];
    cache_fill(blocks, 128, SMALL);
    cache_fill(blocks + 128, 128, 40); /* an exact bin too */
    cache_free(blocks, 256);
    size_t cached = t->cache.bytes;
    cr_assert_geq(cached, 128 * SMALL, "the freed blocks are cached (%zu bytes)", cached);
    size_t released = mm_trim();
    cr_expect_geq(released, cached, "mm_trim releases the %zu cached bytes (released %zu)",
                  cached, released);
    cr_expect_eq(t->cache.bytes, 0, "nothing stays cached after mm_trim (%zu bytes)",
                 t->cache.bytes);
    for (unsigned bin = 0; bin < MMI_CACHE_BINS; bin++)
        cr_expect_null(t->cache.head[bin], "bin %u is empty after mm_trim", bin);
    cr_expect_eq(t->cache.cap, 4 * MIB, "mm_trim leaves the cap as it was");
}

/* A worker that allocates once, waits for main to change the option, then
 * grows by 256 KiB (a fold) and reports its cap. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;        /* 1: the worker has a record; 2: main changed the option */
    size_t cap_before; /* the worker's cap before its fold */
    size_t cap_after;  /* the worker's cap after it */
} cache_worker;

static void worker_stage(cache_worker *w, int stage, bool wait) {
    pthread_mutex_lock(&w->mu);
    if (wait)
        while (w->stage < stage) pthread_cond_wait(&w->cv, &w->mu);
    else {
        w->stage = stage;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg) {
    cache_worker *w = arg;
    mmi_thread *t = cache_thread();
    worker_stage(w, 1, false);
    worker_stage(w, 2, true);
    w->cap_before = t->cache.cap;
    static void *blocks[32];
    cache_fill(blocks, 32, SMALL); /* 256 KiB: a fold */
    w->cap_after = t->cache.cap;
    cache_free(blocks, 32);
    return NULL;
}

Test(cache, another_thread_follows_the_option_at_its_next_fold) {
    cache_option("on");
    cache_worker w = {.stage = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, worker_main, &w), 0, "a worker starts");
    worker_stage(&w, 1, true);
    cache_option("64K");
    worker_stage(&w, 2, false);
    pthread_join(th, NULL);
    cr_expect_eq(w.cap_before, MMI_CACHE_FLOOR_BYTES, "until its next fold the worker keeps "
                 "its floor (%zu)", w.cap_before);
    cr_expect_eq(w.cap_after, 64 * KIB, "after its fold the worker's cap is the fixed 64K "
                 "(%zu)", w.cap_after);
}
