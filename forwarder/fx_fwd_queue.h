/*  fx_fwd_queue.h: the forwarder's seam to the task queue.

    The forwarder keeps no task of its own. It is handed a queue (a table of
    operations over an opaque context) and reaches the tasks, the results and
    the endpoint registry only through it:

        take      tasks for an endpoint, up to a count, with or without
                  their functions' bodies
        bodies    function bodies by version, for FUNCTION_FETCH
        container a container's definition by id, for CONTAINERS
        allowed   the functions an endpoint says it runs
        requeue   an endpoint's dispatched tasks back to the queue
        commit    a RESULTS batch, with an outcome per result
        seen      when an endpoint was last heard from
        by_key    which endpoint a ZAP key belongs to
        describe  a sentence about the last failure, for the log

    fx-broker hands it the queue in its sqlite store (broker/fx_broker_queue.c);
    the forwarder's tests hand it one in memory that can be told to fail
    (fx_fwd_queue_mem.h).

    This is the seam a standalone forwarder on another host will speak over
    the wire to the broker (DESIGN.md, "Where it scales out"), so it is
    written as if it already were a link: every operation is one request
    and one answer; it carries only wire records (fx_task_t, fx_result_t,
    ids) and numbers; nothing points into the queue after a call returns;
    and any call may fail. A failure is an fx_err_t code (FX_E_IO for a store
    that cannot read or write, FX_E_NOMEM, ...) and then nothing of that
    call happened: no task was taken, no result committed. The forwarder
    answers such a failure as SPEC 6.2 says (ERROR FX_E_IO, no RESULTS_ACK
    for what was not committed) and retries the rest on its next tick. */
#ifndef FX_FWD_QUEUE_H
#define FX_FWD_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_msg.h"

/* What became of one result of a commit. */
typedef enum {
    FX_FWD_RESULT_NEW = 1,     /* committed now: the task has its result */
    FX_FWD_RESULT_DUP = 2,     /* a result for this task was committed before */
    FX_FWD_RESULT_FOREIGN = 3, /* no such task, or not this endpoint's (SPEC 8.4) */
} fx_fwd_outcome_t;

typedef struct {
    /* Up to max QUEUED tasks of endpoint_id, in submission order, marked
       DISPATCHED to it (attempt + 1) durably before the call returns, into
       tasks (an FX_MSG_TASKS message; its records are replaced, 0 of them
       when nothing is queued). Fewer than max when a batch reaches the byte
       budget of fx_limits.h. Each task's `container` is resolved (its
       own, else its version's, else "": SPEC 12.7.1). with_bodies: each task's body frame holds its
       function version's body (an endpoint that has not said it fetches
       bodies, SPEC 5.27); else the frames are empty. */
    int (*take)(void *ctx, const char *endpoint_id, uint32_t max, bool with_bodies, fx_msg_t *tasks);
    /* FUNCTION_FETCH of endpoint_id (SPEC 5.27): one record of bodies (an
       FX_MSG_FUNCTION_BODIES message, records replaced) per version asked,
       kind 0 and an empty body for a version no task dispatched to this
       endpoint uses. */
    int (*bodies)(void *ctx, const char *endpoint_id, const fx_oid_text_t *versions, uint32_t count,
                  fx_msg_t *bodies);
    /* The definition (id, name, runtime, image) of a container that taken
       tasks name (SPEC 5.35, 12.7.1) into def: FX_OK, FX_E_NOT_FOUND (no
       such container), or a failure. The forwarder sends it on a session
       before the first TASKS naming it, and again when it reads back
       other fields than it sent. */
    int (*container)(void *ctx, const char *container_id, fx_container_def_t *def);
    /* ENDPOINT_HELLO's allowed_functions (count 0: any), kept for SUBMIT. */
    int (*allowed)(void *ctx, const char *endpoint_id, const fx_id_text_t *ids, uint32_t count);
    /* Every task DISPATCHED to endpoint_id goes back to QUEUED, keeping its
       place; one with a cancel pending ends cancelled instead (SPEC 8.5,
       8.10.2). Never counted against a task. The counts may be NULL. */
    int (*requeue)(void *ctx, const char *endpoint_id, uint32_t *requeued, uint32_t *cancelled);
    /* The results of one RESULTS batch of endpoint_id, all or none,
       deduplicated by task id; outcome (count entries) says what became of
       each. Frames are read, not taken. *ticket: the batch (and everything
       committed before it, the stored copies of duplicates included) is on
       disk once the queue's owner reports that ticket durable
       (fx_fwd_set_durable); 0 if it is on disk already. The forwarder
       holds the RESULTS_ACK until then (SPEC 8.3). */
    int (*commit)(void *ctx, const char *endpoint_id, const fx_result_t *results, uint32_t count,
                  fx_fwd_outcome_t *outcome, uint64_t *ticket);
    /* The endpoint was heard from at wall_ms (ms since the epoch). */
    int (*seen)(void *ctx, const char *endpoint_id, int64_t wall_ms);
    /* The endpoint registered with this z85 CurveZMQ public key, into
       endpoint_id: FX_OK, FX_E_NOT_FOUND, or a failure. */
    int (*by_key)(void *ctx, const char *public_key, fx_id_text_t endpoint_id);
    /* One sentence about the last failure ("" if none); valid until the
       next call. */
    const char *(*describe)(void *ctx);
} fx_fwd_queue_ops_t;

/* A queue: the operations and the context they are called with. Copied by
   whoever is handed it; the context outlives them. */
typedef struct {
    const fx_fwd_queue_ops_t *ops;
    void *ctx;
} fx_fwd_queue_t;

#endif
