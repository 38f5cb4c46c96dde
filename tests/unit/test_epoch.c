/* Unit tests for src/epoch.c: each reset closes one epoch of a context; the
 * tests check the summary (count, min, max, mean peak), the top-K epochs
 * with labels and category peaks against a reference model, the CSV and
 * JSONL epoch logs, the reclaimed-by-reset figures and warnings, and that
 * the bookkeeping stays bounded over 100,000 epochs. */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "mm_json.h"
#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

static void *ep_alloc(mm_context *ctx, size_t size, mm_category c)
{
    void *p = mm_context_malloc(ctx, size, c);
    cr_assert_not_null(p, "allocating %zu bytes in category %d should succeed", size, c);
    return p;
}

/* Length of the common prefix of a and b, to point at the first difference. */
static size_t ep_common_prefix(const char *a, const char *b)
{
    size_t i = 0;
    while (a[i] != '\0' && a[i] == b[i]) i++;
    return i;
}

#define ep_expect_text(got, want, what)                                                    \
    do {                                                                                   \
        if (strcmp((got), (want)) != 0) {                                                  \
            size_t ep_at_ = ep_common_prefix((got), (want));                               \
            cr_expect_fail("%s should be exactly:\n%s\n---- but was:\n%s\n---- first "    \
                           "difference at byte %zu", (what), (want), (got), ep_at_);       \
        }                                                                                  \
    } while (0)

/* A temporary file that receives ctx's epoch log in fmt from now on. */
static FILE *ep_start_log(mm_context *ctx, mm_epoch_log_format fmt)
{
    FILE *log = tmpfile();
    cr_assert_not_null(log, "tmpfile() should give a file for the epoch log");
    mm_context_set_epoch_log(ctx, log, fmt);
    return log;
}

/* Expects the whole epoch log written so far to be exactly want. */
static void ep_expect_log(FILE *log, const char *want, const char *what)
{
    char *got = mmt_read_stream(log, "the log file");
    ep_expect_text(got, want, what);
    free(got);
}

/* Appends printf-style text to a growing buffer from the system malloc. */
typedef struct {
    char *text;  /* NUL-terminated contents */
    size_t len;  /* bytes used, without the NUL */
    size_t cap;  /* bytes allocated */
} ep_buf;

static void ep_buf_add(ep_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ep_buf_add(ep_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(n, 0, "formatting the expected text should succeed");
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *t = realloc(b->text, cap);
        cr_assert_not_null(t, "the expected text should fit in memory");
        b->text = t;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->text + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* ========================================================================
 * Summary and labels
 * ====================================================================== */

Test(epoch, a_new_context_has_no_closed_epochs)
{
    mm_context *f = mmt_context("forest", NULL);
    mm_epoch_summary s = mm_context_epochs(f);
    mmt_expect_figure(f, s.count, 0, "epochs closed by a new context");
    mmt_expect_figure(f, s.min_peak, 0, "min_peak with no closed epoch");
    mmt_expect_figure(f, s.max_peak, 0, "max_peak with no closed epoch");
    cr_expect(s.mean_peak == 0.0, "mean_peak with no closed epoch should be 0, got %f", s.mean_peak);
    mm_epoch_info info;
    cr_expect_eq(mm_context_top_epoch(f, 0, &info), 0, "there should be no top epoch yet");
    mmt_expect_figure(f, mm_context_top_epoch_category(f, 0, MM_CAT_HALOS), 0,
                      "the Halos peak of a missing top epoch");
    cr_expect_str_eq(mm_context_label(f), "", "a new context's label should be empty");
    mm_context_destroy(f);
}

Test(epoch, each_reset_closes_one_epoch_with_its_subtree_peak)
{
    mm_context *f = mmt_context("forest", NULL);
    /* Epoch 0: peak 700 reached with a child's block. */
    mm_context *g = mmt_context("scratch", f);
    void *a = ep_alloc(f, 300, MM_CAT_HALOS);
    ep_alloc(g, 400, MM_CAT_TREES);
    mm_free(a);
    ep_alloc(f, 100, MM_CAT_HALOS);
    mm_context_reset(f);
    mm_epoch_summary s = mm_context_epochs(f);
    mmt_expect_figure(f, s.count, 1, "epochs after one reset");
    mmt_expect_figure(f, s.min_peak, 700, "min_peak after the first epoch (300 + the child's 400)");
    mmt_expect_figure(f, s.max_peak, 700, "max_peak after the first epoch");

    /* Epoch 1: peak 50. Epoch 2: empty, peak 0. */
    ep_alloc(f, 50, MM_CAT_HALOS);
    mm_context_reset(f);
    mm_context_reset(f);
    s = mm_context_epochs(f);
    mmt_expect_figure(f, s.count, 3, "epochs after three resets");
    mmt_expect_figure(f, s.min_peak, 0, "min_peak with an empty epoch");
    mmt_expect_figure(f, s.max_peak, 700, "max_peak over the three epochs");
    cr_expect(s.mean_peak > 249.999 && s.mean_peak < 250.001,
              "mean_peak of 700, 50 and 0 should be 250, got %f", s.mean_peak);
    mm_context_destroy(f);
}

Test(epoch, epoch_stats_count_only_the_current_epoch)
{
    mm_context *f = mmt_context("forest", NULL);
    void *a = ep_alloc(f, 100, MM_CAT_HALOS);
    ep_alloc(f, 200, MM_CAT_HALOS);
    mm_free(a);
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(200, 300, 1, 2, 1),
                        "the first epoch's figures");
    mm_context_reset(f);
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(0, 0, 0, 0, 0),
                        "a fresh epoch should start at zero");
    mm_context *g = mmt_context("scratch", f);
    void *b = ep_alloc(g, 40, MM_CAT_TREES);
    ep_alloc(f, 10, MM_CAT_HALOS);
    mm_free(b);
    mmt_expect_stats_of(f, mm_context_epoch_stats(f), mmt_stats(10, 50, 1, 2, 1),
                        "the second epoch should count its own allocations, the child's included");
    mmt_expect_stats_of(f, mm_stats_total(f), mmt_stats(10, 300, 1, 4, 3),
                        "the totals should still count both epochs");
    mm_context_destroy(f);
}

Test(epoch, the_label_is_copied_truncated_and_cleared_by_reset)
{
    mm_context *f = mmt_context("forest", NULL);
    char label[128];
    snprintf(label, sizeof label, "%s", "Forest 17");
    mm_context_set_label(f, label);
    memset(label, 'z', 20);
    cr_expect_str_eq(mm_context_label(f), "Forest 17", "the context should keep a copy of the label");
    ep_alloc(f, 10, MM_CAT_HALOS);
    mm_context_reset(f);
    cr_expect_str_eq(mm_context_label(f), "", "a new epoch should start without a label");

    memset(label, 'x', 100);
    label[100] = '\0';
    mm_context_set_label(f, label);
    mmt_expect_figure(f, strlen(mm_context_label(f)), MM_NAME_MAX,
                      "the length of a 100-byte label truncated to MM_NAME_MAX");
    ep_alloc(f, 20, MM_CAT_HALOS);
    mm_context_reset(f);

    mm_epoch_info info;
    cr_assert(mm_context_top_epoch(f, 0, &info), "the largest epoch should be kept");
    mmt_expect_figure(f, info.index, 1, "the index of the largest epoch");
    mmt_expect_figure(f, strlen(info.label), MM_NAME_MAX, "the length of its kept label");
    cr_assert(mm_context_top_epoch(f, 1, &info), "the second epoch should be kept");
    cr_expect_str_eq(info.label, "Forest 17", "the first epoch should keep its label");
    mm_context_destroy(f);
}

/* ========================================================================
 * Top-K
 * ====================================================================== */

/* One closed epoch as the reference model sees it. */
#define EP_NCAT 3
typedef struct {
    uint64_t index;                /* 0-based epoch number */
    size_t peak;                   /* subtree high-water mark of live bytes */
    size_t cat_peak[EP_NCAT];      /* per-category high-water marks */
    char label[MM_NAME_MAX + 1];   /* label at the reset */
} ep_ref;

/* Largest peak first; equal peaks: earlier epoch first. */
static int ep_ref_order(const void *a, const void *b)
{
    const ep_ref *x = a, *y = b;
    if (x->peak != y->peak) return x->peak > y->peak ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Checks that ctx keeps exactly the min(k, n) largest of cand[0..n) in
 * order, with labels and category peaks. cand is sorted in place. */
static void ep_check_top(const mm_context *ctx, ep_ref *cand, size_t n, size_t k,
                         const mm_category *cats, const char *phase)
{
    qsort(cand, n, sizeof *cand, ep_ref_order);
    size_t kept = n < k ? n : k;
    for (size_t r = 0; r < kept; r++) {
        mm_epoch_info info;
        memset(&info, 0, sizeof info);
        int ok = mm_context_top_epoch(ctx, r, &info);
        if (!ok) mmt_dump_report_once(ctx);
        cr_assert(ok, "%s: rank %zu of %zu kept epochs should exist", phase, r, kept);
        mmt_assert_figure(ctx, info.index, cand[r].index, "%s: the index of rank %zu", phase, r);
        mmt_assert_figure(ctx, info.peak_bytes, cand[r].peak,
                          "%s: the peak of rank %zu (epoch %ju)",
                          phase, r, (uintmax_t)cand[r].index);
        cr_assert_not_null(info.label, "%s: rank %zu should have a label string", phase, r);
        cr_assert_str_eq(info.label, cand[r].label, "%s: rank %zu (epoch %ju) should be labelled "
                         "\"%s\"", phase, r, (uintmax_t)cand[r].index, cand[r].label);
        for (int c = 0; c < EP_NCAT; c++) {
            mmt_assert_figure(ctx, mm_context_top_epoch_category(ctx, r, cats[c]),
                              cand[r].cat_peak[c],
                              "%s: the %s peak of rank %zu (epoch %ju)", phase,
                              mm_category_name(cats[c]), r, (uintmax_t)cand[r].index);
        }
        mmt_assert_figure(ctx, mm_context_top_epoch_category(ctx, r, MM_CAT_IO), 0,
                          "%s: the peak of the unused IO category at rank %zu", phase, r);
    }
    mm_epoch_info info;
    cr_assert_eq(mm_context_top_epoch(ctx, kept, &info), 0,
                 "%s: rank %zu should not exist when %zu epochs are kept", phase, kept, kept);
}

/* Checks count, min, max and mean of the peaks of refs[0..n). */
static void ep_check_summary(const mm_context *ctx, const ep_ref *refs, size_t n, const char *phase)
{
    size_t lo = n ? SIZE_MAX : 0, hi = 0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].peak < lo) lo = refs[i].peak;
        if (refs[i].peak > hi) hi = refs[i].peak;
        sum += (double)refs[i].peak;
    }
    double mean = n ? sum / (double)n : 0.0;
    mm_epoch_summary s = mm_context_epochs(ctx);
    mmt_assert_figure(ctx, s.count, n, "%s: the number of closed epochs", phase);
    mmt_assert_figure(ctx, s.min_peak, lo, "%s: min_peak", phase);
    mmt_assert_figure(ctx, s.max_peak, hi, "%s: max_peak", phase);
    double diff = s.mean_peak - mean;
    if (diff < 0) diff = -diff;
    cr_assert(diff <= 1e-9 * mean + 1e-9, "%s: mean_peak should be %.6f, got %.6f", phase, mean,
              s.mean_peak);
}

Test(epoch, equal_peaks_rank_the_earlier_epoch_first)
{
    mm_context *f = mmt_context("forest", NULL);
    mmt_expect_figure(f, mm_context_set_top_epochs(f, 4), MM_DEFAULT_TOP_EPOCHS,
                      "the old K returned by the first mm_context_set_top_epochs");
    const size_t peaks[] = {100, 200, 200, 50, 100, 200, 100};
    ep_ref refs[7];
    const mm_category cats[EP_NCAT] = {MM_CAT_HALOS, MM_CAT_TREES, MM_CAT_UTILITY};
    for (size_t e = 0; e < 7; e++) {
        char label[32];
        snprintf(label, sizeof label, "tie %zu", e);
        mm_context_set_label(f, label);
        ep_alloc(f, peaks[e], MM_CAT_HALOS);
        mm_context_reset(f);
        memset(&refs[e], 0, sizeof refs[e]);
        refs[e].index = e;
        refs[e].peak = peaks[e];
        refs[e].cat_peak[0] = peaks[e];
        snprintf(refs[e].label, sizeof refs[e].label, "%s", label);
    }
    /* Kept: the 200s of epochs 1, 2 and 5, then the 100 of epoch 0, ahead
     * of the equal 100s of epochs 4 and 6 that came later. */
    ep_check_top(f, refs, 7, 4, cats, "four kept out of seven with ties");
    mm_epoch_info info;
    cr_assert(mm_context_top_epoch(f, 3, &info), "rank 3 should exist");
    mmt_expect_figure(f, info.index, 0, "with K = 4 the fourth-ranked epoch (the first 100)");
    mm_context_destroy(f);
}

Test(epoch, changing_K_keeps_the_largest_epochs)
{
    mm_context *f = mmt_context("forest", NULL);
    const mm_category cats[EP_NCAT] = {MM_CAT_HALOS, MM_CAT_TREES, MM_CAT_UTILITY};
    ep_ref refs[40];
    /* Peaks 1000 + (e * 37) % 40 * 10: all distinct, in scrambled order. */
    for (size_t e = 0; e < 40; e++) {
        size_t peak = 1000 + (e * 37) % 40 * 10;
        mm_context_set_label(f, e % 2 ? "odd" : "even");
        ep_alloc(f, peak, MM_CAT_TREES);
        mm_context_reset(f);
        memset(&refs[e], 0, sizeof refs[e]);
        refs[e].index = e;
        refs[e].peak = peak;
        refs[e].cat_peak[1] = peak;
        snprintf(refs[e].label, sizeof refs[e].label, "%s", e % 2 ? "odd" : "even");
    }
    ep_ref cand[40];
    memcpy(cand, refs, sizeof refs);
    ep_check_top(f, cand, 40, MM_DEFAULT_TOP_EPOCHS, cats, "default K");

    mmt_expect_figure(f, mm_context_set_top_epochs(f, 3), MM_DEFAULT_TOP_EPOCHS,
                      "the old K returned when lowering K to 3");
    memcpy(cand, refs, sizeof refs);
    ep_check_top(f, cand, 40, 3, cats, "K lowered to 3");

    mmt_expect_figure(f, mm_context_set_top_epochs(f, 0), 3,
                      "the old K returned when turning top-K off");
    mm_epoch_info info;
    cr_expect_eq(mm_context_top_epoch(f, 0, &info), 0, "with K = 0 no epoch should be kept");
    mmt_expect_figure(f, mm_context_set_top_epochs(f, 5), 0,
                      "the old K returned when turning it back on");
    ep_alloc(f, 777, MM_CAT_HALOS);
    mm_context_reset(f);
    cr_assert(mm_context_top_epoch(f, 0, &info), "the epoch closed after K = 5 should be kept");
    mmt_expect_figure(f, info.index, 40, "the only epoch kept after K went 0 then 5");
    mmt_expect_figure(f, info.peak_bytes, 777, "its peak");
    cr_expect_eq(mm_context_top_epoch(f, 1, &info), 0, "only one epoch should be kept");
    mm_epoch_summary s = mm_context_epochs(f);
    mmt_expect_figure(f, s.count, 41, "the summary should count every epoch whatever K was");
    mmt_expect_figure(f, s.min_peak, 777, "min_peak over all 41 epochs");
    mmt_expect_figure(f, s.max_peak, 1390, "max_peak over all 41 epochs");
    mm_context_destroy(f);
}

/* The reference model of one context's current epoch. */
#define EP_MAX_LIVE 256
typedef struct {
    mm_context *ctx;                 /* the context under test */
    mm_context *child;               /* its scratch child this epoch, or NULL */
    void *p[EP_MAX_LIVE];            /* live blocks */
    size_t size[EP_MAX_LIVE];        /* their sizes */
    int cat[EP_MAX_LIVE];            /* their category index in cats */
    int in_child[EP_MAX_LIVE];       /* nonzero when the block is the child's */
    size_t n;                        /* live blocks */
    size_t bytes;                    /* live bytes of the subtree */
    size_t cat_bytes[EP_NCAT];       /* live bytes per category */
    size_t peak;                     /* epoch high-water mark */
    size_t cat_peak[EP_NCAT];        /* per-category high-water marks */
} ep_model;

static void ep_model_peaks(ep_model *m)
{
    if (m->bytes > m->peak) m->peak = m->bytes;
    for (int c = 0; c < EP_NCAT; c++) {
        if (m->cat_bytes[c] > m->cat_peak[c]) m->cat_peak[c] = m->cat_bytes[c];
    }
}

static void ep_model_remove(ep_model *m, size_t i)
{
    m->bytes -= m->size[i];
    m->cat_bytes[m->cat[i]] -= m->size[i];
    m->n--;
    m->p[i] = m->p[m->n];
    m->size[i] = m->size[m->n];
    m->cat[i] = m->cat[m->n];
    m->in_child[i] = m->in_child[m->n];
}

static size_t ep_random_size(uint64_t *rng)
{
    uint64_t r = mmt_rand(rng);
    if (r % 10 == 0) return 65537 + (size_t)(r % 60000); /* a large block */
    if (r % 13 == 0) return 0;
    return (size_t)(r % 8000);
}

/* Runs one random epoch on m and closes it; fills *ref. */
static void ep_random_epoch(ep_model *m, uint64_t *rng, const mm_category *cats, uint64_t index,
                            ep_ref *ref, uint64_t seed)
{
    memset(ref, 0, sizeof *ref);
    ref->index = index;
    uint64_t r = mmt_rand(rng);
    int label_kind = (int)(r % 10);
    if (label_kind == 2) mm_context_set_label(m->ctx, "provisional");
    if (label_kind >= 2) snprintf(ref->label, sizeof ref->label, "Forest %ju", (uintmax_t)index);

    if (r / 10 % 5 == 0) {
        /* A fixed epoch: one large block of one of three sizes, so that equal
         * peaks meet in the top ranks. */
        static const size_t fixed[] = {150000, 180000, 200000};
        size_t size = fixed[mmt_rand(rng) % 3];
        int c = (int)(mmt_rand(rng) % EP_NCAT);
        void *p = mm_context_malloc(m->ctx, size, cats[c]);
        cr_assert_not_null(p, "seed %ju, epoch %ju: a fixed %zu-byte block should be allocated",
                           (uintmax_t)seed, (uintmax_t)index, size);
        m->peak = size;
        m->cat_peak[c] = size;
        if (mmt_rand(rng) % 2) mm_free(p);
    } else {
        int nops = 1 + (int)(mmt_rand(rng) % 30);
        for (int op = 0; op < nops; op++) {
            uint64_t k = mmt_rand(rng) % 100;
            if ((k < 55 || m->n == 0) && m->n < EP_MAX_LIVE) {
                int c = (int)(mmt_rand(rng) % EP_NCAT);
                size_t size = ep_random_size(rng);
                int child = m->child != NULL && mmt_rand(rng) % 3 == 0;
                void *p = mm_context_malloc(child ? m->child : m->ctx, size, cats[c]);
                cr_assert_not_null(p, "seed %ju, epoch %ju: allocating %zu bytes should succeed",
                                   (uintmax_t)seed, (uintmax_t)index, size);
                m->p[m->n] = p;
                m->size[m->n] = size;
                m->cat[m->n] = c;
                m->in_child[m->n] = child;
                m->n++;
                m->bytes += size;
                m->cat_bytes[c] += size;
            } else if (k < 80) {
                size_t i = (size_t)(mmt_rand(rng) % m->n);
                mm_free(m->p[i]);
                ep_model_remove(m, i);
            } else if (k < 90) {
                size_t i = (size_t)(mmt_rand(rng) % m->n);
                size_t size = ep_random_size(rng);
                void *q = mm_realloc(m->p[i], size);
                cr_assert_not_null(q, "seed %ju, epoch %ju: realloc to %zu bytes should succeed",
                                   (uintmax_t)seed, (uintmax_t)index, size);
                m->bytes = m->bytes - m->size[i] + size;
                m->cat_bytes[m->cat[i]] = m->cat_bytes[m->cat[i]] - m->size[i] + size;
                m->p[i] = q;
                m->size[i] = size;
            } else if (m->child == NULL) {
                m->child = mm_context_create("scratch", m->ctx);
                cr_assert_not_null(m->child, "seed %ju, epoch %ju: a child should be created",
                                   (uintmax_t)seed, (uintmax_t)index);
            } else if (k < 95) {
                mm_context_destroy(m->child);
                m->child = NULL;
                for (size_t i = m->n; i-- > 0;) {
                    if (m->in_child[i]) ep_model_remove(m, i);
                }
            }
            ep_model_peaks(m);
        }
    }
    if (label_kind >= 2) mm_context_set_label(m->ctx, ref->label);

    mm_stats es = mm_context_epoch_stats(m->ctx);
    mmt_assert_figure(m->ctx, es.peak_bytes, m->peak,
                      "seed %ju, epoch %ju: the epoch peak before the "
                      "reset", (uintmax_t)seed, (uintmax_t)index);
    if (r / 10 % 5 != 0) {
        mmt_assert_figure(m->ctx, es.bytes, m->bytes, "seed %ju, epoch %ju: the epoch's live bytes",
                          (uintmax_t)seed, (uintmax_t)index);
        mmt_assert_figure(m->ctx, es.blocks, m->n, "seed %ju, epoch %ju: the epoch's live blocks",
                          (uintmax_t)seed, (uintmax_t)index);
    }
    mm_context_reset(m->ctx);
    ref->peak = m->peak;
    memcpy(ref->cat_peak, m->cat_peak, sizeof ref->cat_peak);
    mm_context *ctx = m->ctx;
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
}

/* One CSV line of the reference epoch (label needs no quoting here). */
static void ep_csv_line(ep_buf *b, const ep_ref *r, const mm_category *cats)
{
    ep_buf_add(b, "%ju,%s,%zu,", (uintmax_t)r->index, r->label, r->peak);
    int first = 1;
    for (int c = 0; c < EP_NCAT; c++) {
        if (r->cat_peak[c] == 0) continue;
        ep_buf_add(b, "%s%s=%zu", first ? "" : ";", mm_category_name(cats[c]), r->cat_peak[c]);
        first = 0;
    }
    ep_buf_add(b, "\n");
}

static uint64_t ep_seed(void)
{
    const char *v = getenv("MM_TEST_SEED");
    if (v != NULL && *v != '\0') return strtoull(v, NULL, 0);
    return (uint64_t)time(NULL);
}

#define EP_PHASE1 200
#define EP_PHASE2 150

Test(epoch, epoch_statistics_match_a_reference_over_random_epochs, .timeout = 300)
{
    uint64_t seed = ep_seed();
    uint64_t rng = seed;
    /* Category ids in increasing order, as the log lists them. */
    const mm_category cats[EP_NCAT] = {MM_CAT_HALOS, MM_CAT_TREES, mmt_cooling()};
    static ep_ref refs[EP_PHASE1 + EP_PHASE2];
    static ep_ref cand[EP_PHASE1 + EP_PHASE2];
    char phase[96];
    mm_stats base = mm_stats_total(NULL);

    ep_model m;
    memset(&m, 0, sizeof m);
    m.ctx = mmt_context("forest", NULL);
    FILE *log = ep_start_log(m.ctx, MM_EPOCH_LOG_CSV);

    /* Phase 1: default K. */
    for (size_t e = 0; e < EP_PHASE1; e++) ep_random_epoch(&m, &rng, cats, e, &refs[e], seed);
    snprintf(phase, sizeof phase, "seed %ju, after %d epochs with the default K", (uintmax_t)seed,
             EP_PHASE1);
    ep_check_summary(m.ctx, refs, EP_PHASE1, phase);
    memcpy(cand, refs, sizeof refs[0] * EP_PHASE1);
    ep_check_top(m.ctx, cand, EP_PHASE1, MM_DEFAULT_TOP_EPOCHS, cats, phase);

    /* Phase 2: K lowered to 3 keeps the three largest. */
    mmt_expect_figure(m.ctx, mm_context_set_top_epochs(m.ctx, 3), MM_DEFAULT_TOP_EPOCHS,
                      "the old K returned when lowering K to 3");
    snprintf(phase, sizeof phase, "seed %ju, after lowering K to 3", (uintmax_t)seed);
    memcpy(cand, refs, sizeof refs[0] * EP_PHASE1);
    ep_check_top(m.ctx, cand, EP_PHASE1, 3, cats, phase);

    /* Phase 3: K raised to 25; the candidates are the three kept epochs and
     * every epoch closed from now on. */
    mmt_expect_figure(m.ctx, mm_context_set_top_epochs(m.ctx, 25), 3,
                      "the old K returned when raising K to 25");
    for (size_t e = EP_PHASE1; e < EP_PHASE1 + EP_PHASE2; e++) {
        ep_random_epoch(&m, &rng, cats, e, &refs[e], seed);
    }
    snprintf(phase, sizeof phase, "seed %ju, after %d more epochs with K raised to 25",
             (uintmax_t)seed, EP_PHASE2);
    ep_check_summary(m.ctx, refs, EP_PHASE1 + EP_PHASE2, phase);
    memcpy(cand, refs, sizeof refs[0] * EP_PHASE1);
    qsort(cand, EP_PHASE1, sizeof cand[0], ep_ref_order);
    memcpy(cand + 3, refs + EP_PHASE1, sizeof refs[0] * EP_PHASE2);
    ep_check_top(m.ctx, cand, 3 + EP_PHASE2, 25, cats, phase);

    /* The CSV log holds one exact line per epoch. */
    ep_buf want = {0};
    ep_buf_add(&want, "epoch,label,peak_bytes,category_peaks\n");
    for (size_t e = 0; e < EP_PHASE1 + EP_PHASE2; e++) ep_csv_line(&want, &refs[e], cats);
    snprintf(phase, sizeof phase, "seed %ju: the CSV epoch log", (uintmax_t)seed);
    ep_expect_log(log, want.text, phase);
    free(want.text);
    mm_context_set_epoch_log(m.ctx, NULL, MM_EPOCH_LOG_CSV);
    fclose(log);

    mm_context_destroy(m.ctx);
    mm_stats now = mm_stats_total(NULL);
    mmt_expect_figure(NULL, now.bytes, base.bytes, "seed %ju: process bytes after destroy",
                      (uintmax_t)seed);
    mmt_expect_figure(NULL, now.blocks, base.blocks, "seed %ju: process blocks after destroy",
                      (uintmax_t)seed);
    mmt_expect_figure(NULL, now.allocs - base.allocs, now.frees - base.frees,
                      "seed %ju: process frees since the start (every alloc freed)", (uintmax_t)seed);
}

/* ========================================================================
 * Epoch log
 * ====================================================================== */

/* Seven epochs covering the log's cases: per-category peaks reached at
 * different times, labels needing quotes or escapes, an empty epoch, a
 * zero-size block, a child context's blocks. */
static void ep_log_scenario(mm_context *f, mm_category cooling)
{
    mm_context_set_label(f, "Forest 0");
    ep_alloc(f, 100000, MM_CAT_HALOS);
    ep_alloc(f, 23456, cooling);
    mm_context_reset(f);

    mm_context_set_label(f, "a,b");
    ep_alloc(f, 10, MM_CAT_TREES);
    mm_context_reset(f);

    mm_context_set_label(f, "say \"hi\"");
    mm_context_reset(f);

    mm_context_set_label(f, "line1\nline2");
    ep_alloc(f, 5, MM_CAT_HALOS);
    mm_context_reset(f);

    ep_alloc(f, 0, MM_CAT_HALOS);
    mm_context_reset(f);

    mm_context_set_label(f, "C:\\dir");
    mm_free(ep_alloc(f, 300, MM_CAT_HALOS));
    ep_alloc(f, 200, cooling);
    mm_context_reset(f);

    mm_context_set_label(f, "Forest 6");
    mm_context *g = mmt_context("scratch", f);
    ep_alloc(g, 1000, MM_CAT_TREES);
    ep_alloc(f, 1, MM_CAT_HALOS);
    mm_context_reset(f);
}

Test(epoch, the_csv_epoch_log_is_exact)
{
    mm_category cooling = mmt_cooling();
    const char *h = mm_category_name(MM_CAT_HALOS), *t = mm_category_name(MM_CAT_TREES);
    mm_context *f = mmt_context("forest", NULL);
    FILE *log = ep_start_log(f, MM_EPOCH_LOG_CSV);
    ep_expect_log(log, "epoch,label,peak_bytes,category_peaks\n",
                  "the CSV log right after mm_context_set_epoch_log (the header)");

    ep_log_scenario(f, cooling);
    ep_buf want = {0};
    ep_buf_add(&want, "epoch,label,peak_bytes,category_peaks\n");
    ep_buf_add(&want, "0,Forest 0,123456,%s=100000;Cooling=23456\n", h);
    ep_buf_add(&want, "1,\"a,b\",10,%s=10\n", t);
    ep_buf_add(&want, "2,\"say \"\"hi\"\"\",0,\n");
    ep_buf_add(&want, "3,\"line1\nline2\",5,%s=5\n", h);
    ep_buf_add(&want, "4,,0,\n");
    ep_buf_add(&want, "5,C:\\dir,300,%s=300;Cooling=200\n", h);
    ep_buf_add(&want, "6,Forest 6,1001,%s=1;%s=1000\n", h, t);
    ep_expect_log(log, want.text, "the CSV log after seven epochs");
    free(want.text);
    mm_context_set_epoch_log(f, NULL, MM_EPOCH_LOG_CSV);
    mm_context_destroy(f);
    fclose(log);
}

Test(epoch, the_jsonl_epoch_log_is_exact)
{
    mm_category cooling = mmt_cooling();
    const char *h = mm_category_name(MM_CAT_HALOS), *t = mm_category_name(MM_CAT_TREES);
    mm_context *f = mmt_context("forest", NULL);
    FILE *log = ep_start_log(f, MM_EPOCH_LOG_JSONL);
    ep_expect_log(log, "", "the JSONL log right after mm_context_set_epoch_log (no header)");

    ep_log_scenario(f, cooling);
    ep_buf want = {0};
    ep_buf_add(&want, "{\"epoch\":0,\"label\":\"Forest 0\",\"peak_bytes\":123456,"
               "\"category_peaks\":{\"%s\":100000,\"Cooling\":23456}}\n", h);
    ep_buf_add(&want, "{\"epoch\":1,\"label\":\"a,b\",\"peak_bytes\":10,"
               "\"category_peaks\":{\"%s\":10}}\n", t);
    ep_buf_add(&want, "{\"epoch\":2,\"label\":\"say \\\"hi\\\"\",\"peak_bytes\":0,"
               "\"category_peaks\":{}}\n");
    ep_buf_add(&want, "{\"epoch\":3,\"label\":\"line1\\nline2\",\"peak_bytes\":5,"
               "\"category_peaks\":{\"%s\":5}}\n", h);
    ep_buf_add(&want, "{\"epoch\":4,\"label\":\"\",\"peak_bytes\":0,\"category_peaks\":{}}\n");
    ep_buf_add(&want, "{\"epoch\":5,\"label\":\"C:\\\\dir\",\"peak_bytes\":300,"
               "\"category_peaks\":{\"%s\":300,\"Cooling\":200}}\n", h);
    ep_buf_add(&want, "{\"epoch\":6,\"label\":\"Forest 6\",\"peak_bytes\":1001,"
               "\"category_peaks\":{\"%s\":1,\"%s\":1000}}\n", h, t);
    char *got = mmt_read_stream(log, "the log file");
    ep_expect_text(got, want.text, "the JSONL log after seven epochs");

    /* Every line is strict JSON with the decoded label and the peak. */
    static const char *labels[] = {"Forest 0", "a,b", "say \"hi\"", "line1\nline2", "", "C:\\dir",
                                   "Forest 6"};
    static const uint64_t peaks[] = {123456, 10, 0, 5, 0, 300, 1001};
    char *line = got;
    for (int e = 0; e < 7 && line != NULL && *line != '\0'; e++) {
        char *eol = strchr(line, '\n');
        if (eol != NULL) *eol = '\0';
        char err[256];
        mmt_json *v = mmt_json_parse(line, err, sizeof err);
        cr_expect_not_null(v, "JSONL line %d should be valid JSON (%s): %s", e, err, line);
        if (v != NULL) {
            uint64_t n = 0;
            cr_expect(mmt_json_uint(mmt_json_get(v, "epoch"), &n) && n == (uint64_t)e,
                      "JSONL line %d should have \"epoch\": %d", e, e);
            cr_expect(mmt_json_string_is(mmt_json_get(v, "label"), labels[e]),
                      "JSONL line %d should decode to label \"%s\"", e, labels[e]);
            cr_expect(mmt_json_uint(mmt_json_get(v, "peak_bytes"), &n) && n == peaks[e],
                      "JSONL line %d should have \"peak_bytes\": %ju", e, (uintmax_t)peaks[e]);
            const mmt_json *cp = mmt_json_get(v, "category_peaks");
            cr_expect(cp != NULL && cp->type == MMT_JSON_OBJECT,
                      "JSONL line %d should have a \"category_peaks\" object", e);
            mmt_json_free(v);
        }
        line = eol != NULL ? eol + 1 : NULL;
    }
    free(got);
    free(want.text);
    mm_context_set_epoch_log(f, NULL, MM_EPOCH_LOG_JSONL);
    mm_context_destroy(f);
    fclose(log);
}

Test(epoch, the_log_starts_at_the_next_closed_epoch_and_NULL_stops_it)
{
    const char *h = mm_category_name(MM_CAT_HALOS);
    mm_context *f = mmt_context("forest", NULL);
    ep_alloc(f, 3, MM_CAT_HALOS);
    mm_context_reset(f); /* epoch 0, before the log */
    FILE *log = ep_start_log(f, MM_EPOCH_LOG_CSV);
    ep_alloc(f, 7, MM_CAT_HALOS);
    mm_context_reset(f); /* epoch 1, logged */
    mm_context_set_epoch_log(f, NULL, MM_EPOCH_LOG_CSV);
    ep_alloc(f, 9, MM_CAT_HALOS);
    mm_context_reset(f); /* epoch 2, after the log stopped */
    ep_buf want = {0};
    ep_buf_add(&want, "epoch,label,peak_bytes,category_peaks\n1,,7,%s=7\n", h);
    ep_expect_log(log, want.text, "the log of epoch 1 only");
    free(want.text);
    mm_context_destroy(f);
    fclose(log);
}

/* ========================================================================
 * Reclaimed by reset
 * ====================================================================== */

#define ep_expect_reclaimed(ctx, c, last, bytes_, blocks_, what)                          \
    do {                                                                                  \
        mm_reclaimed ep_r_ = mm_context_reclaimed((ctx), (c), (last));                    \
        mmt_expect_figure((ctx), ep_r_.bytes, (bytes_), "%s: reclaimed %s bytes (%s)", (what), \
                          mm_category_name(c), (last) ? "last epoch" : "cumulative");          \
        mmt_expect_figure((ctx), ep_r_.blocks, (blocks_), "%s: reclaimed %s blocks (%s)",      \
                          (what), mm_category_name(c), (last) ? "last epoch" : "cumulative");  \
    } while (0)

Test(epoch, reclaimed_figures_count_what_reset_freed_cumulative_and_last_epoch)
{
    mm_category cooling = mmt_cooling();
    mm_context *a = mmt_context("forest", NULL);
    ep_expect_reclaimed(a, MM_CAT_HALOS, 0, 0, 0, "before any reset");
    ep_expect_reclaimed(a, MM_CAT_HALOS, 1, 0, 0, "before any reset");

    /* Epoch 0: Halos leaves 100 + 300 + a zero-size block in A and 1000 in
     * its child (a reset reclaims the whole subtree); Cooling is freed
     * explicitly. */
    mm_context *b = mmt_context("scratch", a);
    ep_alloc(a, 100, MM_CAT_HALOS);
    mm_free(ep_alloc(a, 200, MM_CAT_HALOS));
    ep_alloc(a, 300, MM_CAT_HALOS);
    ep_alloc(a, 0, MM_CAT_HALOS);
    mm_free(ep_alloc(a, 50, cooling));
    mm_free(ep_alloc(a, 60, cooling));
    ep_alloc(b, 1000, MM_CAT_HALOS);
    mm_context_reset(a);
    ep_expect_reclaimed(a, MM_CAT_HALOS, 1, 1400, 4, "epoch 0");
    ep_expect_reclaimed(a, MM_CAT_HALOS, 0, 1400, 4, "epoch 0");
    ep_expect_reclaimed(a, cooling, 1, 0, 0, "epoch 0");
    ep_expect_reclaimed(a, cooling, 0, 0, 0, "epoch 0");
    ep_expect_reclaimed(a, MM_CAT_TREES, 0, 0, 0, "epoch 0");

    /* Epoch 1: Halos leaves 10; Cooling leaves a block grown to 90 and a
     * 5-byte block moved there from Halos. */
    ep_alloc(a, 10, MM_CAT_HALOS);
    void *c = ep_alloc(a, 70, cooling);
    cr_assert_not_null(mm_realloc(c, 90), "growing the Cooling block should succeed");
    void *moved = ep_alloc(a, 5, MM_CAT_HALOS);
    cr_assert_not_null(mm_realloc_cat(moved, 5, cooling), "moving the block to Cooling should succeed");
    mm_context_reset(a);
    ep_expect_reclaimed(a, MM_CAT_HALOS, 1, 10, 1, "epoch 1");
    ep_expect_reclaimed(a, cooling, 1, 95, 2, "epoch 1");
    ep_expect_reclaimed(a, MM_CAT_HALOS, 0, 1410, 5, "after epoch 1");
    ep_expect_reclaimed(a, cooling, 0, 95, 2, "after epoch 1");

    /* Epoch 2: nothing left behind; a child's own reset counts for the child. */
    mm_free(ep_alloc(a, 8, MM_CAT_HALOS));
    mm_context *d = mm_context_create("scratch 2", a);
    cr_assert_not_null(d, "creating the second child should succeed");
    ep_alloc(d, 20, MM_CAT_TREES);
    mm_context_reset(d);
    ep_expect_reclaimed(d, MM_CAT_TREES, 1, 20, 1, "the child's own reset");
    ep_expect_reclaimed(d, MM_CAT_TREES, 0, 20, 1, "the child's own reset");
    mm_context_reset(a);
    ep_expect_reclaimed(a, MM_CAT_HALOS, 1, 0, 0, "epoch 2");
    ep_expect_reclaimed(a, cooling, 1, 0, 0, "epoch 2");
    ep_expect_reclaimed(a, MM_CAT_TREES, 1, 0, 0, "epoch 2 (the child's own reset reclaimed its block)");
    ep_expect_reclaimed(a, MM_CAT_HALOS, 0, 1410, 5, "after epoch 2");
    ep_expect_reclaimed(a, cooling, 0, 95, 2, "after epoch 2");
    mm_context_destroy(a);
}

#define EP_LOG_MAX 32
typedef struct {
    int n;                          /* messages recorded (may exceed EP_LOG_MAX) */
    mm_log_level level[EP_LOG_MAX]; /* their levels */
    char text[EP_LOG_MAX][512];     /* their text (truncated) */
} ep_log_rec;

static void ep_log_handler(mm_log_level level, const char *message, void *user)
{
    ep_log_rec *r = user;
    if (r->n < EP_LOG_MAX) {
        r->level[r->n] = level;
        snprintf(r->text[r->n], sizeof r->text[r->n], "%s", message != NULL ? message : "");
    }
    r->n++;
}

/* Number of warnings in r[from..] mentioning "reclaimed" (and word, if not NULL). */
static int ep_count_warnings(const ep_log_rec *r, int from, const char *word)
{
    int n = 0;
    for (int i = from; i < r->n && i < EP_LOG_MAX; i++) {
        if (r->level[i] != MM_LOG_WARNING || strstr(r->text[i], "reclaimed") == NULL) continue;
        if (word == NULL || strstr(r->text[i], word) != NULL) n++;
    }
    return n;
}

static void ep_print_log(const ep_log_rec *r)
{
    for (int i = 0; i < r->n && i < EP_LOG_MAX; i++) {
        fprintf(stderr, "log[%d] level %d: %s\n", i, (int)r->level[i], r->text[i]);
    }
}

Test(epoch, the_reclaimed_warning_goes_through_the_log_handler)
{
    static ep_log_rec rec;
    mm_set_log_handler(ep_log_handler, &rec);
    mm_category cooling = mmt_cooling();
    const char *h = mm_category_name(MM_CAT_HALOS), *t = mm_category_name(MM_CAT_TREES);
    mm_context *f = mmt_context("forest", NULL);
    cr_expect_eq(mm_context_warn_reclaimed(f, 1), 0, "the warning should be off by default");
    cr_expect_eq(mm_context_warn_reclaimed(f, 1), 1, "turning it on again should return 1");

    ep_alloc(f, 10, MM_CAT_HALOS);
    ep_alloc(f, 20, MM_CAT_HALOS);
    ep_alloc(f, 30, cooling);
    mm_free(ep_alloc(f, 40, MM_CAT_TREES));
    int from = rec.n;
    mm_context_reset(f);
    int all = ep_count_warnings(&rec, from, NULL);
    if (all != 2) ep_print_log(&rec);
    cr_expect_eq(all, 2, "one warning per category that left blocks (Halos, Cooling) should be "
                 "logged, got %d", all);
    cr_expect_eq(ep_count_warnings(&rec, from, h), 1, "one reclaimed warning should name %s", h);
    cr_expect_eq(ep_count_warnings(&rec, from, "Cooling"), 1,
                 "one reclaimed warning should name Cooling");
    cr_expect_eq(ep_count_warnings(&rec, from, t), 0,
                 "no reclaimed warning should name %s, whose block was freed", t);

    from = rec.n;
    mm_free(ep_alloc(f, 10, MM_CAT_HALOS));
    mm_context_reset(f);
    cr_expect_eq(ep_count_warnings(&rec, from, NULL), 0,
                 "an epoch that left nothing should log no reclaimed warning");

    cr_expect_eq(mm_context_warn_reclaimed(f, 0), 1, "turning the warning off should return 1");
    from = rec.n;
    ep_alloc(f, 10, MM_CAT_HALOS);
    mm_context_reset(f);
    cr_expect_eq(ep_count_warnings(&rec, from, NULL), 0,
                 "with the warning off a reset should log no reclaimed warning");
    mm_context_destroy(f);
    mm_set_log_handler(NULL, NULL);
}

Test(epoch, the_reclaimed_warning_is_off_by_default)
{
    static ep_log_rec rec;
    mm_set_log_handler(ep_log_handler, &rec);
    mm_context *f = mmt_context("forest", NULL);
    ep_alloc(f, 10, MM_CAT_HALOS);
    mm_context_reset(f);
    int n = ep_count_warnings(&rec, 0, NULL);
    if (n != 0) ep_print_log(&rec);
    cr_expect_eq(n, 0, "a reset should log no reclaimed warning unless asked, got %d", n);
    mm_context_destroy(f);
    mm_set_log_handler(NULL, NULL);
}

/* ========================================================================
 * Bounded memory
 * ====================================================================== */

#ifdef __GLIBC__
/* Bytes the system allocator has handed out (heap and mmap). */
static size_t ep_heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}
#endif

#define EP_HEAP_SLACK 8192

Test(epoch, memory_stays_bounded_over_100000_epochs, .timeout = 300)
{
#ifndef __GLIBC__
    cr_skip_test("mallinfo2() needs glibc");
#else
    mm_category cooling = mmt_cooling();
    size_t nepochs = mmt_scaled(100000, 2000);
    size_t checkpoint = 1000;
    mm_stats base = mm_stats_total(NULL);
    mm_context *f = mmt_context("forest", NULL);
    size_t at_checkpoint = 0;
    int failed = 0;
    for (size_t e = 0; e < nepochs; e++) {
        char label[32];
        snprintf(label, sizeof label, "Forest %zu", e);
        mm_context_set_label(f, label);
        /* The small sizes repeat every 100 epochs, so the context's chunk
         * footprint is at its largest long before the checkpoint; the large
         * block (above 256 KiB: system memory, freed at reset) grows by one
         * byte per epoch, so every epoch enters the top K and pushes one out. */
        size_t a = 16 + (e % 20) * 199, b = 100 + (e % 25) * 2003, big = 300000 + e;
        void *p = mm_context_malloc(f, a, MM_CAT_HALOS);
        void *q = mm_context_malloc(f, b, cooling);
        void *r = mm_context_malloc(f, 24, MM_CAT_TREES);
        void *s = mm_context_malloc(f, big, cooling);
        failed |= p == NULL || q == NULL || r == NULL || s == NULL;
        if (e % 2) mm_free(q);
        if (e % 4 == 1) mm_free(s);
        if (e % 10 == 0) {
            mm_context *g = mm_context_create("scratch", f);
            failed |= g == NULL || mm_context_malloc(g, 64, MM_CAT_TREES) == NULL;
        }
        mm_context_reset(f);
        if (e + 1 == checkpoint) at_checkpoint = ep_heap_in_use();
    }
    size_t at_end = ep_heap_in_use();
    cr_expect_not(failed, "every allocation over the %zu epochs should succeed", nepochs);
    mm_epoch_summary s = mm_context_epochs(f);
    mmt_expect_figure(f, s.count, nepochs, "the number of closed epochs");
    cr_expect(at_end <= at_checkpoint + EP_HEAP_SLACK,
              "system heap use should not grow between epoch %zu (%zu bytes) and epoch %zu "
              "(%zu bytes) beyond %d bytes of slack", checkpoint, at_checkpoint, nepochs, at_end,
              EP_HEAP_SLACK);
    mm_context_destroy(f);
    mm_stats now = mm_stats_total(NULL);
    mmt_expect_figure(NULL, now.bytes, base.bytes, "process bytes after destroy");
    mmt_expect_figure(NULL, now.blocks, base.blocks, "process blocks after destroy");
#endif
}

/* ========================================================================
 * The process ledger across threads: each owner-lock stripe keeps its own
 * counts, the top list is one
 * ====================================================================== */

#include <pthread.h>

enum { LEDGER_THREADS = 3, LEDGER_EPOCHS = 40 };

/* Thread t closes LEDGER_EPOCHS epochs of one context; epoch i peaks at
 * 1000 * (1 + (i * 7 + t * 3) % 50) bytes, so peaks repeat across threads. */
static size_t ledger_peak(int t, int i)
{
    return (size_t)1000 * (size_t)(1 + (i * 7 + t * 3) % 50);
}

static void *ledger_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    mm_context *ctx = mm_context_create("ledger", NULL);
    if (ctx == NULL) return NULL;
    for (int i = 0; i < LEDGER_EPOCHS; i++) {
        if (mm_context_malloc(ctx, ledger_peak(t, i), MM_CAT_HALOS) == NULL) return NULL;
        mm_context_reset(ctx);
    }
    mm_context_destroy(ctx);
    return ctx;
}

Test(epoch, the_process_ledger_counts_every_threads_epochs_and_ranks_them_together)
{
    pthread_t th[LEDGER_THREADS];
    for (int t = 0; t < LEDGER_THREADS; t++) /* at once: each in a stripe of its own */
        cr_assert_eq(pthread_create(&th[t], NULL, ledger_worker, (void *)(intptr_t)t), 0);
    for (int t = 0; t < LEDGER_THREADS; t++) {
        void *done = NULL;
        cr_assert_eq(pthread_join(th[t], &done), 0);
        cr_assert_not_null(done, "thread %d should have closed its epochs", t);
    }
    size_t n = 0, min = SIZE_MAX, max = 0;
    for (int t = 0; t < LEDGER_THREADS; t++)
        for (int i = 0; i < LEDGER_EPOCHS; i++) {
            size_t p = ledger_peak(t, i);
            n++;
            if (p < min) min = p;
            if (p > max) max = p;
        }
    char *json = mmt_report_string(NULL, MM_REPORT_JSON);
    char err[128];
    mmt_json *root = mmt_json_parse(json, err, sizeof err);
    cr_assert_not_null(root, "the process report should be JSON: %s", err);
    const mmt_json *ep = mmt_json_get(root, "epochs");
    cr_assert_not_null(ep, "the process report should have its epochs");
    uint64_t count = 0, lo = 0, hi = 0;
    cr_assert(mmt_json_uint(mmt_json_get(ep, "count"), &count));
    cr_assert(mmt_json_uint(mmt_json_get(ep, "min_peak_bytes"), &lo));
    cr_assert(mmt_json_uint(mmt_json_get(ep, "max_peak_bytes"), &hi));
    cr_expect_eq(count, n, "every thread's epochs are counted: %llu of %zu",
                 (unsigned long long)count, n);
    cr_expect_eq(lo, min, "the smallest peak of any thread: %llu, want %zu", (unsigned long long)lo, min);
    cr_expect_eq(hi, max, "the largest peak of any thread: %llu, want %zu", (unsigned long long)hi, max);
    /* the top list: the ten largest peaks of all threads together, largest
     * first */
    size_t all[LEDGER_THREADS * LEDGER_EPOCHS], k = 0;
    for (int t = 0; t < LEDGER_THREADS; t++)
        for (int i = 0; i < LEDGER_EPOCHS; i++) all[k++] = ledger_peak(t, i);
    for (size_t a = 0; a < k; a++) /* largest first */
        for (size_t b = a + 1; b < k; b++)
            if (all[b] > all[a]) {
                size_t x = all[a];
                all[a] = all[b];
                all[b] = x;
            }
    const mmt_json *top = mmt_json_get(ep, "top");
    cr_assert(top != NULL && top->count == 10, "ten epochs in the top list");
    for (size_t r = 0; r < top->count; r++) {
        uint64_t p = 0;
        cr_assert(mmt_json_uint(mmt_json_get(top->items[r], "peak_bytes"), &p));
        cr_expect_eq(p, all[r], "rank %zu: %llu bytes, want %zu", r + 1, (unsigned long long)p,
                     all[r]);
    }
    mmt_json_free(root);
    free(json);
}
