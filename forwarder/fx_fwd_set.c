/*  fx_fwd_set.c: all endpoint links of one broker. Routes each message from
    the endpoint ROUTER to its link, runs ENDPOINT_HELLO, heartbeats and
    loss detection, and keeps per-endpoint counters across reconnects. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_errlimit.h"
#include "fx_forwarder.h"
#include "fx_forwarder_int.h"
#include "fx_link.h"

/* The User-Id fx_fwd_set_zap gives an endpoint's connection, read back by
   fx_fwd_set_handle: "endpoint:<id>". */
#define S_USER_PREFIX "endpoint:"

struct _fx_fwd_set_t {
    zsock_t *sock;
    fx_fwd_queue_t queue;
    uint32_t heartbeat_ms;
    uint32_t missed;
    zhashx_t *by_routing;  /* routing hex -> fx_forwarder_t (owned) */
    zhashx_t *by_endpoint; /* endpoint id -> the same link (not owned) */
    zhashx_t *history;     /* endpoint id -> fx_forwarder_stats_t of closed links (owned) */
    zhashx_t *requeue;     /* endpoint id -> (void *) 1: lost while the queue failed
                              to requeue its tasks; the tick retries */
    zlistx_t *ready;       /* links that want a dispatch pass (not owned) */
    fx_held_t *acks;       /* RESULTS_ACKs waiting for their commit to be durable */
    uint64_t durable;      /* the queue's tickets up to this one are on disk */
    fx_errlimit_t *errors; /* ERRORs per endpoint connection */
};

/* Wall-clock ms since the epoch, for endpoints' last_seen. */
static int64_t s_wall_ms(void)
{
    return fx_wall_us() / 1000;
}

/* ERROR to an endpoint connection, unless it has had too many lately. */
static bool s_error(fx_fwd_set_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static bool s_error(fx_fwd_set_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool sent = fx_errlimit_vsend(self->errors, self->sock, routing, seq, code, fmt, ap);
    va_end(ap);
    return sent;
}

static void s_save_seen(fx_fwd_set_t *self, fx_forwarder_t *link);

static void s_link_destroy(void **item)
{
    fx_forwarder_destroy((fx_forwarder_t **) item);
}

/* Puts a link that wants a dispatch pass on the ready list (once). */
static void s_ready(fx_fwd_set_t *self, fx_forwarder_t *link)
{
    if (link->wants_dispatch && !link->requeue_pending && !link->ready)
        link->ready = zlistx_add_end(self->ready, link);
}

fx_fwd_set_t *fx_fwd_set_new(zsock_t *sock, const fx_fwd_queue_t *queue, uint32_t heartbeat_ms,
                             uint32_t missed)
{
    fx_fwd_set_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->queue = *queue;
    self->heartbeat_ms = heartbeat_ms ? heartbeat_ms : FX_HEARTBEAT_MS_DEFAULT;
    self->missed = missed ? missed : FX_HEARTBEAT_MISSED_DEFAULT;
    self->by_routing = zhashx_new();
    self->by_endpoint = zhashx_new();
    self->history = zhashx_new();
    self->requeue = zhashx_new();
    self->ready = zlistx_new();
    self->acks = fx_held_new();
    self->errors = fx_errlimit_new();
    if (!self->by_routing || !self->by_endpoint || !self->history || !self->requeue || !self->ready ||
        !self->acks || !self->errors) {
        fx_fwd_set_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_routing, s_link_destroy);
    zhashx_set_destructor(self->history, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator(self->history, NULL);
    return self;
}

void fx_fwd_set_destroy(fx_fwd_set_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_fwd_set_t *self = *self_p;
    for (fx_forwarder_t *link = self->by_routing ? zhashx_first(self->by_routing) : NULL; link;
         link = zhashx_next(self->by_routing))
        s_save_seen(self, link);
    zhashx_destroy(&self->by_endpoint);
    zhashx_destroy(&self->by_routing);
    zhashx_destroy(&self->history);
    zhashx_destroy(&self->requeue);
    zlistx_destroy(&self->ready);
    fx_held_destroy(&self->acks);
    fx_errlimit_destroy(&self->errors);
    free(self);
    *self_p = NULL;
}

size_t fx_fwd_set_size(fx_fwd_set_t *self)
{
    return zhashx_size(self->by_routing);
}

/* ---------------------------------------------------------------- counters */

/* Folds a closing link's counters into the endpoint's history. */
static void s_remember(fx_fwd_set_t *self, fx_forwarder_t *link)
{
    fx_forwarder_stats_t now;
    fx_forwarder_stats(link, &now);
    fx_forwarder_stats_t *past = zhashx_lookup(self->history, now.endpoint_id);
    if (!past) {
        past = calloc(1, sizeof *past);
        if (!past)
            return;
        memcpy(past->endpoint_id, now.endpoint_id, sizeof past->endpoint_id);
        zhashx_insert(self->history, now.endpoint_id, past);
    }
    if (now.max_in_flight > past->max_in_flight)
        past->max_in_flight = now.max_in_flight;
    past->over_credit += now.over_credit;
    past->dispatched += now.dispatched;
    past->results += now.results;
    past->containers_sent += now.containers_sent;
    past->window = now.window;
}

int fx_fwd_set_stats(fx_fwd_set_t *self, const char *endpoint_id, fx_forwarder_stats_t *stats)
{
    fx_forwarder_t *link = zhashx_lookup(self->by_endpoint, endpoint_id);
    fx_forwarder_stats_t *past = zhashx_lookup(self->history, endpoint_id);
    if (!link && !past)
        return -1;
    memset(stats, 0, sizeof *stats);
    if (link)
        fx_forwarder_stats(link, stats);
    if (past) {
        memcpy(stats->endpoint_id, past->endpoint_id, sizeof stats->endpoint_id);
        if (past->max_in_flight > stats->max_in_flight)
            stats->max_in_flight = past->max_in_flight;
        stats->over_credit += past->over_credit;
        stats->dispatched += past->dispatched;
        stats->results += past->results;
        stats->containers_sent += past->containers_sent;
        if (!link)
            stats->window = past->window;
    }
    return 0;
}

int fx_fwd_set_containers(fx_fwd_set_t *self, const char *endpoint_id, fx_endpoint_container_t *out,
                          uint32_t max)
{
    fx_forwarder_t *link = zhashx_lookup(self->by_endpoint, endpoint_id);
    if (!link)
        return -1;
    uint32_t n = link->status_container_count < max ? link->status_container_count : max;
    if (n)
        memcpy(out, link->status_containers, n * sizeof *out);
    return (int) n;
}

bool fx_fwd_set_online(fx_fwd_set_t *self, const char *endpoint_id)
{
    return zhashx_lookup(self->by_endpoint, endpoint_id) != NULL;
}

int fx_fwd_set_zap(fx_fwd_set_t *self, const char *public_key, char *user_id, size_t cap)
{
    fx_id_text_t id;
    int rc = self->queue.ops->by_key(self->queue.ctx, public_key, id);
    if (rc == FX_OK && (!fx_id_valid(id) || snprintf(user_id, cap, "%s%s", S_USER_PREFIX, id) >= (int) cap))
        rc = FX_E_INTERNAL;
    if (rc != FX_OK && rc != FX_E_NOT_FOUND)
        fx_error("cannot look up the endpoint of key %s: %s (%s); refused it for now", public_key,
                 fx_strerror(rc), self->queue.ops->describe(self->queue.ctx));
    return rc;
}

int fx_fwd_set_cancel(fx_fwd_set_t *self, const char *endpoint_id, const fx_id_text_t *ids, uint32_t count)
{
    fx_forwarder_t *link = zhashx_lookup(self->by_endpoint, endpoint_id);
    fx_msg_t *msg = link ? fx_msg_new(FX_MSG_CANCEL) : NULL;
    if (!msg || fx_msg_alloc_records(msg, count) != FX_OK) {
        fx_msg_destroy(&msg);
        return -1;
    }
    memcpy(msg->cancel.ids, ids, count * sizeof *ids);
    msg->cancel.queued_only = 0;
    msg->seq = 0; /* no reply: the results say what happened */
    link->sent_ms = fx_now_ms();
    int rc = fx_msg_send(&msg, self->sock, link->routing);
    if (rc != FX_OK)
        fx_warn("cannot forward CANCEL of %u tasks to endpoint=%s: %s", count, endpoint_id, fx_strerror(rc));
    return rc == FX_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- links */

static void s_save_seen(fx_fwd_set_t *self, fx_forwarder_t *link)
{
    if (link->heard_wall_ms == link->saved_wall_ms)
        return;
    /* A failure leaves saved_wall_ms behind: the next tick writes again. */
    if (self->queue.ops->seen(self->queue.ctx, link->stats.endpoint_id, link->heard_wall_ms) == FX_OK)
        link->saved_wall_ms = link->heard_wall_ms;
}

/* Puts the endpoint's DISPATCHED tasks back in the queue, and says so.
   true if the queue did it. */
static bool s_requeue(fx_fwd_set_t *self, const char *endpoint_id, const char *why)
{
    uint32_t requeued = 0, cancelled = 0;
    int rc = self->queue.ops->requeue(self->queue.ctx, endpoint_id, &requeued, &cancelled);
    if (rc != FX_OK)
        fx_error("cannot requeue the tasks of endpoint=%s (%s): %s (%s); will retry", endpoint_id, why,
                 fx_strerror(rc), self->queue.ops->describe(self->queue.ctx));
    else if (requeued || cancelled)
        fx_info("endpoint=%s %s: %u dispatched tasks requeued, %u cancelled (a CANCEL was pending)",
                endpoint_id, why, requeued, cancelled);
    return rc == FX_OK;
}

/* A lost endpoint's tasks: requeued now, or by a later tick. */
static void s_requeue_lost(fx_fwd_set_t *self, const char *endpoint_id)
{
    if (!s_requeue(self, endpoint_id, "was lost"))
        zhashx_update(self->requeue, endpoint_id, (void *) 1);
}

/* The tick's retries of requeues the queue failed: for lost endpoints (not
   connected again since: a hello takes the retry over), and for links whose
   hello could not requeue (they take nothing until then). */
static void s_retry_requeues(fx_fwd_set_t *self)
{
    zlist_t *done = zlist_new();
    for (void *item = zhashx_first(self->requeue); item && done; item = zhashx_next(self->requeue)) {
        const char *endpoint_id = zhashx_cursor(self->requeue);
        if (s_requeue(self, endpoint_id, "was lost (retried)"))
            zlist_append(done, (void *) endpoint_id);
    }
    for (const char *id = done ? zlist_first(done) : NULL; id; id = zlist_next(done))
        zhashx_delete(self->requeue, id);
    zlist_destroy(&done);
    for (fx_forwarder_t *link = zhashx_first(self->by_routing); link; link = zhashx_next(self->by_routing))
        if (link->requeue_pending && s_requeue(self, link->stats.endpoint_id, "said hello (retried)")) {
            link->requeue_pending = false;
            link->wants_dispatch = true;
            s_ready(self, link);
        }
}

/* Closes a link: counters kept, last_seen saved, indexes cleared. */
static void s_drop(fx_fwd_set_t *self, fx_forwarder_t *link)
{
    s_remember(self, link);
    s_save_seen(self, link);
    if (link->ready)
        zlistx_delete(self->ready, link->ready);
    link->ready = NULL;
    if (zhashx_lookup(self->by_endpoint, link->stats.endpoint_id) == link)
        zhashx_delete(self->by_endpoint, link->stats.endpoint_id);
    zhashx_delete(self->by_routing, link->routing_key); /* destroys the link */
}

static void s_hello(fx_fwd_set_t *self, zframe_t *routing, const char *key, const char *authed, fx_msg_t *msg)
{
    const char *endpoint_id = msg->endpoint_hello.endpoint_id;
    if (strcmp(endpoint_id, authed) != 0) {
        fx_warn("endpoint=%s tried to say hello as endpoint=%s: refused", authed, endpoint_id);
        s_error(self, routing, msg->seq, FX_E_FORBIDDEN,
                "this connection is authenticated with the key of endpoint %s; it cannot "
                "speak for endpoint %s: connect with that endpoint's own keypair",
                authed, endpoint_id);
        return;
    }
    fx_forwarder_t *old = zhashx_lookup(self->by_endpoint, endpoint_id);
    if (old)
        s_drop(self, old);
    old = zhashx_lookup(self->by_routing, key);
    if (old)
        s_drop(self, old);
    fx_forwarder_t *link = fx_forwarder_new(endpoint_id, routing);
    if (!link) {
        s_error(self, routing, msg->seq, FX_E_NOMEM, "the broker is out of memory: say hello again later");
        return;
    }
    /* The earlier session's tasks go back first; until they have, this
       link takes nothing (a later requeue would take back its new ones). */
    link->requeue_pending = !s_requeue(self, endpoint_id, "said hello");
    zhashx_delete(self->requeue, endpoint_id); /* the link retries it now */
    link->heard_ms = link->sent_ms = fx_now_ms();
    link->heard_wall_ms = s_wall_ms();
    zhashx_insert(self->by_routing, key, link);
    zhashx_insert(self->by_endpoint, endpoint_id, link);
    s_save_seen(self, link);
    /* SPEC 5.18: SUBMIT refuses other functions for it from now on. */
    int rc = self->queue.ops->allowed(self->queue.ctx, endpoint_id, msg->endpoint_hello.allowed_functions,
                                      msg->endpoint_hello.allowed_count);
    if (rc != FX_OK)
        fx_error("cannot keep the allowed functions of endpoint=%s: %s (%s); its next hello tries again",
                 endpoint_id, fx_strerror(rc), self->queue.ops->describe(self->queue.ctx));
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    if (!welcome)
        return;
    welcome->seq = msg->seq;
    memcpy(welcome->welcome.id, endpoint_id, sizeof welcome->welcome.id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = self->heartbeat_ms;
    fx_msg_send(&welcome, self->sock, routing);
    fx_info("endpoint=%s connected (version %s)", endpoint_id,
            msg->endpoint_hello.version[0] ? msg->endpoint_hello.version : "?");
}

/* HEARTBEAT, seq 0 (it is neither request nor reply: SPEC 3.6.3). */
static void s_heartbeat(fx_fwd_set_t *self, fx_forwarder_t *link)
{
    fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
    if (!beat)
        return;
    link->sent_ms = fx_now_ms();
    fx_msg_send(&beat, self->sock, link->routing);
}

/* One message from an endpoint connection, for the actions below. */
typedef struct {
    zframe_t *routing;
    const char *key;      /* routing hex */
    const char *authed;   /* endpoint id from the ZAP User-Id */
    fx_forwarder_t *link; /* its link, NULL in NONE */
    fx_msg_t *msg;
} s_in_t;

static void s_on_hello(fx_fwd_set_t *self, s_in_t *in)
{
    s_hello(self, in->routing, in->key, in->authed, in->msg);
}

static void s_on_credit(fx_fwd_set_t *self, s_in_t *in)
{
    fx_forwarder_credit(in->link, in->msg->credit.window);
    s_ready(self, in->link);
}

static void s_on_results(fx_fwd_set_t *self, s_in_t *in)
{
    fx_forwarder_results(in->link, self->sock, &self->queue, in->msg, self->acks, self->durable);
    s_ready(self, in->link);
}

/* Kept in memory for listings (SPEC 5.25), forgotten with the link. */
static void s_on_status(fx_fwd_set_t *self, s_in_t *in)
{
    in->link->stats.managers = in->msg->endpoint_status.managers;
    in->link->stats.workers = in->msg->endpoint_status.workers;
    in->link->stats.free = in->msg->endpoint_status.free;
    uint32_t n = in->msg->endpoint_status.container_count; /* the decoder bounds it */
    if (n > FX_CONTAINERS_MAX)
        n = FX_CONTAINERS_MAX;
    if (n)
        memcpy(in->link->status_containers, in->msg->endpoint_status.containers,
               n * sizeof in->link->status_containers[0]);
    in->link->status_container_count = n;
}

static void s_on_fetch(fx_fwd_set_t *self, s_in_t *in)
{
    fx_forwarder_fetch(in->link, self->sock, &self->queue, in->msg);
}

static void s_on_heartbeat(fx_fwd_set_t *self, s_in_t *in)
{
    s_heartbeat(self, in->link);
}

/* An ERROR from an endpoint is logged, never answered (SPEC 10.3). */
static void s_on_error(fx_fwd_set_t *self, s_in_t *in)
{
    fx_warn("endpoint=%s reports %s: %s", in->authed, fx_errname(in->msg->error.code),
            in->msg->error.text ? in->msg->error.text : "");
}

/* SPEC 6.2, broker side: the state of one routing id on the endpoint port
   is NONE (no link) or ACTIVE (a link of the endpoint it authenticated
   as). The table below is that one: in this state, this message gets this
   action, which leaves the routing id in the state named after it (only
   s_hello makes a link, and refuses a hello for another endpoint id with
   FX_E_FORBIDDEN; "endpoint lost -> NONE" is fx_fwd_set_tick's). The
   rows every link shares come first, from proto's arrival check
   (fx_link_admit, SPEC 5.26.1): an ERROR is logged, a type endpoints never
   send is unexpected, anything but ENDPOINT_HELLO in NONE gets
   FX_E_NO_SESSION. */
typedef enum { FX_FWD_NONE, FX_FWD_ACTIVE } fx_fwd_state_t;

typedef void(s_action_fn)(fx_fwd_set_t *self, s_in_t *in);

static s_action_fn *const s_transitions[][FX_MSG_TYPE_LAST + 1] = {
    [FX_FWD_NONE] =
        {
            [FX_MSG_ENDPOINT_HELLO] = s_on_hello, /* -> ACTIVE */
        },
    [FX_FWD_ACTIVE] =
        {
            [FX_MSG_ENDPOINT_HELLO] = s_on_hello, /* a restarted interchange -> ACTIVE */
            [FX_MSG_CREDIT] = s_on_credit,
            [FX_MSG_RESULTS] = s_on_results,
            [FX_MSG_ENDPOINT_STATUS] = s_on_status,
            [FX_MSG_FUNCTION_FETCH] = s_on_fetch,
            [FX_MSG_HEARTBEAT] = s_on_heartbeat, /* all -> ACTIVE */
        },
};

/* A decoded message of an authenticated endpoint: proto's arrival check,
   then the state table. */
static void s_arrive(fx_fwd_set_t *self, s_in_t *in)
{
    int type = in->msg->type;
    fx_admit_t verdict = fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_CONNECTING, in->link != NULL, type);
    if (verdict == FX_ADMIT_REPORT) {
        s_on_error(self, in);
        return;
    }
    if (verdict == FX_ADMIT_UNEXPECTED || verdict == FX_ADMIT_NO_SESSION) {
        char text[256];
        s_error(self, in->routing, in->msg->seq, fx_link_refusal_code(verdict), "%s",
                fx_link_refusal(FX_LINK_ENDPOINT, FX_FROM_CONNECTING, verdict, type, text, sizeof text));
        return;
    }
    if (in->link && verdict != FX_ADMIT_HELLO && strcmp(in->link->stats.endpoint_id, in->authed) != 0) {
        s_error(self, in->routing, in->msg->seq, FX_E_AUTH,
                "this connection is authenticated as endpoint %s, not %s", in->authed,
                in->link->stats.endpoint_id);
        return;
    }
    s_action_fn *action = s_transitions[in->link ? FX_FWD_ACTIVE : FX_FWD_NONE][type];
    if (action)
        action(self, in);
    else /* a request nobody serves still gets an answer */
        s_error(self, in->routing, in->msg->seq, FX_E_UNEXPECTED,
                "this broker does not serve %s (fx-broker %s)", fx_msg_type_name(type), FX_VERSION);
}

void fx_fwd_set_handle(fx_fwd_set_t *self, zframe_t *routing, const char *user_id, zmsg_t **zmsg_p)
{
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = "";
    char *key = zframe_strhex(routing);
    if (!key) {
        zmsg_destroy(zmsg_p);
        return;
    }
    fx_forwarder_t *link = zhashx_lookup(self->by_routing, key);
    if (link) { /* any message at all shows the endpoint is alive */
        link->heard_ms = fx_now_ms();
        link->heard_wall_ms = s_wall_ms();
    }
    int rc = fx_msg_decode(*zmsg_p, &msg, &seq, &detail);
    zmsg_destroy(zmsg_p);
    const char *authed = user_id && strncmp(user_id, S_USER_PREFIX, strlen(S_USER_PREFIX)) == 0
                             ? user_id + strlen(S_USER_PREFIX)
                             : NULL;
    if (rc != FX_OK) {
        if (s_error(self, routing, seq, rc, "cannot decode the message: %s: %s", fx_strerror(rc), detail))
            fx_warn("bad message from endpoint=%s: %s: %s", authed ? authed : "?", fx_strerror(rc), detail);
    }
    else if (!authed || !fx_id_valid(authed))
        s_error(self, routing, seq, FX_E_AUTH,
                "this connection did not authenticate as an endpoint: connect with a "
                "registered endpoint keypair");
    else {
        s_in_t in = {.routing = routing, .key = key, .authed = authed, .link = link, .msg = msg};
        s_arrive(self, &in);
    }
    fx_msg_destroy(&msg);
    free(key);
}

void fx_fwd_set_wake(fx_fwd_set_t *self, const char *endpoint_id)
{
    fx_forwarder_t *link = zhashx_lookup(self->by_endpoint, endpoint_id);
    if (link) {
        link->wants_dispatch = true;
        s_ready(self, link);
    }
}

bool fx_fwd_set_dispatch(fx_fwd_set_t *self)
{
    /* Each link that was ready at the start gets one turn; one that wants
       more goes to the back, for the next pass. */
    for (size_t turns = zlistx_size(self->ready); turns > 0; turns--) {
        fx_forwarder_t *link = zlistx_first(self->ready);
        zlistx_delete(self->ready, link->ready);
        link->ready = NULL;
        if (fx_forwarder_dispatch(link, self->sock, &self->queue))
            s_ready(self, link);
    }
    return zlistx_size(self->ready) > 0;
}

/* A held ack whose commit may not be on disk: ERROR FX_E_IO instead. */
static void s_ack_failed(fx_fwd_set_t *self, fx_held_item_t *item)
{
    /* Not rate-limited: the fault is the broker's, and the endpoint
       resends only what an ERROR FX_E_IO tells it to. */
    uint32_t count = item->msg->ids.count;
    fx_send_error(self->sock, item->routing, item->msg->seq, FX_E_IO,
                  "the broker could not make these %u results durable (its disk failed to sync): they are "
                  "not acknowledged; send them again",
                  count);
}

void fx_fwd_set_durable(fx_fwd_set_t *self, uint64_t upto, int rc)
{
    if (rc == FX_OK) {
        if (upto > self->durable)
            self->durable = upto;
        fx_held_release(self->acks, upto, NULL, NULL);
        return;
    }
    fx_held_item_t item;
    uint32_t failed = 0;
    while (fx_held_pop(self->acks, upto, &item)) {
        s_ack_failed(self, &item);
        failed++;
        fx_msg_destroy(&item.msg);
        zframe_destroy(&item.routing);
    }
    if (failed)
        fx_error("%u RESULTS_ACKs to endpoints answered FX_E_IO instead: the commit they wait for did "
                 "not sync; the endpoints resend those results",
                 failed);
}

size_t fx_fwd_set_held(fx_fwd_set_t *self)
{
    return fx_held_size(self->acks);
}

int64_t fx_fwd_set_tick(fx_fwd_set_t *self, int64_t now)
{
    int64_t beat = self->heartbeat_ms;
    int64_t lost_after = beat * self->missed;
    int64_t next = beat;
    zlist_t *lost = zlist_new();
    for (fx_forwarder_t *link = zhashx_first(self->by_routing); link; link = zhashx_next(self->by_routing)) {
        if (now - link->heard_ms > lost_after) {
            if (lost)
                zlist_append(lost, link);
            continue;
        }
        if (now - link->sent_ms >= beat)
            s_heartbeat(self, link);
        if (link->heard_wall_ms - link->saved_wall_ms >= beat)
            s_save_seen(self, link);
        if (link->take_failed) { /* retries a dispatch a queue error stopped */
            link->wants_dispatch = true;
            s_ready(self, link);
        }
        int64_t due = link->sent_ms + beat - now;
        int64_t dies = link->heard_ms + lost_after + 1 - now;
        next = due < next ? due : next;
        next = dies < next ? dies : next;
    }
    for (fx_forwarder_t *link = lost ? zlist_first(lost) : NULL; link; link = zlist_next(lost)) {
        fx_forwarder_stats_t stats;
        fx_forwarder_stats(link, &stats);
        fx_warn("endpoint=%s lost: silent for %lld ms (%u missed beats); max in flight %u of "
                "window %u",
                stats.endpoint_id, (long long) (now - link->heard_ms), self->missed, stats.max_in_flight,
                stats.window);
        fx_id_text_t id;
        memcpy(id, stats.endpoint_id, sizeof id);
        s_drop(self, link);
        s_requeue_lost(self, id);
    }
    zlist_destroy(&lost);
    s_retry_requeues(self);
    uint64_t suppressed = fx_errlimit_tick(self->errors, now);
    if (suppressed)
        fx_warn("%llu ERRORs to endpoints suppressed (over %d per second to one connection)",
                (unsigned long long) suppressed, FX_ERRLIMIT_PER_SECOND);
    return next < 1 ? 1 : next;
}
