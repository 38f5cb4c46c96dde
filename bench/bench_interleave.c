/* mm_bench_interleave: what it costs two threads of one process to write
 * pages that interleave with each other's, by the grain of the interleaving.
 *
 * Thread A writes a working set of 180 KiB (about a forest of 1,500 blocks
 * of 104 bytes: 1,440 slots of 128 bytes, three words at the start of each,
 * as a header and a caller's first fields) over and over; thread B writes its own working set of the same
 * size. Both sets live in one mapping, cut in granules of G bytes that
 * alternate: A's, B's, A's, ... A times its passes alone, then while B
 * works, then alone again, and reports its time with B against the mean of
 * the two alone: 1.00 means B costs A nothing. Repeated, the median ratio
 * per grain is printed, with the 25th and 75th percentiles. The phases
 * alternate within one process, a few milliseconds each, so a busy host
 * moves both sides of a ratio together.
 *
 * This is a property of the machine (its memory system and, in a VM, its
 * hypervisor), not of mimicmem: it is why src/arena/chunk.c gives each
 * thread regions of its own (docs/design.md, "Threads' regions"). The
 * library is not linked. Usage: mm_bench_interleave [--rounds N] */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS (glibc, musl) */
#define _DARWIN_C_SOURCE 1

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif

#define SET_BYTES   ((size_t)180 * 1024) /* one thread's working set */
#define BLOCK_BYTES ((size_t)128)        /* a slot: a power of two, so no slot
                                            straddles two granules */
#define PASSES      4000                 /* passes of A per timed phase */
#define MAX_ROUNDS  64

static char *base;     /* the mapping both sets live in */
static size_t grain;   /* bytes per granule */
static atomic_int b_works, b_quits;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Byte n of thread k's set: granule 2 (n / grain) + k. */
static char *at(int k, size_t n) {
    return base + (2 * (n / grain) + (size_t)k) * grain + n % grain;
}

/* One pass over thread k's set: three words per slot, as an allocator
 * writes a header and a caller its first fields. */
static void pass(int k, uint64_t stamp) {
    for (size_t n = 0; n + BLOCK_BYTES <= SET_BYTES; n += BLOCK_BYTES) {
        uint64_t *w = (uint64_t *)(void *)at(k, n);
        w[0] = n ^ stamp;
        w[1] = stamp;
        w[2] += 1;
    }
}

static void *thread_b(void *arg) {
    (void)arg;
    uint64_t stamp = 0;
    while (!atomic_load(&b_quits))
        if (atomic_load(&b_works)) pass(1, ++stamp);
    return NULL;
}

static double phase(uint64_t *stamp) {
    double t0 = now();
    for (int i = 0; i < PASSES; i++) pass(0, ++*stamp);
    return now() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median, 25th and 75th percentile of A's time with B over its time
 * alone, at the current grain. */
static int measure(int rounds, double out[3]) {
    size_t span = 2 * (SET_BYTES / grain + 2) * grain;
    base = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return -1;
    memset(base, 0, span); /* every page resident before timing */
    atomic_store(&b_works, 0);
    atomic_store(&b_quits, 0);
    pthread_t b;
    if (pthread_create(&b, NULL, thread_b, NULL) != 0) {
        munmap(base, span);
        return -1;
    }
    double r[MAX_ROUNDS];
    uint64_t stamp = 0;
    phase(&stamp); /* warm */
    for (int k = 0; k < rounds; k++) {
        double alone1 = phase(&stamp);
        atomic_store(&b_works, 1);
        phase(&stamp); /* B gets going */
        double with = phase(&stamp);
        atomic_store(&b_works, 0);
        double alone2 = phase(&stamp);
        r[k] = with / ((alone1 + alone2) / 2);
    }
    atomic_store(&b_quits, 1);
    pthread_join(b, NULL);
    munmap(base, span);
    qsort(r, (size_t)rounds, sizeof r[0], cmp_double);
    out[0] = r[rounds / 2];
    out[1] = r[rounds / 4];
    out[2] = r[3 * rounds / 4];
    return 0;
}

int main(int argc, char **argv) {
    int rounds = 15;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--rounds N]   (N: 4 to %d, default 15)\n", argv[0],
                    MAX_ROUNDS);
            return 2;
        }
    }
    if (rounds < 4 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "%s: --rounds takes 4 to %d\n", argv[0], MAX_ROUNDS);
        return 2;
    }
    printf("Two threads writing %zu KiB each, their pages interleaved in granules\n"
           "(A's time while B works / A's time alone; 1.00: no cost; %d rounds)\n\n",
           SET_BYTES / 1024, rounds);
    printf("| granule | median | 25th | 75th |\n|---|---|---|---|\n");
    static const size_t grains[] = {4096, 8192, 16384, 65536, 262144, 1048576, 4194304};
    for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
        grain = grains[g];
        double q[3];
        if (measure(rounds, q) != 0) {
            fprintf(stderr, "%s: no memory or no thread for a granule of %zu bytes\n", argv[0],
                    grain);
            return 1;
        }
        if (grain < 1048576)
            printf("| %zu KiB |", grain / 1024);
        else
            printf("| %zu MiB |", grain / 1048576);
        printf(" %.2f | %.2f | %.2f |\n", q[0], q[1], q[2]);
        fflush(stdout);
    }
    return 0;
}
