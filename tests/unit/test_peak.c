/* Unit tests for src/peak.c: the peak composition of the process and of a
 * context is the bytes of every category at the moment of the peak, so it
 * adds up to the peak where per-category peaks (reached at different
 * moments) do not; it names the epoch label and context it happened in, and
 * is recorded only when the peak moves by the step. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_json.h"
#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

/* The categories of the scenarios, in id order. */
static const mm_category peak_cats[] = {MM_CAT_UNKNOWN, MM_CAT_GALAXIES, MM_CAT_HALOS,
                                        MM_CAT_TREES, MM_CAT_IO, MM_CAT_UTILITY};
#define PEAK_NCATS (sizeof peak_cats / sizeof peak_cats[0])

/* Expected composition: bytes per built-in category (indexed by id). */
typedef struct {
    size_t cat[MM_CAT_BUILTIN_COUNT];
} peak_comp;

/* Expects the recorded composition of ctx (NULL: process) to be want: each
 * category's bytes, and the total their sum. */
static void peak_expect_comp(const mm_context *ctx, peak_comp want, const char *what)
{
    size_t sum = 0;
    for (size_t i = 0; i < PEAK_NCATS; i++) {
        mm_category c = peak_cats[i];
        size_t got = mm_peak_composition_category(ctx, c);
        cr_expect_eq(got, want.cat[c], "%s: %s at the peak moment should be %zu bytes, got %zu",
                     what, mm_category_name(c), want.cat[c], got);
        sum += want.cat[c];
    }
    mm_peak_info info;
    cr_expect_eq(mm_peak_composition(ctx, &info), 1, "%s: a composition should be recorded",
                 what);
    cr_expect_eq(info.bytes, sum, "%s: the composition should add up to %zu bytes, got %zu", what,
                 sum, info.bytes);
}

/* Sum of the per-category peaks of ctx (NULL: process). */
static size_t peak_sum_of_peaks(const mm_context *ctx)
{
    size_t sum = 0;
    for (size_t i = 0; i < PEAK_NCATS; i++) sum += mm_stats_category(ctx, peak_cats[i]).peak_bytes;
    return sum;
}

/* Precondition of the process scenarios: each test runs in a process of
 * its own, so the process starts empty. */
static void peak_require_empty_process(void)
{
    mm_stats s = mm_stats_total(NULL);
    cr_assert(s.bytes == 0 && s.peak_bytes == 0 && s.blocks == 0,
              "the test process should start with no mimicmem memory (bytes %zu, peak %zu)",
              s.bytes, s.peak_bytes);
}

/* Allocates in ctx (NULL: process-wide). */
static void *peak_alloc(mm_context *ctx, size_t n, mm_category c)
{
    void *p = ctx ? mm_context_malloc(ctx, n, c) : mm_malloc(n, c);
    cr_assert_not_null(p, "an allocation of %zu bytes in %s should succeed", n,
                       mm_category_name(c));
    return p;
}

/* The scenario of the issue, in ctx (NULL: process-wide), with step 1:
 *
 *   Halos 5000                 live  5000   Halos peaks here
 *   free Halos                 live     0
 *   Galaxies 3000              live  3000
 *   Trees 4000                 live  7000   <- the peak: Galaxies 3000 + Trees 4000
 *   free Trees                 live  3000
 *   IO 2000                    live  5000   IO peaks here
 *
 * Per-category peaks: Halos 5000, Galaxies 3000, Trees 4000, IO 2000; their
 * sum, 14000, is twice the peak. Leaves Galaxies and IO live in out[0..1]. */
static void peak_scenario(mm_context *ctx, void *out[2])
{
    void *h = peak_alloc(ctx, 5000, MM_CAT_HALOS);
    mm_free(h);
    out[0] = peak_alloc(ctx, 3000, MM_CAT_GALAXIES);
    void *t = peak_alloc(ctx, 4000, MM_CAT_TREES);
    mm_free(t);
    out[1] = peak_alloc(ctx, 2000, MM_CAT_IO);
}

static const peak_comp peak_scenario_comp = {{[MM_CAT_GALAXIES] = 3000, [MM_CAT_TREES] = 4000}};

/* ========================================================================
 * Composition adds up to the peak
 * ====================================================================== */

Test(peak, process_composition_adds_up_to_the_peak_unlike_per_category_peaks)
{
    peak_require_empty_process();
    cr_assert_eq(mm_set_peak_step(1), MM_DEFAULT_PEAK_STEP, "the default step should be 1 byte");
    void *live[2];
    peak_scenario(NULL, live);

    mmt_expect_total(5000, 7000, 2, 4, 2, "the scenario leaves 5000 bytes live after a 7000 peak");
    mmt_expect_category(MM_CAT_HALOS, 0, 5000, 0, 1, 1, "Halos peaked at 5000 and was freed");
    mmt_expect_category(MM_CAT_TREES, 0, 4000, 0, 1, 1, "Trees peaked at 4000 and was freed");
    mmt_expect_category(MM_CAT_GALAXIES, 3000, 3000, 1, 1, 0, "Galaxies holds 3000 bytes");
    mmt_expect_category(MM_CAT_IO, 2000, 2000, 1, 1, 0, "IO holds 2000 bytes");

    peak_expect_comp(NULL, peak_scenario_comp, "the process composition");
    mm_peak_info info;
    cr_assert_eq(mm_peak_composition(NULL, &info), 1, "a composition should be recorded");
    cr_expect_eq(info.bytes, 7000, "the composition should equal the 7000-byte peak, got %zu",
                 info.bytes);
    cr_expect_eq(info.peak_bytes, 7000, "the high-water mark should be 7000, got %zu",
                 info.peak_bytes);
    cr_expect_str_eq(info.context, "", "the peak happened outside any context");
    cr_expect_str_eq(info.label, "", "no epoch label is in force outside contexts");
    cr_expect_eq(info.epoch, 0, "outside contexts the epoch index is 0");
    cr_expect_eq(peak_sum_of_peaks(NULL), 14000,
                 "the per-category peaks (Halos 5000, Galaxies 3000, Trees 4000, IO 2000) "
                 "should add up to 14000, not to the peak");
    cr_expect_neq(mm_peak_composition_category(NULL, MM_CAT_HALOS),
                  mm_stats_category(NULL, MM_CAT_HALOS).peak_bytes,
                  "Halos at the peak moment (0) differs from the Halos peak (5000)");
    cr_expect_neq(mm_peak_composition_category(NULL, MM_CAT_IO),
                  mm_stats_category(NULL, MM_CAT_IO).peak_bytes,
                  "IO at the peak moment (0) differs from the IO peak (2000)");
    mm_free(live[0]);
    mm_free(live[1]);
    peak_expect_comp(NULL, peak_scenario_comp, "frees leave the recorded composition alone");
}

Test(peak, context_composition_adds_up_to_its_peak_unlike_per_category_peaks)
{
    mm_set_peak_step(1);
    mm_context *ctx = mmt_context("forest", NULL);
    mm_peak_info info;
    cr_expect_eq(mm_peak_composition(ctx, &info), 0, "a new context has no composition yet");
    cr_expect_eq(info.bytes, 0, "an unrecorded composition reads as 0 bytes");
    void *live[2];
    peak_scenario(ctx, live);

    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(5000, 7000, 2, 4, 2),
                     "the context holds 5000 bytes after a 7000 peak");
    peak_expect_comp(ctx, peak_scenario_comp, "the context composition");
    cr_assert_eq(mm_peak_composition(ctx, &info), 1, "a composition should be recorded");
    cr_expect_eq(info.bytes, 7000, "the context composition should be its 7000-byte peak");
    cr_expect_eq(info.peak_bytes, 7000, "the context high-water mark should be 7000");
    cr_expect_str_eq(info.context, "forest", "the peak happened in context \"forest\"");
    cr_expect_str_eq(info.label, "", "no label was set");
    cr_expect_eq(info.epoch, 0, "the peak happened in the first epoch (index 0)");
    cr_expect_eq(peak_sum_of_peaks(ctx), 14000,
                 "the per-category peaks of the context should add up to 14000");
    mm_context_destroy(ctx);
}

Test(peak, composition_is_taken_at_the_peak_moment_not_at_the_end)
{
    peak_require_empty_process();
    mm_set_peak_step(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    /* Halos 6000 + Trees 1000 = 7000 is the peak; afterwards Halos shrinks
     * and Trees grows, ending at Halos 1000 + Trees 5000 = 6000. */
    void *h = peak_alloc(ctx, 6000, MM_CAT_HALOS);
    void *t = peak_alloc(ctx, 1000, MM_CAT_TREES);
    h = mm_realloc(h, 1000);
    cr_assert_not_null(h, "shrinking Halos to 1000 bytes should succeed");
    t = mm_realloc(t, 5000);
    cr_assert_not_null(t, "growing Trees to 5000 bytes should succeed");
    const peak_comp want = {{[MM_CAT_HALOS] = 6000, [MM_CAT_TREES] = 1000}};
    peak_expect_comp(ctx, want, "the context composition after the shrink and the growth");
    peak_expect_comp(NULL, want, "the process composition after the shrink and the growth");
    mmt_expect_stats(mm_stats_total(ctx), mmt_stats(6000, 7000, 2, 2, 0),
                     "the context ends at 6000 bytes after a 7000 peak");

    /* A realloc that passes the peak records a new composition. */
    t = mm_realloc_cat(t, 7000, MM_CAT_IO);
    cr_assert_not_null(t, "moving the Trees block to IO at 7000 bytes should succeed");
    const peak_comp moved = {{[MM_CAT_HALOS] = 1000, [MM_CAT_IO] = 7000}};
    peak_expect_comp(ctx, moved, "the context composition after a realloc past the peak");
    peak_expect_comp(NULL, moved, "the process composition after a realloc past the peak");
    mm_free(h);
    mm_free(t);
    mm_context_destroy(ctx);
}

/* ========================================================================
 * Where the peak happened: epoch label, context, epoch index
 * ====================================================================== */

/* A forest context with three closed epochs and the fourth labelled
 * "Forest 3", and a module context under it where the peak happens:
 * Halos 2000 + Trees 1000 in the module, Galaxies 500 in the forest. */
typedef struct {
    mm_context *forest;
    mm_context *module;
} peak_forest;

static peak_forest peak_forest_scenario(void)
{
    peak_forest f;
    f.forest = mm_context_create("forest", NULL);
    cr_assert_not_null(f.forest, "mm_context_create should return the forest");
    for (int i = 0; i < 3; i++) {
        char label[32];
        snprintf(label, sizeof label, "Forest %d", i);
        mm_context_set_label(f.forest, label);
        peak_alloc(f.forest, 100, MM_CAT_HALOS); /* small epochs, freed by the reset */
        mm_context_reset(f.forest);
    }
    mm_context_set_label(f.forest, "Forest 3");
    f.module = mm_context_create("cooling", f.forest);
    cr_assert_not_null(f.module, "mm_context_create should return the module");
    peak_alloc(f.forest, 500, MM_CAT_GALAXIES);
    peak_alloc(f.module, 2000, MM_CAT_HALOS);
    peak_alloc(f.module, 1000, MM_CAT_TREES);
    return f;
}

static const peak_comp peak_forest_comp = {
    {[MM_CAT_GALAXIES] = 500, [MM_CAT_HALOS] = 2000, [MM_CAT_TREES] = 1000}};

Test(peak, composition_names_the_epoch_label_in_force_and_the_context)
{
    peak_require_empty_process();
    mm_set_peak_step(1);
    peak_forest f = peak_forest_scenario();
    cr_expect_eq(mm_context_epochs(f.forest).count, 3, "three epochs should be closed");

    mm_peak_info info;
    cr_assert_eq(mm_peak_composition(NULL, &info), 1, "a process composition is recorded");
    cr_expect_eq(info.bytes, 3500, "the process peak is 500 + 2000 + 1000 bytes, got %zu",
                 info.bytes);
    cr_expect_str_eq(info.label, "Forest 3", "the label in force is the forest's");
    cr_expect_str_eq(info.context, "cooling", "the peak was reached by an allocation in cooling");
    cr_expect_eq(info.epoch, 3, "the peak happened in epoch 3 of the forest, got %llu",
                 (unsigned long long)info.epoch);
    peak_expect_comp(NULL, peak_forest_comp, "the process composition in Forest 3");

    cr_assert_eq(mm_peak_composition(f.forest, &info), 1, "the forest has a composition");
    cr_expect_eq(info.bytes, 3500, "the forest's all-time peak is 3500 bytes");
    cr_expect_eq(info.peak_bytes, 3500, "the forest's high-water mark is 3500 bytes");
    cr_expect_str_eq(info.label, "Forest 3", "the forest's composition is labelled Forest 3");
    cr_expect_str_eq(info.context, "cooling", "the forest's peak was reached in cooling");
    cr_expect_eq(info.epoch, 3, "the forest's peak happened in its epoch 3");
    peak_expect_comp(f.forest, peak_forest_comp, "the forest's composition");

    cr_assert_eq(mm_peak_composition(f.module, &info), 1, "the module has a composition");
    cr_expect_eq(info.bytes, 3000, "the module's peak is its own 3000 bytes");
    cr_expect_str_eq(info.label, "Forest 3", "the nearest label up the tree is Forest 3");
    cr_expect_str_eq(info.context, "cooling", "the module's peak happened in itself");
    const peak_comp module = {{[MM_CAT_HALOS] = 2000, [MM_CAT_TREES] = 1000}};
    peak_expect_comp(f.module, module, "the module's composition");
    mm_context_destroy(f.forest);
}

Test(peak, a_smaller_epoch_after_a_reset_keeps_the_earlier_composition)
{
    mm_set_peak_step(1);
    peak_forest f = peak_forest_scenario();
    mm_context_reset(f.forest); /* closes Forest 3, destroys the module */
    mm_context_set_label(f.forest, "Forest 4");
    void *p = peak_alloc(f.forest, 3000, MM_CAT_IO);
    mm_peak_info info;
    cr_assert_eq(mm_peak_composition(f.forest, &info), 1, "the forest has a composition");
    cr_expect_str_eq(info.label, "Forest 3", "Forest 4 (3000 bytes) stayed below the peak");
    cr_expect_eq(info.bytes, 3500, "the composition stays the 3500-byte one");
    peak_expect_comp(f.forest, peak_forest_comp, "the forest's composition after Forest 4");
    mm_free(p);
    p = peak_alloc(f.forest, 4000, MM_CAT_IO);
    cr_assert_eq(mm_peak_composition(f.forest, &info), 1, "the forest has a composition");
    cr_expect_str_eq(info.label, "Forest 4", "4000 bytes in Forest 4 is a new peak");
    cr_expect_str_eq(info.context, "forest", "the new peak happened in the forest itself");
    cr_expect_eq(info.epoch, 4, "the new peak happened in epoch 4");
    const peak_comp want = {{[MM_CAT_IO] = 4000}};
    peak_expect_comp(f.forest, want, "the forest's composition in Forest 4");
    mm_context_destroy(f.forest);
}

/* ========================================================================
 * The step
 * ====================================================================== */

/* With a step of 10000 bytes, in ctx (NULL: process-wide):
 *   Halos 6000                 live  6000   below one step: nothing recorded
 *   Trees 4000                 live 10000   one step: recorded (Halos, Trees)
 *   Galaxies 9999              live 19999   less than a step above: not recorded
 *   free Galaxies, again 9999  live 19999   no new peak
 *   IO 1                       live 20000   a step above the record: recorded */
static void peak_step_scenario(mm_context *ctx)
{
    mm_peak_info info;
    void *h = peak_alloc(ctx, 6000, MM_CAT_HALOS);
    cr_expect_eq(mm_peak_composition(ctx, &info), 0,
                 "6000 bytes is below one step: no composition should be recorded");
    cr_expect_eq(info.bytes, 0, "an unrecorded composition reads as 0 bytes");
    cr_expect_eq(mm_peak_composition_category(ctx, MM_CAT_HALOS), 0,
                 "an unrecorded composition has no Halos bytes");

    void *t = peak_alloc(ctx, 4000, MM_CAT_TREES);
    const peak_comp first = {{[MM_CAT_HALOS] = 6000, [MM_CAT_TREES] = 4000}};
    peak_expect_comp(ctx, first, "the record at one step (10000 bytes)");

    void *g = peak_alloc(ctx, 9999, MM_CAT_GALAXIES);
    peak_expect_comp(ctx, first, "19999 bytes is less than a step above the record");
    cr_assert_eq(mm_peak_composition(ctx, &info), 1, "a composition is recorded");
    cr_expect_eq(info.peak_bytes, 19999, "the high-water mark moved on to 19999 bytes");
    cr_expect(info.peak_bytes < info.bytes + 10000,
              "the high-water mark stays less than a step above the record");
    mm_free(g);
    g = peak_alloc(ctx, 9999, MM_CAT_GALAXIES);
    peak_expect_comp(ctx, first, "returning to the same high-water mark records nothing");

    void *io = peak_alloc(ctx, 1, MM_CAT_IO);
    const peak_comp second = {
        {[MM_CAT_HALOS] = 6000, [MM_CAT_TREES] = 4000, [MM_CAT_GALAXIES] = 9999, [MM_CAT_IO] = 1}};
    peak_expect_comp(ctx, second, "the record one step above the first (20000 bytes)");
    cr_assert_eq(mm_peak_composition(ctx, &info), 1, "a composition is recorded");
    cr_expect_eq(info.bytes, 20000, "the second record is at 20000 bytes");
    cr_expect_eq(info.peak_bytes, 20000, "the high-water mark is 20000 bytes");
    mm_free(h);
    mm_free(t);
    mm_free(g);
    mm_free(io);
}

Test(peak, a_large_step_records_the_process_only_when_the_peak_moves_by_the_step)
{
    peak_require_empty_process();
    cr_expect_eq(mm_set_peak_step(10000), MM_DEFAULT_PEAK_STEP, "the old step was the default");
    peak_step_scenario(NULL);
}

Test(peak, a_large_step_records_a_context_only_when_its_peak_moves_by_the_step)
{
    mm_set_peak_step(10000);
    mm_context *ctx = mm_context_create("forest", NULL);
    peak_step_scenario(ctx);
    mm_context_destroy(ctx);
}

Test(peak, set_peak_step_returns_the_old_step_and_the_option_reads_it)
{
    cr_expect_eq(mm_set_peak_step(4096), MM_DEFAULT_PEAK_STEP, "the old step was the default (1 byte)");
    cr_expect_eq(mm_set_peak_step(1), 4096, "the old step was 4096");
    char buf[32];
    cr_assert_eq(mm_option_get("peak_step", buf, sizeof buf), 0, "option peak_step exists");
    cr_expect_str_eq(buf, "1", "the option should read the step set by mm_set_peak_step");
    cr_expect_eq(mm_option_set("peak_step", "2K"), 0, "peak_step=2K should be accepted");
    cr_expect_eq(mm_set_peak_step(1), 2048, "the option should set the step to 2048 bytes");
}

Test(peak, a_step_of_zero_is_a_bad_argument_and_changes_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_peak_step(1000);
    cr_expect_eq(mm_set_peak_step(0), 1000, "a refused step should return the step in force");
    cr_expect_eq(rec.size, 0, "the error carries no size");
    char phrase[] = "mm_set_peak_step: 0 is not a valid step";
    cr_expect(strstr(rec.message, phrase) != NULL, "the message should say \"%s\", it was: %s",
              phrase, rec.message);
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_set_peak_step(0)");
    cr_expect_eq(mm_set_peak_step(1000), 1000, "the step should still be 1000");
    mmt_expect_no_error(&rec, "a valid step");
}

static void peak_child_zero_step(void *arg)
{
    (void)arg;
    mm_set_peak_step(0);
}

Test(peak, a_step_of_zero_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(peak_child_zero_step, NULL,
                     "mimicmem: bad argument: mm_set_peak_step: 0 is not a valid step", msg);
}

Test(peak, composition_queries_refuse_a_null_out_a_bad_category_and_a_dead_context)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_peak_composition(NULL, NULL), 0, "a NULL out gives 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_peak_composition with out NULL");
    cr_expect_eq(mm_peak_composition_category(NULL, 999), 0, "an unknown category gives 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_peak_composition_category(999)");
    mm_context *ctx = mm_context_create("gone", NULL);
    mm_context_destroy(ctx);
    mm_peak_info info;
    cr_expect_eq(mm_peak_composition(ctx, &info), 0, "a destroyed context gives 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CONTEXT, "mm_peak_composition of a dead context");
    cr_expect_eq(mm_peak_composition_category(ctx, MM_CAT_HALOS), 0, "a dead context gives 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CONTEXT, "mm_peak_composition_category of it");
}

/* ========================================================================
 * Reports
 * ====================================================================== */

/* "Peak <peak>, reached in Forest 3: Halos <2000>, Trees <1000>, Galaxies <500>" */
static void peak_expect_text_line(const char *text, size_t peak, const char *what)
{
    char b[4][32], line[256];
    snprintf(line, sizeof line, "=== Peak Composition ===\nPeak %s, reached in Forest 3: "
                                "Halos %s, Trees %s, Galaxies %s\n",
             mm_format_bytes(peak, b[0], sizeof b[0]), mm_format_bytes(2000, b[1], sizeof b[1]),
             mm_format_bytes(1000, b[2], sizeof b[2]), mm_format_bytes(500, b[3], sizeof b[3]));
    cr_expect(strstr(text, line) != NULL, "%s should contain\n%s\nit was:\n%s", what, line, text);
    snprintf(line, sizeof line, "(bytes of each category at the peak, adding up to it)");
    cr_expect(strstr(text, line) != NULL, "%s should contain \"%s\", it was:\n%s", what, line,
              text);
}

Test(peak, a_report_under_a_larger_step_says_the_composition_may_lag_the_peak)
{
    mm_set_peak_step(10000);
    void *a = mm_malloc(6000, MM_CAT_HALOS), *b = mm_malloc(4000, MM_CAT_TREES);
    mm_free(b); /* the turn: a 10000-byte peak, one step: recorded */
    b = mm_malloc(9000, MM_CAT_TREES);
    mm_free(b); /* a 15000-byte peak, less than a step above: not recorded */
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    char b1[32], b2[32], want[256];
    snprintf(want, sizeof want, "adding up to %s: recorded only when the peak grows by %s, so "
             "from a moment up to that many bytes below the peak)",
             mm_format_bytes(10000, b1, sizeof b1), mm_format_bytes(10000, b2, sizeof b2));
    cr_expect(strstr(text, want) != NULL, "the report should say \"%s\", it was:\n%s", want,
              text);
    free(text);
    mm_free(a);
}

Test(peak, text_report_has_the_peak_reached_in_the_labelled_epoch)
{
    mm_set_peak_step(1);
    peak_forest f = peak_forest_scenario();
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    peak_expect_text_line(text, 3500, "the process report");
    free(text);
    text = mmt_report_string(f.forest, MM_REPORT_TEXT);
    peak_expect_text_line(text, 3500, "the forest's report");
    free(text);
    mm_context_destroy(f.forest);
}

Test(peak, text_report_has_no_composition_before_one_step)
{
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    cr_expect(strstr(text, "Peak Composition") == NULL,
              "an empty process has no composition section, report:\n%s", text);
    free(text);
}

/* Checks the "peak_composition" object of a JSON report. */
static void peak_expect_json(const mm_context *ctx, const char *what)
{
    char *text = mmt_report_string(ctx, MM_REPORT_JSON);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "%s should be valid JSON: %s\n%s", what, err, text);
    const mmt_json *pc = mmt_json_get(doc, "peak_composition");
    cr_assert_not_null(pc, "%s should have \"peak_composition\":\n%s", what, text);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(pc, "bytes"), &v) && v == 3500,
              "%s: peak_composition.bytes should be 3500, got %llu", what, (unsigned long long)v);
    cr_expect(mmt_json_uint(mmt_json_get(pc, "peak_bytes"), &v) && v == 3500,
              "%s: peak_composition.peak_bytes should be 3500, got %llu", what,
              (unsigned long long)v);
    cr_expect(mmt_json_uint(mmt_json_get(pc, "epoch"), &v) && v == 3,
              "%s: peak_composition.epoch should be 3, got %llu", what, (unsigned long long)v);
    cr_expect(mmt_json_string_is(mmt_json_get(pc, "label"), "Forest 3"),
              "%s: peak_composition.label should be \"Forest 3\"", what);
    cr_expect(mmt_json_string_is(mmt_json_get(pc, "context"), "cooling"),
              "%s: peak_composition.context should be \"cooling\"", what);
    const mmt_json *cats = mmt_json_get(pc, "categories");
    cr_assert(cats != NULL && cats->type == MMT_JSON_OBJECT,
              "%s: peak_composition.categories should be an object", what);
    cr_expect_eq(cats->count, 3, "%s: three categories were nonzero at the peak, got %zu", what,
                 cats->count);
    const char *names[] = {"Galaxies", "Halos", "Trees"};
    const uint64_t bytes[] = {500, 2000, 1000};
    for (int i = 0; i < 3; i++) {
        v = 0;
        cr_expect(mmt_json_uint(mmt_json_get(cats, names[i]), &v) && v == bytes[i],
                  "%s: categories.%s should be %llu, got %llu", what, names[i],
                  (unsigned long long)bytes[i], (unsigned long long)v);
    }
    mmt_json_free(doc);
    free(text);
}

Test(peak, json_report_has_the_peak_composition)
{
    mm_set_peak_step(1);
    peak_forest f = peak_forest_scenario();
    peak_expect_json(NULL, "the process JSON report");
    peak_expect_json(f.forest, "the forest's JSON report");
    mm_context_destroy(f.forest);
}

/* ========================================================================
 * The default step: the composition of the real peak, exactly
 * ====================================================================== */

/* 60 forests in a context labelled "Forest N" and reset after each, with a
 * child context per forest: blocks of three categories of seeded random
 * sizes, a third of them freed along the way (each free a turn). The test
 * keeps its own model of every figure, so it knows which forest holds the
 * peak and what was live at that moment; the library must name the same
 * forest, the same bytes per category, adding up to the peak, for the
 * process, the forest context and its child. */
typedef struct {
    size_t now[MM_CAT_BUILTIN_COUNT], at_peak[MM_CAT_BUILTIN_COUNT];
    size_t total, peak;
    int peak_forest;
    const char *where, *where_at_peak; /* context of the last allocation; at the peak */
} peak_model;

static void peak_model_add(peak_model *m, mm_category c, long bytes, int forest)
{
    m->now[c] = (size_t)((long)m->now[c] + bytes);
    m->total = (size_t)((long)m->total + bytes);
    if (m->total > m->peak) {
        m->peak = m->total;
        m->peak_forest = forest;
        m->where_at_peak = m->where;
        memcpy(m->at_peak, m->now, sizeof m->now);
    }
}

static void peak_expect_model(const mm_context *ctx, const peak_model *m, const char *what)
{
    mm_peak_info info;
    cr_assert_eq(mm_peak_composition(ctx, &info), 1, "%s: a composition should exist", what);
    cr_expect_eq(info.peak_bytes, m->peak, "%s: the peak should be %zu bytes, got %zu", what,
                 m->peak, info.peak_bytes);
    cr_expect_eq(info.bytes, m->peak, "%s: under the default step the composition is the peak's "
                 "(%zu bytes), got %zu", what, m->peak, info.bytes);
    char label[32];
    snprintf(label, sizeof label, "Forest %d", m->peak_forest);
    cr_expect_str_eq(info.label, label, "%s: the peak was reached in %s, the report says %s", what,
                     label, info.label);
    cr_expect_str_eq(info.context, m->where_at_peak,
                     "%s: the peak's allocation was made in %s, not %s", what, m->where_at_peak,
                     info.context);
    size_t sum = 0;
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        size_t got = mm_peak_composition_category(ctx, c);
        cr_expect_eq(got, m->at_peak[c], "%s: %s at the peak should be %zu bytes, got %zu", what,
                     mm_category_name(c), m->at_peak[c], got);
        sum += got;
    }
    cr_expect_eq(sum, m->peak, "%s: the categories should add up to the peak", what);
}

Test(peak, the_default_step_gives_the_composition_of_the_real_peak_and_its_forest)
{
    peak_require_empty_process();
    mm_context *forest = mm_context_create("forest", NULL);
    cr_assert_not_null(forest, "the forest context should be created");
    peak_model proc = {{0}, {0}, 0, 0, 0, "", ""}, fm = proc;
    unsigned seed = 12345;
    static const mm_category cats[] = {MM_CAT_GALAXIES, MM_CAT_HALOS, MM_CAT_TREES};
    for (int f = 0; f < 60; f++) {
        char label[32];
        snprintf(label, sizeof label, "Forest %d", f);
        mm_context_set_label(forest, label);
        mm_context *work = mm_context_create("work", forest);
        cr_assert_not_null(work, "the work context should be created");
        void *blocks[400];
        size_t sizes[400];
        mm_category bc[400];
        int n = 0;
        int count = 50 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 350;
        for (int i = 0; i < count; i++) {
            seed = seed * 1103515245u + 12345u;
            mm_category c = cats[(seed >> 16) % 3];
            size_t size = 16 + (seed >> 8) % 2000;
            mm_context *in = (seed >> 4) % 4 == 0 ? work : forest;
            proc.where = fm.where = in == work ? "work" : "forest";
            blocks[n] = mm_context_malloc(in, size, c);
            cr_assert_not_null(blocks[n], "a block of %zu bytes should be allocated", size);
            sizes[n] = size;
            bc[n] = c;
            peak_model_add(&proc, c, (long)size, f);
            peak_model_add(&fm, c, (long)size, f);
            n++;
            if ((seed >> 20) % 3 == 0) { /* free a random earlier block: a turn */
                int k = (int)((seed >> 12) % (unsigned)n);
                if (blocks[k]) {
                    mm_free(blocks[k]);
                    peak_model_add(&proc, bc[k], -(long)sizes[k], f);
                    peak_model_add(&fm, bc[k], -(long)sizes[k], f);
                    blocks[k] = NULL;
                }
            }
        }
        for (int k = 0; k < n; k++) /* what the reset takes */
            if (blocks[k]) {
                peak_model_add(&proc, bc[k], -(long)sizes[k], f);
                peak_model_add(&fm, bc[k], -(long)sizes[k], f);
            }
        mm_context_reset(forest); /* destroys work too */
    }
    cr_assert(proc.peak_forest > 0, "the seed should not put the peak in the first forest");
    peak_expect_model(NULL, &proc, "the process");
    peak_expect_model(forest, &fm, "the forest context");
    mm_context_destroy(forest);
}
