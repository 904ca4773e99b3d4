/*  fx_mgr.c: the manager's loop and what it holds; see fx_mgr.h.

    A task is *held* from the TASKS that brings it until its result has
    gone to the interchange: queued here, running in a worker, or a result
    waiting to be sent. A result that went out stays here, *unacked*, until
    a RESULTS_ACK names it (the interchange sends one once the broker has
    committed the result, SPEC 6.3, 8.3); after every new WELCOME the
    unacked results are sent again (the broker deduplicates by task id).
    Unacked results do not count as held tasks (the interchange's in_flight
    dropped when they arrived), but past FX_MGR_UNACKED_MAX of them the
    window is 0. Each held task remembers the interchange session
    (count of WELCOMEs) it came in. After the interchange forgets us and
    WELCOMEs us again, tasks of earlier sessions still count against our
    capacity but not against its in_flight, so the window we announce is
    workers + prefetch less those (SPEC 7.7). The same task id arriving
    while held is tied to the held copy, never run twice alongside it.

    Each pass of the loop runs the same phases in order: signals, the
    interchange, the workers, dead workers and walltimes, dispatch, results,
    credit, heartbeats, and the end of a drain. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_mgr_internal.h"

static volatile sig_atomic_t s_signal; /* SIGTERM or SIGINT received */
static volatile sig_atomic_t s_child;  /* SIGCHLD received: a worker to reap */

static void s_on_signal(int sig)
{
    if (sig == SIGCHLD)
        s_child = 1; /* it also interrupts the poll */
    else
        s_signal = sig;
}

static void s_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the poll returns on a signal */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ------------------------------------------------ held tasks */

int fx_ring_push(fx_ring_t *r, fx_queued_t *item, bool front)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        fx_queued_t *q = calloc(cap, sizeof *q);
        if (!q)
            return FX_E_NOMEM;
        for (size_t i = 0; i < r->len; i++)
            q[i] = r->q[(r->head + i) % r->cap];
        free(r->q);
        r->q = q;
        r->cap = cap;
        r->head = 0;
    }
    size_t at;
    if (front)
        at = r->head = (r->head + r->cap - 1) % r->cap;
    else
        at = (r->head + r->len) % r->cap;
    r->q[at] = *item;
    memset(item, 0, sizeof *item);
    r->len++;
    return FX_OK;
}

void fx_ring_pop(fx_ring_t *r, fx_queued_t *item)
{
    *item = r->q[r->head];
    memset(&r->q[r->head], 0, sizeof *item);
    r->head = (r->head + 1) % r->cap;
    r->len--;
}

fx_queued_t *fx_ring_at(fx_ring_t *r, size_t i)
{
    return &r->q[(r->head + i) % r->cap];
}

/* Removes the task with this id into item: true, or false if the ring
   has none. The others keep their order. */
static bool s_ring_take(fx_ring_t *r, const char *task_id, fx_queued_t *item)
{
    for (size_t i = 0; i < r->len; i++) {
        fx_queued_t *q = fx_ring_at(r, i);
        if (strcmp(q->task.task_id, task_id) != 0)
            continue;
        *item = *q;
        for (size_t k = i; k + 1 < r->len; k++)
            *fx_ring_at(r, k) = *fx_ring_at(r, k + 1);
        memset(fx_ring_at(r, r->len - 1), 0, sizeof *item);
        r->len--;
        return true;
    }
    return false;
}

int fx_mgr_queue_push(fx_mgr_t *self, fx_queued_t *item, bool front)
{
    uint32_t key = item->key < FX_POOL_KEYS && self->ctrs[item->key] ? item->key : 0;
    item->key = key;
    if (!item->order)
        item->order = ++self->arrivals;
    int rc = fx_ring_push(&self->ctrs[key]->queue, item, front);
    if (rc == FX_OK) {
        self->queued++;
        self->ctr_queued += key != 0;
    }
    return rc;
}

void fx_mgr_queue_pop(fx_mgr_t *self, uint32_t key, fx_queued_t *item)
{
    fx_ring_pop(&self->ctrs[key]->queue, item);
    self->queued--;
    self->ctr_queued -= key != 0;
}

/* Removes the queued task with this id into item: true, or false if no
   queued task has it. */
bool fx_mgr_queue_take(fx_mgr_t *self, const char *task_id, fx_queued_t *item)
{
    for (uint32_t k = 0; k < FX_POOL_KEYS; k++)
        if (self->ctrs[k] && self->ctrs[k]->queue.len && s_ring_take(&self->ctrs[k]->queue, task_id, item)) {
            self->queued--;
            self->ctr_queued -= k != 0;
            return true;
        }
    return false;
}

/* Drops every queued task (frames and losses freed). */
void fx_mgr_queue_clear(fx_mgr_t *self)
{
    fx_queued_t item;
    for (uint32_t k = 0; k < FX_POOL_KEYS; k++)
        while (self->ctrs[k] && self->ctrs[k]->queue.len) {
            fx_mgr_queue_pop(self, k, &item);
            if (self->held_ids)
                zhashx_delete(self->held_ids, item.task.task_id);
            fx_task_clear(&item.task);
            fx_losses_clear(&item.losses);
        }
}

static void s_result_free(fx_result_t *r)
{
    free(r->error_text);
    zframe_destroy(&r->value);
    zframe_destroy(&r->output);
    memset(r, 0, sizeof *r);
}

/* The held result at position i (0 = the oldest). */
static fx_outgoing_t *s_out(fx_mgr_t *self, size_t i)
{
    return &self->out[self->out_head + i];
}

/* Room for one more result at the end; false if out of memory. */
static bool s_out_room(fx_mgr_t *self)
{
    if (self->out_head + self->out_len < self->out_cap)
        return true;
    if (self->out_head > 0) {
        memmove(self->out, self->out + self->out_head, self->out_len * sizeof *self->out);
        self->out_head = 0;
        return true;
    }
    size_t cap = self->out_cap ? self->out_cap * 2 : 64;
    fx_outgoing_t *out = realloc(self->out, cap * sizeof *out);
    if (!out)
        return false;
    self->out = out;
    self->out_cap = cap;
    return true;
}

void fx_mgr_out_push(fx_mgr_t *self, fx_result_t *result, uint32_t session)
{
    if (!s_out_room(self)) {
        fx_warn("out of memory holding the result of task %s; the interchange will count it lost",
                result->task_id);
        s_result_free(result);
        return;
    }
    if (self->state != FX_LINK_ACTIVE)
        fx_info("task=%s ended while the interchange has no session with us; its result waits for the next "
                "WELCOME",
                result->task_id);
    if (!result->host[0]) /* provenance (SPEC 12.6): where it ran, or was refused */
        fx_strlcpy(result->host, self->host, sizeof result->host);
    fx_outgoing_t *o = &self->out[self->out_head + self->out_len++];
    o->result = *result;
    o->session = session;
    memset(result, 0, sizeof *result);
}

void fx_mgr_error_result(fx_mgr_t *self, const char *task_id, uint32_t session, int code, const char *fmt,
                         ...)
{
    char text[FX_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_result_t r;
    memset(&r, 0, sizeof r);
    fx_strlcpy(r.task_id, task_id, sizeof r.task_id);
    r.status = FX_RESULT_ERROR;
    r.error_code = (uint16_t) code;
    fx_result_set_text(&r, text);
    fx_mgr_out_push(self, &r, session);
}

void fx_mgr_out_provenance(fx_mgr_t *self, const fx_task_t *task, int pid)
{
    if (!self->out_len)
        return;
    fx_result_t *r = &self->out[self->out_head + self->out_len - 1].result;
    if (strcmp(r->task_id, task->task_id) != 0)
        return;
    memcpy(r->times, task->times, sizeof r->times);
    r->worker_pid = pid > 0 ? (uint32_t) pid : 0;
    r->attempt = task->attempt; /* raised for each rerun after a worker death */
    fx_strlcpy(r->container, task->container, sizeof r->container); /* SPEC 12.7.5 */
}

/* Notes task_id as held (fx_mgr_adopt looks here first). */
void fx_mgr_hold(fx_mgr_t *self, const char *task_id)
{
    if (self->held_ids && !zhashx_lookup(self->held_ids, task_id))
        zhashx_insert(self->held_ids, task_id, (void *) 1);
}

/* If task_id is held, it now belongs to the current session (the
   interchange sent it again and counts it in flight): true. A task not in
   held_ids costs one hash lookup; only one that is (or was) held is looked
   for among the queued, running and finished ones. */
bool fx_mgr_adopt(fx_mgr_t *self, const char *task_id)
{
    if (self->held_ids && !zhashx_lookup(self->held_ids, task_id))
        return false;
    for (uint32_t k = 0; k < FX_POOL_KEYS; k++)
        for (size_t i = 0; self->ctrs[k] && i < self->ctrs[k]->queue.len; i++) {
            fx_queued_t *q = fx_ring_at(&self->ctrs[k]->queue, i);
            if (strcmp(q->task.task_id, task_id) == 0) {
                q->session = self->session;
                return true;
            }
        }
    for (uint32_t i = 0; self->pool && i < fx_pool_size(self->pool); i++) {
        fx_slot_t *slot = fx_pool_slot(self->pool, i);
        if (slot->state == FX_SLOT_BUSY && strcmp(slot->task.task_id, task_id) == 0) {
            slot->session = self->session;
            return true;
        }
    }
    for (size_t i = 0; i < self->out_len; i++) {
        fx_outgoing_t *o = s_out(self, i);
        if (strcmp(o->result.task_id, task_id) != 0)
            continue;
        /* sent or not: send it (again) in this session, where the
           interchange counts the task in flight; one sent goes to the end,
           among the ones to send */
        o->session = self->session;
        if (i < self->out_sent) {
            fx_outgoing_t keep = *o;
            memmove(o, o + 1, (self->out_len - i - 1) * sizeof *o);
            *s_out(self, self->out_len - 1) = keep;
            self->out_sent--;
        }
        return true;
    }
    if (self->held_ids)
        zhashx_delete(self->held_ids, task_id); /* it lingered: its task has gone */
    return false;
}

/* Tasks held, or only those from earlier sessions. All of them cost O(1);
   those of earlier sessions are counted by a walk only while some may
   exist, that is after a WELCOME until a walk finds none (new tasks are
   always of the current session). */
size_t fx_mgr_held(fx_mgr_t *self, bool old_only)
{
    uint32_t busy = self->pool ? fx_pool_count(self->pool, FX_SLOT_BUSY) : 0;
    if (!old_only)
        return self->queued + busy + (self->out_len - self->out_sent);
    if (!self->old_possible)
        return 0;
    size_t n = 0;
    for (uint32_t k = 0; k < FX_POOL_KEYS; k++)
        for (size_t i = 0; self->ctrs[k] && i < self->ctrs[k]->queue.len; i++)
            n += fx_ring_at(&self->ctrs[k]->queue, i)->session != self->session;
    for (uint32_t i = 0; busy && i < fx_pool_size(self->pool); i++) {
        fx_slot_t *slot = fx_pool_slot(self->pool, i);
        n += slot->state == FX_SLOT_BUSY && slot->session != self->session;
    }
    for (size_t i = self->out_sent; i < self->out_len; i++)
        n += s_out(self, i)->session != self->session;
    if (n == 0)
        self->old_possible = false;
    return n;
}

/* Results sent in this session and not yet acknowledged. */
size_t fx_mgr_unacked(fx_mgr_t *self)
{
    return self->out_sent;
}

/* The held result i is acknowledged: freed and forgotten (the caller
   closes the gap). */
static void s_out_forget(fx_mgr_t *self, fx_outgoing_t *o)
{
    if (self->held_ids)
        zhashx_delete(self->held_ids, o->result.task_id);
    s_result_free(&o->result);
}

/* RESULTS_ACK: forgets the results it names, sent or not (an ack means the
   broker has the result); unknown ids are ignored. Acks usually name the
   oldest results in the order they went out: those are taken off the front
   at once; any others are looked up by a hash of the rest. Returns how many
   went. */
size_t fx_mgr_ack(fx_mgr_t *self, const fx_id_text_t *ids, uint32_t count)
{
    size_t front = 0;
    while (front < count && front < self->out_len &&
           memcmp(s_out(self, front)->result.task_id, ids[front], FX_ID_LEN) == 0)
        s_out_forget(self, s_out(self, front++));
    self->out_head += front;
    self->out_len -= front;
    self->out_sent = self->out_sent > front ? self->out_sent - front : 0;
    if (front == count || !self->out_len)
        return front;
    zhashx_t *acked = zhashx_new();
    if (!acked)
        return front; /* kept: sent again after the next WELCOME, acked then */
    for (uint32_t i = (uint32_t) front; i < count; i++)
        zhashx_insert(acked, ids[i], (void *) 1);
    size_t kept = 0, sent_kept = 0;
    for (size_t i = 0; i < self->out_len; i++) {
        fx_outgoing_t *o = s_out(self, i);
        if (zhashx_lookup(acked, o->result.task_id))
            s_out_forget(self, o);
        else {
            sent_kept += i < self->out_sent;
            *s_out(self, kept++) = *o;
        }
    }
    zhashx_destroy(&acked);
    size_t gone = self->out_len - kept;
    self->out_len = kept;
    self->out_sent = sent_kept;
    return front + gone;
}

/* The window to announce now (SPEC 7.1, 7.7, 5.21). */
uint32_t fx_mgr_window(fx_mgr_t *self)
{
    if (self->draining)
        return 0;
    if (fx_mgr_unacked(self) > FX_MGR_UNACKED_MAX)
        return 0; /* too many results unacknowledged: no more work until acks come */
    size_t full = (size_t) self->args->workers + self->args->prefetch;
    size_t old = fx_mgr_held(self, true);
    return old >= full ? 0 : (uint32_t) (full - old);
}

/* Once a second: how many ERRORs the limit held back (SPEC 10.3). */
void fx_mgr_errors_tick(fx_mgr_t *self)
{
    int64_t now = fx_now_ms();
    if (now < self->next_errors_tick)
        return;
    self->next_errors_tick = now + 1000;
    uint64_t held = fx_errlimit_tick(self->errors, now) + (self->wlink ? fx_wlink_tick(self->wlink, now) : 0);
    if (held)
        fx_warn("%llu ERROR replies to the interchange or the workers were not sent (rate limit)",
                (unsigned long long) held);
}

/* ------------------------------------------------ run */

static void s_cleanup(fx_mgr_t *self)
{
    if (self->pool)
        fx_pool_stop(self->pool, FX_MGR_TERM_GRACE_MS);
    fx_mgr_link_flush(self); /* what finished before the stop */
    fx_pool_destroy(&self->pool);
    fx_wlink_destroy(&self->wlink);
    fx_mgr_socket_destroy(&self->uplink); /* lingers a moment for the last messages */
    fx_mgr_queue_clear(self);
    fx_mgr_pools_destroy(self);
    for (size_t i = 0; i < self->out_len; i++)
        s_result_free(&s_out(self, i)->result);
    free(self->out);
    zhashx_destroy(&self->held_ids);
    for (uint32_t i = 0; self->seen && i < self->args->workers; i++)
        fx_seen_destroy(&self->seen[i]);
    free(self->seen);
    fx_bodies_destroy(&self->bodies);
    fx_errlimit_destroy(&self->errors);
    zframe_destroy(&self->link_peer);
}

/* SIGTERM/SIGINT: CREDIT 0 at once, drop the tasks not started (the
   interchange requeues what a leaving manager held), let the running ones
   finish within --stop-grace-ms and send their results. */
static void s_on_signal_stop(fx_mgr_t *self, int sig)
{
    size_t queued = self->queued;
    fx_mgr_queue_clear(self);
    int64_t deadline = fx_now_ms() + self->args->stop_grace_ms;
    if (!self->stop_deadline || deadline < self->stop_deadline)
        self->stop_deadline = deadline;
    self->draining = true;
    self->signalled = true;
    fx_info("got %s: taking no more tasks, dropped %zu not yet started (the interchange requeues them), "
            "%zu running or unsent get up to %u ms; a second signal stops at once",
            strsignal(sig), queued, fx_mgr_held(self, false), self->args->stop_grace_ms);
}

/* Ends a drain or a STOP: when nothing is held and every result sent has
   been acknowledged, or STOP's grace is over. After a signal the acks are
   not waited for: the endpoint stops its managers only once the broker
   acked what they sent, or when its own grace is over. */
static void s_check_end(fx_mgr_t *self)
{
    if (!self->draining)
        return;
    size_t held = fx_mgr_held(self, false);
    size_t unacked = fx_mgr_unacked(self);
    if (held == 0 && (unacked == 0 || self->signalled)) {
        if (unacked)
            fx_info("drained: nothing queued, running or unsent; %zu result(s) sent are not yet "
                    "acknowledged (the endpoint holds them); stopping",
                    unacked);
        else
            fx_info("drained: nothing queued, running, unsent or unacknowledged; stopping");
        self->stopping = true;
    }
    else if (self->stop_deadline && fx_now_ms() >= self->stop_deadline) {
        fx_warn("stop grace of %u ms is over with %zu tasks held (the interchange counts them lost) "
                "and %zu result(s) unacknowledged",
                self->args->stop_grace_ms, held, unacked);
        self->stopping = true;
    }
}

/* ZMQ_EVENTS of sock: what libzmq has for us now (each ask costs it a
   getpid()). */
static int s_events(zsock_t *sock)
{
    return sock ? zsock_events(sock) : 0;
}

/* Waits up to ms for the interchange's socket, its monitor (only while
   there is no session: ACTIVE, the monitor is read on the tick) or the
   worker link, in one poll() over their descriptors; notes which of them
   have something. zmq_poll would do the same with two poll()s and a
   getpid() per socket per round; this asks each ZeroMQ socket once before
   sleeping (libzmq may already hold input it took in during this pass, and
   then its descriptor does not fire again) and again only if its
   descriptor fired. The link's ZMQ_EVENTS (POLLOUT too) serve the whole
   pass (s_writable in fx_mgr_link.c). */
static void s_poll(fx_mgr_t *self, int ms)
{
    zsock_t *monitor = self->state == FX_LINK_ACTIVE ? NULL : fx_mgr_socket_monitor(self->uplink);
    int link_ev = s_events(self->link), mon_ev = s_events(monitor);
    struct pollfd fds[4];
    nfds_t n = 0;
    fds[n++] = (struct pollfd){zsock_fd(self->link), POLLIN, 0};
    int mon = -1, wl = -1, errs = -1;
    if (monitor) {
        mon = (int) n;
        fds[n++] = (struct pollfd){zsock_fd(monitor), POLLIN, 0};
    }
    if (self->wlink) {
        wl = (int) n;
        fds[n++] = (struct pollfd){fx_wlink_fd(self->wlink), POLLIN, 0};
    }
    if (self->pool && fx_pool_err_fd(self->pool) >= 0) { /* container workers' stderr */
        errs = (int) n;
        fds[n++] = (struct pollfd){fx_pool_err_fd(self->pool), POLLIN, 0};
    }
    if ((link_ev | mon_ev) & ZMQ_POLLIN)
        ms = 0;
    int rc = poll(fds, n, ms);
    if (rc > 0 && fds[0].revents)
        link_ev = s_events(self->link);
    if (rc > 0 && mon >= 0 && fds[mon].revents)
        mon_ev = s_events(monitor);
    self->link_events = link_ev;
    self->link_ready = (link_ev & ZMQ_POLLIN) != 0;
    self->monitor_ready = (mon_ev & ZMQ_POLLIN) != 0;
    self->workers_ready = rc > 0 && wl >= 0 && (fds[wl].revents & POLLIN) != 0;
    if (rc > 0 && errs >= 0 && fds[errs].revents)
        fx_pool_err_pump(self->pool);
}

int fx_mgr_run(const fx_mgr_args_t *args)
{
    fx_mgr_t mgr = {.args = args, .heartbeat_ms = args->heartbeat_ms, .exit_status = 0};
    fx_mgr_t *self = &mgr;
    fx_keypair_t kp;
    char err[512];
    if (fx_keypair_load(args->key_file, &kp, false, err, sizeof err) != 0) {
        fx_error("%s; pass the manager keypair file the endpoint wrote (manager.key)", err);
        return 1;
    }
    zsys_handler_set(NULL); /* our handlers, not czmq's */
    s_install_signals();
    self->errors = fx_errlimit_new();
    self->link_peer = zframe_new("interchange", 11);
    self->held_ids = zhashx_new();
    self->bodies = fx_bodies_new();
    self->seen = calloc(args->workers ? args->workers : 1, sizeof *self->seen);
    bool seen_ok = self->seen != NULL;
    for (uint32_t i = 0; seen_ok && i < args->workers; i++)
        seen_ok = (self->seen[i] = fx_seen_new()) != NULL;
    if (gethostname(self->host, sizeof self->host - 1) != 0)
        fx_strlcpy(self->host, "unknown", sizeof self->host);
    if (!self->errors || !self->link_peer || !self->held_ids || !self->bodies || !seen_ok ||
        fx_mgr_pools_init(self) != 0) {
        fx_error("out of memory");
        self->exit_status = 1;
        goto done;
    }
    if (fx_mgr_link_open(self, &kp) != 0) {
        self->exit_status = 1;
        goto done;
    }
    fx_info("manager %s connecting to %s (workers %u, prefetch %u)", args->id, args->interchange,
            args->workers, args->prefetch);
    while (!self->stopping) {
        int64_t now = fx_now_ms();
        int64_t timeout = FX_MGR_TICK_MS;
        if (self->state == FX_LINK_ACTIVE && self->next_beat - now < timeout)
            timeout = self->next_beat > now ? self->next_beat - now : 0;
        s_poll(self, (int) timeout);
        if (s_signal) {
            int sig = s_signal;
            s_signal = 0;
            if (self->signalled) {
                fx_info("got %s again; stopping now", strsignal(sig));
                break;
            }
            s_on_signal_stop(self, sig);
        }
        fx_mgr_link_read(self);
        if (self->stopping)
            break;
        if (self->pool) {
            if (self->workers_ready)
                fx_wlink_pump(self->wlink);
            fx_mgr_workers_read(self);
            now = fx_now_ms();
            if (s_child || now >= self->next_tick) {
                s_child = 0;
                fx_mgr_workers_reap(self);
                if (now >= self->next_tick) {
                    fx_mgr_workers_walltime(self);
                    fx_mgr_pools_tick(self, now);
                    self->next_tick = now + FX_MGR_TICK_MS;
                }
            }
            fx_mgr_workers_dispatch(self);
        }
        fx_mgr_link_flush(self);
        fx_mgr_link_credit(self);
        fx_mgr_link_timers(self);
        fx_mgr_errors_tick(self);
        s_check_end(self);
    }
done:
    s_cleanup(self);
    return self->exit_status;
}
