/* mm_mpi_report under mpiexec (2 and 4 ranks): every rank follows a known
 * plan of allocations (mpi_plan below), root computes what the merged report
 * must say from the plans of all ranks and checks the JSON field by field,
 * then the text. A plain C program, not Criterion: Criterion forks a worker
 * per test, which MPI does not survive; each failed check prints its
 * expectation and the program exits with status 1.
 *
 * The plan of rank r of N (bytes as requested):
 *   categories registered in an order rotated by r; "Gamma" only on even
 *   ranks; "Mergers" only on ranks with forests; the last rank has no context
 *   Alpha (Physics)  1000(r+1) live, and 700 more freed at once: peak +700
 *   Beta  (Physics)  2000 on odd ranks, 1000 on even ones (a tie between
 *                    ranks 1 and 3: the lowest rank wins)
 *   Gamma (IO)       300(r+1) on even ranks
 *   Mergers (Forests) context "Forest", 2r+3 forests, forest f holds
 *                    1000(f+1) bytes, label "Forest r.f", reset after each
 * Usage: test_mpi_report [DIR]  (DIR: also write merged.json and merged.txt
 * there and each rank's own JSON report as rank-<r>.json, for the agreement
 * test) */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mimicmem_mpi.h"
#include "mm_json.h"

static int mpi_failures;

static void mpi_check(int ok, const char *fmt, ...) {
    if (ok) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test_mpi_report: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    mpi_failures++;
}

/* ======================================================================
 * The plan, as arithmetic: what rank r of n holds
 * ==================================================================== */

enum { PLAN_ALPHA, PLAN_BETA, PLAN_GAMMA, PLAN_TREES, PLAN_NCAT };
static const char *const plan_names[PLAN_NCAT] = {"Alpha", "Beta", "Gamma", "Mergers"};
static const char *const plan_groups[PLAN_NCAT] = {"Physics", "Physics", "IO", "Forests"};

typedef struct {
    int has[PLAN_NCAT];            /* the rank registers it */
    size_t bytes[PLAN_NCAT];       /* live at the report */
    size_t peak[PLAN_NCAT];        /* per-category peak */
    size_t total, total_peak;      /* the process */
    size_t comp[PLAN_NCAT];        /* bytes of each category at the process peak */
    int forests;                   /* forests closed */
    char peak_label[64];           /* label in force at the process peak ("" outside) */
} plan;

static size_t plan_forest_peak(int f) {
    return 1000 * (size_t)(f + 1);
}

static plan plan_of(int r, int n) {
    plan p;
    memset(&p, 0, sizeof p);
    p.forests = r == n - 1 ? 0 : 2 * r + 3;
    p.has[PLAN_ALPHA] = p.has[PLAN_BETA] = 1;
    p.has[PLAN_GAMMA] = r % 2 == 0;
    p.has[PLAN_TREES] = p.forests > 0;
    p.bytes[PLAN_ALPHA] = 1000 * (size_t)(r + 1);
    p.peak[PLAN_ALPHA] = p.bytes[PLAN_ALPHA] + 700;
    p.bytes[PLAN_BETA] = p.peak[PLAN_BETA] = r % 2 ? 2000 : 1000;
    p.bytes[PLAN_GAMMA] = p.peak[PLAN_GAMMA] = p.has[PLAN_GAMMA] ? 300 * (size_t)(r + 1) : 0;
    p.peak[PLAN_TREES] = p.forests ? plan_forest_peak(p.forests - 1) : 0;
    for (int c = 0; c < PLAN_NCAT; c++) p.total += p.bytes[c];
    /* the peak: the largest forest over what is live, or the moment before
     * Alpha's 700 were freed (no forest outgrows 700 only when there is none) */
    memcpy(p.comp, p.bytes, sizeof p.comp);
    if (p.forests) {
        p.comp[PLAN_TREES] = p.peak[PLAN_TREES];
        snprintf(p.peak_label, sizeof p.peak_label, "Forest %d.%d", r, p.forests - 1);
    } else {
        p.comp[PLAN_ALPHA] += 700;
    }
    for (int c = 0; c < PLAN_NCAT; c++) p.total_peak += p.comp[c];
    return p;
}

/* Carries out the plan of rank r of n; returns the forest context (NULL on
 * the last rank), kept open until the end so its figures stay as they are. */
static mm_context *plan_run(int r, int n, void **keep) {
    plan p = plan_of(r, n);
    mm_category cat[PLAN_NCAT];
    for (int i = 0; i < PLAN_NCAT; i++) {
        int c = (i + r) % PLAN_NCAT;
        cat[c] = p.has[c] ? mm_category_register(plan_names[c], plan_groups[c]) : MM_CAT_INVALID;
    }
    mm_set_peak_step(1);
    keep[0] = mm_malloc(p.bytes[PLAN_ALPHA], cat[PLAN_ALPHA]);
    void *extra = mm_malloc(700, cat[PLAN_ALPHA]);
    keep[1] = mm_malloc(p.bytes[PLAN_BETA], cat[PLAN_BETA]);
    keep[2] = p.has[PLAN_GAMMA] ? mm_malloc(p.bytes[PLAN_GAMMA], cat[PLAN_GAMMA]) : NULL;
    mm_free(extra);
    if (p.forests == 0) return NULL;
    mm_context *forest = mm_context_create("Forest", NULL);
    for (int f = 0; f < p.forests; f++) {
        char label[64];
        snprintf(label, sizeof label, "Forest %d.%d", r, f);
        mm_context_set_label(forest, label);
        mpi_check(mm_context_malloc(forest, plan_forest_peak(f), cat[PLAN_TREES]) != NULL,
                  "rank %d: forest %d allocates", r, f);
        mm_context_reset(forest);
    }
    return forest;
}

/* ======================================================================
 * What the merged report must say (root), from every rank's plan
 * ==================================================================== */

typedef struct {
    size_t min, max;
    double mean;
    int max_rank;
} want_stat;

static want_stat want_of(const size_t *v, int n) {
    want_stat s = {v[0], v[0], 0.0, 0};
    double sum = 0;
    for (int r = 0; r < n; r++) {
        if (v[r] < s.min) s.min = v[r];
        if (v[r] > s.max) {
            s.max = v[r];
            s.max_rank = r;
        }
        sum += (double)v[r];
    }
    s.mean = sum / n;
    return s;
}

static uint64_t json_u64(const mmt_json *obj, const char *key, const char *where) {
    uint64_t v = 0;
    const mmt_json *m = mmt_json_get(obj, key);
    mpi_check(m && mmt_json_uint(m, &v), "%s.%s is a non-negative integer", where, key);
    return v;
}

static double json_num(const mmt_json *obj, const char *key, const char *where) {
    const mmt_json *m = mmt_json_get(obj, key);
    mpi_check(m && m->type == MMT_JSON_NUMBER, "%s.%s is a number", where, key);
    return m && m->type == MMT_JSON_NUMBER ? strtod(m->text, NULL) : NAN;
}

static long json_int(const mmt_json *obj, const char *key, const char *where) {
    return (long)json_num(obj, key, where);
}

static void check_stat(const mmt_json *obj, const char *key, want_stat w, const char *where) {
    char at[128];
    snprintf(at, sizeof at, "%s.%s", where, key);
    const mmt_json *s = mmt_json_get(obj, key);
    mpi_check(s && s->type == MMT_JSON_OBJECT, "%s is an object", at);
    if (!s) return;
    uint64_t mn = json_u64(s, "min", at), mx = json_u64(s, "max", at);
    double mean = json_num(s, "mean", at);
    long mr = json_int(s, "max_rank", at);
    mpi_check(mn == w.min, "%s.min is %zu (got %llu)", at, w.min, (unsigned long long)mn);
    mpi_check(mx == w.max, "%s.max is %zu (got %llu)", at, w.max, (unsigned long long)mx);
    mpi_check(fabs(mean - w.mean) <= 0.05 + 1e-9, "%s.mean is %.2f to a tenth (got %.1f)", at,
              w.mean, mean);
    mpi_check(mr == w.max_rank, "%s.max_rank is %d (got %ld)", at, w.max_rank, mr);
}

static void check_str(const mmt_json *obj, const char *key, const char *want, const char *where) {
    const mmt_json *m = mmt_json_get(obj, key);
    mpi_check(mmt_json_string_is(m, want), "%s.%s is \"%s\" (got \"%s\")", where, key, want,
              m && m->type == MMT_JSON_STRING ? m->text : "(not a string)");
}

typedef struct {
    int rank, f;
    size_t peak;
} want_top;

static int want_top_cmp(const void *a, const void *b) {
    const want_top *x = a, *y = b;
    if (x->peak != y->peak) return x->peak > y->peak ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return (x->f > y->f) - (x->f < y->f);
}

static void check_json(const char *text, int n) {
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    mpi_check(doc != NULL, "the merged JSON parses (%s)", doc ? "" : err);
    if (!doc) return;
    plan *p = calloc((size_t)n, sizeof *p);
    size_t *v = calloc((size_t)n, sizeof *v), *w = calloc((size_t)n, sizeof *w);
    for (int r = 0; r < n; r++) p[r] = plan_of(r, n);
    mpi_check(json_u64(doc, "schema_version", "") == 1, "schema_version is 1");
    mpi_check(json_u64(doc, "ranks", "") == (uint64_t)n, "ranks is %d", n);
    /* the process total */
    const mmt_json *proc = mmt_json_get(doc, "process");
    for (int r = 0; r < n; r++) v[r] = p[r].total, w[r] = p[r].total_peak;
    check_stat(proc, "bytes", want_of(v, n), "process");
    want_stat wp = want_of(w, n);
    check_stat(proc, "peak_bytes", wp, "process");
    /* categories, by name, in order of first appearance over the ranks */
    const mmt_json *cats = mmt_json_get(doc, "categories");
    mpi_check(cats && cats->type == MMT_JSON_ARRAY && cats->count == PLAN_NCAT,
              "categories lists the %d categories of the plans", PLAN_NCAT);
    for (size_t i = 0; cats && i < cats->count && i < PLAN_NCAT; i++) {
        const mmt_json *c = cats->items[i];
        int k = -1;
        for (int j = 0; j < PLAN_NCAT; j++)
            if (mmt_json_string_is(mmt_json_get(c, "name"), plan_names[j])) k = j;
        mpi_check(k >= 0, "categories[%zu] is a category of the plan", i);
        if (k < 0) continue;
        check_str(c, "group", plan_groups[k], plan_names[k]);
        for (int r = 0; r < n; r++) v[r] = p[r].bytes[k], w[r] = p[r].peak[k];
        check_stat(c, "bytes", want_of(v, n), plan_names[k]);
        check_stat(c, "peak_bytes", want_of(w, n), plan_names[k]);
    }
    /* the peak: the rank of the largest process peak, its composition */
    const mmt_json *pk = mmt_json_get(doc, "peak");
    const plan *pp = &p[wp.max_rank];
    mpi_check(json_int(pk, "rank", "peak") == wp.max_rank, "peak.rank is %d", wp.max_rank);
    mpi_check(json_u64(pk, "peak_bytes", "peak") == pp->total_peak, "peak.peak_bytes is %zu",
              pp->total_peak);
    check_str(pk, "label", pp->peak_label, "peak");
    check_str(pk, "context", pp->forests ? "Forest" : "", "peak");
    const mmt_json *comp = mmt_json_get(pk, "composition");
    size_t ncomp = 0;
    for (int k = 0; k < PLAN_NCAT; k++) {
        if (!pp->comp[k]) continue;
        ncomp++;
        mpi_check(json_u64(comp, plan_names[k], "peak.composition") == pp->comp[k],
                  "peak.composition.%s is %zu", plan_names[k], pp->comp[k]);
    }
    mpi_check(comp && comp->count == ncomp, "peak.composition has %zu categories", ncomp);
    /* forests of every rank */
    const mmt_json *ep = mmt_json_get(doc, "epochs");
    size_t count = 0, ntop = 0;
    want_stat we = {0, 0, 0.0, -1};
    double sum = 0;
    for (int r = 0; r < n; r++)
        for (int f = 0; f < p[r].forests; f++) {
            size_t fp = plan_forest_peak(f);
            if (count == 0 || fp < we.min) we.min = fp;
            if (count == 0 || fp > we.max) we.max = fp, we.max_rank = r;
            sum += (double)fp;
            count++;
        }
    we.mean = count ? sum / (double)count : 0.0;
    mpi_check(json_u64(ep, "count", "epochs") == count, "epochs.count is %zu", count);
    check_stat(ep, "peak_bytes", we, "epochs");
    want_top *tops = calloc(count + 1, sizeof *tops);
    for (int r = 0; r < n; r++)
        for (int f = 0; f < p[r].forests; f++) tops[ntop++] = (want_top){r, f, plan_forest_peak(f)};
    qsort(tops, ntop, sizeof *tops, want_top_cmp);
    if (ntop > 10) ntop = 10;
    const mmt_json *top = mmt_json_get(ep, "top");
    mpi_check(top && top->count == ntop, "epochs.top lists %zu forests", ntop);
    for (size_t i = 0; top && i < top->count && i < ntop; i++) {
        char at[64], label[64];
        snprintf(at, sizeof at, "epochs.top[%zu]", i);
        snprintf(label, sizeof label, "Forest %d.%d", tops[i].rank, tops[i].f);
        const mmt_json *t = top->items[i];
        mpi_check(json_int(t, "rank", at) == tops[i].rank, "%s.rank is %d", at, tops[i].rank);
        mpi_check(json_u64(t, "peak_bytes", at) == tops[i].peak, "%s.peak_bytes is %zu", at,
                  tops[i].peak);
        check_str(t, "label", label, at);
        check_str(t, "context", "Forest", at);
    }
    /* per rank */
    const mmt_json *pr = mmt_json_get(doc, "per_rank");
    mpi_check(pr && pr->count == (size_t)n, "per_rank has %d entries", n);
    for (int r = 0; pr && r < n && (size_t)r < pr->count; r++) {
        char at[32];
        snprintf(at, sizeof at, "per_rank[%d]", r);
        const mmt_json *q = pr->items[r];
        mpi_check(json_int(q, "rank", at) == r, "%s.rank is %d", at, r);
        mpi_check(json_u64(q, "bytes", at) == p[r].total, "%s.bytes is %zu", at, p[r].total);
        mpi_check(json_u64(q, "peak_bytes", at) == p[r].total_peak, "%s.peak_bytes is %zu", at,
                  p[r].total_peak);
        mpi_check(json_u64(q, "epochs", at) == (uint64_t)p[r].forests, "%s.epochs is %d", at,
                  p[r].forests);
    }
    free(tops);
    free(p);
    free(v);
    free(w);
    mmt_json_free(doc);
}

/* The text: the header, one line per category with its max rank, the peak. */
static void check_text(const char *text, int n) {
    char line[256];
    plan *p = calloc((size_t)n, sizeof *p);
    size_t *w = calloc((size_t)n, sizeof *w);
    for (int r = 0; r < n; r++) p[r] = plan_of(r, n), w[r] = p[r].total_peak;
    want_stat wp = want_of(w, n);
    snprintf(line, sizeof line, "=== Memory Usage by Category: %d ranks (min / mean / max (rank)) ===\n", n);
    mpi_check(strncmp(text, line, strlen(line)) == 0, "the text opens with \"%.*s\"",
              (int)strlen(line) - 1, line);
    char b[32];
    snprintf(line, sizeof line, "%s on rank %d", mm_format_bytes(wp.max, b, sizeof b), wp.max_rank);
    mpi_check(strstr(text, line) != NULL, "the text says \"%s\"", line);
    for (int k = 0; k < PLAN_NCAT; k++) {
        for (int r = 0; r < n; r++) w[r] = p[r].bytes[k];
        want_stat s = want_of(w, n);
        char b1[32], b2[32];
        snprintf(line, sizeof line, "  %-16s %s / ", plan_names[k], mm_format_bytes(s.min, b1, sizeof b1));
        const char *at = strstr(text, line);
        mpi_check(at != NULL, "the text has a line starting \"%s\"", line);
        snprintf(line, sizeof line, " / %s (%d)", mm_format_bytes(s.max, b2, sizeof b2), s.max_rank);
        const char *eol = at ? strchr(at, '\n') : NULL;
        const char *hit = at ? strstr(at, line) : NULL;
        mpi_check(hit != NULL && hit < eol, "the %s line shows its max as \"%s\"", plan_names[k],
                  line);
    }
    free(p);
    free(w);
}

static int mpi_bad_arguments; /* MM_ERR_BAD_ARGUMENT errors seen by the recording handler */

static void record_error(const mm_error *err, void *user) {
    (void)user;
    if (err->kind == MM_ERR_BAD_ARGUMENT) mpi_bad_arguments++;
}

/* The report written on a memory stream of root; NULL elsewhere. */
static char *report_to_string(int root, int rank, int format, int *rc) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = rank == root ? open_memstream(&buf, &len) : NULL;
    *rc = mm_mpi_report(MPI_COMM_WORLD, root, f, format);
    if (f) fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    void *keep[3];
    mm_context *forest = plan_run(rank, n, keep);
    /* each rank's own figures follow its plan (so a merge failure is the merge's) */
    plan p = plan_of(rank, n);
    mm_stats t = mm_stats_total(NULL);
    mpi_check(t.bytes == p.total && t.peak_bytes == p.total_peak,
              "rank %d: process bytes %zu, peak %zu (got %zu, %zu)", rank, p.total, p.total_peak,
              t.bytes, t.peak_bytes);
    mpi_check(mm_get_rank() == -1 || mm_get_rank() == rank, "rank %d: the launcher's rank", rank);

    int rc;
    char *json = report_to_string(0, rank, MM_REPORT_JSON, &rc);
    mpi_check(rc == 0, "rank %d: mm_mpi_report returns 0 (got %d)", rank, rc);
    mpi_check(mm_get_rank() == rank, "rank %d: mm_mpi_report sets the rank (got %d)", rank,
              mm_get_rank());
    if (rank == 0) check_json(json, n);
    /* the text, on the last rank as root this time */
    char *text = report_to_string(n - 1, rank, MM_REPORT_TEXT, &rc);
    mpi_check(rc == 0, "rank %d: mm_mpi_report (text, root %d) returns 0 (got %d)", rank, n - 1, rc);
    if (rank == n - 1) check_text(text, n);
    /* a root outside the communicator: an error on every rank, no communication */
    rc = mm_mpi_report(MPI_COMM_WORLD, n, stdout, MM_REPORT_JSON);
    mpi_check(rc == MPI_ERR_ROOT, "rank %d: root %d is MPI_ERR_ROOT (got %d)", rank, n, rc);

    /* out NULL on root: an error there, after the collective calls, so no
     * rank is left waiting; the other ranks ignore out and return 0 */
    mm_error_handler old = mm_set_error_handler(record_error, NULL);
    rc = mm_mpi_report(MPI_COMM_WORLD, 0, NULL, MM_REPORT_JSON);
    mm_set_error_handler(old.fn, old.user);
    mpi_check(rc == (rank == 0 ? MPI_ERR_ARG : 0), "rank %d: out NULL on root 0 returns %d (got %d)",
              rank, rank == 0 ? MPI_ERR_ARG : 0, rc);
    mpi_check(mpi_bad_arguments == (rank == 0), "rank %d: %d bad-argument error(s) (got %d)", rank,
              rank == 0, mpi_bad_arguments);

    if (argc > 1) { /* for the agreement test with mimicmem-report merge */
        char path[4096];
        snprintf(path, sizeof path, "%s/rank-%d.json", argv[1], rank);
        FILE *f = fopen(path, "w");
        mpi_check(f != NULL, "rank %d: %s opens", rank, path);
        if (f) {
            mm_report(f, NULL, MM_REPORT_JSON);
            fclose(f);
        }
        if (rank == 0) {
            snprintf(path, sizeof path, "%s/merged.json", argv[1]);
            f = fopen(path, "w");
            mpi_check(f != NULL, "%s opens", path);
            if (f) {
                fputs(json, f);
                fclose(f);
            }
        }
        if (rank == n - 1) {
            snprintf(path, sizeof path, "%s/merged.txt", argv[1]);
            f = fopen(path, "w");
            mpi_check(f != NULL, "%s opens", path);
            if (f) {
                fputs(text, f);
                fclose(f);
            }
        }
    }
    free(json);
    free(text);
    if (forest) mm_context_destroy(forest);
    for (int i = 0; i < 3; i++) mm_free(keep[i]);
    int failed = mpi_failures > 0, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) printf("test_mpi_report: %d ranks: %s\n", n, any ? "FAILED" : "passed");
    MPI_Finalize();
    return failed;
}
