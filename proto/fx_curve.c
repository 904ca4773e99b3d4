/*  fx_curve.c: CurveZMQ socket setup and our ZAP handler plumbing (RFC 27). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "fx_clock.h"
#include "fx_curve.h"

void fx_curve_server(zsock_t *sock, const fx_keypair_t *kp, const char *zap_domain)
{
    zsock_set_zap_domain(sock, zap_domain);
    zsock_set_curve_server(sock, 1);
    zsock_set_curve_publickey(sock, kp->public_key);
    zsock_set_curve_secretkey(sock, kp->secret_key);
}

void fx_curve_client(zsock_t *sock, const fx_keypair_t *kp, const char *server_public_key)
{
    zsock_set_curve_serverkey(sock, server_public_key);
    zsock_set_curve_publickey(sock, kp->public_key);
    zsock_set_curve_secretkey(sock, kp->secret_key);
}

zsock_t *fx_zap_bind(void)
{
    zsock_t *zap = zsock_new(ZMQ_REP);
    if (!zap)
        return NULL;
    if (zsock_bind(zap, "inproc://zeromq.zap.01") != 0) {
        zsock_destroy(&zap);
        return NULL;
    }
    return zap;
}

/* Copies frame i of the request as text, cut to cap. */
static void s_frame_text(zmsg_t *msg, char *dst, size_t cap)
{
    zframe_t *f = zmsg_pop(msg);
    size_t n = f ? zframe_size(f) : 0;
    if (n >= cap)
        n = cap - 1;
    if (f)
        memcpy(dst, zframe_data(f), n);
    dst[n] = '\0';
    zframe_destroy(&f);
}

int fx_zap_recv(zsock_t *zap, fx_zap_request_t *req)
{
    memset(req, 0, sizeof *req);
    zmsg_t *msg = zmsg_recv(zap);
    if (!msg)
        return -1;
    int rc = -1;
    /* version, request id, domain, address, identity, mechanism, creds... */
    if (zmsg_size(msg) < 6)
        goto done;
    s_frame_text(msg, req->version, sizeof req->version);
    s_frame_text(msg, req->request_id, sizeof req->request_id);
    s_frame_text(msg, req->domain, sizeof req->domain);
    char scratch[256];
    s_frame_text(msg, scratch, sizeof scratch); /* address */
    s_frame_text(msg, scratch, sizeof scratch); /* routing id */
    s_frame_text(msg, req->mechanism, sizeof req->mechanism);
    if (strcmp(req->mechanism, "CURVE") == 0) {
        zframe_t *key = zmsg_pop(msg);
        if (key && zframe_size(key) == 32)
            zmq_z85_encode(req->client_key, zframe_data(key), 32);
        zframe_destroy(&key);
    }
    rc = strcmp(req->version, "1.0") == 0 ? 0 : -1;
done:
    zmsg_destroy(&msg);
    if (rc != 0) /* the REP socket needs an answer before the next request */
        fx_zap_reply(zap, req, false, "");
    return rc;
}

int fx_zap_reply(zsock_t *zap, const fx_zap_request_t *req, bool allow, const char *user_id)
{
    return zsock_send(zap, "ssssss", "1.0", req->request_id, allow ? "200" : "400",
                      allow ? "OK" : "key not registered", allow ? user_id : "", "");
}

const char *fx_peer_user_id(zframe_t *frame)
{
    return frame ? zframe_meta(frame, "User-Id") : NULL;
}
