/*  fx_testproc.c: child processes and the pickler of fx's C tests; see include/fx_testproc.h. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_testproc.h"

int fx_test_pidfd_open(pid_t pid)
{
    return (int) syscall(SYS_pidfd_open, pid, 0);
}

int fx_test_wait_exit(pid_t pid, int pidfd, int ms)
{
    struct pollfd p = { pidfd, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return status;
}

pid_t fx_test_spawn(char *const argv[], int in_fd, int out_fd)
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

/* ------------------------------------------------ the pickler */

/* Hex text of len bytes; caller frees. */
static char *s_hex(const void *data, size_t len)
{
    char *hex = malloc(2 * len + 1);
    for (size_t i = 0; hex && i < len; i++)
        sprintf(hex + 2 * i, "%02x", ((const unsigned char *) data)[i]);
    if (hex)
        hex[2 * len] = '\0';
    return hex;
}

/* The bytes of n hex digit pairs as a new frame, or NULL. */
static zframe_t *s_unhex(const char *hex, size_t n)
{
    zframe_t *frame = zframe_new(NULL, n);
    for (size_t i = 0; frame && i < n; i++) {
        unsigned int octet;
        sscanf(hex + 2 * i, "%2x", &octet);
        zframe_data(frame)[i] = (byte) octet;
    }
    return frame;
}

/* Asked "pickle HEX(expr)" or "repr HEX(bytes)" a line at a time, it
   answers "ok HEX(pickle.dumps(eval(expr)))" or "ok HEX(repr(pickle.loads(bytes)))",
   or "err HEX(the exception)". */
static const char s_pickler_py[] =
    "import pickle, sys\n"
    "for line in sys.stdin:\n"
    "    op, _, arg = line.strip().partition(' ')\n"
    "    data = bytes.fromhex(arg)\n"
    "    try:\n"
    "        if op == 'pickle':\n"
    "            out = pickle.dumps(eval(data.decode()))\n"
    "        else:\n"
    "            out = (repr(pickle.loads(data)) if data else '<empty>').encode()\n"
    "        sys.stdout.write('ok ' + out.hex() + '\\n')\n"
    "    except Exception as e:\n"
    "        sys.stdout.write('err ' + repr(e).encode().hex() + '\\n')\n"
    "    sys.stdout.flush()\n";

struct fx_test_pickler_t {
    pid_t pid;
    int in, out; /* its stdin and stdout */
    int wait_ms;
    void (*idle)(void *arg);
    void *arg;
};

fx_test_pickler_t *fx_test_pickler_new(const char *python, int wait_ms, void (*idle)(void *arg), void *arg)
{
    fx_test_pickler_t *self = calloc(1, sizeof *self);
    int in[2], out[2];
    if (!self || pipe2(in, O_CLOEXEC) != 0) {
        free(self);
        return NULL;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        free(self);
        return NULL;
    }
    char *argv[] = {(char *) python, "-c", (char *) s_pickler_py, NULL};
    self->pid = fx_test_spawn(argv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    self->in = in[1];
    self->out = out[0];
    self->wait_ms = wait_ms;
    self->idle = idle;
    self->arg = arg;
    if (self->pid <= 0)
        fx_test_pickler_destroy(&self);
    return self;
}

void fx_test_pickler_destroy(fx_test_pickler_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_test_pickler_t *self = *self_p;
    close(self->in); /* EOF: it ends */
    close(self->out);
    if (self->pid > 0)
        waitpid(self->pid, NULL, 0);
    free(self);
    *self_p = NULL;
}

/* Sends one request line: "op HEX(data)\n". */
static bool s_request(fx_test_pickler_t *self, const char *op, const void *data, size_t len)
{
    char *hex = s_hex(data, len);
    char *line = hex ? malloc(strlen(op) + strlen(hex) + 3) : NULL;
    if (line)
        sprintf(line, "%s %s\n", op, hex);
    free(hex);
    bool sent = line != NULL;
    for (size_t done = 0, total = line ? strlen(line) : 0; sent && done < total;) {
        ssize_t n = write(self->in, line + done, total - done);
        sent = n > 0;
        done += sent ? (size_t) n : 0;
    }
    free(line);
    return sent;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Asks, calling idle while it waits; the bytes of an "ok" answer as a
   frame, or NULL. */
static zframe_t *s_ask(fx_test_pickler_t *self, const char *op, const void *data, size_t len)
{
    if (!s_request(self, op, data, len))
        return NULL;
    size_t cap = 4096, size = 0;
    char *answer = malloc(cap);
    int64_t deadline = s_now_ms() + self->wait_ms;
    while (answer && (size == 0 || answer[size - 1] != '\n') && s_now_ms() < deadline) {
        if (self->idle)
            self->idle(self->arg);
        struct pollfd p = {self->out, POLLIN, 0};
        if (poll(&p, 1, 20) != 1)
            continue;
        if (cap - size < 2) {
            char *bigger = realloc(answer, cap * 2);
            if (!bigger)
                break;
            answer = bigger;
            cap *= 2;
        }
        ssize_t n = read(self->out, answer + size, cap - size - 1);
        if (n <= 0)
            break;
        size += (size_t) n;
    }
    zframe_t *frame = NULL;
    if (answer && size > 3 && answer[size - 1] == '\n' && strncmp(answer, "ok ", 3) == 0)
        frame = s_unhex(answer + 3, (size - 4) / 2);
    else if (answer)
        fprintf(stderr, "pickler: no answer to %s (%zu bytes read)\n", op, size);
    free(answer);
    return frame;
}

zframe_t *fx_test_pickler_pickle(fx_test_pickler_t *self, const char *expr)
{
    return s_ask(self, "pickle", expr, strlen(expr));
}

char *fx_test_pickler_repr(fx_test_pickler_t *self, zframe_t *frame)
{
    zframe_t *text =
        s_ask(self, "repr", frame ? zframe_data(frame) : (byte *) "", frame ? zframe_size(frame) : 0);
    char *repr = text ? zframe_strdup(text) : strdup("<repr failed>");
    zframe_destroy(&text);
    return repr;
}
