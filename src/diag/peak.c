/* Peak composition, recorded at the turn: a figure's peak ends at its first
 * decrease after a rise, and until then only allocations changed the state,
 * so the state at that decrease (with the block it takes off put back) is
 * the state at the peak. The process record is made by the thread whose
 * turn found a new peak estimate at or above mmi_peak_next (under peak_lock,
 * summing every thread's per-category bytes); a context's record is made by
 * its owner from the context's own exact figures, under its owner lock
 * (registry.c), which readers take inside the registry lock: two threads
 * recording their contexts' peaks share no lock. A reader during a rise (no
 * turn yet) takes the state now, which is the peak. Neither allocates. */
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

/* Where the peak happened: context name, label and epoch index (ctx is the
 * context of the allocation that reached it: the caller's own, or read
 * under the registry lock). */
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

/* The state at a peak: now's, with out_bytes of out_cat put back and in_bytes
 * of in_cat taken off (the block a turn is changing). */
static void peak_adjust(size_t *cat, int ncat, int out_cat, size_t out_bytes, int in_cat,
                        size_t in_bytes) {
    if (out_bytes && out_cat < ncat) cat[out_cat] += out_bytes;
    if (in_bytes && in_cat < ncat) cat[in_cat] = cat[in_cat] > in_bytes ? cat[in_cat] - in_bytes : 0;
}

void mmi_peak_process(const mm_context *where, int out_cat, size_t out_bytes, int in_cat,
                      size_t in_bytes) {
    char w[MM_NAME_MAX + 1], label[MM_NAME_MAX + 1];
    uint64_t epoch;
    peak_where(where, w, label, &epoch);
    size_t cat[MM_CATEGORY_MAX];
    mmi_lock_take(&peak_lock);
    int ncat = mm_category_count();
    mmi_process_cat_bytes(cat, ncat);
    peak_adjust(cat, ncat, out_cat, out_bytes, in_cat, in_bytes);
    size_t sum = 0;
    for (int c = 0; c < ncat; c++) sum += cat[c];
    /* the exact sum, rechecked under the lock: another thread may have
     * recorded a higher peak meanwhile */
    if ((int64_t)sum >= mmi_load(&mmi_peak_next) && (!peak_rec.have || sum > peak_rec.bytes)) {
        memcpy(peak_rec.cat, cat, (size_t)ncat * sizeof cat[0]);
        peak_rec.ncat = ncat;
        peak_rec.bytes = sum;
        peak_rec.have = true;
        memcpy(peak_rec.where, w, sizeof w);
        memcpy(peak_rec.label, label, sizeof label);
        peak_rec.epoch = epoch;
        mmi_store(&mmi_peak_next, (int64_t)sum + (int64_t)mmi_load(&mmi_peak_step));
    }
    mmi_lock_drop(&peak_lock);
}

/* A reader of the process record: if the process is at its peak now (a
 * rise no decrease has ended yet), the state now is that peak's: record it,
 * named by the calling thread's last allocation (exact while one thread
 * allocates, as the peak is). */
static void peak_settle_now(void) {
    mm_stats tot = mmi_process_sums(-1); /* bytes and peak only */
    if (tot.bytes == 0 || tot.bytes < tot.peak_bytes) return;
    if ((int64_t)tot.bytes < mmi_load(&mmi_peak_next)) return;
    mmi_thread *t = mmi_tls;
    mmi_peak_process(t ? t->where : NULL, 0, 0, 0, 0);
}

void mmi_peak_context(mm_context *p, int out_cat, size_t out_bytes, int in_cat,
                      size_t in_bytes) {
    char w[MM_NAME_MAX + 1], label[MM_NAME_MAX + 1];
    uint64_t epoch;
    const mm_context *last = mmi_load(&p->last);
    peak_where(last ? last : p, w, label, &epoch);
    size_t at_peak = mmi_load(&p->tree.bytes) + out_bytes - in_bytes;
    mmi_lock *own = mmi_ctx_owner_lock(p);
    mmi_lock_take(own);
    for (int c = 0; c < p->ncap; c++) p->cold[c].comp_bytes = mmi_load(&p->cats[c].tree.bytes);
    if (out_bytes && out_cat < p->ncap) p->cold[out_cat].comp_bytes += out_bytes;
    if (in_bytes && in_cat < p->ncap) p->cold[in_cat].comp_bytes -= in_bytes;
    p->comp_bytes = at_peak;
    memcpy(p->comp_where, w, sizeof w);
    memcpy(p->comp_label, label, sizeof label);
    p->comp_epoch = epoch;
    p->comp_next = at_peak + mmi_load(&mmi_peak_step);
    mmi_lock_drop(own);
}

void mmi_peak_context_settle(const mm_context *ctx) {
    mmi_thread *t = mmi_tls;
    if (t == NULL || ctx->owner_serial != t->serial) return;
    mm_context *p = (mm_context *)(uintptr_t)ctx; /* the caller's own */
    size_t b = mmi_load(&p->tree.bytes);
    if (b <= mmi_load(&p->tree.peak)) return;
    mmi_store(&p->tree.peak, b);
    if (b >= p->comp_next) mmi_peak_context(p, 0, 0, 0, 0);
}

int mmi_peak_context_view(const mm_context *ctx, mm_peak_info *out, size_t *cat, int ncat) {
    size_t b = mmi_load(&ctx->tree.bytes);
    memset(out, 0, sizeof *out);
    out->peak_bytes = mmi_context_total(ctx).peak_bytes;
    mmi_lock *own = mmi_ctx_owner_lock(ctx);
    mmi_lock_take(own);
    if (b > mmi_load(&ctx->tree.peak) && b >= ctx->comp_next && b > ctx->comp_bytes) {
        /* a rise no decrease has ended: the state now is the peak's (the
         * labels on the way up are the owner's data too) */
        const mm_context *last = mmi_load(&ctx->last);
        peak_where(last ? last : ctx, out->context, out->label, &out->epoch);
        out->bytes = b;
        for (int c = 0; cat && c < ncat; c++)
            cat[c] = c < ctx->ncap ? mmi_load(&ctx->cats[c].tree.bytes) : 0;
        mmi_lock_drop(own);
        return 1;
    }
    out->bytes = ctx->comp_bytes;
    out->epoch = ctx->comp_epoch;
    memcpy(out->context, ctx->comp_where, sizeof out->context);
    memcpy(out->label, ctx->comp_label, sizeof out->label);
    for (int c = 0; cat && c < ncat; c++) cat[c] = c < ctx->ncap ? ctx->cold[c].comp_bytes : 0;
    mmi_lock_drop(own);
    return out->bytes != 0;
}

int mm_peak_composition(const mm_context *ctx, mm_peak_info *out) {
    if (out == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_peak_composition: out is NULL");
        return 0;
    }
    memset(out, 0, sizeof *out);
    if (ctx == NULL) {
        int have = mmi_peak_copy(out, NULL, 0);
        size_t peak = mm_stats_total(NULL).peak_bytes;
        out->peak_bytes = peak > out->bytes ? peak : out->bytes;
        return have;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_peak_composition");
        return 0;
    }
    mmi_peak_context_settle(ctx);
    mmi_contexts_lock();
    int have = mmi_peak_context_view(ctx, out, NULL, 0);
    mmi_contexts_unlock();
    return have;
}

size_t mm_peak_composition_category(const mm_context *ctx, mm_category c) {
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_peak_composition_category");
        return 0;
    }
    if (ctx == NULL) {
        peak_settle_now();
        mmi_lock_take(&peak_lock);
        size_t b = c < peak_rec.ncat ? peak_rec.cat[c] : 0;
        mmi_lock_drop(&peak_lock);
        return b;
    }
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_peak_composition_category");
        return 0;
    }
    mm_peak_info info;
    size_t cats[MM_CATEGORY_MAX];
    mmi_peak_context_settle(ctx);
    mmi_contexts_lock();
    mmi_peak_context_view(ctx, &info, cats, c + 1);
    mmi_contexts_unlock();
    return cats[c];
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
    peak_settle_now();
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
