/*  fx_msg_test.c: the codec's self-test. Every message type round-trips;
    truncated, oversized, wrong-typed, lying and unknown-version frames are
    rejected with the right error code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_conf.h"
#include "fx_msg.h"


#include "fx_check.h"

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
        m->register_function.body = s_frame("def double(x):\n    return 2 * x\n");
        break;
    case FX_MSG_FUNCTION_REGISTERED: strcpy(m->function_registered.function_id, id); break;
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
            strcpy(t->serializer, "pickle");
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
        case FX_MSG_ENDPOINT_HELLO:
        case FX_MSG_CREDIT:
        case FX_MSG_COMMAND:
        case FX_MSG_READY:
        case FX_MSG_ENDPOINT_STATUS:
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
        case FX_MSG_MANAGER_HELLO:
            CHECK(b->manager_hello.pid == 4242 && b->manager_hello.workers == 8);
            CHECK(b->manager_hello.container_count == 2);
            CHECK(strcmp(b->manager_hello.containers[1], "tensorflow") == 0);
            CHECK(strcmp(b->manager_hello.host, "node17") == 0);
            break;
        default: break;
        }
    }
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
    /* [2, HEARTBEAT, 7, []]: unknown version, and seq still reported */
    uint8_t v2[] = { 0x94, 0x02, 0x04, 0x07, 0x90 };
    z = zmsg_new();
    zmsg_addmem(z, v2, sizeof v2);
    uint32_t seq = 0;
    CHECK(fx_msg_decode(z, &m, &seq, &detail) == FX_E_VERSION && seq == 7);
    zmsg_destroy(&z);
    /* [1, 99, 0, []]: unknown type */
    uint8_t t99[] = { 0x94, 0x01, 0x63, 0x00, 0x90 };
    CHECK(s_decode_raw(t99, sizeof t99, 0, NULL) == FX_E_UNKNOWN_TYPE);
    /* [1, HEARTBEAT, 0, []]: fine */
    uint8_t hb[] = { 0x94, 0x01, 0x04, 0x00, 0x90 };
    CHECK(s_decode_raw(hb, sizeof hb, 0, NULL) == FX_OK);
    /* trailing garbage */
    uint8_t hbx[] = { 0x94, 0x01, 0x04, 0x00, 0x90, 0x00 };
    CHECK(s_decode_raw(hbx, sizeof hbx, 0, NULL) == FX_E_MALFORMED);
    /* HEARTBEAT body with a field too many */
    uint8_t hb1[] = { 0x94, 0x01, 0x04, 0x00, 0x91, 0x00 };
    CHECK(s_decode_raw(hb1, sizeof hb1, 0, NULL) == FX_E_BAD_FIELD);
    /* CREDIT with a string window: wrong type */
    uint8_t cs[] = { 0x94, 0x01, 0x13, 0x00, 0x91, 0xa1, 'x' };
    CHECK(s_decode_raw(cs, sizeof cs, 0, &detail) == FX_E_BAD_FIELD && strcmp(detail, "window") == 0);
    /* COMMAND 9: out of range */
    uint8_t c9[] = { 0x94, 0x01, 0x15, 0x00, 0x91, 0x09 };
    CHECK(s_decode_raw(c9, sizeof c9, 0, NULL) == FX_E_BAD_FIELD);
    /* RESULTS_ACK whose array32 claims 4 billion ids: refused before any
       allocation (msgpack-c's own unpacker would ask for ~128 GiB) */
    uint8_t lie[] = { 0x94, 0x01, 0x0c, 0x00, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff };
    CHECK(s_decode_raw(lie, sizeof lie, 0, NULL) == FX_E_MALFORMED);
    /* a header claiming a 4 GiB string */
    uint8_t bigstr[] = { 0x94, 0x01, 0x13, 0x00, 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff };
    CHECK(s_decode_raw(bigstr, sizeof bigstr, 0, NULL) != FX_OK);
    /* TASKS claiming 2 tasks but carrying no frames */
    uint8_t nof[] = { 0x94, 0x01, 0x14, 0x00, 0x91, 0x92, 0x90, 0x90 };
    CHECK(s_decode_raw(nof, sizeof nof, 0, NULL) == FX_E_MALFORMED);
    /* FUNCTION_REGISTERED with a bad id, an id with a NUL, an over-long id */
    uint8_t badid[] = { 0x94, 0x01, 0x06, 0x00, 0x91, 0xa3, 'a', 'b', 'c' };
    CHECK(s_decode_raw(badid, sizeof badid, 0, &detail) == FX_E_BAD_FIELD && strcmp(detail, "function_id") == 0);
    uint8_t nul[] = { 0x94, 0x01, 0x06, 0x00, 0x91, 0xa3, 'a', 0, 'c' };
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

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0)
        return s_write_seeds(argv[2]);
    for (int type = FX_MSG_TYPE_FIRST; type <= FX_MSG_TYPE_LAST; type++) {
        s_test_round_trip(type);
        s_test_truncated(type);
    }
    s_test_bad_headers();
    s_test_limits();
    if (fx_check_failures) {
        fprintf(stderr, "fx_msg_test: %d checks failed\n", fx_check_failures);
        return 1;
    }
    printf("fx_msg_test: all checks passed\n");
    return 0;
}
