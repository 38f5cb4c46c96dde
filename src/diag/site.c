/* Allocation sites: one record per (file, line, category) seen by an _at call
 * while site recording is on, with live bytes, live blocks, peak and
 * allocations. Records are found through an open-addressing table keyed by
 * the __FILE__ pointer, the line and the category; lookups take no lock,
 * inserts take site_lock. Records are never removed, so a block's tail may
 * point at its record for as long as the block lives. Sites beyond
 * MM_SITES_MAX are counted in one "(other sites)" record per category, so
 * every category's figures stay whole. The legacy entry
 * points name their sites by return address instead ("module+0xOFFSET",
 * interned here with the module's full path, see mmi_site_caller): their
 * names cannot be macros; the report layer turns them into file:line. */
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
static mmi_site site_recs[MM_SITES_MAX];
/* Sites beyond MM_SITES_MAX, one record per category (48 KiB of zero pages
 * until used); the name is an array, not a literal, so its address is ours
 * alone and a caller's "(other sites)" string is never taken for it. */
static const char site_other_name[] = "(other sites)";
static mmi_site site_other[MM_CATEGORY_MAX];
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

/* The overflow record of cat, named on its first use (site_lock held). */
static mmi_site *site_other_of(int cat) {
    mmi_site *o = &site_other[cat];
    if (o->file == NULL) {
        o->file = site_other_name;
        o->cat = cat;
    }
    return o;
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
            found = site_other_of(cat);
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

mmi_site *mmi_site_recat(const mmi_site *s, int cat) {
    if (s->file != site_other_name) return mmi_site_get(s->file, s->line, cat);
    mmi_lock_take(&site_lock);
    mmi_site *o = site_other_of(cat);
    mmi_lock_drop(&site_lock);
    return o;
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
#define SITE_MODS_MAX 16    /* module paths kept for the report layer's addr2line */
#define SITE_PATH_MAX 1024  /* bytes of a kept path; a longer one is not kept */

typedef struct {
    const void *pc;            /* return address */
    char name[SITE_NAME_MAX];  /* "module+0xOFFSET" (offset of pc - 1, the call) */
    int mod;                   /* its module in site_mods; -1: path unknown or not kept */
    uintptr_t offset;          /* OFFSET: pc - 1 minus the module's load bias */
} site_pc;

/* The full paths of the modules named (the basename in a name is not enough
 * to run addr2line); appended under site_lock before the first record that
 * uses one is published, never changed. */
static char site_mods[SITE_MODS_MAX][SITE_PATH_MAX];
static int site_nmods; /* under site_lock */

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
 * module is unknown. path (SITE_PATH_MAX bytes) gets the module's full path
 * ("" when unknown or too long) and *offset OFFSET. */
static void site_name_of(uintptr_t pc, char *buf, size_t len, char *path, uintptr_t *offset) {
    path[0] = '\0';
    *offset = pc;
#if defined(SITE_PHDR)
    site_find f = {pc, 0, "", false};
    dl_iterate_phdr(site_phdr_cb, &f);
    if (f.found && f.path[0] != '\0') { /* a shared library */
        *offset = pc - f.bias;
        if (strlen(f.path) < SITE_PATH_MAX) memcpy(path, f.path, strlen(f.path) + 1);
        snprintf(buf, len, "%.40s+0x%jx", site_base(f.path), (uintmax_t)*offset);
        return;
    }
    if (f.found) { /* the main program: its name from /proc */
        ssize_t n = readlink("/proc/self/exe", path, SITE_PATH_MAX - 1);
        path[n > 0 ? (size_t)n : 0] = '\0';
        *offset = pc - f.bias;
        snprintf(buf, len, "%.40s+0x%jx", n > 0 ? site_base(path) : "program",
                 (uintmax_t)*offset);
        if (n >= SITE_PATH_MAX - 1) path[0] = '\0'; /* perhaps cut: not kept */
        return;
    }
#elif defined(SITE_DLADDR)
    Dl_info info;
    if (dladdr((const void *)pc, &info) != 0 && info.dli_fname != NULL) {
        *offset = pc - (uintptr_t)info.dli_fbase;
        if (strlen(info.dli_fname) < SITE_PATH_MAX)
            memcpy(path, info.dli_fname, strlen(info.dli_fname) + 1);
        snprintf(buf, len, "%.40s+0x%jx", site_base(info.dli_fname), (uintmax_t)*offset);
        return;
    }
#endif
    snprintf(buf, len, "0x%jx", (uintmax_t)pc);
}

/* The index of path in site_mods, added if new; -1 when path is "" or the
 * table is full. Under site_lock. */
static int site_mod_of(const char *path) {
    if (path[0] == '\0') return -1;
    for (int m = 0; m < site_nmods; m++)
        if (strcmp(site_mods[m], path) == 0) return m;
    if (site_nmods == SITE_MODS_MAX) return -1;
    memcpy(site_mods[site_nmods], path, strlen(path) + 1);
    return site_nmods++;
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
    char name[SITE_NAME_MAX], path[SITE_PATH_MAX];
    uintptr_t offset;
    site_name_of((uintptr_t)pc - 1, name, sizeof name, path, &offset); /* outside the lock */
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
        s->mod = site_mod_of(path);
        s->offset = offset;
        atomic_store_explicit(&site_pc_table[i], s, memory_order_release);
        atomic_store_explicit(&site_npcs, n + 1, memory_order_relaxed);
        found = s->name;
    }
    mmi_lock_drop(&site_lock);
    return found; /* NULL once MM_SITES_MAX addresses are known: the unknown site */
}

bool mmi_site_caller_where(const char *name, const char **module, uintptr_t *offset) {
    /* a name of a record? compared as integers: name may point anywhere */
    uintptr_t a = (uintptr_t)name, lo = (uintptr_t)site_pcs;
    if (name == NULL || a < lo || a >= lo + sizeof site_pcs) return false;
    const site_pc *s = &site_pcs[(a - lo) / sizeof *s];
    if (s->name != name || s->mod < 0) return false;
    *module = site_mods[s->mod]; /* written before the record was published */
    *offset = s->offset;
    return true;
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

/* One entry of mm_sites: the file and category of an overflow record are
 * given by its place, so its fields written under site_lock are not read. */
static mm_site_stats site_stats(const mmi_site *s, int other_cat) {
    int64_t bytes = mmi_load(&s->bytes), blocks = mmi_load(&s->blocks);
    mm_site_stats st = {other_cat < 0 ? s->file : site_other_name,
                        other_cat < 0 ? s->line : 0,
                        other_cat < 0 ? s->cat : other_cat,
                        bytes > 0 ? (size_t)bytes : 0,
                        blocks > 0 ? (size_t)blocks : 0,
                        (size_t)mmi_load(&s->peak),
                        mmi_load(&s->allocs)};
    return st;
}

size_t mm_sites(mm_site_stats *out, size_t max) {
    int n = atomic_load_explicit(&site_count, memory_order_acquire);
    size_t total = (size_t)n;
    /* the overflow records only fill once the table is full */
    if (n == MM_SITES_MAX)
        for (int c = 0; c < MM_CATEGORY_MAX; c++) total += mmi_load(&site_other[c].allocs) != 0;
    if (out == NULL || max == 0) return total;
    mm_site_stats *all = mmi_sys_malloc(total * sizeof *all + 1, MM_CAT_INVALID, NULL);
    if (all == NULL) {
        mmi_error_oom(total * sizeof *all, MM_CAT_UTILITY, NULL, "mm_sites");
        return 0;
    }
    size_t k = 0;
    for (; k < (size_t)n; k++) all[k] = site_stats(&site_recs[k], -1);
    for (int c = 0; c < MM_CATEGORY_MAX && k < total && n == MM_SITES_MAX; c++)
        if (mmi_load(&site_other[c].allocs) != 0) all[k++] = site_stats(&site_other[c], c);
    total = k; /* an overflow record first used since the count above waits for the next call */
    qsort(all, total, sizeof *all, site_order);
    memcpy(out, all, (max < total ? max : total) * sizeof *out);
    mmi_sys_free(all);
    return total;
}
