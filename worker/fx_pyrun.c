/*  fx_pyrun.c: embedded CPython for fx-worker; see fx_pyrun.h.

    The C side does only what Python cannot do well from inside: start the
    interpreter without its signal handlers, convert fx_task_t fields to
    Python objects and the runner's answer back to an fx_result_t, and give
    the runner two process-level hooks (module _fxworker). Everything about
    task semantics lives in fx_runner.py; the common kind of task is run by
    fx_pyfast.c with the same semantics and fewer steps, and comes here
    only when that declines it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fx_pyfast.h"
#include "fx_pyrun.h"
#include "fx_runner_py.h" /* s_runner_py: fx_runner.py as a C string (embed.cmake) */
#include "fx_wlink.h"     /* FX_WLINK_BODIES_MAX */

#define S_RUNNER_MODULE "_fx_runner"
#define S_RUNNER_FILE "<fx-runner>" /* must match _RUNNER_FILE in fx_runner.py */

struct fx_pyrun_t {
    PyObject *run; /* fx_runner.run */
    char version[FX_VERSION_MAX + 1];
    char runtime[FX_NAME_MAX + 1]; /* fx_runner.RUNTIME: "python 3.11.2; dill 0.3.6" */
    fx_pyfast_t *fast;             /* the fast path (fx_pyfast.h) */
};

/* The shell command's process group, read by the worker's SIGTERM handler. */
static volatile sig_atomic_t s_child;
/* This worker's pid, so a shell child can tell its parent died before its
   PR_SET_PDEATHSIG took effect. */
static pid_t s_worker_pid;

pid_t fx_pyrun_child(void)
{
    return (pid_t) s_child;
}

/* ------------------------------------------------ module _fxworker */

/* Runs in the forked shell child before exec: die when the worker dies, so
   a SIGKILLed worker leaves no command running out of the manager's sight. */
static PyObject *s_child_setup(PyObject *self, PyObject *unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != s_worker_pid)
        _exit(127);
    Py_RETURN_NONE;
}

static PyObject *s_set_child(PyObject *self, PyObject *arg)
{
    long pid = PyLong_AsLong(arg);
    if (pid == -1 && PyErr_Occurred())
        return NULL;
    s_child = (sig_atomic_t) pid;
    Py_RETURN_NONE;
}

/* _fxworker.Frame: a task's payload frame, owned by a Python object that
   exports its bytes (writable: the frame is the worker's own copy), so
   that the memoryviews pickle5's out-of-band buffers are made of keep the
   frame alive as long as any object made from them lives: no copy, and no
   view left over freed memory. */
typedef struct {
    PyObject_HEAD zframe_t *frame;
} s_frame_t;

static int s_frame_getbuffer(PyObject *obj, Py_buffer *view, int flags)
{
    zframe_t *frame = ((s_frame_t *) obj)->frame;
    return PyBuffer_FillInfo(view, obj, zframe_data(frame), (Py_ssize_t) zframe_size(frame), 0, flags);
}

static void s_frame_dealloc(PyObject *obj)
{
    zframe_destroy(&((s_frame_t *) obj)->frame);
    Py_TYPE(obj)->tp_free(obj);
}

static PyBufferProcs s_frame_buffer = {.bf_getbuffer = s_frame_getbuffer};

static PyTypeObject s_frame_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_fxworker.Frame",
    .tp_basicsize = sizeof(s_frame_t),
    .tp_dealloc = s_frame_dealloc,
    .tp_as_buffer = &s_frame_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A task's payload frame, exported as a buffer.",
};

/* A Frame taking *frame_p (NULL on failure, *frame_p then untouched). */
static PyObject *s_frame_take(zframe_t **frame_p)
{
    s_frame_t *obj = PyObject_New(s_frame_t, &s_frame_type);
    if (obj) {
        obj->frame = *frame_p;
        *frame_p = NULL;
    }
    return (PyObject *) obj;
}

static PyMethodDef s_methods[] = {
    {"child_setup", s_child_setup, METH_NOARGS, "In a forked child: die with the worker."},
    {"child", s_set_child, METH_O, "Record the running shell command's process group (0: none)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    "_fxworker",
    "fx-worker process hooks for fx_runner.",
    -1,
    s_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

static PyObject *s_module_init(void)
{
    if (PyType_Ready(&s_frame_type) != 0)
        return NULL;
    return PyModule_Create(&s_module);
}

/* ------------------------------------------------ helpers */

/* "TypeName: message" of the pending Python exception into buf; prints its
   traceback to stderr and clears it. */
void fx_py_error(char *buf, size_t len)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    const char *name = type ? ((PyTypeObject *) type)->tp_name : "unknown error";
    PyObject *str = value ? PyObject_Str(value) : NULL;
    const char *msg = str ? PyUnicode_AsUTF8(str) : NULL;
    if (!msg)
        PyErr_Clear();
    snprintf(buf, len, "%s: %s", name, msg ? msg : "(no message)");
    Py_XDECREF(str);
    PyErr_Restore(type, value, tb);
    PyErr_Print();
}

/* A str from wire text, which is not checked to be UTF-8. New reference. */
PyObject *fx_py_text(const char *s)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t) strlen(s), "replace");
}

static PyObject *s_bytes(zframe_t *frame)
{
    if (!frame)
        return PyBytes_FromStringAndSize("", 0);
    return PyBytes_FromStringAndSize((const char *) zframe_data(frame), (Py_ssize_t) zframe_size(frame));
}

/* Turns result into an FX_E_INTERNAL error result. */
void fx_py_internal(fx_result_t *result, const char *fmt, ...)
{
    char text[FX_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    result->status = FX_RESULT_ERROR;
    result->error_code = FX_E_INTERNAL;
    fx_result_set_text(result, text);
    zframe_destroy(&result->value);
    zframe_destroy(&result->output);
}

/* ------------------------------------------------ life cycle */

/* Loads fx_runner.py as module _fx_runner, with the constants it reads
   from proto/ set first. Returns 0, or -1 with err set. */
static int s_load_runner(fx_pyrun_t *self, char *err, size_t errlen)
{
    int rc = -1;
    PyObject *code = NULL, *done = NULL, *version = NULL, *runtime = NULL;
    PyObject *module = PyImport_AddModule(S_RUNNER_MODULE); /* borrowed */
    if (!module)
        goto cleanup;
    struct {
        const char *name;
        long value;
    } constants[] = {
        {"OK", FX_RESULT_OK},
        {"EXCEPTION", FX_RESULT_EXCEPTION},
        {"ERROR", FX_RESULT_ERROR},
        {"FN_PYTHON", FX_FN_PYTHON},
        {"FN_SHELL", FX_FN_SHELL},
        {"E_LOAD", FX_E_LOAD},
        {"E_VERSION_MISMATCH", FX_E_VERSION_MISMATCH},
        {"E_SHELL", FX_E_SHELL},
        {"E_WALLTIME", FX_E_WALLTIME},
        {"E_TOO_LARGE", FX_E_TOO_LARGE},
        {"E_INTERNAL", FX_E_INTERNAL},
        {"OUTPUT_MAX", FX_OUTPUT_MAX},
        {"PAYLOAD_MAX", FX_PAYLOAD_MAX},
        {"BODIES_MAX", FX_WLINK_BODIES_MAX},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
        if (PyModule_AddIntConstant(module, constants[i].name, constants[i].value) != 0)
            goto cleanup;
    PyObject *dict = PyModule_GetDict(module); /* borrowed */
    if (PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) != 0)
        goto cleanup;
    code = Py_CompileString(s_runner_py, S_RUNNER_FILE, Py_file_input);
    if (!code)
        goto cleanup;
    done = PyEval_EvalCode(code, dict, dict);
    if (!done)
        goto cleanup;
    self->run = PyObject_GetAttrString(module, "run");
    version = PyObject_GetAttrString(module, "PY_VERSION");
    runtime = PyObject_GetAttrString(module, "RUNTIME");
    if (!self->run || !version || !runtime)
        goto cleanup;
    const char *text = PyUnicode_AsUTF8(version);
    if (!text || fx_strlcpy(self->version, text, sizeof self->version) != FX_OK)
        goto cleanup;
    text = PyUnicode_AsUTF8(runtime);
    if (!text || fx_strlcpy(self->runtime, text, sizeof self->runtime) != FX_OK)
        goto cleanup;
    self->fast = fx_pyfast_new(module, self->version);
    if (!self->fast)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0) {
        char why[512] = "unknown error";
        if (PyErr_Occurred())
            fx_py_error(why, sizeof why);
        snprintf(err, errlen,
                 "cannot load the embedded task runner: %s; the fx-worker build is broken, rebuild it", why);
    }
    Py_XDECREF(runtime);
    Py_XDECREF(version);
    Py_XDECREF(done);
    Py_XDECREF(code);
    return rc;
}

fx_pyrun_t *fx_pyrun_new(char *err, size_t errlen)
{
    s_worker_pid = getpid();
    fx_pyrun_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory starting Python");
        return NULL;
    }
    if (PyImport_AppendInittab("_fxworker", s_module_init) != 0) {
        snprintf(err, errlen, "cannot register the _fxworker module with Python");
        free(self);
        return NULL;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* SIGTERM and SIGINT belong to the C loop */
    config.parse_argv = 0;
    char *argv[] = {"fx-worker", NULL};
    PyStatus status = PyConfig_SetBytesArgv(&config, 1, argv);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "cannot start the embedded Python: %s; check PYTHONHOME and PYTHONPATH",
                 status.err_msg ? status.err_msg : "unknown error");
        free(self);
        return NULL;
    }
    if (s_load_runner(self, err, errlen) != 0) {
        fx_pyrun_destroy(&self);
        return NULL;
    }
    return self;
}

void fx_pyrun_destroy(fx_pyrun_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_pyrun_t *self = *self_p;
    Py_CLEAR(self->run);
    fx_pyfast_destroy(&self->fast);
    Py_FinalizeEx();
    free(self);
    *self_p = NULL;
}

const char *fx_pyrun_version(fx_pyrun_t *self)
{
    return self->version;
}

const char *fx_pyrun_runtime(fx_pyrun_t *self)
{
    return self->runtime;
}

/* ------------------------------------------------ one task */

/* Copies the runner's 5-tuple into result. 0, or -1 with a reason. */
int fx_py_take_answer(PyObject *answer, fx_result_t *result, const char **why)
{
    *why = "the answer is not a 5-tuple";
    if (!PyTuple_Check(answer) || PyTuple_GET_SIZE(answer) != 5)
        return -1;
    long status = PyLong_AsLong(PyTuple_GET_ITEM(answer, 0));
    long code = PyLong_AsLong(PyTuple_GET_ITEM(answer, 1));
    PyObject *text = PyTuple_GET_ITEM(answer, 2);
    PyObject *value = PyTuple_GET_ITEM(answer, 3);
    PyObject *output = PyTuple_GET_ITEM(answer, 4);
    *why = "status or error code out of range";
    if (PyErr_Occurred() || status < FX_RESULT_OK || status > FX_RESULT_ERROR || code < 0 ||
        code > FX_ERR_LAST)
        return -1;
    *why = "text is not str or None, or value/output are not bytes";
    if ((text != Py_None && !PyUnicode_Check(text)) || !PyBytes_Check(value) || !PyBytes_Check(output))
        return -1;
    *why = "the value or output is over FX_PAYLOAD_MAX";
    if ((size_t) PyBytes_GET_SIZE(value) > FX_PAYLOAD_MAX ||
        (size_t) PyBytes_GET_SIZE(output) > FX_PAYLOAD_MAX)
        return -1;
    if (text != Py_None) {
        const char *utf8 = PyUnicode_AsUTF8(text);
        *why = "text cannot be encoded";
        if (!utf8 || fx_result_set_text(result, utf8) != FX_OK)
            return -1;
    }
    *why = "out of memory";
    result->value = zframe_new(PyBytes_AS_STRING(value), (size_t) PyBytes_GET_SIZE(value));
    result->output = zframe_new(PyBytes_AS_STRING(output), (size_t) PyBytes_GET_SIZE(output));
    if (!result->value || !result->output)
        return -1;
    result->status = (uint8_t) status;
    result->error_code = (uint16_t) code;
    return 0;
}

bool fx_pyrun_signals_changed(fx_pyrun_t *self)
{
    return fx_pyfast_signals_changed(self->fast);
}

/* Whether the task's payload format is pickle5 (SPEC 12.1.1). */
static bool s_pickle5(const fx_task_t *task)
{
    const char *plus = strchr(task->serializer, '+');
    return plus && strcmp(plus + 1, "pickle5") == 0;
}

void fx_pyrun_run(fx_pyrun_t *self, fx_task_t *task, fx_result_t *result)
{
    fx_strlcpy(result->task_id, task->task_id, sizeof result->task_id);
    if (fx_pyfast_run(self->fast, task, result))
        return;
    /* a pickle5 payload goes as a Frame that owns it: views, no copy */
    PyObject *payload = s_pickle5(task) && task->payload && zframe_size(task->payload)
                            ? s_frame_take(&task->payload)
                            : s_bytes(task->payload);
    enum { N = 10 };
    PyObject *items[N] = {
        PyLong_FromLong(task->kind),
        fx_py_text(task->function_id),
        fx_py_text(task->function_version),
        fx_py_text(task->entry),
        s_bytes(task->body),
        payload,
        fx_py_text(task->py_version),
        fx_py_text(task->dill_version),
        fx_py_text(task->serializer),
        PyLong_FromUnsignedLong(task->walltime_ms),
    };
    PyObject *args = PyTuple_New(N);
    PyObject *answer = NULL;
    bool complete = args != NULL;
    for (int i = 0; i < N; i++) {
        if (items[i] && args)
            PyTuple_SET_ITEM(args, i, items[i]); /* steals */
        else {
            Py_XDECREF(items[i]);
            complete = false;
        }
    }
    char why[512];
    if (!complete) {
        fx_py_error(why, sizeof why);
        fx_py_internal(result, "fx-worker could not pass the task to Python: %s", why);
        goto cleanup;
    }
    answer = PyObject_Call(self->run, args, NULL);
    if (!answer) {
        fx_py_error(why, sizeof why);
        fx_py_internal(result, "fx-worker's runner raised: %s", why);
        goto cleanup;
    }
    const char *reason;
    if (fx_py_take_answer(answer, result, &reason) != 0) {
        PyErr_Clear();
        fx_py_internal(result, "fx-worker's runner gave a bad answer: %s", reason);
    }
cleanup:
    Py_XDECREF(answer);
    Py_XDECREF(args);
}
