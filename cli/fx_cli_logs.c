/*  fx_cli_logs.c: `fx endpoint logs NAME [-n N] [-f]`: DIR/endpoint.log
    (the endpoint's lines and those of the managers and workers it
    starts, appended), all of it or its last N lines; with -f, then what
    is appended, as tail -f does, until SIGINT or SIGTERM (exit 0). A log
    truncated or replaced meanwhile is read again from its start. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_cli.h"

#define S_FOLLOW_US 200000
#define S_CHUNK 8192

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* The offset of the last `lines` lines of the file (a last line without
   its newline counts as one). */
static off_t s_tail_offset(int fd, off_t size, long lines)
{
    if (lines <= 0)
        return size;
    char buf[S_CHUNK];
    off_t end = size;
    long seen = 0;
    bool first = true;
    while (end > 0) {
        size_t n = end > S_CHUNK ? S_CHUNK : (size_t) end;
        off_t at = end - (off_t) n;
        if (pread(fd, buf, n, at) != (ssize_t) n)
            return 0;
        for (size_t i = n; i-- > 0;) {
            if (first) { /* the file's last byte: a newline there ends the last line */
                first = false;
                if (buf[i] == '\n')
                    continue;
            }
            if (buf[i] == '\n' && ++seen == lines)
                return at + (off_t) i + 1;
        }
        end = at;
    }
    return 0;
}

/* Copy fd from *pos to its end onto stdout; false if stdout failed. */
static bool s_copy(int fd, off_t *pos)
{
    char buf[S_CHUNK];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, *pos)) > 0) {
        if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
            return false;
        *pos += n;
    }
    return fflush(stdout) == 0;
}

/* Until a signal: print what is appended; reopen a replaced file. */
static int s_follow(const char *path, int fd, off_t pos)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!s_stop) {
        struct stat now = {0}, named;
        if (fd >= 0 && fstat(fd, &now) == 0 && now.st_size < pos) {
            fprintf(stderr, "fx: %s was truncated; reading it from the start\n", path);
            pos = 0;
        }
        if (stat(path, &named) == 0 && (fd < 0 || named.st_ino != now.st_ino || named.st_dev != now.st_dev)) {
            if (fd >= 0 && !s_copy(fd, &pos)) /* what the old file still had */
                return FX_CLI_FAILED;
            if (fd >= 0)
                close(fd);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            pos = 0;
        }
        if (fd >= 0 && !s_copy(fd, &pos))
            return FX_CLI_FAILED;
        usleep(S_FOLLOW_US);
    }
    if (fd >= 0)
        close(fd);
    return FX_CLI_OK;
}

int fx_cli_endpoint_logs(const fx_cli_args_t *args)
{
    const char *name = args->argv[0];
    char dir[PATH_MAX], path[PATH_MAX], handle[PATH_MAX + 200];
    if (fx_cli_endpoint_dir(args, name, dir, sizeof dir) != 0 ||
        fx_cli_path(path, sizeof path, dir, "endpoint.log") != 0)
        return FX_CLI_FAILED;
    fx_cli_handle(args, name, handle, sizeof handle);
    struct stat st;
    if (stat(dir, &st) != 0) {
        fx_cli_fail("no endpoint named %s (no folder %s): run `fx endpoint configure %s`", name, dir, handle);
        return FX_CLI_FAILED;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno != ENOENT || !args->follow)) {
        if (errno == ENOENT)
            fx_cli_fail("endpoint %s has no log yet (%s): `fx endpoint start %s --detach` writes it; in the "
                        "foreground the endpoint logs to its terminal",
                        name, path, handle);
        else
            fx_cli_fail("cannot read %s: %s", path, strerror(errno));
        return FX_CLI_FAILED;
    }
    off_t pos = 0;
    if (fd >= 0 && fstat(fd, &st) == 0)
        pos = args->lines >= 0 ? s_tail_offset(fd, st.st_size, args->lines) : 0;
    if (fd >= 0 && !s_copy(fd, &pos)) {
        close(fd);
        return FX_CLI_FAILED;
    }
    if (!args->follow) {
        close(fd);
        return FX_CLI_OK;
    }
    if (fd < 0)
        fprintf(stderr, "fx: %s does not exist yet; waiting for it (Ctrl-C ends)\n", path);
    return s_follow(path, fd, pos);
}
