/*  fx_broker.c: the broker server: its three sockets (client ROUTER,
    endpoint ROUTER, ZAP REP), the ZAP answers from the store, the syncer's
    reports, and the one loop that serves them. Every pass runs the same
    phases in order: durability reports (release what they cover),
    authenticate, read clients, read endpoints, timers, dispatch to
    endpoints, push results to clients, ask the syncer for what this pass
    committed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_broker_int.h"
#include "fx_state.h"

/* The store calls this after committing a new result. */
static void s_on_result(const char *owner, const char *client_id, void *arg)
{
    fx_broker_t *self = arg;
    fx_sessions_notify(self->sessions, owner, client_id);
}

/* A CurveZMQ server ROUTER bound on addr. */
static zsock_t *s_router(fx_broker_t *self, const char *addr, const char *domain, const char *flag, char *err,
                         size_t errlen)
{
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (!sock) {
        snprintf(err, errlen, "cannot create a socket for %s", flag);
        return NULL;
    }
    zsock_set_linger(sock, 0);
    /* Endpoint port: what can queue toward an endpoint is bounded by its
       credit, so never drop. Client port: pushes are bounded by the session
       window and replies by the client's own requests; a client that stops
       reading loses replies beyond the mark (and gets pushes again after
       its next HELLO) rather than growing the broker without bound. */
    zsock_set_sndhwm(sock, strcmp(domain, "fx-endpoint") == 0 ? 0 : 100000);
    /* Refuse a frame larger than any payload before it is buffered (SPEC
       2.1.3). libzmq checks the frame as it is on the wire, which under
       CURVE carries some 40 bytes of box overhead: leave room for that. */
    zsock_set_maxmsgsize(sock, (int64_t) FX_PAYLOAD_MAX + 65536);
    fx_curve_server(sock, &self->keypair, domain);
    if (zsock_bind(sock, "%s", addr) < 0) {
        snprintf(err, errlen, "cannot bind %s %s: %s: give a free tcp://HOST:PORT", flag, addr,
                 zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        return NULL;
    }
    return sock;
}

/* fx_store_versions_verify's question: is the object in the registry? */
static bool s_registry_has(void *arg, const char *oid)
{
    return fx_registry_has(arg, oid);
}

static void s_missing(void *arg, const char *function_id, uint32_t number, const char *version,
                      const char *commit)
{
    fx_error("function %s version %u (blob %s, commit %s) is in the store but not in the registry: tasks "
             "are not pinned to it and endpoints are not sent it; register the function again",
             function_id, number, version, commit);
}

/* SPEC 8.12: every version row points at objects the registry holds (the
   registry is written first, so only a damaged registry breaks this);
   rows that do not are reported and refused. */
static int s_registry_open(fx_broker_t *self, const fx_broker_conf_t *conf, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", conf->state_dir, FX_BROKER_REGISTRY_DIR);
    self->registry = fx_registry_open(path, err, errlen);
    if (!self->registry)
        return -1;
    self->bodies = fx_bodies_new(self->registry);
    if (!self->bodies) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint32_t missing = 0;
    int rc = fx_store_versions_verify(self->store, s_registry_has, s_missing, self->registry, &missing);
    if (rc != FX_OK) {
        snprintf(err, errlen, "cannot check the function versions against %s: %s", path,
                 fx_store_errmsg(self->store));
        return -1;
    }
    if (missing)
        fx_error("%u function versions refused: their objects are missing from %s", missing, path);
    return 0;
}

fx_broker_t *fx_broker_new(const fx_broker_conf_t *conf, char *err, size_t errlen)
{
    fx_broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->lock_fd = -1;
    self->conf = *conf;
    /* The state directory is this broker's before anything in it is read. */
    self->lock_fd = fx_state_lock(conf->state_dir, err, errlen);
    if (self->lock_fd < 0)
        goto fail;
    self->store = fx_store_open(conf->state_dir, err, errlen);
    if (!self->store || fx_store_defer_sync(self->store, err, errlen) != FX_OK)
        goto fail;
    if (s_registry_open(self, conf, err, errlen) != 0)
        goto fail;
    char db_path[4200];
    snprintf(db_path, sizeof db_path, "%s/%s", conf->state_dir, FX_STORE_DB_FILE);
    self->syncer = fx_syncer_new(db_path, conf->durability, conf->sync_fn, err, errlen);
    if (!self->syncer)
        goto fail;
    if (fx_state_keypair(conf->state_dir, &self->keypair, err, errlen) != 0)
        goto fail;
    self->zap = fx_zap_bind();
    if (!self->zap) {
        snprintf(err, errlen, "cannot bind the ZAP handler: another one is bound in this process");
        goto fail;
    }
    self->client = s_router(self, conf->client_bind, "fx-client", "--client-bind", err, errlen);
    if (!self->client)
        goto fail;
    self->endpoint = s_router(self, conf->endpoint_bind, "fx-endpoint", "--endpoint-bind", err, errlen);
    if (!self->endpoint)
        goto fail;
    self->client_addr = zsock_last_endpoint(self->client);
    self->endpoint_addr = zsock_last_endpoint(self->endpoint);
    self->poller = zpoller_new(fx_syncer_sock(self->syncer), self->zap, self->client, self->endpoint, NULL);
    self->held = fx_held_new();
    self->sessions = fx_sessions_new(self->client, self->store, self->held, conf->heartbeat_ms);
    self->queue_ctx = (fx_broker_queue_ctx_t){.store = self->store, .bodies = self->bodies};
    self->queue = fx_broker_queue(&self->queue_ctx);
    self->forwarders =
        fx_fwd_set_new(self->endpoint, &self->queue, conf->heartbeat_ms, conf->heartbeat_missed);
    self->client_errors = fx_errlimit_new();
    if (!self->poller || !self->held || !self->sessions || !self->forwarders || !self->client_addr ||
        !self->endpoint_addr || !self->client_errors) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    fx_store_set_result_hook(self->store, s_on_result, self);
    fx_store_set_queue_cap(self->store, conf->max_queued_per_user);
    return self;
fail:
    fx_broker_destroy(&self);
    return NULL;
}

void fx_broker_destroy(fx_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_broker_t *self = *self_p;
    fx_fwd_set_destroy(&self->forwarders);
    fx_sessions_destroy(&self->sessions);
    fx_errlimit_destroy(&self->client_errors);
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->endpoint);
    zsock_destroy(&self->client);
    zsock_destroy(&self->zap);
    zstr_free(&self->client_addr);
    zstr_free(&self->endpoint_addr);
    fx_held_destroy(&self->held);
    fx_syncer_destroy(&self->syncer); /* before the store: its connection is not the last */
    fx_store_destroy(&self->store);
    fx_bodies_destroy(&self->bodies);
    fx_registry_destroy(&self->registry);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* the next broker may have the directory now */
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- ZAP */

/* Who a CURVE key is in a ZAP domain: a user on the client port
   ("user:<id>"); on the endpoint port, whatever the forwarder says. */
static bool s_zap_identify(fx_broker_t *self, const fx_zap_request_t *req, char *user_id, size_t cap)
{
    fx_id_text_t id;
    if (strcmp(req->mechanism, "CURVE") != 0 || req->client_key[0] == '\0')
        return false;
    if (strcmp(req->domain, "fx-client") == 0 &&
        fx_store_user_by_key(self->store, req->client_key, id) == FX_OK) {
        snprintf(user_id, cap, "%s%s", FX_BROKER_USER_PREFIX, id);
        return true;
    }
    if (strcmp(req->domain, "fx-endpoint") == 0)
        return fx_fwd_set_zap(self->forwarders, req->client_key, user_id, cap) == FX_OK;
    return false;
}

static void s_zap_serve(fx_broker_t *self)
{
    for (int i = 0; i < FX_BROKER_READ_BUDGET && (zsock_events(self->zap) & ZMQ_POLLIN); i++) {
        fx_zap_request_t req;
        if (fx_zap_recv(self->zap, &req) != 0)
            continue; /* malformed: already refused */
        char user_id[64] = "";
        bool allow = s_zap_identify(self, &req, user_id, sizeof user_id);
        fx_zap_reply(self->zap, &req, allow, user_id);
        if (allow)
            continue;
        /* A refused peer reconnects every few hundred ms: one line per key
           and minute is enough to notice it. */
        int64_t now = fx_now_ms();
        if (strcmp(self->denied_key, req.client_key) != 0 || now - self->denied_ms > 60000) {
            fx_warn("refused a %s connection on %s: key %s is not registered there", req.mechanism,
                    req.domain, req.client_key[0] ? req.client_key : "(none)");
            snprintf(self->denied_key, sizeof self->denied_key, "%s", req.client_key);
            self->denied_ms = now;
        }
    }
}

/* ---------------------------------------------------------------- durability */

/* What a reply held for a sync that failed becomes: a push (or a FETCH
   reply) waits for the next good sync (it is not lost, and its client has
   nothing to resend); a reply to a write request becomes ERROR FX_E_IO,
   and the client resends the request (SPEC 8.2 makes that safe). */
static void s_client_failed(fx_broker_t *self, zlist_t *again, fx_held_item_t *item)
{
    if (item->msg->type == FX_MSG_RESULTS && zlist_append(again, item->msg) == 0) {
        zlist_append(again, item->routing);
        return;
    }
    fx_send_error(self->client, item->routing, item->msg->seq, FX_E_IO,
                  "the broker could not make this %s durable (its disk failed to sync): it may or "
                  "may not be stored; send it again",
                  item->msg->type == FX_MSG_SUBMITTED ? "SUBMIT" : "request");
    fx_msg_destroy(&item->msg);
    zframe_destroy(&item->routing);
}

/* A held message leaves: a push or a FETCH reply gets its stamps (SPEC
   12.5), which the session keeps for the client's ack to store. */
static void s_stamp(fx_held_item_t *item, void *arg)
{
    fx_broker_t *self = arg;
    if (item->msg->type != FX_MSG_RESULTS)
        return;
    uint64_t now = (uint64_t) fx_wall_us();
    for (uint32_t i = 0; i < item->msg->results.count; i++) {
        uint64_t *times = item->msg->results.results[i].times;
        if (!times[FX_TIME_BROKER_RESULT_DURABLE])
            times[FX_TIME_BROKER_RESULT_DURABLE] = self->durable_us;
        if (!times[FX_TIME_BROKER_PUSHED])
            times[FX_TIME_BROKER_PUSHED] = now;
    }
    fx_sessions_stamped(self->sessions, item->routing, item->msg);
}

void fx_broker_reply_durable(fx_broker_t *self, zframe_t *routing, fx_msg_t **msg_p)
{
    uint64_t ticket = fx_store_written(self->store);
    int type = (*msg_p)->type;
    int rc = FX_OK;
    if (ticket <= self->durable) {
        fx_held_item_t item = {.ticket = ticket, .sock = self->client, .routing = routing, .msg = *msg_p};
        s_stamp(&item, self);
        rc = fx_msg_send(msg_p, self->client, routing);
    }
    else
        rc = fx_held_add(self->held, ticket, self->client, routing, msg_p);
    if (rc != FX_OK)
        fx_warn("cannot send %s to a client: %s", fx_msg_type_name(type), fx_strerror(rc));
}

/* The syncer's report: release what it covers, or fail it. */
static void s_durability(fx_broker_t *self)
{
    uint64_t ticket = 0, done_us = 0;
    int rc = FX_E_IO;
    char why[600] = "";
    if (fx_syncer_report(self->syncer, &ticket, &rc, &done_us, why, sizeof why) != 0)
        return;
    self->sync_inflight = false;
    if (rc == FX_OK) {
        if (ticket > self->durable) {
            self->durable = ticket;
            self->durable_us = done_us;
        }
        fx_store_durable(self->store, ticket, done_us);
        fx_held_release(self->held, ticket, s_stamp, self);
        fx_fwd_set_durable(self->forwarders, ticket, FX_OK);
        return;
    }
    zlist_t *again = zlist_new();
    fx_held_item_t item;
    uint32_t failed = 0;
    while (again && fx_held_pop(self->held, ticket, &item)) {
        s_client_failed(self, again, &item);
        failed++;
    }
    for (fx_msg_t *msg = again ? zlist_pop(again) : NULL; msg; msg = zlist_pop(again)) {
        zframe_t *routing = zlist_pop(again);
        fx_held_add(self->held, fx_store_written(self->store), self->client, routing, &msg);
        zframe_destroy(&routing);
    }
    zlist_destroy(&again);
    fx_fwd_set_durable(self->forwarders, ticket, FX_E_IO);
    fx_error("the state disk did not sync: %s; %u client replies held for it answered FX_E_IO or kept "
             "(pushes); nothing counts as durable until the WAL is checkpointed into fx.db and synced",
             why, failed);
    self->sync_retry_ms = fx_now_ms() + FX_BROKER_SYNC_RETRY_MS;
}

/* End of a pass: ask the syncer for what was committed since its last
   request, unless one is in flight (its report triggers the next: every
   commit shares the next sync with all the others made meanwhile). */
static void s_sync_request(fx_broker_t *self)
{
    /* The WAL's bound (fx_store_wal_bound), between two passes' writes;
       not while a failed sync is being recovered from (the syncer's
       TRUNCATE checkpoint does that). */
    char err[300];
    if (fx_now_ms() >= self->sync_retry_ms && fx_store_wal_bound(self->store, err, sizeof err) < 0)
        fx_warn("%s; the next pass tries again", err);
    uint64_t written = fx_store_written(self->store);
    if (self->sync_inflight || written <= self->durable || fx_now_ms() < self->sync_retry_ms)
        return;
    if (fx_syncer_request(self->syncer, written, fx_store_wal_pages(self->store)) == 0)
        self->sync_inflight = true;
}

/* SIGTERM: what was committed is made durable, and what was held for it
   leaves, within FX_BROKER_STOP_SYNC_MS. */
static void s_last_sync(fx_broker_t *self)
{
    int64_t deadline = fx_now_ms() + FX_BROKER_STOP_SYNC_MS;
    self->sync_retry_ms = 0;
    while (fx_store_written(self->store) > self->durable && fx_now_ms() < deadline) {
        s_sync_request(self);
        zmq_pollitem_t item = {.socket = zsock_resolve(fx_syncer_sock(self->syncer)), .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 100) == 1)
            s_durability(self);
        else if (!self->sync_inflight)
            break; /* a failed sync: not retried at exit */
    }
    if (fx_held_size(self->held) || fx_fwd_set_held(self->forwarders))
        fx_warn("stopping with %zu client replies and %zu endpoint acks not sent: their commits are "
                "not known durable; the peers resend",
                fx_held_size(self->held), fx_fwd_set_held(self->forwarders));
}

/* ---------------------------------------------------------------- loop */

/* Reads up to the budget of messages from a ROUTER and hands each, with its
   routing frame and its connection's User-Id, to the handler. */
static void s_read(fx_broker_t *self, zsock_t *sock)
{
    /* After SIGTERM no new request is read: what was read is handled to
       its commit (each handler commits before it returns). */
    int64_t until = fx_now_us() + FX_BROKER_READ_SLICE_US;
    for (int i = 0; i < FX_BROKER_READ_BUDGET && !zsys_interrupted && (zsock_events(sock) & ZMQ_POLLIN) &&
                    (i == 0 || fx_now_us() < until);
         i++) {
        zmsg_t *zmsg = zmsg_recv(sock);
        if (!zmsg)
            return;
        zframe_t *routing = zmsg_pop(zmsg);
        /* The User-Id lives on the header frame; decoding consumes it. */
        zframe_t *header = zmsg_first(zmsg);
        const char *meta = header ? fx_peer_user_id(header) : NULL;
        char user_id[64] = "";
        if (meta)
            snprintf(user_id, sizeof user_id, "%s", meta);
        if (!routing)
            zmsg_destroy(&zmsg);
        else if (sock == self->client)
            fx_client_handle(self, routing, meta ? user_id : NULL, &zmsg);
        else
            fx_fwd_set_handle(self->forwarders, routing, meta ? user_id : NULL, &zmsg);
        zframe_destroy(&routing);
        zmsg_destroy(&zmsg);
    }
}

static void s_purge(fx_broker_t *self)
{
    if (self->conf.result_ttl_s <= 0)
        return;
    uint32_t purged = 0;
    int64_t before = fx_store_wall_ms() - self->conf.result_ttl_s * 1000;
    int rc = fx_store_purge(self->store, before, &purged);
    if (rc != FX_OK)
        fx_error("cannot purge old results: %s", fx_store_errmsg(self->store));
    else if (purged)
        fx_info("purged %u results delivered more than %lld s ago", purged,
                (long long) self->conf.result_ttl_s);
}

/* Timers: heartbeats and loss detection, session expiry, the results TTL. */
static void s_tick(fx_broker_t *self, int64_t now)
{
    if (now < self->next_tick)
        return;
    int64_t next = fx_fwd_set_tick(self->forwarders, now);
    int64_t next_sessions = fx_sessions_tick(self->sessions, now);
    if (next_sessions < next)
        next = next_sessions;
    self->next_tick = now + next;
    uint64_t suppressed = fx_errlimit_tick(self->client_errors, now);
    if (suppressed)
        fx_warn("%llu ERRORs to clients suppressed (over %d per second to one connection)",
                (unsigned long long) suppressed, FX_ERRLIMIT_PER_SECOND);
    if (now >= self->next_purge) {
        s_purge(self);
        int64_t period = self->conf.result_ttl_s * 1000;
        self->next_purge = now + (period < 1000 ? 1000 : period > 60000 ? 60000 : period);
    }
}

int fx_broker_run(fx_broker_t *self)
{
    printf("fx-broker: ready client=%s endpoint=%s public_key=%s\n", self->client_addr, self->endpoint_addr,
           self->keypair.public_key);
    fflush(stdout);
    fx_info("serving state %s, heartbeat %u ms x %u, results kept %lld s after delivery",
            self->conf.state_dir, self->conf.heartbeat_ms, self->conf.heartbeat_missed,
            (long long) self->conf.result_ttl_s);
    bool busy = false;
    self->next_tick = self->next_purge = fx_now_ms();
    while (!zsys_interrupted) {
        int64_t wake = self->next_tick;
        /* A sync to retry after a failed one: wake for it. */
        if (!self->sync_inflight && fx_store_written(self->store) > self->durable &&
            self->sync_retry_ms < wake)
            wake = self->sync_retry_ms;
        int64_t wait = busy ? 0 : wake - fx_now_ms();
        zpoller_wait(self->poller, (int) (wait < 0 ? 0 : wait));
        if (zpoller_terminated(self->poller) || zsys_interrupted)
            break;
        if (zsock_events(fx_syncer_sock(self->syncer)) & ZMQ_POLLIN)
            s_durability(self);
        s_zap_serve(self);
        s_read(self, self->client);
        s_read(self, self->endpoint);
        s_tick(self, fx_now_ms());
        busy = fx_fwd_set_dispatch(self->forwarders);
        busy |= fx_sessions_pump(self->sessions);
        s_sync_request(self);
    }
    s_last_sync(self);
    /* Replies to requests already committed may still sit in the sockets:
       give them a bounded moment to leave. */
    zsock_set_linger(self->client, FX_BROKER_STOP_LINGER_MS);
    zsock_set_linger(self->endpoint, FX_BROKER_STOP_LINGER_MS);
    fx_info("stopping: %zu client sessions, %zu endpoints connected; everything committed stays",
            fx_sessions_size(self->sessions), fx_fwd_set_size(self->forwarders));
    return 0;
}
