/*  fx_ix_tasks.c: FIFO (zlistx) plus index by task id (zhashx). */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_tasks.h"

struct fx_ix_tasks_t {
    zlistx_t *fifo;  /* fx_ix_task_t *, not owned: the index owns */
    zhashx_t *index; /* task_id -> fx_ix_task_t *, owns */
    size_t old;      /* tasks with .old set */
};

static void s_task_free(void **item_p)
{
    fx_ix_task_t *task = *item_p;
    if (task) {
        zframe_destroy(&task->task.body);
        zframe_destroy(&task->task.payload);
        free(task);
        *item_p = NULL;
    }
}

fx_ix_tasks_t *fx_ix_tasks_new(void)
{
    fx_ix_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fifo = zlistx_new();
    self->index = zhashx_new();
    if (!self->fifo || !self->index) {
        fx_ix_tasks_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_task_free);
    return self;
}

void fx_ix_tasks_destroy(fx_ix_tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_tasks_t *self = *self_p;
    zlistx_destroy(&self->fifo);
    zhashx_destroy(&self->index);
    free(self);
    *self_p = NULL;
}

int fx_ix_tasks_add(fx_ix_tasks_t *self, fx_task_t *task)
{
    fx_ix_task_t *known = zhashx_lookup(self->index, task->task_id);
    if (known) {
        if (known->old) {
            known->old = false; /* in the broker's in_flight again */
            self->old--;
        }
        return FX_E_CONFLICT;
    }
    fx_ix_task_t *held = calloc(1, sizeof *held);
    if (!held)
        return FX_E_NOMEM;
    held->task = *task;
    held->handle = zlistx_add_end(self->fifo, held);
    if (!held->handle || zhashx_insert(self->index, held->task.task_id, held) != 0) {
        if (held->handle)
            zlistx_delete(self->fifo, held->handle);
        free(held);
        return FX_E_NOMEM;
    }
    task->body = NULL; /* moved */
    task->payload = NULL;
    return FX_OK;
}

fx_ix_task_t *fx_ix_tasks_peek(fx_ix_tasks_t *self)
{
    return zlistx_first(self->fifo);
}

fx_ix_task_t *fx_ix_tasks_pop(fx_ix_tasks_t *self)
{
    fx_ix_task_t *task = zlistx_first(self->fifo);
    if (task) {
        zlistx_delete(self->fifo, task->handle);
        task->handle = NULL;
    }
    return task;
}

int fx_ix_tasks_requeue(fx_ix_tasks_t *self, fx_ix_task_t *task)
{
    task->holder = NULL;
    task->requeues++;
    task->task.attempt++;
    task->handle = zlistx_add_start(self->fifo, task);
    return task->handle ? FX_OK : FX_E_NOMEM;
}

size_t fx_ix_tasks_requeue_all(fx_ix_tasks_t *self, zlistx_t *list)
{
    size_t back = 0;
    for (fx_ix_task_t *t = zlistx_last(list); t; t = zlistx_prev(list))
        back += fx_ix_tasks_requeue(self, t) == FX_OK;
    zlistx_purge(list);
    return back;
}

fx_ix_task_t *fx_ix_tasks_find(fx_ix_tasks_t *self, const char *task_id)
{
    return zhashx_lookup(self->index, task_id);
}

void fx_ix_tasks_done(fx_ix_tasks_t *self, fx_ix_task_t **task_p)
{
    fx_ix_task_t *task = *task_p;
    if (!task)
        return;
    if (!task->holder && task->handle)
        zlistx_delete(self->fifo, task->handle);
    if (task->old)
        self->old--;
    *task_p = NULL;
    fx_id_text_t id;
    memcpy(id, task->task.task_id, sizeof id);
    zhashx_delete(self->index, id); /* frees it */
}

size_t fx_ix_tasks_age(fx_ix_tasks_t *self)
{
    for (fx_ix_task_t *t = zhashx_first(self->index); t; t = zhashx_next(self->index))
        t->old = true;
    self->old = zhashx_size(self->index);
    return self->old;
}

size_t fx_ix_tasks_old(fx_ix_tasks_t *self)
{
    return self->old;
}

size_t fx_ix_tasks_queued(fx_ix_tasks_t *self)
{
    return zlistx_size(self->fifo);
}

size_t fx_ix_tasks_held(fx_ix_tasks_t *self)
{
    return zhashx_size(self->index);
}

int fx_ix_task_copy(const fx_ix_task_t *task, fx_task_t *out)
{
    *out = task->task;
    out->body = task->task.body ? zframe_dup(task->task.body) : zframe_new_empty();
    out->payload = task->task.payload ? zframe_dup(task->task.payload) : zframe_new_empty();
    if (!out->body || !out->payload) {
        zframe_destroy(&out->body);
        zframe_destroy(&out->payload);
        return FX_E_NOMEM;
    }
    return FX_OK;
}
