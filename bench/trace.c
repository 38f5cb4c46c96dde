/* trace.c: reads a Mimic allocation trace into an array of operations, checks
 * it (every R and D names a live block) and marks forest-local blocks, so a
 * benchmark can replay it with nothing but array indexing in the timed part. */
#include "trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#define TRACE_LINE_MAX 256      /* longest accepted line, newline included */
#define TRACE_NO_BLOCK UINT32_MAX
#define TRACE_NAME_CACHE 32     /* registered non-built-in names remembered */

/* What the loader knows about one dense block while reading. */
typedef struct {
    size_t a_op;        /* index of the block's A operation */
    uint64_t size;      /* current requested size, bytes */
    long forest;        /* forest segment of the A (-1: before the first F) */
    int live;           /* not yet freed */
} trace_block;

/* Open-addressing map from a trace id to its current dense block. */
typedef struct {
    uint64_t *keys;     /* trace ids */
    uint32_t *values;   /* dense block numbers; TRACE_NO_BLOCK marks an empty slot */
    size_t cap;         /* slots, a power of two */
    size_t used;        /* occupied slots; kept at or below cap/2 */
} trace_idmap;

typedef struct {
    char name[MM_NAME_MAX + 1]; /* category name as written in the trace */
    mm_category id;             /* its mimicmem id */
} trace_named_cat;

/* Everything trace_load builds, freed on error in one place. */
typedef struct {
    const char *path;           /* for messages */
    unsigned long line;         /* current line number, 1-based */
    char *err;                  /* caller's message buffer */
    size_t errlen;              /* its size */
    trace t;                    /* the result being built */
    size_t ops_cap;             /* capacity of t.ops */
    trace_block *blocks;        /* t.nblocks entries */
    size_t blocks_cap;          /* capacity of blocks */
    trace_idmap map;            /* id -> block */
    trace_named_cat names[TRACE_NAME_CACHE]; /* non-built-in categories seen */
    size_t nnames;              /* entries of names */
    long forest;                /* current forest segment (-1 before the first F) */
    size_t live_blocks;         /* blocks live now */
    uint64_t live_bytes;        /* requested bytes live now */
} trace_loader;

static int trace_fail(trace_loader *ld, const char *fmt, ...)
{
    if (ld->err != NULL && ld->errlen > 0) {
        char what[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        if (ld->line > 0) {
            snprintf(ld->err, ld->errlen, "%s:%lu: %s", ld->path, ld->line, what);
        } else {
            snprintf(ld->err, ld->errlen, "%s: %s", ld->path, what);
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Id map
 * ---------------------------------------------------------------------- */

static size_t trace_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static int trace_map_grow(trace_idmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *values = malloc(cap * sizeof *values);
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < cap; i++) {
        values[i] = TRACE_NO_BLOCK;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->values[i] != TRACE_NO_BLOCK) {
            size_t j = trace_hash(m->keys[i], cap);
            while (values[j] != TRACE_NO_BLOCK) {
                j = (j + 1) & (cap - 1);
            }
            keys[j] = m->keys[i];
            values[j] = m->values[i];
        }
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return 0;
}

/* Slot of id, or of the empty slot where it would go. */
static size_t trace_map_slot(const trace_idmap *m, uint64_t id)
{
    size_t j = trace_hash(id, m->cap);
    while (m->values[j] != TRACE_NO_BLOCK && m->keys[j] != id) {
        j = (j + 1) & (m->cap - 1);
    }
    return j;
}

static uint32_t trace_map_get(const trace_idmap *m, uint64_t id)
{
    if (m->cap == 0) {
        return TRACE_NO_BLOCK;
    }
    return m->values[trace_map_slot(m, id)];
}

static int trace_map_put(trace_idmap *m, uint64_t id, uint32_t block)
{
    if ((m->used + 1) * 2 > m->cap && trace_map_grow(m) != 0) {
        return -1;
    }
    size_t j = trace_map_slot(m, id);
    if (m->values[j] == TRACE_NO_BLOCK) {
        m->used++;
        m->keys[j] = id;
    }
    m->values[j] = block;
    return 0;
}

/* ------------------------------------------------------------------------
 * Line parsing
 * ---------------------------------------------------------------------- */

/* Next whitespace-separated token of *s (NUL-terminated in place), or NULL. */
static char *trace_token(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
        p++;
    }
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    char *start = p;
    while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
        p++;
    }
    if (*p != '\0') {
        *p++ = '\0';
    }
    *s = p;
    return start;
}

static int trace_number(trace_loader *ld, const char *tok, const char *what, uint64_t *out)
{
    if (tok == NULL) {
        return trace_fail(ld, "truncated line: missing %s", what);
    }
    if (*tok < '0' || *tok > '9') {
        return trace_fail(ld, "bad %s '%s'", what, tok);
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(tok, &end, 10);
    if (errno != 0 || *end != '\0') {
        return trace_fail(ld, "bad %s '%s'", what, tok);
    }
    *out = (uint64_t)v;
    return 0;
}

static int trace_category(trace_loader *ld, const char *name, int16_t *out)
{
    static const char *const builtin[MM_CAT_BUILTIN_COUNT] = {
        "Unknown", "Galaxies", "Halos", "Trees", "IO", "Utility"};
    if (name == NULL) {
        return trace_fail(ld, "truncated line: missing category");
    }
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        if (strcmp(name, builtin[c]) == 0) {
            *out = (int16_t)c;
            return 0;
        }
    }
    for (size_t i = 0; i < ld->nnames; i++) {
        if (strcmp(name, ld->names[i].name) == 0) {
            *out = (int16_t)ld->names[i].id;
            return 0;
        }
    }
    if (strlen(name) > MM_NAME_MAX) {
        return trace_fail(ld, "category name longer than %d bytes", MM_NAME_MAX);
    }
    mm_category id = mm_category_register(name, "Trace");
    if (id == MM_CAT_INVALID || id > INT16_MAX) {
        return trace_fail(ld, "cannot register category '%s'", name);
    }
    if (ld->nnames < TRACE_NAME_CACHE) {
        strcpy(ld->names[ld->nnames].name, name);
        ld->names[ld->nnames].id = id;
        ld->nnames++;
    }
    *out = (int16_t)id;
    return 0;
}

static trace_op *trace_push(trace_loader *ld)
{
    if (ld->t.nops == ld->ops_cap) {
        size_t cap = ld->ops_cap ? ld->ops_cap * 2 : 65536;
        trace_op *ops = realloc(ld->t.ops, cap * sizeof *ops);
        if (ops == NULL) {
            trace_fail(ld, "out of memory");
            return NULL;
        }
        ld->t.ops = ops;
        ld->ops_cap = cap;
    }
    trace_op *op = &ld->t.ops[ld->t.nops++];
    memset(op, 0, sizeof *op);
    return op;
}

/* The live block that trace id names, or NULL after reporting an error. */
static trace_block *trace_live_block(trace_loader *ld, uint64_t id, const char *verb, uint32_t *block)
{
    uint32_t b = trace_map_get(&ld->map, id);
    if (b == TRACE_NO_BLOCK) {
        trace_fail(ld, "%s of unknown id %llu", verb, (unsigned long long)id);
        return NULL;
    }
    if (!ld->blocks[b].live) {
        trace_fail(ld, "%s of id %llu, which was already freed", verb, (unsigned long long)id);
        return NULL;
    }
    *block = b;
    return &ld->blocks[b];
}

static int trace_parse_alloc(trace_loader *ld, char **rest)
{
    uint64_t id = 0, size = 0;
    int16_t cat = 0;
    if (trace_number(ld, trace_token(rest), "id", &id) != 0 ||
        trace_number(ld, trace_token(rest), "size", &size) != 0 ||
        trace_category(ld, trace_token(rest), &cat) != 0) {
        return -1;
    }
    uint32_t old = trace_map_get(&ld->map, id);
    if (old != TRACE_NO_BLOCK && ld->blocks[old].live) {
        return trace_fail(ld, "allocation of id %llu, which is live", (unsigned long long)id);
    }
    if (ld->t.nblocks >= TRACE_NO_BLOCK) {
        return trace_fail(ld, "too many blocks");
    }
    if (ld->t.nblocks == ld->blocks_cap) {
        size_t cap = ld->blocks_cap ? ld->blocks_cap * 2 : 65536;
        trace_block *blocks = realloc(ld->blocks, cap * sizeof *blocks);
        if (blocks == NULL) {
            return trace_fail(ld, "out of memory");
        }
        ld->blocks = blocks;
        ld->blocks_cap = cap;
    }
    uint32_t b = (uint32_t)ld->t.nblocks;
    if (trace_map_put(&ld->map, id, b) != 0) {
        return trace_fail(ld, "out of memory");
    }
    trace_op *op = trace_push(ld);
    if (op == NULL) {
        return -1;
    }
    op->op = 'A';
    op->block = b;
    op->size = size;
    op->category = cat;
    ld->blocks[b].a_op = ld->t.nops - 1;
    ld->blocks[b].size = size;
    ld->blocks[b].forest = ld->forest;
    ld->blocks[b].live = 1;
    ld->t.nblocks++;
    ld->t.nallocs++;
    ld->live_blocks++;
    ld->live_bytes += size;
    if (ld->live_blocks > ld->t.max_live_blocks) {
        ld->t.max_live_blocks = ld->live_blocks;
    }
    if (ld->live_bytes > ld->t.peak_bytes) {
        ld->t.peak_bytes = ld->live_bytes;
    }
    return 0;
}

static int trace_parse_realloc(trace_loader *ld, char **rest)
{
    uint64_t id = 0, size = 0;
    int16_t cat = 0;
    uint32_t b = 0;
    if (trace_number(ld, trace_token(rest), "id", &id) != 0 ||
        trace_number(ld, trace_token(rest), "size", &size) != 0 ||
        trace_category(ld, trace_token(rest), &cat) != 0) {
        return -1;
    }
    trace_block *blk = trace_live_block(ld, id, "realloc", &b);
    if (blk == NULL) {
        return -1;
    }
    trace_op *op = trace_push(ld);
    if (op == NULL) {
        return -1;
    }
    op->op = 'R';
    op->block = b;
    op->size = size;
    op->category = cat;
    ld->live_bytes = ld->live_bytes - blk->size + size;
    blk->size = size;
    ld->t.nreallocs++;
    if (ld->live_bytes > ld->t.peak_bytes) {
        ld->t.peak_bytes = ld->live_bytes;
    }
    return 0;
}

static int trace_parse_free(trace_loader *ld, char **rest)
{
    uint64_t id = 0;
    uint32_t b = 0;
    if (trace_number(ld, trace_token(rest), "id", &id) != 0) {
        return -1;
    }
    trace_block *blk = trace_live_block(ld, id, "free", &b);
    if (blk == NULL) {
        return -1;
    }
    trace_op *op = trace_push(ld);
    if (op == NULL) {
        return -1;
    }
    op->op = 'D';
    op->block = b;
    if (blk->forest >= 0 && blk->forest == ld->forest) {
        op->flags = TRACE_FOREST_LOCAL;
        ld->t.ops[blk->a_op].flags = TRACE_FOREST_LOCAL;
        ld->t.nlocal++;
    }
    blk->live = 0;
    ld->t.nfrees++;
    ld->live_blocks--;
    ld->live_bytes -= blk->size;
    return 0;
}

static int trace_parse_forest(trace_loader *ld, char **rest)
{
    uint64_t index = 0;
    if (trace_number(ld, trace_token(rest), "forest index", &index) != 0) {
        return -1;
    }
    if (index > UINT32_MAX) {
        return trace_fail(ld, "forest index %llu too large", (unsigned long long)index);
    }
    trace_op *op = trace_push(ld);
    if (op == NULL) {
        return -1;
    }
    op->op = 'F';
    op->block = (uint32_t)index;
    ld->forest = (long)ld->t.nforests;
    ld->t.nforests++;
    return 0;
}

static int trace_parse_line(trace_loader *ld, char *line)
{
    char *rest = line;
    char *op = trace_token(&rest);
    if (op == NULL || op[0] == '#') {
        return 0; /* blank line or comment */
    }
    int status;
    if (op[1] != '\0') {
        return trace_fail(ld, "unknown op '%.16s'", op);
    }
    switch (op[0]) {
    case 'A': status = trace_parse_alloc(ld, &rest); break;
    case 'R': status = trace_parse_realloc(ld, &rest); break;
    case 'D': status = trace_parse_free(ld, &rest); break;
    case 'F': status = trace_parse_forest(ld, &rest); break;
    default: return trace_fail(ld, "unknown op '%c'", op[0]);
    }
    if (status == 0) {
        char *extra = trace_token(&rest);
        if (extra != NULL) {
            return trace_fail(ld, "unexpected text '%.16s' after the %c line", extra, op[0]);
        }
    }
    return status;
}

/* ------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */

static int trace_read_all(trace_loader *ld, gzFile in)
{
    char buf[TRACE_LINE_MAX];
    for (;;) {
        /* A filler without NUL bytes shows where gzgets put its terminator,
         * so a NUL byte inside the line is caught instead of hiding the rest. */
        memset(buf, 'x', sizeof buf);
        if (gzgets(in, buf, (int)sizeof buf) == NULL) {
            break;
        }
        ld->line++;
        size_t n = sizeof buf - 1;
        while (n > 0 && buf[n] != '\0') {
            n--;
        }
        if (strlen(buf) != n) {
            return trace_fail(ld, "NUL byte in the line");
        }
        if (n == sizeof buf - 1 && buf[n - 1] != '\n' && !gzeof(in)) {
            return trace_fail(ld, "line longer than %d bytes", TRACE_LINE_MAX - 1);
        }
        if (trace_parse_line(ld, buf) != 0) {
            return -1;
        }
    }
    int zerr = Z_OK;
    const char *msg = gzerror(in, &zerr);
    if (zerr != Z_OK && zerr != Z_STREAM_END) {
        ld->line++;
        return trace_fail(ld, "read error: %s", msg != NULL ? msg : "unknown");
    }
    return 0;
}

int trace_load(const char *path, trace *out, char *err, size_t errlen)
{
    trace_loader ld;
    memset(&ld, 0, sizeof ld);
    ld.path = path != NULL ? path : "(null)";
    ld.err = err;
    ld.errlen = errlen;
    ld.forest = -1;
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    memset(out, 0, sizeof *out);

    gzFile in = path != NULL ? gzopen(path, "rb") : NULL;
    if (in == NULL) {
        return trace_fail(&ld, "cannot open: %s", path != NULL ? strerror(errno) : "no path");
    }
    gzbuffer(in, 1u << 17);
    int status = trace_read_all(&ld, in);
    gzclose(in);

    free(ld.blocks);
    free(ld.map.keys);
    free(ld.map.values);
    if (status != 0) {
        free(ld.t.ops);
        return -1;
    }
    ld.t.live_at_end = ld.live_blocks;
    if (ld.t.nops < ld.ops_cap) {
        trace_op *ops = realloc(ld.t.ops, (ld.t.nops ? ld.t.nops : 1) * sizeof *ops);
        if (ops != NULL) {
            ld.t.ops = ops;
        }
    }
    *out = ld.t;
    return 0;
}

void trace_free(trace *t)
{
    if (t == NULL) {
        return;
    }
    free(t->ops);
    memset(t, 0, sizeof *t);
}
