/*  fxb_latency.c: sequential round trips (submit, then wait for the result,
    one task at a time) of a Python no-op and a shell no-op through a real
    local federation, at the endpoint's default settings; p50/p90/p99/max
    and p50 against the floor (bare chain round trip + one fdatasync). */
#include <stdio.h>
#include <string.h>

#include "fxb_fed.h"
#include "fxb_scen.h"

/* The per-hop breakdown needs timestamps the components do not record yet. */
static const char s_hops_missing[] =
    "per-hop breakdown (client->broker, broker commit, broker->interchange, interchange->manager, "
    "manager->worker, execution, and back): NOT MEASURED: the components do not record per-hop "
    "timestamps yet (a later step of issue 7 adds them; this is the place their table goes)";

int fxb_latency(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!fxb_floor_need(ctx))
        return 1;
    const char *kinds[2];
    int nk = fxb_kinds(o, kinds);
    double pct[2][4][FXB_RUNS_MAX], tail[2][FXB_RUNS_MAX];
    fxb_samples_t pooled[2] = {{0}}, s = {0};
    int rc = 0;
    for (int r = 0; r < o->runs && rc == 0; r++) {
        fxb_progress("latency: run %d/%d: starting a federation (%d managers x %d workers)", r + 1, o->runs,
                     o->managers, o->workers);
        fxb_driver_t *drv = NULL;
        fxb_fed_t *fed = fxb_fed_up(o, NULL, NULL, &drv);
        if (!fed)
            return 1;
        for (int k = 0; k < nk && rc == 0; k++) {
            fxb_samples_clear(&s);
            fxb_progress("latency: run %d/%d: %d sequential %s no-ops", r + 1, o->runs, o->count, kinds[k]);
            rc = fxb_driver_cmd(drv, &s, "latency %s %d", kinds[k], o->count);
            for (size_t i = 0; i < s.count; i++)
                fxb_samples_add(&pooled[k], s.v[i]);
            static const double p[] = {50, 90, 99, 100};
            for (int q = 0; q < 4; q++)
                pct[k][q][r] = fxb_percentile(&s, p[q]);
            tail[k][r] = pct[k][2][r] / pct[k][0][r];
        }
        fxb_driver_destroy(&drv);
        fxb_fed_destroy(&fed);
    }
    fxb_samples_free(&s);
    if (rc != 0)
        return 1;

    fxb_report_t *rep = fxb_report_new("latency");
    char floor_name[160];
    double floor_sync = fxb_floor_value(ctx, FXB_FLOOR_RTT_SYNC, "p50", floor_name, sizeof floor_name);
    static const char *const metric[] = {"p50", "p90", "p99", "max"};
    for (int k = 0; k < nk; k++) {
        char name[32];
        snprintf(name, sizeof name, "%s no-op", kinds[k]);
        for (int q = 0; q < 4; q++) {
            char fname[160];
            double fv = fxb_floor_value(ctx, FXB_FLOOR_RTT, metric[q], fname, sizeof fname);
            fxb_report_add(rep, name, metric[q], "us", pct[k][q], o->runs, fname, fv);
        }
        fxb_report_add(rep, name, "p50 vs rtt+fdatasync", "us", pct[k][0], o->runs, floor_name, floor_sync);
        fxb_report_add(rep, name, "p99/p50", "ratio", tail[k], o->runs, NULL, 0);
    }
    fxb_report_note(rep, "%d sequential round trips per run and kind (client.run + get_result), after warm-up; "
                         "endpoint at its defaults with --managers %d --workers %d",
                    o->count, o->managers, o->workers);
    fxb_report_note(rep, "%s", s_hops_missing);
    fxb_report_finish(rep, o);
    printf("%s\n\n", s_hops_missing);
    fxb_report_destroy(&rep);

    /* the distribution: percentile against round trip, every run pooled */
    double rows[100 * 3];
    for (int p = 1; p <= 100; p++) {
        rows[(p - 1) * 3] = p;
        for (int k = 0; k < 2; k++)
            rows[(p - 1) * 3 + 1 + k] = k < nk ? fxb_percentile(&pooled[k], p) : 0;
    }
    const char *cols[] = {"percentile", nk > 0 ? kinds[0] : "-", nk > 1 ? kinds[1] : "-"};
    fxb_curve(o, "latency-cdf", "fx sequential round trip, pooled runs", "percentile", "round trip (us)", cols,
              1 + nk, rows, 100, false, true);
    for (int k = 0; k < 2; k++)
        fxb_samples_free(&pooled[k]);
    return 0;
}
