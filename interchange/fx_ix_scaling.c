/*  fx_ix_scaling.c: the scaling strategy (fx_ix_scaling.h): the blocks
    this endpoint holds, the provider they come from, and the rules. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_scaling.h"
#include "fx_log.h"

/* How often the blocks are evaluated: a provider is polled this often at
   most (a scheduler provider asks its scheduler less often still). */
#define S_PERIOD_MS 250
/* Back-off after a failed block: 1 s, doubled per failure in a row, at
   most 60 s. */
#define S_BACKOFF_MS 1000
#define S_BACKOFF_MAX_MS 60000
/* Blocks handed to one poll: max_blocks of them, and as many being ended. */
#define S_LIVE_MAX (2 * FX_IX_BLOCKS_MAX)

typedef struct {
    fx_ix_block_t block; /* the provider's view: id, job, state, reason */
    int64_t idle_since;  /* since when its managers hold no task */
    int connected;       /* managers with a session, at the last evaluation */
    int busy;            /* tasks at its managers */
    uint32_t workers;    /* workers its connected managers announced */
    bool ending;         /* cancelled by us: scale in, adoption over, stop */
    bool adopted;        /* from an earlier run of this endpoint */
    bool said_hello;     /* one of its managers connected once */
} s_block_t;

struct fx_ix_scaling_t {
    const fx_ix_provider_conf_t *conf;
    const fx_ix_launch_t *launch;
    const fx_ix_provider_ops_t *ops;
    void *impl;
    zlistx_t *blocks; /* s_block_t *, owned, in submission order */
    zhashx_t *by_id;  /* block id -> s_block_t *, rebuilt per evaluation */
    int64_t idle_ms;
    int64_t next;          /* next evaluation */
    int64_t adopt_until;   /* adopted blocks' managers: hello by then; 0 = not waiting */
    int64_t retry_at;      /* no submission before this (back-off) */
    int failures;          /* blocks failed in a row */
    uint32_t workers_seen; /* most workers a block's manager announced (auto estimate) */
    bool started;          /* init_blocks done */
    bool waiting_logged;   /* "waiting for the back-off" said once per back-off */
};

static void s_block_free(void **item_p)
{
    free(*item_p);
    *item_p = NULL;
}

fx_ix_scaling_t *fx_ix_scaling_new(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch,
                                   int64_t idle_ms, char *err, size_t errlen)
{
    const fx_ix_provider_ops_t *ops = fx_ix_provider_ops(conf->kind);
    if (!ops) {
        snprintf(err, errlen, "provider %s is not available in this build", fx_ix_provider_name(conf->kind));
        return NULL;
    }
    return fx_ix_scaling_new_with(ops, conf, launch, idle_ms, err, errlen);
}

fx_ix_scaling_t *fx_ix_scaling_new_with(const fx_ix_provider_ops_t *ops, const fx_ix_provider_conf_t *conf,
                                        const fx_ix_launch_t *launch, int64_t idle_ms, char *err,
                                        size_t errlen)
{
    fx_ix_scaling_t *self = calloc(1, sizeof *self);
    if (!self || !(self->blocks = zlistx_new()) || !(self->by_id = zhashx_new())) {
        snprintf(err, errlen, "out of memory");
        fx_ix_scaling_destroy(&self);
        return NULL;
    }
    zlistx_set_destructor(self->blocks, s_block_free);
    self->conf = conf;
    self->launch = launch;
    self->ops = ops;
    self->idle_ms = idle_ms;
    self->impl = ops->create(conf, launch, err, errlen);
    if (!self->impl)
        fx_ix_scaling_destroy(&self);
    return self;
}

void fx_ix_scaling_destroy(fx_ix_scaling_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_scaling_t *self = *self_p;
    if (self->impl)
        self->ops->destroy(self->impl);
    zlistx_destroy(&self->blocks);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------ numbers */

/* Workers per node: the configured number; auto: this machine's cores for
   local blocks, else the most a block's manager announced (1 until one
   did). */
static uint32_t s_workers(const fx_ix_scaling_t *self)
{
    if (self->launch->workers != FX_IX_WORKERS_AUTO || self->conf->kind == FX_IX_PROVIDER_LOCAL ||
        self->conf->kind == FX_IX_PROVIDER_UNSET)
        return (uint32_t) fx_ix_launch_local_workers(self->launch);
    return self->workers_seen ? self->workers_seen : 1;
}

static uint64_t s_slots(const fx_ix_scaling_t *self)
{
    return (uint64_t) self->conf->nodes_per_block * s_workers(self);
}

uint64_t fx_ix_scaling_potential(const fx_ix_scaling_t *self)
{
    if (!self)
        return 0;
    return (uint64_t) self->conf->max_blocks * (uint64_t) self->conf->nodes_per_block *
           ((uint64_t) s_workers(self) + (uint64_t) self->launch->prefetch);
}

int64_t fx_ix_scaling_next(const fx_ix_scaling_t *self)
{
    return self ? self->next : INT64_MAX;
}

static bool s_active(const s_block_t *b)
{
    return !b->ending && !fx_ix_block_ended(b->block.state);
}

/* The decision, logged and kept for the stats file. */
__attribute__((format(printf, 3, 4))) static void s_decide(fx_ix_work_t *w, fx_log_level_t level,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->stats.scaling_last, sizeof w->stats.scaling_last, fmt, ap);
    va_end(ap);
    fx_log(level, "scaling: %s", w->stats.scaling_last);
}

/* ------------------------------------------------------------ blocks */

static s_block_t *s_add(fx_ix_scaling_t *self, const fx_ix_block_t *block, int64_t now)
{
    s_block_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->block = *block;
    b->idle_since = now;
    if (!zlistx_add_end(self->blocks, b)) {
        free(b);
        return NULL;
    }
    return b;
}

/* Submit one block; false if it failed at once (reported, back-off). */
static bool s_submit(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now)
{
    fx_ix_block_t block = {.state = FX_IX_BLOCK_SUBMITTING, .managers = self->conf->nodes_per_block};
    fx_ix_block_new_id(block.id);
    s_block_t *b = s_add(self, &block, now);
    if (!b)
        return false;
    w->stats.blocks_submitted++;
    if (self->ops->submit(self->impl, &b->block, now) == 0) {
        fx_info("block %s submitted to the %s provider (%d manager(s))%s%s", b->block.id,
                fx_ix_provider_name(self->conf->kind), b->block.managers, b->block.job_id[0] ? ": job " : "",
                b->block.job_id);
        return true;
    }
    return false; /* FAILED: the next evaluation reports it and backs off */
}

static void s_cancel(fx_ix_scaling_t *self, fx_ix_work_t *w, s_block_t *b, int64_t now)
{
    b->ending = true;
    w->stats.blocks_cancelled++;
    self->ops->cancel(self->impl, &b->block, now);
}

/* The block's managers lose their sessions now (the block ended, so they
   are gone or going); their tasks go back to the front of the queue. */
static void s_drop_managers(fx_ix_work_t *w, const s_block_t *b)
{
    fx_id_text_t ids[256];
    size_t n;
    do {
        n = 0;
        for (fx_ix_manager_t *m = fx_ix_managers_first(w->managers); m && n < 256;
             m = fx_ix_managers_next(w->managers))
            if (fx_ix_block_owns(b->block.id, fx_ix_manager_id(m)))
                memcpy(ids[n++], fx_ix_manager_id(m), sizeof ids[0]);
        for (size_t i = 0; i < n; i++) {
            fx_ix_manager_t *m = fx_ix_managers_by_id(w->managers, ids[i]);
            if (!m)
                continue;
            fx_info("manager %s: its block %s ended; %u task(s) it held go back to the queue", ids[i],
                    b->block.id, fx_ix_manager_in_flight(m));
            fx_ix_managers_remove(w->managers, &m, w->orphans);
            w->stats.managers_lost++;
        }
        w->stats.tasks_requeued += fx_ix_tasks_requeue_all(w->tasks, w->orphans);
    } while (n == 256);
}

static void s_backoff(fx_ix_scaling_t *self, int64_t now)
{
    self->failures++;
    int64_t delay = S_BACKOFF_MS;
    for (int i = 1; i < self->failures && delay < S_BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > S_BACKOFF_MAX_MS)
        delay = S_BACKOFF_MAX_MS;
    self->retry_at = now + delay;
    self->waiting_logged = false;
}

/* Ended blocks leave (their managers with them); held ones are cancelled.
   Failures are reported and back off the next submission. */
static void s_reap(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now)
{
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks)) {
        const char *job = b->block.job_id[0] ? b->block.job_id : "-";
        if (b->block.state == FX_IX_BLOCK_HELD && !b->ending) {
            s_backoff(self, now);
            w->stats.blocks_failed++;
            s_decide(w, FX_LOG_WARN,
                     "block %s (job %s) is held: %s; cancelling it, next block in %lld ms "
                     "(failure %d in a row)",
                     b->block.id, job, b->block.reason, (long long) (self->retry_at - now), self->failures);
            s_cancel(self, w, b, now);
            continue;
        }
        if (!fx_ix_block_ended(b->block.state))
            continue;
        w->stats.blocks_ended++;
        /* a block that ends before any of its managers said hello failed,
           whatever its exit status: replacing it at once would loop */
        if (!b->ending && (b->block.state == FX_IX_BLOCK_FAILED || !b->said_hello)) {
            s_backoff(self, now);
            w->stats.blocks_failed++;
            s_decide(w, FX_LOG_WARN,
                     "block %s (job %s) failed: %s; a new block, if needed, in %lld ms (failure %d in a row)",
                     b->block.id, job, b->block.reason, (long long) (self->retry_at - now), self->failures);
        }
        else
            fx_log(b->ending ? FX_LOG_INFO : FX_LOG_WARN, "block %s (job %s) ended: %s", b->block.id, job,
                   b->block.reason[0] ? b->block.reason : "done");
        s_drop_managers(w, b);
        zlistx_delete(self->blocks,
                      zlistx_cursor(self->blocks)); /* the cursor steps back: next still works */
    }
}

/* Ties connected managers to their blocks; returns the workers of managers
   of no block (started by hand, or by an earlier endpoint outside a block). */
static uint64_t s_attach(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now)
{
    zhashx_purge(self->by_id);
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks)) {
        b->connected = b->busy = 0;
        b->workers = 0;
        zhashx_insert(self->by_id, b->block.id, b);
    }
    uint64_t unattached = 0;
    for (fx_ix_manager_t *m = fx_ix_managers_first(w->managers); m; m = fx_ix_managers_next(w->managers)) {
        fx_id_text_t id;
        fx_ix_block_of_manager(fx_ix_manager_id(m), id);
        s_block_t *b = zhashx_lookup(self->by_id, id);
        if (!b) {
            if (!fx_ix_manager_retiring(m))
                unattached += fx_ix_manager_workers(m);
            continue;
        }
        b->connected++;
        b->busy += (int) fx_ix_manager_in_flight(m);
        b->workers += fx_ix_manager_workers(m);
        if (fx_ix_manager_workers(m) > self->workers_seen)
            self->workers_seen = fx_ix_manager_workers(m);
        if (!s_active(b))
            fx_ix_manager_retire(m);
    }
    bool queued = fx_ix_tasks_queued(w->tasks) > 0;
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks)) {
        if (b->busy > 0 || queued)
            b->idle_since = now; /* idle time counts from when the work ran out */
        if (b->connected > 0 && !b->said_hello) {
            b->said_hello = true;
            self->failures = 0; /* the provider works: no more back-off */
            fx_info("block %s (job %s): %d manager(s) connected, %u workers", b->block.id,
                    b->block.job_id[0] ? b->block.job_id : "-", b->connected, b->workers);
        }
    }
    return unattached;
}

/* Adoption: until every adopted block's managers are back or the grace
   is over, nothing else happens. Returns true while still waiting. */
static bool s_adopting(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now, bool takes_work)
{
    if (!self->adopt_until)
        return false;
    int waiting = 0, back = 0, silent = 0;
    /* only running blocks are waited for: an adopted pilot job still
       queued has no manager to come back yet */
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks))
        if (b->adopted && s_active(b)) {
            waiting += b->block.state == FX_IX_BLOCK_RUNNING && b->connected < b->block.managers;
            back += b->connected;
        }
    if (waiting && now < self->adopt_until && takes_work)
        return true;
    self->adopt_until = 0;
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks))
        if (b->adopted && s_active(b) && b->connected == 0 && b->block.state == FX_IX_BLOCK_RUNNING) {
            fx_warn("adopted block %s: none of its managers said hello within the adopt grace; stopping it",
                    b->block.id);
            s_cancel(self, w, b, now);
            silent++;
        }
    s_decide(w, FX_LOG_INFO, "%d adopted manager(s) came back; %d silent block(s) stopped", back, silent);
    return false;
}

/* The rules: scale out to what the tasks need, within [min, max]; scale
   in idle blocks. */
static void s_rules(fx_ix_scaling_t *self, fx_ix_work_t *w, uint64_t unattached, int64_t now)
{
    const fx_ix_provider_conf_t *c = self->conf;
    uint64_t slots = s_slots(self);
    uint64_t outstanding = fx_ix_tasks_held(w->tasks);
    size_t queued = fx_ix_tasks_queued(w->tasks);
    int active = 0;
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks))
        active += s_active(b);
    uint64_t demand = outstanding > unattached ? outstanding - unattached : 0;
    uint64_t need = slots ? (demand + slots - 1) / slots : 0;
    int target = need > (uint64_t) c->max_blocks ? c->max_blocks : (int) need;
    if (target < c->min_blocks)
        target = c->min_blocks;
    if (!self->started) {
        self->started = true;
        if (target < c->init_blocks)
            target = c->init_blocks;
    }
    w->stats.scaling_outstanding = outstanding;
    w->stats.scaling_capacity = (uint64_t) active * slots + unattached;
    if (active < target) {
        if (now < self->retry_at) {
            if (!self->waiting_logged)
                s_decide(
                    w, FX_LOG_INFO,
                    "%llu task(s) outstanding, capacity %llu in %d block(s): %d more needed, waiting %lld ms "
                    "(back-off after %d failure(s))",
                    (unsigned long long) outstanding, (unsigned long long) w->stats.scaling_capacity, active,
                    target - active, (long long) (self->retry_at - now), self->failures);
            self->waiting_logged = true;
            return;
        }
        int add = target - active, added = 0;
        while (added < add && s_submit(self, w, now))
            added++;
        s_decide(
            w, FX_LOG_INFO,
            "scale out by %d block(s) to %d: %llu task(s) outstanding (%zu queued), capacity %llu worker "
            "slot(s) in %d block(s) + %llu of managers of no block; %llu per block; min %d, max %d%s",
            add, active + added, (unsigned long long) outstanding, queued,
            (unsigned long long) w->stats.scaling_capacity, active, (unsigned long long) unattached,
            (unsigned long long) slots, c->min_blocks, c->max_blocks,
            added < add ? "; a submission failed" : "");
        return;
    }
    if (queued > 0)
        return; /* tasks wait: no block is idle for want of work */
    int floor = target > c->min_blocks ? target : c->min_blocks;
    for (s_block_t *b = zlistx_first(self->blocks); b && active > floor; b = zlistx_next(self->blocks)) {
        if (!s_active(b) || b->busy > 0 || now - b->idle_since < self->idle_ms)
            continue;
        s_decide(w, FX_LOG_INFO,
                 "scale in: ending block %s (job %s), idle for %lld ms (idle_time %lld ms); %llu task(s) "
                 "outstanding, %d block(s) -> %d; min %d",
                 b->block.id, b->block.job_id[0] ? b->block.job_id : "-", (long long) (now - b->idle_since),
                 (long long) self->idle_ms, (unsigned long long) outstanding, active, active - 1,
                 c->min_blocks);
        s_cancel(self, w, b, now);
        active--;
    }
}

/* The blocks not ended, for the provider (at most S_LIVE_MAX). */
static size_t s_live(fx_ix_scaling_t *self, fx_ix_block_t **live)
{
    size_t n = 0;
    for (s_block_t *b = zlistx_first(self->blocks); b && n < S_LIVE_MAX; b = zlistx_next(self->blocks))
        if (!fx_ix_block_ended(b->block.state))
            live[n++] = &b->block;
    return n;
}

void fx_ix_scaling_tick(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now, bool takes_work)
{
    if (!self || now < self->next)
        return;
    self->next = now + S_PERIOD_MS;
    fx_ix_block_t *live[S_LIVE_MAX];
    size_t n = s_live(self, live);
    if (n)
        self->ops->poll(self->impl, live, n, now);
    s_reap(self, w, now);
    uint64_t unattached = s_attach(self, w, now);
    w->stats.window_potential = fx_ix_scaling_potential(self);
    if (!s_adopting(self, w, now, takes_work) && takes_work)
        s_rules(self, w, unattached, now);
    uint64_t active = 0, connected = 0;
    for (s_block_t *b = zlistx_first(self->blocks); b; b = zlistx_next(self->blocks)) {
        active += s_active(b);
        connected += b->connected > 0;
    }
    w->stats.blocks_active = active;
    w->stats.blocks_connected = connected;
}

int fx_ix_scaling_adopt(fx_ix_scaling_t *self, int64_t now, int grace_ms)
{
    fx_ix_block_t found[64];
    size_t n = self->ops->adopt(self->impl, found, sizeof found / sizeof found[0]);
    for (size_t i = 0; i < n; i++) {
        s_block_t *b = s_add(self, &found[i], now);
        if (b)
            b->adopted = true;
    }
    if (n) {
        self->adopt_until = now + grace_ms;
        self->started = true; /* the adopted blocks stand for init_blocks */
    }
    return (int) n;
}

void fx_ix_scaling_stop(fx_ix_scaling_t *self, int timeout_ms)
{
    if (!self)
        return;
    fx_ix_block_t *live[S_LIVE_MAX];
    size_t n = s_live(self, live);
    self->ops->stop(self->impl, live, n, timeout_ms);
}
