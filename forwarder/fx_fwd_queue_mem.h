/*  fx_fwd_queue_mem.h: a small, real task queue in memory behind the
    forwarder's seam (fx_fwd_queue.h), for the forwarder's tests only (it is
    linked into no product). Tasks are QUEUED, DISPATCHED to an endpoint or
    DONE, in submission order, with the seam's semantics: take marks them
    dispatched (attempt + 1), requeue puts them back in their place, commit
    is all or none and deduplicated by task id, results for another
    endpoint's task are FOREIGN.

    It can be told to fail: after `after` more calls succeed, the next ones
    fail (nothing changed) with the given code, for a count of calls or
    until it is healed. That is how the tests put a store failure at every
    point of a scenario, once or for good. */
#ifndef FX_FWD_QUEUE_MEM_H
#define FX_FWD_QUEUE_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_fwd_queue.h"

typedef struct _fx_fwd_queue_mem_t fx_fwd_queue_mem_t;

/* An empty queue. NULL on OOM. */
fx_fwd_queue_mem_t *fx_fwd_queue_mem_new(void);
void fx_fwd_queue_mem_destroy(fx_fwd_queue_mem_t **self_p);

/* The seam over this queue (its context is the queue). */
fx_fwd_queue_t fx_fwd_queue_mem_queue(fx_fwd_queue_mem_t *self);

/* Registers an endpoint and its z85 public key (for by_key). */
void fx_fwd_queue_mem_endpoint(fx_fwd_queue_mem_t *self, const char *endpoint_id, const char *public_key);

/* Queues a new task for endpoint_id (shell, body "true", payload "args");
   its id into task_id (may be NULL). */
void fx_fwd_queue_mem_submit(fx_fwd_queue_mem_t *self, const char *endpoint_id, fx_id_text_t task_id);

/* The same, in a container (its id; "" = the host). */
void fx_fwd_queue_mem_submit_in(fx_fwd_queue_mem_t *self, const char *endpoint_id, const char *container_id,
                                fx_id_text_t task_id);

/* Defines (or redefines) a container for the seam's container(). */
void fx_fwd_queue_mem_container(fx_fwd_queue_mem_t *self, const char *container_id, const char *name,
                                const char *runtime, const char *image);

/* From now, `after` calls succeed, then `count` calls fail with code (an
   fx_err_t, FX_E_IO for a broken disk); count 0: every call fails until
   fx_fwd_queue_mem_heal. */
void fx_fwd_queue_mem_fail(fx_fwd_queue_mem_t *self, uint64_t after, uint64_t count, int code);
void fx_fwd_queue_mem_heal(fx_fwd_queue_mem_t *self);

/* What the queue saw. */
typedef struct {
    uint64_t calls;    /* every operation, failed or not */
    uint64_t failures; /* operations failed by fx_fwd_queue_mem_fail */
    uint64_t container_calls; /* container() calls, failed or not */
    uint32_t queued;   /* tasks in each state now */
    uint32_t dispatched;
    uint32_t done;        /* with a committed result */
    uint32_t taken_max;   /* most takes of one task (1 + its requeues) */
    uint32_t results_max; /* most NEW results committed for one task: must stay <= 1 */
} fx_fwd_queue_mem_stats_t;
void fx_fwd_queue_mem_stats(fx_fwd_queue_mem_t *self, fx_fwd_queue_mem_stats_t *stats);

/* The task's state (FX_TASK_QUEUED, _DISPATCHED, _DONE; FX_TASK_UNKNOWN if
   there is no such task) and, if dispatched, to which endpoint. */
int fx_fwd_queue_mem_state(fx_fwd_queue_mem_t *self, const char *task_id, fx_id_text_t endpoint_id);

/* Last wall_ms the seam's seen() recorded for endpoint_id, 0 if none. */
int64_t fx_fwd_queue_mem_seen(fx_fwd_queue_mem_t *self, const char *endpoint_id);

#endif
