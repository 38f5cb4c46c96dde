/* mimicmem compatibility header: Mimic's memory API (src/util/memory.h), with
 * the same names, types and meanings, implemented by src/legacy.c on top of
 * mimicmem. A host swaps its memory.c/memory.h for mimicmem and keeps its
 * call sites and its `#include "memory.h"`.
 *
 * Where it lives: in a folder of its own (compat/ in the source tree and in
 * the two-file distribution, include/mimicmem/compat/ when installed), so a
 * host adds that folder to its include path on purpose and the system's
 * <memory.h> is never shadowed by accident. For Mimic itself,
 * tools/amalgamate.sh --mimic puts this text after mimicmem.h's in one
 * memory.h that replaces src/util/memory.h in place (with memory.c beside
 * it). See docs/migrating-from-util-memory.md for the swap, step by step. */
#ifndef MIMICMEM_COMPAT_MEMORY_H
#define MIMICMEM_COMPAT_MEMORY_H

/* In the source tree and once installed, mimicmem.h is found on the include
 * path (include/, or the <includedir> that pkg-config and the CMake target
 * give). The copy in the two-file distribution names "../mimicmem.h", the
 * folder above, so -I<dist>/compat is the only flag a host needs. */
#include "mimicmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Categories and levels
 * Rule: the MemoryCategory values are mimicmem's built-in category ids
 * (MEM_HALOS == MM_CAT_HALOS ...), so legacy and mm_ calls share one set of
 * figures. MEM_MAX_CATEGORY is the count of built-ins, not a category.
 * ====================================================================== */

typedef enum {
    MEM_UNKNOWN = MM_CAT_UNKNOWN,
    MEM_GALAXIES = MM_CAT_GALAXIES,
    MEM_HALOS = MM_CAT_HALOS,
    MEM_TREES = MM_CAT_TREES,
    MEM_IO = MM_CAT_IO,
    MEM_UTILITY = MM_CAT_UTILITY,
    MEM_MAX_CATEGORY = MM_CAT_BUILTIN_COUNT
} MemoryCategory;

/* Reporting levels for set_memory_reporting. The explicit calls (print_*,
 * check_memory_leaks, validate_all_memory's damage warnings) print at every
 * level, as in Mimic's tracker; the level governs the automatic lines. NONE:
 * no automatic line (fatal errors still go to the error handler). MINIMAL
 * (the default): a line each time the peak passes a further 10 MB, the line
 * at cleanup, validate_all_memory's pass line. DETAILED: also one line per
 * init, allocation, reallocation and free, and the per-block leak listing. */
#define MEMORY_REPORT_NONE 0
#define MEMORY_REPORT_MINIMAL 1
#define MEMORY_REPORT_DETAILED 2

/* Kept so that code passing it still compiles (overridable with -D). It no
 * longer limits anything: mimicmem keeps no block table. */
#ifndef DEFAULT_MAX_MEMORY_BLOCKS
#define DEFAULT_MAX_MEMORY_BLOCKS 50000
#endif

/* ========================================================================
 * Allocation
 * Rule: any thread may call these; they are mm_malloc, mm_realloc,
 * mm_realloc_cat and mm_free with Mimic's names. A failure (out of memory, a
 * bad pointer, a double free) goes to mimicmem's error handler, whose default
 * prints a message naming the size, category or pointer and exits with
 * status 1, as Mimic's own fatal path does (mm_ calls abort). If a host
 * handler returns instead, the allocating call returns NULL and myfree does
 * nothing. Cost: O(1) each; no table, no limit on live blocks.
 * ====================================================================== */

/* Optional, and may be called any number of times; allocation works before
 * it. After cleanup_memory_system it starts a fresh legacy tally: the
 * reports count from here (docs/migrating-from-util-memory.md, section 6);
 * otherwise nothing is reset. Live blocks stay valid either way. max_blocks
 * is ignored (said at DETAILED level). */
MM_API void init_memory_system(unsigned long max_blocks);

/* size bytes in category MEM_UNKNOWN. size 0 gives a valid unique pointer. */
MM_API void *mymalloc(size_t size);

/* size bytes in category: a MemoryCategory value or any category id
 * registered with mm_category_register. Another value is a fatal
 * MM_ERR_BAD_CATEGORY error (Mimic's tracker used MEM_UNKNOWN instead). */
MM_API void *mymalloc_cat(size_t size, MemoryCategory category);

/* Resizes ptr keeping its category; ptr NULL allocates in MEM_UNKNOWN. The
 * contents up to the smaller size are kept. size 0 keeps a live zero-size
 * block. */
MM_API void *myrealloc(void *ptr, size_t size);

/* Resizes ptr and moves it to category; ptr NULL allocates in category. */
MM_API void *myrealloc_cat(void *ptr, size_t size, MemoryCategory category);

/* Frees ptr; NULL does nothing. */
MM_API void myfree(void *ptr);

/* The same with an explicit call site (see "Allocation sites" in mimicmem.h).
 * move 0: myrealloc; 1: myrealloc_cat. */
MM_API void *mm_legacy_malloc_at(size_t size, MemoryCategory category, const char *file, int line);
MM_API void *mm_legacy_realloc_at(void *ptr, size_t size, MemoryCategory category, int move,
                                  const char *file, int line);

/* Allocation sites of the legacy calls, and why these names are not macros.
 *
 * A host may redeclare the legacy functions after including this header
 * (Mimic's proto.h says `void *mymalloc(size_t n);`). A function-like macro
 * `#define mymalloc(n) ...(n, __FILE__, __LINE__)` turns that declaration
 * into `...(size_t n, "proto.h", 12);`, a syntax error, and no expansion can
 * be both a declarator (given `size_t n`) and a call carrying __FILE__ (given
 * an expression); an object-like macro cannot carry __LINE__ at all. So the
 * legacy names stay plain functions, whatever the flags, and each one names
 * its call site by its return address instead: when site recording is on
 * (MIMICMEM_SITES=on, mm_set_sites(1), or from the first legacy call in a
 * library built with -DMM_WITH_SITES), mymalloc, mymalloc_cat, myrealloc and
 * myrealloc_cat record "module+0xOFFSET" as the site of the block, which
 * the reports show as the file:line and function of the call when the host
 * is built with -g: they run `addr2line -f -e module 0xOFFSET` (Linux; `atos`
 * on macOS) at report time, unless MIMICMEM_SITE_RESOLVE=off.
 * The limits: gcc and clang only (other compilers record the unknown site);
 * file:line needs the host's debug information; the name is that of the
 * module (program or shared library) that made the call; a call the compiler
 * turns into a tail call (`return mymalloc(n);` at -O2) is named after the
 * place the calling function returns to, one level up.
 *
 * Hosts that never redeclare the legacy names may define
 * MM_WITH_LEGACY_SITE_MACROS as well, for exact __FILE__:__LINE__ sites in
 * the report without addr2line. MM_WITH_SITES alone routes only the mm_
 * calls (macros of mimicmem.h, whose names hosts do not redeclare). */
#if defined(MM_WITH_LEGACY_SITE_MACROS) && !defined(MM_BUILDING_LIBRARY)
#define mymalloc(size) mm_legacy_malloc_at((size), MEM_UNKNOWN, __FILE__, __LINE__)
#define mymalloc_cat(size, category) mm_legacy_malloc_at((size), (category), __FILE__, __LINE__)
#define myrealloc(ptr, size) mm_legacy_realloc_at((ptr), (size), MEM_UNKNOWN, 0, __FILE__, __LINE__)
#define myrealloc_cat(ptr, size, category)                                                         \
    mm_legacy_realloc_at((ptr), (size), (category), 1, __FILE__, __LINE__)
#endif

/* ========================================================================
 * Reports and checks
 * Rule: lines go through mimicmem's log hook (mm_set_log_handler): by
 * default informational lines to stdout, warnings to stderr with a
 * "mimicmem: warning: " prefix. Figures are process-wide (every block,
 * context blocks included) and exact once other threads are quiet; sizes
 * are requested bytes; MB means 2^20 bytes.
 * ====================================================================== */

/* Sets the level (MEMORY_REPORT_*); another value leaves the level as it is,
 * with a warning. Thread-safe. */
MM_API void set_memory_reporting(int level);

/* One line: live MB and blocks; at DETAILED also the lines of
 * print_allocated_by_category. */
MM_API void print_allocated(void);

/* One line per category with live blocks (built-in and registered), in MB
 * and blocks; a single line saying so when nothing is live. */
MM_API void print_allocated_by_category(void);

/* One line: live MB, peak MB, live blocks (of the legacy tally). */
MM_API void print_memory_brief(void);

/* With live blocks: a warning "Memory leak detected: N blocks (X MB) still
 * allocated", one warning per category with live blocks and, at DETAILED,
 * one line per live context block (size, address, category, context);
 * process-wide blocks are counted, not listed. Otherwise the line "No memory
 * leaks detected". */
MM_API void check_memory_leaks(void);

/* 1 when ptr is a live, intact mimicmem block, 0 otherwise (NULL, foreign,
 * freed, released by a context reset, damaged header). Never aborts, never
 * calls the error handler. ptr must point into readable memory at least 16
 * bytes past its start (see mm_validate). */
MM_API int validate_memory_block(void *ptr);

/* Walks every block of every live context and checks its header; returns 1
 * when all are intact, 0 after a warning naming each damaged one (the first
 * 32). Process-wide blocks cannot be enumerated: they are counted, not
 * walked (the line says how many), and their headers are checked on every
 * free and realloc instead. Never aborts. Call it while no other
 * thread uses a context. Cost: proportional to the context blocks. */
MM_API int validate_all_memory(void);

/* Prints the print_memory_brief line (MINIMAL and above), closes the legacy
 * tally (the next init_memory_system or legacy allocation starts a fresh one)
 * and releases the library's own bookkeeping that can go: the calling
 * thread's cache of freed blocks. Live blocks stay valid; allocation may
 * start again at once. */
MM_API void cleanup_memory_system(void);

#ifdef __cplusplus
}
#endif

#endif /* MIMICMEM_COMPAT_MEMORY_H */
