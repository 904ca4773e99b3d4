/*  fx_mgr_socket.h: the manager's socket to its interchange (SPEC 2.2, 2.3).

    A CurveZMQ DEALER with the manager's keypair and the interchange's
    public key, connecting to --interchange, ZMQ_IMMEDIATE (nothing queues
    while there is no connection, so the socket is writable only once a
    handshake has succeeded). libzmq never retries a handshake the server
    refused, and a socket whose handshake fails never becomes writable, so
    after an attempt that brought no WELCOME the link replaces the socket
    with a new one (fx_mgr_socket_renew, SPEC 2.3.5).

    A monitor on each socket follows what its connection did (never
    connected; handshake failed; our key refused by ZAP; admitted), so that
    a failed attempt is reported with its probable cause (SPEC 2.3.2)
    instead of silence. */
#ifndef FX_MGR_SOCKET_H
#define FX_MGR_SOCKET_H

#include <czmq.h>

#include "fx_creds.h"

typedef struct fx_mgr_socket_t fx_mgr_socket_t;

/* A socket connecting to addr. NULL with a sentence in err. Caller owns
   the return value. */
fx_mgr_socket_t *fx_mgr_socket_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                                   char *err, size_t errlen);

/* Closes the socket, lingering up to a second for what is queued.
   Accepts NULL. */
void fx_mgr_socket_destroy(fx_mgr_socket_t **self_p);

/* The DEALER itself, and its monitor (NULL if it has none): the loop polls
   both; they change with each renewal. */
zsock_t *fx_mgr_socket_zsock(fx_mgr_socket_t *self);
zsock_t *fx_mgr_socket_monitor(fx_mgr_socket_t *self);

/* Closes the socket at once (what is queued on it is dropped: the caller
   sends it again after the next WELCOME) and makes a new one, keys set
   again and connecting. 0, or -1 (logged) keeping
   the old socket. */
int fx_mgr_socket_renew(fx_mgr_socket_t *self);

/* Reads the monitor's events that are waiting (never blocks). Call on
   every pass of the loop: a monitor that is not read stalls libzmq. */
void fx_mgr_socket_events(fx_mgr_socket_t *self);

/* Why the current socket has carried no WELCOME, probably: a sentence
   naming the likely cause (key not registered with the interchange, wrong
   --server-key, interchange down), valid until the next call. */
const char *fx_mgr_socket_diagnosis(fx_mgr_socket_t *self);

#endif
