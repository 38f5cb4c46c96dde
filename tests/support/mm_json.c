/* Strict recursive-descent JSON reader used to check that mimicmem's JSON
 * reports are well formed and carry the expected values (see mm_json.h). */
#include "mm_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct {
    const char *start; /* the whole document */
    const char *p;     /* next byte to read */
    char *err;         /* where the first error goes */
    size_t errlen;     /* size of err */
    int failed;        /* nonzero once an error was reported */
} json_reader;

/* A growable byte buffer for decoded strings. */
typedef struct {
    char *data;  /* bytes, NUL-terminated when len < cap */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
} json_buf;

static void json_fail(json_reader *r, const char *what)
{
    if (r->failed) return;
    r->failed = 1;
    if (r->errlen > 0) {
        snprintf(r->err, r->errlen, "%s at byte %ld", what, (long)(r->p - r->start));
    }
}

static int json_buf_put(json_buf *b, const char *bytes, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

static void json_skip_ws(json_reader *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r') r->p++;
}

static mmt_json *json_new(mmt_json_type type)
{
    mmt_json *v = calloc(1, sizeof *v);
    if (v != NULL) v->type = type;
    return v;
}

static int json_add_item(mmt_json *parent, mmt_json *child)
{
    mmt_json **items = realloc(parent->items, (parent->count + 1) * sizeof *items);
    if (items == NULL) return 0;
    parent->items = items;
    parent->items[parent->count++] = child;
    return 1;
}

/* ---- strings ---------------------------------------------------------- */

static int json_hex4(json_reader *r, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else {
            json_fail(r, "\\u needs four hex digits");
            return 0;
        }
    }
    r->p += 4;
    *out = v;
    return 1;
}

static int json_put_utf8(json_buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return json_buf_put(b, u, n);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t json_utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        unsigned lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        unsigned hi = s[0] == 0xED ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi) return 0;
        return (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        unsigned lo = s[0] == 0xF0 ? 0x90 : 0x80;
        unsigned hi = s[0] == 0xF4 ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi) return 0;
        if ((s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

/* Reads a string starting at the opening quote into b (decoded). */
static int json_read_string(json_reader *r, json_buf *b)
{
    if (*r->p != '"') {
        json_fail(r, "expected a string");
        return 0;
    }
    r->p++;
    if (!json_buf_put(b, "", 0)) return 0;
    for (;;) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '\0') {
            json_fail(r, "unterminated string");
            return 0;
        }
        if (c == '"') {
            r->p++;
            return 1;
        }
        if (c < 0x20) {
            json_fail(r, "raw control character in a string");
            return 0;
        }
        if (c == '\\') {
            r->p++;
            char e = *r->p++;
            const char *rep = NULL;
            switch (e) {
            case '"': rep = "\""; break;
            case '\\': rep = "\\"; break;
            case '/': rep = "/"; break;
            case 'b': rep = "\b"; break;
            case 'f': rep = "\f"; break;
            case 'n': rep = "\n"; break;
            case 'r': rep = "\r"; break;
            case 't': rep = "\t"; break;
            case 'u': {
                unsigned cp;
                if (!json_hex4(r, &cp)) return 0;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    json_fail(r, "lone low surrogate");
                    return 0;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (r->p[0] != '\\' || r->p[1] != 'u') {
                        json_fail(r, "high surrogate without a low surrogate");
                        return 0;
                    }
                    r->p += 2;
                    if (!json_hex4(r, &lo)) return 0;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        json_fail(r, "high surrogate without a low surrogate");
                        return 0;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (!json_put_utf8(b, cp)) return 0;
                continue;
            }
            default:
                r->p--;
                json_fail(r, "invalid escape");
                return 0;
            }
            if (!json_buf_put(b, rep, 1)) return 0;
            continue;
        }
        size_t n = json_utf8_len((const unsigned char *)r->p);
        if (n == 0) {
            json_fail(r, "invalid UTF-8");
            return 0;
        }
        if (!json_buf_put(b, r->p, n)) return 0;
        r->p += n;
    }
}

/* ---- numbers ---------------------------------------------------------- */

static int json_is_digit(char c) { return c >= '0' && c <= '9'; }

static mmt_json *json_read_number(json_reader *r)
{
    const char *s = r->p;
    if (*r->p == '-') r->p++;
    if (*r->p == '0') {
        r->p++;
        if (json_is_digit(*r->p)) {
            json_fail(r, "leading zero in a number");
            return NULL;
        }
    } else if (json_is_digit(*r->p)) {
        while (json_is_digit(*r->p)) r->p++;
    } else {
        json_fail(r, "expected a digit");
        return NULL;
    }
    if (*r->p == '.') {
        r->p++;
        if (!json_is_digit(*r->p)) {
            json_fail(r, "expected a digit after the decimal point");
            return NULL;
        }
        while (json_is_digit(*r->p)) r->p++;
    }
    if (*r->p == 'e' || *r->p == 'E') {
        r->p++;
        if (*r->p == '+' || *r->p == '-') r->p++;
        if (!json_is_digit(*r->p)) {
            json_fail(r, "expected a digit in the exponent");
            return NULL;
        }
        while (json_is_digit(*r->p)) r->p++;
    }
    mmt_json *v = json_new(MMT_JSON_NUMBER);
    if (v == NULL) return NULL;
    v->text_len = (size_t)(r->p - s);
    v->text = malloc(v->text_len + 1);
    if (v->text == NULL) {
        free(v);
        return NULL;
    }
    memcpy(v->text, s, v->text_len);
    v->text[v->text_len] = '\0';
    return v;
}

/* ---- values ----------------------------------------------------------- */

static mmt_json *json_read_value(json_reader *r, int depth);

static int json_literal(json_reader *r, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(r->p, word, n) != 0) {
        json_fail(r, "unexpected character");
        return 0;
    }
    r->p += n;
    return 1;
}

static mmt_json *json_read_array(json_reader *r, int depth)
{
    mmt_json *v = json_new(MMT_JSON_ARRAY);
    if (v == NULL) return NULL;
    r->p++; /* [ */
    json_skip_ws(r);
    if (*r->p == ']') {
        r->p++;
        return v;
    }
    for (;;) {
        mmt_json *item = json_read_value(r, depth + 1);
        if (item == NULL || !json_add_item(v, item)) {
            mmt_json_free(item);
            mmt_json_free(v);
            return NULL;
        }
        json_skip_ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == ']') {
            r->p++;
            return v;
        }
        json_fail(r, "expected ',' or ']' in an array");
        mmt_json_free(v);
        return NULL;
    }
}

static mmt_json *json_read_object(json_reader *r, int depth)
{
    mmt_json *v = json_new(MMT_JSON_OBJECT);
    if (v == NULL) return NULL;
    r->p++; /* { */
    json_skip_ws(r);
    if (*r->p == '}') {
        r->p++;
        return v;
    }
    for (;;) {
        json_buf key = {0};
        json_skip_ws(r);
        if (!json_read_string(r, &key)) {
            json_fail(r, "expected a member name");
            free(key.data);
            mmt_json_free(v);
            return NULL;
        }
        for (size_t i = 0; i < v->count; i++) {
            if (v->items[i]->key_len == key.len && memcmp(v->items[i]->key, key.data, key.len) == 0) {
                json_fail(r, "duplicate member name");
                free(key.data);
                mmt_json_free(v);
                return NULL;
            }
        }
        json_skip_ws(r);
        if (*r->p != ':') {
            json_fail(r, "expected ':' after a member name");
            free(key.data);
            mmt_json_free(v);
            return NULL;
        }
        r->p++;
        mmt_json *item = json_read_value(r, depth + 1);
        if (item == NULL || !json_add_item(v, item)) {
            free(key.data);
            mmt_json_free(item);
            mmt_json_free(v);
            return NULL;
        }
        item->key = key.data;
        item->key_len = key.len;
        json_skip_ws(r);
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == '}') {
            r->p++;
            return v;
        }
        json_fail(r, "expected ',' or '}' in an object");
        mmt_json_free(v);
        return NULL;
    }
}

static mmt_json *json_read_value(json_reader *r, int depth)
{
    if (depth > JSON_MAX_DEPTH) {
        json_fail(r, "nesting too deep");
        return NULL;
    }
    json_skip_ws(r);
    char c = *r->p;
    if (c == '{') return json_read_object(r, depth);
    if (c == '[') return json_read_array(r, depth);
    if (c == '"') {
        json_buf b = {0};
        if (!json_read_string(r, &b)) {
            free(b.data);
            return NULL;
        }
        mmt_json *v = json_new(MMT_JSON_STRING);
        if (v == NULL) {
            free(b.data);
            return NULL;
        }
        v->text = b.data;
        v->text_len = b.len;
        return v;
    }
    if (c == '-' || json_is_digit(c)) return json_read_number(r);
    if (c == 't') return json_literal(r, "true") ? json_new(MMT_JSON_TRUE) : NULL;
    if (c == 'f') return json_literal(r, "false") ? json_new(MMT_JSON_FALSE) : NULL;
    if (c == 'n') return json_literal(r, "null") ? json_new(MMT_JSON_NULL) : NULL;
    json_fail(r, c == '\0' ? "unexpected end of text" : "unexpected character");
    return NULL;
}

/* ---- public ----------------------------------------------------------- */

mmt_json *mmt_json_parse(const char *text, char *err, size_t errlen)
{
    json_reader r = {text, text, err, errlen, 0};
    if (errlen > 0) err[0] = '\0';
    if (text == NULL) {
        if (errlen > 0) snprintf(err, errlen, "no text");
        return NULL;
    }
    mmt_json *v = json_read_value(&r, 0);
    if (v == NULL) {
        json_fail(&r, "out of memory");
        return NULL;
    }
    json_skip_ws(&r);
    if (*r.p != '\0') {
        json_fail(&r, "text after the value");
        mmt_json_free(v);
        return NULL;
    }
    return v;
}

void mmt_json_free(mmt_json *v)
{
    if (v == NULL) return;
    for (size_t i = 0; i < v->count; i++) mmt_json_free(v->items[i]);
    free(v->items);
    free(v->key);
    free(v->text);
    free(v);
}

const mmt_json *mmt_json_get(const mmt_json *obj, const char *key)
{
    if (obj == NULL || obj->type != MMT_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->count; i++) {
        const mmt_json *m = obj->items[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0) return m;
    }
    return NULL;
}

int mmt_json_uint(const mmt_json *v, uint64_t *out)
{
    if (v == NULL || v->type != MMT_JSON_NUMBER) return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < v->text_len; i++) {
        char c = v->text[i];
        if (!json_is_digit(c)) return 0;
        unsigned d = (unsigned)(c - '0');
        if (x > (UINT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
    }
    *out = x;
    return 1;
}

int mmt_json_string_is(const mmt_json *v, const char *s)
{
    if (v == NULL || v->type != MMT_JSON_STRING) return 0;
    size_t n = strlen(s);
    return v->text_len == n && memcmp(v->text, s, n) == 0;
}
