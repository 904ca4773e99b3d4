/*  fxb_latency.c: sequential round trips (submit, then wait for the result,
    one task at a time) of a Python no-op and a shell no-op through a real
    local federation, at the endpoint's default settings; p50/p90/p99/max
    and p50 against the floor (bare chain round trip + one fdatasync); then
    the same trips broken down per hop from the components' stamps
    (fxb_hops.c), so the slowest hop is visible. */
#include <stdio.h>
#include <string.h>

#include "fxb_fed.h"
#include "fxb_hops.h"
#include "fxb_scen.h"

/* Per-hop medians of each run, for each kind. */
typedef struct {
    double p50[FXB_HOPS][FXB_RUNS_MAX];
    int runs[FXB_HOPS];   /* runs in which the hop was stamped */
} s_hops_t;

/* One run's "hops KIND N": the median of each hop into h. 0 or -1. */
static int s_hops_run(fxb_driver_t *drv, const char *kind, int n, int run, s_hops_t *h)
{
    fxb_samples_t stamps = {0}, per_hop[FXB_HOPS] = {{0}};
    int rc = fxb_driver_cmd(drv, &stamps, "hops %s %d", kind, n);
    if (rc == 0)
        rc = fxb_hops_add(per_hop, &stamps);
    for (int i = 0; i < FXB_HOPS; i++) {
        if (rc == 0 && per_hop[i].count > 0)
            h->p50[i][h->runs[i]++] = fxb_percentile(&per_hop[i], 50);
        fxb_samples_free(&per_hop[i]);
    }
    (void) run;
    fxb_samples_free(&stamps);
    return rc;
}

int fxb_latency(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!fxb_floor_need(ctx))
        return 1;
    const char *kinds[2];
    int nk = fxb_kinds(o, kinds);
    double pct[2][4][FXB_RUNS_MAX], tail[2][FXB_RUNS_MAX];
    fxb_samples_t pooled[2] = {{0}}, s = {0};
    static s_hops_t hops[2];
    int hop_trips = o->count < 100 ? o->count : 100;
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
            if (rc == 0) {
                fxb_progress("latency: run %d/%d: %d %s round trips broken down per hop", r + 1, o->runs, hop_trips,
                             kinds[k]);
                if (s_hops_run(drv, kinds[k], hop_trips, r, &hops[k]) != 0)
                    fxb_progress("latency: no per-hop breakdown for %s (see the driver's error above)", kinds[k]);
            }
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
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);

    /* the breakdown: one table, hops as cases, kinds as metrics */
    fxb_report_t *hrep = fxb_report_new("latency_hops");
    for (int k = 0; k < nk; k++)
        for (int i = 0; i < FXB_HOPS; i++)
            if (hops[k].runs[i] > 0) {
                char metric[32];
                snprintf(metric, sizeof metric, "%s p50", kinds[k]);
                fxb_report_add(hrep, fxb_hops[i].name, metric, "us", hops[k].p50[i], hops[k].runs[i], NULL, 0);
            }
    fxb_report_note(hrep, "from the stamps of SPEC 12.5 (times in task and result records, read back with "
                          "Client.get_provenance), %d sequential round trips per run and kind; a hop no component "
                          "stamped is left out; medians of the per-run medians", hop_trips);
    fxb_report_finish(hrep, o);
    fxb_report_destroy(&hrep);

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
