/* Reports: usage by category (grouped, with subtotals, Total and Peak), the
 * peak composition, the top allocation sites, the context tree with
 * per-context totals and per-forest (epoch) statistics; the leak list; the
 * epoch log lines. Each writer walks one gathered snapshot (snapshot.c) and
 * makes the text and the JSON calls side by side on one emitter (emit.c),
 * so both forms always carry the same content. */
#include "snapshot.h"
#include "symbolize.h"

#include <stdlib.h>
#include <string.h>

static const char *rep_s(size_t n) {
    return n == 1 ? "" : "s";
}

/* ======================================================================
 * Pieces
 * ==================================================================== */

static void rep_stats(mmi_emitter *e, const mm_stats *s) {
    mmi_emit_u64(e, "bytes", s->bytes);
    mmi_emit_u64(e, "peak_bytes", s->peak_bytes);
    mmi_emit_u64(e, "blocks", s->blocks);
    mmi_emit_u64(e, "allocs", s->allocs);
    mmi_emit_u64(e, "frees", s->frees);
}

/* "file:line" of a site into buf; a legacy site that y resolved reads
 * "file:line (function)" (y NULL: as recorded). */
static const char *rep_site_name(const mm_site_stats *s, const mmi_sym *y, char *buf, size_t len) {
    if (y != NULL && y->line > 0)
        snprintf(buf, len, y->function[0] ? "%s:%d (%s)" : "%s:%d%s", y->file, y->line,
                 y->function);
    else if (s->file == NULL)
        snprintf(buf, len, "(unknown site)");
    else if (s->line == 0)
        snprintf(buf, len, "%s", s->file);
    else
        snprintf(buf, len, "%s:%d", s->file, s->line);
    return buf;
}

/* Width of the site column: the longest "file:line" shown, at most 60. */
static int rep_site_width(const mm_site_stats *sites, const mmi_sym *syms, size_t n) {
    char where[512];
    int w = 16;
    for (size_t i = 0; i < n; i++) {
        const mmi_sym *y = syms ? &syms[i] : NULL;
        int len = (int)strlen(rep_site_name(&sites[i], y, where, sizeof where));
        if (len > w) w = len;
    }
    return w < 60 ? w : 60;
}

/* One site: JSON object; with_history adds its peak and allocations. A
 * legacy site keeps its recorded name in "address" and its module's path in
 * "module" (to resolve again), and has "file", "line" and "function" when y
 * resolved it. */
static void rep_site_json(mmi_emitter *e, const mm_site_stats *s, const mmi_sym *y,
                          bool with_history) {
    mmi_emit_obj_begin(e, NULL);
    bool resolved = y != NULL && y->line > 0;
    mmi_emit_str(e, "file", resolved ? y->file : s->file);
    mmi_emit_i64(e, "line", resolved ? y->line : s->line);
    if (resolved && y->function[0]) mmi_emit_str(e, "function", y->function);
    if (y != NULL && y->module != NULL) {
        mmi_emit_str(e, "address", s->file);
        mmi_emit_str(e, "module", y->module);
    }
    mmi_emit_str(e, "category", mmi_cat_name(s->category));
    mmi_emit_u64(e, "bytes", s->bytes);
    mmi_emit_u64(e, "blocks", s->blocks);
    if (with_history) {
        mmi_emit_u64(e, "peak_bytes", s->peak_bytes);
        mmi_emit_u64(e, "allocs", s->allocs);
    }
    mmi_emit_obj_end(e);
}

/* ======================================================================
 * Sections
 * ==================================================================== */

static int rep_name_width(const mmi_snapshot *s) {
    int w = 16;
    for (int i = 0; i < s->nrows; i++) {
        int n = (int)strlen(mmi_cat_name(s->rows[i].id));
        if (n > w) w = n;
    }
    return w;
}

static void rep_categories(mmi_emitter *e, const mmi_snapshot *s, int w) {
    char b1[32], b2[32], b3[32];
    if (!s->process) {
        mmi_emit_text(e, "=== Memory Usage by Category: context \"");
        mmi_emit_name(e, s->root_name, 0);
        mmi_emit_text(e, "\" and its children ===\n");
    } else {
        mmi_emit_text(e, "=== Memory Usage by Category ===\n");
    }
    if (s->nrows == 0) mmi_emit_text(e, "  (no memory in use)\n");
    mmi_emit_arr_begin(e, "categories");
    for (int i = 0; i < s->nrows;) {
        int g = s->rows[i].group;
        mmi_emit_name(e, mmi_group_name(g), 0);
        mmi_emit_text(e, ":\n");
        size_t sub = 0;
        for (; i < s->nrows && s->rows[i].group == g; i++) {
            const mm_stats *st = &s->rows[i].s;
            mmi_emit_text(e, "  ");
            mmi_emit_name(e, mmi_cat_name(s->rows[i].id), w);
            mmi_emit_text(e, " %10s  (peak %s, %s block%s)\n",
                          mm_format_bytes(st->bytes, b1, sizeof b1),
                          mm_format_bytes(st->peak_bytes, b2, sizeof b2),
                          mmi_format_count(st->blocks, b3, sizeof b3), rep_s(st->blocks));
            mmi_emit_obj_begin(e, NULL);
            mmi_emit_i64(e, "id", s->rows[i].id);
            mmi_emit_str(e, "name", mmi_cat_name(s->rows[i].id));
            mmi_emit_str(e, "group", mmi_group_name(g));
            rep_stats(e, st);
            mmi_emit_obj_end(e);
            sub += st->bytes;
        }
        mmi_emit_text(e, "  %-*s %10s\n", w, "Subtotal", mm_format_bytes(sub, b1, sizeof b1));
    }
    mmi_emit_arr_end(e);
    mmi_emit_arr_begin(e, "groups");
    for (int i = 0; i < s->nrows;) {
        int g = s->rows[i].group;
        size_t sub = 0;
        for (; i < s->nrows && s->rows[i].group == g; i++) sub += s->rows[i].s.bytes;
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_str(e, "name", mmi_group_name(g));
        mmi_emit_u64(e, "bytes", sub);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    const mm_stats *t = &s->total;
    mmi_emit_text(e, "%-*s %10s  (%s block%s live; ", w + 2, "Total",
                  mm_format_bytes(t->bytes, b1, sizeof b1), mmi_format_count(t->blocks, b2, sizeof b2),
                  rep_s(t->blocks));
    mmi_emit_text(e, "%s allocation%s, ", mmi_format_count(t->allocs, b1, sizeof b1),
                  rep_s(t->allocs));
    mmi_emit_text(e, "%s free%s)\n", mmi_format_count(t->frees, b1, sizeof b1), rep_s(t->frees));
    mmi_emit_text(e,
                  "%-*s %10s  (high-water mark of the total; per-category peaks above may come "
                  "from different moments)\n",
                  w + 2, "Peak", mm_format_bytes(t->peak_bytes, b1, sizeof b1));
    mmi_emit_obj_begin(e, "total");
    rep_stats(e, t);
    mmi_emit_obj_end(e);
}

/* "Peak 5.2 GB, reached in Forest 1,234: Cooling 2.1 GB, Halos 1.2 GB, ..." */
static void rep_composition(mmi_emitter *e, const mmi_snapshot *s) {
    char b1[32];
    if (!s->have_comp) return;
    const mm_peak_info *c = &s->comp;
    mmi_emit_text(e, "=== Peak Composition ===\n");
    mmi_emit_text(e, "Peak %s, reached ", mm_format_bytes(c->peak_bytes, b1, sizeof b1));
    if (c->label[0]) {
        mmi_emit_text(e, "in ");
        mmi_emit_name(e, c->label, 0);
    } else if (c->context[0]) {
        mmi_emit_text(e, "in context \"");
        mmi_emit_name(e, c->context, 0);
        mmi_emit_text(e, "\"");
    } else {
        mmi_emit_text(e, "outside any context");
    }
    mmi_emit_obj_begin(e, "peak_composition");
    mmi_emit_u64(e, "bytes", c->bytes);
    mmi_emit_u64(e, "peak_bytes", c->peak_bytes);
    mmi_emit_u64(e, "epoch", c->epoch);
    mmi_emit_str(e, "context", c->context);
    mmi_emit_str(e, "label", c->label);
    mmi_emit_obj_begin(e, "categories");
    for (int k = 0; k < s->ncat; k++)
        if (s->comp_cat[k]) mmi_emit_u64(e, mmi_cat_name(k), s->comp_cat[k]);
    mmi_emit_obj_end(e);
    mmi_emit_obj_end(e);
    /* text: largest first, by repeated selection (few categories are nonzero) */
    size_t last = SIZE_MAX;
    int last_cat = -1, shown = 0;
    for (;;) {
        int best = -1;
        for (int k = 0; k < s->ncat; k++) {
            size_t b = s->comp_cat[k];
            if (b == 0 || b > last || (b == last && k <= last_cat)) continue;
            if (best < 0 || b > s->comp_cat[best]) best = k;
        }
        if (best < 0) break;
        mmi_emit_text(e, "%s", shown++ ? ", " : ": ");
        mmi_emit_name(e, mmi_cat_name(best), 0);
        mmi_emit_text(e, " %s", mm_format_bytes(s->comp_cat[best], b1, sizeof b1));
        last = s->comp_cat[best];
        last_cat = best;
    }
    size_t step = mmi_load(&mmi_peak_step);
    if (c->bytes == c->peak_bytes) {
        mmi_emit_text(e, "\n  (bytes of each category at the peak, adding up to it)\n");
    } else if (step <= 1) { /* threads allocating at once: design.md, "Statistics" */
        mmi_emit_text(e,
                      "\n  (bytes of each category at the last peak recorded, adding up to %s; "
                      "the higher peak was reached while several threads allocated)\n",
                      mm_format_bytes(c->bytes, b1, sizeof b1));
    } else { /* a step above one byte: the record may lag the peak */
        char b2[32];
        mmi_emit_text(e,
                      "\n  (bytes of each category at one moment, adding up to %s: recorded "
                      "only when the peak grows by %s, so from a moment up to that many bytes "
                      "below the peak)\n",
                      mm_format_bytes(c->bytes, b1, sizeof b1),
                      mm_format_bytes(step, b2, sizeof b2));
    }
}

/* resolve: legacy site names may be resolved by running addr2line (not
 * for the limit message, which is written on an allocation path). */
static void rep_sites(mmi_emitter *e, const mmi_snapshot *s, int namew, bool resolve) {
    char where[512], b1[32], b2[32], b3[32], b4[32];
    if (s->nsites == 0) return;
    mmi_sym syms[MMI_SNAP_SITES];
    mmi_symbolize(s->sites, s->nsites, syms, resolve);
    int w = rep_site_width(s->sites, syms, s->nsites);
    mmi_emit_text(e, "=== Top Allocation Sites (by live bytes) ===\n");
    mmi_emit_arr_begin(e, "top_sites");
    for (size_t i = 0; i < s->nsites; i++) {
        const mm_site_stats *st = &s->sites[i];
        mmi_emit_text(e, "  ");
        mmi_emit_name(e, rep_site_name(st, &syms[i], where, sizeof where), w);
        mmi_emit_text(e, " ");
        mmi_emit_name(e, mmi_cat_name(st->category), namew);
        mmi_emit_text(e, " %10s  (peak %s, %s block%s, %s allocation%s)\n",
                      mm_format_bytes(st->bytes, b1, sizeof b1),
                      mm_format_bytes(st->peak_bytes, b2, sizeof b2),
                      mmi_format_count(st->blocks, b3, sizeof b3), rep_s(st->blocks),
                      mmi_format_count(st->allocs, b4, sizeof b4), rep_s(st->allocs));
        rep_site_json(e, st, &syms[i], true);
    }
    mmi_emit_arr_end(e);
}

static void rep_tree_line(mmi_emitter *e, const mmi_snap_ctx *c, int indent) {
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    mmi_emit_text(e, "%*s", 2 * indent, "");
    mmi_emit_name(e, c->name, 0);
    if (c->label[0]) {
        mmi_emit_text(e, " [");
        mmi_emit_name(e, c->label, 0);
        mmi_emit_text(e, "]");
    }
    mmi_emit_text(e, ": %s in %s block%s (own %s; peak %s; chunks held %s)\n",
                  mm_format_bytes(c->total.bytes, b1, sizeof b1),
                  mmi_format_count(c->total.blocks, b2, sizeof b2), rep_s(c->total.blocks),
                  mm_format_bytes(c->self.bytes, b3, sizeof b3),
                  mm_format_bytes(c->total.peak_bytes, b4, sizeof b4),
                  mm_format_bytes(c->chunk_bytes, b5, sizeof b5));
}

/* The four largest categories of a top epoch, largest first, in text. */
/* Text: the start of a top-epoch line, its rank and its label (or "epoch
 * N" when it had none), padded to w (at least 18). */
static void rep_top_rank_text(mmi_emitter *e, size_t rank, const char *label, uint64_t index,
                              int w) {
    char name[MM_NAME_MAX + 32];
    if (label[0])
        snprintf(name, sizeof name, "%s", label);
    else
        snprintf(name, sizeof name, "epoch %llu", (unsigned long long)index);
    mmi_emit_text(e, "  %2zu. ", rank);
    mmi_emit_name(e, name, w > 18 ? w : 18);
}

static void rep_top_cats_text(mmi_emitter *e, const mmi_snapshot *s, const mmi_snap_top *t) {
    char b[32];
    size_t last = SIZE_MAX;
    int last_cat = -1;
    for (int shown = 0; shown < 4; shown++) {
        const struct mmi_epoch_catpeak *best = NULL;
        for (size_t i = 0; i < t->npeaks; i++) {
            const struct mmi_epoch_catpeak *p = &s->peaks[t->first_peak + i];
            if (p->peak > last || (p->peak == last && p->cat <= last_cat)) continue;
            if (best == NULL || p->peak > best->peak) best = p;
        }
        if (best == NULL) break;
        mmi_emit_text(e, "%s", shown ? ", " : " ");
        mmi_emit_name(e, mmi_cat_name(best->cat), 0);
        mmi_emit_text(e, " %s", mm_format_bytes(best->peak, b, sizeof b));
        last = best->peak;
        last_cat = best->cat;
    }
}

/* The epochs of one context: JSON object "epochs" (always), text section
 * (when it closed any). */
static void rep_epochs(mmi_emitter *e, const mmi_snapshot *s, const mmi_snap_ctx *c, int w) {
    char b1[32], b2[32], b3[32];
    const mm_epoch_summary *es = &c->epochs;
    mmi_emit_obj_begin(e, "epochs");
    mmi_emit_u64(e, "count", es->count);
    mmi_emit_u64(e, "min_peak_bytes", es->min_peak);
    mmi_emit_tenths(e, "mean_peak_bytes", es->mean_peak);
    mmi_emit_u64(e, "max_peak_bytes", es->max_peak);
    if (es->count > 0) {
        mmi_emit_text(e, "=== Per-Forest Statistics: context \"");
        mmi_emit_name(e, c->name, 0);
        mmi_emit_text(e, "\" ===\n");
        mmi_emit_text(e, "Forests (epochs)      %s\n", mmi_format_count(es->count, b1, sizeof b1));
        mmi_emit_text(e, "Peak per forest       mean %s, min %s, max %s\n",
                      mm_format_bytes((size_t)(es->mean_peak + 0.5), b1, sizeof b1),
                      mm_format_bytes(es->min_peak, b2, sizeof b2),
                      mm_format_bytes(es->max_peak, b3, sizeof b3));
        if (c->ntop > 0) mmi_emit_text(e, "Largest forests by peak (per-category peaks):\n");
    }
    mmi_emit_arr_begin(e, "top");
    for (size_t r = 0; r < c->ntop; r++) {
        const mmi_snap_top *t = &s->tops[c->first_top + r];
        rep_top_rank_text(e, r + 1, t->label, t->index, w);
        mmi_emit_text(e, " %10s ", mm_format_bytes(t->peak_bytes, b1, sizeof b1));
        rep_top_cats_text(e, s, t);
        mmi_emit_text(e, r == 0 ? "   <-- largest\n" : "\n");
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_u64(e, "rank", r + 1);
        mmi_emit_u64(e, "epoch", t->index);
        mmi_emit_str(e, "label", t->label);
        mmi_emit_u64(e, "peak_bytes", t->peak_bytes);
        mmi_emit_obj_begin(e, "category_peaks");
        for (size_t i = 0; i < t->npeaks; i++) {
            const struct mmi_epoch_catpeak *p = &s->peaks[t->first_peak + i];
            if (p->peak) mmi_emit_u64(e, mmi_cat_name(p->cat), p->peak);
        }
        mmi_emit_obj_end(e);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    if (c->nreclaim > 0)
        mmi_emit_text(e,
                      "Reclaimed by reset (blocks never freed explicitly): all forests / last "
                      "forest\n");
    mmi_emit_arr_begin(e, "reclaimed");
    for (size_t i = 0; i < c->nreclaim; i++) {
        const mmi_snap_reclaim *r = &s->reclaims[c->first_reclaim + i];
        mmi_emit_text(e, "  ");
        mmi_emit_name(e, mmi_cat_name(r->cat), w);
        mmi_emit_text(e, " %10s in %s block%s", mm_format_bytes(r->bytes, b1, sizeof b1),
                      mmi_format_count(r->blocks, b2, sizeof b2), rep_s(r->blocks));
        mmi_emit_text(e, " / %s in %s block%s\n", mm_format_bytes(r->last_bytes, b1, sizeof b1),
                      mmi_format_count(r->last_blocks, b3, sizeof b3), rep_s(r->last_blocks));
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_str(e, "category", mmi_cat_name(r->cat));
        mmi_emit_u64(e, "bytes", r->bytes);
        mmi_emit_u64(e, "blocks", r->blocks);
        mmi_emit_u64(e, "last_bytes", r->last_bytes);
        mmi_emit_u64(e, "last_blocks", r->last_blocks);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
}

/* JSON: the contexts as nested objects; i is the index of a context in the
 * preorder array, the return value the index after its subtree. */
static size_t rep_ctx_json(mmi_emitter *e, const mmi_snapshot *s, size_t i) {
    const mmi_snap_ctx *c = &s->ctxs[i];
    mmi_emit_obj_begin(e, NULL);
    mmi_emit_str(e, "name", c->name);
    mmi_emit_str(e, "label", c->label);
    rep_stats(e, &c->total);
    mmi_emit_obj_begin(e, "self");
    rep_stats(e, &c->self);
    mmi_emit_obj_end(e);
    mmi_emit_u64(e, "chunk_bytes", c->chunk_bytes);
    rep_epochs(e, s, c, 0);
    mmi_emit_arr_begin(e, "children");
    size_t j = i + 1;
    while (j < s->nctx && s->ctxs[j].depth > c->depth) j = rep_ctx_json(e, s, j);
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
    return j;
}

/* The process ledger: every context's epochs, live or destroyed. */
static void rep_ledger(mmi_emitter *e, const mmi_snapshot *s, int w) {
    char b1[32];
    const mmi_ledger *l = &s->ledger;
    double mean = l->count ? l->sum_peak / (double)l->count : 0.0;
    mmi_emit_obj_begin(e, "epochs");
    mmi_emit_u64(e, "count", l->count);
    mmi_emit_u64(e, "min_peak_bytes", l->min_peak);
    mmi_emit_tenths(e, "mean_peak_bytes", mean);
    mmi_emit_u64(e, "max_peak_bytes", l->max_peak);
    if (l->count) {
        char b2[32], b3[32];
        mmi_emit_text(e, "=== Forests of the Whole Run (every context, live or destroyed) ===\n");
        mmi_emit_text(e, "Forests (epochs)      %s\n", mmi_format_count(l->count, b1, sizeof b1));
        mmi_emit_text(e, "Peak per forest       mean %s, min %s, max %s\n",
                      mm_format_bytes((size_t)(mean + 0.5), b1, sizeof b1),
                      mm_format_bytes(l->min_peak, b2, sizeof b2),
                      mm_format_bytes(l->max_peak, b3, sizeof b3));
    }
    mmi_emit_arr_begin(e, "top");
    for (size_t r = 0; r < l->ntop; r++) {
        const mmi_ledger_entry *t = &l->top[r];
        rep_top_rank_text(e, r + 1, t->label, t->epoch, w);
        mmi_emit_text(e, " %10s  (context \"", mm_format_bytes(t->peak_bytes, b1, sizeof b1));
        mmi_emit_name(e, t->context, 0);
        mmi_emit_text(e, "\")\n");
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_str(e, "context", t->context);
        mmi_emit_u64(e, "epoch", t->epoch);
        mmi_emit_str(e, "label", t->label);
        mmi_emit_u64(e, "peak_bytes", t->peak_bytes);
        mmi_emit_obj_begin(e, "category_peaks");
        for (int i = 0; i < t->ncats; i++) mmi_emit_u64(e, mmi_cat_name(t->cats[i].cat), t->cats[i].peak);
        mmi_emit_obj_end(e);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
}

/* ======================================================================
 * The report
 * ==================================================================== */

static void rep_write(mmi_emitter *e, const mmi_snapshot *s, const char *key, bool resolve) {
    int w = rep_name_width(s);
    mmi_emit_obj_begin(e, key);
    mmi_emit_i64(e, "schema_version", MM_REPORT_SCHEMA_VERSION);
    mmi_emit_str(e, "library", "mimicmem");
    mmi_emit_str(e, "version", MM_VERSION_STRING);
    mmi_emit_str(e, "scope", s->process ? "process" : "context");
    if (!s->process) mmi_emit_str(e, "context", s->root_name);
    if (s->rank >= 0) mmi_emit_i64(e, "rank", s->rank);
    rep_categories(e, s, w);
    rep_composition(e, s);
    rep_sites(e, s, w, resolve);
    if (s->process) rep_ledger(e, s, w);
    if (s->incomplete) {
        mmi_emit_text(e, "(out of memory while gathering: some lists below are incomplete)\n");
        mmi_emit_u64(e, "incomplete", 1);
    }
    if (!s->process) {
        mmi_emit_text(e, "=== Context Tree ===\n");
    } else {
        mmi_emit_text(e, "=== Live Contexts ===\n");
        if (s->nctx == 0) mmi_emit_text(e, "  (none: all memory is process-wide)\n");
    }
    /* the text lists the tree, then each context's forests; JSON nests them */
    int indent0 = s->process ? 1 : 0;
    for (size_t i = 0; i < s->nctx; i++) rep_tree_line(e, &s->ctxs[i], indent0 + s->ctxs[i].depth);
    if (e->fmt == MMI_EMIT_TEXT)
        for (size_t i = 0; i < s->nctx; i++) rep_epochs(e, s, &s->ctxs[i], w);
    mmi_emit_arr_begin(e, "contexts");
    if (e->fmt == MMI_EMIT_JSON)
        for (size_t i = 0; i < s->nctx;) i = rep_ctx_json(e, s, i);
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
}

/* Checks the arguments of mm_report; false after the error. */
static bool rep_args(const void *out, const mm_context *ctx, mm_report_format fmt, const char *fn) {
    if (out == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx, "%s: out is NULL", fn);
        return false;
    }
    if (ctx != NULL && !mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, fn);
        return false;
    }
    if (fmt != MM_REPORT_TEXT && fmt != MM_REPORT_JSON) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx, "%s: unknown format %d", fn,
                  (int)fmt);
        return false;
    }
    return true;
}

/* The report of ctx (NULL: the process) on e; false when the snapshot did
 * not fit in memory (nothing written). *incomplete: some list of it was cut
 * short for lack of memory (the caller reports it, with no lock held).
 * resolve: see rep_sites. */
static bool rep_emit(mmi_emitter *e, const mm_context *ctx, bool *incomplete, bool resolve) {
    mmi_snapshot s;
    if (!mmi_snap_gather(&s, ctx)) return false;
    rep_write(e, &s, NULL, resolve);
    *incomplete = s.incomplete;
    mmi_snap_free(&s);
    return true;
}

void mm_report(FILE *out, const mm_context *ctx, mm_report_format fmt) {
    mmi_first_use();
    if (!rep_args(out, ctx, fmt, "mm_report")) return;
    mmi_emitter e;
    mmi_emit_init(&e, out, fmt == MM_REPORT_JSON ? MMI_EMIT_JSON : MMI_EMIT_TEXT);
    bool incomplete = false;
    bool ok = rep_emit(&e, ctx, &incomplete, true);
    if (ok) mmi_emit_json_line_end(&e);
    fflush(out);
    if (!ok || incomplete)
        mmi_error_oom((size_t)mm_category_count() * sizeof(mmi_snap_cat), MM_CAT_UTILITY, ctx,
                      ok ? "mm_report (the report above is incomplete)" : "mm_report");
}

char *mmi_report_text(const mm_context *ctx) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = mmi_memstream(&buf, &len);
    if (f == NULL) return NULL;
    mmi_emitter e;
    mmi_emit_init(&e, f, MMI_EMIT_TEXT);
    bool incomplete;
    bool ok = rep_emit(&e, ctx, &incomplete, false);
    if (fclose(f) != 0 || !ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ======================================================================
 * Leaks: what is still live, by site and category
 * ==================================================================== */

static size_t rep_leaks(mmi_emitter *e, const mmi_leaks *l, const char *key) {
    char b1[32], b2[32], where[512];
    const mm_stats *t = &l->total;
    mmi_emit_obj_begin(e, key);
    mmi_emit_i64(e, "schema_version", MM_REPORT_SCHEMA_VERSION);
    mmi_emit_u64(e, "leaked_blocks", t->blocks);
    mmi_emit_u64(e, "leaked_bytes", t->bytes);
    if (t->blocks == 0) {
        mmi_emit_text(e, "=== Leaks ===\nNo blocks are still allocated.\n");
    } else {
        mmi_emit_text(e, "=== Leaks: %s block%s (%s) still allocated ===\n",
                      mmi_format_count(t->blocks, b1, sizeof b1), rep_s(t->blocks),
                      mm_format_bytes(t->bytes, b2, sizeof b2));
        mmi_emit_text(e, "By category:\n");
    }
    mmi_emit_arr_begin(e, "by_category");
    for (int c = 0; c < l->ncat; c++) {
        const mm_stats *s = &l->cats[c];
        if (s->blocks == 0) continue;
        mmi_emit_text(e, "  ");
        mmi_emit_name(e, mmi_cat_name(c), 16);
        mmi_emit_text(e, " %10s  %s block%s\n", mm_format_bytes(s->bytes, b2, sizeof b2),
                      mmi_format_count(s->blocks, b1, sizeof b1), rep_s(s->blocks));
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_str(e, "category", mmi_cat_name(c));
        mmi_emit_u64(e, "blocks", s->blocks);
        mmi_emit_u64(e, "bytes", s->bytes);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    if (t->blocks > 0 && l->nsites > 0) mmi_emit_text(e, "By allocation site:\n");
    /* legacy site names resolved (NULL when there are none, or that memory
     * is missing: shown as recorded) */
    mmi_sym *syms = NULL;
    if (mmi_symbolize_any(l->sites, l->nsites))
        syms = mmi_sys_malloc(l->nsites * sizeof *syms, MM_CAT_INVALID, NULL);
    if (syms != NULL) mmi_symbolize(l->sites, l->nsites, syms, true);
    int w = rep_site_width(l->sites, syms, l->nsites);
    mmi_emit_arr_begin(e, "by_site");
    for (size_t i = 0; i < l->nsites; i++) {
        const mm_site_stats *s = &l->sites[i];
        mmi_emit_text(e, "  ");
        mmi_emit_name(e, rep_site_name(s, syms ? &syms[i] : NULL, where, sizeof where), w);
        mmi_emit_text(e, " ");
        mmi_emit_name(e, mmi_cat_name(s->category), 16);
        mmi_emit_text(e, " %10s  %s block%s\n", mm_format_bytes(s->bytes, b2, sizeof b2),
                      mmi_format_count(s->blocks, b1, sizeof b1), rep_s(s->blocks));
        rep_site_json(e, s, syms ? &syms[i] : NULL, false);
    }
    mmi_emit_arr_end(e);
    mmi_sys_free(syms);
    if (t->blocks > 0 && l->nsites == 0)
        mmi_emit_text(e, "(set MIMICMEM_SITES=on and build with -DMM_WITH_SITES to list leaks by "
                         "file and line)\n");
    mmi_emit_obj_end(e);
    return t->blocks;
}

size_t mm_report_leaks(FILE *out, mm_report_format fmt) {
    mmi_first_use();
    if (out == NULL || (fmt != MM_REPORT_TEXT && fmt != MM_REPORT_JSON)) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL, "mm_report_leaks: %s",
                  out == NULL ? "out is NULL" : "unknown format");
        return 0;
    }
    mmi_leaks l;
    if (!mmi_leaks_gather(&l)) {
        mmi_error_oom(sizeof(mm_stats) * (size_t)mm_category_count(), MM_CAT_UTILITY, NULL,
                      "mm_report_leaks");
        return mm_stats_total(NULL).blocks;
    }
    mmi_emitter e;
    mmi_emit_init(&e, out, fmt == MM_REPORT_JSON ? MMI_EMIT_JSON : MMI_EMIT_TEXT);
    size_t n = rep_leaks(&e, &l, NULL);
    mmi_emit_json_line_end(&e);
    mmi_leaks_free(&l);
    fflush(out);
    return n;
}

/* The exit report: the process report and the leaks, as text or as one
 * JSON object {"report": ..., "leaks": ...}. */
void mmi_report_exit(FILE *out, bool json) {
    mmi_emitter e;
    mmi_emit_init(&e, out, json ? MMI_EMIT_JSON : MMI_EMIT_TEXT);
    mmi_emit_obj_begin(&e, NULL);
    mmi_snapshot s;
    if (mmi_snap_gather(&s, NULL)) {
        rep_write(&e, &s, "report", true);
        mmi_snap_free(&s);
    } else {
        mmi_emit_text(&e, "(no report: out of memory)\n");
        mmi_emit_str(&e, "report", NULL);
    }
    mmi_leaks l;
    if (mmi_leaks_gather(&l)) {
        rep_leaks(&e, &l, "leaks");
        mmi_leaks_free(&l);
    } else {
        mmi_emit_text(&e, "(no leak list: out of memory)\n");
        mmi_emit_str(&e, "leaks", NULL);
    }
    mmi_emit_obj_end(&e);
    mmi_emit_json_line_end(&e);
    fflush(out);
}

/* ======================================================================
 * The epoch log: one line per closed epoch, written by the owner at reset
 * from its own figures, before the reset changes them (no lock held)
 * ==================================================================== */

static void rep_log_wide_header(mmi_emitter *e, const mm_context *ctx, const mmi_epoch_log *l,
                                int ncat) {
    (void)ctx;
    mmi_emit_csv_str(e, "epoch");
    mmi_emit_csv_str(e, "label");
    mmi_emit_csv_str(e, "peak_bytes");
    for (int c = 0; c < ncat; c++) mmi_emit_csv_str(e, mmi_cat_name(c));
    for (int i = 0; i < l->nfields; i++) {
        mmi_emit_csv_open(e, mmi_csv_needs_quotes(l->names[i]));
        mmi_emit_csv_part(e, "field:");
        mmi_emit_csv_part(e, l->names[i]);
        mmi_emit_csv_close(e);
    }
    mmi_emit_csv_row_end(e);
    *l->header_ncat = ncat;
    *l->header_nfields = l->nfields;
}

void mmi_report_epoch_log(mm_context *ctx) {
    mmi_epoch_log l = mmi_epochs_log_state(ctx);
    if (l.out == NULL) return;
    uint64_t index = mmi_epochs_count(ctx->epochs);
    size_t peak = mmi_load(&ctx->tree.peak);
    int ncap = ctx->ncap;
    mmi_emitter e;
    if (l.fmt == MM_EPOCH_LOG_JSONL) {
        mmi_emit_init(&e, l.out, MMI_EMIT_JSON);
        mmi_emit_obj_begin(&e, NULL);
        mmi_emit_u64(&e, "epoch", index);
        mmi_emit_str(&e, "label", ctx->label);
        mmi_emit_u64(&e, "peak_bytes", peak);
        mmi_emit_obj_begin(&e, "category_peaks");
        for (int c = 0; c < ncap; c++) {
            size_t p = mmi_load(&ctx->cats[c].tree.peak);
            if (p) mmi_emit_u64(&e, mmi_cat_name(c), p);
        }
        mmi_emit_obj_end(&e);
        for (int i = 0; i < l.nfields; i++)
            if (l.set & ((uint32_t)1 << i)) mmi_emit_double(&e, l.names[i], l.values[i]);
        mmi_emit_obj_end(&e);
        mmi_emit_json_line_end(&e);
        return;
    }
    mmi_emit_init(&e, l.out, MMI_EMIT_CSV);
    if (l.fmt == MM_EPOCH_LOG_CSV_WIDE) {
        int ncat = mm_category_count();
        if (ncat > *l.header_ncat || l.nfields > *l.header_nfields)
            rep_log_wide_header(&e, ctx, &l, ncat);
        mmi_emit_csv_u64(&e, index);
        mmi_emit_csv_str(&e, ctx->label);
        mmi_emit_csv_u64(&e, peak);
        for (int c = 0; c < *l.header_ncat; c++)
            mmi_emit_csv_u64(&e, c < ncap ? mmi_load(&ctx->cats[c].tree.peak) : 0);
        for (int i = 0; i < *l.header_nfields; i++) {
            if (l.set & ((uint32_t)1 << i))
                mmi_emit_csv_double(&e, l.values[i]);
            else
                mmi_emit_csv_empty(&e);
        }
        mmi_emit_csv_row_end(&e);
        return;
    }
    /* the narrow form: every category in one field, quoted as a whole if a
     * name needs quoting; written as it goes, so logging never allocates */
    mmi_emit_csv_u64(&e, index);
    mmi_emit_csv_str(&e, ctx->label);
    mmi_emit_csv_u64(&e, peak);
    bool quoted = false;
    for (int c = 0; c < ncap; c++)
        if (mmi_load(&ctx->cats[c].tree.peak) && mmi_csv_needs_quotes(mmi_cat_name(c)))
            quoted = true;
    mmi_emit_csv_open(&e, quoted);
    int first = 1;
    for (int c = 0; c < ncap; c++) {
        size_t p = mmi_load(&ctx->cats[c].tree.peak);
        if (!p) continue;
        if (!first) mmi_emit_csv_part(&e, ";");
        first = 0;
        mmi_emit_csv_part(&e, mmi_cat_name(c));
        mmi_emit_csv_part(&e, "=");
        mmi_emit_csv_part_u64(&e, p);
    }
    mmi_emit_csv_close(&e);
    mmi_emit_csv_row_end(&e);
}
