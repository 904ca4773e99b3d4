/*  fx_client.c: the client protocol on the broker's client port. Each
    message is checked against the ZAP User-Id of its connection; each
    action is one small function that answers with its reply or an ERROR. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_broker_int.h"
#include "fx_link.h"

/* fx_store_online_fn over the forwarders (arg). */
static bool s_online(const char *endpoint_id, void *arg)
{
    return fx_fwd_set_online(arg, endpoint_id);
}

/* A RESULTS reply with room for `room` records (count 0 until the store
   filled them), or NULL on OOM. */
static fx_msg_t *s_results_msg(uint32_t room)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    if (msg && fx_msg_alloc_records(msg, room) != FX_OK)
        fx_msg_destroy(&msg);
    if (msg)
        msg->results.count = 0; /* filled by the store, then counted */
    return msg;
}

/* ERROR to a client connection, unless it has had too many lately. */
bool fx_client_error(fx_broker_t *broker, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool sent = fx_errlimit_vsend(broker->client_errors, broker->client, routing, seq, code, fmt, ap);
    va_end(ap);
    return sent;
}

/* Sends a reply built by the caller; logs a failure (the client retries). */
void fx_client_reply(fx_broker_t *broker, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p) {
        fx_client_error(broker, routing, seq, FX_E_NOMEM, "the broker is out of memory: try again later");
        return;
    }
    (*msg_p)->seq = seq;
    int type = (*msg_p)->type;
    int rc = fx_msg_send(msg_p, broker->client, routing);
    if (rc != FX_OK)
        fx_warn("cannot send %s to a client: %s", fx_msg_type_name(type), fx_strerror(rc));
}

/* A reply to a request that committed something: it leaves once that is
   durable (fx_broker_reply_durable). */
void fx_client_reply_durable(fx_broker_t *broker, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p) {
        fx_client_error(broker, routing, seq, FX_E_NOMEM, "the broker is out of memory: try again later");
        return;
    }
    (*msg_p)->seq = seq;
    fx_broker_reply_durable(broker, routing, msg_p);
}

static void s_hello(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user_id,
                    fx_msg_t *msg)
{
    session = fx_sessions_hello(broker->sessions, routing, user_id, msg->hello.client_id);
    if (!session) {
        fx_client_error(broker, routing, msg->seq, FX_E_NOMEM,
                        "the broker is out of memory: say HELLO again later");
        return;
    }
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    if (welcome) {
        memcpy(welcome->welcome.id, user_id, sizeof welcome->welcome.id);
        fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
        welcome->welcome.heartbeat_ms = broker->conf.heartbeat_ms;
    }
    fx_client_reply(broker, routing, &welcome, msg->seq);
}

static void s_register_endpoint(fx_broker_t *broker, zframe_t *routing, fx_session_t *session,
                                const char *user, fx_msg_t *msg)
{
    char err[512];
    int rc = fx_store_endpoint_register(broker->store, session->user_id, msg->register_endpoint.endpoint_id,
                                        msg->register_endpoint.name, msg->register_endpoint.public_key, err,
                                        sizeof err);
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        return;
    }
    fx_msg_t *reply = fx_msg_new(FX_MSG_ENDPOINT_REGISTERED);
    if (reply)
        memcpy(reply->endpoint_registered.endpoint_id, msg->register_endpoint.endpoint_id,
               sizeof(fx_id_text_t));
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}

static void s_submit(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                     fx_msg_t *msg)
{
    char err[512];
    uint32_t stored = 0;
    uint64_t now = (uint64_t) fx_wall_us();
    for (uint32_t i = 0; i < msg->submit.count; i++)
        msg->submit.tasks[i].times[FX_TIME_BROKER_RECEIVED] = now;
    int rc = fx_store_submit(broker->store, session->user_id, session->client_id, msg->submit.tasks,
                             msg->submit.count, &stored, err, sizeof err);
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        return;
    }
    /* Dispatch does not wait for the disk (SPEC 8.1 holds the reply only:
       a task run before a crash lost it is answered by a result for an
       unknown task, dropped, and the client resends, 8.4, 8.8). */
    const char *woken = "";
    for (uint32_t i = 0; stored > 0 && i < msg->submit.count; i++)
        if (strcmp(msg->submit.tasks[i].endpoint_id, woken) != 0) {
            woken = msg->submit.tasks[i].endpoint_id;
            fx_fwd_set_wake(broker->forwarders, woken);
        }
    fx_msg_t *reply = fx_msg_new(FX_MSG_SUBMITTED);
    if (reply) /* every task of the batch is held now, new or resent */
        reply->submitted.accepted = msg->submit.count;
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}

static void s_results_ack(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                          fx_msg_t *msg)
{
    uint64_t(*stamps)[2] = msg->ids.count ? calloc(msg->ids.count, sizeof *stamps) : NULL;
    if (stamps)
        fx_sessions_stamps(session, msg->ids.ids, msg->ids.count, stamps);
    int rc =
        fx_store_results_ack(broker->store, session->user_id, msg->ids.ids, msg->ids.count, stamps, NULL);
    free(stamps);
    if (rc != FX_OK) {
        /* Not delivered: the results stay DONE and unacked in this session
           (no push repeats them); the client may ack again (SPEC 6.1). */
        fx_error("cannot mark %u results delivered: %s", msg->ids.count, fx_store_errmsg(broker->store));
        fx_client_error(broker, routing, msg->seq, rc,
                        "the broker could not record the acknowledgement of %u results (%s): send "
                        "RESULTS_ACK again",
                        msg->ids.count, fx_store_errmsg(broker->store));
        return;
    }
    fx_sessions_mark(broker->sessions, session, msg->ids.ids, msg->ids.count, false);
}

static void s_status(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                     fx_msg_t *msg)
{
    fx_msg_t *reply = fx_msg_new(FX_MSG_STATUS_REPLY);
    int rc = reply ? fx_msg_alloc_records(reply, msg->ids.count) : FX_E_NOMEM;
    if (rc == FX_OK)
        rc = fx_store_status(broker->store, session->user_id, msg->ids.ids, msg->ids.count,
                             reply->status_reply.tasks);
    if (rc != FX_OK) {
        fx_msg_destroy(&reply);
        fx_client_error(broker, routing, msg->seq, rc, "cannot read task states: %s: try again",
                        fx_strerror(rc));
        return;
    }
    fx_client_reply(broker, routing, &reply, msg->seq);
}

static void s_fetch(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                    fx_msg_t *msg)
{
    fx_msg_t *reply = s_results_msg(msg->ids.count);
    int rc = reply ? fx_store_results_fetch(broker->store, session->user_id, msg->ids.ids, msg->ids.count,
                                            reply->results.results, &reply->results.count)
                   : FX_E_NOMEM;
    if (rc != FX_OK) {
        fx_msg_destroy(&reply);
        fx_client_error(broker, routing, msg->seq, rc, "cannot read results: %s: try again", fx_strerror(rc));
        return;
    }
    /* What this session was pushed already is not sent again; the rest is
       marked pushed (durably, before it is sent) and in the session, so no
       push repeats it. */
    fx_sessions_drop_pushed(session, reply);
    if ((rc = fx_store_results_mark_pushed(broker->store, reply->results.results, reply->results.count)) !=
        FX_OK) {
        fx_msg_destroy(&reply);
        fx_client_error(broker, routing, msg->seq, rc,
                        "cannot record the results as sent: %s (%s): try again", fx_strerror(rc),
                        fx_store_errmsg(broker->store));
        return;
    }
    for (uint32_t i = 0; i < reply->results.count; i++)
        fx_sessions_mark(broker->sessions, session, &reply->results.results[i].task_id, 1, true);
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}

static void s_list(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                   fx_msg_t *msg)
{
    fx_msg_t *reply = fx_msg_new(FX_MSG_LIST_REPLY);
    char err[512] = "";
    int rc = reply ? fx_client_list(broker, session->user_id, msg, reply, err, sizeof err) : FX_E_NOMEM;
    if (rc != FX_OK) {
        fx_msg_destroy(&reply);
        if (err[0])
            fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        else
            fx_client_error(broker, routing, msg->seq, rc, "cannot list: %s: try again", fx_strerror(rc));
        return;
    }
    fx_client_reply(broker, routing, &reply, msg->seq);
}

/* Forwards CANCEL to the endpoints of the tasks still DISPATCHED after the
   store's cancel, one message per endpoint. */
static void s_forward_cancel(fx_broker_t *broker, const fx_task_status_t *tasks, uint32_t count)
{
    bool *sent = calloc(count, sizeof *sent);
    fx_id_text_t *ids = calloc(count, sizeof *ids);
    for (uint32_t i = 0; sent && ids && i < count; i++) {
        if (sent[i] || tasks[i].state != FX_TASK_DISPATCHED)
            continue;
        uint32_t n = 0;
        for (uint32_t j = i; j < count; j++)
            if (!sent[j] && tasks[j].state == FX_TASK_DISPATCHED &&
                strcmp(tasks[j].endpoint_id, tasks[i].endpoint_id) == 0) {
                memcpy(ids[n++], tasks[j].task_id, sizeof(fx_id_text_t));
                sent[j] = true;
            }
        if (fx_fwd_set_cancel(broker->forwarders, tasks[i].endpoint_id, ids, n) != 0)
            fx_warn("could not forward CANCEL of %u tasks to endpoint=%s; they end cancelled "
                    "if it is lost",
                    n, tasks[i].endpoint_id);
    }
    if (!sent || !ids)
        fx_error("out of memory forwarding a CANCEL of %u tasks", count);
    free(sent);
    free(ids);
}

static void s_cancel(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                     fx_msg_t *msg)
{
    fx_msg_t *reply = fx_msg_new(FX_MSG_STATUS_REPLY);
    int rc = reply ? fx_msg_alloc_records(reply, msg->cancel.count) : FX_E_NOMEM;
    if (rc == FX_OK)
        rc = fx_store_cancel(broker->store, session->user_id, msg->cancel.ids, msg->cancel.count,
                             msg->cancel.queued_only != 0, s_online, broker->forwarders,
                             reply->status_reply.tasks);
    if (rc != FX_OK) {
        fx_msg_destroy(&reply);
        fx_client_error(broker, routing, msg->seq, rc,
                        "cannot cancel: %s (%s): nothing was cancelled; try again", fx_strerror(rc),
                        fx_store_errmsg(broker->store));
        return;
    }
    if (!msg->cancel.queued_only)
        s_forward_cancel(broker, reply->status_reply.tasks, reply->status_reply.count);
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}

static void s_heartbeat(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                        fx_msg_t *msg)
{
    fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
    fx_client_reply(broker, routing, &beat, 0); /* not a reply: seq 0 (SPEC 3.6.3) */
}

/* An ERROR from a client is logged, never answered (SPEC 10.3). */
static void s_peer_error(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                         fx_msg_t *msg)
{
    fx_warn("client of user=%s reports %s: %s", user, fx_errname(msg->error.code),
            msg->error.text ? msg->error.text : "");
}

/* SPEC 6.1, broker side: the state of one routing id on the client port
   is NONE (no session) or ACTIVE (a session bound to (user, client_id)).
   The table below is that one: in this state, this message gets this
   action, which leaves the routing id in the state named after it (only
   s_hello makes a session; "client lost -> NONE" is fx_sessions_tick's).
   The rows every link shares come first, from proto's arrival check
   (fx_link_admit, SPEC 5.26.1): an ERROR is logged, a type clients never
   send is unexpected, anything but HELLO in NONE gets FX_E_NO_SESSION. */
typedef enum { FX_CLIENT_NONE, FX_CLIENT_ACTIVE } fx_client_state_t;

typedef void(s_action_fn)(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                          fx_msg_t *msg);

static s_action_fn *const s_transitions[][FX_MSG_TYPE_LAST + 1] = {
    [FX_CLIENT_NONE] =
        {
            [FX_MSG_HELLO] = s_hello, /* -> ACTIVE */
        },
    [FX_CLIENT_ACTIVE] =
        {
            [FX_MSG_HELLO] = s_hello, /* rebind -> ACTIVE */
            [FX_MSG_REGISTER_FUNCTION] = fx_client_register_function,
            [FX_MSG_FUNCTION_GET] = fx_client_function_get,
            [FX_MSG_PROVENANCE] = fx_client_provenance,
            [FX_MSG_ENDPOINT_QUERY] = fx_client_endpoint_query,
            [FX_MSG_REGISTER_ENDPOINT] = s_register_endpoint,
            [FX_MSG_REGISTER_CONTAINER] = fx_client_register_container,
            [FX_MSG_SUBMIT] = s_submit,
            [FX_MSG_STATUS] = s_status,
            [FX_MSG_FETCH] = s_fetch,
            [FX_MSG_LIST] = s_list,
            [FX_MSG_CANCEL] = s_cancel,
            [FX_MSG_RESULTS_ACK] = s_results_ack,
            [FX_MSG_HEARTBEAT] = s_heartbeat, /* all -> ACTIVE */
        },
};

/* A decoded message of an authenticated user: proto's arrival check, then
   the state table. */
static void s_arrive(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                     fx_msg_t *msg)
{
    fx_admit_t verdict = fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, session != NULL, msg->type);
    if (verdict == FX_ADMIT_REPORT) {
        s_peer_error(broker, routing, session, user, msg);
        return;
    }
    if (verdict == FX_ADMIT_UNEXPECTED || verdict == FX_ADMIT_NO_SESSION) {
        char text[256];
        fx_client_error(
            broker, routing, msg->seq, fx_link_refusal_code(verdict), "%s",
            fx_link_refusal(FX_LINK_CLIENT, FX_FROM_CONNECTING, verdict, msg->type, text, sizeof text));
        return;
    }
    if (session && verdict != FX_ADMIT_HELLO && strcmp(session->user_id, user) != 0) {
        fx_client_error(broker, routing, msg->seq, FX_E_AUTH,
                        "this connection is authenticated as user %s, not %s", user, session->user_id);
        return;
    }
    s_action_fn *action = s_transitions[session ? FX_CLIENT_ACTIVE : FX_CLIENT_NONE][msg->type];
    if (action)
        action(broker, routing, session, user, msg);
    else /* a request nobody serves still gets an answer: a client never waits for nothing */
        fx_client_error(broker, routing, msg->seq, FX_E_UNEXPECTED,
                        "this broker does not serve %s (fx-broker %s)", fx_msg_type_name(msg->type),
                        FX_VERSION);
}

void fx_client_handle(fx_broker_t *broker, zframe_t *routing, const char *user_id, zmsg_t **zmsg_p)
{
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(*zmsg_p, &msg, &seq, &detail);
    zmsg_destroy(zmsg_p);
    const char *user = user_id && strncmp(user_id, FX_BROKER_USER_PREFIX, strlen(FX_BROKER_USER_PREFIX)) == 0
                           ? user_id + strlen(FX_BROKER_USER_PREFIX)
                           : NULL;
    fx_session_t *session = fx_sessions_find(broker->sessions, routing);
    if (session) /* any message at all shows the client is alive */
        session->heard_ms = fx_now_ms();
    if (rc != FX_OK) {
        if (fx_client_error(broker, routing, seq, rc, "cannot decode the message: %s: %s", fx_strerror(rc),
                            detail))
            fx_warn("bad message from user=%s: %s: %s", user ? user : "?", fx_strerror(rc), detail);
    }
    else if (!user || !fx_id_valid(user))
        fx_client_error(broker, routing, seq, FX_E_AUTH,
                        "this connection did not authenticate as a user: connect with the keypair "
                        "of your credentials file");
    else
        s_arrive(broker, routing, session, user, msg);
    fx_msg_destroy(&msg);
}
