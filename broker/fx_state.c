/*  fx_state.c: the broker's state directory: its lock and the broker's
    keypair file (fx_state.h). */
#include "fx_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_file.h"

/* mkdir -p state_dir (0700) and the path of one of its files. 0 or -1. */
static int s_path(const char *state_dir, const char *file, char *path, size_t cap, char *err, size_t errlen)
{
    if (!state_dir || !*state_dir || fx_file_mkdirs(state_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create the state directory %s: %s: give another --state",
                 state_dir ? state_dir : "", strerror(errno));
        return -1;
    }
    if (snprintf(path, cap, "%s/%s", state_dir, file) >= (int) cap) {
        snprintf(err, errlen, "the state directory path %s is too long: give a shorter --state", state_dir);
        return -1;
    }
    return 0;
}

/* Who holds the lock on fd: its pid, or 0 if that cannot be told. */
static long s_holder(int fd)
{
    struct flock probe = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK)
        return (long) probe.l_pid;
    return 0;
}

int fx_state_lock(const char *state_dir, char *err, size_t errlen)
{
    char path[4200];
    if (s_path(state_dir, FX_STATE_LOCK_FILE, path, sizeof path, err, errlen) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s: check that the --state directory is writable", path,
                 strerror(errno));
        return -1;
    }
    struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &lock) != 0) {
        int why = errno;
        long pid = why == EACCES || why == EAGAIN ? s_holder(fd) : 0;
        if (pid > 0)
            snprintf(err, errlen,
                     "the state directory %s is in use by another fx-broker (pid %ld holds %s): stop it "
                     "first, or give another --state",
                     state_dir, pid, path);
        else
            snprintf(err, errlen, "cannot lock %s: %s: is another fx-broker serving --state %s?", path,
                     strerror(why), state_dir);
        close(fd);
        return -1;
    }
    /* The lock is what counts; the pid in the file is for people, so a
       failed write changes nothing. */
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    bool noted = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t) len, 0) == len;
    (void) noted;
    return fd;
}

int fx_state_keypair(const char *state_dir, fx_keypair_t *kp, char *err, size_t errlen)
{
    char path[4200];
    if (s_path(state_dir, FX_STATE_KEY_FILE, path, sizeof path, err, errlen) != 0)
        return -1;
    return fx_keypair_load(path, kp, true, err, errlen);
}
