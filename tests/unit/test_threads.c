/* Thread tests for the process-wide part of the library: threads hammering
 * mm_malloc and friends leave exact figures once joined, blocks may be freed
 * by another thread or outlive the thread that made them, registration is
 * thread-safe and idempotent, and errors from any thread reach the handler. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mimicmem.h"
#include "mm_test.h"

enum { HAMMER_CATS = 8, HAMMER_SLOTS = 512, HAMMER_MAX_SIZE = 1024 };

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    int rc = pthread_create(t, NULL, fn, arg);
    cr_assert_eq(rc, 0, "pthread_create should succeed (error %d)", rc);
}

static void join(pthread_t t)
{
    int rc = pthread_join(t, NULL);
    cr_assert_eq(rc, 0, "pthread_join should succeed (error %d)", rc);
}

/* ------------------------------------------------------------------------
 * Two threads hammering the process-wide allocator
 * ---------------------------------------------------------------------- */

typedef struct {
    int cats[HAMMER_CATS];          /* categories to use */
    size_t ops;                     /* operations to do */
    uint64_t seed;                  /* xorshift seed, printed on failure */
    uint64_t allocs[HAMMER_CATS];   /* allocations made, by index into cats */
    uint64_t frees[HAMMER_CATS];    /* frees made, by index of the category freed */
    int failed;                     /* nonzero when a call failed or a block was damaged */
    char why[160];                  /* what failed */
} hammer_job;

typedef struct {
    unsigned char *p; /* block or NULL */
    size_t size;      /* requested size */
    int cat_index;    /* index into hammer_job.cats */
} hammer_slot;

static uint64_t hammer_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static void hammer_fail(hammer_job *job, size_t op, const char *what)
{
    if (!job->failed) {
        job->failed = 1;
        snprintf(job->why, sizeof job->why, "%s at op %zu", what, op);
    }
}

static void *hammer(void *arg)
{
    hammer_job *job = arg;
    static _Thread_local hammer_slot slots[HAMMER_SLOTS];
    static _Thread_local char text[HAMMER_MAX_SIZE + 1];
    uint64_t rng = job->seed;
    memset(text, 'h', HAMMER_MAX_SIZE);
    text[HAMMER_MAX_SIZE] = '\0';
    for (size_t op = 0; op < job->ops && !job->failed; op++) {
        uint64_t r = hammer_next(&rng);
        hammer_slot *s = &slots[r % HAMMER_SLOTS];
        unsigned char tag = (unsigned char)((r % HAMMER_SLOTS) + 1);
        int ci = (int)((r >> 20) % HAMMER_CATS);
        size_t size = (size_t)((r >> 32) % (HAMMER_MAX_SIZE + 1));
        unsigned kind = (unsigned)((r >> 48) % 100);
        if (s->p == NULL) {
            if (kind < 40) {
                s->p = mm_malloc(size, job->cats[ci]);
            } else if (kind < 60) {
                s->p = mm_calloc(1, size, job->cats[ci]);
            } else if (kind < 80) {
                s->p = (unsigned char *)mm_strdup(text + (HAMMER_MAX_SIZE - size), job->cats[ci]);
                size += 1;
            } else {
                s->p = mm_realloc_cat(NULL, size, job->cats[ci]);
            }
            if (s->p == NULL) {
                hammer_fail(job, op, "an allocation returned NULL");
                break;
            }
            s->size = size;
            s->cat_index = ci;
            job->allocs[ci]++;
        } else if (s->size > 0 && (s->p[0] != tag || s->p[s->size - 1] != tag)) {
            hammer_fail(job, op, "a live block lost the bytes written to it");
            break;
        } else if (kind < 50) {
            mm_free(s->p);
            job->frees[s->cat_index]++;
            s->p = NULL;
            continue;
        } else {
            int to = kind < 75 ? s->cat_index : ci;
            unsigned char *q = kind < 75 ? mm_realloc(s->p, size)
                                         : mm_realloc_cat(s->p, size, job->cats[to]);
            if (q == NULL) {
                hammer_fail(job, op, "a resize returned NULL");
                break;
            }
            if (size > 0 && s->size > 0 && q[0] != tag) {
                hammer_fail(job, op, "a resize lost the first byte");
                break;
            }
            s->p = q;
            s->size = size;
            s->cat_index = to;
        }
        if (s->size > 0) {
            s->p[0] = tag;
            s->p[s->size - 1] = tag;
        }
    }
    for (size_t i = 0; i < HAMMER_SLOTS; i++) {
        if (slots[i].p != NULL) {
            mm_free(slots[i].p);
            job->frees[slots[i].cat_index]++;
            slots[i].p = NULL;
        }
    }
    return NULL;
}

static atomic_int hammer_done;

/* Reads the figures and writes reports while the workers run, so races
 * between readers and writers show up under TSan. */
static void *hammer_reader(void *arg)
{
    (void)arg;
    FILE *sink = tmpfile();
    while (!atomic_load(&hammer_done)) {
        (void)mm_stats_total(NULL);
        (void)mm_stats_category(NULL, MM_CAT_HALOS);
        if (sink != NULL) {
            rewind(sink);
            mm_report(sink, NULL, MM_REPORT_TEXT);
        }
    }
    if (sink != NULL) fclose(sink);
    return NULL;
}

Test(threads, two_threads_hammering_the_allocator_leave_exact_totals)
{
    static hammer_job jobs[2];
    int cats[HAMMER_CATS];
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) cats[c] = c;
    cats[6] = mm_category_register("Cooling", "Physics Modules");
    cats[7] = mm_category_register("Mergers", "Physics Modules");
    void *keep = mm_malloc(777, MM_CAT_HALOS); /* a live block from before */
    cr_assert_not_null(keep, "the block from before should be allocated");

    mm_stats before = mm_stats_total(NULL);
    mm_stats before_cat[HAMMER_CATS];
    for (int i = 0; i < HAMMER_CATS; i++) before_cat[i] = mm_stats_category(NULL, cats[i]);

    uint64_t seed = (uint64_t)time(NULL) | 1u;
    size_t ops = mmt_scaled(200000, 2000);
    for (int t = 0; t < 2; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        memcpy(jobs[t].cats, cats, sizeof cats);
        jobs[t].ops = ops;
        jobs[t].seed = seed * (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull | 1u;
    }
    pthread_t th[3];
    atomic_store(&hammer_done, 0);
    start(&th[0], hammer, &jobs[0]);
    start(&th[1], hammer, &jobs[1]);
    start(&th[2], hammer_reader, NULL);
    join(th[0]);
    join(th[1]);
    atomic_store(&hammer_done, 1);
    join(th[2]);

    for (int t = 0; t < 2; t++) {
        cr_assert(!jobs[t].failed, "thread %d should run clean (seed %llu): %s", t,
                  (unsigned long long)jobs[t].seed, jobs[t].why);
    }
    uint64_t allocs = 0, frees = 0;
    for (int i = 0; i < HAMMER_CATS; i++) {
        uint64_t a = jobs[0].allocs[i] + jobs[1].allocs[i];
        uint64_t f = jobs[0].frees[i] + jobs[1].frees[i];
        allocs += a;
        frees += f;
        mm_stats s = mm_stats_category(NULL, cats[i]);
        char what[128];
        snprintf(what, sizeof what, "category %s after both threads joined (seed %llu)",
                 mm_category_name(cats[i]), (unsigned long long)seed);
        mmt_expect_stats(s,
                         mmt_stats(before_cat[i].bytes, s.peak_bytes, before_cat[i].blocks,
                                   before_cat[i].allocs + a, before_cat[i].frees + f),
                         what);
    }
    mm_stats after = mm_stats_total(NULL);
    mmt_expect_stats(after,
                     mmt_stats(before.bytes, after.peak_bytes, before.blocks,
                               before.allocs + allocs, before.frees + frees),
                     "totals after both threads joined: back to the state before, every call "
                     "counted");
    cr_expect_geq(after.peak_bytes, before.bytes, "the peak should never fall below live bytes");
    mm_free(keep);
    mmt_expect_total(0, after.peak_bytes, 0, before.allocs + allocs, before.frees + frees + 1,
                     "totals after freeing the block from before");
}

/* ------------------------------------------------------------------------
 * Blocks crossing threads
 * ---------------------------------------------------------------------- */

typedef struct {
    void **blocks;  /* blocks to free */
    size_t count;   /* how many */
} free_job;

static void *free_all(void *arg)
{
    free_job *job = arg;
    for (size_t i = 0; i < job->count; i++) mm_free(job->blocks[i]);
    return NULL;
}

Test(threads, blocks_freed_by_other_threads_are_counted_exactly)
{
    size_t n = mmt_scaled(100000, 1000);
    void **blocks = malloc(n * sizeof *blocks);
    cr_assert_not_null(blocks, "the system malloc should hold %zu pointers", n);
    for (size_t i = 0; i < n; i++) {
        blocks[i] = mm_malloc(40, MM_CAT_GALAXIES);
        if (blocks[i] == NULL) cr_assert_fail("mm_malloc number %zu failed", i);
    }
    mmt_expect_category(MM_CAT_GALAXIES, 40 * n, 40 * n, n, n, 0, "Galaxies with every block live");
    free_job jobs[2] = {{blocks, n / 2}, {blocks + n / 2, n - n / 2}};
    pthread_t th[2];
    start(&th[0], free_all, &jobs[0]);
    start(&th[1], free_all, &jobs[1]);
    join(th[0]);
    join(th[1]);
    mmt_expect_category(MM_CAT_GALAXIES, 0, 40 * n, 0, n, n,
                        "Galaxies after two other threads freed every block");
    mmt_expect_total(0, 40 * n, 0, n, n, "totals after the cross-thread frees");
    free(blocks);
}

typedef struct {
    void *blocks[10]; /* left live by the thread */
} leave_job;

static void *allocate_and_exit(void *arg)
{
    leave_job *job = arg;
    for (int i = 0; i < 10; i++) job->blocks[i] = mm_malloc(100, MM_CAT_TREES);
    return NULL;
}

Test(threads, blocks_outlive_the_thread_that_allocated_them)
{
    leave_job job;
    memset(&job, 0, sizeof job);
    pthread_t th;
    start(&th, allocate_and_exit, &job);
    join(th);
    for (int i = 0; i < 10; i++) cr_assert_not_null(job.blocks[i], "block %d should exist", i);
    mmt_expect_category(MM_CAT_TREES, 1000, 1000, 10, 10, 0,
                        "Trees keeps the blocks of a thread that has exited");
    mmt_expect_total(1000, 1000, 10, 10, 0, "totals keep the blocks of an exited thread");
    for (int i = 0; i < 10; i++) {
        cr_expect(mm_validate(job.blocks[i]), "block %d should still validate", i);
        mm_free(job.blocks[i]);
    }
    mmt_expect_category(MM_CAT_TREES, 0, 1000, 0, 10, 10, "Trees after the main thread freed them");
}

Test(threads, many_short_lived_threads_keep_the_figures_exact)
{
    int rounds = (int)mmt_scaled(64, 8);
    for (int r = 0; r < rounds; r++) {
        leave_job job;
        pthread_t th;
        memset(&job, 0, sizeof job);
        start(&th, allocate_and_exit, &job);
        join(th);
        free_job fj = {job.blocks, 10};
        start(&th, free_all, &fj);
        join(th);
    }
    uint64_t n = (uint64_t)rounds * 10;
    mmt_expect_category(MM_CAT_TREES, 0, 1000, 0, n, n,
                        "Trees after many threads each allocated and freed 1000 bytes");
}

/* ------------------------------------------------------------------------
 * Registration from several threads
 * ---------------------------------------------------------------------- */

enum { SHARED_NAMES = 100, REG_THREADS = 4 };

typedef struct {
    int reverse;                /* register in reverse order */
    int ids[SHARED_NAMES];      /* ids received, by name index */
} reg_job;

static void *register_shared(void *arg)
{
    reg_job *job = arg;
    char name[32];
    for (int k = 0; k < SHARED_NAMES; k++) {
        int i = job->reverse ? SHARED_NAMES - 1 - k : k;
        snprintf(name, sizeof name, "shared%03d", i);
        job->ids[i] = mm_category_register(name, i % 2 ? "Odd" : "Even");
    }
    return NULL;
}

Test(threads, concurrent_registration_of_the_same_names_gives_one_id_per_name)
{
    static reg_job jobs[REG_THREADS];
    pthread_t th[REG_THREADS];
    for (int t = 0; t < REG_THREADS; t++) {
        jobs[t].reverse = t % 2;
        start(&th[t], register_shared, &jobs[t]);
    }
    for (int t = 0; t < REG_THREADS; t++) join(th[t]);
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT + SHARED_NAMES,
                 "%d names registered by %d threads should add %d categories", SHARED_NAMES,
                 REG_THREADS, SHARED_NAMES);
    char name[32];
    for (int i = 0; i < SHARED_NAMES; i++) {
        snprintf(name, sizeof name, "shared%03d", i);
        int id = mm_category_find(name);
        cr_expect_neq(id, MM_CAT_INVALID, "%s should be registered", name);
        for (int t = 0; t < REG_THREADS; t++) {
            cr_expect_eq(jobs[t].ids[i], id, "thread %d should get id %d for %s, got %d", t, id,
                         name, jobs[t].ids[i]);
        }
        cr_expect_str_eq(mm_category_group(id), i % 2 ? "Odd" : "Even",
                         "%s should keep its group", name);
    }
}

typedef struct {
    int first;     /* first name number */
    int count;     /* names to register */
    int invalid;   /* registrations that returned MM_CAT_INVALID */
} fill_job;

static void *register_distinct(void *arg)
{
    fill_job *job = arg;
    char name[32];
    for (int i = job->first; i < job->first + job->count; i++) {
        snprintf(name, sizeof name, "distinct%04d", i);
        if (mm_category_register(name, "Fill") == MM_CAT_INVALID) job->invalid++;
    }
    return NULL;
}

static atomic_int full_errors;

static void count_full(const mm_error *err, void *user)
{
    (void)user;
    if (err->kind == MM_ERR_REGISTRY_FULL) atomic_fetch_add(&full_errors, 1);
}

Test(threads, concurrent_registration_fills_the_registry_exactly)
{
    /* 2 x 520 distinct names for 1018 free slots: exactly 22 must be refused. */
    fill_job jobs[2] = {{0, 520, 0}, {520, 520, 0}};
    atomic_store(&full_errors, 0);
    mm_set_error_handler(count_full, NULL);
    pthread_t th[2];
    start(&th[0], register_distinct, &jobs[0]);
    start(&th[1], register_distinct, &jobs[1]);
    join(th[0]);
    join(th[1]);
    cr_expect_eq(mm_category_count(), MM_CATEGORY_MAX, "the registry should be exactly full");
    cr_expect_eq(jobs[0].invalid + jobs[1].invalid, 1040 - (MM_CATEGORY_MAX - MM_CAT_BUILTIN_COUNT),
                 "exactly the registrations beyond the capacity should be refused, got %d",
                 jobs[0].invalid + jobs[1].invalid);
    cr_expect_eq(atomic_load(&full_errors), jobs[0].invalid + jobs[1].invalid,
                 "each refused registration should report MM_ERR_REGISTRY_FULL once");
    char name[32];
    int found = 0;
    for (int i = 0; i < 1040; i++) {
        snprintf(name, sizeof name, "distinct%04d", i);
        int id = mm_category_find(name);
        if (id != MM_CAT_INVALID) {
            found++;
            cr_expect_str_eq(mm_category_name(id), name, "id %d should name %s", id, name);
        }
    }
    cr_expect_eq(found, MM_CATEGORY_MAX - MM_CAT_BUILTIN_COUNT,
                 "every accepted name should be found under its own id");
}

/* ------------------------------------------------------------------------
 * Errors from several threads
 * ---------------------------------------------------------------------- */

static atomic_int thread_errors;

static void count_errors(const mm_error *err, void *user)
{
    (void)user;
    if (err->kind == MM_ERR_BAD_CATEGORY) atomic_fetch_add(&thread_errors, 1);
}

static void *bad_category_calls(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        if (mm_malloc(8, 5000 + i) != NULL) return (void *)1;
    }
    return NULL;
}

Test(threads, errors_from_several_threads_all_reach_the_handler)
{
    atomic_store(&thread_errors, 0);
    mm_set_error_handler(count_errors, NULL);
    pthread_t th[2];
    start(&th[0], bad_category_calls, NULL);
    start(&th[1], bad_category_calls, NULL);
    join(th[0]);
    join(th[1]);
    cr_expect_eq(atomic_load(&thread_errors), 2000,
                 "2 threads x 1000 bad-category calls should reach the handler 2000 times, got %d",
                 atomic_load(&thread_errors));
    mmt_expect_total(0, 0, 0, 0, 0, "the failed calls should not count");
}
