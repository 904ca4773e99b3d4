/*  fx_broker_flow_test.c: nothing lost, nothing hung, on the real
    fx-broker: one ctest entry per scenario, each on a fresh broker and
    state directory:

      retries           task.retries travels SUBMIT -> store -> TASKS unchanged
      requeue_unlimited an endpoint lost (silence) or saying hello again, over and
                        over: its task is requeued every time, never failed; the
                        attempts counter only informs; finally the task runs
      cancel            CANCEL: queued tasks end FX_E_CANCELLED at once (pushed);
                        queued_only leaves dispatched ones; a full cancel is
                        forwarded to the owning endpoint; others' tasks read
                        UNKNOWN; the reply is STATUS_REPLY with the same seq
      endpoint_status   ENDPOINT_STATUS shows in LIST (managers, workers); 0 offline
      heartbeat_offline an endpoint that stops beating is "offline" in LIST within
                        missed x period (+ one period), its dispatched task requeued
      queue_cap         --max-queued-per-user: a SUBMIT over it is refused whole
                        with FX_E_LIMIT naming the count and the cap
      sigterm           SIGTERM while SUBMITs stream in: exit 0; every batch that
                        got SUBMITTED is stored, every batch all or nothing
      kill9             the same with kill -9, after results were acknowledged:
                        every acknowledged batch and result is there after it
      state_lock        a second broker on the same --state is refused, naming
                        the first one's pid; the first serves on; after it is
                        killed (SIGKILL) a new one starts
      stamps            the broker's stamps (SPEC 12.5): received, written,
                        dispatched in TASKS; durable, result, result durable
                        and pushed in the push, all set and in order; a FETCH
                        after the ack reads the same stamps from the store

    Usage: fx_broker_flow_test PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fx_bt.h"
#include "fx_clock.h"

/* LIST endpoints; the row of the test endpoint as (status, managers,
   workers) into the buffers. 0, or -1 if the reply was not as expected. */
static int s_list_endpoint(bt_world_t *w, char *status, char *managers, char *workers)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_ENDPOINTS;
    uint32_t seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
    int rc = -1;
    if (msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 7) {
        char **c = msg->list_reply.cells;
        CHECK(strcmp(c[5], "managers") == 0 && strcmp(c[6], "workers") == 0 && strcmp(c[7], w->ep) == 0);
        snprintf(status, 16, "%s", c[9]);
        snprintf(managers, 16, "%s", c[12]);
        snprintf(workers, 16, "%s", c[13]);
        rc = 0;
    }
    fx_msg_destroy(&msg);
    return rc;
}

/* CANCEL ids; returns the STATUS_REPLY (same seq checked) or NULL. */
static fx_msg_t *s_cancel(bt_peer_t *client, fx_id_text_t *ids, uint32_t n, bool queued_only)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(msg, n);
    memcpy(msg->cancel.ids, ids, n * sizeof *ids);
    msg->cancel.queued_only = queued_only;
    uint32_t seq = bt_send(client, msg);
    msg = bt_expect(client, FX_MSG_STATUS_REPLY, seq);
    CHECK(msg && msg->status_reply.count == n);
    if (msg && msg->status_reply.count != n)
        fx_msg_destroy(&msg);
    return msg;
}

/* Collects pushed results of the n ids, each an FX_E_CANCELLED error whose
   text holds `text`, and acks them. */
static void s_collect_cancelled(bt_peer_t *client, fx_id_text_t *ids, uint32_t n, const char *text)
{
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = bt_expect(client, FX_MSG_RESULTS, 0);
        if (!msg)
            break;
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, msg->results.count);
        for (uint32_t i = 0; i < msg->results.count; i++) {
            fx_result_t *r = &msg->results.results[i];
            bool known = false;
            for (uint32_t j = 0; j < n; j++)
                known |= strcmp(ids[j], r->task_id) == 0;
            CHECK(known && r->status == FX_RESULT_ERROR && r->error_code == FX_E_CANCELLED);
            CHECK(r->error_text && strstr(r->error_text, text));
            memcpy(ack->ids.ids[i], r->task_id, sizeof(fx_id_text_t));
            have++;
        }
        bt_send(client, ack);
        fx_msg_destroy(&msg);
    }
    CHECK(have == n);
}

/* ---------------------------------------------------------------- scenarios */

static void scenario_retries(bt_world_t *w)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    uint32_t given[3] = {0, 7, FX_RETRIES_MAX};
    fx_msg_alloc_records(msg, 3);
    for (uint32_t i = 0; i < 3; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        fx_id_new(t->task_id);
        memcpy(t->endpoint_id, w->ep, sizeof(fx_id_text_t));
        memcpy(t->function_id, w->fn, sizeof(fx_id_text_t));
        t->retries = given[i];
        t->payload = zframe_new("args", 4);
    }
    uint32_t seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    fx_msg_destroy(&msg);
    bt_credit(w->endpoint, 3);
    msg = bt_expect(w->endpoint, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == 3);
    for (uint32_t i = 0; msg && i < msg->tasks.count && i < 3; i++)
        CHECK(msg->tasks.tasks[i].retries == given[i]);
    fx_msg_destroy(&msg);
}

/* Waits (deadline) until the task is no longer DISPATCHED; its state. */
static int s_wait_requeued(bt_world_t *w, const char *task_id, uint32_t *attempts)
{
    return bt_wait_state(w->alice_c, task_id, FX_TASK_DISPATCHED, attempts, BT_WAIT_MS);
}

static void scenario_requeue_unlimited(bt_world_t *w)
{
    enum { LOSSES = 6 };
    fx_id_text_t ids[1], got[1];
    uint32_t attempts = 0, attempt[1];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    bt_credit(w->endpoint, 1);
    CHECK(bt_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == 0);
    for (uint32_t n = 1; n <= LOSSES; n++) {
        if (n % 2) { /* lost: silent past the threshold */
            w->endpoint->keepalive = false;
            CHECK(s_wait_requeued(w, ids[0], &attempts) == FX_TASK_QUEUED && attempts == n);
            bt_credit(w->endpoint, 1);
            bt_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
        }
        bt_endpoint_hello(w->endpoint, w->ep, true); /* a re-hello requeues too */
        bt_credit(w->endpoint, 1);
        CHECK(bt_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == n);
    }
    CHECK(bt_barrier(w->alice_c)); /* no failure was pushed */
    CHECK(bt_status(w->alice_c, ids[0], &attempts) == FX_TASK_DISPATCHED && attempts == LOSSES + 1);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    CHECK(bt_status(w->alice_c, ids[0], NULL) == FX_TASK_DELIVERED);
}

static void scenario_cancel(bt_world_t *w)
{
    fx_id_text_t ids[3], got[1];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 3, ids);
    bt_credit(w->endpoint, 1);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1 && strcmp(got[0], ids[0]) == 0);
    /* Bob cannot cancel Alice's tasks: UNKNOWN, nothing changes. */
    fx_msg_t *reply = s_cancel(w->bob_c, ids, 3, false);
    for (uint32_t i = 0; reply && i < 3; i++)
        CHECK(reply->status_reply.tasks[i].state == FX_TASK_UNKNOWN);
    fx_msg_destroy(&reply);
    CHECK(bt_barrier(w->endpoint));
    /* queued_only: the two queued end at once; the dispatched one stays. */
    reply = s_cancel(w->alice_c, ids, 3, true);
    if (reply) {
        CHECK(reply->status_reply.tasks[0].state == FX_TASK_DISPATCHED);
        CHECK(reply->status_reply.tasks[1].state == FX_TASK_FAILED);
        CHECK(reply->status_reply.tasks[2].state == FX_TASK_FAILED);
    }
    fx_msg_destroy(&reply);
    s_collect_cancelled(w->alice_c, ids + 1, 2, "cancelled before it ran");
    CHECK(bt_barrier(w->endpoint)); /* nothing forwarded */
    /* Full cancel: forwarded to the owning endpoint, state stays DISPATCHED. */
    reply = s_cancel(w->alice_c, ids, 3, false);
    if (reply) {
        CHECK(reply->status_reply.tasks[0].state == FX_TASK_DISPATCHED);
        CHECK(reply->status_reply.tasks[1].state == FX_TASK_FAILED);
    }
    fx_msg_destroy(&reply);
    fx_msg_t *msg = bt_expect(w->endpoint, FX_MSG_CANCEL, 0);
    CHECK(msg && msg->cancel.count == 1 && msg->cancel.queued_only == 0);
    if (msg && msg->cancel.count == 1)
        CHECK(strcmp(msg->cancel.ids[0], ids[0]) == 0);
    fx_msg_destroy(&msg);
    /* The endpoint answers with a cancelled result; the client gets it. */
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    fx_result_t *r = &msg->results.results[0];
    memcpy(r->task_id, ids[0], sizeof(fx_id_text_t));
    r->status = FX_RESULT_ERROR;
    r->error_code = FX_E_CANCELLED;
    fx_result_set_text(r, "cancelled while running on worker pid 42");
    uint32_t seq = bt_send(w->endpoint, msg);
    msg = bt_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    s_collect_cancelled(w->alice_c, ids, 1, "worker pid 42");
    CHECK(bt_status(w->alice_c, ids[0], NULL) == FX_TASK_FAILED);
    /* Cancelling finished tasks changes nothing. */
    reply = s_cancel(w->alice_c, ids, 3, false);
    for (uint32_t i = 0; reply && i < 3; i++)
        CHECK(reply->status_reply.tasks[i].state == FX_TASK_FAILED);
    fx_msg_destroy(&reply);
    CHECK(bt_barrier(w->endpoint) && bt_barrier(w->alice_c));
}

static void scenario_endpoint_status(bt_world_t *w)
{
    char status[16] = "", managers[16] = "", workers[16] = "";
    CHECK(s_list_endpoint(w, status, managers, workers) == 0);
    CHECK(strcmp(status, "online") == 0 && strcmp(managers, "0") == 0 && strcmp(workers, "0") == 0);
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    msg->endpoint_status.managers = 2;
    msg->endpoint_status.workers = 16;
    msg->endpoint_status.free = 5;
    bt_send(w->endpoint, msg);
    /* Not answered, and applied once the barrier on the same connection is. */
    CHECK(bt_barrier(w->endpoint));
    CHECK(s_list_endpoint(w, status, managers, workers) == 0);
    CHECK(strcmp(managers, "2") == 0 && strcmp(workers, "16") == 0);
    /* Offline: zeros. */
    bt_peer_destroy(&w->endpoint);
    int64_t deadline = zclock_mono() + 4 * BT_WAIT_MS;
    while (zclock_mono() < deadline && s_list_endpoint(w, status, managers, workers) == 0 &&
           strcmp(status, "online") == 0)
        bt_poll_gap();
    CHECK(strcmp(status, "offline") == 0 && strcmp(managers, "0") == 0 && strcmp(workers, "0") == 0);
}

#define S_BEAT_MS 200
#define S_MISSED 3

static void scenario_heartbeat_offline(bt_world_t *w)
{
    fx_id_text_t ids[1], got[1];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    bt_credit(w->endpoint, 1);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1);
    /* The endpoint's last message leaves now; then it goes silent. */
    bt_send(w->endpoint, fx_msg_new(FX_MSG_HEARTBEAT));
    int64_t silent_from = zclock_mono();
    w->endpoint->keepalive = false;
    char status[16] = "online", managers[16], workers[16];
    int64_t bound = fx_test_ms((S_MISSED + 1) * S_BEAT_MS);
    while (zclock_mono() - silent_from < bound + S_BEAT_MS &&
           s_list_endpoint(w, status, managers, workers) == 0 && strcmp(status, "online") == 0)
        bt_keepalive();
    int64_t took = zclock_mono() - silent_from;
    printf("heartbeat_offline: offline after %lld ms (period %d ms x %d missed; bound %lld ms)\n",
           (long long) took, S_BEAT_MS, S_MISSED, (long long) bound);
    CHECK(strcmp(status, "offline") == 0 && took <= bound);
    CHECK(took >= S_MISSED * S_BEAT_MS - 50); /* not before its time either */
    uint32_t attempts = 0;
    CHECK(bt_status(w->alice_c, ids[0], &attempts) == FX_TASK_QUEUED && attempts == 1);
}

static void scenario_queue_cap(bt_world_t *w)
{
    enum { CAP = 10 };
    fx_id_text_t ids[CAP + 5];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 8, ids);
    uint32_t seq = bt_submit(w->alice_c, w->ep, w->fn, 3, ids + 8);
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == FX_E_LIMIT && msg->error.text);
    if (msg && msg->error.text) {
        printf("queue_cap: %s\n", msg->error.text);
        CHECK(strstr(msg->error.text, " 8 ") && strstr(msg->error.text, " 10 "));
    }
    fx_msg_destroy(&msg);
    CHECK(bt_status(w->alice_c, ids[8], NULL) == FX_TASK_UNKNOWN); /* refused whole */
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, ids + 8);
    /* Dispatched tasks still count; a result makes room. */
    bt_credit(w->endpoint, 1);
    fx_id_text_t got[1];
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1);
    seq = bt_submit(w->alice_c, w->ep, w->fn, 1, ids + 10);
    bt_expect_error(w->alice_c, FX_E_LIMIT, seq);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1); /* the credit refills */
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    bt_credit(w->endpoint, 0);
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, ids + 10);
}

/* SUBMITs stream in; the broker gets sig as soon as the first is
   acknowledged. On the same state, a new broker has every batch that was
   acknowledged, and no batch half. */
static void s_stop_streaming(bt_world_t *w, int sig, const char *name)
{
    enum { BATCHES = 12, PER = 300 };
    static fx_id_text_t ids[BATCHES][PER];
    uint32_t seqs[BATCHES];
    bool acked[BATCHES] = {false};
    for (int b = 0; b < BATCHES; b++)
        seqs[b] = bt_submit(w->alice_c, w->ep, w->fn, PER, ids[b]);
    /* SIGTERM as soon as the first batch is acknowledged: the rest stream
       in while the broker stops. */
    int replies = 0;
    fx_msg_t *msg = bt_next(w->alice_c, BT_WAIT_MS);
    CHECK(msg != NULL);
    if (msg)
        kill(w->broker.pid, sig);
    w->alice_c->keepalive = w->endpoint->keepalive = false; /* no one to beat to */
    if (sig == SIGTERM)
        bt_broker_wait(&w->broker); /* exit 0, bounded */
    else {
        waitpid(w->broker.pid, NULL, 0);
        w->broker.pid = 0;
    }
    /* Every reply it sent before it closed the connection is ours once
       the connection has ended: then read them all. */
    CHECK(bt_event(w->alice_c, ZMQ_EVENT_DISCONNECTED, BT_WAIT_MS) == ZMQ_EVENT_DISCONNECTED);
    for (; msg; msg = bt_next(w->alice_c, 0)) {
        CHECK(msg->type == FX_MSG_SUBMITTED);
        for (int b = 0; b < BATCHES; b++)
            if (msg->type == FX_MSG_SUBMITTED && msg->seq == seqs[b])
                acked[b] = true;
        replies++;
        fx_msg_destroy(&msg);
    }
    /* The same state on a new broker: what was acknowledged is there, and
       no batch is half stored. */
    if (bt_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL) != 0) {
        CHECK(!"fx-broker did not restart");
        return;
    }
    bt_peer_destroy(&w->alice_c);
    w->alice_c = bt_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    bt_session(w->alice_c, w->client, w->alice);
    int stored = 0;
    for (int b = 0; b < BATCHES; b++) {
        msg = fx_msg_new(FX_MSG_STATUS);
        fx_msg_alloc_records(msg, PER);
        memcpy(msg->ids.ids, ids[b], sizeof ids[b]);
        uint32_t seq = bt_send(w->alice_c, msg);
        msg = bt_expect(w->alice_c, FX_MSG_STATUS_REPLY, seq);
        int queued = 0;
        for (uint32_t i = 0; msg && i < msg->status_reply.count; i++)
            queued += msg->status_reply.tasks[i].state == FX_TASK_QUEUED ||
                      msg->status_reply.tasks[i].state == FX_TASK_DISPATCHED; /* stored */
        CHECK(queued == 0 || queued == PER);
        CHECK(!acked[b] || queued == PER);
        stored += queued == PER;
        fx_msg_destroy(&msg);
    }
    printf("%s: %d of %d batches acknowledged before the stop, %d stored\n", name, replies, BATCHES, stored);
    CHECK(replies >= 1 && stored >= replies);
}

static void scenario_sigterm(bt_world_t *w)
{
    s_stop_streaming(w, SIGTERM, "sigterm");
}

/* kill -9 while SUBMITs stream in, after results were acknowledged: the
   commits are in the WAL and the OS when COMMIT returns (SPEC 8.0), so
   nothing acknowledged is lost, though nothing waited for the disk. */
static void scenario_kill9(bt_world_t *w)
{
    fx_id_text_t ids[5], got[5];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 5, ids);
    bt_credit(w->endpoint, 5);
    CHECK(bt_take_tasks(w->endpoint, 5, got, NULL) == 5);
    bt_return(w->endpoint, got, 5); /* RESULTS_ACK: committed */
    bt_collect(w->alice_c, got, 5, false);
    s_stop_streaming(w, SIGKILL, "kill9");
    int done = 0;
    for (int i = 0; i < 5; i++)
        done += bt_status(w->alice_c, got[i], NULL) == FX_TASK_DONE;
    CHECK(done == 5, "%d of 5 acknowledged results survived kill -9", done);
}

/* One broker per state directory: a second one is refused, naming the
   first one's pid, and the first serves on; the lock goes with the
   process, however it ends (here: SIGKILL), so a new broker can start. */
static void scenario_state_lock(bt_world_t *w)
{
    char out[4096], pid[32];
    int rc = bt_broker_refused(out, sizeof out);
    CHECK(rc == 1, "a second broker on the same state directory exited %d", rc);
    snprintf(pid, sizeof pid, "pid %ld ", (long) w->broker.pid);
    CHECK(strstr(out, pid) != NULL && strstr(out, "in use by another fx-broker") != NULL, "it said: %s", out);
    printf("state_lock: the second broker said: %s", out);
    fx_id_text_t ids[1], got[1];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    bt_credit(w->endpoint, 1);
    CHECK(bt_take_tasks(w->endpoint, 1, got, NULL) == 1);
    bt_return(w->endpoint, got, 1);
    bt_collect(w->alice_c, got, 1, true);
    w->alice_c->keepalive = w->bob_c->keepalive = w->endpoint->keepalive = false;
    kill(w->broker.pid, SIGKILL);
    waitpid(w->broker.pid, NULL, 0);
    w->broker.pid = 0;
    CHECK(bt_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL) == 0);
}

/* ---------------------------------------------------------------- main */

/* ---------------------------------------------------------------- stamps */

/* times[a] <= times[b], both set. */
static bool s_before(const uint64_t *times, int a, int b)
{
    if (times[a] && times[b] && times[a] <= times[b])
        return true;
    fprintf(stderr, "stamp %d (%llu) is not set and before stamp %d (%llu)\n", a,
            (unsigned long long) times[a], b, (unsigned long long) times[b]);
    return false;
}

static void scenario_stamps(bt_world_t *w)
{
    fx_id_text_t ids[1];
    uint64_t sent = (uint64_t) fx_wall_us();
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_task_t *t = &msg->submit.tasks[0];
    fx_id_new(t->task_id);
    memcpy(ids[0], t->task_id, sizeof ids[0]);
    memcpy(t->endpoint_id, w->ep, sizeof t->endpoint_id);
    memcpy(t->function_id, w->fn, sizeof t->function_id);
    fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
    fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
    t->payload = zframe_new("args", 4);
    t->times[FX_TIME_CLIENT_SENT] = sent;
    uint32_t seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    fx_msg_destroy(&msg);
    /* TASKS carry the client's stamp and the broker's so far. */
    bt_credit(w->endpoint, 1);
    msg = bt_expect(w->endpoint, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == 1);
    if (msg && msg->tasks.count == 1) {
        const uint64_t *times = msg->tasks.tasks[0].times;
        CHECK(times[FX_TIME_CLIENT_SENT] == sent);
        CHECK(s_before(times, FX_TIME_CLIENT_SENT, FX_TIME_BROKER_RECEIVED));
        CHECK(s_before(times, FX_TIME_BROKER_RECEIVED, FX_TIME_BROKER_WRITTEN));
        CHECK(s_before(times, FX_TIME_BROKER_WRITTEN, FX_TIME_BROKER_DISPATCHED));
        /* dispatch does not wait for the disk: durable may come later */
        CHECK(!times[FX_TIME_BROKER_DURABLE] || s_before(times, FX_TIME_BROKER_WRITTEN, FX_TIME_BROKER_DURABLE));
    }
    fx_msg_destroy(&msg);
    /* The endpoint answers without copying the stamps back (a hop that does
       not know them): the broker fills in its own from the task. */
    bt_return(w->endpoint, ids, 1);
    msg = bt_expect(w->alice_c, FX_MSG_RESULTS, 0);
    uint64_t pushed[FX_TIMES_MAX] = {0};
    CHECK(msg && msg->results.count == 1);
    if (msg && msg->results.count == 1) {
        const uint64_t *times = msg->results.results[0].times;
        CHECK(s_before(times, FX_TIME_BROKER_RECEIVED, FX_TIME_BROKER_WRITTEN));
        CHECK(s_before(times, FX_TIME_BROKER_WRITTEN, FX_TIME_BROKER_DURABLE));
        CHECK(s_before(times, FX_TIME_BROKER_WRITTEN, FX_TIME_BROKER_DISPATCHED));
        CHECK(s_before(times, FX_TIME_BROKER_DISPATCHED, FX_TIME_BROKER_RESULT));
        CHECK(s_before(times, FX_TIME_BROKER_DURABLE, FX_TIME_BROKER_RESULT_DURABLE));
        CHECK(s_before(times, FX_TIME_BROKER_RESULT, FX_TIME_BROKER_RESULT_DURABLE));
        CHECK(s_before(times, FX_TIME_BROKER_RESULT_DURABLE, FX_TIME_BROKER_PUSHED));
        memcpy(pushed, times, sizeof pushed);
    }
    fx_msg_destroy(&msg);
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, 1);
    memcpy(ack->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    bt_send(w->alice_c, ack);
    CHECK(bt_status(w->alice_c, ids[0], NULL) == FX_TASK_DELIVERED); /* read after the ack */
    /* Stored with the result: a FETCH reads them all back. */
    msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    seq = bt_send(w->alice_c, msg);
    msg = bt_expect(w->alice_c, FX_MSG_RESULTS, seq);
    CHECK(msg && msg->results.count == 1);
    for (int i = 0; msg && msg->results.count == 1 && i < FX_TIMES_MAX; i++)
        CHECK(msg->results.results[0].times[i] == pushed[i], "stamp %d: fetched %llu, pushed %llu", i,
              (unsigned long long) msg->results.results[0].times[i], (unsigned long long) pushed[i]);
    fx_msg_destroy(&msg);
}

/* Each scenario on a fresh broker and state directory, started with flags. */
static void s_run(void (*scenario)(bt_world_t *w), const char *const *flags)
{
    bt_world_t w;
    if (bt_world_setup(&w, flags) == 0)
        scenario(&w);
    else
        CHECK(!"setup failed");
    bt_world_teardown(&w);
}

#define S_SCENARIO(name, ...)                                                                                \
    static void run_##name(void *ctx)                                                                        \
    {                                                                                                        \
        static const char *const flags[] = {__VA_ARGS__, NULL};                                              \
        s_run(scenario_##name, flags);                                                                       \
    }

S_SCENARIO(retries, NULL)
S_SCENARIO(requeue_unlimited, "--heartbeat-ms", "100")
S_SCENARIO(cancel, NULL)
S_SCENARIO(endpoint_status, "--heartbeat-ms", "100")
S_SCENARIO(heartbeat_offline, "--heartbeat-ms", "200", "--heartbeat-missed", "3")
S_SCENARIO(queue_cap, "--max-queued-per-user", "10")
S_SCENARIO(sigterm, NULL)
S_SCENARIO(state_lock, NULL)
S_SCENARIO(stamps, NULL)
S_SCENARIO(kill9, NULL)

static const fx_scenario_t s_scenarios[] = {
    {"retries", run_retries, false},
    {"requeue_unlimited", run_requeue_unlimited, false},
    {"cancel", run_cancel, false},
    {"endpoint_status", run_endpoint_status, false},
    {"heartbeat_offline", run_heartbeat_offline, false},
    {"queue_cap", run_queue_cap, false},
    {"sigterm", run_sigterm, false},
    {"state_lock", run_state_lock, false},
    {"stamps", run_stamps, false},
    {"kill9", run_kill9, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "fx_broker_flow_test", &count, &names);
    return bt_finish(fx_test_main("fx_broker_flow_test", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
