/* Unit tests for realloc of decorated blocks (src/diag/check.c): under every
 * diagnostics mode a realloc resizes the block where the plain path does (in
 * its slot, or by the system's realloc) and keeps the payload, the guard, the
 * tail (site, trace id) and the figures right; an overrun after a realloc is
 * still found. "Where the plain path does" is observed through what does not
 * depend on the system allocator: a context block that keeps its size class
 * keeps its address, and growing one array in 1 MiB steps does not double the
 * peak resident memory (a copy would hold old and new at once). */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mm_test.h"

/* ========================================================================
 * Modes
 * ====================================================================== */

typedef struct {
    const char *name;    /* for messages */
    mm_check_mode check; /* checking mode */
    int sites;           /* mm_set_sites(1) */
    int trace;           /* a trace to a temporary file */
    int limit;           /* a process limit never reached */
} rd_mode;

static const rd_mode rd_modes[] = {
    {"off", MM_CHECK_OFF, 0, 0, 0},       {"guards", MM_CHECK_GUARDS, 0, 0, 0},
    {"poison", MM_CHECK_POISON, 0, 0, 0}, {"full", MM_CHECK_FULL, 0, 0, 0},
    {"sites", MM_CHECK_OFF, 1, 0, 0},     {"trace", MM_CHECK_OFF, 0, 1, 0},
    {"limit", MM_CHECK_OFF, 0, 0, 1},     {"all of them", MM_CHECK_FULL, 1, 1, 1},
};
#define RD_NMODES (sizeof rd_modes / sizeof rd_modes[0])

#define RD_LIMIT ((size_t)1 << 50) /* 1 PiB: never reached */

static char rd_trace_path[256];
static const char rd_file[] = "test_realloc_diag.c"; /* the file of the _at calls */

static void rd_enter(const rd_mode *m)
{
    mm_set_check(m->check);
    mm_set_sites(m->sites);
    if (m->limit) mm_limit_set(NULL, MM_CAT_INVALID, RD_LIMIT);
    if (m->trace) {
        const char *dir = getenv("TMPDIR");
        snprintf(rd_trace_path, sizeof rd_trace_path, "%s/mm_test_realloc_diag.%ld.trace",
                 dir && *dir ? dir : "/tmp", (long)getpid());
        cr_assert_eq(mm_trace_start(rd_trace_path), 0, "mm_trace_start(%s) should open it",
                     rd_trace_path);
    }
}

static void rd_leave(const rd_mode *m)
{
    mm_trace_stop();
    if (m->trace) remove(rd_trace_path);
    mm_limit_set(NULL, MM_CAT_INVALID, 0);
    mm_set_sites(0);
    mm_set_check(MM_CHECK_OFF);
}

static int rd_guarded(const rd_mode *m)
{
    return m->check == MM_CHECK_GUARDS || m->check == MM_CHECK_FULL;
}

/* Nonzero when the per-thread cache is off: a sanitizer build or a Valgrind
 * run (tools/valgrind.sh sets MIMICMEM_CACHE=0), where the system's realloc
 * is the tool's, which always copies. */
static int rd_cache_off(void)
{
    char buf[64];
    cr_assert_eq(mm_option_get("cache", buf, sizeof buf), 0, "the option \"cache\" should exist");
    return strcmp(buf, "0") == 0;
}

/* The live bytes of the site at (file, line, cat), or SIZE_MAX when none. */
static size_t rd_site_bytes(const char *file, int line, mm_category cat)
{
    mm_site_stats s;
    return mmt_site_find(file, line, cat, &s) ? s.bytes : SIZE_MAX;
}

/* Runs body once under each mode, between rd_enter and rd_leave, with the
 * errors recorded in rec, and expects none left unchecked after each run. */
static void rd_each_mode(void (*body)(const rd_mode *m, mmt_recorder *rec))
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    for (size_t k = 0; k < RD_NMODES; k++) {
        const rd_mode *m = &rd_modes[k];
        rd_enter(m);
        body(m, &rec);
        mmt_expect_no_error(&rec, m->name);
        rd_leave(m);
    }
}

/* ========================================================================
 * A block resized through every boundary keeps its data, guard, tail and
 * figures
 * ====================================================================== */

/* Sizes a process block goes through: small in place and across capacities,
 * small to big (32 KiB), big growing and shrinking, back to small, to 0. */
static const size_t rd_process_sizes[] = {24,      100,     104,    4104,   20000, 40000,
                                          1 << 20, 3 << 20, 2 << 20, 30000, 100,   0,
                                          50};
/* Sizes a context block goes through: in its slot, across classes, small to
 * large (256 KiB), large growing and shrinking, back to small, to 0. */
static const size_t rd_context_sizes[] = {24,       100,     104,    4000,   200000, 300000,
                                          2 << 20,  1 << 20, 100000, 0,      10};

/* Resizes p (allocated at rd_file:line, size sizes[0]) through sizes, in
 * ctx's figures (NULL: the process), checking after every step. Returns the
 * block, of the last size. */
static void *rd_walk(const rd_mode *m, mm_context *ctx, void *p, const size_t *sizes, size_t n,
                     mm_stats base, const char *file, int line)
{
    mm_category cat = MM_CAT_HALOS;
    size_t old = sizes[0];
    size_t peak = base.peak_bytes > base.bytes + old ? base.peak_bytes : base.bytes + old;
    mmt_fill(p, old, 1);
    for (size_t i = 1; i < n; i++) {
        size_t size = sizes[i];
        void *q = mm_realloc(p, size);
        cr_assert_not_null(q, "[%s] mm_realloc(%zu -> %zu) should succeed", m->name, old, size);
        size_t keep = old < size ? old : size;
        cr_expect(mmt_filled(q, keep, (unsigned)i),
                  "[%s] %zu -> %zu: the first %zu bytes should be kept (byte %zu differs)",
                  m->name, old, size, keep, mmt_first_mismatch(q, keep, (unsigned)i));
        cr_expect_eq(mm_validate(q), 1, "[%s] %zu -> %zu: mm_validate should pass", m->name, old,
                     size);
        cr_expect_eq(mm_block_size(q), size, "[%s] %zu -> %zu: the block's size", m->name, old,
                     size);
        cr_expect_eq(mm_block_category(q), cat, "[%s] %zu -> %zu: the block's category", m->name,
                     old, size);
        cr_expect_eq(mm_block_context(q), ctx, "[%s] %zu -> %zu: the block's context", m->name,
                     old, size);
        if (base.bytes + size > peak) peak = base.bytes + size;
        mmt_expect_stats_of(ctx, mm_stats_total(ctx),
                            mmt_stats(base.bytes + size, peak, base.blocks + 1, base.allocs + 1,
                                      base.frees),
                            "[%s] after realloc %zu -> %zu: one live block of %zu bytes",
                            m->name, old, size, size);
        if (m->sites)
            cr_expect_eq(rd_site_bytes(file, line, cat), size,
                         "[%s] %zu -> %zu: the block's site should hold its %zu bytes", m->name,
                         old, size, size);
        mmt_fill(q, size, (unsigned)i + 1);
        p = q;
        old = size;
    }
    return p;
}

/* Writes one byte past the end of p (size bytes) and expects mm_validate and
 * mm_free to find it; restores the canary and frees p. */
static void rd_expect_overrun(const rd_mode *m, mmt_recorder *rec, void *p, size_t size)
{
    unsigned char *b = p;
    unsigned char keep = b[size];
    b[size] ^= 0x11;
    cr_expect_eq(mm_validate(p), 0, "[%s] an overrun of a block of %zu bytes after a realloc "
                 "should fail mm_validate", m->name, size);
    mm_free(p);
    cr_expect_eq(rec->count, 1, "[%s] the free of the overrun block should report one error",
                 m->name);
    cr_expect_eq(rec->kind, MM_ERR_OVERRUN, "[%s] the error should be an overrun: %s", m->name,
                 rec->message);
    mmt_recorder_clear(rec);
    b[size] = keep;
    cr_expect_eq(mm_validate(p), 1, "[%s] the canary restored, the block is whole", m->name);
    mm_free(p);
}

static void rd_process_block_body(const rd_mode *m, mmt_recorder *rec)
{
    mm_stats base = mm_stats_total(NULL);
    size_t n = sizeof rd_process_sizes / sizeof rd_process_sizes[0];
    int line = __LINE__ + 1;
    void *p = mm_malloc_at(rd_process_sizes[0], MM_CAT_HALOS, rd_file, line);
    cr_assert_not_null(p, "[%s] mm_malloc_at should succeed", m->name);
    p = rd_walk(m, NULL, p, rd_process_sizes, n, base, rd_file, line);
    if (rd_guarded(m)) { /* and once more over a big block grown in place */
        p = mm_realloc(p, (size_t)5 << 20);
        cr_assert_not_null(p);
        rd_expect_overrun(m, rec, p, (size_t)5 << 20);
    } else {
        mm_free(p);
    }
    mmt_expect_no_error(rec, m->name);
    cr_expect_eq(mm_check(NULL), 0, "[%s] mm_check should find nothing", m->name);
    mm_stats end = mm_stats_total(NULL);
    cr_expect_eq(end.bytes, base.bytes, "[%s] every byte given back", m->name);
    cr_expect_eq(end.blocks, base.blocks, "[%s] every block given back", m->name);
}

Test(realloc_diag, a_process_block_resized_under_every_mode_stays_whole)
{
    rd_each_mode(rd_process_block_body);
}

static void rd_context_block_body(const rd_mode *m, mmt_recorder *rec)
{
    mm_context *ctx = mm_context_create("resized", NULL);
    cr_assert_not_null(ctx);
    mm_stats base = mm_stats_total(ctx);
    size_t n = sizeof rd_context_sizes / sizeof rd_context_sizes[0];
    int line = __LINE__ + 1;
    void *p = mm_context_malloc_at(ctx, rd_context_sizes[0], MM_CAT_HALOS, rd_file, line);
    cr_assert_not_null(p, "[%s] mm_context_malloc_at should succeed", m->name);
    p = rd_walk(m, ctx, p, rd_context_sizes, n, base, rd_file, line);
    if (rd_guarded(m)) {
        p = mm_realloc(p, 104); /* a small block resized in its slot */
        cr_assert_not_null(p);
        rd_expect_overrun(m, rec, p, 104);
        p = mm_context_malloc(ctx, 1 << 20, MM_CAT_HALOS);
        p = mm_realloc(p, (size_t)3 << 20); /* a large one by the system's realloc */
        cr_assert_not_null(p);
        rd_expect_overrun(m, rec, p, (size_t)3 << 20);
    } else {
        mm_free(p);
    }
    mmt_expect_no_error(rec, m->name);
    cr_expect_eq(mm_check(ctx), 0, "[%s] mm_check should find nothing", m->name);
    cr_expect_eq(mm_stats_total(ctx).bytes, 0, "[%s] every byte given back", m->name);
    mm_context_destroy(ctx); /* rd_each_mode expects no error from it */
}

Test(realloc_diag, a_context_block_resized_under_every_mode_stays_whole)
{
    rd_each_mode(rd_context_block_body);
}

static void rd_realloc_cat_body(const rd_mode *m, mmt_recorder *rec)
{
    (void)rec; /* rd_each_mode expects no error */
    mm_stats halos = mm_stats_category(NULL, MM_CAT_HALOS);
    mm_stats trees = mm_stats_category(NULL, MM_CAT_TREES);
    int line = __LINE__ + 1;
    void *p = mm_malloc_at((size_t)1 << 20, MM_CAT_HALOS, rd_file, line);
    cr_assert_not_null(p);
    mmt_fill(p, (size_t)1 << 20, 7);
    void *q = mm_realloc_cat(p, (size_t)2 << 20, MM_CAT_TREES);
    cr_assert_not_null(q);
    cr_expect(mmt_filled(q, (size_t)1 << 20, 7), "[%s] the data should be kept", m->name);
    cr_expect_eq(mm_validate(q), 1, "[%s] the block should validate", m->name);
    cr_expect_eq(mm_stats_category(NULL, MM_CAT_HALOS).bytes, halos.bytes,
                 "[%s] Halos should have given its bytes back", m->name);
    cr_expect_eq(mm_stats_category(NULL, MM_CAT_TREES).bytes, trees.bytes + ((size_t)2 << 20),
                 "[%s] Trees should hold the block", m->name);
    if (m->sites) {
        cr_expect_eq(rd_site_bytes(rd_file, line, MM_CAT_HALOS), 0,
                     "[%s] the Halos site should be empty", m->name);
        cr_expect_eq(rd_site_bytes(rd_file, line, MM_CAT_TREES), (size_t)2 << 20,
                     "[%s] the same line in Trees should hold the block", m->name);
    }
    mm_free(q);
}

Test(realloc_diag, realloc_cat_moves_the_site_and_the_figures_under_every_mode)
{
    rd_each_mode(rd_realloc_cat_body);
}

/* ========================================================================
 * In place: what can be observed
 * ====================================================================== */

static void rd_same_class_body(const rd_mode *m, mmt_recorder *rec)
{
    (void)rec; /* rd_each_mode expects no error */
    mm_context *ctx = mm_context_create("in place", NULL);
    cr_assert_not_null(ctx);
    /* 97..112 bytes share one class in every mode (a guard and a tail add
     * at most 8 + 16 bytes to both, and they still share one) */
    void *p = mm_context_malloc(ctx, 100, MM_CAT_HALOS);
    cr_assert_not_null(p);
    mmt_fill(p, 100, 3);
    void *q = mm_realloc(p, 104);
    cr_expect_eq(q, p, "[%s] growing 100 -> 104 bytes should stay in the slot", m->name);
    void *r = mm_realloc(q, 97);
    cr_expect_eq(r, p, "[%s] shrinking 104 -> 97 bytes should stay in the slot", m->name);
    cr_expect(mmt_filled(r, 97, 3), "[%s] the data should be kept", m->name);
    cr_expect_eq(mm_validate(r), 1, "[%s] the block should validate", m->name);
    mm_free(r);
    mm_context_destroy(ctx);
}

Test(realloc_diag, a_context_block_that_keeps_its_size_class_keeps_its_address)
{
    rd_each_mode(rd_same_class_body);
}

#define RD_GROW_STEP ((size_t)1 << 20)
#define RD_GROW_STEPS 32

/* Peak resident memory of this process so far, in KiB. */
static long rd_maxrss_kib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
#if defined(__APPLE__)
    return (long)(ru.ru_maxrss / 1024); /* bytes on macOS */
#else
    return (long)ru.ru_maxrss; /* KiB on Linux and the BSDs */
#endif
}

typedef struct {
    const rd_mode *mode; /* modes of the run */
    int copy;            /* grow by mm_malloc + memcpy + mm_free instead (the control) */
} rd_grow_arg;

/* In a child: grows one array to RD_GROW_STEPS MiB in 1 MiB steps, writing
 * each new part, and prints the growth of the peak resident memory. */
static void rd_grow_child(void *arg)
{
    const rd_grow_arg *a = arg;
    rd_enter(a->mode);
    long before = rd_maxrss_kib();
    unsigned char *p = NULL;
    size_t size = 0;
    for (int i = 0; i < RD_GROW_STEPS; i++) {
        size_t next = size + RD_GROW_STEP;
        unsigned char *q;
        if (a->copy) {
            q = mm_malloc(next, MM_CAT_HALOS);
            if (q && p) memcpy(q, p, size);
            mm_free(p);
        } else {
            q = mm_realloc(p, next);
        }
        if (q == NULL) _exit(3);
        memset(q + size, (int)i, RD_GROW_STEP);
        p = q;
        size = next;
    }
    long after = rd_maxrss_kib();
    for (size_t at = 0; at < size; at += RD_GROW_STEP)
        if (p[at] != (unsigned char)(at / RD_GROW_STEP)) _exit(4);
    fprintf(stderr, "grew %ld KiB\n", after - before);
    mm_free(p);
    rd_leave(a->mode);
}

/* The growth of the peak resident memory, in KiB, of one run in a child. */
static long rd_grow_peak(const rd_mode *m, int copy)
{
    rd_grow_arg a = {m, copy};
    mmt_death d;
    mmt_run_child(rd_grow_child, &a, &d);
    cr_assert_eq(d.signal, 0, "[%s] the growing child should not die (signal %d): %s", m->name,
                 d.signal, d.text);
    cr_assert_eq(d.exit_status, 0, "[%s] the growing child should exit 0, not %d: %s", m->name,
                 d.exit_status, d.text);
    long kib = -1;
    const char *at = strstr(d.text, "grew ");
    cr_assert(at != NULL && sscanf(at, "grew %ld KiB", &kib) == 1,
              "[%s] the child should print its growth: %s", m->name, d.text);
    return kib;
}

Test(realloc_diag, growing_one_array_does_not_double_the_peak_resident_memory)
{
    if (rd_cache_off())
        cr_skip_test("sanitizer or Valgrind run: the system's realloc is the tool's, which "
                     "always copies");
    const long final_kib = (long)(RD_GROW_STEPS * RD_GROW_STEP / 1024);
    /* the control: a copy at each step holds the old and the new array at
     * once, so the measure must see about twice the final size */
    long copied = rd_grow_peak(&rd_modes[0], 1);
    cr_assert_gt(copied, final_kib * 17 / 10,
                 "growing by malloc + copy + free should reach ~2x the final %ld KiB, measured "
                 "%ld KiB: the measure does not see what it should",
                 final_kib, copied);
    for (size_t k = 0; k < RD_NMODES; k++) {
        long kib = rd_grow_peak(&rd_modes[k], 0);
        cr_log_info("[%s] the peak resident memory grew by %ld KiB (the copy: %ld KiB)",
                    rd_modes[k].name, kib, copied);
        cr_expect_lt(kib, final_kib * 3 / 2,
                     "[%s] growing one array to %ld KiB by mm_realloc should not hold two copies: "
                     "the peak resident memory grew by %ld KiB",
                     rd_modes[k].name, final_kib, kib);
    }
}
