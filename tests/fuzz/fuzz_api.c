/* libFuzzer target: sequences of API operations decoded from the input
 * (allocate, calloc, realloc, free, strdup, context create/reset/destroy,
 * labels, category registration, reports, and deliberate misuse), checked
 * after every step against a reference model of live bytes, blocks, allocs,
 * frees and peaks per category and per context (subtree, self and epoch
 * figures) and of the whole process. Each input frees and destroys all it
 * made, and the process figures must come back to where they started. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>

#include "fuzz_common.h"
#include "mm_json.h"

#define FA_CTX_MAX 8         /* context slots */
#define FA_BLK_MAX 64        /* block slots */
#define FA_POOL 4            /* categories registered by the target */
#define FA_NCAT (MM_CAT_BUILTIN_COUNT + FA_POOL)
#define FA_SMALL_MAX 4096    /* blocks this small are carved from context chunks */

/* One figure of the model: what mm_stats should say. */
typedef struct {
    size_t bytes;     /* live requested bytes */
    size_t peak;      /* high-water mark of bytes */
    size_t blocks;    /* live blocks */
    uint64_t allocs;  /* cumulative allocations */
    uint64_t frees;   /* cumulative frees */
} fa_fig;

typedef struct {
    mm_context *h;             /* the library's handle; NULL when the slot is free */
    int parent;                /* parent slot, -1 for a top-level context */
    fa_fig tree;               /* the context and its descendants, all epochs */
    fa_fig cat[FA_NCAT];       /* per category, subtree */
    fa_fig self;               /* the context alone (blocks allocated in it) */
    size_t epoch_peak;         /* subtree peak in the current epoch */
    uint64_t epoch_allocs0;    /* tree.allocs when the epoch began */
    uint64_t epoch_frees0;     /* tree.frees when the epoch began */
    uint64_t nepochs;          /* resets */
    size_t min_epoch_peak;     /* smallest closed epoch peak */
    size_t max_epoch_peak;     /* largest closed epoch peak */
    size_t recl_bytes[FA_NCAT];      /* reclaimed by resets, cumulative */
    size_t recl_blocks[FA_NCAT];     /* same, blocks */
    size_t last_recl_bytes[FA_NCAT]; /* reclaimed by the last reset */
    size_t last_recl_blocks[FA_NCAT];
    char name[MM_NAME_MAX + 1];  /* expected mm_context_name */
    char label[MM_NAME_MAX + 1]; /* expected mm_context_label */
} fa_ctx;

typedef struct {
    unsigned char *p;  /* payload; NULL when the slot is free */
    size_t size;       /* requested bytes */
    int k;             /* category index into fa_cat_id */
    int ctx;           /* context slot, -1 for a process-wide block */
    uint8_t fill;      /* seed of the byte pattern written into it */
} fa_blk;

static mm_category fa_cat_id[FA_NCAT]; /* index -> category id */
static fa_ctx fa_ctxs[FA_CTX_MAX];
static fa_blk fa_blks[FA_BLK_MAX];
static fa_fig fa_proc;                /* process total */
static fa_fig fa_proc_cat[FA_NCAT];   /* process, per category */
static unsigned long fa_step;         /* operation number, for messages */

static const char *const fa_pool_names[FA_POOL] = {"fuzz.Cooling", "fuzz.Disk", "fuzz.Tree walk",
                                                   "fuzz.\"quoted\"\\slash"};
static const char *const fa_ctx_names[8] = {
    "forest", "module", "", "name with \"quotes\" and \\", "tab\there",
    "a-name-that-is-exactly-sixty-three-bytes-long-xxxxxxxxxxxxxxxxx",
    "a-name-that-is-longer-than-sixty-three-bytes-and-so-gets-truncated-here", "newline\nname"};

/* ======================================================================
 * Model updates
 * ==================================================================== */

static void fig_grow(fa_fig *f, size_t bytes)
{
    f->bytes += bytes;
    if (f->bytes > f->peak) f->peak = f->bytes;
}

static void fig_alloc(fa_fig *f, size_t bytes)
{
    fig_grow(f, bytes);
    f->blocks++;
    f->allocs++;
}

static void fig_free(fa_fig *f, size_t bytes)
{
    f->bytes -= bytes;
    f->blocks--;
    f->frees++;
}

/* A block of size bytes in category k changed to new_size bytes in new_k. */
static void fig_resize(fa_fig *total, fa_fig *cats, int k, size_t size, int new_k, size_t new_size)
{
    total->bytes -= size;
    fig_grow(total, new_size);
    cats[k].bytes -= size;
    cats[k].blocks--;
    fig_grow(&cats[new_k], new_size);
    cats[new_k].blocks++;
}

static void model_alloc(int c, int k, size_t size)
{
    fig_alloc(&fa_proc, size);
    fig_alloc(&fa_proc_cat[k], size);
    if (c < 0) return;
    fig_alloc(&fa_ctxs[c].self, size);
    for (int p = c; p >= 0; p = fa_ctxs[p].parent) {
        fig_alloc(&fa_ctxs[p].tree, size);
        fig_alloc(&fa_ctxs[p].cat[k], size);
        if (fa_ctxs[p].tree.bytes > fa_ctxs[p].epoch_peak) fa_ctxs[p].epoch_peak = fa_ctxs[p].tree.bytes;
    }
}

static void model_free(int c, int k, size_t size)
{
    fig_free(&fa_proc, size);
    fig_free(&fa_proc_cat[k], size);
    if (c < 0) return;
    fig_free(&fa_ctxs[c].self, size);
    for (int p = c; p >= 0; p = fa_ctxs[p].parent) {
        fig_free(&fa_ctxs[p].tree, size);
        fig_free(&fa_ctxs[p].cat[k], size);
    }
}

static void model_resize(int c, int k, size_t size, int new_k, size_t new_size)
{
    fig_resize(&fa_proc, fa_proc_cat, k, size, new_k, new_size);
    if (c < 0) return;
    fa_fig *self = &fa_ctxs[c].self;
    self->bytes -= size;
    fig_grow(self, new_size);
    for (int p = c; p >= 0; p = fa_ctxs[p].parent) {
        fig_resize(&fa_ctxs[p].tree, fa_ctxs[p].cat, k, size, new_k, new_size);
        if (fa_ctxs[p].tree.bytes > fa_ctxs[p].epoch_peak) fa_ctxs[p].epoch_peak = fa_ctxs[p].tree.bytes;
    }
}

/* Nonzero when slot c is a or is below a. */
static int in_subtree(int c, int a)
{
    for (; c >= 0; c = fa_ctxs[c].parent)
        if (c == a) return 1;
    return 0;
}

/* Forgets the blocks of the subtree of a (they were freed by the library),
 * counting them as frees; with kill, also forgets the contexts below a (and
 * a itself when self_too). */
static void model_release_subtree(int a, int self_too)
{
    for (int b = 0; b < FA_BLK_MAX; b++) {
        if (fa_blks[b].p != NULL && fa_blks[b].ctx >= 0 && in_subtree(fa_blks[b].ctx, a)) {
            model_free(fa_blks[b].ctx, fa_blks[b].k, fa_blks[b].size);
            fa_blks[b].p = NULL;
        }
    }
    /* children first, so in_subtree still sees the parent links */
    int dead[FA_CTX_MAX] = {0};
    for (int c = 0; c < FA_CTX_MAX; c++)
        if (fa_ctxs[c].h != NULL && in_subtree(c, a) && (c != a || self_too)) dead[c] = 1;
    for (int c = 0; c < FA_CTX_MAX; c++)
        if (dead[c]) memset(&fa_ctxs[c], 0, sizeof fa_ctxs[c]);
}

/* ======================================================================
 * Block contents
 * ==================================================================== */

static uint8_t pattern(uint8_t fill, size_t i) { return (uint8_t)(fill + i * 31u + (i >> 8)); }

/* The bytes of a block of size bytes that are written and checked: all of
 * the first 4 KiB, every 61st after that, and the last 64, which keeps large
 * blocks cheap. The next such offset after i: */
static size_t blk_next(size_t i, size_t size)
{
    if (i + 1 < 4096 || i + 1 + 64 >= size) return i + 1;
    size_t n = (i / 61 + 1) * 61;
    return n + 64 >= size ? (size > 64 ? size - 64 : 0) : n;
}

/* Writes the pattern at the sampled offsets from from to the end, and all of
 * the last 64 bytes. */
static void blk_fill(fa_blk *b, size_t from)
{
    size_t tail = b->size > 64 ? b->size - 64 : 0;
    for (size_t i = from; i < b->size; i = blk_next(i, b->size)) b->p[i] = pattern(b->fill, i);
    for (size_t i = tail; i < b->size; i++) b->p[i] = pattern(b->fill, i);
}

/* Checks the sampled offsets below upto, sampled as for a block of the size
 * b had when they were written (b->size). */
static void blk_verify(const fa_blk *b, size_t upto, const char *when)
{
    for (size_t i = 0; i < upto; i = blk_next(i, b->size))
        FZ_CHECK(b->p[i] == pattern(b->fill, i),
                 "step %lu: %s: byte %zu of a %zu-byte block changed (0x%02x, expected 0x%02x)",
                 fa_step, when, i, b->size, b->p[i], pattern(b->fill, i));
}

/* ======================================================================
 * Checking the library against the model
 * ==================================================================== */

static void expect_fig(mm_stats s, const fa_fig *f, const char *what, int idx)
{
    FZ_CHECK(s.bytes == f->bytes && s.peak_bytes == f->peak && s.blocks == f->blocks &&
                 s.allocs == f->allocs && s.frees == f->frees,
             "step %lu: %s [%d] should be bytes %zu peak %zu blocks %zu allocs %llu frees %llu, "
             "got bytes %zu peak %zu blocks %zu allocs %llu frees %llu",
             fa_step, what, idx, f->bytes, f->peak, f->blocks, (unsigned long long)f->allocs,
             (unsigned long long)f->frees, s.bytes, s.peak_bytes, s.blocks,
             (unsigned long long)s.allocs, (unsigned long long)s.frees);
}

static void expect_no_error(const char *what)
{
    FZ_CHECK(fz_err.count == 0, "step %lu: %s should raise no error, got %d (kind %s)", fa_step,
             what, fz_err.count, mm_error_kind_name(fz_err.kind));
}

static void expect_error(mm_error_kind kind, const char *what)
{
    FZ_CHECK(fz_err.count == 1 && fz_err.kind == kind && fz_err.message_ok,
             "step %lu: %s should raise one %s error with a message, got %d (last kind %s)",
             fa_step, what, mm_error_kind_name(kind), fz_err.count,
             mm_error_kind_name(fz_err.kind));
    fz_errors_clear();
}

static void check_model(void)
{
    expect_fig(mm_stats_total(NULL), &fa_proc, "process total", -1);
    for (int k = 0; k < FA_NCAT; k++)
        expect_fig(mm_stats_category(NULL, fa_cat_id[k]), &fa_proc_cat[k], "process category", k);
    for (int c = 0; c < FA_CTX_MAX; c++) {
        const fa_ctx *m = &fa_ctxs[c];
        if (m->h == NULL) continue;
        expect_fig(mm_stats_total(m->h), &m->tree, "context total", c);
        expect_fig(mm_stats_self(m->h), &m->self, "context self", c);
        for (int k = 0; k < FA_NCAT; k++) {
            expect_fig(mm_stats_category(m->h, fa_cat_id[k]), &m->cat[k], "context category",
                       c * 100 + k);
            mm_reclaimed all = mm_context_reclaimed(m->h, fa_cat_id[k], 0);
            mm_reclaimed last = mm_context_reclaimed(m->h, fa_cat_id[k], 1);
            FZ_CHECK(all.bytes == m->recl_bytes[k] && all.blocks == m->recl_blocks[k] &&
                         last.bytes == m->last_recl_bytes[k] &&
                         last.blocks == m->last_recl_blocks[k],
                     "step %lu: context %d category %d reclaimed should be %zu/%zu (last %zu/%zu), "
                     "got %zu/%zu (last %zu/%zu)",
                     fa_step, c, k, m->recl_bytes[k], m->recl_blocks[k], m->last_recl_bytes[k],
                     m->last_recl_blocks[k], all.bytes, all.blocks, last.bytes, last.blocks);
        }
        fa_fig epoch = {m->tree.bytes, m->epoch_peak, m->tree.blocks,
                        m->tree.allocs - m->epoch_allocs0, m->tree.frees - m->epoch_frees0};
        expect_fig(mm_context_epoch_stats(m->h), &epoch, "context epoch", c);
        mm_epoch_summary es = mm_context_epochs(m->h);
        FZ_CHECK(es.count == m->nepochs && es.min_peak == m->min_epoch_peak &&
                     es.max_peak == m->max_epoch_peak,
                 "step %lu: context %d epochs should be %llu (min %zu max %zu), got %llu (%zu, %zu)",
                 fa_step, c, (unsigned long long)m->nepochs, m->min_epoch_peak, m->max_epoch_peak,
                 (unsigned long long)es.count, es.min_peak, es.max_peak);
        mm_context *parent = m->parent >= 0 ? fa_ctxs[m->parent].h : NULL;
        FZ_CHECK(mm_context_parent(m->h) == parent, "step %lu: context %d has the wrong parent",
                 fa_step, c);
        FZ_CHECK(strcmp(mm_context_name(m->h), m->name) == 0,
                 "step %lu: context %d should be called \"%s\", not \"%s\"", fa_step, c, m->name,
                 mm_context_name(m->h));
        FZ_CHECK(strcmp(mm_context_label(m->h), m->label) == 0,
                 "step %lu: context %d should have label \"%s\", not \"%s\"", fa_step, c,
                 m->label, mm_context_label(m->h));
    }
    for (int b = 0; b < FA_BLK_MAX; b++) {
        const fa_blk *m = &fa_blks[b];
        if (m->p == NULL) continue;
        mm_context *ctx = m->ctx >= 0 ? fa_ctxs[m->ctx].h : NULL;
        FZ_CHECK(mm_validate(m->p) && mm_block_size(m->p) == m->size &&
                     mm_block_category(m->p) == fa_cat_id[m->k] && mm_block_context(m->p) == ctx,
                 "step %lu: block %d should be a live %zu-byte block of category %d in context "
                 "%d (valid %d, size %zu, category %d)",
                 fa_step, b, m->size, fa_cat_id[m->k], m->ctx, mm_validate(m->p),
                 mm_block_size(m->p), mm_block_category(m->p));
    }
    expect_no_error("checking the figures");
}

/* ======================================================================
 * Operations
 * ==================================================================== */

static size_t pick_size(fz_reader *r)
{
    uint8_t kind = fz_u8(r) % 8;
    if (kind < 5) return fz_u8(r);
    if (kind < 7) return fz_u16(r) % 8192;
    return 200000 + (size_t)fz_u16(r) * 2; /* around the 256 KiB small-block limit */
}

/* A live context slot chosen by the input, or -1 (process-wide). */
static int pick_ctx(fz_reader *r)
{
    int c = (int)(fz_u8(r) % (FA_CTX_MAX + 1)) - 1;
    return c >= 0 && fa_ctxs[c].h != NULL ? c : -1;
}

static int free_blk_slot(fz_reader *r)
{
    int start = fz_u8(r) % FA_BLK_MAX;
    for (int i = 0; i < FA_BLK_MAX; i++) {
        int b = (start + i) % FA_BLK_MAX;
        if (fa_blks[b].p == NULL) return b;
    }
    return -1;
}

static int live_blk(fz_reader *r)
{
    int start = fz_u8(r) % FA_BLK_MAX;
    for (int i = 0; i < FA_BLK_MAX; i++) {
        int b = (start + i) % FA_BLK_MAX;
        if (fa_blks[b].p != NULL) return b;
    }
    return -1;
}

static void op_alloc(fz_reader *r, int how)
{
    int b = free_blk_slot(r);
    int c = pick_ctx(r);
    int k = fz_u8(r) % FA_NCAT;
    size_t size = pick_size(r);
    if (b < 0) return;
    mm_context *ctx = c >= 0 ? fa_ctxs[c].h : NULL;
    unsigned char *p;
    if (how == 0) {
        p = c >= 0 ? mm_context_malloc(ctx, size, fa_cat_id[k]) : mm_malloc(size, fa_cat_id[k]);
    } else if (how == 1) {
        size_t n = 1 + fz_u8(r) % 8;
        size /= n;
        p = c >= 0 ? mm_context_calloc(ctx, n, size, fa_cat_id[k]) : mm_calloc(n, size, fa_cat_id[k]);
        size *= n;
        for (size_t i = 0; p != NULL && i < size; i = blk_next(i, size))
            FZ_CHECK(p[i] == 0, "step %lu: calloc byte %zu of %zu is not zero", fa_step, i, size);
    } else {
        char s[32];
        size_t n = fz_u8(r) % sizeof s;
        memset(s, 'x', n);
        s[n] = '\0';
        p = (unsigned char *)(c >= 0 ? mm_context_strdup(ctx, s, fa_cat_id[k])
                                     : mm_strdup(s, fa_cat_id[k]));
        FZ_CHECK(p != NULL && strcmp((char *)p, s) == 0, "step %lu: strdup copied wrongly", fa_step);
        size = n + 1;
    }
    expect_no_error("an allocation");
    FZ_CHECK(p != NULL && (uintptr_t)p % 16 == 0,
             "step %lu: an allocation of %zu bytes should give a 16-byte aligned block", fa_step, size);
    fa_blks[b] = (fa_blk){p, size, k, c, (uint8_t)(fa_step * 7u)};
    blk_fill(&fa_blks[b], 0);
    model_alloc(c, k, size);
}

static void op_realloc(fz_reader *r, int move_cat)
{
    int b = live_blk(r);
    size_t size = pick_size(r);
    int k = fz_u8(r) % FA_NCAT;
    if (b < 0) { /* p NULL allocates process-wide */
        b = free_blk_slot(r);
        if (b < 0) return;
        if (!move_cat) k = 0;
        unsigned char *p = move_cat ? mm_realloc_cat(NULL, size, fa_cat_id[k]) : mm_realloc(NULL, size);
        expect_no_error("realloc of NULL");
        FZ_CHECK(p != NULL, "step %lu: realloc of NULL should allocate", fa_step);
        fa_blks[b] = (fa_blk){p, size, k, -1, (uint8_t)(fa_step * 7u)};
        blk_fill(&fa_blks[b], 0);
        model_alloc(-1, k, size);
        return;
    }
    fa_blk *m = &fa_blks[b];
    if (!move_cat) k = m->k;
    blk_verify(m, m->size, "before realloc");
    unsigned char *p = move_cat ? mm_realloc_cat(m->p, size, fa_cat_id[k]) : mm_realloc(m->p, size);
    expect_no_error("a realloc");
    FZ_CHECK(p != NULL, "step %lu: realloc to %zu bytes should succeed", fa_step, size);
    size_t keep = size < m->size ? size : m->size;
    size_t old = m->size;
    int old_k = m->k;
    m->p = p;
    blk_verify(m, keep, "after realloc"); /* sampled as written, at the old size */
    m->size = size;
    m->k = k;
    blk_fill(m, keep);
    model_resize(m->ctx, old_k, old, k, size);
}

static void op_free(fz_reader *r)
{
    int b = live_blk(r);
    if (b < 0) return;
    fa_blk *m = &fa_blks[b];
    blk_verify(m, m->size, "before free");
    mm_free(m->p);
    expect_no_error("a free");
    model_free(m->ctx, m->k, m->size);
    m->p = NULL;
}

static void op_context_create(fz_reader *r)
{
    int parent = pick_ctx(r);
    const char *name = fa_ctx_names[fz_u8(r) % 8];
    int c = 0;
    while (c < FA_CTX_MAX && fa_ctxs[c].h != NULL) c++;
    if (c == FA_CTX_MAX) return;
    mm_context *h = mm_context_create(name, parent >= 0 ? fa_ctxs[parent].h : NULL);
    expect_no_error("mm_context_create");
    FZ_CHECK(h != NULL, "step %lu: mm_context_create should succeed", fa_step);
    memset(&fa_ctxs[c], 0, sizeof fa_ctxs[c]);
    fa_ctxs[c].h = h;
    fa_ctxs[c].parent = parent;
    snprintf(fa_ctxs[c].name, sizeof fa_ctxs[c].name, "%s", name);
}

static void op_context_reset(fz_reader *r)
{
    int c = pick_ctx(r);
    if (c < 0) return;
    fa_ctx *m = &fa_ctxs[c];
    mm_context_reset(m->h);
    expect_no_error("mm_context_reset");
    for (int k = 0; k < FA_NCAT; k++) {
        m->last_recl_bytes[k] = m->cat[k].bytes;
        m->last_recl_blocks[k] = m->cat[k].blocks;
        m->recl_bytes[k] += m->cat[k].bytes;
        m->recl_blocks[k] += m->cat[k].blocks;
    }
    if (m->nepochs == 0 || m->epoch_peak < m->min_epoch_peak) m->min_epoch_peak = m->epoch_peak;
    if (m->epoch_peak > m->max_epoch_peak) m->max_epoch_peak = m->epoch_peak;
    m->nepochs++;
    model_release_subtree(c, 0);
    m->epoch_peak = m->tree.bytes;
    m->epoch_allocs0 = m->tree.allocs;
    m->epoch_frees0 = m->tree.frees;
    m->label[0] = '\0';
}

static void op_context_destroy(fz_reader *r)
{
    int c = pick_ctx(r);
    if (c < 0) return;
    mm_context_destroy(fa_ctxs[c].h);
    expect_no_error("mm_context_destroy");
    model_release_subtree(c, 1);
}

static void op_label(fz_reader *r)
{
    int c = pick_ctx(r);
    const char *label = fa_ctx_names[fz_u8(r) % 8];
    if (c < 0) return;
    mm_context_set_label(fa_ctxs[c].h, label);
    expect_no_error("mm_context_set_label");
    snprintf(fa_ctxs[c].label, sizeof fa_ctxs[c].label, "%s", label);
}

static void op_register(fz_reader *r)
{
    int i = fz_u8(r) % FA_POOL;
    mm_category id = mm_category_register(fa_pool_names[i], "Fuzz");
    expect_no_error("registering a registered name");
    FZ_CHECK(id == fa_cat_id[MM_CAT_BUILTIN_COUNT + i] && mm_category_find(fa_pool_names[i]) == id,
             "step %lu: registering \"%s\" again should give id %d, got %d", fa_step,
             fa_pool_names[i], fa_cat_id[MM_CAT_BUILTIN_COUNT + i], id);
}

static void op_report(fz_reader *r)
{
    int c = pick_ctx(r);
    int json = fz_u8(r) & 1;
    const fa_fig *want = c >= 0 ? &fa_ctxs[c].tree : &fa_proc;
    size_t len = 0;
    char *text = fz_report_string(c >= 0 ? fa_ctxs[c].h : NULL, json ? MM_REPORT_JSON : MM_REPORT_TEXT, &len);
    expect_no_error("mm_report");
    FZ_CHECK(len > 0 && strlen(text) == len, "step %lu: the report should be non-empty text", fa_step);
    if (json) {
        char err[160];
        mmt_json *doc = mmt_json_parse(text, err, sizeof err);
        FZ_CHECK(doc != NULL, "step %lu: the JSON report should parse (%s):\n%s", fa_step, err, text);
        const mmt_json *total = mmt_json_get(doc, "total");
        uint64_t bytes = 0, blocks = 0, peak = 0;
        FZ_CHECK(mmt_json_uint(mmt_json_get(total, "bytes"), &bytes) &&
                     mmt_json_uint(mmt_json_get(total, "blocks"), &blocks) &&
                     mmt_json_uint(mmt_json_get(total, "peak_bytes"), &peak) &&
                     bytes == want->bytes && blocks == want->blocks && peak == want->peak,
                 "step %lu: the JSON total should be %zu bytes, %zu blocks, peak %zu:\n%s",
                 fa_step, want->bytes, want->blocks, want->peak, text);
        mmt_json_free(doc);
    }
    free(text);
}

/* Switches the checking mode, site recording and the peak-composition step;
 * blocks made before keep working (the model checks their contents and
 * figures at every later step), and mm_check finds nothing wrong. */
static void op_modes(fz_reader *r)
{
    unsigned v = fz_u8(r);
    mm_set_check((mm_check_mode)(v % 4));
    mm_set_sites((int)(v / 4 % 2));
    mm_set_peak_step(v / 8 % 2 ? 1 : MM_DEFAULT_PEAK_STEP);
    size_t problems = mm_check(NULL);
    expect_no_error("switching modes and mm_check");
    FZ_CHECK(problems == 0, "step %lu: mm_check should find nothing, found %zu", fa_step, problems);
}

/* Misuse and impossible requests: each must raise exactly one error of the
 * right kind, return NULL or do nothing, and leave every figure alone. */
static void op_misuse(fz_reader *r)
{
    static const mm_category bad_cats[] = {-1, -1000, MM_CATEGORY_MAX - 1, MM_CATEGORY_MAX,
                                           65535, 65536, INT_MAX, INT_MIN};
    static const size_t bad_sizes[] = {(size_t)1 << 48, ((size_t)1 << 48) + 1, SIZE_MAX,
                                       SIZE_MAX - 15, SIZE_MAX / 2};
    uint8_t what = fz_u8(r) % 12;
    int c = pick_ctx(r);
    mm_context *ctx = c >= 0 ? fa_ctxs[c].h : NULL;
    mm_category bad_cat = bad_cats[fz_u8(r) % (sizeof bad_cats / sizeof bad_cats[0])];
    if (bad_cat == MM_CATEGORY_MAX - 1 && mm_category_count() == MM_CATEGORY_MAX) bad_cat = -1;
    size_t bad_size = bad_sizes[fz_u8(r) % (sizeof bad_sizes / sizeof bad_sizes[0])];
    int k = fz_u8(r) % FA_NCAT;
    int b = live_blk(r);
    fa_blk *m = b >= 0 ? &fa_blks[b] : NULL;
    void *p = (void *)&fa_step; /* anything non-NULL */
    switch (what) {
    case 0:
        p = c >= 0 ? mm_context_malloc(ctx, 16, bad_cat) : mm_malloc(16, bad_cat);
        expect_error(MM_ERR_BAD_CATEGORY, "an allocation in an unknown category");
        break;
    case 1:
        p = c >= 0 ? mm_context_malloc(ctx, bad_size, fa_cat_id[k]) : mm_malloc(bad_size, fa_cat_id[k]);
        expect_error(MM_ERR_SIZE_OVERFLOW, "an allocation too large to describe");
        break;
    case 2:
        p = c >= 0 ? mm_context_calloc(ctx, SIZE_MAX / 3, 4, fa_cat_id[k])
                   : mm_calloc(4, SIZE_MAX / 3, fa_cat_id[k]);
        expect_error(MM_ERR_SIZE_OVERFLOW, "a calloc whose n*size overflows");
        break;
    case 3:
        if (m == NULL) return;
        p = mm_realloc_cat(m->p, 8, bad_cat);
        expect_error(MM_ERR_BAD_CATEGORY, "a realloc into an unknown category");
        break;
    case 4:
        if (m == NULL) return;
        p = mm_realloc(m->p, bad_size);
        expect_error(MM_ERR_SIZE_OVERFLOW, "a realloc too large to describe");
        break;
    case 5:
        if (m == NULL || m->size < 2) return;
        mm_free(m->p + 1);
        expect_error(MM_ERR_BAD_POINTER, "a free of a misaligned pointer");
        p = NULL;
        break;
    case 6:
        if (m == NULL || m->size < 32) return;
        mm_free(m->p + 16);
        expect_error(MM_ERR_BAD_POINTER, "a free of a pointer into a block");
        p = NULL;
        break;
    case 7: /* a second free of a small context block, straight after the first */
        if (m == NULL || m->ctx < 0 || m->size > FA_SMALL_MAX) return;
        blk_verify(m, m->size, "before free");
        mm_free(m->p);
        expect_no_error("a free");
        model_free(m->ctx, m->k, m->size);
        mm_free(m->p);
        expect_error(MM_ERR_DOUBLE_FREE, "a second free of a context block");
        m->p = NULL;
        p = NULL;
        break;
    case 8:
        p = (void *)mm_category_name(bad_cat);
        expect_error(MM_ERR_BAD_CATEGORY, "mm_category_name of an unknown id");
        break;
    case 9: {
        static const char long_name[] =
            "a-category-name-that-is-longer-than-sixty-three-bytes-and-so-is-refused";
        const char *names[3] = {NULL, "", long_name};
        mm_category id = mm_category_register(names[k % 3], "Fuzz");
        expect_error(MM_ERR_BAD_ARGUMENT, "registering a NULL, empty or over-long name");
        FZ_CHECK(id == MM_CAT_INVALID, "step %lu: a refused name should give MM_CAT_INVALID", fa_step);
        p = NULL;
        break;
    }
    case 10:
        p = c >= 0 ? mm_context_strdup(ctx, NULL, fa_cat_id[k]) : mm_strdup(NULL, fa_cat_id[k]);
        expect_error(MM_ERR_BAD_ARGUMENT, "strdup of NULL");
        break;
    default:
        p = (void *)(uintptr_t)mm_block_size(NULL);
        expect_error(MM_ERR_BAD_POINTER, "mm_block_size(NULL)");
        break;
    }
    FZ_CHECK(p == NULL, "step %lu: a failed call (misuse %u) should return NULL or 0", fa_step, what);
    if (m != NULL && m->p != NULL) blk_verify(m, m->size, "after a refused call");
}

/* ======================================================================
 * The target
 * ==================================================================== */

static void setup_once(void)
{
    static int done;
    if (done) return;
    done = 1;
    fz_install_handlers();
    for (int k = 0; k < MM_CAT_BUILTIN_COUNT; k++) fa_cat_id[k] = k;
    for (int i = 0; i < FA_POOL; i++) {
        fa_cat_id[MM_CAT_BUILTIN_COUNT + i] = mm_category_register(fa_pool_names[i], "Fuzz");
        FZ_CHECK(fa_cat_id[MM_CAT_BUILTIN_COUNT + i] >= MM_CAT_BUILTIN_COUNT,
                 "registering \"%s\" should succeed", fa_pool_names[i]);
    }
}

static fa_fig fig_of(mm_stats s)
{
    fa_fig f = {s.bytes, s.peak_bytes, s.blocks, s.allocs, s.frees};
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    fz_errors_clear();
    memset(fa_ctxs, 0, sizeof fa_ctxs);
    memset(fa_blks, 0, sizeof fa_blks);
    fa_step = 0;
    fa_proc = fig_of(mm_stats_total(NULL));
    for (int k = 0; k < FA_NCAT; k++) fa_proc_cat[k] = fig_of(mm_stats_category(NULL, fa_cat_id[k]));
    const fa_fig start = fa_proc;
    FZ_CHECK(start.bytes == 0 && start.blocks == 0,
             "the previous input should have left nothing live (%zu bytes, %zu blocks)",
             start.bytes, start.blocks);

    fz_reader r = {data, size, 0};
    while (fz_more(&r)) {
        fa_step++;
        switch (fz_u8(&r) % 15) {
        case 0: case 1: op_alloc(&r, 0); break;
        case 2: op_alloc(&r, 1); break;
        case 3: op_alloc(&r, 2); break;
        case 4: op_realloc(&r, 0); break;
        case 5: op_realloc(&r, 1); break;
        case 6: op_free(&r); break;
        case 7: op_context_create(&r); break;
        case 8: op_context_reset(&r); break;
        case 9: op_context_destroy(&r); break;
        case 10: op_label(&r); break;
        case 11: op_register(&r); break;
        case 12: op_report(&r); break;
        case 13: op_modes(&r); break;
        default: op_misuse(&r); break;
        }
        check_model();
    }

    /* clean up: process-wide blocks freed one by one, contexts destroyed */
    fa_step++;
    for (int b = 0; b < FA_BLK_MAX; b++) {
        if (fa_blks[b].p == NULL || fa_blks[b].ctx >= 0) continue;
        blk_verify(&fa_blks[b], fa_blks[b].size, "before the final free");
        mm_free(fa_blks[b].p);
        model_free(-1, fa_blks[b].k, fa_blks[b].size);
        fa_blks[b].p = NULL;
    }
    for (int c = 0; c < FA_CTX_MAX; c++) {
        if (fa_ctxs[c].h == NULL || fa_ctxs[c].parent >= 0) continue;
        mm_context_destroy(fa_ctxs[c].h);
        model_release_subtree(c, 1);
    }
    expect_no_error("the final clean-up");
    check_model();
    mm_set_check(MM_CHECK_OFF); /* the next input starts with every mode off */
    mm_set_sites(0);
    mm_set_peak_step(MM_DEFAULT_PEAK_STEP);
    mm_stats end = mm_stats_total(NULL);
    FZ_CHECK(end.bytes == 0 && end.blocks == 0 &&
                 end.allocs - start.allocs == end.frees - start.frees,
             "after the clean-up nothing should be live (%zu bytes, %zu blocks)", end.bytes, end.blocks);
    return 0;
}
