/*  fx_ix_managers.h: the managers connected to this endpoint.

    One record per manager session, keyed by the ROUTER routing id of its
    connection: its id, host, pid, workers, the window it announced by
    CAPACITY or CREDIT, its cold_free and its workers per container
    (fx_ix_mc_t, SPEC 5.34), the tasks it holds (in flight), and when it
    was last heard and last sent to. A second MANAGER_HELLO from the same routing id, or a
    hello from another connection that carries the same manager id,
    replaces the record: the old session's tasks go back to the caller to
    requeue (at-least-once).

    The registry is the per-routing-id session state of SPEC 6.3
    (interchange side): a routing id is ACTIVE while a record is kept for
    it, NONE otherwise. The transitions are made here and nowhere else:
    _hello (NONE -> ACTIVE; ACTIVE -> ACTIVE with a new record), _remove and
    _expire (ACTIVE -> NONE), a hello that replaces another connection's
    record (that connection: ACTIVE -> NONE). fx_ix_manager_read.c holds
    the table of what each message does in each state.

    Cost: everything per message or per task is O(1): lookup by routing id
    or by manager id (hashes); the sums ENDPOINT_STATUS and CREDIT report
    (windows, workers, free slots) are kept up to date as records change,
    never summed by a scan; the routing strategy (fx_ix_route.h), which the
    registry owns, hears of every change of a manager's room. Loss detection
    and heartbeats are two timer lists (the managers by last heard, by last
    sent): a message moves its manager to the back of one, so each list is
    in deadline order and only its front is ever looked at; a beat or a
    loss costs O(1), however many managers are connected. */
#ifndef FX_IX_MANAGERS_H
#define FX_IX_MANAGERS_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_ix_list.h"
#include "fx_ix_route.h"
#include "fx_ix_tasks.h"
#include "fx_msg.h"

typedef struct fx_ix_managers_t fx_ix_managers_t;

/* A routing id's session, as SPEC 6.3 names the states. */
typedef enum {
    FX_IX_SESSION_NONE,   /* no MANAGER_HELLO yet, or lost, or replaced */
    FX_IX_SESSION_ACTIVE, /* MANAGER_HELLO answered with WELCOME */
} fx_ix_session_t;

/* Caller owns the registry, which routes with ops (NULL: warming-aware)
   and keeps the container slots (fx_ix_containers.h). NULL only on OOM. */
fx_ix_managers_t *fx_ix_managers_new(const fx_ix_route_ops_t *ops);

/* The container slots, for every phase that names a container. */
fx_ix_containers_t *fx_ix_managers_containers(fx_ix_managers_t *self);

/* A manager's workers for one container (SPEC 5.34): the numbers of its
   last CAPACITY, and what the interchange counted since. A manager that
   sends CREDIT instead has one record, the host's, whose pool is
   min(window, workers) (SPEC 5.34). Its estimate of idle warm workers
   (fx_ix_mc_idle) is the lesser of the reported idle count less the tasks
   handed since plus those answered since, and the pool less the tasks of
   the container in flight to it: a task sent to an idle warm worker makes
   it busy at once, and a batch does not pile onto one manager on stale
   numbers (SPEC 7.9). */
struct fx_ix_mc_t {
    fx_ix_manager_t *manager;
    uint32_t slot;
    uint32_t idle, busy, starting, failures; /* its last CAPACITY's record; 0 if none */
    uint32_t workers;                        /* the pool: idle + busy + starting */
    uint32_t in_flight;                      /* its tasks at the manager now */
    uint32_t sent, done;                     /* handed, answered since the last CAPACITY */
    uint32_t sent_gen;                       /* definition generation sent this session; 0: none */
    bool reported;                           /* in the last CAPACITY */
    uint64_t routed, cold_routed;            /* counters */
    fx_ix_node_t warm;                       /* fx_ix_route.c's */
};
uint32_t fx_ix_mc_idle(const fx_ix_mc_t *mc);

/* Frees every record; tasks they held are left to the task store (which
   frees them). Accepts NULL. */
void fx_ix_managers_destroy(fx_ix_managers_t **self_p);

/* The routing strategy, for the dispatch phase. */
fx_ix_route_t *fx_ix_managers_route(fx_ix_managers_t *self);

/* A MANAGER_HELLO arrived on routing: make the record (window 0 until its
   CREDIT), replacing any with the same routing id or manager id. Tasks the
   replaced records held are appended to orphans (fx_ix_task_t by node, in
   the order they were dispatched, holder cleared). NULL only on OOM. */
fx_ix_manager_t *fx_ix_managers_hello(fx_ix_managers_t *self, zframe_t *routing, const fx_msg_t *hello,
                                      int64_t now, fx_ix_list_t *orphans);

/* The session state of routing; when ACTIVE, *manager_p is its record
   (else NULL). */
fx_ix_session_t fx_ix_managers_session(fx_ix_managers_t *self, zframe_t *routing,
                                       fx_ix_manager_t **manager_p);

/* Drop the record; its tasks are appended to orphans as in _hello. */
void fx_ix_managers_remove(fx_ix_managers_t *self, fx_ix_manager_t **manager_p, fx_ix_list_t *orphans);

/* Drop every manager not heard for more than silence_ms, appending their
   tasks to orphans; logs each. Returns how many were dropped. O(1) plus
   O(1) per manager dropped. */
int fx_ix_managers_expire(fx_ix_managers_t *self, int64_t now, int64_t silence_ms, fx_ix_list_t *orphans);

/* Heartbeats (SPEC 9.2): a manager must get a message every period_ms.
   They go out in rounds, every slack_ms at most: _beat_due is the next
   manager to beat in the round at now (nothing sent to it since
   now + slack_ms - period_ms), or NULL; the caller beats it (sending marks
   it: fx_ix_manager_sent) and asks again. _beat_next is when the next
   round is due (INT64_MAX: no manager). */
fx_ix_manager_t *fx_ix_managers_beat_due(fx_ix_managers_t *self, int64_t now, int64_t period_ms,
                                         int64_t slack_ms);
int64_t fx_ix_managers_beat_next(fx_ix_managers_t *self, int64_t period_ms, int64_t slack_ms);

/* When the next manager goes silent for more than silence_ms (INT64_MAX:
   no manager), for the loop's timer. */
int64_t fx_ix_managers_expire_next(fx_ix_managers_t *self, int64_t silence_ms);

/* Iteration in arrival order; do not remove while iterating. */
fx_ix_manager_t *fx_ix_managers_first(fx_ix_managers_t *self);
fx_ix_manager_t *fx_ix_managers_next(fx_ix_managers_t *self);
size_t fx_ix_managers_size(fx_ix_managers_t *self);

/* Sum of the windows of all managers (what this endpoint can hold). O(1). */
uint64_t fx_ix_managers_window(fx_ix_managers_t *self);

/* Sum of the workers the managers announced in MANAGER_HELLO, and of
   their free windows (window - in flight): what ENDPOINT_STATUS reports.
   O(1). */
uint64_t fx_ix_managers_workers(fx_ix_managers_t *self);
uint64_t fx_ix_managers_free(fx_ix_managers_t *self);

/* The manager whose session carries this manager id, or NULL. O(1). */
fx_ix_manager_t *fx_ix_managers_by_id(fx_ix_managers_t *self, const char *manager_id);

/* One manager. */
const char *fx_ix_manager_id(const fx_ix_manager_t *self);
const char *fx_ix_manager_host(const fx_ix_manager_t *self);
uint32_t fx_ix_manager_pid(const fx_ix_manager_t *self);
uint32_t fx_ix_manager_workers(const fx_ix_manager_t *self);
zframe_t *fx_ix_manager_routing(const fx_ix_manager_t *self);
/* The window it announced; 0 once it retires. */
uint32_t fx_ix_manager_window(const fx_ix_manager_t *self);
void fx_ix_manager_set_window(fx_ix_manager_t *self, uint32_t window);
/* CAPACITY (SPEC 5.34) from it: window, cold_free and the records
   replace the ones before (counts since are reset). Records naming
   containers past FX_IX_SLOTS_MAX are left out. CREDIT is
   fx_ix_manager_set_window: the host record only. */
void fx_ix_manager_capacity(fx_ix_manager_t *self, const fx_msg_t *capacity);
/* cold_free less the cold starts routed to it since, 0 once it has no room. */
uint32_t fx_ix_manager_cold_free(const fx_ix_manager_t *self);
/* Whether it reports CAPACITY (else CREDIT). */
bool fx_ix_manager_reports_capacity(const fx_ix_manager_t *self);
/* Its records: index 0 is the host's; _mc is the one of slot (NULL: none). */
size_t fx_ix_manager_mc_count(const fx_ix_manager_t *self);
fx_ix_mc_t *fx_ix_manager_mc_at(fx_ix_manager_t *self, size_t i);
fx_ix_mc_t *fx_ix_manager_mc(fx_ix_manager_t *self, uint32_t slot);
/* Tasks handed to it, in all and as cold starts (counters). */
uint64_t fx_ix_manager_routed(const fx_ix_manager_t *self);
uint64_t fx_ix_manager_cold_routed(const fx_ix_manager_t *self);
/* Its block is ending (scale in, cancel): it gets no new task and counts
   for nothing in the window, while it finishes what it holds. A new
   session of the same manager starts without it. */
void fx_ix_manager_retire(fx_ix_manager_t *self);
bool fx_ix_manager_retiring(const fx_ix_manager_t *self);
uint32_t fx_ix_manager_in_flight(const fx_ix_manager_t *self);
/* window - in_flight, or 0 */
uint32_t fx_ix_manager_free(const fx_ix_manager_t *self);
/* A message came from it (SPEC 9.3), or went to it (9.2). */
void fx_ix_manager_heard(fx_ix_manager_t *self, int64_t now);
void fx_ix_manager_sent(fx_ix_manager_t *self, int64_t now);
/* The routing strategy's place in the record. */
fx_ix_route_hook_t *fx_ix_manager_route_hook(fx_ix_manager_t *self);

/* Hand a task to the manager: in flight from now on, at the back of its
   list, counted on its container's record (made if new; O(its records))
   and as a cold start if no warm worker of it was idle and cold_free
   allowed one (task->cold). O(1) for the host. */
void fx_ix_manager_hold(fx_ix_manager_t *self, fx_ix_task_t *task);
/* Its result came: the task is no longer at the manager. */
void fx_ix_manager_release(fx_ix_manager_t *self, fx_ix_task_t *task);
/* The last task handed to it, and the one handed before task (NULL at the
   first) and after it (NULL at the last): a TASKS batch is the last tasks
   handed. */
fx_ix_task_t *fx_ix_manager_last(fx_ix_manager_t *self);
fx_ix_task_t *fx_ix_manager_before(fx_ix_manager_t *self, fx_ix_task_t *task);
fx_ix_task_t *fx_ix_manager_after(fx_ix_manager_t *self, fx_ix_task_t *task);

/* The body of a function version goes to a manager session the first time
   it gets that version, and an empty body after (SPEC 5.6): _first_sight
   is true the first time version is asked about in this session (and
   notes it; true again on OOM: a body too many, never one too few).
   _forget_sights: a TASKS send failed, so nothing is known to have
   arrived; every version is sent again. A new session is a new record,
   which has seen nothing. O(1). */
bool fx_ix_manager_first_sight(fx_ix_manager_t *self, const char *version);
/* Versions noted per session at most: past it the set starts again empty
   (every body sent once more), so that it never claims a version a
   manager keeping fewer (fx-manager keeps 1,024) may have dropped. */
#define FX_IX_MANAGER_SEEN_MAX 512
void fx_ix_manager_forget_sights(fx_ix_manager_t *self);

/* Scratch for the phases that gather per manager what they send (a batch
   being made, task ids to acknowledge or cancel): reset by whoever fills
   it, after it sent. */
typedef struct {
    uint32_t batch;     /* tasks handed in this dispatch pass, not yet sent */
    fx_id_text_t *ids;  /* ids gathered for one message */
    uint32_t nids, cap; /* how many, and room */
    bool touched;       /* in the caller's list of managers to send to */
    bool containers;    /* the batch names a container: CONTAINERS may have to go first */
} fx_ix_manager_scratch_t;
fx_ix_manager_scratch_t *fx_ix_manager_scratch(fx_ix_manager_t *self);
/* Appends id to the scratch ids (grown as needed). FX_OK or FX_E_NOMEM. */
int fx_ix_manager_gather(fx_ix_manager_t *self, const char *id);

#endif
