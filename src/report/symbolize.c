/* The symbolizer of the reports: the legacy entry points name their sites
 * "module+0xOFFSET" (diag/site.c, which keeps each module's full path beside
 * the names); at report time this file runs addr2line -f -C -e MODULE
 * OFFSETS... (atos on macOS) in a child process, once per module per report,
 * reads file:line and the function back, and caches every answer (found or
 * not), so a program reporting per forest starts the tool once per site. */
#if defined(__APPLE__)
#define _DARWIN_C_SOURCE 1 /* posix_spawn beside _POSIX_C_SOURCE */
#endif
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* posix_spawn, poll, kill, waitpid, clock_gettime */
#endif
#include "symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SYM_CACHE_MAX 256   /* answers kept; beyond, sites are resolved in each report */
#define SYM_BATCH 64        /* offsets per run of the tool */
#define SYM_TIMEOUT_MS 10000 /* one run of the tool; then it is killed */

_Atomic int mmi_site_resolve; /* 0 auto, 1 off (options.c) */

/* ======================================================================
 * The cache
 * Rule: an entry is claimed by one fetch-add, filled by its claimer, then
 * published by a release store of ready; readers take only ready entries.
 * Never emptied: a site name is interned for the life of the process.
 * ==================================================================== */

typedef struct {
    const char *name;                 /* the site name answered (interned by site.c) */
    int line;                         /* 0: the tool knows no line for it */
    char file[MMI_SYM_FILE_MAX];      /* source file when line > 0 */
    char function[MMI_SYM_FUNC_MAX];  /* function, or "" */
    _Atomic int ready;                /* 1: the fields above are written (release) */
} sym_entry;

static sym_entry sym_cache[SYM_CACHE_MAX];
static _Atomic int sym_ncache;   /* entries claimed; may pass SYM_CACHE_MAX (then full) */
static _Atomic int sym_no_tool;  /* the tool could not be started: not tried again */

static bool sym_cache_find(const char *name, mmi_sym *y) {
    int n = atomic_load_explicit(&sym_ncache, memory_order_acquire);
    if (n > SYM_CACHE_MAX) n = SYM_CACHE_MAX;
    for (int i = 0; i < n; i++) {
        const sym_entry *c = &sym_cache[i];
        if (!atomic_load_explicit(&c->ready, memory_order_acquire) || c->name != name) continue;
        y->line = c->line;
        memcpy(y->file, c->file, sizeof y->file);
        memcpy(y->function, c->function, sizeof y->function);
        return true;
    }
    return false;
}

static void sym_cache_put(const char *name, const mmi_sym *y) {
    int i = atomic_fetch_add_explicit(&sym_ncache, 1, memory_order_relaxed);
    if (i >= SYM_CACHE_MAX) return;
    sym_entry *c = &sym_cache[i];
    c->name = name;
    c->line = y->line;
    memcpy(c->file, y->file, sizeof c->file);
    memcpy(c->function, y->function, sizeof c->function);
    atomic_store_explicit(&c->ready, 1, memory_order_release);
}

/* ======================================================================
 * Reading the tool's answers
 * ==================================================================== */

typedef struct {
    int fd;                    /* the read end of the child's stdout */
    char buf[4096];            /* bytes read, not yet returned */
    size_t pos, len;           /* unread part of buf */
    struct timespec deadline;  /* CLOCK_MONOTONIC time the run must end by */
    bool done;                 /* end of output, an error or the deadline */
    bool timed_out;            /* the deadline passed */
} sym_reader;

static int sym_ms_left(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
                   (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms <= 0 ? 0 : ms > SYM_TIMEOUT_MS ? SYM_TIMEOUT_MS : (int)ms;
}

/* The next line (cut to cap - 1 bytes); false at the end of the output, on
 * an error or once the deadline passed (a line cut by it is not returned). */
static bool sym_getline(sym_reader *r, char *line, size_t cap) {
    size_t out = 0;
    bool any = false;
    for (;;) {
        if (r->pos < r->len) {
            char c = r->buf[r->pos++];
            any = true;
            if (c == '\n') break;
            if (out + 1 < cap) line[out++] = c;
            continue;
        }
        if (r->done) break;
        int ms = sym_ms_left(&r->deadline);
        struct pollfd p = {r->fd, POLLIN, 0};
        int k = ms > 0 ? poll(&p, 1, ms) : 0;
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            r->timed_out = k == 0;
            r->done = true;
            break;
        }
        ssize_t got = read(r->fd, r->buf, sizeof r->buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            r->done = true;
            break;
        }
        r->pos = 0;
        r->len = (size_t)got;
    }
    line[out] = '\0';
    return any && !r->timed_out;
}

/* "path:LINE" or "path:LINE (discriminator N)" into y; unknown ("??:0",
 * "??:?", "path:?") leaves y->line 0. A path under cwd is shown relative
 * to it; a path too long for y->file keeps its end. */
static void sym_parse_where(char *where, mmi_sym *y, const char *cwd) {
    char *disc = strstr(where, " (discriminator ");
    if (disc) *disc = '\0';
    char *colon = strrchr(where, ':');
    if (colon == NULL || colon == where) return;
    *colon = '\0';
    char *end;
    long line = strtol(colon + 1, &end, 10);
    if (*end != '\0' || line <= 0 || line > 0x7fffffffL || strcmp(where, "??") == 0) return;
    const char *path = where;
    size_t ncwd = strlen(cwd);
    if (ncwd > 1 && strncmp(path, cwd, ncwd) == 0 && path[ncwd] == '/') path += ncwd + 1;
    size_t n = strlen(path);
    if (n >= sizeof y->file) path += n - (sizeof y->file - 1);
    memcpy(y->file, path, strlen(path) + 1);
    y->line = (int)line;
}

static void sym_parse_function(const char *fn, mmi_sym *y) {
    if (strcmp(fn, "??") == 0) return;
    size_t n = strlen(fn);
    if (n >= sizeof y->function) n = sizeof y->function - 1; /* a long C++ name: cut */
    memcpy(y->function, fn, n);
    y->function[n] = '\0';
}

/* ======================================================================
 * Running the tool
 * ==================================================================== */

#if defined(__APPLE__)
#define SYM_TOOL "atos"
#else
#define SYM_TOOL "addr2line"
#endif

/* Resolves syms[idx[k]], k < n, all of module, with one run of the tool;
 * the answers it does not give stay unresolved. false: the tool did not
 * run (nothing to cache). */
static bool sym_run(const char *module, mmi_sym *syms, const size_t *idx, size_t n,
                    const char *cwd) {
    char offs[SYM_BATCH][2 + 2 * sizeof(uintmax_t) + 1];
    char *argv[SYM_BATCH + 8];
    size_t a = 0;
    argv[a++] = (char *)SYM_TOOL;
#if defined(__APPLE__)
    /* atos -o MODULE -l 0x0 OFFSET...: an image loaded at 0 takes offsets
     * from its Mach-O header, which is what dladdr's base gave site.c */
    argv[a++] = (char *)"-o";
    argv[a++] = (char *)module;
    argv[a++] = (char *)"-l";
    argv[a++] = (char *)"0x0";
#else
    argv[a++] = (char *)"-f";
    argv[a++] = (char *)"-C";
    argv[a++] = (char *)"-e";
    argv[a++] = (char *)module;
#endif
    for (size_t k = 0; k < n; k++) {
        snprintf(offs[k], sizeof offs[k], "0x%jx", (uintmax_t)syms[idx[k]].offset);
        argv[a++] = offs[k];
    }
    argv[a] = NULL;

    int fds[2];
    if (pipe(fds) != 0) return false;
    /* neither end may leak into another child the host starts meanwhile */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        rc = posix_spawnp(&pid, SYM_TOOL, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        if (rc == ENOENT || rc == EACCES) mmi_store(&sym_no_tool, 1);
        return false;
    }

    sym_reader r;
    memset(&r, 0, sizeof r);
    r.fd = fds[0];
    clock_gettime(CLOCK_MONOTONIC, &r.deadline);
    r.deadline.tv_sec += SYM_TIMEOUT_MS / 1000;
    char where[2048];
#if !defined(__APPLE__)
    char fn[1024];
#endif
    for (size_t k = 0; k < n; k++) {
        mmi_sym *y = &syms[idx[k]];
#if defined(__APPLE__)
        /* "function (in module) (file.c:12)", or the address alone */
        if (!sym_getline(&r, where, sizeof where)) break;
        char *open = strrchr(where, '('), *close_paren = strrchr(where, ')');
        char *in = strstr(where, " (in ");
        if (in) {
            *in = '\0';
            sym_parse_function(where, y);
        }
        if (open && close_paren && close_paren > open && (in == NULL || open > in + 4)) {
            *close_paren = '\0';
            sym_parse_where(open + 1, y, cwd);
        }
#else
        /* two lines per address: the function, then path:LINE */
        if (!sym_getline(&r, fn, sizeof fn) || !sym_getline(&r, where, sizeof where)) break;
        sym_parse_function(fn, y);
        sym_parse_where(where, y, cwd);
        if (y->line == 0) y->function[0] = '\0'; /* a function alone is not shown */
#endif
    }
    if (!r.done && !r.timed_out) { /* answers beyond ours: read to the end */
        while (sym_getline(&r, where, sizeof where)) {
        }
    }
    if (r.timed_out) kill(pid, SIGKILL);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    /* a spawn that could not exec reports 127 on some systems */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        mmi_store(&sym_no_tool, 1);
        return false;
    }
    return true;
}

/* ======================================================================
 * Entry point
 * ==================================================================== */

bool mmi_symbolize_any(const mm_site_stats *sites, size_t n) {
    const char *module;
    uintptr_t offset;
    for (size_t i = 0; i < n; i++)
        if (mmi_site_caller_where(sites[i].file, &module, &offset)) return true;
    return false;
}

void mmi_symbolize(const mm_site_stats *sites, size_t n, mmi_sym *syms, bool spawn) {
    bool off = mmi_load(&mmi_site_resolve) != 0;
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        mmi_sym *y = &syms[i];
        memset(y, 0, sizeof *y);
        if (!mmi_site_caller_where(sites[i].file, &y->module, &y->offset)) {
            y->module = NULL;
            continue;
        }
        if (!off && !sym_cache_find(sites[i].file, y)) pending++;
    }
    /* no child while one of our locks is held: the limit message's report
     * comes from an allocation path and prints the cached answers only */
    MMI_ASSERT(!spawn || mmi_locks_held() == 0);
    if (off || pending == 0 || !spawn || mmi_locks_held() != 0 || mmi_load(&sym_no_tool)) return;

    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) == NULL) cwd[0] = '\0';
    bool *asked = mmi_sys_calloc(n * sizeof *asked, MM_CAT_INVALID, NULL);
    if (asked == NULL) return; /* out of memory: the names stay as they are */
    size_t idx[SYM_BATCH];
    for (size_t i = 0; i < n; i++) {
        if (syms[i].module == NULL || syms[i].line > 0 || asked[i]) continue;
        /* the unresolved sites of this module, SYM_BATCH at a time */
        size_t k = 0;
        for (size_t j = i; j < n && k < SYM_BATCH; j++) {
            if (asked[j] || syms[j].module != syms[i].module || syms[j].line > 0) continue;
            if (sym_cache_find(sites[j].file, &syms[j])) continue; /* another report meanwhile */
            asked[j] = true;
            idx[k++] = j;
        }
        if (k == 0 || mmi_load(&sym_no_tool)) continue;
        if (!sym_run(syms[i].module, syms, idx, k, cwd)) continue; /* nothing to cache */
        for (size_t m = 0; m < k; m++) sym_cache_put(sites[idx[m]].file, &syms[idx[m]]);
    }
    mmi_sys_free(asked);
}
