/* Mimic's memory API (compat/memory.h) on top of mimicmem: the allocator's
 * entry points under Mimic's names (errors name mymalloc, myfree, ...) plus
 * its reporting levels; reports come from the process statistics (relative to
 * the figures at init after a cleanup: the legacy tally);
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
static mmi_lock legacy_lock = MMI_LOCK_INIT(MMI_RANK_LEGACY, "legacy mark"); /* serialises a mark
                                                         crossing and the start of a tally */

/* The legacy tally: what the print and check calls report. Until the first
 * cleanup it is the process figures. cleanup_memory_system closes it; the
 * next init_memory_system (or legacy allocation, as the original's implicit
 * init) starts a fresh one: from then on the figures are the process figures
 * minus those at the start (per category, never below 0), so a test's leaks
 * are not reported again by the next test. Mimic's tracker forgot its table
 * at init the same way. */
static _Atomic bool legacy_closed;        /* cleanup ran: the next init starts a tally */
static _Atomic bool legacy_fresh;         /* a fresh tally was started (figures are relative) */
static _Atomic int64_t legacy_base_total; /* process bytes at its start */
static size_t legacy_base_peak;           /* process peak at its start; under legacy_lock */
static int64_t legacy_base_bytes[MM_CATEGORY_MAX];  /* per category at its start; legacy_lock */
static int64_t legacy_base_blocks[MM_CATEGORY_MAX]; /* per category at its start; legacy_lock */
static _Atomic int64_t legacy_peak; /* the tally's high-water mark, as seen so far */

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

/* The tally's peak reached peak: when it passed the mark, one line, and the
 * mark moves to the next 10 MB step above the peak (one line even when one
 * call jumps several steps). */
static MMI_COLD void legacy_mark_passed(size_t peak) {
    mmi_lock_take(&legacy_lock);
    bool passed = peak >= mmi_load(&legacy_mark);
    if (passed) mmi_store(&legacy_mark, (peak / LEGACY_MARK_STEP + 1) * LEGACY_MARK_STEP);
    mmi_lock_drop(&legacy_lock);
    if (passed)
        mmi_log(MM_LOG_INFO, "Memory peak passed %zu MB: %.2f MB", peak / LEGACY_MARK_STEP * 10,
                legacy_mb(peak));
}

/* After a fresh start: the calling thread's view of the process bytes (exact
 * while one thread allocates) minus the base is the tally; its peak is kept
 * here, since the process peak may lie before the start. */
static MMI_COLD void legacy_after_alloc_fresh(mmi_thread *t) {
    int64_t v = mmi_process_bytes_view(t, -1) - mmi_load(&legacy_base_total);
    if (v <= 0) return;
    mmi_atomic_max(&legacy_peak, v);
    if (legacy_on(MEMORY_REPORT_MINIMAL) && (size_t)v >= mmi_load(&legacy_mark))
        legacy_mark_passed((size_t)v);
}

/* After each allocation or resize that succeeded: a cheap check of the
 * calling thread's view of the process bytes (exact while one thread
 * allocates): a mark is passed while the figure rises, so the view now is
 * the high-water mark at that moment. */
static inline void legacy_after_alloc(void) {
    mmi_thread *t = mmi_tls;
    if (t == NULL) return;
    if (MMI_UNLIKELY(mmi_load(&legacy_fresh))) {
        legacy_after_alloc_fresh(t);
        return;
    }
    if (!legacy_on(MEMORY_REPORT_MINIMAL)) return;
    int64_t v = mmi_process_bytes_view(t, -1);
    if (MMI_UNLIKELY(v > 0 && (size_t)v >= mmi_load(&legacy_mark))) legacy_mark_passed((size_t)v);
}

/* Starts a fresh tally (after a cleanup): the process figures now are its
 * zero. Stats are read under legacy_lock (a higher rank than the stats lock). */
static MMI_COLD void legacy_open(void) {
    mmi_lock_take(&legacy_lock);
    if (mmi_load(&legacy_closed)) {
        int ncat = mm_category_count();
        for (int c = 0; c < MM_CATEGORY_MAX; c++) {
            mm_stats s = {0, 0, 0, 0, 0};
            if (c < ncat) s = mmi_process_stats(c);
            legacy_base_bytes[c] = (int64_t)s.bytes;
            legacy_base_blocks[c] = (int64_t)s.blocks;
        }
        mm_stats tot = mmi_process_stats(-1);
        mmi_store(&legacy_base_total, (int64_t)tot.bytes);
        legacy_base_peak = tot.peak_bytes;
        mmi_store(&legacy_peak, 0);
        mmi_store(&legacy_mark, LEGACY_MARK_STEP);
        mmi_store(&legacy_fresh, true);
        mmi_store(&legacy_closed, false);
    }
    mmi_lock_drop(&legacy_lock);
}

/* now minus base, never below 0 (a block from before the start that is freed
 * after it takes its bytes off the tally). */
static size_t legacy_minus(size_t now, int64_t base) {
    return (int64_t)now > base ? (size_t)((int64_t)now - base) : 0;
}

/* The tally's figures of category c: bytes and blocks. */
static mm_stats legacy_category(int c) {
    mm_stats s = mm_stats_category(NULL, c);
    if (!mmi_load(&legacy_fresh)) return s;
    mmi_lock_take(&legacy_lock);
    s.bytes = legacy_minus(s.bytes, legacy_base_bytes[c]);
    s.blocks = legacy_minus(s.blocks, legacy_base_blocks[c]);
    mmi_lock_drop(&legacy_lock);
    return s;
}

/* The tally's total: bytes, blocks and peak. After a fresh start, bytes and
 * blocks are the sums of the categories' figures, and the peak is the largest
 * of: the peaks seen after legacy allocations, the bytes now, and the process
 * peak less the base when the process passed its old peak after the start. */
static mm_stats legacy_total(void) {
    mm_stats s = mm_stats_total(NULL);
    if (!mmi_load(&legacy_fresh)) return s;
    size_t bytes = 0, blocks = 0;
    int ncat = mm_category_count();
    for (int c = 0; c < ncat; c++) {
        mm_stats cs = legacy_category(c);
        bytes += cs.bytes;
        blocks += cs.blocks;
    }
    mmi_lock_take(&legacy_lock);
    size_t base_peak = legacy_base_peak;
    int64_t base = mmi_load(&legacy_base_total);
    mmi_lock_drop(&legacy_lock);
    int64_t peak = (int64_t)bytes;
    if (s.peak_bytes > base_peak) {
        int64_t p = (int64_t)s.peak_bytes - base;
        if (p > peak) peak = p;
    }
    mmi_atomic_max(&legacy_peak, peak);
    mm_stats t = {bytes, (size_t)mmi_load(&legacy_peak), blocks, s.allocs, s.frees};
    return t;
}

/* ======================================================================
 * Allocation
 * ==================================================================== */

void init_memory_system(unsigned long max_blocks) {
    if (mmi_load(&legacy_closed)) legacy_open();
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
    if (MMI_UNLIKELY(mmi_load(&legacy_closed))) legacy_open(); /* the original's implicit init */
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
    void *p = legacy_alloc(size, category, MMI_CALLER(), 0);
    legacy_leave(old);
    return p;
}

void *mymalloc(size_t size) {
    int old = legacy_enter();
    void *p = legacy_alloc(size, MEM_UNKNOWN, MMI_CALLER(), 0);
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
    size_t old_size = known ? mm_block_size(ptr) : 0; /* (a header a tool watches: opened there) */
    int old_cat = known ? mm_block_category(ptr) : MM_CAT_INVALID;
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
    void *q = legacy_resize(ptr, size, MM_CAT_UNKNOWN, false, MMI_CALLER(), 0);
    legacy_leave(old);
    return q;
}

void *myrealloc_cat(void *ptr, size_t size, MemoryCategory category) {
    int old = legacy_enter();
    void *q = legacy_resize(ptr, size, (int)category, true, MMI_CALLER(), 0);
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
    size_t size = mm_block_size(ptr); /* validated; a header a tool watches is opened there */
    int cat = mm_block_category(ptr);
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
    size_t ctx_blocks;              /* live blocks of every context, from their figures */
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
    legacy_walk *w = arg;
    w->ctx_blocks += mmi_context_total(ctx).blocks; /* with its descendants */
    legacy_walk_context(w, ctx);
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

/* The explicit reports (print_*, check_memory_leaks) print at every level,
 * as Mimic's tracker did; the level governs only the automatic lines (init,
 * cleanup, the peak marks, per-call lines at DETAILED). */
static void legacy_brief_line(void) {
    mm_stats s = legacy_total();
    mmi_log(MM_LOG_INFO, "Memory: %.2f MB in use, %.2f MB peak, %zu live block%s",
            legacy_mb(s.bytes), legacy_mb(s.peak_bytes), s.blocks, legacy_s(s.blocks));
}

void print_memory_brief(void) {
    legacy_brief_line();
}

void print_allocated_by_category(void) {
    bool any = false;
    int ncat = mm_category_count();
    for (int c = 0; c < ncat; c++) {
        mm_stats s = legacy_category(c);
        if (s.blocks == 0) continue;
        any = true;
        mmi_log(MM_LOG_INFO, "Memory in category %s: %.2f MB in %zu block%s", mmi_cat_name(c),
                legacy_mb(s.bytes), s.blocks, legacy_s(s.blocks));
    }
    if (!any) mmi_log(MM_LOG_INFO, "Memory by category: no live blocks");
}

void print_allocated(void) {
    mm_stats s = legacy_total();
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
    if (mmi_load(&legacy_fresh) && listed > total_blocks)
        mmi_log(MM_LOG_WARNING,
                "Leaked blocks: the listing above may include up to %zu context block%s from "
                "before the last init_memory_system after cleanup_memory_system (the count "
                "above starts there)",
                listed - total_blocks, legacy_s(listed - total_blocks));
    legacy_walk_free(&w);
}

void check_memory_leaks(void) {
    mm_stats s = legacy_total();
    if (s.blocks == 0) {
        mmi_log(MM_LOG_INFO, "No memory leaks detected");
        return;
    }
    mmi_log(MM_LOG_WARNING, "Memory leak detected: %zu block%s (%.2f MB) still allocated", s.blocks,
            legacy_s(s.blocks), legacy_mb(s.bytes));
    int ncat = mm_category_count();
    for (int c = 0; c < ncat; c++) {
        mm_stats cs = legacy_category(c);
        if (cs.blocks == 0) continue;
        mmi_log(MM_LOG_WARNING, "Leaked in category %s: %zu block%s (%.2f MB)", mmi_cat_name(c),
                cs.blocks, legacy_s(cs.blocks), legacy_mb(cs.bytes));
    }
    if (legacy_on(MEMORY_REPORT_DETAILED)) legacy_list_leaks(s.blocks);
}

int validate_memory_block(void *ptr) {
    return mm_validate(ptr) ? 1 : 0;
}

/* What it says is what it did: context blocks are walked header by header;
 * process-wide blocks cannot be enumerated (there is no table), so they are
 * only counted, from the process figures. The pass line is printed at
 * MINIMAL and above, the damage at every level (as Mimic's tracker did). */
int validate_all_memory(void) {
    legacy_walk w;
    legacy_walk_all(&w, false, false);
    size_t all = mm_stats_total(NULL).blocks;
    size_t process = all > w.ctx_blocks ? all - w.ctx_blocks : 0;
    if (w.damaged == 0) {
        if (legacy_on(MEMORY_REPORT_MINIMAL))
            mmi_log(MM_LOG_INFO,
                    "Memory check passed: %zu live context block%s in %zu context%s walked, "
                    "every header intact; %zu process-wide block%s counted, not walked (each "
                    "is checked when freed or reallocated)",
                    w.live, legacy_s(w.live), w.contexts, legacy_s(w.contexts), process,
                    legacy_s(process));
        legacy_walk_free(&w);
        return 1;
    }
    mmi_log(MM_LOG_WARNING,
            "Memory check failed: %zu damaged header%s (%zu context%s walked; %zu process-wide "
            "block%s counted, not walked)",
            w.damaged, legacy_s(w.damaged), w.contexts, legacy_s(w.contexts), process,
            legacy_s(process));
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
        mmi_log(MM_LOG_WARNING, "... and %zu more damaged header%s, not named", w.damaged - w.nrecs,
                legacy_s(w.damaged - w.nrecs));
    legacy_walk_free(&w);
    return 0;
}

void cleanup_memory_system(void) {
    if (legacy_on(MEMORY_REPORT_MINIMAL)) legacy_brief_line();
    mm_trim();
    mmi_store(&legacy_inits, 0);
    mmi_store(&legacy_closed, true); /* the next init starts a fresh tally */
    /* the calling thread's statistics record goes too (its figures fold into
     * the process sums), so a leak checker run after cleanup finds nothing of
     * ours still reachable; a later call creates a new one */
    mmi_thread_release();
}
