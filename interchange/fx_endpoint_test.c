/*  fx_endpoint_test.c: the real fx-endpoint against a broker played by the
    test (fx_endpoint_harness.h).

    fake       --managers 0; the test also plays the managers:
        registration order, ENDPOINT_HELLO, CREDIT = sum of windows, TASKS
        in / RESULTS out, garbage and bad fields from an admitted manager key
        get ERROR and the endpoint keeps serving, a wrong key is refused, a
        silent manager is lost and its task redispatched, broker restart
        (ERROR NO_SESSION) -> hello again, CREDIT, unacked results resent,
        SIGTERM -> COMMAND(DRAIN), then STOP, exit 0, the stats file.
    requeue    a task whose manager is lost again and again is dispatched
        again each time (no dispatch limit), its retries unchanged.
    refused    the broker refuses REGISTER_ENDPOINT: exit 1 and the broker's
        text on stderr.
    real       (when fx-manager and fx-worker are built) two real managers
        with one worker each run four Python tasks; SIGTERM leaves no
        process behind. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "fx_endpoint_harness.h"

/* ------------------------------------------------------------ scenarios */

static void scenario_fake_managers(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_fake_managers\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    CHECK(!b.register_before_hello, "HELLO came before REGISTER_ENDPOINT");
    CHECK(strcmp(b.ready_id, b.ep_id) == 0, "ready line names the registered id (%s vs %s)", b.ready_id,
          b.ep_id);
    char want_uid[64];
    snprintf(want_uid, sizeof want_uid, "endpoint:%s", b.ep_id);
    CHECK(strcmp(b.ep_user_id, want_uid) == 0, "the endpoint link authenticated as %s (got %s)", want_uid,
          b.ep_user_id);
    CHECK(b.window == 0, "no managers: window 0 (got %u)", b.window);

    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 2);
    CHECK(WAIT_UNTIL(&b, b.window == 2), "CREDIT follows the manager's window: 2 (got %u)", b.window);

    /* two tasks in, both dispatched to A within its window */
    fx_id_text_t ids[5];
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(2, ids, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    int at_a = 0;
    fx_msg_t *t = NULL;
    while (at_a < 2 && (t = ept_expect(&b, a->inbox, FX_MSG_TASKS)) != NULL) {
        for (uint32_t i = 0; i < t->tasks.count; i++)
            CHECK(zframe_size(t->tasks.tasks[i].payload) == EPT_SHELL_PAYLOAD_LEN &&
                      t->tasks.tasks[i].attempt == 0,
                  "payload passed through untouched, first attempt");
        at_a += (int) t->tasks.count;
        fx_msg_destroy(&t);
    }
    CHECK(at_a == 2, "manager A got both tasks (%d)", at_a);

    /* A answers the first: the broker gets RESULTS (A gets no reply) */
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    ept_fill_result(res, 0, ids[0], "v0");
    ept_send(a->sock, NULL, res, &a->seq);
    fx_msg_t *r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]) && zframe_streq(r->results.results[0].value, "v0"),
          "the broker got task 0's result");
    CHECK(r && r->seq != 0, "RESULTS to the broker is a request: nonzero seq");
    fx_msg_destroy(&r);

    /* garbage and bad fields from an admitted manager key: ERROR, go on */
    ept_fake_t *bad = ept_fake_new(&b, &mkp);
    zmsg_t *raw = zmsg_new();
    zmsg_addstr(raw, "\xc1 this is not msgpack");
    ept_expect_error(&b, bad, raw, FX_E_MALFORMED, "garbage header");
    ept_expect_error(&b, bad, ept_raw(FX_PROTO_VERSION, FX_MSG_MANAGER_HELLO, ept_body_bad_hello),
                     FX_E_BAD_FIELD, "MANAGER_HELLO with a bad manager_id");
    ept_expect_error(&b, bad, ept_raw(99, FX_MSG_CREDIT, ept_body_credit), FX_E_VERSION,
                     "protocol version 99");
    ept_expect_error(&b, bad, ept_raw(FX_PROTO_VERSION, FX_MSG_CREDIT, ept_body_credit), FX_E_NO_SESSION,
                     "CREDIT before MANAGER_HELLO");
    ept_expect_error(&b, bad, ept_raw(FX_PROTO_VERSION, 200, ept_body_credit), 0, "unknown type 200");
    zmsg_t *empty = zmsg_new();
    zmsg_addmem(empty, "", 0);
    ept_expect_error(&b, bad, empty, 0, "empty header frame");
    /* every message type, with a body of the wrong shape */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        char what[64];
        snprintf(what, sizeof what, "%s with a malformed body", fx_msg_type_name(type));
        ept_expect_error(&b, bad, ept_raw(FX_PROTO_VERSION, (uint32_t) type, ept_body_seven_nils),
                         FX_E_BAD_FIELD, what);
    }

    /* a key the endpoint does not know gets nowhere */
    fx_keypair_t stranger_kp;
    fx_keypair_new(&stranger_kp);
    ept_fake_t *stranger = ept_fake_new(&b, &stranger_kp);
    ept_send(stranger->sock, NULL, fx_msg_new(FX_MSG_HEARTBEAT), &stranger->seq);

    /* the endpoint still serves: a second manager B joins */
    ept_fake_t *mb = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, mb, 3);
    CHECK(WAIT_UNTIL(&b, b.window == 5), "CREDIT is the sum of windows: 5 (got %u)", b.window);
    CHECK(zlistx_size(stranger->inbox) == 0, "the stranger got no answer");

    /* A falls silent: lost after --heartbeat-missed (3) beats; task 1 goes to B as attempt 1 */
    a->beating = false;
    t = ept_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[1]) == 0 &&
              t->tasks.tasks[0].attempt == 1,
          "the lost manager's task was redispatched to B as attempt 1");
    fx_msg_destroy(&t);
    CHECK(WAIT_UNTIL(&b, b.window == 3), "CREDIT dropped to B's window: 3 (got %u)", b.window);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    ept_fill_result(res, 0, ids[1], "v1");
    ept_send(mb->sock, NULL, res, &mb->seq);
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[1]), "the broker got task 1's result");
    fx_msg_destroy(&r);

    /* task 3 is running at B when the broker "restarts" */
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(1, &ids[3], FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    t = ept_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[3]) == 0, "task 3 reached B");
    fx_msg_destroy(&t);

    /* the broker "restarts": NO_SESSION -> hello again, CREDIT less the task
       still held from the old session, resend unacknowledged results */
    int credits = b.credits;
    fx_send_error(b.endpoint, b.ep_routing, 0, FX_E_NO_SESSION, "no session (test)");
    CHECK(WAIT_UNTIL(&b, b.ep_hellos == 2 && b.credits > credits && b.window == 2),
          "ENDPOINT_HELLO again (%d) then CREDIT 3 - 1 old task = 2 (got %u)", b.ep_hellos, b.window);
    bool got0 = false, got1 = false;
    WAIT_UNTIL(&b, (r = ept_take(b.ep_inbox, FX_MSG_RESULTS)) != NULL &&
                       ((got0 |= ept_has_result(r, ids[0])), (got1 |= ept_has_result(r, ids[1])),
                        fx_msg_destroy(&r), got0 && got1));
    CHECK(got0 && got1, "both unacknowledged results were resent (%d %d)", got0, got1);
    ept_ack(&b, ids, 2);

    /* the new broker session sends task 3 again: tied to the running copy */
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(1, &ids[4], FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    fx_id_text_t scratch;
    fx_msg_t *again =
        ept_tasks(1, &scratch, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN);
    memcpy(again->tasks.tasks[0].task_id, ids[3], sizeof ids[3]);
    ept_send(b.endpoint, b.ep_routing, again, &b.seq);
    t = ept_expect(&b, mb->inbox, FX_MSG_TASKS); /* task 4 only */
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[4]) == 0, "task 4 reached B");
    fx_msg_destroy(&t);
    CHECK(WAIT_UNTIL(&b, b.window == 3), "task 3 counts in the new session: CREDIT 3 (got %u)", b.window);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 2);
    ept_fill_result(res, 0, ids[3], "v3");
    ept_fill_result(res, 1, ids[4], "v4");
    ept_send(mb->sock, NULL, res, &mb->seq);
    got0 = got1 = false;
    WAIT_UNTIL(&b, (r = ept_take(b.ep_inbox, FX_MSG_RESULTS)) != NULL &&
                       ((got0 |= ept_has_result(r, ids[3])), (got1 |= ept_has_result(r, ids[4])),
                        fx_msg_destroy(&r), got0 && got1));
    CHECK(got0 && got1, "results of tasks 3 and 4 (%d %d)", got0, got1);
    ept_ack(&b, &ids[3], 2);
    CHECK(ept_take(mb->inbox, FX_MSG_TASKS) == NULL, "task 3 was not dispatched a second time");

    /* one more task through B after the restart */
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(1, &ids[2], FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    t = ept_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1, "task 2 reached B");
    fx_msg_destroy(&t);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    ept_fill_result(res, 0, ids[2], "v2");
    ept_send(mb->sock, NULL, res, &mb->seq);
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[2]), "the broker got task 2's result");
    fx_msg_destroy(&r);
    ept_ack(&b, &ids[2], 1);

    /* A was lost before the broker acked task 0 (it was acked above, and
       task 2's result came after that ack on the same connection): A got
       no RESULTS_ACK. A has no session, so its barrier is answered
       FX_E_NO_SESSION. */
    CHECK(ept_barrier(&b, a), "barrier on the lost manager's connection");
    fx_msg_t *early = ept_take(a->inbox, FX_MSG_RESULTS_ACK);
    CHECK(early == NULL, "no RESULTS_ACK to the lost manager A");
    fx_msg_destroy(&early);

    /* SIGTERM with nothing running: DRAIN, then STOP to the managers, exit
       0, stats on disk */
    int rc = ept_endpoint_stop(&b);
    CHECK(rc == 0, "fx-endpoint exits 0 on SIGTERM (got %d)", rc);
    fx_msg_t *cmd = ept_take(mb->inbox, FX_MSG_COMMAND);
    if (!cmd)
        cmd = ept_expect(&b, mb->inbox, FX_MSG_COMMAND);
    CHECK(cmd && cmd->command.command == FX_CMD_DRAIN && cmd->seq == 0,
          "manager B got COMMAND(DRAIN), seq 0");
    fx_msg_destroy(&cmd);
    cmd = ept_take(mb->inbox, FX_MSG_COMMAND);
    if (!cmd)
        cmd = ept_expect(&b, mb->inbox, FX_MSG_COMMAND);
    CHECK(cmd && cmd->command.command == FX_CMD_STOP && cmd->seq == 0, "then COMMAND(STOP), seq 0");
    fx_msg_destroy(&cmd);
    /* RESULTS_ACK on the manager link, end to end: B sent the results of
       tasks 1, 3, 4 and 2 and the broker acked each: B got exactly those
       ids, all before COMMAND STOP, the last message on its connection. */
    int acked[5] = {0}, acks_other = 0;
    for (fx_msg_t *ack; (ack = ept_take(mb->inbox, FX_MSG_RESULTS_ACK)) != NULL; fx_msg_destroy(&ack))
        for (uint32_t i = 0; i < ack->ids.count; i++) {
            int k = 0;
            while (k < 5 && strcmp(ack->ids.ids[i], ids[k]) != 0)
                k++;
            if (k < 5)
                acked[k]++;
            else
                acks_other++;
        }
    CHECK(acked[0] == 0 && acked[1] == 1 && acked[2] == 1 && acked[3] == 1 && acked[4] == 1 &&
              acks_other == 0,
          "B got RESULTS_ACK for tasks 1 2 3 4 once each, none for A's task 0 (%d %d %d %d %d, other %d)",
          acked[0], acked[1], acked[2], acked[3], acked[4], acks_other);
    long rx = ept_stat(&b, "tasks_received"), sent = ept_stat(&b, "results_sent"),
         held = ept_stat(&b, "max_held"), win = ept_stat(&b, "window_at_max_held"),
         lost = ept_stat(&b, "managers_lost"), bad_n = ept_stat(&b, "bad_messages"),
         dups = ept_stat(&b, "tasks_duplicate");
    CHECK(rx == 5, "tasks_received=5 (%ld)", rx);
    CHECK(sent == 5, "results_sent=5 (%ld)", sent);
    CHECK(dups == 1, "tasks_duplicate=1 (%ld)", dups);
    CHECK(held >= 1 && held <= win, "max_held %ld <= window at that time %ld", held, win);
    CHECK(lost == 1, "managers_lost=1 (%ld)", lost);
    CHECK(bad_n >= 5, "bad_messages counted (%ld)", bad_n);
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_refused(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_refused\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    b.refuse_register = true;
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    CHECK(WAIT_UNTIL(&b, b.exit_status != -1), "fx-endpoint gives up");
    CHECK(b.exit_status == 1, "exit 1 when the broker refuses REGISTER_ENDPOINT (got %d)", b.exit_status);
    char path[PATH_MAX + 16], text[4096] = "";
    snprintf(path, sizeof path, "%s/ep.stderr", b.root);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(getenv("FX_TEST_VERBOSE") ||
              (strstr(text, "endpoint id held by another user (test)") && strstr(text, "--dir")),
          "stderr has the broker's text and what to do: %s", text);
    CHECK(!b.ready_id[0], "no ready line");
    ept_broker_stop(&b, fx_check_failures > 0);
}

/* A task whose manager is lost again and again is dispatched again each
   time: a lost manager is not the task's fault (only worker deaths count,
   at the manager, against task.retries, which passes through unchanged). */
static void scenario_requeue(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_requeue\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    fx_id_text_t id;
    fx_msg_t *tasks =
        ept_tasks(1, &id, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN);
    tasks->tasks.tasks[0].retries = 7;
    ept_send(b.endpoint, b.ep_routing, tasks, &b.seq);
    for (uint32_t attempt = 0; attempt < MAX_FAKES; attempt++) {
        ept_fake_t *m = ept_fake_new(&b, &mkp);
        ept_fake_hello(&b, m, 1);
        fx_msg_t *t = ept_expect(&b, m->inbox, FX_MSG_TASKS);
        CHECK(t && t->tasks.count == 1 && t->tasks.tasks[0].attempt == attempt &&
                  t->tasks.tasks[0].retries == 7,
              "dispatch %u of the task: attempt %u, retries 7 (got %u, %u)", attempt + 1, attempt,
              t ? t->tasks.tasks[0].attempt : 0, t ? t->tasks.tasks[0].retries : 0);
        fx_msg_destroy(&t);
        m->beating = false; /* and is lost */
    }
    /* the last one was lost too: no error result, the task waits queued */
    CHECK(WAIT_UNTIL(&b, b.window == 0), "every manager lost: window 0 (got %u)", b.window);
    CHECK(ept_take(b.ep_inbox, FX_MSG_RESULTS) == NULL, "no result: the task is still queued");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_real_managers(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_real_managers\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "2", "--workers", "1", "--prefetch", "1", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    CHECK(WAIT_UNTIL(&b, b.window == 4), "two managers of 1 worker + 1 prefetch: window 4 (got %u)",
          b.window);
    static const char body[] = "def double(x):\n    return 2 * x\n";
    fx_id_text_t ids[4];
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(4, ids, FX_FN_PYTHON, body, "double", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    int ok = 0;
    int got = ept_collect_results(&b, ids, 4, &ok);
    CHECK(got == 4 && ok == 4, "four results, all OK (got %d, ok %d)", got, ok);
    ept_ack(&b, ids, 4);
    int rc = ept_endpoint_stop(&b);
    CHECK(rc == 0, "fx-endpoint exits 0 on SIGTERM (got %d)", rc);
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    CHECK(WAIT_UNTIL(&b, !ept_process_with(key)), "no fx-manager left running");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_handler_set(NULL); /* the test reaps its children; no czmq signal handling */
    static const fx_scenario_t scenarios[] = {
        {"fake", scenario_fake_managers, false},
        {"refused", scenario_refused, false},
        {"requeue", scenario_requeue, false},
        {"real", scenario_real_managers, true}, /* needs fx-manager and fx-worker */
    };
    return fx_test_main("fx_endpoint_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
