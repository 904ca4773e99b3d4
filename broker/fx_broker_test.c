/*  fx_broker_test.c: the real fx-broker binary (path in argv[1]) on free
    loopback ports and a temporary state directory. The test creates users
    through fxstore before the start, then plays clients and endpoints over
    CurveZMQ. Every wait has a deadline; nothing sleeps a fixed time to let
    something happen.

    Scenarios, in order, on one broker:
      unknown_keys       a client key and an endpoint key nobody registered
                         get no answer at all; the broker keeps serving
      registration       functions and endpoints, idempotence and conflicts
      endpoint_identity  ENDPOINT_HELLO with another endpoint's id is refused
      submit_rules       another user's endpoint is refused, nothing stored
      credit_and_push    CREDIT 2: at most 2 tasks arrive; RESULTS acked;
                         the client gets each result pushed once and acks
      queries            STATUS (owner only), FETCH, LIST
      large_payload      an FX_PAYLOAD_MAX payload and result, end to end
      garbage            malformed and bad-field input of every message type,
                         and valid messages on the wrong port, on both ports:
                         ERROR each time; then a valid task still runs; a
                         flood gets rate-limited ERRORs, others unaffected
    then on a restarted broker (same state, same ports, short heartbeat):
      restart            clients get NO_SESSION and recover with HELLO; the
                         undelivered result is pushed again; the dispatched
                         task is requeued
      endpoint_loss      a silent endpoint is lost, its task requeued, and
                         after --max-attempts the task fails WORKER_LOST
    Each broker must exit 0 on SIGTERM (under ASan: leak-free). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_store.h"

static int s_failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, __func__, #cond);           \
            s_failures++;                                                                                    \
        }                                                                                                    \
    } while (0)

/* Deadlines scale on slow machines (valgrind, sanitizers): FX_TEST_SLOW=N. */
static int s_slow = 1;
#define WAIT_MS (3000 * s_slow)
#define QUIET_MS (400 * s_slow)

/* ---------------------------------------------------------------- broker */

typedef struct {
    pid_t pid;
    char client_addr[128];
    char endpoint_addr[128];
    char public_key[FX_KEY_LEN + 1];
} s_broker_t;

static const char *s_binary;
static char **s_wrapper; /* e.g. valgrind and its flags, run in front of the broker */
static char s_dir[256];
static char s_log[300];

/* Starts fx-broker and waits (deadline) for its ready line. */
static int s_broker_start(s_broker_t *b, const char *client_bind, const char *endpoint_bind,
                          const char *heartbeat_ms)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char state[300];
    snprintf(state, sizeof state, "%s/state", s_dir);
    b->pid = fork();
    if (b->pid == 0) {
        dup2(fds[1], 1);
        int log = open(s_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0)
            dup2(log, 2);
        close(fds[0]);
        /* [wrapper args...] fx-broker flags... */
        const char *args[64];
        int n = 0;
        for (int i = 0; s_wrapper && s_wrapper[i] && n < 40; i++)
            args[n++] = s_wrapper[i];
        const char *flags[] = {s_binary,     "--state",         state,         "--client-bind",
                               client_bind,  "--endpoint-bind", endpoint_bind, "--heartbeat-ms",
                               heartbeat_ms, "--max-attempts",  "3",           NULL};
        for (int i = 0; flags[i]; i++)
            args[n++] = flags[i];
        args[n] = NULL;
        execvp(args[0], (char *const *) args);
        _exit(127);
    }
    close(fds[1]);
    char line[1024] = "";
    size_t len = 0;
    int64_t deadline = zclock_mono() + 10000 * s_slow;
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

/* SIGTERM, then wait (deadline) for a clean exit 0. */
static void s_broker_stop(s_broker_t *b)
{
    kill(b->pid, SIGTERM);
    int status = -1;
    int64_t deadline = zclock_mono() + 10000 * s_slow;
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
        fprintf(stderr, "fx-broker exit status %d (see %s)\n", status, s_log);
}

/* ---------------------------------------------------------------- peers */

/* A test client or endpoint: a CurveZMQ DEALER. keepalive: send HEARTBEAT
   while the test waits on anything (only once it has a session). */
typedef struct {
    const char *name;
    zsock_t *sock;
    fx_keypair_t kp;
    uint32_t seq;
    bool keepalive;
    int64_t beat_ms;
} s_peer_t;

#define S_PEERS_MAX 16
static s_peer_t *s_peers[S_PEERS_MAX];

static s_peer_t *s_peer_new(const char *name, const char *addr, const fx_keypair_t *kp,
                            const char *server_key)
{
    s_peer_t *p = calloc(1, sizeof *p);
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
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (!s_peers[i]) {
            s_peers[i] = p;
            break;
        }
    return p;
}

static void s_peer_destroy(s_peer_t **p_p)
{
    s_peer_t *p = *p_p;
    if (!p)
        return;
    for (int i = 0; i < S_PEERS_MAX; i++)
        if (s_peers[i] == p)
            s_peers[i] = NULL;
    zsock_destroy(&p->sock);
    free(p);
    *p_p = NULL;
}

static void s_raw(s_peer_t *p, zmsg_t *zmsg)
{
    zmsg_send(&zmsg, p->sock);
}

/* Sends msg with the next seq, or seq 0 for what is not a request
   (SPEC 3.6.3: HEARTBEAT, CREDIT, ERROR, and RESULTS_ACK of a push);
   returns the seq. */
static uint32_t s_send(s_peer_t *p, fx_msg_t *msg)
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
        s_raw(p, zmsg);
    return seq;
}

static void s_keepalive(void)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < S_PEERS_MAX; i++) {
        s_peer_t *p = s_peers[i];
        if (p && p->keepalive && now - p->beat_ms >= 100) {
            s_send(p, fx_msg_new(FX_MSG_HEARTBEAT));
            p->beat_ms = now;
        }
    }
}

/* Next message that is not a HEARTBEAT, or NULL after timeout_ms. */
static fx_msg_t *s_next(s_peer_t *p, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (true) {
        s_keepalive();
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
static fx_msg_t *s_expect_at(s_peer_t *p, int type, uint32_t seq, int line)
{
    fx_msg_t *msg = s_next(p, WAIT_MS);
    bool ok = msg && (int) msg->type == type && (seq == UINT32_MAX || msg->seq == seq);
    if (!ok) {
        fprintf(stderr, "line %d: %s expected %s seq %u, got %s seq %u%s%s\n", line, p->name,
                fx_msg_type_name(type), seq, msg ? fx_msg_type_name(msg->type) : "nothing",
                msg ? msg->seq : 0, msg && msg->type == FX_MSG_ERROR ? ": " : "",
                msg && msg->type == FX_MSG_ERROR && msg->error.text ? msg->error.text : "");
        s_failures++;
        fx_msg_destroy(&msg);
    }
    return msg;
}
#define s_expect(p, type, seq) s_expect_at((p), (type), (seq), __LINE__)

static void s_expect_error_at(s_peer_t *p, int code, uint32_t seq, int line)
{
    fx_msg_t *msg = s_expect_at(p, FX_MSG_ERROR, seq, line);
    if (msg && msg->error.code != code) {
        fprintf(stderr, "line %d: %s expected %s, got %s: %s\n", line, p->name, fx_errname(code),
                fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        s_failures++;
    }
    fx_msg_destroy(&msg);
}
#define s_expect_error(p, code, seq) s_expect_error_at((p), (code), (seq), __LINE__)

/* Nothing but heartbeats for QUIET_MS. */
static bool s_quiet(s_peer_t *p)
{
    fx_msg_t *msg = s_next(p, QUIET_MS);
    if (msg)
        fprintf(stderr, "%s: unexpected %s seq %u\n", p->name, fx_msg_type_name(msg->type), msg->seq);
    bool quiet = msg == NULL;
    fx_msg_destroy(&msg);
    return quiet;
}

/* ---------------------------------------------------------------- steps */

static uint32_t s_hello(s_peer_t *client, const char *client_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_HELLO);
    memcpy(msg->hello.client_id, client_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->hello.client_version, "test", sizeof msg->hello.client_version);
    fx_strlcpy(msg->hello.python_version, "3.11.2", sizeof msg->hello.python_version);
    return s_send(client, msg);
}

/* HELLO and WELCOME; returns the heartbeat period. */
static uint32_t s_session(s_peer_t *client, const char *client_id, const char *user_id)
{
    uint32_t seq = s_hello(client, client_id);
    fx_msg_t *msg = s_expect(client, FX_MSG_WELCOME, seq);
    uint32_t beat = msg ? msg->welcome.heartbeat_ms : 0;
    CHECK(msg && strcmp(msg->welcome.id, user_id) == 0 && beat > 0);
    client->keepalive = msg != NULL;
    fx_msg_destroy(&msg);
    return beat;
}

static void s_endpoint_hello(s_peer_t *ep, const char *endpoint_id, bool ok)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(msg->endpoint_hello.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->endpoint_hello.version, "test", sizeof msg->endpoint_hello.version);
    uint32_t seq = s_send(ep, msg);
    if (!ok) {
        s_expect_error(ep, FX_E_FORBIDDEN, seq);
        return;
    }
    msg = s_expect(ep, FX_MSG_WELCOME, seq);
    CHECK(msg && strcmp(msg->welcome.id, endpoint_id) == 0);
    ep->keepalive = msg != NULL;
    fx_msg_destroy(&msg);
}

static void s_credit(s_peer_t *ep, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    s_send(ep, msg);
}

static uint32_t s_register_function(s_peer_t *client, const char *id, const char *body)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "double", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    msg->register_function.body = zframe_new(body, strlen(body));
    return s_send(client, msg);
}

static uint32_t s_register_endpoint(s_peer_t *client, const char *id, const char *name, const char *key)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    memcpy(msg->register_endpoint.endpoint_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_endpoint.name, name, sizeof msg->register_endpoint.name);
    fx_strlcpy(msg->register_endpoint.public_key, key, sizeof msg->register_endpoint.public_key);
    return s_send(client, msg);
}

/* SUBMIT n new tasks; their ids go to ids. Returns the seq. */
static uint32_t s_submit(s_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                         fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        fx_id_new(t->task_id);
        memcpy(ids[i], t->task_id, sizeof(fx_id_text_t));
        memcpy(t->endpoint_id, endpoint_id, sizeof(fx_id_text_t));
        memcpy(t->function_id, function_id, sizeof(fx_id_text_t));
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->payload = zframe_new("args", 4);
    }
    return s_send(client, msg);
}

static void s_submit_ok(s_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                        fx_id_text_t *ids)
{
    uint32_t seq = s_submit(client, endpoint_id, function_id, n, ids);
    fx_msg_t *msg = s_expect(client, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == n);
    fx_msg_destroy(&msg);
}

/* The endpoint takes TASKS until `want` tasks arrived (deadline); ids and
   attempts of what came go to ids/attempts. Returns how many came. */
static uint32_t s_take_tasks(s_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts)
{
    uint32_t got = 0;
    while (got < want) {
        fx_msg_t *msg = s_next(ep, WAIT_MS);
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

/* The endpoint returns results for ids (value "v:<id>") and checks the ack. */
static void s_return(s_peer_t *ep, fx_id_text_t *ids, uint32_t n)
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
    uint32_t seq = s_send(ep, msg);
    msg = s_expect(ep, FX_MSG_RESULTS_ACK, seq);
    CHECK(msg && msg->ids.count == n);
    for (uint32_t i = 0; msg && i < msg->ids.count && i < n; i++)
        CHECK(strcmp(msg->ids.ids[i], ids[i]) == 0);
    fx_msg_destroy(&msg);
}

/* The client collects pushed RESULTS (seq 0) until it has the n ids, each
   exactly once, and acks them if ack. */
static void s_collect(s_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack)
{
    bool *seen = calloc(n, sizeof *seen);
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = s_expect(client, FX_MSG_RESULTS, 0);
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
            s_send(client, reply);
        }
        fx_msg_destroy(&msg);
    }
    free(seen);
}

static int s_status(s_peer_t *client, const char *task_id, uint32_t *attempts)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], task_id, sizeof(fx_id_text_t));
    uint32_t seq = s_send(client, msg);
    msg = s_expect(client, FX_MSG_STATUS_REPLY, seq);
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

typedef struct {
    s_broker_t broker;
    fx_keypair_t alice_kp, bob_kp, ep_kp, bob_ep_kp, stranger_kp;
    fx_id_text_t alice, bob;
    fx_id_text_t alice_client, bob_client;
    fx_id_text_t fn, bob_fn, ep, bob_ep;
    s_peer_t *alice_c, *bob_c, *endpoint;
} s_world_t;

static void test_unknown_keys(s_world_t *w)
{
    s_peer_t *stranger = s_peer_new("stranger", w->broker.client_addr, &w->stranger_kp, w->broker.public_key);
    fx_id_text_t id;
    fx_id_new(id);
    s_hello(stranger, id);
    CHECK(s_quiet(stranger));
    /* A user key is not an endpoint key. */
    s_peer_t *fake_ep =
        s_peer_new("fake endpoint", w->broker.endpoint_addr, &w->alice_kp, w->broker.public_key);
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
        memcpy(msg->endpoint_hello.endpoint_id, id, sizeof id);
        s_send(fake_ep, msg);
    }
    CHECK(s_quiet(fake_ep));
    s_peer_destroy(&stranger);
    s_peer_destroy(&fake_ep);
    /* The broker is fine: Alice and Bob get their sessions. */
    s_session(w->alice_c, w->alice_client, w->alice);
    s_session(w->bob_c, w->bob_client, w->bob);
}

static void test_registration(s_world_t *w)
{
    const char *body = "def double(x): return 2 * x\n";
    uint32_t seq = s_register_function(w->alice_c, w->fn, body);
    fx_msg_t *msg = s_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    CHECK(msg && strcmp(msg->function_registered.function_id, w->fn) == 0);
    fx_msg_destroy(&msg);
    seq = s_register_function(w->alice_c, w->fn, body); /* idempotent */
    msg = s_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = s_register_function(w->alice_c, w->fn, "def double(x): return 3 * x\n");
    s_expect_error(w->alice_c, FX_E_CONFLICT, seq);
    seq = s_register_function(w->bob_c, w->fn, body);
    s_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    seq = s_register_function(w->bob_c, w->bob_fn, body);
    msg = s_expect(w->bob_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);

    seq = s_register_endpoint(w->alice_c, w->ep, "laptop", w->ep_kp.public_key);
    msg = s_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    CHECK(msg && strcmp(msg->endpoint_registered.endpoint_id, w->ep) == 0);
    fx_msg_destroy(&msg);
    seq = s_register_endpoint(w->alice_c, w->ep, "laptop2", w->ep_kp.public_key);
    msg = s_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = s_register_endpoint(w->bob_c, w->ep, "mine", w->bob_ep_kp.public_key);
    s_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    seq = s_register_endpoint(w->alice_c, w->ep, "laptop", w->bob_ep_kp.public_key);
    s_expect_error(w->alice_c, FX_E_FORBIDDEN, seq);
    seq = s_register_endpoint(w->bob_c, w->bob_ep, "bobs", w->bob_ep_kp.public_key);
    msg = s_expect(w->bob_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
}

static void test_endpoint_identity(s_world_t *w)
{
    /* Bob's endpoint key cannot say hello as Alice's endpoint. */
    s_peer_t *impostor = s_peer_new("impostor", w->broker.endpoint_addr, &w->bob_ep_kp, w->broker.public_key);
    s_endpoint_hello(impostor, w->ep, false);
    /* ... and without a hello of its own it has no session. */
    s_credit(impostor, 5);
    s_expect_error(impostor, FX_E_NO_SESSION, 0);
    s_peer_destroy(&impostor);
    /* Connect only now that the key is registered: a connection refused by
       ZAP is not retried by libzmq (SPEC 2.3.2). */
    w->endpoint = s_peer_new("endpoint", w->broker.endpoint_addr, &w->ep_kp, w->broker.public_key);
    s_endpoint_hello(w->endpoint, w->ep, true);
}

static void test_submit_rules(s_world_t *w)
{
    fx_id_text_t ids[2];
    uint32_t seq = s_submit(w->alice_c, w->bob_ep, w->fn, 2, ids);
    fx_msg_t *msg = s_expect(w->alice_c, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == FX_E_FORBIDDEN && msg->error.text && strstr(msg->error.text, w->bob_ep));
    fx_msg_destroy(&msg);
    CHECK(s_status(w->alice_c, ids[0], NULL) == FX_TASK_UNKNOWN);
    fx_id_text_t nowhere;
    fx_id_new(nowhere);
    seq = s_submit(w->alice_c, nowhere, w->fn, 1, ids);
    s_expect_error(w->alice_c, FX_E_NOT_FOUND, seq);
    seq = s_submit(w->bob_c, w->ep, w->fn, 1, ids); /* Bob: Alice's endpoint and function */
    s_expect_error(w->bob_c, FX_E_FORBIDDEN, seq);
}

static void test_credit_and_push(s_world_t *w)
{
    enum { N = 5 };
    fx_id_text_t ids[N], got[N + 4];
    uint32_t attempts[N + 4];
    s_submit_ok(w->alice_c, w->ep, w->fn, N, ids);
    /* Resending the same batch is idempotent. */
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
        fx_msg_alloc_records(msg, N);
        for (uint32_t i = 0; i < N; i++) {
            fx_task_t *t = &msg->submit.tasks[i];
            memcpy(t->task_id, ids[i], sizeof(fx_id_text_t));
            memcpy(t->endpoint_id, w->ep, sizeof(fx_id_text_t));
            memcpy(t->function_id, w->fn, sizeof(fx_id_text_t));
            t->payload = zframe_new("args", 4);
        }
        uint32_t seq = s_send(w->alice_c, msg);
        msg = s_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
        CHECK(msg && msg->submitted.accepted == N);
        fx_msg_destroy(&msg);
    }
    /* Another user's batch holding one of these ids is refused. */
    {
        fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
        fx_msg_alloc_records(msg, 1);
        memcpy(msg->submit.tasks[0].task_id, ids[0], sizeof(fx_id_text_t));
        memcpy(msg->submit.tasks[0].endpoint_id, w->bob_ep, sizeof(fx_id_text_t));
        memcpy(msg->submit.tasks[0].function_id, w->bob_fn, sizeof(fx_id_text_t));
        uint32_t seq = s_send(w->bob_c, msg);
        s_expect_error(w->bob_c, FX_E_CONFLICT, seq);
    }
    s_credit(w->endpoint, 2);
    uint32_t n = s_take_tasks(w->endpoint, 2, got, attempts);
    CHECK(n == 2);
    CHECK(s_quiet(w->endpoint)); /* never more than the window */
    CHECK(strcmp(got[0], ids[0]) == 0 && strcmp(got[1], ids[1]) == 0 && attempts[0] == 0);
    CHECK(s_status(w->alice_c, ids[0], NULL) == FX_TASK_DISPATCHED);
    CHECK(s_status(w->alice_c, ids[2], NULL) == FX_TASK_QUEUED);
    /* Results: acked to the endpoint, pushed to the client once. */
    s_return(w->endpoint, got, 2);
    s_collect(w->alice_c, got, 2, false);
    /* Freed credit brings the next two, and no more. */
    n = s_take_tasks(w->endpoint, 2, got + 2, NULL);
    CHECK(n == 2);
    CHECK(s_quiet(w->endpoint));
    /* A resent result is acked again and not pushed again. */
    s_return(w->endpoint, got, 1);
    CHECK(s_quiet(w->alice_c));
    /* Nor is an unacked result pushed again while the session lives. */
    s_return(w->endpoint, got + 2, 1);
    s_collect(w->alice_c, got + 2, 1, true);
    CHECK(s_quiet(w->alice_c));
    /* Ack the first two now; after acks nothing comes back. */
    {
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, 2);
        memcpy(ack->ids.ids[0], got[0], sizeof(fx_id_text_t));
        memcpy(ack->ids.ids[1], got[1], sizeof(fx_id_text_t));
        s_send(w->alice_c, ack);
    }
    n = s_take_tasks(w->endpoint, 1, got + 4, NULL);
    CHECK(n == 1);
    s_return(w->endpoint, got + 3, 2);
    s_collect(w->alice_c, got + 3, 2, true);
    CHECK(s_quiet(w->alice_c));
    for (int i = 0; i < N; i++)
        CHECK(s_status(w->alice_c, ids[i], NULL) == FX_TASK_DELIVERED);
    /* Bob cannot see Alice's tasks. */
    CHECK(s_status(w->bob_c, ids[0], NULL) == FX_TASK_UNKNOWN);
}

static void test_queries(s_world_t *w)
{
    fx_id_text_t ids[1], got[1];
    s_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    CHECK(s_take_tasks(w->endpoint, 1, got, NULL) == 1);
    s_return(w->endpoint, got, 1);
    s_collect(w->alice_c, got, 1, true);
    /* FETCH answers with the request's seq; Bob gets nothing. */
    fx_msg_t *msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    uint32_t seq = s_send(w->alice_c, msg);
    msg = s_expect(w->alice_c, FX_MSG_RESULTS, seq);
    CHECK(msg && msg->results.count == 1 && strcmp(msg->results.results[0].task_id, ids[0]) == 0);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_FETCH);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], ids[0], sizeof(fx_id_text_t));
    seq = s_send(w->bob_c, msg);
    msg = s_expect(w->bob_c, FX_MSG_RESULTS, seq);
    CHECK(msg && msg->results.count == 0);
    fx_msg_destroy(&msg);
    /* LIST. */
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_ENDPOINTS;
    seq = s_send(w->alice_c, msg);
    msg = s_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
    CHECK(msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 5);
    if (msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 5) {
        char **c = msg->list_reply.cells;
        CHECK(strcmp(c[5], w->ep) == 0 && strcmp(c[6], "laptop2") == 0);
        CHECK(strcmp(c[7], "online") == 0 && strcmp(c[9], "0") == 0);
    }
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_TASKS;
    msg->list.limit = 2;
    seq = s_send(w->alice_c, msg);
    msg = s_expect(w->alice_c, FX_MSG_LIST_REPLY, seq);
    CHECK(msg && msg->list_reply.rows == 3 && msg->list_reply.cols == 5);
    if (msg && msg->list_reply.rows == 3)
        CHECK(strcmp(msg->list_reply.cells[5], ids[0]) == 0 &&
              strcmp(msg->list_reply.cells[6], "delivered") == 0);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_FUNCTIONS;
    seq = s_send(w->bob_c, msg);
    msg = s_expect(w->bob_c, FX_MSG_LIST_REPLY, seq);
    CHECK(msg && msg->list_reply.rows == 2 && msg->list_reply.cols == 3);
    fx_msg_destroy(&msg);
    /* HEARTBEAT is answered (s_next skips it, so ask the socket directly). */
    s_send(w->bob_c, fx_msg_new(FX_MSG_HEARTBEAT));
    zsock_set_rcvtimeo(w->bob_c->sock, WAIT_MS);
    zmsg_t *zmsg = zmsg_recv(w->bob_c->sock);
    CHECK(zmsg != NULL);
    zmsg_destroy(&zmsg);
}

/* The largest payload goes through: SUBMIT, store, TASKS, RESULTS, push. */
static void test_large_payload(s_world_t *w)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_task_t *t = &msg->submit.tasks[0];
    fx_id_text_t id;
    fx_id_new(t->task_id);
    memcpy(id, t->task_id, sizeof id);
    memcpy(t->endpoint_id, w->ep, sizeof(fx_id_text_t));
    memcpy(t->function_id, w->fn, sizeof(fx_id_text_t));
    t->payload = zframe_new(NULL, FX_PAYLOAD_MAX);
    memset(zframe_data(t->payload), 'a', FX_PAYLOAD_MAX);
    uint32_t seq = s_send(w->alice_c, msg);
    msg = s_expect(w->alice_c, FX_MSG_SUBMITTED, seq);
    fx_msg_destroy(&msg);
    s_credit(w->endpoint, 1);
    msg = s_expect(w->endpoint, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == 1 && zframe_size(msg->tasks.tasks[0].payload) == FX_PAYLOAD_MAX);
    fx_msg_destroy(&msg);
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->results.results[0].task_id, id, sizeof id);
    msg->results.results[0].value = zframe_new(NULL, FX_PAYLOAD_MAX);
    memset(zframe_data(msg->results.results[0].value), 'v', FX_PAYLOAD_MAX);
    seq = s_send(w->endpoint, msg);
    msg = s_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    msg = s_expect(w->alice_c, FX_MSG_RESULTS, 0);
    CHECK(msg && msg->results.count == 1 && zframe_size(msg->results.results[0].value) == FX_PAYLOAD_MAX);
    if (msg && msg->results.count == 1) {
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, 1);
        memcpy(ack->ids.ids[0], id, sizeof id);
        s_send(w->alice_c, ack);
    }
    fx_msg_destroy(&msg);
    CHECK(s_status(w->alice_c, id, NULL) == FX_TASK_DELIVERED);
}

/* A message of this type that decodes, with minimal valid fields. */
static fx_msg_t *s_valid_of(int type)
{
    fx_msg_t *msg = fx_msg_new((fx_msg_type_t) type);
    fx_keypair_t kp;
    switch (type) {
    case FX_MSG_HELLO:
        fx_id_new(msg->hello.client_id);
        break;
    case FX_MSG_ERROR:
        fx_msg_set_error(msg, FX_E_INTERNAL, "test");
        break;
    case FX_MSG_REGISTER_FUNCTION:
        fx_id_new(msg->register_function.function_id);
        fx_strlcpy(msg->register_function.name, "n", FX_NAME_MAX);
        msg->register_function.kind = FX_FN_SHELL;
        break;
    case FX_MSG_FUNCTION_REGISTERED:
        fx_id_new(msg->function_registered.function_id);
        break;
    case FX_MSG_REGISTER_ENDPOINT:
        fx_id_new(msg->register_endpoint.endpoint_id);
        fx_strlcpy(msg->register_endpoint.name, "n", FX_NAME_MAX);
        fx_keypair_new(&kp);
        memcpy(msg->register_endpoint.public_key, kp.public_key, FX_KEY_LEN + 1);
        break;
    case FX_MSG_ENDPOINT_REGISTERED:
        fx_id_new(msg->endpoint_registered.endpoint_id);
        break;
    case FX_MSG_LIST:
        msg->list.what = FX_LIST_ENDPOINTS;
        break;
    case FX_MSG_ENDPOINT_HELLO:
        fx_id_new(msg->endpoint_hello.endpoint_id);
        break;
    case FX_MSG_CREDIT:
        msg->credit.window = 1;
        break;
    case FX_MSG_COMMAND:
        msg->command.command = FX_CMD_DRAIN;
        break;
    case FX_MSG_MANAGER_HELLO:
        fx_id_new(msg->manager_hello.manager_id);
        break;
    default:
        break;
    }
    return msg;
}

/* The encoding of a valid message of this type with its first body field
   replaced by a msgpack `true` (no field accepts it) or, for an empty body,
   a body of one `true`: a bad field in every type. */
static zmsg_t *s_bad_field_of(int type, uint32_t seq)
{
    fx_msg_t *msg = s_valid_of(type);
    msg->seq = seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    zframe_t *header = zmsg_pop(zmsg);
    byte *data = zframe_data(header);
    size_t size = zframe_size(header);
    /* 0x94 0x01 <type> <seq> <body array> ...: type and seq < 128 here. */
    if (size >= 6 && data[4] != 0x90)
        data[5] = 0xc3;
    else {
        byte fixed[] = {0x94, 0x01, (byte) type, (byte) seq, 0x91, 0xc3};
        zframe_reset(header, fixed, sizeof fixed);
    }
    zmsg_prepend(zmsg, &header);
    return zmsg;
}

static bool s_valid_on_client_port(int type)
{
    return type == FX_MSG_HELLO || type == FX_MSG_HEARTBEAT || type == FX_MSG_ERROR ||
           type == FX_MSG_REGISTER_FUNCTION || type == FX_MSG_REGISTER_ENDPOINT || type == FX_MSG_SUBMIT ||
           type == FX_MSG_RESULTS_ACK || type == FX_MSG_STATUS || type == FX_MSG_FETCH || type == FX_MSG_LIST;
}

static bool s_valid_on_endpoint_port(int type)
{
    return type == FX_MSG_ENDPOINT_HELLO || type == FX_MSG_CREDIT || type == FX_MSG_RESULTS ||
           type == FX_MSG_HEARTBEAT || type == FX_MSG_ERROR;
}

/* Raw frames, answered with ERROR(code) and seq. */
static void s_garbage(s_peer_t *p, const void *header, size_t size, int extra_frames, int code, uint32_t seq)
{
    zmsg_t *zmsg = zmsg_new();
    zmsg_addmem(zmsg, header, size);
    for (int i = 0; i < extra_frames; i++)
        zmsg_addstr(zmsg, "extra");
    s_raw(p, zmsg);
    s_expect_error(p, code, seq);
}

static void s_garbage_battery(s_peer_t *p, bool client_port)
{
    /* Bad field in every message type. */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        uint32_t seq = 100 + (uint32_t) type;
        s_raw(p, s_bad_field_of(type, seq));
        s_expect_error(p, FX_E_BAD_FIELD, seq);
    }
    /* Valid messages that do not belong on this port. */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        if (client_port ? s_valid_on_client_port(type) : s_valid_on_endpoint_port(type))
            continue;
        uint32_t seq = s_send(p, s_valid_of(type));
        s_expect_error(p, FX_E_UNEXPECTED, seq);
    }
    /* Malformed framing. */
    const byte empty[] = {0};
    s_garbage(p, empty, 0, 0, FX_E_MALFORMED, 0);
    const byte not_array[] = {0xc3};
    s_garbage(p, not_array, 1, 0, FX_E_MALFORMED, 0);
    const byte short_header[] = {0x94, 0x01, 0x04};
    s_garbage(p, short_header, sizeof short_header, 0, FX_E_MALFORMED, 0);
    const byte lying[] = {0x94, 0x01, 0x0d, 0x07, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff};
    s_garbage(p, lying, sizeof lying, 0, FX_E_MALFORMED, 7);
    const byte version[] = {0x94, 0x02, 0x04, 0x08, 0x90};
    s_garbage(p, version, sizeof version, 0, FX_E_VERSION, 8);
    const byte unknown[] = {0x94, 0x01, 0x63, 0x09, 0x90};
    s_garbage(p, unknown, sizeof unknown, 0, FX_E_UNKNOWN_TYPE, 9);
    const byte heartbeat[] = {0x94, 0x01, 0x04, 0x0a, 0x90};
    s_garbage(p, heartbeat, sizeof heartbeat, 1, FX_E_MALFORMED, 10); /* a frame too many */
    const byte trailing[] = {0x94, 0x01, 0x04, 0x0b, 0x90, 0x00};
    s_garbage(p, trailing, sizeof trailing, 0, FX_E_MALFORMED, 11);
    byte random[64];
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof random; i++)
            random[i] = (byte) (rand() & 0xff);
        zmsg_t *zmsg = zmsg_new();
        zmsg_addmem(zmsg, random, 1 + (size_t) (rand() % (int) sizeof random));
        s_raw(p, zmsg);
        fx_msg_t *msg = s_next(p, WAIT_MS);
        CHECK(msg && msg->type == FX_MSG_ERROR);
        fx_msg_destroy(&msg);
    }
    /* An ERROR is never answered. */
    s_send(p, s_valid_of(FX_MSG_ERROR));
    CHECK(s_quiet(p));
}

static void test_garbage(s_world_t *w)
{
    s_garbage_battery(w->alice_c, true);
    s_garbage_battery(w->endpoint, false);
    /* Fields a decoder accepts but the broker refuses. */
    fx_msg_t *msg = s_valid_of(FX_MSG_REGISTER_FUNCTION);
    msg->register_function.name[0] = '\0';
    uint32_t seq = s_send(w->alice_c, msg);
    s_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    msg = s_valid_of(FX_MSG_REGISTER_FUNCTION);
    msg->register_function.kind = FX_FN_PYTHON; /* with no entry */
    seq = s_send(w->alice_c, msg);
    s_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    fx_id_text_t ids[1];
    msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_id_new(msg->submit.tasks[0].task_id);
    memcpy(msg->submit.tasks[0].function_id, w->fn, sizeof(fx_id_text_t));
    seq = s_send(w->alice_c, msg); /* endpoint_id "" */
    s_expect_error(w->alice_c, FX_E_BAD_FIELD, seq);
    /* A result for a task that is not the endpoint's: acked and dropped. */
    fx_id_new(ids[0]);
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->results.results[0].task_id, ids[0], sizeof(fx_id_text_t));
    seq = s_send(w->endpoint, msg);
    msg = s_expect(w->endpoint, FX_MSG_RESULTS_ACK, seq);
    fx_msg_destroy(&msg);
    CHECK(s_quiet(w->alice_c));
    /* After all that, a valid task still runs end to end. */
    fx_id_text_t got[1];
    s_credit(w->endpoint, 2);
    s_submit_ok(w->alice_c, w->ep, w->fn, 1, ids);
    CHECK(s_take_tasks(w->endpoint, 1, got, NULL) == 1 && strcmp(got[0], ids[0]) == 0);
    s_return(w->endpoint, got, 1);
    s_collect(w->alice_c, got, 1, true);
    /* A flood of garbage: ERRORs are rate-limited per connection, the
       broker keeps serving everyone (Bob is not limited by Alice). */
    enum { FLOOD = 2000 };
    for (int i = 0; i < FLOOD; i++) {
        zmsg_t *zmsg = zmsg_new();
        zmsg_addstr(zmsg, "garbage");
        s_raw(w->alice_c, zmsg);
    }
    int errors = 0;
    fx_msg_t *reply;
    while ((reply = s_next(w->alice_c, QUIET_MS))) {
        errors += reply->type == FX_MSG_ERROR;
        fx_msg_destroy(&reply);
    }
    CHECK(errors > 0 && errors < FLOOD);
    printf("garbage flood: %d messages, %d ERRORs back\n", FLOOD, errors);
    seq = s_submit(w->bob_c, w->ep, w->fn, 1, ids);
    s_expect_error(w->bob_c, FX_E_FORBIDDEN, seq);
    CHECK(s_status(w->alice_c, got[0], NULL) == FX_TASK_DELIVERED);
}

/* Restart on the same state and ports: sessions are gone, state is not. */
static void test_restart(s_world_t *w, fx_id_text_t pending, fx_id_text_t running)
{
    /* Before: one result done but not acked, one task dispatched. */
    fx_id_text_t ids[2], got[2];
    s_submit_ok(w->alice_c, w->ep, w->fn, 2, ids);
    CHECK(s_take_tasks(w->endpoint, 2, got, NULL) == 2);
    s_return(w->endpoint, got, 1);
    s_collect(w->alice_c, got, 1, false);
    memcpy(pending, got[0], sizeof(fx_id_text_t));
    memcpy(running, got[1], sizeof(fx_id_text_t));
    w->alice_c->keepalive = w->endpoint->keepalive = w->bob_c->keepalive = false;
    s_broker_stop(&w->broker);
    char client_bind[128], endpoint_bind[128];
    snprintf(client_bind, sizeof client_bind, "%s", w->broker.client_addr);
    snprintf(endpoint_bind, sizeof endpoint_bind, "%s", w->broker.endpoint_addr);
    if (s_broker_start(&w->broker, client_bind, endpoint_bind, "200") != 0) {
        CHECK(!"fx-broker did not restart");
        return;
    }
    /* The same sockets reconnect by themselves; the broker has no session. */
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    uint32_t seq = s_send(w->alice_c, msg);
    s_expect_error(w->alice_c, FX_E_NO_SESSION, seq);
    uint32_t beat = s_session(w->alice_c, w->alice_client, w->alice);
    CHECK(beat == 200);
    s_collect(w->alice_c, (fx_id_text_t *) pending, 1, true); /* pushed again after HELLO */
    CHECK(s_quiet(w->alice_c));
    s_credit(w->endpoint, 2);
    s_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
    s_endpoint_hello(w->endpoint, w->ep, true);
    uint32_t attempts[1] = {0};
    s_credit(w->endpoint, 1);
    CHECK(s_take_tasks(w->endpoint, 1, got, attempts) == 1);
    CHECK(strcmp(got[0], running) == 0 && attempts[0] == 1);
}

/* The endpoint goes silent: lost after 3 beats, its task requeued; after
   the third dispatch is lost too, the task fails with WORKER_LOST. */
static void test_endpoint_loss(s_world_t *w, const char *running)
{
    fx_id_text_t got[1];
    uint32_t attempts = 0;
    w->endpoint->keepalive = false;
    /* Wait (deadline) until the broker has requeued it. */
    int64_t deadline = zclock_mono() + WAIT_MS;
    int state = -1;
    while (zclock_mono() < deadline &&
           (state = s_status(w->alice_c, running, &attempts)) == FX_TASK_DISPATCHED)
        s_quiet(w->alice_c);
    CHECK(state == FX_TASK_QUEUED && attempts == 2);
    /* The endpoint learns it was lost, says hello, gets the task (attempt 2). */
    s_credit(w->endpoint, 1);
    s_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
    s_endpoint_hello(w->endpoint, w->ep, true);
    s_credit(w->endpoint, 1);
    uint32_t attempt[1];
    CHECK(s_take_tasks(w->endpoint, 1, got, attempt) == 1 && attempt[0] == 2);
    /* Lost again: the third dispatch was the last one allowed. */
    w->endpoint->keepalive = false;
    fx_msg_t *msg = s_expect(w->alice_c, FX_MSG_RESULTS, 0);
    CHECK(msg && msg->results.count == 1);
    if (msg && msg->results.count == 1) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(strcmp(r->task_id, running) == 0 && r->status == FX_RESULT_ERROR);
        CHECK(r->error_code == FX_E_WORKER_LOST && r->error_text && strstr(r->error_text, w->ep));
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, 1);
        memcpy(ack->ids.ids[0], r->task_id, sizeof(fx_id_text_t));
        s_send(w->alice_c, ack);
    }
    fx_msg_destroy(&msg);
    CHECK(s_status(w->alice_c, running, &attempts) == FX_TASK_FAILED && attempts == 3);
    /* A late result of the failed task is acked and changes nothing. */
    memcpy(got[0], running, sizeof got[0]);
    s_credit(w->endpoint, 0);
    s_expect_error(w->endpoint, FX_E_NO_SESSION, 0);
    s_endpoint_hello(w->endpoint, w->ep, true);
    s_return(w->endpoint, got, 1);
    CHECK(s_quiet(w->alice_c));
    CHECK(s_status(w->alice_c, running, NULL) == FX_TASK_FAILED);
}

/* ---------------------------------------------------------------- main */

static void s_make_users(s_world_t *w)
{
    char err[512], state[300];
    snprintf(state, sizeof state, "%s/state", s_dir);
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    if (!store) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        exit(1);
    }
    CHECK(fx_store_user_create(store, "alice", w->alice_kp.public_key, w->alice, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "bob", w->bob_kp.public_key, w->bob, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "alice", w->stranger_kp.public_key, w->bob, err, sizeof err) ==
          FX_E_CONFLICT);
    fx_store_destroy(&store);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fx_broker_test PATH_TO_FX_BROKER [WRAPPER ARGS...]\n"
                        "  WRAPPER (valgrind ...) runs the broker; FX_TEST_SLOW=N stretches deadlines\n");
        return 2;
    }
    s_binary = argv[1];
    s_wrapper = argc > 2 ? argv + 2 : NULL;
    if (getenv("FX_TEST_SLOW"))
        s_slow = atoi(getenv("FX_TEST_SLOW")) > 0 ? atoi(getenv("FX_TEST_SLOW")) : 1;
    /* No czmq signal handlers here: ctest's timeout must be able to stop us. */
    zsys_handler_set(NULL);
    zsys_init();
    zsys_set_logstream(NULL);
    srand(7);
    snprintf(s_dir, sizeof s_dir, "/tmp/fx_broker_test.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(s_log, sizeof s_log, "%s/broker.log", s_dir);

    s_world_t w;
    memset(&w, 0, sizeof w);
    fx_keypair_new(&w.alice_kp);
    fx_keypair_new(&w.bob_kp);
    fx_keypair_new(&w.ep_kp);
    fx_keypair_new(&w.bob_ep_kp);
    fx_keypair_new(&w.stranger_kp);
    fx_id_new(w.alice_client);
    fx_id_new(w.bob_client);
    fx_id_new(w.fn);
    fx_id_new(w.bob_fn);
    fx_id_new(w.ep);
    fx_id_new(w.bob_ep);
    s_make_users(&w);
    if (s_broker_start(&w.broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", "1000") != 0)
        return 1;
    w.alice_c = s_peer_new("alice", w.broker.client_addr, &w.alice_kp, w.broker.public_key);
    w.bob_c = s_peer_new("bob", w.broker.client_addr, &w.bob_kp, w.broker.public_key);

    test_unknown_keys(&w);
    test_registration(&w);
    test_endpoint_identity(&w);
    test_submit_rules(&w);
    test_credit_and_push(&w);
    test_queries(&w);
    test_large_payload(&w);
    test_garbage(&w);
    fx_id_text_t pending, running;
    test_restart(&w, pending, running);
    test_endpoint_loss(&w, running);

    s_peer_destroy(&w.alice_c);
    s_peer_destroy(&w.bob_c);
    s_peer_destroy(&w.endpoint);
    s_broker_stop(&w.broker);
    if (s_failures) {
        fprintf(stderr, "fx_broker_test: %d checks failed; broker log: %s\n", s_failures, s_log);
        return 1;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", s_dir);
    printf("fx_broker_test: all checks passed\n");
    return 0;
}
