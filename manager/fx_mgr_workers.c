/*  fx_mgr_workers.c: the manager's side of the worker link (SPEC 6.4).

    Over the worker link (worker/fx_wlink.h: a socketpair per process the
    pool started, so a message's connection names its slot); a worker's
    READY must also name the pid the pool started. A task goes to an idle
    worker alone, sent from the frames the slot holds (no copy); the
    worker's one result
    comes back; a worker that overruns the task's walltime, or runs a task
    that is cancelled, is killed and the task ends with an error result.
    A worker that dies while running a task is replaced, and the task runs
    again on another worker (attempt + 1) until it has taken 1 + retries
    workers with it; then it ends with FX_E_WORKER_LOST naming each death.
    Each worker's state (fx_slot_state_t: SPEC 6.4's) changes only through
    fx_slot_on (fx_pool.c holds the table). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fx_link.h"
#include "fx_mgr_internal.h"

static void s_send(fx_mgr_t *self, fx_slot_t *slot, fx_msg_t **msg_p, uint32_t seq, int *rc_p)
{
    int rc = FX_E_NOMEM;
    if (*msg_p) {
        (*msg_p)->seq = seq;
        rc = fx_wlink_send(self->wlink, slot->peer, msg_p);
    }
    if (rc_p)
        *rc_p = rc;
}

static void s_refuse(fx_mgr_t *self, fx_wlink_peer_t peer, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ERROR to a worker, within its ERROR budget; logged either way. */
static void s_refuse(fx_mgr_t *self, fx_wlink_peer_t peer, uint32_t seq, int code, const char *fmt, ...)
{
    char text[FX_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_warn("refused a worker's message (%s): %s", fx_errname(code), text);
    fx_wlink_send_error(self->wlink, peer, seq, code, "%s", text);
}

int fx_mgr_workers_start(fx_mgr_t *self)
{
    char err[FX_ADDR_MAX + 128];
    self->wlink = fx_wlink_new(err, sizeof err);
    if (!self->wlink) {
        fx_error("%s", err);
        return -1;
    }
    self->pool = fx_pool_new(self->args->worker_path, self->wlink, self->args->workers);
    if (!self->pool)
        return -1;
    fx_mgr_pools_init_launcher(self);
    fx_pool_start_due(self->pool, fx_now_ms());
    fx_info("started %u worker%s (%s), a socketpair each", self->args->workers,
            self->args->workers == 1 ? "" : "s", self->args->worker_path);
    return 0;
}

/* Ends the slot's task with an error result; the slot keeps its state. */
static void s_end_task(fx_mgr_t *self, fx_slot_t *slot, int code, const char *what)
{
    fx_mgr_error_result(self, slot->task.task_id, slot->session, code,
                        "worker pid %d on manager %s %s task %s", (int) slot->pid, self->args->id, what,
                        slot->task.task_id);
    fx_mgr_out_provenance(self, &slot->task, slot->pid);
    fx_task_clear(&slot->task);
    slot->deadline_ms = 0;
}

static void s_on_ready(fx_mgr_t *self, fx_slot_t *slot, fx_msg_t *msg)
{
    if (slot->state != FX_SLOT_SPAWNED) {
        s_refuse(self, slot->peer, msg->seq, FX_E_UNEXPECTED, "worker pid %d said READY twice",
                 (int) slot->pid);
        return;
    }
    /* a container worker names its pid as it sees it (another pid
       namespace, or a child of the runtime): the connection alone, which
       only the launched process inherited, admits it (SPEC 2.4.2) */
    if (slot->key == 0 && msg->ready.pid != (uint32_t) slot->pid) {
        s_refuse(self, slot->peer, msg->seq, FX_E_FORBIDDEN,
                 "READY names pid %u, but this connection belongs to the manager's worker pid %d",
                 msg->ready.pid, (int) slot->pid);
        return;
    }
    fx_strlcpy(slot->python_version, msg->ready.python_version, sizeof slot->python_version);
    fx_slot_on(slot, FX_SLOT_READY);
    slot->failures = 0;
    if (slot->key != 0) {
        slot->inner_pid = msg->ready.pid;
        fx_mgr_pools_on_ready(self, slot);
    }
    fx_info("worker pid %d ready (Python %s) in %lld ms", (int) slot->pid, slot->python_version,
            (long long) (fx_now_ms() - slot->started_ms));
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME); /* id "" and no heartbeats (SPEC 5.23) */
    if (welcome)
        fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    s_send(self, slot, &welcome, msg->seq, NULL);
}

static void s_on_results(fx_mgr_t *self, fx_slot_t *slot, fx_msg_t *msg)
{
    fx_result_t *r = msg->results.count == 1 ? &msg->results.results[0] : NULL;
    if (slot->state != FX_SLOT_BUSY || !r || strcmp(r->task_id, slot->task.task_id) != 0) {
        s_refuse(self, slot->peer, msg->seq, FX_E_UNEXPECTED,
                 "RESULTS from worker pid %d must hold exactly the result of its running task (%s), not %u "
                 "result(s) starting with %s",
                 (int) slot->pid, slot->state == FX_SLOT_BUSY ? slot->task.task_id : "none",
                 msg->results.count, msg->results.count ? msg->results.results[0].task_id : "-");
        return;
    }
    r->attempt = slot->task.attempt; /* the worker does not know of reruns after deaths */
    if (slot->key != 0)
        fx_mgr_pools_tag(self, slot->key, r);
    fx_mgr_out_push(self, r, slot->session);
    fx_task_clear(&slot->task);
    slot->deadline_ms = 0;
    fx_slot_on(slot, FX_SLOT_DONE);
    if (slot->key != 0)
        fx_mgr_pools_on_done(self, slot);
}

/* A worker answered ERROR: the task it was given, if any, ends here (the
   worker did not take it), and the worker is idle again. */
static void s_on_error(fx_mgr_t *self, fx_slot_t *slot, int code, const char *text)
{
    fx_warn("worker pid %d reports %s: %s", (int) slot->pid, fx_errname(code), text);
    if (slot->state != FX_SLOT_BUSY)
        return;
    char what[FX_TEXT_MAX];
    snprintf(what, sizeof what, "refused (%s: %s)", fx_errname(code), text);
    s_end_task(self, slot, code > FX_OK && code <= FX_ERR_LAST ? code : FX_E_INTERNAL, what);
    fx_slot_on(slot, FX_SLOT_DONE);
}

/* One message from a worker (rc, peer, seq, detail: fx_wlink_recv's). */
static void s_read_one(fx_mgr_t *self, int rc, fx_wlink_peer_t peer, fx_msg_t *msg, uint32_t seq,
                       const char *detail)
{
    fx_slot_t *slot = fx_pool_find(self->pool, peer);
    if (!slot) { /* a connection whose process is gone */
        s_refuse(self, peer, seq, FX_E_FORBIDDEN, "connection %u is not one of this manager's processes now",
                 peer);
        return;
    }
    if (rc != FX_OK) {
        char text[FX_TEXT_MAX];
        snprintf(text, sizeof text, "the manager cannot read its message (%s: %s)", fx_strerror(rc), detail);
        s_on_error(self, slot, rc, text);
        s_refuse(self, slot->peer, seq, rc, "fx-manager cannot read the message: %s (%s)", fx_strerror(rc),
                 detail);
        return;
    }
    /* SPEC 5.26.1, the one arrival check: a worker's session is its READY */
    fx_admit_t verdict =
        fx_link_admit(FX_LINK_WORKER, FX_FROM_CONNECTING, slot->state != FX_SLOT_SPAWNED, msg->type);
    char why[FX_TEXT_MAX];
    switch (verdict) {
    case FX_ADMIT_HELLO:
        s_on_ready(self, slot, msg);
        break;
    case FX_ADMIT_REPORT: /* never answered with an ERROR */
        s_on_error(self, slot, msg->error.code, msg->error.text ? msg->error.text : "");
        break;
    case FX_ADMIT_NO_SESSION:
    case FX_ADMIT_UNEXPECTED:
        s_refuse(self, slot->peer, msg->seq, fx_link_refusal_code(verdict), "%s",
                 fx_link_refusal(FX_LINK_WORKER, FX_FROM_CONNECTING, verdict, msg->type, why, sizeof why));
        break;
    case FX_ADMIT_OK:
        s_on_results(self, slot, msg);
        break; /* RESULTS: the only other thing a worker sends */
    }
}

void fx_mgr_workers_read(fx_mgr_t *self)
{
    for (;;) {
        fx_wlink_peer_t peer = 0;
        fx_msg_t *msg = NULL;
        uint32_t seq = 0;
        const char *detail = "";
        int rc = fx_wlink_recv(self->wlink, &peer, &msg, &seq, &detail);
        if (rc == FX_E_TIMEOUT)
            return;
        s_read_one(self, rc, peer, msg, seq, detail);
        fx_msg_destroy(&msg);
    }
}

/* Longest list of deaths kept for the final error text; later ones are
   counted, and shown as "...". */
#define S_LOSSES_TEXT_MAX (FX_TEXT_MAX - 512)

static void s_losses_add(fx_losses_t *losses, const char *what)
{
    losses->count++;
    size_t old = losses->text ? strlen(losses->text) : 0;
    if (old && strcmp(losses->text + old - 3, "...") == 0)
        return;
    bool room = old + strlen(what) + 2 < S_LOSSES_TEXT_MAX;
    const char *add = room ? what : "...";
    char *text = realloc(losses->text, old + strlen(add) + 3);
    if (!text)
        return;
    snprintf(text + old, strlen(add) + 3, "%s%s", old ? ", " : "", add);
    losses->text = text;
}

/* A worker process ended (fx_pool_reap) while running a task: the task
   runs again, ahead of the queue, if it has lost fewer than 1 + retries
   workers; else it ends with FX_E_WORKER_LOST. Killed by us (walltime,
   cancel) the slot is KILLED, not BUSY, and nothing happens here. */
static void s_on_death(fx_slot_t *slot, int wait_status, void *arg)
{
    fx_mgr_t *self = arg;
    if (slot->key != 0 || slot->retiring || self->ctr_queued)
        fx_mgr_pools_on_death(self, slot, wait_status);
    if (slot->state != FX_SLOT_BUSY)
        return;
    char how[160], what[200];
    fx_pool_describe_exit(wait_status, how, sizeof how);
    snprintf(what, sizeof what, "worker pid %d %s", (int) slot->pid, how);
    s_losses_add(&slot->losses, what);
    uint32_t deaths = slot->losses.count;
    if (self->signalled) {
        fx_warn("%s while running task %s during our stop; not run again here (the interchange requeues it)",
                what, slot->task.task_id);
        return;
    }
    if (deaths <= slot->task.retries) {
        fx_queued_t item = {.task = slot->task, .session = slot->session, .losses = slot->losses,
                            .key = slot->key};
        item.task.attempt++;
        memset(&slot->task, 0, sizeof slot->task);
        memset(&slot->losses, 0, sizeof slot->losses);
        fx_warn("%s while running task %s (death %u, retries %u); running it again on another worker", what,
                item.task.task_id, deaths, item.task.retries);
        if (fx_mgr_queue_push(self, &item, true) == FX_OK)
            return;
        slot->task = item.task; /* out of memory: end it below */
        slot->losses = item.losses;
    }
    fx_warn("%s while running task %s (death %u, retries %u); the task ends with FX_E_WORKER_LOST", what,
            slot->task.task_id, deaths, slot->task.retries);
    fx_mgr_error_result(self, slot->task.task_id, slot->session, FX_E_WORKER_LOST,
                        "worker lost %u time%s running task %s on manager %s (attempts: %s)", deaths,
                        deaths == 1 ? "" : "s", slot->task.task_id, self->args->id,
                        slot->losses.text ? slot->losses.text : what);
    fx_mgr_out_provenance(self, &slot->task, slot->pid);
}

/* CANCEL of one id: a queued task is removed, a running one's worker
   process group is killed (that death is not a loss and is not retried);
   either way one FX_E_CANCELLED result. Other ids: nothing. */
void fx_mgr_workers_cancel(fx_mgr_t *self, const char *task_id, bool queued_only)
{
    fx_queued_t item;
    if (fx_mgr_queue_take(self, task_id, &item)) {
        fx_info("CANCEL: task %s removed before it ran", task_id);
        fx_mgr_error_result(self, item.task.task_id, item.session, FX_E_CANCELLED,
                            "task %s cancelled before it ran on manager %s", item.task.task_id,
                            self->args->id);
        fx_mgr_out_provenance(self, &item.task, 0);
        fx_task_clear(&item.task);
        fx_losses_clear(&item.losses);
        return;
    }
    for (uint32_t i = 0; !queued_only && self->pool && i < fx_pool_size(self->pool); i++) {
        fx_slot_t *slot = fx_pool_slot(self->pool, i);
        if (slot->state != FX_SLOT_BUSY || strcmp(slot->task.task_id, task_id) != 0)
            continue;
        fx_info("CANCEL: killing the process group of worker pid %d, which runs task %s", (int) slot->pid,
                task_id);
        fx_mgr_error_result(self, slot->task.task_id, slot->session, FX_E_CANCELLED,
                            "task %s cancelled while running on worker pid %d (manager %s)",
                            slot->task.task_id, (int) slot->pid, self->args->id);
        fx_mgr_out_provenance(self, &slot->task, slot->pid);
        fx_task_clear(&slot->task);
        slot->deadline_ms = 0;
        fx_slot_on(slot, FX_SLOT_KILL);
        kill(-slot->pid, SIGKILL);
        return;
    }
}

void fx_mgr_workers_reap(fx_mgr_t *self)
{
    fx_pool_reap(self->pool, s_on_death, self);
    if (!self->stopping)
        fx_pool_start_due(self->pool, fx_now_ms());
}

/* Kills the process group of every worker past its task's walltime. */
void fx_mgr_workers_walltime(fx_mgr_t *self)
{
    int64_t now = fx_now_ms();
    for (uint32_t i = 0; i < fx_pool_size(self->pool); i++) {
        fx_slot_t *slot = fx_pool_slot(self->pool, i);
        if (slot->state != FX_SLOT_BUSY || !slot->deadline_ms || now < slot->deadline_ms)
            continue;
        char what[96];
        snprintf(what, sizeof what, "was killed after the walltime of %u ms of", slot->task.walltime_ms);
        fx_warn("worker pid %d ran task %s past its walltime of %u ms; killing its process group",
                (int) slot->pid, slot->task.task_id, slot->task.walltime_ms);
        s_end_task(self, slot, FX_E_WALLTIME, what);
        fx_slot_on(slot, FX_SLOT_KILL);
        kill(-slot->pid, SIGKILL);
    }
}

/* The body to send with the slot's new task (SPEC 12.1.4) in *body_p: a
   task without a version sends its own; with one, nothing if the slot's
   worker was sent that version before, else the store's. A version whose
   body the store dropped meanwhile ends the task with FX_E_NOT_FOUND and
   the slot is idle again: not FX_OK. */
static int s_body_for(fx_mgr_t *self, fx_slot_t *slot, zframe_t **body_p)
{
    const char *version = slot->task.function_version;
    fx_seen_t *seen = self->seen[slot->index];
    fx_seen_for(seen, (int) slot->pid, slot->started_ms);
    if (!version[0] || slot->task.body) { /* no version, or a body the store could not take */
        *body_p = slot->task.body;
        return FX_OK;
    }
    if (fx_seen_has(seen, version))
        return FX_OK;
    *body_p = fx_bodies_get(self->bodies, version);
    if (*body_p)
        return FX_OK;
    s_end_task(self, slot, FX_E_NOT_FOUND, "has no body of its function version for");
    fx_slot_on(slot, FX_SLOT_DONE);
    return FX_E_NOT_FOUND;
}

/* Gives item (taken off its queue) to the idle slot: the slot keeps the
   task (for its error result, and for retries later); the worker is sent
   it from the slot's frames, which are not copied. */
void fx_mgr_workers_give(fx_mgr_t *self, fx_slot_t *slot, fx_queued_t *item)
{
    slot->task = item->task;
    slot->session = item->session;
    slot->losses = item->losses;
    fx_slot_on(slot, FX_SLOT_TASK);
    slot->deadline_ms =
        item->task.walltime_ms ? fx_now_ms() + item->task.walltime_ms + FX_MGR_WALLTIME_SLACK_MS : 0;
    zframe_t *body = NULL;
    const char *version = slot->task.function_version;
    if (s_body_for(self, slot, &body) != FX_OK)
        return;
    int rc = fx_wlink_send_task(self->wlink, slot->peer, &slot->task, body);
    if (rc == FX_OK && version[0] && body) {
        fx_seen_add(self->seen[slot->index], version);
        self->bodies_sent++;
        fx_info("worker pid %d gets the body of function version %s (%zu bytes; %llu bodies sent to workers)",
                (int) slot->pid, version, zframe_size(body), (unsigned long long) self->bodies_sent);
    }
    if (rc != FX_OK) {
        fx_warn("cannot hand task %s to worker pid %d (%s); task requeued, worker replaced", slot->task.task_id,
                (int) slot->pid, fx_strerror(rc));
        fx_queued_t back = {.task = slot->task, .session = slot->session, .losses = slot->losses,
                            .key = slot->key, .order = item->order};
        memset(&slot->task, 0, sizeof slot->task);
        memset(&slot->losses, 0, sizeof slot->losses);
        fx_mgr_queue_push(self, &back, true);
        slot->deadline_ms = 0;
        fx_slot_on(slot, FX_SLOT_KILL);
        kill(-slot->pid, SIGKILL);
    }
}

/* Container tasks first, when there are any (fx_mgr_pools.c: their idle
   workers, cold starts); then queued host tasks, oldest first, to idle
   host workers (the path every task took before containers, unchanged);
   then, when host tasks still wait and container workers hold slots, the
   strategy's slots for them. */
void fx_mgr_workers_dispatch(fx_mgr_t *self)
{
    if (self->ctr_queued)
        fx_mgr_pools_dispatch(self);
    fx_slot_t *slot;
    while (self->host_pool.queue.len && (slot = fx_pool_idle(self->pool))) {
        fx_queued_t item;
        fx_mgr_queue_pop(self, 0, &item);
        fx_mgr_workers_give(self, slot, &item);
    }
    if (self->host_pool.queue.len && fx_pool_total_key(self->pool, 0) < fx_pool_size(self->pool))
        fx_mgr_pools_host(self);
}
