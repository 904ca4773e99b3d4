/*  fx_ix_provider_pbs.c: the pbs provider (fx_ix_provider.h) as a dialect
    of fx_ix_batch.h, for PBS Professional and OpenPBS: a block is one qsub
    job of nodes_per_block chunks (`select=N`, with `ncpus=C` when
    cpus_per_node is set), one fx-manager per node started with mpiexec
    when there are several, polled with `qstat -x -f` (-x keeps finished
    jobs in the answer while the server's job history lasts), cancelled
    with qdel. Tested on generated scripts and recorded command outputs:
    no PBS server runs here.

    job_state: Q, W, T, M -> PENDING; H -> HELD (with the job's comment);
    R, E, B, S, U -> RUNNING; F, X, C -> DONE if Exit_status is 0, the
    walltime (-29) or a signal from qdel (>= 256), else FAILED. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_batch.h"

/* PBS's Exit_status for a job killed for going over its walltime
   (JOB_EXEC_KILL_WALLTIME). */
#define S_EXIT_WALLTIME (-29)

static void s_header(const fx_ix_provider_conf_t *conf, const fx_ix_block_t *block, const char *output,
                     fx_ix_text_t *out)
{
    int nodes = block->managers > 0 ? block->managers : 1;
    /* job names: at most 15 characters on older servers */
    fx_ix_text_add(out, "#PBS -N fx-%.8s\n", block->id);
    if (conf->cpus_per_node > 0)
        fx_ix_text_add(out, "#PBS -l select=%d:ncpus=%d\n", nodes, conf->cpus_per_node);
    else
        fx_ix_text_add(out, "#PBS -l select=%d\n", nodes);
    fx_ix_text_add(out, "#PBS -l place=scatter\n");
    if (conf->walltime[0]) {
        /* PBS takes HH:MM:SS only: D-HH:MM:SS becomes hours */
        const char *dash = strchr(conf->walltime, '-');
        int days = dash ? atoi(conf->walltime) : 0;
        const char *hms = dash ? dash + 1 : conf->walltime;
        fx_ix_text_add(out, "#PBS -l walltime=%d%s\n", days * 24 + atoi(hms), strchr(hms, ':'));
    }
    if (conf->queue[0])
        fx_ix_text_add(out, "#PBS -q %s\n", conf->queue);
    if (conf->account[0])
        fx_ix_text_add(out, "#PBS -A %s\n", conf->account);
    fx_ix_text_add(out, "#PBS -j oe\n#PBS -o %s\n", output);
}

static void s_submit_argv(const char *script, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "qsub");
    fx_ix_argv_add(a, "%s", script);
}

/* "1234.server" on the first line. */
static int s_parse_submit(const char *out, char *job_id, size_t cap)
{
    while (*out && isspace((unsigned char) *out))
        out++;
    size_t len = strcspn(out, " \t\r\n");
    if (len == 0 || len >= cap || !isdigit((unsigned char) out[0]))
        return -1;
    snprintf(job_id, cap, "%.*s", (int) len, out);
    return 0;
}

static void s_status_argv(char *const *ids, size_t n, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "qstat");
    fx_ix_argv_add(a, "-x");
    fx_ix_argv_add(a, "-f");
    for (size_t i = 0; i < n; i++)
        fx_ix_argv_add(a, "%s", ids[i]);
}

/* One job's record, as far as it was read. */
typedef struct {
    char id[FX_IX_JOB_ID_MAX];
    char state[8];
    char comment[256];
    bool has_exit;
    int exit_status;
} s_record_t;

static void s_report(const s_record_t *r, fx_ix_job_found_t found, void *ctx)
{
    if (!r->id[0] || !r->state[0])
        return;
    char why[FX_IX_REASON_MAX];
    char c = r->state[0];
    fx_ix_block_state_t st;
    snprintf(why, sizeof why, "job_state %s%s%s", r->state, r->comment[0] ? ": " : "", r->comment);
    if (strchr("QWTM", c))
        st = FX_IX_BLOCK_PENDING;
    else if (c == 'H')
        st = FX_IX_BLOCK_HELD;
    else if (strchr("REBSU", c))
        st = FX_IX_BLOCK_RUNNING;
    else if (strchr("FXC", c)) {
        int e = r->has_exit ? r->exit_status : 0;
        st = e == 0 || e == S_EXIT_WALLTIME || e >= 256 ? FX_IX_BLOCK_DONE : FX_IX_BLOCK_FAILED;
        if (e == S_EXIT_WALLTIME)
            snprintf(why, sizeof why, "finished: the walltime was reached (Exit_status %d)", e);
        else if (e >= 256)
            snprintf(why, sizeof why, "finished: killed by signal %d (qdel?) (Exit_status %d)", e - 256, e);
        else
            snprintf(why, sizeof why, "finished with Exit_status %d%s%s", e, r->comment[0] ? ": " : "",
                     r->comment);
    }
    else
        st = FX_IX_BLOCK_RUNNING; /* a state this code does not know: the job is there */
    found(ctx, r->id, st, why);
}

/* "Job Id: ID" starts a record; "    key = value" lines follow. */
static void s_parse_status(const char *out, fx_ix_job_found_t found, void *ctx)
{
    s_record_t r = {0};
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        p += len + (p[len] == '\n');
        if (strncmp(line, "Job Id:", 7) == 0) {
            s_report(&r, found, ctx);
            memset(&r, 0, sizeof r);
            sscanf(line + 7, " %63s", r.id);
            continue;
        }
        char *eq = strstr(line, " = ");
        if (!eq)
            continue;
        *eq = '\0';
        char *key = line, *value = eq + 3;
        while (isspace((unsigned char) *key))
            key++;
        if (strcmp(key, "job_state") == 0)
            snprintf(r.state, sizeof r.state, "%s", value);
        else if (strcmp(key, "comment") == 0)
            snprintf(r.comment, sizeof r.comment, "%s", value);
        else if (strcmp(key, "Exit_status") == 0 || strcmp(key, "exit_status") == 0) {
            r.has_exit = true;
            r.exit_status = atoi(value);
        }
    }
    s_report(&r, found, ctx);
}

static void s_cancel_argv(char *const *ids, size_t n, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "qdel");
    for (size_t i = 0; i < n; i++)
        fx_ix_argv_add(a, "%s", ids[i]);
}

const fx_ix_batch_dialect_t fx_ix_batch_pbs = {
    .name = "pbs",
    .submit = "qsub",
    .launcher = FX_IX_LAUNCH_MPIEXEC,
    .cores = "${NCPUS:-$(nproc)}",
    .unknown_job = "Unknown Job Id",
    .header = s_header,
    .submit_argv = s_submit_argv,
    .parse_submit = s_parse_submit,
    .status_argv = s_status_argv,
    .parse_status = s_parse_status,
    .cancel_argv = s_cancel_argv,
};
