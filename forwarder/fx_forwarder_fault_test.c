/*  fx_forwarder_fault_test.c: the forwarder when its queue fails
    (fx_fwd_queue_mem.h told to fail with FX_E_IO, as a broken disk under
    the broker's store would). What must hold every time (SPEC 6.2, 8.3):
    the endpoint gets ERROR FX_E_IO for a RESULTS batch that was not
    committed, and no RESULTS_ACK for it; no task is dispatched while it is
    in flight already, none is lost; and the forwarder serves again once
    the fault clears, without being told.

    Scenarios (fx_test_main; all by default):
      results_io        RESULTS while the queue fails: ERROR FX_E_IO with the
                        batch's seq, no ack, still in flight; resent: acked
      take_io           a take fails: no TASKS; the next tick takes them
      hello_requeue_io  a hello whose requeue fails takes nothing new until a
                        tick's retry requeued the earlier session's tasks
      loss_requeue_io   a lost endpoint whose requeue fails: a tick retries it
      seen_io           last_seen that cannot be written is written later
      zap_io            a key lookup that fails refuses the connection, for now
      every_call        one script of hello, credit, results, re-hello and
                        loss, run again and again with the queue failing from
                        its 1st call on, then its 2nd, ... until a run where
                        no call failed; then healed, the endpoint says hello
                        again and everything finishes, each task once
      one_call          the same with only that one call failing */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_check.h"
#include "fx_fwd_testfix.h"
#include "fx_testkit.h"

/* An interchange's view, for the scripted scenarios: tasks it holds from
   this session (no result sent), and results it sent and has no ack for. */
typedef struct {
    ft_fix_t fix;
    zhashx_t *held;
    zhashx_t *unacked;
    uint32_t errors_io;
    uint32_t acked;
} s_ic_t;

static void s_ic_new(s_ic_t *ic, int tasks)
{
    ft_setup(&ic->fix, tasks);
    ic->held = zhashx_new();
    ic->unacked = zhashx_new();
    ic->errors_io = ic->acked = 0;
}

static void s_ic_destroy(s_ic_t *ic)
{
    zhashx_destroy(&ic->held);
    zhashx_destroy(&ic->unacked);
    ft_teardown(&ic->fix);
}

/* Reads what the set sent (all of it is there: the test runs the loop). */
static void s_ic_read(s_ic_t *ic)
{
    fx_msg_t *msg;
    while ((msg = ft_recv(&ic->fix, 0))) {
        if (msg->type == FX_MSG_TASKS)
            for (uint32_t i = 0; i < msg->tasks.count; i++) {
                const char *id = msg->tasks.tasks[i].task_id;
                CHECK(!zhashx_lookup(ic->held, id), "task %s dispatched while in flight", id);
                zhashx_update(ic->held, id, (void *) 1);
            }
        else if (msg->type == FX_MSG_RESULTS_ACK)
            for (uint32_t i = 0; i < msg->ids.count; i++) {
                const char *id = msg->ids.ids[i];
                CHECK(fx_fwd_queue_mem_state(ic->fix.mem, id, NULL) == FX_TASK_DONE,
                      "RESULTS_ACK for %s, whose result is not committed", id);
                zhashx_delete(ic->unacked, id);
                ic->acked++;
            }
        else if (msg->type == FX_MSG_ERROR) {
            CHECK(msg->error.code == FX_E_IO, "ERROR %s: %s", fx_errname(msg->error.code),
                  msg->error.text ? msg->error.text : "");
            ic->errors_io += msg->error.code == FX_E_IO;
        }
        fx_msg_destroy(&msg);
    }
}

/* Finishes every held task and sends RESULTS for all results not acked
   yet (the new ones and the resends), then reads the answer. */
static void s_ic_answer(s_ic_t *ic)
{
    for (void *item = zhashx_first(ic->held); item; item = zhashx_next(ic->held))
        zhashx_update(ic->unacked, zhashx_cursor(ic->held), (void *) 1);
    zhashx_purge(ic->held);
    uint32_t n = (uint32_t) zhashx_size(ic->unacked);
    if (n == 0)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, n);
    uint32_t i = 0;
    for (void *item = zhashx_first(ic->unacked); item; item = zhashx_next(ic->unacked))
        memcpy(msg->results.results[i++].task_id, zhashx_cursor(ic->unacked), sizeof(fx_id_text_t));
    ft_send(&ic->fix, msg, ic->fix.user_id);
    s_ic_read(ic);
}

/* A new session: what it held without a result is the broker's to requeue. */
static void s_ic_hello(s_ic_t *ic)
{
    zhashx_purge(ic->held);
    ft_hello(&ic->fix, ic->fix.ep);
    s_ic_read(ic);
}

static void s_ic_credit(s_ic_t *ic, uint32_t window)
{
    ft_credit(&ic->fix, window);
    s_ic_read(ic);
}

static void s_ic_tick(s_ic_t *ic, int64_t ahead_ms)
{
    ft_tick(&ic->fix, fx_now_ms() + ahead_ms);
    s_ic_read(ic);
}

/* ---------------------------------------------------------------- one fault each */

static void test_results_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 3);
    s_ic_hello(&ic);
    s_ic_credit(&ic, 3);
    CHECK(zhashx_size(ic.held) == 3);
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    s_ic_answer(&ic);
    CHECK(ic.errors_io == 1 && ic.acked == 0 && zhashx_size(ic.unacked) == 3);
    CHECK(ft_in_flight(&ic.fix) == 3);
    fx_fwd_queue_mem_stats_t st;
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.done == 0 && st.dispatched == 3);
    /* One of them again: the ERROR carries the batch's seq; nothing else comes. */
    REQUIRE(zhashx_first(ic.unacked));
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->results.results[0].task_id, zhashx_cursor(ic.unacked), sizeof(fx_id_text_t));
    ft_send(&ic.fix, msg, ic.fix.user_id);
    ft_expect_error(&ic.fix, FX_E_IO);
    CHECK(ft_recv(&ic.fix, 0) == NULL); /* no ack */
    /* Healed: the resend is acked, nothing was dispatched twice. */
    fx_fwd_queue_mem_heal(ic.fix.mem);
    s_ic_answer(&ic);
    CHECK(ic.acked == 3 && zhashx_size(ic.unacked) == 0);
    CHECK(ft_in_flight(&ic.fix) == 0);
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.done == 3 && st.taken_max == 1 && st.results_max == 1);
done:
    s_ic_destroy(&ic);
}

static void test_take_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 4);
    s_ic_hello(&ic);
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    s_ic_credit(&ic, 2);
    CHECK(zhashx_size(ic.held) == 0 && ft_in_flight(&ic.fix) == 0);
    s_ic_tick(&ic, 0); /* still failing: still nothing */
    CHECK(zhashx_size(ic.held) == 0);
    fx_fwd_queue_mem_heal(ic.fix.mem);
    s_ic_tick(&ic, 0);
    CHECK(zhashx_size(ic.held) == 2 && ft_in_flight(&ic.fix) == 2);
    s_ic_answer(&ic);
    s_ic_answer(&ic);
    CHECK(ic.acked == 4);
    s_ic_destroy(&ic);
}

static void test_hello_requeue_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 6);
    s_ic_hello(&ic);
    s_ic_credit(&ic, 2);
    CHECK(zhashx_size(ic.held) == 2);
    /* The interchange restarts: its two tasks are the broker's to requeue,
       but the queue fails. The link comes up; it takes nothing. */
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    ft_hello(&ic.fix, ic.fix.ep);
    fx_msg_t *msg = ft_expect(&ic.fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    zhashx_purge(ic.held);
    s_ic_credit(&ic, 4);
    CHECK(zhashx_size(ic.held) == 0 && ft_in_flight(&ic.fix) == 0);
    fx_fwd_queue_mem_heal(ic.fix.mem);
    /* Healed, still nothing until the tick has requeued the old two. */
    s_ic_credit(&ic, 4);
    CHECK(zhashx_size(ic.held) == 0);
    fx_fwd_queue_mem_stats_t st;
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.dispatched == 2 && st.queued == 4);
    s_ic_tick(&ic, 0);
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(zhashx_size(ic.held) == 4 && st.dispatched == 4 && st.queued == 2);
    while (ic.acked < 6 && fx_check_failures == 0 && zhashx_size(ic.held) > 0)
        s_ic_answer(&ic);
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(ic.acked == 6 && st.done == 6 && st.taken_max == 2 && st.results_max == 1);
    s_ic_destroy(&ic);
}

static void test_loss_requeue_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 2);
    s_ic_hello(&ic);
    s_ic_credit(&ic, 2);
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    s_ic_tick(&ic, (FT_MISSED + 1) * FT_BEAT_MS); /* lost */
    CHECK(!fx_fwd_set_online(ic.fix.set, ic.fix.ep));
    fx_fwd_queue_mem_stats_t st;
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.dispatched == 2);
    s_ic_tick(&ic, 0); /* still failing */
    fx_fwd_queue_mem_heal(ic.fix.mem);
    s_ic_tick(&ic, 0);
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.dispatched == 0 && st.queued == 2);
    s_ic_destroy(&ic);
}

static void test_seen_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 0);
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    s_ic_hello(&ic);
    CHECK(fx_fwd_set_online(ic.fix.set, ic.fix.ep)); /* served all the same */
    CHECK(fx_fwd_queue_mem_seen(ic.fix.mem, ic.fix.ep) == 0);
    fx_fwd_queue_mem_heal(ic.fix.mem);
    s_ic_tick(&ic, 0);
    CHECK(fx_fwd_queue_mem_seen(ic.fix.mem, ic.fix.ep) > 0);
    s_ic_destroy(&ic);
}

static void test_zap_io(void *ctx)
{
    s_ic_t ic;
    s_ic_new(&ic, 0);
    char user_id[64];
    fx_fwd_queue_mem_fail(ic.fix.mem, 0, 0, FX_E_IO);
    CHECK(fx_fwd_set_zap(ic.fix.set, ic.fix.ep_key, user_id, sizeof user_id) == FX_E_IO);
    fx_fwd_queue_mem_heal(ic.fix.mem);
    CHECK(fx_fwd_set_zap(ic.fix.set, ic.fix.ep_key, user_id, sizeof user_id) == FX_OK);
    CHECK(strcmp(user_id, ic.fix.user_id) == 0);
    s_ic_destroy(&ic);
}

/* ---------------------------------------------------------------- every call */

#define S_TASKS 5

/* The script, with the fault armed before it; then healed, the recovery.
   Returns how many calls failed. */
static uint64_t s_script(uint64_t after, uint64_t count)
{
    s_ic_t ic;
    s_ic_new(&ic, S_TASKS);
    int before = fx_check_failures;
    fx_fwd_queue_mem_fail(ic.fix.mem, after, count, FX_E_IO);
    s_ic_hello(&ic);
    s_ic_credit(&ic, 3);
    s_ic_answer(&ic);
    s_ic_tick(&ic, 0);
    s_ic_answer(&ic);
    s_ic_hello(&ic); /* a restarted interchange */
    s_ic_answer(&ic);
    s_ic_credit(&ic, 3);
    s_ic_answer(&ic);
    s_ic_credit(&ic, 2);
    s_ic_tick(&ic, (FT_MISSED + 1) * FT_BEAT_MS); /* lost */
    fx_fwd_queue_mem_stats_t st;
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    uint64_t failed = st.failures;
    /* The fault clears: the endpoint comes back and everything finishes. */
    fx_fwd_queue_mem_heal(ic.fix.mem);
    s_ic_hello(&ic);
    s_ic_answer(&ic);
    s_ic_credit(&ic, 3);
    for (int round = 0; round < 20 && ic.acked < S_TASKS && fx_check_failures == before; round++) {
        s_ic_tick(&ic, 0);
        s_ic_answer(&ic);
    }
    fx_fwd_queue_mem_stats(ic.fix.mem, &st);
    CHECK(st.done == S_TASKS && st.results_max == 1 && zhashx_size(ic.unacked) == 0,
          "fault after %llu calls (%llu failing): %u of %d done, %zu unacked", (unsigned long long) after,
          (unsigned long long) count, st.done, S_TASKS, zhashx_size(ic.unacked));
    CHECK(ft_in_flight(&ic.fix) == 0);
    s_ic_destroy(&ic);
    return failed;
}

static void s_every_call(uint64_t count)
{
    uint64_t runs = 0, faults = 0;
    for (uint64_t after = 0; after < 500; after++) {
        uint64_t failed = s_script(after, count);
        runs++;
        faults += failed;
        if (failed == 0)
            break; /* the script ended before the fault's call: every call was covered */
    }
    printf("%s: %llu runs, %llu failed calls in all\n", count ? "one_call" : "every_call",
           (unsigned long long) runs, (unsigned long long) faults);
    CHECK(runs > 10 && runs < 500);
}

static void test_every_call(void *ctx)
{
    s_every_call(0);
}

static void test_one_call(void *ctx)
{
    s_every_call(1);
}

static const fx_scenario_t s_scenarios[] = {
    {"results_io", test_results_io, false},
    {"take_io", test_take_io, false},
    {"hello_requeue_io", test_hello_requeue_io, false},
    {"loss_requeue_io", test_loss_requeue_io, false},
    {"seen_io", test_seen_io, false},
    {"zap_io", test_zap_io, false},
    {"every_call", test_every_call, false},
    {"one_call", test_one_call, false},
};

int main(int argc, char **argv)
{
    return fx_test_main("fx_forwarder_fault_test", argc - 1, argv + 1, s_scenarios,
                        sizeof s_scenarios / sizeof s_scenarios[0], NULL);
}
