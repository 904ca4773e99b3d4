/*  fx_ix_register.c: the short request/reply exchange on the client port. */
#include <stdio.h>
#include <string.h>

#include "fx_ix_register.h"

/* What a user can do about a refusal, by error code. */
static const char *s_advice(int code)
{
    switch (code) {
    case FX_E_AUTH:
    case FX_E_FORBIDDEN:
        return "check that --creds is a credentials file made by `fx user create` for this broker";
    case FX_E_CONFLICT:
        return "this endpoint id belongs to another user: start with an empty --dir to make a new "
               "endpoint";
    case FX_E_VERSION:
        return "run fx-endpoint from the same fx release as the broker";
    case FX_E_LIMIT:
        return "remove an endpoint you no longer use, or ask the broker's operator to raise the limit";
    default:
        return "see the broker's log for the cause";
    }
}

/* Sends msg and waits for the reply that echoes its seq. Returns the reply
   (caller owns it), or NULL with a sentence in err. */
static fx_msg_t *s_request(zsock_t *sock, fx_msg_t **msg_p, const char *addr, int timeout_ms, char *err,
                           size_t errlen)
{
    static uint32_t s_seq;
    fx_msg_t *reply = NULL;
    zpoller_t *poller = NULL;
    const char *what = fx_msg_type_name((*msg_p)->type);
    uint32_t seq = ++s_seq;
    (*msg_p)->seq = seq;
    int rc = fx_msg_send(msg_p, sock, NULL);
    if (rc != FX_OK) {
        snprintf(err, errlen, "cannot send %s to the broker at %s: %s", what, addr, fx_strerror(rc));
        goto done;
    }
    poller = zpoller_new(sock, NULL);
    int64_t deadline = fx_now_ms() + timeout_ms;
    while (!reply) {
        int64_t left = deadline - fx_now_ms();
        if (left <= 0 || zsys_interrupted) {
            snprintf(err, errlen,
                     zsys_interrupted ? "interrupted while waiting for the broker's answer to %s"
                                      : "no answer to %s from the broker at %s within %d ms; check "
                                        "that fx-broker runs there and that broker_public_key in the "
                                        "credentials file is its key (a wrong key looks like silence)",
                     what, addr, timeout_ms);
            goto done;
        }
        if (zpoller_wait(poller, (int) (left < 200 ? left : 200)) != sock)
            continue;
        zmsg_t *zmsg = zmsg_recv(sock);
        if (!zmsg)
            continue;
        fx_msg_t *msg = NULL;
        uint32_t rseq = 0;
        const char *detail = "";
        rc = fx_msg_decode(zmsg, &msg, &rseq, &detail);
        zmsg_destroy(&zmsg);
        if (rc != FX_OK) {
            snprintf(err, errlen,
                     "the broker at %s answered %s with a message fx-endpoint cannot "
                     "read (%s: %s); run fx-endpoint from the same fx release as the broker",
                     addr, what, fx_strerror(rc), detail);
            goto done;
        }
        if (msg->seq == seq || msg->type == FX_MSG_ERROR)
            reply = msg;
        else
            fx_msg_destroy(&msg); /* a heartbeat or a stale answer */
    }
    if (reply->type == FX_MSG_ERROR) {
        snprintf(err, errlen, "the broker at %s refused %s: %s (%s); %s", addr, what,
                 reply->error.text ? reply->error.text : "", fx_errname(reply->error.code),
                 s_advice(reply->error.code));
        fx_msg_destroy(&reply);
    }
done:
    zpoller_destroy(&poller);
    fx_msg_destroy(msg_p);
    return reply;
}

int fx_ix_register(const fx_creds_t *creds, const fx_ix_identity_t *identity, int timeout_ms, char *err,
                   size_t errlen)
{
    int rc = -1;
    fx_msg_t *msg = NULL, *reply = NULL;
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        snprintf(err, errlen, "cannot make a socket for the broker: %s", zmq_strerror(zmq_errno()));
        goto done;
    }
    fx_keypair_t user = {{0}, {0}};
    fx_strlcpy(user.public_key, creds->public_key, sizeof user.public_key);
    fx_strlcpy(user.secret_key, creds->secret_key, sizeof user.secret_key);
    fx_curve_client(sock, &user, creds->broker_public_key);
    zsock_set_linger(sock, 0);
    if (zsock_connect(sock, "%s", creds->broker_client) != 0) {
        snprintf(err, errlen,
                 "cannot connect to the broker's client address %s; fix "
                 "broker_client in the credentials file",
                 creds->broker_client);
        goto done;
    }
    msg = fx_msg_new(FX_MSG_HELLO);
    if (!msg)
        goto nomem;
    fx_id_new(msg->hello.client_id);
    fx_strlcpy(msg->hello.client_version, FX_VERSION, sizeof msg->hello.client_version);
    msg->hello.python_version[0] = '\0';
    reply = s_request(sock, &msg, creds->broker_client, timeout_ms, err, errlen);
    if (!reply)
        goto done;
    if (reply->type != FX_MSG_WELCOME) {
        snprintf(err, errlen,
                 "the broker at %s answered HELLO with %s instead of WELCOME; run "
                 "fx-endpoint from the same fx release as the broker",
                 creds->broker_client, fx_msg_type_name(reply->type));
        goto done;
    }
    fx_msg_destroy(&reply);

    msg = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    if (!msg)
        goto nomem;
    fx_strlcpy(msg->register_endpoint.endpoint_id, identity->endpoint_id,
               sizeof msg->register_endpoint.endpoint_id);
    fx_strlcpy(msg->register_endpoint.name, identity->name, sizeof msg->register_endpoint.name);
    fx_strlcpy(msg->register_endpoint.public_key, identity->endpoint_kp.public_key,
               sizeof msg->register_endpoint.public_key);
    reply = s_request(sock, &msg, creds->broker_client, timeout_ms, err, errlen);
    if (!reply)
        goto done;
    if (reply->type != FX_MSG_ENDPOINT_REGISTERED ||
        strcmp(reply->endpoint_registered.endpoint_id, identity->endpoint_id) != 0) {
        snprintf(err, errlen,
                 "the broker at %s answered REGISTER_ENDPOINT with %s for another "
                 "endpoint id; run fx-endpoint from the same fx release as the broker",
                 creds->broker_client, fx_msg_type_name(reply->type));
        goto done;
    }
    rc = 0;
    goto done;
nomem:
    snprintf(err, errlen, "out of memory while registering the endpoint");
done:
    fx_msg_destroy(&msg);
    fx_msg_destroy(&reply);
    zsock_destroy(&sock);
    return rc;
}
