/* trace: loads a Mimic allocation trace (text, plain or gzip) into memory.
 *
 * Format (see bench/README.md): "F <forest>", "A <id> <size> <category>",
 * "R <id> <new_size> <category>", "D <id>"; lines starting with '#' and blank
 * lines are skipped. Block ids are renumbered densely (0 .. nblocks-1, in
 * allocation order) so a replay can keep its pointers in a plain array.
 * Category names become mimicmem category ids: the six built-ins by name,
 * any other name registered with mm_category_register(name, "Trace"). */
#ifndef MM_BENCH_TRACE_H
#define MM_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "mimicmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* trace_op.flags: the block is forest-local, i.e. allocated after a forest's
 * F line and freed before the next F line (or the end of the trace). Set on
 * the block's A and D operations. */
#define TRACE_FOREST_LOCAL 0x1u

typedef struct {
    uint64_t size;     /* bytes requested (A, R); 0 for F and D */
    uint32_t block;    /* dense block number (A, R, D); forest index (F) */
    int16_t category;  /* mimicmem category id (A, R); 0 for F and D */
    char op;           /* 'F', 'A', 'R' or 'D' */
    uint8_t flags;     /* TRACE_FOREST_LOCAL or 0 */
} trace_op;

typedef struct {
    trace_op *ops;          /* nops operations, in file order */
    size_t nops;            /* operations, F lines included */
    size_t nblocks;         /* distinct blocks (A lines) */
    size_t nallocs;         /* A lines */
    size_t nreallocs;       /* R lines */
    size_t nfrees;          /* D lines */
    size_t nforests;        /* F lines */
    size_t nlocal;          /* forest-local blocks (see TRACE_FOREST_LOCAL) */
    size_t max_live_blocks; /* high-water mark of live blocks */
    uint64_t peak_bytes;    /* high-water mark of live requested bytes */
    size_t live_at_end;     /* blocks still live after the last line */
} trace;

/* Loads the trace at path into *out (zeroed first). gzip is detected by
 * zlib, so plain text works too. On error returns -1, writes
 * "path:line: what" into err (errlen bytes, may be 0) and leaves *out empty.
 * Errors: unreadable file, a line over 255 bytes, an unknown op, a truncated
 * line (missing field), a bad number, an A of a live id, an R or D of an id
 * that is not live, a category that cannot be registered. Returns 0. */
int trace_load(const char *path, trace *out, char *err, size_t errlen);

/* Frees what trace_load allocated and zeroes *t. NULL is a no-op. */
void trace_free(trace *t);

#ifdef __cplusplus
}
#endif

#endif /* MM_BENCH_TRACE_H */
