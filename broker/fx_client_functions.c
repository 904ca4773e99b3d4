/*  fx_client_functions.c: the client port's function requests (issue 8):
    REGISTER_FUNCTION into the registry and the store (SPEC 5.5, 8.12),
    FUNCTION_GET (5.29) and PROVENANCE (5.31). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_broker_int.h"

/* SPEC 8.12: the checks, then the body into the registry (objects and ref,
   durably), then the row that points at it: a crash in between leaves an
   orphan object at worst, never a row pointing at nothing. */
void fx_client_register_function(fx_broker_t *broker, zframe_t *routing, fx_session_t *session,
                                 const char *user, fx_msg_t *msg)
{
    char err[512];
    fx_store_version_t newest;
    int rc = fx_store_function_check(broker->store, session->user_id, msg->register_function.function_id,
                                     msg->register_function.name, msg->register_function.kind,
                                     msg->register_function.entry, msg->register_function.serializer, &newest,
                                     err, sizeof err);
    fx_store_versions_free(&newest, 1, false);
    if (rc == FX_OK) /* SPEC 5.5: one of this user's containers, or "" */
        rc = fx_store_container_owned(broker->store, session->user_id, msg->register_function.container_id, err,
                                      sizeof err);
    if (rc == FX_OK && msg->register_function.body &&
        zframe_size(msg->register_function.body) > FX_PAYLOAD_MAX) {
        snprintf(err, sizeof err, "function body is %zu bytes, over the %u byte limit",
                 zframe_size(msg->register_function.body), FX_PAYLOAD_MAX);
        rc = FX_E_TOO_LARGE;
    }
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        return;
    }
    char author[FX_NAME_MAX + 1] = "";
    if (fx_store_user_name(broker->store, session->user_id, author) != FX_OK)
        snprintf(author, sizeof author, "%s", session->user_id);
    fx_registry_author_t who = {
        .author_name = author,
        .author_email = "",
        .user_id = session->user_id,
        .function_name = msg->register_function.name,
        .description = msg->register_function.description,
    };
    fx_store_version_t v = {.kind = msg->register_function.kind};
    fx_object_id_t blob = "", commit = "";
    bool committed = false;
    if (fx_registry_put(broker->registry, msg->register_function.function_id,
                        msg->register_function.body ? (const void *) zframe_data(msg->register_function.body)
                                                    : (const void *) "",
                        msg->register_function.body ? zframe_size(msg->register_function.body) : 0, &who,
                        blob, commit, &committed, err, sizeof err) != 0) {
        fx_error("cannot write function %s to the registry: %s", msg->register_function.function_id, err);
        fx_client_error(broker, routing, msg->seq, FX_E_IO,
                        "the broker could not store function %s (%s): register it again later",
                        msg->register_function.function_id, err);
        return;
    }
    snprintf(v.version, sizeof v.version, "%s", blob);
    snprintf(v.commit, sizeof v.commit, "%s", committed ? commit : "");
    snprintf(v.entry, sizeof v.entry, "%s", msg->register_function.entry);
    snprintf(v.serializer, sizeof v.serializer, "%s", msg->register_function.serializer);
    snprintf(v.dill_version, sizeof v.dill_version, "%s", msg->register_function.dill_version);
    snprintf(v.author, sizeof v.author, "%s", author);
    memcpy(v.container_id, msg->register_function.container_id, sizeof v.container_id);
    if (!committed) {
        /* The registry's path holds this body already: it is the version
           the store has (newest or older), unless the store never got the
           row (a crash after the git write): then the head commit made it. */
        fx_object_id_t head;
        fx_registry_head(broker->registry, head);
        snprintf(v.commit, sizeof v.commit, "%s", head);
    }
    rc = fx_store_function_add_version(broker->store, session->user_id, msg->register_function.function_id,
                                       msg->register_function.name, msg->register_function.description, &v,
                                       err, sizeof err);
    if (rc != FX_OK) {
        fx_client_error(broker, routing, msg->seq, rc, "%s", err);
        return;
    }
    fx_msg_t *reply = fx_msg_new(FX_MSG_FUNCTION_REGISTERED);
    if (reply) {
        memcpy(reply->function_registered.function_id, msg->register_function.function_id,
               sizeof(fx_id_text_t));
        memcpy(reply->function_registered.version, v.version, sizeof v.version);
        memcpy(reply->function_registered.commit, v.commit, sizeof v.commit);
        reply->function_registered.number = v.number;
    }
    fx_client_reply_durable(broker, routing, &reply, msg->seq);
}

/* FUNCTION_INFO from the history and the body of version (a version id
   of the history, or "" for the newest). */
static int s_info(fx_broker_t *broker, const char *function_id, const char *asked, const char *name,
                  fx_store_version_t *versions, uint32_t count, fx_msg_t *info, char *err, size_t cap)
{
    fx_store_version_t newest;
    fx_oid_text_t want = "";
    if (!asked[0] && fx_store_version_find(broker->store, function_id, "", &newest) == FX_OK) {
        memcpy(want, newest.version, sizeof want);
        fx_store_versions_free(&newest, 1, false);
    }
    else if (asked[0])
        snprintf(want, sizeof want, "%s", asked);
    const fx_store_version_t *pick = NULL;
    for (uint32_t i = 0; i < count && !pick; i++)
        if (strcmp(versions[i].version, want) == 0)
            pick = &versions[i];
    if (!pick) {
        snprintf(err, cap,
                 count ? "function %s has no version %s: see fx function log %s"
                       : "function %s has no versions (registered before versions existed)%.0s%.0s",
                 function_id, asked, function_id);
        return FX_E_NOT_FOUND;
    }
    /* the records first: allocating them frees the message's other fields */
    int rc = fx_msg_alloc_records(info, count);
    if (rc != FX_OK) {
        snprintf(err, cap, "the broker is out of memory: try again later");
        return rc;
    }
    for (uint32_t i = 0; i < count; i++) {
        fx_function_version_t *out = &info->function_info.versions[i];
        memcpy(out->version, versions[i].version, sizeof out->version);
        memcpy(out->commit, versions[i].commit, sizeof out->commit);
        out->number = versions[i].number;
        snprintf(out->author, sizeof out->author, "%s", versions[i].author);
        out->created_us = versions[i].created_us;
        snprintf(out->serializer, sizeof out->serializer, "%s", versions[i].serializer);
    }
    memcpy(info->function_info.function_id, function_id, sizeof(fx_id_text_t));
    snprintf(info->function_info.name, sizeof info->function_info.name, "%s", name);
    info->function_info.kind = pick->kind;
    snprintf(info->function_info.entry, sizeof info->function_info.entry, "%s", pick->entry);
    memcpy(info->function_info.version, pick->version, sizeof pick->version);
    if (pick->description)
        info->function_info.description = strdup(pick->description);
    info->function_info.body = fx_bodies_frame(broker->bodies, pick->version);
    if (!info->function_info.body) {
        snprintf(err, cap, "version %s of function %s is missing from the broker's registry", pick->version,
                 function_id);
        return FX_E_NOT_FOUND;
    }
    return FX_OK;
}

void fx_client_function_get(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                            fx_msg_t *msg)
{
    const char *function_id = msg->function_get.function_id;
    char name[FX_NAME_MAX + 1] = "", err[512] = "";
    fx_store_version_t *versions = NULL;
    uint32_t count = 0;
    int rc = fx_store_function_history(broker->store, session->user_id, function_id, name, &versions, &count);
    if (rc == FX_E_NOT_FOUND)
        snprintf(err, sizeof err, "you have no function %s: see fx functions", function_id);
    else if (rc != FX_OK)
        snprintf(err, sizeof err, "cannot read function %s: %s", function_id, fx_store_errmsg(broker->store));
    fx_msg_t *info = rc == FX_OK ? fx_msg_new(FX_MSG_FUNCTION_INFO) : NULL;
    if (rc == FX_OK && !info)
        rc = FX_E_NOMEM;
    if (rc == FX_OK)
        rc = s_info(broker, function_id, msg->function_get.version, name, versions, count, info, err,
                    sizeof err);
    fx_store_versions_free(versions, count, true);
    if (rc != FX_OK) {
        fx_msg_destroy(&info);
        fx_client_error(broker, routing, msg->seq, rc, "%s", err[0] ? err : fx_strerror(rc));
        return;
    }
    fx_client_reply(broker, routing, &info, msg->seq);
}

void fx_client_provenance(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                          fx_msg_t *msg)
{
    uint32_t count = msg->ids.count;
    fx_msg_t *reply = fx_msg_new(FX_MSG_PROVENANCE_REPLY);
    int rc = reply ? fx_msg_alloc_records(reply, count) : FX_E_NOMEM;
    if (rc == FX_OK)
        rc = fx_store_provenance(broker->store, session->user_id, msg->ids.ids, count,
                                 reply->provenance_reply.tasks);
    if (rc != FX_OK) {
        fx_msg_destroy(&reply);
        fx_client_error(broker, routing, msg->seq, rc, "cannot read the provenance of %u tasks: %s", count,
                        rc == FX_E_NOMEM ? "out of memory" : fx_store_errmsg(broker->store));
        return;
    }
    fx_client_reply(broker, routing, &reply, msg->seq);
}
