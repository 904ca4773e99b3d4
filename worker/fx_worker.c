/*  fx-worker: runs one task at a time for its manager.

        fx-worker --link-fd N

    Connected to its manager over the worker link (fx_wlink.h: its end of a
    socketpair the manager made, inherited as descriptor N). On
    start it sends READY(pid, python_version), then serves TASKS (one task
    each) with RESULTS (one result each), reusing one embedded interpreter
    for every task.

    Its states are SPEC 6.4's (worker side): START, HELLO_SENT once READY is
    sent, IDLE once WELCOMEd, BUSY while a task runs; they change only
    through s_on, along a row of s_moves (the SPEC's table). A TASKS with a
    count other than 1 gets ERROR(BAD_FIELD) and nothing runs; anything
    before WELCOME but an ERROR gets ERROR(NO_SESSION), and types a manager
    does not send get ERROR(UNEXPECTED) (SPEC 5.26.1, fx_link_admit); an
    ERROR answering READY means the manager refused us (exit 1). It stops
    on SIGTERM/SIGINT, or when its parent goes away (PR_SET_PDEATHSIG, the
    link closing, and a getppid() check every second). A signal
    while a task runs ends the process at once (the manager is stopping it;
    the task is lost either way); idle, it finalises Python and exits 0. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "fx_memory.h"
#include "fx_clock.h"
#include "fx_link.h"
#include "fx_log.h"
#include "fx_msg.h"
#include "fx_pyrun.h"
#include "fx_wlink.h"

/* How often the loop wakes to check that its parent is still there. */
#define S_PARENT_CHECK_MS 1000

/* SPEC 6.4, worker side. */
typedef enum {
    FX_WORKER_START = 0,  /* connecting; READY not yet sent */
    FX_WORKER_HELLO_SENT, /* READY sent, no WELCOME yet */
    FX_WORKER_IDLE,       /* WELCOMEd; no task */
    FX_WORKER_BUSY,       /* running a task (reads nothing meanwhile) */
} fx_worker_state_t;

/* What happens to the worker (the "event" column of SPEC 6.4). */
typedef enum {
    S_READY_SENT, /* READY went out */
    S_WELCOME,    /* the manager's WELCOME */
    S_TASK,       /* TASKS with one task: it runs */
    S_DONE,       /* the task ended; RESULTS sent */
} s_event_t;

/* SPEC 6.4, worker side: every transition. A pair (state, event) that is
   not here changes nothing. */
static const struct {
    fx_worker_state_t from;
    s_event_t event;
    fx_worker_state_t to;
} s_moves[] = {
    {FX_WORKER_START, S_READY_SENT, FX_WORKER_HELLO_SENT},
    {FX_WORKER_HELLO_SENT, S_WELCOME, FX_WORKER_IDLE},
    {FX_WORKER_IDLE, S_TASK, FX_WORKER_BUSY},
    {FX_WORKER_BUSY, S_DONE, FX_WORKER_IDLE},
};

static volatile sig_atomic_t s_state; /* fx_worker_state_t; the signal handler reads it */
static volatile sig_atomic_t s_stop;
static pid_t s_parent;

/* Takes the transition of (state, event): true, or false (state unchanged). */
static bool s_on(s_event_t event)
{
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++)
        if (s_moves[i].from == (fx_worker_state_t) s_state && s_moves[i].event == event) {
            s_state = s_moves[i].to;
            return true;
        }
    return false;
}

/* SIGTERM/SIGINT: idle, the loop notices s_stop; inside a task there is no
   safe point to return to, so kill the shell command (if any) and leave. */
static void s_on_signal(int sig)
{
    s_stop = 1;
    if (s_state == FX_WORKER_BUSY) {
        pid_t child = fx_pyrun_child();
        if (child > 0)
            kill(-child, SIGKILL);
        _exit(0);
    }
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait for the next message returns on the signal */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: fx-worker --link-fd N [--in-container]\n"
                 "  Runs tasks for the fx-manager that started it, over its end of the worker link,\n"
                 "  inherited as file descriptor N.\n"
                 "  --in-container  started through a container runtime (the manager's launch\n"
                 "                  template): the link's maker is not our parent, so only the\n"
                 "                  descriptor's type is checked (SPEC 2.4.2)\n");
}

/* seq of READY, the worker's one request. */
#define S_READY_SEQ 1

static int s_exit_status; /* 1 once the manager answered READY with ERROR */

static void s_refuse(fx_wlink_conn_t *link, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ERROR to the manager, within the ERROR budget; logged either way. */
static void s_refuse(fx_wlink_conn_t *link, uint32_t seq, int code, const char *fmt, ...)
{
    char text[FX_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_warn("refused a message from the manager (%s): %s", fx_errname(code), text);
    fx_wlink_conn_send_error(link, seq, code, "%s", text);
}

/* Runs the one task of a TASKS message and sends its RESULTS. */
static void s_serve_task(fx_pyrun_t *py, fx_wlink_conn_t *link, fx_msg_t *msg)
{
    if (msg->tasks.count != 1) {
        s_refuse(link, msg->seq, FX_E_BAD_FIELD,
                 "TASKS to a worker must carry exactly 1 task, not %u; none was run", msg->tasks.count);
        return;
    }
    fx_task_t *task = &msg->tasks.tasks[0];
    fx_msg_t *reply = fx_msg_new(FX_MSG_RESULTS);
    if (!reply || fx_msg_alloc_records(reply, 1) != FX_OK) {
        fx_msg_destroy(&reply);
        s_refuse(link, msg->seq, FX_E_NOMEM, "fx-worker is out of memory; task %s not run", task->task_id);
        return;
    }
    if (!s_on(S_TASK)) {
        fx_msg_destroy(&reply);
        s_refuse(link, msg->seq, FX_E_UNEXPECTED, "TASKS while not IDLE; task %s not run", task->task_id);
        return;
    }
    /* provenance (SPEC 12.5, 12.6): the task's stamps, the run's own, who ran it */
    fx_result_t *result = &reply->results.results[0];
    memcpy(result->times, task->times, sizeof result->times);
    fx_stamp(result->times, FX_TIME_WORKER_STARTED);
    fx_pyrun_run(py, task, result);
    fx_stamp(result->times, FX_TIME_WORKER_FINISHED);
    result->worker_pid = (uint32_t) getpid();
    fx_strlcpy(result->worker_runtime, fx_pyrun_runtime(py), sizeof result->worker_runtime);
    s_on(S_DONE);
    if (fx_pyrun_signals_changed(py))
        s_install_signals(); /* the task called signal.signal(): ours again */
    reply->seq = 0;          /* not a request, not a reply (SPEC 3.6.3) */
    int rc = fx_wlink_conn_send(link, &reply);
    if (rc != FX_OK)
        fx_warn("cannot send the result of task %s: %s", task->task_id, fx_strerror(rc));
}

/* One message from the manager (rc, seq, detail: fx_wlink_conn_recv's). */
static void s_handle(fx_pyrun_t *py, fx_wlink_conn_t *link, int rc, fx_msg_t *msg, uint32_t seq,
                     const char *detail)
{
    if (rc != FX_OK) {
        s_refuse(link, seq, rc, "fx-worker cannot read the message: %s (%s)", fx_strerror(rc), detail);
        return;
    }
    /* SPEC 5.26.1, the one arrival check: the session starts with WELCOME */
    bool welcomed = s_state == FX_WORKER_IDLE || s_state == FX_WORKER_BUSY;
    fx_admit_t verdict = fx_link_admit(FX_LINK_WORKER, FX_FROM_SERVING, welcomed, msg->type);
    char why[FX_TEXT_MAX];
    switch (verdict) {
    case FX_ADMIT_HELLO:
        s_on(S_WELCOME);
        break; /* a second WELCOME changes nothing */
    case FX_ADMIT_OK:
        s_serve_task(py, link, msg);
        break; /* TASKS: the only other thing a manager sends */
    case FX_ADMIT_NO_SESSION:
    case FX_ADMIT_UNEXPECTED:
        s_refuse(link, msg->seq, fx_link_refusal_code(verdict), "%s",
                 fx_link_refusal(FX_LINK_WORKER, FX_FROM_SERVING, verdict, msg->type, why, sizeof why));
        break;
    case FX_ADMIT_REPORT:
        fx_warn("manager says %s: %s", fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        if (s_state == FX_WORKER_HELLO_SENT && msg->seq == S_READY_SEQ) {
            fx_error("the manager refused READY; exiting");
            s_stop = 1;
            s_exit_status = 1;
        }
        break;
    }
}

static int s_send_ready(fx_pyrun_t *py, fx_wlink_conn_t *link)
{
    fx_msg_t *ready = fx_msg_new(FX_MSG_READY);
    if (!ready)
        return FX_E_NOMEM;
    ready->seq = S_READY_SEQ;
    ready->ready.pid = (uint32_t) getpid();
    fx_strlcpy(ready->ready.python_version, fx_pyrun_version(py), sizeof ready->ready.python_version);
    return fx_wlink_conn_send(link, &ready);
}

int main(int argc, char **argv)
{
    fx_log_init("fx-worker");
    fx_memory_tune(); /* large messages reuse memory (fx_memory.h) */
    const char *link_fd = NULL;
    bool in_container = false;
    static const struct option options[] = {
        {"link-fd", required_argument, NULL, 'c'},
        {"in-container", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'c')
            link_fd = optarg;
        else if (opt == 'C')
            in_container = true;
        else if (opt == 'h') {
            s_usage(stdout);
            return 0;
        }
        else {
            s_usage(stderr);
            return 2;
        }
    }
    if (!link_fd || optind != argc) {
        s_usage(stderr);
        return 2;
    }

    /* Die with the parent; the check after prctl closes the race where it
       died first, the periodic check covers parents we were not forked by. */
    s_parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != s_parent)
        return 0;
    s_install_signals();

    int status = 1;
    char err[512];
    fx_wlink_conn_t *link = NULL;
    fx_pyrun_t *py = fx_pyrun_new(err, sizeof err);
    if (!py) {
        fx_error("%s", err);
        goto cleanup;
    }
    link = fx_wlink_connect(link_fd, in_container, err, sizeof err);
    if (!link) {
        fx_error("%s", err);
        goto cleanup;
    }
    int rc = s_send_ready(py, link);
    if (rc != FX_OK) {
        fx_error("cannot send READY over %s %s: %s", "--link-fd", link_fd, fx_strerror(rc));
        goto cleanup;
    }
    s_on(S_READY_SENT);
    int64_t next_parent_check = fx_now_ms() + S_PARENT_CHECK_MS;
    while (!s_stop) {
        fx_msg_t *msg = NULL;
        uint32_t seq = 0;
        const char *detail = "";
        rc = fx_wlink_conn_recv(link, S_PARENT_CHECK_MS, &msg, &seq, &detail);
        if (s_stop) {
            fx_msg_destroy(&msg);
            break;
        }
        int64_t now = fx_now_ms();
        if (now >= next_parent_check) { /* once a second, not per task */
            next_parent_check = now + S_PARENT_CHECK_MS;
            if (getppid() != s_parent) {
                fx_warn("parent process %d is gone; exiting", (int) s_parent);
                fx_msg_destroy(&msg);
                break;
            }
        }
        if (rc == FX_E_IO) {
            fx_warn("the manager closed the worker link; exiting");
            break;
        }
        if (rc != FX_E_TIMEOUT)
            s_handle(py, link, rc, msg, seq, detail);
        fx_msg_destroy(&msg);
        uint64_t held = fx_wlink_conn_tick(link, now);
        if (held)
            fx_warn("%llu ERROR replies to the manager were not sent (rate limit)",
                    (unsigned long long) held);
    }
    status = s_exit_status;
cleanup:
    fx_wlink_conn_destroy(&link);
    fx_pyrun_destroy(&py);
    return status;
}
