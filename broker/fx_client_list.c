/*  fx_client_list.c: LIST replies. The store hands over rows
    (fx_store_list_*); this file makes them the LIST_REPLY table a client
    shows as it is (SPEC 5.17): a header row, then one row per endpoint,
    function, task or container, every cell display text (states and kinds by name,
    online or offline from the forwarders, times in UTC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx_broker_int.h"

#define S_COLS_MAX 11

static const char *const s_headers[][S_COLS_MAX] = {
    [FX_LIST_ENDPOINTS] = {"id", "name", "status", "last_seen", "queued", "managers", "workers"},
    [FX_LIST_FUNCTIONS] = {"id", "name", "kind"},
    [FX_LIST_TASKS] = {"id", "state", "endpoint", "function", "attempts", "function_name", "submitted", "finished",
                       "reason", "error", "cursor"},
    [FX_LIST_CONTAINERS] = {"id", "name", "runtime", "image", "description"},
};
static const uint32_t s_cols[] = {[FX_LIST_ENDPOINTS] = 7, [FX_LIST_FUNCTIONS] = 3, [FX_LIST_TASKS] = 11,
                                  [FX_LIST_CONTAINERS] = 5};

const char *fx_client_state_name(int state)
{
    switch (state) {
    case FX_TASK_QUEUED:
        return "queued";
    case FX_TASK_DISPATCHED:
        return "dispatched";
    case FX_TASK_DONE:
        return "done";
    case FX_TASK_DELIVERED:
        return "delivered";
    case FX_TASK_FAILED:
        return "failed";
    default:
        return "unknown";
    }
}

/* "2024-11-27T09:24:00Z" from wall ms. */
static void s_time_text(int64_t wall_ms, char *out, size_t cap)
{
    time_t secs = (time_t) (wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The cells of one row, as text. */
typedef char s_cells_t[S_COLS_MAX][FX_NAME_MAX + 1];

static void s_endpoint_cells(fx_broker_t *broker, const fx_store_endpoint_row_t *row, s_cells_t cells)
{
    fx_forwarder_stats_t stats;
    bool online = fx_fwd_set_online(broker->forwarders, row->id) &&
                  fx_fwd_set_stats(broker->forwarders, row->id, &stats) == 0;
    snprintf(cells[0], sizeof cells[0], "%s", row->id);
    snprintf(cells[1], sizeof cells[1], "%s", row->name);
    snprintf(cells[2], sizeof cells[2], "%s", online ? "online" : "offline");
    if (row->seen)
        s_time_text(row->last_seen_ms, cells[3], sizeof cells[3]);
    else
        snprintf(cells[3], sizeof cells[3], "never");
    snprintf(cells[4], sizeof cells[4], "%llu", (unsigned long long) row->queued);
    snprintf(cells[5], sizeof cells[5], "%u", online ? stats.managers : 0);
    snprintf(cells[6], sizeof cells[6], "%u", online ? stats.workers : 0);
}

static void s_function_cells(const fx_store_function_row_t *row, s_cells_t cells)
{
    snprintf(cells[0], sizeof cells[0], "%s", row->id);
    snprintf(cells[1], sizeof cells[1], "%s", row->name);
    snprintf(cells[2], sizeof cells[2], "%s", row->kind == FX_FN_SHELL ? "shell" : "python");
}

/* The reasons of a failure, in the words users read (SPEC 5.0): an
   exception, else the error result's code; "error" is any other code. */
static const struct {
    const char *word;
    uint16_t code; /* 0: not an error code (exception, error) */
} s_reasons[] = {
    {"exception", 0},
    {"cancelled", FX_E_CANCELLED},
    {"worker lost", FX_E_WORKER_LOST},
    {"walltime", FX_E_WALLTIME},
    {"load error", FX_E_LOAD},
    {"version mismatch", FX_E_VERSION_MISMATCH},
    {"shell error", FX_E_SHELL},
    {"container", FX_E_CONTAINER},
    {"error", 0},
};
#define S_REASONS (sizeof s_reasons / sizeof s_reasons[0])
/* the codes that have a word of their own */
static const uint16_t s_named_codes[] = {FX_E_CANCELLED, FX_E_WORKER_LOST, FX_E_WALLTIME, FX_E_LOAD,
                                         FX_E_VERSION_MISMATCH, FX_E_SHELL, FX_E_CONTAINER};

/* Why a task failed, from its result. */
static const char *s_reason(const fx_store_task_row_t *row)
{
    if (row->status == FX_RESULT_EXCEPTION)
        return "exception";
    for (size_t i = 0; i < S_REASONS; i++)
        if (s_reasons[i].code && s_reasons[i].code == row->error_code)
            return s_reasons[i].word;
    return "error";
}

/* LIST's state field as a store filter. false if it is not a state or a
   reason of SPEC 5.0. */
static bool s_state_filter(const char *word, fx_store_task_filter_t *f)
{
    if (!word[0])
        return true;
    if (strcmp(word, "queued") == 0 || strcmp(word, "dispatched") == 0) {
        f->state = word[0] == 'q' ? FX_TASK_QUEUED : FX_TASK_DISPATCHED;
        return true;
    }
    if (strcmp(word, "succeeded") == 0 || strcmp(word, "failed") == 0) {
        f->outcome = word[0] == 'f';
        return true;
    }
    for (size_t i = 0; i < S_REASONS; i++)
        if (strcmp(word, s_reasons[i].word) == 0) {
            f->outcome = 1;
            if (i == 0) {
                f->status = FX_RESULT_EXCEPTION;
                return true;
            }
            f->state = FX_TASK_FAILED;
            f->error_code = s_reasons[i].code ? s_reasons[i].code : -1;
            if (!s_reasons[i].code) {
                f->not_codes = s_named_codes;
                f->not_count = sizeof s_named_codes / sizeof s_named_codes[0];
            }
            return true;
        }
    return false;
}

static void s_task_cells(const fx_store_task_row_t *row, s_cells_t cells)
{
    snprintf(cells[0], sizeof cells[0], "%s", row->id);
    /* the users' states: a stored result says whether it succeeded */
    bool failed = row->state == FX_TASK_FAILED || (row->has_result && row->status != FX_RESULT_OK);
    snprintf(cells[1], sizeof cells[1], "%s",
             failed ? "failed" : row->has_result ? "succeeded" : fx_client_state_name(row->state));
    if (row->function_name[0])
        snprintf(cells[5], sizeof cells[5], "%s", row->function_name);
    s_time_text(row->submitted_ms, cells[6], sizeof cells[6]);
    if (row->has_result) {
        s_time_text(row->finished_ms, cells[7], sizeof cells[7]);
        if (failed) {
            snprintf(cells[8], sizeof cells[8], "%s", s_reason(row));
            snprintf(cells[9], sizeof cells[9], "%s", row->error_text);
        }
    }
    snprintf(cells[10], sizeof cells[10], "%lld", (long long) row->cursor);
    snprintf(cells[2], sizeof cells[2], "%s", row->endpoint_id);
    snprintf(cells[3], sizeof cells[3], "%s", row->function_id);
    snprintf(cells[4], sizeof cells[4], "%u", row->attempts);
}

static int s_set_row(fx_msg_t *reply, uint32_t row, uint32_t cols, const char *const *cells)
{
    int rc = FX_OK;
    for (uint32_t c = 0; c < cols && rc == FX_OK; c++)
        rc = fx_msg_set_cell(reply, row, c, cells[c]);
    return rc;
}

/* A container's row points into the store's row: its image may be longer
   than a display cell (FX_IMAGE_MAX). */
static int s_container_row(fx_msg_t *reply, uint32_t row, const fx_store_container_row_t *ct)
{
    const char *texts[] = {ct->def.container_id, ct->def.name, ct->def.runtime, ct->def.image, ct->description};
    return s_set_row(reply, row, s_cols[FX_LIST_CONTAINERS], texts);
}

/* LIST's filters of tasks as the store's (SPEC 5.16). FX_OK, or
   FX_E_BAD_FIELD with a sentence naming the field in err. */
static int s_task_filter(const fx_msg_t *list, fx_store_task_filter_t *f, char *err, size_t errlen)
{
    fx_store_task_filter_init(f);
    if (!s_state_filter(list->list.state, f)) {
        snprintf(err, errlen,
                 "LIST field state is '%s': it takes \"\" (any), queued, dispatched, succeeded, failed, or a "
                 "reason of failure: exception, cancelled, worker lost, walltime, load error, version "
                 "mismatch, shell error, container, error",
                 list->list.state);
        return FX_E_BAD_FIELD;
    }
    if (list->list.since_ms > INT64_MAX || list->list.before > INT64_MAX) {
        snprintf(err, errlen, "LIST field %s is above 2^63-1: it takes 0 (any) or %s",
                 list->list.since_ms > INT64_MAX ? "since_ms" : "before",
                 list->list.since_ms > INT64_MAX ? "a wall-clock time in ms since the epoch"
                                                 : "the cursor column of a listed task");
        return FX_E_BAD_FIELD;
    }
    f->endpoint_id = list->list.endpoint_id;
    f->function = list->list.function;
    f->since_ms = (int64_t) list->list.since_ms;
    f->before = (int64_t) list->list.before;
    return FX_OK;
}

int fx_client_list(fx_broker_t *broker, const char *owner, const fx_msg_t *list, fx_msg_t *reply, char *err,
                   size_t errlen)
{
    int what = list->list.what;
    uint32_t limit = list->list.limit;
    err[0] = '\0';
    if (what < FX_LIST_ENDPOINTS || what > FX_LIST_CONTAINERS)
        return FX_E_BAD_FIELD;
    fx_store_task_filter_t filter;
    if (what == FX_LIST_TASKS && s_task_filter(list, &filter, err, errlen) != FX_OK)
        return FX_E_BAD_FIELD;
    if (limit == 0 || limit > FX_LIST_ROWS_MAX)
        limit = FX_LIST_ROWS_MAX;
    size_t size = what == FX_LIST_ENDPOINTS    ? sizeof(fx_store_endpoint_row_t)
                  : what == FX_LIST_FUNCTIONS  ? sizeof(fx_store_function_row_t)
                  : what == FX_LIST_CONTAINERS ? sizeof(fx_store_container_row_t)
                                               : sizeof(fx_store_task_row_t);
    void *rows = calloc(limit, size);
    if (!rows)
        return FX_E_NOMEM;
    uint32_t n = 0, cols = s_cols[what];
    int rc = what == FX_LIST_ENDPOINTS   ? fx_store_list_endpoints(broker->store, owner, limit, rows, &n)
             : what == FX_LIST_FUNCTIONS ? fx_store_list_functions(broker->store, owner, limit, rows, &n)
             : what == FX_LIST_CONTAINERS ? fx_store_list_containers(broker->store, owner, limit, rows, &n)
                                          : fx_store_list_tasks(broker->store, owner, &filter, limit, rows, &n);
    if (rc == FX_OK)
        rc = fx_msg_alloc_table(reply, n + 1, cols);
    if (rc == FX_OK)
        rc = s_set_row(reply, 0, cols, s_headers[what]);
    for (uint32_t i = 0; rc == FX_OK && i < n && what == FX_LIST_CONTAINERS; i++)
        rc = s_container_row(reply, i + 1, (fx_store_container_row_t *) rows + i);
    for (uint32_t i = 0; rc == FX_OK && i < n && what != FX_LIST_CONTAINERS; i++) {
        s_cells_t cells;
        memset(cells, 0, sizeof cells);
        if (what == FX_LIST_ENDPOINTS)
            s_endpoint_cells(broker, (fx_store_endpoint_row_t *) rows + i, cells);
        else if (what == FX_LIST_FUNCTIONS)
            s_function_cells((fx_store_function_row_t *) rows + i, cells);
        else
            s_task_cells((fx_store_task_row_t *) rows + i, cells);
        const char *texts[S_COLS_MAX];
        for (uint32_t c = 0; c < S_COLS_MAX; c++)
            texts[c] = cells[c];
        rc = s_set_row(reply, i + 1, cols, texts);
    }
    free(rows);
    return rc;
}
