/*  fx_ix_config.h: the endpoint's configuration file (config.yaml), read
    into a plain struct. Reading is all it does: the values are checked
    (types, ranges, files, addresses) but nothing is started; fx_endpoint.c
    merges the struct with the command line (flags win) and hands the result
    to the interchange.

    The format, in the spirit of Globus Compute's config.yaml (every key is
    optional unless said; interchange/README.md has a commented example):

        name: cluster                  # shown by `fx endpoints`
        credentials: ~/.fx/alice.creds # the broker credentials file (fx user create)
        address: ib0                   # the interchange as compute nodes see it:
                                       #   an interface name or one of its addresses
        workers_per_node: auto         # a number, or auto = the node's cores
        prefetch: 32                   # tasks a manager holds beyond its workers
                                       #   (default: 2 x workers, at least 32)
        heartbeat_period: 1s           # durations: 500ms, 30s, 5m, 1h (bare number = s)
        heartbeat_threshold: 3s        # a peer silent this long is lost
        idle_time: 2m                  # a block idle this long is ended (scale in)
        stop_grace: 10s                # on SIGTERM, time for running tasks
        provider:
          type: slurm                  # local, slurm or pbs (required in provider)
          partition: debug             # slurm  (pbs: queue)
          account: proj42
          walltime: "01:00:00"         # HH:MM:SS or D-HH:MM:SS
          nodes_per_block: 1
          init_blocks: 0
          min_blocks: 0
          max_blocks: 2
          launcher: srun               # multi-node blocks: srun or mpiexec
          scheduler_options: ["#SBATCH --constraint=cpu"]
          worker_init: ["module load python"]
          cmd_timeout: 30s             # bound on each sbatch/squeue/scancel
        containers:                    # how containers of these names are launched
          torch: {runtime: apptainer, image: /img/torch.sif,     # (12.7.2; template checked by
                  template: "apptainer exec {image} {command}"} #  fx_container_template_check)
        allowed_functions: [0b7c...]   # only these function ids run here
        routing: warming-aware         # random, warming-aware (default) or warm-wait (SPEC 7.9)
        container_strategy: lru        # keep or lru (default; SPEC 12.7.3), for the managers
        max_workers_per_container: 0   # 0: no cap
        container_idle_time: 5m        # an idle container worker is retired (0: never)
        container_start_timeout: 60s   # a container worker's READY must come by then
        queue_depth: 4096              # tasks held here beyond the managers' windows, for the
                                       # routing to choose from (default: 0 until a container is
                                       # named, then 4096)

    Relative paths are relative to the file's folder; `~/` is $HOME.

    Errors: unknown keys, wrong types, values out of range, a credentials
    file that cannot be read, an address no interface has, and YAML that
    does not parse are each one sentence "FILE:LINE:COLUMN: KEY: problem;
    what is expected", for the first problem found. */
#ifndef FX_IX_CONFIG_H
#define FX_IX_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"
#include "fx_msg.h"

/* Bounds a config may ask for, each with its reason. */
#define FX_IX_CONFIG_MAX_BYTES (1 << 20) /* a config is a page or two; 1 MiB is a mistake */
#define FX_IX_BLOCKS_MAX 1024            /* blocks of one endpoint: far beyond a fair share */
#define FX_IX_NODES_PER_BLOCK_MAX 4096   /* nodes of one pilot job */
#define FX_IX_LINES_MAX 256              /* scheduler_options / worker_init lines */
#define FX_IX_LINE_MAX 4096              /* one such line */
#define FX_IX_ALLOWED_MAX 65536          /* allowed_functions entries */
#define FX_IX_PREFETCH_MAX 65536         /* as --prefetch */
#define FX_IX_QUEUE_DEPTH_MAX 1000000    /* as --queue-depth */
#define FX_IX_FIELD_MAX 256              /* partition, queue, account, address, ... */

/* A value not given in the file. */
#define FX_IX_UNSET (-1)
/* workers_per_node: auto (the node's cores). */
#define FX_IX_WORKERS_AUTO 0

/* The prefetch when neither --prefetch nor the config's prefetch names
   one: twice the workers, at least FX_IX_PREFETCH_MIN, as fx-manager's own
   default. A manager keeps that many tasks beyond its workers so that a
   worker that finishes finds its next task on the node, not one round trip
   to the endpoint away: with 1 (the old default) throughput was bounded by
   that round trip, ~1,100 tasks/s; a long queue also goes out in batches
   as large as the windows. Long tasks that must spread evenly over nodes
   want an explicit --prefetch 0. */
#define FX_IX_PREFETCH_AUTO (-1)
#define FX_IX_PREFETCH_MIN 32

typedef enum {
    FX_IX_PROVIDER_UNSET = 0, /* no provider section */
    FX_IX_PROVIDER_LOCAL,
    FX_IX_PROVIDER_SLURM,
    FX_IX_PROVIDER_PBS,
} fx_ix_provider_kind_t;

typedef enum {
    FX_IX_LAUNCH_UNSET = 0, /* the provider's default: srun for slurm, mpiexec for pbs */
    FX_IX_LAUNCH_SRUN,
    FX_IX_LAUNCH_MPIEXEC,
} fx_ix_launch_kind_t;

/* provider: one section. Numbers are FX_IX_UNSET, strings "" when not given. */
typedef struct {
    fx_ix_provider_kind_t kind;
    char partition[FX_IX_FIELD_MAX]; /* slurm */
    char queue[FX_IX_FIELD_MAX];     /* pbs */
    char account[FX_IX_FIELD_MAX];
    char walltime[32]; /* as written, checked: [D-]HH:MM:SS */
    int nodes_per_block;
    int init_blocks;
    int min_blocks;
    int max_blocks;
    int cpus_per_node; /* pbs: ncpus in the select statement */
    char **scheduler_options;
    size_t scheduler_options_count;
    char **worker_init;
    size_t worker_init_count;
    fx_ix_launch_kind_t launcher;
    int64_t cmd_timeout_ms;
} fx_ix_provider_conf_t;

/* containers: one launch template. */
typedef struct {
    char name[FX_NAME_MAX + 1];
    char runtime[16]; /* fx_runtime_name: none, bwrap, podman, docker, apptainer, singularity */
    char image[PATH_MAX];
    char template_text[FX_IX_LINE_MAX]; /* "" = the runtime's default */
} fx_ix_container_conf_t;

typedef struct {
    char path[PATH_MAX]; /* the file read; "" for text parsed from memory */
    char name[FX_NAME_MAX + 1];
    char credentials[PATH_MAX];    /* absolute or as given; readable when set */
    char address[FX_IX_FIELD_MAX]; /* as written */
    char address_ip[64];           /* what it names: the IPv4 address managers dial */
    int workers_per_node;          /* FX_IX_UNSET, FX_IX_WORKERS_AUTO, or 1.. */
    int prefetch;
    int64_t heartbeat_period_ms;
    int64_t heartbeat_threshold_ms;
    int64_t idle_time_ms;
    int64_t stop_grace_ms;
    fx_ix_provider_conf_t provider;
    fx_ix_container_conf_t *containers;
    size_t containers_count;
    fx_id_text_t *allowed_functions; /* NULL: every function may run */
    size_t allowed_functions_count;
    char routing[32];                   /* "" = the default, warming-aware */
    char container_strategy[8];         /* keep, lru; "" = the managers' default (lru) */
    int max_workers_per_container;      /* FX_IX_UNSET or 0.. (0: no cap) */
    int64_t container_idle_ms;          /* FX_IX_UNSET or 0.. (0: never retire) */
    int64_t container_start_timeout_ms; /* FX_IX_UNSET or 100.. */
    int queue_depth;                    /* FX_IX_UNSET (auto: fx_ix_flow.c) or 0.. */
} fx_ix_config_t;

/* Read and check the file at path. Caller owns the result
   (fx_ix_config_destroy); NULL with the sentence in err. */
fx_ix_config_t *fx_ix_config_load(const char *path, char *err, size_t errlen);

/* The same for len bytes of text; origin names the file in messages and
   anchors relative paths (NULL: "config", relative to the current folder). */
fx_ix_config_t *fx_ix_config_parse(const char *text, size_t len, const char *origin, char *err,
                                   size_t errlen);

/* Accepts NULL. */
void fx_ix_config_destroy(fx_ix_config_t **self_p);

/* A config with nothing set (every number FX_IX_UNSET). NULL only on OOM. */
fx_ix_config_t *fx_ix_config_empty(void);

const char *fx_ix_provider_name(fx_ix_provider_kind_t kind);

#endif
