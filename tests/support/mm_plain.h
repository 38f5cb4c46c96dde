/* Shared by the plain (non-Criterion) test programs, tests/stress and
 * tests/threads, which run under ThreadSanitizer where Criterion cannot:
 * CHECK(cond, fmt, ...) ends the program with status 1 when cond is false,
 * after printing the program, the place, the message and the process report.
 * Define MMP_PROGRAM (the program's name, a string) before including it.
 * Header only: these programs do not link the Criterion test support. */
#ifndef MM_PLAIN_H
#define MM_PLAIN_H

#include <mimicmem.h>

#include <stdio.h>
#include <stdlib.h>

#ifndef MMP_PROGRAM
#error "define MMP_PROGRAM (the program's name) before including mm_plain.h"
#endif

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s: %s:%d: check failed: %s: ", MMP_PROGRAM, __FILE__, __LINE__,     \
                    #cond);                                                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            mm_report(stderr, NULL, MM_REPORT_TEXT);                                               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#endif /* MM_PLAIN_H */
