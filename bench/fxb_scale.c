/*  fxb_scale.c: the broker and the interchange driving 1,000 to 130,000
    worker slots. The slots are SIMULATED: `fx-manager --simulate N --slots
    S` runs N managers in one process, each speaking the real manager link
    over its own CurveZMQ socket and answering every task at once without
    starting a worker, so the client, the broker, the forwarder and the
    interchange above them are the real ones under the load of that many
    managers. Per point: the time for the managers to connect, the idle
    cost of their heartbeats (CPU of broker + endpoint, and of the
    simulator, over --seconds with nothing to do), a batch of tasks through
    everything (tasks/s, CPU us per task of broker and endpoint), and the
    resident memory of broker and endpoint, per manager and per slot. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fx_creds.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fxb_fed.h"
#include "fxb_scen.h"

#define S_POINTS FXB_LIST_MAX
#define S_SIM_MAX 8192   /* managers one simulator process runs (fx-manager --simulate) */

/* What one run of one point measured. */
typedef struct {
    double connect_s;        /* simulator start to every slot known to the endpoint */
    double idle_core_pct;    /* broker + endpoint CPU while idle, % of one core */
    double idle_sim_pct;     /* the simulator's, % of one core */
    double rate;             /* tasks/s, first submit to last result */
    double cpu_broker, cpu_endpoint, cpu_sim;   /* us per task */
    double rss_broker_mib, rss_endpoint_mib;    /* after the batch */
    double endpoint_kib_per_manager;            /* endpoint RSS growth from 0 managers, per manager */
} s_run_t;

typedef struct {
    int slots, managers, per_manager;
    s_run_t run[FXB_RUNS_MAX];
} s_point_t;

/* Lets the simulator and the endpoint hold a socket per manager. */
static void s_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* One value of the endpoint's stats file (rewritten every second); -1 if
   the file or the key is not there yet. */
static long long s_stat(const char *path, const char *key)
{
    char *text = NULL, needle[96];
    size_t len = 0;
    if (fx_file_read(path, 1 << 16, &text, &len) != 0)
        return -1;
    snprintf(needle, sizeof needle, "\n%s=", key);
    const char *at = strstr(text, needle);
    long long n = at ? atoll(at + strlen(needle)) : -1;
    free(text);
    return n;
}

/* The manager port and the endpoint's public key, as its managers get them. */
static int s_manager_link(const fxb_fed_t *fed, char *addr, size_t addr_cap, char *key, size_t key_cap)
{
    char path[PATH_MAX + 64], err[256];
    fx_kv_t kv = {0};
    snprintf(path, sizeof path, "%s/endpoint/endpoint.conf", fxb_fed_root(fed));
    if (fx_kv_load(path, &kv, err, sizeof err) != 0) {
        fxb_progress("scale: %s", err);
        return -1;
    }
    const char *bind = fx_kv_get(&kv, "manager_bind");
    snprintf(addr, addr_cap, "%s", bind ? bind : "");
    fx_keypair_t kp;
    snprintf(path, sizeof path, "%s/endpoint/endpoint.key", fxb_fed_root(fed));
    if (!addr[0] || fx_keypair_load(path, &kp, false, err, sizeof err) != 0) {
        fxb_progress("scale: no manager port or endpoint key in %s/endpoint: %s", fxb_fed_root(fed), err);
        return -1;
    }
    snprintf(key, key_cap, "%s", kp.public_key);
    return 0;
}

/* Starts the simulators for pt (one process per S_SIM_MAX managers). */
static int s_start_sims(const fxb_opts_t *o, fxb_fed_t *fed, const s_point_t *pt, pid_t *sims, int *nsims)
{
    char addr[256], key[64], bin[PATH_MAX + 16], keyfile[PATH_MAX + 64], out[PATH_MAX + 64], log[PATH_MAX + 64];
    if (s_manager_link(fed, addr, sizeof addr, key, sizeof key) != 0)
        return -1;
    snprintf(bin, sizeof bin, "%s/fx-manager", o->bin_dir);
    snprintf(keyfile, sizeof keyfile, "%s/endpoint/manager.key", fxb_fed_root(fed));
    *nsims = 0;
    for (int left = pt->managers; left > 0; left -= S_SIM_MAX) {
        char n[16], slots[16];
        snprintf(n, sizeof n, "%d", left < S_SIM_MAX ? left : S_SIM_MAX);
        snprintf(slots, sizeof slots, "%d", pt->per_manager);
        snprintf(out, sizeof out, "%s/sim%d.out", fxb_fed_root(fed), *nsims);
        snprintf(log, sizeof log, "%s/sim%d.log", fxb_fed_root(fed), *nsims);
        char *argv[] = {bin, "--simulate", n, "--slots", slots, "--interchange", addr, "--server-key", key,
                        "--key-file", keyfile, "--stats-ms", "0", NULL};
        pid_t pid = fxb_spawn(argv, out, log);
        if (pid < 0)
            return -1;
        fxb_proc_track(pid);
        sims[(*nsims)++] = pid;
    }
    return 0;
}

static double s_sims_cpu(const pid_t *sims, int n)
{
    double us = 0;
    for (int i = 0; i < n; i++) {
        double v = fxb_cpu_us(sims[i], false);
        us += v > 0 ? v : 0;
    }
    return us;
}

/* One run of one point: a fresh federation with no local manager, the
   simulators, the idle period, the batch. 0 or -1. */
static int s_run_point(const fxb_opts_t *base, const s_point_t *pt, long tasks, s_run_t *r)
{
    fxb_opts_t o = *base;
    o.managers = 0;   /* fx-endpoint --managers 0: every manager comes from the simulators */
    o.workers = pt->per_manager;
    char stats[PATH_MAX + 64], args[PATH_MAX + 128];
    fxb_driver_t *drv = NULL;
    fxb_fed_t *fed = fxb_fed_new(&o);
    if (!fed)
        return -1;
    snprintf(stats, sizeof stats, "%s/endpoint.stats", fxb_fed_root(fed));
    snprintf(args, sizeof args, "--stats-file %s", stats);
    char creds[PATH_MAX + 64];
    pid_t sims[S_POINTS] = {0};
    int nsims = 0, rc = -1;
    if (fxb_fed_start_broker(fed, NULL) != 0 || fxb_fed_add_user(fed, "bench", creds, sizeof creds) != 0 ||
        fxb_fed_start_endpoint(fed, creds, args) != 0 || !(drv = fxb_fed_driver(fed, creds)))
        goto done;
    pid_t endpoint = fxb_fed_endpoint_pid(fed);
    long rss0 = fxb_rss_kib(endpoint);

    double t0 = fxb_now();
    if (s_start_sims(&o, fed, pt, sims, &nsims) != 0)
        goto done;
    long long want = (long long) pt->managers * pt->per_manager, have = 0;
    double deadline = t0 + (pt->managers / 20.0 > 60 ? pt->managers / 20.0 : 60), said = t0;
    while ((have = s_stat(stats, "scaling_capacity")) < want && fxb_now() < deadline) {
        if (fxb_now() - said > 5) {
            fxb_progress("scale:   waiting for the simulated managers: %lld of %lld slots known to the endpoint",
                         have < 0 ? 0 : have, want);
            said = fxb_now();
        }
        usleep(50000);
    }
    if (have < want) {
        fxb_progress("scale: only %lld of %lld slots connected after %.0f s", have, want, fxb_now() - t0);
        goto done;
    }
    r->connect_s = fxb_now() - t0;

    /* idle: heartbeats only */
    fxb_cpu_t a, b;
    double sa = s_sims_cpu(sims, nsims), ta = fxb_now();
    fxb_fed_cpu(fed, NULL, &a);
    /* long enough that /proc's 10 ms ticks do not decide the figure */
    double idle_s = o.seconds > 5 ? o.seconds : 5;
    usleep((useconds_t) (idle_s * 1e6));
    fxb_fed_cpu(fed, NULL, &b);
    double wall_us = (fxb_now() - ta) * 1e6, sb = s_sims_cpu(sims, nsims);
    r->idle_core_pct = 100.0 * (b.us[FXB_BROKER] - a.us[FXB_BROKER] + b.us[FXB_ENDPOINT] - a.us[FXB_ENDPOINT]) / wall_us;
    r->idle_sim_pct = 100.0 * (sb - sa) / wall_us;
    long rss1 = fxb_rss_kib(endpoint);
    r->endpoint_kib_per_manager = rss0 > 0 && rss1 > 0 ? (double) (rss1 - rss0) / pt->managers : NAN;

    /* loaded: one batch of tasks through everything */
    fxb_samples_t elapsed = {0};
    fxb_fed_cpu(fed, NULL, &a);
    sa = s_sims_cpu(sims, nsims);
    rc = fxb_driver_cmd(drv, &elapsed, "flood %ld", tasks);
    fxb_fed_cpu(fed, NULL, &b);
    sb = s_sims_cpu(sims, nsims);
    if (rc == 0 && elapsed.count == 1 && elapsed.v[0] > 0) {
        r->rate = (double) tasks / elapsed.v[0];
        r->cpu_broker = (b.us[FXB_BROKER] - a.us[FXB_BROKER]) / (double) tasks;
        r->cpu_endpoint = (b.us[FXB_ENDPOINT] - a.us[FXB_ENDPOINT]) / (double) tasks;
        r->cpu_sim = (sb - sa) / (double) tasks;
        r->rss_broker_mib = fxb_rss_kib(fxb_fed_broker_pid(fed)) / 1024.0;
        r->rss_endpoint_mib = fxb_rss_kib(endpoint) / 1024.0;
        fxb_progress("scale:   %d slots: connected in %.1f s, idle %.2f%% of a core, %.0f tasks/s, RSS broker %.0f "
                     "MiB endpoint %.0f MiB",
                     pt->slots, r->connect_s, r->idle_core_pct, r->rate, r->rss_broker_mib, r->rss_endpoint_mib);
    } else {
        rc = -1;
    }
    fxb_samples_free(&elapsed);
done:
    fxb_driver_destroy(&drv);
    fxb_fed_destroy(&fed);   /* the endpoint's STOP ends the simulated managers' sessions too */
    for (int i = 0; i < nsims; i++)
        fxb_stop(sims[i], 10);
    return rc;
}

/* Column c of every run of a point, as an array for fxb_report_add. */
static void s_column(const s_point_t *pt, int runs, size_t offset, double *out)
{
    for (int r = 0; r < runs; r++)
        out[r] = *(const double *) ((const char *) &pt->run[r] + offset);
}

int fxb_scale(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!fxb_floor_need(ctx))
        return 1;
    s_raise_fd_limit();
    static s_point_t pts[S_POINTS];
    int npts = o->slots.count;
    for (int i = 0; i < npts; i++) {
        s_point_t *pt = &pts[i];
        int want = (int) o->slots.v[i];
        pt->managers = (want + o->slots_per_manager - 1) / o->slots_per_manager;
        pt->per_manager = (want + pt->managers - 1) / pt->managers;
        pt->slots = pt->managers * pt->per_manager;
        long tasks = o->scale_tasks > 2L * pt->slots ? o->scale_tasks : 2L * pt->slots;
        for (int r = 0; r < o->runs; r++) {
            fxb_progress("scale: run %d/%d: %d SIMULATED managers x %d slots = %d slots, %ld tasks", r + 1, o->runs,
                         pt->managers, pt->per_manager, pt->slots, tasks);
            if (s_run_point(o, pt, tasks, &pt->run[r]) != 0)
                return 1;
        }
    }

    fxb_report_t *rep = fxb_report_new("scale");
    char fname[160];
    double fv = fxb_floor_value(ctx, FXB_FLOOR_PIPE, "window 256", fname, sizeof fname);
    static const struct {
        const char *metric, *unit;
        size_t offset;
    } cols[] = {
        {"tasks/s", "tasks/s", offsetof(s_run_t, rate)},
        {"cpu/task broker", "us", offsetof(s_run_t, cpu_broker)},
        {"cpu/task endpoint", "us", offsetof(s_run_t, cpu_endpoint)},
        {"cpu/task simulator", "us", offsetof(s_run_t, cpu_sim)},
        {"connect all managers", "s", offsetof(s_run_t, connect_s)},
        {"idle broker+endpoint", "% core", offsetof(s_run_t, idle_core_pct)},
        {"idle simulator", "% core", offsetof(s_run_t, idle_sim_pct)},
        {"rss broker", "MiB", offsetof(s_run_t, rss_broker_mib)},
        {"rss endpoint", "MiB", offsetof(s_run_t, rss_endpoint_mib)},
        {"endpoint per manager", "KiB", offsetof(s_run_t, endpoint_kib_per_manager)},
    };
    double v[FXB_RUNS_MAX], rows[S_POINTS * 4];
    for (int i = 0; i < npts; i++) {
        char name[64];
        snprintf(name, sizeof name, "%d slots (%d x %d)", pts[i].slots, pts[i].managers, pts[i].per_manager);
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            s_column(&pts[i], o->runs, cols[c].offset, v);
            fxb_report_add(rep, name, cols[c].metric, cols[c].unit, v, o->runs, c == 0 ? fname : NULL, fv);
        }
        rows[i * 4] = pts[i].slots;
        s_column(&pts[i], o->runs, offsetof(s_run_t, rate), v);
        rows[i * 4 + 1] = fxb_median(v, o->runs);
        s_column(&pts[i], o->runs, offsetof(s_run_t, rss_endpoint_mib), v);
        rows[i * 4 + 2] = fxb_median(v, o->runs);
        s_column(&pts[i], o->runs, offsetof(s_run_t, rss_broker_mib), v);
        rows[i * 4 + 3] = fxb_median(v, o->runs);
    }
    if (npts > 1) {
        s_column(&pts[0], o->runs, offsetof(s_run_t, rate), v);
        double first = fxb_median(v, o->runs);
        s_column(&pts[npts - 1], o->runs, offsetof(s_run_t, rate), v);
        double last = fxb_median(v, o->runs);
        fxb_report_note(rep, "rate at %d slots / rate at %d slots = %.2f", pts[npts - 1].slots, pts[0].slots,
                        last / first);
    }
    fxb_report_note(rep, "SIMULATED managers (fx-manager --simulate N --slots S): real CurveZMQ sockets and the real "
                         "manager link, tasks answered at once without a worker; client, broker and interchange are "
                         "real and at their defaults (durable, fdatasync)");
    fxb_report_note(rep, "tasks per point: max(--scale-tasks %ld, 2 x slots), one client batch (Client.run_batch "
                         "in FX_BATCH_MAX pieces), every result fetched; idle over max(--seconds, 5 s) = %.1f s",
                    o->scale_tasks, o->seconds > 5 ? o->seconds : 5);
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);
    /* the curves: slots against the rate, and against both RSS figures */
    double rate[S_POINTS * 2], mem[S_POINTS * 3];
    for (int i = 0; i < npts; i++) {
        rate[i * 2] = mem[i * 3] = rows[i * 4];
        rate[i * 2 + 1] = rows[i * 4 + 1];
        mem[i * 3 + 1] = rows[i * 4 + 2];
        mem[i * 3 + 2] = rows[i * 4 + 3];
    }
    static const char *const columns[] = {"slots", "tasks/s"};
    fxb_curve(o, "scale_rate", "dispatch rate against SIMULATED slots", "worker slots", "tasks/s", columns, 2, rate,
              npts, true, false);
    static const char *const mcols[] = {"slots", "endpoint RSS MiB", "broker RSS MiB"};
    fxb_curve(o, "scale_memory", "resident memory against SIMULATED slots", "worker slots", "MiB", mcols, 3, mem, npts,
              true, false);
    return 0;
}
