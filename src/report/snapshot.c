/* Gathering a snapshot (snapshot.h): everything a report shows, copied under
 * the locks that make each part consistent, so writing it (text, JSON) can
 * take as long as the output stream needs without holding anything. */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

/* Makes room for one more element of size elem in *arr; false (nothing
 * changes) when memory runs out. System memory, library bookkeeping. */
static bool snap_room(mmi_snapshot *s, void **arr, size_t n, size_t *cap, size_t elem) {
    if (n < *cap) return true;
    if (s->incomplete) return false; /* one failure is enough: no more tries */
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = mmi_sys_realloc(*arr, ncap * elem, MM_CAT_INVALID, NULL);
    if (p == NULL) {
        s->incomplete = true;
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

/* One context (the caller holds the registry lock; its own data is copied
 * under its owner lock too), then its subtree. */
static void snap_context(mmi_snapshot *s, const mm_context *ctx, int depth) {
    if (!snap_room(s, (void **)&s->ctxs, s->nctx, &s->capctx, sizeof *s->ctxs)) {
        s->incomplete = true;
        return;
    }
    mmi_lock *own = mmi_ctx_owner_lock(ctx);
    mmi_lock_take(own);
    mmi_snap_ctx *c = &s->ctxs[s->nctx++];
    memcpy(c->name, ctx->name, sizeof c->name);
    memcpy(c->label, ctx->label, sizeof c->label);
    c->depth = depth;
    c->total = mmi_context_total(ctx);
    c->self = mmi_context_self(ctx);
    c->chunk_bytes = mmi_load(&ctx->arena.chunk_bytes);
    c->epochs = mmi_epochs_summary(ctx);
    c->first_top = s->ntops;
    c->ntop = 0;
    mmi_epoch_view v;
    for (size_t r = 0; mmi_epochs_top(ctx, r, &v); r++) {
        if (!snap_room(s, (void **)&s->tops, s->ntops, &s->captops, sizeof *s->tops)) {
            s->incomplete = true;
            break;
        }
        mmi_snap_top *t = &s->tops[s->ntops];
        t->index = v.index;
        t->peak_bytes = v.peak_bytes;
        memcpy(t->label, v.label, sizeof t->label);
        t->first_peak = s->npeaks;
        t->npeaks = 0;
        for (int i = 0; i < v.ncats; i++) {
            if (!snap_room(s, (void **)&s->peaks, s->npeaks, &s->cappeaks, sizeof *s->peaks)) {
                s->incomplete = true;
                break;
            }
            s->peaks[s->npeaks++] = v.cats[i];
            t->npeaks++;
        }
        s->ntops++;
        c->ntop++;
    }
    c->first_reclaim = s->nreclaims;
    c->nreclaim = 0;
    for (int k = 0; k < ctx->ncap; k++) {
        const mmi_ccold *cc = &ctx->cold[k];
        if (cc->reclaimed_blocks == 0) continue;
        if (!snap_room(s, (void **)&s->reclaims, s->nreclaims, &s->capreclaims,
                       sizeof *s->reclaims)) {
            s->incomplete = true;
            break;
        }
        mmi_snap_reclaim r = {k, cc->reclaimed_bytes, cc->reclaimed_blocks,
                              cc->last_reclaimed_bytes, cc->last_reclaimed_blocks};
        s->reclaims[s->nreclaims++] = r;
        c->nreclaim++;
    }
    mmi_lock_drop(own);
    for (const mm_context *ch = ctx->first_child; ch; ch = ch->next_sibling)
        snap_context(s, ch, depth + 1);
}

static void snap_top_cb(const mm_context *top, void *arg) {
    snap_context(arg, top, 0);
}

/* The rows of the category table: non-empty categories by group, then id. */
static void snap_rows(mmi_snapshot *s, const mm_stats *per_cat) {
    int ngroups = mmi_group_count();
    for (int g = 0; g < ngroups; g++)
        for (int c = 0; c < s->ncat; c++) {
            if (mmi_category_group_index(c) != g) continue;
            const mm_stats *st = &per_cat[c];
            if (st->bytes == 0 && st->blocks == 0 && st->peak_bytes == 0) continue;
            mmi_snap_cat r = {c, g, *st};
            s->rows[s->nrows++] = r;
        }
}

/* A context's own figures, under the registry lock: totals per category,
 * its composition and its subtree (each takes the owner lock it needs). */
typedef struct {
    mmi_snapshot *s;
    const mm_context *root;
    mm_stats *per_cat;
} snap_ctx_arg;

static void snap_root_locked(snap_ctx_arg *a) {
    mmi_snapshot *s = a->s;
    const mm_context *root = a->root;
    s->total = mmi_context_total(root);
    for (int c = 0; c < s->ncat; c++) a->per_cat[c] = mmi_context_category(root, c);
    s->have_comp = mmi_peak_context_view(root, &s->comp, s->comp_cat, s->ncat) != 0;
    s->comp.peak_bytes = s->total.peak_bytes;
    snap_context(s, root, 0);
}

bool mmi_snap_gather(mmi_snapshot *s, const mm_context *ctx) {
    memset(s, 0, sizeof *s);
    s->process = ctx == NULL;
    s->rank = mm_get_rank();
    s->ncat = mm_category_count();
    /* one at a time: a failure stops at once (one failed attempt, one error) */
    mm_stats *per_cat = NULL;
    if ((s->rows = mmi_sys_malloc((size_t)s->ncat * sizeof *s->rows, MM_CAT_INVALID, ctx)) ==
            NULL ||
        (s->comp_cat = mmi_sys_calloc((size_t)s->ncat * sizeof *s->comp_cat, MM_CAT_INVALID,
                                      ctx)) == NULL ||
        (per_cat = mmi_sys_calloc((size_t)s->ncat * sizeof *per_cat, MM_CAT_INVALID, ctx)) ==
            NULL) {
        mmi_sys_free(per_cat);
        mmi_snap_free(s);
        return false;
    }
    if (ctx == NULL) {
        s->total = mmi_process_stats(-1);
        for (int c = 0; c < s->ncat; c++) per_cat[c] = mmi_process_stats(c);
        s->have_comp = mmi_peak_copy(&s->comp, s->comp_cat, s->ncat);
        s->comp.peak_bytes = s->total.peak_bytes > s->comp.bytes ? s->total.peak_bytes : s->comp.bytes;
        size_t n = mm_sites(s->sites, MMI_SNAP_SITES);
        s->nsites = n < MMI_SNAP_SITES ? n : MMI_SNAP_SITES;
        mmi_contexts_read(snap_top_cb, s);
        mmi_ledger_copy(&s->ledger);
    } else {
        memcpy(s->root_name, ctx->name, sizeof s->root_name);
        snap_ctx_arg a = {s, ctx, per_cat};
        mmi_peak_context_settle(ctx); /* the owner during a rise: its peak is now */
        mmi_contexts_lock();
        snap_root_locked(&a);
        mmi_contexts_unlock();
    }
    snap_rows(s, per_cat);
    mmi_sys_free(per_cat);
    return true;
}

void mmi_snap_free(mmi_snapshot *s) {
    mmi_sys_free(s->rows);
    mmi_sys_free(s->comp_cat);
    mmi_sys_free(s->ctxs);
    mmi_sys_free(s->tops);
    mmi_sys_free(s->peaks);
    mmi_sys_free(s->reclaims);
    memset(s, 0, sizeof *s);
}

bool mmi_leaks_gather(mmi_leaks *l) {
    memset(l, 0, sizeof *l);
    l->total = mmi_process_stats(-1);
    l->ncat = mm_category_count();
    l->cats = mmi_sys_malloc((size_t)l->ncat * sizeof *l->cats, MM_CAT_INVALID, NULL);
    if (l->cats == NULL) return false;
    for (int c = 0; c < l->ncat; c++) l->cats[c] = mmi_process_stats(c);
    /* sized from one count and filled up to that size: sites another thread
     * records meanwhile are simply not in this list */
    size_t n = mm_sites(NULL, 0);
    if (n > 0) {
        l->sites = mmi_sys_malloc(n * sizeof *l->sites, MM_CAT_INVALID, NULL);
        if (l->sites == NULL) {
            mmi_leaks_free(l);
            return false;
        }
        size_t got = mm_sites(l->sites, n);
        if (got > n) got = n;
        for (size_t i = 0; i < got; i++)
            if (l->sites[i].blocks > 0) l->sites[l->nsites++] = l->sites[i];
    }
    return true;
}

void mmi_leaks_free(mmi_leaks *l) {
    mmi_sys_free(l->cats);
    mmi_sys_free(l->sites);
    memset(l, 0, sizeof *l);
}
