/*  fx_cli_template.c: the config.yaml `fx endpoint configure` writes. It
    loads in fx-endpoint as written (the local provider, one block of one
    manager), and explains every key fx-endpoint takes
    (interchange/fx_ix_config.h) with an example, including a Slurm
    provider block to uncomment. cli/fx_cli_config_test.c parses it as is
    and with each commented block turned on. */
#include <stdio.h>
#include <string.h>

#include "fx_cli_template.h"

/* The text, with three holes: the name, the credentials path, the name again. */
static const char s_template[] =
    "# fx endpoint configuration for \"%s\".\n"
    "#\n"
    "# Written by `fx endpoint configure`; read by fx-endpoint when you run\n"
    "#   fx endpoint start NAME --detach     (or without --detach, in the foreground)\n"
    "# Every key is optional but credentials. A key commented out takes the default\n"
    "# its comment names. Durations: 500ms, 30s, 5m, 1h, or a bare number of seconds.\n"
    "# Paths: absolute, ~/... (your home), or relative to this file's folder.\n"
    "# A mistake (unknown key, wrong type, value out of range) stops fx-endpoint with\n"
    "# the line and the key it is about.\n"
    "\n"
    "# The endpoint's name, as `fx endpoints` shows it (default: this folder's name).\n"
    "name: \"%s\"\n"
    "\n"
    "# The broker credentials file of the user who owns this endpoint, written by\n"
    "# `fx user create USER --out FILE` where the broker runs.\n"
    "credentials: \"%s\"\n"
    "\n"
    "# The address compute nodes dial to reach this endpoint's managers' port: a\n"
    "# network interface name or one of this machine's IPv4 addresses. Default:\n"
    "# 127.0.0.1, enough for the local provider. On a cluster's login node, the\n"
    "# interface the compute nodes reach it on, for example:\n"
    "#address: ib0\n"
    "\n"
    "# Workers per node (each node runs one manager and this many workers): a\n"
    "# number, or auto = the node's cores (default without this key: 1).\n"
    "workers_per_node: auto\n"
    "\n"
    "# Tasks a manager takes beyond its busy workers, so the next one is there\n"
    "# when a worker frees up; more helps many short tasks (default 1).\n"
    "#prefetch: 1\n"
    "\n"
    "# Heartbeats with the broker and the managers: one every heartbeat_period;\n"
    "# a peer silent for heartbeat_threshold is lost and its tasks go back to the\n"
    "# queue (defaults 1s and 3s).\n"
    "#heartbeat_period: 1s\n"
    "#heartbeat_threshold: 3s\n"
    "\n"
    "# A block whose managers held no task for idle_time is ended (scale in), down\n"
    "# to provider.min_blocks (default 2m).\n"
    "#idle_time: 2m\n"
    "\n"
    "# On `fx endpoint stop`, how long running tasks may finish before the managers\n"
    "# are stopped; the broker requeues what is still running then (default 10s).\n"
    "#stop_grace: 10s\n"
    "\n"
    "# Where the managers run. A block is what the provider starts at once: here a\n"
    "# group of managers on this machine, on a cluster one pilot job; a block runs\n"
    "# one manager per node. The endpoint starts init_blocks blocks, keeps at least\n"
    "# min_blocks and at most max_blocks, adds blocks while tasks wait beyond what the\n"
    "# blocks can run, and ends blocks that stayed idle for idle_time.\n"
    "provider:\n"
    "  type: local                # local, slurm or pbs\n"
    "  nodes_per_block: 1         # local: managers per block\n"
    "  init_blocks: 1             # blocks started at once (default 1)\n"
    "  min_blocks: 1              # blocks kept while idle (default 0: none)\n"
    "  max_blocks: 1              # most blocks at once (default 1)\n"
    "  #worker_init:              # shell lines run before the managers start\n"
    "  #  - source ~/venv/bin/activate\n"
    "\n"
    "# On a Slurm cluster: delete the provider section above, remove the leading '#'\n"
    "# of the one below, and set address: above.\n"
    "#provider:\n"
    "#  type: slurm\n"
    "#  partition: debug          # the partition the pilot jobs are submitted to\n"
    "#  account: proj42           # the account they are charged to\n"
    "#  walltime: \"01:00:00\"      # each pilot job's time limit: HH:MM:SS or D-HH:MM:SS\n"
    "#  nodes_per_block: 1        # nodes per pilot job, one manager on each\n"
    "#  init_blocks: 0\n"
    "#  min_blocks: 0             # no job while there is no work\n"
    "#  max_blocks: 2             # at most two jobs at once\n"
    "#  launcher: srun            # starts a multi-node job's managers: srun or mpiexec\n"
    "#  scheduler_options:        # extra lines for the job script's header\n"
    "#    - \"#SBATCH --constraint=cpu\"\n"
    "#  worker_init:              # run in the job before the managers start\n"
    "#    - module load python/3.11\n"
    "#    - source ~/venv/bin/activate\n"
    "#  cmd_timeout: 30s          # bound on each sbatch, squeue, sacct, scancel\n"
    "#\n"
    "# PBS takes the same keys with type: pbs, queue: instead of partition:, and\n"
    "# cpus_per_node: (the ncpus of each node's select chunk); its launcher is mpiexec.\n"
    "\n"
    "# Containers a function may ask for, by name: how this endpoint launches them.\n"
    "# A runtime (none, bwrap, podman, docker, apptainer or singularity), an image\n"
    "# (required but for none and bwrap; written into the template's {image}) and a\n"
    "# launch template (default: the runtime's own), which must contain {command}\n"
    "# and may use {image}, {name}, {env}, {binds} and {fds}.\n"
    "#containers:\n"
    "#  torch:\n"
    "#    runtime: apptainer\n"
    "#    image: /images/torch.sif\n"
    "#    template: \"apptainer exec --nv {image} {command}\"\n"
    "\n"
    "# Which manager gets each task: warming-aware (the default: one with an idle\n"
    "# worker already started for the task's container, else one with a free slot),\n"
    "# random, or warm-wait (as warming-aware, but a task waits for a busy warm worker\n"
    "# when that is expected to be sooner than starting a new one).\n"
    "#routing: warming-aware\n"
    "\n"
    "# How the managers keep workers per container: keep (start workers only in free\n"
    "# slots) or lru (also retire the least recently used idle worker of another\n"
    "# container; the default); at most max_workers_per_container per container (0:\n"
    "# no cap); an idle one retired after container_idle_time (0: never); a start\n"
    "# given up after container_start_timeout.\n"
    "#container_strategy: lru\n"
    "#max_workers_per_container: 0\n"
    "#container_idle_time: 5m\n"
    "#container_start_timeout: 60s\n"
    "\n"
    "# Only these functions (ids, from `fx functions`) may run here; a task for any\n"
    "# other ends with an error naming it (default: every function of yours).\n"
    "#allowed_functions:\n"
    "#  - 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10\n";

/* text as a YAML double-quoted scalar's inside: \ and " escaped. */
static void s_quote(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text; *p && n + 3 < cap; p++) {
        if (*p == '\\' || *p == '"')
            out[n++] = '\\';
        out[n++] = *p;
    }
    out[n] = '\0';
}

int fx_cli_template(const char *name, const char *credentials, char *out, size_t cap)
{
    char quoted_name[2 * 128 + 1], quoted_creds[2 * 4096 + 1];
    s_quote(name, quoted_name, sizeof quoted_name);
    s_quote(credentials, quoted_creds, sizeof quoted_creds);
    int n = snprintf(out, cap, s_template, quoted_name, quoted_name, quoted_creds);
    return n >= 0 && (size_t) n < cap ? n : -1;
}
