/*  fx_pyconn.c: fx._fx.Connection, one CurveZMQ DEALER to a broker's client
    port. Every method that sends takes the request's seq first and returns
    True if the message was queued on the socket, False if the socket
    refused it (no peer yet, or queue full: the caller resends later).
    A Connection belongs to one thread at a time (ZeroMQ sockets are not
    thread-safe); the Python Client gives it to its I/O thread only. */
#include "fx_pyext.h"

#include <sodium.h>

typedef struct {
    PyObject_HEAD zsock_t *sock;
    char addr[FX_ADDR_MAX];
    char server_key[FX_KEY_LEN + 1];
    fx_keypair_t keypair;
} fx_py_conn_t;

/* Open a new DEALER and start connecting. 0, or -1 with an exception. */
static int s_open(fx_py_conn_t *self)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (sock == NULL) {
        PyErr_Format(fx_py_error, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        return -1;
    }
    zsock_set_linger(sock, 0);
    zsock_set_sndtimeo(sock, 0);
    fx_curve_client(sock, &self->keypair, self->server_key);
    if (zsock_connect(sock, "%s", self->addr) != 0) {
        int saved = errno;
        zsock_destroy(&sock);
        PyErr_Format(fx_py_error, "cannot connect to broker address '%s': %s (expected tcp://HOST:PORT)",
                     self->addr, zmq_strerror(saved));
        return -1;
    }
    self->sock = sock;
    return 0;
}

static int s_init(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"broker_addr", "broker_public_key", "public_key", "secret_key", NULL};
    PyObject *addr, *server_key, *pub, *sec;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UUUU:Connection", kwlist, &addr, &server_key, &pub, &sec))
        return -1;
    zsock_destroy(&self->sock);
    if (fx_py_copy_str(addr, "broker_addr", self->addr, sizeof(self->addr)) < 0 ||
        fx_py_copy_str(server_key, "broker_public_key", self->server_key, sizeof(self->server_key)) < 0 ||
        fx_py_copy_str(pub, "public_key", self->keypair.public_key, sizeof(self->keypair.public_key)) < 0 ||
        fx_py_copy_str(sec, "secret_key", self->keypair.secret_key, sizeof(self->keypair.secret_key)) < 0)
        return -1;
    const char *names[] = {"broker_public_key", "public_key", "secret_key"};
    const char *keys[] = {self->server_key, self->keypair.public_key, self->keypair.secret_key};
    for (int i = 0; i < 3; i++)
        if (!fx_key_valid(keys[i])) {
            PyErr_Format(PyExc_ValueError,
                         "%s is not a CurveZMQ key (40 characters of Z85); check the credentials file",
                         names[i]);
            return -1;
        }
    return s_open(self);
}

static void s_dealloc(fx_py_conn_t *self)
{
    zsock_destroy(&self->sock);
    sodium_memzero(self->keypair.secret_key, sizeof(self->keypair.secret_key));
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static int s_check_open(fx_py_conn_t *self)
{
    if (self->sock != NULL)
        return 0;
    PyErr_SetString(fx_py_error, "the connection is closed");
    return -1;
}

/* Send msg (taking it); Python True/False/NULL. */
static PyObject *s_send_msg(fx_py_conn_t *self, fx_msg_t *msg)
{
    if (msg == NULL)
        return NULL;
    if (s_check_open(self) < 0) {
        fx_msg_destroy(&msg);
        return NULL;
    }
    int rc = fx_py_send(&msg, self->sock, NULL);
    if (rc < 0)
        return NULL;
    return PyBool_FromLong(rc);
}

static PyObject *s_hello(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "client_id", "client_version", "python_version", NULL};
    unsigned int seq;
    PyObject *id, *cv, *pv;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IUUU:hello", kwlist, &seq, &id, &cv, &pv))
        return NULL;
    fx_msg_t *m = fx_msg_new(FX_MSG_HELLO);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    if (fx_py_copy_str(id, "client_id", m->hello.client_id, sizeof(m->hello.client_id)) < 0 ||
        fx_py_copy_str(cv, "client_version", m->hello.client_version, sizeof(m->hello.client_version)) < 0 ||
        fx_py_copy_str(pv, "python_version", m->hello.python_version, sizeof(m->hello.python_version)) < 0)
        fx_msg_destroy(&m);
    return s_send_msg(self, m);
}

static PyObject *s_heartbeat(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", NULL};
    unsigned int seq;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "I:heartbeat", kwlist, &seq))
        return NULL;
    fx_msg_t *m = fx_msg_new(FX_MSG_HEARTBEAT);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    return s_send_msg(self, m);
}

static PyObject *s_register_function(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "function_id", "name", "kind", "entry", "body", NULL};
    unsigned int seq;
    unsigned char kind;
    PyObject *id, *name, *entry, *body;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IUUbUO:register_function", kwlist, &seq, &id, &name,
                                     &kind, &entry, &body))
        return NULL;
    fx_msg_t *m = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    m->register_function.kind = kind;
    if (fx_py_copy_str(id, "function_id", m->register_function.function_id,
                       sizeof(m->register_function.function_id)) < 0 ||
        fx_py_copy_str(name, "name", m->register_function.name, sizeof(m->register_function.name)) < 0 ||
        fx_py_copy_str(entry, "entry", m->register_function.entry, sizeof(m->register_function.entry)) < 0 ||
        fx_py_frame(body, "body", &m->register_function.body) < 0)
        fx_msg_destroy(&m);
    return s_send_msg(self, m);
}

static PyObject *s_register_endpoint(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "endpoint_id", "name", "public_key", NULL};
    unsigned int seq;
    PyObject *id, *name, *key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IUUU:register_endpoint", kwlist, &seq, &id, &name, &key))
        return NULL;
    fx_msg_t *m = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    if (fx_py_copy_str(id, "endpoint_id", m->register_endpoint.endpoint_id,
                       sizeof(m->register_endpoint.endpoint_id)) < 0 ||
        fx_py_copy_str(name, "name", m->register_endpoint.name, sizeof(m->register_endpoint.name)) < 0 ||
        fx_py_copy_str(key, "public_key", m->register_endpoint.public_key,
                       sizeof(m->register_endpoint.public_key)) < 0)
        fx_msg_destroy(&m);
    return s_send_msg(self, m);
}

/* One SUBMIT record from a tuple (task_id, endpoint_id, function_id,
   py_version, serializer, walltime_ms, payload[, retries]); without
   retries the task gets FX_RETRIES_DEFAULT. */
static int s_submit_record(fx_task_t *t, PyObject *item, Py_ssize_t index)
{
    PyObject *tid, *eid, *fid, *pyv, *ser, *payload;
    unsigned int walltime, retries = FX_RETRIES_DEFAULT;
    if (!PyTuple_Check(item) || (PyTuple_GET_SIZE(item) != 7 && PyTuple_GET_SIZE(item) != 8)) {
        PyErr_Format(PyExc_TypeError,
                     "task %zd must be a tuple (task_id, endpoint_id, function_id, py_version, "
                     "serializer, walltime_ms, payload[, retries])",
                     index);
        return -1;
    }
    if (!PyArg_ParseTuple(item, "UUUUUIO|I", &tid, &eid, &fid, &pyv, &ser, &walltime, &payload, &retries))
        return -1;
    if (retries > FX_RETRIES_MAX) {
        PyErr_Format(PyExc_ValueError, "task %zd: retries is %u; the limit (FX_RETRIES_MAX) is %u", index,
                     retries, (unsigned) FX_RETRIES_MAX);
        return -1;
    }
    t->walltime_ms = walltime;
    t->retries = retries;
    if (fx_py_copy_str(tid, "task_id", t->task_id, sizeof(t->task_id)) < 0 ||
        fx_py_copy_str(eid, "endpoint_id", t->endpoint_id, sizeof(t->endpoint_id)) < 0 ||
        fx_py_copy_str(fid, "function_id", t->function_id, sizeof(t->function_id)) < 0 ||
        fx_py_copy_str(pyv, "py_version", t->py_version, sizeof(t->py_version)) < 0 ||
        fx_py_copy_str(ser, "serializer", t->serializer, sizeof(t->serializer)) < 0 ||
        fx_py_frame(payload, "payload", &t->payload) < 0)
        return -1;
    return 0;
}

static PyObject *s_submit(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "tasks", NULL};
    unsigned int seq;
    PyObject *tasks, *list = NULL;
    fx_msg_t *m = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IO:submit", kwlist, &seq, &tasks))
        return NULL;
    list = PySequence_Fast(tasks, "tasks must be a list of tuples");
    if (list == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(list);
    if (n == 0 || (size_t) n > FX_BATCH_MAX) {
        PyErr_Format(PyExc_ValueError, "a SUBMIT carries 1 to %u tasks (FX_BATCH_MAX), not %zd",
                     (unsigned) FX_BATCH_MAX, n);
        goto fail;
    }
    m = fx_msg_new(FX_MSG_SUBMIT);
    if (m == NULL || fx_msg_alloc_records(m, (uint32_t) n) != FX_OK) {
        PyErr_NoMemory();
        goto fail;
    }
    m->seq = seq;
    for (Py_ssize_t i = 0; i < n; i++)
        if (s_submit_record(&m->submit.tasks[i], PySequence_Fast_GET_ITEM(list, i), i) < 0)
            goto fail;
    Py_DECREF(list);
    return s_send_msg(self, m);
fail:
    fx_msg_destroy(&m);
    Py_XDECREF(list);
    return NULL;
}

static PyObject *s_ids_message(fx_py_conn_t *self, PyObject *args, PyObject *kwargs, fx_msg_type_t type,
                               const char *format)
{
    static char *kwlist[] = {"seq", "task_ids", NULL};
    unsigned int seq;
    PyObject *ids;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, kwlist, &seq, &ids))
        return NULL;
    if (PyUnicode_Check(ids)) {
        PyErr_SetString(PyExc_TypeError, "task_ids must be a list of id strings, not one str");
        return NULL;
    }
    fx_msg_t *m = fx_msg_new(type);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    if (fx_py_fill_ids(m, ids) < 0)
        fx_msg_destroy(&m);
    return s_send_msg(self, m);
}

static PyObject *s_results_ack(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    return s_ids_message(self, args, kwargs, FX_MSG_RESULTS_ACK, "IO:results_ack");
}

static PyObject *s_status(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    return s_ids_message(self, args, kwargs, FX_MSG_STATUS, "IO:status");
}

static PyObject *s_fetch(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    return s_ids_message(self, args, kwargs, FX_MSG_FETCH, "IO:fetch");
}

/* CANCEL(ids, queued_only): answered by STATUS_REPLY with the same seq. */
static PyObject *s_cancel(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "task_ids", "queued_only", NULL};
    unsigned int seq;
    PyObject *ids;
    int queued_only = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IO|p:cancel", kwlist, &seq, &ids, &queued_only))
        return NULL;
    if (PyUnicode_Check(ids)) {
        PyErr_SetString(PyExc_TypeError, "task_ids must be a list of id strings, not one str");
        return NULL;
    }
    fx_msg_t *m = fx_msg_new(FX_MSG_CANCEL);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    m->cancel.queued_only = queued_only ? 1 : 0;
    if (fx_py_fill_ids(m, ids) < 0)
        fx_msg_destroy(&m);
    return s_send_msg(self, m);
}

/* LIST: what is 1/2/3 or "endpoints"/"functions"/"tasks". */
static PyObject *s_list(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"seq", "what", "limit", NULL};
    unsigned int seq, limit = 0;
    PyObject *what;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "IO|I:list", kwlist, &seq, &what, &limit))
        return NULL;
    int code = -1;
    if (PyLong_Check(what))
        code = (int) PyLong_AsLong(what);
    else if (PyUnicode_Check(what)) {
        const char *w = PyUnicode_AsUTF8(what);
        code = !w                            ? -1
               : strcmp(w, "endpoints") == 0 ? FX_LIST_ENDPOINTS
               : strcmp(w, "functions") == 0 ? FX_LIST_FUNCTIONS
               : strcmp(w, "tasks") == 0     ? FX_LIST_TASKS
                                             : -1;
    }
    if (code < FX_LIST_ENDPOINTS || code > FX_LIST_TASKS) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "list what: 'endpoints', 'functions' or 'tasks'");
        return NULL;
    }
    fx_msg_t *m = fx_msg_new(FX_MSG_LIST);
    if (m == NULL)
        return PyErr_NoMemory();
    m->seq = seq;
    m->list.what = (uint8_t) code;
    m->list.limit = limit;
    return s_send_msg(self, m);
}

/* Generic: send(type, seq, fields_dict). */
static PyObject *s_send(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"type", "seq", "fields", NULL};
    PyObject *type, *fields = NULL;
    unsigned int seq;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OI|O:send", kwlist, &type, &seq, &fields))
        return NULL;
    int t = fx_py_msg_type(type);
    if (t < 0)
        return NULL;
    return s_send_msg(self, fx_py_msg_from_fields(t, seq, fields));
}

/* recv(timeout_ms=-1, wake_fd=-1): None on timeout or wake-up, else
   (type_name, seq, fields). Raises fx.ProtocolError for a message that does
   not decode. */
static PyObject *s_recv(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout_ms", "wake_fd", NULL};
    long timeout_ms = -1;
    int wake_fd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|li:recv", kwlist, &timeout_ms, &wake_fd))
        return NULL;
    if (s_check_open(self) < 0)
        return NULL;
    int ready = fx_py_poll(self->sock, wake_fd, timeout_ms);
    if (ready <= 0)
        return ready < 0 ? NULL : Py_NewRef(Py_None);
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = NULL;
    int rc = FX_OK;
    bool got = false;
    Py_BEGIN_ALLOW_THREADS zmsg_t *zmsg = zmsg_recv(self->sock);
    got = zmsg != NULL;
    if (got)
        rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    zmsg_destroy(&zmsg);
    Py_END_ALLOW_THREADS if (!got) return Py_NewRef(Py_None); /* interrupted receive: nothing read */
    if (rc != FX_OK) {
        fx_py_raise_decode(rc, detail, seq);
        return NULL;
    }
    PyObject *result = fx_py_msg_to_tuple(msg);
    fx_msg_destroy(&msg);
    return result;
}

static PyObject *s_reconnect(fx_py_conn_t *self, PyObject *unused)
{
    zsock_destroy(&self->sock);
    if (s_open(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *s_close(fx_py_conn_t *self, PyObject *unused)
{
    zsock_destroy(&self->sock);
    Py_RETURN_NONE;
}

static PyObject *s_get_address(fx_py_conn_t *self, void *closure)
{
    return PyUnicode_FromString(self->addr);
}

static PyObject *s_get_closed(fx_py_conn_t *self, void *closure)
{
    return PyBool_FromLong(self->sock == NULL);
}

#define KW METH_VARARGS | METH_KEYWORDS
static PyMethodDef s_methods[] = {
    {"hello", (PyCFunction) (void (*)(void)) s_hello, KW,
     "hello(seq, client_id, client_version, python_version) -> bool"},
    {"heartbeat", (PyCFunction) (void (*)(void)) s_heartbeat, KW, "heartbeat(seq) -> bool"},
    {"register_function", (PyCFunction) (void (*)(void)) s_register_function, KW,
     "register_function(seq, function_id, name, kind, entry, body) -> bool"},
    {"register_endpoint", (PyCFunction) (void (*)(void)) s_register_endpoint, KW,
     "register_endpoint(seq, endpoint_id, name, public_key) -> bool"},
    {"submit", (PyCFunction) (void (*)(void)) s_submit, KW,
     "submit(seq, tasks) -> bool; tasks: list of (task_id, endpoint_id, function_id, "
     "py_version, serializer, walltime_ms, payload[, retries=FX_RETRIES_DEFAULT])"},
    {"results_ack", (PyCFunction) (void (*)(void)) s_results_ack, KW, "results_ack(seq, ids) -> bool"},
    {"status", (PyCFunction) (void (*)(void)) s_status, KW, "status(seq, ids) -> bool"},
    {"fetch", (PyCFunction) (void (*)(void)) s_fetch, KW, "fetch(seq, ids) -> bool"},
    {"cancel", (PyCFunction) (void (*)(void)) s_cancel, KW,
     "cancel(seq, ids, queued_only=False) -> bool; answered by STATUS_REPLY (same seq)"},
    {"list", (PyCFunction) (void (*)(void)) s_list, KW,
     "list(seq, what, limit=0) -> bool; what: 'endpoints', 'functions', 'tasks'"},
    {"send", (PyCFunction) (void (*)(void)) s_send, KW,
     "send(type, seq, fields) -> bool: any message from a dict of fields"},
    {"recv", (PyCFunction) (void (*)(void)) s_recv, KW,
     "recv(timeout_ms=-1, wake_fd=-1) -> None | (type, seq, fields); releases the GIL"},
    {"reconnect", (PyCFunction) s_reconnect, METH_NOARGS,
     "close the socket and open a new one (a new session at the broker)"},
    {"close", (PyCFunction) s_close, METH_NOARGS, "close the socket"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef s_getset[] = {
    {"address", (getter) s_get_address, NULL, "the broker's client address", NULL},
    {"closed", (getter) s_get_closed, NULL, "True once closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject fx_py_conn_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "fx._fx.Connection",
    .tp_doc = "Connection(broker_addr, broker_public_key, public_key, secret_key): one "
              "CurveZMQ DEALER to a broker's client port. Not thread-safe.",
    .tp_basicsize = sizeof(fx_py_conn_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) s_init,
    .tp_dealloc = (destructor) s_dealloc,
    .tp_methods = s_methods,
    .tp_getset = s_getset,
};
