/*  fx_interchange.c: life cycle and the loop; the phases live in
    fx_ep_broker_side.c and fx_ep_manager_side.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ep_internal.h"
#include "fx_ep_log.h"

/* How long managers get to exit after STOP and SIGTERM before SIGKILL. */
#define S_STOP_TIMEOUT_MS 5000

/* How often the stats file is rewritten. */
#define S_STATS_PERIOD_MS 1000

uint64_t fx_ep_held(fx_interchange_t *self)
{
    return fx_ep_tasks_held(self->tasks) - fx_ep_tasks_old(self->tasks) + fx_ep_results_unsent(self->results);
}

uint32_t fx_ep_window(fx_interchange_t *self)
{
    if (self->draining)
        return 0;
    uint64_t sum = fx_ep_managers_window(self->managers);
    uint64_t old = fx_ep_tasks_old(self->tasks);
    sum = sum > old ? sum - old : 0;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t) sum;
}

fx_interchange_t *fx_interchange_new(const fx_interchange_conf_t *conf, char *err, size_t errlen)
{
    fx_interchange_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->conf = conf;
    self->tasks = fx_ep_tasks_new();
    self->managers = fx_ep_managers_new();
    self->results = fx_ep_results_new();
    self->launcher = fx_ep_launcher_new();
    self->orphans = zlistx_new();
    if (!self->tasks || !self->managers || !self->results || !self->launcher || !self->orphans) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->link = fx_ep_link_new(conf->creds->broker_endpoint, &conf->identity->endpoint_kp,
                                conf->creds->broker_public_key, conf->identity->endpoint_id,
                                conf->heartbeat_ms, err, errlen);
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
    zsock_destroy(&self->router);
    zsock_destroy(&self->zap);
    fx_ep_link_destroy(&self->link);
    /* the registry points at tasks the store owns: registry first */
    fx_ep_managers_destroy(&self->managers);
    fx_ep_tasks_destroy(&self->tasks);
    fx_ep_results_destroy(&self->results);
    fx_ep_launcher_destroy(&self->launcher);
    zlistx_destroy(&self->orphans);
    free(self);
    *self_p = NULL;
}

static void s_write_stats(fx_interchange_t *self)
{
    if (!self->conf->stats_file)
        return;
    self->stats.held = fx_ep_held(self);
    if (fx_ep_stats_write(&self->stats, self->conf->stats_file) != 0)
        fx_ep_warn("cannot write the stats file %s; check that its directory is writable",
                   self->conf->stats_file);
}

/* Say hello and wait for the first WELCOME, re-saying hello while the
   broker is silent. Returns 0 when welcomed, 1 if refused, -1 if told to
   stop first. */
static int s_wait_welcome(fx_interchange_t *self)
{
    fx_ep_link_hello(self->link);
    zpoller_t *poller = zpoller_new(fx_ep_link_socket(self->link), NULL);
    while (!fx_ep_link_ever_ready(self->link) && !self->fatal && !zsys_interrupted) {
        zpoller_wait(poller, self->conf->heartbeat_ms);
        fx_ep_broker_read(self);
        fx_ep_broker_check(self, fx_now_ms());
    }
    zpoller_destroy(&poller);
    if (self->fatal)
        return 1;
    return fx_ep_link_ever_ready(self->link) ? 0 : -1;
}

/* One pass of the loop, after the poller woke up or timed out. */
static void s_pass(fx_interchange_t *self)
{
    fx_ep_zap_read(self);
    fx_ep_broker_read(self);
    fx_ep_manager_read(self);
    int64_t now = fx_now_ms();
    fx_ep_expire(self, now);
    fx_ep_launcher_reap(self->launcher);
    fx_ep_dispatch(self);
    bool beat = now >= self->next_beat;
    if (beat)
        self->next_beat = now + fx_ep_link_period(self->link);
    fx_ep_broker_send(self, now, beat);
    if (now >= self->next_manager_beat) {
        self->next_manager_beat = now + self->conf->heartbeat_ms;
        fx_ep_managers_beat(self);
    }
    fx_ep_broker_check(self, now);
    fx_ep_stats_note_held(&self->stats, fx_ep_held(self));
    if (now >= self->next_stats) {
        self->next_stats = now + S_STATS_PERIOD_MS;
        s_write_stats(self);
    }
    if (self->draining && fx_ep_tasks_held(self->tasks) == 0 && fx_ep_results_pending(self->results) == 0 &&
        fx_ep_results_unacked(self->results) == 0) {
        fx_ep_info("drained: every task held has its result acknowledged; stopping");
        self->stopping = true;
    }
    if (self->stop_deadline && now >= self->stop_deadline) {
        fx_ep_warn("stopping with %zu task(s) still held: the broker's grace period is over; it "
                   "will dispatch them again",
                   fx_ep_tasks_held(self->tasks));
        self->stopping = true;
    }
}

static int s_start_managers(fx_interchange_t *self)
{
    if (self->conf->managers <= 0)
        return 0;
    char err[512];
    fx_ep_launch_conf_t lc = {
        .interchange = self->manager_addr,
        .server_key = self->conf->identity->endpoint_kp.public_key,
        .key_file = self->conf->identity->manager_key_path,
        .workers = self->conf->workers,
        .prefetch = self->conf->prefetch,
        .heartbeat_ms = self->conf->heartbeat_ms,
    };
    if (fx_ep_launcher_start(self->launcher, &lc, self->conf->managers, err, sizeof err) != 0) {
        fx_ep_error("%s", err);
        return -1;
    }
    return 0;
}

int fx_interchange_run(fx_interchange_t *self)
{
    int rc = s_wait_welcome(self);
    if (rc != 0)
        return rc > 0 ? 1 : 0;
    char err[512];
    if (fx_ep_manager_side_bind(self, err, sizeof err) != 0) {
        fx_ep_error("%s", err);
        return 1;
    }
    self->poller = zpoller_new(fx_ep_link_socket(self->link), self->router, self->zap, NULL);
    if (!self->poller) {
        fx_ep_error("cannot make the poller: out of memory");
        return 1;
    }
    int exit_code = 0;
    if (s_start_managers(self) != 0) {
        exit_code = 1;
        self->stopping = true;
    }
    int64_t now = fx_now_ms();
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
        int64_t timeout = next - now;
        if (timeout < 0)
            timeout = 0;
        zpoller_wait(self->poller, (int) timeout);
        if (zsys_interrupted) {
            fx_ep_info("signal received: stopping the managers and exiting");
            self->stopping = true;
        }
        s_pass(self);
    }
    if (self->fatal)
        exit_code = 1;
    /* results already at hand go out before the managers are stopped */
    fx_ep_broker_send(self, fx_now_ms(), false);
    fx_ep_managers_command(self, FX_CMD_STOP);
    fx_ep_launcher_stop(self->launcher, S_STOP_TIMEOUT_MS);
    s_write_stats(self);
    return exit_code;
}
