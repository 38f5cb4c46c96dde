/* The "safe at any moment" stress (a plain program, so it runs under
 * ThreadSanitizer as well as ASan+UBSan and Valgrind):
 *
 *   concurrent WORKERS SECONDS [SEED]
 *
 * WORKERS threads each own contexts (a top context, children made and
 * destroyed, resets) and do random allocations, frees, reallocs, resets,
 * creates and destroys, registering new categories as they go (so every
 * category array grows while others read it), labelling epochs and
 * attaching epoch fields; one reporter thread loops over text and JSON
 * reports, leak lists, sites, statistics, peak compositions (the process's
 * and each worker's top context's, which its owner records at every new
 * peak while the reporter reads it; with that context's report, figures,
 * epochs and reclaimed figures, which its resets change) and Mimic's
 * detailed leak check; one limit thread passes a process limit again and
 * again with a handler that returns. After SECONDS the threads stop; each
 * worker checks its contexts' figures against its own model of its blocks,
 * frees everything, and the process totals must come back to where they
 * started. Exit status 0, or 1 with the first difference. */
#define _GNU_SOURCE

#include <mimicmem.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../compat/memory.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "concurrent: %s:%d: ", __FILE__, __LINE__);                                \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(1);                                                                                   \
    } while (0)

enum { MAX_WORKERS = 16, SLOTS = 512, MAX_CHILDREN = 4 };

static atomic_int stop;
static atomic_int reporter_done; /* the workers' top contexts are no longer read */
static _Atomic(mm_context *) tops[MAX_WORKERS]; /* published by their workers */
static atomic_long limit_errors, other_errors, reports;

static uint64_t rng(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Errors: the limit thread's MM_ERR_LIMIT is expected; anything else is a
 * failure of the run (counted and reported at the end). */
static void on_error(const mm_error *e, void *user) {
    (void)user;
    if (e->kind == MM_ERR_LIMIT)
        atomic_fetch_add(&limit_errors, 1);
    else {
        if (atomic_fetch_add(&other_errors, 1) == 0) fprintf(stderr, "unexpected: %s\n", e->message);
    }
}

static void quiet_log(mm_log_level level, const char *message, void *user) {
    (void)level;
    (void)message;
    (void)user;
}

/* ========================================================================
 * Workers
 * ====================================================================== */

typedef struct {
    void *p;         /* the block, or NULL for a free slot */
    size_t bytes;    /* its requested size */
    int cat;         /* its category */
    int owner;       /* -1: the top context, 0..MAX_CHILDREN-1: a child, -2: process-wide */
} slot;

typedef struct {
    int id;
    uint64_t seed;
    mm_context *top;
    mm_context *child[MAX_CHILDREN];
    slot slots[SLOTS];
    int cats[64];    /* categories this worker registered */
    int ncats;
    long ops;
    long allocs;     /* allocations that succeeded (the process counts must add them up) */
} worker;

static mm_context *owner_ctx(worker *w, int owner) {
    return owner == -1 ? w->top : owner >= 0 ? w->child[owner] : NULL;
}

/* Forgets the model's blocks of a child (destroyed) or of the whole tree (reset). */
static void forget_owner(worker *w, int owner) {
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &w->slots[i];
        if (s->p == NULL || s->owner == -2) continue;
        if (owner == -3 || s->owner == owner) s->p = NULL;
    }
}

/* The model's bytes and blocks of the top context's subtree. */
static void model_tree(const worker *w, size_t *bytes, size_t *blocks) {
    *bytes = *blocks = 0;
    for (int i = 0; i < SLOTS; i++)
        if (w->slots[i].p && w->slots[i].owner != -2) {
            *bytes += w->slots[i].bytes;
            (*blocks)++;
        }
}

/* A forest of its own: a top-level context made, a few blocks, one freed,
 * then destroyed with the rest (its calls then leave the live contexts for
 * the destroyed ones' tally while the reporter sums them). */
static void scratch_forest(worker *w, uint64_t r) {
    mm_context *f = mm_context_create("scratch", NULL);
    if (f == NULL) FAIL("create a scratch context");
    void *first = NULL;
    for (int k = 0; k < 1 + (int)(r % 8); k++) {
        void *p = mm_context_malloc(f, 8 + (size_t)((r >> (8 + k)) % 5000), 1 + k % 5);
        if (p == NULL) continue; /* over the process limit */
        w->allocs++;
        if (first == NULL) first = p;
    }
    mm_free(first);
    mm_context_destroy(f);
}

static void worker_step(worker *w) {
    uint64_t r = rng(&w->seed);
    int i = (int)(r % SLOTS);
    slot *s = &w->slots[i];
    int op = (int)((r >> 16) % 1000);
    if (op >= 990) {
        scratch_forest(w, r >> 24);
        return;
    }
    if (op < 3) { /* reset: every block of the tree goes, children too */
        char label[32];
        snprintf(label, sizeof label, "forest %ld", w->ops);
        mm_context_set_label(w->top, label);
        mm_context_epoch_field(w->top, "ops", (double)w->ops);
        mm_context_reset(w->top);
        forget_owner(w, -3);
        memset(w->child, 0, sizeof w->child);
        return;
    }
    if (op < 10) { /* a child made, or destroyed with its blocks */
        int c = (int)((r >> 32) % MAX_CHILDREN);
        if (w->child[c]) {
            mm_context_destroy(w->child[c]);
            w->child[c] = NULL;
            forget_owner(w, c);
        } else {
            w->child[c] = mm_context_create("module", w->top);
            if (w->child[c] == NULL) FAIL("create a child");
        }
        return;
    }
    if (op < 12 && w->ncats < 64) { /* a new category: every context's array grows */
        char name[48];
        snprintf(name, sizeof name, "worker %d category %d", w->id, w->ncats);
        int c = mm_category_register(name, "Stress");
        if (c == MM_CAT_INVALID) FAIL("register %s", name);
        w->cats[w->ncats++] = c;
        return;
    }
    if (s->p != NULL) {
        if (op < 600) { /* free */
            mm_free(s->p);
            s->p = NULL;
        } else { /* realloc */
            size_t n = 1 + (size_t)((r >> 24) % 3000);
            void *q = mm_realloc(s->p, n);
            if (q == NULL) return; /* over the process limit: the block stays */
            s->p = q;
            s->bytes = n;
        }
        return;
    }
    /* allocate: in a context of the tree, or process-wide */
    int owner = (int)((r >> 40) % (MAX_CHILDREN + 2)) - 2;
    if (owner >= 0 && w->child[owner] == NULL) owner = -1;
    int cat = w->ncats > 0 && (r >> 50) % 2 ? w->cats[(r >> 51) % (uint64_t)w->ncats]
                                           : (int)(1 + (r >> 52) % 5);
    size_t n = (r >> 56) % 8 == 0 ? 300000 + (size_t)(r % 1000) : 1 + (size_t)((r >> 20) % 2000);
    mm_context *ctx = owner_ctx(w, owner);
    void *p = ctx ? mm_context_malloc_at(ctx, n, cat, "concurrent.c", 1 + (int)(r % 7))
                  : mm_malloc_at(n, cat, "concurrent.c", 100 + (int)(r % 7));
    if (p == NULL) return; /* over the process limit */
    w->allocs++;
    s->p = p;
    s->bytes = n;
    s->cat = cat;
    s->owner = owner;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    w->top = mm_context_create("worker", NULL);
    if (w->top == NULL) FAIL("create the top context");
    atomic_store(&tops[w->id], w->top);
    while (!atomic_load(&stop)) {
        for (int k = 0; k < 64; k++, w->ops++) worker_step(w);
    }
    while (!atomic_load(&reporter_done)) sched_yield(); /* it may be reading w->top */
    /* the figures against the model, then everything freed */
    size_t bytes, blocks;
    model_tree(w, &bytes, &blocks);
    mm_stats t = mm_stats_total(w->top);
    if (t.bytes != bytes || t.blocks != blocks)
        FAIL("worker %d: the tree holds %zu bytes in %zu blocks, the model %zu in %zu", w->id,
             t.bytes, t.blocks, bytes, blocks);
    for (int i = 0; i < SLOTS; i++)
        if (w->slots[i].p && w->slots[i].owner == -2) mm_free(w->slots[i].p);
    mm_context_destroy(w->top);
    return NULL;
}

/* ========================================================================
 * The reporter and the limit thread
 * ====================================================================== */

static void *reporter_main(void *arg) {
    (void)arg;
    FILE *out = fopen("/dev/null", "w");
    if (out == NULL) FAIL("/dev/null");
    mm_site_stats sites[8];
    mm_stats last = {0, 0, 0, 0, 0};
    while (!atomic_load(&stop)) {
        mm_report(out, NULL, MM_REPORT_TEXT);
        mm_report(out, NULL, MM_REPORT_JSON);
        mm_report_leaks(out, MM_REPORT_TEXT);
        mm_report_leaks(out, MM_REPORT_JSON);
        (void)mm_sites(sites, 8);
        /* the process counts add every context's calls, live or destroyed,
         * each once: they never go back */
        for (int k = 0; k < 256; k++) { /* a burst, so some land amid a destroy */
            mm_stats now = mm_stats_total(NULL);
            if (now.allocs < last.allocs || now.frees < last.frees)
                FAIL("process counts went back: %" PRIu64 " allocs, %" PRIu64
                     " frees after %" PRIu64 " and %" PRIu64,
                     now.allocs, now.frees, last.allocs, last.frees);
            last = now;
        }
        for (int c = 0; c < mm_category_count(); c += 7) (void)mm_stats_category(NULL, c);
        mm_peak_info info;
        (void)mm_peak_composition(NULL, &info);
        for (int i = 0; i < MAX_WORKERS; i++) {
            mm_context *top = atomic_load(&tops[i]);
            if (top == NULL) continue;
            (void)mm_peak_composition(top, &info);
            (void)mm_peak_composition_category(top, MM_CAT_GALAXIES);
            mm_report(out, top, MM_REPORT_JSON);
            /* what a reset of the owner changes under its owner lock alone */
            (void)mm_stats_total(top);
            (void)mm_stats_self(top);
            (void)mm_context_epoch_stats(top);
            (void)mm_context_epochs(top);
            (void)mm_context_reclaimed(top, MM_CAT_GALAXIES, 1);
        }
        check_memory_leaks(); /* the legacy detailed listing walks only its own contexts */
        print_allocated();
        atomic_fetch_add(&reports, 1);
    }
    atomic_store(&reporter_done, 1);
    fclose(out);
    return NULL;
}

static void *limit_main(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        void *p = mm_malloc(96u << 20, MM_CAT_UTILITY); /* over the process limit */
        if (p != NULL) mm_free(p);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: concurrent WORKERS SECONDS [SEED]\n");
        return 2;
    }
    int nworkers = atoi(argv[1]);
    double seconds = atof(argv[2]);
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 20261206;
    if (nworkers < 1 || nworkers > MAX_WORKERS || seconds <= 0) {
        fprintf(stderr, "concurrent: 1..%d workers, a positive time\n", MAX_WORKERS);
        return 2;
    }
    mm_set_error_handler(on_error, NULL);
    mm_set_log_handler(quiet_log, NULL);
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    mm_set_sites(1);
    mm_stats base = mm_stats_total(NULL);
    mm_limit_set(NULL, MM_CAT_INVALID, 64u << 20);
    static worker w[MAX_WORKERS];
    pthread_t tw[MAX_WORKERS], tr, tl;
    for (int i = 0; i < nworkers; i++) {
        w[i].id = i;
        w[i].seed = seed * 31 + (uint64_t)i;
        if (pthread_create(&tw[i], NULL, worker_main, &w[i]) != 0) FAIL("worker thread");
    }
    if (pthread_create(&tr, NULL, reporter_main, NULL) != 0) FAIL("reporter thread");
    if (pthread_create(&tl, NULL, limit_main, NULL) != 0) FAIL("limit thread");
    double t0 = now();
    while (now() - t0 < seconds) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < nworkers; i++) pthread_join(tw[i], NULL);
    pthread_join(tr, NULL);
    pthread_join(tl, NULL);
    mm_limit_set(NULL, MM_CAT_INVALID, 0);
    mm_stats end = mm_stats_total(NULL);
    long ops = 0, allocs = 0;
    for (int i = 0; i < nworkers; i++) ops += w[i].ops;
    for (int i = 0; i < nworkers; i++) allocs += w[i].allocs;
    printf("concurrent: %d workers, %.1f s, %ld operations, %ld reports, %ld limit errors\n",
           nworkers, seconds, ops, atomic_load(&reports), atomic_load(&limit_errors));
    if (atomic_load(&other_errors) != 0) FAIL("%ld unexpected errors", atomic_load(&other_errors));
    if (end.bytes != base.bytes || end.blocks != base.blocks)
        FAIL("the process holds %zu bytes in %zu blocks after the run, %zu in %zu before",
             end.bytes, end.blocks, base.bytes, base.blocks);
    /* every block the workers allocated counted once, and freed once */
    if (end.allocs - base.allocs != (uint64_t)allocs || end.frees - base.frees != (uint64_t)allocs)
        FAIL("the process counts %" PRIu64 " allocations and %" PRIu64
             " frees in the run, the workers made %ld (all freed)",
             end.allocs - base.allocs, end.frees - base.frees, allocs);
    if (atomic_load(&limit_errors) == 0) FAIL("the limit thread never passed the limit");
    if (atomic_load(&reports) == 0) FAIL("the reporter never finished a round");
    mm_site_stats sites[64];
    size_t n = mm_sites(sites, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (sites[i].blocks != 0) FAIL("site %s:%d still has %zu blocks", sites[i].file ? sites[i].file : "?", sites[i].line, sites[i].blocks);
    return 0;
}
