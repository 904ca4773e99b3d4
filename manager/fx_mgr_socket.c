/*  fx_mgr_socket.c: the manager's socket to its interchange and the
    monitor that tells why a hello went unanswered; see fx_mgr_socket.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_curve.h"
#include "fx_kv.h"
#include "fx_log.h"
#include "fx_mgr_socket.h"

/* How long a send to the interchange, or closing its socket, may block. */
#define S_LINGER_MS 1000

/* What the connection of the current socket came to, as far as its
   monitor tells. */
typedef enum {
    S_NOTHING,          /* no event yet */
    S_UNREACHABLE,      /* a connect attempt failed: nothing listens there */
    S_STALLED,          /* connected, and the handshake has not ended (no answer to it) */
    S_HANDSHAKE_FAILED, /* connected, but the CURVE handshake failed (the server dropped us) */
    S_KEY_REFUSED,      /* the server's ZAP handler refused our key */
    S_ADMITTED,         /* handshake done: the interchange admitted us */
} s_outcome_t;

struct fx_mgr_socket_t {
    char addr[FX_ADDR_MAX];
    fx_keypair_t kp;
    char server_key[FX_KEY_LEN + 1];
    zsock_t *sock;
    zsock_t *monitor; /* PAIR receiving sock's events; NULL if it could not be set up */
    unsigned serial;  /* sockets made so far: names each monitor's endpoint */
    s_outcome_t outcome;
    bool connected;      /* the current connect attempt reached the server */
    bool settled;        /* ... and its handshake ended, one way or the other */
    uint32_t zap_status; /* S_KEY_REFUSED: the status code ZAP gave */
    char diagnosis[FX_ADDR_MAX + 320];
};

/* A monitor on sock: a PAIR connected to the inproc endpoint libzmq
   sends sock's events to. NULL (and no monitor) on failure. */
static zsock_t *s_monitor(fx_mgr_socket_t *self, zsock_t *sock)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://fx-mgr-monitor-%u", self->serial);
    int events = ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                 ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(zsock_resolve(sock), endpoint, events) != 0)
        return NULL;
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    if (pair && zsock_connect(pair, "%s", endpoint) == 0)
        return pair;
    zsock_destroy(&pair);
    zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    return NULL;
}

/* A new DEALER, keys set, monitored, connecting; in self->sock and
   self->monitor. -1 (nothing changed) on failure. */
static int s_open(fx_mgr_socket_t *self, char *err, size_t errlen)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    fx_curve_client(sock, &self->kp, self->server_key);
    zsock_set_immediate(sock, 1);
    zsock_set_sndtimeo(sock, S_LINGER_MS);
    zsock_set_rcvtimeo(sock, 0); /* the loop reads until nothing is left, never waiting */
    zsock_set_linger(sock, S_LINGER_MS);
    zsock_set_maxmsgsize(sock,
                         FX_PAYLOAD_MAX > FX_HEADER_MAX ? FX_PAYLOAD_MAX : FX_HEADER_MAX); /* per frame */
    self->serial++;
    zsock_t *monitor = s_monitor(self, sock); /* before connecting: it must see the first events */
    if (!monitor)
        fx_warn("cannot monitor the socket to %s; a failed hello will be reported without its likely cause",
                self->addr);
    if (zsock_connect(sock, "%s", self->addr) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s; pass --interchange tcp://HOST:PORT", self->addr,
                 zmq_strerror(zmq_errno()));
        if (monitor)
            zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        zsock_destroy(&monitor);
        zsock_destroy(&sock);
        return -1;
    }
    self->sock = sock;
    self->monitor = monitor;
    self->outcome = S_NOTHING;
    self->connected = self->settled = false;
    return 0;
}

/* Stops monitoring sock and closes it and its monitor, lingering ms. */
static void s_close(zsock_t **sock_p, zsock_t **monitor_p, int linger_ms)
{
    if (*monitor_p)
        zmq_socket_monitor(zsock_resolve(*sock_p), NULL, 0);
    zsock_destroy(monitor_p);
    zsock_set_linger(*sock_p, linger_ms);
    zsock_destroy(sock_p);
}

fx_mgr_socket_t *fx_mgr_socket_new(const char *addr, const fx_keypair_t *kp, const char *server_key,
                                   char *err, size_t errlen)
{
    fx_mgr_socket_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->addr, sizeof self->addr, "%s", addr);
    self->kp = *kp;
    snprintf(self->server_key, sizeof self->server_key, "%s", server_key);
    if (s_open(self, err, errlen) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void fx_mgr_socket_destroy(fx_mgr_socket_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_close(&(*self_p)->sock, &(*self_p)->monitor, S_LINGER_MS);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *fx_mgr_socket_zsock(fx_mgr_socket_t *self)
{
    return self->sock;
}

zsock_t *fx_mgr_socket_monitor(fx_mgr_socket_t *self)
{
    return self->monitor;
}

int fx_mgr_socket_renew(fx_mgr_socket_t *self)
{
    zsock_t *old = self->sock, *old_monitor = self->monitor;
    char err[FX_ADDR_MAX + 128];
    if (s_open(self, err, sizeof err) != 0) {
        fx_warn("%s; keeping the old socket", err);
        return -1;
    }
    s_close(&old, &old_monitor, 0);
    return 0;
}

/* One event of the current socket's connection. A connect attempt starts
   with CONNECT_DELAYED (or CONNECTED at once) and, if it fails, ends with
   CONNECT_RETRIED; a handshake ends in SUCCEEDED or one of the FAILED
   events, or in DISCONNECTED when the server just drops the connection
   (what a CURVE server does when our idea of its key is wrong). The
   outcome kept is the latest that says the most. */
static void s_event(fx_mgr_socket_t *self, uint16_t event, uint32_t value)
{
    switch (event) {
    case ZMQ_EVENT_CONNECT_DELAYED:
        self->connected = self->settled = false;
        break;
    case ZMQ_EVENT_CONNECTED:
        self->connected = true;
        self->settled = false;
        if (self->outcome == S_NOTHING || self->outcome == S_UNREACHABLE)
            self->outcome = S_STALLED; /* an earlier handshake's end says more */
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        self->outcome = S_ADMITTED;
        self->settled = true;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        self->outcome = S_KEY_REFUSED;
        self->zap_status = value;
        self->settled = true;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        self->outcome = S_HANDSHAKE_FAILED;
        self->settled = true;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (self->connected && !self->settled)
            self->outcome = S_HANDSHAKE_FAILED;
        self->settled = true;
        break;
    case ZMQ_EVENT_CONNECT_RETRIED:
        if (!self->connected)
            self->outcome = S_UNREACHABLE;
        break;
    default:
        break;
    }
}

void fx_mgr_socket_events(fx_mgr_socket_t *self)
{
    while (self->monitor && (zsock_events(self->monitor) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv(self->monitor);
        zframe_t *head = msg ? zmsg_first(msg) : NULL;
        if (head && zframe_size(head) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zframe_data(head), sizeof event);
            memcpy(&value, zframe_data(head) + 2, sizeof value);
            s_event(self, event, value);
        }
        zmsg_destroy(&msg);
    }
}

const char *fx_mgr_socket_diagnosis(fx_mgr_socket_t *self)
{
    fx_mgr_socket_events(self);
    char *d = self->diagnosis;
    size_t n = sizeof self->diagnosis;
    if (!self->monitor)
        snprintf(
            d, n,
            "probably the key in --key-file is not registered with the interchange, --server-key is not its "
            "public key, or the interchange at %s is down",
            self->addr);
    else if (self->outcome == S_KEY_REFUSED)
        snprintf(
            d, n,
            "the interchange at %s refused our key (ZAP status %u): the key in --key-file is not registered "
            "with it (it admits only its endpoint's manager.key)",
            self->addr, self->zap_status);
    else if (self->outcome == S_HANDSHAKE_FAILED)
        snprintf(
            d, n,
            "%s takes connections but the CurveZMQ handshake fails: --server-key is probably not the public "
            "key of the interchange there (its endpoint.key)",
            self->addr);
    else if (self->outcome == S_STALLED)
        snprintf(d, n,
                 "%s takes connections but does not finish the CurveZMQ handshake: the interchange there is "
                 "overloaded or stuck, or it is not an fx-endpoint",
                 self->addr);
    else if (self->outcome == S_ADMITTED)
        snprintf(
            d, n,
            "the interchange at %s admitted our key but sent no WELCOME: it may be overloaded or stuck, or "
            "it is not an fx-endpoint",
            self->addr);
    else
        snprintf(
            d, n,
            "nothing answers at %s: the interchange is probably down (or not yet up), or --interchange is "
            "not its manager address",
            self->addr);
    return d;
}
