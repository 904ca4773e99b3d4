/*  fx_store_tasks.c: the task queue in sqlite. Tasks enter with SUBMIT
    (QUEUED), leave for an endpoint in submission order (DISPATCHED), come
    back to QUEUED when their endpoint is lost, and end with a result
    (fx_store_results.c). Queued tasks live only here, never in RAM: the
    forwarder asks for at most its credit's worth at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_clock.h"
#include "fx_store_int.h"

/* ---------------------------------------------------------------- submit */

/* Checks that a registry row (endpoint or function) exists and is owner's.
   cache holds the last id that passed, so a batch to one endpoint and one
   function costs two lookups, not two per task. */
static int s_check_owned(fx_store_t *self, fx_st_t which, const char *what, const char *id, const char *owner,
                         fx_id_text_t cache, uint32_t index, char *err, size_t errlen)
{
    if (strcmp(cache, id) == 0)
        return FX_OK;
    sqlite3_stmt *st = fx_store_st(self, which);
    fx_store_bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    int result = FX_OK;
    if (rc == SQLITE_ROW) {
        const char *row_owner = (const char *) sqlite3_column_text(st, 0);
        if (!row_owner || strcmp(row_owner, owner) != 0) {
            snprintf(err, errlen, "task %u: %s %s belongs to another user: submit only to your own %ss",
                     index, what, id, what);
            result = FX_E_FORBIDDEN;
        }
    }
    else if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "task %u: %s %s is not registered: register it first", index, what, id);
        result = FX_E_NOT_FOUND;
    }
    else {
        result = fx_store_fail(self);
        snprintf(err, errlen, "task %u: cannot look up %s %s: %s", index, what, id, self->errmsg);
    }
    sqlite3_reset(st);
    if (result == FX_OK)
        memcpy(cache, id, sizeof(fx_id_text_t));
    return result;
}

/* The version a task is pinned to (SPEC 5.9): the one it names, or the
   function's newest; the last answer is kept, so a batch of one function
   costs one lookup. A function registered before versions existed has
   none: its tasks run the body of its row (version ""). */
typedef struct {
    fx_id_text_t function_id;
    fx_oid_text_t asked;
    fx_oid_text_t version; /* the answer */
} s_pin_t;

static int s_pin(fx_store_t *self, s_pin_t *pin, const fx_task_t *task, uint32_t index, char *err,
                 size_t errlen)
{
    if (pin->function_id[0] && strcmp(pin->function_id, task->function_id) == 0 &&
        strcmp(pin->asked, task->function_version) == 0)
        return FX_OK;
    const char *asked = task->function_version;
    if (!fx_oid_valid(asked)) {
        snprintf(err, errlen, "task %u: function_version is not a version id (40 hex digits, or empty)",
                 index);
        return FX_E_BAD_FIELD;
    }
    fx_store_version_t v;
    int rc = fx_store_version_find(self, task->function_id, asked, &v);
    if (rc == FX_E_IO) {
        snprintf(err, errlen, "task %u: cannot look up the versions of function %s: %s", index,
                 task->function_id, self->errmsg);
        return rc;
    }
    if (rc == FX_E_NOT_FOUND && asked[0]) {
        snprintf(err, errlen, "task %u: function %s has no version %s: see fx function log %s", index,
                 task->function_id, asked, task->function_id);
        return FX_E_NOT_FOUND;
    }
    bool missing = rc == FX_OK && v.missing;
    if (rc == FX_OK) {
        memcpy(pin->version, v.version, sizeof pin->version);
        fx_store_versions_free(&v, 1, false);
    }
    else
        pin->version[0] = '\0'; /* unversioned (registered before versions) */
    if (missing) {
        snprintf(err, errlen,
                 "task %u: version %s of function %s is missing from the broker's registry (fx-broker "
                 "reported it at start): register the function again",
                 index, pin->version, task->function_id);
        pin->function_id[0] = '\0';
        return FX_E_NOT_FOUND;
    }
    memcpy(pin->function_id, task->function_id, sizeof pin->function_id);
    memcpy(pin->asked, asked, sizeof pin->asked);
    return FX_OK;
}

/* ENDPOINT_HELLO's allowed_functions (SPEC 5.18), once the broker has
   had one from the endpoint: the last (endpoint, function) pair that
   passed is kept. */
typedef struct {
    fx_id_text_t endpoint_id;
    fx_id_text_t function_id;
} s_allowed_t;

static int s_check_allowed(fx_store_t *self, s_allowed_t *ok, const fx_task_t *task, uint32_t index,
                           char *err, size_t errlen)
{
    if (strcmp(ok->endpoint_id, task->endpoint_id) == 0 && strcmp(ok->function_id, task->function_id) == 0)
        return FX_OK;
    sqlite3_stmt *st = fx_store_st(self, ST_EP_GET);
    fx_store_bind_text(st, 1, task->endpoint_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int result = rc == SQLITE_DONE ? FX_OK : fx_store_fail(self); /* the owner check said the rest */
        sqlite3_reset(st);
        return result;
    }
    const char *list = (const char *) sqlite3_column_text(st, 2);
    bool allowed = !list || !list[0] || strstr(list, task->function_id) != NULL;
    sqlite3_reset(st);
    if (!allowed) {
        snprintf(err, errlen,
                 "task %u: function %s is not in the allowed_functions of endpoint %s (its configuration): "
                 "nothing in this batch was stored; submit it to another endpoint or allow it there",
                 index, task->function_id, task->endpoint_id);
        return FX_E_FORBIDDEN;
    }
    memcpy(ok->endpoint_id, task->endpoint_id, sizeof ok->endpoint_id);
    memcpy(ok->function_id, task->function_id, sizeof ok->function_id);
    return FX_OK;
}

/* A task's own container (SPEC 5.6, SUBMIT side): "" or one of owner's;
   ok holds the last that passed. Unknown or another user's refuses the
   whole batch with FX_E_NOT_FOUND. */
static int s_check_container(fx_store_t *self, const char *owner, fx_id_text_t ok, const fx_task_t *task,
                             uint32_t index, char *err, size_t errlen)
{
    if (!task->container[0] || strcmp(ok, task->container) == 0)
        return FX_OK;
    char why[400];
    int rc = fx_store_container_owned(self, owner, task->container, why, sizeof why);
    if (rc != FX_OK) {
        snprintf(err, errlen, "task %u: %s; nothing in this batch was stored", index, why);
        return rc;
    }
    fx_strlcpy(ok, task->container, sizeof(fx_id_text_t));
    return FX_OK;
}

/* Field checks that need no database. */
static int s_check_task(const fx_task_t *task, uint32_t index, char *err, size_t errlen)
{
    const char *bad = !fx_id_valid(task->task_id)       ? "task_id"
                      : !fx_id_valid(task->endpoint_id) ? "endpoint_id"
                      : !fx_id_valid(task->function_id) ? "function_id"
                                                        : NULL;
    if (bad) {
        snprintf(err, errlen, "task %u: %s is not a canonical UUID: fix the submission", index, bad);
        return FX_E_BAD_FIELD;
    }
    if (task->retries > FX_RETRIES_MAX) {
        snprintf(err, errlen, "task %u: retries %u is over the limit of %d", index, task->retries,
                 FX_RETRIES_MAX);
        return FX_E_BAD_FIELD;
    }
    if (task->payload && zframe_size(task->payload) > FX_PAYLOAD_MAX) {
        snprintf(err, errlen, "task %u: payload of %zu bytes is over the %u byte limit", index,
                 zframe_size(task->payload), FX_PAYLOAD_MAX);
        return FX_E_TOO_LARGE;
    }
    return FX_OK;
}

int fx_store_submit(fx_store_t *self, const char *owner, const char *client_id, const fx_task_t *tasks,
                    uint32_t count, uint32_t *stored_out, char *err, size_t errlen)
{
    uint32_t stored = 0;
    if (stored_out)
        *stored_out = 0;
    if (!fx_id_valid(client_id) || !fx_id_valid(owner)) {
        snprintf(err, errlen, "submit needs a session with a canonical client id: send HELLO");
        return FX_E_BAD_FIELD;
    }
    if (count > FX_BATCH_MAX) {
        snprintf(err, errlen, "batch of %u tasks is over the limit of %d: split it", count, FX_BATCH_MAX);
        return FX_E_TOO_LARGE;
    }
    for (uint32_t i = 0; i < count; i++) {
        int rc = s_check_task(&tasks[i], i, err, errlen);
        if (rc != FX_OK)
            return rc;
    }
    uint64_t unfinished = 0;
    if (fx_store_unfinished(self, owner, &unfinished) != FX_OK || fx_store_begin(self) != FX_OK) {
        snprintf(err, errlen, "cannot store the batch: %s", self->errmsg);
        return FX_E_IO;
    }
    fx_id_text_t endpoint_ok = "", function_ok = "", container_ok = "";
    s_pin_t pin = {0};
    s_allowed_t allowed = {0};
    int64_t now = fx_store_wall_ms();
    uint64_t written_us = (uint64_t) fx_wall_us();
    int64_t first_seq = 0, last_seq = 0;
    int rc = FX_OK;
    for (uint32_t i = 0; i < count && rc == FX_OK; i++) {
        const fx_task_t *task = &tasks[i];
        rc =
            s_check_owned(self, ST_EP_GET, "endpoint", task->endpoint_id, owner, endpoint_ok, i, err, errlen);
        if (rc == FX_OK)
            rc = s_check_owned(self, ST_FN_GET, "function", task->function_id, owner, function_ok, i, err,
                               errlen);
        if (rc == FX_OK)
            rc = s_check_allowed(self, &allowed, task, i, err, errlen);
        if (rc == FX_OK)
            rc = s_pin(self, &pin, task, i, err, errlen);
        if (rc == FX_OK)
            rc = s_check_container(self, owner, container_ok, task, i, err, errlen);
        if (rc != FX_OK)
            break;
        uint64_t times[FX_TIMES_MAX];
        uint8_t packed[FX_TIMES_MAX * 8];
        memcpy(times, task->times, sizeof times);
        times[FX_TIME_BROKER_WRITTEN] = written_us;
        sqlite3_stmt *st = fx_store_st(self, ST_TASK_INSERT);
        fx_store_bind_text(st, 1, task->task_id);
        fx_store_bind_text(st, 2, owner);
        fx_store_bind_text(st, 3, client_id);
        fx_store_bind_text(st, 4, task->endpoint_id);
        fx_store_bind_text(st, 5, task->function_id);
        sqlite3_bind_int64(st, 6, now);
        fx_store_bind_text(st, 7, task->py_version);
        fx_store_bind_text(st, 8, task->serializer);
        sqlite3_bind_int64(st, 9, task->walltime_ms);
        fx_store_bind_frame(st, 10, task->payload);
        sqlite3_bind_int64(st, 11, task->retries);
        fx_store_bind_times(st, 12, times, packed);
        fx_store_bind_text(st, 13, pin.version[0] ? pin.version : NULL);
        fx_store_bind_text(st, 14, task->container[0] ? task->container : NULL);
        rc = fx_store_exec(self, st);
        if (rc != FX_OK) {
            snprintf(err, errlen, "task %u: cannot store: %s", i, self->errmsg);
            break;
        }
        if (sqlite3_changes(self->db) == 1) {
            last_seq = sqlite3_last_insert_rowid(self->db);
            first_seq = stored++ ? first_seq : last_seq;
            continue;
        }
        /* The id is held: a resend (skipped), or another user's. */
        st = fx_store_st(self, ST_TASK_OWNER);
        fx_store_bind_text(st, 1, task->task_id);
        int step = sqlite3_step(st);
        const char *holder = step == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0) : NULL;
        bool mine = holder && strcmp(holder, owner) == 0;
        sqlite3_reset(st);
        if (step != SQLITE_ROW) {
            rc = fx_store_fail(self);
            snprintf(err, errlen, "task %u: cannot look up task id %s: %s", i, task->task_id, self->errmsg);
        }
        else if (!mine) {
            snprintf(err, errlen,
                     "task %u: task id %s is held by another user: mint new task ids; nothing "
                     "in this batch was stored",
                     i, task->task_id);
            rc = FX_E_CONFLICT;
        }
    }
    if (rc == FX_OK && self->queue_cap && unfinished + stored > self->queue_cap) {
        snprintf(err, errlen,
                 "you have %llu unfinished tasks (queued or dispatched); these %u new ones would take "
                 "you over the cap of %llu per user: nothing in this batch was stored; wait for "
                 "results and submit again",
                 (unsigned long long) unfinished, stored, (unsigned long long) self->queue_cap);
        rc = FX_E_LIMIT;
    }
    if (rc == FX_OK && fx_store_commit(self) != FX_OK) {
        snprintf(err, errlen, "cannot commit the batch: %s", self->errmsg);
        rc = FX_E_IO;
    }
    if (rc != FX_OK) {
        fx_store_rollback(self);
        return rc;
    }
    fx_store_unfinished_add(self, owner, stored);
    if (stored)
        fx_store_submitted(self, first_seq, last_seq);
    if (stored_out)
        *stored_out = stored;
    return FX_OK;
}

/* ---------------------------------------------------------------- dispatch */

int fx_store_queued_count(fx_store_t *self, const char *endpoint_id, uint32_t *count_out)
{
    sqlite3_stmt *st = fx_store_st(self, ST_QUEUED_COUNT);
    fx_store_bind_text(st, 1, endpoint_id);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : fx_store_fail(self);
    *count_out = rc == SQLITE_ROW ? (uint32_t) sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return result;
}

/* Frees the frames of the first n rows (and zeroes them). */
static void s_free_tasks(fx_task_t *rows, uint32_t n)
{
    for (uint32_t i = 0; rows && i < n; i++) {
        zframe_destroy(&rows[i].body);
        zframe_destroy(&rows[i].payload);
    }
}

/* Fills one TASKS record from a row of ST_DISPATCH_SELECT (endpoint_id ""
   in TASKS: SPEC 5.0). */
static int s_task_from_row(sqlite3_stmt *st, fx_task_t *task)
{
    memset(task, 0, sizeof *task);
    fx_store_column_text(st, 1, task->task_id, sizeof task->task_id);
    fx_store_column_text(st, 2, task->function_id, sizeof task->function_id);
    fx_store_column_text(st, 3, task->py_version, sizeof task->py_version);
    fx_store_column_text(st, 4, task->serializer, sizeof task->serializer);
    task->attempt = (uint32_t) sqlite3_column_int64(st, 5);
    task->walltime_ms = (uint32_t) sqlite3_column_int64(st, 6);
    task->payload = fx_store_column_frame(st, 7);
    task->kind = (uint8_t) sqlite3_column_int(st, 8);
    fx_store_column_text(st, 9, task->entry, sizeof task->entry);
    task->body = fx_store_column_frame(st, 10);
    task->retries = (uint32_t) sqlite3_column_int64(st, 11);
    fx_store_column_times(st, 12, task->times);
    fx_store_column_text(st, 13, task->function_version, sizeof task->function_version);
    fx_store_column_text(st, 14, task->dill_version, sizeof task->dill_version);
    fx_store_column_text(st, 15, task->container, sizeof task->container);
    return task->payload && task->body ? FX_OK : FX_E_NOMEM;
}

int fx_store_dispatch(fx_store_t *self, const char *endpoint_id, uint32_t max, fx_store_room_fn *room,
                      void *arg, uint32_t *count)
{
    *count = 0;
    if (max == 0)
        return FX_OK;
    if (max > FX_BATCH_MAX)
        max = FX_BATCH_MAX;
    /* Rows are read into a work array that grows with what is queued (not
       with max: a large credit over a short queue costs nothing), then
       moved into the caller's room. */
    fx_task_t *work = NULL, *dest = NULL;
    int64_t *seqs = NULL;
    uint32_t n = 0, cap = 0;
    size_t bytes = 0;
    int rc = fx_store_begin(self);
    if (rc != FX_OK)
        return rc;
    sqlite3_stmt *st = fx_store_st(self, ST_DISPATCH_SELECT);
    fx_store_bind_text(st, 1, endpoint_id);
    sqlite3_bind_int64(st, 2, max);
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        size_t size = (size_t) sqlite3_column_bytes(st, 7) + (size_t) sqlite3_column_bytes(st, 10);
        if (n > 0 && bytes + size > FX_STORE_BATCH_BYTES)
            break;
        if (n == cap) {
            uint32_t grown = cap ? cap * 2 : 16;
            fx_task_t *w = realloc(work, grown * sizeof *work);
            int64_t *q = w ? realloc(seqs, grown * sizeof *seqs) : NULL;
            work = w ? w : work;
            seqs = q ? q : seqs;
            if (!w || !q) {
                rc = FX_E_NOMEM;
                goto fail;
            }
            cap = grown;
        }
        seqs[n] = sqlite3_column_int64(st, 0);
        rc = s_task_from_row(st, &work[n]);
        n++;
        if (rc != FX_OK)
            goto fail;
        bytes += size;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = fx_store_fail(self);
        goto fail;
    }
    sqlite3_reset(st);
    int64_t now = fx_store_wall_ms();
    uint64_t now_us = (uint64_t) fx_wall_us();
    for (uint32_t i = 0; i < n; i++) {
        /* Stamps: durable (if it is by now: dispatch does not wait for
           it) and dispatched (the TASKS leave right after this commit). */
        uint64_t *times = work[i].times;
        if (!times[FX_TIME_BROKER_DURABLE])
            times[FX_TIME_BROKER_DURABLE] = fx_store_task_durable_us(self, seqs[i]);
        times[FX_TIME_BROKER_DISPATCHED] = now_us;
        uint8_t packed[FX_TIMES_MAX * 8];
        st = fx_store_st(self, ST_DISPATCH_MARK);
        sqlite3_bind_int64(st, 1, seqs[i]);
        sqlite3_bind_int64(st, 2, now);
        fx_store_bind_times(st, 3, times, packed);
        if ((rc = fx_store_exec(self, st)) != FX_OK)
            goto fail;
        /* What FUNCTION_FETCH may serve this endpoint (once per version
           and batch: a batch is mostly of one version). */
        const char *version = work[i].function_version;
        if (version[0] && (i == 0 || strcmp(version, work[i - 1].function_version) != 0)) {
            st = fx_store_st(self, ST_EV_INSERT);
            fx_store_bind_text(st, 1, endpoint_id);
            fx_store_bind_text(st, 2, version);
            if ((rc = fx_store_exec(self, st)) != FX_OK)
                goto fail;
        }
    }
    if (n > 0 && !(dest = room(n, arg))) {
        rc = FX_E_NOMEM;
        goto fail;
    }
    if (n > 0)
        memcpy(dest, work, n * sizeof *work);
    free(work);
    work = NULL;
    if ((rc = fx_store_commit(self)) != FX_OK)
        goto fail;
    free(seqs);
    *count = n;
    return FX_OK;
fail:
    fx_store_rollback(self);
    s_free_tasks(work ? work : dest, n);
    free(work);
    free(seqs);
    return rc;
}

/* ---------------------------------------------------------------- requeue */

typedef struct {
    int64_t seq;
    bool cancel; /* a CANCEL was forwarded: end it instead */
    fx_id_text_t id;
    fx_id_text_t owner;
    fx_id_text_t client_id;
} s_dispatched_t;

int fx_store_requeue(fx_store_t *self, const char *endpoint_id, uint32_t *requeued_out,
                     uint32_t *cancelled_out)
{
    s_dispatched_t *work = NULL;
    uint32_t n = 0, cap = 0, requeued = 0, cancelled = 0;
    int rc = FX_OK;
    if (fx_store_begin(self) != FX_OK)
        return FX_E_IO;
    sqlite3_stmt *st = fx_store_st(self, ST_REQUEUE_SELECT);
    fx_store_bind_text(st, 1, endpoint_id);
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            uint32_t grown = cap ? cap * 2 : 64;
            s_dispatched_t *w = realloc(work, grown * sizeof *work);
            if (!w) {
                rc = FX_E_NOMEM;
                goto fail;
            }
            work = w;
            cap = grown;
        }
        s_dispatched_t *task = &work[n++];
        task->seq = sqlite3_column_int64(st, 0);
        fx_store_column_text(st, 1, task->id, sizeof task->id);
        task->cancel = sqlite3_column_int(st, 2) != 0;
        fx_store_column_text(st, 3, task->owner, sizeof task->owner);
        fx_store_column_text(st, 4, task->client_id, sizeof task->client_id);
    }
    if (step != SQLITE_DONE) {
        rc = fx_store_fail(self);
        goto fail;
    }
    sqlite3_reset(st);
    int64_t now = fx_store_wall_ms();
    for (uint32_t i = 0; i < n; i++) {
        if (work[i].cancel) {
            rc = fx_store_cancel_one(self, work[i].id,
                                     "cancelled: its endpoint was lost before it answered the cancel", now);
            cancelled++;
        }
        else {
            st = fx_store_st(self, ST_REQUEUE_MARK);
            sqlite3_bind_int64(st, 1, work[i].seq);
            sqlite3_bind_int64(st, 2, now);
            rc = fx_store_exec(self, st);
            requeued++;
        }
        if (rc != FX_OK)
            goto fail;
    }
    if ((rc = fx_store_commit(self)) != FX_OK)
        goto fail;
    for (uint32_t i = 0; i < n; i++)
        if (work[i].cancel) {
            fx_store_unfinished_add(self, work[i].owner, -1);
            fx_store_notify(self, work[i].owner, work[i].client_id);
        }
    free(work);
    if (requeued_out)
        *requeued_out = requeued;
    if (cancelled_out)
        *cancelled_out = cancelled;
    return FX_OK;
fail:
    fx_store_rollback(self);
    free(work);
    return rc;
}

/* ---------------------------------------------------------------- status */

int fx_store_status(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                    fx_task_status_t *out)
{
    int rc = FX_OK;
    for (uint32_t i = 0; i < count; i++) {
        fx_task_status_t *status = &out[i];
        memset(status, 0, sizeof *status);
        snprintf(status->task_id, sizeof status->task_id, "%s", ids[i]);
        status->state = FX_TASK_UNKNOWN;
        sqlite3_stmt *st = fx_store_st(self, ST_TASK_STATUS);
        fx_store_bind_text(st, 1, ids[i]);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            const char *row_owner = (const char *) sqlite3_column_text(st, 0);
            if (row_owner && strcmp(row_owner, owner) == 0) {
                status->state = (uint8_t) sqlite3_column_int(st, 1);
                fx_store_column_text(st, 2, status->endpoint_id, sizeof status->endpoint_id);
                status->attempts = (uint32_t) sqlite3_column_int64(st, 3);
            }
        }
        else if (step != SQLITE_DONE)
            rc = fx_store_fail(self);
        sqlite3_reset(st);
    }
    return rc;
}
