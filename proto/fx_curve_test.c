/*  fx_curve_test.c: CurveZMQ with our ZAP handler, in one loop: a client with
    the admitted key gets through and its User-Id is on every frame it sends;
    a client with another key, or in plaintext, gets nothing. */
#include <stdio.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_file.h"
#include "fx_log.h"

#include "fx_check.h"
#include "fx_testkit.h"

/* Serves ZAP requests and the server socket until deadline; returns the
   first message the server got (routing frame popped) or NULL. */
static zmsg_t *s_serve(zsock_t *zap, zsock_t *server, const char *admitted, int timeout_ms, int *denied)
{
    zpoller_t *poller = zpoller_new(zap, server, NULL);
    int64_t deadline = fx_now_ms() + timeout_ms;
    zmsg_t *got = NULL;
    while (!got && fx_now_ms() < deadline) {
        void *which = zpoller_wait(poller, (int) (deadline - fx_now_ms()));
        if (which == zap) {
            fx_zap_request_t req;
            if (fx_zap_recv(zap, &req) == 0) {
                bool ok = strcmp(req.domain, "fx-test") == 0 && strcmp(req.client_key, admitted) == 0;
                if (!ok)
                    (*denied)++;
                fx_zap_reply(zap, &req, ok, "user:test");
            }
        }
        else if (which == server) {
            got = zmsg_recv(server);
            zframe_t *rid = zmsg_pop(got);
            zframe_destroy(&rid);
        }
    }
    zpoller_destroy(&poller);
    return got;
}

static void scenario_curve_zap(void *ctx)
{
    fx_keypair_t server_kp, good, bad;
    fx_keypair_new(&server_kp);
    fx_keypair_new(&good);
    fx_keypair_new(&bad);
    CHECK(fx_key_valid(good.public_key) && !fx_key_valid("short"));

    zsock_t *zap = fx_zap_bind();
    CHECK(zap != NULL);
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    fx_curve_server(server, &server_kp, "fx-test");
    int port = zsock_bind(server, "tcp://127.0.0.1:*");
    CHECK(port > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", port);

    /* admitted key: the message arrives with User-Id on the header frame */
    zsock_t *client = zsock_new(ZMQ_DEALER);
    fx_curve_client(client, &good, server_kp.public_key);
    zsock_connect(client, "%s", addr);
    zstr_sendm(client, "header");
    zstr_send(client, "payload");
    int denied = 0;
    zmsg_t *got = s_serve(zap, server, good.public_key, 5000, &denied);
    CHECK(got != NULL);
    if (got) {
        zframe_t *header = zmsg_first(got);
        const char *uid = fx_peer_user_id(header);
        CHECK(uid && strcmp(uid, "user:test") == 0);
        CHECK(fx_peer_user_id(zmsg_next(got)) != NULL);
    }
    zmsg_destroy(&got);
    zsock_destroy(&client);

    /* another key: denied by ZAP, nothing arrives */
    client = zsock_new(ZMQ_DEALER);
    fx_curve_client(client, &bad, server_kp.public_key);
    zsock_connect(client, "%s", addr);
    zstr_send(client, "let me in");
    denied = 0;
    got = s_serve(zap, server, good.public_key, 1000, &denied);
    CHECK(got == NULL && denied >= 1);
    zmsg_destroy(&got);
    zsock_destroy(&client);

    /* plaintext: the Curve handshake fails, nothing arrives */
    client = zsock_new(ZMQ_DEALER);
    zsock_connect(client, "%s", addr);
    zstr_send(client, "plaintext");
    got = s_serve(zap, server, good.public_key, 500, &denied);
    CHECK(got == NULL);
    zsock_destroy(&client);

    zsock_destroy(&server);
    zsock_destroy(&zap);
}

/* Credentials: a round trip with mode 0600, a bad field named, keys that do
   not belong together called inconsistent, a file others can read warned
   about. */
static void scenario_credentials(void *ctx)
{
    fx_keypair_t server_kp, good, other;
    fx_keypair_new(&server_kp);
    fx_keypair_new(&good);
    fx_keypair_new(&other);
    char path[] = "/tmp/fx-creds-test-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char log_path[] = "/tmp/fx-creds-log-XXXXXX";
    fd = mkstemp(log_path);
    close(fd);
    fx_creds_t c = { 0 }, d;
    strcpy(c.broker_client, "tcp://127.0.0.1:1");
    strcpy(c.broker_endpoint, "tcp://127.0.0.1:2");
    strcpy(c.broker_public_key, server_kp.public_key);
    fx_id_new(c.user_id);
    strcpy(c.public_key, good.public_key);
    strcpy(c.secret_key, good.secret_key);
    CHECK(fx_creds_save(path, &c) == 0);
    char err[512];
    CHECK(fx_creds_load(path, &d, err, sizeof err) == 0 && memcmp(&c, &d, sizeof c) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(fx_keys_match(good.public_key, good.secret_key) && !fx_keys_match(other.public_key, good.secret_key));

    /* mode 0644: still loads, with a warning that says what to do */
    fx_log_init("fx_curve_test");
    CHECK(fx_log_open(log_path) == 0);
    chmod(path, 0644);
    CHECK(fx_creds_load(path, &d, err, sizeof err) == 0);
    char *logged = NULL;
    CHECK(fx_file_read(log_path, 1 << 16, &logged, NULL) == 0 && strstr(logged, "others may read it") &&
          strstr(logged, "chmod 600"), "no warning in: %s", logged ? logged : "");
    free(logged);

    /* a secret key from another pair: inconsistent, not "not registered" */
    strcpy(c.secret_key, other.secret_key);
    CHECK(fx_creds_save(path, &c) == 0);
    CHECK(fx_creds_load(path, &d, err, sizeof err) == -1 && strstr(err, "inconsistent"), "%s", err);
    strcpy(c.secret_key, good.secret_key);
    CHECK(fx_creds_save(path, &c) == 0);

    FILE *f = fopen(path, "a");
    fputs("user_id = nonsense\n", f);
    fclose(f);
    CHECK(fx_creds_load(path, &d, err, sizeof err) == -1 && strstr(err, "user_id"));

    /* a keypair file with mismatched keys */
    fx_kv_t kv = { 0 };
    fx_kv_set(&kv, "public_key", good.public_key);
    fx_kv_set(&kv, "secret_key", other.secret_key);
    CHECK(fx_kv_save(path, &kv, 0600, NULL) == 0);
    fx_keypair_t kp;
    CHECK(fx_keypair_load(path, &kp, false, err, sizeof err) == -1 && strstr(err, "inconsistent"), "%s", err);
    unlink(path);
    unlink(log_path);
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        { "curve_zap", scenario_curve_zap, false },
        { "credentials", scenario_credentials, false },
    };
    return fx_test_main("fx_curve_test", argc - 1, argv + 1, scenarios, sizeof scenarios / sizeof scenarios[0],
                        NULL);
}
