/*  fx_check.h: the one CHECK of fx's C tests.

    A failed check prints where (file, line, function), the condition, and
    an optional printf-style note, and counts in fx_check_failures; the test
    goes on, so one run shows every failure, and its main returns non-zero
    when fx_check_failures is not 0.

        CHECK(rc == FX_OK);
        CHECK(window == 2, "window %u after the second hello", window); */
#ifndef FX_CHECK_H
#define FX_CHECK_H

#include <stdio.h>

/* One counter per test program, shared by all its files (weak: defined by
   every file that includes this header, merged by the linker). */
__attribute__((weak)) int fx_check_failures;

#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "FAIL %s:%d: %s: %s:", __FILE__, __LINE__, __func__, #cond);            \
            fprintf(stderr, " " __VA_ARGS__);                                                       \
            fputc('\n', stderr);                                                                    \
            fx_check_failures++;                                                                    \
        }                                                                                           \
    } while (0)

/* As CHECK, but the scenario cannot go on: jumps to the caller's `done:`. */
#define REQUIRE(cond, ...)                                                                          \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            CHECK(cond, __VA_ARGS__);                                                               \
            goto done;                                                                              \
        }                                                                                           \
    } while (0)

#endif
