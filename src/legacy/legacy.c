/* Mimic's memory API (compat/memory.h) on top of mimicmem: the allocator's
 * entry points under Mimic's names (errors name mymalloc, myfree, ...) plus
 * its reporting levels; reports come from the process statistics;
 * validate_all_memory and the detailed leak listing walk every live context's
 * blocks. Lines go through the log hook (mmi_log). */
#include "../report/snapshot.h"
#include "../../compat/memory.h"

#include <string.h>

_Static_assert(MEM_UNKNOWN == MM_CAT_UNKNOWN && MEM_GALAXIES == MM_CAT_GALAXIES &&
                   MEM_HALOS == MM_CAT_HALOS && MEM_TREES == MM_CAT_TREES && MEM_IO == MM_CAT_IO &&
                   MEM_UTILITY == MM_CAT_UTILITY && MEM_MAX_CATEGORY == MM_CAT_BUILTIN_COUNT,
               "MemoryCategory values must be mimicmem's built-in category ids");

/* ======================================================================
 * State
 * Rule: every field is an atomic or behind legacy_lock, so the legacy calls
 * may come from any thread, as mm_malloc may.
 * ==================================================================== */

#define LEGACY_MB        ((size_t)1 << 20)  /* "MB" in every line: 2^20 bytes */
#define LEGACY_MARK_STEP ((size_t)10 << 20) /* MINIMAL: a line per further 10 MB of peak */
#define LEGACY_MAX_NAMED 32                 /* damaged blocks named one by one */

static _Atomic int legacy_level = MEMORY_REPORT_MINIMAL; /* MEMORY_REPORT_*, Mimic's default */
static _Atomic size_t legacy_mark = LEGACY_MARK_STEP;    /* peak bytes that print the next line */
static _Atomic unsigned long legacy_inits;               /* init calls since the last cleanup */
static mmi_lock legacy_lock = MMI_LOCK_INIT(MMI_RANK_LEGACY, "legacy mark"); /* serialises a mark crossing */

static inline bool legacy_on(int level) {
    return mmi_load(&legacy_level) >= level;
}

static double legacy_mb(size_t bytes) {
    return (double)bytes / (double)LEGACY_MB;
}

/* "s" unless n is 1: "1 block", "2 blocks". */
static const char *legacy_s(size_t n) {
    return n == 1 ? "" : "s";
}

/* The peak passed the mark: one line, and the mark moves to the next 10 MB
 * step above the peak (one line even when one call jumps several steps). */
static MMI_COLD void legacy_mark_passed(void) {
    mmi_thread *t = mmi_tls;
    if (t == NULL) return;
    mmi_lock_take(&legacy_lock);
    size_t peak = mmi_process_peak_hint(t);
    bool passed = peak >= mmi_load(&legacy_mark);
    if (passed) mmi_store(&legacy_mark, (peak / LEGACY_MARK_STEP + 1) * LEGACY_MARK_STEP);
    mmi_lock_drop(&legacy_lock);
    if (passed)
        mmi_log(MM_LOG_INFO, "Memory peak passed %zu MB: %.2f MB", peak / LEGACY_MARK_STEP * 10,
                legacy_mb(peak));
}

/* After each allocation or resize that succeeded: a cheap check of the
 * calling thread's peak estimate (exact while one thread allocates). */
static inline void legacy_after_alloc(void) {
    mmi_thread *t = mmi_tls;
    if (legacy_on(MEMORY_REPORT_MINIMAL) && t != NULL &&
        MMI_UNLIKELY(mmi_process_peak_hint(t) >= mmi_load(&legacy_mark)))
        legacy_mark_passed();
}

/* ======================================================================
 * Allocation
 * ==================================================================== */

void init_memory_system(unsigned long max_blocks) {
    unsigned long n = atomic_fetch_add(&legacy_inits, 1) + 1;
    if (!legacy_on(MEMORY_REPORT_DETAILED)) return;
    if (n == 1)
        mmi_log(MM_LOG_INFO,
                "Memory system initialised (mimicmem %s): max_blocks %lu no longer limits "
                "anything; live blocks are limited only by available memory",
                MM_VERSION_STRING, max_blocks);
    else
        mmi_log(MM_LOG_INFO,
                "Memory system initialised again (call %lu): live blocks and figures are kept; "
                "max_blocks %lu no longer limits anything",
                n, max_blocks);
}

/* Mimic's own fatal path prints its message and exits with status 1; the
 * default error handler does the same for an error raised inside a legacy
 * call (a host handler, when set, decides instead). */
static inline int legacy_enter(void) {
    int old = mmi_fatal_status;
    mmi_fatal_status = 1;
    return old;
}

static inline void legacy_leave(int old) {
    mmi_fatal_status = old;
}

static void *legacy_alloc(size_t size, MemoryCategory category, const char *file, int line) {
    void *p = mmi_malloc_as(size, (int)category, false,
                            category == MEM_UNKNOWN ? "mymalloc" : "mymalloc_cat", file, line);
    if (p == NULL) return NULL;
    if (legacy_on(MEMORY_REPORT_DETAILED))
        mmi_log(MM_LOG_INFO, "Allocated %zu bytes in category %s at %p", size,
                mmi_cat_name((int)category), p);
    legacy_after_alloc();
    return p;
}

void *mymalloc_cat(size_t size, MemoryCategory category) {
    int old = legacy_enter();
    void *p = legacy_alloc(size, category, NULL, 0);
    legacy_leave(old);
    return p;
}

void *mymalloc(size_t size) {
    int old = legacy_enter();
    void *p = legacy_alloc(size, MEM_UNKNOWN, NULL, 0);
    legacy_leave(old);
    return p;
}

void *mm_legacy_malloc_at(size_t size, MemoryCategory category, const char *file, int line) {
    int old = legacy_enter();
    void *p = legacy_alloc(size, category, file, line);
    legacy_leave(old);
    return p;
}

/* move: myrealloc_cat (the block goes to cat); otherwise myrealloc. */
static void *legacy_resize(void *ptr, size_t size, int cat, bool move, const char *file,
                           int line) {
    const char *fn = move ? "myrealloc_cat" : "myrealloc";
    if (ptr == NULL) return legacy_alloc(size, move ? (MemoryCategory)cat : MEM_UNKNOWN, file, line);
    if (!legacy_on(MEMORY_REPORT_DETAILED)) {
        void *q = mmi_realloc_as(ptr, size, cat, !move, fn, file, line);
        if (q != NULL) legacy_after_alloc();
        return q;
    }
    /* The old size and category, read before the header changes; an invalid
     * ptr is left to the allocator, which reports it. */
    int known = mm_validate(ptr);
    size_t old_size = known ? mmi_hdr_size(mmi_hdr_of(ptr)) : 0;
    int old_cat = known ? mmi_hdr_cat(mmi_hdr_of(ptr)) : MM_CAT_INVALID;
    void *q = mmi_realloc_as(ptr, size, cat, !move, fn, file, line);
    if (q == NULL) return NULL;
    int new_cat = move ? cat : old_cat;
    if (new_cat == old_cat)
        mmi_log(MM_LOG_INFO, "Reallocated %zu bytes (was %zu) in category %s at %p", size, old_size,
                mmi_cat_name(new_cat), q);
    else
        mmi_log(MM_LOG_INFO, "Reallocated %zu bytes (was %zu in category %s) in category %s at %p",
                size, old_size, mmi_cat_name(old_cat), mmi_cat_name(new_cat), q);
    legacy_after_alloc();
    return q;
}

void *myrealloc(void *ptr, size_t size) {
    int old = legacy_enter();
    void *q = legacy_resize(ptr, size, MM_CAT_UNKNOWN, false, NULL, 0);
    legacy_leave(old);
    return q;
}

void *myrealloc_cat(void *ptr, size_t size, MemoryCategory category) {
    int old = legacy_enter();
    void *q = legacy_resize(ptr, size, (int)category, true, NULL, 0);
    legacy_leave(old);
    return q;
}

void *mm_legacy_realloc_at(void *ptr, size_t size, MemoryCategory category, int move,
                           const char *file, int line) {
    int old = legacy_enter();
    void *q = legacy_resize(ptr, size, (int)category, move != 0, file, line);
    legacy_leave(old);
    return q;
}

static void legacy_free(void *ptr) {
    if (!legacy_on(MEMORY_REPORT_DETAILED) || !mm_validate(ptr)) {
        mmi_free_as(ptr, "myfree"); /* an invalid ptr is reported there */
        return;
    }
    size_t size = mmi_hdr_size(mmi_hdr_of(ptr));
    int cat = mmi_hdr_cat(mmi_hdr_of(ptr));
    uintptr_t addr = (uintptr_t)ptr; /* printed after the free, never followed */
    mmi_free_as(ptr, "myfree");
    mmi_log(MM_LOG_INFO, "Freed %zu bytes in category %s at %p", size, mmi_cat_name(cat),
            (void *)addr);
}

void myfree(void *ptr) {
    if (ptr == NULL) return;
    int old = legacy_enter();
    legacy_free(ptr);
    legacy_leave(old);
}

/* ======================================================================
 * Walking context blocks (mmi_context_walk in context.c says how)
 *
 * The walk runs under the context registry lock (mmi_contexts_foreach): it
 * only records, and the lines are logged after the lock is released. Damage
 * that hits the info word of several neighbours in a row is named once, at
 * its start.
 * ==================================================================== */

typedef enum {
    LEGACY_LIVE,       /* a live block (recorded for the leak listing) */
    LEGACY_BAD_HEADER, /* a header that fails its seal, or disagrees with its position */
    LEGACY_BAD_CHUNK   /* a chunk header that is damaged: its blocks were not walked */
} legacy_what;

typedef struct {
    const void *ptr;  /* payload address (chunk payload for LEGACY_BAD_CHUNK) */
    size_t bytes;     /* requested size; 0 unless LEGACY_LIVE */
    int cat;          /* category id; MM_CAT_INVALID unless LEGACY_LIVE */
    legacy_what what; /* kind of record */
    size_t name;      /* index of its context's name in legacy_walk.names */
} legacy_block;

typedef struct {
    bool list_live;                 /* record every live block (not only damage) */
    legacy_block *recs;             /* records; system malloc */
    size_t nrecs, caprecs;          /* records stored, capacity */
    char (*names)[MM_NAME_MAX + 1]; /* names of the contexts with records; system malloc */
    size_t nnames, capnames;        /* names stored, capacity */
    size_t cur_name;                /* name index of the context being walked, or SIZE_MAX */
    const mm_context *cur;          /* context being walked */
    size_t contexts;                /* contexts walked */
    size_t live;                    /* live blocks seen */
    size_t damaged;                 /* damaged headers and chunks seen (all, named or not) */
    bool incomplete;                /* a record could not be stored (out of memory) */
    bool own_only;                  /* walk only the calling thread's contexts */
    uint64_t me;                    /* the calling thread's serial */
    size_t others;                  /* other threads' contexts, counted, not walked */
    size_t others_blocks;           /* their live blocks, from their figures */
} legacy_walk;

/* arr grown to twice *cap elements (64 at first), or NULL with arr kept. */
static void *legacy_grow(void *arr, size_t *cap, size_t elem) {
    size_t ncap = *cap ? *cap * 2 : 64;
    void *n = mmi_sys_realloc(arr, ncap * elem, MM_CAT_INVALID, NULL);
    if (n != NULL) *cap = ncap;
    return n;
}

static void legacy_record(legacy_walk *w, const void *ptr, size_t bytes, int cat,
                          legacy_what what) {
    if (what != LEGACY_LIVE && w->damaged++ >= LEGACY_MAX_NAMED) return;
    if (w->cur_name == SIZE_MAX) {
        if (w->nnames == w->capnames) {
            char(*n)[MM_NAME_MAX + 1] = legacy_grow(w->names, &w->capnames, sizeof *w->names);
            if (n == NULL) {
                w->incomplete = true;
                return;
            }
            w->names = n;
        }
        memcpy(w->names[w->nnames], w->cur->name, sizeof w->names[0]);
        w->cur_name = w->nnames++;
    }
    if (w->nrecs == w->caprecs) {
        legacy_block *n = legacy_grow(w->recs, &w->caprecs, sizeof *w->recs);
        if (n == NULL) {
            w->incomplete = true;
            return;
        }
        w->recs = n;
    }
    legacy_block b = {ptr, bytes, cat, what, w->cur_name};
    w->recs[w->nrecs++] = b;
}

static void legacy_slot(mmi_header *h, mmi_hdr_state st, mmi_slot_kind kind, void *arg) {
    legacy_walk *w = arg;
    const char *payload = (const char *)mmi_payload_of(h);
    if (kind == MMI_SLOT_BAD_CHUNK) {
        legacy_record(w, payload - MMI_HEADER_BYTES, 0, MM_CAT_INVALID, LEGACY_BAD_CHUNK);
    } else if (kind == MMI_SLOT_BAD_HEADER) {
        legacy_record(w, payload, 0, MM_CAT_INVALID, LEGACY_BAD_HEADER);
    } else if (st == MMI_HDR_LIVE) {
        w->live++;
        if (w->list_live) legacy_record(w, payload, mmi_hdr_size(h), mmi_hdr_cat(h), LEGACY_LIVE);
    }
}

static void legacy_walk_context(legacy_walk *w, const mm_context *ctx) {
    if (w->own_only && ctx->owner_serial != w->me) {
        /* another thread may be using it now: its blocks are counted from
         * its figures (read under the registry lock), never walked */
        w->others++;
        w->others_blocks += mmi_context_total(ctx).blocks;
        return;
    }
    w->contexts++;
    w->cur = ctx;
    w->cur_name = SIZE_MAX;
    mmi_arena_walk(&ctx->arena, ctx, legacy_slot, w);
    for (const mm_context *c = ctx->first_child; c; c = c->next_sibling) legacy_walk_context(w, c);
}

static void legacy_walk_top(const mm_context *ctx, void *arg) {
    legacy_walk_context(arg, ctx);
}

/* Walks the live contexts' blocks; own_only: only the contexts the calling
 * thread created (the leak listing, a reporting call that may run while
 * other threads work), the others are counted. */
static void legacy_walk_all(legacy_walk *w, bool list_live, bool own_only) {
    mmi_thread *t = mmi_tls;
    *w = (legacy_walk){.list_live = list_live, .cur_name = SIZE_MAX, .own_only = own_only,
                       .me = t ? t->serial : 0};
    mmi_contexts_read(legacy_walk_top, w);
}

static void legacy_walk_free(legacy_walk *w) {
    mmi_sys_free(w->recs);
    mmi_sys_free(w->names);
}

/* ======================================================================
 * Reports and checks
 * ==================================================================== */

void set_memory_reporting(int level) {
    if (level >= MEMORY_REPORT_NONE && level <= MEMORY_REPORT_DETAILED) {
        mmi_store(&legacy_level, level);
        return;
    }
    int old = mmi_load(&legacy_level);
    if (old > MEMORY_REPORT_NONE)
        mmi_log(MM_LOG_WARNING,
                "set_memory_reporting: level %d is not MEMORY_REPORT_NONE (0), MINIMAL (1) or "
                "DETAILED (2); the level stays %d",
                level, old);
}

static void legacy_brief_line(void) {
    mm_stats s = mm_stats_total(NULL);
    mmi_log(MM_LOG_INFO, "Memory: %.2f MB in use, %.2f MB peak, %zu live block%s",
            legacy_mb(s.bytes), legacy_mb(s.peak_bytes), s.blocks, legacy_s(s.blocks));
}

void print_memory_brief(void) {
    if (legacy_on(MEMORY_REPORT_MINIMAL)) legacy_brief_line();
}

void print_allocated_by_category(void) {
    if (!legacy_on(MEMORY_REPORT_MINIMAL)) return;
    bool any = false;
    int ncat = mm_category_count();
    for (int c = 0; c < ncat; c++) {
        mm_stats s = mm_stats_category(NULL, c);
        if (s.blocks == 0) continue;
        any = true;
        mmi_log(MM_LOG_INFO, "Memory in category %s: %.2f MB in %zu block%s", mmi_cat_name(c),
                legacy_mb(s.bytes), s.blocks, legacy_s(s.blocks));
    }
    if (!any) mmi_log(MM_LOG_INFO, "Memory by category: no live blocks");
}

void print_allocated(void) {
    if (!legacy_on(MEMORY_REPORT_MINIMAL)) return;
    mm_stats s = mm_stats_total(NULL);
    mmi_log(MM_LOG_INFO, "Memory in use: %.2f MB in %zu block%s", legacy_mb(s.bytes), s.blocks,
            legacy_s(s.blocks));
    if (legacy_on(MEMORY_REPORT_DETAILED)) print_allocated_by_category();
}

/* DETAILED leak listing: one line per live block of the calling thread's
 * contexts; the blocks of other threads' contexts and the process-wide rest
 * (total_blocks minus those) are counted in a line each. */
static void legacy_list_leaks(size_t total_blocks) {
    legacy_walk w;
    legacy_walk_all(&w, true, true);
    for (size_t i = 0; i < w.nrecs; i++) {
        const legacy_block *b = &w.recs[i];
        if (b->what == LEGACY_LIVE)
            mmi_log(MM_LOG_WARNING, "Leaked block %p: %zu bytes in category %s, context \"%s\"",
                    b->ptr, b->bytes, mmi_cat_name(b->cat), w.names[b->name]);
    }
    if (w.incomplete)
        mmi_log(MM_LOG_WARNING, "Leaked blocks: the listing above is incomplete (out of memory)");
    if (w.others > 0)
        mmi_log(MM_LOG_WARNING,
                "Leaked blocks not listed: %zu block%s in %zu context%s of other threads, counted "
                "above; a context's blocks are listed by the thread that created it",
                w.others_blocks, legacy_s(w.others_blocks), w.others, legacy_s(w.others));
    size_t listed = w.live + w.others_blocks;
    size_t process = total_blocks > listed ? total_blocks - listed : 0;
    if (process > 0)
        mmi_log(MM_LOG_WARNING,
                "Leaked blocks not listed: %zu process-wide block%s (mymalloc, mm_malloc), "
                "counted above; only context blocks can be listed",
                process, legacy_s(process));
    legacy_walk_free(&w);
}

void check_memory_leaks(void) {
    if (!legacy_on(MEMORY_REPORT_MINIMAL)) return;
    mm_stats s = mm_stats_total(NULL);
    if (s.blocks == 0) {
        mmi_log(MM_LOG_INFO, "No memory leaks detected");
        return;
    }
    mmi_log(MM_LOG_WARNING, "Memory leak detected: %zu block%s (%.2f MB) still allocated", s.blocks,
            legacy_s(s.blocks), legacy_mb(s.bytes));
    int ncat = mm_category_count();
    for (int c = 0; c < ncat; c++) {
        mm_stats cs = mm_stats_category(NULL, c);
        if (cs.blocks == 0) continue;
        mmi_log(MM_LOG_WARNING, "Leaked in category %s: %zu block%s (%.2f MB)", mmi_cat_name(c),
                cs.blocks, legacy_s(cs.blocks), legacy_mb(cs.bytes));
    }
    if (legacy_on(MEMORY_REPORT_DETAILED)) legacy_list_leaks(s.blocks);
}

int validate_memory_block(void *ptr) {
    return mm_validate(ptr) ? 1 : 0;
}

int validate_all_memory(void) {
    legacy_walk w;
    legacy_walk_all(&w, false, false);
    bool report = legacy_on(MEMORY_REPORT_MINIMAL);
    if (w.damaged == 0) {
        if (report)
            mmi_log(MM_LOG_INFO,
                    "Memory check passed: every header intact (%zu live block%s in %zu context%s "
                    "walked; process-wide blocks are checked when freed or reallocated)",
                    w.live, legacy_s(w.live), w.contexts, legacy_s(w.contexts));
        legacy_walk_free(&w);
        return 1;
    }
    if (report) {
        mmi_log(MM_LOG_WARNING, "Memory check failed: %zu damaged header%s (%zu context%s walked)",
                w.damaged, legacy_s(w.damaged), w.contexts, legacy_s(w.contexts));
        for (size_t i = 0; i < w.nrecs; i++) {
            const legacy_block *b = &w.recs[i];
            if (b->what == LEGACY_BAD_HEADER)
                mmi_log(MM_LOG_WARNING, "Damaged block header at %p in context \"%s\"", b->ptr,
                        w.names[b->name]);
            else
                mmi_log(MM_LOG_WARNING,
                        "Damaged chunk header at %p in context \"%s\": the blocks after it were "
                        "not checked",
                        b->ptr, w.names[b->name]);
        }
        if (w.damaged > w.nrecs)
            mmi_log(MM_LOG_WARNING, "... and %zu more damaged header%s, not named",
                    w.damaged - w.nrecs, legacy_s(w.damaged - w.nrecs));
    }
    legacy_walk_free(&w);
    return 0;
}

void cleanup_memory_system(void) {
    if (legacy_on(MEMORY_REPORT_MINIMAL)) legacy_brief_line();
    mm_trim();
    mmi_store(&legacy_inits, 0);
}
