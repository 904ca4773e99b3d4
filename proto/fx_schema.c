/*  fx_schema.c: the schema table of every fx message (fx_schema.h).

    Designated initializers name each field's kind; FIELDS() counts the
    fields, so no count is kept by hand. The order of the fields is the wire
    order of SPEC.md section 5. */
#include "fx_schema.h"

#include <string.h>

#define FIELDS(...)                                                                                          \
    .fields = (const fx_field_t[]){ __VA_ARGS__ },                                                           \
    .nfields = (int) (sizeof((const fx_field_t[]){ __VA_ARGS__ }) / sizeof(fx_field_t))

#define INT(k, n, at, lo, hi) { .kind = (k), .name = (n), .offset = (at), .min = (lo), .max = (hi) }
#define U8(n, at, lo, hi) INT(FX_FIELD_U8, n, at, lo, hi)
#define U16(n, at, lo, hi) INT(FX_FIELD_U16, n, at, lo, hi)
#define U32(n, at) INT(FX_FIELD_U32, n, at, 0, UINT32_MAX)
#define U32_TO(n, at, hi) INT(FX_FIELD_U32, n, at, 0, hi)
#define STR(n, at, cap) { .kind = FX_FIELD_STR, .name = (n), .offset = (at), .max = (cap) }
#define NAME(n, at) STR(n, at, FX_NAME_MAX + 1)
#define VERSION(n, at) STR(n, at, FX_VERSION_MAX + 1)
#define ID(n, at) { .kind = FX_FIELD_ID, .name = (n), .offset = (at) }
#define ID_OPT(n, at) { .kind = FX_FIELD_ID_OPT, .name = (n), .offset = (at) }
#define KEY(n, at) { .kind = FX_FIELD_KEY, .name = (n), .offset = (at) }
#define TEXT(n, at) { .kind = FX_FIELD_TEXT, .name = (n), .offset = (at) }
#define TIMES(n, at) { .kind = FX_FIELD_TIMES, .name = (n), .offset = (at), .max = FX_TIMES_MAX }
#define U64(n, at) { .kind = FX_FIELD_U64, .name = (n), .offset = (at) }
#define OID(n, at) { .kind = FX_FIELD_OID, .name = (n), .offset = (at) }
#define FRAME(n, at) { .kind = FX_FIELD_FRAME, .name = (n), .offset = (at) }
#define BATCH(n, count, records, schema)                                                                     \
    { .kind = FX_FIELD_BATCH, .name = (n), .offset = (count), .offset2 = (records), .record = &(schema) }

#define M(member) offsetof(fx_msg_t, member)
#define T(member) offsetof(fx_task_t, member)
#define R(member) offsetof(fx_result_t, member)
#define S(member) offsetof(fx_task_status_t, member)
#define B(member) offsetof(fx_function_body_t, member)
#define V(member) offsetof(fx_function_version_t, member)
#define P(member) offsetof(fx_provenance_t, member)
#define CC(member) offsetof(fx_container_capacity_t, member)
#define CD(member) offsetof(fx_container_def_t, member)
#define EC(member) offsetof(fx_endpoint_container_t, member)

/* ------------------------------------------------------------- records */

static const fx_schema_t s_task = {
    .name = "task", .record_size = sizeof(fx_task_t), .max_count = FX_BATCH_MAX,
    FIELDS(ID("task_id", T(task_id)),
           ID_OPT("endpoint_id", T(endpoint_id)),
           ID("function_id", T(function_id)),
           OID("function_version", T(function_version)),
           U8("kind", T(kind), 0, FX_FN_SHELL),
           NAME("entry", T(entry)),
           NAME("container", T(container)),
           VERSION("py_version", T(py_version)),
           VERSION("dill_version", T(dill_version)),
           NAME("serializer", T(serializer)),
           U32("attempt", T(attempt)),
           U32("walltime_ms", T(walltime_ms)),
           U32_TO("retries", T(retries), FX_RETRIES_MAX),
           TIMES("times", T(times)),
           FRAME("body", T(body)),
           FRAME("payload", T(payload))),
};

static const fx_schema_t s_result = {
    .name = "result", .record_size = sizeof(fx_result_t), .max_count = FX_BATCH_MAX,
    FIELDS(ID("task_id", R(task_id)),
           U8("status", R(status), FX_RESULT_OK, FX_RESULT_ERROR),
           U16("error_code", R(error_code), 0, FX_ERR_LAST),
           TEXT("error_text", R(error_text)),
           TIMES("times", R(times)),
           NAME("host", R(host)),
           U32("worker_pid", R(worker_pid)),
           NAME("worker_runtime", R(worker_runtime)),
           NAME("container", R(container)),
           NAME("image_digest", R(image_digest)),
           U32("attempt", R(attempt)),
           FRAME("value", R(value)),
           FRAME("output", R(output))),
};

static const fx_schema_t s_task_id = {
    .name = "id", .record_size = sizeof(fx_id_text_t), .max_count = FX_IDS_MAX,
    FIELDS(ID("task_id", 0)),
};

static const fx_schema_t s_status = {
    .name = "status", .record_size = sizeof(fx_task_status_t), .max_count = FX_IDS_MAX,
    FIELDS(ID("task_id", S(task_id)),
           U8("state", S(state), FX_TASK_UNKNOWN, FX_TASK_FAILED),
           ID_OPT("endpoint_id", S(endpoint_id)),
           U32("attempts", S(attempts))),
};

static const fx_schema_t s_version_id = {
    .name = "version", .record_size = sizeof(fx_oid_text_t), .max_count = FX_IDS_MAX,
    FIELDS(OID("version", 0)),
};

static const fx_schema_t s_function_id = {
    .name = "function id", .record_size = sizeof(fx_id_text_t), .max_count = FX_IDS_MAX,
    FIELDS(ID("function_id", 0)),
};

static const fx_schema_t s_function_body = {
    .name = "function body", .record_size = sizeof(fx_function_body_t), .max_count = FX_BATCH_MAX,
    FIELDS(ID("function_id", B(function_id)),
           OID("version", B(version)),
           U8("kind", B(kind), 0, FX_FN_SHELL),
           NAME("entry", B(entry)),
           NAME("serializer", B(serializer)),
           VERSION("dill_version", B(dill_version)),
           FRAME("body", B(body))),
};

static const fx_schema_t s_function_version = {
    .name = "function version", .record_size = sizeof(fx_function_version_t), .max_count = FX_IDS_MAX,
    FIELDS(OID("version", V(version)),
           U32("number", V(number)),
           OID("commit", V(commit)),
           NAME("author", V(author)),
           U64("created_us", V(created_us)),
           NAME("serializer", V(serializer))),
};

static const fx_schema_t s_provenance = {
    .name = "provenance", .record_size = sizeof(fx_provenance_t), .max_count = FX_IDS_MAX,
    FIELDS(ID("task_id", P(task_id)),
           U8("state", P(state), FX_TASK_UNKNOWN, FX_TASK_FAILED),
           ID_OPT("function_id", P(function_id)),
           OID("function_version", P(function_version)),
           OID("commit", P(commit)),
           NAME("serializer", P(serializer)),
           VERSION("py_version", P(py_version)),
           VERSION("dill_version", P(dill_version)),
           ID_OPT("endpoint_id", P(endpoint_id)),
           NAME("host", P(host)),
           U32("worker_pid", P(worker_pid)),
           NAME("worker_runtime", P(worker_runtime)),
           U32("attempt", P(attempt)),
           NAME("container", P(container)),
           NAME("image_digest", P(image_digest)),
           TIMES("times", P(times))),
};

static const fx_schema_t s_container_capacity = {
    .name = "container capacity", .record_size = sizeof(fx_container_capacity_t), .max_count = FX_CONTAINERS_MAX,
    FIELDS(ID_OPT("container_id", CC(container_id)),
           U32("idle", CC(idle)),
           U32("busy", CC(busy)),
           U32("starting", CC(starting)),
           U32("failures", CC(failures))),
};

static const fx_schema_t s_container_def = {
    .name = "container definition", .record_size = sizeof(fx_container_def_t), .max_count = FX_CONTAINERS_MAX,
    FIELDS(ID("container_id", CD(container_id)),
           NAME("name", CD(name)),
           STR("runtime", CD(runtime), FX_RUNTIME_NAME_MAX + 1),
           STR("image", CD(image), FX_IMAGE_MAX + 1)),
};

static const fx_schema_t s_endpoint_container = {
    .name = "endpoint container", .record_size = sizeof(fx_endpoint_container_t), .max_count = FX_CONTAINERS_MAX,
    FIELDS(ID_OPT("container_id", EC(container_id)),
           U32("managers", EC(managers)),
           U32("idle", EC(idle)),
           U32("busy", EC(busy)),
           U32("starting", EC(starting))),
};

static const fx_schema_t s_container = {
    .name = "container", .record_size = FX_NAME_MAX + 1, .max_count = FX_CONTAINERS_MAX,
    FIELDS(NAME("container", 0)),
};

/* ------------------------------------------------------------ messages */

static const fx_schema_t s_messages[FX_MSG_TYPE_LAST + 1] = {
    [FX_MSG_HELLO] = { .name = "HELLO",
        FIELDS(ID("client_id", M(hello.client_id)),
               VERSION("client_version", M(hello.client_version)),
               VERSION("python_version", M(hello.python_version))) },
    [FX_MSG_WELCOME] = { .name = "WELCOME",
        FIELDS(ID_OPT("id", M(welcome.id)),
               VERSION("server_version", M(welcome.server_version)),
               U32("heartbeat_ms", M(welcome.heartbeat_ms))) },
    [FX_MSG_ERROR] = { .name = "ERROR",
        FIELDS(U16("code", M(error.code), 0, UINT16_MAX),
               TEXT("text", M(error.text))) },
    [FX_MSG_HEARTBEAT] = { .name = "HEARTBEAT", .fields = NULL, .nfields = 0 },
    [FX_MSG_REGISTER_FUNCTION] = { .name = "REGISTER_FUNCTION",
        FIELDS(ID("function_id", M(register_function.function_id)),
               NAME("name", M(register_function.name)),
               U8("kind", M(register_function.kind), FX_FN_PYTHON, FX_FN_SHELL),
               NAME("entry", M(register_function.entry)),
               NAME("serializer", M(register_function.serializer)),
               VERSION("dill_version", M(register_function.dill_version)),
               TEXT("description", M(register_function.description)),
               ID_OPT("container_id", M(register_function.container_id)),
               FRAME("body", M(register_function.body))) },
    [FX_MSG_FUNCTION_REGISTERED] = { .name = "FUNCTION_REGISTERED",
        FIELDS(ID("function_id", M(function_registered.function_id)),
               OID("version", M(function_registered.version)),
               U32("number", M(function_registered.number)),
               OID("commit", M(function_registered.commit))) },
    [FX_MSG_REGISTER_ENDPOINT] = { .name = "REGISTER_ENDPOINT",
        FIELDS(ID("endpoint_id", M(register_endpoint.endpoint_id)),
               NAME("name", M(register_endpoint.name)),
               KEY("public_key", M(register_endpoint.public_key))) },
    [FX_MSG_ENDPOINT_REGISTERED] = { .name = "ENDPOINT_REGISTERED",
        FIELDS(ID("endpoint_id", M(endpoint_registered.endpoint_id))) },
    [FX_MSG_SUBMIT] = { .name = "SUBMIT",
        FIELDS(BATCH("tasks", M(submit.count), M(submit.tasks), s_task)) },
    [FX_MSG_SUBMITTED] = { .name = "SUBMITTED",
        FIELDS(U32("accepted", M(submitted.accepted))) },
    [FX_MSG_RESULTS] = { .name = "RESULTS",
        FIELDS(BATCH("results", M(results.count), M(results.results), s_result)) },
    [FX_MSG_RESULTS_ACK] = { .name = "RESULTS_ACK",
        FIELDS(BATCH("task_ids", M(ids.count), M(ids.ids), s_task_id)) },
    [FX_MSG_STATUS] = { .name = "STATUS",
        FIELDS(BATCH("task_ids", M(ids.count), M(ids.ids), s_task_id)) },
    [FX_MSG_STATUS_REPLY] = { .name = "STATUS_REPLY",
        FIELDS(BATCH("tasks", M(status_reply.count), M(status_reply.tasks), s_status)) },
    [FX_MSG_FETCH] = { .name = "FETCH",
        FIELDS(BATCH("task_ids", M(ids.count), M(ids.ids), s_task_id)) },
    [FX_MSG_LIST] = { .name = "LIST",
        FIELDS(U8("what", M(list.what), FX_LIST_ENDPOINTS, FX_LIST_CONTAINERS),
               U32_TO("limit", M(list.limit), FX_LIST_ROWS_MAX),
               VERSION("state", M(list.state)),
               ID_OPT("endpoint_id", M(list.endpoint_id)),
               NAME("function", M(list.function)),
               U64("since_ms", M(list.since_ms)),
               U64("before", M(list.before))) },
    [FX_MSG_LIST_REPLY] = { .name = "LIST_REPLY",
        FIELDS({ .kind = FX_FIELD_TABLE, .name = "table" }) },
    [FX_MSG_ENDPOINT_HELLO] = { .name = "ENDPOINT_HELLO",
        FIELDS(ID("endpoint_id", M(endpoint_hello.endpoint_id)),
               VERSION("version", M(endpoint_hello.version)),
               BATCH("allowed_functions", M(endpoint_hello.allowed_count), M(endpoint_hello.allowed_functions),
                     s_function_id)) },
    [FX_MSG_CREDIT] = { .name = "CREDIT",
        FIELDS(U32("window", M(credit.window))) },
    [FX_MSG_TASKS] = { .name = "TASKS",
        FIELDS(BATCH("tasks", M(tasks.count), M(tasks.tasks), s_task)) },
    [FX_MSG_COMMAND] = { .name = "COMMAND",
        FIELDS(U8("command", M(command.command), FX_CMD_DRAIN, FX_CMD_STOP)) },
    [FX_MSG_MANAGER_HELLO] = { .name = "MANAGER_HELLO",
        FIELDS(ID("manager_id", M(manager_hello.manager_id)),
               NAME("host", M(manager_hello.host)),
               U32("pid", M(manager_hello.pid)),
               U32("workers", M(manager_hello.workers)),
               VERSION("version", M(manager_hello.version)),
               BATCH("containers", M(manager_hello.container_count), M(manager_hello.containers),
                     s_container)) },
    [FX_MSG_READY] = { .name = "READY",
        FIELDS(U32("pid", M(ready.pid)),
               VERSION("python_version", M(ready.python_version))) },
    [FX_MSG_CANCEL] = { .name = "CANCEL",
        FIELDS(BATCH("task_ids", M(cancel.count), M(cancel.ids), s_task_id),
               U8("queued_only", M(cancel.queued_only), 0, 1)) },
    [FX_MSG_ENDPOINT_STATUS] = { .name = "ENDPOINT_STATUS",
        FIELDS(U32("managers", M(endpoint_status.managers)),
               U32("workers", M(endpoint_status.workers)),
               U32("free", M(endpoint_status.free)),
               BATCH("containers", M(endpoint_status.container_count), M(endpoint_status.containers),
                     s_endpoint_container)) },
    [FX_MSG_FUNCTION_FETCH] = { .name = "FUNCTION_FETCH",
        FIELDS(BATCH("versions", M(function_fetch.count), M(function_fetch.versions), s_version_id)) },
    [FX_MSG_FUNCTION_BODIES] = { .name = "FUNCTION_BODIES",
        FIELDS(BATCH("functions", M(function_bodies.count), M(function_bodies.functions), s_function_body)) },
    [FX_MSG_FUNCTION_GET] = { .name = "FUNCTION_GET",
        FIELDS(ID("function_id", M(function_get.function_id)),
               OID("version", M(function_get.version))) },
    [FX_MSG_FUNCTION_INFO] = { .name = "FUNCTION_INFO",
        FIELDS(ID("function_id", M(function_info.function_id)),
               NAME("name", M(function_info.name)),
               U8("kind", M(function_info.kind), FX_FN_PYTHON, FX_FN_SHELL),
               NAME("entry", M(function_info.entry)),
               OID("version", M(function_info.version)),
               TEXT("description", M(function_info.description)),
               BATCH("versions", M(function_info.count), M(function_info.versions), s_function_version),
               FRAME("body", M(function_info.body))) },
    [FX_MSG_PROVENANCE] = { .name = "PROVENANCE",
        FIELDS(BATCH("task_ids", M(ids.count), M(ids.ids), s_task_id)) },
    [FX_MSG_PROVENANCE_REPLY] = { .name = "PROVENANCE_REPLY",
        FIELDS(BATCH("tasks", M(provenance_reply.count), M(provenance_reply.tasks), s_provenance)) },
    [FX_MSG_REGISTER_CONTAINER] = { .name = "REGISTER_CONTAINER",
        FIELDS(ID("container_id", M(register_container.container_id)),
               NAME("name", M(register_container.name)),
               STR("runtime", M(register_container.runtime), FX_RUNTIME_NAME_MAX + 1),
               STR("image", M(register_container.image), FX_IMAGE_MAX + 1),
               TEXT("description", M(register_container.description))) },
    [FX_MSG_CAPACITY] = { .name = "CAPACITY",
        FIELDS(U32("window", M(capacity.window)),
               U32("cold_free", M(capacity.cold_free)),
               BATCH("containers", M(capacity.count), M(capacity.containers), s_container_capacity)) },
    [FX_MSG_CONTAINERS] = { .name = "CONTAINERS",
        FIELDS(BATCH("containers", M(containers.count), M(containers.containers), s_container_def)) },
    [FX_MSG_CONTAINER_REGISTERED] = { .name = "CONTAINER_REGISTERED",
        FIELDS(ID("container_id", M(container_registered.container_id))) },
    [FX_MSG_ENDPOINT_QUERY] = { .name = "ENDPOINT_QUERY",
        FIELDS(ID("endpoint_id", M(endpoint_query.endpoint_id))) },
    [FX_MSG_ENDPOINT_INFO] = { .name = "ENDPOINT_INFO",
        FIELDS(ID("endpoint_id", M(endpoint_info.endpoint_id)),
               NAME("name", M(endpoint_info.name)),
               U8("online", M(endpoint_info.online), 0, 1),
               U64("last_seen_us", M(endpoint_info.last_seen_us)),
               U32("managers", M(endpoint_info.managers)),
               U32("workers", M(endpoint_info.workers)),
               U32("free", M(endpoint_info.free)),
               U32("queued", M(endpoint_info.queued)),
               U32("dispatched", M(endpoint_info.dispatched)),
               BATCH("containers", M(endpoint_info.container_count), M(endpoint_info.containers),
                     s_endpoint_container)) },
};

const fx_schema_t *fx_schema_of(int type)
{
    if (type < FX_MSG_TYPE_FIRST || type > FX_MSG_TYPE_LAST)
        return NULL;
    return &s_messages[type];
}

int fx_schema_frames(const fx_schema_t *schema)
{
    int frames = 0;
    for (int i = 0; i < schema->nfields; i++)
        frames += schema->fields[i].kind == FX_FIELD_FRAME;
    return frames;
}

int fx_schema_body_fields(const fx_schema_t *schema)
{
    return schema->nfields - fx_schema_frames(schema);
}

const fx_field_t *fx_schema_batch(const fx_schema_t *schema)
{
    for (int i = 0; i < schema->nfields; i++)
        if (schema->fields[i].kind == FX_FIELD_BATCH)
            return &schema->fields[i];
    return NULL;
}

const fx_field_t *fx_schema_field(const fx_schema_t *schema, const char *name)
{
    for (int i = 0; i < schema->nfields; i++)
        if (strcmp(schema->fields[i].name, name) == 0)
            return &schema->fields[i];
    return NULL;
}
