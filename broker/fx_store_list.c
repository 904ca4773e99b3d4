/*  fx_store_list.c: the store's LIST rows (SPEC 5.16): the owner's
    endpoints (oldest first), functions and tasks (newest first), and the
    task listing's filters and cursor: the SQL of a task page is made per
    filter so that it walks one index in seq order (fx_store.c's schema
    notes) and stops after its rows. The broker makes the display table of
    the rows (fx_client_list.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_store_int.h"

/* ---------------------------------------------------------------- list */

/* Runs a LIST statement (owner ?1, limit ?2) and hands each row to fill.
   FX_OK or FX_E_IO. */
static int s_list(fx_store_t *self, fx_st_t which, const char *owner, uint32_t max,
                  void (*fill)(sqlite3_stmt *st, void *rows, uint32_t i), void *rows, uint32_t *count)
{
    *count = 0;
    sqlite3_stmt *st = fx_store_st(self, which);
    fx_store_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, max);
    int step = SQLITE_DONE;
    uint32_t n = 0;
    while (n < max && (step = sqlite3_step(st)) == SQLITE_ROW)
        fill(st, rows, n++);
    int rc = n == max || step == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_reset(st);
    *count = rc == FX_OK ? n : 0;
    return rc;
}

static void s_endpoint_row(sqlite3_stmt *st, void *rows, uint32_t i)
{
    fx_store_endpoint_row_t *row = (fx_store_endpoint_row_t *) rows + i;
    memset(row, 0, sizeof *row);
    fx_store_column_text(st, 0, row->id, sizeof row->id);
    fx_store_column_text(st, 1, row->name, sizeof row->name);
    row->seen = sqlite3_column_type(st, 2) != SQLITE_NULL;
    row->last_seen_ms = row->seen ? sqlite3_column_int64(st, 2) : 0;
    row->queued = (uint64_t) sqlite3_column_int64(st, 3);
}

int fx_store_endpoint_row(fx_store_t *self, const char *owner, const char *endpoint_id, fx_store_endpoint_row_t *row)
{
    sqlite3_stmt *st = fx_store_st(self, ST_ENDPOINT_ROW);
    fx_store_bind_text(st, 1, owner);
    fx_store_bind_text(st, 2, endpoint_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        s_endpoint_row(st, row, 0);
    int rc = step == SQLITE_ROW ? FX_OK : step == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    sqlite3_reset(st);
    return rc;
}

static void s_function_row(sqlite3_stmt *st, void *rows, uint32_t i)
{
    fx_store_function_row_t *row = (fx_store_function_row_t *) rows + i;
    memset(row, 0, sizeof *row);
    fx_store_column_text(st, 0, row->id, sizeof row->id);
    fx_store_column_text(st, 1, row->name, sizeof row->name);
    row->kind = (uint8_t) sqlite3_column_int(st, 2);
}

static void s_task_row(sqlite3_stmt *st, void *rows, uint32_t i)
{
    fx_store_task_row_t *row = (fx_store_task_row_t *) rows + i;
    memset(row, 0, sizeof *row);
    fx_store_column_text(st, 0, row->id, sizeof row->id);
    row->state = (uint8_t) sqlite3_column_int(st, 1);
    fx_store_column_text(st, 2, row->endpoint_id, sizeof row->endpoint_id);
    fx_store_column_text(st, 3, row->function_id, sizeof row->function_id);
    row->attempts = (uint32_t) sqlite3_column_int64(st, 4);
    row->submitted_ms = sqlite3_column_int64(st, 5);
    row->has_result = sqlite3_column_type(st, 6) != SQLITE_NULL;
    row->finished_ms = sqlite3_column_int64(st, 6);
    fx_store_column_text(st, 7, row->function_name, sizeof row->function_name);
    row->status = (uint8_t) sqlite3_column_int(st, 8);
    row->error_code = (uint16_t) sqlite3_column_int(st, 9);
    fx_store_column_text(st, 10, row->error_text, sizeof row->error_text);
    row->error_text[strcspn(row->error_text, "\n")] = 0;
    row->cursor = sqlite3_column_int64(st, 11);
}

int fx_store_list_endpoints(fx_store_t *self, const char *owner, uint32_t max, fx_store_endpoint_row_t *rows,
                            uint32_t *count)
{
    return s_list(self, ST_LIST_EP, owner, max, s_endpoint_row, rows, count);
}

int fx_store_list_functions(fx_store_t *self, const char *owner, uint32_t max, fx_store_function_row_t *rows,
                            uint32_t *count)
{
    return s_list(self, ST_LIST_FN, owner, max, s_function_row, rows, count);
}

/* ---------------------------------------------------------------- list tasks */

void fx_store_task_filter_init(fx_store_task_filter_t *filter)
{
    memset(filter, 0, sizeof *filter);
    filter->outcome = -1;
    filter->status = -1;
    filter->error_code = -1;
}

/* The SQL of a task listing is made per filter, so that each page walks
   one index in seq order (INDEXED BY makes that a promise: sqlite refuses
   the statement rather than plan it otherwise) and stops after its rows.
   The text holds only numbers and fixed words; the values are bound:
   ?1 owner, ?2 limit, ?3 before, ?4 endpoint, ?5 function id or name. */
#define S_SQL_MAX 2048

typedef enum { S_FN_ANY, S_FN_ID, S_FN_NAME } s_fn_how_t;

/* How the function filter is matched: an id as it is; a name that one
   function of the owner has, by that function's id (into id); a name
   several have, by the name. FX_OK, FX_E_NOT_FOUND (no such function:
   nothing to list) or FX_E_IO. */
static int s_function_how(fx_store_t *self, const char *owner, const char *function, s_fn_how_t *how,
                          fx_id_text_t id)
{
    *how = S_FN_ANY;
    if (!function || !function[0])
        return FX_OK;
    if (fx_id_valid(function)) {
        *how = S_FN_ID;
        fx_strlcpy(id, function, sizeof(fx_id_text_t));
        return FX_OK;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT id FROM functions WHERE owner = ?1 AND name = ?2 LIMIT 2", -1,
                           &st, NULL) != SQLITE_OK)
        return fx_store_fail(self);
    fx_store_bind_text(st, 1, owner);
    fx_store_bind_text(st, 2, function);
    int n = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (n++ == 0)
            fx_store_column_text(st, 0, id, sizeof(fx_id_text_t));
    int rc = step == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_finalize(st);
    if (rc == FX_OK)
        *how = n == 0 ? S_FN_ANY : n == 1 ? S_FN_ID : S_FN_NAME;
    return rc == FX_OK && n == 0 ? FX_E_NOT_FOUND : rc;
}

/* Appends to sql (capacity S_SQL_MAX; a listing's text is far shorter). */
static void s_cat(char *sql, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_cat(char *sql, const char *fmt, ...)
{
    size_t len = strlen(sql);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql + len, S_SQL_MAX - len, fmt, ap);
    va_end(ap);
}

/* The listing's statement, prepared and bound. FX_OK, FX_E_NOT_FOUND
   (nothing can match) or FX_E_IO. */
static int s_list_tasks_st(fx_store_t *self, const char *owner, const fx_store_task_filter_t *f, uint32_t max,
                           bool plan, sqlite3_stmt **st_out)
{
    *st_out = NULL;
    s_fn_how_t how;
    fx_id_text_t function_id = "";
    int rc = s_function_how(self, owner, f->function, &how, function_id);
    if (rc != FX_OK)
        return rc;
    bool by_endpoint = f->endpoint_id && f->endpoint_id[0];
    bool live = f->state == FX_TASK_QUEUED || f->state == FX_TASK_DISPATCHED;
    /* the narrowest index that keeps seq order for the filters given */
    const char *index = by_endpoint && live ? "tasks_queue"
                        : by_endpoint       ? "tasks_endpoint"
                        : how == S_FN_ID    ? "tasks_function"
                        : f->state && live  ? "tasks_owner_state"
                        : f->outcome >= 0   ? "tasks_outcome"
                        : f->state          ? "tasks_owner_state"
                                            : "tasks_owner";
    char sql[S_SQL_MAX];
    snprintf(sql, sizeof sql,
             "%sSELECT t.id, t.state, t.endpoint, t.function, t.attempts, t.created, r.created,"
             " f.name, r.status, r.error_code, r.error_text, t.seq FROM tasks t INDEXED BY %s"
             " LEFT JOIN results r ON r.task_id = t.id LEFT JOIN functions f ON f.id = t.function"
             " WHERE t.owner = ?1 AND t.seq < ?3",
             plan ? "EXPLAIN QUERY PLAN " : "", index);
    if (f->state)
        s_cat(sql, " AND t.state = %d", f->state);
    if (f->outcome >= 0)
        s_cat(sql, " AND t.outcome = %d", f->outcome);
    if (f->status >= 0)
        s_cat(sql, " AND r.status = %d", f->status);
    if (f->error_code >= 0)
        s_cat(sql, " AND r.error_code = %d", f->error_code);
    for (uint32_t i = 0; f->error_code < 0 && i < f->not_count; i++)
        s_cat(sql, " AND r.error_code != %u", f->not_codes[i]);
    if (by_endpoint)
        s_cat(sql, " AND t.endpoint = ?4");
    if (how == S_FN_ID)
        s_cat(sql, " AND t.function = ?5");
    else if (how == S_FN_NAME)
        s_cat(sql, " AND t.function IN (SELECT id FROM functions WHERE owner = ?1 AND name = ?5)");
    s_cat(sql, " ORDER BY t.seq DESC LIMIT ?2");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fx_store_fail(self);
    fx_store_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, max);
    sqlite3_bind_int64(st, 3, f->before > 0 ? f->before : INT64_MAX);
    if (by_endpoint)
        fx_store_bind_text(st, 4, f->endpoint_id);
    if (how == S_FN_ID) /* function_id is this frame's: sqlite keeps its own copy */
        sqlite3_bind_text(st, 5, function_id, -1, SQLITE_TRANSIENT);
    else if (how == S_FN_NAME)
        fx_store_bind_text(st, 5, f->function);
    *st_out = st;
    return FX_OK;
}

int fx_store_list_tasks(fx_store_t *self, const char *owner, const fx_store_task_filter_t *filter,
                        uint32_t max, fx_store_task_row_t *rows, uint32_t *count)
{
    *count = 0;
    sqlite3_stmt *st = NULL;
    int rc = s_list_tasks_st(self, owner, filter, max, false, &st);
    if (rc != FX_OK)
        return rc == FX_E_NOT_FOUND ? FX_OK : rc;
    int step = SQLITE_DONE;
    uint32_t n = 0;
    /* newest first, so the first task submitted before since_ms ends it */
    while (n < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (filter->since_ms > 0 && sqlite3_column_int64(st, 5) < filter->since_ms) {
            step = SQLITE_DONE;
            break;
        }
        s_task_row(st, rows, n++);
    }
    rc = n == max || step == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_finalize(st);
    *count = rc == FX_OK ? n : 0;
    return rc;
}

int fx_store_list_tasks_plan(fx_store_t *self, const char *owner, const fx_store_task_filter_t *filter,
                             char *out, size_t cap)
{
    out[0] = '\0';
    sqlite3_stmt *st = NULL;
    int rc = s_list_tasks_st(self, owner, filter, FX_LIST_ROWS_MAX, true, &st);
    if (rc != FX_OK)
        return rc == FX_E_NOT_FOUND ? FX_OK : rc;
    size_t len = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int wrote = snprintf(out + len, cap - len, "%s\n", (const char *) sqlite3_column_text(st, 3));
        if (wrote < 0 || (size_t) wrote >= cap - len)
            break;
        len += (size_t) wrote;
    }
    sqlite3_finalize(st);
    return FX_OK;
}
