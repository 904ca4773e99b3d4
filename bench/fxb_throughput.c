/*  fxb_throughput.c: N no-op tasks (Python and shell) through Executor.map
    and through Client batches, for each N of --tasks: completion rate and
    CPU microseconds per task for each process kind (broker, endpoint,
    manager, worker, client) from /proc, at the endpoint's default settings
    and, with --endpoint-args, with those flags. A fresh federation per run. */
#include <stdio.h>
#include <string.h>

#include "fxb_fed.h"
#include "fxb_scen.h"

#define S_CASES 64

typedef struct {
    char name[64];
    double rate[FXB_RUNS_MAX];
    double cpu[FXB_KINDS + 1][FXB_RUNS_MAX];   /* per kind, then the total */
} s_case_t;

static const char *const s_apis[] = {"map", "batch"};

/* One run of every case of one configuration. 0 or -1. */
static int s_run(const fxb_opts_t *o, const char *config, const char *args, int run, s_case_t *cases, int *ncases)
{
    fxb_driver_t *drv = NULL;
    fxb_fed_t *fed = fxb_fed_up(o, NULL, args, &drv);
    if (!fed)
        return -1;
    const char *kinds[2];
    int nk = fxb_kinds(o, kinds), rc = 0, c = 0;
    for (int k = 0; k < nk && rc == 0; k++)
        for (int t = 0; t < fxb_kind_tasks(o, kinds[k])->count && rc == 0; t++)
            for (int a = 0; a < 2 && rc == 0 && c < S_CASES; a++, c++) {
                long n = (long) fxb_kind_tasks(o, kinds[k])->v[t];
                s_case_t *cs = &cases[c];
                snprintf(cs->name, sizeof cs->name, "%s %s %s %ld", config, kinds[k], s_apis[a], n);
                fxb_progress("throughput: run %d/%d: %s", run + 1, o->runs, cs->name);
                fxb_cpu_t before, after;
                fxb_samples_t elapsed = {0};
                fxb_fed_cpu(fed, drv, &before);
                rc = fxb_driver_cmd(drv, &elapsed, "%s %s %ld", s_apis[a], kinds[k], n);
                fxb_fed_cpu(fed, drv, &after);
                if (rc == 0 && elapsed.count == 1) {
                    cs->rate[run] = (double) n / elapsed.v[0];
                    double total = 0;
                    for (int p = 0; p < FXB_KINDS; p++) {
                        cs->cpu[p][run] = (after.us[p] - before.us[p]) / (double) n;
                        total += cs->cpu[p][run];
                    }
                    cs->cpu[FXB_KINDS][run] = total;
                    fxb_progress("throughput:   %.0f tasks/s, %.0f us CPU per task", cs->rate[run], total);
                }
                fxb_samples_free(&elapsed);
            }
    *ncases = c;
    fxb_driver_destroy(&drv);
    fxb_fed_destroy(&fed);
    return rc;
}

int fxb_throughput(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!fxb_floor_need(ctx))
        return 1;
    const char *configs[2][2] = {{"defaults", NULL}, {"tuned", o->endpoint_args}};
    int nconfigs = o->endpoint_args && *o->endpoint_args ? 2 : 1;
    static s_case_t cases[2][S_CASES];
    int ncases[2] = {0};
    for (int g = 0; g < nconfigs; g++)
        for (int r = 0; r < o->runs; r++)
            if (s_run(o, configs[g][0], configs[g][1], r, cases[g], &ncases[g]) != 0)
                return 1;

    fxb_report_t *rep = fxb_report_new("throughput");
    char fname[160];
    double fv = fxb_floor_value(ctx, FXB_FLOOR_PIPE, "window 256", fname, sizeof fname);
    for (int g = 0; g < nconfigs; g++)
        for (int c = 0; c < ncases[g]; c++) {
            s_case_t *cs = &cases[g][c];
            fxb_report_add(rep, cs->name, "tasks/s", "tasks/s", cs->rate, o->runs, fname, fv);
            for (int p = 0; p <= FXB_KINDS; p++) {
                char metric[48];
                snprintf(metric, sizeof metric, "cpu/task %s", p < FXB_KINDS ? fxb_kind_name[p] : "total");
                fxb_report_add(rep, cs->name, metric, "us", cs->cpu[p], o->runs, NULL, 0);
            }
        }
    fxb_report_note(rep, "defaults = fx-endpoint --managers %d --workers %d and no other flag%s%s", o->managers,
                    o->workers, nconfigs > 1 ? "; tuned = the same plus " : "", nconfigs > 1 ? o->endpoint_args : "");
    fxb_report_note(rep, "map = fx.Executor.map; batch = Client.create_batch + run_batch, then get_result of each; "
                         "the rate counts from the first submit to the last result");
    fxb_report_note(rep, "CPU from /proc/PID/stat utime+stime before/after; worker = the managers' children "
                         "(live ones and reaped ones, with their own children: the shell); client = the Python driver");
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);
    return 0;
}
