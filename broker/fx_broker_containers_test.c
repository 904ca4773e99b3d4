/*  fx_broker_containers_test.c: containers on the real fx-broker (issue
    10; SPEC 5.5, 5.6, 5.16, 5.25, 5.33-5.36, 5.38, 12.7). One ctest entry
    per scenario, each on a fresh world:

      register     REGISTER_CONTAINER stores a container (CONTAINER_REGISTERED);
                   the same again is a no-op, other fields update it;
                   another user's id is FX_E_CONFLICT; a runtime not in the
                   SPEC's list is FX_E_BAD_FIELD naming the runtimes; an
                   empty image is refused for podman, taken for bwrap;
                   LIST what=4 shows the user's own, with the new fields
      function     REGISTER_FUNCTION's container_id is checked (unknown or
                   Bob's: FX_E_NOT_FOUND) and stored with the version: its
                   tasks' TASKS name it, after a CONTAINERS with its
                   definition; the same body under another container moves
                   the version (and its queued tasks) there
      override     a task's own container wins over its version's; an
                   unknown or Bob's container refuses the whole SUBMIT with
                   FX_E_NOT_FOUND and stores nothing
      once         CONTAINERS goes exactly once per endpoint session before
                   the first TASKS naming the container, again after the
                   container was updated, and again in a new session
      status       ENDPOINT_STATUS's per-container records come back in
                   ENDPOINT_INFO; offline, none

    Usage: fx_broker_containers_test PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"

#define S_BODY "def double(x): return 2 * x\n"

/* REGISTER_CONTAINER; returns the seq. */
static uint32_t s_container(bt_peer_t *client, const char *id, const char *name, const char *runtime,
                            const char *image, const char *description)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_CONTAINER);
    memcpy(msg->register_container.container_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_container.name, name, sizeof msg->register_container.name);
    fx_strlcpy(msg->register_container.runtime, runtime, sizeof msg->register_container.runtime);
    fx_strlcpy(msg->register_container.image, image, sizeof msg->register_container.image);
    msg->register_container.description = description ? strdup(description) : NULL;
    return bt_send(client, msg);
}

/* The same, expecting CONTAINER_REGISTERED with the id. */
static void s_container_ok(bt_peer_t *client, const char *id, const char *name, const char *runtime,
                           const char *image)
{
    uint32_t seq = s_container(client, id, name, runtime, image, NULL);
    fx_msg_t *msg = bt_expect(client, FX_MSG_CONTAINER_REGISTERED, seq);
    CHECK(msg && strcmp(msg->container_registered.container_id, id) == 0);
    fx_msg_destroy(&msg);
}

/* An ERROR with code whose text holds `text`, for seq. */
static void s_error_saying(bt_peer_t *p, uint32_t seq, int code, const char *text)
{
    fx_msg_t *msg = bt_expect(p, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == code);
    CHECK(msg && msg->error.text && strstr(msg->error.text, text));
    if (msg && msg->error.text && !strstr(msg->error.text, text))
        fprintf(stderr, "error text: %s\n", msg->error.text);
    fx_msg_destroy(&msg);
}

/* REGISTER_FUNCTION of S_BODY under id in container ("" = the host). */
static uint32_t s_function(bt_peer_t *client, const char *id, const char *body, const char *container)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "double", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    fx_strlcpy(msg->register_function.serializer, "source", sizeof msg->register_function.serializer);
    fx_strlcpy(msg->register_function.container_id, container, sizeof msg->register_function.container_id);
    msg->register_function.body = zframe_new(body, strlen(body));
    return bt_send(client, msg);
}

static void s_function_ok(bt_peer_t *client, const char *id, const char *body, const char *container)
{
    fx_msg_t *msg = bt_expect(client, FX_MSG_FUNCTION_REGISTERED, s_function(client, id, body, container));
    fx_msg_destroy(&msg);
}

/* SUBMIT n tasks of fn with their own container (override; "" = none);
   their ids into ids (may be NULL for n <= 4). Returns the seq. */
static uint32_t s_submit(bt_peer_t *client, const char *ep, const char *fn, const char *container, uint32_t n,
                         fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        fx_id_new(t->task_id);
        if (ids)
            memcpy(ids[i], t->task_id, sizeof(fx_id_text_t));
        memcpy(t->endpoint_id, ep, sizeof(fx_id_text_t));
        memcpy(t->function_id, fn, sizeof(fx_id_text_t));
        fx_strlcpy(t->container, container, sizeof t->container);
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        t->payload = zframe_new("args", 4);
    }
    return bt_send(client, msg);
}

static void s_submit_ok(bt_peer_t *client, const char *ep, const char *fn, const char *container, uint32_t n)
{
    fx_msg_t *msg = bt_expect(client, FX_MSG_SUBMITTED, s_submit(client, ep, fn, container, n, NULL));
    CHECK(msg && msg->submitted.accepted == n);
    fx_msg_destroy(&msg);
}

/* The next message on ep must be CONTAINERS with exactly one definition,
   of id with image (name and runtime given too). */
static void s_expect_def(bt_peer_t *ep, const char *id, const char *name, const char *runtime, const char *image)
{
    fx_msg_t *msg = bt_expect(ep, FX_MSG_CONTAINERS, 0);
    CHECK(msg && msg->containers.count == 1);
    if (msg && msg->containers.count == 1) {
        fx_container_def_t *d = &msg->containers.containers[0];
        CHECK(strcmp(d->container_id, id) == 0 && strcmp(d->name, name) == 0);
        CHECK(strcmp(d->runtime, runtime) == 0 && strcmp(d->image, image) == 0);
    }
    fx_msg_destroy(&msg);
}

/* The next message on ep must be TASKS of n tasks, each in container;
   their ids into ids (room for n) when not NULL. */
static void s_expect_tasks(bt_peer_t *ep, uint32_t n, const char *container, fx_id_text_t *ids)
{
    fx_msg_t *msg = bt_expect(ep, FX_MSG_TASKS, 0);
    CHECK(msg && msg->tasks.count == n);
    for (uint32_t i = 0; msg && i < msg->tasks.count && i < n; i++) {
        CHECK(strcmp(msg->tasks.tasks[i].container, container) == 0);
        if (strcmp(msg->tasks.tasks[i].container, container) != 0)
            fprintf(stderr, "task %u: container '%s', expected '%s'\n", i, msg->tasks.tasks[i].container,
                    container);
        if (ids)
            memcpy(ids[i], msg->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
    }
    fx_msg_destroy(&msg);
}

/* The endpoint returns results for ids, the client takes them. */
static void s_done(bt_world_t *w, fx_id_text_t *ids, uint32_t n)
{
    bt_return(w->endpoint, ids, n);
    bt_collect(w->alice_c, ids, n, true);
}

/* LIST what=4 of client: the LIST_REPLY. */
static fx_msg_t *s_list(bt_peer_t *client)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_CONTAINERS;
    return bt_expect(client, FX_MSG_LIST_REPLY, bt_send(client, msg));
}

static const char *s_cell(const fx_msg_t *t, uint32_t row, uint32_t col)
{
    const char *cell = t->list_reply.cells[row * t->list_reply.cols + col];
    return cell ? cell : "";
}

static void s_register(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t c1, c2, c3;
    fx_id_new(c1);
    fx_id_new(c2);
    fx_id_new(c3);
    s_container_ok(w.alice_c, c1, "py311", "podman", "docker.io/library/python:3.11");
    s_container_ok(w.alice_c, c1, "py311", "podman", "docker.io/library/python:3.11"); /* no-op */
    s_container_ok(w.alice_c, c1, "py312", "podman", "docker.io/library/python:3.12"); /* update */
    s_container_ok(w.alice_c, c2, "sandbox", "bwrap", "");                              /* host root */
    /* another user's id; a runtime not in the list; an image only bwrap may leave out */
    s_error_saying(w.bob_c, s_container(w.bob_c, c1, "mine", "docker", "x", NULL), FX_E_CONFLICT, c1);
    s_error_saying(w.alice_c, s_container(w.alice_c, c3, "odd", "lxc", "x", NULL), FX_E_BAD_FIELD,
                   "bwrap, podman, docker, apptainer or singularity");
    s_error_saying(w.alice_c, s_container(w.alice_c, c3, "odd", "none", "", NULL), FX_E_BAD_FIELD, "none");
    s_error_saying(w.alice_c, s_container(w.alice_c, c3, "noimg", "podman", "", NULL), FX_E_BAD_FIELD,
                   "needs an image");
    s_error_saying(w.alice_c, s_container(w.alice_c, c3, "", "bwrap", "", NULL), FX_E_BAD_FIELD, "name");
    s_error_saying(w.alice_c, s_container(w.alice_c, c3, "sif", "apptainer", "/x\n.sif", NULL),
                   FX_E_BAD_FIELD, "control characters");
    /* LIST: Alice's two, oldest first, with the update; Bob has none */
    fx_msg_t *t = s_list(w.alice_c);
    CHECK(t && t->list_reply.rows == 3 && t->list_reply.cols == 5);
    if (t && t->list_reply.rows == 3 && t->list_reply.cols == 5) {
        CHECK(strcmp(s_cell(t, 0, 0), "id") == 0 && strcmp(s_cell(t, 0, 2), "runtime") == 0 &&
              strcmp(s_cell(t, 0, 3), "image") == 0);
        CHECK(strcmp(s_cell(t, 1, 0), c1) == 0 && strcmp(s_cell(t, 1, 1), "py312") == 0);
        CHECK(strcmp(s_cell(t, 1, 2), "podman") == 0 && strcmp(s_cell(t, 1, 3), "docker.io/library/python:3.12") == 0);
        CHECK(strcmp(s_cell(t, 2, 0), c2) == 0 && strcmp(s_cell(t, 2, 2), "bwrap") == 0 &&
              s_cell(t, 2, 3)[0] == '\0');
    }
    fx_msg_destroy(&t);
    t = s_list(w.bob_c);
    CHECK(t && t->list_reply.rows == 1);
    fx_msg_destroy(&t);
    /* a description alone changes nothing the endpoints see, but is kept */
    uint32_t seq = s_container(w.alice_c, c2, "sandbox", "bwrap", "", "read-only host");
    fx_msg_destroy((t = bt_expect(w.alice_c, FX_MSG_CONTAINER_REGISTERED, seq), &t));
    t = s_list(w.alice_c);
    CHECK(t && t->list_reply.rows == 3 && strcmp(s_cell(t, 2, 4), "read-only host") == 0);
    fx_msg_destroy(&t);
    bt_world_teardown(&w);
}

/* Alice's containers c1 (podman) and c2 (bwrap, root c2_root), Bob's
   bobs; fresh ids for an unknown container and a function. */
static void s_cast(bt_world_t *w, fx_id_text_t c1, fx_id_text_t c2, const char *c2_root, fx_id_text_t bobs,
                   fx_id_text_t unknown, fx_id_text_t fn)
{
    fx_id_new(c1);
    fx_id_new(c2);
    fx_id_new(bobs);
    fx_id_new(unknown);
    fx_id_new(fn);
    s_container_ok(w->alice_c, c1, "py311", "podman", "docker.io/library/python:3.11");
    s_container_ok(w->alice_c, c2, "sandbox", "bwrap", c2_root);
    s_container_ok(w->bob_c, bobs, "bobs", "docker", "bob/secret");
}

static void s_function_scenario(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t c1, c2, bobs, unknown, fn;
    s_cast(&w, c1, c2, "", bobs, unknown, fn);
    s_error_saying(w.alice_c, s_function(w.alice_c, fn, S_BODY, unknown), FX_E_NOT_FOUND, unknown);
    s_error_saying(w.alice_c, s_function(w.alice_c, fn, S_BODY, bobs), FX_E_NOT_FOUND, bobs);
    s_function_ok(w.alice_c, fn, S_BODY, c1);
    s_submit_ok(w.alice_c, w.ep, fn, "", 2);
    bt_credit(w.endpoint, 10);
    s_expect_def(w.endpoint, c1, "py311", "podman", "docker.io/library/python:3.11");
    fx_id_text_t ids[4];
    s_expect_tasks(w.endpoint, 2, c1, ids);
    s_done(&w, ids, 2);
    /* the world's function (host) runs on the host: no CONTAINERS */
    s_submit_ok(w.alice_c, w.ep, w.fn, "", 1);
    s_expect_tasks(w.endpoint, 1, "", ids);
    s_done(&w, ids, 1);
    /* the same body registered in c2: the version moves there, queued tasks with it */
    bt_credit(w.endpoint, 0);
    /* the broker has the closed window before the SUBMIT on another
       connection arrives (else, on a slow run, the task goes out in c1) */
    CHECK(bt_barrier(w.endpoint));
    s_submit_ok(w.alice_c, w.ep, fn, "", 1);
    s_function_ok(w.alice_c, fn, S_BODY, c2);
    bt_credit(w.endpoint, 10);
    s_expect_def(w.endpoint, c2, "sandbox", "bwrap", "");
    s_expect_tasks(w.endpoint, 1, c2, ids);
    s_done(&w, ids, 1);
    CHECK(bt_barrier(w.endpoint));
    bt_world_teardown(&w);
}

static void s_override(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t c1, c2, bobs, unknown, fn, ids[4];
    s_cast(&w, c1, c2, "/srv/root", bobs, unknown, fn);
    s_function_ok(w.alice_c, fn, S_BODY, c1);
    /* a batch with one bad override is refused whole */
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 2);
    for (int i = 0; i < 2; i++) {
        fx_task_t *t = &msg->submit.tasks[i];
        fx_id_new(t->task_id);
        memcpy(ids[i], t->task_id, sizeof(fx_id_text_t));
        memcpy(t->endpoint_id, w.ep, sizeof(fx_id_text_t));
        memcpy(t->function_id, fn, sizeof(fx_id_text_t));
        fx_strlcpy(t->container, i ? unknown : c2, sizeof t->container);
        t->payload = zframe_new("a", 1);
    }
    s_error_saying(w.alice_c, bt_send(w.alice_c, msg), FX_E_NOT_FOUND, unknown);
    CHECK(bt_status(w.alice_c, ids[0], NULL) == FX_TASK_UNKNOWN);
    s_error_saying(w.alice_c, s_submit(w.alice_c, w.ep, fn, bobs, 1, NULL), FX_E_NOT_FOUND, bobs);
    s_error_saying(w.alice_c, s_submit(w.alice_c, w.ep, fn, "not-an-id", 1, NULL), FX_E_NOT_FOUND, "not-an-id");
    /* its own container wins; without one, the version's */
    s_submit_ok(w.alice_c, w.ep, fn, c2, 1);
    s_submit_ok(w.alice_c, w.ep, fn, "", 1);
    bt_credit(w.endpoint, 1);
    s_expect_def(w.endpoint, c2, "sandbox", "bwrap", "/srv/root");
    s_expect_tasks(w.endpoint, 1, c2, ids);
    s_done(&w, ids, 1);
    s_expect_def(w.endpoint, c1, "py311", "podman", "docker.io/library/python:3.11");
    s_expect_tasks(w.endpoint, 1, c1, ids);
    s_done(&w, ids, 1);
    CHECK(bt_barrier(w.endpoint));
    bt_world_teardown(&w);
}

static void s_once(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t c1, fn, ids[8];
    fx_id_new(c1);
    fx_id_new(fn);
    s_container_ok(w.alice_c, c1, "py311", "podman", "docker.io/library/python:3.11");
    s_function_ok(w.alice_c, fn, S_BODY, c1);
    bt_credit(w.endpoint, 1);
    /* one task at a time: CONTAINERS before the first TASKS only */
    for (int i = 0; i < 3; i++) {
        s_submit_ok(w.alice_c, w.ep, fn, "", 1);
        if (i == 0)
            s_expect_def(w.endpoint, c1, "py311", "podman", "docker.io/library/python:3.11");
        s_expect_tasks(w.endpoint, 1, c1, ids);
        s_done(&w, ids, 1);
    }
    CHECK(bt_barrier(w.endpoint));
    /* updated: the next TASKS naming it is preceded by the new definition, once */
    s_container_ok(w.alice_c, c1, "py312", "podman", "docker.io/library/python:3.12");
    for (int i = 0; i < 2; i++) {
        s_submit_ok(w.alice_c, w.ep, fn, "", 1);
        if (i == 0)
            s_expect_def(w.endpoint, c1, "py312", "podman", "docker.io/library/python:3.12");
        s_expect_tasks(w.endpoint, 1, c1, ids);
        s_done(&w, ids, 1);
    }
    /* the same fields again (a no-op) sends nothing new */
    s_container_ok(w.alice_c, c1, "py312", "podman", "docker.io/library/python:3.12");
    s_submit_ok(w.alice_c, w.ep, fn, "", 1);
    s_expect_tasks(w.endpoint, 1, c1, ids);
    s_done(&w, ids, 1);
    CHECK(bt_barrier(w.endpoint));
    /* a new session (hello again) gets the definition again */
    bt_endpoint_hello(w.endpoint, w.ep, true);
    bt_credit(w.endpoint, 4);
    s_submit_ok(w.alice_c, w.ep, fn, "", 3);
    s_expect_def(w.endpoint, c1, "py312", "podman", "docker.io/library/python:3.12");
    s_expect_tasks(w.endpoint, 3, c1, ids);
    s_done(&w, ids, 3);
    CHECK(bt_barrier(w.endpoint));
    bt_world_teardown(&w);
}

/* ENDPOINT_INFO of endpoint_id. */
static fx_msg_t *s_query(bt_peer_t *client, const char *endpoint_id)
{
    fx_msg_t *q = fx_msg_new(FX_MSG_ENDPOINT_QUERY);
    memcpy(q->endpoint_query.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    return bt_expect(client, FX_MSG_ENDPOINT_INFO, bt_send(client, q));
}

static void s_status(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t c1;
    fx_id_new(c1);
    fx_msg_t *st = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    fx_msg_alloc_records(st, 2);
    st->endpoint_status.managers = 2;
    st->endpoint_status.workers = 6;
    st->endpoint_status.free = 3;
    st->endpoint_status.containers[0] = (fx_endpoint_container_t){.managers = 2, .idle = 1, .busy = 2};
    memcpy(st->endpoint_status.containers[1].container_id, c1, sizeof c1);
    st->endpoint_status.containers[1].managers = 1;
    st->endpoint_status.containers[1].idle = 2;
    st->endpoint_status.containers[1].starting = 1;
    bt_send(w.endpoint, st);
    CHECK(bt_barrier(w.endpoint));
    fx_msg_t *msg = s_query(w.alice_c, w.ep);
    CHECK(msg && msg->endpoint_info.online == 1 && msg->endpoint_info.workers == 6);
    CHECK(msg && msg->endpoint_info.container_count == 2);
    if (msg && msg->endpoint_info.container_count == 2) {
        fx_endpoint_container_t *c = msg->endpoint_info.containers;
        CHECK(c[0].container_id[0] == '\0' && c[0].managers == 2 && c[0].idle == 1 && c[0].busy == 2);
        CHECK(strcmp(c[1].container_id, c1) == 0 && c[1].managers == 1 && c[1].idle == 2 && c[1].busy == 0 &&
              c[1].starting == 1);
    }
    fx_msg_destroy(&msg);
    /* a newer status replaces it */
    st = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    st->endpoint_status.managers = 1;
    bt_send(w.endpoint, st);
    CHECK(bt_barrier(w.endpoint));
    msg = s_query(w.alice_c, w.ep);
    CHECK(msg && msg->endpoint_info.container_count == 0 && msg->endpoint_info.managers == 1);
    fx_msg_destroy(&msg);
    bt_world_teardown(&w);
}

static const fx_scenario_t s_scenarios[] = {
    {"register", s_register, false}, {"function", s_function_scenario, false}, {"override", s_override, false},
    {"once", s_once, false},         {"status", s_status, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "fx_broker_containers_test", &count, &names);
    return bt_finish(fx_test_main("fx_broker_containers_test", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
