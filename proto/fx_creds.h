/*  fx_creds.h: who a process is and how it reaches the broker: credentials
    files and CurveZMQ keypairs on disk.

    Both hold secret keys, so they are written with mode 0600; loading one
    that others may read logs a warning (ssh refuses such keys; fx warns and
    goes on, so a shared test box still works). */
#ifndef FX_CREDS_H
#define FX_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "fx_kv.h"
#include "fx_limits.h"
#include "fx_msg.h"

/* A user's credentials file: how to reach the broker and who I am. */
typedef struct {
    char broker_client[FX_ADDR_MAX];    /* tcp://host:port of the client port */
    char broker_endpoint[FX_ADDR_MAX];  /* tcp://host:port of the endpoint port */
    char broker_public_key[FX_KEY_LEN + 1];
    fx_id_text_t user_id;
    char public_key[FX_KEY_LEN + 1];
    char secret_key[FX_KEY_LEN + 1];
} fx_creds_t;

/* Load and check every field (ids canonical, keys 40 chars of z85, the
   secret key belonging to the public key). Returns 0 or -1 with a sentence
   in err that names the file and the bad field. */
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
   and create is true, make a new one and save it with mode 0600. Checks
   that the two keys belong together. 0 or -1 with a sentence in err. */
int fx_keypair_load(const char *path, fx_keypair_t *kp, bool create, char *err, size_t errlen);
/* True if text is 40 chars of z85 that decode to 32 bytes. */
bool fx_key_valid(const char *text);
/* True if secret_key's public key is public_key (both valid). */
bool fx_keys_match(const char *public_key, const char *secret_key);

/* If path can be read or written by others, a sentence saying so (and what
   to do) in warn, and true. */
bool fx_secret_file_exposed(const char *path, char *warn, size_t warnlen);

#endif
