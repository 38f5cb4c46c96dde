/* Mimic's legacy calls and their allocation sites. With
 * MM_WITH_LEGACY_SITE_MACROS, mymalloc, mymalloc_cat, myrealloc and
 * myrealloc_cat pass __FILE__ and __LINE__ through. Called as functions (the
 * names in parentheses: no macro, as in a host that redeclares them), they
 * record their return address, "module+0xOFFSET", which the reports turn
 * into file:line (function) with addr2line (src/report/symbolize.c); this
 * file is always compiled with -g (tests/CMakeLists.txt) so it can. */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp, clock_gettime */
#define MM_WITH_SITES
#define MM_WITH_LEGACY_SITE_MACROS /* exact lines: this file never redeclares the legacy names */

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../compat/memory.h"
#include "mm_json.h"
#include "mm_test.h"

Test(legacy_sites, each_legacy_call_records_the_line_it_was_made_on)
{
    mm_set_sites(1);
    int l_unknown = __LINE__ + 1;
    char *a = mymalloc(40);
    int l_halos = __LINE__ + 1;
    char *b = mymalloc_cat(104, MEM_HALOS);
    cr_assert(a && b, "both legacy allocations should succeed");

    mm_site_stats all[16];
    cr_assert_leq(mm_sites(all, 16), 16, "a fresh process should know only this test's sites");
    mm_site_stats s;
    cr_assert(mmt_site_find(__FILE__, l_unknown, MM_CAT_UNKNOWN, &s),
              "mymalloc on line %d should be a site in category Unknown", l_unknown);
    cr_expect_eq(s.bytes, 40, "its site should hold 40 bytes, not %zu", s.bytes);
    cr_expect_eq(s.blocks, 1, "its site should hold 1 block, not %zu", s.blocks);
    cr_assert(mmt_site_find(__FILE__, l_halos, MM_CAT_HALOS, &s),
              "mymalloc_cat on line %d should be a site in Halos", l_halos);
    cr_expect_eq(s.bytes, 104, "its site should hold 104 bytes, not %zu", s.bytes);

    b = myrealloc(b, 208); /* keeps its site and category */
    cr_assert(mmt_site_find(__FILE__, l_halos, MM_CAT_HALOS, &s),
              "myrealloc should keep the block at its allocation site");
    cr_expect_eq(s.bytes, 208, "the site should now hold 208 bytes, not %zu", s.bytes);
    cr_expect_eq(s.peak_bytes, 208, "the site's peak should be 208 bytes, not %zu", s.peak_bytes);

    b = myrealloc_cat(b, 208, MEM_IO); /* same file and line, new category */
    cr_assert(mmt_site_find(__FILE__, l_halos, MM_CAT_HALOS, &s),
              "the Halos site stays known after the move");
    cr_expect_eq(s.blocks, 0, "myrealloc_cat should take the block off its Halos site");
    cr_assert(mmt_site_find(__FILE__, l_halos, MM_CAT_IO, &s),
              "myrealloc_cat should move the block to the same line in IO");
    cr_expect_eq(s.bytes, 208, "the IO site should hold 208 bytes, not %zu", s.bytes);

    myfree(b);
    size_t live = 0;
    char *text = mmt_leaks_string(MM_REPORT_TEXT, &live);
    cr_expect_eq(live, 1, "only the mymalloc block should be live, not %zu blocks", live);
    char where[512];
    snprintf(where, sizeof where, "%s:%d", __FILE__, l_unknown);
    cr_expect(strstr(text, where) != NULL, "the leak list should name %s:\n%s", where, text);
    free(text);
    myfree(a);
}

/* ========================================================================
 * Sites named by return address, resolved at report time
 * ====================================================================== */

/* The full path of tool on PATH into found; false when it is not there. */
static bool ls_on_path(const char *tool, char *found, size_t len)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(found, len, "%.*s/%s", (int)n, p, tool);
        if (n > 0 && access(found, X_OK) == 0) return true;
        if (!colon) break;
        p = colon + 1;
    }
    return false;
}

#define ls_need_addr2line()                                                                    \
    do {                                                                                       \
        char ls_a2l_[4096];                                                                    \
        if (!ls_on_path("addr2line", ls_a2l_, sizeof ls_a2l_))                                 \
            cr_skip_test("addr2line is not on PATH (Debian/Ubuntu: binutils): sites named by " \
                         "return address cannot be resolved here");                           \
    } while (0)

/* The two allocations of these tests, each on a line of its own, through
 * the function names (no macro): their sites are return addresses. */
static int ls_line_a, ls_line_b;
static void *ls_a, *ls_b;

static void ls_allocate(void)
{
    mm_set_sites(1);
    ls_line_a = __LINE__ + 1;
    ls_a = (mymalloc)(3000);
    ls_line_b = __LINE__ + 1;
    ls_b = (mymalloc_cat)(2000, MEM_HALOS);
    cr_assert(ls_a && ls_b, "both legacy allocations should succeed");
}

static void ls_free(void)
{
    myfree(ls_a);
    myfree(ls_b);
}

/* The recorded name of the site of category cat ("test_legacy_sites+0x..."). */
static const char *ls_raw_name(mm_category cat)
{
    mm_site_stats all[16];
    size_t n = mm_sites(all, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (all[i].category == cat && all[i].blocks == 1) return all[i].file;
    cr_assert_fail("no site of category %d holds one block", (int)cat);
    return NULL;
}

/* Expects text to name both sites as this file's lines, and neither by its
 * recorded module+0xOFFSET name. */
static void ls_expect_resolved(const char *text, const char *what)
{
    char want[128];
    int lines[2] = {ls_line_a, ls_line_b};
    for (int i = 0; i < 2; i++) {
        snprintf(want, sizeof want, "test_legacy_sites.c:%d (", lines[i]);
        cr_expect(strstr(text, want) != NULL, "%s should name %s...:\n%s", what, want, text);
    }
    const char *raw = ls_raw_name(MM_CAT_UNKNOWN);
    cr_expect(strncmp(raw, "test_legacy_sites+0x", 20) == 0,
              "mm_sites should keep the recorded name test_legacy_sites+0x..., not %s", raw);
    cr_expect(strstr(text, raw) == NULL, "%s should not show the raw name %s:\n%s", what, raw,
              text);
}

/* Expects text to show both sites by their recorded names and no line of this file. */
static void ls_expect_raw(const char *text, const char *what)
{
    const char *names[2] = {ls_raw_name(MM_CAT_UNKNOWN), ls_raw_name(MM_CAT_HALOS)};
    int lines[2] = {ls_line_a, ls_line_b};
    for (int i = 0; i < 2; i++) {
        cr_expect(strncmp(names[i], "test_legacy_sites+0x", 20) == 0,
                  "the recorded name should be test_legacy_sites+0x..., not %s", names[i]);
        cr_expect(strstr(text, names[i]) != NULL, "%s should name %s:\n%s", what, names[i], text);
        char line[64];
        snprintf(line, sizeof line, "test_legacy_sites.c:%d", lines[i]);
        cr_expect(strstr(text, line) == NULL, "%s should not resolve to %s:\n%s", what, line, text);
    }
}

/* Checks the text report and the text leak list with expect
 * (ls_expect_resolved or ls_expect_raw); when says under what conditions. */
static void ls_expect_text_reports(void (*expect)(const char *text, const char *what),
                                   const char *when)
{
    char what[192];
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    snprintf(what, sizeof what, "the text report %s", when);
    expect(text, what);
    free(text);
    text = mmt_leaks_string(MM_REPORT_TEXT, NULL);
    snprintf(what, sizeof what, "the text leak list %s", when);
    expect(text, what);
    free(text);
}

/* The member of JSON array arr whose "address" is name, or NULL. */
static const mmt_json *ls_json_site(const mmt_json *arr, const char *name)
{
    cr_assert(arr != NULL && arr->type == MMT_JSON_ARRAY, "a site array should be present");
    for (size_t i = 0; i < arr->count; i++)
        if (mmt_json_string_is(mmt_json_get(arr->items[i], "address"), name)) return arr->items[i];
    return NULL;
}

/* A JSON site resolved to this file's line, keeping address and module. */
static void ls_expect_json_site(const mmt_json *site, const char *name, int line, const char *what)
{
    cr_assert_not_null(site, "%s should list the site with \"address\": \"%s\"", what, name);
    const mmt_json *file = mmt_json_get(site, "file");
    cr_assert(file && file->type == MMT_JSON_STRING, "%s: the site should have a \"file\"", what);
    size_t n = strlen(file->text), suffix = strlen("/test_legacy_sites.c");
    cr_expect(n >= suffix && strcmp(file->text + n - suffix, "/test_legacy_sites.c") == 0,
              "%s: \"file\" should be this test file, not %s", what, file->text);
    uint64_t got = 0;
    cr_expect(mmt_json_uint(mmt_json_get(site, "line"), &got) && got == (uint64_t)line,
              "%s: \"line\" should be %d, not %llu", what, line, (unsigned long long)got);
    const mmt_json *fn = mmt_json_get(site, "function");
    cr_expect(fn && fn->type == MMT_JSON_STRING && strstr(fn->text, "ls_allocate") != NULL,
              "%s: \"function\" should be ls_allocate, not %s", what, fn ? fn->text : "(none)");
    const mmt_json *mod = mmt_json_get(site, "module");
    cr_expect(mod && mod->type == MMT_JSON_STRING && mod->text[0] == '/' &&
                  strstr(mod->text, "test_legacy_sites") != NULL,
              "%s: \"module\" should be the test program's full path, not %s", what,
              mod ? mod->text : "(none)");
}

/* Parses text (a JSON report or leak list, freed here) and expects both
 * sites in its array key, each resolved to this file's line. */
static void ls_expect_json_sites(char *text, const char *key, const char *what)
{
    char err[256];
    mmt_json *j = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(j, "%s should parse: %s\n%s", what, err, text);
    const mmt_json *arr = mmt_json_get(j, key);
    const char *raw_a = ls_raw_name(MM_CAT_UNKNOWN), *raw_b = ls_raw_name(MM_CAT_HALOS);
    ls_expect_json_site(ls_json_site(arr, raw_a), raw_a, ls_line_a, what);
    ls_expect_json_site(ls_json_site(arr, raw_b), raw_b, ls_line_b, what);
    mmt_json_free(j);
    free(text);
}

Test(legacy_sites, return_address_sites_read_as_file_and_line_in_every_report)
{
    ls_need_addr2line();
    ls_allocate();
    ls_expect_text_reports(ls_expect_resolved, "(addr2line on PATH)");
    ls_expect_json_sites(mmt_report_string(NULL, MM_REPORT_JSON), "top_sites",
                         "the JSON report's top sites");
    ls_expect_json_sites(mmt_leaks_string(MM_REPORT_JSON, NULL), "by_site", "the JSON leak list");
    ls_free();
}

Test(legacy_sites, site_resolve_off_from_the_environment_keeps_module_plus_offset)
{
    ls_need_addr2line(); /* so that only the option can keep the names raw */
    cr_assert_eq(setenv("MIMICMEM_SITE_RESOLVE", "off", 1), 0, "setenv should succeed");
    ls_allocate(); /* the first use: the environment is read here */
    char value[16];
    mm_option_get("site_resolve", value, sizeof value);
    cr_expect_str_eq(value, "off", "MIMICMEM_SITE_RESOLVE=off should read off, not %s", value);
    ls_expect_text_reports(ls_expect_raw, "with MIMICMEM_SITE_RESOLVE=off");
    /* JSON: "file" is the recorded name, "address" still carries it */
    const char *raw = ls_raw_name(MM_CAT_UNKNOWN);
    char err[256];
    char *text = mmt_leaks_string(MM_REPORT_JSON, NULL);
    mmt_json *j = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(j, "the JSON leak list should parse: %s", err);
    const mmt_json *site = ls_json_site(mmt_json_get(j, "by_site"), raw);
    cr_assert_not_null(site, "the JSON leak list should give the site's \"address\" %s:\n%s", raw,
                       text);
    cr_expect(mmt_json_string_is(mmt_json_get(site, "file"), raw),
              "with resolution off \"file\" should stay %s:\n%s", raw, text);
    cr_expect_null(mmt_json_get(site, "function"), "an unresolved site has no \"function\"");
    mmt_json_free(j);
    free(text);
    /* and back on from code: the same sites now resolve */
    cr_assert_eq(mm_option_set("site_resolve", "auto"), 0, "site_resolve auto should be set");
    text = mmt_report_string(NULL, MM_REPORT_TEXT);
    ls_expect_resolved(text, "the report after mm_option_set(\"site_resolve\", \"auto\")");
    free(text);
    ls_free();
}

/* A folder made for one test, holding a fake tool called name whose
 * script is body; PATH is set to that folder first. */
static void ls_fake_tool(const char *name, const char *body, bool keep_path, char *dir,
                         size_t len)
{
    snprintf(dir, len, "/tmp/mm-legacy-sites-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp should make a folder: %s", strerror(errno));
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "the fake %s should be writable at %s", name, path);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    cr_assert_eq(chmod(path, 0755), 0, "the fake %s should be made executable", name);
    char newpath[8192];
    const char *old = getenv("PATH");
    snprintf(newpath, sizeof newpath, "%s%s%s", dir, keep_path && old ? ":" : "",
             keep_path && old ? old : "");
    cr_assert_eq(setenv("PATH", newpath, 1), 0, "setenv(PATH) should succeed");
}

static void ls_fake_tool_remove(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
    snprintf(path, sizeof path, "%s/runs", dir);
    remove(path);
    rmdir(dir);
}

Test(legacy_sites, without_addr2line_on_path_the_reports_keep_module_plus_offset)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    ls_allocate();
    char dir[64];
    ls_fake_tool("unrelated", "exit 0", false, dir, sizeof dir); /* PATH: a folder without it */
    ls_expect_text_reports(ls_expect_raw, "without addr2line");
    mmt_expect_no_error(&rec, "a missing addr2line");
    ls_fake_tool_remove(dir, "unrelated");
    ls_free();
}

Test(legacy_sites, a_module_without_line_information_keeps_module_plus_offset)
{
    /* what addr2line answers for a program built without -g */
    ls_allocate();
    char dir[64];
    ls_fake_tool("addr2line",
                 "for a in \"$@\"; do case $a in 0x*) printf '??\\n??:0\\n' ;; esac; done", false,
                 dir, sizeof dir);
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    ls_expect_raw(text, "the report of a module without line information");
    free(text);
    ls_fake_tool_remove(dir, "addr2line");
    ls_free();
}

Test(legacy_sites, addr2line_runs_once_for_sites_reported_again)
{
    char real[4096];
    if (!ls_on_path("addr2line", real, sizeof real))
        cr_skip_test("addr2line is not on PATH (Debian/Ubuntu: binutils)");
    ls_allocate();
    char dir[64], body[8192];
    snprintf(body, sizeof body, "echo run >>\"${0%%/*}/runs\"\nexec '%s' \"$@\"", real);
    ls_fake_tool("addr2line", body, false, dir, sizeof dir);
    for (int round = 0; round < 3; round++) {
        char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
        ls_expect_resolved(text, "a report made again");
        free(text);
        text = mmt_leaks_string(MM_REPORT_JSON, NULL);
        free(text);
    }
    char runs_path[128];
    snprintf(runs_path, sizeof runs_path, "%s/runs", dir);
    char *runs = mmt_read_file(runs_path, "the fake addr2line's log");
    int n = 0;
    for (const char *p = runs; (p = strstr(p, "run\n")) != NULL; p += 4) n++;
    cr_expect_eq(n, 1, "six reports of the same two sites should run addr2line once, not %d", n);
    free(runs);
    ls_fake_tool_remove(dir, "addr2line");
    ls_free();
}

/* The text report, and in *seconds how long it took to make. */
static char *ls_timed_report(double *seconds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *text = mmt_report_string(NULL, MM_REPORT_TEXT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return text;
}

Test(legacy_sites, an_addr2line_that_hangs_is_killed_and_the_names_stay, .timeout = 60)
{
    ls_allocate();
    char dir[64];
    ls_fake_tool("addr2line", "exec sleep 600", true, dir, sizeof dir);
    double s;
    char *text = ls_timed_report(&s);
    ls_expect_raw(text, "the report after addr2line hung");
    cr_expect(s >= 9.0 && s < 30.0, "the report should wait 10 s for the tool, then go on; it "
              "took %.1f s", s);
    free(text);
    /* the answers it never gave are not asked again */
    text = ls_timed_report(&s);
    cr_expect(s < 5.0, "a second report should not wait for the tool again; it took %.1f s", s);
    free(text);
    ls_fake_tool_remove(dir, "addr2line");
    ls_free();
}
