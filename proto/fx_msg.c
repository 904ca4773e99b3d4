/*  fx_msg.c: life cycle of fx_msg_t and the helpers around the codec. The
    codec itself (bytes <-> fields) is fx_codec.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_msg.h"
#include "fx_clock.h"
#include "fx_schema.h"

const char *fx_msg_type_name(int type)
{
    const fx_schema_t *schema = fx_schema_of(type);
    return schema ? schema->name : "?";
}

fx_msg_t *fx_msg_new(fx_msg_type_t type)
{
    fx_msg_t *self = calloc(1, sizeof *self);
    if (self)
        self->type = type;
    return self;
}

static void s_free_table(fx_msg_t *self)
{
    uint64_t n = (uint64_t) self->list_reply.rows * self->list_reply.cols;
    for (uint64_t i = 0; self->list_reply.cells && i < n; i++)
        free(self->list_reply.cells[i]);
    free(self->list_reply.cells);
    self->list_reply.cells = NULL;
    self->list_reply.rows = self->list_reply.cols = 0;
}

/* Frees what one message or record owns (frames, text, record arrays),
   walking its schema; scalars are left alone. */
static void s_free_fields(const fx_schema_t *schema, char *base)
{
    for (int i = 0; i < schema->nfields; i++) {
        const fx_field_t *f = &schema->fields[i];
        char *at = base + f->offset;
        switch (f->kind) {
        case FX_FIELD_TEXT:
            free(*(char **) at);
            *(char **) at = NULL;
            break;
        case FX_FIELD_FRAME: zframe_destroy((zframe_t **) at); break;
        case FX_FIELD_BATCH: {
            uint32_t *count = (uint32_t *) at;
            char **records = (char **) (base + f->offset2);
            for (uint32_t j = 0; *records && j < *count; j++)
                s_free_fields(f->record, *records + (size_t) j * f->record->record_size);
            free(*records);
            *records = NULL;
            *count = 0;
            break;
        }
        case FX_FIELD_TABLE: s_free_table((fx_msg_t *) base); break;
        default: break;
        }
    }
}

static void s_free_message(fx_msg_t *self)
{
    const fx_schema_t *schema = fx_schema_of(self->type);
    if (schema)
        s_free_fields(schema, (char *) self);
}

void fx_msg_destroy(fx_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_free_message(*self_p);
    free(*self_p);
    *self_p = NULL;
}

int fx_msg_alloc_records(fx_msg_t *self, uint32_t count)
{
    const fx_schema_t *schema = fx_schema_of(self->type);
    const fx_field_t *batch = schema ? fx_schema_batch(schema) : NULL;
    if (!batch)
        return FX_E_UNEXPECTED;
    if (count > batch->record->max_count)
        return FX_E_TOO_LARGE;
    void *records = count ? calloc(count, batch->record->record_size) : NULL;
    if (count && !records)
        return FX_E_NOMEM;
    s_free_message(self);
    *(uint32_t *) ((char *) self + batch->offset) = count;
    *(void **) ((char *) self + batch->offset2) = records;
    return FX_OK;
}

int fx_msg_alloc_table(fx_msg_t *self, uint32_t rows, uint32_t cols)
{
    if (self->type != FX_MSG_LIST_REPLY)
        return FX_E_UNEXPECTED;
    if (rows > FX_LIST_ROWS_MAX + 1 || cols > FX_LIST_COLS_MAX)
        return FX_E_TOO_LARGE;
    s_free_table(self);
    size_t n = (size_t) rows * cols;
    self->list_reply.cells = n ? calloc(n, sizeof(char *)) : NULL;
    if (n && !self->list_reply.cells)
        return FX_E_NOMEM;
    self->list_reply.rows = rows;
    self->list_reply.cols = cols;
    return FX_OK;
}

/* Copies text, cut to FX_TEXT_MAX bytes. */
static char *s_text_dup(const char *text)
{
    size_t len = strnlen(text ? text : "", FX_TEXT_MAX);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text ? text : "", len);
        copy[len] = '\0';
    }
    return copy;
}

int fx_msg_set_cell(fx_msg_t *self, uint32_t row, uint32_t col, const char *text)
{
    if (self->type != FX_MSG_LIST_REPLY || row >= self->list_reply.rows || col >= self->list_reply.cols)
        return FX_E_BAD_FIELD;
    char **cell = &self->list_reply.cells[(size_t) row * self->list_reply.cols + col];
    free(*cell);
    *cell = s_text_dup(text);
    return *cell ? FX_OK : FX_E_NOMEM;
}

int fx_msg_set_error(fx_msg_t *self, int code, const char *fmt, ...)
{
    char buf[FX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (self->type != FX_MSG_ERROR) {
        /* a request turned into its error reply: what the request owned goes */
        s_free_message(self);
        memset(&self->error, 0, sizeof self->error);
        self->type = FX_MSG_ERROR;
    }
    self->error.code = (uint16_t) code;
    free(self->error.text);
    self->error.text = s_text_dup(buf);
    return self->error.text ? FX_OK : FX_E_NOMEM;
}

int fx_result_set_text(fx_result_t *result, const char *text)
{
    free(result->error_text);
    result->error_text = s_text_dup(text);
    return result->error_text ? FX_OK : FX_E_NOMEM;
}

int fx_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t len = strlen(src);
    if (len >= cap) {
        dst[0] = '\0';
        return FX_E_TOO_LARGE;
    }
    memcpy(dst, src, len + 1);
    return FX_OK;
}

int fx_msg_send(fx_msg_t **msg_p, zsock_t *sock, zframe_t *routing)
{
    int err = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(*msg_p, &err);
    fx_msg_destroy(msg_p);
    if (!zmsg)
        return err;
    if (routing) {
        zframe_t *copy = zframe_dup(routing);
        if (!copy || zmsg_prepend(zmsg, &copy) != 0) {
            zframe_destroy(&copy);
            zmsg_destroy(&zmsg);
            return FX_E_NOMEM;
        }
    }
    if (zmsg_send(&zmsg, sock) != 0) {
        zmsg_destroy(&zmsg);
        return FX_E_IO;
    }
    return FX_OK;
}

int fx_send_error(zsock_t *sock, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ERROR);
    if (!msg)
        return FX_E_NOMEM;
    char buf[FX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    msg->seq = seq;
    fx_msg_set_error(msg, code, "%s", buf);
    return fx_msg_send(&msg, sock, routing);
}

void fx_stamp(uint64_t *times, fx_time_t event)
{
    if ((unsigned) event < FX_TIMES_MAX)
        times[event] = (uint64_t) fx_wall_us();
}
