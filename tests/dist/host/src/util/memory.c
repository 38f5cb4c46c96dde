/* The host fixture's own memory tracker, the "before" of the swap: a table
 * of at most DEFAULT_MAX_MEMORY_BLOCKS live blocks searched linearly, as a
 * host's legacy tracker is. The swap test replaces it with mimicmem. */
#include "memory.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    void *ptr;             /* live block; NULL: a free slot */
    size_t bytes;          /* its size */
    MemoryCategory cat;    /* its category */
} host_block;

static host_block host_table[DEFAULT_MAX_MEMORY_BLOCKS]; /* live blocks */
static size_t host_bytes, host_peak, host_blocks;          /* live bytes, peak, blocks */
static int host_level = MEMORY_REPORT_MINIMAL;             /* MEMORY_REPORT_* */

static host_block *host_find(const void *ptr) {
    for (size_t i = 0; i < DEFAULT_MAX_MEMORY_BLOCKS; i++)
        if (host_table[i].ptr == ptr) return &host_table[i];
    return NULL;
}

static void *host_track(void *p, size_t size, MemoryCategory cat) {
    host_block *b = p ? host_find(NULL) : NULL;
    if (b == NULL) {
        fprintf(stderr, "memory: table full or out of memory\n");
        exit(1);
    }
    *b = (host_block){p, size, cat};
    host_bytes += size;
    host_blocks++;
    if (host_bytes > host_peak) host_peak = host_bytes;
    return p;
}

void init_memory_system(unsigned long max_blocks) { (void)max_blocks; }
void *mymalloc_cat(size_t size, MemoryCategory cat) { return host_track(malloc(size ? size : 1), size, cat); }
void *mymalloc(size_t size) { return mymalloc_cat(size, MEM_UNKNOWN); }

void myfree(void *ptr) {
    if (ptr == NULL) return;
    host_block *b = host_find(ptr);
    if (b == NULL) {
        fprintf(stderr, "memory: untracked pointer %p\n", ptr);
        exit(1);
    }
    host_bytes -= b->bytes;
    host_blocks--;
    b->ptr = NULL;
    free(ptr);
}

void *myrealloc_cat(void *ptr, size_t size, MemoryCategory cat) {
    void *q = mymalloc_cat(size, cat);
    host_block *b = ptr ? host_find(ptr) : NULL;
    if (b != NULL) {
        size_t n = b->bytes < size ? b->bytes : size;
        for (size_t i = 0; i < n; i++) ((char *)q)[i] = ((char *)ptr)[i];
        myfree(ptr);
    }
    return q;
}

void *myrealloc(void *ptr, size_t size) {
    host_block *b = ptr ? host_find(ptr) : NULL;
    return myrealloc_cat(ptr, size, b ? b->cat : MEM_UNKNOWN);
}

void set_memory_reporting(int level) { host_level = level; }
void print_allocated(void) { printf("Memory in use: %.2f MB\n", host_bytes / 1048576.0); }
void print_allocated_by_category(void) { print_allocated(); }
void print_memory_brief(void) {
    printf("Memory: %.2f MB in use, %.2f MB peak, %zu live blocks\n", host_bytes / 1048576.0,
           host_peak / 1048576.0, host_blocks);
}
void check_memory_leaks(void) {
    if (host_blocks > 0) fprintf(stderr, "Memory leak detected: %zu blocks\n", host_blocks);
    else printf("No memory leaks detected\n");
}
int validate_memory_block(void *ptr) { return ptr != NULL && host_find(ptr) != NULL; }
int validate_all_memory(void) { return 1; }
void cleanup_memory_system(void) {
    if (host_level >= MEMORY_REPORT_MINIMAL) print_memory_brief();
}
