/*  fx_msg_test.c: the codec's self-test. Every message type round-trips;
    truncated, oversized, wrong-typed, lying and unknown-version frames are
    rejected with the right error code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_creds.h"
#include "fx_link.h"
#include "fx_msg.h"
#include "fx_schema.h"

#include "fx_check.h"
#include "fx_testkit.h"

#define S_OID_A "0123456789abcdef0123456789abcdef01234567"
#define S_OID_B "fedcba9876543210fedcba9876543210fedcba98"

static zframe_t *s_frame(const char *text)
{
    return zframe_new(text, strlen(text));
}

static bool s_frame_is(zframe_t *f, const char *text)
{
    return f && zframe_size(f) == strlen(text) && memcmp(zframe_data(f), text, strlen(text)) == 0;
}

/* A message of this type with every field set to something recognisable. */
static fx_msg_t *s_sample(int type)
{
    fx_msg_t *m = fx_msg_new((fx_msg_type_t) type);
    m->seq = 1000u + (uint32_t) type;
    fx_id_text_t id;
    fx_id_new(id);
    switch (type) {
    case FX_MSG_HELLO:
        strcpy(m->hello.client_id, id);
        strcpy(m->hello.client_version, "0.1.0");
        strcpy(m->hello.python_version, "3.11.2");
        break;
    case FX_MSG_WELCOME:
        strcpy(m->welcome.id, id);
        strcpy(m->welcome.server_version, "0.1.0");
        m->welcome.heartbeat_ms = 1500;
        break;
    case FX_MSG_ERROR: fx_msg_set_error(m, FX_E_FORBIDDEN, "endpoint %s is not yours", id); break;
    case FX_MSG_REGISTER_FUNCTION:
        strcpy(m->register_function.function_id, id);
        strcpy(m->register_function.name, "double");
        m->register_function.kind = FX_FN_PYTHON;
        strcpy(m->register_function.entry, "double");
        strcpy(m->register_function.serializer, "source");
        m->register_function.description = strdup("doubles");
        strcpy(m->register_function.container_id, id);
        m->register_function.body = s_frame("def double(x):\n    return 2 * x\n");
        break;
    case FX_MSG_FUNCTION_REGISTERED:
        strcpy(m->function_registered.function_id, id);
        strcpy(m->function_registered.version, S_OID_A);
        m->function_registered.number = 3;
        strcpy(m->function_registered.commit, S_OID_B);
        break;
    case FX_MSG_REGISTER_ENDPOINT: {
        fx_keypair_t kp;
        fx_keypair_new(&kp);
        strcpy(m->register_endpoint.endpoint_id, id);
        strcpy(m->register_endpoint.name, "laptop");
        strcpy(m->register_endpoint.public_key, kp.public_key);
        break;
    }
    case FX_MSG_ENDPOINT_REGISTERED: strcpy(m->endpoint_registered.endpoint_id, id); break;
    case FX_MSG_SUBMIT:
    case FX_MSG_TASKS:
        fx_msg_alloc_records(m, 3);
        for (uint32_t i = 0; i < 3; i++) {
            fx_task_t *t = &m->tasks.tasks[i];
            fx_id_new(t->task_id);
            strcpy(t->endpoint_id, type == FX_MSG_SUBMIT ? id : "");
            fx_id_new(t->function_id);
            t->kind = FX_FN_SHELL;
            strcpy(t->entry, "f");
            strcpy(t->container, i == 1 ? "tensorflow" : "");
            strcpy(t->py_version, "3.11.2");
            strcpy(t->dill_version, i == 1 ? "0.3.6" : "");
            strcpy(t->function_version, i == 0 ? "" : S_OID_A);
            strcpy(t->serializer, i == 1 ? "dill+pickle5" : "source+pickle");
            fx_stamp(t->times, FX_TIME_BROKER_RECEIVED);
            t->attempt = i;
            t->walltime_ms = 5000 * i;
            t->retries = i;
            t->body = type == FX_MSG_TASKS ? s_frame("echo {x}") : NULL;
            t->payload = s_frame(i == 2 ? "" : "args");
        }
        break;
    case FX_MSG_SUBMITTED: m->submitted.accepted = 4096; break;
    case FX_MSG_RESULTS:
        fx_msg_alloc_records(m, 2);
        for (uint32_t i = 0; i < 2; i++) {
            fx_result_t *r = &m->results.results[i];
            fx_id_new(r->task_id);
            r->status = i ? FX_RESULT_ERROR : FX_RESULT_OK;
            r->error_code = i ? FX_E_WORKER_LOST : 0;
            if (i)
                fx_result_set_text(r, "worker 42 killed by signal 9");
            r->value = s_frame(i ? "" : "value");
            r->output = s_frame("printed\n");
            strcpy(r->host, "node17");
            r->worker_pid = 4000 + i;
            strcpy(r->worker_runtime, "python 3.11.2; dill 0.3.6");
            strcpy(r->container, i ? "torch" : "");
            strcpy(r->image_digest, i ? "sha256:00ff" : "");
            fx_stamp(r->times, FX_TIME_WORKER_FINISHED);
        }
        break;
    case FX_MSG_RESULTS_ACK:
    case FX_MSG_STATUS:
    case FX_MSG_FETCH:
    case FX_MSG_CANCEL:
        fx_msg_alloc_records(m, 2);
        fx_id_new(m->ids.ids[0]);
        fx_id_new(m->ids.ids[1]);
        if (type == FX_MSG_CANCEL)
            m->cancel.queued_only = 1;
        break;
    case FX_MSG_STATUS_REPLY:
        fx_msg_alloc_records(m, 1);
        fx_id_new(m->status_reply.tasks[0].task_id);
        m->status_reply.tasks[0].state = FX_TASK_DISPATCHED;
        strcpy(m->status_reply.tasks[0].endpoint_id, id);
        m->status_reply.tasks[0].attempts = 2;
        break;
    case FX_MSG_LIST:
        m->list.what = FX_LIST_TASKS;
        m->list.limit = 50;
        strcpy(m->list.state, "worker lost");
        strcpy(m->list.endpoint_id, id);
        strcpy(m->list.function, "square");
        m->list.since_ms = 1764583200000ULL;
        m->list.before = 1ULL << 40;
        break;
    case FX_MSG_LIST_REPLY:
        fx_msg_alloc_table(m, 2, 2);
        fx_msg_set_cell(m, 0, 0, "id");
        fx_msg_set_cell(m, 0, 1, "name");
        fx_msg_set_cell(m, 1, 0, id);
        fx_msg_set_cell(m, 1, 1, "laptop");
        break;
    case FX_MSG_ENDPOINT_HELLO:
        strcpy(m->endpoint_hello.endpoint_id, id);
        strcpy(m->endpoint_hello.version, "0.1.0");
        fx_msg_alloc_records(m, 1);
        fx_id_new(m->endpoint_hello.allowed_functions[0]);
        break;
    case FX_MSG_CREDIT: m->credit.window = 12; break;
    case FX_MSG_COMMAND: m->command.command = FX_CMD_DRAIN; break;
    case FX_MSG_MANAGER_HELLO:
        strcpy(m->manager_hello.manager_id, id);
        strcpy(m->manager_hello.host, "node17");
        m->manager_hello.pid = 4242;
        m->manager_hello.workers = 8;
        strcpy(m->manager_hello.version, "0.1.0");
        fx_msg_alloc_records(m, 2);
        strcpy(m->manager_hello.containers[0], "none");
        strcpy(m->manager_hello.containers[1], "tensorflow");
        break;
    case FX_MSG_READY:
        m->ready.pid = 77;
        strcpy(m->ready.python_version, "3.11.2");
        break;
    case FX_MSG_ENDPOINT_STATUS:
        m->endpoint_status.managers = 2;
        m->endpoint_status.workers = 8;
        m->endpoint_status.free = 3;
        fx_msg_alloc_records(m, 2);
        strcpy(m->endpoint_status.containers[1].container_id, id);
        m->endpoint_status.containers[1].managers = 2;
        m->endpoint_status.containers[1].idle = 5;
        m->endpoint_status.containers[1].busy = 6;
        m->endpoint_status.containers[1].starting = 1;
        break;
    case FX_MSG_FUNCTION_FETCH:
        fx_msg_alloc_records(m, 2);
        strcpy(m->function_fetch.versions[0], S_OID_A);
        strcpy(m->function_fetch.versions[1], S_OID_B);
        break;
    case FX_MSG_FUNCTION_BODIES:
        fx_msg_alloc_records(m, 2);
        for (int i = 0; i < 2; i++) {
            fx_function_body_t *f = &m->function_bodies.functions[i];
            strcpy(f->function_id, id);
            strcpy(f->version, i ? S_OID_B : S_OID_A);
            f->kind = i ? 0 : FX_FN_PYTHON;
            strcpy(f->entry, "double");
            strcpy(f->serializer, "dill");
            strcpy(f->dill_version, "0.3.6");
            f->body = s_frame(i ? "" : "dill bytes");
        }
        break;
    case FX_MSG_FUNCTION_GET:
        strcpy(m->function_get.function_id, id);
        strcpy(m->function_get.version, S_OID_A);
        break;
    case FX_MSG_FUNCTION_INFO:
        strcpy(m->function_info.function_id, id);
        strcpy(m->function_info.name, "double");
        m->function_info.kind = FX_FN_PYTHON;
        strcpy(m->function_info.entry, "double");
        strcpy(m->function_info.version, S_OID_B);
        m->function_info.description = strdup("doubles its argument");
        fx_msg_alloc_records(m, 2);
        for (uint32_t i = 0; i < 2; i++) {
            fx_function_version_t *v = &m->function_info.versions[i];
            strcpy(v->version, i ? S_OID_B : S_OID_A);
            v->number = i + 1;
            strcpy(v->commit, i ? S_OID_A : S_OID_B);
            strcpy(v->author, "alice");
            v->created_us = UINT64_C(1764000000000000) + i;
            strcpy(v->serializer, "source");
        }
        m->function_info.body = s_frame("def double(x):\n    return 2 * x\n");
        break;
    case FX_MSG_PROVENANCE:
        fx_msg_alloc_records(m, 1);
        fx_id_new(m->ids.ids[0]);
        break;
    case FX_MSG_PROVENANCE_REPLY: {
        fx_msg_alloc_records(m, 1);
        fx_provenance_t *p = &m->provenance_reply.tasks[0];
        fx_id_new(p->task_id);
        p->state = FX_TASK_DELIVERED;
        strcpy(p->function_id, id);
        strcpy(p->function_version, S_OID_A);
        strcpy(p->commit, S_OID_B);
        strcpy(p->serializer, "dill+pickle5");
        strcpy(p->py_version, "3.11.2");
        strcpy(p->dill_version, "0.3.6");
        strcpy(p->endpoint_id, id);
        strcpy(p->host, "node17");
        p->worker_pid = 4321;
        strcpy(p->worker_runtime, "python 3.11.2; dill 0.3.6");
        p->attempt = 2;
        strcpy(p->container, "torch");
        strcpy(p->image_digest, "sha256:0123");
        for (int i = 0; i < FX_TIMES_MAX; i++)
            p->times[i] = UINT64_C(1764000000000000) + (uint64_t) i;
        break;
    }
    case FX_MSG_REGISTER_CONTAINER:
        strcpy(m->register_container.container_id, id);
        strcpy(m->register_container.name, "torch");
        strcpy(m->register_container.runtime, "apptainer");
        strcpy(m->register_container.image, "/images/torch.sif");
        m->register_container.description = strdup("PyTorch 2.1 with CUDA 12");
        break;
    case FX_MSG_CAPACITY:
        m->capacity.window = 48;
        m->capacity.cold_free = 3;
        fx_msg_alloc_records(m, 2);
        m->capacity.containers[0].idle = 4;   /* the host: container_id "" */
        strcpy(m->capacity.containers[1].container_id, id);
        m->capacity.containers[1].busy = 7;
        m->capacity.containers[1].starting = 1;
        m->capacity.containers[1].failures = 2;
        break;
    case FX_MSG_CONTAINERS:
        fx_msg_alloc_records(m, 1);
        strcpy(m->containers.containers[0].container_id, id);
        strcpy(m->containers.containers[0].name, "torch");
        strcpy(m->containers.containers[0].runtime, "podman");
        strcpy(m->containers.containers[0].image, "docker.io/pytorch/pytorch:2.1");
        break;
    case FX_MSG_CONTAINER_REGISTERED:
        strcpy(m->container_registered.container_id, id);
        break;
    case FX_MSG_ENDPOINT_QUERY:
        strcpy(m->endpoint_query.endpoint_id, id);
        break;
    case FX_MSG_ENDPOINT_INFO:
        strcpy(m->endpoint_info.endpoint_id, id);
        strcpy(m->endpoint_info.name, "cluster");
        m->endpoint_info.online = 1;
        m->endpoint_info.last_seen_us = UINT64_C(1764000000123456);
        m->endpoint_info.managers = 4;
        m->endpoint_info.workers = 64;
        m->endpoint_info.free = 10;
        m->endpoint_info.queued = 1000;
        m->endpoint_info.dispatched = 54;
        fx_msg_alloc_records(m, 1);
        m->endpoint_info.containers[0].idle = 10;
        break;
    default: break;
    }
    return m;
}

/* Encodes a fresh sample and decodes it again, field by field equal. */
static void s_test_round_trip(int type)
{
    fx_msg_t *a = s_sample(type);
    fx_msg_t *keep = s_sample(type); /* frames are moved out by encode */
    int err = -1;
    zmsg_t *z = fx_msg_encode(a, &err);
    CHECK(z && err == FX_OK);
    zmsg_t *first = z ? zmsg_dup(z) : NULL; /* to compare with the re-encoding */
    fx_msg_t *b = NULL;
    uint32_t seq = 0;
    const char *detail = NULL;
    int rc = fx_msg_decode(z, &b, &seq, &detail);
    if (rc != FX_OK)
        fprintf(stderr, "%s: decode failed: %s (%s)\n", fx_msg_type_name(type), fx_strerror(rc), detail);
    CHECK(rc == FX_OK);
    CHECK(b && b->type == (fx_msg_type_t) type && b->seq == a->seq && seq == a->seq);
    if (b) {
        switch (type) {
        case FX_MSG_HELLO:
        case FX_MSG_WELCOME:
        case FX_MSG_FUNCTION_REGISTERED:
        case FX_MSG_REGISTER_ENDPOINT:
        case FX_MSG_ENDPOINT_REGISTERED:
        case FX_MSG_SUBMITTED:
        case FX_MSG_LIST:
        case FX_MSG_CREDIT:
        case FX_MSG_COMMAND:
        case FX_MSG_READY:
        case FX_MSG_CONTAINER_REGISTERED:
        case FX_MSG_ENDPOINT_QUERY:
            /* scalar-only messages: the union bytes must match */
            CHECK(memcmp(&a->hello, &b->hello, sizeof a->hello) == 0);
            CHECK(memcmp(&a->welcome, &b->welcome, sizeof a->welcome) == 0);
            CHECK(memcmp(&a->register_endpoint, &b->register_endpoint, sizeof a->register_endpoint) == 0);
            break;
        case FX_MSG_ERROR:
            CHECK(b->error.code == FX_E_FORBIDDEN && strcmp(a->error.text, b->error.text) == 0);
            break;
        case FX_MSG_REGISTER_FUNCTION:
            CHECK(strcmp(b->register_function.function_id, a->register_function.function_id) == 0);
            CHECK(strcmp(b->register_function.name, "double") == 0);
            CHECK(b->register_function.kind == FX_FN_PYTHON);
            CHECK(s_frame_is(b->register_function.body, "def double(x):\n    return 2 * x\n"));
            break;
        case FX_MSG_SUBMIT:
        case FX_MSG_TASKS:
            CHECK(b->tasks.count == 3);
            for (uint32_t i = 0; i < 3 && b->tasks.count == 3; i++) {
                fx_task_t *x = &a->tasks.tasks[i], *y = &b->tasks.tasks[i];
                CHECK(strcmp(x->task_id, y->task_id) == 0);
                CHECK(strcmp(x->endpoint_id, y->endpoint_id) == 0);
                CHECK(strcmp(x->function_id, y->function_id) == 0);
                CHECK(x->kind == y->kind && x->attempt == y->attempt && x->walltime_ms == y->walltime_ms);
                CHECK(x->retries == y->retries);
                CHECK(strcmp(x->container, y->container) == 0 && strcmp(x->serializer, y->serializer) == 0);
                CHECK(s_frame_is(y->payload, i == 2 ? "" : "args"));
                CHECK(s_frame_is(y->body, type == FX_MSG_TASKS ? "echo {x}" : ""));
            }
            break;
        case FX_MSG_RESULTS:
            CHECK(b->results.count == 2);
            CHECK(b->results.results[0].status == FX_RESULT_OK);
            CHECK(b->results.results[0].error_text == NULL);
            CHECK(s_frame_is(b->results.results[0].value, "value"));
            CHECK(b->results.results[1].error_code == FX_E_WORKER_LOST);
            CHECK(strcmp(b->results.results[1].error_text, "worker 42 killed by signal 9") == 0);
            CHECK(s_frame_is(b->results.results[1].output, "printed\n"));
            break;
        case FX_MSG_RESULTS_ACK:
        case FX_MSG_STATUS:
        case FX_MSG_FETCH:
        case FX_MSG_CANCEL:
            CHECK(b->ids.count == 2 && strcmp(b->ids.ids[1], a->ids.ids[1]) == 0);
            CHECK(type != FX_MSG_CANCEL || b->cancel.queued_only == 1);
            break;
        case FX_MSG_STATUS_REPLY:
            CHECK(b->status_reply.count == 1);
            CHECK(memcmp(b->status_reply.tasks, a->status_reply.tasks, sizeof(fx_task_status_t)) == 0);
            break;
        case FX_MSG_LIST_REPLY:
            CHECK(b->list_reply.rows == 2 && b->list_reply.cols == 2);
            CHECK(strcmp(b->list_reply.cells[3], "laptop") == 0);
            break;
        case FX_MSG_ENDPOINT_STATUS:
            CHECK(b->endpoint_status.managers == 2 && b->endpoint_status.free == 3);
            CHECK(b->endpoint_status.container_count == 2 && b->endpoint_status.containers[0].container_id[0] == 0);
            CHECK(b->endpoint_status.containers[1].idle == 5 && b->endpoint_status.containers[1].starting == 1);
            break;
        case FX_MSG_CAPACITY:
            CHECK(b->capacity.window == 48 && b->capacity.cold_free == 3 && b->capacity.count == 2);
            CHECK(b->capacity.containers[0].idle == 4 && b->capacity.containers[1].failures == 2);
            CHECK(strcmp(b->capacity.containers[1].container_id, a->capacity.containers[1].container_id) == 0);
            break;
        case FX_MSG_ENDPOINT_INFO:
            CHECK(b->endpoint_info.online == 1 && b->endpoint_info.last_seen_us == UINT64_C(1764000000123456));
            CHECK(b->endpoint_info.queued == 1000 && b->endpoint_info.dispatched == 54);
            CHECK(b->endpoint_info.container_count == 1 && b->endpoint_info.containers[0].idle == 10);
            break;
        case FX_MSG_CONTAINERS:
            CHECK(b->containers.count == 1 && strcmp(b->containers.containers[0].runtime, "podman") == 0);
            CHECK(strcmp(b->containers.containers[0].image, "docker.io/pytorch/pytorch:2.1") == 0);
            break;
        case FX_MSG_REGISTER_CONTAINER:
            CHECK(strcmp(b->register_container.image, "/images/torch.sif") == 0);
            CHECK(strcmp(b->register_container.description, "PyTorch 2.1 with CUDA 12") == 0);
            break;
        case FX_MSG_MANAGER_HELLO:
            CHECK(b->manager_hello.pid == 4242 && b->manager_hello.workers == 8);
            CHECK(b->manager_hello.container_count == 2);
            CHECK(strcmp(b->manager_hello.containers[1], "tensorflow") == 0);
            CHECK(strcmp(b->manager_hello.host, "node17") == 0);
            break;
        default: break;
        }
    }
    /* whatever the type: decoding and encoding again gives the same bytes */
    if (b) {
        zmsg_t *again = fx_msg_encode(b, NULL);
        CHECK(first && again && zmsg_size(first) == zmsg_size(again), "%s: frame counts differ",
              fx_msg_type_name(type));
        for (zframe_t *x = first ? zmsg_first(first) : NULL, *y = again ? zmsg_first(again) : NULL; x && y;
             x = zmsg_next(first), y = zmsg_next(again))
            CHECK(zframe_eq(x, y), "%s: a frame differs after a round trip", fx_msg_type_name(type));
        zmsg_destroy(&again);
    }
    zmsg_destroy(&first);
    fx_msg_destroy(&a);
    fx_msg_destroy(&keep);
    fx_msg_destroy(&b);
    zmsg_destroy(&z);
}

/* Decodes a zmsg made of one raw header and n empty payload frames. */
static int s_decode_raw(const uint8_t *bytes, size_t len, int frames, const char **detail)
{
    zmsg_t *z = zmsg_new();
    zmsg_addmem(z, bytes, len);
    for (int i = 0; i < frames; i++)
        zmsg_addmem(z, "", 0);
    fx_msg_t *m = NULL;
    uint32_t seq;
    const char *d = NULL;
    int rc = fx_msg_decode(z, &m, &seq, &d);
    if (detail)
        *detail = d;
    CHECK((rc == FX_OK) == (m != NULL));
    fx_msg_destroy(&m);
    zmsg_destroy(&z);
    return rc;
}

/* Every strict prefix of every valid message is rejected, never a crash. */
static void s_test_truncated(int type)
{
    fx_msg_t *a = s_sample(type);
    zmsg_t *z = fx_msg_encode(a, NULL);
    fx_msg_destroy(&a);
    zframe_t *h = zmsg_pop(z);
    int frames = (int) zmsg_size(z);
    for (size_t cut = 0; cut < zframe_size(h); cut++) {
        int rc = s_decode_raw(zframe_data(h), cut, frames, NULL);
        CHECK(rc == FX_E_MALFORMED || rc == FX_E_BAD_FIELD);
    }
    /* the right header with one payload frame too few or too many */
    if (frames > 0)
        CHECK(s_decode_raw(zframe_data(h), zframe_size(h), frames - 1, NULL) == FX_E_MALFORMED);
    CHECK(s_decode_raw(zframe_data(h), zframe_size(h), frames + 1, NULL) == FX_E_MALFORMED);
    zframe_destroy(&h);
    zmsg_destroy(&z);
}

static void s_test_bad_headers(void)
{
    const char *detail;
    /* not msgpack at all */
    CHECK(s_decode_raw((const uint8_t *) "hello", 5, 0, NULL) != FX_OK);
    /* no header frame */
    zmsg_t *z = zmsg_new();
    fx_msg_t *m = NULL;
    CHECK(fx_msg_decode(z, &m, NULL, NULL) == FX_E_MALFORMED && !m);
    zmsg_destroy(&z);
    /* [next version, HEARTBEAT, 7, []]: unknown version, and seq still reported */
    uint8_t v2[] = { 0x94, FX_PROTO_VERSION + 1, 0x04, 0x07, 0x90 };
    z = zmsg_new();
    zmsg_addmem(z, v2, sizeof v2);
    uint32_t seq = 0;
    CHECK(fx_msg_decode(z, &m, &seq, &detail) == FX_E_VERSION && seq == 7);
    /* SPEC 11.2: what is said back names both versions */
    char v_theirs[32], v_ours[32];
    snprintf(v_theirs, sizeof v_theirs, "version %d", FX_PROTO_VERSION + 1);
    snprintf(v_ours, sizeof v_ours, "version %d", FX_PROTO_VERSION);
    CHECK(strstr(detail, v_theirs) && strstr(detail, v_ours), "version detail: %s", detail);
    zmsg_destroy(&z);
    /* [version, 99, 0, []]: unknown type */
    uint8_t t99[] = { 0x94, FX_PROTO_VERSION, 0x63, 0x00, 0x90 };
    CHECK(s_decode_raw(t99, sizeof t99, 0, NULL) == FX_E_UNKNOWN_TYPE);
    /* [version, HEARTBEAT, 0, []]: fine */
    uint8_t hb[] = { 0x94, FX_PROTO_VERSION, 0x04, 0x00, 0x90 };
    CHECK(s_decode_raw(hb, sizeof hb, 0, NULL) == FX_OK);
    /* trailing garbage */
    uint8_t hbx[] = { 0x94, FX_PROTO_VERSION, 0x04, 0x00, 0x90, 0x00 };
    CHECK(s_decode_raw(hbx, sizeof hbx, 0, NULL) == FX_E_MALFORMED);
    /* HEARTBEAT body with a field too many */
    uint8_t hb1[] = { 0x94, FX_PROTO_VERSION, 0x04, 0x00, 0x91, 0x00 };
    CHECK(s_decode_raw(hb1, sizeof hb1, 0, NULL) == FX_E_BAD_FIELD);
    /* CREDIT with a string window: wrong type */
    uint8_t cs[] = { 0x94, FX_PROTO_VERSION, 0x13, 0x00, 0x91, 0xa1, 'x' };
    CHECK(s_decode_raw(cs, sizeof cs, 0, &detail) == FX_E_BAD_FIELD && strcmp(detail, "window") == 0);
    /* COMMAND 9: out of range */
    uint8_t c9[] = { 0x94, FX_PROTO_VERSION, 0x15, 0x00, 0x91, 0x09 };
    CHECK(s_decode_raw(c9, sizeof c9, 0, NULL) == FX_E_BAD_FIELD);
    /* RESULTS_ACK whose array32 claims 4 billion ids: refused before any
       allocation (msgpack-c's own unpacker would ask for ~128 GiB) */
    uint8_t lie[] = { 0x94, FX_PROTO_VERSION, 0x0c, 0x00, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff };
    CHECK(s_decode_raw(lie, sizeof lie, 0, NULL) == FX_E_MALFORMED);
    /* a header claiming a 4 GiB string */
    uint8_t bigstr[] = { 0x94, FX_PROTO_VERSION, 0x13, 0x00, 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff };
    CHECK(s_decode_raw(bigstr, sizeof bigstr, 0, NULL) != FX_OK);
    /* TASKS claiming 2 tasks but carrying no frames */
    uint8_t nof[] = { 0x94, FX_PROTO_VERSION, 0x14, 0x00, 0x91, 0x92, 0x90, 0x90 };
    CHECK(s_decode_raw(nof, sizeof nof, 0, NULL) == FX_E_MALFORMED);
    /* ENDPOINT_REGISTERED with a bad id, an id with a NUL, an over-long id */
    uint8_t badid[] = { 0x94, FX_PROTO_VERSION, 0x08, 0x00, 0x91, 0xa3, 'a', 'b', 'c' };
    CHECK(s_decode_raw(badid, sizeof badid, 0, &detail) == FX_E_BAD_FIELD && strcmp(detail, "endpoint_id") == 0);
    uint8_t nul[] = { 0x94, FX_PROTO_VERSION, 0x08, 0x00, 0x91, 0xa3, 'a', 0, 'c' };
    CHECK(s_decode_raw(nul, sizeof nul, 0, NULL) == FX_E_BAD_FIELD);
    /* a header frame over FX_HEADER_MAX */
    size_t big = FX_HEADER_MAX + 1;
    uint8_t *huge = calloc(1, big);
    huge[0] = 0x94;
    CHECK(s_decode_raw(huge, big, 0, NULL) == FX_E_TOO_LARGE);
    free(huge);
}

static void s_test_limits(void)
{
    /* a batch over FX_BATCH_MAX cannot be built or encoded */
    fx_msg_t *m = fx_msg_new(FX_MSG_SUBMIT);
    CHECK(fx_msg_alloc_records(m, FX_BATCH_MAX + 1) == FX_E_TOO_LARGE);
    fx_msg_destroy(&m);
    /* a payload over FX_PAYLOAD_MAX is refused by the encoder */
    m = s_sample(FX_MSG_SUBMIT);
    zframe_destroy(&m->tasks.tasks[0].payload);
    m->tasks.tasks[0].payload = zframe_new(NULL, FX_PAYLOAD_MAX + 1);
    int err = 0;
    zmsg_t *z = fx_msg_encode(m, &err);
    CHECK(!z && err == FX_E_TOO_LARGE);
    fx_msg_destroy(&m);
    /* and by the decoder: a valid header with an oversized payload frame */
    m = s_sample(FX_MSG_TASKS);
    z = fx_msg_encode(m, NULL);
    fx_msg_destroy(&m);
    zframe_t *last = zmsg_last(z);
    zmsg_remove(z, last);
    zframe_destroy(&last);
    zmsg_addmem(z, NULL, 0);
    last = zmsg_last(z);
    zmsg_remove(z, last);
    zframe_destroy(&last);
    zframe_t *fat = zframe_new(NULL, FX_PAYLOAD_MAX + 1);
    zmsg_append(z, &fat);
    const char *detail;
    uint32_t seq;
    CHECK(fx_msg_decode(z, &m, &seq, &detail) == FX_E_TOO_LARGE && !m);
    zmsg_destroy(&z);
    /* ids and errors */
    fx_id_text_t id;
    fx_id_new(id);
    CHECK(fx_id_valid(id));
    CHECK(!fx_id_valid("00000000-0000-0000-0000-00000000000G"));
    CHECK(!fx_id_valid("00000000-0000-0000-0000-0000000000000"));
    CHECK(strcmp(fx_errname(FX_E_WORKER_LOST), "FX_E_WORKER_LOST") == 0);
    CHECK(strcmp(fx_strerror(9999), "unknown error code") == 0);
}

/* Writes every sample message as a fuzz seed: DIR/<TYPE>, in the fuzz
   targets' frame format ([u16 little-endian length][bytes] per frame). */
static int s_write_seeds(const char *dir)
{
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        fx_msg_t *m = s_sample(type);
        zmsg_t *z = fx_msg_encode(m, NULL);
        fx_msg_destroy(&m);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, fx_msg_type_name(type));
        FILE *f = fopen(path, "wb");
        if (!f) {
            perror(path);
            return 1;
        }
        for (zframe_t *fr = zmsg_first(z); fr; fr = zmsg_next(z)) {
            size_t n = zframe_size(fr) > 0xffff ? 0xffff : zframe_size(fr);
            fputc((int) (n & 0xff), f);
            fputc((int) (n >> 8), f);
            fwrite(zframe_data(fr), 1, n, f);
        }
        fclose(f);
        zmsg_destroy(&z);
    }
    return 0;
}

static void scenario_round_trip(void *ctx)
{
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++)
        s_test_round_trip(type);
}

static void scenario_truncated(void *ctx)
{
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++)
        s_test_truncated(type);
}

static void scenario_bad_headers(void *ctx)
{
    s_test_bad_headers();
}

static void scenario_limits(void *ctx)
{
    s_test_limits();
}

/* Every type has a schema named as fx_msg_type_name says, with distinct
   field names, and a batch only where fx_msg_alloc_records works. */
static void scenario_schema_shape(void *ctx)
{
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        const fx_schema_t *schema = fx_schema_of(type);
        REQUIRE(schema, "type %d has no schema", type);
        CHECK(strcmp(schema->name, fx_msg_type_name(type)) == 0);
        for (int i = 0; i < schema->nfields; i++)
            for (int j = i + 1; j < schema->nfields; j++)
                CHECK(strcmp(schema->fields[i].name, schema->fields[j].name) != 0, "%s: %s twice", schema->name,
                      schema->fields[i].name);
        fx_msg_t *m = fx_msg_new((fx_msg_type_t) type);
        int rc = fx_msg_alloc_records(m, 2);
        CHECK((rc == FX_OK) == (fx_schema_batch(schema) != NULL), "%s: alloc_records %s", schema->name,
              fx_strerror(rc));
        fx_msg_destroy(&m);
    }
    CHECK(fx_schema_of(0) == NULL && fx_schema_of(FX_MSG_TYPE_LAST + 1) == NULL);
    CHECK(strcmp(fx_msg_type_name(999), "?") == 0);
done:;
}

/* ------------------------------------------------ the SPEC's field tables */

/* True if line opens a record's description ("Task record", "#### Result
   record (...)", "Function body record: 6 fields"): a message's own table
   ends there. */
static bool s_record_heading(const char *line)
{
    while (*line == '#' || *line == ' ')
        line++;
    if (*line < 'A' || *line > 'Z')
        return false;
    /* only words of letters before " record", then ':' or " (" */
    const char *p = line;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p == ' ' && strncmp(p, " record", 7) != 0))
        p++;
    return strncmp(p, " record:", 8) == 0 || strncmp(p, " record (", 9) == 0;
}

/* The field names of the table that follows `heading` in the SPEC (rows
   "| N | name | ..."), space-separated in wire order, then the names of its
   frame table if it has one; up to the next heading or record description.
   A description without a table ("1 field `name`") gives that name. */
static void s_spec_fields(const char *spec, const char *heading, char *out, size_t cap)
{
    out[0] = '\0';
    const char *at = strstr(spec, heading);
    if (!at)
        return;
    const char *first = strchr(at, '\n');
    const char *end = strstr(at, "\n#");
    if (!end)
        end = at + strlen(at);
    size_t len = 0;
    bool frames = false;
    for (const char *line = first ? first + 1 : NULL; line && line < end;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char name[128];
        int number;
        if (s_record_heading(line))
            break;
        if (sscanf(line, "| %d | %127[a-z_] |", &number, name) == 2)
            len += (size_t) snprintf(out + len, cap - len, "%s%s", len ? " " : "", name);
        else if (strncmp(line, "| frame |", 9) == 0)
            frames = true;
        else if (frames && sscanf(line, "| %127[a-z_] |", name) == 1)
            len += (size_t) snprintf(out + len, cap - len, "%s%s", len ? " " : "", name);
        else if (line[0] != '|')
            frames = false; /* a frame table ends at the first line that is not a row */
        if (len >= cap)
            break;
    }
    const char *one = strstr(at, "1 field `");
    const char *nl = strchr(at, '\n');
    if (!out[0] && one && nl && one < nl)
        sscanf(one, "1 field `%127[a-z_]", out);
}

/* The same, from the schema: body fields then frames. */
static void s_schema_fields(const fx_schema_t *schema, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < schema->nfields; i++)
            if ((schema->fields[i].kind == FX_FIELD_FRAME) == (pass == 1))
                len += (size_t) snprintf(out + len, cap - len, "%s%s", len ? " " : "", schema->fields[i].name);
}

/* The record description of the SPEC for a record schema named `name`
   ("function body" -> "Function body record"). */
static void s_check_record(const char *spec, const fx_schema_t *record)
{
    char heading[160], want[1024], got[1024];
    snprintf(heading, sizeof heading, "\n%c%s record", record->name[0] - 'a' + 'A', record->name + 1);
    const char *at = strstr(spec, heading);
    if (!at) {
        snprintf(heading, sizeof heading, "#### %c%s record", record->name[0] - 'a' + 'A', record->name + 1);
        at = strstr(spec, heading);
    }
    CHECK(at, "SPEC.md does not describe the %s record", record->name);
    if (!at)
        return;
    s_spec_fields(at, heading[0] == '\n' ? heading + 1 : heading, want, sizeof want);
    s_schema_fields(record, got, sizeof got);
    CHECK(strcmp(want, got) == 0, "%s record: SPEC lists [%s], the schema [%s]", record->name, want, got);
}

/* The schema and SPEC.md section 5 list the same fields in the same order,
   so the spec and the code cannot drift apart. */
static void scenario_schema_matches_spec(void *ctx)
{
    char *spec = NULL;
    size_t len = 0;
    FILE *f = fopen(FX_SPEC_PATH, "r");
    REQUIRE(f, "cannot open %s", FX_SPEC_PATH);
    spec = calloc(1, 1 << 20);
    len = fread(spec, 1, (1 << 20) - 1, f);
    fclose(f);
    REQUIRE(len > 0);
    char heading[128], want[1024], got[1024];
    const fx_schema_t *records[32];
    int nrecords = 0;
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        const fx_schema_t *schema = fx_schema_of(type);
        snprintf(heading, sizeof heading, " %s (%d)\n", schema->name, type);
        REQUIRE(strstr(spec, heading), "SPEC.md has no section for %s", schema->name);
        s_spec_fields(spec, heading, want, sizeof want);
        if (!want[0]) {
            /* a one-field section says "Body: `[name]`" instead of a table */
            const char *section = strstr(spec, heading), *next = strstr(section + 1, "\n### ");
            const char *body = strstr(section, "Body: `[");
            if (body && (!next || body < next))
                sscanf(body, "Body: `[%127[a-z_]", want);
        }
        if (schema->nfields == 0) {
            CHECK(strstr(strstr(spec, heading), "Body: `[]`") != NULL, "%s: SPEC does not say the body is empty",
                  schema->name);
            continue;
        }
        s_schema_fields(schema, got, sizeof got);
        CHECK(strcmp(want, got) == 0, "%s: SPEC lists [%s], the schema [%s]", schema->name, want, got);
        for (int i = 0; i < schema->nfields; i++) {
            const fx_schema_t *rec = schema->fields[i].record;
            bool known = false;
            for (int j = 0; rec && j < nrecords; j++)
                known |= records[j] == rec;
            if (rec && !known && nrecords < 32)
                records[nrecords++] = rec;
        }
    }
    for (int i = 0; i < nrecords; i++)
        s_check_record(spec, records[i]);
done:
    free(spec);
}

/* ----------------------------------------------------- the arrival table */

static void scenario_link_admit(void *ctx)
{
    /* the broker's client port */
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, false, FX_MSG_HELLO) == FX_ADMIT_HELLO);
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, false, FX_MSG_SUBMIT) == FX_ADMIT_NO_SESSION);
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, true, FX_MSG_SUBMIT) == FX_ADMIT_OK);
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, true, FX_MSG_TASKS) == FX_ADMIT_UNEXPECTED);
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, false, FX_MSG_TASKS) == FX_ADMIT_UNEXPECTED,
          "an unexpected type is refused as such even without a session");
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, false, FX_MSG_ERROR) == FX_ADMIT_REPORT);
    CHECK(fx_link_admit(FX_LINK_CLIENT, FX_FROM_CONNECTING, false, FX_MSG_HEARTBEAT) == FX_ADMIT_NO_SESSION,
          "a beat from a peer the server does not know tells it the server restarted");
    /* the endpoint port */
    CHECK(fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_CONNECTING, false, FX_MSG_ENDPOINT_HELLO) == FX_ADMIT_HELLO);
    CHECK(fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_CONNECTING, true, FX_MSG_HELLO) == FX_ADMIT_UNEXPECTED);
    CHECK(fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_CONNECTING, true, FX_MSG_RESULTS) == FX_ADMIT_OK);
    CHECK(fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_SERVING, false, FX_MSG_WELCOME) == FX_ADMIT_HELLO);
    CHECK(fx_link_admit(FX_LINK_ENDPOINT, FX_FROM_SERVING, false, FX_MSG_TASKS) == FX_ADMIT_NO_SESSION);
    /* the manager link: acks of an earlier session count in any state */
    CHECK(fx_link_admit(FX_LINK_MANAGER, FX_FROM_SERVING, false, FX_MSG_RESULTS_ACK) == FX_ADMIT_OK);
    CHECK(fx_link_admit(FX_LINK_MANAGER, FX_FROM_SERVING, false, FX_MSG_HEARTBEAT) == FX_ADMIT_OK);
    CHECK(fx_link_admit(FX_LINK_MANAGER, FX_FROM_CONNECTING, true, FX_MSG_RESULTS_ACK) == FX_ADMIT_UNEXPECTED);
    /* the worker link */
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_CONNECTING, false, FX_MSG_READY) == FX_ADMIT_HELLO);
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_CONNECTING, false, FX_MSG_RESULTS) == FX_ADMIT_NO_SESSION);
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_CONNECTING, true, FX_MSG_HEARTBEAT) == FX_ADMIT_UNEXPECTED);
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_SERVING, true, FX_MSG_CANCEL) == FX_ADMIT_UNEXPECTED);
    /* out of range */
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_SERVING, true, 0) == FX_ADMIT_UNEXPECTED);
    CHECK(fx_link_admit(FX_LINK_WORKER, FX_FROM_SERVING, true, 63) == FX_ADMIT_UNEXPECTED);
    CHECK(!fx_link_sends(FX_LINK_COUNT, FX_FROM_SERVING, FX_MSG_HELLO));
    /* every type is sent by someone, and every link's hello by its connecting side */
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        bool someone = false;
        for (int link = 0; link < FX_LINK_COUNT; link++)
            someone |= fx_link_sends((fx_link_t) link, FX_FROM_CONNECTING, type) ||
                        fx_link_sends((fx_link_t) link, FX_FROM_SERVING, type);
        CHECK(someone, "%s travels on no link", fx_msg_type_name(type));
    }
    for (int link = 0; link < FX_LINK_COUNT; link++)
        CHECK(fx_link_sends((fx_link_t) link, FX_FROM_CONNECTING, fx_link_hello((fx_link_t) link)) &&
              fx_link_sends((fx_link_t) link, FX_FROM_SERVING, FX_MSG_WELCOME));
    /* the refusal sentences name the type and what to do */
    char text[512];
    fx_link_refusal(FX_LINK_MANAGER, FX_FROM_CONNECTING, FX_ADMIT_NO_SESSION, FX_MSG_CREDIT, text, sizeof text);
    CHECK(strstr(text, "CREDIT") && strstr(text, "send MANAGER_HELLO"), "%s", text);
    fx_link_refusal(FX_LINK_CLIENT, FX_FROM_CONNECTING, FX_ADMIT_UNEXPECTED, FX_MSG_TASKS, text, sizeof text);
    CHECK(strstr(text, "TASKS is not a message a client sends to the broker"), "%s", text);
    CHECK(fx_link_refusal_code(FX_ADMIT_NO_SESSION) == FX_E_NO_SESSION &&
          fx_link_refusal_code(FX_ADMIT_UNEXPECTED) == FX_E_UNEXPECTED && fx_link_refusal_code(FX_ADMIT_OK) == FX_OK);
}

/* A request turned into its error reply frees what the request held. */
static void scenario_error_reuse(void *ctx)
{
    fx_msg_t *m = s_sample(FX_MSG_SUBMIT);
    CHECK(fx_msg_set_error(m, FX_E_IO, "disk full") == FX_OK);
    CHECK(m->type == FX_MSG_ERROR && m->error.code == FX_E_IO && strcmp(m->error.text, "disk full") == 0);
    zmsg_t *z = fx_msg_encode(m, NULL);
    CHECK(z != NULL);
    zmsg_destroy(&z);
    fx_msg_destroy(&m);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        return s_write_seeds(argv[2]);
    static const fx_scenario_t scenarios[] = {
        { "round_trip", scenario_round_trip, false },
        { "truncated", scenario_truncated, false },
        { "bad_headers", scenario_bad_headers, false },
        { "limits", scenario_limits, false },
        { "schema_shape", scenario_schema_shape, false },
        { "schema_matches_spec", scenario_schema_matches_spec, false },
        { "link_admit", scenario_link_admit, false },
        { "error_reuse", scenario_error_reuse, false },
    };
    return fx_test_main("fx_msg_test", argc - 1, argv + 1, scenarios, sizeof scenarios / sizeof scenarios[0], NULL);
}
