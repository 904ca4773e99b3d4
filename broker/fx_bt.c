/*  fx_bt.c: the broker tests' helpers (fx_bt.h): the broker process (start,
    stop, a second one refused) and the test program's life (arguments,
    temporary directory). Peers are in fx_bt_peer.c, protocol steps and the
    usual world in fx_bt_steps.c. */
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

bool bt_log_has(const char *text)
{
    FILE *f = fopen(bt_log, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}
