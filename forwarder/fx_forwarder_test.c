/*  fx_forwarder_test.c: the endpoint links over an inproc ROUTER/DEALER
    pair, with a real store in a temporary directory. The test plays the
    broker loop (receive, hand to the set, dispatch) and the interchange
    (DEALER). User-Ids are passed in directly: ZAP is fx_broker_test's job.
    Checks the never-exceed invariant of CREDIT under a random workload,
    ENDPOINT_STATUS, CANCEL out and --heartbeat-missed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_forwarder.h"


#include "fx_check.h"

typedef struct {
    char dir[256];
    fx_store_t *store;
    zsock_t *router;
    zsock_t *dealer;
    fx_fwd_set_t *set;
    fx_id_text_t user, client, fn, ep, other_ep;
    char user_id[64]; /* what ZAP would say: "endpoint:<ep>" */
    uint32_t seq;
} s_fix_t;

static void s_setup(s_fix_t *fix, int tasks)
{
    memset(fix, 0, sizeof *fix);
    snprintf(fix->dir, sizeof fix->dir, "/tmp/fx_forwarder_test.XXXXXX");
    if (!mkdtemp(fix->dir))
        exit(1);
    char err[512];
    fx_keypair_t kp;
    fix->store = fx_store_open(fix->dir, err, sizeof err);
    if (!fix->store) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    fx_keypair_new(&kp);
    CHECK(fx_store_user_create(fix->store, "u", kp.public_key, fix->user, err, sizeof err) == 0);
    fx_id_new(fix->client);
    fx_id_new(fix->fn);
    fx_id_new(fix->ep);
    fx_id_new(fix->other_ep);
    CHECK(fx_store_function_register(fix->store, fix->user, fix->fn, "f", FX_FN_SHELL, "", "true", 4, err,
                                     sizeof err) == 0);
    fx_keypair_new(&kp);
    CHECK(fx_store_endpoint_register(fix->store, fix->user, fix->ep, "e", kp.public_key, err, sizeof err) ==
          0);
    fx_keypair_new(&kp);
    CHECK(fx_store_endpoint_register(fix->store, fix->user, fix->other_ep, "o", kp.public_key, err,
                                     sizeof err) == 0);
    fx_task_t *batch = calloc((size_t) tasks, sizeof *batch);
    for (int i = 0; i < tasks; i++) {
        fx_id_new(batch[i].task_id);
        memcpy(batch[i].endpoint_id, fix->ep, sizeof fix->ep);
        memcpy(batch[i].function_id, fix->fn, sizeof fix->fn);
        batch[i].payload = zframe_new("args", 4);
    }
    CHECK(fx_store_submit(fix->store, fix->user, fix->client, batch, (uint32_t) tasks, NULL, err,
                          sizeof err) == 0);
    for (int i = 0; i < tasks; i++)
        zframe_destroy(&batch[i].payload);
    free(batch);
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://fwd-test-%p", (void *) fix);
    fix->router = zsock_new_router(addr);
    fix->dealer = zsock_new_dealer(addr);
    zsock_set_rcvtimeo(fix->dealer, 2000);
    fix->set = fx_fwd_set_new(fix->router, fix->store, 1000, 3);
    snprintf(fix->user_id, sizeof fix->user_id, "endpoint:%s", fix->ep);
}

static void s_teardown(s_fix_t *fix)
{
    fx_fwd_set_destroy(&fix->set);
    CHECK(fix->set == NULL);
    zsock_destroy(&fix->dealer);
    zsock_destroy(&fix->router);
    fx_store_destroy(&fix->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fix->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fix->dir);
}

/* The interchange sends; the "broker loop" hands it to the set and runs a
   dispatch pass. */
static void s_deliver(s_fix_t *fix, zmsg_t *zmsg, const char *user_id)
{
    zmsg_send(&zmsg, fix->dealer);
    zmsg_t *in = zmsg_recv(fix->router);
    if (!in) {
        CHECK(!"router received nothing");
        return;
    }
    zframe_t *routing = zmsg_pop(in);
    fx_fwd_set_handle(fix->set, routing, user_id, &in);
    CHECK(in == NULL);
    zframe_destroy(&routing);
    while (fx_fwd_set_dispatch(fix->set))
        ;
}

static void s_send(s_fix_t *fix, fx_msg_t *msg, const char *user_id)
{
    msg->seq = ++fix->seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    CHECK(zmsg != NULL);
    if (zmsg)
        s_deliver(fix, zmsg, user_id);
}

/* Next message at the interchange, or NULL after timeout_ms. */
static fx_msg_t *s_recv(s_fix_t *fix, int timeout_ms)
{
    zsock_set_rcvtimeo(fix->dealer, timeout_ms);
    zmsg_t *zmsg = zmsg_recv(fix->dealer);
    if (!zmsg)
        return NULL;
    fx_msg_t *msg = NULL;
    CHECK(fx_msg_decode(zmsg, &msg, NULL, NULL) == FX_OK);
    zmsg_destroy(&zmsg);
    return msg;
}

/* Skips heartbeats; expects the given type. */
static fx_msg_t *s_expect(s_fix_t *fix, int type)
{
    fx_msg_t *msg;
    while ((msg = s_recv(fix, 2000)) && msg->type == FX_MSG_HEARTBEAT)
        fx_msg_destroy(&msg);
    CHECK(msg && (int) msg->type == type);
    if (msg && (int) msg->type != type)
        fprintf(stderr, "  got %s (%s)\n", fx_msg_type_name(msg->type),
                msg->type == FX_MSG_ERROR && msg->error.text ? msg->error.text : "");
    return msg;
}

static void s_expect_error(s_fix_t *fix, int code)
{
    fx_msg_t *msg = s_expect(fix, FX_MSG_ERROR);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == code && msg->seq == fix->seq);
    if (msg && msg->type == FX_MSG_ERROR && msg->error.code != code)
        fprintf(stderr, "  got %s: %s\n", fx_errname(msg->error.code), msg->error.text);
    fx_msg_destroy(&msg);
}

static void s_hello(s_fix_t *fix, const char *endpoint_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    snprintf(msg->endpoint_hello.endpoint_id, sizeof msg->endpoint_hello.endpoint_id, "%s", endpoint_id);
    snprintf(msg->endpoint_hello.version, sizeof msg->endpoint_hello.version, "test");
    s_send(fix, msg, fix->user_id);
}

static void s_credit(s_fix_t *fix, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    s_send(fix, msg, fix->user_id);
}

/* RESULTS for the first n ids of ids. */
static void s_results(s_fix_t *fix, fx_id_text_t *ids, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++)
        memcpy(msg->results.results[i].task_id, ids[i], sizeof(fx_id_text_t));
    uint32_t seq = fix->seq + 1;
    s_send(fix, msg, fix->user_id);
    if (n == 0)
        return;
    fx_msg_t *ack = s_expect(fix, FX_MSG_RESULTS_ACK);
    CHECK(ack && ack->type == FX_MSG_RESULTS_ACK && ack->ids.count == n && ack->seq == seq);
    fx_msg_destroy(&ack);
}

static uint32_t s_in_flight(s_fix_t *fix)
{
    fx_forwarder_stats_t stats;
    if (fx_fwd_set_stats(fix->set, fix->ep, &stats) != 0)
        return UINT32_MAX;
    return stats.in_flight;
}

/* ---------------------------------------------------------------- tests */

static void test_session_rules(void)
{
    s_fix_t fix;
    s_setup(&fix, 2);
    /* Before hello: no session. */
    s_credit(&fix, 5);
    s_expect_error(&fix, FX_E_NO_SESSION);
    /* Hello as another endpoint: forbidden; without a User-Id: auth. */
    s_hello(&fix, fix.other_ep);
    s_expect_error(&fix, FX_E_FORBIDDEN);
    CHECK(!fx_fwd_set_online(fix.set, fix.other_ep));
    fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
    s_send(&fix, msg, NULL);
    s_expect_error(&fix, FX_E_AUTH);
    msg = fx_msg_new(FX_MSG_HEARTBEAT);
    s_send(&fix, msg, "user:00000000-0000-4000-8000-000000000000");
    s_expect_error(&fix, FX_E_AUTH);
    /* Hello. */
    s_hello(&fix, fix.ep);
    msg = s_expect(&fix, FX_MSG_WELCOME);
    CHECK(msg && strcmp(msg->welcome.id, fix.ep) == 0 && msg->welcome.heartbeat_ms == 1000);
    fx_msg_destroy(&msg);
    CHECK(fx_fwd_set_online(fix.set, fix.ep));
    /* Messages that are not for this link. */
    msg = fx_msg_new(FX_MSG_SUBMIT);
    s_send(&fix, msg, fix.user_id);
    s_expect_error(&fix, FX_E_UNEXPECTED);
    msg = fx_msg_new(FX_MSG_RESULTS_ACK);
    s_send(&fix, msg, fix.user_id);
    s_expect_error(&fix, FX_E_UNEXPECTED);
    /* Garbage. */
    zmsg_t *junk = zmsg_new();
    zmsg_addmem(junk, "", 0);
    fix.seq = 0; /* no seq can be read from garbage: errors carry 0 */
    s_deliver(&fix, junk, fix.user_id);
    s_expect_error(&fix, FX_E_MALFORMED);
    junk = zmsg_new();
    zmsg_addstr(junk, "\x94\x01\x13");
    s_deliver(&fix, junk, fix.user_id);
    s_expect_error(&fix, FX_E_MALFORMED);
    /* An ERROR from the endpoint is logged, never answered. */
    msg = fx_msg_new(FX_MSG_ERROR);
    fx_msg_set_error(msg, FX_E_INTERNAL, "test error from the endpoint");
    s_send(&fix, msg, fix.user_id);
    /* Heartbeat answered. */
    msg = fx_msg_new(FX_MSG_HEARTBEAT);
    s_send(&fix, msg, fix.user_id);
    msg = s_recv(&fix, 2000);
    CHECK(msg && msg->type == FX_MSG_HEARTBEAT);
    fx_msg_destroy(&msg);
    /* Still serving: a credit brings the tasks. */
    s_credit(&fix, 5);
    msg = s_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 2);
    fx_msg_destroy(&msg);
    s_teardown(&fix);
}

static void test_credit_window(void)
{
    s_fix_t fix;
    s_setup(&fix, 7);
    fx_id_text_t ids[16];
    uint32_t held = 0;
    s_hello(&fix, fix.ep);
    fx_msg_t *msg = s_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    /* Window 0 at first: nothing moves. */
    CHECK(s_recv(&fix, 100) == NULL);
    s_credit(&fix, 3);
    msg = s_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 3);
    for (uint32_t i = 0; msg && i < msg->tasks.count; i++) {
        memcpy(ids[held++], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
        CHECK(zframe_streq(msg->tasks.tasks[i].body, "true"));
        CHECK(msg->tasks.tasks[i].endpoint_id[0] == '\0');
    }
    fx_msg_destroy(&msg);
    CHECK(s_in_flight(&fix) == 3);
    /* The same credit again adds nothing: it is absolute. */
    s_credit(&fix, 3);
    CHECK(s_recv(&fix, 100) == NULL);
    /* One result frees one slot. */
    s_results(&fix, ids, 1);
    msg = s_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 1);
    if (msg && msg->tasks.count == 1)
        memcpy(ids[held++], msg->tasks.tasks[0].task_id, sizeof(fx_id_text_t));
    fx_msg_destroy(&msg);
    /* A duplicate result changes nothing. */
    s_results(&fix, ids, 1);
    CHECK(s_recv(&fix, 100) == NULL);
    CHECK(s_in_flight(&fix) == 3);
    /* Lowering the window below in flight pauses until enough results come. */
    s_credit(&fix, 1);
    s_results(&fix, ids + 1, 2); /* in flight 3 -> 1: still not below 1 */
    CHECK(s_recv(&fix, 100) == NULL);
    s_results(&fix, ids + 3, 1); /* 0 in flight: one more */
    msg = s_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 1);
    fx_msg_destroy(&msg);
    /* Hello again: the dispatched task is requeued and sent again, attempt 1. */
    s_hello(&fix, fix.ep);
    msg = s_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    CHECK(s_in_flight(&fix) == 0);
    s_credit(&fix, 10);
    msg = s_expect(&fix, FX_MSG_TASKS);
    CHECK(msg && msg->tasks.count == 3 && msg->tasks.tasks[0].attempt == 1);
    fx_msg_destroy(&msg);
    /* Silence: lost after 3 beats, its tasks requeued, offline. */
    fx_fwd_set_tick(fix.set, fx_now_ms() + 3500);
    CHECK(!fx_fwd_set_online(fix.set, fix.ep));
    uint32_t queued = 0;
    CHECK(fx_store_queued_count(fix.store, fix.ep, &queued) == FX_OK && queued == 3);
    s_credit(&fix, 1);
    s_expect_error(&fix, FX_E_NO_SESSION);
    fx_forwarder_stats_t stats;
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0);
    CHECK(stats.max_in_flight == 3 && stats.over_credit == 0);
    s_teardown(&fix);
}

/* ENDPOINT_STATUS is kept per link (and forgotten with it); CANCEL goes
   out to a connected endpoint only; loss follows the set's `missed`. */
static void test_status_and_cancel(void)
{
    s_fix_t fix;
    s_setup(&fix, 1);
    fx_fwd_set_destroy(&fix.set);
    fix.set = fx_fwd_set_new(fix.router, fix.store, 1000, 5); /* 5 missed beats */
    fx_store_live_t live = {0};
    fx_fwd_set_live(fix.ep, fix.set, &live);
    CHECK(!live.online && live.managers == 0);
    fx_id_text_t ids[1];
    fx_id_new(ids[0]);
    CHECK(fx_fwd_set_cancel(fix.set, fix.ep, ids, 1) == -1); /* not connected */
    s_hello(&fix, fix.ep);
    fx_msg_t *msg = s_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    msg->endpoint_status.managers = 3;
    msg->endpoint_status.workers = 12;
    msg->endpoint_status.free = 4;
    s_send(&fix, msg, fix.user_id);
    fx_fwd_set_live(fix.ep, fix.set, &live);
    CHECK(live.online && live.managers == 3 && live.workers == 12);
    fx_forwarder_stats_t stats;
    CHECK(fx_fwd_set_stats(fix.set, fix.ep, &stats) == 0 && stats.free == 4);
    CHECK(fx_fwd_set_cancel(fix.set, fix.ep, ids, 1) == 0);
    msg = s_expect(&fix, FX_MSG_CANCEL);
    CHECK(msg && msg->cancel.count == 1 && msg->cancel.queued_only == 0 && msg->seq == 0);
    if (msg && msg->cancel.count == 1)
        CHECK(strcmp(msg->cancel.ids[0], ids[0]) == 0);
    fx_msg_destroy(&msg);
    /* Silent for 4 beats: still there with missed = 5; for 6: lost. */
    fx_fwd_set_tick(fix.set, fx_now_ms() + 4500);
    CHECK(fx_fwd_set_online(fix.set, fix.ep));
    fx_fwd_set_tick(fix.set, fx_now_ms() + 6500);
    CHECK(!fx_fwd_set_online(fix.set, fix.ep));
    memset(&live, 0, sizeof live);
    fx_fwd_set_live(fix.ep, fix.set, &live);
    CHECK(!live.online && live.managers == 0 && live.workers == 0);
    s_teardown(&fix);
}

/* Random credits and results: the window is never exceeded. */
static void test_never_exceed(void)
{
    enum { TASKS = 300 };
    s_fix_t fix;
    s_setup(&fix, TASKS);
    srand(42);
    fx_id_text_t *held = calloc(TASKS, sizeof *held);
    uint32_t nheld = 0, done = 0, window = 0, max_window = 0;
    int failures_before = fx_check_failures;
    s_hello(&fix, fix.ep);
    fx_msg_t *msg = s_expect(&fix, FX_MSG_WELCOME);
    fx_msg_destroy(&msg);
    for (int round = 0; round < 2000 && done < TASKS; round++) {
        if (rand() % 3 == 0) {
            window = (uint32_t) (rand() % 9);
            max_window = window > max_window ? window : max_window;
            s_credit(&fix, window);
        }
        else if (nheld > 0) {
            uint32_t n = 1 + (uint32_t) rand() % nheld;
            s_results(&fix, held, n);
            memmove(held, held + n, (nheld - n) * sizeof *held);
            nheld -= n;
            done += n;
        }
        while ((msg = s_recv(&fix, 0))) {
            if (msg->type == FX_MSG_TASKS)
                for (uint32_t i = 0; i < msg->tasks.count; i++)
                    memcpy(held[nheld++], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
            fx_msg_destroy(&msg);
        }
        /* What the interchange holds never exceeds the window at send time,
           so never the largest window announced. */
        CHECK(nheld <= max_window);
        CHECK(s_in_flight(&fix) == nheld);
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
    s_teardown(&fix);
}

int main(void)
{
    test_session_rules();
    test_credit_window();
    test_status_and_cancel();
    test_never_exceed();
    if (fx_check_failures) {
        fprintf(stderr, "fx_forwarder_test: %d checks failed\n", fx_check_failures);
        return 1;
    }
    printf("fx_forwarder_test: all checks passed\n");
    return 0;
}
