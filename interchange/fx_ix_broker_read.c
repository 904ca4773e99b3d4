/*  fx_ix_broker_read.c: phase 2 of the loop, what the interchange hears
    from its forwarder: TASKS into the FIFO, CANCEL, RESULTS_ACK, COMMAND,
    and the WELCOME and ERROR that move the link. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

/* What to do when the broker refuses ENDPOINT_HELLO, by code. */
static const char *s_hello_advice(int code)
{
    switch (code) {
    case FX_E_AUTH:
    case FX_E_NOT_FOUND:
    case FX_E_FORBIDDEN:
        return "the broker does not know this endpoint or its key: check that --dir and --creds "
               "belong together, or start with an empty --dir to register a new endpoint";
    case FX_E_VERSION:
        return "run fx-endpoint from the same fx release as the broker";
    default:
        return "see the broker's log for the cause";
    }
}

static void s_on_welcome(fx_ix_link_t *link, fx_ix_work_t *w, fx_interchange_t *ix, fx_msg_t *msg)
{
    if (fx_ix_link_state(link) == FX_IX_LINK_READY)
        return; /* an answer to an earlier hello of ours */
    bool first = !fx_ix_link_ever_ready(link);
    fx_ix_link_welcomed(link, msg->welcome.heartbeat_ms);
    fx_ix_welcomed(ix, first);
    if (first)
        return;
    size_t again = fx_ix_results_unacked(w->results);
    fx_ix_results_resend_all(w->results);
    size_t old = fx_ix_tasks_age(w->tasks);
    fx_info("the broker welcomed this endpoint again; resending %zu unacknowledged result(s); "
               "%zu task(s) held from the earlier session are left out of the window",
               again, old);
}

/* Returns false if the broker refused this endpoint for good. */
static bool s_on_error(fx_ix_link_t *link, fx_ix_work_t *w, fx_interchange_t *ix, fx_msg_t *msg)
{
    const char *text = msg->error.text ? msg->error.text : "";
    if (msg->error.code == FX_E_NO_SESSION) {
        if (fx_ix_link_state(link) == FX_IX_LINK_SAYING_HELLO)
            return true; /* a hello is on its way already */
        if (msg->seq && msg->seq < fx_ix_link_hello_seq(link))
            return true; /* answers a message sent before our latest hello */
        fx_info("the broker has no session for this endpoint (it restarted?): saying "
                   "ENDPOINT_HELLO again");
        w->stats.broker_rehellos++;
        fx_ix_link_hello(link);
        return true;
    }
    bool config =
        msg->error.code == FX_E_VERSION || msg->error.code == FX_E_FORBIDDEN || msg->error.code == FX_E_AUTH;
    if (fx_ix_link_state(link) == FX_IX_LINK_SAYING_HELLO) {
        if (config || !fx_ix_link_ever_ready(link)) {
            fx_error("the broker at %s refused ENDPOINT_HELLO: %s (%s); %s", fx_ix_link_address(link), text,
                        fx_errname(msg->error.code), s_hello_advice(msg->error.code));
            fx_ix_refused(ix);
            return false;
        }
        else
            fx_warn("the broker refused ENDPOINT_HELLO: %s (%s); trying again in a while; %s", text,
                       fx_errname(msg->error.code), s_hello_advice(msg->error.code));
        return true;
    }
    if (msg->error.code == FX_E_IO) {
        /* the broker could not commit a RESULTS batch: send it again */
        fx_warn("the broker could not store results (%s); sending the %zu unacknowledged "
                   "result(s) again",
                   text, fx_ix_results_unacked(w->results));
        fx_ix_results_resend_all(w->results);
        return true;
    }
    fx_warn("the broker sent ERROR %s: %s", fx_errname(msg->error.code), text);
    return true;
}

static void s_on_tasks(fx_ix_work_t *w, fx_msg_t *msg)
{
    for (uint32_t i = 0; i < msg->tasks.count; i++) {
        fx_task_t *task = &msg->tasks.tasks[i];
        int rc = fx_ix_tasks_add(w->tasks, task);
        if (rc == FX_OK)
            w->stats.tasks_received++;
        else if (rc == FX_E_CONFLICT)
            w->stats.tasks_duplicate++; /* redelivered; the copy held here will answer */
        else
            fx_error("cannot hold task %s: %s; the broker will redeliver it when this "
                        "endpoint reconnects",
                        task->task_id, fx_strerror(rc));
    }
    fx_ix_stats_note_held(&w->stats, fx_ix_held(w));
}

/* One message; false if reading must stop (refused for good). */
static bool s_handle(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_port_t *port, fx_interchange_t *ix,
                     fx_msg_t *msg)
{
    switch (msg->type) {
    case FX_MSG_WELCOME:
        s_on_welcome(link, w, ix, msg);
        break;
    case FX_MSG_ERROR:
        return s_on_error(link, w, ix, msg);
    case FX_MSG_TASKS:
        s_on_tasks(w, msg);
        break;
    case FX_MSG_RESULTS_ACK:
        fx_ix_acks(w, port, msg);
        break;
    case FX_MSG_HEARTBEAT:
        break; /* fx_ix_link_recv noted that the broker lives */
    case FX_MSG_COMMAND:
        fx_ix_command(ix, msg->command.command);
        break;
    case FX_MSG_CANCEL:
        fx_ix_cancel(w, port, msg);
        break;
    default: {
        fx_msg_t *err = fx_msg_new(FX_MSG_ERROR);
        if (err) {
            fx_msg_set_error(err, FX_E_UNEXPECTED,
                             "%s is not a message an endpoint expects from "
                             "the broker",
                             fx_msg_type_name(msg->type));
            fx_ix_link_send(link, &err, msg->seq);
        }
        fx_warn("the broker sent %s, which an endpoint does not expect; ignored",
                   fx_msg_type_name(msg->type));
    }
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
