/*  fx_ix_command.c: fork/execvp with two non-blocking pipes, waitpid
    (WNOHANG) and a deadline (fx_ix_command.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_ix_command.h"

typedef struct {
    int fd; /* -1 once at EOF */
    char *data;
    size_t len;
} s_stream_t;

struct fx_ix_command_t {
    pid_t pid; /* 0 once reaped */
    int64_t deadline;
    int64_t timeout_ms;
    int status; /* as fx_ix_command_status */
    bool timed_out;
    bool done;
    s_stream_t out, err;
    char line[512];
};

static void s_close(s_stream_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Reads what is there (kept up to the cap, the rest dropped). */
static void s_read(s_stream_t *s)
{
    char buf[8192];
    while (s->fd >= 0) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            s_close(s);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* EAGAIN: nothing more for now */
        }
        size_t keep =
            s->len + (size_t) n > FX_IX_COMMAND_OUT_MAX ? FX_IX_COMMAND_OUT_MAX - s->len : (size_t) n;
        memcpy(s->data + s->len, buf, keep);
        s->len += keep;
        s->data[s->len] = '\0';
    }
}

fx_ix_command_t *fx_ix_command_start(char *const argv[], int64_t timeout_ms, int64_t now, char *err,
                                     size_t errlen)
{
    fx_ix_command_t *self = calloc(1, sizeof *self);
    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (!self || !(self->out.data = malloc(FX_IX_COMMAND_OUT_MAX + 1)) ||
        !(self->err.data = malloc(FX_IX_COMMAND_OUT_MAX + 1))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    self->out.data[0] = self->err.data[0] = '\0';
    self->out.fd = self->err.fd = -1;
    size_t len = 0;
    for (int i = 0; argv[i] && len < sizeof self->line; i++)
        len += (size_t) snprintf(self->line + len, sizeof self->line - len, "%s%s", i ? " " : "", argv[i]);
    if (pipe(out) != 0 || pipe(errp) != 0) {
        snprintf(err, errlen, "cannot run %s: pipe: %s", argv[0], strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(out[i], F_SETFD, FD_CLOEXEC); /* not into other children (managers, commands) */
        fcntl(errp[i], F_SETFD, FD_CLOEXEC);
    }
    fflush(NULL);
    self->pid = fork();
    if (self->pid < 0) {
        snprintf(err, errlen, "cannot run %s: fork: %s", argv[0], strerror(errno));
        goto fail;
    }
    if (self->pid == 0) {
        /* child: only async-signal-safe calls from here on */
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        execvp(argv[0], argv);
        static const char msg[] = "cannot run the command (exec failed: is it on PATH?)\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void) ignored;
        _exit(127);
    }
    setpgid(self->pid, self->pid); /* here too: a timeout's kill(-pid) must not miss */
    close(out[1]);
    close(errp[1]);
    self->out.fd = out[0];
    self->err.fd = errp[0];
    fcntl(self->out.fd, F_SETFL, O_NONBLOCK);
    fcntl(self->err.fd, F_SETFL, O_NONBLOCK);
    self->timeout_ms = timeout_ms;
    self->deadline = now + timeout_ms;
    return self;
fail:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (self) {
        free(self->out.data);
        free(self->err.data);
        free(self);
    }
    return NULL;
}

void fx_ix_command_destroy(fx_ix_command_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_command_t *self = *self_p;
    if (self->pid > 0) {
        kill(-self->pid, SIGKILL);
        waitpid(self->pid, NULL, 0);
    }
    s_close(&self->out);
    s_close(&self->err);
    free(self->out.data);
    free(self->err.data);
    free(self);
    *self_p = NULL;
}

bool fx_ix_command_done(fx_ix_command_t *self, int64_t now)
{
    if (self->done)
        return true;
    s_read(&self->out);
    s_read(&self->err);
    int status = 0;
    pid_t pid = waitpid(self->pid, &status, WNOHANG);
    if (pid == 0 && now < self->deadline)
        return false;
    if (pid == 0) { /* the timeout: the whole group goes */
        kill(-self->pid, SIGKILL);
        waitpid(self->pid, &status, 0);
        self->timed_out = true;
    }
    self->pid = 0;
    self->status = !self->timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    /* what it wrote just before it ended (a child of it may hold the pipes: no waiting for EOF) */
    s_read(&self->out);
    s_read(&self->err);
    s_close(&self->out);
    s_close(&self->err);
    self->done = true;
    return true;
}

void fx_ix_command_wait(fx_ix_command_t *self)
{
    while (!fx_ix_command_done(self, fx_now_ms())) {
        struct pollfd fds[2] = {{.fd = self->out.fd, .events = POLLIN},
                                {.fd = self->err.fd, .events = POLLIN}};
        poll(fds, 2, 10); /* output or 10 ms, then look again */
    }
}

int fx_ix_command_status(const fx_ix_command_t *self)
{
    return self->status;
}
bool fx_ix_command_timed_out(const fx_ix_command_t *self)
{
    return self->timed_out;
}
const char *fx_ix_command_out(const fx_ix_command_t *self)
{
    return self->out.data;
}
const char *fx_ix_command_err(const fx_ix_command_t *self)
{
    return self->err.data;
}
const char *fx_ix_command_line(const fx_ix_command_t *self)
{
    return self->line;
}

void fx_ix_command_failure(const fx_ix_command_t *self, char *out, size_t cap)
{
    if (self->timed_out) {
        snprintf(out, cap, "%s did not answer within %lld ms (killed)", self->line,
                 (long long) self->timeout_ms);
        return;
    }
    const char *text = self->err.len ? self->err.data : self->out.data;
    size_t first = strcspn(text, "\n");
    if (self->status >= 0)
        snprintf(out, cap, "%s exited with status %d%s%.*s", self->line, self->status, first ? ": " : "",
                 (int) (first > 300 ? 300 : first), text);
    else
        snprintf(out, cap, "%s was killed by a signal%s%.*s", self->line, first ? ": " : "",
                 (int) (first > 300 ? 300 : first), text);
}
