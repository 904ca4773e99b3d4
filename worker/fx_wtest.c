/*  fx_wtest.c: the worker tests' fake manager; see fx_wtest.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_wtest.h"

/* ------------------------------------------------ processes */

zframe_t *fx_wt_pickle(fx_wt_ctx_t *ctx, const char *expr)
{
    return fx_test_pickler_pickle(ctx->pickler, expr);
}

char *fx_wt_repr(fx_wt_ctx_t *ctx, zframe_t *frame)
{
    return fx_test_pickler_repr(ctx->pickler, frame);
}

/* The output frame as a string; caller frees. */
char *fx_wt_frame_text(zframe_t *frame)
{
    return frame ? zframe_strdup(frame) : strdup("");
}

/* ------------------------------------------------ the fake manager */

/* Next message from the worker, or NULL after ms. */
fx_msg_t *fx_wt_recv(fx_wt_ctx_t *ctx, int ms)
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

int fx_wt_start(fx_wt_ctx_t *ctx)
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
    fx_msg_t *msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
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

int fx_wt_send(fx_wt_ctx_t *ctx, fx_msg_t **msg_p)
{
    (*msg_p)->seq = ++ctx->seq;
    return fx_wlink_send(ctx->link, ctx->peer, msg_p);
}

/* Sends one task; its id in task_id. */
int fx_wt_send_task(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, fx_id_text_t task_id)
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
    fx_strlcpy(t->serializer, spec->serializer ? spec->serializer : "pickle", sizeof t->serializer);
    fx_strlcpy(t->function_version, spec->version ? spec->version : "", sizeof t->function_version);
    fx_strlcpy(t->dill_version, spec->dill_version ? spec->dill_version : "", sizeof t->dill_version);
    fx_stamp(t->times, FX_TIME_MANAGER_RECEIVED); /* as fx-manager does; the worker copies it */
    t->walltime_ms = spec->walltime_ms;
    t->body = spec->body_frame ? zframe_dup(spec->body_frame) : zframe_new(spec->body, strlen(spec->body));
    if (spec->payload_frame)
        t->payload = zframe_dup(spec->payload_frame);
    else if (spec->raw_payload)
        t->payload = zframe_new(spec->raw_payload, strlen(spec->raw_payload));
    else
        t->payload = fx_wt_pickle(ctx, spec->args ? spec->args : "((), {})");
    strcpy(task_id, t->task_id);
    if (!t->payload) {
        fx_msg_destroy(&msg);
        return -1;
    }
    return fx_wt_send(ctx, &msg) == FX_OK ? 0 : -1;
}

/* Sends a task and waits for its RESULTS; NULL (after a CHECK) if none. */
fx_msg_t *fx_wt_run(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec)
{
    fx_id_text_t id;
    if (fx_wt_send_task(ctx, spec, id) != 0) {
        CHECK(0, "cannot build or send the task");
        return NULL;
    }
    fx_msg_t *msg = fx_wt_recv(ctx, FX_WT_WAIT_MS);
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
fx_msg_t *fx_wt_expect(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, int status, int code)
{
    fx_msg_t *msg = fx_wt_run(ctx, spec);
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

bool fx_wt_has(const char *text, const char *part)
{
    return text && strstr(text, part);
}

/* Stops the worker with SIGTERM and checks it exits 0 in time. */
void fx_wt_stop_worker(fx_wt_ctx_t *ctx)
{
    if (ctx->pid <= 0)
        return;
    kill(ctx->pid, SIGTERM);
    int status = fx_test_wait_exit(ctx->pid, ctx->pidfd, FX_WT_WAIT_MS);
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
void fx_wt_scenario(fx_wt_ctx_t *ctx, void (*body)(fx_wt_ctx_t *), bool welcome)
{
    ctx->no_welcome = !welcome;
    if (fx_wt_start(ctx) == 0)
        body(ctx);
    fx_wt_stop_worker(ctx);
    if (ctx->pidfd >= 0)
        close(ctx->pidfd);
    ctx->pidfd = -1;
}

bool fx_wt_frames_equal(zframe_t *a, zframe_t *b)
{
    size_t la = a ? zframe_size(a) : 0, lb = b ? zframe_size(b) : 0;
    return la == lb && (la == 0 || memcmp(zframe_data(a), zframe_data(b), la) == 0);
}

/* Writes all of in to fd, then closes it; false if the reader went away. */
static bool s_write_all(int fd, zframe_t *in)
{
    const unsigned char *p = in ? zframe_data(in) : NULL;
    size_t left = in ? zframe_size(in) : 0;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t) n;
    }
    close(fd);
    return left == 0;
}

zframe_t *fx_wt_python(fx_wt_ctx_t *ctx, const char *script, zframe_t *in)
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0)
        return NULL;
    if (pipe2(from, O_CLOEXEC) != 0) {
        close(to[0]);
        close(to[1]);
        return NULL;
    }
    char *argv[] = {(char *) ctx->python, "-c", (char *) script, NULL};
    pid_t pid = fx_test_spawn(argv, to[0], from[1]);
    close(to[0]);
    close(from[1]);
    /* the script reads all its input before it writes (a pipe's worth) */
    bool wrote = s_write_all(to[1], in);
    zchunk_t *out = zchunk_new(NULL, 0);
    int64_t deadline = fx_now_ms() + FX_WT_WAIT_MS;
    for (;;) {
        struct pollfd p = {.fd = from[0], .events = POLLIN};
        int64_t left = deadline - fx_now_ms();
        if (left <= 0 || poll(&p, 1, (int) left) <= 0)
            break;
        unsigned char buf[65536];
        ssize_t n = read(from[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        zchunk_extend(out, buf, (size_t) n);
    }
    close(from[0]);
    int pidfd = fx_test_pidfd_open(pid);
    int status = fx_test_wait_exit(pid, pidfd, FX_WT_WAIT_MS);
    if (pidfd >= 0)
        close(pidfd);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    zframe_t *frame = NULL;
    CHECK(wrote && status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "%s -c failed (wait status %d): %.200s", ctx->python, status, script);
    if (wrote && status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        frame = zframe_new(zchunk_data(out), zchunk_size(out));
    zchunk_destroy(&out);
    return frame;
}

int fx_wt_main(int argc, char **argv, const fx_scenario_t *tests, size_t count)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FX_WORKER PYTHON [SCENARIO...|all]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    fx_wt_ctx_t ctx = {.worker_bin = argv[1], .python = argv[2], .pid = 0, .pidfd = -1};
    char err[256];
    ctx.link = fx_wlink_new(err, sizeof err);
    if (!ctx.link) {
        fprintf(stderr, "cannot make the worker link: %s\n", err);
        return 1;
    }
    ctx.pickler = fx_test_pickler_new(ctx.python, FX_WT_WAIT_MS, NULL, NULL);
    if (!ctx.pickler) {
        fprintf(stderr, "cannot start %s to make pickles\n", ctx.python);
        return 1;
    }
    int status = fx_test_main(argv[0], argc - 3, argv + 3, tests, count, &ctx);
    fx_test_pickler_destroy(&ctx.pickler);
    fx_wlink_destroy(&ctx.link);
    return status;
}
