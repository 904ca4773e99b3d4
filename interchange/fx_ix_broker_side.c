/*  fx_ix_broker_side.c: what the interchange says to and hears from its
    forwarder: phases 2 (read) and 6 (send) of the loop, and the link's
    liveness check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_ix_log.h"

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

static void s_on_welcome(fx_interchange_t *self, fx_msg_t *msg)
{
    if (fx_ix_link_state(self->link) == FX_IX_LINK_READY)
        return; /* an answer to an earlier hello of ours */
    bool first = !fx_ix_link_ever_ready(self->link);
    fx_ix_link_welcomed(self->link, msg->welcome.heartbeat_ms);
    self->credit_sent = false; /* the session is new: announce the window now */
    self->status_sent = false;
    if (first) {
        printf("fx-endpoint: ready endpoint_id=%s\n", self->conf->identity->endpoint_id);
        fflush(stdout);
        return;
    }
    size_t again = fx_ix_results_unacked(self->results);
    fx_ix_results_resend_all(self->results);
    size_t old = fx_ix_tasks_age(self->tasks);
    fx_ix_info("the broker welcomed this endpoint again; resending %zu unacknowledged result(s); "
               "%zu task(s) held from the earlier session are left out of the window",
               again, old);
}

static void s_on_error(fx_interchange_t *self, fx_msg_t *msg)
{
    const char *text = msg->error.text ? msg->error.text : "";
    if (msg->error.code == FX_E_NO_SESSION) {
        if (fx_ix_link_state(self->link) == FX_IX_LINK_SAYING_HELLO)
            return; /* a hello is on its way already */
        if (msg->seq && msg->seq < fx_ix_link_hello_seq(self->link))
            return; /* answers a message sent before our latest hello */
        fx_ix_info("the broker has no session for this endpoint (it restarted?): saying "
                   "ENDPOINT_HELLO again");
        self->stats.broker_rehellos++;
        fx_ix_link_hello(self->link);
        return;
    }
    bool config =
        msg->error.code == FX_E_VERSION || msg->error.code == FX_E_FORBIDDEN || msg->error.code == FX_E_AUTH;
    if (fx_ix_link_state(self->link) == FX_IX_LINK_SAYING_HELLO) {
        if (config || !fx_ix_link_ever_ready(self->link)) {
            fx_ix_error("the broker at %s refused ENDPOINT_HELLO: %s (%s); %s",
                        fx_ix_link_address(self->link), text, fx_errname(msg->error.code),
                        s_hello_advice(msg->error.code));
            self->fatal = true;
        }
        else
            fx_ix_warn("the broker refused ENDPOINT_HELLO: %s (%s); trying again in a while; %s", text,
                       fx_errname(msg->error.code), s_hello_advice(msg->error.code));
        return;
    }
    if (msg->error.code == FX_E_IO) {
        /* the broker could not commit a RESULTS batch: send it again */
        fx_ix_warn("the broker could not store results (%s); sending the %zu unacknowledged "
                   "result(s) again",
                   text, fx_ix_results_unacked(self->results));
        fx_ix_results_resend_all(self->results);
        return;
    }
    fx_ix_warn("the broker sent ERROR %s: %s", fx_errname(msg->error.code), text);
}

static void s_on_tasks(fx_interchange_t *self, fx_msg_t *msg)
{
    for (uint32_t i = 0; i < msg->tasks.count; i++) {
        fx_task_t *task = &msg->tasks.tasks[i];
        int rc = fx_ix_tasks_add(self->tasks, task);
        if (rc == FX_OK)
            self->stats.tasks_received++;
        else if (rc == FX_E_CONFLICT)
            self->stats.tasks_duplicate++; /* redelivered; the copy held here will answer */
        else
            fx_ix_error("cannot hold task %s: %s; the broker will redeliver it when this "
                        "endpoint reconnects",
                        task->task_id, fx_strerror(rc));
    }
    fx_ix_stats_note_held(&self->stats, fx_ix_held(self));
}

/* CANCEL: a task still queued here ends now with an FX_E_CANCELLED result
   (sent and kept until acked like any result); a task at a manager is
   cancelled there (the manager sends the result); unknown ids: ignored. */
static void s_on_cancel(fx_interchange_t *self, fx_msg_t *msg)
{
    if (msg->cancel.queued_only) {
        /* only tasks that have not left the broker: none here (SPEC 8.10) */
        fx_ix_warn("the broker passed on a CANCEL with queued_only 1 for %u task(s); ignored: those "
                   "tasks have left the broker",
                   msg->cancel.count);
        return;
    }
    size_t queued = 0, forwarded = 0;
    for (uint32_t i = 0; i < msg->cancel.count; i++) {
        fx_ix_task_t *t = fx_ix_tasks_find(self->tasks, msg->cancel.ids[i]);
        if (!t || t->holder)
            continue;
        fx_result_t r = {0};
        memcpy(r.task_id, t->task.task_id, sizeof r.task_id);
        r.status = FX_RESULT_ERROR;
        r.error_code = FX_E_CANCELLED;
        fx_result_set_text(&r, "cancelled before it ran (still queued at the endpoint)");
        fx_ix_tasks_done(self->tasks, &t);
        if (fx_ix_results_add(self->results, &r) != FX_OK)
            free(r.error_text);
        queued++;
    }
    forwarded = fx_ix_managers_cancel(self, msg->cancel.ids, msg->cancel.count);
    self->stats.tasks_cancelled += queued;
    fx_ix_info("CANCEL of %u task(s): %zu removed from the queue, %zu passed on to their managers, "
               "the rest unknown here",
               msg->cancel.count, queued, forwarded);
}

/* DRAIN: announce 0, dispatch no more, finish the tasks at managers and
   have their results acknowledged, then stop; tasks still queued here are
   left to the broker (it requeues them when it sees this endpoint gone).
   STOP: the same, but exit after --stop-grace-ms even if tasks remain
   (SPEC 5.21). Both are passed on to every manager. */
static void s_on_command(fx_interchange_t *self, fx_msg_t *msg)
{
    if (msg->command.command == FX_CMD_STOP && !self->stop_deadline) {
        fx_ix_info("the broker asked this endpoint to stop: announcing window 0, waiting up to "
                   "%d ms for the results of the %zu task(s) at managers",
                   self->conf->stop_grace_ms,
                   fx_ix_tasks_held(self->tasks) - fx_ix_tasks_queued(self->tasks));
        self->draining = true;
        self->stop_deadline = fx_now_ms() + self->conf->stop_grace_ms;
        fx_ix_managers_command(self, FX_CMD_STOP);
    }
    else if (msg->command.command == FX_CMD_DRAIN && !self->draining) {
        fx_ix_info("the broker asked this endpoint to drain: announcing window 0, finishing the "
                   "%zu task(s) at managers, then stopping",
                   fx_ix_tasks_held(self->tasks) - fx_ix_tasks_queued(self->tasks));
        self->draining = true;
        fx_ix_managers_command(self, FX_CMD_DRAIN);
    }
}

static void s_handle(fx_interchange_t *self, fx_msg_t *msg)
{
    switch (msg->type) {
    case FX_MSG_WELCOME:
        s_on_welcome(self, msg);
        break;
    case FX_MSG_ERROR:
        s_on_error(self, msg);
        break;
    case FX_MSG_TASKS:
        s_on_tasks(self, msg);
        break;
    case FX_MSG_RESULTS_ACK: {
        /* acks answer our RESULTS batches; any id we hold is taken as safe,
           and only now is the manager that sent it told (SPEC 6.3, 8.3) */
        fx_ix_ack_pair_t *pairs = NULL;
        size_t npairs = 0;
        self->stats.results_acked +=
            fx_ix_results_ack_senders(self->results, msg->ids.ids, msg->ids.count, &pairs, &npairs);
        fx_ix_managers_ack(self, pairs, npairs);
        free(pairs);
        break;
    }
    case FX_MSG_HEARTBEAT:
        break; /* fx_ix_link_recv noted that the broker lives */
    case FX_MSG_COMMAND:
        s_on_command(self, msg);
        break;
    case FX_MSG_CANCEL:
        s_on_cancel(self, msg);
        break;
    default: {
        fx_msg_t *err = fx_msg_new(FX_MSG_ERROR);
        if (err) {
            fx_msg_set_error(err, FX_E_UNEXPECTED,
                             "%s is not a message an endpoint expects from "
                             "the broker",
                             fx_msg_type_name(msg->type));
            fx_ix_link_send(self->link, &err, msg->seq);
        }
        fx_ix_warn("the broker sent %s, which an endpoint does not expect; ignored",
                   fx_msg_type_name(msg->type));
    }
    }
}

void fx_ix_broker_read(fx_interchange_t *self)
{
    for (int i = 0; i < FX_IX_READS_PER_PASS && !self->fatal; i++) {
        fx_msg_t *msg = NULL;
        int rc = fx_ix_link_recv(self->link, &msg);
        if (rc == FX_E_TIMEOUT)
            break;
        if (rc == FX_OK)
            s_handle(self, msg);
        fx_msg_destroy(&msg);
    }
}

/* RESULTS batches until nothing is pending or the socket is full. */
static void s_send_results(fx_interchange_t *self)
{
    while (fx_ix_results_pending(self->results) > 0) {
        fx_msg_t *msg = fx_ix_results_batch(self->results);
        if (!msg)
            return;
        size_t count = msg->results.count;
        int rc = fx_ix_link_send(self->link, &msg, FX_IX_SEQ_REQUEST);
        if (rc != FX_OK) {
            if (rc != FX_E_IO)
                fx_ix_error("cannot encode RESULTS for the broker: %s", fx_strerror(rc));
            return; /* the results stay pending: next pass */
        }
        size_t first = fx_ix_results_sent(self->results, count);
        self->stats.results_sent += first;
        self->stats.results_resent += count - first;
    }
}

static void s_send_credit(fx_interchange_t *self, bool beat)
{
    uint32_t window = fx_ix_window(self);
    if (self->credit_sent && window == self->stats.window && !beat)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    if (!msg)
        return;
    msg->credit.window = window;
    if (fx_ix_link_send(self->link, &msg, FX_IX_SEQ_NONE) == FX_OK) {
        fx_ix_stats_note_window(&self->stats, window);
        self->credit_sent = true;
    }
}

static uint32_t s_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

/* ENDPOINT_STATUS when managers, workers or free slots changed, and with
   every heartbeat. */
static void s_send_status(fx_interchange_t *self, bool beat)
{
    uint32_t now[3] = {s_u32(fx_ix_managers_size(self->managers)),
                       s_u32(fx_ix_managers_workers(self->managers)),
                       s_u32(fx_ix_managers_free(self->managers))};
    if (self->status_sent && memcmp(now, self->status, sizeof now) == 0 && !beat)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    if (!msg)
        return;
    msg->endpoint_status.managers = now[0];
    msg->endpoint_status.workers = now[1];
    msg->endpoint_status.free = now[2];
    if (fx_ix_link_send(self->link, &msg, FX_IX_SEQ_NONE) == FX_OK) {
        memcpy(self->status, now, sizeof now);
        self->status_sent = true;
    }
}

void fx_ix_broker_send(fx_interchange_t *self, int64_t now, bool beat)
{
    (void) now;
    if (fx_ix_link_state(self->link) != FX_IX_LINK_READY)
        return;
    s_send_results(self);
    s_send_credit(self, beat);
    s_send_status(self, beat);
    if (beat) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
        if (msg)
            fx_ix_link_send(self->link, &msg, FX_IX_SEQ_NONE);
    }
}

void fx_ix_broker_check(fx_interchange_t *self, int64_t now)
{
    if (!fx_ix_link_silent(self->link, now, self->conf->heartbeat_missed))
        return;
    if (fx_ix_link_ever_ready(self->link))
        fx_ix_warn("no word from the broker at %s for %d heartbeat periods: saying "
                   "ENDPOINT_HELLO again",
                   fx_ix_link_address(self->link), self->conf->heartbeat_missed);
    else
        fx_ix_warn("still waiting for the broker at %s to answer ENDPOINT_HELLO; check that "
                   "fx-broker runs there and that broker_public_key in the credentials file is "
                   "its key",
                   fx_ix_link_address(self->link));
    self->stats.broker_rehellos++;
    /* no answer: a new socket (SPEC 2.3.5), swapped in the loop's poller */
    zsock_t *old = fx_ix_link_socket(self->link);
    if (fx_ix_link_renew(self->link) == 0 && self->poller) {
        zpoller_remove(self->poller, old);
        zpoller_add(self->poller, fx_ix_link_socket(self->link));
    }
    fx_ix_link_hello(self->link);
}
