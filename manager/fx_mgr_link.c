/*  fx_mgr_link.c: the manager's side of the manager link (SPEC 6.3).

    The link's states are SPEC 6.3's (fx_link_state_t); every change of state
    goes through s_move, along a row of s_moves, which is the SPEC's table.

    START: MANAGER_HELLO is sent as soon as the link takes it (the DEALER is
    ZMQ_IMMEDIATE: writable only once connected and admitted). HELLO_SENT:
    an ERROR answering it that no retry can fix (version, authentication, a
    refusal) ends the manager with exit 1 (CLOSED). An attempt (START and
    HELLO_SENT from one socket) that brings no WELCOME within
    --heartbeat-missed beats, twice as long after each failed attempt, is
    reported with its likely cause (fx_mgr_socket_diagnosis: key not
    registered, wrong --server-key, interchange down) and the next one
    starts on a new socket (SPEC 2.3.2, 2.3.5). Results are held meanwhile;
    after --orphan-timeout-s without a word from the interchange the
    manager exits 0 (CLOSED, SPEC 9.4).

    ACTIVE (after WELCOME): TASKS are queued, RESULTS sent in batches, CREDIT
    whenever the window to announce changes, HEARTBEAT in every period
    that had no other message (SPEC 9.2). Every
    result sent is kept until a RESULTS_ACK names it (the interchange passes
    the broker's ack on: end to end, SPEC 6.3, 8.3); after each new WELCOME
    the ones not acknowledged are sent again, in batches. RESULTS_ACK is
    taken in any state: it always means the broker has those results. An
    ERROR(NO_SESSION), or --heartbeat-missed beats without a word from the
    interchange, means it lost us: back to START, tasks keep running.
    CANCEL removes queued tasks and kills running ones (fx_mgr_workers.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_link.h"
#include "fx_mgr_internal.h"

/* What happens to the link (the "event" column of SPEC 6.3). */
typedef enum {
    S_HELLO,   /* the link took MANAGER_HELLO */
    S_WELCOME, /* a WELCOME answering our latest hello */
    S_REFUSED, /* an ERROR answering it that no retry can fix */
    S_TIMEOUT, /* no WELCOME within the attempt's time */
    S_LOST,    /* ERROR(NO_SESSION), or the interchange fell silent */
    S_ORPHAN,  /* nothing from an interchange for --orphan-timeout-s */
} s_event_t;

static const char *const s_state_names[] = {"START", "HELLO_SENT", "ACTIVE", "CLOSED"};
static const char *const s_event_names[] = {"hello", "welcome", "refused", "timeout", "lost", "orphan"};

/* SPEC 6.3, manager side: every transition of the link, in the SPEC's
   order. A pair (state, event) that is not here changes nothing. */
static const struct {
    fx_link_state_t from;
    s_event_t event;
    fx_link_state_t to;
} s_moves[] = {
    {FX_LINK_START, S_HELLO, FX_LINK_HELLO_SENT},
    {FX_LINK_HELLO_SENT, S_WELCOME, FX_LINK_ACTIVE},
    {FX_LINK_HELLO_SENT, S_REFUSED, FX_LINK_CLOSED},
    {FX_LINK_START, S_REFUSED, FX_LINK_CLOSED},
    {FX_LINK_HELLO_SENT, S_TIMEOUT, FX_LINK_START}, /* on a new socket */
    {FX_LINK_START, S_TIMEOUT, FX_LINK_START},      /* no connection took the hello: a new socket */
    {FX_LINK_ACTIVE, S_LOST, FX_LINK_START},
    {FX_LINK_START, S_ORPHAN, FX_LINK_CLOSED},
    {FX_LINK_HELLO_SENT, S_ORPHAN, FX_LINK_CLOSED},
    {FX_LINK_ACTIVE, S_ORPHAN, FX_LINK_CLOSED}, /* --orphan-timeout-s shorter than a loss */
};

/* Takes the transition of (state, event) in s_moves: true, or false (and
   the state is unchanged) if there is none. */
static bool s_move(fx_mgr_t *self, s_event_t event)
{
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++)
        if (s_moves[i].from == self->state && s_moves[i].event == event) {
            fx_debug("link %s --%s--> %s", s_state_names[self->state], s_event_names[event],
                     s_state_names[s_moves[i].to]);
            self->state = s_moves[i].to;
            if (self->state == FX_LINK_CLOSED)
                self->stopping = true;
            return true;
        }
    return false;
}

static uint32_t s_next_seq(fx_mgr_t *self)
{
    if (++self->seq == 0) /* requests never use seq 0 (SPEC 3.6.4) */
        self->seq = 1;
    return self->seq;
}

/* Sends msg (destroyed) with seq; logs a failure. */
static int s_send(fx_mgr_t *self, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    (*msg_p)->seq = seq;
    const char *name = fx_msg_type_name((*msg_p)->type);
    int rc = fx_msg_send(msg_p, self->link, NULL);
    if (rc != FX_OK)
        self->link_events = -1; /* ask again before the next send */
    else if (self->state == FX_LINK_ACTIVE)
        self->next_beat = fx_now_ms() + self->heartbeat_ms; /* SPEC 9.2: a beat only after a silent period */
    if (rc != FX_OK)
        fx_warn("cannot send %s to the interchange at %s: %s", name, self->args->interchange,
                fx_strerror(rc));
    return rc;
}

/* Whether the link takes a message now: asked once per pass of the loop
   (fx_mgr_t.link_events), again only after a send failed. */
static bool s_writable(fx_mgr_t *self)
{
    if (self->link_events < 0)
        self->link_events = zsock_events(self->link);
    return (self->link_events & ZMQ_POLLOUT) != 0;
}

static void s_refuse(fx_mgr_t *self, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ERROR to the interchange, within the rate limit. */
static void s_refuse(fx_mgr_t *self, uint32_t seq, int code, const char *fmt, ...)
{
    char text[FX_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_warn("refused a message from the interchange (%s): %s", fx_errname(code), text);
    if (fx_errlimit_allow(self->errors, self->link_peer, fx_now_ms()))
        fx_send_error(self->link, NULL, seq, code, "%s", text);
}

/* How long hello attempt n (1, 2, ...) waits for its WELCOME: --heartbeat-missed
   beats, doubled after each failed attempt up to FX_MGR_HELLO_BACKOFF_MAX_MS. */
static int64_t s_attempt_ms(fx_mgr_t *self, uint32_t attempt)
{
    int64_t base = fx_mgr_lost_after_ms(self), wait = base;
    for (uint32_t i = 1; i < attempt && wait < FX_MGR_HELLO_BACKOFF_MAX_MS; i++)
        wait *= 2;
    if (wait > FX_MGR_HELLO_BACKOFF_MAX_MS)
        wait = base > FX_MGR_HELLO_BACKOFF_MAX_MS ? base : FX_MGR_HELLO_BACKOFF_MAX_MS;
    return wait;
}

/* The first hello attempt after a WELCOME (or at the start) begins. */
static void s_first_attempt(fx_mgr_t *self)
{
    self->attempt = 1;
    self->attempt_end = fx_now_ms() + s_attempt_ms(self, 1);
}

int fx_mgr_link_open(fx_mgr_t *self, const fx_keypair_t *kp)
{
    char err[FX_ADDR_MAX + 128];
    self->uplink = fx_mgr_socket_new(self->args->interchange, kp, self->args->server_key, err, sizeof err);
    if (!self->uplink) {
        fx_error("%s", err);
        return -1;
    }
    self->link = fx_mgr_socket_zsock(self->uplink);
    self->state = FX_LINK_START;
    self->last_heard = fx_now_ms();
    self->credit_sent = UINT32_MAX;
    s_first_attempt(self);
    return 0;
}

/* START: MANAGER_HELLO, if the link can take it now; else on a later pass. */
static void s_say_hello(fx_mgr_t *self)
{
    if (self->state != FX_LINK_START || !s_writable(self))
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_MANAGER_HELLO);
    if (msg) {
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        host[FX_NAME_MAX] = '\0';
        fx_strlcpy(msg->manager_hello.manager_id, self->args->id, sizeof msg->manager_hello.manager_id);
        fx_strlcpy(msg->manager_hello.host, host, sizeof msg->manager_hello.host);
        msg->manager_hello.pid = (uint32_t) getpid();
        msg->manager_hello.workers = self->args->workers;
        fx_strlcpy(msg->manager_hello.version, FX_VERSION, sizeof msg->manager_hello.version);
    }
    self->hello_seq = s_next_seq(self);
    if (s_send(self, &msg, self->hello_seq) == FX_OK)
        s_move(self, S_HELLO);
}

/* The interchange lost us (or we it): start a new session. */
static void s_rehello(fx_mgr_t *self, const char *why)
{
    fx_warn("%s; saying MANAGER_HELLO again (%zu tasks held keep running)", why, fx_mgr_held(self, false));
    s_move(self, S_LOST);
    s_first_attempt(self);
    s_say_hello(self);
}

static void s_on_welcome(fx_mgr_t *self, fx_msg_t *msg)
{
    if (msg->seq == self->welcomed_seq || !s_move(self, S_WELCOME)) {
        fx_warn("WELCOME (seq %u) that answers no new MANAGER_HELLO of ours; ignored", msg->seq);
        return;
    }
    /* A new session: the interchange counts nothing in flight and its
       window is 0 until our CREDIT. */
    self->welcomed_seq = msg->seq;
    self->session++;
    self->credit_sent = UINT32_MAX; /* announce the window in this session */
    uint32_t beat = msg->welcome.heartbeat_ms;
    if (beat >= 10 && beat <= 3600000 && beat != self->heartbeat_ms) {
        fx_info("the interchange beats every %u ms; adopting that instead of %u ms", beat,
                self->heartbeat_ms);
        self->heartbeat_ms = beat;
    }
    fx_info("welcomed by the interchange at %s (fx %s), session %u", self->args->interchange,
            msg->welcome.server_version, self->session);
    self->next_beat = fx_now_ms() + self->heartbeat_ms;
    /* nothing is sent in the new session yet; held tasks are now of an
       earlier one (SPEC 7.7) */
    self->out_sent = 0;
    self->old_possible = true;
    if (self->out_len)
        fx_info("sending %zu held result(s) in session %u (those sent before, unacknowledged, again)",
                self->out_len, self->session);
    if (!self->pool && fx_mgr_workers_start(self) != 0) {
        fx_error("cannot start the workers; stopping");
        self->stopping = true;
        self->exit_status = 1;
    }
}

/* Codes that answer MANAGER_HELLO for good: retrying cannot help. */
static bool s_final(int code)
{
    switch (code) {
    case FX_E_MALFORMED:
    case FX_E_VERSION:
    case FX_E_UNKNOWN_TYPE:
    case FX_E_BAD_FIELD:
    case FX_E_TOO_LARGE:
    case FX_E_UNEXPECTED:
    case FX_E_AUTH:
    case FX_E_FORBIDDEN:
    case FX_E_CONFLICT:
        return true;
    default:
        return false;
    }
}

static void s_on_error(fx_mgr_t *self, fx_msg_t *msg)
{
    const char *text = msg->error.text ? msg->error.text : "";
    if (msg->error.code == FX_E_NO_SESSION) {
        if (self->state == FX_LINK_ACTIVE)
            s_rehello(self, "the interchange has no session for us");
        return; /* in HELLO_SENT: an answer to something sent before our hello arrived */
    }
    bool about_hello = self->state != FX_LINK_ACTIVE && (msg->seq == self->hello_seq || msg->seq == 0);
    if (about_hello && s_final(msg->error.code)) {
        fx_error("the interchange at %s refused MANAGER_HELLO: %s: %s", self->args->interchange,
                 fx_errname(msg->error.code), text);
        s_move(self, S_REFUSED);
        self->exit_status = 1;
        return;
    }
    if (about_hello)
        fx_warn("the interchange could not take MANAGER_HELLO now (%s: %s); will say it again",
                fx_errname(msg->error.code), text);
    else
        fx_warn("the interchange reports %s: %s (about our message %u)", fx_errname(msg->error.code), text,
                msg->seq);
}

/* SPEC 12.1.4: a task's body goes into the store by version (the task
   keeps none: the worker link sends from the store); a task that comes
   without its body must find it there, else it ends at once with
   FX_E_NOT_FOUND. A task without a version keeps its body. FX_OK, or not
   (then the task has its result). */
static int s_take_body(fx_mgr_t *self, fx_task_t *task)
{
    if (!task->function_version[0])
        return FX_OK;
    if (task->body && zframe_size(task->body)) {
        if (fx_bodies_put(self->bodies, task->function_version, &task->body) == FX_OK)
            return FX_OK;
        fx_warn("out of memory keeping the body of function version %s; task %s keeps its own copy",
                task->function_version, task->task_id);
        return FX_OK;
    }
    zframe_destroy(&task->body);
    if (fx_bodies_get(self->bodies, task->function_version))
        return FX_OK;
    fx_mgr_hold(self, task->task_id);
    fx_mgr_error_result(self, task->task_id, self->session, FX_E_NOT_FOUND,
                        "manager %s has no body for function version %s: the task came without it and it was "
                        "not sent before in this session (or was dropped past %d kept versions); not run",
                        self->args->id, task->function_version, FX_MGR_BODIES_MAX);
    fx_mgr_out_provenance(self, task, 0);
    return FX_E_NOT_FOUND;
}

static void s_on_tasks(fx_mgr_t *self, fx_msg_t *msg)
{
    if (self->signalled) {
        fx_warn(
            "dropped %u tasks that came after our SIGTERM (CREDIT 0 was sent); the interchange requeues them",
            msg->tasks.count);
        return;
    }
    for (uint32_t i = 0; i < msg->tasks.count; i++) {
        fx_task_t *task = &msg->tasks.tasks[i];
        fx_stamp(task->times, FX_TIME_MANAGER_RECEIVED);
        if (fx_mgr_adopt(self, task->task_id)) {
            fx_info("task %s arrived again while held; tied to the held copy", task->task_id);
            continue; /* the copy is freed with msg */
        }
        uint32_t key = 0;
        if (task->container[0] && fx_mgr_pools_key(self, task, &key) != FX_OK)
            continue; /* it has its FX_E_CONTAINER result */
        if (s_take_body(self, task) != FX_OK)
            continue;
        fx_queued_t item = {.task = *task, .session = self->session, .key = key};
        memset(task, 0, sizeof *task); /* the queue owns its frames now */
        fx_mgr_hold(self, item.task.task_id);
        if (fx_mgr_queue_push(self, &item, false) != FX_OK) {
            fx_mgr_error_result(self, item.task.task_id, self->session, FX_E_NOMEM,
                                "manager %s is out of memory; task not run", self->args->id);
            fx_task_clear(&item.task);
        }
    }
    size_t held = fx_mgr_held(self, false);
    size_t full = (size_t) self->args->workers + self->args->prefetch;
    if (held > full || self->draining)
        fx_warn("the interchange sent tasks beyond our CREDIT window (%zu held, window %u); queued anyway",
                held, self->credit_sent == UINT32_MAX ? 0 : self->credit_sent);
}

/* CANCEL: each id queued here or running in a worker ends with an
   FX_E_CANCELLED result; ids we do not hold (finished, never here) are
   ignored. queued_only spares running tasks. */
static void s_on_cancel(fx_mgr_t *self, fx_msg_t *msg)
{
    for (uint32_t i = 0; i < msg->cancel.count; i++)
        fx_mgr_workers_cancel(self, msg->cancel.ids[i], msg->cancel.queued_only != 0);
}

static void s_on_command(fx_mgr_t *self, fx_msg_t *msg)
{
    if (msg->command.command == FX_CMD_STOP) {
        fx_info("COMMAND STOP: finishing %zu held tasks for up to %u ms, taking no more",
                fx_mgr_held(self, false), self->args->stop_grace_ms);
        self->draining = true;
        int64_t deadline = fx_now_ms() + self->args->stop_grace_ms;
        if (!self->stop_deadline || deadline < self->stop_deadline)
            self->stop_deadline = deadline; /* never later than a SIGTERM's */
    }
    else if (msg->command.command == FX_CMD_DRAIN && !self->draining) {
        fx_info("COMMAND DRAIN: finishing %zu held tasks, taking no more", fx_mgr_held(self, false));
        self->draining = true;
    }
}

/* One message from the interchange, if one is waiting: false if none was. */
static bool s_read_one(fx_mgr_t *self)
{
    zmsg_t *zmsg = zmsg_recv(self->link);
    if (!zmsg)
        return false;
    self->last_heard = fx_now_ms();
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    zmsg_destroy(&zmsg);
    if (rc != FX_OK) {
        s_refuse(self, seq, rc,
                 "fx-manager cannot read the message: %s (%s); run an endpoint from the same fx release",
                 fx_strerror(rc), detail);
        return true;
    }
    /* SPEC 5.26.1, the one arrival check: the WELCOME has come once ACTIVE */
    fx_admit_t verdict =
        fx_link_admit(FX_LINK_MANAGER, FX_FROM_SERVING, self->state == FX_LINK_ACTIVE, msg->type);
    char why[FX_TEXT_MAX];
    switch (verdict) {
    case FX_ADMIT_HELLO:
        s_on_welcome(self, msg);
        break;
    case FX_ADMIT_REPORT:
        s_on_error(self, msg);
        break;
    case FX_ADMIT_NO_SESSION:
    case FX_ADMIT_UNEXPECTED:
        s_refuse(self, msg->seq, fx_link_refusal_code(verdict), "%s",
                 fx_link_refusal(FX_LINK_MANAGER, FX_FROM_SERVING, verdict, msg->type, why, sizeof why));
        break;
    case FX_ADMIT_OK:
        if (msg->type == FX_MSG_RESULTS_ACK)
            fx_mgr_ack(self, msg->ids.ids, msg->ids.count);
        else if (msg->type == FX_MSG_TASKS)
            s_on_tasks(self, msg);
        else if (msg->type == FX_MSG_CANCEL)
            s_on_cancel(self, msg);
        else if (msg->type == FX_MSG_COMMAND)
            s_on_command(self, msg);
        else if (msg->type == FX_MSG_CONTAINERS)
            fx_mgr_pools_define(self, msg->containers.containers, msg->containers.count);
        break; /* HEARTBEAT: only liveness, noted above */
    }
    fx_msg_destroy(&msg);
    return true;
}

/* Reads what the interchange sent, if the poll said there is something:
   until the socket has nothing more (it does not block: ZMQ_RCVTIMEO 0).
   The monitor is read when the poll says so, and while ACTIVE (when it is
   not polled) once per tick. */
void fx_mgr_link_read(fx_mgr_t *self)
{
    int64_t now = fx_now_ms();
    if (self->monitor_ready || now >= self->next_monitor) {
        fx_mgr_socket_events(self->uplink);
        self->next_monitor = now + FX_MGR_TICK_MS;
    }
    while (self->link_ready && !self->stopping && s_read_one(self))
        ;
}

/* A copy of r into dst (text and frames duplicated): the message sent
   takes the copy, the manager keeps r until it is acknowledged. */
static int s_copy_result(const fx_result_t *r, fx_result_t *dst)
{
    *dst = *r; /* ids, codes, stamps, provenance */
    dst->error_text = NULL;
    dst->value = dst->output = NULL;
    if (!dst->times[FX_TIME_MANAGER_SENT])
        fx_stamp(dst->times, FX_TIME_MANAGER_SENT);
    if (r->error_text && fx_result_set_text(dst, r->error_text) != FX_OK)
        return FX_E_NOMEM;
    dst->value = r->value ? zframe_dup(r->value) : zframe_new_empty();
    dst->output = r->output ? zframe_dup(r->output) : zframe_new_empty();
    return dst->value && dst->output ? FX_OK : FX_E_NOMEM;
}

/* Sends the results not yet sent in this session (new ones, and after a
   WELCOME the unacknowledged ones again) as RESULTS of at most
   FX_BATCH_MAX, while ACTIVE and the link takes them; else they wait.
   Called once per pass of the loop, after the workers were read: whatever
   ended in that pass goes in one message (a result never waits longer).
   Each stays held until a RESULTS_ACK names it. */
void fx_mgr_link_flush(fx_mgr_t *self)
{
    while (self->state == FX_LINK_ACTIVE && self->out_sent < self->out_len && s_writable(self)) {
        size_t left = self->out_len - self->out_sent;
        uint32_t n = left < FX_BATCH_MAX ? (uint32_t) left : FX_BATCH_MAX;
        fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
        if (!msg || fx_msg_alloc_records(msg, n) != FX_OK) {
            fx_msg_destroy(&msg);
            return;
        }
        for (uint32_t k = 0; k < n; k++)
            if (s_copy_result(&self->out[self->out_head + self->out_sent + k].result,
                              &msg->results.results[k]) != FX_OK) {
                fx_warn("out of memory copying results to send; trying again on the next pass");
                fx_msg_destroy(&msg);
                return;
            }
        if (s_send(self, &msg, 0) != FX_OK)
            return; /* kept unsent: the next pass tries again */
        self->out_sent += n;
    }
}

/* CAPACITY (SPEC 5.34, in place of CREDIT) whenever one of its numbers
   differs from the last one of this session (at most once per pass of the
   loop: this is called once per pass): the window after WELCOME, on
   DRAIN/STOP and as tasks of earlier sessions finish (SPEC 7.6, 7.7); the
   workers per container as they start, take tasks and finish them. With
   force (the heartbeat period is over) it is sent even if nothing changed:
   it is the manager's heartbeat then (9.2). */
static void s_capacity(fx_mgr_t *self, bool force)
{
    if (self->state != FX_LINK_ACTIVE || !s_writable(self))
        return;
    uint32_t window = fx_mgr_window(self), cold_free = 0, count = 0;
    fx_container_capacity_t recs[FX_POOL_KEYS];
    bool changed = fx_mgr_pools_capacity(self, &cold_free, recs, &count) || window != self->credit_sent;
    if (!changed && !force)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_CAPACITY);
    if (!msg || fx_msg_alloc_records(msg, count) != FX_OK) {
        fx_msg_destroy(&msg);
        return;
    }
    msg->capacity.window = window;
    msg->capacity.cold_free = cold_free;
    memcpy(msg->capacity.containers, recs, count * sizeof recs[0]);
    if (s_send(self, &msg, 0) == FX_OK) {
        self->credit_sent = window;
        self->cold_free_sent = cold_free;
        self->cap_sent_count = count;
        memcpy(self->cap_sent, recs, count * sizeof recs[0]);
    }
}

void fx_mgr_link_credit(fx_mgr_t *self)
{
    s_capacity(self, false);
}

/* Silence after which the interchange counts as lost (SPEC 9.3). */
uint32_t fx_mgr_lost_after_ms(fx_mgr_t *self)
{
    uint64_t ms = (uint64_t) self->args->heartbeat_missed * self->heartbeat_ms;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t) ms;
}

/* START or HELLO_SENT past the attempt's end without a WELCOME: whether
   the hello went out or the socket never became writable (a handshake
   that failed), say what is probably wrong, then start again on a new
   socket (SPEC 2.3.2, 2.3.5) and wait longer this time. */
static void s_attempt_failed(fx_mgr_t *self, int64_t now)
{
    const char *how =
        self->state == FX_LINK_HELLO_SENT ? "MANAGER_HELLO sent" : "no connection took MANAGER_HELLO";
    fx_warn(
        "no WELCOME from %s within %lld ms (attempt %u, %s): %s; trying again on a new socket, waiting up to "
        "%lld ms",
        self->args->interchange, (long long) s_attempt_ms(self, self->attempt), self->attempt, how,
        fx_mgr_socket_diagnosis(self->uplink), (long long) s_attempt_ms(self, self->attempt + 1));
    if (fx_mgr_socket_renew(self->uplink) == 0)
        self->link = fx_mgr_socket_zsock(self->uplink);
    self->link_events = -1;
    s_move(self, S_TIMEOUT);
    self->attempt++;
    self->attempt_end = now + s_attempt_ms(self, self->attempt);
}

/* Heartbeats, a lost interchange, a MANAGER_HELLO still unanswered, and
   the end of a manager left without an interchange for too long. */
void fx_mgr_link_timers(fx_mgr_t *self)
{
    int64_t now = fx_now_ms();
    int64_t lost_after = fx_mgr_lost_after_ms(self);
    int64_t orphan_ms = (int64_t) self->args->orphan_timeout_s * 1000;
    if (orphan_ms && now - self->last_heard >= orphan_ms) {
        fx_warn("nothing heard from the interchange at %s for %lld s (--orphan-timeout-s %u); exiting with "
                "%zu tasks held, which the interchange counts lost",
                self->args->interchange, (long long) ((now - self->last_heard) / 1000),
                self->args->orphan_timeout_s, fx_mgr_held(self, false));
        s_move(self, S_ORPHAN);
        return;
    }
    if (self->state == FX_LINK_ACTIVE) {
        if (now >= self->next_beat) {
            s_capacity(self, true); /* CAPACITY every heartbeat period, as the heartbeat */
            self->next_beat = now + self->heartbeat_ms;
        }
        if (now - self->last_heard >= lost_after) {
            char why[FX_ADDR_MAX + 128];
            snprintf(why, sizeof why, "nothing heard from the interchange at %s for %lld ms (%u heartbeats)",
                     self->args->interchange, (long long) (now - self->last_heard),
                     self->args->heartbeat_missed);
            s_rehello(self, why);
        }
        return;
    }
    if (now >= self->attempt_end)
        s_attempt_failed(self, now);
    s_say_hello(self);
}
