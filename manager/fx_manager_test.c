/*  fx_manager_test: a fake interchange driving the real fx-manager, which
    runs real fx-workers (found beside it).

        fx_manager_test PATH-TO-fx-manager PATH-TO-python3 SCENARIO|all

    The fake binds a CurveZMQ ROUTER on 127.0.0.1 (port 0) and answers ZAP
    itself, admitting only the manager's key. Every wait has a deadline;
    nothing sleeps a fixed time. */
#define _GNU_SOURCE
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_conf.h"
#include "fx_msg.h"

#define S_WAIT_MS 30000 /* generous: ASan or valgrind builds are slow */
#define S_BEAT_MS 200
#define S_USER_ID "manager:test"
#define S_PENDING_MAX 64

static int s_failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            s_failures++;                                                                  \
        }                                                                                  \
    } while (0)
#define REQUIRE(cond, ...)                                                                 \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            CHECK(cond, __VA_ARGS__);                                                      \
            goto done;                                                                     \
        }                                                                                  \
    } while (0)

typedef struct {
    const char *manager_bin;
    const char *python;
    char dir[64];
    char key_file[128];
    char addr[64];
    fx_keypair_t server;
    fx_keypair_t client;
    zsock_t *zap;
    zsock_t *router;
    zpoller_t *poller;
    fx_id_text_t manager_id;
    uint32_t workers, prefetch;
    pid_t pid;
    int pidfd;
    zframe_t *rid;
    uint32_t seq;
    uint32_t hello_seq;
    int heartbeats;
    bool beating;          /* we send HEARTBEAT every S_BEAT_MS */
    int64_t next_beat;
    uint32_t stop_grace_ms; /* passed as --stop-grace-ms when nonzero */
    fx_msg_t *pending[S_PENDING_MAX];
    int npending;
} s_ix_t;

/* ------------------------------------------------ processes and pickles */

static int s_pidfd_open(pid_t pid)
{
    return (int) syscall(SYS_pidfd_open, pid, 0);
}

static pid_t s_spawn(char *const argv[], int in_fd, int out_fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int fd = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    execv(argv[0], argv);
    _exit(127);
}

/* python -c script < input; its stdout (caller frees) or NULL. */
static char *s_python(s_ix_t *ix, const char *script, const char *input)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return NULL;
    char *argv[] = { (char *) ix->python, "-c", (char *) script, NULL };
    pid_t pid = s_spawn(argv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (write(in[1], input, strlen(input)) != (ssize_t) strlen(input))
        fprintf(stderr, "short write to python\n");
    close(in[1]);
    char *text = calloc(1, 65536);
    size_t size = 0;
    ssize_t n;
    while (text && size < 65535 && (n = read(out[0], text + size, 65535 - size)) > 0)
        size += (size_t) n;
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static zframe_t *s_pickle(s_ix_t *ix, const char *expr)
{
    char *hex = s_python(ix, "import pickle,sys; sys.stdout.write(pickle.dumps(eval(sys.stdin.read())).hex())", expr);
    if (!hex)
        return NULL;
    size_t len = strlen(hex) / 2;
    zframe_t *frame = zframe_new(NULL, len);
    for (size_t i = 0; frame && i < len; i++) {
        unsigned int octet;
        sscanf(hex + 2 * i, "%2x", &octet);
        zframe_data(frame)[i] = (byte) octet;
    }
    free(hex);
    return frame;
}

static char *s_repr(s_ix_t *ix, zframe_t *frame)
{
    size_t len = frame ? zframe_size(frame) : 0;
    char *hex = malloc(2 * len + 1);
    for (size_t i = 0; hex && i < len; i++)
        sprintf(hex + 2 * i, "%02x", zframe_data(frame)[i]);
    if (hex)
        hex[2 * len] = '\0';
    char *text = hex ? s_python(ix,
                                "import pickle,sys; d=bytes.fromhex(sys.stdin.read()); "
                                "sys.stdout.write(repr(pickle.loads(d)) if d else '<empty>')",
                                hex)
                     : NULL;
    free(hex);
    return text ? text : strdup("<repr failed>");
}

/* Waits up to ms for pid to exit; its wait status, or -1. */
static int s_wait_exit(pid_t pid, int pidfd, int ms)
{
    struct pollfd p = { pidfd, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1)
        return -1;
    int status;
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

/* ------------------------------------------------ the fake interchange */

/* Waits up to ms for one message from the manager (answering ZAP on the
   way); heartbeats are counted, anything else is queued in pending. */
static void s_pump(s_ix_t *ix, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    do {
        int64_t now = fx_now_ms();
        if (ix->beating && ix->rid && now >= ix->next_beat) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            fx_msg_send(&beat, ix->router, ix->rid);
            ix->next_beat = now + S_BEAT_MS;
        }
        int64_t left = deadline - now;
        if (ix->beating && ix->next_beat - now < left)
            left = ix->next_beat - now;
        zsock_t *which = zpoller_wait(ix->poller, left > 0 ? (int) left : 0);
        if (which == ix->zap) {
            fx_zap_request_t req;
            if (fx_zap_recv(ix->zap, &req) == 0) {
                bool ok = strcmp(req.domain, "fx-manager") == 0 && strcmp(req.client_key, ix->client.public_key) == 0;
                CHECK(ok, "ZAP request for domain %s with key %s", req.domain, req.client_key);
                fx_zap_reply(ix->zap, &req, ok, S_USER_ID);
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
        CHECK(user && strcmp(user, S_USER_ID) == 0, "User-Id on the header frame is %s", user ? user : "(none)");
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
        if (msg->type == FX_MSG_HEARTBEAT) {
            ix->heartbeats++;
            fx_msg_destroy(&msg);
            continue;
        }
        if (ix->npending == S_PENDING_MAX) {
            CHECK(0, "too many messages pending");
            fx_msg_destroy(&msg);
            continue;
        }
        ix->pending[ix->npending++] = msg;
        return;
    } while (fx_now_ms() < deadline);
}

/* The next non-heartbeat message, or NULL after ms. */
static fx_msg_t *s_next(s_ix_t *ix, int ms)
{
    if (!ix->npending)
        s_pump(ix, ms);
    if (!ix->npending)
        return NULL;
    fx_msg_t *msg = ix->pending[0];
    memmove(ix->pending, ix->pending + 1, (size_t) --ix->npending * sizeof *ix->pending);
    return msg;
}

/* The next message, which must be of this type (NULL after a CHECK if not). */
static fx_msg_t *s_expect(s_ix_t *ix, int type, int ms)
{
    fx_msg_t *msg = s_next(ix, ms);
    CHECK(msg && (int) msg->type == type, "expected %s, got %s", fx_msg_type_name(type),
          msg ? fx_msg_type_name(msg->type) : "nothing");
    if (msg && (int) msg->type != type)
        fx_msg_destroy(&msg);
    return msg;
}

/* Sends with the message's seq as set (TASKS, COMMAND, HEARTBEAT: 0). */
static int s_send(s_ix_t *ix, fx_msg_t **msg_p)
{
    if (!*msg_p)
        return FX_E_NOMEM;
    return fx_msg_send(msg_p, ix->router, ix->rid);
}

/* Waits (pumping messages) until path exists; false after ms. */
static bool s_wait_file(s_ix_t *ix, const char *path, int ms)
{
    int64_t deadline = fx_now_ms() + ms;
    while (access(path, F_OK) != 0) {
        if (fx_now_ms() >= deadline)
            return false;
        s_pump(ix, 20);
    }
    return true;
}

static int s_read_pid(const char *path)
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
static void s_task(s_ix_t *ix, fx_task_t *t, const char *body, const char *args)
{
    fx_id_new(t->task_id);
    fx_id_new(t->function_id);
    t->kind = FX_FN_PYTHON;
    fx_strlcpy(t->entry, "f", sizeof t->entry);
    fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
    fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
    t->body = zframe_new(body, strlen(body));
    t->payload = s_pickle(ix, args);
    CHECK(t->payload, "cannot pickle %s", args);
}

/* Sends one task with this walltime; its id in id, or id itself if
   `again` (the same task sent a second time). */
static void s_send_task(s_ix_t *ix, const char *body, const char *args, uint32_t walltime_ms, fx_id_text_t id,
                        bool again)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    s_task(ix, &msg->tasks.tasks[0], body, args);
    msg->tasks.tasks[0].walltime_ms = walltime_ms;
    if (again)
        strcpy(msg->tasks.tasks[0].task_id, id);
    else
        strcpy(id, msg->tasks.tasks[0].task_id);
    CHECK(s_send(ix, &msg) == FX_OK, "cannot send TASKS");
}

static void s_send_one(s_ix_t *ix, const char *body, const char *args, fx_id_text_t id)
{
    s_send_task(ix, body, args, 0, id, false);
}

/* Waits for the result of task id, which must be the only one in its
   RESULTS message; the message (caller destroys) or NULL. */
static fx_msg_t *s_result(s_ix_t *ix, const char *id)
{
    fx_msg_t *msg = s_expect(ix, FX_MSG_RESULTS, S_WAIT_MS);
    if (!msg)
        return NULL;
    CHECK(msg->results.count == 1 && strcmp(msg->results.results[0].task_id, id) == 0,
          "expected the one result of %s, got %u results (first %s)", id, msg->results.count,
          msg->results.count ? msg->results.results[0].task_id : "-");
    if (msg->results.count != 1)
        fx_msg_destroy(&msg);
    return msg;
}

/* Sets up keys and sockets, starts fx-manager. */
static int s_start(s_ix_t *ix, uint32_t workers, uint32_t prefetch)
{
    char err[256];
    snprintf(ix->dir, sizeof ix->dir, "/tmp/fx-mtest-XXXXXX");
    if (!mkdtemp(ix->dir))
        return -1;
    snprintf(ix->key_file, sizeof ix->key_file, "%s/manager.key", ix->dir);
    if (fx_keypair_new(&ix->server) != 0 || fx_keypair_load(ix->key_file, &ix->client, true, err, sizeof err) != 0) {
        fprintf(stderr, "keys: %s\n", err);
        return -1;
    }
    ix->zap = fx_zap_bind();
    ix->router = zsock_new(ZMQ_ROUTER);
    if (!ix->zap || !ix->router)
        return -1;
    fx_curve_server(ix->router, &ix->server, "fx-manager");
    int port = zsock_bind(ix->router, "tcp://127.0.0.1:*");
    if (port <= 0)
        return -1;
    snprintf(ix->addr, sizeof ix->addr, "tcp://127.0.0.1:%d", port);
    ix->poller = zpoller_new(ix->zap, ix->router, NULL);
    fx_id_new(ix->manager_id);
    ix->workers = workers;
    ix->prefetch = prefetch;
    char w[16], p[16], b[16];
    snprintf(w, sizeof w, "%u", workers);
    snprintf(p, sizeof p, "%u", prefetch);
    snprintf(b, sizeof b, "%d", S_BEAT_MS);
    char *argv[] = { (char *) ix->manager_bin, "--interchange", ix->addr, "--server-key", ix->server.public_key,
                     "--key-file", ix->key_file, "--workers", w, "--prefetch", p, "--heartbeat-ms", b,
                     "--id", ix->manager_id, NULL, NULL, NULL };
    char g[16];
    if (ix->stop_grace_ms) {
        snprintf(g, sizeof g, "%u", ix->stop_grace_ms);
        argv[15] = "--stop-grace-ms";
        argv[16] = g;
    }
    ix->pid = s_spawn(argv, -1, -1);
    ix->pidfd = s_pidfd_open(ix->pid);
    return ix->pid > 0 && ix->pidfd >= 0 ? 0 : -1;
}

/* MANAGER_HELLO (fields checked) -> WELCOME -> CREDIT(window), and from
   then on heartbeats from us. */
static int s_handshake_window(s_ix_t *ix, uint32_t window)
{
    fx_msg_t *msg = s_expect(ix, FX_MSG_MANAGER_HELLO, S_WAIT_MS);
    if (!msg)
        return -1;
    CHECK(msg->seq != 0 && msg->seq != ix->hello_seq, "MANAGER_HELLO seq %u (the last was %u)", msg->seq,
          ix->hello_seq);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    CHECK(strcmp(msg->manager_hello.manager_id, ix->manager_id) == 0, "manager_id %s", msg->manager_hello.manager_id);
    CHECK(strncmp(msg->manager_hello.host, host, FX_NAME_MAX) == 0, "host %s", msg->manager_hello.host);
    CHECK(msg->manager_hello.pid == (uint32_t) ix->pid, "pid %u, want %d", msg->manager_hello.pid, (int) ix->pid);
    CHECK(msg->manager_hello.workers == ix->workers, "workers %u", msg->manager_hello.workers);
    CHECK(strcmp(msg->manager_hello.version, FX_VERSION) == 0, "version %s", msg->manager_hello.version);
    CHECK(msg->manager_hello.container_count == 0, "containers %u", msg->manager_hello.container_count);
    ix->hello_seq = msg->seq;
    fx_msg_destroy(&msg);

    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    fx_strlcpy(welcome->welcome.id, ix->manager_id, sizeof welcome->welcome.id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = S_BEAT_MS;
    welcome->seq = ix->hello_seq;
    s_send(ix, &welcome);

    msg = s_expect(ix, FX_MSG_CREDIT, S_WAIT_MS);
    if (!msg)
        return -1;
    CHECK(msg->credit.window == window, "CREDIT window %u, want %u", msg->credit.window, window);
    CHECK(msg->seq == 0, "CREDIT is not a request: seq %u", msg->seq);
    fx_msg_destroy(&msg);
    ix->beating = true;
    return 0;
}

static int s_handshake(s_ix_t *ix)
{
    return s_handshake_window(ix, ix->workers + ix->prefetch);
}

/* Stops the manager (SIGTERM or COMMAND STOP) and checks it exits 0. */
static void s_stop(s_ix_t *ix, bool command)
{
    if (command) {
        fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
        stop->command.command = FX_CMD_STOP;
        s_send(ix, &stop);
    }
    else
        kill(ix->pid, SIGTERM);
    int status = s_wait_exit(ix->pid, ix->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "manager exit: wait status %d", status);
    if (status == -1) {
        kill(ix->pid, SIGKILL);
        waitpid(ix->pid, NULL, 0);
    }
    ix->pid = 0;
}

static void s_teardown(s_ix_t *ix)
{
    if (ix->pid > 0) {
        kill(ix->pid, SIGKILL);
        waitpid(ix->pid, NULL, 0);
    }
    if (ix->pidfd >= 0)
        close(ix->pidfd);
    for (int i = 0; i < ix->npending; i++)
        fx_msg_destroy(&ix->pending[i]);
    zframe_destroy(&ix->rid);
    zpoller_destroy(&ix->poller);
    zsock_destroy(&ix->router);
    zsock_destroy(&ix->zap);
    unlink(ix->key_file);
    rmdir(ix->dir);
}

static bool s_gone(int pid)
{
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* ------------------------------------------------ scenarios */

static void s_test_hello_credit(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 2, 1) == 0 && s_handshake(ix) == 0, "setup");
    /* heartbeats every S_BEAT_MS: two within a few periods */
    int64_t deadline = fx_now_ms() + S_WAIT_MS;
    while (ix->heartbeats < 2 && fx_now_ms() < deadline)
        s_pump(ix, 50);
    CHECK(ix->heartbeats >= 2, "%d heartbeats", ix->heartbeats);
    CHECK(ix->npending == 0, "unexpected %s", ix->npending ? fx_msg_type_name(ix->pending[0]->type) : "");
    s_stop(ix, false);
done:;
}

static void s_test_tasks(s_ix_t *ix)
{
    enum { N = 4 };
    REQUIRE(s_start(ix, 2, 2) == 0 && s_handshake(ix) == 0, "setup");
    fx_msg_t *batch = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(batch, N);
    fx_id_text_t ids[N];
    char args[32];
    for (int i = 0; i < N; i++) {
        snprintf(args, sizeof args, "((%d,), {})", i + 1);
        s_task(ix, &batch->tasks.tasks[i], "import os\ndef f(x):\n    return (x * x, os.getpid())\n", args);
        strcpy(ids[i], batch->tasks.tasks[i].task_id);
    }
    REQUIRE(s_send(ix, &batch) == FX_OK, "send TASKS");
    int got = 0, messages = 0, pids[N] = { 0 };
    while (got < N) {
        fx_msg_t *msg = s_expect(ix, FX_MSG_RESULTS, S_WAIT_MS);
        REQUIRE(msg, "only %d of %d results", got, N);
        messages++;
        for (uint32_t r = 0; r < msg->results.count; r++) {
            fx_result_t *res = &msg->results.results[r];
            int i = 0;
            while (i < N && strcmp(ids[i], res->task_id) != 0)
                i++;
            CHECK(i < N && !pids[i], "unknown or repeated result %s", res->task_id);
            CHECK(res->status == FX_RESULT_OK, "task %d: status %d %s", i, res->status,
                  res->error_text ? res->error_text : "");
            if (i < N && res->status == FX_RESULT_OK) {
                char *repr = s_repr(ix, res->value);
                int square = 0;
                sscanf(repr, "(%d, %d)", &square, &pids[i]);
                CHECK(square == (i + 1) * (i + 1), "task %d returned %s", i, repr);
                free(repr);
            }
            got++;
        }
        fx_msg_destroy(&msg);
    }
    printf("tasks: %d results in %d RESULTS messages\n", N, messages);
    s_stop(ix, false);
    for (int i = 0; i < N; i++)
        CHECK(s_gone(pids[i]), "worker pid %d outlived its manager", pids[i]);
done:;
}

/* f(path, release): writes its pid to path, then returns its pid once the
   file `release` exists (or -1 after a minute). */
static const char s_waiter[] = "import os, time\n"
                               "def f(path, release=None):\n"
                               "    with open(path + '.tmp', 'w') as fh:\n"
                               "        fh.write(str(os.getpid()) + '\\n')\n"
                               "    os.rename(path + '.tmp', path)\n"
                               "    for _ in range(6000):\n"
                               "        if release and os.path.exists(release):\n"
                               "            return os.getpid()\n"
                               "        time.sleep(0.01)\n"
                               "    return -1\n";

static void s_touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

/* Starts a waiter task; its id in id; waits until it runs. */
static bool s_start_waiter(s_ix_t *ix, const char *name, fx_id_text_t id)
{
    char path[160], release[160], args[400];
    snprintf(path, sizeof path, "%s/%s.pid", ix->dir, name);
    snprintf(release, sizeof release, "%s/%s.release", ix->dir, name);
    snprintf(args, sizeof args, "(('%s', '%s'), {})", path, release);
    s_send_one(ix, s_waiter, args, id);
    bool ok = s_wait_file(ix, path, S_WAIT_MS);
    CHECK(ok, "task %s never started", name);
    return ok;
}

static void s_release(s_ix_t *ix, const char *name)
{
    char release[160];
    snprintf(release, sizeof release, "%s/%s.release", ix->dir, name);
    s_touch(release);
}

static void s_expect_credit(s_ix_t *ix, uint32_t window)
{
    fx_msg_t *msg = s_expect(ix, FX_MSG_CREDIT, S_WAIT_MS);
    CHECK(msg && msg->credit.window == window, "CREDIT %u, want %u", msg ? msg->credit.window : 9999, window);
    fx_msg_destroy(&msg);
}

static void s_expect_ok(s_ix_t *ix, const char *id)
{
    fx_msg_t *msg = s_result(ix, id);
    CHECK(msg && msg->results.results[0].status == FX_RESULT_OK, "task %s: status %d (%s)", id,
          msg ? msg->results.results[0].status : -1,
          msg && msg->results.results[0].error_text ? msg->results.results[0].error_text : "");
    fx_msg_destroy(&msg);
}

static void s_test_worker_lost(s_ix_t *ix)
{
    char pid_a[128], pid_b[128], release[128];
    REQUIRE(s_start(ix, 2, 1) == 0 && s_handshake(ix) == 0, "setup");
    snprintf(pid_a, sizeof pid_a, "%s/a.pid", ix->dir);
    snprintf(pid_b, sizeof pid_b, "%s/b.pid", ix->dir);
    snprintf(release, sizeof release, "%s/release", ix->dir);
    const char *writer = "import os, time\n"
                         "def f(path, release=None):\n"
                         "    with open(path + '.tmp', 'w') as fh:\n"
                         "        fh.write(str(os.getpid()))\n"
                         "    os.rename(path + '.tmp', path)\n"
                         "    for _ in range(6000):\n"
                         "        if release and os.path.exists(release):\n"
                         "            return os.getpid()\n"
                         "        time.sleep(0.01)\n"
                         "    return -1\n";
    char args[512];
    fx_id_text_t a, b, c;
    /* A: sleeps until killed */
    snprintf(args, sizeof args, "(('%s',), {})", pid_a);
    s_send_one(ix, writer, args, a);
    REQUIRE(s_wait_file(ix, pid_a, S_WAIT_MS), "task A never started");
    int victim = s_read_pid(pid_a);
    REQUIRE(victim > 0, "no pid in %s", pid_a);
    kill(victim, SIGKILL);
    fx_msg_t *msg = s_result(ix, a);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        char want[64];
        snprintf(want, sizeof want, "worker pid %d ", victim);
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_WORKER_LOST, "status %d code %s", r->status,
              fx_errname(r->error_code));
        CHECK(r->error_text && strstr(r->error_text, want) && strstr(r->error_text, "signal 9") &&
                  strstr(r->error_text, a),
              "error text %s", r->error_text ? r->error_text : "(none)");
        printf("worker_lost: %s\n", r->error_text ? r->error_text : "");
    }
    fx_msg_destroy(&msg);
    /* B holds one worker until released; C must then run on the other: both
       alive, distinct, and neither is the dead one, so one is its
       replacement. */
    snprintf(args, sizeof args, "(('%s', '%s'), {})", pid_b, release);
    s_send_one(ix, writer, args, b);
    REQUIRE(s_wait_file(ix, pid_b, S_WAIT_MS), "task B never started");
    s_send_one(ix, "import os\ndef f():\n    return os.getpid()\n", "((), {})", c);
    msg = s_result(ix, c);
    int pid_c = 0;
    if (msg) {
        char *repr = s_repr(ix, msg->results.results[0].value);
        pid_c = atoi(repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    FILE *f = fopen(release, "w");
    if (f)
        fclose(f);
    msg = s_result(ix, b);
    int pid_bb = 0;
    if (msg) {
        char *repr = s_repr(ix, msg->results.results[0].value);
        pid_bb = atoi(repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    CHECK(pid_bb == s_read_pid(pid_b), "B returned %d", pid_bb);
    CHECK(pid_c > 0 && pid_bb > 0 && pid_c != pid_bb && pid_c != victim && pid_bb != victim,
          "pids: killed %d, B %d, C %d", victim, pid_bb, pid_c);
    s_stop(ix, true);
    CHECK(s_gone(pid_c) && s_gone(pid_bb), "workers %d, %d outlived their manager", pid_c, pid_bb);
done:;
}

static void s_test_refused(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 1, 1) == 0, "setup");
    fx_msg_t *msg = s_expect(ix, FX_MSG_MANAGER_HELLO, S_WAIT_MS);
    REQUIRE(msg, "no hello");
    uint32_t seq = msg->seq;
    fx_msg_destroy(&msg);
    fx_send_error(ix->router, ix->rid, seq, FX_E_FORBIDDEN, "manager key not admitted (test)");
    int status = s_wait_exit(ix->pid, ix->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "wait status %d, want exit 1", status);
    if (status != -1)
        ix->pid = 0;
done:;
}

static void s_test_no_session(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    fx_send_error(ix->router, ix->rid, 0, FX_E_NO_SESSION, "no session: send HELLO first (test restart)");
    REQUIRE(s_handshake(ix) == 0, "second handshake");
    fx_id_text_t id;
    s_send_one(ix, "def f(x):\n    return x + 1\n", "((41,), {})", id);
    fx_msg_t *msg = s_result(ix, id);
    if (msg) {
        char *repr = s_repr(ix, msg->results.results[0].value);
        CHECK(strcmp(repr, "42") == 0, "value %s", repr);
        free(repr);
    }
    fx_msg_destroy(&msg);
    s_stop(ix, false);
done:;
}

static void s_test_drain(s_ix_t *ix)
{
    char release[128];
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    snprintf(release, sizeof release, "%s/release", ix->dir);
    char body[512], args[256];
    snprintf(body, sizeof body,
             "import os, time\ndef f(path):\n    for _ in range(6000):\n        if os.path.exists(path):\n"
             "            return 'done'\n        time.sleep(0.01)\n    return 'timeout'\n");
    snprintf(args, sizeof args, "(('%s',), {})", release);
    fx_id_text_t id;
    s_send_one(ix, body, args, id);
    fx_msg_t *drain = fx_msg_new(FX_MSG_COMMAND);
    drain->command.command = FX_CMD_DRAIN;
    s_send(ix, &drain);
    fx_msg_t *msg = s_expect(ix, FX_MSG_CREDIT, S_WAIT_MS);
    CHECK(msg && msg->credit.window == 0, "CREDIT after DRAIN: %u", msg ? msg->credit.window : 99);
    fx_msg_destroy(&msg);
    struct pollfd p = { ix->pidfd, POLLIN, 0 };
    CHECK(poll(&p, 1, 0) == 0, "manager exited with a task still running");
    FILE *f = fopen(release, "w");
    if (f)
        fclose(f);
    msg = s_result(ix, id);
    if (msg)
        CHECK(msg->results.results[0].status == FX_RESULT_OK, "drained task status %d",
              msg->results.results[0].status);
    fx_msg_destroy(&msg);
    int status = s_wait_exit(ix->pid, ix->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after drain: wait status %d", status);
    if (status != -1)
        ix->pid = 0;
    unlink(release);
done:;
}

static void s_test_bad_message(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 1, 0) == 0 && s_handshake(ix) == 0, "setup");
    zmsg_t *garbage = zmsg_new();
    zframe_t *rid = zframe_dup(ix->rid);
    zmsg_append(garbage, &rid);
    zmsg_addstr(garbage, "\x94\x01\x14");
    zmsg_send(&garbage, ix->router);
    fx_msg_t *msg = s_expect(ix, FX_MSG_ERROR, S_WAIT_MS);
    CHECK(msg && msg->error.code == FX_E_MALFORMED, "code %s", msg ? fx_errname(msg->error.code) : "-");
    fx_msg_destroy(&msg);
    fx_msg_t *odd = fx_msg_new(FX_MSG_SUBMITTED);
    s_send(ix, &odd);
    msg = s_expect(ix, FX_MSG_ERROR, S_WAIT_MS);
    CHECK(msg && msg->error.code == FX_E_UNEXPECTED, "code %s", msg ? fx_errname(msg->error.code) : "-");
    fx_msg_destroy(&msg);
    fx_id_text_t id;
    s_send_one(ix, "def f():\n    return 'alive'\n", "((), {})", id);
    msg = s_result(ix, id);
    CHECK(msg && msg->results.results[0].status == FX_RESULT_OK, "task after garbage failed");
    fx_msg_destroy(&msg);
    s_stop(ix, true);
done:;
}

static void s_test_lost_interchange(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    /* T runs across the outage: after the new WELCOME the window is 1 (T
       came in the old session), 2 again once T's result has gone out. */
    fx_id_text_t t, u;
    REQUIRE(s_start_waiter(ix, "t", t), "T");
    ix->beating = false;
    REQUIRE(s_handshake_window(ix, 1) == 0, "second session");
    s_release(ix, "t");
    s_expect_ok(ix, t);
    s_expect_credit(ix, 2);
    /* U finishes while the manager has no session: its result is held
       until the next WELCOME, then sent, and the window is whole. */
    REQUIRE(s_start_waiter(ix, "u", u), "U");
    ix->beating = false;
    fx_msg_t *hello = s_expect(ix, FX_MSG_MANAGER_HELLO, S_WAIT_MS);
    REQUIRE(hello, "third hello");
    uint32_t hello_seq = hello->seq;
    fx_msg_destroy(&hello);
    s_release(ix, "u");
    s_pump(ix, 500); /* time for U to end; nothing may come but hellos */
    CHECK(ix->npending == 0 || ix->pending[0]->type == FX_MSG_MANAGER_HELLO, "%s sent without a session",
          ix->npending ? fx_msg_type_name(ix->pending[0]->type) : "");
    while (ix->npending)
        fx_msg_destroy(&ix->pending[--ix->npending]);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    fx_strlcpy(welcome->welcome.id, ix->manager_id, sizeof welcome->welcome.id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = S_BEAT_MS;
    welcome->seq = hello_seq;
    s_send(ix, &welcome);
    ix->beating = true;
    s_expect_ok(ix, u);
    s_expect_credit(ix, 2);
    s_stop(ix, false);
done:;
}

static void s_test_duplicate(s_ix_t *ix)
{
    char runs[160], args[400], body[1024];
    REQUIRE(s_start(ix, 1, 2) == 0 && s_handshake(ix) == 0, "setup");
    snprintf(runs, sizeof runs, "%s/runs", ix->dir);
    snprintf(body, sizeof body, "%s\ndef g(path, release):\n    open(path + '.runs', 'a').write('run\\n')\n"
             "    return f(path, release)\n", s_waiter);
    snprintf(args, sizeof args, "(('%s/d.pid', '%s/d.release'), {})", ix->dir, ix->dir);
    /* entry g: counts its runs, then waits like f */
    fx_id_text_t d, sentinel;
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    s_task(ix, &msg->tasks.tasks[0], body, args);
    fx_strlcpy(msg->tasks.tasks[0].entry, "g", sizeof msg->tasks.tasks[0].entry);
    strcpy(d, msg->tasks.tasks[0].task_id);
    fx_msg_t *again = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(again, 1);
    again->tasks.tasks[0] = msg->tasks.tasks[0];
    again->tasks.tasks[0].body = zframe_dup(msg->tasks.tasks[0].body);
    again->tasks.tasks[0].payload = zframe_dup(msg->tasks.tasks[0].payload);
    s_send(ix, &msg);
    char pid_path[160];
    snprintf(pid_path, sizeof pid_path, "%s/d.pid", ix->dir);
    REQUIRE(s_wait_file(ix, pid_path, S_WAIT_MS), "D never started");
    s_send(ix, &again); /* the same task id while it runs: tied, not run twice */
    s_send_one(ix, "def f():\n    return 'sentinel'\n", "((), {})", sentinel);
    s_release(ix, "d");
    s_expect_ok(ix, d);
    s_expect_ok(ix, sentinel); /* not a second result of D */
    snprintf(runs, sizeof runs, "%s/d.pid.runs", ix->dir);
    FILE *f = fopen(runs, "r");
    int lines = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        lines += c == '\n';
    if (f)
        fclose(f);
    CHECK(lines == 1, "D ran %d times", lines);
    s_stop(ix, true);
done:;
}

static void s_test_walltime(s_ix_t *ix)
{
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    fx_id_text_t w, next;
    int64_t start = fx_now_ms();
    s_send_task(ix, "import time\ndef f():\n    time.sleep(60)\n", "((), {})", 300, w, false);
    fx_msg_t *msg = s_result(ix, w);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_WALLTIME, "status %d code %s", r->status,
              fx_errname(r->error_code));
        CHECK(r->error_text && strstr(r->error_text, "walltime of 300 ms"), "text %s", r->error_text);
    }
    fx_msg_destroy(&msg);
    CHECK(fx_now_ms() - start < 10000, "walltime result after %lld ms", (long long) (fx_now_ms() - start));
    s_send_one(ix, "def f():\n    return 1\n", "((), {})", next);
    s_expect_ok(ix, next); /* on the replacement worker */
    s_stop(ix, false);
done:;
}

static void s_test_stop_busy(s_ix_t *ix)
{
    ix->stop_grace_ms = 20000;
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    fx_id_text_t t;
    REQUIRE(s_start_waiter(ix, "t", t), "T");
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    s_send(ix, &stop);
    s_expect_credit(ix, 0);
    struct pollfd p = { ix->pidfd, POLLIN, 0 };
    CHECK(poll(&p, 1, 0) == 0, "manager left with a task running and grace to spare");
    s_release(ix, "t");
    s_expect_ok(ix, t);
    int status = s_wait_exit(ix->pid, ix->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after STOP: wait status %d", status);
    if (status != -1)
        ix->pid = 0;
done:;
}

static void s_test_stop_grace(s_ix_t *ix)
{
    ix->stop_grace_ms = 300;
    REQUIRE(s_start(ix, 1, 1) == 0 && s_handshake(ix) == 0, "setup");
    fx_id_text_t t;
    REQUIRE(s_start_waiter(ix, "t", t), "T");
    fx_msg_t *stop = fx_msg_new(FX_MSG_COMMAND);
    stop->command.command = FX_CMD_STOP;
    s_send(ix, &stop);
    s_expect_credit(ix, 0);
    int status = s_wait_exit(ix->pid, ix->pidfd, S_WAIT_MS);
    CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "after STOP grace: wait status %d", status);
    if (status != -1)
        ix->pid = 0;
    char path[160];
    snprintf(path, sizeof path, "%s/t.pid", ix->dir);
    int worker = s_read_pid(path);
    CHECK(s_gone(worker), "worker %d outlived its manager", worker);
done:;
}

static const struct {
    const char *name;
    void (*fn)(s_ix_t *);
} s_tests[] = {
    { "hello_credit", s_test_hello_credit }, { "tasks", s_test_tasks },
    { "worker_lost", s_test_worker_lost },   { "refused", s_test_refused },
    { "no_session", s_test_no_session },     { "drain", s_test_drain },
    { "bad_message", s_test_bad_message },   { "lost_interchange", s_test_lost_interchange },
    { "duplicate", s_test_duplicate },       { "walltime", s_test_walltime },
    { "stop_busy", s_test_stop_busy },       { "stop_grace", s_test_stop_grace },
};

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fx_manager_test FX_MANAGER PYTHON SCENARIO|all\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int ran = 0;
    for (size_t i = 0; i < sizeof s_tests / sizeof s_tests[0]; i++) {
        if (strcmp(argv[3], "all") != 0 && strcmp(argv[3], s_tests[i].name) != 0)
            continue;
        ran++;
        int before = s_failures;
        s_ix_t ix = { .manager_bin = argv[1], .python = argv[2], .pidfd = -1 };
        s_tests[i].fn(&ix);
        s_teardown(&ix);
        printf("%s: %s\n", s_tests[i].name, s_failures == before ? "ok" : "FAILED");
    }
    if (!ran)
        fprintf(stderr, "no scenario named %s\n", argv[3]);
    return ran && s_failures == 0 ? 0 : 1;
}
