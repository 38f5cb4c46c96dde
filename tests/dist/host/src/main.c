/* The host fixture's program: a forest loop over the legacy memory API, as
 * a host like Mimic runs it; prints a checksum, then the legacy reports. */
#include <stdio.h>

#include "proto.h"

int main(void) {
    init_memory_system(DEFAULT_MAX_MEMORY_BLOCKS);
    double *age = make_age_table(1000);
    double sum = 0;
    for (int f = 0; f < 50; f++) sum += process_forest(f, 20 + f);
    char *label = make_buffer("forests done");
    printf("checksum %.1f (%s)\n", sum + age[999], label);
    myfree(label);
    check_memory_leaks(); /* the age table is live: "Memory leak detected" */
    myfree(age);
    check_memory_leaks();
    cleanup_memory_system();
    return 0;
}
