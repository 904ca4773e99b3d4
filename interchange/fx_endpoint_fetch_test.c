/*  fx_endpoint_fetch_test.c: the real fx-endpoint's body cache against the
    broker the harness plays (issue 8; SPEC 5.6 body rule, 5.27, 5.28).

        fetch      many tasks of one version, in two TASKS with empty
                   bodies: one FUNCTION_FETCH naming it once; the tasks
                   wait (none reaches the manager) until FUNCTION_BODIES,
                   then all reach it with the body, and their results come
        not_found  kind 0 for one version, nothing at all for another asked
                   in the same fetch: every task of both ends with an
                   FX_E_NOT_FOUND result; nothing hangs
        carried    a TASKS record that carries a body fills the cache: later
                   tasks of that version with empty bodies go out with it,
                   and nothing is fetched
        reconnect  the broker's session ends while a fetch is outstanding:
                   the new session asks again, once, and its answer
                   releases the tasks */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_endpoint_harness.h"

static const char s_body[] = "def double(x):\n    return 2 * x\n";

/* A version id: 40 hex digits ending in the digit d. */
static void s_version(fx_oid_text_t out, char d)
{
    memset(out, 'a', FX_OID_LEN);
    out[FX_OID_LEN - 1] = d;
    out[FX_OID_LEN] = '\0';
}

/* TASKS of count tasks of version, with body (NULL: an empty one, as the
   broker sends when the endpoint caches). */
static void s_send_tasks(ept_broker_t *b, int count, fx_id_text_t *ids, const char *version, const char *body)
{
    fx_msg_t *m = ept_tasks(count, ids, FX_FN_PYTHON, body ? body : "", "double", ept_shell_payload,
                            EPT_SHELL_PAYLOAD_LEN);
    for (int i = 0; i < count; i++)
        fx_strlcpy(m->tasks.tasks[i].function_version, version, sizeof m->tasks.tasks[i].function_version);
    ept_send(b->endpoint, b->ep_routing, m, &b->seq);
}

/* FUNCTION_BODIES answering seq: one record for version, of kind (0: no
   such version). */
static void s_send_bodies(ept_broker_t *b, uint32_t seq, const char *version, int kind)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_FUNCTION_BODIES);
    fx_msg_alloc_records(m, 1);
    fx_function_body_t *f = &m->function_bodies.functions[0];
    fx_id_new(f->function_id);
    fx_strlcpy(f->version, version, sizeof f->version);
    f->kind = (uint8_t) kind;
    fx_strlcpy(f->entry, kind ? "double" : "", sizeof f->entry);
    fx_strlcpy(f->serializer, kind ? "source" : "", sizeof f->serializer);
    f->body = kind ? zframe_new(s_body, strlen(s_body)) : zframe_new_empty();
    m->seq = seq;
    zmsg_t *z = fx_msg_encode(m, NULL);
    fx_msg_destroy(&m);
    zframe_t *rid = zframe_dup(b->ep_routing);
    zmsg_prepend(z, &rid);
    zmsg_send(&z, b->endpoint);
}

/* The endpoint, ready, with one played manager of window `window`. */
static ept_fake_t *s_start(ept_broker_t *b, uint32_t window)
{
    if (ept_broker_start(b) != 0 || ept_endpoint_start(b, "0", NULL) != 0 || !ept_until_ready(b))
        return NULL;
    fx_keypair_t mkp = ept_manager_key(b);
    ept_fake_t *m = ept_fake_new(b, &mkp);
    ept_fake_hello(b, m, window);
    return WAIT_UNTIL(b, b->window == window) ? m : NULL;
}

/* Tasks the manager got until count arrived; each checked to carry the
   body and the interchange's two stamps. Returns how many arrived. */
static int s_manager_takes(ept_broker_t *b, ept_fake_t *m, int count, int *with_body)
{
    int got = 0;
    *with_body = 0;
    int64_t deadline = fx_test_deadline(WAIT_MS);
    while (got < count && fx_test_now_ms() < deadline) {
        fx_msg_t *t = ept_take(m->inbox, FX_MSG_TASKS);
        if (!t) {
            ept_pump(b, 20);
            continue;
        }
        for (uint32_t i = 0; i < t->tasks.count; i++) {
            fx_task_t *task = &t->tasks.tasks[i];
            *with_body += zframe_size(task->body) == strlen(s_body) &&
                          memcmp(zframe_data(task->body), s_body, strlen(s_body)) == 0 &&
                          task->times[FX_TIME_IX_RECEIVED] && task->times[FX_TIME_IX_DISPATCHED] &&
                          task->times[FX_TIME_IX_DISPATCHED] >= task->times[FX_TIME_IX_RECEIVED];
            ept_answer(m, task->task_id);
        }
        got += (int) t->tasks.count;
        fx_msg_destroy(&t);
    }
    return got;
}

/* The next FUNCTION_FETCH at the broker that asks for something (caller
   owns it), or NULL; the empty one each session opens with (the cache's
   announcement, SPEC 5.28.1) is passed over. */
static fx_msg_t *s_fetch(ept_broker_t *b)
{
    for (int i = 0; i < 4; i++) {
        fx_msg_t *f = ept_expect(b, b->ep_inbox, FX_MSG_FUNCTION_FETCH);
        if (!f || f->function_fetch.count > 0)
            return f;
        fx_msg_destroy(&f);
    }
    return NULL;
}

/* Each broker session opens with an empty FUNCTION_FETCH: the announcement
   that this interchange caches bodies, after which the broker sends none. */
static void scenario_announce(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    ept_fake_t *m = s_start(&b, 4);
    REQUIRE(m, "endpoint ready");
    fx_msg_t *f = ept_expect(&b, b.ep_inbox, FX_MSG_FUNCTION_FETCH);
    CHECK(f && f->function_fetch.count == 0, "an empty FUNCTION_FETCH after WELCOME (%u versions)",
          f ? f->function_fetch.count : 99);
    CHECK(ept_stat(&b, "function_fetches") == 0, "the announcement is not counted as a fetch");
    fx_msg_destroy(&f);
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_fetch(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    ept_fake_t *m = s_start(&b, 100);
    REQUIRE(m, "endpoint ready, one manager of window 100");
    fx_oid_text_t v;
    s_version(v, '1');
    fx_id_text_t ids[60];
    s_send_tasks(&b, 50, ids, v, NULL);
    s_send_tasks(&b, 10, ids + 50, v, NULL);
    fx_msg_t *f = s_fetch(&b);
    REQUIRE(f && f->function_fetch.count == 1 && strcmp(f->function_fetch.versions[0], v) == 0,
            "one FUNCTION_FETCH naming the version once (%u versions)", f ? f->function_fetch.count : 0);
    uint32_t seq = f->seq;
    fx_msg_destroy(&f);
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "tasks_received") == 60 && ept_stat(&b, "tasks_waiting") == 60),
          "all 60 tasks held, waiting (received %ld, waiting %ld)", ept_stat(&b, "tasks_received"),
          ept_stat(&b, "tasks_waiting"));
    CHECK(ept_stat(&b, "function_fetches") == 1 && ept_stat(&b, "versions_fetched") == 1,
          "one fetch, one version, for 60 tasks in two TASKS (%ld, %ld)", ept_stat(&b, "function_fetches"),
          ept_stat(&b, "versions_fetched"));
    CHECK(ept_barrier(&b, m), "barrier on the manager's connection");
    fx_msg_t *early = ept_take(m->inbox, FX_MSG_TASKS);
    CHECK(!early, "no task reaches the manager before its body came");
    fx_msg_destroy(&early);

    s_send_bodies(&b, seq, v, FX_FN_PYTHON);
    int with_body = 0;
    CHECK(s_manager_takes(&b, m, 60, &with_body) == 60 && with_body == 60,
          "after FUNCTION_BODIES all 60 tasks reach the manager, each with the body and stamped (%d)",
          with_body);
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 60, &ok) == 60 && ok == 60, "60 results, all OK (%d)", ok);
    ept_ack(&b, ids, 60);
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "tasks_waiting") == 0 && ept_stat(&b, "bodies_cached") == 1 &&
                             ept_stat(&b, "bodies_received") == 1),
          "nothing waits; the body is cached (cached %ld)", ept_stat(&b, "bodies_cached"));
    CHECK(ept_stat(&b, "function_fetches") == 1, "still one fetch (%ld)", ept_stat(&b, "function_fetches"));
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_not_found(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    ept_fake_t *m = s_start(&b, 10);
    REQUIRE(m, "endpoint ready");
    fx_oid_text_t v2, v3;
    s_version(v2, '2');
    s_version(v3, '3');
    fx_id_text_t ids[5];
    s_send_tasks(&b, 3, ids, v2, NULL);
    s_send_tasks(&b, 2, ids + 3, v3, NULL);
    /* the two TASKS may be read in one pass (one fetch of two) or not */
    uint32_t seqs[2] = {0, 0};
    int asked = 0, nfetch = 0;
    while (asked < 2 && nfetch < 2) {
        fx_msg_t *f = s_fetch(&b);
        if (!f)
            break;
        seqs[nfetch++] = f->seq;
        asked += (int) f->function_fetch.count;
        fx_msg_destroy(&f);
    }
    REQUIRE(asked == 2, "both versions asked for (%d in %d fetches)", asked, nfetch);
    /* one answer: v2 unknown (kind 0), v3 left out of it (if asked there) */
    s_send_bodies(&b, seqs[0], v2, 0);
    if (nfetch == 2)
        s_send_bodies(&b, seqs[1], v2, 0); /* v3's fetch answered without v3 */
    int got = 0, errors = 0;
    int64_t deadline = fx_test_deadline(WAIT_MS);
    while (got < 5 && fx_test_now_ms() < deadline) {
        fx_msg_t *r = ept_take(b.ep_inbox, FX_MSG_RESULTS);
        if (!r) {
            ept_pump(&b, 20);
            continue;
        }
        for (uint32_t i = 0; i < r->results.count; i++) {
            fx_result_t *res = &r->results.results[i];
            errors += res->status == FX_RESULT_ERROR && res->error_code == FX_E_NOT_FOUND &&
                      res->error_text && strstr(res->error_text, "version");
            got++;
        }
        fx_msg_destroy(&r);
    }
    CHECK(got == 5 && errors == 5, "every task of both versions ends FX_E_NOT_FOUND (%d of %d)", errors, got);
    ept_ack(&b, ids, 5);
    CHECK(ept_barrier(&b, m), "barrier");
    fx_msg_t *t = ept_take(m->inbox, FX_MSG_TASKS);
    CHECK(!t, "none reached the manager");
    fx_msg_destroy(&t);
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "tasks_not_found") == 5 && ept_stat(&b, "tasks_waiting") == 0),
          "stats: tasks_not_found=5 (%ld), nothing waits", ept_stat(&b, "tasks_not_found"));
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_carried(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    ept_fake_t *m = s_start(&b, 10);
    REQUIRE(m, "endpoint ready");
    fx_oid_text_t v;
    s_version(v, '4');
    fx_id_text_t ids[4];
    s_send_tasks(&b, 1, ids, v, s_body);
    int with_body = 0;
    CHECK(s_manager_takes(&b, m, 1, &with_body) == 1 && with_body == 1, "the task with a body runs");
    s_send_tasks(&b, 3, ids + 1, v, NULL);
    CHECK(s_manager_takes(&b, m, 3, &with_body) == 3 && with_body == 3,
          "later tasks with empty bodies go out with the cached one (%d)", with_body);
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 4, &ok) == 4 && ok == 4, "four results, OK");
    ept_ack(&b, ids, 4);
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "bodies_from_tasks") == 1 && ept_stat(&b, "results_acked") == 4),
          "the cache was filled from the TASKS record (%ld)", ept_stat(&b, "bodies_from_tasks"));
    CHECK(ept_stat(&b, "function_fetches") == 0 && ept_stat(&b, "tasks_waited") == 0,
          "nothing fetched, nothing waited (%ld, %ld)", ept_stat(&b, "function_fetches"),
          ept_stat(&b, "tasks_waited"));
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

static void scenario_reconnect(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    ept_fake_t *m = s_start(&b, 10);
    REQUIRE(m, "endpoint ready");
    fx_oid_text_t v;
    s_version(v, '5');
    fx_id_text_t ids[3];
    s_send_tasks(&b, 3, ids, v, NULL);
    fx_msg_t *f = s_fetch(&b);
    REQUIRE(f && f->function_fetch.count == 1, "the fetch");
    fx_msg_destroy(&f);
    /* the broker loses the session before it answers */
    fx_send_error(b.endpoint, b.ep_routing, 0, FX_E_NO_SESSION, "no session (test)");
    CHECK(WAIT_UNTIL(&b, b.ep_hellos == 2), "ENDPOINT_HELLO again");
    f = s_fetch(&b);
    REQUIRE(f && f->function_fetch.count == 1 && strcmp(f->function_fetch.versions[0], v) == 0,
            "the new session asks for the version again");
    uint32_t seq = f->seq;
    fx_msg_destroy(&f);
    /* the broker redelivers the tasks in the new session: held already */
    fx_id_text_t fresh[3]; /* ept_tasks mints ids; the copies carry the old ones */
    fx_msg_t *again = ept_tasks(3, fresh, FX_FN_PYTHON, "", "double", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN);
    for (int i = 0; i < 3; i++) {
        memcpy(again->tasks.tasks[i].task_id, ids[i], sizeof ids[i]);
        fx_strlcpy(again->tasks.tasks[i].function_version, v, sizeof again->tasks.tasks[i].function_version);
    }
    ept_send(b.endpoint, b.ep_routing, again, &b.seq);
    s_send_bodies(&b, seq, v, FX_FN_PYTHON);
    int with_body = 0;
    CHECK(s_manager_takes(&b, m, 3, &with_body) == 3 && with_body == 3, "then the tasks run, once each");
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 3, &ok) == 3 && ok == 3, "three results, OK");
    ept_ack(&b, ids, 3);
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "results_acked") == 3), "acked");
    CHECK(ept_stat(&b, "function_fetches") == 2 && ept_stat(&b, "tasks_duplicate") == 3,
          "two fetches in all, one per session; the redelivered copies refused (%ld, %ld)",
          ept_stat(&b, "function_fetches"), ept_stat(&b, "tasks_duplicate"));
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
done:
    ept_broker_stop(&b, fx_check_failures > 0);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_handler_set(NULL); /* the test reaps its children; no czmq signal handling */
    static const fx_scenario_t scenarios[] = {
        {"announce", scenario_announce, false},
        {"fetch", scenario_fetch, false},
        {"not_found", scenario_not_found, false},
        {"carried", scenario_carried, false},
        {"reconnect", scenario_reconnect, false},
    };
    return fx_test_main("fx_endpoint_fetch_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
