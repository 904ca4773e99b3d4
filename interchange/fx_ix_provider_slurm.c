/*  fx_ix_provider_slurm.c: the slurm provider (fx_ix_provider.h) as a
    dialect of fx_ix_batch.h: a block is one sbatch job of nodes_per_block
    nodes (one task per node, one fx-manager each, started with srun when
    there are several nodes), polled with squeue, and with sacct for jobs
    squeue has forgotten (plain sacct where slurmdbd keeps accounting, else
    `sacct --completion`, which reads the job completion log), cancelled
    with scancel.

    squeue states: PENDING, CONFIGURING, REQUEUED, RESIZING -> PENDING
    (HELD when the reason is a hold, or one that means the job can never
    start, such as PartitionNodeLimit); RUNNING, COMPLETING, SUSPENDED,
    STOPPED, SIGNALING, STAGE_OUT -> RUNNING; COMPLETED, CANCELLED, TIMEOUT,
    PREEMPTED -> DONE; FAILED, NODE_FAIL, BOOT_FAIL, OUT_OF_MEMORY, DEADLINE,
    SPECIAL_EXIT -> FAILED. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_batch.h"

/* Pending reasons after which the job never starts by itself. */
static const char *const s_never[] = {
    "PartitionNodeLimit", "PartitionTimeLimit",       "BadConstraints",    "InvalidAccount",
    "InvalidQOS",         "DependencyNeverSatisfied", "AccountNotAllowed", "QOSUsageThreshold",
};

static fx_ix_block_state_t s_state(const char *state, const char *reason, char *why, size_t cap)
{
    static const char *const pending[] = {"PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "REQUEUE_FED"};
    static const char *const running[] = {"RUNNING", "COMPLETING", "SUSPENDED",
                                          "STOPPED", "SIGNALING",  "STAGE_OUT"};
    static const char *const done[] = {"COMPLETED", "CANCELLED", "TIMEOUT", "PREEMPTED"};
    snprintf(why, cap, "%s%s%s%s", state, reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
    if (strcmp(state, "REQUEUE_HOLD") == 0 || strstr(reason, "Held"))
        return FX_IX_BLOCK_HELD;
    for (size_t i = 0; i < sizeof pending / sizeof pending[0]; i++)
        if (strcmp(state, pending[i]) == 0) {
            for (size_t k = 0; k < sizeof s_never / sizeof s_never[0]; k++)
                if (strcmp(reason, s_never[k]) == 0) {
                    snprintf(why, cap, "%s (%s): it can never start as asked", state, reason);
                    return FX_IX_BLOCK_HELD;
                }
            return FX_IX_BLOCK_PENDING;
        }
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (strcmp(state, running[i]) == 0)
            return FX_IX_BLOCK_RUNNING;
    for (size_t i = 0; i < sizeof done / sizeof done[0]; i++)
        if (strcmp(state, done[i]) == 0) {
            if (strcmp(state, "TIMEOUT") == 0)
                snprintf(why, cap, "TIMEOUT: the walltime was reached");
            return FX_IX_BLOCK_DONE;
        }
    return FX_IX_BLOCK_FAILED;
}

static void s_header(const fx_ix_provider_conf_t *conf, const fx_ix_block_t *block, const char *output,
                     fx_ix_text_t *out)
{
    int nodes = block->managers > 0 ? block->managers : 1;
    fx_ix_text_add(out, "#SBATCH --job-name=fx-%s\n#SBATCH --nodes=%d\n#SBATCH --ntasks-per-node=1\n",
                   block->id, nodes);
    fx_ix_text_add(out, "#SBATCH --output=%s\n", output);
    const char *slash = strrchr(output, '/');
    if (slash)
        fx_ix_text_add(out, "#SBATCH --chdir=%.*s\n", (int) (slash - output), output);
    if (conf->walltime[0])
        fx_ix_text_add(out, "#SBATCH --time=%s\n", conf->walltime);
    if (conf->partition[0])
        fx_ix_text_add(out, "#SBATCH --partition=%s\n", conf->partition);
    if (conf->account[0])
        fx_ix_text_add(out, "#SBATCH --account=%s\n", conf->account);
}

static void s_submit_argv(const char *script, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "sbatch");
    fx_ix_argv_add(a, "--parsable");
    fx_ix_argv_add(a, "%s", script);
}

/* "1234" or "1234;cluster". */
static int s_parse_submit(const char *out, char *job_id, size_t cap)
{
    while (*out && isspace((unsigned char) *out))
        out++;
    size_t len = strspn(out, "0123456789");
    if (len == 0 || len >= cap)
        return -1;
    snprintf(job_id, cap, "%.*s", (int) len, out);
    return 0;
}

/* "a,b,c" from ids. */
static void s_list(char *const *ids, size_t n, const char *flag, fx_ix_argv_t *a)
{
    fx_ix_text_t t = {0};
    fx_ix_text_add(&t, "%s", flag);
    for (size_t i = 0; i < n; i++)
        fx_ix_text_add(&t, "%s%s", i ? "," : "", ids[i]);
    if (t.oom)
        a->full = true;
    else
        fx_ix_argv_add(a, "%s", t.data);
    fx_ix_text_free(&t);
}

static void s_status_argv(char *const *ids, size_t n, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "squeue");
    fx_ix_argv_add(a, "--noheader");
    fx_ix_argv_add(a, "--states=all");
    fx_ix_argv_add(a, "--format=%%A|%%T|%%r");
    s_list(ids, n, "--jobs=", a);
}

/* Lines "ID|STATE|REASON" (squeue), or "ID|STATE[ by UID]|EXIT" (sacct). */
static void s_parse_lines(const char *out, bool sacct, fx_ix_job_found_t found, void *ctx)
{
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int) (len < sizeof line ? len : sizeof line - 1), p);
        p += len + (p[len] == '\n');
        char *id = strtok(line, "|"), *state = id ? strtok(NULL, "|") : NULL,
             *extra = state ? strtok(NULL, "|") : NULL;
        if (!id || !state)
            continue;
        while (isspace((unsigned char) *id))
            id++;
        state[strcspn(state, " ")] = '\0'; /* "CANCELLED by 0" */
        if (sacct && strchr(id, '.'))
            continue; /* a step, not the job */
        char why[FX_IX_REASON_MAX], reason[256];
        if (sacct)
            snprintf(reason, sizeof reason, "%s%s", extra ? "exit code " : "", extra ? extra : "");
        else
            snprintf(reason, sizeof reason, "%s", extra && strcmp(extra, "None") != 0 ? extra : "");
        fx_ix_block_state_t st = s_state(state, sacct ? "" : reason, why, sizeof why);
        if (sacct && extra)
            snprintf(why + strlen(why), sizeof why - strlen(why), ", %s (from sacct)", reason);
        found(ctx, id, st, why);
    }
}

static void s_parse_status(const char *out, fx_ix_job_found_t found, void *ctx)
{
    s_parse_lines(out, false, found, ctx);
}

/* mode 0: sacct (slurmdbd); mode 1: sacct --completion (the job completion log). */
static void s_history_argv(int mode, char *const *ids, size_t n, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "sacct");
    if (mode == 1)
        fx_ix_argv_add(a, "--completion");
    else
        fx_ix_argv_add(a, "-X");
    fx_ix_argv_add(a, "--noheader");
    fx_ix_argv_add(a, "--parsable2");
    fx_ix_argv_add(a, "--format=JobID,State,ExitCode");
    s_list(ids, n, "--jobs=", a);
}

static int s_parse_history(int mode, int status, const char *out, const char *err, fx_ix_job_found_t found,
                           void *ctx)
{
    if (status != 0)
        return mode == 0 && strstr(err, "accounting storage is disabled") ? 1 : -1;
    s_parse_lines(out, true, found, ctx);
    return mode;
}

static void s_cancel_argv(char *const *ids, size_t n, fx_ix_argv_t *a)
{
    fx_ix_argv_add(a, "scancel");
    for (size_t i = 0; i < n; i++)
        fx_ix_argv_add(a, "%s", ids[i]);
}

const fx_ix_batch_dialect_t fx_ix_batch_slurm = {
    .name = "slurm",
    .submit = "sbatch",
    .launcher = FX_IX_LAUNCH_SRUN,
    .cores = "${SLURM_CPUS_ON_NODE:-$(nproc)}",
    .unknown_job = "Invalid job id",
    .header = s_header,
    .submit_argv = s_submit_argv,
    .parse_submit = s_parse_submit,
    .status_argv = s_status_argv,
    .parse_status = s_parse_status,
    .history_argv = s_history_argv,
    .parse_history = s_parse_history,
    .cancel_argv = s_cancel_argv,
};
