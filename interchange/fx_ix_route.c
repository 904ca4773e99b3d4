/*  fx_ix_route.c: a routing strategy instance, its functions and its state
    (fx_ix_route.h). */
#include <stdlib.h>

#include "fx_ix_route.h"

struct fx_ix_route_t {
    const fx_ix_route_ops_t *ops;
    void *impl;
};

fx_ix_route_t *fx_ix_route_new(const fx_ix_route_ops_t *ops)
{
    fx_ix_route_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ops = ops;
    self->impl = ops->create();
    if (!self->impl) {
        free(self);
        return NULL;
    }
    return self;
}

void fx_ix_route_destroy(fx_ix_route_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    (*self_p)->ops->destroy((*self_p)->impl);
    free(*self_p);
    *self_p = NULL;
}

void fx_ix_route_update(fx_ix_route_t *self, fx_ix_manager_t *manager)
{
    self->ops->update(self->impl, manager);
}

void fx_ix_route_remove(fx_ix_route_t *self, fx_ix_manager_t *manager)
{
    self->ops->remove(self->impl, manager);
}

fx_ix_manager_t *fx_ix_route_pick(fx_ix_route_t *self, const fx_ix_task_t *task, uint32_t *room)
{
    return self->ops->pick(self->impl, task, room);
}
