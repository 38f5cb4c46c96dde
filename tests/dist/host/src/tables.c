/* The host fixture's run-wide table: one block in MEM_UTILITY that lives for
 * the whole run (main frees it after the leak check). */
#include "proto.h"

double *make_age_table(int n) {
    double *age = mymalloc_cat((size_t)n * sizeof *age, MEM_UTILITY); /* SITE:ages */
    for (int i = 0; i < n; i++) age[i] = 0.5 * i;
    return age;
}
