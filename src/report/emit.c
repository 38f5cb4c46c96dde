/* The emitter (emit.h): the one place the library writes JSON, CSV and the
 * lines of its text reports. Strings are escaped once here (JSON: control
 * characters and invalid UTF-8; text: control characters; CSV: RFC 4180
 * quoting), and numbers never depend on the locale. */
#include "../platform/platform.h"
#include "emit.h"

#include <string.h>

void mmi_emit_init(mmi_emitter *e, FILE *out, mmi_emit_format fmt) {
    memset(e, 0, sizeof *e);
    e->out = out;
    e->fmt = fmt;
}

/* ======================================================================
 * JSON
 * ==================================================================== */

void mmi_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = mmi_utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
        p++;
    }
    fputc('"', f);
}

/* The comma and the key before a value at the current level. */
static bool emit_member(mmi_emitter *e, const char *key) {
    if (e->fmt != MMI_EMIT_JSON) return false;
    int d = e->depth < MMI_EMIT_DEPTH ? e->depth : MMI_EMIT_DEPTH;
    if (e->item[d]) fputc(',', e->out);
    e->item[d] = true;
    if (key) {
        mmi_json_string(e->out, key);
        fputc(':', e->out);
    }
    return true;
}

static void emit_open(mmi_emitter *e, const char *key, char c) {
    if (!emit_member(e, key)) return;
    fputc(c, e->out);
    e->depth++;
    if (e->depth <= MMI_EMIT_DEPTH) e->item[e->depth] = false;
}

static void emit_close(mmi_emitter *e, char c) {
    if (e->fmt != MMI_EMIT_JSON) return;
    fputc(c, e->out);
    if (e->depth > 0) e->depth--;
}

void mmi_emit_obj_begin(mmi_emitter *e, const char *key) {
    emit_open(e, key, '{');
}

void mmi_emit_obj_end(mmi_emitter *e) {
    emit_close(e, '}');
}

void mmi_emit_arr_begin(mmi_emitter *e, const char *key) {
    emit_open(e, key, '[');
}

void mmi_emit_arr_end(mmi_emitter *e) {
    emit_close(e, ']');
}

void mmi_emit_u64(mmi_emitter *e, const char *key, uint64_t v) {
    if (emit_member(e, key)) fprintf(e->out, "%llu", (unsigned long long)v);
}

void mmi_emit_i64(mmi_emitter *e, const char *key, int64_t v) {
    if (emit_member(e, key)) fprintf(e->out, "%lld", (long long)v);
}

void mmi_emit_str(mmi_emitter *e, const char *key, const char *s) {
    if (!emit_member(e, key)) return;
    if (s)
        mmi_json_string(e->out, s);
    else
        fputs("null", e->out);
}

void mmi_emit_tenths(mmi_emitter *e, const char *key, double v) {
    if (!emit_member(e, key)) return;
    char b[48];
    fputs(mmi_format_tenths(v, b, sizeof b), e->out);
}

void mmi_emit_double(mmi_emitter *e, const char *key, double v) {
    char b[64];
    if (!emit_member(e, key)) return;
    mmi_format_double(v, b, sizeof b);
    fputs(b[0] ? b : "null", e->out);
}

void mmi_emit_bool(mmi_emitter *e, const char *key, bool v) {
    if (emit_member(e, key)) fputs(v ? "true" : "false", e->out);
}

void mmi_emit_null(mmi_emitter *e, const char *key) {
    if (emit_member(e, key)) fputs("null", e->out);
}

void mmi_emit_json_line_end(mmi_emitter *e) {
    if (e->fmt != MMI_EMIT_JSON) return;
    fputc('\n', e->out);
    e->item[0] = false;
}

/* ======================================================================
 * Text
 * ==================================================================== */

void mmi_emit_text(mmi_emitter *e, const char *fmt, ...) {
    if (e->fmt != MMI_EMIT_TEXT) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(e->out, fmt, ap);
    va_end(ap);
}

void mmi_emit_name(mmi_emitter *e, const char *s, int width) {
    if (e->fmt != MMI_EMIT_TEXT) return;
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, e->out);
    for (; n < width; n++) fputc(' ', e->out);
}

/* ======================================================================
 * CSV
 * ==================================================================== */

static bool emit_field(mmi_emitter *e) {
    if (e->fmt != MMI_EMIT_CSV) return false;
    if (e->row_started) fputc(',', e->out);
    e->row_started = true;
    return true;
}

bool mmi_csv_needs_quotes(const char *s) {
    return strpbrk(s, ",\"\r\n") != NULL;
}

void mmi_emit_csv_open(mmi_emitter *e, bool quoted) {
    if (!emit_field(e)) return;
    e->part_quoted = quoted;
    if (quoted) fputc('"', e->out);
}

void mmi_emit_csv_part(mmi_emitter *e, const char *s) {
    if (e->fmt != MMI_EMIT_CSV) return;
    for (; *s; s++) {
        if (e->part_quoted && *s == '"') fputc('"', e->out);
        fputc(*s, e->out);
    }
}

void mmi_emit_csv_part_u64(mmi_emitter *e, uint64_t v) {
    if (e->fmt == MMI_EMIT_CSV) fprintf(e->out, "%llu", (unsigned long long)v);
}

void mmi_emit_csv_close(mmi_emitter *e) {
    if (e->fmt != MMI_EMIT_CSV) return;
    if (e->part_quoted) fputc('"', e->out);
    e->part_quoted = false;
}

void mmi_emit_csv_str(mmi_emitter *e, const char *s) {
    mmi_emit_csv_open(e, mmi_csv_needs_quotes(s));
    mmi_emit_csv_part(e, s);
    mmi_emit_csv_close(e);
}

void mmi_emit_csv_u64(mmi_emitter *e, uint64_t v) {
    if (emit_field(e)) fprintf(e->out, "%llu", (unsigned long long)v);
}

void mmi_emit_csv_double(mmi_emitter *e, double v) {
    if (!emit_field(e)) return;
    char b[64];
    fputs(mmi_format_double(v, b, sizeof b), e->out);
}

void mmi_emit_csv_empty(mmi_emitter *e) {
    emit_field(e);
}

void mmi_emit_csv_row_end(mmi_emitter *e) {
    if (e->fmt != MMI_EMIT_CSV) return;
    fputc('\n', e->out);
    e->row_started = false;
}
