/* Unit tests for src/options.c: every option of the table read from its
 * MIMICMEM_ environment variable (valid values take effect, a malformed value
 * gives one warning naming the variable and the value and the default stays),
 * mm_option_set/get, mm_options_print, the README table, and the report
 * written at exit. Each Criterion test is a fresh process, so a test sets its
 * variables before its first mimicmem call; nothing here calls the library
 * from an init hook. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm_json.h"
#include "mm_test.h"

/* ========================================================================
 * Helpers
 * ====================================================================== */

#define OPT_COUNT 12

/* Every option of the table, with its variable and default as
 * mm_option_get shows it (the cache default depends on the build). */
typedef struct {
    const char *name; /* option name */
    const char *env;  /* its environment variable */
} opt_row;

static const opt_row opt_rows[OPT_COUNT] = {
    {"report", "MIMICMEM_REPORT"},       {"report_format", "MIMICMEM_REPORT_FORMAT"},
    {"report_file", "MIMICMEM_REPORT_FILE"}, {"check", "MIMICMEM_CHECK"},
    {"fill", "MIMICMEM_FILL"},           {"limit", "MIMICMEM_LIMIT"},
    {"limit_warn", "MIMICMEM_LIMIT_WARN"}, {"sites", "MIMICMEM_SITES"},
    {"peak_step", "MIMICMEM_PEAK_STEP"}, {"trace", "MIMICMEM_TRACE"},
    {"cache", "MIMICMEM_CACHE"},         {"site_resolve", "MIMICMEM_SITE_RESOLVE"},
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OPT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OPT_SANITIZED 1
#endif
#endif
#ifndef OPT_SANITIZED
#define OPT_SANITIZED 0
#endif

/* The cache default as mm_option_get shows it: on (adaptive), 0 under ASan/TSan. */
#define OPT_CACHE_DEFAULT (OPT_SANITIZED ? "0" : "on")

/* Captured log lines. */
typedef struct {
    int warnings;        /* MM_LOG_WARNING lines */
    int others;          /* lines of any other level */
    char first[1024];    /* the first warning */
    char last[1024];     /* the last warning */
} opt_log;

static opt_log opt_logged;

static void opt_log_fn(mm_log_level level, const char *msg, void *user)
{
    opt_log *l = user;
    if (level != MM_LOG_WARNING) {
        l->others++;
        return;
    }
    if (l->warnings++ == 0) snprintf(l->first, sizeof l->first, "%s", msg);
    snprintf(l->last, sizeof l->last, "%s", msg);
}

/* Installs the log capture; mm_set_log_handler does not read the
 * environment, so it may come before the first use. */
static void opt_capture_log(void)
{
    memset(&opt_logged, 0, sizeof opt_logged);
    mm_set_log_handler(opt_log_fn, &opt_logged);
}

/* The current value of option name (a static buffer per call site is not
 * needed: each caller copies or compares at once). */
static const char *opt_get(const char *name)
{
    static char buf[8192];
    buf[0] = '\0';
    cr_assert_eq(mm_option_get(name, buf, sizeof buf), 0, "mm_option_get(\"%s\") should return 0",
                 name);
    return buf;
}

#define opt_expect_value(name, want, what)                                                  \
    do {                                                                                    \
        const char *opt_v_ = opt_get(name);                                                 \
        cr_expect_str_eq(opt_v_, (want), "%s: option %s should read \"%s\", it reads \"%s\"", \
                         (what), (name), (want), opt_v_);                                   \
    } while (0)

#define opt_expect_contains(text, phrase, what)                                           \
    cr_expect(strstr((text), (phrase)) != NULL, "%s should contain \"%s\"; it was:\n%s", \
              (what), (phrase), (text))

/* Sets env=value before the first use, reads the options and expects one
 * warning naming the variable and the value and option name at its default. */
static void opt_expect_malformed(const char *env, const char *value, const char *name,
                                 const char *def)
{
    opt_capture_log();
    cr_assert_eq(setenv(env, value, 1), 0, "setenv(%s) should succeed", env);
    char want_default[64];
    snprintf(want_default, sizeof want_default, "the default \"%s\" stays",
             strcmp(name, "cache") == 0 ? "on (0 under ASan/TSan)"
             : strcmp(name, "peak_step") == 0 ? "1" : def);
    const char *v = opt_get(name); /* the first use: the environment is read here */
    cr_expect_str_eq(v, def, "after %s=\"%.80s\" option %s should keep its default \"%s\", it "
                     "reads \"%.80s\"", env, value, name, def, v);
    cr_expect_eq(opt_logged.warnings, 1, "%s=\"%.80s\" should log exactly one warning, got %d "
                 "(first: %s)", env, value, opt_logged.warnings, opt_logged.first);
    cr_expect_eq(opt_logged.others, 0, "nothing but the warning should be logged");
    char named[256];
    snprintf(named, sizeof named, "%s=\"%.100s", env, value);
    opt_expect_contains(opt_logged.first, named, "the warning (variable and value)");
    opt_expect_contains(opt_logged.first, "is not valid", "the warning");
    opt_expect_contains(opt_logged.first, want_default, "the warning");
}

static mmt_recorder opt_rec;

/* A path of n characters (a directory that does not matter). */
static char *opt_long_path(size_t n)
{
    char *p = malloc(n + 1);
    cr_assert_not_null(p, "the system malloc should give %zu bytes", n + 1);
    memset(p, 'x', n);
    p[0] = '/';
    p[n] = '\0';
    return p;
}

static void opt_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/mm-options-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp should make a directory: %s", strerror(errno));
}

/* ========================================================================
 * Valid values from the environment
 * ====================================================================== */

Test(options, every_option_reads_its_default_without_environment)
{
    for (int i = 0; i < OPT_COUNT; i++) unsetenv(opt_rows[i].env);
    opt_capture_log();
    opt_expect_value("report", "off", "no environment");
    opt_expect_value("report_format", "text", "no environment");
    opt_expect_value("report_file", "", "no environment");
    opt_expect_value("check", "off", "no environment");
    opt_expect_value("fill", "nan", "no environment");
    opt_expect_value("limit", "0", "no environment");
    opt_expect_value("limit_warn", "90", "no environment");
    opt_expect_value("sites", "off", "no environment");
    opt_expect_value("peak_step", "1", "no environment");
    opt_expect_value("trace", "", "no environment");
    opt_expect_value("cache", OPT_CACHE_DEFAULT, "no environment");
    opt_expect_value("site_resolve", "auto", "no environment");
    cr_expect_eq(opt_logged.warnings + opt_logged.others, 0, "nothing should be logged");
}

Test(options, report_exit_and_json_format_and_file_are_read_from_the_environment)
{
    setenv("MIMICMEM_REPORT", "exit", 1);
    setenv("MIMICMEM_REPORT_FORMAT", "json", 1);
    setenv("MIMICMEM_REPORT_FILE", "/tmp/some-report-%p.json", 1);
    opt_capture_log();
    opt_expect_value("report", "exit", "MIMICMEM_REPORT=exit");
    opt_expect_value("report_format", "json", "MIMICMEM_REPORT_FORMAT=json");
    opt_expect_value("report_file", "/tmp/some-report-%p.json", "MIMICMEM_REPORT_FILE");
    cr_expect_eq(opt_logged.warnings, 0, "valid values should log nothing; got: %s",
                 opt_logged.first);
    /* No report at the end of this process. */
    cr_expect_eq(mm_option_set("report", "off"), 0, "report should switch back to off");
}

Test(options, check_guards_from_the_environment_guards_new_blocks)
{
    setenv("MIMICMEM_CHECK", "guards", 1);
    mmt_record_errors(&opt_rec);
    opt_expect_value("check", "guards", "MIMICMEM_CHECK=guards");
    unsigned char *p = mm_malloc(16, MM_CAT_HALOS);
    cr_assert_not_null(p, "16 bytes should be allocated");
    cr_expect_eq(mm_get_check(), MM_CHECK_GUARDS, "mm_get_check should say guards");
    cr_expect(mm_validate(p), "an intact guarded block should validate");
    unsigned char saved = p[16];
    p[16] = (unsigned char)~saved; /* one byte past the end: the canary */
    cr_expect(!mm_validate(p), "a guarded block written one byte past its end should fail "
                               "mm_validate");
    p[16] = saved;
    cr_expect(mm_validate(p), "restoring the canary should make the block valid again");
    mm_free(p);
    mmt_expect_no_error(&opt_rec, "an intact guarded block");
}

Test(options, check_poison_from_the_environment_fills_new_blocks_with_nan)
{
    setenv("MIMICMEM_CHECK", "poison", 1);
    opt_expect_value("check", "poison", "MIMICMEM_CHECK=poison");
    opt_expect_value("fill", "nan", "the default fill");
    double *d = mm_malloc(8 * sizeof(double), MM_CAT_HALOS);
    cr_assert_not_null(d, "8 doubles should be allocated");
    for (int i = 0; i < 8; i++) cr_expect(isnan(d[i]), "new double %d should be NaN", i);
    mm_free(d);
}

Test(options, check_full_and_fill_bytes_from_the_environment)
{
    setenv("MIMICMEM_CHECK", "full", 1);
    setenv("MIMICMEM_FILL", "bytes", 1);
    opt_expect_value("check", "full", "MIMICMEM_CHECK=full");
    opt_expect_value("fill", "bytes", "MIMICMEM_FILL=bytes");
    unsigned char *p = mm_malloc(24, MM_CAT_TREES);
    cr_assert_not_null(p, "24 bytes should be allocated");
    cr_expect_eq(mm_get_check(), MM_CHECK_FULL, "mm_get_check should say full");
    for (int i = 0; i < 24; i++)
        cr_expect_eq(p[i], MM_FRESH_BYTE, "byte %d should hold the fresh fill 0x%02X, got 0x%02X",
                     i, MM_FRESH_BYTE, p[i]);
    unsigned char saved = p[24];
    p[24] = (unsigned char)~saved;
    cr_expect(!mm_validate(p), "full checking guards blocks: an overrun should fail validation");
    p[24] = saved;
    mm_free(p);
}

Test(options, limit_from_the_environment_refuses_a_larger_allocation)
{
    setenv("MIMICMEM_LIMIT", "1M", 1);
    mmt_record_errors(&opt_rec);
    opt_expect_value("limit", "1048576", "MIMICMEM_LIMIT=1M");
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_INVALID), 1048576, "the process limit should be 1 MiB");
    cr_expect_null(mm_malloc(2 << 20, MM_CAT_HALOS), "2 MB should pass a 1M limit");
    mmt_expect_one_error(&opt_rec, MM_ERR_LIMIT, "a 2 MB allocation under MIMICMEM_LIMIT=1M");
    void *p = mm_malloc(1 << 20, MM_CAT_HALOS);
    cr_expect_not_null(p, "1 MiB should reach the limit exactly");
    mmt_expect_no_error(&opt_rec, "1 MiB under a 1M limit");
    mm_free(p);
}

/* Sets MIMICMEM_LIMIT=value and expects the limit to read want. */
static void opt_expect_limit(const char *value, const char *want)
{
    setenv("MIMICMEM_LIMIT", value, 1);
    opt_capture_log();
    char what[64];
    snprintf(what, sizeof what, "MIMICMEM_LIMIT=%s", value);
    opt_expect_value("limit", want, what);
    cr_expect_eq(opt_logged.warnings, 0, "%s should log nothing; got: %s", what, opt_logged.first);
}

Test(options, limit_without_suffix_is_bytes)
{
    opt_expect_limit("123456", "123456");
}

Test(options, limit_suffix_k_is_kibibytes)
{
    opt_expect_limit("64K", "65536");
}

Test(options, limit_suffix_m_in_lower_case_with_b_is_mebibytes)
{
    opt_expect_limit("3mb", "3145728");
}

Test(options, limit_suffix_g_is_gibibytes)
{
    opt_expect_limit("2G", "2147483648");
}

Test(options, limit_suffix_t_with_ib_is_tebibytes)
{
    opt_expect_limit("1TiB", "1099511627776");
}

Test(options, limit_zero_means_no_limit)
{
    opt_expect_limit("0", "0");
}

Test(options, limit_warn_from_the_environment_sets_the_threshold)
{
    setenv("MIMICMEM_LIMIT_WARN", "50", 1);
    opt_capture_log();
    opt_expect_value("limit_warn", "50", "MIMICMEM_LIMIT_WARN=50");
    mm_limit_set(NULL, MM_CAT_INVALID, 1000);
    void *a = mm_malloc(499, MM_CAT_HALOS);
    cr_expect_eq(opt_logged.warnings, 0, "499 of 1000 is under 50%%; got: %s", opt_logged.first);
    void *b = mm_malloc(1, MM_CAT_HALOS);
    cr_expect_eq(opt_logged.warnings, 1, "500 of 1000 should warn once, got %d",
                 opt_logged.warnings);
    opt_expect_contains(opt_logged.last, "50% of its limit", "the threshold warning");
    mm_free(a);
    mm_free(b);
}

Test(options, sites_on_from_the_environment_records_call_sites)
{
    setenv("MIMICMEM_SITES", "on", 1);
    opt_expect_value("sites", "on", "MIMICMEM_SITES=on");
    void *p = mm_malloc_at(10, MM_CAT_HALOS, "opt_site.c", 42);
    cr_assert_not_null(p, "10 bytes should be allocated");
    mm_site_stats s[8];
    size_t n = mm_sites(s, 8);
    int found = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        if (s[i].file && strcmp(s[i].file, "opt_site.c") == 0 && s[i].line == 42) {
            found = 1;
            cr_expect_eq(s[i].bytes, 10, "the site should hold 10 live bytes, got %zu", s[i].bytes);
            cr_expect_eq(s[i].blocks, 1, "the site should hold one block, got %zu", s[i].blocks);
        }
    cr_expect(found, "the site opt_site.c:42 should be recorded (%zu sites known)", n);
    mm_free(p);
}

Test(options, peak_step_from_the_environment_records_the_composition_sooner)
{
    setenv("MIMICMEM_PEAK_STEP", "1K", 1);
    opt_expect_value("peak_step", "1024", "MIMICMEM_PEAK_STEP=1K");
    void *p = mm_malloc(2000, MM_CAT_TREES);
    cr_assert_not_null(p, "2000 bytes should be allocated");
    mm_peak_info info;
    cr_expect_eq(mm_peak_composition(NULL, &info), 1,
                 "a 2000-byte peak passes a 1K step: a composition should be recorded");
    cr_expect_eq(info.bytes, 2000, "the composition should hold 2000 bytes, got %zu", info.bytes);
    cr_expect_eq(mm_peak_composition_category(NULL, MM_CAT_TREES), 2000,
                 "the composition should put the 2000 bytes in Trees");
    mm_free(p);
}

Test(options, the_default_peak_step_records_the_exact_peak_at_its_turn)
{
    unsetenv("MIMICMEM_PEAK_STEP");
    void *t = mm_malloc(2000, MM_CAT_TREES);
    void *h = mm_malloc(500, MM_CAT_HALOS);
    cr_assert(t != NULL && h != NULL, "2000 and 500 bytes should be allocated");
    mm_free(h); /* the turn: the peak (2500 bytes) ends here */
    void *g = mm_malloc(100, MM_CAT_GALAXIES);
    cr_assert_not_null(g, "100 bytes should be allocated");
    mm_peak_info info;
    cr_expect_eq(mm_peak_composition(NULL, &info), 1,
                 "under the default step every peak has its composition");
    cr_expect_eq(info.bytes, 2500, "the composition should be the 2500-byte peak, got %zu",
                 info.bytes);
    cr_expect_eq(info.peak_bytes, 2500, "the peak should be 2500 bytes, got %zu", info.peak_bytes);
    cr_expect_eq(mm_peak_composition_category(NULL, MM_CAT_HALOS), 500,
                 "the freed 500 Halos bytes were live at the peak");
    cr_expect_eq(mm_peak_composition_category(NULL, MM_CAT_GALAXIES), 0,
                 "Galaxies came after the peak");
    mm_free(t);
    mm_free(g);
}

Test(options, trace_from_the_environment_opens_the_trace_with_the_pid)
{
    char dir[64], pattern[128], want[128];
    opt_tmpdir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/opt-%%p.trace", dir);
    snprintf(want, sizeof want, "%s/opt-%ld.trace", dir, (long)getpid());
    setenv("MIMICMEM_TRACE", pattern, 1);
    opt_capture_log();
    opt_expect_value("trace", want, "MIMICMEM_TRACE with %p");
    void *p = mm_malloc(10, MM_CAT_HALOS);
    mm_free(p);
    mm_trace_stop();
    opt_expect_value("trace", "", "after mm_trace_stop");
    char *text = mmt_slurp(want);
    cr_assert_not_null(text, "the trace %s should exist", want);
    cr_expect(strncmp(text, "# mimic allocation trace v1\n", 28) == 0,
              "the trace should start with its format line; it was:\n%s", text);
    opt_expect_contains(text, "\nA 1 10 Halos\nD 1\n", "the trace");
    cr_expect_eq(opt_logged.warnings, 0, "nothing should be logged; got: %s", opt_logged.first);
    free(text);
    remove(want);
    rmdir(dir);
}

Test(options, cache_from_the_environment_sets_the_bytes_kept_per_thread)
{
    setenv("MIMICMEM_CACHE", "1M", 1);
    opt_expect_value("cache", "1048576", "MIMICMEM_CACHE=1M");
    void *p = mm_malloc(100, MM_CAT_HALOS);
    mm_free(p);
    void *q = mm_malloc(100, MM_CAT_HALOS);
    cr_expect_eq(q, p, "with the cache on, a freed block should be handed out again");
    mm_free(q);
}

Test(options, cache_zero_from_the_environment_turns_the_cache_off)
{
    setenv("MIMICMEM_CACHE", "0", 1);
    opt_capture_log();
    opt_expect_value("cache", "0", "MIMICMEM_CACHE=0");
    cr_expect_eq(opt_logged.warnings, 0, "0 is valid; got: %s", opt_logged.first);
}

Test(options, cache_off_and_on_as_the_readme_documents_them)
{
    setenv("MIMICMEM_CACHE", "off", 1);
    opt_capture_log();
    opt_expect_value("cache", "0", "MIMICMEM_CACHE=off");
    cr_expect_eq(opt_logged.warnings, 0, "off is documented; got: %s", opt_logged.first);
    cr_expect_eq(mm_option_set("cache", "on"), 0, "on is documented");
    opt_expect_value("cache", "on", "cache on");
}

/* The first use of the library may be an allocation: the environment is
 * read then, and that very allocation already runs under the modes read. */
Test(options, the_first_allocation_already_obeys_the_environment)
{
    setenv("MIMICMEM_CHECK", "guards", 1);
    setenv("MIMICMEM_LIMIT", "1M", 1);
    mmt_record_errors(&opt_rec);
    void *big = mm_malloc(2 << 20, MM_CAT_HALOS);
    cr_expect_null(big, "a first allocation of 2 MB should already meet MIMICMEM_LIMIT=1M");
    mm_free(big); /* when it got through, the checks below still mean something */
    mmt_expect_one_error(&opt_rec, MM_ERR_LIMIT, "a first allocation past MIMICMEM_LIMIT");
    unsigned char *p = mm_malloc(16, MM_CAT_HALOS);
    cr_assert_not_null(p, "16 bytes should be allocated");
    unsigned char saved = p[16];
    p[16] = (unsigned char)~saved;
    cr_expect(!mm_validate(p), "the first block allocated should carry a guard");
    p[16] = saved;
    mm_free(p);
}

Test(options, the_environment_is_read_once_at_the_first_use)
{
    unsetenv("MIMICMEM_CHECK");
    void *p = mm_malloc(8, MM_CAT_HALOS);
    setenv("MIMICMEM_CHECK", "guards", 1);
    void *q = mm_malloc(8, MM_CAT_HALOS);
    cr_expect_eq(mm_get_check(), MM_CHECK_OFF, "a variable set after the first use is ignored");
    opt_expect_value("check", "off", "MIMICMEM_CHECK set after the first use");
    mm_free(p);
    mm_free(q);
}

/* ========================================================================
 * Malformed values from the environment
 * ====================================================================== */

Test(options, malformed_report_warns_once_and_keeps_off)
{
    opt_expect_malformed("MIMICMEM_REPORT", "yes", "report", "off");
}

Test(options, malformed_report_format_warns_once_and_keeps_text)
{
    opt_expect_malformed("MIMICMEM_REPORT_FORMAT", "xml", "report_format", "text");
}

Test(options, over_long_report_file_warns_once_and_keeps_stderr)
{
    char *p = opt_long_path(5000);
    opt_expect_malformed("MIMICMEM_REPORT_FILE", p, "report_file", "");
    free(p);
}

Test(options, malformed_check_warns_once_and_keeps_off)
{
    opt_expect_malformed("MIMICMEM_CHECK", "guard", "check", "off");
    cr_expect_eq(mm_get_check(), MM_CHECK_OFF, "checking should stay off");
}

Test(options, malformed_fill_warns_once_and_keeps_nan)
{
    opt_expect_malformed("MIMICMEM_FILL", "zero", "fill", "nan");
}

Test(options, limit_with_an_unknown_suffix_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "12Q", "limit", "0");
    void *p = mm_malloc(100000, MM_CAT_HALOS);
    cr_expect_not_null(p, "with no limit 100000 bytes should be allocated");
    mm_free(p);
}

Test(options, negative_limit_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "-5", "limit", "0");
}

Test(options, fractional_limit_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "1.5M", "limit", "0");
}

Test(options, empty_limit_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "", "limit", "0");
}

Test(options, limit_beyond_64_bits_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "99999999999999999999", "limit", "0");
}

Test(options, limit_overflowing_with_its_suffix_warns_once_and_keeps_no_limit)
{
    opt_expect_malformed("MIMICMEM_LIMIT", "17179869184G", "limit", "0");
}

Test(options, limit_warn_over_one_hundred_warns_once_and_keeps_90)
{
    opt_expect_malformed("MIMICMEM_LIMIT_WARN", "101", "limit_warn", "90");
}

Test(options, limit_warn_not_a_number_warns_once_and_keeps_90)
{
    opt_expect_malformed("MIMICMEM_LIMIT_WARN", "abc", "limit_warn", "90");
}

Test(options, negative_limit_warn_warns_once_and_keeps_90)
{
    opt_expect_malformed("MIMICMEM_LIMIT_WARN", "-1", "limit_warn", "90");
}

Test(options, malformed_sites_warns_once_and_keeps_off)
{
    opt_expect_malformed("MIMICMEM_SITES", "yes", "sites", "off");
}

Test(options, malformed_site_resolve_warns_once_and_keeps_auto)
{
    opt_expect_malformed("MIMICMEM_SITE_RESOLVE", "sometimes", "site_resolve", "auto");
}

Test(options, zero_peak_step_warns_once_and_keeps_the_default)
{
    opt_expect_malformed("MIMICMEM_PEAK_STEP", "0", "peak_step", "1");
}

Test(options, malformed_peak_step_warns_once_and_keeps_the_default)
{
    opt_expect_malformed("MIMICMEM_PEAK_STEP", "64X", "peak_step", "1");
}

Test(options, over_long_trace_path_warns_once_and_keeps_tracing_off)
{
    char *p = opt_long_path(5000);
    opt_expect_malformed("MIMICMEM_TRACE", p, "trace", "");
    free(p);
}

Test(options, malformed_cache_warns_once_and_keeps_the_build_default)
{
    opt_expect_malformed("MIMICMEM_CACHE", "lots", "cache", OPT_CACHE_DEFAULT);
}

Test(options, each_malformed_variable_warns_once_and_valid_ones_still_apply)
{
    opt_capture_log();
    setenv("MIMICMEM_CHECK", "sometimes", 1);
    setenv("MIMICMEM_FILL", "bytes", 1);
    setenv("MIMICMEM_SITES", "maybe", 1);
    opt_expect_value("check", "off", "a malformed MIMICMEM_CHECK");
    opt_expect_value("fill", "bytes", "a valid MIMICMEM_FILL next to malformed ones");
    opt_expect_value("sites", "off", "a malformed MIMICMEM_SITES");
    cr_expect_eq(opt_logged.warnings, 2, "two malformed variables should give two warnings, got "
                 "%d", opt_logged.warnings);
    opt_expect_contains(opt_logged.first, "MIMICMEM_CHECK=\"sometimes\"", "the first warning");
    opt_expect_contains(opt_logged.last, "MIMICMEM_SITES=\"maybe\"", "the second warning");
}

/* ========================================================================
 * mm_option_set and mm_option_get
 * ====================================================================== */

Test(options, option_set_changes_every_option_from_code)
{
    char dir[64], trace[128];
    opt_tmpdir(dir, sizeof dir);
    snprintf(trace, sizeof trace, "%s/set.trace", dir);
    mmt_record_errors(&opt_rec);
    static const struct {
        const char *name, *value, *reads;
    } cases[] = {
        {"report", "exit", "exit"},         {"report", "off", "off"},
        {"report_format", "json", "json"},  {"report_file", "/tmp/r-%p", "/tmp/r-%p"},
        {"check", "poison", "poison"},      {"check", "off", "off"},
        {"fill", "bytes", "bytes"},         {"limit", "2K", "2048"},
        {"limit_warn", "75", "75"},         {"sites", "on", "on"},
        {"peak_step", "2M", "2097152"},     {"cache", "512K", "524288"},
        {"site_resolve", "OFF", "off"},     {"site_resolve", "on", "auto"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(mm_option_set(cases[i].name, cases[i].value), 0,
                     "mm_option_set(\"%s\", \"%s\") should return 0", cases[i].name,
                     cases[i].value);
        opt_expect_value(cases[i].name, cases[i].reads, "after mm_option_set");
    }
    cr_expect_eq(mm_limit_get(NULL, MM_CAT_INVALID), 2048, "limit 2K should set 2048 bytes");
    cr_expect_eq(mm_option_set("trace", trace), 0, "a trace path should be accepted");
    opt_expect_value("trace", trace, "after mm_option_set(\"trace\")");
    cr_expect_eq(mm_option_set("trace", ""), 0, "an empty trace path should stop tracing");
    opt_expect_value("trace", "", "after mm_option_set(\"trace\", \"\")");
    mmt_expect_no_error(&opt_rec, "valid values");
    remove(trace);
    rmdir(dir);
}

Test(options, option_set_with_an_unknown_name_is_a_bad_argument)
{
    mmt_record_errors(&opt_rec);
    cr_expect_eq(mm_option_set("colour", "red"), -1, "an unknown option should return -1");
    opt_expect_contains(opt_rec.message, "\"colour\"", "the unknown option message");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set of an unknown option");
    cr_expect_eq(mm_option_set(NULL, "on"), -1, "a NULL name should return -1");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set with a NULL name");
}

Test(options, option_set_with_a_bad_value_is_a_bad_argument_and_changes_nothing)
{
    mmt_record_errors(&opt_rec);
    cr_expect_eq(mm_option_set("check", "guards"), 0, "guards is valid");
    cr_expect_eq(mm_option_set("check", "sometimes"), -1, "a bad value should return -1");
    opt_expect_contains(opt_rec.message, "\"sometimes\"", "the bad value message");
    opt_expect_contains(opt_rec.message, "check", "the bad value message");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set with a bad value");
    opt_expect_value("check", "guards", "after a refused value");
    cr_expect_eq(mm_option_set("limit", "lots"), -1, "a bad limit should return -1");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set of a bad limit");
    opt_expect_value("limit", "0", "after a refused limit");
    cr_expect_eq(mm_option_set("limit_warn", "101"), -1, "101 percent should return -1");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set of limit_warn 101");
    opt_expect_value("limit_warn", "90", "after a refused threshold");
    cr_expect_eq(mm_option_set("fill", NULL), -1, "a NULL value should return -1");
    mmt_expect_one_error(&opt_rec, MM_ERR_BAD_ARGUMENT, "mm_option_set with a NULL value");
    opt_expect_value("fill", "nan", "after a refused NULL");
}

Test(options, option_get_with_an_unknown_name_returns_minus_one)
{
    mmt_record_errors(&opt_rec);
    char buf[32] = "untouched";
    cr_expect_eq(mm_option_get("colour", buf, sizeof buf), -1, "an unknown option gives -1");
    cr_expect_eq(mm_option_get(NULL, buf, sizeof buf), -1, "a NULL name gives -1");
    cr_expect_str_eq(buf, "untouched", "the buffer should stay as it was");
    mmt_expect_no_error(&opt_rec, "mm_option_get is not an error path");
}

Test(options, option_get_truncates_to_the_buffer_and_terminates_it)
{
    char buf[3] = {'x', 'x', 'x'};
    cr_expect_eq(mm_option_get("report_format", buf, sizeof buf), 0, "a known option gives 0");
    cr_expect_str_eq(buf, "te", "\"text\" in 3 bytes should read \"te\"");
    cr_expect_eq(mm_option_get("report_format", NULL, 0), 0, "no buffer: 0 and nothing written");
}

/* ========================================================================
 * mm_options_print and the README
 * ====================================================================== */

static char *opt_printed(void)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f, "tmpfile() should give a file");
    mm_options_print(f);
    long len = ftell(f);
    cr_assert_geq(len, 0, "the printed options should have a length");
    rewind(f);
    char *text = malloc((size_t)len + 1);
    cr_assert_not_null(text, "the system malloc should hold the printed options");
    size_t got = fread(text, 1, (size_t)len, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

/* The line of text that starts (after spaces) with env, or NULL. */
static const char *opt_line_of(const char *text, const char *env, char *line, size_t len)
{
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        const char *s = p;
        while (*s == ' ') s++;
        size_t el = strlen(env);
        if (strncmp(s, env, el) == 0 && s[el] == ' ') {
            snprintf(line, len, "%.*s", (int)n, p);
            return line;
        }
        if (!eol) break;
        p = eol + 1;
    }
    return NULL;
}

Test(options, options_print_lists_every_option_with_its_variable_and_value)
{
    cr_assert_eq(mm_option_set("limit", "1K"), 0, "limit 1K should be set");
    cr_assert_eq(mm_option_set("sites", "on"), 0, "sites on should be set");
    char *text = opt_printed();
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 1 + OPT_COUNT, "a heading and one line per option (%d) are expected, got "
                 "%d lines:\n%s", OPT_COUNT, lines, text);
    for (int i = 0; i < OPT_COUNT; i++) {
        char line[1024];
        const char *l = opt_line_of(text, opt_rows[i].env, line, sizeof line);
        cr_expect_not_null(l, "mm_options_print should have a line for %s:\n%s", opt_rows[i].env,
                           text);
        if (l == NULL) continue;
        char value[256];
        cr_assert_eq(mm_option_get(opt_rows[i].name, value, sizeof value), 0, "get %s",
                     opt_rows[i].name);
        if (value[0] == '\0') snprintf(value, sizeof value, "\"\"");
        char want[300];
        snprintf(want, sizeof want, "= %s ", value);
        opt_expect_contains(line, want, "the printed line of the option");
    }
    free(text);
}

/* The repository root: MMT_SOURCE_DIR from the build, or else this file's
 * path (tests/unit/test_options.c) when __FILE__ names it. */
static void opt_root(char *root, size_t len)
{
#ifdef MMT_SOURCE_DIR
    snprintf(root, len, "%s/", MMT_SOURCE_DIR);
#else
    snprintf(root, len, "%s", __FILE__);
    char *cut = strstr(root, "tests/unit/test_options.c");
    cr_assert_not_null(cut, "__FILE__ (%s) should end in tests/unit/test_options.c", __FILE__);
    *cut = '\0';
    if (root[0] == '\0') snprintf(root, len, "./");
#endif
}

Test(options, readme_documents_every_option_in_its_table)
{
    char root[4096], path[4200];
    opt_root(root, sizeof root);
    snprintf(path, sizeof path, "%sREADME.md", root);
    char *readme = mmt_slurp(path);
    cr_assert_not_null(readme, "README.md should be readable at %s", path);
    char *printed = opt_printed();
    int rows = 0;
    for (int i = 0; i < OPT_COUNT; i++) {
        char line[1024], row[128];
        cr_expect_not_null(opt_line_of(printed, opt_rows[i].env, line, sizeof line),
                           "%s should be an option of the table", opt_rows[i].env);
        snprintf(row, sizeof row, "\n| `%s` |", opt_rows[i].env);
        cr_expect(strstr(readme, row) != NULL,
                  "README.md should have a table row for %s (a line starting \"| `%s` |\")",
                  opt_rows[i].env, opt_rows[i].env);
    }
    /* and every row of the table names an option that exists */
    for (const char *p = strstr(readme, "\n| `MIMICMEM_"); p; p = strstr(p + 1, "\n| `MIMICMEM_")) {
        const char *name = p + 4;
        size_t n = strcspn(name, "`");
        char env[128];
        snprintf(env, sizeof env, "%.*s", (int)n, name);
        char line[1024];
        cr_expect_not_null(opt_line_of(printed, env, line, sizeof line),
                           "README.md documents %s, which mm_options_print does not list", env);
        rows++;
    }
    cr_expect_eq(rows, OPT_COUNT, "README.md should have one row per option (%d), it has %d",
                 OPT_COUNT, rows);
    free(printed);
    free(readme);
}

/* ========================================================================
 * The report at exit
 * ====================================================================== */

static void *opt_leaked; /* the child's leak stays reachable for LeakSanitizer and Valgrind */

/* Forks a child that allocates (its first mimicmem use), leaks one 777-byte
 * Halos block, frees another and exits normally; returns its pid after it
 * ended with status 0. */
static pid_t opt_run_leaker(void)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork() should succeed: %s", strerror(errno));
    if (pid == 0) {
        opt_leaked = mm_malloc(777, MM_CAT_HALOS);
        void *gone = mm_malloc(100, MM_CAT_TREES);
        mm_free(gone);
        exit(opt_leaked != NULL ? 0 : 3); /* normally: the atexit handlers run */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid() should return the child");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child should exit with status 0 (status 0x%x)", status);
    return pid;
}

Test(options, report_at_exit_writes_the_report_and_the_leaks_to_the_file_named_by_pid)
{
    char dir[64], pattern[128], path[128];
    opt_tmpdir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/r-%%p.txt", dir);
    setenv("MIMICMEM_REPORT", "exit", 1);
    setenv("MIMICMEM_REPORT_FILE", pattern, 1);
    unsetenv("MIMICMEM_REPORT_FORMAT");
    pid_t pid = opt_run_leaker();
    snprintf(path, sizeof path, "%s/r-%ld.txt", dir, (long)pid);
    char *text = mmt_slurp(path);
    cr_assert_not_null(text, "the exit report %s (named with the child's pid) should exist", path);
    opt_expect_contains(text, "=== Memory Usage by Category ===", "the exit report");
    opt_expect_contains(text, "Halos", "the exit report");
    opt_expect_contains(text, "=== Leaks: 1 block (777 B) still allocated ===",
                        "the leak list of the exit report");
    free(text);
    remove(path);
    rmdir(dir);
}

Test(options, report_at_exit_in_json_is_valid_and_lists_the_leak)
{
    char dir[64], pattern[128], path[128];
    opt_tmpdir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/r-%%p.json", dir);
    setenv("MIMICMEM_REPORT", "exit", 1);
    setenv("MIMICMEM_REPORT_FORMAT", "json", 1);
    setenv("MIMICMEM_REPORT_FILE", pattern, 1);
    pid_t pid = opt_run_leaker();
    snprintf(path, sizeof path, "%s/r-%ld.json", dir, (long)pid);
    char *text = mmt_slurp(path);
    cr_assert_not_null(text, "the JSON exit report %s should exist", path);
    char err[256] = "";
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "the exit report should be valid JSON (%s):\n%s", err, text);
    const mmt_json *report = mmt_json_get(doc, "report");
    const mmt_json *leaks = mmt_json_get(doc, "leaks");
    cr_expect_not_null(report, "the document should have a \"report\" member");
    cr_expect_not_null(mmt_json_get(report, "schema_version"), "the report should carry a "
                       "schema_version");
    cr_assert_not_null(leaks, "the document should have a \"leaks\" member");
    uint64_t v = 0;
    cr_expect(mmt_json_uint(mmt_json_get(leaks, "leaked_blocks"), &v) && v == 1,
              "one block should be listed as leaked, got %llu", (unsigned long long)v);
    cr_expect(mmt_json_uint(mmt_json_get(leaks, "leaked_bytes"), &v) && v == 777,
              "777 bytes should be listed as leaked, got %llu", (unsigned long long)v);
    const mmt_json *bycat = mmt_json_get(leaks, "by_category");
    cr_assert(bycat != NULL && bycat->type == MMT_JSON_ARRAY && bycat->count == 1,
              "by_category should list one category");
    cr_expect(mmt_json_string_is(mmt_json_get(bycat->items[0], "category"), "Halos"),
              "the leaked category should be Halos");
    mmt_json_free(doc);
    free(text);
    remove(path);
    rmdir(dir);
}
