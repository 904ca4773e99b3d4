/*  fx_bt_peer.c: the broker tests' peers (fx_bt.h): CurveZMQ DEALERs that
    send, beat, and wait with deadlines: the next message, an expected one,
    a barrier's reply, a socket event, a task's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"

/* ---------------------------------------------------------------- peers */

bt_peer_t *bt_peers[BT_PEERS_MAX];

bt_peer_t *bt_peer_new(const char *name, const char *addr, const fx_keypair_t *kp, const char *server_key)
{
    bt_peer_t *p = calloc(1, sizeof *p);
    p->name = name;
    p->kp = *kp;
    p->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(p->sock, 0);
    /* A peer refused by ZAP is never reconnected by libzmq (a protocol
       error ends the session), and a DEALER with no pipe blocks in send:
       never let the test hang on that. */
    zsock_set_sndtimeo(p->sock, 1000);
    fx_curve_client(p->sock, kp, server_key);
    /* Watch the connection (before it starts): a refusal by ZAP and the
       end of a connection are events a test can wait for. */
    static int monitors;
    char monitor[64];
    snprintf(monitor, sizeof monitor, "inproc://bt-monitor-%d", ++monitors);
    zmq_socket_monitor(zsock_resolve(p->sock), monitor,
                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                           ZMQ_EVENT_DISCONNECTED);
    p->monitor = zsock_new_pair(monitor); /* connects (">" is the default for PAIR) */
    zsock_connect(p->sock, "%s", addr);
    for (int i = 0; i < BT_PEERS_MAX; i++)
        if (!bt_peers[i]) {
            bt_peers[i] = p;
            break;
        }
    return p;
}

void bt_peer_destroy(bt_peer_t **p_p)
{
    bt_peer_t *p = *p_p;
    if (!p)
        return;
    for (int i = 0; i < BT_PEERS_MAX; i++)
        if (bt_peers[i] == p)
            bt_peers[i] = NULL;
    zmq_socket_monitor(zsock_resolve(p->sock), NULL, 0);
    for (fx_msg_t *msg = p->stash ? zlist_pop(p->stash) : NULL; msg; msg = zlist_pop(p->stash))
        fx_msg_destroy(&msg);
    zlist_destroy(&p->stash);
    zsock_destroy(&p->monitor);
    zsock_destroy(&p->sock);
    free(p);
    *p_p = NULL;
}

void bt_raw(bt_peer_t *p, zmsg_t *zmsg)
{
    zmsg_send(&zmsg, p->sock);
}

/* Sends msg with the next seq, or seq 0 for what is not a request
   (SPEC 3.6.3: HEARTBEAT, CREDIT, ERROR, and RESULTS_ACK of a push);
   returns the seq. */
uint32_t bt_send(bt_peer_t *p, fx_msg_t *msg)
{
    bool request = msg->type != FX_MSG_HEARTBEAT && msg->type != FX_MSG_CREDIT && msg->type != FX_MSG_ERROR &&
                   msg->type != FX_MSG_RESULTS_ACK;
    uint32_t seq = request ? ++p->seq : 0;
    msg->seq = seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    CHECK(zmsg != NULL);
    if (zmsg)
        bt_raw(p, zmsg);
    return seq;
}

void bt_keepalive(void)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < BT_PEERS_MAX; i++) {
        bt_peer_t *p = bt_peers[i];
        if (p && p->keepalive && now - p->beat_ms >= 100) {
            bt_send(p, fx_msg_new(FX_MSG_HEARTBEAT));
            p->beat_ms = now;
        }
    }
}

/* Next message that is not a HEARTBEAT (one read ahead first), or NULL
   after timeout_ms. */
fx_msg_t *bt_next(bt_peer_t *p, int timeout_ms)
{
    if (p->stash && zlist_size(p->stash))
        return zlist_pop(p->stash);
    int64_t deadline = zclock_mono() + timeout_ms;
    while (true) {
        bt_keepalive();
        int64_t left = deadline - zclock_mono();
        if (left < 0)
            return NULL;
        zpoller_t *poller = zpoller_new(p->sock, NULL);
        void *ready = zpoller_wait(poller, (int) (left < 100 ? left : 100));
        zpoller_destroy(&poller);
        if (!ready)
            continue;
        zmsg_t *zmsg = zmsg_recv(p->sock);
        fx_msg_t *msg = NULL;
        const char *detail = "";
        int rc = zmsg ? fx_msg_decode(zmsg, &msg, NULL, &detail) : FX_E_IO;
        zmsg_destroy(&zmsg);
        if (rc != FX_OK) {
            fprintf(stderr, "%s got an undecodable message: %s %s\n", p->name, fx_errname(rc), detail);
            CHECK(!"the broker sent something undecodable");
            continue;
        }
        if (msg->type != FX_MSG_HEARTBEAT)
            return msg;
        fx_msg_destroy(&msg);
    }
}

/* The next message must be of this type (and seq, unless UINT32_MAX). */
fx_msg_t *bt_expect_at(bt_peer_t *p, int type, uint32_t seq, int line)
{
    fx_msg_t *msg = bt_next(p, BT_WAIT_MS);
    bool ok = msg && (int) msg->type == type && (seq == UINT32_MAX || msg->seq == seq);
    if (!ok) {
        fprintf(stderr, "line %d: %s expected %s seq %u, got %s seq %u%s%s\n", line, p->name,
                fx_msg_type_name(type), seq, msg ? fx_msg_type_name(msg->type) : "nothing",
                msg ? msg->seq : 0, msg && msg->type == FX_MSG_ERROR ? ": " : "",
                msg && msg->type == FX_MSG_ERROR && msg->error.text ? msg->error.text : "");
        fx_check_failures++;
        fx_msg_destroy(&msg);
    }
    return msg;
}

void bt_expect_error_at(bt_peer_t *p, int code, uint32_t seq, int line)
{
    fx_msg_t *msg = bt_expect_at(p, FX_MSG_ERROR, seq, line);
    if (msg && msg->error.code != code) {
        fprintf(stderr, "line %d: %s expected %s, got %s: %s\n", line, p->name, fx_errname(code),
                fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        fx_check_failures++;
    }
    fx_msg_destroy(&msg);
}

int bt_event(bt_peer_t *p, int events, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    zpoller_t *poller = zpoller_new(p->monitor, NULL);
    int got = 0;
    while (!got && poller) {
        bt_keepalive();
        int64_t left = deadline - zclock_mono();
        if (left < 0)
            break;
        if (!zpoller_wait(poller, (int) (left < 100 ? left : 100)))
            continue;
        zmsg_t *event = zmsg_recv(p->monitor);
        zframe_t *head = event ? zmsg_first(event) : NULL;
        if (head && zframe_size(head) >= 2) {
            uint16_t which;
            memcpy(&which, zframe_data(head), sizeof which);
            if (which & events)
                got = which;
        }
        zmsg_destroy(&event);
    }
    zpoller_destroy(&poller);
    return got;
}

int bt_barrier_count(bt_peer_t *p, bool report, int *errors)
{
    fx_msg_t *msg;
    if (p->endpoint) {
        fx_id_text_t nobody;
        fx_id_new(nobody);
        msg = fx_msg_new(FX_MSG_RESULTS);
        fx_msg_alloc_records(msg, 1);
        memcpy(msg->results.results[0].task_id, nobody, sizeof nobody);
    }
    else
        msg = fx_msg_new(FX_MSG_STATUS);
    int reply = p->endpoint ? FX_MSG_RESULTS_ACK : FX_MSG_STATUS_REPLY;
    uint32_t seq = bt_send(p, msg);
    int before = 0;
    if (errors)
        *errors = 0;
    while ((msg = bt_next(p, BT_WAIT_MS))) {
        bool done = (int) msg->type == reply && msg->seq == seq;
        if (!done) {
            if (report)
                fprintf(stderr, "%s: %s seq %u came before the barrier's reply\n", p->name,
                        fx_msg_type_name(msg->type), msg->seq);
            if (errors && msg->type == FX_MSG_ERROR)
                (*errors)++;
            before++;
        }
        fx_msg_destroy(&msg);
        if (done)
            return before;
    }
    fprintf(stderr, "%s: no reply to the barrier\n", p->name);
    return -1;
}

bool bt_barrier(bt_peer_t *p)
{
    return bt_barrier_count(p, true, NULL) == 0;
}

/* The gap between two polls of a condition that has a deadline of its
   own (the peers beat meanwhile): not a wait for something to happen. */
static void s_poll_gap(void)
{
    bt_keepalive();
    zclock_sleep(20);
}

int bt_wait_state(bt_peer_t *client, const char *task_id, int leave, uint32_t *attempts, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    int state = bt_status(client, task_id, attempts);
    while (state == leave && zclock_mono() < deadline) {
        s_poll_gap();
        state = bt_status(client, task_id, attempts);
    }
    return state;
}

void bt_poll_gap(void)
{
    s_poll_gap();
}
