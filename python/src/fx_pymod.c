/*  fx_pymod.c: the fx._fx module: ids, keys, credentials, limits, error
    codes, a codec for tests (encode/decode), the Connection type, and the
    capsule that lends the codec to the tests' _fxtest (fx_pyapi.h). */
#include "fx_memory.h"
#include "fx_pyext.h"
#include "fx_pyapi.h"

PyObject *fx_py_error;
PyObject *fx_py_protocol_error;

static PyObject *s_new_id(PyObject *mod, PyObject *unused)
{
    fx_id_text_t id;
    fx_id_new(id);
    return PyUnicode_FromString(id);
}

static PyObject *s_new_ids(PyObject *mod, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "new_ids(n): n must not be negative");
        return NULL;
    }
    return fx_py_new_ids(n);
}

static PyObject *s_id_valid(PyObject *mod, PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        Py_RETURN_FALSE;
    const char *text = PyUnicode_AsUTF8(arg);
    if (text == NULL)
        return NULL;
    return PyBool_FromLong(fx_id_valid(text));
}

static PyObject *s_key_valid(PyObject *mod, PyObject *arg)
{
    if (!PyUnicode_Check(arg))
        Py_RETURN_FALSE;
    const char *text = PyUnicode_AsUTF8(arg);
    if (text == NULL)
        return NULL;
    return PyBool_FromLong(fx_key_valid(text));
}

static PyObject *s_strerror(PyObject *mod, PyObject *arg)
{
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(fx_strerror((int) code));
}

static PyObject *s_errname(PyObject *mod, PyObject *arg)
{
    long code = PyLong_AsLong(arg);
    if (code == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(fx_errname((int) code));
}

static PyObject *s_msg_type_name(PyObject *mod, PyObject *arg)
{
    long type = PyLong_AsLong(arg);
    if (type == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(fx_msg_type_name((int) type));
}

static PyObject *s_keypair_new(PyObject *mod, PyObject *unused)
{
    fx_keypair_t kp;
    if (fx_keypair_new(&kp) != 0) {
        PyErr_SetString(fx_py_error, "cannot make a CurveZMQ keypair (libzmq built without CURVE?)");
        return NULL;
    }
    return Py_BuildValue("(ss)", kp.public_key, kp.secret_key);
}

static PyObject *s_load_credentials(PyObject *mod, PyObject *arg)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    fx_creds_t creds;
    char err[512] = "";
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = fx_creds_load(PyBytes_AS_STRING(bytes), &creds, err, sizeof(err));
    Py_END_ALLOW_THREADS Py_DECREF(bytes);
    if (rc != 0) {
        PyErr_SetString(fx_py_error, err[0] ? err : "cannot read the credentials file");
        return NULL;
    }
    return Py_BuildValue("{s:s,s:s,s:s,s:s,s:s,s:s}", "broker_client", creds.broker_client, "broker_endpoint",
                         creds.broker_endpoint, "broker_public_key", creds.broker_public_key, "user_id",
                         creds.user_id, "public_key", creds.public_key, "secret_key", creds.secret_key);
}

/* schema(type) -> the fields of a message type, as fx_py_schema describes them */
static PyObject *s_schema(PyObject *mod, PyObject *arg)
{
    int t = fx_py_msg_type(arg);
    return t < 0 ? NULL : fx_py_schema(t);
}

/* encode(type, seq, fields) -> [header, payload frames...] */
static PyObject *s_encode(PyObject *mod, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"type", "seq", "fields", NULL};
    PyObject *type, *fields = NULL;
    unsigned int seq;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OI|O:encode", kwlist, &type, &seq, &fields))
        return NULL;
    int t = fx_py_msg_type(type);
    if (t < 0)
        return NULL;
    fx_msg_t *msg = fx_py_msg_from_fields(t, seq, fields);
    if (msg == NULL)
        return NULL;
    int err = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &err);
    fx_msg_destroy(&msg);
    if (zmsg == NULL) {
        PyErr_Format(fx_py_protocol_error, "cannot encode %s: %s (%s)", fx_msg_type_name(t), fx_strerror(err),
                     fx_errname(err));
        return NULL;
    }
    PyObject *list = PyList_New(0);
    for (zframe_t *f = zmsg_first(zmsg); f != NULL && list != NULL; f = zmsg_next(zmsg)) {
        PyObject *b = PyBytes_FromStringAndSize((const char *) zframe_data(f), (Py_ssize_t) zframe_size(f));
        if (b == NULL || PyList_Append(list, b) < 0)
            Py_CLEAR(list);
        Py_XDECREF(b);
    }
    zmsg_destroy(&zmsg);
    return list;
}

/* decode(frames) -> (type, seq, fields); fx.ProtocolError if malformed */
static PyObject *s_decode(PyObject *mod, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "frames must be a list of bytes");
    if (seq == NULL)
        return NULL;
    PyObject *result = NULL;
    zmsg_t *zmsg = zmsg_new();
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "frames must be bytes");
            goto cleanup;
        }
        zmsg_addmem(zmsg, PyBytes_AS_STRING(item), (size_t) PyBytes_GET_SIZE(item));
    }
    result = fx_py_decode(zmsg);
cleanup:
    zmsg_destroy(&zmsg);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef s_functions[] = {
    {"new_id", s_new_id, METH_NOARGS, "new_id() -> str: a fresh UUID (v4) in canonical text"},
    {"new_ids", s_new_ids, METH_O, "new_ids(n) -> [str, ...]: n fresh ids, one random draw per 256"},
    {"id_valid", s_id_valid, METH_O, "id_valid(text) -> bool"},
    {"key_valid", s_key_valid, METH_O, "key_valid(text) -> bool: 40 chars of Z85"},
    {"strerror", s_strerror, METH_O, "strerror(code) -> str"},
    {"errname", s_errname, METH_O, "errname(code) -> str, e.g. 'FX_E_NO_SESSION'"},
    {"msg_type_name", s_msg_type_name, METH_O, "msg_type_name(type) -> str"},
    {"keypair_new", s_keypair_new, METH_NOARGS, "keypair_new() -> (public_key, secret_key)"},
    {"load_credentials", s_load_credentials, METH_O,
     "load_credentials(path) -> dict (broker_client, broker_endpoint, broker_public_key, "
     "user_id, public_key, secret_key); fx.Error naming the file and field"},
    {"encode", (PyCFunction) (void (*)(void)) s_encode, METH_VARARGS | METH_KEYWORDS,
     "encode(type, seq, fields) -> list of frames (bytes)"},
    {"decode", s_decode, METH_O, "decode(frames) -> (type, seq, fields)"},
    {"schema", s_schema, METH_O,
     "schema(type) -> [{name, kind, min, max[, record]}, ...]: the message's fields in wire order, "
     "named as in SPEC.md (proto/fx_schema.h)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    "fx._fx",
    "fx._fx: the C side of the fx client (libfxproto + one CurveZMQ socket). Importing it sets glibc's "
    "mmap and trim thresholds (32 MiB, 128 MiB) so that large payloads reuse heap memory.",
    -1,
    s_functions,
    NULL,
    NULL,
    NULL,
    NULL,
};

static int s_add_int(PyObject *mod, const char *name, long value)
{
    return PyModule_AddIntConstant(mod, name, value);
}

static int s_add_constants(PyObject *mod)
{
    struct {
        const char *name;
        long value;
    } ints[] = {
        {"PROTO_VERSION", FX_PROTO_VERSION},
        {"TIMES_MAX", FX_TIMES_MAX},
        {"OID_LEN", FX_OID_LEN},
        {"MSG_TYPE_LAST", FX_MSG_TYPE_LAST},
        {"ID_LEN", FX_ID_LEN},
        {"KEY_LEN", FX_KEY_LEN},
        {"HEADER_MAX", FX_HEADER_MAX},
        {"BATCH_MAX", FX_BATCH_MAX},
        {"IDS_MAX", FX_IDS_MAX},
        {"PAYLOAD_MAX", FX_PAYLOAD_MAX},
        {"NAME_MAX", FX_NAME_MAX},
        {"VERSION_MAX", FX_VERSION_MAX},
        {"TEXT_MAX", FX_TEXT_MAX},
        {"CONTAINERS_MAX", FX_CONTAINERS_MAX},
        {"LIST_ROWS_MAX", FX_LIST_ROWS_MAX},
        {"LIST_COLS_MAX", FX_LIST_COLS_MAX},
        {"OUTPUT_MAX", FX_OUTPUT_MAX},
        {"FRAMES_MAX", FX_FRAMES_MAX},
        {"ADDR_MAX", FX_ADDR_MAX},
        {"FN_PYTHON", FX_FN_PYTHON},
        {"FN_SHELL", FX_FN_SHELL},
        {"RESULT_OK", FX_RESULT_OK},
        {"RESULT_EXCEPTION", FX_RESULT_EXCEPTION},
        {"RESULT_ERROR", FX_RESULT_ERROR},
        {"TASK_UNKNOWN", FX_TASK_UNKNOWN},
        {"TASK_QUEUED", FX_TASK_QUEUED},
        {"TASK_DISPATCHED", FX_TASK_DISPATCHED},
        {"TASK_DONE", FX_TASK_DONE},
        {"TASK_DELIVERED", FX_TASK_DELIVERED},
        {"TASK_FAILED", FX_TASK_FAILED},
        {"LIST_ENDPOINTS", FX_LIST_ENDPOINTS},
        {"LIST_FUNCTIONS", FX_LIST_FUNCTIONS},
        {"LIST_TASKS", FX_LIST_TASKS},
        {"LIST_CONTAINERS", FX_LIST_CONTAINERS},
        {"ERR_LAST", FX_ERR_LAST},
        {"RETRIES_DEFAULT", FX_RETRIES_DEFAULT},
        {"RETRIES_MAX", FX_RETRIES_MAX},
        {"HEARTBEAT_MS_DEFAULT", FX_HEARTBEAT_MS_DEFAULT},
        {"HEARTBEAT_MISSED_DEFAULT", FX_HEARTBEAT_MISSED_DEFAULT},
        {"QUEUED_PER_USER_DEFAULT", FX_QUEUED_PER_USER_DEFAULT},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (s_add_int(mod, ints[i].name, ints[i].value) < 0)
            return -1;
            /* Error codes by their own names, FX_ prefix dropped: E_NO_SESSION. */
#define FX_PY_ERROR_CONST(name, value, text)                                                                 \
    if (s_add_int(mod, #name + 3, value) < 0)                                                                \
        return -1;
    FX_ERRORS(FX_PY_ERROR_CONST)
#undef FX_PY_ERROR_CONST
    if (PyModule_AddStringConstant(mod, "VERSION", FX_VERSION) < 0)
        return -1;
    return 0;
}

/* What fx_pyapi.h promises; error is set by the module init. */
static fx_py_api_t s_api = {
    .version = FX_PY_API_VERSION,
    .decode = fx_py_decode,
    .send = fx_py_send_fields,
};

PyMODINIT_FUNC PyInit__fx(void)
{
    /* czmq must not take over SIGINT/SIGTERM from the interpreter. */
    zsys_handler_set(NULL);
    /* Large arguments and results cross CurveZMQ in fresh buffers: keep
       them on the heap for reuse (fx_memory.h; process-wide, which is why
       the module says so in its docstring). */
    fx_memory_tune();
    PyObject *mod = PyModule_Create(&s_module);
    if (mod == NULL)
        return NULL;
    fx_py_error = PyErr_NewExceptionWithDoc("fx.Error", "Base of every fx error.", NULL, NULL);
    fx_py_protocol_error = PyErr_NewExceptionWithDoc(
        "fx.ProtocolError", "A message that does not encode or decode (fx_strerror: detail).", fx_py_error,
        NULL);
    if (fx_py_error == NULL || fx_py_protocol_error == NULL ||
        PyModule_AddObjectRef(mod, "Error", fx_py_error) < 0 ||
        PyModule_AddObjectRef(mod, "ProtocolError", fx_py_protocol_error) < 0)
        goto fail;
    if (PyType_Ready(&fx_py_conn_type) < 0 ||
        PyModule_AddObjectRef(mod, "Connection", (PyObject *) &fx_py_conn_type) < 0)
        goto fail;
    s_api.error = fx_py_error;
    PyObject *capsule = PyCapsule_New(&s_api, FX_PY_API_NAME, NULL);
    int added = capsule ? PyModule_AddObjectRef(mod, "_C_API", capsule) : -1;
    Py_XDECREF(capsule);
    if (added < 0)
        goto fail;
    if (s_add_constants(mod) < 0 || fx_py_batch_init(mod) < 0)
        goto fail;
    return mod;
fail:
    Py_DECREF(mod);
    return NULL;
}
