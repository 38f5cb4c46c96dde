/* The MPI reduction of the report (include/mimicmem_mpi.h), the library
 * mimicmem_mpi: each rank packs its figures from the report snapshot
 * (report/snapshot.c) into a compact record, rank root gathers the records,
 * merges them by category name and writes one report through the emitter.
 * It sits above every layer of src/LAYERS and nothing in the library calls
 * it. The merge rules are those of tools/report's merge (docs/mpi.md). */
#include "../report/snapshot.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem_mpi.h"

/* ======================================================================
 * The record of one rank: native-endian integers (every rank of a job runs
 * on one architecture), strings as a 32-bit length, the bytes and a NUL so
 * the receiver can point into the buffer.
 *
 *   u64 bytes, peak_bytes                       the process total
 *   u32 ncat, then ncat x {str name, str group, u64 bytes, u64 peak_bytes}
 *   u32 have_comp, str context, str label,      the peak composition
 *   u32 ncomp, then ncomp x {str name, u64 bytes}
 *   u64 epochs, min_peak, max_peak, f64 sum_peak  the ledger of forests
 *   u32 ntop, then ntop x {str context, str label, u64 epoch, u64 peak_bytes}
 * ==================================================================== */

typedef struct {
    unsigned char *p; /* the record (system memory) */
    size_t len, cap;  /* bytes written; allocated */
    bool failed;      /* memory ran out: the record is unusable */
} mpi_buf;

static void mpi_put(mpi_buf *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 1024;
        while (ncap < b->len + n) ncap *= 2;
        unsigned char *q = mmi_sys_realloc(b->p, ncap, MM_CAT_INVALID, NULL);
        if (q == NULL) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void mpi_put_u64(mpi_buf *b, uint64_t v) {
    mpi_put(b, &v, sizeof v);
}

static void mpi_put_u32(mpi_buf *b, uint32_t v) {
    mpi_put(b, &v, sizeof v);
}

static void mpi_put_str(mpi_buf *b, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    mpi_put_u32(b, n);
    mpi_put(b, s, (size_t)n + 1);
}

/* This rank's record, from the process snapshot. false: out of memory. */
static bool mpi_pack(mpi_buf *b) {
    mmi_snapshot s;
    if (!mmi_snap_gather(&s, NULL)) return false;
    mpi_put_u64(b, s.total.bytes);
    mpi_put_u64(b, s.total.peak_bytes);
    mpi_put_u32(b, (uint32_t)s.nrows);
    for (int i = 0; i < s.nrows; i++) {
        mpi_put_str(b, mmi_cat_name(s.rows[i].id));
        mpi_put_str(b, mmi_group_name(s.rows[i].group));
        mpi_put_u64(b, s.rows[i].s.bytes);
        mpi_put_u64(b, s.rows[i].s.peak_bytes);
    }
    mpi_put_u32(b, s.have_comp ? 1 : 0);
    mpi_put_str(b, s.have_comp ? s.comp.context : "");
    mpi_put_str(b, s.have_comp ? s.comp.label : "");
    uint32_t ncomp = 0;
    for (int k = 0; s.have_comp && k < s.ncat; k++) ncomp += s.comp_cat[k] != 0;
    mpi_put_u32(b, ncomp);
    for (int k = 0; s.have_comp && k < s.ncat; k++) {
        if (s.comp_cat[k] == 0) continue;
        mpi_put_str(b, mmi_cat_name(k));
        mpi_put_u64(b, s.comp_cat[k]);
    }
    const mmi_ledger *l = &s.ledger;
    mpi_put_u64(b, l->count);
    mpi_put_u64(b, l->min_peak);
    mpi_put_u64(b, l->max_peak);
    mpi_put(b, &l->sum_peak, sizeof l->sum_peak);
    mpi_put_u32(b, (uint32_t)l->ntop);
    for (size_t i = 0; i < l->ntop; i++) {
        mpi_put_str(b, l->top[i].context);
        mpi_put_str(b, l->top[i].label);
        mpi_put_u64(b, l->top[i].epoch);
        mpi_put_u64(b, l->top[i].peak_bytes);
    }
    bool incomplete = s.incomplete;
    mmi_snap_free(&s);
    return !b->failed && !incomplete;
}

/* ======================================================================
 * Reading the records back (root)
 * ==================================================================== */

typedef struct {
    const unsigned char *p; /* the record */
    size_t len, pos;        /* its bytes; read so far */
    bool bad;               /* read past its end or a string without its NUL */
} mpi_reader;

static void mpi_get(mpi_reader *r, void *dst, size_t n) {
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
}

static uint64_t mpi_get_u64(mpi_reader *r) {
    uint64_t v;
    mpi_get(r, &v, sizeof v);
    return v;
}

static uint32_t mpi_get_u32(mpi_reader *r) {
    uint32_t v;
    mpi_get(r, &v, sizeof v);
    return v;
}

static const char *mpi_get_str(mpi_reader *r) {
    uint32_t n = mpi_get_u32(r);
    if (r->bad || n >= r->len - r->pos || r->p[r->pos + n] != '\0') {
        r->bad = true;
        return "";
    }
    const char *s = (const char *)r->p + r->pos;
    r->pos += (size_t)n + 1;
    return s;
}

typedef struct {
    const char *name, *group; /* in the receive buffer */
    uint64_t bytes, peak_bytes;
} mpi_cat;

typedef struct {
    const char *name; /* category */
    uint64_t bytes;   /* its bytes at the peak */
} mpi_comp;

typedef struct {
    int rank;                /* the rank whose ledger lists it */
    uint32_t pos;            /* its place in that list (stable order on full ties) */
    const char *context, *label;
    uint64_t epoch, peak_bytes;
} mpi_top;

typedef struct {
    uint64_t bytes, peak_bytes;   /* the process total */
    uint32_t ncat;                /* its non-empty categories, in its report's order */
    mpi_cat *cats;
    bool have_comp;               /* a peak composition is recorded */
    const char *comp_context, *comp_label;
    uint32_t ncomp;               /* its non-zero categories, by id */
    mpi_comp *comp;
    uint64_t epochs;              /* forests closed on the rank */
    uint64_t min_peak, max_peak;  /* their peaks */
    double sum_peak;              /* sum of the peaks, for the mean */
    uint32_t ntop;                /* its largest forests, largest first */
    mpi_top *tops;
} mpi_rank;

/* An array of n elements of size elem; NULL when n is 0 or memory is short
 * (*failed set then). */
static void *mpi_array(uint32_t n, size_t elem, bool *failed) {
    if (n == 0) return NULL;
    void *p = mmi_sys_calloc((size_t)n * elem, MM_CAT_INVALID, NULL);
    if (p == NULL) *failed = true;
    return p;
}

/* Parses the record of rank; false when it is malformed or memory is short. */
static bool mpi_unpack(mpi_rank *k, int rank, const unsigned char *p, size_t len, bool *oom) {
    mpi_reader r = {p, len, 0, false};
    memset(k, 0, sizeof *k);
    k->bytes = mpi_get_u64(&r);
    k->peak_bytes = mpi_get_u64(&r);
    k->ncat = mpi_get_u32(&r);
    if (r.bad || k->ncat > len) return false;
    k->cats = mpi_array(k->ncat, sizeof *k->cats, oom);
    if (*oom) return false;
    for (uint32_t i = 0; i < k->ncat; i++) {
        k->cats[i].name = mpi_get_str(&r);
        k->cats[i].group = mpi_get_str(&r);
        k->cats[i].bytes = mpi_get_u64(&r);
        k->cats[i].peak_bytes = mpi_get_u64(&r);
    }
    k->have_comp = mpi_get_u32(&r) != 0;
    k->comp_context = mpi_get_str(&r);
    k->comp_label = mpi_get_str(&r);
    k->ncomp = mpi_get_u32(&r);
    if (r.bad || k->ncomp > len) return false;
    k->comp = mpi_array(k->ncomp, sizeof *k->comp, oom);
    if (*oom) return false;
    for (uint32_t i = 0; i < k->ncomp; i++) {
        k->comp[i].name = mpi_get_str(&r);
        k->comp[i].bytes = mpi_get_u64(&r);
    }
    k->epochs = mpi_get_u64(&r);
    k->min_peak = mpi_get_u64(&r);
    k->max_peak = mpi_get_u64(&r);
    mpi_get(&r, &k->sum_peak, sizeof k->sum_peak);
    k->ntop = mpi_get_u32(&r);
    if (r.bad || k->ntop > len) return false;
    k->tops = mpi_array(k->ntop, sizeof *k->tops, oom);
    if (*oom) return false;
    for (uint32_t i = 0; i < k->ntop; i++) {
        mpi_top *t = &k->tops[i];
        t->rank = rank;
        t->pos = i;
        t->context = mpi_get_str(&r);
        t->label = mpi_get_str(&r);
        t->epoch = mpi_get_u64(&r);
        t->peak_bytes = mpi_get_u64(&r);
    }
    return !r.bad && r.pos == len;
}

static void mpi_rank_free(mpi_rank *k) {
    mmi_sys_free(k->cats);
    mmi_sys_free(k->comp);
    mmi_sys_free(k->tops);
}

/* ======================================================================
 * The merge (root): the rules of tools/report/mimicmem_report/merge.py
 * ==================================================================== */

/* A figure over the ranks: S = {min, mean, max, max_rank}. */
typedef struct {
    uint64_t min, max; /* bytes */
    double mean;       /* sum / ranks */
    int max_rank;      /* the lowest rank holding max; -1: no rank has the figure */
} mpi_stat;

/* Folds the value v of rank (ranks in ascending order) into st. */
static void mpi_stat_add(mpi_stat *st, uint64_t *sum, int rank, uint64_t v) {
    if (st->max_rank < 0 || v < st->min) st->min = v;
    if (st->max_rank < 0 || v > st->max) {
        st->max = v;
        st->max_rank = rank;
    }
    *sum += v;
}

typedef struct {
    const char *name, *group; /* group: the first rank's that has it */
    mpi_stat bytes, peak_bytes;
} mpi_mcat;

typedef struct {
    int nranks;
    mpi_rank *ranks;          /* [nranks] */
    mpi_stat bytes, peak_bytes; /* the process total */
    int ncat;                 /* categories over all ranks, first seen first */
    mpi_mcat *cats;
    uint64_t epochs;          /* forests of every rank */
    mpi_stat epoch_peak;      /* min / mean / max of their peaks */
    size_t ntop;              /* the largest, at most MM_MPI_TOP_EPOCHS */
    mpi_top *tops;            /* every rank's list, sorted */
} mpi_merged;

static const mpi_cat *mpi_find(const mpi_rank *k, const char *name) {
    for (uint32_t i = 0; i < k->ncat; i++)
        if (strcmp(k->cats[i].name, name) == 0) return &k->cats[i];
    return NULL;
}

/* Largest peak first; ties by rank, then epoch, then place in its list. */
static int mpi_top_cmp(const void *a, const void *b) {
    const mpi_top *x = a, *y = b;
    if (x->peak_bytes != y->peak_bytes) return x->peak_bytes > y->peak_bytes ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    if (x->epoch != y->epoch) return x->epoch < y->epoch ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static bool mpi_merge(mpi_merged *m) {
    int n = m->nranks;
    bool oom = false;
    uint64_t sum = 0, psum = 0;
    m->bytes.max_rank = m->peak_bytes.max_rank = -1;
    for (int r = 0; r < n; r++) {
        mpi_stat_add(&m->bytes, &sum, r, m->ranks[r].bytes);
        mpi_stat_add(&m->peak_bytes, &psum, r, m->ranks[r].peak_bytes);
    }
    m->bytes.mean = (double)sum / n;
    m->peak_bytes.mean = (double)psum / n;
    /* categories by name, in order of first appearance */
    size_t cap = 0;
    for (int r = 0; r < n; r++) cap += m->ranks[r].ncat;
    m->cats = mpi_array((uint32_t)cap, sizeof *m->cats, &oom);
    if (oom) return false;
    for (int r = 0; r < n; r++)
        for (uint32_t i = 0; i < m->ranks[r].ncat; i++) {
            const mpi_cat *c = &m->ranks[r].cats[i];
            bool seen = false;
            for (int j = 0; j < m->ncat && !seen; j++) seen = strcmp(m->cats[j].name, c->name) == 0;
            if (seen) continue;
            mpi_mcat *mc = &m->cats[m->ncat++];
            mc->name = c->name;
            mc->group = c->group;
        }
    for (int j = 0; j < m->ncat; j++) {
        mpi_mcat *mc = &m->cats[j];
        mc->bytes.max_rank = mc->peak_bytes.max_rank = -1;
        sum = psum = 0;
        for (int r = 0; r < n; r++) {
            const mpi_cat *c = mpi_find(&m->ranks[r], mc->name); /* missing: 0 */
            mpi_stat_add(&mc->bytes, &sum, r, c ? c->bytes : 0);
            mpi_stat_add(&mc->peak_bytes, &psum, r, c ? c->peak_bytes : 0);
        }
        mc->bytes.mean = (double)sum / n;
        mc->peak_bytes.mean = (double)psum / n;
    }
    /* forests: ranks without any take no part in min, mean or max */
    double peak_sum = 0;
    size_t ntops = 0;
    m->epoch_peak.max_rank = -1;
    for (int r = 0; r < n; r++) {
        const mpi_rank *k = &m->ranks[r];
        ntops += k->ntop;
        if (k->epochs == 0) continue;
        m->epochs += k->epochs;
        peak_sum += k->sum_peak;
        if (m->epoch_peak.max_rank < 0 || k->min_peak < m->epoch_peak.min)
            m->epoch_peak.min = k->min_peak;
        if (m->epoch_peak.max_rank < 0 || k->max_peak > m->epoch_peak.max) {
            m->epoch_peak.max = k->max_peak;
            m->epoch_peak.max_rank = r;
        }
    }
    m->epoch_peak.mean = m->epochs ? peak_sum / (double)m->epochs : 0.0;
    m->tops = mpi_array((uint32_t)ntops, sizeof *m->tops, &oom);
    if (oom) return false;
    for (int r = 0; r < n; r++)
        for (uint32_t i = 0; i < m->ranks[r].ntop; i++) m->tops[m->ntop++] = m->ranks[r].tops[i];
    if (m->ntop > 1) qsort(m->tops, m->ntop, sizeof *m->tops, mpi_top_cmp);
    if (m->ntop > MM_MPI_TOP_EPOCHS) m->ntop = MM_MPI_TOP_EPOCHS;
    return true;
}

/* ======================================================================
 * Writing the merged report (root), JSON and text, through the emitter
 * ==================================================================== */

static void mpi_json_stat(mmi_emitter *e, const char *key, const mpi_stat *st) {
    mmi_emit_obj_begin(e, key);
    mmi_emit_u64(e, "min", st->min);
    mmi_emit_tenths(e, "mean", st->mean);
    mmi_emit_u64(e, "max", st->max);
    mmi_emit_i64(e, "max_rank", st->max_rank);
    mmi_emit_obj_end(e);
}

static void mpi_write_json(mmi_emitter *e, const mpi_merged *m) {
    const mpi_rank *pr = &m->ranks[m->peak_bytes.max_rank];
    mmi_emit_obj_begin(e, NULL);
    mmi_emit_i64(e, "schema_version", MM_REPORT_SCHEMA_VERSION);
    mmi_emit_i64(e, "ranks", m->nranks);
    mmi_emit_obj_begin(e, "process");
    mpi_json_stat(e, "bytes", &m->bytes);
    mpi_json_stat(e, "peak_bytes", &m->peak_bytes);
    mmi_emit_obj_end(e);
    mmi_emit_arr_begin(e, "categories");
    for (int j = 0; j < m->ncat; j++) {
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_str(e, "name", m->cats[j].name);
        mmi_emit_str(e, "group", m->cats[j].group);
        mpi_json_stat(e, "bytes", &m->cats[j].bytes);
        mpi_json_stat(e, "peak_bytes", &m->cats[j].peak_bytes);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    mmi_emit_obj_begin(e, "peak");
    mmi_emit_i64(e, "rank", m->peak_bytes.max_rank);
    mmi_emit_u64(e, "peak_bytes", pr->peak_bytes);
    mmi_emit_str(e, "context", pr->have_comp ? pr->comp_context : "");
    mmi_emit_str(e, "label", pr->have_comp ? pr->comp_label : "");
    mmi_emit_obj_begin(e, "composition");
    for (uint32_t i = 0; pr->have_comp && i < pr->ncomp; i++)
        mmi_emit_u64(e, pr->comp[i].name, pr->comp[i].bytes);
    mmi_emit_obj_end(e);
    mmi_emit_obj_end(e);
    mmi_emit_obj_begin(e, "epochs");
    mmi_emit_u64(e, "count", m->epochs);
    mpi_json_stat(e, "peak_bytes", &m->epoch_peak);
    mmi_emit_arr_begin(e, "top");
    for (size_t i = 0; i < m->ntop; i++) {
        const mpi_top *t = &m->tops[i];
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_i64(e, "rank", t->rank);
        mmi_emit_str(e, "context", t->context);
        mmi_emit_str(e, "label", t->label);
        mmi_emit_u64(e, "epoch", t->epoch);
        mmi_emit_u64(e, "peak_bytes", t->peak_bytes);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
    mmi_emit_arr_begin(e, "per_rank");
    for (int r = 0; r < m->nranks; r++) {
        mmi_emit_obj_begin(e, NULL);
        mmi_emit_i64(e, "rank", r);
        mmi_emit_u64(e, "bytes", m->ranks[r].bytes);
        mmi_emit_u64(e, "peak_bytes", m->ranks[r].peak_bytes);
        mmi_emit_u64(e, "epochs", m->ranks[r].epochs);
        mmi_emit_obj_end(e);
    }
    mmi_emit_arr_end(e);
    mmi_emit_obj_end(e);
    mmi_emit_json_line_end(e);
}

/* "min / mean / max (rank)", bytes for people, the mean rounded to a byte. */
static const char *mpi_stat_text(const mpi_stat *st, char *buf, size_t len) {
    char b1[32], b2[32], b3[32];
    snprintf(buf, len, "%s / %s / %s (%d)", mm_format_bytes((size_t)st->min, b1, sizeof b1),
             mm_format_bytes((size_t)(st->mean + 0.5), b2, sizeof b2),
             mm_format_bytes((size_t)st->max, b3, sizeof b3), st->max_rank);
    return buf;
}

/* ", reached in Forest 17" (where the peak composition was recorded). */
static void mpi_where_text(mmi_emitter *e, const char *context, const char *label) {
    if (label[0]) {
        mmi_emit_text(e, "in ");
        mmi_emit_name(e, label, 0);
    } else if (context[0]) {
        mmi_emit_text(e, "in context \"");
        mmi_emit_name(e, context, 0);
        mmi_emit_text(e, "\"");
    } else {
        mmi_emit_text(e, "outside any context");
    }
}

static void mpi_write_text(mmi_emitter *e, const mpi_merged *m) {
    char cur[128], peak[128], b1[32];
    int w = 16, cw = (int)strlen(mpi_stat_text(&m->bytes, cur, sizeof cur));
    for (int j = 0; j < m->ncat; j++) {
        int nl = (int)strlen(m->cats[j].name);
        int sl = (int)strlen(mpi_stat_text(&m->cats[j].bytes, cur, sizeof cur));
        if (nl > w) w = nl;
        if (sl > cw) cw = sl;
    }
    mmi_emit_text(e, "=== Memory Usage by Category: %d ranks (min / mean / max (rank)) ===\n",
                  m->nranks);
    if (m->ncat == 0) mmi_emit_text(e, "  (no memory in use)\n");
    /* groups in order of first appearance, each with its categories */
    for (int j = 0; j < m->ncat; j++) {
        bool seen = false;
        for (int i = 0; i < j && !seen; i++) seen = strcmp(m->cats[i].group, m->cats[j].group) == 0;
        if (seen) continue;
        mmi_emit_name(e, m->cats[j].group, 0);
        mmi_emit_text(e, ":\n");
        for (int i = j; i < m->ncat; i++) {
            const mpi_mcat *c = &m->cats[i];
            if (strcmp(c->group, m->cats[j].group) != 0) continue;
            mmi_emit_text(e, "  ");
            mmi_emit_name(e, c->name, w);
            mmi_emit_text(e, " %-*s  peak %s\n", cw, mpi_stat_text(&c->bytes, cur, sizeof cur),
                          mpi_stat_text(&c->peak_bytes, peak, sizeof peak));
        }
    }
    mmi_emit_text(e, "%-*s %-*s  peak %s\n", w + 2, "Total", cw,
                  mpi_stat_text(&m->bytes, cur, sizeof cur),
                  mpi_stat_text(&m->peak_bytes, peak, sizeof peak));
    const mpi_rank *pr = &m->ranks[m->peak_bytes.max_rank];
    mmi_emit_text(e, "%-*s %s on rank %d", w + 2, "Peak",
                  mm_format_bytes((size_t)pr->peak_bytes, b1, sizeof b1), m->peak_bytes.max_rank);
    bool any = false;
    for (uint32_t i = 0; pr->have_comp && i < pr->ncomp; i++) any = any || pr->comp[i].bytes != 0;
    if (any || (pr->have_comp && (pr->comp_context[0] || pr->comp_label[0]))) {
        mmi_emit_text(e, ", reached ");
        mpi_where_text(e, pr->comp_context, pr->comp_label);
    }
    /* the composition, largest first (ties in the rank's order) */
    uint64_t last = UINT64_MAX;
    uint32_t last_i = 0;
    for (int shown = 0; any; shown++) {
        int best = -1;
        for (uint32_t i = 0; i < pr->ncomp; i++) {
            uint64_t v = pr->comp[i].bytes;
            if (v == 0 || v > last || (v == last && i <= last_i)) continue;
            if (best < 0 || v > pr->comp[best].bytes) best = (int)i;
        }
        if (best < 0) break;
        mmi_emit_text(e, "%s", shown ? ", " : ": ");
        mmi_emit_name(e, pr->comp[best].name, 0);
        mmi_emit_text(e, " %s", mm_format_bytes((size_t)pr->comp[best].bytes, b1, sizeof b1));
        last = pr->comp[best].bytes;
        last_i = (uint32_t)best;
    }
    mmi_emit_text(e, "\n=== Per-Forest Statistics: %d ranks ===\n", m->nranks);
    mmi_emit_text(e, "Forests (epochs)      %s\n", mmi_format_count(m->epochs, b1, sizeof b1));
    if (m->epochs) {
        char b2[32], b3[32];
        mmi_emit_text(e, "Peak per forest       mean %s, min %s, max %s (rank %d)\n",
                      mm_format_bytes((size_t)(m->epoch_peak.mean + 0.5), b1, sizeof b1),
                      mm_format_bytes((size_t)m->epoch_peak.min, b2, sizeof b2),
                      mm_format_bytes((size_t)m->epoch_peak.max, b3, sizeof b3),
                      m->epoch_peak.max_rank);
    }
    if (m->ntop) mmi_emit_text(e, "Largest forests by peak:\n");
    int lw = 18;
    for (size_t i = 0; i < m->ntop; i++)
        if ((int)strlen(m->tops[i].label) > lw) lw = (int)strlen(m->tops[i].label);
    for (size_t i = 0; i < m->ntop; i++) {
        const mpi_top *t = &m->tops[i];
        char label[MM_NAME_MAX + 32];
        if (t->label[0])
            snprintf(label, sizeof label, "%s", t->label);
        else
            snprintf(label, sizeof label, "epoch %llu", (unsigned long long)t->epoch);
        mmi_emit_text(e, "  %2zu. rank %-5d ", i + 1, t->rank);
        mmi_emit_name(e, label, lw);
        mmi_emit_text(e, " %10s%s\n", mm_format_bytes((size_t)t->peak_bytes, b1, sizeof b1),
                      i == 0 ? "   <-- largest" : "");
    }
}

/* ======================================================================
 * The collective call
 * ==================================================================== */

/* Root: unpacks, merges and writes the n records in buf; an MPI code. */
static int mpi_root_write(const unsigned char *buf, const int *lens, const int *displs, int n,
                          FILE *out, int format) {
    mpi_merged m;
    memset(&m, 0, sizeof m);
    m.nranks = n;
    bool oom = false;
    int rc = MPI_SUCCESS;
    m.ranks = mpi_array((uint32_t)n, sizeof *m.ranks, &oom);
    for (int r = 0; !oom && r < n && rc == MPI_SUCCESS; r++) {
        if (lens[r] == 0) { /* that rank ran out of memory and reported it */
            mmi_log(MM_LOG_WARNING, "mm_mpi_report: rank %d sent no figures; no report", r);
            rc = MPI_ERR_OTHER;
        } else if (!mpi_unpack(&m.ranks[r], r, buf + displs[r], (size_t)lens[r], &oom) && !oom) {
            mmi_log(MM_LOG_WARNING, "mm_mpi_report: the record of rank %d is malformed", r);
            rc = MPI_ERR_OTHER;
        }
    }
    if (!oom && rc == MPI_SUCCESS && !mpi_merge(&m)) oom = true;
    if (oom) {
        mmi_error_oom((size_t)n * sizeof *m.ranks, MM_CAT_UTILITY, NULL, "mm_mpi_report");
        rc = MPI_ERR_NO_MEM;
    }
    if (rc == MPI_SUCCESS) {
        mmi_emitter e;
        mmi_emit_init(&e, out, format == MM_REPORT_JSON ? MMI_EMIT_JSON : MMI_EMIT_TEXT);
        if (format == MM_REPORT_JSON)
            mpi_write_json(&e, &m);
        else
            mpi_write_text(&e, &m);
        fflush(out);
    }
    for (int r = 0; m.ranks && r < n; r++) mpi_rank_free(&m.ranks[r]);
    mmi_sys_free(m.ranks);
    mmi_sys_free(m.cats);
    mmi_sys_free(m.tops);
    return rc;
}

int mm_mpi_report(MPI_Comm comm, int root, FILE *out, int format) {
    mmi_first_use();
    int rank, size, rc;
    if ((rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS) return rc;
    if ((rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS) return rc;
    if (root < 0 || root >= size) return MPI_ERR_ROOT;
    mm_set_rank(rank);
    bool bad_args = false;
    if (rank == root && (out == NULL || (format != MM_REPORT_TEXT && format != MM_REPORT_JSON))) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL, "mm_mpi_report: %s",
                  out == NULL ? "out is NULL" : "unknown format");
        bad_args = true; /* still takes part: the other ranks are already in the gather */
    }
    mpi_buf b = {NULL, 0, 0, false};
    if (!mpi_pack(&b) || b.len > (size_t)INT_MAX) {
        mmi_error_oom(b.len, MM_CAT_UTILITY, NULL, "mm_mpi_report");
        b.len = 0; /* root sees an empty record and writes nothing */
    }
    int len = (int)b.len;
    int *lens = NULL, *displs = NULL;
    unsigned char *all = NULL;
    if (rank == root) {
        lens = mmi_sys_calloc((size_t)size * sizeof *lens, MM_CAT_INVALID, NULL);
        displs = mmi_sys_calloc((size_t)size * sizeof *displs, MM_CAT_INVALID, NULL);
        if (lens == NULL || displs == NULL) { /* the default handler stops the job here */
            mmi_error_oom((size_t)size * sizeof *lens, MM_CAT_UTILITY, NULL, "mm_mpi_report");
            mmi_sys_free(b.p);
            mmi_sys_free(lens);
            mmi_sys_free(displs);
            return MPI_ERR_NO_MEM;
        }
    }
    rc = MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, root, comm);
    if (rc == MPI_SUCCESS && rank == root) {
        size_t total = 0;
        for (int r = 0; r < size; r++) {
            displs[r] = (int)total;
            total += (size_t)lens[r];
        }
        all = mmi_sys_malloc(total ? total : 1, MM_CAT_INVALID, NULL);
        if (all == NULL) { /* as above */
            mmi_error_oom(total, MM_CAT_UTILITY, NULL, "mm_mpi_report");
            rc = MPI_ERR_NO_MEM;
        }
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Gatherv(b.p, len, MPI_BYTE, all, lens, displs, MPI_BYTE, root, comm);
    mmi_sys_free(b.p);
    if (rc == MPI_SUCCESS && rank == root)
        rc = bad_args ? MPI_ERR_ARG : mpi_root_write(all, lens, displs, size, out, format);
    else if (rc == MPI_SUCCESS && len == 0)
        rc = MPI_ERR_NO_MEM;
    mmi_sys_free(all);
    mmi_sys_free(lens);
    mmi_sys_free(displs);
    return rc;
}
