/*  fx_worker_test: drives the real fx-worker binary from a fake manager
    (fx_wtest.h): the worker's life (READY, refusals, signals, walltimes)
    and the tasks of version 1 clients (source bodies, pickle payloads,
    shell templates, output, errors, the fast path).

        fx_worker_test PATH-TO-fx-worker PATH-TO-python3 [SCENARIO...|all] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_wtest.h"

/* ------------------------------------------------ scenarios */

FX_WT_SCENARIO(s_test_python, true)
{
    CHECK(ctx->ready_pid == (uint32_t) ctx->pid, "READY pid %u, worker pid %d", ctx->ready_pid,
          (int) ctx->pid);
    CHECK(strncmp(ctx->python_version, "3.11.", 5) == 0, "READY python_version %s", ctx->python_version);
    fx_wt_task_spec_t spec = {
        .body = "def f(a, b, *, c=0):\n    return (a + b) * c, 'ok'\n",
        .args = "((2, 3), {'c': 4})",
    };
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        CHECK(strcmp(repr, "(20, 'ok')") == 0, "value %s", repr);
        CHECK(!msg->results.results[0].error_text, "error text on an OK result");
        free(repr);
    }
    fx_msg_destroy(&msg);
    /* args as a list and an empty payload mean the same as a tuple / no args */
    fx_wt_task_spec_t none = {.body = "def g():\n    return None\n", .entry = "g", .raw_payload = ""};
    msg = fx_wt_expect(ctx, &none, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_exception, true)
{
    fx_wt_task_spec_t spec = {
        .body =
            "def helper(x):\n    raise ValueError('bad value %d' % x)\n\ndef f(x):\n    return helper(x)\n",
        .args = "((3,), {})",
    };
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_EXCEPTION, 0);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(r->error_text && strcmp(r->error_text, "ValueError: bad value 3") == 0, "error text %s",
              r->error_text);
        char *repr = fx_wt_repr(ctx, r->value);
        CHECK(strcmp(repr, "ValueError('bad value 3')") == 0, "pickled exception %s", repr);
        char *out = fx_wt_frame_text(r->output);
        CHECK(fx_wt_has(out, "--- remote traceback ---\nTraceback (most recent call last):"), "output: %s",
              out ? out : "(none)");
        CHECK(fx_wt_has(out, "raise ValueError('bad value %d' % x)"), "traceback lacks the source line: %s",
              out ? out : "(none)");
        CHECK(fx_wt_has(out, "in helper") && !fx_wt_has(out, "fx-runner"), "traceback frames: %s", out);
        free(repr);
        free(out);
    }
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_output, true)
{
    fx_wt_task_spec_t spec = {
        .body = "import sys\ndef f():\n    print('hello out')\n    print('hello err', file=sys.stderr)\n"
                "    sys.stdout.buffer.write(b'raw bytes\\n')\n    return 7\n",
    };
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *out = fx_wt_frame_text(msg->results.results[0].output);
        CHECK(fx_wt_has(out, "hello out\nhello err\nraw bytes\n"), "output: %s", out);
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        CHECK(strcmp(repr, "7") == 0, "value %s", repr);
        free(out);
        free(repr);
    }
    fx_msg_destroy(&msg);
    /* capped: FX_OUTPUT_MAX kept, the rest counted */
    fx_wt_task_spec_t big = {.body = "def f():\n    print('x' * 100000)\n    print('tail')\n"};
    msg = fx_wt_expect(ctx, &big, FX_RESULT_OK, 0);
    if (msg) {
        zframe_t *o = msg->results.results[0].output;
        char *out = fx_wt_frame_text(o);
        CHECK(zframe_size(o) < FX_OUTPUT_MAX + 100, "output is %zu bytes", zframe_size(o));
        CHECK(fx_wt_has(out, "[... 34470 bytes cut]"), "no cut marker: ...%s", out + strlen(out) - 60);
        free(out);
    }
    fx_msg_destroy(&msg);
    /* nothing printed after a task leaks into the next one's output */
    fx_wt_task_spec_t quiet = {.body = "def f():\n    return 1\n"};
    msg = fx_wt_expect(ctx, &quiet, FX_RESULT_OK, 0);
    if (msg)
        CHECK(zframe_size(msg->results.results[0].output) == 0, "output of a quiet task is %zu bytes",
              zframe_size(msg->results.results[0].output));
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_missing_module, true)
{
    fx_wt_task_spec_t spec = {.body = "def f():\n    import fx_no_such_module_42\n    return 1\n"};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_EXCEPTION, 0);
    if (msg) {
        const char *text = msg->results.results[0].error_text;
        CHECK(text && strcmp(text, "ModuleNotFoundError: No module named 'fx_no_such_module_42'") == 0,
              "error text %s", text);
    }
    fx_msg_destroy(&msg);
    /* the same at the top level of the body */
    fx_wt_task_spec_t top = {.body = "import fx_no_such_module_43\ndef f():\n    return 1\n"};
    msg = fx_wt_expect(ctx, &top, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "fx_no_such_module_43"), "error text %s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_version_mismatch, true)
{
    fx_wt_task_spec_t spec = {.body = "def f():\n    return 1\n", .py_version = "2.7.18"};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_VERSION_MISMATCH);
    if (msg) {
        char want[128];
        snprintf(want, sizeof want, "client Python 2.7.18 (pickle) vs worker Python %s (pickle)",
                 ctx->python_version);
        CHECK(fx_wt_has(msg->results.results[0].error_text, want), "error text %s",
              msg->results.results[0].error_text);
    }
    fx_msg_destroy(&msg);
    /* same major.minor, other micro: runs */
    fx_wt_task_spec_t micro = {.body = "def f():\n    return 1\n", .py_version = "3.11.0"};
    msg = fx_wt_expect(ctx, &micro, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_bad_pickle, true)
{
    fx_wt_task_spec_t spec = {.body = "def f():\n    return 1\n", .raw_payload = "this is not a pickle"};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg) {
        const char *text = msg->results.results[0].error_text;
        CHECK(fx_wt_has(text, "UnpicklingError") && fx_wt_has(text, ctx->python_version), "error text %s",
              text);
    }
    fx_msg_destroy(&msg);
    /* a fine pickle of the wrong shape */
    fx_wt_task_spec_t shape = {.body = "def f():\n    return 1\n", .args = "42"};
    msg = fx_wt_expect(ctx, &shape, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "(args, kwargs)"), "error text %s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_bad_tasks, true)
{
    fx_msg_t *msg;
    fx_wt_task_spec_t syntax = {.body = "def f(:\n    return 1\n"};
    msg = fx_wt_expect(ctx, &syntax, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "SyntaxError"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t kind = {.kind = -1, .body = "def f():\n    return 1\n"};
    msg = fx_wt_expect(ctx, &kind, FX_RESULT_ERROR, FX_E_LOAD);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t entry = {.body = "def g():\n    return 1\n", .entry = "nope"};
    msg = fx_wt_expect(ctx, &entry, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "defines no 'nope' (it defines: g)"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t utf8 = {.body = "def f():\n    return '\xff'\n"};
    msg = fx_wt_expect(ctx, &utf8, FX_RESULT_ERROR, FX_E_LOAD);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t exit_ = {.body = "import sys\ndef f():\n    sys.exit(3)\n"};
    msg = fx_wt_expect(ctx, &exit_, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "SystemExit: 3"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t lambda = {.body = "def f():\n    return lambda: 1\n"};
    msg = fx_wt_expect(ctx, &lambda, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(fx_wt_has(msg->results.results[0].error_text, "cannot be pickled"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    /* garbage and an unexpected message type: an ERROR back, the worker lives */
    const char garbage[] = "garbage, not msgpack";
    fx_wlink_send_bytes(ctx->link, ctx->peer, garbage, strlen(garbage));
    msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_MALFORMED,
          "expected ERROR(MALFORMED), got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    fx_msg_t *two = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(two, 2);
    for (int i = 0; i < 2; i++) {
        fx_id_new(two->tasks.tasks[i].task_id);
        fx_id_new(two->tasks.tasks[i].function_id);
        two->tasks.tasks[i].kind = FX_FN_PYTHON;
    }
    fx_wt_send(ctx, &two);
    msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_BAD_FIELD && msg->seq == ctx->seq,
          "expected ERROR(BAD_FIELD) echoing seq %u for 2 tasks, got %s", ctx->seq,
          msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    fx_msg_t *credit = fx_msg_new(FX_MSG_CREDIT);
    fx_wt_send(ctx, &credit);
    msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_UNEXPECTED,
          "expected ERROR(UNEXPECTED), got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);

    /* a task that ignores SIGTERM does not keep the worker from stopping
       (the scenario ends with SIGTERM and expects exit 0) */
    fx_wt_task_spec_t sigign = {
        .body = "import signal\ndef f():\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"};
    msg = fx_wt_expect(ctx, &sigign, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t good = {.body = "import os\ndef f():\n    return os.getpid()\n"};
    msg = fx_wt_expect(ctx, &good, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        CHECK(atoi(repr) == ctx->pid, "still the same worker: pid %s vs %d", repr, (int) ctx->pid);
        free(repr);
    }
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_shell, true)
{
    char marker[64], args[256], body[256];
    snprintf(marker, sizeof marker, "/tmp/fx-wtest-injected-%d", (int) getpid());
    unlink(marker);
    snprintf(args, sizeof args, "(('hello world', '$(touch %s)'), {'x': '; touch %s'})", marker, marker);
    snprintf(body, sizeof body, "echo {0} {x} {1}; echo to-stderr >&2; exit 3");
    fx_wt_task_spec_t spec = {.kind = FX_FN_SHELL, .body = body, .args = args};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        char want[512];
        snprintf(
            want, sizeof want,
            "{'returncode': 3, 'stdout': 'hello world ; touch %s $(touch %s)\\n', 'stderr': 'to-stderr\\n'}",
            marker, marker);
        CHECK(strcmp(repr, want) == 0, "value %s", repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    CHECK(access(marker, F_OK) != 0, "an argument was run as a command: %s exists", marker);
    unlink(marker);

    /* each stream capped at FX_OUTPUT_MAX with a marker */
    fx_wt_task_spec_t big = {.kind = FX_FN_SHELL, .body = "yes | head -c 100000"};
    msg = fx_wt_expect(ctx, &big, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        CHECK(fx_wt_has(repr, "[... 34464 bytes cut]"), "no cut marker in %zu bytes", strlen(repr));
        CHECK(zframe_size(msg->results.results[0].value) < FX_OUTPUT_MAX + 200, "value is %zu bytes",
              zframe_size(msg->results.results[0].value));
        free(repr);
    }
    fx_msg_destroy(&msg);

    fx_wt_task_spec_t missing = {.kind = FX_FN_SHELL, .body = "echo {0} {1}", .args = "(('only one',), {})"};
    msg = fx_wt_expect(ctx, &missing, FX_RESULT_ERROR, FX_E_SHELL);
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_walltime, true)
{
    int64_t start = fx_now_ms();
    fx_wt_task_spec_t spec = {.kind = FX_FN_SHELL, .body = "sleep 30", .walltime_ms = 300};
    fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_WALLTIME);
    CHECK(fx_now_ms() - start < fx_test_ms(20000), "walltime took %lld ms",
          (long long) (fx_now_ms() - start));
    fx_msg_destroy(&msg);
}

FX_WT_SCENARIO(s_test_warm, true)
{
    /* Module-level state survives between calls only if the function was
       compiled once and its namespace kept. */
    char fid[FX_ID_LEN + 1];
    fx_id_new(fid);
    fx_wt_task_spec_t spec = {
        .function_id = fid,
        .body =
            "import os\ncalls = []\ndef f(i):\n    calls.append(i)\n    return (os.getpid(), len(calls))\n",
    };
    char args[64], want[64];
    int64_t start = fx_now_ms();
    for (int i = 1; i <= 25; i++) {
        snprintf(args, sizeof args, "((%d,), {})", i);
        spec.args = args;
        fx_msg_t *msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
        if (!msg)
            return;
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        snprintf(want, sizeof want, "(%d, %d)", (int) ctx->pid, i);
        CHECK(strcmp(repr, want) == 0, "call %d: %s, want %s", i, repr, want);
        free(repr);
        fx_msg_destroy(&msg);
    }
    printf("warm: 25 tasks in one worker in %lld ms (including the test's pickling)\n",
           (long long) (fx_now_ms() - start));

    /* The bridge leaks no Python objects per task: the interpreter's
       allocated blocks stay flat over many runs of a stateless function
       (LSan cannot see this: libpython's allocations are suppressed). */
    fx_wt_task_spec_t blocks = {.function_id = fid,
                                .body = "import sys\ndef f():\n    return sys.getallocatedblocks()\n"};
    fx_id_new(fid);
    long counts[60];
    for (int i = 0; i < 60; i++) {
        fx_msg_t *msg = fx_wt_expect(ctx, &blocks, FX_RESULT_OK, 0);
        if (!msg)
            return;
        char *repr = fx_wt_repr(ctx, msg->results.results[0].value);
        counts[i] = atol(repr);
        free(repr);
        fx_msg_destroy(&msg);
    }
    printf("warm: allocated blocks after 20 tasks %ld, after 60 %ld\n", counts[19], counts[59]);
    CHECK(counts[59] - counts[19] < 40, "Python blocks grew by %ld over 40 tasks", counts[59] - counts[19]);
}

FX_WT_SCENARIO(s_test_stop, true)
{
    /* COMMAND is not a message of the worker link (SPEC 5.26): refused,
       and the worker stays; SIGTERM when idle: exit 0 */
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    fx_wt_send(ctx, &stop);
    fx_msg_t *msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_UNEXPECTED,
          "COMMAND: expected ERROR(UNEXPECTED), got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    kill(ctx->pid, SIGTERM);
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, FX_WT_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM when idle: wait status %d",
          status);
    close(ctx->pidfd);
    ctx->pid = 0;
    fx_wlink_child_gone(ctx->link, ctx->peer);
    /* SIGTERM in the middle of a task: out at once, the task's child too */
    REQUIRE(fx_wt_start(ctx) == 0, "second worker did not start");
    fx_id_text_t id;
    char marker[64], body[256];
    snprintf(marker, sizeof marker, "/tmp/fx-wtest-stop-%d", (int) getpid());
    unlink(marker);
    snprintf(body, sizeof body, "echo $$ > %s.tmp; mv %s.tmp %s; sleep 30", marker, marker, marker);
    fx_wt_task_spec_t spec = {.kind = FX_FN_SHELL, .body = body};
    REQUIRE(fx_wt_send_task(ctx, &spec, id) == 0, "cannot send");
    int64_t deadline = fx_now_ms() + FX_WT_WAIT_MS;
    while (access(marker, F_OK) != 0 && fx_now_ms() < deadline)
        poll(NULL, 0, 10); /* waits for the file, with a deadline */
    FILE *f = fopen(marker, "r");
    REQUIRE(f, "the shell task never started");
    int shell_pid = 0;
    CHECK(fscanf(f, "%d", &shell_pid) == 1, "no pid in %s", marker);
    fclose(f);
    unlink(marker);
    kill(ctx->pid, SIGTERM);
    status = fx_test_wait_exit(ctx->pid, ctx->pidfd, FX_WT_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status), "SIGTERM mid-task: wait status %d", status);
    ctx->pid = 0;
    /* the shell was killed with its group (it may linger as a zombie of init for a moment) */
    int shell_fd = shell_pid > 0 ? fx_test_pidfd_open(shell_pid) : -1;
    struct pollfd p = {shell_fd, POLLIN, 0};
    CHECK(shell_fd < 0 || poll(&p, 1, FX_WT_WAIT_MS) == 1, "shell pid %d still runs", shell_pid);
    if (shell_fd >= 0)
        close(shell_fd);
done:;
}

FX_WT_SCENARIO(s_test_refused, false)
{
    /* the manager answers READY with ERROR: the worker leaves, status 1 */
    fx_wlink_send_error(ctx->link, ctx->peer, ctx->ready_seq, FX_E_FORBIDDEN, "not one of my workers (test)");
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, FX_WT_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "refused READY: wait status %d",
          status);
    if (status != -1)
        ctx->pid = 0;
}

/* TASKS before WELCOME: ERROR(NO_SESSION) and nothing runs (SPEC 5.26.1);
   after the WELCOME the same task runs. */
FX_WT_SCENARIO(s_test_no_session, false)
{
    fx_wt_task_spec_t spec = {.body = "def f():\n    return 'ran'\n"};
    fx_id_text_t id;
    REQUIRE(fx_wt_send_task(ctx, &spec, id) == 0, "cannot send");
    fx_msg_t *msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_NO_SESSION && msg->seq == ctx->seq,
          "TASKS before WELCOME: expected ERROR(NO_SESSION) echoing seq %u, got %s", ctx->seq,
          msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    welcome->seq = ctx->ready_seq;
    REQUIRE(fx_wlink_send(ctx->link, ctx->peer, &welcome) == FX_OK, "cannot send WELCOME");
    msg = fx_wt_expect(ctx, &spec, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
done:;
}

/* The C fast path (fx_pyrun.c) and the runner's run() give the same
   result: each case runs twice with one function id, the first time
   through run() (the function is not cached yet), the second through the
   fast path. */
FX_WT_SCENARIO(s_test_fast_path, true)
{
    static const struct {
        const char *body, *args, *raw;
        int status;
    } cases[] = {
        {"def f(a, b=0):\n    return [a, b]\n", "((1,), {'b': 2})", NULL, FX_RESULT_OK},
        {"import sys\ndef f():\n    print('hi')\n    print('err', file=sys.stderr)\n"
         "    sys.stdout.buffer.write(b'raw')\n    return 3\n",
         NULL, NULL, FX_RESULT_OK},
        {"def f(x):\n    print('no newline', end='')\n    raise ValueError('bad %d' % x)\n", "((3,), {})",
         NULL, FX_RESULT_EXCEPTION},
        {"def f():\n    return lambda: 1\n", NULL, NULL, FX_RESULT_EXCEPTION},
        {"import sys\ndef f():\n    sys.exit(3)\n", NULL, NULL, FX_RESULT_EXCEPTION},
        {"def f(*a):\n    return a\n", "([1, 2], {})", NULL, FX_RESULT_OK},
        {"def f():\n    return 1\n", NULL, "not a pickle", FX_RESULT_ERROR},
        {"def f():\n    return 1\n", "42", NULL, FX_RESULT_ERROR},
        {"def f():\n    print('x' * 70000)\n    return b'x' * (11 * 1024 * 1024)\n", NULL, NULL,
         FX_RESULT_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fid[FX_ID_LEN + 1];
        fx_id_new(fid);
        fx_wt_task_spec_t spec = {
            .function_id = fid, .body = cases[i].body, .args = cases[i].args, .raw_payload = cases[i].raw};
        fx_msg_t *first = fx_wt_run(ctx, &spec), *second = fx_wt_run(ctx, &spec);
        if (first && second) {
            fx_result_t *a = &first->results.results[0], *b = &second->results.results[0];
            CHECK(a->status == cases[i].status, "case %zu: status %d, want %d (%s)", i, a->status,
                  cases[i].status, a->error_text ? a->error_text : "");
            CHECK(a->status == b->status && a->error_code == b->error_code, "case %zu: %d/%d then %d/%d", i,
                  a->status, a->error_code, b->status, b->error_code);
            CHECK((!a->error_text && !b->error_text) ||
                      (a->error_text && b->error_text && strcmp(a->error_text, b->error_text) == 0),
                  "case %zu: text \"%s\" then \"%s\"", i, a->error_text ? a->error_text : "(nil)",
                  b->error_text ? b->error_text : "(nil)");
            CHECK(fx_wt_frames_equal(a->value, b->value), "case %zu: values differ", i);
            char *oa = fx_wt_frame_text(a->output), *ob = fx_wt_frame_text(b->output);
            CHECK(fx_wt_frames_equal(a->output, b->output), "case %zu: output \"%.300s\" then \"%.300s\"", i,
                  oa, ob);
            free(oa);
            free(ob);
        }
        fx_msg_destroy(&first);
        fx_msg_destroy(&second);
    }
}

static const fx_scenario_t s_tests[] = {
    {.name = "python", .run = s_test_python},
    {.name = "exception", .run = s_test_exception},
    {.name = "output", .run = s_test_output},
    {.name = "missing_module", .run = s_test_missing_module},
    {.name = "version_mismatch", .run = s_test_version_mismatch},
    {.name = "bad_pickle", .run = s_test_bad_pickle},
    {.name = "bad_tasks", .run = s_test_bad_tasks},
    {.name = "shell", .run = s_test_shell},
    {.name = "walltime", .run = s_test_walltime},
    {.name = "warm", .run = s_test_warm},
    {.name = "stop", .run = s_test_stop},
    {.name = "refused", .run = s_test_refused},
    {.name = "no_session", .run = s_test_no_session},
    {.name = "fast_path", .run = s_test_fast_path},
};

int main(int argc, char **argv)
{
    return fx_wt_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
