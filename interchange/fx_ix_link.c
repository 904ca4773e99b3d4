/*  fx_ix_link.c: the DEALER to the forwarder and the link's state machine
    (fx_ix_link.h): hello, WELCOME, the ERRORs that concern the session,
    silence and back-off, a new socket when a hello went unanswered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_link.h"
#include "fx_ix_wire.h"
#include "fx_log.h"

/* Back off to one hello per this many ms at most. */
#define S_HELLO_BACKOFF_MAX_MS 30000

struct fx_ix_link_t {
    zsock_t *sock;
    zpoller_t *poller; /* not owned: where sock is swapped on renewal */
    char addr[FX_ADDR_MAX];
    fx_keypair_t kp;                 /* the endpoint's, for a new socket */
    char server_key[FX_KEY_LEN + 1]; /* the broker's */
    int renewals;                    /* sockets made after the first */
    fx_id_text_t endpoint_id;
    fx_ix_link_state_t state;
    int sessions;            /* WELCOMEs that began a session */
    int heartbeat_ms;        /* ours */
    int broker_heartbeat_ms; /* from WELCOME */
    int missed;              /* silent periods before the broker counts as lost */
    int64_t last_heard;      /* last message from the broker, or last hello */
    int unanswered;          /* hellos since the last WELCOME */
    uint32_t seq;
    uint32_t hello_seq;
    const fx_id_text_t *allowed; /* the config's allowed_functions (borrowed); NULL: any */
    size_t allowed_count;
};

/* ------------------------------------------------------------ the socket */

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
                             const char *endpoint_id, int heartbeat_ms, int missed, char *err, size_t errlen)
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
    self->state = FX_IX_LINK_START;
    self->heartbeat_ms = heartbeat_ms;
    self->broker_heartbeat_ms = heartbeat_ms;
    self->missed = missed;
    self->last_heard = fx_now_ms();
    self->sock = s_socket(self, err, errlen);
    if (!self->sock)
        fx_ix_link_destroy(&self);
    return self;
}

void fx_ix_link_set_allowed(fx_ix_link_t *self, const fx_id_text_t *ids, size_t count)
{
    self->allowed = ids;
    self->allowed_count = ids ? count : 0;
    if (count > FX_IDS_MAX)
        fx_warn("allowed_functions lists %zu functions, more than ENDPOINT_HELLO carries (%d): the broker "
                "is not told of them and accepts tasks of any function for this endpoint; the endpoint "
                "still refuses the others (FX_E_FORBIDDEN)",
                count, FX_IDS_MAX);
}

void fx_ix_link_destroy(fx_ix_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

/* A new socket in place of the old one, swapped in the poller; on failure
   (logged) the old one stays. */
static void s_renew(fx_ix_link_t *self)
{
    char err[512];
    zsock_t *sock = s_socket(self, err, sizeof err);
    if (!sock) {
        fx_warn("%s; saying hello on the old socket", err);
        return;
    }
    if (self->poller)
        zpoller_remove(self->poller, self->sock);
    zsock_set_linger(self->sock, 0); /* what is queued there is sent again after WELCOME */
    zsock_destroy(&self->sock);
    self->sock = sock;
    if (self->poller)
        zpoller_add(self->poller, self->sock);
    self->renewals++;
}

zsock_t *fx_ix_link_socket(fx_ix_link_t *self)
{
    return self->sock;
}
void fx_ix_link_set_poller(fx_ix_link_t *self, zpoller_t *poller)
{
    self->poller = poller;
}
const char *fx_ix_link_address(fx_ix_link_t *self)
{
    return self->addr;
}
fx_ix_link_state_t fx_ix_link_state(fx_ix_link_t *self)
{
    return self->state;
}
uint32_t fx_ix_link_last_seq(const fx_ix_link_t *self)
{
    return self->seq;
}

int fx_ix_link_sessions(fx_ix_link_t *self)
{
    return self->sessions;
}

const char *fx_ix_link_state_name(fx_ix_link_state_t state)
{
    switch (state) {
    case FX_IX_LINK_START:
        return "START";
    case FX_IX_LINK_HELLO_SENT:
        return "HELLO_SENT";
    case FX_IX_LINK_ACTIVE:
        return "ACTIVE";
    case FX_IX_LINK_CLOSED:
        return "CLOSED";
    }
    return "?";
}

/* The seq a message goes with (FX_IX_SEQ_REQUEST: the next request's). */
static uint32_t s_seq(fx_ix_link_t *self, int64_t seq)
{
    if (seq == FX_IX_SEQ_REQUEST) {
        if (++self->seq == 0)
            self->seq = 1; /* requests never use 0 */
        seq = self->seq;
    }
    return (uint32_t) seq;
}

int fx_ix_link_send(fx_ix_link_t *self, fx_msg_t **msg_p, int64_t seq)
{
    (*msg_p)->seq = s_seq(self, seq);
    return fx_msg_send(msg_p, self->sock, NULL);
}

int fx_ix_link_send_shared(fx_ix_link_t *self, fx_msg_t *msg, int64_t seq, zframe_t *const *frames,
                           size_t nframes)
{
    msg->seq = s_seq(self, seq);
    return fx_ix_wire_send(self->sock, NULL, msg, frames, nframes);
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
    return self->sessions > 0 ? self->broker_heartbeat_ms : self->heartbeat_ms;
}

/* ------------------------------------------------------------ the state machine */

/* What to do when the broker refuses ENDPOINT_HELLO, by code. */
static const char *s_hello_advice(int code)
{
    switch (code) {
    case FX_E_AUTH:
    case FX_E_NOT_FOUND:
    case FX_E_FORBIDDEN:
        return "the broker does not know this endpoint or its key: check that --dir and --creds "
               "belong together, or start with an empty --dir to register a new endpoint";
    case FX_E_VERSION:
        return "run fx-endpoint from the same fx release as the broker";
    default:
        return "see the broker's log for the cause";
    }
}

/* Time to say ENDPOINT_HELLO again: ACTIVE and the broker said nothing for
   `missed` periods; or HELLO_SENT and no answer for `missed` periods,
   doubled after each unanswered hello up to S_HELLO_BACKOFF_MAX_MS. */
static bool s_silent(fx_ix_link_t *self, int64_t now)
{
    const int64_t cap = S_HELLO_BACKOFF_MAX_MS;
    int64_t base = (int64_t) self->missed * fx_ix_link_period(self);
    int64_t wait = base;
    for (int i = 1; i < self->unanswered && wait < cap; i++)
        wait *= 2;
    if (wait > cap)
        wait = base > cap ? base : cap;
    return now - self->last_heard > wait;
}

/* START -> HELLO_SENT: the socket is connecting (a new one, or the first):
   say ENDPOINT_HELLO on it. */
static void s_hello(fx_ix_link_t *self, int64_t now)
{
    self->state = FX_IX_LINK_HELLO_SENT;
    self->last_heard = now; /* give the broker a full silence period to answer */
    self->unanswered++;
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    if (msg) {
        fx_strlcpy(msg->endpoint_hello.endpoint_id, self->endpoint_id,
                   sizeof msg->endpoint_hello.endpoint_id);
        fx_strlcpy(msg->endpoint_hello.version, FX_VERSION, sizeof msg->endpoint_hello.version);
        /* a list too long for the hello is not sent: the broker then lets
           any function through and the interchange refuses the others
           (fx_ix_allowed.c), rather than the broker refusing functions the
           config allows */
        size_t n = self->allowed_count <= FX_IDS_MAX ? self->allowed_count : 0;
        if (n && fx_msg_alloc_records(msg, (uint32_t) n) == FX_OK)
            memcpy(msg->endpoint_hello.allowed_functions, self->allowed, n * sizeof *self->allowed);
        fx_ix_link_send(self, &msg, FX_IX_SEQ_REQUEST);
    }
    self->hello_seq = self->seq;
}

/* -> START on a new socket after a silence, then at once HELLO_SENT. */
static void s_restart(fx_ix_link_t *self, int64_t now)
{
    self->state = FX_IX_LINK_START;
    s_renew(self);
    s_hello(self, now);
}

/* HELLO_SENT -> ACTIVE. */
static fx_ix_link_do_t s_welcomed(fx_ix_link_t *self, const fx_msg_t *msg)
{
    self->state = FX_IX_LINK_ACTIVE;
    self->unanswered = 0;
    uint32_t hb = msg->welcome.heartbeat_ms;
    if (hb > 0 && hb < 24u * 3600 * 1000)
        self->broker_heartbeat_ms = (int) hb; /* adopt the broker's period */
    return ++self->sessions == 1 ? FX_IX_LINK_DO_FIRST_SESSION : FX_IX_LINK_DO_NEW_SESSION;
}

/* HELLO_SENT, ERROR other than FX_E_NO_SESSION. */
static fx_ix_link_do_t s_hello_refused(fx_ix_link_t *self, const fx_msg_t *msg)
{
    int code = msg->error.code;
    const char *text = msg->error.text ? msg->error.text : "";
    bool config = code == FX_E_VERSION || code == FX_E_FORBIDDEN || code == FX_E_AUTH;
    if (config || self->sessions == 0) {
        fx_error("the broker at %s refused ENDPOINT_HELLO: %s (%s); %s", self->addr, text, fx_errname(code),
                 s_hello_advice(code));
        self->state = FX_IX_LINK_CLOSED;
        return FX_IX_LINK_DO_EXIT;
    }
    fx_warn("the broker refused ENDPOINT_HELLO: %s (%s); trying again in a while; %s", text, fx_errname(code),
            s_hello_advice(code));
    return FX_IX_LINK_DO_NOTHING; /* the silence check says hello again */
}

/* ACTIVE, an ERROR. */
static fx_ix_link_do_t s_active_error(fx_ix_link_t *self, const fx_msg_t *msg, int64_t now)
{
    const char *text = msg->error.text ? msg->error.text : "";
    switch (msg->error.code) {
    case FX_E_NO_SESSION:
        if (msg->seq && msg->seq < self->hello_seq)
            return FX_IX_LINK_DO_NOTHING; /* answers a message sent before our latest hello */
        fx_info("the broker has no session for this endpoint (it restarted?): saying "
                "ENDPOINT_HELLO again");
        self->state = FX_IX_LINK_START; /* the socket is connected: hello at once */
        s_hello(self, now);
        return FX_IX_LINK_DO_COUNT_REHELLO;
    case FX_E_IO:
        return FX_IX_LINK_DO_RESEND; /* the caller logs it, with what it resends */
    default:
        fx_warn("the broker sent ERROR %s: %s", fx_errname(msg->error.code), text);
        return FX_IX_LINK_DO_NOTHING;
    }
}

/* Silent too long: a new socket and a hello (HELLO_SENT: again, backing
   off; ACTIVE: the broker is lost). */
static fx_ix_link_do_t s_tick(fx_ix_link_t *self, int64_t now)
{
    if (!s_silent(self, now))
        return FX_IX_LINK_DO_NOTHING;
    if (self->sessions > 0)
        fx_warn("no word from the broker at %s for %d heartbeat periods: saying ENDPOINT_HELLO again",
                self->addr, self->missed);
    else
        fx_warn("still waiting for the broker at %s to answer ENDPOINT_HELLO; check that fx-broker runs "
                "there and that broker_public_key in the credentials file is its key",
                self->addr);
    s_restart(self, now);
    return FX_IX_LINK_DO_COUNT_REHELLO;
}

/* SPEC 6.2, interchange side of the endpoint port, row by row. */
fx_ix_link_do_t fx_ix_link_step(fx_ix_link_t *self, fx_ix_link_event_t event, const fx_msg_t *msg,
                                int64_t now)
{
    switch (self->state) {
    case FX_IX_LINK_START: /* | START | connected | send ENDPOINT_HELLO | HELLO_SENT | */
        s_hello(self, now);
        return FX_IX_LINK_DO_NOTHING;

    case FX_IX_LINK_HELLO_SENT:
        switch (event) {
        case FX_IX_LINK_WELCOME: /* | WELCOME | adopt heartbeat_ms; CREDIT; resend | ACTIVE | */
            return s_welcomed(self, msg);
        case FX_IX_LINK_ERROR:
            if (msg->error.code == FX_E_NO_SESSION)
                return FX_IX_LINK_DO_NOTHING; /* | ERROR NO_SESSION | - (a hello is on its way) | HELLO_SENT |
                                               */
            return s_hello_refused(self, msg); /* | ERROR VERSION, FORBIDDEN, AUTH | exit | CLOSED | */
        case FX_IX_LINK_TICK: /* | no reply in time | new socket, hello (back off) | HELLO_SENT | */
            return s_tick(self, now);
        }
        break;

    case FX_IX_LINK_ACTIVE:
        switch (event) {
        case FX_IX_LINK_WELCOME:
            return FX_IX_LINK_DO_NOTHING; /* | WELCOME | - (answers an earlier hello) | ACTIVE | */
        case FX_IX_LINK_ERROR: /* | ERROR NO_SESSION | hello | START | ; | ERROR IO | resend | ACTIVE | */
            return s_active_error(self, msg, now);
        case FX_IX_LINK_TICK: /* | broker lost | new socket, hello | START | */
            return s_tick(self, now);
        }
        break;

    case FX_IX_LINK_CLOSED:
        break;
    }
    return FX_IX_LINK_DO_NOTHING;
}
