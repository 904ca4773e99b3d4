/*  fx_testkit.h: how every C test program of fx runs its scenarios and
    scales its deadlines.

    A test program is a table of named scenarios. `PROG` runs every scenario
    marked for "all"; `PROG NAME...` runs the named ones; a name that is not
    in the table is refused (exit 2, with the known names), so a typo in a
    CMake test entry is a red test, not a green one that ran nothing.

    Deadlines: every wait in a test is a deadline, never a sleep. Machines
    differ (valgrind, sanitizers, a loaded CI box), so a test writes its
    deadline as it would on a quiet machine and passes it through
    fx_test_ms(), which multiplies by FX_TEST_SLOW (default 1). */
#ifndef FX_TESTKIT_H
#define FX_TESTKIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    void (*run)(void *ctx);   /* ctx: whatever the program passes to fx_test_main */
    bool by_name_only;        /* not part of "all" (slow or needs something extra) */
} fx_scenario_t;

/* Runs the scenarios args name (every one not by_name_only when args is
   empty or just "all"), each with ctx. Prints "NAME: ok" or "NAME: FAILED"
   per scenario. Returns the process exit code: 0 if every check passed, 1 if
   one failed, 2 if an argument names no scenario (nothing is run then). */
int fx_test_main(const char *program, int argc, char **argv, const fx_scenario_t *scenarios, size_t count,
                 void *ctx);

/* The FX_TEST_SLOW factor (>= 1; a malformed value is reported once and read as 1). */
double fx_test_slow(void);

/* ms stretched by FX_TEST_SLOW. */
int64_t fx_test_ms(int64_t ms);

/* A deadline ms (stretched) from now, on the monotonic clock in ms. */
int64_t fx_test_deadline(int64_t ms);

/* Monotonic milliseconds (the clock fx_test_deadline uses). */
int64_t fx_test_now_ms(void);

/* Waits until path exists, woken by the kernel (inotify on its folder)
   when something is created or moved into that folder, up to ms
   (stretched). True if it exists. The writer should create it whole
   (write elsewhere, then rename) so that existing means complete. */
bool fx_test_wait_file(const char *path, int64_t ms);

#endif
