/* Mimic's legacy calls in a build with -DMM_WITH_SITES: mymalloc, mymalloc_cat,
 * myrealloc and myrealloc_cat pass their call site through, so the report and
 * the leak list name Mimic's own files and lines without a change to its
 * call sites. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#define MM_WITH_SITES
#define MM_WITH_LEGACY_SITE_MACROS /* exact lines: this file never redeclares the legacy names */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compat/memory.h"
#include "mm_test.h"

/* The site of file/line/category in mm_sites, or NULL. */
static const mm_site_stats *find_site(mm_site_stats *all, size_t n, int line, mm_category cat)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].file && strcmp(all[i].file, __FILE__) == 0 && all[i].line == line &&
            all[i].category == cat)
            return &all[i];
    return NULL;
}

Test(legacy_sites, each_legacy_call_records_the_line_it_was_made_on)
{
    mm_set_sites(1);
    int l_unknown = __LINE__ + 1;
    char *a = mymalloc(40);
    int l_halos = __LINE__ + 1;
    char *b = mymalloc_cat(104, MEM_HALOS);
    cr_assert(a && b, "both legacy allocations should succeed");

    mm_site_stats all[16];
    size_t n = mm_sites(all, 16);
    cr_assert_leq(n, 16, "a fresh process should know only this test's sites");
    const mm_site_stats *s = find_site(all, n, l_unknown, MM_CAT_UNKNOWN);
    cr_assert_not_null(s, "mymalloc on line %d should be a site in category Unknown", l_unknown);
    cr_expect_eq(s->bytes, 40, "its site should hold 40 bytes, not %zu", s->bytes);
    cr_expect_eq(s->blocks, 1, "its site should hold 1 block, not %zu", s->blocks);
    s = find_site(all, n, l_halos, MM_CAT_HALOS);
    cr_assert_not_null(s, "mymalloc_cat on line %d should be a site in Halos", l_halos);
    cr_expect_eq(s->bytes, 104, "its site should hold 104 bytes, not %zu", s->bytes);

    b = myrealloc(b, 208); /* keeps its site and category */
    n = mm_sites(all, 16);
    s = find_site(all, n, l_halos, MM_CAT_HALOS);
    cr_assert_not_null(s, "myrealloc should keep the block at its allocation site");
    cr_expect_eq(s->bytes, 208, "the site should now hold 208 bytes, not %zu", s->bytes);
    cr_expect_eq(s->peak_bytes, 208, "the site's peak should be 208 bytes, not %zu", s->peak_bytes);

    b = myrealloc_cat(b, 208, MEM_IO); /* same file and line, new category */
    n = mm_sites(all, 16);
    s = find_site(all, n, l_halos, MM_CAT_HALOS);
    cr_assert_not_null(s, "the Halos site stays known after the move");
    cr_expect_eq(s->blocks, 0, "myrealloc_cat should take the block off its Halos site");
    s = find_site(all, n, l_halos, MM_CAT_IO);
    cr_assert_not_null(s, "myrealloc_cat should move the block to the same line in IO");
    cr_expect_eq(s->bytes, 208, "the IO site should hold 208 bytes, not %zu", s->bytes);

    myfree(b);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f, "a memory stream should open");
    size_t live = mm_report_leaks(f, MM_REPORT_TEXT);
    fclose(f);
    cr_expect_eq(live, 1, "only the mymalloc block should be live, not %zu blocks", live);
    char where[512];
    snprintf(where, sizeof where, "%s:%d", __FILE__, l_unknown);
    cr_expect(strstr(text, where) != NULL, "the leak list should name %s:\n%s", where, text);
    free(text);
    myfree(a);
}
