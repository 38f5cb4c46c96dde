/* mimicmem_replay.c: the mimicmem-replay command. Loads one allocation trace,
 * prints its exact peak, the peak's composition by category and block counts
 * (replay_core's model), whether mimicmem's own statistics agree after one
 * replay, and the replay time through malloc, mimicmem and the legacy table.
 * Text for people, --json for tools; see docs/replay.md. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "bench_util.h"
#include "mimicmem.h"
#include "replay_core.h"
/* the library's own emitter (from the static library): the replay's JSON is
 * written the way every other mimicmem output is */
#include "../../src/report/emit.h"

#define REPLAY_PROG "mimicmem-replay"
#define REPLAY_DEFAULT_ROUNDS 5
#define REPLAY_MAX_ROUNDS 1000
/* Below this many operations a replay takes microseconds: timer resolution,
 * caches and first-use costs dominate, so the timings mean little. */
#define REPLAY_FEW_OPERATIONS 100000

typedef struct {
    const char *path; /* the trace */
    int json;         /* --json */
    int rounds;       /* --rounds N, 1 .. REPLAY_MAX_ROUNDS */
} replay_options;

static void replay_usage(FILE *out)
{
    fprintf(out,
            "usage: " REPLAY_PROG " TRACE [--json] [--rounds N] [--help]\n"
            "Replays a Mimic allocation trace (plain or gzip) and prints its peak, the\n"
            "peak's composition by category, the live blocks at the peak, whether\n"
            "mimicmem's statistics agree, and the replay time through malloc, mimicmem\n"
            "and the legacy table.\n"
            "  --json      one JSON object on stdout instead of the text report\n"
            "  --rounds N  timed rounds per allocator, 1..%d (default %d; 1 for a quick look)\n"
            "  --help      this text\n"
            "MIMICMEM_* variables are ignored: the replay runs mimicmem with its defaults.\n"
            "Exit status: 0 done, 1 the trace could not be read or replayed, 2 bad usage.\n",
            REPLAY_MAX_ROUNDS, REPLAY_DEFAULT_ROUNDS);
}

/* Returns 0 to run, 1 after --help, 2 after a usage error (message printed). */
static int replay_parse(int argc, char **argv, replay_options *o)
{
    memset(o, 0, sizeof *o);
    o->rounds = REPLAY_DEFAULT_ROUNDS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *rounds_text = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            replay_usage(stdout);
            return 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "--rounds") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, REPLAY_PROG ": --rounds needs a number\n");
                replay_usage(stderr);
                return 2;
            }
            rounds_text = argv[++i];
        } else if (strncmp(a, "--rounds=", 9) == 0) {
            rounds_text = a + 9;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, REPLAY_PROG ": unknown option '%s'\n", a);
            replay_usage(stderr);
            return 2;
        } else if (o->path != NULL) {
            fprintf(stderr, REPLAY_PROG ": one trace only ('%s' and '%s' given)\n", o->path, a);
            replay_usage(stderr);
            return 2;
        } else {
            o->path = a;
        }
        if (rounds_text != NULL) {
            char *end = NULL;
            errno = 0;
            long n = strtol(rounds_text, &end, 10);
            if (errno != 0 || end == rounds_text || *end != '\0' || n < 1 ||
                n > REPLAY_MAX_ROUNDS) {
                fprintf(stderr, REPLAY_PROG ": --rounds wants a number from 1 to %d, not '%s'\n",
                        REPLAY_MAX_ROUNDS, rounds_text);
                replay_usage(stderr);
                return 2;
            }
            o->rounds = (int)n;
        }
    }
    if (o->path == NULL) {
        fprintf(stderr, REPLAY_PROG ": no trace given\n");
        replay_usage(stderr);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Names
 * ---------------------------------------------------------------------- */

static const char *replay_cat_name(mm_category c)
{
    const char *n = mm_category_name(c);
    return n != NULL ? n : "?";
}

/* name with control characters shown as '?', for the text report. */
static const char *replay_printable(const char *name, char *buf, size_t buflen)
{
    size_t i = 0;
    for (; name[i] != '\0' && i + 1 < buflen; i++) {
        unsigned char ch = (unsigned char)name[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}



/* ------------------------------------------------------------------------
 * Text report
 * ---------------------------------------------------------------------- */

static char *replay_count(uint64_t n, char *buf, size_t buflen)
{
    return bench_fmt_count(n, buf, buflen);
}

/* "7.7 MB (8,024,872 B)" */
static char *replay_bytes(uint64_t bytes, char *buf, size_t buflen)
{
    char unit[32], count[32];
    mm_format_bytes((size_t)bytes, unit, sizeof unit);
    snprintf(buf, buflen, "%s (%s B)", unit, replay_count(bytes, count, sizeof count));
    return buf;
}

static void replay_text(FILE *out, const replay_options *o, const mmr_summary *s,
                        const mmr_check *chk, const mmr_timing *tm)
{
    char b1[64], b2[64], b3[64], b4[64], b5[64], name[MM_NAME_MAX + 1];
    fprintf(out, "Trace       %s\n", o->path);
    fprintf(out, "Operations  %s (%s forests; %s allocations, %s reallocs, %s frees)\n",
            replay_count(s->operations, b1, sizeof b1), replay_count(s->forests, b2, sizeof b2),
            replay_count(s->allocs, b3, sizeof b3), replay_count(s->reallocs, b4, sizeof b4),
            replay_count(s->frees, b5, sizeof b5));
    fprintf(out, "Blocks      %s allocated, at most %s live at once, %s left live at the end",
            replay_count(s->blocks, b1, sizeof b1), replay_count(s->max_live_blocks, b2, sizeof b2),
            replay_count(s->live_blocks_at_end, b3, sizeof b3));
    if (s->live_blocks_at_end > 0) {
        fprintf(out, " (%s)", replay_bytes(s->live_bytes_at_end, b1, sizeof b1));
    }
    fprintf(out, "\n\n");

    mm_format_bytes((size_t)s->peak_bytes, b1, sizeof b1);
    replay_count(s->peak_bytes, b2, sizeof b2);
    if (s->peak_operation == 0) {
        fprintf(out, "Peak %s (%s bytes): no live bytes at any moment\n\n", b1, b2);
    } else {
        if (s->peak_forest >= 0) {
            snprintf(b3, sizeof b3, "in forest %lld", (long long)s->peak_forest);
        } else if (s->forests == 0) { /* a host that never uses contexts writes no F line */
            snprintf(b3, sizeof b3, "with no forests marked (the trace has no F lines)");
        } else {
            snprintf(b3, sizeof b3, "before the first forest");
        }
        fprintf(out, "Peak %s (%s bytes), reached %s, %s live blocks at peak\n", b1, b2, b3,
                replay_count(s->live_blocks_at_peak, b4, sizeof b4));
        fprintf(out, "     (operation %s of %s)\n\n",
                replay_count(s->peak_operation, b1, sizeof b1),
                replay_count(s->operations, b2, sizeof b2));
    }

    int w = (int)strlen("Category");
    for (size_t k = 0; k < s->ncategories; k++) {
        int n = (int)strlen(replay_cat_name(s->categories[k].category));
        w = n > w ? n : w;
    }
    fprintf(out, "%-*s  %24s  %24s  %6s\n", w, "Category", "Own peak", "At the total peak",
            "Share");
    for (size_t k = 0; k < s->ncategories; k++) {
        const mmr_category *c = &s->categories[k];
        double share = s->peak_bytes ? 100.0 * (double)c->at_peak_bytes / (double)s->peak_bytes
                                     : 0.0;
        fprintf(out, "%-*s  %24s  %24s  %5.1f%%\n", w,
                replay_printable(replay_cat_name(c->category), name, sizeof name),
                replay_bytes(c->peak_bytes, b1, sizeof b1),
                replay_bytes(c->at_peak_bytes, b2, sizeof b2), share);
    }
    fprintf(out, "%-*s  %24s  %24s  %5.1f%%\n", w, "Total", "",
            replay_bytes(s->peak_bytes, b1, sizeof b1), s->peak_bytes ? 100.0 : 0.0);
    fprintf(out, "Own peak: each category's high-water mark (the moments differ).\n"
                 "At the total peak: each category's bytes when the total peaked; they sum to "
                 "the peak.\n\n");

    if (chk->agree) {
        fprintf(out, "mimicmem statistics agree: yes (peak %s B, %s allocations and frees, and "
                     "each category's peak and allocations match the model)\n\n",
                replay_count(chk->peak_bytes, b1, sizeof b1),
                replay_count(chk->allocs, b2, sizeof b2));
    } else if (!chk->fresh) {
        fprintf(out, "mimicmem statistics agree: no (mimicmem had allocated before the replay, "
                     "so its peaks are not the trace's)\n\n");
    } else {
        fprintf(out, "mimicmem statistics agree: no (process peak %s B, model %s B",
                replay_count(chk->peak_bytes, b1, sizeof b1),
                replay_count(s->peak_bytes, b2, sizeof b2));
        if (chk->allocs != s->allocs || chk->frees != s->allocs) {
            fprintf(out, "; %s allocations and %s frees, model %s of each",
                    replay_count(chk->allocs, b1, sizeof b1), replay_count(chk->frees, b2, sizeof b2),
                    replay_count(s->allocs, b3, sizeof b3));
        }
        for (size_t k = 0; k < chk->ncategories; k++) {
            const mmr_category *c = &s->categories[k];
            if (chk->category_peak_bytes[k] != c->peak_bytes) {
                fprintf(out, "; %s peak %s B, model %s B",
                        replay_printable(replay_cat_name(c->category), name, sizeof name),
                        replay_count(chk->category_peak_bytes[k], b1, sizeof b1),
                        replay_count(c->peak_bytes, b2, sizeof b2));
            }
            if (chk->category_allocs[k] != c->allocs) {
                fprintf(out, "; %s %s allocations, model %s",
                        replay_printable(replay_cat_name(c->category), name, sizeof name),
                        replay_count(chk->category_allocs[k], b1, sizeof b1),
                        replay_count(c->allocs, b2, sizeof b2));
            }
        }
        if (chk->live_bytes_after != 0) {
            fprintf(out, "; %s B still live after the replay",
                    replay_count(chk->live_bytes_after, b1, sizeof b1));
        }
        fprintf(out, ")\n\n");
    }

    fprintf(out, "Replay time, median of %d round%s (only the replay loop is timed)\n", tm->rounds,
            tm->rounds == 1 ? "" : "s");
    fprintf(out, "%-14s  %12s  %16s\n", "Allocator", "Median (s)", "Ratio to malloc");
    const mmr_allocator_time *base = &tm->allocators[MMR_MALLOC];
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        const mmr_allocator_time *at = &tm->allocators[a];
        if (at->failure != NULL) {
            fprintf(out, "%-14s  %s\n", at->name, at->failure);
            continue;
        }
        if (base->failure == NULL && base->median_seconds > 0.0) {
            bench_fmt_ratio(at->median_seconds / base->median_seconds, b1, sizeof b1);
        } else {
            snprintf(b1, sizeof b1, "-");
        }
        fprintf(out, "%-14s  %12.6f  %16s\n", at->name, at->median_seconds, b1);
    }
}

/* ------------------------------------------------------------------------
 * JSON report
 * ---------------------------------------------------------------------- */

static void replay_json(FILE *out, const replay_options *o, const mmr_summary *s,
                        const mmr_check *chk, const mmr_timing *tm)
{
    mmi_emitter e;
    mmi_emit_init(&e, out, MMI_EMIT_JSON);
    mmi_emit_obj_begin(&e, NULL);
    mmi_emit_i64(&e, "schema_version", MMR_SCHEMA_VERSION);
    mmi_emit_str(&e, "trace", o->path);
    mmi_emit_u64(&e, "operations", s->operations);
    mmi_emit_u64(&e, "forests", s->forests);
    mmi_emit_u64(&e, "allocations", s->allocs);
    mmi_emit_u64(&e, "reallocs", s->reallocs);
    mmi_emit_u64(&e, "frees", s->frees);
    mmi_emit_u64(&e, "blocks", s->blocks);
    mmi_emit_u64(&e, "max_live_blocks", s->max_live_blocks);
    mmi_emit_u64(&e, "live_blocks_at_end", s->live_blocks_at_end);
    mmi_emit_u64(&e, "live_bytes_at_end", s->live_bytes_at_end);
    mmi_emit_u64(&e, "peak_bytes", s->peak_bytes);
    mmi_emit_u64(&e, "peak_operation", s->peak_operation);
    mmi_emit_i64(&e, "peak_forest", (int64_t)s->peak_forest);
    mmi_emit_u64(&e, "live_blocks_at_peak", s->live_blocks_at_peak);
    mmi_emit_arr_begin(&e, "categories");
    for (size_t k = 0; k < s->ncategories; k++) {
        const mmr_category *c = &s->categories[k];
        mmi_emit_obj_begin(&e, NULL);
        mmi_emit_i64(&e, "id", (int)c->category);
        mmi_emit_str(&e, "name", replay_cat_name(c->category));
        mmi_emit_u64(&e, "allocations", c->allocs);
        mmi_emit_u64(&e, "peak_bytes", c->peak_bytes);
        mmi_emit_u64(&e, "bytes_at_peak", c->at_peak_bytes);
        mmi_emit_u64(&e, "bytes_at_end", c->bytes_at_end);
        mmi_emit_u64(&e, "blocks_at_end", c->blocks_at_end);
        mmi_emit_double(&e, "share_of_peak",
                        s->peak_bytes ? (double)c->at_peak_bytes / (double)s->peak_bytes : 0.0);
        mmi_emit_u64(&e, "mimicmem_peak_bytes",
                     k < chk->ncategories ? chk->category_peak_bytes[k] : 0);
        mmi_emit_u64(&e, "mimicmem_allocations",
                     k < chk->ncategories ? chk->category_allocs[k] : 0);
        mmi_emit_obj_end(&e);
    }
    mmi_emit_arr_end(&e);
    mmi_emit_obj_begin(&e, "mimicmem");
    mmi_emit_bool(&e, "fresh", chk->fresh);
    mmi_emit_bool(&e, "agree", chk->agree);
    mmi_emit_u64(&e, "peak_bytes", chk->peak_bytes);
    mmi_emit_u64(&e, "allocations", chk->allocs);
    mmi_emit_u64(&e, "frees", chk->frees);
    mmi_emit_u64(&e, "live_bytes_after", chk->live_bytes_after);
    mmi_emit_obj_end(&e);
    mmi_emit_obj_begin(&e, "timing");
    mmi_emit_i64(&e, "rounds", tm->rounds);
    mmi_emit_arr_begin(&e, "allocators");
    const mmr_allocator_time *base = &tm->allocators[MMR_MALLOC];
    for (int a = 0; a < MMR_NALLOCATORS; a++) {
        const mmr_allocator_time *at = &tm->allocators[a];
        mmi_emit_obj_begin(&e, NULL);
        mmi_emit_str(&e, "name", at->name);
        mmi_emit_str(&e, "status", at->failure != NULL ? at->failure : "ok");
        mmi_emit_i64(&e, "rounds_completed", at->nrounds);
        if (at->failure != NULL || at->nrounds == 0) {
            mmi_emit_null(&e, "median_seconds");
            mmi_emit_null(&e, "min_seconds");
            mmi_emit_null(&e, "max_seconds");
            mmi_emit_null(&e, "ratio_to_malloc");
        } else {
            mmi_emit_double(&e, "median_seconds", at->median_seconds);
            mmi_emit_double(&e, "min_seconds", at->min_seconds);
            mmi_emit_double(&e, "max_seconds", at->max_seconds);
            if (base->failure == NULL && base->median_seconds > 0.0)
                mmi_emit_double(&e, "ratio_to_malloc", at->median_seconds / base->median_seconds);
            else
                mmi_emit_null(&e, "ratio_to_malloc");
        }
        mmi_emit_obj_end(&e);
    }
    mmi_emit_arr_end(&e);
    mmi_emit_obj_end(&e);
    mmi_emit_obj_end(&e);
    mmi_emit_json_line_end(&e);
}

/* ------------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------- */

/* Drops every MIMICMEM_* variable before the library's first use, which
 * reads them: the replay measures mimicmem as the library ships, and its
 * statistics check needs a process that allocated nothing. A MIMICMEM_TRACE
 * still exported from the traced run would otherwise make the replay write
 * its own trace over the file it reads; a MIMICMEM_LIMIT could fail its
 * allocations; MIMICMEM_CHECK would time the checks. One note on stderr
 * names what was dropped. */
static void replay_drop_mimicmem_environment(void)
{
#if defined(__unix__) || defined(__APPLE__)
    extern char **environ;
    for (;;) {
        const char *var = NULL;
        for (char **v = environ; v != NULL && *v != NULL; v++) {
            if (strncmp(*v, "MIMICMEM_", 9) == 0) {
                var = *v;
                break;
            }
        }
        if (var == NULL) {
            return;
        }
        const char *eq = strchr(var, '=');
        size_t n = eq != NULL ? (size_t)(eq - var) : strlen(var);
        char *name = malloc(n + 1);
        if (name == NULL) {
            return;
        }
        memcpy(name, var, n);
        name[n] = '\0';
        fprintf(stderr, REPLAY_PROG ": note: %s is ignored (the replay runs mimicmem with its "
                        "default settings)\n",
                name);
        int rc = unsetenv(name);
        free(name);
        if (rc != 0) {
            return; /* never loop on a variable that stays */
        }
    }
#endif
}

/* Physical memory in bytes, or 0 when unknown. */
static uint64_t replay_physical_bytes(void)
{
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_bytes = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page_bytes > 0) {
        return (uint64_t)pages * (uint64_t)page_bytes;
    }
#endif
    return 0;
}

int main(int argc, char **argv)
{
    replay_drop_mimicmem_environment(); /* before anything calls mimicmem */
    replay_options o;
    int rc = replay_parse(argc, argv, &o);
    if (rc != 0) {
        return rc == 1 ? 0 : 2;
    }

    trace t;
    char err[512];
    if (mmr_load(o.path, &t, err, sizeof err) != 0) {
        fprintf(stderr, REPLAY_PROG ": %s\n", err);
        return 1;
    }
    mmr_summary s;
    if (mmr_analyse(&t, &s) != 0) {
        fprintf(stderr, REPLAY_PROG ": %s: live bytes pass 2^64, or out of memory\n", o.path);
        trace_free(&t);
        return 1;
    }
    uint64_t physical = replay_physical_bytes();
    if (physical != 0 && s.peak_bytes > physical) {
        char need[32], have[32];
        fprintf(stderr, REPLAY_PROG ": %s: the trace holds %s live at its peak, more than this "
                        "machine's %s of memory; not replayed\n",
                o.path, mm_format_bytes((size_t)s.peak_bytes, need, sizeof need),
                mm_format_bytes((size_t)physical, have, sizeof have));
        mmr_summary_free(&s);
        trace_free(&t);
        return 1;
    }

    if (s.operations < REPLAY_FEW_OPERATIONS) {
        char n[32];
        fprintf(stderr,
                REPLAY_PROG ": warning: %s: only %s operations (under 100,000): the replay "
                            "times below mean little; the peak and category figures are exact\n",
                o.path, bench_fmt_count(s.operations, n, sizeof n));
    }

    /* The statistics check comes first, while mimicmem has allocated nothing. */
    mmr_check chk;
    mmr_timing tm;
    if (mmr_check_stats(&t, &s, &chk) != 0 || mmr_time(&t, o.rounds, &tm) != 0) {
        fprintf(stderr, REPLAY_PROG ": %s: out of memory\n", o.path);
        mmr_check_free(&chk);
        mmr_summary_free(&s);
        trace_free(&t);
        return 1;
    }

    if (o.json) {
        replay_json(stdout, &o, &s, &chk, &tm);
    } else {
        replay_text(stdout, &o, &s, &chk, &tm);
    }
    mmr_check_free(&chk);
    mmr_summary_free(&s);
    trace_free(&t);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, REPLAY_PROG ": cannot write the report\n");
        return 1;
    }
    return 0;
}
