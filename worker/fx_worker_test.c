/*  fx_worker_test: drives the real fx-worker binary from a fake manager.

        fx_worker_test PATH-TO-fx-worker PATH-TO-python3 [SCENARIO...|all]

    Holds the manager's side of the worker link (fx_wlink.h, as fx-manager
    does), starts the worker on a connection of it, sends it tasks and
    checks the results. Pickles are made and read by the given
    Python (the same major.minor as the worker's). Every wait has a
    deadline; nothing sleeps. Each scenario ends by stopping the worker and
    checking it exits 0 (under ASan that includes its leak check). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_msg.h"
#include "fx_wlink.h"

/* The longest any wait may take: generous, since ASan and valgrind builds
   are slow, and stretched by FX_TEST_SLOW. */
#define S_WAIT_MS ((int) fx_test_ms(30000))

#include "fx_check.h"
#include "fx_testkit.h"
#include "fx_testproc.h"

typedef struct {
    const char *worker_bin;
    const char *python;
    fx_wlink_t *link;
    fx_wlink_peer_t peer; /* the worker's connection on the link */
    pid_t pid;            /* the worker process */
    int pidfd;
    uint32_t ready_pid;
    uint32_t ready_seq;
    char python_version[FX_VERSION_MAX + 1];
    uint32_t seq;
    bool no_welcome; /* s_start leaves READY unanswered */
    fx_test_pickler_t *pickler;
} s_ctx_t;

/* One task to send; NULL/0 fields get defaults. */
typedef struct {
    int kind; /* default FX_FN_PYTHON; -1 sends kind 0 */
    const char *function_id;
    const char *entry; /* default "f" */
    const char *body;
    const char *args;        /* Python expression for (args, kwargs); default "((), {})" */
    const char *raw_payload; /* sent as is instead of a pickle of args */
    const char *py_version;  /* default: the worker's */
    uint32_t walltime_ms;
} s_task_spec_t;

/* ------------------------------------------------ processes */

/* Process helpers and the pickler: the tests' shared ones (fx_testproc.h). */
static zframe_t *s_pickle(s_ctx_t *ctx, const char *expr)
{
    return fx_test_pickler_pickle(ctx->pickler, expr);
}

static char *s_repr(s_ctx_t *ctx, zframe_t *frame)
{
    return fx_test_pickler_repr(ctx->pickler, frame);
}

/* The output frame as a string; caller frees. */
static char *s_frame_text(zframe_t *frame)
{
    return frame ? zframe_strdup(frame) : strdup("");
}

/* ------------------------------------------------ the fake manager */

/* Next message from the worker, or NULL after ms. */
static fx_msg_t *s_recv(s_ctx_t *ctx, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    for (;;) {
        fx_wlink_peer_t peer = 0;
        fx_msg_t *msg = NULL;
        uint32_t seq;
        const char *detail;
        int rc = fx_wlink_recv(ctx->link, &peer, &msg, &seq, &detail);
        if (rc == FX_OK) {
            CHECK(peer == ctx->peer, "a message from connection %u, not the worker's %u", peer, ctx->peer);
            return msg;
        }
        CHECK(rc == FX_E_TIMEOUT, "worker sent an undecodable message: %s (%s)", fx_strerror(rc), detail);
        int64_t left = deadline - fx_now_ms();
        if (left <= 0)
            return NULL;
        fx_wlink_wait(ctx->link, (int) left);
    }
}

static int s_start(s_ctx_t *ctx)
{
    fx_wlink_child_t child;
    char err[256];
    if (fx_wlink_child(ctx->link, &child, err, sizeof err) != FX_OK) {
        CHECK(0, "%s", err);
        return -1;
    }
    ctx->peer = child.peer;
    char *argv[] = {(char *) ctx->worker_bin, (char *) child.flag, child.value, NULL};
    fx_wlink_child_keep(&child); /* in the parent: it starts no other process meanwhile */
    ctx->pid = fx_test_spawn(argv, -1, -1);
    fx_wlink_child_started(&child);
    ctx->pidfd = fx_test_pidfd_open(ctx->pid);
    fx_msg_t *msg = s_recv(ctx, S_WAIT_MS);
    int rc = -1;
    CHECK(msg && msg->type == FX_MSG_READY, "expected READY from the worker, got %s",
          msg ? fx_msg_type_name(msg->type) : "nothing");
    if (msg && msg->type == FX_MSG_READY) {
        CHECK(msg->seq != 0, "READY is a request: its seq must not be 0");
        ctx->ready_seq = msg->seq;
        ctx->ready_pid = msg->ready.pid;
        fx_strlcpy(ctx->python_version, msg->ready.python_version, sizeof ctx->python_version);
        rc = 0;
    }
    fx_msg_destroy(&msg);
    if (rc == 0 && !ctx->no_welcome) { /* as fx-manager answers READY (SPEC 6.4) */
        fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
        fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
        welcome->seq = ctx->ready_seq;
        rc = fx_wlink_send(ctx->link, ctx->peer, &welcome) == FX_OK ? 0 : -1;
    }
    return rc;
}

static int s_send(s_ctx_t *ctx, fx_msg_t **msg_p)
{
    (*msg_p)->seq = ++ctx->seq;
    return fx_wlink_send(ctx->link, ctx->peer, msg_p);
}

/* Sends one task; its id in task_id. */
static int s_send_task(s_ctx_t *ctx, const s_task_spec_t *spec, fx_id_text_t task_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    if (!msg || fx_msg_alloc_records(msg, 1) != FX_OK)
        return -1;
    fx_task_t *t = &msg->tasks.tasks[0];
    fx_id_new(t->task_id);
    if (spec->function_id)
        fx_strlcpy(t->function_id, spec->function_id, sizeof t->function_id);
    else
        fx_id_new(t->function_id);
    t->kind = (uint8_t) (spec->kind == -1 ? 0 : spec->kind ? spec->kind : FX_FN_PYTHON);
    fx_strlcpy(t->entry, spec->entry ? spec->entry : "f", sizeof t->entry);
    fx_strlcpy(t->py_version, spec->py_version ? spec->py_version : ctx->python_version,
               sizeof t->py_version);
    fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
    t->walltime_ms = spec->walltime_ms;
    t->body = zframe_new(spec->body, strlen(spec->body));
    if (spec->raw_payload)
        t->payload = zframe_new(spec->raw_payload, strlen(spec->raw_payload));
    else
        t->payload = s_pickle(ctx, spec->args ? spec->args : "((), {})");
    strcpy(task_id, t->task_id);
    if (!t->payload) {
        fx_msg_destroy(&msg);
        return -1;
    }
    return s_send(ctx, &msg) == FX_OK ? 0 : -1;
}

/* Sends a task and waits for its RESULTS; NULL (after a CHECK) if none. */
static fx_msg_t *s_run(s_ctx_t *ctx, const s_task_spec_t *spec)
{
    fx_id_text_t id;
    if (s_send_task(ctx, spec, id) != 0) {
        CHECK(0, "cannot build or send the task");
        return NULL;
    }
    fx_msg_t *msg = s_recv(ctx, S_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_RESULTS && msg->results.count == 1,
          "expected RESULTS with 1 result, got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    if (!msg || msg->type != FX_MSG_RESULTS || msg->results.count != 1) {
        fx_msg_destroy(&msg);
        return NULL;
    }
    CHECK(strcmp(msg->results.results[0].task_id, id) == 0, "result for %s, sent %s",
          msg->results.results[0].task_id, id);
    CHECK(msg->seq == 0, "RESULTS from a worker carries seq 0, not %u", msg->seq);
    return msg;
}

/* Runs a task; checks status (and code for errors); returns the result's
   value repr in *repr_p and the output/error text in *out_p (caller frees). */
static fx_msg_t *s_expect(s_ctx_t *ctx, const s_task_spec_t *spec, int status, int code)
{
    fx_msg_t *msg = s_run(ctx, spec);
    if (!msg)
        return NULL;
    fx_result_t *r = &msg->results.results[0];
    CHECK(r->status == status, "status %d, expected %d (code %s, text %s)", r->status, status,
          fx_errname(r->error_code), r->error_text ? r->error_text : "(none)");
    if (status == FX_RESULT_ERROR)
        CHECK(r->error_code == code, "error code %s, expected %s (text %s)", fx_errname(r->error_code),
              fx_errname(code), r->error_text ? r->error_text : "(none)");
    return msg;
}

static bool s_has(const char *text, const char *part)
{
    return text && strstr(text, part);
}

/* Stops the worker with SIGTERM and checks it exits 0 in time. */
static void s_stop_worker(s_ctx_t *ctx)
{
    if (ctx->pid <= 0)
        return;
    kill(ctx->pid, SIGTERM);
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "worker did not exit 0 on SIGTERM (wait status %d)", status);
    if (status == -1) {
        kill(ctx->pid, SIGKILL);
        waitpid(ctx->pid, NULL, 0);
    }
    ctx->pid = 0;
    fx_wlink_child_gone(ctx->link, ctx->peer);
}

/* Starts a worker (welcomed unless `welcome` is false), runs body on it
   if it started, stops it (it must exit 0, or 1 once refused). */
static void s_scenario(s_ctx_t *ctx, void (*body)(s_ctx_t *), bool welcome)
{
    ctx->no_welcome = !welcome;
    if (s_start(ctx) == 0)
        body(ctx);
    s_stop_worker(ctx);
    if (ctx->pidfd >= 0)
        close(ctx->pidfd);
    ctx->pidfd = -1;
}

/* Defines the scenario function NAME(void *ctx) for the fx_scenario_t
   table: the block that follows is its body, run by s_scenario on a fresh
   worker. */
#define S_SCENARIO(name, welcome)                                                                            \
    static void name##_body(s_ctx_t *ctx);                                                                   \
    static void name(void *ctx)                                                                              \
    {                                                                                                        \
        s_scenario(ctx, name##_body, welcome);                                                               \
    }                                                                                                        \
    static void name##_body(s_ctx_t *ctx)

/* ------------------------------------------------ scenarios */

S_SCENARIO(s_test_python, true)
{
    CHECK(ctx->ready_pid == (uint32_t) ctx->pid, "READY pid %u, worker pid %d", ctx->ready_pid,
          (int) ctx->pid);
    CHECK(strncmp(ctx->python_version, "3.11.", 5) == 0, "READY python_version %s", ctx->python_version);
    s_task_spec_t spec = {
        .body = "def f(a, b, *, c=0):\n    return (a + b) * c, 'ok'\n",
        .args = "((2, 3), {'c': 4})",
    };
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = s_repr(ctx, msg->results.results[0].value);
        CHECK(strcmp(repr, "(20, 'ok')") == 0, "value %s", repr);
        CHECK(!msg->results.results[0].error_text, "error text on an OK result");
        free(repr);
    }
    fx_msg_destroy(&msg);
    /* args as a list and an empty payload mean the same as a tuple / no args */
    s_task_spec_t none = {.body = "def g():\n    return None\n", .entry = "g", .raw_payload = ""};
    msg = s_expect(ctx, &none, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_exception, true)
{
    s_task_spec_t spec = {
        .body =
            "def helper(x):\n    raise ValueError('bad value %d' % x)\n\ndef f(x):\n    return helper(x)\n",
        .args = "((3,), {})",
    };
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_EXCEPTION, 0);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(r->error_text && strcmp(r->error_text, "ValueError: bad value 3") == 0, "error text %s",
              r->error_text);
        char *repr = s_repr(ctx, r->value);
        CHECK(strcmp(repr, "ValueError('bad value 3')") == 0, "pickled exception %s", repr);
        char *out = s_frame_text(r->output);
        CHECK(s_has(out, "--- remote traceback ---\nTraceback (most recent call last):"), "output: %s",
              out ? out : "(none)");
        CHECK(s_has(out, "raise ValueError('bad value %d' % x)"), "traceback lacks the source line: %s",
              out ? out : "(none)");
        CHECK(s_has(out, "in helper") && !s_has(out, "fx-runner"), "traceback frames: %s", out);
        free(repr);
        free(out);
    }
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_output, true)
{
    s_task_spec_t spec = {
        .body = "import sys\ndef f():\n    print('hello out')\n    print('hello err', file=sys.stderr)\n"
                "    sys.stdout.buffer.write(b'raw bytes\\n')\n    return 7\n",
    };
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *out = s_frame_text(msg->results.results[0].output);
        CHECK(s_has(out, "hello out\nhello err\nraw bytes\n"), "output: %s", out);
        char *repr = s_repr(ctx, msg->results.results[0].value);
        CHECK(strcmp(repr, "7") == 0, "value %s", repr);
        free(out);
        free(repr);
    }
    fx_msg_destroy(&msg);
    /* capped: FX_OUTPUT_MAX kept, the rest counted */
    s_task_spec_t big = {.body = "def f():\n    print('x' * 100000)\n    print('tail')\n"};
    msg = s_expect(ctx, &big, FX_RESULT_OK, 0);
    if (msg) {
        zframe_t *o = msg->results.results[0].output;
        char *out = s_frame_text(o);
        CHECK(zframe_size(o) < FX_OUTPUT_MAX + 100, "output is %zu bytes", zframe_size(o));
        CHECK(s_has(out, "[... 34470 bytes cut]"), "no cut marker: ...%s", out + strlen(out) - 60);
        free(out);
    }
    fx_msg_destroy(&msg);
    /* nothing printed after a task leaks into the next one's output */
    s_task_spec_t quiet = {.body = "def f():\n    return 1\n"};
    msg = s_expect(ctx, &quiet, FX_RESULT_OK, 0);
    if (msg)
        CHECK(zframe_size(msg->results.results[0].output) == 0, "output of a quiet task is %zu bytes",
              zframe_size(msg->results.results[0].output));
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_missing_module, true)
{
    s_task_spec_t spec = {.body = "def f():\n    import fx_no_such_module_42\n    return 1\n"};
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_EXCEPTION, 0);
    if (msg) {
        const char *text = msg->results.results[0].error_text;
        CHECK(text && strcmp(text, "ModuleNotFoundError: No module named 'fx_no_such_module_42'") == 0,
              "error text %s", text);
    }
    fx_msg_destroy(&msg);
    /* the same at the top level of the body */
    s_task_spec_t top = {.body = "import fx_no_such_module_43\ndef f():\n    return 1\n"};
    msg = s_expect(ctx, &top, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "fx_no_such_module_43"), "error text %s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_version_mismatch, true)
{
    s_task_spec_t spec = {.body = "def f():\n    return 1\n", .py_version = "2.7.18"};
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_VERSION_MISMATCH);
    if (msg) {
        char want[128];
        snprintf(want, sizeof want, "client Python 2.7.18 (pickle) vs worker Python %s (pickle)",
                 ctx->python_version);
        CHECK(s_has(msg->results.results[0].error_text, want), "error text %s",
              msg->results.results[0].error_text);
    }
    fx_msg_destroy(&msg);
    /* same major.minor, other micro: runs */
    s_task_spec_t micro = {.body = "def f():\n    return 1\n", .py_version = "3.11.0"};
    msg = s_expect(ctx, &micro, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_bad_pickle, true)
{
    s_task_spec_t spec = {.body = "def f():\n    return 1\n", .raw_payload = "this is not a pickle"};
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg) {
        const char *text = msg->results.results[0].error_text;
        CHECK(s_has(text, "UnpicklingError") && s_has(text, ctx->python_version), "error text %s", text);
    }
    fx_msg_destroy(&msg);
    /* a fine pickle of the wrong shape */
    s_task_spec_t shape = {.body = "def f():\n    return 1\n", .args = "42"};
    msg = s_expect(ctx, &shape, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "(args, kwargs)"), "error text %s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_bad_tasks, true)
{
    fx_msg_t *msg;
    s_task_spec_t syntax = {.body = "def f(:\n    return 1\n"};
    msg = s_expect(ctx, &syntax, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "SyntaxError"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    s_task_spec_t kind = {.kind = -1, .body = "def f():\n    return 1\n"};
    msg = s_expect(ctx, &kind, FX_RESULT_ERROR, FX_E_LOAD);
    fx_msg_destroy(&msg);

    s_task_spec_t entry = {.body = "def g():\n    return 1\n", .entry = "nope"};
    msg = s_expect(ctx, &entry, FX_RESULT_ERROR, FX_E_LOAD);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "defines no 'nope' (it defines: g)"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    s_task_spec_t utf8 = {.body = "def f():\n    return '\xff'\n"};
    msg = s_expect(ctx, &utf8, FX_RESULT_ERROR, FX_E_LOAD);
    fx_msg_destroy(&msg);

    s_task_spec_t exit_ = {.body = "import sys\ndef f():\n    sys.exit(3)\n"};
    msg = s_expect(ctx, &exit_, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "SystemExit: 3"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    s_task_spec_t lambda = {.body = "def f():\n    return lambda: 1\n"};
    msg = s_expect(ctx, &lambda, FX_RESULT_EXCEPTION, 0);
    if (msg)
        CHECK(s_has(msg->results.results[0].error_text, "cannot be pickled"), "%s",
              msg->results.results[0].error_text);
    fx_msg_destroy(&msg);

    /* garbage and an unexpected message type: an ERROR back, the worker lives */
    const char garbage[] = "garbage, not msgpack";
    fx_wlink_send_bytes(ctx->link, ctx->peer, garbage, strlen(garbage));
    msg = s_recv(ctx, S_WAIT_MS);
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
    s_send(ctx, &two);
    msg = s_recv(ctx, S_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_BAD_FIELD && msg->seq == ctx->seq,
          "expected ERROR(BAD_FIELD) echoing seq %u for 2 tasks, got %s", ctx->seq,
          msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    fx_msg_t *credit = fx_msg_new(FX_MSG_CREDIT);
    s_send(ctx, &credit);
    msg = s_recv(ctx, S_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_UNEXPECTED,
          "expected ERROR(UNEXPECTED), got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);

    /* a task that ignores SIGTERM does not keep the worker from stopping
       (the scenario ends with SIGTERM and expects exit 0) */
    s_task_spec_t sigign = {
        .body = "import signal\ndef f():\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"};
    msg = s_expect(ctx, &sigign, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);

    s_task_spec_t good = {.body = "import os\ndef f():\n    return os.getpid()\n"};
    msg = s_expect(ctx, &good, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = s_repr(ctx, msg->results.results[0].value);
        CHECK(atoi(repr) == ctx->pid, "still the same worker: pid %s vs %d", repr, (int) ctx->pid);
        free(repr);
    }
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_shell, true)
{
    char marker[64], args[256], body[256];
    snprintf(marker, sizeof marker, "/tmp/fx-wtest-injected-%d", (int) getpid());
    unlink(marker);
    snprintf(args, sizeof args, "(('hello world', '$(touch %s)'), {'x': '; touch %s'})", marker, marker);
    snprintf(body, sizeof body, "echo {0} {x} {1}; echo to-stderr >&2; exit 3");
    s_task_spec_t spec = {.kind = FX_FN_SHELL, .body = body, .args = args};
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = s_repr(ctx, msg->results.results[0].value);
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
    s_task_spec_t big = {.kind = FX_FN_SHELL, .body = "yes | head -c 100000"};
    msg = s_expect(ctx, &big, FX_RESULT_OK, 0);
    if (msg) {
        char *repr = s_repr(ctx, msg->results.results[0].value);
        CHECK(s_has(repr, "[... 34464 bytes cut]"), "no cut marker in %zu bytes", strlen(repr));
        CHECK(zframe_size(msg->results.results[0].value) < FX_OUTPUT_MAX + 200, "value is %zu bytes",
              zframe_size(msg->results.results[0].value));
        free(repr);
    }
    fx_msg_destroy(&msg);

    s_task_spec_t missing = {.kind = FX_FN_SHELL, .body = "echo {0} {1}", .args = "(('only one',), {})"};
    msg = s_expect(ctx, &missing, FX_RESULT_ERROR, FX_E_SHELL);
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_walltime, true)
{
    int64_t start = fx_now_ms();
    s_task_spec_t spec = {.kind = FX_FN_SHELL, .body = "sleep 30", .walltime_ms = 300};
    fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_ERROR, FX_E_WALLTIME);
    CHECK(fx_now_ms() - start < fx_test_ms(20000), "walltime took %lld ms",
          (long long) (fx_now_ms() - start));
    fx_msg_destroy(&msg);
}

S_SCENARIO(s_test_warm, true)
{
    /* Module-level state survives between calls only if the function was
       compiled once and its namespace kept. */
    char fid[FX_ID_LEN + 1];
    fx_id_new(fid);
    s_task_spec_t spec = {
        .function_id = fid,
        .body =
            "import os\ncalls = []\ndef f(i):\n    calls.append(i)\n    return (os.getpid(), len(calls))\n",
    };
    char args[64], want[64];
    int64_t start = fx_now_ms();
    for (int i = 1; i <= 25; i++) {
        snprintf(args, sizeof args, "((%d,), {})", i);
        spec.args = args;
        fx_msg_t *msg = s_expect(ctx, &spec, FX_RESULT_OK, 0);
        if (!msg)
            return;
        char *repr = s_repr(ctx, msg->results.results[0].value);
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
    s_task_spec_t blocks = {.function_id = fid,
                            .body = "import sys\ndef f():\n    return sys.getallocatedblocks()\n"};
    fx_id_new(fid);
    long counts[60];
    for (int i = 0; i < 60; i++) {
        fx_msg_t *msg = s_expect(ctx, &blocks, FX_RESULT_OK, 0);
        if (!msg)
            return;
        char *repr = s_repr(ctx, msg->results.results[0].value);
        counts[i] = atol(repr);
        free(repr);
        fx_msg_destroy(&msg);
    }
    printf("warm: allocated blocks after 20 tasks %ld, after 60 %ld\n", counts[19], counts[59]);
    CHECK(counts[59] - counts[19] < 40, "Python blocks grew by %ld over 40 tasks", counts[59] - counts[19]);
}

S_SCENARIO(s_test_stop, true)
{
    /* COMMAND is not a message of the worker link (SPEC 5.26): refused,
       and the worker stays; SIGTERM when idle: exit 0 */
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    s_send(ctx, &stop);
    fx_msg_t *msg = s_recv(ctx, S_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_UNEXPECTED,
          "COMMAND: expected ERROR(UNEXPECTED), got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    kill(ctx->pid, SIGTERM);
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM when idle: wait status %d",
          status);
    close(ctx->pidfd);
    ctx->pid = 0;
    fx_wlink_child_gone(ctx->link, ctx->peer);
    /* SIGTERM in the middle of a task: out at once, the task's child too */
    REQUIRE(s_start(ctx) == 0, "second worker did not start");
    fx_id_text_t id;
    char marker[64], body[256];
    snprintf(marker, sizeof marker, "/tmp/fx-wtest-stop-%d", (int) getpid());
    unlink(marker);
    snprintf(body, sizeof body, "echo $$ > %s.tmp; mv %s.tmp %s; sleep 30", marker, marker, marker);
    s_task_spec_t spec = {.kind = FX_FN_SHELL, .body = body};
    REQUIRE(s_send_task(ctx, &spec, id) == 0, "cannot send");
    int64_t deadline = fx_now_ms() + S_WAIT_MS;
    while (access(marker, F_OK) != 0 && fx_now_ms() < deadline)
        poll(NULL, 0, 10); /* waits for the file, with a deadline */
    FILE *f = fopen(marker, "r");
    REQUIRE(f, "the shell task never started");
    int shell_pid = 0;
    CHECK(fscanf(f, "%d", &shell_pid) == 1, "no pid in %s", marker);
    fclose(f);
    unlink(marker);
    kill(ctx->pid, SIGTERM);
    status = fx_test_wait_exit(ctx->pid, ctx->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status), "SIGTERM mid-task: wait status %d", status);
    ctx->pid = 0;
    /* the shell was killed with its group (it may linger as a zombie of init for a moment) */
    int shell_fd = shell_pid > 0 ? fx_test_pidfd_open(shell_pid) : -1;
    struct pollfd p = {shell_fd, POLLIN, 0};
    CHECK(shell_fd < 0 || poll(&p, 1, S_WAIT_MS) == 1, "shell pid %d still runs", shell_pid);
    if (shell_fd >= 0)
        close(shell_fd);
done:;
}

S_SCENARIO(s_test_refused, false)
{
    /* the manager answers READY with ERROR: the worker leaves, status 1 */
    fx_wlink_send_error(ctx->link, ctx->peer, ctx->ready_seq, FX_E_FORBIDDEN, "not one of my workers (test)");
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "refused READY: wait status %d",
          status);
    if (status != -1)
        ctx->pid = 0;
}

/* TASKS before WELCOME: ERROR(NO_SESSION) and nothing runs (SPEC 5.26.1);
   after the WELCOME the same task runs. */
S_SCENARIO(s_test_no_session, false)
{
    s_task_spec_t spec = {.body = "def f():\n    return 'ran'\n"};
    fx_id_text_t id;
    REQUIRE(s_send_task(ctx, &spec, id) == 0, "cannot send");
    fx_msg_t *msg = s_recv(ctx, S_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == FX_E_NO_SESSION && msg->seq == ctx->seq,
          "TASKS before WELCOME: expected ERROR(NO_SESSION) echoing seq %u, got %s", ctx->seq,
          msg ? fx_msg_type_name(msg->type) : "nothing");
    fx_msg_destroy(&msg);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    welcome->seq = ctx->ready_seq;
    REQUIRE(fx_wlink_send(ctx->link, ctx->peer, &welcome) == FX_OK, "cannot send WELCOME");
    msg = s_expect(ctx, &spec, FX_RESULT_OK, 0);
    fx_msg_destroy(&msg);
done:;
}

static bool s_frames_equal(zframe_t *a, zframe_t *b)
{
    size_t la = a ? zframe_size(a) : 0, lb = b ? zframe_size(b) : 0;
    return la == lb && (la == 0 || memcmp(zframe_data(a), zframe_data(b), la) == 0);
}

/* The C fast path (fx_pyrun.c) and the runner's run() give the same
   result: each case runs twice with one function id, the first time
   through run() (the function is not cached yet), the second through the
   fast path. */
S_SCENARIO(s_test_fast_path, true)
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
        s_task_spec_t spec = {
            .function_id = fid, .body = cases[i].body, .args = cases[i].args, .raw_payload = cases[i].raw};
        fx_msg_t *first = s_run(ctx, &spec), *second = s_run(ctx, &spec);
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
            CHECK(s_frames_equal(a->value, b->value), "case %zu: values differ", i);
            char *oa = s_frame_text(a->output), *ob = s_frame_text(b->output);
            CHECK(s_frames_equal(a->output, b->output), "case %zu: output \"%.300s\" then \"%.300s\"", i, oa,
                  ob);
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
    if (argc < 3) {
        fprintf(stderr, "usage: fx_worker_test FX_WORKER PYTHON [SCENARIO...|all]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s_ctx_t ctx = {.worker_bin = argv[1], .python = argv[2], .pid = 0, .pidfd = -1};
    char err[256];
    ctx.link = fx_wlink_new(err, sizeof err);
    if (!ctx.link) {
        fprintf(stderr, "cannot make the worker link: %s\n", err);
        return 1;
    }
    ctx.pickler = fx_test_pickler_new(ctx.python, S_WAIT_MS, NULL, NULL);
    if (!ctx.pickler) {
        fprintf(stderr, "cannot start %s to make pickles\n", ctx.python);
        return 1;
    }
    int status = fx_test_main(argv[0], argc - 3, argv + 3, s_tests, sizeof s_tests / sizeof s_tests[0], &ctx);
    fx_test_pickler_destroy(&ctx.pickler);
    fx_wlink_destroy(&ctx.link);
    return status;
}
