/*  fx_store_containers.c: containers in the store (issue 10, SPEC 5.33,
    12.7): a user's records of a name, a runtime and an image under an id
    the client minted, the checks that a function version or a task names
    one of the owner's, their definitions for CONTAINERS and their
    listing. Which container a task runs in is resolved at dispatch
    (fx_store_tasks.c); this file only keeps the records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_container.h"
#include "fx_store_int.h"

/* The runtimes a container may name (SPEC 5.33), for error sentences. */
#define S_RUNTIMES "bwrap, podman, docker, apptainer or singularity"

int fx_store_container_fields(const char *container_id, const char *name, const char *runtime,
                              const char *image, char *err, size_t errlen)
{
    fx_runtime_t rt;
    if (!fx_id_valid(container_id)) {
        snprintf(err, errlen, "container id is not a canonical UUID: mint one with fx_id_new");
        return FX_E_BAD_FIELD;
    }
    if (!fx_store_name_valid(name, false)) {
        snprintf(err, errlen, "container name is empty or has control characters: give a name");
        return FX_E_BAD_FIELD;
    }
    if (!runtime || fx_runtime_parse(runtime, &rt) != 0 || rt == FX_RUNTIME_NONE) {
        snprintf(err, errlen, "container %s: runtime '%s' is not one of " S_RUNTIMES, container_id,
                 runtime ? runtime : "");
        return FX_E_BAD_FIELD;
    }
    if (!image || (!image[0] && rt != FX_RUNTIME_BWRAP)) {
        snprintf(err, errlen,
                 "container %s: runtime %s needs an image (a registry reference or a .sif path); only "
                 "bwrap may leave it empty (the host's root)",
                 container_id, runtime);
        return FX_E_BAD_FIELD;
    }
    bool control = false;
    for (const unsigned char *p = (const unsigned char *) image; *p && !control; p++)
        control = *p < 0x20 || *p == 0x7f;
    if (control || strlen(image) > FX_IMAGE_MAX) {
        snprintf(err, errlen, "container %s: the image has control characters or is over %d bytes",
                 container_id, FX_IMAGE_MAX);
        return FX_E_BAD_FIELD;
    }
    return FX_OK;
}

/* The row of ST_CT_GET into def and owner (either may be NULL); its
   description compared with description when same is not NULL. FX_OK,
   FX_E_NOT_FOUND, FX_E_IO. */
static int s_get(fx_store_t *self, const char *container_id, char owner[FX_ID_LEN + 1], fx_container_def_t *def,
                 const char *description, bool *same_description)
{
    sqlite3_stmt *st = fx_store_st(self, ST_CT_GET);
    fx_store_bind_text(st, 1, container_id);
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? FX_OK : rc == SQLITE_DONE ? FX_E_NOT_FOUND : fx_store_fail(self);
    if (rc == SQLITE_ROW) {
        if (owner)
            fx_store_column_text(st, 0, owner, FX_ID_LEN + 1);
        if (def) {
            memset(def, 0, sizeof *def);
            fx_strlcpy(def->container_id, container_id, sizeof def->container_id);
            fx_store_column_text(st, 1, def->name, sizeof def->name);
            fx_store_column_text(st, 2, def->runtime, sizeof def->runtime);
            fx_store_column_text(st, 3, def->image, sizeof def->image);
        }
        if (same_description) {
            const char *old = (const char *) sqlite3_column_text(st, 4);
            *same_description = (!old && !description) || (old && description && strcmp(old, description) == 0);
        }
    }
    sqlite3_reset(st);
    return result;
}

int fx_store_container_register(fx_store_t *self, const char *owner, const char *container_id, const char *name,
                                const char *runtime, const char *image, const char *description, bool *changed,
                                char *err, size_t errlen)
{
    if (changed)
        *changed = false;
    int rc = fx_store_container_fields(container_id, name, runtime, image, err, errlen);
    if (rc != FX_OK)
        return rc;
    if (description && strlen(description) > FX_TEXT_MAX) {
        snprintf(err, errlen, "container %s: the description is over %d bytes", container_id, FX_TEXT_MAX);
        return FX_E_BAD_FIELD;
    }
    if (fx_store_begin(self) != FX_OK)
        goto io;
    char holder[FX_ID_LEN + 1] = "";
    fx_container_def_t old;
    bool same_description = false;
    rc = s_get(self, container_id, holder, &old, description, &same_description);
    if (rc == FX_E_IO)
        goto io;
    if (rc == FX_OK) {
        if (strcmp(holder, owner) != 0) {
            fx_store_rollback(self);
            snprintf(err, errlen, "container id %s is held by another user: mint a new id", container_id);
            return FX_E_CONFLICT;
        }
        bool same_def = strcmp(old.name, name) == 0 && strcmp(old.runtime, runtime) == 0 &&
                        strcmp(old.image, image) == 0;
        if (same_def && same_description) { /* the same again: a no-op */
            fx_store_rollback(self);
            return FX_OK;
        }
        if (changed)
            *changed = !same_def;
    }
    sqlite3_stmt *st = fx_store_st(self, rc == FX_OK ? ST_CT_UPDATE : ST_CT_INSERT);
    fx_store_bind_text(st, 1, container_id);
    fx_store_bind_text(st, 2, name);
    fx_store_bind_text(st, 3, runtime);
    fx_store_bind_text(st, 4, image);
    fx_store_bind_text(st, 5, description);
    sqlite3_bind_int64(st, 6, fx_store_wall_ms());
    if (rc != FX_OK)
        fx_store_bind_text(st, 7, owner);
    if (fx_store_exec(self, st) != FX_OK || fx_store_commit(self) != FX_OK)
        goto io;
    return FX_OK;
io:
    fx_store_rollback(self);
    snprintf(err, errlen, "cannot store container %s: %s", container_id, self->errmsg);
    return FX_E_IO;
}

int fx_store_container_owned(fx_store_t *self, const char *owner, const char *container_id, char *err,
                             size_t errlen)
{
    if (!container_id || !container_id[0])
        return FX_OK;
    char holder[FX_ID_LEN + 1] = "";
    int rc = fx_id_valid(container_id) ? s_get(self, container_id, holder, NULL, NULL, NULL) : FX_E_NOT_FOUND;
    if (rc == FX_E_IO)
        snprintf(err, errlen, "cannot look up container %s: %s", container_id, self->errmsg);
    else if (rc == FX_E_NOT_FOUND || strcmp(holder, owner) != 0) {
        /* another user's reads as unknown: the broker does not say whose it is */
        snprintf(err, errlen, "you have no container %s: register it first (fx containers lists yours)",
                 container_id);
        rc = FX_E_NOT_FOUND;
    }
    return rc;
}

int fx_store_container_get(fx_store_t *self, const char *container_id, fx_container_def_t *def)
{
    return s_get(self, container_id, NULL, def, NULL, NULL);
}

int fx_store_list_containers(fx_store_t *self, const char *owner, uint32_t max, fx_store_container_row_t *rows,
                             uint32_t *count)
{
    *count = 0;
    sqlite3_stmt *st = fx_store_st(self, ST_LIST_CT);
    fx_store_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, max);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *count < max) {
        fx_store_container_row_t *row = &rows[(*count)++];
        memset(row, 0, sizeof *row);
        fx_store_column_text(st, 0, row->def.container_id, sizeof row->def.container_id);
        fx_store_column_text(st, 1, row->def.name, sizeof row->def.name);
        fx_store_column_text(st, 2, row->def.runtime, sizeof row->def.runtime);
        fx_store_column_text(st, 3, row->def.image, sizeof row->def.image);
        fx_store_column_text(st, 4, row->description, sizeof row->description);
    }
    int result = rc == SQLITE_ROW || rc == SQLITE_DONE ? FX_OK : fx_store_fail(self);
    sqlite3_reset(st);
    return result;
}
