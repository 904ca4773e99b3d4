/*  fx_broker_fault_test.c: the whole broker when its disk fails. Runs
    fx_broker_faults (fx-broker with the failing VFS, see CMakeLists.txt),
    whose every sqlite write fails as on a full disk while the file
    bt_dir/fault exists; the test creates it just before the request it
    wants to fail and removes it after. Each time: the peer gets ERROR
    FX_E_IO (SPEC 6.2, 10.5), nothing committed is lost, nothing is
    acknowledged that was not committed, and once the file is gone the
    broker serves again without being told.

    Scenarios (fx_test_main; each on a fresh broker):
      submit_io   a SUBMIT during the fault: FX_E_IO, none of it stored (the
                  tasks before it still are); resent after: SUBMITTED, and
                  every task runs once
      results_io  RESULTS during the fault: FX_E_IO with the batch's seq, no
                  RESULTS_ACK, nothing pushed, the tasks still DISPATCHED;
                  resent after: acked, pushed once each, delivered
      push_io     results waiting for a client that says HELLO during the
                  fault: nothing pushed (the push could not be recorded),
                  FETCH gets FX_E_IO; after: pushed, each once; a
                  RESULTS_ACK during the fault gets FX_E_IO and the results
                  stay DONE until acked again
      register_io a new function version during the fault: FX_E_IO (its git
                  object may be written, its row is not); the broker is
                  then killed -9 and started again on the same state: its
                  start check finds no row pointing at a missing object,
                  the next registration gets version number 2, the
                  number the failed one did not take, and FUNCTION_GET
                  still gives version 1 before it
      sync_io     the syncer's fdatasync fails (writes work: the file
                  bt_dir/syncfault): the SUBMITTED and RESULTS_ACK held for
                  it become ERROR FX_E_IO, the pushes wait; the broker says
                  so in its log; once syncs work again the pushes leave,
                  each once, and the resent SUBMIT and RESULTS are answered
                  as resends (8.2, 8.4)

    Usage: fx_broker_fault_test PATH_TO_FX_BROKER_FAULTS [SCENARIO...] [-- WRAPPER ARGS...] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_bt.h"

static char s_fault[300];      /* bt_dir/fault */
static char s_sync_fault[300]; /* bt_dir/syncfault */

/* The disk fails while the file exists. */
static void s_disk_fails(bool fails)
{
    if (fails) {
        FILE *f = fopen(s_fault, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
    }
    else
        CHECK(unlink(s_fault) == 0);
}

/* The syncer's fdatasync fails while the file exists. */
static void s_sync_fails(bool fails)
{
    if (fails) {
        FILE *f = fopen(s_sync_fault, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
    }
    else
        CHECK(unlink(s_sync_fault) == 0);
}

static int s_count_state(bt_peer_t *client, const fx_id_text_t *ids, uint32_t n, int state)
{
    int count = 0;
    for (uint32_t i = 0; i < n; i++)
        count += bt_status(client, ids[i], NULL) == state;
    return count;
}

/* ---------------------------------------------------------------- scenarios */

static void scenario_submit_io(bt_world_t *w)
{
    fx_id_text_t before[2], during[3], got[5];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, before);
    s_disk_fails(true);
    uint32_t seq = bt_submit(w->alice_c, w->ep, w->fn, 3, during);
    bt_expect_error(w->alice_c, FX_E_IO, seq);
    /* Reads still work: nothing of the refused batch, all of the one before. */
    CHECK(s_count_state(w->alice_c, during, 3, FX_TASK_UNKNOWN) == 3);
    CHECK(s_count_state(w->alice_c, before, 2, FX_TASK_QUEUED) == 2);
    s_disk_fails(false);
    /* The client resends the same batch: stored now. */
    seq = bt_submit_ids(w->alice_c, w->ep, w->fn, 3, during);
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == 3);
    fx_msg_destroy(&msg);
    CHECK(s_count_state(w->alice_c, during, 3, FX_TASK_QUEUED) == 3);
    /* Every task runs, once. */
    bt_credit(w->endpoint, 10);
    CHECK(bt_take_tasks(w->endpoint, 5, got, NULL) == 5);
    CHECK(bt_barrier(w->endpoint)); /* and no sixth */
    bt_return(w->endpoint, got, 5);
    bt_collect(w->alice_c, got, 5, true);
    CHECK(bt_barrier(w->alice_c));
    CHECK(s_count_state(w->alice_c, before, 2, FX_TASK_DELIVERED) == 2);
    CHECK(s_count_state(w->alice_c, during, 3, FX_TASK_DELIVERED) == 3);
}

static void scenario_results_io(bt_world_t *w)
{
    fx_id_text_t ids[2], got[2];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, ids);
    bt_credit(w->endpoint, 2);
    CHECK(bt_take_tasks(w->endpoint, 2, got, NULL) == 2);
    s_disk_fails(true);
    uint32_t seq = bt_results(w->endpoint, got, 2);
    bt_expect_error(w->endpoint, FX_E_IO, seq);
    s_disk_fails(false);
    /* No ack came after the ERROR either, nothing was pushed, and the tasks
       are still out at the endpoint. */
    CHECK(bt_barrier(w->endpoint));
    CHECK(bt_barrier(w->alice_c));
    CHECK(s_count_state(w->alice_c, ids, 2, FX_TASK_DISPATCHED) == 2);
    /* The endpoint resends (SPEC 6.2): acked, pushed once each, delivered. */
    bt_return(w->endpoint, got, 2);
    bt_collect(w->alice_c, got, 2, true);
    CHECK(bt_barrier(w->alice_c));
    CHECK(s_count_state(w->alice_c, ids, 2, FX_TASK_DELIVERED) == 2);
}

static void scenario_push_io(bt_world_t *w)
{
    fx_id_text_t ids[2], got[2];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, ids);
    /* Alice's connection moves to another client id: nobody is there for
       the results of w->client while they are committed. */
    fx_id_text_t elsewhere;
    fx_id_new(elsewhere);
    bt_session(w->alice_c, elsewhere, w->alice);
    bt_credit(w->endpoint, 2);
    CHECK(bt_take_tasks(w->endpoint, 2, got, NULL) == 2);
    bt_return(w->endpoint, got, 2);
    CHECK(s_count_state(w->alice_c, ids, 2, FX_TASK_DONE) == 2);
    /* The disk fails; a client with that id says HELLO: its results cannot
       be recorded as pushed, so none is sent. */
    s_disk_fails(true);
    bt_peer_t *back = bt_peer_new("alice again", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    bt_session(back, w->client, w->alice);
    CHECK(bt_barrier(back));
    fx_msg_t *msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 2);
    memcpy(msg->ids.ids, ids, sizeof ids);
    uint32_t seq = bt_send(back, msg);
    bt_expect_error(back, FX_E_IO, seq);
    CHECK(s_count_state(back, ids, 2, FX_TASK_DONE) == 2);
    /* The disk is back: the broker's tick pushes them, each once. */
    s_disk_fails(false);
    bt_collect(back, ids, 2, false);
    CHECK(bt_barrier(back));
    /* An ack the broker cannot store: FX_E_IO, the results stay DONE. */
    s_disk_fails(true);
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, 2);
    memcpy(ack->ids.ids, ids, sizeof ids);
    bt_send(back, ack);
    bt_expect_error(back, FX_E_IO, 0);
    CHECK(s_count_state(back, ids, 2, FX_TASK_DONE) == 2);
    s_disk_fails(false);
    ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, 2);
    memcpy(ack->ids.ids, ids, sizeof ids);
    bt_send(back, ack);
    CHECK(s_count_state(back, ids, 2, FX_TASK_DELIVERED) == 2); /* STATUS is read after the ack */
    CHECK(bt_barrier(back));                                    /* nothing pushed twice */
    bt_peer_destroy(&back);
}

static void scenario_sync_io(bt_world_t *w)
{
    fx_id_text_t before[2], during[3], got[5];
    bt_submit_ok(w->alice_c, w->ep, w->fn, 2, before);
    s_sync_fails(true);
    uint32_t seq = bt_submit(w->alice_c, w->ep, w->fn, 3, during);
    bt_expect_error(w->alice_c, FX_E_IO, seq);
    /* Written, not known durable: dispatched all the same (dispatch never
       waits for the disk). */
    bt_credit(w->endpoint, 10);
    CHECK(bt_take_tasks(w->endpoint, 5, got, NULL) == 5);
    seq = bt_results(w->endpoint, got, 5);
    bt_expect_error(w->endpoint, FX_E_IO, seq);
    CHECK(bt_barrier(w->alice_c)); /* no push while nothing syncs */
    s_sync_fails(false);
    /* The next sync works: the pushes leave, each once. */
    bt_collect(w->alice_c, got, 5, true);
    /* The client resends its refused SUBMIT, the endpoint its results. */
    seq = bt_submit_ids(w->alice_c, w->ep, w->fn, 3, during);
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == 3);
    fx_msg_destroy(&msg);
    bt_return(w->endpoint, got, 5);
    CHECK(bt_barrier(w->alice_c)); /* nothing pushed twice */
    CHECK(bt_barrier(w->endpoint)); /* nothing dispatched twice */
    CHECK(s_count_state(w->alice_c, before, 2, FX_TASK_DELIVERED) == 2);
    CHECK(s_count_state(w->alice_c, during, 3, FX_TASK_DELIVERED) == 3);
    /* It said so. */
    char log[65536] = "";
    FILE *f = fopen(bt_log, "r");
    size_t n = f ? fread(log, 1, sizeof log - 1, f) : 0;
    log[n] = '\0';
    if (f)
        fclose(f);
    CHECK(strstr(log, "did not sync") && strstr(log, "fdatasync"), "the broker's log does not tell");
}

static const char *const s_fault_flags[] = {"--fault-file", s_fault, "--sync-fault-file", s_sync_fault,
                                            "--heartbeat-ms", "100", NULL};

#define S_BODY_V2 "def double(x): return x + x\n"
#define S_BODY_V3 "def double(x): return x * 2\n"

static void scenario_register_io(bt_world_t *w)
{
    s_disk_fails(true);
    bt_expect_error(w->alice_c, FX_E_IO, bt_register_function(w->alice_c, w->fn, S_BODY_V2));
    s_disk_fails(false);
    /* a crash right after: nothing of the registration is in sqlite */
    CHECK(kill(w->broker.pid, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(w->broker.pid, &status, 0) == w->broker.pid);
    w->broker.pid = 0;
    if (bt_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", s_fault_flags) != 0) {
        CHECK(!"the broker did not start again on its state");
        return;
    }
    CHECK(!bt_log_has("function versions refused"), "the start check found a row without its object");
    bt_peer_destroy(&w->alice_c);
    w->alice_c = bt_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    bt_session(w->alice_c, w->client, w->alice);
    /* another body: number 3 if the refused one had been kept after all */
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED,
                              bt_register_function(w->alice_c, w->fn, S_BODY_V3));
    CHECK(msg && msg->function_registered.number == 2, "version number %u after the failed one",
          msg ? msg->function_registered.number : 0);
    fx_msg_destroy(&msg);
    /* the history survived the kill: version 1 and the new one, oldest first */
    fx_msg_t *get = fx_msg_new(FX_MSG_FUNCTION_GET);
    memcpy(get->function_get.function_id, w->fn, sizeof(fx_id_text_t));
    fx_msg_t *info = bt_expect(w->alice_c, FX_MSG_FUNCTION_INFO, bt_send(w->alice_c, get));
    CHECK(info && info->function_info.count == 2 && info->function_info.versions[0].number == 1 &&
              info->function_info.versions[1].number == 2,
          "history after the restart: %u versions", info ? info->function_info.count : 0);
    fx_msg_destroy(&info);
}

/* ---------------------------------------------------------------- main */

static void s_run(void (*scenario)(bt_world_t *w))
{
    /* A short beat: the tick that retries a failed push comes soon. */
    bt_world_t w;
    if (bt_world_setup(&w, s_fault_flags) == 0)
        scenario(&w);
    else
        CHECK(!"setup failed");
    unlink(s_fault);
    unlink(s_sync_fault);
    bt_world_teardown(&w);
}

#define S_SCENARIO(name)                                                                                     \
    static void run_##name(void *ctx)                                                                        \
    {                                                                                                        \
        s_run(scenario_##name);                                                                              \
    }
S_SCENARIO(submit_io)
S_SCENARIO(results_io)
S_SCENARIO(push_io)
S_SCENARIO(sync_io)
S_SCENARIO(register_io)

static const fx_scenario_t s_scenarios[] = {
    {"submit_io", run_submit_io, false},
    {"results_io", run_results_io, false},
    {"push_io", run_push_io, false},
    {"sync_io", run_sync_io, false},
    {"register_io", run_register_io, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "fx_broker_fault_test", &count, &names);
    snprintf(s_fault, sizeof s_fault, "%s/fault", bt_dir);
    snprintf(s_sync_fault, sizeof s_sync_fault, "%s/syncfault", bt_dir);
    return bt_finish(fx_test_main("fx_broker_fault_test", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
