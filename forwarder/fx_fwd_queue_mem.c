/*  fx_fwd_queue_mem.c: the forwarder tests' in-memory queue (see
    fx_fwd_queue_mem.h). Small and plain: an array of tasks in submission
    order, scanned on each take; a hash from task id to its place. */
#include "fx_fwd_queue_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fx_id_text_t id;
    fx_id_text_t endpoint_id;
    fx_id_text_t container; /* "" = the host */
    int state; /* FX_TASK_QUEUED, FX_TASK_DISPATCHED, FX_TASK_DONE */
    uint32_t attempt;
    uint32_t taken;
    uint32_t results;
} s_task_t;

struct _fx_fwd_queue_mem_t {
    s_task_t *tasks;
    size_t count, cap;
    zhashx_t *by_id;          /* task id -> index + 1 */
    zhashx_t *keys;           /* public key -> endpoint id (owned strings) */
    zhashx_t *seen;           /* endpoint id -> int64_t wall_ms (owned) */
    zhashx_t *containers;     /* container id -> fx_container_def_t (owned) */
    fx_id_text_t function_id; /* every task runs this one */
    bool failing;             /* a fault is set */
    uint64_t fail_after;
    uint64_t fail_count; /* 0: until healed */
    int fail_code;
    uint64_t calls;
    uint64_t failures;
    uint64_t container_calls;
    char why[128];
};

fx_fwd_queue_mem_t *fx_fwd_queue_mem_new(void)
{
    fx_fwd_queue_mem_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_id = zhashx_new();
    self->keys = zhashx_new();
    self->seen = zhashx_new();
    self->containers = zhashx_new();
    if (!self->by_id || !self->keys || !self->seen || !self->containers) {
        fx_fwd_queue_mem_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->keys, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator(self->keys, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor(self->seen, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_destructor(self->containers, (zhashx_destructor_fn *) zstr_free);
    fx_id_new(self->function_id);
    return self;
}

void fx_fwd_queue_mem_destroy(fx_fwd_queue_mem_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_fwd_queue_mem_t *self = *self_p;
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->keys);
    zhashx_destroy(&self->seen);
    zhashx_destroy(&self->containers);
    free(self->tasks);
    free(self);
    *self_p = NULL;
}

void fx_fwd_queue_mem_endpoint(fx_fwd_queue_mem_t *self, const char *endpoint_id, const char *public_key)
{
    zhashx_update(self->keys, public_key, (void *) endpoint_id);
}

void fx_fwd_queue_mem_submit(fx_fwd_queue_mem_t *self, const char *endpoint_id, fx_id_text_t task_id)
{
    fx_fwd_queue_mem_submit_in(self, endpoint_id, "", task_id);
}

void fx_fwd_queue_mem_container(fx_fwd_queue_mem_t *self, const char *container_id, const char *name,
                                const char *runtime, const char *image)
{
    fx_container_def_t *def = calloc(1, sizeof *def);
    if (!def)
        return;
    fx_strlcpy(def->container_id, container_id, sizeof def->container_id);
    fx_strlcpy(def->name, name, sizeof def->name);
    fx_strlcpy(def->runtime, runtime, sizeof def->runtime);
    fx_strlcpy(def->image, image, sizeof def->image);
    zhashx_update(self->containers, container_id, def);
}

void fx_fwd_queue_mem_submit_in(fx_fwd_queue_mem_t *self, const char *endpoint_id, const char *container_id,
                                fx_id_text_t task_id)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        s_task_t *grown = realloc(self->tasks, cap * sizeof *grown);
        if (!grown)
            return;
        self->tasks = grown;
        self->cap = cap;
    }
    s_task_t *task = &self->tasks[self->count++];
    memset(task, 0, sizeof *task);
    fx_id_new(task->id);
    snprintf(task->endpoint_id, sizeof task->endpoint_id, "%s", endpoint_id);
    snprintf(task->container, sizeof task->container, "%s", container_id ? container_id : "");
    task->state = FX_TASK_QUEUED;
    zhashx_insert(self->by_id, task->id, (void *) (uintptr_t) self->count);
    if (task_id)
        memcpy(task_id, task->id, sizeof task->id);
}

void fx_fwd_queue_mem_fail(fx_fwd_queue_mem_t *self, uint64_t after, uint64_t count, int code)
{
    self->failing = true;
    self->fail_after = after;
    self->fail_count = count;
    self->fail_code = code;
}

void fx_fwd_queue_mem_heal(fx_fwd_queue_mem_t *self)
{
    self->failing = false;
}

static s_task_t *s_find(fx_fwd_queue_mem_t *self, const char *task_id)
{
    uintptr_t place = (uintptr_t) zhashx_lookup(self->by_id, task_id);
    return place ? &self->tasks[place - 1] : NULL;
}

void fx_fwd_queue_mem_stats(fx_fwd_queue_mem_t *self, fx_fwd_queue_mem_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    stats->calls = self->calls;
    stats->failures = self->failures;
    stats->container_calls = self->container_calls;
    for (size_t i = 0; i < self->count; i++) {
        const s_task_t *task = &self->tasks[i];
        stats->queued += task->state == FX_TASK_QUEUED;
        stats->dispatched += task->state == FX_TASK_DISPATCHED;
        stats->done += task->state == FX_TASK_DONE;
        stats->taken_max = task->taken > stats->taken_max ? task->taken : stats->taken_max;
        stats->results_max = task->results > stats->results_max ? task->results : stats->results_max;
    }
}

int fx_fwd_queue_mem_state(fx_fwd_queue_mem_t *self, const char *task_id, fx_id_text_t endpoint_id)
{
    s_task_t *task = s_find(self, task_id);
    if (endpoint_id)
        snprintf(endpoint_id, sizeof(fx_id_text_t), "%s", task ? task->endpoint_id : "");
    return task ? task->state : FX_TASK_UNKNOWN;
}

int64_t fx_fwd_queue_mem_seen(fx_fwd_queue_mem_t *self, const char *endpoint_id)
{
    int64_t *wall = zhashx_lookup(self->seen, endpoint_id);
    return wall ? *wall : 0;
}

/* ---------------------------------------------------------------- the seam */

/* Every operation starts here: FX_OK, or the injected fault. */
static int s_call(fx_fwd_queue_mem_t *self, const char *what)
{
    self->calls++;
    if (!self->failing)
        return FX_OK;
    if (self->fail_after > 0) {
        self->fail_after--;
        return FX_OK;
    }
    self->failures++;
    if (self->fail_count > 0 && --self->fail_count == 0)
        self->failing = false;
    snprintf(self->why, sizeof self->why, "in-memory queue: injected failure of %s (call %llu)", what,
             (unsigned long long) self->calls);
    return self->fail_code;
}

static int s_take(void *ctx, const char *endpoint_id, uint32_t max, bool with_bodies, fx_msg_t *tasks)
{
    fx_fwd_queue_mem_t *self = ctx;
    int rc = s_call(self, "take");
    if (rc != FX_OK)
        return rc;
    uint32_t n = 0;
    for (size_t i = 0; i < self->count && n < max; i++)
        n += self->tasks[i].state == FX_TASK_QUEUED && strcmp(self->tasks[i].endpoint_id, endpoint_id) == 0;
    if ((rc = fx_msg_alloc_records(tasks, n)) != FX_OK)
        return rc;
    uint32_t k = 0;
    for (size_t i = 0; i < self->count && k < n; i++) {
        s_task_t *task = &self->tasks[i];
        if (task->state != FX_TASK_QUEUED || strcmp(task->endpoint_id, endpoint_id) != 0)
            continue;
        fx_task_t *out = &tasks->tasks.tasks[k++];
        memcpy(out->task_id, task->id, sizeof out->task_id);
        memcpy(out->function_id, self->function_id, sizeof out->function_id);
        out->kind = FX_FN_SHELL;
        fx_strlcpy(out->serializer, "pickle", sizeof out->serializer);
        memcpy(out->container, task->container, sizeof task->container);
        out->attempt = task->attempt++;
        out->body = zframe_new("true", 4);
        out->payload = zframe_new("args", 4);
        task->state = FX_TASK_DISPATCHED;
        task->taken++;
    }
    return FX_OK;
}

static int s_requeue(void *ctx, const char *endpoint_id, uint32_t *requeued, uint32_t *cancelled)
{
    fx_fwd_queue_mem_t *self = ctx;
    int rc = s_call(self, "requeue");
    if (rc != FX_OK)
        return rc;
    uint32_t n = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->tasks[i].state == FX_TASK_DISPATCHED &&
            strcmp(self->tasks[i].endpoint_id, endpoint_id) == 0) {
            self->tasks[i].state = FX_TASK_QUEUED;
            n++;
        }
    if (requeued)
        *requeued = n;
    if (cancelled)
        *cancelled = 0;
    return FX_OK;
}

static int s_commit(void *ctx, const char *endpoint_id, const fx_result_t *results, uint32_t count,
                    fx_fwd_outcome_t *outcome, uint64_t *ticket)
{
    fx_fwd_queue_mem_t *self = ctx;
    *ticket = 0; /* memory is as durable as it gets here */
    int rc = s_call(self, "commit");
    if (rc != FX_OK)
        return rc;
    for (uint32_t i = 0; i < count; i++) {
        s_task_t *task = s_find(self, results[i].task_id);
        if (!task || strcmp(task->endpoint_id, endpoint_id) != 0)
            outcome[i] = FX_FWD_RESULT_FOREIGN;
        else if (task->state == FX_TASK_DONE)
            outcome[i] = FX_FWD_RESULT_DUP;
        else {
            task->state = FX_TASK_DONE;
            task->results++;
            outcome[i] = FX_FWD_RESULT_NEW;
        }
    }
    return FX_OK;
}

static int s_seen(void *ctx, const char *endpoint_id, int64_t wall_ms)
{
    fx_fwd_queue_mem_t *self = ctx;
    int rc = s_call(self, "seen");
    if (rc != FX_OK)
        return rc;
    int64_t *wall = malloc(sizeof *wall);
    if (!wall)
        return FX_E_NOMEM;
    *wall = wall_ms;
    zhashx_update(self->seen, endpoint_id, wall);
    return FX_OK;
}

static int s_by_key(void *ctx, const char *public_key, fx_id_text_t endpoint_id)
{
    fx_fwd_queue_mem_t *self = ctx;
    int rc = s_call(self, "by_key");
    if (rc != FX_OK)
        return rc;
    const char *id = zhashx_lookup(self->keys, public_key);
    if (!id)
        return FX_E_NOT_FOUND;
    snprintf(endpoint_id, sizeof(fx_id_text_t), "%s", id);
    return FX_OK;
}

/* It holds tasks with their bodies as given: it knows no versions. */
static int s_bodies(void *ctx, const char *endpoint_id, const fx_oid_text_t *versions, uint32_t count,
                    fx_msg_t *bodies)
{
    int rc = s_call(ctx, "bodies");
    if (rc == FX_OK)
        rc = fx_msg_alloc_records(bodies, count);
    for (uint32_t i = 0; rc == FX_OK && i < count; i++)
        memcpy(bodies->function_bodies.functions[i].version, versions[i], sizeof(fx_oid_text_t));
    return rc;
}

/* It keeps no SUBMIT to check against: nothing to store, not a call the
   fault tests count. */
static int s_allowed(void *ctx, const char *endpoint_id, const fx_id_text_t *ids, uint32_t count)
{
    return FX_OK;
}

static int s_container(void *ctx, const char *container_id, fx_container_def_t *def)
{
    fx_fwd_queue_mem_t *self = ctx;
    self->container_calls++;
    int rc = s_call(self, "container");
    if (rc != FX_OK)
        return rc;
    const fx_container_def_t *found = zhashx_lookup(self->containers, container_id);
    if (!found)
        return FX_E_NOT_FOUND;
    *def = *found;
    return FX_OK;
}

static const char *s_describe(void *ctx)
{
    fx_fwd_queue_mem_t *self = ctx;
    return self->why;
}

static const fx_fwd_queue_ops_t s_ops = {
    .take = s_take,
    .requeue = s_requeue,
    .commit = s_commit,
    .seen = s_seen,
    .by_key = s_by_key,
    .bodies = s_bodies,
    .allowed = s_allowed,
    .container = s_container,
    .describe = s_describe,
};

fx_fwd_queue_t fx_fwd_queue_mem_queue(fx_fwd_queue_mem_t *self)
{
    return (fx_fwd_queue_t){.ops = &s_ops, .ctx = self};
}
