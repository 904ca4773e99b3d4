/*  fx_forwarder_test.c: the endpoint links over an inproc ROUTER/DEALER
    pair, fed from the in-memory queue (fx_fwd_queue_mem.h: no sqlite here).
    The test plays the broker loop (receive, hand to the set, dispatch) and
    the interchange (DEALER). User-Ids are passed in directly: ZAP is
    fx_broker_test's job (fx_fwd_set_zap is checked here against the queue).

    Scenarios (fx_test_main; all by default):
      session_rules     hello, identity, no session, garbage, heartbeats
      credit_window     CREDIT is absolute; results free slots; re-hello and
                        loss requeue what was in flight
      status_and_cancel ENDPOINT_STATUS kept per link; CANCEL out; `missed`
      never_exceed      random credits and results: the window is never exceeded
      zap               the User-Id of a key, as the queue knows it
      containers        CONTAINERS before the first TASKS naming a container,
                        once per session, again after it changed, and after
                        a failed lookup (the batch waits, then goes); the
                        per-container records of ENDPOINT_STATUS kept */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_check.h"
#include "fx_creds.h"
#include "fx_fwd_testfix.h"
#include "fx_testkit.h"

/* ---------------------------------------------------------------- tests */

static void test_session_rules(void *ctx)
{
    ft_fix_t fix;
    ft_setup(&fix, 2);
    /* Before hello: no session. */
    ft_credit(&fix, 5);
    ft_expect_error(&fix, FX_E_NO_SESSION);
    /* Hello as another endpoint: forbidden; without a User-Id: auth. */
    ft_hello(&fix, fix.other_ep);
    ft_expect_error(&fix, FX_E_FORBIDDEN);
    CHECK(!fx_fwd_set_online(fix.set, fix.other_ep));
    fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
    ft_send(&fix, msg, NULL);
    ft_expect_error(&fix, FX_E_AUTH);
    msg = fx_msg_new(FX_MSG_HEARTBEAT);
    ft_send(&fix, msg, "user:00000000-0000-4000-8000-000000000000");
    ft_expect_error(&fix, FX_E_AUTH);
    /* Hello. */
    ft_hello(&fix, fix.ep);
    msg = ft_expect(&fix, FX_MSG_WELCOME);
    CHECK(msg && strcmp(msg->welcome.id, fix.ep) == 0 && msg->welcome.heartbeat_ms == 1000);
    fx_msg_destroy(&msg);
    CHECK(fx_fwd_set_online(fix.set, fix.ep));
    /* Messages that are not for this link. */
    msg = fx_msg_new(FX_MSG_SUBMIT);
    ft_send(&fix, msg, fix.user_id);
    ft_expect_error(&fix, FX_E_UNEXPECTED);
    msg = fx_msg_new(FX_MSG_RESULTS_ACK);
    ft_send(&fix, msg, fix.user_id);
    ft_expect_error(&fix, FX_E_UNEXPECTED);
    /* Garbage. */
    zmsg_t *junk = zmsg_new();
    zmsg_addmem(junk, "", 0);
    fix.seq = 0; /* no seq can be read from garbage: errors carry 0 */
    ft_deliver(&fix, junk, fix.user_id);
    ft_expect_error(&fix, FX_E_MALFORMED);
    junk = zmsg_new();
    zmsg_addstr(junk, "\x94\x01\x13");
    ft_deliver(&fix, junk, fix.user_id);
    ft_expect_error(&fix, FX_E_MALFORMED);
    /* An ERROR from the endpoint is logged, never answered. */
    msg = fx_msg_new(FX_MSG_ERROR);
    fx_msg_set_error(msg, FX_E_INTERNAL, "test error from the endpoint");
    ft_send(&fix, msg, fix.user_id);
    /* Heartbeat answered. */
    msg = fx_msg_new(FX_MSG_HEARTBEAT);
    ft_send(&fix, msg, fix.user_id);
    msg = ft_recv(&fix, FT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_HEARTBEAT);
    fx_msg_destroy(&msg);
    /* Still serving: a credit brings the tasks. */
    ft_credit(&fix, 5);
    msg = ft_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 2);
    fx_msg_destroy(&msg);
    ft_teardown(&fix);
}

static void test_credit_window(void *ctx)
{
    ft_fix_t fix;
    ft_setup(&fix, 7);
    fx_id_text_t ids[16];
    uint32_t held = 0;
    ft_hello(&fix, fix.ep);
    fx_msg_t *msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    /* Window 0 at first: nothing moves. */
    CHECK(ft_recv(&fix, 0) == NULL);
    ft_credit(&fix, 3);
    msg = ft_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 3);
    for (uint32_t i = 0; msg && i < msg->tasks.count; i++) {
        memcpy(ids[held++], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
        CHECK(zframe_streq(msg->tasks.tasks[i].body, "true"));
        CHECK(msg->tasks.tasks[i].endpoint_id[0] == '\0');
    }
    fx_msg_destroy(&msg);
    CHECK(ft_in_flight(&fix) == 3);
    /* The same credit again adds nothing: it is absolute. */
    ft_credit(&fix, 3);
    CHECK(ft_recv(&fix, 0) == NULL);
    /* One result frees one slot. */
    ft_results(&fix, ids, 1);
    msg = ft_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 1);
    if (msg && msg->tasks.count == 1)
        memcpy(ids[held++], msg->tasks.tasks[0].task_id, sizeof(fx_id_text_t));
    fx_msg_destroy(&msg);
    /* A duplicate result changes nothing. */
    ft_results(&fix, ids, 1);
    CHECK(ft_recv(&fix, 0) == NULL);
    CHECK(ft_in_flight(&fix) == 3);
    /* Lowering the window below in flight pauses until enough results come. */
    ft_credit(&fix, 1);
    ft_results(&fix, ids + 1, 2); /* in flight 3 -> 1: still not below 1 */
    CHECK(ft_recv(&fix, 0) == NULL);
    ft_results(&fix, ids + 3, 1); /* 0 in flight: one more */
    msg = ft_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 1);
    fx_msg_destroy(&msg);
    /* Hello again: the dispatched task is requeued and sent again, attempt 1. */
    ft_hello(&fix, fix.ep);
    msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    CHECK(ft_in_flight(&fix) == 0);
    ft_credit(&fix, 10);
    msg = ft_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 3 && msg->tasks.tasks[0].attempt == 1);
    fx_msg_destroy(&msg);
    /* Silence: lost after 3 beats, its tasks requeued, offline. */
    fx_fwd_set_tick(fix.set, fx_now_ms() + 3500);
    CHECK(!fx_fwd_set_online(fix.set, fix.ep));
    fx_fwd_queue_mem_stats_t qs;
    fx_fwd_queue_mem_stats(fix.mem, &qs);
    CHECK(qs.queued == 3 && qs.dispatched == 0 && qs.done == 4);
    ft_credit(&fix, 1);
    ft_expect_error(&fix, FX_E_NO_SESSION);
    fx_forwarder_stats_t stats;
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0);
    CHECK(stats.max_in_flight == 3 && stats.over_credit == 0);
    ft_teardown(&fix);
}

/* ENDPOINT_STATUS is kept per link (and forgotten with it); CANCEL goes
   out to a connected endpoint only; loss follows the set's `missed`. */
static void test_status_and_cancel(void *ctx)
{
    ft_fix_t fix;
    ft_setup(&fix, 1);
    fx_fwd_set_destroy(&fix.set);
    fix.set = fx_fwd_set_new(fix.router, &fix.queue, 1000, 5); /* 5 missed beats */
    fx_forwarder_stats_t stats;
    CHECK(!fx_fwd_set_online(fix.set, fix.ep) && fx_fwd_set_stats(fix.set, fix.ep, &stats) == -1);
    fx_id_text_t ids[1];
    fx_id_new(ids[0]);
    CHECK(fx_fwd_set_cancel(fix.set, fix.ep, ids, 1) == -1); /* not connected */
    ft_hello(&fix, fix.ep);
    fx_msg_t *msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    msg->endpoint_status.managers = 3;
    msg->endpoint_status.workers = 12;
    msg->endpoint_status.free = 4;
    ft_send(&fix, msg, fix.user_id);
    CHECK(fx_fwd_set_online(fix.set, fix.ep) && fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0);
    CHECK(stats.managers == 3 && stats.workers == 12 && stats.free == 4);
    CHECK(fx_fwd_set_cancel(fix.set, fix.ep, ids, 1) == 0);
    msg = ft_expect(&fix, FX_MSG_CANCEL);
    CHECK(msg && msg->cancel.count == 1 && msg->cancel.queued_only == 0 && msg->seq == 0);
    if (msg && msg->cancel.count == 1)
        CHECK(strcmp(msg->cancel.ids[0], ids[0]) == 0);
    fx_msg_destroy(&msg);
    /* Silent for 4 beats: still there with missed = 5; for 6: lost. */
    fx_fwd_set_tick(fix.set, fx_now_ms() + 4500);
    CHECK(fx_fwd_set_online(fix.set, fix.ep));
    fx_fwd_set_tick(fix.set, fx_now_ms() + 6500);
    CHECK(!fx_fwd_set_online(fix.set, fix.ep));
    /* Its counters stay for the logs; what it ran now is forgotten. */
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0 && stats.managers == 0 && stats.workers == 0);
    ft_teardown(&fix);
}

/* Random credits and results: the window is never exceeded. */
static void test_never_exceed(void *ctx)
{
    enum { TASKS = 300 };
    ft_fix_t fix;
    ft_setup(&fix, TASKS);
    srand(42);
    fx_id_text_t *held = calloc(TASKS, sizeof *held);
    uint32_t nheld = 0, done = 0, window = 0, max_window = 0;
    int failures_before = fx_check_failures;
    ft_hello(&fix, fix.ep);
    fx_msg_t *msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    for (int round = 0; round < 2000 && done < TASKS; round++) {
        if (rand() % 3 == 0) {
            window = (uint32_t) (rand() % 9);
            max_window = window > max_window ? window : max_window;
            ft_credit(&fix, window);
        }
        else if (nheld > 0) {
            uint32_t n = 1 + (uint32_t) rand() % nheld;
            ft_results(&fix, held, n);
            memmove(held, held + n, (nheld - n) * sizeof *held);
            nheld -= n;
            done += n;
        }
        while ((msg = ft_recv(&fix, 0))) {
            if (msg->type == FX_MSG_TASKS)
                for (uint32_t i = 0; i < msg->tasks.count; i++)
                    memcpy(held[nheld++], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
            fx_msg_destroy(&msg);
        }
        /* What the interchange holds never exceeds the window at send time,
           so never the largest window announced. */
        CHECK(nheld <= max_window);
        CHECK(ft_in_flight(&fix) == nheld);
        if (fx_check_failures > failures_before)
            break;
    }
    fx_forwarder_stats_t stats;
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0);
    CHECK(stats.over_credit == 0);
    CHECK(stats.max_in_flight <= max_window);
    CHECK(done + nheld == stats.dispatched);
    printf("never_exceed: %u results, max in flight %u, largest window %u\n", done, stats.max_in_flight,
           max_window);
    free(held);
    ft_teardown(&fix);
}

/* ZAP: a registered key gets a User-Id the set accepts; others none. */
static void test_zap(void *ctx)
{
    ft_fix_t fix;
    ft_setup(&fix, 1);
    char user_id[64] = "";
    fx_keypair_t stranger;
    fx_keypair_new(&stranger);
    CHECK(fx_fwd_set_zap(fix.set, stranger.public_key, user_id, sizeof user_id) == FX_E_NOT_FOUND);
    CHECK(strstr(fix.user_id, fix.ep) != NULL);
    ft_hello(&fix, fix.ep);
    fx_msg_t *msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    CHECK(fx_fwd_set_online(fix.set, fix.ep));
    ft_teardown(&fix);
}

/* The next message is CONTAINERS with the one definition of id, image. */
static void s_expect_def(ft_fix_t *fix, const char *id, const char *image)
{
    fx_msg_t *msg = ft_expect(fix, FX_MSG_CONTAINERS);
    CHECK(msg && msg->containers.count == 1);
    CHECK(msg && msg->containers.count == 1 && strcmp(msg->containers.containers[0].container_id, id) == 0 &&
          strcmp(msg->containers.containers[0].image, image) == 0 &&
          strcmp(msg->containers.containers[0].runtime, "podman") == 0);
    fx_msg_destroy(&msg);
}

/* The next message is TASKS of n tasks; the first's container into c. */
static void s_expect_tasks(ft_fix_t *fix, uint32_t n, const char *first_container)
{
    fx_msg_t *msg = ft_expect(fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == n);
    CHECK(msg && msg->tasks.count && strcmp(msg->tasks.tasks[0].container, first_container) == 0);
    fx_msg_destroy(&msg);
}

/* New tasks were queued: the broker's wake, then its dispatch passes. */
static void s_wake(ft_fix_t *fix)
{
    fx_fwd_set_wake(fix->set, fix->ep);
    while (fx_fwd_set_dispatch(fix->set))
        ;
}

static void test_containers(void *ctx)
{
    ft_fix_t fix;
    ft_setup(&fix, 0);
    fx_id_text_t c1, c2;
    fx_id_new(c1);
    fx_id_new(c2);
    fx_fwd_queue_mem_container(fix.mem, c1, "py", "podman", "python:3.11");
    fx_fwd_queue_mem_container(fix.mem, c2, "r", "podman", "r-base:4");
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c1, NULL);
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, "", NULL);
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c1, NULL);
    ft_hello(&fix, fix.ep);
    fx_msg_t *msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    ft_credit(&fix, 100);
    /* one definition for the batch, looked up once, then the batch */
    s_expect_def(&fix, c1, "python:3.11");
    s_expect_tasks(&fix, 3, c1);
    fx_fwd_queue_mem_stats_t qs;
    fx_fwd_queue_mem_stats(fix.mem, &qs);
    CHECK(qs.container_calls == 1);
    /* known to the session: the next batch goes alone */
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c1, NULL);
    s_wake(&fix);
    s_expect_tasks(&fix, 1, c1);
    CHECK(ft_recv(&fix, 0) == NULL);
    /* changed: the new definition first, once */
    fx_fwd_queue_mem_container(fix.mem, c1, "py", "podman", "python:3.12");
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c1, NULL);
    s_wake(&fix);
    s_expect_def(&fix, c1, "python:3.12");
    s_expect_tasks(&fix, 1, c1);
    /* the lookup fails: nothing goes, the batch is in flight; the tick
       retries and it goes after its definition */
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c2, NULL);
    uint32_t before = ft_in_flight(&fix);
    fx_fwd_queue_mem_fail(fix.mem, 1, 1, FX_E_IO); /* take succeeds, the lookup fails */
    s_wake(&fix);
    CHECK(ft_recv(&fix, 0) == NULL);
    CHECK(ft_in_flight(&fix) == before + 1);
    fx_fwd_queue_mem_submit_in(fix.mem, fix.ep, c1, NULL); /* waits behind it */
    ft_tick(&fix, fx_now_ms());
    s_expect_def(&fix, c2, "r-base:4");
    s_expect_tasks(&fix, 1, c2);
    s_expect_tasks(&fix, 1, c1); /* c1 known already */
    CHECK(ft_recv(&fix, 0) == NULL);
    fx_forwarder_stats_t stats;
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0 && stats.containers_sent == 3);
    /* a new session: sent again */
    ft_hello(&fix, fix.ep);
    msg = ft_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    ft_credit(&fix, 100);
    /* the requeued tasks (7) in one batch: both definitions in one message */
    msg = ft_expect(&fix, FX_MSG_CONTAINERS);
    CHECK(msg && msg->containers.count == 2);
    CHECK(msg && msg->containers.count == 2 && strcmp(msg->containers.containers[0].container_id, c1) == 0 &&
          strcmp(msg->containers.containers[0].image, "python:3.12") == 0 &&
          strcmp(msg->containers.containers[1].container_id, c2) == 0);
    fx_msg_destroy(&msg);
    s_expect_tasks(&fix, 7, c1);
    /* ENDPOINT_STATUS's records per container are kept for ENDPOINT_INFO */
    msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    fx_msg_alloc_records(msg, 2);
    msg->endpoint_status.containers[0].idle = 3;
    memcpy(msg->endpoint_status.containers[1].container_id, c2, sizeof c2);
    msg->endpoint_status.containers[1].busy = 2;
    ft_send(&fix, msg, fix.user_id);
    fx_endpoint_container_t got[FX_CONTAINERS_MAX];
    CHECK(fx_fwd_set_containers(fix.set, fix.ep, got, FX_CONTAINERS_MAX) == 2);
    CHECK(got[0].container_id[0] == '\0' && got[0].idle == 3 && strcmp(got[1].container_id, c2) == 0 &&
          got[1].busy == 2);
    CHECK(fx_fwd_set_containers(fix.set, fix.other_ep, got, FX_CONTAINERS_MAX) == -1);
    ft_teardown(&fix);
}

static const fx_scenario_t s_scenarios[] = {
    {"session_rules", test_session_rules, false},
    {"credit_window", test_credit_window, false},
    {"status_and_cancel", test_status_and_cancel, false},
    {"never_exceed", test_never_exceed, false},
    {"zap", test_zap, false},
    {"containers", test_containers, false},
};

int main(int argc, char **argv)
{
    return fx_test_main("fx_forwarder_test", argc - 1, argv + 1, s_scenarios,
                        sizeof s_scenarios / sizeof s_scenarios[0], NULL);
}
