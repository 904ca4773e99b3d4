/*  fx_ix_batch_test.c: the batch providers without a cluster.

        scripts     slurm (one node; srun and mpiexec for several) and pbs job
                    scripts; the node script run with a stand-in fx-manager:
                    every argument arrives whole, quotes included, and the
                    manager id ends in the node's index
        parsers     squeue, sacct (slurmdbd, and --completion when accounting
                    is disabled), sbatch; qstat -x -f, qsub: recorded outputs
        pbs         the pbs provider end to end over qsub, qstat and qdel
                    stand-ins replaying recorded outputs: queued, running,
                    cancelled; pbs.jobs kept and adopted by a new provider
        timeout     a squeue that hangs is killed after cmd_timeout while polls
                    return at once; the block keeps its last state; sacct
                    --completion for a job squeue has forgotten

    The stand-ins are shell scripts in a temporary folder put first on PATH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_file.h"
#include "fx_ix_batch.h"
#include "fx_log.h"

#include "fx_check.h"
#include "fx_testkit.h"

static char s_dir[64];  /* the temporary folder: stand-ins, DIR */
static char s_log[128]; /* this test's log lines */

static void s_write(const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    CHECK(fx_file_write_atomic(path, text, strlen(text), mode, 0) == 0, "write %s", path);
}

static char *s_read(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (fx_file_read(path, 1 << 20, &text, &len) != 0)
        return strdup("");
    return text;
}

static bool s_logged(const char *text)
{
    char *log = s_read(s_log);
    bool found = strstr(log, text) != NULL;
    free(log);
    return found;
}

static void s_launch(fx_ix_launch_t *l)
{
    memset(l, 0, sizeof *l);
    snprintf(l->fx_manager, sizeof l->fx_manager, "%s/it's fx-manager", s_dir);
    snprintf(l->interchange, sizeof l->interchange, "tcp://10.0.0.5:7000");
    snprintf(l->server_key, sizeof l->server_key, "a$b!c*d?e&f<g>h(i)j[k]l{m}n@o%%p#q/r=s^t");
    snprintf(l->key_file, sizeof l->key_file, "%s/manager.key", s_dir);
    snprintf(l->dir, sizeof l->dir, "%s", s_dir);
    l->workers = 4;
    l->prefetch = 1;
    l->heartbeat_ms = 1000;
    l->heartbeat_missed = 5;
}

static fx_ix_provider_conf_t s_conf(fx_ix_provider_kind_t kind)
{
    static char *init[] = {"module load python", "export FX_TEST=1"};
    static char *options[] = {"#SBATCH --constraint=cpu"};
    fx_ix_provider_conf_t c = {
        .kind = kind, .nodes_per_block = 1, .init_blocks = 0, .min_blocks = 0, .max_blocks = 2};
    c.worker_init = init;
    c.worker_init_count = 2;
    c.scheduler_options = options;
    c.scheduler_options_count = 1;
    c.cmd_timeout_ms = 5000;
    c.cpus_per_node = FX_IX_UNSET;
    return c;
}

/* ------------------------------------------------------------ scripts */

static void s_scripts(const fx_ix_batch_dialect_t *d, fx_ix_provider_conf_t *c, fx_ix_launch_t *l, int nodes,
                      fx_ix_text_t *job, fx_ix_text_t *node)
{
    fx_ix_block_t b = {.managers = nodes};
    snprintf(b.id, sizeof b.id, "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b0000");
    memset(job, 0, sizeof *job);
    memset(node, 0, sizeof *node);
    CHECK(fx_ix_batch_scripts(d, c, l, &b, "/shared/ep/blocks/B.node.sh", "/shared/ep/blocks/B.out", job,
                              node) == 0,
          "scripts made");
}

static void scenario_scripts(void *ctx)
{
    (void) ctx;
    fx_ix_launch_t l;
    s_launch(&l);
    fx_ix_provider_conf_t c = s_conf(FX_IX_PROVIDER_SLURM);
    snprintf(c.partition, sizeof c.partition, "debug");
    snprintf(c.account, sizeof c.account, "proj42");
    snprintf(c.walltime, sizeof c.walltime, "1-02:30:00");
    fx_ix_text_t job, node;

    s_scripts(&fx_ix_batch_slurm, &c, &l, 1, &job, &node);
    CHECK(strstr(job.data, "#SBATCH --job-name=fx-0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b0000\n#SBATCH --nodes=1\n"
                           "#SBATCH --ntasks-per-node=1\n"),
          "slurm: job name and one task per node:\n%s", job.data);
    CHECK(strstr(job.data, "#SBATCH --time=1-02:30:00\n") &&
              strstr(job.data, "#SBATCH --partition=debug\n") &&
              strstr(job.data, "#SBATCH --account=proj42\n") &&
              strstr(job.data, "#SBATCH --output=/shared/ep/blocks/B.out\n"),
          "slurm: walltime, partition, account, output");
    const char *opt = strstr(job.data, "#SBATCH --constraint=cpu\n"),
               *init = strstr(job.data, "module load python\n");
    const char *run = strstr(job.data, "FX_NODE_INDEX=0 exec /bin/sh '/shared/ep/blocks/B.node.sh'\n");
    CHECK(opt && init && run && opt < init && init < run,
          "slurm, one node: scheduler_options in the header, worker_init, then the manager itself:\n%s",
          job.data);
    fx_ix_text_free(&job);
    fx_ix_text_free(&node);

    s_scripts(&fx_ix_batch_slurm, &c, &l, 3, &job, &node);
    CHECK(strstr(job.data, "#SBATCH --nodes=3\n") &&
              strstr(job.data,
                     "exec srun --nodes=3 --ntasks=3 --ntasks-per-node=1 --kill-on-bad-exit=0 /bin/sh "
                     "'/shared/ep/blocks/B.node.sh'\n"),
          "slurm, three nodes: one manager per node through srun:\n%s", job.data);
    fx_ix_text_free(&job);
    fx_ix_text_free(&node);
    c.launcher = FX_IX_LAUNCH_MPIEXEC;
    s_scripts(&fx_ix_batch_slurm, &c, &l, 2, &job, &node);
    CHECK(strstr(job.data, "exec mpiexec -n 2 -ppn 1 /bin/sh '/shared/ep/blocks/B.node.sh'\n"),
          "launcher mpiexec:\n%s", job.data);
    fx_ix_text_free(&job);
    fx_ix_text_free(&node);

    fx_ix_provider_conf_t p = s_conf(FX_IX_PROVIDER_PBS);
    snprintf(p.queue, sizeof p.queue, "workq");
    snprintf(p.account, sizeof p.account, "proj42");
    snprintf(p.walltime, sizeof p.walltime, "1-02:30:00");
    p.cpus_per_node = 64;
    p.scheduler_options_count = 0;
    s_scripts(&fx_ix_batch_pbs, &p, &l, 2, &job, &node);
    CHECK(strstr(job.data, "#PBS -N fx-0b7c0e4e\n") && strstr(job.data, "#PBS -l select=2:ncpus=64\n") &&
              strstr(job.data, "#PBS -l walltime=26:30:00\n") && strstr(job.data, "#PBS -q workq\n") &&
              strstr(job.data, "#PBS -A proj42\n") &&
              strstr(job.data, "#PBS -j oe\n#PBS -o /shared/ep/blocks/B.out\n"),
          "pbs: name, select with ncpus, walltime in hours, queue, account, output:\n%s", job.data);
    CHECK(strstr(job.data, "exec mpiexec -n 2 -ppn 1 /bin/sh '/shared/ep/blocks/B.node.sh'\n"),
          "pbs, two nodes: mpiexec by default");
    fx_ix_text_free(&job);

    /* the node script, run: a stand-in fx-manager prints its arguments,
       the containers' flags among them (fx_ix_launch_flags) */
    char *flags[] = {"--container-strategy", "keep", "--container-template",
                     "t=apptainer exec --bind '/a b' \"{image}\" {command}", NULL};
    l.flags = flags;
    fx_ix_text_free(&node);
    s_scripts(&fx_ix_batch_pbs, &p, &l, 2, &job, &node);
    fx_ix_text_free(&job);
    s_write("it's fx-manager", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n", 0755);
    char path[128], cmd[512];
    snprintf(path, sizeof path, "%s/node.sh", s_dir);
    CHECK(fx_file_write_atomic(path, node.data, node.len, 0755, 0) == 0, "node script written");
    fx_ix_text_free(&node);
    snprintf(cmd, sizeof cmd, "env -u SLURM_PROCID PMI_RANK=3 /bin/sh %s > %s/node.out 2>&1", path, s_dir);
    CHECK(system(cmd) == 0, "the node script runs");
    snprintf(path, sizeof path, "%s/node.out", s_dir);
    char *out = s_read(path);
    CHECK(strstr(out, "--server-key\na$b!c*d?e&f<g>h(i)j[k]l{m}n@o%p#q/r=s^t\n") &&
              strstr(out, "--interchange\ntcp://10.0.0.5:7000\n") &&
              strstr(out, "--workers\n4\n--prefetch\n1\n") && strstr(out, "--heartbeat-missed\n5\n") &&
              strstr(out, "--id\n0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b0003\n") &&
              strstr(out, "--container-strategy\nkeep\n--container-template\n"
                          "t=apptainer exec --bind '/a b' \"{image}\" {command}\n"),
          "every argument whole (a key full of shell characters, a path with a quote); id of node 3:\n%s",
          out);
    free(out);

    l.workers = FX_IX_WORKERS_AUTO;
    s_scripts(&fx_ix_batch_slurm, &c, &l, 1, &job, &node);
    snprintf(path, sizeof path, "%s/node.sh", s_dir);
    CHECK(fx_file_write_atomic(path, node.data, node.len, 0755, 0) == 0, "node script written");
    snprintf(cmd, sizeof cmd, "SLURM_CPUS_ON_NODE=7 FX_NODE_INDEX=0 /bin/sh %s > %s/node.out 2>&1", path,
             s_dir);
    CHECK(system(cmd) == 0, "the node script runs");
    snprintf(path, sizeof path, "%s/node.out", s_dir);
    out = s_read(path);
    CHECK(strstr(out, "--workers\n7\n") && strstr(out, "--id\n0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b0000\n"),
          "workers_per_node auto: the node's cores as Slurm gives them:\n%s", out);
    free(out);

    /* no prefetch given: 2 x the node's workers, at least 32, in the script
       as in C (fx_ix_launch_prefetch) */
    fx_ix_text_free(&job);
    fx_ix_text_free(&node);
    l.prefetch = FX_IX_PREFETCH_AUTO;
    for (int i = 0; i < 2; i++) {
        const char *cores = i == 0 ? "7" : "20";
        int want = fx_ix_launch_prefetch(
            &(fx_ix_launch_t){.workers = atoi(cores), .prefetch = FX_IX_PREFETCH_AUTO}, atoi(cores));
        s_scripts(&fx_ix_batch_slurm, &c, &l, 1, &job, &node);
        snprintf(path, sizeof path, "%s/node.sh", s_dir);
        CHECK(fx_file_write_atomic(path, node.data, node.len, 0755, 0) == 0, "node script written");
        fx_ix_text_free(&job);
        fx_ix_text_free(&node);
        snprintf(cmd, sizeof cmd, "SLURM_CPUS_ON_NODE=%s FX_NODE_INDEX=0 /bin/sh %s > %s/node.out 2>&1",
                 cores, path, s_dir);
        CHECK(system(cmd) == 0, "the node script runs");
        snprintf(path, sizeof path, "%s/node.out", s_dir);
        out = s_read(path);
        char want_text[64];
        snprintf(want_text, sizeof want_text, "--workers\n%s\n--prefetch\n%d\n", cores, want);
        CHECK(want == (i == 0 ? 32 : 40) && strstr(out, want_text),
              "prefetch unset, %s cores: --prefetch %d:\n%s", cores, want, out);
        free(out);
    }
    l.prefetch = 1;
    fx_ix_text_free(&job);
    fx_ix_text_free(&node);
}

/* ------------------------------------------------------------ parsers */

typedef struct {
    int count;
    char ids[8][32];
    fx_ix_block_state_t states[8];
    char reasons[8][256];
} s_found_t;

static void s_found(void *ctx, const char *job_id, fx_ix_block_state_t state, const char *reason)
{
    s_found_t *f = ctx;
    if (f->count == 8)
        return;
    snprintf(f->ids[f->count], sizeof f->ids[0], "%s", job_id);
    f->states[f->count] = state;
    snprintf(f->reasons[f->count], sizeof f->reasons[0], "%s", reason);
    f->count++;
}

static void scenario_parsers(void *ctx)
{
    (void) ctx;
    char id[64];
    CHECK(fx_ix_batch_slurm.parse_submit("1234;cluster1\n", id, sizeof id) == 0 && strcmp(id, "1234") == 0,
          "sbatch --parsable: the id before ';'");
    CHECK(fx_ix_batch_slurm.parse_submit("sbatch: error: Batch job submission failed\n", id, sizeof id) == -1,
          "no id in an error");
    /* squeue --noheader --states=all --format=%A|%T|%r, recorded */
    s_found_t f = {0};
    fx_ix_batch_slurm.parse_status("101|PENDING|Priority\n"
                                   "102|RUNNING|None\n"
                                   "103|PENDING|JobHeldUser\n"
                                   "104|PENDING|PartitionNodeLimit\n"
                                   "105|COMPLETING|None\n"
                                   "106|TIMEOUT|TimeLimit\n"
                                   "107|CANCELLED|None\n"
                                   "108|NODE_FAIL|None\n",
                                   s_found, &f);
    fx_ix_block_state_t want[] = {FX_IX_BLOCK_PENDING, FX_IX_BLOCK_RUNNING, FX_IX_BLOCK_HELD,
                                  FX_IX_BLOCK_HELD,    FX_IX_BLOCK_RUNNING, FX_IX_BLOCK_DONE,
                                  FX_IX_BLOCK_DONE,    FX_IX_BLOCK_FAILED};
    CHECK(f.count == 8, "eight jobs read (%d)", f.count);
    for (int i = 0; i < f.count && i < 8; i++)
        CHECK(f.states[i] == want[i], "job %s: %s, want %s (%s)", f.ids[i],
              fx_ix_block_state_name(f.states[i]), fx_ix_block_state_name(want[i]), f.reasons[i]);
    CHECK(strstr(f.reasons[2], "JobHeldUser") && strstr(f.reasons[3], "can never start") &&
              strstr(f.reasons[5], "walltime"),
          "the reasons say why: %s / %s / %s", f.reasons[2], f.reasons[3], f.reasons[5]);
    /* sacct: with slurmdbd, and without (then --completion) */
    memset(&f, 0, sizeof f);
    CHECK(fx_ix_batch_slurm.parse_history(0, 1, "", "sacct: error: Slurm accounting storage is disabled\n",
                                          s_found, &f) == 1,
          "accounting disabled: ask sacct --completion next");
    fx_ix_argv_t a = {0};
    char *ids[2] = {"7", "8"};
    fx_ix_batch_slurm.history_argv(1, ids, 2, &a);
    CHECK(a.argc == 6 && strcmp(a.argv[1], "--completion") == 0 && strcmp(a.argv[5], "--jobs=7,8") == 0,
          "sacct --completion ... --jobs=7,8");
    CHECK(fx_ix_batch_slurm.parse_history(1, 0, "7|COMPLETED|0:0\n8|FAILED|3:0\n8.batch|FAILED|3:0\n", "",
                                          s_found, &f) == 1,
          "read");
    CHECK(f.count == 2 && f.states[0] == FX_IX_BLOCK_DONE && f.states[1] == FX_IX_BLOCK_FAILED &&
              strstr(f.reasons[1], "exit code 3:0"),
          "sacct: COMPLETED is DONE, FAILED with its exit code, steps skipped (%d: %s)", f.count,
          f.reasons[1]);
    memset(&f, 0, sizeof f);
    fx_ix_batch_slurm.parse_history(0, 0, "9|CANCELLED by 0|0:0\n", "", s_found, &f);
    CHECK(f.count == 1 && f.states[0] == FX_IX_BLOCK_DONE, "CANCELLED by UID is DONE");
    CHECK(fx_ix_batch_slurm.parse_history(1, 1, "", "sacct: error: something else\n", s_found, &f) == -1,
          "no history at all: -1");

    /* PBS, recorded */
    CHECK(fx_ix_batch_pbs.parse_submit("4242.pbs01\n", id, sizeof id) == 0 && strcmp(id, "4242.pbs01") == 0,
          "qsub prints the job id");
    CHECK(fx_ix_batch_pbs.parse_submit("qsub: Unknown queue\n", id, sizeof id) == -1, "no id in an error");
    memset(&f, 0, sizeof f);
    fx_ix_batch_pbs.parse_status("Job Id: 11.pbs01\n"
                                 "    Job_Name = fx-0b7c0e4e\n"
                                 "    job_state = Q\n"
                                 "    queue = workq\n"
                                 "\n"
                                 "Job Id: 12.pbs01\n"
                                 "    job_state = R\n"
                                 "\n"
                                 "Job Id: 13.pbs01\n"
                                 "    job_state = H\n"
                                 "    comment = job held, too many failed attempts to run\n"
                                 "\n"
                                 "Job Id: 14.pbs01\n"
                                 "    job_state = F\n"
                                 "    Exit_status = 0\n"
                                 "\n"
                                 "Job Id: 15.pbs01\n"
                                 "    job_state = F\n"
                                 "    Exit_status = 271\n"
                                 "\n"
                                 "Job Id: 16.pbs01\n"
                                 "    job_state = F\n"
                                 "    Exit_status = -29\n"
                                 "\n"
                                 "Job Id: 17.pbs01\n"
                                 "    job_state = F\n"
                                 "    Exit_status = 3\n",
                                 s_found, &f);
    fx_ix_block_state_t pwant[] = {FX_IX_BLOCK_PENDING, FX_IX_BLOCK_RUNNING, FX_IX_BLOCK_HELD,
                                   FX_IX_BLOCK_DONE,    FX_IX_BLOCK_DONE,    FX_IX_BLOCK_DONE,
                                   FX_IX_BLOCK_FAILED};
    CHECK(f.count == 7, "seven PBS jobs read (%d)", f.count);
    for (int i = 0; i < f.count && i < 7; i++)
        CHECK(f.states[i] == pwant[i], "PBS job %s: %s, want %s (%s)", f.ids[i],
              fx_ix_block_state_name(f.states[i]), fx_ix_block_state_name(pwant[i]), f.reasons[i]);
    CHECK(strcmp(f.ids[0], "11.pbs01") == 0 && strstr(f.reasons[2], "too many failed attempts") &&
              strstr(f.reasons[4], "signal 15") && strstr(f.reasons[5], "walltime") &&
              strstr(f.reasons[6], "Exit_status 3"),
          "PBS reasons: %s / %s / %s / %s", f.reasons[2], f.reasons[4], f.reasons[5], f.reasons[6]);
}

/* ------------------------------------------------------------ the providers, with stand-ins */

/* Polls until block reaches state or the deadline; every poll must
   return at once (no scheduler command is waited for). */
static bool s_until(const fx_ix_provider_ops_t *ops, void *impl, fx_ix_block_t *b, fx_ix_block_state_t state,
                    int64_t ms)
{
    int64_t deadline = fx_test_deadline(ms);
    fx_ix_block_t *blocks[1] = {b};
    while (fx_test_now_ms() < deadline) {
        int64_t before = fx_now_ms();
        ops->poll(impl, blocks, 1, fx_now_ms());
        CHECK(fx_now_ms() - before < 500, "a poll returns at once (%lld ms)",
              (long long) (fx_now_ms() - before));
        if (b->state == state)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

static void scenario_pbs(void *ctx)
{
    (void) ctx;
    /* qsub prints an id; qstat replays a record whose state qdel and the
       test change; qdel records what it was asked */
    s_write("qsub",
            "#!/bin/sh\ncp \"$1\" \"$(dirname \"$0\")/submitted.sh\"\necho Q > \"$(dirname \"$0\")/state\"\n"
            "echo 4242.pbs01\n",
            0755);
    s_write("qstat",
            "#!/bin/sh\nd=$(dirname \"$0\")\necho \"$@\" > \"$d/qstat.args\"\nread st ex < \"$d/state\"\n"
            "printf 'Job Id: 4242.pbs01\\n    Job_Name = fx-x\\n    job_state = %s\\n' \"$st\"\n"
            "[ -n \"$ex\" ] && printf '    Exit_status = %s\\n' \"$ex\"\n"
            "echo 'qstat: Unknown Job Id 9.pbs01' >&2\nexit 35\n",
            0755);
    s_write("qdel",
            "#!/bin/sh\nd=$(dirname \"$0\")\necho \"$@\" > \"$d/qdel.args\"\necho 'F 271' > \"$d/state\"\n",
            0755);
    fx_ix_launch_t l;
    s_launch(&l);
    fx_ix_provider_conf_t c = s_conf(FX_IX_PROVIDER_PBS);
    char err[512] = "";
    void *pbs = fx_ix_provider_batch.create(&c, &l, err, sizeof err);
    REQUIRE(pbs, "the pbs provider finds qsub on PATH: %s", err);
    fx_ix_block_t b = {.managers = 1};
    fx_ix_block_new_id(b.id);
    CHECK(fx_ix_provider_batch.submit(pbs, &b, fx_now_ms()) == 0 && b.state == FX_IX_BLOCK_SUBMITTING,
          "submitted: SUBMITTING until qsub answers");
    CHECK(s_until(&fx_ix_provider_batch, pbs, &b, FX_IX_BLOCK_PENDING, 10000) &&
              strcmp(b.job_id, "4242.pbs01") == 0,
          "qsub's id; qstat says Q: PENDING (%s, %s)", fx_ix_block_state_name(b.state), b.job_id);
    char path[256];
    snprintf(path, sizeof path, "%s/submitted.sh", s_dir);
    char *text;
    text = s_read(path);
    CHECK(strstr(text, "#PBS -l select=1\n") && strstr(text, "module load python\n"),
          "the script qsub got:\n%s", text);
    free(text);
    snprintf(path, sizeof path, "%s/pbs.jobs", s_dir);
    text = s_read(path);
    char line[128];
    snprintf(line, sizeof line, "%s 4242.pbs01\n", b.id);
    CHECK(strstr(text, line), "pbs.jobs lists the job for the next run:\n%s", text);
    free(text);

    s_write("state", "R\n", 0644);
    CHECK(s_until(&fx_ix_provider_batch, pbs, &b, FX_IX_BLOCK_RUNNING, 10000), "R: RUNNING (%s)",
          fx_ix_block_state_name(b.state));
    snprintf(path, sizeof path, "%s/qstat.args", s_dir);
    text = s_read(path);
    CHECK(strcmp(text, "-x -f 4242.pbs01\n") == 0, "qstat -x -f ID (%s)", text);
    free(text);

    /* a new provider (an endpoint restarted) adopts the job */
    void *again = fx_ix_provider_batch.create(&c, &l, err, sizeof err);
    fx_ix_block_t adopted[4];
    CHECK(again && fx_ix_provider_batch.adopt(again, adopted, 4) == 1 && strcmp(adopted[0].id, b.id) == 0 &&
              strcmp(adopted[0].job_id, "4242.pbs01") == 0,
          "adopted from pbs.jobs");
    if (again)
        fx_ix_provider_batch.destroy(again);

    fx_ix_provider_batch.cancel(pbs, &b, fx_now_ms());
    CHECK(s_until(&fx_ix_provider_batch, pbs, &b, FX_IX_BLOCK_DONE, 10000) && strstr(b.reason, "signal 15"),
          "qdel; qstat says F, Exit_status 271: DONE (%s: %s)", fx_ix_block_state_name(b.state), b.reason);
    snprintf(path, sizeof path, "%s/qdel.args", s_dir);
    text = s_read(path);
    CHECK(strcmp(text, "4242.pbs01\n") == 0, "qdel ID (%s)", text);
    free(text);
    snprintf(path, sizeof path, "%s/pbs.jobs", s_dir);
    text = s_read(path);
    CHECK(!strstr(text, b.id), "an ended job leaves pbs.jobs:\n%s", text);
    free(text);

    /* qsub fails: FAILED with what it said */
    s_write("qsub", "#!/bin/sh\necho 'qsub: Unknown queue' >&2\nexit 170\n", 0755);
    fx_ix_block_t bad = {.managers = 1};
    fx_ix_block_new_id(bad.id);
    fx_ix_provider_batch.submit(pbs, &bad, fx_now_ms());
    CHECK(s_until(&fx_ix_provider_batch, pbs, &bad, FX_IX_BLOCK_FAILED, 10000) &&
              strstr(bad.reason, "exited with status 170: qsub: Unknown queue"),
          "qsub's error is the reason: %s", bad.reason);
    fx_ix_provider_batch.destroy(pbs);
done:
    return;
}

static void scenario_timeout(void *ctx)
{
    (void) ctx;
    s_write("sbatch", "#!/bin/sh\necho '77;cluster'\n", 0755);
    s_write("squeue", "#!/bin/sh\nexec sleep 30\n", 0755);
    s_write("scancel", "#!/bin/sh\nexit 0\n", 0755);
    fx_ix_launch_t l;
    s_launch(&l);
    fx_ix_provider_conf_t c = s_conf(FX_IX_PROVIDER_SLURM);
    c.cmd_timeout_ms = 1000;
    char err[512] = "";
    void *slurm = fx_ix_provider_batch.create(&c, &l, err, sizeof err);
    REQUIRE(slurm, "the slurm provider finds sbatch on PATH: %s", err);
    fx_ix_block_t b = {.managers = 1};
    fx_ix_block_new_id(b.id);
    CHECK(fx_ix_provider_batch.submit(slurm, &b, fx_now_ms()) == 0, "submitted");
    CHECK(s_until(&fx_ix_provider_batch, slurm, &b, FX_IX_BLOCK_PENDING, 10000) &&
              strcmp(b.job_id, "77") == 0,
          "sbatch's id (%s)", b.job_id);
    int64_t start = fx_now_ms();
    fx_ix_block_t *blocks[1] = {&b};
    while (!s_logged("did not answer within 1000 ms") && fx_now_ms() - start < fx_test_ms(10000)) {
        fx_ix_provider_batch.poll(slurm, blocks, 1, fx_now_ms());
        usleep(20 * 1000);
    }
    int64_t took = fx_now_ms() - start;
    CHECK(s_logged("squeue --noheader --states=all --format=%A|%T|%r --jobs=77 did not answer within 1000 ms "
                   "(killed)"),
          "the hung squeue is killed after cmd_timeout, and said so");
    CHECK(took < fx_test_ms(4000), "within about a second, not squeue's 30 (%lld ms)", (long long) took);
    CHECK(b.state == FX_IX_BLOCK_PENDING, "the block keeps its last known state (%s)",
          fx_ix_block_state_name(b.state));

    /* squeue forgets the job; sacct without slurmdbd says so; --completion knows */
    s_write("squeue", "#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n",
            0755);
    s_write(
        "sacct",
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = --completion ] && { echo '77|COMPLETED|0:0'; exit 0; }; "
        "done\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n",
        0755);
    CHECK(s_until(&fx_ix_provider_batch, slurm, &b, FX_IX_BLOCK_DONE, 20000),
          "sacct --completion: DONE (%s: %s)", fx_ix_block_state_name(b.state), b.reason);
    CHECK(strstr(b.reason, "COMPLETED") && strstr(b.reason, "from sacct"), "the reason: %s", b.reason);
    CHECK(s_logged("answers again"), "squeue's recovery is said");
    fx_ix_provider_batch.destroy(slurm);
done:
    return;
}

int main(int argc, char **argv)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/fx-batch-test-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    snprintf(s_log, sizeof s_log, "%s/test.log", s_dir);
    fx_log_open(s_log);
    char path[8192];
    snprintf(path, sizeof path, "%s:%s", s_dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    static const fx_scenario_t scenarios[] = {
        {"scripts", scenario_scripts, false},
        {"parsers", scenario_parsers, false},
        {"pbs", scenario_pbs, false},
        {"timeout", scenario_timeout, false},
    };
    int rc = fx_test_main("fx_ix_batch_test", argc - 1, argv + 1, scenarios,
                          sizeof scenarios / sizeof scenarios[0], NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (rc == 0 && system(cmd) != 0)
        rc = 1;
    else if (rc != 0)
        fprintf(stderr, "  (kept %s for a look)\n", s_dir);
    return rc;
}
