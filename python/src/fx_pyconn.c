/*  fx_pyconn.c: fx._fx.Connection, one CurveZMQ DEALER to a broker's client
    port. Every method that sends takes the request's seq first and returns
    True if the message was queued on the socket, False if the socket
    refused it (no peer yet, or queue full: the caller resends later).

    Threads: a ZeroMQ socket may move between threads with a full memory
    barrier in between. Every method here that touches the socket holds the
    GIL while it does (only the blocking recv() lets go of it, and is for
    single-threaded use), so the GIL is that barrier and the Python Client
    may use one Connection from several threads under its own lock. wait()
    is the one call made without that lock: it releases the GIL and polls
    only file descriptors (the socket's ZMQ_FD, the interrupt pipe, a
    caller's fd), never the socket itself.

    ZMQ_FD is edge-like: it signals when the socket's state changes, and a
    thread that sends may consume that signal for a message that has just
    arrived. So a send made while another thread is blocked in wait() that
    leaves input waiting writes the interrupt pipe, and so do reconnect()
    and close(): a thread blocked in wait() always wakes up to look. (Each
    look at ZMQ_EVENTS costs libzmq a poll() of its own mailbox, so no send
    looks when no thread waits.) */
#include "fx_pyext.h"

#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD zsock_t *sock;
    char addr[FX_ADDR_MAX];
    char server_key[FX_KEY_LEN + 1];
    fx_keypair_t keypair;
    int intr[2]; /* the interrupt pipe: read end, write end */
    bool has_intr;
    int waiting; /* threads inside wait(), changed with the GIL held */
} fx_py_conn_t;

/* What wait() saw, as bits of its result. */
enum { S_WAIT_SOCKET = 1, S_WAIT_INTERRUPT = 2, S_WAIT_FD = 4 };

static void s_interrupt(fx_py_conn_t *self)
{
    if (self->has_intr) {
        ssize_t rc = write(self->intr[1], "x", 1); /* a full pipe is a wake-up already pending */
        (void) rc;
    }
}

/* After a send: if a thread is in wait() and input waits on the socket,
   make sure it looks. */
static void s_kick_if_readable(fx_py_conn_t *self)
{
    if (self->waiting > 0 && self->sock != NULL && (zsock_events(self->sock) & ZMQ_POLLIN))
        s_interrupt(self);
}

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
    zsock_set_rcvtimeo(sock, 0);
    /* No receive high-water mark: the broker's ROUTER drops what a full
       peer cannot take, and a push it drops is not pushed again (SPEC 8.6).
       Results wait here, in memory, until the session reads them. */
    zsock_set_rcvhwm(sock, 0);
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
    if (!self->has_intr) {
        if (pipe2(self->intr, O_NONBLOCK | O_CLOEXEC) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        self->has_intr = true;
    }
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
    if (self->has_intr) {
        close(self->intr[0]);
        close(self->intr[1]);
    }
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
    s_kick_if_readable(self);
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

/* submit_parts(seq, parts): one SUBMIT from task groups (fx_pybatch.c). */
static PyObject *s_submit_parts(fx_py_conn_t *self, PyObject *args)
{
    unsigned int seq;
    PyObject *parts;
    if (!PyArg_ParseTuple(args, "IO:submit_parts", &seq, &parts))
        return NULL;
    if (s_check_open(self) < 0)
        return NULL;
    int rc = fx_py_submit_send(self->sock, seq, parts);
    if (rc < 0)
        return NULL;
    s_kick_if_readable(self);
    return PyBool_FromLong(rc);
}

/* ack_results(seq, results): RESULTS_ACK of every task id of a RESULTS
   message (a list of Result records or of ids), echoing its seq, in
   messages of at most FX_IDS_MAX ids. True if all were queued. */
static PyObject *s_ack_results(fx_py_conn_t *self, PyObject *args)
{
    unsigned int seq;
    PyObject *results;
    if (!PyArg_ParseTuple(args, "IO!:ack_results", &seq, &PyList_Type, &results))
        return NULL;
    bool all = true;
    for (Py_ssize_t at = 0; at < PyList_GET_SIZE(results); at += FX_IDS_MAX) {
        Py_ssize_t stop =
            PyList_GET_SIZE(results) - at > FX_IDS_MAX ? at + FX_IDS_MAX : PyList_GET_SIZE(results);
        fx_msg_t *m = fx_msg_new(FX_MSG_RESULTS_ACK);
        if (m == NULL)
            return PyErr_NoMemory();
        m->seq = seq;
        if (fx_py_fill_result_ids(m, results, at, stop) < 0) {
            fx_msg_destroy(&m);
            return NULL;
        }
        PyObject *sent = s_send_msg(self, m);
        if (sent == NULL)
            return NULL;
        all = all && sent == Py_True;
        Py_DECREF(sent);
    }
    return PyBool_FromLong(all);
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

/* LIST: what is 1-4 or "endpoints"/"functions"/"tasks"/"containers". */
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
               : strcmp(w, "tasks") == 0      ? FX_LIST_TASKS
               : strcmp(w, "containers") == 0 ? FX_LIST_CONTAINERS
                                              : -1;
    }
    if (code < FX_LIST_ENDPOINTS || code > FX_LIST_CONTAINERS) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "list what: 'endpoints', 'functions', 'tasks' or 'containers'");
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

/* A received message, decoded as rc says, to Python: (type_name, seq,
   fields), a RESULTS message's fields a list of Result if records; NULL
   with fx.ProtocolError set if it did not decode. Takes msg. */
static PyObject *s_received(fx_msg_t *msg, int rc, uint32_t seq, const char *detail, bool records)
{
    if (rc != FX_OK) {
        fx_msg_destroy(&msg);
        fx_py_raise_decode(rc, detail, seq);
        return NULL;
    }
    PyObject *result;
    if (records && msg->type == FX_MSG_RESULTS)
        result = Py_BuildValue("(skN)", "RESULTS", (unsigned long) msg->seq, fx_py_results_list(msg));
    else
        result = fx_py_msg_to_tuple(msg);
    fx_msg_destroy(&msg);
    return result;
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
    return s_received(msg, rc, seq, detail, false);
}

/* take(): the next message without waiting (None if there is none), as
   (type_name, seq, fields); a RESULTS message's fields are a list of
   Result records. Never releases the GIL. fx.ProtocolError for a message
   that does not decode (it is consumed). */
static PyObject *s_take(fx_py_conn_t *self, PyObject *unused)
{
    if (s_check_open(self) < 0)
        return NULL;
    zmsg_t *zmsg = zmsg_recv(self->sock); /* rcvtimeo 0: NULL when nothing waits */
    if (zmsg == NULL)
        Py_RETURN_NONE;
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = NULL;
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    zmsg_destroy(&zmsg);
    return s_received(msg, rc, seq, detail, true);
}

/* wait(timeout_ms=-1, wake_fd=-1): block, without the GIL, until the socket
   may have input, the interrupt pipe or wake_fd is readable, or the time is
   up. Returns the bits S_WAIT_* of what it saw (0: the time is up); input
   already waiting returns at once. Reads neither pipe: clear_interrupt()
   and the owner of wake_fd do, under the caller's lock. */
static PyObject *s_wait(fx_py_conn_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout_ms", "wake_fd", NULL};
    long timeout_ms = -1;
    int wake_fd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|li:wait", kwlist, &timeout_ms, &wake_fd))
        return NULL;
    if (self->sock == NULL || !self->has_intr)
        return PyLong_FromLong(S_WAIT_INTERRUPT); /* closed: nothing to wait for */
    /* Counted before the look at the socket: a send from now on checks. */
    self->waiting++;
    if (zsock_events(self->sock) & ZMQ_POLLIN) {
        self->waiting--;
        return PyLong_FromLong(S_WAIT_SOCKET);
    }
    struct pollfd fds[3] = {
        {zsock_fd(self->sock), POLLIN, 0},
        {self->intr[0], POLLIN, 0},
        {wake_fd, POLLIN, 0},
    };
    int rc, saved;
    Py_BEGIN_ALLOW_THREADS rc = poll(fds, wake_fd >= 0 ? 3 : 2, timeout_ms < 0 ? -1 : (int) timeout_ms);
    saved = errno;
    Py_END_ALLOW_THREADS self->waiting--;
    if (rc < 0) {
        if (saved == EINTR)
            return PyErr_CheckSignals() < 0 ? NULL : PyLong_FromLong(0);
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    long seen = 0;
    if (fds[0].revents)
        seen |= S_WAIT_SOCKET;
    if (fds[1].revents)
        seen |= S_WAIT_INTERRUPT;
    if (wake_fd >= 0 && fds[2].revents)
        seen |= S_WAIT_FD;
    return PyLong_FromLong(seen);
}

static PyObject *s_interrupt_py(fx_py_conn_t *self, PyObject *unused)
{
    s_interrupt(self);
    Py_RETURN_NONE;
}

static PyObject *s_clear_interrupt(fx_py_conn_t *self, PyObject *unused)
{
    char buf[64];
    while (self->has_intr && read(self->intr[0], buf, sizeof buf) > 0) {
    }
    Py_RETURN_NONE;
}

static PyObject *s_reconnect(fx_py_conn_t *self, PyObject *unused)
{
    zsock_destroy(&self->sock);
    s_interrupt(self); /* a thread in wait() polls the old socket's fd */
    if (s_open(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *s_close(fx_py_conn_t *self, PyObject *unused)
{
    zsock_destroy(&self->sock);
    s_interrupt(self);
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
    {"submit_parts", (PyCFunction) s_submit_parts, METH_VARARGS,
     "submit_parts(seq, parts) -> bool; parts: list of (endpoint_id, function_id, py_version, "
     "serializer, ids, payloads, walltime_ms, retries), walltime_ms and retries an int or a "
     "list with one per task"},
    {"results_ack", (PyCFunction) (void (*)(void)) s_results_ack, KW, "results_ack(seq, ids) -> bool"},
    {"ack_results", (PyCFunction) s_ack_results, METH_VARARGS,
     "ack_results(seq, results) -> bool: RESULTS_ACK of every record's task id, FX_IDS_MAX per message"},
    {"status", (PyCFunction) (void (*)(void)) s_status, KW, "status(seq, ids) -> bool"},
    {"fetch", (PyCFunction) (void (*)(void)) s_fetch, KW, "fetch(seq, ids) -> bool"},
    {"cancel", (PyCFunction) (void (*)(void)) s_cancel, KW,
     "cancel(seq, ids, queued_only=False) -> bool; answered by STATUS_REPLY (same seq)"},
    {"list", (PyCFunction) (void (*)(void)) s_list, KW,
     "list(seq, what, limit=0) -> bool; what: 'endpoints', 'functions', 'tasks', 'containers'"},
    {"send", (PyCFunction) (void (*)(void)) s_send, KW,
     "send(type, seq, fields) -> bool: any message from a dict of fields"},
    {"recv", (PyCFunction) (void (*)(void)) s_recv, KW,
     "recv(timeout_ms=-1, wake_fd=-1) -> None | (type, seq, fields); releases the GIL "
     "(single-threaded use)"},
    {"take", (PyCFunction) s_take, METH_NOARGS,
     "take() -> None | (type, seq, fields), without waiting; RESULTS fields: [Result, ...]"},
    {"wait", (PyCFunction) (void (*)(void)) s_wait, KW,
     "wait(timeout_ms=-1, wake_fd=-1) -> int: 1 socket, 2 interrupt, 4 wake_fd (bits), 0 time up; "
     "polls file descriptors only, without the GIL"},
    {"interrupt", (PyCFunction) s_interrupt_py, METH_NOARGS, "wake a thread blocked in wait()"},
    {"clear_interrupt", (PyCFunction) s_clear_interrupt, METH_NOARGS, "empty the interrupt pipe"},
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
