/*  fx_pool.c: the manager's worker processes; see fx_pool.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_log.h"
#include "fx_pool.h"

extern char **environ;

/* Restart delay after a worker died before READY: 250 ms, doubling, at most
   10 s. A broken Python or a missing module at start would otherwise make
   the manager fork as fast as it can. */
#define S_BACKOFF_MIN_MS 250
#define S_BACKOFF_MAX_MS 10000

static const char *const s_state_names[] = {"DEAD", "SPAWNED", "IDLE", "BUSY", "KILLED"};

/* SPEC 6.4, manager side, per worker: every transition of a slot. What is
   done on each (WELCOME, TASKS, a kill, an error result, a retry) is done
   by the caller: fx_mgr_workers.c, and the reaping and restarting below. */
static const struct {
    fx_slot_state_t from;
    fx_slot_event_t event;
    fx_slot_state_t to;
} s_moves[] = {
    {FX_SLOT_SPAWNED, FX_SLOT_READY, FX_SLOT_IDLE},
    {FX_SLOT_IDLE, FX_SLOT_TASK, FX_SLOT_BUSY},
    {FX_SLOT_BUSY, FX_SLOT_DONE, FX_SLOT_IDLE},
    {FX_SLOT_BUSY, FX_SLOT_KILL, FX_SLOT_KILLED}, /* walltime, CANCEL, TASKS could not be sent */
    {FX_SLOT_BUSY, FX_SLOT_EXITED, FX_SLOT_DEAD}, /* a worker death of its task (8.5) */
    {FX_SLOT_IDLE, FX_SLOT_EXITED, FX_SLOT_DEAD},
    {FX_SLOT_SPAWNED, FX_SLOT_EXITED, FX_SLOT_DEAD}, /* died before READY: restarted with back-off */
    {FX_SLOT_KILLED, FX_SLOT_EXITED, FX_SLOT_DEAD},
    {FX_SLOT_DEAD, FX_SLOT_STARTED, FX_SLOT_SPAWNED},
    {FX_SLOT_IDLE, FX_SLOT_RETIRE, FX_SLOT_KILLED}, /* retired: idle too long, or its slot is needed */
};

struct fx_pool_t {
    char *worker_path;
    fx_wlink_t *link;
    uint32_t size;
    fx_slot_t *slots;
    uint32_t count[FX_SLOT_KILLED + 1]; /* slots per state */
    uint32_t key_count[FX_POOL_KEYS][FX_SLOT_KILLED + 1]; /* ... per key */
    uint32_t key_total[FX_POOL_KEYS];
    fx_slot_t *idle[FX_POOL_KEYS];      /* IDLE slots per key, a stack through idle_next */
    fx_pool_launch_fn *launch;          /* renders a container launch */
    void *launch_arg;
    int err_epoll;                      /* the container workers' stderr pipes; -1 until the first */
    fx_slot_t **by_peer;                /* peer - 1 -> its slot */
    uint32_t by_peer_cap;
    bool stopped; /* fx_pool_stop ran: start nothing more */
};

/* The slot leaves its state (bookkeeping of counts and the idle stack). */
static void s_leave(fx_pool_t *pool, fx_slot_t *slot)
{
    pool->count[slot->state]--;
    pool->key_count[slot->key][slot->state]--;
    if (slot->state != FX_SLOT_IDLE)
        return;
    fx_slot_t **at = &pool->idle[slot->key];
    while (*at && *at != slot)
        at = &(*at)->idle_next;
    if (*at)
        *at = slot->idle_next; /* the top of the stack, but for a death or a READY twice */
    slot->idle_next = NULL;
}

static void s_enter(fx_pool_t *pool, fx_slot_t *slot)
{
    pool->count[slot->state]++;
    pool->key_count[slot->key][slot->state]++;
    if (slot->state == FX_SLOT_IDLE) {
        slot->idle_next = pool->idle[slot->key];
        pool->idle[slot->key] = slot;
        slot->last_used_ms = fx_now_ms();
    }
}

bool fx_slot_on(fx_slot_t *slot, fx_slot_event_t event)
{
    for (size_t i = 0; i < sizeof s_moves / sizeof s_moves[0]; i++)
        if (s_moves[i].from == slot->state && s_moves[i].event == event) {
            s_leave(slot->pool, slot);
            slot->state = s_moves[i].to;
            s_enter(slot->pool, slot);
            return true;
        }
    return false;
}

const char *fx_slot_state_name(fx_slot_state_t state)
{
    return (unsigned) state < sizeof s_state_names / sizeof s_state_names[0] ? s_state_names[state] : "?";
}

fx_pool_t *fx_pool_new(const char *worker_path, fx_wlink_t *link, uint32_t size)
{
    fx_pool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->worker_path = strdup(worker_path);
    self->link = link;
    self->slots = calloc(size, sizeof *self->slots);
    if (!self->worker_path || !self->slots) {
        fx_pool_destroy(&self);
        return NULL;
    }
    self->size = size;
    for (uint32_t i = 0; i < size; i++) {
        self->slots[i].index = i;
        self->slots[i].pool = self;
        self->slots[i].err_fd = -1;
    }
    self->count[FX_SLOT_DEAD] = size;
    self->key_count[0][FX_SLOT_DEAD] = size;
    self->key_total[0] = size;
    self->err_epoll = -1;
    return self;
}

void fx_pool_destroy(fx_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_pool_t *self = *self_p;
    for (uint32_t i = 0; self->slots && i < self->size; i++) {
        fx_slot_t *slot = &self->slots[i];
        if (slot->pid > 0) {
            kill(slot->pid, SIGKILL);
            waitpid(slot->pid, NULL, 0);
        }
        fx_task_clear(&slot->task);
        fx_losses_clear(&slot->losses);
        if (slot->err_fd >= 0)
            close(slot->err_fd);
    }
    if (self->err_epoll >= 0)
        close(self->err_epoll);
    free(self->slots);
    free(self->by_peer);
    free(self->worker_path);
    free(self);
    *self_p = NULL;
}

uint32_t fx_pool_size(fx_pool_t *self)
{
    return self->size;
}

fx_slot_t *fx_pool_slot(fx_pool_t *self, uint32_t index)
{
    return index < self->size ? &self->slots[index] : NULL;
}

fx_slot_t *fx_pool_find(fx_pool_t *self, fx_wlink_peer_t peer)
{
    fx_slot_t *slot = peer >= 1 && peer <= self->by_peer_cap ? self->by_peer[peer - 1] : NULL;
    return slot && slot->pid > 0 && slot->peer == peer ? slot : NULL;
}

fx_slot_t *fx_pool_idle(fx_pool_t *self)
{
    return self->idle[0];
}

fx_slot_t *fx_pool_idle_key(fx_pool_t *self, uint32_t key)
{
    return key < FX_POOL_KEYS ? self->idle[key] : NULL;
}

uint32_t fx_pool_count(fx_pool_t *self, fx_slot_state_t state)
{
    return (unsigned) state <= FX_SLOT_KILLED ? self->count[state] : 0;
}

uint32_t fx_pool_count_key(fx_pool_t *self, uint32_t key, fx_slot_state_t state)
{
    return key < FX_POOL_KEYS && (unsigned) state <= FX_SLOT_KILLED ? self->key_count[key][state] : 0;
}

uint32_t fx_pool_total_key(fx_pool_t *self, uint32_t key)
{
    return key < FX_POOL_KEYS ? self->key_total[key] : 0;
}

void fx_pool_set_launcher(fx_pool_t *self, fx_pool_launch_fn *fn, void *arg)
{
    self->launch = fn;
    self->launch_arg = arg;
}

void fx_pool_set_key(fx_pool_t *self, fx_slot_t *slot, uint32_t key)
{
    if (slot->state != FX_SLOT_DEAD || key >= FX_POOL_KEYS || key == slot->key)
        return;
    s_leave(self, slot);
    self->key_total[slot->key]--;
    slot->key = key;
    self->key_total[key]++;
    s_enter(self, slot);
}

/* Remembers that peer is slot's; -1 if out of memory. */
static int s_map_peer(fx_pool_t *self, fx_wlink_peer_t peer, fx_slot_t *slot)
{
    if (peer > self->by_peer_cap) {
        uint32_t cap = self->by_peer_cap ? self->by_peer_cap : 8;
        while (cap < peer)
            cap *= 2;
        fx_slot_t **map = realloc(self->by_peer, cap * sizeof *map);
        if (!map)
            return -1;
        memset(map + self->by_peer_cap, 0, (cap - self->by_peer_cap) * sizeof *map);
        self->by_peer = map;
        self->by_peer_cap = cap;
    }
    self->by_peer[peer - 1] = slot;
    return 0;
}

/* In a worker's child process between fork and exec (async-signal-safe
   calls only): it dies with us, has a process group of its own (a kill of
   the group takes its children too), stdin /dev/null, stdout to its
   stderr (stray prints go to the log, never into our stdout), default
   SIGPIPE and no blocked signals. */
static void s_child(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    setpgid(0, 0);
    int fd = open("/dev/null", O_RDONLY);
    if (fd > 0)
        dup2(fd, 0);
    dup2(2, 1);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The parent's side of a start that forked. */
static void s_started(fx_slot_t *slot, pid_t pid, fx_wlink_peer_t peer, int64_t now_ms)
{
    setpgid(pid, pid); /* also here: no race with the manager's first kill(-pid) */
    slot->pid = pid;
    fx_slot_on(slot, FX_SLOT_STARTED);
    slot->peer = peer;
    slot->python_version[0] = '\0';
    slot->started_ms = now_ms;
    slot->inner_pid = 0;
    slot->timed_out = false;
    slot->err_len = 0;
}

static void s_cmd_free(fx_pool_cmd_t *cmd)
{
    char **vecs[2] = {cmd->argv, cmd->envp};
    for (int k = 0; k < 2; k++) {
        for (char **p = vecs[k]; p && *p; p++)
            free(*p);
        free(vecs[k]);
    }
    cmd->argv = cmd->envp = NULL;
}

/* The read end of a new container worker's stderr pipe joins the pool's
   epoll set (made on first use). */
static void s_watch_err(fx_pool_t *self, fx_slot_t *slot, int fd)
{
    if (self->err_epoll < 0)
        self->err_epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = slot};
    if (self->err_epoll >= 0)
        epoll_ctl(self->err_epoll, EPOLL_CTL_ADD, fd, &ev);
    slot->err_fd = fd;
}

/* A container launch (SPEC 12.7.2): the launcher's command, the link's
   end as descriptor 3 (what podman --preserve-fds 1 passes on), stderr
   into a pipe. Otherwise as a host worker's start. */
static int s_start_container(fx_pool_t *self, fx_slot_t *slot, fx_wlink_child_t *child, int64_t now_ms)
{
    fx_pool_cmd_t cmd = {NULL, NULL};
    if (!self->launch || self->launch(slot, child->flag, "3", &cmd, self->launch_arg) != 0 || !cmd.argv ||
        !cmd.argv[0]) {
        s_cmd_free(&cmd);
        fx_wlink_child_started(child);
        fx_wlink_child_gone(self->link, child->peer);
        return -2;
    }
    int errp[2] = {-1, -1};
    if (pipe2(errp, O_CLOEXEC) != 0)
        errp[0] = errp[1] = -1; /* no capture: the launch still goes */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (errp[1] >= 0) /* before s_child: its stdout goes where stderr goes */
            dup2(errp[1], 2);
        s_child(parent);
        fx_wlink_child_keep_as(child, 3);
        execvpe(cmd.argv[0], cmd.argv, cmd.envp ? cmd.envp : environ);
        static const char msg[] = "fx-manager: cannot execute the container runtime ";
        (void) !write(2, msg, sizeof msg - 1);
        (void) !write(2, cmd.argv[0], strlen(cmd.argv[0]));
        (void) !write(2, errno == ENOENT ? " (not found on PATH)\n" : " (exec failed)\n",
                      errno == ENOENT ? 21 : 15);
        _exit(127);
    }
    fx_wlink_child_started(child);
    if (errp[1] >= 0)
        close(errp[1]);
    s_cmd_free(&cmd);
    if (pid < 0) {
        if (errp[0] >= 0)
            close(errp[0]);
        fx_wlink_child_gone(self->link, child->peer);
        fx_warn("cannot fork a container worker: %s; will retry", strerror(errno));
        return -1;
    }
    s_started(slot, pid, child->peer, now_ms);
    if (errp[0] >= 0) {
        fcntl(errp[0], F_SETFL, fcntl(errp[0], F_GETFL) | O_NONBLOCK);
        s_watch_err(self, slot, errp[0]);
    }
    return 0;
}

static int s_start(fx_pool_t *self, fx_slot_t *slot, int64_t now_ms)
{
    fx_wlink_child_t child;
    char err[256];
    if (fx_wlink_child(self->link, &child, err, sizeof err) != FX_OK) {
        fx_warn("%s; will retry", err);
        return -1;
    }
    if (s_map_peer(self, child.peer, slot) != 0) {
        fx_wlink_child_started(&child);
        fx_wlink_child_gone(self->link, child.peer);
        fx_warn("out of memory starting a worker; will retry");
        return -1;
    }
    if (slot->key != 0)
        return s_start_container(self, slot, &child, now_ms);
    char *argv[] = {self->worker_path, (char *) child.flag, child.value, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        s_child(parent);
        fx_wlink_child_keep(&child); /* its end of the link survives exec; nothing else does */
        execve(argv[0], argv, environ);
        _exit(127);
    }
    fx_wlink_child_started(&child); /* only the child holds its end now */
    if (pid < 0) {
        fx_wlink_child_gone(self->link, child.peer);
        fx_warn("cannot fork a worker: %s; will retry", strerror(errno));
        return -1;
    }
    s_started(slot, pid, child.peer, now_ms);
    return 0;
}

int fx_pool_start_slot(fx_pool_t *self, fx_slot_t *slot, int64_t now_ms)
{
    if (self->stopped || slot->state != FX_SLOT_DEAD)
        return -1;
    int rc = s_start(self, slot, now_ms);
    if (rc == -2) { /* the launcher could not: the slot is the host's again */
        fx_pool_set_key(self, slot, 0);
        rc = s_start(self, slot, now_ms);
    }
    if (rc != 0)
        slot->respawn_ms = now_ms + S_BACKOFF_MIN_MS;
    return rc;
}

void fx_pool_start_due(fx_pool_t *self, int64_t now_ms)
{
    if (!self->count[FX_SLOT_DEAD])
        return;
    for (uint32_t i = 0; i < self->size && !self->stopped; i++) {
        fx_slot_t *slot = &self->slots[i];
        if (slot->state == FX_SLOT_DEAD && slot->respawn_ms <= now_ms)
            fx_pool_start_slot(self, slot, now_ms);
    }
}

void fx_pool_retire(fx_pool_t *self, fx_slot_t *slot, uint32_t next_key, int64_t grace_ms)
{
    if (!fx_slot_on(slot, FX_SLOT_RETIRE))
        return;
    slot->retiring = true;
    slot->next_key = next_key < FX_POOL_KEYS ? next_key : 0;
    slot->deadline_ms = fx_now_ms() + grace_ms;
    kill(-slot->pid, SIGTERM);
    (void) self;
}

void fx_pool_kill_late(fx_pool_t *self, int64_t now_ms)
{
    if (!self->count[FX_SLOT_KILLED])
        return;
    for (uint32_t i = 0; i < self->size; i++) {
        fx_slot_t *slot = &self->slots[i];
        if (slot->state == FX_SLOT_KILLED && slot->deadline_ms && now_ms >= slot->deadline_ms) {
            fx_warn("worker pid %d did not exit after SIGTERM; sending SIGKILL", (int) slot->pid);
            kill(-slot->pid, SIGKILL);
            slot->deadline_ms = 0;
        }
    }
}

int fx_pool_err_fd(fx_pool_t *self)
{
    return self->err_epoll;
}

/* Reads what the slot's stderr pipe holds now: kept while SPAWNED (the
   first FX_POOL_ERR_KEEP bytes), always copied to our stderr. Closes it at
   its end. */
static void s_err_read(fx_slot_t *slot)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(slot->err_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close(slot->err_fd); /* leaves the epoll set with it */
                slot->err_fd = -1;
            }
            return;
        }
        if (slot->state == FX_SLOT_SPAWNED || slot->pid <= 0) {
            size_t room = sizeof slot->err - 1 - slot->err_len;
            size_t take = (size_t) n < room ? (size_t) n : room;
            memcpy(slot->err + slot->err_len, buf, take);
            slot->err_len += take;
            slot->err[slot->err_len] = '\0';
        }
        (void) !write(2, buf, (size_t) n);
    }
}

void fx_pool_err_pump(fx_pool_t *self)
{
    if (self->err_epoll < 0)
        return;
    struct epoll_event evs[16];
    int n = epoll_wait(self->err_epoll, evs, 16, 0);
    for (int i = 0; i < n; i++) {
        fx_slot_t *slot = evs[i].data.ptr;
        if (slot->err_fd >= 0)
            s_err_read(slot);
    }
}

void fx_pool_describe_exit(int wait_status, char *buf, size_t len)
{
    if (WIFSIGNALED(wait_status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(wait_status),
                 strsignal(WTERMSIG(wait_status)));
    else if (WIFEXITED(wait_status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wait_status));
    else
        snprintf(buf, len, "ended (wait status %d)", wait_status);
}

void fx_losses_clear(fx_losses_t *losses)
{
    free(losses->text);
    losses->text = NULL;
    losses->count = 0;
}

void fx_task_clear(fx_task_t *task)
{
    zframe_destroy(&task->body);
    zframe_destroy(&task->payload);
    memset(task, 0, sizeof *task);
}

/* The slot's process is gone: hand it to fn, then free and reschedule. */
static void s_dead(fx_pool_t *self, fx_slot_t *slot, int status, fx_pool_death_fn *fn, void *arg)
{
    int64_t now = fx_now_ms();
    char how[128];
    fx_pool_describe_exit(status, how, sizeof how);
    bool never_ready = slot->state == FX_SLOT_SPAWNED;
    uint32_t key = slot->key;
    if (slot->err_fd >= 0) /* the last of what it said, for fn */
        s_err_read(slot);
    if (!slot->retiring)
        slot->next_key = 0;
    if (fn)
        fn(slot, status, arg);
    fx_task_clear(&slot->task);
    fx_losses_clear(&slot->losses);
    slot->session = 0;
    slot->deadline_ms = 0;
    /* host workers that die before READY back off; a container's failed
       launches are counted per container by the manager (12.7.4) */
    slot->failures = never_ready && key == 0 ? slot->failures + 1 : 0;
    uint64_t delay = 0;
    if (slot->failures && slot->next_key == 0) {
        delay = (uint64_t) S_BACKOFF_MIN_MS << (slot->failures > 6 ? 6 : slot->failures - 1);
        if (delay > S_BACKOFF_MAX_MS)
            delay = S_BACKOFF_MAX_MS;
    }
    if (!self->stopped && slot->retiring)
        fx_info("worker pid %d (slot %u, key %u) retired (%s); starting one for key %u", (int) slot->pid,
                slot->index, key, how, slot->next_key);
    else if (!self->stopped)
        fx_warn("worker pid %d (slot %u) %s%s; %s in %llu ms", (int) slot->pid, slot->index, how,
                never_ready ? " before it was READY" : "", "starting another", (unsigned long long) delay);
    slot->pid = 0;
    fx_wlink_child_gone(self->link, slot->peer);
    if (slot->peer >= 1 && slot->peer <= self->by_peer_cap)
        self->by_peer[slot->peer - 1] = NULL;
    slot->peer = 0;
    if (slot->err_fd >= 0) {
        close(slot->err_fd);
        slot->err_fd = -1;
    }
    fx_slot_on(slot, FX_SLOT_EXITED);
    slot->retiring = false;
    slot->timed_out = false;
    fx_pool_set_key(self, slot, slot->next_key);
    slot->next_key = 0;
    slot->respawn_ms = now + (int64_t) delay;
}

void fx_pool_reap(fx_pool_t *self, fx_pool_death_fn *fn, void *arg)
{
    /* the manager has no children but its workers: any child reaped is one */
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (uint32_t i = 0; i < self->size; i++)
            if (self->slots[i].pid == pid) {
                s_dead(self, &self->slots[i], status, fn, arg);
                break;
            }
}

static int s_pidfd_open(pid_t pid)
{
    return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* Waits until every live process has exited or the deadline passes. Sleeps
   in poll() on pidfds, which wake it when a process exits; where pidfds are
   missing (kernels before 5.3, valgrind) it looks again every 20 ms. */
static void s_wait_all(fx_pool_t *self, int64_t deadline)
{
    struct pollfd *fds = calloc(self->size, sizeof *fds);
    if (!fds)
        return;
    for (;;) {
        nfds_t n = 0;
        uint32_t live = 0;
        for (uint32_t i = 0; i < self->size; i++) {
            fx_slot_t *slot = &self->slots[i];
            int status;
            if (slot->pid > 0 && waitpid(slot->pid, &status, WNOHANG) == slot->pid)
                s_dead(self, slot, status, NULL, NULL);
            if (slot->pid > 0) {
                live++;
                int fd = s_pidfd_open(slot->pid);
                if (fd >= 0)
                    fds[n++] = (struct pollfd){fd, POLLIN, 0};
            }
        }
        int64_t left = deadline - fx_now_ms();
        if (live > 0 && left > 0)
            poll(fds, n, n == live ? (int) left : (int) (left < 20 ? left : 20));
        for (nfds_t i = 0; i < n; i++)
            close(fds[i].fd);
        if (live == 0 || left <= 0)
            break;
    }
    free(fds);
}

void fx_pool_stop(fx_pool_t *self, int grace_ms)
{
    self->stopped = true;
    for (uint32_t i = 0; i < self->size; i++) /* a container's runtime and its worker alike */
        if (self->slots[i].pid > 0)
            kill(self->slots[i].key ? -self->slots[i].pid : self->slots[i].pid, SIGTERM);
    s_wait_all(self, fx_now_ms() + grace_ms);
    for (uint32_t i = 0; i < self->size; i++) {
        fx_slot_t *slot = &self->slots[i];
        if (slot->pid > 0) {
            fx_warn("worker pid %d did not exit within %d ms of SIGTERM; sending SIGKILL", (int) slot->pid,
                    grace_ms);
            kill(slot->pid, SIGKILL);
            int status;
            if (waitpid(slot->pid, &status, 0) == slot->pid)
                s_dead(self, slot, status, NULL, NULL);
        }
    }
}
