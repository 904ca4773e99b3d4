/*  fx_ix_route_rr.c: the default routing strategy (fx_ix_route.h): round
    robin over the managers with an idle worker, then over those with
    prefetch room. Two intrusive lists; a manager is in the one its room
    puts it in, or in none when it is full (or retiring: its window is 0),
    so a pick is the front of a list and an update moves one node. */
#include <stdlib.h>

#include "fx_ix_managers.h"

enum { S_NONE, S_IDLE, S_PREFETCH };

typedef struct {
    fx_ix_list_t idle;     /* in flight < min(window, workers) */
    fx_ix_list_t prefetch; /* in flight < window, every worker busy */
} s_rr_t;

static void *s_create(void)
{
    s_rr_t *self = calloc(1, sizeof *self);
    if (self) {
        fx_ix_list_init(&self->idle);
        fx_ix_list_init(&self->prefetch);
    }
    return self;
}

static void s_destroy(void *impl)
{
    free(impl);
}

/* Idle workers of m, and its room in all. */
static uint32_t s_idle(const fx_ix_manager_t *m)
{
    uint32_t window = fx_ix_manager_window(m), workers = fx_ix_manager_workers(m);
    uint32_t cap = workers < window ? workers : window, busy = fx_ix_manager_in_flight(m);
    return cap > busy ? cap - busy : 0;
}

static fx_ix_list_t *s_list(s_rr_t *self, int where)
{
    return where == S_IDLE ? &self->idle : where == S_PREFETCH ? &self->prefetch : NULL;
}

static void s_remove(void *impl, fx_ix_manager_t *m)
{
    fx_ix_route_hook_t *hook = fx_ix_manager_route_hook(m);
    if (hook->where != S_NONE)
        fx_ix_list_remove(s_list(impl, hook->where), &hook->node);
    hook->where = S_NONE;
}

static void s_update(void *impl, fx_ix_manager_t *m)
{
    fx_ix_route_hook_t *hook = fx_ix_manager_route_hook(m);
    int where = s_idle(m) ? S_IDLE : fx_ix_manager_free(m) ? S_PREFETCH : S_NONE;
    if (where == hook->where)
        return; /* keeps its turn */
    s_remove(impl, m);
    if (where != S_NONE)
        fx_ix_list_push_back(s_list(impl, where), &hook->node);
    hook->where = where;
}

static fx_ix_manager_t *s_pick(void *impl, const fx_ix_task_t *task, uint32_t *room)
{
    (void) task; /* one queue, no containers yet: any manager will do */
    s_rr_t *self = impl;
    fx_ix_list_t *list = self->idle.size ? &self->idle : &self->prefetch;
    fx_ix_node_t *node = fx_ix_list_first(list);
    if (!node)
        return NULL;
    fx_ix_route_hook_t *hook = FX_IX_RECORD(node, fx_ix_route_hook_t, node);
    fx_ix_manager_t *m = hook->manager;
    fx_ix_list_move_back(list, node); /* round robin: the next pick starts with the next one */
    *room = list == &self->idle ? s_idle(m) : fx_ix_manager_free(m);
    return m;
}

const fx_ix_route_ops_t fx_ix_route_rr = {
    .name = "round-robin, idle workers first",
    .create = s_create,
    .destroy = s_destroy,
    .update = s_update,
    .remove = s_remove,
    .pick = s_pick,
};
