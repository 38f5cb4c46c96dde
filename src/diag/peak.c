/* Peak composition: when the process (or a context) reaches a new peak one
 * step above the last recorded one, the bytes of every category at that
 * moment and the epoch it happened in. The process record is made by the
 * thread whose peak estimate passed mmi_peak_next (under peak_lock, summing
 * every thread's per-category bytes); a context's record is made by its
 * owner from the context's own exact figures, under the registry lock that
 * readers hold. Neither allocates. */
#include "diag.h"

#include <string.h>

static mmi_lock peak_lock = MMI_LOCK_INIT(MMI_RANK_PEAK, "peak composition");
static struct {
    bool have;                    /* a composition was recorded */
    size_t bytes;                 /* sum of cat[] */
    uint64_t epoch;               /* epoch index in force */
    char where[MM_NAME_MAX + 1];  /* context allocated in ("" outside contexts) */
    char label[MM_NAME_MAX + 1];  /* epoch label in force ("" none) */
    int ncat;                     /* entries of cat[] filled */
    size_t cat[MM_CATEGORY_MAX];  /* bytes per category at the record */
} peak_rec;                       /* under peak_lock */

/* Where the peak happened: context name, label and epoch index (ctx and its
 * ancestors are the calling thread's own). */
static void peak_where(const mm_context *ctx, char *where, char *label, uint64_t *epoch) {
    where[0] = label[0] = '\0';
    *epoch = 0;
    if (ctx == NULL) return;
    memcpy(where, ctx->name, MM_NAME_MAX + 1);
    const mm_context *l = ctx;
    while (l && l->label[0] == '\0') l = l->parent; /* the nearest labelled context up */
    if (l) memcpy(label, l->label, MM_NAME_MAX + 1);
    *epoch = mmi_epochs_count((l ? l : ctx)->epochs);
}

void mmi_peak_process(const mm_context *ctx) {
    mmi_thread *t = mmi_tls;
    if (t == NULL) return;
    int64_t est = mmi_process_bytes_view(t, -1);
    if (est < mmi_load(&mmi_peak_next)) return;
    char where[MM_NAME_MAX + 1], label[MM_NAME_MAX + 1];
    uint64_t epoch;
    peak_where(ctx, where, label, &epoch);
    mmi_lock_take(&peak_lock);
    if (est >= mmi_load(&mmi_peak_next)) {
        int ncat = mm_category_count();
        mmi_process_cat_bytes(peak_rec.cat, ncat);
        size_t sum = 0;
        for (int c = 0; c < ncat; c++) sum += peak_rec.cat[c];
        peak_rec.ncat = ncat;
        peak_rec.bytes = sum;
        peak_rec.have = true;
        memcpy(peak_rec.where, where, sizeof where);
        memcpy(peak_rec.label, label, sizeof label);
        peak_rec.epoch = epoch;
        mmi_store(&mmi_peak_next, est + (int64_t)mmi_load(&mmi_peak_step));
    }
    mmi_lock_drop(&peak_lock);
}

void mmi_peak_context(mm_context *p, const mm_context *where) {
    char w[MM_NAME_MAX + 1], label[MM_NAME_MAX + 1];
    uint64_t epoch;
    peak_where(where, w, label, &epoch);
    mmi_contexts_lock();
    for (int c = 0; c < p->ncap; c++) p->cold[c].comp_bytes = mmi_load(&p->cats[c].tree.bytes);
    p->comp_bytes = mmi_load(&p->tree.bytes);
    memcpy(p->comp_where, w, sizeof w);
    memcpy(p->comp_label, label, sizeof label);
    p->comp_epoch = epoch;
    mmi_contexts_unlock();
    p->comp_next = mmi_load(&p->tree.bytes) + mmi_load(&mmi_peak_step);
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
        mmi_lock_take(&peak_lock);
        int have = peak_rec.have;
        out->bytes = peak_rec.bytes;
        out->epoch = peak_rec.epoch;
        memcpy(out->context, peak_rec.where, sizeof out->context);
        memcpy(out->label, peak_rec.label, sizeof out->label);
        mmi_lock_drop(&peak_lock);
        out->peak_bytes = peak > out->bytes ? peak : out->bytes;
        return have;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_peak_composition");
        return 0;
    }
    mmi_contexts_lock();
    out->bytes = ctx->comp_bytes;
    out->peak_bytes = mmi_context_total(ctx).peak_bytes;
    out->epoch = ctx->comp_epoch;
    memcpy(out->context, ctx->comp_where, sizeof out->context);
    memcpy(out->label, ctx->comp_label, sizeof out->label);
    mmi_contexts_unlock();
    return out->bytes != 0;
}

size_t mm_peak_composition_category(const mm_context *ctx, mm_category c) {
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_peak_composition_category");
        return 0;
    }
    if (ctx == NULL) {
        mmi_lock_take(&peak_lock);
        size_t b = c < peak_rec.ncat ? peak_rec.cat[c] : 0;
        mmi_lock_drop(&peak_lock);
        return b;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_peak_composition_category");
        return 0;
    }
    mmi_contexts_lock();
    size_t b = c < ctx->ncap ? ctx->cold[c].comp_bytes : 0;
    mmi_contexts_unlock();
    return b;
}

size_t mm_set_peak_step(size_t bytes) {
    mmi_first_use();
    if (bytes == 0 || bytes > (size_t)INT64_MAX / 2) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_set_peak_step: %zu is not a valid step (1 .. 2^62 bytes)", bytes);
        return mmi_load(&mmi_peak_step);
    }
    mmi_lock_take(&peak_lock);
    size_t old = atomic_exchange(&mmi_peak_step, bytes);
    mmi_store(&mmi_peak_next, (int64_t)(peak_rec.have ? peak_rec.bytes : 0) + (int64_t)bytes);
    mmi_lock_drop(&peak_lock);
    return old;
}

/* For the snapshot: the process record (NULL cat: not needed). */
int mmi_peak_copy(mm_peak_info *out, size_t *cat, int ncat) {
    mmi_lock_take(&peak_lock);
    int have = peak_rec.have;
    out->bytes = peak_rec.bytes;
    out->epoch = peak_rec.epoch;
    memcpy(out->context, peak_rec.where, sizeof out->context);
    memcpy(out->label, peak_rec.label, sizeof out->label);
    for (int c = 0; cat && c < ncat; c++) cat[c] = c < peak_rec.ncat ? peak_rec.cat[c] : 0;
    mmi_lock_drop(&peak_lock);
    return have;
}
