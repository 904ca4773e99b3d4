/*  fx_ix_dispatch.c: phase 6 of the loop, dispatch. For the strategies
    that route by container (SPEC 7.9): the FIFO's front while its
    container has no worker anywhere, then each container's queued tasks
    to the managers with idle warm workers for it, then cold starts where
    the strategy's own choice says (warm-wait). Then tasks leave the front
    of the FIFO, in order, for the manager the routing strategy picks
    (fx_ix_route.h), as many at once as that manager has room for among
    the tasks of the front one's container, never beyond its window; then each manager that got some is sent one TASKS message
    with all of them (FX_BATCH_MAX at most), their frames shared, not
    copied (fx_ix_wire.h), after CONTAINERS with the definitions of the
    containers they name that its session lacks (SPEC 5.35). The cost is
    O(1) per task and per manager served, whatever the number of managers.
    The loop does not call it while draining. */
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

/* Managers cache bodies by version (SPEC 5.6: the body the first time a
   manager session gets a version, empty after; 12.1.4): every manager of
   this protocol version does, so the version is the announcement on this
   link. The per-manager set is fx_ix_manager_first_sight. */
#define S_MANAGERS_CACHE_BODIES true

/* The body frame task's record to m carries (NULL: empty). */
static zframe_t *s_body_for(fx_ix_manager_t *m, const fx_ix_task_t *t)
{
    if (!t->fn)
        return t->body; /* no version: its own */
    bool first = fx_ix_manager_first_sight(m, t->function_version);
    return first || !S_MANAGERS_CACHE_BODIES ? fx_ix_task_body(t) : NULL;
}

/* CONTAINERS before the TASKS of a batch (SPEC 5.35): the definitions
   of the containers the n tasks from t on name that this manager session
   was not sent yet, or was sent an older generation of. */
static void s_send_definitions(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_manager_t *m, fx_ix_task_t *t,
                               uint32_t n)
{
    fx_ix_containers_t *cs = fx_ix_managers_containers(w->managers);
    fx_msg_t *msg = NULL;
    for (uint32_t i = 0; i < n; i++, t = fx_ix_manager_after(m, t)) {
        if (t->slot == FX_IX_SLOT_HOST || t->slot == FX_IX_SLOT_NONE)
            continue;
        fx_ix_container_t *c = fx_ix_containers_at(cs, t->slot);
        fx_ix_mc_t *mc = fx_ix_manager_mc(m, t->slot);
        if (!c || !mc || mc->sent_gen == c->gen)
            continue;
        if (c->gen == 0) {
            if (!c->warned)
                fx_warn("tasks name container %s but the broker sent no definition of it; the "
                        "managers cannot start it",
                        c->id);
            c->warned = true;
            continue;
        }
        if (!msg) {
            msg = fx_msg_new(FX_MSG_CONTAINERS);
            if (!msg || fx_msg_alloc_records(msg, FX_CONTAINERS_MAX) != FX_OK) {
                fx_msg_destroy(&msg);
                return; /* out of memory: sent with the next batch */
            }
            msg->containers.count = 0; /* room for them all, none filled yet */
        }
        if (msg->containers.count == FX_CONTAINERS_MAX)
            break; /* the rest with the next batch */
        msg->containers.containers[msg->containers.count++] = c->def;
        mc->sent_gen = c->gen;
    }
    if (!msg)
        return;
    uint32_t count = msg->containers.count;
    fx_container_def_t sent[FX_CONTAINERS_MAX];
    memcpy(sent, msg->containers.containers, count * sizeof sent[0]);
    int rc = count ? fx_ix_port_send_to(port, m, &msg) : FX_OK;
    fx_msg_destroy(&msg);
    if (rc == FX_OK) {
        w->stats.container_defs_sent += count;
        return;
    }
    fx_warn("cannot send %u container definition(s) to manager %s (%s); they go with its next tasks",
            count, fx_ix_manager_id(m), fx_strerror(rc));
    for (uint32_t i = 0; i < count; i++) {
        fx_ix_mc_t *mc = fx_ix_manager_mc(
            m, fx_ix_containers_slot(cs, sent[i].container_id, false));
        if (mc)
            mc->sent_gen = 0;
    }
}

/* Sends m the tasks handed to it in this pass (the last ones of its list),
   stamped FX_TIME_IX_DISPATCHED, after the definitions they need. */
static void s_send_batch(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_manager_t *m)
{
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    uint32_t n = s->batch;
    s->batch = 0;
    if (n == 0 || fx_ix_scratch_reserve(&w->scratch, n, 0) != FX_OK) {
        if (n)
            fx_error("out of memory sending %u task(s) to manager %s; they come back if the manager is lost",
                     n, fx_ix_manager_id(m));
        return;
    }
    fx_task_t *records = w->scratch.tasks;
    zframe_t **frames = w->scratch.frames;
    uint64_t now = (uint64_t) fx_wall_us();
    /* the batch is the last n tasks handed to m, in the order handed
       (which the manager reads them in: a version's body goes with the
       first of its records) */
    fx_ix_task_t *t = fx_ix_manager_last(m);
    for (uint32_t i = 1; i < n; i++)
        t = fx_ix_manager_before(m, t);
    if (s->containers) {
        s_send_definitions(w, port, m, t, n);
        s->containers = false;
    }
    for (uint32_t i = 0; i < n; i++, t = fx_ix_manager_after(m, t)) {
        t->times[FX_TIME_IX_DISPATCHED] = now;
        fx_ix_task_fill(t, &records[i]);
        frames[2 * i] = s_body_for(m, t);
        frames[2 * i + 1] = t->payload;
    }
    fx_msg_t msg = {.type = FX_MSG_TASKS, .tasks = {.count = n, .tasks = records}};
    int rc = fx_ix_port_send_shared(port, m, &msg, frames, 2 * (size_t) n);
    if (rc != FX_OK) {
        fx_ix_manager_forget_sights(m); /* what it was sent is unknown now */
        fx_warn("cannot send %u task(s) to manager %s (%s); they come back if the manager is lost", n,
                fx_ix_manager_id(m), fx_strerror(rc));
    }
    else
        w->stats.tasks_dispatched += n;
}

/* m among the managers sent to at the end of this pass; false on OOM. */
static bool s_touch(fx_ix_work_t *w, fx_ix_manager_t *m)
{
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    if (!s->touched) {
        if (fx_ix_scratch_touch(&w->scratch, m) != FX_OK)
            return false;
        s->touched = true;
    }
    return true;
}

/* Hand t (out of every list) to m (touched), in its batch of this pass; a
   full batch goes out now. */
static void s_give(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_manager_t *m, fx_ix_task_t *t)
{
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    fx_ix_manager_hold(m, t);
    s->containers |= t->slot != FX_IX_SLOT_HOST;
    if (++s->batch == FX_BATCH_MAX)
        s_send_batch(w, port, m); /* a full message: out now, the next ones after it */
}

/* Before the warm workers are served: the FIFO's front, while its
   container has no worker at any manager and no task at one, takes the
   first room a manager has (a cold start, or a wait there), even over
   tasks that an idle warm worker could run. Without it a container with no
   worker would wait as long as warm workers of others keep freeing up and
   finding work: the oldest head of such a container is never starved.
   A container with a worker is served by it (s_serve_warm). O(1) per
   task handed. */
static void s_serve_unserved(fx_ix_work_t *w, fx_ix_port_t *port)
{
    fx_ix_route_t *route = fx_ix_managers_route(w->managers);
    fx_ix_containers_t *cs = fx_ix_managers_containers(w->managers);
    fx_ix_task_t *t;
    while ((t = fx_ix_tasks_peek(w->tasks)) != NULL) {
        const fx_ix_container_t *c = fx_ix_containers_at(cs, t->slot);
        if (!c || c->workers + c->backlog > 0)
            return;
        uint32_t room = 0;
        fx_ix_manager_t *m = fx_ix_route_fallback(route, t->slot, &room);
        if (!m || room == 0 || !s_touch(w, m))
            return;
        fx_ix_tasks_take(w->tasks, t);
        s_give(w, port, m, t); /* in flight now: its container is served */
    }
}

/* Containers first (strategies by_container: warming-aware, warm-wait):
   each container with queued tasks and a manager with an idle warm worker
   for it (the ready list, fx_ix_containers.h) sends its oldest queued
   tasks to those managers, wherever they stand in the FIFO, until its
   lane or its idle warm workers run out; the containers take turns. Only
   then does the FIFO's front get cold starts (SPEC 7.9). O(1) per task
   handed, and per container served. */
static void s_serve_warm(fx_ix_work_t *w, fx_ix_port_t *port)
{
    fx_ix_route_t *route = fx_ix_managers_route(w->managers);
    fx_ix_list_t *ready = fx_ix_containers_ready(fx_ix_managers_containers(w->managers));
    fx_ix_node_t *node;
    while ((node = fx_ix_list_first(ready)) != NULL) {
        fx_ix_container_t *c = FX_IX_RECORD(node, fx_ix_container_t, ready);
        fx_ix_list_move_back(ready, node); /* turns: the next container first next time */
        uint32_t room = 0;
        fx_ix_manager_t *m = fx_ix_route_warm(route, c->slot, &room);
        if (!m || room == 0 || !s_touch(w, m))
            break; /* cannot happen (a ready slot has an idle warm worker with room), or out of memory */
        fx_ix_task_t *t;
        for (uint32_t k = 0; k < room && (t = fx_ix_tasks_lane_first(w->tasks, c->slot)) != NULL; k++) {
            c->held_served += t->held_until != 0; /* warm-wait refused it a cold start: it waited */
            fx_ix_tasks_take(w->tasks, t);
            s_give(w, port, m, t);
        }
    }
}

/* Cold starts as the strategy's cold says (warm-wait): one task at a time,
   the oldest of the container it names, to the next manager with
   cold_free (round robin), else with room, until it names none or no
   manager has room. */
static void s_serve_cold(fx_ix_work_t *w, fx_ix_port_t *port, int64_t now)
{
    fx_ix_route_t *route = fx_ix_managers_route(w->managers);
    const fx_ix_route_ops_t *ops = fx_ix_route_ops(route);
    fx_ix_container_t *c;
    while (fx_ix_route_has_room(route) && (c = ops->cold(route, now)) != NULL) {
        uint32_t room = 0;
        fx_ix_manager_t *m = fx_ix_route_fallback(route, c->slot, &room);
        fx_ix_task_t *t = fx_ix_tasks_lane_first(w->tasks, c->slot);
        if (!m || room == 0 || !t || !s_touch(w, m))
            return;
        fx_ix_tasks_take(w->tasks, t);
        s_give(w, port, m, t);
    }
}

void fx_ix_dispatch(fx_ix_work_t *w, fx_ix_port_t *port)
{
    fx_ix_route_t *route = fx_ix_managers_route(w->managers);
    fx_ix_scratch_t *sc = &w->scratch;
    int64_t now = fx_now_ms();
    sc->ntouched = 0;
    if (fx_ix_route_by_container(route)) {
        s_serve_unserved(w, port);
        s_serve_warm(w, port);
    }
    bool cold_op = fx_ix_route_ops(route)->cold != NULL;
    if (cold_op)
        s_serve_cold(w, port, now);
    /* the FIFO's front, in order: every strategy without its own cold
       choice, and with one the tasks of no container record (past the slots) */
    fx_ix_containers_t *cs = fx_ix_managers_containers(w->managers);
    for (fx_ix_task_t *t = fx_ix_tasks_peek(w->tasks); t && !(cold_op && fx_ix_containers_at(cs, t->slot));
         t = fx_ix_tasks_peek(w->tasks)) {
        uint32_t room = 0;
        fx_ix_manager_t *m = NULL;
        if (fx_ix_route_choose(route, t, &m, &room) == FX_IX_PICK_NONE)
            break;
        if (!s_touch(w, m))
            break; /* out of memory: the tasks wait for the next pass */
        /* room is for tasks like the front one: of its container */
        uint32_t slot = t->slot;
        for (uint32_t k = 0; k < room && (t = fx_ix_tasks_peek(w->tasks)) != NULL && t->slot == slot; k++)
            {
            fx_ix_tasks_pop(w->tasks);
            s_give(w, port, m, t);
        }
    }
    for (size_t i = 0; i < sc->ntouched; i++) {
        fx_ix_manager_t *m = sc->touched[i];
        s_send_batch(w, port, m);
        fx_ix_manager_scratch(m)->touched = false;
    }
    sc->ntouched = 0;
}

int64_t fx_ix_dispatch_next(fx_ix_work_t *w)
{
    const fx_ix_route_ops_t *ops = fx_ix_route_ops(fx_ix_managers_route(w->managers));
    return ops->wake ? ops->wake(fx_ix_managers_route(w->managers)) : INT64_MAX;
}
