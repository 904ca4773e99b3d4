/*  fx_testproc.h: child processes for fx's C tests: spawn a binary that
    dies with the test, wait for it with a deadline, and ask Debian's Python
    for pickles through one pickler process per test (the tests build task
    payloads the way a client would). */
#ifndef FX_TESTPROC_H
#define FX_TESTPROC_H

#include <czmq.h>
#include <stdbool.h>
#include <sys/types.h>

/* A pidfd for pid (poll it for the exit), or -1. */
int fx_test_pidfd_open(pid_t pid);

/* Waits up to ms for pid to exit; its wait status, or -1 on timeout. */
int fx_test_wait_exit(pid_t pid, int pidfd, int ms);

/* Runs argv[0] with stdin from in_fd (or /dev/null) and stdout to out_fd
   (or inherited); it dies with the test (PR_SET_PDEATHSIG). Its pid. */
pid_t fx_test_spawn(char *const argv[], int in_fd, int out_fd);

/* One Python per test that makes and reads pickles, asked a line at a
   time: no interpreter starts per pickle (that takes a large part of a
   second on a loaded machine), and the test keeps serving its peers while
   it waits (idle). */
typedef struct fx_test_pickler_t fx_test_pickler_t;

/* Starts it; each answer is waited for up to wait_ms, calling idle(arg)
   about every 20 ms meanwhile (idle may be NULL). NULL on failure. */
fx_test_pickler_t *fx_test_pickler_new(const char *python, int wait_ms, void (*idle)(void *arg), void *arg);

/* Ends the Python and frees. Accepts NULL. */
void fx_test_pickler_destroy(fx_test_pickler_t **self_p);

/* pickle.dumps(eval(expr)) as a new frame, or NULL. */
zframe_t *fx_test_pickler_pickle(fx_test_pickler_t *self, const char *expr);

/* repr(pickle.loads(frame)), "<empty>" for no bytes, "<repr failed>" if
   it fails; caller frees. */
char *fx_test_pickler_repr(fx_test_pickler_t *self, zframe_t *frame);

#endif
