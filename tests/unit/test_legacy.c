/* Unit tests for src/legacy.c: Mimic's memory API (compat/memory.h) as Mimic
 * uses it. Each legacy function, the exact lines of each reporting level
 * (through a recording log handler; explicit reports print at every level),
 * repeated init without cleanup, a fresh tally at init after cleanup,
 * allocation before init, more than 50,000 live blocks, validate_* on intact,
 * freed and damaged blocks, the fatal paths in-process and in a child under
 * the default handler, and the default routing (stdout/stderr) in a child. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../compat/memory.h"
#include "mm_test.h"

#define MB ((size_t)1 << 20)

/* ------------------------------------------------------------------------
 * Recording log handler: every line the memory system sends to the hook
 * ---------------------------------------------------------------------- */

#define LG_MAX_LINES 4096
#define LG_LINE_MAX 512

typedef struct {
    mm_log_level level;     /* level the line was sent with */
    char text[LG_LINE_MAX]; /* the message (truncated) */
} lg_line;

static lg_line lg_lines[LG_MAX_LINES];
static int lg_count;   /* lines received since lg_start/lg_clear */

static void lg_handler(mm_log_level level, const char *message, void *user)
{
    (void)user;
    if (lg_count < LG_MAX_LINES) {
        lg_lines[lg_count].level = level;
        snprintf(lg_lines[lg_count].text, LG_LINE_MAX, "%s", message);
    }
    lg_count++;
}

static void lg_clear(void)
{
    lg_count = 0;
}

static void lg_start(void)
{
    lg_clear();
    mm_set_log_handler(lg_handler, NULL);
}

/* All lines as "I text" / "W text", one a line, for failure messages. The
 * buffer is static: one dump per message. */
static const char *lg_dump(void)
{
    static char buf[16384];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < lg_count && i < LG_MAX_LINES && used < sizeof buf; i++) {
        int n = snprintf(buf + used, sizeof buf - used, "\n  [%c] %s",
                         lg_lines[i].level >= MM_LOG_WARNING ? 'W' : 'I', lg_lines[i].text);
        if (n < 0) break;
        used += (size_t)n;
    }
    return lg_count ? buf : " (none)";
}

/* Index of the first line at level containing phrase, or -1. */
static int lg_find(mm_log_level level, const char *phrase)
{
    for (int i = 0; i < lg_count && i < LG_MAX_LINES; i++)
        if (lg_lines[i].level == level && strstr(lg_lines[i].text, phrase) != NULL) return i;
    return -1;
}

static int lg_count_level(mm_log_level level)
{
    int n = 0;
    for (int i = 0; i < lg_count && i < LG_MAX_LINES; i++) n += lg_lines[i].level == level;
    return n;
}

/* Expects line i to be exactly want (printf format) at level. */
static void lg_expect_line(int i, mm_log_level level, const char *fmt, ...)
{
    char want[LG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (i >= lg_count) {
        cr_expect_fail("line %d should be \"%s\"; only %d lines were logged:%s", i, want,
                       lg_count, lg_dump());
        return;
    }
    cr_expect_str_eq(lg_lines[i].text, want, "line %d should be \"%s\"; lines:%s", i, want,
                     lg_dump());
    cr_expect_eq(lg_lines[i].level, level, "line %d (\"%s\") should be at level %d, was %d", i,
                 want, (int)level, (int)lg_lines[i].level);
}

#define lg_expect_count(n, what)                                                           \
    cr_expect_eq(lg_count, (n), "%s: expected %d lines, got %d:%s", (what), (n), lg_count, \
                 lg_dump())

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

static void *must(void *p, const char *what)
{
    cr_assert_not_null(p, "%s should succeed", what);
    return p;
}

/* A new block with every byte of its size-class slot written: a walk that
 * moves past a damaged header reads the slot, and Valgrind must not see
 * uninitialised bytes there. size is a class size (16, 32, 48, 64, 448 ...). */
static void *filled(void *p, size_t size)
{
    cr_assert_not_null(p, "the allocation of %zu bytes should succeed", size);
    memset(p, 0x3c, size);
    return p;
}

/* Flips bits of the header byte at offset (-16 .. -1) of p; twice restores. */
static void damage(void *p, int offset)
{
    mmt_tool_open((unsigned char *)p - 16, 16); /* a context block's header, under a tool */
    ((unsigned char *)p)[offset] ^= 0x5a;
}

/* ========================================================================
 * Categories and the allocation calls
 * ====================================================================== */

Test(legacy, memory_categories_are_the_builtin_category_ids)
{
    cr_expect_eq(MEM_UNKNOWN, MM_CAT_UNKNOWN, "MEM_UNKNOWN should be MM_CAT_UNKNOWN");
    cr_expect_eq(MEM_GALAXIES, MM_CAT_GALAXIES, "MEM_GALAXIES should be MM_CAT_GALAXIES");
    cr_expect_eq(MEM_HALOS, MM_CAT_HALOS, "MEM_HALOS should be MM_CAT_HALOS");
    cr_expect_eq(MEM_TREES, MM_CAT_TREES, "MEM_TREES should be MM_CAT_TREES");
    cr_expect_eq(MEM_IO, MM_CAT_IO, "MEM_IO should be MM_CAT_IO");
    cr_expect_eq(MEM_UTILITY, MM_CAT_UTILITY, "MEM_UTILITY should be MM_CAT_UTILITY");
    cr_expect_eq(MEM_MAX_CATEGORY, MM_CAT_BUILTIN_COUNT, "MEM_MAX_CATEGORY counts the built-ins");
    cr_expect_eq(MEMORY_REPORT_NONE, 0, "MEMORY_REPORT_NONE keeps its value");
    cr_expect_eq(MEMORY_REPORT_MINIMAL, 1, "MEMORY_REPORT_MINIMAL keeps its value");
    cr_expect_eq(MEMORY_REPORT_DETAILED, 2, "MEMORY_REPORT_DETAILED keeps its value");
    cr_expect_eq(DEFAULT_MAX_MEMORY_BLOCKS, 50000, "DEFAULT_MAX_MEMORY_BLOCKS keeps its value");
}

Test(legacy, mymalloc_allocates_in_unknown)
{
    void *p = must(mymalloc(100), "mymalloc(100)");
    cr_expect_eq(mm_block_category(p), MM_CAT_UNKNOWN, "mymalloc should use category Unknown");
    cr_expect_eq(mm_block_size(p), 100, "the block should keep the requested size");
    mmt_expect_category(MM_CAT_UNKNOWN, 100, 100, 1, 1, 0, "Unknown after mymalloc(100)");
    myfree(p);
    mmt_expect_category(MM_CAT_UNKNOWN, 0, 100, 0, 1, 1, "Unknown after myfree");
    mmt_expect_total(0, 100, 0, 1, 1, "the process after myfree");
}

Test(legacy, mymalloc_cat_allocates_in_each_builtin_category)
{
    void *p[MEM_MAX_CATEGORY];
    for (int c = 0; c < MEM_MAX_CATEGORY; c++) {
        p[c] = must(mymalloc_cat((size_t)(c + 1) * 10, (MemoryCategory)c), "mymalloc_cat");
        cr_expect_eq(mm_block_category(p[c]), c, "block %d should be in category %d", c, c);
    }
    for (int c = 0; c < MEM_MAX_CATEGORY; c++) {
        size_t b = (size_t)(c + 1) * 10;
        mmt_expect_category(c, b, b, 1, 1, 0, "each category holds its one block");
        myfree(p[c]);
    }
    mmt_expect_total(0, 210, 0, 6, 6, "the process after freeing the six blocks");
}

Test(legacy, mymalloc_of_zero_bytes_gives_a_valid_block)
{
    void *a = must(mymalloc(0), "mymalloc(0)");
    void *b = must(mymalloc(0), "a second mymalloc(0)");
    cr_expect_neq(a, b, "zero-size blocks should be distinct");
    cr_expect_eq(validate_memory_block(a), 1, "a zero-size block should validate");
    myfree(a);
    myfree(b);
    mmt_expect_total(0, 0, 0, 2, 2, "the process after freeing both");
}

Test(legacy, myrealloc_keeps_the_category_and_the_contents)
{
    unsigned char *p = must(mymalloc_cat(64, MEM_HALOS), "mymalloc_cat(64, Halos)");
    for (int i = 0; i < 64; i++) p[i] = (unsigned char)i;
    unsigned char *q = must(myrealloc(p, 4096), "myrealloc to 4096");
    cr_expect_eq(mm_block_category(q), MM_CAT_HALOS, "myrealloc should keep category Halos");
    for (int i = 0; i < 64; i++) cr_expect_eq(q[i], i, "byte %d should survive myrealloc", i);
    mmt_expect_category(MM_CAT_HALOS, 4096, 4096, 1, 1, 0, "Halos after growing to 4096");
    q = must(myrealloc(q, 16), "myrealloc down to 16");
    mmt_expect_category(MM_CAT_HALOS, 16, 4096, 1, 1, 0, "Halos after shrinking to 16");
    myfree(q);
    mmt_expect_category(MM_CAT_HALOS, 0, 4096, 0, 1, 1, "Halos after myfree");
}

Test(legacy, myrealloc_cat_moves_the_block)
{
    char *p = must(mymalloc_cat(100, MEM_HALOS), "mymalloc_cat(100, Halos)");
    strcpy(p, "galaxy");
    char *q = must(myrealloc_cat(p, 200, MEM_GALAXIES), "myrealloc_cat to Galaxies");
    cr_expect_eq(mm_block_category(q), MM_CAT_GALAXIES, "the block should now be in Galaxies");
    cr_expect_str_eq(q, "galaxy", "the contents should survive the move");
    mmt_expect_category(MM_CAT_HALOS, 0, 100, 0, 1, 0, "Halos after the move");
    mmt_expect_category(MM_CAT_GALAXIES, 200, 200, 1, 0, 0, "Galaxies after the move");
    myfree(q);
    mmt_expect_total(0, 200, 0, 1, 1, "the process after myfree");
}

Test(legacy, myrealloc_of_null_allocates_in_unknown)
{
    void *p = must(myrealloc(NULL, 48), "myrealloc(NULL, 48)");
    cr_expect_eq(mm_block_category(p), MM_CAT_UNKNOWN, "myrealloc(NULL) allocates in Unknown");
    cr_expect_eq(mm_block_size(p), 48, "of the size asked");
    myfree(p);
}

Test(legacy, myrealloc_cat_of_null_allocates_in_the_category)
{
    void *p = must(myrealloc_cat(NULL, 48, MEM_TREES), "myrealloc_cat(NULL, 48, Trees)");
    cr_expect_eq(mm_block_category(p), MM_CAT_TREES, "myrealloc_cat(NULL) allocates in Trees");
    mmt_expect_category(MM_CAT_TREES, 48, 48, 1, 1, 0, "Trees after the allocation");
    myfree(p);
}

Test(legacy, myfree_of_null_does_nothing)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    myfree(NULL);
    mmt_expect_no_error(&rec, "myfree(NULL)");
    lg_expect_count(0, "myfree(NULL) at DETAILED");
    mmt_expect_total(0, 0, 0, 0, 0, "the process after myfree(NULL)");
}

Test(legacy, legacy_and_mm_calls_share_blocks_and_figures)
{
    void *a = must(mymalloc_cat(10, MEM_IO), "mymalloc_cat");
    void *b = must(mm_malloc(20, MM_CAT_IO), "mm_malloc");
    mm_free(a); /* a legacy block freed with mm_free */
    myfree(b);  /* an mm_ block freed with myfree */
    mmt_expect_category(MM_CAT_IO, 0, 30, 0, 2, 2, "IO after mixing the two APIs");
}

Test(legacy, mymalloc_cat_accepts_a_registered_category_id)
{
    mm_category cooling = mm_category_register("Cooling", "Physics");
    cr_assert_geq(cooling, MM_CAT_BUILTIN_COUNT, "registration should give a new id");
    void *p = must(mymalloc_cat(64, (MemoryCategory)cooling), "mymalloc_cat(64, Cooling)");
    cr_expect_eq(mm_block_category(p), cooling, "the block should be in Cooling");
    myfree(p);
}

/* ========================================================================
 * init and cleanup
 * ====================================================================== */

Test(legacy, allocation_works_before_init)
{
    void *p = must(mymalloc_cat(32, MEM_HALOS), "mymalloc_cat before init_memory_system");
    cr_expect_eq(validate_memory_block(p), 1, "the block should validate");
    init_memory_system(0);
    myfree(p);
    mmt_expect_category(MM_CAT_HALOS, 0, 32, 0, 1, 1, "Halos after freeing the early block");
}

Test(legacy, init_can_be_called_again_without_cleanup)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    lg_start();
    init_memory_system(0);
    void *a = must(mymalloc_cat(100, MEM_TREES), "first allocation");
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS); /* Mimic's unit tests do this per test */
    void *b = must(mymalloc_cat(200, MEM_TREES), "allocation after the second init");
    init_memory_system(10);
    cr_expect_eq(validate_memory_block(a), 1, "a block from before the repeated init stays valid");
    mmt_expect_category(MM_CAT_TREES, 300, 300, 2, 2, 0, "repeated init resets nothing");
    myfree(a);
    myfree(b);
    mmt_expect_no_error(&rec, "repeated init and the frees");
    lg_expect_count(0, "init at the default level (MINIMAL)");
    mmt_expect_category(MM_CAT_TREES, 0, 300, 0, 2, 2, "Trees after both frees");
}

Test(legacy, init_says_at_detailed_that_max_blocks_is_ignored)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS);
    init_memory_system(7);
    lg_expect_count(2, "two inits at DETAILED");
    lg_expect_line(0, MM_LOG_INFO,
                   "Memory system initialised (mimicmem %s): max_blocks 50000 no longer limits "
                   "anything; live blocks are limited only by available memory",
                   MM_VERSION_STRING);
    lg_expect_line(1, MM_LOG_INFO,
                   "Memory system initialised again (call 2): live blocks and figures are kept; "
                   "max_blocks 7 no longer limits anything");
}

Test(legacy, cleanup_prints_the_brief_line_at_minimal)
{
    lg_start();
    void *p = must(mymalloc_cat(MB, MEM_HALOS), "mymalloc_cat(1 MB)");
    cleanup_memory_system();
    lg_expect_count(1, "cleanup at MINIMAL");
    lg_expect_line(0, MM_LOG_INFO, "Memory: 1.00 MB in use, 1.00 MB peak, 1 live block");
    myfree(p); /* a block from before the cleanup is still ours */
    mmt_expect_total(0, MB, 0, 1, 1, "the process after freeing it");
}

Test(legacy, cleanup_prints_nothing_at_none)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_NONE);
    cleanup_memory_system();
    lg_expect_count(0, "cleanup at NONE");
}

Test(legacy, allocation_and_init_work_after_cleanup)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    init_memory_system(0);
    void *cached = must(mymalloc(64), "a block to park in the thread cache");
    myfree(cached);
    cleanup_memory_system();
    lg_clear();
    init_memory_system(0);
    lg_expect_count(1, "init after cleanup");
    cr_expect(lg_find(MM_LOG_INFO, "Memory system initialised (mimicmem") == 0,
              "init after cleanup starts again at call 1:%s", lg_dump());
    void *p = must(mymalloc_cat(64, MEM_IO), "allocation after cleanup");
    cr_expect_eq(validate_memory_block(p), 1, "the new block should validate");
    myfree(p);
    mmt_expect_total(0, 64, 0, 2, 2, "the process after cleanup and a new block");
}

/* Mimic's unit tests call init_memory_system and cleanup_memory_system
 * around each test: the next test's figures start from zero, as the
 * original's table did. One process here plays two such tests. */
Test(legacy, init_after_cleanup_starts_a_fresh_tally)
{
    lg_start();
    init_memory_system(0); /* test 1 */
    void *leak1 = must(mymalloc_cat(3 * MB, MEM_HALOS), "test 1 leaks 3 MB in Halos");
    void *leak2 = must(mymalloc(100), "and 100 bytes in Unknown");
    check_memory_leaks();
    cr_expect(lg_find(MM_LOG_WARNING, "Memory leak detected: 2 blocks (3.00 MB)") == 0,
              "test 1 sees its own leaks:%s", lg_dump());
    cleanup_memory_system();

    lg_clear();
    check_memory_leaks(); /* between cleanup and init: still the old tally, as before */
    cr_expect(lg_find(MM_LOG_WARNING, "Memory leak detected: 2 blocks (3.00 MB)") == 0,
              "until the next init the old tally is reported:%s", lg_dump());

    init_memory_system(0); /* test 2 */
    lg_clear();
    check_memory_leaks();
    lg_expect_count(1, "test 2's check_memory_leaks before it allocates");
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
    lg_clear();
    print_memory_brief();
    print_allocated();
    print_allocated_by_category();
    lg_expect_count(3, "the three print calls");
    lg_expect_line(0, MM_LOG_INFO, "Memory: 0.00 MB in use, 0.00 MB peak, 0 live blocks");
    lg_expect_line(1, MM_LOG_INFO, "Memory in use: 0.00 MB in 0 blocks");
    lg_expect_line(2, MM_LOG_INFO, "Memory by category: no live blocks");

    void *p = must(mymalloc_cat(MB, MEM_TREES), "test 2 allocates 1 MB in Trees");
    lg_clear();
    check_memory_leaks();
    lg_expect_count(2, "test 2's leak only");
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 1 block (1.00 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category Trees: 1 block (1.00 MB)");
    lg_clear();
    print_memory_brief();
    lg_expect_line(0, MM_LOG_INFO, "Memory: 1.00 MB in use, 1.00 MB peak, 1 live block");
    myfree(p);

    /* The earlier blocks stay valid, counted by the process, outside the tally. */
    cr_expect_eq(validate_memory_block(leak1), 1, "test 1's block is still a valid block");
    mmt_expect_total(3 * MB + 100, 4 * MB + 100, 2, 3, 1, "the process still counts everything");
    myfree(leak1); /* freeing it does not drive the tally below zero */
    myfree(leak2);
    lg_clear();
    check_memory_leaks();
    print_memory_brief();
    lg_expect_count(2, "after freeing the earlier blocks");
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
    lg_expect_line(1, MM_LOG_INFO, "Memory: 0.00 MB in use, 1.00 MB peak, 0 live blocks");
    cleanup_memory_system();
}

Test(legacy, the_peak_marks_restart_with_a_fresh_tally)
{
    lg_start();
    void *blocks[15];
    for (int i = 0; i < 15; i++) blocks[i] = must(mymalloc_cat(MB, MEM_HALOS), "1 MB");
    for (int i = 0; i < 15; i++) myfree(blocks[i]);
    cleanup_memory_system();
    init_memory_system(0);
    lg_clear();
    for (int i = 0; i < 12; i++) blocks[i] = must(mymalloc_cat(MB, MEM_HALOS), "1 MB again");
    lg_expect_count(1, "12 MB in the fresh tally (the process peak is still 15 MB)");
    lg_expect_line(0, MM_LOG_INFO, "Memory peak passed 10 MB: 10.00 MB");
    for (int i = 0; i < 12; i++) myfree(blocks[i]);
    lg_clear();
    cleanup_memory_system();
    lg_expect_count(1, "cleanup's brief line");
    lg_expect_line(0, MM_LOG_INFO, "Memory: 0.00 MB in use, 12.00 MB peak, 0 live blocks");
}

Test(legacy, the_fresh_peak_counts_mm_calls_that_pass_the_old_process_peak)
{
    lg_start();
    void *old = must(mymalloc(2 * MB), "2 MB before the cleanup");
    myfree(old);
    cleanup_memory_system();
    init_memory_system(0);
    void *leak = must(mymalloc(MB / 2), "0.5 MB");
    void *big = must(mm_malloc(3 * MB, MM_CAT_IO), "3 MB through mm_malloc");
    mm_free(big);
    lg_clear();
    print_memory_brief();
    lg_expect_line(0, MM_LOG_INFO, "Memory: 0.50 MB in use, 3.50 MB peak, 1 live block");
    myfree(leak);
}

Test(legacy, allocation_after_cleanup_starts_a_fresh_tally_as_the_implicit_init_did)
{
    void *leak = must(mymalloc_cat(100, MEM_HALOS), "an earlier leak");
    set_memory_reporting(MEMORY_REPORT_NONE);
    cleanup_memory_system();
    void *p = must(mymalloc_cat(200, MEM_IO), "an allocation without init");
    lg_start();
    check_memory_leaks();
    lg_expect_count(2, "only the new block");
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 1 block (0.00 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category IO: 1 block (0.00 MB)");
    myfree(p);
    myfree(leak);
}

Test(legacy, init_without_cleanup_keeps_the_tally)
{
    void *a = must(mymalloc_cat(100, MEM_TREES), "before the first init");
    init_memory_system(0);
    void *b = must(mymalloc_cat(200, MEM_TREES), "after it");
    init_memory_system(0);
    lg_start();
    check_memory_leaks();
    lg_expect_count(2, "both blocks");
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 2 blocks (0.00 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category Trees: 2 blocks (0.00 MB)");
    myfree(a);
    myfree(b);
}

/* ========================================================================
 * Reporting levels
 * ====================================================================== */

Test(legacy, the_default_level_is_minimal)
{
    lg_start();
    void *p = must(mymalloc(10), "mymalloc");
    myfree(p);
    lg_expect_count(0, "no per-allocation lines by default");
    print_memory_brief();
    lg_expect_count(1, "print_memory_brief at the default level");
}

Test(legacy, none_silences_the_automatic_lines)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_NONE);
    init_memory_system(0);
    void **big = must(malloc(25 * sizeof *big), "the system malloc");
    for (int i = 0; i < 25; i++) big[i] = must(mymalloc_cat(MB, MEM_HALOS), "1 MB block");
    void *q = must(myrealloc(NULL, 10), "myrealloc(NULL)");
    q = must(myrealloc_cat(q, 20, MEM_IO), "myrealloc_cat");
    set_memory_reporting(42); /* a bad level is not reported at NONE either */
    for (int i = 0; i < 25; i++) myfree(big[i]);
    myfree(q);
    free(big);
    cleanup_memory_system();
    init_memory_system(0);
    lg_expect_count(0, "init, 25 MB of allocations (two peak marks), frees and cleanup at NONE");
}

/* The explicit calls print the same lines at every level, as Mimic's tracker
 * did: only the automatic ones follow the level. */
static void explicit_calls_at(int level)
{
    lg_start();
    set_memory_reporting(level);
    void *a = must(mymalloc_cat(MB, MEM_HALOS), "1 MB in Halos");
    void *b = must(mymalloc_cat(MB / 2, MEM_TREES), "0.5 MB in Trees");
    lg_clear(); /* DETAILED logged the two allocations */
    print_memory_brief();
    lg_expect_count(1, "print_memory_brief");
    lg_expect_line(0, MM_LOG_INFO, "Memory: 1.50 MB in use, 1.50 MB peak, 2 live blocks");
    lg_clear();
    print_allocated();
    lg_expect_line(0, MM_LOG_INFO, "Memory in use: 1.50 MB in 2 blocks");
    lg_expect_count(level >= MEMORY_REPORT_DETAILED ? 3 : 1,
                    "print_allocated (the categories follow at DETAILED, as before)");
    lg_clear();
    print_allocated_by_category();
    lg_expect_count(2, "print_allocated_by_category");
    lg_expect_line(0, MM_LOG_INFO, "Memory in category Halos: 1.00 MB in 1 block");
    lg_expect_line(1, MM_LOG_INFO, "Memory in category Trees: 0.50 MB in 1 block");
    lg_clear();
    check_memory_leaks();
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 2 blocks (1.50 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category Halos: 1 block (1.00 MB)");
    lg_expect_line(2, MM_LOG_WARNING, "Leaked in category Trees: 1 block (0.50 MB)");
    lg_expect_count(level >= MEMORY_REPORT_DETAILED ? 4 : 3,
                    "check_memory_leaks (the process-wide count follows at DETAILED)");
    myfree(a);
    myfree(b);
    lg_clear();
    check_memory_leaks();
    lg_expect_count(1, "check_memory_leaks with nothing live");
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
}

Test(legacy, explicit_reports_print_at_none)
{
    explicit_calls_at(MEMORY_REPORT_NONE);
}

Test(legacy, explicit_reports_print_at_minimal)
{
    explicit_calls_at(MEMORY_REPORT_MINIMAL);
}

Test(legacy, explicit_reports_print_at_detailed)
{
    explicit_calls_at(MEMORY_REPORT_DETAILED);
}

Test(legacy, validate_all_memory_at_none_names_damage_but_not_a_pass)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *c = filled(mm_context_malloc(ctx, 64, MM_CAT_HALOS), 64);
    lg_start();
    set_memory_reporting(MEMORY_REPORT_NONE);
    cr_expect_eq(validate_all_memory(), 1, "intact at NONE");
    lg_expect_count(0, "no pass line at NONE (Mimic's tracker printed it at MINIMAL and above)");
    damage(c, -1);
    cr_expect_eq(validate_all_memory(), 0, "validate_all_memory finds the damage at NONE");
    lg_expect_count(2, "the damage is named at NONE, as Mimic's tracker warned at every level");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 1 damaged header (1 context walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(1, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", c);
    damage(c, -1);
    mm_context_destroy(ctx);
}

Test(legacy, minimal_prints_a_line_each_time_the_peak_passes_a_further_10_mb)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_MINIMAL);
    void *blocks[32];
    for (int i = 0; i < 25; i++) blocks[i] = must(mymalloc_cat(MB, MEM_HALOS), "1 MB block");
    lg_expect_count(2, "25 MB allocated 1 MB at a time");
    lg_expect_line(0, MM_LOG_INFO, "Memory peak passed 10 MB: 10.00 MB");
    lg_expect_line(1, MM_LOG_INFO, "Memory peak passed 20 MB: 20.00 MB");

    for (int i = 15; i < 25; i++) myfree(blocks[i]);
    for (int i = 15; i < 25; i++) blocks[i] = must(mymalloc_cat(MB, MEM_HALOS), "again");
    lg_expect_count(2, "back to 25 MB: the peak did not move");

    for (int i = 25; i < 31; i++) blocks[i] = must(mymalloc_cat(MB, MEM_HALOS), "more");
    lg_expect_count(3, "31 MB");
    lg_expect_line(2, MM_LOG_INFO, "Memory peak passed 30 MB: 30.00 MB");

    /* One resize across two steps gives one line, and the next mark is the
     * step above the new peak. */
    blocks[30] = must(myrealloc(blocks[30], 25 * MB), "myrealloc to 25 MB");
    lg_expect_count(4, "one jump from 31 to 55 MB");
    lg_expect_line(3, MM_LOG_INFO, "Memory peak passed 50 MB: 55.00 MB");
    blocks[31] = must(mymalloc(4 * MB), "4 MB more, to 59 MB");
    lg_expect_count(4, "59 MB is below the next mark (60 MB)");
    myfree(blocks[31]);
    for (int i = 0; i < 31; i++) myfree(blocks[i]);
    lg_expect_count(4, "no lines for frees at MINIMAL");
}

Test(legacy, minimal_prints_no_line_per_allocation)
{
    lg_start();
    void *p = must(mymalloc_cat(100, MEM_HALOS), "mymalloc_cat");
    p = must(myrealloc(p, 200), "myrealloc");
    p = must(myrealloc_cat(p, 300, MEM_TREES), "myrealloc_cat");
    myfree(p);
    lg_expect_count(0, "allocation, reallocations and free at MINIMAL");
}

Test(legacy, detailed_logs_each_allocation_reallocation_and_free)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    void *p = must(mymalloc_cat(100, MEM_HALOS), "mymalloc_cat(100, Halos)");
    void *q = must(myrealloc(p, 300), "myrealloc to 300");
    void *r = must(myrealloc_cat(q, 40, MEM_TREES), "myrealloc_cat to 40 in Trees");
    myfree(r);
    void *u = must(mymalloc(8), "mymalloc(8)");
    void *v = must(myrealloc(NULL, 16), "myrealloc(NULL, 16)");
    void *w = must(myrealloc_cat(NULL, 24, MEM_IO), "myrealloc_cat(NULL, 24, IO)");
    lg_expect_count(7, "seven calls at DETAILED");
    lg_expect_line(0, MM_LOG_INFO, "Allocated 100 bytes in category Halos at %p", p);
    lg_expect_line(1, MM_LOG_INFO, "Reallocated 300 bytes (was 100) in category Halos at %p", q);
    lg_expect_line(2, MM_LOG_INFO,
                   "Reallocated 40 bytes (was 300 in category Halos) in category Trees at %p", r);
    lg_expect_line(3, MM_LOG_INFO, "Freed 40 bytes in category Trees at %p", r);
    lg_expect_line(4, MM_LOG_INFO, "Allocated 8 bytes in category Unknown at %p", u);
    lg_expect_line(5, MM_LOG_INFO, "Allocated 16 bytes in category Unknown at %p", v);
    lg_expect_line(6, MM_LOG_INFO, "Allocated 24 bytes in category IO at %p", w);
    myfree(u);
    myfree(v);
    myfree(w);
    cr_expect_eq(lg_count_level(MM_LOG_WARNING), 0, "no warnings:%s", lg_dump());
}

Test(legacy, detailed_logs_context_blocks_freed_with_myfree)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *p = must(mm_context_malloc(ctx, 104, MM_CAT_HALOS), "a context block");
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    myfree(p);
    lg_expect_count(1, "myfree of a context block at DETAILED");
    lg_expect_line(0, MM_LOG_INFO, "Freed 104 bytes in category Halos at %p", p);
    mm_context_destroy(ctx);
}

Test(legacy, a_level_out_of_range_is_ignored_with_a_warning)
{
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    set_memory_reporting(3);
    set_memory_reporting(-1);
    lg_expect_count(2, "two bad levels");
    lg_expect_line(0, MM_LOG_WARNING,
                   "set_memory_reporting: level 3 is not MEMORY_REPORT_NONE (0), MINIMAL (1) or "
                   "DETAILED (2); the level stays 2");
    lg_expect_line(1, MM_LOG_WARNING,
                   "set_memory_reporting: level -1 is not MEMORY_REPORT_NONE (0), MINIMAL (1) or "
                   "DETAILED (2); the level stays 2");
    lg_clear();
    void *p = must(mymalloc(1), "mymalloc");
    myfree(p);
    lg_expect_count(2, "DETAILED still in force");
}

/* ========================================================================
 * print_* and check_memory_leaks
 * ====================================================================== */

/* 2.5 MB in 3 blocks: Halos 2 x 1 MB, Trees 0.5 MB. */
static void *three[3];

static void make_three(void)
{
    three[0] = must(mymalloc_cat(MB, MEM_HALOS), "1 MB in Halos");
    three[1] = must(mymalloc_cat(MB, MEM_HALOS), "another 1 MB in Halos");
    three[2] = must(mymalloc_cat(MB / 2, MEM_TREES), "0.5 MB in Trees");
}

static void free_three(void)
{
    for (int i = 0; i < 3; i++) myfree(three[i]);
}

Test(legacy, print_memory_brief_prints_current_peak_and_live_blocks)
{
    lg_start();
    make_three();
    myfree(three[1]);
    print_memory_brief();
    lg_expect_count(1, "print_memory_brief");
    lg_expect_line(0, MM_LOG_INFO, "Memory: 1.50 MB in use, 2.50 MB peak, 2 live blocks");
    myfree(three[0]);
    myfree(three[2]);
}

Test(legacy, print_allocated_prints_one_line_at_minimal)
{
    lg_start();
    make_three();
    print_allocated();
    lg_expect_count(1, "print_allocated at MINIMAL");
    lg_expect_line(0, MM_LOG_INFO, "Memory in use: 2.50 MB in 3 blocks");
    free_three();
}

Test(legacy, print_allocated_adds_the_categories_at_detailed)
{
    make_three();
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    print_allocated();
    lg_expect_count(3, "print_allocated at DETAILED");
    lg_expect_line(0, MM_LOG_INFO, "Memory in use: 2.50 MB in 3 blocks");
    lg_expect_line(1, MM_LOG_INFO, "Memory in category Halos: 2.00 MB in 2 blocks");
    lg_expect_line(2, MM_LOG_INFO, "Memory in category Trees: 0.50 MB in 1 block");
    set_memory_reporting(MEMORY_REPORT_MINIMAL);
    free_three();
}

Test(legacy, print_allocated_by_category_prints_each_non_empty_category)
{
    mm_category cooling = mm_category_register("Cooling", "Physics");
    make_three();
    void *c = must(mm_malloc(3 * MB / 4, cooling), "0.75 MB in Cooling");
    void *z = must(mymalloc_cat(0, MEM_UTILITY), "a zero-size block in Utility");
    lg_start();
    print_allocated_by_category();
    lg_expect_count(4, "four non-empty categories");
    lg_expect_line(0, MM_LOG_INFO, "Memory in category Halos: 2.00 MB in 2 blocks");
    lg_expect_line(1, MM_LOG_INFO, "Memory in category Trees: 0.50 MB in 1 block");
    lg_expect_line(2, MM_LOG_INFO, "Memory in category Utility: 0.00 MB in 1 block");
    lg_expect_line(3, MM_LOG_INFO, "Memory in category Cooling: 0.75 MB in 1 block");
    free_three();
    mm_free(c);
    myfree(z);
}

Test(legacy, print_allocated_by_category_says_when_nothing_is_live)
{
    lg_start();
    print_allocated_by_category();
    lg_expect_count(1, "print_allocated_by_category with nothing live");
    lg_expect_line(0, MM_LOG_INFO, "Memory by category: no live blocks");
}

Test(legacy, check_memory_leaks_reports_no_leaks_as_information)
{
    lg_start();
    void *p = must(mymalloc(10), "mymalloc");
    myfree(p);
    check_memory_leaks();
    lg_expect_count(1, "check_memory_leaks with nothing live");
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
}

Test(legacy, check_memory_leaks_warns_with_the_count_the_mb_and_each_category)
{
    make_three();
    lg_start();
    check_memory_leaks();
    lg_expect_count(3, "check_memory_leaks with three blocks live");
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 3 blocks (2.50 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category Halos: 2 blocks (2.00 MB)");
    lg_expect_line(2, MM_LOG_WARNING, "Leaked in category Trees: 1 block (0.50 MB)");
    free_three();
    lg_clear();
    check_memory_leaks();
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
}

Test(legacy, check_memory_leaks_at_detailed_lists_context_blocks)
{
    mm_context *forest = must(mm_context_create("forest", NULL), "mm_context_create");
    mm_context *cooling = must(mm_context_create("cooling", forest), "a child context");
    void *g = must(mm_context_malloc(forest, 104, MM_CAT_HALOS), "104 B in the forest");
    void *t = must(mm_context_malloc(forest, 16, MM_CAT_TREES), "16 B in the forest");
    void *big = must(mm_context_malloc(forest, 300000, MM_CAT_GALAXIES), "a large block");
    void *c = must(mm_context_malloc(cooling, 8, MM_CAT_UTILITY), "8 B in the child");
    void *p = must(mymalloc_cat(50, MEM_IO), "a process-wide block");
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    check_memory_leaks();
    lg_expect_count(11, "the DETAILED leak report");
    lg_expect_line(0, MM_LOG_WARNING, "Memory leak detected: 5 blocks (0.29 MB) still allocated");
    lg_expect_line(1, MM_LOG_WARNING, "Leaked in category Galaxies: 1 block (0.29 MB)");
    lg_expect_line(2, MM_LOG_WARNING, "Leaked in category Halos: 1 block (0.00 MB)");
    lg_expect_line(3, MM_LOG_WARNING, "Leaked in category Trees: 1 block (0.00 MB)");
    lg_expect_line(4, MM_LOG_WARNING, "Leaked in category IO: 1 block (0.00 MB)");
    lg_expect_line(5, MM_LOG_WARNING, "Leaked in category Utility: 1 block (0.00 MB)");
    lg_expect_line(6, MM_LOG_WARNING,
                   "Leaked block %p: 104 bytes in category Halos, context \"forest\"", g);
    lg_expect_line(7, MM_LOG_WARNING,
                   "Leaked block %p: 16 bytes in category Trees, context \"forest\"", t);
    lg_expect_line(8, MM_LOG_WARNING,
                   "Leaked block %p: 300000 bytes in category Galaxies, context \"forest\"", big);
    lg_expect_line(9, MM_LOG_WARNING,
                   "Leaked block %p: 8 bytes in category Utility, context \"cooling\"", c);
    lg_expect_line(10, MM_LOG_WARNING,
                   "Leaked blocks not listed: 1 process-wide block (mymalloc, mm_malloc), counted "
                   "above; only context blocks can be listed");
    myfree(p);
    mm_context_destroy(forest);
    lg_clear();
    check_memory_leaks();
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
}

Test(legacy, the_detailed_listing_skips_freed_context_blocks)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *a = must(mm_context_malloc(ctx, 32, MM_CAT_HALOS), "a");
    void *b = must(mm_context_malloc(ctx, 32, MM_CAT_HALOS), "b");
    mm_free(a);
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    check_memory_leaks();
    lg_expect_count(3, "one live context block");
    lg_expect_line(2, MM_LOG_WARNING,
                   "Leaked block %p: 32 bytes in category Halos, context \"forest\"", b);
    mm_context_destroy(ctx);
}

/* ========================================================================
 * validate_memory_block
 * ====================================================================== */

Test(legacy, validate_memory_block_accepts_intact_blocks)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = must(mymalloc_cat(100, MEM_HALOS), "a process-wide block");
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *c = must(mm_context_malloc(ctx, 100, MM_CAT_HALOS), "a context block");
    void *l = must(mm_context_malloc(ctx, 100000, MM_CAT_HALOS), "a large context block");
    cr_expect_eq(validate_memory_block(p), 1, "an intact process-wide block gives 1");
    cr_expect_eq(validate_memory_block(c), 1, "an intact context block gives 1");
    cr_expect_eq(validate_memory_block(l), 1, "an intact large context block gives 1");
    myfree(p);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "validating intact blocks");
}

Test(legacy, validate_memory_block_rejects_null_and_foreign_pointers)
{
    static _Alignas(max_align_t) unsigned char foreign[256];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(validate_memory_block(NULL), 0, "NULL gives 0");
    cr_expect_eq(validate_memory_block(foreign + 64), 0, "a static buffer gives 0");
    cr_expect_eq(validate_memory_block(foreign + 65), 0, "a misaligned pointer gives 0");
    unsigned char *heap = must(malloc(256), "the system malloc");
    memset(heap, 0, 256);
    cr_expect_eq(validate_memory_block(heap + 128), 0, "a system malloc buffer gives 0");
    free(heap);
    mmt_expect_no_error(&rec, "validating foreign pointers");
}

Test(legacy, validate_memory_block_rejects_freed_context_blocks)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *a = must(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "a");
    void *keep = must(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "keep");
    myfree(a);
    cr_expect_eq(validate_memory_block(a), 0, "a freed context block gives 0");
    cr_expect_eq(validate_memory_block(keep), 1, "its neighbour still gives 1");
    mm_context_reset(ctx);
    cr_expect_eq(validate_memory_block(keep), 0, "a block released by a reset gives 0");
    void *b = must(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "a block after the reset");
    mm_context_destroy(ctx);
    cr_expect_eq(validate_memory_block(b), 0, "a block of a destroyed context gives 0");
    mmt_expect_no_error(&rec, "validating freed blocks");
}

Test(legacy, validate_memory_block_rejects_a_freed_process_block)
{
    if (mmt_use_after_free_is_checked()) {
        cr_skip_test("a freed process-wide block may be back in the system allocator, and "
                     "reading it would be flagged; the context test covers freed blocks");
    }
    void *p = must(mymalloc(64), "mymalloc(64)");
    myfree(p);
    cr_expect_eq(validate_memory_block(p), 0, "a freed process-wide block gives 0");
}

Test(legacy, validate_memory_block_rejects_damaged_headers)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *blocks[2] = {must(mymalloc_cat(64, MEM_HALOS), "a process-wide block"),
                       must(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "a context block")};
    for (int b = 0; b < 2; b++) {
        for (int offset = -16; offset < 0; offset++) {
            damage(blocks[b], offset);
            cr_expect_eq(validate_memory_block(blocks[b]), 0,
                         "%s block with header byte %d damaged gives 0",
                         b ? "a context" : "a process", offset);
            damage(blocks[b], offset);
            cr_expect_eq(validate_memory_block(blocks[b]), 1, "repaired, it gives 1 again");
        }
    }
    myfree(blocks[0]);
    myfree(blocks[1]);
    mm_context_destroy(ctx);
    mmt_expect_no_error(&rec, "validating damaged blocks");
}

/* ========================================================================
 * validate_all_memory
 * ====================================================================== */

/* A forest with a child, blocks of many size classes over several chunks,
 * freed slots, moves between classes and large blocks. Returns the live
 * context blocks; the blocks are in out[0 .. n-1] (NULL where freed). */
#define TREE_BLOCKS 3000

static size_t build_tree(mm_context **forest, void **out)
{
    *forest = must(mm_context_create("forest", NULL), "mm_context_create");
    mm_context *child = must(mm_context_create("cooling", *forest), "a child context");
    size_t live = 0;
    for (int i = 0; i < TREE_BLOCKS; i++) {
        mm_context *ctx = i % 3 == 0 ? child : *forest;
        size_t size = i % 97 == 0 ? 20000 + (size_t)i : (size_t)(i * 37) % 600;
        out[i] = must(mm_context_malloc(ctx, size, (mm_category)(i % MM_CAT_BUILTIN_COUNT)),
                      "a context block");
        live++;
    }
    for (int i = 0; i < TREE_BLOCKS; i += 7) {
        mm_free(out[i]);
        out[i] = NULL;
        live--;
    }
    for (int i = 1; i < TREE_BLOCKS; i += 11)
        if (out[i]) out[i] = must(mm_realloc(out[i], (size_t)i % 1000 + 1), "a context realloc");
    return live;
}

Test(legacy, validate_all_memory_counts_process_blocks_without_walking_them)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *c1 = must(mm_context_malloc(ctx, 64, MM_CAT_HALOS), "a context block");
    void *c2 = must(mm_context_malloc(ctx, 40000, MM_CAT_HALOS), "a large context block");
    void *p = filled(mymalloc_cat(64, MEM_HALOS), 64);
    void *q = must(mm_malloc(100, MM_CAT_IO), "an mm_malloc block");
    damage(p, -1); /* a process-wide header: no walk reaches it */
    lg_start();
    cr_expect_eq(validate_all_memory(), 1, "process-wide blocks are not walked: 1 all the same");
    lg_expect_count(1, "the pass line");
    lg_expect_line(0, MM_LOG_INFO,
                   "Memory check passed: 2 live context blocks in 1 context walked, every header "
                   "intact; 2 process-wide blocks counted, not walked (each is checked when freed "
                   "or reallocated)");
    cr_expect_eq(validate_memory_block(p), 0, "validate_memory_block does check that header");
    damage(p, -1);
    cr_expect_eq(validate_memory_block(p), 1, "repaired");
    myfree(p);
    mm_free(q);
    mm_free(c1);
    mm_free(c2);
    mm_context_destroy(ctx);
}

Test(legacy, validate_all_memory_passes_when_every_header_is_intact)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    static void *blocks[TREE_BLOCKS];
    mm_context *forest;
    size_t live = build_tree(&forest, blocks);
    mm_context *other = must(mm_context_create("other", NULL), "a second top-level context");
    void *p = must(mymalloc(100), "a process-wide block");
    lg_start();
    cr_expect_eq(validate_all_memory(), 1, "every header is intact");
    lg_expect_count(1, "validate_all_memory that passes");
    lg_expect_line(0, MM_LOG_INFO,
                   "Memory check passed: %zu live context blocks in 3 contexts walked, every "
                   "header intact; 1 process-wide block counted, not walked (each is checked "
                   "when freed or reallocated)",
                   live);
    mmt_expect_no_error(&rec, "validate_all_memory");
    myfree(p);
    mm_context_destroy(other);
    mm_context_destroy(forest);
}

Test(legacy, validate_all_memory_with_no_context_passes)
{
    lg_start();
    cr_expect_eq(validate_all_memory(), 1, "nothing to walk is nothing damaged");
    lg_expect_line(0, MM_LOG_INFO,
                   "Memory check passed: 0 live context blocks in 0 contexts walked, every "
                   "header intact; 0 process-wide blocks counted, not walked (each is checked "
                   "when freed or reallocated)");
}

Test(legacy, validate_all_memory_names_a_damaged_context_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    static void *blocks[TREE_BLOCKS];
    mm_context *forest;
    build_tree(&forest, blocks);
    void *victim = filled(mm_context_malloc(forest, 448, MM_CAT_HALOS), 448);
    damage(victim, -1);
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "a damaged header makes the check fail");
    lg_expect_count(2, "validate_all_memory with one damaged block");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 1 damaged header (2 contexts walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(1, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", victim);
    mmt_expect_no_error(&rec, "validate_all_memory never reports through the error handler");
    damage(victim, -1);
    cr_expect_eq(validate_all_memory(), 1, "repaired, the check passes");
    mm_context_destroy(forest);
}

Test(legacy, validate_all_memory_keeps_walking_after_a_damaged_header)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *b[40];
    for (int i = 0; i < 40; i++) b[i] = filled(mm_context_malloc(ctx, 32, MM_CAT_HALOS), 32);
    /* The size bits of one header (the walk cannot trust its length), the
     * seal of another further on, and the last block of the chunk. */
    damage(b[5], -16);
    damage(b[20], -2);
    damage(b[39], -8);
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "three damaged headers");
    lg_expect_count(4, "the summary and three named blocks");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 3 damaged headers (1 context walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(1, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", b[5]);
    lg_expect_line(2, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", b[20]);
    lg_expect_line(3, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", b[39]);
    damage(b[5], -16);
    damage(b[20], -2);
    damage(b[39], -8);
    cr_expect_eq(validate_all_memory(), 1, "repaired, the check passes");
    mm_context_destroy(ctx);
}

Test(legacy, damage_across_neighbouring_info_words_is_named_at_its_start)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *b[6];
    for (int i = 0; i < 6; i++) b[i] = filled(mm_context_malloc(ctx, 16, MM_CAT_HALOS), 16);
    damage(b[2], -8); /* the info words of b[2] and b[3]: an overrun of b[1], say */
    damage(b[3], -8);
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "the damage is found");
    lg_expect_count(2, "one damaged region");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 1 damaged header (1 context walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(1, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", b[2]);
    damage(b[2], -8);
    damage(b[3], -8);
    cr_expect_eq(validate_all_memory(), 1, "repaired, the check passes");
    mm_context_destroy(ctx);
}

Test(legacy, validate_all_memory_names_a_damaged_large_block_and_a_damaged_free_slot)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    mm_context *child = must(mm_context_create("cooling", ctx), "a child context");
    void *large = must(mm_context_malloc(ctx, 50000, MM_CAT_TREES), "a large block");
    void *freed = filled(mm_context_malloc(child, 64, MM_CAT_HALOS), 64);
    void *after = must(mm_context_malloc(child, 64, MM_CAT_HALOS), "its neighbour");
    mm_free(freed);
    damage(large, -4);
    damage(freed, -1); /* an overrun of the block before it would do this */
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "two damaged headers");
    lg_expect_count(3, "the summary and two named blocks");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 2 damaged headers (2 contexts walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(1, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", large);
    lg_expect_line(2, MM_LOG_WARNING, "Damaged block header at %p in context \"cooling\"", freed);
    damage(large, -4);
    damage(freed, -1);
    cr_expect_eq(validate_all_memory(), 1, "repaired, the check passes");
    cr_expect_eq(validate_memory_block(after), 1, "the neighbour was never touched");
    mm_context_destroy(ctx);
}

Test(legacy, validate_all_memory_names_a_damaged_chunk_header)
{
    /* White-box: the first block of a new context sits right after the
     * 64-byte chunk header and its own 16-byte header. */
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    unsigned char *first = must(mm_context_malloc(ctx, 32, MM_CAT_HALOS), "the first block");
    unsigned char *chunk = first - 16 - 64;
    chunk[0] ^= 0x5a; /* the chunk's magic */
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "a damaged chunk header fails the check");
    lg_expect_count(2, "the summary and the chunk");
    lg_expect_line(1, MM_LOG_WARNING,
                   "Damaged chunk header at %p in context \"forest\": the blocks after it were "
                   "not checked",
                   (void *)(chunk + 64));
    chunk[0] ^= 0x5a;
    cr_expect_eq(validate_all_memory(), 1, "repaired, the check passes");
    mm_context_destroy(ctx);
}

Test(legacy, validate_all_memory_names_32_damaged_blocks_and_counts_the_rest)
{
    mm_context *ctx = must(mm_context_create("forest", NULL), "mm_context_create");
    void *b[40];
    for (int i = 0; i < 40; i++) b[i] = filled(mm_context_malloc(ctx, 48, MM_CAT_HALOS), 48);
    for (int i = 0; i < 40; i++) damage(b[i], -3);
    lg_start();
    cr_expect_eq(validate_all_memory(), 0, "forty damaged headers");
    lg_expect_count(34, "the summary, 32 named blocks and the rest counted");
    lg_expect_line(0, MM_LOG_WARNING,
                   "Memory check failed: 40 damaged headers (1 context walked; 0 process-wide "
                   "blocks counted, not walked)");
    lg_expect_line(32, MM_LOG_WARNING, "Damaged block header at %p in context \"forest\"", b[31]);
    lg_expect_line(33, MM_LOG_WARNING, "... and 8 more damaged headers, not named");
    for (int i = 0; i < 40; i++) damage(b[i], -3);
    mm_context_destroy(ctx);
}

/* ========================================================================
 * More than the legacy limit of 50,000 live blocks
 * ====================================================================== */

#define MANY 60000

Test(legacy, holds_60000_process_blocks_live_at_once)
{
    static void *blocks[MANY];
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS);
    for (size_t i = 0; i < MANY; i++) {
        blocks[i] = mymalloc_cat(104, MEM_HALOS); /* a galaxy copy */
        cr_assert_not_null(blocks[i], "block %zu of %d should be allocated", i, MANY);
        memset(blocks[i], (int)(i & 0xff), 104);
    }
    mmt_expect_category(MM_CAT_HALOS, (size_t)MANY * 104, (size_t)MANY * 104, MANY, MANY, 0,
                        "Halos with 60,000 galaxies live");
    size_t valid = 0;
    for (size_t i = 0; i < MANY; i++) valid += (size_t)validate_memory_block(blocks[i]);
    cr_expect_eq(valid, MANY, "%zu of %d live blocks validate", valid, MANY);
    lg_start();
    print_memory_brief();
    lg_expect_line(0, MM_LOG_INFO, "Memory: 5.95 MB in use, 5.95 MB peak, 60000 live blocks");
    for (size_t i = 0; i < MANY; i++) myfree(blocks[i]);
    mmt_expect_category(MM_CAT_HALOS, 0, (size_t)MANY * 104, 0, MANY, MANY,
                        "Halos after freeing them in allocation order");
    lg_clear();
    check_memory_leaks();
    lg_expect_line(0, MM_LOG_INFO, "No memory leaks detected");
}

Test(legacy, walks_60000_context_blocks)
{
    mm_context *forest = must(mm_context_create("forest", NULL), "mm_context_create");
    for (int i = 0; i < MANY; i++)
        cr_assert_not_null(mm_context_malloc(forest, 104, MM_CAT_HALOS), "context block %d", i);
    lg_start();
    cr_expect_eq(validate_all_memory(), 1, "60,000 intact context blocks");
    lg_expect_line(0, MM_LOG_INFO,
                   "Memory check passed: 60000 live context blocks in 1 context walked, every "
                   "header intact; 0 process-wide blocks counted, not walked (each is checked "
                   "when freed or reallocated)");
    mm_context_destroy(forest);
}

/* ========================================================================
 * Failures: in-process with a recording handler, then fatal by default
 * ====================================================================== */

Test(legacy, a_failed_allocation_returns_null_when_the_handler_returns)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    cr_expect_null(mymalloc((size_t)1 << 46), "mymalloc of 64 TB should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "mymalloc of 64 TB");
    cr_expect_null(mymalloc_cat((size_t)1 << 46, MEM_HALOS), "so should mymalloc_cat");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "mymalloc_cat of 64 TB");
    void *p = must(mymalloc(10), "a small block");
    lg_clear();
    cr_expect_null(myrealloc(p, (size_t)1 << 46), "myrealloc to 64 TB should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_OUT_OF_MEMORY, "myrealloc to 64 TB");
    cr_expect_eq(validate_memory_block(p), 1, "the block stays valid after a failed myrealloc");
    lg_expect_count(0, "no DETAILED lines for failed calls");
    myfree(p);
    mmt_expect_total(0, 10, 0, 1, 1, "only the small block was counted");
}

Test(legacy, a_bad_pointer_is_reported_once_and_nothing_is_logged)
{
    static _Alignas(max_align_t) unsigned char foreign[256];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    lg_start();
    set_memory_reporting(MEMORY_REPORT_DETAILED);
    myfree(foreign + 64);
    cr_expect_eq(rec.ptr, foreign + 64, "the error should carry the pointer");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "myfree of a foreign pointer");
    cr_expect_null(myrealloc(foreign + 64, 10), "myrealloc of a foreign pointer returns NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "myrealloc of a foreign pointer");
    cr_expect_null(myrealloc_cat(foreign + 64, 10, MEM_IO), "so does myrealloc_cat");
    mmt_expect_one_error(&rec, MM_ERR_BAD_POINTER, "myrealloc_cat of a foreign pointer");
    lg_expect_count(0, "no DETAILED lines for refused calls");
}

Test(legacy, an_unknown_category_is_an_error_not_unknown)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mymalloc_cat(10, (MemoryCategory)999), "an unregistered id should fail");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mymalloc_cat with id 999");
    cr_expect_null(mymalloc_cat(10, MEM_MAX_CATEGORY), "MEM_MAX_CATEGORY is not a category");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mymalloc_cat with MEM_MAX_CATEGORY");
}

static void child_free_foreign(void *arg)
{
    (void)arg;
    static _Alignas(max_align_t) unsigned char foreign[256];
    myfree(foreign + 64);
}

static void child_free_twice(void *arg)
{
    (void)arg;
    mm_context *ctx = mm_context_create("forest", NULL);
    void *p = mm_context_malloc(ctx, 32, MM_CAT_HALOS);
    myfree(p);
    myfree(p);
}

static void child_realloc_foreign(void *arg)
{
    (void)arg;
    static _Alignas(max_align_t) unsigned char foreign[256];
    myrealloc(foreign + 64, 100);
}

static void child_out_of_memory(void *arg)
{
    (void)arg;
    mymalloc_cat((size_t)1 << 46, MEM_HALOS);
}

static void child_realloc_out_of_memory(void *arg)
{
    (void)arg;
    void *p = mymalloc(10);
    myrealloc(p, (size_t)1 << 46);
}

Test(legacy, myfree_of_a_foreign_pointer_is_fatal)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_legacy_death(child_free_foreign, NULL, "bad pointer", msg);
    cr_expect(strstr(msg, "is not a live mimicmem block") != NULL, "the message: %s", msg);
}

Test(legacy, myfree_twice_is_fatal)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_legacy_death(child_free_twice, NULL, "double free", msg);
    cr_expect(strstr(msg, "category \"Halos\"") != NULL, "the message names the category: %s", msg);
}

Test(legacy, myrealloc_of_a_foreign_pointer_is_fatal)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_legacy_death(child_realloc_foreign, NULL, "bad pointer", msg);
}

Test(legacy, allocation_failure_is_fatal_and_names_the_size_and_category)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_legacy_death(child_out_of_memory, NULL, "out of memory", msg);
    cr_expect(strstr(msg, "70368744177664 bytes") != NULL, "the message names the size: %s", msg);
    cr_expect(strstr(msg, "\"Halos\"") != NULL, "the message names the category: %s", msg);
}

Test(legacy, reallocation_failure_is_fatal)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_legacy_death(child_realloc_out_of_memory, NULL, "out of memory", msg);
    cr_expect(strstr(msg, "\"Unknown\"") != NULL, "the message names the category: %s", msg);
}

/* A host handler decides instead of the exit with status 1. */
static void exit_7(const mm_error *err, void *user)
{
    (void)err;
    (void)user;
    _exit(7);
}

static void child_free_foreign_under_a_host_handler(void *arg)
{
    (void)arg;
    mm_set_error_handler(exit_7, NULL);
    child_free_foreign(NULL);
}

static void child_returning_handler(void *arg)
{
    (void)arg;
    mmt_recorder rec;
    mmt_record_errors(&rec);
    child_free_foreign(NULL); /* returns: the handler returned */
    if (rec.count != 1) _exit(3);
}

Test(legacy, a_host_handler_decides_instead_of_exit_status_1)
{
    static mmt_death d;
    mmt_run_child(child_free_foreign_under_a_host_handler, NULL, &d);
    cr_expect(d.signal == 0 && d.exit_status == 7,
              "the host's handler ends the process its way (exit 7); child ended with signal "
              "%d, exit status %d; stderr:\n%s", d.signal, d.exit_status, d.text);
    mmt_run_child(child_returning_handler, NULL, &d);
    cr_expect(d.signal == 0 && d.exit_status == 0,
              "a host handler that returns lets the process go on; child ended with signal %d, "
              "exit status %d; stderr:\n%s", d.signal, d.exit_status, d.text);
}

static void child_mm_out_of_memory_after_legacy_calls(void *arg)
{
    (void)arg;
    void *p = mymalloc(10);
    myfree(p);
    mm_malloc((size_t)1 << 46, MM_CAT_HALOS);
}

Test(legacy, an_mm_call_after_legacy_calls_still_aborts)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(child_mm_out_of_memory_after_legacy_calls, NULL, "out of memory", msg);
    cr_expect(strstr(msg, "mm_malloc") != NULL, "the message names mm_malloc: %s", msg);
}

/* ========================================================================
 * The default printer: information on stdout, warnings on stderr
 * ====================================================================== */

/* Runs fn in a child with the default log and error handlers and its stdout
 * and stderr in files, and returns what each received (system malloc). */
static void run_with_default_output(void (*fn)(void), char **out_text, char **err_text)
{
    FILE *out = tmpfile(), *err = tmpfile();
    cr_assert(out != NULL && err != NULL, "tmpfile() should give two files");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork() should succeed: %s", strerror(errno));
    if (pid == 0) {
        if (dup2(fileno(out), STDOUT_FILENO) < 0 || dup2(fileno(err), STDERR_FILENO) < 0)
            _exit(126);
        alarm(20);
        mm_set_log_handler(NULL, NULL);
        mm_set_error_handler(NULL, NULL);
        fn();
        fflush(NULL);
        _exit(0);
    }
    int status = 0;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    cr_assert_eq(w, pid, "waitpid() should return the child");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child should exit with 0");
    FILE *files[2] = {out, err};
    char **texts[2] = {out_text, err_text};
    for (int i = 0; i < 2; i++) {
        long len = ftell(files[i]);
        cr_assert_geq(len, 0, "the captured output should have a length");
        char *t = must(malloc((size_t)len + 1), "the system malloc");
        rewind(files[i]);
        cr_assert_eq(fread(t, 1, (size_t)len, files[i]), (size_t)len, "the output reads back");
        t[len] = '\0';
        *texts[i] = t;
        fclose(files[i]);
    }
}

static void mimic_style_run(void)
{
    init_memory_system(0);
    void *leak = mymalloc_cat(2048, MEM_TREES);
    check_memory_leaks();
    myfree(leak);
    check_memory_leaks();
    cleanup_memory_system();
}

Test(legacy, the_default_printer_sends_information_to_stdout_and_warnings_to_stderr)
{
    char *out, *err;
    run_with_default_output(mimic_style_run, &out, &err);
    cr_expect_str_eq(out,
                     "No memory leaks detected\n"
                     "Memory: 0.00 MB in use, 0.00 MB peak, 0 live blocks\n",
                     "stdout holds the informational lines");
    cr_expect_str_eq(err,
                     "mimicmem: warning: Memory leak detected: 1 block (0.00 MB) still allocated\n"
                     "mimicmem: warning: Leaked in category Trees: 1 block (0.00 MB)\n",
                     "stderr holds the warnings, with the words Mimic's tests look for");
    free(out);
    free(err);
}

static void none_run(void)
{
    set_memory_reporting(MEMORY_REPORT_NONE);
    mimic_style_run();
}

Test(legacy, none_writes_only_the_explicit_checks_to_stdout_and_stderr)
{
    char *out, *err;
    run_with_default_output(none_run, &out, &err);
    cr_expect_str_eq(out, "No memory leaks detected\n",
                     "stdout at NONE: the explicit check, not cleanup's brief line");
    cr_expect_str_eq(err,
                     "mimicmem: warning: Memory leak detected: 1 block (0.00 MB) still allocated\n"
                     "mimicmem: warning: Leaked in category Trees: 1 block (0.00 MB)\n",
                     "stderr at NONE: the explicit check's warnings");
    free(out);
    free(err);
}
