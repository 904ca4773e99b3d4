/*  fx_mgr_internal.h: the manager's state, shared by its three files:
        fx_mgr.c          the loop, held tasks and results, helpers
        fx_mgr_link.c     the interchange link (SPEC 6.3, 7, 9), over
                          fx_mgr_socket.c (its socket and why it fails)
        fx_mgr_workers.c  the worker link and the pool (SPEC 6.4), over
                          worker/fx_wlink.c (the link's transport) and
                          fx_pool.c (the processes)
        fx_mgr_pools.c    pools by container: definitions, launches,
                          strategies, CAPACITY's numbers (SPEC 12.7)
    Not a public header. */
#ifndef FX_MGR_INTERNAL_H
#define FX_MGR_INTERNAL_H

#include <czmq.h>

#include "fx_clock.h"
#include "fx_container.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_errlimit.h"
#include "fx_log.h"
#include "fx_mgr.h"
#include "fx_mgr_bodies.h"
#include "fx_mgr_socket.h"
#include "fx_pool.h"

/* Longest poll, and how often walltimes and respawns are looked at and
   dead workers reaped even without a SIGCHLD (one that lands just before
   the poll starts does not wake it). Walltimes are enforced to this much
   on top of FX_MGR_WALLTIME_SLACK_MS. */
#define FX_MGR_TICK_MS 100
/* Workers get this long to exit after SIGTERM before SIGKILL. */
#define FX_MGR_TERM_GRACE_MS 3000
/* A hello attempt waits --heartbeat-missed beats for its WELCOME, twice as
   long after each attempt that failed, but at most this long (or the one
   wait, if that is longer): a manager started before its interchange, or
   with the wrong keys, retries every half minute and says why each time. */
#define FX_MGR_HELLO_BACKOFF_MAX_MS 30000
/* The manager kills a task this long after its walltime, so a shell task's
   own timeout in the worker (which keeps the worker warm) goes first. */
#define FX_MGR_WALLTIME_SLACK_MS 1000

/* The manager's link to its interchange, by the names of SPEC 6.3 (manager
   side). Its transitions are one table, s_moves in fx_mgr_link.c. */
typedef enum {
    FX_LINK_START = 0,  /* connected or connecting, no MANAGER_HELLO said on this attempt yet */
    FX_LINK_HELLO_SENT, /* MANAGER_HELLO sent, waiting for WELCOME */
    FX_LINK_ACTIVE,     /* WELCOMEd: a session */
    FX_LINK_CLOSED,     /* given up (refused, or orphaned): the manager stops */
} fx_link_state_t;

/* A task not yet given to a worker, the session it came in, and the
   worker deaths it has survived so far (fx_losses_t, fx_pool.h). */
typedef struct {
    fx_task_t task;
    uint32_t session;
    fx_losses_t losses;
    uint32_t key;   /* the pool key of its container (0: the host) */
    uint64_t order; /* arrival number: which container waited longest */
} fx_queued_t;

/* Queued tasks, a ring, oldest at head. */
typedef struct {
    fx_queued_t *q;
    size_t head, len, cap;
} fx_ring_t;

/* The host or one container (SPEC 12.7): its definition, its queue, its
   launches. The manager's table is by pool key (fx_pool.h): 0 is the
   host, whose queue is the one every task had before containers. */
typedef struct {
    fx_container_def_t def; /* container_id "" for the host */
    fx_runtime_t runtime;
    const char *template_text; /* --container-template of its name, else NULL: the runtime's default */
    fx_ring_t queue;
    uint32_t reserved;  /* slots retiring so as to start a worker for it */
    uint32_t failures;  /* launches failed in a row */
    bool given_up;      /* FX_LAUNCH_FAILURES_MAX failures in a row: its tasks end with FX_E_CONTAINER */
    char why[512];      /* the last failure */
    char digest[FX_NAME_MAX + 1]; /* image digest, where the runtime gives one */
    bool digest_asked;
    uint32_t gen;       /* definitions of this id so far: a worker of an older one is retired */
    uint64_t cold_starts, launch_failures, evicted, retired_idle; /* counters, for the stats */
} fx_ctr_t;

/* Unacknowledged results held: past this many the manager stops asking
   for work. The interchange passes the broker's RESULTS_ACK back to the
   manager that sent each result (SPEC 6.3, 8.3), and until then the manager
   keeps the result, to send again after the next WELCOME. So that a broker
   that stops acking cannot make a manager hold results without end, the
   window it announces is 0 while it holds more than this many unacked
   results (fx_mgr_window): the tasks still in flight finish, and no more
   come until acks bring the count back down. Two full batches: one on its
   way and one being committed is the normal worst case. */
#define FX_MGR_UNACKED_MAX (2 * FX_BATCH_MAX)

/* A result held until the interchange acknowledges it (RESULTS_ACK, which
   it sends once the broker committed the result), and its task's session.
   Results are held in the order they are to be sent; those sent in this
   session are the first `out_sent` of them (fx_mgr.c keeps it so). */
typedef struct {
    fx_result_t result;
    uint32_t session;
} fx_outgoing_t;

typedef struct {
    const fx_mgr_args_t *args;
    fx_mgr_socket_t *uplink; /* the socket to the interchange (renewed after a failed hello) */
    zsock_t *link;           /* its DEALER now: fx_mgr_socket_zsock(uplink) */
    fx_wlink_t *wlink;       /* the worker link: our workers */
    fx_pool_t *pool;
    bool workers_ready;   /* the last poll found the worker link readable */
    bool link_ready;      /* ... the interchange's socket readable */
    bool monitor_ready;   /* ... its monitor readable */
    int link_events;      /* the socket's ZMQ_EVENTS in this pass; -1: not asked yet */
    int64_t next_monitor; /* ACTIVE: when the monitor is next read without the poll saying so */
    int64_t next_tick;    /* when reaping, walltimes and respawns are next looked at */

    fx_link_state_t state;
    uint32_t session;      /* WELCOMEs so far; tags the session each held task came in */
    uint32_t seq;          /* last request seq used on the link */
    uint32_t hello_seq;    /* seq of the last MANAGER_HELLO */
    uint32_t welcomed_seq; /* seq of the hello the last WELCOME answered */
    uint32_t heartbeat_ms;
    uint32_t credit_sent; /* window announced in this session; UINT32_MAX = none yet */
    uint32_t attempt;     /* START, HELLO_SENT: hello attempts since the last WELCOME (1 = the first) */
    int64_t attempt_end;  /* START, HELLO_SENT: when this attempt has failed without a WELCOME */
    int64_t last_heard;
    int64_t next_beat; /* ACTIVE: when to send HEARTBEAT, one period after the last message sent */

    bool draining;         /* DRAIN, STOP or SIGTERM: window 0, finish what is held */
    bool signalled;        /* SIGTERM/SIGINT: stopping gracefully; a second one stops at once */
    bool stopping;         /* leave the loop */
    int64_t stop_deadline; /* STOP, SIGTERM: leave by then even if tasks remain; 0 = none */
    int exit_status;

    fx_ctr_t host_pool;              /* pool key 0: tasks for the host, its queue */
    fx_ctr_t *ctrs[FX_POOL_KEYS];    /* by pool key; ctrs[0] = &host_pool; NULL = unused */
    size_t queued;                   /* tasks queued for every key */
    size_t ctr_queued;               /* ... for containers (keys above 0) */
    uint64_t arrivals;               /* tasks queued so far (fx_queued_t.order) */
    uint64_t cold_starts, evictions, retired_idle, launch_failures; /* the pools' counters (stats) */
    fx_container_capacity_t cap_sent[FX_POOL_KEYS]; /* the last CAPACITY sent in this session */
    uint32_t cap_sent_count, cold_free_sent;
    bool stats_dirty;
    int64_t next_stats;
    fx_outgoing_t *out; /* out[out_head .. out_head + out_len): results sent, then results to send */
    size_t out_head, out_len, out_cap;
    size_t out_sent;    /* the first out_sent of them went out in this session: the unacked ones */
    zhashx_t *held_ids; /* ids of tasks queued, running or with a result held (a superset: an id
                           whose task has gone may linger); a task id not here is not held */
    bool old_possible;  /* held tasks of an earlier session may exist (since a WELCOME) */

    fx_bodies_t *bodies;        /* function bodies by version, from the interchange (SPEC 12.1.4) */
    fx_seen_t **seen;           /* per slot (index): the versions its worker was sent a body for */
    uint64_t bodies_sent;       /* bodies sent to workers, for the log */
    char host[FX_NAME_MAX + 1]; /* gethostname, for results' provenance */

    fx_errlimit_t *errors;    /* ERRORs we send to the interchange (SPEC 10.3; the worker link has its own) */
    zframe_t *link_peer;      /* the interchange's key in `errors` (the DEALER has no routing id) */
    int64_t next_errors_tick; /* when to log how many ERRORs the limit held back */
} fx_mgr_t;

/* fx_mgr.c */
int fx_ring_push(fx_ring_t *ring, fx_queued_t *item, bool front);
void fx_ring_pop(fx_ring_t *ring, fx_queued_t *item);
fx_queued_t *fx_ring_at(fx_ring_t *ring, size_t i);
/* A task into its key's queue (item->key), or the front of it. */
int fx_mgr_queue_push(fx_mgr_t *self, fx_queued_t *item, bool front);
/* The oldest task of key's queue (which must not be empty). */
void fx_mgr_queue_pop(fx_mgr_t *self, uint32_t key, fx_queued_t *item);
bool fx_mgr_queue_take(fx_mgr_t *self, const char *task_id, fx_queued_t *item);
void fx_mgr_queue_clear(fx_mgr_t *self);
void fx_mgr_out_push(fx_mgr_t *self, fx_result_t *result, uint32_t session);
void fx_mgr_error_result(fx_mgr_t *self, const char *task_id, uint32_t session, int code, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
/* The result just pushed for task (an error result of the manager's)
   gets the task's stamps and the pid of the worker it ran on (0: none). */
void fx_mgr_out_provenance(fx_mgr_t *self, const fx_task_t *task, int pid);
void fx_mgr_hold(fx_mgr_t *self, const char *task_id);
bool fx_mgr_adopt(fx_mgr_t *self, const char *task_id);
size_t fx_mgr_held(fx_mgr_t *self, bool old_only);
size_t fx_mgr_unacked(fx_mgr_t *self);
size_t fx_mgr_ack(fx_mgr_t *self, const fx_id_text_t *ids, uint32_t count);
uint32_t fx_mgr_window(fx_mgr_t *self);
void fx_mgr_errors_tick(fx_mgr_t *self);

/* fx_mgr_link.c */
int fx_mgr_link_open(fx_mgr_t *self, const fx_keypair_t *kp);
void fx_mgr_link_read(fx_mgr_t *self);
void fx_mgr_link_flush(fx_mgr_t *self);
void fx_mgr_link_credit(fx_mgr_t *self);
void fx_mgr_link_timers(fx_mgr_t *self);
uint32_t fx_mgr_lost_after_ms(fx_mgr_t *self);

/* fx_mgr_workers.c */
int fx_mgr_workers_start(fx_mgr_t *self);
void fx_mgr_workers_read(fx_mgr_t *self);
void fx_mgr_workers_reap(fx_mgr_t *self);
void fx_mgr_workers_walltime(fx_mgr_t *self);
void fx_mgr_workers_dispatch(fx_mgr_t *self);
void fx_mgr_workers_cancel(fx_mgr_t *self, const char *task_id, bool queued_only);
void fx_mgr_workers_give(fx_mgr_t *self, fx_slot_t *slot, fx_queued_t *item);

/* fx_mgr_pools.c */
int fx_mgr_pools_init(fx_mgr_t *self);
void fx_mgr_pools_init_launcher(fx_mgr_t *self); /* once the pool exists */
void fx_mgr_pools_destroy(fx_mgr_t *self);
/* CONTAINERS (SPEC 5.35): definitions in, by id. */
void fx_mgr_pools_define(fx_mgr_t *self, const fx_container_def_t *defs, uint32_t count);
/* The pool key of a task's container: FX_OK, or not (then the task has an
   FX_E_CONTAINER result: no definition, or given up). */
int fx_mgr_pools_key(fx_mgr_t *self, const fx_task_t *task, uint32_t *key);
/* Container tasks to idle workers of their container; cold starts for the
   rest as the strategy allows (an idle host worker's slot is free). Run
   before host tasks take the idle host workers, so that a backlog of host
   tasks cannot starve a container. */
void fx_mgr_pools_dispatch(fx_mgr_t *self);
/* Host tasks with no idle host worker: under lru, the slots of idle
   container workers. */
void fx_mgr_pools_host(fx_mgr_t *self);
/* Each tick: idle retirement, start timeouts, late kills, the stats file. */
void fx_mgr_pools_tick(fx_mgr_t *self, int64_t now);
/* A container slot's process died (from the pool's death callback): a
   failed launch is counted and ends a task; the slot's next key chosen. */
void fx_mgr_pools_on_death(fx_mgr_t *self, fx_slot_t *slot, int wait_status);
/* A container slot's task ended: a worker of an outdated definition is
   retired. */
void fx_mgr_pools_on_done(fx_mgr_t *self, fx_slot_t *slot);
/* A container worker's READY. */
void fx_mgr_pools_on_ready(fx_mgr_t *self, fx_slot_t *slot);
/* The container's id and image digest into a result from slot's worker. */
void fx_mgr_pools_tag(fx_mgr_t *self, uint32_t key, fx_result_t *r);
/* CAPACITY's numbers now but the window (cold_free, one record per key
   in use); true if they differ from the last sent in this session
   (fx_mgr_t.cap_sent). O(keys in use). */
bool fx_mgr_pools_capacity(fx_mgr_t *self, uint32_t *cold_free, fx_container_capacity_t recs[FX_POOL_KEYS],
                           uint32_t *count);

#endif
