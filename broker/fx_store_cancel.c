/*  fx_store_cancel.c: CANCEL of tasks, and the per-user count of
    unfinished (QUEUED + DISPATCHED) tasks that the queue cap checks. The
    count is read once per user with an indexed count and then kept in
    memory: SUBMIT adds what it stored, every new result (from an endpoint
    or a cancel) takes one away. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_store_int.h"

/* ---------------------------------------------------------------- counts */

void fx_store_count_free(void **item)
{
    free(*item);
    *item = NULL;
}

void fx_store_set_queue_cap(fx_store_t *self, uint64_t cap)
{
    self->queue_cap = cap;
}

int fx_store_unfinished(fx_store_t *self, const char *owner, uint64_t *count_out)
{
    uint64_t *cached = zhashx_lookup(self->unfinished, owner);
    if (cached) {
        *count_out = *cached;
        return FX_OK;
    }
    sqlite3_stmt *st = fx_store_st(self, ST_UNFINISHED);
    fx_store_bind_text(st, 1, owner);
    int step = sqlite3_step(st);
    int rc = step == SQLITE_ROW ? FX_OK : fx_store_fail(self);
    uint64_t count = step == SQLITE_ROW ? (uint64_t) sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != FX_OK)
        return rc;
    /* Cache only outside a transaction: inside one, the count may include
       rows that a rollback takes back. */
    uint64_t *item = sqlite3_get_autocommit(self->db) ? malloc(sizeof *item) : NULL;
    if (item) {
        *item = count;
        zhashx_insert(self->unfinished, owner, item);
    }
    *count_out = count;
    return FX_OK;
}

void fx_store_unfinished_add(fx_store_t *self, const char *owner, int64_t delta)
{
    uint64_t *cached = zhashx_lookup(self->unfinished, owner);
    if (!cached)
        return;
    if (delta < 0 && (uint64_t) -delta > *cached)
        *cached = 0;
    else
        *cached = (uint64_t) ((int64_t) *cached + delta);
}

/* ---------------------------------------------------------------- cancel */

int fx_store_cancel_one(fx_store_t *self, const char *task_id, const char *text, int64_t now)
{
    sqlite3_stmt *st = fx_store_st(self, ST_RESULT_INSERT);
    fx_store_bind_text(st, 1, task_id);
    sqlite3_bind_int(st, 2, FX_RESULT_ERROR);
    sqlite3_bind_int(st, 3, FX_E_CANCELLED);
    fx_store_bind_text(st, 4, text);
    sqlite3_bind_zeroblob(st, 5, 0);
    sqlite3_bind_zeroblob(st, 6, 0);
    sqlite3_bind_int64(st, 7, now);
    int rc = fx_store_exec(self, st);
    if (rc != FX_OK)
        return rc;
    st = fx_store_st(self, ST_TASK_FINISH);
    fx_store_bind_text(st, 1, task_id);
    sqlite3_bind_int(st, 2, FX_TASK_FAILED);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, 1);
    return fx_store_exec(self, st);
}

/* One task of a CANCEL. *ended: it got its cancelled result now. */
static int s_cancel_task(fx_store_t *self, const char *owner, const char *task_id, bool queued_only,
                         fx_store_online_fn *online, void *arg, int64_t now, fx_task_status_t *status,
                         char *client_id, bool *ended)
{
    *ended = false;
    memset(status, 0, sizeof *status);
    snprintf(status->task_id, sizeof status->task_id, "%s", task_id);
    sqlite3_stmt *st = fx_store_st(self, ST_TASK_STATUS);
    fx_store_bind_text(st, 1, task_id);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        sqlite3_reset(st);
        return step == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    }
    const char *row_owner = (const char *) sqlite3_column_text(st, 0);
    if (!row_owner || strcmp(row_owner, owner) != 0) {
        sqlite3_reset(st);
        return FX_OK; /* someone else's: UNKNOWN */
    }
    status->state = (uint8_t) sqlite3_column_int(st, 1);
    fx_store_column_text(st, 2, status->endpoint_id, sizeof status->endpoint_id);
    status->attempts = (uint32_t) sqlite3_column_int64(st, 3);
    fx_store_column_text(st, 4, client_id, sizeof(fx_id_text_t));
    sqlite3_reset(st);
    const char *text = NULL;
    if (status->state == FX_TASK_QUEUED)
        text = "cancelled before it ran";
    else if (status->state == FX_TASK_DISPATCHED && !queued_only) {
        if (!online || !online(status->endpoint_id, arg))
            /* Its endpoint is gone: the task will be requeued when it comes
               back, so it has not run to a result here. */
            text = "cancelled before it ran (its endpoint was offline)";
        else {
            st = fx_store_st(self, ST_TASK_CANCEL_MARK);
            fx_store_bind_text(st, 1, task_id);
            sqlite3_bind_int64(st, 2, now);
            return fx_store_exec(self, st);
        }
    }
    if (!text)
        return FX_OK;
    int rc = fx_store_cancel_one(self, task_id, text, now);
    if (rc == FX_OK) {
        status->state = FX_TASK_FAILED;
        *ended = true;
    }
    return rc;
}

int fx_store_cancel(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                    bool queued_only, fx_store_online_fn *online, void *arg, fx_task_status_t *out)
{
    if (count == 0)
        return FX_OK;
    if (count > FX_IDS_MAX)
        return FX_E_TOO_LARGE;
    fx_id_text_t *clients = calloc(count, sizeof *clients);
    bool *ended = calloc(count, sizeof *ended);
    int rc = clients && ended ? fx_store_begin(self) : FX_E_NOMEM;
    int64_t now = fx_store_wall_ms();
    for (uint32_t i = 0; i < count && rc == FX_OK; i++)
        rc =
            s_cancel_task(self, owner, ids[i], queued_only, online, arg, now, &out[i], clients[i], &ended[i]);
    rc = fx_store_end(self, rc);
    for (uint32_t i = 0; i < count && rc == FX_OK; i++)
        if (ended[i]) {
            fx_store_unfinished_add(self, owner, -1);
            fx_store_notify(self, owner, clients[i]);
        }
    free(clients);
    free(ended);
    return rc;
}
