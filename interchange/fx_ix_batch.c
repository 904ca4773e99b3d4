/*  fx_ix_batch.c: a provider over a batch scheduler's dialect
    (fx_ix_batch.h): the job scripts, the jobs of this endpoint's blocks,
    and the scheduler commands in flight (one status query at a time,
    submissions and cancels side by side). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_file.h"
#include "fx_ix_batch.h"
#include "fx_ix_command.h"
#include "fx_log.h"

#define S_JOBS FX_IX_BLOCKS_MAX
#define S_COMMANDS 64 /* submissions and cancels in flight */

/* ------------------------------------------------------------ text and argv */

void fx_ix_text_add(fx_ix_text_t *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->data && t->len + (size_t) n < t->cap) {
            t->len += (size_t) n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t) n;
        char *grown = realloc(t->data, cap);
        if (!grown) {
            t->oom = true;
            return;
        }
        t->data = grown;
        t->cap = cap;
        if (t->len == 0)
            t->data[0] = '\0';
    }
}

void fx_ix_text_quoted(fx_ix_text_t *t, const char *text)
{
    fx_ix_text_add(t, "'");
    for (const char *p = text; *p; p++)
        if (*p == '\'')
            fx_ix_text_add(t, "'\\''");
        else
            fx_ix_text_add(t, "%c", *p);
    fx_ix_text_add(t, "'");
}

void fx_ix_text_free(fx_ix_text_t *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

void fx_ix_argv_add(fx_ix_argv_t *a, const char *fmt, ...)
{
    if (a->full || a->argc + 1 >= (int) (sizeof a->argv / sizeof a->argv[0])) {
        a->full = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->buf + a->used, sizeof a->buf - a->used, fmt, ap);
    va_end(ap);
    if (n < 0 || a->used + (size_t) n + 1 > sizeof a->buf) {
        a->full = true;
        return;
    }
    a->argv[a->argc++] = a->buf + a->used;
    a->argv[a->argc] = NULL;
    a->used += (size_t) n + 1;
}

/* ------------------------------------------------------------ scripts */

int fx_ix_batch_scripts(const fx_ix_batch_dialect_t *d, const fx_ix_provider_conf_t *conf,
                        const fx_ix_launch_t *l, const fx_ix_block_t *block, const char *node_path,
                        const char *output, fx_ix_text_t *job, fx_ix_text_t *node)
{
    int nodes = block->managers > 0 ? block->managers : 1;
    fx_ix_launch_kind_t launcher = conf->launcher != FX_IX_LAUNCH_UNSET ? conf->launcher : d->launcher;
    /* the job script */
    fx_ix_text_add(job, "#!/bin/bash\n");
    d->header(conf, block, output, job);
    for (size_t i = 0; i < conf->scheduler_options_count; i++)
        fx_ix_text_add(job, "%s\n", conf->scheduler_options[i]);
    fx_ix_text_add(job, "\n# fx pilot job for block %s (%d node(s)): one fx-manager per node.\n", block->id,
                   nodes);
    fx_ix_text_add(job, "# Written by fx-endpoint; a new one is written for every block.\n");
    for (size_t i = 0; i < conf->worker_init_count; i++)
        fx_ix_text_add(job, "%s\n", conf->worker_init[i]);
    if (nodes == 1)
        fx_ix_text_add(job, "FX_NODE_INDEX=0 exec /bin/sh ");
    else if (launcher == FX_IX_LAUNCH_SRUN)
        fx_ix_text_add(job,
                       "exec srun --nodes=%d --ntasks=%d --ntasks-per-node=1 --kill-on-bad-exit=0 /bin/sh ",
                       nodes, nodes);
    else
        fx_ix_text_add(job, "exec mpiexec -n %d -ppn 1 /bin/sh ", nodes);
    fx_ix_text_quoted(job, node_path);
    fx_ix_text_add(job, "\n");

    /* what runs on each node */
    char prefix[FX_ID_LEN + 1];
    memcpy(prefix, block->id, FX_ID_LEN - 4);
    prefix[FX_ID_LEN - 4] = '\0';
    fx_ix_text_add(node, "#!/bin/sh\n# one fx-manager of block %s on this node (written by fx-endpoint)\n",
                   block->id);
    /* the node's index: mpiexec's rank variables first (a step inside a
       Slurm job inherits SLURM_PROCID=0 from the batch script), then srun's */
    fx_ix_text_add(
        node,
        "rank=${FX_NODE_INDEX:-${PMI_RANK:-${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}}}\n");
    if (l->workers == FX_IX_WORKERS_AUTO)
        fx_ix_text_add(node, "workers=%s\n[ \"$workers\" -gt %d ] 2>/dev/null && workers=%d\n", d->cores,
                       FX_WORKERS_PER_MANAGER_MAX, FX_WORKERS_PER_MANAGER_MAX);
    else
        fx_ix_text_add(node, "workers=%d\n", l->workers);
    if (l->prefetch == FX_IX_PREFETCH_AUTO) /* fx_ix_launch_prefetch, for the node's workers */
        fx_ix_text_add(node,
                       "prefetch=$((workers * 2))\n[ \"$prefetch\" -lt %d ] && prefetch=%d\n"
                       "[ \"$prefetch\" -gt %d ] && prefetch=%d\n",
                       FX_IX_PREFETCH_MIN, FX_IX_PREFETCH_MIN, FX_BATCH_MAX, FX_BATCH_MAX);
    else
        fx_ix_text_add(node, "prefetch=%d\n", l->prefetch);
    fx_ix_text_add(node, "exec ");
    fx_ix_text_quoted(node, l->fx_manager);
    fx_ix_text_add(node, " --interchange ");
    fx_ix_text_quoted(node, l->interchange);
    fx_ix_text_add(node, " --server-key ");
    fx_ix_text_quoted(node, l->server_key);
    fx_ix_text_add(node, " --key-file ");
    fx_ix_text_quoted(node, l->key_file);
    fx_ix_text_add(node, " \\\n    --workers \"$workers\" --prefetch \"$prefetch\" --heartbeat-ms %d",
                   l->heartbeat_ms);
    if (l->heartbeat_missed > 0 && l->heartbeat_missed != FX_HEARTBEAT_MISSED_DEFAULT)
        fx_ix_text_add(node, " --heartbeat-missed %d", l->heartbeat_missed);
    for (char **flag = l->flags; flag && *flag; flag++) { /* the containers' (fx_ix_launch_flags) */
        fx_ix_text_add(node, strncmp(*flag, "--", 2) == 0 ? " \\\n    " : " "); /* a flag, then its value */
        fx_ix_text_quoted(node, *flag);
    }
    fx_ix_text_add(node, " \\\n    --id \"%s$(printf %%04x $((rank %% 65536)))\"\n", prefix);
    return job->oom || node->oom ? -1 : 0;
}

/* ------------------------------------------------------------ the provider */

typedef struct {
    bool used;
    fx_id_text_t block;
    char job_id[FX_IX_JOB_ID_MAX];
    fx_ix_block_state_t state;
    char reason[FX_IX_REASON_MAX];
    int unknown;        /* polls in a row in which nothing listed it */
    bool listed;        /* by the command being read */
    bool cancel_wanted; /* cancelled before its job id was known */
} s_job_t;

typedef struct {
    fx_ix_command_t *cmd;
    fx_id_text_t block; /* a submission's block; "" for a cancel */
} s_pending_t;

typedef struct {
    const fx_ix_batch_dialect_t *d;
    const fx_ix_provider_conf_t *conf;
    const fx_ix_launch_t *launch;
    int64_t timeout_ms;
    s_job_t jobs[S_JOBS];
    s_pending_t pending[S_COMMANDS];
    fx_ix_command_t *status;  /* the status query in flight */
    fx_ix_command_t *history; /* the history query in flight */
    int history_mode;         /* -1: none to ask */
    int64_t next_poll;
    bool status_failing;     /* said once per streak */
    char dir[PATH_MAX + 16]; /* DIR/blocks */
    char jobs_path[PATH_MAX + 64];
} s_batch_t;

static s_job_t *s_job_by_block(s_batch_t *self, const char *block)
{
    for (int i = 0; i < S_JOBS; i++)
        if (self->jobs[i].used && strcmp(self->jobs[i].block, block) == 0)
            return &self->jobs[i];
    return NULL;
}

static s_job_t *s_job_by_id(s_batch_t *self, const char *job_id)
{
    for (int i = 0; i < S_JOBS; i++)
        if (self->jobs[i].used && self->jobs[i].job_id[0] && strcmp(self->jobs[i].job_id, job_id) == 0)
            return &self->jobs[i];
    return NULL;
}

static s_job_t *s_job_new(s_batch_t *self, const char *block)
{
    for (int i = 0; i < S_JOBS; i++)
        if (!self->jobs[i].used) {
            memset(&self->jobs[i], 0, sizeof self->jobs[i]);
            self->jobs[i].used = true;
            memcpy(self->jobs[i].block, block, sizeof self->jobs[i].block);
            return &self->jobs[i];
        }
    return NULL;
}

/* DIR/<name>.jobs: the jobs of blocks not ended, for the next run. */
static void s_save_jobs(s_batch_t *self)
{
    fx_ix_text_t t = {0};
    fx_ix_text_add(&t, "# fx-endpoint's %s jobs: block job (adopted by the next start)\n", self->d->name);
    for (int i = 0; i < S_JOBS; i++)
        if (self->jobs[i].used && self->jobs[i].job_id[0] && !fx_ix_block_ended(self->jobs[i].state))
            fx_ix_text_add(&t, "%s %s\n", self->jobs[i].block, self->jobs[i].job_id);
    if (t.oom || fx_file_write_atomic(self->jobs_path, t.data, t.len, 0600, 1) != 0)
        fx_warn("cannot write %s (%s): the %s jobs of this run will not be adopted after a restart",
                self->jobs_path, t.oom ? "out of memory" : strerror(errno), self->d->name);
    fx_ix_text_free(&t);
}

/* Start a command: a submission (block) or a cancel (block NULL). */
static bool s_start(s_batch_t *self, fx_ix_argv_t *a, const char *block, int64_t now, char *err,
                    size_t errlen)
{
    if (a->full) {
        snprintf(err, errlen, "the %s command line is too long", self->d->name);
        return false;
    }
    for (int i = 0; i < S_COMMANDS; i++)
        if (!self->pending[i].cmd) {
            self->pending[i].cmd = fx_ix_command_start(a->argv, self->timeout_ms, now, err, errlen);
            if (!self->pending[i].cmd)
                return false;
            snprintf(self->pending[i].block, sizeof self->pending[i].block, "%s", block ? block : "");
            return true;
        }
    snprintf(err, errlen, "%d %s commands are running already; try again later", S_COMMANDS, self->d->name);
    return false;
}

static void s_cancel_jobs(s_batch_t *self, char *const *ids, size_t n, int64_t now)
{
    if (!n)
        return;
    fx_ix_argv_t a = {0};
    self->d->cancel_argv(ids, n, &a);
    char err[256];
    if (!s_start(self, &a, NULL, now, err, sizeof err))
        fx_warn("cannot cancel %zu %s job(s): %s", n, self->d->name, err);
    self->next_poll = now; /* see the end soon */
}

/* ------------------------------------------------------------ submit */

static int s_write(const char *path, const fx_ix_text_t *t, mode_t mode)
{
    return fx_file_write_atomic(path, t->data, t->len, mode, 0);
}

static int s_submit(void *impl, fx_ix_block_t *block, int64_t now)
{
    s_batch_t *self = impl;
    char script[PATH_MAX + 64], node[PATH_MAX + 64], output[PATH_MAX + 64], err[512];
    snprintf(script, sizeof script, "%s/%s.sh", self->dir, block->id);
    snprintf(node, sizeof node, "%s/%s.node.sh", self->dir, block->id);
    snprintf(output, sizeof output, "%s/%s.out", self->dir, block->id);
    fx_ix_text_t job = {0}, per_node = {0};
    s_job_t *j = s_job_new(self, block->id);
    int rc = -1;
    if (!j)
        snprintf(block->reason, sizeof block->reason, "more than %d %s jobs", S_JOBS, self->d->name);
    else if (fx_ix_batch_scripts(self->d, self->conf, self->launch, block, node, output, &job, &per_node) !=
             0)
        snprintf(block->reason, sizeof block->reason, "out of memory writing the job script");
    else if (s_write(node, &per_node, 0700) != 0 || s_write(script, &job, 0700) != 0)
        snprintf(block->reason, sizeof block->reason, "cannot write %.400s: %s", script, strerror(errno));
    else {
        fx_ix_argv_t a = {0};
        self->d->submit_argv(script, &a);
        if (s_start(self, &a, block->id, now, err, sizeof err))
            rc = 0;
        else
            snprintf(block->reason, sizeof block->reason, "%s", err);
    }
    fx_ix_text_free(&job);
    fx_ix_text_free(&per_node);
    if (rc != 0) {
        block->state = FX_IX_BLOCK_FAILED;
        if (j)
            j->used = false;
        return -1;
    }
    j->state = block->state = FX_IX_BLOCK_SUBMITTING;
    return 0;
}

/* ------------------------------------------------------------ poll */

static void s_found(void *ctx, const char *job_id, fx_ix_block_state_t state, const char *reason)
{
    s_job_t *j = s_job_by_id(ctx, job_id);
    if (!j || fx_ix_block_ended(j->state))
        return;
    j->state = state;
    j->listed = true;
    j->unknown = 0;
    snprintf(j->reason, sizeof j->reason, "%s", reason ? reason : "");
}

/* Submissions and cancels that ended. */
static void s_reap_pending(s_batch_t *self, int64_t now)
{
    bool changed = false;
    for (int i = 0; i < S_COMMANDS; i++) {
        s_pending_t *p = &self->pending[i];
        if (!p->cmd || !fx_ix_command_done(p->cmd, now))
            continue;
        char why[768];
        bool ok = fx_ix_command_status(p->cmd) == 0;
        s_job_t *j = p->block[0] ? s_job_by_block(self, p->block) : NULL;
        if (j && ok && self->d->parse_submit(fx_ix_command_out(p->cmd), j->job_id, sizeof j->job_id) == 0) {
            j->state = FX_IX_BLOCK_PENDING;
            fx_info("block %s is %s job %s (script %s/%s.sh, output %s/%s.out)", j->block, self->d->name,
                    j->job_id, self->dir, j->block, self->dir, j->block);
            changed = true;
            self->next_poll = now;
            if (j->cancel_wanted) {
                char *ids[1] = {j->job_id};
                s_cancel_jobs(self, ids, 1, now);
            }
        }
        else if (j) {
            fx_ix_command_failure(p->cmd, why, sizeof why);
            j->state = FX_IX_BLOCK_FAILED;
            snprintf(j->reason, sizeof j->reason, "%.400s%s", why, ok ? " (no job id in its output)" : "");
            if (fx_ix_command_timed_out(p->cmd))
                fx_warn("%s timed out: if it submitted the job anyway, that job is named fx-%s; its managers "
                        "connect as managers of no block until it ends",
                        self->d->submit, j->block);
        }
        else if (!ok) {
            fx_ix_command_failure(p->cmd, why, sizeof why);
            fx_warn("cancelling a %s job failed: %s", self->d->name, why);
        }
        fx_ix_command_destroy(&p->cmd);
    }
    if (changed)
        s_save_jobs(self);
}

/* Jobs with an id, not ended: up to cap of their ids. */
static size_t s_live_ids(s_batch_t *self, char **ids, size_t cap, bool unlisted_only)
{
    size_t n = 0;
    for (int i = 0; i < S_JOBS && n < cap; i++) {
        s_job_t *j = &self->jobs[i];
        if (j->used && j->job_id[0] && !fx_ix_block_ended(j->state) && (!unlisted_only || !j->listed))
            ids[n++] = j->job_id;
    }
    return n;
}

/* Jobs nothing listed this time: one more unknown poll; DONE after a few. */
static void s_count_unknown(s_batch_t *self)
{
    for (int i = 0; i < S_JOBS; i++) {
        s_job_t *j = &self->jobs[i];
        if (!j->used || !j->job_id[0] || fx_ix_block_ended(j->state) || j->listed)
            continue;
        if (++j->unknown >= FX_IX_BATCH_UNKNOWN_POLLS) {
            j->state = FX_IX_BLOCK_DONE;
            snprintf(j->reason, sizeof j->reason, "%s no longer knows job %s", self->d->name, j->job_id);
        }
    }
}

/* The status query's answer, then the history's for what it did not list. */
static void s_read_status(s_batch_t *self, int64_t now)
{
    if (self->status && fx_ix_command_done(self->status, now)) {
        const char *err = fx_ix_command_err(self->status);
        bool ok = fx_ix_command_status(self->status) == 0 ||
                  (fx_ix_command_status(self->status) > 0 && strstr(err, self->d->unknown_job));
        if (ok) {
            if (self->status_failing)
                fx_info("%s answers again", fx_ix_command_line(self->status));
            self->status_failing = false;
            self->d->parse_status(fx_ix_command_out(self->status), s_found, self);
            char *ids[S_JOBS];
            size_t n = s_live_ids(self, ids, S_JOBS, true);
            fx_ix_argv_t a = {0};
            char why[256];
            if (n && self->d->history_argv && self->history_mode >= 0) {
                self->d->history_argv(self->history_mode, ids, n, &a);
                self->history =
                    a.full ? NULL : fx_ix_command_start(a.argv, self->timeout_ms, now, why, sizeof why);
            }
            if (!self->history)
                s_count_unknown(self);
        }
        else {
            char why[768];
            fx_ix_command_failure(self->status, why, sizeof why);
            if (!self->status_failing)
                fx_warn("%s; the blocks keep their last known states until it answers", why);
            self->status_failing = true;
        }
        fx_ix_command_destroy(&self->status);
    }
    if (self->history && fx_ix_command_done(self->history, now)) {
        int mode = self->d->parse_history(self->history_mode, fx_ix_command_status(self->history),
                                          fx_ix_command_out(self->history), fx_ix_command_err(self->history),
                                          s_found, self);
        if (mode != self->history_mode && mode >= 0)
            self->next_poll = now; /* another way to ask: at once */
        else
            s_count_unknown(self);
        if (mode < 0) {
            char why[768];
            fx_ix_command_failure(self->history, why, sizeof why);
            fx_info("%s: no job history to ask; jobs the scheduler forgets count as ended", why);
        }
        self->history_mode = mode;
        fx_ix_command_destroy(&self->history);
    }
}

static void s_poll(void *impl, fx_ix_block_t *const *blocks, size_t count, int64_t now)
{
    s_batch_t *self = impl;
    s_reap_pending(self, now);
    s_read_status(self, now);
    if (!self->status && !self->history && now >= self->next_poll) {
        char *ids[S_JOBS];
        size_t n = s_live_ids(self, ids, S_JOBS, false);
        if (n) {
            for (int i = 0; i < S_JOBS; i++)
                self->jobs[i].listed = false;
            fx_ix_argv_t a = {0};
            char why[256];
            self->d->status_argv(ids, n, &a);
            self->status =
                a.full ? NULL : fx_ix_command_start(a.argv, self->timeout_ms, now, why, sizeof why);
            if (!self->status)
                fx_warn("cannot ask %s for its jobs: %s", self->d->name, a.full ? "too many" : why);
        }
        self->next_poll = now + FX_IX_BATCH_POLL_MS;
    }
    bool changed = false;
    for (size_t k = 0; k < count; k++) {
        fx_ix_block_t *b = blocks[k];
        s_job_t *j = s_job_by_block(self, b->id);
        if (!j) {
            b->state = FX_IX_BLOCK_DONE;
            snprintf(b->reason, sizeof b->reason, "no %s job of it is known", self->d->name);
            continue;
        }
        b->state = j->state;
        snprintf(b->job_id, sizeof b->job_id, "%s", j->job_id);
        snprintf(b->reason, sizeof b->reason, "%s", j->reason);
        if (fx_ix_block_ended(j->state)) {
            j->used = false;
            changed = true;
        }
    }
    if (changed)
        s_save_jobs(self);
}

static void s_cancel(void *impl, fx_ix_block_t *block, int64_t now)
{
    s_batch_t *self = impl;
    s_job_t *j = s_job_by_block(self, block->id);
    if (!j || fx_ix_block_ended(j->state))
        return;
    if (!j->job_id[0]) {
        j->cancel_wanted = true; /* once the submission says which job it is */
        return;
    }
    char *ids[1] = {j->job_id};
    s_cancel_jobs(self, ids, 1, now);
}

/* ------------------------------------------------------------ adopt, stop */

static size_t s_adopt(void *impl, fx_ix_block_t *out, size_t cap)
{
    s_batch_t *self = impl;
    FILE *f = fopen(self->jobs_path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    char line[256];
    while (n < cap && fgets(line, sizeof line, f)) {
        char block[64], job[FX_IX_JOB_ID_MAX];
        if (line[0] == '#' || sscanf(line, "%63s %63s", block, job) != 2 || !fx_id_valid(block))
            continue;
        s_job_t *j = s_job_by_block(self, block) ? NULL : s_job_new(self, block);
        if (!j)
            continue;
        snprintf(j->job_id, sizeof j->job_id, "%s", job);
        j->state = FX_IX_BLOCK_PENDING; /* until the first poll says */
        fx_ix_block_t *b = &out[n++];
        memset(b, 0, sizeof *b);
        memcpy(b->id, block, sizeof b->id);
        snprintf(b->job_id, sizeof b->job_id, "%s", job);
        b->state = FX_IX_BLOCK_PENDING;
        b->managers = self->conf->nodes_per_block;
        fx_info("adopting %s job %s (block %s) of an earlier run", self->d->name, job, block);
    }
    fclose(f);
    self->next_poll = 0;
    return n;
}

static void s_stop(void *impl, fx_ix_block_t *const *blocks, size_t count, int timeout_ms)
{
    (void) blocks;
    (void) count;
    (void) timeout_ms; /* each command has its own bound */
    s_batch_t *self = impl;
    for (int i = 0; i < S_COMMANDS; i++)
        if (self->pending[i].cmd)
            fx_ix_command_wait(self->pending[i].cmd); /* a submission's job id, if it comes */
    s_reap_pending(self, fx_now_ms());
    char *ids[S_JOBS];
    size_t n = s_live_ids(self, ids, S_JOBS, false);
    if (n) {
        fx_ix_argv_t a = {0};
        char why[768];
        self->d->cancel_argv(ids, n, &a);
        fx_ix_command_t *cmd =
            a.full ? NULL : fx_ix_command_start(a.argv, self->timeout_ms, fx_now_ms(), why, sizeof why);
        if (cmd) {
            fx_ix_command_wait(cmd);
            if (fx_ix_command_status(cmd) == 0)
                fx_info("cancelled %zu %s job(s) of this endpoint", n, self->d->name);
            else {
                fx_ix_command_failure(cmd, why, sizeof why);
                fx_warn("cancelling the %s jobs of this endpoint failed: %s; they end by themselves when "
                        "their managers stop",
                        self->d->name, why);
            }
            fx_ix_command_destroy(&cmd);
        }
        for (size_t i = 0; i < n; i++) {
            s_job_t *j = s_job_by_id(self, ids[i]);
            if (j)
                j->state = FX_IX_BLOCK_DONE;
        }
    }
    s_save_jobs(self);
}

/* ------------------------------------------------------------ make */

/* True if prog is an executable file on PATH. */
static bool s_on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int) len, p, prog);
        if (len && access(buf, X_OK) == 0)
            return true;
        p += len + (p[len] == ':');
    }
    return false;
}

static void *s_create(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch, char *err,
                      size_t errlen)
{
    const fx_ix_batch_dialect_t *d = conf->kind == FX_IX_PROVIDER_PBS ? &fx_ix_batch_pbs : &fx_ix_batch_slurm;
    if (conf->max_blocks > 0 && !s_on_path(d->submit)) {
        snprintf(err, errlen,
                 "the %s provider needs %s on PATH, and it is not there; run fx-endpoint on a login node of "
                 "the cluster (or fix PATH)",
                 d->name, d->submit);
        return NULL;
    }
    s_batch_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->d = d;
    self->conf = conf;
    self->launch = launch;
    self->timeout_ms = conf->cmd_timeout_ms > 0 ? conf->cmd_timeout_ms : FX_IX_BATCH_CMD_TIMEOUT_MS;
    self->history_mode = d->history_argv ? 0 : -1;
    snprintf(self->dir, sizeof self->dir, "%s/blocks", launch->dir);
    snprintf(self->jobs_path, sizeof self->jobs_path, "%s/%s.jobs", launch->dir, d->name);
    if (fx_file_mkdirs(self->dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s (%s)", self->dir, strerror(errno));
        free(self);
        return NULL;
    }
    return self;
}

static void s_destroy(void *impl)
{
    s_batch_t *self = impl;
    if (!self)
        return;
    for (int i = 0; i < S_COMMANDS; i++)
        fx_ix_command_destroy(&self->pending[i].cmd);
    fx_ix_command_destroy(&self->status);
    fx_ix_command_destroy(&self->history);
    free(self);
}

const fx_ix_provider_ops_t fx_ix_provider_batch = {
    .name = "batch",
    .create = s_create,
    .destroy = s_destroy,
    .submit = s_submit,
    .poll = s_poll,
    .cancel = s_cancel,
    .adopt = s_adopt,
    .stop = s_stop,
};
