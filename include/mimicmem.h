/* mimicmem: category-tracked, context-scoped memory for simulation codes.
 *
 * One header for users. Every block carries a 16-byte header (size, category,
 * integrity seal), so free and realloc are O(1) and there is no limit on live
 * blocks. Blocks belong either to the process-wide allocator (mm_malloc) or to
 * a context (mm_context_malloc) that frees them all at once on reset/destroy.
 * See docs/design.md for the layout, the thread rules and the error policy.
 *
 * Index (each group opens with its rule):
 *   Categories          mm_category_register, mm_category_find, ...
 *   Allocation          mm_malloc, mm_calloc, mm_realloc, mm_free, mm_validate, ...
 *   Contexts            mm_context_create, mm_context_reset, mm_context_malloc, ...
 *   Epochs              per-forest statistics: mm_context_epochs, the epoch log, ...
 *   Statistics          mm_stats_total, mm_stats_category, mm_stats_self
 *   Reports             mm_report, mm_report_leaks, mm_format_bytes
 *   Errors and logging  mm_set_error_handler, mm_set_log_handler
 *   Options             mm_option_set, mm_options_print (MIMICMEM_* variables)
 *   Checking modes      mm_set_check, mm_check
 *   Allocation sites    the _at calls, mm_sites (MM_WITH_SITES)
 *   Peak composition    mm_peak_composition
 *   Limits              mm_limit_set
 *   Trace record        mm_trace_start
 *   Runs of many ranks  mm_set_rank (the MPI reduction is in mimicmem_mpi.h)
 *   Memory given back   mm_trim
 * Fault injection for tests lives in mimicmem_testing.h. */
#ifndef MIMICMEM_H
#define MIMICMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(MM_SHARED_BUILD)
#define MM_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define MM_API __attribute__((visibility("default")))
#else
#define MM_API
#endif

#define MM_VERSION_MAJOR 0
#define MM_VERSION_MINOR 3
#define MM_VERSION_PATCH 0
#define MM_VERSION_STRING "0.3.0"

typedef struct mm_context mm_context; /* opaque; see the Contexts group */

/* ========================================================================
 * Categories
 * Rule: ids are small integers, stable for the life of the process; the six
 * built-ins have fixed values and live in group "Core". Registration is
 * thread-safe and idempotent by name.
 * ====================================================================== */

typedef int mm_category;

#define MM_CAT_INVALID (-1)
#define MM_CAT_UNKNOWN 0
#define MM_CAT_GALAXIES 1
#define MM_CAT_HALOS 2
#define MM_CAT_TREES 3
#define MM_CAT_IO 4
#define MM_CAT_UTILITY 5
#define MM_CAT_BUILTIN_COUNT 6

/* Capacity of the registry (built-ins included) and the longest accepted
 * category or group name, in bytes, not counting the terminating NUL. */
#define MM_CATEGORY_MAX 1024
#define MM_NAME_MAX 63

/* Registers a category called name in group (NULL or "" means "Other") and
 * returns its id. Registering a name that exists returns the existing id (the
 * group given the first time stays). Errors, reported through the error
 * handler, then MM_CAT_INVALID returned: NULL, empty or over-long name or group
 * (MM_ERR_BAD_ARGUMENT), registry full (MM_ERR_REGISTRY_FULL). Cost: O(number
 * of categories) under a mutex; call it at start-up, not per allocation. */
MM_API mm_category mm_category_register(const char *name, const char *group);

/* Returns the id of the category called name, or MM_CAT_INVALID when none is
 * registered. Never an error. */
MM_API mm_category mm_category_find(const char *name);

/* Name and group of category c. The strings live as long as the process.
 * An unknown id is an MM_ERR_BAD_CATEGORY error, then NULL is returned. */
MM_API const char *mm_category_name(mm_category c);
MM_API const char *mm_category_group(mm_category c);

/* Number of registered categories (ids 0 .. count-1 are valid). */
MM_API int mm_category_count(void);

/* ========================================================================
 * Allocation
 * Rule: any thread may call these, and so may the child of a fork() made
 * while other threads were inside the library (pthread_atfork keeps every
 * lock consistent; an open trace is not continued into the parent's file:
 * the child opens its own when the name has %p, else stops tracing). Blocks are aligned for any type
 * (alignof(max_align_t)). A block from a context is freed or resized with the
 * same mm_free / mm_realloc; its context is found from its header in O(1).
 * Every failure goes to the error handler (see Errors); if the handler returns,
 * the call returns NULL (or does nothing, for a free) with statistics untouched.
 * ====================================================================== */

/* Allocates size bytes in category cat. size 0 gives a valid, unique pointer.
 * Errors: MM_ERR_BAD_CATEGORY, MM_ERR_SIZE_OVERFLOW, MM_ERR_OUT_OF_MEMORY. */
MM_API void *mm_malloc(size_t size, mm_category cat);

/* Allocates n*size zeroed bytes; an overflowing product is MM_ERR_SIZE_OVERFLOW. */
MM_API void *mm_calloc(size_t n, size_t size, mm_category cat);

/* Resizes p to size bytes, keeping its category and context; the contents up
 * to the smaller size are kept. p NULL behaves as mm_malloc(size,
 * MM_CAT_UNKNOWN). size 0 keeps a live zero-size block (it never frees).
 * On failure p stays valid and unchanged. Errors: MM_ERR_BAD_POINTER,
 * MM_ERR_DOUBLE_FREE, MM_ERR_SIZE_OVERFLOW, MM_ERR_OUT_OF_MEMORY. */
MM_API void *mm_realloc(void *p, size_t size);

/* As mm_realloc, and moves the block to category cat (p NULL: mm_malloc in
 * cat). */
MM_API void *mm_realloc_cat(void *p, size_t size, mm_category cat);

/* Frees p. NULL is a no-op. A damaged header or a pointer mimicmem never
 * returned is MM_ERR_BAD_POINTER; a block already freed is MM_ERR_DOUBLE_FREE
 * (or MM_ERR_BAD_POINTER when its header was overwritten since), a message
 * and never a signal, for blocks of every size: big blocks are looked up
 * before their header is read. The one case outside this (a small process
 * block that went back to the system allocator, whose memory the system
 * then unmapped) is in docs/design.md. Cost: O(1). */
MM_API void mm_free(void *p);

/* Copies the NUL-terminated string s into a new block of category cat.
 * s NULL is an MM_ERR_BAD_ARGUMENT error. */
MM_API char *mm_strdup(const char *s, mm_category cat);

/* Returns nonzero when p is a live, intact mimicmem block. Never calls the
 * error handler, never aborts. NULL gives 0. p must point into readable
 * memory at least 16 bytes past its start (any pointer mimicmem returned or
 * a pointer into the middle of a buffer is fine). */
MM_API int mm_validate(const void *p);

/* Requested size, category and context (NULL for process-wide blocks) of a
 * live block. An invalid p is an error (as for mm_free); then 0,
 * MM_CAT_INVALID and NULL are returned. */
MM_API size_t mm_block_size(const void *p);
MM_API mm_category mm_block_category(const void *p);
MM_API mm_context *mm_block_context(const void *p);

/* ========================================================================
 * Contexts
 * Rule: a context belongs to one thread at a time: that thread allocates from
 * it, frees and resizes its blocks, resets and destroys it. Different contexts
 * on different threads run concurrently with no lock on the allocation and
 * free paths (a free that ends a new process peak takes the statistics lock
 * once, to sum the figure exactly). Handing a context to another thread needs the caller's own
 * synchronisation (a mutex, a thread join). A block of a context freed by a
 * thread that does not own the context is a data race: see docs/design.md.
 * A NULL context means the same thing to every function that takes one:
 * "the process, outside any context" where a scope is asked for (allocation,
 * statistics, reports, peak composition, limits, checks, fault filters);
 * nothing to do for mm_context_reset and mm_context_destroy; and an
 * MM_ERR_BAD_CONTEXT error (then 0, NULL or nothing returned) for every
 * function that needs one context (names, labels, settings, epochs).
 * ====================================================================== */

/* Creates a context called name (copied, truncated to MM_NAME_MAX bytes at a
 * UTF-8 character boundary; NULL gives "context") under parent
 * (NULL: a top-level context). The new context is owned by the caller's
 * thread. Errors: MM_ERR_BAD_CONTEXT for a dead parent, MM_ERR_OUT_OF_MEMORY.
 * Returns NULL if the handler returns. */
MM_API mm_context *mm_context_create(const char *name, mm_context *parent);

/* Frees every block still allocated in ctx and in its descendants, then the
 * contexts themselves. NULL is a no-op. Cost: proportional to the chunks and
 * large blocks of the subtree, not to its small blocks. */
MM_API void mm_context_destroy(mm_context *ctx);

/* Frees every block of ctx and destroys its child contexts (PostgreSQL's
 * rule: children are per-epoch scratch), keeps ctx and its chunks for the next
 * epoch, and closes one epoch (see Epochs). NULL is a no-op. */
MM_API void mm_context_reset(mm_context *ctx);

/* Allocation inside ctx; same contract as mm_malloc/mm_calloc/mm_strdup.
 * ctx NULL allocates process-wide. A destroyed ctx is undefined behaviour
 * (detected in most cases as MM_ERR_BAD_CONTEXT). */
MM_API void *mm_context_malloc(mm_context *ctx, size_t size, mm_category cat);
MM_API void *mm_context_calloc(mm_context *ctx, size_t n, size_t size, mm_category cat);
MM_API char *mm_context_strdup(mm_context *ctx, const char *s, mm_category cat);

/* Name, parent and current epoch label ("" when none was set). */
MM_API const char *mm_context_name(const mm_context *ctx);
MM_API mm_context *mm_context_parent(const mm_context *ctx);
MM_API const char *mm_context_label(const mm_context *ctx);

/* Sets the label of the current epoch (copied, truncated to MM_NAME_MAX bytes
 * at a UTF-8 character boundary),
 * e.g. "Forest 17". The label is kept with the epoch's statistics. */
MM_API void mm_context_set_label(mm_context *ctx, const char *label);

/* Bytes of chunk memory that ctx keeps across resets (default: all chunks
 * it has used, i.e. its largest epoch's footprint). Chunks beyond the cap
 * go back to the system at reset. Returns the old cap. */
MM_API size_t mm_context_set_retain(mm_context *ctx, size_t bytes);

/* ========================================================================
 * Epochs: the life of a context between two resets (one forest)
 * Rule: bounded memory whatever the number of epochs: counts, min/mean/max of
 * the epoch peaks and the top K epochs by peak. Owner thread only.
 * ====================================================================== */

#define MM_DEFAULT_TOP_EPOCHS 10

typedef struct {
    uint64_t count;    /* epochs closed by mm_context_reset */
    size_t min_peak;   /* smallest epoch peak, bytes (0 when count is 0) */
    size_t max_peak;   /* largest epoch peak, bytes */
    double mean_peak;  /* mean epoch peak, bytes */
} mm_epoch_summary;

typedef struct {
    uint64_t index;        /* 0-based number of the epoch in ctx */
    const char *label;     /* its label ("" when none); valid until the next reset */
    size_t peak_bytes;     /* peak of ctx and its descendants during the epoch */
} mm_epoch_info;

MM_API mm_epoch_summary mm_context_epochs(const mm_context *ctx);

/* Keeps the k largest epochs (k <= 1000; 0 turns it off). Returns the old k. */
MM_API size_t mm_context_set_top_epochs(mm_context *ctx, size_t k);

/* Fills *out with the rank-th largest epoch (0 = largest) and returns 1, or
 * returns 0 when there are fewer than rank+1 epochs kept. */
MM_API int mm_context_top_epoch(const mm_context *ctx, size_t rank, mm_epoch_info *out);

/* Peak bytes of category c during the rank-th largest epoch. */
MM_API size_t mm_context_top_epoch_category(const mm_context *ctx, size_t rank, mm_category c);

typedef enum {
    MM_EPOCH_LOG_CSV = 0,      /* one field "category_peaks" for all categories */
    MM_EPOCH_LOG_JSONL = 1,    /* one JSON object per line */
    MM_EPOCH_LOG_CSV_WIDE = 2  /* one column per category and per user field */
} mm_epoch_log_format;

/* Streams one line per closed epoch to out. CSV: a header line
 * "epoch,label,peak_bytes,category_peaks" when the log is set, then lines like
 * `17,Forest 17,123456,Halos=100000;Cooling=23456` (fields quoted as in
 * RFC 4180 when needed; category peaks in id order, nonzero ones only). JSON
 * Lines: {"epoch":17,"label":"Forest 17","peak_bytes":123456,
 * "category_peaks":{"Halos":100000,"Cooling":23456}}, with each user field
 * (mm_context_epoch_field) as one more key. Wide CSV: a header row
 * "epoch,label,peak_bytes,<category>...,field:<name>..." (every registered
 * category in id order, then the user fields in the order they first
 * appeared), written before the first line and again whenever a later line
 * gains a column; category cells are that category's peak in the epoch (0
 * when none), field cells the number set in that epoch or empty. Numbers
 * never depend on the locale. out NULL stops. The caller keeps out open and
 * closes it. Lines are written by the owner thread at reset, outside every
 * lock of the library. */
MM_API void mm_context_set_epoch_log(mm_context *ctx, FILE *out, mm_epoch_log_format fmt);

/* Attaches a number to the current epoch of ctx (for example the halo count
 * of the forest, or its wall time), written with that epoch's line of the
 * epoch log: a column (wide CSV), a key (JSON Lines). Setting a name again
 * in the same epoch replaces its value. name: 1 to MM_NAME_MAX bytes, not
 * one of the line's own keys (epoch, label, peak_bytes, category_peaks); at
 * most MM_EPOCH_FIELDS_MAX names per context. Returns 0, or -1 after an
 * MM_ERR_BAD_ARGUMENT (bad name, too many names) or MM_ERR_BAD_CONTEXT
 * error. Owner thread only. */
MM_API int mm_context_epoch_field(mm_context *ctx, const char *name, double value);

#define MM_EPOCH_FIELDS_MAX 32

/* Blocks that a reset or destroy freed because nobody freed them explicitly. */
typedef struct {
    size_t bytes;      /* bytes reclaimed */
    size_t blocks;     /* blocks reclaimed */
} mm_reclaimed;

/* Reclaimed figures of category c: what resets of ctx found still live in ctx
 * and its descendants (child contexts are destroyed by a reset), cumulative
 * over all epochs, or for the last closed epoch when last_epoch is nonzero. */
MM_API mm_reclaimed mm_context_reclaimed(const mm_context *ctx, mm_category c, int last_epoch);

/* When on, each reset logs one warning per category that left blocks behind
 * (through the log handler; see Logging). Returns the old setting. */
MM_API int mm_context_warn_reclaimed(mm_context *ctx, int on);

/* ========================================================================
 * Statistics
 * Rule: plain structs returned by value. bytes are live bytes as requested by
 * callers; peak_bytes is the high-water mark of that figure; blocks are live
 * blocks; allocs/frees are cumulative. Process figures (ctx NULL) count every
 * block, context blocks included, and are exact once threads are quiet (a
 * process query sums every thread's record and every live top-level
 * context's counts; the counts never go back while threads work). A
 * peak never decreases and is never above a value the figure had; the
 * process peak is exact while one thread allocates (also when other threads
 * then free its blocks), and while several do it
 * may lag the true high-water mark by up to 256 KiB per thread
 * (docs/design.md, "Statistics").
 * ====================================================================== */

typedef struct {
    size_t bytes;        /* live requested bytes */
    size_t peak_bytes;   /* high-water mark of bytes (a peak of the sum) */
    size_t blocks;       /* live blocks */
    uint64_t allocs;     /* cumulative allocations */
    uint64_t frees;      /* cumulative frees (explicit, or by reset/destroy) */
} mm_stats;

/* ctx NULL: the whole process. Otherwise ctx and its descendants, with an
 * exact peak: the high-water mark over the context's whole life, all epochs
 * included (the peak of the current epoch is in mm_context_epoch_stats). */
MM_API mm_stats mm_stats_total(const mm_context *ctx);
MM_API mm_stats mm_stats_category(const mm_context *ctx, mm_category c);

/* ctx alone, without its descendants (exact, peak included). */
MM_API mm_stats mm_stats_self(const mm_context *ctx);

/* ctx and its descendants during the current epoch: bytes and blocks are
 * live figures, peak_bytes the epoch's high-water mark so far, allocs and
 * frees counted since the last reset. */
MM_API mm_stats mm_context_epoch_stats(const mm_context *ctx);

/* ========================================================================
 * Reports
 * Rule: text for people, JSON (with "schema_version") for tools, written by
 * one emitter from one gathered snapshot. Reports (and mm_stats_*, mm_sites
 * and the legacy reporting calls) may be asked for from any thread at any
 * moment, while other threads allocate, free, reset, create and destroy
 * their own contexts: a figure of a busy context may be a moment old, but
 * each is a value it really had. Numbers never depend on the locale.
 * ====================================================================== */

typedef enum { MM_REPORT_TEXT = 0, MM_REPORT_JSON = 1 } mm_report_format;

#define MM_REPORT_SCHEMA_VERSION 1

/* Writes the usage by category (grouped, with subtotals, Total and Peak) of
 * ctx and its descendants, or of the whole process and its live contexts when
 * ctx is NULL; for contexts also the context tree and Per-Forest Statistics. */
MM_API void mm_report(FILE *out, const mm_context *ctx, mm_report_format fmt);

/* Formats bytes with an adaptive unit ("812.4 MB") into buf; returns buf. */
MM_API char *mm_format_bytes(size_t bytes, char *buf, size_t buflen);

/* Writes the blocks still live in the whole process (at exit: the leaks),
 * grouped by allocation site and category when sites are recorded (see
 * Allocation sites) and by category otherwise, largest first. Returns the
 * number of live blocks. Any thread; exact once threads are quiet. */
MM_API size_t mm_report_leaks(FILE *out, mm_report_format fmt);

/* ========================================================================
 * Errors and logging
 * Rule: one path. Every failure fills an mm_error and goes to the handler.
 * The default handler prints the message to stderr, flushes every stdio
 * stream and aborts (a call made through Mimic's legacy API exits with
 * status 1 instead). A handler that returns makes the failing call return
 * NULL (or do nothing) with statistics untouched. Handlers may be called
 * from any thread, are never called while the library holds a lock, and
 * may call any mimicmem function. Informational lines and warnings go to
 * the log handler (default: MM_LOG_INFO to stdout, MM_LOG_WARNING/ERROR to
 * stderr).
 * ====================================================================== */

typedef enum {
    MM_ERR_NONE = 0,
    MM_ERR_OUT_OF_MEMORY = 1,  /* the system allocator failed */
    MM_ERR_SIZE_OVERFLOW = 2,  /* size + header, or n * size, does not fit */
    MM_ERR_BAD_CATEGORY = 3,   /* unknown category id */
    MM_ERR_BAD_POINTER = 4,    /* damaged header or a pointer mimicmem never returned */
    MM_ERR_DOUBLE_FREE = 5,    /* a block already freed (explicitly, or by reset/destroy) */
    MM_ERR_BAD_CONTEXT = 6,    /* NULL where a context is needed, or a dead context */
    MM_ERR_REGISTRY_FULL = 7,  /* MM_CATEGORY_MAX categories already registered */
    MM_ERR_BAD_ARGUMENT = 8,   /* NULL string, empty or over-long name, bad option */
    MM_ERR_OVERRUN = 9,        /* guard bytes after a block were overwritten */
    MM_ERR_LIMIT = 10,         /* a byte limit would be exceeded */
    MM_ERR_WRITE_AFTER_FREE = 11 /* a poisoned freed block was written after its free */
} mm_error_kind;

typedef struct {
    mm_error_kind kind;        /* what went wrong */
    const char *message;       /* full human message; valid during the call only */
    size_t size;               /* bytes requested (0 when not an allocation) */
    mm_category category;      /* category involved, or MM_CAT_INVALID */
    const void *ptr;           /* pointer involved, or NULL */
    const mm_context *context; /* context involved, or NULL */
} mm_error;

typedef void (*mm_error_fn)(const mm_error *err, void *user);

/* A handler and its user pointer, as the setter returns the previous one. */
typedef struct {
    mm_error_fn fn; /* NULL: the default handler */
    void *user;     /* passed to fn */
} mm_error_handler;

/* Sets the handler and returns the previous one, so a library that uses
 * mimicmem can restore its host's handler: mm_set_error_handler(old.fn,
 * old.user). (NULL, NULL) restores the default. Thread-safe. */
MM_API mm_error_handler mm_set_error_handler(mm_error_fn fn, void *user);

/* Short name of an error kind ("out of memory", "double free", ...). */
MM_API const char *mm_error_kind_name(mm_error_kind kind);

typedef enum { MM_LOG_DEBUG = 0, MM_LOG_INFO = 1, MM_LOG_WARNING = 2, MM_LOG_ERROR = 3 } mm_log_level;

typedef void (*mm_log_fn)(mm_log_level level, const char *message, void *user);

typedef struct {
    mm_log_fn fn; /* NULL: the default printer */
    void *user;   /* passed to fn */
} mm_log_handler;

/* Sets the log hook and returns the previous one; (NULL, NULL) restores the
 * default. Thread-safe. */
MM_API mm_log_handler mm_set_log_handler(mm_log_fn fn, void *user);

/* ========================================================================
 * Options
 * Rule: every run-time option is one entry of one table (src/report/options.c): its
 * environment variable MIMICMEM_<NAME>, its default and its help. The
 * environment is read once, at the first use of the library; a malformed
 * value logs one warning naming the variable and the value, and the default
 * stays. Code may change any option at any time with mm_option_set.
 *
 *   report         off | exit       print a report (and the leaks) at exit
 *   report_format  text | json
 *   report_file    path (%p: process id; "" : stderr)
 *   check          off | guards | poison | full
 *   fill           nan | bytes      fill of new blocks under poison
 *   limit          bytes, K/M/G/T suffix (powers of 1024); 0: none
 *   limit_warn     percent 0..100 (0: no warnings)
 *   sites          off | on
 *   site_resolve   auto | off       reports run addr2line for the legacy sites
 *   peak_step      bytes, K/M/G/T suffix
 *   trace          path (%p: process id; "" : off)
 *   cache          on | off | bytes, K/M/G/T suffix: the per-thread cache of freed
 *                  blocks; on adapts (4x the thread's live bytes, 256K..4M) and
 *                  reads back "on"; bytes fix its size
 * ====================================================================== */

/* Sets option name (as in the table, lower case) to value, as the
 * environment would; returns 0, or -1 after an MM_ERR_BAD_ARGUMENT error for
 * an unknown name or a malformed value (nothing changes). */
MM_API int mm_option_set(const char *name, const char *value);

/* Writes option name's current value, as text, into buf (len bytes, always
 * terminated when len > 0); returns 0, or -1 for an unknown name. */
MM_API int mm_option_get(const char *name, char *buf, size_t len);

/* Writes every option: name, environment variable, current value, default
 * and help, one per line. */
MM_API void mm_options_print(FILE *out);

/* ========================================================================
 * Checking modes
 * Rule: process-wide, switchable at run time from any thread; each block's
 * header records what it carries (guard, site and trace record), so blocks
 * made under one mode are freed, resized and checked correctly under any
 * other. Off costs one relaxed load per allocation (none per free).
 * ====================================================================== */

typedef enum {
    MM_CHECK_OFF = 0,    /* no guards, no fill (the default) */
    MM_CHECK_GUARDS = 1, /* an 8-byte canary after each new block, checked on free,
                            realloc, mm_validate and mm_check: MM_ERR_OVERRUN */
    MM_CHECK_POISON = 2, /* new blocks filled (MM_FILL_NAN or MM_FILL_BYTES), freed
                            blocks filled with MM_FREED_BYTE and checked before reuse
                            and by mm_check: MM_ERR_WRITE_AFTER_FREE */
    MM_CHECK_FULL = 3    /* guards and poison */
} mm_check_mode;

/* Fill of new blocks under MM_CHECK_POISON (mm_calloc still zeroes). */
typedef enum {
    MM_FILL_NAN = 0,  /* MM_FILL_NAN_PATTERN repeated from the block start (the default):
                         every aligned double is a signalling NaN, every aligned float a NaN */
    MM_FILL_BYTES = 1 /* MM_FRESH_BYTE in every byte */
} mm_fill;

#define MM_FILL_NAN_PATTERN 0x7FF400007FA00000ull /* little-endian words: sNaN double */
#define MM_FRESH_BYTE 0xA5                        /* MM_FILL_BYTES */
#define MM_FREED_BYTE 0x5A                        /* freed blocks under poison */
#define MM_GUARD_BYTE 0xFD                        /* the canary's bytes */

/* Sets the checking mode for blocks allocated and freed from now on and
 * returns the old one. A bad mode is MM_ERR_BAD_ARGUMENT (nothing changes). */
MM_API mm_check_mode mm_set_check(mm_check_mode mode);
MM_API mm_check_mode mm_get_check(void);

/* Checks every block mimicmem can enumerate: the live and freed blocks of ctx
 * and its descendants (every live context when ctx is NULL) and the freed
 * blocks in the calling thread's cache. It verifies each header, the guard of
 * each guarded live block and the fill of each poisoned freed block, and
 * reports each problem through the error handler (MM_ERR_BAD_POINTER for a
 * damaged header, MM_ERR_OVERRUN, MM_ERR_WRITE_AFTER_FREE). Returns the number
 * of problems. Live process-wide blocks are not enumerable (there is no
 * table); they are checked on free, realloc and mm_validate. The owners of the
 * contexts walked must be quiet. Cost: proportional to the blocks walked. */
MM_API size_t mm_check(const mm_context *ctx);

/* ========================================================================
 * Allocation sites
 * Rule: when site recording is on, each block allocated through an _at call
 * remembers its call site; per site (file, line, category) the library keeps
 * live bytes, live blocks, peak and allocations. Blocks from plain calls count
 * under the site with file NULL ("unknown site"). Off (the default) an _at
 * call costs what the plain call does. Define MM_WITH_SITES before including
 * this header to route the plain calls to their _at variants. A library
 * compiled with MM_WITH_SITES too (the two-file distribution built with the
 * host's CFLAGS) turns recording on at the first legacy call unless
 * MIMICMEM_SITES is set, so one flag gives a whole build's sites. Mimic's
 * legacy calls are never macros (a host may redeclare them): they record their
 * caller's return address, "module+0xOFFSET" (compat/memory.h says why),
 * which mm_sites returns as it is and the reports show as file:line
 * (function), running addr2line at report time (MIMICMEM_SITE_RESOLVE). The
 * library's own sources define MM_BUILDING_LIBRARY and never see the macros.
 * ====================================================================== */

MM_API void *mm_malloc_at(size_t size, mm_category cat, const char *file, int line);
MM_API void *mm_calloc_at(size_t n, size_t size, mm_category cat, const char *file, int line);
MM_API void *mm_realloc_at(void *p, size_t size, const char *file, int line);
MM_API void *mm_realloc_cat_at(void *p, size_t size, mm_category cat, const char *file, int line);
MM_API char *mm_strdup_at(const char *s, mm_category cat, const char *file, int line);
MM_API void *mm_context_malloc_at(mm_context *ctx, size_t size, mm_category cat, const char *file,
                                  int line);
MM_API void *mm_context_calloc_at(mm_context *ctx, size_t n, size_t size, mm_category cat,
                                  const char *file, int line);
MM_API char *mm_context_strdup_at(mm_context *ctx, const char *s, mm_category cat,
                                  const char *file, int line);

/* Turns site recording on or off for blocks allocated from now on; returns
 * the old setting. A block keeps the site it was allocated at until it is
 * freed (a realloc keeps it; one moving category moves it to the same file
 * and line in the new category). */
MM_API int mm_set_sites(int on);

typedef struct {
    const char *file;     /* __FILE__ of the call, or NULL for the unknown site */
    int line;             /* __LINE__ of the call (0 for the unknown site) */
    mm_category category; /* category of its blocks */
    size_t bytes;         /* live bytes */
    size_t blocks;        /* live blocks */
    size_t peak_bytes;    /* high-water mark of bytes */
    uint64_t allocs;      /* cumulative allocations */
} mm_site_stats;

/* Copies up to max sites, largest live bytes first (ties: larger peak first),
 * into out (may be NULL when max is 0) and returns the number of sites known.
 * At most MM_SITES_MAX sites are kept; further sites count under one entry
 * per category with file "(other sites)" and line 0, so the figures of every
 * category stay whole. Any thread; exact once threads are quiet. */
MM_API size_t mm_sites(mm_site_stats *out, size_t max);

#define MM_SITES_MAX 4096

#if defined(MM_WITH_SITES) && !defined(MM_BUILDING_LIBRARY)
#define mm_malloc(size, cat) mm_malloc_at((size), (cat), __FILE__, __LINE__)
#define mm_calloc(n, size, cat) mm_calloc_at((n), (size), (cat), __FILE__, __LINE__)
#define mm_realloc(p, size) mm_realloc_at((p), (size), __FILE__, __LINE__)
#define mm_realloc_cat(p, size, cat) mm_realloc_cat_at((p), (size), (cat), __FILE__, __LINE__)
#define mm_strdup(s, cat) mm_strdup_at((s), (cat), __FILE__, __LINE__)
#define mm_context_malloc(ctx, size, cat) mm_context_malloc_at((ctx), (size), (cat), __FILE__, __LINE__)
#define mm_context_calloc(ctx, n, size, cat)                                                        \
    mm_context_calloc_at((ctx), (n), (size), (cat), __FILE__, __LINE__)
#define mm_context_strdup(ctx, s, cat) mm_context_strdup_at((ctx), (s), (cat), __FILE__, __LINE__)
#endif

/* ========================================================================
 * Peak composition
 * Rule: the composition of a peak is the bytes of every category at the
 * moment the process (or a context with its descendants) reached its
 * high-water mark, the context the allocation that reached it was made in,
 * and the epoch in force there. Unlike per-category peaks (reached at
 * different moments), its categories add up to the peak. It is recorded at
 * the turn: the first decrease (free, shrinking realloc, reset, destroy)
 * after a new peak copies the state, which until then only allocations
 * changed; a reader asking during a rise gets the state now, which is the
 * peak. So it costs nothing per allocation, and a copy per new peak that a
 * decrease ends. With the default step (1 byte) the composition is exactly
 * the peak's: `bytes` equals `peak_bytes`. A larger step (mm_set_peak_step,
 * MIMICMEM_PEAK_STEP) records only peaks that many bytes above the last
 * recorded one, for programs whose peak creeps up by many small steps; the
 * composition may then be from a moment up to step - 1 bytes below the
 * peak, and reports say so. For the process, exact while one thread
 * allocates (docs/design.md, "Statistics").
 * ====================================================================== */

#define MM_DEFAULT_PEAK_STEP ((size_t)1)

typedef struct {
    size_t bytes;                   /* total live bytes at the recorded moment (the peak
                                       itself under the default step) */
    size_t peak_bytes;              /* the high-water mark now (>= bytes; less than
                                       bytes + step) */
    uint64_t epoch;                 /* epoch index of the context it happened in */
    char context[MM_NAME_MAX + 1];  /* the context of the allocation that reached it
                                       ("" outside any context) */
    char label[MM_NAME_MAX + 1];    /* the epoch label in force there, e.g. "Forest 17"
                                       (the nearest labelled context up the tree; "" none) */
} mm_peak_info;

/* Fills *out with the composition of the peak of the process (ctx NULL) or
 * of ctx and its descendants, and returns 1; returns 0 when there is none
 * yet (nothing allocated, or the peak never reached one step). */
MM_API int mm_peak_composition(const mm_context *ctx, mm_peak_info *out);

/* Bytes of category c in that composition (0 when none). */
MM_API size_t mm_peak_composition_category(const mm_context *ctx, mm_category c);

/* Sets the step (bytes, at least 1; default MM_DEFAULT_PEAK_STEP) and returns
 * the old one. It applies to the process at once, to contexts created later
 * from the start, and to an existing context from its next record (the
 * context's own mark is not revisited, so the allocation path reads no
 * shared setting). */
MM_API size_t mm_set_peak_step(size_t bytes);

/* ========================================================================
 * Limits
 * Rule: a byte limit on live requested bytes for the process, a context
 * (with its descendants) or a category (process-wide or within a context).
 * An allocation or growth that would pass a limit fails with MM_ERR_LIMIT,
 * whose message names the limit and carries a report of who uses what. At
 * a soft threshold (default 90% of the limit) one warning is logged per
 * limit. Process limits are checked against the calling thread's view of the
 * process total, and against the exact total before an allocation fails or
 * the warning is logged: with one thread exact; with several an allocation
 * may pass a process limit by less than 256 KiB per other thread (what they
 * allocated and have not yet made visible), and never fails below it.
 * ====================================================================== */

/* Sets the limit of ctx (NULL: the process) for category cat (MM_CAT_INVALID:
 * all categories) to bytes (0: no limit) and returns the old limit. Lowering
 * a limit below the current use is allowed; later allocations then fail.
 * Errors: MM_ERR_BAD_CATEGORY, MM_ERR_BAD_CONTEXT (then 0 is returned). A
 * context limit is set by its owner thread. */
MM_API size_t mm_limit_set(mm_context *ctx, mm_category cat, size_t bytes);
MM_API size_t mm_limit_get(const mm_context *ctx, mm_category cat);

/* Soft threshold in percent of each limit (0 turns the warnings off; default
 * 90); returns the old one. Values above 100 are MM_ERR_BAD_ARGUMENT. */
MM_API unsigned mm_set_limit_warn(unsigned percent);

/* ========================================================================
 * Trace record
 * Rule: while a trace is open, every allocation, reallocation, free and
 * context reset is appended to it in the Mimic trace format
 * ("# mimic allocation trace v1"; "F <forest>", "A <id> <size> <category>",
 * "R <id> <new_size> <category>", "D <id>"; category names with spaces as
 * '_'). A reset or destroy writes a D line per block it frees, and a reset of
 * a top-level context (and the creation of one) the F line of the epoch that
 * starts; forests are numbered from 0 in the order their F lines are written.
 * Blocks allocated while no trace was open are not in it. Writing is buffered
 * under a lock; a write error closes the trace with one warning. Any thread.
 * ====================================================================== */

/* Opens path (%p expands to the process id) and starts tracing; an open trace
 * is closed first. Returns 0, or -1 with one warning when the file cannot be
 * opened (tracing is then off). */
MM_API int mm_trace_start(const char *path);

/* Flushes and closes the trace (no-op when none is open). */
MM_API void mm_trace_stop(void);

/* ========================================================================
 * Runs of many ranks
 * Rule: a process may say which rank of a parallel job it is; "%r" in the
 * file names of MIMICMEM_REPORT_FILE and MIMICMEM_TRACE expands to it, and
 * JSON reports carry it ("rank"), so per-rank files can be merged
 * (mimicmem-report merge, or mm_mpi_report in mimicmem_mpi.h, which sets
 * it). Without mm_set_rank the rank is read once from the launcher's
 * environment (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK, SLURM_PROCID, in
 * that order), without linking MPI.
 * ====================================================================== */

/* Sets the rank of this process (>= 0) and returns the old one (-1 when
 * none was known). A negative rank is MM_ERR_BAD_ARGUMENT. */
MM_API int mm_set_rank(int rank);

/* The rank of this process, or -1 when neither mm_set_rank nor the
 * launcher's environment says ("%r" then expands to 0). */
MM_API int mm_get_rank(void);

/* ========================================================================
 * Memory given back
 * Rule: the library keeps memory for reuse in two places: the chunks of
 * destroyed contexts (at most 64 MiB, for the contexts created next) and
 * each thread's cache of freed process-wide blocks. mm_trim gives both back.
 * ====================================================================== */

/* Gives the chunks of destroyed contexts and the calling thread's cache of
 * freed blocks back to the system, and returns the bytes released. Live
 * blocks, contexts and their own chunks are untouched; allocation goes on
 * at once. Chunk memory goes back with madvise: its addresses stay reserved
 * and read as zeros, so a stale pointer into it is reported, never a crash.
 * Any thread; cleanup_memory_system calls it. Cost: proportional to the
 * chunks and blocks released. */
MM_API size_t mm_trim(void);

#ifdef __cplusplus
}
#endif

#endif /* MIMICMEM_H */
