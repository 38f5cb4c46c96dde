/* Run-time options: one table declares each option once (name, environment
 * variable, default, help, how to read and show it); the environment
 * reading, mm_option_set/get, mm_options_print and the README table all
 * follow it. The environment is read once, at the first use of the library;
 * a malformed value, or a MIMICMEM_* variable that is no option (a
 * misspelling), gets one warning naming it, and the default stays. Values
 * are case-insensitive, and "on" means the default where an option has an
 * obvious one. Also here: writing the report at exit. */
#include "snapshot.h"
#include "symbolize.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Values
 * ==================================================================== */

#define OPT_PATH_MAX 4096

static _Atomic int opt_report_exit;              /* report: 1 = exit */
static _Atomic int opt_report_json;              /* report_format: 1 = json */
static mmi_lock opt_lock = MMI_LOCK_INIT(MMI_RANK_OPTIONS, "options");
static char opt_report_file[OPT_PATH_MAX];       /* report_file pattern; under opt_lock */
static bool opt_exit_registered;                 /* atexit done; under opt_lock */

/* Parses bytes with an optional K, M, G or T suffix (powers of 1024, an
 * optional trailing 'B' or "iB"); false when malformed or too large. */
static bool opt_parse_bytes(const char *s, size_t *out) {
    if (!isdigit((unsigned char)s[0])) return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) return false;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (end[0] == 'i' || end[0] == 'I') && (end[1] == 'B' || end[1] == 'b')) end += 2;
    else if (toupper((unsigned char)*end) == 'B') end++;
    if (*end != '\0') return false;
    if (shift && v > (SIZE_MAX >> shift)) return false;
    if (v > SIZE_MAX) return false;
    *out = (size_t)v << shift;
    return true;
}

/* True when a and b (n bytes) are equal, ASCII letters in either case. */
static bool opt_same(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return false;
    return true;
}

/* Index of value in the '|'-separated words (any case), or -1. */
static int opt_word(const char *value, const char *words) {
    size_t n = strlen(value);
    int i = 0;
    for (const char *w = words; *w; i++) {
        const char *bar = strchr(w, '|');
        size_t len = bar ? (size_t)(bar - w) : strlen(w);
        if (len == n && opt_same(w, value, n)) return i;
        if (!bar) break;
        w = bar + 1;
    }
    return -1;
}

static void opt_register_exit(void);

/* ---- one reader and one writer per option ----------------------------- */

static bool opt_set_report(const char *v) {
    int i = opt_word(v, "off|exit|on"); /* on: the one report there is, at exit */
    if (i < 0) return false;
    if (i == 2) i = 1;
    mmi_store(&opt_report_exit, i);
    if (i) opt_register_exit();
    return true;
}
static void opt_get_report(char *b, size_t n) {
    snprintf(b, n, "%s", mmi_load(&opt_report_exit) ? "exit" : "off");
}

static bool opt_set_report_format(const char *v) {
    int i = opt_word(v, "text|json");
    if (i < 0) return false;
    mmi_store(&opt_report_json, i);
    return true;
}
static void opt_get_report_format(char *b, size_t n) {
    snprintf(b, n, "%s", mmi_load(&opt_report_json) ? "json" : "text");
}

static bool opt_set_report_file(const char *v) {
    if (strlen(v) >= OPT_PATH_MAX) return false;
    mmi_lock_take(&opt_lock);
    snprintf(opt_report_file, sizeof opt_report_file, "%s", v);
    mmi_lock_drop(&opt_lock);
    return true;
}
static void opt_get_report_file(char *b, size_t n) {
    mmi_lock_take(&opt_lock);
    snprintf(b, n, "%s", opt_report_file);
    mmi_lock_drop(&opt_lock);
}

static const char *const opt_check_words = "off|guards|poison|full";
static bool opt_set_check(const char *v) {
    int i = opt_word(v, opt_check_words);
    if (i < 0) return false;
    mm_set_check((mm_check_mode)i);
    return true;
}
static void opt_get_check(char *b, size_t n) {
    static const char *const names[] = {"off", "guards", "poison", "full"};
    snprintf(b, n, "%s", names[mm_get_check()]);
}

static bool opt_set_fill(const char *v) {
    int i = opt_word(v, "nan|bytes");
    if (i < 0) return false;
    mmi_store(&mmi_fill, i);
    return true;
}
static void opt_get_fill(char *b, size_t n) {
    snprintf(b, n, "%s", mmi_load(&mmi_fill) == MM_FILL_BYTES ? "bytes" : "nan");
}

static bool opt_set_limit(const char *v) {
    size_t bytes;
    if (!opt_parse_bytes(v, &bytes)) return false;
    mm_limit_set(NULL, MM_CAT_INVALID, bytes);
    return true;
}
static void opt_get_limit(char *b, size_t n) {
    snprintf(b, n, "%zu", mm_limit_get(NULL, MM_CAT_INVALID));
}

static bool opt_set_limit_warn(const char *v) {
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 3 || v[n] != '\0' || atoi(v) > 100) return false;
    mm_set_limit_warn((unsigned)atoi(v));
    return true;
}
static void opt_get_limit_warn(char *b, size_t n) {
    snprintf(b, n, "%u", mmi_limit_warn_get());
}

static bool opt_set_sites(const char *v) {
    int i = opt_word(v, "off|on|0|1");
    if (i >= 2) i -= 2;
    if (i < 0) return false;
    mm_set_sites(i);
    return true;
}
static void opt_get_sites(char *b, size_t n) {
    snprintf(b, n, "%s", (mmi_load(&mmi_diag) & MMI_DIAG_SITES) ? "on" : "off");
}

/* auto: the reports resolve the legacy calls' "module+0xOFFSET" sites to
 * file:line by running addr2line (a child process); off: never. */
static bool opt_set_site_resolve(const char *v) {
    int i = opt_word(v, "auto|off|on");
    if (i < 0) return false;
    mmi_store(&mmi_site_resolve, i == 1);
    return true;
}
static void opt_get_site_resolve(char *b, size_t n) {
    snprintf(b, n, "%s", mmi_load(&mmi_site_resolve) ? "off" : "auto");
}

static bool opt_set_peak_step(const char *v) {
    size_t bytes;
    if (!opt_parse_bytes(v, &bytes) || bytes == 0 || bytes > (size_t)INT64_MAX / 2) return false;
    mm_set_peak_step(bytes);
    return true;
}
static void opt_get_peak_step(char *b, size_t n) {
    snprintf(b, n, "%zu", mmi_load(&mmi_peak_step));
}

static bool opt_set_trace(const char *v) {
    if (strlen(v) >= OPT_PATH_MAX) return false;
    if (v[0] == '\0') {
        mm_trace_stop();
        return true;
    }
    mm_trace_start(v); /* an unopenable file is a warning, not a bad value */
    return true;
}
static void opt_get_trace(char *b, size_t n) {
    mmi_trace_path(b, n);
}

/* "on" (and "1", its spelling before this table existed) is the adaptive
 * cap, up to 4 MiB; "off" is 0; anything else is a byte count, a fixed cap. */
static bool opt_set_cache(const char *v) {
    size_t bytes;
    int w = opt_word(v, "on|1|off");
    if (w == 0 || w == 1)
        bytes = MMI_DEFAULT_CACHE_BYTES;
    else if (w == 2)
        bytes = 0;
    else if (!opt_parse_bytes(v, &bytes))
        return false;
    mmi_cache_set_limit(mmi_tls, bytes, w == 0 || w == 1);
    return true;
}
static void opt_get_cache(char *b, size_t n) {
    size_t bytes = mmi_load(&mmi_cache_limit);
    if (bytes != 0 && mmi_load(&mmi_cache_adaptive))
        snprintf(b, n, "on");
    else
        snprintf(b, n, "%zu", bytes);
}

/* ======================================================================
 * The table
 * ==================================================================== */

typedef struct {
    const char *name;                   /* option name, lower case */
    const char *env;                    /* environment variable */
    const char *def;                    /* default, as text */
    const char *help;                   /* one line for mm_options_print */
    bool (*set)(const char *value);     /* false: malformed */
    void (*get)(char *buf, size_t len); /* the current value as text */
} opt_entry;

#define MM_OPT(id, env, def, help) {#id, "MIMICMEM_" env, def, help, opt_set_##id, opt_get_##id},

/* The cache default depends on the build (off under the sanitizers), so its
 * row shows the build's own value. */
#define OPT_CACHE_DEFAULT "on (0 under ASan/TSan)"

static const opt_entry opt_table[] = {
    /*     id             env suffix        default   help */
    MM_OPT(report,        "REPORT",         "off",    "print a report and the leaks at exit: off | exit (on = exit)")
    MM_OPT(report_format, "REPORT_FORMAT",  "text",   "format of the exit report: text | json")
    MM_OPT(report_file,   "REPORT_FILE",    "",       "file of the exit report (%p: process id, %r: rank; empty: stderr)")
    MM_OPT(check,         "CHECK",          "off",    "block checks: off | guards | poison | full")
    MM_OPT(fill,          "FILL",           "nan",    "fill of new blocks under poison: nan | bytes")
    MM_OPT(limit,         "LIMIT",          "0",      "process byte limit, K/M/G/T suffix (0: none)")
    MM_OPT(limit_warn,    "LIMIT_WARN",     "90",     "warn once at this percent of each limit (0: never)")
    MM_OPT(sites,         "SITES",          "off",    "record allocation sites of _at calls: off | on")
    MM_OPT(site_resolve,  "SITE_RESOLVE",   "auto",   "reports run addr2line to show legacy sites as file:line: auto | off (on = auto)")
    MM_OPT(peak_step,     "PEAK_STEP",      "1",      "record the composition of peaks at least this many bytes above the last one (1: every peak, exact)")
    MM_OPT(trace,         "TRACE",          "",       "write a trace to this file (%p: process id, %r: rank; empty: off)")
    MM_OPT(cache,         "CACHE",          OPT_CACHE_DEFAULT, "freed blocks each thread keeps: on (4x its live bytes, 256K..4M) | off | bytes (fixed)")
};

#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

static const opt_entry *opt_find(const char *name) {
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strcmp(opt_table[i].name, name) == 0) return &opt_table[i];
    return NULL;
}

extern char **environ;

/* One warning per MIMICMEM_* variable that names no option. */
static void opt_warn_unknown(void) {
    for (char **v = environ; v && *v; v++) {
        if (strncmp(*v, "MIMICMEM_", 9) != 0) continue;
        const char *eq = strchr(*v, '=');
        size_t n = eq ? (size_t)(eq - *v) : strlen(*v);
        bool known = false;
        for (size_t i = 0; i < OPT_COUNT && !known; i++)
            known = strlen(opt_table[i].env) == n && strncmp(opt_table[i].env, *v, n) == 0;
        if (!known)
            mmi_log(MM_LOG_WARNING,
                    "%.*s is not a mimicmem option and is ignored (mm_options_print lists them)",
                    n > 200 ? 200 : (int)n, *v);
    }
}

void mmi_options_read_environment(void) {
    opt_warn_unknown();
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const opt_entry *o = &opt_table[i];
        const char *v = getenv(o->env);
        if (v == NULL) continue;
        if (o->set(v)) continue;
        /* an over-long value is cut so the rest of the warning still fits */
        size_t n = strlen(v);
        mmi_log(MM_LOG_WARNING, "%s=\"%.*s\"%s is not valid (%s); the default \"%s\" stays",
                o->env, n > 200 ? 200 : (int)n, v, n > 200 ? " (its first 200 bytes)" : "",
                o->help, o->def);
    }
}

int mm_option_set(const char *name, const char *value) {
    mmi_first_use();
    const opt_entry *o = name ? opt_find(name) : NULL;
    if (o == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_option_set: no option is called \"%s\" (mm_options_print lists them)",
                  name ? name : "(null)");
        return -1;
    }
    if (value == NULL || !o->set(value)) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_option_set: \"%s\" is not a valid value for %s (%s)",
                  value ? value : "(null)", o->name, o->help);
        return -1;
    }
    return 0;
}

int mm_option_get(const char *name, char *buf, size_t len) {
    mmi_first_use();
    const opt_entry *o = name ? opt_find(name) : NULL;
    if (o == NULL) return -1;
    if (buf == NULL || len == 0) return 0;
    o->get(buf, len);
    return 0;
}

void mm_options_print(FILE *out) {
    mmi_first_use();
    fprintf(out, "mimicmem options (environment variable = current value; default):\n");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const opt_entry *o = &opt_table[i];
        char v[OPT_PATH_MAX];
        o->get(v, sizeof v);
        fprintf(out, "  %-24s = %-10s default %-8s %s\n", o->env, v[0] ? v : "\"\"",
                o->def[0] ? o->def : "\"\"", o->help);
    }
}

/* ======================================================================
 * The report at exit
 * ==================================================================== */

static void opt_exit_report(void) {
    if (!mmi_load(&opt_report_exit)) return;
    char pattern[OPT_PATH_MAX];
    opt_get_report_file(pattern, sizeof pattern);
    FILE *out = stderr;
    if (pattern[0]) {
        char path[OPT_PATH_MAX];
        if (!mmi_expand_path(pattern, path, sizeof path) || (out = fopen(path, "w")) == NULL) {
            mmi_log(MM_LOG_WARNING, "cannot write the exit report to \"%s\"; writing it to stderr",
                    pattern);
            out = stderr;
        }
    }
    mmi_report_exit(out, mmi_load(&opt_report_json) != 0);
    if (out != stderr) fclose(out);
}

static void opt_register_exit(void) {
    mmi_lock_take(&opt_lock);
    bool reg = !opt_exit_registered;
    opt_exit_registered = true;
    mmi_lock_drop(&opt_lock);
    if (reg) atexit(opt_exit_report);
}
