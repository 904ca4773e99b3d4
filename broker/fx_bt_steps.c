/*  fx_bt_steps.c: the broker tests' protocol steps (fx_bt.h): hellos,
    registrations, SUBMIT, an endpoint taking and answering tasks, a client
    collecting results, STATUS; and the usual world of users, broker and
    peers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"

/* ---------------------------------------------------------------- steps */

uint32_t bt_hello(bt_peer_t *client, const char *client_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_HELLO);
    memcpy(msg->hello.client_id, client_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->hello.client_version, "test", sizeof msg->hello.client_version);
    fx_strlcpy(msg->hello.python_version, "3.11.2", sizeof msg->hello.python_version);
    return bt_send(client, msg);
}

/* HELLO and WELCOME; returns the heartbeat period. */
uint32_t bt_session(bt_peer_t *client, const char *client_id, const char *user_id)
{
    uint32_t seq = bt_hello(client, client_id);
    fx_msg_t *msg = bt_expect(client, FX_MSG_WELCOME, seq);
    uint32_t beat = msg ? msg->welcome.heartbeat_ms : 0;
    CHECK(msg && strcmp(msg->welcome.id, user_id) == 0 && beat > 0);
    client->keepalive = msg != NULL;
    fx_msg_destroy(&msg);
    return beat;
}

void bt_endpoint_hello(bt_peer_t *ep, const char *endpoint_id, bool ok)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(msg->endpoint_hello.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->endpoint_hello.version, "test", sizeof msg->endpoint_hello.version);
    uint32_t seq = bt_send(ep, msg);
    if (!ok) {
        bt_expect_error(ep, FX_E_FORBIDDEN, seq);
        return;
    }
    msg = bt_expect(ep, FX_MSG_WELCOME, seq);
    CHECK(msg && strcmp(msg->welcome.id, endpoint_id) == 0);
    ep->keepalive = msg != NULL;
    ep->endpoint = true;
    fx_msg_destroy(&msg);
}

void bt_credit(bt_peer_t *ep, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    bt_send(ep, msg);
}

uint32_t bt_register_function(bt_peer_t *client, const char *id, const char *body)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "double", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    msg->register_function.body = zframe_new(body, strlen(body));
    return bt_send(client, msg);
}

uint32_t bt_register_endpoint(bt_peer_t *client, const char *id, const char *name, const char *key)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    memcpy(msg->register_endpoint.endpoint_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_endpoint.name, name, sizeof msg->register_endpoint.name);
    fx_strlcpy(msg->register_endpoint.public_key, key, sizeof msg->register_endpoint.public_key);
    return bt_send(client, msg);
}

/* SUBMIT n new tasks; their ids go to ids. Returns the seq. */
uint32_t bt_submit(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                   fx_id_text_t *ids)
{
    for (uint32_t i = 0; i < n; i++)
        fx_id_new(ids[i]);
    return bt_submit_ids(client, endpoint_id, function_id, n, ids);
}

uint32_t bt_submit_ids(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                       const fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        memcpy(t->task_id, ids[i], sizeof(fx_id_text_t));
        memcpy(t->endpoint_id, endpoint_id, sizeof(fx_id_text_t));
        memcpy(t->function_id, function_id, sizeof(fx_id_text_t));
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->payload = zframe_new("args", 4);
    }
    return bt_send(client, msg);
}

void bt_submit_ok(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                  fx_id_text_t *ids)
{
    uint32_t seq = bt_submit(client, endpoint_id, function_id, n, ids);
    fx_msg_t *msg = bt_expect(client, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == n);
    fx_msg_destroy(&msg);
}

/* The endpoint takes TASKS until `want` tasks arrived (deadline); ids and
   attempts of what came go to ids/attempts. Returns how many came. */
uint32_t bt_take_tasks(bt_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts)
{
    uint32_t got = 0;
    while (got < want) {
        fx_msg_t *msg = bt_next(ep, BT_WAIT_MS);
        if (!msg)
            break;
        CHECK(msg->type == FX_MSG_TASKS);
        for (uint32_t i = 0; msg->type == FX_MSG_TASKS && i < msg->tasks.count; i++) {
            fx_task_t *t = &msg->tasks.tasks[i];
            CHECK(t->kind == FX_FN_PYTHON && strcmp(t->entry, "double") == 0);
            CHECK(zframe_streq(t->body, "def double(x): return 2 * x\n"));
            CHECK(zframe_streq(t->payload, "args"));
            if (got < want) {
                memcpy(ids[got], t->task_id, sizeof(fx_id_text_t));
                if (attempts)
                    attempts[got] = t->attempt;
            }
            got++;
        }
        fx_msg_destroy(&msg);
    }
    return got;
}

uint32_t bt_results(bt_peer_t *ep, const fx_id_text_t *ids, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_result_t *r = &msg->results.results[i];
        memcpy(r->task_id, ids[i], sizeof(fx_id_text_t));
        char value[64];
        snprintf(value, sizeof value, "v:%s", ids[i]);
        r->value = zframe_new(value, strlen(value));
        r->output = zframe_new("printed\n", 8);
    }
    return bt_send(ep, msg);
}

/* The endpoint returns results for ids (value "v:<id>") and checks the ack.
   TASKS that the freed credit brought may come before it (the ack waits
   for the results' commit to be durable, dispatch does not): they are kept,
   with the CONTAINERS that precede them, for the next bt_next. */
void bt_return(bt_peer_t *ep, fx_id_text_t *ids, uint32_t n)
{
    uint32_t seq = bt_results(ep, ids, n);
    zlist_t *ahead = zlist_new();
    fx_msg_t *msg = NULL;
    while ((msg = bt_next(ep, BT_WAIT_MS)) && (msg->type == FX_MSG_TASKS || msg->type == FX_MSG_CONTAINERS) &&
           ahead)
        zlist_append(ahead, msg);
    /* The stash is now: what came ahead, then what is left of the old one. */
    for (fx_msg_t *rest = ep->stash ? zlist_pop(ep->stash) : NULL; rest && ahead; rest = zlist_pop(ep->stash))
        zlist_append(ahead, rest);
    zlist_destroy(&ep->stash);
    ep->stash = ahead;
    if (!msg || msg->type != FX_MSG_RESULTS_ACK || msg->seq != seq) {
        fprintf(stderr, "%s expected RESULTS_ACK seq %u, got %s seq %u\n", ep->name, seq,
                msg ? fx_msg_type_name(msg->type) : "nothing", msg ? msg->seq : 0);
        fx_check_failures++;
        fx_msg_destroy(&msg);
    }
    CHECK(msg && msg->ids.count == n);
    for (uint32_t i = 0; msg && i < msg->ids.count && i < n; i++)
        CHECK(strcmp(msg->ids.ids[i], ids[i]) == 0);
    fx_msg_destroy(&msg);
}

/* The client collects pushed RESULTS (seq 0) until it has the n ids, each
   exactly once, and acks them if ack. */
void bt_collect(bt_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack)
{
    bool *seen = calloc(n, sizeof *seen);
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = bt_expect(client, FX_MSG_RESULTS, 0);
        if (!msg)
            break;
        for (uint32_t i = 0; i < msg->results.count; i++) {
            fx_result_t *r = &msg->results.results[i];
            uint32_t j = 0;
            while (j < n && strcmp(ids[j], r->task_id) != 0)
                j++;
            CHECK(j < n); /* a result we did not expect */
            if (j == n)
                continue;
            CHECK(!seen[j]); /* pushed twice */
            seen[j] = true;
            have++;
            char value[64];
            snprintf(value, sizeof value, "v:%s", ids[j]);
            CHECK(zframe_streq(r->value, value) && zframe_streq(r->output, "printed\n"));
            CHECK(r->status == FX_RESULT_OK);
        }
        if (ack) {
            fx_msg_t *reply = fx_msg_new(FX_MSG_RESULTS_ACK);
            fx_msg_alloc_records(reply, msg->results.count);
            for (uint32_t i = 0; i < msg->results.count; i++)
                memcpy(reply->ids.ids[i], msg->results.results[i].task_id, sizeof(fx_id_text_t));
            bt_send(client, reply);
        }
        fx_msg_destroy(&msg);
    }
    free(seen);
}

int bt_status(bt_peer_t *client, const char *task_id, uint32_t *attempts)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], task_id, sizeof(fx_id_text_t));
    uint32_t seq = bt_send(client, msg);
    msg = bt_expect(client, FX_MSG_STATUS_REPLY, seq);
    int state = -1;
    if (msg && msg->status_reply.count == 1) {
        state = msg->status_reply.tasks[0].state;
        if (attempts)
            *attempts = msg->status_reply.tasks[0].attempts;
    }
    fx_msg_destroy(&msg);
    return state;
}

/* ---------------------------------------------------------------- world */

int bt_world_setup(bt_world_t *w, const char *const *flags)
{
    memset(w, 0, sizeof *w);
    fx_keypair_new(&w->alice_kp);
    fx_keypair_new(&w->bob_kp);
    fx_keypair_new(&w->ep_kp);
    fx_id_new(w->client);
    fx_id_new(w->bob_client);
    fx_id_new(w->fn);
    fx_id_new(w->ep);
    char err[512], state[300], cmd[400];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state); /* a fresh world each time */
    if (system(cmd) != 0)
        return -1;
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    if (!store) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        return -1;
    }
    CHECK(fx_store_user_create(store, "alice", w->alice_kp.public_key, w->alice, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "bob", w->bob_kp.public_key, w->bob, err, sizeof err) == FX_OK);
    fx_store_destroy(&store);
    if (bt_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", flags) != 0)
        return -1;
    w->alice_c = bt_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    w->bob_c = bt_peer_new("bob", w->broker.client_addr, &w->bob_kp, w->broker.public_key);
    bt_session(w->alice_c, w->client, w->alice);
    bt_session(w->bob_c, w->bob_client, w->bob);
    uint32_t seq = bt_register_function(w->alice_c, w->fn, "def double(x): return 2 * x\n");
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = bt_register_endpoint(w->alice_c, w->ep, "laptop", w->ep_kp.public_key);
    msg = bt_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
    w->endpoint = bt_peer_new("endpoint", w->broker.endpoint_addr, &w->ep_kp, w->broker.public_key);
    bt_endpoint_hello(w->endpoint, w->ep, true);
    return fx_check_failures ? -1 : 0;
}

void bt_world_teardown(bt_world_t *w)
{
    bt_peer_destroy(&w->alice_c);
    bt_peer_destroy(&w->bob_c);
    bt_peer_destroy(&w->endpoint);
    if (w->broker.pid > 0) /* never kill(0): that is our own process group */
        bt_broker_stop(&w->broker);
}
