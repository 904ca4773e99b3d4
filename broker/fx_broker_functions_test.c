/*  fx_broker_functions_test.c: function versions, bodies and provenance
    on the real fx-broker (issue 8; SPEC 5.5, 5.6, 5.9, 5.18, 5.27-5.32,
    8.12, 12.6). One ctest entry per scenario, each on a fresh world:

      versions      a second body adds version 2 (its own blob and commit);
                    the same body again is a no-op; another kind or another
                    user's id is FX_E_CONFLICT; FUNCTION_GET gives the
                    history oldest first and either version's body
      pinning       SUBMIT pins to the newest version, or to the one it
                    names (an older one: its own body runs); an unknown
                    version is FX_E_NOT_FOUND; TASKS carry function_version
      fetch         FUNCTION_FETCH answers only versions of tasks dispatched
                    to that endpoint (another user's version: kind 0, no
                    body); before an endpoint fetched, TASKS carry bodies,
                    after it they are empty
      missing_blob  a version row whose blob is gone from the registry is
                    reported at start and refused at SUBMIT; the other
                    version still serves
      provenance    a result's host, worker pid and runtime, container,
                    image digest, attempt and stamps come back in
                    PROVENANCE_REPLY with the function version and commit;
                    an unknown task reads UNKNOWN
      allowed       after ENDPOINT_HELLO with allowed_functions, SUBMIT of
                    another function to it is FX_E_FORBIDDEN naming both;
                    an empty list allows any again

    Usage: fx_broker_functions_test PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"

#define S_BODY1 "def double(x): return 2 * x\n"
#define S_BODY2 "def double(x): return x + x\n"

/* REGISTER_FUNCTION of body under id (kind python, entry double); the
   FUNCTION_REGISTERED reply into *out. True if it came. */
static bool s_register(bt_peer_t *client, const char *id, const char *body, fx_msg_t **out)
{
    uint32_t seq = bt_register_function(client, id, body);
    *out = bt_expect(client, FX_MSG_FUNCTION_REGISTERED, seq);
    return *out != NULL;
}

/* w->fn's second version (S_BODY2); its version id into v2 and v1's into v1. */
static void s_two_versions(bt_world_t *w, fx_oid_text_t v1, fx_oid_text_t v2)
{
    fx_msg_t *msg = NULL;
    CHECK(s_register(w->alice_c, w->fn, S_BODY1, &msg)); /* the world's: a no-op */
    if (msg)
        memcpy(v1, msg->function_registered.version, sizeof(fx_oid_text_t));
    fx_msg_destroy(&msg);
    CHECK(s_register(w->alice_c, w->fn, S_BODY2, &msg));
    if (msg)
        memcpy(v2, msg->function_registered.version, sizeof(fx_oid_text_t));
    fx_msg_destroy(&msg);
}

/* SUBMIT one task of function fn pinned to version ("" = the newest). */
static uint32_t s_submit_pinned(bt_peer_t *client, const char *ep, const char *fn, const char *version,
                                fx_id_text_t id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_SUBMIT);
    fx_msg_alloc_records(msg, 1);
    fx_task_t *t = &msg->submit.tasks[0];
    fx_id_new(id);
    memcpy(t->task_id, id, sizeof(fx_id_text_t));
    memcpy(t->endpoint_id, ep, sizeof(fx_id_text_t));
    memcpy(t->function_id, fn, sizeof(fx_id_text_t));
    fx_strlcpy(t->function_version, version, sizeof t->function_version);
    fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
    fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
    t->payload = zframe_new("args", 4);
    return bt_send(client, msg);
}

/* The next TASKS on ep (one task): its version and body into the buffers. */
static bool s_one_task(bt_peer_t *ep, fx_id_text_t id, fx_oid_text_t version, char *body, size_t cap)
{
    fx_msg_t *msg = bt_expect(ep, FX_MSG_TASKS, 0);
    bool ok = msg && msg->tasks.count == 1;
    CHECK(ok);
    if (ok) {
        fx_task_t *t = &msg->tasks.tasks[0];
        memcpy(id, t->task_id, sizeof(fx_id_text_t));
        memcpy(version, t->function_version, sizeof(fx_oid_text_t));
        size_t len = t->body ? zframe_size(t->body) : 0;
        snprintf(body, cap, "%.*s", (int) len, t->body ? (const char *) zframe_data(t->body) : "");
    }
    fx_msg_destroy(&msg);
    return ok;
}

/* FUNCTION_GET of fn at version; the FUNCTION_INFO, or NULL after the
   ERROR expected_error (0: none expected). */
static fx_msg_t *s_get(bt_peer_t *client, const char *fn, const char *version, int expected_error)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_FUNCTION_GET);
    memcpy(msg->function_get.function_id, fn, sizeof(fx_id_text_t));
    fx_strlcpy(msg->function_get.version, version, sizeof msg->function_get.version);
    uint32_t seq = bt_send(client, msg);
    if (expected_error) {
        bt_expect_error(client, expected_error, seq);
        return NULL;
    }
    return bt_expect(client, FX_MSG_FUNCTION_INFO, seq);
}

static void s_versions(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_msg_t *first = NULL, *second = NULL, *again = NULL, *info = NULL;
    CHECK(s_register(w.alice_c, w.fn, S_BODY1, &first));
    CHECK(s_register(w.alice_c, w.fn, S_BODY2, &second));
    CHECK(s_register(w.alice_c, w.fn, S_BODY2, &again));
    if (first && second && again) {
#define a (&first->function_registered)
#define b (&second->function_registered)
        CHECK(a->number == 1 && b->number == 2);
        CHECK(strlen(a->version) == FX_OID_LEN && strlen(b->version) == FX_OID_LEN);
        CHECK(strcmp(a->version, b->version) != 0 && strcmp(a->commit, b->commit) != 0);
        CHECK(again->function_registered.number == 2 &&
              strcmp(again->function_registered.version, b->version) == 0);
        /* the history, oldest first; the newest's body by default, an older one's when named */
        info = s_get(w.alice_c, w.fn, "", 0);
        CHECK(info && info->function_info.count == 2 && strcmp(info->function_info.version, b->version) == 0);
        CHECK(info && zframe_streq(info->function_info.body, S_BODY2));
        if (info && info->function_info.count == 2) {
            fx_function_version_t *h = info->function_info.versions;
            CHECK(h[0].number == 1 && strcmp(h[0].version, a->version) == 0 &&
                  strcmp(h[0].commit, a->commit) == 0);
            CHECK(h[1].number == 2 && strcmp(h[1].version, b->version) == 0);
            CHECK(strcmp(h[0].author, "alice") == 0 && h[0].created_us > 0 &&
                  h[1].created_us >= h[0].created_us);
        }
        fx_msg_destroy(&info);
        info = s_get(w.alice_c, w.fn, a->version, 0);
        CHECK(info && zframe_streq(info->function_info.body, S_BODY1));
        fx_msg_destroy(&info);
        s_get(w.alice_c, w.fn, "0123456789012345678901234567890123456789", FX_E_NOT_FOUND);
        s_get(w.bob_c, w.fn, "", FX_E_NOT_FOUND); /* not Bob's */
#undef a
#undef b
    }
    fx_msg_destroy(&first);
    fx_msg_destroy(&second);
    fx_msg_destroy(&again);
    /* git itself reads the history: two commits of this function, by alice */
    char cmd[600], line[256];
    snprintf(cmd, sizeof cmd, "git --git-dir '%s/state/registry.git' log --format='%%an %%s' 2>/dev/null", bt_dir);
    FILE *git = popen(cmd, "r");
    int commits = 0;
    while (git && fgets(line, sizeof line, git))
        commits += strncmp(line, "alice ", 6) == 0 && strstr(line, " double") != NULL;
    if (git && pclose(git) == 0)
        CHECK(commits == 2);
    /* another kind under the id, another user's id */
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, w.fn, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, "sh", sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_SHELL;
    msg->register_function.body = zframe_new("echo", 4);
    bt_expect_error(w.alice_c, FX_E_CONFLICT, bt_send(w.alice_c, msg));
    bt_expect_error(w.bob_c, FX_E_CONFLICT, bt_register_function(w.bob_c, w.fn, "def double(x): pass\n"));
    bt_world_teardown(&w);
}

static void s_pinning(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_oid_text_t v1 = "", v2 = "", got = "";
    fx_id_text_t newest, old, unknown, id;
    char body[256];
    s_two_versions(&w, v1, v2);
    fx_msg_t *msg = NULL;
    uint32_t seq = s_submit_pinned(w.alice_c, w.ep, w.fn, "", newest);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    seq = s_submit_pinned(w.alice_c, w.ep, w.fn, v1, old);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    seq = s_submit_pinned(w.alice_c, w.ep, w.fn, "0123456789012345678901234567890123456789", unknown);
    bt_expect_error(w.alice_c, FX_E_NOT_FOUND, seq);
    bt_credit(w.endpoint, 1);
    /* one at a time, in submission order: the newest's body, then v1's */
    if (s_one_task(w.endpoint, id, got, body, sizeof body)) {
        CHECK(strcmp(id, newest) == 0 && strcmp(got, v2) == 0 && strcmp(body, S_BODY2) == 0);
        bt_return(w.endpoint, &id, 1);
    }
    if (s_one_task(w.endpoint, id, got, body, sizeof body)) {
        CHECK(strcmp(id, old) == 0 && strcmp(got, v1) == 0 && strcmp(body, S_BODY1) == 0);
        bt_return(w.endpoint, &id, 1);
    }
    bt_world_teardown(&w);
}

/* FUNCTION_FETCH of versions from ep; the FUNCTION_BODIES. */
static fx_msg_t *s_fetch(bt_peer_t *ep, const fx_oid_text_t *versions, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_FUNCTION_FETCH);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++)
        memcpy(msg->function_fetch.versions[i], versions[i], sizeof(fx_oid_text_t));
    uint32_t seq = bt_send(ep, msg);
    return bt_expect(ep, FX_MSG_FUNCTION_BODIES, seq);
}

static void s_fetch_scenario(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_oid_text_t v1 = "", v2 = "", got = "", bobs = "";
    fx_id_text_t id, bob_fn;
    char body[256];
    s_two_versions(&w, v1, v2);
    fx_id_new(bob_fn);
    fx_msg_t *msg = NULL;
    CHECK(s_register(w.bob_c, bob_fn, "def secret(): pass\n", &msg));
    if (msg)
        memcpy(bobs, msg->function_registered.version, sizeof bobs);
    fx_msg_destroy(&msg);
    /* a task of v1 only: v1 is this endpoint's, v2 (no task) and Bob's are not */
    uint32_t seq = s_submit_pinned(w.alice_c, w.ep, w.fn, v1, id);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    bt_credit(w.endpoint, 10);
    if (s_one_task(w.endpoint, id, got, body, sizeof body)) /* not fetched yet: with its body */
        CHECK(strcmp(got, v1) == 0 && strcmp(body, S_BODY1) == 0);
    fx_oid_text_t asked[3];
    memcpy(asked[0], v1, sizeof asked[0]);
    memcpy(asked[1], v2, sizeof asked[1]);
    memcpy(asked[2], bobs, sizeof asked[2]);
    msg = s_fetch(w.endpoint, asked, 3);
    CHECK(msg && msg->function_bodies.count == 3);
    if (msg && msg->function_bodies.count == 3) {
        fx_function_body_t *f = msg->function_bodies.functions;
        CHECK(strcmp(f[0].version, v1) == 0 && f[0].kind == FX_FN_PYTHON &&
              strcmp(f[0].function_id, w.fn) == 0);
        CHECK(strcmp(f[0].entry, "double") == 0 && zframe_streq(f[0].body, S_BODY1));
        CHECK(strcmp(f[1].version, v2) == 0 && f[1].kind == 0 && zframe_size(f[1].body) == 0);
        CHECK(strcmp(f[2].version, bobs) == 0 && f[2].kind == 0 && zframe_size(f[2].body) == 0);
        CHECK(strcmp(f[1].function_id, "00000000-0000-0000-0000-000000000000") == 0);
        CHECK(strcmp(f[2].function_id, "00000000-0000-0000-0000-000000000000") == 0);
    }
    fx_msg_destroy(&msg);
    /* it fetches bodies now: the next task comes without one */
    seq = s_submit_pinned(w.alice_c, w.ep, w.fn, v2, id);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    if (s_one_task(w.endpoint, id, got, body, sizeof body))
        CHECK(strcmp(got, v2) == 0 && body[0] == '\0');
    msg = s_fetch(w.endpoint, asked + 1, 1); /* v2 is its own now */
    CHECK(msg && msg->function_bodies.count == 1 && msg->function_bodies.functions[0].kind == FX_FN_PYTHON &&
          zframe_streq(msg->function_bodies.functions[0].body, S_BODY2));
    fx_msg_destroy(&msg);
    bt_world_teardown(&w);
}

static void s_missing_blob(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_oid_text_t v1 = "", v2 = "";
    fx_id_text_t id;
    s_two_versions(&w, v1, v2);
    bt_broker_stop(&w.broker);
    /* v2's blob out of the registry, as a damaged disk would leave it */
    char path[512];
    snprintf(path, sizeof path, "%s/state/registry.git/objects/%.2s/%s", bt_dir, v2, v2 + 2);
    CHECK(unlink(path) == 0);
    BT_REQUIRE(bt_broker_start(&w.broker, "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", NULL) == 0);
    bt_peer_destroy(&w.alice_c);
    w.alice_c = bt_peer_new("alice", w.broker.client_addr, &w.alice_kp, w.broker.public_key);
    bt_session(w.alice_c, w.client, w.alice);
    /* reported at start, naming the function and the version */
    char line[300];
    snprintf(line, sizeof line, "function %s version 2 (blob %s", w.fn, v2);
    CHECK(bt_log_has(line));
    CHECK(bt_log_has("1 function versions refused"));
    /* refused: the newest (v2) and v2 by name; v1 still serves */
    bt_expect_error(w.alice_c, FX_E_NOT_FOUND, s_submit_pinned(w.alice_c, w.ep, w.fn, "", id));
    bt_expect_error(w.alice_c, FX_E_NOT_FOUND, s_submit_pinned(w.alice_c, w.ep, w.fn, v2, id));
    fx_msg_t *msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, s_submit_pinned(w.alice_c, w.ep, w.fn, v1, id));
    fx_msg_destroy(&msg);
    bt_world_teardown(&w);
}

static void s_provenance(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_oid_text_t v1 = "", v2 = "", got = "";
    fx_id_text_t id;
    char body[256];
    s_two_versions(&w, v1, v2);
    fx_msg_t *msg = NULL;
    uint32_t seq = s_submit_pinned(w.alice_c, w.ep, w.fn, v1, id);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    bt_credit(w.endpoint, 1);
    fx_id_text_t taken;
    CHECK(s_one_task(w.endpoint, taken, got, body, sizeof body) && strcmp(taken, id) == 0);
    msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    fx_result_t *r = &msg->results.results[0];
    memcpy(r->task_id, id, sizeof r->task_id);
    r->status = FX_RESULT_OK;
    strcpy(r->host, "node17");
    r->worker_pid = 4321;
    strcpy(r->worker_runtime, "python 3.11.2; dill 0.3.6");
    strcpy(r->container, "img");
    strcpy(r->image_digest, "sha256:abc");
    r->times[FX_TIME_WORKER_STARTED] = 1000;
    r->times[FX_TIME_WORKER_FINISHED] = 2000;
    char value[64];
    snprintf(value, sizeof value, "v:%s", id); /* as bt_collect expects */
    r->value = zframe_new(value, strlen(value));
    r->output = zframe_new("printed\n", 8);
    seq = bt_send(w.endpoint, msg);
    fx_msg_destroy((msg = bt_expect(w.endpoint, FX_MSG_RESULTS_ACK, seq), &msg));
    bt_collect(w.alice_c, &id, 1, true);
    msg = fx_msg_new(FX_MSG_PROVENANCE);
    fx_msg_alloc_records(msg, 2);
    memcpy(msg->ids.ids[0], id, sizeof(fx_id_text_t));
    fx_id_new(msg->ids.ids[1]);
    seq = bt_send(w.alice_c, msg);
    msg = bt_expect(w.alice_c, FX_MSG_PROVENANCE_REPLY, seq);
    CHECK(msg && msg->provenance_reply.count == 2);
    if (msg && msg->provenance_reply.count == 2) {
        fx_provenance_t *p = &msg->provenance_reply.tasks[0];
        CHECK(strcmp(p->task_id, id) == 0 && strcmp(p->function_id, w.fn) == 0);
        CHECK(strcmp(p->function_version, v1) == 0 && strlen(p->commit) == FX_OID_LEN);
        CHECK(strcmp(p->endpoint_id, w.ep) == 0 && strcmp(p->py_version, "3.11.2") == 0);
        CHECK(strcmp(p->host, "node17") == 0 && p->worker_pid == 4321);
        CHECK(strcmp(p->worker_runtime, "python 3.11.2; dill 0.3.6") == 0);
        CHECK(strcmp(p->container, "img") == 0 && strcmp(p->image_digest, "sha256:abc") == 0);
        CHECK(p->attempt == 1);
        CHECK(p->times[FX_TIME_WORKER_STARTED] == 1000 && p->times[FX_TIME_WORKER_FINISHED] == 2000);
        CHECK(p->times[FX_TIME_BROKER_RECEIVED] && p->times[FX_TIME_BROKER_DISPATCHED]);
        CHECK(p->times[FX_TIME_BROKER_RESULT] && p->times[FX_TIME_BROKER_PUSHED]);
        CHECK(p->times[FX_TIME_CLIENT_RECEIVED]);
        fx_provenance_t *none = &msg->provenance_reply.tasks[1];
        CHECK(none->state == FX_TASK_UNKNOWN && none->function_id[0] == '\0' && none->host[0] == '\0');
        /* the first version's commit, as FUNCTION_GET tells it */
        fx_msg_t *info = s_get(w.alice_c, w.fn, v1, 0);
        CHECK(info && info->function_info.count == 2 &&
              strcmp(info->function_info.versions[0].commit, p->commit) == 0);
        fx_msg_destroy(&info);
    }
    fx_msg_destroy(&msg);
    bt_world_teardown(&w);
}

/* ENDPOINT_HELLO again from the world's endpoint, allowing only fn (NULL: any). */
static void s_hello_allowing(bt_world_t *w, const char *fn)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    memcpy(msg->endpoint_hello.endpoint_id, w->ep, sizeof(fx_id_text_t));
    fx_strlcpy(msg->endpoint_hello.version, "test", sizeof msg->endpoint_hello.version);
    if (fn) {
        fx_msg_alloc_records(msg, 1);
        memcpy(msg->endpoint_hello.allowed_functions[0], fn, sizeof(fx_id_text_t));
    }
    uint32_t seq = bt_send(w->endpoint, msg);
    fx_msg_destroy((msg = bt_expect(w->endpoint, FX_MSG_WELCOME, seq), &msg));
}

static void s_allowed(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t other, id;
    fx_id_new(other);
    fx_msg_t *msg = NULL;
    CHECK(s_register(w.alice_c, other, "def other(): pass\n", &msg));
    fx_msg_destroy(&msg);
    s_hello_allowing(&w, other);
    uint32_t seq = s_submit_pinned(w.alice_c, w.ep, w.fn, "", id);
    msg = bt_next(w.alice_c, BT_WAIT_MS);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->seq == seq && msg->error.code == FX_E_FORBIDDEN);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.text && strstr(msg->error.text, w.fn) &&
          strstr(msg->error.text, w.ep) && strstr(msg->error.text, "allowed_functions"));
    fx_msg_destroy(&msg);
    seq = s_submit_pinned(w.alice_c, w.ep, other, "", id); /* the allowed one */
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    s_hello_allowing(&w, NULL); /* any again */
    seq = s_submit_pinned(w.alice_c, w.ep, w.fn, "", id);
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    bt_world_teardown(&w);
}

/* ENDPOINT_INFO of the world's endpoint, NULL on any other reply. */
static fx_msg_t *s_query(bt_peer_t *client, const char *endpoint_id)
{
    fx_msg_t *q = fx_msg_new(FX_MSG_ENDPOINT_QUERY);
    memcpy(q->endpoint_query.endpoint_id, endpoint_id, sizeof(fx_id_text_t));
    uint32_t seq = bt_send(client, q);
    return bt_expect(client, FX_MSG_ENDPOINT_INFO, seq);
}

static void s_endpoint_query(void *ctx)
{
    (void) ctx;
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_msg_t *st = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    st->endpoint_status.managers = 3;
    st->endpoint_status.workers = 12;
    st->endpoint_status.free = 5;
    bt_send(w.endpoint, st);
    CHECK(bt_barrier(w.endpoint));
    fx_id_text_t id;
    fx_msg_t *msg = NULL;
    uint32_t seq = s_submit_pinned(w.alice_c, w.ep, w.fn, "", id); /* no credit: it stays queued */
    fx_msg_destroy((msg = bt_expect(w.alice_c, FX_MSG_SUBMITTED, seq), &msg));
    msg = s_query(w.alice_c, w.ep);
    CHECK(msg && msg->endpoint_info.online == 1 && strcmp(msg->endpoint_info.endpoint_id, w.ep) == 0);
    CHECK(msg && msg->endpoint_info.managers == 3 && msg->endpoint_info.workers == 12 &&
          msg->endpoint_info.free == 5 && msg->endpoint_info.queued == 1 && msg->endpoint_info.dispatched == 0);
    CHECK(msg && msg->endpoint_info.last_seen_us > 0 && msg->endpoint_info.name[0]);
    fx_msg_destroy(&msg);
    /* another user's endpoint does not exist for bob */
    fx_msg_t *q = fx_msg_new(FX_MSG_ENDPOINT_QUERY);
    memcpy(q->endpoint_query.endpoint_id, w.ep, sizeof(fx_id_text_t));
    bt_expect_error(w.bob_c, FX_E_NOT_FOUND, bt_send(w.bob_c, q));
    /* the endpoint goes away: offline, its counts gone, the queued task still counted */
    bt_peer_destroy(&w.endpoint);
    int64_t deadline = fx_test_deadline(15000);
    bool offline = false;
    while (!offline && fx_test_now_ms() < deadline) {
        msg = s_query(w.alice_c, w.ep);
        offline = msg && msg->endpoint_info.online == 0;
        if (offline)
            CHECK(msg->endpoint_info.managers == 0 && msg->endpoint_info.queued == 1);
        fx_msg_destroy(&msg);
        if (!offline)
            bt_poll_gap();
    }
    CHECK(offline, "offline within the heartbeat threshold of its silence");
    bt_world_teardown(&w);
}

static const fx_scenario_t s_scenarios[] = {
    {"versions", s_versions, false},     {"pinning", s_pinning, false},
    {"fetch", s_fetch_scenario, false},  {"missing_blob", s_missing_blob, false},
    {"provenance", s_provenance, false}, {"allowed", s_allowed, false},
    {"endpoint_query", s_endpoint_query, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "fx_broker_functions_test", &count, &names);
    return bt_finish(fx_test_main("fx_broker_functions_test", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
