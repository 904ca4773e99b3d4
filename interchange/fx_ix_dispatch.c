/*  fx_ix_dispatch.c: phase 6 of the loop, dispatch. Tasks leave the front
    of the FIFO, in order, for the manager the routing strategy picks
    (fx_ix_route.h), as many at once as that manager has room for, never
    beyond its window; then each manager that got some is sent one TASKS
    message with all of them (FX_BATCH_MAX at most), their frames shared,
    not copied (fx_ix_wire.h). The cost is O(1) per task and per manager
    served, whatever the number of managers. The loop does not call it
    while draining. */
#include "fx_ix_internal.h"
#include "fx_log.h"

/* Whether managers cache bodies by version (SPEC 5.6: the body the first
   time a manager session gets a version, empty after). fx-manager does not
   yet, and MANAGER_HELLO has no field saying so: until it does, every
   record carries its body. The per-manager set (fx_ix_manager_first_sight)
   is kept either way; turning this on is the one change. */
#define S_MANAGERS_CACHE_BODIES false

/* The body frame task's record to m carries (NULL: empty). */
static zframe_t *s_body_for(fx_ix_manager_t *m, const fx_ix_task_t *t)
{
    if (!t->fn)
        return t->body; /* no version: its own */
    bool first = fx_ix_manager_first_sight(m, t->function_version);
    return first || !S_MANAGERS_CACHE_BODIES ? fx_ix_task_body(t) : NULL;
}

/* Sends m the tasks handed to it in this pass (the last ones of its list),
   stamped FX_TIME_IX_DISPATCHED. */
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

void fx_ix_dispatch(fx_ix_work_t *w, fx_ix_port_t *port)
{
    fx_ix_route_t *route = fx_ix_managers_route(w->managers);
    fx_ix_scratch_t *sc = &w->scratch;
    sc->ntouched = 0;
    for (fx_ix_task_t *t = fx_ix_tasks_peek(w->tasks); t; t = fx_ix_tasks_peek(w->tasks)) {
        uint32_t room = 0;
        fx_ix_manager_t *m = fx_ix_route_pick(route, t, &room);
        if (!m)
            break;
        fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
        if (!s->touched) {
            if (fx_ix_scratch_touch(sc, m) != FX_OK)
                break; /* out of memory: the tasks wait for the next pass */
            s->touched = true;
        }
        for (uint32_t k = 0; k < room && (t = fx_ix_tasks_pop(w->tasks)) != NULL; k++) {
            fx_ix_manager_hold(m, t);
            if (++s->batch == FX_BATCH_MAX)
                s_send_batch(w, port, m); /* a full message: out now, the next ones after it */
        }
    }
    for (size_t i = 0; i < sc->ntouched; i++) {
        fx_ix_manager_t *m = sc->touched[i];
        s_send_batch(w, port, m);
        fx_ix_manager_scratch(m)->touched = false;
    }
    sc->ntouched = 0;
}
