/*  fx_mgr_pools.c: the manager's worker pools by container (SPEC 12.7).

    Every slot of the pool (fx_pool.h) runs a worker for one key: 0 is the
    host, as every worker was before containers; a container the
    interchange defined (CONTAINERS, SPEC 5.35) gets a key from 1 up. A
    worker started for a container serves only that container's tasks and
    stays warm (the same process, its modules imported) until it is
    retired. Slots no container needs hold host workers: at the start all
    of them do, and a slot whose container worker is retired gets a host
    worker again, unless a container waits for it. An idle host worker's
    slot counts as free.

    A container task goes to an idle worker of its container. If there is
    none, a cold start: in a free slot (a dead one, or an idle host
    worker's, which is retired); under lru, when there is no free slot,
    the least recently used idle worker of another container is retired
    for it (an eviction); under keep the task waits for a worker of its
    container, or for a slot freed by idle retirement. At most
    --max-workers-per-container workers per container (0: no cap). An idle
    container worker is retired after --container-idle-ms. Host tasks with
    no host worker idle take, under lru, the slot of the least recently
    used idle container worker.

    A cold start renders the container's launch template
    (container/fx_container.h: the runtime's default, or the
    --container-template of the container's name) with the worker's
    command and environment (FX_CONTAINER_ID, FX_CONTAINER_NAME and what
    the worker needs) and runs it; the pool passes the worker link as
    descriptor 3 and reads the runtime's stderr. A launch whose runtime
    exits before READY, or whose READY does not come within
    --container-start-timeout-ms, fails: the task it was started for ends
    with FX_E_CONTAINER naming the container, the runtime and the first
    lines of its stderr; after FX_LAUNCH_FAILURES_MAX failures in a row the
    container is given up: every task naming it ends with FX_E_CONTAINER
    saying so, and CAPACITY reports its failures.

    Costs: nothing on the host's path but a check per pass (fx_mgr_workers.c
    calls in here only when container tasks are queued, or host tasks wait
    and container workers exist); per pass with container tasks queued, a
    walk over the keys; an eviction or an idle retirement, a walk over the
    slots. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_file.h"
#include "fx_mgr_internal.h"

extern char **environ;

/* Variables of the manager's environment a container worker gets through
   the template's {env} (bwrap passes the whole environment on anyway;
   podman and docker pass only what they are told). */
static const char *const s_pass_env[] = {"PATH",          "HOME",          "LANG",         "LC_ALL",
                                         "TZ",            "PYTHONPATH",    "PYTHONHOME",   "ASAN_OPTIONS",
                                         "LSAN_OPTIONS",  "UBSAN_OPTIONS", "FX_TEST_SLOW", "FX_LOG_LEVEL"};
#define S_PASS_ENV (sizeof s_pass_env / sizeof s_pass_env[0])

/* Lines of a failed launch's stderr quoted in its error text. */
#define S_ERR_LINES 4

int fx_mgr_pools_init(fx_mgr_t *self)
{
    memset(&self->host_pool, 0, sizeof self->host_pool);
    self->host_pool.runtime = FX_RUNTIME_NONE;
    self->ctrs[0] = &self->host_pool;
    return 0;
}

void fx_mgr_pools_destroy(fx_mgr_t *self)
{
    for (uint32_t k = 0; k < FX_POOL_KEYS; k++) {
        if (!self->ctrs[k])
            continue;
        free(self->ctrs[k]->queue.q);
        self->ctrs[k]->queue = (fx_ring_t){0};
        if (k)
            free(self->ctrs[k]);
        self->ctrs[k] = NULL;
    }
}

/* ------------------------------------------------ counting */

/* Workers of key k starting: started and not READY, or a slot retiring to
   start one; less `minus` (a slot being reaped) if it is one of them. */
static uint32_t s_starting(fx_mgr_t *self, uint32_t k, const fx_slot_t *minus)
{
    uint32_t n = fx_pool_count_key(self->pool, k, FX_SLOT_SPAWNED) + self->ctrs[k]->reserved;
    if (minus && minus->key == k && minus->state == FX_SLOT_SPAWNED && n)
        n--;
    return n;
}

/* Workers of key k alive or coming (for the cap). */
static uint32_t s_workers(fx_mgr_t *self, uint32_t k, const fx_slot_t *minus)
{
    uint32_t n = fx_pool_count_key(self->pool, k, FX_SLOT_SPAWNED) + fx_pool_count_key(self->pool, k, FX_SLOT_IDLE) +
                 fx_pool_count_key(self->pool, k, FX_SLOT_BUSY) + self->ctrs[k]->reserved;
    if (minus && minus->key == k && minus->state >= FX_SLOT_SPAWNED && minus->state <= FX_SLOT_BUSY && n)
        n--;
    return n;
}

static bool s_capped(fx_mgr_t *self, uint32_t k, const fx_slot_t *minus)
{
    uint32_t cap = self->args->max_per_container;
    return k != 0 && cap && s_workers(self, k, minus) >= cap;
}

/* Whether container k has tasks no worker of it, idle or coming, will take. */
static bool s_wants(fx_mgr_t *self, uint32_t k, const fx_slot_t *minus)
{
    fx_ctr_t *c = self->ctrs[k];
    if (!c || !c->queue.len || c->given_up || s_capped(self, k, minus))
        return false;
    return c->queue.len > s_starting(self, k, minus) + fx_pool_count_key(self->pool, k, FX_SLOT_IDLE);
}

/* The key a slot that comes free should start a worker for: the
   container whose oldest waiting task came first, among those that want
   one; 0 (the host) if none does. */
static uint32_t s_claim(fx_mgr_t *self, const fx_slot_t *minus)
{
    uint32_t best = 0;
    uint64_t best_order = UINT64_MAX;
    for (uint32_t k = 1; self->ctr_queued && k < FX_POOL_KEYS; k++)
        if (s_wants(self, k, minus)) {
            uint64_t order = fx_ring_at(&self->ctrs[k]->queue, 0)->order;
            if (order < best_order) {
                best = k;
                best_order = order;
            }
        }
    return best;
}

/* ------------------------------------------------ definitions */

static const char *s_template_of(fx_mgr_t *self, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < self->args->template_count; i++) {
        const char *t = self->args->templates[i];
        if (strncmp(t, name, len) == 0 && t[len] == '=')
            return t + len + 1;
    }
    return NULL;
}

static uint32_t s_find(fx_mgr_t *self, const char *container_id)
{
    for (uint32_t k = 1; k < FX_POOL_KEYS; k++)
        if (self->ctrs[k] && strcmp(self->ctrs[k]->def.container_id, container_id) == 0)
            return k;
    return 0;
}

/* A key for a new definition: an unused one, or one whose container has
   nothing (no task, no worker, no failure to report); 0 if none. */
static uint32_t s_free_key(fx_mgr_t *self)
{
    for (uint32_t k = 1; k < FX_POOL_KEYS; k++)
        if (!self->ctrs[k])
            return k;
    for (uint32_t k = 1; k < FX_POOL_KEYS; k++) {
        fx_ctr_t *c = self->ctrs[k];
        if (!c->queue.len && !c->reserved && !c->failures && !c->given_up &&
            (!self->pool || fx_pool_total_key(self->pool, k) == 0))
            return k;
    }
    return 0;
}

static void s_retire(fx_mgr_t *self, fx_slot_t *slot, uint32_t next);

static void s_set_def(fx_mgr_t *self, fx_ctr_t *c, const fx_container_def_t *def)
{
    c->def = *def;
    c->gen++;
    c->template_text = s_template_of(self, def->name);
    c->failures = 0;
    c->given_up = false;
    c->why[0] = '\0';
    c->digest[0] = '\0';
    c->digest_asked = false;
    if (fx_runtime_parse(def->runtime, &c->runtime) != 0 || c->runtime == FX_RUNTIME_NONE) {
        c->given_up = true;
        snprintf(c->why, sizeof c->why,
                 "container %s (id %s) names runtime \"%s\", which fx cannot launch (bwrap, podman, docker, "
                 "apptainer, singularity)",
                 def->name, def->container_id, def->runtime);
    }
}

void fx_mgr_pools_define(fx_mgr_t *self, const fx_container_def_t *defs, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        const fx_container_def_t *def = &defs[i];
        uint32_t k = s_find(self, def->container_id);
        if (k) {
            fx_ctr_t *c = self->ctrs[k];
            if (strcmp(c->def.name, def->name) == 0 && strcmp(c->def.runtime, def->runtime) == 0 &&
                strcmp(c->def.image, def->image) == 0)
                continue;
            fx_info("container %s (%s): new definition (runtime %s, image \"%s\"); launches start over, workers of the "
                    "old one are retired",
                    def->name, def->container_id, def->runtime, def->image);
            s_set_def(self, c, def);
            for (uint32_t j = 0; self->pool && j < fx_pool_size(self->pool); j++) {
                fx_slot_t *slot = fx_pool_slot(self->pool, j);
                if (slot->key == k && slot->state == FX_SLOT_IDLE)
                    s_retire(self, slot, s_claim(self, NULL));
            }
            continue;
        }
        k = s_free_key(self);
        if (!k) {
            fx_warn("container %s (%s) not kept: the manager holds %d containers with tasks or workers; its tasks "
                    "end with FX_E_CONTAINER",
                    def->name, def->container_id, FX_CONTAINERS_MAX);
            continue;
        }
        if (!self->ctrs[k] && !(self->ctrs[k] = calloc(1, sizeof *self->ctrs[k]))) {
            fx_warn("out of memory keeping container %s", def->container_id);
            continue;
        }
        fx_ctr_t *c = self->ctrs[k];
        free(c->queue.q);
        memset(c, 0, sizeof *c);
        s_set_def(self, c, def);
        fx_info("container %s (%s): runtime %s, image \"%s\", %s template", def->name, def->container_id,
                def->runtime, def->image, c->template_text ? "the endpoint's" : "the runtime's default");
    }
}

/* ------------------------------------------------ ending tasks */

/* Ends a queued task (taken off its queue) with FX_E_CONTAINER: text. */
static void s_end_item(fx_mgr_t *self, fx_queued_t *item, const char *text)
{
    fx_mgr_error_result(self, item->task.task_id, item->session, FX_E_CONTAINER, "%s; task %s not run", text,
                        item->task.task_id);
    fx_mgr_out_provenance(self, &item->task, 0);
    fx_task_clear(&item->task);
    fx_losses_clear(&item->losses);
}

static void s_give_up_text(fx_mgr_t *self, fx_ctr_t *c, char *out, size_t len)
{
    if (c->failures < FX_LAUNCH_FAILURES_MAX) { /* a definition it cannot launch at all */
        snprintf(out, len, "%s", c->why);
        return;
    }
    snprintf(out, len,
             "container %s (id %s, runtime %s): %u launches in a row failed (FX_LAUNCH_FAILURES_MAX) on manager %s, "
             "which stopped trying it; the last: %s",
             c->def.name, c->def.container_id, c->def.runtime, c->failures, self->args->id, c->why);
}

static void s_end_all(fx_mgr_t *self, uint32_t k)
{
    char text[FX_TEXT_MAX / 2];
    s_give_up_text(self, self->ctrs[k], text, sizeof text);
    fx_queued_t item;
    while (self->ctrs[k]->queue.len) {
        fx_mgr_queue_pop(self, k, &item);
        s_end_item(self, &item, text);
    }
}

int fx_mgr_pools_key(fx_mgr_t *self, const fx_task_t *task, uint32_t *key)
{
    uint32_t k = s_find(self, task->container);
    char text[FX_TEXT_MAX / 2];
    if (k && !self->ctrs[k]->given_up) {
        *key = k;
        return FX_OK;
    }
    if (k)
        s_give_up_text(self, self->ctrs[k], text, sizeof text);
    else
        snprintf(text, sizeof text,
                 "manager %s has no definition of container %s (CONTAINERS must come before the first TASKS naming "
                 "it, SPEC 5.35)",
                 self->args->id, task->container);
    fx_mgr_hold(self, task->task_id);
    fx_mgr_error_result(self, task->task_id, self->session, FX_E_CONTAINER, "%s; task %s not run", text,
                        task->task_id);
    fx_mgr_out_provenance(self, task, 0);
    return FX_E_CONTAINER;
}

/* A launch of container k failed (what: how): counted; the task it was
   started for (the oldest waiting) ends; at FX_LAUNCH_FAILURES_MAX in a
   row the container is given up and every task of it ends. */
static void s_failed(fx_mgr_t *self, uint32_t k, const char *what)
{
    fx_ctr_t *c = self->ctrs[k];
    c->failures++;
    c->launch_failures++;
    self->launch_failures++;
    snprintf(c->why, sizeof c->why, "container %s (id %s, runtime %s) could not be started on manager %s: %s",
             c->def.name, c->def.container_id, c->def.runtime, self->args->id, what);
    fx_warn("%s (failure %u in a row)", c->why, c->failures);
    if (c->queue.len) {
        fx_queued_t item;
        fx_mgr_queue_pop(self, k, &item);
        s_end_item(self, &item, c->why);
    }
    if (c->failures >= FX_LAUNCH_FAILURES_MAX) {
        c->given_up = true;
        fx_warn("container %s (%s): %u launches in a row failed; not starting it again, its tasks end with "
                "FX_E_CONTAINER",
                c->def.name, c->def.container_id, c->failures);
        s_end_all(self, k);
    }
}

/* The first lines of what a launch said on stderr, on one line. */
static void s_err_lines(const fx_slot_t *slot, char *out, size_t len)
{
    size_t n = 0;
    int lines = 0;
    out[0] = '\0';
    for (const char *p = slot->err; *p && lines < S_ERR_LINES && n + 4 < len; p++) {
        if (*p == '\n') {
            lines++;
            if (p[1] && lines < S_ERR_LINES) {
                memcpy(out + n, " | ", 3);
                n += 3;
            }
            continue;
        }
        out[n++] = *p == '\t' ? ' ' : *p;
    }
    out[n] = '\0';
    if (!n)
        snprintf(out, len, "(nothing)");
}

/* ------------------------------------------------ launches */

/* "K=V" of a variable, malloc'd. */
static char *s_kv(const char *k, const char *v)
{
    char *kv = NULL;
    return asprintf(&kv, "%s=%s", k, v) < 0 ? NULL : kv;
}

static void s_free_vec(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* The environment of the runtime's process: ours, with FX_CONTAINER_ID
   and FX_CONTAINER_NAME set to c's. */
static char **s_envp(fx_ctr_t *c)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 3, sizeof *envp);
    if (!envp)
        return NULL;
    size_t m = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        if (strncmp(environ[i], "FX_CONTAINER_ID=", 16) == 0 || strncmp(environ[i], "FX_CONTAINER_NAME=", 18) == 0)
            continue;
        ok = (envp[m++] = strdup(environ[i])) != NULL;
    }
    ok = ok && (envp[m++] = s_kv("FX_CONTAINER_ID", c->def.container_id)) != NULL;
    ok = ok && (envp[m++] = s_kv("FX_CONTAINER_NAME", c->def.name)) != NULL;
    if (!ok) {
        s_free_vec(envp);
        return NULL;
    }
    return envp;
}

/* fx_pool_launch_fn: the container's template rendered for this slot. */
static int s_launch(fx_slot_t *slot, const char *link_flag, const char *link_value, fx_pool_cmd_t *cmd, void *arg)
{
    fx_mgr_t *self = arg;
    uint32_t k = slot->key;
    fx_ctr_t *c = k < FX_POOL_KEYS ? self->ctrs[k] : NULL;
    if (!c || c->given_up)
        return -1;
    char *command[] = {(char *) self->args->worker_path, (char *) link_flag, (char *) link_value, "--in-container",
                       NULL};
    char *env[S_PASS_ENV + 3] = {NULL};
    size_t ne = 0;
    env[ne++] = s_kv("FX_CONTAINER_ID", c->def.container_id);
    env[ne++] = s_kv("FX_CONTAINER_NAME", c->def.name);
    for (size_t i = 0; i < S_PASS_ENV; i++) {
        const char *v = getenv(s_pass_env[i]);
        if (v)
            env[ne++] = s_kv(s_pass_env[i], v);
    }
    /* fx-worker's folder, read-only at the same path: the command must be
       there inside (an image has no fx; bwrap's own /tmp hides a build
       under /tmp) */
    char dir[4096];
    fx_strlcpy(dir, self->args->worker_path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    fx_bind_t bind = {.src = dir, .dst = dir, .read_only = true};
    fx_launch_t l = {.runtime = c->runtime,
                     .name = c->def.name,
                     .image = c->def.image,
                     .template_text = c->template_text,
                     .command = command,
                     .env = env,
                     .binds = &bind,
                     .binds_count = slash && slash != dir ? 1 : 0,
                     .preserve_fds = 1};
    char err[512];
    bool env_ok = env[0] && env[1];
    for (size_t i = 2; i < ne; i++)
        env_ok = env_ok && env[i];
    char **argv = env_ok ? fx_container_render(&l, err, sizeof err) : NULL;
    if (!env_ok)
        snprintf(err, sizeof err, "out of memory");
    for (size_t i = 0; i < ne; i++)
        free(env[i]);
    char **envp = argv ? s_envp(c) : NULL;
    if (!argv || !envp) {
        char what[640];
        snprintf(what, sizeof what, "its launch template does not render: %s", argv ? "out of memory" : err);
        fx_container_argv_free(&argv);
        s_failed(self, k, what);
        return -1;
    }
    cmd->argv = argv;
    cmd->envp = envp;
    slot->gen = c->gen;
    self->cold_starts++;
    c->cold_starts++;
    fx_info("cold start %llu of container %s (%s) in slot %u: %s %s ...", (unsigned long long) c->cold_starts,
            c->def.name, c->def.container_id, slot->index, argv[0], argv[1] ? argv[1] : "");
    return 0;
}

void fx_mgr_pools_init_launcher(fx_mgr_t *self)
{
    fx_pool_set_launcher(self->pool, s_launch, self);
}

/* The image's digest, where the runtime gives one (podman and docker:
   `image inspect`); "" otherwise. Asked once per definition, when its
   first worker is READY; it waits for the answer (at most 5 s). */
static void s_digest(fx_ctr_t *c)
{
    c->digest_asked = true;
    if ((c->runtime != FX_RUNTIME_PODMAN && c->runtime != FX_RUNTIME_DOCKER) || !c->def.image[0])
        return;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return;
    const char *prog = fx_runtime_program(c->runtime);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 2);
        }
        execlp(prog, prog, "image", "inspect", "--format", "{{.Digest}}", c->def.image, (char *) NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[FX_NAME_MAX + 1] = "";
    size_t n = 0;
    int64_t deadline = fx_now_ms() + 5000;
    while (pid > 0 && n < sizeof buf - 1) {
        int64_t left = deadline - fx_now_ms();
        struct pollfd pfd = {p[0], POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, (int) left) <= 0)
            break;
        ssize_t got = read(p[0], buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t) got;
    }
    close(p[0]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strncmp(buf, "sha256:", 7) == 0)
        fx_strlcpy(c->digest, buf, sizeof c->digest);
}

void fx_mgr_pools_on_ready(fx_mgr_t *self, fx_slot_t *slot)
{
    fx_ctr_t *c = self->ctrs[slot->key];
    if (!c)
        return;
    c->failures = 0;
    if (!c->digest_asked)
        s_digest(c);
    fx_info("container %s (%s): worker pid %d is pid %u inside", c->def.name, c->def.container_id, (int) slot->pid,
            slot->inner_pid);
}

void fx_mgr_pools_on_done(fx_mgr_t *self, fx_slot_t *slot)
{
    fx_ctr_t *c = self->ctrs[slot->key];
    if (c && slot->state == FX_SLOT_IDLE && slot->gen != c->gen) {
        fx_info("container %s: worker pid %d was started from an older definition; retiring it", c->def.name,
                (int) slot->pid);
        s_retire(self, slot, s_claim(self, NULL));
    }
}

void fx_mgr_pools_tag(fx_mgr_t *self, uint32_t key, fx_result_t *r)
{
    fx_ctr_t *c = self->ctrs[key];
    if (!c)
        return;
    fx_strlcpy(r->container, c->def.container_id, sizeof r->container);
    fx_strlcpy(r->image_digest, c->digest, sizeof r->image_digest);
}

void fx_mgr_pools_on_death(fx_mgr_t *self, fx_slot_t *slot, int wait_status)
{
    if (slot->retiring) { /* its next key was chosen when it was retired */
        fx_ctr_t *next = self->ctrs[slot->next_key];
        if (next && next->reserved)
            next->reserved--;
        return;
    }
    if (slot->key != 0 && slot->state == FX_SLOT_SPAWNED && self->ctrs[slot->key] && !self->stopping) {
        char how[128], lines[FX_POOL_ERR_KEEP], what[FX_POOL_ERR_KEEP + 256];
        fx_pool_describe_exit(wait_status, how, sizeof how);
        s_err_lines(slot, lines, sizeof lines);
        if (slot->timed_out)
            snprintf(what, sizeof what, "its worker was not READY within %u ms (--container-start-timeout-ms), so it "
                     "was killed; the runtime's stderr: %s",
                     self->args->container_start_timeout_ms, lines);
        else
            snprintf(what, sizeof what, "the runtime %s %s before the worker was READY; its stderr: %s",
                     fx_runtime_program(self->ctrs[slot->key]->runtime), how, lines);
        s_failed(self, slot->key, what);
    }
    slot->next_key = s_claim(self, slot);
}

/* ------------------------------------------------ dispatch */

/* The least recently used idle worker of a container other than k (and
   not the host's), or NULL. */
static fx_slot_t *s_lru(fx_mgr_t *self, uint32_t k)
{
    fx_slot_t *best = NULL;
    for (uint32_t i = 0; i < fx_pool_size(self->pool); i++) {
        fx_slot_t *slot = fx_pool_slot(self->pool, i);
        if (slot->state == FX_SLOT_IDLE && slot->key != 0 && slot->key != k &&
            (!best || slot->last_used_ms < best->last_used_ms))
            best = slot;
    }
    return best;
}

static void s_retire(fx_mgr_t *self, fx_slot_t *slot, uint32_t next)
{
    fx_pool_retire(self->pool, slot, next, FX_MGR_TERM_GRACE_MS);
    if (self->ctrs[next])
        self->ctrs[next]->reserved++;
}

/* One more worker for key k, as the strategy allows: true if one is
   coming. */
static bool s_one_more(fx_mgr_t *self, uint32_t k, int64_t now)
{
    fx_pool_t *pool = self->pool;
    if (k != 0 && fx_pool_count_key(pool, 0, FX_SLOT_DEAD)) { /* a free slot: a host worker's, not running */
        for (uint32_t i = 0; i < fx_pool_size(pool); i++) {
            fx_slot_t *slot = fx_pool_slot(pool, i);
            if (slot->state == FX_SLOT_DEAD && slot->key == 0) {
                fx_pool_set_key(pool, slot, k);
                fx_pool_start_slot(pool, slot, now);
                return true;
            }
        }
    }
    fx_slot_t *slot = k != 0 ? fx_pool_idle_key(pool, 0) : NULL; /* an idle host worker's slot is free */
    if (slot) {
        s_retire(self, slot, k);
        return true;
    }
    /* idle workers of other containers than k: the walk only if there are some */
    uint32_t others = fx_pool_count(pool, FX_SLOT_IDLE) - fx_pool_count_key(pool, 0, FX_SLOT_IDLE) -
                      (k ? fx_pool_count_key(pool, k, FX_SLOT_IDLE) : 0);
    if (self->args->strategy != FX_CTR_LRU || others == 0 || !(slot = s_lru(self, k)))
        return false;
    fx_ctr_t *victim = self->ctrs[slot->key];
    victim->evicted++;
    self->evictions++;
    fx_info("lru: retiring idle worker pid %d of container %s, the least recently used, for %s", (int) slot->pid,
            victim->def.name, k ? self->ctrs[k]->def.name : "the host");
    s_retire(self, slot, k);
    return true;
}

/* Starts workers for key k's waiting tasks that no idle or coming worker
   will take, as far as the cap and the strategy allow. */
static void s_grow(fx_mgr_t *self, uint32_t k, int64_t now)
{
    fx_ctr_t *c = self->ctrs[k];
    uint32_t coming = s_starting(self, k, NULL) + (k == 0 ? fx_pool_count_key(self->pool, 0, FX_SLOT_DEAD) : 0);
    size_t need = c->queue.len > coming ? c->queue.len - coming : 0;
    while (need > 0 && !s_capped(self, k, NULL) && s_one_more(self, k, now))
        need--;
}

void fx_mgr_pools_dispatch(fx_mgr_t *self)
{
    int64_t now = fx_now_ms();
    for (uint32_t k = 1; self->ctr_queued && k < FX_POOL_KEYS; k++) {
        fx_ctr_t *c = self->ctrs[k];
        if (!c || !c->queue.len)
            continue;
        if (c->given_up) {
            s_end_all(self, k);
            continue;
        }
        fx_slot_t *slot;
        while (c->queue.len && (slot = fx_pool_idle_key(self->pool, k))) {
            fx_queued_t item;
            fx_mgr_queue_pop(self, k, &item);
            fx_mgr_workers_give(self, slot, &item);
        }
        if (c->queue.len)
            s_grow(self, k, now);
    }
}

void fx_mgr_pools_host(fx_mgr_t *self)
{
    if (self->host_pool.queue.len && !fx_pool_idle(self->pool))
        s_grow(self, 0, fx_now_ms());
}

/* ------------------------------------------------ ticks */

/* The pools' counters, one per line (`name value`; a container's line
   `container ID key value ...`, the host's ID is "-"), for tests and
   operators (--stats-file). */
static size_t s_stats_text(fx_mgr_t *self, char *out, size_t len)
{
    size_t n = (size_t) snprintf(out, len,
                                 "cold_starts %llu\nevictions %llu\nretired_idle %llu\nlaunch_failures %llu\n",
                                 (unsigned long long) self->cold_starts, (unsigned long long) self->evictions,
                                 (unsigned long long) self->retired_idle, (unsigned long long) self->launch_failures);
    for (uint32_t k = 0; k < FX_POOL_KEYS && n < len; k++) {
        fx_ctr_t *c = self->ctrs[k];
        if (!c)
            continue;
        n += (size_t) snprintf(
            out + n, len - n,
            "container %s name %s idle %u busy %u starting %u failures %u given_up %d cold_starts %llu evicted %llu "
            "retired_idle %llu queued %zu\n",
            k ? c->def.container_id : "-", k ? c->def.name : "-", fx_pool_count_key(self->pool, k, FX_SLOT_IDLE),
            fx_pool_count_key(self->pool, k, FX_SLOT_BUSY), s_starting(self, k, NULL), c->failures, c->given_up,
            (unsigned long long) c->cold_starts, (unsigned long long) c->evicted,
            (unsigned long long) c->retired_idle, c->queue.len);
    }
    return n < len ? n : len - 1;
}

static void s_write_stats(fx_mgr_t *self)
{
    static char last[16384];
    char text[sizeof last];
    size_t n = s_stats_text(self, text, sizeof text);
    if (strcmp(text, last) == 0)
        return;
    if (fx_file_write_atomic(self->args->stats_file, text, n, 0644, 0) == 0)
        memcpy(last, text, n + 1);
    else
        fx_warn("cannot write --stats-file %s: %s", self->args->stats_file, strerror(errno));
}

void fx_mgr_pools_tick(fx_mgr_t *self, int64_t now)
{
    fx_pool_t *pool = self->pool;
    fx_pool_kill_late(pool, now);
    uint32_t idle_ms = self->args->container_idle_ms, start_ms = self->args->container_start_timeout_ms;
    for (uint32_t i = 0; fx_pool_total_key(pool, 0) < fx_pool_size(pool) && i < fx_pool_size(pool); i++) {
        fx_slot_t *slot = fx_pool_slot(pool, i);
        if (slot->key == 0)
            continue;
        if (slot->state == FX_SLOT_SPAWNED && !slot->timed_out && start_ms && now - slot->started_ms >= start_ms) {
            fx_warn("container worker pid %d not READY within %u ms; killing it", (int) slot->pid, start_ms);
            slot->timed_out = true;
            kill(-slot->pid, SIGKILL);
        }
        else if (slot->state == FX_SLOT_IDLE && idle_ms && now - slot->last_used_ms >= idle_ms) {
            fx_ctr_t *c = self->ctrs[slot->key];
            c->retired_idle++;
            self->retired_idle++;
            uint32_t next = s_claim(self, NULL);
            fx_info("container %s: worker pid %d idle for %lld ms (--container-idle-ms %u); retiring it", c->def.name,
                    (int) slot->pid, (long long) (now - slot->last_used_ms), idle_ms);
            s_retire(self, slot, next);
        }
    }
    if (self->args->stats_file)
        s_write_stats(self);
}

/* ------------------------------------------------ CAPACITY */

bool fx_mgr_pools_capacity(fx_mgr_t *self, uint32_t *cold_free, fx_container_capacity_t recs[FX_POOL_KEYS],
                           uint32_t *count)
{
    fx_pool_t *pool = self->pool;
    uint32_t n = 0, free_slots = 0;
    for (uint32_t k = 0; pool && k < FX_POOL_KEYS; k++) {
        fx_ctr_t *c = self->ctrs[k];
        if (!c)
            continue;
        uint32_t idle = fx_pool_count_key(pool, k, FX_SLOT_IDLE), busy = fx_pool_count_key(pool, k, FX_SLOT_BUSY);
        uint32_t starting = s_starting(self, k, NULL);
        if (k == 0)
            free_slots += idle + fx_pool_count_key(pool, 0, FX_SLOT_DEAD);
        else if (self->args->strategy == FX_CTR_LRU)
            free_slots += idle;
        if (k != 0 && !idle && !busy && !starting && !c->failures && !c->given_up)
            continue;
        fx_container_capacity_t *r = &recs[n++];
        memset(r, 0, sizeof *r);
        fx_strlcpy(r->container_id, c->def.container_id, sizeof r->container_id);
        r->idle = idle;
        r->busy = busy;
        r->starting = starting;
        r->failures = c->given_up && c->failures < FX_LAUNCH_FAILURES_MAX ? FX_LAUNCH_FAILURES_MAX : c->failures;
    }
    *cold_free = free_slots;
    *count = n;
    return free_slots != self->cold_free_sent || n != self->cap_sent_count ||
           memcmp(recs, self->cap_sent, n * sizeof recs[0]) != 0;
}
