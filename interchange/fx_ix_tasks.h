/*  fx_ix_tasks.h: the tasks this endpoint holds, and its FIFO.

    A task the broker sent lives here from its arrival until its result
    comes back from a manager: first in the FIFO (queued), then at one
    manager (in flight; the manager registry keeps it in that manager's
    list). An index by task id finds it from a result, and refuses a second
    copy of a task the endpoint already holds (the broker redelivers after a
    reconnect).

    A held task is one allocation: its fields, its short strings packed
    after them, and its two frames, moved out of the TASKS message that
    brought it and never copied: a TASKS message to a manager sends the
    same frames (shared, fx_ix_wire.h), so a requeued task still has them.

    Lanes: once told the container slots (fx_ix_tasks_lanes), the store
    keeps every queued task also in its container's lane (the slot record's
    `queue`, fx_ix_containers.h), in FIFO order, so that a routing strategy
    can take the oldest queued task of one container wherever it stands in
    the FIFO (fx_ix_tasks_lane_first, _take). The FIFO's front is the
    oldest task of all, so the lane whose head is oldest is the front's.

    Cost: O(1) per add, pop, take, requeue, find and done; O(tasks moved)
    for a splice to the front; no allocation but the task's own. */
#ifndef FX_IX_TASKS_H
#define FX_IX_TASKS_H

#include <stdbool.h>
#include <stddef.h>

#include "fx_ix_bodies.h"
#include "fx_ix_containers.h"
#include "fx_ix_list.h"
#include "fx_msg.h"

typedef struct fx_ix_manager_t fx_ix_manager_t;

/* The short strings of a task record packed after a held task. */
#define FX_IX_TASK_TEXTS 6

/* One held task. The FIFO and the manager registry both reach into it. */
typedef struct {
    fx_ix_node_t node;       /* its place in the FIFO, in its holder's list, or in waiting */
    fx_ix_node_t lane;       /* while in the FIFO: its place in its container's lane */
    fx_ix_manager_t *holder; /* NULL while queued here */
    fx_ix_list_t *waiting;   /* while its body is being fetched: the tasks of its version
                                waiting for it (fx_ix_fetch.c); else NULL */
    fx_ix_body_t *fn;        /* its version's cached body, pinned; NULL: body is its own */
    zframe_t *body, *payload;
    fx_id_text_t task_id; /* the index's key */
    fx_id_text_t function_id;
    fx_oid_text_t function_version;
    uint8_t kind;
    bool old; /* held since before the broker's latest WELCOME, and not sent
                 again in the new session */
    uint32_t attempt, walltime_ms, retries;
    int requeues; /* times a lost manager gave it back */
    uint32_t slot;      /* its container's (fx_ix_containers.h), set when it arrives */
    bool cold;          /* routed as a cold start: its result measures one */
    int64_t held_until; /* warm-wait refused its container a cold start while it was the
                           oldest queued: it gets one at this time (ms) if still queued; 0: not */
    uint64_t times[FX_TIMES_MAX];
    uint8_t text_len[FX_IX_TASK_TEXTS]; /* endpoint_id, entry, container, py_version, dill_version,
                                           serializer */
    char text[];                        /* those six, each NUL-terminated, one after the other */
} fx_ix_task_t;

typedef struct fx_ix_tasks_t fx_ix_tasks_t;

/* Caller owns the store. NULL only on OOM. */
fx_ix_tasks_t *fx_ix_tasks_new(void);

/* Frees every task, queued or held. Accepts NULL. */
void fx_ix_tasks_destroy(fx_ix_tasks_t **self_p);

/* Keep lanes per container in the records of cs (not owned; it outlives
   the store), from now on: call before the first task is added. */
void fx_ix_tasks_lanes(fx_ix_tasks_t *self, fx_ix_containers_t *cs);

/* Queue a task from a TASKS message at the back, moving its frames out of
   *task. FX_OK; FX_E_CONFLICT if a task with this id is held already (task
   is left as it was; the held copy answers for both, and stops being old);
   FX_E_NOMEM. */
int fx_ix_tasks_add(fx_ix_tasks_t *self, fx_task_t *task);
/* The same, for the container of that slot (the held task's slot). */
int fx_ix_tasks_add_in(fx_ix_tasks_t *self, fx_task_t *task, uint32_t slot);

/* The front of the FIFO, left there; NULL if nothing is queued. */
fx_ix_task_t *fx_ix_tasks_peek(fx_ix_tasks_t *self);

/* The front of the FIFO, taken out of the FIFO but still held (the caller
   hands it to a manager). NULL if nothing is queued. */
fx_ix_task_t *fx_ix_tasks_pop(fx_ix_tasks_t *self);

/* The oldest queued task of slot's container (NULL: none queued, or no
   lanes), left queued; and a queued task taken out of the FIFO (and its
   lane), still held (the caller hands it to a manager). O(1). */
fx_ix_task_t *fx_ix_tasks_lane_first(fx_ix_tasks_t *self, uint32_t slot);
void fx_ix_tasks_take(fx_ix_tasks_t *self, fx_ix_task_t *task);

/* Put a task a lost manager held back at the front of the FIFO. Its
   attempt (the dispatch number) goes up by one; its retries (worker deaths
   it may survive, counted by the manager) are left as they are. */
void fx_ix_tasks_requeue(fx_ix_tasks_t *self, fx_ix_task_t *task);

/* Requeue every task of list (fx_ix_task_t by their node, as
   fx_ix_managers_hello and _expire fill it) as above, in one splice to the
   front, so that the front of the FIFO keeps their dispatch order; empties
   the list. A lost manager is not the tasks' fault: nothing is counted
   against them. Returns how many went back. */
size_t fx_ix_tasks_requeue_all(fx_ix_tasks_t *self, fx_ix_list_t *list);

/* Take a queued task out of the FIFO into waiting (its version's body is
   being fetched), or put a waiting one back at the back of the FIFO. */
void fx_ix_tasks_wait(fx_ix_tasks_t *self, fx_ix_task_t *task, fx_ix_list_t *waiting);
void fx_ix_tasks_ready(fx_ix_tasks_t *self, fx_ix_task_t *task);
/* Take a waiting task out of its list, into none (the caller hands it to
   a manager or puts it in a list it then gives to _front_all). */
void fx_ix_tasks_unwait(fx_ix_task_t *task);
/* Put the tasks of list (in no other) at the front of the FIFO, in their
   order, nothing counted against them; empties the list. */
void fx_ix_tasks_front_all(fx_ix_tasks_t *self, fx_ix_list_t *list);

/* The body a TASKS record to a manager carries for task: its own, or its
   version's from the cache (NULL: empty). */
zframe_t *fx_ix_task_body(const fx_ix_task_t *task);

/* The held task with this id, or NULL. */
fx_ix_task_t *fx_ix_tasks_find(fx_ix_tasks_t *self, const char *task_id);

/* Its result came: forget the task (out of the FIFO, or out of waiting,
   if it was there; its body unpinned) and
   free it. The caller has released it from its holder first. */
void fx_ix_tasks_done(fx_ix_tasks_t *self, fx_ix_task_t **task_p);

/* A new broker session began: every task held now is old. The broker
   starts the session with in_flight 0, so the window announced in it must
   leave room for these (SPEC 7.7) until they end or the broker sends them
   again. Returns how many are old. O(tasks held), once per session. */
size_t fx_ix_tasks_age(fx_ix_tasks_t *self);
size_t fx_ix_tasks_old(fx_ix_tasks_t *self);

/* Tasks queued in the FIFO, and held in all (queued + at managers). */
size_t fx_ix_tasks_queued(fx_ix_tasks_t *self);
size_t fx_ix_tasks_held(fx_ix_tasks_t *self);

/* The task's record for a TASKS message: every field but the frames
   (left NULL: they go out shared, fx_ix_wire.h). */
void fx_ix_task_fill(const fx_ix_task_t *task, fx_task_t *out);

/* Its container ("" for none), for the routing strategy. */
const char *fx_ix_task_container(const fx_ix_task_t *task);

#endif
