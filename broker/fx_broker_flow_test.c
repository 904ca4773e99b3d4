/*  fx_broker_flow_test.c: issue 3 ("nothing lost, nothing hung") on the
    real fx-broker, one scenario per run (one ctest entry each), each on a
    fresh broker and state directory:

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

    Usage: fx_broker_flow_test SCENARIO PATH_TO_FX_BROKER [WRAPPER ARGS...] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_wire.h"

/* LIST endpoints; the row of the test endpoint as (status, managers,
   workers) into the buffers. 0, or -1 if the reply was not as expected. */
static int s_list_endpoint(fxw_world_t *w, char *status, char *managers, char *workers)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_ENDPOINTS;
    uint32_t seq = fxw_send(w->alice_c, msg);
    msg = fxw_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
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
static fx_msg_t *s_cancel(fxw_peer_t *client, fx_id_text_t *ids, uint32_t n, bool queued_only)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(msg, n);
    memcpy(msg->cancel.ids, ids, n * sizeof *ids);
    msg->cancel.queued_only = queued_only;
    uint32_t seq = fxw_send(client, msg);
    msg = fxw_expect(client, FX_MSG_STATUS_REPLY, seq);
    CHECK(msg && msg->status_reply.count == n);
    if (msg && msg->status_reply.count != n)
        fx_msg_destroy(&msg);
    return msg;
}

/* Collects pushed results of the n ids, each an FX_E_CANCELLED error whose
   text holds `text`, and acks them. */
static void s_collect_cancelled(fxw_peer_t *client, fx_id_text_t *ids, uint32_t n, const char *text)
{
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = fxw_expect(client, FX_MSG_RESULTS, 0);
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
        fxw_send(client, ack);
        fx_msg_destroy(&msg);
    }
    CHECK(have == n);
}

/* ---------------------------------------------------------------- scenarios */

static void scenario_retries(fxw_world_t *w)
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
    uint32_t seq = fxw_send(w->alice_c, msg);
    msg = fxw_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    fx_msg_destroy(&msg);
    fxw_credit(w->endpoint, 3);
    msg = fxw_expect(w->endpoint, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == 3);
    for (uint32_t i = 0; msg && i < msg->tasks.count && i < 3; i++)
        CHECK(msg->tasks.tasks[i].retries == given[i]);
    fx_msg_destroy(&msg);
}

/* Waits (deadline) until the task is no longer DISPATCHED; its state. */
static int s_wait_requeued(fxw_world_t *w, const char *task_id, uint32_t *attempts)
{
    int64_t deadline = zclock_mono() + WAIT_MS;
    int state = -1;
    while (zclock_mono() < deadline &&
           (state = fxw_status(w->alice_c, task_id, attempts)) == FX_TASK_DISPATCHED)
        fxw_quiet(w->alice_c);
    return state;
}

static void scenario_requeue_unlimited(fxw_world_t *w)
{
    enum { LOSSES = 6 };
    fx_id_text_t ids[1], got[1];
    uint32_t attempts = 0, attempt[1];
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    fxw_credit(w->endpoint, 1);
    CHECK(fxw_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == 0);
    for (uint32_t n = 1; n <= LOSSES; n++) {
        if (n % 2) { /* lost: silent past the threshold */
            w->endpoint->keepalive = false;
            CHECK(s_wait_requeued(w, ids[0], &attempts) == FX_TASK_QUEUED && attempts == n);
            fxw_credit(w->endpoint, 1);
            fxw_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
        }
        fxw_endpoint_hello(w->endpoint, w->ep, true); /* a re-hello requeues too */
        fxw_credit(w->endpoint, 1);
        CHECK(fxw_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == n);
    }
    CHECK(fxw_quiet(w->alice_c)); /* no failure was pushed */
    CHECK(fxw_status(w->alice_c, ids[0], &attempts) == FX_TASK_DISPATCHED && attempts == LOSSES + 1);
    fxw_return(w->endpoint, got, 1);
    fxw_collect(w->alice_c, got, 1, true);
    CHECK(fxw_status(w->alice_c, ids[0], NULL) == FX_TASK_DELIVERED);
}

static void scenario_cancel(fxw_world_t *w)
{
    fx_id_text_t ids[3], got[1];
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 3, ids);
    fxw_credit(w->endpoint, 1);
    CHECK(fxw_take_tasks(w->endpoint, 1, got, NULL) == 1 && strcmp(got[0], ids[0]) == 0);
    /* Bob cannot cancel Alice's tasks: UNKNOWN, nothing changes. */
    fx_msg_t *reply = s_cancel(w->bob_c, ids, 3, false);
    for (uint32_t i = 0; reply && i < 3; i++)
        CHECK(reply->status_reply.tasks[i].state == FX_TASK_UNKNOWN);
    fx_msg_destroy(&reply);
    CHECK(fxw_quiet(w->endpoint));
    /* queued_only: the two queued end at once; the dispatched one stays. */
    reply = s_cancel(w->alice_c, ids, 3, true);
    if (reply) {
        CHECK(reply->status_reply.tasks[0].state == FX_TASK_DISPATCHED);
        CHECK(reply->status_reply.tasks[1].state == FX_TASK_FAILED);
        CHECK(reply->status_reply.tasks[2].state == FX_TASK_FAILED);
    }
    fx_msg_destroy(&reply);
    s_collect_cancelled(w->alice_c, ids + 1, 2, "cancelled before it ran");
    CHECK(fxw_quiet(w->endpoint)); /* nothing forwarded */
    /* Full cancel: forwarded to the owning endpoint, state stays DISPATCHED. */
    reply = s_cancel(w->alice_c, ids, 3, false);
    if (reply) {
        CHECK(reply->status_reply.tasks[0].state == FX_TASK_DISPATCHED);
        CHECK(reply->status_reply.tasks[1].state == FX_TASK_FAILED);
    }
    fx_msg_destroy(&reply);
    fx_msg_t *msg = fxw_expect(w->endpoint, FX_MSG_CANCEL, 0);
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
    uint32_t seq = fxw_send(w->endpoint, msg);
    msg = fxw_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    s_collect_cancelled(w->alice_c, ids, 1, "worker pid 42");
    CHECK(fxw_status(w->alice_c, ids[0], NULL) == FX_TASK_FAILED);
    /* Cancelling finished tasks changes nothing. */
    reply = s_cancel(w->alice_c, ids, 3, false);
    for (uint32_t i = 0; reply && i < 3; i++)
        CHECK(reply->status_reply.tasks[i].state == FX_TASK_FAILED);
    fx_msg_destroy(&reply);
    CHECK(fxw_quiet(w->endpoint) && fxw_quiet(w->alice_c));
}

static void scenario_endpoint_status(fxw_world_t *w)
{
    char status[16] = "", managers[16] = "", workers[16] = "";
    CHECK(s_list_endpoint(w, status, managers, workers) == 0);
    CHECK(strcmp(status, "online") == 0 && strcmp(managers, "0") == 0 && strcmp(workers, "0") == 0);
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    msg->endpoint_status.managers = 2;
    msg->endpoint_status.workers = 16;
    msg->endpoint_status.free = 5;
    fxw_send(w->endpoint, msg);
    /* The status is applied in the broker's order of arrival; poll (deadline). */
    int64_t deadline = zclock_mono() + WAIT_MS;
    while (zclock_mono() < deadline && s_list_endpoint(w, status, managers, workers) == 0 &&
           strcmp(managers, "2") != 0)
        fxw_keepalive();
    CHECK(strcmp(managers, "2") == 0 && strcmp(workers, "16") == 0);
    CHECK(fxw_quiet(w->endpoint)); /* not answered */
    /* Offline: zeros. */
    fxw_peer_destroy(&w->endpoint);
    deadline = zclock_mono() + 4 * WAIT_MS;
    while (zclock_mono() < deadline && s_list_endpoint(w, status, managers, workers) == 0 &&
           strcmp(status, "online") == 0)
        fxw_quiet(w->alice_c);
    CHECK(strcmp(status, "offline") == 0 && strcmp(managers, "0") == 0 && strcmp(workers, "0") == 0);
}

#define S_BEAT_MS 200
#define S_MISSED 3

static void scenario_heartbeat_offline(fxw_world_t *w)
{
    fx_id_text_t ids[1], got[1];
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    fxw_credit(w->endpoint, 1);
    CHECK(fxw_take_tasks(w->endpoint, 1, got, NULL) == 1);
    /* The endpoint's last message leaves now; then it goes silent. */
    fxw_send(w->endpoint, fx_msg_new(FX_MSG_HEARTBEAT));
    int64_t silent_from = zclock_mono();
    w->endpoint->keepalive = false;
    char status[16] = "online", managers[16], workers[16];
    int64_t bound = (S_MISSED + 1) * S_BEAT_MS * fxw_slow;
    while (zclock_mono() - silent_from < bound + S_BEAT_MS &&
           s_list_endpoint(w, status, managers, workers) == 0 && strcmp(status, "online") == 0)
        fxw_keepalive();
    int64_t took = zclock_mono() - silent_from;
    printf("heartbeat_offline: offline after %lld ms (period %d ms x %d missed; bound %lld ms)\n",
           (long long) took, S_BEAT_MS, S_MISSED, (long long) bound);
    CHECK(strcmp(status, "offline") == 0 && took <= bound);
    CHECK(took >= S_MISSED * S_BEAT_MS - 50); /* not before its time either */
    uint32_t attempts = 0;
    CHECK(fxw_status(w->alice_c, ids[0], &attempts) == FX_TASK_QUEUED && attempts == 1);
}

static void scenario_queue_cap(fxw_world_t *w)
{
    enum { CAP = 10 };
    fx_id_text_t ids[CAP + 5];
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 8, ids);
    uint32_t seq = fxw_submit(w->alice_c, w->ep, w->fn, 3, ids + 8);
    fx_msg_t *msg = fxw_expect(w->alice_c, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == FX_E_LIMIT && msg->error.text);
    if (msg && msg->error.text) {
        printf("queue_cap: %s\n", msg->error.text);
        CHECK(strstr(msg->error.text, " 8 ") && strstr(msg->error.text, " 10 "));
    }
    fx_msg_destroy(&msg);
    CHECK(fxw_status(w->alice_c, ids[8], NULL) == FX_TASK_UNKNOWN); /* refused whole */
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 2, ids + 8);
    /* Dispatched tasks still count; a result makes room. */
    fxw_credit(w->endpoint, 1);
    fx_id_text_t got[1];
    CHECK(fxw_take_tasks(w->endpoint, 1, got, NULL) == 1);
    seq = fxw_submit(w->alice_c, w->ep, w->fn, 1, ids + 10);
    fxw_expect_error(w->alice_c, FX_E_LIMIT, seq);
    fxw_return(w->endpoint, got, 1);
    fxw_collect(w->alice_c, got, 1, true);
    CHECK(fxw_take_tasks(w->endpoint, 1, got, NULL) == 1); /* the credit refills */
    fxw_return(w->endpoint, got, 1);
    fxw_collect(w->alice_c, got, 1, true);
    fxw_credit(w->endpoint, 0);
    fxw_submit_ok(w->alice_c, w->ep, w->fn, 2, ids + 10);
}

static void scenario_sigterm(fxw_world_t *w)
{
    enum { BATCHES = 12, PER = 300 };
    static fx_id_text_t ids[BATCHES][PER];
    uint32_t seqs[BATCHES];
    bool acked[BATCHES] = {false};
    for (int b = 0; b < BATCHES; b++)
        seqs[b] = fxw_submit(w->alice_c, w->ep, w->fn, PER, ids[b]);
    /* SIGTERM as soon as the first batch is acknowledged: the rest stream
       in while the broker stops. */
    int replies = 0;
    fx_msg_t *msg = fxw_next(w->alice_c, WAIT_MS);
    for (bool signalled = false; msg; msg = fxw_next(w->alice_c, QUIET_MS)) {
        CHECK(msg->type == FX_MSG_SUBMITTED);
        for (int b = 0; b < BATCHES; b++)
            if (msg->type == FX_MSG_SUBMITTED && msg->seq == seqs[b])
                acked[b] = true;
        replies++;
        fx_msg_destroy(&msg);
        if (!signalled) {
            kill(w->broker.pid, SIGTERM);
            signalled = true;
        }
    }
    fxw_broker_wait(&w->broker); /* exit 0, bounded */
    /* The same state on a new broker: what was acknowledged is there, and
       no batch is half stored. */
    if (fxw_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL) != 0) {
        CHECK(!"fx-broker did not restart");
        return;
    }
    fxw_peer_destroy(&w->alice_c);
    w->alice_c = fxw_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    fxw_session(w->alice_c, w->client, w->alice);
    int stored = 0;
    for (int b = 0; b < BATCHES; b++) {
        msg = fx_msg_new(FX_MSG_STATUS);
        fx_msg_alloc_records(msg, PER);
        memcpy(msg->ids.ids, ids[b], sizeof ids[b]);
        uint32_t seq = fxw_send(w->alice_c, msg);
        msg = fxw_expect(w->alice_c, FX_MSG_STATUS_REPLY, seq);
        int queued = 0;
        for (uint32_t i = 0; msg && i < msg->status_reply.count; i++)
            queued += msg->status_reply.tasks[i].state == FX_TASK_QUEUED;
        CHECK(queued == 0 || queued == PER);
        CHECK(!acked[b] || queued == PER);
        stored += queued == PER;
        fx_msg_destroy(&msg);
    }
    printf("sigterm: %d of %d batches acknowledged before the stop, %d stored\n", replies, BATCHES, stored);
    CHECK(replies >= 1 && stored >= replies);
}

/* ---------------------------------------------------------------- main */

typedef struct {
    const char *name;
    void (*run)(fxw_world_t *w);
    const char *flags[8];
} s_scenario_t;

static const s_scenario_t s_scenarios[] = {
    {"retries", scenario_retries, {NULL}},
    {"requeue_unlimited", scenario_requeue_unlimited, {"--heartbeat-ms", "100", NULL}},
    {"cancel", scenario_cancel, {NULL}},
    {"endpoint_status", scenario_endpoint_status, {"--heartbeat-ms", "100", NULL}},
    {"heartbeat_offline",
     scenario_heartbeat_offline,
     {"--heartbeat-ms", "200", "--heartbeat-missed", "3", NULL}},
    {"queue_cap", scenario_queue_cap, {"--max-queued-per-user", "10", NULL}},
    {"sigterm", scenario_sigterm, {NULL}},
};

int main(int argc, char **argv)
{
    const s_scenario_t *scenario = NULL;
    for (size_t i = 0; argc > 1 && i < sizeof s_scenarios / sizeof s_scenarios[0]; i++)
        if (strcmp(argv[1], s_scenarios[i].name) == 0)
            scenario = &s_scenarios[i];
    if (!scenario) {
        fprintf(stderr, "usage: fx_broker_flow_test SCENARIO PATH_TO_FX_BROKER [WRAPPER...]; scenarios:");
        for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios[0]; i++)
            fprintf(stderr, " %s", s_scenarios[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    char name[64];
    snprintf(name, sizeof name, "broker_%s", scenario->name);
    fxw_init(argc - 1, argv + 1, name);
    fxw_world_t w;
    if (fxw_world_setup(&w, scenario->flags) == 0)
        scenario->run(&w);
    else
        CHECK(!"setup failed");
    fxw_world_teardown(&w);
    return fxw_finish(name);
}
