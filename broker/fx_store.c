/*  fx_store.c: opening the store (directory, schema, prepared statements),
    users, endpoint and function registration, and the sqlite helpers the
    other fx_store_*.c files share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_clock.h"
#include "fx_file.h"
#include "fx_store_int.h"

/* Schema version kept in PRAGMA user_version; a database from a newer fx is
   refused rather than misread. */
#define S_SCHEMA_VERSION 7

/* Page cache of the broker's connection: 2 MiB, so that a million queued
   tasks cost disk, not RAM (sqlite's default is about the same: say so
   rather than depend on it). A bigger cache bought no speed on the deep
   queue benchmark. */
#define S_CACHE_PRAGMA "PRAGMA cache_size = -2048"

/* Version 1 -> 2: tasks gained retries (worker deaths a task survives;
   old tasks get the default) and cancel (a CANCEL was forwarded to the
   endpoint: if the endpoint is lost, the task ends cancelled instead of
   being requeued). */
static const char *s_migrate_1_2 = "ALTER TABLE tasks ADD COLUMN retries INTEGER NOT NULL DEFAULT 2;"
                                   "ALTER TABLE tasks ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0;";

/* Version 2 -> 3: results gained pushed (set, durably, just before a result
   is first sent to its client; such a result is never pushed again, the
   client FETCHes what a lost connection took), and the push index covers
   only results never pushed. */
static const char *s_migrate_2_3 = "ALTER TABLE results ADD COLUMN pushed INTEGER;"
                                   "DROP INDEX IF EXISTS results_undelivered;";

/* Version 3 -> 4: tasks and results gained times (SPEC 12.5: the stamps
   of the task so far, packed: fx_store_times_pack), and results the two
   stamps the broker learns after the result's commit, durable_us and
   pushed_us (written with the client's RESULTS_ACK). */
static const char *s_migrate_3_4_tasks = "ALTER TABLE tasks ADD COLUMN times BLOB;";
static const char *s_migrate_3_4 = "ALTER TABLE results ADD COLUMN times BLOB;"
                                   "ALTER TABLE results ADD COLUMN durable_us INTEGER;"
                                   "ALTER TABLE results ADD COLUMN pushed_us INTEGER;";

/* Version 4 -> 5 (issue 8): function versions (function_versions: one row
   per version, pointing at the registry's blob and commit; the body lives
   in git, functions.body is x'' for a versioned function), the version a
   task is pinned to (tasks.version, NULL for tasks of an unversioned
   function, which run functions.body), the provenance a result brings
   (SPEC 12.6), and the functions an endpoint allows (endpoints.allowed:
   NULL before its first ENDPOINT_HELLO, "" = any, else the ids separated
   by spaces). */
static const char *s_migrate_4_5_tasks = "ALTER TABLE tasks ADD COLUMN version TEXT;";
static const char *s_migrate_4_5_results = "ALTER TABLE results ADD COLUMN host TEXT;"
                                           "ALTER TABLE results ADD COLUMN worker_pid INTEGER;"
                                           "ALTER TABLE results ADD COLUMN worker_runtime TEXT;"
                                           "ALTER TABLE results ADD COLUMN container TEXT;"
                                           "ALTER TABLE results ADD COLUMN image_digest TEXT;"
                                           "ALTER TABLE results ADD COLUMN attempt INTEGER;";
static const char *s_migrate_4_5_endpoints = "ALTER TABLE endpoints ADD COLUMN allowed TEXT;";

/* Version 5 -> 6 (issue 10, SPEC 5.33, 12.7): containers (the table, made
   by the schema below), the container a function version's tasks run in
   (function_versions.container: NULL or "" = the host) and the one a task
   names for itself (tasks.container: NULL or "" = its version's). */
static const char *s_migrate_5_6_versions = "ALTER TABLE function_versions ADD COLUMN container TEXT;";
static const char *s_migrate_5_6_tasks = "ALTER TABLE tasks ADD COLUMN container TEXT;";

/* Version 6 -> 7 (issue 9, SPEC 5.16): tasks gained outcome (NULL until
   the task has a result; then 0 succeeded, 1 failed: the users' states of
   SPEC 5.0, which the store's state alone does not tell), filled from the
   stored results; indexes for LIST's filters are made by the schema below. */
static const char *s_migrate_6_7_tasks = "ALTER TABLE tasks ADD COLUMN outcome INTEGER;";
static const char *s_migrate_6_7_fill = "UPDATE tasks SET outcome = (SELECT r.status != 0 FROM results r"
                                        " WHERE r.task_id = tasks.id)";

/* Schema notes. tasks.seq orders dispatch (submission order) and survives
   VACUUM, unlike a bare rowid; results.seq is AUTOINCREMENT because client
   sessions keep a cursor into it and a purged maximum must never be reused.
   The partial index over undelivered results keeps the push query cheap
   when most results are delivered. seq is the rowid, so every index of
   tasks ends in seq: tasks_owner_state is (owner, state, seq),
   tasks_endpoint (endpoint, seq), and so on. That is what lets a LIST
   page (SPEC 5.16) walk one index newest first and stop after its rows:
   tasks_owner for no filter, tasks_owner_state for queued and dispatched,
   tasks_outcome (finished tasks only) for succeeded and failed,
   tasks_endpoint and tasks_function for those filters. */
static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS users ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, public_key TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS endpoints ("
    "  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,"
    "  public_key TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, last_seen INTEGER, allowed TEXT);"
    "CREATE INDEX IF NOT EXISTS endpoints_owner ON endpoints(owner, created);"
    "CREATE TABLE IF NOT EXISTS functions ("
    "  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL,"
    "  entry TEXT NOT NULL, body BLOB NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS functions_owner ON functions(owner, created);"
    "CREATE TABLE IF NOT EXISTS tasks ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,"
    "  client_id TEXT NOT NULL, endpoint TEXT NOT NULL, function TEXT NOT NULL,"
    "  state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL, py_version TEXT NOT NULL, serializer TEXT NOT NULL,"
    "  walltime_ms INTEGER NOT NULL, payload BLOB NOT NULL,"
    "  retries INTEGER NOT NULL DEFAULT 2, cancel INTEGER NOT NULL DEFAULT 0, times BLOB, version TEXT,"
    "  container TEXT, outcome INTEGER);"
    "CREATE INDEX IF NOT EXISTS tasks_queue ON tasks(endpoint, state, seq);"
    "CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, seq);"
    "CREATE INDEX IF NOT EXISTS tasks_owner_state ON tasks(owner, state);"
    "CREATE INDEX IF NOT EXISTS tasks_outcome ON tasks(owner, outcome) WHERE outcome IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS tasks_endpoint ON tasks(endpoint);"
    "CREATE INDEX IF NOT EXISTS tasks_function ON tasks(function);"
    "CREATE TABLE IF NOT EXISTS results ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE,"
    "  status INTEGER NOT NULL, error_code INTEGER NOT NULL, error_text TEXT,"
    "  value BLOB NOT NULL, output BLOB NOT NULL, created INTEGER NOT NULL, delivered INTEGER,"
    "  pushed INTEGER, times BLOB, durable_us INTEGER, pushed_us INTEGER, host TEXT, worker_pid INTEGER,"
    "  worker_runtime TEXT, container TEXT, image_digest TEXT, attempt INTEGER);"
    "CREATE INDEX IF NOT EXISTS results_unpushed ON results(seq)"
    "  WHERE delivered IS NULL AND pushed IS NULL;"
    "CREATE INDEX IF NOT EXISTS results_delivered ON results(delivered)"
    "  WHERE delivered IS NOT NULL;"
    /* touched orders "the newest": the last registration that gave this
       version (registering an older body again makes it the newest) */
    "CREATE TABLE IF NOT EXISTS function_versions ("
    "  function TEXT NOT NULL, number INTEGER NOT NULL, version TEXT NOT NULL,"
    "  commit_id TEXT NOT NULL, kind INTEGER NOT NULL, entry TEXT NOT NULL, serializer TEXT NOT NULL,"
    "  dill_version TEXT NOT NULL, description TEXT, author TEXT NOT NULL, created_us INTEGER NOT NULL,"
    "  touched INTEGER NOT NULL, missing INTEGER NOT NULL DEFAULT 0, container TEXT,"
    "  PRIMARY KEY(function, number), UNIQUE(function, version));"
    "CREATE INDEX IF NOT EXISTS function_versions_newest ON function_versions(function, touched);"
    /* the versions whose tasks went to an endpoint: what FUNCTION_FETCH may serve it */
    "CREATE TABLE IF NOT EXISTS endpoint_versions ("
    "  endpoint TEXT NOT NULL, version TEXT NOT NULL, PRIMARY KEY(endpoint, version)) WITHOUT ROWID;"
    /* containers (SPEC 5.33): image "" only for bwrap (the host's root) */
    "CREATE TABLE IF NOT EXISTS containers ("
    "  id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL, runtime TEXT NOT NULL,"
    "  image TEXT NOT NULL, description TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS containers_owner ON containers(owner, created);";

/* Task states in the SQL below are written {QUEUED}, {DISPATCHED}, {DONE},
   {DELIVERED}, {FAILED} and become the fx_task_state_t values of
   proto/fx_msg.h when the statements are prepared (s_expand), so the
   numbers in the database and in STATUS_REPLY are one list. A token left
   unexpanded is a syntax error: the store refuses to open. */
static const struct {
    const char *token;
    fx_task_state_t state;
} s_states[] = {
    {"{QUEUED}", FX_TASK_QUEUED},       {"{DISPATCHED}", FX_TASK_DISPATCHED}, {"{DONE}", FX_TASK_DONE},
    {"{DELIVERED}", FX_TASK_DELIVERED}, {"{FAILED}", FX_TASK_FAILED},
};

static const char *s_sql[ST_COUNT_] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_USER_INSERT] = "INSERT INTO users(id, name, public_key, created) VALUES(?1, ?2, ?3, ?4)",
    [ST_USER_BY_NAME] = "SELECT id, public_key FROM users WHERE name = ?1",
    [ST_USER_BY_KEY] = "SELECT id FROM users WHERE public_key = ?1",
    [ST_EP_BY_KEY] = "SELECT id FROM endpoints WHERE public_key = ?1",
    [ST_EP_GET] = "SELECT owner, public_key, allowed FROM endpoints WHERE id = ?1",
    [ST_EP_ALLOWED] = "UPDATE endpoints SET allowed = ?2 WHERE id = ?1",
    [ST_EP_INSERT] = "INSERT INTO endpoints(id, owner, name, public_key, created)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_EP_RENAME] = "UPDATE endpoints SET name = ?2 WHERE id = ?1",
    [ST_EP_SEEN] = "UPDATE endpoints SET last_seen = ?2 WHERE id = ?1",
    [ST_FN_GET] = "SELECT owner, name, kind, entry, body FROM functions WHERE id = ?1",
    [ST_FN_INSERT] = "INSERT INTO functions(id, owner, name, kind, entry, body, created)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_FN_RENAME] = "UPDATE functions SET name = ?2, entry = ?3 WHERE id = ?1",
    [ST_FV_NEWEST] = "SELECT version, commit_id, number, kind, entry, serializer, dill_version, author,"
                     " created_us, missing, description, container FROM function_versions WHERE function = ?1"
                     " ORDER BY touched DESC LIMIT 1",
    [ST_FV_GET] = "SELECT version, commit_id, number, kind, entry, serializer, dill_version, author,"
                  " created_us, missing, description, container FROM function_versions WHERE function = ?1"
                  " AND version = ?2",
    [ST_FV_HISTORY] = "SELECT version, commit_id, number, kind, entry, serializer, dill_version, author,"
                      " created_us, missing, description, container FROM function_versions WHERE function = ?1"
                      " ORDER BY number",
    [ST_FV_ALL] =
        "SELECT function, number, version, commit_id FROM function_versions ORDER BY function, number",
    [ST_FV_INSERT] = "INSERT INTO function_versions(function, number, version, commit_id, kind, entry,"
                     " serializer, dill_version, description, author, created_us, touched, container)"
                     " VALUES(?1, (SELECT coalesce(max(number), 0) + 1 FROM function_versions"
                     " WHERE function = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                     " (SELECT coalesce(max(touched), 0) + 1 FROM function_versions WHERE function = ?1), ?11)",
    [ST_FV_TOUCH] = "UPDATE function_versions SET touched = (SELECT max(touched) + 1 FROM function_versions"
                    " WHERE function = ?1), container = ?3 WHERE function = ?1 AND version = ?2",
    [ST_FV_MISSING] = "UPDATE function_versions SET missing = ?3 WHERE function = ?1 AND number = ?2",
    [ST_EV_INSERT] = "INSERT OR IGNORE INTO endpoint_versions(endpoint, version) VALUES(?1, ?2)",
    [ST_EV_BODY] = "SELECT v.function, v.kind, v.entry, v.serializer, v.dill_version, v.missing"
                   " FROM endpoint_versions e JOIN function_versions v ON v.version = e.version"
                   " WHERE e.endpoint = ?1 AND e.version = ?2 LIMIT 1",
    [ST_TASK_OWNER] = "SELECT owner FROM tasks WHERE id = ?1",
    /* A task id held already is not an error here: the caller asks whose
       it is (a resend, or another user's) only then. */
    [ST_TASK_INSERT] =
        "INSERT INTO tasks(id, owner, client_id, endpoint, function, state, attempts,"
        " created, updated, py_version, serializer, walltime_ms, payload, retries, times, version, container)"
        " VALUES(?1, ?2, ?3, ?4, ?5, {QUEUED}, 0, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        " ON CONFLICT(id) DO NOTHING",
    [ST_QUEUED_COUNT] = "SELECT count(*) FROM tasks WHERE endpoint = ?1 AND state = {QUEUED}",
    /* A task of a versioned function takes kind, entry and dill from its
       version (its body is in the registry: f.body is x''); one of a
       function registered before versions existed runs f.body. Its
       container is resolved now (SPEC 12.7.1): its own, else its
       version's, else "" (the host). */
    [ST_DISPATCH_SELECT] =
        "SELECT t.seq, t.id, t.function, t.py_version, t.serializer, t.attempts,"
        " t.walltime_ms, t.payload, coalesce(v.kind, f.kind), coalesce(v.entry, f.entry),"
        " f.body, t.retries, t.times, t.version, v.dill_version,"
        " coalesce(nullif(t.container, ''), v.container, '')"
        " FROM tasks t JOIN functions f ON f.id = t.function"
        " LEFT JOIN function_versions v ON v.function = t.function AND v.version = t.version"
        " WHERE t.endpoint = ?1 AND t.state = {QUEUED} ORDER BY t.seq LIMIT ?2",
    [ST_DISPATCH_MARK] = "UPDATE tasks SET state = {DISPATCHED}, attempts = attempts + 1, updated = ?2,"
                         " times = ?3 WHERE seq = ?1",
    [ST_REQUEUE_SELECT] = "SELECT seq, id, cancel, owner, client_id FROM tasks"
                          " WHERE endpoint = ?1 AND state = {DISPATCHED} ORDER BY seq",
    [ST_REQUEUE_MARK] = "UPDATE tasks SET state = {QUEUED}, updated = ?2 WHERE seq = ?1",
    [ST_TASK_STATUS] = "SELECT owner, state, endpoint, attempts, client_id FROM tasks WHERE id = ?1",
    [ST_TASK_CANCEL_MARK] = "UPDATE tasks SET cancel = 1, updated = ?2 WHERE id = ?1",
    [ST_UNFINISHED] = "SELECT count(*) FROM tasks WHERE owner = ?1 AND state IN ({QUEUED}, {DISPATCHED})",
    [ST_RESULT_TASK] = "SELECT endpoint, owner, client_id, seq, times, attempts FROM tasks WHERE id = ?1",
    /* attempt: the dispatches of the task when its result came (SPEC 12.6) */
    [ST_RESULT_INSERT] = "INSERT OR IGNORE INTO results(task_id, status, error_code, error_text,"
                         " value, output, created, times, host, worker_pid, worker_runtime, container,"
                         " image_digest, attempt)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_PROVENANCE] = "SELECT t.state, t.function, t.version, v.commit_id, t.serializer, t.py_version,"
                      " v.dill_version, t.endpoint, r.host, r.worker_pid, r.worker_runtime, r.attempt,"
                      " r.container, r.image_digest, r.times, r.durable_us, r.pushed_us, r.delivered,"
                      " v.serializer"
                      " FROM tasks t LEFT JOIN results r ON r.task_id = t.id"
                      " LEFT JOIN function_versions v ON v.function = t.function AND v.version = t.version"
                      " WHERE t.id = ?1 AND t.owner = ?2",
    [ST_USER_NAME] = "SELECT name FROM users WHERE id = ?1",
    /* outcome ?4: 0 the result is a success, 1 not (schema version 7) */
    [ST_TASK_FINISH] = "UPDATE tasks SET state = ?2, updated = ?3, payload = x'', outcome = ?4 WHERE id = ?1",
    [ST_TASK_FINISH_SEQ] =
        "UPDATE tasks SET state = ?2, updated = ?3, payload = x'', outcome = ?4 WHERE seq = ?1",
    [ST_PENDING] = "SELECT r.seq, r.task_id, r.status, r.error_code, r.error_text, r.value, r.output,"
                   " r.times, r.durable_us, r.pushed_us"
                   /* CROSS JOIN keeps results outermost: walk the partial
                      index of undelivered results, not every task of the owner */
                   " FROM results r CROSS JOIN tasks t ON t.id = r.task_id"
                   " WHERE r.delivered IS NULL AND r.pushed IS NULL AND r.seq > ?1 AND t.owner = ?2"
                   " AND t.client_id = ?3 ORDER BY r.seq LIMIT ?4",
    [ST_FETCH] = "SELECT r.status, r.error_code, r.error_text, r.value, r.output, r.times, r.durable_us,"
                 " r.pushed_us"
                 " FROM results r JOIN tasks t ON t.id = r.task_id"
                 " WHERE r.task_id = ?1 AND t.owner = ?2",
    [ST_MARK_PUSHED] = "UPDATE results SET pushed = 1 WHERE task_id = ?1",
    [ST_MARK_PUSHED_SEQ] = "UPDATE results SET pushed = 1 WHERE seq = ?1",
    [ST_ACK_RESULT] = "UPDATE results SET delivered = ?3, durable_us = coalesce(durable_us, ?4),"
                      " pushed_us = coalesce(pushed_us, ?5) WHERE task_id = ?1 AND delivered IS NULL"
                      " AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = ?1 AND t.owner = ?2)",
    [ST_ACK_TASK] = "UPDATE tasks SET state = {DELIVERED}, updated = ?3"
                    " WHERE id = ?1 AND owner = ?2 AND state = {DONE}",
    [ST_PURGE_TASKS] = "DELETE FROM tasks WHERE id IN (SELECT task_id FROM results"
                       " WHERE delivered IS NOT NULL AND delivered < ?1)",
    [ST_PURGE_RESULTS] = "DELETE FROM results WHERE delivered IS NOT NULL AND delivered < ?1",
    [ST_LIST_EP] = "SELECT e.id, e.name, e.last_seen,"
                   " (SELECT count(*) FROM tasks t WHERE t.endpoint = e.id AND t.state = {QUEUED})"
                   " FROM endpoints e WHERE e.owner = ?1 ORDER BY e.created, e.rowid LIMIT ?2",
    [ST_ENDPOINT_ROW] = "SELECT e.id, e.name, e.last_seen,"
                        " (SELECT count(*) FROM tasks t WHERE t.endpoint = e.id AND t.state = {QUEUED})"
                        " FROM endpoints e WHERE e.owner = ?1 AND e.id = ?2",
    [ST_LIST_FN] = "SELECT id, name, kind FROM functions WHERE owner = ?1"
                   " ORDER BY created DESC, rowid DESC LIMIT ?2",
    [ST_CT_GET] = "SELECT owner, name, runtime, image, description FROM containers WHERE id = ?1",
    /* INSERT and UPDATE bind ?1-?6 alike; INSERT also the owner, ?7 */
    [ST_CT_INSERT] = "INSERT INTO containers(id, name, runtime, image, description, updated, created, owner)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    [ST_CT_UPDATE] = "UPDATE containers SET name = ?2, runtime = ?3, image = ?4, description = ?5, updated = ?6"
                     " WHERE id = ?1",
    [ST_LIST_CT] = "SELECT id, name, runtime, image, description FROM containers WHERE owner = ?1"
                   " ORDER BY created, rowid LIMIT ?2",
};

/* ---------------------------------------------------------------- helpers */

static int s_exec_sql(fx_store_t *self, const char *sql, const char *what, char *err, size_t errlen);

/* sql with its state tokens replaced by their numbers, into out. 0, or -1
   if it does not fit. */
static int s_expand(const char *sql, char *out, size_t cap)
{
    size_t len = 0;
    while (*sql) {
        size_t i = 0, n = sizeof s_states / sizeof s_states[0];
        while (i < n && strncmp(sql, s_states[i].token, strlen(s_states[i].token)) != 0)
            i++;
        int wrote = i < n ? snprintf(out + len, cap - len, "%d", (int) s_states[i].state)
                          : snprintf(out + len, cap - len, "%c", *sql);
        if (wrote < 0 || (size_t) wrote >= cap - len)
            return -1;
        len += (size_t) wrote;
        sql += i < n ? strlen(s_states[i].token) : 1;
    }
    return 0;
}

sqlite3_stmt *fx_store_st(fx_store_t *self, fx_st_t which)
{
    sqlite3_stmt *st = self->st[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int fx_store_fail(fx_store_t *self)
{
    snprintf(self->errmsg, sizeof self->errmsg, "%s", sqlite3_errmsg(self->db));
    return FX_E_IO;
}

int fx_store_exec(fx_store_t *self, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_DONE || rc == SQLITE_ROW ? FX_OK : fx_store_fail(self);
    sqlite3_reset(st);
    return result;
}

int fx_store_begin(fx_store_t *self)
{
    return fx_store_exec(self, fx_store_st(self, ST_BEGIN));
}

int fx_store_commit(fx_store_t *self)
{
    int rc = fx_store_exec(self, fx_store_st(self, ST_COMMIT));
    if (rc != FX_OK)
        fx_store_rollback(self);
    else
        self->written++;
    return rc;
}

uint64_t fx_store_written(fx_store_t *self)
{
    return self->written;
}

int fx_store_wal_pages(fx_store_t *self)
{
    return self->wal_pages;
}

/* sqlite's wal hook: after each commit, the pages now in the WAL. Setting
   it also turns sqlite's own checkpoint-at-commit off (that is a wal hook
   too), which is the point: checkpoints run off the loop (fx_syncer.c). */
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void) db;
    (void) name;
    ((fx_store_t *) arg)->wal_pages = pages;
    return SQLITE_OK;
}

/* ---------------------------------------------------------------- durable stamps */

#define S_SPANS (sizeof(((fx_store_t *) 0)->pending) / sizeof(struct fx_store_span))

void fx_store_submitted(fx_store_t *self, int64_t first_seq, int64_t last_seq)
{
    if (self->pending_n == S_SPANS) { /* never reported: forget the oldest */
        self->pending_head = (self->pending_head + 1) % S_SPANS;
        self->pending_n--;
    }
    struct fx_store_span *span = &self->pending[(self->pending_head + self->pending_n++) % S_SPANS];
    *span = (struct fx_store_span){.ticket = self->written, .first_seq = first_seq, .last_seq = last_seq};
}

void fx_store_durable(fx_store_t *self, uint64_t ticket, uint64_t durable_us)
{
    while (self->pending_n && self->pending[self->pending_head].ticket <= ticket) {
        struct fx_store_span span = self->pending[self->pending_head];
        self->pending_head = (self->pending_head + 1) % S_SPANS;
        self->pending_n--;
        span.durable_us = durable_us;
        if (self->durable_n == S_SPANS) {
            self->durable_head = (self->durable_head + 1) % S_SPANS;
            self->durable_n--;
        }
        self->durable[(self->durable_head + self->durable_n++) % S_SPANS] = span;
    }
}

uint64_t fx_store_task_durable_us(fx_store_t *self, int64_t seq)
{
    /* Spans are in seq order: search from the newest (the usual case is a
       task of the last few commits). */
    for (uint32_t i = self->durable_n; i > 0; i--) {
        const struct fx_store_span *span = &self->durable[(self->durable_head + i - 1) % S_SPANS];
        if (seq > span->last_seq)
            return 0;
        if (seq >= span->first_seq)
            return span->durable_us;
    }
    return 0;
}

int fx_store_defer_sync(fx_store_t *self, char *err, size_t errlen)
{
    if (s_exec_sql(self, "PRAGMA synchronous = NORMAL", "setting synchronous", err, errlen) != 0)
        return FX_E_IO;
    sqlite3_wal_hook(self->db, s_wal_hook, self);
    return FX_OK;
}

int fx_store_wal_bound(fx_store_t *self, char *err, size_t errlen)
{
    if (self->wal_pages < FX_STORE_WAL_BOUND_PAGES)
        return 0;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(self->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc == SQLITE_BUSY)
        return 0;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "checkpoint of the store failed: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return done >= log ? 1 : 0;
}

int fx_store_end(fx_store_t *self, int rc)
{
    if (rc == FX_OK)
        return fx_store_commit(self); /* rolls back itself on failure */
    fx_store_rollback(self);
    return rc;
}

void fx_store_rollback(fx_store_t *self)
{
    /* Reset every statement first: a statement still mid-step would keep the
       transaction's read open. */
    for (int i = 0; i < ST_COUNT_; i++)
        sqlite3_reset(self->st[i]);
    if (!sqlite3_get_autocommit(self->db)) {
        sqlite3_step(self->st[ST_ROLLBACK]);
        sqlite3_reset(self->st[ST_ROLLBACK]);
    }
}

void fx_store_bind_text(sqlite3_stmt *st, int col, const char *text)
{
    if (text)
        sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

void fx_store_bind_blob(sqlite3_stmt *st, int col, const void *data, size_t size)
{
    if (size == 0 || !data)
        sqlite3_bind_zeroblob(st, col, 0);
    else
        sqlite3_bind_blob64(st, col, data, size, SQLITE_STATIC);
}

void fx_store_bind_frame(sqlite3_stmt *st, int col, zframe_t *frame)
{
    if (frame)
        fx_store_bind_blob(st, col, zframe_data(frame), zframe_size(frame));
    else
        sqlite3_bind_zeroblob(st, col, 0);
}

void fx_store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const char *text = (const char *) sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", text ? text : "");
}

zframe_t *fx_store_column_frame(sqlite3_stmt *st, int col)
{
    const void *data = sqlite3_column_blob(st, col);
    int size = sqlite3_column_bytes(st, col);
    return size > 0 && data ? zframe_new(data, (size_t) size) : zframe_new_empty();
}

size_t fx_store_times_pack(const uint64_t *times, uint8_t out[FX_TIMES_MAX * 8])
{
    size_t n = FX_TIMES_MAX;
    while (n > 0 && times[n - 1] == 0)
        n--;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            out[i * 8 + b] = (uint8_t) (times[i] >> (8 * b));
    return n * 8;
}

void fx_store_bind_times(sqlite3_stmt *st, int col, const uint64_t *times, uint8_t buf[FX_TIMES_MAX * 8])
{
    size_t size = fx_store_times_pack(times, buf);
    if (size)
        sqlite3_bind_blob(st, col, buf, (int) size, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, col);
}

void fx_store_column_times(sqlite3_stmt *st, int col, uint64_t *times)
{
    const uint8_t *data = sqlite3_column_blob(st, col);
    size_t n = (size_t) sqlite3_column_bytes(st, col) / 8;
    for (size_t i = 0; data && i < n && i < FX_TIMES_MAX; i++) {
        uint64_t v = 0;
        for (int b = 0; b < 8; b++)
            v |= (uint64_t) data[i * 8 + b] << (8 * b);
        if (!times[i])
            times[i] = v;
    }
}

void fx_store_notify(fx_store_t *self, const char *owner, const char *client_id)
{
    if (self->hook)
        self->hook(owner, client_id, self->hook_arg);
}

void fx_store_set_result_hook(fx_store_t *self, fx_store_result_fn *fn, void *arg)
{
    self->hook = fn;
    self->hook_arg = arg;
}

const char *fx_store_errmsg(fx_store_t *self)
{
    return self ? self->errmsg : "";
}

int64_t fx_store_wall_ms(void)
{
    return fx_wall_us() / 1000;
}

/* ---------------------------------------------------------------- life */

static int s_exec_sql(fx_store_t *self, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s failed: %s", what, msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static bool s_has_table(fx_store_t *self, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(self->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int s_schema_setup(fx_store_t *self, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(self->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version < 0) {
        snprintf(err, errlen, "cannot read %s: %s (is it an sqlite database?)", path,
                 sqlite3_errmsg(self->db));
        return -1;
    }
    if (version > S_SCHEMA_VERSION) {
        snprintf(err, errlen, "%s has schema version %d, this fx knows %d: use the newer fx that wrote it",
                 path, version, S_SCHEMA_VERSION);
        return -1;
    }
    if (s_exec_sql(self, "BEGIN IMMEDIATE", "schema transaction", err, errlen) != 0)
        return -1;
    /* A version 1 database has the tables already (CREATE ... IF NOT
       EXISTS leaves them alone): add the columns it lacks first. */
    if ((version == 1 &&
         s_exec_sql(self, s_migrate_1_2, "upgrading the schema to version 2", err, errlen) != 0) ||
        ((version == 1 || version == 2) && s_has_table(self, "results") &&
         s_exec_sql(self, s_migrate_2_3, "upgrading the schema to version 3", err, errlen) != 0) ||
        (version >= 1 && version <= 3 && s_has_table(self, "tasks") &&
         s_exec_sql(self, s_migrate_3_4_tasks, "upgrading the schema to version 4", err, errlen) != 0) ||
        (version >= 1 && version <= 3 && s_has_table(self, "results") &&
         s_exec_sql(self, s_migrate_3_4, "upgrading the schema to version 4", err, errlen) != 0) ||
        (version >= 1 && version <= 4 && s_has_table(self, "tasks") &&
         s_exec_sql(self, s_migrate_4_5_tasks, "upgrading the schema to version 5", err, errlen) != 0) ||
        (version >= 1 && version <= 4 && s_has_table(self, "results") &&
         s_exec_sql(self, s_migrate_4_5_results, "upgrading the schema to version 5", err, errlen) != 0) ||
        (version >= 1 && version <= 4 && s_has_table(self, "endpoints") &&
         s_exec_sql(self, s_migrate_4_5_endpoints, "upgrading the schema to version 5", err, errlen) != 0) ||
        (version >= 1 && version <= 5 && s_has_table(self, "function_versions") &&
         s_exec_sql(self, s_migrate_5_6_versions, "upgrading the schema to version 6", err, errlen) != 0) ||
        (version >= 1 && version <= 5 && s_has_table(self, "tasks") &&
         s_exec_sql(self, s_migrate_5_6_tasks, "upgrading the schema to version 6", err, errlen) != 0) ||
        (version >= 1 && version <= 6 && s_has_table(self, "tasks") &&
         s_exec_sql(self, s_migrate_6_7_tasks, "upgrading the schema to version 7", err, errlen) != 0) ||
        (version >= 1 && version <= 6 && s_has_table(self, "tasks") && s_has_table(self, "results") &&
         s_exec_sql(self, s_migrate_6_7_fill, "upgrading the schema to version 7", err, errlen) != 0) ||
        s_exec_sql(self, s_schema, "creating the schema", err, errlen) != 0 ||
        s_exec_sql(self, "PRAGMA user_version = 7", "setting the schema version", err, errlen) != 0 ||
        s_exec_sql(self, "COMMIT", "committing the schema", err, errlen) != 0) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

fx_store_t *fx_store_open(const char *state_dir, char *err, size_t errlen)
{
    char path[4200];
    fx_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory opening the store");
        return NULL;
    }
    if (!state_dir || !*state_dir || fx_file_mkdirs(state_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create the state directory %s: %s: give another --state",
                 state_dir ? state_dir : "", strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%s/%s", state_dir, FX_STORE_DB_FILE);
    /* No memory statistics: with them every sqlite3_malloc and free takes
       a global mutex (4% of the broker's CPU under load, perf). Must come
       before sqlite initializes; later calls are refused and harmless. */
    static bool memstatus_off;
    if (!memstatus_off) {
        (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        memstatus_off = true;
    }
    /* NOMUTEX: the connection is this thread's only (the syncer has its
       own), so sqlite's per-call locking buys nothing. */
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        goto fail;
    }
    /* Another process (fx user create) may hold the write lock briefly. */
    sqlite3_busy_timeout(self->db, 5000);
    /* WAL: readers never block the writer. synchronous=FULL: each commit is
       on disk when COMMIT returns (the fx CLI and the tests); the broker
       turns that into grouped syncs off its loop (fx_store_defer_sync). */
    if (s_exec_sql(self, "PRAGMA journal_mode = WAL", "setting WAL mode", err, errlen) != 0 ||
        s_exec_sql(self, "PRAGMA synchronous = FULL", "setting synchronous", err, errlen) != 0 ||
        s_exec_sql(self, S_CACHE_PRAGMA, "bounding the page cache", err, errlen) != 0)
        goto fail;
    self->queue_cap = FX_QUEUED_PER_USER_DEFAULT;
    self->unfinished = zhashx_new();
    if (!self->unfinished) {
        snprintf(err, errlen, "out of memory opening the store");
        goto fail;
    }
    zhashx_set_destructor(self->unfinished, fx_store_count_free);
    if (s_schema_setup(self, path, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < ST_COUNT_; i++) {
        char sql[1024];
        if (s_expand(s_sql[i], sql, sizeof sql) != 0 ||
            sqlite3_prepare_v3(self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &self->st[i], NULL) !=
                SQLITE_OK) {
            snprintf(err, errlen, "cannot prepare statement %d of %s: %s", i, path, sqlite3_errmsg(self->db));
            goto fail;
        }
    }
    return self;
fail:
    fx_store_destroy(&self);
    return NULL;
}

void fx_store_destroy(fx_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_store_t *self = *self_p;
    for (int i = 0; i < ST_COUNT_; i++)
        sqlite3_finalize(self->st[i]);
    sqlite3_close(self->db);
    zhashx_destroy(&self->unfinished);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- users */

/* A name: 1..FX_NAME_MAX bytes, no control characters. */
bool fx_store_name_valid(const char *name, bool allow_empty)
{
    size_t len = name ? strlen(name) : 0;
    if (!name || len > FX_NAME_MAX || (len == 0 && !allow_empty))
        return false;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int fx_store_user_create(fx_store_t *self, const char *name, const char *public_key, fx_id_text_t user_id_out,
                         char *err, size_t errlen)
{
    if (!fx_store_name_valid(name, false)) {
        snprintf(err, errlen, "user name must be 1 to %d characters without control characters: pick another",
                 FX_NAME_MAX);
        return FX_E_BAD_FIELD;
    }
    if (!public_key || !fx_key_valid(public_key)) {
        snprintf(err, errlen, "public key is not 40 characters of z85: give a CurveZMQ public key");
        return FX_E_BAD_FIELD;
    }
    fx_id_text_t id;
    fx_id_new(id);
    if (fx_store_begin(self) != FX_OK)
        goto io;
    sqlite3_stmt *st = fx_store_st(self, ST_USER_BY_NAME);
    fx_store_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        fx_store_rollback(self);
        snprintf(err, errlen, "user name '%s' is taken: pick another name", name);
        return FX_E_CONFLICT;
    }
    st = fx_store_st(self, ST_USER_BY_KEY);
    fx_store_bind_text(st, 1, public_key);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        fx_store_rollback(self);
        snprintf(err, errlen, "public key is already registered to another user: make a new keypair");
        return FX_E_CONFLICT;
    }
    st = fx_store_st(self, ST_USER_INSERT);
    fx_store_bind_text(st, 1, id);
    fx_store_bind_text(st, 2, name);
    fx_store_bind_text(st, 3, public_key);
    sqlite3_bind_int64(st, 4, fx_store_wall_ms());
    if (fx_store_exec(self, st) != FX_OK || fx_store_commit(self) != FX_OK)
        goto io;
    if (user_id_out)
        memcpy(user_id_out, id, sizeof id);
    return FX_OK;
io:
    fx_store_rollback(self);
    snprintf(err, errlen, "cannot store user '%s': %s", name, self->errmsg);
    return FX_E_IO;
}

int fx_store_user_find(fx_store_t *self, const char *name, fx_id_text_t user_id_out,
                       char public_key_out[FX_KEY_LEN + 1])
{
    sqlite3_stmt *st = fx_store_st(self, ST_USER_BY_NAME);
    fx_store_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW) {
        if (user_id_out)
            fx_store_column_text(st, 0, user_id_out, FX_ID_LEN + 1);
        if (public_key_out)
            fx_store_column_text(st, 1, public_key_out, FX_KEY_LEN + 1);
    }
    sqlite3_reset(st);
    return result;
}

int fx_store_user_name(fx_store_t *self, const char *user_id, char name[FX_NAME_MAX + 1])
{
    sqlite3_stmt *st = fx_store_st(self, ST_USER_NAME);
    fx_store_bind_text(st, 1, user_id);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW)
        fx_store_column_text(st, 0, name, FX_NAME_MAX + 1);
    sqlite3_reset(st);
    return result;
}

/* One-column id lookup by key (users or endpoints). */
static int s_id_by_key(fx_store_t *self, fx_st_t which, const char *key, fx_id_text_t id_out)
{
    sqlite3_stmt *st = fx_store_st(self, which);
    fx_store_bind_text(st, 1, key);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW && id_out)
        fx_store_column_text(st, 0, id_out, FX_ID_LEN + 1);
    sqlite3_reset(st);
    return result;
}

int fx_store_user_by_key(fx_store_t *self, const char *public_key, fx_id_text_t user_id_out)
{
    return s_id_by_key(self, ST_USER_BY_KEY, public_key, user_id_out);
}

int fx_store_endpoint_by_key(fx_store_t *self, const char *public_key, fx_id_text_t endpoint_id_out)
{
    return s_id_by_key(self, ST_EP_BY_KEY, public_key, endpoint_id_out);
}

/* ---------------------------------------------------------------- registry */

/* Compares the stored function (row of ST_FN_GET) with a new registration. */
static bool s_function_same(sqlite3_stmt *st, const char *name, int kind, const char *entry, const void *body,
                            size_t body_len)
{
    const char *old_name = (const char *) sqlite3_column_text(st, 1);
    const char *old_entry = (const char *) sqlite3_column_text(st, 3);
    const void *old_body = sqlite3_column_blob(st, 4);
    size_t old_len = (size_t) sqlite3_column_bytes(st, 4);
    return sqlite3_column_int(st, 2) == kind && old_name && strcmp(old_name, name) == 0 && old_entry &&
           strcmp(old_entry, entry) == 0 && old_len == body_len &&
           (body_len == 0 || memcmp(old_body, body, body_len) == 0);
}

int fx_store_function_register(fx_store_t *self, const char *owner, const char *function_id, const char *name,
                               int kind, const char *entry, const void *body, size_t body_len, char *err,
                               size_t errlen)
{
    int rc = fx_store_function_fields(function_id, name, kind, entry, err, errlen);
    if (rc != FX_OK)
        return rc;
    if (body_len > FX_PAYLOAD_MAX) {
        snprintf(err, errlen, "function body is %zu bytes, over the %u byte limit", body_len, FX_PAYLOAD_MAX);
        return FX_E_TOO_LARGE;
    }
    if (fx_store_begin(self) != FX_OK)
        goto io;
    sqlite3_stmt *st = fx_store_st(self, ST_FN_GET);
    fx_store_bind_text(st, 1, function_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *old_owner = (const char *) sqlite3_column_text(st, 0);
        bool mine = old_owner && strcmp(old_owner, owner) == 0;
        bool same = mine && s_function_same(st, name, kind, entry, body, body_len);
        sqlite3_reset(st);
        fx_store_rollback(self);
        if (same)
            return FX_OK;
        snprintf(err, errlen,
                 mine ? "function %s is already registered with other content; functions are "
                        "immutable: register the new version under a new id"
                      : "function id %s is held by another user: mint a new id",
                 function_id);
        return FX_E_CONFLICT;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        fx_store_fail(self);
        goto io;
    }
    st = fx_store_st(self, ST_FN_INSERT);
    fx_store_bind_text(st, 1, function_id);
    fx_store_bind_text(st, 2, owner);
    fx_store_bind_text(st, 3, name);
    sqlite3_bind_int(st, 4, kind);
    fx_store_bind_text(st, 5, entry);
    fx_store_bind_blob(st, 6, body, body_len);
    sqlite3_bind_int64(st, 7, fx_store_wall_ms());
    if (fx_store_exec(self, st) != FX_OK || fx_store_commit(self) != FX_OK)
        goto io;
    return FX_OK;
io:
    fx_store_rollback(self);
    snprintf(err, errlen, "cannot store function %s: %s", function_id, self->errmsg);
    return FX_E_IO;
}

int fx_store_endpoint_register(fx_store_t *self, const char *owner, const char *endpoint_id, const char *name,
                               const char *public_key, char *err, size_t errlen)
{
    if (!fx_id_valid(endpoint_id) || !fx_store_name_valid(name, false) || !fx_key_valid(public_key)) {
        snprintf(err, errlen,
                 "endpoint registration needs a canonical UUID, a non-empty name without control "
                 "characters and a z85 CurveZMQ public key that decodes to 32 bytes: fix the field");
        return FX_E_BAD_FIELD;
    }
    if (fx_store_begin(self) != FX_OK)
        goto io;
    fx_id_text_t other;
    int rc = fx_store_endpoint_by_key(self, public_key, other);
    if (rc == FX_OK && strcmp(other, endpoint_id) != 0) {
        fx_store_rollback(self);
        snprintf(err, errlen,
                 "public key is already registered for another endpoint: give each endpoint its "
                 "own keypair");
        return FX_E_CONFLICT;
    }
    if (rc == FX_E_IO)
        goto io;
    sqlite3_stmt *st = fx_store_st(self, ST_EP_GET);
    fx_store_bind_text(st, 1, endpoint_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *old_owner = (const char *) sqlite3_column_text(st, 0);
        const char *old_key = (const char *) sqlite3_column_text(st, 1);
        bool mine = old_owner && strcmp(old_owner, owner) == 0;
        bool same_key = old_key && strcmp(old_key, public_key) == 0;
        sqlite3_reset(st);
        if (!mine || !same_key) {
            fx_store_rollback(self);
            snprintf(err, errlen,
                     !mine ? "endpoint id %s is held by another user: mint a new endpoint id"
                           : "endpoint %s is registered with another public key; re-keying is not "
                             "supported: register a new endpoint id",
                     endpoint_id);
            return !mine ? FX_E_CONFLICT : FX_E_FORBIDDEN;
        }
        st = fx_store_st(self, ST_EP_RENAME);
        fx_store_bind_text(st, 1, endpoint_id);
        fx_store_bind_text(st, 2, name);
    }
    else {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            fx_store_fail(self);
            goto io;
        }
        st = fx_store_st(self, ST_EP_INSERT);
        fx_store_bind_text(st, 1, endpoint_id);
        fx_store_bind_text(st, 2, owner);
        fx_store_bind_text(st, 3, name);
        fx_store_bind_text(st, 4, public_key);
        sqlite3_bind_int64(st, 5, fx_store_wall_ms());
    }
    if (fx_store_exec(self, st) != FX_OK || fx_store_commit(self) != FX_OK)
        goto io;
    return FX_OK;
io:
    fx_store_rollback(self);
    snprintf(err, errlen, "cannot store endpoint %s: %s", endpoint_id, self->errmsg);
    return FX_E_IO;
}

int fx_store_endpoint_seen(fx_store_t *self, const char *endpoint_id, int64_t wall_ms)
{
    sqlite3_stmt *st = fx_store_st(self, ST_EP_SEEN);
    fx_store_bind_text(st, 1, endpoint_id);
    sqlite3_bind_int64(st, 2, wall_ms);
    return fx_store_exec(self, st);
}
