/*  fx_pycodec.c: fx_msg_t <-> Python objects.

    Fields are named as the members of fx_msg_t's union (fx_msg.h), so the
    header is the documentation. Records (tasks, results, ids, status rows)
    are lists of dicts; frames are bytes; a LIST_REPLY table is
    {"columns": [...], "rows": [[...], ...]}. Missing fields take their zero
    value; a field of the wrong type or over its limit raises. */
#include "fx_pyext.h"

int fx_py_copy_str(PyObject *value, const char *field, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (value == NULL || value == Py_None)
        return 0;
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be a str, not %s", field, Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_ssize_t len = 0;
    const char *text = PyUnicode_AsUTF8AndSize(value, &len);
    if (text == NULL)
        return -1;
    if ((size_t) len >= cap) {
        PyErr_Format(PyExc_ValueError, "field '%s' is %zd bytes long; the protocol limit is %zu bytes", field,
                     len, cap - 1);
        return -1;
    }
    if (strlen(text) != (size_t) len) {
        PyErr_Format(PyExc_ValueError, "field '%s' contains a NUL character", field);
        return -1;
    }
    memcpy(dst, text, (size_t) len + 1);
    return 0;
}

int fx_py_frame(PyObject *value, const char *field, zframe_t **frame_p)
{
    *frame_p = NULL;
    if (value == NULL || value == Py_None)
        return 0;
    Py_buffer view;
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be bytes-like, not %s", field,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int rc = -1;
    if ((size_t) view.len > FX_PAYLOAD_MAX) {
        PyErr_Format(PyExc_ValueError, "field '%s' is %zd bytes; the limit (FX_PAYLOAD_MAX) is %u bytes",
                     field, view.len, (unsigned) FX_PAYLOAD_MAX);
        goto cleanup;
    }
    *frame_p = zframe_new(view.buf, (size_t) view.len);
    if (*frame_p == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    rc = 0;
cleanup:
    PyBuffer_Release(&view);
    return rc;
}

/* An unsigned integer field no larger than max. */
static int s_uint(PyObject *value, const char *field, unsigned long long max, unsigned long long *out)
{
    *out = 0;
    if (value == NULL || value == Py_None)
        return 0;
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be an int, not %s", field, Py_TYPE(value)->tp_name);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long) -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "field '%s' must be a non-negative int below %llu", field, max + 1);
        return -1;
    }
    if (v > max) {
        PyErr_Format(PyExc_ValueError, "field '%s' is %llu; the largest allowed is %llu", field, v, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Borrowed item of a dict, NULL if absent (no exception). */
static PyObject *s_item(PyObject *dict, const char *key)
{
    return PyDict_GetItemString(dict, key);
}

#define S_STR(dict, key, dst)                                                                                \
    if (fx_py_copy_str(s_item(dict, key), key, dst, sizeof(dst)) < 0)                                        \
    goto fail
#define S_U(dict, key, dst, max)                                                                             \
    do {                                                                                                     \
        unsigned long long v_;                                                                               \
        if (s_uint(s_item(dict, key), key, max, &v_) < 0)                                                    \
            goto fail;                                                                                       \
        dst = v_;                                                                                            \
    } while (0)
#define S_FRAME(dict, key, dst)                                                                              \
    if (fx_py_frame(s_item(dict, key), key, &(dst)) < 0)                                                     \
    goto fail

/* A list (or other sequence) of records under key, as a fast sequence;
   *n_p gets its length, checked against max. NULL + exception on error;
   an absent key gives an empty tuple. */
static PyObject *s_records(PyObject *fields, const char *key, uint32_t max, uint32_t *n_p)
{
    PyObject *value = s_item(fields, key);
    if (value == NULL || value == Py_None) {
        *n_p = 0;
        return PyTuple_New(0);
    }
    PyObject *seq = PySequence_Fast(value, "records must be a list");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size_t) n > max) {
        PyErr_Format(PyExc_ValueError, "field '%s' has %zd records; the limit is %u", key, n, max);
        Py_DECREF(seq);
        return NULL;
    }
    *n_p = (uint32_t) n;
    return seq;
}

static int s_check_dict(PyObject *record, const char *what)
{
    if (PyDict_Check(record))
        return 0;
    PyErr_Format(PyExc_TypeError, "each %s record must be a dict, not %s", what, Py_TYPE(record)->tp_name);
    return -1;
}

int fx_py_fill_ids(fx_msg_t *msg, PyObject *ids)
{
    PyObject *seq = PySequence_Fast(ids, "ids must be a list of task id strings");
    if (seq == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size_t) n > FX_IDS_MAX) {
        PyErr_Format(PyExc_ValueError, "%zd ids in one message; the limit (FX_IDS_MAX) is %u", n,
                     (unsigned) FX_IDS_MAX);
        goto cleanup;
    }
    if (fx_msg_alloc_records(msg, (uint32_t) n) != FX_OK) {
        PyErr_NoMemory();
        goto cleanup;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (fx_py_copy_str(PySequence_Fast_GET_ITEM(seq, i), "ids", msg->ids.ids[i],
                           sizeof(msg->ids.ids[i])) < 0)
            goto cleanup;
    rc = 0;
cleanup:
    Py_DECREF(seq);
    return rc;
}

static int s_fill_task(fx_task_t *t, PyObject *r)
{
    if (s_check_dict(r, "task") < 0)
        return -1;
    S_STR(r, "task_id", t->task_id);
    S_STR(r, "endpoint_id", t->endpoint_id);
    S_STR(r, "function_id", t->function_id);
    S_U(r, "kind", t->kind, 255);
    S_STR(r, "entry", t->entry);
    S_STR(r, "container", t->container);
    S_STR(r, "py_version", t->py_version);
    S_STR(r, "serializer", t->serializer);
    S_U(r, "attempt", t->attempt, UINT32_MAX);
    S_U(r, "walltime_ms", t->walltime_ms, UINT32_MAX);
    S_U(r, "retries", t->retries, FX_RETRIES_MAX);
    S_FRAME(r, "body", t->body);
    S_FRAME(r, "payload", t->payload);
    return 0;
fail:
    return -1;
}

static int s_fill_result(fx_result_t *res, PyObject *r)
{
    if (s_check_dict(r, "result") < 0)
        return -1;
    S_STR(r, "task_id", res->task_id);
    S_U(r, "status", res->status, 255);
    S_U(r, "error_code", res->error_code, UINT16_MAX);
    PyObject *text = s_item(r, "error_text");
    if (text != NULL && text != Py_None) {
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "field 'error_text' must be a str");
            return -1;
        }
        const char *utf8 = PyUnicode_AsUTF8(text);
        if (utf8 == NULL || fx_result_set_text(res, utf8) != FX_OK) {
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            return -1;
        }
    }
    S_FRAME(r, "value", res->value);
    S_FRAME(r, "output", res->output);
    return 0;
fail:
    return -1;
}

static int s_fill_records(fx_msg_t *msg, PyObject *fields)
{
    const char *key = msg->type == FX_MSG_RESULTS ? "results" : "tasks";
    uint32_t n = 0;
    PyObject *seq = s_records(fields, key, FX_BATCH_MAX, &n);
    if (seq == NULL)
        return -1;
    int rc = -1;
    if (fx_msg_alloc_records(msg, n) != FX_OK) {
        PyErr_NoMemory();
        goto cleanup;
    }
    for (uint32_t i = 0; i < n; i++) {
        PyObject *r = PySequence_Fast_GET_ITEM(seq, i);
        int one = 0;
        if (msg->type == FX_MSG_SUBMIT)
            one = s_fill_task(&msg->submit.tasks[i], r);
        else if (msg->type == FX_MSG_TASKS)
            one = s_fill_task(&msg->tasks.tasks[i], r);
        else if (msg->type == FX_MSG_RESULTS)
            one = s_fill_result(&msg->results.results[i], r);
        else {
            fx_task_status_t *st = &msg->status_reply.tasks[i];
            if (s_check_dict(r, "status") < 0)
                goto cleanup;
            S_STR(r, "task_id", st->task_id);
            S_U(r, "state", st->state, 255);
            S_STR(r, "endpoint_id", st->endpoint_id);
            S_U(r, "attempts", st->attempts, UINT32_MAX);
        }
        if (one < 0)
            goto cleanup;
    }
    rc = 0;
    goto cleanup;
fail:
    rc = -1;
cleanup:
    Py_DECREF(seq);
    return rc;
}

/* LIST_REPLY: {"columns": [str...], "rows": [[str...]...]}. */
static int s_fill_table(fx_msg_t *msg, PyObject *fields)
{
    PyObject *cols = s_item(fields, "columns");
    PyObject *rows = s_item(fields, "rows");
    PyObject *cols_seq = NULL, *rows_seq = NULL;
    int rc = -1;
    cols_seq = PySequence_Fast(cols ? cols : Py_None, "field 'columns' must be a list of str");
    if (cols_seq == NULL)
        goto cleanup;
    rows_seq =
        rows && rows != Py_None ? PySequence_Fast(rows, "field 'rows' must be a list") : PyTuple_New(0);
    if (rows_seq == NULL)
        goto cleanup;
    Py_ssize_t ncols = PySequence_Fast_GET_SIZE(cols_seq);
    Py_ssize_t nrows = PySequence_Fast_GET_SIZE(rows_seq);
    if (ncols > FX_LIST_COLS_MAX || nrows + 1 > FX_LIST_ROWS_MAX + 1) {
        PyErr_Format(PyExc_ValueError, "table of %zd rows and %zd columns; the limits are %u and %u", nrows,
                     ncols, (unsigned) FX_LIST_ROWS_MAX, (unsigned) FX_LIST_COLS_MAX);
        goto cleanup;
    }
    if (fx_msg_alloc_table(msg, (uint32_t) nrows + 1, (uint32_t) ncols) != FX_OK) {
        PyErr_SetString(PyExc_ValueError, "table over the LIST_REPLY limits");
        goto cleanup;
    }
    for (Py_ssize_t r = 0; r <= nrows; r++) {
        PyObject *row = r == 0 ? cols_seq : PySequence_GetItem(rows_seq, r - 1);
        if (row == NULL)
            goto cleanup;
        if (PySequence_Size(row) != ncols) {
            PyErr_Format(PyExc_ValueError, "row %zd has %zd cells; expected %zd", r - 1, PySequence_Size(row),
                         ncols);
            if (r > 0)
                Py_DECREF(row);
            goto cleanup;
        }
        for (Py_ssize_t c = 0; c < ncols; c++) {
            PyObject *cell = PySequence_GetItem(row, c);
            const char *text = cell ? PyUnicode_AsUTF8(cell) : NULL;
            int ok = text && fx_msg_set_cell(msg, (uint32_t) r, (uint32_t) c, text) == FX_OK;
            Py_XDECREF(cell);
            if (!ok) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "a table cell is too long");
                if (r > 0)
                    Py_DECREF(row);
                goto cleanup;
            }
        }
        if (r > 0)
            Py_DECREF(row);
    }
    rc = 0;
cleanup:
    Py_XDECREF(cols_seq);
    Py_XDECREF(rows_seq);
    return rc;
}

static int s_fill_containers(fx_msg_t *msg, PyObject *fields)
{
    uint32_t n = 0;
    PyObject *seq = s_records(fields, "containers", FX_CONTAINERS_MAX, &n);
    if (seq == NULL)
        return -1;
    int rc = -1;
    msg->manager_hello.container_count = 0;
    if (n > 0) {
        msg->manager_hello.containers = calloc(n, sizeof(*msg->manager_hello.containers));
        if (msg->manager_hello.containers == NULL) {
            PyErr_NoMemory();
            goto cleanup;
        }
    }
    msg->manager_hello.container_count = n;
    for (uint32_t i = 0; i < n; i++)
        if (fx_py_copy_str(PySequence_Fast_GET_ITEM(seq, i), "containers", msg->manager_hello.containers[i],
                           FX_NAME_MAX + 1) < 0)
            goto cleanup;
    rc = 0;
cleanup:
    Py_DECREF(seq);
    return rc;
}

static int s_fill(fx_msg_t *m, PyObject *f)
{
    switch (m->type) {
    case FX_MSG_HELLO:
        S_STR(f, "client_id", m->hello.client_id);
        S_STR(f, "client_version", m->hello.client_version);
        S_STR(f, "python_version", m->hello.python_version);
        return 0;
    case FX_MSG_WELCOME:
        S_STR(f, "id", m->welcome.id);
        S_STR(f, "server_version", m->welcome.server_version);
        S_U(f, "heartbeat_ms", m->welcome.heartbeat_ms, UINT32_MAX);
        return 0;
    case FX_MSG_ERROR: {
        unsigned long long code = 0;
        if (s_uint(s_item(f, "code"), "code", UINT16_MAX, &code) < 0)
            return -1;
        PyObject *text = s_item(f, "text");
        const char *utf8 = text && text != Py_None ? PyUnicode_AsUTF8(text) : "";
        if (utf8 == NULL)
            return -1;
        if (fx_msg_set_error(m, (int) code, "%s", utf8) != FX_OK) {
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    }
    case FX_MSG_HEARTBEAT:
        return 0;
    case FX_MSG_REGISTER_FUNCTION:
        S_STR(f, "function_id", m->register_function.function_id);
        S_STR(f, "name", m->register_function.name);
        S_U(f, "kind", m->register_function.kind, 255);
        S_STR(f, "entry", m->register_function.entry);
        S_FRAME(f, "body", m->register_function.body);
        return 0;
    case FX_MSG_FUNCTION_REGISTERED:
        S_STR(f, "function_id", m->function_registered.function_id);
        return 0;
    case FX_MSG_REGISTER_ENDPOINT:
        S_STR(f, "endpoint_id", m->register_endpoint.endpoint_id);
        S_STR(f, "name", m->register_endpoint.name);
        S_STR(f, "public_key", m->register_endpoint.public_key);
        return 0;
    case FX_MSG_ENDPOINT_REGISTERED:
        S_STR(f, "endpoint_id", m->endpoint_registered.endpoint_id);
        return 0;
    case FX_MSG_SUBMIT:
    case FX_MSG_TASKS:
    case FX_MSG_RESULTS:
    case FX_MSG_STATUS_REPLY:
        return s_fill_records(m, f);
    case FX_MSG_SUBMITTED:
        S_U(f, "accepted", m->submitted.accepted, UINT32_MAX);
        return 0;
    case FX_MSG_RESULTS_ACK:
    case FX_MSG_STATUS:
    case FX_MSG_FETCH: {
        PyObject *ids = s_item(f, "ids");
        if (ids == NULL)
            return 0;
        return fx_py_fill_ids(m, ids);
    }
    case FX_MSG_LIST:
        S_U(f, "what", m->list.what, 255);
        S_U(f, "limit", m->list.limit, UINT32_MAX);
        return 0;
    case FX_MSG_LIST_REPLY:
        return s_fill_table(m, f);
    case FX_MSG_ENDPOINT_HELLO:
        S_STR(f, "endpoint_id", m->endpoint_hello.endpoint_id);
        S_STR(f, "version", m->endpoint_hello.version);
        return 0;
    case FX_MSG_CREDIT:
        S_U(f, "window", m->credit.window, UINT32_MAX);
        return 0;
    case FX_MSG_COMMAND:
        S_U(f, "command", m->command.command, 255);
        return 0;
    case FX_MSG_MANAGER_HELLO:
        S_STR(f, "manager_id", m->manager_hello.manager_id);
        S_STR(f, "host", m->manager_hello.host);
        S_U(f, "pid", m->manager_hello.pid, UINT32_MAX);
        S_U(f, "workers", m->manager_hello.workers, UINT32_MAX);
        S_STR(f, "version", m->manager_hello.version);
        return s_fill_containers(m, f);
    case FX_MSG_READY:
        S_U(f, "pid", m->ready.pid, UINT32_MAX);
        S_STR(f, "python_version", m->ready.python_version);
        return 0;
    case FX_MSG_CANCEL: {
        S_U(f, "queued_only", m->cancel.queued_only, 1);
        PyObject *ids = s_item(f, "ids");
        if (ids == NULL)
            return 0;
        return fx_py_fill_ids(m, ids);
    }
    case FX_MSG_ENDPOINT_STATUS:
        S_U(f, "managers", m->endpoint_status.managers, UINT32_MAX);
        S_U(f, "workers", m->endpoint_status.workers, UINT32_MAX);
        S_U(f, "free", m->endpoint_status.free, UINT32_MAX);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "message type %d has no encoder", (int) m->type);
    return -1;
fail:
    return -1;
}

int fx_py_msg_type(PyObject *type)
{
    if (PyLong_Check(type)) {
        long t = PyLong_AsLong(type);
        if (t >= FX_MSG_TYPE_FIRST && t <= FX_MSG_TYPE_LAST)
            return (int) t;
    }
    else if (PyUnicode_Check(type)) {
        const char *name = PyUnicode_AsUTF8(type);
        if (name == NULL)
            return -1;
        for (int t = FX_MSG_TYPE_FIRST; t <= FX_MSG_TYPE_LAST; t++)
            if (strcasecmp(name, fx_msg_type_name(t)) == 0)
                return t;
    }
    if (!PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "unknown message type %R (try a name like 'SUBMIT')", type);
    return -1;
}

fx_msg_t *fx_py_msg_from_fields(int type, uint32_t seq, PyObject *fields)
{
    if (fields != NULL && fields != Py_None && !PyDict_Check(fields)) {
        PyErr_SetString(PyExc_TypeError, "fields must be a dict");
        return NULL;
    }
    fx_msg_t *msg = fx_msg_new((fx_msg_type_t) type);
    if (msg == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    msg->seq = seq;
    PyObject *empty = NULL;
    if (fields == NULL || fields == Py_None)
        fields = empty = PyDict_New();
    if (fields == NULL || s_fill(msg, fields) < 0)
        fx_msg_destroy(&msg);
    Py_XDECREF(empty);
    return msg;
}

/* ---- decoding to Python ------------------------------------------------ */

static int s_put(PyObject *dict, const char *key, PyObject *value)
{
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *s_bytes(zframe_t *frame)
{
    if (frame == NULL)
        return PyBytes_FromStringAndSize("", 0);
    return PyBytes_FromStringAndSize((const char *) zframe_data(frame), (Py_ssize_t) zframe_size(frame));
}

static PyObject *s_text(const char *text)
{
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t) strlen(text), "replace");
}

#define P_STR(d, key, v)                                                                                     \
    if (s_put(d, key, s_text(v)) < 0)                                                                        \
    goto fail
#define P_U(d, key, v)                                                                                       \
    if (s_put(d, key, PyLong_FromUnsignedLongLong((unsigned long long) (v))) < 0)                            \
    goto fail
#define P_FRAME(d, key, v)                                                                                   \
    if (s_put(d, key, s_bytes(v)) < 0)                                                                       \
    goto fail

static PyObject *s_task_dict(const fx_task_t *t, bool full)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    P_STR(d, "task_id", t->task_id);
    P_STR(d, "function_id", t->function_id);
    P_STR(d, "py_version", t->py_version);
    P_STR(d, "serializer", t->serializer);
    P_U(d, "walltime_ms", t->walltime_ms);
    P_U(d, "retries", t->retries);
    P_FRAME(d, "payload", t->payload);
    if (!full) {
        P_STR(d, "endpoint_id", t->endpoint_id);
        return d;
    }
    P_U(d, "kind", t->kind);
    P_STR(d, "entry", t->entry);
    P_STR(d, "container", t->container);
    P_U(d, "attempt", t->attempt);
    P_FRAME(d, "body", t->body);
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *s_result_dict(const fx_result_t *r)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    P_STR(d, "task_id", r->task_id);
    P_U(d, "status", r->status);
    P_U(d, "error_code", r->error_code);
    P_STR(d, "error_name", fx_errname(r->error_code));
    if (s_put(d, "error_text", r->error_text ? s_text(r->error_text) : Py_NewRef(Py_None)) < 0)
        goto fail;
    P_FRAME(d, "value", r->value);
    P_FRAME(d, "output", r->output);
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *s_status_dict(const fx_task_status_t *s)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    P_STR(d, "task_id", s->task_id);
    P_U(d, "state", s->state);
    P_STR(d, "endpoint_id", s->endpoint_id);
    P_U(d, "attempts", s->attempts);
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

/* A list of `count` items built by `make(i)`. */
#define S_LIST(out, count, expr)                                                                             \
    do {                                                                                                     \
        out = PyList_New((Py_ssize_t) (count));                                                              \
        if (out == NULL)                                                                                     \
            goto fail;                                                                                       \
        for (uint32_t i = 0; i < (count); i++) {                                                             \
            PyObject *item_ = (expr);                                                                        \
            if (item_ == NULL) {                                                                             \
                Py_DECREF(out);                                                                              \
                goto fail;                                                                                   \
            }                                                                                                \
            PyList_SET_ITEM(out, i, item_);                                                                  \
        }                                                                                                    \
    } while (0)

static PyObject *s_table_row(const fx_msg_t *m, uint32_t row)
{
    PyObject *list = PyList_New(m->list_reply.cols);
    if (list == NULL)
        return NULL;
    for (uint32_t c = 0; c < m->list_reply.cols; c++) {
        const char *cell = m->list_reply.cells[row * m->list_reply.cols + c];
        PyObject *text = s_text(cell ? cell : "");
        if (text == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, c, text);
    }
    return list;
}

static int s_fields(const fx_msg_t *m, PyObject *d)
{
    PyObject *list = NULL;
    switch (m->type) {
    case FX_MSG_HELLO:
        P_STR(d, "client_id", m->hello.client_id);
        P_STR(d, "client_version", m->hello.client_version);
        P_STR(d, "python_version", m->hello.python_version);
        break;
    case FX_MSG_WELCOME:
        P_STR(d, "id", m->welcome.id);
        P_STR(d, "server_version", m->welcome.server_version);
        P_U(d, "heartbeat_ms", m->welcome.heartbeat_ms);
        break;
    case FX_MSG_ERROR:
        P_U(d, "code", m->error.code);
        P_STR(d, "name", fx_errname(m->error.code));
        P_STR(d, "message", fx_strerror(m->error.code));
        P_STR(d, "text", m->error.text ? m->error.text : "");
        break;
    case FX_MSG_HEARTBEAT:
        break;
    case FX_MSG_REGISTER_FUNCTION:
        P_STR(d, "function_id", m->register_function.function_id);
        P_STR(d, "name", m->register_function.name);
        P_U(d, "kind", m->register_function.kind);
        P_STR(d, "entry", m->register_function.entry);
        P_FRAME(d, "body", m->register_function.body);
        break;
    case FX_MSG_FUNCTION_REGISTERED:
        P_STR(d, "function_id", m->function_registered.function_id);
        break;
    case FX_MSG_REGISTER_ENDPOINT:
        P_STR(d, "endpoint_id", m->register_endpoint.endpoint_id);
        P_STR(d, "name", m->register_endpoint.name);
        P_STR(d, "public_key", m->register_endpoint.public_key);
        break;
    case FX_MSG_ENDPOINT_REGISTERED:
        P_STR(d, "endpoint_id", m->endpoint_registered.endpoint_id);
        break;
    case FX_MSG_SUBMIT:
        S_LIST(list, m->submit.count, s_task_dict(&m->submit.tasks[i], false));
        if (s_put(d, "tasks", list) < 0)
            goto fail;
        break;
    case FX_MSG_TASKS:
        S_LIST(list, m->tasks.count, s_task_dict(&m->tasks.tasks[i], true));
        if (s_put(d, "tasks", list) < 0)
            goto fail;
        break;
    case FX_MSG_SUBMITTED:
        P_U(d, "accepted", m->submitted.accepted);
        break;
    case FX_MSG_RESULTS:
        S_LIST(list, m->results.count, s_result_dict(&m->results.results[i]));
        if (s_put(d, "results", list) < 0)
            goto fail;
        break;
    case FX_MSG_RESULTS_ACK:
    case FX_MSG_STATUS:
    case FX_MSG_FETCH:
        S_LIST(list, m->ids.count, s_text(m->ids.ids[i]));
        if (s_put(d, "ids", list) < 0)
            goto fail;
        break;
    case FX_MSG_STATUS_REPLY:
        S_LIST(list, m->status_reply.count, s_status_dict(&m->status_reply.tasks[i]));
        if (s_put(d, "tasks", list) < 0)
            goto fail;
        break;
    case FX_MSG_LIST:
        P_U(d, "what", m->list.what);
        P_U(d, "limit", m->list.limit);
        break;
    case FX_MSG_LIST_REPLY: {
        uint32_t rows = m->list_reply.rows ? m->list_reply.rows - 1 : 0;
        if (s_put(d, "columns", m->list_reply.rows ? s_table_row(m, 0) : PyList_New(0)) < 0)
            goto fail;
        S_LIST(list, rows, s_table_row(m, i + 1));
        if (s_put(d, "rows", list) < 0)
            goto fail;
        break;
    }
    case FX_MSG_ENDPOINT_HELLO:
        P_STR(d, "endpoint_id", m->endpoint_hello.endpoint_id);
        P_STR(d, "version", m->endpoint_hello.version);
        break;
    case FX_MSG_CREDIT:
        P_U(d, "window", m->credit.window);
        break;
    case FX_MSG_COMMAND:
        P_U(d, "command", m->command.command);
        break;
    case FX_MSG_MANAGER_HELLO:
        P_STR(d, "manager_id", m->manager_hello.manager_id);
        P_STR(d, "host", m->manager_hello.host);
        P_U(d, "pid", m->manager_hello.pid);
        P_U(d, "workers", m->manager_hello.workers);
        P_STR(d, "version", m->manager_hello.version);
        S_LIST(list, m->manager_hello.container_count, s_text(m->manager_hello.containers[i]));
        if (s_put(d, "containers", list) < 0)
            goto fail;
        break;
    case FX_MSG_READY:
        P_U(d, "pid", m->ready.pid);
        P_STR(d, "python_version", m->ready.python_version);
        break;
    case FX_MSG_CANCEL:
        S_LIST(list, m->cancel.count, s_text(m->cancel.ids[i]));
        if (s_put(d, "ids", list) < 0)
            goto fail;
        P_U(d, "queued_only", m->cancel.queued_only);
        break;
    case FX_MSG_ENDPOINT_STATUS:
        P_U(d, "managers", m->endpoint_status.managers);
        P_U(d, "workers", m->endpoint_status.workers);
        P_U(d, "free", m->endpoint_status.free);
        break;
    }
    return 0;
fail:
    return -1;
}

PyObject *fx_py_msg_to_tuple(const fx_msg_t *msg)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    if (s_fields(msg, fields) < 0) {
        Py_DECREF(fields);
        return NULL;
    }
    return Py_BuildValue("(skN)", fx_msg_type_name(msg->type), (unsigned long) msg->seq, fields);
}

PyObject *fx_py_decode(zmsg_t *zmsg)
{
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = NULL;
    PyObject *result = NULL;
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    if (rc != FX_OK)
        fx_py_raise_decode(rc, detail, seq);
    else
        result = fx_py_msg_to_tuple(msg);
    fx_msg_destroy(&msg);
    return result;
}

/* Set attribute name of obj to a new reference, dropping it after. */
static void s_setattr(PyObject *obj, const char *name, PyObject *value)
{
    if (value != NULL && PyObject_SetAttrString(obj, name, value) < 0)
        PyErr_Clear();
    Py_XDECREF(value);
}

void fx_py_raise_decode(int code, const char *detail, uint32_t seq)
{
    char text[512];
    snprintf(text, sizeof(text), "%s: %s", fx_strerror(code), detail ? detail : "(no detail)");
    PyObject *exc = PyObject_CallFunction(fx_py_protocol_error, "s", text);
    if (exc == NULL)
        return;
    s_setattr(exc, "code", PyLong_FromLong(code));
    s_setattr(exc, "name", PyUnicode_FromString(fx_errname(code)));
    s_setattr(exc, "detail", PyUnicode_FromString(detail ? detail : ""));
    s_setattr(exc, "seq", PyLong_FromUnsignedLong(seq));
    PyErr_SetObject(fx_py_protocol_error, exc);
    Py_DECREF(exc);
}
