/*  fx_ix_launcher.c: fork/exec with setsid; waitpid(WNOHANG) to reap our
    children, /proc to watch adopted managers; the pids file. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_conf.h"
#include "fx_file.h"
#include "fx_ix_launcher.h"
#include "fx_log.h"

#define S_MAX_CHILDREN 1024

struct fx_ix_launcher_t {
    pid_t pids[S_MAX_CHILDREN];   /* 0 = slot free (exited and reaped) */
    bool adopted[S_MAX_CHILDREN]; /* from an earlier run: not our child */
    int count;
    char *pids_path; /* NULL: no pids file */
};

fx_ix_launcher_t *fx_ix_launcher_new(const char *pids_path)
{
    fx_ix_launcher_t *self = calloc(1, sizeof *self);
    if (self && pids_path && !(self->pids_path = strdup(pids_path)))
        fx_ix_launcher_destroy(&self);
    return self;
}

void fx_ix_launcher_destroy(fx_ix_launcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->pids_path);
    free(*self_p);
    *self_p = NULL;
}

/* Rewrite the pids file atomically (fx_file_write_atomic, on disk before
   the rename). */
static void s_save_pids(fx_ix_launcher_t *self)
{
    if (!self->pids_path)
        return;
    char text[S_MAX_CHILDREN * 12];
    size_t len = 0;
    for (int i = 0; i < self->count; i++)
        if (self->pids[i] > 0)
            len += (size_t) snprintf(text + len, sizeof text - len, "%d\n", (int) self->pids[i]);
    if (fx_file_write_atomic(self->pids_path, text, len, 0644, 1) != 0)
        fx_warn("cannot write %s (%s): managers of this run will not be adopted after a "
                "restart",
                self->pids_path, strerror(errno));
}

/* True if pid runs (not a zombie). */
static bool s_alive(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* True if pid runs fx-manager with key_file among its arguments. */
static bool s_is_our_manager(pid_t pid, const char *key_file)
{
    char path[64], cmd[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    const char *base = strrchr(cmd, '/');
    if (strcmp(base ? base + 1 : cmd, "fx-manager") != 0)
        return false;
    for (size_t i = strlen(cmd) + 1; i < n; i += strlen(cmd + i) + 1)
        if (strcmp(cmd + i, key_file) == 0)
            return true;
    return false;
}

int fx_ix_launcher_adopt(fx_ix_launcher_t *self, const char *key_file)
{
    FILE *f = self->pids_path ? fopen(self->pids_path, "r") : NULL;
    if (!f)
        return 0;
    int adopted = 0;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1 && self->count < S_MAX_CHILDREN) {
        if (pid <= 1 || pid > INT_MAX || !s_alive((pid_t) pid) || !s_is_our_manager((pid_t) pid, key_file))
            continue;
        self->adopted[self->count] = true;
        self->pids[self->count++] = (pid_t) pid;
        adopted++;
        fx_info("adopting fx-manager pid %ld of an earlier run; waiting for its hello", pid);
    }
    fclose(f);
    s_save_pids(self);
    return adopted;
}

int fx_ix_launcher_adopted(fx_ix_launcher_t *self, int *out, int cap)
{
    int n = 0;
    for (int i = 0; i < self->count && n < cap; i++)
        if (self->pids[i] > 0 && self->adopted[i])
            out[n++] = (int) self->pids[i];
    return n;
}

void fx_ix_launcher_terminate(fx_ix_launcher_t *self, int pid)
{
    for (int i = 0; i < self->count; i++)
        if (self->pids[i] == pid)
            kill(pid, SIGTERM);
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

int fx_ix_launcher_start(fx_ix_launcher_t *self, const fx_ix_launch_conf_t *conf, int count, char *err,
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
    char workers[16], prefetch[16], heartbeat[16], missed[16];
    snprintf(workers, sizeof workers, "%d", conf->workers);
    snprintf(prefetch, sizeof prefetch, "%d", conf->prefetch);
    snprintf(heartbeat, sizeof heartbeat, "%d", conf->heartbeat_ms);
    snprintf(missed, sizeof missed, "%d", conf->heartbeat_missed);
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
                    NULL,
                    NULL,
                    NULL};
    if (conf->heartbeat_missed > 0 && conf->heartbeat_missed != FX_HEARTBEAT_MISSED_DEFAULT) {
        argv[13] = "--heartbeat-missed";
        argv[14] = missed;
    }
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
        self->adopted[self->count] = false;
        self->pids[self->count++] = pid;
        fx_info("started fx-manager pid %d (workers %d, prefetch %d)", (int) pid, conf->workers,
                conf->prefetch);
        s_save_pids(self);
    }
    return 0;
}

/* Checks one manager (slot i); true if it still runs. */
static bool s_reap_one(fx_ix_launcher_t *self, int i)
{
    if (self->adopted[i]) {
        if (s_alive(self->pids[i]))
            return true;
        fx_info("adopted fx-manager pid %d is gone", (int) self->pids[i]);
        return false;
    }
    int status = 0;
    pid_t pid = waitpid(self->pids[i], &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno != ECHILD))
        return true;
    if (pid > 0 && WIFEXITED(status))
        fx_info("fx-manager pid %d exited with status %d", (int) pid, WEXITSTATUS(status));
    else if (pid > 0 && WIFSIGNALED(status))
        fx_info("fx-manager pid %d ended by signal %d", (int) pid, WTERMSIG(status));
    return false;
}

int fx_ix_launcher_reap(fx_ix_launcher_t *self)
{
    int running = 0;
    bool changed = false;
    for (int i = 0; i < self->count; i++) {
        if (self->pids[i] == 0)
            continue;
        if (s_reap_one(self, i)) {
            running++;
            continue;
        }
        self->pids[i] = 0;
        changed = true;
    }
    if (changed)
        s_save_pids(self);
    return running;
}

int fx_ix_launcher_stop(fx_ix_launcher_t *self, int timeout_ms)
{
    for (int i = 0; i < self->count; i++)
        if (self->pids[i] > 0)
            kill(self->pids[i], SIGTERM);
    int64_t deadline = fx_now_ms() + timeout_ms;
    while (fx_ix_launcher_reap(self) > 0 && fx_now_ms() < deadline) {
        struct timespec pause = {0, 10 * 1000 * 1000}; /* poll children every 10 ms */
        nanosleep(&pause, NULL);
    }
    int killed = 0;
    for (int i = 0; i < self->count; i++) {
        if (self->pids[i] > 0) {
            fx_warn("fx-manager pid %d did not stop within %d ms of SIGTERM; killing its "
                    "process group",
                    (int) self->pids[i], timeout_ms);
            kill(-self->pids[i], SIGKILL);
            kill(self->pids[i], SIGKILL);
            if (!self->adopted[i])
                waitpid(self->pids[i], NULL, 0);
            self->pids[i] = 0;
            killed++;
        }
    }
    s_save_pids(self);
    return killed;
}
