/*  fx_ix_route_warmwait.c: the `warm-wait` routing strategy (SPEC 7.9,
    fx_ix_route.h). As warming-aware, with one more choice when no warm
    worker for the task's container is idle but a cold start could be
    made: wait here for a warm worker instead, if one is expected to reach
    the task sooner than a cold start would take.

    The expectation is a fluid one: the container's W warm workers (over
    every manager) finish a task every R ms each (its measured run time),
    so the tasks already waiting for them (B at managers beyond their
    workers, H held here) and this one are served within (B + H + 1) R / W;
    a cold start takes S (its measured start time, else the endpoint's
    average over containers). The task is held while that is less than S,
    so a cold start is made only for the part of the container's queue that
    its warm workers cannot serve within a start's time. With nothing
    measured yet the strategy behaves as warming-aware (the first cold
    start and the first run measure).

    Held tasks are the dispatch phase's (fx_ix_dispatch.c): served first
    when a warm worker frees up, and sent on with cold starts allowed once
    they have waited S (at most FX_IX_HOLD_MAX_MS), or at once when the
    container has no warm worker left. */
#include "fx_ix_route.h"

static bool s_hold(fx_ix_route_t *route, const fx_ix_task_t *task)
{
    if (!task || task->no_hold || !fx_ix_route_can_cold(route))
        return false; /* no cold start to save: it waits at a manager as with warming-aware */
    fx_ix_containers_t *cs = fx_ix_route_containers(route);
    const fx_ix_container_t *c = fx_ix_containers_at(cs, task->slot);
    double start = fx_ix_containers_start_ms(cs, task->slot);
    if (!c || c->workers == 0 || c->runs == 0 || start < 0)
        return false;
    double run = c->run_ms > 1 ? c->run_ms : 1;
    double waiting = (double) (c->backlog + c->held.size) + 1;
    return waiting * run < start * (double) c->workers;
}

static fx_ix_pick_t s_pick(fx_ix_route_t *route, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                           uint32_t *room)
{
    *manager_p = fx_ix_route_warm(route, task ? task->slot : FX_IX_SLOT_HOST, room);
    if (*manager_p)
        return FX_IX_PICK_SEND;
    if (s_hold(route, task))
        return FX_IX_PICK_HOLD;
    *manager_p = fx_ix_route_fallback(route, task ? task->slot : FX_IX_SLOT_HOST, room);
    return *manager_p ? FX_IX_PICK_SEND : FX_IX_PICK_NONE;
}

const fx_ix_route_ops_t fx_ix_route_warmwait = {.name = "warm-wait", .by_container = true, .pick = s_pick};
