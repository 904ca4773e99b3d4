/*  fx_ix_route_warming.c: the `warming-aware` routing strategy, the
    default (fx_ix_route.h): a manager with an idle warm worker for the
    task's container, offered as many tasks of it as it has such workers;
    else a manager that can start a worker for it (cold_free); else any
    manager with room, where the task waits for a worker. Round robin
    within each tier (funcX's algorithm). */
#include "fx_ix_route.h"

static fx_ix_pick_t s_pick(fx_ix_route_t *route, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                           uint32_t *room)
{
    *manager_p = fx_ix_route_warm(route, task ? task->slot : FX_IX_SLOT_HOST, room);
    if (!*manager_p)
        *manager_p = fx_ix_route_fallback(route, task ? task->slot : FX_IX_SLOT_HOST, room);
    return *manager_p ? FX_IX_PICK_SEND : FX_IX_PICK_NONE;
}

const fx_ix_route_ops_t fx_ix_route_warming = {.name = "warming-aware", .by_container = true, .pick = s_pick};
