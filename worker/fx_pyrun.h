/*  fx_pyrun.h: the embedded CPython of fx-worker.

    One interpreter per worker process, initialised once by fx_pyrun_new and
    reused for every task (a warm worker). The Python half of task execution
    is worker/fx_runner.py, compiled into the binary; this file is the bridge
    between an fx_task_t and that runner's run(). */
#ifndef FX_PYRUN_H
#define FX_PYRUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "fx_msg.h"

typedef struct fx_pyrun_t fx_pyrun_t;

/* Initialise the interpreter (no Python signal handlers: the worker's C
   loop owns signals) and load the runner. NULL on failure, with a sentence
   in err. Call once per process. Caller owns the return value. */
fx_pyrun_t *fx_pyrun_new(char *err, size_t errlen);

/* Finalise the interpreter. Accepts NULL; sets *self_p to NULL. */
void fx_pyrun_destroy(fx_pyrun_t **self_p);

/* The interpreter's version, "3.11.2". */
const char *fx_pyrun_version(fx_pyrun_t *self);

/* What the worker runs tasks with, for results' worker_runtime:
   "python 3.11.2; dill 0.3.6" ("python 3.11.2" where dill is absent). */
const char *fx_pyrun_runtime(fx_pyrun_t *self);

/* Run one task and fill result (zeroed by the caller): task_id, status,
   error_code, error_text, value and output. Always produces a result; a
   fault of the bridge itself becomes FX_RESULT_ERROR / FX_E_INTERNAL. A
   pickle5 payload frame may be taken from the task (it then lives as long
   as the objects made from it). */
void fx_pyrun_run(fx_pyrun_t *self, fx_task_t *task, fx_result_t *result);

/* Whether a task changed what Python says of SIGTERM or SIGINT since the
   start (signal.signal()): then the worker installs its own handlers again.
   No system call. */
bool fx_pyrun_signals_changed(fx_pyrun_t *self);

/* Process group of the shell command now running (0 if none), for the
   SIGTERM handler to kill it before the worker exits. Async-signal-safe. */
pid_t fx_pyrun_child(void);

#endif
