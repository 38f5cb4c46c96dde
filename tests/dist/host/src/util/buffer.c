/* The host fixture's I/O buffer helper: a file beside memory.c that includes
 * "memory.h" from its own folder, as a host's src/util/ files do. */
#include "memory.h"

#include <string.h>

char *make_buffer(const char *text) {
    size_t n = strlen(text) + 1;
    char *b = mymalloc_cat(n, MEM_IO);
    memcpy(b, text, n);
    return b;
}
