/*  fx_ix_manager_side.c: the managers' ROUTER and its ZAP handler: phases
    1 (ZAP), 3 (manager messages), 4 (expiry) and 5 (dispatch). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_strategy.h"
#include "fx_ix_internal.h"
#include "fx_ix_log.h"

#define S_ZAP_DOMAIN "fx-manager"
#define S_USER_ID "manager"

/* The address local managers dial: the bound one, with a wildcard host
   replaced by loopback. */
static void s_dial_address(const char *bound, char *out, size_t cap)
{
    const char *colon = strrchr(bound, ':');
    if (strncmp(bound, "tcp://", 6) == 0 && colon && colon > bound + 6)
        snprintf(out, cap, "tcp://127.0.0.1%s", colon);
    else
        snprintf(out, cap, "%s", bound);
}

int fx_ix_manager_side_bind(fx_interchange_t *self, char *err, size_t errlen)
{
    self->zap = fx_zap_bind();
    if (!self->zap) {
        snprintf(err, errlen, "cannot bind the ZAP handler (another one is bound in this process)");
        return -1;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    if (!self->router) {
        snprintf(err, errlen, "cannot make the managers' socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    fx_curve_server(self->router, &self->conf->identity->endpoint_kp, S_ZAP_DOMAIN);
    zsock_set_linger(self->router, 200); /* the last COMMAND STOP still goes out on exit */
    zsock_set_maxmsgsize(self->router, (int) FX_WIRE_FRAME_MAX);
    const char *want = self->conf->manager_bind;
    int rc = zsock_bind(self->router, "%s", want);
    if (rc == -1 && want == self->conf->identity->manager_bind) {
        fx_ix_warn("cannot bind the managers' address %s kept in endpoint.conf (%s); binding a "
                   "free port instead: managers of the earlier run cannot come back",
                   want, zmq_strerror(zmq_errno()));
        rc = zsock_bind(self->router, "tcp://127.0.0.1:0");
    }
    if (rc == -1) {
        snprintf(err, errlen,
                 "cannot bind the managers' address %s (%s); pass another "
                 "--manager-bind, e.g. tcp://127.0.0.1:0 for a free port",
                 want, zmq_strerror(zmq_errno()));
        return -1;
    }
    char *bound = zsock_last_endpoint(self->router);
    if (!bound) {
        snprintf(err, errlen, "cannot read back the managers' bound address: out of memory");
        return -1;
    }
    s_dial_address(bound, self->manager_addr, sizeof self->manager_addr);
    printf("fx-endpoint: managers=%s\n", bound);
    fflush(stdout);
    char why[512];
    if (fx_ix_identity_save_bind(self->conf->identity, bound, why, sizeof why) != 0)
        fx_ix_warn("%s; managers will not find this endpoint again after a restart", why);
    zstr_free(&bound);
    return 0;
}

void fx_ix_zap_read(fx_interchange_t *self)
{
    for (int i = 0; i < FX_IX_READS_PER_PASS && (zsock_events(self->zap) & ZMQ_POLLIN); i++) {
        fx_zap_request_t req;
        if (fx_zap_recv(self->zap, &req) != 0)
            continue; /* answered 400 already */
        bool allow = strcmp(req.domain, S_ZAP_DOMAIN) == 0 && strcmp(req.mechanism, "CURVE") == 0 &&
                     strcmp(req.client_key, self->conf->identity->manager_kp.public_key) == 0;
        if (!allow)
            fx_ix_warn("refused a connection to the managers' port: domain '%s', mechanism %s, "
                       "key %s is not this endpoint's manager key (%s)",
                       req.domain, req.mechanism, req.client_key[0] ? req.client_key : "-",
                       self->conf->identity->manager_key_path);
        fx_zap_reply(self->zap, &req, allow, S_USER_ID);
    }
}

/* Sends msg (destroyed) to one manager with seq: a reply echoes its
   request's; TASKS, COMMAND and HEARTBEAT are not requests and carry 0
   (SPEC 3.6). */
static int s_send(fx_interchange_t *self, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    (*msg_p)->seq = seq;
    return fx_msg_send(msg_p, self->router, routing);
}

/* Refuse a manager's message: count it, log it and answer ERROR with the
   message's seq, within FX_IX_ERRORS_PER_SEC. */
static void s_refuse(fx_interchange_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void s_refuse(fx_interchange_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
{
    self->stats.bad_messages++;
    int64_t now = fx_now_ms();
    if (now - self->error_second >= 1000) {
        if (self->errors_this_second > FX_IX_ERRORS_PER_SEC)
            fx_ix_warn("%d more refused manager messages in the last second were not answered",
                       self->errors_this_second - FX_IX_ERRORS_PER_SEC);
        self->error_second = now;
        self->errors_this_second = 0;
    }
    if (++self->errors_this_second > FX_IX_ERRORS_PER_SEC) {
        self->stats.errors_suppressed++;
        return;
    }
    char text[FX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_ix_warn("refused a manager's message (%s): %s", fx_errname(code), text);
    fx_send_error(self->router, routing, seq, code, "%s", text);
}

static void s_on_hello(fx_interchange_t *self, zframe_t *routing, fx_msg_t *msg)
{
    fx_ix_manager_t *m = fx_ix_managers_hello(self->managers, routing, msg, fx_now_ms(), self->orphans);
    fx_ix_requeue_orphans(self);
    if (!m) {
        fx_send_error(self->router, routing, msg->seq, FX_E_NOMEM,
                      "the endpoint is out of memory; try again later");
        return;
    }
    fx_ix_info("manager %s connected (host %s, pid %u, %u workers, version %s)",
               msg->manager_hello.manager_id, msg->manager_hello.host, msg->manager_hello.pid,
               msg->manager_hello.workers, msg->manager_hello.version);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    if (welcome) {
        memcpy(welcome->welcome.id, msg->manager_hello.manager_id, sizeof welcome->welcome.id);
        fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
        welcome->welcome.heartbeat_ms = (uint32_t) self->conf->heartbeat_ms;
    }
    s_send(self, routing, &welcome, msg->seq);
}

/* Results from a manager: the tasks are no longer held; the first result
   of each task goes on to the broker, results for tasks not held here
   included (an adopted manager's, SPEC 9.7). The manager is remembered as
   the result's sender: it gets RESULTS_ACK once the broker has acked the
   result (fx_ix_managers_ack), never before (SPEC 6.3, 8.3). */
static void s_on_results(fx_interchange_t *self, fx_ix_manager_t *m, fx_msg_t *msg)
{
    for (uint32_t i = 0; i < msg->results.count; i++) {
        fx_result_t *r = &msg->results.results[i];
        fx_ix_task_t *t = fx_ix_tasks_find(self->tasks, r->task_id);
        if (t) {
            if (t->holder)
                fx_ix_manager_release(t->holder, t);
            fx_ix_tasks_done(self->tasks, &t);
        }
        self->stats.results_received++;
        if (fx_ix_results_add_from(self->results, r, fx_ix_manager_id(m)) == FX_E_NOMEM)
            fx_ix_error("out of memory: dropped the result of task %s (the broker will "
                        "redeliver the task)",
                        r->task_id);
        /* FX_E_CONFLICT: a result for this task is on its way already; this
           manager is acked along with it */
    }
}

static void s_on_credit(fx_interchange_t *self, zframe_t *routing, fx_ix_manager_t *m, fx_msg_t *msg)
{
    if (msg->credit.window > FX_IX_MANAGER_WINDOW_MAX) {
        s_refuse(self, routing, msg->seq, FX_E_BAD_FIELD,
                 "CREDIT window %u is over the endpoint's limit of %u per manager; announce "
                 "workers + prefetch",
                 msg->credit.window, FX_IX_MANAGER_WINDOW_MAX);
        return;
    }
    fx_ix_manager_set_window(m, msg->credit.window);
}

/* One message from the managers' ROUTER. */
static void s_read_one(fx_interchange_t *self, zmsg_t *zmsg)
{
    fx_msg_t *msg = NULL;
    zframe_t *routing = zmsg_pop(zmsg);
    zframe_t *header = zmsg_first(zmsg);
    if (!routing || !header)
        goto done; /* nobody to answer */
    const char *user = fx_peer_user_id(header);
    if (!user || strcmp(user, S_USER_ID) != 0) {
        s_refuse(self, routing, 0, FX_E_AUTH,
                 "this port serves the endpoint's managers only; connect with its manager.key");
        goto done;
    }
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    if (rc != FX_OK) {
        s_refuse(self, routing, seq, rc,
                 "the endpoint cannot read your message: %s (%s); run a manager from the "
                 "same fx release",
                 fx_strerror(rc), detail);
        goto done;
    }
    fx_ix_manager_t *m = fx_ix_managers_lookup(self->managers, routing);
    if (m)
        fx_ix_manager_heard(m, fx_now_ms());
    if (msg->type == FX_MSG_MANAGER_HELLO) {
        s_on_hello(self, routing, msg);
        goto done;
    }
    if (msg->type == FX_MSG_ERROR) {
        fx_ix_warn("manager %s sent ERROR %s: %s", m ? fx_ix_manager_id(m) : "(no session)",
                   fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        goto done;
    }
    if (!m) {
        s_refuse(self, routing, msg->seq, FX_E_NO_SESSION,
                 "%s from a connection without a session (no MANAGER_HELLO yet, or the endpoint "
                 "declared this manager lost or restarted): say MANAGER_HELLO again",
                 fx_msg_type_name(msg->type));
        goto done;
    }
    switch (msg->type) {
    case FX_MSG_CREDIT:
        s_on_credit(self, routing, m, msg);
        break;
    case FX_MSG_RESULTS:
        s_on_results(self, m, msg);
        break;
    case FX_MSG_HEARTBEAT:
        break;
    default:
        s_refuse(self, routing, msg->seq, FX_E_UNEXPECTED,
                 "%s is not a message a manager sends to its endpoint", fx_msg_type_name(msg->type));
    }
done:
    fx_msg_destroy(&msg);
    zframe_destroy(&routing);
}

void fx_ix_manager_read(fx_interchange_t *self)
{
    for (int i = 0; i < FX_IX_READS_PER_PASS && (zsock_events(self->router) & ZMQ_POLLIN); i++) {
        zmsg_t *zmsg = zmsg_recv(self->router);
        if (!zmsg)
            break;
        s_read_one(self, zmsg);
        zmsg_destroy(&zmsg);
    }
}

void fx_ix_managers_beat(fx_interchange_t *self)
{
    for (fx_ix_manager_t *m = fx_ix_managers_first(self->managers); m;
         m = fx_ix_managers_next(self->managers)) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
        s_send(self, fx_ix_manager_routing(m), &msg, 0);
    }
}

void fx_ix_managers_command(fx_interchange_t *self, int command)
{
    if (!self->router)
        return;
    for (fx_ix_manager_t *m = fx_ix_managers_first(self->managers); m;
         m = fx_ix_managers_next(self->managers)) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_COMMAND);
        if (msg)
            msg->command.command = (uint8_t) command;
        s_send(self, fx_ix_manager_routing(m), &msg, 0);
    }
}

static int s_pair_cmp(const void *a, const void *b)
{
    const fx_ix_ack_pair_t *x = a, *y = b;
    return strcmp(x->manager_id, y->manager_id);
}

void fx_ix_managers_ack(fx_interchange_t *self, fx_ix_ack_pair_t *pairs, size_t npairs)
{
    if (!self->router || npairs == 0)
        return;
    qsort(pairs, npairs, sizeof *pairs, s_pair_cmp);
    for (size_t i = 0; i < npairs;) {
        size_t end = i + 1;
        while (end < npairs && end - i < FX_IDS_MAX && strcmp(pairs[end].manager_id, pairs[i].manager_id) == 0)
            end++;
        fx_ix_manager_t *m = fx_ix_managers_by_id(self->managers, pairs[i].manager_id);
        if (!m) {
            /* gone: it resends to whichever interchange welcomes it next */
            self->stats.acks_skipped += end - i;
        }
        else {
            fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS_ACK);
            if (msg && fx_msg_alloc_records(msg, (uint32_t) (end - i)) == FX_OK) {
                for (size_t k = i; k < end; k++)
                    memcpy(msg->ids.ids[k - i], pairs[k].task_id, sizeof msg->ids.ids[0]);
                if (s_send(self, fx_ix_manager_routing(m), &msg, 0) == FX_OK)
                    self->stats.acks_to_managers += end - i;
                else
                    fx_ix_warn("cannot pass RESULTS_ACK of %zu result(s) on to manager %s; it resends "
                               "them after its next WELCOME",
                               end - i, fx_ix_manager_id(m));
            }
            fx_msg_destroy(&msg);
        }
        i = end;
    }
}

size_t fx_ix_managers_cancel(fx_interchange_t *self, const fx_id_text_t *ids, uint32_t count)
{
    size_t sent = 0;
    for (fx_ix_manager_t *m = fx_ix_managers_first(self->managers); m;
         m = fx_ix_managers_next(self->managers)) {
        uint32_t mine = 0;
        for (uint32_t i = 0; i < count; i++) {
            fx_ix_task_t *t = fx_ix_tasks_find(self->tasks, ids[i]);
            mine += t && t->holder == m;
        }
        fx_msg_t *msg = mine ? fx_msg_new(FX_MSG_CANCEL) : NULL;
        if (!msg || fx_msg_alloc_records(msg, mine) != FX_OK) {
            fx_msg_destroy(&msg);
            continue;
        }
        uint32_t k = 0;
        for (uint32_t i = 0; i < count && k < mine; i++) {
            fx_ix_task_t *t = fx_ix_tasks_find(self->tasks, ids[i]);
            if (t && t->holder == m)
                memcpy(msg->cancel.ids[k++], ids[i], sizeof msg->cancel.ids[0]);
        }
        if (s_send(self, fx_ix_manager_routing(m), &msg, 0) == FX_OK)
            sent += mine;
        else
            fx_ix_warn("cannot pass CANCEL of %u task(s) on to manager %s", mine, fx_ix_manager_id(m));
    }
    return sent;
}

void fx_ix_requeue_orphans(fx_interchange_t *self)
{
    /* from the back, so that the front of the FIFO keeps dispatch order;
       a lost manager is not the task's fault: nothing is counted here (the
       manager counts worker deaths against task.retries) */
    for (fx_ix_task_t *t = zlistx_last(self->orphans); t; t = zlistx_prev(self->orphans))
        if (fx_ix_tasks_requeue(self->tasks, t) == FX_OK)
            self->stats.tasks_requeued++;
    zlistx_purge(self->orphans);
}

void fx_ix_expire(fx_interchange_t *self, int64_t now)
{
    int lost = fx_ix_managers_expire(self->managers, now,
                                     (int64_t) self->conf->heartbeat_missed * self->conf->heartbeat_ms,
                                     self->orphans);
    self->stats.managers_lost += (uint64_t) lost;
    fx_ix_requeue_orphans(self);
}

/* Sends a manager its outbox, in batches of at most FX_BATCH_MAX. */
static void s_send_outbox(fx_interchange_t *self, fx_ix_manager_t *m)
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
                fx_ix_error("out of memory copying task %s for manager %s; it is sent without "
                            "its payload",
                            t->task.task_id, fx_ix_manager_id(m));
        }
        int rc = s_send(self, fx_ix_manager_routing(m), &msg, 0);
        if (rc != FX_OK)
            fx_ix_warn("cannot send %zu task(s) to manager %s (%s); they come back if the "
                       "manager is lost",
                       n, fx_ix_manager_id(m), fx_strerror(rc));
        else
            self->stats.tasks_dispatched += n;
    }
    zlistx_purge(outbox);
}

void fx_ix_dispatch(fx_interchange_t *self)
{
    bool any = false;
    for (fx_ix_task_t *t = fx_ix_tasks_peek(self->tasks); t; t = fx_ix_tasks_peek(self->tasks)) {
        fx_ix_manager_t *m = fx_ix_strategy_pick(self->managers, t);
        if (!m)
            break;
        fx_ix_tasks_pop(self->tasks);
        if (fx_ix_manager_hold(m, t) != FX_OK) {
            fx_ix_tasks_requeue(self->tasks, t);
            break;
        }
        any = true;
    }
    if (!any)
        return;
    for (fx_ix_manager_t *m = fx_ix_managers_first(self->managers); m;
         m = fx_ix_managers_next(self->managers))
        s_send_outbox(self, m);
}
