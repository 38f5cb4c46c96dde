/* The error and log dispatch: every failure of the library fills an
 * mm_error and reaches the handler set by mm_set_error_handler (default:
 * print, flush every stream, abort); informational lines reach the log
 * handler. Handlers are read under err_lock and called after it is
 * released: no handler ever runs under a lock of ours. */
#include "platform.h"

#include <stdlib.h>
#include <string.h>

static mmi_lock err_lock = MMI_LOCK_INIT(MMI_RANK_HANDLERS, "handlers");
static mm_error_fn err_fn; /* NULL: the default handler; under err_lock */
static void *err_user;     /* under err_lock */
static mm_log_fn log_fn;   /* NULL: the default printer; under err_lock */
static void *log_user;     /* under err_lock */

_Thread_local int mmi_fatal_status MMI_TLS_MODEL;

mm_error_handler mm_set_error_handler(mm_error_fn fn, void *user) {
    mmi_lock_take(&err_lock);
    mm_error_handler old = {err_fn, err_user};
    err_fn = fn;
    err_user = fn ? user : NULL;
    mmi_lock_drop(&err_lock);
    return old;
}

mm_log_handler mm_set_log_handler(mm_log_fn fn, void *user) {
    mmi_lock_take(&err_lock);
    mm_log_handler old = {log_fn, log_user};
    log_fn = fn;
    log_user = fn ? user : NULL;
    mmi_lock_drop(&err_lock);
    return old;
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

/* The default handler: the message on stderr, every stdio stream flushed (a
 * host whose stdout goes to a file keeps its last lines), then abort, or
 * exit with the status legacy.c asked for (Mimic's own fatal path). */
static void err_default(const mm_error *e) {
    fputs(e->message, stderr);
    fputc('\n', stderr);
    fflush(NULL);
    if (mmi_fatal_status != 0) exit(mmi_fatal_status);
    abort();
}

static void err_dispatch(const mm_error *e) {
    MMI_ASSERT(mmi_locks_held() == 0); /* no handler under a lock of ours */
    mmi_lock_take(&err_lock);
    mm_error_fn fn = err_fn;
    void *user = err_user;
    mmi_lock_drop(&err_lock);
    if (fn)
        fn(e, user);
    else
        err_default(e);
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

void mmi_log(mm_log_level level, const char *fmt, ...) {
    MMI_ASSERT(mmi_locks_held() == 0); /* no log hook under a lock of ours */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mmi_lock_take(&err_lock);
    mm_log_fn fn = log_fn;
    void *user = log_user;
    mmi_lock_drop(&err_lock);
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
