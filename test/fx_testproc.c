/*  fx_testproc.c: see include/fx_testproc.h. */
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

char *fx_test_python(const char *python, const char *script, const char *input)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return NULL;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return NULL;
    }
    char *argv[] = { (char *) python, "-c", (char *) script, NULL };
    pid_t pid = fx_test_spawn(argv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    size_t len = strlen(input), done = 0;
    while (done < len) {
        ssize_t n = write(in[1], input + done, len - done);
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    close(in[1]);
    size_t cap = 4096, size = 0;
    char *text = malloc(cap);
    ssize_t n;
    while (text && (n = read(out[0], text + size, cap - size - 1)) > 0) {
        size += (size_t) n;
        if (cap - size < 2) {
            char *bigger = realloc(text, cap * 2);
            if (!bigger) {
                free(text);
                text = NULL;
                break;
            }
            text = bigger;
            cap *= 2;
        }
    }
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (text)
        text[size] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

zframe_t *fx_test_pickle(const char *python, const char *expr)
{
    char *hex = fx_test_python(
        python, "import pickle,sys; sys.stdout.write(pickle.dumps(eval(sys.stdin.read())).hex())", expr);
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

char *fx_test_repr(const char *python, zframe_t *frame)
{
    size_t len = frame ? zframe_size(frame) : 0;
    char *hex = malloc(2 * len + 1);
    if (!hex)
        return NULL;
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 * i, "%02x", zframe_data(frame)[i]);
    hex[2 * len] = '\0';
    char *text = fx_test_python(python,
                                "import pickle,sys; d=bytes.fromhex(sys.stdin.read()); "
                                "sys.stdout.write(repr(pickle.loads(d)) if d else '<empty>')",
                                hex);
    free(hex);
    return text ? text : strdup("<repr failed>");
}
