/*  fx_codec.c: fx_msg_t <-> ZeroMQ frames.

    Each message type is described once, as a schema: its body fields in
    wire order with their kind and limits. One generic encoder and one
    generic decoder walk the schema, so a field is validated the same way
    for every message that carries it, and the round-trip and fuzz tests
    cover every type by iterating over the table.

    The encoder packs with msgpack-c. The decoder is our own bounded
    reader, not msgpack-c's unpacker: that one trusts declared counts (a
    5-byte array32 header claiming 4 billion elements makes it ask for about
    128 GiB). Here every declared length or count is checked against the
    bytes (and frames) left before anything is allocated. */
#include <msgpack.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fx_msg.h"

typedef enum {
    F_U8,     /* unsigned, range [min, max] */
    F_U16,
    F_U32,
    F_STR,    /* fixed char array of capacity `max` (incl. NUL) */
    F_ID,     /* fx_id_text_t, must be a canonical id */
    F_ID_OPT, /* fx_id_text_t, canonical id or "" */
    F_KEY,    /* z85 key text, FX_KEY_LEN chars */
    F_TEXT,   /* heap char *, nil or str <= FX_TEXT_MAX */
    F_FRAME,  /* zframe_t *: a payload frame, not in the msgpack body */
    F_BATCH,  /* uint32 count at `offset`, record pointer at `offset2` */
    F_TABLE,  /* LIST_REPLY's table */
} s_kind_t;

typedef struct s_schema s_schema_t;

typedef struct {
    s_kind_t kind;
    const char *name;
    size_t offset;
    size_t offset2;
    uint32_t min;
    uint32_t max;
    const s_schema_t *record;
} s_field_t;

struct s_schema {
    size_t record_size;  /* for record schemas */
    uint32_t max_count;  /* for record schemas: most records in one message */
    int frames;          /* payload frames per record (or per message) */
    int nfields;
    s_field_t fields[13];
};

#define M(member) offsetof(fx_msg_t, member)
#define T(member) offsetof(fx_task_t, member)
#define R(member) offsetof(fx_result_t, member)
#define S(member) offsetof(fx_task_status_t, member)
#define STR(name, off, cap) { F_STR, name, off, 0, 0, (cap), NULL }

static const s_schema_t s_task_schema = {
    sizeof(fx_task_t), FX_BATCH_MAX, 2, 13, {
        { F_ID, "task_id", T(task_id), 0, 0, 0, NULL },
        { F_ID_OPT, "endpoint_id", T(endpoint_id), 0, 0, 0, NULL },
        { F_ID, "function_id", T(function_id), 0, 0, 0, NULL },
        { F_U8, "kind", T(kind), 0, 0, FX_FN_SHELL, NULL },
        STR("entry", T(entry), FX_NAME_MAX + 1),
        STR("container", T(container), FX_NAME_MAX + 1),
        STR("py_version", T(py_version), FX_VERSION_MAX + 1),
        STR("serializer", T(serializer), FX_NAME_MAX + 1),
        { F_U32, "attempt", T(attempt), 0, 0, UINT32_MAX, NULL },
        { F_U32, "walltime_ms", T(walltime_ms), 0, 0, UINT32_MAX, NULL },
        { F_U32, "retries", T(retries), 0, 0, FX_RETRIES_MAX, NULL },
        { F_FRAME, "body", T(body), 0, 0, 0, NULL },
        { F_FRAME, "payload", T(payload), 0, 0, 0, NULL },
    }
};

static const s_schema_t s_result_schema = {
    sizeof(fx_result_t), FX_BATCH_MAX, 2, 6, {
        { F_ID, "task_id", R(task_id), 0, 0, 0, NULL },
        { F_U8, "status", R(status), 0, FX_RESULT_OK, FX_RESULT_ERROR, NULL },
        { F_U16, "error_code", R(error_code), 0, 0, FX_ERR_LAST, NULL },
        { F_TEXT, "error_text", R(error_text), 0, 0, 0, NULL },
        { F_FRAME, "value", R(value), 0, 0, 0, NULL },
        { F_FRAME, "output", R(output), 0, 0, 0, NULL },
    }
};

static const s_schema_t s_id_schema = {
    sizeof(fx_id_text_t), FX_IDS_MAX, 0, 1, {
        { F_ID, "task_id", 0, 0, 0, 0, NULL },
    }
};

static const s_schema_t s_status_schema = {
    sizeof(fx_task_status_t), FX_IDS_MAX, 0, 4, {
        { F_ID, "task_id", S(task_id), 0, 0, 0, NULL },
        { F_U8, "state", S(state), 0, FX_TASK_UNKNOWN, FX_TASK_FAILED, NULL },
        { F_ID_OPT, "endpoint_id", S(endpoint_id), 0, 0, 0, NULL },
        { F_U32, "attempts", S(attempts), 0, 0, UINT32_MAX, NULL },
    }
};

static const s_schema_t s_container_schema = {
    FX_NAME_MAX + 1, FX_CONTAINERS_MAX, 0, 1, {
        STR("container", 0, FX_NAME_MAX + 1),
    }
};

#define BATCH(name, member, ptr, schema) { F_BATCH, name, M(member), M(ptr), 0, 0, &schema }
#define U(kind, name, member, lo, hi) { kind, name, M(member), 0, lo, hi, NULL }

static const s_schema_t s_messages[FX_MSG_TYPE_LAST + 1] = {
    [FX_MSG_HELLO] = { 0, 0, 0, 3, {
        { F_ID, "client_id", M(hello.client_id), 0, 0, 0, NULL },
        STR("client_version", M(hello.client_version), FX_VERSION_MAX + 1),
        STR("python_version", M(hello.python_version), FX_VERSION_MAX + 1) } },
    [FX_MSG_WELCOME] = { 0, 0, 0, 3, {
        { F_ID_OPT, "id", M(welcome.id), 0, 0, 0, NULL },
        STR("server_version", M(welcome.server_version), FX_VERSION_MAX + 1),
        U(F_U32, "heartbeat_ms", welcome.heartbeat_ms, 0, UINT32_MAX) } },
    [FX_MSG_ERROR] = { 0, 0, 0, 2, {
        U(F_U16, "code", error.code, 0, UINT16_MAX),
        { F_TEXT, "text", M(error.text), 0, 0, 0, NULL } } },
    [FX_MSG_HEARTBEAT] = { 0, 0, 0, 0, { { 0 } } },
    [FX_MSG_REGISTER_FUNCTION] = { 0, 0, 1, 5, {
        { F_ID, "function_id", M(register_function.function_id), 0, 0, 0, NULL },
        STR("name", M(register_function.name), FX_NAME_MAX + 1),
        U(F_U8, "kind", register_function.kind, FX_FN_PYTHON, FX_FN_SHELL),
        STR("entry", M(register_function.entry), FX_NAME_MAX + 1),
        { F_FRAME, "body", M(register_function.body), 0, 0, 0, NULL } } },
    [FX_MSG_FUNCTION_REGISTERED] = { 0, 0, 0, 1, {
        { F_ID, "function_id", M(function_registered.function_id), 0, 0, 0, NULL } } },
    [FX_MSG_REGISTER_ENDPOINT] = { 0, 0, 0, 3, {
        { F_ID, "endpoint_id", M(register_endpoint.endpoint_id), 0, 0, 0, NULL },
        STR("name", M(register_endpoint.name), FX_NAME_MAX + 1),
        { F_KEY, "public_key", M(register_endpoint.public_key), 0, 0, 0, NULL } } },
    [FX_MSG_ENDPOINT_REGISTERED] = { 0, 0, 0, 1, {
        { F_ID, "endpoint_id", M(endpoint_registered.endpoint_id), 0, 0, 0, NULL } } },
    [FX_MSG_SUBMIT] = { 0, 0, 0, 1, { BATCH("tasks", tasks.count, tasks.tasks, s_task_schema) } },
    [FX_MSG_SUBMITTED] = { 0, 0, 0, 1, { U(F_U32, "accepted", submitted.accepted, 0, UINT32_MAX) } },
    [FX_MSG_RESULTS] = { 0, 0, 0, 1, {
        BATCH("results", results.count, results.results, s_result_schema) } },
    [FX_MSG_RESULTS_ACK] = { 0, 0, 0, 1, { BATCH("task_ids", ids.count, ids.ids, s_id_schema) } },
    [FX_MSG_STATUS] = { 0, 0, 0, 1, { BATCH("task_ids", ids.count, ids.ids, s_id_schema) } },
    [FX_MSG_STATUS_REPLY] = { 0, 0, 0, 1, {
        BATCH("tasks", status_reply.count, status_reply.tasks, s_status_schema) } },
    [FX_MSG_FETCH] = { 0, 0, 0, 1, { BATCH("task_ids", ids.count, ids.ids, s_id_schema) } },
    [FX_MSG_LIST] = { 0, 0, 0, 2, {
        U(F_U8, "what", list.what, FX_LIST_ENDPOINTS, FX_LIST_TASKS),
        U(F_U32, "limit", list.limit, 0, FX_LIST_ROWS_MAX) } },
    [FX_MSG_LIST_REPLY] = { 0, 0, 0, 1, { { F_TABLE, "table", 0, 0, 0, 0, NULL } } },
    [FX_MSG_ENDPOINT_HELLO] = { 0, 0, 0, 2, {
        { F_ID, "endpoint_id", M(endpoint_hello.endpoint_id), 0, 0, 0, NULL },
        STR("version", M(endpoint_hello.version), FX_VERSION_MAX + 1) } },
    [FX_MSG_CREDIT] = { 0, 0, 0, 1, { U(F_U32, "window", credit.window, 0, UINT32_MAX) } },
    [FX_MSG_TASKS] = { 0, 0, 0, 1, { BATCH("tasks", tasks.count, tasks.tasks, s_task_schema) } },
    [FX_MSG_COMMAND] = { 0, 0, 0, 1, { U(F_U8, "command", command.command, FX_CMD_DRAIN, FX_CMD_STOP) } },
    [FX_MSG_MANAGER_HELLO] = { 0, 0, 0, 6, {
        { F_ID, "manager_id", M(manager_hello.manager_id), 0, 0, 0, NULL },
        STR("host", M(manager_hello.host), FX_NAME_MAX + 1),
        U(F_U32, "pid", manager_hello.pid, 0, UINT32_MAX),
        U(F_U32, "workers", manager_hello.workers, 0, UINT32_MAX),
        STR("version", M(manager_hello.version), FX_VERSION_MAX + 1),
        BATCH("containers", manager_hello.container_count, manager_hello.containers,
              s_container_schema) } },
    [FX_MSG_READY] = { 0, 0, 0, 2, {
        U(F_U32, "pid", ready.pid, 0, UINT32_MAX),
        STR("python_version", M(ready.python_version), FX_VERSION_MAX + 1) } },
    [FX_MSG_CANCEL] = { 0, 0, 0, 2, {
        BATCH("task_ids", cancel.count, cancel.ids, s_id_schema),
        U(F_U8, "queued_only", cancel.queued_only, 0, 1) } },
    [FX_MSG_ENDPOINT_STATUS] = { 0, 0, 0, 3, {
        U(F_U32, "managers", endpoint_status.managers, 0, UINT32_MAX),
        U(F_U32, "workers", endpoint_status.workers, 0, UINT32_MAX),
        U(F_U32, "free", endpoint_status.free, 0, UINT32_MAX) } },
};

/* ---------------------------------------------------------------- encode */

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static int s_pack_fields(msgpack_packer *pk, zmsg_t *frames, const s_schema_t *schema, char *base);

static int s_pack_frame(zmsg_t *frames, zframe_t **frame_p)
{
    zframe_t *frame = *frame_p ? *frame_p : zframe_new_empty();
    *frame_p = NULL;
    if (!frame)
        return FX_E_NOMEM;
    if (zframe_size(frame) > FX_PAYLOAD_MAX) {
        zframe_destroy(&frame);
        return FX_E_TOO_LARGE;
    }
    zmsg_append(frames, &frame);
    return FX_OK;
}

static int s_pack_field(msgpack_packer *pk, zmsg_t *frames, const s_field_t *f, char *base)
{
    char *at = base + f->offset;
    switch (f->kind) {
    case F_U8: msgpack_pack_uint8(pk, *(uint8_t *) at); break;
    case F_U16: msgpack_pack_uint16(pk, *(uint16_t *) at); break;
    case F_U32: msgpack_pack_uint32(pk, *(uint32_t *) at); break;
    case F_STR:
    case F_ID:
    case F_ID_OPT:
    case F_KEY: s_pack_str(pk, at); break;
    case F_TEXT:
        if (*(char **) at)
            s_pack_str(pk, *(char **) at);
        else
            msgpack_pack_nil(pk);
        break;
    case F_FRAME: return s_pack_frame(frames, (zframe_t **) at);
    case F_BATCH: {
        uint32_t count = *(uint32_t *) at;
        char *records = *(char **) (base + f->offset2);
        if (count > f->record->max_count)
            return FX_E_TOO_LARGE;
        if (count && !records)
            return FX_E_BAD_FIELD;
        msgpack_pack_array(pk, count);
        for (uint32_t i = 0; i < count; i++) {
            int rc = s_pack_fields(pk, frames, f->record, records + (size_t) i * f->record->record_size);
            if (rc != FX_OK)
                return rc;
        }
        break;
    }
    case F_TABLE: {
        fx_msg_t *msg = (fx_msg_t *) base;
        uint64_t n = (uint64_t) msg->list_reply.rows * msg->list_reply.cols;
        msgpack_pack_array(pk, 3);
        msgpack_pack_uint32(pk, msg->list_reply.rows);
        msgpack_pack_uint32(pk, msg->list_reply.cols);
        msgpack_pack_array(pk, (size_t) n);
        for (uint64_t i = 0; i < n; i++) {
            const char *cell = msg->list_reply.cells[i];
            s_pack_str(pk, cell ? cell : "");
        }
        break;
    }
    }
    return FX_OK;
}

/* Packs the non-frame fields as one array; frames go to `frames`. */
static int s_pack_fields(msgpack_packer *pk, zmsg_t *frames, const s_schema_t *schema, char *base)
{
    int body_fields = 0;
    for (int i = 0; i < schema->nfields; i++)
        body_fields += schema->fields[i].kind != F_FRAME;
    msgpack_pack_array(pk, (size_t) body_fields);
    for (int i = 0; i < schema->nfields; i++) {
        int rc = s_pack_field(pk, frames, &schema->fields[i], base);
        if (rc != FX_OK)
            return rc;
    }
    return FX_OK;
}

zmsg_t *fx_msg_encode(fx_msg_t *self, int *err_p)
{
    int rc = FX_E_UNKNOWN_TYPE;
    zmsg_t *zmsg = NULL;
    zmsg_t *frames = NULL;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    if (self->type < FX_MSG_TYPE_FIRST || self->type > FX_MSG_TYPE_LAST)
        goto done;
    rc = FX_E_NOMEM;
    frames = zmsg_new();
    zmsg = zmsg_new();
    if (!frames || !zmsg)
        goto done;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, FX_PROTO_VERSION);
    msgpack_pack_uint32(&pk, (uint32_t) self->type);
    msgpack_pack_uint32(&pk, self->seq);
    rc = s_pack_fields(&pk, frames, &s_messages[self->type], (char *) self);
    if (rc != FX_OK)
        goto done;
    if (sbuf.size > FX_HEADER_MAX) {
        rc = FX_E_TOO_LARGE;
        goto done;
    }
    rc = FX_E_NOMEM;
    if (zmsg_addmem(zmsg, sbuf.data, sbuf.size) != 0)
        goto done;
    zframe_t *frame;
    while ((frame = zmsg_pop(frames)))
        zmsg_append(zmsg, &frame);
    rc = FX_OK;
done:
    msgpack_sbuffer_destroy(&sbuf);
    zmsg_destroy(&frames);
    if (rc != FX_OK)
        zmsg_destroy(&zmsg);
    if (err_p)
        *err_p = rc;
    return zmsg;
}

/* ---------------------------------------------------------------- decode */

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    size_t frames_left; /* payload frames not yet claimed by a record */
    int err;
    const char *detail;
} s_reader_t;

static int s_fail(s_reader_t *r, int err, const char *detail)
{
    if (r->err == FX_OK) {
        r->err = err;
        r->detail = detail;
    }
    return -1;
}

static size_t s_left(const s_reader_t *r)
{
    return (size_t) (r->end - r->p);
}

/* Reads a big-endian integer of n bytes. */
static int s_read_be(s_reader_t *r, int n, uint64_t *v, const char *what)
{
    if (s_left(r) < (size_t) n)
        return s_fail(r, FX_E_MALFORMED, what);
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return 0;
}

/* An array header whose count must fit in what is left: every element takes
   at least one byte, so a larger count is a lie. */
static int s_read_array(s_reader_t *r, uint32_t *count, const char *what)
{
    if (s_left(r) < 1)
        return s_fail(r, FX_E_MALFORMED, what);
    uint8_t b = *r->p++;
    uint64_t n;
    if (b >= 0x90 && b <= 0x9f)
        n = b & 0x0f;
    else if (b == 0xdc) {
        if (s_read_be(r, 2, &n, what))
            return -1;
    }
    else if (b == 0xdd) {
        if (s_read_be(r, 4, &n, what))
            return -1;
    }
    else
        return s_fail(r, FX_E_BAD_FIELD, what);
    if (n > s_left(r))
        return s_fail(r, FX_E_MALFORMED, what);
    *count = (uint32_t) n;
    return 0;
}

static int s_read_uint(s_reader_t *r, uint64_t *v, const char *what)
{
    if (s_left(r) < 1)
        return s_fail(r, FX_E_MALFORMED, what);
    uint8_t b = *r->p++;
    if (b <= 0x7f) {
        *v = b;
        return 0;
    }
    switch (b) {
    case 0xcc: return s_read_be(r, 1, v, what);
    case 0xcd: return s_read_be(r, 2, v, what);
    case 0xce: return s_read_be(r, 4, v, what);
    case 0xcf: return s_read_be(r, 8, v, what);
    default: return s_fail(r, FX_E_BAD_FIELD, what);
    }
}

/* A str header; the body is left at r->p, its length checked against the
   bytes left. Returns 1 for nil when nil_ok. */
static int s_read_str_head(s_reader_t *r, uint32_t *len, bool nil_ok, const char *what)
{
    if (s_left(r) < 1)
        return s_fail(r, FX_E_MALFORMED, what);
    uint8_t b = *r->p++;
    uint64_t n;
    if (b >= 0xa0 && b <= 0xbf)
        n = b & 0x1f;
    else if (b == 0xd9 || b == 0xda || b == 0xdb) {
        if (s_read_be(r, b == 0xd9 ? 1 : b == 0xda ? 2 : 4, &n, what))
            return -1;
    }
    else if (b == 0xc0 && nil_ok)
        return 1;
    else
        return s_fail(r, FX_E_BAD_FIELD, what);
    if (n > s_left(r))
        return s_fail(r, FX_E_MALFORMED, what);
    if (memchr(r->p, '\0', (size_t) n))
        return s_fail(r, FX_E_BAD_FIELD, what);
    *len = (uint32_t) n;
    return 0;
}

static int s_read_str(s_reader_t *r, char *dst, size_t cap, const char *what)
{
    uint32_t len;
    if (s_read_str_head(r, &len, false, what))
        return -1;
    if (len >= cap)
        return s_fail(r, FX_E_TOO_LARGE, what);
    memcpy(dst, r->p, len);
    dst[len] = '\0';
    r->p += len;
    return 0;
}

static int s_read_text(s_reader_t *r, char **dst, const char *what)
{
    uint32_t len;
    int rc = s_read_str_head(r, &len, true, what);
    if (rc)
        return rc < 0 ? -1 : 0; /* nil: leave NULL */
    if (len > FX_TEXT_MAX)
        return s_fail(r, FX_E_TOO_LARGE, what);
    char *text = malloc(len + 1);
    if (!text)
        return s_fail(r, FX_E_NOMEM, what);
    memcpy(text, r->p, len);
    text[len] = '\0';
    r->p += len;
    *dst = text;
    return 0;
}

static bool s_z85_char(char c)
{
    return c && strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#", c);
}

static int s_read_fields(s_reader_t *r, const s_schema_t *schema, char *base);

static int s_read_field(s_reader_t *r, const s_field_t *f, char *base)
{
    char *at = base + f->offset;
    uint64_t v;
    switch (f->kind) {
    case F_U8:
    case F_U16:
    case F_U32:
        if (s_read_uint(r, &v, f->name))
            return -1;
        if (v < f->min || v > f->max)
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        if (f->kind == F_U8)
            *(uint8_t *) at = (uint8_t) v;
        else if (f->kind == F_U16)
            *(uint16_t *) at = (uint16_t) v;
        else
            *(uint32_t *) at = (uint32_t) v;
        return 0;
    case F_STR: return s_read_str(r, at, f->max, f->name);
    case F_ID:
    case F_ID_OPT:
        if (s_read_str(r, at, FX_ID_LEN + 1, f->name))
            return r->err == FX_E_TOO_LARGE ? (r->err = FX_E_BAD_FIELD, -1) : -1;
        if (!fx_id_valid(at) && !(f->kind == F_ID_OPT && at[0] == '\0'))
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        return 0;
    case F_KEY:
        if (s_read_str(r, at, FX_KEY_LEN + 1, f->name))
            return r->err == FX_E_TOO_LARGE ? (r->err = FX_E_BAD_FIELD, -1) : -1;
        if (strlen(at) != FX_KEY_LEN)
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        for (int i = 0; i < FX_KEY_LEN; i++)
            if (!s_z85_char(at[i]))
                return s_fail(r, FX_E_BAD_FIELD, f->name);
        return 0;
    case F_TEXT: return s_read_text(r, (char **) at, f->name);
    case F_FRAME: return 0; /* filled from the payload frames afterwards */
    case F_BATCH: {
        uint32_t count;
        if (s_read_array(r, &count, f->name))
            return -1;
        if (count > f->record->max_count)
            return s_fail(r, FX_E_TOO_LARGE, f->name);
        /* Frames must be there for every record before we allocate. */
        size_t need = (size_t) count * (size_t) f->record->frames;
        if (need > r->frames_left)
            return s_fail(r, FX_E_MALFORMED, "payload frames (fewer than the records need)");
        r->frames_left -= need;
        char *records = count ? calloc(count, f->record->record_size) : NULL;
        if (count && !records)
            return s_fail(r, FX_E_NOMEM, f->name);
        *(uint32_t *) at = count;
        *(char **) (base + f->offset2) = records;
        for (uint32_t i = 0; i < count; i++)
            if (s_read_fields(r, f->record, records + (size_t) i * f->record->record_size))
                return -1;
        return 0;
    }
    case F_TABLE: {
        fx_msg_t *msg = (fx_msg_t *) base;
        uint32_t n, cells;
        uint64_t rows, cols;
        if (s_read_array(r, &n, "table"))
            return -1;
        if (n != 3)
            return s_fail(r, FX_E_BAD_FIELD, "table");
        if (s_read_uint(r, &rows, "rows") || s_read_uint(r, &cols, "cols"))
            return -1;
        if (rows > FX_LIST_ROWS_MAX + 1 || cols > FX_LIST_COLS_MAX)
            return s_fail(r, FX_E_TOO_LARGE, "table");
        if (s_read_array(r, &cells, "cells"))
            return -1;
        if (cells != rows * cols)
            return s_fail(r, FX_E_BAD_FIELD, "cells (count is not rows x cols)");
        if (fx_msg_alloc_table(msg, (uint32_t) rows, (uint32_t) cols) != FX_OK)
            return s_fail(r, FX_E_NOMEM, "table");
        for (uint32_t i = 0; i < cells; i++)
            if (s_read_text(r, &msg->list_reply.cells[i], "cell"))
                return -1;
        return 0;
    }
    }
    return s_fail(r, FX_E_INTERNAL, f->name);
}

static int s_read_fields(s_reader_t *r, const s_schema_t *schema, char *base)
{
    uint32_t count;
    int body_fields = 0;
    for (int i = 0; i < schema->nfields; i++)
        body_fields += schema->fields[i].kind != F_FRAME;
    if (s_read_array(r, &count, "body"))
        return -1;
    if (count != (uint32_t) body_fields)
        return s_fail(r, FX_E_BAD_FIELD, "body (wrong number of fields)");
    for (int i = 0; i < schema->nfields; i++)
        if (s_read_field(r, &schema->fields[i], base))
            return -1;
    return 0;
}

/* Hands the payload frames to the frame fields, in record order. */
static int s_take_frames(zmsg_t *zmsg, const s_schema_t *schema, char *base, s_reader_t *r)
{
    for (int i = 0; i < schema->nfields; i++) {
        const s_field_t *f = &schema->fields[i];
        if (f->kind == F_FRAME) {
            zframe_t *frame = zmsg_pop(zmsg);
            if (!frame)
                return s_fail(r, FX_E_MALFORMED, f->name);
            *(zframe_t **) (base + f->offset) = frame;
            if (zframe_size(frame) > FX_PAYLOAD_MAX)
                return s_fail(r, FX_E_TOO_LARGE, f->name);
        }
        else if (f->kind == F_BATCH && f->record->frames) {
            uint32_t count = *(uint32_t *) (base + f->offset);
            char *records = *(char **) (base + f->offset2);
            for (uint32_t j = 0; j < count; j++)
                if (s_take_frames(zmsg, f->record, records + (size_t) j * f->record->record_size, r))
                    return -1;
        }
    }
    return 0;
}

int fx_msg_decode(zmsg_t *zmsg, fx_msg_t **msg_p, uint32_t *seq_p, const char **detail_p)
{
    *msg_p = NULL;
    if (seq_p)
        *seq_p = 0;
    if (detail_p)
        *detail_p = "";
    zframe_t *header = zmsg_pop(zmsg);
    if (!header) {
        if (detail_p)
            *detail_p = "no header frame";
        return FX_E_MALFORMED;
    }
    s_reader_t r = { zframe_data(header), zframe_data(header) + zframe_size(header), zmsg_size(zmsg),
                     FX_OK, "" };
    fx_msg_t *msg = NULL;
    uint32_t n;
    uint64_t version, type, seq;
    if (zframe_size(header) > FX_HEADER_MAX) {
        s_fail(&r, FX_E_TOO_LARGE, "header frame");
        goto done;
    }
    if (zmsg_size(zmsg) > FX_FRAMES_MAX) {
        s_fail(&r, FX_E_TOO_LARGE, "frame count");
        goto done;
    }
    if (s_read_array(&r, &n, "header") || n != 4) {
        r.err = FX_E_MALFORMED;
        r.detail = "header (not an array of 4)";
        goto done;
    }
    if (s_read_uint(&r, &version, "version") || s_read_uint(&r, &type, "type") ||
        s_read_uint(&r, &seq, "seq")) {
        r.err = FX_E_MALFORMED;
        goto done;
    }
    if (seq > UINT32_MAX) {
        s_fail(&r, FX_E_BAD_FIELD, "seq");
        goto done;
    }
    if (seq_p)
        *seq_p = (uint32_t) seq;
    if (version != FX_PROTO_VERSION) {
        s_fail(&r, FX_E_VERSION, "version");
        goto done;
    }
    if (type < FX_MSG_TYPE_FIRST || type > FX_MSG_TYPE_LAST) {
        s_fail(&r, FX_E_UNKNOWN_TYPE, "type");
        goto done;
    }
    msg = fx_msg_new((fx_msg_type_t) type);
    if (!msg) {
        s_fail(&r, FX_E_NOMEM, "message");
        goto done;
    }
    msg->seq = (uint32_t) seq;
    const s_schema_t *schema = &s_messages[type];
    r.frames_left -= (size_t) schema->frames < r.frames_left ? (size_t) schema->frames : r.frames_left;
    if (s_read_fields(&r, schema, (char *) msg))
        goto done;
    if (r.p != r.end) {
        s_fail(&r, FX_E_MALFORMED, "trailing bytes after the body");
        goto done;
    }
    if (r.frames_left != 0 || zmsg_size(zmsg) < (size_t) schema->frames) {
        s_fail(&r, FX_E_MALFORMED, "payload frames (count does not match the records)");
        goto done;
    }
    s_take_frames(zmsg, schema, (char *) msg, &r);
done:
    zframe_destroy(&header);
    if (r.err != FX_OK) {
        fx_msg_destroy(&msg);
        if (detail_p)
            *detail_p = r.detail;
        return r.err;
    }
    *msg_p = msg;
    return FX_OK;
}
