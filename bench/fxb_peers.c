/*  fxb_peers.c: fx beside the Python systems it should leave behind, in
    one interleaved series (per run: fx, then Dask, then Celery): sequential
    round trips and a map of N no-ops (N: the first of --tasks), with the
    same number of worker processes as fx (managers x workers), reported
    also as ratios to fx. Dask needs Debian's python3-distributed; Celery
    needs python3-celery, python3-redis and redis-server. The bench
    installs nothing: it says which apt-get command would, and skips. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fxb_fed.h"
#include "fxb_scen.h"

#define S_SYSTEMS 3

typedef struct {
    const char *name;
    const char *script;          /* NULL: fx itself */
    const char *packages;        /* Debian packages it needs */
    bool present;
} s_system_t;

/* True if every Debian package in the blank-separated list is installed. */
static bool s_installed(const char *packages)
{
    char copy[256], *save = NULL;
    snprintf(copy, sizeof copy, "%s", packages);
    for (char *p = strtok_r(copy, " ", &save); p; p = strtok_r(NULL, " ", &save)) {
        char cmd[320];
        snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${Status}' %s 2>/dev/null | grep -q 'install ok installed'", p);
        if (system(cmd) != 0)
            return false;
    }
    return true;
}

/* Per system, kind: round-trip p50 and p99 (us) and map rate, per run. */
typedef struct {
    double p50[FXB_RUNS_MAX], p99[FXB_RUNS_MAX], rate[FXB_RUNS_MAX];
} s_fig_t;

/* Latency and map of every kind on one system's driver. 0 or -1. */
static int s_measure(const fxb_opts_t *o, fxb_driver_t *drv, const char *sys, int run, s_fig_t *fig)
{
    const char *kinds[2];
    int nk = fxb_kinds(o, kinds);
    for (int k = 0; k < nk; k++) {
        long n = (long) fxb_kind_tasks(o, kinds[k])->v[0];
        fxb_samples_t s = {0}, t = {0};
        fxb_progress("peers: run %d/%d: %s %s: %d round trips, map of %ld", run + 1, o->runs, sys, kinds[k], o->count, n);
        int rc = fxb_driver_cmd(drv, NULL, "warm %s %d", kinds[k], 5 * o->managers * o->workers);
        if (rc == 0)
            rc = fxb_driver_cmd(drv, &s, "latency %s %d", kinds[k], o->count);
        if (rc == 0)
            rc = fxb_driver_cmd(drv, &t, "map %s %ld", kinds[k], n);
        if (rc == 0 && t.count == 1) {
            fig[k].p50[run] = fxb_percentile(&s, 50);
            fig[k].p99[run] = fxb_percentile(&s, 99);
            fig[k].rate[run] = (double) n / t.v[0];
        }
        fxb_samples_free(&s);
        fxb_samples_free(&t);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static fxb_driver_t *s_peer_driver(const fxb_opts_t *o, const s_system_t *sys)
{
    char script[PATH_MAX + 64], pypath[PATH_MAX + 32], workers[16], err[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/%s", o->src_dir, sys->script);
    snprintf(pypath, sizeof pypath, "PYTHONPATH=%s", o->src_dir);
    snprintf(workers, sizeof workers, "%d", o->managers * o->workers);
    snprintf(err, sizeof err, "%s/peers-%s.log", o->out_dir, sys->name);
    char *argv[] = {FXB_PYTHON, script, "--workers", workers, NULL};
    char *env[] = {pypath, NULL};
    return fxb_driver_start(argv, env, err, 120);
}

int fxb_peers(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    s_system_t sys[S_SYSTEMS] = {
        {"fx", NULL, "", true},
        {"dask", "fxb_peer_dask.py", "python3-distributed", false},
        {"celery", "fxb_peer_celery.py", "python3-celery python3-redis redis-server", false},
    };
    int present = 0;
    for (int i = 1; i < S_SYSTEMS; i++) {
        sys[i].present = s_installed(sys[i].packages);
        present += sys[i].present;
        if (!sys[i].present)
            printf("peers: %s is not installed: skipped (apt-get install %s)\n", sys[i].name, sys[i].packages);
    }
    if (!present) {
        printf("peers: nothing to compare with\n\n");
        return 0;
    }
    if (!fxb_floor_need(ctx))
        return 1;
    static s_fig_t fig[S_SYSTEMS][2];
    memset(fig, 0, sizeof fig);
    for (int r = 0; r < o->runs; r++)
        for (int i = 0; i < S_SYSTEMS; i++) {
            if (!sys[i].present)
                continue;
            fxb_driver_t *drv = NULL;
            fxb_fed_t *fed = NULL;
            if (sys[i].script)
                drv = s_peer_driver(o, &sys[i]);
            else
                fed = fxb_fed_up(o, NULL, NULL, &drv);
            int rc = drv ? s_measure(o, drv, sys[i].name, r, fig[i]) : -1;
            fxb_driver_destroy(&drv);
            fxb_fed_destroy(&fed);
            if (rc != 0)
                return 1;
        }

    fxb_report_t *rep = fxb_report_new("peers");
    const char *kinds[2];
    int nk = fxb_kinds(o, kinds);
    char rtt_name[160], pipe_name[160];
    double rtt = fxb_floor_value(ctx, FXB_FLOOR_RTT_SYNC, "p50", rtt_name, sizeof rtt_name);
    double pipe = fxb_floor_value(ctx, FXB_FLOOR_PIPE, "window 256", pipe_name, sizeof pipe_name);
    for (int k = 0; k < nk; k++)
        for (int i = 0; i < S_SYSTEMS; i++) {
            if (!sys[i].present)
                continue;
            char name[64], metric[48];
            snprintf(name, sizeof name, "%s %s no-op", sys[i].name, kinds[k]);
            s_fig_t *f = &fig[i][k], *fx = &fig[0][k];
            fxb_report_add(rep, name, "rtt p50", "us", f->p50, o->runs, rtt_name, rtt);
            fxb_report_add(rep, name, "rtt p99", "us", f->p99, o->runs, NULL, 0);
            snprintf(metric, sizeof metric, "map %.0f tasks/s", fxb_kind_tasks(o, kinds[k])->v[0]);
            fxb_report_add(rep, name, metric, "tasks/s", f->rate, o->runs, pipe_name, pipe);
            if (i == 0)
                continue;
            double q[3][FXB_RUNS_MAX];   /* per run, this run's fx figure as the base */
            for (int r = 0; r < o->runs; r++) {
                q[0][r] = f->p50[r] / fx->p50[r];
                q[1][r] = f->p99[r] / fx->p99[r];
                q[2][r] = f->rate[r] / fx->rate[r];
            }
            fxb_report_add(rep, name, "rtt p50 / fx", "ratio", q[0], o->runs, NULL, 0);
            fxb_report_add(rep, name, "rtt p99 / fx", "ratio", q[1], o->runs, NULL, 0);
            fxb_report_add(rep, name, "tasks/s / fx", "ratio", q[2], o->runs, NULL, 0);
        }
    fxb_report_note(rep, "interleaved per run: fx, dask, celery; %d worker processes each (fx: --managers %d "
                         "--workers %d at the endpoint's defaults); %d sequential round trips; map = "
                         "Executor.map (fx), Client.map + gather (dask), delay() each then get() (celery)",
                    o->managers * o->workers, o->managers, o->workers, o->count);
    fxb_report_note(rep, "dask and celery run sh as a Python task calling subprocess.run(['true']); neither "
                         "encrypts nor writes anything durably; fx: CurveZMQ on every hop, sqlite with fsync");
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);
    return 0;
}
