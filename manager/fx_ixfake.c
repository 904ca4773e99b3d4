/*  fx_ixfake.c: a fake interchange for the manager's tests; see fx_ixfake.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_ixfake.h"
#include "fx_testkit.h"
#include "fx_testproc.h"

/* ------------------------------------------------ processes and pickles */

/* The process helpers are the tests' shared ones (test/include/fx_testproc.h). */
int ix_pidfd_open(pid_t pid)
{
    return fx_test_pidfd_open(pid);
}

pid_t ix_spawn(char *const argv[], int in_fd, int out_fd)
{
    return fx_test_spawn(argv, in_fd, out_fd);
}

int ix_wait_exit(pid_t pid, int pidfd, int ms)
{
    return fx_test_wait_exit(pid, pidfd, ms);
}

/* Pickles: the tests' pickler (fx_testproc.h), pumping while it works, so
   that heartbeats and ZAP go on: a manager that heard nothing for a while
   would count the fake lost. */
static void s_pump_idle(void *arg)
{
    ix_t *ix = arg;
    if (ix->poller)
        ix_pump(ix, 0);
}

static fx_test_pickler_t *s_pickler(ix_t *ix)
{
    if (!ix->pickler)
        ix->pickler = fx_test_pickler_new(ix->python, IX_WAIT_MS, s_pump_idle, ix);
    return ix->pickler;
}

zframe_t *ix_pickle(ix_t *ix, const char *expr)
{
    return s_pickler(ix) ? fx_test_pickler_pickle(ix->pickler, expr) : NULL;
}

char *ix_repr(ix_t *ix, zframe_t *frame)
{
    return s_pickler(ix) ? fx_test_pickler_repr(ix->pickler, frame) : strdup("<repr failed>");
}

/* ------------------------------------------------ the fake interchange */

/* Waits up to ms for one message from the manager (answering ZAP on the
   way); heartbeats are counted, anything else is queued in pending. */
void ix_pump(ix_t *ix, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    do {
        int64_t now = fx_now_ms();
        if (ix->beating && ix->rid && now >= ix->next_beat) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            fx_msg_send(&beat, ix->router, ix->rid);
            ix->last_sent = now;
            ix->next_beat = now + IX_BEAT_MS;
        }
        int64_t left = deadline - now;
        if (ix->beating && ix->next_beat - now < left)
            left = ix->next_beat - now;
        zsock_t *which = zpoller_wait(ix->poller, left > 0 ? (int) left : 0);
        if (which == ix->zap) {
            fx_zap_request_t req;
            if (fx_zap_recv(ix->zap, &req) == 0) {
                bool ok = strcmp(req.domain, "fx-manager") == 0 &&
                          strcmp(req.client_key, ix->client.public_key) == 0;
                CHECK(ok, "ZAP request for domain %s with key %s", req.domain, req.client_key);
                ix->zap_requests++;
                fx_zap_reply(ix->zap, &req, ok && !ix->deny_key, IX_USER_ID);
            }
            continue;
        }
        if (which != ix->router)
            continue;
        zmsg_t *zmsg = zmsg_recv(ix->router);
        if (!zmsg)
            continue;
        zframe_t *rid = zmsg_pop(zmsg);
        const char *user = fx_peer_user_id(zmsg_first(zmsg));
        CHECK(user && strcmp(user, IX_USER_ID) == 0, "User-Id on the header frame is %s",
              user ? user : "(none)");
        fx_msg_t *msg = NULL;
        uint32_t seq;
        const char *detail;
        int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
        zmsg_destroy(&zmsg);
        CHECK(rc == FX_OK, "manager sent an undecodable message: %s (%s)", fx_strerror(rc), detail);
        zframe_destroy(&ix->rid);
        ix->rid = rid;
        if (!msg)
            continue;
        if (msg->type == FX_MSG_CAPACITY) {
            bool news = !ix->cap_known || msg->capacity.window != ix->cap_window;
            ix->capacities++;
            ix->cap_known = true;
            ix->cap_window = msg->capacity.window;
            ix->cap_cold_free = msg->capacity.cold_free;
            ix->cap_count = msg->capacity.count < FX_CONTAINERS_MAX ? msg->capacity.count : FX_CONTAINERS_MAX;
            memcpy(ix->cap, msg->capacity.containers, ix->cap_count * sizeof ix->cap[0]);
            if (!news) {
                ix->heartbeats++;
                fx_msg_destroy(&msg);
                continue;
            }
        }
        if (msg->type == FX_MSG_HEARTBEAT) {
            ix->heartbeats++;
            if (ix->on_beat)
                ix->on_beat(ix->on_beat_arg, ix->rid);
            fx_msg_destroy(&msg);
            continue;
        }
        if (msg->type == FX_MSG_RESULTS && !ix->hold_acks) {
            fx_id_text_t ids[64];
            uint32_t n = 0;
            for (uint32_t i = 0; i < msg->results.count; i++) {
                memcpy(ids[n++], msg->results.results[i].task_id, sizeof ids[0]);
                if (n == 64) {
                    ix_ack(ix, ids, n);
                    n = 0;
                }
            }
            ix_ack(ix, ids, n);
        }
        if (ix->npending == IX_PENDING_MAX) {
            CHECK(0, "too many messages pending");
            fx_msg_destroy(&msg);
            continue;
        }
        ix->pending_rid[ix->npending] = zframe_dup(rid);
        ix->pending[ix->npending++] = msg;
        return;
    } while (fx_now_ms() < deadline);
}

/* The next pending message (and its routing id), taken off the queue. */
static fx_msg_t *s_take(ix_t *ix, zframe_t **rid_p)
{
    fx_msg_t *msg = ix->pending[0];
    if (rid_p)
        *rid_p = ix->pending_rid[0];
    else
        zframe_destroy(&ix->pending_rid[0]);
    ix->npending--;
    memmove(ix->pending, ix->pending + 1, (size_t) ix->npending * sizeof *ix->pending);
    memmove(ix->pending_rid, ix->pending_rid + 1, (size_t) ix->npending * sizeof *ix->pending_rid);
    return msg;
}

fx_msg_t *ix_next_from(ix_t *ix, int ms, zframe_t **rid_p)
{
    if (!ix->npending)
        ix_pump(ix, ms);
    return ix->npending ? s_take(ix, rid_p) : NULL;
}

/* The next non-heartbeat message, or NULL after ms. */
fx_msg_t *ix_next(ix_t *ix, int ms)
{
    return ix_next_from(ix, ms, NULL);
}

/* The next message, which must be of this type (NULL after a CHECK if not). */
fx_msg_t *ix_expect(ix_t *ix, int type, int ms)
{
    fx_msg_t *msg = ix_next(ix, ms);
    CHECK(msg && (int) msg->type == type, "expected %s, got %s", fx_msg_type_name(type),
          msg ? fx_msg_type_name(msg->type) : "nothing");
    if (msg && (int) msg->type != type)
        fx_msg_destroy(&msg);
    return msg;
}

/* Sends with the message's seq as set (TASKS, COMMAND, HEARTBEAT: 0). */
int ix_send(ix_t *ix, fx_msg_t **msg_p)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    ix->last_sent = fx_now_ms();
    return fx_msg_send(msg_p, ix->router, ix->rid);
}

/* Waits (pumping messages) until path exists; false after ms. */
bool ix_wait_file(ix_t *ix, const char *path, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    while (access(path, F_OK) != 0) { /* an event with a deadline: nothing is counted meanwhile */
        if (fx_now_ms() >= deadline)
            return false;
        ix_pump(ix, 20);
    }
    return true;
}

int ix_log_count(ix_t *ix, const char *text)
{
    FILE *f = fopen(ix->log_path, "r");
    if (!f)
        return 0;
    int n = 0;
    char line[8192];
    while (fgets(line, sizeof line, f))
        for (const char *at = strstr(line, text); at; at = strstr(at + 1, text))
            n++;
    fclose(f);
    return n;
}

/* Waits (pumping messages, answering ZAP) until text occurs `times` times
   in the manager's captured stderr; false after ms. */
bool ix_wait_log(ix_t *ix, const char *text, int times, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    while (ix_log_count(ix, text) < times) {
        if (fx_now_ms() >= deadline)
            return false;
        ix_pump(ix, 20);
    }
    return true;
}

int ix_read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    int pid = 0;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

/* A python task calling f(*args) from body. */
void ix_task(ix_t *ix, fx_task_t *t, const char *body, const char *args)
{
    fx_id_new(t->task_id);
    fx_id_new(t->function_id);
    t->kind = FX_FN_PYTHON;
    fx_strlcpy(t->entry, "f", sizeof t->entry);
    fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
    fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
    t->body = zframe_new(body, strlen(body));
    t->payload = ix_pickle(ix, args);
    CHECK(t->payload, "cannot pickle %s", args);
}

/* Sends one task with this walltime; its id in id, or id itself if
   `again` (the same task sent a second time). */
void ix_send_task(ix_t *ix, const char *body, const char *args, uint32_t walltime_ms, fx_id_text_t id,
                  bool again)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    ix_task(ix, &msg->tasks.tasks[0], body, args);
    msg->tasks.tasks[0].walltime_ms = walltime_ms;
    if (again)
        strcpy(msg->tasks.tasks[0].task_id, id);
    else
        strcpy(id, msg->tasks.tasks[0].task_id);
    CHECK(ix_send(ix, &msg) == FX_OK, "cannot send TASKS");
}

/* Sends one task that survives this many worker deaths; its id in id. */
void ix_send_retries(ix_t *ix, const char *body, const char *args, uint32_t retries, fx_id_text_t id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    ix_task(ix, &msg->tasks.tasks[0], body, args);
    msg->tasks.tasks[0].retries = retries;
    strcpy(id, msg->tasks.tasks[0].task_id);
    CHECK(ix_send(ix, &msg) == FX_OK, "cannot send TASKS");
}

void ix_send_one(ix_t *ix, const char *body, const char *args, fx_id_text_t id)
{
    ix_send_task(ix, body, args, 0, id, false);
}

/* Waits for the result of task id, which must be the only one in its
   RESULTS message; the message (caller destroys) or NULL. */
fx_msg_t *ix_result(ix_t *ix, const char *id)
{
    fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
    if (!msg)
        return NULL;
    CHECK(msg->results.count == 1 && strcmp(msg->results.results[0].task_id, id) == 0,
          "expected the one result of %s, got %u results (first %s)", id, msg->results.count,
          msg->results.count ? msg->results.results[0].task_id : "-");
    if (msg->results.count != 1)
        fx_msg_destroy(&msg);
    return msg;
}

static int s_bind(ix_t *ix, const char *addr)
{
    ix->router = zsock_new(ZMQ_ROUTER);
    if (!ix->router)
        return -1;
    zsock_set_linger(ix->router, 0);
    fx_curve_server(ix->router, &ix->server, "fx-manager");
    return zsock_bind(ix->router, "%s", addr);
}

/* The interchange dies and comes back at the same address: the ROUTER is
   closed (the manager's session and routing id with it) and a new one is
   bound on the same port. */
int ix_rebind(ix_t *ix)
{
    zpoller_destroy(&ix->poller);
    zsock_destroy(&ix->router);
    zframe_destroy(&ix->rid);
    ix->beating = false;
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    int rc;
    while ((rc = s_bind(ix, ix->addr)) < 0 && fx_now_ms() < deadline) {
        zsock_destroy(&ix->router); /* the port may take a moment to free */
        zpoller_t *idle = zpoller_new(ix->zap, NULL);
        zpoller_wait(idle, 20);
        zpoller_destroy(&idle);
    }
    CHECK(rc >= 0, "cannot bind %s again: %s", ix->addr, zmq_strerror(errno));
    ix->poller = zpoller_new(ix->zap, ix->router, NULL);
    return rc >= 0 ? 0 : -1;
}

void ix_ack(ix_t *ix, const fx_id_text_t *ids, uint32_t count)
{
    if (!count)
        return;
    fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
    fx_msg_alloc_records(ack, count);
    for (uint32_t i = 0; i < count; i++)
        memcpy(ack->ids.ids[i], ids[i], sizeof ack->ids.ids[0]);
    CHECK(ix_send(ix, &ack) == FX_OK, "cannot send RESULTS_ACK");
}

void ix_welcome(ix_t *ix, uint32_t hello_seq)
{
    ix->cap_known = false; /* a new session: its first CAPACITY is news */
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    fx_strlcpy(welcome->welcome.id, ix->manager_id, sizeof welcome->welcome.id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = IX_BEAT_MS;
    welcome->seq = hello_seq;
    ix_send(ix, &welcome);
}

/* Before a WELCOME to a manager without a session: takes whatever is
   pending, which must be hellos only (nothing else may leave a manager
   without a session), and returns the seq of the latest one (hello_seq if
   none came). */
uint32_t ix_hellos_only(ix_t *ix, uint32_t hello_seq)
{
    ix_pump(ix, 0);
    while (ix->npending) {
        fx_msg_t *msg = s_take(ix, NULL);
        CHECK(msg->type == FX_MSG_MANAGER_HELLO, "%s sent without a session", fx_msg_type_name(msg->type));
        if (msg->type == FX_MSG_MANAGER_HELLO)
            hello_seq = msg->seq;
        fx_msg_destroy(&msg);
        ix_pump(ix, 0);
    }
    return hello_seq;
}

/* A barrier: waits (pumping) until the manager logs that the result of
   task_id is held for want of a session (fx_mgr_out_push); the scenario
   must have set capture_stderr. */
bool ix_wait_held(ix_t *ix, const char *task_id)
{
    char text[FX_ID_LEN + 32];
    snprintf(text, sizeof text, "task=%s ended while", task_id);
    bool held = ix_wait_log(ix, text, 1, IX_WAIT_MS);
    CHECK(held, "the manager never said it holds the result of %s without a session", task_id);
    return held;
}

/* Sets up keys and sockets, starts fx-manager. */
int ix_start(ix_t *ix, uint32_t workers, uint32_t prefetch)
{
    char err[256];
    snprintf(ix->dir, sizeof ix->dir, "/tmp/fx-mtest-XXXXXX");
    if (!mkdtemp(ix->dir))
        return -1;
    snprintf(ix->key_file, sizeof ix->key_file, "%s/manager.key", ix->dir);
    if (fx_keypair_new(&ix->server) != 0 ||
        fx_keypair_load(ix->key_file, &ix->client, true, err, sizeof err) != 0) {
        fprintf(stderr, "keys: %s\n", err);
        return -1;
    }
    ix->zap = fx_zap_bind();
    if (!ix->zap)
        return -1;
    int port = s_bind(ix, "tcp://127.0.0.1:*");
    if (port <= 0)
        return -1;
    snprintf(ix->addr, sizeof ix->addr, "tcp://127.0.0.1:%d", port);
    ix->poller = zpoller_new(ix->zap, ix->router, NULL);
    fx_id_new(ix->manager_id);
    ix->workers = workers;
    ix->prefetch = prefetch;
    char w[16], p[16], b[16], m[16];
    double missed = 10 * fx_test_slow();
    snprintf(m, sizeof m, "%d", missed > 100 ? 100 : (int) missed);
    snprintf(w, sizeof w, "%u", workers);
    snprintf(p, sizeof p, "%u", prefetch);
    snprintf(b, sizeof b, "%d", IX_BEAT_MS);
    fx_keypair_t other;
    if (ix->wrong_server_key && fx_keypair_new(&other) != 0)
        return -1;
    char *server_key = ix->wrong_server_key ? other.public_key : ix->server.public_key;
    char *argv[48] = {(char *) ix->manager_bin, "--interchange", ix->addr, "--server-key", server_key,
                      "--key-file", ix->key_file, "--workers", w, "--prefetch", p, "--heartbeat-ms", b,
                      /* ten beats, stretched by FX_TEST_SLOW, before the
                         manager counts the fake lost: the fake beats only
                         while it pumps; ix->extra may set another value */
                      "--heartbeat-missed", m, NULL};
    int argc = 15;
    char sims[16];
    if (ix->simulate) { /* SIMULATED managers mint their own ids */
        snprintf(sims, sizeof sims, "%u", ix->simulate);
        argv[argc++] = "--simulate";
        argv[argc++] = sims;
    }
    else {
        argv[argc++] = "--id";
        argv[argc++] = ix->manager_id;
    }
    char g[16];
    if (ix->stop_grace_ms) {
        snprintf(g, sizeof g, "%u", ix->stop_grace_ms);
        argv[argc++] = "--stop-grace-ms";
        argv[argc++] = g;
    }
    for (int i = 0; i < 16 && ix->extra[i]; i++)
        argv[argc++] = (char *) ix->extra[i];
    argv[argc] = NULL;
    int saved_stderr = -1;
    if (ix->capture_stderr) { /* the child inherits fd 2 */
        snprintf(ix->log_path, sizeof ix->log_path, "%s/manager.log", ix->dir);
        int fd = open(ix->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        saved_stderr = fd >= 0 ? dup(2) : -1;
        if (saved_stderr >= 0)
            dup2(fd, 2);
        if (fd >= 0)
            close(fd);
    }
    ix->pid = ix_spawn(argv, -1, -1);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
    }
    ix->pidfd = ix_pidfd_open(ix->pid);
    return ix->pid > 0 && ix->pidfd >= 0 ? 0 : -1;
}

/* MANAGER_HELLO (fields checked) -> WELCOME -> CREDIT(window), and from
   then on heartbeats from us. */
int ix_handshake_window(ix_t *ix, uint32_t window)
{
    fx_msg_t *msg = ix_expect(ix, FX_MSG_MANAGER_HELLO, IX_WAIT_MS);
    if (!msg)
        return -1;
    CHECK(msg->seq != 0 && msg->seq != ix->hello_seq, "MANAGER_HELLO seq %u (the last was %u)", msg->seq,
          ix->hello_seq);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    CHECK(strcmp(msg->manager_hello.manager_id, ix->manager_id) == 0, "manager_id %s",
          msg->manager_hello.manager_id);
    CHECK(strncmp(msg->manager_hello.host, host, FX_NAME_MAX) == 0, "host %s", msg->manager_hello.host);
    CHECK(msg->manager_hello.pid == (uint32_t) ix->pid, "pid %u, want %d", msg->manager_hello.pid,
          (int) ix->pid);
    CHECK(msg->manager_hello.workers == ix->workers, "workers %u", msg->manager_hello.workers);
    CHECK(strcmp(msg->manager_hello.version, FX_VERSION) == 0, "version %s", msg->manager_hello.version);
    CHECK(msg->manager_hello.container_count == 0, "containers %u", msg->manager_hello.container_count);
    ix->hello_seq = msg->seq;
    fx_msg_destroy(&msg);

    ix_welcome(ix, ix->hello_seq);

    msg = ix_next(ix, IX_WAIT_MS);
    uint32_t got = 0;
    bool is_window = msg && ix_window_of(msg, &got);
    CHECK(is_window, "expected CAPACITY after WELCOME, got %s", msg ? fx_msg_type_name(msg->type) : "nothing");
    if (!is_window) {
        fx_msg_destroy(&msg);
        return -1;
    }
    CHECK(got == window, "CAPACITY window %u, want %u", got, window);
    CHECK(msg->seq == 0, "CAPACITY is not a request: seq %u", msg->seq);
    fx_msg_destroy(&msg);
    ix->beating = true;
    return 0;
}

int ix_handshake(ix_t *ix)
{
    return ix_handshake_window(ix, ix->workers + ix->prefetch);
}

/* Stops the manager (SIGTERM or COMMAND STOP) and checks it exits 0. */
void ix_stop(ix_t *ix, bool command)
{
    if (command) {
        fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
        stop->command.command = FX_CMD_STOP;
        ix_send(ix, &stop);
    }
    else
        kill(ix->pid, SIGTERM);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "manager exit: wait status %d",
          status);
    if (status == -1) {
        kill(ix->pid, SIGKILL);
        waitpid(ix->pid, NULL, 0);
    }
    ix->pid = 0;
}

void ix_teardown(ix_t *ix)
{
    if (ix->pid > 0) {
        kill(ix->pid, SIGKILL);
        waitpid(ix->pid, NULL, 0);
    }
    if (ix->pidfd >= 0)
        close(ix->pidfd);
    for (int i = 0; i < ix->npending; i++) {
        fx_msg_destroy(&ix->pending[i]);
        zframe_destroy(&ix->pending_rid[i]);
    }
    zframe_destroy(&ix->rid);
    zpoller_destroy(&ix->poller);
    zsock_destroy(&ix->router);
    zsock_destroy(&ix->zap);
    fx_test_pickler_destroy(&ix->pickler);
    if (ix->log_path[0]) { /* what the manager said, for whoever reads the test's output */
        FILE *f = fopen(ix->log_path, "r");
        char line[8192];
        while (f && fgets(line, sizeof line, f))
            fputs(line, stderr);
        if (f)
            fclose(f);
        unlink(ix->log_path);
    }
    unlink(ix->key_file);
    rmdir(ix->dir);
}

bool ix_gone(int pid)
{
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* f(path, release): writes its pid to path, then returns its pid once the
   file `release` exists (or -1 after a minute). */
const char ix_waiter[] = "import os, time\n"
                         "def f(path, release=None):\n"
                         "    with open(path + '.tmp', 'w') as fh:\n"
                         "        fh.write(str(os.getpid()) + '\\n')\n"
                         "    os.rename(path + '.tmp', path)\n"
                         "    for _ in range(6000):\n"
                         "        if release and os.path.exists(release):\n"
                         "            return os.getpid()\n"
                         "        time.sleep(0.01)\n"
                         "    return -1\n";

void ix_touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

/* Starts a waiter task; its id in id; waits until it runs. */
bool ix_start_waiter(ix_t *ix, const char *name, fx_id_text_t id)
{
    char path[160], release[160], args[400];
    snprintf(path, sizeof path, "%s/%s.pid", ix->dir, name);
    snprintf(release, sizeof release, "%s/%s.release", ix->dir, name);
    snprintf(args, sizeof args, "(('%s', '%s'), {})", path, release);
    ix_send_one(ix, ix_waiter, args, id);
    bool ok = ix_wait_file(ix, path, IX_WAIT_MS);
    CHECK(ok, "task %s never started", name);
    return ok;
}

void ix_release(ix_t *ix, const char *name)
{
    char release[160];
    snprintf(release, sizeof release, "%s/%s.release", ix->dir, name);
    ix_touch(release);
}

bool ix_window_of(const fx_msg_t *msg, uint32_t *window)
{
    if (msg->type == FX_MSG_CREDIT)
        *window = msg->credit.window;
    else if (msg->type == FX_MSG_CAPACITY)
        *window = msg->capacity.window;
    else
        return false;
    return true;
}

void ix_expect_credit(ix_t *ix, uint32_t window)
{
    fx_msg_t *msg = ix_next(ix, IX_WAIT_MS);
    uint32_t got = 9999;
    bool is_window = msg && ix_window_of(msg, &got);
    CHECK(is_window && got == window, "%s window %u, want CAPACITY window %u", msg ? fx_msg_type_name(msg->type) : "nothing",
          got, window);
    fx_msg_destroy(&msg);
}

const fx_container_capacity_t *ix_cap_of(ix_t *ix, const char *container_id)
{
    for (uint32_t i = 0; i < ix->cap_count; i++)
        if (strcmp(ix->cap[i].container_id, container_id) == 0)
            return &ix->cap[i];
    return NULL;
}

void ix_expect_ok(ix_t *ix, const char *id)
{
    fx_msg_t *msg = ix_result(ix, id);
    CHECK(msg && msg->results.results[0].status == FX_RESULT_OK, "task %s: status %d (%s)", id,
          msg ? msg->results.results[0].status : -1,
          msg && msg->results.results[0].error_text ? msg->results.results[0].error_text : "");
    fx_msg_destroy(&msg);
}

typedef struct {
    const char *manager_bin;
    const char *python;
} s_env_t;

void ix_run(void *env, void (*body)(ix_t *ix))
{
    s_env_t *e = env;
    ix_t ix = {.manager_bin = e->manager_bin, .python = e->python, .pidfd = -1};
    body(&ix);
    ix_teardown(&ix);
}

int ix_main(int argc, char **argv, const fx_scenario_t *scenarios, size_t count)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FX_MANAGER PYTHON [SCENARIO...|all]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s_env_t env = {.manager_bin = argv[1], .python = argv[2]};
    return fx_test_main(argv[0], argc - 3, argv + 3, scenarios, count, &env);
}
