/*  fx_pool.h: the manager's worker processes.

    A pool is a fixed number of slots; each slot holds at most one fx-worker
    process at a time. The pool starts processes (fork/exec, each in its own
    process group, each with its own connection of the worker link,
    fx_wlink_child, whose end it inherits), reaps them (waitpid WNOHANG,
    when the manager saw SIGCHLD), and restarts them with a backoff when one
    dies before it ever said READY. What the slot's worker is doing (state,
    task) is set by the manager; the pool only clears it when the process is
    gone. Finding an idle slot, the slot of a peer, and how many slots are in
    a state cost O(1): the pool keeps them as slots change state. */
#ifndef FX_POOL_H
#define FX_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fx_msg.h"
#include "fx_wlink.h"

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
    uint32_t failures;  /* deaths before READY, in a row */
    fx_pool_t *pool;
    fx_slot_t *idle_next; /* IDLE: the next idle slot */
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

/* An IDLE slot (the one idle the shortest time), or NULL. */
fx_slot_t *fx_pool_idle(fx_pool_t *self);

/* Slots in this state. */
uint32_t fx_pool_count(fx_pool_t *self, fx_slot_state_t state);

/* Starts a process in every DEAD slot whose respawn time has come. */
void fx_pool_start_due(fx_pool_t *self, int64_t now_ms);

/* Reaps every exited process (never blocks; call after SIGCHLD, and now
   and then in case one was missed): calls fn, frees the slot's task and
   losses (fn may move them out first), and schedules the next process (at
   once if the dead one had been READY or was killed by the manager, else
   with a growing delay). */
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
