/*  fx_creds.c: credentials files and CurveZMQ keypairs on disk (fx_creds.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fx_creds.h"
#include "fx_log.h"

bool fx_key_valid(const char *text)
{
    if (!text || strlen(text) != FX_KEY_LEN)
        return false;
    uint8_t bin[32];
    return zmq_z85_decode(bin, text) != NULL;
}

bool fx_keys_match(const char *public_key, const char *secret_key)
{
    char derived[FX_KEY_LEN + 1];
    if (!fx_key_valid(public_key) || !fx_key_valid(secret_key))
        return false;
    if (zmq_curve_public(derived, secret_key) != 0)
        return false;
    return strcmp(derived, public_key) == 0;
}

bool fx_secret_file_exposed(const char *path, char *warn, size_t warnlen)
{
    struct stat st;
    if (stat(path, &st) != 0 || (st.st_mode & 077) == 0)
        return false;
    snprintf(warn, warnlen,
             "%s holds a secret key but others may read it (mode %04o); run: chmod 600 %s", path,
             (unsigned) (st.st_mode & 07777), path);
    return true;
}

/* Logs a warning when a secret file is open to others. */
static void s_warn_if_exposed(const char *path)
{
    char warn[512 + 2 * FX_ADDR_MAX];
    if (fx_secret_file_exposed(path, warn, sizeof warn))
        fx_warn("%s", warn);
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
    if (!fx_keys_match(c->public_key, c->secret_key)) {
        snprintf(err, errlen,
                 "%s is inconsistent: its secret_key does not belong to its public_key (was the file edited "
                 "by hand or put together from two files? make it again with `fx user create`)",
                 path);
        return -1;
    }
    s_warn_if_exposed(path);
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
    if (!fx_keys_match(kp->public_key, kp->secret_key)) {
        snprintf(err, errlen, "%s is inconsistent: its secret_key does not belong to its public_key", path);
        return -1;
    }
    s_warn_if_exposed(path);
    return 0;
}
