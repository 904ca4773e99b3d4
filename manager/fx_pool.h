/*  fx_pool.h: the manager's worker processes.

    A pool is a fixed number of slots; each slot holds at most one fx-worker
    process at a time. The pool starts processes (fork/exec, each in its own
    process group, each with its own connection of the worker link,
    fx_wlink_child, whose end it inherits), reaps them (waitpid WNOHANG,
    when the manager saw SIGCHLD), and restarts them with a backoff when one
    dies before it ever said READY. What the slot's worker is doing (state,
    task) is set by the manager; the pool only clears it when the process is
    gone. Finding an idle slot, the slot of a peer, and how many slots are in
    a state cost O(1): the pool keeps them as slots change state.

    Each slot's process is for one *key*: 0 is the host (fx-worker run as
    it is, as fx had it before containers), 1 .. FX_POOL_KEYS - 1 a
    container of the manager's (fx_mgr_pools.c). Idle slots and counts are
    kept per key. A slot of a container key is started through the
    launcher the manager set (fx_pool_set_launcher: the container's
    template rendered), with the link's end as descriptor 3 and its stderr
    into a pipe the pool reads (fx_pool_err_fd, fx_pool_err_pump): the first
    lines of what it says before its READY are kept for the error text of a
    launch that fails, and everything is copied to the manager's stderr. */
#ifndef FX_POOL_H
#define FX_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fx_limits.h"
#include "fx_msg.h"
#include "fx_wlink.h"

/* Keys of a pool: the host and one per container a manager may know. */
#define FX_POOL_KEYS (FX_CONTAINERS_MAX + 1)
/* What a container launch said on stderr before its READY, kept for the
   error text of a failed launch (the first lines). */
#define FX_POOL_ERR_KEEP 1024

/* Worker deaths a task has survived (SPEC: fx_task_t.retries): how many,
   and "worker pid N killed by signal 9 (Killed), ..." for the final error
   text (heap; NULL before the first death). */
typedef struct {
    uint32_t count;
    char *text;
} fx_losses_t;

/* Frees the text and zeroes the count. */
void fx_losses_clear(fx_losses_t *losses);

/* A worker as its manager sees it, by the names of SPEC 6.4 (manager side,
   per worker), and what happens to it. A slot's state changes only through
   fx_slot_on, along a row of its table (s_moves in fx_pool.c), which is the
   SPEC's. */
typedef enum {
    FX_SLOT_DEAD = 0, /* no process; a new one starts at respawn_ms */
    FX_SLOT_SPAWNED,  /* process started, no READY yet */
    FX_SLOT_IDLE,     /* READY answered with WELCOME; no task */
    FX_SLOT_BUSY,     /* running `task` */
    FX_SLOT_KILLED, /* its process group killed by the manager (walltime, CANCEL, unreachable); not yet reaped
                     */
} fx_slot_state_t;

typedef enum {
    FX_SLOT_STARTED, /* a process started in the slot */
    FX_SLOT_READY,   /* its READY, naming its pid, was answered with WELCOME */
    FX_SLOT_TASK,    /* it was sent TASKS with one task */
    FX_SLOT_DONE,    /* its task ended: RESULTS with its result, or an ERROR (the task was not taken) */
    FX_SLOT_KILL,    /* the manager killed its process group */
    FX_SLOT_EXITED,  /* its process is gone (reaped) */
    FX_SLOT_RETIRE,  /* an idle worker is retired (idle time, or its slot goes to another container) */
} fx_slot_event_t;

typedef struct fx_pool_t fx_pool_t;
typedef struct fx_slot_t fx_slot_t;

struct fx_slot_t {
    uint32_t index;
    pid_t pid; /* 0 when DEAD */
    fx_slot_state_t state;
    fx_wlink_peer_t peer;                    /* the current process's connection on the worker link */
    char python_version[FX_VERSION_MAX + 1]; /* from READY */
    fx_task_t task;                          /* BUSY: the task it runs; owns its frames */
    uint32_t session;                        /* BUSY: interchange session the task came in */
    fx_losses_t losses;                      /* BUSY: the task's earlier worker deaths */
    int64_t deadline_ms;                     /* BUSY: walltime end, 0 = none */
    int64_t started_ms;
    int64_t respawn_ms; /* DEAD: when to start the next process */
    uint32_t failures;  /* deaths before READY, in a row (host slots only) */
    fx_pool_t *pool;
    fx_slot_t *idle_next; /* IDLE: the next idle slot of its key */
    /* containers (fx_mgr_pools.c) */
    uint32_t key;          /* what its process is (DEAD: will be) for: 0 host, else a container */
    uint32_t next_key;     /* set before a death (retirement, fx_pool_death_fn): the key it restarts as */
    bool retiring;         /* KILLED by fx_pool_retire (not walltime or cancel) */
    bool timed_out;        /* SPAWNED past the container start timeout, killed */
    int64_t last_used_ms;  /* IDLE: when it became idle (READY, or its last task ended) */
    uint32_t inner_pid;    /* a container worker's pid as it sees it (READY), 0 for the host */
    uint32_t gen;          /* the definition of its container it was started from (fx_mgr_pools.c) */
    int err_fd;            /* container: read end of its stderr pipe, -1 none */
    char err[FX_POOL_ERR_KEEP]; /* container: what it said on stderr before READY */
    size_t err_len;
};

/* Takes the slot along the transition of (its state, event): true, or
   false, with the state unchanged, if SPEC 6.4 has no such transition. */
bool fx_slot_on(fx_slot_t *slot, fx_slot_event_t event);

/* "SPAWNED", "IDLE", ... */
const char *fx_slot_state_name(fx_slot_state_t state);

/* Called for each process that died, before its slot is cleared; the
   manager turns a BUSY slot's task into a result here. */
typedef void(fx_pool_death_fn)(fx_slot_t *slot, int wait_status, void *arg);

/* A pool of `size` slots running worker_path, each process a peer of
   link (which must outlive the pool). Starts no process yet
   (fx_pool_start_due does). Caller owns the return value. */
fx_pool_t *fx_pool_new(const char *worker_path, fx_wlink_t *link, uint32_t size);

/* Kills (SIGKILL) and reaps any process left, frees the pool. Accepts NULL. */
void fx_pool_destroy(fx_pool_t **self_p);

uint32_t fx_pool_size(fx_pool_t *self);
fx_slot_t *fx_pool_slot(fx_pool_t *self, uint32_t index);

/* The slot whose current process is this peer of the worker link, or NULL. */
fx_slot_t *fx_pool_find(fx_pool_t *self, fx_wlink_peer_t peer);

/* An IDLE host slot (the one idle the shortest time), or NULL. */
fx_slot_t *fx_pool_idle(fx_pool_t *self);
/* The same for a key. */
fx_slot_t *fx_pool_idle_key(fx_pool_t *self, uint32_t key);

/* Slots in this state; of one key; all slots of one key. */
uint32_t fx_pool_count(fx_pool_t *self, fx_slot_state_t state);
uint32_t fx_pool_count_key(fx_pool_t *self, uint32_t key, fx_slot_state_t state);
uint32_t fx_pool_total_key(fx_pool_t *self, uint32_t key);

/* The command one container launch runs: argv and envp, NULL-terminated,
   every string and both vectors malloc'd (the pool frees them). */
typedef struct {
    char **argv;
    char **envp;
} fx_pool_cmd_t;

/* Fills cmd for a launch of slot (its key is a container's) whose worker
   reaches the manager with link_flag link_value: 0, or -1 if it cannot
   (the launcher has ended what waited for it; the slot goes back to the
   host). */
typedef int(fx_pool_launch_fn)(fx_slot_t *slot, const char *link_flag, const char *link_value, fx_pool_cmd_t *cmd,
                               void *arg);
void fx_pool_set_launcher(fx_pool_t *self, fx_pool_launch_fn *fn, void *arg);

/* A DEAD slot is given to key (counts move with it). */
void fx_pool_set_key(fx_pool_t *self, fx_slot_t *slot, uint32_t key);

/* Starts a process in this DEAD slot now: 0, or -1 (it stays DEAD, to be
   started again at its respawn time). */
int fx_pool_start_slot(fx_pool_t *self, fx_slot_t *slot, int64_t now_ms);

/* Retires an IDLE slot's worker: SIGTERM to its process group, KILLED until
   reaped (SIGKILL after grace_ms: fx_pool_kill_late), then it restarts as
   next_key. */
void fx_pool_retire(fx_pool_t *self, fx_slot_t *slot, uint32_t next_key, int64_t grace_ms);

/* SIGKILL to the process group of every KILLED slot past its deadline. */
void fx_pool_kill_late(fx_pool_t *self, int64_t now_ms);

/* The descriptor that is readable when a container worker's stderr has
   something (-1 while no container was ever started), and the reading of
   it, which never blocks. */
int fx_pool_err_fd(fx_pool_t *self);
void fx_pool_err_pump(fx_pool_t *self);

/* Starts a process in every DEAD slot whose respawn time has come. */
void fx_pool_start_due(fx_pool_t *self, int64_t now_ms);

/* Reaps every exited process (never blocks; call after SIGCHLD, and now
   and then in case one was missed): calls fn, frees the slot's task and
   losses (fn may move them out first), and schedules the next process (at
   once if the dead one had been READY or was killed by the manager, else
   with a growing delay) for slot->next_key: the key fx_pool_retire gave
   it, else 0 (the host), unless fn sets another. A container slot's stderr
   is read to its end before fn is called. */
void fx_pool_reap(fx_pool_t *self, fx_pool_death_fn *fn, void *arg);

/* SIGTERM to every process, up to grace_ms for them to exit, then SIGKILL;
   all reaped on return, nothing restarted afterwards. */
void fx_pool_stop(fx_pool_t *self, int grace_ms);

/* "killed by signal 9 (Killed)" or "exited with status 3", for logs and
   result texts. */
void fx_pool_describe_exit(int wait_status, char *buf, size_t len);

/* Frees a task's frames and zeroes it. */
void fx_task_clear(fx_task_t *task);

#endif
