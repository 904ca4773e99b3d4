/*  fx_ix_route.h: the routing strategy, which manager runs a task next.

    The strategy sits behind this small interface so that others (random,
    warming-aware, one per container) can replace it without touching the
    dispatch loop or the registry. A strategy keeps its own view of the
    managers that have room, updated by the registry whenever a manager's
    room may have changed (its window, its tasks in flight, retirement), so
    that a pick costs O(1) and never looks at the managers that are full.

    The registry (fx_ix_managers.c) owns the strategy and calls _update
    and _remove; the dispatch phase (fx_ix_dispatch.c) calls _pick once per
    batch it hands out, not once per task. Each manager record embeds one
    fx_ix_route_hook_t for the strategy's bookkeeping (a list node, or an
    index into a heap or an array).

    The default strategy (fx_ix_route_rr.c): round robin over the managers
    with an idle worker (tasks in flight below min(window, workers)), each
    pick offering all its idle workers; only when no manager has an idle
    worker, round robin over those with prefetch room (in flight below the
    window), each pick offering all of it. A short queue is so spread over
    idle workers instead of filling one manager's prefetch, and a long one
    fills every window in batches as large as the windows. */
#ifndef FX_IX_ROUTE_H
#define FX_IX_ROUTE_H

#include <stdint.h>

#include "fx_ix_list.h"
#include "fx_ix_tasks.h"

/* What a strategy keeps in each manager record. */
typedef struct {
    fx_ix_manager_t *manager; /* the record it is in (set by the registry) */
    fx_ix_node_t node;        /* in at most one of the strategy's lists */
    int where;                /* which one; 0: none */
    size_t index;             /* for strategies that keep managers in an array */
} fx_ix_route_hook_t;

typedef struct fx_ix_route_t fx_ix_route_t;

/* A strategy: its functions and its state. */
typedef struct {
    const char *name;
    void *(*create)(void);
    void (*destroy)(void *impl);
    void (*update)(void *impl, fx_ix_manager_t *manager);
    void (*remove)(void *impl, fx_ix_manager_t *manager);
    fx_ix_manager_t *(*pick)(void *impl, const fx_ix_task_t *task, uint32_t *room);
} fx_ix_route_ops_t;

/* The default strategy, described above. */
extern const fx_ix_route_ops_t fx_ix_route_rr;

/* A strategy instance of ops. Caller owns it; NULL only on OOM. */
fx_ix_route_t *fx_ix_route_new(const fx_ix_route_ops_t *ops);
void fx_ix_route_destroy(fx_ix_route_t **self_p);

/* The manager's room may have changed (a new session, a CREDIT, a task
   handed to it or answered, retirement). O(1). */
void fx_ix_route_update(fx_ix_route_t *self, fx_ix_manager_t *manager);

/* The manager's session ends: the strategy forgets it. O(1). */
void fx_ix_route_remove(fx_ix_route_t *self, fx_ix_manager_t *manager);

/* The manager that should get task (the front of the queue), with *room
   set to how many tasks like it, this one and the ones behind it, it may
   take now (>= 1); NULL if no manager has room (the task stays queued).
   Never more than the manager's window less its tasks in flight (SPEC
   7.3). O(1). */
fx_ix_manager_t *fx_ix_route_pick(fx_ix_route_t *self, const fx_ix_task_t *task, uint32_t *room);

#endif
