/*  fx_forwarder_int.h: private to forwarder/. The link struct (the set
    reads its liveness fields). */
#ifndef FX_FORWARDER_INT_H
#define FX_FORWARDER_INT_H

#include "fx_forwarder.h"
#include "fx_log.h"

struct _fx_forwarder_t {
    fx_forwarder_stats_t stats;
    zframe_t *routing;     /* the endpoint's routing id on the ROUTER */
    char *routing_key;     /* its hex text, the set's index key */
    zhashx_t *in_flight;   /* task id -> (void *) 1, dispatched, no result yet */
    bool wants_dispatch;   /* credit or work may have appeared */
    bool requeue_pending;  /* its hello could not requeue the tasks of the
                              endpoint's earlier session: take nothing new
                              until the tick's retry has done it */
    bool take_failed;      /* the queue failed its last take: the tick retries */
    bool fetches_bodies;   /* it sent FUNCTION_FETCH: it caches bodies by
                              version, its TASKS go without them (SPEC 5.27) */
    zhashx_t *containers; /* container id -> fx_container_def_t (heap): the
                              definitions sent on this session (SPEC 5.35) */
    fx_msg_t *pending;     /* TASKS taken (in flight) whose containers'
                              definitions could not be read yet: sent
                              before anything else is taken */
    fx_endpoint_container_t status_containers[FX_CONTAINERS_MAX]; /* its last
                              ENDPOINT_STATUS's (SPEC 5.25) */
    uint32_t status_container_count;
    void *ready;           /* its handle in the set's list of links to
                              dispatch to (NULL: not in it) */
    int64_t heard_ms;      /* fx_now_ms of the last message from it */
    int64_t sent_ms;       /* fx_now_ms of the last message to it */
    int64_t heard_wall_ms; /* the same as wall clock, for endpoints.last_seen */
    int64_t saved_wall_ms; /* last value written to endpoints.last_seen */
};

#endif
