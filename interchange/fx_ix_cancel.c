/*  fx_ix_cancel.c: CANCEL from the broker (SPEC 5.24), on both sides of
    the interchange: a task still queued here ends with an FX_E_CANCELLED
    result (sent and kept until acked like any result); a task at a manager
    is passed on in a CANCEL to that manager (one message per manager, its
    ids only), which sends the result; unknown ids are ignored. O(1) per id:
    each task names its holder, which gathers its ids. */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

void fx_ix_task_end(fx_ix_work_t *w, fx_ix_task_t *t, int code, const char *text)
{
    fx_result_t r = {0};
    memcpy(r.task_id, t->task_id, sizeof r.task_id);
    memcpy(r.times, t->times, sizeof r.times);
    r.status = FX_RESULT_ERROR;
    r.error_code = (uint16_t) code;
    fx_result_set_text(&r, text);
    fx_ix_tasks_done(w->tasks, &t);
    if (fx_ix_results_add(w->results, &r) != FX_OK)
        free(r.error_text);
}

/* CANCEL with the ids m gathered. Returns how many went. */
static uint32_t s_cancel_at(fx_ix_port_t *port, fx_ix_manager_t *m)
{
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    uint32_t n = s->nids;
    s->nids = 0;
    s->touched = false;
    fx_msg_t *msg = fx_msg_new(FX_MSG_CANCEL);
    if (!msg || fx_msg_alloc_records(msg, n) != FX_OK) {
        fx_msg_destroy(&msg);
        return 0;
    }
    memcpy(msg->cancel.ids, s->ids, n * sizeof *s->ids);
    if (fx_ix_port_send_to(port, m, &msg) == FX_OK)
        return n;
    fx_warn("cannot pass CANCEL of %u task(s) on to manager %s", n, fx_ix_manager_id(m));
    return 0;
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
    size_t queued = 0, forwarded = 0;
    w->scratch.ntouched = 0;
    for (uint32_t i = 0; i < msg->cancel.count; i++) {
        fx_ix_task_t *t = fx_ix_tasks_find(w->tasks, msg->cancel.ids[i]);
        if (!t)
            continue;
        if (!t->holder) {
            fx_ix_task_end(w, t, FX_E_CANCELLED, "cancelled before it ran (still queued at the endpoint)");
            queued++;
            continue;
        }
        fx_ix_manager_t *m = t->holder;
        fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
        if (!port || (!s->touched && fx_ix_scratch_touch(&w->scratch, m) != FX_OK))
            continue;
        s->touched = true;
        fx_ix_manager_gather(m, t->task_id); /* on OOM that task is not cancelled; the broker may ask again */
    }
    for (size_t i = 0; i < w->scratch.ntouched; i++)
        forwarded += s_cancel_at(port, w->scratch.touched[i]);
    w->scratch.ntouched = 0;
    w->stats.tasks_cancelled += queued;
    fx_info("CANCEL of %u task(s): %zu removed from the queue, %zu passed on to their managers, "
            "the rest unknown here",
            msg->cancel.count, queued, forwarded);
}
