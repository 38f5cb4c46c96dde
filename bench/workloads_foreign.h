/* workloads_foreign: the forest workload (workloads.h) through the optional
 * comparison allocators, mimalloc heaps and talloc. Compiled into each program
 * that links them (bench/CMakeLists.txt), not into mm_bench_common, so that
 * only those programs carry the libraries and their MM_BENCH_HAVE_* macros. */
#ifndef MM_BENCH_WORKLOADS_FOREIGN_H
#define MM_BENCH_WORKLOADS_FOREIGN_H

#include "workloads.h"

/* Runs of the plan as forest_run_malloc does (workloads.h), with a heap
 * (mi_heap_new) or a talloc context made per forest and destroyed at its
 * end. 0, or -1 when an allocation or the heap fails. BENCH_*_COLUMN says
 * in the banners whether each column is there. */
#ifdef MM_BENCH_HAVE_MIMALLOC
int forest_run_mimalloc(const forest_plan *p);
#define BENCH_MIMALLOC_COLUMN "yes" /* for the banner: whether the column is there */
#else
#define BENCH_MIMALLOC_COLUMN "no (not found at build time)"
#endif
#ifdef MM_BENCH_HAVE_TALLOC
int forest_run_talloc(const forest_plan *p);
#define BENCH_TALLOC_COLUMN "yes"
#else
#define BENCH_TALLOC_COLUMN "no (not found at build time)"
#endif

#endif /* MM_BENCH_WORKLOADS_FOREIGN_H */
