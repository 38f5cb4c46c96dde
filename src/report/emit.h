/* The emitter: every output of the library (reports, leak lists, the epoch
 * log, the exit report) and of tools/replay is written through it, so text,
 * JSON and CSV come from one set of calls over one gathered snapshot, as
 * jemalloc's emitter does. A writer makes the JSON calls and the text calls
 * side by side; each emitter writes only the calls of its own format.
 * Self-contained: it needs only the platform layer's number formatting. */
#ifndef MMI_EMIT_H
#define MMI_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    MMI_EMIT_TEXT = 0, /* text for people: mmi_emit_text and mmi_emit_name */
    MMI_EMIT_JSON = 1, /* one JSON value: the structure and key-value calls */
    MMI_EMIT_CSV = 2   /* RFC 4180 rows: the csv calls */
} mmi_emit_format;

#define MMI_EMIT_DEPTH 32 /* JSON nesting the emitter keeps track of */

typedef struct {
    FILE *out;                       /* where everything goes */
    mmi_emit_format fmt;             /* which calls write */
    int depth;                       /* JSON: open objects and arrays */
    bool item[MMI_EMIT_DEPTH + 1];   /* JSON: the level has an item already (comma next) */
    bool row_started;                /* CSV: a field is on the current row */
    bool part_quoted;                /* CSV: the field being written in parts is quoted */
} mmi_emitter;

void mmi_emit_init(mmi_emitter *e, FILE *out, mmi_emit_format fmt);

/* ---- JSON (written only in JSON) -------------------------------------
 * key is the member name inside an object, NULL for an array item or the
 * top value. */
void mmi_emit_obj_begin(mmi_emitter *e, const char *key);
void mmi_emit_obj_end(mmi_emitter *e);
void mmi_emit_arr_begin(mmi_emitter *e, const char *key);
void mmi_emit_arr_end(mmi_emitter *e);
void mmi_emit_u64(mmi_emitter *e, const char *key, uint64_t v);
void mmi_emit_i64(mmi_emitter *e, const char *key, int64_t v);
void mmi_emit_str(mmi_emitter *e, const char *key, const char *s); /* NULL: null */
void mmi_emit_tenths(mmi_emitter *e, const char *key, double v);   /* one decimal */
void mmi_emit_double(mmi_emitter *e, const char *key, double v);   /* NaN, inf: null */
void mmi_emit_bool(mmi_emitter *e, const char *key, bool v);
void mmi_emit_null(mmi_emitter *e, const char *key);
/* Ends a top-level JSON value with a newline (one JSON object per line). */
void mmi_emit_json_line_end(mmi_emitter *e);

/* ---- text (written only in text) ------------------------------------- */
void mmi_emit_text(mmi_emitter *e, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A name, control characters shown as '?' so a hostile name cannot break
 * the lines, padded with spaces to width. */
void mmi_emit_name(mmi_emitter *e, const char *s, int width);

/* ---- CSV (written only in CSV) ---------------------------------------- */
void mmi_emit_csv_str(mmi_emitter *e, const char *s); /* quoted when it needs it */
void mmi_emit_csv_u64(mmi_emitter *e, uint64_t v);
void mmi_emit_csv_double(mmi_emitter *e, double v);   /* NaN, inf: empty */
void mmi_emit_csv_empty(mmi_emitter *e);
void mmi_emit_csv_row_end(mmi_emitter *e);
/* One field written in parts (the narrow epoch log's "Halos=1;IO=2"):
 * quoted says whether the whole field is quoted (see mmi_csv_needs_quotes);
 * the parts' quotes are doubled inside a quoted field. */
void mmi_emit_csv_open(mmi_emitter *e, bool quoted);
void mmi_emit_csv_part(mmi_emitter *e, const char *s);
void mmi_emit_csv_part_u64(mmi_emitter *e, uint64_t v);
void mmi_emit_csv_close(mmi_emitter *e);
bool mmi_csv_needs_quotes(const char *s);

/* The JSON string literal of s on f: escapes, invalid UTF-8 as U+FFFD. */
void mmi_json_string(FILE *f, const char *s);

#endif /* MMI_EMIT_H */
