/* basic.c: the smallest complete tour of mimicmem. Allocates in built-in
 * categories and in two categories registered by physics modules, resizes and
 * frees some blocks, prints the process report as text and as JSON, then frees
 * everything and checks that nothing is left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"

struct halo {          /* a toy merger-tree halo */
    float pos[3];      /* comoving position, Mpc/h */
    float mvir;        /* virial mass, 1e10 Msun/h */
    int descendant;    /* index of the descendant halo, -1 for a root */
};

/* The default error handler aborts, so NULL only comes back when a custom
 * handler returns; a real code would still check. */
static void *need(void *p, const char *what)
{
    if (p == NULL) {
        fprintf(stderr, "basic: could not allocate %s\n", what);
        exit(EXIT_FAILURE);
    }
    return p;
}

int main(void)
{
    /* Modules register their own categories at start-up, by name. */
    mm_category cooling = mm_category_register("Cooling", "Physics Modules");
    mm_category star_formation = mm_category_register("Star Formation", "Physics Modules");
    if (cooling == MM_CAT_INVALID || star_formation == MM_CAT_INVALID)
        return EXIT_FAILURE;

    size_t nhalos = 1000;
    struct halo *halos = need(mm_calloc(nhalos, sizeof *halos, MM_CAT_HALOS), "halos");
    int *tree_first = need(mm_malloc(64 * sizeof *tree_first, MM_CAT_TREES), "tree table");
    char *file_name = need(mm_strdup("trees_063.0", MM_CAT_IO), "file name");
    char *io_buffer = need(mm_malloc(256 * 1024, MM_CAT_IO), "I/O buffer");
    double *cooling_table = need(mm_malloc(3000 * sizeof(double), cooling), "cooling table");
    double *sf_history = need(mm_calloc(64, sizeof(double), star_formation), "SF history");

    for (size_t i = 0; i < nhalos; i++) {
        halos[i].mvir = 1.0f + (float)i;
        halos[i].descendant = (int)i - 1;
    }
    memset(io_buffer, 0, 256 * 1024);

    /* The forest turned out bigger: grow the halo array (contents kept). */
    halos = need(mm_realloc(halos, 2 * nhalos * sizeof *halos), "more halos");
    nhalos *= 2;
    /* The star-formation history doubles; the I/O buffer is no longer needed. */
    sf_history = need(mm_realloc(sf_history, 128 * sizeof(double)), "longer SF history");
    mm_free(io_buffer);

    printf("halo array: %zu bytes in category \"%s\"\n", mm_block_size(halos),
           mm_category_name(mm_block_category(halos)));

    mm_report(stdout, NULL, MM_REPORT_TEXT);
    printf("\n");
    mm_report(stdout, NULL, MM_REPORT_JSON);
    printf("\n");

    mm_free(sf_history);
    mm_free(cooling_table);
    mm_free(file_name);
    mm_free(tree_first);
    mm_free(halos);

    mm_stats total = mm_stats_total(NULL);
    printf("after cleanup: %zu bytes in %zu blocks (peak %zu bytes, %llu allocations)\n",
           total.bytes, total.blocks, total.peak_bytes, (unsigned long long)total.allocs);
    return total.blocks == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
