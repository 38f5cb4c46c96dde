/* replay_core.c: the model pass, the statistics check and the timed
 * comparison behind mimicmem-replay. The model tracks every block's size and
 * category in plain arrays indexed by the trace's dense block numbers; the
 * timed part reuses bench/replay.c so the tool and the benchmark time alike. */
#include "replay_core.h"

#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "legacy_table.h"
#include "replay.h"

/* ------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */

/* Returns, so mm_category_register gives MM_CAT_INVALID and trace.c names
 * the line; its own message is not needed. */
static void mmr_quiet_error(const mm_error *err, void *user)
{
    (void)err;
    (void)user;
}

int mmr_load(const char *path, trace *out, char *err, size_t errlen)
{
    mm_set_error_handler(mmr_quiet_error, NULL);
    int rc = trace_load(path, out, err, errlen);
    mm_set_error_handler(NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------------------
 * Model pass
 * ---------------------------------------------------------------------- */

/* Working state of one analysis, freed in one place. */
typedef struct {
    uint64_t *block_bytes;   /* current requested size of each block, bytes */
    int16_t *block_cat;      /* current category of each block */
    uint64_t *cat_live;      /* live bytes per category id, ncat entries */
    uint64_t *cat_peak;      /* high-water mark per category id */
    uint64_t *cat_allocs;    /* A lines per category id */
    uint64_t *cat_blocks;    /* live blocks per category id */
    unsigned char *cat_seen; /* 1 when an A or R names the category */
    size_t ncat;             /* entries of the per-category arrays (largest id + 1) */
} mmr_model;

static void mmr_model_free(mmr_model *m)
{
    free(m->block_bytes);
    free(m->block_cat);
    free(m->cat_live);
    free(m->cat_peak);
    free(m->cat_allocs);
    free(m->cat_blocks);
    free(m->cat_seen);
    memset(m, 0, sizeof *m);
}

static int mmr_model_init(mmr_model *m, const trace *t)
{
    memset(m, 0, sizeof *m);
    int max_cat = 0;
    for (size_t i = 0; i < t->nops; i++) {
        const trace_op *op = &t->ops[i];
        if ((op->op == 'A' || op->op == 'R') && op->category > max_cat) {
            max_cat = op->category;
        }
    }
    m->ncat = (size_t)max_cat + 1;
    size_t nb = t->nblocks ? t->nblocks : 1;
    m->block_bytes = calloc(nb, sizeof *m->block_bytes);
    m->block_cat = calloc(nb, sizeof *m->block_cat);
    m->cat_live = calloc(m->ncat, sizeof *m->cat_live);
    m->cat_peak = calloc(m->ncat, sizeof *m->cat_peak);
    m->cat_allocs = calloc(m->ncat, sizeof *m->cat_allocs);
    m->cat_blocks = calloc(m->ncat, sizeof *m->cat_blocks);
    m->cat_seen = calloc(m->ncat, 1);
    if (m->block_bytes == NULL || m->block_cat == NULL || m->cat_live == NULL ||
        m->cat_peak == NULL || m->cat_allocs == NULL || m->cat_blocks == NULL ||
        m->cat_seen == NULL) {
        mmr_model_free(m);
        return -1;
    }
    return 0;
}

/* Applies op i to the per-block and per-category state and to *live_bytes.
 * Returns -1 for a block number out of range, a negative category or live
 * bytes that would pass 2^64 - 1. */
static int mmr_model_apply(mmr_model *m, const trace *t, const trace_op *op, uint64_t *live_bytes)
{
    if (op->op == 'F') {
        return 0;
    }
    if (op->block >= t->nblocks || ((op->op == 'A' || op->op == 'R') && op->category < 0)) {
        return -1;
    }
    uint32_t b = op->block;
    uint64_t old_bytes = op->op == 'A' ? 0 : m->block_bytes[b];
    uint64_t new_bytes = op->op == 'D' ? 0 : op->size;
    if (op->op != 'A') {
        m->cat_live[m->block_cat[b]] -= old_bytes;
        m->cat_blocks[m->block_cat[b]]--;
    }
    if (new_bytes > UINT64_MAX - (*live_bytes - old_bytes)) {
        return -1;
    }
    *live_bytes = *live_bytes - old_bytes + new_bytes;
    if (op->op != 'D') {
        size_t c = (size_t)op->category;
        m->block_cat[b] = op->category;
        m->block_bytes[b] = new_bytes;
        m->cat_live[c] += new_bytes; /* cannot wrap: bounded by *live_bytes */
        m->cat_blocks[c]++;
        if (m->cat_live[c] > m->cat_peak[c]) {
            m->cat_peak[c] = m->cat_live[c];
        }
        m->cat_seen[c] = 1;
        if (op->op == 'A') {
            m->cat_allocs[c]++;
        }
    }
    return 0;
}

int mmr_analyse(const trace *t, mmr_summary *out)
{
    memset(out, 0, sizeof *out);
    out->peak_forest = -1;
    mmr_model m;
    if (t == NULL || mmr_model_init(&m, t) != 0) {
        return -1;
    }

    /* Pass 1: totals, the peak moment and every category's own peak. */
    uint64_t live_bytes = 0;
    size_t live_blocks = 0;
    int64_t forest = -1;
    for (size_t i = 0; i < t->nops; i++) {
        const trace_op *op = &t->ops[i];
        if (mmr_model_apply(&m, t, op, &live_bytes) != 0) {
            mmr_model_free(&m);
            memset(out, 0, sizeof *out);
            out->peak_forest = -1;
            return -1;
        }
        switch (op->op) {
        case 'F': out->forests++; forest = (int64_t)op->block; break;
        case 'A': out->allocs++; live_blocks++; break;
        case 'R': out->reallocs++; break;
        case 'D': out->frees++; live_blocks--; break;
        default: break;
        }
        out->operations++;
        if (live_blocks > out->max_live_blocks) {
            out->max_live_blocks = live_blocks;
        }
        if (live_bytes > out->peak_bytes) {
            out->peak_bytes = live_bytes;
            out->peak_operation = i + 1;
            out->peak_forest = forest;
            out->live_blocks_at_peak = live_blocks;
        }
    }
    out->blocks = t->nblocks;
    out->live_blocks_at_end = live_blocks;
    out->live_bytes_at_end = live_bytes;

    size_t nseen = 0;
    for (size_t c = 0; c < m.ncat; c++) {
        nseen += m.cat_seen[c];
    }
    out->categories = calloc(nseen ? nseen : 1, sizeof *out->categories);
    if (out->categories == NULL) {
        mmr_model_free(&m);
        mmr_summary_free(out);
        return -1;
    }
    for (size_t c = 0; c < m.ncat; c++) {
        if (m.cat_seen[c]) {
            mmr_category *mc = &out->categories[out->ncategories++];
            mc->category = (mm_category)c;
            mc->peak_bytes = m.cat_peak[c];
            mc->allocs = m.cat_allocs[c];
            mc->bytes_at_end = m.cat_live[c];
            mc->blocks_at_end = m.cat_blocks[c];
        }
    }

    /* Pass 2: replay up to the peak moment for the composition. */
    memset(m.cat_live, 0, m.ncat * sizeof *m.cat_live);
    memset(m.cat_blocks, 0, m.ncat * sizeof *m.cat_blocks);
    live_bytes = 0;
    for (size_t i = 0; i < out->peak_operation; i++) {
        (void)mmr_model_apply(&m, t, &t->ops[i], &live_bytes); /* pass 1 checked them */
    }
    for (size_t k = 0; k < out->ncategories; k++) {
        out->categories[k].at_peak_bytes = m.cat_live[out->categories[k].category];
    }
    mmr_model_free(&m);
    return 0;
}

void mmr_summary_free(mmr_summary *s)
{
    if (s == NULL) {
        return;
    }
    free(s->categories);
    memset(s, 0, sizeof *s);
    s->peak_forest = -1;
}

/* ------------------------------------------------------------------------
 * Agreement with mimicmem's statistics
 * ---------------------------------------------------------------------- */

int mmr_check_stats(const trace *t, const mmr_summary *s, mmr_check *out)
{
    memset(out, 0, sizeof *out);
    void **slots = calloc(t->nblocks ? t->nblocks : 1, sizeof *slots);
    size_t ncat = s->ncategories ? s->ncategories : 1;
    out->category_peak_bytes = calloc(ncat, sizeof *out->category_peak_bytes);
    out->category_allocs = calloc(ncat, sizeof *out->category_allocs);
    if (slots == NULL || out->category_peak_bytes == NULL || out->category_allocs == NULL) {
        free(slots);
        mmr_check_free(out);
        return -1;
    }
    for (size_t k = 0; k < s->ncategories; k++) { /* the gain is counted, not the total */
        out->category_allocs[k] = mm_stats_category(NULL, s->categories[k].category).allocs;
    }
    mm_stats before = mm_stats_total(NULL);
    out->fresh = before.peak_bytes == 0 && before.bytes == 0;
    replay_mm(t, slots);
    free(slots);

    mm_stats after = mm_stats_total(NULL);
    out->peak_bytes = after.peak_bytes;
    out->live_bytes_after = after.bytes;
    out->allocs = after.allocs - before.allocs;
    out->frees = after.frees - before.frees;
    out->ncategories = s->ncategories;
    int same = out->peak_bytes == s->peak_bytes && after.bytes == 0 && out->allocs == s->allocs &&
               out->frees == s->allocs;
    for (size_t k = 0; k < s->ncategories; k++) {
        mm_stats c = mm_stats_category(NULL, s->categories[k].category);
        out->category_peak_bytes[k] = c.peak_bytes;
        out->category_allocs[k] = c.allocs - out->category_allocs[k];
        if (out->category_peak_bytes[k] != s->categories[k].peak_bytes ||
            out->category_allocs[k] != s->categories[k].allocs) {
            same = 0;
        }
    }
    out->agree = out->fresh && same;
    return 0;
}

void mmr_check_free(mmr_check *c)
{
    if (c == NULL) {
        return;
    }
    free(c->category_peak_bytes);
    free(c->category_allocs);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------------
 * Timed comparison
 * ---------------------------------------------------------------------- */

/* One replay through allocator a; returns 0, or -1 when it gave up. Kept out
 * of line so the three loops are timed the same way. */
static BENCH_NOINLINE int mmr_replay_once(int a, const trace *t, void **slots)
{
    switch (a) {
    case MMR_MALLOC: replay_malloc(t, slots); return 0;
    case MMR_MIMICMEM: replay_mm(t, slots); return 0;
    default: return replay_legacy(t, slots);
    }
}

int mmr_time(const trace *t, int rounds, mmr_timing *out)
{
    static const char *const names[MMR_NALLOCATORS] = {"malloc", "mimicmem", "legacy table"};
    memset(out, 0, sizeof *out);
    out->rounds = rounds;
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        out->allocators[a].name = names[a];
    }
    if (rounds < 1) {
        return -1;
    }
    size_t nslots = t->nblocks ? t->nblocks : 1;
    void **slots = malloc(nslots * sizeof *slots);
    double *seconds = calloc((size_t)rounds * MMR_NALLOCATORS, sizeof *seconds);
    if (slots == NULL || seconds == NULL) {
        free(slots);
        free(seconds);
        return -1;
    }
    memset(slots, 0, nslots * sizeof *slots); /* fault the pages in before timing */

    for (int r = 0; r < rounds; r++) {
        for (int a = 0; a < MMR_NALLOCATORS; a++) {
            mmr_allocator_time *at = &out->allocators[a];
            if (at->failure != NULL) {
                continue;
            }
            double t0 = bench_now();
            int rc = mmr_replay_once(a, t, slots);
            double dt = bench_now() - t0;
            if (rc != 0) {
                at->failure = "failed: table full";
                continue;
            }
            seconds[(size_t)a * (size_t)rounds + (size_t)at->nrounds] = dt;
            at->nrounds++;
        }
    }
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        mmr_allocator_time *at = &out->allocators[a];
        double *v = seconds + (size_t)a * (size_t)rounds;
        if (at->nrounds > 0) {
            at->median_seconds = bench_median(v, (size_t)at->nrounds); /* sorts v */
            at->min_seconds = v[0];
            at->max_seconds = v[at->nrounds - 1];
        }
    }
    legacy_shutdown(); /* the table arrays; replay_legacy left no block */
    free(seconds);
    free(slots);
    return 0;
}
