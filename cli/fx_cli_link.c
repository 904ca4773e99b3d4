/*  fx_cli_link.c: one short session with the broker's client port, for the
    commands that ask it something. One DEALER, one HELLO, then requests
    each answered by its reply, each within a deadline (--timeout): a
    broker that is down, or that denies our key (CurveZMQ then says nothing
    at all), costs the user that long and a clear sentence, never a hang. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

struct fx_cli_link {
    zsock_t *sock;
    char addr[FX_ADDR_MAX];
    uint32_t seq;
    int64_t deadline;
    int64_t timeout_ms;
    bool silent; /* the last failure was the broker not answering */
};

static void s_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void s_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The reply to seq of type `want` (or ERROR), skipping anything else (a
   HEARTBEAT, pushed RESULTS). NULL with the reason in err. */
static fx_msg_t *s_reply(fx_cli_link_t *self, uint32_t seq, fx_msg_type_t want, const char *what, char *err,
                         size_t errlen)
{
    self->silent = false;
    while (true) {
        int64_t left = self->deadline - fx_now_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long) left);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        zmsg_t *zmsg = zmsg_recv(self->sock);
        if (zmsg == NULL)
            break;
        fx_msg_t *msg = NULL;
        uint32_t got_seq = 0;
        const char *detail = NULL;
        int code = fx_msg_decode(zmsg, &msg, &got_seq, &detail);
        zmsg_destroy(&zmsg);
        if (code != FX_OK) {
            s_err(err, errlen,
                  "the broker at %s sent a message this fx cannot read: %s: %s (are fx and fx-broker "
                  "the same version?)",
                  self->addr, fx_strerror(code), detail ? detail : "");
            return NULL;
        }
        if (msg->seq == seq && msg->type == FX_MSG_ERROR) {
            s_err(err, errlen, "the broker refused %s: %s: %s", what, fx_errname(msg->error.code),
                  msg->error.text ? msg->error.text : fx_strerror(msg->error.code));
            fx_msg_destroy(&msg);
            return NULL;
        }
        if (msg->seq == seq && msg->type == want)
            return msg;
        fx_msg_destroy(&msg);
    }
    self->silent = true;
    s_err(err, errlen,
          "broker at %s did not answer within %lld s: is it running, and is your key registered "
          "(fx user create)?",
          self->addr, (long long) (self->timeout_ms / 1000));
    return NULL;
}

fx_msg_t *fx_cli_link_call(fx_cli_link_t *self, fx_msg_t **req_p, fx_msg_type_t want, char *err,
                           size_t errlen)
{
    if (!*req_p) {
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    const char *what = fx_msg_type_name((*req_p)->type);
    self->deadline = fx_now_ms() + self->timeout_ms; /* --timeout is per request */
    uint32_t seq = ++self->seq;
    (*req_p)->seq = seq;
    int rc = fx_msg_send(req_p, self->sock, NULL);
    if (rc != FX_OK) {
        fx_msg_destroy(req_p);
        s_err(err, errlen, "cannot send %s to the broker at %s: %s", what, self->addr, fx_strerror(rc));
        return NULL;
    }
    return s_reply(self, seq, want, what, err, errlen);
}

fx_cli_link_t *fx_cli_link_open(const char *creds_path, int64_t timeout_ms, char *err, size_t errlen,
                                bool *unreachable)
{
    *unreachable = false;
    char why[512] = "";
    fx_creds_t creds;
    if (fx_creds_load(creds_path, &creds, why, sizeof why) != 0) {
        s_err(err, errlen, "%s (pass --creds FILE, written by `fx user create`)", why);
        return NULL;
    }
    fx_cli_link_t *self = calloc(1, sizeof *self);
    if (!self) {
        sodium_memzero(&creds, sizeof creds);
        s_err(err, errlen, "out of memory");
        return NULL;
    }
    fx_strlcpy(self->addr, creds.broker_client, sizeof self->addr);
    self->timeout_ms = timeout_ms;
    self->sock = zsock_new(ZMQ_DEALER);
    if (self->sock == NULL) {
        sodium_memzero(&creds, sizeof creds);
        s_err(err, errlen, "cannot create a ZeroMQ socket");
        goto fail;
    }
    zsock_set_linger(self->sock, 0);
    zsock_set_sndtimeo(self->sock, 0);
    fx_keypair_t kp;
    memcpy(kp.public_key, creds.public_key, sizeof kp.public_key);
    memcpy(kp.secret_key, creds.secret_key, sizeof kp.secret_key);
    fx_curve_client(self->sock, &kp, creds.broker_public_key);
    sodium_memzero(&kp, sizeof kp);
    sodium_memzero(creds.secret_key, sizeof creds.secret_key);
    if (zsock_connect(self->sock, "%s", creds.broker_client) != 0) {
        s_err(err, errlen, "cannot connect to '%s' (from %s): %s", creds.broker_client, creds_path,
              zmq_strerror(zmq_errno()));
        goto fail;
    }
    fx_msg_t *hello = fx_msg_new(FX_MSG_HELLO);
    if (hello) {
        fx_id_new(hello->hello.client_id);
        fx_strlcpy(hello->hello.client_version, FX_VERSION, sizeof hello->hello.client_version);
    }
    fx_msg_t *welcome = fx_cli_link_call(self, &hello, FX_MSG_WELCOME, err, errlen);
    if (!welcome) {
        *unreachable = self->silent;
        goto fail;
    }
    fx_msg_destroy(&welcome);
    return self;
fail:
    fx_cli_link_destroy(&self);
    return NULL;
}

void fx_cli_link_destroy(fx_cli_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

int fx_cli_column(const fx_msg_t *table, const char *name)
{
    for (uint32_t c = 0; table && c < table->list_reply.cols; c++) {
        const char *head = table->list_reply.cells[c];
        if (head && strcmp(head, name) == 0)
            return (int) c;
    }
    return -1;
}

fx_cli_link_t *fx_cli_link_for(const fx_cli_args_t *args)
{
    char buf[PATH_MAX], err[1024];
    bool unreachable = false;
    int64_t timeout_ms = args->timeout_s > 0 ? args->timeout_s * 1000 : FX_CLI_TIMEOUT_MS;
    zsys_handler_set(NULL); /* Ctrl-C ends the command at once */
    fx_cli_link_t *link = fx_cli_link_open(fx_cli_creds_path(args->creds, buf, sizeof buf), timeout_ms, err,
                                           sizeof err, &unreachable);
    if (!link)
        fx_cli_fail("%s", err);
    return link;
}

fx_msg_t *fx_cli_list(fx_cli_link_t *link, int what, uint32_t limit, char *err, size_t errlen)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req) {
        req->list.what = (uint8_t) what;
        req->list.limit = limit;
    }
    return fx_cli_link_call(link, &req, FX_MSG_LIST_REPLY, err, errlen);
}

const char *fx_cli_cell(const fx_msg_t *table, uint32_t r, int col)
{
    if (!table || col < 0 || (uint32_t) col >= table->list_reply.cols || r >= table->list_reply.rows)
        return "";
    const char *cell = table->list_reply.cells[(size_t) r * table->list_reply.cols + (uint32_t) col];
    return cell ? cell : "";
}

const char *fx_cli_lookup(const fx_msg_t *table, const char *id, const char *column)
{
    int id_col = fx_cli_column(table, "id"), col = fx_cli_column(table, column);
    if (!id[0] || id_col < 0 || col < 0)
        return NULL;
    for (uint32_t r = 1; r < table->list_reply.rows; r++)
        if (strcmp(fx_cli_cell(table, r, id_col), id) == 0)
            return fx_cli_cell(table, r, col);
    return NULL;
}
