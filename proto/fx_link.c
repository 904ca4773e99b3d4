/*  fx_link.c: the table of SPEC 5.26 and the one arrival check (fx_link.h). */
#include "fx_link.h"

#include <stdio.h>

#define BIT(type) (UINT64_C(1) << (type))

/* sends[link][from]: a bit per message type that side sends on that link. */
static const uint64_t s_sends[FX_LINK_COUNT][2] = {
    [FX_LINK_CLIENT] = {
        [FX_FROM_CONNECTING] = BIT(FX_MSG_HELLO) | BIT(FX_MSG_REGISTER_FUNCTION) | BIT(FX_MSG_REGISTER_ENDPOINT) |
                               BIT(FX_MSG_REGISTER_CONTAINER) | BIT(FX_MSG_SUBMIT) | BIT(FX_MSG_STATUS) | BIT(FX_MSG_CANCEL) | BIT(FX_MSG_FETCH) |
                               BIT(FX_MSG_LIST) | BIT(FX_MSG_RESULTS_ACK) | BIT(FX_MSG_FUNCTION_GET) |
                               BIT(FX_MSG_PROVENANCE) | BIT(FX_MSG_ENDPOINT_QUERY) | BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_ERROR),
        [FX_FROM_SERVING] = BIT(FX_MSG_WELCOME) | BIT(FX_MSG_FUNCTION_REGISTERED) |
                            BIT(FX_MSG_ENDPOINT_REGISTERED) | BIT(FX_MSG_CONTAINER_REGISTERED) | BIT(FX_MSG_SUBMITTED) | BIT(FX_MSG_STATUS_REPLY) |
                            BIT(FX_MSG_LIST_REPLY) | BIT(FX_MSG_RESULTS) | BIT(FX_MSG_FUNCTION_INFO) |
                            BIT(FX_MSG_PROVENANCE_REPLY) | BIT(FX_MSG_ENDPOINT_INFO) | BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_ERROR),
    },
    [FX_LINK_ENDPOINT] = {
        [FX_FROM_CONNECTING] = BIT(FX_MSG_ENDPOINT_HELLO) | BIT(FX_MSG_CREDIT) | BIT(FX_MSG_ENDPOINT_STATUS) |
                               BIT(FX_MSG_RESULTS) | BIT(FX_MSG_FUNCTION_FETCH) | BIT(FX_MSG_HEARTBEAT) |
                               BIT(FX_MSG_ERROR),
        [FX_FROM_SERVING] = BIT(FX_MSG_WELCOME) | BIT(FX_MSG_TASKS) | BIT(FX_MSG_CANCEL) |
                            BIT(FX_MSG_RESULTS_ACK) | BIT(FX_MSG_COMMAND) | BIT(FX_MSG_FUNCTION_BODIES) |
                            BIT(FX_MSG_CONTAINERS) | BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_ERROR),
    },
    [FX_LINK_MANAGER] = {
        [FX_FROM_CONNECTING] = BIT(FX_MSG_MANAGER_HELLO) | BIT(FX_MSG_CREDIT) | BIT(FX_MSG_CAPACITY) |
                               BIT(FX_MSG_RESULTS) | BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_ERROR),
        [FX_FROM_SERVING] = BIT(FX_MSG_WELCOME) | BIT(FX_MSG_TASKS) | BIT(FX_MSG_CANCEL) |
                            BIT(FX_MSG_RESULTS_ACK) | BIT(FX_MSG_COMMAND) | BIT(FX_MSG_CONTAINERS) |
                            BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_ERROR),
    },
    [FX_LINK_WORKER] = {
        [FX_FROM_CONNECTING] = BIT(FX_MSG_READY) | BIT(FX_MSG_RESULTS) | BIT(FX_MSG_ERROR),
        [FX_FROM_SERVING] = BIT(FX_MSG_WELCOME) | BIT(FX_MSG_TASKS) | BIT(FX_MSG_ERROR),
    },
};

/* What a receiver takes before the session exists besides the opener. A
   server takes nothing else: "NONE | anything else | FX_E_NO_SESSION" is
   how a peer learns the server restarted (SPEC 6). A connecting side takes
   beats before its WELCOME, and a manager takes RESULTS_ACK in any state
   (SPEC 6.3: acks of an earlier session still free results). */
static const uint64_t s_sessionless[FX_LINK_COUNT][2] = {
    [FX_LINK_CLIENT] = { [FX_FROM_SERVING] = BIT(FX_MSG_HEARTBEAT) },
    [FX_LINK_ENDPOINT] = { [FX_FROM_SERVING] = BIT(FX_MSG_HEARTBEAT) },
    [FX_LINK_MANAGER] = { [FX_FROM_SERVING] = BIT(FX_MSG_HEARTBEAT) | BIT(FX_MSG_RESULTS_ACK) },
};

static const fx_msg_type_t s_hello[FX_LINK_COUNT] = {
    [FX_LINK_CLIENT] = FX_MSG_HELLO,
    [FX_LINK_ENDPOINT] = FX_MSG_ENDPOINT_HELLO,
    [FX_LINK_MANAGER] = FX_MSG_MANAGER_HELLO,
    [FX_LINK_WORKER] = FX_MSG_READY,
};

static const char *s_names[FX_LINK_COUNT] = {
    [FX_LINK_CLIENT] = "client port",
    [FX_LINK_ENDPOINT] = "endpoint port",
    [FX_LINK_MANAGER] = "manager link",
    [FX_LINK_WORKER] = "worker link",
};

/* Who is who, for the sentences. */
static const char *s_sides[FX_LINK_COUNT][2] = {
    [FX_LINK_CLIENT] = { "a client", "the broker" },
    [FX_LINK_ENDPOINT] = { "an endpoint", "the broker" },
    [FX_LINK_MANAGER] = { "a manager", "the interchange" },
    [FX_LINK_WORKER] = { "a worker", "the manager" },
};

static bool s_valid(fx_link_t link, fx_link_from_t from)
{
    return (unsigned) link < FX_LINK_COUNT && (from == FX_FROM_CONNECTING || from == FX_FROM_SERVING);
}

bool fx_link_sends(fx_link_t link, fx_link_from_t from, int type)
{
    if (!s_valid(link, from) || type < FX_MSG_TYPE_FIRST || type > FX_MSG_TYPE_LAST)
        return false;
    return (s_sends[link][from] & BIT(type)) != 0;
}

fx_msg_type_t fx_link_hello(fx_link_t link)
{
    return (unsigned) link < FX_LINK_COUNT ? s_hello[link] : FX_MSG_HELLO;
}

const char *fx_link_name(fx_link_t link)
{
    return (unsigned) link < FX_LINK_COUNT ? s_names[link] : "?";
}

fx_admit_t fx_link_admit(fx_link_t link, fx_link_from_t from, bool in_session, int type)
{
    if (type == FX_MSG_ERROR)
        return FX_ADMIT_REPORT;
    if (!fx_link_sends(link, from, type))
        return FX_ADMIT_UNEXPECTED;
    fx_msg_type_t opener = from == FX_FROM_CONNECTING ? fx_link_hello(link) : FX_MSG_WELCOME;
    if (type == (int) opener)
        return FX_ADMIT_HELLO;
    if (in_session || (s_sessionless[link][from] & BIT(type)))
        return FX_ADMIT_OK;
    return FX_ADMIT_NO_SESSION;
}

int fx_link_refusal_code(fx_admit_t verdict)
{
    return verdict == FX_ADMIT_NO_SESSION ? FX_E_NO_SESSION
           : verdict == FX_ADMIT_UNEXPECTED ? FX_E_UNEXPECTED
                                            : FX_OK;
}

const char *fx_link_refusal(fx_link_t link, fx_link_from_t from, fx_admit_t verdict, int type, char *buf,
                            size_t cap)
{
    if (!s_valid(link, from)) {
        snprintf(buf, cap, "%s refused", fx_msg_type_name(type));
        return buf;
    }
    const char *sender = s_sides[link][from], *receiver = s_sides[link][!from];
    if (verdict == FX_ADMIT_NO_SESSION && from == FX_FROM_CONNECTING)
        snprintf(buf, cap,
                 "%s from a connection without a session (no %s yet, or %s restarted or declared this peer "
                 "lost): send %s, then this again",
                 fx_msg_type_name(type), fx_msg_type_name(s_hello[link]), receiver,
                 fx_msg_type_name(s_hello[link]));
    else if (verdict == FX_ADMIT_NO_SESSION)
        snprintf(buf, cap, "%s before WELCOME answered %s; ignored", fx_msg_type_name(type),
                 fx_msg_type_name(s_hello[link]));
    else
        snprintf(buf, cap, "%s is not a message %s sends to %s on the %s", fx_msg_type_name(type), sender,
                 receiver, s_names[link]);
    return buf;
}
