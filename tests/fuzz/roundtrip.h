/* roundtrip.h: the trace round trip shared by tests/unit/test_replay.c and
 * tests/fuzz/fuzz_roundtrip.c. rt_run decodes bytes into a sequence of API
 * calls (malloc, calloc, strdup, realloc to any size and to 0, realloc_cat,
 * realloc(NULL, n), free, contexts created, reset and destroyed, checking
 * modes, sites and limits switched, calls that must fail) made while a trace
 * is open, and samples mimicmem's own figures after every call. rt_verify
 * loads the trace, compares its model (tools/replay/replay_core.c) with those
 * live figures, and replays it through raw malloc, mimicmem and the legacy
 * table. Test code only: bookkeeping uses the system malloc. Single thread.
 *
 * Rule: the caller makes sure nothing of mimicmem's is live when rt_run
 * starts (a fresh process, or the previous rt_run's cleanup), since the
 * sampled peaks are of live bytes and a trace holds only what it saw. */
#ifndef MM_TESTS_ROUNDTRIP_H
#define MM_TESTS_ROUNDTRIP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy_table.h"
#include "mimicmem.h"
#include "replay.h"
#include "replay_core.h"
#include "trace.h"

#define RT_MAX_BLOCKS 192 /* live blocks the driver tracks at once */
#define RT_MAX_CTX 6      /* live contexts */
#define RT_NCAT 6         /* categories the calls use (rt_cat_names) */

/* Categories used: three built-ins and three registered ones, one with a
 * space and one with a control character (the trace writes both as '_'). */
static const char *const rt_cat_names[RT_NCAT] = {"Unknown", "Halos", "Trees",
                                                  "RT gas", "RTstars", "RT\001ctl"};

typedef struct {
    void *p;     /* the block */
    size_t size; /* its requested size */
    int cat;     /* index into rt_cat_names */
    int ctx;     /* index into rt_state.ctx, -1 process-wide */
} rt_block;

typedef struct {
    mm_category id;      /* mimicmem id */
    uint64_t peak;       /* largest live bytes seen after any call (from the start's 0) */
    uint64_t allocs;     /* mm_stats_category allocs gained while traced */
    uint64_t bytes_end;  /* live bytes when the trace stopped */
    uint64_t blocks_end; /* live blocks when the trace stopped */
} rt_cat_live;

/* What mimicmem reported while the trace was open, and what the driver did. */
typedef struct {
    uint64_t peak;         /* largest mm_stats_total(NULL).bytes seen after any call */
    uint64_t process_peak; /* mm_stats_total(NULL).peak_bytes at the stop (equals peak
                              in a process that allocated nothing before rt_run) */
    uint64_t allocs;       /* mm_stats_total(NULL).allocs gained while traced */
    uint64_t frees;        /* .frees gained while traced */
    uint64_t bytes_end;    /* live bytes when the trace stopped */
    uint64_t blocks_end;   /* live blocks when the trace stopped */
    rt_cat_live cat[RT_NCAT];
    size_t reallocs;       /* successful reallocs of a live block (R lines expected) */
    size_t forests;        /* top-level contexts created or reset (F lines expected) */
    size_t zero_reallocs;  /* reallocs to 0 among them */
    size_t calls;          /* API calls made */
    size_t failed;         /* calls that failed as intended (errors, limits) */
} rt_live;

typedef struct {
    rt_block blocks[RT_MAX_BLOCKS];
    size_t nblocks;
    mm_context *ctx[RT_MAX_CTX];
    int parent[RT_MAX_CTX]; /* index of the parent, -1 top level */
    size_t nctx;
    int errors;             /* error handler calls */
} rt_state;

static rt_state rt_st;

static void rt_error_handler(const mm_error *e, void *user)
{
    (void)e;
    (void)user;
    rt_st.errors++;
}

static void rt_log_handler(mm_log_level level, const char *message, void *user)
{
    (void)level;
    (void)message;
    (void)user;
}

/* ---- input -------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} rt_reader;

static uint8_t rt_u8(rt_reader *r) { return r->pos < r->size ? r->data[r->pos++] : 0; }

/* A size: mostly small, some medium, one in eight around 256 KiB (the
 * largest carved context block, MMI_SMALL_MAX: above it a context block is a
 * big block of its own), so reallocs cross that line both ways. */
static size_t rt_size(rt_reader *r)
{
    uint8_t a = rt_u8(r), b = rt_u8(r);
    switch (a >> 5) {
    case 0: case 1: case 2: return a & 7u ? b : 0; /* 0 .. 255, 0 one time in 8 */
    case 3: case 4: case 5: return (size_t)b * 16u + (a & 15u); /* up to 4 KiB */
    case 6: return (size_t)b * 256u + (a & 31u);                /* up to 64 KiB */
    default: return (size_t)252 * 1024 + (size_t)b * 256u + (a & 31u); /* 252 .. 316 KiB */
    }
}

static mm_category rt_cat_id(int k) { return mm_category_find(rt_cat_names[k]); }

/* ---- bookkeeping -------------------------------------------------------- */

static void rt_add(void *p, size_t size, int cat, int ctx)
{
    rt_block *b = &rt_st.blocks[rt_st.nblocks++];
    b->p = p;
    b->size = size;
    b->cat = cat;
    b->ctx = ctx;
}

static void rt_remove(size_t i) { rt_st.blocks[i] = rt_st.blocks[--rt_st.nblocks]; }

/* 1 when context c is k or below k. */
static int rt_under(int c, int k)
{
    for (; c >= 0; c = rt_st.parent[c])
        if (c == k) return 1;
    return 0;
}

/* Forgets the blocks of k's subtree, and its contexts (k itself too when
 * with_k); the indices of the contexts kept are renumbered. */
static void rt_drop_subtree(int k, int with_k)
{
    for (size_t i = rt_st.nblocks; i-- > 0;)
        if (rt_st.blocks[i].ctx >= 0 && rt_under(rt_st.blocks[i].ctx, k)) rt_remove(i);
    int map[RT_MAX_CTX];
    size_t n = 0;
    for (size_t c = 0; c < rt_st.nctx; c++) {
        int gone = rt_under((int)c, k) && ((int)c != k || with_k);
        map[c] = gone ? -1 : (int)n;
        if (!gone) n++;
    }
    for (size_t c = 0; c < rt_st.nctx; c++) {
        if (map[c] < 0) continue;
        int p = rt_st.parent[c];
        rt_st.ctx[map[c]] = rt_st.ctx[c];
        rt_st.parent[map[c]] = p >= 0 ? map[p] : -1;
    }
    rt_st.nctx = n;
    for (size_t i = 0; i < rt_st.nblocks; i++)
        if (rt_st.blocks[i].ctx >= 0) rt_st.blocks[i].ctx = map[rt_st.blocks[i].ctx];
}

static void rt_sample(rt_live *l, const mm_stats *base, const mm_stats base_cat[RT_NCAT])
{
    mm_stats t = mm_stats_total(NULL);
    uint64_t live = t.bytes - base->bytes;
    if (live > l->peak) l->peak = live;
    for (int k = 0; k < RT_NCAT; k++) {
        uint64_t b = mm_stats_category(NULL, l->cat[k].id).bytes - base_cat[k].bytes;
        if (b > l->cat[k].peak) l->cat[k].peak = b;
    }
}

/* ---- the run -------------------------------------------------------------- */

/* One call decoded from r. */
static void rt_step(rt_reader *r, rt_live *l)
{
    uint8_t op = rt_u8(r) % 22;
    int full = rt_st.nblocks >= RT_MAX_BLOCKS;
    if (full && (op <= 4 || op == 9 || op >= 20)) op = 10; /* a free instead */
    size_t pick = rt_st.nblocks ? rt_u8(r) % rt_st.nblocks : 0;
    rt_block *b = rt_st.nblocks ? &rt_st.blocks[pick] : NULL;
    int cat = rt_u8(r) % RT_NCAT;
    int ctx = rt_st.nctx ? (int)(rt_u8(r) % rt_st.nctx) : -1;
    int errors = rt_st.errors;
    void *p = NULL;
    l->calls++;
    switch (op) {
    case 0: case 1: case 2: /* malloc, process or context */
        if (full) break;
        {
            size_t n = rt_size(r);
            int in_ctx = op == 2 && ctx >= 0;
            p = in_ctx ? mm_context_malloc(rt_st.ctx[ctx], n, rt_cat_id(cat))
                       : mm_malloc(n, rt_cat_id(cat));
            if (p) rt_add(p, n, cat, in_ctx ? ctx : -1);
        }
        break;
    case 3: /* calloc */
        if (full) break;
        {
            size_t n = rt_u8(r) % 9, s = rt_u8(r);
            int in_ctx = ctx >= 0 && (rt_u8(r) & 1);
            p = in_ctx ? mm_context_calloc(rt_st.ctx[ctx], n, s, rt_cat_id(cat))
                       : mm_calloc(n, s, rt_cat_id(cat));
            if (p) rt_add(p, n * s, cat, in_ctx ? ctx : -1);
        }
        break;
    case 4: /* strdup */
        if (full) break;
        {
            static const char text[] = "a string of forty-seven bytes, more or less ok";
            const char *s = text + rt_u8(r) % sizeof text;
            int in_ctx = ctx >= 0 && (rt_u8(r) & 1);
            p = in_ctx ? mm_context_strdup(rt_st.ctx[ctx], s, rt_cat_id(cat))
                       : mm_strdup(s, rt_cat_id(cat));
            if (p) rt_add(p, strlen(s) + 1, cat, in_ctx ? ctx : -1);
        }
        break;
    case 5: case 6: /* realloc, keeping the category */
        if (!b) break;
        {
            size_t n = rt_size(r);
            p = mm_realloc(b->p, n);
            if (p) {
                b->p = p;
                b->size = n;
                l->reallocs++;
                l->zero_reallocs += n == 0;
            }
        }
        break;
    case 7: /* realloc_cat: a new category, or the same */
        if (!b) break;
        {
            size_t n = rt_size(r);
            p = mm_realloc_cat(b->p, n, rt_cat_id(cat));
            if (p) {
                b->p = p;
                b->size = n;
                b->cat = cat;
                l->reallocs++;
                l->zero_reallocs += n == 0;
            }
        }
        break;
    case 8: /* realloc to 0: a live zero-size block */
        if (!b) break;
        {
            int keep = rt_u8(r) & 1;
            p = keep ? mm_realloc(b->p, 0) : mm_realloc_cat(b->p, 0, rt_cat_id(cat));
            if (p) {
                b->p = p;
                b->size = 0;
                if (!keep) b->cat = cat;
                l->reallocs++;
                l->zero_reallocs++;
            }
        }
        break;
    case 9: /* realloc(NULL, n): an allocation */
        if (full) break;
        {
            size_t n = rt_size(r);
            int with_cat = rt_u8(r) & 1;
            p = with_cat ? mm_realloc_cat(NULL, n, rt_cat_id(cat)) : mm_realloc(NULL, n);
            if (p) rt_add(p, n, with_cat ? cat : 0, -1);
        }
        break;
    case 10: case 11: case 12: /* free */
        if (!b) {
            mm_free(NULL);
            break;
        }
        mm_free(b->p);
        rt_remove(pick);
        break;
    case 13: /* a context: top level or a child */
        if (rt_st.nctx >= RT_MAX_CTX) break;
        {
            int parent = (rt_u8(r) & 1) ? ctx : -1;
            mm_context *c = mm_context_create("rt", parent >= 0 ? rt_st.ctx[parent] : NULL);
            if (c == NULL) break;
            rt_st.ctx[rt_st.nctx] = c;
            rt_st.parent[rt_st.nctx] = parent;
            rt_st.nctx++;
            l->forests += parent < 0;
        }
        break;
    case 14: /* reset: frees the context's blocks, destroys its children */
        if (ctx < 0) break;
        l->forests += rt_st.parent[ctx] < 0;
        mm_context_reset(rt_st.ctx[ctx]);
        rt_drop_subtree(ctx, 0);
        break;
    case 15: /* destroy */
        if (ctx < 0) break;
        mm_context_destroy(rt_st.ctx[ctx]);
        rt_drop_subtree(ctx, 1);
        break;
    case 16: /* checking mode */
        mm_set_check((mm_check_mode)(rt_u8(r) % 4));
        break;
    case 17: /* sites */
        mm_set_sites(rt_u8(r) & 1);
        break;
    case 18: /* a limit near the current use (so some calls fail), or none */
        {
            uint8_t v = rt_u8(r);
            size_t now = mm_stats_total(NULL).bytes;
            size_t lim = v < 128 ? 0 : now + (size_t)(v - 128) * 512u + 1;
            if (v & 1)
                mm_limit_set(NULL, MM_CAT_INVALID, lim);
            else
                mm_limit_set(NULL, rt_cat_id(cat), lim);
        }
        break;
    case 19: /* calls that must fail and write nothing */
        switch (rt_u8(r) % 3) {
        case 0: p = mm_malloc((size_t)1 << 62, rt_cat_id(cat)); break;
        case 1: p = mm_calloc(SIZE_MAX / 2, 4, rt_cat_id(cat)); break;
        default: p = b ? mm_realloc(b->p, (size_t)1 << 62) : NULL; break;
        }
        if (p != NULL) {
            fprintf(stderr, "roundtrip: an impossible call returned a block\n");
            abort();
        }
        break;
    default: /* 20, 21: zero-size allocation */
        if (full) break;
        p = ctx >= 0 && op == 21 ? mm_context_malloc(rt_st.ctx[ctx], 0, rt_cat_id(cat))
                                 : mm_malloc(0, rt_cat_id(cat));
        if (p) rt_add(p, 0, cat, ctx >= 0 && op == 21 ? ctx : -1);
        break;
    }
    l->failed += rt_st.errors != errors;
}

/* Frees everything rt_run left and turns every mode it may have set off. */
static void rt_cleanup(void)
{
    for (size_t i = 0; i < rt_st.nblocks; i++)
        if (rt_st.blocks[i].ctx < 0) mm_free(rt_st.blocks[i].p);
    for (size_t c = 0; c < rt_st.nctx; c++)
        if (rt_st.parent[c] < 0) mm_context_destroy(rt_st.ctx[c]);
    rt_st.nblocks = 0;
    rt_st.nctx = 0;
    mm_set_check(MM_CHECK_OFF);
    mm_set_sites(0);
    mm_limit_set(NULL, MM_CAT_INVALID, 0);
    for (int k = 0; k < RT_NCAT; k++) mm_limit_set(NULL, rt_cat_id(k), 0);
}

/* Runs the calls of data (each call reads a few bytes; an input shorter than
 * that repeats zeros) traced to trace_path, fills *l, then frees everything
 * after the trace has stopped, so blocks live at the stop stay in the trace
 * as never freed. Installs its own error and log handlers. Returns 0, or -1
 * when the trace cannot be opened. */
static int rt_run(const uint8_t *data, size_t size, const char *trace_path, rt_live *l)
{
    memset(l, 0, sizeof *l);
    memset(&rt_st, 0, sizeof rt_st);
    mm_set_error_handler(rt_error_handler, NULL);
    mm_set_log_handler(rt_log_handler, NULL);
    for (int k = 0; k < RT_NCAT; k++) {
        l->cat[k].id = mm_category_register(rt_cat_names[k], "Roundtrip");
        if (l->cat[k].id == MM_CAT_INVALID) return -1;
    }
    mm_stats base = mm_stats_total(NULL), base_cat[RT_NCAT];
    for (int k = 0; k < RT_NCAT; k++) base_cat[k] = mm_stats_category(NULL, l->cat[k].id);
    if (mm_trace_start(trace_path) != 0) return -1;
    rt_reader r = {data, size, 0};
    while (r.pos < r.size) {
        rt_step(&r, l);
        rt_sample(l, &base, base_cat);
    }
    mm_stats t = mm_stats_total(NULL);
    mm_trace_stop();
    l->process_peak = t.peak_bytes;
    l->allocs = t.allocs - base.allocs;
    l->frees = t.frees - base.frees;
    l->bytes_end = t.bytes - base.bytes;
    l->blocks_end = t.blocks - base.blocks;
    for (int k = 0; k < RT_NCAT; k++) {
        mm_stats c = mm_stats_category(NULL, l->cat[k].id);
        l->cat[k].allocs = c.allocs - base_cat[k].allocs;
        l->cat[k].bytes_end = c.bytes - base_cat[k].bytes;
        l->cat[k].blocks_end = c.blocks - base_cat[k].blocks;
    }
    rt_cleanup();
    return 0;
}

/* ---- verification --------------------------------------------------------- */

static int rt_why(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* The name a category has in a trace: bytes up to space and control
 * characters written as '_' (src/diag/trace.c). */
static void rt_trace_name(const char *name, char *out, size_t len)
{
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[i] = ch <= 0x20 || ch == 0x7f ? '_' : name[i];
    }
    out[i] = '\0';
}

#define RT_SAME(what, model, live)                                                               \
    do {                                                                                         \
        if ((uint64_t)(model) != (uint64_t)(live))                                               \
            return rt_why(why, whylen, "%s: the trace's model says %llu, mimicmem said %llu",    \
                          (what), (unsigned long long)(model), (unsigned long long)(live));      \
    } while (0)

static int rt_compare(const mmr_summary *s, const rt_live *l, char *why, size_t whylen)
{
    RT_SAME("peak bytes", s->peak_bytes, l->peak);
    RT_SAME("allocations", s->allocs, l->allocs);
    RT_SAME("frees", s->frees, l->frees);
    RT_SAME("reallocs", s->reallocs, l->reallocs);
    RT_SAME("forests (F lines)", s->forests, l->forests);
    RT_SAME("live blocks at the stop", s->live_blocks_at_end, l->blocks_end);
    RT_SAME("live bytes at the stop", s->live_bytes_at_end, l->bytes_end);
    size_t matched = 0;
    for (int k = 0; k < RT_NCAT; k++) {
        const rt_cat_live *c = &l->cat[k];
        char tn[MM_NAME_MAX + 1], what[128];
        rt_trace_name(rt_cat_names[k], tn, sizeof tn);
        mm_category id = mm_category_find(tn);
        const mmr_category *mc = NULL;
        for (size_t i = 0; id != MM_CAT_INVALID && i < s->ncategories; i++)
            if (s->categories[i].category == id) mc = &s->categories[i];
        if (mc == NULL) {
            /* a category the trace never names: nothing happened in it */
            snprintf(what, sizeof what, "%s (absent from the trace): allocations", tn);
            RT_SAME(what, 0, c->allocs);
            snprintf(what, sizeof what, "%s (absent from the trace): peak", tn);
            RT_SAME(what, 0, c->peak);
            continue;
        }
        matched++;
        snprintf(what, sizeof what, "category %s: peak", tn);
        RT_SAME(what, mc->peak_bytes, c->peak);
        snprintf(what, sizeof what, "category %s: allocations", tn);
        RT_SAME(what, mc->allocs, c->allocs);
        snprintf(what, sizeof what, "category %s: bytes at the stop", tn);
        RT_SAME(what, mc->bytes_at_end, c->bytes_end);
        snprintf(what, sizeof what, "category %s: blocks at the stop", tn);
        RT_SAME(what, mc->blocks_at_end, c->blocks_end);
    }
    RT_SAME("categories in the trace", s->ncategories, matched);
    return 0;
}

/* Loads trace_path, compares it with l and replays it through the three
 * allocators: mimicmem's figures must move by the trace's, and the malloc
 * replay must not free anything twice (ASan, Valgrind or glibc abort). On a
 * difference writes it to why and returns -1. */
static int rt_verify(const char *trace_path, const rt_live *l, char *why, size_t whylen)
{
    trace t;
    char err[512];
    if (trace_load(trace_path, &t, err, sizeof err) != 0)
        return rt_why(why, whylen, "the trace does not load: %s", err);
    mmr_summary s;
    if (mmr_analyse(&t, &s) != 0) {
        trace_free(&t);
        return rt_why(why, whylen, "the trace cannot be analysed");
    }
    int rc = rt_compare(&s, l, why, whylen);
    void **slots = calloc(t.nblocks ? t.nblocks : 1, sizeof *slots);
    if (rc == 0 && slots == NULL) rc = rt_why(why, whylen, "out of memory");
    if (rc == 0) {
        replay_malloc(&t, slots);
        mm_stats before = mm_stats_total(NULL);
        replay_mm(&t, slots);
        mm_stats after = mm_stats_total(NULL);
        if (after.allocs - before.allocs != s.allocs || after.frees - before.frees != s.allocs ||
            after.bytes != before.bytes)
            rc = rt_why(why, whylen,
                        "the mimicmem replay made %llu allocations and %llu frees and left %lld "
                        "bytes; the trace has %zu allocations",
                        (unsigned long long)(after.allocs - before.allocs),
                        (unsigned long long)(after.frees - before.frees),
                        (long long)after.bytes - (long long)before.bytes, s.allocs);
    }
    if (rc == 0 && replay_legacy(&t, slots) != 0)
        rc = rt_why(why, whylen, "the legacy table replay failed");
    if (rc == 0 && legacy_block_count() != 0)
        rc = rt_why(why, whylen, "the legacy table replay left %zu blocks", legacy_block_count());
    free(slots);
    mmr_summary_free(&s);
    trace_free(&t);
    return rc;
}

#endif /* MM_TESTS_ROUNDTRIP_H */
