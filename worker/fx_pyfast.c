/*  fx_pyfast.c: the fast path of a Python task; see fx_pyfast.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_pyfast.h"

struct fx_pyfast_t {
    char version[FX_VERSION_MAX + 1];
    size_t major_minor;         /* length of "3.11" in version */
    PyObject *by_version;       /* fx_runner._by_version: version -> (body, entry, callable, strategy) */
    PyObject *by_id;            /* fx_runner._by_id: function_id -> the same, for tasks without one */
    PyObject *capture, *sink;   /* fx_runner._capture and its sink */
    PyObject *begin, *take;     /* _capture.begin, _capture.take */
    PyObject *exception_answer; /* fx_runner.exception_answer */
    PyObject *value_answer;     /* fx_runner.value_answer */
    PyObject *loads, *dumps;    /* pickle.loads, pickle.dumps */
    PyObject *n_name;           /* "n" */
    PyObject *getsignal;        /* _signal.getsignal */
    PyObject *term0, *int0;     /* what it said of SIGTERM and SIGINT at the start */
    PyObject *sysdict;          /* sys.__dict__, where sys.stdout lives (PySys_SetObject makes a
                                   str of the name on every call) */
    PyObject *stdout_name, *stderr_name;
};

/* Length of the "major.minor" part of a version text ("3.11" of
   "3.11.2"): up to the second dot, or all of it. */
static size_t s_major_minor(const char *v)
{
    const char *dot = strchr(v, '.');
    dot = dot ? strchr(dot + 1, '.') : NULL;
    return dot ? (size_t) (dot - v) : strlen(v);
}

/* What the fast path takes from the runner, pickle and signal, once.
   0, or -1 with a Python error set. */
static int s_load(fx_pyfast_t *self, PyObject *module)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    PyObject *signal =
        pickle ? PyImport_ImportModule("_signal")
               : NULL; /* not signal.py: its getsignal maps to enums, at 50k instructions a call */
    if (!signal) {
        Py_XDECREF(pickle);
        return -1;
    }
    self->by_version = PyObject_GetAttrString(module, "_by_version");
    self->by_id = PyObject_GetAttrString(module, "_by_id");
    self->capture = PyObject_GetAttrString(module, "_capture");
    self->exception_answer = PyObject_GetAttrString(module, "exception_answer");
    self->value_answer = PyObject_GetAttrString(module, "value_answer");
    self->loads = PyObject_GetAttrString(pickle, "loads");
    self->dumps = PyObject_GetAttrString(pickle, "dumps");
    self->getsignal = PyObject_GetAttrString(signal, "getsignal");
    Py_DECREF(pickle);
    Py_DECREF(signal);
    if (self->capture) {
        self->sink = PyObject_GetAttrString(self->capture, "sink");
        self->begin = PyObject_GetAttrString(self->capture, "begin");
        self->take = PyObject_GetAttrString(self->capture, "take");
    }
    self->n_name = PyUnicode_InternFromString("n");
    self->stdout_name = PyUnicode_InternFromString("stdout");
    self->stderr_name = PyUnicode_InternFromString("stderr");
    PyObject *sys = PyImport_ImportModule("sys");
    self->sysdict = sys ? Py_XNewRef(PyModule_GetDict(sys)) : NULL;
    Py_XDECREF(sys);
    if (!self->by_version || !PyDict_Check(self->by_version) || !self->by_id || !PyDict_Check(self->by_id) ||
        !self->sink || !self->begin || !self->take || !self->exception_answer || !self->value_answer ||
        !self->loads || !self->dumps || !self->getsignal || !self->n_name || !self->stdout_name ||
        !self->stderr_name || !self->sysdict)
        return -1;
    self->term0 = PyObject_CallFunction(self->getsignal, "i", SIGTERM);
    self->int0 = self->term0 ? PyObject_CallFunction(self->getsignal, "i", SIGINT) : NULL;
    return self->int0 ? 0 : -1;
}

fx_pyfast_t *fx_pyfast_new(PyObject *runner, const char *version)
{
    fx_pyfast_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->version, sizeof self->version, "%s", version);
    self->major_minor = s_major_minor(self->version);
    if (s_load(self, runner) != 0)
        fx_pyfast_destroy(&self);
    return self;
}

void fx_pyfast_destroy(fx_pyfast_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_pyfast_t *self = *self_p;
    PyObject **refs[] = {&self->by_version, &self->by_id, &self->capture,          &self->sink,
                         &self->begin,      &self->take,  &self->exception_answer, &self->value_answer,
                         &self->loads,      &self->dumps, &self->n_name,           &self->getsignal,
                         &self->term0,      &self->int0,  &self->sysdict,          &self->stdout_name,
                         &self->stderr_name};
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
        Py_CLEAR(*refs[i]);
    free(self);
    *self_p = NULL;
}

/* The strategy of a serializer whose payload format is pickle, into
   strategy (SPEC 12.1.1: a bare "pickle" is source+pickle): true, or false
   for any other format (pickle5 goes through run()). */
static bool s_pickle_strategy(const char *serializer, char *strategy, size_t len)
{
    if (!serializer[0] || strcmp(serializer, "pickle") == 0) {
        snprintf(strategy, len, "source");
        return true;
    }
    const char *plus = strchr(serializer, '+');
    if (!plus || strcmp(plus + 1, "pickle") != 0 || (size_t) (plus - serializer) >= len)
        return false;
    memcpy(strategy, serializer, (size_t) (plus - serializer));
    strategy[plus - serializer] = '\0';
    return strcmp(strategy, "shell") != 0;
}

/* The loaded callable for this task (filled by the runner's first run of
   the function): a borrowed reference, or NULL if there is none (then
   run() loads it). By version, a body sent again must be the one cached
   and an empty one stands for it (SPEC 12.1.4); without a version, by
   function id with the same body. Entry and strategy must match too. */
static PyObject *s_cached(fx_pyfast_t *self, const fx_task_t *task, const char *strategy)
{
    bool versioned = task->function_version[0] != '\0';
    const char *id = versioned ? task->function_version : task->function_id;
    PyObject *key = PyUnicode_FromStringAndSize(id, (Py_ssize_t) strlen(id));
    PyObject *hit = key ? PyDict_GetItemWithError(versioned ? self->by_version : self->by_id, key) : NULL;
    Py_XDECREF(key);
    if (!hit) {
        PyErr_Clear();
        return NULL;
    }
    if (!PyTuple_Check(hit) || PyTuple_GET_SIZE(hit) != 4 || PyTuple_GET_ITEM(hit, 2) == Py_None)
        return NULL;
    PyObject *body = PyTuple_GET_ITEM(hit, 0), *entry = PyTuple_GET_ITEM(hit, 1);
    PyObject *cached_strategy = PyTuple_GET_ITEM(hit, 3);
    size_t len = task->body ? zframe_size(task->body) : 0;
    bool same_body = PyBytes_Check(body) && (size_t) PyBytes_GET_SIZE(body) == len &&
                     (len == 0 || memcmp(PyBytes_AS_STRING(body), zframe_data(task->body), len) == 0);
    if (!same_body && !(versioned && len == 0))
        return NULL;
    if (!PyUnicode_Check(entry) || !PyUnicode_Check(cached_strategy) ||
        PyUnicode_CompareWithASCIIString(cached_strategy, strategy) != 0 ||
        (!(versioned && len == 0) && PyUnicode_CompareWithASCIIString(entry, task->entry) != 0)) {
        PyErr_Clear();
        return NULL;
    }
    return PyTuple_GET_ITEM(hit, 2);
}

/* (args, kwargs) from the payload, as run() would take them: new
   references in *args_p (a tuple) and *kwargs_p (a dict), or -1 (nothing
   set, no Python error) for anything run() would have to report. */
static int s_arguments(fx_pyfast_t *self, const fx_task_t *task, PyObject **args_p, PyObject **kwargs_p)
{
    size_t len = task->payload ? zframe_size(task->payload) : 0;
    if (!len) {
        *args_p = PyTuple_New(0);
        *kwargs_p = PyDict_New();
        return *args_p && *kwargs_p ? 0 : -1;
    }
    PyObject *view =
        PyMemoryView_FromMemory((char *) zframe_data(task->payload), (Py_ssize_t) len, PyBUF_READ);
    PyObject *obj = view ? PyObject_CallOneArg(self->loads, view) : NULL;
    Py_XDECREF(view);
    int rc = -1;
    if (obj && (PyTuple_Check(obj) || PyList_Check(obj)) && PySequence_Fast_GET_SIZE(obj) == 2) {
        PyObject *a = PySequence_Fast_GET_ITEM(obj, 0), *k = PySequence_Fast_GET_ITEM(obj, 1);
        if ((PyTuple_Check(a) || PyList_Check(a)) && PyDict_Check(k)) {
            PyObject *key, *value;
            Py_ssize_t pos = 0;
            rc = 0;
            while (rc == 0 && PyDict_Next(k, &pos, &key, &value))
                rc = PyUnicode_Check(key) ? 0 : -1;
            if (rc == 0) {
                *args_p = PyTuple_Check(a) ? Py_NewRef(a) : PyList_AsTuple(a);
                *kwargs_p = Py_NewRef(k);
                rc = *args_p ? 0 : -1;
                if (rc != 0)
                    Py_CLEAR(*kwargs_p);
            }
        }
    }
    Py_XDECREF(obj);
    PyErr_Clear();
    return rc;
}

/* The answer of a Python helper called with args (a new tuple, stolen),
   into result. */
static void s_helper_answer(PyObject *helper, PyObject *args, fx_result_t *result)
{
    PyObject *answer = args ? PyObject_Call(helper, args, NULL) : NULL;
    Py_XDECREF(args);
    const char *why = "the runner's helper raised";
    if (!answer || fx_py_take_answer(answer, result, &why) != 0) {
        char text[512] = "";
        if (PyErr_Occurred())
            fx_py_error(text, sizeof text);
        fx_py_internal(result, "fx-worker's runner failed: %s %s", why, text);
    }
    Py_XDECREF(answer);
}

/* Bytes written to the capture since it was last emptied (1 if that
   cannot be read: then it is read the slow way). */
static long s_written(fx_pyfast_t *self)
{
    PyObject *n = PyObject_GetAttr(self->sink, self->n_name);
    long written = n ? PyLong_AsLong(n) : 1;
    Py_XDECREF(n);
    if (written < 0 || PyErr_Occurred()) {
        PyErr_Clear();
        written = 1;
    }
    return written;
}

/* Runs a task on the fast path if it can (see fx_runner.py's docstring):
   true with result filled, or false before anything ran (run() then does
   it all). */
bool fx_pyfast_run(fx_pyfast_t *self, const fx_task_t *task, fx_result_t *result)
{
    char strategy[FX_NAME_MAX + 1];
    if (task->kind != FX_FN_PYTHON || !s_pickle_strategy(task->serializer, strategy, sizeof strategy))
        return false;
    size_t mm = s_major_minor(task->py_version);
    if (task->py_version[0] && (mm != self->major_minor || memcmp(task->py_version, self->version, mm) != 0))
        return false;
    PyObject *fn = s_cached(self, task, strategy);
    PyObject *args = NULL, *kwargs = NULL;
    if (!fn || s_arguments(self, task, &args, &kwargs) != 0)
        return false;
    Py_INCREF(fn);                     /* the call may replace the cache entry */
    bool begun = s_written(self) == 0; /* nothing to drop: no call */
    if (!begun) {
        PyObject *r = PyObject_CallNoArgs(self->begin);
        begun = r != NULL;
        Py_XDECREF(r);
    }
    PyObject *out = Py_XNewRef(PyDict_GetItemWithError(self->sysdict, self->stdout_name));
    PyObject *err = Py_XNewRef(PyDict_GetItemWithError(self->sysdict, self->stderr_name));
    PyErr_Clear();
    PyDict_SetItem(self->sysdict, self->stdout_name, self->capture);
    PyDict_SetItem(self->sysdict, self->stderr_name, self->capture);
    /* an empty kwargs goes as none: the call then needs no dict unpacking */
    PyObject *value = begun ? PyObject_Call(fn, args, PyDict_GET_SIZE(kwargs) ? kwargs : NULL) : NULL;
    PyObject *type = NULL, *exc = NULL, *tb = NULL;
    if (!value) {
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (exc && tb)
            PyException_SetTraceback(exc, tb);
    }
    PyDict_SetItem(self->sysdict, self->stdout_name, out ? out : Py_None);
    PyDict_SetItem(self->sysdict, self->stderr_name, err ? err : Py_None);
    Py_XDECREF(out);
    Py_XDECREF(err);
    Py_DECREF(fn);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    if (!value) {
        s_helper_answer(self->exception_answer, PyTuple_Pack(1, exc ? exc : Py_None), result);
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return true;
    }
    PyObject *data = PyObject_CallOneArg(self->dumps, value);
    PyObject *pickle_error = NULL;
    if (!data) {
        PyObject *t, *tb2;
        PyErr_Fetch(&t, &pickle_error, &tb2);
        PyErr_NormalizeException(&t, &pickle_error, &tb2);
        Py_XDECREF(t);
        Py_XDECREF(tb2);
    }
    long written = s_written(self);
    if (data && PyBytes_Check(data) && (size_t) PyBytes_GET_SIZE(data) <= FX_PAYLOAD_MAX && written == 0) {
        /* the common case: no output, no Python call more */
        result->value = zframe_new(PyBytes_AS_STRING(data), (size_t) PyBytes_GET_SIZE(data));
        result->output = zframe_new_empty();
        result->status = FX_RESULT_OK;
        if (!result->value || !result->output)
            fx_py_internal(result, "fx-worker is out of memory for the result");
        Py_DECREF(data);
        Py_DECREF(value);
        return true;
    }
    PyObject *text = PyObject_CallNoArgs(self->take);
    if (text && data && (size_t) PyBytes_GET_SIZE(data) <= FX_PAYLOAD_MAX) {
        /* OK with output */
        PyObject *answer = Py_BuildValue("(iiOOO)", FX_RESULT_OK, 0, Py_None, data, Py_None);
        PyObject *encoded = PyUnicode_AsEncodedString(text, "utf-8", "replace");
        if (answer && encoded)
            PyTuple_SetItem(answer, 4, encoded); /* steals */
        else
            Py_XDECREF(encoded);
        const char *why;
        if (!answer || fx_py_take_answer(answer, result, &why) != 0) {
            PyErr_Clear();
            fx_py_internal(result, "fx-worker could not take the task's output");
        }
        Py_XDECREF(answer);
    }
    else if (text) {
        PyObject *entry = fx_py_text(task->entry);
        s_helper_answer(
            self->value_answer,
            entry ? PyTuple_Pack(4, entry, data ? data : Py_None, pickle_error ? pickle_error : Py_None, text)
                  : NULL,
            result);
        Py_XDECREF(entry);
    }
    else {
        PyErr_Clear();
        fx_py_internal(result, "fx-worker could not read the task's output");
    }
    Py_XDECREF(text);
    Py_XDECREF(pickle_error);
    Py_XDECREF(data);
    Py_DECREF(value);
    return true;
}

bool fx_pyfast_signals_changed(fx_pyfast_t *self)
{
    PyObject *t = PyObject_CallFunction(self->getsignal, "i", SIGTERM);
    PyObject *i = t ? PyObject_CallFunction(self->getsignal, "i", SIGINT) : NULL;
    bool changed = !i || t != self->term0 || i != self->int0;
    Py_XDECREF(t);
    Py_XDECREF(i);
    PyErr_Clear();
    return changed;
}
