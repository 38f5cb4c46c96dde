/* Layer 5, diagnostics: allocation sites (site.c), the trace record
 * (trace.c), peak composition (peak.c), byte limits (limit.c), fault
 * injection's public side (fault.c), and the checking modes with the
 * decorated allocation paths that tie them together (check.c). The layers
 * below reach these only through mmi_hooks (src/hooks.c). */
#ifndef MMI_DIAG_H
#define MMI_DIAG_H

#include "../alloc/alloc.h"

/* ======================================================================
 * Sites (site.c)
 * ==================================================================== */

typedef struct mmi_site mmi_site;
/* The record of (file, line, cat); file NULL: the unknown site. Never NULL
 * (a full table gives the "(other sites)" record). */
mmi_site *mmi_site_get(const char *file, int line, int cat);
void mmi_site_alloc(mmi_site *s, size_t bytes);
void mmi_site_free(mmi_site *s, size_t bytes);
void mmi_site_resize(mmi_site *s, size_t old_bytes, size_t new_bytes);
void mmi_site_where(const mmi_site *s, const char **file, int *line);
/* The site name of a return address, for the legacy entry points, whose names
 * a host may redeclare and so can never be macros that pass __FILE__ and
 * __LINE__: "module+0xOFFSET" (addr2line -e module 0xOFFSET gives file:line),
 * interned, so the same call site gives the same pointer. NULL (the unknown
 * site) when site recording is off or pc is NULL. In a library built with
 * MM_WITH_SITES the first call switches recording on, unless MIMICMEM_SITES
 * is set. Lock-free once a pc is known. */
const char *mmi_site_caller(const void *pc);
#if defined(__GNUC__) || defined(__clang__)
#define MMI_CALLER() mmi_site_caller(__builtin_return_address(0))
#else
#define MMI_CALLER() ((const char *)NULL)
#endif

/* ======================================================================
 * Trace (trace.c): lines of the open trace (no-ops when none is open)
 * ==================================================================== */

uint64_t mmi_trace_alloc(size_t size, int cat); /* writes A; returns the id (0: none open) */
void mmi_trace_realloc(uint64_t id, size_t size, int cat);
void mmi_trace_free(uint64_t id);
void mmi_trace_forest(void); /* writes F with the next forest number */
void mmi_trace_fork_child(void); /* in a child after fork */
void mmi_trace_path(char *buf, size_t len); /* the open trace's path ("" none) */

/* ======================================================================
 * Peak composition (peak.c)
 * ==================================================================== */

void mmi_peak_process(const mm_context *ctx);
void mmi_peak_context(mm_context *p, const mm_context *where);
/* Copies the process record (and, when cat is not NULL, its bytes of
 * categories 0..ncat-1); returns whether one exists. */
int mmi_peak_copy(mm_peak_info *out, size_t *cat, int ncat);

/* ======================================================================
 * Limits (limit.c)
 * ==================================================================== */

/* false after an MM_ERR_LIMIT error. A call on a block of size bytes in ctx
 * (NULL: process-wide) adds grow_cat bytes to category cat and grow_total
 * to the total. */
bool mmi_limit_check(mm_context *ctx, int cat, size_t grow_cat, size_t grow_total, size_t size,
                     const char *fn);
unsigned mmi_limit_warn_get(void); /* the soft threshold, percent */

/* ======================================================================
 * Checking modes and the decorated paths (check.c)
 * ==================================================================== */

extern _Atomic int mmi_fill; /* mm_fill */

void *mmi_diag_alloc(mm_context *ctx, size_t size, int cat, bool zero, const char *fn,
                     const char *file, int line);
void *mmi_diag_realloc(mmi_header *h, size_t size, int cat, const char *fn, const char *file,
                       int line);
void mmi_diag_free(mmi_header *h, const char *fn);
void mmi_diag_release(mm_context *ctx, const char *fn);

#endif /* MMI_DIAG_H */
