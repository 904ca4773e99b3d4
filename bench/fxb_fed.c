/*  fxb_fed.c: a local federation (broker, user, endpoint with managers)
    started and stopped by pid, and the CPU time of its processes. */
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_file.h"
#include "fxb_fed.h"

#define S_ARGS_MAX 64
#define S_MANAGERS_MAX 256
#define S_WORKERS_MAX 4096

const char *const fxb_kind_name[FXB_KINDS] = {"broker", "endpoint", "manager", "worker", "client"};

struct fxb_fed_s {
    const fxb_opts_t *opts;
    char root[PATH_MAX];
    pid_t broker, endpoint;
    char client_addr[256], endpoint_addr[256];
    char endpoint_id[64];
    pid_t managers[S_MANAGERS_MAX];   /* every manager seen, to kill leftovers by pid */
    int manager_count;
};

fxb_fed_t *fxb_fed_new(const fxb_opts_t *opts)
{
    fxb_fed_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->opts = opts;
    if (snprintf(self->root, sizeof self->root, "%s/fed-XXXXXX", opts->state_dir) >= (int) sizeof self->root ||
        fx_file_mkdirs(opts->state_dir, 0700) != 0 || !mkdtemp(self->root)) {
        fxb_progress("cannot make a folder in %s", opts->state_dir);
        free(self);
        return NULL;
    }
    return self;
}

/* The value after "key=" in line, up to a blank. */
static void s_word_after(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = strstr(line, key);
    out[0] = 0;
    if (p)
        snprintf(out, cap, "%.*s", (int) strcspn(p + strlen(key), " \n"), p + strlen(key));
}

static void s_path(const fxb_fed_t *self, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", self->root, name);
}

/* The tail of a process's log, when it failed to start. */
static void s_show_log(const fxb_fed_t *self, const char *name)
{
    char path[PATH_MAX + 64], *data = NULL;
    size_t len = 0;
    s_path(self, path, sizeof path, name);
    if (fx_file_read(path, 1 << 22, &data, &len) == 0) {
        fprintf(stderr, "---- %s (tail) ----\n%s\n----\n", path, len > 3000 ? data + len - 3000 : data);
        free(data);
    }
}

int fxb_fed_start_broker(fxb_fed_t *self, char *const extra[])
{
    char bin[PATH_MAX + 16], state[PATH_MAX + 16], out[PATH_MAX + 16], log[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/fx-broker", self->opts->bin_dir);
    s_path(self, state, sizeof state, "broker");
    s_path(self, out, sizeof out, "broker.out");
    s_path(self, log, sizeof log, "broker.log");
    char *argv[S_ARGS_MAX] = {bin, "--state", state, "--client-bind", "tcp://127.0.0.1:0", "--endpoint-bind",
                              "tcp://127.0.0.1:0"};
    int n = 7;
    for (int i = 0; extra && extra[i] && n < S_ARGS_MAX - 1; i++)
        argv[n++] = extra[i];
    self->broker = fxb_spawn(argv, out, log);
    char line[1024];
    if (self->broker < 0 || fxb_wait_line(out, "fx-broker: ready", line, sizeof line, self->broker, 30) != 0) {
        fxb_progress("fx-broker did not start");
        s_show_log(self, "broker.log");
        return -1;
    }
    s_word_after(line, "client=", self->client_addr, sizeof self->client_addr);
    s_word_after(line, "endpoint=", self->endpoint_addr, sizeof self->endpoint_addr);
    return self->client_addr[0] && self->endpoint_addr[0] ? 0 : -1;
}

int fxb_fed_add_user(fxb_fed_t *self, const char *name, char *creds, size_t cap)
{
    char bin[PATH_MAX + 16], state[PATH_MAX + 16], out[PATH_MAX + 16], log[PATH_MAX + 16], file[64];
    snprintf(bin, sizeof bin, "%s/fx", self->opts->bin_dir);
    s_path(self, state, sizeof state, "broker");
    s_path(self, out, sizeof out, "user.out");
    s_path(self, log, sizeof log, "user.log");
    snprintf(file, sizeof file, "%s.creds", name);
    s_path(self, creds, cap, file);
    char *argv[] = {bin, "user", "create", (char *) name, "--state", state, "--out", creds,
                    "--client-addr", self->client_addr, "--endpoint-addr", self->endpoint_addr, NULL};
    pid_t pid = fxb_spawn(argv, out, log);
    int status = fxb_reap(pid, 60);
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || access(creds, R_OK) != 0) {
        fxb_progress("fx user create %s failed", name);
        s_show_log(self, "user.log");
        return -1;
    }
    return 0;
}

/* Records the endpoint's managers; returns how many live ones it has. */
static int s_scan_managers(fxb_fed_t *self)
{
    pid_t found[S_MANAGERS_MAX];
    int n = fxb_children(self->endpoint, "fx-manager", found, S_MANAGERS_MAX);
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < self->manager_count && self->managers[k] != found[i])
            k++;
        if (k == self->manager_count && self->manager_count < S_MANAGERS_MAX)
            self->managers[self->manager_count++] = found[i];
    }
    return n;
}

/* Live workers of the endpoint's managers. */
static int s_workers(fxb_fed_t *self, pid_t *out, int cap)
{
    int n = 0;
    pid_t mgr[S_MANAGERS_MAX];
    int m = fxb_children(self->endpoint, "fx-manager", mgr, S_MANAGERS_MAX);
    for (int i = 0; i < m && n < cap; i++)
        n += fxb_children(mgr[i], "fx-worker", out + n, cap - n);
    return n;
}

int fxb_fed_start_endpoint(fxb_fed_t *self, const char *creds, const char *args)
{
    const fxb_opts_t *o = self->opts;
    char bin[PATH_MAX + 16], dir[PATH_MAX + 16], out[PATH_MAX + 16], log[PATH_MAX + 16];
    char managers[16], workers[16], copy[1024];
    snprintf(bin, sizeof bin, "%s/fx-endpoint", o->bin_dir);
    s_path(self, dir, sizeof dir, "endpoint");
    s_path(self, out, sizeof out, "endpoint.out");
    s_path(self, log, sizeof log, "endpoint.log");
    snprintf(managers, sizeof managers, "%d", o->managers);
    snprintf(workers, sizeof workers, "%d", o->workers);
    char *argv[S_ARGS_MAX] = {bin, "--creds", (char *) creds, "--dir", dir, "--name", "bench",
                              "--managers", managers, "--workers", workers};
    int n = 11;
    snprintf(copy, sizeof copy, "%s", args ? args : "");
    char *save = NULL;
    for (char *t = strtok_r(copy, " \t", &save); t && n < S_ARGS_MAX - 1; t = strtok_r(NULL, " \t", &save))
        argv[n++] = t;
    self->endpoint = fxb_spawn(argv, out, log);
    char line[1024];
    if (self->endpoint < 0 ||
        fxb_wait_line(out, "fx-endpoint: ready", line, sizeof line, self->endpoint, 60) != 0) {
        fxb_progress("fx-endpoint did not start");
        s_show_log(self, "endpoint.log");
        return -1;
    }
    s_word_after(line, "endpoint_id=", self->endpoint_id, sizeof self->endpoint_id);
    /* managers and their workers up, so that start-up is not measured */
    double deadline = fxb_now() + 30;
    pid_t w[S_WORKERS_MAX];
    while (fxb_now() < deadline &&
           (s_scan_managers(self) < o->managers || s_workers(self, w, S_WORKERS_MAX) < o->managers * o->workers))
        usleep(20000);
    if (s_scan_managers(self) < o->managers)
        fxb_progress("warning: %d of %d managers up after 30 s", s_scan_managers(self), o->managers);
    return self->endpoint_id[0] ? 0 : -1;
}

pid_t fxb_fed_broker_pid(const fxb_fed_t *self) { return self->broker; }
const char *fxb_fed_endpoint_id(const fxb_fed_t *self) { return self->endpoint_id; }
const char *fxb_fed_root(const fxb_fed_t *self) { return self->root; }

void fxb_fed_cpu(fxb_fed_t *self, const fxb_driver_t *client, fxb_cpu_t *out)
{
    memset(out, 0, sizeof *out);
    double v;
    if (self->broker > 0 && (v = fxb_cpu_us(self->broker, false)) > 0)
        out->us[FXB_BROKER] = v;
    if (self->endpoint > 0 && (v = fxb_cpu_us(self->endpoint, false)) > 0)
        out->us[FXB_ENDPOINT] = v;
    pid_t mgr[S_MANAGERS_MAX], wrk[S_WORKERS_MAX];
    int m = self->endpoint > 0 ? fxb_children(self->endpoint, "fx-manager", mgr, S_MANAGERS_MAX) : 0;
    for (int i = 0; i < m; i++) {
        double own = fxb_cpu_us(mgr[i], false), all = fxb_cpu_us(mgr[i], true);
        if (own < 0 || all < 0)
            continue;
        out->us[FXB_MANAGER] += own;
        out->us[FXB_WORKER] += all - own;   /* workers it has reaped */
        int w = fxb_children(mgr[i], "fx-worker", wrk, S_WORKERS_MAX);
        for (int k = 0; k < w; k++)
            if ((v = fxb_cpu_us(wrk[k], true)) > 0)
                out->us[FXB_WORKER] += v;
    }
    if (client && (v = fxb_cpu_us(fxb_driver_pid(client), true)) > 0)
        out->us[FXB_CLIENT] = v;
}

fxb_driver_t *fxb_fed_driver(fxb_fed_t *self, const char *creds)
{
    const fxb_opts_t *o = self->opts;
    char script[PATH_MAX + 32], pypath[2 * PATH_MAX + 32], err[PATH_MAX + 16];
    snprintf(script, sizeof script, "%s/fxb_fx_driver.py", o->src_dir);
    snprintf(pypath, sizeof pypath, "PYTHONPATH=%s/python:%s", o->build_dir, o->src_dir);
    s_path(self, err, sizeof err, "driver.log");
    char *argv[] = {FXB_PYTHON, script, "--creds", (char *) creds, "--endpoint", self->endpoint_id, NULL};
    char *env[] = {pypath, NULL};
    return fxb_driver_start(argv, env, err, 60);
}

fxb_fed_t *fxb_fed_up(const fxb_opts_t *opts, char *const extra[], const char *endpoint_args,
                      fxb_driver_t **driver_p)
{
    fxb_fed_t *self = fxb_fed_new(opts);
    char creds[PATH_MAX + 64];
    *driver_p = NULL;
    if (!self || fxb_fed_start_broker(self, extra) != 0 || fxb_fed_add_user(self, "bench", creds, sizeof creds) != 0 ||
        fxb_fed_start_endpoint(self, creds, endpoint_args) != 0 || !(*driver_p = fxb_fed_driver(self, creds))) {
        fxb_fed_destroy(&self);
        return NULL;
    }
    /* every worker has run each kind before anything is timed */
    int warm = 5 * opts->managers * opts->workers;
    const char *kinds[2];
    int nk = fxb_kinds(opts, kinds);
    for (int i = 0; i < nk; i++) {
        if (fxb_driver_cmd(*driver_p, NULL, "warm %s %d", kinds[i], warm) != 0) {
            fxb_driver_destroy(driver_p);
            fxb_fed_destroy(&self);
            return NULL;
        }
    }
    return self;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    return remove(path);
}

void fxb_fed_destroy(fxb_fed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fxb_fed_t *self = *self_p;
    if (self->endpoint > 0) {
        s_scan_managers(self);
        fxb_stop(self->endpoint, 20);
    }
    if (self->broker > 0)
        fxb_stop(self->broker, 20);
    /* managers stop on their endpoint's STOP and take their workers along;
       whatever is left after a bounded wait is killed by pid */
    double deadline = fxb_now() + 10;
    for (int i = 0; i < self->manager_count; i++) {
        while (kill(self->managers[i], 0) == 0 && fxb_now() < deadline)
            usleep(20000);
        pid_t w[S_WORKERS_MAX];
        int n = fxb_children(self->managers[i], "fx-worker", w, S_WORKERS_MAX);
        for (int k = 0; k < n; k++)
            fxb_kill_if(w[k], "fx-worker");
        fxb_kill_if(self->managers[i], "fx-manager");
    }
    nftw(self->root, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    free(self);
    *self_p = NULL;
}
