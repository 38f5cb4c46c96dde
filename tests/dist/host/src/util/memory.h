/* The host fixture's own memory tracker, the "before" of the swap: a small
 * stand-in for a host's src/util/memory.h with Mimic's legacy API (a table
 * of live blocks). tests/dist/host_swap.sh replaces this file and memory.c
 * by `tools/amalgamate.sh --mimic src/util` and builds the host unchanged. */
#ifndef HOST_MEMORY_H
#define HOST_MEMORY_H

#include <stddef.h>

typedef enum {
    MEM_UNKNOWN = 0,
    MEM_GALAXIES,
    MEM_HALOS,
    MEM_TREES,
    MEM_IO,
    MEM_UTILITY,
    MEM_MAX_CATEGORY
} MemoryCategory;

#define MEMORY_REPORT_NONE 0
#define MEMORY_REPORT_MINIMAL 1
#define MEMORY_REPORT_DETAILED 2

#define DEFAULT_MAX_MEMORY_BLOCKS 1000

void init_memory_system(unsigned long max_blocks);
void *mymalloc(size_t size);
void *mymalloc_cat(size_t size, MemoryCategory category);
void *myrealloc(void *ptr, size_t size);
void *myrealloc_cat(void *ptr, size_t size, MemoryCategory category);
void myfree(void *ptr);
void set_memory_reporting(int level);
void print_allocated(void);
void print_allocated_by_category(void);
void print_memory_brief(void);
void check_memory_leaks(void);
int validate_memory_block(void *ptr);
int validate_all_memory(void);
void cleanup_memory_system(void);

#endif
