/* A small, strict JSON reader (RFC 8259) for checking mimicmem's JSON
 * reports: it rejects anything a strict parser would (trailing commas,
 * leading zeros, raw control characters, bad escapes, invalid UTF-8, lone
 * surrogates, duplicate keys, trailing text) and builds a tree for lookups.
 * Test code only; memory comes from the system malloc. */
#ifndef MM_JSON_H
#define MM_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MMT_JSON_NULL,
    MMT_JSON_FALSE,
    MMT_JSON_TRUE,
    MMT_JSON_NUMBER,
    MMT_JSON_STRING,
    MMT_JSON_ARRAY,
    MMT_JSON_OBJECT
} mmt_json_type;

typedef struct mmt_json mmt_json;
struct mmt_json {
    mmt_json_type type;  /* which kind of value */
    char *key;           /* member name (decoded) when the parent is an object, else NULL */
    size_t key_len;      /* bytes in key, without the NUL */
    char *text;          /* STRING: decoded UTF-8; NUMBER: the literal as written */
    size_t text_len;     /* bytes in text, without the NUL (a string may hold \u0000) */
    mmt_json **items;    /* ARRAY / OBJECT: members in document order */
    size_t count;        /* number of items */
};

/* Parses the whole of text (exactly one value, optional whitespace around).
 * Returns the tree, or NULL with a message naming the byte offset in err. */
mmt_json *mmt_json_parse(const char *text, char *err, size_t errlen);

void mmt_json_free(mmt_json *v);

/* Member key of object obj, or NULL when obj is not an object or lacks it. */
const mmt_json *mmt_json_get(const mmt_json *obj, const char *key);

/* Nonzero when v is a number written as a non-negative integer without a
 * fraction or exponent that fits in 64 bits; its value goes to *out. */
int mmt_json_uint(const mmt_json *v, uint64_t *out);

/* Nonzero when v is a string equal to s (compared with its full length). */
int mmt_json_string_is(const mmt_json *v, const char *s);

#endif /* MM_JSON_H */
