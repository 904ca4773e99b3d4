/*  fx_session.c: client sessions and the push of results to them.

    A session is a routing id that said HELLO: (user, client_id). Results of
    tasks a client_id submitted are pushed to its session, oldest first,
    read from the store with a per-session cursor, so the backlog stays in
    sqlite and only a window of it is ever in memory. A result is pushed at
    most once, ever: it is marked pushed in sqlite before it is sent. After a
    reconnect the client FETCHes what it still waits for, and the FETCH
    reply leaves out what this session was pushed meanwhile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_broker_int.h"

struct _fx_sessions_t {
    zsock_t *sock;
    fx_store_t *store;
    fx_held_t *held; /* pushes wait here for their commit to be durable */
    uint32_t heartbeat_ms;
    zhashx_t *by_routing; /* routing hex -> fx_session_t (owned) */
    zhashx_t *by_client;  /* "user/client_id" -> the same session (not owned) */
    fx_result_t *rows;    /* FX_BATCH_MAX rows read from the store by a push, */
    int64_t *seqs;        /* and their sequence numbers (made at the first push) */
};

static void s_session_destroy(fx_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_session_t *self = *self_p;
    zframe_destroy(&self->routing);
    free(self->routing_key);
    zhashx_destroy(&self->pushed);
    free(self);
    *self_p = NULL;
}

static void s_session_free(void **item)
{
    s_session_destroy((fx_session_t **) item);
}

/* The pushed set's values: the result's FX_TIME_BROKER_RESULT_DURABLE and
   FX_TIME_BROKER_PUSHED, known when the push leaves, stored with the
   client's ack (fx_store_results_ack). */
static void s_stamps_free(void **item)
{
    free(*item);
    *item = NULL;
}

/* Puts task_id in the session's pushed set (stamps not known yet). */
static void s_pushed_put(fx_session_t *session, const char *task_id)
{
    if (zhashx_lookup(session->pushed, task_id))
        return;
    uint64_t *stamps = calloc(2, sizeof *stamps);
    if (stamps && zhashx_insert(session->pushed, task_id, stamps) != 0)
        free(stamps);
}

static void s_client_key(char *out, size_t cap, const char *user_id, const char *client_id)
{
    snprintf(out, cap, "%s/%s", user_id, client_id);
}

fx_sessions_t *fx_sessions_new(zsock_t *sock, fx_store_t *store, fx_held_t *held, uint32_t heartbeat_ms)
{
    fx_sessions_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->store = store;
    self->held = held;
    self->heartbeat_ms = heartbeat_ms;
    self->by_routing = zhashx_new();
    self->by_client = zhashx_new();
    if (!self->by_routing || !self->by_client) {
        fx_sessions_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_routing, s_session_free);
    return self;
}

void fx_sessions_destroy(fx_sessions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_sessions_t *self = *self_p;
    zhashx_destroy(&self->by_client);
    zhashx_destroy(&self->by_routing);
    free(self->rows);
    free(self->seqs);
    free(self);
    *self_p = NULL;
}

size_t fx_sessions_size(fx_sessions_t *self)
{
    return zhashx_size(self->by_routing);
}

static void s_drop(fx_sessions_t *self, fx_session_t *session)
{
    char key[2 * sizeof(fx_id_text_t) + 2];
    s_client_key(key, sizeof key, session->user_id, session->client_id);
    if (zhashx_lookup(self->by_client, key) == session)
        zhashx_delete(self->by_client, key);
    zhashx_delete(self->by_routing, session->routing_key); /* destroys it */
}

fx_session_t *fx_sessions_hello(fx_sessions_t *self, zframe_t *routing, const char *user_id,
                                const char *client_id)
{
    char key[2 * sizeof(fx_id_text_t) + 2];
    s_client_key(key, sizeof key, user_id, client_id);
    fx_session_t *old = zhashx_lookup(self->by_client, key);
    if (old)
        s_drop(self, old);
    char *routing_key = zframe_strhex(routing);
    if (!routing_key)
        return NULL;
    old = zhashx_lookup(self->by_routing, routing_key);
    if (old)
        s_drop(self, old);
    fx_session_t *session = calloc(1, sizeof *session);
    if (!session) {
        free(routing_key);
        return NULL;
    }
    session->routing_key = routing_key;
    session->routing = zframe_dup(routing);
    session->pushed = zhashx_new();
    if (!session->routing || !session->pushed) {
        s_session_destroy(&session);
        return NULL;
    }
    zhashx_set_destructor(session->pushed, s_stamps_free);
    snprintf(session->user_id, sizeof session->user_id, "%s", user_id);
    snprintf(session->client_id, sizeof session->client_id, "%s", client_id);
    session->heard_ms = session->beat_ms = fx_now_ms();
    session->dirty = true; /* push what is waiting for this client_id */
    zhashx_insert(self->by_routing, routing_key, session);
    zhashx_insert(self->by_client, key, session);
    return session;
}

fx_session_t *fx_sessions_find(fx_sessions_t *self, zframe_t *routing)
{
    char *key = zframe_strhex(routing);
    fx_session_t *session = key ? zhashx_lookup(self->by_routing, key) : NULL;
    free(key);
    return session;
}

void fx_sessions_notify(fx_sessions_t *self, const char *owner, const char *client_id)
{
    char key[2 * sizeof(fx_id_text_t) + 2];
    s_client_key(key, sizeof key, owner, client_id);
    fx_session_t *session = zhashx_lookup(self->by_client, key);
    if (session)
        session->dirty = true;
}

void fx_sessions_mark(fx_sessions_t *self, fx_session_t *session, const fx_id_text_t *ids, uint32_t count,
                      bool fetched)
{
    for (uint32_t i = 0; i < count; i++) {
        if (fetched)
            s_pushed_put(session, ids[i]);
        else
            zhashx_delete(session->pushed, ids[i]);
    }
    if (!fetched && count)
        session->dirty = true; /* the window opened */
}

uint32_t fx_sessions_drop_pushed(fx_session_t *session, fx_msg_t *msg)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < msg->results.count; i++) {
        fx_result_t *result = &msg->results.results[i];
        if (zhashx_lookup(session->pushed, result->task_id)) {
            free(result->error_text);
            zframe_destroy(&result->value);
            zframe_destroy(&result->output);
            continue;
        }
        if (kept != i)
            msg->results.results[kept] = *result;
        kept++;
    }
    msg->results.count = kept;
    return kept;
}

/* Pushes up to FX_SESSION_BATCHES_PER_PASS batches. True if more may wait. */
/* The RESULTS push of n rows read into self->rows (moved into it), or
   NULL on OOM (the rows freed: nothing changed, read again later). */
static fx_msg_t *s_push_msg(fx_sessions_t *self, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    if (!msg || fx_msg_alloc_records(msg, n) != FX_OK) {
        fx_msg_destroy(&msg);
        fx_store_results_free(self->rows, n);
        return NULL;
    }
    memcpy(msg->results.results, self->rows, n * sizeof *self->rows);
    return msg;
}

static bool s_pump_one(fx_sessions_t *self, fx_session_t *session)
{
    int64_t *seqs = self->seqs;
    for (int batch = 0; batch < FX_SESSION_BATCHES_PER_PASS; batch++) {
        size_t unacked = zhashx_size(session->pushed);
        if (unacked >= FX_SESSION_WINDOW) {
            session->dirty = false; /* an ack reopens it */
            return false;
        }
        uint32_t room = (uint32_t) (FX_SESSION_WINDOW - unacked);
        if (room > FX_BATCH_MAX)
            room = FX_BATCH_MAX;
        uint32_t n = 0;
        int rc = fx_store_results_pending(self->store, session->user_id, session->client_id, session->cursor,
                                          room, self->rows, seqs, &n);
        fx_msg_t *msg = rc == FX_OK && n > 0 ? s_push_msg(self, n) : NULL;
        if (!msg) {
            if (rc != FX_OK)
                fx_error("cannot read results for client=%s: %s (%s); retrying later", session->client_id,
                         fx_strerror(rc), fx_store_errmsg(self->store));
            session->dirty = false; /* a new result, an ack or the tick wakes it */
            session->retry = rc != FX_OK || n > 0;
            return false;
        }
        int64_t cursor = session->cursor;
        session->cursor = seqs[msg->results.count - 1];
        if (fx_sessions_drop_pushed(session, msg) == 0) {
            fx_msg_destroy(&msg);
            continue;
        }
        /* Durably pushed before it is sent: never pushed twice, even
           across a broker restart (the client FETCHes a lost push). */
        if ((rc = fx_store_results_mark_pushed(self->store, msg->results.results, msg->results.count)) !=
            FX_OK) {
            fx_error("cannot mark results pushed for client=%s: %s (%s); retrying later", session->client_id,
                     fx_strerror(rc), fx_store_errmsg(self->store));
            fx_msg_destroy(&msg);
            session->cursor = cursor; /* read these again */
            session->dirty = false;
            session->retry = true;
            return false;
        }
        for (uint32_t i = 0; i < msg->results.count; i++)
            s_pushed_put(session, msg->results.results[i].task_id);
        msg->seq = 0; /* a push, not a reply (SPEC 3.6.3) */
        /* Sent once the mark is on disk (the broker releases it). */
        if (fx_held_add(self->held, fx_store_written(self->store), self->sock, session->routing, &msg) !=
            FX_OK)
            fx_warn("cannot push results to client=%s: out of memory (it FETCHes them after its next "
                    "HELLO)",
                    session->client_id);
    }
    return true;
}

bool fx_sessions_pump(fx_sessions_t *self)
{
    bool busy = false;
    for (fx_session_t *session = zhashx_first(self->by_routing); session;
         session = zhashx_next(self->by_routing)) {
        if (!session->dirty)
            continue;
        if (!self->rows) {
            self->rows = calloc(FX_BATCH_MAX, sizeof *self->rows);
            self->seqs = calloc(FX_BATCH_MAX, sizeof *self->seqs);
            if (!self->rows || !self->seqs) {
                free(self->rows);
                free(self->seqs);
                self->rows = NULL;
                self->seqs = NULL;
                return true; /* out of memory: try again at once */
            }
        }
        busy |= s_pump_one(self, session);
    }
    return busy;
}

/* Every live session gets a HEARTBEAT each period (SPEC 9.2: sending one
   every period regardless is correct); silent ones are forgotten. */
int64_t fx_sessions_tick(fx_sessions_t *self, int64_t now)
{
    int64_t idle = (int64_t) self->heartbeat_ms * FX_SESSION_MISSED_BEATS;
    zlist_t *silent = zlist_new();
    for (fx_session_t *session = zhashx_first(self->by_routing); session && silent;
         session = zhashx_next(self->by_routing)) {
        if (now - session->heard_ms > idle) {
            zlist_append(silent, session);
            continue;
        }
        if (session->retry) {
            session->retry = false;
            session->dirty = true;
        }
        if (now - session->beat_ms >= (int64_t) self->heartbeat_ms) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            if (beat)
                fx_msg_send(&beat, self->sock, session->routing);
            session->beat_ms = now;
        }
    }
    for (fx_session_t *session = silent ? zlist_first(silent) : NULL; session; session = zlist_next(silent)) {
        fx_info("client=%s of user=%s silent for %lld ms: session closed", session->client_id,
                session->user_id, (long long) (now - session->heard_ms));
        s_drop(self, session);
    }
    zlist_destroy(&silent);
    return self->heartbeat_ms;
}

void fx_sessions_stamped(fx_sessions_t *self, zframe_t *routing, const fx_msg_t *msg)
{
    fx_session_t *session = fx_sessions_find(self, routing);
    for (uint32_t i = 0; session && i < msg->results.count; i++) {
        const fx_result_t *result = &msg->results.results[i];
        uint64_t *stamps = zhashx_lookup(session->pushed, result->task_id);
        if (stamps) {
            stamps[0] = result->times[FX_TIME_BROKER_RESULT_DURABLE];
            stamps[1] = result->times[FX_TIME_BROKER_PUSHED];
        }
    }
}

void fx_sessions_stamps(fx_session_t *session, const fx_id_text_t *ids, uint32_t count, uint64_t (*out)[2])
{
    for (uint32_t i = 0; i < count; i++) {
        const uint64_t *stamps = zhashx_lookup(session->pushed, ids[i]);
        out[i][0] = stamps ? stamps[0] : 0;
        out[i][1] = stamps ? stamps[1] : 0;
    }
}
