/*  fx_ix_managers.h: the managers connected to this endpoint.

    One record per manager session, keyed by the ROUTER routing id of its
    connection: its id, host, pid, workers, the window it announced by
    CREDIT, the tasks it holds (in flight), and when it was last heard. A
    second MANAGER_HELLO from the same routing id, or a hello from another
    connection that carries the same manager id, replaces the record: the old
    session's tasks go back to the caller to requeue (at-least-once).

    The registry is the per-routing-id session state of SPEC 6.3
    (interchange side): a routing id is ACTIVE while a record is kept for
    it, NONE otherwise. The transitions are made here and nowhere else:
    _hello (NONE -> ACTIVE; ACTIVE -> ACTIVE with a new record), _remove and
    _expire (ACTIVE -> NONE), a hello that replaces another connection's
    record (that connection: ACTIVE -> NONE). fx_ix_manager_read.c holds
    the table of what each message does in each state.

    Cost: lookup by routing id O(1); window sum and expiry O(managers). */
#ifndef FX_IX_MANAGERS_H
#define FX_IX_MANAGERS_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_ix_tasks.h"
#include "fx_msg.h"

typedef struct fx_ix_managers_t fx_ix_managers_t;

/* A routing id's session, as SPEC 6.3 names the states. */
typedef enum {
    FX_IX_SESSION_NONE,   /* no MANAGER_HELLO yet, or lost, or replaced */
    FX_IX_SESSION_ACTIVE, /* MANAGER_HELLO answered with WELCOME */
} fx_ix_session_t;

/* Caller owns the registry. NULL only on OOM. */
fx_ix_managers_t *fx_ix_managers_new(void);

/* Frees every record; tasks they held are left to the task store (which
   frees them). Accepts NULL. */
void fx_ix_managers_destroy(fx_ix_managers_t **self_p);

/* A MANAGER_HELLO arrived on routing: make the record (window 0 until its
   CREDIT), replacing any with the same routing id or manager id. Tasks the
   replaced records held are appended to orphans (fx_ix_task_t *, in the
   order they were dispatched, holder cleared). NULL only on OOM. */
fx_ix_manager_t *fx_ix_managers_hello(fx_ix_managers_t *self, zframe_t *routing, const fx_msg_t *hello,
                                      int64_t now, zlistx_t *orphans);

/* The session state of routing; when ACTIVE, *manager_p is its record
   (else NULL). */
fx_ix_session_t fx_ix_managers_session(fx_ix_managers_t *self, zframe_t *routing,
                                       fx_ix_manager_t **manager_p);

/* Drop the record; its tasks are appended to orphans as in _hello. */
void fx_ix_managers_remove(fx_ix_managers_t *self, fx_ix_manager_t **manager_p, zlistx_t *orphans);

/* Drop every manager not heard for more than silence_ms, appending their
   tasks to orphans; logs each. Returns how many were dropped. */
int fx_ix_managers_expire(fx_ix_managers_t *self, int64_t now, int64_t silence_ms, zlistx_t *orphans);

/* Iteration in arrival order; do not remove while iterating. */
fx_ix_manager_t *fx_ix_managers_first(fx_ix_managers_t *self);
fx_ix_manager_t *fx_ix_managers_next(fx_ix_managers_t *self);
size_t fx_ix_managers_size(fx_ix_managers_t *self);

/* Sum of the windows of all managers (what this endpoint can hold). */
uint64_t fx_ix_managers_window(fx_ix_managers_t *self);

/* Sum of the workers the managers announced in MANAGER_HELLO, and of
   their free windows (window - in flight): what ENDPOINT_STATUS reports. */
uint64_t fx_ix_managers_workers(fx_ix_managers_t *self);
uint64_t fx_ix_managers_free(fx_ix_managers_t *self);

/* The manager whose session carries this manager id, or NULL. */
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
/* Its block is ending (scale in, cancel): it gets no new task and counts
   for nothing in the window, while it finishes what it holds. A new
   session of the same manager starts without it. */
void fx_ix_manager_retire(fx_ix_manager_t *self);
bool fx_ix_manager_retiring(const fx_ix_manager_t *self);
uint32_t fx_ix_manager_in_flight(const fx_ix_manager_t *self);
/* window - in_flight, or 0 */
uint32_t fx_ix_manager_free(const fx_ix_manager_t *self);
void fx_ix_manager_heard(fx_ix_manager_t *self, int64_t now);

/* Hand a task to the manager (in flight from now on) and to its outbox,
   the batch the next dispatch phase sends. */
int fx_ix_manager_hold(fx_ix_manager_t *self, fx_ix_task_t *task);
/* Its result came: the task is no longer at the manager. */
void fx_ix_manager_release(fx_ix_manager_t *self, fx_ix_task_t *task);
/* Tasks handed over since the last send (fx_ix_task_t *, not owned); the
   caller empties it (zlistx_purge) after sending. */
zlistx_t *fx_ix_manager_outbox(fx_ix_manager_t *self);

#endif
