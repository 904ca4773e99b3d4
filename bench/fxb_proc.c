/*  fxb_proc.c: processes started by pid, their ready lines, CPU time and
    memory from /proc, their stop; Python drivers over a line protocol. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_file.h"
#include "fxb_proc.h"

extern char **environ;

/* Every process started here and not yet reaped, so that an interrupted
   fx-bench stops them (by pid) instead of leaving them running. */
#define S_LIVE_MAX 256
static volatile pid_t s_live[S_LIVE_MAX];

void fxb_proc_track(pid_t pid)
{
    for (int i = 0; pid > 0 && i < S_LIVE_MAX; i++)
        if (s_live[i] == 0) {
            s_live[i] = pid;
            return;
        }
}

static void s_untrack(pid_t pid)
{
    for (int i = 0; i < S_LIVE_MAX; i++)
        if (s_live[i] == pid)
            s_live[i] = 0;
}

static void s_on_signal(int sig)
{
    for (int i = 0; i < S_LIVE_MAX; i++)
        if (s_live[i] > 0)
            kill(s_live[i], SIGTERM);
    _exit(128 + sig);
}

void fxb_proc_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* In the child: stdin from in_fd (or /dev/null), stdout to out_fd, stderr
   appended to err_path, a session of its own; then exec. Never returns. */
static void s_exec(char *const argv[], char *const envp[], int in_fd, int out_fd, const char *err_path)
{
    setsid();
    int null = open("/dev/null", O_RDWR);
    dup2(in_fd >= 0 ? in_fd : null, 0);
    dup2(out_fd >= 0 ? out_fd : null, 1);
    int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
    dup2(err >= 0 ? err : null, 2);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    execve(argv[0], argv, envp ? envp : environ);
    dprintf(2, "fx-bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

pid_t fxb_spawn(char *const argv[], const char *out_path, const char *err_path)
{
    int out = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (out_path && out < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        s_exec(argv, NULL, -1, out, err_path);
    fxb_proc_track(pid);
    if (out >= 0)
        close(out);
    return pid;
}

/* True while pid has not exited (a zombie counts as exited; not reaped). */
static bool s_alive(pid_t pid)
{
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t) pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return kill(pid, 0) == 0;   /* not our child */
    return info.si_pid == 0;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int fxb_wait_line(const char *path, const char *needle, char *line, size_t cap, pid_t pid, double timeout_s)
{
    double deadline = fxb_now() + timeout_s;
    while (fxb_now() < deadline) {
        char *data = NULL;
        size_t len = 0;
        if (fx_file_read(path, 1 << 20, &data, &len) == 0) {
            char *hit = strstr(data, needle);
            if (hit) {
                char *start = hit;
                while (start > data && start[-1] != '\n')
                    start--;
                size_t n = strcspn(start, "\n");
                snprintf(line, cap, "%.*s", (int) n, start);
                free(data);
                return 0;
            }
            free(data);
        }
        if (!s_alive(pid))
            return -1;
        s_sleep_ms(10);
    }
    return -1;
}

int fxb_reap(pid_t pid, double timeout_s)
{
    if (pid <= 0)
        return -1;
    double deadline = fxb_now() + timeout_s;
    int status = 0;
    while (fxb_now() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || r < 0) {
            s_untrack(pid);
            return r == pid ? status : -1;
        }
        s_sleep_ms(5);
    }
    kill(pid, SIGKILL);
    s_untrack(pid);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}

int fxb_stop(pid_t pid, double timeout_s)
{
    if (pid > 0)
        kill(pid, SIGTERM);
    return fxb_reap(pid, timeout_s);
}

/* The fields of /proc/PID/stat after the command name, and that name. */
static int s_stat(pid_t pid, char *comm, size_t comm_cap, char **tok, int max, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (!open_p || !close_p || close_p < open_p)
        return -1;
    if (comm)
        snprintf(comm, comm_cap, "%.*s", (int) (close_p - open_p - 1), open_p + 1);
    int k = 0;
    char *save = NULL;
    for (char *t = strtok_r(close_p + 1, " ", &save); t && k < max; t = strtok_r(NULL, " ", &save))
        tok[k++] = t;
    return k;
}

double fxb_cpu_us(pid_t pid, bool with_children)
{
    char buf[1024], *tok[16];
    if (s_stat(pid, NULL, 0, tok, 16, buf, sizeof buf) < 15)
        return -1;
    /* after the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17) */
    double ticks = strtod(tok[11], NULL) + strtod(tok[12], NULL);
    if (with_children)
        ticks += strtod(tok[13], NULL) + strtod(tok[14], NULL);
    return ticks * 1e6 / (double) sysconf(_SC_CLK_TCK);
}

int fxb_children(pid_t parent, const char *comm, pid_t *out, int cap)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char buf[1024], name[64], *tok[4];
        if (s_stat((pid_t) pid, name, sizeof name, tok, 4, buf, sizeof buf) < 2)
            continue;
        if (tok[0][0] != 'Z' && atol(tok[1]) == (long) parent && !strcmp(name, comm))
            out[n++] = (pid_t) pid;
    }
    closedir(d);
    return n;
}

void fxb_kill_if(pid_t pid, const char *comm)
{
    char buf[1024], name[64], *tok[2];
    if (s_stat(pid, name, sizeof name, tok, 2, buf, sizeof buf) >= 1 && !strcmp(name, comm))
        kill(pid, SIGKILL);
}

long fxb_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

/* ---- drivers ---------------------------------------------------------- */

struct fxb_driver_s {
    pid_t pid;
    FILE *in;        /* its stdin */
    FILE *out;       /* its stdout */
    char *line;
    size_t line_cap;
    char err_path[PATH_MAX];
};

/* The last lines of the driver's stderr, to say why it failed. */
static void s_show_tail(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (fx_file_read(path, 1 << 22, &data, &len) != 0)
        return;
    const char *tail = len > 2000 ? data + len - 2000 : data;
    fprintf(stderr, "---- %s (tail) ----\n%s\n----\n", path, tail);
    free(data);
}

/* Reads one line of the driver's stdout into self->line. 0 or -1. */
static int s_read_line(fxb_driver_t *self)
{
    ssize_t n = getline(&self->line, &self->line_cap, self->out);
    if (n <= 0)
        return -1;
    self->line[strcspn(self->line, "\n")] = 0;
    return 0;
}

fxb_driver_t *fxb_driver_start(char *const argv[], char *const env[], const char *err_path, double timeout_s)
{
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0)
        return NULL;
    if (pipe(from_child) != 0) {
        close(to_child[0]);
        close(to_child[1]);
        return NULL;
    }
    size_t base = 0, extra = 0;
    while (environ[base])
        base++;
    while (env && env[extra])
        extra++;
    char **envp = calloc(base + extra + 1, sizeof *envp);
    fxb_driver_t *self = calloc(1, sizeof *self);
    if (!envp || !self) {
        free(envp);
        free(self);
        return NULL;
    }
    memcpy(envp, env, extra * sizeof *envp);
    memcpy(envp + extra, environ, base * sizeof *envp);   /* ours first: they win */
    fflush(NULL);
    self->pid = fork();
    if (self->pid == 0)
        s_exec(argv, envp, to_child[0], from_child[1], err_path);
    fxb_proc_track(self->pid);
    free(envp);
    close(to_child[0]);
    close(from_child[1]);
    self->in = fdopen(to_child[1], "w");
    self->out = fdopen(from_child[0], "r");
    snprintf(self->err_path, sizeof self->err_path, "%s", err_path);
    /* the ready line, with a deadline: poll before each read */
    double deadline = fxb_now() + timeout_s;
    int fd = from_child[0];
    bool ready = false;
    while (!ready && fxb_now() < deadline && self->pid > 0) {
        fd_set set;
        FD_ZERO(&set);
        FD_SET(fd, &set);
        struct timeval tv = {0, 100000};
        if (select(fd + 1, &set, NULL, NULL, &tv) > 0) {
            if (s_read_line(self) != 0)
                break;
            ready = !strcmp(self->line, "ready");
            if (!ready)
                fxb_progress("driver said: %s", self->line);
        }
    }
    if (!ready) {
        fxb_progress("driver %s did not get ready", argv[1]);
        s_show_tail(err_path);
        fxb_driver_destroy(&self);
    }
    return self;
}

int fxb_driver_cmd(fxb_driver_t *self, fxb_samples_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(self->in, fmt, ap);
    va_end(ap);
    fputc('\n', self->in);
    fflush(self->in);
    if (s_read_line(self) != 0) {
        fxb_progress("driver %d died", (int) self->pid);
        s_show_tail(self->err_path);
        return -1;
    }
    if (strncmp(self->line, "ok", 2) != 0) {
        fxb_progress("driver: %s", self->line);
        return -1;
    }
    char *p = self->line + 2;
    while (out && *p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            break;
        fxb_samples_add(out, v);
        p = end;
    }
    return 0;
}

pid_t fxb_driver_pid(const fxb_driver_t *self) { return self->pid; }

void fxb_driver_destroy(fxb_driver_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fxb_driver_t *self = *self_p;
    if (self->in) {
        fputs("quit\n", self->in);
        fflush(self->in);
        fclose(self->in);
    }
    if (self->pid > 0) {
        /* it gets a moment to close its client cleanly, then SIGTERM */
        double deadline = fxb_now() + 15;
        while (s_alive(self->pid) && fxb_now() < deadline)
            s_sleep_ms(20);
        fxb_stop(self->pid, 10);
    }
    if (self->out)
        fclose(self->out);
    free(self->line);
    free(self);
    *self_p = NULL;
}
