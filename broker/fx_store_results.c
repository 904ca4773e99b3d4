/*  fx_store_results.c: results in from endpoints (deduplicated by task
    id), out to clients (pushed in order of arrival, fetched on request),
    delivered on the client's ack, purged after their TTL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_store_int.h"

/* ---------------------------------------------------------------- in */

typedef struct {
    fx_id_text_t owner;
    fx_id_text_t client_id;
} s_notice_t;

/* Stores one result if its task was dispatched to endpoint_id. */
static int s_commit_one(fx_store_t *self, const char *endpoint_id, const fx_result_t *result, int64_t now,
                        fx_store_outcome_t *outcome, s_notice_t *notice)
{
    *outcome = FX_STORE_FOREIGN;
    sqlite3_stmt *st = fx_store_st(self, ST_RESULT_TASK);
    fx_store_bind_text(st, 1, result->task_id);
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        int rc = step == SQLITE_DONE ? FX_OK : fx_store_fail(self);
        sqlite3_reset(st);
        return rc;
    }
    const char *task_endpoint = (const char *) sqlite3_column_text(st, 0);
    bool ours = task_endpoint && strcmp(task_endpoint, endpoint_id) == 0;
    fx_store_column_text(st, 1, notice->owner, sizeof notice->owner);
    fx_store_column_text(st, 2, notice->client_id, sizeof notice->client_id);
    int64_t seq = sqlite3_column_int64(st, 3);
    int64_t attempt = sqlite3_column_int64(st, 5);
    /* The result's stamps: its own, and the task's where a hop below did
       not copy them back; the SUBMIT's durable one if known by now. */
    uint64_t times[FX_TIMES_MAX];
    uint8_t packed[FX_TIMES_MAX * 8];
    memcpy(times, result->times, sizeof times);
    if (ours)
        fx_store_column_times(st, 4, times);
    sqlite3_reset(st);
    if (!ours)
        return FX_OK;
    if (!times[FX_TIME_BROKER_DURABLE])
        times[FX_TIME_BROKER_DURABLE] = fx_store_task_durable_us(self, seq);
    st = fx_store_st(self, ST_RESULT_INSERT);
    fx_store_bind_text(st, 1, result->task_id);
    sqlite3_bind_int(st, 2, result->status);
    sqlite3_bind_int(st, 3, result->error_code);
    fx_store_bind_text(st, 4, result->error_text);
    fx_store_bind_frame(st, 5, result->value);
    fx_store_bind_frame(st, 6, result->output);
    sqlite3_bind_int64(st, 7, now);
    fx_store_bind_times(st, 8, times, packed);
    fx_store_bind_text(st, 9, result->host);
    sqlite3_bind_int64(st, 10, result->worker_pid);
    fx_store_bind_text(st, 11, result->worker_runtime);
    fx_store_bind_text(st, 12, result->container);
    fx_store_bind_text(st, 13, result->image_digest);
    /* which run made it: a rerun after a worker death is not a dispatch */
    sqlite3_bind_int64(st, 14, (int64_t) result->attempt + 1 > attempt ? (int64_t) result->attempt + 1 : attempt);
    int rc = fx_store_exec(self, st);
    if (rc != FX_OK)
        return rc;
    if (sqlite3_changes(self->db) == 0) {
        *outcome = FX_STORE_DUP;
        return FX_OK;
    }
    *outcome = FX_STORE_NEW;
    st = fx_store_st(self, ST_TASK_FINISH_SEQ);
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int(st, 2, result->status == FX_RESULT_ERROR ? FX_TASK_FAILED : FX_TASK_DONE);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, result->status != FX_RESULT_OK);
    return fx_store_exec(self, st);
}

int fx_store_results_commit(fx_store_t *self, const char *endpoint_id, const fx_result_t *results,
                            uint32_t count, fx_store_outcome_t *outcome)
{
    if (count == 0)
        return FX_OK;
    if (count > FX_BATCH_MAX)
        return FX_E_TOO_LARGE;
    s_notice_t *notices = calloc(count, sizeof *notices);
    fx_store_outcome_t *outcomes = outcome ? outcome : calloc(count, sizeof *outcomes);
    int rc = FX_E_NOMEM;
    if (!notices || !outcomes)
        goto done;
    if ((rc = fx_store_begin(self)) != FX_OK)
        goto done;
    int64_t now = fx_store_wall_ms();
    for (uint32_t i = 0; i < count && rc == FX_OK; i++)
        rc = s_commit_one(self, endpoint_id, &results[i], now, &outcomes[i], &notices[i]);
    rc = fx_store_end(self, rc);
    if (rc != FX_OK)
        goto done;
    for (uint32_t i = 0; i < count; i++)
        if (outcomes[i] == FX_STORE_NEW) {
            fx_store_unfinished_add(self, notices[i].owner, -1);
            fx_store_notify(self, notices[i].owner, notices[i].client_id);
        }
done:
    free(notices);
    if (outcomes != outcome)
        free(outcomes);
    return rc;
}

/* ---------------------------------------------------------------- out */

/* Reads one result row (status at column `col`, then error_code,
   error_text, value, output) into a record. */
static int s_result_from_row(sqlite3_stmt *st, int col, fx_result_t *result)
{
    result->status = (uint8_t) sqlite3_column_int(st, col);
    result->error_code = (uint16_t) sqlite3_column_int(st, col + 1);
    if (sqlite3_column_type(st, col + 2) != SQLITE_NULL &&
        fx_result_set_text(result, (const char *) sqlite3_column_text(st, col + 2)) != FX_OK)
        return FX_E_NOMEM;
    result->value = fx_store_column_frame(st, col + 3);
    result->output = fx_store_column_frame(st, col + 4);
    fx_store_column_times(st, col + 5, result->times);
    result->times[FX_TIME_BROKER_RESULT_DURABLE] = (uint64_t) sqlite3_column_int64(st, col + 6);
    result->times[FX_TIME_BROKER_PUSHED] = (uint64_t) sqlite3_column_int64(st, col + 7);
    return result->value && result->output ? FX_OK : FX_E_NOMEM;
}

static size_t s_row_bytes(sqlite3_stmt *st, int col)
{
    return (size_t) sqlite3_column_bytes(st, col + 3) + (size_t) sqlite3_column_bytes(st, col + 4);
}

void fx_store_results_free(fx_result_t *rows, uint32_t count)
{
    for (uint32_t i = 0; rows && i < count; i++) {
        free(rows[i].error_text);
        rows[i].error_text = NULL;
        zframe_destroy(&rows[i].value);
        zframe_destroy(&rows[i].output);
    }
}

/* The end of a read into rows: on a failure the n rows read are freed and
   none counted. */
static int s_rows_end(int rc, fx_result_t *rows, uint32_t n, uint32_t *count)
{
    if (rc != FX_OK)
        fx_store_results_free(rows, n);
    *count = rc == FX_OK ? n : 0;
    return rc;
}

int fx_store_results_pending(fx_store_t *self, const char *owner, const char *client_id, int64_t after,
                             uint32_t max, fx_result_t *rows, int64_t *seqs, uint32_t *count)
{
    *count = 0;
    if (max > FX_BATCH_MAX)
        max = FX_BATCH_MAX;
    sqlite3_stmt *st = fx_store_st(self, ST_PENDING);
    sqlite3_bind_int64(st, 1, after);
    fx_store_bind_text(st, 2, owner);
    fx_store_bind_text(st, 3, client_id);
    sqlite3_bind_int64(st, 4, max);
    int rc = FX_OK, step = SQLITE_DONE;
    uint32_t n = 0;
    size_t bytes = 0;
    while (n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        size_t size = s_row_bytes(st, 2);
        if (n > 0 && bytes + size > FX_STORE_BATCH_BYTES)
            break;
        fx_result_t *result = &rows[n++];
        memset(result, 0, sizeof *result);
        seqs[n - 1] = sqlite3_column_int64(st, 0);
        fx_store_column_text(st, 1, result->task_id, sizeof result->task_id);
        bytes += size;
        if ((rc = s_result_from_row(st, 2, result)) != FX_OK)
            break;
    }
    if (rc == FX_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fx_store_fail(self);
    sqlite3_reset(st);
    return s_rows_end(rc, rows, n, count);
}

int fx_store_results_fetch(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                           fx_result_t *rows, uint32_t *found)
{
    *found = 0;
    int rc = FX_OK;
    uint32_t n = 0;
    size_t bytes = 0;
    for (uint32_t i = 0; i < count && rc == FX_OK; i++) {
        sqlite3_stmt *st = fx_store_st(self, ST_FETCH);
        fx_store_bind_text(st, 1, ids[i]);
        fx_store_bind_text(st, 2, owner);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            size_t size = s_row_bytes(st, 0);
            if (n > 0 && bytes + size > FX_STORE_BATCH_BYTES) {
                sqlite3_reset(st);
                break; /* the client fetches the rest in another request */
            }
            fx_result_t *result = &rows[n++];
            memset(result, 0, sizeof *result);
            snprintf(result->task_id, sizeof result->task_id, "%s", ids[i]);
            bytes += size;
            rc = s_result_from_row(st, 0, result);
        }
        else if (step != SQLITE_DONE)
            rc = fx_store_fail(self);
        sqlite3_reset(st);
    }
    return s_rows_end(rc, rows, n, found);
}

int fx_store_results_mark_pushed(fx_store_t *self, const fx_result_t *results, uint32_t count)
{
    if (count == 0)
        return FX_OK;
    int rc = fx_store_begin(self);
    for (uint32_t i = 0; i < count && rc == FX_OK; i++) {
        sqlite3_stmt *st = fx_store_st(self, ST_MARK_PUSHED);
        fx_store_bind_text(st, 1, results[i].task_id);
        rc = fx_store_exec(self, st);
    }
    return fx_store_end(self, rc);
}

int fx_store_results_ack(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                         const uint64_t (*stamps)[2], uint32_t *acked_out)
{
    uint32_t acked = 0;
    if (acked_out)
        *acked_out = 0;
    if (count == 0)
        return FX_OK;
    int rc = fx_store_begin(self);
    int64_t now = fx_store_wall_ms();
    for (uint32_t i = 0; i < count && rc == FX_OK; i++) {
        sqlite3_stmt *st = fx_store_st(self, ST_ACK_RESULT);
        fx_store_bind_text(st, 1, ids[i]);
        fx_store_bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, now);
        for (int k = 0; stamps && k < 2; k++)
            if (stamps[i][k])
                sqlite3_bind_int64(st, 4 + k, (int64_t) stamps[i][k]);
        if ((rc = fx_store_exec(self, st)) != FX_OK || sqlite3_changes(self->db) == 0)
            continue;
        acked++;
        st = fx_store_st(self, ST_ACK_TASK);
        fx_store_bind_text(st, 1, ids[i]);
        fx_store_bind_text(st, 2, owner);
        sqlite3_bind_int64(st, 3, now);
        rc = fx_store_exec(self, st);
    }
    rc = fx_store_end(self, rc);
    if (rc != FX_OK)
        return rc;
    if (acked_out)
        *acked_out = acked;
    return FX_OK;
}

int fx_store_purge(fx_store_t *self, int64_t before_wall_ms, uint32_t *purged_out)
{
    if (purged_out)
        *purged_out = 0;
    int rc = fx_store_begin(self);
    if (rc != FX_OK)
        return rc;
    sqlite3_stmt *st = fx_store_st(self, ST_PURGE_TASKS);
    sqlite3_bind_int64(st, 1, before_wall_ms);
    rc = fx_store_exec(self, st);
    if (rc == FX_OK) {
        st = fx_store_st(self, ST_PURGE_RESULTS);
        sqlite3_bind_int64(st, 1, before_wall_ms);
        rc = fx_store_exec(self, st);
    }
    uint32_t purged = rc == FX_OK ? (uint32_t) sqlite3_changes(self->db) : 0;
    rc = fx_store_end(self, rc);
    if (rc != FX_OK)
        return rc;
    if (purged_out)
        *purged_out = purged;
    return FX_OK;
}

/* ---------------------------------------------------------------- provenance */

int fx_store_provenance(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                        fx_provenance_t *out)
{
    for (uint32_t i = 0; i < count; i++) {
        fx_provenance_t *p = &out[i];
        memset(p, 0, sizeof *p);
        memcpy(p->task_id, ids[i], sizeof p->task_id);
        sqlite3_stmt *st = fx_store_st(self, ST_PROVENANCE);
        fx_store_bind_text(st, 1, ids[i]);
        fx_store_bind_text(st, 2, owner);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
            sqlite3_reset(st);
            continue; /* UNKNOWN, empty (SPEC 5.32) */
        }
        if (rc != SQLITE_ROW) {
            rc = fx_store_fail(self);
            sqlite3_reset(st);
            return rc;
        }
        p->state = (uint8_t) sqlite3_column_int(st, 0);
        fx_store_column_text(st, 1, p->function_id, sizeof p->function_id);
        fx_store_column_text(st, 2, p->function_version, sizeof p->function_version);
        fx_store_column_text(st, 3, p->commit, sizeof p->commit);
        /* STRATEGY+PAYLOAD (SPEC 12.1): the version's strategy, then the
           payload's format the task was submitted with */
        char strategy[FX_NAME_MAX + 1], payload[FX_NAME_MAX + 1];
        fx_store_column_text(st, 18, strategy, sizeof strategy);
        fx_store_column_text(st, 4, payload, sizeof payload);
        if (strategy[0] && !strchr(payload, '+'))
            snprintf(p->serializer, sizeof p->serializer, "%.60s+%.60s", strategy, payload);
        else
            snprintf(p->serializer, sizeof p->serializer, "%s", payload);
        fx_store_column_text(st, 5, p->py_version, sizeof p->py_version);
        fx_store_column_text(st, 6, p->dill_version, sizeof p->dill_version);
        fx_store_column_text(st, 7, p->endpoint_id, sizeof p->endpoint_id);
        fx_store_column_text(st, 8, p->host, sizeof p->host);
        p->worker_pid = (uint32_t) sqlite3_column_int64(st, 9);
        fx_store_column_text(st, 10, p->worker_runtime, sizeof p->worker_runtime);
        p->attempt = (uint32_t) sqlite3_column_int64(st, 11);
        fx_store_column_text(st, 12, p->container, sizeof p->container);
        fx_store_column_text(st, 13, p->image_digest, sizeof p->image_digest);
        fx_store_column_times(st, 14, p->times);
        if (!p->times[FX_TIME_BROKER_RESULT_DURABLE])
            p->times[FX_TIME_BROKER_RESULT_DURABLE] = (uint64_t) sqlite3_column_int64(st, 15);
        if (!p->times[FX_TIME_BROKER_PUSHED])
            p->times[FX_TIME_BROKER_PUSHED] = (uint64_t) sqlite3_column_int64(st, 16);
        /* the delivery (the client's ack, ms) where the client did not stamp it */
        if (!p->times[FX_TIME_CLIENT_RECEIVED] && sqlite3_column_type(st, 17) != SQLITE_NULL)
            p->times[FX_TIME_CLIENT_RECEIVED] = (uint64_t) sqlite3_column_int64(st, 17) * 1000;
        sqlite3_reset(st);
    }
    return FX_OK;
}
