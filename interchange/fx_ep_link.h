/*  fx_ep_link.h: this endpoint's link to its forwarder in the broker.

    A DEALER CurveZMQ client to the broker's ENDPOINT address, with the
    endpoint's keypair. The link is SAYING_HELLO from each ENDPOINT_HELLO
    until the broker's WELCOME, then READY. Sends never block: a message
    the socket cannot take now is refused (FX_E_IO) and the caller keeps its
    state to try again (results stay pending; credit and heartbeats are
    periodic anyway). ZeroMQ's own heartbeats (ZMQ_HEARTBEAT_*) close a dead
    TCP connection so the DEALER reconnects by itself; the application-level
    silence check (fx_ep_link_silent) decides when to say hello again. */
#ifndef FX_EP_LINK_H
#define FX_EP_LINK_H

#include <stdbool.h>

#include "fx_conf.h"
#include "fx_msg.h"

typedef enum { FX_EP_LINK_SAYING_HELLO, FX_EP_LINK_READY } fx_ep_link_state_t;

typedef struct fx_ep_link_t fx_ep_link_t;

/* Connect (asynchronously) to addr. NULL with a sentence in err. */
fx_ep_link_t *fx_ep_link_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                             const char *endpoint_id, int heartbeat_ms, char *err, size_t errlen);
void fx_ep_link_destroy(fx_ep_link_t **self_p);

/* The socket, for the caller's poller. */
zsock_t *fx_ep_link_socket(fx_ep_link_t *self);
const char *fx_ep_link_address(fx_ep_link_t *self);

/* Send ENDPOINT_HELLO; the link is SAYING_HELLO until fx_ep_link_welcomed. */
int fx_ep_link_hello(fx_ep_link_t *self);
/* The seq of the last ENDPOINT_HELLO: an ERROR echoing an older seq answers
   a message sent before it, so it says nothing about the new session. */
uint32_t fx_ep_link_hello_seq(fx_ep_link_t *self);
void fx_ep_link_welcomed(fx_ep_link_t *self, uint32_t broker_heartbeat_ms);
fx_ep_link_state_t fx_ep_link_state(fx_ep_link_t *self);
/* True once the broker has welcomed this endpoint at least once. */
bool fx_ep_link_ever_ready(fx_ep_link_t *self);

/* Send msg (destroyed) with the next seq of this link unless seq_echo is
   nonzero (a reply). FX_OK, FX_E_IO if the socket would block, or an
   encode error. */
int fx_ep_link_send(fx_ep_link_t *self, fx_msg_t **msg_p, uint32_t seq_echo);

/* Read one message (non-blocking). FX_OK with *msg_p set; FX_E_TIMEOUT if
   nothing is waiting; a decode error (already logged and answered). */
int fx_ep_link_recv(fx_ep_link_t *self, fx_msg_t **msg_p);

/* True if the broker said nothing for `beats` heartbeat periods (the longer
   of ours and the broker's) since the last message or the last hello. */
bool fx_ep_link_silent(fx_ep_link_t *self, int64_t now, int beats);

#endif
