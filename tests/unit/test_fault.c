/* Unit tests for src/fault.c: the fault-injection API itself (ONCE fails
 * exactly the k-th system allocation, FROM the k-th and every later one, OFF
 * disarms, the category and context filters, the counters), each place the
 * library asks the system for memory failing on its own, and the
 * out-of-memory loops: representative scenarios run once per failure point
 * k = 1, 2, ... until they complete, each run checked for one well-formed
 * MM_ERR_OUT_OF_MEMORY per injected failure, statistics equal to a model of
 * the blocks the scenario holds, nothing left live, and a usable library. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compat/memory.h"
#include "mm_test.h"
#include "mimicmem_testing.h"

#define KIB ((size_t)1024)
#define BIG (300 * KIB) /* above 256 KiB: a context block of its own */
#define UNCACHED (40 * KIB) /* above 32 KiB: a process block never cached */

/* ========================================================================
 * Checking error handler: every call must be a well-formed out of memory
 * ====================================================================== */

typedef struct {
    int calls;                     /* handler calls since oom_watch */
    int bad;                       /* calls that broke a rule below */
    mm_category want_cat;          /* every error names this category (INVALID: any) */
    const mm_context *want_ctx;    /* every error names this context (NULL: any) */
    mm_error last;                 /* last call (message not kept) */
    char first_bad[MMT_MESSAGE_MAX]; /* why the first bad call was bad */
} oom_watch_state;

static oom_watch_state oom_seen;

static void oom_bad(const char *why, const mm_error *err)
{
    if (oom_seen.bad++ == 0)
        snprintf(oom_seen.first_bad, sizeof oom_seen.first_bad, "%s; message: %s", why,
                 err->message ? err->message : "(null)");
}

static void oom_handler(const mm_error *err, void *user)
{
    (void)user;
    oom_seen.calls++;
    oom_seen.last = *err;
    oom_seen.last.message = NULL;
    char size_text[64];
    snprintf(size_text, sizeof size_text, "(%zu bytes)", err->size);
    if (err->kind != MM_ERR_OUT_OF_MEMORY)
        oom_bad("the kind should be MM_ERR_OUT_OF_MEMORY", err);
    else if (err->message == NULL || strstr(err->message, "out of memory") == NULL)
        oom_bad("the message should say \"out of memory\"", err);
    else if (strstr(err->message, size_text) == NULL)
        oom_bad("the message should give the size in bytes", err);
    else if (err->category >= 0 && err->category < mm_category_count()) {
        char cat_text[MM_NAME_MAX + 32];
        snprintf(cat_text, sizeof cat_text, "category \"%s\"", mm_category_name(err->category));
        if (strstr(err->message, cat_text) == NULL)
            oom_bad("the message should name the category", err);
    } else {
        oom_bad("the error should carry a registered category", err);
    }
    if (oom_seen.want_cat != MM_CAT_INVALID && err->category != oom_seen.want_cat)
        oom_bad("the error should be for the filtered category", err);
    if (oom_seen.want_ctx != NULL && err->context != oom_seen.want_ctx)
        oom_bad("the error should be for the filtered context", err);
}

/* Installs the checking handler with empty counts. */
static void oom_watch(mm_category want_cat, const mm_context *want_ctx)
{
    /* the calling thread's statistics record is made by its first call, and
     * that allocation is a failure point of its own (see the test of a new
     * thread): make it now, before anything is armed */
    mm_context_destroy(mm_context_create("warm-up", NULL));
    memset(&oom_seen, 0, sizeof oom_seen);
    oom_seen.want_cat = want_cat;
    oom_seen.want_ctx = want_ctx;
    mm_set_error_handler(oom_handler, NULL);
}

#define expect_oom_calls(n, what)                                                          \
    do {                                                                                   \
        cr_expect_eq(oom_seen.calls, (n), "%s: expected %d out-of-memory error(s), got %d", \
                     (what), (int)(n), oom_seen.calls);                                    \
        cr_expect_eq(oom_seen.bad, 0, "%s: %s", (what), oom_seen.first_bad);               \
    } while (0)

static void disarm(void)
{
    mm_fault_inject(MM_FAULT_OFF, 0, MM_CAT_INVALID, NULL);
}

/* ========================================================================
 * Reference model: the blocks a scenario holds, and what the process
 * statistics must say about them relative to the start of the run
 * ====================================================================== */

#define MODEL_BLOCKS 128
#define MODEL_CATS   64

typedef struct {
    void *p;  /* payload */
    size_t size; /* requested bytes */
    int cat;  /* category */
    int owner; /* 0: process-wide, otherwise a context number of the scenario */
} model_block;

typedef struct {
    model_block b[MODEL_BLOCKS]; /* live blocks, in no order */
    int n;                       /* entries used in b */
    uint64_t allocs[MODEL_CATS]; /* successful allocations per category */
    uint64_t frees[MODEL_CATS];  /* frees (explicit or by reset/destroy) per category */
    int64_t moved[MODEL_CATS];   /* blocks moved in minus moved out */
    mm_stats base[MODEL_CATS];   /* process figures per category at the start */
    mm_stats base_total;         /* process total at the start */
} model;

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    for (int c = 0; c < MODEL_CATS && c < mm_category_count(); c++)
        m->base[c] = mm_stats_category(NULL, c);
    m->base_total = mm_stats_total(NULL);
}

/* Records p (if the allocation succeeded) and returns it. */
static void *model_add(model *m, void *p, size_t size, int cat, int owner)
{
    if (p == NULL) return NULL;
    cr_assert_lt(cat, MODEL_CATS, "the model holds categories below %d", MODEL_CATS);
    cr_assert_lt(m->n, MODEL_BLOCKS, "the model holds at most %d blocks", MODEL_BLOCKS);
    m->b[m->n++] = (model_block){p, size, cat, owner};
    m->allocs[cat]++;
    return p;
}

static int model_find(const model *m, const void *p)
{
    for (int i = 0; i < m->n; i++)
        if (m->b[i].p == p) return i;
    cr_assert_fail("the model does not hold %p", p);
    return -1;
}

static void model_remove(model *m, int i)
{
    m->frees[m->b[i].cat]++;
    m->b[i] = m->b[--m->n];
}

/* mm_free(p) or myfree(p) of a block the model holds. */
static void model_free(model *m, void *p)
{
    if (p != NULL) model_remove(m, model_find(m, p));
}

/* A resize of old to size bytes in cat returned n (NULL: old is unchanged). */
static void *model_resize(model *m, void *old, void *n, size_t size, int cat)
{
    if (n == NULL) return old;
    model_block *b = &m->b[model_find(m, old)];
    if (b->cat != cat) {
        m->moved[b->cat]--;
        m->moved[cat]++;
    }
    b->p = n;
    b->size = size;
    b->cat = cat;
    return n;
}

/* A reset or destroy freed every block whose owner is in owners (a bit mask). */
static void model_release(model *m, unsigned owners)
{
    for (int i = 0; i < m->n;)
        if (owners & (1u << m->b[i].owner))
            model_remove(m, i);
        else
            i++;
}

/* Expects the process statistics, relative to the start, to match the model:
 * per category and in total, live bytes and blocks, allocations and frees. */
static void model_check(const model *m, const char *what)
{
    size_t all_bytes = 0, all_blocks = 0;
    uint64_t all_allocs = 0, all_frees = 0;
    for (int c = 0; c < MODEL_CATS && c < mm_category_count(); c++) {
        size_t bytes = 0, blocks = 0;
        for (int i = 0; i < m->n; i++)
            if (m->b[i].cat == c) {
                bytes += m->b[i].size;
                blocks++;
            }
        mm_stats want = m->base[c];
        want.bytes += bytes;
        want.blocks += blocks;
        want.allocs += m->allocs[c];
        want.frees += m->frees[c];
        mm_stats got = mm_stats_category(NULL, c);
        got.peak_bytes = want.peak_bytes; /* the process peak is an estimate: not compared */
        char label[256];
        snprintf(label, sizeof label, "%s, category %s", what, mm_category_name(c));
        mmt_expect_stats(got, want, label);
        all_bytes += bytes;
        all_blocks += blocks;
        all_allocs += m->allocs[c];
        all_frees += m->frees[c];
    }
    mm_stats want = m->base_total;
    want.bytes += all_bytes;
    want.blocks += all_blocks;
    want.allocs += all_allocs;
    want.frees += all_frees;
    mm_stats got = mm_stats_total(NULL);
    got.peak_bytes = want.peak_bytes;
    mmt_expect_stats(got, want, what);
}

/* Expects ctx and its descendants to hold exactly the model's blocks of the
 * owners in the mask. */
static void model_check_context(const model *m, const mm_context *ctx, unsigned owners,
                                const char *what)
{
    size_t bytes = 0, blocks = 0;
    for (int i = 0; i < m->n; i++)
        if (owners & (1u << m->b[i].owner)) {
            bytes += m->b[i].size;
            blocks++;
        }
    mm_stats s = mm_stats_total(ctx);
    cr_expect_eq(s.bytes, bytes, "%s: context \"%s\" should hold %zu bytes, it holds %zu", what,
                 mm_context_name(ctx), bytes, s.bytes);
    cr_expect_eq(s.blocks, blocks, "%s: context \"%s\" should hold %zu blocks, it holds %zu",
                 what, mm_context_name(ctx), blocks, s.blocks);
}

/* ========================================================================
 * Scenarios: each frees everything it got, whatever failed on the way, and
 * goes on after a failure (the library must stay usable mid-scenario)
 * ====================================================================== */

typedef void (*scenario_fn)(model *m, void *arg);

/* Process-wide blocks: malloc, calloc, strdup, realloc within and across
 * size classes and categories, blocks too large for the cache. */
static void scenario_process(model *m, void *arg)
{
    (void)arg;
    void *a = model_add(m, mm_malloc(100, MM_CAT_HALOS), 100, MM_CAT_HALOS, 0);
    void *b = model_add(m, mm_calloc(10, 50, MM_CAT_GALAXIES), 500, MM_CAT_GALAXIES, 0);
    void *s = model_add(m, mm_strdup("Forest 17", MM_CAT_TREES), 10, MM_CAT_TREES, 0);
    void *big = model_add(m, mm_malloc(UNCACHED, MM_CAT_IO), UNCACHED, MM_CAT_IO, 0);
    void *big2 = model_add(m, mm_calloc(1, UNCACHED, MM_CAT_IO), UNCACHED, MM_CAT_IO, 0);
    model_check(m, "process scenario after the allocations");
    if (big) big = model_resize(m, big, mm_realloc(big, 2 * UNCACHED), 2 * UNCACHED, MM_CAT_IO);
    if (a) a = model_resize(m, a, mm_realloc_cat(a, 5000, MM_CAT_UTILITY), 5000, MM_CAT_UTILITY);
    if (b) b = model_resize(m, b, mm_realloc(b, 3 * UNCACHED), 3 * UNCACHED, MM_CAT_GALAXIES);
    void *n = model_add(m, mm_realloc(NULL, 64), 64, MM_CAT_UNKNOWN, 0);
    model_check(m, "process scenario after the resizes");
    mm_free(a);
    model_free(m, a);
    mm_free(b);
    model_free(m, b);
    mm_free(s);
    model_free(m, s);
    mm_free(big);
    model_free(m, big);
    mm_free(big2);
    model_free(m, big2);
    mm_free(n);
    model_free(m, n);
}

/* Three levels of contexts; small and large blocks; resizes across size
 * classes and between small and large; a reset of the middle level (which
 * destroys the leaf); more blocks after it; destroy. */
static void scenario_contexts(model *m, void *arg)
{
    (void)arg;
    mm_context *root = mm_context_create("forest", NULL);
    if (root == NULL) return;
    mm_context *mid = mm_context_create("halo", root);
    mm_context *leaf = mid ? mm_context_create("subhalo", mid) : NULL;
    mm_context *where = leaf ? leaf : mid ? mid : root;
    int where_owner = leaf ? 3 : mid ? 2 : 1;
    void *small[12];
    for (int i = 0; i < 12; i++)
        small[i] = model_add(m, mm_context_malloc(where, 1000, MM_CAT_HALOS), 1000, MM_CAT_HALOS,
                             where_owner);
    void *large = model_add(m, mm_context_malloc(root, BIG, MM_CAT_TREES), BIG, MM_CAT_TREES, 1);
    void *zeroed =
        model_add(m, mm_context_calloc(where, 1, BIG, MM_CAT_GALAXIES), BIG, MM_CAT_GALAXIES,
                  where_owner);
    char *name = model_add(m, mm_context_strdup(where, "Halo 4", MM_CAT_UTILITY), 7,
                           MM_CAT_UTILITY, where_owner);
    model_check_context(m, root, 0xE, "contexts scenario after the allocations");
    if (small[0]) /* another size class */
        small[0] = model_resize(m, small[0], mm_realloc(small[0], 5000), 5000, MM_CAT_HALOS);
    if (small[1]) /* small to large, and category */
        small[1] = model_resize(m, small[1], mm_realloc_cat(small[1], BIG, MM_CAT_IO), BIG,
                                MM_CAT_IO);
    if (large) /* large to larger */
        large = model_resize(m, large, mm_realloc(large, 2 * BIG), 2 * BIG, MM_CAT_TREES);
    if (zeroed) /* large to small */
        zeroed = model_resize(m, zeroed, mm_realloc(zeroed, 64), 64, MM_CAT_GALAXIES);
    model_check(m, "contexts scenario after the resizes");
    model_check_context(m, root, 0xE, "contexts scenario after the resizes");
    if (small[2]) {
        mm_free(small[2]);
        model_free(m, small[2]);
    }
    if (mid) {
        mm_context_set_label(mid, "Forest 1");
        mm_context_reset(mid); /* frees mid's blocks and destroys leaf */
        model_release(m, 0xC);
        model_check_context(m, root, 0xE, "contexts scenario after the reset");
        for (int i = 0; i < 3; i++)
            model_add(m, mm_context_malloc(mid, 20000, MM_CAT_HALOS), 20000, MM_CAT_HALOS, 2);
        model_add(m, mm_context_malloc(mid, BIG, MM_CAT_TREES), BIG, MM_CAT_TREES, 2);
    }
    model_check(m, "contexts scenario before the destroy");
    (void)name;
    mm_context_destroy(root);
    model_release(m, 0xE);
}

/* Registered categories used in a child context, so the per-category arrays
 * of the child and its parent grow (16, 32, 64 entries). */
static void scenario_registry(model *m, void *arg)
{
    (void)arg;
    mm_category ids[40];
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fault %d", i);
        ids[i] = mm_category_register(name, "Fault tests");
        cr_assert_geq(ids[i], 0, "registering \"%s\" should succeed", name);
    }
    mm_context *parent = mm_context_create("module", NULL);
    if (parent == NULL) return;
    mm_context *child = mm_context_create("pass", parent);
    mm_context *ctx = child ? child : parent;
    int owner = child ? 2 : 1;
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = model_add(m, mm_context_malloc(ctx, 48, ids[i]), 48, ids[i], owner);
    model_check(m, "registry scenario after the allocations");
    model_check_context(m, parent, 0x6, "registry scenario after the allocations");
    for (int i = 0; i < 40; i += 2) {
        mm_free(p[i]);
        model_free(m, p[i]);
    }
    mm_context_destroy(parent);
    model_release(m, 0x6);
}

/* Epochs of a context: more top epochs than the default, a CSV log, blocks in
 * several categories per epoch, resets, then fewer top epochs. */
static void scenario_epochs(model *m, void *arg)
{
    FILE *log = arg;
    mm_context *ctx = mm_context_create("forests", NULL);
    if (ctx == NULL) return;
    mm_context_set_top_epochs(ctx, 20);
    mm_context_set_epoch_log(ctx, log, MM_EPOCH_LOG_CSV);
    for (int e = 0; e < 5; e++) {
        char label[32];
        snprintf(label, sizeof label, "Forest %d", e);
        mm_context_set_label(ctx, label);
        model_add(m, mm_context_malloc(ctx, 100 * (size_t)(e + 1), MM_CAT_HALOS),
                  100 * (size_t)(e + 1), MM_CAT_HALOS, 1);
        model_add(m, mm_context_malloc(ctx, 3000, MM_CAT_TREES), 3000, MM_CAT_TREES, 1);
        if (e % 2)
            model_add(m, mm_context_malloc(ctx, BIG, MM_CAT_GALAXIES), BIG, MM_CAT_GALAXIES, 1);
        model_check_context(m, ctx, 0x2, "epochs scenario before a reset");
        mm_context_reset(ctx);
        model_release(m, 0x2);
    }
    mm_epoch_summary s = mm_context_epochs(ctx);
    cr_expect_eq(s.count, 5, "five resets close five epochs, got %llu",
                 (unsigned long long)s.count);
    mm_epoch_info top;
    cr_expect(mm_context_top_epoch(ctx, 0, &top), "the largest epoch should be kept");
    mm_context_set_top_epochs(ctx, 2);
    mm_context_set_epoch_log(ctx, NULL, MM_EPOCH_LOG_CSV);
    mm_context_destroy(ctx);
}

/* Reports, text and JSON, of the process and of a context tree. */
static void scenario_reports(model *m, void *arg)
{
    FILE *out = arg;
    void *p = model_add(m, mm_malloc(UNCACHED, MM_CAT_HALOS), UNCACHED, MM_CAT_HALOS, 0);
    mm_context *ctx = mm_context_create("report", NULL);
    mm_context *child = ctx ? mm_context_create("report child", ctx) : NULL;
    if (child) model_add(m, mm_context_malloc(child, 200, MM_CAT_TREES), 200, MM_CAT_TREES, 2);
    mm_report(out, NULL, MM_REPORT_TEXT);
    mm_report(out, NULL, MM_REPORT_JSON);
    if (ctx) {
        mm_report(out, ctx, MM_REPORT_TEXT);
        mm_report(out, ctx, MM_REPORT_JSON);
    }
    model_check(m, "reports scenario after the reports");
    mm_context_destroy(ctx);
    model_release(m, 0x6);
    mm_free(p);
    model_free(m, p);
}

/* Mimic's legacy API: with a handler that returns, a failing mymalloc gives
 * NULL (its default handler would abort). */
static void scenario_compat(model *m, void *arg)
{
    (void)arg;
    void *a = model_add(m, mymalloc(UNCACHED), UNCACHED, MM_CAT_UNKNOWN, 0);
    void *b = model_add(m, mymalloc_cat(UNCACHED + 16, MEM_HALOS), UNCACHED + 16, MM_CAT_HALOS,
                        0);
    void *c = model_add(m, mymalloc_cat(300, MEM_TREES), 300, MM_CAT_TREES, 0);
    if (a) a = model_resize(m, a, myrealloc(a, 2 * UNCACHED), 2 * UNCACHED, MM_CAT_UNKNOWN);
    if (c) c = model_resize(m, c, myrealloc_cat(c, UNCACHED, MEM_IO), UNCACHED, MM_CAT_IO);
    model_check(m, "compat scenario after the resizes");
    myfree(a);
    model_free(m, a);
    myfree(b);
    model_free(m, b);
    myfree(c);
    model_free(m, c);
}

/* ========================================================================
 * The loop
 * ====================================================================== */

/* The library works normally once disarmed: blocks of every kind, no error,
 * nothing left live. */
static void expect_usable(const char *what)
{
    oom_watch(MM_CAT_INVALID, NULL);
    mm_stats before = mm_stats_total(NULL);
    void *p = mm_malloc(UNCACHED, MM_CAT_HALOS);
    mm_context *ctx = mm_context_create("usable", NULL);
    cr_assert_not_null(p, "%s: mm_malloc should succeed once disarmed", what);
    cr_assert_not_null(ctx, "%s: mm_context_create should succeed once disarmed", what);
    cr_expect_not_null(mm_context_malloc(ctx, 64, MM_CAT_TREES), "%s: small context block", what);
    cr_expect_not_null(mm_context_malloc(ctx, BIG, MM_CAT_TREES), "%s: large context block", what);
    mm_context_reset(ctx);
    mm_context_destroy(ctx);
    mm_free(p);
    expect_oom_calls(0, what);
    mm_stats after = mm_stats_total(NULL);
    cr_expect_eq(after.bytes, before.bytes, "%s: the check should leave no bytes live", what);
    cr_expect_eq(after.blocks, before.blocks, "%s: the check should leave no blocks live", what);
}

/* Runs fn once per failure point k = 1, 2, ... (failing the k-th matching
 * system allocation, or every one from the k-th on) until a run meets no
 * injected failure, and checks each run. ctx_of, when given, returns the
 * context to filter on (created before the run). */
static void oom_loop(const char *name, scenario_fn fn, void *arg, mm_fault_mode mode,
                     mm_category cat, const mm_context *ctx)
{
    const uint64_t limit = 5000;
    uint64_t k;
    for (k = 1; k <= limit; k++) {
        char what[128];
        snprintf(what, sizeof what, "%s, %s, k = %llu", name,
                 mode == MM_FAULT_ONCE ? "once" : "from", (unsigned long long)k);
        oom_watch(cat, ctx);
        model m;
        model_init(&m);
        mm_fault_inject(mode, k, cat, ctx);
        fn(&m, arg);
        uint64_t attempts = mm_fault_attempts(), failures = mm_fault_failures();
        disarm();
        uint64_t want = attempts < k ? 0 : mode == MM_FAULT_ONCE ? 1 : attempts - k + 1;
        cr_expect_eq(failures, want, "%s: %llu attempts should give %llu failures, not %llu",
                     what, (unsigned long long)attempts, (unsigned long long)want,
                     (unsigned long long)failures);
        expect_oom_calls((int)failures, what);
        cr_expect_eq(m.n, 0, "%s: the scenario should end holding no block", what);
        model_check(&m, what);
        expect_usable(what);
        if (failures == 0) break;
    }
    cr_expect_leq(k, limit, "%s: the scenario should complete within %llu failure points", name,
                  (unsigned long long)limit);
    cr_expect_gt(k, 1, "%s: the scenario should make at least one system allocation", name);
    mm_set_error_handler(NULL, NULL);
}

static void oom_loop_both(const char *name, scenario_fn fn, void *arg)
{
    oom_loop(name, fn, arg, MM_FAULT_ONCE, MM_CAT_INVALID, NULL);
    oom_loop(name, fn, arg, MM_FAULT_FROM, MM_CAT_INVALID, NULL);
}

Test(fault_loop, process_allocations_survive_every_failure_point)
{
    oom_loop_both("process", scenario_process, NULL);
}

Test(fault_loop, nested_contexts_survive_every_failure_point)
{
    oom_loop_both("contexts", scenario_contexts, NULL);
}

Test(fault_loop, registry_growth_survives_every_failure_point)
{
    oom_loop_both("registry", scenario_registry, NULL);
}

Test(fault_loop, epoch_logging_survives_every_failure_point)
{
    FILE *log = tmpfile();
    cr_assert_not_null(log, "tmpfile for the epoch log");
    oom_loop_both("epochs", scenario_epochs, log);
    /* every epoch line is written whole, failure or not: 5 lines per run */
    rewind(log);
    char line[512];
    int lines = 0, bad = 0;
    while (fgets(line, sizeof line, log)) {
        if (strncmp(line, "epoch,", 6) == 0) continue;
        lines++;
        if (strchr(line, '\n') == NULL || strstr(line, "Forest ") == NULL) bad++;
    }
    cr_expect_gt(lines, 0, "the epoch log should have lines");
    cr_expect_eq(lines % 5, 0, "each run should log five epochs, %d lines in all", lines);
    cr_expect_eq(bad, 0, "%d epoch lines were incomplete", bad);
    fclose(log);
}

Test(fault_loop, reports_survive_every_failure_point)
{
    FILE *out = tmpfile();
    cr_assert_not_null(out, "tmpfile for the reports");
    oom_loop_both("reports", scenario_reports, out);
    fclose(out);
}

Test(fault_loop, compat_layer_survives_every_failure_point)
{
    set_memory_reporting(MEMORY_REPORT_NONE);
    oom_loop_both("compat", scenario_compat, NULL);
}

Test(fault_loop, a_category_filter_fails_only_that_category)
{
    oom_loop("contexts, Halos only", scenario_contexts, NULL, MM_FAULT_ONCE, MM_CAT_HALOS, NULL);
    oom_loop("process, IO only", scenario_process, NULL, MM_FAULT_FROM, MM_CAT_IO, NULL);
}

/* The context filter: a scenario that works in a context made beforehand,
 * next to another context and process blocks that must never fail. */
typedef struct {
    mm_context *target; /* the filtered context */
    mm_context *other;  /* a context that must not fail */
} two_contexts;

static void scenario_two_contexts(model *m, void *arg)
{
    two_contexts *t = arg;
    void *p = model_add(m, mm_malloc(UNCACHED, MM_CAT_IO), UNCACHED, MM_CAT_IO, 0);
    cr_expect_not_null(p, "a process block is outside the filter");
    void *o = model_add(m, mm_context_malloc(t->other, BIG, MM_CAT_HALOS), BIG, MM_CAT_HALOS, 2);
    cr_expect_not_null(o, "a block of another context is outside the filter");
    for (int i = 0; i < 4; i++)
        model_add(m, mm_context_malloc(t->target, BIG, MM_CAT_HALOS), BIG, MM_CAT_HALOS, 1);
    for (int i = 0; i < 40; i++)
        model_add(m, mm_context_malloc(t->target, 1000, MM_CAT_TREES), 1000, MM_CAT_TREES, 1);
    model_check_context(m, t->target, 0x2, "two contexts before the reset");
    mm_context_reset(t->target);
    model_release(m, 0x2);
    mm_context_reset(t->other);
    model_release(m, 0x4);
    mm_free(p);
    model_free(m, p);
}

Test(fault_loop, a_context_filter_fails_only_that_context)
{
    two_contexts t = {mm_context_create("target", NULL), mm_context_create("other", NULL)};
    cr_assert(t.target && t.other, "the two contexts should be created");
    mm_context_set_top_epochs(t.target, 0); /* reset then needs no memory */
    oom_loop("target context", scenario_two_contexts, &t, MM_FAULT_ONCE, MM_CAT_INVALID,
             t.target);
    oom_loop("target context", scenario_two_contexts, &t, MM_FAULT_FROM, MM_CAT_INVALID,
             t.target);
    mm_context_destroy(t.target);
    mm_context_destroy(t.other);
}

/* ========================================================================
 * The API
 * ====================================================================== */

/* Allocates n uncached process blocks (one system call each), records which
 * came back NULL in failed[] and frees the others. */
static void alloc_uncached(int n, bool *failed)
{
    void *p[16];
    for (int i = 0; i < n; i++) {
        p[i] = mm_malloc(UNCACHED, MM_CAT_HALOS);
        failed[i] = p[i] == NULL;
    }
    for (int i = 0; i < n; i++) mm_free(p[i]);
}

Test(fault_api, once_fails_exactly_the_kth_system_allocation)
{
    oom_watch(MM_CAT_HALOS, NULL);
    bool failed[6];
    mm_fault_inject(MM_FAULT_ONCE, 3, MM_CAT_INVALID, NULL);
    alloc_uncached(6, failed);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(failed[i], i == 2, "allocation %d should %s", i + 1,
                     i == 2 ? "fail" : "succeed");
    cr_expect_eq(mm_fault_attempts(), 6, "six system allocations were attempted");
    cr_expect_eq(mm_fault_failures(), 1, "one was made to fail");
    expect_oom_calls(1, "ONCE at k = 3");
    cr_expect_eq(oom_seen.last.size, UNCACHED, "the error gives the requested size");
    disarm();
}

Test(fault_api, from_fails_the_kth_and_every_later_allocation)
{
    oom_watch(MM_CAT_HALOS, NULL);
    bool failed[6];
    mm_fault_inject(MM_FAULT_FROM, 2, MM_CAT_INVALID, NULL);
    alloc_uncached(6, failed);
    for (int i = 0; i < 6; i++)
        cr_expect_eq(failed[i], i >= 1, "allocation %d should %s", i + 1,
                     i >= 1 ? "fail" : "succeed");
    cr_expect_eq(mm_fault_failures(), 5, "five were made to fail");
    expect_oom_calls(5, "FROM at k = 2");
    disarm();
}

Test(fault_api, off_disarms_and_stops_counting)
{
    oom_watch(MM_CAT_INVALID, NULL);
    bool failed[3];
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_INVALID, NULL);
    disarm();
    alloc_uncached(3, failed);
    for (int i = 0; i < 3; i++) cr_expect(!failed[i], "allocation %d should succeed", i + 1);
    cr_expect_eq(mm_fault_attempts(), 0, "nothing is counted while disarmed");
    cr_expect_eq(mm_fault_failures(), 0, "nothing fails while disarmed");
    expect_oom_calls(0, "disarmed");
}

Test(fault_api, k_zero_counts_without_failing)
{
    oom_watch(MM_CAT_INVALID, NULL);
    bool failed[4];
    mm_fault_inject(MM_FAULT_FROM, 0, MM_CAT_INVALID, NULL);
    alloc_uncached(4, failed);
    for (int i = 0; i < 4; i++) cr_expect(!failed[i], "allocation %d should succeed", i + 1);
    cr_expect_eq(mm_fault_attempts(), 4, "four system allocations were counted");
    cr_expect_eq(mm_fault_failures(), 0, "k = 0 never fails");
    mm_fault_inject(MM_FAULT_FROM, 0, MM_CAT_INVALID, NULL);
    cr_expect_eq(mm_fault_attempts(), 0, "inject restarts the count");
    expect_oom_calls(0, "k = 0");
    disarm();
}

Test(fault_api, a_category_filter_counts_only_that_category)
{
    oom_watch(MM_CAT_HALOS, NULL);
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_HALOS, NULL);
    void *io = mm_malloc(UNCACHED, MM_CAT_IO);
    cr_expect_not_null(io, "a block of another category is outside the filter");
    cr_expect_eq(mm_fault_attempts(), 0, "it is not counted either");
    void *halos = mm_malloc(UNCACHED, MM_CAT_HALOS);
    cr_expect_null(halos, "the first Halos block should fail");
    cr_expect_eq(mm_fault_attempts(), 1, "one matching allocation was counted");
    expect_oom_calls(1, "Halos filter");
    cr_expect_eq(oom_seen.last.category, MM_CAT_HALOS, "the error names Halos");
    disarm();
    mm_free(io);
}

Test(fault_api, bookkeeping_matches_only_the_any_category_filter)
{
    oom_watch(MM_CAT_HALOS, NULL);
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_HALOS, NULL);
    mm_context *ctx = mm_context_create("bookkeeping", NULL);
    cr_assert_not_null(ctx, "a context struct and its epochs belong to no category");
    void *g = mm_context_malloc(ctx, 64, MM_CAT_GALAXIES);
    cr_expect_not_null(g, "growing the per-category array is bookkeeping; the chunk is Galaxies");
    void *h = mm_context_malloc(ctx, 64, MM_CAT_HALOS);
    cr_expect_not_null(h, "a Halos block carved from the current chunk needs no system call");
    void *big = mm_context_malloc(ctx, BIG, MM_CAT_HALOS);
    cr_expect_null(big, "a large Halos block is a system allocation for Halos");
    expect_oom_calls(1, "bookkeeping and Halos filter");
    disarm();
    mm_context_destroy(ctx);
}

Test(fault_api, a_context_filter_counts_only_that_context)
{
    oom_watch(MM_CAT_INVALID, NULL);
    mm_context *a = mm_context_create("a", NULL), *b = mm_context_create("b", NULL);
    mm_context *child = mm_context_create("child of a", a);
    cr_assert(a && b && child, "the contexts should be created");
    oom_seen.want_ctx = a;
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_INVALID, a);
    cr_expect_not_null(mm_context_malloc(b, BIG, MM_CAT_HALOS), "another context");
    cr_expect_not_null(mm_context_malloc(child, BIG, MM_CAT_HALOS), "a child is not included");
    void *p = mm_malloc(UNCACHED, MM_CAT_HALOS);
    cr_expect_not_null(p, "process blocks are outside a context filter");
    cr_expect_null(mm_context_malloc(a, BIG, MM_CAT_HALOS), "the filtered context fails");
    expect_oom_calls(1, "context filter");
    disarm();
    mm_free(p);
    mm_context_destroy(a);
    mm_context_destroy(b);
}

Test(fault_api, bad_arguments_are_errors_and_keep_the_setting)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *dead = mm_context_create("dead", NULL);
    mm_context_destroy(dead);
    mm_fault_inject(MM_FAULT_ONCE, 0, MM_CAT_INVALID, NULL); /* counting */
    mm_fault_inject((mm_fault_mode)7, 1, MM_CAT_INVALID, NULL);
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "an unknown mode");
    mm_fault_inject(MM_FAULT_ONCE, 1, 999, NULL);
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "an unknown category");
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, dead);
    mmt_expect_one_error(&rec, MM_ERR_BAD_CONTEXT, "a destroyed context");
    void *p = mm_malloc(UNCACHED, MM_CAT_HALOS);
    cr_expect_not_null(p, "the counting setting stayed: nothing fails");
    cr_expect_eq(mm_fault_attempts(), 1, "and it still counts");
    mmt_expect_no_error(&rec, "after the bad calls");
    disarm();
    mm_free(p);
    mm_set_error_handler(NULL, NULL);
}

static void *thread_first_alloc(void *arg)
{
    (void)arg;
    return mm_malloc(UNCACHED, MM_CAT_HALOS);
}

Test(fault_api, a_new_threads_statistics_that_cannot_be_made_fail_its_first_call)
{
    oom_watch(MM_CAT_UTILITY, NULL); /* bookkeeping is reported as Utility */
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, NULL); /* the thread's record */
    pthread_t th;
    void *got = (void *)1;
    cr_assert_eq(pthread_create(&th, NULL, thread_first_alloc, NULL), 0, "pthread_create");
    pthread_join(th, &got);
    cr_expect_null(got, "the first call of a thread whose statistics cannot be made fails");
    cr_expect_eq(mm_fault_attempts(), 1, "only the statistics were asked for");
    expect_oom_calls(1, "a new thread's statistics");
    disarm();
    cr_assert_eq(pthread_create(&th, NULL, thread_first_alloc, NULL), 0, "pthread_create");
    pthread_join(th, &got);
    cr_expect_not_null(got, "once memory is there again a new thread allocates");
    mm_free(got);
}

/* ========================================================================
 * Each place that asks the system for memory, failing on its own
 * ====================================================================== */

Test(fault_site, a_failed_process_realloc_keeps_the_block)
{
    oom_watch(MM_CAT_HALOS, NULL);
    char *p = mm_malloc(UNCACHED, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc");
    memset(p, 7, UNCACHED);
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, NULL);
    cr_expect_null(mm_realloc(p, 2 * UNCACHED), "the resize fails");
    disarm();
    expect_oom_calls(1, "process realloc");
    cr_expect_eq(mm_block_size(p), UNCACHED, "the block keeps its size");
    cr_expect_eq(p[UNCACHED - 1], 7, "and its contents");
    mmt_expect_category(MM_CAT_HALOS, UNCACHED, UNCACHED, 1, 1, 0, "after the failed realloc");
    mm_free(p);
}

Test(fault_site, context_create_fails_cleanly_at_each_of_its_allocations)
{
    oom_watch(MM_CAT_INVALID, NULL);
    for (uint64_t k = 1; k <= 3; k++) { /* the struct, its epochs, their top-K array */
        mm_fault_inject(MM_FAULT_ONCE, k, MM_CAT_INVALID, NULL);
        cr_expect_null(mm_context_create("c", NULL), "create fails at allocation %llu",
                       (unsigned long long)k);
        disarm();
    }
    expect_oom_calls(3, "context create");
    mm_context *ctx = mm_context_create("c", NULL);
    cr_expect_not_null(ctx, "create succeeds once disarmed");
    mm_context_destroy(ctx);
}

Test(fault_site, a_failed_category_array_growth_leaves_the_context_empty)
{
    oom_watch(MM_CAT_HALOS, NULL);
    mm_context *ctx = mm_context_create("c", NULL);
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, ctx);
    cr_expect_null(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "the first block needs the array");
    disarm();
    expect_oom_calls(1, "category array");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(0, 0, 0, 0, 0), "nothing was counted");
    cr_expect_not_null(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "the next try succeeds");
    mm_context_destroy(ctx);
}

Test(fault_site, a_failed_chunk_refill_keeps_the_blocks_before_it)
{
    oom_watch(MM_CAT_HALOS, NULL);
    mm_context *ctx = mm_context_create("c", NULL);
    mm_fault_inject(MM_FAULT_ONCE, 2, MM_CAT_HALOS, ctx); /* 1: the first chunk */
    size_t got = 0;
    while (got < 10000 && mm_context_malloc(ctx, 64, MM_CAT_HALOS) != NULL) got++;
    disarm();
    cr_expect_lt(got, 10000, "a refill should have failed");
    expect_oom_calls(1, "chunk refill");
    cr_expect_eq(oom_seen.last.size, 64, "the error gives the block's size");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(64 * got, 64 * got, got, got, 0),
                     "the blocks before the failure stay counted");
    cr_expect_not_null(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "the next try succeeds");
    mm_context_destroy(ctx);
}

Test(fault_site, failed_large_blocks_and_resizes_change_nothing)
{
    oom_watch(MM_CAT_TREES, NULL);
    mm_context *ctx = mm_context_create("c", NULL);
    char *p = mm_context_malloc(ctx, BIG, MM_CAT_TREES);
    char *s = mm_context_malloc(ctx, 100, MM_CAT_TREES);
    cr_assert(p && s, "the first blocks");
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_INVALID, ctx);
    cr_expect_null(mm_context_malloc(ctx, BIG, MM_CAT_TREES), "large malloc");
    cr_expect_null(mm_context_calloc(ctx, 2, BIG, MM_CAT_TREES), "large calloc");
    cr_expect_null(mm_realloc(p, 2 * BIG), "large to larger");
    cr_expect_null(mm_realloc(s, BIG), "small to large");
    cr_expect_eq(mm_fault_attempts(), 4, "four system allocations");
    disarm();
    expect_oom_calls(4, "large blocks");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(BIG + 100, BIG + 100, 2, 2, 0),
                     "the failures changed nothing");
    cr_expect_eq(mm_block_size(p), BIG, "the large block keeps its size");
    cr_expect_eq(mm_block_size(s), 100, "the small block keeps its size");
    mm_context_destroy(ctx);
}

Test(fault_site, a_failed_top_epoch_growth_keeps_k_and_shrinking_never_fails)
{
    oom_watch(MM_CAT_INVALID, NULL);
    mm_context *ctx = mm_context_create("c", NULL);
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_INVALID, ctx);
    cr_expect_eq(mm_context_set_top_epochs(ctx, 50), MM_DEFAULT_TOP_EPOCHS, "returns the old k");
    expect_oom_calls(1, "top epochs growth");
    oom_seen.calls = 0;
    cr_expect_eq(mm_context_set_top_epochs(ctx, 3), MM_DEFAULT_TOP_EPOCHS,
                 "the failed growth kept k");
    cr_expect_eq(mm_context_set_top_epochs(ctx, 0), 3, "shrinking worked");
    expect_oom_calls(0, "shrinking needs no memory");
    disarm();
    cr_expect_eq(mm_context_set_top_epochs(ctx, 5), 0, "growing works once disarmed");
    mm_context_destroy(ctx);
}

Test(fault_site, a_failed_epoch_breakdown_is_reported_and_keeps_the_epoch)
{
    oom_watch(MM_CAT_INVALID, NULL);
    mm_context *ctx = mm_context_create("c", NULL);
    FILE *log = tmpfile();
    cr_assert_not_null(log, "tmpfile");
    mm_context_set_epoch_log(ctx, log, MM_EPOCH_LOG_CSV);
    cr_assert_not_null(mm_context_malloc(ctx, 500, MM_CAT_HALOS), "a block");
    mm_context_set_label(ctx, "Forest 1");
    mm_fault_inject(MM_FAULT_FROM, 1, MM_CAT_INVALID, NULL);
    mm_context_reset(ctx);
    disarm();
    expect_oom_calls(1, "epoch breakdown");
    mm_epoch_info top;
    cr_expect(mm_context_top_epoch(ctx, 0, &top), "the epoch is kept");
    cr_expect_eq(top.peak_bytes, 500, "with its peak");
    cr_expect_eq(mm_context_top_epoch_category(ctx, 0, MM_CAT_HALOS), 0,
                 "without the per-category breakdown");
    rewind(log);
    char line[256] = "";
    cr_expect_not_null(fgets(line, sizeof line, log), "the header");
    cr_expect_not_null(fgets(line, sizeof line, log), "the epoch line");
    cr_expect_str_eq(line, "0,Forest 1,500,Halos=500\n", "the log needs no memory");
    fclose(log);
    mm_context_destroy(ctx);
}

Test(fault_site, a_failed_report_writes_nothing)
{
    oom_watch(MM_CAT_INVALID, NULL);
    FILE *out = tmpfile();
    cr_assert_not_null(out, "tmpfile");
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, NULL);
    mm_report(out, NULL, MM_REPORT_JSON);
    disarm();
    expect_oom_calls(1, "report");
    cr_expect_eq(ftell(out), 0, "nothing is written");
    mm_report(out, NULL, MM_REPORT_JSON);
    cr_expect_gt(ftell(out), 0, "the report works once disarmed");
    fclose(out);
}

Test(fault_site, mymalloc_returns_null_when_the_handler_returns)
{
    set_memory_reporting(MEMORY_REPORT_NONE);
    oom_watch(MM_CAT_UNKNOWN, NULL);
    mm_fault_inject(MM_FAULT_ONCE, 1, MM_CAT_INVALID, NULL);
    cr_expect_null(mymalloc(UNCACHED), "mymalloc fails");
    disarm();
    expect_oom_calls(1, "mymalloc");
    void *p = mymalloc(UNCACHED);
    cr_expect_not_null(p, "and works once disarmed");
    myfree(p);
}
