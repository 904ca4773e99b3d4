/*  fx_ix_internal.h: what the phases of the interchange's loop share, and
    the calls between the loop (fx_interchange.c) and its phase files. Not
    for other code.

    The loop's own state (lifecycle, timers, sockets, poller) is private to
    fx_interchange.c: fx_interchange_t is opaque here. A phase is handed the
    parts it works on and nothing else:

        phase                            file                   works on
        1. ZAP requests                  fx_ix_port.c           port
        2. broker messages               fx_ix_broker_read.c    link, work, port; tells the loop
                                                                of WELCOME, refusal and COMMAND
              CANCEL                     fx_ix_cancel.c         work, port
              TASKS not allowed here     fx_ix_allowed.c        work
              RESULTS_ACK                fx_ix_acks.c           work, port
        3. manager messages              fx_ix_manager_read.c   work, port
        4. expire lost managers          fx_ix_expire.c         work
        5. blocks: scale out and in      fx_ix_scaling.c        its blocks and provider, work
        6. dispatch                      fx_ix_dispatch.c       work, port
        7. send to the broker            fx_ix_broker_send.c    link, work, what it sent
           the window and what is held   fx_ix_flow.c           work
           the link's silence check      fx_ix_broker_read.c    link, work; tells the loop

    The loop itself (fx_interchange.c) runs them in that order on every
    pass, with heartbeats to the managers after phase 7, then the stats
    file and the end of a drain or of the stop grace (lifecycle events).
    Phase 5 has its own header (fx_ix_scaling.h); its blocks come from a
    provider (fx_ix_provider.h). */
#ifndef FX_IX_INTERNAL_H
#define FX_IX_INTERNAL_H

#include <stdbool.h>

#include "fx_interchange.h"
#include "fx_ix_batch.h"
#include "fx_ix_bodies.h"
#include "fx_ix_link.h"
#include "fx_ix_list.h"
#include "fx_ix_managers.h"
#include "fx_ix_port.h"
#include "fx_ix_results.h"
#include "fx_ix_stats.h"
#include "fx_ix_tasks.h"

/* A manager's CREDIT above this is refused as a bad field: fx_limits.h. */
#define FX_IX_MANAGER_WINDOW_MAX FX_MANAGER_WINDOW_MAX

/* Messages read from one socket per pass, so that one busy peer cannot
   starve the other phases. */
#define FX_IX_READS_PER_PASS 256

typedef struct fx_ix_fetch_t fx_ix_fetch_t; /* fx_ix_fetch.c, below */

/* Buffers a phase fills for one message and reuses for the next, grown
   to the largest batch seen (fx_ix_scratch.c): the records of a TASKS or
   RESULTS message, its frames, and the managers a phase gathers something
   for (each marks itself in its own fx_ix_manager_scratch_t). */
typedef struct {
    fx_task_t *tasks;
    fx_result_t *results;
    zframe_t **frames;
    size_t tasks_cap, results_cap, frames_cap;
    fx_ix_manager_t **touched;
    size_t ntouched, touched_cap;
} fx_ix_scratch_t;

/* Room for this many task and result records and their frames. FX_OK or
   FX_E_NOMEM. */
int fx_ix_scratch_reserve(fx_ix_scratch_t *self, size_t tasks, size_t results);
/* Appends m to touched. FX_OK or FX_E_NOMEM. */
int fx_ix_scratch_touch(fx_ix_scratch_t *self, fx_ix_manager_t *m);
void fx_ix_scratch_free(fx_ix_scratch_t *self);

/* What the interchange holds, shared by the phases. Each part is opaque
   (its header says what it keeps and what each call costs); the counters
   are plain, every phase adds to them. Lives where it was made (the lists
   point at themselves). */
typedef struct {
    fx_ix_tasks_t *tasks;       /* the FIFO and every task held */
    fx_ix_managers_t *managers; /* the managers with a session */
    fx_ix_results_t *results;   /* results until the broker's RESULTS_ACK */
    fx_ix_bodies_t *bodies;     /* function bodies by version (fx_ix_bodies.h) */
    fx_ix_fetch_t *fetch;       /* tasks waiting for a body, FUNCTION_FETCH (fx_ix_fetch.c) */
    fx_ix_list_t orphans;       /* scratch: tasks of lost or replaced managers */
    zhashx_t *allowed;          /* function ids allowed here; NULL: all */
    const char *config_path;    /* for messages; NULL: no config file */
    int queue_depth;            /* as fx_interchange_conf_t's (FX_IX_QUEUE_AUTO: fx_ix_flow.c) */
    bool containers_configured; /* the config has containers: entries */
    fx_ix_scratch_t scratch;
    fx_ix_stats_t stats;
} fx_ix_work_t;

/* What went to the broker in its current session: CREDIT and
   ENDPOINT_STATUS go again when they changed, and with every heartbeat. A
   WELCOME clears it: the new session hears everything anew. */
typedef struct {
    bool credit_sent;
    bool status_sent;
    uint32_t status[3]; /* managers, workers, free: as sent last */
    uint64_t containers_gen; /* fx_ix_containers_status_gen when the records were made last */
    uint32_t ncontainers;    /* the records sent last */
    fx_endpoint_container_t containers[FX_CONTAINERS_MAX];
} fx_ix_sent_t;

/* Phase 2 (fx_ix_broker_read.c): the messages waiting on the link. port is
   NULL until the managers' port is bound. What concerns the lifecycle goes
   back to the loop through the three calls below. */
void fx_ix_broker_read(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_port_t *port, fx_interchange_t *ix);

/* The link's other event (fx_ix_broker_read.c): the silence check of
   fx_ix_link_step (TICK), once a pass; in START it says the first hello. */
void fx_ix_broker_tick(fx_ix_link_t *link, fx_ix_work_t *w, fx_interchange_t *ix, int64_t now);

/* The loop's side of phase 2 (fx_interchange.c): the broker welcomed this
   endpoint (first: the first time in this run); refused it for good; sent
   COMMAND(command). */
void fx_ix_welcomed(fx_interchange_t *ix, bool first);
void fx_ix_refused(fx_interchange_t *ix);
void fx_ix_command(fx_interchange_t *ix, int command);

/* CANCEL from the broker (fx_ix_cancel.c): a task still queued here ends
   now with an FX_E_CANCELLED result; a task at a manager is passed on in a
   CANCEL to that manager, its ids only; unknown ids are ignored. */
void fx_ix_cancel(fx_ix_work_t *w, fx_ix_port_t *port, const fx_msg_t *cancel);

/* Ends a task held here and at no manager (queued, or waiting for its
   body) with an FX_RESULT_ERROR result of code and text (its stamps
   carried on), sent and kept until acked like any result (fx_ix_cancel.c). */
void fx_ix_task_end(fx_ix_work_t *w, fx_ix_task_t *t, int code, const char *text);

/* allowed_functions (fx_ix_allowed.c): the set of ids (NULL if ids is
   NULL: every function is allowed; NULL on OOM too, which the caller
   tells apart by ids). _check is true if task may run here; if not, the
   task has ended with an FX_E_FORBIDDEN result naming its function. */
zhashx_t *fx_ix_allowed_new(const fx_id_text_t *ids, size_t count);
bool fx_ix_allowed_check(fx_ix_work_t *w, const fx_task_t *task);

/* RESULTS_ACK from the broker (fx_ix_acks.c): those results are forgotten,
   and each manager that sent some of them gets a RESULTS_ACK with their
   ids; never before the broker's ack (SPEC 6.3, 8.3). */
void fx_ix_acks(fx_ix_work_t *w, fx_ix_port_t *port, const fx_msg_t *ack);

/* Function bodies the broker did not send (fx_ix_fetch.c; SPEC 5.6 body
   rule, 5.27, 5.28). A task whose version is not cached and whose record
   carries no body waits for it, out of the FIFO; each missing version is
   asked for once per broker session, in FUNCTION_FETCH batches (phase 7);
   FUNCTION_BODIES caches the bodies and puts their waiting tasks back in
   the FIFO, or ends them with FX_E_NOT_FOUND (kind 0, or a version the
   answer left out). A record that carries a body fills the cache. A task
   with no version (function_version "") keeps its own body. O(1) per task;
   a FUNCTION_BODIES and a new session cost O(versions waiting). */
fx_ix_fetch_t *fx_ix_fetch_new(void);
void fx_ix_fetch_destroy(fx_ix_fetch_t **self_p);
/* A task just added from TASKS (queued): cache its body, or pin the
   cached one, or make it wait. */
void fx_ix_fetch_task(fx_ix_work_t *w, fx_ix_task_t *task);
/* Phase 7, link ACTIVE: FUNCTION_FETCH for the versions not asked yet in
   this session. */
void fx_ix_fetch_send(fx_ix_link_t *link, fx_ix_work_t *w);
/* FUNCTION_BODIES from the broker (its bodies are taken from msg). */
void fx_ix_fetch_bodies(fx_ix_work_t *w, fx_msg_t *msg);
/* A new broker session: every version still missing is asked again. */
void fx_ix_fetch_session(fx_ix_work_t *w);
/* Tasks waiting for a body, and versions waited for, now. */
size_t fx_ix_fetch_waiting(const fx_ix_fetch_t *self);
size_t fx_ix_fetch_versions(const fx_ix_fetch_t *self);

/* The routing's rows of the stats file (fx_ix_route_stats.c): the
   strategy, cold-start routings, warm-wait's held tasks, and tasks routed
   per manager and per container. O(managers + containers). */
void fx_ix_stats_routing(fx_ix_text_t *out, fx_ix_managers_t *managers);

/* Phase 3 (fx_ix_manager_read.c): the managers' messages waiting.
   heartbeat_ms goes out in every WELCOME. */
void fx_ix_manager_read(fx_ix_work_t *w, fx_ix_port_t *port, int heartbeat_ms);

/* Phase 4 (fx_ix_expire.c): managers silent for more than silence_ms are
   lost; their tasks go back to the front of the FIFO. O(1) when none is:
   only the longest silent manager is looked at. */
void fx_ix_expire(fx_ix_work_t *w, int64_t now, int64_t silence_ms);

/* Phase 6 (fx_ix_dispatch.c): tasks from the front of the FIFO to the
   managers the routing strategy picks (fx_ix_route.h), never beyond a
   manager's window; one TASKS batch per manager served. */
void fx_ix_dispatch(fx_ix_work_t *w, fx_ix_port_t *port);
/* When a wait the strategy imposed ends (warm-wait; INT64_MAX: none), for
   the loop's timer. O(containers with queued tasks). */
int64_t fx_ix_dispatch_next(fx_ix_work_t *w);

/* Phase 7 (fx_ix_broker_send.c), only while the link is ACTIVE: pending
   RESULTS, then CREDIT(window) and ENDPOINT_STATUS when changed or beat,
   then a HEARTBEAT if beat. */
void fx_ix_broker_send(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_sent_t *sent, uint32_t window, bool beat);

/* Flow control (fx_ix_flow.c). What the endpoint holds against the window
   of the current broker session (see fx_ix_stats.h): tasks held, less the
   old ones the broker does not count, plus results not yet sent. */
uint64_t fx_ix_held(const fx_ix_work_t *w);

/* The tasks the endpoint holds beyond its managers' windows (a queue of
   its own for the routing to choose from): queue_depth, or for
   FX_IX_QUEUE_AUTO none while only the host was named and the config has
   no containers: entry, else FX_IX_QUEUE_AUTO_DEPTH. */
uint64_t fx_ix_queue_depth(const fx_ix_work_t *w);
/* The window to announce: the managers' windows, or potential (what the
   blocks the provider may still bring in would announce,
   fx_ix_scaling_potential) if that is more, less the old tasks still
   held; 0 while draining. */
uint32_t fx_ix_window(const fx_ix_work_t *w, bool draining, uint64_t potential);

#endif
