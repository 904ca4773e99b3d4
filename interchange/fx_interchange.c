/*  fx_interchange.c: the interchange's life cycle and its loop. The state
    of the loop lives here and nowhere else; each phase of a pass is in its
    own file (see fx_ix_internal.h) and sees only the parts it is handed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_ix_launcher.h"
#include "fx_log.h"

/* How long managers get to exit after STOP and SIGTERM before SIGKILL. */
#define S_STOP_TIMEOUT_MS 5000

/* How often the stats file is rewritten. */
#define S_STATS_PERIOD_MS 1000

struct fx_interchange_t {
    const fx_interchange_conf_t *conf;
    fx_ix_link_t *link;
    fx_ix_port_t *port; /* the managers' port: NULL until the first WELCOME */
    zpoller_t *poller;
    fx_ix_work_t work;
    fx_ix_sent_t sent;
    fx_ix_launcher_t *launcher;
    bool draining;             /* COMMAND(DRAIN): announce 0, stop when empty */
    bool leaving;              /* SIGTERM: window 0, managers drain, no dispatch;
                                  stop once in-flight results are acked */
    bool stopping;             /* signal, end of a drain, or STOP's grace over */
    int64_t stop_deadline;     /* STOP or signal: exit by then; 0 = none */
    int64_t adopt_deadline;    /* managers of an earlier run: hello by then; 0 = none */
    bool fatal;                /* the broker refused us: exit 1 */
    bool ready;                /* the broker welcomed us once */
    int64_t next_beat;         /* next heartbeat / periodic CREDIT to the broker */
    int64_t next_manager_beat; /* next heartbeat to the managers */
    int64_t next_stats;        /* next stats file write */
};

fx_interchange_t *fx_interchange_new(const fx_interchange_conf_t *conf, char *err, size_t errlen)
{
    fx_interchange_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->conf = conf;
    fx_ix_work_t *w = &self->work;
    w->tasks = fx_ix_tasks_new();
    w->managers = fx_ix_managers_new();
    w->results = fx_ix_results_new();
    w->orphans = zlistx_new();
    char pids_path[PATH_MAX + 16];
    snprintf(pids_path, sizeof pids_path, "%s/managers.pids", conf->identity->dir);
    self->launcher = fx_ix_launcher_new(pids_path);
    if (!w->tasks || !w->managers || !w->results || !self->launcher || !w->orphans) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->link = fx_ix_link_new(conf->creds->broker_endpoint, &conf->identity->endpoint_kp,
                                conf->creds->broker_public_key, conf->identity->endpoint_id,
                                conf->heartbeat_ms, conf->heartbeat_missed, err, errlen);
    if (!self->link)
        goto fail;
    return self;
fail:
    fx_interchange_destroy(&self);
    return NULL;
}

void fx_interchange_destroy(fx_interchange_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_interchange_t *self = *self_p;
    zpoller_destroy(&self->poller);
    fx_ix_port_destroy(&self->port);
    fx_ix_link_destroy(&self->link);
    /* the registry points at tasks the store owns: registry first */
    fx_ix_managers_destroy(&self->work.managers);
    fx_ix_tasks_destroy(&self->work.tasks);
    fx_ix_results_destroy(&self->work.results);
    fx_ix_launcher_destroy(&self->launcher);
    zlistx_destroy(&self->work.orphans);
    free(self);
    *self_p = NULL;
}

void fx_ix_welcomed(fx_interchange_t *self, bool first)
{
    self->sent.credit_sent = false; /* the session is new: announce the window now */
    self->sent.status_sent = false;
    if (first) {
        self->ready = true;
        printf("fx-endpoint: ready endpoint_id=%s\n", self->conf->identity->endpoint_id);
        fflush(stdout);
    }
}

void fx_ix_refused(fx_interchange_t *self)
{
    self->fatal = true;
}

/* DRAIN: announce 0, dispatch no more, finish the tasks at managers and
   have their results acknowledged, then stop; tasks still queued here are
   left to the broker (it requeues them when it sees this endpoint gone).
   STOP: the same, but exit after --stop-grace-ms even if tasks remain
   (SPEC 5.21). Both are passed on to every manager. */
void fx_ix_command(fx_interchange_t *self, int command)
{
    fx_ix_work_t *w = &self->work;
    if (command == FX_CMD_STOP && !self->stop_deadline) {
        fx_info("the broker asked this endpoint to stop: announcing window 0, waiting up to "
                   "%d ms for the results of the %zu task(s) at managers",
                   self->conf->stop_grace_ms, fx_ix_tasks_held(w->tasks) - fx_ix_tasks_queued(w->tasks));
        self->draining = true;
        self->stop_deadline = fx_now_ms() + self->conf->stop_grace_ms;
        fx_ix_port_command(self->port, w->managers, FX_CMD_STOP);
    }
    else if (command == FX_CMD_DRAIN && !self->draining) {
        fx_info("the broker asked this endpoint to drain: announcing window 0, finishing the "
                   "%zu task(s) at managers, then stopping",
                   fx_ix_tasks_held(w->tasks) - fx_ix_tasks_queued(w->tasks));
        self->draining = true;
        fx_ix_port_command(self->port, w->managers, FX_CMD_DRAIN);
    }
}

static void s_write_stats(fx_interchange_t *self)
{
    if (!self->conf->stats_file)
        return;
    self->work.stats.held = fx_ix_held(&self->work);
    if (fx_ix_stats_write(&self->work.stats, self->conf->stats_file) != 0)
        fx_warn("cannot write the stats file %s; check that its directory is writable",
                   self->conf->stats_file);
}

/* Phase 2 for this interchange. */
static void s_broker_read(fx_interchange_t *self)
{
    fx_ix_broker_read(self->link, &self->work, self->port, self);
}

/* Phase 6 for this interchange. */
static void s_broker_send(fx_interchange_t *self, bool beat)
{
    fx_ix_broker_send(self->link, &self->work, &self->sent, fx_ix_window(&self->work, self->draining), beat);
}

/* Say hello and wait for the first WELCOME, re-saying hello while the
   broker is silent. Returns 0 when welcomed, 1 if refused, -1 if told to
   stop first. */
static int s_wait_welcome(fx_interchange_t *self)
{
    fx_ix_broker_tick(self->link, &self->work, self, fx_now_ms()); /* START: the first hello */
    self->poller = zpoller_new(fx_ix_link_socket(self->link), NULL);
    fx_ix_link_set_poller(self->link, self->poller);
    while (self->poller && !self->ready && !self->fatal && !zsys_interrupted) {
        zpoller_wait(self->poller, self->conf->heartbeat_ms);
        s_broker_read(self);
        fx_ix_broker_tick(self->link, &self->work, self, fx_now_ms());
    }
    fx_ix_link_set_poller(self->link, NULL);
    zpoller_destroy(&self->poller);
    if (self->fatal)
        return 1;
    return self->ready ? 0 : -1;
}

/* One pass of the loop, after the poller woke up or timed out. */
static void s_pass(fx_interchange_t *self)
{
    fx_ix_work_t *w = &self->work;
    fx_ix_port_zap(self->port);
    s_broker_read(self);
    fx_ix_manager_read(w, self->port, self->conf->heartbeat_ms);
    int64_t now = fx_now_ms();
    fx_ix_expire(w, now, (int64_t) self->conf->heartbeat_missed * self->conf->heartbeat_ms);
    fx_ix_launcher_reap(self->launcher);
    if (!self->draining)
        fx_ix_dispatch(w, self->port); /* a draining manager takes no more */
    bool beat = now >= self->next_beat;
    if (beat)
        self->next_beat = now + fx_ix_link_period(self->link);
    s_broker_send(self, beat);
    if (now >= self->next_manager_beat) {
        self->next_manager_beat = now + self->conf->heartbeat_ms;
        fx_ix_port_beat(self->port, w->managers);
        fx_ix_port_tick(self->port, now);
    }
    fx_ix_broker_tick(self->link, w, self, now);
    fx_ix_stats_note_held(&w->stats, fx_ix_held(w));
    if (now >= self->next_stats) {
        self->next_stats = now + S_STATS_PERIOD_MS;
        s_write_stats(self);
    }
    size_t in_flight = fx_ix_tasks_held(w->tasks) - fx_ix_tasks_queued(w->tasks);
    if (self->draining && in_flight == 0 && fx_ix_results_pending(w->results) == 0 &&
        fx_ix_results_unacked(w->results) == 0) {
        fx_info("drained: every task given to a manager has its result acknowledged by the "
                   "broker; stopping (%zu queued task(s) left to the broker to dispatch again)",
                   fx_ix_tasks_queued(w->tasks));
        self->stopping = true;
    }
    if (self->stop_deadline && now >= self->stop_deadline && !self->stopping) {
        fx_warn("stopping with %zu task(s) at managers and %zu result(s) not acknowledged: the "
                   "grace period is over; the broker will dispatch those tasks again",
                   in_flight, fx_ix_results_pending(w->results) + fx_ix_results_unacked(w->results));
        self->stopping = true;
    }
}

/* SIGTERM/SIGINT: the first one starts a graceful stop (window 0, the
   managers drain, results of running tasks go out and are acknowledged,
   bounded by --stop-grace-ms); a second one stops at once. */
static void s_on_signal(fx_interchange_t *self)
{
    if (self->leaving || self->stopping) {
        fx_info("second signal: stopping now");
        self->stopping = true;
        return;
    }
    fx_ix_work_t *w = &self->work;
    size_t in_flight = fx_ix_tasks_held(w->tasks) - fx_ix_tasks_queued(w->tasks);
    fx_info("signal received: announcing window 0, draining the managers, waiting up to %d ms "
               "for the results of %zu running task(s) to be acknowledged",
               self->conf->stop_grace_ms, in_flight);
    self->leaving = true;
    self->draining = true;
    self->stop_deadline = fx_now_ms() + self->conf->stop_grace_ms;
    fx_ix_port_command(self->port, w->managers, FX_CMD_DRAIN);
}

static int s_start_managers(fx_interchange_t *self, int count)
{
    if (count <= 0)
        return 0;
    char err[512];
    fx_ix_launch_conf_t lc = {
        .interchange = fx_ix_port_dial_address(self->port),
        .server_key = self->conf->identity->endpoint_kp.public_key,
        .key_file = self->conf->identity->manager_key_path,
        .workers = self->conf->workers,
        .prefetch = self->conf->prefetch,
        .heartbeat_ms = self->conf->heartbeat_ms,
        .heartbeat_missed = self->conf->heartbeat_missed,
    };
    if (fx_ix_launcher_start(self->launcher, &lc, count, err, sizeof err) != 0) {
        fx_error("%s", err);
        return -1;
    }
    return 0;
}

/* Managers adopted from an earlier run: once each has said hello again, or
   the grace is over, the ones still silent are told to stop and only the
   missing number is started. Returns -1 if starting failed. */
static int s_check_adoption(fx_interchange_t *self, int64_t now)
{
    if (!self->adopt_deadline)
        return 0;
    fx_ix_managers_t *managers = self->work.managers;
    int pids[1024];
    int n = fx_ix_launcher_adopted(self->launcher, pids, (int) (sizeof pids / sizeof pids[0]));
    int back = 0;
    for (int i = 0; i < n; i++)
        back += fx_ix_managers_by_pid(managers, (uint32_t) pids[i]) != NULL;
    if (back < n && now < self->adopt_deadline && !self->leaving)
        return 0;
    self->adopt_deadline = 0;
    for (int i = 0; i < n; i++)
        if (!fx_ix_managers_by_pid(managers, (uint32_t) pids[i])) {
            fx_warn("adopted fx-manager pid %d did not say hello within %d ms; stopping it", pids[i],
                       self->conf->adopt_grace_ms);
            fx_ix_launcher_terminate(self->launcher, pids[i]);
        }
    int missing = self->leaving ? 0 : self->conf->managers - back;
    fx_info("%d adopted manager(s) came back; starting %d new one(s)", back, missing > 0 ? missing : 0);
    return s_start_managers(self, missing);
}

int fx_interchange_run(fx_interchange_t *self)
{
    int rc = s_wait_welcome(self);
    if (rc != 0)
        return rc > 0 ? 1 : 0;
    char err[512];
    self->port = fx_ix_port_new(self->conf->identity, self->conf->manager_bind, &self->work.stats, err,
                                sizeof err);
    if (!self->port) {
        fx_error("%s", err);
        return 1;
    }
    self->poller = zpoller_new(fx_ix_link_socket(self->link), fx_ix_port_router(self->port),
                               fx_ix_port_zap_socket(self->port), NULL);
    if (!self->poller) {
        fx_error("cannot make the poller: out of memory");
        return 1;
    }
    zpoller_set_nonstop(self->poller, true); /* signals are handled by s_on_signal */
    fx_ix_link_set_poller(self->link, self->poller);
    int exit_code = 0;
    int64_t now = fx_now_ms();
    int adopted = fx_ix_launcher_adopt(self->launcher, self->conf->identity->manager_key_path);
    if (adopted > 0)
        self->adopt_deadline = now + self->conf->adopt_grace_ms;
    else if (s_start_managers(self, self->conf->managers) != 0) {
        exit_code = 1;
        self->stopping = true;
    }
    self->next_beat = now;
    self->next_manager_beat = now;
    self->next_stats = now;
    while (!self->stopping && !self->fatal) {
        now = fx_now_ms();
        int64_t next = self->next_beat < self->next_stats ? self->next_beat : self->next_stats;
        if (self->next_manager_beat < next)
            next = self->next_manager_beat;
        if (self->stop_deadline && self->stop_deadline < next)
            next = self->stop_deadline;
        if (self->adopt_deadline && self->adopt_deadline < next)
            next = self->adopt_deadline;
        int64_t timeout = next - now;
        if (timeout < 0)
            timeout = 0;
        zpoller_wait(self->poller, (int) timeout);
        if (zsys_interrupted) {
            zsys_interrupted = 0; /* noted: a second signal stops at once */
            s_on_signal(self);
        }
        s_pass(self);
        if (s_check_adoption(self, fx_now_ms()) != 0) {
            exit_code = 1;
            self->stopping = true;
        }
    }
    if (self->fatal)
        exit_code = 1;
    /* results already at hand go out before the managers are stopped */
    s_broker_send(self, false);
    fx_ix_port_command(self->port, self->work.managers, FX_CMD_STOP);
    fx_ix_launcher_stop(self->launcher, S_STOP_TIMEOUT_MS);
    s_write_stats(self);
    return exit_code;
}
