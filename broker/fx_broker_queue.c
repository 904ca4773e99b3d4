/*  fx_broker_queue.c: the forwarder's queue (forwarder/fx_fwd_queue.h)
    over the broker's sqlite store. Each operation is one call of the store
    and so one transaction: what the forwarder is told happened is
    committed (in the WAL; on disk once the ticket of commit is reported
    durable, fx_fwd_set_durable), and a store failure is FX_E_IO with
    nothing changed. */
#include <stdlib.h>

#include "fx_broker_int.h"

/* fx_store_room_fn: the records of the TASKS message (arg), n of them. */
static fx_task_t *s_room(uint32_t n, void *arg)
{
    fx_msg_t *tasks = arg;
    return fx_msg_alloc_records(tasks, n) == FX_OK ? tasks->tasks.tasks : NULL;
}

static int s_take(void *ctx, const char *endpoint_id, uint32_t max, fx_msg_t *tasks)
{
    uint32_t n = 0;
    int rc = fx_msg_alloc_records(tasks, 0);
    if (rc == FX_OK)
        rc = fx_store_dispatch(ctx, endpoint_id, max, s_room, tasks, &n);
    tasks->tasks.count = n; /* 0 after a failure: the room holds no frames */
    return rc;
}

static int s_requeue(void *ctx, const char *endpoint_id, uint32_t *requeued, uint32_t *cancelled)
{
    return fx_store_requeue(ctx, endpoint_id, requeued, cancelled);
}

static int s_commit(void *ctx, const char *endpoint_id, const fx_result_t *results, uint32_t count,
                    fx_fwd_outcome_t *outcome, uint64_t *ticket)
{
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

static int s_seen(void *ctx, const char *endpoint_id, int64_t wall_ms)
{
    return fx_store_endpoint_seen(ctx, endpoint_id, wall_ms);
}

static int s_by_key(void *ctx, const char *public_key, fx_id_text_t endpoint_id)
{
    return fx_store_endpoint_by_key(ctx, public_key, endpoint_id);
}

static const char *s_describe(void *ctx)
{
    return fx_store_errmsg(ctx);
}

static const fx_fwd_queue_ops_t s_ops = {
    .take = s_take,
    .requeue = s_requeue,
    .commit = s_commit,
    .seen = s_seen,
    .by_key = s_by_key,
    .describe = s_describe,
};

fx_fwd_queue_t fx_broker_queue(fx_store_t *store)
{
    return (fx_fwd_queue_t){.ops = &s_ops, .ctx = store};
}
