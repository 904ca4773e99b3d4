/*  fx_ix_results.c: two ordered lists (pending, unacked) plus an index by
    task id that owns the entries. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_results.h"

typedef struct {
    fx_result_t result; /* owns error_text, value, output */
    bool acked_list;    /* true while in the unacked list */
    bool sent_once;
    void *handle;          /* place in pending or unacked */
    fx_id_text_t *senders; /* managers that sent this result (heap) */
    size_t nsenders;
} s_entry_t;

struct fx_ix_results_t {
    zlistx_t *pending; /* s_entry_t *, not owned */
    zlistx_t *unacked; /* s_entry_t *, not owned */
    zhashx_t *index;   /* task_id -> s_entry_t *, owns */
    size_t unsent;
};

static void s_entry_free(void **item_p)
{
    s_entry_t *e = *item_p;
    if (e) {
        free(e->result.error_text);
        zframe_destroy(&e->result.value);
        zframe_destroy(&e->result.output);
        free(e->senders);
        free(e);
        *item_p = NULL;
    }
}

fx_ix_results_t *fx_ix_results_new(void)
{
    fx_ix_results_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pending = zlistx_new();
    self->unacked = zlistx_new();
    self->index = zhashx_new();
    if (!self->pending || !self->unacked || !self->index) {
        fx_ix_results_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_entry_free);
    return self;
}

void fx_ix_results_destroy(fx_ix_results_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_results_t *self = *self_p;
    zlistx_destroy(&self->pending);
    zlistx_destroy(&self->unacked);
    zhashx_destroy(&self->index);
    free(self);
    *self_p = NULL;
}

/* Adds manager_id (if any, and not there yet) to e's senders. */
static int s_add_sender(s_entry_t *e, const char *manager_id)
{
    if (!manager_id || !*manager_id)
        return FX_OK;
    for (size_t i = 0; i < e->nsenders; i++)
        if (strcmp(e->senders[i], manager_id) == 0)
            return FX_OK;
    fx_id_text_t *more = realloc(e->senders, (e->nsenders + 1) * sizeof *more);
    if (!more)
        return FX_E_NOMEM;
    e->senders = more;
    fx_strlcpy(e->senders[e->nsenders++], manager_id, sizeof *more);
    return FX_OK;
}

int fx_ix_results_add(fx_ix_results_t *self, fx_result_t *result)
{
    return fx_ix_results_add_from(self, result, NULL);
}

int fx_ix_results_add_from(fx_ix_results_t *self, fx_result_t *result, const char *manager_id)
{
    s_entry_t *held = zhashx_lookup(self->index, result->task_id);
    if (held) {
        s_add_sender(held, manager_id); /* on OOM that manager resends and is acked later */
        return FX_E_CONFLICT;
    }
    s_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return FX_E_NOMEM;
    if (s_add_sender(e, manager_id) != FX_OK) {
        free(e);
        return FX_E_NOMEM;
    }
    e->result = *result;
    if (!e->result.value)
        e->result.value = zframe_new_empty();
    if (!e->result.output)
        e->result.output = zframe_new_empty();
    e->handle = zlistx_add_end(self->pending, e);
    if (!e->result.value || !e->result.output || !e->handle ||
        zhashx_insert(self->index, e->result.task_id, e) != 0) {
        if (e->handle)
            zlistx_delete(self->pending, e->handle);
        if (e->result.value != result->value)
            zframe_destroy(&e->result.value);
        if (e->result.output != result->output)
            zframe_destroy(&e->result.output);
        free(e->senders);
        free(e);
        return FX_E_NOMEM;
    }
    result->error_text = NULL; /* moved */
    result->value = NULL;
    result->output = NULL;
    self->unsent++;
    return FX_OK;
}

static int s_copy(const fx_result_t *src, fx_result_t *dst)
{
    memcpy(dst->task_id, src->task_id, sizeof dst->task_id);
    dst->status = src->status;
    dst->error_code = src->error_code;
    if (src->error_text && fx_result_set_text(dst, src->error_text) != FX_OK)
        return FX_E_NOMEM;
    dst->value = zframe_dup(src->value);
    dst->output = zframe_dup(src->output);
    return dst->value && dst->output ? FX_OK : FX_E_NOMEM;
}

fx_msg_t *fx_ix_results_batch(fx_ix_results_t *self)
{
    size_t n = zlistx_size(self->pending);
    if (n == 0)
        return NULL;
    if (n > FX_BATCH_MAX)
        n = FX_BATCH_MAX;
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    if (!msg || fx_msg_alloc_records(msg, (uint32_t) n) != FX_OK)
        goto nomem;
    size_t i = 0;
    for (s_entry_t *e = zlistx_first(self->pending); e && i < n; e = zlistx_next(self->pending))
        if (s_copy(&e->result, &msg->results.results[i++]) != FX_OK)
            goto nomem;
    return msg;
nomem:
    fx_msg_destroy(&msg);
    return NULL;
}

size_t fx_ix_results_sent(fx_ix_results_t *self, size_t count)
{
    size_t first = 0;
    for (size_t i = 0; i < count; i++) {
        s_entry_t *e = zlistx_first(self->pending);
        if (!e)
            break;
        zlistx_delete(self->pending, e->handle);
        e->handle = zlistx_add_end(self->unacked, e);
        e->acked_list = true;
        if (!e->sent_once) {
            e->sent_once = true;
            first++;
            self->unsent--;
        }
    }
    return first;
}

size_t fx_ix_results_ack(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count)
{
    return fx_ix_results_ack_senders(self, ids, count, NULL, NULL);
}

size_t fx_ix_results_ack_senders(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count,
                                 fx_ix_ack_pair_t **pairs, size_t *npairs)
{
    size_t acked = 0;
    for (size_t i = 0; i < count; i++) {
        s_entry_t *e = zhashx_lookup(self->index, ids[i]);
        if (!e)
            continue;
        if (pairs && e->nsenders) {
            fx_ix_ack_pair_t *more = realloc(*pairs, (*npairs + e->nsenders) * sizeof *more);
            if (more) {
                *pairs = more;
                for (size_t k = 0; k < e->nsenders; k++) {
                    memcpy(more[*npairs].task_id, e->result.task_id, sizeof more->task_id);
                    memcpy(more[*npairs].manager_id, e->senders[k], sizeof more->manager_id);
                    (*npairs)++;
                }
            }
        }
        /* an ack for a result not sent since the last resend_all still
           means the broker has it */
        zlistx_delete(e->acked_list ? self->unacked : self->pending, e->handle);
        if (!e->sent_once)
            self->unsent--;
        zhashx_delete(self->index, ids[i]);
        acked++;
    }
    return acked;
}

void fx_ix_results_resend_all(fx_ix_results_t *self)
{
    /* walk unacked from the back so the front of pending keeps their order */
    for (s_entry_t *e = zlistx_last(self->unacked); e; e = zlistx_last(self->unacked)) {
        zlistx_delete(self->unacked, e->handle);
        e->handle = zlistx_add_start(self->pending, e);
        e->acked_list = false;
    }
}

size_t fx_ix_results_pending(fx_ix_results_t *self)
{
    return zlistx_size(self->pending);
}
size_t fx_ix_results_unacked(fx_ix_results_t *self)
{
    return zlistx_size(self->unacked);
}
size_t fx_ix_results_unsent(fx_ix_results_t *self)
{
    return self->unsent;
}
