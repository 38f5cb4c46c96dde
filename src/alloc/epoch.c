/* Epoch statistics of a context: one epoch is the life between two resets
 * (one forest). Memory is bounded whatever the number of epochs: a summary
 * (count, min/mean/max of the peaks), the top K epochs with their
 * per-category peaks, the user fields of the current epoch (written with
 * its log line), and a process-wide ledger of every context's epochs that
 * outlives the contexts (process reports, the MPI reduction). The owner
 * changes a context's epochs under its owner lock or the registry lock, and
 * readers hold both (alloc.h, mmi_ctx_owner_lock); the ledger's counts are
 * per owner-lock stripe and its top list has a lock of its own. The log
 * lines themselves are written by report.c. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#define EPOCH_MAX_TOP 1000

typedef struct mmi_epoch_catpeak epoch_catpeak;

typedef struct {
    uint64_t index;              /* 0-based epoch number */
    size_t peak;                 /* subtree peak during the epoch, bytes */
    char label[MM_NAME_MAX + 1]; /* label at close */
    int ncats;                   /* entries used in cats */
    int cats_cap;                /* entries allocated in cats */
    epoch_catpeak *cats;         /* categories with a nonzero peak, by id */
} epoch_top;

struct mmi_epochs {
    uint64_t count;              /* closed epochs */
    size_t min_peak;             /* smallest epoch peak */
    size_t max_peak;             /* largest epoch peak */
    double sum_peak;             /* sum of epoch peaks, for the mean */
    size_t k;                    /* top epochs kept */
    size_t ntop;                 /* entries used in top, sorted by peak, largest first */
    epoch_top *top;              /* [k] */
    FILE *log;                   /* epoch log stream, or NULL (owner only) */
    mm_epoch_log_format log_fmt; /* its format */
    int header_ncat;             /* wide CSV: categories in the last header (0: none yet) */
    int header_nfields;          /* wide CSV: user fields in the last header */
    int nfields;                 /* user field names known */
    uint32_t set;                /* bit i: field i set in the current epoch */
    char names[MM_EPOCH_FIELDS_MAX][MM_NAME_MAX + 1]; /* user field names, first use order */
    double values[MM_EPOCH_FIELDS_MAX];               /* their values this epoch */
};

uint64_t mmi_epochs_count(const mmi_epochs *e) {
    return e ? e->count : 0;
}

mmi_epochs *mmi_epochs_new(void) {
    mmi_epochs *e = mmi_sys_calloc(sizeof *e, MM_CAT_INVALID, NULL);
    if (e == NULL) return NULL;
    e->top = mmi_sys_calloc(MM_DEFAULT_TOP_EPOCHS * sizeof *e->top, MM_CAT_INVALID, NULL);
    if (e->top == NULL) {
        mmi_sys_free(e);
        return NULL;
    }
    e->k = MM_DEFAULT_TOP_EPOCHS;
    return e;
}

void mmi_epochs_free(mmi_epochs *e) {
    if (e == NULL) return;
    for (size_t i = 0; i < e->k; i++) mmi_sys_free(e->top[i].cats);
    mmi_sys_free(e->top);
    mmi_sys_free(e);
}

/* ======================================================================
 * The process ledger
 * ==================================================================== */

/* The counts (count, min, max, sum) are kept per owner-lock stripe, under
 * that stripe's owner lock, which the reset closing the epoch holds: two
 * threads resetting a context per forest write no common line for them.
 * The top list is one, under ledger_lock, and an epoch takes that lock only
 * when it may enter the list: while the list is full, only a peak above its
 * last entry's can (ledger_floor, raised under the lock; a stale read only
 * sends an epoch to the lock to find it does not enter). Ties keep the
 * earlier epoch. */
typedef struct {
    _Alignas(MMI_CACHE_LINE) uint64_t count; /* epochs closed by this stripe's owners */
    size_t min_peak, max_peak;                /* of their peaks (count > 0) */
    double sum_peak;                          /* their sum */
} ledger_part;

static ledger_part ledger_parts[MMI_OWNER_LOCKS]; /* each under its owner lock */
static mmi_lock ledger_lock = MMI_LOCK_INIT(MMI_RANK_EPOCHS, "epoch ledger");
static struct {
    size_t ntop;                           /* entries of top, largest first */
    mmi_ledger_entry top[MMI_LEDGER_TOP];
} ledger;                                  /* the top list; ledger_lock */
static _Atomic int64_t ledger_floor = -1; /* an epoch enters the list only with a peak
                                             above this (-1: the list has room) */

/* The caller holds ctx's owner lock. */
static void ledger_add(const mm_context *ctx, uint64_t index, size_t peak) {
    ledger_part *part = &ledger_parts[mmi_ctx_owner_stripe(ctx)];
    if (part->count == 0 || peak < part->min_peak) part->min_peak = peak;
    if (peak > part->max_peak) part->max_peak = peak;
    part->sum_peak += (double)peak;
    part->count++;
    if ((int64_t)peak <= mmi_load(&ledger_floor)) return;
    mmi_lock_take(&ledger_lock);
    size_t n = ledger.ntop;
    if (n < MMI_LEDGER_TOP || peak > ledger.top[n - 1].peak_bytes) {
        size_t pos = n < MMI_LEDGER_TOP ? n : n - 1;
        while (pos > 0 && ledger.top[pos - 1].peak_bytes < peak) { /* ties keep the earlier */
            ledger.top[pos] = ledger.top[pos - 1];
            pos--;
        }
        mmi_ledger_entry *e = &ledger.top[pos];
        e->epoch = index;
        e->peak_bytes = peak;
        memcpy(e->context, ctx->name, sizeof e->context);
        memcpy(e->label, ctx->label, sizeof e->label);
        /* its largest categories, by repeated selection (few are nonzero) */
        e->ncats = 0;
        size_t last = SIZE_MAX;
        int last_cat = -1;
        while (e->ncats < (int)(sizeof e->cats / sizeof e->cats[0])) {
            int best = -1;
            size_t bp = 0;
            for (int c = 0; c < ctx->ncap; c++) {
                size_t p = mmi_load(&ctx->cats[c].tree.peak);
                if (p == 0 || p > last || (p == last && c <= last_cat)) continue;
                if (best < 0 || p > bp) {
                    best = c;
                    bp = p;
                }
            }
            if (best < 0) break;
            e->cats[e->ncats].cat = best;
            e->cats[e->ncats].peak = bp;
            e->ncats++;
            last = bp;
            last_cat = best;
        }
        if (n < MMI_LEDGER_TOP) ledger.ntop++;
        if (ledger.ntop == MMI_LEDGER_TOP)
            mmi_store(&ledger_floor, (int64_t)ledger.top[MMI_LEDGER_TOP - 1].peak_bytes);
    }
    mmi_lock_drop(&ledger_lock);
}

void mmi_ledger_copy(mmi_ledger *out) {
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < MMI_OWNER_LOCKS; i++) {
        mmi_lock_take(mmi_owner_lock_at(i));
        const ledger_part *part = &ledger_parts[i];
        if (part->count != 0) {
            if (out->count == 0 || part->min_peak < out->min_peak) out->min_peak = part->min_peak;
            if (part->max_peak > out->max_peak) out->max_peak = part->max_peak;
            out->sum_peak += part->sum_peak;
            out->count += part->count;
        }
        mmi_lock_drop(mmi_owner_lock_at(i));
    }
    mmi_lock_take(&ledger_lock);
    out->ntop = ledger.ntop;
    memcpy(out->top, ledger.top, ledger.ntop * sizeof ledger.top[0]);
    mmi_lock_drop(&ledger_lock);
}

/* ======================================================================
 * Closing an epoch (the caller holds ctx's owner lock)
 * ==================================================================== */

/* Copies the per-category epoch peaks of ctx into slot; false when memory
 * for them ran out (the slot is kept without the breakdown). */
static bool epoch_fill(epoch_top *slot, const mm_context *ctx) {
    int n = 0;
    for (int c = 0; c < ctx->ncap; c++)
        if (mmi_load(&ctx->cats[c].tree.peak)) n++;
    if (n > slot->cats_cap) {
        epoch_catpeak *p = mmi_sys_realloc(slot->cats, (size_t)n * sizeof *p, MM_CAT_INVALID, ctx);
        if (p == NULL) {
            slot->ncats = 0;
            return false;
        }
        slot->cats = p;
        slot->cats_cap = n;
    }
    slot->ncats = 0;
    for (int c = 0; c < ctx->ncap; c++) {
        size_t p = mmi_load(&ctx->cats[c].tree.peak);
        if (p) {
            slot->cats[slot->ncats].cat = c;
            slot->cats[slot->ncats].peak = p;
            slot->ncats++;
        }
    }
    return true;
}

static bool epoch_insert_top(mmi_epochs *e, const mm_context *ctx, uint64_t index, size_t peak) {
    if (e->k == 0) return true;
    if (e->ntop == e->k && peak <= e->top[e->ntop - 1].peak) return true;
    size_t pos = e->ntop < e->k ? e->ntop : e->k - 1; /* slot to recycle */
    epoch_top spare = e->top[pos];
    while (pos > 0 && e->top[pos - 1].peak < peak) { /* ties keep the earlier epoch first */
        e->top[pos] = e->top[pos - 1];
        pos--;
    }
    spare.index = index;
    spare.peak = peak;
    memcpy(spare.label, ctx->label, sizeof spare.label);
    bool ok = epoch_fill(&spare, ctx);
    e->top[pos] = spare;
    if (e->ntop < e->k) e->ntop++;
    return ok;
}

bool mmi_epochs_close(mm_context *ctx) {
    mmi_epochs *e = ctx->epochs;
    size_t peak = mmi_load(&ctx->tree.peak);
    uint64_t index = e->count;
    if (e->count == 0 || peak < e->min_peak) e->min_peak = peak;
    if (peak > e->max_peak) e->max_peak = peak;
    e->sum_peak += (double)peak;
    e->count++;
    ledger_add(ctx, index, peak);
    return epoch_insert_top(e, ctx, index, peak);
}

void mmi_epochs_next(mm_context *ctx) {
    ctx->epochs->set = 0;
}

mmi_epoch_log mmi_epochs_log_state(mm_context *ctx) {
    mmi_epochs *e = ctx->epochs;
    mmi_epoch_log l = {e->log,   e->log_fmt,       e->nfields,         e->names,
                       e->values, e->set, &e->header_ncat, &e->header_nfields};
    return l;
}

/* ======================================================================
 * Readers (the caller holds the registry lock and ctx's owner lock)
 * ==================================================================== */

mm_epoch_summary mmi_epochs_summary(const mm_context *ctx) {
    const mmi_epochs *e = ctx->epochs;
    mm_epoch_summary s = {e->count, e->min_peak, e->max_peak,
                          e->count ? e->sum_peak / (double)e->count : 0.0};
    return s;
}

size_t mmi_epochs_top(const mm_context *ctx, size_t rank, mmi_epoch_view *out) {
    const mmi_epochs *e = ctx->epochs;
    if (rank >= e->ntop) return 0;
    const epoch_top *t = &e->top[rank];
    out->index = t->index;
    out->peak_bytes = t->peak;
    memcpy(out->label, t->label, sizeof out->label);
    out->ncats = t->ncats;
    out->cats = t->cats;
    return 1;
}

/* ======================================================================
 * Public API (owner thread; readers elsewhere go through reports)
 * ==================================================================== */


mm_epoch_summary mm_context_epochs(const mm_context *ctx) {
    mm_epoch_summary s = {0, 0, 0, 0.0};
    MMI_CTX_REQUIRE(ctx, "mm_context_epochs", s);
    mmi_contexts_lock();
    mmi_lock_take(mmi_ctx_owner_lock(ctx));
    s = mmi_epochs_summary(ctx);
    mmi_lock_drop(mmi_ctx_owner_lock(ctx));
    mmi_contexts_unlock();
    return s;
}

size_t mm_context_set_top_epochs(mm_context *ctx, size_t k) {
    MMI_CTX_REQUIRE(ctx, "mm_context_set_top_epochs", 0);
    mmi_epochs *e = ctx->epochs;
    size_t old = e->k;
    if (k > EPOCH_MAX_TOP) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_context_set_top_epochs: k = %zu is above the maximum of %d", k,
                  EPOCH_MAX_TOP);
        return old;
    }
    if (k == old) return old;
    if (k > old) {
        epoch_top *t = mmi_sys_calloc(k * sizeof *t, MM_CAT_INVALID, ctx);
        if (t == NULL) {
            mmi_error_oom(k * sizeof *t, MM_CAT_UTILITY, ctx, "mm_context_set_top_epochs");
            return old;
        }
        epoch_top *prev = e->top;
        mmi_contexts_lock();
        if (old) memcpy(t, e->top, old * sizeof *t);
        e->top = t;
        e->k = k;
        mmi_contexts_unlock();
        mmi_sys_free(prev);
        return old;
    }
    /* shrinking needs no memory (so it cannot fail): the entries beyond k are
     * emptied and the array keeps its length until it grows again */
    epoch_catpeak *dropped[EPOCH_MAX_TOP];
    size_t ndropped = 0;
    epoch_top *prev = NULL;
    mmi_contexts_lock();
    for (size_t i = k; i < old; i++) {
        dropped[ndropped++] = e->top[i].cats;
        memset(&e->top[i], 0, sizeof e->top[i]);
    }
    if (k == 0) {
        prev = e->top;
        e->top = NULL;
    }
    e->k = k;
    if (e->ntop > k) e->ntop = k;
    mmi_contexts_unlock();
    for (size_t i = 0; i < ndropped; i++) mmi_sys_free(dropped[i]);
    mmi_sys_free(prev);
    return old;
}

int mm_context_top_epoch(const mm_context *ctx, size_t rank, mm_epoch_info *out) {
    MMI_CTX_REQUIRE(ctx, "mm_context_top_epoch", 0);
    const mmi_epochs *e = ctx->epochs;
    if (rank >= e->ntop) return 0;
    if (out) {
        out->index = e->top[rank].index;
        out->label = e->top[rank].label;
        out->peak_bytes = e->top[rank].peak;
    }
    return 1;
}

size_t mm_context_top_epoch_category(const mm_context *ctx, size_t rank, mm_category c) {
    MMI_CTX_REQUIRE(ctx, "mm_context_top_epoch_category", 0);
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, ctx, "mm_context_top_epoch_category");
        return 0;
    }
    const mmi_epochs *e = ctx->epochs;
    if (rank >= e->ntop) return 0;
    const epoch_top *t = &e->top[rank];
    for (int i = 0; i < t->ncats; i++)
        if (t->cats[i].cat == c) return t->cats[i].peak;
    return 0;
}

void mm_context_set_epoch_log(mm_context *ctx, FILE *out, mm_epoch_log_format fmt) {
    MMI_CTX_REQUIRE(ctx, "mm_context_set_epoch_log", );
    if (fmt != MM_EPOCH_LOG_CSV && fmt != MM_EPOCH_LOG_JSONL && fmt != MM_EPOCH_LOG_CSV_WIDE) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_context_set_epoch_log: unknown format %d", (int)fmt);
        return;
    }
    mmi_epochs *e = ctx->epochs;
    e->log = out;
    e->log_fmt = fmt;
    e->header_ncat = e->header_nfields = 0;
    if (out && fmt == MM_EPOCH_LOG_CSV) fputs("epoch,label,peak_bytes,category_peaks\n", out);
}

int mm_context_epoch_field(mm_context *ctx, const char *name, double value) {
    MMI_CTX_REQUIRE(ctx, "mm_context_epoch_field", -1);
    static const char *const reserved[] = {"epoch", "label", "peak_bytes", "category_peaks"};
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > MM_NAME_MAX) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_context_epoch_field: the name is %s (1 to %d bytes)",
                  name == NULL ? "NULL" : n == 0 ? "empty" : "too long", MM_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0) {
            mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                      "mm_context_epoch_field: \"%s\" is one of the epoch line's own keys", name);
            return -1;
        }
    mmi_epochs *e = ctx->epochs;
    int i = 0;
    while (i < e->nfields && strcmp(e->names[i], name) != 0) i++;
    if (i == e->nfields) {
        if (e->nfields == MM_EPOCH_FIELDS_MAX) {
            mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                      "mm_context_epoch_field: \"%s\" would be field %d; a context keeps at most "
                      "%d",
                      name, MM_EPOCH_FIELDS_MAX + 1, MM_EPOCH_FIELDS_MAX);
            return -1;
        }
        memcpy(e->names[i], name, n + 1);
        e->nfields++;
    }
    e->values[i] = value;
    e->set |= (uint32_t)1 << i;
    return 0;
}
