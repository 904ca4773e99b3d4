/*  fx_store_functions.c: function versions in the store (issue 8, SPEC
    5.5, 5.29, 8.12): the rows that point at the registry's blobs and
    commits, the check of those rows at start, what an endpoint may fetch,
    and the functions an endpoint allows. The bodies themselves are in the
    registry (registry/fx_registry.h), written before these rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_store_int.h"

void fx_store_versions_free(fx_store_version_t *versions, uint32_t n, bool free_array)
{
    for (uint32_t i = 0; versions && i < n; i++) {
        free(versions[i].description);
        versions[i].description = NULL;
    }
    if (free_array)
        free(versions);
}

/* A row of ST_FV_NEWEST, ST_FV_GET or ST_FV_HISTORY (same columns). */
static void s_version_from_row(sqlite3_stmt *st, fx_store_version_t *v)
{
    memset(v, 0, sizeof *v);
    fx_store_column_text(st, 0, v->version, sizeof v->version);
    fx_store_column_text(st, 1, v->commit, sizeof v->commit);
    v->number = (uint32_t) sqlite3_column_int64(st, 2);
    v->kind = (uint8_t) sqlite3_column_int(st, 3);
    fx_store_column_text(st, 4, v->entry, sizeof v->entry);
    fx_store_column_text(st, 5, v->serializer, sizeof v->serializer);
    fx_store_column_text(st, 6, v->dill_version, sizeof v->dill_version);
    fx_store_column_text(st, 7, v->author, sizeof v->author);
    v->created_us = (uint64_t) sqlite3_column_int64(st, 8);
    v->missing = sqlite3_column_int(st, 9) != 0;
    const char *text = (const char *) sqlite3_column_text(st, 10);
    v->description = text ? strdup(text) : NULL;
    fx_store_column_text(st, 11, v->container_id, sizeof v->container_id);
}

/* One version row: by version id, or the newest for "" (ST_FV_GET,
   ST_FV_NEWEST). FX_OK, FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_version_find(fx_store_t *self, const char *function_id, const char *version,
                          fx_store_version_t *v)
{
    bool newest = !version || !version[0];
    sqlite3_stmt *st = fx_store_st(self, newest ? ST_FV_NEWEST : ST_FV_GET);
    fx_store_bind_text(st, 1, function_id);
    if (!newest)
        fx_store_bind_text(st, 2, version);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW)
        s_version_from_row(st, v);
    sqlite3_reset(st);
    return result;
}

/* The function row's owner and kind (ST_FN_GET). FX_OK, FX_E_NOT_FOUND, FX_E_IO. */
static int s_function_row(fx_store_t *self, const char *function_id, char owner[FX_ID_LEN + 1], int *kind)
{
    sqlite3_stmt *st = fx_store_st(self, ST_FN_GET);
    fx_store_bind_text(st, 1, function_id);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW) {
        fx_store_column_text(st, 0, owner, FX_ID_LEN + 1);
        *kind = sqlite3_column_int(st, 2);
    }
    sqlite3_reset(st);
    return result;
}

int fx_store_function_fields(const char *function_id, const char *name, int kind, const char *entry, char *err,
                             size_t errlen)
{
    if (!fx_id_valid(function_id)) {
        snprintf(err, errlen, "function id is not a canonical UUID: mint one with fx_id_new");
        return FX_E_BAD_FIELD;
    }
    if (kind != FX_FN_PYTHON && kind != FX_FN_SHELL) {
        snprintf(err, errlen, "function kind %d is neither python (1) nor shell (2)", kind);
        return FX_E_BAD_FIELD;
    }
    if (!fx_store_name_valid(name, false)) {
        snprintf(err, errlen, "function name is empty or has control characters: give a name");
        return FX_E_BAD_FIELD;
    }
    if (!fx_store_name_valid(entry, kind == FX_FN_SHELL)) {
        snprintf(err, errlen, "function entry %s: give the name of the Python function the body defines",
                 entry[0] ? "has control characters" : "is empty");
        return FX_E_BAD_FIELD;
    }
    return FX_OK;
}

int fx_store_function_check(fx_store_t *self, const char *owner, const char *function_id, const char *name,
                            int kind, const char *entry, const char *serializer, fx_store_version_t *newest,
                            char *err, size_t errlen)
{
    memset(newest, 0, sizeof *newest);
    int rc = fx_store_function_fields(function_id, name, kind, entry, err, errlen);
    if (rc != FX_OK)
        return rc;
    if (!fx_store_name_valid(serializer, true)) {
        snprintf(err, errlen,
                 "function serializer has control characters: give source, dill, reference or shell");
        return FX_E_BAD_FIELD;
    }
    char holder[FX_ID_LEN + 1] = "";
    int old_kind = 0;
    rc = s_function_row(self, function_id, holder, &old_kind);
    if (rc == FX_E_NOT_FOUND)
        return FX_OK;
    if (rc != FX_OK) {
        snprintf(err, errlen, "cannot look up function %s: %s", function_id, self->errmsg);
        return rc;
    }
    if (strcmp(holder, owner) != 0) {
        snprintf(err, errlen, "function id %s is held by another user: mint a new id", function_id);
        return FX_E_CONFLICT;
    }
    if (old_kind != kind) {
        snprintf(err, errlen,
                 "function %s is of kind %d; a function's kind never changes: register kind %d "
                 "under a new id",
                 function_id, old_kind, kind);
        return FX_E_CONFLICT;
    }
    rc = fx_store_version_find(self, function_id, "", newest);
    if (rc == FX_E_IO)
        snprintf(err, errlen, "cannot look up function %s: %s", function_id, self->errmsg);
    return rc == FX_E_NOT_FOUND ? FX_OK : rc;
}

int fx_store_function_add_version(fx_store_t *self, const char *owner, const char *function_id,
                                  const char *name, const char *description, fx_store_version_t *v, char *err,
                                  size_t errlen)
{
    fx_store_version_t had;
    if (fx_store_begin(self) != FX_OK)
        goto io;
    char holder[FX_ID_LEN + 1] = "";
    int old_kind = 0;
    int rc = s_function_row(self, function_id, holder, &old_kind);
    if (rc == FX_E_IO)
        goto io;
    if (rc == FX_OK && (strcmp(holder, owner) != 0 || old_kind != v->kind)) {
        fx_store_rollback(self);
        snprintf(err, errlen, "function id %s is held by another user or of another kind", function_id);
        return FX_E_CONFLICT;
    }
    sqlite3_stmt *st;
    if (rc == FX_E_NOT_FOUND) {
        st = fx_store_st(self, ST_FN_INSERT);
        fx_store_bind_text(st, 1, function_id);
        fx_store_bind_text(st, 2, owner);
        fx_store_bind_text(st, 3, name);
        sqlite3_bind_int(st, 4, v->kind);
        fx_store_bind_text(st, 5, v->entry);
        fx_store_bind_blob(st, 6, "", 0); /* the body is in the registry */
        sqlite3_bind_int64(st, 7, fx_store_wall_ms());
    }
    else {
        st = fx_store_st(self, ST_FN_RENAME);
        fx_store_bind_text(st, 1, function_id);
        fx_store_bind_text(st, 2, name);
        fx_store_bind_text(st, 3, v->entry);
    }
    if (fx_store_exec(self, st) != FX_OK)
        goto io;
    rc = fx_store_version_find(self, function_id, v->version, &had);
    if (rc == FX_E_IO)
        goto io;
    if (rc == FX_OK) {
        bool same = strcmp(had.entry, v->entry) == 0 && strcmp(had.serializer, v->serializer) == 0;
        fx_store_versions_free(&had, 1, false);
        if (!same) {
            fx_store_rollback(self);
            snprintf(err, errlen,
                     "function %s has this body as version %u with another entry or serializer; a "
                     "version is addressed by its body: change the body or use a new function id",
                     function_id, had.number);
            return FX_E_CONFLICT;
        }
        st = fx_store_st(self, ST_FV_TOUCH);
        fx_store_bind_text(st, 1, function_id);
        fx_store_bind_text(st, 2, v->version);
        fx_store_bind_text(st, 3, v->container_id);
        if (fx_store_exec(self, st) != FX_OK || fx_store_commit(self) != FX_OK)
            goto io;
        v->number = had.number;
        memcpy(v->commit, had.commit, sizeof v->commit);
        v->created_us = had.created_us;
        return FX_OK;
    }
    if (!v->created_us)
        v->created_us = (uint64_t) fx_store_wall_ms() * 1000;
    st = fx_store_st(self, ST_FV_INSERT);
    fx_store_bind_text(st, 1, function_id);
    fx_store_bind_text(st, 2, v->version);
    fx_store_bind_text(st, 3, v->commit);
    sqlite3_bind_int(st, 4, v->kind);
    fx_store_bind_text(st, 5, v->entry);
    fx_store_bind_text(st, 6, v->serializer);
    fx_store_bind_text(st, 7, v->dill_version);
    fx_store_bind_text(st, 8, description);
    fx_store_bind_text(st, 9, v->author);
    sqlite3_bind_int64(st, 10, (int64_t) v->created_us);
    fx_store_bind_text(st, 11, v->container_id);
    if (fx_store_exec(self, st) != FX_OK)
        goto io;
    rc = fx_store_version_find(self, function_id, v->version, &had);
    if (rc != FX_OK || fx_store_commit(self) != FX_OK) {
        if (rc == FX_OK)
            fx_store_versions_free(&had, 1, false);
        goto io;
    }
    v->number = had.number;
    fx_store_versions_free(&had, 1, false);
    return FX_OK;
io:
    fx_store_rollback(self);
    snprintf(err, errlen, "cannot store a version of function %s: %s", function_id, self->errmsg);
    return FX_E_IO;
}

int fx_store_function_history(fx_store_t *self, const char *owner, const char *function_id,
                              char name[FX_NAME_MAX + 1], fx_store_version_t **versions, uint32_t *count)
{
    *versions = NULL;
    *count = 0;
    if (!fx_id_valid(function_id))
        return FX_E_NOT_FOUND;
    sqlite3_stmt *st = fx_store_st(self, ST_FN_GET);
    fx_store_bind_text(st, 1, function_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int result = rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
        sqlite3_reset(st);
        return result;
    }
    const char *holder = (const char *) sqlite3_column_text(st, 0);
    bool mine = holder && strcmp(holder, owner) == 0;
    fx_store_column_text(st, 1, name, FX_NAME_MAX + 1);
    sqlite3_reset(st);
    if (!mine)
        return FX_E_NOT_FOUND;
    st = fx_store_st(self, ST_FV_HISTORY);
    fx_store_bind_text(st, 1, function_id);
    uint32_t n = 0, cap = 0;
    fx_store_version_t *all = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < FX_IDS_MAX) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            fx_store_version_t *grown = realloc(all, cap * sizeof *all);
            if (!grown) {
                sqlite3_reset(st);
                fx_store_versions_free(all, n, true);
                return FX_E_NOMEM;
            }
            all = grown;
        }
        s_version_from_row(st, &all[n++]);
    }
    int result = rc == SQLITE_ROW || rc == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_reset(st);
    if (result != FX_OK) {
        fx_store_versions_free(all, n, true);
        return result;
    }
    *versions = all;
    *count = n;
    return FX_OK;
}

int fx_store_versions_verify(fx_store_t *self, bool (*has)(void *arg, const char *oid),
                             fx_store_missing_fn *report, void *arg, uint32_t *missing)
{
    *missing = 0;
    /* Read every row first, then mark: no statement steps while another
       writes the table. */
    typedef struct {
        fx_id_text_t function;
        uint32_t number;
        bool gone;
    } row_t;
    row_t *rows = NULL;
    uint32_t n = 0, cap = 0;
    sqlite3_stmt *st = fx_store_st(self, ST_FV_ALL);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            row_t *grown = realloc(rows, cap * sizeof *rows);
            if (!grown) {
                sqlite3_reset(st);
                free(rows);
                return FX_E_NOMEM;
            }
            rows = grown;
        }
        row_t *row = &rows[n++];
        fx_oid_text_t version, commit;
        fx_store_column_text(st, 0, row->function, sizeof row->function);
        row->number = (uint32_t) sqlite3_column_int64(st, 1);
        fx_store_column_text(st, 2, version, sizeof version);
        fx_store_column_text(st, 3, commit, sizeof commit);
        /* commit "": not known (the row was made after a crash between the
           git write and the row, by registering the body again) */
        row->gone = !has(arg, version) || (commit[0] && !has(arg, commit));
        if (row->gone) {
            (*missing)++;
            report(arg, row->function, row->number, version, commit);
        }
    }
    int result = rc == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_reset(st);
    if (result == FX_OK)
        result = fx_store_begin(self);
    for (uint32_t i = 0; result == FX_OK && i < n; i++) {
        st = fx_store_st(self, ST_FV_MISSING);
        fx_store_bind_text(st, 1, rows[i].function);
        sqlite3_bind_int64(st, 2, rows[i].number);
        sqlite3_bind_int(st, 3, rows[i].gone ? 1 : 0);
        result = fx_store_exec(self, st);
    }
    free(rows);
    return fx_store_end(self, result);
}

int fx_store_endpoint_version(fx_store_t *self, const char *endpoint_id, const char *version,
                              fx_function_body_t *body)
{
    sqlite3_stmt *st = fx_store_st(self, ST_EV_BODY);
    fx_store_bind_text(st, 1, endpoint_id);
    fx_store_bind_text(st, 2, version);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW && sqlite3_column_int(st, 5) != 0)
        result = FX_E_NOT_FOUND; /* its blob is missing (reported at start) */
    if (result == FX_OK) {
        fx_store_column_text(st, 0, body->function_id, sizeof body->function_id);
        body->kind = (uint8_t) sqlite3_column_int(st, 1);
        fx_store_column_text(st, 2, body->entry, sizeof body->entry);
        fx_store_column_text(st, 3, body->serializer, sizeof body->serializer);
        fx_store_column_text(st, 4, body->dill_version, sizeof body->dill_version);
    }
    sqlite3_reset(st);
    return result;
}

int fx_store_endpoint_allowed(fx_store_t *self, const char *endpoint_id, const fx_id_text_t *ids,
                              uint32_t count)
{
    size_t len = (size_t) count * (FX_ID_LEN + 1) + 1;
    char *list = malloc(len);
    if (!list)
        return FX_E_NOMEM;
    list[0] = '\0';
    size_t at = 0;
    for (uint32_t i = 0; i < count; i++)
        at += (size_t) snprintf(list + at, len - at, "%s%s", i ? " " : "", ids[i]);
    sqlite3_stmt *st = fx_store_st(self, ST_EP_ALLOWED);
    fx_store_bind_text(st, 1, endpoint_id);
    fx_store_bind_text(st, 2, list);
    int rc = fx_store_exec(self, st);
    free(list);
    return rc;
}
