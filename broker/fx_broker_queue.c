/*  fx_broker_queue.c: the forwarder's queue (forwarder/fx_fwd_queue.h)
    over the broker's sqlite store and, for function bodies, its registry
    (fx_bodies.h). Each operation is one call of the store
    and so one transaction: what the forwarder is told happened is
    committed (in the WAL; on disk once the ticket of commit is reported
    durable, fx_fwd_set_durable), and a store failure is FX_E_IO with
    nothing changed. */
#include <stdlib.h>
#include <string.h>

#include "fx_broker_int.h"

/* fx_store_room_fn: the records of the TASKS message (arg), n of them. */
static fx_task_t *s_room(uint32_t n, void *arg)
{
    fx_msg_t *tasks = arg;
    return fx_msg_alloc_records(tasks, n) == FX_OK ? tasks->tasks.tasks : NULL;
}

/* The body frame of a task of a versioned function: its version's body,
   or empty (SPEC 5.20: the endpoint fetches it). The store left it empty
   (such a function's row holds no body). */
static void s_body(fx_broker_queue_ctx_t *q, fx_task_t *task, bool with_bodies)
{
    if (!with_bodies || !task->function_version[0] || (task->body && zframe_size(task->body)))
        return;
    zframe_t *body = fx_bodies_frame(q->bodies, task->function_version);
    if (!body) /* logged; the worker fails the task on an empty body */
        return;
    zframe_destroy(&task->body);
    task->body = body;
}

static int s_take(void *ctx, const char *endpoint_id, uint32_t max, bool with_bodies, fx_msg_t *tasks)
{
    fx_broker_queue_ctx_t *q = ctx;
    uint32_t n = 0;
    int rc = fx_msg_alloc_records(tasks, 0);
    if (rc == FX_OK)
        rc = fx_store_dispatch(q->store, endpoint_id, max, s_room, tasks, &n);
    tasks->tasks.count = n; /* 0 after a failure: the room holds no frames */
    for (uint32_t i = 0; i < n; i++)
        s_body(q, &tasks->tasks.tasks[i], with_bodies);
    return rc;
}

static int s_bodies(void *ctx, const char *endpoint_id, const fx_oid_text_t *versions, uint32_t count,
                    fx_msg_t *bodies)
{
    fx_broker_queue_ctx_t *q = ctx;
    int rc = fx_msg_alloc_records(bodies, count);
    for (uint32_t i = 0; rc == FX_OK && i < count; i++) {
        fx_function_body_t *record = &bodies->function_bodies.functions[i];
        memcpy(record->version, versions[i], sizeof record->version);
        rc = fx_store_endpoint_version(q->store, endpoint_id, versions[i], record);
        if (rc == FX_OK)
            record->body = fx_bodies_frame(q->bodies, versions[i]);
        if (rc == FX_E_NOT_FOUND || (rc == FX_OK && !record->body)) {
            /* not this endpoint's, or its blob is gone: kind 0 (SPEC 5.28) */
            char version[sizeof record->version];
            memcpy(version, record->version, sizeof version);
            memset(record, 0, sizeof *record);
            memcpy(record->version, version, sizeof version);
            fx_strlcpy(record->function_id, FX_NIL_FUNCTION_ID, sizeof record->function_id);
            rc = FX_OK;
        }
    }
    return rc;
}

static int s_allowed(void *ctx, const char *endpoint_id, const fx_id_text_t *ids, uint32_t count)
{
    fx_broker_queue_ctx_t *q = ctx;
    return fx_store_endpoint_allowed(q->store, endpoint_id, ids, count);
}

static int s_requeue(void *ctx, const char *endpoint_id, uint32_t *requeued, uint32_t *cancelled)
{
    return fx_store_requeue(((fx_broker_queue_ctx_t *) ctx)->store, endpoint_id, requeued, cancelled);
}

static int s_commit(void *queue, const char *endpoint_id, const fx_result_t *results, uint32_t count,
                    fx_fwd_outcome_t *outcome, uint64_t *ticket)
{
    fx_store_t *ctx = ((fx_broker_queue_ctx_t *) queue)->store;
    *ticket = fx_store_written(ctx); /* covers duplicates' earlier commits too */
    fx_store_outcome_t *stored = calloc(count ? count : 1, sizeof *stored);
    if (!stored)
        return FX_E_NOMEM;
    int rc = fx_store_results_commit(ctx, endpoint_id, results, count, stored);
    for (uint32_t i = 0; rc == FX_OK && i < count; i++)
        outcome[i] = stored[i] == FX_STORE_NEW   ? FX_FWD_RESULT_NEW
                     : stored[i] == FX_STORE_DUP ? FX_FWD_RESULT_DUP
                                                 : FX_FWD_RESULT_FOREIGN;
    free(stored);
    if (rc == FX_OK)
        *ticket = fx_store_written(ctx);
    return rc;
}

static int s_container(void *ctx, const char *container_id, fx_container_def_t *def)
{
    return fx_store_container_get(((fx_broker_queue_ctx_t *) ctx)->store, container_id, def);
}

static int s_seen(void *ctx, const char *endpoint_id, int64_t wall_ms)
{
    return fx_store_endpoint_seen(((fx_broker_queue_ctx_t *) ctx)->store, endpoint_id, wall_ms);
}

static int s_by_key(void *ctx, const char *public_key, fx_id_text_t endpoint_id)
{
    return fx_store_endpoint_by_key(((fx_broker_queue_ctx_t *) ctx)->store, public_key, endpoint_id);
}

static const char *s_describe(void *ctx)
{
    return fx_store_errmsg(((fx_broker_queue_ctx_t *) ctx)->store);
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

fx_fwd_queue_t fx_broker_queue(fx_broker_queue_ctx_t *ctx)
{
    return (fx_fwd_queue_t){.ops = &s_ops, .ctx = ctx};
}
