/*  fx_endpoint_recovery_test.c: nothing lost, nothing hung when something
    goes wrong or the endpoint is told to stop: the real fx-endpoint against a broker played by the test
    (fx_endpoint_harness.h).

    status     ENDPOINT_STATUS(managers, workers, free) when they change and
        with every heartbeat; a second fx-endpoint on the same --dir refuses
        to start.
    cancel     CANCEL from the broker: a queued task ends in an
        FX_E_CANCELLED result (unacked until RESULTS_ACK: resent after a
        re-hello), a task at a manager is cancelled there, unknown ids are
        ignored, a CANCEL with queued_only 1 changes nothing.
    missed     --heartbeat-missed: a silent manager is not lost before that
        many periods, then is; its task goes to the front of the queue.
    sigterm    SIGTERM while a task runs at a manager: CREDIT 0, COMMAND
        DRAIN, the result reaches the broker, the endpoint waits for the ack,
        exits 0, then COMMAND STOP; queued tasks are not dispatched.
    drain      the same after COMMAND DRAIN from the broker.
    zap_renew  the broker's ZAP refuses the first handshake: the endpoint
        says hello again on a new socket and is welcomed.
    adopt      (real fx-manager) kill -9 the endpoint, start it again: the
        same two manager pids come back, none is launched, tasks run.
    sigterm_real (real fx-manager) SIGTERM while a short Python task runs:
        its result reaches the broker, exit 0, no manager left.
    results_ack  end-to-end acks on the manager link: a manager's result
        reaches the broker; the manager gets no RESULTS_ACK for it while
        the broker has not acked (checked after a barrier on its
        connection), then exactly that id once the broker acks; another
        manager gets none.
    adopted_result  a manager sends a result for a task this endpoint never
        held (an adopted manager resending after an endpoint restart): it is
        forwarded to the broker, and acked back to that manager only after
        the broker's RESULTS_ACK; a second copy sent while the first is
        unacked is acked too, once. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "fx_endpoint_harness.h"

/* A task sent by the broker; its id in *id. */
static void s_send_task(ept_broker_t *b, fx_id_text_t *id)
{
    ept_send(b->endpoint, b->ep_routing,
             ept_tasks(1, id, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b->seq);
}

/* Wait for a TASKS at f carrying exactly task id. */
static bool s_got_task(ept_broker_t *b, ept_fake_t *f, const char *id)
{
    fx_msg_t *t = ept_expect(b, f->inbox, FX_MSG_TASKS);
    bool ok = t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, id) == 0;
    fx_msg_destroy(&t);
    return ok;
}

/* A second fx-endpoint on the same --dir refuses to start: exit 1, and
   stderr says why. */
static void s_second_instance(ept_broker_t *b)
{
    char bindir[PATH_MAX], exe[PATH_MAX + 16], creds[PATH_MAX + 16], dir[PATH_MAX + 16], log[PATH_MAX + 16];
    fx_self_dir(bindir, sizeof bindir);
    snprintf(exe, sizeof exe, "%s/fx-endpoint", bindir);
    snprintf(creds, sizeof creds, "%s/user.creds", b->root);
    snprintf(dir, sizeof dir, "%s/ep", b->root);
    snprintf(log, sizeof log, "%s/second.stderr", b->root);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *err = freopen(log, "w", stderr);
        (void) err;
        execl(exe, exe, "--creds", creds, "--dir", dir, "--name", "test-ep", "--managers", "0",
              (char *) NULL);
        _exit(127);
    }
    int status = -1;
    CHECK(WAIT_UNTIL(b, waitpid(pid, &status, WNOHANG) == pid), "the second fx-endpoint ends");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "it exits 1 (status %d)", status);
    char text[2048] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    CHECK(strstr(text, "another fx-endpoint runs with --dir"), "and says why: %s", text);
}

static void scenario_status(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_status\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    CHECK(WAIT_UNTIL(&b, b.statuses > 0), "ENDPOINT_STATUS after the WELCOME");
    s_second_instance(&b);
    CHECK(b.st_managers == 0 && b.st_workers == 0 && b.st_free == 0, "nothing yet: 0 0 0 (got %u %u %u)",
          b.st_managers, b.st_workers, b.st_free);
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 3); /* 3 workers, window 3 */
    CHECK(WAIT_UNTIL(&b, b.st_managers == 1 && b.st_workers == 3 && b.st_free == 3),
          "one manager: 1 3 3 (got %u %u %u)", b.st_managers, b.st_workers, b.st_free);
    fx_id_text_t id;
    s_send_task(&b, &id);
    CHECK(s_got_task(&b, a, id), "the task reached the manager");
    CHECK(WAIT_UNTIL(&b, b.st_free == 2), "one slot taken: free 2 (got %u)", b.st_free);
    int before = b.statuses;
    CHECK(WAIT_UNTIL(&b, b.statuses >= before + 3), "ENDPOINT_STATUS with every heartbeat (%d -> %d)", before,
          b.statuses);
    ept_answer(a, id);
    CHECK(WAIT_UNTIL(&b, b.st_free == 3), "its result came: free 3 (got %u)", b.st_free);
    ept_ack(&b, &id, 1); /* else SIGTERM waits for it */
    a->beating = false;
    CHECK(WAIT_UNTIL(&b, b.st_managers == 0 && b.st_workers == 0), "the manager is lost: 0 0 (got %u %u)",
          b.st_managers, b.st_workers);
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_cancel(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_cancel\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 1);
    CHECK(WAIT_UNTIL(&b, b.window == 1), "window 1 (got %u)", b.window);
    fx_id_text_t ids[3];
    s_send_task(&b, &ids[0]);
    CHECK(s_got_task(&b, a, ids[0]), "task 0 runs at the manager");
    s_send_task(&b, &ids[1]); /* no room: stays queued */
    fx_id_new(ids[2]);        /* unknown here */

    /* queued_only 1 (not passed on by a broker): changes nothing here */
    fx_msg_t *cancel = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(cancel, 1);
    memcpy(cancel->cancel.ids[0], ids[0], sizeof ids[0]);
    cancel->cancel.queued_only = 1;
    ept_send(b.endpoint, b.ep_routing, cancel, &b.seq);

    cancel = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(cancel, 3);
    memcpy(cancel->cancel.ids[0], ids[2], sizeof ids[2]);
    memcpy(cancel->cancel.ids[1], ids[1], sizeof ids[1]);
    memcpy(cancel->cancel.ids[2], ids[0], sizeof ids[0]);
    ept_send(b.endpoint, b.ep_routing, cancel, &b.seq);

    fx_msg_t *r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && r->results.count == 1 && strcmp(r->results.results[0].task_id, ids[1]) == 0 &&
              r->results.results[0].status == FX_RESULT_ERROR &&
              r->results.results[0].error_code == FX_E_CANCELLED && r->results.results[0].error_text,
          "the queued task ends in an FX_E_CANCELLED result");
    fx_msg_destroy(&r);
    fx_msg_t *c = ept_expect(&b, a->inbox, FX_MSG_CANCEL);
    CHECK(c && c->cancel.count == 1 && strcmp(c->cancel.ids[0], ids[0]) == 0 && c->seq == 0 &&
              c->cancel.queued_only == 0,
          "the manager got one CANCEL (queued_only 0) of its task only");
    fx_msg_destroy(&c);

    /* not acked yet: after a re-hello the cancel result is sent again */
    fx_send_error(b.endpoint, b.ep_routing, 0, FX_E_NO_SESSION, "no session (test)");
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[1]), "the unacknowledged cancel result is resent");
    fx_msg_destroy(&r);
    ept_ack(&b, &ids[1], 1);

    /* the manager answers for the running one */
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    fx_result_t *rr = ept_fill_result(res, 0, ids[0], "");
    rr->status = FX_RESULT_ERROR;
    rr->error_code = FX_E_CANCELLED;
    fx_result_set_text(rr, "cancelled while running on worker pid 1 (test)");
    ept_send(a->sock, NULL, res, &a->seq);
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]) && r->results.results[0].error_code == FX_E_CANCELLED,
          "the manager's cancel result reaches the broker");
    fx_msg_destroy(&r);
    ept_ack(&b, &ids[0], 1);
    /* a has room again: had the cancelled task stayed queued, it would go
       to a now; the barrier comes after any such TASKS */
    CHECK(ept_barrier(&b, a), "barrier on the manager's connection");
    CHECK(ept_take(a->inbox, FX_MSG_TASKS) == NULL, "the cancelled queued task was not dispatched");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

#define S_MISSED 20 /* x HB_MS = 2 s before a silent manager is lost */

static void scenario_missed(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_missed\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    char missed[16];
    snprintf(missed, sizeof missed, "%d", S_MISSED);
    CHECK(ept_endpoint_start(&b, "0", "--heartbeat-missed", missed, NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp), *m2 = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 1);
    CHECK(WAIT_UNTIL(&b, b.window == 1), "A: window 1");
    fx_id_text_t ids[3];
    s_send_task(&b, &ids[0]);
    CHECK(s_got_task(&b, a, ids[0]), "task 0 at A");
    ept_fake_hello(&b, m2, 1);
    CHECK(WAIT_UNTIL(&b, b.window == 2), "A + B: window 2");
    s_send_task(&b, &ids[1]);
    CHECK(s_got_task(&b, m2, ids[1]), "task 1 at B");
    s_send_task(&b, &ids[2]); /* queued: no room */

    a->beating = false;
    int64_t silent_since = fx_now_ms();
    /* half the threshold, counted by the endpoint itself: it sends one
       ENDPOINT_STATUS per heartbeat period (more only when something
       changes, and losing A would be such a change) */
    int statuses = b.statuses;
    CHECK(WAIT_UNTIL(&b, b.statuses >= statuses + S_MISSED / 2), "%d heartbeat periods of ENDPOINT_STATUS",
          S_MISSED / 2);
    CHECK(b.window == 2 && b.st_managers == 2,
          "A silent for %d periods is not lost yet (window %u, managers %u)", S_MISSED / 2, b.window,
          b.st_managers);
    CHECK(WAIT_UNTIL(&b, b.window == 1), "A silent for %d periods is lost (window %u)", S_MISSED, b.window);
    /* A's last beat went out up to one period before silent_since */
    CHECK(fx_now_ms() - silent_since >= (int64_t) (S_MISSED - 1) * HB_MS, "not before %d ms",
          (S_MISSED - 1) * HB_MS);
    /* B finishes task 1; A's task 0 comes first, before the queued task 2 */
    ept_answer(m2, ids[1]);
    CHECK(s_got_task(&b, m2, ids[0]), "the lost manager's task went to the front of the queue");
    ept_answer(m2, ids[0]);
    CHECK(s_got_task(&b, m2, ids[2]), "then task 2");
    ept_answer(m2, ids[2]);
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 3, &ok) == 3 && ok == 3, "three results");
    ept_ack(&b, ids, 3);
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

/* SIGTERM (by_signal) or COMMAND DRAIN from the broker: the same sequence. */
static void s_leave(bool by_signal)
{
    fprintf(stderr, "scenario_%s\n", by_signal ? "sigterm" : "drain");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 1);
    CHECK(WAIT_UNTIL(&b, b.window == 1), "window 1");
    fx_id_text_t ids[2];
    s_send_task(&b, &ids[0]);
    CHECK(s_got_task(&b, a, ids[0]), "task 0 runs at the manager");
    s_send_task(&b, &ids[1]); /* queued: left to the broker */

    if (by_signal)
        kill(b.pid, SIGTERM);
    else {
        fx_msg_t *drain = fx_msg_new(FX_MSG_COMMAND);
        drain->command.command = FX_CMD_DRAIN;
        ept_send(b.endpoint, b.ep_routing, drain, &b.seq);
    }
    CHECK(WAIT_UNTIL(&b, b.window == 0), "CREDIT 0 to the broker (got %u)", b.window);
    fx_msg_t *cmd = ept_expect(&b, a->inbox, FX_MSG_COMMAND);
    CHECK(cmd && cmd->command.command == FX_CMD_DRAIN, "COMMAND DRAIN to the manager");
    fx_msg_destroy(&cmd);
    CHECK(b.exit_status == -1, "still running while task 0 runs");
    ept_answer(a, ids[0]);
    fx_msg_t *r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]), "the running task's result reaches the broker");
    fx_msg_destroy(&r);
    /* not acked: it waits, and sends it again after a re-hello */
    fx_send_error(b.endpoint, b.ep_routing, 0, FX_E_NO_SESSION, "no session (test)");
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]) && b.exit_status == -1, "unacked: still there, result resent");
    fx_msg_destroy(&r);
    ept_ack(&b, ids, 1);
    CHECK(WAIT_UNTIL(&b, b.exit_status != -1), "acked: the endpoint exits");
    CHECK(b.exit_status == 0, "exit 0 (got %d)", b.exit_status);
    cmd = ept_expect(&b, a->inbox, FX_MSG_COMMAND);
    CHECK(cmd && cmd->command.command == FX_CMD_STOP, "then COMMAND STOP to the manager");
    fx_msg_destroy(&cmd);
    CHECK(ept_take(a->inbox, FX_MSG_TASKS) == NULL, "the queued task was not dispatched while leaving");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_sigterm(void *ctx)
{
    (void) ctx;
    s_leave(true);
}

static void scenario_drain(void *ctx)
{
    (void) ctx;
    s_leave(false);
}

/* The broker's ZAP refuses the endpoint's first handshake (as a broker
   restored from an older store would): libzmq never retries that socket,
   so the endpoint must say hello again on a new one (SPEC 2.3.5). */
static void scenario_zap_renew(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_zap_renew\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    b.deny_endpoint = true;
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    CHECK(WAIT_UNTIL(&b, b.endpoint_denials > 0), "the endpoint's handshake was refused");
    b.deny_endpoint = false;
    CHECK(ept_until_ready(&b), "welcomed after a hello on a new socket");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    ept_broker_stop(&b, fx_check_failures > 0);
}

static const char s_py_double[] = "def double(x):\n    return 2 * x\n";

static void scenario_adopt(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_adopt\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "2", "--adopt-grace-ms", "8000", NULL) == 0, "fx-endpoint starts");
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    long before[4], after[4];
    if (!ept_until_ready(&b))
        goto done;
    CHECK(WAIT_UNTIL(&b, b.window == 4), "two managers: window 4 (got %u)", b.window);
    CHECK(ept_read_pids(&b, before, 4) == 2, "managers.pids lists two pids");
    char first_addr[256];
    snprintf(first_addr, sizeof first_addr, "%s", b.managers_addr);

    kill(b.pid, SIGKILL);
    CHECK(WAIT_UNTIL(&b, b.exit_status != -1), "the endpoint is gone");
    CHECK(ept_processes_with(key) == 2, "both managers survive it (%d)", ept_processes_with(key));

    CHECK(ept_endpoint_start(&b, "2", "--adopt-grace-ms", "8000", NULL) == 0, "fx-endpoint starts again");
    if (!ept_until_ready(&b))
        goto done;
    CHECK(strcmp(first_addr, b.managers_addr) == 0, "the same managers' address (%s, %s)", first_addr,
          b.managers_addr);
    CHECK(WAIT_UNTIL(&b, b.window == 4 && b.st_managers == 2), "both managers came back: window 4 (got %u)",
          b.window);
    CHECK(ept_read_pids(&b, after, 4) == 2 && after[0] == before[0] && after[1] == before[1],
          "managers.pids: the same two pids (%ld %ld -> %ld %ld)", before[0], before[1], after[0], after[1]);
    CHECK(ept_processes_with(key) == 2, "no new fx-manager was launched (%d)", ept_processes_with(key));

    fx_id_text_t ids[4];
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(4, ids, FX_FN_PYTHON, s_py_double, "double", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b.seq);
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 4, &ok) == 4 && ok == 4, "four results, all OK (ok %d)", ok);
    ept_ack(&b, ids, 4);
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    CHECK(WAIT_UNTIL(&b, !ept_process_with(key)), "the adopted managers are stopped too");
done:
    if (ept_process_with(key)) {
        long pids[4];
        for (int i = 0, n = ept_read_pids(&b, pids, 4); i < n; i++)
            kill((pid_t) pids[i], SIGKILL);
    }
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_sigterm_real(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_sigterm_real\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "1", NULL) == 0, "fx-endpoint starts");
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    if (!ept_until_ready(&b))
        goto done;
    CHECK(WAIT_UNTIL(&b, b.window == 2), "one manager, 1 worker + 1 prefetch: window 2 (got %u)", b.window);
    static const char body[] = "import time\n"
                               "def nap(x):\n"
                               "    time.sleep(1)\n"
                               "    return x\n";
    fx_id_text_t id;
    ept_send(b.endpoint, b.ep_routing,
             ept_tasks(1, &id, FX_FN_PYTHON, body, "nap", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN), &b.seq);
    CHECK(WAIT_UNTIL(&b, b.st_free == 1), "the task is at the manager (free %u)", b.st_free);
    kill(b.pid, SIGTERM);
    int ok = 0;
    CHECK(ept_collect_results(&b, &id, 1, &ok) == 1 && ok == 1, "the running task's result arrives, OK");
    ept_ack(&b, &id, 1);
    CHECK(WAIT_UNTIL(&b, b.exit_status != -1) && b.exit_status == 0, "exit 0 (got %d)", b.exit_status);
    CHECK(WAIT_UNTIL(&b, !ept_process_with(key)), "no fx-manager left running");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

/* f got no RESULTS_ACK: checked after a barrier on f's connection, so an
   ack the endpoint sent f in answer to anything before it has arrived. */
static void s_no_ack_yet(ept_broker_t *b, ept_fake_t *f, const char *what)
{
    CHECK(ept_barrier(b, f), "barrier (%s)", what);
    fx_msg_t *early = ept_take(f->inbox, FX_MSG_RESULTS_ACK);
    CHECK(!early, "no RESULTS_ACK to the manager before the broker acked (%s)", what);
    fx_msg_destroy(&early);
}

/* Waits for one RESULTS_ACK at f naming exactly id. */
static void s_expect_ack(ept_broker_t *b, ept_fake_t *f, const char *id, const char *what)
{
    fx_msg_t *ack = ept_expect(b, f->inbox, FX_MSG_RESULTS_ACK);
    CHECK(ack && ack->ids.count == 1 && strcmp(ack->ids.ids[0], id) == 0,
          "RESULTS_ACK with the one id %s to the manager (%s): %u ids, first %s", id, what,
          ack ? ack->ids.count : 0, ack && ack->ids.count ? ack->ids.ids[0] : "-");
    fx_msg_destroy(&ack);
}

/* True once the broker got a RESULTS carrying id. */
static bool s_broker_got(ept_broker_t *b, const char *id)
{
    fx_msg_t *m = ept_take(b->ep_inbox, FX_MSG_RESULTS);
    bool got = m && ept_has_result(m, id);
    fx_msg_destroy(&m);
    return got;
}

static void scenario_results_ack(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_results_ack\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_t *other = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 1);
    ept_fake_hello(&b, other, 0); /* window 0: every task goes to a */
    CHECK(WAIT_UNTIL(&b, b.st_managers == 2 && b.st_free == 1), "two managers, one free slot (got %u %u)",
          b.st_managers, b.st_free);
    fx_id_text_t id;
    s_send_task(&b, &id);
    CHECK(s_got_task(&b, a, id), "the task reached manager a");
    ept_answer(a, id);
    CHECK(WAIT_UNTIL(&b, s_broker_got(&b, id)), "the result reached the broker");
    s_no_ack_yet(&b, a, "result unacked by the broker");
    ept_ack(&b, &id, 1);
    s_expect_ack(&b, a, id, "after the broker's ack");
    s_no_ack_yet(&b, other, "the other manager sent nothing");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_adopted_result(void *ctx)
{
    (void) ctx;
    fprintf(stderr, "scenario_adopted_result\n");
    ept_broker_t b;
    CHECK(ept_broker_start(&b) == 0, "fake broker starts");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto done;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *a = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, a, 1);
    fx_id_text_t id; /* a task of an earlier endpoint run: never sent to this one */
    fx_id_new(id);
    ept_answer(a, id);
    CHECK(WAIT_UNTIL(&b, s_broker_got(&b, id)), "the unknown task's result is forwarded to the broker");
    ept_answer(a, id); /* resent while the first copy is still unacked */
    s_no_ack_yet(&b, a, "adopted result unacked by the broker");
    ept_ack(&b, &id, 1);
    s_expect_ack(&b, a, id, "adopted result, after the broker's ack");
    s_no_ack_yet(&b, a, "one ack for both copies");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_handler_set(NULL); /* the test reaps its children; no czmq signal handling */
    static const fx_scenario_t scenarios[] = {
        {"status", scenario_status, false},
        {"cancel", scenario_cancel, false},
        {"missed", scenario_missed, false},
        {"sigterm", scenario_sigterm, false},
        {"drain", scenario_drain, false},
        {"zap_renew", scenario_zap_renew, false},
        {"results_ack", scenario_results_ack, false},
        {"adopted_result", scenario_adopted_result, false},
        /* need fx-manager and fx-worker: only when named */
        {"adopt", scenario_adopt, true},
        {"sigterm_real", scenario_sigterm_real, true},
    };
    return fx_test_main("fx_endpoint_recovery_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
