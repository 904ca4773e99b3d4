/*  fx_broker_test.c: the real fx-broker binary (path in argv[1]) on free
    loopback ports and a temporary state directory (helpers: fx_bt.h).
    The test creates users through fxstore before the start, then plays
    clients and endpoints over CurveZMQ. Every wait has a deadline.

    Scenarios (fx_test_main), in order, on one broker; one asked for by
    name first runs those before it that have not run:
      unknown_keys       a client key and an endpoint key nobody registered
                         get no answer at all; the broker keeps serving
      registration       functions and endpoints, idempotence and conflicts
      endpoint_identity  ENDPOINT_HELLO with another endpoint's id is refused
      submit_rules       another user's endpoint is refused, nothing stored
      credit_and_push    CREDIT 2: at most 2 tasks arrive; RESULTS acked;
                         the client gets each result pushed once and acks
      queries            STATUS (owner only), FETCH, LIST
      large_payload      an FX_PAYLOAD_MAX payload and result, end to end
      garbage            malformed and bad-field input of every message type,
                         and valid messages on the wrong port, on both ports:
                         ERROR each time; then a valid task still runs; a
                         flood gets rate-limited ERRORs, others unaffected
    then on a restarted broker (same state, same ports, short heartbeat):
      restart            clients get NO_SESSION and recover with HELLO; a
                         result pushed before is not pushed again but FETCHed; the dispatched
                         task is requeued
      endpoint_loss      a silent endpoint is lost again and again: its task
                         is requeued every time, never failed, and finally runs
    Each broker must exit 0 on SIGTERM (under ASan: leak-free).

    Usage: fx_broker_test PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"
#include "fx_link.h"

/* ---------------------------------------------------------------- world */

typedef struct {
    bt_broker_t broker;
    fx_keypair_t alice_kp, bob_kp, ep_kp, bob_ep_kp, stranger_kp;
    fx_id_text_t alice, bob;
    fx_id_text_t alice_client, bob_client;
    fx_id_text_t fn, bob_fn, ep, bob_ep;
    bt_peer_t *alice_c, *bob_c, *endpoint;
    fx_id_text_t pending, running; /* from restart, for endpoint_loss */
    int done;                      /* phases run so far (s_phase_t) */
} s_world_t;

static void test_unknown_keys(s_world_t *w)
{
    bt_peer_t *stranger =
        bt_peer_new("stranger", w->broker.client_addr, &w->stranger_kp, w->broker.public_key);
    fx_id_text_t id;
    fx_id_new(id);
    bt_hello(stranger, id);
    /* ZAP refuses the handshake: the connection never comes up, so nothing
       can be answered on it. */
    CHECK(bt_event(stranger, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED, BT_WAIT_MS) ==
          ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    CHECK(bt_next(stranger, 0) == NULL);
    /* A user key is not an endpoint key. */
    bt_peer_t *fake_ep =
        bt_peer_new("fake endpoint", w->broker.endpoint_addr, &w->alice_kp, w->broker.public_key);
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
        memcpy(msg->endpoint_hello.endpoint_id, id, sizeof id);
        bt_send(fake_ep, msg);
    }
    CHECK(bt_event(fake_ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED, BT_WAIT_MS) ==
          ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    CHECK(bt_next(fake_ep, 0) == NULL);
    bt_peer_destroy(&stranger);
    bt_peer_destroy(&fake_ep);
    /* The broker is fine: Alice and Bob get their sessions. */
    bt_session(w->alice_c, w->alice_client, w->alice);
    bt_session(w->bob_c, w->bob_client, w->bob);
}

static void test_registration(s_world_t *w)
{
    const char *body = "def double(x): return 2 * x\n";
    uint32_t seq = bt_register_function(w->alice_c, w->fn, body);
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    CHECK(msg && strcmp(msg->function_registered.function_id, w->fn) == 0);
    CHECK(msg && msg->function_registered.number == 1 && msg->function_registered.version[0]);
    fx_msg_destroy(&msg);
    seq = bt_register_function(w->alice_c, w->fn, body); /* idempotent */
    msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    CHECK(msg && msg->function_registered.number == 1);
    fx_msg_destroy(&msg);
    /* other content: a new version (SPEC 5.5) */
    seq = bt_register_function(w->alice_c, w->fn, "def double(x): return 3 * x\n");
    msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    CHECK(msg && msg->function_registered.number == 2);
    fx_msg_destroy(&msg);
    /* the first body again: version 1 back, the newest again (the tests
       below take its body) */
    seq = bt_register_function(w->alice_c, w->fn, body);
    msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    CHECK(msg && msg->function_registered.number == 1);
    fx_msg_destroy(&msg);
    seq = bt_register_function(w->bob_c, w->fn, body);
    bt_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    seq = bt_register_function(w->bob_c, w->bob_fn, body);
    msg = bt_expect(w->bob_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);

    seq = bt_register_endpoint(w->alice_c, w->ep, "laptop", w->ep_kp.public_key);
    msg = bt_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    CHECK(msg && strcmp(msg->endpoint_registered.endpoint_id, w->ep) == 0);
    fx_msg_destroy(&msg);
    seq = bt_register_endpoint(w->alice_c, w->ep, "laptop2", w->ep_kp.public_key);
    msg = bt_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = bt_register_endpoint(w->bob_c, w->ep, "mine", w->bob_ep_kp.public_key);
    bt_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    seq = bt_register_endpoint(w->alice_c, w->ep, "laptop", w->bob_ep_kp.public_key);
    bt_expect_error(w->alice_c, FX_E_FORBIDDEN, seq);
    seq = bt_register_endpoint(w->bob_c, w->bob_ep, "bobs", w->bob_ep_kp.public_key);
    msg = bt_expect(w->bob_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
}

static void test_endpoint_identity(s_world_t *w)
{
    /* Bob's endpoint key cannot say hello as Alice's endpoint. */
    bt_peer_t *impostor =
        bt_peer_new("impostor", w->broker.endpoint_addr, &w->bob_ep_kp, w->broker.public_key);
    bt_endpoint_hello(impostor, w->ep, false);
    /* ... and without a hello of its own it has no session. */
    bt_credit(impostor, 5);
    bt_expect_error(impostor, FX_E_NO_SESSION, 0);
    bt_peer_destroy(&impostor);
    /* Connect only now that the key is registered: a connection refused by
       ZAP is not retried by libzmq (SPEC 2.3.2). */
    w->endpoint = bt_peer_new("endpoint", w->broker.endpoint_addr, &w->ep_kp, w->broker.public_key);
    bt_endpoint_hello(w->endpoint, w->ep, true);
}

static void test_submit_rules(s_world_t *w)
{
    fx_id_text_t ids[2];
    uint32_t seq = bt_submit(w->alice_c, w->bob_ep, w->fn, 2, ids);
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == FX_E_FORBIDDEN && msg->error.text && strstr(msg->error.text, w->bob_ep));
    fx_msg_destroy(&msg);
    CHECK(bt_status(w->alice_c, ids[0], NULL) == FX_TASK_UNKNOWN);
    fx_id_text_t nowhere;
    fx_id_new(nowhere);
    seq = bt_submit(w->alice_c, nowhere, w->fn, 1, ids);
    bt_expect_error(w->alice_c, FX_E_NOT_FOUND, seq);
    seq = bt_submit(w->bob_c, w->ep, w->fn, 1, ids); /* Bob: Alice's endpoint and function */
    bt_expect_error(w->bob_c, FX_E_FORBIDDEN, seq);
}

static void test_credit_and_push(s_world_t *w)
{
    enum { N = 5 };
    fx_id_text_t ids[N], got[N + 4];
    uint32_t attempts[N + 4];
    bt_submit_ok(w->alice_c, w->ep, w->fn, N, ids);
    /* Resending the same batch is idempotent. */
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
        fx_msg_alloc_records(msg, N);
        for (uint32_t i = 0; i < N; i++) {
            fx_task_t *t = &msg->submit.tasks[i];
            memcpy(t->task_id, ids[i], sizeof(fx_id_text_t));
            memcpy(t->endpoint_id, w->ep, sizeof(fx_id_text_t));
            memcpy(t->function_id, w->fn, sizeof(fx_id_text_t));
            t->payload = zframe_new("args", 4);
        }
        uint32_t seq = bt_send(w->alice_c, msg);
        msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
        CHECK(msg && msg->submitted.accepted == N);
        fx_msg_destroy(&msg);
    }
    /* Another user's batch holding one of these ids is refused. */
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
        fx_msg_alloc_records(msg, 1);
        memcpy(msg->submit.tasks[0].task_id, ids[0], sizeof(fx_id_text_t));
        memcpy(msg->submit.tasks[0].endpoint_id, w->bob_ep, sizeof(fx_id_text_t));
        memcpy(msg->submit.tasks[0].function_id, w->bob_fn, sizeof(fx_id_text_t));
        uint32_t seq = bt_send(w->bob_c, msg);
        bt_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    }
    bt_credit(w->endpoint, 2);
    uint32_t n = bt_take_tasks(w->endpoint, 2, got, attempts);
    CHECK(n == 2);
    CHECK(bt_barrier(w->endpoint)); /* never more than the window */
    CHECK(strcmp(got[0], ids[0]) == 0 && strcmp(got[1], ids[1]) == 0 && attempts[0] == 0);
    CHECK(bt_status(w->alice_c, ids[0], NULL) == FX_TASK_DISPATCHED);
    CHECK(bt_status(w->alice_c, ids[2], NULL) == FX_TASK_QUEUED);
    /* Results: acked to the endpoint, pushed to the client once. */
    bt_return(w->endpoint, got, 2);
    bt_collect(w->alice_c, got, 2, false);
    /* Freed credit brings the next two, and no more. */
    n = bt_take_tasks(w->endpoint, 2, got + 2, NULL);
    CHECK(n == 2);
    CHECK(bt_barrier(w->endpoint));
    /* A resent result is acked again and not pushed again. */
    bt_return(w->endpoint, got, 1);
    CHECK(bt_barrier(w->alice_c));
    /* Nor is an unacked result pushed again while the session lives. */
    bt_return(w->endpoint, got + 2, 1);
    bt_collect(w->alice_c, got + 2, 1, true);
    CHECK(bt_barrier(w->alice_c));
    /* Ack the first two now; after acks nothing comes back. */
    {
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, 2);
        memcpy(ack->ids.ids[0], got[0], sizeof(fx_id_text_t));
        memcpy(ack->ids.ids[1], got[1], sizeof(fx_id_text_t));
        bt_send(w->alice_c, ack);
    }
    n = bt_take_tasks(w->endpoint, 1, got + 4, NULL);
    CHECK(n == 1);
    bt_return(w->endpoint, got + 3, 2);
    bt_collect(w->alice_c, got + 3, 2, true);
    CHECK(bt_barrier(w->alice_c));
    for (int i = 0; i < N; i++)
        CHECK(bt_status(w->alice_c, ids[i], NULL) == FX_TASK_DELIVERED);
    /* Bob cannot see Alice's tasks. */
    CHECK(bt_status(w->bob_c, ids[0], NULL) == FX_TASK_UNKNOWN);
}

static void test_queries(s_world_t *w)
{
    fx_id_text_t ids[1], got[1];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    /* FETCH answers with the request's seq; Bob gets nothing. */
    fx_msg_t *msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    uint32_t seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_RESULTS, seq);
    CHECK(msg && msg->results.count == 1 && strcmp(msg->results.results[0].task_id, ids[0]) == 0);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    seq = bt_send(w->bob_c, msg);
    msg = bt_expect(w->bob_c, FX_MSG_RESULTS, seq);
    CHECK(msg && msg->results.count == 0);
    fx_msg_destroy(&msg);
    /* LIST. */
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_ENDPOINTS;
    seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
    CHECK(msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 7);
    if (msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 7) {
        char **c = msg->list_reply.cells;
        CHECK(strcmp(c[7], w->ep) == 0 && strcmp(c[8], "laptop2") == 0);
        CHECK(strcmp(c[9], "online") == 0 && strcmp(c[11], "0") == 0);
    }
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_TASKS;
    msg->list.limit = 2;
    seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
    /* id, state, endpoint, function, attempts, function_name, submitted, finished, reason, error, cursor */
    CHECK(msg && msg->list_reply.rows == 3 && msg->list_reply.cols == 11);
    if (msg && msg->list_reply.rows == 3 && msg->list_reply.cols == 11) {
        char **c = msg->list_reply.cells + 11;
        CHECK(strcmp(c[0], ids[0]) == 0 && strcmp(c[1], "succeeded") == 0, "%s %s", c[0], c[1]);
        CHECK(c[5] && c[5][0] && c[6] && strlen(c[6]) == 20 && c[7] && strlen(c[7]) == 20,
              "function name and both times (%s, %s, %s)", c[5], c[6], c[7]);
        CHECK(!c[8] || !c[8][0], "no failure reason for a success");
    }
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_FUNCTIONS;
    seq = bt_send(w->bob_c, msg);
    msg = bt_expect(w->bob_c, FX_MSG_LIST_REPLY, seq);
    CHECK(msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 3);
    fx_msg_destroy(&msg);
    /* HEARTBEAT is answered (bt_next skips it, so ask the socket directly). */
    bt_send(w->bob_c, fx_msg_new(FX_MSG_HEARTBEAT));
    zsock_set_rcvtimeo(w->bob_c->sock, BT_WAIT_MS);
    zmsg_t *zmsg = zmsg_recv(w->bob_c->sock);
    CHECK(zmsg != NULL);
    zmsg_destroy(&zmsg);
}

/* The largest payload goes through: SUBMIT, store, TASKS, RESULTS, push. */
static void test_large_payload(s_world_t *w)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_task_t *t = &msg->submit.tasks[0];
    fx_id_text_t id;
    fx_id_new(t->task_id);
    memcpy(id, t->task_id, sizeof id);
    memcpy(t->endpoint_id, w->ep, sizeof(fx_id_text_t));
    memcpy(t->function_id, w->fn, sizeof(fx_id_text_t));
    t->payload = zframe_new(NULL, FX_PAYLOAD_MAX);
    memset(zframe_data(t->payload), 'a', FX_PAYLOAD_MAX);
    uint32_t seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    fx_msg_destroy(&msg);
    bt_credit(w->endpoint, 1);
    msg = bt_expect(w->endpoint, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == 1 && zframe_size(msg->tasks.tasks[0].payload) == FX_PAYLOAD_MAX);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->results.results[0].task_id, id, sizeof id);
    msg->results.results[0].value = zframe_new(NULL, FX_PAYLOAD_MAX);
    memset(zframe_data(msg->results.results[0].value), 'v', FX_PAYLOAD_MAX);
    seq = bt_send(w->endpoint, msg);
    msg = bt_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    msg = bt_expect(w->alice_c, FX_MSG_RESULTS, 0);
    CHECK(msg && msg->results.count == 1 && zframe_size(msg->results.results[0].value) == FX_PAYLOAD_MAX);
    if (msg && msg->results.count == 1) {
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, 1);
        memcpy(ack->ids.ids[0], id, sizeof id);
        bt_send(w->alice_c, ack);
    }
    fx_msg_destroy(&msg);
    CHECK(bt_status(w->alice_c, id, NULL) == FX_TASK_DELIVERED);
}

/* A message of this type that decodes, with minimal valid fields. */
static fx_msg_t *s_valid_of(int type)
{
    fx_msg_t *msg = fx_msg_new((fx_msg_type_t) type);
    fx_keypair_t kp;
    switch (type) {
    case FX_MSG_HELLO:
        fx_id_new(msg->hello.client_id);
        break;
    case FX_MSG_ERROR:
        fx_msg_set_error(msg, FX_E_INTERNAL, "test");
        break;
    case FX_MSG_REGISTER_FUNCTION:
        fx_id_new(msg->register_function.function_id);
        fx_strlcpy(msg->register_function.name, "n", FX_NAME_MAX);
        msg->register_function.kind = FX_FN_SHELL;
        break;
    case FX_MSG_FUNCTION_REGISTERED:
        fx_id_new(msg->function_registered.function_id);
        break;
    case FX_MSG_REGISTER_ENDPOINT:
        fx_id_new(msg->register_endpoint.endpoint_id);
        fx_strlcpy(msg->register_endpoint.name, "n", FX_NAME_MAX);
        fx_keypair_new(&kp);
        memcpy(msg->register_endpoint.public_key, kp.public_key, FX_KEY_LEN + 1);
        break;
    case FX_MSG_ENDPOINT_REGISTERED:
        fx_id_new(msg->endpoint_registered.endpoint_id);
        break;
    case FX_MSG_LIST:
        msg->list.what = FX_LIST_ENDPOINTS;
        break;
    case FX_MSG_ENDPOINT_HELLO:
        fx_id_new(msg->endpoint_hello.endpoint_id);
        break;
    case FX_MSG_CREDIT:
        msg->credit.window = 1;
        break;
    case FX_MSG_COMMAND:
        msg->command.command = FX_CMD_DRAIN;
        break;
    case FX_MSG_MANAGER_HELLO:
        fx_id_new(msg->manager_hello.manager_id);
        break;
    case FX_MSG_FUNCTION_GET:
        fx_id_new(msg->function_get.function_id);
        break;
    case FX_MSG_FUNCTION_INFO:
        fx_id_new(msg->function_info.function_id);
        msg->function_info.kind = FX_FN_PYTHON;
        break;
    case FX_MSG_REGISTER_CONTAINER:
        fx_id_new(msg->register_container.container_id);
        fx_strlcpy(msg->register_container.name, "c", FX_NAME_MAX);
        fx_strlcpy(msg->register_container.runtime, "bwrap", FX_RUNTIME_NAME_MAX + 1);
        break;
    case FX_MSG_CONTAINER_REGISTERED:
        fx_id_new(msg->container_registered.container_id);
        break;
    case FX_MSG_ENDPOINT_QUERY:
        fx_id_new(msg->endpoint_query.endpoint_id);
        break;
    case FX_MSG_ENDPOINT_INFO:
        fx_id_new(msg->endpoint_info.endpoint_id);
        break;
    default:
        break;
    }
    return msg;
}

/* The encoding of a valid message of this type with its first body field
   replaced by a msgpack `true` (no field accepts it) or, for an empty body,
   a body of one `true`: a bad field in every type. */
static zmsg_t *s_bad_field_of(int type, uint32_t seq)
{
    fx_msg_t *msg = s_valid_of(type);
    msg->seq = seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    zframe_t *header = zmsg_pop(zmsg);
    byte *data = zframe_data(header);
    size_t size = zframe_size(header);
    /* 0x94 0x01 <type> <seq> <body array> ...: type and seq < 128 here. */
    if (size >= 6 && data[4] != 0x90)
        data[5] = 0xc3;
    else {
        byte fixed[] = {0x94, FX_PROTO_VERSION, (byte) type, (byte) seq, 0x91, 0xc3};
        zframe_reset(header, fixed, sizeof fixed);
    }
    zmsg_prepend(zmsg, &header);
    return zmsg;
}

/* Raw frames, answered with ERROR(code) and seq. */
static void s_garbage(bt_peer_t *p, const void *header, size_t size, int extra_frames, int code, uint32_t seq)
{
    zmsg_t *zmsg = zmsg_new();
    zmsg_addmem(zmsg, header, size);
    for (int i = 0; i < extra_frames; i++)
        zmsg_addstr(zmsg, "extra");
    bt_raw(p, zmsg);
    bt_expect_error(p, code, seq);
}

static void s_garbage_battery(bt_peer_t *p, bool client_port)
{
    /* Bad field in every message type. */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        uint32_t seq = 100 + (uint32_t) type;
        bt_raw(p, s_bad_field_of(type, seq));
        bt_expect_error(p, FX_E_BAD_FIELD, seq);
    }
    /* Valid messages that do not belong on this port. */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        if (fx_link_sends(client_port ? FX_LINK_CLIENT : FX_LINK_ENDPOINT, FX_FROM_CONNECTING, type))
            continue;
        uint32_t seq = bt_send(p, s_valid_of(type));
        bt_expect_error(p, FX_E_UNEXPECTED, seq);
    }
    /* Malformed framing. */
    const byte empty[] = {0};
    s_garbage(p, empty, 0, 0, FX_E_MALFORMED, 0);
    const byte not_array[] = {0xc3};
    s_garbage(p, not_array, 1, 0, FX_E_MALFORMED, 0);
    const byte short_header[] = {0x94, FX_PROTO_VERSION, 0x04};
    s_garbage(p, short_header, sizeof short_header, 0, FX_E_MALFORMED, 0);
    const byte lying[] = {0x94, FX_PROTO_VERSION, 0x0d, 0x07, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff};
    s_garbage(p, lying, sizeof lying, 0, FX_E_MALFORMED, 7);
    const byte version[] = {0x94, FX_PROTO_VERSION + 1, 0x04, 0x08, 0x90};
    s_garbage(p, version, sizeof version, 0, FX_E_VERSION, 8);
    const byte unknown[] = {0x94, FX_PROTO_VERSION, 0x63, 0x09, 0x90};
    s_garbage(p, unknown, sizeof unknown, 0, FX_E_UNKNOWN_TYPE, 9);
    const byte heartbeat[] = {0x94, FX_PROTO_VERSION, 0x04, 0x0a, 0x90};
    s_garbage(p, heartbeat, sizeof heartbeat, 1, FX_E_MALFORMED, 10); /* a frame too many */
    const byte trailing[] = {0x94, FX_PROTO_VERSION, 0x04, 0x0b, 0x90, 0x00};
    s_garbage(p, trailing, sizeof trailing, 0, FX_E_MALFORMED, 11);
    byte random[64];
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof random; i++)
            random[i] = (byte) (rand() & 0xff);
        zmsg_t *zmsg = zmsg_new();
        zmsg_addmem(zmsg, random, 1 + (size_t) (rand() % (int) sizeof random));
        bt_raw(p, zmsg);
        fx_msg_t *msg = bt_next(p, BT_WAIT_MS);
        CHECK(msg && msg->type == FX_MSG_ERROR);
        fx_msg_destroy(&msg);
    }
    /* An ERROR is never answered. */
    bt_send(p, s_valid_of(FX_MSG_ERROR));
    CHECK(bt_barrier(p));
}

static void test_garbage(s_world_t *w)
{
    s_garbage_battery(w->alice_c, true);
    s_garbage_battery(w->endpoint, false);
    /* Fields a decoder accepts but the broker refuses. */
    fx_msg_t *msg = s_valid_of(FX_MSG_REGISTER_FUNCTION);
    msg->register_function.name[0] = '\0';
    uint32_t seq = bt_send(w->alice_c, msg);
    bt_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    msg = s_valid_of(FX_MSG_REGISTER_FUNCTION);
    msg->register_function.kind = FX_FN_PYTHON; /* with no entry */
    seq = bt_send(w->alice_c, msg);
    bt_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    fx_id_text_t ids[1];
    msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_id_new(msg->submit.tasks[0].task_id);
    memcpy(msg->submit.tasks[0].function_id, w->fn, sizeof(fx_id_text_t));
    seq = bt_send(w->alice_c, msg); /* endpoint_id "" */
    bt_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    /* A result for a task that is not the endpoint's: acked and dropped. */
    fx_id_new(ids[0]);
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->results.results[0].task_id, ids[0], sizeof(fx_id_text_t));
    seq = bt_send(w->endpoint, msg);
    msg = bt_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    CHECK(bt_barrier(w->alice_c));
    /* After all that, a valid task still runs end to end. */
    fx_id_text_t got[1];
    bt_credit(w->endpoint, 2);
    bt_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1 && strcmp(got[0], ids[0]) == 0);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    /* A flood of garbage: ERRORs are rate-limited per connection, the
       broker keeps serving everyone (Bob is not limited by Alice). */
    enum { FLOOD = 2000 };
    for (int i = 0; i < FLOOD; i++) {
        zmsg_t *zmsg = zmsg_new();
        zmsg_addstr(zmsg, "garbage");
        bt_raw(w->alice_c, zmsg);
    }
    int errors = 0;
    CHECK(bt_barrier_count(w->alice_c, false, &errors) >= 0); /* every ERROR left before its reply */
    CHECK(errors > 0 && errors < FLOOD);
    printf("garbage flood: %d messages, %d ERRORs back\n", FLOOD, errors);
    seq = bt_submit(w->bob_c, w->ep, w->fn, 1, ids);
    bt_expect_error(w->bob_c, FX_E_FORBIDDEN, seq);
    CHECK(bt_status(w->alice_c, got[0], NULL) == FX_TASK_DELIVERED);
}

/* Restart on the same state and ports: sessions are gone, state is not. */
static void test_restart(s_world_t *w)
{
    char *pending = w->pending, *running = w->running;
    /* Before: one result done but not acked, one task dispatched. */
    fx_id_text_t ids[2], got[2];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, ids);
    CHECK(bt_take_tasks(w->endpoint, 2, got, NULL) == 2);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, false);
    memcpy(pending, got[0], sizeof(fx_id_text_t));
    memcpy(running, got[1], sizeof(fx_id_text_t));
    w->alice_c->keepalive = w->endpoint->keepalive = w->bob_c->keepalive = false;
    bt_broker_stop(&w->broker);
    char client_bind[128], endpoint_bind[128];
    snprintf(client_bind, sizeof client_bind, "%s", w->broker.client_addr);
    snprintf(endpoint_bind, sizeof endpoint_bind, "%s", w->broker.endpoint_addr);
    const char *flags[] = {"--heartbeat-ms", "200", "--heartbeat-missed", "2", "--max-queued-per-user",
                           "1000",           NULL};
    if (bt_broker_start(&w->broker, client_bind, endpoint_bind, flags) != 0) {
        CHECK(!"fx-broker did not restart");
        return;
    }
    /* The same sockets reconnect by themselves; the broker has no session. */
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    uint32_t seq = bt_send(w->alice_c, msg);
    bt_expect_error(w->alice_c, FX_E_NO_SESSION, seq);
    uint32_t beat = bt_session(w->alice_c, w->alice_client, w->alice);
    CHECK(beat == 200);
    /* A result pushed before the restart is not pushed again (it was marked
       pushed, durably, before it was sent): the client FETCHes it. */
    CHECK(bt_barrier(w->alice_c));
    fx_msg_t *fetch = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(fetch, 1);
    memcpy(fetch->ids.ids[0], pending, sizeof(fx_id_text_t));
    uint32_t fetch_seq = bt_send(w->alice_c, fetch);
    fx_msg_t *fetched = bt_expect_at(w->alice_c, FX_MSG_RESULTS, fetch_seq, __LINE__);
    CHECK(fetched && fetched->results.count == 1 &&
          strcmp(fetched->results.results[0].task_id, pending) == 0);
    fx_msg_destroy(&fetched);
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, 1);
    memcpy(ack->ids.ids[0], pending, sizeof(fx_id_text_t));
    bt_send(w->alice_c, ack);
    CHECK(bt_barrier(w->alice_c));
    bt_credit(w->endpoint, 2);
    bt_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
    bt_endpoint_hello(w->endpoint, w->ep, true);
    uint32_t attempts[1] = {0};
    bt_credit(w->endpoint, 1);
    CHECK(bt_take_tasks(w->endpoint, 1, got, attempts) == 1);
    CHECK(strcmp(got[0], running) == 0 && attempts[0] == 1);
}

/* The endpoint goes silent again and again: each time it is lost its task
   is requeued, never failed (only worker deaths count, at the manager);
   the attempts counter only informs. Finally the task runs. */
static void test_endpoint_loss(s_world_t *w)
{
    const char *running = w->running;
    fx_id_text_t got[1];
    uint32_t attempts = 0, attempt[1] = {0};
    for (uint32_t loss = 1; loss <= 4; loss++) {
        w->endpoint->keepalive = false;
        /* Wait (deadline) until the broker has requeued it. */
        int state = bt_wait_state(w->alice_c, running, FX_TASK_DISPATCHED, &attempts, BT_WAIT_MS);
        /* dispatched once before the restart, once after it, once per loss */
        CHECK(state == FX_TASK_QUEUED && attempts == loss + 1);
        /* The endpoint learns it was lost, says hello, gets the task again. */
        bt_credit(w->endpoint, 1);
        bt_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
        bt_endpoint_hello(w->endpoint, w->ep, true);
        bt_credit(w->endpoint, 1);
        CHECK(bt_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == loss + 1);
        CHECK(strcmp(got[0], running) == 0);
    }
    CHECK(bt_barrier(w->alice_c)); /* no result: nothing failed it */
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    CHECK(bt_status(w->alice_c, running, &attempts) == FX_TASK_DELIVERED && attempts == 6);
}

/* ---------------------------------------------------------------- main */

static void s_make_users(s_world_t *w)
{
    char err[512], state[300];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    if (!store) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        exit(1);
    }
    CHECK(fx_store_user_create(store, "alice", w->alice_kp.public_key, w->alice, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "bob", w->bob_kp.public_key, w->bob, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "alice", w->stranger_kp.public_key, w->bob, err, sizeof err) ==
          FX_E_CONFLICT);
    fx_store_destroy(&store);
}

/* The phases in their order: each runs on the world the ones before it
   left. Asked for by name, a phase first runs those before it that have
   not run yet. */
typedef enum {
    S_UNKNOWN_KEYS,
    S_REGISTRATION,
    S_ENDPOINT_IDENTITY,
    S_SUBMIT_RULES,
    S_CREDIT_AND_PUSH,
    S_QUERIES,
    S_LARGE_PAYLOAD,
    S_GARBAGE,
    S_RESTART,
    S_ENDPOINT_LOSS,
    S_PHASES_
} s_phase_t;

static void (*const s_phases[S_PHASES_])(s_world_t *w) = {
    [S_UNKNOWN_KEYS] = test_unknown_keys,
    [S_REGISTRATION] = test_registration,
    [S_ENDPOINT_IDENTITY] = test_endpoint_identity,
    [S_SUBMIT_RULES] = test_submit_rules,
    [S_CREDIT_AND_PUSH] = test_credit_and_push,
    [S_QUERIES] = test_queries,
    [S_LARGE_PAYLOAD] = test_large_payload,
    [S_GARBAGE] = test_garbage,
    [S_RESTART] = test_restart,
    [S_ENDPOINT_LOSS] = test_endpoint_loss,
};

static void s_phase(s_world_t *w, s_phase_t phase)
{
    while (w->done < (int) phase)
        s_phases[w->done++](w);
    s_phases[phase](w);
    if (w->done <= (int) phase)
        w->done = (int) phase + 1;
}

#define S_RUN(name, phase)                                                                                   \
    static void run_##name(void *ctx)                                                                        \
    {                                                                                                        \
        s_phase(ctx, phase);                                                                                 \
    }
S_RUN(unknown_keys, S_UNKNOWN_KEYS)
S_RUN(registration, S_REGISTRATION)
S_RUN(endpoint_identity, S_ENDPOINT_IDENTITY)
S_RUN(submit_rules, S_SUBMIT_RULES)
S_RUN(credit_and_push, S_CREDIT_AND_PUSH)
S_RUN(queries, S_QUERIES)
S_RUN(large_payload, S_LARGE_PAYLOAD)
S_RUN(garbage, S_GARBAGE)
S_RUN(restart, S_RESTART)
S_RUN(endpoint_loss, S_ENDPOINT_LOSS)

static const fx_scenario_t s_scenarios[] = {
    {"unknown_keys", run_unknown_keys, false},
    {"registration", run_registration, false},
    {"endpoint_identity", run_endpoint_identity, false},
    {"submit_rules", run_submit_rules, false},
    {"credit_and_push", run_credit_and_push, false},
    {"queries", run_queries, false},
    {"large_payload", run_large_payload, false},
    {"garbage", run_garbage, false},
    {"restart", run_restart, false},
    {"endpoint_loss", run_endpoint_loss, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "fx_broker_test", &count, &names);
    srand(7);
    s_world_t w;
    memset(&w, 0, sizeof w);
    fx_keypair_new(&w.alice_kp);
    fx_keypair_new(&w.bob_kp);
    fx_keypair_new(&w.ep_kp);
    fx_keypair_new(&w.bob_ep_kp);
    fx_keypair_new(&w.stranger_kp);
    fx_id_new(w.alice_client);
    fx_id_new(w.bob_client);
    fx_id_new(w.fn);
    fx_id_new(w.bob_fn);
    fx_id_new(w.ep);
    fx_id_new(w.bob_ep);
    s_make_users(&w);
    /* No phase before the restart tests loss; on a busy shared disk one
       fsync of the 4 MiB payload has taken over 3 s, long enough for the
       default 3 missed beats to drop a live endpoint. The restarted broker
       has a short beat of its own (test_restart). */
    const char *flags[] = {"--heartbeat-missed", "30", NULL};
    if (bt_broker_start(&w.broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", flags) != 0)
        return bt_finish(1);
    w.alice_c = bt_peer_new("alice", w.broker.client_addr, &w.alice_kp, w.broker.public_key);
    w.bob_c = bt_peer_new("bob", w.broker.client_addr, &w.bob_kp, w.broker.public_key);
    int rc = fx_test_main("fx_broker_test", count, names, s_scenarios,
                          sizeof s_scenarios / sizeof s_scenarios[0], &w);
    bt_peer_destroy(&w.alice_c);
    bt_peer_destroy(&w.bob_c);
    bt_peer_destroy(&w.endpoint);
    bt_broker_stop(&w.broker);
    return bt_finish(rc ? rc : fx_check_failures ? 1 : 0);
}
