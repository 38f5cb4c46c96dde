/* Reports: usage by category (grouped, with subtotals, Total and Peak), the
 * context tree with per-context totals, and per-forest (epoch) statistics.
 * One walk gathers the figures into a report_data; two writers print it as
 * text for people or JSON for tools, so both always carry the same content. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Formatting helpers
 * ==================================================================== */

char *mm_format_bytes(size_t bytes, char *buf, size_t buflen) {
    static const char *units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    if (buf == NULL || buflen == 0) return buf;
    if (bytes < 1024) {
        snprintf(buf, buflen, "%zu B", bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (v >= 1023.95 && u < 6) { /* 1023.96 KB would print as "1024.0 KB" */
        v /= 1024.0;
        u++;
    }
    snprintf(buf, buflen, "%.1f %s", v, units[u]);
    return buf;
}

char *mmi_format_count(uint64_t n, char *buf, size_t len) {
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 2 < len) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

size_t mmi_utf8_len(const unsigned char *p) {
    if (p[0] < 0x80) return 1;
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || p[0] > 0xF4) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    /* no overlong forms, no surrogates, nothing above U+10FFFF */
    if (n == 3 && p[0] == 0xE0 && p[1] < 0xA0) return 0;
    if (n == 3 && p[0] == 0xED && p[1] >= 0xA0) return 0;
    if (n == 4 && p[0] == 0xF0 && p[1] < 0x90) return 0;
    if (n == 4 && p[0] == 0xF4 && p[1] >= 0x90) return 0;
    return n;
}

/* A JSON string literal: quotes, backslashes and control characters escaped,
 * and any byte that is not part of valid UTF-8 written as U+FFFD, so a report
 * always parses whatever names it carries. */
void mmi_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = mmi_utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
        p++;
    }
    fputc('"', f);
}

/* Text names: control characters shown as '?' so a hostile name cannot break
 * the table's lines. */
static void rep_text_name(FILE *f, const char *s, int width) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    for (; n < width; n++) fputc(' ', f);
}

/* ======================================================================
 * The gathered figures
 * ==================================================================== */

typedef struct {
    int id;     /* category id */
    int group;  /* group index */
    mm_stats s; /* figures in scope */
} rep_cat;

#define REP_TOP_SITES 10 /* sites listed in a report */

typedef struct {
    const mm_context *root; /* NULL: the process */
    int ncats;              /* rows used */
    rep_cat *cats;          /* non-empty categories, by group then id */
    mm_stats total;         /* the scope's total */
    int name_width;         /* column width for names */
    int have_comp;          /* a peak composition is recorded */
    mm_peak_info comp;      /* it */
    size_t *comp_cat;       /* [mm_category_count()] its bytes per category, or NULL */
    size_t nsites;          /* sites in sites[] (process reports only) */
    mm_site_stats sites[REP_TOP_SITES]; /* largest live bytes first */
} rep_data;

static bool rep_gather(rep_data *d, const mm_context *root) {
    int ncat = mm_category_count();
    d->root = root;
    d->ncats = 0;
    d->cats = mmi_sys_malloc((size_t)ncat * sizeof *d->cats, MM_CAT_INVALID, root);
    if (d->cats == NULL) return false;
    d->have_comp = mm_peak_composition(root, &d->comp);
    d->comp_cat = NULL;
    if (d->have_comp) {
        d->comp_cat = mmi_sys_malloc((size_t)ncat * sizeof *d->comp_cat, MM_CAT_INVALID, root);
        if (d->comp_cat == NULL) {
            mmi_sys_free(d->cats);
            return false;
        }
        for (int c = 0; c < ncat; c++) d->comp_cat[c] = mm_peak_composition_category(root, c);
    }
    d->nsites = 0;
    if (root == NULL && mm_sites(NULL, 0) > 0) {
        size_t n = mm_sites(d->sites, REP_TOP_SITES);
        d->nsites = n < REP_TOP_SITES ? n : REP_TOP_SITES;
    }
    d->total = root ? mmi_ccount_stats(&root->tree) : mmi_process_stats(-1);
    d->name_width = 16;
    int ngroups = mmi_group_count();
    for (int g = 0; g < ngroups; g++) {
        for (int c = 0; c < ncat; c++) {
            if (mmi_category_group_index(c) != g) continue;
            mm_stats s;
            if (root == NULL)
                s = mmi_process_stats(c);
            else if (c < root->ncap)
                s = mmi_ccount_stats(&root->cats[c].tree);
            else
                continue;
            if (s.bytes == 0 && s.blocks == 0 && s.peak_bytes == 0) continue;
            d->cats[d->ncats].id = c;
            d->cats[d->ncats].group = g;
            d->cats[d->ncats].s = s;
            d->ncats++;
            int w = (int)strlen(mmi_cat_name(c));
            if (w > d->name_width) d->name_width = w;
        }
    }
    return true;
}

/* ======================================================================
 * Text
 * ==================================================================== */

static void rep_text_categories(FILE *f, const rep_data *d) {
    char b1[32], b2[32], b3[32];
    int w = d->name_width;
    if (d->root) {
        fputs("=== Memory Usage by Category: context \"", f);
        rep_text_name(f, d->root->name, 0);
        fputs("\" and its children ===\n", f);
    } else
        fputs("=== Memory Usage by Category ===\n", f);
    if (d->ncats == 0) fputs("  (no memory in use)\n", f);
    for (int i = 0; i < d->ncats;) {
        int g = d->cats[i].group;
        rep_text_name(f, mmi_group_name(g), 0);
        fputs(":\n", f);
        size_t sub = 0;
        for (; i < d->ncats && d->cats[i].group == g; i++) {
            const mm_stats *s = &d->cats[i].s;
            fputs("  ", f);
            rep_text_name(f, mmi_cat_name(d->cats[i].id), w);
            fprintf(f, " %10s  (peak %s, %s %s)\n", mm_format_bytes(s->bytes, b1, sizeof b1),
                    mm_format_bytes(s->peak_bytes, b2, sizeof b2),
                    mmi_format_count(s->blocks, b3, sizeof b3),
                    s->blocks == 1 ? "block" : "blocks");
            sub += s->bytes;
        }
        fprintf(f, "  %-*s %10s\n", w, "Subtotal", mm_format_bytes(sub, b1, sizeof b1));
    }
    fprintf(f, "%-*s %10s  (%s %s live; ", w + 2, "Total",
            mm_format_bytes(d->total.bytes, b1, sizeof b1),
            mmi_format_count(d->total.blocks, b2, sizeof b2),
            d->total.blocks == 1 ? "block" : "blocks");
    fprintf(f, "%s allocations, ", mmi_format_count(d->total.allocs, b1, sizeof b1));
    fprintf(f, "%s frees)\n", mmi_format_count(d->total.frees, b1, sizeof b1));
    fprintf(f,
            "%-*s %10s  (high-water mark of the total; per-category peaks above may come "
            "from different moments)\n",
            w + 2, "Peak", mm_format_bytes(d->total.peak_bytes, b1, sizeof b1));
}

static void rep_text_tree(FILE *f, const mm_context *ctx, int depth) {
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    fprintf(f, "%*s", 2 * depth, "");
    rep_text_name(f, ctx->name, 0);
    if (ctx->label[0]) {
        fputs(" [", f);
        rep_text_name(f, ctx->label, 0);
        fputc(']', f);
    }
    mm_stats t = mmi_ccount_stats(&ctx->tree), s = mmi_context_self_stats(ctx);
    fprintf(f, ": %s in %s blocks (own %s; peak %s; chunks held %s)\n",
            mm_format_bytes(t.bytes, b1, sizeof b1), mmi_format_count(t.blocks, b2, sizeof b2),
            mm_format_bytes(s.bytes, b3, sizeof b3), mm_format_bytes(t.peak_bytes, b4, sizeof b4),
            mm_format_bytes(ctx->chunk_bytes, b5, sizeof b5));
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling)
        rep_text_tree(f, c, depth + 1);
}

static void rep_text_tree_cb(const mm_context *ctx, void *arg) {
    rep_text_tree(arg, ctx, 1);
}

static void rep_count_cb(const mm_context *ctx, void *arg) {
    (void)ctx;
    ++*(int *)arg;
}

static void rep_text_epochs(FILE *f, const mm_context *ctx, int name_width) {
    mm_epoch_summary e = mm_context_epochs(ctx);
    if (e.count == 0) return;
    char b1[32], b2[32], b3[32];
    int ncat = mm_category_count();
    fputs("=== Per-Forest Statistics: context \"", f);
    rep_text_name(f, ctx->name, 0);
    fputs("\" ===\n", f);
    fprintf(f, "Forests (epochs)      %s\n", mmi_format_count(e.count, b1, sizeof b1));
    fprintf(f, "Peak per forest       mean %s, min %s, max %s\n",
            mm_format_bytes((size_t)(e.mean_peak + 0.5), b1, sizeof b1),
            mm_format_bytes(e.min_peak, b2, sizeof b2), mm_format_bytes(e.max_peak, b3, sizeof b3));
    mm_epoch_info info;
    if (mm_context_top_epoch(ctx, 0, &info)) {
        fputs("Largest forests by peak (per-category peaks):\n", f);
        for (size_t r = 0; mm_context_top_epoch(ctx, r, &info); r++) {
            char label[MM_NAME_MAX + 32];
            if (info.label[0])
                snprintf(label, sizeof label, "%s", info.label);
            else
                snprintf(label, sizeof label, "epoch %llu", (unsigned long long)info.index);
            fprintf(f, "  %2zu. ", r + 1);
            rep_text_name(f, label, name_width > 18 ? name_width : 18);
            fprintf(f, " %10s ", mm_format_bytes(info.peak_bytes, b1, sizeof b1));
            /* the four largest categories of that epoch, largest first */
            int top[4] = {-1, -1, -1, -1};
            size_t topb[4] = {0, 0, 0, 0};
            for (int c = 0; c < ncat; c++) {
                size_t p = mm_context_top_epoch_category(ctx, r, c);
                for (int k = 0; k < 4; k++) {
                    if (p <= topb[k]) continue;
                    for (int j = 3; j > k; j--) {
                        top[j] = top[j - 1];
                        topb[j] = topb[j - 1];
                    }
                    top[k] = c;
                    topb[k] = p;
                    break;
                }
            }
            for (int k = 0; k < 4 && top[k] >= 0; k++) {
                fputs(k ? ", " : " ", f);
                rep_text_name(f, mmi_cat_name(top[k]), 0);
                fprintf(f, " %s", mm_format_bytes(topb[k], b2, sizeof b2));
            }
            fputs(r == 0 ? "   <-- largest\n" : "\n", f);
        }
    }
    int header = 0;
    for (int c = 0; c < ctx->ncap; c++) {
        const mmi_ccat *cc = &ctx->cats[c];
        if (cc->reclaimed_blocks == 0) continue;
        if (!header) {
            fputs("Reclaimed by reset (blocks never freed explicitly): all forests / last forest\n",
                  f);
            header = 1;
        }
        fputs("  ", f);
        rep_text_name(f, mmi_cat_name(c), name_width);
        fprintf(f, " %10s in %s blocks", mm_format_bytes(cc->reclaimed_bytes, b1, sizeof b1),
                mmi_format_count(cc->reclaimed_blocks, b2, sizeof b2));
        fprintf(f, " / %s in %s blocks\n", mm_format_bytes(cc->last_reclaimed_bytes, b1, sizeof b1),
                mmi_format_count(cc->last_reclaimed_blocks, b3, sizeof b3));
    }
}

static void rep_text_epochs_tree(FILE *f, const mm_context *ctx, int w) {
    rep_text_epochs(f, ctx, w);
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling)
        rep_text_epochs_tree(f, c, w);
}

typedef struct {
    FILE *f;
    int w;
} rep_cb_arg;

static void rep_text_epochs_cb(const mm_context *ctx, void *arg) {
    rep_cb_arg *a = arg;
    rep_text_epochs_tree(a->f, ctx, a->w);
}

/* "Peak 5.2 GB, reached in Forest 1,234: Cooling 2.1 GB, Halos 1.2 GB, ..." */
static void rep_text_composition(FILE *f, const rep_data *d) {
    char b1[32], b2[32];
    if (!d->have_comp) return;
    fputs("=== Peak Composition ===\n", f);
    fprintf(f, "Peak %s, reached ", mm_format_bytes(d->comp.peak_bytes, b1, sizeof b1));
    if (d->comp.label[0]) {
        fputs("in ", f);
        rep_text_name(f, d->comp.label, 0);
    } else if (d->comp.context[0]) {
        fputs("in context \"", f);
        rep_text_name(f, d->comp.context, 0);
        fputc('"', f);
    } else {
        fputs("outside any context", f);
    }
    int ncat = mm_category_count(), shown = 0;
    size_t *bytes = d->comp_cat; /* consumed: each entry shown is zeroed */
    for (;;) { /* largest first, by repeated selection: few categories are nonzero */
        int best = -1;
        for (int c = 0; c < ncat; c++)
            if (bytes[c] && (best < 0 || bytes[c] > bytes[best])) best = c;
        if (best < 0) break;
        fputs(shown++ ? ", " : ": ", f);
        rep_text_name(f, mmi_cat_name(best), 0);
        fprintf(f, " %s", mm_format_bytes(bytes[best], b1, sizeof b1));
        bytes[best] = 0;
    }
    fprintf(f, "\n  (bytes of each category at one moment, adding up to %s; recorded each time the "
               "peak grows by %s)\n",
            mm_format_bytes(d->comp.bytes, b1, sizeof b1),
            mm_format_bytes(mmi_load(&mmi_peak_step), b2, sizeof b2));
}

/* "file:line" of a site into buf. */
static const char *rep_site_name(const mm_site_stats *s, char *buf, size_t len) {
    if (s->file == NULL)
        snprintf(buf, len, "(unknown site)");
    else if (s->line == 0)
        snprintf(buf, len, "%s", s->file);
    else
        snprintf(buf, len, "%s:%d", s->file, s->line);
    return buf;
}

/* Width of the site column: the longest "file:line" shown, at most 60. */
static int rep_site_width(const mm_site_stats *sites, size_t n) {
    char where[512];
    int w = 16;
    for (size_t i = 0; i < n; i++) {
        int len = (int)strlen(rep_site_name(&sites[i], where, sizeof where));
        if (len > w) w = len;
    }
    return w < 60 ? w : 60;
}

static void rep_text_sites(FILE *f, const rep_data *d) {
    char where[512], b1[32], b2[32], b3[32], b4[32];
    if (d->nsites == 0) return;
    int w = rep_site_width(d->sites, d->nsites);
    fputs("=== Top Allocation Sites (by live bytes) ===\n", f);
    for (size_t i = 0; i < d->nsites; i++) {
        const mm_site_stats *s = &d->sites[i];
        fputs("  ", f);
        rep_text_name(f, rep_site_name(s, where, sizeof where), w);
        fputc(' ', f);
        rep_text_name(f, mmi_cat_name(s->category), d->name_width);
        fprintf(f, " %10s  (peak %s, %s %s, %s %s)\n", mm_format_bytes(s->bytes, b1, sizeof b1),
                mm_format_bytes(s->peak_bytes, b2, sizeof b2),
                mmi_format_count(s->blocks, b3, sizeof b3), s->blocks == 1 ? "block" : "blocks",
                mmi_format_count(s->allocs, b4, sizeof b4),
                s->allocs == 1 ? "allocation" : "allocations");
    }
}

static void rep_text(FILE *f, const rep_data *d) {
    rep_text_categories(f, d);
    rep_text_composition(f, d);
    rep_text_sites(f, d);
    if (d->root) {
        fputs("=== Context Tree ===\n", f);
        rep_text_tree(f, d->root, 0);
        rep_text_epochs_tree(f, d->root, d->name_width);
    } else {
        fputs("=== Live Contexts ===\n", f);
        int ncontexts = 0;
        mmi_contexts_foreach(rep_count_cb, &ncontexts);
        if (ncontexts == 0) fputs("  (none: all memory is process-wide)\n", f);
        mmi_contexts_foreach(rep_text_tree_cb, f);
        rep_cb_arg a = {f, d->name_width};
        mmi_contexts_foreach(rep_text_epochs_cb, &a);
    }
}

/* ======================================================================
 * JSON
 * ==================================================================== */

static void rep_json_stats(FILE *f, const mm_stats *s) {
    fprintf(f, "\"bytes\":%zu,\"peak_bytes\":%zu,\"blocks\":%zu,\"allocs\":%llu,\"frees\":%llu",
            s->bytes, s->peak_bytes, s->blocks, (unsigned long long)s->allocs,
            (unsigned long long)s->frees);
}

static void rep_json_epochs(FILE *f, const mm_context *ctx) {
    mm_epoch_summary e = mm_context_epochs(ctx);
    fprintf(
        f,
        "{\"count\":%llu,\"min_peak_bytes\":%zu,\"mean_peak_bytes\":%.1f,\"max_peak_bytes\":%zu,"
        "\"top\":[",
        (unsigned long long)e.count, e.min_peak, e.mean_peak, e.max_peak);
    mm_epoch_info info;
    int ncat = mm_category_count();
    for (size_t r = 0; mm_context_top_epoch(ctx, r, &info); r++) {
        fprintf(f, "%s{\"rank\":%zu,\"epoch\":%llu,\"label\":", r ? "," : "", r + 1,
                (unsigned long long)info.index);
        mmi_json_string(f, info.label);
        fprintf(f, ",\"peak_bytes\":%zu,\"category_peaks\":{", info.peak_bytes);
        int first = 1;
        for (int c = 0; c < ncat; c++) {
            size_t p = mm_context_top_epoch_category(ctx, r, c);
            if (p == 0) continue;
            if (!first) fputc(',', f);
            first = 0;
            mmi_json_string(f, mmi_cat_name(c));
            fprintf(f, ":%zu", p);
        }
        fputs("}}", f);
    }
    fputs("],\"reclaimed\":[", f);
    int first = 1;
    for (int c = 0; c < ctx->ncap; c++) {
        const mmi_ccat *cc = &ctx->cats[c];
        if (cc->reclaimed_blocks == 0) continue;
        fputs(first ? "{\"category\":" : ",{\"category\":", f);
        first = 0;
        mmi_json_string(f, mmi_cat_name(c));
        fprintf(f, ",\"bytes\":%zu,\"blocks\":%zu,\"last_bytes\":%zu,\"last_blocks\":%zu}",
                cc->reclaimed_bytes, cc->reclaimed_blocks, cc->last_reclaimed_bytes,
                cc->last_reclaimed_blocks);
    }
    fputs("]}", f);
}

static void rep_json_tree(FILE *f, const mm_context *ctx) {
    fputs("{\"name\":", f);
    mmi_json_string(f, ctx->name);
    fputs(",\"label\":", f);
    mmi_json_string(f, ctx->label);
    mm_stats t = mmi_ccount_stats(&ctx->tree), s = mmi_context_self_stats(ctx);
    fputc(',', f);
    rep_json_stats(f, &t);
    fputs(",\"self\":{", f);
    rep_json_stats(f, &s);
    fprintf(f, "},\"chunk_bytes\":%zu,\"epochs\":", ctx->chunk_bytes);
    rep_json_epochs(f, ctx);
    fputs(",\"children\":[", f);
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) {
        rep_json_tree(f, c);
        if (c->next_sibling) fputc(',', f);
    }
    fputs("]}", f);
}

typedef struct {
    FILE *f;
    int n;
} rep_json_arg;

static void rep_json_tree_cb(const mm_context *ctx, void *arg) {
    rep_json_arg *a = arg;
    if (a->n++) fputc(',', a->f);
    rep_json_tree(a->f, ctx);
}

/* One site as a JSON object; with_history adds its peak and allocations. */
static void rep_json_site(FILE *f, const mm_site_stats *s, bool with_history) {
    fputs("{\"file\":", f);
    if (s->file)
        mmi_json_string(f, s->file);
    else
        fputs("null", f);
    fprintf(f, ",\"line\":%d,\"category\":", s->line);
    mmi_json_string(f, mmi_cat_name(s->category));
    fprintf(f, ",\"bytes\":%zu,\"blocks\":%zu", s->bytes, s->blocks);
    if (with_history)
        fprintf(f, ",\"peak_bytes\":%zu,\"allocs\":%llu", s->peak_bytes,
                (unsigned long long)s->allocs);
    fputc('}', f);
}

static void rep_json(FILE *f, const rep_data *d) {
    fprintf(f,
            "{\"schema_version\":%d,\"library\":\"mimicmem\",\"version\":\"%s\",\"scope\":\"%s\",",
            MM_REPORT_SCHEMA_VERSION, MM_VERSION_STRING, d->root ? "context" : "process");
    if (d->root) {
        fputs("\"context\":", f);
        mmi_json_string(f, d->root->name);
        fputc(',', f);
    }
    fputs("\"categories\":[", f);
    for (int i = 0; i < d->ncats; i++) {
        fprintf(f, "%s{\"id\":%d,\"name\":", i ? "," : "", d->cats[i].id);
        mmi_json_string(f, mmi_cat_name(d->cats[i].id));
        fputs(",\"group\":", f);
        mmi_json_string(f, mmi_group_name(d->cats[i].group));
        fputc(',', f);
        rep_json_stats(f, &d->cats[i].s);
        fputc('}', f);
    }
    fputs("],\"groups\":[", f);
    for (int i = 0, n = 0; i < d->ncats;) {
        int g = d->cats[i].group;
        size_t sub = 0;
        for (; i < d->ncats && d->cats[i].group == g; i++) sub += d->cats[i].s.bytes;
        fprintf(f, "%s{\"name\":", n++ ? "," : "");
        mmi_json_string(f, mmi_group_name(g));
        fprintf(f, ",\"bytes\":%zu}", sub);
    }
    fputs("],\"total\":{", f);
    rep_json_stats(f, &d->total);
    fputc('}', f);
    if (d->have_comp) {
        fprintf(f, ",\"peak_composition\":{\"bytes\":%zu,\"peak_bytes\":%zu,\"epoch\":%llu,",
                d->comp.bytes, d->comp.peak_bytes, (unsigned long long)d->comp.epoch);
        fputs("\"context\":", f);
        mmi_json_string(f, d->comp.context);
        fputs(",\"label\":", f);
        mmi_json_string(f, d->comp.label);
        fputs(",\"categories\":{", f);
        int ncat = mm_category_count(), n = 0;
        for (int c = 0; c < ncat; c++) {
            size_t b = d->comp_cat[c];
            if (b == 0) continue;
            if (n++) fputc(',', f);
            mmi_json_string(f, mmi_cat_name(c));
            fprintf(f, ":%zu", b);
        }
        fputs("}}", f);
    }
    if (d->nsites) {
        fputs(",\"top_sites\":[", f);
        for (size_t i = 0; i < d->nsites; i++) {
            if (i) fputc(',', f);
            rep_json_site(f, &d->sites[i], true);
        }
        fputc(']', f);
    }
    fputs(",\"contexts\":[", f);
    if (d->root) {
        rep_json_tree(f, d->root);
    } else {
        rep_json_arg a = {f, 0};
        mmi_contexts_foreach(rep_json_tree_cb, &a);
    }
    fputs("]}\n", f);
}

void mm_report(FILE *out, const mm_context *ctx, mm_report_format fmt) {
    if (out == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx, "mm_report: out is NULL");
        return;
    }
    if (ctx != NULL && !mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "mm_report: %p is not a live context", (const void *)ctx);
        return;
    }
    if (fmt != MM_REPORT_TEXT && fmt != MM_REPORT_JSON) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, ctx, "mm_report: unknown format %d",
                  (int)fmt);
        return;
    }
    rep_data d;
    if (!rep_gather(&d, ctx)) {
        mmi_error_oom((size_t)mm_category_count() * sizeof(rep_cat), MM_CAT_UTILITY, ctx,
                      "mm_report");
        return;
    }
    if (fmt == MM_REPORT_JSON)
        rep_json(out, &d);
    else
        rep_text(out, &d);
    fflush(out);
    mmi_sys_free(d.cats);
    mmi_sys_free(d.comp_cat);
}

char *mmi_report_text(const mm_context *ctx) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = mmi_memstream(&buf, &len);
    if (f == NULL) return NULL;
    mm_report(f, ctx, MM_REPORT_TEXT);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ======================================================================
 * Leaks: what is still live, by site and category
 * ==================================================================== */

size_t mm_report_leaks(FILE *out, mm_report_format fmt) {
    if (out == NULL || (fmt != MM_REPORT_TEXT && fmt != MM_REPORT_JSON)) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_report_leaks: %s", out == NULL ? "out is NULL" : "unknown format");
        return 0;
    }
    mm_stats total = mmi_process_stats(-1);
    size_t nsites = mm_sites(NULL, 0);
    mm_site_stats *sites = NULL;
    if (nsites > 0) {
        sites = mmi_sys_malloc(nsites * sizeof *sites, MM_CAT_INVALID, NULL);
        if (sites == NULL) {
            mmi_error_oom(nsites * sizeof *sites, MM_CAT_UTILITY, NULL, "mm_report_leaks");
            return total.blocks;
        }
        nsites = mm_sites(sites, nsites);
    }
    size_t nleak_sites = 0; /* sites are sorted by live bytes: blocks > 0 come first mostly */
    for (size_t i = 0; i < nsites; i++)
        if (sites[i].blocks > 0) sites[nleak_sites++] = sites[i];
    int ncat = mm_category_count();
    char b1[32], b2[32], where[512];
    if (fmt == MM_REPORT_JSON) {
        fprintf(out, "{\"schema_version\":%d,\"leaked_blocks\":%zu,\"leaked_bytes\":%zu,"
                     "\"by_category\":[",
                MM_REPORT_SCHEMA_VERSION, total.blocks, total.bytes);
        for (int c = 0, n = 0; c < ncat; c++) {
            mm_stats s = mmi_process_stats(c);
            if (s.blocks == 0) continue;
            fputs(n++ ? ",{\"category\":" : "{\"category\":", out);
            mmi_json_string(out, mmi_cat_name(c));
            fprintf(out, ",\"blocks\":%zu,\"bytes\":%zu}", s.blocks, s.bytes);
        }
        fputs("],\"by_site\":[", out);
        for (size_t i = 0; i < nleak_sites; i++) {
            if (i) fputc(',', out);
            rep_json_site(out, &sites[i], false);
        }
        fputs("]}\n", out);
    } else if (total.blocks == 0) {
        fputs("=== Leaks ===\nNo blocks are still allocated.\n", out);
    } else {
        fprintf(out, "=== Leaks: %s %s (%s) still allocated ===\n",
                mmi_format_count(total.blocks, b1, sizeof b1),
                total.blocks == 1 ? "block" : "blocks", mm_format_bytes(total.bytes, b2, sizeof b2));
        fputs("By category:\n", out);
        for (int c = 0; c < ncat; c++) {
            mm_stats s = mmi_process_stats(c);
            if (s.blocks == 0) continue;
            fputs("  ", out);
            rep_text_name(out, mmi_cat_name(c), 16);
            fprintf(out, " %10s  %s %s\n", mm_format_bytes(s.bytes, b2, sizeof b2),
                    mmi_format_count(s.blocks, b1, sizeof b1), s.blocks == 1 ? "block" : "blocks");
        }
        if (nleak_sites > 0) {
            fputs("By allocation site:\n", out);
            int w = rep_site_width(sites, nleak_sites);
            for (size_t i = 0; i < nleak_sites; i++) {
                const mm_site_stats *s = &sites[i];
                fputs("  ", out);
                rep_text_name(out, rep_site_name(s, where, sizeof where), w);
                fputc(' ', out);
                rep_text_name(out, mmi_cat_name(s->category), 16);
                fprintf(out, " %10s  %s %s\n", mm_format_bytes(s->bytes, b2, sizeof b2),
                        mmi_format_count(s->blocks, b1, sizeof b1),
                        s->blocks == 1 ? "block" : "blocks");
            }
        } else {
            fputs("(set MIMICMEM_SITES=on and build with -DMM_WITH_SITES to list leaks by file "
                  "and line)\n",
                  out);
        }
    }
    fflush(out);
    mmi_sys_free(sites);
    return total.blocks;
}
