/*  fx_ix_dispatch.c: phase 6 of the loop, dispatch. Tasks leave the front
    of the FIFO, in order, for the manager the strategy picks
    (fx_ix_strategy.h), never beyond that manager's window; then each
    manager gets what it was handed in TASKS batches of at most
    FX_BATCH_MAX. The loop does not call it while draining. */
#include "fx_ix_internal.h"
#include "fx_ix_strategy.h"
#include "fx_log.h"

/* Sends a manager its outbox, in batches of at most FX_BATCH_MAX. */
static void s_send_outbox(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_manager_t *m)
{
    zlistx_t *outbox = fx_ix_manager_outbox(m);
    while (zlistx_size(outbox) > 0) {
        size_t n = zlistx_size(outbox);
        if (n > FX_BATCH_MAX)
            n = FX_BATCH_MAX;
        fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
        if (!msg || fx_msg_alloc_records(msg, (uint32_t) n) != FX_OK) {
            fx_msg_destroy(&msg);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            fx_ix_task_t *t = zlistx_first(outbox);
            zlistx_delete(outbox, zlistx_cursor(outbox));
            if (fx_ix_task_copy(t, &msg->tasks.tasks[i]) != FX_OK)
                fx_error("out of memory copying task %s for manager %s; it is sent without "
                         "its payload",
                         t->task.task_id, fx_ix_manager_id(m));
        }
        int rc = fx_ix_port_send(port, fx_ix_manager_routing(m), &msg, 0);
        if (rc != FX_OK)
            fx_warn("cannot send %zu task(s) to manager %s (%s); they come back if the "
                    "manager is lost",
                    n, fx_ix_manager_id(m), fx_strerror(rc));
        else
            w->stats.tasks_dispatched += n;
    }
    zlistx_purge(outbox);
}

void fx_ix_dispatch(fx_ix_work_t *w, fx_ix_port_t *port)
{
    bool any = false;
    for (fx_ix_task_t *t = fx_ix_tasks_peek(w->tasks); t; t = fx_ix_tasks_peek(w->tasks)) {
        fx_ix_manager_t *m = fx_ix_strategy_pick(w->managers, t);
        if (!m)
            break;
        fx_ix_tasks_pop(w->tasks);
        if (fx_ix_manager_hold(m, t) != FX_OK) {
            fx_ix_tasks_requeue(w->tasks, t);
            break;
        }
        any = true;
    }
    if (!any)
        return;
    for (fx_ix_manager_t *m = fx_ix_managers_first(w->managers); m; m = fx_ix_managers_next(w->managers))
        s_send_outbox(w, port, m);
}
