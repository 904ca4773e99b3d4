/*  fx_pyfast.h: the fast path of a Python task in fx-worker.

    fx_runner.py's run() handles every task, but a task of the common kind
    costs it some hundred Python steps. This does that kind in C, with the
    same results: a Python task whose function the runner already loaded
    and cached (fx_runner._by_version, or _by_id for a task without a
    version: same body, or an empty one for a cached version, same entry
    and strategy) with the pickle payload format (source, dill or reference
    strategy: pickle5 goes through run()), whose client has the worker's
    Python major.minor, with a well-formed pickle of
    (args, kwargs). It unpickles the arguments (pickle.loads on a view of
    the payload frame, no copy), swaps sys.stdout and sys.stderr for the
    runner's one capture, calls the function, restores them and pickles the
    value; it calls back into the runner only when the task wrote output,
    raised, or returned a value that cannot be pickled or is too large.
    Anything else (a first call, a bad payload, shell tasks) it leaves to
    run(). worker/fx_worker_test.c's fast_path scenario runs each case
    through both and requires the same result.

    Not a public header: fx_pyrun.c owns the one instance. */
#ifndef FX_PYFAST_H
#define FX_PYFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "fx_msg.h"

typedef struct fx_pyfast_t fx_pyfast_t;

/* What the fast path needs of the loaded runner module (and of pickle,
   _signal, sys), for a worker whose Python is `version`. NULL with a
   Python error set. Caller owns the return value. */
fx_pyfast_t *fx_pyfast_new(PyObject *runner, const char *version);

/* Drops its references. Accepts NULL. */
void fx_pyfast_destroy(fx_pyfast_t **self_p);

/* Runs the task if it is of the fast kind: true with result filled (as
   fx_pyrun_run would), or false before anything ran. */
bool fx_pyfast_run(fx_pyfast_t *self, const fx_task_t *task, fx_result_t *result);

/* Whether a task changed what Python says of SIGTERM or SIGINT since the
   start (signal.signal()). Asks _signal, not signal.py (whose getsignal
   maps handlers to enums, some 50k instructions a call); no system call. */
bool fx_pyfast_signals_changed(fx_pyfast_t *self);

/* From fx_pyrun.c, shared by both paths: */
/* "TypeName: message" of the pending exception into buf; prints and clears it. */
void fx_py_error(char *buf, size_t len);
/* A str from wire text (not checked to be UTF-8). New reference. */
PyObject *fx_py_text(const char *s);
/* Turns result into an FX_E_INTERNAL error result. */
void fx_py_internal(fx_result_t *result, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The runner's 5-tuple answer into result: 0, or -1 with a reason in *why. */
int fx_py_take_answer(PyObject *answer, fx_result_t *result, const char **why);

#endif
