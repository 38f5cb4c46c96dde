/* Trace record: every allocation, reallocation, free and context reset
 * written in the Mimic trace format, so a run can be replayed
 * (mimicmem-replay) or compared with the traces recorded from Mimic. Lines
 * are built on the caller's stack and appended to one 64 KiB buffer under
 * trace_lock; the buffer goes to the file unbuffered by stdio, so a write
 * error is seen at once and closes the trace with one warning. A child
 * process after fork never writes into its parent's trace: it drops the
 * parent's pending lines and either stops tracing or, when the file name
 * has %p, starts a trace of its own. */
#include "diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_BUF_BYTES ((size_t)64 * 1024)

static mmi_lock trace_lock = MMI_LOCK_INIT(MMI_RANK_TRACE, "trace");
static struct {
    FILE *file;                  /* open trace, or NULL */
    char path[4096];             /* its path (after %p and %r expansion); "" when none */
    char pattern[4096];          /* the path as given (%p, %r unexpanded) */
    char buf[TRACE_BUF_BYTES];   /* lines not yet written */
    size_t len;                  /* bytes in buf */
    uint64_t next_id;            /* last block id handed out (ids start at 1) */
    uint64_t first_id;           /* first id of the open trace: blocks with a smaller id
                                    belong to an earlier trace and are not in this one */
    uint64_t forests;            /* F lines written */
    bool atexit_set;             /* the exit flush is registered */
    char warning[4200];          /* a write error to log once the lock is released */
} trace_st;                      /* under trace_lock */

/* Logs the pending write-error warning; called after trace_lock is released
 * (a log hook may call back into the library). */
static void trace_unlock(void) {
    if (MMI_LIKELY(trace_st.warning[0] == '\0')) {
        mmi_lock_drop(&trace_lock);
        return;
    }
    char msg[sizeof trace_st.warning];
    memcpy(msg, trace_st.warning, sizeof msg);
    trace_st.warning[0] = '\0';
    mmi_lock_drop(&trace_lock);
    mmi_log(MM_LOG_WARNING, "%s", msg);
}

/* Closes the trace; the caller holds trace_lock. */
static void trace_close_locked(void) {
    mmi_diag_set(MMI_DIAG_TRACE, false);
    if (trace_st.file) fclose(trace_st.file);
    trace_st.file = NULL;
    trace_st.len = 0;
    trace_st.path[0] = '\0';
}

/* Writes the buffer; on error closes the trace and warns once. */
static bool trace_flush_locked(void) {
    if (trace_st.file == NULL) return false;
    if (trace_st.len == 0) return true;
    size_t n = fwrite(trace_st.buf, 1, trace_st.len, trace_st.file);
    if (n == trace_st.len && fflush(trace_st.file) == 0) {
        trace_st.len = 0;
        return true;
    }
    snprintf(trace_st.warning, sizeof trace_st.warning,
             "writing the trace \"%s\" failed (%s); tracing is off", trace_st.path,
             strerror(errno));
    trace_close_locked();
    return false;
}

static void trace_append_locked(const char *line, size_t n) {
    if (trace_st.file == NULL) return;
    if (trace_st.len + n > sizeof trace_st.buf && !trace_flush_locked()) return;
    memcpy(trace_st.buf + trace_st.len, line, n);
    trace_st.len += n;
}

/* Category name with spaces and control characters as '_' (one token). */
static void trace_cat(char *out, int cat) {
    const char *name = mmi_cat_name(cat);
    size_t i = 0;
    for (; i < MM_NAME_MAX && name[i]; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f)
            out[i] = '_';
        else
            out[i] = name[i];
    }
    out[i] = '\0';
}

/* Writes v in decimal at p; returns the end. */
static char *trace_u64(char *p, uint64_t v) {
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

/* One trace line, "op a\n" or "op a b name\n" (name non-NULL), in line
 * (at least MM_NAME_MAX + 48 bytes); returns its length. snprintf costs more
 * than the rest of a traced allocation. */
static size_t trace_line(char *line, char op, uint64_t a, uint64_t b, const char *name) {
    char *p = line;
    *p++ = op;
    *p++ = ' ';
    p = trace_u64(p, a);
    if (name) {
        *p++ = ' ';
        p = trace_u64(p, b);
        *p++ = ' ';
        while (*name) *p++ = *name++; /* a category name: at most MM_NAME_MAX bytes */
    }
    *p++ = '\n';
    return (size_t)(p - line);
}

uint64_t mmi_trace_alloc(size_t size, int cat) {
    char name[MM_NAME_MAX + 1];
    trace_cat(name, cat);
    mmi_lock_take(&trace_lock);
    uint64_t id = 0;
    if (trace_st.file) {
        char line[MM_NAME_MAX + 64];
        id = ++trace_st.next_id;
        trace_append_locked(line, trace_line(line, 'A', id, size, name));
    }
    trace_unlock();
    return id;
}

void mmi_trace_realloc(uint64_t id, size_t size, int cat) {
    char name[MM_NAME_MAX + 1], line[MM_NAME_MAX + 64];
    trace_cat(name, cat);
    size_t n = trace_line(line, 'R', id, size, name);
    mmi_lock_take(&trace_lock);
    if (id >= trace_st.first_id) trace_append_locked(line, n);
    trace_unlock();
}

void mmi_trace_free(uint64_t id) {
    char line[32];
    size_t n = trace_line(line, 'D', id, 0, NULL);
    mmi_lock_take(&trace_lock);
    if (id >= trace_st.first_id) trace_append_locked(line, n);
    trace_unlock();
}

void mmi_trace_forest(void) {
    mmi_lock_take(&trace_lock);
    if (trace_st.file) {
        char line[32];
        trace_append_locked(line, trace_line(line, 'F', trace_st.forests++, 0, NULL));
    }
    trace_unlock();
}


static void trace_at_exit(void) {
    mm_trace_stop();
}

int mm_trace_start(const char *path) {
    mmi_first_use();
    if (path == NULL || path[0] == '\0') {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_trace_start: the path is NULL or empty");
        return -1;
    }
    char full[sizeof trace_st.path];
    if (!mmi_expand_path(path, full, sizeof full)) {
        mmi_log(MM_LOG_WARNING, "trace path \"%s\" is too long; tracing is off", path);
        return -1;
    }
    mm_trace_stop();
    FILE *f = fopen(full, "w");
    if (f == NULL) {
        mmi_log(MM_LOG_WARNING, "cannot open the trace \"%s\" (%s); tracing is off", full,
                strerror(errno));
        return -1;
    }
    setvbuf(f, NULL, _IONBF, 0); /* trace_st.buf is the buffer: errors show at once */
    mmi_lock_take(&trace_lock);
    trace_st.file = f;
    memcpy(trace_st.path, full, sizeof full);
    snprintf(trace_st.pattern, sizeof trace_st.pattern, "%s", path);
    trace_st.len = 0;
    trace_st.forests = 0;
    trace_st.first_id = trace_st.next_id + 1;
    char head[128];
    int n = snprintf(head, sizeof head,
                     "# mimic allocation trace v1\n# written by mimicmem %s, process %ld\n",
                     MM_VERSION_STRING, mmi_getpid());
    trace_append_locked(head, (size_t)n);
    bool reg = !trace_st.atexit_set;
    trace_st.atexit_set = true;
    mmi_diag_set(MMI_DIAG_TRACE, true);
    mmi_lock_drop(&trace_lock);
    if (reg) atexit(trace_at_exit);
    return 0;
}

void mm_trace_stop(void) {
    mmi_lock_take(&trace_lock);
    if (trace_st.file) {
        mmi_diag_set(MMI_DIAG_TRACE, false);
        if (trace_flush_locked()) trace_close_locked();
    }
    trace_unlock();
}

void mmi_trace_fork_child(void) {
    /* the locks are free again (platform.c); no other thread exists here */
    if (trace_st.file == NULL) return;
    trace_st.len = 0; /* the parent writes its own pending lines */
    fclose(trace_st.file); /* unbuffered: nothing is written by closing */
    trace_st.file = NULL;
    trace_st.path[0] = '\0';
    mmi_diag_set(MMI_DIAG_TRACE, false);
    if (strstr(trace_st.pattern, "%p") != NULL) {
        char pattern[sizeof trace_st.pattern];
        memcpy(pattern, trace_st.pattern, sizeof pattern);
        mm_trace_start(pattern); /* a file of the child's own, by its process id */
    }
}

/* The open trace's path into buf ("" when none). */
void mmi_trace_path(char *buf, size_t len) {
    mmi_lock_take(&trace_lock);
    snprintf(buf, len, "%s", trace_st.path);
    mmi_lock_drop(&trace_lock);
}
