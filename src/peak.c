/* Peak composition: when the process (or a context) reaches a new peak one
 * step above the last recorded one, the bytes of every category at that
 * moment and the epoch it happened in. The process record is made by the
 * thread whose peak estimate passed mmi_peak_next (under peak_lock, summing
 * every thread's per-category bytes); a context's record is made by its
 * owner from the context's own exact figures. Neither allocates. */
#include "internal.h"

#include <string.h>

_Atomic size_t mmi_peak_step = MM_DEFAULT_PEAK_STEP;
_Atomic int64_t mmi_peak_next = (int64_t)MM_DEFAULT_PEAK_STEP;

static pthread_mutex_t peak_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool have;                    /* a composition was recorded */
    size_t bytes;                 /* sum of cat[] */
    uint64_t epoch;               /* epoch index in force */
    char where[MM_NAME_MAX + 1];  /* context allocated in ("" outside contexts) */
    char label[MM_NAME_MAX + 1];  /* epoch label in force ("" none) */
    int ncat;                     /* entries of cat[] filled */
    size_t cat[MM_CATEGORY_MAX];  /* bytes per category at the record */
} peak_rec;                       /* under peak_lock */

/* The nearest context up from ctx with an epoch label, or NULL. */
static const mm_context *peak_labelled(const mm_context *ctx) {
    for (const mm_context *c = ctx; c; c = c->parent)
        if (c->label[0]) return c;
    return NULL;
}

/* Where the peak happened: context name, label and epoch index. */
static void peak_where(const mm_context *ctx, char *where, char *label, uint64_t *epoch) {
    where[0] = label[0] = '\0';
    *epoch = 0;
    if (ctx == NULL) return;
    memcpy(where, ctx->name, MM_NAME_MAX + 1);
    const mm_context *l = peak_labelled(ctx);
    if (l) memcpy(label, l->label, MM_NAME_MAX + 1);
    *epoch = mmi_epochs_count((l ? l : ctx)->epochs);
}

void mmi_peak_process(const mm_context *ctx) {
    int64_t est = mmi_process_bytes_view(mmi_thread_get(), -1);
    if (est < mmi_load(&mmi_peak_next)) return;
    pthread_mutex_lock(&peak_lock);
    if (est >= mmi_load(&mmi_peak_next)) {
        int ncat = mm_category_count();
        mmi_process_cat_bytes(peak_rec.cat, ncat);
        size_t sum = 0;
        for (int c = 0; c < ncat; c++) sum += peak_rec.cat[c];
        peak_rec.ncat = ncat;
        peak_rec.bytes = sum;
        peak_rec.have = true;
        peak_where(ctx, peak_rec.where, peak_rec.label, &peak_rec.epoch);
        mmi_store(&mmi_peak_next, est + (int64_t)mmi_load(&mmi_peak_step));
    }
    pthread_mutex_unlock(&peak_lock);
}

void mmi_peak_context(mm_context *p, const mm_context *where) {
    for (int c = 0; c < p->ncap; c++) p->cats[c].comp_bytes = p->cats[c].tree.bytes;
    p->comp_bytes = p->tree.bytes;
    peak_where(where, p->comp_where, p->comp_label, &p->comp_epoch);
    p->comp_next = p->tree.bytes + mmi_load(&mmi_peak_step);
}

int mm_peak_composition(const mm_context *ctx, mm_peak_info *out) {
    if (out == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_peak_composition: out is NULL");
        return 0;
    }
    memset(out, 0, sizeof *out);
    if (ctx == NULL) {
        size_t peak = mm_stats_total(NULL).peak_bytes;
        pthread_mutex_lock(&peak_lock);
        int have = peak_rec.have;
        out->bytes = peak_rec.bytes;
        out->epoch = peak_rec.epoch;
        memcpy(out->context, peak_rec.where, sizeof out->context);
        memcpy(out->label, peak_rec.label, sizeof out->label);
        pthread_mutex_unlock(&peak_lock);
        out->peak_bytes = peak > out->bytes ? peak : out->bytes;
        return have;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_peak_composition: %p is not a live context", (const void *)ctx);
        return 0;
    }
    out->bytes = ctx->comp_bytes;
    out->peak_bytes = mmi_ccount_stats(&ctx->tree).peak_bytes;
    out->epoch = ctx->comp_epoch;
    memcpy(out->context, ctx->comp_where, sizeof out->context);
    memcpy(out->label, ctx->comp_label, sizeof out->label);
    return ctx->comp_bytes != 0;
}

size_t mm_peak_composition_category(const mm_context *ctx, mm_category c) {
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_peak_composition_category");
        return 0;
    }
    if (ctx == NULL) {
        pthread_mutex_lock(&peak_lock);
        size_t b = c < peak_rec.ncat ? peak_rec.cat[c] : 0;
        pthread_mutex_unlock(&peak_lock);
        return b;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, c, NULL, ctx,
                  "mm_peak_composition_category: %p is not a live context", (const void *)ctx);
        return 0;
    }
    return c < ctx->ncap ? ctx->cats[c].comp_bytes : 0;
}

size_t mm_set_peak_step(size_t bytes) {
    mmi_options_init();
    if (bytes == 0 || bytes > (size_t)INT64_MAX / 2) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_set_peak_step: %zu is not a valid step (1 .. 2^62 bytes)", bytes);
        return mmi_load(&mmi_peak_step);
    }
    pthread_mutex_lock(&peak_lock);
    size_t old = atomic_exchange(&mmi_peak_step, bytes);
    mmi_store(&mmi_peak_next, (int64_t)(peak_rec.have ? peak_rec.bytes : 0) + (int64_t)bytes);
    pthread_mutex_unlock(&peak_lock);
    return old;
}
