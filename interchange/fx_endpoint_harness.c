/*  fx_endpoint_harness.c: the broker and managers a test plays against
    fx-endpoint (see fx_endpoint_harness.h). */
#define _GNU_SOURCE /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_endpoint_harness.h"

/* ------------------------------------------------------------ helpers */

static void s_msg_free(void **item_p)
{
    fx_msg_destroy((fx_msg_t **) item_p);
}

fx_msg_t *ept_take(zlistx_t *inbox, fx_msg_type_t type)
{
    for (fx_msg_t *m = zlistx_first(inbox); m; m = zlistx_next(inbox))
        if (m->type == type) {
            zlistx_detach_cur(inbox);
            return m;
        }
    return NULL;
}

int ept_send(zsock_t *sock, zframe_t *routing, fx_msg_t *msg, uint32_t *seq)
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

static void s_on_zap(ept_broker_t *b)
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
    else if (strcmp(req.domain, "fx-endpoint") == 0 && b->deny_endpoint) {
        b->endpoint_denials++;
    }
    else if (strcmp(req.domain, "fx-endpoint") == 0 && b->registered &&
             strcmp(req.client_key, b->ep_pub) == 0) {
        snprintf(uid, sizeof uid, "endpoint:%s", b->ep_id);
        allow = true;
    }
    fx_zap_reply(b->zap, &req, allow, uid);
}

static void s_on_client(ept_broker_t *b)
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
        w->welcome.heartbeat_ms = b->hb_ms;
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

static void s_on_endpoint(ept_broker_t *b)
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
        b->hello_allowed = msg->endpoint_hello.allowed_count;
        for (uint32_t i = 0; i < msg->endpoint_hello.allowed_count && i < 4; i++)
            memcpy(b->hello_allowed_ids[i], msg->endpoint_hello.allowed_functions[i], sizeof(fx_id_text_t));
        CHECK(strcmp(msg->endpoint_hello.endpoint_id, b->ep_id) == 0, "ENDPOINT_HELLO names the "
                                                                      "registered id");
        fx_msg_t *w = fx_msg_new(FX_MSG_WELCOME);
        memcpy(w->welcome.id, b->ep_id, sizeof w->welcome.id);
        w->welcome.heartbeat_ms = b->hb_ms;
        w->seq = msg->seq;
        fx_msg_send(&w, b->endpoint, rid);
    }
    else if (msg->type == FX_MSG_CREDIT) {
        b->credits++;
        b->window = msg->credit.window;
    }
    else if (msg->type == FX_MSG_ENDPOINT_STATUS) {
        b->statuses++;
        b->st_managers = msg->endpoint_status.managers;
        b->st_workers = msg->endpoint_status.workers;
        b->st_free = msg->endpoint_status.free;
        b->st_ncontainers = msg->endpoint_status.container_count;
        for (uint32_t i = 0; i < b->st_ncontainers && i < 8; i++)
            b->st_containers[i] = msg->endpoint_status.containers[i];
    }
    else if (msg->type != FX_MSG_HEARTBEAT) {
        zlistx_add_end(b->ep_inbox, msg);
        msg = NULL;
    }
done:
    fx_msg_destroy(&msg);
    zframe_destroy(&rid);
}

static void s_on_fake(ept_fake_t *f)
{
    zmsg_t *zmsg = zmsg_recv(f->sock);
    fx_msg_t *msg = NULL;
    uint32_t seq = 0;
    const char *detail = "";
    int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
    zmsg_destroy(&zmsg);
    CHECK(rc == FX_OK, "the endpoint's message to a manager decodes: %s (%s)", fx_strerror(rc), detail);
    if (rc == FX_OK && msg->type != FX_MSG_HEARTBEAT)
        zlistx_add_end(f->inbox, msg);
    else
        fx_msg_destroy(&msg);
}

/* Reads what the endpoint printed on stdout; notes the two known lines. */
static void s_on_stdout(ept_broker_t *b)
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
void ept_pump(ept_broker_t *b, int timeout_ms)
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
        b->next_beat = now + b->hb_ms;
        ept_send(b->endpoint, b->ep_routing, fx_msg_new(FX_MSG_HEARTBEAT), &b->seq);
    }
    for (int i = 0; i < b->nfakes; i++) {
        ept_fake_t *f = &b->fakes[i];
        if (f->beating && now >= f->next_beat) {
            f->next_beat = now + HB_MS;
            ept_send(f->sock, NULL, fx_msg_new(FX_MSG_HEARTBEAT), &f->seq);
        }
    }
    if (b->exit_status == -1 && b->pid > 0) {
        int status;
        if (waitpid(b->pid, &status, WNOHANG) == b->pid)
            b->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
}

/* Wait for a message of this type in inbox; caller owns it (NULL on timeout). */
fx_msg_t *ept_expect(ept_broker_t *b, zlistx_t *inbox, fx_msg_type_t type)
{
    fx_msg_t *m = NULL;
    WAIT_UNTIL(b, (m = ept_take(inbox, type)) != NULL);
    if (!m)
        fprintf(stderr, "  (no %s within %lld ms)\n", fx_msg_type_name(type),
                (long long) fx_test_ms(WAIT_MS));
    return m;
}

/* The first ERROR in inbox echoing seq, taken out; NULL if none. */
static fx_msg_t *s_take_error(zlistx_t *inbox, uint32_t seq)
{
    for (fx_msg_t *m = zlistx_first(inbox); m; m = zlistx_next(inbox))
        if (m->type == FX_MSG_ERROR && m->seq == seq) {
            zlistx_detach_cur(inbox);
            return m;
        }
    return NULL;
}

bool ept_barrier(ept_broker_t *b, ept_fake_t *f)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(req, 1);
    fx_id_new(req->ids.ids[0]);
    ept_send(f->sock, NULL, req, &f->seq);
    uint32_t seq = f->seq;
    fx_msg_t *e = NULL;
    bool ok = WAIT_UNTIL(b, (e = s_take_error(f->inbox, seq)) != NULL);
    CHECK(ok && (e->error.code == FX_E_UNEXPECTED || e->error.code == FX_E_NO_SESSION),
          "barrier: ERROR with seq %u (got %s)", seq, e ? fx_errname(e->error.code) : "nothing");
    fx_msg_destroy(&e);
    return ok;
}

int ept_broker_start(ept_broker_t *b)
{
    memset(b, 0, sizeof *b);
    b->exit_status = -1;
    b->pid = -1;
    b->out_fd = -1;
    b->hb_ms = HB_MS;
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
int ept_endpoint_start(ept_broker_t *b, const char *managers, ...)
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
    const char *argv[32] = {exe,       "--creds",        creds, "--dir",        dir,  "--name",
                            "test-ep", "--heartbeat-ms", hb,    "--stats-file", stats};
    int argc = 11;
    if (managers) {
        argv[argc++] = "--managers";
        argv[argc++] = managers;
    }
    va_list ap;
    va_start(ap, managers);
    for (const char *a = va_arg(ap, const char *); a && argc < 30; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    /* a new process: forget what the last one printed */
    if (b->out_fd >= 0)
        close(b->out_fd);
    b->out_len = 0;
    b->ready_id[0] = b->managers_addr[0] = '\0';
    b->exit_status = -1;
    b->credits = 0;
    b->window = 0;
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

void ept_stat_text(ept_broker_t *b, const char *key, char *out, size_t cap)
{
    char path[PATH_MAX + 16], line[1024];
    snprintf(path, sizeof path, "%s/ep.stats", b->root);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, cap, "%s", line + klen + 1);
            break;
        }
    if (f)
        fclose(f);
}

long ept_stat(ept_broker_t *b, const char *key)
{
    char text[64];
    ept_stat_text(b, key, text, sizeof text);
    return text[0] ? atol(text) : -1;
}

int ept_write_config(ept_broker_t *b, const char *text)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/ep", b->root);
    if (fx_file_mkdirs(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/ep/config.yaml", b->root);
    return fx_file_write_atomic(path, text, strlen(text), 0600, 0);
}

/* SIGTERM the endpoint and wait for its exit; returns the exit status. */
int ept_endpoint_stop(ept_broker_t *b)
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

void ept_broker_stop(ept_broker_t *b, bool keep_root)
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
bool ept_until_ready(ept_broker_t *b)
{
    bool ok = WAIT_UNTIL(b, b->registered && b->ep_hellos > 0 && b->ready_id[0] && b->managers_addr[0] &&
                                b->credits > 0);
    CHECK(ok, "registered %d, hellos %d, ready '%s', managers '%s', credits %d", b->registered, b->ep_hellos,
          b->ready_id, b->managers_addr, b->credits);
    return ok;
}

/* ------------------------------------------------------------ fake managers */

ept_fake_t *ept_fake_new(ept_broker_t *b, const fx_keypair_t *kp)
{
    ept_fake_t *f = &b->fakes[b->nfakes++];
    memset(f, 0, sizeof *f);
    f->sock = zsock_new(ZMQ_DEALER);
    f->inbox = zlistx_new();
    zlistx_set_destructor(f->inbox, s_msg_free);
    fx_id_new(f->id);
    fx_curve_client(f->sock, kp, b->ep_pub);
    zsock_connect(f->sock, "%s", b->managers_addr);
    return f;
}

fx_keypair_t ept_manager_key(ept_broker_t *b)
{
    fx_keypair_t kp;
    char path[PATH_MAX + 32], err[256];
    snprintf(path, sizeof path, "%s/ep/manager.key", b->root);
    CHECK(fx_keypair_load(path, &kp, false, err, sizeof err) == 0, "manager.key: %s", err);
    return kp;
}

bool ept_fake_hello(ept_broker_t *b, ept_fake_t *f, uint32_t window)
{
    fx_msg_t *h = fx_msg_new(FX_MSG_MANAGER_HELLO);
    memcpy(h->manager_hello.manager_id, f->id, sizeof f->id);
    fx_strlcpy(h->manager_hello.host, "test-host", sizeof h->manager_hello.host);
    h->manager_hello.pid = (uint32_t) getpid();
    h->manager_hello.workers = window;
    fx_strlcpy(h->manager_hello.version, FX_VERSION, sizeof h->manager_hello.version);
    ept_send(f->sock, NULL, h, &f->seq);
    fx_msg_t *w = ept_expect(b, f->inbox, FX_MSG_WELCOME);
    bool ok = w && strcmp(w->welcome.id, f->id) == 0 && w->welcome.heartbeat_ms == HB_MS;
    CHECK(ok, "MANAGER_HELLO -> WELCOME with the manager's id and the heartbeat period");
    fx_msg_destroy(&w);
    f->beating = true;
    fx_msg_t *c = fx_msg_new(FX_MSG_CREDIT);
    c->credit.window = window;
    ept_send(f->sock, NULL, c, &f->seq);
    return ok;
}

void ept_fake_capacity(ept_fake_t *f, uint32_t window, uint32_t cold_free, const fx_container_capacity_t *recs,
                       uint32_t n)
{
    fx_msg_t *c = fx_msg_new(FX_MSG_CAPACITY);
    fx_msg_alloc_records(c, n);
    for (uint32_t i = 0; i < n; i++)
        c->capacity.containers[i] = recs[i];
    c->capacity.window = window;
    c->capacity.cold_free = cold_free;
    ept_send(f->sock, NULL, c, &f->seq);
}

void ept_define_container(ept_broker_t *b, const char *id, const char *name, const char *runtime,
                          const char *image)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_CONTAINERS);
    fx_msg_alloc_records(m, 1);
    fx_container_def_t *d = &m->containers.containers[0];
    fx_strlcpy(d->container_id, id, sizeof d->container_id);
    fx_strlcpy(d->name, name, sizeof d->name);
    fx_strlcpy(d->runtime, runtime, sizeof d->runtime);
    fx_strlcpy(d->image, image, sizeof d->image);
    ept_send(b->endpoint, b->ep_routing, m, &b->seq);
}

/* Sends raw frames (already encoded) from a fake manager and expects ERROR
   with the given code (0: any code). */
void ept_expect_error(ept_broker_t *b, ept_fake_t *f, zmsg_t *raw, int code, const char *what)
{
    zmsg_send(&raw, f->sock);
    fx_msg_t *e = ept_expect(b, f->inbox, FX_MSG_ERROR);
    CHECK(e && (code == 0 || e->error.code == code), "%s: ERROR %s expected, got %s (%s)", what,
          code ? fx_errname(code) : "(any)", e ? fx_errname(e->error.code) : "nothing",
          e && e->error.text ? e->error.text : "");
    fx_msg_destroy(&e);
}

/* A header frame packed by hand: [version, type, seq, body...] with body
   given as a packer callback. */
zmsg_t *ept_raw(uint32_t version, uint32_t type, void (*body)(msgpack_packer *))
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

void ept_body_bad_hello(msgpack_packer *pk)
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
void ept_body_seven_nils(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 7);
    for (int i = 0; i < 7; i++)
        msgpack_pack_nil(pk);
}

void ept_body_credit(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint32(pk, 1);
}

/* ------------------------------------------------------------ tasks */

fx_msg_t *ept_tasks(int count, fx_id_text_t *ids, int kind, const char *body, const char *entry,
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

bool ept_has_result(fx_msg_t *m, const char *id)
{
    for (uint32_t i = 0; m && i < m->results.count; i++)
        if (strcmp(m->results.results[i].task_id, id) == 0)
            return true;
    return false;
}

/* Collect RESULTS from the endpoint until every id in ids has one. */
int ept_collect_results(ept_broker_t *b, fx_id_text_t *ids, int count, int *ok_status)
{
    bool *seen = calloc((size_t) count, sizeof *seen);
    int got = 0;
    if (!seen)
        return 0;
    int64_t deadline = fx_test_deadline(6 * WAIT_MS);
    while (got < count && fx_test_now_ms() < deadline) {
        fx_msg_t *m = ept_take(b->ep_inbox, FX_MSG_RESULTS);
        if (!m) {
            ept_pump(b, 20);
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
    free(seen);
    return got;
}

void ept_ack(ept_broker_t *b, fx_id_text_t *ids, int count)
{
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, (uint32_t) count);
    for (int i = 0; i < count; i++)
        memcpy(ack->ids.ids[i], ids[i], sizeof ack->ids.ids[i]);
    ept_send(b->endpoint, b->ep_routing, ack, &b->seq);
}

fx_result_t *ept_fill_result(fx_msg_t *m, uint32_t i, const char *id, const char *value)
{
    fx_result_t *r = &m->results.results[i];
    memcpy(r->task_id, id, sizeof r->task_id);
    r->status = FX_RESULT_OK;
    r->value = zframe_new(value, strlen(value));
    r->output = zframe_new_empty();
    return r;
}

void ept_answer(ept_fake_t *f, const char *id)
{
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    ept_fill_result(res, 0, id, "v");
    ept_send(f->sock, NULL, res, &f->seq);
}

int ept_read_pids(ept_broker_t *b, long *pids, int cap)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/ep/managers.pids", b->root);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < cap && fscanf(f, "%ld", &pids[n]) == 1)
        n++;
    if (f)
        fclose(f);
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && pids[k - 1] > pids[k]; k--) {
            long t = pids[k];
            pids[k] = pids[k - 1];
            pids[k - 1] = t;
        }
    return n;
}

const char ept_shell_payload[EPT_SHELL_PAYLOAD_LEN + 1] =
    "\x80\x02K\x15\x85q\x00}q\x01\x86q\x02."; /* ((21,), {}) */

/* How many processes have path on their command line. */
/* The parent of pid from /proc/PID/stat; -1 if gone. */
static long s_ppid(long pid)
{
    char file[64], line[1024];
    snprintf(file, sizeof file, "/proc/%ld/stat", pid);
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    const char *close = strrchr(line, ')');
    long ppid = -1;
    return close && sscanf(close + 1, " %*c %ld", &ppid) == 1 ? ppid : -1;
}

/* Processes whose command line holds path, not counting the children of
   such a process that have not yet exec'd (a manager forking a worker
   shows the manager's command line until the exec). */
int ept_processes_with(const char *path)
{
    long pids[256];
    int found = 0;
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc)) && found < 256) {
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
        if (strstr(cmd, path))
            pids[found++] = atol(e->d_name);
    }
    if (proc)
        closedir(proc);
    int own = 0;
    for (int i = 0; i < found; i++) {
        long parent = s_ppid(pids[i]);
        bool forked = false;
        for (int k = 0; k < found && !forked; k++)
            forked = pids[k] == parent;
        own += !forked;
    }
    return own;
}

bool ept_process_with(const char *path)
{
    return ept_processes_with(path) > 0;
}
