/* Built against an installed mimicmem (CMake package and pkg-config): checks
 * that the header, the library and the exported symbols work from outside. */
#include <mimicmem.h>
#include <stdio.h>

int main(void) {
    mm_category cool = mm_category_register("Cooling", "Physics Modules");
    mm_context *forest = mm_context_create("Forest", NULL);
    double *t = mm_context_calloc(forest, 100, sizeof *t, cool);
    char *s = mm_strdup("installed", MM_CAT_IO);
    if (cool < MM_CAT_BUILTIN_COUNT || t == NULL || s == NULL || t[99] != 0.0) return 1;
    mm_stats st = mm_stats_total(NULL);
    if (st.blocks != 2 || st.bytes != 100 * sizeof *t + 10) return 2;
    mm_free(s);
    mm_context_destroy(forest);
    st = mm_stats_total(NULL);
    if (st.blocks != 0 || st.bytes != 0) return 3;
    printf("consumer: mimicmem %s works (%llu allocations)\n", MM_VERSION_STRING,
           (unsigned long long)st.allocs);
    return 0;
}
