/*  fx_forwarder.h: the broker's side of the endpoint links.

    An fx_forwarder_t is one connected endpoint: its routing id, the credit
    window it announced, the tasks in flight to it, its liveness. An
    fx_fwd_set_t holds all of them and speaks the endpoint protocol on the
    broker's endpoint ROUTER: it is driven by the broker's loop (no thread
    of its own) and reaches the task queue only through the queue it is
    handed (fx_fwd_queue.h), never a store of its own.

    Flow control (contracts, "Flow control"): CREDIT(window) is absolute;
    the forwarder never has more than `window` tasks in flight to an
    endpoint; a task leaves flight when its result arrives, or when the
    endpoint is lost or says hello again (then it is requeued in the queue:
    at-least-once, results deduplicated by task id).

    A queue failure never stops a link: a RESULTS batch that cannot be
    committed is answered ERROR FX_E_IO and not acknowledged (SPEC 6.2); a
    take, a requeue or a last_seen write that fails is retried at the next
    tick, and a link whose hello could not requeue its earlier tasks takes
    no new ones until that requeue went through (so no task is in flight
    twice). */
#ifndef FX_FORWARDER_H
#define FX_FORWARDER_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_clock.h"
#include "fx_fwd_queue.h"
#include "fx_held.h"
#include "fx_msg.h"

/* Largest window honoured from an endpoint: fx_limits.h. */
#define FX_FWD_WINDOW_MAX FX_ENDPOINT_WINDOW_MAX

/* TASKS messages one forwarder may send in one loop pass, so one endpoint
   with a large window cannot starve the rest of the loop. */
#define FX_FWD_BATCHES_PER_PASS 4

/* Container definitions one link remembers having sent; past it, it
   forgets them all and sends each again before its next TASKS (a user has
   a few containers; the bound is against a session that sees thousands). */
#define FX_FWD_CONTAINERS_SENT_MAX 4096

/* Counters of one endpoint link, for logs and tests. */
typedef struct {
    fx_id_text_t endpoint_id;
    uint32_t window;        /* last CREDIT (capped at FX_FWD_WINDOW_MAX) */
    uint32_t in_flight;     /* dispatched, no result yet */
    uint32_t max_in_flight; /* highest in_flight ever on this link */
    uint32_t over_credit;   /* sends that left in_flight > window: must stay 0 */
    uint64_t dispatched;    /* tasks sent */
    uint64_t results;       /* results received (new or duplicate) */
    uint64_t bodies_sent;   /* FUNCTION_BODIES records sent */
    uint64_t containers_sent; /* container definitions sent in CONTAINERS */
    uint32_t managers;      /* from its last ENDPOINT_STATUS */
    uint32_t workers;
    uint32_t free;
} fx_forwarder_stats_t;

/* ---------------------------------------------------------------- one link */

typedef struct _fx_forwarder_t fx_forwarder_t;

/* A link for endpoint_id reached through routing (copied). NULL on OOM. */
fx_forwarder_t *fx_forwarder_new(const char *endpoint_id, zframe_t *routing);
void fx_forwarder_destroy(fx_forwarder_t **self_p);

const char *fx_forwarder_endpoint_id(fx_forwarder_t *self);
void fx_forwarder_stats(fx_forwarder_t *self, fx_forwarder_stats_t *stats);

/* CREDIT: the endpoint can hold `window` tasks in all. */
void fx_forwarder_credit(fx_forwarder_t *self, uint32_t window);

/* Sends TASKS taken from the queue while credit and queued tasks last (at
   most FX_FWD_BATCHES_PER_PASS messages). Returns true if it stopped with
   both left, i.e. it wants another pass. Before each TASKS it sends
   CONTAINERS with the definitions of the containers the batch names that
   this session has not had, or had with other fields (SPEC 5.35); when a
   definition cannot be read, the batch waits (in flight) for the next
   pass or tick, and nothing more is taken until it has gone. */
bool fx_forwarder_dispatch(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue);

/* RESULTS from the endpoint: commit them (deduplicated by task id), then
   RESULTS_ACK every id of the batch once the commit is durable: at once if
   the queue's ticket is <= durable, else held in `held` until the queue's
   owner reports it (fx_fwd_set_durable). Results for tasks that are not
   this endpoint's are dropped and logged (SPEC 8.4). A queue failure is
   answered with ERROR FX_E_IO and no ack: the endpoint resends. */
void fx_forwarder_results(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue, fx_msg_t *msg,
                          fx_held_t *held, uint64_t durable);

/* FUNCTION_FETCH from the endpoint (SPEC 5.27): answered with
   FUNCTION_BODIES (same seq) from the queue; from now on this link's
   TASKS go without bodies (the endpoint caches them by version and
   fetches what it lacks). A queue failure is answered ERROR FX_E_IO. */
void fx_forwarder_fetch(fx_forwarder_t *self, zsock_t *sock, const fx_fwd_queue_t *queue,
                        const fx_msg_t *msg);

/* ---------------------------------------------------------------- all links */

typedef struct _fx_fwd_set_t fx_fwd_set_t;

/* Links served on sock (the broker's endpoint ROUTER, not owned), fed from
   queue (copied; its context is not owned). heartbeat_ms: the beat
   announced in WELCOME and sent to every endpoint; an endpoint silent for
   missed beats is lost (its DISPATCHED tasks are requeued, never counted
   against them). NULL on OOM. */
fx_fwd_set_t *fx_fwd_set_new(zsock_t *sock, const fx_fwd_queue_t *queue, uint32_t heartbeat_ms,
                             uint32_t missed);
/* Frees every link, saving last_seen (their dispatched tasks stay
   DISPATCHED in the queue and are requeued when the endpoint says hello to
   the next broker). */
void fx_fwd_set_destroy(fx_fwd_set_t **self_p);

/* ZAP for the endpoint port: the connection presenting this public key is
   the endpoint registered with it (asked of the queue). FX_OK and the
   User-Id that ZAP is to give the connection in user_id (cap bytes), or
   FX_E_NOT_FOUND (refuse it), or the queue's failure (refuse it too; the
   peer reconnects). The User-Id's form is the forwarder's own: only
   fx_fwd_set_handle reads it. */
int fx_fwd_set_zap(fx_fwd_set_t *self, const char *public_key, char *user_id, size_t cap);

/* One message from the endpoint ROUTER, routing frame already popped;
   user_id is the ZAP User-Id of its header frame (NULL if none), as
   fx_fwd_set_zap made it. Takes the zmsg. Answers malformed or unexpected
   input with ERROR and goes on. */
void fx_fwd_set_handle(fx_fwd_set_t *self, zframe_t *routing, const char *user_id, zmsg_t **zmsg_p);

/* New tasks were queued for endpoint_id: dispatch them at the next pass. */
void fx_fwd_set_wake(fx_fwd_set_t *self, const char *endpoint_id);

/* End of a loop pass: dispatch to the links that got credit or work since
   the last pass (a list of them, never a walk over every link). Returns
   true if some link wants another pass at once. */
bool fx_fwd_set_dispatch(fx_fwd_set_t *self);

/* The queue's owner reports on the commits up to ticket `upto` (the
   tickets of fx_fwd_queue_ops_t.commit): rc FX_OK, they are on disk, and
   the RESULTS_ACKs held for them leave; otherwise (a failed sync: whether
   they are on disk is not known) each held ack becomes ERROR FX_E_IO with
   its batch's seq, and the endpoint resends those results (SPEC 6.2; the
   queue deduplicates them). */
void fx_fwd_set_durable(fx_fwd_set_t *self, uint64_t upto, int rc);

/* RESULTS_ACKs held until durable (for tests and logs). */
size_t fx_fwd_set_held(fx_fwd_set_t *self);

/* Heartbeats out, lost endpoints (silent `missed` beats) dropped
   and their tasks requeued, last_seen persisted, requeues and takes that
   the queue failed retried. now = fx_now_ms(). Returns the ms until it
   wants to run again. */
int64_t fx_fwd_set_tick(fx_fwd_set_t *self, int64_t now);

/* Is the endpoint connected (said hello, not lost)? */
bool fx_fwd_set_online(fx_fwd_set_t *self, const char *endpoint_id);

/* Forwards CANCEL(ids, queued_only 0) to the endpoint's connection.
   0, or -1 if it is not connected (or out of memory). */
int fx_fwd_set_cancel(fx_fwd_set_t *self, const char *endpoint_id, const fx_id_text_t *ids, uint32_t count);

/* The per-container records of a connected endpoint's last
   ENDPOINT_STATUS (SPEC 5.25) into out (room for max): how many, or -1 if
   it is not connected. */
int fx_fwd_set_containers(fx_fwd_set_t *self, const char *endpoint_id, fx_endpoint_container_t *out,
                          uint32_t max);

/* Counters of a connected endpoint. 0, or -1 if it is not connected. */
int fx_fwd_set_stats(fx_fwd_set_t *self, const char *endpoint_id, fx_forwarder_stats_t *stats);

/* Number of connected endpoints. */
size_t fx_fwd_set_size(fx_fwd_set_t *self);

#endif
