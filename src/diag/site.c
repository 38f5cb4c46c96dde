/* Allocation sites: one record per (file, line, category) seen by an _at call
 * while site recording is on, with live bytes, live blocks, peak and
 * allocations. Records are found through an open-addressing table keyed by
 * the __FILE__ pointer, the line and the category; lookups take no lock,
 * inserts take site_lock. Records are never removed, so a block's tail may
 * point at its record for as long as the block lives. The legacy entry
 * points name their sites by return address instead ("module+0xOFFSET",
 * interned here, see mmi_site_caller): their names cannot be macros. */
#define _GNU_SOURCE      /* dl_iterate_phdr and readlink (glibc) */
#define _DARWIN_C_SOURCE /* dladdr beside _POSIX_C_SOURCE on macOS */
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) || defined(__FreeBSD__)
#define SITE_PHDR 1 /* modules found with dl_iterate_phdr (in the C library) */
#include <link.h>
#include <unistd.h>
#elif defined(__APPLE__)
#define SITE_DLADDR 1 /* modules found with dladdr (in libSystem) */
#include <dlfcn.h>
#endif

struct mmi_site {
    const char *file;       /* __FILE__ of the call; NULL: unknown site */
    int line;               /* __LINE__ of the call */
    int cat;                /* category of its blocks */
    _Atomic int64_t bytes;  /* live bytes (any thread adds, relaxed) */
    _Atomic int64_t blocks; /* live blocks */
    _Atomic int64_t peak;   /* high-water mark of bytes */
    _Atomic uint64_t allocs; /* cumulative allocations */
};

#define SITE_SLOTS ((size_t)2 * MM_SITES_MAX) /* table slots: at most half full */

static mmi_lock site_lock = MMI_LOCK_INIT(MMI_RANK_SITES, "sites");
/* the last record collects every site beyond MM_SITES_MAX */
static mmi_site site_recs[MM_SITES_MAX + 1] = {[MM_SITES_MAX] = {.file = "(other sites)"}};
static _Atomic int site_count;               /* records in use, below MM_SITES_MAX */
static _Atomic(mmi_site *) site_table[SITE_SLOTS]; /* release-stored after the record */

static size_t site_hash(const char *file, int line, int cat) {
    uint64_t x = (uint64_t)(uintptr_t)file ^ ((uint64_t)(unsigned)line << 32) ^ (uint64_t)cat;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 40) % SITE_SLOTS;
}

static bool site_is(const mmi_site *s, const char *file, int line, int cat) {
    return s->file == file && s->line == line && s->cat == cat;
}

mmi_site *mmi_site_get(const char *file, int line, int cat) {
    if (file == NULL) line = 0;
    size_t i = site_hash(file, line, cat);
    for (;;) { /* lock-free probe */
        mmi_site *s = atomic_load_explicit(&site_table[i], memory_order_acquire);
        if (s == NULL) break;
        if (site_is(s, file, line, cat)) return s;
        i = (i + 1) % SITE_SLOTS;
    }
    mmi_lock_take(&site_lock);
    mmi_site *found = NULL;
    for (;;) { /* again under the lock: another thread may have inserted it */
        mmi_site *s = atomic_load_explicit(&site_table[i], memory_order_acquire);
        if (s == NULL) break;
        if (site_is(s, file, line, cat)) {
            found = s;
            break;
        }
        i = (i + 1) % SITE_SLOTS;
    }
    if (found == NULL) {
        int n = atomic_load_explicit(&site_count, memory_order_relaxed); /* under site_lock */
        if (n < MM_SITES_MAX) {
            found = &site_recs[n];
            found->file = file;
            found->line = line;
            found->cat = cat;
            /* release: a reader that sees the count or the slot sees the fields */
            atomic_store_explicit(&site_table[i], found, memory_order_release);
            atomic_store_explicit(&site_count, n + 1, memory_order_release);
        } else {
            found = &site_recs[MM_SITES_MAX];
        }
    }
    mmi_lock_drop(&site_lock);
    return found;
}

static void site_max(_Atomic int64_t *dst, int64_t v) {
    int64_t cur = mmi_load(dst);
    while (v > cur &&
           !atomic_compare_exchange_weak_explicit(dst, &cur, v, MMI_RELAXED, MMI_RELAXED)) {
    }
}

void mmi_site_alloc(mmi_site *s, size_t bytes) {
    int64_t now = atomic_fetch_add_explicit(&s->bytes, (int64_t)bytes, MMI_RELAXED) + (int64_t)bytes;
    atomic_fetch_add_explicit(&s->blocks, 1, MMI_RELAXED);
    atomic_fetch_add_explicit(&s->allocs, 1, MMI_RELAXED);
    site_max(&s->peak, now);
}

void mmi_site_free(mmi_site *s, size_t bytes) {
    atomic_fetch_sub_explicit(&s->bytes, (int64_t)bytes, MMI_RELAXED);
    atomic_fetch_sub_explicit(&s->blocks, 1, MMI_RELAXED);
}

void mmi_site_resize(mmi_site *s, size_t old_bytes, size_t new_bytes) {
    int64_t d = (int64_t)new_bytes - (int64_t)old_bytes;
    int64_t now = atomic_fetch_add_explicit(&s->bytes, d, MMI_RELAXED) + d;
    if (d > 0) site_max(&s->peak, now);
}

void mmi_site_where(const mmi_site *s, const char **file, int *line) {
    *file = s->file;
    *line = s->line;
}

/* ======================================================================
 * Sites named by return address (the legacy entry points)
 * Rule: one interned name per return address, never removed; lookups take
 * no lock, inserts take site_lock. The name is resolved once per address.
 * ==================================================================== */

#define SITE_NAME_MAX 64 /* bytes of a name: module basename (40 at most), "+0x", offset */

typedef struct {
    const void *pc;            /* return address */
    char name[SITE_NAME_MAX];  /* "module+0xOFFSET" (offset of pc - 1, the call) */
} site_pc;

static site_pc site_pcs[MM_SITES_MAX];              /* records; filled under site_lock */
static _Atomic int site_npcs;                       /* records in use */
static _Atomic(site_pc *) site_pc_table[SITE_SLOTS]; /* release-stored after the record */

/* The last path component of path. */
static const char *site_base(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

#if defined(SITE_PHDR)
typedef struct {
    uintptr_t pc;     /* address looked for */
    uintptr_t bias;   /* out: load bias of its module (addr2line takes pc - bias) */
    const char *path; /* out: the module's path; "" is the main program */
    bool found;       /* out: a loaded segment holds pc */
} site_find;

static int site_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    site_find *f = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        if (ph->p_type == PT_LOAD && f->pc >= lo && f->pc - lo < (uintptr_t)ph->p_memsz) {
            f->bias = (uintptr_t)info->dlpi_addr;
            f->path = info->dlpi_name ? info->dlpi_name : "";
            f->found = true;
            return 1;
        }
    }
    return 0;
}
#endif

/* Writes the name of call address pc into buf: "module+0xOFFSET", where
 * OFFSET is what addr2line (Linux) takes with -e module; "0xADDRESS" when the
 * module is unknown. */
static void site_name_of(uintptr_t pc, char *buf, size_t len) {
#if defined(SITE_PHDR)
    site_find f = {pc, 0, "", false};
    dl_iterate_phdr(site_phdr_cb, &f);
    if (f.found && f.path[0] != '\0') { /* a shared library */
        snprintf(buf, len, "%.40s+0x%jx", site_base(f.path), (uintmax_t)(pc - f.bias));
        return;
    }
    if (f.found) { /* the main program: its name from /proc */
        char exe[512];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? (size_t)n : 0] = '\0';
        snprintf(buf, len, "%.40s+0x%jx", n > 0 ? site_base(exe) : "program",
                 (uintmax_t)(pc - f.bias));
        return;
    }
#elif defined(SITE_DLADDR)
    Dl_info info;
    if (dladdr((const void *)pc, &info) != 0 && info.dli_fname != NULL) {
        snprintf(buf, len, "%.40s+0x%jx", site_base(info.dli_fname),
                 (uintmax_t)(pc - (uintptr_t)info.dli_fbase));
        return;
    }
#endif
    snprintf(buf, len, "0x%jx", (uintmax_t)pc);
}

static size_t site_pc_hash(const void *pc) {
    uint64_t x = (uint64_t)(uintptr_t)pc * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 40) % SITE_SLOTS;
}

#ifdef MM_WITH_SITES
/* A library built with MM_WITH_SITES records sites from the first legacy
 * call on, unless MIMICMEM_SITES says otherwise (it was read at first use). */
static _Atomic bool site_default_done;
static MMI_COLD void site_default_on(void) {
    if (atomic_exchange(&site_default_done, true)) return;
    if (getenv("MIMICMEM_SITES") == NULL) mm_set_sites(1);
}
#endif

const char *mmi_site_caller(const void *pc) {
#ifdef MM_WITH_SITES
    if (MMI_UNLIKELY(!mmi_load(&site_default_done))) site_default_on();
#endif
    if (pc == NULL || !(mmi_load(&mmi_diag) & MMI_DIAG_SITES)) return NULL;
    size_t i = site_pc_hash(pc);
    for (;;) { /* lock-free probe */
        site_pc *s = atomic_load_explicit(&site_pc_table[i], memory_order_acquire);
        if (s == NULL) break;
        if (s->pc == pc) return s->name;
        i = (i + 1) % SITE_SLOTS;
    }
    char name[SITE_NAME_MAX];
    site_name_of((uintptr_t)pc - 1, name, sizeof name); /* resolved outside the lock */
    const char *found = NULL;
    mmi_lock_take(&site_lock);
    for (;;) { /* again under the lock: another thread may have inserted it */
        site_pc *s = atomic_load_explicit(&site_pc_table[i], memory_order_acquire);
        if (s == NULL) break;
        if (s->pc == pc) {
            found = s->name;
            break;
        }
        i = (i + 1) % SITE_SLOTS;
    }
    int n = atomic_load_explicit(&site_npcs, memory_order_relaxed); /* under site_lock */
    if (found == NULL && n < MM_SITES_MAX) {
        site_pc *s = &site_pcs[n];
        s->pc = pc;
        memcpy(s->name, name, sizeof name);
        atomic_store_explicit(&site_pc_table[i], s, memory_order_release);
        atomic_store_explicit(&site_npcs, n + 1, memory_order_relaxed);
        found = s->name;
    }
    mmi_lock_drop(&site_lock);
    return found; /* NULL once MM_SITES_MAX addresses are known: the unknown site */
}

int mm_set_sites(int on) {
    mmi_first_use();
    return (mmi_diag_set(MMI_DIAG_SITES, on != 0) & MMI_DIAG_SITES) != 0;
}

/* Largest live bytes first, then largest peak, then file and line. */
static int site_order(const void *a, const void *b) {
    const mm_site_stats *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    if (x->peak_bytes != y->peak_bytes) return x->peak_bytes < y->peak_bytes ? 1 : -1;
    if (x->file != y->file) {
        if (x->file == NULL) return 1;
        if (y->file == NULL) return -1;
        int c = strcmp(x->file, y->file);
        if (c != 0) return c;
    }
    return x->line - y->line;
}

size_t mm_sites(mm_site_stats *out, size_t max) {
    int n = atomic_load_explicit(&site_count, memory_order_acquire);
    bool other = mmi_load(&site_recs[MM_SITES_MAX].allocs) != 0;
    size_t total = (size_t)n + (other ? 1 : 0);
    if (out == NULL || max == 0) return total;
    mm_site_stats *all = mmi_sys_malloc(total * sizeof *all + 1, MM_CAT_INVALID, NULL);
    if (all == NULL) {
        mmi_error_oom(total * sizeof *all, MM_CAT_UTILITY, NULL, "mm_sites");
        return 0;
    }
    for (size_t i = 0; i < total; i++) {
        const mmi_site *s = i < (size_t)n ? &site_recs[i] : &site_recs[MM_SITES_MAX];
        int64_t bytes = mmi_load(&s->bytes), blocks = mmi_load(&s->blocks);
        mm_site_stats st = {s->file,
                            s->line,
                            s->cat,
                            bytes > 0 ? (size_t)bytes : 0,
                            blocks > 0 ? (size_t)blocks : 0,
                            (size_t)mmi_load(&s->peak),
                            mmi_load(&s->allocs)};
        all[i] = st;
    }
    qsort(all, total, sizeof *all, site_order);
    memcpy(out, all, (max < total ? max : total) * sizeof *out);
    mmi_sys_free(all);
    return total;
}
