/*  fx_mgr_sim_test: fx-manager --simulate against the fake interchange
    (fx_ixfake.h), which serves the SIMULATED managers as it serves a real
    one, each by its own routing id.

        fx_mgr_sim_test PATH-TO-fx-manager PATH-TO-python3 [SCENARIO...|all]

    simulate: three SIMULATED managers say MANAGER_HELLO with their own ids,
    get their CREDIT after WELCOME, beat, answer every task at once with
    pickle.dumps(None), send again after a new session the results nobody
    acknowledged, and stop on COMMAND STOP; the process then exits 0 and has
    said SIMULATED in its log. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "fx_ixfake.h"

enum { S_MANAGERS = 3, S_SLOTS = 4, S_PREFETCH = 2, S_WINDOW = S_SLOTS + S_PREFETCH };

typedef struct {
    fx_id_text_t id;
    zframe_t *rid;
    uint32_t hello_seq;
    int beats;
} s_sim_t;

/* The simulated manager rid belongs to, or NULL. */
static s_sim_t *s_of(s_sim_t *sims, zframe_t *rid)
{
    for (int i = 0; i < S_MANAGERS; i++)
        if (sims[i].rid && zframe_eq(sims[i].rid, rid))
            return &sims[i];
    return NULL;
}

static void s_send_to(ix_t *ix, zframe_t *rid, fx_msg_t **msg_p)
{
    CHECK(fx_msg_send(msg_p, ix->router, rid) == FX_OK, "cannot send to a SIMULATED manager");
}

/* Counts a HEARTBEAT for the SIMULATED manager that sent it. */
static void s_on_beat(void *arg, zframe_t *rid)
{
    s_sim_t *s = s_of(arg, rid);
    if (s)
        s->beats++;
}

/* The next message of this type from any SIMULATED manager; its routing
   id in *rid_p. */
static void s_beat_all(ix_t *ix, s_sim_t *sims);

static fx_msg_t *s_expect_from(ix_t *ix, s_sim_t *sims, int type, zframe_t **rid_p)
{
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    while (fx_now_ms() < deadline) {
        s_beat_all(ix, sims); /* every manager hears from us while we wait */
        fx_msg_t *msg = ix_next_from(ix, 50, rid_p);
        if (!msg)
            continue;
        if ((int) msg->type == type)
            return msg;
        CHECK(0, "expected %s, got %s", fx_msg_type_name(type), fx_msg_type_name(msg->type));
        fx_msg_destroy(&msg);
        zframe_destroy(rid_p);
    }
    CHECK(0, "no %s from the SIMULATED managers", fx_msg_type_name(type));
    return NULL;
}

/* HEARTBEAT to every simulated manager (the fake beats only its last
   sender), at most every IX_BEAT_MS. */
static void s_beat_all(ix_t *ix, s_sim_t *sims)
{
    int64_t now = fx_now_ms();
    if (now < ix->next_beat)
        return;
    ix->next_beat = now + IX_BEAT_MS;
    for (int i = 0; i < S_MANAGERS; i++)
        if (sims[i].rid) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            s_send_to(ix, sims[i].rid, &beat);
        }
}

/* RESULTS_ACK for these ids to s. */
static void s_ack(ix_t *ix, s_sim_t *s, const fx_id_text_t *ids, int n)
{
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, (uint32_t) n);
    for (int i = 0; i < n; i++)
        memcpy(ack->ids.ids[i], ids[i], sizeof ack->ids.ids[0]);
    s_send_to(ix, s->rid, &ack);
}

static void s_welcome(ix_t *ix, s_sim_t *s)
{
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    memcpy(welcome->welcome.id, s->id, sizeof s->id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = IX_BEAT_MS;
    welcome->seq = s->hello_seq;
    s_send_to(ix, s->rid, &welcome);
}

/* n no-op tasks to s; their ids in ids. */
static void s_tasks(ix_t *ix, s_sim_t *s, int n, fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, (uint32_t) n);
    for (int i = 0; i < n; i++) {
        fx_task_t *t = &msg->tasks.tasks[i];
        fx_id_new(t->task_id);
        fx_id_new(t->function_id);
        t->kind = FX_FN_PYTHON;
        strcpy(t->entry, "f");
        strcpy(t->serializer, "pickle");
        t->body = zframe_new("def f():\n    pass\n", 18);
        t->payload = zframe_new("", 0);
        memcpy(ids[i], t->task_id, sizeof ids[i]);
    }
    s_send_to(ix, s->rid, &msg);
}

/* Waits for the results of these n tasks from each of the first `count`
   managers of sims (ids[k] for manager k; one or more RESULTS each, the
   managers in any order, each one's results in its tasks' order), each OK
   with pickle.dumps(None) and no output. */
static void s_results(ix_t *ix, s_sim_t *sims, int count, int n, fx_id_text_t (*ids)[S_WINDOW])
{
    int got[S_MANAGERS] = {0}, total = 0;
    while (total < count * n) {
        zframe_t *rid = NULL;
        fx_msg_t *msg = s_expect_from(ix, sims, FX_MSG_RESULTS, &rid);
        if (!msg)
            return;
        s_sim_t *s = s_of(sims, rid);
        int k = s ? (int) (s - sims) : -1;
        CHECK(k >= 0 && k < count, "results from manager %d", k);
        for (uint32_t r = 0; k >= 0 && k < count && r < msg->results.count; r++) {
            fx_result_t *res = &msg->results.results[r];
            CHECK(got[k] < n && strcmp(res->task_id, ids[k][got[k]]) == 0, "manager %d: result %d is for %s",
                  k, got[k], res->task_id);
            CHECK(res->status == FX_RESULT_OK && !res->error_text, "status %d", res->status);
            CHECK(zframe_size(res->value) == 4 && memcmp(zframe_data(res->value), "\x80\x04N.", 4) == 0,
                  "value is not pickle.dumps(None) (%zu bytes)", zframe_size(res->value));
            CHECK(zframe_size(res->output) == 0, "output of %zu bytes", zframe_size(res->output));
            got[k]++;
            total++;
        }
        fx_msg_destroy(&msg);
        zframe_destroy(&rid);
    }
}

static void s_expect_credit(ix_t *ix, s_sim_t *sims, s_sim_t *s, uint32_t window)
{
    zframe_t *rid = NULL;
    fx_msg_t *msg = s_expect_from(ix, sims, FX_MSG_CREDIT, &rid);
    CHECK(msg && s_of(sims, rid) == s && msg->credit.window == window, "CREDIT %u from %p, want %u from %p",
          msg ? msg->credit.window : 9999, (void *) s_of(sims, rid), window, (void *) s);
    fx_msg_destroy(&msg);
    zframe_destroy(&rid);
}

IX_SCENARIO(s_test_simulate)
{
    s_sim_t sims[S_MANAGERS];
    memset(sims, 0, sizeof sims);
    ix->simulate = S_MANAGERS;
    ix->hold_acks = true; /* the scenario acks by hand, per manager */
    ix->capture_stderr = true;
    ix->on_beat = s_on_beat;
    ix->on_beat_arg = sims;
    REQUIRE(ix_start(ix, S_SLOTS, S_PREFETCH) == 0, "setup");
    /* three hellos, three ids, then a WELCOME and a CREDIT each */
    for (int i = 0; i < S_MANAGERS; i++) {
        zframe_t *rid = NULL;
        fx_msg_t *hello = s_expect_from(ix, sims, FX_MSG_MANAGER_HELLO, &rid);
        REQUIRE(hello, "hello %d", i);
        CHECK(hello->manager_hello.workers == S_SLOTS && hello->manager_hello.pid == (uint32_t) ix->pid,
              "hello: workers %u pid %u", hello->manager_hello.workers, hello->manager_hello.pid);
        for (int k = 0; k < i; k++)
            CHECK(strcmp(sims[k].id, hello->manager_hello.manager_id) != 0,
                  "two SIMULATED managers share an id");
        memcpy(sims[i].id, hello->manager_hello.manager_id, sizeof sims[i].id);
        sims[i].rid = rid;
        sims[i].hello_seq = hello->seq;
        fx_msg_destroy(&hello);
    }
    for (int i = 0; i < S_MANAGERS; i++) {
        s_welcome(ix, &sims[i]);
        s_expect_credit(ix, sims, &sims[i], S_WINDOW);
    }
    /* a full window each, answered at once; acked */
    fx_id_text_t ids[S_MANAGERS][S_WINDOW];
    for (int i = 0; i < S_MANAGERS; i++)
        s_tasks(ix, &sims[i], S_WINDOW, ids[i]);
    s_results(ix, sims, S_MANAGERS, S_WINDOW, ids);
    for (int i = 1; i < S_MANAGERS; i++)
        s_ack(ix, &sims[i], ids[i], S_WINDOW);
    /* heartbeats from every one, while we beat them */
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    bool all = false;
    while (!all && fx_now_ms() < deadline) {
        s_beat_all(ix, sims);
        zframe_t *rid = NULL;
        fx_msg_t *msg = ix_next_from(ix, IX_BEAT_MS, &rid);
        CHECK(!msg, "unexpected %s", msg ? fx_msg_type_name(msg->type) : "");
        fx_msg_destroy(&msg);
        zframe_destroy(&rid);
        all = true;
        for (int i = 0; i < S_MANAGERS; i++)
            all = all && sims[i].beats > 0;
    }
    CHECK(all, "heartbeats: %d %d %d", sims[0].beats, sims[1].beats, sims[2].beats);
    /* manager 0 never got its acks: after a new session it sends those
       results again, then its CREDIT */
    fx_send_error(ix->router, sims[0].rid, 0, FX_E_NO_SESSION, "no session (test)");
    zframe_t *rid = NULL;
    fx_msg_t *hello = s_expect_from(ix, sims, FX_MSG_MANAGER_HELLO, &rid);
    REQUIRE(hello && s_of(sims, rid) == &sims[0] && strcmp(hello->manager_hello.manager_id, sims[0].id) == 0,
            "manager 0 says hello again with its id");
    sims[0].hello_seq = hello->seq;
    fx_msg_destroy(&hello);
    zframe_destroy(&rid);
    s_welcome(ix, &sims[0]);
    s_results(ix, sims, 1, S_WINDOW, ids);
    s_expect_credit(ix, sims, &sims[0], S_WINDOW);
    s_ack(ix, &sims[0], ids[0], S_WINDOW);
    /* STOP: each sends CREDIT 0 and, holding nothing, closes; then the
       process exits 0 */
    for (int i = 0; i < S_MANAGERS; i++) {
        fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
        stop->command.command = FX_CMD_STOP;
        s_send_to(ix, sims[i].rid, &stop);
    }
    for (int i = 0; i < S_MANAGERS; i++) {
        fx_msg_t *msg = s_expect_from(ix, sims, FX_MSG_CREDIT, &rid);
        CHECK(msg && msg->credit.window == 0, "CREDIT after STOP: %u", msg ? msg->credit.window : 9999);
        fx_msg_destroy(&msg);
        zframe_destroy(&rid);
    }
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after STOP: wait status %d",
          status);
    if (status != -1)
        ix->pid = 0;
    CHECK(ix_log_count(ix, "SIMULATED: 3 managers x 4 slots (prefetch 2)") == 1,
          "the log does not say SIMULATED");
    CHECK(ix_log_count(ix, "stopped (COMMAND STOP)") == S_MANAGERS, "not every SIMULATED manager stopped");
done:
    for (int i = 0; i < S_MANAGERS; i++)
        zframe_destroy(&sims[i].rid);
}

static const fx_scenario_t s_tests[] = {
    {.name = "simulate", .run = s_test_simulate},
};

int main(int argc, char **argv)
{
    return ix_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
