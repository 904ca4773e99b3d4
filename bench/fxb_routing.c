/*  fxb_routing.c: funcX's routing experiment (arXiv 2209.11631, section on
    warming-aware routing) on this machine, for each interchange strategy.

    One run: a fresh federation whose endpoint has M managers x W workers
    (4 x 4 unless --managers/--workers say), the given routing strategy,
    the managers' lru container strategy and --prefetch (default 0, so that
    each routing decision is taken when a worker can act on it, as in
    funcX); K containers fxb-c0.. (bwrap), each started through
    bench/fxb_cold_start.sh, which adds --cold-start seconds to a real
    bwrap launch and notes each start in a log folder bound into the
    container. The driver registers one function per container (each task
    sleeps --task-ms), submits --routing-tasks tasks whose containers are
    drawn uniformly with a fixed seed (the same sequence for every strategy
    and run), and times submission to last result. Cold starts are counted
    from the log, not from fx's own counters.

    Lower bound, stated in the report: every worker that runs a task must
    first start a container (no worker begins warm: they start on the host),
    so a worker's busy time is at least one cold start plus its tasks, and
    the makespan is at least cold + tasks x task_ms / (M x W). It leaves out
    the bwrap launch and the worker's own start, so it cannot be reached. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fxb_fed.h"
#include "fxb_scen.h"

#define S_STRATEGIES_MAX 8
#define S_SEED 20221

typedef struct {
    double seconds, cold_starts;
} s_run_t;

/* The endpoint config: strategy, lru, and one launch template per container. */
static int s_write_config(const fxb_opts_t *o, const char *path, const char *strategy, double cold,
                          const char *logdir)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fxb_progress("routing: cannot write %s", path);
        return -1;
    }
    fprintf(f, "# fx-bench routing: %s, %.3g s per container start\n", strategy, cold);
    fprintf(f, "routing: %s\ncontainer_strategy: lru\ncontainer_idle_time: 0s\ncontainers:\n", strategy);
    for (int i = 0; i < o->containers; i++)
        fprintf(f,
                "  fxb-c%d: {runtime: bwrap, image: \"\", template: \"bwrap --die-with-parent --unshare-pid "
                "--unshare-uts --unshare-ipc --hostname {name} --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp "
                "--bind %s %s {binds} {env} %s/fxb_cold_start.sh %.3f %s {command}\"}\n",
                i, logdir, logdir, o->src_dir, cold, logdir);
    return fclose(f) == 0 ? 0 : -1;
}

static double s_count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int c, n = 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* One run of one strategy at one cold-start cost. 0 or -1. */
static int s_run(const fxb_opts_t *base, const char *strategy, double cold, s_run_t *r)
{
    fxb_opts_t o = *base;
    if (!o.topology_given)
        o.managers = o.workers = 4;
    fxb_fed_t *fed = fxb_fed_new(&o);
    if (!fed)
        return -1;
    fxb_driver_t *drv = NULL;
    fxb_samples_t got = {0};
    int rc = -1;
    char creds[PATH_MAX + 64], config[PATH_MAX + 64], logdir[PATH_MAX + 64], log[PATH_MAX + 96],
        args[2 * PATH_MAX + 128];
    snprintf(config, sizeof config, "%s/routing.yaml", fxb_fed_root(fed));
    snprintf(logdir, sizeof logdir, "%s/cold", fxb_fed_root(fed));
    snprintf(log, sizeof log, "%s/cold-starts", logdir);
    if (mkdir(logdir, 0700) != 0 || s_write_config(&o, config, strategy, cold, logdir) != 0)
        goto done;
    snprintf(args, sizeof args, "--config %s --prefetch %d --stats-file %s/endpoint.stats", config, o.prefetch,
             fxb_fed_root(fed));
    if (fxb_fed_start_broker(fed, NULL) != 0 || fxb_fed_add_user(fed, "bench", creds, sizeof creds) != 0 ||
        fxb_fed_start_endpoint(fed, creds, args) != 0 || !(drv = fxb_fed_driver(fed, creds)))
        goto done;
    if (fxb_driver_cmd(drv, &got, "routing %d %d %d %d", o.routing_tasks, o.containers, o.task_ms, S_SEED) != 0 ||
        got.count < 1)
        goto done;
    r->seconds = got.v[0];
    r->cold_starts = s_count_lines(log);
    rc = 0;
done:
    fxb_samples_free(&got);
    fxb_driver_destroy(&drv);
    fxb_fed_destroy(&fed);
    return rc;
}

static int s_split(const char *text, char names[][32], int max)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= 32)
            return -1;
        memcpy(names[n], p, len);
        names[n++][len] = 0;
        p += len + (p[len] == ',');
    }
    return n;
}

int fxb_routing(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    char strategies[S_STRATEGIES_MAX][32];
    int ns = s_split(o->strategies, strategies, S_STRATEGIES_MAX);
    if (ns <= 0) {
        fxb_progress("routing: --strategies %s names no strategy", o->strategies);
        return 1;
    }
    int managers = o->topology_given ? o->managers : 4, workers = o->topology_given ? o->workers : 4;
    int slots = managers * workers, nc = o->cold_start.count;
    fxb_report_t *rep = fxb_report_new("routing");
    double *plot = calloc((size_t) nc * (size_t) (ns + 2), sizeof *plot);
    if (!rep || !plot) {
        fxb_report_destroy(&rep);
        free(plot);
        return 1;
    }
    int failed = 0;
    for (int c = 0; c < nc; c++) {
        double cold = o->cold_start.v[c], random_median = NAN;
        double bound = cold + (double) o->routing_tasks * o->task_ms / 1000.0 / slots;
        plot[c * (ns + 2)] = cold;
        plot[c * (ns + 2) + ns + 1] = bound;
        for (int s = 0; s < ns; s++) {
            double secs[FXB_RUNS_MAX], starts[FXB_RUNS_MAX];
            int runs = 0;
            for (int k = 0; k < o->runs; k++) {
                fxb_progress("routing: %s, %.3g s cold start, run %d/%d: %d tasks of %d ms over %d containers, "
                             "%d x %d workers",
                             strategies[s], cold, k + 1, o->runs, o->routing_tasks, o->task_ms, o->containers,
                             managers, workers);
                s_run_t r;
                if (s_run(o, strategies[s], cold, &r) != 0) {
                    fxb_progress("routing: %s run %d failed", strategies[s], k + 1);
                    failed = 1;
                    continue;
                }
                fxb_progress("routing:   %.1f s, %.0f cold starts", r.seconds, r.cold_starts);
                secs[runs] = r.seconds;
                starts[runs++] = r.cold_starts;
            }
            if (!runs)
                continue;
            char name[320];
            snprintf(name, sizeof name, "%s, cold %.3g s", strategies[s], cold);
            fxb_report_add(rep, name, "completion", "s", secs, runs, NULL, 0);
            fxb_report_add(rep, name, "cold starts", "", starts, runs, NULL, 0);
            double median = fxb_median(secs, runs);
            double vs_bound[FXB_RUNS_MAX];
            for (int k = 0; k < runs; k++)
                vs_bound[k] = secs[k] / bound;
            fxb_report_add(rep, name, "x lower bound", "x", vs_bound, runs, NULL, 0);
            if (strcmp(strategies[s], "random") == 0)
                random_median = median;
            else if (!isnan(random_median)) {
                double cut = 100.0 * (1.0 - median / random_median);
                fxb_report_add(rep, name, "reduction vs random", "%", &cut, 1, NULL, 0);
            }
            plot[c * (ns + 2) + 1 + s] = median;
        }
        fxb_report_note(rep, "cold %.3g s: lower bound %.1f s = cold + %d tasks x %d ms / %d workers", cold, bound,
                        o->routing_tasks, o->task_ms, slots);
    }
    fxb_report_note(rep,
                    "%d tasks, each sleeping %d ms, over %d bwrap containers drawn uniformly (seed %d, the same "
                    "order for every run); %d managers x %d workers, prefetch %d, lru container strategy; every "
                    "worker starts on the host, so every container worker is a cold start; a cold start = a real "
                    "bwrap launch + the worker's start + the added delay (bench/fxb_cold_start.sh), counted from "
                    "the script's own log",
                    o->routing_tasks, o->task_ms, o->containers, S_SEED, managers, workers, o->prefetch);
    fxb_report_note(rep, "lower bound: every worker that runs a task starts one container first, so no makespan "
                         "is below cold + total task time / workers");
    fxb_report_note(rep, "reduction vs random: 1 - median completion / random's median completion");
    int rc = fxb_report_finish(rep, o) == 0 ? failed : 1;
    const char *cols[S_STRATEGIES_MAX + 2];
    cols[0] = "cold start s";
    for (int s = 0; s < ns; s++)
        cols[1 + s] = strategies[s];
    cols[ns + 1] = "lower bound";
    fxb_curve(o, "routing_completion", "completion time of the routing experiment", "added cold start (s)",
              "completion (s)", cols, ns + 2, plot, nc, false, false);
    free(plot);
    fxb_report_destroy(&rep);
    return rc;
}
