/*  fx_ix_route_warmwait.c: the `warm-wait` routing strategy (SPEC 7.9,
    fx_ix_route.h). Warm workers are served as with warming-aware (the
    dispatch phase hands each container's queued tasks to the managers with
    idle warm workers for it). What differs is the cold start: which
    container gets one, and whether any does.

    A cold slot (a manager's cold_free: a free slot, or under lru an idle
    worker of a container with nothing queued here, since warm work is
    served first) goes to the container whose queue its workers need
    longest to drain: Q x R / W, with Q its tasks queued here, R its
    measured run time and W its workers over every manager (idle, busy,
    starting, as CAPACITY said, and one more for each of its tasks at a
    manager beyond those: a cold start routed since, or one the manager
    will make; with prefetch those may be tasks waiting for a busy worker,
    which this counts as workers).
    A container with no worker comes first. So the workers are shared out
    as the queue is (the largest drain time first, as a highest-averages
    apportionment), not in the order the tasks happen to stand in the FIFO.
    It gets the cold start only if that drain time is longer than a cold
    start takes (S, measured; the endpoint's average while this container
    has none): a new worker shortens the drain only then (it starts serving
    after S; the W busy ones have shortened the queue by W x S by then).
    Otherwise nothing is started: its tasks wait here for its warm workers
    and the idle worker of another container is kept warm. Before R and S
    are measured every cold slot is used, as warming-aware would.

    Nothing waits for ever: a container's oldest task that waited S (at
    most FX_IX_HOLD_MAX_MS) since a cold start was first refused to it gets
    the next cold slot (its workers may be stuck in long tasks).

    The cold slot is taken as the view offers it (fx_ix_route_fallback:
    managers with cold_free first, else any with room, where the task waits
    for the manager's next free slot), so that while a manager's first
    workers are still starting the shares are already chosen this way.

    Cost: O(containers with queued tasks) per cold start made or refused
    (asked only while some manager has room), never anything per manager. */
#include "fx_ix_route.h"

static fx_ix_task_t *s_head(fx_ix_container_t *c)
{
    fx_ix_node_t *n = fx_ix_list_first(&c->queue);
    return n ? FX_IX_RECORD(n, fx_ix_task_t, lane) : NULL;
}

/* The wait before a refused head gets a cold start anyway. */
static int64_t s_patience(fx_ix_containers_t *cs, uint32_t slot)
{
    double start = fx_ix_containers_start_ms(cs, slot);
    return start > FX_IX_HOLD_MAX_MS ? FX_IX_HOLD_MAX_MS : start > 1 ? (int64_t) start : 1;
}

static fx_ix_container_t *s_cold(fx_ix_route_t *route, int64_t now)
{
    fx_ix_containers_t *cs = fx_ix_route_containers(route);
    fx_ix_list_t *active = fx_ix_containers_active(cs);
    fx_ix_container_t *best = NULL;
    double best_drain = -1;
    for (fx_ix_node_t *n = fx_ix_list_first(active); n; n = fx_ix_list_next(active, n)) {
        fx_ix_container_t *c = FX_IX_RECORD(n, fx_ix_container_t, active);
        fx_ix_task_t *head = s_head(c);
        if (head->held_until && now >= head->held_until) {
            c->held_expired++;
            return c; /* waited its time */
        }
        uint64_t workers = c->workers + c->backlog; /* a task beyond a manager's workers: one to come */
        if (workers == 0)
            return c;
        double drain = (double) c->queue.size * (c->runs ? c->run_ms : 1.0) / (double) workers;
        if (drain > best_drain) {
            best = c;
            best_drain = drain;
        }
    }
    if (!best)
        return NULL;
    double start = fx_ix_containers_start_ms(cs, best->slot);
    if (start < 0 || best->runs == 0 || best_drain > start)
        return best;
    /* no cold start is worth it: every head waits, for a start's time at most */
    for (fx_ix_node_t *n = fx_ix_list_first(active); n; n = fx_ix_list_next(active, n)) {
        fx_ix_container_t *c = FX_IX_RECORD(n, fx_ix_container_t, active);
        fx_ix_task_t *head = s_head(c);
        if (!head->held_until) {
            head->held_until = now + s_patience(cs, c->slot);
            c->held_total++;
        }
    }
    return NULL;
}

static int64_t s_wake(fx_ix_route_t *route)
{
    fx_ix_list_t *active = fx_ix_containers_active(fx_ix_route_containers(route));
    int64_t next = INT64_MAX;
    for (fx_ix_node_t *n = fx_ix_list_first(active); n; n = fx_ix_list_next(active, n)) {
        fx_ix_task_t *head = s_head(FX_IX_RECORD(n, fx_ix_container_t, active));
        if (head->held_until && head->held_until < next)
            next = head->held_until;
    }
    return next;
}

static fx_ix_pick_t s_pick(fx_ix_route_t *route, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                           uint32_t *room)
{
    return fx_ix_route_warming.pick(route, task, manager_p, room);
}

const fx_ix_route_ops_t fx_ix_route_warmwait = {
    .name = "warm-wait", .by_container = true, .pick = s_pick, .cold = s_cold, .wake = s_wake};
