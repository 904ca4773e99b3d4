/*  fx_pybatch.c: the client's per-task hot paths, one C call per batch.

    - new_ids(n): n task ids from one libsodium call (fx_id_new makes one
      call, one system call, per id);
    - SUBMIT from task groups: tasks that share their endpoint, function,
      Python version and serializer (what one Executor.map or run_batch
      makes) are given as lists, not as a tuple per task, and packed
      straight into the header frame and the payload frames, with no
      fx_msg_t in between;
    - RESULTS as a list of fx._fx.Result records (a struct sequence: six
      fields, no dict per result).
    The generic codec (fx_pycodec.c) still serves every message; these only
    make the batches cheap. */
#include "fx_pyext.h"

#include "fx_schema.h"

#include <msgpack.h>
#include <sodium.h>

/* ---- ids ------------------------------------------------------------------- */

/* The canonical text of 16 random bytes, version 4, RFC 4122 variant (what
   fx_id_new makes), as a new str. */
static PyObject *s_id_text(uint8_t b[16])
{
    static const char hex[] = "0123456789abcdef";
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80);
    PyObject *text = PyUnicode_New(FX_ID_LEN, 127);
    if (text == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = (Py_UCS1) hex[b[i] >> 4];
        out[o++] = (Py_UCS1) hex[b[i] & 0x0f];
    }
    return text;
}

PyObject *fx_py_new_ids(Py_ssize_t n)
{
    enum { CHUNK = 256 };
    uint8_t bytes[CHUNK * 16];
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        if (i % CHUNK == 0)
            randombytes_buf(bytes, (size_t) (n - i < CHUNK ? n - i : CHUNK) * 16);
        PyObject *id = s_id_text(&bytes[(i % CHUNK) * 16]);
        if (id == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, id);
    }
    sodium_memzero(bytes, sizeof bytes);
    return list;
}

/* ---- SUBMIT from task groups ------------------------------------------------ */

/* Where each field of the task record (proto/fx_schema.h, SUBMIT's batch)
   comes from when a client submits: the plan is made once, by the SPEC's
   field names, so the encoder follows the schema's order and a field the
   client does not set (kind, entry, dill_version, attempt,
   times; the empty body frame) is sent as its zero value. */
typedef enum {
    S_ZERO,        /* an unsigned 0, an empty string, an empty frame */
    S_TASK_ID,     /* the task's id */
    S_ENDPOINT_ID, /* the part's */
    S_FUNCTION_ID,
    S_PY_VERSION,
    S_SERIALIZER,
    S_WALLTIME_MS, /* the task's (a part's int or list) */
    S_RETRIES,
    S_PAYLOAD,          /* the task's payload frame */
    S_FUNCTION_VERSION, /* the part's, "" = the newest (an optional 9th item) */
    S_CONTAINER,        /* the part's, "" = the version's (an optional 10th item, SPEC 5.6) */
} s_source_t;

static const fx_schema_t *s_task_schema;
static s_source_t s_plan[32];

static int s_plan_init(void)
{
    static const struct {
        const char *name;
        s_source_t source;
    } named[] = {
        {"task_id", S_TASK_ID},       {"endpoint_id", S_ENDPOINT_ID}, {"function_id", S_FUNCTION_ID},
        {"py_version", S_PY_VERSION}, {"serializer", S_SERIALIZER},   {"walltime_ms", S_WALLTIME_MS},
        {"retries", S_RETRIES},       {"payload", S_PAYLOAD},         {"function_version", S_FUNCTION_VERSION},
        {"container", S_CONTAINER},
    };
    s_task_schema = fx_schema_batch(fx_schema_of(FX_MSG_SUBMIT))->record;
    if (s_task_schema->nfields > (int) (sizeof s_plan / sizeof s_plan[0])) {
        PyErr_SetString(PyExc_ImportError, "the task record has more fields than fx._fx knows");
        return -1;
    }
    for (int i = 0; i < s_task_schema->nfields; i++) {
        const fx_field_t *f = &s_task_schema->fields[i];
        s_plan[i] = S_ZERO;
        for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
            if (strcmp(f->name, named[k].name) == 0)
                s_plan[i] = named[k].source;
        bool zero_ok =
            f->kind == FX_FIELD_FRAME || f->kind == FX_FIELD_STR || f->kind == FX_FIELD_ID_OPT ||
            f->kind == FX_FIELD_OID || f->kind == FX_FIELD_TIMES || f->kind == FX_FIELD_U64 ||
            ((f->kind == FX_FIELD_U8 || f->kind == FX_FIELD_U16 || f->kind == FX_FIELD_U32) && f->min == 0);
        if (s_plan[i] == S_ZERO && !zero_ok) {
            PyErr_Format(PyExc_ImportError, "fx._fx cannot fill the task record's field '%s'", f->name);
            return -1;
        }
    }
    return 0;
}

/* The common fields of one part, checked once. */
typedef struct {
    const char *text[S_CONTAINER + 1];
    Py_ssize_t len[S_CONTAINER + 1];
    PyObject *ids, *payloads, *walltime, *retries;
    Py_ssize_t n;
} s_part_t;

static int s_text(PyObject *value, const char *field, size_t cap, bool id, const char **text, Py_ssize_t *len)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be a str, not %s", field, Py_TYPE(value)->tp_name);
        return -1;
    }
    *text = PyUnicode_AsUTF8AndSize(value, len);
    if (*text == NULL)
        return -1;
    if ((size_t) *len >= cap || strlen(*text) != (size_t) *len) {
        PyErr_Format(PyExc_ValueError, "field '%s' is over its limit of %zu bytes or holds a NUL", field,
                     cap - 1);
        return -1;
    }
    if (id && !fx_id_valid(*text)) {
        PyErr_Format(PyExc_ValueError, "field '%s' is not a canonical id: '%s'", field, *text);
        return -1;
    }
    return 0;
}

static int s_part_read(PyObject *part, Py_ssize_t index, s_part_t *p)
{
    Py_ssize_t size = PyTuple_Check(part) ? PyTuple_GET_SIZE(part) : 0;
    if (size < 8 || size > 10 ||
        !PyList_Check(PyTuple_GET_ITEM(part, 4)) || !PyList_Check(PyTuple_GET_ITEM(part, 5))) {
        PyErr_Format(PyExc_TypeError,
                     "part %zd must be a tuple (endpoint_id, function_id, py_version, serializer, "
                     "ids, payloads, walltime_ms, retries[, function_version[, container]]) with ids and payloads "
                     "lists",
                     index);
        return -1;
    }
    static const struct {
        const char *name;
        size_t cap;
        bool id;
    } common[] = {
        [S_ENDPOINT_ID] = {"endpoint_id", FX_ID_LEN + 1, true},
        [S_FUNCTION_ID] = {"function_id", FX_ID_LEN + 1, true},
        [S_PY_VERSION] = {"py_version", FX_VERSION_MAX + 1, false},
        [S_SERIALIZER] = {"serializer", FX_NAME_MAX + 1, false},
    };
    for (int k = S_ENDPOINT_ID; k <= S_SERIALIZER; k++)
        if (s_text(PyTuple_GET_ITEM(part, k - S_ENDPOINT_ID), common[k].name, common[k].cap, common[k].id,
                   &p->text[k], &p->len[k]) < 0)
            return -1;
    p->text[S_FUNCTION_VERSION] = "";
    p->len[S_FUNCTION_VERSION] = 0;
    p->text[S_CONTAINER] = "";
    p->len[S_CONTAINER] = 0;
    if (size == 10) {
        const char **ct = &p->text[S_CONTAINER];
        if (s_text(PyTuple_GET_ITEM(part, 9), "container", FX_ID_LEN + 1, false, ct, &p->len[S_CONTAINER]) < 0)
            return -1;
        if ((*ct)[0] && !fx_id_valid(*ct)) {
            PyErr_Format(PyExc_ValueError, "field 'container' is not a container id: '%s'", *ct);
            return -1;
        }
    }
    if (size >= 9) {
        const char **fv = &p->text[S_FUNCTION_VERSION];
        if (s_text(PyTuple_GET_ITEM(part, 8), "function_version", FX_OID_LEN + 1, false, fv,
                   &p->len[S_FUNCTION_VERSION]) < 0)
            return -1;
        if (!fx_oid_valid(*fv)) {
            PyErr_Format(PyExc_ValueError, "field 'function_version' is not a version id: '%s'", *fv);
            return -1;
        }
    }
    p->ids = PyTuple_GET_ITEM(part, 4);
    p->payloads = PyTuple_GET_ITEM(part, 5);
    p->walltime = PyTuple_GET_ITEM(part, 6);
    p->retries = PyTuple_GET_ITEM(part, 7);
    p->n = PyList_GET_SIZE(p->ids);
    PyObject *lists[3] = {p->payloads, p->walltime, p->retries};
    for (int k = 0; k < 3; k++)
        if ((k == 0 || PyList_Check(lists[k])) && PyList_GET_SIZE(lists[k]) != p->n) {
            PyErr_Format(PyExc_ValueError, "part %zd: its lists differ in length", index);
            return -1;
        }
    return 0;
}

/* An unsigned option of task i: a single int for every task, or a list with
   one per task. */
static int s_option(PyObject *option, Py_ssize_t i, const fx_field_t *f, uint32_t *out)
{
    PyObject *value = PyList_Check(option) ? PyList_GET_ITEM(option, i) : option;
    unsigned long v = PyLong_AsUnsignedLong(value);
    if (v == (unsigned long) -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "task %zd: %s must be an int %u..%u", i, f->name, f->min, f->max);
        return -1;
    }
    if (v < f->min || v > f->max) {
        PyErr_Format(PyExc_ValueError, "task %zd: %s is %lu; the limit is %u..%u", i, f->name, v, f->min,
                     f->max);
        return -1;
    }
    *out = (uint32_t) v;
    return 0;
}

static void s_pack_text(msgpack_packer *pk, const char *text, Py_ssize_t len)
{
    msgpack_pack_str(pk, (size_t) len);
    msgpack_pack_str_body(pk, text, (size_t) len);
}

/* The header frame of the SUBMIT (msgpack) into sbuf, every field checked. */
static int s_pack_submit(msgpack_sbuffer *sbuf, uint32_t seq, s_part_t *parts, Py_ssize_t nparts,
                         Py_ssize_t total)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, FX_PROTO_VERSION);
    msgpack_pack_uint32(&pk, FX_MSG_SUBMIT);
    msgpack_pack_uint32(&pk, seq);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, (size_t) total);
    int body_fields = fx_schema_body_fields(s_task_schema);
    for (Py_ssize_t p = 0; p < nparts; p++) {
        s_part_t *part = &parts[p];
        for (Py_ssize_t i = 0; i < part->n; i++) {
            msgpack_pack_array(&pk, (size_t) body_fields);
            for (int k = 0; k < s_task_schema->nfields; k++) {
                const fx_field_t *f = &s_task_schema->fields[k];
                const char *text;
                Py_ssize_t len;
                uint32_t v;
                switch (s_plan[k]) {
                case S_ZERO:
                    if (f->kind == FX_FIELD_FRAME)
                        break;
                    if (f->kind == FX_FIELD_STR || f->kind == FX_FIELD_ID_OPT || f->kind == FX_FIELD_OID)
                        s_pack_text(&pk, "", 0);
                    else if (f->kind == FX_FIELD_TIMES)
                        msgpack_pack_array(&pk, 0);
                    else
                        msgpack_pack_uint32(&pk, 0);
                    break;
                case S_TASK_ID:
                    if (s_text(PyList_GET_ITEM(part->ids, i), "task_id", FX_ID_LEN + 1, true, &text, &len) <
                        0)
                        return -1;
                    s_pack_text(&pk, text, len);
                    break;
                case S_ENDPOINT_ID:
                case S_FUNCTION_ID:
                case S_PY_VERSION:
                case S_SERIALIZER:
                case S_FUNCTION_VERSION:
                case S_CONTAINER:
                    s_pack_text(&pk, part->text[s_plan[k]], part->len[s_plan[k]]);
                    break;
                case S_WALLTIME_MS:
                case S_RETRIES:
                    if (s_option(s_plan[k] == S_RETRIES ? part->retries : part->walltime, i, f, &v) < 0)
                        return -1;
                    msgpack_pack_uint32(&pk, v);
                    break;
                case S_PAYLOAD:
                    break;
                }
            }
        }
    }
    if (sbuf->size > FX_HEADER_MAX) {
        PyErr_Format(PyExc_ValueError, "the SUBMIT header is %zu bytes; the limit (FX_HEADER_MAX) is %u",
                     sbuf->size, (unsigned) FX_HEADER_MAX);
        return -1;
    }
    return 0;
}

/* The frames of every task, in record order, after the header; the header
   (or nothing) may be refused with EAGAIN: 0. */
static int s_send_frames(zsock_t *sock, msgpack_sbuffer *sbuf, s_part_t *parts, Py_ssize_t nparts)
{
    void *handle = zsock_resolve(sock);
    if (zmq_send(handle, sbuf->data, sbuf->size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return 0;
    for (Py_ssize_t p = 0; p < nparts; p++)
        for (Py_ssize_t i = 0; i < parts[p].n; i++) {
            bool last = p == nparts - 1 && i == parts[p].n - 1;
            for (int k = 0; k < s_task_schema->nfields; k++) {
                if (s_task_schema->fields[k].kind != FX_FIELD_FRAME)
                    continue;
                const char *data = "";
                Py_ssize_t len = 0;
                if (s_plan[k] == S_PAYLOAD) {
                    PyObject *payload = PyList_GET_ITEM(parts[p].payloads, i);
                    data = PyBytes_AS_STRING(payload);
                    len = PyBytes_GET_SIZE(payload);
                }
                bool more = !(last && k == s_task_schema->nfields - 1);
                /* a multipart message whose first frame was taken is taken whole */
                zmq_send(handle, data, (size_t) len, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
            }
        }
    return 1;
}

int fx_py_submit_send(zsock_t *sock, uint32_t seq, PyObject *parts)
{
    if (!PyList_Check(parts)) {
        PyErr_SetString(PyExc_TypeError, "parts must be a list");
        return -1;
    }
    Py_ssize_t nparts = PyList_GET_SIZE(parts), total = 0;
    s_part_t *read = PyMem_Calloc((size_t) nparts + 1, sizeof *read);
    if (read == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int rc = -1;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    for (Py_ssize_t p = 0; p < nparts; p++) {
        if (s_part_read(PyList_GET_ITEM(parts, p), p, &read[p]) < 0)
            goto done;
        for (Py_ssize_t i = 0; i < read[p].n; i++) {
            PyObject *payload = PyList_GET_ITEM(read[p].payloads, i);
            if (!PyBytes_Check(payload)) {
                PyErr_Format(PyExc_TypeError, "field 'payload' must be bytes, not %s",
                             Py_TYPE(payload)->tp_name);
                goto done;
            }
            if ((size_t) PyBytes_GET_SIZE(payload) > FX_PAYLOAD_MAX) {
                PyErr_Format(PyExc_ValueError,
                             "field 'payload' is %zd bytes; the limit (FX_PAYLOAD_MAX) is %u bytes",
                             PyBytes_GET_SIZE(payload), (unsigned) FX_PAYLOAD_MAX);
                goto done;
            }
        }
        total += read[p].n;
    }
    if (total == 0 || (size_t) total > FX_BATCH_MAX) {
        PyErr_Format(PyExc_ValueError, "a SUBMIT carries 1 to %u tasks (FX_BATCH_MAX), not %zd",
                     (unsigned) FX_BATCH_MAX, total);
        goto done;
    }
    if (s_pack_submit(&sbuf, seq, read, nparts, total) < 0)
        goto done;
    rc = s_send_frames(sock, &sbuf, read, nparts);
done:
    msgpack_sbuffer_destroy(&sbuf);
    PyMem_Free(read);
    return rc;
}

/* ---- RESULTS as records ----------------------------------------------------- */

static PyStructSequence_Field s_result_fields[] = {
    {"task_id", "the task this result ends"},
    {"status", "RESULT_OK, RESULT_EXCEPTION or RESULT_ERROR"},
    {"error_code", "0, or with RESULT_ERROR an fx error code"},
    {"error_text", "None for OK; 'TypeName: message' or a sentence otherwise"},
    {"value", "bytes: the serialized value, or the pickled exception"},
    {"output", "bytes: captured output (and the remote traceback)"},
    {NULL, NULL},
};

static PyStructSequence_Desc s_result_desc = {
    "fx._fx.Result",
    "One result record of a RESULTS message (SPEC 5.0): "
    "(task_id, status, error_code, error_text, value, output).",
    s_result_fields,
    6,
};

PyTypeObject *fx_py_result_type;

int fx_py_batch_init(PyObject *mod)
{
    if (sodium_init() < 0) {
        PyErr_SetString(PyExc_ImportError, "libsodium could not initialise");
        return -1;
    }
    if (s_plan_init() < 0)
        return -1;
    fx_py_result_type = PyStructSequence_NewType(&s_result_desc);
    if (fx_py_result_type == NULL)
        return -1;
    return PyModule_AddObjectRef(mod, "Result", (PyObject *) fx_py_result_type);
}

static PyObject *s_frame_bytes(zframe_t *frame)
{
    if (frame == NULL || zframe_size(frame) == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    return PyBytes_FromStringAndSize((const char *) zframe_data(frame), (Py_ssize_t) zframe_size(frame));
}

static PyObject *s_result(const fx_result_t *r)
{
    PyObject *rec = PyStructSequence_New(fx_py_result_type);
    if (rec == NULL)
        return NULL;
    PyObject *items[6] = {
        PyUnicode_FromStringAndSize(r->task_id, (Py_ssize_t) strnlen(r->task_id, FX_ID_LEN)),
        PyLong_FromLong(r->status),
        PyLong_FromLong(r->error_code),
        r->error_text ? PyUnicode_DecodeUTF8(r->error_text, (Py_ssize_t) strlen(r->error_text), "replace")
                      : Py_NewRef(Py_None),
        s_frame_bytes(r->value),
        s_frame_bytes(r->output),
    };
    bool ok = true;
    for (int i = 0; i < 6; i++) {
        ok = ok && items[i] != NULL;
        PyStructSequence_SET_ITEM(rec, i, items[i] ? items[i] : Py_NewRef(Py_None));
    }
    if (!ok)
        Py_CLEAR(rec);
    return rec;
}

PyObject *fx_py_results_list(const fx_msg_t *msg)
{
    PyObject *list = PyList_New((Py_ssize_t) msg->results.count);
    for (uint32_t i = 0; list != NULL && i < msg->results.count; i++) {
        PyObject *rec = s_result(&msg->results.results[i]);
        if (rec == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, rec);
    }
    return list;
}

int fx_py_fill_result_ids(fx_msg_t *msg, PyObject *results, Py_ssize_t start, Py_ssize_t stop)
{
    if (fx_msg_alloc_records(msg, (uint32_t) (stop - start)) != FX_OK) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *item = PyList_GET_ITEM(results, i);
        PyObject *id = Py_IS_TYPE(item, fx_py_result_type) ? PyStructSequence_GET_ITEM(item, 0) : item;
        if (fx_py_copy_str(id, "task_id", msg->ids.ids[i - start], sizeof(msg->ids.ids[0])) < 0)
            return -1;
    }
    return 0;
}
