/*  fx_manager_faults_test: the manager when things go wrong, against a fake
    interchange (fx_ixfake.h): workers that die (retries), CANCEL, a silent
    or restarted interchange, SIGTERM while a task runs, results kept until
    acknowledged and sent again after a new WELCOME (resend_unacked), and a
    first hello that fails (wrong server key, unregistered key, nothing
    listening, no answer): said why, retried on a new socket (hello_*).

        fx_manager_faults_test PATH-TO-fx-manager PATH-TO-python3 [SCENARIO...|all] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_ixfake.h"

/* f(log): appends its pid to the file log, then kills its own process. */
static const char s_suicide[] = "import os\n"
                                "def f(log):\n"
                                "    with open(log, 'a') as fh:\n"
                                "        fh.write(str(os.getpid()) + '\\n')\n"
                                "    os.kill(os.getpid(), 9)\n";

/* f(marker): the first run creates marker (with its pid) and kills its own
   process; a later run returns its pid. */
static const char s_once[] = "import os\n"
                             "def f(marker):\n"
                             "    if not os.path.exists(marker):\n"
                             "        with open(marker, 'w') as fh:\n"
                             "            fh.write(str(os.getpid()))\n"
                             "        os.kill(os.getpid(), 9)\n"
                             "    return os.getpid()\n";

/* The pids listed in a file, one a line; how many (at most max). */
static int s_read_pids(const char *path, int *pids, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fscanf(f, "%d", &pids[n]) == 1)
        n++;
    if (f)
        fclose(f);
    return n;
}

/* A task that kills its worker every time, with `retries`: one
   FX_E_WORKER_LOST result after 1 + retries deaths, each naming its pid and
   signal; the next task runs on a replacement worker. */
static void s_suicide_case(ix_t *ix, uint32_t retries)
{
    char log[160], args[256], want[64];
    REQUIRE(ix_start(ix, 2, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(log, sizeof log, "%s/deaths", ix->dir);
    snprintf(args, sizeof args, "(('%s',), {})", log);
    fx_id_text_t t, next;
    ix_send_retries(ix, s_suicide, args, retries, t);
    fx_msg_t *msg = ix_result(ix, t);
    REQUIRE(msg, "no result for the task that kills its worker");
    fx_result_t *r = &msg->results.results[0];
    const char *text = r->error_text ? r->error_text : "";
    printf("result: %s\n", text);
    CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_WORKER_LOST, "status %d code %s", r->status,
          fx_errname(r->error_code));
    snprintf(want, sizeof want, "worker lost %u time%s running task", retries + 1, retries ? "s" : "");
    CHECK(strstr(text, want) && strstr(text, t), "text lacks \"%s\" or the task id: %s", want, text);
    int pids[16];
    int n = s_read_pids(log, pids, 16);
    CHECK(n == (int) retries + 1, "the task ran %d times, want %u", n, retries + 1);
    for (int i = 0; i < n; i++) {
        snprintf(want, sizeof want, "worker pid %d killed by signal 9", pids[i]);
        CHECK(strstr(text, want), "text lacks \"%s\": %s", want, text);
        for (int k = 0; k < i; k++)
            CHECK(pids[k] != pids[i], "runs %d and %d on the same worker pid %d", k, i, pids[i]);
    }
    fx_msg_destroy(&msg);
    ix_send_one(ix, "def f():\n    return 'after'\n", "((), {})", next);
    ix_expect_ok(ix, next); /* the only result left: no second one for t */
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_retry_exhausted)
{
    s_suicide_case(ix, 2);
}

IX_SCENARIO(s_test_retries_zero)
{
    s_suicide_case(ix, 0);
}

/* A task that kills its worker only the first time succeeds on the retry,
   on another worker, with attempt + 1. */
IX_SCENARIO(s_test_retry_succeeds)
{
    char marker[160], args[256];
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(marker, sizeof marker, "%s/marker", ix->dir);
    snprintf(args, sizeof args, "(('%s',), {})", marker);
    fx_id_text_t t;
    ix_send_retries(ix, s_once, args, FX_RETRIES_DEFAULT, t);
    fx_msg_t *msg = ix_result(ix, t);
    REQUIRE(msg, "no result");
    fx_result_t *r = &msg->results.results[0];
    CHECK(r->status == FX_RESULT_OK, "status %d code %s: %s", r->status, fx_errname(r->error_code),
          r->error_text ? r->error_text : "");
    char *repr = ix_repr(ix, r->value);
    int first = ix_read_pid(marker), second = atoi(repr);
    CHECK(first > 0 && second > 0 && first != second, "first run on pid %d, retry on pid %d (%s)", first,
          second, repr);
    free(repr);
    fx_msg_destroy(&msg);
    unlink(marker);
    ix_stop(ix, false);
done:;
}

/* CANCEL of a queued task, a running time.sleep(30) task and an unknown id:
   two FX_E_CANCELLED results at once, the running worker killed, and the
   next task runs. */
IX_SCENARIO(s_test_cancel)
{
    char pid_path[160], ran[160], args[256];
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(pid_path, sizeof pid_path, "%s/r.pid", ix->dir);
    snprintf(ran, sizeof ran, "%s/q.ran", ix->dir);
    fx_id_text_t running, queued, unknown, next;
    snprintf(args, sizeof args, "(('%s',), {})", pid_path);
    ix_send_one(ix,
                "import os, time\ndef f(path):\n    open(path + '.tmp', 'w').write(str(os.getpid()))\n"
                "    os.rename(path + '.tmp', path)\n    time.sleep(30)\n",
                args, running);
    REQUIRE(ix_wait_file(ix, pid_path, IX_WAIT_MS), "the sleeping task never started");
    int worker = ix_read_pid(pid_path);
    snprintf(args, sizeof args, "(('%s',), {})", ran);
    ix_send_one(ix, "def f(path):\n    open(path, 'w').close()\n", args, queued);
    fx_id_new(unknown);
    int64_t start = fx_now_ms();
    fx_msg_t *cancel = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(cancel, 3);
    strcpy(cancel->cancel.ids[0], queued);
    strcpy(cancel->cancel.ids[1], unknown);
    strcpy(cancel->cancel.ids[2], running);
    ix_send(ix, &cancel);
    bool got_running = false, got_queued = false;
    while (!(got_running && got_queued)) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        REQUIRE(msg, "cancelled results: running %d, queued %d", got_running, got_queued);
        for (uint32_t i = 0; i < msg->results.count; i++) {
            fx_result_t *r = &msg->results.results[i];
            const char *text = r->error_text ? r->error_text : "";
            printf("cancel: %s\n", text);
            CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_CANCELLED,
                  "task %s: status %d code %s", r->task_id, r->status, fx_errname(r->error_code));
            char want[64];
            snprintf(want, sizeof want, "cancelled while running on worker pid %d", worker);
            if (strcmp(r->task_id, running) == 0 && !got_running) {
                got_running = true;
                CHECK(strstr(text, want), "text lacks \"%s\": %s", want, text);
            }
            else if (strcmp(r->task_id, queued) == 0 && !got_queued) {
                got_queued = true;
                CHECK(strstr(text, "cancelled before it ran"), "text %s", text);
            }
            else
                CHECK(0, "unexpected result for %s: %s", r->task_id, text);
        }
        fx_msg_destroy(&msg);
    }
    CHECK(fx_now_ms() - start < fx_test_ms(10000), "cancelled after %lld ms",
          (long long) (fx_now_ms() - start));
    ix_send_one(ix, "def f():\n    return 'next'\n", "((), {})", next);
    ix_expect_ok(ix, next); /* on the replacement; no WORKER_LOST came first */
    CHECK(access(ran, F_OK) != 0, "the cancelled queued task ran");
    CHECK(ix_gone(worker), "worker %d still runs the cancelled task", worker);
    ix_stop(ix, false);
done:;
}

static void s_cancel_one(ix_t *ix, const char *id, bool queued_only)
{
    fx_msg_t *cancel = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(cancel, 1);
    strcpy(cancel->cancel.ids[0], id);
    cancel->cancel.queued_only = queued_only;
    ix_send(ix, &cancel);
}

/* CANCEL with queued_only = 1 spares a running task (it finishes OK) and
   removes a queued one. The queued one's result, asked for after the
   running one's, shows that both CANCELs were read before the release. */
IX_SCENARIO(s_test_cancel_queued_only)
{
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t running, queued;
    REQUIRE(ix_start_waiter(ix, "r", running), "R");
    ix_send_one(ix, "def f():\n    return 'ran'\n", "((), {})", queued);
    s_cancel_one(ix, running, true);
    s_cancel_one(ix, queued, true);
    fx_msg_t *msg = ix_result(ix, queued);
    CHECK(msg && msg->results.results[0].error_code == FX_E_CANCELLED, "queued task: %s",
          msg ? fx_errname(msg->results.results[0].error_code) : "no result");
    fx_msg_destroy(&msg);
    ix_release(ix, "r");
    ix_expect_ok(ix, running);
    ix_stop(ix, false);
done:;
}

/* --heartbeat-missed 2: the manager says MANAGER_HELLO again after two
   silent periods. */
IX_SCENARIO(s_test_heartbeat_missed)
{
    ix->extra[0] = "--heartbeat-missed";
    ix->extra[1] = "2";
    REQUIRE(ix_start(ix, 1, 0) == 0 && ix_handshake(ix) == 0, "setup");
    ix->beating = false;
    fx_msg_t *hello = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    int64_t silent = fx_now_ms() - ix->last_sent;
    CHECK(hello, "no MANAGER_HELLO after 2 silent beats");
    fx_msg_destroy(&hello);
    CHECK(silent >= 2 * IX_BEAT_MS, "hello again after %lld ms of silence, before 2 beats",
          (long long) silent);
    printf("heartbeat_missed: hello again after %lld ms\n", (long long) silent);
    ix_stop(ix, false);
done:;
}

/* --orphan-timeout-s 1: without its interchange for a second the manager
   exits 0 and takes its workers with it. */
IX_SCENARIO(s_test_orphan)
{
    ix->extra[0] = "--orphan-timeout-s";
    ix->extra[1] = "1";
    REQUIRE(ix_start(ix, 1, 0) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t t;
    REQUIRE(ix_start_waiter(ix, "t", t), "task");
    ix->beating = false;
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    int64_t took = fx_now_ms() - ix->last_sent;
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "orphan: wait status %d", status);
    if (status != -1)
        ix->pid = 0;
    CHECK(took >= 1000, "exited %lld ms after our last word, before the 1 s orphan timeout",
          (long long) took);
    char path[160];
    snprintf(path, sizeof path, "%s/t.pid", ix->dir);
    int worker = ix_read_pid(path);
    CHECK(ix_gone(worker), "worker %d outlived its orphaned manager", worker);
done:;
}

/* The interchange dies mid-task and comes back at the same address: the
   task keeps running, finishes while there is no session, and its result
   comes after the new WELCOME, with the window whole again. */
IX_SCENARIO(s_test_interchange_restart)
{
    ix->capture_stderr = true;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t t, next;
    REQUIRE(ix_start_waiter(ix, "t", t), "T never started");

    REQUIRE(ix_rebind(ix) == 0, "rebind");
    fx_msg_t *hello = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    REQUIRE(hello, "no MANAGER_HELLO to the new interchange");
    uint32_t hello_seq = hello->seq;
    fx_msg_destroy(&hello);
    ix_release(ix, "t");
    REQUIRE(ix_wait_held(ix, t), "T's result held"); /* T ended without a session */
    ix_welcome(ix, ix_hellos_only(ix, hello_seq));
    ix->beating = true;
    bool got_result = false;
    uint32_t window = 0;
    while (!got_result || window != 2) {
        fx_msg_t *msg = ix_next(ix, IX_WAIT_MS);
        REQUIRE(msg, "after the new WELCOME: result %d, window %u", got_result, window);
        if (ix_window_of(msg, &window))
            ;
        else if (msg->type == FX_MSG_RESULTS) {
            CHECK(!got_result, "T's result came twice");
            CHECK(msg->results.count == 1 && strcmp(msg->results.results[0].task_id, t) == 0 &&
                      msg->results.results[0].status == FX_RESULT_OK,
                  "held result: %u results, first %s", msg->results.count,
                  msg->results.count ? msg->results.results[0].task_id : "-");
            got_result = true;
        }
        else
            CHECK(0, "unexpected %s after the new WELCOME", fx_msg_type_name(msg->type));
        fx_msg_destroy(&msg);
    }
    ix_send_one(ix, "def f():\n    return 'again'\n", "((), {})", next);
    ix_expect_ok(ix, next);
    ix_stop(ix, false);
done:;
}

/* Results are held until acknowledged, end to end. With acks held back
   by the test: A's result is never acked, B's is, C's is not (C also makes
   sure the manager read B's ack before the interchange dies: the link
   keeps order). The interchange dies and comes back at the same address:
   after the new WELCOME A and C come again, B does not; once they are
   acked, a further restart brings none of them back. */
IX_SCENARIO(s_test_resend_unacked)
{
    const char *quick = "def f(x):\n    return x\n";
    ix->hold_acks = true;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t a, b, c, d;
    ix_send_one(ix, quick, "((1,), {})", a);
    ix_expect_ok(ix, a);
    ix_send_one(ix, quick, "((2,), {})", b);
    ix_expect_ok(ix, b);
    ix_ack(ix, &b, 1);
    ix_send_one(ix, quick, "((3,), {})", c);
    ix_expect_ok(ix, c);

    for (int round = 0; round < 2; round++) {
        REQUIRE(ix_rebind(ix) == 0, "rebind");
        fx_msg_t *hello = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
        REQUIRE(hello, "no MANAGER_HELLO to the new interchange (round %d)", round);
        uint32_t hello_seq = hello->seq;
        fx_msg_destroy(&hello);
        ix_welcome(ix, ix_hellos_only(ix, hello_seq));
        ix->beating = true;
        /* D's result comes after anything sent again on the WELCOME: the
           link keeps order, and resends go out in the WELCOME's pass */
        ix_send_one(ix, quick, "((4,), {})", d);
        bool got_a = false, got_c = false, got_d = false;
        while (!got_d) {
            fx_msg_t *msg = ix_next(ix, IX_WAIT_MS);
            REQUIRE(msg, "round %d: no result of D (A %d, C %d)", round, got_a, got_c);
            for (uint32_t i = 0; msg->type == FX_MSG_RESULTS && i < msg->results.count; i++) {
                const char *id = msg->results.results[i].task_id;
                CHECK(strcmp(id, b) != 0, "round %d: B's result came again after it was acked", round);
                CHECK(round == 0 || (strcmp(id, a) != 0 && strcmp(id, c) != 0),
                      "round %d: %s came again after it was acked", round, strcmp(id, a) == 0 ? "A" : "C");
                got_a |= strcmp(id, a) == 0;
                got_c |= strcmp(id, c) == 0;
                if (strcmp(id, d) == 0) {
                    got_d = true;
                    CHECK(msg->results.results[i].status == FX_RESULT_OK, "D: status %d",
                          msg->results.results[i].status);
                }
            }
            CHECK(msg->type == FX_MSG_RESULTS || msg->type == FX_MSG_CAPACITY,
                  "unexpected %s after the WELCOME", fx_msg_type_name(msg->type));
            fx_msg_destroy(&msg);
        }
        if (round == 0) {
            CHECK(got_a && got_c, "after the new WELCOME, the unacked results came again: A %d, C %d", got_a,
                  got_c);
            fx_id_text_t all[3];
            memcpy(all[0], a, sizeof all[0]);
            memcpy(all[1], c, sizeof all[0]);
            memcpy(all[2], d, sizeof all[0]);
            ix_ack(ix, all, 3);
            /* E syncs: its result comes after the manager read that ack */
            fx_id_text_t e;
            ix_send_one(ix, quick, "((5,), {})", e);
            ix_expect_ok(ix, e);
            ix_ack(ix, &e, 1);
            ix_send_one(ix, quick, "((6,), {})", e);
            ix_expect_ok(ix, e);
            ix_ack(ix, &e, 1);
            ix_pump(ix, 0);
        }
    }
    ix->hold_acks = false;
    ix_stop(ix, false);
done:;
}

/* SIGTERM while a 0.5 s task runs: CREDIT 0 at once, the task's result,
   exit 0; the task queued behind it is dropped, never run. */
IX_SCENARIO(s_test_sigterm)
{
    char pid_path[160], ran[160], args[256];
    ix->stop_grace_ms = 20000;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(pid_path, sizeof pid_path, "%s/a.pid", ix->dir);
    snprintf(ran, sizeof ran, "%s/b.ran", ix->dir);
    /* A and B in one batch: B is queued behind A when the signal comes */
    fx_msg_t *batch = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(batch, 2);
    snprintf(args, sizeof args, "(('%s',), {})", pid_path);
    ix_task(ix, &batch->tasks.tasks[0],
            "import os, time\ndef f(path):\n    open(path + '.tmp', 'w').write(str(os.getpid()))\n"
            "    os.rename(path + '.tmp', path)\n    time.sleep(0.5)\n    return 'slept'\n",
            args);
    snprintf(args, sizeof args, "(('%s',), {})", ran);
    ix_task(ix, &batch->tasks.tasks[1], "def f(path):\n    open(path, 'w').close()\n", args);
    fx_id_text_t a;
    strcpy(a, batch->tasks.tasks[0].task_id);
    ix_send(ix, &batch);
    REQUIRE(ix_wait_file(ix, pid_path, IX_WAIT_MS), "A never started");
    kill(ix->pid, SIGTERM);
    ix_expect_credit(ix, 0);
    fx_msg_t *msg = ix_result(ix, a);
    if (msg) {
        char *repr = ix_repr(ix, msg->results.results[0].value);
        CHECK(msg->results.results[0].status == FX_RESULT_OK && strcmp(repr, "'slept'") == 0,
              "A: status %d, %s", msg->results.results[0].status, repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after SIGTERM: wait status %d",
          status);
    if (status != -1)
        ix->pid = 0;
    ix_pump(ix, 0);
    for (int i = 0; i < ix->npending; i++)
        CHECK(ix->pending[i]->type != FX_MSG_RESULTS, "a result for the dropped task B");
    CHECK(access(ran, F_OK) != 0, "B ran after SIGTERM");
    CHECK(ix_gone(ix_read_pid(pid_path)), "worker outlived its manager");
done:;
}

/* The manager's first hello fails the same way twice: each time its
   stderr names the likely cause (SPEC 2.3.2), and it tries again on a new
   socket (2.3.5) until --orphan-timeout-s, when it exits 0. Returns after
   the exit, with the causes found. */
static void s_hello_fails(ix_t *ix, const char *cause)
{
    ix->capture_stderr = true;
    ix->extra[0] = "--heartbeat-missed"; /* attempts of 400 ms, 800 ms, 1.6 s, ... */
    ix->extra[1] = "2";
    ix->extra[2] = "--orphan-timeout-s";
    ix->extra[3] = "3";
    REQUIRE(ix_start(ix, 1, 0) == 0, "setup");
    int64_t start = fx_now_ms();
    CHECK(ix_wait_log(ix, cause, 2, IX_WAIT_MS), "the manager did not say twice that %s (said it %d times)",
          cause, ix_log_count(ix, cause));
    CHECK(ix_log_count(ix, "trying again on a new socket") >= 2, "no retry on a new socket");
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "after --orphan-timeout-s: wait status %d", status);
    if (status != -1)
        ix->pid = 0;
    CHECK(fx_now_ms() - start >= 3000 - 100, "exited after %lld ms, before --orphan-timeout-s 3",
          (long long) (fx_now_ms() - start));
    CHECK(ix->npending == 0, "%s got through a failed handshake",
          ix->npending ? fx_msg_type_name(ix->pending[0]->type) : "");
done:;
}

/* The manager is given a --server-key that is not ours: every handshake
   fails, no hello ever leaves, and it says so. */
IX_SCENARIO(s_test_hello_wrong_server_key)
{
    ix->wrong_server_key = true;
    s_hello_fails(ix, "--server-key is probably not the public key of the interchange");
}

/* Our ZAP handler refuses the manager's key: libzmq never retries such a
   handshake on the same socket, so a second ZAP request shows a new one. */
IX_SCENARIO(s_test_hello_unregistered_key)
{
    ix->deny_key = true;
    s_hello_fails(ix, "is not registered with it");
    CHECK(ix->zap_requests >= 2, "%d ZAP requests: the hello was not retried on a new socket",
          ix->zap_requests);
}

/* Nothing listens at --interchange (a port bound, not listening). */
IX_SCENARIO(s_test_hello_no_interchange)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0 &&
                getsockname(fd, (struct sockaddr *) &sa, &len) == 0,
            "cannot reserve a port: %s", strerror(errno));
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    ix->extra[4] = "--interchange"; /* the last one wins */
    ix->extra[5] = addr;
    s_hello_fails(ix, "the interchange is probably down");
done:
    if (fd >= 0)
        close(fd);
}

/* The interchange admits the manager but does not answer its hello: after
   --heartbeat-missed beats the manager says why, and says hello again from
   a new socket (a new connection: another routing id, another ZAP
   request); that one is answered, and the manager works. */
IX_SCENARIO(s_test_hello_unanswered)
{
    ix->capture_stderr = true;
    ix->extra[0] = "--heartbeat-missed";
    ix->extra[1] = "2";
    REQUIRE(ix_start(ix, 1, 0) == 0, "setup");
    fx_msg_t *first = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    REQUIRE(first, "no first hello");
    zframe_t *first_rid = zframe_dup(ix->rid);
    int first_zap = ix->zap_requests;
    fx_msg_t *second = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    if (second) {
        CHECK(!zframe_eq(first_rid, ix->rid), "the second hello came on the same connection");
        CHECK(ix->zap_requests > first_zap, "no new handshake for the second hello");
        CHECK(second->seq != first->seq, "both hellos have seq %u", first->seq);
        CHECK(ix_wait_log(ix, "admitted our key but sent no WELCOME", 1, IX_WAIT_MS), "no word on why");
        ix_welcome(ix, second->seq);
        ix_expect_credit(ix, 1);
        ix->beating = true;
        ix_stop(ix, false);
    }
    CHECK(second, "no second hello");
    zframe_destroy(&first_rid);
    fx_msg_destroy(&first);
    fx_msg_destroy(&second);
done:;
}

static const fx_scenario_t s_tests[] = {
    {.name = "retry_exhausted", .run = s_test_retry_exhausted},
    {.name = "retry_succeeds", .run = s_test_retry_succeeds},
    {.name = "retries_zero", .run = s_test_retries_zero},
    {.name = "cancel", .run = s_test_cancel},
    {.name = "cancel_queued_only", .run = s_test_cancel_queued_only},
    {.name = "heartbeat_missed", .run = s_test_heartbeat_missed},
    {.name = "orphan", .run = s_test_orphan},
    {.name = "interchange_restart", .run = s_test_interchange_restart},
    {.name = "sigterm", .run = s_test_sigterm},
    {.name = "resend_unacked", .run = s_test_resend_unacked},
    {.name = "hello_wrong_server_key", .run = s_test_hello_wrong_server_key},
    {.name = "hello_unregistered_key", .run = s_test_hello_unregistered_key},
    {.name = "hello_no_interchange", .run = s_test_hello_no_interchange},
    {.name = "hello_unanswered", .run = s_test_hello_unanswered},
};

int main(int argc, char **argv)
{
    return ix_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
