/*  fx_ix_route.h: the routing strategy, which manager runs a task next
    (SPEC 7.9), and the view of the managers every strategy picks from.

    The view (fx_ix_route.c) is kept up to date by the registry
    (fx_ix_managers.c) whenever a manager's room or workers may have
    changed (a CAPACITY or CREDIT, a task handed to it or answered,
    retirement), so that a pick costs O(1) and never looks at a manager
    that cannot take the task:
      - the room list (and the same managers in an array, for a uniform
        random pick): managers whose window has room (SPEC 7.3);
      - the cold list: those of them with cold_free > 0 (SPEC 5.34), less
        the cold starts routed to them since their last CAPACITY;
      - per container (fx_ix_containers.h), the warm list: the records of
        managers with room that have an idle warm worker for it.
    A manager's update touches its own entries only: O(1) for a task of
    one container, O(its containers) when its room opens or closes or it
    reports CAPACITY; never O(managers).

    A strategy is one pick function, each in its own file, chosen by the
    endpoint config's `routing:` key:
      random         fx_ix_route_random.c: uniformly among the managers with
                     room, one task per pick (funcX's baseline)
      warming-aware  fx_ix_route_warming.c (the default): a manager with an
                     idle warm worker for the task's container, round robin,
                     offered as many of them as it has; else one with
                     cold_free, round robin; else any with room, round robin
                     (funcX's algorithm). For the host ("") with managers
                     that send CREDIT this is round robin over idle workers
                     first, then over prefetch room.
      warm-wait      fx_ix_route_warmwait.c: as warming-aware for warm
                     workers; cold starts go not to the FIFO's front but to
                     the container whose queue its workers need longest to
                     drain (queued x run time / workers), and only while
                     that is longer than a cold start takes (measured):
                     otherwise its tasks wait here for its warm workers, and
                     no warm worker is evicted for them. A head that waited
                     a cold start's time (at most FX_IX_HOLD_MAX_MS) gets
                     one anyway (a worker stuck in a long task).

    The dispatch phase (fx_ix_dispatch.c) serves warm workers first for the
    strategies by_container, then calls the strategy's cold (if it has one)
    or _choose once per batch it hands out: *room tasks like the front one
    (the same container) may go to the manager picked. */
#ifndef FX_IX_ROUTE_H
#define FX_IX_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_ix_containers.h"
#include "fx_ix_list.h"
#include "fx_ix_tasks.h"

typedef struct fx_ix_mc_t fx_ix_mc_t; /* a manager's workers for one container: fx_ix_managers.h */

/* What the view keeps in each manager record. */
typedef struct {
    fx_ix_manager_t *manager; /* the record it is in (set by the registry) */
    fx_ix_node_t room;        /* in the room list while it has room */
    fx_ix_node_t cold;        /* in the cold list while it has room and cold_free */
    size_t index;             /* its place in the room array, while in the room list */
} fx_ix_route_hook_t;

typedef struct fx_ix_route_t fx_ix_route_t;

typedef enum {
    FX_IX_PICK_NONE, /* no manager can take it now: it stays queued, and so do the ones behind */
    FX_IX_PICK_SEND, /* to *manager_p, with up to *room tasks like it */
} fx_ix_pick_t;

/* A strategy. */
typedef struct {
    const char *name;  /* as the config's routing: names it */
    bool by_container; /* the dispatch phase first serves each container's queued tasks to the
                          managers with idle warm workers for it (fx_ix_dispatch.c), then picks */
    fx_ix_pick_t (*pick)(fx_ix_route_t *route, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                         uint32_t *room);
    /* NULL, or: the container (with queued tasks) whose oldest queued task
       gets the next cold start, NULL for none now (the queued tasks wait
       for warm workers); asked while some manager has room. */
    fx_ix_container_t *(*cold)(fx_ix_route_t *route, int64_t now);
    /* With cold: when a wait it imposed ends (INT64_MAX: none). */
    int64_t (*wake)(fx_ix_route_t *route);
} fx_ix_route_ops_t;

extern const fx_ix_route_ops_t fx_ix_route_random;
extern const fx_ix_route_ops_t fx_ix_route_warming;
extern const fx_ix_route_ops_t fx_ix_route_warmwait;
#define FX_IX_ROUTE_DEFAULT "warming-aware"
/* The longest warm-wait lets a container's oldest task wait for a warm
   worker, whatever a cold start measured. */
#define FX_IX_HOLD_MAX_MS 60000

/* The strategy of that name (NULL: none). */
const fx_ix_route_ops_t *fx_ix_route_named(const char *name);

/* A view with strategy ops (NULL: warming-aware) over containers (not
   owned). Caller owns it; NULL only on OOM. */
fx_ix_route_t *fx_ix_route_new(const fx_ix_route_ops_t *ops, fx_ix_containers_t *containers);
void fx_ix_route_destroy(fx_ix_route_t **self_p);
const char *fx_ix_route_name(const fx_ix_route_t *self);
bool fx_ix_route_by_container(const fx_ix_route_t *self);
const fx_ix_route_ops_t *fx_ix_route_ops(const fx_ix_route_t *self);
fx_ix_containers_t *fx_ix_route_containers(fx_ix_route_t *self);

/* The manager's room, cold_free or workers may have changed: its entries
   follow; mc: only that record's warm entry (NULL: every record of it). */
void fx_ix_route_update(fx_ix_route_t *self, fx_ix_manager_t *manager, fx_ix_mc_t *mc);
/* A record goes away (its manager stays). */
void fx_ix_route_forget(fx_ix_route_t *self, fx_ix_mc_t *mc);
/* The manager's session ends: every entry of it goes. */
void fx_ix_route_remove(fx_ix_route_t *self, fx_ix_manager_t *manager);

/* The strategy's pick for task (the front of the queue; NULL: a host
   task). Never more room than the manager's window less its tasks in
   flight (SPEC 7.3). O(1). */
fx_ix_pick_t fx_ix_route_choose(fx_ix_route_t *self, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                                uint32_t *room);
/* The same, a manager only for FX_IX_PICK_SEND (NULL otherwise). */
fx_ix_manager_t *fx_ix_route_pick(fx_ix_route_t *self, const fx_ix_task_t *task, uint32_t *room);

/* The tiers, for the strategies; each O(1), and each rotates the list it
   takes from (round robin). _warm: the next manager with an idle warm
   worker for slot, *room its idle workers (within its room). _fallback:
   the next manager with cold_free (*room: that many, within its room),
   else with room (*room: its room), passing over (a few at most) those
   whose CAPACITY says they gave up starting slot's container
   (FX_LAUNCH_FAILURES_MAX failures, SPEC 12.7.4). _random: a manager with room, uniformly
   (*room 1). _can_cold: some manager with room has cold_free. */
fx_ix_manager_t *fx_ix_route_warm(fx_ix_route_t *self, uint32_t slot, uint32_t *room);
fx_ix_manager_t *fx_ix_route_fallback(fx_ix_route_t *self, uint32_t slot, uint32_t *room);
fx_ix_manager_t *fx_ix_route_random_pick(fx_ix_route_t *self, uint32_t *room);
bool fx_ix_route_can_cold(const fx_ix_route_t *self);
/* Some manager has window room. */
bool fx_ix_route_has_room(const fx_ix_route_t *self);

#endif
