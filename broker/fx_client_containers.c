/*  fx_client_containers.c: REGISTER_CONTAINER on the client port (issue
    10, SPEC 5.33, 5.36): the record into the store, CONTAINER_REGISTERED
    once its commit is durable. Nothing is pushed to endpoints here: each
    forwarder compares a task's container with the definition it last sent
    that session and sends CONTAINERS again when it changed (SPEC 5.35). */
#include <string.h>

#include "fx_broker_int.h"

void fx_client_register_container(fx_broker_t *broker, zframe_t *routing, fx_session_t *session,
                                  const char *user, fx_msg_t *msg)
{
    (void) user;
    char err[512];
    bool changed = false;
    int rc = fx_store_container_register(broker->store, session->user_id, msg->register_container.container_id,
                                         msg->register_container.name, msg->register_container.runtime,
                                         msg->register_container.image, msg->register_container.description,
                                         &changed, err, sizeof err);
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        return;
    }
    if (changed)
        fx_info("container %s of user=%s updated: now %s %s %s", msg->register_container.container_id,
                session->user_id, msg->register_container.name, msg->register_container.runtime,
                msg->register_container.image[0] ? msg->register_container.image : "(host root)");
    fx_msg_t *reply = fx_msg_new(FX_MSG_CONTAINER_REGISTERED);
    if (reply)
        memcpy(reply->container_registered.container_id, msg->register_container.container_id,
               sizeof(fx_id_text_t));
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}
