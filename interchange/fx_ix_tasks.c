/*  fx_ix_tasks.c: the FIFO (an intrusive list, fx_ix_list.h), the lanes
    per container beside it (a second node in each task), and an index by
    task id (zhashx, keyed by the task's own id: no key copied). */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_tasks.h"

struct fx_ix_tasks_t {
    fx_ix_list_t fifo; /* fx_ix_task_t by node, not owned: the index owns */
    zhashx_t *index;   /* task_id -> fx_ix_task_t *, owns */
    size_t old;        /* tasks with .old set */
    fx_ix_containers_t *cs; /* the lanes' records, not owned; NULL: no lanes */
};

/* ------------------------------------------------------------ lanes */

static fx_ix_container_t *s_lane_of(fx_ix_tasks_t *self, const fx_ix_task_t *task)
{
    return self->cs ? fx_ix_containers_at(self->cs, task->slot) : NULL;
}

/* task (just put in the FIFO, at its front or back) into its lane. */
static void s_lane_in(fx_ix_tasks_t *self, fx_ix_task_t *task, bool front)
{
    fx_ix_container_t *c = s_lane_of(self, task);
    if (!c)
        return;
    if (front)
        fx_ix_list_push_front(&c->queue, &task->lane);
    else
        fx_ix_list_push_back(&c->queue, &task->lane);
    if (c->queue.size == 1)
        fx_ix_containers_check(self->cs, c);
}

/* task (leaving the FIFO) out of its lane. */
static void s_lane_out(fx_ix_tasks_t *self, fx_ix_task_t *task)
{
    fx_ix_container_t *c = fx_ix_node_linked(&task->lane) ? s_lane_of(self, task) : NULL;
    if (!c)
        return;
    fx_ix_list_remove(&c->queue, &task->lane);
    if (c->queue.size == 0)
        fx_ix_containers_check(self->cs, c);
}

/* The tasks of list (about to be spliced to the FIFO's front) to the
   fronts of their lanes, the last first. */
static void s_lanes_front(fx_ix_tasks_t *self, fx_ix_list_t *list)
{
    if (!self->cs)
        return;
    for (fx_ix_node_t *n = fx_ix_list_last(list); n; n = fx_ix_list_prev(list, n))
        s_lane_in(self, FX_IX_RECORD(n, fx_ix_task_t, node), true);
}

void fx_ix_tasks_lanes(fx_ix_tasks_t *self, fx_ix_containers_t *cs)
{
    self->cs = cs;
}

static void s_task_free(void **item_p)
{
    fx_ix_task_t *task = *item_p;
    if (task) {
        fx_ix_body_unpin(&task->fn);
        zframe_destroy(&task->body);
        zframe_destroy(&task->payload);
        free(task);
        *item_p = NULL;
    }
}

fx_ix_tasks_t *fx_ix_tasks_new(void)
{
    fx_ix_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    fx_ix_list_init(&self->fifo);
    self->index = zhashx_new();
    if (!self->index) {
        fx_ix_tasks_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_task_free);
    zhashx_set_key_duplicator(self->index, NULL); /* the key is the task's own task_id */
    zhashx_set_key_destructor(self->index, NULL);
    return self;
}

void fx_ix_tasks_destroy(fx_ix_tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_tasks_t *self = *self_p;
    zhashx_destroy(&self->index);
    free(self);
    *self_p = NULL;
}

/* The strings of a task, in the order of text_len (fx_ix_task_t). */
static void s_texts(fx_task_t *task, char *out[FX_IX_TASK_TEXTS])
{
    out[0] = task->endpoint_id;
    out[1] = task->entry;
    out[2] = task->container;
    out[3] = task->py_version;
    out[4] = task->dill_version;
    out[5] = task->serializer;
}

int fx_ix_tasks_add(fx_ix_tasks_t *self, fx_task_t *task)
{
    return fx_ix_tasks_add_in(self, task, FX_IX_SLOT_HOST);
}

int fx_ix_tasks_add_in(fx_ix_tasks_t *self, fx_task_t *task, uint32_t slot)
{
    fx_ix_task_t *known = zhashx_lookup(self->index, task->task_id);
    if (known) {
        if (known->old) {
            known->old = false; /* in the broker's in_flight again */
            self->old--;
        }
        return FX_E_CONFLICT;
    }
    char *texts[FX_IX_TASK_TEXTS];
    size_t lens[FX_IX_TASK_TEXTS], total = 0;
    s_texts(task, texts);
    for (int i = 0; i < FX_IX_TASK_TEXTS; i++) {
        lens[i] = strlen(texts[i]); /* each < 256: the decoder held them to FX_NAME_MAX */
        total += lens[i] + 1;
    }
    fx_ix_task_t *held = malloc(sizeof *held + total);
    if (!held)
        return FX_E_NOMEM;
    memset(held, 0, sizeof *held);
    memcpy(held->task_id, task->task_id, sizeof held->task_id);
    memcpy(held->function_id, task->function_id, sizeof held->function_id);
    memcpy(held->function_version, task->function_version, sizeof held->function_version);
    held->kind = task->kind;
    held->attempt = task->attempt;
    held->walltime_ms = task->walltime_ms;
    held->retries = task->retries;
    held->slot = slot;
    memcpy(held->times, task->times, sizeof held->times);
    char *at = held->text;
    for (int i = 0; i < FX_IX_TASK_TEXTS; i++) {
        held->text_len[i] = (uint8_t) lens[i];
        memcpy(at, texts[i], lens[i] + 1);
        at += lens[i] + 1;
    }
    if (zhashx_insert(self->index, held->task_id, held) != 0) {
        free(held);
        return FX_E_NOMEM;
    }
    held->body = task->body; /* moved */
    held->payload = task->payload;
    task->body = NULL;
    task->payload = NULL;
    fx_ix_list_push_back(&self->fifo, &held->node);
    s_lane_in(self, held, false);
    return FX_OK;
}

static fx_ix_task_t *s_task(fx_ix_node_t *node)
{
    return node ? FX_IX_RECORD(node, fx_ix_task_t, node) : NULL;
}

fx_ix_task_t *fx_ix_tasks_peek(fx_ix_tasks_t *self)
{
    return s_task(fx_ix_list_first(&self->fifo));
}

fx_ix_task_t *fx_ix_tasks_pop(fx_ix_tasks_t *self)
{
    fx_ix_task_t *task = fx_ix_tasks_peek(self);
    if (task)
        fx_ix_tasks_take(self, task);
    return task;
}

fx_ix_task_t *fx_ix_tasks_lane_first(fx_ix_tasks_t *self, uint32_t slot)
{
    fx_ix_container_t *c = self->cs ? fx_ix_containers_at(self->cs, slot) : NULL;
    fx_ix_node_t *n = c ? fx_ix_list_first(&c->queue) : NULL;
    return n ? FX_IX_RECORD(n, fx_ix_task_t, lane) : NULL;
}

void fx_ix_tasks_take(fx_ix_tasks_t *self, fx_ix_task_t *task)
{
    fx_ix_list_remove(&self->fifo, &task->node);
    s_lane_out(self, task);
}

void fx_ix_tasks_requeue(fx_ix_tasks_t *self, fx_ix_task_t *task)
{
    task->holder = NULL;
    task->requeues++;
    task->attempt++;
    task->held_until = 0;
    fx_ix_list_push_front(&self->fifo, &task->node);
    s_lane_in(self, task, true);
}

size_t fx_ix_tasks_requeue_all(fx_ix_tasks_t *self, fx_ix_list_t *list)
{
    size_t back = list->size;
    for (fx_ix_node_t *n = fx_ix_list_first(list); n; n = fx_ix_list_next(list, n)) {
        fx_ix_task_t *t = s_task(n);
        t->holder = NULL;
        t->requeues++;
        t->attempt++;
        t->held_until = 0;
    }
    s_lanes_front(self, list);
    fx_ix_list_splice_front(&self->fifo, list);
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
    if (task->waiting)
        fx_ix_list_remove(task->waiting, &task->node);
    else if (!task->holder && fx_ix_node_linked(&task->node))
        fx_ix_tasks_take(self, task);
    if (task->old)
        self->old--;
    *task_p = NULL;
    fx_id_text_t id; /* the key lives in the task the delete frees */
    memcpy(id, task->task_id, sizeof id);
    zhashx_delete(self->index, id);
}

void fx_ix_tasks_wait(fx_ix_tasks_t *self, fx_ix_task_t *task, fx_ix_list_t *waiting)
{
    fx_ix_tasks_take(self, task);
    fx_ix_list_push_back(waiting, &task->node);
    task->waiting = waiting;
}

void fx_ix_tasks_ready(fx_ix_tasks_t *self, fx_ix_task_t *task)
{
    fx_ix_list_remove(task->waiting, &task->node);
    task->waiting = NULL;
    fx_ix_list_push_back(&self->fifo, &task->node);
    s_lane_in(self, task, false);
}

void fx_ix_tasks_unwait(fx_ix_task_t *task)
{
    fx_ix_list_remove(task->waiting, &task->node);
    task->waiting = NULL;
}

void fx_ix_tasks_front_all(fx_ix_tasks_t *self, fx_ix_list_t *list)
{
    s_lanes_front(self, list);
    fx_ix_list_splice_front(&self->fifo, list);
}

zframe_t *fx_ix_task_body(const fx_ix_task_t *task)
{
    return task->fn ? fx_ix_body_frame(task->fn) : task->body;
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
    return self->fifo.size;
}

size_t fx_ix_tasks_held(fx_ix_tasks_t *self)
{
    return zhashx_size(self->index);
}

/* The i-th of the task's strings. */
static const char *s_text(const fx_ix_task_t *task, int i)
{
    const char *at = task->text;
    for (int k = 0; k < i; k++)
        at += task->text_len[k] + 1;
    return at;
}

void fx_ix_task_fill(const fx_ix_task_t *task, fx_task_t *out)
{
    memcpy(out->task_id, task->task_id, sizeof out->task_id);
    memcpy(out->function_id, task->function_id, sizeof out->function_id);
    memcpy(out->function_version, task->function_version, sizeof out->function_version);
    out->kind = task->kind;
    out->attempt = task->attempt;
    out->walltime_ms = task->walltime_ms;
    out->retries = task->retries;
    memcpy(out->times, task->times, sizeof out->times);
    char *dst[FX_IX_TASK_TEXTS];
    s_texts(out, dst);
    const char *at = task->text;
    for (int i = 0; i < FX_IX_TASK_TEXTS; i++) {
        memcpy(dst[i], at, task->text_len[i] + 1u);
        at += task->text_len[i] + 1;
    }
    out->body = NULL;
    out->payload = NULL;
}

const char *fx_ix_task_container(const fx_ix_task_t *task)
{
    return s_text(task, 2);
}
