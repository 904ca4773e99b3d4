/*  fx_bt_queue.c: a large queue through the real fx-broker (fx_bt_queue.h):
    fill it with SUBMITs a few in flight, drain it through one endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt_queue.h"

/* SUBMITs in flight while filling. */
#define S_FILL_IN_FLIGHT 2

/* The setup proper; bt_queue_setup cleans up after a failure. */
static int s_setup(bt_queue_t *q, bt_broker_t *broker, const char *const *flags)
{
    fx_keypair_new(&q->user_kp);
    fx_keypair_new(&q->endpoint_kp);
    fx_id_new(q->endpoint_id);
    fx_id_new(q->function_id);
    fx_id_text_t user, client, random;
    fx_id_new(client);
    fx_id_new(random);
    memcpy(q->prefix, random, 8);
    char err[512], state[300];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    int rc = store ? fx_store_user_create(store, "queue", q->user_kp.public_key, user, err, sizeof err) : -1;
    fx_store_destroy(&store);
    if (rc != FX_OK) {
        fprintf(stderr, "cannot create the user: %s\n", err);
        return -1;
    }
    if (bt_broker_start(broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", flags) != 0)
        return -1;
    q->client = bt_peer_new("client", broker->client_addr, &q->user_kp, broker->public_key);
    bt_session(q->client, client, user);
    uint32_t seq = bt_register_function(q->client, q->function_id, "def double(x): return 2 * x\n");
    fx_msg_t *msg = bt_expect(q->client, FX_MSG_FUNCTION_REGISTERED, seq);
    bool ok = msg != NULL;
    fx_msg_destroy(&msg);
    seq = bt_register_endpoint(q->client, q->endpoint_id, "queue", q->endpoint_kp.public_key);
    msg = bt_expect(q->client, FX_MSG_ENDPOINT_REGISTERED, seq);
    ok = ok && msg != NULL;
    fx_msg_destroy(&msg);
    return ok ? 0 : -1;
}

int bt_queue_setup(bt_queue_t *q, bt_broker_t *broker, const char *const *flags)
{
    memset(q, 0, sizeof *q);
    memset(broker, 0, sizeof *broker);
    if (s_setup(q, broker, flags) == 0)
        return 0;
    CHECK(!"queue setup failed");
    bt_queue_close(q);
    bt_broker_stop(broker); /* if it started at all */
    return -1;
}

int bt_queue_connect(bt_queue_t *q, bt_broker_t *broker)
{
    q->endpoint = bt_peer_new("endpoint", broker->endpoint_addr, &q->endpoint_kp, broker->public_key);
    int before = fx_check_failures;
    bt_endpoint_hello(q->endpoint, q->endpoint_id, true);
    return fx_check_failures == before ? 0 : -1;
}

void bt_queue_close(bt_queue_t *q)
{
    bt_peer_destroy(&q->client);
    bt_peer_destroy(&q->endpoint);
}

void bt_queue_id(const bt_queue_t *q, uint64_t index, fx_id_text_t out)
{
    snprintf(out, sizeof(fx_id_text_t), "%.8s-0000-4000-8000-%012llx", q->prefix, (unsigned long long) index);
}

/* The index of one of our ids, or -1. */
static int64_t s_index(const bt_queue_t *q, const char *id)
{
    if (strncmp(id, q->prefix, 8) != 0 || strncmp(id + 8, "-0000-4000-8000-", 16) != 0)
        return -1;
    return (int64_t) strtoull(id + 24, NULL, 16);
}

static uint32_t s_submit_range(bt_queue_t *q, uint64_t from, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        bt_queue_id(q, from + i, t->task_id);
        memcpy(t->endpoint_id, q->endpoint_id, sizeof(fx_id_text_t));
        memcpy(t->function_id, q->function_id, sizeof(fx_id_text_t));
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->retries = FX_RETRIES_DEFAULT;
        t->payload = zframe_new("args-of-a-small-task", 20);
    }
    return bt_send(q->client, msg);
}

int bt_queue_fill(bt_queue_t *q, uint64_t total)
{
    uint64_t next = q->queued;
    uint32_t sizes[S_FILL_IN_FLIGHT] = {0}, seqs[S_FILL_IN_FLIGHT] = {0};
    int head = 0, pending = 0;
    while (q->queued < total) {
        while (pending < S_FILL_IN_FLIGHT && next < total) {
            int slot = (head + pending) % S_FILL_IN_FLIGHT;
            uint64_t left = total - next;
            sizes[slot] = left < FX_BATCH_MAX ? (uint32_t) left : FX_BATCH_MAX;
            seqs[slot] = s_submit_range(q, next, sizes[slot]);
            next += sizes[slot];
            pending++;
        }
        fx_msg_t *msg = bt_expect(q->client, FX_MSG_SUBMITTED, seqs[head]);
        bool ok = msg && msg->submitted.accepted == sizes[head];
        fx_msg_destroy(&msg);
        if (!ok)
            return -1;
        q->queued += sizes[head];
        head = (head + 1) % S_FILL_IN_FLIGHT;
        pending--;
    }
    return 0;
}

/* TASKS at the endpoint: a result for each ("ok", no output). */
static void s_answer(bt_queue_t *q, fx_msg_t *tasks)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, tasks->tasks.count);
    for (uint32_t i = 0; i < tasks->tasks.count; i++) {
        fx_result_t *r = &msg->results.results[i];
        memcpy(r->task_id, tasks->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
        r->value = zframe_new("ok", 2);
        r->output = zframe_new_empty();
    }
    bt_send(q->endpoint, msg);
}

/* RESULTS at the client: count the new ones, ack them all. */
static uint64_t s_collect(bt_queue_t *q, fx_msg_t *results, uint8_t *seen, uint64_t total)
{
    uint64_t fresh = 0;
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, results->results.count);
    for (uint32_t i = 0; i < results->results.count; i++) {
        fx_result_t *r = &results->results.results[i];
        int64_t index = s_index(q, r->task_id);
        bool ours = index >= 0 && (uint64_t) index < total;
        CHECK(ours && r->status == FX_RESULT_OK && zframe_streq(r->value, "ok"));
        if (ours) {
            bool twice = seen[index / 8] & (1u << (index % 8));
            CHECK(!twice);
            fresh += !twice;
            seen[index / 8] |= (uint8_t) (1u << (index % 8));
        }
        memcpy(ack->ids.ids[i], r->task_id, sizeof(fx_id_text_t));
    }
    bt_send(q->client, ack);
    return fresh;
}

uint64_t bt_queue_drain(bt_queue_t *q, uint64_t total, uint32_t window, int idle_ms)
{
    uint8_t *seen = calloc(total / 8 + 1, 1);
    zpoller_t *poller = zpoller_new(q->client->sock, q->endpoint->sock, NULL);
    if (!seen || !poller) {
        free(seen);
        zpoller_destroy(&poller);
        return 0;
    }
    bt_credit(q->endpoint, window);
    uint64_t got = 0;
    int64_t moved = zclock_mono();
    while (got < total && zclock_mono() - moved < idle_ms) {
        bt_keepalive();
        zsock_t *which = zpoller_wait(poller, 100);
        if (!which)
            continue;
        zmsg_t *zmsg = zmsg_recv(which);
        fx_msg_t *msg = NULL;
        if (!zmsg || fx_msg_decode(zmsg, &msg, NULL, NULL) != FX_OK) {
            CHECK(!"undecodable message during the drain");
            zmsg_destroy(&zmsg);
            continue;
        }
        zmsg_destroy(&zmsg);
        if (which == q->endpoint->sock && msg->type == FX_MSG_TASKS) {
            s_answer(q, msg);
            moved = zclock_mono();
        }
        else if (which == q->client->sock && msg->type == FX_MSG_RESULTS) {
            got += s_collect(q, msg, seen, total);
            moved = zclock_mono();
        }
        else if (msg->type == FX_MSG_ERROR) {
            fprintf(stderr, "drain: ERROR %s: %s\n", fx_errname(msg->error.code),
                    msg->error.text ? msg->error.text : "");
            CHECK(!"ERROR during the drain");
        }
        fx_msg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    free(seen);
    return got;
}

long bt_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}
