/* Epoch statistics of a context: one epoch is the life between two resets
 * (one forest). Memory is bounded whatever the number of epochs: a summary
 * (count, min/mean/max of the peaks), the top K epochs with their per-category
 * peaks, and an optional stream of one line per epoch to a caller's FILE. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define EPOCH_MAX_TOP 1000

typedef struct {
    int cat;     /* category id */
    size_t peak; /* that category's peak during the epoch, bytes */
} epoch_catpeak;

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
    FILE *log;                   /* epoch log stream, or NULL */
    mm_epoch_log_format log_fmt; /* CSV or JSON Lines */
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

/* Copies the per-category epoch peaks of ctx into slot. Out of memory is
 * reported, and the slot is kept without the per-category breakdown (the
 * reset that closes the epoch has no way to fail). */
static void epoch_fill(epoch_top *slot, const mm_context *ctx) {
    int n = 0;
    for (int c = 0; c < ctx->ncap; c++)
        if (ctx->cats[c].tree.peak) n++;
    if (n > slot->cats_cap) {
        epoch_catpeak *p = mmi_sys_realloc(slot->cats, (size_t)n * sizeof *p, MM_CAT_INVALID, ctx);
        if (p == NULL) {
            slot->ncats = 0;
            mmi_error_oom((size_t)n * sizeof *p, MM_CAT_UTILITY, ctx,
                          "mm_context_reset (per-category peaks of a top epoch)");
            return;
        }
        slot->cats = p;
        slot->cats_cap = n;
    }
    slot->ncats = 0;
    for (int c = 0; c < ctx->ncap; c++)
        if (ctx->cats[c].tree.peak) {
            slot->cats[slot->ncats].cat = c;
            slot->cats[slot->ncats].peak = ctx->cats[c].tree.peak;
            slot->ncats++;
        }
}

static void epoch_insert_top(mmi_epochs *e, const mm_context *ctx, uint64_t index, size_t peak) {
    if (e->k == 0) return;
    if (e->ntop == e->k && peak <= e->top[e->ntop - 1].peak) return;
    size_t pos = e->ntop < e->k ? e->ntop : e->k - 1; /* slot to recycle */
    epoch_top spare = e->top[pos];
    while (pos > 0 && e->top[pos - 1].peak < peak) { /* ties keep the earlier epoch first */
        e->top[pos] = e->top[pos - 1];
        pos--;
    }
    spare.index = index;
    spare.peak = peak;
    memcpy(spare.label, ctx->label, sizeof spare.label);
    epoch_fill(&spare, ctx);
    e->top[pos] = spare;
    if (e->ntop < e->k) e->ntop++;
}

static bool epoch_csv_needs_quotes(const char *s) {
    return strpbrk(s, ",\"\r\n") != NULL;
}

/* Writes s, doubling its quotes when it is inside a quoted field. */
static void epoch_csv_text(FILE *f, const char *s, bool quoted) {
    for (; *s; s++) {
        if (quoted && *s == '"') fputc('"', f);
        fputc(*s, f);
    }
}

static void epoch_csv_field(FILE *f, const char *s) {
    bool quoted = epoch_csv_needs_quotes(s);
    if (quoted) fputc('"', f);
    epoch_csv_text(f, s, quoted);
    if (quoted) fputc('"', f);
}

static void epoch_log_line(mmi_epochs *e, const mm_context *ctx, uint64_t index, size_t peak) {
    FILE *f = e->log;
    if (e->log_fmt == MM_EPOCH_LOG_CSV) {
        fprintf(f, "%llu,", (unsigned long long)index);
        epoch_csv_field(f, ctx->label);
        fprintf(f, ",%zu,", peak);
        /* the category list is one field, quoted as a whole if a name needs
         * quoting; written as it goes, so logging never allocates */
        bool quoted = false;
        for (int c = 0; c < ctx->ncap; c++)
            if (ctx->cats[c].tree.peak && epoch_csv_needs_quotes(mmi_cat_name(c))) quoted = true;
        if (quoted) fputc('"', f);
        int first = 1;
        for (int c = 0; c < ctx->ncap; c++) {
            size_t p = ctx->cats[c].tree.peak;
            if (!p) continue;
            if (!first) fputc(';', f);
            first = 0;
            epoch_csv_text(f, mmi_cat_name(c), quoted);
            fprintf(f, "=%zu", p);
        }
        if (quoted) fputc('"', f);
        fputc('\n', f);
    } else {
        fprintf(f, "{\"epoch\":%llu,\"label\":", (unsigned long long)index);
        mmi_json_string(f, ctx->label);
        fprintf(f, ",\"peak_bytes\":%zu,\"category_peaks\":{", peak);
        int first = 1;
        for (int c = 0; c < ctx->ncap; c++) {
            size_t p = ctx->cats[c].tree.peak;
            if (!p) continue;
            if (!first) fputc(',', f);
            first = 0;
            mmi_json_string(f, mmi_cat_name(c));
            fprintf(f, ":%zu", p);
        }
        fputs("}}\n", f);
    }
}

void mmi_epochs_close(mm_context *ctx) {
    mmi_epochs *e = ctx->epochs;
    size_t peak = ctx->tree.peak;
    uint64_t index = e->count;
    if (e->count == 0 || peak < e->min_peak) e->min_peak = peak;
    if (peak > e->max_peak) e->max_peak = peak;
    e->sum_peak += (double)peak;
    e->count++;
    epoch_insert_top(e, ctx, index, peak);
    if (e->log) epoch_log_line(e, ctx, index, peak);
}

/* ---- public API -------------------------------------------------------- */

#define EPOCH_REQUIRE(ctx, fn, fail)                                                               \
    do {                                                                                           \
        if (!mmi_ctx_alive(ctx)) {                                                                 \
            mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, (ctx),                          \
                      "%s: %p is not a live context", (fn), (const void *)(ctx));                  \
            return fail;                                                                           \
        }                                                                                          \
    } while (0)

mm_epoch_summary mm_context_epochs(const mm_context *ctx) {
    mm_epoch_summary s = {0, 0, 0, 0.0};
    EPOCH_REQUIRE(ctx, "mm_context_epochs", s);
    const mmi_epochs *e = ctx->epochs;
    s.count = e->count;
    s.min_peak = e->min_peak;
    s.max_peak = e->max_peak;
    s.mean_peak = e->count ? e->sum_peak / (double)e->count : 0.0;
    return s;
}

size_t mm_context_set_top_epochs(mm_context *ctx, size_t k) {
    EPOCH_REQUIRE(ctx, "mm_context_set_top_epochs", 0);
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
        epoch_top *t = mmi_sys_realloc(e->top, k * sizeof *t, MM_CAT_INVALID, ctx);
        if (t == NULL) {
            mmi_error_oom(k * sizeof *t, MM_CAT_UTILITY, ctx, "mm_context_set_top_epochs");
            return old;
        }
        memset(t + old, 0, (k - old) * sizeof *t);
        e->top = t;
    } else {
        /* shrinking needs no memory (so it cannot fail): the entries beyond k
         * are emptied and the array keeps its length until it grows again */
        for (size_t i = k; i < old; i++) {
            mmi_sys_free(e->top[i].cats);
            memset(&e->top[i], 0, sizeof e->top[i]);
        }
        if (k == 0) {
            mmi_sys_free(e->top);
            e->top = NULL;
        }
    }
    e->k = k;
    if (e->ntop > k) e->ntop = k;
    return old;
}

int mm_context_top_epoch(const mm_context *ctx, size_t rank, mm_epoch_info *out) {
    EPOCH_REQUIRE(ctx, "mm_context_top_epoch", 0);
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
    EPOCH_REQUIRE(ctx, "mm_context_top_epoch_category", 0);
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
    EPOCH_REQUIRE(ctx, "mm_context_set_epoch_log", );
    if (fmt != MM_EPOCH_LOG_CSV && fmt != MM_EPOCH_LOG_JSONL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_context_set_epoch_log: unknown format %d", (int)fmt);
        return;
    }
    ctx->epochs->log = out;
    ctx->epochs->log_fmt = fmt;
    if (out && fmt == MM_EPOCH_LOG_CSV) fputs("epoch,label,peak_bytes,category_peaks\n", out);
}
