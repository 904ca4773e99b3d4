/*  fx_client_endpoint.c: ENDPOINT_QUERY, the broker's live view of one of
    the user's endpoints (SPEC 5.37, 5.38; Client.get_endpoint_status).
    Online means a session with its forwarder now: a session ends when the
    endpoint is silent for the heartbeat threshold (SPEC 9.3), so the view
    is never online past it. Managers, workers and free slots are from the
    endpoint's last ENDPOINT_STATUS in that session; queued from the store;
    dispatched is the session's tasks in flight; the workers per container
    are its last ENDPOINT_STATUS's too. */
#include <string.h>

#include "fx_broker_int.h"

void fx_client_endpoint_query(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                              fx_msg_t *msg)
{
    (void) user;
    const char *id = msg->endpoint_query.endpoint_id;
    fx_store_endpoint_row_t row;
    int rc = fx_store_endpoint_row(broker->store, session->user_id, id, &row);
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc,
                        rc == FX_E_NOT_FOUND ? "you have no endpoint %s: see fx endpoints"
                                             : "cannot read endpoint %s from the store",
                        id);
        return;
    }
    fx_msg_t *info = fx_msg_new(FX_MSG_ENDPOINT_INFO);
    /* the records first: allocating them clears the other fields */
    if (info && fx_msg_alloc_records(info, FX_CONTAINERS_MAX) != FX_OK)
        fx_msg_destroy(&info);
    if (!info) {
        fx_client_error(broker, routing, msg->seq, FX_E_NOMEM, "out of memory");
        return;
    }
    fx_forwarder_stats_t stats;
    bool online = fx_fwd_set_online(broker->forwarders, id) && fx_fwd_set_stats(broker->forwarders, id, &stats) == 0;
    memcpy(info->endpoint_info.endpoint_id, row.id, sizeof row.id);
    fx_strlcpy(info->endpoint_info.name, row.name, sizeof info->endpoint_info.name);
    info->endpoint_info.online = online;
    info->endpoint_info.last_seen_us = row.seen ? (uint64_t) row.last_seen_ms * 1000 : 0;
    info->endpoint_info.queued = row.queued > UINT32_MAX ? UINT32_MAX : (uint32_t) row.queued;
    if (online) {
        info->endpoint_info.managers = stats.managers;
        info->endpoint_info.workers = stats.workers;
        info->endpoint_info.free = stats.free;
        info->endpoint_info.dispatched = stats.in_flight;
    }
    int n = online ? fx_fwd_set_containers(broker->forwarders, id, info->endpoint_info.containers,
                                           FX_CONTAINERS_MAX)
                   : 0;
    info->endpoint_info.container_count = n > 0 ? (uint32_t) n : 0;
    fx_client_reply(broker, routing, &info, msg->seq);
}
