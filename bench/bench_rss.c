/* mm_bench_rss: peak resident memory of the Mimic trace replays through
 * Mimic's legacy API (mymalloc_cat, myrealloc_cat, myfree: what Mimic calls),
 * beside the legacy block table (bench/legacy_table.c, the tracker mimicmem
 * replaces), with mimicmem's per-thread cache at its default (adaptive: an
 * eighth of the thread's live bytes, 256 KiB to 4 MiB), fixed at 4 MiB (the
 * default before it adapted), off, and fixed at 1 MiB. Each replay runs in
 * a child process of its own, so its peak RSS (getrusage of the child) is
 * its own: the loaded trace plus the replay; each figure is the median of
 * three such runs. The acceptance rule is peak RSS within 5% of the legacy
 * table.
 *
 *   mm_bench_rss [TRACE.txt.gz ...]    (default: the three traces in bench/data)
 *
 * POSIX only (fork, waitpid, getrusage). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "legacy_table.h"
#include "memory.h" /* compat/: Mimic's legacy API */
#include "mimicmem.h"
#include "trace.h"

#ifndef MM_BENCH_DATA_DIR
#define MM_BENCH_DATA_DIR "bench/data"
#endif

enum { RSS_LOAD, RSS_LEGACY, RSS_MM_DEFAULT, RSS_MM_4M, RSS_MM_OFF, RSS_MM_1M, RSS_N };
static const char *const rss_names[RSS_N] = {
    "trace loaded, no replay",      "legacy table",
    "mimicmem (cache on: adaptive)", "mimicmem (cache fixed 4 MiB)",
    "mimicmem (cache off)",          "mimicmem (cache fixed 1 MiB)"};

/* Peak RSS of this process so far, in KiB (ru_maxrss is KiB on Linux,
 * bytes on macOS). */
static long rss_kib(int who) {
    struct rusage ru;
    if (getrusage(who, &ru) != 0) return -1;
#ifdef __APPLE__
    return ru.ru_maxrss / 1024;
#else
    return ru.ru_maxrss;
#endif
}

/* The child's work: load, replay through one allocator, exit 0 (3 when the
 * legacy table filled up, 2 on a load error). */
static int rss_child(const char *path, int which) {
    trace t;
    char err[256];
    if (which == RSS_MM_4M) mm_option_set("cache", "4M");
    if (which == RSS_MM_OFF) mm_option_set("cache", "off");
    if (which == RSS_MM_1M) mm_option_set("cache", "1M");
    if (trace_load(path, &t, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    void **slots = calloc(t.nblocks ? t.nblocks : 1, sizeof *slots);
    if (slots == NULL) return 2;
    if (which == RSS_LOAD) return 0;
    if (which == RSS_LEGACY) {
        if (t.max_live_blocks > 50000) return 3; /* the legacy table dies at block 50,001 */
        for (size_t i = 0; i < t.nops; i++) {
            const trace_op *op = &t.ops[i];
            if (op->op == 'A') {
                slots[op->block] = legacy_malloc_cat((size_t)op->size, op->category);
                memset(slots[op->block], (int)(i & 0xff), (size_t)op->size);
            } else if (op->op == 'R') {
                slots[op->block] = legacy_realloc_cat(slots[op->block], (size_t)op->size,
                                                      op->category);
                memset(slots[op->block], (int)(i & 0xff), (size_t)op->size);
            } else if (op->op == 'D') {
                legacy_free(slots[op->block]);
            }
        }
        return 0;
    }
    init_memory_system(0);
    for (size_t i = 0; i < t.nops; i++) {
        const trace_op *op = &t.ops[i];
        if (op->op == 'A') {
            slots[op->block] = mymalloc_cat((size_t)op->size, (MemoryCategory)op->category);
            memset(slots[op->block], (int)(i & 0xff), (size_t)op->size);
        } else if (op->op == 'R') {
            slots[op->block] = myrealloc_cat(slots[op->block], (size_t)op->size,
                                             (MemoryCategory)op->category);
            memset(slots[op->block], (int)(i & 0xff), (size_t)op->size);
        } else if (op->op == 'D') {
            myfree(slots[op->block]);
        }
    }
    return 0;
}

/* Runs one replay in a child: 0 when it finished, -1 on failure, -3 when
 * the legacy table could not hold the trace. */
static long rss_measure(const char *path, int which) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setenv("MIMICMEM_REPORT", "off", 1);
        if (freopen("/dev/null", "w", stdout) == NULL) _exit(2); /* the legacy peak lines */
        _exit(rss_child(path, which));
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    if (WEXITSTATUS(st) == 3) return -3;
    return WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Runs rss_measure's child under an intermediate process whose own
 * RUSAGE_CHILDREN then holds exactly that one child's peak. */
static long rss_one(const char *path, int which) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        long r = rss_measure(path, which);
        if (r == 0) r = rss_kib(RUSAGE_CHILDREN);
        ssize_t w = write(fd[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    long r = -1;
    if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) r = -1;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    return r;
}

/* The median of RSS_RUNS runs of rss_one (a failure, if any, instead). */
enum { RSS_RUNS = 3 };
static long rss_median(const char *path, int which) {
    long r[RSS_RUNS];
    for (int i = 0; i < RSS_RUNS; i++) {
        r[i] = rss_one(path, which);
        if (r[i] < 0) return r[i];
        for (int j = i; j > 0 && r[j - 1] > r[j]; j--) {
            long x = r[j];
            r[j] = r[j - 1];
            r[j - 1] = x;
        }
    }
    return r[RSS_RUNS / 2];
}

int main(int argc, char **argv) {
    static const char *const defaults[] = {MM_BENCH_DATA_DIR "/mimic-trace-small.txt.gz",
                                           MM_BENCH_DATA_DIR "/mimic-trace-mm.txt.gz",
                                           MM_BENCH_DATA_DIR "/mimic-trace-cluster.txt.gz"};
    const char *const *paths = defaults;
    int npaths = 3;
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0) {
            printf("usage: mm_bench_rss [TRACE ...]\n"
                   "Peak RSS of each trace replayed through Mimic's legacy API by the legacy\n"
                   "block table and by mimicmem (cache adaptive, fixed 4 MiB, off, fixed\n"
                   "1 MiB); each in a process of its own, the median of three runs. Target:\n"
                   "mimicmem's default within 5%% of the table.\n");
            return 0;
        }
        paths = (const char *const *)argv + 1;
        npaths = argc - 1;
    }
    int worst_ok = 1;
    for (int p = 0; p < npaths; p++) {
        long kib[RSS_N];
        printf("%s\n", paths[p]);
        for (int w = 0; w < RSS_N; w++) {
            kib[w] = rss_median(paths[p], w);
            if (kib[w] == -3) {
                printf("  %-30s  FATAL (>50,000 live blocks: the legacy table dies)\n",
                       rss_names[w]);
            } else if (kib[w] < 0) {
                printf("  %-30s  failed\n", rss_names[w]);
                worst_ok = 0;
            } else if (w <= RSS_LEGACY || kib[RSS_LEGACY] <= 0) {
                printf("  %-30s  %8.2f MiB peak RSS\n", rss_names[w], (double)kib[w] / 1024.0);
            } else {
                /* the whole process, and the replay alone (over the loaded trace) */
                double ratio = (double)kib[w] / (double)kib[RSS_LEGACY];
                char alone[48] = "replay alone: n/a, the load's peak is higher";
                if (kib[RSS_LEGACY] - kib[RSS_LOAD] > 1024) /* the replay sets the peak */
                    snprintf(alone, sizeof alone, "replay alone %.3fx",
                             (double)(kib[w] - kib[RSS_LOAD]) /
                                 (double)(kib[RSS_LEGACY] - kib[RSS_LOAD]));
                printf("  %-30s  %8.2f MiB peak RSS  %.3fx the legacy table (%s)%s\n",
                       rss_names[w], (double)kib[w] / 1024.0, ratio, alone,
                       w == RSS_MM_DEFAULT ? (ratio <= 1.05 ? "  within 5%" : "  OVER 5%") : "");
            }
        }
    }
    return worst_ok ? 0 : 1;
}
