/*  fxb_payload.c: a numpy array of each --sizes passed as the argument of a
    Python function that returns it, one task at a time: round trip and
    MB/s (array bytes / round trip), against the same payload through the
    bare chain of the floor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fxb_fed.h"
#include "fxb_scen.h"

/* Whether Debian's numpy is importable by the Python fx runs. */
static bool s_have_numpy(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", FXB_PYTHON);
    return system(cmd) == 0;
}

int fxb_payload(fxb_ctx_t *ctx)
{
    const fxb_opts_t *o = &ctx->opts;
    if (!s_have_numpy()) {
        printf("payload: numpy is not installed for %s: skipped (apt-get install python3-numpy)\n\n", FXB_PYTHON);
        return 0;
    }
    if (!fxb_floor_need(ctx))
        return 1;
    double ms[FXB_LIST_MAX][FXB_RUNS_MAX], mbs[FXB_LIST_MAX][FXB_RUNS_MAX];
    int rc = 0;
    for (int r = 0; r < o->runs && rc == 0; r++) {
        fxb_progress("payload: run %d/%d: starting a federation", r + 1, o->runs);
        fxb_driver_t *drv = NULL;
        fxb_fed_t *fed = fxb_fed_up(o, NULL, NULL, &drv);
        if (!fed)
            return 1;
        for (int i = 0; i < o->sizes.count && rc == 0; i++) {
            char size[32];
            fxb_size_name(o->sizes.v[i], size, sizeof size);
            int reps = o->sizes.v[i] >= 4 * 1024 * 1024 ? 3 : 10;
            fxb_progress("payload: run %d/%d: %d round trips of %s", r + 1, o->runs, reps, size);
            fxb_samples_t s = {0};
            /* one untimed trip first: the workers import numpy */
            rc = fxb_driver_cmd(drv, NULL, "payload %.0f 1", o->sizes.v[i]);
            if (rc == 0)
                rc = fxb_driver_cmd(drv, &s, "payload %.0f %d", o->sizes.v[i], reps);
            ms[i][r] = fxb_percentile(&s, 50) / 1e3;
            mbs[i][r] = o->sizes.v[i] / 1e6 / (ms[i][r] / 1e3);
            fxb_samples_free(&s);
        }
        fxb_driver_destroy(&drv);
        fxb_fed_destroy(&fed);
    }
    if (rc != 0)
        return 1;
    fxb_report_t *rep = fxb_report_new("payload");
    for (int i = 0; i < o->sizes.count; i++) {
        char size[32], name[64], floor_case[64], fname[160];
        fxb_size_name(o->sizes.v[i], size, sizeof size);
        snprintf(name, sizeof name, "numpy %s", size);
        snprintf(floor_case, sizeof floor_case, "%s %s", FXB_FLOOR_PAYLOAD, size);
        double fv = fxb_floor_value(ctx, floor_case, "round trip", fname, sizeof fname);
        fxb_report_add(rep, name, "round trip", "ms", ms[i], o->runs, fname, fv);
        fv = fxb_floor_value(ctx, floor_case, "MB/s", fname, sizeof fname);
        fxb_report_add(rep, name, "MB/s", "MB/s", mbs[i], o->runs, fname, fv);
    }
    fxb_report_note(rep, "a uint8 numpy array as the argument of def echo(a): return a, checked equal on return; "
                         "per run the median of 10 round trips (3 at 4 MiB and more)");
    fxb_report_note(rep, "MB/s = array bytes / round trip; sizes above FX_PAYLOAD_MAX less 4 KiB are cut to that "
                         "(the pickled (args, kwargs) must fit FX_PAYLOAD_MAX = 10 MiB)");
    fxb_report_note(rep, "time per hop: NOT MEASURED (needs the per-hop timestamps of a later step)");
    fxb_report_finish(rep, o);
    fxb_report_destroy(&rep);
    return 0;
}
