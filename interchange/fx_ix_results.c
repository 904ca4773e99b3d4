/*  fx_ix_results.c: two intrusive lists (pending, unacked, fx_ix_list.h)
    plus an index by task id (keyed by the entry's own id) that owns the
    entries. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_list.h"
#include "fx_ix_results.h"

typedef struct {
    fx_ix_node_t node;  /* in pending or in unacked */
    fx_result_t result; /* owns error_text, value, output */
    bool unacked;       /* which list */
    bool sent_once;
    fx_id_text_t sender; /* the first manager that sent it; "" for none */
    fx_id_text_t *more;  /* the others (heap), rare */
    size_t nmore;
} s_entry_t;

struct fx_ix_results_t {
    fx_ix_list_t pending; /* s_entry_t by node, not owned */
    fx_ix_list_t unacked; /* s_entry_t by node, not owned */
    zhashx_t *index;      /* task_id -> s_entry_t *, owns */
    size_t unsent;
};

static void s_entry_free(void **item_p)
{
    s_entry_t *e = *item_p;
    if (e) {
        free(e->result.error_text);
        zframe_destroy(&e->result.value);
        zframe_destroy(&e->result.output);
        free(e->more);
        free(e);
        *item_p = NULL;
    }
}

static s_entry_t *s_entry(fx_ix_node_t *node)
{
    return node ? FX_IX_RECORD(node, s_entry_t, node) : NULL;
}

fx_ix_results_t *fx_ix_results_new(void)
{
    fx_ix_results_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    fx_ix_list_init(&self->pending);
    fx_ix_list_init(&self->unacked);
    self->index = zhashx_new();
    if (!self->index) {
        fx_ix_results_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_entry_free);
    zhashx_set_key_duplicator(self->index, NULL); /* keyed by the entry's own task_id */
    zhashx_set_key_destructor(self->index, NULL);
    return self;
}

void fx_ix_results_destroy(fx_ix_results_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->index);
    free(*self_p);
    *self_p = NULL;
}

/* Adds manager_id (if any, and not there yet) to e's senders. */
static int s_add_sender(s_entry_t *e, const char *manager_id)
{
    if (!manager_id || !*manager_id || strcmp(e->sender, manager_id) == 0)
        return FX_OK;
    if (!e->sender[0]) {
        fx_strlcpy(e->sender, manager_id, sizeof e->sender);
        return FX_OK;
    }
    for (size_t i = 0; i < e->nmore; i++)
        if (strcmp(e->more[i], manager_id) == 0)
            return FX_OK;
    fx_id_text_t *more = realloc(e->more, (e->nmore + 1) * sizeof *more);
    if (!more)
        return FX_E_NOMEM;
    e->more = more;
    fx_strlcpy(e->more[e->nmore++], manager_id, sizeof *more);
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
    s_add_sender(e, manager_id); /* the first: no allocation */
    e->result = *result;
    if (zhashx_insert(self->index, e->result.task_id, e) != 0) {
        free(e);
        return FX_E_NOMEM;
    }
    result->error_text = NULL; /* moved */
    result->value = NULL;
    result->output = NULL;
    fx_ix_list_push_back(&self->pending, &e->node);
    self->unsent++;
    return FX_OK;
}

size_t fx_ix_results_batch(fx_ix_results_t *self, fx_result_t *records, zframe_t **frames, size_t max,
                           uint64_t stamp)
{
    size_t n = 0;
    for (fx_ix_node_t *node = fx_ix_list_first(&self->pending); node && n < max;
         node = fx_ix_list_next(&self->pending, node), n++) {
        s_entry_t *e = s_entry(node);
        e->result.times[FX_TIME_IX_RESULT] = stamp;
        records[n] = e->result;
        records[n].value = records[n].output = NULL; /* they go as frames[] */
        frames[2 * n] = e->result.value;
        frames[2 * n + 1] = e->result.output;
    }
    return n;
}

size_t fx_ix_results_sent(fx_ix_results_t *self, size_t count)
{
    size_t first = 0;
    for (size_t i = 0; i < count; i++) {
        s_entry_t *e = s_entry(fx_ix_list_first(&self->pending));
        if (!e)
            break;
        fx_ix_list_remove(&self->pending, &e->node);
        fx_ix_list_push_back(&self->unacked, &e->node);
        e->unacked = true;
        if (!e->sent_once) {
            e->sent_once = true;
            first++;
            self->unsent--;
        }
    }
    return first;
}

size_t fx_ix_results_ack(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count,
                         fx_ix_results_sender_fn *sender, void *ctx)
{
    size_t acked = 0;
    for (size_t i = 0; i < count; i++) {
        s_entry_t *e = zhashx_lookup(self->index, ids[i]);
        if (!e)
            continue;
        if (sender && e->sender[0])
            sender(ctx, e->result.task_id, e->sender);
        for (size_t k = 0; sender && k < e->nmore; k++)
            sender(ctx, e->result.task_id, e->more[k]);
        /* an ack for a result not sent since the last resend_all still
           means the broker has it */
        fx_ix_list_remove(e->unacked ? &self->unacked : &self->pending, &e->node);
        if (!e->sent_once)
            self->unsent--;
        zhashx_delete(self->index, ids[i]); /* frees e */
        acked++;
    }
    return acked;
}

void fx_ix_results_resend_all(fx_ix_results_t *self)
{
    for (fx_ix_node_t *n = fx_ix_list_first(&self->unacked); n; n = fx_ix_list_next(&self->unacked, n))
        s_entry(n)->unacked = false;
    fx_ix_list_splice_front(&self->pending, &self->unacked);
}

size_t fx_ix_results_pending(fx_ix_results_t *self)
{
    return self->pending.size;
}
size_t fx_ix_results_unacked(fx_ix_results_t *self)
{
    return self->unacked.size;
}
size_t fx_ix_results_unsent(fx_ix_results_t *self)
{
    return self->unsent;
}
