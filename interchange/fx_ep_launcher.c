/*  fx_ep_launcher.c: fork/exec with setsid; waitpid(WNOHANG) to reap. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_conf.h"
#include "fx_ep_launcher.h"
#include "fx_ep_log.h"

#define S_MAX_CHILDREN 1024

struct fx_ep_launcher_t {
    pid_t pids[S_MAX_CHILDREN]; /* 0 = slot free (exited and reaped) */
    int count;
};

fx_ep_launcher_t *fx_ep_launcher_new(void)
{
    return calloc(1, sizeof(fx_ep_launcher_t));
}

void fx_ep_launcher_destroy(fx_ep_launcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* Starts one child running argv[0] with argv. */
static pid_t s_spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* parent, or -1 */
    /* child: only async-signal-safe calls from here on */
    setsid();
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execv(argv[0], argv);
    static const char msg[] = "fx-endpoint: error: cannot run fx-manager (exec failed)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void) ignored;
    _exit(127);
}

int fx_ep_launcher_start(fx_ep_launcher_t *self, const fx_ep_launch_conf_t *conf, int count, char *err,
                         size_t errlen)
{
    char exe[PATH_MAX];
    if (fx_self_dir(exe, sizeof exe) != 0 || strlen(exe) + 16 > sizeof exe) {
        snprintf(err, errlen,
                 "cannot find the directory of fx-endpoint (/proc/self/exe); start "
                 "it by its full path");
        return -1;
    }
    strcat(exe, "/fx-manager");
    if (access(exe, X_OK) != 0) {
        snprintf(err, errlen,
                 "cannot run %s (%s); build the fx-manager target, or pass "
                 "--managers 0 and start managers yourself",
                 exe, strerror(errno));
        return -1;
    }
    char workers[16], prefetch[16], heartbeat[16];
    snprintf(workers, sizeof workers, "%d", conf->workers);
    snprintf(prefetch, sizeof prefetch, "%d", conf->prefetch);
    snprintf(heartbeat, sizeof heartbeat, "%d", conf->heartbeat_ms);
    char *argv[] = {exe,
                    "--interchange",
                    (char *) conf->interchange,
                    "--server-key",
                    (char *) conf->server_key,
                    "--key-file",
                    (char *) conf->key_file,
                    "--workers",
                    workers,
                    "--prefetch",
                    prefetch,
                    "--heartbeat-ms",
                    heartbeat,
                    NULL};
    for (int i = 0; i < count; i++) {
        if (self->count == S_MAX_CHILDREN) {
            snprintf(err, errlen, "cannot start more than %d local managers; use fewer --managers",
                     S_MAX_CHILDREN);
            return -1;
        }
        fflush(NULL); /* the child must not flush our buffers a second time */
        pid_t pid = s_spawn(argv);
        if (pid < 0) {
            snprintf(err, errlen, "cannot fork fx-manager: %s", strerror(errno));
            return -1;
        }
        self->pids[self->count++] = pid;
        fx_ep_info("started fx-manager pid %d (workers %d, prefetch %d)", (int) pid, conf->workers,
                   conf->prefetch);
    }
    return 0;
}

int fx_ep_launcher_reap(fx_ep_launcher_t *self)
{
    int running = 0;
    for (int i = 0; i < self->count; i++) {
        if (self->pids[i] == 0)
            continue;
        int status = 0;
        pid_t pid = waitpid(self->pids[i], &status, WNOHANG);
        if (pid == 0) {
            running++;
            continue;
        }
        if (pid < 0 && errno != ECHILD) {
            running++;
            continue;
        }
        if (pid > 0 && WIFEXITED(status))
            fx_ep_info("fx-manager pid %d exited with status %d", (int) pid, WEXITSTATUS(status));
        else if (pid > 0 && WIFSIGNALED(status))
            fx_ep_info("fx-manager pid %d ended by signal %d", (int) pid, WTERMSIG(status));
        self->pids[i] = 0;
    }
    return running;
}

int fx_ep_launcher_stop(fx_ep_launcher_t *self, int timeout_ms)
{
    for (int i = 0; i < self->count; i++)
        if (self->pids[i] > 0)
            kill(self->pids[i], SIGTERM);
    int64_t deadline = fx_now_ms() + timeout_ms;
    while (fx_ep_launcher_reap(self) > 0 && fx_now_ms() < deadline) {
        struct timespec pause = {0, 10 * 1000 * 1000}; /* poll children every 10 ms */
        nanosleep(&pause, NULL);
    }
    int killed = 0;
    for (int i = 0; i < self->count; i++) {
        if (self->pids[i] > 0) {
            fx_ep_warn("fx-manager pid %d did not stop within %d ms of SIGTERM; killing its "
                       "process group",
                       (int) self->pids[i], timeout_ms);
            kill(-self->pids[i], SIGKILL);
            kill(self->pids[i], SIGKILL);
            waitpid(self->pids[i], NULL, 0);
            self->pids[i] = 0;
            killed++;
        }
    }
    return killed;
}
