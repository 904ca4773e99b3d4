/*  fx_ix_broker_read.c: phase 2 of the loop, what the interchange hears
    from its forwarder: TASKS into the FIFO, CANCEL, RESULTS_ACK, COMMAND,
    FUNCTION_BODIES, CONTAINERS, and the WELCOME and ERROR that move the link
    (fx_ix_link_step); and the
    link's silence check, the other event of that state machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_link.h"
#include "fx_log.h"

/* What the link's state machine (fx_ix_link_step) asks of the
   interchange. Returns false if the endpoint stops (CLOSED). */
static bool s_link_do(fx_ix_work_t *w, fx_interchange_t *ix, fx_ix_link_do_t what, const char *text)
{
    switch (what) {
    case FX_IX_LINK_DO_NOTHING:
        break;
    case FX_IX_LINK_DO_FIRST_SESSION:
        fx_ix_welcomed(ix, true);
        break;
    case FX_IX_LINK_DO_NEW_SESSION: {
        fx_ix_welcomed(ix, false);
        size_t again = fx_ix_results_unacked(w->results);
        fx_ix_results_resend_all(w->results);
        size_t old = fx_ix_tasks_age(w->tasks);
        fx_ix_fetch_session(w);
        fx_info("the broker welcomed this endpoint again; resending %zu unacknowledged result(s); "
                "%zu task(s) held from the earlier session are left out of the window",
                again, old);
        break;
    }
    case FX_IX_LINK_DO_RESEND:
        fx_warn("the broker could not store results (%s); sending the %zu unacknowledged "
                "result(s) again",
                text ? text : "", fx_ix_results_unacked(w->results));
        fx_ix_results_resend_all(w->results);
        break;
    case FX_IX_LINK_DO_COUNT_REHELLO:
        w->stats.broker_rehellos++;
        break;
    case FX_IX_LINK_DO_EXIT:
        fx_ix_refused(ix);
        return false;
    }
    return true;
}

void fx_ix_broker_tick(fx_ix_link_t *link, fx_ix_work_t *w, fx_interchange_t *ix, int64_t now)
{
    s_link_do(w, ix, fx_ix_link_step(link, FX_IX_LINK_TICK, NULL, now), NULL);
}

/* CONTAINERS (SPEC 5.35): the definitions, kept by id; a changed one goes
   to each manager again before its next task naming it. */
static void s_on_containers(fx_ix_work_t *w, const fx_msg_t *msg)
{
    fx_ix_containers_t *cs = fx_ix_managers_containers(w->managers);
    for (uint32_t i = 0; i < msg->containers.count; i++) {
        const fx_container_def_t *def = &msg->containers.containers[i];
        if (fx_ix_containers_define(cs, def) == FX_IX_SLOT_NONE)
            fx_warn("cannot keep the definition of container %s (%s): %s", def->container_id, def->name,
                    def->container_id[0] ? "too many containers" : "no id");
        w->stats.container_defs++;
    }
}

static void s_on_tasks(fx_ix_work_t *w, fx_msg_t *msg)
{
    uint64_t now = (uint64_t) fx_wall_us(); /* one stamp for the whole message: it was read now */
    for (uint32_t i = 0; i < msg->tasks.count; i++) {
        fx_task_t *task = &msg->tasks.tasks[i];
        task->times[FX_TIME_IX_RECEIVED] = now;
        if (!fx_ix_allowed_check(w, task))
            continue; /* ended here with FX_E_FORBIDDEN */
        uint32_t slot = fx_ix_containers_slot(fx_ix_managers_containers(w->managers), task->container, true);
        int rc = fx_ix_tasks_add_in(w->tasks, task, slot);
        if (rc == FX_OK) {
            w->stats.tasks_received++;
            fx_ix_fetch_task(w, fx_ix_tasks_find(w->tasks, task->task_id));
        }
        else if (rc == FX_E_CONFLICT)
            w->stats.tasks_duplicate++; /* redelivered; the copy held here will answer */
        else
            fx_error("cannot hold task %s: %s; the broker will redeliver it when this "
                     "endpoint reconnects",
                     task->task_id, fx_strerror(rc));
    }
    fx_ix_stats_note_held(&w->stats, fx_ix_held(w));
}

/* One message; false if reading must stop (refused for good). First
   proto's one arrival check (fx_link_admit, SPEC 5.26.1); "in session"
   for this connecting side means welcomed at least once in this run, so
   what the broker sent before it lost an earlier session (a RESULTS_ACK,
   say) is still taken while the link is back in HELLO_SENT (SPEC 6.2). */
static bool s_handle(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_port_t *port, fx_interchange_t *ix,
                     fx_msg_t *msg)
{
    fx_admit_t verdict =
        fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_SERVING, fx_ix_link_sessions(link) > 0, msg->type);
    switch (verdict) {
    case FX_ADMIT_REPORT:
        return s_link_do(w, ix, fx_ix_link_step(link, FX_IX_LINK_ERROR, msg, fx_now_ms()), msg->error.text);
    case FX_ADMIT_HELLO:
        return s_link_do(w, ix, fx_ix_link_step(link, FX_IX_LINK_WELCOME, msg, fx_now_ms()), NULL);
    case FX_ADMIT_NO_SESSION:
    case FX_ADMIT_UNEXPECTED: {
        char text[FX_TEXT_MAX + 1];
        fx_link_refusal(FX_LINK_ENDPOINT, FX_FROM_SERVING, verdict, msg->type, text, sizeof text);
        fx_msg_t *err = fx_msg_new(FX_MSG_ERROR);
        if (err) {
            fx_msg_set_error(err, fx_link_refusal_code(verdict), "%s", text);
            fx_ix_link_send(link, &err, msg->seq);
        }
        fx_warn("the broker sent %s, refused: %s", fx_msg_type_name(msg->type), text);
        return true;
    }
    case FX_ADMIT_OK:
        break;
    }
    switch (msg->type) {
    case FX_MSG_TASKS:
        s_on_tasks(w, msg);
        break;
    case FX_MSG_RESULTS_ACK:
        fx_ix_acks(w, port, msg);
        break;
    case FX_MSG_COMMAND:
        fx_ix_command(ix, msg->command.command);
        break;
    case FX_MSG_CANCEL:
        fx_ix_cancel(w, port, msg);
        break;
    case FX_MSG_FUNCTION_BODIES:
        fx_ix_fetch_bodies(w, msg);
        break;
    case FX_MSG_CONTAINERS:
        s_on_containers(w, msg);
        break;
    default:
        break; /* HEARTBEAT: fx_ix_link_recv noted that the broker lives */
    }
    return true;
}

void fx_ix_broker_read(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_port_t *port, fx_interchange_t *ix)
{
    bool go_on = true;
    for (int i = 0; i < FX_IX_READS_PER_PASS && go_on; i++) {
        fx_msg_t *msg = NULL;
        int rc = fx_ix_link_recv(link, &msg);
        if (rc == FX_E_TIMEOUT)
            break;
        if (rc == FX_OK)
            go_on = s_handle(link, w, port, ix, msg);
        fx_msg_destroy(&msg);
    }
}
