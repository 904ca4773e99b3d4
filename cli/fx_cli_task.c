/*  fx_cli_task.c: the verbs about given tasks: `fx task show TASK`,
    `fx result TASK` and `fx cancel TASK...`.

    show and result read the task's result even when its client has not
    taken it yet (one result, asked for by id; fx_cli_state.c says what
    that costs). result prints the value through this machine's Python
    ($FX_PYTHON, else python3: the value is a pickle, SPEC 12.1), or its
    bytes with --raw; a function that raised prints its error and remote
    traceback on stderr and exits 1. cancel asks STATUS before and CANCEL
    after, so it can say what became of each task. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_cli.h"

#define S_POLL_MS 250

/* One result, copied out of its message. */
typedef struct {
    bool found;
    fx_result_t meta; /* status, error_code, times; no frames, no text */
    char text[FX_TEXT_MAX + 1];
    unsigned char *value, *output;
    size_t value_len, output_len;
} s_result_t;

static unsigned char *s_copy(zframe_t *frame, size_t *len)
{
    *len = frame ? zframe_size(frame) : 0;
    unsigned char *copy = malloc(*len + 1);
    if (copy && *len)
        memcpy(copy, zframe_data(frame), *len);
    return copy;
}

static void s_keep(const fx_result_t *result, void *arg)
{
    s_result_t *r = arg;
    if (r->found)
        return;
    r->found = true;
    r->meta = *result;
    r->meta.error_text = NULL;
    r->meta.value = r->meta.output = NULL;
    fx_strlcpy(r->text, result->error_text ? result->error_text : "", sizeof r->text);
    r->value = s_copy(result->value, &r->value_len);
    r->output = s_copy(result->output, &r->output_len);
}

static void s_result_free(s_result_t *r)
{
    free(r->value);
    free(r->output);
}

static bool s_ended(int wire)
{
    return wire == FX_TASK_DONE || wire == FX_TASK_DELIVERED || wire == FX_TASK_FAILED;
}

/* The task's result, if it has one; -1 after saying why. */
static int s_read_result(fx_cli_link_t *link, const char *id, s_result_t *r)
{
    memset(r, 0, sizeof *r);
    char err[1024];
    fx_id_text_t ids[1];
    fx_strlcpy(ids[0], id, sizeof ids[0]);
    if (fx_cli_fetch(link, ids, 1, s_keep, r, err, sizeof err) != 0) {
        fx_cli_fail("%s", err);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- task show */

static void s_line(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_line(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-10s ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* The stamps of SPEC 12.5 by name, for the provenance lines. */
static const char *const s_stamp_names[FX_TIMES_MAX] = {
    [FX_TIME_CLIENT_SENT] = "client sent",
    [FX_TIME_BROKER_RECEIVED] = "broker received",
    [FX_TIME_BROKER_WRITTEN] = "broker written",
    [FX_TIME_BROKER_DURABLE] = "broker durable",
    [FX_TIME_BROKER_DISPATCHED] = "broker dispatched",
    [FX_TIME_IX_RECEIVED] = "interchange received",
    [FX_TIME_IX_DISPATCHED] = "interchange dispatched",
    [FX_TIME_MANAGER_RECEIVED] = "manager received",
    [FX_TIME_WORKER_STARTED] = "worker started",
    [FX_TIME_WORKER_FINISHED] = "worker finished",
    [FX_TIME_MANAGER_SENT] = "manager sent",
    [FX_TIME_IX_RESULT] = "interchange result",
    [FX_TIME_BROKER_RESULT] = "broker result",
    [FX_TIME_BROKER_RESULT_DURABLE] = "result durable",
    [FX_TIME_BROKER_PUSHED] = "broker pushed",
    [FX_TIME_CLIENT_RECEIVED] = "client received",
};

/* PROVENANCE of the task (SPEC 12.6): what made its result. A broker that
   does not serve it (an older one) leaves the lines out. */
/* "2026-12-01 10:02:00.123456" from wall us. */
static void s_us_text(uint64_t us, char *out, size_t cap)
{
    time_t secs = (time_t) (us / 1000000);
    struct tm tm;
    char when[32] = "-";
    if (gmtime_r(&secs, &tm))
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, cap, "%s.%06u", when, (unsigned) (us % 1000000));
}

/* When it ran on its worker, from the stamps its result brought (SPEC
   12.5: the broker keeps them with the stored result). */
static void s_ran(const uint64_t *times)
{
    uint64_t started = times[FX_TIME_WORKER_STARTED], finished = times[FX_TIME_WORKER_FINISHED];
    char a[48], b[48];
    if (started && finished >= started) {
        s_us_text(started, a, sizeof a);
        s_us_text(finished, b, sizeof b);
        s_line("ran", "on its worker from %s to %s UTC (%.3f s)", a, b, (double) (finished - started) / 1e6);
    }
    else if (started) {
        s_us_text(started, a, sizeof a);
        s_line("ran", "on its worker from %s UTC; its result does not say when it finished", a);
    }
}

static void s_provenance(fx_cli_link_t *link, const char *id)
{
    char err[1024];
    fx_msg_t *req = fx_msg_new(FX_MSG_PROVENANCE);
    if (req && fx_msg_alloc_records(req, 1) == FX_OK)
        fx_strlcpy(req->ids.ids[0], id, sizeof req->ids.ids[0]);
    else
        fx_msg_destroy(&req);
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_PROVENANCE_REPLY, err, sizeof err);
    if (!reply || reply->provenance_reply.count != 1 ||
        reply->provenance_reply.tasks[0].state == FX_TASK_UNKNOWN) {
        fx_msg_destroy(&reply);
        return;
    }
    const fx_provenance_t *p = &reply->provenance_reply.tasks[0];
    s_line("version", "%s", p->function_version[0] ? p->function_version : "- (registered before versions)");
    s_line("commit", "%s", p->commit[0] ? p->commit : "-");
    s_line("serializer", "%s (client Python %s%s%s)", p->serializer[0] ? p->serializer : "-",
           p->py_version[0] ? p->py_version : "?", p->dill_version[0] ? ", dill " : "", p->dill_version);
    if (p->host[0] || p->worker_pid) {
        s_line("host", "%s, worker pid %u, %s", p->host[0] ? p->host : "-", p->worker_pid,
               p->worker_runtime[0] ? p->worker_runtime : "runtime not said");
        s_line("container", "%s%s%s", p->container[0] ? p->container : "- (the host)",
               p->image_digest[0] ? ", image " : "", p->image_digest);
        s_line("attempt", "%u", p->attempt);
    }
    s_ran(p->times);
    for (int k = 0; k < FX_TIMES_MAX; k++)
        if (p->times[k]) {
            char when[48];
            s_us_text(p->times[k], when, sizeof when);
            printf("  %-22s %s UTC\n", s_stamp_names[k] ? s_stamp_names[k] : "?", when);
        }
    fx_msg_destroy(&reply);
}

int fx_cli_task_show(const fx_cli_args_t *args)
{
    int rc;
    fx_cli_link_t *link = fx_cli_task_link(args, &rc);
    if (!link)
        return rc;
    const char *id = args->argv[0];
    fx_cli_tables_t t = {0};
    s_result_t r = {0};
    fx_msg_t *status = fx_cli_status_of(link, (char **) &id, 1);
    if (!status)
        goto done;
    fx_task_status_t *s = &status->status_reply.tasks[0];
    if (s->state == FX_TASK_UNKNOWN) {
        fx_cli_fail("no task %s of yours (`fx tasks` lists yours)", id);
        goto done;
    }
    if (fx_cli_tables_load(link, FX_LIST_ROWS_MAX, &t) != 0)
        goto done;
    fx_cli_task_t task;
    memset(&task, 0, sizeof task);
    bool listed = false;
    int id_col = fx_cli_column(t.tasks, "id");
    for (uint32_t row = 1; row < t.tasks->list_reply.rows && !listed; row++)
        if (strcmp(fx_cli_cell(t.tasks, row, id_col), id) == 0) {
            fx_cli_task_from_row(&t, row, &task);
            listed = true;
        }
    fx_cli_state_from_wire(s->state, &task.st); /* STATUS is the newer word */
    if (s_ended(s->state) && s_read_result(link, id, &r) != 0)
        goto done;
    if (r.found) {
        fx_result_t res = r.meta;
        res.error_text = r.text;
        fx_cli_state_from_result(&res, &task.st);
    }
    char state[64];
    fx_cli_state_text(&task.st, state, sizeof state);
    s_line("task", "%s", id);
    s_line("state", "%s", state);
    if (task.st.error[0])
        s_line("error", "%s", task.st.error);
    if (listed)
        s_line("function", "%s (%s)", task.function, task.function_id);
    else
        s_line("function", "- (not among the newest %d tasks the broker lists)", FX_LIST_ROWS_MAX);
    const char *ep_name = fx_cli_lookup(t.endpoints, s->endpoint_id, "name");
    const char *online = fx_cli_lookup(t.endpoints, s->endpoint_id, "status");
    s_line("endpoint", "%s (%s)%s%s", ep_name && ep_name[0] ? ep_name : "-", s->endpoint_id,
           online && online[0] ? ", " : "", online ? online : "");
    s_line("attempts", "%u", s->attempts);
    s_line("submitted", "%s", task.submitted[0] ? task.submitted : "- (this broker does not say)");
    s_line("finished", "%s",
           task.finished[0]    ? task.finished
           : s_ended(s->state) ? "- (this broker does not say)"
                               : "-");
    if (r.found)
        s_line("result", "value %zu bytes, output %zu bytes: `fx result %s` prints them", r.value_len,
               r.output_len, id);
    else if (s_ended(s->state))
        s_line("result", "- (no longer kept by the broker)");
    s_provenance(link, id);
    rc = FX_CLI_OK;
done:
    s_result_free(&r);
    fx_cli_tables_free(&t);
    fx_msg_destroy(&status);
    fx_cli_link_destroy(&link);
    return rc;
}

/* ---------------------------------------------------------------- result */

/* The value (a pickle, or pickle 5 in the FXP5 framing of SPEC 12.1.1) as
   this machine's Python shows it. 0, or -1 after saying why. */
static int s_show_value(const unsigned char *data, size_t len)
{
    static const char code[] =
        "import pickle, pprint, struct, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "def fxp5(d):\n"
        "    n, = struct.unpack_from('<I', d, 4)\n"
        "    lens = struct.unpack_from('<%dQ' % n, d, 8)\n"
        "    at = 8 + 8 * n\n"
        "    size, = struct.unpack_from('<Q', d, at)\n"
        "    stream, at = d[at + 8:at + 8 + size], at + 8 + size\n"
        "    bufs = []\n"
        "    for n in lens:\n"
        "        bufs.append(memoryview(d)[at:at + n])\n"
        "        at += n\n"
        "    return pickle.loads(stream, buffers=bufs)\n"
        "try:\n"
        "    value = fxp5(data) if data[:4] == b'FXP5' else pickle.loads(data)\n"
        "except Exception as e:\n"
        "    sys.stderr.write('fx: this machine\\'s Python cannot load the value: %s: %s\\n' % "
        "(type(e).__name__, e))\n"
        "    sys.exit(3)\n"
        "sys.stdout.write(value if isinstance(value, str) else pprint.pformat(value))\n"
        "sys.stdout.write('\\n')\n";
    const char *python = getenv("FX_PYTHON");
    if (!python || !*python)
        python = "python3";
    int fds[2];
    if (pipe(fds) != 0) {
        fx_cli_fail("cannot make a pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        dup2(fds[0], STDIN_FILENO);
        close(fds[0]);
        execlp(python, python, "-c", code, (char *) NULL);
        fprintf(stderr, "fx: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        fx_cli_fail("cannot start %s: %s", python, strerror(errno));
        return -1;
    }
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fds[1], data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t) n;
    }
    close(fds[1]);
    signal(SIGPIPE, old);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fx_cli_fail(
        "the value (%zu bytes, a pickle) cannot be shown here; `fx result TASK --raw > FILE` writes its "
        "bytes (set $FX_PYTHON to a Python that has the modules it needs)",
        len);
    return -1;
}

/* The captured output (and for an exception the remote traceback) on stderr. */
static void s_print_output(const s_result_t *r, const char *title)
{
    if (r->output_len == 0)
        return;
    fprintf(stderr, "--- %s ---\n", title);
    fwrite(r->output, 1, r->output_len, stderr);
    if (r->output[r->output_len - 1] != '\n')
        fputc('\n', stderr);
}

/* STATUS until the task ended or wait_s passed (0: ask once). */
static fx_msg_t *s_wait_ended(fx_cli_link_t *link, const char *id, long wait_s)
{
    int64_t deadline = fx_now_ms() + (wait_s > 0 ? wait_s * 1000 : 0);
    while (true) {
        fx_msg_t *status = fx_cli_status_of(link, (char **) &id, 1);
        if (!status || s_ended(status->status_reply.tasks[0].state) ||
            status->status_reply.tasks[0].state == FX_TASK_UNKNOWN || fx_now_ms() + S_POLL_MS > deadline)
            return status;
        fx_msg_destroy(&status);
        usleep(S_POLL_MS * 1000);
    }
}

int fx_cli_result(const fx_cli_args_t *args)
{
    int rc;
    fx_cli_link_t *link = fx_cli_task_link(args, &rc);
    if (!link)
        return rc;
    const char *id = args->argv[0];
    s_result_t r = {0};
    fx_msg_t *status = s_wait_ended(link, id, args->wait_s);
    if (!status)
        goto done;
    int wire = status->status_reply.tasks[0].state;
    fx_cli_task_state_t st;
    fx_cli_state_from_wire(wire, &st);
    if (wire == FX_TASK_UNKNOWN) {
        fx_cli_fail("no task %s of yours (`fx tasks` lists yours)", id);
        goto done;
    }
    if (!s_ended(wire)) {
        fx_cli_fail("task %s is %s: no result yet%s", id, fx_cli_state_name(st.state),
                    args->wait_s > 0 ? " after waiting" : "; --wait SECONDS waits for it");
        goto done;
    }
    if (s_read_result(link, id, &r) != 0)
        goto done;
    if (!r.found) {
        fx_cli_fail("the broker no longer holds the result of %s (results are purged some days after their "
                    "client took them)",
                    id);
        goto done;
    }
    fx_result_t res = r.meta;
    res.error_text = r.text;
    fx_cli_state_from_result(&res, &st);
    if (st.state == FX_CLI_TASK_SUCCEEDED) {
        s_print_output(&r, "what the function printed");
        if (args->raw)
            rc = fwrite(r.value, 1, r.value_len, stdout) == r.value_len && fflush(stdout) == 0
                     ? FX_CLI_OK
                     : FX_CLI_FAILED;
        else
            rc = s_show_value(r.value, r.value_len) == 0 ? FX_CLI_OK : FX_CLI_FAILED;
        goto done;
    }
    char state[64];
    fx_cli_state_text(&st, state, sizeof state);
    fx_cli_fail("task %s %s: %s", id, state, r.text[0] ? r.text : "(no message)");
    s_print_output(&r, st.reason[0] && strcmp(st.reason, "exception") == 0 ? "what the function printed, and "
                                                                             "where it raised"
                                                                           : "what the function printed");
    if (args->raw && r.value_len)
        fwrite(r.value, 1, r.value_len, stdout);
done:
    s_result_free(&r);
    fx_msg_destroy(&status);
    fx_cli_link_destroy(&link);
    return rc;
}

/* ---------------------------------------------------------------- cancel */

int fx_cli_cancel(const fx_cli_args_t *args)
{
    int rc;
    fx_cli_link_t *link = fx_cli_task_link(args, &rc);
    if (!link)
        return rc;
    char err[1024];
    fx_msg_t *after = NULL, *before = fx_cli_status_of(link, args->argv, args->argc);
    if (!before)
        goto done;
    fx_msg_t *req = fx_msg_new(FX_MSG_CANCEL);
    if (req && fx_msg_alloc_records(req, (uint32_t) args->argc) == FX_OK) {
        for (int i = 0; i < args->argc; i++)
            fx_strlcpy(req->cancel.ids[i], args->argv[i], sizeof req->cancel.ids[i]);
        req->cancel.queued_only = 0;
    }
    else
        fx_msg_destroy(&req);
    if (!(after = fx_cli_link_call(link, &req, FX_MSG_STATUS_REPLY, err, sizeof err))) {
        fx_cli_fail("%s", err);
        goto done;
    }
    rc = FX_CLI_OK;
    for (uint32_t i = 0; i < after->status_reply.count && i < before->status_reply.count; i++) {
        const char *id = after->status_reply.tasks[i].task_id;
        int was = before->status_reply.tasks[i].state, now = after->status_reply.tasks[i].state;
        if (now == FX_TASK_UNKNOWN) {
            printf("%s: no such task of yours\n", id);
            rc = FX_CLI_FAILED;
        }
        else if (was == FX_TASK_QUEUED && now == FX_TASK_FAILED)
            printf("%s: cancelled (it had not run)\n", id);
        else if (was == FX_TASK_DISPATCHED && now == FX_TASK_FAILED)
            printf("%s: cancelled (its endpoint was offline, so it had not run to a result)\n", id);
        else if (now == FX_TASK_DISPATCHED)
            printf(
                "%s: cancelling: its endpoint stops it and sends the result (`fx task show %s` says when)\n",
                id, id);
        else if (s_ended(was))
            printf("%s: already ended, nothing to cancel (`fx task show %s`)\n", id, id);
        else {
            fx_cli_task_state_t st;
            fx_cli_state_from_wire(now, &st);
            printf("%s: %s\n", id, fx_cli_state_name(st.state));
        }
    }
done:
    fx_msg_destroy(&before);
    fx_msg_destroy(&after);
    fx_cli_link_destroy(&link);
    return rc;
}
