/*  fx_wire.c: see fx_wire.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_wire.h"


/* Deadlines scale on slow machines (valgrind, sanitizers): FX_TEST_SLOW=N. */
int fxw_slow = 1;

/* ---------------------------------------------------------------- broker */

const char *fxw_binary;
char **fxw_wrapper; /* e.g. valgrind and its flags, run in front of the broker */
char fxw_dir[256];
char fxw_log[300];

/* Starts fx-broker and waits (deadline) for its ready line. */
int fxw_broker_start(fxw_broker_t *b, const char *client_bind, const char *endpoint_bind,
                     const char *const *extra)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char state[300];
    snprintf(state, sizeof state, "%s/state", fxw_dir);
    b->pid = fork();
    if (b->pid == 0) {
        dup2(fds[1], 1);
        int log = open(fxw_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0)
            dup2(log, 2);
        close(fds[0]);
        /* [wrapper args...] fx-broker flags... */
        const char *args[64];
        int n = 0;
        for (int i = 0; fxw_wrapper && fxw_wrapper[i] && n < 40; i++)
            args[n++] = fxw_wrapper[i];
        const char *flags[] = {fxw_binary,  "--state",         state,         "--client-bind",
                               client_bind, "--endpoint-bind", endpoint_bind, NULL};
        for (int i = 0; flags[i]; i++)
            args[n++] = flags[i];
        for (int i = 0; extra && extra[i] && n < 62; i++)
            args[n++] = extra[i];
        args[n] = NULL;
        execvp(args[0], (char *const *) args);
        _exit(127);
    }
    close(fds[1]);
    char line[1024] = "";
    size_t len = 0;
    int64_t deadline = zclock_mono() + 10000 * fxw_slow;
    while (!strchr(line, '\n') && zclock_mono() < deadline && len < sizeof line - 1) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll(&pfd, 1, (int) (deadline - zclock_mono())) <= 0)
            break;
        ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
        line[len] = '\0';
    }
    close(fds[0]);
    const char *c = strstr(line, "client="), *e = strstr(line, "endpoint="), *k = strstr(line, "public_key=");
    if (strncmp(line, "fx-broker: ready ", 17) != 0 || !c || !e || !k) {
        fprintf(stderr, "fx-broker did not get ready; its ready line: '%s'\n", line);
        return -1;
    }
    sscanf(c, "client=%127s", b->client_addr);
    sscanf(e, "endpoint=%127s", b->endpoint_addr);
    sscanf(k, "public_key=%40s", b->public_key);
    return 0;
}

/* Waits (deadline) for the broker, already signalled, to exit 0. */
void fxw_broker_wait(fxw_broker_t *b)
{
    int status = -1;
    int64_t deadline = zclock_mono() + 10000 * fxw_slow;
    pid_t done = 0;
    while ((done = waitpid(b->pid, &status, WNOHANG)) == 0 && zclock_mono() < deadline)
        zclock_sleep(10); /* polling a deadline, not waiting for an effect */
    if (done == 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, &status, 0);
        CHECK(!"fx-broker did not stop on SIGTERM");
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "fx-broker exit status %d (see %s)\n", status, fxw_log);
}

/* SIGTERM, then wait (deadline) for a clean exit 0. */
void fxw_broker_stop(fxw_broker_t *b)
{
    if (b->pid <= 0)
        return; /* never kill(0): that is our own process group */
    kill(b->pid, SIGTERM);
    fxw_broker_wait(b);
}

/* ---------------------------------------------------------------- peers */

fxw_peer_t *fxw_peers[FXW_PEERS_MAX];

fxw_peer_t *fxw_peer_new(const char *name, const char *addr, const fx_keypair_t *kp, const char *server_key)
{
    fxw_peer_t *p = calloc(1, sizeof *p);
    p->name = name;
    p->kp = *kp;
    p->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(p->sock, 0);
    /* A peer refused by ZAP is never reconnected by libzmq (a protocol
       error ends the session), and a DEALER with no pipe blocks in send:
       never let the test hang on that. */
    zsock_set_sndtimeo(p->sock, 1000);
    fx_curve_client(p->sock, kp, server_key);
    zsock_connect(p->sock, "%s", addr);
    for (int i = 0; i < FXW_PEERS_MAX; i++)
        if (!fxw_peers[i]) {
            fxw_peers[i] = p;
            break;
        }
    return p;
}

void fxw_peer_destroy(fxw_peer_t **p_p)
{
    fxw_peer_t *p = *p_p;
    if (!p)
        return;
    for (int i = 0; i < FXW_PEERS_MAX; i++)
        if (fxw_peers[i] == p)
            fxw_peers[i] = NULL;
    zsock_destroy(&p->sock);
    free(p);
    *p_p = NULL;
}

void fxw_raw(fxw_peer_t *p, zmsg_t *zmsg)
{
    zmsg_send(&zmsg, p->sock);
}

/* Sends msg with the next seq, or seq 0 for what is not a request
   (SPEC 3.6.3: HEARTBEAT, CREDIT, ERROR, and RESULTS_ACK of a push);
   returns the seq. */
uint32_t fxw_send(fxw_peer_t *p, fx_msg_t *msg)
{
    bool request = msg->type != FX_MSG_HEARTBEAT && msg->type != FX_MSG_CREDIT && msg->type != FX_MSG_ERROR &&
                   msg->type != FX_MSG_RESULTS_ACK;
    uint32_t seq = request ? ++p->seq : 0;
    msg->seq = seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    CHECK(zmsg != NULL);
    if (zmsg)
        fxw_raw(p, zmsg);
    return seq;
}

void fxw_keepalive(void)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < FXW_PEERS_MAX; i++) {
        fxw_peer_t *p = fxw_peers[i];
        if (p && p->keepalive && now - p->beat_ms >= 100) {
            fxw_send(p, fx_msg_new(FX_MSG_HEARTBEAT));
            p->beat_ms = now;
        }
    }
}

/* Next message that is not a HEARTBEAT, or NULL after timeout_ms. */
fx_msg_t *fxw_next(fxw_peer_t *p, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (true) {
        fxw_keepalive();
        int64_t left = deadline - zclock_mono();
        if (left < 0)
            return NULL;
        zpoller_t *poller = zpoller_new(p->sock, NULL);
        void *ready = zpoller_wait(poller, (int) (left < 100 ? left : 100));
        zpoller_destroy(&poller);
        if (!ready)
            continue;
        zmsg_t *zmsg = zmsg_recv(p->sock);
        fx_msg_t *msg = NULL;
        const char *detail = "";
        int rc = zmsg ? fx_msg_decode(zmsg, &msg, NULL, &detail) : FX_E_IO;
        zmsg_destroy(&zmsg);
        if (rc != FX_OK) {
            fprintf(stderr, "%s got an undecodable message: %s %s\n", p->name, fx_errname(rc), detail);
            CHECK(!"the broker sent something undecodable");
            continue;
        }
        if (msg->type != FX_MSG_HEARTBEAT)
            return msg;
        fx_msg_destroy(&msg);
    }
}

/* The next message must be of this type (and seq, unless UINT32_MAX). */
fx_msg_t *fxw_expect_at(fxw_peer_t *p, int type, uint32_t seq, int line)
{
    fx_msg_t *msg = fxw_next(p, WAIT_MS);
    bool ok = msg && (int) msg->type == type && (seq == UINT32_MAX || msg->seq == seq);
    if (!ok) {
        fprintf(stderr, "line %d: %s expected %s seq %u, got %s seq %u%s%s\n", line, p->name,
                fx_msg_type_name(type), seq, msg ? fx_msg_type_name(msg->type) : "nothing",
                msg ? msg->seq : 0, msg && msg->type == FX_MSG_ERROR ? ": " : "",
                msg && msg->type == FX_MSG_ERROR && msg->error.text ? msg->error.text : "");
        fx_check_failures++;
        fx_msg_destroy(&msg);
    }
    return msg;
}

void fxw_expect_error_at(fxw_peer_t *p, int code, uint32_t seq, int line)
{
    fx_msg_t *msg = fxw_expect_at(p, FX_MSG_ERROR, seq, line);
    if (msg && msg->error.code != code) {
        fprintf(stderr, "line %d: %s expected %s, got %s: %s\n", line, p->name, fx_errname(code),
                fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        fx_check_failures++;
    }
    fx_msg_destroy(&msg);
}

/* Nothing but heartbeats for QUIET_MS. */
bool fxw_quiet(fxw_peer_t *p)
{
    fx_msg_t *msg = fxw_next(p, QUIET_MS);
    if (msg)
        fprintf(stderr, "%s: unexpected %s seq %u\n", p->name, fx_msg_type_name(msg->type), msg->seq);
    bool quiet = msg == NULL;
    fx_msg_destroy(&msg);
    return quiet;
}

bool fxw_barrier(fxw_peer_t *p)
{
    fx_msg_t *msg;
    if (p->endpoint) {
        fx_id_text_t nobody;
        fx_id_new(nobody);
        msg = fx_msg_new(FX_MSG_RESULTS);
        fx_msg_alloc_records(msg, 1);
        memcpy(msg->results.results[0].task_id, nobody, sizeof nobody);
    }
    else
        msg = fx_msg_new(FX_MSG_STATUS);
    int reply = p->endpoint ? FX_MSG_RESULTS_ACK : FX_MSG_STATUS_REPLY;
    uint32_t seq = fxw_send(p, msg);
    bool clean = true;
    while ((msg = fxw_next(p, WAIT_MS))) {
        bool done = (int) msg->type == reply && msg->seq == seq;
        if (!done) {
            fprintf(stderr, "%s: %s seq %u came before the barrier's reply\n", p->name,
                    fx_msg_type_name(msg->type), msg->seq);
            clean = false;
        }
        fx_msg_destroy(&msg);
        if (done)
            return clean;
    }
    fprintf(stderr, "%s: no reply to the barrier\n", p->name);
    return false;
}

/* ---------------------------------------------------------------- steps */

uint32_t fxw_hello(fxw_peer_t *client, const char *client_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_HELLO);
    memcpy(msg->hello.client_id, client_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->hello.client_version, "test", sizeof msg->hello.client_version);
    fx_strlcpy(msg->hello.python_version, "3.11.2", sizeof msg->hello.python_version);
    return fxw_send(client, msg);
}

/* HELLO and WELCOME; returns the heartbeat period. */
uint32_t fxw_session(fxw_peer_t *client, const char *client_id, const char *user_id)
{
    uint32_t seq = fxw_hello(client, client_id);
    fx_msg_t *msg = fxw_expect(client, FX_MSG_WELCOME, seq);
    uint32_t beat = msg ? msg->welcome.heartbeat_ms : 0;
    CHECK(msg && strcmp(msg->welcome.id, user_id) == 0 && beat > 0);
    client->keepalive = msg != NULL;
    fx_msg_destroy(&msg);
    return beat;
}

void fxw_endpoint_hello(fxw_peer_t *ep, const char *endpoint_id, bool ok)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(msg->endpoint_hello.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->endpoint_hello.version, "test", sizeof msg->endpoint_hello.version);
    uint32_t seq = fxw_send(ep, msg);
    if (!ok) {
        fxw_expect_error(ep, FX_E_FORBIDDEN, seq);
        return;
    }
    msg = fxw_expect(ep, FX_MSG_WELCOME, seq);
    CHECK(msg && strcmp(msg->welcome.id, endpoint_id) == 0);
    ep->keepalive = msg != NULL;
    ep->endpoint = true;
    fx_msg_destroy(&msg);
}

void fxw_credit(fxw_peer_t *ep, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    fxw_send(ep, msg);
}

uint32_t fxw_register_function(fxw_peer_t *client, const char *id, const char *body)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "double", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    msg->register_function.body = zframe_new(body, strlen(body));
    return fxw_send(client, msg);
}

uint32_t fxw_register_endpoint(fxw_peer_t *client, const char *id, const char *name, const char *key)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    memcpy(msg->register_endpoint.endpoint_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_endpoint.name, name, sizeof msg->register_endpoint.name);
    fx_strlcpy(msg->register_endpoint.public_key, key, sizeof msg->register_endpoint.public_key);
    return fxw_send(client, msg);
}

/* SUBMIT n new tasks; their ids go to ids. Returns the seq. */
uint32_t fxw_submit(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                    fx_id_text_t *ids)
{
    for (uint32_t i = 0; i < n; i++)
        fx_id_new(ids[i]);
    return fxw_submit_ids(client, endpoint_id, function_id, n, ids);
}

uint32_t fxw_submit_ids(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                        const fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        memcpy(t->task_id, ids[i], sizeof(fx_id_text_t));
        memcpy(t->endpoint_id, endpoint_id, sizeof(fx_id_text_t));
        memcpy(t->function_id, function_id, sizeof(fx_id_text_t));
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->payload = zframe_new("args", 4);
    }
    return fxw_send(client, msg);
}

void fxw_submit_ok(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                   fx_id_text_t *ids)
{
    uint32_t seq = fxw_submit(client, endpoint_id, function_id, n, ids);
    fx_msg_t *msg = fxw_expect(client, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == n);
    fx_msg_destroy(&msg);
}

/* The endpoint takes TASKS until `want` tasks arrived (deadline); ids and
   attempts of what came go to ids/attempts. Returns how many came. */
uint32_t fxw_take_tasks(fxw_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts)
{
    uint32_t got = 0;
    while (got < want) {
        fx_msg_t *msg = fxw_next(ep, WAIT_MS);
        if (!msg)
            break;
        CHECK(msg->type == FX_MSG_TASKS);
        for (uint32_t i = 0; msg->type == FX_MSG_TASKS && i < msg->tasks.count; i++) {
            fx_task_t *t = &msg->tasks.tasks[i];
            CHECK(t->kind == FX_FN_PYTHON && strcmp(t->entry, "double") == 0);
            CHECK(zframe_streq(t->body, "def double(x): return 2 * x\n"));
            CHECK(zframe_streq(t->payload, "args"));
            if (got < want) {
                memcpy(ids[got], t->task_id, sizeof(fx_id_text_t));
                if (attempts)
                    attempts[got] = t->attempt;
            }
            got++;
        }
        fx_msg_destroy(&msg);
    }
    return got;
}

uint32_t fxw_results(fxw_peer_t *ep, const fx_id_text_t *ids, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_result_t *r = &msg->results.results[i];
        memcpy(r->task_id, ids[i], sizeof(fx_id_text_t));
        char value[64];
        snprintf(value, sizeof value, "v:%s", ids[i]);
        r->value = zframe_new(value, strlen(value));
        r->output = zframe_new("printed\n", 8);
    }
    return fxw_send(ep, msg);
}

/* The endpoint returns results for ids (value "v:<id>") and checks the ack. */
void fxw_return(fxw_peer_t *ep, fx_id_text_t *ids, uint32_t n)
{
    uint32_t seq = fxw_results(ep, ids, n);
    fx_msg_t *msg = fxw_expect(ep, FX_MSG_RESULTS_ACK, seq);
    CHECK(msg && msg->ids.count == n);
    for (uint32_t i = 0; msg && i < msg->ids.count && i < n; i++)
        CHECK(strcmp(msg->ids.ids[i], ids[i]) == 0);
    fx_msg_destroy(&msg);
}

/* The client collects pushed RESULTS (seq 0) until it has the n ids, each
   exactly once, and acks them if ack. */
void fxw_collect(fxw_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack)
{
    bool *seen = calloc(n, sizeof *seen);
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = fxw_expect(client, FX_MSG_RESULTS, 0);
        if (!msg)
            break;
        for (uint32_t i = 0; i < msg->results.count; i++) {
            fx_result_t *r = &msg->results.results[i];
            uint32_t j = 0;
            while (j < n && strcmp(ids[j], r->task_id) != 0)
                j++;
            CHECK(j < n); /* a result we did not expect */
            if (j == n)
                continue;
            CHECK(!seen[j]); /* pushed twice */
            seen[j] = true;
            have++;
            char value[64];
            snprintf(value, sizeof value, "v:%s", ids[j]);
            CHECK(zframe_streq(r->value, value) && zframe_streq(r->output, "printed\n"));
            CHECK(r->status == FX_RESULT_OK);
        }
        if (ack) {
            fx_msg_t *reply = fx_msg_new(FX_MSG_RESULTS_ACK);
            fx_msg_alloc_records(reply, msg->results.count);
            for (uint32_t i = 0; i < msg->results.count; i++)
                memcpy(reply->ids.ids[i], msg->results.results[i].task_id, sizeof(fx_id_text_t));
            fxw_send(client, reply);
        }
        fx_msg_destroy(&msg);
    }
    free(seen);
}

int fxw_status(fxw_peer_t *client, const char *task_id, uint32_t *attempts)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], task_id, sizeof(fx_id_text_t));
    uint32_t seq = fxw_send(client, msg);
    msg = fxw_expect(client, FX_MSG_STATUS_REPLY, seq);
    int state = -1;
    if (msg && msg->status_reply.count == 1) {
        state = msg->status_reply.tasks[0].state;
        if (attempts)
            *attempts = msg->status_reply.tasks[0].attempts;
    }
    fx_msg_destroy(&msg);
    return state;
}

/* ---------------------------------------------------------------- world */

int fxw_world_setup(fxw_world_t *w, const char *const *flags)
{
    memset(w, 0, sizeof *w);
    fx_keypair_new(&w->alice_kp);
    fx_keypair_new(&w->bob_kp);
    fx_keypair_new(&w->ep_kp);
    fx_id_new(w->client);
    fx_id_new(w->bob_client);
    fx_id_new(w->fn);
    fx_id_new(w->ep);
    char err[512], state[300];
    snprintf(state, sizeof state, "%s/state", fxw_dir);
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    if (!store) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        return -1;
    }
    CHECK(fx_store_user_create(store, "alice", w->alice_kp.public_key, w->alice, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "bob", w->bob_kp.public_key, w->bob, err, sizeof err) == FX_OK);
    fx_store_destroy(&store);
    if (fxw_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", flags) != 0)
        return -1;
    w->alice_c = fxw_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    w->bob_c = fxw_peer_new("bob", w->broker.client_addr, &w->bob_kp, w->broker.public_key);
    fxw_session(w->alice_c, w->client, w->alice);
    fxw_session(w->bob_c, w->bob_client, w->bob);
    uint32_t seq = fxw_register_function(w->alice_c, w->fn, "def double(x): return 2 * x\n");
    fx_msg_t *msg = fxw_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = fxw_register_endpoint(w->alice_c, w->ep, "laptop", w->ep_kp.public_key);
    msg = fxw_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
    w->endpoint = fxw_peer_new("endpoint", w->broker.endpoint_addr, &w->ep_kp, w->broker.public_key);
    fxw_endpoint_hello(w->endpoint, w->ep, true);
    return fx_check_failures ? -1 : 0;
}

void fxw_world_teardown(fxw_world_t *w)
{
    fxw_peer_destroy(&w->alice_c);
    fxw_peer_destroy(&w->bob_c);
    fxw_peer_destroy(&w->endpoint);
    if (w->broker.pid > 0) /* never kill(0): that is our own process group */
        fxw_broker_stop(&w->broker);
}

void fxw_init(int argc, char **argv, const char *name)
{
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s PATH_TO_FX_BROKER [WRAPPER ARGS...]\n"
                "  WRAPPER (valgrind ...) runs the broker; FX_TEST_SLOW=N stretches deadlines\n",
                name);
        exit(2);
    }
    fxw_binary = argv[1];
    fxw_wrapper = argc > 2 ? argv + 2 : NULL;
    if (getenv("FX_TEST_SLOW"))
        fxw_slow = atoi(getenv("FX_TEST_SLOW")) > 0 ? atoi(getenv("FX_TEST_SLOW")) : 1;
    /* No czmq signal handlers here: ctest's timeout must be able to stop us. */
    zsys_handler_set(NULL);
    zsys_init();
    zsys_set_logstream(NULL);
    snprintf(fxw_dir, sizeof fxw_dir, "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(fxw_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(fxw_log, sizeof fxw_log, "%s/broker.log", fxw_dir);
}

int fxw_finish(const char *name)
{
    if (fx_check_failures) {
        fprintf(stderr, "%s: %d checks failed; broker log: %s\n", name, fx_check_failures, fxw_log);
        return 1;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fxw_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fxw_dir);
    printf("%s: all checks passed\n", name);
    return 0;
}
