/* Unit tests for src/site.c: with site recording on, each (file, line,
 * category) of an _at call keeps exact live bytes, live blocks, peak and
 * allocations; frees, reallocs and context reset/destroy take blocks off
 * their site; reports list the top sites and the leaks by file and line.
 * This file routes the plain calls to their _at variants (MM_WITH_SITES),
 * as a host would; (mm_malloc)(...) still reaches the plain function. */
#define _POSIX_C_SOURCE 200809L
#define MM_WITH_SITES 1

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_json.h"
#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

#define SITE_FILE __FILE__

/* Expects site (file, line, cat) to exist with exactly these figures. */
#define site_expect(file, line, cat, bytes_, blocks_, peak_, allocs_, what)                      \
    do {                                                                                          \
        mm_site_stats s_;                                                                         \
        if (!mmt_site_find((file), (line), (cat), &s_)) {                                         \
            mmt_dump_report();                                                                    \
            cr_expect_fail("%s: site %s:%d in %s should be known", (what),                        \
                           (file) ? (file) : "(unknown)", (line), mm_category_name(cat));         \
            break;                                                                                \
        }                                                                                         \
        cr_expect(s_.bytes == (size_t)(bytes_) && s_.blocks == (size_t)(blocks_) &&               \
                      s_.peak_bytes == (size_t)(peak_) && s_.allocs == (uint64_t)(allocs_),       \
                  "%s: site %s:%d in %s should hold bytes %zu, blocks %zu, peak %zu, allocs %llu; " \
                  "got bytes %zu, blocks %zu, peak %zu, allocs %llu",                             \
                  (what), (file) ? (file) : "(unknown)", (line), mm_category_name(cat),           \
                  (size_t)(bytes_), (size_t)(blocks_), (size_t)(peak_),                           \
                  (unsigned long long)(allocs_), s_.bytes, s_.blocks, s_.peak_bytes,              \
                  (unsigned long long)s_.allocs);                                                 \
    } while (0)

/* Expects site (file, line, cat) to be unknown. */
#define site_expect_none(file, line, cat, what)                                                 \
    do {                                                                                        \
        mm_site_stats s_;                                                                       \
        cr_expect(!mmt_site_find((file), (line), (cat), &s_),                                   \
                  "%s: no site %s:%d in %s should be recorded", (what),                         \
                  (file) ? (file) : "(unknown)", (line), mm_category_name(cat));                \
    } while (0)

/* ========================================================================
 * Counting per (file, line, category)
 * ====================================================================== */

Test(sites, set_sites_returns_the_old_setting)
{
    cr_expect_eq(mm_set_sites(1), 0, "sites should be off by default");
    cr_expect_eq(mm_set_sites(7), 1, "the old setting was on");
    char buf[16];
    cr_assert_eq(mm_option_get("sites", buf, sizeof buf), 0, "option sites should exist");
    cr_expect_str_eq(buf, "on", "any nonzero value turns sites on");
    cr_expect_eq(mm_set_sites(0), 1, "the old setting was on");
    cr_expect_eq(mm_set_sites(0), 0, "the old setting was off");
}

Test(sites, at_calls_are_counted_per_file_line_and_category)
{
    mm_set_sites(1);
    cr_expect_eq(mm_sites(NULL, 0), 0, "no site is known before the first allocation");
    void *a[3];
    for (int i = 0; i < 3; i++) a[i] = mm_malloc_at(100, MM_CAT_HALOS, "forest.c", 10);
    void *b = mm_malloc_at(50, MM_CAT_TREES, "forest.c", 20);
    void *c = mm_malloc_at(70, MM_CAT_TREES, "forest.c", 10); /* same line, other category */
    void *d = mm_malloc_at(30, MM_CAT_HALOS, "io.c", 10);     /* same line, other file */
    cr_assert(a[0] && a[1] && a[2] && b && c && d, "the sited allocations should succeed");
    cr_expect_eq(mm_sites(NULL, 0), 4, "four distinct (file, line, category) sites");
    site_expect("forest.c", 10, MM_CAT_HALOS, 300, 3, 300, 3, "three blocks at forest.c:10");
    site_expect("forest.c", 20, MM_CAT_TREES, 50, 1, 50, 1, "one block at forest.c:20");
    site_expect("forest.c", 10, MM_CAT_TREES, 70, 1, 70, 1, "the Trees block at forest.c:10");
    site_expect("io.c", 10, MM_CAT_HALOS, 30, 1, 30, 1, "the block at io.c:10");

    mm_free(a[1]);
    site_expect("forest.c", 10, MM_CAT_HALOS, 200, 2, 300, 3, "a free takes one block off");
    a[1] = mm_malloc_at(40, MM_CAT_HALOS, "forest.c", 10);
    site_expect("forest.c", 10, MM_CAT_HALOS, 240, 3, 300, 4, "a new block below the peak");
    a[1] = mm_realloc(a[1], 140);
    site_expect("forest.c", 10, MM_CAT_HALOS, 340, 3, 340, 4, "a realloc moves the peak up");
    for (int i = 0; i < 3; i++) mm_free(a[i]);
    mm_free(b);
    mm_free(c);
    mm_free(d);
    site_expect("forest.c", 10, MM_CAT_HALOS, 0, 0, 340, 4, "all blocks of the site freed");
    site_expect("forest.c", 20, MM_CAT_TREES, 0, 0, 50, 1, "the block at forest.c:20 freed");
    cr_expect_eq(mm_sites(NULL, 0), 4, "sites stay known after their blocks are freed");
    /* the peak: 450 bytes at first, 390 after the free and the 40-byte block,
     * 490 after that block grew to 140 */
    mmt_expect_total(0, 490, 0, 7, 7, "every block of the test is freed");
}

Test(sites, every_at_entry_point_records_its_site)
{
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    void *p1 = mm_malloc_at(11, MM_CAT_HALOS, "a.c", 1);
    void *p2 = mm_calloc_at(3, 7, MM_CAT_HALOS, "a.c", 2);
    char *p3 = mm_strdup_at("halo", MM_CAT_HALOS, "a.c", 3);
    void *p4 = mm_realloc_at(NULL, 13, "a.c", 4);
    void *p5 = mm_realloc_cat_at(NULL, 17, MM_CAT_TREES, "a.c", 5);
    void *p6 = mm_context_malloc_at(ctx, 19, MM_CAT_IO, "a.c", 6);
    void *p7 = mm_context_calloc_at(ctx, 2, 11, MM_CAT_IO, "a.c", 7);
    char *p8 = mm_context_strdup_at(ctx, "cooling", MM_CAT_IO, "a.c", 8);
    cr_assert(p1 && p2 && p3 && p4 && p5 && p6 && p7 && p8, "every _at call should succeed");
    cr_expect_str_eq(p3, "halo", "mm_strdup_at copies the string");
    cr_expect_str_eq(p8, "cooling", "mm_context_strdup_at copies the string");
    const unsigned char *z = p2;
    size_t nonzero = 0;
    for (int i = 0; i < 21; i++) nonzero += z[i] != 0;
    cr_expect_eq(nonzero, 0, "mm_calloc_at zeroes the block");
    site_expect("a.c", 1, MM_CAT_HALOS, 11, 1, 11, 1, "mm_malloc_at");
    site_expect("a.c", 2, MM_CAT_HALOS, 21, 1, 21, 1, "mm_calloc_at");
    site_expect("a.c", 3, MM_CAT_HALOS, 5, 1, 5, 1, "mm_strdup_at (4 characters and the NUL)");
    site_expect("a.c", 4, MM_CAT_UNKNOWN, 13, 1, 13, 1, "mm_realloc_at(NULL) allocates in Unknown");
    site_expect("a.c", 5, MM_CAT_TREES, 17, 1, 17, 1, "mm_realloc_cat_at(NULL) allocates in cat");
    site_expect("a.c", 6, MM_CAT_IO, 19, 1, 19, 1, "mm_context_malloc_at");
    site_expect("a.c", 7, MM_CAT_IO, 22, 1, 22, 1, "mm_context_calloc_at");
    site_expect("a.c", 8, MM_CAT_IO, 8, 1, 8, 1, "mm_context_strdup_at");
    cr_expect_eq(mm_sites(NULL, 0), 8, "eight sites are known");
    mm_free(p1);
    mm_free(p2);
    mm_free(p3);
    mm_free(p4);
    mm_free(p5);
    mm_context_destroy(ctx);
    mmt_expect_total(0, 116, 0, 8, 8, "every block of the test is freed");
}

Test(sites, the_with_sites_macros_route_plain_calls_to_their_call_site)
{
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    void *m = mm_malloc(64, MM_CAT_HALOS); const int l_malloc = __LINE__;
    void *c = mm_calloc(4, 8, MM_CAT_HALOS); const int l_calloc = __LINE__;
    char *s = mm_strdup("abc", MM_CAT_TREES); const int l_strdup = __LINE__;
    void *x = mm_context_malloc(ctx, 48, MM_CAT_IO); const int l_cmalloc = __LINE__;
    void *y = mm_context_calloc(ctx, 3, 5, MM_CAT_IO); const int l_ccalloc = __LINE__;
    char *z = mm_context_strdup(ctx, "f3", MM_CAT_IO); const int l_cstrdup = __LINE__;
    void *r = mm_realloc(NULL, 24); const int l_realloc = __LINE__;
    cr_assert(m && c && s && x && y && z && r, "every routed call should succeed");
    site_expect(SITE_FILE, l_malloc, MM_CAT_HALOS, 64, 1, 64, 1, "mm_malloc through the macro");
    site_expect(SITE_FILE, l_calloc, MM_CAT_HALOS, 32, 1, 32, 1, "mm_calloc through the macro");
    site_expect(SITE_FILE, l_strdup, MM_CAT_TREES, 4, 1, 4, 1, "mm_strdup through the macro");
    site_expect(SITE_FILE, l_cmalloc, MM_CAT_IO, 48, 1, 48, 1, "mm_context_malloc, macro");
    site_expect(SITE_FILE, l_ccalloc, MM_CAT_IO, 15, 1, 15, 1, "mm_context_calloc, macro");
    site_expect(SITE_FILE, l_cstrdup, MM_CAT_IO, 3, 1, 3, 1, "mm_context_strdup, macro");
    site_expect(SITE_FILE, l_realloc, MM_CAT_UNKNOWN, 24, 1, 24, 1, "mm_realloc(NULL), macro");
    cr_expect_eq(mm_sites(NULL, 0), 7, "seven sites, none of them the unknown site");
    mm_free(m);
    mm_free(c);
    mm_free(s);
    mm_free(r);
    mm_context_destroy(ctx);
}

Test(sites, realloc_keeps_the_site_and_realloc_cat_moves_it_to_the_new_category)
{
    mm_set_sites(1);
    for (int in_ctx = 0; in_ctx < 2; in_ctx++) {
        mm_context *ctx = in_ctx ? mm_context_create("forest", NULL) : NULL;
        const char *file = in_ctx ? "ctx.c" : "proc.c";
        const char *what = in_ctx ? "context block" : "process block";
        void *p = ctx ? mm_context_malloc_at(ctx, 100, MM_CAT_HALOS, file, 1)
                      : mm_malloc_at(100, MM_CAT_HALOS, file, 1);
        cr_assert_not_null(p, "the %s should be allocated", what);
        memset(p, 0x3C, 100);
        p = mm_realloc_at(p, 300, file, 2);
        cr_assert_not_null(p, "growing the %s should succeed", what);
        site_expect(file, 1, MM_CAT_HALOS, 300, 1, 300, 1, "a realloc keeps the allocation site");
        site_expect_none(file, 2, MM_CAT_HALOS, "a realloc's own line is no site");
        p = mm_realloc(p, 50); /* through the macro: another line, same rule */
        cr_assert_not_null(p, "shrinking the %s should succeed", what);
        site_expect(file, 1, MM_CAT_HALOS, 50, 1, 300, 1, "a shrink keeps the peak");
        size_t kept = 0;
        for (int i = 0; i < 50; i++) kept += ((unsigned char *)p)[i] == 0x3C;
        cr_expect_eq(kept, 50, "the reallocs keep the contents of the %s", what);

        p = mm_realloc_cat(p, 80, MM_CAT_TREES);
        cr_assert_not_null(p, "moving the %s to Trees should succeed", what);
        site_expect(file, 1, MM_CAT_HALOS, 0, 0, 300, 1, "the block left its Halos site");
        /* the same file and line in the new category; the move counts as
         * that site's allocation */
        site_expect(file, 1, MM_CAT_TREES, 80, 1, 80, 1, "the block moved to file:1 in Trees");
        cr_expect_eq(mm_block_category(p), MM_CAT_TREES, "the block is in Trees");
        mm_free(p);
        site_expect(file, 1, MM_CAT_TREES, 0, 0, 80, 1, "the free takes it off the Trees site");
        mm_context_destroy(ctx);
    }
    mmt_expect_category(MM_CAT_HALOS, 0, 300, 0, 2, 0,
                        "Halos: two allocations, both moved out to Trees");
    mmt_expect_category(MM_CAT_TREES, 0, 80, 0, 0, 2, "Trees: two blocks moved in and freed");
}

Test(sites, context_reset_and_destroy_take_blocks_off_their_sites)
{
    mm_set_sites(1);
    mm_context *forest = mm_context_create("forest", NULL);
    mm_context *module = mm_context_create("cooling", forest);
    void *p[3];
    for (int i = 0; i < 3; i++) p[i] = mm_context_malloc_at(forest, 64, MM_CAT_HALOS, "f.c", 1);
    void *q = mm_context_malloc_at(module, 500, MM_CAT_TREES, "f.c", 2);
    void *big = mm_context_malloc_at(forest, 300000, MM_CAT_IO, "f.c", 3);
    cr_assert(p[0] && p[1] && p[2] && q && big, "the sited context blocks should be allocated");
    mm_free(p[0]);
    site_expect("f.c", 1, MM_CAT_HALOS, 128, 2, 192, 3, "one of three blocks freed");

    mm_context_reset(forest); /* frees the forest's blocks and destroys the module */
    site_expect("f.c", 1, MM_CAT_HALOS, 0, 0, 192, 3, "reset takes the forest's blocks off");
    site_expect("f.c", 2, MM_CAT_TREES, 0, 0, 500, 1, "reset takes the module's blocks off");
    site_expect("f.c", 3, MM_CAT_IO, 0, 0, 300000, 1, "reset takes the large block off");

    for (int i = 0; i < 2; i++) p[i] = mm_context_malloc_at(forest, 32, MM_CAT_HALOS, "f.c", 1);
    site_expect("f.c", 1, MM_CAT_HALOS, 64, 2, 192, 5, "two blocks in the next epoch");
    mm_context_destroy(forest);
    site_expect("f.c", 1, MM_CAT_HALOS, 0, 0, 192, 5, "destroy takes every block off");
    mmt_expect_total(0, 300692, 0, 7, 7, "the contexts' blocks are all gone");
}

Test(sites, plain_calls_with_sites_on_count_under_the_unknown_site)
{
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    void *a = (mm_malloc)(40, MM_CAT_HALOS);
    void *b = (mm_malloc)(60, MM_CAT_HALOS);
    void *c = (mm_context_malloc)(ctx, 24, MM_CAT_TREES);
    void *d = (mm_calloc)(2, 4, MM_CAT_TREES);
    cr_assert(a && b && c && d, "the plain allocations should succeed");
    site_expect(NULL, 0, MM_CAT_HALOS, 100, 2, 100, 2, "plain Halos blocks, unknown site");
    site_expect(NULL, 0, MM_CAT_TREES, 32, 2, 32, 2, "plain Trees blocks, unknown site");
    cr_expect_eq(mm_sites(NULL, 0), 2, "only the unknown site of each category is known");
    (mm_free)(a);
    mm_free(b);
    mm_free(d);
    mm_context_reset(ctx);
    site_expect(NULL, 0, MM_CAT_HALOS, 0, 0, 100, 2, "the plain Halos blocks are freed");
    site_expect(NULL, 0, MM_CAT_TREES, 0, 0, 32, 2, "the plain Trees blocks are freed");
    mm_context_destroy(ctx);
}

Test(sites, with_sites_off_at_calls_record_nothing)
{
    mm_context *ctx = mm_context_create("forest", NULL);
    void *a = mm_malloc_at(40, MM_CAT_HALOS, "off.c", 1);
    void *b = mm_context_malloc_at(ctx, 40, MM_CAT_HALOS, "off.c", 2);
    void *c = mm_malloc(40, MM_CAT_HALOS);
    cr_assert(a && b && c, "the allocations should succeed");
    cr_expect_eq(mm_sites(NULL, 0), 0, "with sites off no site is recorded");
    mm_set_check(MM_CHECK_GUARDS); /* the decorated path, still without sites */
    void *d = mm_malloc_at(40, MM_CAT_HALOS, "off.c", 3);
    void *e = mm_context_malloc_at(ctx, 40, MM_CAT_HALOS, "off.c", 4);
    cr_assert(d && e, "the guarded allocations should succeed");
    cr_expect_eq(mm_sites(NULL, 0), 0, "guards without sites record no site");
    mmt_expect_total(200, 200, 5, 5, 0, "the five blocks are counted all the same");

    /* a block allocated while sites were on leaves its site when freed with sites off */
    mm_set_sites(1);
    void *f = mm_malloc_at(40, MM_CAT_HALOS, "on.c", 5);
    mm_set_sites(0);
    site_expect("on.c", 5, MM_CAT_HALOS, 40, 1, 40, 1, "the block made while sites were on");
    mm_free(f);
    site_expect("on.c", 5, MM_CAT_HALOS, 0, 0, 40, 1, "its free with sites off still counts");
    cr_expect_eq(mm_sites(NULL, 0), 1, "one site only");
    mm_free(a);
    mm_free(c);
    mm_free(d);
    mm_context_destroy(ctx);
}

/* ========================================================================
 * mm_sites: order and truncation
 * ====================================================================== */

Test(sites, mm_sites_lists_largest_live_bytes_first_and_copies_at_most_max)
{
    mm_set_sites(1);
    void *a = mm_malloc_at(100, MM_CAT_HALOS, "s.c", 1);
    void *b = mm_malloc_at(300, MM_CAT_HALOS, "s.c", 2);
    void *c = mm_malloc_at(200, MM_CAT_HALOS, "s.c", 3);
    mm_free(mm_malloc_at(50, MM_CAT_HALOS, "s.c", 4)); /* 0 live, peak 50 */
    mm_free(mm_malloc_at(500, MM_CAT_HALOS, "s.c", 5)); /* 0 live, peak 500 */
    cr_assert(a && b && c, "the allocations should succeed");

    mm_site_stats all[8];
    memset(all, 0, sizeof all);
    cr_expect_eq(mm_sites(all, 8), 5, "five sites are known");
    const int order[] = {2, 3, 1, 5, 4}; /* live bytes, then peak among the empty ones */
    for (int i = 0; i < 5; i++)
        cr_expect(all[i].file && strcmp(all[i].file, "s.c") == 0 && all[i].line == order[i],
                  "entry %d should be s.c:%d, got %s:%d", i, order[i],
                  all[i].file ? all[i].file : "(null)", all[i].line);
    cr_expect_eq(all[5].file, NULL, "nothing is written past the known sites");

    mm_site_stats two[3];
    memset(two, 0, sizeof two);
    two[2].line = -7;
    cr_expect_eq(mm_sites(two, 2), 5, "mm_sites returns the number known, not the number copied");
    cr_expect(two[0].line == 2 && two[1].line == 3,
              "the two largest sites (s.c:2, s.c:3) come first, got lines %d and %d", two[0].line,
              two[1].line);
    cr_expect_eq(two[2].line, -7, "nothing is written past max entries");
    cr_expect_eq(mm_sites(NULL, 0), 5, "a NULL array with max 0 only counts");
    mm_free(a);
    mm_free(b);
    mm_free(c);
}

/* ========================================================================
 * Reports
 * ====================================================================== */

Test(sites, text_report_lists_the_top_allocation_sites_by_file_and_line)
{
    mm_set_sites(1);
    void *p = mm_malloc(3000, MM_CAT_HALOS); const int line = __LINE__;
    void *q = mm_malloc_at(1000, MM_CAT_TREES, "trees.c", 42);
    cr_assert(p && q, "the allocations should succeed");
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    const char *sec = strstr(text, "=== Top Allocation Sites (by live bytes) ===\n");
    cr_assert_not_null(sec, "the report should have a Top Allocation Sites section:\n%s", text);
    char where[512];
    snprintf(where, sizeof where, "  %s:%d", SITE_FILE, line);
    const char *first = strstr(sec, where);
    const char *second = strstr(sec, "  trees.c:42 ");
    cr_expect_not_null(first, "the section should name %s, it was:\n%s", where + 2, sec);
    cr_expect_not_null(second, "the section should name trees.c:42, it was:\n%s", sec);
    cr_expect(first && second && first < second, "the larger site should be listed first");
    if (first) {
        const char *eol = strchr(first, '\n');
        const char *cat = strstr(first, "Halos");
        cr_expect(cat && eol && cat < eol, "the site's line should name its category Halos");
    }
    free(text);
    mm_free(p);
    mm_free(q);
}

Test(sites, text_report_has_no_sites_section_without_sites)
{
    void *p = mm_malloc(100, MM_CAT_HALOS);
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    cr_expect(strstr(text, "Top Allocation Sites") == NULL,
              "a process without sites has no sites section:\n%s", text);
    free(text);
    mm_free(p);
}

Test(sites, json_report_has_top_sites)
{
    mm_set_sites(1);
    void *p = mm_malloc(3000, MM_CAT_HALOS); const int line = __LINE__;
    void *q = mm_malloc_at(1000, MM_CAT_TREES, "tr\"ees.c", 42); /* a name to escape */
    mm_free(mm_malloc_at(10, MM_CAT_IO, "io.c", 7));
    cr_assert(p && q, "the allocations should succeed");
    char *text = mmt_report_string(NULL, MM_REPORT_JSON);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "the JSON report should parse: %s\n%s", err, text);
    const mmt_json *sites = mmt_json_get(doc, "top_sites");
    cr_assert(sites && sites->type == MMT_JSON_ARRAY, "the report should have top_sites:\n%s",
              text);
    cr_assert_eq(sites->count, 3, "three sites are known, got %zu", sites->count);
    const char *files[] = {SITE_FILE, "tr\"ees.c", "io.c"};
    const uint64_t lines[] = {(uint64_t)line, 42, 7};
    const char *cats[] = {"Halos", "Trees", "IO"};
    const uint64_t bytes[] = {3000, 1000, 0}, blocks[] = {1, 1, 0}, peaks[] = {3000, 1000, 10};
    for (size_t i = 0; i < 3; i++) {
        const mmt_json *s = sites->items[i];
        uint64_t v[5] = {0};
        cr_expect(mmt_json_string_is(mmt_json_get(s, "file"), files[i]),
                  "top_sites[%zu].file should be %s", i, files[i]);
        cr_expect(mmt_json_string_is(mmt_json_get(s, "category"), cats[i]),
                  "top_sites[%zu].category should be %s", i, cats[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "line"), &v[0]) && v[0] == lines[i],
                  "top_sites[%zu].line should be %llu", i, (unsigned long long)lines[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "bytes"), &v[1]) && v[1] == bytes[i],
                  "top_sites[%zu].bytes should be %llu", i, (unsigned long long)bytes[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "blocks"), &v[2]) && v[2] == blocks[i],
                  "top_sites[%zu].blocks should be %llu", i, (unsigned long long)blocks[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "peak_bytes"), &v[3]) && v[3] == peaks[i],
                  "top_sites[%zu].peak_bytes should be %llu", i, (unsigned long long)peaks[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "allocs"), &v[4]) && v[4] == 1,
                  "top_sites[%zu].allocs should be 1", i);
    }
    mmt_json_free(doc);
    free(text);
    mm_free(p);
    mm_free(q);
}

Test(sites, report_leaks_lists_a_leaked_block_with_its_file_line_and_category)
{
    mm_set_sites(1);
    mm_context *ctx = mm_context_create("forest", NULL);
    void *p = mm_malloc(104, MM_CAT_HALOS); const int l_p = __LINE__;
    void *q = mm_context_malloc(ctx, 48, MM_CAT_TREES); const int l_q = __LINE__;
    mm_free(mm_malloc(4000, MM_CAT_IO)); /* freed: not a leak */
    cr_assert(p && q, "the allocations should succeed");

    size_t n = 0;
    char *text = mmt_leaks_string(MM_REPORT_TEXT, &n);
    cr_expect_eq(n, 2, "mm_report_leaks should return the 2 live blocks, got %zu", n);
    cr_expect(strstr(text, "=== Leaks: 2 blocks (152 B) still allocated ===\n") != NULL,
              "the leak report should head with 2 blocks of 152 B:\n%s", text);
    const char *by_site = strstr(text, "By allocation site:\n");
    cr_assert_not_null(by_site, "the leak report should list sites:\n%s", text);
    char where[512];
    const int lines[] = {l_p, l_q};
    const char *cats[] = {"Halos", "Trees"};
    for (int i = 0; i < 2; i++) {
        snprintf(where, sizeof where, "  %s:%d ", SITE_FILE, lines[i]);
        const char *row = strstr(by_site, where);
        cr_expect_not_null(row, "the leak report should name %s, it was:\n%s", where + 2, text);
        if (row) {
            const char *eol = strchr(row, '\n');
            const char *cat = strstr(row, cats[i]);
            cr_expect(cat && eol && cat < eol, "the row of %s should name %s", where + 2, cats[i]);
        }
    }
    int rows = 0;
    for (const char *c = by_site; *c; c++) rows += *c == '\n';
    cr_expect_eq(rows, 1 + 2, "the heading and two leaking sites only (the freed 4000-byte "
                              "block is no leak):\n%s", by_site);
    free(text);

    text = mmt_leaks_string(MM_REPORT_JSON, &n);
    cr_expect_eq(n, 2, "the JSON leak report returns 2 as well");
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "the JSON leak report should parse: %s\n%s", err, text);
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "leaked_blocks"), &v) && v == 2,
              "leaked_blocks should be 2");
    cr_expect(mmt_json_uint(mmt_json_get(doc, "leaked_bytes"), &v) && v == 152,
              "leaked_bytes should be 152");
    const mmt_json *sites = mmt_json_get(doc, "by_site");
    cr_assert(sites && sites->type == MMT_JSON_ARRAY && sites->count == 2,
              "by_site should list the 2 leaking sites:\n%s", text);
    const uint64_t bytes[] = {104, 48};
    for (size_t i = 0; i < 2; i++) {
        const mmt_json *s = sites->items[i];
        cr_expect(mmt_json_string_is(mmt_json_get(s, "file"), SITE_FILE),
                  "by_site[%zu].file should be this file", i);
        cr_expect(mmt_json_uint(mmt_json_get(s, "line"), &v) && v == (uint64_t)lines[i],
                  "by_site[%zu].line should be %d", i, lines[i]);
        cr_expect(mmt_json_string_is(mmt_json_get(s, "category"), cats[i]),
                  "by_site[%zu].category should be %s", i, cats[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "bytes"), &v) && v == bytes[i],
                  "by_site[%zu].bytes should be %llu", i, (unsigned long long)bytes[i]);
        cr_expect(mmt_json_uint(mmt_json_get(s, "blocks"), &v) && v == 1,
                  "by_site[%zu].blocks should be 1", i);
    }
    mmt_json_free(doc);
    free(text);

    mm_free(p);
    mm_context_destroy(ctx);
    text = mmt_leaks_string(MM_REPORT_TEXT, &n);
    cr_expect_eq(n, 0, "no block is live after the frees");
    cr_expect_str_eq(text, "=== Leaks ===\nNo blocks are still allocated.\n",
                     "the leak report of a clean process");
    free(text);
}

Test(sites, report_leaks_without_sites_lists_categories_and_says_how_to_get_sites)
{
    void *p = mm_malloc(104, MM_CAT_HALOS);
    size_t n = 0;
    char *text = mmt_leaks_string(MM_REPORT_TEXT, &n);
    cr_expect_eq(n, 1, "one block is live");
    cr_expect(strstr(text, "=== Leaks: 1 block (104 B) still allocated ===\nBy category:\n") !=
                  NULL,
              "the leak report should list the block by category:\n%s", text);
    cr_expect(strstr(text, "MIMICMEM_SITES=on") != NULL,
              "the leak report should say how to list leaks by file and line:\n%s", text);
    free(text);
    mm_free(p);
}

Test(sites, report_leaks_of_a_clean_process_says_so)
{
    size_t n = 99;
    char *text = mmt_leaks_string(MM_REPORT_TEXT, &n);
    cr_expect_eq(n, 0, "a fresh process has no live block");
    cr_expect_str_eq(text, "=== Leaks ===\nNo blocks are still allocated.\n",
                     "the leak report of a clean process");
    free(text);
    text = mmt_leaks_string(MM_REPORT_JSON, &n);
    char err[256];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "the JSON leak report should parse: %s\n%s", err, text);
    uint64_t v = 1;
    cr_expect(mmt_json_uint(mmt_json_get(doc, "leaked_blocks"), &v) && v == 0,
              "leaked_blocks should be 0");
    const mmt_json *sites = mmt_json_get(doc, "by_site");
    cr_expect(sites && sites->type == MMT_JSON_ARRAY && sites->count == 0, "by_site is empty");
    mmt_json_free(doc);
    free(text);
}

Test(sites, report_leaks_refuses_a_null_file)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_report_leaks(NULL, MM_REPORT_TEXT), 0, "a refused leak report returns 0");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "mm_report_leaks(NULL)");
}

static void site_child_leaks_null(void *arg)
{
    (void)arg;
    mm_report_leaks(NULL, MM_REPORT_TEXT);
}

Test(sites, report_leaks_to_a_null_file_aborts_under_the_default_handler)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(site_child_leaks_null, NULL,
                     "mimicmem: bad argument: mm_report_leaks: out is NULL", msg);
}

Test(sites, sites_beyond_the_table_count_under_other_sites)
{
    mm_set_sites(1);
    const char *file = "many_sites.c";
    enum { N = MM_SITES_MAX + 10 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) { /* one call site per line: N distinct sites */
        blocks[i] = mm_malloc_at(8, MM_CAT_UTILITY, file, i + 1);
        cr_assert_not_null(blocks[i], "allocation %d should succeed", i);
    }
    size_t n = mm_sites(NULL, 0);
    cr_expect_eq(n, (size_t)MM_SITES_MAX + 1,
                 "the table keeps MM_SITES_MAX sites plus one for the rest, not %zu", n);
    mm_site_stats *all = malloc(n * sizeof *all);
    cr_assert_not_null(all);
    cr_assert_eq(mm_sites(all, n), n, "mm_sites should report the same count when copying");
    size_t other = n;
    size_t blocks_total = 0;
    for (size_t i = 0; i < n; i++) {
        blocks_total += all[i].blocks;
        if (all[i].file && strcmp(all[i].file, "(other sites)") == 0) other = i;
    }
    cr_assert_neq(other, n, "a site named \"(other sites)\" should collect the overflow");
    cr_expect_eq(all[other].blocks, 10, "the 10 sites beyond the table should land there, not %zu",
                 all[other].blocks);
    cr_expect_eq(all[other].bytes, 80, "with their 80 bytes, not %zu", all[other].bytes);
    cr_expect_eq(blocks_total, (size_t)N, "every block should be counted at some site");
    free(all);
    for (int i = 0; i < N; i++) mm_free(blocks[i]);
    mm_site_stats top;
    mm_sites(&top, 1);
    cr_expect_eq(top.bytes, 0, "after the frees no site should hold bytes, the largest holds %zu",
                 top.bytes);
}

/* Expects the "(other sites)" entry of cat to hold exactly these figures
 * (mm_sites knows more than site_find's 64 entries here). */
static void site_expect_other(mm_category cat, size_t bytes, size_t blocks, size_t peak,
                              uint64_t allocs, const char *what)
{
    size_t n = mm_sites(NULL, 0);
    mm_site_stats *all = malloc(n * sizeof *all);
    cr_assert_not_null(all);
    n = mm_sites(all, n);
    const mm_site_stats *o = NULL;
    for (size_t i = 0; i < n; i++)
        if (all[i].file && strcmp(all[i].file, "(other sites)") == 0 && all[i].category == cat)
            o = &all[i];
    cr_expect_not_null(o, "%s: mm_sites should have an (other sites) entry in %s", what,
                       mm_category_name(cat));
    if (o)
        cr_expect(o->line == 0 && o->bytes == bytes && o->blocks == blocks &&
                      o->peak_bytes == peak && o->allocs == allocs,
                  "%s: (other sites) in %s should hold bytes %zu, blocks %zu, peak %zu, allocs "
                  "%llu; got line %d, bytes %zu, blocks %zu, peak %zu, allocs %llu",
                  what, mm_category_name(cat), bytes, blocks, peak, (unsigned long long)allocs,
                  o->line, o->bytes, o->blocks, o->peak_bytes, (unsigned long long)o->allocs);
    free(all);
}

/* The rows of mm_report_leaks' JSON "by_site" list whose file is "(other
 * sites)": their count, and the bytes and blocks of category cat's row. */
static int site_other_rows(const char *json, const char *cat, uint64_t *bytes, uint64_t *blocks)
{
    char err[256];
    mmt_json *doc = mmt_json_parse(json, err, sizeof err);
    cr_assert_not_null(doc, "the JSON leak report should parse: %s", err);
    const mmt_json *rows = mmt_json_get(doc, "by_site");
    cr_assert(rows && rows->type == MMT_JSON_ARRAY, "the leak report should have by_site");
    int n = 0;
    for (size_t i = 0; i < rows->count; i++) {
        const mmt_json *r = rows->items[i];
        if (!mmt_json_string_is(mmt_json_get(r, "file"), "(other sites)")) continue;
        n++;
        if (mmt_json_string_is(mmt_json_get(r, "category"), cat)) {
            cr_expect(mmt_json_uint(mmt_json_get(r, "bytes"), bytes), "the row should have bytes");
            cr_expect(mmt_json_uint(mmt_json_get(r, "blocks"), blocks),
                      "the row should have blocks");
        }
    }
    mmt_json_free(doc);
    return n;
}

Test(sites, sites_beyond_the_table_keep_their_categories)
{
    mm_set_sites(1);
    const char *file = "many_sites.c";
    enum { N = MM_SITES_MAX };
    static void *fill[N];
    for (int i = 0; i < N; i++) { /* the table full, with blocks of no interest */
        fill[i] = mm_malloc_at(8, MM_CAT_UTILITY, file, i + 1);
        cr_assert_not_null(fill[i]);
    }
    /* beyond it: 3 Halos blocks (100 B each) and 2 Trees blocks (1000 B) */
    void *h[3], *t[2];
    for (int i = 0; i < 3; i++) h[i] = mm_malloc_at(100, MM_CAT_HALOS, file, N + 1 + i);
    for (int i = 0; i < 2; i++) t[i] = mm_malloc_at(1000, MM_CAT_TREES, file, N + 10 + i);
    cr_assert(h[0] && h[1] && h[2] && t[0] && t[1]);
    size_t n = mm_sites(NULL, 0);
    cr_expect_eq(n, (size_t)MM_SITES_MAX + 2,
                 "the table's sites and one \"(other sites)\" entry per category used (Halos, "
                 "Trees), not %zu entries", n);
    mm_site_stats *all = malloc(n * sizeof *all);
    cr_assert_not_null(all);
    cr_assert_eq(mm_sites(all, n), n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].file == NULL || strcmp(all[i].file, "(other sites)") != 0) continue;
        seen++;
        cr_expect(all[i].category == MM_CAT_HALOS || all[i].category == MM_CAT_TREES,
                  "no overflow entry in %s was expected", mm_category_name(all[i].category));
    }
    cr_expect_eq(seen, 2, "two \"(other sites)\" entries (Halos, Trees), not %d", seen);
    free(all);
    site_expect_other(MM_CAT_HALOS, 300, 3, 300, 3, "Halos");
    site_expect_other(MM_CAT_TREES, 2000, 2, 2000, 2, "Trees");

    /* a realloc_cat moves an overflow block to its new category's entry */
    h[2] = mm_realloc_cat(h[2], 500, MM_CAT_TREES);
    cr_assert_not_null(h[2]);
    site_expect_other(MM_CAT_HALOS, 200, 2, 300, 3, "Halos after the move");
    site_expect_other(MM_CAT_TREES, 2500, 3, 2500, 3, "Trees after the move");

    /* the reports: text rows name their category; JSON rows carry it */
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    const char *row = strstr(text, "(other sites)");
    cr_expect_not_null(row, "the report's top sites should show the Trees overflow row:\n%s", text);
    if (row) {
        const char *eol = strchr(row, '\n');
        const char *cat = strstr(row, "Trees");
        cr_expect(cat && eol && cat < eol, "the (other sites) row should name Trees:\n%s", text);
    }
    free(text);
    size_t nleaks = 0;
    char *json = mmt_leaks_string(MM_REPORT_JSON, &nleaks);
    uint64_t hb = 0, hk = 0, tb = 0, tk = 0;
    cr_expect_eq(site_other_rows(json, "Halos", &hb, &hk), 2,
                 "the JSON leak list should have two (other sites) rows");
    site_other_rows(json, "Trees", &tb, &tk);
    cr_expect(hb == 200 && hk == 2, "its Halos row: 2 blocks, 200 B (got %llu, %llu)",
              (unsigned long long)hk, (unsigned long long)hb);
    cr_expect(tb == 2500 && tk == 3, "its Trees row: 3 blocks, 2500 B (got %llu, %llu)",
              (unsigned long long)tk, (unsigned long long)tb);
    free(json);
    for (int i = 0; i < 3; i++) mm_free(h[i]);
    for (int i = 0; i < 2; i++) mm_free(t[i]);
    for (int i = 0; i < N; i++) mm_free(fill[i]);
}
