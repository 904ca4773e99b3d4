/*  fx_ix_cancel.c: CANCEL from the broker (SPEC 5.24), on both sides of
    the interchange: a task still queued here ends with an FX_E_CANCELLED
    result (sent and kept until acked like any result); a task at a manager
    is passed on in a CANCEL to that manager (one message per manager, its
    ids only), which sends the result; unknown ids are ignored. */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

/* Ends the queued tasks among ids; returns how many. */
static size_t s_cancel_queued(fx_ix_work_t *w, const fx_id_text_t *ids, uint32_t count)
{
    size_t queued = 0;
    for (uint32_t i = 0; i < count; i++) {
        fx_ix_task_t *t = fx_ix_tasks_find(w->tasks, ids[i]);
        if (!t || t->holder)
            continue;
        fx_result_t r = {0};
        memcpy(r.task_id, t->task.task_id, sizeof r.task_id);
        r.status = FX_RESULT_ERROR;
        r.error_code = FX_E_CANCELLED;
        fx_result_set_text(&r, "cancelled before it ran (still queued at the endpoint)");
        fx_ix_tasks_done(w->tasks, &t);
        if (fx_ix_results_add(w->results, &r) != FX_OK)
            free(r.error_text);
        queued++;
    }
    return queued;
}

/* CANCEL(ids) to each manager that holds some of these tasks (its ids
   only). Returns how many ids went to a manager. */
static size_t s_cancel_at_managers(fx_ix_work_t *w, fx_ix_port_t *port, const fx_id_text_t *ids,
                                   uint32_t count)
{
    size_t sent = 0;
    for (fx_ix_manager_t *m = fx_ix_managers_first(w->managers); m; m = fx_ix_managers_next(w->managers)) {
        uint32_t mine = 0;
        for (uint32_t i = 0; i < count; i++) {
            fx_ix_task_t *t = fx_ix_tasks_find(w->tasks, ids[i]);
            mine += t && t->holder == m;
        }
        fx_msg_t *msg = mine ? fx_msg_new(FX_MSG_CANCEL) : NULL;
        if (!msg || fx_msg_alloc_records(msg, mine) != FX_OK) {
            fx_msg_destroy(&msg);
            continue;
        }
        uint32_t k = 0;
        for (uint32_t i = 0; i < count && k < mine; i++) {
            fx_ix_task_t *t = fx_ix_tasks_find(w->tasks, ids[i]);
            if (t && t->holder == m)
                memcpy(msg->cancel.ids[k++], ids[i], sizeof msg->cancel.ids[0]);
        }
        if (fx_ix_port_send(port, fx_ix_manager_routing(m), &msg, 0) == FX_OK)
            sent += mine;
        else
            fx_warn("cannot pass CANCEL of %u task(s) on to manager %s", mine, fx_ix_manager_id(m));
    }
    return sent;
}

void fx_ix_cancel(fx_ix_work_t *w, fx_ix_port_t *port, const fx_msg_t *msg)
{
    if (msg->cancel.queued_only) {
        /* only tasks that have not left the broker: none here (SPEC 8.10) */
        fx_warn("the broker passed on a CANCEL with queued_only 1 for %u task(s); ignored: those "
                "tasks have left the broker",
                msg->cancel.count);
        return;
    }
    size_t queued = s_cancel_queued(w, msg->cancel.ids, msg->cancel.count);
    size_t forwarded = port ? s_cancel_at_managers(w, port, msg->cancel.ids, msg->cancel.count) : 0;
    w->stats.tasks_cancelled += queued;
    fx_info("CANCEL of %u task(s): %zu removed from the queue, %zu passed on to their managers, "
            "the rest unknown here",
            msg->cancel.count, queued, forwarded);
}
