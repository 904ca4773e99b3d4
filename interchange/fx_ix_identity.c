/*  fx_ix_identity.c: endpoint.conf, endpoint.key and manager.key. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_ix_identity.h"

/* Joins dir and file into out; -1 if it does not fit. */
static int s_path(char *out, size_t cap, const char *dir, const char *file)
{
    int n = snprintf(out, cap, "%s/%s", dir, file);
    return n < 0 || (size_t) n >= cap ? -1 : 0;
}

/* Reads endpoint.conf, or mints a new id and writes it. */
static int s_load_conf(fx_ix_identity_t *self, const char *path, const char *name, char *err, size_t errlen)
{
    fx_kv_t kv = {0};
    bool dirty = false;
    if (access(path, F_OK) == 0) {
        if (fx_kv_load(path, &kv, err, errlen) != 0)
            return -1;
        const char *id = fx_kv_get(&kv, "endpoint_id");
        if (!id || !fx_id_valid(id)) {
            snprintf(err, errlen,
                     "%s: endpoint_id is missing or not a canonical id; restore the file "
                     "or start with an empty --dir to register a new endpoint",
                     path);
            return -1;
        }
        fx_strlcpy(self->endpoint_id, id, sizeof self->endpoint_id);
        const char *bind = fx_kv_get(&kv, "manager_bind");
        if (bind)
            fx_strlcpy(self->manager_bind, bind, sizeof self->manager_bind);
        const char *old = fx_kv_get(&kv, "name");
        dirty = !old || strcmp(old, name) != 0;
    }
    else {
        fx_id_new(self->endpoint_id);
        fx_kv_set(&kv, "endpoint_id", self->endpoint_id);
        self->created = true;
        dirty = true;
    }
    fx_strlcpy(self->name, name, sizeof self->name);
    if (dirty) {
        if (fx_kv_set(&kv, "name", name) != 0 ||
            fx_kv_save(path, &kv, 0600, "fx endpoint identity (written by fx-endpoint)") != 0) {
            snprintf(err, errlen,
                     "%s: cannot write the endpoint identity (%s); check that the "
                     "--dir is writable",
                     path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int fx_ix_identity_lock(const fx_ix_identity_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (s_path(path, sizeof path, self->dir, "endpoint.lock") != 0) {
        snprintf(err, errlen, "--dir %s is too long a path; use a shorter one", self->dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s (%s); check that the --dir is writable", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "another fx-endpoint runs with --dir %s (it holds %s); stop it first, or use "
                 "another --dir",
                 self->dir, path);
        close(fd);
        return -1;
    }
    return 0; /* fd stays open, and the lock held, until this process ends */
}

int fx_ix_identity_save_bind(fx_ix_identity_t *self, const char *addr, char *err, size_t errlen)
{
    if (strcmp(self->manager_bind, addr) == 0)
        return 0;
    char path[PATH_MAX];
    fx_kv_t kv = {0};
    if (s_path(path, sizeof path, self->dir, "endpoint.conf") != 0 || fx_kv_load(path, &kv, err, errlen) != 0)
        return -1;
    if (fx_kv_set(&kv, "manager_bind", addr) != 0 ||
        fx_kv_save(path, &kv, 0600, "fx endpoint identity (written by fx-endpoint)") != 0) {
        snprintf(err, errlen, "%s: cannot store manager_bind %s (%s); check that the --dir is writable", path,
                 addr, strerror(errno));
        return -1;
    }
    fx_strlcpy(self->manager_bind, addr, sizeof self->manager_bind);
    return 0;
}

int fx_ix_identity_load(fx_ix_identity_t *self, const char *dir, const char *name, char *err, size_t errlen)
{
    memset(self, 0, sizeof *self);
    char path[PATH_MAX];
    if (!name || !*name || strlen(name) > FX_NAME_MAX) {
        snprintf(err, errlen, "endpoint name '%s' must be 1 to %d characters; pass another --name",
                 name ? name : "", FX_NAME_MAX);
        return -1;
    }
    if (strlen(dir) + 32 >= sizeof self->dir) {
        snprintf(err, errlen, "--dir %s is too long a path; use a shorter one", dir);
        return -1;
    }
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    if (fx_file_mkdirs(dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create the state directory %s (%s); pass a writable --dir", dir,
                 strerror(errno));
        return -1;
    }
    if (s_path(path, sizeof path, dir, "endpoint.conf") != 0 ||
        s_load_conf(self, path, name, err, errlen) != 0)
        return -1;
    if (s_path(path, sizeof path, dir, "endpoint.key") != 0 ||
        fx_keypair_load(path, &self->endpoint_kp, true, err, errlen) != 0)
        return -1;
    if (s_path(self->manager_key_path, sizeof self->manager_key_path, dir, "manager.key") != 0 ||
        fx_keypair_load(self->manager_key_path, &self->manager_kp, true, err, errlen) != 0)
        return -1;
    return 0;
}
