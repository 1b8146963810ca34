/* testutil.h - minimal assertion helpers for the C unit tests.
 *
 * Each CHECK failure prints file:line and the condition, counts, and the
 * test's main returns TEST_RESULT() (non-zero when anything failed), so a
 * run shows every failure rather than stopping at the first. */
#ifndef BRAINSTAGE_TESTUTIL_H
#define BRAINSTAGE_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        test_checks++;                                                              \
        if (!(cond)) {                                                              \
            test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        test_checks++;                                                              \
        if (!(cond)) {                                                              \
            test_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)

/* |got - want| <= atol + rtol * |want| */
#define CHECK_CLOSE(got, want, atol, rtol)                                                   \
    do {                                                                                     \
        double g_ = (got), w_ = (want);                                                      \
        CHECK_MSG(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_), "got %.9g, want %.9g", g_, w_); \
    } while (0)

#define CHECK_CONTAINS(haystack, needle) \
    CHECK_MSG(strstr((haystack), (needle)) != NULL, "'%s' does not contain '%s'", (haystack), (needle))

#define TEST_RESULT()                                                                          \
    (fprintf(stderr, "%d checks, %d failures\n", test_checks, test_failures), test_failures ? 1 : 0)

#endif
