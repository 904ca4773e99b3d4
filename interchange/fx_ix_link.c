/*  fx_ix_link.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_link.h"
#include "fx_log.h"

struct fx_ix_link_t {
    zsock_t *sock;
    char addr[FX_ADDR_MAX];
    fx_keypair_t kp;                 /* the endpoint's, for a new socket */
    char server_key[FX_KEY_LEN + 1]; /* the broker's */
    int renewals;                    /* sockets made after the first */
    fx_id_text_t endpoint_id;
    fx_ix_link_state_t state;
    bool ever_ready;
    int heartbeat_ms;        /* ours */
    int broker_heartbeat_ms; /* from WELCOME */
    int64_t last_heard;      /* last message from the broker, or last hello */
    int unanswered;          /* hellos since the last WELCOME */
    uint32_t seq;
    uint32_t hello_seq;
};

/* A new DEALER to the broker, CURVE keys set, connecting. NULL with a
   sentence in err. */
static zsock_t *s_socket(fx_ix_link_t *self, char *err, size_t errlen)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        snprintf(err, errlen, "cannot make a socket for the broker: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    fx_curve_client(sock, &self->kp, self->server_key);
    zsock_set_sndtimeo(sock, 0);
    zsock_set_linger(sock, 500); /* let the last results out on a clean stop */
    zsock_set_heartbeat_ivl(sock, self->heartbeat_ms);
    zsock_set_heartbeat_timeout(sock, 5 * self->heartbeat_ms);
    zsock_set_maxmsgsize(sock, (int) FX_WIRE_FRAME_MAX);
    if (zsock_connect(sock, "%s", self->addr) != 0) {
        snprintf(err, errlen,
                 "cannot connect to the broker's endpoint address %s; fix "
                 "broker_endpoint in the credentials file",
                 self->addr);
        zsock_destroy(&sock);
    }
    return sock;
}

fx_ix_link_t *fx_ix_link_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                             const char *endpoint_id, int heartbeat_ms, char *err, size_t errlen)
{
    fx_ix_link_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->addr, sizeof self->addr, "%s", addr);
    self->kp = *kp;
    fx_strlcpy(self->server_key, server_key, sizeof self->server_key);
    fx_strlcpy(self->endpoint_id, endpoint_id, sizeof self->endpoint_id);
    self->heartbeat_ms = heartbeat_ms;
    self->broker_heartbeat_ms = heartbeat_ms;
    self->last_heard = fx_now_ms();
    self->sock = s_socket(self, err, errlen);
    if (!self->sock)
        fx_ix_link_destroy(&self);
    return self;
}

int fx_ix_link_renew(fx_ix_link_t *self)
{
    char err[512];
    zsock_t *sock = s_socket(self, err, sizeof err);
    if (!sock) {
        fx_warn("%s; saying hello on the old socket", err);
        return -1;
    }
    zsock_set_linger(self->sock, 0); /* what is queued there is sent again after WELCOME */
    zsock_destroy(&self->sock);
    self->sock = sock;
    self->renewals++;
    return 0;
}

void fx_ix_link_destroy(fx_ix_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *fx_ix_link_socket(fx_ix_link_t *self)
{
    return self->sock;
}
const char *fx_ix_link_address(fx_ix_link_t *self)
{
    return self->addr;
}
fx_ix_link_state_t fx_ix_link_state(fx_ix_link_t *self)
{
    return self->state;
}
bool fx_ix_link_ever_ready(fx_ix_link_t *self)
{
    return self->ever_ready;
}
uint32_t fx_ix_link_hello_seq(fx_ix_link_t *self)
{
    return self->hello_seq;
}

int fx_ix_link_send(fx_ix_link_t *self, fx_msg_t **msg_p, int64_t seq)
{
    if (seq == FX_IX_SEQ_REQUEST) {
        if (++self->seq == 0)
            self->seq = 1; /* requests never use 0 */
        seq = self->seq;
    }
    (*msg_p)->seq = (uint32_t) seq;
    return fx_msg_send(msg_p, self->sock, NULL);
}

int fx_ix_link_hello(fx_ix_link_t *self)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    if (!msg)
        return FX_E_NOMEM;
    fx_strlcpy(msg->endpoint_hello.endpoint_id, self->endpoint_id, sizeof msg->endpoint_hello.endpoint_id);
    fx_strlcpy(msg->endpoint_hello.version, FX_VERSION, sizeof msg->endpoint_hello.version);
    self->state = FX_IX_LINK_SAYING_HELLO;
    self->last_heard = fx_now_ms(); /* give the broker a full silence period to answer */
    self->unanswered++;
    int rc = fx_ix_link_send(self, &msg, FX_IX_SEQ_REQUEST);
    self->hello_seq = self->seq;
    return rc;
}

void fx_ix_link_welcomed(fx_ix_link_t *self, uint32_t broker_heartbeat_ms)
{
    self->state = FX_IX_LINK_READY;
    self->ever_ready = true;
    self->unanswered = 0;
    if (broker_heartbeat_ms > 0 && broker_heartbeat_ms < 24u * 3600 * 1000)
        self->broker_heartbeat_ms = (int) broker_heartbeat_ms;
}

int fx_ix_link_recv(fx_ix_link_t *self, fx_msg_t **msg_p)
{
    *msg_p = NULL;
    if (!(zsock_events(self->sock) & ZMQ_POLLIN))
        return FX_E_TIMEOUT;
    zmsg_t *zmsg = zmsg_recv(self->sock);
    if (!zmsg)
        return FX_E_TIMEOUT;
    self->last_heard = fx_now_ms();
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, msg_p, &seq, &detail);
    zmsg_destroy(&zmsg);
    if (rc != FX_OK) {
        fx_warn("cannot read a message from the broker (%s: %s); answered ERROR and ignored it",
                   fx_strerror(rc), detail);
        fx_send_error(self->sock, NULL, seq, rc,
                      "fx-endpoint cannot read your message: %s (%s); "
                      "run the broker and the endpoint from the same fx release",
                      fx_strerror(rc), detail);
    }
    return rc;
}

int fx_ix_link_period(fx_ix_link_t *self)
{
    return self->ever_ready ? self->broker_heartbeat_ms : self->heartbeat_ms;
}

bool fx_ix_link_silent(fx_ix_link_t *self, int64_t now, int beats)
{
    const int64_t cap = 30000; /* back off to one hello per 30 s at most */
    int64_t base = (int64_t) beats * fx_ix_link_period(self);
    int64_t wait = base;
    for (int i = 1; i < self->unanswered && wait < cap; i++)
        wait *= 2;
    if (wait > cap)
        wait = base > cap ? base : cap;
    return now - self->last_heard > wait;
}
