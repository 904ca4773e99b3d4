/*  fx_ix_port.c: the managers' ROUTER and its ZAP handler (fx_ix_port.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_errlimit.h"
#include "fx_ix_internal.h"
#include "fx_log.h"

#define S_ZAP_DOMAIN "fx-manager"

struct fx_ix_port_t {
    zsock_t *router;
    zsock_t *zap;
    const fx_ix_identity_t *identity;
    fx_ix_stats_t *stats;
    char dial[FX_ADDR_MAX];
    fx_errlimit_t *errors; /* ERROR replies, per manager connection */
};

static void s_dial_address(const char *bound, char *out, size_t cap)
{
    const char *colon = strrchr(bound, ':');
    bool wildcard = strncmp(bound, "tcp://0.0.0.0:", 14) == 0 || strncmp(bound, "tcp://*:", 8) == 0;
    if (wildcard && colon)
        snprintf(out, cap, "tcp://127.0.0.1%s", colon);
    else
        snprintf(out, cap, "%s", bound);
}

/* Binds the router (made already); 0, or -1 with a sentence in err. */
static int s_bind(fx_ix_port_t *self, fx_ix_identity_t *identity, const char *want, const char *fallback,
                  char *err, size_t errlen)
{
    int rc = zsock_bind(self->router, "%s", want);
    if (rc == -1 && fallback) {
        fx_warn("cannot bind the managers' address %s kept in endpoint.conf (%s); binding %s "
                "instead: managers of the earlier run cannot come back",
                want, zmq_strerror(zmq_errno()), fallback);
        rc = zsock_bind(self->router, "%s", fallback);
    }
    if (rc == -1) {
        snprintf(err, errlen,
                 "cannot bind the managers' address %s (%s); pass another "
                 "--manager-bind, e.g. tcp://127.0.0.1:0 for a free port",
                 want, zmq_strerror(zmq_errno()));
        return -1;
    }
    char *bound = zsock_last_endpoint(self->router);
    if (!bound) {
        snprintf(err, errlen, "cannot read back the managers' bound address: out of memory");
        return -1;
    }
    s_dial_address(bound, self->dial, sizeof self->dial);
    printf("fx-endpoint: managers=%s\n", bound);
    fflush(stdout);
    char why[512];
    if (fx_ix_identity_save_bind(identity, bound, why, sizeof why) != 0)
        fx_warn("%s; managers will not find this endpoint again after a restart", why);
    zstr_free(&bound);
    return 0;
}

fx_ix_port_t *fx_ix_port_new(fx_ix_identity_t *identity, const char *want, const char *fallback,
                             fx_ix_stats_t *stats, char *err, size_t errlen)
{
    fx_ix_port_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->identity = identity;
    self->stats = stats;
    self->errors = fx_errlimit_new();
    if (!self->errors) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->zap = fx_zap_bind();
    if (!self->zap) {
        snprintf(err, errlen, "cannot bind the ZAP handler (another one is bound in this process)");
        goto fail;
    }
    self->router = zsock_new(ZMQ_ROUTER);
    if (!self->router) {
        snprintf(err, errlen, "cannot make the managers' socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    fx_curve_server(self->router, &identity->endpoint_kp, S_ZAP_DOMAIN);
    zsock_set_linger(self->router, 200); /* the last COMMAND STOP still goes out on exit */
    zsock_set_maxmsgsize(self->router, (int) FX_WIRE_FRAME_MAX);
    if (s_bind(self, identity, want, fallback, err, errlen) != 0)
        goto fail;
    return self;
fail:
    fx_ix_port_destroy(&self);
    return NULL;
}

void fx_ix_port_destroy(fx_ix_port_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->router);
    zsock_destroy(&(*self_p)->zap);
    fx_errlimit_destroy(&(*self_p)->errors);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *fx_ix_port_router(fx_ix_port_t *self)
{
    return self->router;
}
zsock_t *fx_ix_port_zap_socket(fx_ix_port_t *self)
{
    return self->zap;
}
const char *fx_ix_port_dial_address(fx_ix_port_t *self)
{
    return self->dial;
}

void fx_ix_port_zap(fx_ix_port_t *self)
{
    for (int i = 0; i < FX_IX_READS_PER_PASS && (zsock_events(self->zap) & ZMQ_POLLIN); i++) {
        fx_zap_request_t req;
        if (fx_zap_recv(self->zap, &req) != 0)
            continue; /* answered 400 already */
        bool allow = strcmp(req.domain, S_ZAP_DOMAIN) == 0 && strcmp(req.mechanism, "CURVE") == 0 &&
                     strcmp(req.client_key, self->identity->manager_kp.public_key) == 0;
        if (!allow)
            fx_warn("refused a connection to the managers' port: domain '%s', mechanism %s, "
                    "key %s is not this endpoint's manager key (%s)",
                    req.domain, req.mechanism, req.client_key[0] ? req.client_key : "-",
                    self->identity->manager_key_path);
        fx_zap_reply(self->zap, &req, allow, FX_IX_MANAGER_USER_ID);
    }
}

zmsg_t *fx_ix_port_recv(fx_ix_port_t *self)
{
    if (!(zsock_events(self->router) & ZMQ_POLLIN))
        return NULL;
    return zmsg_recv(self->router);
}

int fx_ix_port_send(fx_ix_port_t *self, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    (*msg_p)->seq = seq;
    return fx_msg_send(msg_p, self->router, routing);
}

void fx_ix_port_refuse(fx_ix_port_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
{
    self->stats->bad_messages++;
    if (!fx_errlimit_allow(self->errors, routing, fx_now_ms())) {
        self->stats->errors_suppressed++;
        return;
    }
    char text[FX_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fx_warn("refused a manager's message (%s): %s", fx_errname(code), text);
    fx_send_error(self->router, routing, seq, code, "%s", text);
}

void fx_ix_port_tick(fx_ix_port_t *self, int64_t now)
{
    if (!self)
        return;
    uint64_t suppressed = fx_errlimit_tick(self->errors, now);
    if (suppressed)
        fx_warn("%llu refused manager messages were not answered (over %d ERRORs per second to one "
                "connection)",
                (unsigned long long) suppressed, FX_ERRLIMIT_PER_SECOND);
}

void fx_ix_port_beat(fx_ix_port_t *self, fx_ix_managers_t *managers)
{
    if (!self)
        return;
    for (fx_ix_manager_t *m = fx_ix_managers_first(managers); m; m = fx_ix_managers_next(managers)) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
        fx_ix_port_send(self, fx_ix_manager_routing(m), &msg, 0);
    }
}

void fx_ix_port_command(fx_ix_port_t *self, fx_ix_managers_t *managers, int command)
{
    if (!self)
        return;
    for (fx_ix_manager_t *m = fx_ix_managers_first(managers); m; m = fx_ix_managers_next(managers)) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_COMMAND);
        if (msg)
            msg->command.command = (uint8_t) command;
        fx_ix_port_send(self, fx_ix_manager_routing(m), &msg, 0);
    }
}
