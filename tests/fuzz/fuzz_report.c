/* libFuzzer target: the report writers (mm_report text and JSON, the JSON
 * Lines epoch log) fed hostile category, group, context and label names taken
 * from the input. Every JSON document must pass the strict reader of
 * tests/support/mm_json.c, and every name in it must decode back to the name
 * the library holds; the text report must carry no control character but the
 * line feeds of its own lines. The registry is process-wide, so an input
 * registers at most FR_NEW_CATS new categories and none once FR_CAT_BUDGET
 * are registered (a report's cost grows with the categories, and the names
 * already registered keep appearing in the process report).
 *
 * The names are any bytes: the expected decoded form is the library's rule
 * (each byte that is not part of valid UTF-8 becomes U+FFFD; context names
 * and labels are cut to MM_NAME_MAX bytes, backing off to a character
 * boundary). */
#define _POSIX_C_SOURCE 200809L

#include "fuzz_common.h"
#include "mm_json.h"


#define FR_CTX_MAX 6     /* contexts per input */
#define FR_BLK_MAX 32    /* live blocks per input */
#define FR_NEW_CATS 2    /* new categories an input may register */
#define FR_CAT_BUDGET 96 /* registered categories beyond which none are added */
#define FR_NAMES 64      /* names (context names and labels) remembered per input */

typedef struct {
    mm_context *h;         /* NULL when the slot is free */
    int parent;            /* parent slot or -1 */
    char *log;             /* JSON Lines epoch log (open_memstream buffer) */
    size_t log_len;        /* its length */
    FILE *log_file;        /* the stream */
} fr_ctx;

static fr_ctx fr_ctxs[FR_CTX_MAX];
static void *fr_blks[FR_BLK_MAX];
static mm_category fr_cats[16];       /* categories this input may use */
static int fr_ncats;
static char fr_names[FR_NAMES][96]; /* context names and labels given */
static int fr_nnames;

/* ---- names from the input ------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Reads a name of up to 80 bytes (a NUL byte ends it early). */
static void read_name(fz_reader *r, char *out, size_t outlen)
{
    size_t want = fz_u8(r) % 81, o = 0;
    for (size_t i = 0; i < want && fz_more(r); i++) {
        uint8_t c = fz_u8(r);
        if (c == '\0') break;
        if (o + 1 < outlen) out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* What a JSON reader decodes from the library's escaping of s: bytes that are
 * not part of valid UTF-8 become U+FFFD, the rest is unchanged. */
static void json_expect(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s), o = 0;
    for (size_t i = 0; i < n && o + 4 < outlen;) {
        size_t len = utf8_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
}

/* The library's copy of a context name or label: at most MM_NAME_MAX bytes,
 * cut before a UTF-8 continuation byte. */
static size_t name_cut(const char *s)
{
    size_t n = strlen(s);
    if (n > MM_NAME_MAX) {
        n = MM_NAME_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
    }
    return n;
}

static void remember_name(const char *name)
{
    if (fr_nnames < FR_NAMES) {
        snprintf(fr_names[fr_nnames], sizeof fr_names[0], "%s", name);
        fr_nnames++;
    }
}

/* Nonzero when the decoded string s (len bytes) is what the report should
 * show for a context name or label this input gave. */
static int known_name(const char *s, size_t len)
{
    char cut[MM_NAME_MAX + 1], want[4 * (MM_NAME_MAX + 1)];
    for (int i = 0; i < fr_nnames; i++) {
        size_t n = name_cut(fr_names[i]);
        memcpy(cut, fr_names[i], n);
        cut[n] = '\0';
        json_expect(cut, want, sizeof want);
        if (strlen(want) == len && memcmp(want, s, len) == 0) return 1;
    }
    return len == 0 || (len == 7 && memcmp(s, "context", 7) == 0);
}

/* Nonzero when key is what the report shows for a registered category. The
 * expected forms are kept across inputs (registered names never change). */
static int known_category(const char *key)
{
    static char want[MM_CATEGORY_MAX][4 * (MM_NAME_MAX + 1)];
    static int nwant;
    for (int n = mm_category_count(); nwant < n; nwant++)
        json_expect(mm_category_name(nwant), want[nwant], sizeof want[0]);
    for (int c = 0; c < nwant; c++)
        if (strcmp(want[c], key) == 0) return 1;
    return 0;
}

/* ---- checks -------------------------------------------------------------- */

static mmt_json *parse_or_die(const char *text, const char *what)
{
    char err[160];
    mmt_json *doc = mmt_json_parse(text, err, sizeof err);
    FZ_CHECK(doc != NULL, "the %s should be strict JSON (%s):\n%s", what, err, text);
    FZ_CHECK(doc->type == MMT_JSON_OBJECT, "the %s should be one object", what);
    return doc;
}

static void check_string(const mmt_json *v, const char *what)
{
    FZ_CHECK(v != NULL && v->type == MMT_JSON_STRING && strlen(v->text) == v->text_len,
             "%s should be a string without NUL", what);
}

/* Every category name in an epoch's category_peaks names a registered category. */
static void check_epochs(const mmt_json *epochs)
{
    const mmt_json *top = mmt_json_get(epochs, "top");
    FZ_CHECK(top != NULL && top->type == MMT_JSON_ARRAY, "epochs should have a \"top\" array");
    for (size_t i = 0; i < top->count; i++) {
        const mmt_json *label = mmt_json_get(top->items[i], "label");
        check_string(label, "an epoch label");
        FZ_CHECK(known_name(label->text, label->text_len), "epoch label \"%s\" was never given",
                 label->text);
        const mmt_json *peaks = mmt_json_get(top->items[i], "category_peaks");
        FZ_CHECK(peaks != NULL && peaks->type == MMT_JSON_OBJECT, "category_peaks should be an object");
        for (size_t k = 0; k < peaks->count; k++)
            FZ_CHECK(known_category(peaks->items[k]->key),
                     "category_peaks key \"%s\" should be a registered category",
                     peaks->items[k]->key);
    }
    const mmt_json *recl = mmt_json_get(epochs, "reclaimed");
    FZ_CHECK(recl != NULL && recl->type == MMT_JSON_ARRAY, "epochs should have a \"reclaimed\" array");
    for (size_t i = 0; i < recl->count; i++) {
        const mmt_json *c = mmt_json_get(recl->items[i], "category");
        check_string(c, "a reclaimed category");
        FZ_CHECK(known_category(c->text),
                 "reclaimed category \"%s\" should be registered", c->text);
    }
}

static void check_context_tree(const mmt_json *ctx, int *count)
{
    (*count)++;
    const mmt_json *name = mmt_json_get(ctx, "name"), *label = mmt_json_get(ctx, "label");
    check_string(name, "a context name");
    check_string(label, "a context label");
    FZ_CHECK(known_name(name->text, name->text_len), "context name \"%s\" was never given",
             name->text);
    FZ_CHECK(known_name(label->text, label->text_len), "label \"%s\" was never given", label->text);
    check_epochs(mmt_json_get(ctx, "epochs"));
    const mmt_json *children = mmt_json_get(ctx, "children");
    FZ_CHECK(children != NULL && children->type == MMT_JSON_ARRAY, "a context should have children");
    for (size_t i = 0; i < children->count; i++) check_context_tree(children->items[i], count);
}

static int subtree_size(int c)
{
    int n = 1;
    for (int i = 0; i < FR_CTX_MAX; i++)
        if (fr_ctxs[i].h != NULL && fr_ctxs[i].parent == c) n += subtree_size(i);
    return n;
}

static void check_json_report(int c)
{
    size_t len = 0;
    char *text = fz_report_string(c >= 0 ? fr_ctxs[c].h : NULL, MM_REPORT_JSON, &len);
    mmt_json *doc = parse_or_die(text, "JSON report");
    uint64_t v = 0;
    FZ_CHECK(mmt_json_uint(mmt_json_get(doc, "schema_version"), &v) && v == MM_REPORT_SCHEMA_VERSION,
             "the report should carry schema_version %d", MM_REPORT_SCHEMA_VERSION);
    const mmt_json *cats = mmt_json_get(doc, "categories");
    FZ_CHECK(cats != NULL && cats->type == MMT_JSON_ARRAY, "the report should list categories");
    for (size_t i = 0; i < cats->count; i++) {
        uint64_t id = 0;
        FZ_CHECK(mmt_json_uint(mmt_json_get(cats->items[i], "id"), &id) &&
                     id < (uint64_t)mm_category_count(),
                 "categories[%zu] should have a registered id", i);
        char name[4 * (MM_NAME_MAX + 1)], group[4 * (MM_NAME_MAX + 1)];
        json_expect(mm_category_name((mm_category)id), name, sizeof name);
        json_expect(mm_category_group((mm_category)id), group, sizeof group);
        FZ_CHECK(mmt_json_string_is(mmt_json_get(cats->items[i], "name"), name),
                 "categories[%zu].name should decode to \"%s\"", i, name);
        FZ_CHECK(mmt_json_string_is(mmt_json_get(cats->items[i], "group"), group),
                 "categories[%zu].group should decode to \"%s\"", i, group);
    }
    const mmt_json *ctxs = mmt_json_get(doc, "contexts");
    FZ_CHECK(ctxs != NULL && ctxs->type == MMT_JSON_ARRAY, "the report should list contexts");
    int count = 0;
    for (size_t i = 0; i < ctxs->count; i++) check_context_tree(ctxs->items[i], &count);
    int want = 0;
    if (c >= 0) {
        want = subtree_size(c);
    } else {
        for (int i = 0; i < FR_CTX_MAX; i++)
            if (fr_ctxs[i].h != NULL && fr_ctxs[i].parent < 0) want += subtree_size(i);
    }
    FZ_CHECK(count == want, "the report should show %d contexts, not %d", want, count);
    mmt_json_free(doc);
    free(text);
}

static void check_text_report(int c)
{
    size_t len = 0;
    char *text = fz_report_string(c >= 0 ? fr_ctxs[c].h : NULL, MM_REPORT_TEXT, &len);
    FZ_CHECK(strlen(text) == len && len > 0, "the text report should be non-empty text");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        FZ_CHECK(ch == '\n' || (ch >= 0x20 && ch != 0x7f),
                 "the text report should show control characters of names as '?', but byte %zu "
                 "is 0x%02x:\n%s",
                 i, ch, text);
    }
    free(text);
}

static void close_log(fr_ctx *m)
{
    if (m->log_file == NULL) return;
    mm_context_set_epoch_log(m->h, NULL, MM_EPOCH_LOG_JSONL);
    FZ_CHECK(fclose(m->log_file) == 0, "the epoch log stream should close");
    m->log_file = NULL;
    for (char *line = m->log; line != NULL && *line != '\0';) {
        char *eol = strchr(line, '\n');
        FZ_CHECK(eol != NULL, "each epoch log line should end with a newline");
        *eol = '\0';
        mmt_json *doc = parse_or_die(line, "epoch log line");
        const mmt_json *label = mmt_json_get(doc, "label");
        check_string(label, "an epoch log label");
        FZ_CHECK(known_name(label->text, label->text_len), "logged label \"%s\" was never given",
                 label->text);
        const mmt_json *peaks = mmt_json_get(doc, "category_peaks");
        FZ_CHECK(peaks != NULL && peaks->type == MMT_JSON_OBJECT, "a log line should have category_peaks");
        for (size_t k = 0; k < peaks->count; k++)
            FZ_CHECK(known_category(peaks->items[k]->key),
                     "logged category \"%s\" should be registered", peaks->items[k]->key);
        mmt_json_free(doc);
        line = eol + 1;
    }
    free(m->log);
    m->log = NULL;
}

/* Forgets the contexts of the subtree of a (and a when self_too) after the
 * library destroyed them, closing their logs first. */
static void forget_subtree(int a, int self_too)
{
    for (int i = 0; i < FR_CTX_MAX; i++)
        if (fr_ctxs[i].h != NULL && fr_ctxs[i].parent == a) forget_subtree(i, 1);
    if (self_too) {
        FZ_CHECK(fr_ctxs[a].log_file == NULL, "the log should be closed before the destroy");
        memset(&fr_ctxs[a], 0, sizeof fr_ctxs[a]);
    }
}

static void close_logs_below(int a, int self_too)
{
    for (int i = 0; i < FR_CTX_MAX; i++)
        if (fr_ctxs[i].h != NULL && fr_ctxs[i].parent == a) close_logs_below(i, 1);
    if (self_too) close_log(&fr_ctxs[a]);
}

/* Frees the blocks recorded in the subtree of a (they go with it). */
static void drop_blocks_below(int a)
{
    for (int b = 0; b < FR_BLK_MAX; b++) {
        if (fr_blks[b] == NULL) continue;
        mm_context *owner = mm_block_context(fr_blks[b]);
        for (int c = 0; c < FR_CTX_MAX; c++) {
            if (fr_ctxs[c].h != owner || owner == NULL) continue;
            int x = c;
            while (x >= 0 && x != a) x = fr_ctxs[x].parent;
            if (x == a) fr_blks[b] = NULL;
        }
    }
}

static int pick_ctx(fz_reader *r)
{
    int c = (int)(fz_u8(r) % (FR_CTX_MAX + 1)) - 1;
    return c >= 0 && fr_ctxs[c].h != NULL ? c : -1;
}

/* ---- the target ---------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int setup;
    if (!setup) {
        fz_install_handlers();
        setup = 1;
    }
    fz_errors_clear();
    memset(fr_ctxs, 0, sizeof fr_ctxs);
    memset(fr_blks, 0, sizeof fr_blks);
    fr_nnames = 0;
    fr_ncats = 0;
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) fr_cats[fr_ncats++] = c;
    int new_cats = 0, reports = 0;

    fz_reader r = {data, size, 0};
    char name[MM_NAME_MAX + 32], group[MM_NAME_MAX + 32];
    while (fz_more(&r)) {
        switch (fz_u8(&r) % 8) {
        case 0: { /* register a category */
            read_name(&r, name, sizeof name);
            read_name(&r, group, sizeof group);
            mm_category found = mm_category_find(name);
            if (found == MM_CAT_INVALID &&
                (new_cats >= FR_NEW_CATS || mm_category_count() >= FR_CAT_BUDGET))
                break;
            FZ_CHECK(fz_err.count == 0, "only refused registrations may raise errors (got %s)",
                     mm_error_kind_name(fz_err.kind));
            mm_category id = mm_category_register(name, group);
            if (id == MM_CAT_INVALID) {
                FZ_CHECK(fz_err.count == 1 && (fz_err.kind == MM_ERR_BAD_ARGUMENT ||
                                               fz_err.kind == MM_ERR_REGISTRY_FULL),
                         "a refused registration should raise one error");
                fz_errors_clear();
                break;
            }
            FZ_CHECK(fz_err.count == 0 && strcmp(mm_category_name(id), name) == 0,
                     "category %d should be called \"%s\"", id, name);
            if (found == MM_CAT_INVALID) new_cats++;
            if (fr_ncats < 16) fr_cats[fr_ncats++] = id;
            break;
        }
        case 1: { /* create a context with an epoch log */
            int parent = pick_ctx(&r);
            read_name(&r, name, sizeof name);
            int c = 0;
            while (c < FR_CTX_MAX && fr_ctxs[c].h != NULL) c++;
            if (c == FR_CTX_MAX) break;
            fr_ctx *m = &fr_ctxs[c];
            m->h = mm_context_create(name, parent >= 0 ? fr_ctxs[parent].h : NULL);
            FZ_CHECK(m->h != NULL, "mm_context_create should succeed");
            m->parent = parent;
            remember_name(name);
            m->log_file = open_memstream(&m->log, &m->log_len);
            FZ_CHECK(m->log_file != NULL, "open_memstream should work");
            mm_context_set_epoch_log(m->h, m->log_file, MM_EPOCH_LOG_JSONL);
            break;
        }
        case 2: case 3: { /* allocate */
            int c = pick_ctx(&r);
            mm_category cat = fr_cats[fz_u8(&r) % fr_ncats];
            size_t bytes = (size_t)fz_u8(&r) * 37;
            int b = fz_u8(&r) % FR_BLK_MAX;
            if (fr_blks[b] != NULL) {
                mm_free(fr_blks[b]);
                fr_blks[b] = NULL;
            }
            fr_blks[b] = c >= 0 ? mm_context_malloc(fr_ctxs[c].h, bytes, cat) : mm_malloc(bytes, cat);
            FZ_CHECK(fr_blks[b] != NULL, "an allocation of %zu bytes should succeed", bytes);
            break;
        }
        case 4: { /* label */
            int c = pick_ctx(&r);
            read_name(&r, name, sizeof name);
            if (c < 0) break;
            mm_context_set_label(fr_ctxs[c].h, name);
            remember_name(name);
            break;
        }
        case 5: { /* reset: an epoch closes with its label; children go */
            int c = pick_ctx(&r);
            if (c < 0) break;
            close_logs_below(c, 0);
            drop_blocks_below(c);
            mm_context_reset(fr_ctxs[c].h);
            forget_subtree(c, 0);
            break;
        }
        case 6: { /* destroy */
            int c = pick_ctx(&r);
            if (c < 0) break;
            close_logs_below(c, 1);
            drop_blocks_below(c);
            mm_context_destroy(fr_ctxs[c].h);
            forget_subtree(c, 1);
            break;
        }
        default: /* a report now (a few per input: reports are the slow part) */
            if (reports++ < 3) check_json_report(pick_ctx(&r));
            break;
        }
    }
    FZ_CHECK(fz_err.count == 0, "only refused registrations may raise errors (got %s)",
             mm_error_kind_name(fz_err.kind));

    check_json_report(-1);
    check_text_report(-1);
    for (int c = 0; c < FR_CTX_MAX; c++) {
        if (fr_ctxs[c].h == NULL) continue;
        check_json_report(c);
        check_text_report(c);
    }
    for (int b = 0; b < FR_BLK_MAX; b++)
        if (fr_blks[b] != NULL && mm_block_context(fr_blks[b]) == NULL) mm_free(fr_blks[b]);
    for (int c = 0; c < FR_CTX_MAX; c++) {
        if (fr_ctxs[c].h == NULL || fr_ctxs[c].parent >= 0) continue;
        close_logs_below(c, 1);
        mm_context_destroy(fr_ctxs[c].h);
        forget_subtree(c, 1);
    }
    mm_stats s = mm_stats_total(NULL);
    FZ_CHECK(s.bytes == 0 && s.blocks == 0 && fz_err.count == 0,
             "the clean-up should leave nothing live (%zu bytes, %zu blocks)", s.bytes, s.blocks);
    return 0;
}
