/*  fx_msg.c: life cycle of fx_msg_t and the helpers around the codec. The
    codec itself (bytes <-> fields) is fx_codec.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_msg.h"

static const char *s_type_names[] = {
    [FX_MSG_HELLO] = "HELLO",
    [FX_MSG_WELCOME] = "WELCOME",
    [FX_MSG_ERROR] = "ERROR",
    [FX_MSG_HEARTBEAT] = "HEARTBEAT",
    [FX_MSG_REGISTER_FUNCTION] = "REGISTER_FUNCTION",
    [FX_MSG_FUNCTION_REGISTERED] = "FUNCTION_REGISTERED",
    [FX_MSG_REGISTER_ENDPOINT] = "REGISTER_ENDPOINT",
    [FX_MSG_ENDPOINT_REGISTERED] = "ENDPOINT_REGISTERED",
    [FX_MSG_SUBMIT] = "SUBMIT",
    [FX_MSG_SUBMITTED] = "SUBMITTED",
    [FX_MSG_RESULTS] = "RESULTS",
    [FX_MSG_RESULTS_ACK] = "RESULTS_ACK",
    [FX_MSG_STATUS] = "STATUS",
    [FX_MSG_STATUS_REPLY] = "STATUS_REPLY",
    [FX_MSG_FETCH] = "FETCH",
    [FX_MSG_LIST] = "LIST",
    [FX_MSG_LIST_REPLY] = "LIST_REPLY",
    [FX_MSG_ENDPOINT_HELLO] = "ENDPOINT_HELLO",
    [FX_MSG_CREDIT] = "CREDIT",
    [FX_MSG_TASKS] = "TASKS",
    [FX_MSG_COMMAND] = "COMMAND",
    [FX_MSG_MANAGER_HELLO] = "MANAGER_HELLO",
    [FX_MSG_READY] = "READY",
    [FX_MSG_CANCEL] = "CANCEL",
    [FX_MSG_ENDPOINT_STATUS] = "ENDPOINT_STATUS",
};

const char *fx_msg_type_name(int type)
{
    if (type < FX_MSG_TYPE_FIRST || type > FX_MSG_TYPE_LAST)
        return "?";
    return s_type_names[type];
}

fx_msg_t *fx_msg_new(fx_msg_type_t type)
{
    fx_msg_t *self = calloc(1, sizeof *self);
    if (self)
        self->type = type;
    return self;
}

static void s_free_tasks(fx_task_t *tasks, uint32_t count)
{
    for (uint32_t i = 0; tasks && i < count; i++) {
        zframe_destroy(&tasks[i].body);
        zframe_destroy(&tasks[i].payload);
    }
    free(tasks);
}

static void s_free_results(fx_result_t *results, uint32_t count)
{
    for (uint32_t i = 0; results && i < count; i++) {
        free(results[i].error_text);
        zframe_destroy(&results[i].value);
        zframe_destroy(&results[i].output);
    }
    free(results);
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

/* Frees the variable part of the message, leaving scalars alone. */
static void s_free_records(fx_msg_t *self)
{
    switch (self->type) {
    case FX_MSG_SUBMIT:
    case FX_MSG_TASKS:
        s_free_tasks(self->tasks.tasks, self->tasks.count);
        self->tasks.tasks = NULL;
        self->tasks.count = 0;
        break;
    case FX_MSG_RESULTS:
        s_free_results(self->results.results, self->results.count);
        self->results.results = NULL;
        self->results.count = 0;
        break;
    case FX_MSG_RESULTS_ACK:
    case FX_MSG_STATUS:
    case FX_MSG_FETCH:
    case FX_MSG_CANCEL:
        free(self->ids.ids);
        self->ids.ids = NULL;
        self->ids.count = 0;
        break;
    case FX_MSG_STATUS_REPLY:
        free(self->status_reply.tasks);
        self->status_reply.tasks = NULL;
        self->status_reply.count = 0;
        break;
    case FX_MSG_LIST_REPLY:
        s_free_table(self);
        break;
    case FX_MSG_MANAGER_HELLO:
        free(self->manager_hello.containers);
        self->manager_hello.containers = NULL;
        self->manager_hello.container_count = 0;
        break;
    default:
        break;
    }
}

void fx_msg_destroy(fx_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_msg_t *self = *self_p;
    s_free_records(self);
    if (self->type == FX_MSG_ERROR)
        free(self->error.text);
    if (self->type == FX_MSG_REGISTER_FUNCTION)
        zframe_destroy(&self->register_function.body);
    free(self);
    *self_p = NULL;
}

int fx_msg_alloc_records(fx_msg_t *self, uint32_t count)
{
    uint32_t max = FX_BATCH_MAX;
    size_t size;
    switch (self->type) {
    case FX_MSG_SUBMIT:
    case FX_MSG_TASKS: size = sizeof(fx_task_t); break;
    case FX_MSG_RESULTS: size = sizeof(fx_result_t); break;
    case FX_MSG_RESULTS_ACK:
    case FX_MSG_STATUS:
    case FX_MSG_FETCH:
    case FX_MSG_CANCEL: size = sizeof(fx_id_text_t); max = FX_IDS_MAX; break;
    case FX_MSG_STATUS_REPLY: size = sizeof(fx_task_status_t); max = FX_IDS_MAX; break;
    case FX_MSG_MANAGER_HELLO:
        size = FX_NAME_MAX + 1;
        max = FX_CONTAINERS_MAX;
        break;
    default: return FX_E_UNEXPECTED;
    }
    if (count > max)
        return FX_E_TOO_LARGE;
    s_free_records(self);
    void *records = count ? calloc(count, size) : NULL;
    if (count && !records)
        return FX_E_NOMEM;
    switch (self->type) {
    case FX_MSG_SUBMIT:
    case FX_MSG_TASKS: self->tasks.tasks = records; self->tasks.count = count; break;
    case FX_MSG_RESULTS: self->results.results = records; self->results.count = count; break;
    case FX_MSG_STATUS_REPLY: self->status_reply.tasks = records; self->status_reply.count = count; break;
    case FX_MSG_MANAGER_HELLO:
        self->manager_hello.containers = records;
        self->manager_hello.container_count = count;
        break;
    default: self->ids.ids = records; self->ids.count = count; break;
    }
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
    self->type = FX_MSG_ERROR;
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
