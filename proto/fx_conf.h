/*  fx_conf.h: the small files fx keeps on disk, and CurveZMQ plumbing.

    Files are "key = value" lines; '#' starts a comment line. Secrets are
    written with mode 0600 via a temporary file and rename, so a reader never
    sees half a file. */
#ifndef FX_CONF_H
#define FX_CONF_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "fx_limits.h"
#include "fx_msg.h"

#define FX_ADDR_MAX 256
#define FX_KV_MAX 32

/* A parsed key = value file. */
typedef struct {
    int count;
    char key[FX_KV_MAX][64];
    char value[FX_KV_MAX][FX_ADDR_MAX];
} fx_kv_t;

/* Parse path. Returns 0, or -1 with a sentence naming the file and line
   (or the errno text) in err. */
int fx_kv_load(const char *path, fx_kv_t *kv, char *err, size_t errlen);
/* The value for key, or NULL. */
const char *fx_kv_get(const fx_kv_t *kv, const char *key);
/* Add or replace. Returns 0, -1 if full or too long. */
int fx_kv_set(fx_kv_t *kv, const char *key, const char *value);
/* Write atomically with the given mode (0600 for secrets). 0 or -1 (errno). */
int fx_kv_save(const char *path, const fx_kv_t *kv, int mode, const char *comment);

/* A user's credentials file: how to reach the broker and who I am. */
typedef struct {
    char broker_client[FX_ADDR_MAX];    /* tcp://host:port of the client port */
    char broker_endpoint[FX_ADDR_MAX];  /* tcp://host:port of the endpoint port */
    char broker_public_key[FX_KEY_LEN + 1];
    fx_id_text_t user_id;
    char public_key[FX_KEY_LEN + 1];
    char secret_key[FX_KEY_LEN + 1];
} fx_creds_t;

/* Load and check every field (ids canonical, keys 40 chars of z85). Returns
   0 or -1 with a sentence in err that names the file and the bad field. */
int fx_creds_load(const char *path, fx_creds_t *creds, char *err, size_t errlen);
/* Write with mode 0600. 0 or -1 (errno). */
int fx_creds_save(const char *path, const fx_creds_t *creds);

/* A keypair in z85 text. */
typedef struct {
    char public_key[FX_KEY_LEN + 1];
    char secret_key[FX_KEY_LEN + 1];
} fx_keypair_t;

/* New random keypair (zmq_curve_keypair). 0 or -1. */
int fx_keypair_new(fx_keypair_t *kp);
/* Load a keypair file (keys public_key, secret_key); if it does not exist
   and create is true, make a new one and save it with mode 0600.
   0 or -1 with a sentence in err. */
int fx_keypair_load(const char *path, fx_keypair_t *kp, bool create, char *err, size_t errlen);
/* True if text is 40 chars of z85 that decode to 32 bytes. */
bool fx_key_valid(const char *text);

/* Make sock a CurveZMQ server with this keypair, authenticated by the ZAP
   handler under zap_domain. */
void fx_curve_server(zsock_t *sock, const fx_keypair_t *kp, const char *zap_domain);
/* Make sock a CurveZMQ client of the server whose public key is given. */
void fx_curve_client(zsock_t *sock, const fx_keypair_t *kp, const char *server_public_key);

/* The ZAP handler side (RFC 27). One REP socket bound to
   inproc://zeromq.zap.01 in the process's context, polled in the owner's
   loop: the answer comes from the owner's own state, no thread needed. */
typedef struct {
    char version[8];
    char request_id[256];
    char domain[256];
    char mechanism[16];
    char client_key[FX_KEY_LEN + 1]; /* z85; "" unless mechanism is CURVE */
} fx_zap_request_t;

/* Bind the handler socket. NULL if another handler is bound already. */
zsock_t *fx_zap_bind(void);
/* Read one request. 0, or -1 for a malformed request (already answered
   with status 400 where possible). */
int fx_zap_recv(zsock_t *zap, fx_zap_request_t *req);
/* Answer: allowed ("200", user_id becomes the peer's User-Id property) or
   denied ("400"). */
int fx_zap_reply(zsock_t *zap, const fx_zap_request_t *req, bool allow, const char *user_id);

/* The User-Id the ZAP handler gave the connection a frame came in on, or
   NULL (plaintext or no ZAP). */
const char *fx_peer_user_id(zframe_t *frame);

/* Directory of the running executable (for finding sibling binaries). */
int fx_self_dir(char *out, size_t cap);

/* Monotonic milliseconds. */
int64_t fx_now_ms(void);

#endif
