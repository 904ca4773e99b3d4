/*  fx_codec.c: fx_msg_t <-> ZeroMQ frames.

    Each message type is described once, as a schema (fx_schema.c): its
    body fields in wire order with their kind and limits. One generic
    encoder and one generic decoder walk the schema, so a field is validated
    the same way for every message that carries it, and the round-trip and
    fuzz tests cover every type by iterating over the table.

    The encoder packs with msgpack-c. The decoder is our own bounded
    reader, not msgpack-c's unpacker: that one trusts declared counts (a
    5-byte array32 header claiming 4 billion elements makes it ask for about
    128 GiB). Here every declared length or count is checked against the
    bytes (and frames) left before anything is allocated. */
#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_msg.h"
#include "fx_schema.h"

/* ---------------------------------------------------------------- encode */

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static int s_pack_fields(msgpack_packer *pk, zmsg_t *frames, const fx_schema_t *schema, char *base);

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

static int s_pack_field(msgpack_packer *pk, zmsg_t *frames, const fx_field_t *f, char *base)
{
    char *at = base + f->offset;
    switch (f->kind) {
    case FX_FIELD_U8: msgpack_pack_uint8(pk, *(uint8_t *) at); break;
    case FX_FIELD_U16: msgpack_pack_uint16(pk, *(uint16_t *) at); break;
    case FX_FIELD_U32: msgpack_pack_uint32(pk, *(uint32_t *) at); break;
    case FX_FIELD_STR:
    case FX_FIELD_ID:
    case FX_FIELD_ID_OPT:
    case FX_FIELD_KEY: s_pack_str(pk, at); break;
    case FX_FIELD_TEXT:
        if (*(char **) at)
            s_pack_str(pk, *(char **) at);
        else
            msgpack_pack_nil(pk);
        break;
    case FX_FIELD_FRAME: return s_pack_frame(frames, (zframe_t **) at);
    case FX_FIELD_U64: msgpack_pack_uint64(pk, *(uint64_t *) at); break;
    case FX_FIELD_OID: s_pack_str(pk, at); break;
    case FX_FIELD_TIMES: {
        const uint64_t *times = (const uint64_t *) at;
        size_t n = FX_TIMES_MAX;
        while (n && times[n - 1] == 0) /* trailing zeros are implied */
            n--;
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            msgpack_pack_uint64(pk, times[i]);
        break;
    }
    case FX_FIELD_BATCH: {
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
    case FX_FIELD_TABLE: {
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
static int s_pack_fields(msgpack_packer *pk, zmsg_t *frames, const fx_schema_t *schema, char *base)
{
    int body_fields = 0;
    for (int i = 0; i < schema->nfields; i++)
        body_fields += schema->fields[i].kind != FX_FIELD_FRAME;
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
    rc = s_pack_fields(&pk, frames, fx_schema_of(self->type), (char *) self);
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

static int s_read_fields(s_reader_t *r, const fx_schema_t *schema, char *base);

static int s_read_field(s_reader_t *r, const fx_field_t *f, char *base)
{
    char *at = base + f->offset;
    uint64_t v;
    switch (f->kind) {
    case FX_FIELD_U8:
    case FX_FIELD_U16:
    case FX_FIELD_U32:
        if (s_read_uint(r, &v, f->name))
            return -1;
        if (v < f->min || v > f->max)
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        if (f->kind == FX_FIELD_U8)
            *(uint8_t *) at = (uint8_t) v;
        else if (f->kind == FX_FIELD_U16)
            *(uint16_t *) at = (uint16_t) v;
        else
            *(uint32_t *) at = (uint32_t) v;
        return 0;
    case FX_FIELD_STR: return s_read_str(r, at, f->max, f->name);
    case FX_FIELD_ID:
    case FX_FIELD_ID_OPT:
        if (s_read_str(r, at, FX_ID_LEN + 1, f->name))
            return r->err == FX_E_TOO_LARGE ? (r->err = FX_E_BAD_FIELD, -1) : -1;
        if (!fx_id_valid(at) && !(f->kind == FX_FIELD_ID_OPT && at[0] == '\0'))
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        return 0;
    case FX_FIELD_KEY:
        if (s_read_str(r, at, FX_KEY_LEN + 1, f->name))
            return r->err == FX_E_TOO_LARGE ? (r->err = FX_E_BAD_FIELD, -1) : -1;
        if (strlen(at) != FX_KEY_LEN)
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        for (int i = 0; i < FX_KEY_LEN; i++)
            if (!s_z85_char(at[i]))
                return s_fail(r, FX_E_BAD_FIELD, f->name);
        return 0;
    case FX_FIELD_TEXT: return s_read_text(r, (char **) at, f->name);
    case FX_FIELD_FRAME: return 0; /* filled from the payload frames afterwards */
    case FX_FIELD_U64: return s_read_uint(r, (uint64_t *) at, f->name);
    case FX_FIELD_OID:
        if (s_read_str(r, at, FX_OID_LEN + 1, f->name))
            return r->err == FX_E_TOO_LARGE ? (r->err = FX_E_BAD_FIELD, -1) : -1;
        if (!fx_oid_valid(at))
            return s_fail(r, FX_E_BAD_FIELD, f->name);
        return 0;
    case FX_FIELD_TIMES: {
        uint32_t count;
        if (s_read_array(r, &count, f->name))
            return -1;
        if (count > FX_TIMES_MAX)
            return s_fail(r, FX_E_TOO_LARGE, f->name);
        uint64_t *times = (uint64_t *) at;
        for (uint32_t i = 0; i < count; i++)
            if (s_read_uint(r, &times[i], f->name))
                return -1;
        return 0;
    }
    case FX_FIELD_BATCH: {
        uint32_t count;
        if (s_read_array(r, &count, f->name))
            return -1;
        if (count > f->record->max_count)
            return s_fail(r, FX_E_TOO_LARGE, f->name);
        /* Frames must be there for every record before we allocate. */
        size_t need = (size_t) count * (size_t) fx_schema_frames(f->record);
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
    case FX_FIELD_TABLE: {
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

static int s_read_fields(s_reader_t *r, const fx_schema_t *schema, char *base)
{
    uint32_t count;
    int body_fields = 0;
    for (int i = 0; i < schema->nfields; i++)
        body_fields += schema->fields[i].kind != FX_FIELD_FRAME;
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
static int s_take_frames(zmsg_t *zmsg, const fx_schema_t *schema, char *base, s_reader_t *r)
{
    for (int i = 0; i < schema->nfields; i++) {
        const fx_field_t *f = &schema->fields[i];
        if (f->kind == FX_FIELD_FRAME) {
            zframe_t *frame = zmsg_pop(zmsg);
            if (!frame)
                return s_fail(r, FX_E_MALFORMED, f->name);
            *(zframe_t **) (base + f->offset) = frame;
            if (zframe_size(frame) > FX_PAYLOAD_MAX)
                return s_fail(r, FX_E_TOO_LARGE, f->name);
        }
        else if (f->kind == FX_FIELD_BATCH && fx_schema_frames(f->record)) {
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
        /* SPEC 11.2: the reply names both versions, so the detail does. */
        static __thread char text[128];
        snprintf(text, sizeof text, "the message is protocol version %llu, this side speaks version %d",
                 (unsigned long long) version, FX_PROTO_VERSION);
        s_fail(&r, FX_E_VERSION, text);
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
    const fx_schema_t *schema = fx_schema_of((int) type);
    r.frames_left -= (size_t) fx_schema_frames(schema) < r.frames_left ? (size_t) fx_schema_frames(schema) : r.frames_left;
    if (s_read_fields(&r, schema, (char *) msg))
        goto done;
    if (r.p != r.end) {
        s_fail(&r, FX_E_MALFORMED, "trailing bytes after the body");
        goto done;
    }
    if (r.frames_left != 0 || zmsg_size(zmsg) < (size_t) fx_schema_frames(schema)) {
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
