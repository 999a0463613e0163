/*
 * check: the one assertion macro of the C unit tests. CHECK records a
 * failure with its file and line and goes on, so one run shows every broken
 * check; a test's main returns check_result() as its exit status.
 */
#ifndef QW_CHECK_H
#define QW_CHECK_H

#include <stdio.h>

static int check_failures; /* checks failed so far in this test program */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* 0 when every check passed, else 1 after printing the count. */
static inline int check_result(const char *test) {
    if (check_failures) fprintf(stderr, "%s: %d failure(s)\n", test, check_failures);
    return check_failures ? 1 : 0;
}

#endif
