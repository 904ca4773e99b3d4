/*  fx_testproc.h: child processes for fx's C tests: spawn a binary that
    dies with the test, wait for it with a deadline, and ask Debian's Python
    for pickles (the tests build task payloads the way a client would). */
#ifndef FX_TESTPROC_H
#define FX_TESTPROC_H

#include <czmq.h>
#include <sys/types.h>

/* A pidfd for pid (poll it for the exit), or -1. */
int fx_test_pidfd_open(pid_t pid);

/* Waits up to ms for pid to exit; its wait status, or -1 on timeout. */
int fx_test_wait_exit(pid_t pid, int pidfd, int ms);

/* Runs argv[0] with stdin from in_fd (or /dev/null) and stdout to out_fd
   (or inherited); it dies with the test (PR_SET_PDEATHSIG). Its pid. */
pid_t fx_test_spawn(char *const argv[], int in_fd, int out_fd);

/* Runs `python -c script` with input on stdin; its stdout as a new string
   (caller frees), or NULL if it failed. */
char *fx_test_python(const char *python, const char *script, const char *input);

/* pickle.dumps(eval(expr)) as a new frame, or NULL. */
zframe_t *fx_test_pickle(const char *python, const char *expr);

/* repr(pickle.loads(frame)), "<empty>" for no bytes; caller frees. */
char *fx_test_repr(const char *python, zframe_t *frame);

#endif
