/*  fx_forwarder.c: one endpoint link: credit, dispatch from the queue
    (with the definitions of the containers its tasks name), tasks in
    flight, results in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_forwarder.h"
#include "fx_forwarder_int.h"

static void s_def_free(void **item)
{
    free(*item);
    *item = NULL;
}

fx_forwarder_t *fx_forwarder_new(const char *endpoint_id, zframe_t *routing)
{
    fx_forwarder_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->stats.endpoint_id, sizeof self->stats.endpoint_id, "%s", endpoint_id);
    self->routing = zframe_dup(routing);
    self->routing_key = zframe_strhex(routing);
    self->in_flight = zhashx_new();
    self->containers = zhashx_new();
    if (!self->routing || !self->routing_key || !self->in_flight || !self->containers)
        fx_forwarder_destroy(&self);
    else
        zhashx_set_destructor(self->containers, s_def_free);
    return self;
}

void fx_forwarder_destroy(fx_forwarder_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_forwarder_t *self = *self_p;
    zframe_destroy(&self->routing);
    free(self->routing_key);
    zhashx_destroy(&self->in_flight);
    zhashx_destroy(&self->containers);
    fx_msg_destroy(&self->pending);
    free(self);
    *self_p = NULL;
}

const char *fx_forwarder_endpoint_id(fx_forwarder_t *self)
{
    return self->stats.endpoint_id;
}

void fx_forwarder_stats(fx_forwarder_t *self, fx_forwarder_stats_t *stats)
{
    *stats = self->stats;
    stats->in_flight = (uint32_t) zhashx_size(self->in_flight);
}

void fx_forwarder_credit(fx_forwarder_t *self, uint32_t window)
{
    self->stats.window = window > FX_FWD_WINDOW_MAX ? FX_FWD_WINDOW_MAX : window;
    self->wants_dispatch = true;
}

/* Whether def is what this session was last sent for its id. */
static bool s_def_sent(fx_forwarder_t *self, const fx_container_def_t *def)
{
    const fx_container_def_t *sent = zhashx_lookup(self->containers, def->container_id);
    return sent && strcmp(sent->name, def->name) == 0 && strcmp(sent->runtime, def->runtime) == 0 &&
           strcmp(sent->image, def->image) == 0;
}

/* Sends a CONTAINERS message of its records so far (none: nothing) and
   remembers them as sent. FX_OK or the send's failure. */
static int s_send_defs(fx_forwarder_t *self, zsock_t *sock, fx_msg_t **defs_p)
{
    fx_msg_t *defs = *defs_p;
    if (!defs || defs->containers.count == 0) {
        fx_msg_destroy(defs_p);
        return FX_OK;
    }
    if (zhashx_size(self->containers) + defs->containers.count > FX_FWD_CONTAINERS_SENT_MAX)
        zhashx_purge(self->containers);
    for (uint32_t i = 0; i < defs->containers.count; i++) {
        fx_container_def_t *copy = malloc(sizeof *copy);
        if (copy) { /* without memory it is only sent again */
            *copy = defs->containers.containers[i];
            zhashx_update(self->containers, copy->container_id, copy);
        }
    }
    self->stats.containers_sent += defs->containers.count;
    defs->seq = 0; /* not a request */
    self->sent_ms = fx_now_ms();
    return fx_msg_send(defs_p, sock, self->routing);
}

/* SPEC 5.35: the definitions of the containers tasks name that this
   session has not had (or had otherwise) go out first, FX_CONTAINERS_MAX
   to a message. FX_OK, or the queue's failure (some may have gone). */
static int s_definitions(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, const fx_msg_t *tasks)
{
    fx_msg_t *defs = NULL;
    zhashx_t *checked = NULL; /* ids looked up for this batch */
    const char *last = "";
    int rc = FX_OK;
    for (uint32_t i = 0; rc == FX_OK && i < tasks->tasks.count; i++) {
        const char *id = tasks->tasks.tasks[i].container;
        if (!id[0] || strcmp(id, last) == 0 || (checked && zhashx_lookup(checked, id)))
            continue;
        last = id;
        if (!checked && !(checked = zhashx_new())) {
            rc = FX_E_NOMEM;
            break;
        }
        zhashx_insert(checked, id, (void *) 1);
        fx_container_def_t def;
        rc = queue->ops->container(queue->ctx, id, &def);
        if (rc == FX_E_NOT_FOUND) { /* the manager ends its tasks (FX_E_CONTAINER) */
            fx_warn("tasks for endpoint=%s name container %s, which the queue does not have",
                    self->stats.endpoint_id, id);
            rc = FX_OK;
            continue;
        }
        if (rc != FX_OK || s_def_sent(self, &def))
            continue;
        if (!defs && !(defs = fx_msg_new(FX_MSG_CONTAINERS))) {
            rc = FX_E_NOMEM;
            break;
        }
        if (defs->containers.count == 0 && fx_msg_alloc_records(defs, FX_CONTAINERS_MAX) == FX_OK)
            defs->containers.count = 0; /* filled below, then counted */
        if (!defs->containers.containers) {
            rc = FX_E_NOMEM;
            break;
        }
        defs->containers.containers[defs->containers.count++] = def;
        if (defs->containers.count == FX_CONTAINERS_MAX && s_send_defs(self, sock, &defs) != FX_OK)
            fx_warn("cannot send container definitions to endpoint=%s", self->stats.endpoint_id);
    }
    if (rc == FX_OK && s_send_defs(self, sock, &defs) != FX_OK)
        fx_warn("cannot send container definitions to endpoint=%s", self->stats.endpoint_id);
    fx_msg_destroy(&defs);
    zhashx_destroy(&checked);
    return rc;
}

/* Sends a taken batch (its tasks in flight already) after the
   definitions it needs; if those cannot be read, keeps it as pending for
   the next try. true if it went. */
static bool s_flush(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, fx_msg_t **msg_p)
{
    int rc = s_definitions(self, sock, queue, *msg_p);
    self->take_failed = rc != FX_OK;
    if (rc != FX_OK) {
        fx_error("cannot read the containers of %u tasks for endpoint=%s: %s (%s); will retry",
                 (*msg_p)->tasks.count, self->stats.endpoint_id, fx_strerror(rc),
                 rc == FX_E_NOMEM ? "out of memory" : queue->ops->describe(queue->ctx));
        self->pending = *msg_p; /* dispatch took it out of pending first */
        *msg_p = NULL;
        return false;
    }
    uint32_t count = (*msg_p)->tasks.count;
    (*msg_p)->seq = 0; /* TASKS is not a request (SPEC 3.6.3) */
    self->sent_ms = fx_now_ms();
    rc = fx_msg_send(msg_p, sock, self->routing);
    if (rc != FX_OK)
        /* The tasks stay DISPATCHED and in flight: they come back when the
           endpoint is lost or says hello again. */
        fx_warn("cannot send %u tasks to endpoint=%s: %s", count, self->stats.endpoint_id, fx_strerror(rc));
    return true;
}

/* Sends one TASKS batch of at most `room` tasks. Returns the number sent,
   0 if none was queued, -1 on a queue error. */
static int s_send_batch(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, uint32_t room)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    if (!msg)
        return -1;
    int rc = queue->ops->take(queue->ctx, self->stats.endpoint_id, room, !self->fetches_bodies, msg);
    self->take_failed = rc != FX_OK;
    if (rc != FX_OK) {
        fx_error("cannot take tasks for endpoint=%s from the queue: %s (%s); will retry",
                 self->stats.endpoint_id, fx_strerror(rc), queue->ops->describe(queue->ctx));
        fx_msg_destroy(&msg);
        return -1;
    }
    uint32_t count = msg->tasks.count;
    if (count == 0) {
        fx_msg_destroy(&msg);
        return 0;
    }
    for (uint32_t i = 0; i < count; i++)
        zhashx_insert(self->in_flight, msg->tasks.tasks[i].task_id, (void *) 1);
    uint32_t in_flight = (uint32_t) zhashx_size(self->in_flight);
    if (in_flight > self->stats.max_in_flight)
        self->stats.max_in_flight = in_flight;
    if (in_flight > self->stats.window)
        self->stats.over_credit++;
    self->stats.dispatched += count;
    bool sent = s_flush(self, sock, queue, &msg);
    fx_msg_destroy(&msg);
    return sent ? (int) count : -1;
}

bool fx_forwarder_dispatch(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue)
{
    if (!self->wants_dispatch || self->requeue_pending)
        return false;
    if (self->pending) { /* a batch waiting for its containers goes first */
        fx_msg_t *msg = self->pending;
        self->pending = NULL;
        if (!s_flush(self, sock, queue, &msg)) {
            self->wants_dispatch = false; /* the tick retries */
            return false;
        }
    }
    for (int batch = 0; batch < FX_FWD_BATCHES_PER_PASS; batch++) {
        uint32_t in_flight = (uint32_t) zhashx_size(self->in_flight);
        if (in_flight >= self->stats.window) {
            self->wants_dispatch = false; /* a result or a CREDIT wakes it */
            return false;
        }
        uint32_t room = self->stats.window - in_flight;
        if (room > FX_BATCH_MAX)
            room = FX_BATCH_MAX;
        int sent = s_send_batch(self, sock, queue, room);
        if (sent <= 0) {
            /* Nothing queued (a SUBMIT wakes it), or a queue error: the next
               tick retries rather than spinning on a broken disk. */
            self->wants_dispatch = false;
            return false;
        }
    }
    return true;
}

/* Logs results the endpoint sent for tasks that are not its own (unknown
   ids, or dispatched to another endpoint): SPEC 8.4 has them acknowledged
   and dropped, so a confused endpoint does not resend them forever. */
static void s_log_foreign(fx_forwarder_t *self, fx_msg_t *msg, const fx_fwd_outcome_t *outcome)
{
    uint32_t foreign = 0;
    const char *first = NULL;
    for (uint32_t i = 0; i < msg->results.count; i++)
        if (outcome[i] == FX_FWD_RESULT_FOREIGN) {
            foreign++;
            if (!first)
                first = msg->results.results[i].task_id;
        }
    if (foreign)
        fx_warn("endpoint=%s sent %u results for tasks not dispatched to it (first %s): "
                "acknowledged and dropped",
                self->stats.endpoint_id, foreign, first);
}

void fx_forwarder_results(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, fx_msg_t *msg,
                          fx_held_t *held, uint64_t durable)
{
    uint64_t ticket = 0;
    uint32_t count = msg->results.count;
    fx_fwd_outcome_t *outcome = count ? calloc(count, sizeof *outcome) : NULL;
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    int rc = count && !outcome ? FX_E_NOMEM : !ack ? FX_E_NOMEM : FX_OK;
    uint64_t now_us = (uint64_t) fx_wall_us(); /* SPEC 12.5: the RESULTS were read */
    for (uint32_t i = 0; i < count; i++)
        msg->results.results[i].times[FX_TIME_BROKER_RESULT] = now_us;
    if (rc == FX_OK && count)
        rc = queue->ops->commit(queue->ctx, self->stats.endpoint_id, msg->results.results, count, outcome,
                                &ticket);
    if (rc != FX_OK) {
        /* SPEC 6.2: ERROR FX_E_IO with the batch's seq, and no ack. */
        fx_error("cannot store %u results from endpoint=%s: %s (%s)", count, self->stats.endpoint_id,
                 fx_strerror(rc), rc == FX_E_NOMEM ? "out of memory" : queue->ops->describe(queue->ctx));
        fx_send_error(sock, self->routing, msg->seq, rc == FX_E_NOMEM ? FX_E_NOMEM : FX_E_IO,
                      "the broker could not store these %u results (%s): they are not "
                      "acknowledged; send them again later",
                      count, fx_strerror(rc));
        goto done;
    }
    if (fx_msg_alloc_records(ack, count) != FX_OK) {
        /* Committed but not acked: the endpoint resends, the queue dedups. */
        fx_error("out of memory acknowledging results of endpoint=%s", self->stats.endpoint_id);
        goto done;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < count; i++) {
        const char *id = msg->results.results[i].task_id;
        memcpy(ack->ids.ids[n++], id, sizeof(fx_id_text_t));
        if (zhashx_lookup(self->in_flight, id)) {
            zhashx_delete(self->in_flight, id);
            self->wants_dispatch = true;
        }
    }
    self->stats.results += n;
    ack->seq = msg->seq;
    self->sent_ms = fx_now_ms();
    /* SPEC 8.3: the ack leaves once the commit is on disk. */
    if (n > 0 && ticket > durable)
        fx_held_add(held, ticket, sock, self->routing, &ack); /* NOMEM: no ack, resent */
    else if (n > 0 && fx_msg_send(&ack, sock, self->routing) != FX_OK)
        fx_warn("cannot acknowledge %u results to endpoint=%s", n, self->stats.endpoint_id);
    s_log_foreign(self, msg, outcome);
done:
    fx_msg_destroy(&ack);
    free(outcome);
}

void fx_forwarder_fetch(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, const fx_msg_t *msg)
{
    self->fetches_bodies = true;
    fx_msg_t *reply = fx_msg_new(FX_MSG_FUNCTION_BODIES);
    int rc = reply ? queue->ops->bodies(queue->ctx, self->stats.endpoint_id, msg->function_fetch.versions,
                                        msg->function_fetch.count, reply)
                   : FX_E_NOMEM;
    if (rc != FX_OK) {
        fx_error("cannot read function bodies for endpoint=%s: %s (%s)", self->stats.endpoint_id,
                 fx_strerror(rc), rc == FX_E_NOMEM ? "out of memory" : queue->ops->describe(queue->ctx));
        fx_send_error(sock, self->routing, msg->seq, rc == FX_E_NOMEM ? FX_E_NOMEM : FX_E_IO,
                      "the broker could not read these %u function bodies (%s): fetch them again later",
                      msg->function_fetch.count, fx_strerror(rc));
        fx_msg_destroy(&reply);
        return;
    }
    self->stats.bodies_sent += reply->function_bodies.count;
    reply->seq = msg->seq;
    self->sent_ms = fx_now_ms();
    if (fx_msg_send(&reply, sock, self->routing) != FX_OK)
        fx_warn("cannot send function bodies to endpoint=%s", self->stats.endpoint_id);
}
