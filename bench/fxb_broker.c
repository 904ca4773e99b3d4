/*  fxb_broker.c: fx-broker alone, driven over its two real ports with
    CurveZMQ and proto/'s codec: C fake clients (one user, a session each)
    send SUBMIT batches back to back (one outstanding per client, as a client
    waiting for SUBMITTED does), then a fake endpoint takes the queued tasks
    under a CREDIT window and answers each TASKS at once with one RESULTS,
    while the clients acknowledge the results pushed to them. Measured: durable
    SUBMIT commits/s and tasks/s by batch size, result commits (RESULTS_ACK)/s
    and results/s by window, and the broker's CPU per task. A fresh broker per
    run and client count. */
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_msg.h"
#include "fxb_fed.h"
#include "fxb_scen.h"

#define S_CLIENTS_MAX 64
#define S_HELLO_TIMEOUT_MS 10000

typedef struct {
    zsock_t *sock;
    uint32_t seq;
    uint32_t waiting;        /* seq of the outstanding request, 0 if none */
    int reply;               /* type of the last reply to it */
} s_peer_t;

typedef struct {
    const fxb_opts_t *opts;
    fx_creds_t creds;
    fx_keypair_t ep_keys;
    fx_id_text_t function_id, endpoint_id;
    s_peer_t client[S_CLIENTS_MAX];
    int nclients;
    s_peer_t endpoint;
    bool submitting;         /* clients send another SUBMIT when one is answered */
    uint32_t batch;          /* tasks per SUBMIT */
    long submits, submitted; /* SUBMITTED replies and the tasks they accepted */
    long result_acks, results_acked;
    long results_sent;
    long errors;
    double last_beat;
} s_bench_t;

/* ---- sending ---------------------------------------------------------- */

static uint32_t s_next_seq(s_peer_t *p)
{
    if (++p->seq == 0)
        p->seq = 1;
    return p->seq;
}

static int s_send(s_peer_t *p, fx_msg_t *m, bool request)
{
    m->seq = request ? s_next_seq(p) : 0;
    if (request)
        p->waiting = m->seq;
    return fx_msg_send(&m, p->sock, NULL);
}

static int s_send_submit(s_bench_t *b, s_peer_t *p)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_SUBMIT);
    if (!m || fx_msg_alloc_records(m, b->batch) != FX_OK) {
        fx_msg_destroy(&m);
        return -1;
    }
    static const char payload[] = "\x80\x04\x95 bench payload (args, kwargs)";
    for (uint32_t i = 0; i < b->batch; i++) {
        fx_task_t *t = &m->submit.tasks[i];
        fx_id_new(t->task_id);
        memcpy(t->endpoint_id, b->endpoint_id, sizeof t->endpoint_id);
        memcpy(t->function_id, b->function_id, sizeof t->function_id);
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->retries = FX_RETRIES_DEFAULT;
        t->payload = zframe_new(payload, sizeof payload - 1);
    }
    return s_send(p, m, true);
}

/* Answers every task of a TASKS message with one RESULTS (a request). */
static int s_answer_tasks(s_bench_t *b, const fx_msg_t *tasks)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_RESULTS);
    if (!m || fx_msg_alloc_records(m, tasks->tasks.count) != FX_OK) {
        fx_msg_destroy(&m);
        return -1;
    }
    for (uint32_t i = 0; i < tasks->tasks.count; i++) {
        fx_result_t *r = &m->results.results[i];
        memcpy(r->task_id, tasks->tasks.tasks[i].task_id, sizeof r->task_id);
        r->status = FX_RESULT_OK;
        r->value = zframe_new("N.", 2);
    }
    b->results_sent += tasks->tasks.count;
    return s_send(&b->endpoint, m, true);
}

/* A client acknowledges the results the broker pushed to it. */
static int s_ack_push(s_peer_t *p, const fx_msg_t *results, uint32_t seq)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_RESULTS_ACK);
    if (!m || fx_msg_alloc_records(m, results->results.count) != FX_OK) {
        fx_msg_destroy(&m);
        return -1;
    }
    for (uint32_t i = 0; i < results->results.count; i++)
        memcpy(m->ids.ids[i], results->results.results[i].task_id, sizeof(fx_id_text_t));
    m->seq = seq;
    return fx_msg_send(&m, p->sock, NULL);
}

static void s_beat(s_bench_t *b)
{
    if (fxb_now() - b->last_beat < 0.5)
        return;
    b->last_beat = fxb_now();
    for (int i = 0; i <= b->nclients; i++) {
        s_peer_t *p = i < b->nclients ? &b->client[i] : &b->endpoint;
        if (!p->sock)
            continue;
        fx_msg_t *m = fx_msg_new(FX_MSG_HEARTBEAT);
        if (m)
            s_send(p, m, false);
    }
}

/* ---- receiving -------------------------------------------------------- */

/* Handles one message that arrived on p. */
static void s_handle(s_bench_t *b, s_peer_t *p)
{
    zmsg_t *zm = zmsg_recv(p->sock);
    fx_msg_t *m = NULL;
    uint32_t seq = 0;
    const char *detail = NULL;
    int rc = zm ? fx_msg_decode(zm, &m, &seq, &detail) : FX_E_IO;
    zmsg_destroy(&zm);
    if (rc != FX_OK) {
        fxb_progress("broker: undecodable message (%s: %s)", fx_strerror(rc), detail ? detail : "");
        b->errors++;
        return;
    }
    if (seq != 0 && seq == p->waiting) {
        p->waiting = 0;
        p->reply = m->type;
    }
    switch (m->type) {
    case FX_MSG_ERROR:
        if (b->errors++ < 5)
            fxb_progress("broker: ERROR %u: %s", m->error.code, m->error.text ? m->error.text : "");
        break;
    case FX_MSG_SUBMITTED:
        b->submits++;
        b->submitted += m->submitted.accepted;
        if (b->submitting)
            s_send_submit(b, p);
        break;
    case FX_MSG_RESULTS:   /* pushed to a client */
        s_ack_push(p, m, seq);
        break;
    case FX_MSG_TASKS:
        s_answer_tasks(b, m);
        break;
    case FX_MSG_RESULTS_ACK:
        b->result_acks++;
        b->results_acked += m->ids.count;
        break;
    default:   /* WELCOME, *_REGISTERED, HEARTBEAT, COMMAND: nothing to do */
        break;
    }
    fx_msg_destroy(&m);
}

/* Serves every socket until done(b) or timeout_s. 0 if done. */
static int s_pump(s_bench_t *b, bool (*done)(s_bench_t *), double timeout_s)
{
    zpoller_t *poller = zpoller_new(NULL);
    for (int i = 0; i < b->nclients; i++)
        zpoller_add(poller, b->client[i].sock);
    if (b->endpoint.sock)
        zpoller_add(poller, b->endpoint.sock);
    double deadline = fxb_now() + timeout_s;
    int rc = -1;
    while (fxb_now() < deadline) {
        if (done && done(b)) {
            rc = 0;
            break;
        }
        s_beat(b);
        void *which = zpoller_wait(poller, 50);
        if (zpoller_terminated(poller))
            break;
        for (int i = 0; which && i <= b->nclients; i++) {
            s_peer_t *p = i < b->nclients ? &b->client[i] : &b->endpoint;
            if (p->sock == which)
                s_handle(b, p);
        }
    }
    zpoller_destroy(&poller);
    return done ? rc : 0;
}

static bool s_replied(s_bench_t *b)
{
    for (int i = 0; i < b->nclients; i++)
        if (b->client[i].waiting)
            return false;
    return !b->endpoint.waiting;
}

/* ---- set-up ----------------------------------------------------------- */

static zsock_t *s_dealer(const char *addr, const fx_keypair_t *kp, const char *server_key)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, 0);
    zsock_set_rcvhwm(sock, 0);
    zsock_set_linger(sock, 0);
    fx_curve_client(sock, kp, server_key);
    if (zsock_connect(sock, "%s", addr) != 0)
        zsock_destroy(&sock);
    return sock;
}

/* Clients say HELLO; the first registers a function and an endpoint; the
   fake endpoint says ENDPOINT_HELLO. 0 or -1. */
static int s_connect(s_bench_t *b, int nclients, const char *creds_path)
{
    char err[512];
    if (fx_creds_load(creds_path, &b->creds, err, sizeof err) != 0 || fx_keypair_new(&b->ep_keys) != 0) {
        fxb_progress("broker: %s", err);
        return -1;
    }
    fx_keypair_t user;
    memcpy(user.public_key, b->creds.public_key, sizeof user.public_key);
    memcpy(user.secret_key, b->creds.secret_key, sizeof user.secret_key);
    b->nclients = nclients;
    for (int i = 0; i < nclients; i++) {
        s_peer_t *p = &b->client[i];
        if (!(p->sock = s_dealer(b->creds.broker_client, &user, b->creds.broker_public_key)))
            return -1;
        fx_msg_t *m = fx_msg_new(FX_MSG_HELLO);
        fx_id_new(m->hello.client_id);
        fx_strlcpy(m->hello.client_version, "fx-bench", sizeof m->hello.client_version);
        fx_strlcpy(m->hello.python_version, "3.11.2", sizeof m->hello.python_version);
        s_send(p, m, true);
    }
    if (s_pump(b, s_replied, S_HELLO_TIMEOUT_MS / 1000.0) != 0)
        return -1;

    fx_msg_t *m = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    fx_id_new(b->function_id);
    memcpy(m->register_function.function_id, b->function_id, sizeof b->function_id);
    fx_strlcpy(m->register_function.name, "noop", sizeof m->register_function.name);
    fx_strlcpy(m->register_function.entry, "noop", sizeof m->register_function.entry);
    m->register_function.kind = FX_FN_PYTHON;
    static const char body[] = "def noop(x=None):\n    return x\n";
    m->register_function.body = zframe_new(body, sizeof body - 1);
    s_send(&b->client[0], m, true);
    if (s_pump(b, s_replied, 10) != 0 || b->client[0].reply != FX_MSG_FUNCTION_REGISTERED)
        return -1;

    m = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    fx_id_new(b->endpoint_id);
    memcpy(m->register_endpoint.endpoint_id, b->endpoint_id, sizeof b->endpoint_id);
    fx_strlcpy(m->register_endpoint.name, "bench", sizeof m->register_endpoint.name);
    memcpy(m->register_endpoint.public_key, b->ep_keys.public_key, sizeof b->ep_keys.public_key);
    s_send(&b->client[0], m, true);
    if (s_pump(b, s_replied, 10) != 0 || b->client[0].reply != FX_MSG_ENDPOINT_REGISTERED)
        return -1;
    return 0;
}

static int s_endpoint_hello(s_bench_t *b)
{
    if (!(b->endpoint.sock = s_dealer(b->creds.broker_endpoint, &b->ep_keys, b->creds.broker_public_key)))
        return -1;
    fx_msg_t *m = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(m->endpoint_hello.endpoint_id, b->endpoint_id, sizeof b->endpoint_id);
    fx_strlcpy(m->endpoint_hello.version, "fx-bench", sizeof m->endpoint_hello.version);
    s_send(&b->endpoint, m, true);
    return s_pump(b, s_replied, S_HELLO_TIMEOUT_MS / 1000.0) == 0 && b->endpoint.reply == FX_MSG_WELCOME ? 0 : -1;
}

static void s_close(s_bench_t *b)
{
    for (int i = 0; i < b->nclients; i++)
        zsock_destroy(&b->client[i].sock);
    zsock_destroy(&b->endpoint.sock);
}

/* ---- the measurements ------------------------------------------------- */

/* Per (client count, batch) point, per run. */
typedef struct {
    double commits[FXB_RUNS_MAX], tasks[FXB_RUNS_MAX], cpu[FXB_RUNS_MAX];
    double acks[FXB_RUNS_MAX], results[FXB_RUNS_MAX], rcpu[FXB_RUNS_MAX];
    bool dry;
} s_point_t;

/* One run with nclients: the SUBMIT points, then the result points. */
static int s_run(const fxb_opts_t *o, int nclients, int run, s_point_t *pts)
{
    fxb_fed_t *fed = fxb_fed_new(o);
    char creds[PATH_MAX + 64];
    char *extra[] = {"--max-queued-per-user", "0", NULL};
    static s_bench_t b;
    memset(&b, 0, sizeof b);
    b.opts = o;
    int rc = -1;
    if (!fed || fxb_fed_start_broker(fed, extra) != 0 || fxb_fed_add_user(fed, "bench", creds, sizeof creds) != 0 ||
        s_connect(&b, nclients, creds) != 0) {
        fxb_progress("broker: set-up failed");
        goto done;
    }
    pid_t broker = fxb_fed_broker_pid(fed);
    for (int k = 0; k < o->batches.count; k++) {
        b.batch = (uint32_t) o->batches.v[k];
        fxb_progress("broker: run %d/%d: %d client(s), SUBMIT of %u tasks, %.1f s", run + 1, o->runs, nclients,
                     b.batch, o->seconds);
        long c0 = b.submits, t0 = b.submitted;
        double cpu0 = fxb_cpu_us(broker, false), start = fxb_now();
        b.submitting = true;
        for (int i = 0; i < nclients; i++)
            s_send_submit(&b, &b.client[i]);
        s_pump(&b, NULL, o->seconds);
        double secs = fxb_now() - start;
        long commits = b.submits - c0, tasks = b.submitted - t0;
        b.submitting = false;
        s_pump(&b, s_replied, 60);   /* the outstanding SUBMITs commit too */
        pts[k].commits[run] = commits / secs;
        pts[k].tasks[run] = tasks / secs;
        pts[k].cpu[run] = (fxb_cpu_us(broker, false) - cpu0) / (double) (b.submitted - t0);
    }
    if (b.errors || s_endpoint_hello(&b) != 0) {
        fxb_progress("broker: %ld errors; the fake endpoint was not welcomed", b.errors);
        goto done;
    }
    for (int k = 0; k < o->batches.count; k++) {
        uint32_t window = (uint32_t) o->batches.v[k];
        fxb_progress("broker: run %d/%d: %d client(s), results under CREDIT %u, %.1f s", run + 1, o->runs, nclients,
                     window, o->seconds);
        fx_msg_t *m = fx_msg_new(FX_MSG_CREDIT);
        m->credit.window = window;
        s_send(&b.endpoint, m, false);
        long a0 = b.result_acks, r0 = b.results_acked;
        double cpu0 = fxb_cpu_us(broker, false), start = fxb_now();
        s_pump(&b, NULL, o->seconds);
        double secs = fxb_now() - start;
        pts[k].acks[run] = (b.result_acks - a0) / secs;
        pts[k].results[run] = (b.results_acked - r0) / secs;
        pts[k].rcpu[run] = (fxb_cpu_us(broker, false) - cpu0) / (double) (b.results_acked - r0 + 1);
        if (b.results_acked >= b.submitted)
            pts[k].dry = true;
    }
    rc = b.errors ? -1 : 0;
    if (b.errors)
        fxb_progress("broker: %ld errors", b.errors);
done:
    s_close(&b);
    fxb_fed_destroy(&fed);
    return rc;
}

int fxb_broker(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!fxb_floor_need(ctx))
        return 1;
    static s_point_t pts[FXB_LIST_MAX][FXB_LIST_MAX];
    memset(pts, 0, sizeof pts);
    for (int r = 0; r < o->runs; r++)
        for (int c = 0; c < o->clients.count; c++) {
            int n = (int) o->clients.v[c];
            if (n < 1 || n > S_CLIENTS_MAX || s_run(o, n, r, pts[c]) != 0)
                return 1;
        }
    fxb_report_t *rep = fxb_report_new("broker");
    char fsync_name[160], batch_name[160];
    double fsync_us = fxb_floor_value(ctx, FXB_FLOOR_SYNC, "p50", fsync_name, sizeof fsync_name);
    double batch_floor = fxb_floor_value(ctx, FXB_FLOOR_BATCH, "window 8", batch_name, sizeof batch_name);
    double rows[FXB_LIST_MAX * (1 + 2 * FXB_LIST_MAX)];
    const char *cols[1 + 2 * FXB_LIST_MAX];
    char colnames[2 * FXB_LIST_MAX][48];
    cols[0] = "batch or window";
    bool dry = false;
    for (int c = 0; c < o->clients.count; c++) {
        snprintf(colnames[2 * c], 48, "SUBMIT tasks/s (%g client%s)", o->clients.v[c], o->clients.v[c] == 1 ? "" : "s");
        snprintf(colnames[2 * c + 1], 48, "results/s (%g client%s)", o->clients.v[c], o->clients.v[c] == 1 ? "" : "s");
        cols[1 + 2 * c] = colnames[2 * c];
        cols[2 + 2 * c] = colnames[2 * c + 1];
        for (int k = 0; k < o->batches.count; k++) {
            s_point_t *p = &pts[c][k];
            char name[64];
            snprintf(name, sizeof name, "%g client%s SUBMIT x %g", o->clients.v[c], o->clients.v[c] == 1 ? "" : "s", o->batches.v[k]);
            /* one commit per fdatasync is the floor of an unbatched commit rate */
            fxb_report_add(rep, name, "commits/s", "1/s", p->commits, o->runs, "1 / fdatasync p50",
                           isnan(fsync_us) ? NAN : 1e6 / fsync_us);
            fxb_report_add(rep, name, "tasks/s", "tasks/s", p->tasks, o->runs, batch_name, batch_floor);
            fxb_report_add(rep, name, "broker cpu/task", "us", p->cpu, o->runs, NULL, 0);
            snprintf(name, sizeof name, "%g client%s RESULTS w %g", o->clients.v[c], o->clients.v[c] == 1 ? "" : "s", o->batches.v[k]);
            fxb_report_add(rep, name, "commits/s", "1/s", p->acks, o->runs, "1 / fdatasync p50",
                           isnan(fsync_us) ? NAN : 1e6 / fsync_us);
            fxb_report_add(rep, name, "results/s", "results/s", p->results, o->runs, batch_name, batch_floor);
            fxb_report_add(rep, name, "broker cpu/result", "us", p->rcpu, o->runs, NULL, 0);
            dry |= p->dry;
            int ncols = 1 + 2 * o->clients.count;
            rows[k * ncols] = o->batches.v[k];
            rows[k * ncols + 1 + 2 * c] = fxb_median(p->tasks, o->runs);
            rows[k * ncols + 2 + 2 * c] = fxb_median(p->results, o->runs);
        }
    }
    fxb_report_note(rep, "SUBMIT x B: every client keeps one SUBMIT of B tasks outstanding for %.1f s; commits/s = "
                         "SUBMITTED replies/s; the broker commits each SUBMIT before its reply",
                    o->seconds);
    fxb_report_note(rep, "RESULTS w W: a fake endpoint (real protocol, CurveZMQ, proto/ codec) under CREDIT W "
                         "answers each TASKS with one RESULTS at once; commits/s = RESULTS_ACK/s; the clients "
                         "acknowledge the pushed results; a fresh broker per run and client count");
    if (dry)
        fxb_report_note(rep, "WARNING: the queue ran dry during a result point: its rate is a lower bound "
                             "(use a longer --seconds for the SUBMIT points)");
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);
    fxb_curve(o, "broker-rates", "fx-broker alone: tasks and results committed per second", "tasks per SUBMIT / CREDIT window",
              "per second", cols, 1 + 2 * o->clients.count, rows, o->batches.count, true, true);
    return 0;
}
