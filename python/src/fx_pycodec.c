/*  fx_pycodec.c: fx_msg_t <-> Python objects, by walking the message schema
    (proto/fx_schema.h), so every message and field the protocol has is
    here without a line of its own.

    A message's fields are a dict keyed by the SPEC's field names (those of
    the schema). By the kind of field:
      integers              int, within the schema's range
      strings, ids, keys    str, within the field's capacity
      text                  str, or None for nil
      frames                bytes (any bytes-like object when sending)
      batches               a list of records: each a dict, or the bare
                            value for a record of one field (task_ids,
                            containers)
      LIST_REPLY's table    two keys in place of "table": "columns" (the
                            first row) and "rows" (the others, lists of str)
    Missing fields take their zero value; a field of the wrong type or over
    its limit raises (TypeError; ValueError naming the field and the limit).
    Decoding adds the name of every error code beside it: "name" and
    "message" (fx_strerror's sentence) beside ERROR's code, "error_name"
    beside a result's error_code. */
#include "fx_pyext.h"
#include "fx_schema.h"

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

/* An integer field within [min, max]. */
static int s_uint(PyObject *value, const char *field, unsigned long long min, unsigned long long max,
                  unsigned long long *out)
{
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
    if (v < min) {
        PyErr_Format(PyExc_ValueError, "field '%s' is %llu; the smallest allowed is %llu", field, v, min);
        return -1;
    }
    *out = v;
    return 0;
}

/* A text field: a heap copy cut to FX_TEXT_MAX bytes, as the C senders cut. */
static int s_fill_text(PyObject *value, const char *field, char **dst)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be a str or None, not %s", field,
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    const char *utf8 = PyUnicode_AsUTF8(value);
    if (utf8 == NULL)
        return -1;
    size_t len = strnlen(utf8, FX_TEXT_MAX);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(copy, utf8, len);
    copy[len] = '\0';
    free(*dst);
    *dst = copy;
    return 0;
}

/* A record of one plain field (an id record, a container record) is given
   as that field's bare value. */
static bool s_bare_record(const fx_schema_t *record)
{
    if (record->nfields != 1)
        return false;
    fx_field_kind_t kind = record->fields[0].kind;
    return kind != FX_FIELD_FRAME && kind != FX_FIELD_BATCH && kind != FX_FIELD_TABLE;
}

static int s_fill_fields(const fx_schema_t *schema, char *base, PyObject *dict, fx_msg_t *msg);
static int s_fill_table(fx_msg_t *msg, PyObject *fields);
static int s_fill_field(const fx_field_t *f, char *base, PyObject *value, fx_msg_t *msg);

/* A batch: the record array, allocated here (the message is new, so there is
   none before), then each record from its dict or bare value. */
static int s_fill_batch(const fx_field_t *f, char *base, PyObject *value, fx_msg_t *msg)
{
    const fx_schema_t *record = f->record;
    PyObject *seq = PySequence_Fast(value, "a batch field must be a list of records");
    if (seq == NULL)
        return -1;
    int rc = -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if ((size_t) n > record->max_count) {
        PyErr_Format(PyExc_ValueError, "field '%s' has %zd %s records; the limit is %u", f->name, n,
                     record->name, record->max_count);
        goto cleanup;
    }
    char *records = n ? calloc((size_t) n, record->record_size) : NULL;
    if (n && records == NULL) {
        PyErr_NoMemory();
        goto cleanup;
    }
    *(char **) (base + f->offset2) = records;
    *(uint32_t *) (base + f->offset) = (uint32_t) n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        char *at = records + (size_t) i * record->record_size;
        if (s_bare_record(record)) {
            if (item == Py_None)
                continue;
            if (s_fill_field(&record->fields[0], at, item, msg) < 0)
                goto cleanup;
        }
        else if (!PyDict_Check(item)) {
            PyErr_Format(PyExc_TypeError, "each %s record must be a dict, not %s", record->name,
                         Py_TYPE(item)->tp_name);
            goto cleanup;
        }
        else if (s_fill_fields(record, at, item, msg) < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    Py_DECREF(seq);
    return rc;
}

/* A list of at most FX_TIMES_MAX non-negative ints; the rest stay 0. */
static int s_fill_times(PyObject *value, const char *name, uint64_t *times)
{
    PyObject *seq = PySequence_Fast(value, "");
    if (seq == NULL) {
        PyErr_Format(PyExc_TypeError, "field '%s' must be a list of ints", name);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int rc = -1;
    if (n > FX_TIMES_MAX) {
        PyErr_Format(PyExc_ValueError, "field '%s' holds at most %d times, not %zd", name, FX_TIMES_MAX, n);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "field '%s': item %zd is not an int from 0 to 2**64-1", name, i);
            goto done;
        }
        times[i] = (uint64_t) v;
    }
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

static int s_fill_field(const fx_field_t *f, char *base, PyObject *value, fx_msg_t *msg)
{
    char *at = base + f->offset;
    unsigned long long v;
    switch (f->kind) {
    case FX_FIELD_U8:
    case FX_FIELD_U16:
    case FX_FIELD_U32:
        if (s_uint(value, f->name, f->min, f->max, &v) < 0)
            return -1;
        if (f->kind == FX_FIELD_U8)
            *(uint8_t *) at = (uint8_t) v;
        else if (f->kind == FX_FIELD_U16)
            *(uint16_t *) at = (uint16_t) v;
        else
            *(uint32_t *) at = (uint32_t) v;
        return 0;
    case FX_FIELD_STR: return fx_py_copy_str(value, f->name, at, f->max);
    case FX_FIELD_ID:
    case FX_FIELD_ID_OPT: return fx_py_copy_str(value, f->name, at, FX_ID_LEN + 1);
    case FX_FIELD_KEY: return fx_py_copy_str(value, f->name, at, FX_KEY_LEN + 1);
    case FX_FIELD_TEXT: return s_fill_text(value, f->name, (char **) at);
    case FX_FIELD_FRAME: return fx_py_frame(value, f->name, (zframe_t **) at);
    case FX_FIELD_TIMES: return s_fill_times(value, f->name, (uint64_t *) at);
    case FX_FIELD_U64: {
        unsigned long long u = PyLong_AsUnsignedLongLong(value);
        if (PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "field '%s' must be an int from 0 to 2**64-1", f->name);
            return -1;
        }
        *(uint64_t *) at = (uint64_t) u;
        return 0;
    }
    case FX_FIELD_OID:
        if (fx_py_copy_str(value, f->name, at, FX_OID_LEN + 1) < 0)
            return -1;
        if (!fx_oid_valid(at)) {
            PyErr_Format(PyExc_ValueError, "field '%s' must be \"\" or %d lowercase hex digits", f->name,
                         FX_OID_LEN);
            return -1;
        }
        return 0;
    case FX_FIELD_BATCH: return s_fill_batch(f, base, value, msg);
    case FX_FIELD_TABLE: break; /* from two keys, in s_fill_fields */
    }
    PyErr_Format(PyExc_ValueError, "field '%s' has no encoder", f->name);
    return -1;
}

static int s_fill_fields(const fx_schema_t *schema, char *base, PyObject *dict, fx_msg_t *msg)
{
    for (int i = 0; i < schema->nfields; i++) {
        const fx_field_t *f = &schema->fields[i];
        if (f->kind == FX_FIELD_TABLE) {
            if (s_fill_table(msg, dict) < 0)
                return -1;
            continue;
        }
        PyObject *value = PyDict_GetItemString(dict, f->name); /* borrowed; NULL if absent */
        if (value != NULL && value != Py_None && s_fill_field(f, base, value, msg) < 0)
            return -1;
    }
    return 0;
}

int fx_py_fill_ids(fx_msg_t *msg, PyObject *ids)
{
    const fx_schema_t *schema = fx_schema_of(msg->type);
    const fx_field_t *batch = schema ? fx_schema_batch(schema) : NULL;
    if (batch == NULL || !s_bare_record(batch->record)) {
        PyErr_Format(PyExc_ValueError, "%s carries no list of ids", fx_msg_type_name(msg->type));
        return -1;
    }
    return s_fill_batch(batch, (char *) msg, ids, msg);
}

/* LIST_REPLY: {"columns": [str...], "rows": [[str...]...]}. */
static int s_fill_table(fx_msg_t *msg, PyObject *fields)
{
    PyObject *cols = PyDict_GetItemString(fields, "columns");
    PyObject *rows = PyDict_GetItemString(fields, "rows");
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
    if (fields == NULL || s_fill_fields(fx_schema_of(type), (char *) msg, fields, msg) < 0)
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

static int s_put_fields(const fx_schema_t *schema, const char *base, const fx_msg_t *msg, PyObject *d);

static PyObject *s_value(const fx_field_t *f, const char *base, const fx_msg_t *msg)
{
    const char *at = base + f->offset;
    switch (f->kind) {
    case FX_FIELD_U8: return PyLong_FromUnsignedLong(*(const uint8_t *) at);
    case FX_FIELD_U16: return PyLong_FromUnsignedLong(*(const uint16_t *) at);
    case FX_FIELD_U32: return PyLong_FromUnsignedLong(*(const uint32_t *) at);
    case FX_FIELD_STR:
    case FX_FIELD_ID:
    case FX_FIELD_ID_OPT:
    case FX_FIELD_KEY:
    case FX_FIELD_OID: return s_text(at);
    case FX_FIELD_U64: return PyLong_FromUnsignedLongLong(*(const uint64_t *) at);
    case FX_FIELD_TEXT: {
        const char *text = *(char *const *) at;
        return text ? s_text(text) : Py_NewRef(Py_None);
    }
    case FX_FIELD_FRAME: return s_bytes(*(zframe_t *const *) at);
    case FX_FIELD_TIMES: {
        const uint64_t *times = (const uint64_t *) at;
        int n = FX_TIMES_MAX;
        while (n && times[n - 1] == 0)
            n--;
        PyObject *list = PyList_New(n);
        for (int i = 0; list != NULL && i < n; i++) {
            PyObject *item = PyLong_FromUnsignedLongLong(times[i]);
            if (item == NULL)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, i, item);
        }
        return list;
    }
    case FX_FIELD_BATCH: {
        uint32_t count = *(const uint32_t *) at;
        const char *records = *(char *const *) (base + f->offset2);
        PyObject *list = PyList_New((Py_ssize_t) count);
        for (uint32_t i = 0; list != NULL && i < count; i++) {
            const char *rec = records + (size_t) i * f->record->record_size;
            PyObject *item = NULL;
            if (s_bare_record(f->record))
                item = s_value(&f->record->fields[0], rec, msg);
            else if ((item = PyDict_New()) != NULL && s_put_fields(f->record, rec, msg, item) < 0)
                Py_CLEAR(item);
            if (item == NULL)
                Py_CLEAR(list);
            else
                PyList_SET_ITEM(list, i, item);
        }
        return list;
    }
    case FX_FIELD_TABLE: break; /* two keys, in s_put_fields */
    }
    PyErr_Format(PyExc_ValueError, "field '%s' has no decoder", f->name);
    return NULL;
}

/* The name of an error code beside it: "code" gets "name" and "message",
   "error_code" gets "error_name". */
static int s_put_code_names(const fx_field_t *f, const char *base, PyObject *d)
{
    if (f->kind != FX_FIELD_U16)
        return 0;
    int code = *(const uint16_t *) (base + f->offset);
    if (strcmp(f->name, "code") == 0)
        return s_put(d, "name", s_text(fx_errname(code))) < 0 ? -1
               : s_put(d, "message", s_text(fx_strerror(code)));
    if (strcmp(f->name, "error_code") == 0)
        return s_put(d, "error_name", s_text(fx_errname(code)));
    return 0;
}

static int s_put_fields(const fx_schema_t *schema, const char *base, const fx_msg_t *msg, PyObject *d)
{
    for (int i = 0; i < schema->nfields; i++) {
        const fx_field_t *f = &schema->fields[i];
        if (f->kind == FX_FIELD_TABLE) {
            uint32_t rows = msg->list_reply.rows ? msg->list_reply.rows - 1 : 0;
            PyObject *list = PyList_New((Py_ssize_t) rows);
            for (uint32_t r = 0; list != NULL && r < rows; r++) {
                PyObject *row = s_table_row(msg, r + 1);
                if (row == NULL)
                    Py_CLEAR(list);
                else
                    PyList_SET_ITEM(list, r, row);
            }
            if (s_put(d, "columns", msg->list_reply.rows ? s_table_row(msg, 0) : PyList_New(0)) < 0 ||
                s_put(d, "rows", list) < 0)
                return -1;
            continue;
        }
        if (s_put(d, f->name, s_value(f, base, msg)) < 0 || s_put_code_names(f, base, d) < 0)
            return -1;
    }
    return 0;
}

/* [{"name", "kind", "min", "max"[, "record"]}...] for one schema. */
static PyObject *s_describe(const fx_schema_t *schema)
{
    static const char *kinds[] = {
        [FX_FIELD_U8] = "u8",    [FX_FIELD_U16] = "u16",     [FX_FIELD_U32] = "u32",  [FX_FIELD_STR] = "str",
        [FX_FIELD_ID] = "id",    [FX_FIELD_ID_OPT] = "id?",  [FX_FIELD_KEY] = "key",  [FX_FIELD_TEXT] = "text",
        [FX_FIELD_FRAME] = "frame", [FX_FIELD_BATCH] = "batch", [FX_FIELD_TABLE] = "table",
        [FX_FIELD_TIMES] = "times", [FX_FIELD_U64] = "u64", [FX_FIELD_OID] = "oid",
    };
    PyObject *list = PyList_New(schema->nfields);
    for (int i = 0; list != NULL && i < schema->nfields; i++) {
        const fx_field_t *f = &schema->fields[i];
        PyObject *d = Py_BuildValue("{s:s,s:s,s:k,s:k}", "name", f->name, "kind", kinds[f->kind], "min",
                                    (unsigned long) f->min, "max", (unsigned long) f->max);
        if (d != NULL && f->kind == FX_FIELD_BATCH) {
            PyObject *count = PyLong_FromUnsignedLong(f->record->max_count);
            if (s_put(d, "record", s_describe(f->record)) < 0 || s_put(d, "max", count) < 0)
                Py_CLEAR(d);
        }
        if (d == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, d);
    }
    return list;
}

PyObject *fx_py_schema(int type)
{
    return s_describe(fx_schema_of(type));
}

PyObject *fx_py_msg_to_tuple(const fx_msg_t *msg)
{
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return NULL;
    if (s_put_fields(fx_schema_of(msg->type), (const char *) msg, msg, fields) < 0) {
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
