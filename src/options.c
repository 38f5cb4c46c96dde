/* Run-time options: one table declares each option once (name, environment
 * variable, default, help, how to read and show it); the environment
 * reading, mm_option_set/get, mm_options_print and the README table all
 * follow it. The environment is read once, at the first use of the library;
 * a malformed value gets one warning naming the variable and the value, and
 * the default stays. Also here: the report written at exit. */
#include "internal.h"

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
static pthread_mutex_t opt_lock = PTHREAD_MUTEX_INITIALIZER;
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

/* Index of value in the '|'-separated words, or -1. */
static int opt_word(const char *value, const char *words) {
    size_t n = strlen(value);
    int i = 0;
    for (const char *w = words; *w; i++) {
        const char *bar = strchr(w, '|');
        size_t len = bar ? (size_t)(bar - w) : strlen(w);
        if (len == n && strncmp(w, value, n) == 0) return i;
        if (!bar) break;
        w = bar + 1;
    }
    return -1;
}

static void opt_register_exit(void);

/* ---- one reader and one writer per option ----------------------------- */

static bool opt_set_report(const char *v) {
    int i = opt_word(v, "off|exit");
    if (i < 0) return false;
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
    pthread_mutex_lock(&opt_lock);
    snprintf(opt_report_file, sizeof opt_report_file, "%s", v);
    pthread_mutex_unlock(&opt_lock);
    return true;
}
static void opt_get_report_file(char *b, size_t n) {
    pthread_mutex_lock(&opt_lock);
    snprintf(b, n, "%s", opt_report_file);
    pthread_mutex_unlock(&opt_lock);
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
    int i = opt_word(v, "off|on");
    if (i < 0) return false;
    mm_set_sites(i);
    return true;
}
static void opt_get_sites(char *b, size_t n) {
    snprintf(b, n, "%s", (mmi_load(&mmi_diag) & MMI_DIAG_SITES) ? "on" : "off");
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

/* "on" (and "1", its spelling before this table existed) is the default
 * size; "off" is 0; anything else is a byte count. */
static bool opt_set_cache(const char *v) {
    size_t bytes;
    if (strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
        bytes = MMI_DEFAULT_CACHE_BYTES;
    else if (strcmp(v, "off") == 0)
        bytes = 0;
    else if (!opt_parse_bytes(v, &bytes))
        return false;
    mmi_store(&mmi_cache_limit, bytes);
    return true;
}
static void opt_get_cache(char *b, size_t n) {
    snprintf(b, n, "%zu", mmi_load(&mmi_cache_limit));
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
#define OPT_CACHE_DEFAULT "4M (0 under ASan/TSan)"

static const opt_entry opt_table[] = {
    /*     id             env suffix        default   help */
    MM_OPT(report,        "REPORT",         "off",    "print a report and the leaks at exit: off | exit")
    MM_OPT(report_format, "REPORT_FORMAT",  "text",   "format of the exit report: text | json")
    MM_OPT(report_file,   "REPORT_FILE",    "",       "file of the exit report (%p: process id; empty: stderr)")
    MM_OPT(check,         "CHECK",          "off",    "block checks: off | guards | poison | full")
    MM_OPT(fill,          "FILL",           "nan",    "fill of new blocks under poison: nan | bytes")
    MM_OPT(limit,         "LIMIT",          "0",      "process byte limit, K/M/G/T suffix (0: none)")
    MM_OPT(limit_warn,    "LIMIT_WARN",     "90",     "warn once at this percent of each limit (0: never)")
    MM_OPT(sites,         "SITES",          "off",    "record allocation sites of _at calls: off | on")
    MM_OPT(peak_step,     "PEAK_STEP",      "64K",    "record the peak composition every this many bytes of growth")
    MM_OPT(trace,         "TRACE",          "",       "write a trace to this file (%p: process id; empty: off)")
    MM_OPT(cache,         "CACHE",          OPT_CACHE_DEFAULT, "freed blocks each thread keeps: on | off | bytes")
};

#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

static const opt_entry *opt_find(const char *name) {
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strcmp(opt_table[i].name, name) == 0) return &opt_table[i];
    return NULL;
}

static pthread_once_t opt_once = PTHREAD_ONCE_INIT;
/* set while this thread reads the environment: the setters it calls must
 * not wait for the reading to end */
static _Thread_local bool opt_reading;

static void opt_read_env(void) {
    opt_reading = true;
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
    opt_reading = false;
}

void mmi_options_init(void) {
    if (!opt_reading) pthread_once(&opt_once, opt_read_env);
}

int mm_option_set(const char *name, const char *value) {
    mmi_options_init();
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
    mmi_options_init();
    const opt_entry *o = name ? opt_find(name) : NULL;
    if (o == NULL) return -1;
    if (buf == NULL || len == 0) return 0;
    o->get(buf, len);
    return 0;
}

void mm_options_print(FILE *out) {
    mmi_options_init();
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

void mmi_exit_report(void) {
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
    if (mmi_load(&opt_report_json)) {
        fputs("{\"report\":", out);
        mm_report(out, NULL, MM_REPORT_JSON);
        fputs(",\"leaks\":", out);
        mm_report_leaks(out, MM_REPORT_JSON);
        fputs("}\n", out);
    } else {
        mm_report(out, NULL, MM_REPORT_TEXT);
        mm_report_leaks(out, MM_REPORT_TEXT);
    }
    if (out != stderr)
        fclose(out);
    else
        fflush(out);
}

static void opt_register_exit(void) {
    pthread_mutex_lock(&opt_lock);
    bool reg = !opt_exit_registered;
    opt_exit_registered = true;
    pthread_mutex_unlock(&opt_lock);
    if (reg) atexit(mmi_exit_report);
}
