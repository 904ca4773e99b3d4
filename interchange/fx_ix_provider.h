/*  fx_ix_provider.h: where the endpoint's managers come from. A provider
    starts *blocks*: a block is one unit of compute asked for at once (a
    local process group, a Slurm or PBS pilot job) that runs one fx-manager
    per node, each dialling back to the interchange. The scaling strategy
    (fx_ix_scaling.h) decides how many blocks there should be; a provider
    only does what it is told, behind one small interface:

        submit   ask for a block
        poll     bring the blocks' states up to date
        cancel   end a block

    plus adopt (the blocks of an earlier run of this endpoint, after a
    restart) and stop (the endpoint exits: end them all). Each provider is
    one file: fx_ix_provider_local.c, fx_ix_provider_slurm.c,
    fx_ix_provider_pbs.c (the last two are dialects of fx_ix_batch.c, which
    runs the scheduler commands for both).

    No call blocks the interchange's loop for long: a provider that runs
    scheduler commands starts them and collects their output on later
    polls, each bounded by cmd_timeout.

    A block's managers are known by their ids: manager i of block B has
    B's id with its last four hex digits replaced by i (fx_ix_block_owns),
    so the interchange can tell which block a MANAGER_HELLO comes from
    without asking the scheduler. */
#ifndef FX_IX_PROVIDER_H
#define FX_IX_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_ix_config.h"
#include "fx_msg.h"

#define FX_IX_JOB_ID_MAX 64
#define FX_IX_REASON_MAX 512

typedef enum {
    FX_IX_BLOCK_SUBMITTING, /* asked for; the scheduler has not answered yet */
    FX_IX_BLOCK_PENDING,    /* queued by the scheduler */
    FX_IX_BLOCK_RUNNING,    /* its managers run (or are starting) */
    FX_IX_BLOCK_HELD,       /* the scheduler holds it: it will not start by itself */
    FX_IX_BLOCK_DONE,       /* ended: cancelled, walltime, its managers exited 0 */
    FX_IX_BLOCK_FAILED,     /* could not be submitted, or ended in failure */
} fx_ix_block_state_t;

/* One block, as the strategy keeps it and the provider updates it. */
typedef struct {
    fx_id_text_t id;               /* minted by the strategy (fx_ix_block_new_id) */
    char job_id[FX_IX_JOB_ID_MAX]; /* the scheduler's id; local: the process group; "" until known */
    fx_ix_block_state_t state;
    char reason[FX_IX_REASON_MAX]; /* HELD, DONE, FAILED: why, in the provider's or scheduler's words */
    int managers;                  /* managers it runs: nodes_per_block (adopted: those found) */
} fx_ix_block_t;

/* How every manager of every block is started. */
typedef struct {
    char fx_manager[4096]; /* the fx-manager binary (beside fx-endpoint) */
    char interchange[256]; /* the address the managers dial */
    char server_key[64];   /* the endpoint's public key (z85) */
    char key_file[4096];   /* DIR/manager.key */
    char dir[4096];        /* DIR: the local provider's managers.pids, batch scripts and job output */
    int workers;           /* per manager; FX_IX_WORKERS_AUTO: the node's cores */
    int prefetch;          /* per manager; FX_IX_PREFETCH_AUTO: fx_ix_launch_prefetch */
    int heartbeat_ms;
    int heartbeat_missed; /* passed on only when not FX_HEARTBEAT_MISSED_DEFAULT */
    char **flags;         /* more flags every manager gets (fx_ix_launch_flags), NULL-ended; may be NULL */
} fx_ix_launch_t;

/* What the endpoint config says about containers, for the managers
   (SPEC 12.7; fx-manager --help): each is passed on only when set. */
typedef struct {
    const char *strategy;           /* keep or lru; NULL or "": fx-manager's default */
    int max_workers_per_container;  /* < 0: its default */
    int64_t idle_ms;                /* < 0: its default */
    int64_t start_timeout_ms;       /* < 0: its default */
    const fx_ix_container_conf_t *containers; /* containers: entries */
    size_t containers_count;
} fx_ix_manager_opts_t;

/* The flags of opts, as an argv tail (NULL-ended, every string
   malloc'd; free with fx_ix_launch_flags_free): --container-strategy S,
   --max-workers-per-container N, --container-idle-ms MS,
   --container-start-timeout-ms MS, and --container-template NAME=TEXT per
   containers: entry (its template, else its runtime's default; with the
   entry's image written in for {image} when it gives one). NULL with a
   sentence in err on OOM or a template that cannot take the image. */
char **fx_ix_launch_flags(const fx_ix_manager_opts_t *opts, char *err, size_t errlen);
void fx_ix_launch_flags_free(char ***flags_p);

/* A provider, for its implementations. impl is what create returned. */
typedef struct {
    const char *name;
    /* conf and launch outlive the provider. NULL with a sentence in err. */
    void *(*create)(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch, char *err,
                    size_t errlen);
    void (*destroy)(void *impl);
    /* Start asking for block (id and managers set). 0: the block is
       SUBMITTING, PENDING or RUNNING; -1: FAILED, reason says why. */
    int (*submit)(void *impl, fx_ix_block_t *block, int64_t now);
    /* Update the state (and reason) of each of these blocks: every block
       the strategy holds that has not ended. */
    void (*poll)(void *impl, fx_ix_block_t *const *blocks, size_t count, int64_t now);
    /* End block; a later poll shows it DONE. */
    void (*cancel)(void *impl, fx_ix_block_t *block, int64_t now);
    /* Blocks an earlier run of this endpoint left running: up to cap into
       out (id, job_id, state, managers). */
    size_t (*adopt)(void *impl, fx_ix_block_t *out, size_t cap);
    /* The endpoint stops: end these blocks, waiting at most timeout_ms. */
    void (*stop)(void *impl, fx_ix_block_t *const *blocks, size_t count, int timeout_ms);
} fx_ix_provider_ops_t;

extern const fx_ix_provider_ops_t fx_ix_provider_local;
/* slurm and pbs: one implementation over each scheduler's dialect
   (fx_ix_batch.h); create picks the dialect by conf->kind. */
extern const fx_ix_provider_ops_t fx_ix_provider_batch;

/* The ops of a kind (local for FX_IX_PROVIDER_UNSET). */
const fx_ix_provider_ops_t *fx_ix_provider_ops(fx_ix_provider_kind_t kind);

const char *fx_ix_block_state_name(fx_ix_block_state_t state);
/* DONE or FAILED: the block holds nothing any more. */
bool fx_ix_block_ended(fx_ix_block_state_t state);

/* A new block id (a UUID whose last four hex digits are 0000). */
void fx_ix_block_new_id(fx_id_text_t out);
/* The id of manager index (0..0xffff) of block_id. */
void fx_ix_block_manager_id(const char *block_id, unsigned index, fx_id_text_t out);
/* True if manager_id is one of block_id's managers. */
bool fx_ix_block_owns(const char *block_id, const char *manager_id);
/* The block id a manager id belongs to (its last four hex digits 0000). */
void fx_ix_block_of_manager(const char *manager_id, fx_id_text_t out);

/* The workers a manager runs on this machine: launch->workers, or the
   cores online for FX_IX_WORKERS_AUTO. */
int fx_ix_launch_local_workers(const fx_ix_launch_t *launch);

/* launch->prefetch, or for FX_IX_PREFETCH_AUTO the default (fx_ix_config.h) for a
   manager of `workers` workers (at most FX_BATCH_MAX, fx-manager's limit). */
int fx_ix_launch_prefetch(const fx_ix_launch_t *launch, int workers);

#endif
