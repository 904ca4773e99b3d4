/*  fx_conf.c: key = value files, credentials and keypairs on disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fx_conf.h"

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int fx_kv_load(const char *path, fx_kv_t *kv, char *err, size_t errlen)
{
    memset(kv, 0, sizeof *kv);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        const char *key = s_trim(s);
        const char *value = s_trim(eq + 1);
        if (*key == '\0' || fx_kv_set(kv, key, value) != 0) {
            snprintf(err, errlen, "%s:%d: empty key, key or value too long, or too many keys", path,
                     lineno);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *fx_kv_get(const fx_kv_t *kv, const char *key)
{
    for (int i = 0; i < kv->count; i++)
        if (strcmp(kv->key[i], key) == 0)
            return kv->value[i];
    return NULL;
}

int fx_kv_set(fx_kv_t *kv, const char *key, const char *value)
{
    if (strlen(key) >= sizeof kv->key[0] || strlen(value) >= sizeof kv->value[0])
        return -1;
    int i = 0;
    while (i < kv->count && strcmp(kv->key[i], key) != 0)
        i++;
    if (i == kv->count) {
        if (kv->count == FX_KV_MAX)
            return -1;
        kv->count++;
    }
    strcpy(kv->key[i], key);
    strcpy(kv->value[i], value);
    return 0;
}

int fx_kv_save(const char *path, const fx_kv_t *kv, int mode, const char *comment)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid()) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (comment)
        fprintf(f, "# %s\n", comment);
    for (int i = 0; i < kv->count; i++)
        fprintf(f, "%s = %s\n", kv->key[i], kv->value[i]);
    int rc = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && fchmodat(AT_FDCWD, tmp, (mode_t) mode, 0) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
    }
    return rc;
}

bool fx_key_valid(const char *text)
{
    if (!text || strlen(text) != FX_KEY_LEN)
        return false;
    uint8_t bin[32];
    return zmq_z85_decode(bin, text) != NULL;
}

/* Copies a required field of a credentials or key file, checking it. */
static int s_field(const fx_kv_t *kv, const char *path, const char *key, char *dst, size_t cap,
                   char *err, size_t errlen)
{
    const char *value = fx_kv_get(kv, key);
    if (!value || !*value) {
        snprintf(err, errlen, "%s: missing '%s'", path, key);
        return -1;
    }
    if (fx_strlcpy(dst, value, cap) != FX_OK) {
        snprintf(err, errlen, "%s: '%s' is too long", path, key);
        return -1;
    }
    return 0;
}

int fx_creds_load(const char *path, fx_creds_t *c, char *err, size_t errlen)
{
    fx_kv_t kv;
    memset(c, 0, sizeof *c);
    if (fx_kv_load(path, &kv, err, errlen) != 0)
        return -1;
    if (s_field(&kv, path, "broker_client", c->broker_client, sizeof c->broker_client, err, errlen) ||
        s_field(&kv, path, "broker_endpoint", c->broker_endpoint, sizeof c->broker_endpoint, err,
                errlen) ||
        s_field(&kv, path, "broker_public_key", c->broker_public_key, sizeof c->broker_public_key,
                err, errlen) ||
        s_field(&kv, path, "user_id", c->user_id, sizeof c->user_id, err, errlen) ||
        s_field(&kv, path, "public_key", c->public_key, sizeof c->public_key, err, errlen) ||
        s_field(&kv, path, "secret_key", c->secret_key, sizeof c->secret_key, err, errlen))
        return -1;
    const char *bad = !fx_key_valid(c->broker_public_key) ? "broker_public_key"
                      : !fx_key_valid(c->public_key)      ? "public_key"
                      : !fx_key_valid(c->secret_key)      ? "secret_key"
                      : !fx_id_valid(c->user_id)          ? "user_id"
                                                          : NULL;
    if (bad) {
        snprintf(err, errlen, "%s: '%s' is not valid (keys are 40 characters of z85, ids canonical UUIDs)",
                 path, bad);
        return -1;
    }
    return 0;
}

int fx_creds_save(const char *path, const fx_creds_t *c)
{
    fx_kv_t kv = { 0 };
    fx_kv_set(&kv, "broker_client", c->broker_client);
    fx_kv_set(&kv, "broker_endpoint", c->broker_endpoint);
    fx_kv_set(&kv, "broker_public_key", c->broker_public_key);
    fx_kv_set(&kv, "user_id", c->user_id);
    fx_kv_set(&kv, "public_key", c->public_key);
    fx_kv_set(&kv, "secret_key", c->secret_key);
    return fx_kv_save(path, &kv, 0600, "fx credentials: keep secret (mode 0600)");
}

int fx_keypair_new(fx_keypair_t *kp)
{
    return zmq_curve_keypair(kp->public_key, kp->secret_key) == 0 ? 0 : -1;
}

int fx_keypair_load(const char *path, fx_keypair_t *kp, bool create, char *err, size_t errlen)
{
    fx_kv_t kv;
    memset(kp, 0, sizeof *kp);
    if (access(path, F_OK) != 0 && errno == ENOENT && create) {
        if (fx_keypair_new(kp) != 0) {
            snprintf(err, errlen, "cannot make a keypair: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        fx_kv_t out = { 0 };
        fx_kv_set(&out, "public_key", kp->public_key);
        fx_kv_set(&out, "secret_key", kp->secret_key);
        if (fx_kv_save(path, &out, 0600, "CurveZMQ keypair: keep secret (mode 0600)") != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (fx_kv_load(path, &kv, err, errlen) != 0)
        return -1;
    if (s_field(&kv, path, "public_key", kp->public_key, sizeof kp->public_key, err, errlen) ||
        s_field(&kv, path, "secret_key", kp->secret_key, sizeof kp->secret_key, err, errlen))
        return -1;
    if (!fx_key_valid(kp->public_key) || !fx_key_valid(kp->secret_key)) {
        snprintf(err, errlen, "%s: keys must be 40 characters of z85", path);
        return -1;
    }
    return 0;
}
