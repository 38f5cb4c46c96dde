/* diagnostics.c: the production checks of mimicmem in one short program.
 * Turns on guards, poisoning and allocation sites from code (the environment
 * variables MIMICMEM_CHECK=full MIMICMEM_SITES=on do the same), gives the
 * cooling module a 1 MB budget, and then makes the three mistakes they exist
 * for: reading memory that was never written, writing one byte past the end of
 * a block, and asking for more than the budget. A handler that returns instead
 * of aborting lets the program carry on and say what each check reported. */
#define MM_WITH_SITES /* mm_malloc and friends record __FILE__ and __LINE__ */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"

static int reported[16]; /* errors seen, by mm_error_kind */

static void on_error(const mm_error *err, void *user)
{
    (void)user;
    reported[err->kind]++;
    printf("  reported: %s\n", err->message);
}

int main(void)
{
    mm_set_check(MM_CHECK_FULL);
    mm_set_sites(1);
    mm_set_error_handler(on_error, NULL);
    mm_category cooling = mm_category_register("Cooling", "Physics Modules");

    mm_context *forest = mm_context_create("forest", NULL);
    mm_context *module = mm_context_create("cooling", forest);
    mm_context_set_label(forest, "Forest 0");
    mm_limit_set(module, MM_CAT_INVALID, (size_t)1 << 20);

    /* 1. An uninitialised double is a NaN, not a plausible number. */
    double *temperature = mm_context_malloc(module, 100 * sizeof *temperature, cooling);
    printf("1. an unset temperature reads %g (%s)\n", temperature[7],
           isnan(temperature[7]) ? "NaN: the fill shows" : "a plausible number");

    /* 2. One byte past the end: the canary after the block catches it. */
    char *tag = mm_malloc(8, MM_CAT_UTILITY);
    memcpy(tag, "overrun!", 9); /* 8 characters and the terminating NUL */
    printf("2. freeing a block written one byte past its end:\n");
    mm_free(tag); /* reported; with this handler the free does nothing */

    /* 3. More than the module's budget: the message names who uses what. */
    printf("3. asking the cooling module for 2 MB with a 1 MB budget:\n");
    void *table = mm_context_malloc(module, (size_t)2 << 20, cooling);
    printf("   the call returned %s\n", table ? "a block" : "NULL");

    mm_context_reset(forest); /* frees the temperatures, destroys "cooling" */
    printf("\nThe block of mistake 2 was never freed, so it is a leak, listed by site:\n");
    size_t leaked = mm_report_leaks(stdout, MM_REPORT_TEXT);

    mm_context_destroy(forest);
    int ok = reported[MM_ERR_OVERRUN] == 1 && reported[MM_ERR_LIMIT] == 1 && leaked == 1;
    printf("\n%s\n", ok ? "diagnostics: every check reported what it should"
                        : "diagnostics: a check did not report as expected");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
