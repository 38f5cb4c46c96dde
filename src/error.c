/* The single error path and the log hook. Every failure in the library fills an
 * mm_error and calls the handler; the default handler prints and aborts. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static mm_error_fn err_fn; /* NULL: default handler; under err_lock */
static void *err_user;     /* under err_lock */
static mm_log_fn log_fn;   /* NULL: default printer; under err_lock */
static void *log_user;     /* under err_lock */

void mm_set_error_handler(mm_error_fn fn, void *user) {
    pthread_mutex_lock(&err_lock);
    err_fn = fn;
    err_user = fn ? user : NULL;
    pthread_mutex_unlock(&err_lock);
}

void mm_set_log_handler(mm_log_fn fn, void *user) {
    pthread_mutex_lock(&err_lock);
    log_fn = fn;
    log_user = fn ? user : NULL;
    pthread_mutex_unlock(&err_lock);
}

const char *mm_error_kind_name(mm_error_kind kind) {
    switch (kind) {
    case MM_ERR_NONE:
        return "no error";
    case MM_ERR_OUT_OF_MEMORY:
        return "out of memory";
    case MM_ERR_SIZE_OVERFLOW:
        return "size overflow";
    case MM_ERR_BAD_CATEGORY:
        return "unknown category";
    case MM_ERR_BAD_POINTER:
        return "bad pointer";
    case MM_ERR_DOUBLE_FREE:
        return "double free";
    case MM_ERR_BAD_CONTEXT:
        return "bad context";
    case MM_ERR_REGISTRY_FULL:
        return "category registry full";
    case MM_ERR_BAD_ARGUMENT:
        return "bad argument";
    case MM_ERR_OVERRUN:
        return "buffer overrun";
    case MM_ERR_LIMIT:
        return "memory limit exceeded";
    case MM_ERR_WRITE_AFTER_FREE:
        return "write after free";
    }
    return "unknown error";
}

static void err_dispatch(const mm_error *e) {
    pthread_mutex_lock(&err_lock);
    mm_error_fn fn = err_fn;
    void *user = err_user;
    pthread_mutex_unlock(&err_lock);
    if (fn) {
        fn(e, user);
        return;
    }
    fputs(e->message, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

void mmi_error(mm_error_kind kind, size_t size, int cat, const void *ptr, const mm_context *ctx,
               const char *fmt, ...) {
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "mimicmem: %s: ", mm_error_kind_name(kind));
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof msg) vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    mm_error e = {kind, msg, size, cat, ptr, ctx};
    err_dispatch(&e);
}

/* " in context \"X\"" or "" */
static void ctx_phrase(const mm_context *ctx, char *buf, size_t len) {
    buf[0] = '\0';
    if (mmi_ctx_alive(ctx)) {
        if (ctx->label[0])
            snprintf(buf, len, " in context \"%s\" (epoch \"%s\")", ctx->name, ctx->label);
        else
            snprintf(buf, len, " in context \"%s\"", ctx->name);
    }
}

void mmi_error_oom(size_t size, int cat, const mm_context *ctx, const char *fn) {
    char sz[32], live[32], peak[32], where[160], largest[256] = "";
    mm_format_bytes(size, sz, sizeof sz);
    ctx_phrase(ctx, where, sizeof where);
    mm_stats tot = mmi_process_stats(-1);
    mm_format_bytes(tot.bytes, live, sizeof live);
    mm_format_bytes(tot.peak_bytes, peak, sizeof peak);
    /* the three largest categories by live bytes */
    int top[3] = {-1, -1, -1};
    size_t topb[3] = {0, 0, 0};
    int ncat = atomic_load(&mmi_ncat);
    for (int c = 0; c < ncat; c++) {
        size_t b = mmi_process_stats(c).bytes;
        for (int k = 0; k < 3; k++) {
            if (b > topb[k]) {
                for (int j = 2; j > k; j--) {
                    top[j] = top[j - 1];
                    topb[j] = topb[j - 1];
                }
                top[k] = c;
                topb[k] = b;
                break;
            }
        }
    }
    size_t used = 0;
    for (int k = 0; k < 3 && top[k] >= 0; k++) {
        char b[32];
        mm_format_bytes(topb[k], b, sizeof b);
        int w = snprintf(largest + used, sizeof largest - used, "%s%s %s",
                         k ? ", " : "; largest: ", mmi_cat_name(top[k]), b);
        if (w < 0 || (size_t)w >= sizeof largest - used) break;
        used += (size_t)w;
    }
    mmi_error(MM_ERR_OUT_OF_MEMORY, size, cat, NULL, ctx,
              "%s (%zu bytes) for category \"%s\"%s in %s\n"
              "mimicmem:   live %s, peak %s%s",
              sz, size, mmi_cat_name(cat), where, fn, live, peak, largest);
}

void mmi_error_long(mm_error_kind kind, size_t size, int cat, const void *ptr,
                    const mm_context *ctx, const char *head, const char *body) {
    size_t nh = strlen(head), nb = strlen(body);
    char *msg = mmi_sys_malloc(nh + nb + 2, MMI_SYS_EXEMPT, NULL);
    if (msg == NULL) { /* the head alone still says what happened */
        mm_error e = {kind, head, size, cat, ptr, ctx};
        err_dispatch(&e);
        return;
    }
    memcpy(msg, head, nh);
    msg[nh] = '\n';
    memcpy(msg + nh + 1, body, nb + 1);
    while (nh + nb > 0 && msg[nh + nb] == '\n') msg[nh + nb--] = '\0'; /* no trailing newline */
    mm_error e = {kind, msg, size, cat, ptr, ctx};
    err_dispatch(&e);
    mmi_sys_free(msg);
}

void mmi_error_bad_category(int cat, size_t size, const mm_context *ctx, const char *fn) {
    mmi_error(MM_ERR_BAD_CATEGORY, size, cat, NULL, ctx,
              "%d passed to %s (registered ids are 0..%d; register a category with "
              "mm_category_register first)",
              cat, fn, atomic_load(&mmi_ncat) - 1);
}

void mmi_error_pointer(const void *p, mmi_hdr_state st, const char *why, const char *fn) {
    if (st == MMI_HDR_FREED || st == MMI_HDR_POISONED || (st == MMI_HDR_LIVE && why)) {
        const mmi_header *h = mmi_hdr_of(p);
        int cat = mmi_hdr_cat(h);
        /* the sealed header is intact, so its chunk distance can be followed */
        const mm_context *ctx = NULL;
        char where[MM_NAME_MAX + 32] = "";
        if (h->info & MMI_HF_CONTEXT) {
            const mmi_chunk *ch =
                (const mmi_chunk *)((uintptr_t)h - ((uintptr_t)(h->info >> MMI_DIST_SHIFT) << 4));
            if (ch->magic == mmi_chunk_magic(ch) && mmi_ctx_alive(ch->ctx)) {
                ctx = ch->ctx;
                snprintf(where, sizeof where, " of context \"%s\"", ctx->name);
            }
        }
        mmi_error(MM_ERR_DOUBLE_FREE, mmi_hdr_size(h), cat, p, ctx,
                  "%p passed to %s: block of %zu bytes in category \"%s\"%s was already %s", p, fn,
                  mmi_hdr_size(h), mmi_cat_name(cat), where, why ? why : "freed");
        return;
    }
    mmi_error(MM_ERR_BAD_POINTER, 0, MM_CAT_INVALID, p, NULL,
              "%p passed to %s is not a live mimicmem block (damaged header, a pointer "
              "mimicmem never returned, or a block freed earlier whose memory was reused)%s%s",
              p, fn, why ? ": " : "", why ? why : "");
}

void mmi_log(mm_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&err_lock);
    mm_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&err_lock);
    if (fn) {
        fn(level, msg, user);
        return;
    }
    FILE *out = level >= MM_LOG_WARNING ? stderr : stdout;
    const char *prefix = level == MM_LOG_ERROR     ? "mimicmem: error: "
                         : level == MM_LOG_WARNING ? "mimicmem: warning: "
                                                   : "";
    fprintf(out, "%s%s\n", prefix, msg);
    fflush(out);
}
