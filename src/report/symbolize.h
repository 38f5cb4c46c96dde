/* Layer 6, reports: turning the legacy entry points' site names
 * ("module+0xOFFSET", diag/site.c) into file:line and function at report
 * time, by running addr2line (atos on macOS) once per module per report,
 * with the answers cached. Never on an allocation path, never under a lock
 * of ours. Why and when: docs/migrating-from-util-memory.md, "Allocation
 * sites with one flag"; docs/design.md, "Sites". */
#ifndef MMI_SYMBOLIZE_H
#define MMI_SYMBOLIZE_H

#include "../diag/diag.h"

#define MMI_SYM_FILE_MAX 256 /* bytes of a resolved source path (longer: cut from the left) */
#define MMI_SYM_FUNC_MAX 96  /* bytes of a function name (longer: cut) */

/* What a report prints for one site. */
typedef struct {
    const char *module;               /* the calling module's path; NULL: not a caller site */
    uintptr_t offset;                 /* what addr2line takes with -e module */
    int line;                         /* > 0: resolved to file:line */
    char file[MMI_SYM_FILE_MAX];      /* the source file when resolved */
    char function[MMI_SYM_FUNC_MAX];  /* the function when known, else "" */
} mmi_sym;

/* MIMICMEM_SITE_RESOLVE: 0 auto (resolve when the tool runs), 1 off. */
extern _Atomic int mmi_site_resolve;

/* Fills syms[i] for sites[i], i < n. Caller sites are looked up in the
 * cache; with spawn, those not in it are resolved by one run of the tool per
 * module (a child process, started with posix_spawn: no shell, no fork,
 * 10 s at most), and the answers, found or not, are cached. A site whose
 * answer is unknown keeps line 0 (the report prints its name). Call with no
 * lock of ours held; any thread. */
void mmi_symbolize(const mm_site_stats *sites, size_t n, mmi_sym *syms, bool spawn);
/* True when some of sites[0..n) is named by return address (a caller site). */
bool mmi_symbolize_any(const mm_site_stats *sites, size_t n);

#endif /* MMI_SYMBOLIZE_H */
