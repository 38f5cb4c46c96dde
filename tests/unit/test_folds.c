/* The process figures' folds (src/stats/stats.c): a thread folds its
 * pending bytes into the global sums once they are 256 KiB above or below
 * what it folded last, and takes a slow path every 64 KiB between. Checked
 * here: a context per forest of 156,000 bytes, made and destroyed again and
 * again, never writes the global sums; the view another thread's unfolded
 * frees leave above the sum costs one exact sum per 64 KiB, not one per
 * free, and fails no limit; the process peak is missed by less than 256 KiB
 * per other thread, and is never above a value the sum had; a process limit
 * is passed by less than 256 KiB per other thread; a thread rising between
 * folds reads the sums every 64 KiB; a thread that only frees another's
 * blocks sums at its first free. Reads the global sums
 * (includes src/ headers, as test_internals does). Each test runs in its own
 * process. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../../src/stats/stats.h"
#include "mm_test.h"

#define KIB ((size_t)1024)
#define BLOCK ((size_t)4096)
#define GALAXY 104
#define FOREST_GALAXIES 1500 /* 156,000 bytes: the forest of issue 16 */

/* ------------------------------------------------------------------------
 * A second thread that allocates n blocks of size bytes, frees the first
 * nfree of them, then stays alive, its pending bytes unfolded, until main
 * releases it (and it frees the rest).
 * ---------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage;    /* 1: the worker is done and waits; 2: main releases it */
    size_t size, n, nfree;
    void *blocks[128];
} folds_worker;

static void folds_stage(folds_worker *w, int stage, bool wait) {
    pthread_mutex_lock(&w->mu);
    if (wait) {
        while (w->stage < stage) pthread_cond_wait(&w->cv, &w->mu);
    } else {
        w->stage = stage;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *folds_worker_main(void *arg) {
    folds_worker *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        w->blocks[i] = mm_malloc(w->size, MM_CAT_HALOS);
        cr_assert_not_null(w->blocks[i], "the worker's block %zu", i);
    }
    for (size_t i = 0; i < w->nfree; i++) mm_free(w->blocks[i]);
    folds_stage(w, 1, false);
    folds_stage(w, 2, true);
    for (size_t i = w->nfree; i < w->n; i++) mm_free(w->blocks[i]);
    return NULL;
}

static void folds_worker_start(folds_worker *w, pthread_t *th, size_t size, size_t n,
                               size_t nfree) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->size = size;
    w->n = n;
    w->nfree = nfree;
    cr_assert_leq(n, sizeof w->blocks / sizeof w->blocks[0], "at most 128 blocks");
    cr_assert_eq(pthread_create(th, NULL, folds_worker_main, w), 0, "the worker starts");
    folds_stage(w, 1, true);
}

static void folds_worker_end(folds_worker *w, pthread_t th) {
    folds_stage(w, 2, false);
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

/* The global sums of the total and of the category, read after every
 * allocation and destroy: a forest of 156,000 bytes never moves them. */
Test(folds, a_context_per_forest_of_156_000_bytes_never_writes_the_global_sums) {
    int64_t total = mmi_load(&mmi_g_total.flushed);
    int64_t cat = mmi_load(&mmi_g_cat[MM_CAT_GALAXIES].flushed);
    int moved = 0;
    for (int f = 0; f < 50; f++) {
        mm_context *ctx = mm_context_create("forest", NULL);
        cr_assert_not_null(ctx, "forest %d", f);
        for (int i = 0; i <= FOREST_GALAXIES; i++) {
            if (i < FOREST_GALAXIES)
                cr_assert_not_null(mm_context_malloc(ctx, GALAXY, MM_CAT_GALAXIES), "galaxy %d", i);
            else
                mm_context_destroy(ctx);
            int64_t t = mmi_load(&mmi_g_total.flushed);
            int64_t c = mmi_load(&mmi_g_cat[MM_CAT_GALAXIES].flushed);
            if ((t != total || c != cat) && moved++ == 0)
                cr_expect_fail("forest %d, %s %d: the global sums moved (total %lld -> %lld, "
                               "category %lld -> %lld)", f + 1, i < FOREST_GALAXIES ? "galaxy" :
                               "destroyed after galaxy", i, (long long)total, (long long)t,
                               (long long)cat, (long long)c);
            total = t, cat = c;
        }
    }
    cr_expect_eq(moved, 0, "50 forests moved the global sums %d times", moved);
    mmt_expect_total(0, FOREST_GALAXIES * GALAXY, 0, 50 * FOREST_GALAXIES,
                     50 * FOREST_GALAXIES, "every forest destroyed: nothing live, the peak one "
                     "forest");
}

/* The worker of the next two tests: 70 blocks of 4 KiB (a fold at the 64th,
 * 262,144 bytes), 50 of them freed again: 81,920 bytes live, and the others'
 * view of it 180,224 bytes too high until it folds. */
static void folds_worker_above(folds_worker *w, pthread_t *th) {
    folds_worker_start(w, th, BLOCK, 70, 50);
    cr_assert_eq(mmi_load(&mmi_g_total.flushed), 64 * (int64_t)BLOCK, "the worker folded its "
                 "rise at 256 KiB, and not its fall");
}

Test(folds, another_threads_unfolded_frees_cost_one_exact_sum_per_64_KiB_not_one_per_free) {
    pthread_t th;
    folds_worker w;
    folds_worker_above(&w, &th);
    void *b[25];
    for (int i = 0; i < 25; i++) b[i] = mm_malloc(BLOCK, MM_CAT_HALOS);
    /* main's view of the sum is 180,224 bytes too high: past any peak it
     * has recorded, so its first free sums */
    uint64_t before = mmi_stats_turn_sums();
    for (int i = 24; i >= 0; i--) mm_free(b[i]);
    uint64_t sums = mmi_stats_turn_sums() - before;
    /* two figures (the total, the category), each summing at its first free
     * and once more 64 KiB lower; summing at every free would be 50 */
    cr_expect_geq(sums, 2, "the first free finds each figure's view above its peak and sums");
    cr_expect_leq(sums, 4, "100 KiB freed in 25 frees: at most one exact sum per 64 KiB per "
                  "figure, got %llu", (unsigned long long)sums);
    mm_stats s = mm_stats_total(NULL);
    cr_expect_eq(s.peak_bytes, 70 * BLOCK, "the peak is the worker's 286,720 bytes, not main's "
                 "view of 364,544 (%zu)", s.peak_bytes);
    folds_worker_end(&w, th);
}

/* Warnings of the process limit, counted. */
static int folds_warnings;
static void folds_log(mm_log_level level, const char *msg, void *user) {
    (void)msg;
    (void)user;
    if (level == MM_LOG_WARNING) folds_warnings++;
}

Test(folds, another_threads_unfolded_frees_fail_no_process_limit_and_warn_not) {
    pthread_t th;
    folds_worker w;
    folds_worker_above(&w, &th);
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_log_handler(folds_log, NULL);
    mm_limit_set(NULL, MM_CAT_INVALID, 250000);
    mm_limit_set(NULL, MM_CAT_HALOS, 250000);
    void *b[25];
    for (int i = 0; i < 25; i++) {
        b[i] = mm_malloc(BLOCK, MM_CAT_HALOS); /* 184,320 bytes live in the end */
        cr_expect_not_null(b[i], "block %d: the process holds %zu bytes of its 250,000", i,
                           81920 + (size_t)i * BLOCK);
    }
    mmt_expect_no_error(&rec, "184,320 bytes under a limit of 250,000");
    cr_expect_eq(folds_warnings, 0, "184,320 bytes is 74%% of the limit: no warning");
    void *over = mm_malloc(80000, MM_CAT_HALOS);
    cr_expect_null(over, "264,320 bytes pass the limit");
    cr_expect_eq(rec.kind, MM_ERR_LIMIT, "an MM_ERR_LIMIT error (%s)", rec.message);
    cr_expect(strstr(rec.message, "over its limit of") != NULL, "the message names the limit: %s",
              rec.message);
    for (int i = 0; i < 25; i++) mm_free(b[i]);
    folds_worker_end(&w, th);
}

/* The worker of the next two tests holds 37 blocks of 16 KiB, 606,208 bytes:
 * folded at 262,144 and 524,288, 81,920 bytes unfolded. Main's part is
 * 311,296 bytes, past its own first fold: with folds as far apart as both
 * parts (an error in MMI_BATCH) the peak would miss the smaller part. */
#define WORKER_BLOCK ((size_t)16384)
#define WORKER_BLOCKS 37
#define MAIN_BLOCK ((size_t)8192)
#define MAIN_BLOCKS 38

Test(folds, a_peak_reached_while_another_thread_holds_bytes_is_missed_by_less_than_256_KiB) {
    void *b[MAIN_BLOCKS];
    for (int i = 0; i < MAIN_BLOCKS; i++) b[i] = mm_malloc(MAIN_BLOCK, MM_CAT_HALOS);
    for (int i = 0; i < MAIN_BLOCKS; i++) mm_free(b[i]);
    pthread_t th;
    folds_worker w;
    folds_worker_start(&w, &th, WORKER_BLOCK, WORKER_BLOCKS, 0);
    for (int i = 0; i < MAIN_BLOCKS; i++) b[i] = mm_malloc(MAIN_BLOCK, MM_CAT_HALOS);
    for (int i = 0; i < MAIN_BLOCKS; i++) mm_free(b[i]);
    size_t truth = WORKER_BLOCKS * WORKER_BLOCK + MAIN_BLOCKS * MAIN_BLOCK;
    size_t peak = mm_stats_total(NULL).peak_bytes;
    cr_expect_leq(peak, truth, "the peak (%zu) is a value the sum had", peak);
    cr_expect_gt(peak + 256 * KIB, truth, "the peak (%zu) is within 256 KiB of the sum's %zu "
                 "(one other thread)", peak, truth);
    folds_worker_end(&w, th);
}

Test(folds, a_process_limit_is_passed_by_less_than_256_KiB_per_other_thread) {
    pthread_t th;
    folds_worker w;
    folds_worker_start(&w, &th, WORKER_BLOCK, WORKER_BLOCKS, 0);
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_log_handler(folds_log, NULL); /* the warning at 90% */
    mm_limit_set(NULL, MM_CAT_INVALID, 1000000);
    static void *b[128];
    size_t n = 0;
    while (n < 128 && (b[n] = mm_malloc(MAIN_BLOCK, MM_CAT_HALOS)) != NULL) n++;
    cr_expect_eq(rec.kind, MM_ERR_LIMIT, "main's allocations end at the limit (%s)", rec.message);
    size_t held = mm_stats_total(NULL).bytes;
    cr_expect_gt(held + MAIN_BLOCK, 1000000, "refused only near the limit: %zu bytes held", held);
    cr_expect_lt(held, 1000000 + 256 * KIB, "the process holds %zu bytes: past the limit by "
                 "less than the other thread's 256 KiB", held);
    cr_expect_eq(folds_warnings, 1, "one warning at 90%%");
    for (size_t i = 0; i < n; i++) mm_free(b[i]);
    folds_worker_end(&w, th);
}

/* Main rises 425,984 bytes without a fold (its last fold left it 245,760
 * bytes above its bytes) while the worker, started after main last read
 * the sums, holds 606,208: the 64 KiB steps make main read the sums again on
 * the way up, so the peak is exact; on a view as old as its last fold it
 * would be missed by 425,984 bytes. */
Test(folds, a_thread_rising_between_folds_reads_the_sums_every_64_KiB) {
    static void *b[75];
    for (int i = 0; i < 75; i++) b[i] = mm_malloc(WORKER_BLOCK, MM_CAT_HALOS); /* 1,228,800 */
    for (int i = 0; i < 26; i++) mm_free(b[i]); /* 802,816: 245,760 below the fold */
    pthread_t th;
    folds_worker w;
    folds_worker_start(&w, &th, WORKER_BLOCK, WORKER_BLOCKS, 0);
    for (int i = 0; i < 26; i++) b[i] = mm_malloc(WORKER_BLOCK, MM_CAT_HALOS);
    for (int i = 0; i < 26; i++) mm_free(b[i]); /* the sum was 1,835,008 before this */
    size_t truth = 75 * WORKER_BLOCK + WORKER_BLOCKS * WORKER_BLOCK;
    size_t peak = mm_stats_total(NULL).peak_bytes;
    cr_expect_eq(peak, truth, "main read the worker's bytes on its way up: the peak is the "
                 "sum's %zu (it is %zu)", truth, peak);
    for (int i = 26; i < 75; i++) mm_free(b[i]);
    folds_worker_end(&w, th);
}

static void *folds_free_all(void *arg) {
    void **b = arg;
    for (int i = 0; i < 50; i++) mm_free(b[i]);
    return NULL;
}

/* Main allocates 204,800 bytes, under its first fold, and stops; another
 * thread frees them all. Its view lacks main's unfolded bytes, so it sums at
 * its first free (as after a thread's start or another's exit), and the peak
 * is exact. */
Test(folds, a_thread_that_only_frees_another_threads_blocks_finds_their_peak) {
    static void *b[50];
    for (int i = 0; i < 50; i++) b[i] = mm_malloc(BLOCK, MM_CAT_HALOS);
    cr_assert_eq(mmi_load(&mmi_g_total.flushed), 0, "main's 204,800 bytes are not folded");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, folds_free_all, b), 0, "the freeing thread starts");
    pthread_join(th, NULL);
    mm_stats s = mm_stats_total(NULL);
    cr_expect_eq(s.bytes, 0, "everything freed");
    cr_expect_eq(s.peak_bytes, 50 * BLOCK, "the peak is main's 204,800 bytes (it is %zu)",
                 s.peak_bytes);
}
