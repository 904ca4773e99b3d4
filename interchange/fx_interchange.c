/*  fx_interchange.c: the interchange's lifecycle and its loop. The state
    of the loop lives here and nowhere else: the lifecycle (fx_ix_lifecycle.h;
    s_life is the one place it changes), the timers, the sockets. Each phase
    of a pass is in its own file (see fx_ix_internal.h) and sees only the
    parts it is handed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_ix_lifecycle.h"
#include "fx_ix_register.h"
#include "fx_ix_scaling.h"
#include "fx_log.h"

/* How long registration waits for each answer of the broker. */
#define S_REGISTER_TIMEOUT_MS 15000

/* How long managers get to exit after STOP and SIGTERM before SIGKILL. */
#define S_STOP_TIMEOUT_MS 5000

/* How often the stats file is rewritten. */
#define S_STATS_PERIOD_MS 1000

/* Heartbeats to the managers go out in rounds at most this often (a
   quarter of the period): each beats every manager that would otherwise
   hear nothing for a whole period before the next round, so an idle
   endpoint wakes a few times per period, not once per manager. */
#define S_BEAT_ROUNDS 4

struct fx_interchange_t {
    const fx_interchange_conf_t *conf;
    fx_ix_life_t life;  /* changed by s_life only */
    int exit_code;      /* 1 once FATAL happened */
    fx_ix_link_t *link; /* made once registered */
    fx_ix_port_t *port; /* the managers' port: NULL until the first WELCOME */
    zpoller_t *poller;
    fx_ix_work_t work;
    fx_ix_sent_t sent;
    fx_ix_launch_t launch;     /* how the blocks' managers start: set once the port is bound */
    fx_ix_scaling_t *scaling;  /* the blocks: NULL until the port is bound */
    int64_t stop_deadline;     /* STOPPING, LEAVING: exit by then */
    int64_t next_beat;         /* next heartbeat / periodic CREDIT to the broker */
    int64_t next_manager_beat; /* next round of heartbeats to the managers */
    int64_t next_port_tick;    /* next ERROR budget refill on the managers' port */
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
    self->life = FX_IX_STARTING;
    fx_ix_work_t *w = &self->work;
    const fx_ix_route_ops_t *routing = fx_ix_route_named(conf->routing ? conf->routing : FX_IX_ROUTE_DEFAULT);
    if (!routing) {
        snprintf(err, errlen, "unknown routing strategy %s; expected random, warming-aware or warm-wait",
                 conf->routing);
        free(self);
        return NULL;
    }
    w->tasks = fx_ix_tasks_new();
    w->managers = fx_ix_managers_new(routing);
    if (w->tasks && w->managers)
        fx_ix_tasks_lanes(w->tasks, fx_ix_managers_containers(w->managers));
    w->results = fx_ix_results_new();
    w->bodies = fx_ix_bodies_new(FX_IX_BODIES_MAX_ENTRIES, FX_IX_BODIES_MAX_BYTES);
    w->fetch = fx_ix_fetch_new();
    fx_ix_list_init(&w->orphans);
    w->allowed = fx_ix_allowed_new(conf->allowed_functions, conf->allowed_functions_count);
    w->config_path = conf->config_path;
    w->queue_depth = conf->queue_depth;
    w->containers_configured = conf->manager_opts.containers_count > 0;
    if (!w->tasks || !w->managers || !w->results || !w->bodies || !w->fetch ||
        (conf->allowed_functions && !w->allowed)) {
        snprintf(err, errlen, "out of memory");
        fx_interchange_destroy(&self);
    }
    return self;
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
    /* tasks pin bodies and sit in the waits: tasks, then waits, then bodies */
    fx_ix_tasks_destroy(&self->work.tasks);
    fx_ix_fetch_destroy(&self->work.fetch);
    fx_ix_bodies_destroy(&self->work.bodies);
    fx_ix_results_destroy(&self->work.results);
    fx_ix_scaling_destroy(&self->scaling);
    fx_ix_launch_flags_free(&self->launch.flags);
    fx_ix_scratch_free(&self->work.scratch);
    zhashx_destroy(&self->work.allowed);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------ the lifecycle */

/* Tasks at managers: held, less those queued here. */
static size_t s_in_flight(fx_interchange_t *self)
{
    return fx_ix_tasks_held(self->work.tasks) - fx_ix_tasks_queued(self->work.tasks);
}

/* What entering state `to` by event does (SPEC 6.5, the action column). */
static void s_enter(fx_interchange_t *self, fx_ix_life_t to, fx_ix_life_event_t event)
{
    fx_ix_work_t *w = &self->work;
    const fx_interchange_conf_t *conf = self->conf;
    switch (to) {
    case FX_IX_RUNNING:
        printf("fx-endpoint: ready endpoint_id=%s\n", conf->identity->endpoint_id);
        fflush(stdout);
        break;
    case FX_IX_DRAINING:
    case FX_IX_STOPPING:
    case FX_IX_LEAVING:
        /* window 0 and no dispatch from now on (fx_ix_life_takes_work) */
        if (to == FX_IX_DRAINING)
            fx_info("the broker asked this endpoint to drain: announcing window 0, finishing the "
                    "%zu task(s) at managers, then stopping",
                    s_in_flight(self));
        else if (to == FX_IX_STOPPING)
            fx_info("the broker asked this endpoint to stop: announcing window 0, waiting up to "
                    "%d ms for the results of the %zu task(s) at managers",
                    conf->stop_grace_ms, s_in_flight(self));
        else
            fx_info("signal received: announcing window 0, draining the managers, waiting up to %d ms "
                    "for the results of %zu running task(s) to be acknowledged",
                    conf->stop_grace_ms, s_in_flight(self));
        if (to != FX_IX_DRAINING)
            self->stop_deadline = fx_now_ms() + conf->stop_grace_ms; /* the grace starts now */
        fx_ix_port_command(self->port, w->managers, to == FX_IX_STOPPING ? FX_CMD_STOP : FX_CMD_DRAIN);
        break;
    case FX_IX_STOPPED:
        if (event == FX_IX_EV_DRAINED)
            fx_info("drained: every task given to a manager has its result acknowledged by the "
                    "broker; stopping (%zu queued task(s) left to the broker to dispatch again)",
                    fx_ix_tasks_queued(w->tasks));
        else if (event == FX_IX_EV_GRACE_OVER)
            fx_warn("stopping with %zu task(s) at managers and %zu result(s) not acknowledged: the "
                    "grace period is over; the broker will dispatch those tasks again",
                    s_in_flight(self), fx_ix_results_pending(w->results) + fx_ix_results_unacked(w->results));
        else if (event == FX_IX_EV_SIGNAL && self->life == FX_IX_LEAVING)
            fx_info("second signal: stopping now");
        break;
    case FX_IX_STARTING:
    case FX_IX_REGISTERING:
        break;
    }
}

/* The one place the lifecycle changes: the table (fx_ix_life_next), then
   what entering the new state does. */
static void s_life(fx_interchange_t *self, fx_ix_life_event_t event)
{
    if (event == FX_IX_EV_FATAL)
        self->exit_code = 1; /* said why already */
    fx_ix_life_t to = fx_ix_life_next(self->life, event);
    if (to == self->life)
        return;
    fx_debug("lifecycle: %s --%s--> %s", fx_ix_life_name(self->life), fx_ix_life_event_name(event),
             fx_ix_life_name(to));
    s_enter(self, to, event);
    self->life = to;
}

void fx_ix_welcomed(fx_interchange_t *self, bool first)
{
    self->sent.credit_sent = false; /* the session is new: announce the window now */
    self->sent.status_sent = false;
    if (first)
        s_life(self, FX_IX_EV_WELCOMED);
}

void fx_ix_refused(fx_interchange_t *self)
{
    s_life(self, FX_IX_EV_FATAL);
}

/* DRAIN: announce 0, dispatch no more, finish the tasks at managers and
   have their results acknowledged, then stop; tasks still queued here are
   left to the broker (it requeues them when it sees this endpoint gone).
   STOP: the same, but exit after --stop-grace-ms even if tasks remain
   (SPEC 5.21). Both are passed on to every manager (s_enter). */
void fx_ix_command(fx_interchange_t *self, int command)
{
    if (command == FX_CMD_DRAIN)
        s_life(self, FX_IX_EV_DRAIN);
    else if (command == FX_CMD_STOP)
        s_life(self, FX_IX_EV_STOP);
}

/* ------------------------------------------------------------ the loop */

static void s_write_stats(fx_interchange_t *self)
{
    if (!self->conf->stats_file)
        return;
    fx_ix_work_t *w = &self->work;
    w->stats.held = fx_ix_held(w);
    w->stats.tasks_waiting = fx_ix_fetch_waiting(w->fetch);
    w->stats.bodies_cached = fx_ix_bodies_size(w->bodies);
    w->stats.bodies_cached_bytes = fx_ix_bodies_bytes(w->bodies);
    w->stats.bodies_evicted = fx_ix_bodies_evicted(w->bodies);
    fx_ix_text_t extra = {0};
    fx_ix_stats_routing(&extra, w->managers);
    int rc = extra.oom ? -1 : fx_ix_stats_write(&self->work.stats, self->conf->stats_file, extra.data);
    fx_ix_text_free(&extra);
    if (rc != 0)
        fx_warn("cannot write the stats file %s; check that its directory is writable",
                self->conf->stats_file);
}

/* Phase 2 for this interchange. */
static void s_broker_read(fx_interchange_t *self)
{
    fx_ix_broker_read(self->link, &self->work, self->port, self);
}

/* Phase 7 for this interchange. */
static void s_broker_send(fx_interchange_t *self, bool beat)
{
    uint32_t window =
        fx_ix_window(&self->work, !fx_ix_life_takes_work(self->life), fx_ix_scaling_potential(self->scaling));
    fx_ix_broker_send(self->link, &self->work, &self->sent, window, beat);
}

/* REGISTERING: REGISTER_ENDPOINT on the client port, then the link: say
   hello and wait for the first WELCOME, saying hello again while the
   broker is silent. Leaves RUNNING, or STOPPED. */
static void s_register(fx_interchange_t *self)
{
    const fx_interchange_conf_t *conf = self->conf;
    char err[1024];
    if (fx_ix_register(conf->creds, conf->identity, S_REGISTER_TIMEOUT_MS, err, sizeof err) != 0) {
        fx_error("%s", err);
        s_life(self, zsys_interrupted ? FX_IX_EV_SIGNAL : FX_IX_EV_FATAL);
        return;
    }
    self->link = fx_ix_link_new(conf->creds->broker_endpoint, &conf->identity->endpoint_kp,
                                conf->creds->broker_public_key, conf->identity->endpoint_id,
                                conf->heartbeat_ms, conf->heartbeat_missed, err, sizeof err);
    if (!self->link) {
        fx_error("%s", err);
        s_life(self, FX_IX_EV_FATAL);
        return;
    }
    fx_ix_link_set_allowed(self->link, conf->allowed_functions, conf->allowed_functions_count);
    fx_ix_broker_tick(self->link, &self->work, self, fx_now_ms()); /* START: the first hello */
    self->poller = zpoller_new(fx_ix_link_socket(self->link), NULL);
    fx_ix_link_set_poller(self->link, self->poller);
    while (self->poller && self->life == FX_IX_REGISTERING && !zsys_interrupted) {
        zpoller_wait(self->poller, conf->heartbeat_ms);
        s_broker_read(self);
        fx_ix_broker_tick(self->link, &self->work, self, fx_now_ms());
    }
    fx_ix_link_set_poller(self->link, NULL);
    zpoller_destroy(&self->poller);
    if (self->life == FX_IX_REGISTERING)
        s_life(self, zsys_interrupted ? FX_IX_EV_SIGNAL : FX_IX_EV_FATAL); /* no poller: out of memory */
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
    fx_ix_scaling_tick(self->scaling, w, now, fx_ix_life_takes_work(self->life));
    if (fx_ix_life_takes_work(self->life))
        fx_ix_dispatch(w, self->port); /* a draining manager takes no more */
    bool beat = now >= self->next_beat;
    if (beat)
        self->next_beat = now + fx_ix_link_period(self->link);
    s_broker_send(self, beat);
    int64_t period = self->conf->heartbeat_ms, slack = period / S_BEAT_ROUNDS;
    if (now >= self->next_manager_beat)
        fx_ix_port_beat(self->port, w->managers, now, period, slack);
    self->next_manager_beat = fx_ix_managers_beat_next(w->managers, period, slack);
    if (now >= self->next_port_tick) {
        self->next_port_tick = now + period;
        fx_ix_port_tick(self->port, now);
    }
    fx_ix_broker_tick(self->link, w, self, now);
    fx_ix_stats_note_held(&w->stats, fx_ix_held(w));
    if (now >= self->next_stats) {
        self->next_stats = now + S_STATS_PERIOD_MS;
        s_write_stats(self);
    }
    if (fx_ix_life_draining(self->life) && s_in_flight(self) == 0 && fx_ix_results_pending(w->results) == 0 &&
        fx_ix_results_unacked(w->results) == 0)
        s_life(self, FX_IX_EV_DRAINED);
    if ((self->life == FX_IX_STOPPING || self->life == FX_IX_LEAVING) && now >= self->stop_deadline)
        s_life(self, FX_IX_EV_GRACE_OVER);
}

/* The managers' command line, now that the port is bound. */
static int s_launch(fx_interchange_t *self, char *err, size_t errlen)
{
    const fx_interchange_conf_t *conf = self->conf;
    fx_ix_launch_t *l = &self->launch;
    if (fx_self_dir(l->fx_manager, sizeof l->fx_manager - 16) != 0) {
        snprintf(err, errlen,
                 "cannot find the directory of fx-endpoint (/proc/self/exe); start it by its full path");
        return -1;
    }
    strcat(l->fx_manager, "/fx-manager");
    snprintf(l->interchange, sizeof l->interchange, "%s", fx_ix_port_dial_address(self->port));
    snprintf(l->server_key, sizeof l->server_key, "%s", conf->identity->endpoint_kp.public_key);
    snprintf(l->key_file, sizeof l->key_file, "%s", conf->identity->manager_key_path);
    snprintf(l->dir, sizeof l->dir, "%s", conf->identity->dir);
    l->workers = conf->workers;
    l->prefetch = conf->prefetch;
    l->heartbeat_ms = conf->heartbeat_ms;
    l->heartbeat_missed = conf->heartbeat_missed;
    l->flags = fx_ix_launch_flags(&conf->manager_opts, err, errlen);
    return l->flags ? 0 : -1;
}

/* RUNNING begins: bind the managers' port, make the provider, adopt the
   blocks of an earlier run (the first scaling pass starts init_blocks
   otherwise). 0; -1 (logged) if the port, the poller or the provider
   could not be made: nothing to stop then. */
static int s_open(fx_interchange_t *self, int64_t now)
{
    char err[512];
    self->port = fx_ix_port_new(self->conf->identity, self->conf->manager_bind,
                                self->conf->manager_bind_fallback, &self->work.stats, err, sizeof err);
    if (!self->port) {
        fx_error("%s", err);
        return -1;
    }
    self->poller = zpoller_new(fx_ix_link_socket(self->link), fx_ix_port_router(self->port),
                               fx_ix_port_zap_socket(self->port), NULL);
    if (!self->poller) {
        fx_error("cannot make the poller: out of memory");
        return -1;
    }
    zpoller_set_nonstop(self->poller, true); /* signals are handled by the loop */
    fx_ix_link_set_poller(self->link, self->poller);
    if (s_launch(self, err, sizeof err) != 0 ||
        !(self->scaling =
              fx_ix_scaling_new(self->conf->provider, &self->launch, self->conf->idle_ms, err, sizeof err))) {
        fx_error("%s", err);
        return -1;
    }
    fx_ix_scaling_adopt(self->scaling, now, self->conf->adopt_grace_ms);
    return 0;
}

/* Until the next timer: the broker's and the managers' heartbeats, the
   next manager to go silent for too long, the stats file, the stop grace,
   the next scaling evaluation. */
static int s_timeout(fx_interchange_t *self, int64_t now)
{
    int64_t next = self->next_beat < self->next_stats ? self->next_beat : self->next_stats;
    if (self->next_manager_beat < next)
        next = self->next_manager_beat;
    if (self->next_port_tick < next)
        next = self->next_port_tick;
    int64_t silence = (int64_t) self->conf->heartbeat_missed * self->conf->heartbeat_ms;
    int64_t lost = fx_ix_managers_expire_next(self->work.managers, silence);
    if (lost < next)
        next = lost;
    if ((self->life == FX_IX_STOPPING || self->life == FX_IX_LEAVING) && self->stop_deadline < next)
        next = self->stop_deadline;
    if (fx_ix_scaling_next(self->scaling) < next)
        next = fx_ix_scaling_next(self->scaling);
    if (fx_ix_dispatch_next(&self->work) < next)
        next = fx_ix_dispatch_next(&self->work); /* a wait warm-wait imposed ends */
    return next > now ? (int) (next - now) : 0;
}

int fx_interchange_run(fx_interchange_t *self)
{
    s_life(self, FX_IX_EV_RUN);
    s_register(self);
    if (self->life == FX_IX_STOPPED)
        return self->exit_code; /* nothing started yet */
    int64_t now = fx_now_ms();
    if (s_open(self, now) != 0)
        return 1;
    self->next_beat = now;
    self->next_manager_beat = now;
    self->next_port_tick = now;
    self->next_stats = now;
    while (self->life != FX_IX_STOPPED) {
        zpoller_wait(self->poller, s_timeout(self, fx_now_ms()));
        if (zsys_interrupted) {
            zsys_interrupted = 0; /* noted: a second signal stops at once */
            s_life(self, FX_IX_EV_SIGNAL);
        }
        s_pass(self);
    }
    /* STOPPED: results already at hand go out before the managers are stopped */
    s_broker_send(self, false);
    fx_ix_port_command(self->port, self->work.managers, FX_CMD_STOP);
    fx_ix_scaling_stop(self->scaling, S_STOP_TIMEOUT_MS);
    s_write_stats(self);
    return self->exit_code;
}
