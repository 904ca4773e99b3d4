/*  fx_ix_batch.h: what the batch-scheduler providers share (slurm, pbs):
    a provider over a *dialect*, the few things a scheduler does its own
    way (its script directives, its commands and how to read their
    output), so that fx_ix_provider_slurm.c and fx_ix_provider_pbs.c hold
    only those.

    A block is one job. Its files are in DIR/blocks: BLOCK.sh (the job
    script: directives, scheduler_options, worker_init, then one manager per
    node, through srun or mpiexec when the block has several nodes),
    BLOCK.node.sh (what runs on each node: the fx-manager command line, with
    the node's index in the block's manager id) and BLOCK.out (the job's
    output). DIR must be on a filesystem the compute nodes see (the managers
    read DIR/manager.key), as must fx-manager.

    Every scheduler command runs through fx_ix_command.h: started, read on
    later polls, killed after cmd_timeout (default 30 s), so a hung squeue
    never stalls the loop; a failed status command leaves the blocks' last
    known states. The scheduler is asked at most every FX_IX_BATCH_POLL_MS,
    and at once after a submission or a cancel. A job the status command no
    longer lists is looked up in the scheduler's history (slurm: sacct), and
    counted DONE once neither has known it for three polls in a row.

    DIR/<provider>.jobs lists the jobs of running blocks ("BLOCK JOB" per
    line, rewritten atomically), so that the next run of the endpoint adopts
    them (SPEC 9.7's managers.pids, for pilot jobs). */
#ifndef FX_IX_BATCH_H
#define FX_IX_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "fx_ix_provider.h"

#define FX_IX_BATCH_POLL_MS 2000
#define FX_IX_BATCH_CMD_TIMEOUT_MS 30000
/* Polls in a row in which neither the status command nor the history
   knew a job before it counts as ended. */
#define FX_IX_BATCH_UNKNOWN_POLLS 3

/* A growing text (a script). On OOM it stops growing and oom is set. */
typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} fx_ix_text_t;

void fx_ix_text_add(fx_ix_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* text in single quotes for sh, with ' written as '\'' */
void fx_ix_text_quoted(fx_ix_text_t *t, const char *text);
void fx_ix_text_free(fx_ix_text_t *t);

/* An argv being built; its strings live in buf. */
typedef struct {
    char *argv[256];
    int argc;
    char buf[32768];
    size_t used;
    bool full;
} fx_ix_argv_t;

void fx_ix_argv_add(fx_ix_argv_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A job the scheduler told about: its id, state, and why. */
typedef void (*fx_ix_job_found_t)(void *ctx, const char *job_id, fx_ix_block_state_t state,
                                  const char *reason);

typedef struct {
    const char *name;             /* "slurm": messages, DIR/slurm.jobs */
    const char *submit;           /* the submit command, checked on PATH: sbatch */
    fx_ix_launch_kind_t launcher; /* multi-node blocks, when the config names none */
    const char *cores;            /* sh: the node's cores, for workers_per_node: auto */
    const char *unknown_job;      /* the status command's stderr for an id it does not know */
    /* Directives: job name, nodes, walltime, queue or partition, account, output. */
    void (*header)(const fx_ix_provider_conf_t *conf, const fx_ix_block_t *block, const char *output,
                   fx_ix_text_t *out);
    void (*submit_argv)(const char *script, fx_ix_argv_t *argv);
    /* The job id in what the submit command printed; 0, or -1. */
    int (*parse_submit)(const char *out, char *job_id, size_t cap);
    void (*status_argv)(char *const *job_ids, size_t count, fx_ix_argv_t *argv);
    void (*parse_status)(const char *out, fx_ix_job_found_t found, void *ctx);
    /* Optional: ids the status command no longer lists. mode starts at 0;
       parse_history returns the mode for next time, -1 when there is no
       history to ask (then jobs unknown to status end as unknown). */
    void (*history_argv)(int mode, char *const *job_ids, size_t count, fx_ix_argv_t *argv);
    int (*parse_history)(int mode, int status, const char *out, const char *err, fx_ix_job_found_t found,
                         void *ctx);
    void (*cancel_argv)(char *const *job_ids, size_t count, fx_ix_argv_t *argv);
} fx_ix_batch_dialect_t;

extern const fx_ix_batch_dialect_t fx_ix_batch_slurm;
extern const fx_ix_batch_dialect_t fx_ix_batch_pbs;

/* The job script and the per-node script of block, as submit writes them
   (node_path: where the node script will be). 0, or -1 on OOM. */
int fx_ix_batch_scripts(const fx_ix_batch_dialect_t *d, const fx_ix_provider_conf_t *conf,
                        const fx_ix_launch_t *launch, const fx_ix_block_t *block, const char *node_path,
                        const char *output, fx_ix_text_t *job, fx_ix_text_t *node);

#endif
