/* The host fixture's unit test: includes the memory header by relative path,
 * as most of Mimic's unit tests do, and checks the forest code against it.
 * After the swap (MIMICMEM_H is defined) it also reaches the mimicmem API
 * through the same header. Exit status 0 when every check holds. */
#include <stdio.h>

#include "../../src/util/memory.h"
#include "../../src/proto.h"

static int failures;

static void expect(int ok, const char *what) {
    printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) failures++;
}

int main(void) {
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS);
    double sum = process_forest(1, 3); /* masses 2, 3, 4 */
    expect(sum == 9.0, "process_forest(1, 3) sums the masses 2 + 3 + 4");
    void *p = mymalloc_cat(64, MEM_IO);
    expect(validate_memory_block(p), "a live block validates");
    myfree(p);
#ifdef MIMICMEM_H
    mm_stats halos = mm_stats_category(NULL, MM_CAT_HALOS);
    expect(halos.blocks == 0 && halos.bytes == 0, "process_forest leaves no Halos block live");
    expect(halos.peak_bytes >= 3 * 16, "the Halos peak saw the forest's halos");
    mm_category cooling = mm_category_register("Cooling", "Physics");
    mm_context *forest = mm_context_create("forest", NULL);
    double *rates = mm_context_malloc(forest, 100 * sizeof *rates, cooling);
    expect(rates != NULL && mm_stats_category(forest, cooling).bytes == 100 * sizeof *rates,
           "the full mimicmem API is reachable through memory.h");
    mm_context_destroy(forest);
    printf("full API: %s\n", failures == 0 ? "ok" : "FAILED");
#endif
    cleanup_memory_system();
    return failures == 0 ? 0 : 1;
}
