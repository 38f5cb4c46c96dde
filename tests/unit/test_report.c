/* Unit tests for src/report.c: mm_format_bytes, the text report (groups in
 * registration order, subtotals, Total and Peak, empty categories left out,
 * thousands separators) and the JSON report (strictly valid, schema_version,
 * exact integers, escaped names), checked with the strict reader in
 * tests/support/mm_json.c, which is itself tested at the end. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mm_json.h"
#include "mm_test.h"

/* ------------------------------------------------------------------------
 * Helpers: normalised text lines
 * ---------------------------------------------------------------------- */

/* One report line with its column alignment removed: leading blanks become
 * two spaces (an indented line) or nothing, inner runs of blanks one space,
 * trailing blanks dropped. The spacing of columns is not part of the
 * contract; the indentation and the words are. */
static void normalise_line(const char *line, size_t len, char *out, size_t outlen)
{
    size_t i = 0, o = 0;
    while (i < len && line[i] == ' ') i++;
    if (i > 0 && o + 2 < outlen) {
        out[o++] = ' ';
        out[o++] = ' ';
    }
    int space = 0;
    for (; i < len && o + 1 < outlen; i++) {
        if (line[i] == ' ') {
            space = 1;
            continue;
        }
        if (space && o + 2 < outlen) out[o++] = ' ';
        space = 0;
        out[o++] = line[i];
    }
    out[o] = '\0';
}

/* Whether a normalised line is the wanted one. The Total and Peak lines may
 * carry a parenthesised note after the figure ("Total 8.4 KB (7 blocks
 * live; ...)"); the figure itself must match. */
static int line_matches(const char *norm, const char *want)
{
    if (strcmp(norm, want) == 0) return 1;
    size_t n = strlen(want);
    int total_or_peak = strncmp(want, "Total ", 6) == 0 || strncmp(want, "Peak ", 5) == 0;
    return total_or_peak && strncmp(norm, want, n) == 0 && strncmp(norm + n, " (", 2) == 0;
}

/* Index of the first line at or after from whose normalised form matches
 * want, or -1. */
static int find_line(const char *text, int from, const char *want)
{
    const char *p = text;
    int index = 0;
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (index >= from) {
            char norm[512];
            normalise_line(p, len, norm, sizeof norm);
            if (line_matches(norm, want)) return index;
        }
        if (eol == NULL) break;
        p = eol + 1;
        index++;
    }
    return -1;
}

/* Expects the lines of want, in this order, among the report's lines. */
static void expect_lines_in_order(const char *text, const char *const *want, size_t n)
{
    int at = 0;
    for (size_t i = 0; i < n; i++) {
        int found = find_line(text, at, want[i]);
        if (found < 0) {
            cr_expect_fail("the report should have the line \"%s\" after \"%s\"; report:\n%s",
                           want[i], i ? want[i - 1] : "(start)", text);
            return;
        }
        at = found + 1;
    }
}

/* Nonzero when a normalised line starts with prefix. */
static int has_line_starting(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char norm[512];
        normalise_line(p, len, norm, sizeof norm);
        if (strncmp(norm, prefix, n) == 0) return 1;
        if (eol == NULL) break;
        p = eol + 1;
    }
    return 0;
}

static char *text_report(void) { return mmt_report_string(NULL, MM_REPORT_TEXT); }

/* Parses the JSON report of ctx; fails the test with the text if invalid. */
static mmt_json *json_report(const mm_context *ctx, char **text_out)
{
    char err[160];
    char *text = mmt_report_string(ctx, MM_REPORT_JSON);
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    if (doc == NULL) {
        cr_assert_fail("the JSON report should be valid JSON (%s); it was:\n%s", err, text);
    }
    cr_expect_eq(doc->type, MMT_JSON_OBJECT, "the JSON report should be one object:\n%s", text);
    if (text_out != NULL) {
        *text_out = text;
    } else {
        free(text);
    }
    return doc;
}

/* The entry of "categories" whose name is name, or NULL. */
static const mmt_json *json_category(const mmt_json *doc, const char *name)
{
    const mmt_json *cats = mmt_json_get(doc, "categories");
    if (cats == NULL || cats->type != MMT_JSON_ARRAY) return NULL;
    for (size_t i = 0; i < cats->count; i++) {
        if (mmt_json_string_is(mmt_json_get(cats->items[i], "name"), name)) return cats->items[i];
    }
    return NULL;
}

/* Expects the five stat fields of obj to be integers equal to want. */
static void expect_json_stats(const mmt_json *obj, mm_stats want, const char *what)
{
    static const char *const fields[] = {"bytes", "peak_bytes", "blocks", "allocs", "frees"};
    const uint64_t values[] = {want.bytes, want.peak_bytes, want.blocks, want.allocs, want.frees};
    cr_assert_not_null(obj, "%s should be in the JSON report", what);
    for (size_t i = 0; i < 5; i++) {
        uint64_t got = 0;
        const mmt_json *v = mmt_json_get(obj, fields[i]);
        cr_expect(mmt_json_uint(v, &got), "%s should have \"%s\" as a non-negative integer", what,
                  fields[i]);
        cr_expect_eq(got, values[i], "%s \"%s\" should be %llu, got %llu", what, fields[i],
                     (unsigned long long)values[i], (unsigned long long)got);
    }
}

/* ------------------------------------------------------------------------
 * mm_format_bytes
 * ---------------------------------------------------------------------- */

static void expect_format(size_t bytes, const char *want)
{
    char buf[64];
    memset(buf, '#', sizeof buf);
    char *r = mm_format_bytes(bytes, buf, sizeof buf);
    cr_expect_eq(r, buf, "mm_format_bytes should return buf");
    cr_expect_str_eq(buf, want, "mm_format_bytes(%zu) should give \"%s\", got \"%s\"", bytes,
                     want, buf);
}

Test(report, format_bytes_prints_values_under_1024_in_bytes)
{
    expect_format(0, "0 B");
    expect_format(1, "1 B");
    expect_format(512, "512 B");
    expect_format(1023, "1023 B");
}

Test(report, format_bytes_uses_kb_from_1024_with_one_decimal)
{
    expect_format(1024, "1.0 KB");
    expect_format(1536, "1.5 KB");
    expect_format(1126, "1.1 KB");   /* 1.0996 rounds up */
    expect_format(1075, "1.0 KB");   /* 1.0498 rounds down */
    expect_format(10240, "10.0 KB");
}

Test(report, format_bytes_uses_mb_gb_and_tb)
{
    expect_format((size_t)1 << 20, "1.0 MB");
    expect_format(851862324, "812.4 MB");
    expect_format(420478976, "401.0 MB");
    expect_format((size_t)1181116007, "1.1 GB");
    expect_format((size_t)3 << 30, "3.0 GB");
    expect_format((size_t)1 << 47, "128.0 TB");
}

Test(report, format_bytes_never_writes_past_buflen)
{
    char buf[16];
    memset(buf, '#', sizeof buf);
    mm_format_bytes((size_t)851862324, buf, 5);
    cr_expect(memchr(buf, '\0', 5) != NULL, "the result should be NUL-terminated within 5 bytes");
    for (size_t i = 5; i < sizeof buf; i++) {
        cr_expect_eq(buf[i], '#', "byte %zu past buflen 5 should be untouched", i);
    }
}

/* ------------------------------------------------------------------------
 * Text report
 * ---------------------------------------------------------------------- */

Test(report, text_report_of_an_idle_process_has_the_title_total_and_peak)
{
    char *text = text_report();
    static const char *const want[] = {
        "=== Memory Usage by Category ===",
        "Total 0 B",
        "Peak 0 B",
    };
    expect_lines_in_order(text, want, 3);
    cr_expect(!has_line_starting(text, "  Halos"), "an idle process should list no category:\n%s",
              text);
    free(text);
}

Test(report, text_report_lists_categories_under_their_groups_with_subtotals)
{
    mm_category cool = mm_category_register("Cooling", "Physics Modules");
    for (int i = 0; i < 3; i++) cr_assert_not_null(mm_malloc(1000, MM_CAT_HALOS), "Halos malloc");
    for (int i = 0; i < 2; i++) cr_assert_not_null(mm_malloc(768, MM_CAT_TREES), "Trees malloc");
    for (int i = 0; i < 2; i++) cr_assert_not_null(mm_malloc(2048, cool), "Cooling malloc");
    char *text = text_report();
    static const char *const want[] = {
        "=== Memory Usage by Category ===",
        "Core:",
        "  Halos 2.9 KB (peak 2.9 KB, 3 blocks)",
        "  Trees 1.5 KB (peak 1.5 KB, 2 blocks)",
        "  Subtotal 4.4 KB",
        "Physics Modules:",
        "  Cooling 4.0 KB (peak 4.0 KB, 2 blocks)",
        "  Subtotal 4.0 KB",
        "Total 8.4 KB",
        "Peak 8.4 KB",
    };
    expect_lines_in_order(text, want, sizeof want / sizeof want[0]);
    free(text);
}

Test(report, text_report_leaves_out_empty_categories)
{
    mm_category unused = mm_category_register("Unused", "Physics Modules");
    (void)unused;
    cr_assert_not_null(mm_malloc(100, MM_CAT_HALOS), "Halos malloc");
    char *text = text_report();
    cr_expect(has_line_starting(text, "  Halos "), "Halos should be listed:\n%s", text);
    static const char *const absent[] = {"  Unknown ", "  Galaxies ", "  Trees ", "  IO ",
                                         "  Utility ", "  Unused "};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        cr_expect(!has_line_starting(text, absent[i]),
                  "the empty category \"%s\" should be left out:\n%s", absent[i] + 2, text);
    }
    free(text);
}

Test(report, text_report_keeps_a_category_whose_blocks_were_freed)
{
    void *p = mm_malloc(2048, MM_CAT_GALAXIES);
    cr_assert_not_null(p, "Galaxies malloc");
    mm_free(p);
    char *text = text_report();
    static const char *const want[] = {"  Galaxies 0 B (peak 2.0 KB, 0 blocks)"};
    expect_lines_in_order(text, want, 1);
    free(text);
}

Test(report, text_report_keeps_a_category_with_only_zero_size_blocks)
{
    for (int i = 0; i < 3; i++) cr_assert_not_null(mm_malloc(0, MM_CAT_UTILITY), "malloc(0)");
    char *text = text_report();
    static const char *const want[] = {"  Utility 0 B (peak 0 B, 3 blocks)"};
    expect_lines_in_order(text, want, 1);
    free(text);
}

Test(report, text_report_puts_thousands_separators_in_block_counts)
{
    for (int i = 0; i < 1234; i++) cr_assert_not_null(mm_malloc(0, MM_CAT_IO), "malloc(0)");
    for (int i = 0; i < 1003; i++) cr_assert_not_null(mm_malloc(1024, MM_CAT_TREES), "Trees");
    char *text = text_report();
    static const char *const want[] = {
        "  Trees 1003.0 KB (peak 1003.0 KB, 1,003 blocks)",
        "  IO 0 B (peak 0 B, 1,234 blocks)",
    };
    expect_lines_in_order(text, want, 2);
    free(text);
}

Test(report, text_report_orders_groups_by_registration)
{
    mm_category z = mm_category_register("Zed", "Zeta Group");
    mm_category a = mm_category_register("Ay", "Alpha Group");
    mm_category z2 = mm_category_register("Zed Two", "Zeta Group");
    cr_assert_not_null(mm_malloc(10, a), "Ay malloc");
    cr_assert_not_null(mm_malloc(20, z2), "Zed Two malloc");
    cr_assert_not_null(mm_malloc(30, z), "Zed malloc");
    cr_assert_not_null(mm_malloc(40, MM_CAT_IO), "IO malloc");
    char *text = text_report();
    static const char *const want[] = {
        "Core:",
        "  IO 40 B (peak 40 B, 1 blocks)",
        "  Subtotal 40 B",
        "Zeta Group:",
        "  Zed 30 B (peak 30 B, 1 blocks)",
        "  Zed Two 20 B (peak 20 B, 1 blocks)",
        "  Subtotal 50 B",
        "Alpha Group:",
        "  Ay 10 B (peak 10 B, 1 blocks)",
        "  Subtotal 10 B",
        "Total 100 B",
        "Peak 100 B",
    };
    /* The block noun after a count of one is not specified: accept "block". */
    if (find_line(text, 0, want[1]) < 0) {
        static const char *const singular[] = {
            "Core:",
            "  IO 40 B (peak 40 B, 1 block)",
            "  Subtotal 40 B",
            "Zeta Group:",
            "  Zed 30 B (peak 30 B, 1 block)",
            "  Zed Two 20 B (peak 20 B, 1 block)",
            "  Subtotal 50 B",
            "Alpha Group:",
            "  Ay 10 B (peak 10 B, 1 block)",
            "  Subtotal 10 B",
            "Total 100 B",
            "Peak 100 B",
        };
        expect_lines_in_order(text, singular, sizeof singular / sizeof singular[0]);
    } else {
        expect_lines_in_order(text, want, sizeof want / sizeof want[0]);
    }
    free(text);
}

Test(report, text_report_peak_is_the_process_high_water_mark)
{
    void *p = mm_malloc(10240, MM_CAT_HALOS);
    cr_assert_not_null(p, "Halos malloc");
    mm_free(p);
    cr_assert_not_null(mm_malloc(100, MM_CAT_TREES), "Trees malloc");
    char *text = text_report();
    static const char *const want[] = {"Total 100 B", "Peak 10.0 KB"};
    expect_lines_in_order(text, want, 2);
    free(text);
}

Test(report, text_report_of_the_process_counts_context_blocks)
{
    mm_context *ctx = mmt_context("forest", NULL);
    cr_assert_not_null(mm_context_malloc(ctx, 2048, MM_CAT_HALOS), "context malloc");
    cr_assert_not_null(mm_context_malloc(ctx, 2048, MM_CAT_HALOS), "context malloc");
    char *text = text_report();
    static const char *const want[] = {"  Halos 4.0 KB (peak 4.0 KB, 2 blocks)", "Total 4.0 KB"};
    expect_lines_in_order(text, want, 2);
    free(text);
    mm_context_destroy(ctx);
}

/* ------------------------------------------------------------------------
 * JSON report
 * ---------------------------------------------------------------------- */

Test(report, json_report_of_an_idle_process_is_one_valid_object)
{
    mmt_json *doc = json_report(NULL, NULL);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "schema_version"), &v) && v == 1,
              "\"schema_version\" should be the integer 1");
    const mmt_json *cats = mmt_json_get(doc, "categories");
    cr_expect(cats != NULL && cats->type == MMT_JSON_ARRAY, "\"categories\" should be an array");
    expect_json_stats(mmt_json_get(doc, "total"), mmt_stats(0, 0, 0, 0, 0), "\"total\"");
    mmt_json_free(doc);
}

Test(report, json_schema_version_matches_the_header)
{
    mmt_json *doc = json_report(NULL, NULL);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "schema_version"), &v),
              "\"schema_version\" should be an integer");
    cr_expect_eq(v, MM_REPORT_SCHEMA_VERSION, "\"schema_version\" should be %d",
                 MM_REPORT_SCHEMA_VERSION);
    mmt_json_free(doc);
}

Test(report, json_report_gives_exact_integer_figures_per_category_and_in_total)
{
    mm_category cool = mm_category_register("Cooling", "Physics Modules");
    void *big = mm_malloc(1234567, MM_CAT_HALOS);
    void *gone = mm_malloc(99999, MM_CAT_HALOS);
    cr_assert(big && gone, "the Halos mallocs should succeed");
    mm_free(gone);
    void *c = mm_calloc(3, 1001, cool);
    cr_assert_not_null(c, "the Cooling calloc should succeed");
    void *moved = mm_malloc(500, MM_CAT_TREES);
    cr_assert_not_null(moved, "the Trees malloc should succeed");
    moved = mm_realloc_cat(moved, 700, cool);
    cr_assert_not_null(moved, "the move to Cooling should succeed");

    char *text = NULL;
    mmt_json *doc = json_report(NULL, &text);
    const mmt_json *halos = json_category(doc, "Halos");
    expect_json_stats(halos, mmt_stats(1234567, 1334566, 1, 2, 1), "category Halos");
    cr_expect(mmt_json_string_is(mmt_json_get(halos, "group"), "Core"),
              "Halos should be in group \"Core\":\n%s", text);
    const mmt_json *cooling = json_category(doc, "Cooling");
    expect_json_stats(cooling, mmt_stats(3703, 3703, 2, 1, 0), "category Cooling");
    cr_expect(mmt_json_string_is(mmt_json_get(cooling, "group"), "Physics Modules"),
              "Cooling should be in group \"Physics Modules\":\n%s", text);
    const mmt_json *trees = json_category(doc, "Trees");
    expect_json_stats(trees, mmt_stats(0, 500, 0, 1, 0), "category Trees");
    expect_json_stats(mmt_json_get(doc, "total"), mm_stats_total(NULL), "\"total\"");
    mmt_json_free(doc);
    free(text);
}

Test(report, json_report_entries_agree_with_mm_stats_category)
{
    cr_assert_not_null(mm_malloc(10, MM_CAT_IO), "IO malloc");
    cr_assert_not_null(mm_malloc(0, MM_CAT_UNKNOWN), "Unknown malloc");
    void *p = mm_malloc(70, MM_CAT_UTILITY);
    cr_assert_not_null(p, "Utility malloc");
    mm_free(p);
    mmt_json *doc = json_report(NULL, NULL);
    const mmt_json *cats = mmt_json_get(doc, "categories");
    cr_assert(cats != NULL && cats->type == MMT_JSON_ARRAY, "\"categories\" should be an array");
    static const char *const fields[] = {"name", "group", "bytes", "peak_bytes",
                                         "blocks", "allocs", "frees"};
    for (size_t i = 0; i < cats->count; i++) {
        const mmt_json *e = cats->items[i];
        cr_assert_eq(e->type, MMT_JSON_OBJECT, "categories[%zu] should be an object", i);
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            cr_expect_not_null(mmt_json_get(e, fields[f]), "categories[%zu] should have \"%s\"",
                               i, fields[f]);
        }
        const mmt_json *name = mmt_json_get(e, "name");
        cr_assert(name != NULL && name->type == MMT_JSON_STRING,
                  "categories[%zu].name should be a string", i);
        mm_category c = mm_category_find(name->text);
        cr_assert_neq(c, MM_CAT_INVALID, "categories[%zu] should name a registered category", i);
        cr_expect(mmt_json_string_is(mmt_json_get(e, "group"), mm_category_group(c)),
                  "categories[%zu].group should be the group of %s", i, name->text);
        expect_json_stats(e, mm_stats_category(NULL, c), name->text);
    }
    cr_expect_not_null(json_category(doc, "IO"), "IO should be listed");
    cr_expect_not_null(json_category(doc, "Unknown"), "Unknown (a zero-size block) should be "
                       "listed");
    cr_expect_not_null(json_category(doc, "Utility"), "Utility (freed, peak 70) should be listed");
    mmt_json_free(doc);
}

Test(report, json_report_escapes_quotes_backslashes_and_control_characters)
{
    const char *name = "say \"hi\"\\back\x01slash\ttab\x1f";
    const char *group = "G \"q\" \\ \x02";
    mm_category c = mm_category_register(name, group);
    cr_assert_neq(c, MM_CAT_INVALID, "a name with quotes and control characters should register");
    cr_assert_not_null(mm_malloc(33, c), "malloc in the oddly named category");
    char *text = NULL;
    mmt_json *doc = json_report(NULL, &text);
    const mmt_json *e = json_category(doc, name);
    cr_expect_not_null(e, "the category should be listed under its exact name:\n%s", text);
    cr_expect(mmt_json_string_is(mmt_json_get(e, "group"), group),
              "its group should decode to the exact original:\n%s", text);
    expect_json_stats(e, mmt_stats(33, 33, 1, 1, 0), "the oddly named category");
    cr_expect(strstr(text, "\\u0001") != NULL, "the byte 0x01 should be written as \\u0001:\n%s",
              text);
    cr_expect(strstr(text, "\\u0002") != NULL, "the byte 0x02 should be written as \\u0002:\n%s",
              text);
    cr_expect(strstr(text, "\\u001f") != NULL || strstr(text, "\\u001F") != NULL,
              "the byte 0x1f should be written as \\u001f:\n%s", text);
    mmt_json_free(doc);
    free(text);
}

Test(report, json_report_of_a_context_is_valid)
{
    mm_context *ctx = mmt_context("for\"est\\1", NULL);
    mm_context *child = mmt_context("child\x03", ctx);
    mm_context_set_label(ctx, "Forest \"17\"\n");
    cr_assert_not_null(mm_context_malloc(ctx, 100, MM_CAT_HALOS), "context malloc");
    cr_assert_not_null(mm_context_malloc(child, 50, MM_CAT_TREES), "child malloc");
    mmt_json *doc = json_report(ctx, NULL);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "schema_version"), &v) && v == 1,
              "a context report should carry \"schema_version\": 1");
    mm_context_reset(ctx);
    mmt_json_free(doc);
    doc = json_report(ctx, NULL);
    mmt_json_free(doc);
    doc = json_report(NULL, NULL);
    mmt_json_free(doc);
    mm_context_destroy(ctx);
}

/* ------------------------------------------------------------------------
 * The strict JSON reader used above
 * ---------------------------------------------------------------------- */

Test(report, json_checker_accepts_valid_documents)
{
    static const char *const good[] = {
        "{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "false", "null",
        " { \"a\" : [ 1 , 2.0 , -3e+2 , \"x\\u00e9\\n\" ] , \"b\" : { } } ",
        "\"\\ud83d\\ude00\"", "\"caf\xc3\xa9\"", "[[[[]]]]", "{\"a\":null,\"b\":true}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[160];
        mmt_json *v = mmt_json_parse(good[i], err, sizeof err);
        cr_expect_not_null(v, "the checker should accept %s (%s)", good[i], err);
        mmt_json_free(v);
    }
}

Test(report, json_checker_rejects_malformed_documents)
{
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", ".5",
        "+1", "1e", "-", "\"abc", "\"a\x01\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\xff\"", "\"\xc0\xaf\"", "tru", "nul", "[1 2]", "{} {}", "[1]]",
        "{\"a\":1,\"a\":2}", "'a'", "NaN", "[\"a\"\n,]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[160];
        mmt_json *v = mmt_json_parse(bad[i], err, sizeof err);
        cr_expect_null(v, "the checker should reject document %zu: %s", i, bad[i]);
        mmt_json_free(v);
    }
}

Test(report, json_checker_decodes_strings_and_integers)
{
    char err[160];
    mmt_json *v = mmt_json_parse("{\"k\\\"ey\":\"a\\\\b\\u0001c\",\"n\":18446744073709551615,"
                                 "\"f\":1.0,\"m\":-1}",
                                 err, sizeof err);
    cr_assert_not_null(v, "the document should parse (%s)", err);
    cr_expect(mmt_json_string_is(mmt_json_get(v, "k\"ey"), "a\\b\x01" "c"),
              "escapes in names and values should decode");
    uint64_t n = 0;
    cr_expect(mmt_json_uint(mmt_json_get(v, "n"), &n) && n == UINT64_MAX,
              "the largest 64-bit integer should read exactly");
    cr_expect(!mmt_json_uint(mmt_json_get(v, "f"), &n), "1.0 is not written as an integer");
    cr_expect(!mmt_json_uint(mmt_json_get(v, "m"), &n), "-1 is not a non-negative integer");
    mmt_json_free(v);
}
