/*  fx_cli_endpoint.c: `fx endpoint start` and `fx endpoint stop`.

    start runs fx-endpoint on DIR/config.yaml with the pid and stats files
    in DIR (interchange/README.md, "For fx endpoint"). In the foreground fx
    becomes fx-endpoint (exec), so Ctrl-C and the exit status are the
    endpoint's. With --detach it forks a child that leaves the terminal's
    session (setsid), takes /dev/null as stdin and DIR/endpoint.log as
    stdout and stderr, and execs fx-endpoint with --log-file; fx then reads
    the log for "fx-endpoint: ready endpoint_id=" (the line fx-endpoint
    prints once the broker welcomed it) and returns, or reports the child's
    exit and its error lines, or stops it after --wait seconds.

    stop sends SIGTERM to the pid of DIR/endpoint.pid (or the holder of
    DIR/endpoint.lock) and waits, with a deadline, while the endpoint
    drains, stops its managers and cancels its pilot jobs by itself. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_cli.h"
#include "fx_ix_config.h"

#define S_READY "fx-endpoint: ready endpoint_id="
#define S_POLL_US 50000
/* After --wait ran out, how long the child gets to go on SIGTERM. */
#define S_ABANDON_S 15
/* The most of the log fx reads back while it waits. */
#define S_LOG_READ_MAX (4 << 20)

/* The folder's files. */
typedef struct {
    char dir[PATH_MAX];
    char config[PATH_MAX];
    char log[PATH_MAX];
    char pid[PATH_MAX];
    char stats[PATH_MAX];
    char handle[PATH_MAX + 200]; /* how the user names it: "NAME" or "NAME --dir DIR" */
} s_files_t;

static int s_files(const fx_cli_args_t *args, bool need_config, s_files_t *f)
{
    const char *name = args->argv[0];
    int rc = need_config ? fx_cli_endpoint_find(args, name, f->dir, sizeof f->dir)
                         : fx_cli_endpoint_dir(args, name, f->dir, sizeof f->dir);
    if (rc != 0)
        return -1;
    if (fx_cli_path(f->config, sizeof f->config, f->dir, "config.yaml") != 0 ||
        fx_cli_path(f->log, sizeof f->log, f->dir, "endpoint.log") != 0 ||
        fx_cli_path(f->pid, sizeof f->pid, f->dir, "endpoint.pid") != 0 ||
        fx_cli_path(f->stats, sizeof f->stats, f->dir, "endpoint.stats") != 0) {
        fx_cli_fail("%s is too long a path; pass a shorter --dir", f->dir);
        return -1;
    }
    fx_cli_handle(args, name, f->handle, sizeof f->handle);
    return 0;
}

/* The new part of the log, from offset (at most S_LOG_READ_MAX bytes);
   caller frees; "" if there is none. */
static char *s_log_since(const char *path, off_t offset)
{
    char *text = calloc(1, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (!text || fd < 0 || fstat(fd, &st) != 0 || st.st_size <= offset) {
        if (fd >= 0)
            close(fd);
        return text;
    }
    size_t want = (size_t) (st.st_size - offset);
    if (want > S_LOG_READ_MAX)
        want = S_LOG_READ_MAX;
    char *more = realloc(text, want + 1);
    if (more) {
        text = more;
        ssize_t n = pread(fd, text, want, offset);
        text[n > 0 ? n : 0] = '\0';
    }
    close(fd);
    return text;
}

static bool s_is_error_line(const char *line, size_t len)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int) (len < sizeof buf ? len : sizeof buf - 1), line);
    return strstr(buf, " error ") || strstr(buf, "error:") || strstr(buf, " fatal ");
}

/* The log's error lines (else its last lines), indented, on stderr. */
static void s_print_reason(const char *text)
{
    int errors = 0, lines = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        if (s_is_error_line(p, len) && errors++ < 20)
            fprintf(stderr, "  %.*s\n", (int) len, p);
        lines++;
        p += len + (p[len] == '\n');
    }
    if (errors > 0)
        return;
    int skip = lines > 10 ? lines - 10 : 0, i = 0;
    for (const char *p = text; *p; i++) {
        size_t len = strcspn(p, "\n");
        if (i >= skip)
            fprintf(stderr, "  %.*s\n", (int) len, p);
        p += len + (p[len] == '\n');
    }
    if (lines == 0)
        fprintf(stderr, "  (nothing)\n");
}

/* A line in the log, as fx-endpoint's own look like, so runs are told apart. */
static void s_log_line(int fd, const char *what)
{
    char stamp[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    dprintf(fd, "%s.%03ldZ info fx[%d] %s\n", stamp, ts.tv_nsec / 1000000, (int) getpid(), what);
}

/* The child: out of the terminal's session, stdin /dev/null, stdout and
   stderr the log, then fx-endpoint. Never returns. */
static void s_daemon_child(int log_fd, char *const argv[])
{
    setsid();
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0)
        _exit(126);
    if (null_fd > STDERR_FILENO)
        close(null_fd);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(argv[0], argv);
    dprintf(STDERR_FILENO, "fx: error: cannot run %s: %s; is fx-endpoint installed beside fx?\n", argv[0],
            strerror(errno));
    _exit(127);
}

/* The child's exit status as words. */
static void s_exit_text(int status, char *out, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(out, cap, "fx-endpoint exited with status %d%s", WEXITSTATUS(status),
                 WEXITSTATUS(status) == 2 ? " (a bad command line or configuration)" : "");
    else if (WIFSIGNALED(status))
        snprintf(out, cap, "fx-endpoint was killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, cap, "fx-endpoint ended");
}

static int s_detach(const fx_cli_args_t *args, const s_files_t *f, char *const argv[])
{
    int log_fd = open(f->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        fx_cli_fail("cannot open the log %s (%s); check the folder's permissions", f->log, strerror(errno));
        return FX_CLI_FAILED;
    }
    off_t start = lseek(log_fd, 0, SEEK_END);
    s_log_line(log_fd, "fx endpoint start --detach: starting fx-endpoint");
    long wait_s = args->wait_s > 0 ? args->wait_s : FX_CLI_START_WAIT_S;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fx_cli_fail("cannot start a process: %s", strerror(errno));
        close(log_fd);
        return FX_CLI_FAILED;
    }
    if (pid == 0)
        s_daemon_child(log_fd, argv);
    close(log_fd);

    int64_t deadline = fx_now_ms() + wait_s * 1000;
    int status = 0;
    while (true) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        char *text = s_log_since(f->log, start);
        const char *ready = text ? strstr(text, S_READY) : NULL;
        if (ready) {
            char id[FX_ID_LEN + 1] = "";
            sscanf(ready + strlen(S_READY), "%36[0-9a-f-]", id);
            printf("endpoint %s is running: id %s, pid %d\n"
                   "  log: %s (fx endpoint logs %s -f)\n"
                   "  stop it: fx endpoint stop %s\n",
                   args->argv[0], id, (int) pid, f->log, f->handle, f->handle);
            free(text);
            return FX_CLI_OK;
        }
        if (done == pid) {
            char why[128];
            s_exit_text(status, why, sizeof why);
            fx_cli_fail("endpoint %s did not start: %s; from %s:", args->argv[0], why, f->log);
            s_print_reason(text ? text : "");
            fx_cli_fail("fix that, then run `fx endpoint start %s --detach` again (all of the log: `fx "
                        "endpoint logs %s`)",
                        f->handle, f->handle);
            free(text);
            return FX_CLI_FAILED;
        }
        if (fx_now_ms() >= deadline) {
            kill(pid, SIGTERM);
            int64_t gone = fx_now_ms() + S_ABANDON_S * 1000;
            while (waitpid(pid, &status, WNOHANG) == 0 && fx_now_ms() < gone)
                usleep(S_POLL_US);
            if (waitpid(pid, &status, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
            }
            fx_cli_fail("endpoint %s did not say it was ready within %ld s, so fx stopped it; the end of "
                        "its log (%s):",
                        args->argv[0], wait_s, f->log);
            s_print_reason(text ? text : "");
            fx_cli_fail("is the broker in its credentials running and reachable? `fx endpoint logs %s` "
                        "shows everything; --wait SECONDS waits longer",
                        f->handle);
            free(text);
            return FX_CLI_FAILED;
        }
        free(text);
        usleep(S_POLL_US);
    }
}

int fx_cli_endpoint_start(const fx_cli_args_t *args)
{
    if (args->wait_s > 0 && !args->detach)
        return fx_cli_usage_error(args->verb, "--wait goes with --detach (in the foreground there is "
                                              "nothing to wait for)");
    s_files_t f;
    if (s_files(args, true, &f) != 0)
        return FX_CLI_FAILED;
    fx_cli_endpoint_state_t st;
    fx_cli_endpoint_state(f.dir, &st);
    if (st.pid > 0) {
        fx_cli_fail("endpoint %s is running already (pid %d): `fx endpoint stop %s` first, or see `fx "
                    "endpoint list`",
                    args->argv[0], (int) st.pid, f.handle);
        return FX_CLI_FAILED;
    }
    char program[PATH_MAX];
    fx_cli_endpoint_program(program, sizeof program);
    /* in the foreground the list ends before --log-file: the log is the terminal */
    char *argv[] = {program,  "--config",
                    f.config, "--pid-file",
                    f.pid,    "--stats-file",
                    f.stats,  args->detach ? "--log-file" : NULL,
                    f.log,    NULL};
    if (args->detach)
        return s_detach(args, &f, argv);
    fprintf(stderr,
            "fx: running endpoint %s in the foreground (Ctrl-C stops it; --detach runs it in the "
            "background)\n",
            args->argv[0]);
    fflush(NULL);
    execvp(program, argv);
    fx_cli_fail("cannot run %s: %s; is fx-endpoint installed beside fx?", program, strerror(errno));
    return FX_CLI_FAILED;
}

/* How long stop waits, and what for, from the config (its defaults if
   the config cannot be read now). */
static long s_stop_wait(const s_files_t *f, long *grace_s, const char **what)
{
    char err[2048];
    fx_ix_config_t *cfg = fx_ix_config_load(f->config, err, sizeof err);
    int64_t grace_ms = cfg && cfg->stop_grace_ms != FX_IX_UNSET ? cfg->stop_grace_ms : 10000;
    bool batch =
        cfg && (cfg->provider.kind == FX_IX_PROVIDER_SLURM || cfg->provider.kind == FX_IX_PROVIDER_PBS);
    int64_t cmd_ms = !batch                                        ? 0
                     : cfg->provider.cmd_timeout_ms != FX_IX_UNSET ? cfg->provider.cmd_timeout_ms
                                                                   : 30000;
    *what = batch ? "cancels its pilot jobs" : "stops its managers";
    fx_ix_config_destroy(&cfg);
    *grace_s = (long) ((grace_ms + 999) / 1000);
    /* the drain, then managers get 5 s before SIGKILL, then the scheduler's cancel */
    return *grace_s + 5 + (long) ((cmd_ms + 999) / 1000) + 10;
}

int fx_cli_endpoint_stop(const fx_cli_args_t *args)
{
    s_files_t f;
    if (s_files(args, false, &f) != 0)
        return FX_CLI_FAILED;
    struct stat sb;
    if (stat(f.dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fx_cli_fail("no endpoint named %s (no folder %s): `fx endpoint list` shows yours", args->argv[0],
                    f.dir);
        return FX_CLI_FAILED;
    }
    fx_cli_endpoint_state_t st;
    fx_cli_endpoint_state(f.dir, &st);
    if (st.pid <= 0) {
        if (st.stale_pid > 0)
            printf("endpoint %s is not running: its last run (pid %d) ended without cleaning up (killed?)\n",
                   args->argv[0], (int) st.stale_pid);
        else
            printf("endpoint %s is not running\n", args->argv[0]);
        if (st.managers_alive > 0)
            printf("  %d of its managers still run: `fx endpoint start %s` adopts them\n", st.managers_alive,
                   f.handle);
        return FX_CLI_OK;
    }
    long grace_s = 0;
    const char *what = NULL;
    long wait_s = s_stop_wait(&f, &grace_s, &what);
    if (args->wait_s > 0)
        wait_s = args->wait_s;
    if (kill(st.pid, SIGTERM) != 0 && errno != ESRCH) {
        fx_cli_fail("cannot signal endpoint %s (pid %d): %s", args->argv[0], (int) st.pid, strerror(errno));
        return FX_CLI_FAILED;
    }
    printf("stopping endpoint %s (pid %d): waiting up to %ld s while it finishes its running tasks "
           "(stop_grace %ld s), %s and exits\n",
           args->argv[0], (int) st.pid, wait_s, grace_s, what);
    fflush(stdout);
    int64_t deadline = fx_now_ms() + wait_s * 1000;
    while (fx_cli_endpoint_alive(st.pid)) {
        if (fx_now_ms() >= deadline) {
            fx_cli_fail("endpoint %s (pid %d) is still running after %ld s: run `fx endpoint stop %s` "
                        "again to stop it at once (the broker requeues its tasks); `fx endpoint logs "
                        "%s` says what it is doing",
                        args->argv[0], (int) st.pid, wait_s, f.handle, f.handle);
            return FX_CLI_FAILED;
        }
        usleep(S_POLL_US);
    }
    printf("endpoint %s stopped\n", args->argv[0]);
    return FX_CLI_OK;
}
