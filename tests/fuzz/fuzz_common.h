/* Shared pieces of the libFuzzer targets: a byte reader over the input, a
 * recording error handler (errors are expected from hostile inputs; the
 * default handler would abort, which libFuzzer reports as a crash), report
 * capture into a string, the scratch file of the targets that need a file,
 * and the check macro that turns a broken expectation into a crash with a
 * message. Test code only; it uses the system malloc. Needs POSIX 2008: each
 * target defines _POSIX_C_SOURCE before its first include. */
#ifndef MM_FUZZ_COMMON_H
#define MM_FUZZ_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mimicmem.h"

/* ---- failing -------------------------------------------------------------- */

/* Prints what was expected and aborts, so libFuzzer saves the input. */
static void fz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static void fz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: fuzz check failed: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#define FZ_CHECK(cond, ...)                                  \
    do {                                                     \
        if (!(cond)) fz_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* ---- input reader ------------------------------------------------------- */

typedef struct {
    const uint8_t *data; /* the fuzzer's input */
    size_t size;         /* bytes in data */
    size_t pos;          /* next byte to read */
} fz_reader;

static inline int fz_more(const fz_reader *r) { return r->pos < r->size; }

/* Next byte, or 0 once the input is used up. */
static inline uint8_t fz_u8(fz_reader *r) { return r->pos < r->size ? r->data[r->pos++] : 0; }

static inline uint16_t fz_u16(fz_reader *r)
{
    uint16_t lo = fz_u8(r);
    return (uint16_t)(lo | (uint16_t)fz_u8(r) << 8);
}

/* ---- recording error handler -------------------------------------------- */

typedef struct {
    int count;            /* handler calls since the last fz_errors_clear */
    mm_error_kind kind;   /* kind of the last error */
    int message_ok;       /* the last message was a non-empty string */
} fz_errors;

static fz_errors fz_err;

static void fz_error_handler(const mm_error *e, void *user)
{
    (void)user;
    fz_err.count++;
    fz_err.kind = e->kind;
    fz_err.message_ok = e->message != NULL && e->message[0] != '\0';
}

static void fz_log_handler(mm_log_level level, const char *message, void *user)
{
    (void)level;
    (void)message;
    (void)user;
}

static inline void fz_install_handlers(void)
{
    mm_set_error_handler(fz_error_handler, NULL);
    mm_set_log_handler(fz_log_handler, NULL);
}

static inline void fz_errors_clear(void) { memset(&fz_err, 0, sizeof fz_err); }

/* ---- report capture ------------------------------------------------------ */

/* The report of ctx in fmt as a NUL-terminated string from the system malloc
 * (the caller frees it); *len gets its length. */
static inline char *fz_report_string(const mm_context *ctx, mm_report_format fmt, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    FZ_CHECK(f != NULL, "open_memstream() should give a stream for the report");
    mm_report(f, ctx, fmt);
    FZ_CHECK(fclose(f) == 0 && text != NULL, "the report stream should close");
    *len = n;
    return text;
}

/* ---- scratch file ------------------------------------------------------- */

#define FZ_SCRATCH_MAX 64 /* bytes of a scratch file's path, NUL included */

/* This process's scratch file path: "" until fz_scratch_file makes it. */
static inline char *fz_scratch_buffer(void)
{
    static char path[FZ_SCRATCH_MAX];
    return path;
}

static inline void fz_scratch_remove(void)
{
    if (fz_scratch_buffer()[0] != '\0') unlink(fz_scratch_buffer());
}

/* For targets whose code under test reads files: makes one empty scratch
 * file per process, mm-fuzz-TAG-XXXXXX under /dev/shm when it is writable
 * (else /tmp), removed at exit, and returns its path; later calls return the
 * same path. The first call installs the recording handlers, so that the
 * setup is covered too. */
static inline const char *fz_scratch_file(const char *tag)
{
    char *path = fz_scratch_buffer();
    if (path[0] != '\0') return path;
    fz_install_handlers();
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, FZ_SCRATCH_MAX, "%s/mm-fuzz-%s-XXXXXX", dir, tag);
    int fd = mkstemp(path);
    FZ_CHECK(fd >= 0, "mkstemp(%s) should make a scratch file", path);
    close(fd);
    atexit(fz_scratch_remove);
    return path;
}

#endif /* MM_FUZZ_COMMON_H */
