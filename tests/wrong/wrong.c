/* The "wrong programs" of issue 13 and their clean twins: each case misuses
 * a context block in one way (or, for *_clean, does the same thing right),
 * so that tests/wrong/run.sh can assert what Valgrind memcheck and
 * AddressSanitizer report. Without a tool every case runs silently and
 * exits 0: the misuse touches only chunk memory that stays mapped (a reset
 * keeps its chunks; a destroy hands small chunks to the dead-chunk cache,
 * whose segments are never unmapped, see src/arena/chunk.c), and no case
 * frees or revalidates a block whose header it damaged. Public API only.
 * Usage: mm_wrong CASE    (mm_wrong --list prints the cases) */
#include <mimicmem.h>

#include <stdio.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* 48 bytes is a size class of its own: a slot holds exactly 48 bytes after
 * its 16-byte header, so one byte past a 48-byte block is the first byte of
 * the next slot's header. Every case uses small blocks (carved from chunks,
 * never a block of its own from the system). */
enum { SIZE = 48, HALOS = 64 };

static volatile int sink; /* every read lands here: the compiler keeps it */

static mm_context *new_context(const char *name) {
    mm_context *ctx = mm_context_create(name, NULL);
    if (ctx == NULL) {
        fprintf(stderr, "mm_wrong: cannot create a context\n");
        return NULL;
    }
    return ctx;
}

static int *new_block(mm_context *ctx) {
    int *p = mm_context_malloc(ctx, SIZE, MM_CAT_HALOS);
    if (p == NULL) fprintf(stderr, "mm_wrong: cannot allocate a context block\n");
    return p;
}

static void fill(int *p) {
    for (size_t i = 0; i < SIZE / sizeof *p; i++) p[i] = (int)i + 1;
}

/* ---- 1. read after reset; twin: read the block of the new epoch instead */
static NOINLINE int read_after_reset(int clean) {
    mm_context *ctx = new_context("forest");
    int *p = ctx ? new_block(ctx) : NULL;
    if (p == NULL) return 1;
    fill(p);
    mm_context_reset(ctx); /* p is gone; its chunk is kept for the next epoch */
    if (clean) {
        p = new_block(ctx); /* carved again from the retained chunk */
        if (p == NULL) return 1;
        fill(p);
    }
    sink = ((volatile int *)p)[1];
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 2. write after reset; twin: write the block of the new epoch */
static NOINLINE int write_after_reset(int clean) {
    mm_context *ctx = new_context("forest");
    int *p = ctx ? new_block(ctx) : NULL;
    if (p == NULL) return 1;
    fill(p);
    mm_context_reset(ctx);
    if (clean) {
        p = new_block(ctx);
        if (p == NULL) return 1;
    }
    ((volatile int *)p)[1] = 7;
    if (clean) sink = p[1];
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 3. read after destroy; twin: a new context's block (its chunk is
 * likely the destroyed context's, taken back from the dead-chunk cache) */
static NOINLINE int read_after_destroy(int clean) {
    mm_context *ctx = new_context("forest");
    int *p = ctx ? new_block(ctx) : NULL;
    if (p == NULL) return 1;
    fill(p);
    mm_context_destroy(ctx); /* the chunk goes to the dead-chunk cache */
    ctx = NULL;
    if (clean) {
        ctx = new_context("next forest");
        p = ctx ? new_block(ctx) : NULL;
        if (p == NULL) return 1;
        fill(p);
    }
    sink = ((volatile int *)p)[1];
    mm_context_destroy(ctx); /* NULL: nothing */
    return 0;
}

/* ---- 4. write after destroy; twin as for 3 */
static NOINLINE int write_after_destroy(int clean) {
    mm_context *ctx = new_context("forest");
    int *p = ctx ? new_block(ctx) : NULL;
    if (p == NULL) return 1;
    fill(p);
    mm_context_destroy(ctx);
    ctx = NULL;
    if (clean) {
        ctx = new_context("next forest");
        p = ctx ? new_block(ctx) : NULL;
        if (p == NULL) return 1;
    }
    ((volatile int *)p)[1] = 7;
    if (clean) sink = p[1];
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 5. one byte past a block whose neighbour in the chunk is live (the
 * byte is the neighbour's header); twin: the last byte of the block. The
 * context is destroyed without freeing q, so nothing reads the damaged
 * header afterwards (a free of q would name it, which is not this test). */
static NOINLINE int write_past_end(int clean) {
    mm_context *ctx = new_context("forest");
    unsigned char *p = ctx ? (unsigned char *)new_block(ctx) : NULL;
    unsigned char *q = ctx ? (unsigned char *)new_block(ctx) : NULL;
    if (p == NULL || q == NULL) return 1;
    memset(q, 0x11, SIZE); /* the neighbour is live and in use */
    size_t at = clean ? SIZE - 1 : SIZE;
    ((volatile unsigned char *)p)[at] = 0x5a;
    sink = q[0] + q[SIZE - 1];
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 5b. one byte past a 40-byte block, in the slack of its 48-byte slot
 * (no header there: only the tool's view of the request's end sees it);
 * twin: the block's last byte */
static NOINLINE int write_into_slack(int clean) {
    mm_context *ctx = new_context("forest");
    unsigned char *p = ctx ? mm_context_malloc(ctx, SIZE - 8, MM_CAT_HALOS) : NULL;
    if (p == NULL) return 1;
    memset(p, 0x11, SIZE - 8);
    size_t at = clean ? SIZE - 9 : SIZE - 8;
    ((volatile unsigned char *)p)[at] = 0x5a;
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 6. a branch on a block never written; twin: the block is written
 * first, and a calloc'd block (defined zeros) is branched on too */
static NOINLINE int uninit_branch(int clean) {
    mm_context *ctx = new_context("forest");
    int *p = ctx ? new_block(ctx) : NULL;
    if (p == NULL) return 1;
    if (clean) {
        fill(p);
        int *z = mm_context_calloc(ctx, 1, SIZE, MM_CAT_HALOS);
        if (z == NULL) return 1;
        if (((volatile int *)z)[3] != 0) sink = sink + 1;
    }
    if (((volatile int *)p)[3] == 12345) sink = sink + 1;
    mm_context_destroy(ctx);
    return 0;
}

/* ---- 7. a context never destroyed: its blocks are still held when the
 * program exits, and nothing points to them. make_halos is the allocating
 * function the leak record must name. Twin: the context is destroyed. */
static mm_context *forest; /* the context stays reachable; its blocks do not */

static NOINLINE size_t make_halos(mm_context *ctx) {
    size_t made = 0;
    for (int i = 0; i < HALOS; i++) {
        double *h = mm_context_malloc(ctx, SIZE, MM_CAT_HALOS);
        if (h == NULL) break;
        for (size_t k = 0; k < SIZE / sizeof *h; k++) h[k] = i + 0.5 * (double)k; /* no pointers */
        made++;
    }
    return made;
}

static NOINLINE int context_leak(int clean) {
    forest = new_context("forest");
    if (forest == NULL || make_halos(forest) != HALOS) return 1;
    if (clean) {
        mm_context_destroy(forest);
        forest = NULL;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int clean);
} cases[] = {
    {"read_after_reset", read_after_reset},     {"write_after_reset", write_after_reset},
    {"read_after_destroy", read_after_destroy}, {"write_after_destroy", write_after_destroy},
    {"write_past_end", write_past_end},         {"write_into_slack", write_into_slack},
    {"uninit_branch", uninit_branch},
    {"context_leak", context_leak},
};

int main(int argc, char **argv) {
    static const char twin[] = "_clean";
    size_t ncases = sizeof cases / sizeof cases[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ncases; i++) printf("%s\n%s%s\n", cases[i].name, cases[i].name, twin);
        return 0;
    }
    if (argc == 2) {
        for (size_t i = 0; i < ncases; i++) {
            size_t n = strlen(cases[i].name);
            if (strncmp(argv[1], cases[i].name, n) != 0) continue;
            if (argv[1][n] == '\0') return cases[i].fn(0);
            if (strcmp(argv[1] + n, twin) == 0) return cases[i].fn(1);
        }
    }
    fprintf(stderr, "usage: mm_wrong CASE (mm_wrong --list prints the cases)\n");
    return 2;
}
