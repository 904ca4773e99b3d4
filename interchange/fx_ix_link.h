/*  fx_ix_link.h: the interchange's link to its forwarder in the broker,
    and the link's state machine (SPEC 6.2, interchange side of the
    endpoint port).

    A DEALER CurveZMQ client to the broker's ENDPOINT address, with the
    endpoint's keypair. Sends never block: a message the socket cannot take
    now is refused (FX_E_IO) and the caller keeps its state to try again
    (results stay pending; credit and heartbeats are periodic anyway).
    ZeroMQ's own heartbeats (ZMQ_HEARTBEAT_*) close a dead TCP connection so
    the DEALER reconnects by itself; the application-level silence check
    (the TICK event) decides when to say hello again.

    States, as SPEC 6.2 names them:

        START       a socket connecting; no hello said on it yet. Left at
                    once: the step that enters it says ENDPOINT_HELLO.
        HELLO_SENT  ENDPOINT_HELLO said; waiting for WELCOME (a silence
                    check says it again on a new socket, backing off)
        ACTIVE      welcomed: a broker session; phase 7 sends only now
        CLOSED      refused for good (a configuration problem): the
                    endpoint exits 1

    Every change of state is made by fx_ix_link_step, whose body is the
    SPEC's table row by row. The link does what concerns the link itself
    (hello, new socket, back-off, log); what concerns the interchange's
    tasks and results it returns for the caller to do. */
#ifndef FX_IX_LINK_H
#define FX_IX_LINK_H

#include <stdbool.h>

#include "fx_conf.h"
#include "fx_msg.h"

typedef enum {
    FX_IX_LINK_START,
    FX_IX_LINK_HELLO_SENT,
    FX_IX_LINK_ACTIVE,
    FX_IX_LINK_CLOSED,
} fx_ix_link_state_t;

/* What happened on the link. */
typedef enum {
    FX_IX_LINK_TICK,    /* a pass of the loop: the silence check (and, in START, the first hello) */
    FX_IX_LINK_WELCOME, /* the broker sent WELCOME */
    FX_IX_LINK_ERROR,   /* the broker sent ERROR */
} fx_ix_link_event_t;

/* What the caller has to do after a step. */
typedef enum {
    FX_IX_LINK_DO_NOTHING,
    FX_IX_LINK_DO_FIRST_SESSION, /* first WELCOME of this run: the endpoint is ready */
    FX_IX_LINK_DO_NEW_SESSION,   /* a later WELCOME: announce the window and status anew, resend every
                                    unacknowledged result, age the tasks held (SPEC 7.7) */
    FX_IX_LINK_DO_RESEND,        /* ERROR FX_E_IO: the broker could not commit a RESULTS batch */
    FX_IX_LINK_DO_COUNT_REHELLO, /* ENDPOINT_HELLO said again (counted in the stats) */
    FX_IX_LINK_DO_EXIT,          /* CLOSED: stop and exit 1 (logged already) */
} fx_ix_link_do_t;

typedef struct fx_ix_link_t fx_ix_link_t;

/* Connect (asynchronously) to addr; the link is in START. A peer silent
   for `missed` heartbeat periods is lost. NULL with a sentence in err. */
fx_ix_link_t *fx_ix_link_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                             const char *endpoint_id, int heartbeat_ms, int missed, char *err, size_t errlen);
/* The functions this endpoint allows (the config's allowed_functions;
   borrowed, must outlive the link; NULL: any): every ENDPOINT_HELLO names
   them (SPEC 5.18), unless there are more than FX_IDS_MAX (logged: then
   none, and only the interchange's own check refuses the others). Call
   before the first step. */
void fx_ix_link_set_allowed(fx_ix_link_t *self, const fx_id_text_t *ids, size_t count);

void fx_ix_link_destroy(fx_ix_link_t **self_p);

/* The SPEC 6.2 table: apply event (msg: the WELCOME or ERROR; NULL for
   TICK) at time now. */
fx_ix_link_do_t fx_ix_link_step(fx_ix_link_t *self, fx_ix_link_event_t event, const fx_msg_t *msg,
                                int64_t now);

fx_ix_link_state_t fx_ix_link_state(fx_ix_link_t *self);
/* How many WELCOMEs began a session in this run (0 until the first). */
int fx_ix_link_sessions(fx_ix_link_t *self);
/* The seq of the last request sent (FX_IX_SEQ_REQUEST), which its answer
   carries. */
uint32_t fx_ix_link_last_seq(const fx_ix_link_t *self);
const char *fx_ix_link_state_name(fx_ix_link_state_t state);

/* The socket, for the caller's poller; and the poller (not owned; NULL:
   none) in which a new socket replaces the old one when the link renews
   it (SPEC 2.3.5: libzmq never retries a handshake the broker's ZAP
   refused, so a hello that follows a silence goes out on a new socket;
   messages queued on the old one are dropped, and unacked results go out
   again after the WELCOME). */
zsock_t *fx_ix_link_socket(fx_ix_link_t *self);
void fx_ix_link_set_poller(fx_ix_link_t *self, zpoller_t *poller);
const char *fx_ix_link_address(fx_ix_link_t *self);

/* seq for fx_ix_link_send: a request takes the next number of this link;
   HEARTBEAT, CREDIT and unsolicited ERROR carry 0 (SPEC 3.6); a reply
   passes its request's seq. */
#define FX_IX_SEQ_REQUEST (-1)
#define FX_IX_SEQ_NONE 0

/* Send msg (destroyed) with seq as above. FX_OK, FX_E_IO if the socket
   would block, or an encode error. */
int fx_ix_link_send(fx_ix_link_t *self, fx_msg_t **msg_p, int64_t seq);

/* The same for a message whose payload frames the caller holds and sends
   shared (fx_ix_wire.h); msg is not destroyed. */
int fx_ix_link_send_shared(fx_ix_link_t *self, fx_msg_t *msg, int64_t seq, zframe_t *const *frames,
                           size_t nframes);

/* Read one message (non-blocking). FX_OK with *msg_p set; FX_E_TIMEOUT if
   nothing is waiting; a decode error (already logged and answered). */
int fx_ix_link_recv(fx_ix_link_t *self, fx_msg_t **msg_p);

/* The heartbeat period of this link: ours until the broker's first
   WELCOME, then the one it announced (the connecting side adopts it, SPEC
   9.1). */
int fx_ix_link_period(fx_ix_link_t *self);

#endif
