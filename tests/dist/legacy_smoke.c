/* Smoke test of the two-file distribution as Mimic uses it: built with plain
 * make against the generated mimicmem.c, including "memory.h" through
 * -I<dist>/compat as Mimic's sources do, with no CMake involved. It calls
 * every legacy function, holds 60,000 blocks live at once (the old limit was
 * 50,000) and checks the words of the lines through a recording log handler.
 * Modes (argv[1]): none runs the checks; "default-output" prints through the
 * default log printer for the Makefile to check stdout and stderr;
 * "bad-free" and "out-of-memory" must die under the default error handler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

/* ------------------------------------------------------------------------
 * Checks and the recording log handler
 * ---------------------------------------------------------------------- */

static int smoke_checks, smoke_failures;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        smoke_checks++;                                                \
        if (!(cond)) {                                                 \
            smoke_failures++;                                          \
            fprintf(stderr, "legacy_smoke:%d: FAILED: ", __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
    } while (0)

#define SMOKE_LOG_MAX 65536

static struct {
    char text[SMOKE_LOG_MAX]; /* lines, each "I message\n" or "W message\n" */
    size_t used;              /* bytes of text in use */
    int lines;                /* lines recorded (some may not fit in text) */
    int warnings;             /* of which MM_LOG_WARNING or MM_LOG_ERROR */
} smoke_log;

static void smoke_record(mm_log_level level, const char *message, void *user)
{
    (void)user;
    smoke_log.lines++;
    if (level >= MM_LOG_WARNING) smoke_log.warnings++;
    int n = snprintf(smoke_log.text + smoke_log.used, sizeof smoke_log.text - smoke_log.used,
                     "%c %s\n", level >= MM_LOG_WARNING ? 'W' : 'I', message);
    if (n > 0 && smoke_log.used + (size_t)n < sizeof smoke_log.text) smoke_log.used += (size_t)n;
}

static void smoke_log_clear(void)
{
    smoke_log.used = 0;
    smoke_log.text[0] = '\0';
    smoke_log.lines = 0;
    smoke_log.warnings = 0;
}

/* Nonzero when a recorded line of that kind ('I' or 'W') contains phrase. */
static int smoke_logged(char kind, const char *phrase)
{
    const char *line = smoke_log.text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == kind) {
            const char *hit = strstr(line, phrase);
            if (hit != NULL && hit < line + len) return 1;
        }
        if (end == NULL) break;
        line = end + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The scenario
 * ---------------------------------------------------------------------- */

#define SMOKE_LIVE 60000
#define SMOKE_BLOCK 200 /* 60,000 x 200 B = 11.4 MB: one MINIMAL peak line */

static void smoke_allocation(void)
{
    void *early = mymalloc(100); /* before any init_memory_system */
    CHECK(early != NULL && validate_memory_block(early) == 1, "allocation before init works");

    init_memory_system(0);
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS); /* again, no cleanup between: as Mimic's tests */
    CHECK(smoke_log.lines == 0, "init prints nothing at MINIMAL (%d lines)", smoke_log.lines);
    CHECK(validate_memory_block(early) == 1, "a block from before a repeated init stays valid");

    set_memory_reporting(MEMORY_REPORT_DETAILED);
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS);
    CHECK(smoke_logged('I', "no longer limits"),
          "init says at DETAILED that max_blocks is ignored");

    smoke_log_clear();
    void *halos = mymalloc_cat(100, MEM_HALOS);
    CHECK(smoke_logged('I', "Allocated 100 bytes in category Halos"), "DETAILED allocation line");
    halos = myrealloc(halos, 300);
    CHECK(mm_block_category(halos) == MM_CAT_HALOS, "myrealloc keeps the category");
    CHECK(smoke_logged('I', "Reallocated 300 bytes (was 100) in category Halos"),
          "DETAILED reallocation line");
    halos = myrealloc_cat(halos, 40, MEM_TREES);
    CHECK(mm_block_category(halos) == MM_CAT_TREES, "myrealloc_cat moves the block");
    void *fresh = myrealloc(NULL, 24);
    CHECK(fresh != NULL && mm_block_category(fresh) == MM_CAT_UNKNOWN,
          "myrealloc(NULL, n) allocates in Unknown");
    myfree(NULL);
    myfree(fresh);
    myfree(halos);
    myfree(early);
    CHECK(smoke_logged('I', "Freed 40 bytes in category Trees"), "DETAILED free line");
    CHECK(smoke_log.warnings == 0, "no warnings while allocating (%d)", smoke_log.warnings);
}

static void smoke_many_blocks(void)
{
    set_memory_reporting(MEMORY_REPORT_MINIMAL);
    smoke_log_clear();
    void **blocks = malloc(SMOKE_LIVE * sizeof *blocks);
    CHECK(blocks != NULL, "the system malloc gives the pointer array");
    if (blocks == NULL) return;
    mm_stats before = mm_stats_total(NULL);
    for (int i = 0; i < SMOKE_LIVE; i++) {
        blocks[i] = mymalloc_cat(SMOKE_BLOCK, (MemoryCategory)(MEM_GALAXIES + i % 5));
        if (blocks[i] == NULL) {
            CHECK(0, "allocation %d of %d failed", i, SMOKE_LIVE);
            return;
        }
        memset(blocks[i], i & 0xff, SMOKE_BLOCK);
    }
    mm_stats live = mm_stats_total(NULL);
    CHECK(live.blocks == before.blocks + SMOKE_LIVE, "%zu blocks live, expected %zu",
          live.blocks, before.blocks + SMOKE_LIVE);
    CHECK(smoke_logged('I', "Memory peak passed 10 MB"), "MINIMAL peak line at 10 MB");
    CHECK(smoke_log.lines == 1, "exactly one MINIMAL line for 11.4 MB (%d)", smoke_log.lines);
    int valid = 0;
    for (int i = 0; i < SMOKE_LIVE; i++) valid += validate_memory_block(blocks[i]);
    CHECK(valid == SMOKE_LIVE, "%d of %d live blocks validate", valid, SMOKE_LIVE);

    smoke_log_clear();
    print_memory_brief();
    CHECK(smoke_logged('I', "Memory: ") && smoke_logged('I', "MB in use") &&
              smoke_logged('I', "MB peak") && smoke_logged('I', " live blocks"),
          "print_memory_brief line: %s", smoke_log.text);
    print_allocated();
    CHECK(smoke_logged('I', "Memory in use: "), "print_allocated line");
    print_allocated_by_category();
    CHECK(smoke_logged('I', "Memory in category Galaxies: ") &&
              smoke_logged('I', "Memory in category Utility: "),
          "print_allocated_by_category lines: %s", smoke_log.text);
    CHECK(!smoke_logged('I', "Memory in category Unknown"), "empty categories are not printed");
    CHECK(validate_all_memory() == 1, "validate_all_memory with 60,000 live blocks");

    for (int i = 0; i < SMOKE_LIVE; i++) myfree(blocks[i]);
    free(blocks);
    CHECK(mm_stats_total(NULL).blocks == before.blocks, "every block freed");
}

static void smoke_validation(void)
{
    mm_context *forest = mm_context_create("forest", NULL);
    char *a = mm_context_malloc(forest, 64, MM_CAT_HALOS);
    char *b = mm_context_malloc(forest, 64, MM_CAT_HALOS);
    char *c = mm_context_malloc(forest, 64, MM_CAT_HALOS);
    CHECK(a != NULL && b != NULL && c != NULL, "three context blocks");
    if (a == NULL || b == NULL || c == NULL) return;
    /* Written in full: a walk past a damaged header reads the slot, and
     * Valgrind must not see uninitialised bytes there. */
    memset(a, 1, 64);
    memset(b, 2, 64);
    memset(c, 3, 64);
    CHECK(validate_memory_block(b) == 1, "an intact context block validates");
    myfree(c);
    CHECK(validate_memory_block(c) == 0, "a freed context block does not validate");

    void *p = mymalloc_cat(48, MEM_IO);
    unsigned char *seal = (unsigned char *)p - 1; /* last byte of the 16-byte header */
    *seal ^= 0x5a;
    CHECK(validate_memory_block(p) == 0, "a damaged process-wide block does not validate");
    *seal ^= 0x5a;
    CHECK(validate_memory_block(p) == 1, "the repaired block validates again");
    myfree(p);

    unsigned char *bseal = (unsigned char *)b - 1;
    *bseal ^= 0x5a;
    smoke_log_clear();
    CHECK(validate_all_memory() == 0, "validate_all_memory finds the damaged context block");
    char addr[64];
    snprintf(addr, sizeof addr, "Damaged block header at %p", (void *)b);
    CHECK(smoke_logged('W', addr), "the warning names %p: %s", (void *)b, smoke_log.text);
    CHECK(smoke_logged('W', "\"forest\""), "the warning names the context");
    *bseal ^= 0x5a;
    CHECK(validate_all_memory() == 1, "validate_all_memory passes once repaired");
    mm_context_destroy(forest);
}

static void smoke_leaks_and_levels(void)
{
    smoke_log_clear();
    check_memory_leaks();
    CHECK(smoke_logged('I', "No memory leaks detected") && smoke_log.warnings == 0,
          "no leaks: %s", smoke_log.text);

    void *leak = mymalloc_cat(1000, MEM_HALOS);
    smoke_log_clear();
    check_memory_leaks();
    CHECK(smoke_logged('W', "Memory leak detected: 1 block "), "leak warning: %s", smoke_log.text);
    CHECK(smoke_logged('W', "Leaked in category Halos: 1 block "), "per-category leak line");

    /* NONE silences the automatic lines only: the explicit calls print, as
     * Mimic's tracker did (validate_all_memory's pass line needs MINIMAL). */
    set_memory_reporting(MEMORY_REPORT_NONE);
    smoke_log_clear();
    check_memory_leaks();
    print_memory_brief();
    print_allocated();
    print_allocated_by_category();
    validate_all_memory();
    CHECK(smoke_logged('W', "Memory leak detected: 1 block ") && smoke_logged('I', "Memory: ") &&
              smoke_logged('I', "Memory in use: ") &&
              smoke_logged('I', "Memory in category Halos: ") && smoke_log.lines == 5,
          "NONE: the explicit calls print (%d lines: %s)", smoke_log.lines, smoke_log.text);
    smoke_log_clear();
    myfree(leak);
    cleanup_memory_system();
    CHECK(smoke_log.lines == 0, "NONE: cleanup prints nothing (%d lines: %s)", smoke_log.lines,
          smoke_log.text);

    set_memory_reporting(MEMORY_REPORT_MINIMAL);
    cleanup_memory_system();
    CHECK(smoke_logged('I', "Memory: "), "cleanup prints the brief line at MINIMAL");
    void *after = mymalloc(10);
    CHECK(after != NULL && validate_memory_block(after) == 1, "allocation works after cleanup");
    myfree(after);
}

/* Default printer: the Makefile checks that the informational lines reach
 * stdout and the leak warning stderr, as Mimic's tests expect. */
static void smoke_default_output(void)
{
    init_memory_system(0);
    void *leak = mymalloc_cat(2048, MEM_TREES);
    check_memory_leaks();
    myfree(leak);
    check_memory_leaks();
    cleanup_memory_system();
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "default-output") == 0) {
        smoke_default_output();
        return 0;
    }
    if (strcmp(mode, "bad-free") == 0) {
        static _Alignas(max_align_t) unsigned char foreign[64];
        myfree(foreign + 32); /* never returned by mimicmem: fatal */
        return 0;
    }
    if (strcmp(mode, "out-of-memory") == 0) {
        void *p = mymalloc((size_t)1 << 46); /* 64 TB: fatal */
        printf("mymalloc of 64 TB returned %p\n", p);
        return 0;
    }
    mm_set_log_handler(smoke_record, NULL);
    smoke_allocation();
    smoke_many_blocks();
    smoke_validation();
    smoke_leaks_and_levels();
    mm_set_log_handler(NULL, NULL);
    printf("legacy_smoke: %d checks, %d failed\n", smoke_checks, smoke_failures);
    return smoke_failures == 0 ? 0 : 1;
}
