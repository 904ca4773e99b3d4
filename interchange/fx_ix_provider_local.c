/*  fx_ix_provider_local.c: the local provider (fx_ix_provider.h). A block
    is one process group on this machine running nodes_per_block
    fx-managers (found beside fx-endpoint), each started with the block's
    manager ids (--id) and, if worker_init is set, through /bin/sh running
    those lines first and then exec'ing the manager.

    The group is not the endpoint's: a terminal's Ctrl-C or a signal to the
    endpoint's group does not reach the managers, and they outlive the
    endpoint (kill -9 included). The endpoint stops them explicitly, by pid.
    Their stdout goes to the endpoint's stderr: the endpoint's stdout
    carries only its own "fx-endpoint: ..." lines.

    Children are reaped with waitpid(WNOHANG) on every poll. When one
    manager of a block ends, the others of the block are told to stop, and
    once all are gone the block is DONE (every manager exited 0, or the
    block was cancelled) or FAILED (the first death's exit status or
    signal is the reason); the strategy replaces it, with back-off.

    Adoption (SPEC 9.7): DIR/managers.pids lists the running managers, one
    pid per line, rewritten atomically whenever the set changes. A new run
    adopts each pid there that is alive and runs fx-manager with this
    endpoint's key file, and rebuilds its blocks from the --id on each
    command line. An adopted manager is not our child: it is watched
    through /proc instead of waitpid. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_file.h"
#include "fx_file.h"
#include "fx_ix_provider.h"
#include "fx_log.h"

#define S_MAX_PROCS 1024
#define S_MAX_BLOCKS FX_IX_BLOCKS_MAX
/* A cancelled block's managers get this long to finish (their own stop
   grace is 10 s by default) before SIGKILL. */
#define S_KILL_AFTER_MS 15000

typedef struct {
    pid_t pid;
    bool adopted; /* from an earlier run: not our child */
    int block;    /* index into blocks */
} s_proc_t;

typedef struct {
    fx_id_text_t id;
    pid_t pgid;
    bool used;
    bool stopping;  /* cancelled, or one of its managers ended: the rest are told to stop */
    bool cancelled; /* by the strategy: DONE whatever the exit statuses */
    bool failed;    /* a manager ended with a nonzero status or a signal */
    int64_t stop_at;
    char reason[FX_IX_REASON_MAX];
} s_block_t;

typedef struct {
    const fx_ix_provider_conf_t *conf;
    const fx_ix_launch_t *launch;
    s_proc_t procs[S_MAX_PROCS];
    int count;
    s_block_t blocks[S_MAX_BLOCKS];
    char pids_path[PATH_MAX + 32];
} s_local_t;

/* ------------------------------------------------------------ records */

static s_block_t *s_block(s_local_t *self, const char *id, bool make)
{
    s_block_t *free_slot = NULL;
    for (int i = 0; i < S_MAX_BLOCKS; i++) {
        if (self->blocks[i].used && strcmp(self->blocks[i].id, id) == 0)
            return &self->blocks[i];
        if (!self->blocks[i].used && !free_slot)
            free_slot = &self->blocks[i];
    }
    if (!make || !free_slot)
        return NULL;
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = true;
    memcpy(free_slot->id, id, sizeof free_slot->id);
    return free_slot;
}

/* Rewrite the pids file atomically (fx_file_write_atomic, on disk before
   the rename). */
static void s_save_pids(s_local_t *self)
{
    char text[S_MAX_PROCS * 12];
    size_t len = 0;
    for (int i = 0; i < self->count; i++)
        len += (size_t) snprintf(text + len, sizeof text - len, "%d\n", (int) self->procs[i].pid);
    if (fx_file_write_atomic(self->pids_path, text, len, 0644, 1) != 0)
        fx_warn("cannot write %s (%s): managers of this run will not be adopted after a restart",
                self->pids_path, strerror(errno));
}

static void s_drop_proc(s_local_t *self, int i)
{
    self->procs[i] = self->procs[--self->count];
}

/* ------------------------------------------------------------ /proc */

/* /proc/PID/NAME into buf (NUL-terminated); its length, or -1. */
static long s_proc_file(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long) n;
}

/* True if pid runs (not a zombie); *pgid_p its process group if asked. */
static bool s_alive(pid_t pid, pid_t *pgid_p)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return false;
    char stat[512];
    if (s_proc_file(pid, "stat", stat, sizeof stat) < 0)
        return false;
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ppid pgrp ..." */
    if (!paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X')
        return false;
    int ppid = 0, pgrp = 0;
    if (pgid_p)
        *pgid_p = sscanf(paren + 3, "%d %d", &ppid, &pgrp) == 2 ? (pid_t) pgrp : pid;
    return true;
}

/* True if pid runs fx-manager with key_file among its arguments; its
   --id (the manager id) into id, "" without one. */
static bool s_is_our_manager(pid_t pid, const char *key_file, fx_id_text_t id)
{
    char cmd[8192];
    long got = s_proc_file(pid, "cmdline", cmd, sizeof cmd);
    if (got < 0)
        return false;
    size_t n = (size_t) got;
    const char *base = strrchr(cmd, '/');
    if (strcmp(base ? base + 1 : cmd, "fx-manager") != 0)
        return false;
    bool key = false;
    id[0] = '\0';
    const char *prev = "";
    for (size_t i = strlen(cmd) + 1; i < n; i += strlen(cmd + i) + 1) {
        key = key || strcmp(cmd + i, key_file) == 0;
        if (strcmp(prev, "--id") == 0 && fx_id_valid(cmd + i))
            memcpy(id, cmd + i, FX_ID_LEN + 1);
        prev = cmd + i;
    }
    return key;
}

/* ------------------------------------------------------------ starting */

/* Starts one manager in process group pgid (0: a new one led by it). */
static pid_t s_spawn(char *const argv[], pid_t pgid)
{
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            setpgid(pid, pgid ? pgid : pid); /* here too: no race with a kill(-pgid) */
        return pid;                          /* parent, or -1 */
    }
    /* child: only async-signal-safe calls from here on */
    setpgid(0, pgid);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    execv(argv[0], argv);
    static const char msg[] = "fx-endpoint: error: cannot run fx-manager (exec failed)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void) ignored;
    _exit(127);
}

/* worker_init as one script that ends by exec'ing the manager ("$0" "$@"). */
static char *s_init_script(const fx_ix_provider_conf_t *conf)
{
    size_t len = 32;
    for (size_t i = 0; i < conf->worker_init_count; i++)
        len += strlen(conf->worker_init[i]) + 1;
    char *script = malloc(len);
    if (!script)
        return NULL;
    script[0] = '\0';
    for (size_t i = 0; i < conf->worker_init_count; i++) {
        strcat(script, conf->worker_init[i]);
        strcat(script, "\n");
    }
    strcat(script, "exec \"$0\" \"$@\"\n");
    return script;
}

static int s_submit(void *impl, fx_ix_block_t *block, int64_t now)
{
    (void) now;
    s_local_t *self = impl;
    const fx_ix_launch_t *l = self->launch;
    s_block_t *b = s_block(self, block->id, true);
    if (!b || self->count + block->managers > S_MAX_PROCS) {
        block->state = FX_IX_BLOCK_FAILED;
        snprintf(block->reason, sizeof block->reason, "more than %d local managers; ask for fewer blocks",
                 S_MAX_PROCS);
        return -1;
    }
    char workers[16], prefetch[16], heartbeat[16], missed[16];
    fx_id_text_t id;
    int nworkers = fx_ix_launch_local_workers(l);
    snprintf(workers, sizeof workers, "%d", nworkers);
    snprintf(prefetch, sizeof prefetch, "%d", fx_ix_launch_prefetch(l, nworkers));
    snprintf(heartbeat, sizeof heartbeat, "%d", l->heartbeat_ms);
    snprintf(missed, sizeof missed, "%d", l->heartbeat_missed);
    char *script = self->conf->worker_init_count ? s_init_script(self->conf) : NULL;
    size_t nflags = 0;
    while (l->flags && l->flags[nflags])
        nflags++;
    char **argv = calloc(32 + nflags, sizeof *argv);
    if (!argv) {
        free(script);
        block->state = FX_IX_BLOCK_FAILED;
        snprintf(block->reason, sizeof block->reason, "out of memory starting fx-manager");
        return -1;
    }
    int argc = 0;
    if (script) {
        argv[argc++] = "/bin/sh";
        argv[argc++] = "-c";
        argv[argc++] = script;
    }
    char *fixed[] = {(char *) l->fx_manager,
                     "--interchange",
                     (char *) l->interchange,
                     "--server-key",
                     (char *) l->server_key,
                     "--key-file",
                     (char *) l->key_file,
                     "--workers",
                     workers,
                     "--prefetch",
                     prefetch,
                     "--heartbeat-ms",
                     heartbeat,
                     "--id",
                     id};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[argc++] = fixed[i];
    if (l->heartbeat_missed > 0 && l->heartbeat_missed != FX_HEARTBEAT_MISSED_DEFAULT) {
        argv[argc++] = "--heartbeat-missed";
        argv[argc++] = missed;
    }
    for (size_t i = 0; i < nflags; i++)
        argv[argc++] = l->flags[i]; /* the containers' (fx_ix_launch_flags) */
    argv[argc] = NULL;
    int started = 0;
    for (int i = 0; i < block->managers; i++) {
        fx_ix_block_manager_id(block->id, (unsigned) i, id);
        fflush(NULL); /* the child must not flush our buffers a second time */
        pid_t pid = s_spawn(argv, b->pgid);
        if (pid < 0) {
            snprintf(b->reason, sizeof b->reason, "cannot fork fx-manager: %s", strerror(errno));
            break;
        }
        if (!b->pgid)
            b->pgid = pid;
        self->procs[self->count++] = (s_proc_t){.pid = pid, .block = (int) (b - self->blocks)};
        fx_info("started fx-manager pid %d for block %s (manager %s, %s workers, prefetch %s)", (int) pid,
                block->id, id, workers, prefetch);
        started++;
    }
    free(script);
    free(argv);
    s_save_pids(self);
    snprintf(block->job_id, sizeof block->job_id, "%d", (int) b->pgid);
    if (started == 0) {
        block->state = FX_IX_BLOCK_FAILED;
        snprintf(block->reason, sizeof block->reason, "%s", b->reason);
        b->used = false;
        return -1;
    }
    block->state = FX_IX_BLOCK_RUNNING;
    if (started < block->managers) {
        b->failed = b->stopping = true; /* the ones started stop; poll reports FAILED */
        for (int i = 0; i < self->count; i++)
            if (self->procs[i].block == (int) (b - self->blocks))
                kill(self->procs[i].pid, SIGTERM);
    }
    return 0;
}

/* ------------------------------------------------------------ watching */

/* Checks one manager; true if it still runs. When it ended, its block's
   reason says how (the first ending only). */
static bool s_check(s_local_t *self, s_proc_t *p)
{
    s_block_t *b = &self->blocks[p->block];
    char how[128] = "";
    bool bad = false;
    if (p->adopted) {
        if (s_alive(p->pid, NULL))
            return true;
        snprintf(how, sizeof how, "adopted fx-manager pid %d is gone", (int) p->pid);
        bad = true; /* its status is not ours to know */
    }
    else {
        int status = 0;
        pid_t pid = waitpid(p->pid, &status, WNOHANG);
        if (pid == 0 || (pid < 0 && errno != ECHILD))
            return true;
        if (pid > 0 && WIFEXITED(status)) {
            snprintf(how, sizeof how, "fx-manager pid %d exited with status %d", (int) pid,
                     WEXITSTATUS(status));
            bad = WEXITSTATUS(status) != 0;
        }
        else if (pid > 0 && WIFSIGNALED(status)) {
            snprintf(how, sizeof how, "fx-manager pid %d was killed by signal %d (%s)", (int) pid,
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
            bad = true;
        }
        else
            snprintf(how, sizeof how, "fx-manager pid %d is gone", (int) p->pid);
    }
    if (b->cancelled)
        fx_info("%s (block %s was cancelled)", how, b->id);
    else
        fx_log(bad ? FX_LOG_WARN : FX_LOG_INFO, "%s (block %s)", how, b->id);
    if (!b->reason[0])
        snprintf(b->reason, sizeof b->reason, "%s", how);
    b->failed = b->failed || bad;
    return false;
}

/* Tell every manager of block i to stop (SIGTERM, or SIGKILL to the group). */
static void s_signal_block(s_local_t *self, int i, int sig)
{
    for (int k = 0; k < self->count; k++)
        if (self->procs[k].block == i)
            kill(self->procs[k].pid, sig);
    if (sig == SIGKILL && self->blocks[i].pgid > 0)
        kill(-self->blocks[i].pgid, SIGKILL);
}

static void s_poll(void *impl, fx_ix_block_t *const *blocks, size_t count, int64_t now)
{
    s_local_t *self = impl;
    bool changed = false;
    for (int i = 0; i < self->count;) {
        if (s_check(self, &self->procs[i])) {
            i++;
            continue;
        }
        s_block_t *b = &self->blocks[self->procs[i].block];
        if (!b->stopping) {
            b->stopping = true; /* the rest of the block goes too: a block is one unit */
            b->stop_at = now;
            s_signal_block(self, (int) (b - self->blocks), SIGTERM);
        }
        s_drop_proc(self, i);
        changed = true;
    }
    if (changed)
        s_save_pids(self);
    for (size_t k = 0; k < count; k++) {
        fx_ix_block_t *block = blocks[k];
        s_block_t *b = s_block(self, block->id, false);
        int alive = 0;
        for (int i = 0; b && i < self->count; i++)
            alive += self->procs[i].block == (int) (b - self->blocks);
        if (b && alive > 0) {
            if (b->stopping && now - b->stop_at > S_KILL_AFTER_MS) {
                fx_warn(
                    "block %s: %d fx-manager(s) still running %d ms after SIGTERM; killing its process group",
                    b->id, alive, S_KILL_AFTER_MS);
                s_signal_block(self, (int) (b - self->blocks), SIGKILL);
                b->stop_at = now; /* and again later if need be */
            }
            block->state = FX_IX_BLOCK_RUNNING;
            continue;
        }
        bool failed = !b || (b->failed && !b->cancelled);
        block->state = failed ? FX_IX_BLOCK_FAILED : FX_IX_BLOCK_DONE;
        snprintf(block->reason, sizeof block->reason, "%s",
                 !b             ? "no fx-manager of it runs"
                 : b->cancelled ? "cancelled"
                                : b->reason);
        if (b)
            b->used = false;
    }
}

static void s_cancel(void *impl, fx_ix_block_t *block, int64_t now)
{
    s_local_t *self = impl;
    s_block_t *b = s_block(self, block->id, false);
    if (!b)
        return;
    b->cancelled = true;
    if (!b->stopping) {
        b->stopping = true;
        b->stop_at = now;
        s_signal_block(self, (int) (b - self->blocks), SIGTERM);
    }
}

/* ------------------------------------------------------------ adopt, stop */

static size_t s_adopt(void *impl, fx_ix_block_t *out, size_t cap)
{
    s_local_t *self = impl;
    FILE *f = fopen(self->pids_path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1 && self->count < S_MAX_PROCS) {
        fx_id_text_t manager_id, block_id;
        pid_t pgid = 0;
        if (pid <= 1 || pid > INT_MAX || !s_alive((pid_t) pid, &pgid) ||
            !s_is_our_manager((pid_t) pid, self->launch->key_file, manager_id))
            continue;
        if (!manager_id[0]) {
            fx_warn("fx-manager pid %ld of an earlier run has no --id: not adopted (it stops on the "
                    "endpoint's next STOP)",
                    pid);
            continue;
        }
        fx_ix_block_of_manager(manager_id, block_id);
        s_block_t *b = s_block(self, block_id, false);
        if (!b) {
            if (n == cap || !(b = s_block(self, block_id, true)))
                continue;
            b->pgid = pgid;
            fx_ix_block_t *block = &out[n++];
            memset(block, 0, sizeof *block);
            memcpy(block->id, block_id, sizeof block->id);
            snprintf(block->job_id, sizeof block->job_id, "%d", (int) pgid);
            block->state = FX_IX_BLOCK_RUNNING;
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(out[k].id, block_id) == 0)
                out[k].managers++;
        self->procs[self->count++] =
            (s_proc_t){.pid = (pid_t) pid, .adopted = true, .block = (int) (b - self->blocks)};
        fx_info("adopting fx-manager pid %ld (manager %s, block %s) of an earlier run; waiting for its hello",
                pid, manager_id, block_id);
    }
    fclose(f);
    s_save_pids(self);
    return n;
}

static void s_stop(void *impl, fx_ix_block_t *const *blocks, size_t count, int timeout_ms)
{
    (void) blocks;
    (void) count;
    s_local_t *self = impl;
    for (int i = 0; i < S_MAX_BLOCKS; i++)
        self->blocks[i].cancelled = true; /* their ends are expected now */
    for (int i = 0; i < self->count; i++)
        kill(self->procs[i].pid, SIGTERM);
    int64_t deadline = fx_now_ms() + timeout_ms;
    while (self->count > 0 && fx_now_ms() < deadline) {
        for (int i = 0; i < self->count;)
            if (s_check(self, &self->procs[i]))
                i++;
            else
                s_drop_proc(self, i);
        struct timespec pause = {0, 10 * 1000 * 1000}; /* poll children every 10 ms */
        if (self->count > 0)
            nanosleep(&pause, NULL);
    }
    for (int i = 0; i < self->count; i++) {
        s_proc_t *p = &self->procs[i];
        fx_warn("fx-manager pid %d did not stop within %d ms of SIGTERM; killing its process group",
                (int) p->pid, timeout_ms);
        pid_t pgid = 0;
        if (s_alive(p->pid, &pgid) && pgid > 1 && pgid != getpgrp())
            kill(-pgid, SIGKILL);
        kill(p->pid, SIGKILL);
        if (!p->adopted)
            waitpid(p->pid, NULL, 0);
    }
    self->count = 0;
    s_save_pids(self);
}

/* ------------------------------------------------------------ make */

static void *s_create(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch, char *err,
                      size_t errlen)
{
    if (conf->max_blocks > 0 && access(launch->fx_manager, X_OK) != 0) {
        snprintf(err, errlen,
                 "cannot run %s (%s); build the fx-manager target, or pass --managers 0 and start "
                 "managers yourself",
                 launch->fx_manager, strerror(errno));
        return NULL;
    }
    s_local_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->conf = conf;
    self->launch = launch;
    snprintf(self->pids_path, sizeof self->pids_path, "%s/managers.pids", launch->dir);
    return self;
}

static void s_destroy(void *impl)
{
    free(impl);
}

const fx_ix_provider_ops_t fx_ix_provider_local = {
    .name = "local",
    .create = s_create,
    .destroy = s_destroy,
    .submit = s_submit,
    .poll = s_poll,
    .cancel = s_cancel,
    .adopt = s_adopt,
    .stop = s_stop,
};
