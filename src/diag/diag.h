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
 * (a full table gives the "(other sites)" record of cat). */
mmi_site *mmi_site_get(const char *file, int line, int cat);
void mmi_site_alloc(mmi_site *s, size_t bytes);
void mmi_site_free(mmi_site *s, size_t bytes);
void mmi_site_resize(mmi_site *s, size_t old_bytes, size_t new_bytes);
/* The record of s's file and line in category cat (a realloc_cat moving
 * the block): an overflow record gives the overflow record of cat. */
mmi_site *mmi_site_recat(const mmi_site *s, int cat);
void mmi_site_where(const mmi_site *s, const char **file, int *line);
/* The site name of a return address, for the legacy entry points, whose names
 * a host may redeclare and so can never be macros that pass __FILE__ and
 * __LINE__: "module+0xOFFSET" (addr2line -e module 0xOFFSET gives file:line),
 * interned, so the same call site gives the same pointer. NULL (the unknown
 * site) when site recording is off or pc is NULL. In a library built with
 * MM_WITH_SITES the first call switches recording on, unless MIMICMEM_SITES
 * is set. Lock-free once a pc is known. */
const char *mmi_site_caller(const void *pc);
/* For a name mmi_site_caller returned: the full path of the module that made
 * the call (the name has only its basename) and the OFFSET addr2line takes;
 * false for any other name (a __FILE__, "(other sites)") and when the path
 * was not kept (unknown, longer than 1023 bytes, or more than 16 modules).
 * For the report layer's symbolizer (report/symbolize.c); any thread. */
bool mmi_site_caller_where(const char *name, const char **module, uintptr_t *offset);
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

void mmi_peak_process(const mm_context *where, int out_cat, size_t out_bytes, int in_cat,
                      size_t in_bytes);
void mmi_peak_context(mm_context *p, int out_cat, size_t out_bytes, int in_cat,
                      size_t in_bytes);
/* The composition of ctx's peak (the recorded one, or the state now during
 * a rise); the caller holds the registry lock. cat[0..ncat-1] (may be NULL)
 * gets its categories. Returns 0 when there is none. */
int mmi_peak_context_view(const mm_context *ctx, mm_peak_info *out, size_t *cat, int ncat);
/* Called by ctx's owner (others: no effect) before reading its composition:
 * a rise no decrease has ended yet is recorded as a turn would record it. */
void mmi_peak_context_settle(const mm_context *ctx);
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
