/*  fx_endpoint_test.c: the real fx-endpoint against a broker played by this
    test (two CurveZMQ ROUTERs and a ZAP handler answering from a small
    table, on free loopback ports).

    scenario_fake_managers   --managers 0; the test also plays the managers:
        registration order, ENDPOINT_HELLO, CREDIT = sum of windows, TASKS
        in / RESULTS out, garbage and bad fields from an admitted manager key
        get ERROR and the endpoint keeps serving, a wrong key is refused, a
        silent manager is lost and its task redispatched, broker restart
        (ERROR NO_SESSION) -> hello again, CREDIT, unacked results resent,
        SIGTERM -> COMMAND(STOP) and exit 0, the stats file.
    scenario_retry_limit     a task whose manager is lost on each of 3
        dispatches ends in an FX_E_WORKER_LOST error result.
    scenario_refused         the broker refuses REGISTER_ENDPOINT: exit 1
        and the broker's text on stderr.
    scenario_real_managers   (when fx-manager and fx-worker are built) two
        real managers with one worker each run four Python tasks; SIGTERM
        leaves no process behind.

    Every wait has a deadline; nothing sleeps for a fixed time. */
#define _GNU_SOURCE /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <msgpack.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_conf.h"
#include "fx_msg.h"

#define HB_MS 100
#define WAIT_MS 10000 /* generous: ASan builds and a loaded CI machine */
#define MAX_FAKES 4

static int s_failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                  \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            s_failures++;                                                                                    \
        }                                                                                                    \
    } while (0)

/* A manager played by the test. */
typedef struct {
    zsock_t *sock;
    zlistx_t *inbox; /* fx_msg_t *, owned */
    fx_id_text_t id;
    bool beating; /* send HEARTBEAT every HB_MS */
    int64_t next_beat;
    uint32_t seq;
} s_fake_t;

/* The broker played by the test, and the fx-endpoint it serves. */
typedef struct {
    char root[PATH_MAX];
    fx_keypair_t broker_kp, user_kp;
    fx_id_text_t user_id;
    zsock_t *zap, *client, *endpoint;
    char client_addr[64], endpoint_addr[64];
    bool refuse_register;
    /* learned from the endpoint */
    fx_id_text_t ep_id;
    char ep_pub[FX_KEY_LEN + 1];
    bool client_hello_seen, registered, register_before_hello;
    int ep_hellos;
    char ep_user_id[128];
    zframe_t *ep_routing;
    zlistx_t *ep_inbox; /* fx_msg_t * from the endpoint: not HEARTBEAT, CREDIT, ENDPOINT_HELLO */
    int credits;
    uint32_t window;
    uint32_t seq;
    int64_t next_beat;
    /* the process */
    pid_t pid;
    int out_fd;
    char out[8192];
    size_t out_len;
    char ready_id[64];
    char managers_addr[256];
    int exit_status; /* -1 while running */
    s_fake_t fakes[MAX_FAKES];
    int nfakes;
} s_broker_t;

/* ------------------------------------------------------------ helpers */

static void s_msg_free(void **item_p)
{
    fx_msg_destroy((fx_msg_t **) item_p);
}

static fx_msg_t *s_take(zlistx_t *inbox, fx_msg_type_t type)
{
    for (fx_msg_t *m = zlistx_first(inbox); m; m = zlistx_next(inbox))
        if (m->type == type) {
            zlistx_detach_cur(inbox);
            return m;
        }
    return NULL;
}

static int s_send(zsock_t *sock, zframe_t *routing, fx_msg_t *msg, uint32_t *seq)
{
    msg->seq = ++*seq;
    return fx_msg_send(&msg, sock, routing);
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    return remove(path);
}

/* ------------------------------------------------------------ the broker */

static void s_on_zap(s_broker_t *b)
{
    fx_zap_request_t req;
    if (fx_zap_recv(b->zap, &req) != 0)
        return;
    char uid[128] = "";
    bool allow = false;
    if (strcmp(req.domain, "fx-client") == 0 && strcmp(req.client_key, b->user_kp.public_key) == 0) {
        snprintf(uid, sizeof uid, "user:%s", b->user_id);
        allow = true;
    }
    else if (strcmp(req.domain, "fx-endpoint") == 0 && b->registered &&
             strcmp(req.client_key, b->ep_pub) == 0) {
        snprintf(uid, sizeof uid, "endpoint:%s", b->ep_id);
        allow = true;
    }
    fx_zap_reply(b->zap, &req, allow, uid);
}

static void s_on_client(s_broker_t *b)
{
    zmsg_t *zmsg = zmsg_recv(b->client);
    zframe_t *rid = zmsg_pop(zmsg);
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    int rc = fx_msg_decode(zmsg, &msg, &seq, NULL);
    zmsg_destroy(&zmsg);
    CHECK(rc == FX_OK, "the endpoint's client-port message decodes: %s", fx_strerror(rc));
    if (rc == FX_OK && msg->type == FX_MSG_HELLO) {
        b->client_hello_seen = true;
        CHECK(fx_id_valid(msg->hello.client_id) && strcmp(msg->hello.client_version, FX_VERSION) == 0,
              "HELLO carries a fresh id and FX_VERSION");
        fx_msg_t *w = fx_msg_new(FX_MSG_WELCOME);
        memcpy(w->welcome.id, msg->hello.client_id, sizeof w->welcome.id);
        w->welcome.heartbeat_ms = HB_MS;
        w->seq = msg->seq;
        fx_msg_send(&w, b->client, rid);
    }
    else if (rc == FX_OK && msg->type == FX_MSG_REGISTER_ENDPOINT) {
        if (!b->client_hello_seen)
            b->register_before_hello = true;
        if (b->refuse_register) {
            fx_send_error(b->client, rid, msg->seq, FX_E_CONFLICT, "endpoint id held by another user (test)");
        }
        else {
            memcpy(b->ep_id, msg->register_endpoint.endpoint_id, sizeof b->ep_id);
            memcpy(b->ep_pub, msg->register_endpoint.public_key, sizeof b->ep_pub);
            b->registered = true;
            fx_msg_t *r = fx_msg_new(FX_MSG_ENDPOINT_REGISTERED);
            memcpy(r->endpoint_registered.endpoint_id, b->ep_id, sizeof b->ep_id);
            r->seq = msg->seq;
            fx_msg_send(&r, b->client, rid);
        }
    }
    fx_msg_destroy(&msg);
    zframe_destroy(&rid);
}

static void s_on_endpoint(s_broker_t *b)
{
    zmsg_t *zmsg = zmsg_recv(b->endpoint);
    zframe_t *rid = zmsg_pop(zmsg);
    const char *uid = fx_peer_user_id(zmsg_first(zmsg));
    snprintf(b->ep_user_id, sizeof b->ep_user_id, "%s", uid ? uid : "");
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    int rc = fx_msg_decode(zmsg, &msg, &seq, NULL);
    zmsg_destroy(&zmsg);
    CHECK(rc == FX_OK, "the endpoint's message decodes: %s", fx_strerror(rc));
    if (rc != FX_OK)
        goto done;
    zframe_destroy(&b->ep_routing);
    b->ep_routing = zframe_dup(rid);
    if (msg->type == FX_MSG_ENDPOINT_HELLO) {
        b->ep_hellos++;
        CHECK(strcmp(msg->endpoint_hello.endpoint_id, b->ep_id) == 0, "ENDPOINT_HELLO names the "
                                                                      "registered id");
        fx_msg_t *w = fx_msg_new(FX_MSG_WELCOME);
        memcpy(w->welcome.id, b->ep_id, sizeof w->welcome.id);
        w->welcome.heartbeat_ms = HB_MS;
        w->seq = msg->seq;
        fx_msg_send(&w, b->endpoint, rid);
    }
    else if (msg->type == FX_MSG_CREDIT) {
        b->credits++;
        b->window = msg->credit.window;
    }
    else if (msg->type != FX_MSG_HEARTBEAT) {
        zlistx_add_end(b->ep_inbox, msg);
        msg = NULL;
    }
done:
    fx_msg_destroy(&msg);
    zframe_destroy(&rid);
}

static void s_on_fake(s_fake_t *f)
{
    zmsg_t *zmsg = zmsg_recv(f->sock);
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    int rc = fx_msg_decode(zmsg, &msg, &seq, NULL);
    zmsg_destroy(&zmsg);
    CHECK(rc == FX_OK, "the endpoint's message to a manager decodes: %s", fx_strerror(rc));
    if (rc == FX_OK && msg->type != FX_MSG_HEARTBEAT)
        zlistx_add_end(f->inbox, msg);
    else
        fx_msg_destroy(&msg);
}

/* Reads what the endpoint printed on stdout; notes the two known lines. */
static void s_on_stdout(s_broker_t *b)
{
    ssize_t n = read(b->out_fd, b->out + b->out_len, sizeof b->out - 1 - b->out_len);
    if (n <= 0)
        return;
    b->out_len += (size_t) n;
    b->out[b->out_len] = '\0';
    const char *ready = strstr(b->out, "fx-endpoint: ready endpoint_id=");
    if (ready && !b->ready_id[0])
        sscanf(ready, "fx-endpoint: ready endpoint_id=%36s", b->ready_id);
    const char *managers = strstr(b->out, "fx-endpoint: managers=");
    if (managers && !b->managers_addr[0])
        sscanf(managers, "fx-endpoint: managers=%255s", b->managers_addr);
}

/* One round of everything: ZAP, both broker ports, stdout, fake managers,
   heartbeats. Waits up to timeout_ms for something to happen. */
static void s_pump(s_broker_t *b, int timeout_ms)
{
    zmq_pollitem_t items[4 + MAX_FAKES];
    int n = 0;
    items[n++] = (zmq_pollitem_t){zsock_resolve(b->zap), 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){zsock_resolve(b->client), 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){zsock_resolve(b->endpoint), 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){NULL, b->out_fd, ZMQ_POLLIN, 0};
    for (int i = 0; i < b->nfakes; i++)
        items[n++] = (zmq_pollitem_t){zsock_resolve(b->fakes[i].sock), 0, ZMQ_POLLIN, 0};
    zmq_poll(items, n, timeout_ms);
    while (zsock_events(b->zap) & ZMQ_POLLIN)
        s_on_zap(b);
    while (zsock_events(b->client) & ZMQ_POLLIN)
        s_on_client(b);
    while (zsock_events(b->endpoint) & ZMQ_POLLIN)
        s_on_endpoint(b);
    if (items[3].revents & ZMQ_POLLIN)
        s_on_stdout(b);
    for (int i = 0; i < b->nfakes; i++)
        while (zsock_events(b->fakes[i].sock) & ZMQ_POLLIN)
            s_on_fake(&b->fakes[i]);
    int64_t now = fx_now_ms();
    if (b->ep_routing && now >= b->next_beat) {
        b->next_beat = now + HB_MS;
        s_send(b->endpoint, b->ep_routing, fx_msg_new(FX_MSG_HEARTBEAT), &b->seq);
    }
    for (int i = 0; i < b->nfakes; i++) {
        s_fake_t *f = &b->fakes[i];
        if (f->beating && now >= f->next_beat) {
            f->next_beat = now + HB_MS;
            s_send(f->sock, NULL, fx_msg_new(FX_MSG_HEARTBEAT), &f->seq);
        }
    }
    if (b->exit_status == -1 && b->pid > 0) {
        int status;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid)
            b->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

/* Pump until cond holds or WAIT_MS pass; true if it held. cond is
   evaluated once per round (it may take a message out of an inbox). */
#define WAIT_UNTIL(b, cond)                                                                                  \
    ({                                                                                                       \
        int64_t deadline_ = fx_now_ms() + WAIT_MS;                                                           \
        bool held_ = false;                                                                                  \
        while (!(held_ = (cond)) && fx_now_ms() < deadline_)                                                 \
            s_pump((b), 20);                                                                                 \
        held_;                                                                                               \
    })

/* Wait for a message of this type in inbox; caller owns it (NULL on timeout). */
static fx_msg_t *s_expect(s_broker_t *b, zlistx_t *inbox, fx_msg_type_t type)
{
    fx_msg_t *m = NULL;
    WAIT_UNTIL(b, (m = s_take(inbox, type)) != NULL);
    if (!m)
        fprintf(stderr, "  (no %s within %d ms)\n", fx_msg_type_name(type), WAIT_MS);
    return m;
}

static int s_broker_start(s_broker_t *b)
{
    memset(b, 0, sizeof *b);
    b->exit_status = -1;
    b->pid = -1;
    b->out_fd = -1;
    snprintf(b->root, sizeof b->root, "/tmp/fx-endpoint-test-XXXXXX");
    if (!mkdtemp(b->root))
        return -1;
    fx_keypair_new(&b->broker_kp);
    fx_keypair_new(&b->user_kp);
    fx_id_new(b->user_id);
    b->ep_inbox = zlistx_new();
    zlistx_set_destructor(b->ep_inbox, s_msg_free);
    b->zap = fx_zap_bind();
    b->client = zsock_new(ZMQ_ROUTER);
    b->endpoint = zsock_new(ZMQ_ROUTER);
    if (!b->zap || !b->client || !b->endpoint)
        return -1;
    fx_curve_server(b->client, &b->broker_kp, "fx-client");
    fx_curve_server(b->endpoint, &b->broker_kp, "fx-endpoint");
    int p1 = zsock_bind(b->client, "tcp://127.0.0.1:*");
    int p2 = zsock_bind(b->endpoint, "tcp://127.0.0.1:*");
    if (p1 <= 0 || p2 <= 0)
        return -1;
    snprintf(b->client_addr, sizeof b->client_addr, "tcp://127.0.0.1:%d", p1);
    snprintf(b->endpoint_addr, sizeof b->endpoint_addr, "tcp://127.0.0.1:%d", p2);
    fx_creds_t creds;
    memset(&creds, 0, sizeof creds);
    snprintf(creds.broker_client, sizeof creds.broker_client, "%s", b->client_addr);
    snprintf(creds.broker_endpoint, sizeof creds.broker_endpoint, "%s", b->endpoint_addr);
    memcpy(creds.broker_public_key, b->broker_kp.public_key, sizeof creds.broker_public_key);
    memcpy(creds.user_id, b->user_id, sizeof creds.user_id);
    memcpy(creds.public_key, b->user_kp.public_key, sizeof creds.public_key);
    memcpy(creds.secret_key, b->user_kp.secret_key, sizeof creds.secret_key);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/user.creds", b->root);
    return fx_creds_save(path, &creds);
}

/* Start fx-endpoint (beside this test binary) with extra flags (NULL-ended). */
static int s_endpoint_start(s_broker_t *b, const char *managers, ...)
{
    char bindir[PATH_MAX], exe[PATH_MAX + 16], creds[PATH_MAX + 16], dir[PATH_MAX + 16], stats[PATH_MAX + 16],
        errlog[PATH_MAX + 16], hb[16];
    fx_self_dir(bindir, sizeof bindir);
    snprintf(exe, sizeof exe, "%s/fx-endpoint", bindir);
    snprintf(creds, sizeof creds, "%s/user.creds", b->root);
    snprintf(dir, sizeof dir, "%s/ep", b->root);
    snprintf(stats, sizeof stats, "%s/ep.stats", b->root);
    snprintf(errlog, sizeof errlog, "%s/ep.stderr", b->root);
    snprintf(hb, sizeof hb, "%d", HB_MS);
    const char *argv[32] = {exe,      "--creds",      creds,        "--dir",  dir,
                            "--name", "test-ep",      "--managers", managers, "--heartbeat-ms",
                            hb,       "--stats-file", stats};
    int argc = 13;
    va_list ap;
    va_start(ap, managers);
    for (const char *a = va_arg(ap, const char *); a && argc < 30; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    b->pid = fork();
    if (b->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        int efd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (efd >= 0 && !getenv("FX_TEST_VERBOSE"))
            dup2(efd, STDERR_FILENO);
        close(fds[0]);
        execv(exe, (char *const *) argv);
        _exit(127);
    }
    close(fds[1]);
    b->out_fd = fds[0];
    fcntl(b->out_fd, F_SETFL, O_NONBLOCK);
    return b->pid > 0 ? 0 : -1;
}

/* SIGTERM the endpoint and wait for its exit; returns the exit status. */
static int s_endpoint_stop(s_broker_t *b)
{
    if (b->pid > 0 && b->exit_status == -1)
        kill(b->pid, SIGTERM);
    WAIT_UNTIL(b, b->exit_status != -1);
    if (b->exit_status == -1) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
    }
    return b->exit_status;
}

static void s_broker_stop(s_broker_t *b, bool keep_root)
{
    if (b->pid > 0 && b->exit_status == -1) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
    }
    for (int i = 0; i < b->nfakes; i++) {
        zsock_destroy(&b->fakes[i].sock);
        zlistx_destroy(&b->fakes[i].inbox);
    }
    if (b->out_fd >= 0)
        close(b->out_fd);
    zframe_destroy(&b->ep_routing);
    zlistx_destroy(&b->ep_inbox);
    zsock_destroy(&b->client);
    zsock_destroy(&b->endpoint);
    zsock_destroy(&b->zap);
    if (keep_root)
        fprintf(stderr, "  (kept %s for a look)\n", b->root);
    else
        nftw(b->root, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Registration, hello, ready line, first CREDIT. */
static bool s_until_ready(s_broker_t *b)
{
    bool ok = WAIT_UNTIL(b, b->registered && b->ep_hellos > 0 && b->ready_id[0] && b->managers_addr[0] &&
                                b->credits > 0);
    CHECK(ok, "registered %d, hellos %d, ready '%s', managers '%s', credits %d", b->registered, b->ep_hellos,
          b->ready_id, b->managers_addr, b->credits);
    return ok;
}

/* ------------------------------------------------------------ fake managers */

static s_fake_t *s_fake_new(s_broker_t *b, const fx_keypair_t *kp)
{
    s_fake_t *f = &b->fakes[b->nfakes++];
    memset(f, 0, sizeof *f);
    f->sock = zsock_new(ZMQ_DEALER);
    f->inbox = zlistx_new();
    zlistx_set_destructor(f->inbox, s_msg_free);
    fx_id_new(f->id);
    fx_curve_client(f->sock, kp, b->ep_pub);
    zsock_connect(f->sock, "%s", b->managers_addr);
    return f;
}

static fx_keypair_t s_manager_key(s_broker_t *b)
{
    fx_keypair_t kp;
    char path[PATH_MAX + 32], err[256];
    snprintf(path, sizeof path, "%s/ep/manager.key", b->root);
    CHECK(fx_keypair_load(path, &kp, false, err, sizeof err) == 0, "manager.key: %s", err);
    return kp;
}

static bool s_fake_hello(s_broker_t *b, s_fake_t *f, uint32_t window)
{
    fx_msg_t *h = fx_msg_new(FX_MSG_MANAGER_HELLO);
    memcpy(h->manager_hello.manager_id, f->id, sizeof f->id);
    fx_strlcpy(h->manager_hello.host, "test-host", sizeof h->manager_hello.host);
    h->manager_hello.pid = (uint32_t) getpid();
    h->manager_hello.workers = window;
    fx_strlcpy(h->manager_hello.version, FX_VERSION, sizeof h->manager_hello.version);
    s_send(f->sock, NULL, h, &f->seq);
    fx_msg_t *w = s_expect(b, f->inbox, FX_MSG_WELCOME);
    bool ok = w && strcmp(w->welcome.id, f->id) == 0 && w->welcome.heartbeat_ms == HB_MS;
    CHECK(ok, "MANAGER_HELLO -> WELCOME with the manager's id and the heartbeat period");
    fx_msg_destroy(&w);
    f->beating = true;
    fx_msg_t *c = fx_msg_new(FX_MSG_CREDIT);
    c->credit.window = window;
    s_send(f->sock, NULL, c, &f->seq);
    return ok;
}

/* Sends raw frames (already encoded) from a fake manager and expects ERROR
   with the given code (0: any code). */
static void s_expect_error(s_broker_t *b, s_fake_t *f, zmsg_t *raw, int code, const char *what)
{
    zmsg_send(&raw, f->sock);
    fx_msg_t *e = s_expect(b, f->inbox, FX_MSG_ERROR);
    CHECK(e && (code == 0 || e->error.code == code), "%s: ERROR %s expected, got %s (%s)", what,
          code ? fx_errname(code) : "(any)", e ? fx_errname(e->error.code) : "nothing",
          e && e->error.text ? e->error.text : "");
    fx_msg_destroy(&e);
}

/* A header frame packed by hand: [version, type, seq, body...] with body
   given as a packer callback. */
static zmsg_t *s_raw(uint32_t version, uint32_t type, void (*body)(msgpack_packer *))
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, version);
    msgpack_pack_uint32(&pk, type);
    msgpack_pack_uint32(&pk, 77);
    body(&pk);
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy(&sbuf);
    return m;
}

static void s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void s_body_bad_hello(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 6);
    s_pack_str(pk, "not-an-id"); /* manager_id must be a canonical id */
    s_pack_str(pk, "host");
    msgpack_pack_uint32(pk, 1);
    msgpack_pack_uint32(pk, 1);
    s_pack_str(pk, FX_VERSION);
    msgpack_pack_array(pk, 0);
}

/* A body no message type has: seven nils (the most fields any type has is
   six), so every type must refuse it as FX_E_BAD_FIELD. */
static void s_body_seven_nils(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 7);
    for (int i = 0; i < 7; i++)
        msgpack_pack_nil(pk);
}

static void s_body_credit(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint32(pk, 1);
}

/* ------------------------------------------------------------ tasks */

static fx_msg_t *s_tasks(int count, fx_id_text_t *ids, int kind, const char *body, const char *entry,
                         const void *payload, size_t payload_len)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(m, (uint32_t) count);
    for (int i = 0; i < count; i++) {
        fx_task_t *t = &m->tasks.tasks[i];
        fx_id_new(ids[i]);
        memcpy(t->task_id, ids[i], sizeof t->task_id);
        fx_id_new(t->function_id);
        t->kind = (uint8_t) kind;
        fx_strlcpy(t->entry, entry, sizeof t->entry);
        fx_strlcpy(t->py_version, FX_TEST_PY_VERSION, sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->body = zframe_new(body, strlen(body));
        t->payload = zframe_new(payload, payload_len);
    }
    return m;
}

static bool s_has_result(fx_msg_t *m, const char *id)
{
    for (uint32_t i = 0; m && i < m->results.count; i++)
        if (strcmp(m->results.results[i].task_id, id) == 0)
            return true;
    return false;
}

/* Collect RESULTS from the endpoint until every id in ids has one. */
static int s_collect_results(s_broker_t *b, fx_id_text_t *ids, int count, int *ok_status)
{
    bool seen[16] = {false};
    int got = 0;
    int64_t deadline = fx_now_ms() + 6 * WAIT_MS;
    while (got < count && fx_now_ms() < deadline) {
        fx_msg_t *m = s_take(b->ep_inbox, FX_MSG_RESULTS);
        if (!m) {
            s_pump(b, 20);
            continue;
        }
        for (uint32_t i = 0; i < m->results.count; i++)
            for (int k = 0; k < count; k++)
                if (!seen[k] && strcmp(m->results.results[i].task_id, ids[k]) == 0) {
                    seen[k] = true;
                    got++;
                    if (ok_status && m->results.results[i].status == FX_RESULT_OK)
                        (*ok_status)++;
                    else if (m->results.results[i].status != FX_RESULT_OK)
                        fprintf(stderr, "  result %s: status %d code %s: %s\n", ids[k],
                                m->results.results[i].status, fx_errname(m->results.results[i].error_code),
                                m->results.results[i].error_text ? m->results.results[i].error_text : "");
                }
        fx_msg_destroy(&m);
    }
    return got;
}

static void s_ack(s_broker_t *b, fx_id_text_t *ids, int count)
{
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, (uint32_t) count);
    for (int i = 0; i < count; i++)
        memcpy(ack->ids.ids[i], ids[i], sizeof ack->ids.ids[i]);
    s_send(b->endpoint, b->ep_routing, ack, &b->seq);
}

static fx_result_t *s_fill_result(fx_msg_t *m, uint32_t i, const char *id, const char *value)
{
    fx_result_t *r = &m->results.results[i];
    memcpy(r->task_id, id, sizeof r->task_id);
    r->status = FX_RESULT_OK;
    r->value = zframe_new(value, strlen(value));
    r->output = zframe_new_empty();
    return r;
}

/* ------------------------------------------------------------ scenarios */

static const char s_shell_payload[] = "\x80\x02K\x15\x85q\x00}q\x01\x86q\x02."; /* ((21,), {}) */

static void scenario_fake_managers(void)
{
    fprintf(stderr, "scenario_fake_managers\n");
    s_broker_t b;
    CHECK(s_broker_start(&b) == 0, "fake broker starts");
    CHECK(s_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!s_until_ready(&b))
        goto done;
    CHECK(!b.register_before_hello, "HELLO came before REGISTER_ENDPOINT");
    CHECK(strcmp(b.ready_id, b.ep_id) == 0, "ready line names the registered id (%s vs %s)", b.ready_id,
          b.ep_id);
    char want_uid[64];
    snprintf(want_uid, sizeof want_uid, "endpoint:%s", b.ep_id);
    CHECK(strcmp(b.ep_user_id, want_uid) == 0, "the endpoint link authenticated as %s (got %s)", want_uid,
          b.ep_user_id);
    CHECK(b.window == 0, "no managers: window 0 (got %u)", b.window);

    fx_keypair_t mkp = s_manager_key(&b);
    s_fake_t *a = s_fake_new(&b, &mkp);
    s_fake_hello(&b, a, 2);
    CHECK(WAIT_UNTIL(&b, b.window == 2), "CREDIT follows the manager's window: 2 (got %u)", b.window);

    /* two tasks in, both dispatched to A within its window */
    fx_id_text_t ids[5];
    s_send(b.endpoint, b.ep_routing,
           s_tasks(2, ids, FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1), &b.seq);
    int at_a = 0;
    fx_msg_t *t = NULL;
    while (at_a < 2 && (t = s_expect(&b, a->inbox, FX_MSG_TASKS)) != NULL) {
        for (uint32_t i = 0; i < t->tasks.count; i++)
            CHECK(zframe_size(t->tasks.tasks[i].payload) == sizeof s_shell_payload - 1 &&
                      t->tasks.tasks[i].attempt == 0,
                  "payload passed through untouched, first attempt");
        at_a += (int) t->tasks.count;
        fx_msg_destroy(&t);
    }
    CHECK(at_a == 2, "manager A got both tasks (%d)", at_a);

    /* A answers the first: the broker gets RESULTS (A gets no reply) */
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    s_fill_result(res, 0, ids[0], "v0");
    s_send(a->sock, NULL, res, &a->seq);
    fx_msg_t *r = s_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && s_has_result(r, ids[0]) && zframe_streq(r->results.results[0].value, "v0"),
          "the broker got task 0's result");
    CHECK(r && r->seq != 0, "RESULTS to the broker is a request: nonzero seq");
    fx_msg_destroy(&r);

    /* garbage and bad fields from an admitted manager key: ERROR, go on */
    s_fake_t *bad = s_fake_new(&b, &mkp);
    zmsg_t *raw = zmsg_new();
    zmsg_addstr(raw, "\xc1 this is not msgpack");
    s_expect_error(&b, bad, raw, FX_E_MALFORMED, "garbage header");
    s_expect_error(&b, bad, s_raw(FX_PROTO_VERSION, FX_MSG_MANAGER_HELLO, s_body_bad_hello), FX_E_BAD_FIELD,
                   "MANAGER_HELLO with a bad manager_id");
    s_expect_error(&b, bad, s_raw(99, FX_MSG_CREDIT, s_body_credit), FX_E_VERSION, "protocol version 99");
    s_expect_error(&b, bad, s_raw(FX_PROTO_VERSION, FX_MSG_CREDIT, s_body_credit), FX_E_NO_SESSION,
                   "CREDIT before MANAGER_HELLO");
    s_expect_error(&b, bad, s_raw(FX_PROTO_VERSION, 200, s_body_credit), 0, "unknown type 200");
    zmsg_t *empty = zmsg_new();
    zmsg_addmem(empty, "", 0);
    s_expect_error(&b, bad, empty, 0, "empty header frame");
    /* every message type, with a body of the wrong shape */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        char what[64];
        snprintf(what, sizeof what, "%s with a malformed body", fx_msg_type_name(type));
        s_expect_error(&b, bad, s_raw(FX_PROTO_VERSION, (uint32_t) type, s_body_seven_nils), FX_E_BAD_FIELD,
                       what);
    }

    /* a key the endpoint does not know gets nowhere */
    fx_keypair_t stranger_kp;
    fx_keypair_new(&stranger_kp);
    s_fake_t *stranger = s_fake_new(&b, &stranger_kp);
    s_send(stranger->sock, NULL, fx_msg_new(FX_MSG_HEARTBEAT), &stranger->seq);

    /* the endpoint still serves: a second manager B joins */
    s_fake_t *mb = s_fake_new(&b, &mkp);
    s_fake_hello(&b, mb, 3);
    CHECK(WAIT_UNTIL(&b, b.window == 5), "CREDIT is the sum of windows: 5 (got %u)", b.window);
    CHECK(zlistx_size(stranger->inbox) == 0, "the stranger got no answer");

    /* A falls silent: lost after 5 beats; task 1 goes to B as attempt 1 */
    a->beating = false;
    t = s_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[1]) == 0 &&
              t->tasks.tasks[0].attempt == 1,
          "the lost manager's task was redispatched to B as attempt 1");
    fx_msg_destroy(&t);
    CHECK(WAIT_UNTIL(&b, b.window == 3), "CREDIT dropped to B's window: 3 (got %u)", b.window);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    s_fill_result(res, 0, ids[1], "v1");
    s_send(mb->sock, NULL, res, &mb->seq);
    r = s_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && s_has_result(r, ids[1]), "the broker got task 1's result");
    fx_msg_destroy(&r);

    /* task 3 is running at B when the broker "restarts" */
    s_send(b.endpoint, b.ep_routing,
           s_tasks(1, &ids[3], FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1),
           &b.seq);
    t = s_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[3]) == 0, "task 3 reached B");
    fx_msg_destroy(&t);

    /* the broker "restarts": NO_SESSION -> hello again, CREDIT less the task
       still held from the old session, resend unacknowledged results */
    int credits = b.credits;
    fx_send_error(b.endpoint, b.ep_routing, 0, FX_E_NO_SESSION, "no session (test)");
    CHECK(WAIT_UNTIL(&b, b.ep_hellos == 2 && b.credits > credits && b.window == 2),
          "ENDPOINT_HELLO again (%d) then CREDIT 3 - 1 old task = 2 (got %u)", b.ep_hellos, b.window);
    bool got0 = false, got1 = false;
    WAIT_UNTIL(&b, (r = s_take(b.ep_inbox, FX_MSG_RESULTS)) != NULL &&
                       ((got0 |= s_has_result(r, ids[0])), (got1 |= s_has_result(r, ids[1])),
                        fx_msg_destroy(&r), got0 && got1));
    CHECK(got0 && got1, "both unacknowledged results were resent (%d %d)", got0, got1);
    s_ack(&b, ids, 2);

    /* the new broker session sends task 3 again: tied to the running copy */
    s_send(b.endpoint, b.ep_routing,
           s_tasks(1, &ids[4], FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1),
           &b.seq);
    fx_id_text_t scratch;
    fx_msg_t *again =
        s_tasks(1, &scratch, FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1);
    memcpy(again->tasks.tasks[0].task_id, ids[3], sizeof ids[3]);
    s_send(b.endpoint, b.ep_routing, again, &b.seq);
    t = s_expect(&b, mb->inbox, FX_MSG_TASKS); /* task 4 only */
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[4]) == 0, "task 4 reached B");
    fx_msg_destroy(&t);
    CHECK(WAIT_UNTIL(&b, b.window == 3), "task 3 counts in the new session: CREDIT 3 (got %u)", b.window);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 2);
    s_fill_result(res, 0, ids[3], "v3");
    s_fill_result(res, 1, ids[4], "v4");
    s_send(mb->sock, NULL, res, &mb->seq);
    got0 = got1 = false;
    WAIT_UNTIL(&b, (r = s_take(b.ep_inbox, FX_MSG_RESULTS)) != NULL &&
                       ((got0 |= s_has_result(r, ids[3])), (got1 |= s_has_result(r, ids[4])),
                        fx_msg_destroy(&r), got0 && got1));
    CHECK(got0 && got1, "results of tasks 3 and 4 (%d %d)", got0, got1);
    s_ack(&b, &ids[3], 2);
    CHECK(s_take(mb->inbox, FX_MSG_TASKS) == NULL, "task 3 was not dispatched a second time");

    /* one more task through B after the restart */
    s_send(b.endpoint, b.ep_routing,
           s_tasks(1, &ids[2], FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1),
           &b.seq);
    t = s_expect(&b, mb->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1, "task 2 reached B");
    fx_msg_destroy(&t);
    res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    s_fill_result(res, 0, ids[2], "v2");
    s_send(mb->sock, NULL, res, &mb->seq);
    r = s_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && s_has_result(r, ids[2]), "the broker got task 2's result");
    fx_msg_destroy(&r);
    s_ack(&b, &ids[2], 1);

    /* SIGTERM: STOP to the managers, exit 0, stats on disk */
    int rc = s_endpoint_stop(&b);
    CHECK(rc == 0, "fx-endpoint exits 0 on SIGTERM (got %d)", rc);
    fx_msg_t *cmd = s_take(mb->inbox, FX_MSG_COMMAND);
    if (!cmd)
        cmd = s_expect(&b, mb->inbox, FX_MSG_COMMAND);
    CHECK(cmd && cmd->command.command == FX_CMD_STOP && cmd->seq == 0, "manager B got COMMAND(STOP), seq 0");
    CHECK(s_take(a->inbox, FX_MSG_RESULTS_ACK) == NULL && s_take(mb->inbox, FX_MSG_RESULTS_ACK) == NULL,
          "no RESULTS_ACK on the manager link");
    fx_msg_destroy(&cmd);
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof path, "%s/ep.stats", b.root);
    fx_kv_t kv;
    CHECK(fx_kv_load(path, &kv, err, sizeof err) == 0, "stats file: %s", err);
    const char *rx = fx_kv_get(&kv, "tasks_received"), *sent = fx_kv_get(&kv, "results_sent"),
               *held = fx_kv_get(&kv, "max_held"), *win = fx_kv_get(&kv, "window_at_max_held"),
               *lost = fx_kv_get(&kv, "managers_lost"), *bad_n = fx_kv_get(&kv, "bad_messages");
    CHECK(rx && atoi(rx) == 5, "tasks_received=5 (%s)", rx ? rx : "-");
    CHECK(sent && atoi(sent) == 5, "results_sent=5 (%s)", sent ? sent : "-");
    const char *dups = fx_kv_get(&kv, "tasks_duplicate");
    CHECK(dups && atoi(dups) == 1, "tasks_duplicate=1 (%s)", dups ? dups : "-");
    CHECK(held && win && atoi(held) >= 1 && atoi(held) <= atoi(win), "max_held %s <= window at that time %s",
          held ? held : "-", win ? win : "-");
    CHECK(lost && atoi(lost) == 1, "managers_lost=1 (%s)", lost ? lost : "-");
    CHECK(bad_n && atoi(bad_n) >= 5, "bad_messages counted (%s)", bad_n ? bad_n : "-");
done:
    s_broker_stop(&b, s_failures > 0);
}

static void scenario_refused(void)
{
    fprintf(stderr, "scenario_refused\n");
    s_broker_t b;
    CHECK(s_broker_start(&b) == 0, "fake broker starts");
    b.refuse_register = true;
    CHECK(s_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    CHECK(WAIT_UNTIL(&b, b.exit_status != -1), "fx-endpoint gives up");
    CHECK(b.exit_status == 1, "exit 1 when the broker refuses REGISTER_ENDPOINT (got %d)", b.exit_status);
    char path[PATH_MAX + 16], text[4096] = "";
    snprintf(path, sizeof path, "%s/ep.stderr", b.root);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    CHECK(getenv("FX_TEST_VERBOSE") ||
              (strstr(text, "endpoint id held by another user (test)") && strstr(text, "--dir")),
          "stderr has the broker's text and what to do: %s", text);
    CHECK(!b.ready_id[0], "no ready line");
    s_broker_stop(&b, s_failures > 0);
}

/* A task whose manager is lost on each of its 3 dispatches ends in an
   FX_E_WORKER_LOST error result instead of a 4th dispatch. */
static void scenario_retry_limit(void)
{
    fprintf(stderr, "scenario_retry_limit\n");
    s_broker_t b;
    CHECK(s_broker_start(&b) == 0, "fake broker starts");
    CHECK(s_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!s_until_ready(&b))
        goto done;
    fx_keypair_t mkp = s_manager_key(&b);
    fx_id_text_t id;
    s_send(b.endpoint, b.ep_routing,
           s_tasks(1, &id, FX_FN_SHELL, "echo {0}", "", s_shell_payload, sizeof s_shell_payload - 1),
           &b.seq);
    for (uint32_t attempt = 0; attempt < 3; attempt++) {
        s_fake_t *m = s_fake_new(&b, &mkp);
        s_fake_hello(&b, m, 1);
        fx_msg_t *t = s_expect(&b, m->inbox, FX_MSG_TASKS);
        CHECK(t && t->tasks.count == 1 && t->tasks.tasks[0].attempt == attempt,
              "dispatch %u of the task carries attempt %u", attempt + 1, attempt);
        fx_msg_destroy(&t);
        m->beating = false; /* and is lost */
    }
    fx_msg_t *r = s_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && r->results.count == 1 && strcmp(r->results.results[0].task_id, id) == 0
              && r->results.results[0].status == FX_RESULT_ERROR
              && r->results.results[0].error_code == FX_E_WORKER_LOST
              && r->results.results[0].error_text,
          "after 3 lost dispatches: an FX_E_WORKER_LOST error result");
    fx_msg_destroy(&r);
    CHECK(s_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    s_broker_stop(&b, s_failures > 0);
}

/* True if any process still has path in its command line. */
static bool s_process_with(const char *path)
{
    bool found = false;
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && !found && (e = readdir(proc))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char file[300], cmd[4096];
        snprintf(file, sizeof file, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(file, "r");
        if (!f)
            continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (cmd[i] == '\0')
                cmd[i] = ' ';
        cmd[n] = '\0';
        found = strstr(cmd, path) != NULL;
    }
    if (proc)
        closedir(proc);
    return found;
}

static void scenario_real_managers(void)
{
    fprintf(stderr, "scenario_real_managers\n");
    s_broker_t b;
    CHECK(s_broker_start(&b) == 0, "fake broker starts");
    CHECK(s_endpoint_start(&b, "2", "--workers", "1", "--prefetch", "1", NULL) == 0, "fx-endpoint starts");
    if (!s_until_ready(&b))
        goto done;
    CHECK(WAIT_UNTIL(&b, b.window == 4), "two managers of 1 worker + 1 prefetch: window 4 (got %u)",
          b.window);
    static const char body[] = "def double(x):\n    return 2 * x\n";
    fx_id_text_t ids[4];
    s_send(b.endpoint, b.ep_routing,
           s_tasks(4, ids, FX_FN_PYTHON, body, "double", s_shell_payload, sizeof s_shell_payload - 1),
           &b.seq);
    int ok = 0;
    int got = s_collect_results(&b, ids, 4, &ok);
    CHECK(got == 4 && ok == 4, "four results, all OK (got %d, ok %d)", got, ok);
    s_ack(&b, ids, 4);
    int rc = s_endpoint_stop(&b);
    CHECK(rc == 0, "fx-endpoint exits 0 on SIGTERM (got %d)", rc);
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    CHECK(WAIT_UNTIL(&b, !s_process_with(key)), "no fx-manager left running");
done:
    s_broker_stop(&b, s_failures > 0);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    zsys_init();
    zsys_handler_set(NULL); /* the test reaps its children; no czmq signal handling */
    if (!only || strcmp(only, "fake") == 0)
        scenario_fake_managers();
    if (!only || strcmp(only, "refused") == 0)
        scenario_refused();
    if (!only || strcmp(only, "retry") == 0)
        scenario_retry_limit();
    if (only && strcmp(only, "real") == 0)
        scenario_real_managers();
    printf("fx_endpoint_test: %s\n", s_failures ? "FAILED" : "all checks passed");
    return s_failures ? 1 : 0;
}
