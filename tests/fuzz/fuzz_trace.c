/* libFuzzer target: the trace reader of the replay benchmark (bench/trace.c).
 * trace_load only reads files, so each input is written to one scratch file
 * per process, loaded, then written again gzip-compressed and loaded again:
 * both loads must agree. A failed load must leave *out empty and name the
 * file in its message; a successful one must be self-consistent (counts, a
 * replay of the operations giving the same peaks, dense block numbers in
 * allocation order, forest-local flags, registered categories, one operation
 * per line that is neither blank nor a comment, no line over 254 bytes).
 * A NUL byte inside a line must make the load fail (regressions/trace has
 * the input that once let such a line through as two). A trace that loads
 * and holds at most 1 MiB live is replayed through raw malloc, mimicmem and
 * the legacy table (bench/replay.c), as mimicmem-replay does: no double free
 * (a zero size is a live block to all three), mimicmem left as it was. */
#define _POSIX_C_SOURCE 200809L

#include <zlib.h>

#include "fuzz_common.h"
#include "legacy_table.h"
#include "replay.h"
#include "trace.h"

/* Largest live bytes a trace may hold to be replayed: a fuzzer's input can
 * ask for any size, a replay really allocates it. */
#define FT_REPLAY_MAX_BYTES ((uint64_t)1 << 20)

static const char *ft_path; /* the scratch file (fz_scratch_file), made once per process */

static void ft_write_plain(const uint8_t *data, size_t size)
{
    FILE *f = fopen(ft_path, "wb");
    FZ_CHECK(f != NULL, "the scratch file %s should open", ft_path);
    FZ_CHECK(fwrite(data, 1, size, f) == size && fclose(f) == 0, "the input should be written");
}

static void ft_write_gzip(const uint8_t *data, size_t size)
{
    gzFile z = gzopen(ft_path, "wb1");
    FZ_CHECK(z != NULL, "the scratch file %s should open for gzip", ft_path);
    FZ_CHECK(size == 0 || gzwrite(z, data, (unsigned)size) == (int)size, "gzwrite should succeed");
    FZ_CHECK(gzclose(z) == Z_OK, "gzclose should succeed");
}

/* Facts about the raw text that a successful load must agree with. */
typedef struct {
    size_t op_lines;     /* lines whose first token does not start with '#' */
    size_t longest;      /* longest line, newline excluded */
    int has_nul;         /* a NUL byte somewhere: the reader must refuse it */
} ft_text;

static int ft_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static ft_text ft_scan(const uint8_t *data, size_t size)
{
    ft_text t = {0, 0, 0};
    size_t i = 0;
    while (i < size) {
        size_t start = i;
        while (i < size && data[i] != '\n') {
            if (data[i] == '\0') t.has_nul = 1;
            i++;
        }
        size_t len = i - start;
        if (len > t.longest) t.longest = len;
        size_t j = start;
        while (j < start + len && ft_space(data[j])) j++;
        if (j < start + len && data[j] != '#') t.op_lines++;
        i++; /* past the newline */
    }
    return t;
}

/* Replays t's operations and checks every figure trace_load reported. */
static void ft_check_trace(const trace *t, const ft_text *text)
{
    FZ_CHECK(t->nops == t->nallocs + t->nreallocs + t->nfrees + t->nforests,
             "nops %zu should be A %zu + R %zu + D %zu + F %zu", t->nops, t->nallocs, t->nreallocs,
             t->nfrees, t->nforests);
    FZ_CHECK(t->nblocks == t->nallocs, "nblocks %zu should equal the A lines %zu", t->nblocks,
             t->nallocs);
    FZ_CHECK(t->live_at_end == t->nallocs - t->nfrees, "live_at_end %zu should be %zu",
             t->live_at_end, t->nallocs - t->nfrees);
    FZ_CHECK(t->nops == 0 || t->ops != NULL, "a trace with operations should have an array");
    FZ_CHECK(!text->has_nul, "a trace holding a NUL byte should be refused");
    FZ_CHECK(t->nops == text->op_lines, "the %zu op lines should give as many ops, not %zu",
             text->op_lines, t->nops);
    FZ_CHECK(text->longest < 255, "a line of %zu bytes should have been refused", text->longest);
    uint8_t *live = calloc(t->nblocks + 1, 1);
    uint64_t *size = calloc(t->nblocks + 1, sizeof *size);
    long *forest = calloc(t->nblocks + 1, sizeof *forest);
    FZ_CHECK(live != NULL && size != NULL && forest != NULL, "the system malloc should do");
    size_t next = 0, nlive = 0, max_live = 0, nlocal = 0, nf = 0;
    uint64_t bytes = 0, peak = 0;
    long seg = -1;
    int ncat = mm_category_count();
    for (size_t i = 0; i < t->nops; i++) {
        const trace_op *op = &t->ops[i];
        switch (op->op) {
        case 'F':
            FZ_CHECK(op->size == 0 && op->category == 0 && op->flags == 0,
                     "op %zu: an F carries only its index", i);
            seg = (long)nf++;
            break;
        case 'A':
            FZ_CHECK(op->block == next, "op %zu: A should get the next dense number %zu, not %u",
                     i, next, op->block);
            FZ_CHECK(op->category >= 0 && op->category < ncat, "op %zu: category %d is not registered",
                     i, op->category);
            live[next] = 1;
            size[next] = op->size;
            forest[next] = seg;
            next++;
            nlive++;
            bytes += op->size;
            break;
        case 'R':
            FZ_CHECK(op->block < next && live[op->block], "op %zu: R of a block that is not live", i);
            FZ_CHECK(op->category >= 0 && op->category < ncat, "op %zu: category %d is not registered",
                     i, op->category);
            FZ_CHECK(op->flags == 0, "op %zu: an R has no flags", i);
            bytes = bytes - size[op->block] + op->size;
            size[op->block] = op->size;
            break;
        case 'D': {
            FZ_CHECK(op->block < next && live[op->block], "op %zu: D of a block that is not live", i);
            int local = forest[op->block] >= 0 && forest[op->block] == seg;
            FZ_CHECK(op->flags == (local ? TRACE_FOREST_LOCAL : 0u), "op %zu: D flags %u, expected %d",
                     i, op->flags, local);
            nlocal += (size_t)local;
            live[op->block] = 0;
            nlive--;
            bytes -= size[op->block];
            break;
        }
        default:
            FZ_CHECK(0, "op %zu: unknown op code %d", i, op->op);
        }
        if (nlive > max_live) max_live = nlive;
        if (bytes > peak) peak = bytes;
    }
    FZ_CHECK(nf == t->nforests && next == t->nblocks, "the F and A counts should match");
    FZ_CHECK(nlocal == t->nlocal, "nlocal %zu should be %zu", t->nlocal, nlocal);
    FZ_CHECK(max_live == t->max_live_blocks, "max_live_blocks %zu should be %zu", t->max_live_blocks,
             max_live);
    FZ_CHECK(peak == t->peak_bytes, "peak_bytes %llu should be %llu",
             (unsigned long long)t->peak_bytes, (unsigned long long)peak);
    /* an A is forest-local exactly when its D is */
    for (size_t i = 0; i < t->nops; i++) {
        const trace_op *op = &t->ops[i];
        if (op->op != 'A') continue;
        int freed_local = 0;
        for (size_t j = i + 1; j < t->nops; j++) {
            if (t->ops[j].op == 'D' && t->ops[j].block == op->block) {
                freed_local = t->ops[j].flags == TRACE_FOREST_LOCAL;
                break;
            }
        }
        FZ_CHECK(op->flags == (freed_local ? TRACE_FOREST_LOCAL : 0u),
                 "op %zu: A flags %u should match its D", i, op->flags);
    }
    free(live);
    free(size);
    free(forest);
}

static int ft_load(trace *t, char *err, size_t errlen)
{
    fz_errors_clear();
    memset(t, 0xa5, sizeof *t); /* trace_load must zero it */
    int rc = trace_load(ft_path, t, err, errlen);
    FZ_CHECK(rc == 0 || rc == -1, "trace_load should return 0 or -1, not %d", rc);
    if (rc != 0) {
        static const trace empty;
        FZ_CHECK(memcmp(t, &empty, sizeof *t) == 0, "a failed load should leave *out empty");
        FZ_CHECK(strncmp(err, ft_path, strlen(ft_path)) == 0 && err[strlen(ft_path)] == ':',
                 "the message \"%s\" should start with the path", err);
    } else {
        FZ_CHECK(err[0] == '\0', "a successful load should leave no message, got \"%s\"", err);
    }
    /* the only errors the library may raise are refused registrations */
    FZ_CHECK(fz_err.count == 0 || fz_err.kind == MM_ERR_REGISTRY_FULL ||
                 fz_err.kind == MM_ERR_BAD_ARGUMENT,
             "trace_load raised an unexpected %s error", mm_error_kind_name(fz_err.kind));
    return rc;
}

/* The three replays of mimicmem-replay on t. The legacy table may fill up
 * (50,000 live blocks), as it does on such a trace in mimicmem-replay. */
static void ft_replay(const trace *t)
{
    if (t->peak_bytes > FT_REPLAY_MAX_BYTES) return;
    void **slots = calloc(t->nblocks ? t->nblocks : 1, sizeof *slots);
    FZ_CHECK(slots != NULL, "the system malloc should do");
    replay_malloc(t, slots);
    mm_stats before = mm_stats_total(NULL);
    replay_mm(t, slots);
    mm_stats after = mm_stats_total(NULL);
    FZ_CHECK(after.bytes == before.bytes && after.allocs - before.allocs == t->nallocs &&
                 after.frees - before.frees == t->nallocs,
             "the mimicmem replay of %zu blocks made %llu allocations, %llu frees, %zu -> %zu "
             "bytes live",
             t->nallocs, (unsigned long long)(after.allocs - before.allocs),
             (unsigned long long)(after.frees - before.frees), before.bytes, after.bytes);
    int rc = replay_legacy(t, slots);
    FZ_CHECK(rc == 0 || t->max_live_blocks > LEGACY_DEFAULT_MAX_BLOCKS,
             "the legacy replay failed with %zu live blocks at most", t->max_live_blocks);
    FZ_CHECK(legacy_block_count() == 0, "the legacy replay left %zu blocks", legacy_block_count());
    free(slots);
}

static int ft_same(const trace *a, const trace *b)
{
    return a->nops == b->nops && a->nblocks == b->nblocks && a->nallocs == b->nallocs &&
           a->nreallocs == b->nreallocs && a->nfrees == b->nfrees && a->nforests == b->nforests &&
           a->nlocal == b->nlocal && a->max_live_blocks == b->max_live_blocks &&
           a->peak_bytes == b->peak_bytes && a->live_at_end == b->live_at_end &&
           (a->nops == 0 || memcmp(a->ops, b->ops, a->nops * sizeof *a->ops) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_path = fz_scratch_file("trace");
    ft_text text = ft_scan(data, size);
    /* an input that is itself gzip data is inflated by the plain load and only
     * unwrapped once by the packed one: its checks are about the bytes zlib
     * produced, which this target does not see */
    int gz_input = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    trace plain, packed;
    char err1[256], err2[256];
    ft_write_plain(data, size);
    int rc1 = ft_load(&plain, err1, sizeof err1);
    if (rc1 == 0 && !gz_input) ft_check_trace(&plain, &text);
    if (rc1 == 0) ft_replay(&plain);

    ft_write_gzip(data, size);
    int rc2 = ft_load(&packed, err2, sizeof err2);
    if (!gz_input && rc1 == 0 && rc2 == 0) {
        FZ_CHECK(ft_same(&plain, &packed), "the gzip copy should load to the same trace");
    } else if (!gz_input) {
        FZ_CHECK(rc1 == rc2 && strcmp(err1, err2) == 0,
                 "the gzip copy should fail the same way: \"%s\" vs \"%s\"", err1, err2);
    }
    trace_free(&plain);
    trace_free(&packed);

    /* a tiny message buffer must still be NUL-terminated, and none at all is fine */
    if (rc1 != 0) {
        ft_write_plain(data, size);
        char small[8];
        trace t;
        FZ_CHECK(trace_load(ft_path, &t, small, sizeof small) == -1 &&
                     memchr(small, '\0', sizeof small) != NULL,
                 "a short message buffer should hold a terminated message");
        FZ_CHECK(trace_load(ft_path, &t, NULL, 0) == -1, "the load should fail without a buffer too");
    }
    return 0;
}
