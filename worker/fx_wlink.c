/*  fx_wlink.c: the worker link over ZeroMQ on an abstract ipc:// socket;
    see fx_wlink.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_clock.h"
#include "fx_errlimit.h"
#include "fx_log.h"
#include "fx_wlink.h"

/* The environment variable that carries a worker's routing id. */
#define S_ENV_ID "FX_WORKER_ID"

/* Frames are bounded by libzmq before they are buffered (SPEC 2.1.3). */
#define S_FRAME_MAX (FX_PAYLOAD_MAX > FX_HEADER_MAX ? FX_PAYLOAD_MAX : FX_HEADER_MAX)

/* ------------------------------------------------ the manager's side */

struct fx_wlink_t {
    zsock_t *router;
    char address[96];
    zhashx_t *admitted; /* peer id -> (void *) 1: the processes started and not yet gone */
    fx_errlimit_t *errors;
};

fx_wlink_t *fx_wlink_listen(const char *manager_id, zpoller_t *poller, char *err, size_t errlen)
{
    fx_wlink_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->address, sizeof self->address, "ipc://@fx-mgr-%s", manager_id);
    self->router = zsock_new(ZMQ_ROUTER);
    self->admitted = zhashx_new();
    self->errors = fx_errlimit_new();
    if (!self->router || !self->admitted || !self->errors) {
        snprintf(err, errlen, "out of memory or sockets: %s", zmq_strerror(zmq_errno()));
        fx_wlink_destroy(&self);
        return NULL;
    }
    zsock_set_router_mandatory(self->router, 1); /* a send to a gone worker fails instead of vanishing */
    zsock_set_maxmsgsize(self->router, S_FRAME_MAX);
    if (zsock_bind(self->router, "%s", self->address) != 0) {
        snprintf(err, errlen, "cannot bind %s: %s; is another fx-manager with id %s running on this host?",
                 self->address, zmq_strerror(zmq_errno()), manager_id);
        fx_wlink_destroy(&self);
        return NULL;
    }
    if (poller)
        zpoller_add(poller, self->router);
    return self;
}

void fx_wlink_destroy(fx_wlink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_wlink_t *self = *self_p;
    zsock_destroy(&self->router);
    zhashx_destroy(&self->admitted);
    fx_errlimit_destroy(&self->errors);
    free(self);
    *self_p = NULL;
}

const char *fx_wlink_address(fx_wlink_t *self)
{
    return self->address;
}

void fx_wlink_child(fx_wlink_t *self, fx_wlink_child_t *child)
{
    memset(child, 0, sizeof *child);
    fx_id_new(child->peer);
    snprintf(child->connect, sizeof child->connect, "%s", self->address);
    child->env_name = S_ENV_ID;
    memcpy(child->env_value, child->peer, sizeof child->env_value);
    zhashx_insert(self->admitted, child->peer, (void *) 1);
}

void fx_wlink_child_gone(fx_wlink_t *self, const char *peer)
{
    zhashx_delete(self->admitted, peer);
}

int fx_wlink_send(fx_wlink_t *self, const char *peer, fx_msg_t **msg_p)
{
    zframe_t *rid = zframe_new(peer, strlen(peer));
    if (!rid) {
        fx_msg_destroy(msg_p);
        return FX_E_NOMEM;
    }
    int rc = fx_msg_send(msg_p, self->router, rid);
    zframe_destroy(&rid);
    return rc;
}

int fx_wlink_send_bytes(fx_wlink_t *self, const char *peer, const void *data, size_t len)
{
    zmsg_t *msg = zmsg_new();
    if (!msg || zmsg_addmem(msg, peer, strlen(peer)) != 0 || zmsg_addmem(msg, data, len) != 0) {
        zmsg_destroy(&msg);
        return FX_E_NOMEM;
    }
    return zmsg_send(&msg, self->router) == 0 ? FX_OK : FX_E_IO;
}

/* ERROR to the connection with routing id rid, within its budget. */
static bool s_verror(fx_wlink_t *self, zframe_t *rid, uint32_t seq, int code, const char *fmt, va_list ap)
{
    return fx_errlimit_vsend(self->errors, self->router, rid, seq, code, fmt, ap);
}

static bool s_error(fx_wlink_t *self, zframe_t *rid, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static bool s_error(fx_wlink_t *self, zframe_t *rid, uint32_t seq, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool sent = s_verror(self, rid, seq, code, fmt, ap);
    va_end(ap);
    return sent;
}

bool fx_wlink_send_error(fx_wlink_t *self, const char *peer, uint32_t seq, int code, const char *fmt, ...)
{
    zframe_t *rid = zframe_new(peer, strlen(peer));
    if (!rid)
        return false;
    va_list ap;
    va_start(ap, fmt);
    bool sent = s_verror(self, rid, seq, code, fmt, ap);
    va_end(ap);
    zframe_destroy(&rid);
    return sent;
}

/* The peer id rid names, if it is an admitted one. */
static bool s_admitted(fx_wlink_t *self, zframe_t *rid, fx_id_text_t peer)
{
    if (!rid || zframe_size(rid) != FX_ID_LEN)
        return false;
    memcpy(peer, zframe_data(rid), FX_ID_LEN);
    peer[FX_ID_LEN] = '\0';
    return zhashx_lookup(self->admitted, peer) != NULL;
}

int fx_wlink_recv(fx_wlink_t *self, fx_id_text_t peer, fx_msg_t **msg_p, uint32_t *seq_p,
                  const char **detail_p)
{
    *msg_p = NULL;
    *seq_p = 0;
    *detail_p = "";
    while (zsock_events(self->router) & ZMQ_POLLIN) {
        zmsg_t *zmsg = zmsg_recv(self->router);
        if (!zmsg)
            break;
        zframe_t *rid = zmsg_pop(zmsg);
        if (!s_admitted(self, rid, peer)) {
            fx_warn("refused a message on %s from a connection that is none of this manager's workers "
                    "(routing id of %zu bytes)",
                    self->address, rid ? zframe_size(rid) : 0);
            if (rid)
                s_error(self, rid, 0, FX_E_FORBIDDEN,
                        "this socket serves the manager's own worker processes only (routing id of %zu bytes "
                        "unknown)",
                        zframe_size(rid));
            zframe_destroy(&rid);
            zmsg_destroy(&zmsg);
            continue;
        }
        zframe_destroy(&rid);
        int rc = fx_msg_decode(zmsg, msg_p, seq_p, detail_p);
        zmsg_destroy(&zmsg);
        return rc;
    }
    return FX_E_TIMEOUT;
}

uint64_t fx_wlink_tick(fx_wlink_t *self, int64_t now)
{
    return fx_errlimit_tick(self->errors, now);
}

/* ------------------------------------------------ the worker's side */

struct fx_wlink_conn_t {
    zsock_t *dealer;
    zpoller_t *poller;
    fx_errlimit_t *errors;
    zframe_t *manager; /* the manager's key in `errors` (a DEALER has no routing id) */
};

fx_wlink_conn_t *fx_wlink_connect(const char *connect, char *err, size_t errlen)
{
    fx_wlink_conn_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->dealer = zsock_new(ZMQ_DEALER);
    self->errors = fx_errlimit_new();
    self->manager = zframe_new("manager", 7);
    if (!self->dealer || !self->errors || !self->manager) {
        snprintf(err, errlen, "out of memory or sockets: %s", zmq_strerror(zmq_errno()));
        fx_wlink_conn_destroy(&self);
        return NULL;
    }
    const char *id = getenv(S_ENV_ID);
    if (id && fx_id_valid(id))
        zsock_set_identity(self->dealer, id);
    else if (id)
        fx_warn("ignoring %s=\"%s\": not a canonical id", S_ENV_ID, id);
    if (zsock_connect(self->dealer, "%s", connect) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s; pass the manager's ipc:// address", connect,
                 zmq_strerror(zmq_errno()));
        fx_wlink_conn_destroy(&self);
        return NULL;
    }
    self->poller = zpoller_new(self->dealer, NULL);
    if (!self->poller) {
        snprintf(err, errlen, "out of memory");
        fx_wlink_conn_destroy(&self);
    }
    return self;
}

void fx_wlink_conn_destroy(fx_wlink_conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_wlink_conn_t *self = *self_p;
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->dealer);
    fx_errlimit_destroy(&self->errors);
    zframe_destroy(&self->manager);
    free(self);
    *self_p = NULL;
}

int fx_wlink_conn_send(fx_wlink_conn_t *self, fx_msg_t **msg_p)
{
    return fx_msg_send(msg_p, self->dealer, NULL);
}

bool fx_wlink_conn_send_error(fx_wlink_conn_t *self, uint32_t seq, int code, const char *fmt, ...)
{
    if (!fx_errlimit_allow(self->errors, self->manager, fx_now_ms()))
        return false;
    char text[FX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_send_error(self->dealer, NULL, seq, code, "%s", text);
    return true;
}

int fx_wlink_conn_recv(fx_wlink_conn_t *self, int ms, fx_msg_t **msg_p, uint32_t *seq_p,
                       const char **detail_p)
{
    *msg_p = NULL;
    *seq_p = 0;
    *detail_p = "";
    if (!(zsock_events(self->dealer) & ZMQ_POLLIN) && zpoller_wait(self->poller, ms) != self->dealer)
        return FX_E_TIMEOUT;
    zmsg_t *zmsg = zmsg_recv(self->dealer);
    if (!zmsg)
        return FX_E_TIMEOUT;
    int rc = fx_msg_decode(zmsg, msg_p, seq_p, detail_p);
    zmsg_destroy(&zmsg);
    return rc;
}

uint64_t fx_wlink_conn_tick(fx_wlink_conn_t *self, int64_t now)
{
    return fx_errlimit_tick(self->errors, now);
}
