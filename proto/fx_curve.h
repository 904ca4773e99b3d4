/*  fx_curve.h: CurveZMQ on fx's sockets and the ZAP handler side (RFC 27)
    that admits only registered keys. */
#ifndef FX_CURVE_H
#define FX_CURVE_H

#include <czmq.h>
#include <stdbool.h>

#include "fx_creds.h"
#include "fx_limits.h"

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

#endif
