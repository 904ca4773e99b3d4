/*  fx_cli_home.c: where fx keeps things on this machine, and what an
    endpoint's folder says about its process.

    $FX_HOME (default ~/.fx) holds `credentials` and `endpoints/NAME/`, one
    folder per endpoint: config.yaml (from `fx endpoint configure`), and
    what fx-endpoint writes there (interchange/README.md, "For fx
    endpoint"): endpoint.conf (id, name), endpoint.pid, endpoint.lock (an
    flock held while it runs), endpoint.stats, endpoint.log, managers.pids.
    Reading them never changes them: the lock is looked up in /proc/locks,
    never taken, so `fx endpoint list` cannot make a starting endpoint
    believe another one holds its folder. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fx_cli.h"

int fx_cli_home(char *out, size_t cap)
{
    const char *home = getenv("FX_HOME");
    if (home && *home)
        return snprintf(out, cap, "%s", home) < (int) cap ? 0 : -1;
    home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return -1;
    return snprintf(out, cap, "%s/.fx", home) < (int) cap ? 0 : -1;
}

const char *fx_cli_creds_path(const char *given, char *buf, size_t cap)
{
    if (given != NULL)
        return given;
    const char *env = getenv("FX_CREDS");
    if (env != NULL && env[0] != '\0')
        return env;
    char home[PATH_MAX];
    if (fx_cli_home(home, sizeof home) != 0)
        snprintf(home, sizeof home, ".fx");
    snprintf(buf, cap, "%s/credentials", home);
    return buf;
}

bool fx_cli_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 64 || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
            return false;
    return true;
}

void fx_cli_handle(const fx_cli_args_t *args, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", name, args->dir ? " --dir " : "", args->dir ? args->dir : "");
}

int fx_cli_path(char *out, size_t cap, const char *dir, const char *file)
{
    return snprintf(out, cap, "%s/%s", dir, file) < (int) cap ? 0 : -1;
}

int fx_cli_endpoint_dir(const fx_cli_args_t *args, const char *name, char *out, size_t cap)
{
    if (args->dir) {
        if (snprintf(out, cap, "%s", args->dir) >= (int) cap) {
            fx_cli_fail("--dir %s is too long a path", args->dir);
            return -1;
        }
        return 0;
    }
    if (!fx_cli_name_ok(name)) {
        fx_cli_fail("'%s' is not an endpoint name: use 1 to 64 letters, digits, '.', '_' or '-', "
                    "not starting with '.' or '-'",
                    name);
        return -1;
    }
    char home[PATH_MAX];
    if (fx_cli_home(home, sizeof home) != 0) {
        fx_cli_fail("cannot tell where your home folder is: set $FX_HOME (or $HOME), or pass --dir");
        return -1;
    }
    if (snprintf(out, cap, "%s/endpoints/%s", home, name) >= (int) cap) {
        fx_cli_fail("%s/endpoints/%s is too long a path; set a shorter $FX_HOME", home, name);
        return -1;
    }
    return 0;
}

int fx_cli_endpoint_find(const fx_cli_args_t *args, const char *name, char *out, size_t cap)
{
    if (fx_cli_endpoint_dir(args, name, out, cap) != 0)
        return -1;
    char config[PATH_MAX];
    struct stat st;
    if (fx_cli_path(config, sizeof config, out, "config.yaml") == 0 && stat(config, &st) == 0)
        return 0;
    if (args->dir)
        fx_cli_fail("no endpoint in %s (it has no config.yaml): run `fx endpoint configure %s --dir %s`", out,
                    name, out);
    else
        fx_cli_fail("no endpoint named %s (no %s): run `fx endpoint configure %s`", name, config, name);
    return -1;
}

/* /proc/PID/stat's state letter, or 0 if there is no such process. */
static char s_proc_state(pid_t pid)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *paren = strrchr(text, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

bool fx_cli_endpoint_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    char state = s_proc_state(pid);
    if (state == 0 || state == 'Z' || state == 'X')
        return false;
    char path[64], argv0[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(argv0, 1, sizeof argv0 - 1, f);
    fclose(f);
    argv0[n] = '\0'; /* the first NUL ends argv[0] */
    const char *base = strrchr(argv0, '/');
    return strcmp(base ? base + 1 : argv0, "fx-endpoint") == 0;
}

/* The first whole number in the file, or 0. */
static pid_t s_read_pid(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (fx_file_read(path, 64, &text, &len) != 0)
        return 0;
    long v = strtol(text, NULL, 10);
    free(text);
    return v > 0 && v < (1L << 30) ? (pid_t) v : 0;
}

/* The pid holding an flock on path, from /proc/locks; 0 if none. */
static pid_t s_lock_holder(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return 0;
    char line[256];
    pid_t holder = 0;
    while (!holder && fgets(line, sizeof line, f)) {
        char kind[16];
        int pid = 0;
        unsigned maj = 0, min = 0;
        unsigned long ino = 0;
        /* "1: FLOCK  ADVISORY  WRITE 17050 fe:00:10954676 0 EOF"; waiters have "->" */
        if (strstr(line, "->"))
            continue;
        if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%lu", kind, &pid, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && ino == (unsigned long) st.st_ino && maj == major(st.st_dev) &&
            min == minor(st.st_dev))
            holder = pid;
    }
    fclose(f);
    return holder;
}

/* Live pids among those listed in path, one a line. */
static int s_count_alive(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (fx_file_read(path, 1 << 20, &text, &len) != 0)
        return 0;
    int alive = 0;
    for (char *p = text; *p;) {
        long pid = strtol(p, &p, 10);
        if (pid > 0 && (kill((pid_t) pid, 0) == 0 || errno == EPERM)) {
            char state = s_proc_state((pid_t) pid);
            alive += state != 0 && state != 'Z';
        }
        while (*p && !isdigit((unsigned char) *p))
            p++;
    }
    free(text);
    return alive;
}

void fx_cli_endpoint_state(const char *dir, fx_cli_endpoint_state_t *st)
{
    memset(st, 0, sizeof *st);
    char path[PATH_MAX];
    if (fx_cli_path(path, sizeof path, dir, "endpoint.conf") == 0) {
        fx_kv_t kv;
        char err[256];
        if (fx_kv_load(path, &kv, err, sizeof err) == 0) {
            const char *id = fx_kv_get(&kv, "endpoint_id");
            const char *name = fx_kv_get(&kv, "name");
            if (id && fx_id_valid(id))
                fx_strlcpy(st->id, id, sizeof st->id);
            if (name)
                fx_strlcpy(st->name, name, sizeof st->name);
        }
    }
    pid_t pid = fx_cli_path(path, sizeof path, dir, "endpoint.pid") == 0 ? s_read_pid(path) : 0;
    if (fx_cli_endpoint_alive(pid))
        st->pid = pid;
    else {
        st->stale_pid = pid;
        /* started without a pid file (by hand): the lock still tells */
        pid_t holder = fx_cli_path(path, sizeof path, dir, "endpoint.lock") == 0 ? s_lock_holder(path) : 0;
        if (fx_cli_endpoint_alive(holder))
            st->pid = holder;
    }
    if (st->pid > 0)
        st->stale_pid = 0;
    else if (fx_cli_path(path, sizeof path, dir, "managers.pids") == 0)
        st->managers_alive = s_count_alive(path);
}

void fx_cli_endpoint_program(char *out, size_t cap)
{
    char dir[PATH_MAX];
    if (fx_self_dir(dir, sizeof dir) == 0 && fx_cli_path(out, cap, dir, "fx-endpoint") == 0 &&
        access(out, X_OK) == 0)
        return;
    snprintf(out, cap, "fx-endpoint");
}
