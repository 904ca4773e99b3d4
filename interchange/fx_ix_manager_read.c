/*  fx_ix_manager_read.c: phase 3 of the loop, what the interchange hears
    from its managers, by the table of SPEC 6.3 (interchange side, per
    routing id: NONE or ACTIVE, fx_ix_managers.h): MANAGER_HELLO (a session
    begins, WELCOME), CAPACITY (its window, cold_free and workers per
    container) or CREDIT (its window only), RESULTS (on to the broker; their
    stamps measure run and cold-start times per container), HEARTBEAT; anything else, or anything but a hello from a
    connection without a session, is refused. */
#include <stdio.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_link.h"
#include "fx_log.h"

static void s_on_hello(fx_ix_work_t *w, fx_ix_port_t *port, int heartbeat_ms, zframe_t *routing,
                       fx_msg_t *msg)
{
    fx_ix_manager_t *m = fx_ix_managers_hello(w->managers, routing, msg, fx_now_ms(), &w->orphans);
    w->stats.tasks_requeued += fx_ix_tasks_requeue_all(w->tasks, &w->orphans);
    if (!m) {
        fx_send_error(fx_ix_port_router(port), routing, msg->seq, FX_E_NOMEM,
                      "the endpoint is out of memory; try again later");
        return;
    }
    fx_info("manager %s connected (host %s, pid %u, %u workers, version %s)", msg->manager_hello.manager_id,
            msg->manager_hello.host, msg->manager_hello.pid, msg->manager_hello.workers,
            msg->manager_hello.version);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    if (welcome) {
        memcpy(welcome->welcome.id, msg->manager_hello.manager_id, sizeof welcome->welcome.id);
        fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
        welcome->welcome.heartbeat_ms = (uint32_t) heartbeat_ms;
    }
    if (fx_ix_port_send(port, routing, &welcome, msg->seq) == FX_OK)
        fx_ix_manager_sent(m, fx_now_ms());
}

/* Results from a manager: the tasks are no longer held; the first result
   of each task goes on to the broker, results for tasks not held here
   included (an adopted manager's, SPEC 9.7). The manager is remembered as
   the result's sender: it gets RESULTS_ACK once the broker has acked the
   result (fx_ix_acks.c), never before (SPEC 6.3, 8.3). */
/* Span between two stamps of r in ms; < 0 if either is missing. */
static double s_span(const fx_result_t *r, int from, int to)
{
    uint64_t a = r->times[from], b = r->times[to];
    return a && b && b >= a ? (double) (b - a) / 1000.0 : -1;
}

/* What the result of t tells about its container: the run (worker stamps,
   else the round trip from here) and, for a cold start, the start (from
   the manager's receipt to the worker's start: SPEC 12.5). */
static void s_measure(fx_ix_work_t *w, const fx_ix_task_t *t, const fx_result_t *r)
{
    if (t->slot == FX_IX_SLOT_NONE || r->status == FX_RESULT_ERROR)
        return;
    double run = s_span(r, FX_TIME_WORKER_STARTED, FX_TIME_WORKER_FINISHED);
    if (run < 0 && t->times[FX_TIME_IX_DISPATCHED]) {
        uint64_t now = (uint64_t) fx_wall_us(), at = t->times[FX_TIME_IX_DISPATCHED];
        run = now >= at ? (double) (now - at) / 1000.0 : -1;
    }
    double start = t->cold ? s_span(r, FX_TIME_MANAGER_RECEIVED, FX_TIME_WORKER_STARTED) : -1;
    fx_ix_containers_measure(fx_ix_managers_containers(w->managers), t->slot, run, start);
}

static void s_on_results(fx_ix_work_t *w, fx_ix_manager_t *m, fx_msg_t *msg)
{
    for (uint32_t i = 0; i < msg->results.count; i++) {
        fx_result_t *r = &msg->results.results[i];
        fx_ix_task_t *t = fx_ix_tasks_find(w->tasks, r->task_id);
        if (t) {
            if (t->holder == m)
                s_measure(w, t, r);
            if (t->holder)
                fx_ix_manager_release(t->holder, t);
            fx_ix_tasks_done(w->tasks, &t);
        }
        w->stats.results_received++;
        if (fx_ix_results_add_from(w->results, r, fx_ix_manager_id(m)) == FX_E_NOMEM)
            fx_error("out of memory: dropped the result of task %s (the broker will "
                     "redeliver the task)",
                     r->task_id);
        /* FX_E_CONFLICT: a result for this task is on its way already; this
           manager is acked along with it */
    }
}

/* CREDIT's window, or CAPACITY's: within the endpoint's limit (else
   refused, and nothing changes). */
static bool s_window_ok(fx_ix_port_t *port, zframe_t *routing, const fx_msg_t *msg, uint32_t window)
{
    if (window <= FX_IX_MANAGER_WINDOW_MAX)
        return true;
    fx_ix_port_refuse(port, routing, msg->seq, FX_E_BAD_FIELD,
                      "%s window %u is over the endpoint's limit of %u per manager; announce "
                      "workers + prefetch",
                      fx_msg_type_name(msg->type), window, FX_IX_MANAGER_WINDOW_MAX);
    return false;
}

static void s_on_credit(fx_ix_work_t *w, fx_ix_port_t *port, zframe_t *routing, fx_ix_manager_t *m,
                        fx_msg_t *msg)
{
    w->stats.credits++;
    if (s_window_ok(port, routing, msg, msg->credit.window))
        fx_ix_manager_set_window(m, msg->credit.window);
}

static void s_on_capacity(fx_ix_work_t *w, fx_ix_port_t *port, zframe_t *routing, fx_ix_manager_t *m,
                          fx_msg_t *msg)
{
    w->stats.capacities++;
    if (s_window_ok(port, routing, msg, msg->capacity.window))
        fx_ix_manager_capacity(m, msg);
}

static void s_on_error(fx_ix_manager_t *m, fx_msg_t *msg)
{
    fx_warn("manager %s sent ERROR %s: %s", m ? fx_ix_manager_id(m) : "(no session)",
            fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
}

/* SPEC 6.3, interchange side, per routing id; m is the session's record
   when ACTIVE. The rows every link shares (an ERROR is logged, never
   answered; a type a manager never sends is unexpected in any state;
   anything but the hello without a session gets FX_E_NO_SESSION) are
   proto's one arrival check (fx_link_admit, SPEC 5.26.1); the rows of
   this role follow it. */
static void s_handle(fx_ix_work_t *w, fx_ix_port_t *port, int heartbeat_ms, zframe_t *routing,
                     fx_ix_session_t session, fx_ix_manager_t *m, fx_msg_t *msg)
{
    fx_admit_t verdict =
        fx_link_admit(FX_LINK_MANAGER, FX_FROM_CONNECTING, session == FX_IX_SESSION_ACTIVE, msg->type);
    switch (verdict) {
    case FX_ADMIT_REPORT: /* | NONE, ACTIVE | ERROR | log it | same | */
        s_on_error(m, msg);
        return;
    case FX_ADMIT_HELLO: /* | NONE, ACTIVE | MANAGER_HELLO | record it; WELCOME | ACTIVE | */
        s_on_hello(w, port, heartbeat_ms, routing, msg);
        return;
    case FX_ADMIT_NO_SESSION: /* | NONE | anything else | ERROR FX_E_NO_SESSION | NONE | */
    case FX_ADMIT_UNEXPECTED: /* | any | a type managers never send | unexpected | same | */
    {
        char text[FX_TEXT_MAX + 1];
        fx_ix_port_refuse(
            port, routing, msg->seq, fx_link_refusal_code(verdict), "%s",
            fx_link_refusal(FX_LINK_MANAGER, FX_FROM_CONNECTING, verdict, msg->type, text, sizeof text));
        return;
    }
    case FX_ADMIT_OK:
        break;
    }
    switch (msg->type) { /* ACTIVE from here on */
    case FX_MSG_CREDIT:  /* | ACTIVE | CREDIT | window := CREDIT.window, host workers only | ACTIVE | */
        s_on_credit(w, port, routing, m, msg);
        break;
    case FX_MSG_CAPACITY: /* | ACTIVE | CAPACITY | window, cold_free, containers := CAPACITY's | ACTIVE | */
        s_on_capacity(w, port, routing, m, msg);
        break;
    case FX_MSG_RESULTS: /* | ACTIVE | RESULTS | on to the broker, remember the sender | ACTIVE | */
        s_on_results(w, m, msg);
        break;
    default: /* | ACTIVE | HEARTBEAT | note liveness (done for every message) | ACTIVE | */
        break;
    }
}

/* One message from the managers' ROUTER. */
static void s_read_one(fx_ix_work_t *w, fx_ix_port_t *port, int heartbeat_ms, zmsg_t *zmsg)
{
    fx_msg_t *msg = NULL;
    zframe_t *routing = zmsg_pop(zmsg);
    zframe_t *header = zmsg_first(zmsg);
    if (!routing || !header)
        goto done; /* nobody to answer */
    const char *user = fx_peer_user_id(header);
    if (!user || strcmp(user, FX_IX_MANAGER_USER_ID) != 0) {
        fx_ix_port_refuse(port, routing, 0, FX_E_AUTH,
                          "this port serves the endpoint's managers only; connect with its manager.key");
        goto done;
    }
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    if (rc != FX_OK) {
        fx_ix_port_refuse(port, routing, seq, rc,
                          "the endpoint cannot read your message: %s (%s); run a manager from the "
                          "same fx release",
                          fx_strerror(rc), detail);
        goto done;
    }
    fx_ix_manager_t *m = NULL;
    fx_ix_session_t session = fx_ix_managers_session(w->managers, routing, &m);
    if (session == FX_IX_SESSION_ACTIVE)
        fx_ix_manager_heard(m, fx_now_ms()); /* any message shows it lives (SPEC 9.3) */
    s_handle(w, port, heartbeat_ms, routing, session, m, msg);
done:
    fx_msg_destroy(&msg);
    zframe_destroy(&routing);
}

void fx_ix_manager_read(fx_ix_work_t *w, fx_ix_port_t *port, int heartbeat_ms)
{
    for (int i = 0; i < FX_IX_READS_PER_PASS; i++) {
        zmsg_t *zmsg = fx_ix_port_recv(port);
        if (!zmsg)
            break;
        s_read_one(w, port, heartbeat_ms, zmsg);
        zmsg_destroy(&zmsg);
    }
}
