/*  fx_ix_containers.h: the containers this endpoint has heard of, each in
    a slot (a small number) so that tasks, managers and the routing
    strategies name a container by an integer, never by its text.

    Slot 0 is the host (container ""). A container gets a slot the first
    time a TASKS record, a CAPACITY record or a CONTAINERS definition names
    it, and keeps it for the run (at most FX_IX_SLOTS_MAX; past that a name
    gets FX_IX_SLOT_NONE and is routed as if no manager were warm for it).

    Per slot it keeps what the parts of the interchange share about one
    container (SPEC 5.34, 5.35, 7.9):
      - the broker's definition (CONTAINERS) and its generation, which goes
        up when the definition changes: a manager session is sent it again
        when the generation it was sent is older (fx_ix_dispatch.c);
      - the routing sets: the managers with an idle warm worker for it (one
        list, kept by fx_ix_route.c), its lane: its tasks queued in the FIFO,
        in FIFO order (kept by fx_ix_tasks.c); a slot with both queued
        tasks and an idle warm worker is in the registry's ready list, which
        the dispatch phase serves before any cold start (SPEC 7.9);
      - sums over the managers: the workers it has (the pools), the tasks
        waiting at managers beyond them, and the numbers ENDPOINT_STATUS
        reports (managers, idle, busy, starting; from CAPACITY only);
      - measured run and cold-start times (moving averages, from the stamps
        of results: SPEC 12.5);
      - counters for the stats file.

    Cost: a lookup by id is one hash; everything by slot is an index. */
#ifndef FX_IX_CONTAINERS_H
#define FX_IX_CONTAINERS_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_ix_list.h"
#include "fx_msg.h"

#define FX_IX_SLOT_HOST 0u
#define FX_IX_SLOT_NONE UINT32_MAX
/* Distinct containers one run keeps: a broker names what its users
   registered; far more is a broken or hostile peer. */
#define FX_IX_SLOTS_MAX 4096

typedef struct {
    uint32_t slot;
    char id[FX_NAME_MAX + 1]; /* "" for the host */
    fx_container_def_t def;   /* valid when gen > 0 */
    uint32_t gen;             /* 0: no definition from the broker yet */
    bool warned;              /* "no definition" said once */
    fx_ix_list_t warm;        /* fx_ix_mc_t by .warm (fx_ix_managers.h): an idle warm worker, room */
    fx_ix_list_t queue;       /* fx_ix_task_t by lane: its tasks in the FIFO, in its order */
    fx_ix_node_t ready;       /* in the registry's ready list: queue and warm both non-empty */
    fx_ix_node_t active;      /* in the registry's active list: queue non-empty */
    /* sums over the managers (fx_ix_managers.c keeps them) */
    uint64_t workers;                        /* the pools: workers for it, as estimated */
    uint64_t backlog;                        /* its tasks at managers beyond those workers */
    uint64_t managers, idle, busy, starting; /* from CAPACITY, for ENDPOINT_STATUS */
    /* measured, milliseconds */
    double run_ms, start_ms;
    uint64_t runs, starts;
    /* counters */
    uint64_t routed, cold_routed, held_total, held_expired, held_served;
} fx_ix_container_t;

typedef struct fx_ix_containers_t fx_ix_containers_t;

/* Caller owns it. NULL only on OOM. */
fx_ix_containers_t *fx_ix_containers_new(void);
void fx_ix_containers_destroy(fx_ix_containers_t **self_p);

/* The slot of container id ("" or NULL: the host), made if new and
   create; FX_IX_SLOT_NONE if unknown (and !create), on OOM or past
   FX_IX_SLOTS_MAX. O(1). */
uint32_t fx_ix_containers_slot(fx_ix_containers_t *self, const char *id, bool create);
/* The record of a slot (NULL for FX_IX_SLOT_NONE or out of range). */
fx_ix_container_t *fx_ix_containers_at(fx_ix_containers_t *self, uint32_t slot);
uint32_t fx_ix_containers_count(const fx_ix_containers_t *self);

/* A definition from the broker (CONTAINERS): kept; the generation goes up
   if it is new or differs from the one kept. Returns the slot, or
   FX_IX_SLOT_NONE. */
uint32_t fx_ix_containers_define(fx_ix_containers_t *self, const fx_container_def_t *def);

/* The numbers ENDPOINT_STATUS reports changed (fx_ix_managers.c calls it);
   _status_gen goes up each time, so a sender knows when to send again. */
void fx_ix_containers_changed(fx_ix_containers_t *self);
uint64_t fx_ix_containers_status_gen(const fx_ix_containers_t *self);

/* Measurements from one result of a task of slot: its run (ms, < 0:
   unknown) and, for a task routed as a cold start, the start (ms, < 0:
   unknown). Moving averages, 1/8 weight per sample. */
void fx_ix_containers_measure(fx_ix_containers_t *self, uint32_t slot, double run_ms, double start_ms);
/* What a cold start of slot is expected to cost: its own average, else the
   average over every container, else < 0 (not measured yet). */
double fx_ix_containers_start_ms(const fx_ix_containers_t *self, uint32_t slot);

/* Slots with queued tasks and an idle warm worker (fx_ix_container_t by
   .ready), and slots with queued tasks (by .active); _check puts c in or
   out of both after its queue or warm list changed. O(1). */
fx_ix_list_t *fx_ix_containers_ready(fx_ix_containers_t *self);
fx_ix_list_t *fx_ix_containers_active(fx_ix_containers_t *self);
void fx_ix_containers_check(fx_ix_containers_t *self, fx_ix_container_t *c);

#endif
