/*  fx_bt.c: the broker tests' helpers (fx_bt.h): the broker process, the
    peers, the protocol steps, the usual world. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_bt.h"

/* ---------------------------------------------------------------- broker */

const char *bt_binary;
char **bt_wrapper; /* e.g. valgrind and its flags, run in front of the broker */
char bt_dir[256];
char bt_log[300];

/* In a child: [wrapper args...] fx-broker --state ... flags... */
static void s_exec(const char *state, const char *client_bind, const char *endpoint_bind,
                   const char *const *extra)
{
    const char *args[64];
    int n = 0;
    for (int i = 0; bt_wrapper && bt_wrapper[i] && n < 40; i++)
        args[n++] = bt_wrapper[i];
    const char *flags[] = {bt_binary,   "--state",         state,         "--client-bind",
                           client_bind, "--endpoint-bind", endpoint_bind, NULL};
    for (int i = 0; flags[i]; i++)
        args[n++] = flags[i];
    for (int i = 0; extra && extra[i] && n < 62; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    execvp(args[0], (char *const *) args);
    _exit(127);
}

int bt_broker_refused(char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char state[300];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        s_exec(state, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL);
    }
    close(fds[1]);
    size_t len = 0;
    out[0] = '\0';
    int64_t deadline = zclock_mono() + fx_test_ms(10000);
    while (zclock_mono() < deadline && len < cap - 1) {
        /* The peers of the broker already serving beat meanwhile: starting
           one under valgrind takes seconds, its loss threshold is 3 s. */
        bt_keepalive();
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int ready = poll(&pfd, 1, 100);
        if (ready == 0)
            continue;
        if (ready < 0)
            break;
        ssize_t n = read(fds[0], out + len, cap - 1 - len);
        if (n <= 0)
            break; /* EOF: it exited */
        len += (size_t) n;
        out[len] = '\0';
    }
    close(fds[0]);
    int status = -1;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && zclock_mono() < deadline)
        zclock_sleep(10); /* polling a deadline, not waiting for an effect */
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Starts fx-broker and waits (deadline) for its ready line. */
int bt_broker_start(bt_broker_t *b, const char *client_bind, const char *endpoint_bind,
                    const char *const *extra)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char state[300];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    b->pid = fork();
    if (b->pid == 0) {
        dup2(fds[1], 1);
        int log = open(bt_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (log >= 0)
            dup2(log, 2);
        close(fds[0]);
        s_exec(state, client_bind, endpoint_bind, extra);
    }
    close(fds[1]);
    char line[1024] = "";
    size_t len = 0;
    int64_t deadline = zclock_mono() + fx_test_ms(10000);
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
void bt_broker_wait(bt_broker_t *b)
{
    int status = -1;
    int64_t deadline = zclock_mono() + fx_test_ms(10000);
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
        fprintf(stderr, "fx-broker exit status %d (see %s)\n", status, bt_log);
}

/* SIGTERM, then wait (deadline) for a clean exit 0. */
void bt_broker_stop(bt_broker_t *b)
{
    if (b->pid <= 0)
        return; /* never kill(0): that is our own process group */
    kill(b->pid, SIGTERM);
    bt_broker_wait(b);
}

/* ---------------------------------------------------------------- peers */

bt_peer_t *bt_peers[BT_PEERS_MAX];

bt_peer_t *bt_peer_new(const char *name, const char *addr, const fx_keypair_t *kp, const char *server_key)
{
    bt_peer_t *p = calloc(1, sizeof *p);
    p->name = name;
    p->kp = *kp;
    p->sock = zsock_new(ZMQ_DEALER);
    zsock_set_linger(p->sock, 0);
    /* A peer refused by ZAP is never reconnected by libzmq (a protocol
       error ends the session), and a DEALER with no pipe blocks in send:
       never let the test hang on that. */
    zsock_set_sndtimeo(p->sock, 1000);
    fx_curve_client(p->sock, kp, server_key);
    /* Watch the connection (before it starts): a refusal by ZAP and the
       end of a connection are events a test can wait for. */
    static int monitors;
    char monitor[64];
    snprintf(monitor, sizeof monitor, "inproc://bt-monitor-%d", ++monitors);
    zmq_socket_monitor(zsock_resolve(p->sock), monitor,
                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                           ZMQ_EVENT_DISCONNECTED);
    p->monitor = zsock_new_pair(monitor); /* connects (">" is the default for PAIR) */
    zsock_connect(p->sock, "%s", addr);
    for (int i = 0; i < BT_PEERS_MAX; i++)
        if (!bt_peers[i]) {
            bt_peers[i] = p;
            break;
        }
    return p;
}

void bt_peer_destroy(bt_peer_t **p_p)
{
    bt_peer_t *p = *p_p;
    if (!p)
        return;
    for (int i = 0; i < BT_PEERS_MAX; i++)
        if (bt_peers[i] == p)
            bt_peers[i] = NULL;
    zmq_socket_monitor(zsock_resolve(p->sock), NULL, 0);
    zsock_destroy(&p->monitor);
    zsock_destroy(&p->sock);
    free(p);
    *p_p = NULL;
}

void bt_raw(bt_peer_t *p, zmsg_t *zmsg)
{
    zmsg_send(&zmsg, p->sock);
}

/* Sends msg with the next seq, or seq 0 for what is not a request
   (SPEC 3.6.3: HEARTBEAT, CREDIT, ERROR, and RESULTS_ACK of a push);
   returns the seq. */
uint32_t bt_send(bt_peer_t *p, fx_msg_t *msg)
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
        bt_raw(p, zmsg);
    return seq;
}

void bt_keepalive(void)
{
    int64_t now = zclock_mono();
    for (int i = 0; i < BT_PEERS_MAX; i++) {
        bt_peer_t *p = bt_peers[i];
        if (p && p->keepalive && now - p->beat_ms >= 100) {
            bt_send(p, fx_msg_new(FX_MSG_HEARTBEAT));
            p->beat_ms = now;
        }
    }
}

/* Next message that is not a HEARTBEAT, or NULL after timeout_ms. */
fx_msg_t *bt_next(bt_peer_t *p, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    while (true) {
        bt_keepalive();
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
fx_msg_t *bt_expect_at(bt_peer_t *p, int type, uint32_t seq, int line)
{
    fx_msg_t *msg = bt_next(p, BT_WAIT_MS);
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

void bt_expect_error_at(bt_peer_t *p, int code, uint32_t seq, int line)
{
    fx_msg_t *msg = bt_expect_at(p, FX_MSG_ERROR, seq, line);
    if (msg && msg->error.code != code) {
        fprintf(stderr, "line %d: %s expected %s, got %s: %s\n", line, p->name, fx_errname(code),
                fx_errname(msg->error.code), msg->error.text ? msg->error.text : "");
        fx_check_failures++;
    }
    fx_msg_destroy(&msg);
}

int bt_event(bt_peer_t *p, int events, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    zpoller_t *poller = zpoller_new(p->monitor, NULL);
    int got = 0;
    while (!got && poller) {
        bt_keepalive();
        int64_t left = deadline - zclock_mono();
        if (left < 0)
            break;
        if (!zpoller_wait(poller, (int) (left < 100 ? left : 100)))
            continue;
        zmsg_t *event = zmsg_recv(p->monitor);
        zframe_t *head = event ? zmsg_first(event) : NULL;
        if (head && zframe_size(head) >= 2) {
            uint16_t which;
            memcpy(&which, zframe_data(head), sizeof which);
            if (which & events)
                got = which;
        }
        zmsg_destroy(&event);
    }
    zpoller_destroy(&poller);
    return got;
}

int bt_barrier_count(bt_peer_t *p, bool report, int *errors)
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
    uint32_t seq = bt_send(p, msg);
    int before = 0;
    if (errors)
        *errors = 0;
    while ((msg = bt_next(p, BT_WAIT_MS))) {
        bool done = (int) msg->type == reply && msg->seq == seq;
        if (!done) {
            if (report)
                fprintf(stderr, "%s: %s seq %u came before the barrier's reply\n", p->name,
                        fx_msg_type_name(msg->type), msg->seq);
            if (errors && msg->type == FX_MSG_ERROR)
                (*errors)++;
            before++;
        }
        fx_msg_destroy(&msg);
        if (done)
            return before;
    }
    fprintf(stderr, "%s: no reply to the barrier\n", p->name);
    return -1;
}

bool bt_barrier(bt_peer_t *p)
{
    return bt_barrier_count(p, true, NULL) == 0;
}

/* The gap between two polls of a condition that has a deadline of its
   own (the peers beat meanwhile): not a wait for something to happen. */
static void s_poll_gap(void)
{
    bt_keepalive();
    zclock_sleep(20);
}

int bt_wait_state(bt_peer_t *client, const char *task_id, int leave, uint32_t *attempts, int timeout_ms)
{
    int64_t deadline = zclock_mono() + timeout_ms;
    int state = bt_status(client, task_id, attempts);
    while (state == leave && zclock_mono() < deadline) {
        s_poll_gap();
        state = bt_status(client, task_id, attempts);
    }
    return state;
}

void bt_poll_gap(void)
{
    s_poll_gap();
}

/* ---------------------------------------------------------------- steps */

uint32_t bt_hello(bt_peer_t *client, const char *client_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_HELLO);
    memcpy(msg->hello.client_id, client_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->hello.client_version, "test", sizeof msg->hello.client_version);
    fx_strlcpy(msg->hello.python_version, "3.11.2", sizeof msg->hello.python_version);
    return bt_send(client, msg);
}

/* HELLO and WELCOME; returns the heartbeat period. */
uint32_t bt_session(bt_peer_t *client, const char *client_id, const char *user_id)
{
    uint32_t seq = bt_hello(client, client_id);
    fx_msg_t *msg = bt_expect(client, FX_MSG_WELCOME, seq);
    uint32_t beat = msg ? msg->welcome.heartbeat_ms : 0;
    CHECK(msg && strcmp(msg->welcome.id, user_id) == 0 && beat > 0);
    client->keepalive = msg != NULL;
    fx_msg_destroy(&msg);
    return beat;
}

void bt_endpoint_hello(bt_peer_t *ep, const char *endpoint_id, bool ok)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(msg->endpoint_hello.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->endpoint_hello.version, "test", sizeof msg->endpoint_hello.version);
    uint32_t seq = bt_send(ep, msg);
    if (!ok) {
        bt_expect_error(ep, FX_E_FORBIDDEN, seq);
        return;
    }
    msg = bt_expect(ep, FX_MSG_WELCOME, seq);
    CHECK(msg && strcmp(msg->welcome.id, endpoint_id) == 0);
    ep->keepalive = msg != NULL;
    ep->endpoint = true;
    fx_msg_destroy(&msg);
}

void bt_credit(bt_peer_t *ep, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    bt_send(ep, msg);
}

uint32_t bt_register_function(bt_peer_t *client, const char *id, const char *body)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "double", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    msg->register_function.body = zframe_new(body, strlen(body));
    return bt_send(client, msg);
}

uint32_t bt_register_endpoint(bt_peer_t *client, const char *id, const char *name, const char *key)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_ENDPOINT);
    memcpy(msg->register_endpoint.endpoint_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_endpoint.name, name, sizeof msg->register_endpoint.name);
    fx_strlcpy(msg->register_endpoint.public_key, key, sizeof msg->register_endpoint.public_key);
    return bt_send(client, msg);
}

/* SUBMIT n new tasks; their ids go to ids. Returns the seq. */
uint32_t bt_submit(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                   fx_id_text_t *ids)
{
    for (uint32_t i = 0; i < n; i++)
        fx_id_new(ids[i]);
    return bt_submit_ids(client, endpoint_id, function_id, n, ids);
}

uint32_t bt_submit_ids(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
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
    return bt_send(client, msg);
}

void bt_submit_ok(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                  fx_id_text_t *ids)
{
    uint32_t seq = bt_submit(client, endpoint_id, function_id, n, ids);
    fx_msg_t *msg = bt_expect(client, FX_MSG_SUBMITTED, seq);
    CHECK(msg && msg->submitted.accepted == n);
    fx_msg_destroy(&msg);
}

/* The endpoint takes TASKS until `want` tasks arrived (deadline); ids and
   attempts of what came go to ids/attempts. Returns how many came. */
uint32_t bt_take_tasks(bt_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts)
{
    uint32_t got = 0;
    while (got < want) {
        fx_msg_t *msg = bt_next(ep, BT_WAIT_MS);
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

uint32_t bt_results(bt_peer_t *ep, const fx_id_text_t *ids, uint32_t n)
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
    return bt_send(ep, msg);
}

/* The endpoint returns results for ids (value "v:<id>") and checks the ack. */
void bt_return(bt_peer_t *ep, fx_id_text_t *ids, uint32_t n)
{
    uint32_t seq = bt_results(ep, ids, n);
    fx_msg_t *msg = bt_expect(ep, FX_MSG_RESULTS_ACK, seq);
    CHECK(msg && msg->ids.count == n);
    for (uint32_t i = 0; msg && i < msg->ids.count && i < n; i++)
        CHECK(strcmp(msg->ids.ids[i], ids[i]) == 0);
    fx_msg_destroy(&msg);
}

/* The client collects pushed RESULTS (seq 0) until it has the n ids, each
   exactly once, and acks them if ack. */
void bt_collect(bt_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack)
{
    bool *seen = calloc(n, sizeof *seen);
    uint32_t have = 0;
    while (have < n) {
        fx_msg_t *msg = bt_expect(client, FX_MSG_RESULTS, 0);
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
            bt_send(client, reply);
        }
        fx_msg_destroy(&msg);
    }
    free(seen);
}

int bt_status(bt_peer_t *client, const char *task_id, uint32_t *attempts)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_STATUS);
    fx_msg_alloc_records(msg, 1);
    memcpy(msg->ids.ids[0], task_id, sizeof(fx_id_text_t));
    uint32_t seq = bt_send(client, msg);
    msg = bt_expect(client, FX_MSG_STATUS_REPLY, seq);
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

int bt_world_setup(bt_world_t *w, const char *const *flags)
{
    memset(w, 0, sizeof *w);
    fx_keypair_new(&w->alice_kp);
    fx_keypair_new(&w->bob_kp);
    fx_keypair_new(&w->ep_kp);
    fx_id_new(w->client);
    fx_id_new(w->bob_client);
    fx_id_new(w->fn);
    fx_id_new(w->ep);
    char err[512], state[300], cmd[400];
    snprintf(state, sizeof state, "%s/state", bt_dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state); /* a fresh world each time */
    if (system(cmd) != 0)
        return -1;
    fx_store_t *store = fx_store_open(state, err, sizeof err);
    if (!store) {
        fprintf(stderr, "cannot open the store: %s\n", err);
        return -1;
    }
    CHECK(fx_store_user_create(store, "alice", w->alice_kp.public_key, w->alice, err, sizeof err) == FX_OK);
    CHECK(fx_store_user_create(store, "bob", w->bob_kp.public_key, w->bob, err, sizeof err) == FX_OK);
    fx_store_destroy(&store);
    if (bt_broker_start(&w->broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", flags) != 0)
        return -1;
    w->alice_c = bt_peer_new("alice", w->broker.client_addr, &w->alice_kp, w->broker.public_key);
    w->bob_c = bt_peer_new("bob", w->broker.client_addr, &w->bob_kp, w->broker.public_key);
    bt_session(w->alice_c, w->client, w->alice);
    bt_session(w->bob_c, w->bob_client, w->bob);
    uint32_t seq = bt_register_function(w->alice_c, w->fn, "def double(x): return 2 * x\n");
    fx_msg_t *msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, seq);
    fx_msg_destroy(&msg);
    seq = bt_register_endpoint(w->alice_c, w->ep, "laptop", w->ep_kp.public_key);
    msg = bt_expect(w->alice_c, FX_MSG_ENDPOINT_REGISTERED, seq);
    fx_msg_destroy(&msg);
    w->endpoint = bt_peer_new("endpoint", w->broker.endpoint_addr, &w->ep_kp, w->broker.public_key);
    bt_endpoint_hello(w->endpoint, w->ep, true);
    return fx_check_failures ? -1 : 0;
}

void bt_world_teardown(bt_world_t *w)
{
    bt_peer_destroy(&w->alice_c);
    bt_peer_destroy(&w->bob_c);
    bt_peer_destroy(&w->endpoint);
    if (w->broker.pid > 0) /* never kill(0): that is our own process group */
        bt_broker_stop(&w->broker);
}

void bt_init(int argc, char **argv, const char *name, int *count, char ***names)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr,
                "usage: %s PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...]\n"
                "  WRAPPER (valgrind ...) runs the broker; FX_TEST_SLOW=N stretches deadlines\n",
                name);
        exit(2);
    }
    bt_binary = argv[1];
    int n = 0;
    while (2 + n < argc && strcmp(argv[2 + n], "--") != 0)
        n++;
    bt_wrapper = 2 + n + 1 < argc ? argv + 2 + n + 1 : NULL;
    argv[2 + n] = NULL; /* ends the names (argv[argc] is NULL already) */
    *count = n;
    *names = argv + 2;
    /* No czmq signal handlers here: ctest's timeout must be able to stop us. */
    zsys_handler_set(NULL);
    zsys_init();
    zsys_set_logstream(NULL);
    snprintf(bt_dir, sizeof bt_dir, "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(bt_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(bt_log, sizeof bt_log, "%s/broker.log", bt_dir);
}

int bt_finish(int rc)
{
    if (rc == 1 || fx_check_failures) {
        fprintf(stderr, "broker log: %s\n", bt_log);
        return 1;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bt_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", bt_dir);
    return rc;
}
