/*  fx_ix_link.h: this endpoint's link to its forwarder in the broker.

    A DEALER CurveZMQ client to the broker's ENDPOINT address, with the
    endpoint's keypair. The link is SAYING_HELLO from each ENDPOINT_HELLO
    until the broker's WELCOME, then READY. Sends never block: a message
    the socket cannot take now is refused (FX_E_IO) and the caller keeps its
    state to try again (results stay pending; credit and heartbeats are
    periodic anyway). ZeroMQ's own heartbeats (ZMQ_HEARTBEAT_*) close a dead
    TCP connection so the DEALER reconnects by itself; the application-level
    silence check (fx_ix_link_silent) decides when to say hello again. */
#ifndef FX_IX_LINK_H
#define FX_IX_LINK_H

#include <stdbool.h>

#include "fx_conf.h"
#include "fx_msg.h"

typedef enum { FX_IX_LINK_SAYING_HELLO, FX_IX_LINK_READY } fx_ix_link_state_t;

typedef struct fx_ix_link_t fx_ix_link_t;

/* Connect (asynchronously) to addr. NULL with a sentence in err. */
fx_ix_link_t *fx_ix_link_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                             const char *endpoint_id, int heartbeat_ms, char *err, size_t errlen);
void fx_ix_link_destroy(fx_ix_link_t **self_p);

/* Replace the socket by a new one (CURVE keys set again, connecting), as
   SPEC 2.3.5 requires before a hello that follows a WELCOME timeout:
   libzmq never retries a handshake the broker's ZAP refused (an endpoint
   registered while its socket was connecting, a broker restored from an
   older store). Messages queued on the old socket are dropped; results
   stay unacked and go out again after the WELCOME. The caller swaps the
   socket in its poller. 0, or -1 (logged) keeping the old socket. */
int fx_ix_link_renew(fx_ix_link_t *self);

/* The socket, for the caller's poller. */
zsock_t *fx_ix_link_socket(fx_ix_link_t *self);
const char *fx_ix_link_address(fx_ix_link_t *self);

/* Send ENDPOINT_HELLO; the link is SAYING_HELLO until fx_ix_link_welcomed. */
int fx_ix_link_hello(fx_ix_link_t *self);
/* The seq of the last ENDPOINT_HELLO: an ERROR echoing an older seq answers
   a message sent before it, so it says nothing about the new session. */
uint32_t fx_ix_link_hello_seq(fx_ix_link_t *self);
void fx_ix_link_welcomed(fx_ix_link_t *self, uint32_t broker_heartbeat_ms);
fx_ix_link_state_t fx_ix_link_state(fx_ix_link_t *self);
/* True once the broker has welcomed this endpoint at least once. */
bool fx_ix_link_ever_ready(fx_ix_link_t *self);

/* seq for fx_ix_link_send: a request takes the next number of this link;
   HEARTBEAT, CREDIT and unsolicited ERROR carry 0 (SPEC 3.6); a reply
   passes its request's seq. */
#define FX_IX_SEQ_REQUEST (-1)
#define FX_IX_SEQ_NONE 0

/* Send msg (destroyed) with seq as above. FX_OK, FX_E_IO if the socket
   would block, or an encode error. */
int fx_ix_link_send(fx_ix_link_t *self, fx_msg_t **msg_p, int64_t seq);

/* Read one message (non-blocking). FX_OK with *msg_p set; FX_E_TIMEOUT if
   nothing is waiting; a decode error (already logged and answered). */
int fx_ix_link_recv(fx_ix_link_t *self, fx_msg_t **msg_p);

/* The heartbeat period of this link: ours until the broker's WELCOME, then
   the one it announced (the connecting side adopts it, SPEC 9.1). */
int fx_ix_link_period(fx_ix_link_t *self);

/* True if it is time to say ENDPOINT_HELLO again: READY and the broker said
   nothing for `beats` periods; or SAYING_HELLO and no answer for `beats`
   periods, doubled after each unanswered hello up to 30 s (back off). */
bool fx_ix_link_silent(fx_ix_link_t *self, int64_t now, int beats);

#endif
