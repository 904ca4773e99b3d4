/*  fx_mgr_sim.c: SIMULATED managers for the scale benchmark; see
    fx_mgr_sim.h for what is and is not simulated.

    Each simulated manager's link follows SPEC 6.3's manager side with the
    same states (START, HELLO_SENT, ACTIVE, CLOSED), in a table of its own
    (s_moves): the real manager's (fx_mgr_link.c) carries a worker pool, a
    task queue and a socket monitor that a simulated one has no use for. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_errlimit.h"
#include "fx_link.h"
#include "fx_log.h"
#include "fx_mgr_sim.h"
#include "fx_msg.h"

/* As the real manager's (fx_mgr_internal.h): window 0 past this many
   unacknowledged results; hello attempts back off up to this long. */
#define S_UNACKED_MAX (2 * FX_BATCH_MAX)
#define S_BACKOFF_MAX_MS 30000
/* epoll events taken per wait. */
#define S_EVENTS 256
/* Timers due within this much of the first due one are served with it:
   heartbeats go up to this much early, in bunches, so that a thousand
   simulated managers wake the process tens of times a second, not a
   thousand. */
#define S_TIMER_SLACK_MS 50
/* Hellos in progress at once: a thousand simultaneous CurveZMQ handshakes
   would take an interchange longer than a hello's timeout, and all would
   start again together; managers join as the ones before them are
   WELCOMEd, as pilot jobs arriving would. */
#define S_RAMP 64

/* The value of every simulated result: pickle.dumps(None), protocol 4. */
static const uint8_t s_none[] = {0x80, 0x04, 'N', '.'};

typedef enum { S_START = 0, S_HELLO_SENT, S_ACTIVE, S_CLOSED } s_state_t;
typedef enum { E_HELLO, E_WELCOME, E_REFUSED, E_TIMEOUT, E_LOST, E_STOP } s_event_t;

/* SPEC 6.3, manager side, as far as a simulated manager goes. */
static const struct {
    s_state_t from;
    s_event_t event;
    s_state_t to;
} s_moves[] = {
    {S_START, E_HELLO, S_HELLO_SENT},   {S_HELLO_SENT, E_WELCOME, S_ACTIVE},
    {S_START, E_REFUSED, S_CLOSED},     {S_HELLO_SENT, E_REFUSED, S_CLOSED},
    {S_HELLO_SENT, E_TIMEOUT, S_START}, {S_START, E_TIMEOUT, S_START},
    {S_ACTIVE, E_LOST, S_START},        {S_START, E_STOP, S_CLOSED},
    {S_HELLO_SENT, E_STOP, S_CLOSED},   {S_ACTIVE, E_STOP, S_CLOSED},
};

typedef struct s_sim_t s_sim_t;

typedef struct {
    s_sim_t *sim;
    uint32_t index;
    fx_id_text_t id;
    zsock_t *sock;
    s_state_t state;
    uint32_t session, seq, hello_seq, welcomed_seq;
    uint32_t credit_sent; /* UINT32_MAX: none in this session */
    uint32_t attempt;
    int64_t attempt_end, last_heard, last_sent, due;
    bool draining;
    int64_t stop_deadline; /* STOP: close by then; 0 = not stopping */
    /* ids of results not yet acknowledged, in the order they go out; the
       first ua_sent went out in this session */
    fx_id_text_t *ua;
    size_t ua_head, ua_len, ua_cap, ua_sent;
    uint32_t next_due; /* the timer queue: index + 1 of the next manager, 0 = none */
} s_mgr_t;

struct s_sim_t {
    const fx_mgr_args_t *args;
    fx_keypair_t kp;
    char host[FX_NAME_MAX + 1];
    s_mgr_t *mgrs;
    uint32_t n;
    int epfd;
    uint32_t q_head, q_tail; /* the timer queue, index + 1 */
    uint32_t heartbeat_ms;
    uint32_t opened, active, closed, refused;
    uint64_t answered;
    fx_errlimit_t *errors;
};

static volatile sig_atomic_t s_signal;

static void s_on_signal(int sig)
{
    s_signal = sig;
}

static bool s_move(s_mgr_t *m, s_event_t event)
{
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++)
        if (s_moves[i].from == m->state && s_moves[i].event == event) {
            if (m->state == S_ACTIVE)
                m->sim->active--;
            m->state = s_moves[i].to;
            if (m->state == S_ACTIVE)
                m->sim->active++;
            if (m->state == S_CLOSED)
                m->sim->closed++;
            return true;
        }
    return false;
}

/* ------------------------------------------------ the timer queue */

static void s_queue(s_mgr_t *m, int64_t due)
{
    s_sim_t *sim = m->sim;
    m->due = due;
    m->next_due = 0;
    if (sim->q_tail)
        sim->mgrs[sim->q_tail - 1].next_due = m->index + 1;
    else
        sim->q_head = m->index + 1;
    sim->q_tail = m->index + 1;
}

static s_mgr_t *s_due(s_sim_t *sim, int64_t now)
{
    if (!sim->q_head || sim->mgrs[sim->q_head - 1].due > now + S_TIMER_SLACK_MS)
        return NULL;
    s_mgr_t *m = &sim->mgrs[sim->q_head - 1];
    sim->q_head = m->next_due;
    if (!sim->q_head)
        sim->q_tail = 0;
    return m;
}

/* ------------------------------------------------ the socket */

static uint32_t s_lost_after(s_sim_t *sim)
{
    return sim->args->heartbeat_missed * sim->heartbeat_ms;
}

static int64_t s_attempt_ms(s_sim_t *sim, uint32_t attempt)
{
    int64_t wait = s_lost_after(sim);
    for (uint32_t i = 1; i < attempt && wait < S_BACKOFF_MAX_MS; i++)
        wait *= 2;
    return wait > S_BACKOFF_MAX_MS && s_lost_after(sim) <= S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait;
}

/* A new DEALER for m, connecting, its ZMQ_FD in the epoll set. */
static int s_open(s_mgr_t *m)
{
    s_sim_t *sim = m->sim;
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        fx_warn("SIMULATED manager %u: cannot create a socket: %s", m->index, zmq_strerror(zmq_errno()));
        return -1;
    }
    fx_curve_client(sock, &sim->kp, sim->args->server_key);
    zsock_set_immediate(sock, 1);
    zsock_set_sndtimeo(sock, 0); /* one simulated manager never holds up the others */
    zsock_set_rcvtimeo(sock, 0);
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, FX_PAYLOAD_MAX > FX_HEADER_MAX ? FX_PAYLOAD_MAX : FX_HEADER_MAX);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = m->index};
    if (zsock_connect(sock, "%s", sim->args->interchange) != 0 ||
        epoll_ctl(sim->epfd, EPOLL_CTL_ADD, zsock_fd(sock), &ev) != 0) {
        fx_warn("SIMULATED manager %u: cannot connect to %s: %s", m->index, sim->args->interchange,
                strerror(errno));
        zsock_destroy(&sock);
        return -1;
    }
    m->sock = sock;
    return 0;
}

static void s_close(s_mgr_t *m)
{
    if (!m->sock)
        return;
    epoll_ctl(m->sim->epfd, EPOLL_CTL_DEL, zsock_fd(m->sock), NULL);
    zsock_destroy(&m->sock);
}

static int s_send(s_mgr_t *m, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    (*msg_p)->seq = seq;
    int rc = fx_msg_send(msg_p, m->sock, NULL);
    if (rc == FX_OK)
        m->last_sent = fx_now_ms();
    return rc;
}

static bool s_writable(s_mgr_t *m)
{
    return m->sock && (zsock_events(m->sock) & ZMQ_POLLOUT);
}

/* ------------------------------------------------ the link */

static void s_hello(s_mgr_t *m)
{
    if (m->state != S_START || !s_writable(m))
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_MANAGER_HELLO);
    if (msg) {
        memcpy(msg->manager_hello.manager_id, m->id, sizeof m->id);
        fx_strlcpy(msg->manager_hello.host, m->sim->host, sizeof msg->manager_hello.host);
        msg->manager_hello.pid = (uint32_t) getpid();
        msg->manager_hello.workers = m->sim->args->workers;
        fx_strlcpy(msg->manager_hello.version, FX_VERSION, sizeof msg->manager_hello.version);
    }
    if (++m->seq == 0)
        m->seq = 1;
    m->hello_seq = m->seq;
    if (s_send(m, &msg, m->hello_seq) == FX_OK)
        s_move(m, E_HELLO);
}

static void s_first_attempt(s_mgr_t *m, int64_t now)
{
    m->attempt = 1;
    m->attempt_end = now + s_attempt_ms(m->sim, 1);
}

static void s_rehello(s_mgr_t *m, const char *why, int64_t now)
{
    fx_warn("SIMULATED manager %u: %s; saying MANAGER_HELLO again", m->index, why);
    s_move(m, E_LOST);
    s_first_attempt(m, now);
    s_hello(m);
}

/* Sends the results not yet sent in this session, in batches, as far as
   the socket takes them. */
static void s_flush(s_mgr_t *m)
{
    while (m->state == S_ACTIVE && m->ua_sent < m->ua_len) {
        size_t left = m->ua_len - m->ua_sent;
        uint32_t n = left < FX_BATCH_MAX ? (uint32_t) left : FX_BATCH_MAX;
        fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
        if (!msg || fx_msg_alloc_records(msg, n) != FX_OK) {
            fx_msg_destroy(&msg);
            return;
        }
        for (uint32_t k = 0; k < n; k++) {
            fx_result_t *r = &msg->results.results[k];
            memcpy(r->task_id, m->ua[m->ua_head + m->ua_sent + k], sizeof r->task_id);
            r->status = FX_RESULT_OK;
            r->value = zframe_new(s_none, sizeof s_none);
        }
        if (s_send(m, &msg, 0) != FX_OK)
            return; /* the socket is full: the next event or beat sends them */
        m->ua_sent += n;
    }
}

static void s_credit(s_mgr_t *m)
{
    if (m->state != S_ACTIVE)
        return;
    size_t full = (size_t) m->sim->args->workers + m->sim->args->prefetch;
    size_t unsent = m->ua_len - m->ua_sent; /* results of tasks held since an earlier session */
    uint32_t window =
        m->draining || m->ua_sent > S_UNACKED_MAX || unsent >= full ? 0 : (uint32_t) (full - unsent);
    if (window == m->credit_sent)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    if (msg)
        msg->credit.window = window;
    if (s_send(m, &msg, 0) == FX_OK)
        m->credit_sent = window;
}

/* Room for count more ids at the end of the ring. */
static bool s_ua_room(s_mgr_t *m, size_t count)
{
    if (m->ua_head + m->ua_len + count <= m->ua_cap)
        return true;
    if (m->ua_head) {
        memmove(m->ua, m->ua + m->ua_head, m->ua_len * sizeof *m->ua);
        m->ua_head = 0;
        if (m->ua_len + count <= m->ua_cap)
            return true;
    }
    size_t cap = m->ua_cap ? m->ua_cap : 64;
    while (cap < m->ua_len + count)
        cap *= 2;
    fx_id_text_t *ua = realloc(m->ua, cap * sizeof *ua);
    if (!ua)
        return false;
    m->ua = ua;
    m->ua_cap = cap;
    return true;
}

static void s_on_tasks(s_mgr_t *m, fx_msg_t *msg)
{
    if (m->draining || !s_ua_room(m, msg->tasks.count)) {
        fx_warn("SIMULATED manager %u: dropped %u tasks (%s); the interchange requeues them when it loses us",
                m->index, msg->tasks.count, m->draining ? "after DRAIN or STOP" : "out of memory");
        return;
    }
    for (uint32_t i = 0; i < msg->tasks.count; i++)
        memcpy(m->ua[m->ua_head + m->ua_len++], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
    m->sim->answered += msg->tasks.count;
}

/* RESULTS_ACK: as the real manager's (fx_mgr_ack): the front at once, the
   rest by a hash. */
static void s_on_ack(s_mgr_t *m, const fx_id_text_t *ids, uint32_t count)
{
    size_t front = 0;
    while (front < count && front < m->ua_len &&
           memcmp(m->ua[m->ua_head + front], ids[front], FX_ID_LEN) == 0)
        front++;
    m->ua_head += front;
    m->ua_len -= front;
    m->ua_sent = m->ua_sent > front ? m->ua_sent - front : 0;
    if (front == count || !m->ua_len)
        return;
    zhashx_t *acked = zhashx_new();
    if (!acked)
        return;
    for (uint32_t i = (uint32_t) front; i < count; i++)
        zhashx_insert(acked, ids[i], (void *) 1);
    size_t kept = 0, sent_kept = 0;
    for (size_t i = 0; i < m->ua_len; i++)
        if (!zhashx_lookup(acked, m->ua[m->ua_head + i])) {
            sent_kept += i < m->ua_sent;
            memmove(m->ua[m->ua_head + kept++], m->ua[m->ua_head + i], sizeof(fx_id_text_t));
        }
    zhashx_destroy(&acked);
    m->ua_len = kept;
    m->ua_sent = sent_kept;
}

static void s_on_welcome(s_mgr_t *m, fx_msg_t *msg, int64_t now)
{
    if (msg->seq == m->welcomed_seq || !s_move(m, E_WELCOME))
        return; /* it answers no new hello of ours */
    m->welcomed_seq = msg->seq;
    m->session++;
    m->ua_sent = 0; /* held results go (again) in this session */
    m->credit_sent = UINT32_MAX;
    uint32_t beat = msg->welcome.heartbeat_ms;
    if (beat >= 10 && beat <= 3600000)
        m->sim->heartbeat_ms = beat; /* one period for all: the timer queue stays in order */
    (void) now;
}

static bool s_final(int code)
{
    return code == FX_E_MALFORMED || code == FX_E_VERSION || code == FX_E_UNKNOWN_TYPE ||
           code == FX_E_BAD_FIELD || code == FX_E_TOO_LARGE || code == FX_E_UNEXPECTED || code == FX_E_AUTH ||
           code == FX_E_FORBIDDEN || code == FX_E_CONFLICT;
}

static void s_on_error(s_mgr_t *m, fx_msg_t *msg, int64_t now)
{
    const char *text = msg->error.text ? msg->error.text : "";
    if (msg->error.code == FX_E_NO_SESSION) {
        if (m->state == S_ACTIVE)
            s_rehello(m, "the interchange has no session for us", now);
        return;
    }
    bool about_hello = m->state != S_ACTIVE && (msg->seq == m->hello_seq || msg->seq == 0);
    if (about_hello && s_final(msg->error.code)) {
        fx_error("SIMULATED manager %u: the interchange refused MANAGER_HELLO: %s: %s", m->index,
                 fx_errname(msg->error.code), text);
        s_move(m, E_REFUSED);
        m->sim->refused++;
        s_close(m);
        return;
    }
    fx_warn("SIMULATED manager %u: the interchange reports %s: %s", m->index, fx_errname(msg->error.code),
            text);
}

static void s_refuse(s_mgr_t *m, uint32_t seq, int code, const char *text)
{
    fx_warn("SIMULATED manager %u: refused a message from the interchange (%s): %s", m->index,
            fx_errname(code), text);
    zframe_t *key = zframe_new(&m->index, sizeof m->index);
    if (key && fx_errlimit_allow(m->sim->errors, key, fx_now_ms()))
        fx_send_error(m->sock, NULL, seq, code, "%s", text);
    zframe_destroy(&key);
}

/* One message from the interchange: false if none was waiting. */
static bool s_read_one(s_mgr_t *m, int64_t now)
{
    zmsg_t *zmsg = zmsg_recv(m->sock);
    if (!zmsg)
        return false;
    m->last_heard = now;
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    zmsg_destroy(&zmsg);
    if (rc != FX_OK) {
        char text[FX_TEXT_MAX];
        snprintf(text, sizeof text, "the SIMULATED fx-manager cannot read the message: %s (%s)",
                 fx_strerror(rc), detail);
        s_refuse(m, seq, rc, text);
        return true;
    }
    char why[FX_TEXT_MAX];
    fx_admit_t verdict = fx_link_admit(FX_LINK_MANAGER, FX_FROM_SERVING, m->state == S_ACTIVE, msg->type);
    switch (verdict) {
    case FX_ADMIT_HELLO:
        s_on_welcome(m, msg, now);
        break;
    case FX_ADMIT_REPORT:
        s_on_error(m, msg, now);
        break;
    case FX_ADMIT_NO_SESSION:
    case FX_ADMIT_UNEXPECTED:
        s_refuse(m, msg->seq, fx_link_refusal_code(verdict),
                 fx_link_refusal(FX_LINK_MANAGER, FX_FROM_SERVING, verdict, msg->type, why, sizeof why));
        break;
    case FX_ADMIT_OK:
        if (msg->type == FX_MSG_RESULTS_ACK)
            s_on_ack(m, msg->ids.ids, msg->ids.count);
        else if (msg->type == FX_MSG_TASKS)
            s_on_tasks(m, msg);
        else if (msg->type == FX_MSG_COMMAND) {
            m->draining = true;
            if (msg->command.command == FX_CMD_STOP && !m->stop_deadline)
                m->stop_deadline = now + m->sim->args->stop_grace_ms;
        }
        break; /* CANCEL: nothing is ever waiting here; HEARTBEAT: liveness */
    }
    fx_msg_destroy(&msg);
    return true;
}

/* Everything m has to do now: read what came, answer, announce. Also
   called after anything was sent on m's socket, since libzmq may then have
   taken the signal that input waits. */
static void s_serve(s_mgr_t *m, int64_t now)
{
    while (m->sock && m->state != S_CLOSED && s_read_one(m, now))
        ;
    if (!m->sock || m->state == S_CLOSED)
        return;
    s_hello(m);
    s_flush(m);
    s_credit(m);
    if (m->stop_deadline && (m->ua_len == 0 || now >= m->stop_deadline)) {
        fx_info("SIMULATED manager %u: stopped (COMMAND STOP), %zu result(s) unacknowledged", m->index,
                m->ua_len);
        s_move(m, E_STOP);
        s_close(m);
    }
}

/* m's turn in the timer queue: heartbeat, loss of the interchange, a hello
   unanswered, orphaned; back in the queue one period on. */
static void s_timer(s_mgr_t *m, int64_t now)
{
    s_sim_t *sim = m->sim;
    if (m->state == S_CLOSED)
        return;
    int64_t orphan_ms = (int64_t) sim->args->orphan_timeout_s * 1000;
    if (orphan_ms && now - m->last_heard >= orphan_ms) {
        fx_warn("SIMULATED manager %u: nothing heard from the interchange for %lld s; stopping it", m->index,
                (long long) ((now - m->last_heard) / 1000));
        s_move(m, E_STOP);
        s_close(m);
        return;
    }
    if (m->state == S_ACTIVE) {
        /* SPEC 9.2: a HEARTBEAT only in a period that has had no message */
        if (now - m->last_sent >= (int64_t) sim->heartbeat_ms - S_TIMER_SLACK_MS && s_writable(m)) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            s_send(m, &beat, 0);
        }
        if (now - m->last_heard >= s_lost_after(sim))
            s_rehello(m, "nothing heard from the interchange for too long", now);
    }
    else if (now >= m->attempt_end) {
        fx_warn("SIMULATED manager %u: no WELCOME within %lld ms (attempt %u); trying again on a new socket",
                m->index, (long long) s_attempt_ms(sim, m->attempt), m->attempt);
        s_close(m);
        s_move(m, E_TIMEOUT);
        m->attempt++;
        m->attempt_end = now + s_attempt_ms(sim, m->attempt);
        s_open(m);
    }
    s_serve(m, now);
    if (m->state != S_CLOSED)
        s_queue(m, now + sim->heartbeat_ms);
}

/* ------------------------------------------------ run */

static void s_stats(s_sim_t *sim, uint64_t answered, int64_t ms, bool final)
{
    double rate = ms > 0 ? (double) answered * 1000.0 / (double) ms : 0;
    if (final)
        printf("fx-manager SIMULATED: %u managers x %u slots: %llu tasks answered in %.1f s: %.0f tasks/s, "
               "%.1f per "
               "simulated manager\n",
               sim->n, sim->args->workers, (unsigned long long) answered, (double) ms / 1000.0, rate,
               rate / sim->n);
    else
        fx_info(
            "SIMULATED: %u managers (%u in session) x %u slots: %.0f tasks/s answered (%.1f per simulated "
            "manager), %llu in all",
            sim->n, sim->active, sim->args->workers, rate, rate / sim->n, (unsigned long long) sim->answered);
}

/* Lets the process hold a socket per simulated manager. */
static int s_limits(uint32_t n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t) n * 4 + 64) {
        fx_error(
            "SIMULATED: %u managers need about %u file descriptors, and this process may have %llu; raise "
            "ulimit -n or simulate fewer",
            n, n * 4 + 64, (unsigned long long) rl.rlim_cur);
        return -1;
    }
    zsys_set_max_sockets(2 * n + 64); /* renewed sockets linger a moment in the reaper */
    return 0;
}

int fx_mgr_sim_run(const fx_mgr_args_t *args, uint32_t managers, uint32_t stats_ms)
{
    s_sim_t sim = {.args = args, .n = managers, .heartbeat_ms = args->heartbeat_ms, .epfd = -1};
    char err[512];
    int status = 1;
    if (fx_keypair_load(args->key_file, &sim.kp, false, err, sizeof err) != 0) {
        fx_error("%s; pass the manager keypair file the endpoint wrote (manager.key)", err);
        return 1;
    }
    if (s_limits(managers) != 0)
        return 1;
    zsys_handler_set(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    gethostname(sim.host, sizeof sim.host - 1);
    sim.mgrs = calloc(managers, sizeof *sim.mgrs);
    sim.epfd = epoll_create1(EPOLL_CLOEXEC);
    sim.errors = fx_errlimit_new();
    if (!sim.mgrs || sim.epfd < 0 || !sim.errors) {
        fx_error("SIMULATED: out of memory or descriptors for %u managers", managers);
        goto done;
    }
    int64_t now = fx_now_ms();
    for (uint32_t i = 0; i < managers; i++) {
        s_mgr_t *m = &sim.mgrs[i];
        m->sim = &sim;
        m->index = i;
        fx_id_new(m->id);
        m->credit_sent = UINT32_MAX;
    }
    fx_info(
        "SIMULATED: %u managers x %u slots (prefetch %u) connecting to %s; they answer every task at once "
        "with pickle.dumps(None) and start no process",
        managers, args->workers, args->prefetch, args->interchange);
    int64_t start = fx_now_ms(), last_stats = start;
    uint64_t answered_at_stats = 0;
    struct epoll_event evs[S_EVENTS];
    while (!s_signal && sim.closed < sim.n) {
        now = fx_now_ms();
        while (sim.opened < sim.n && sim.opened - sim.active - sim.closed < S_RAMP) {
            s_mgr_t *m = &sim.mgrs[sim.opened++];
            m->last_heard = now;
            s_first_attempt(m, now);
            if (s_open(m) != 0)
                goto done;
            s_queue(m, now); /* in the order they open: the queue stays in due order, beats spread */
        }
        int64_t timeout = 1000;
        if (sim.q_head) {
            int64_t due = sim.mgrs[sim.q_head - 1].due - now;
            timeout = due < 0 ? 0 : due < timeout ? due : timeout;
        }
        if (stats_ms && last_stats + stats_ms - now < timeout)
            timeout = last_stats + stats_ms > now ? last_stats + stats_ms - now : 0;
        int n = epoll_wait(sim.epfd, evs, S_EVENTS, (int) timeout);
        now = fx_now_ms();
        for (int i = 0; i < n; i++)
            s_serve(&sim.mgrs[evs[i].data.u32], now);
        s_mgr_t *m;
        while ((m = s_due(&sim, now)))
            s_timer(m, now);
        if (stats_ms && now - last_stats >= stats_ms) {
            s_stats(&sim, sim.answered - answered_at_stats, now - last_stats, false);
            answered_at_stats = sim.answered;
            last_stats = now;
        }
    }
    s_stats(&sim, sim.answered, fx_now_ms() - start, true);
    status = sim.refused == sim.n ? 1 : 0;
done:
    for (uint32_t i = 0; sim.mgrs && i < managers; i++) {
        s_close(&sim.mgrs[i]);
        free(sim.mgrs[i].ua);
    }
    free(sim.mgrs);
    if (sim.epfd >= 0)
        close(sim.epfd);
    fx_errlimit_destroy(&sim.errors);
    return status;
}
