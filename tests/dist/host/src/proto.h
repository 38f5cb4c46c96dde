/* The host fixture's prototype header: like Mimic's proto.h it includes the
 * memory header and then redeclares the legacy functions (compatible
 * redeclarations), which a function-like MM_WITH_SITES macro would break. */
#ifndef HOST_PROTO_H
#define HOST_PROTO_H

#include "util/memory.h"

void init_memory_system(unsigned long max_blocks);
void *mymalloc(size_t n);
void *mymalloc_cat(size_t n, MemoryCategory category);
void *myrealloc(void *p, size_t n);
void *myrealloc_cat(void *p, size_t n, MemoryCategory category);
void myfree(void *p);
void set_memory_reporting(int level);
void print_allocated(void);
void print_allocated_by_category(void);
void print_memory_brief(void);
void check_memory_leaks(void);
int validate_memory_block(void *p);
int validate_all_memory(void);
void cleanup_memory_system(void);

/* forest.c */
double process_forest(int forest, int nhalos);
/* tables.c */
double *make_age_table(int n);
/* util/buffer.c */
char *make_buffer(const char *text);

#endif
