/*  fx_pyserver.c: the test-only module _fxtest and its one type, TestServer:
    a CurveZMQ ROUTER that plays a broker's client port in tests
    (python/tests, cli tests). It lets a test script a broker's answers,
    delay or drop them, and deny keys, without a broker. It is built for the
    tests only, outside the fx package, and speaks through the codec of
    fx._fx itself (fx_pyapi.h), so it raises fx.ProtocolError and fx.Error.

    zap=None admits every client key (no ZAP handler), "allow" runs a ZAP
    handler that admits all with User-Id "user:test", "deny" one that denies
    all (the CurveZMQ handshake then never completes: the client hears
    nothing, just as with a key the real broker does not know). The ZAP
    handler is polled inside recv(), so call recv() to let clients in. */
#include "fx_pyapi.h" /* first: it brings Python.h */

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_kv.h"
#include "fx_error.h"
#include "fx_limits.h"
#include "fx_msg.h"

/* fx._fx's codec and exceptions, taken by the module init. */
static const fx_py_api_t *s_fx;

typedef struct {
    PyObject_HEAD zsock_t *router;
    zsock_t *zap;
    bool allow;
    unsigned long zap_requests;
    char endpoint[FX_ADDR_MAX];
} fx_py_server_t;

static int s_init(fx_py_server_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"public_key", "secret_key", "bind", "zap", NULL};
    const char *pub, *sec, *bind = "tcp://127.0.0.1:*", *zap = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ss|sz:TestServer", kwlist, &pub, &sec, &bind, &zap))
        return -1;
    fx_keypair_t kp;
    if (fx_strlcpy(kp.public_key, pub, sizeof(kp.public_key)) != FX_OK ||
        fx_strlcpy(kp.secret_key, sec, sizeof(kp.secret_key)) != FX_OK || !fx_key_valid(kp.public_key) ||
        !fx_key_valid(kp.secret_key)) {
        PyErr_SetString(PyExc_ValueError, "keys must be 40 characters of Z85");
        return -1;
    }
    if (zap != NULL && strcmp(zap, "allow") != 0 && strcmp(zap, "deny") != 0) {
        PyErr_SetString(PyExc_ValueError, "zap must be None, 'allow' or 'deny'");
        return -1;
    }
    if (zap != NULL) {
        self->zap = fx_zap_bind();
        if (self->zap == NULL) {
            PyErr_SetString(s_fx->error, "a ZAP handler is already bound in this process");
            return -1;
        }
        self->allow = strcmp(zap, "allow") == 0;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    if (self->router == NULL) {
        PyErr_SetString(s_fx->error, "cannot create a ROUTER socket");
        return -1;
    }
    zsock_set_linger(self->router, 0);
    zsock_set_sndtimeo(self->router, 0);
    fx_curve_server(self->router, &kp, "fx-client");
    int port = zsock_bind(self->router, "%s", bind);
    if (port < 0) {
        PyErr_Format(s_fx->error, "cannot bind %s: %s", bind, zmq_strerror(errno));
        return -1;
    }
    const char *last = zsock_endpoint(self->router);
    snprintf(self->endpoint, sizeof(self->endpoint), "%s", last ? last : bind);
    return 0;
}

static void s_close_all(fx_py_server_t *self)
{
    zsock_destroy(&self->router);
    zsock_destroy(&self->zap);
}

static void s_dealloc(fx_py_server_t *self)
{
    s_close_all(self);
    Py_TYPE(self)->tp_free((PyObject *) self);
}

/* Answer one ZAP request. */
static void s_zap_answer(fx_py_server_t *self)
{
    fx_zap_request_t req;
    if (fx_zap_recv(self->zap, &req) == 0) {
        self->zap_requests++;
        fx_zap_reply(self->zap, &req, self->allow, "user:test");
    }
}

/* recv(timeout_ms=-1) -> None | (routing_id, type, seq, fields, user_id) */
static PyObject *s_recv(fx_py_server_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout_ms", NULL};
    long timeout_ms = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|l:recv", kwlist, &timeout_ms))
        return NULL;
    if (self->router == NULL) {
        PyErr_SetString(s_fx->error, "the test server is closed");
        return NULL;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : fx_now_ms() + timeout_ms;
    zmsg_t *zmsg = NULL;
    while (zmsg == NULL) {
        long wait = deadline < 0 ? -1 : (long) (deadline - fx_now_ms());
        if (deadline >= 0 && wait < 0)
            wait = 0;
        zmq_pollitem_t items[2] = {{zsock_resolve(self->router), 0, ZMQ_POLLIN, 0},
                                   {self->zap ? zsock_resolve(self->zap) : NULL, 0, ZMQ_POLLIN, 0}};
        int rc, saved = 0;
        Py_BEGIN_ALLOW_THREADS rc = zmq_poll(items, self->zap ? 2 : 1, wait);
        saved = errno;
        if (rc > 0 && self->zap && (items[1].revents & ZMQ_POLLIN))
            s_zap_answer(self);
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            zmsg = zmsg_recv(self->router);
        Py_END_ALLOW_THREADS if (rc < 0 && saved == EINTR && PyErr_CheckSignals() < 0) return NULL;
        if (zmsg == NULL && deadline >= 0 && fx_now_ms() >= deadline)
            Py_RETURN_NONE;
    }
    PyObject *result = NULL;
    zframe_t *rid = zmsg_pop(zmsg);
    zframe_t *header = zmsg_first(zmsg);
    const char *uid = header ? fx_peer_user_id(header) : NULL;
    PyObject *user = uid ? PyUnicode_FromString(uid) : Py_NewRef(Py_None);
    PyObject *decoded = user ? s_fx->decode(zmsg) : NULL;
    if (decoded != NULL)
        result = Py_BuildValue("(y#OOOO)", (const char *) zframe_data(rid), (Py_ssize_t) zframe_size(rid),
                               PyTuple_GET_ITEM(decoded, 0), PyTuple_GET_ITEM(decoded, 1),
                               PyTuple_GET_ITEM(decoded, 2), user);
    Py_XDECREF(decoded);
    Py_XDECREF(user);
    zframe_destroy(&rid);
    zmsg_destroy(&zmsg);
    return result;
}

/* send(routing_id, type, seq, fields) -> bool */
static PyObject *s_send(fx_py_server_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"routing_id", "type", "seq", "fields", NULL};
    Py_buffer rid;
    PyObject *type, *fields = NULL;
    unsigned int seq;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*OI|O:send", kwlist, &rid, &type, &seq, &fields))
        return NULL;
    PyObject *result = NULL;
    zframe_t *routing = zframe_new(rid.buf, (size_t) rid.len);
    if (self->router == NULL)
        PyErr_SetString(s_fx->error, "the test server is closed");
    else {
        int rc = s_fx->send(self->router, routing, type, seq, fields);
        if (rc >= 0)
            result = PyBool_FromLong(rc);
    }
    zframe_destroy(&routing);
    PyBuffer_Release(&rid);
    return result;
}

/* send_raw(routing_id, frames) -> bool: any bytes, for malformed input. */
static PyObject *s_send_raw(fx_py_server_t *self, PyObject *args)
{
    Py_buffer rid;
    PyObject *frames;
    if (!PyArg_ParseTuple(args, "y*O:send_raw", &rid, &frames))
        return NULL;
    PyObject *seq = PySequence_Fast(frames, "frames must be a list of bytes");
    PyObject *result = NULL;
    zmsg_t *zmsg = zmsg_new();
    if (seq == NULL || self->router == NULL)
        goto cleanup;
    zmsg_addmem(zmsg, rid.buf, (size_t) rid.len);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "frames must be bytes");
            goto cleanup;
        }
        zmsg_addmem(zmsg, PyBytes_AS_STRING(item), (size_t) PyBytes_GET_SIZE(item));
    }
    result = PyBool_FromLong(zmsg_send(&zmsg, self->router) == 0);
cleanup:
    zmsg_destroy(&zmsg);
    Py_XDECREF(seq);
    PyBuffer_Release(&rid);
    if (result == NULL && !PyErr_Occurred())
        PyErr_SetString(s_fx->error, "the test server is closed");
    return result;
}

static PyObject *s_close(fx_py_server_t *self, PyObject *unused)
{
    s_close_all(self);
    Py_RETURN_NONE;
}

static PyObject *s_get_endpoint(fx_py_server_t *self, void *closure)
{
    return PyUnicode_FromString(self->endpoint);
}

static PyObject *s_get_zap_requests(fx_py_server_t *self, void *closure)
{
    return PyLong_FromUnsignedLong(self->zap_requests);
}

static PyMethodDef s_methods[] = {
    {"recv", (PyCFunction) (void (*)(void)) s_recv, METH_VARARGS | METH_KEYWORDS,
     "recv(timeout_ms=-1) -> None | (routing_id, type, seq, fields, user_id)"},
    {"send", (PyCFunction) (void (*)(void)) s_send, METH_VARARGS | METH_KEYWORDS,
     "send(routing_id, type, seq, fields) -> bool"},
    {"send_raw", (PyCFunction) s_send_raw, METH_VARARGS,
     "send_raw(routing_id, frames) -> bool: arbitrary frames after the routing id"},
    {"close", (PyCFunction) s_close, METH_NOARGS, "close the sockets"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef s_getset[] = {
    {"endpoint", (getter) s_get_endpoint, NULL, "the bound address (tcp://127.0.0.1:PORT)", NULL},
    {"zap_requests", (getter) s_get_zap_requests, NULL, "ZAP requests answered", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject s_server_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_fxtest.TestServer",
    .tp_doc = "TestServer(public_key, secret_key, bind='tcp://127.0.0.1:*', zap=None): a "
              "CurveZMQ ROUTER that plays a broker in tests.",
    .tp_basicsize = sizeof(fx_py_server_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) s_init,
    .tp_dealloc = (destructor) s_dealloc,
    .tp_methods = s_methods,
    .tp_getset = s_getset,
};

static struct PyModuleDef s_module = {
    PyModuleDef_HEAD_INIT,
    "_fxtest",
    "_fxtest: a fake broker for fx's tests (TestServer); not part of the fx package.",
    -1,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__fxtest(void)
{
    s_fx = PyCapsule_Import(FX_PY_API_NAME, 0);
    if (s_fx == NULL)
        return NULL;
    if (s_fx->version != FX_PY_API_VERSION) {
        PyErr_Format(PyExc_ImportError, "_fxtest speaks version %d of fx._fx's C API; this fx._fx has %d",
                     FX_PY_API_VERSION, s_fx->version);
        return NULL;
    }
    if (PyType_Ready(&s_server_type) < 0)
        return NULL;
    PyObject *mod = PyModule_Create(&s_module);
    if (mod != NULL && PyModule_AddObjectRef(mod, "TestServer", (PyObject *) &s_server_type) < 0)
        Py_CLEAR(mod);
    return mod;
}
