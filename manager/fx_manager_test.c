/*  fx_manager_test: the manager's ordinary scenarios (handshake, tasks,
    sessions, drain, walltime, stop) against a fake interchange (fx_ixfake.h).

        fx_manager_test PATH-TO-fx-manager PATH-TO-python3 [SCENARIO...|all] */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_ixfake.h"

IX_SCENARIO(s_test_hello_credit)
{
    REQUIRE(ix_start(ix, 2, 1) == 0 && ix_handshake(ix) == 0, "setup");
    /* heartbeats every IX_BEAT_MS: two within a few periods */
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    while (ix->heartbeats < 2 && fx_now_ms() < deadline)
        ix_pump(ix, 50);
    CHECK(ix->heartbeats >= 2, "%d heartbeats", ix->heartbeats);
    CHECK(ix->npending == 0, "unexpected %s", ix->npending ? fx_msg_type_name(ix->pending[0]->type) : "");
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_tasks)
{
    enum { N = 4 };
    REQUIRE(ix_start(ix, 2, 2) == 0 && ix_handshake(ix) == 0, "setup");
    fx_msg_t *batch = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(batch, N);
    fx_id_text_t ids[N];
    char args[32];
    for (int i = 0; i < N; i++) {
        snprintf(args, sizeof args, "((%d,), {})", i + 1);
        ix_task(ix, &batch->tasks.tasks[i], "import os\ndef f(x):\n    return (x * x, os.getpid())\n", args);
        strcpy(ids[i], batch->tasks.tasks[i].task_id);
    }
    REQUIRE(ix_send(ix, &batch) == FX_OK, "send TASKS");
    int got = 0, messages = 0, pids[N] = {0};
    while (got < N) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        REQUIRE(msg, "only %d of %d results", got, N);
        messages++;
        for (uint32_t r = 0; r < msg->results.count; r++) {
            fx_result_t *res = &msg->results.results[r];
            int i = 0;
            while (i < N && strcmp(ids[i], res->task_id) != 0)
                i++;
            CHECK(i < N && !pids[i], "unknown or repeated result %s", res->task_id);
            CHECK(res->status == FX_RESULT_OK, "task %d: status %d %s", i, res->status,
                  res->error_text ? res->error_text : "");
            if (i < N && res->status == FX_RESULT_OK) {
                char *repr = ix_repr(ix, res->value);
                int square = 0;
                sscanf(repr, "(%d, %d)", &square, &pids[i]);
                CHECK(square == (i + 1) * (i + 1), "task %d returned %s", i, repr);
                free(repr);
            }
            got++;
        }
        fx_msg_destroy(&msg);
    }
    printf("tasks: %d results in %d RESULTS messages\n", N, messages);
    ix_stop(ix, false);
    for (int i = 0; i < N; i++)
        CHECK(ix_gone(pids[i]), "worker pid %d outlived its manager", pids[i]);
done:;
}

IX_SCENARIO(s_test_worker_lost)
{
    char pid_a[128], pid_b[128], release[128];
    REQUIRE(ix_start(ix, 2, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(pid_a, sizeof pid_a, "%s/a.pid", ix->dir);
    snprintf(pid_b, sizeof pid_b, "%s/b.pid", ix->dir);
    snprintf(release, sizeof release, "%s/release", ix->dir);
    const char *writer = ix_waiter; /* writes its pid to path, returns once release exists */
    char args[512];
    fx_id_text_t a, b, c;
    /* A: sleeps until killed */
    snprintf(args, sizeof args, "(('%s',), {})", pid_a);
    ix_send_one(ix, writer, args, a);
    REQUIRE(ix_wait_file(ix, pid_a, IX_WAIT_MS), "task A never started");
    int victim = ix_read_pid(pid_a);
    REQUIRE(victim > 0, "no pid in %s", pid_a);
    kill(victim, SIGKILL);
    fx_msg_t *msg = ix_result(ix, a);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        char want[64];
        snprintf(want, sizeof want, "worker pid %d ", victim);
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_WORKER_LOST, "status %d code %s",
              r->status, fx_errname(r->error_code));
        CHECK(r->error_text && strstr(r->error_text, want) && strstr(r->error_text, "signal 9") &&
                  strstr(r->error_text, a),
              "error text %s", r->error_text ? r->error_text : "(none)");
        printf("worker_lost: %s\n", r->error_text ? r->error_text : "");
    }
    fx_msg_destroy(&msg);
    /* B holds one worker until released; C must then run on the other: both
       alive, distinct, and neither is the dead one, so one is its
       replacement. */
    snprintf(args, sizeof args, "(('%s', '%s'), {})", pid_b, release);
    ix_send_one(ix, writer, args, b);
    REQUIRE(ix_wait_file(ix, pid_b, IX_WAIT_MS), "task B never started");
    ix_send_one(ix, "import os\ndef f():\n    return os.getpid()\n", "((), {})", c);
    msg = ix_result(ix, c);
    int pid_c = 0;
    if (msg) {
        char *repr = ix_repr(ix, msg->results.results[0].value);
        pid_c = atoi(repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    FILE *f = fopen(release, "w");
    if (f)
        fclose(f);
    msg = ix_result(ix, b);
    int pid_bb = 0;
    if (msg) {
        char *repr = ix_repr(ix, msg->results.results[0].value);
        pid_bb = atoi(repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    CHECK(pid_bb == ix_read_pid(pid_b), "B returned %d", pid_bb);
    CHECK(pid_c > 0 && pid_bb > 0 && pid_c != pid_bb && pid_c != victim && pid_bb != victim,
          "pids: killed %d, B %d, C %d", victim, pid_bb, pid_c);
    ix_stop(ix, true);
    CHECK(ix_gone(pid_c) && ix_gone(pid_bb), "workers %d, %d outlived their manager", pid_c, pid_bb);
done:;
}

IX_SCENARIO(s_test_refused)
{
    REQUIRE(ix_start(ix, 1, 1) == 0, "setup");
    fx_msg_t *msg = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    REQUIRE(msg, "no hello");
    uint32_t seq = msg->seq;
    fx_msg_destroy(&msg);
    fx_send_error(ix->router, ix->rid, seq, FX_E_FORBIDDEN, "manager key not admitted (test)");
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "wait status %d, want exit 1",
          status);
    if (status != -1)
        ix->pid = 0;
done:;
}

IX_SCENARIO(s_test_no_session)
{
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_send_error(ix->router, ix->rid, 0, FX_E_NO_SESSION, "no session: send HELLO first (test restart)");
    REQUIRE(ix_handshake(ix) == 0, "second handshake");
    fx_id_text_t id;
    ix_send_one(ix, "def f(x):\n    return x + 1\n", "((41,), {})", id);
    fx_msg_t *msg = ix_result(ix, id);
    if (msg) {
        char *repr = ix_repr(ix, msg->results.results[0].value);
        CHECK(strcmp(repr, "42") == 0, "value %s", repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_drain)
{
    char release[128];
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(release, sizeof release, "%s/release", ix->dir);
    char body[512], args[256];
    snprintf(body, sizeof body,
             "import os, time\ndef f(path):\n    for _ in range(6000):\n        if os.path.exists(path):\n"
             "            return 'done'\n        time.sleep(0.01)\n    return 'timeout'\n");
    snprintf(args, sizeof args, "(('%s',), {})", release);
    fx_id_text_t id;
    ix_send_one(ix, body, args, id);
    fx_msg_t *drain = fx_msg_new(FX_MSG_COMMAND);
    drain->command.command = FX_CMD_DRAIN;
    ix_send(ix, &drain);
    ix_expect_credit(ix, 0); /* CAPACITY window 0 after DRAIN */
    struct pollfd p = {ix->pidfd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0, "manager exited with a task still running");
    FILE *f = fopen(release, "w");
    if (f)
        fclose(f);
    fx_msg_t *msg = ix_result(ix, id);
    if (msg)
        CHECK(msg->results.results[0].status == FX_RESULT_OK, "drained task status %d",
              msg->results.results[0].status);
    fx_msg_destroy(&msg);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after drain: wait status %d",
          status);
    if (status != -1)
        ix->pid = 0;
    unlink(release);
done:;
}

IX_SCENARIO(s_test_bad_message)
{
    REQUIRE(ix_start(ix, 1, 0) == 0 && ix_handshake(ix) == 0, "setup");
    zmsg_t *garbage = zmsg_new();
    zframe_t *rid = zframe_dup(ix->rid);
    zmsg_append(garbage, &rid);
    zmsg_addstr(garbage, "\x94\x01\x14");
    zmsg_send(&garbage, ix->router);
    fx_msg_t *msg = ix_expect(ix, FX_MSG_ERROR, IX_WAIT_MS);
    CHECK(msg && msg->error.code == FX_E_MALFORMED, "code %s", msg ? fx_errname(msg->error.code) : "-");
    fx_msg_destroy(&msg);
    fx_msg_t *odd = fx_msg_new(FX_MSG_SUBMITTED);
    ix_send(ix, &odd);
    msg = ix_expect(ix, FX_MSG_ERROR, IX_WAIT_MS);
    CHECK(msg && msg->error.code == FX_E_UNEXPECTED, "code %s", msg ? fx_errname(msg->error.code) : "-");
    fx_msg_destroy(&msg);
    fx_id_text_t id;
    ix_send_one(ix, "def f():\n    return 'alive'\n", "((), {})", id);
    msg = ix_result(ix, id);
    CHECK(msg && msg->results.results[0].status == FX_RESULT_OK, "task after garbage failed");
    fx_msg_destroy(&msg);
    ix_stop(ix, true);
done:;
}

IX_SCENARIO(s_test_lost_interchange)
{
    ix->capture_stderr = true;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    /* T runs across the outage: after the new WELCOME the window is 1 (T
       came in the old session), 2 again once T's result has gone out. */
    fx_id_text_t t, u;
    REQUIRE(ix_start_waiter(ix, "t", t), "T");
    ix->beating = false;
    REQUIRE(ix_handshake_window(ix, 1) == 0, "second session");
    ix_release(ix, "t");
    ix_expect_ok(ix, t);
    ix_expect_credit(ix, 2);
    /* U finishes while the manager has no session: its result is held
       until the next WELCOME, then sent, and the window is whole. */
    REQUIRE(ix_start_waiter(ix, "u", u), "U");
    ix->beating = false;
    fx_msg_t *hello = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    REQUIRE(hello, "third hello");
    uint32_t hello_seq = hello->seq;
    fx_msg_destroy(&hello);
    ix_release(ix, "u");
    REQUIRE(ix_wait_held(ix, u), "U's result held"); /* U ended; nothing may have come but hellos */
    ix_welcome(ix, ix_hellos_only(ix, hello_seq));
    ix->beating = true;
    ix_expect_ok(ix, u); /* one RESULTS, then CREDIT: a copy sent without a session would come first */
    ix_expect_credit(ix, 2);
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_duplicate)
{
    char runs[160], args[400], body[1024];
    REQUIRE(ix_start(ix, 1, 2) == 0 && ix_handshake(ix) == 0, "setup");
    snprintf(runs, sizeof runs, "%s/runs", ix->dir);
    snprintf(body, sizeof body,
             "%s\ndef g(path, release):\n    open(path + '.runs', 'a').write('run\\n')\n"
             "    return f(path, release)\n",
             ix_waiter);
    snprintf(args, sizeof args, "(('%s/d.pid', '%s/d.release'), {})", ix->dir, ix->dir);
    /* entry g: counts its runs, then waits like f */
    fx_id_text_t d, sentinel;
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    ix_task(ix, &msg->tasks.tasks[0], body, args);
    fx_strlcpy(msg->tasks.tasks[0].entry, "g", sizeof msg->tasks.tasks[0].entry);
    strcpy(d, msg->tasks.tasks[0].task_id);
    fx_msg_t *again = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(again, 1);
    again->tasks.tasks[0] = msg->tasks.tasks[0];
    again->tasks.tasks[0].body = zframe_dup(msg->tasks.tasks[0].body);
    again->tasks.tasks[0].payload = zframe_dup(msg->tasks.tasks[0].payload);
    ix_send(ix, &msg);
    char pid_path[160];
    snprintf(pid_path, sizeof pid_path, "%s/d.pid", ix->dir);
    REQUIRE(ix_wait_file(ix, pid_path, IX_WAIT_MS), "D never started");
    ix_send(ix, &again); /* the same task id while it runs: tied, not run twice */
    ix_send_one(ix, "def f():\n    return 'sentinel'\n", "((), {})", sentinel);
    ix_release(ix, "d");
    ix_expect_ok(ix, d);
    ix_expect_ok(ix, sentinel); /* not a second result of D */
    snprintf(runs, sizeof runs, "%s/d.pid.runs", ix->dir);
    FILE *f = fopen(runs, "r");
    int lines = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        lines += c == '\n';
    if (f)
        fclose(f);
    CHECK(lines == 1, "D ran %d times", lines);
    ix_stop(ix, true);
done:;
}

IX_SCENARIO(s_test_walltime)
{
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t w, next;
    int64_t start = fx_now_ms();
    ix_send_task(ix, "import time\ndef f():\n    time.sleep(60)\n", "((), {})", 300, w, false);
    fx_msg_t *msg = ix_result(ix, w);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_WALLTIME, "status %d code %s", r->status,
              fx_errname(r->error_code));
        CHECK(r->error_text && strstr(r->error_text, "walltime of 300 ms"), "text %s", r->error_text);
    }
    fx_msg_destroy(&msg);
    CHECK(fx_now_ms() - start < fx_test_ms(10000), "walltime result after %lld ms",
          (long long) (fx_now_ms() - start));
    ix_send_one(ix, "def f():\n    return 1\n", "((), {})", next);
    ix_expect_ok(ix, next); /* on the replacement worker */
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_stop_busy)
{
    ix->stop_grace_ms = 20000;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t t;
    REQUIRE(ix_start_waiter(ix, "t", t), "T");
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    ix_send(ix, &stop);
    ix_expect_credit(ix, 0);
    struct pollfd p = {ix->pidfd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0, "manager left with a task running and grace to spare");
    ix_release(ix, "t");
    ix_expect_ok(ix, t);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after STOP: wait status %d",
          status);
    if (status != -1)
        ix->pid = 0;
done:;
}

IX_SCENARIO(s_test_stop_grace)
{
    ix->stop_grace_ms = 300;
    REQUIRE(ix_start(ix, 1, 1) == 0 && ix_handshake(ix) == 0, "setup");
    fx_id_text_t t;
    REQUIRE(ix_start_waiter(ix, "t", t), "T");
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    ix_send(ix, &stop);
    ix_expect_credit(ix, 0);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after STOP grace: wait status %d",
          status);
    if (status != -1)
        ix->pid = 0;
    char path[160];
    snprintf(path, sizeof path, "%s/t.pid", ix->dir);
    int worker = ix_read_pid(path);
    CHECK(ix_gone(worker), "worker %d outlived its manager", worker);
done:;
}

static const fx_scenario_t s_tests[] = {
    {.name = "hello_credit", .run = s_test_hello_credit},
    {.name = "tasks", .run = s_test_tasks},
    {.name = "worker_lost", .run = s_test_worker_lost},
    {.name = "refused", .run = s_test_refused},
    {.name = "no_session", .run = s_test_no_session},
    {.name = "drain", .run = s_test_drain},
    {.name = "bad_message", .run = s_test_bad_message},
    {.name = "lost_interchange", .run = s_test_lost_interchange},
    {.name = "duplicate", .run = s_test_duplicate},
    {.name = "walltime", .run = s_test_walltime},
    {.name = "stop_busy", .run = s_test_stop_busy},
    {.name = "stop_grace", .run = s_test_stop_grace},
};

int main(int argc, char **argv)
{
    return ix_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
