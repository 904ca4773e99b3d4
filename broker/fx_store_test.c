/*  fx_store_test.c: the store on a fresh temporary directory. One named
    function per behaviour: schema, users, registry, submit (dedup and
    conflict), dispatch order, results (dedup, foreign, push order, ack),
    requeue (never a limit), retries, cancel, the per-user queue cap, the
    version 1 -> 2 and 5 -> 6 migrations, fetch, status, list, purge,
    containers. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_store_testfix.h"
#include "fx_testkit.h"

/* ---------------------------------------------------------------- tests */

static void test_schema(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char path[400];
    snprintf(path, sizeof path, "%s/state/sub/fx.db", fix.dir);
    CHECK(access(path, F_OK) == 0);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    const char *tables[] = {"users", "endpoints", "functions", "tasks", "results"};
    for (int i = 0; i < 5; i++) {
        char sql[200];
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1);
        sqlite3_finalize(st);
    }
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *) sqlite3_column_text(st, 0), "wal") == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* Reopening an existing store keeps its data. */
    char err[512], dir[400];
    snprintf(dir, sizeof dir, "%s/state/sub", fix.dir);
    fx_store_destroy(&fix.store);
    fix.store = fx_store_open(dir, err, sizeof err);
    CHECK(fix.store != NULL);
    fx_id_text_t id;
    CHECK(fix.store && fx_store_user_find(fix.store, "alice", id, NULL) == FX_OK &&
          strcmp(id, fix.alice) == 0);
    /* A file where the directory should be is a clear error. */
    snprintf(dir, sizeof dir, "%s/state/sub/fx.db", fix.dir);
    fx_store_t *bad = fx_store_open(dir, err, sizeof err);
    CHECK(bad == NULL && strstr(err, "fx.db") != NULL);
    fx_keypair_t kp1, kp2;
    snprintf(dir, sizeof dir, "%s/state/sub", fix.dir);
    CHECK(fx_state_keypair(dir, &kp1, err, sizeof err) == 0);
    CHECK(fx_state_keypair(dir, &kp2, err, sizeof err) == 0);
    CHECK(strcmp(kp1.public_key, kp2.public_key) == 0);
    st_teardown(&fix);
}

static void test_users(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512] = "", key[FX_KEY_LEN + 1], alice_key[FX_KEY_LEN + 1];
    fx_id_text_t id = "";
    st_key(key);
    CHECK(fx_store_user_create(fix.store, "alice", key, id, err, sizeof err) == FX_E_CONFLICT);
    CHECK(strstr(err, "alice") && strstr(err, "taken"));
    CHECK(fx_store_user_find(fix.store, "alice", id, alice_key) == FX_OK);
    CHECK(fx_store_user_create(fix.store, "carol", alice_key, id, err, sizeof err) == FX_E_CONFLICT);
    CHECK(fx_store_user_create(fix.store, "carol", "not a key", id, err, sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_user_create(fix.store, "", key, id, err, sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_user_create(fix.store, "bad\nname", key, id, err, sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_user_create(fix.store, "carol", key, id, err, sizeof err) == FX_OK);
    CHECK(fx_id_valid(id));
    fx_id_text_t found;
    CHECK(fx_store_user_by_key(fix.store, key, found) == FX_OK && strcmp(found, id) == 0);
    st_key(key);
    CHECK(fx_store_user_by_key(fix.store, key, found) == FX_E_NOT_FOUND);
    CHECK(fx_store_user_find(fix.store, "nobody", found, NULL) == FX_E_NOT_FOUND);
    st_teardown(&fix);
}

static void test_registry(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512], key[FX_KEY_LEN + 1], key2[FX_KEY_LEN + 1];
    /* Functions: same content again is a no-op; other content or owner conflicts. */
    CHECK(fx_store_function_register(fix.store, fix.alice, fix.alice_fn, "double", FX_FN_PYTHON, "double",
                                     "def double(x): return 2*x", 25, err, sizeof err) == FX_OK);
    CHECK(fx_store_function_register(fix.store, fix.alice, fix.alice_fn, "double", FX_FN_PYTHON, "double",
                                     "def double(x): return 3*x", 25, err, sizeof err) == FX_E_CONFLICT);
    CHECK(fx_store_function_register(fix.store, fix.bob, fix.alice_fn, "double", FX_FN_PYTHON, "double",
                                     "def double(x): return 2*x", 25, err, sizeof err) == FX_E_CONFLICT);
    fx_id_text_t fn;
    fx_id_new(fn);
    CHECK(fx_store_function_register(fix.store, fix.alice, fn, "f", FX_FN_PYTHON, "", "x", 1, err,
                                     sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_function_register(fix.store, fix.alice, fn, "", FX_FN_SHELL, "", "x", 1, err,
                                     sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_function_register(fix.store, fix.alice, fn, "f", 7, "f", "x", 1, err, sizeof err) ==
          FX_E_BAD_FIELD);
    CHECK(fx_store_function_register(fix.store, fix.alice, fn, "empty", FX_FN_SHELL, "", "", 0, err,
                                     sizeof err) == FX_OK);
    /* Endpoints. */
    fx_id_text_t ep, found;
    fx_id_new(ep);
    st_key(key);
    st_key(key2);
    CHECK(fx_store_endpoint_register(fix.store, fix.alice, ep, "one", key, err, sizeof err) == FX_OK);
    CHECK(fx_store_endpoint_register(fix.store, fix.alice, ep, "renamed", key, err, sizeof err) == FX_OK);
    CHECK(fx_store_endpoint_register(fix.store, fix.bob, ep, "mine", key, err, sizeof err) == FX_E_CONFLICT);
    CHECK(fx_store_endpoint_register(fix.store, fix.alice, ep, "one", key2, err, sizeof err) ==
          FX_E_FORBIDDEN);
    CHECK(strstr(err, "re-keying") != NULL);
    fx_id_text_t ep2;
    fx_id_new(ep2);
    CHECK(fx_store_endpoint_register(fix.store, fix.alice, ep2, "two", key, err, sizeof err) ==
          FX_E_CONFLICT);
    CHECK(fx_store_endpoint_register(fix.store, fix.alice, ep2, "", key2, err, sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_endpoint_by_key(fix.store, key, found) == FX_OK && strcmp(found, ep) == 0);
    CHECK(fx_store_endpoint_by_key(fix.store, key2, found) == FX_E_NOT_FOUND);
    CHECK(fx_store_endpoint_seen(fix.store, ep, fx_store_wall_ms()) == FX_OK);
    st_teardown(&fix);
}

static void test_submit(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[3];
    uint32_t stored = 99, queued = 0;
    for (int i = 0; i < 3; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 3, &stored, err, sizeof err) == FX_OK);
    CHECK(stored == 3);
    CHECK(fx_store_queued_count(fix.store, fix.alice_ep, &queued) == FX_OK && queued == 3);
    CHECK(st_state(&fix, fix.alice, tasks[0].task_id, NULL) == FX_TASK_QUEUED);
    CHECK(st_state(&fix, fix.bob, tasks[0].task_id, NULL) == FX_TASK_UNKNOWN);
    /* Idempotent resend. */
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 3, &stored, err, sizeof err) == FX_OK);
    CHECK(stored == 0);
    /* Another user's id refuses the whole batch, including its new task. */
    fx_task_t mixed[2];
    st_task(&mixed[0], fix.bob_ep, fix.bob_fn, 5);
    st_task(&mixed[1], fix.bob_ep, fix.bob_fn, 6);
    memcpy(mixed[1].task_id, tasks[1].task_id, sizeof mixed[1].task_id);
    CHECK(fx_store_submit(fix.store, fix.bob, fix.client, mixed, 2, &stored, err, sizeof err) ==
          FX_E_CONFLICT);
    CHECK(strstr(err, tasks[1].task_id) != NULL);
    CHECK(st_state(&fix, fix.bob, mixed[0].task_id, NULL) == FX_TASK_UNKNOWN);
    /* Another user's endpoint, or function, is forbidden; unknown ones not found. */
    fx_task_t one;
    st_task(&one, fix.bob_ep, fix.alice_fn, 7);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &one, 1, &stored, err, sizeof err) ==
          FX_E_FORBIDDEN);
    CHECK(strstr(err, fix.bob_ep) != NULL);
    memcpy(one.endpoint_id, fix.alice_ep, sizeof one.endpoint_id);
    memcpy(one.function_id, fix.bob_fn, sizeof one.function_id);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &one, 1, &stored, err, sizeof err) ==
          FX_E_FORBIDDEN);
    fx_id_new(one.function_id);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &one, 1, &stored, err, sizeof err) ==
          FX_E_NOT_FOUND);
    memcpy(one.function_id, fix.alice_fn, sizeof one.function_id);
    fx_id_new(one.endpoint_id);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &one, 1, &stored, err, sizeof err) ==
          FX_E_NOT_FOUND);
    one.endpoint_id[0] = '\0';
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &one, 1, &stored, err, sizeof err) ==
          FX_E_BAD_FIELD);
    CHECK(st_state(&fix, fix.alice, one.task_id, NULL) == FX_TASK_UNKNOWN);
    CHECK(fx_store_queued_count(fix.store, fix.alice_ep, &queued) == FX_OK && queued == 3);
    /* A task id repeated inside one batch is stored once. */
    fx_task_t twice[2];
    st_task(&twice[0], fix.alice_ep, fix.alice_fn, 8);
    st_task(&twice[1], fix.alice_ep, fix.alice_fn, 9);
    memcpy(twice[1].task_id, twice[0].task_id, sizeof twice[1].task_id);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, twice, 2, &stored, err, sizeof err) == FX_OK);
    CHECK(stored == 1);
    st_free_tasks(tasks, 3);
    st_free_tasks(mixed, 2);
    st_free_tasks(&one, 1);
    st_free_tasks(twice, 2);
    st_teardown(&fix);
}

static void test_dispatch_order(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t a[3], b[2], other[1];
    for (int i = 0; i < 3; i++)
        st_task(&a[i], fix.alice_ep, fix.alice_fn, i);
    for (int i = 0; i < 2; i++)
        st_task(&b[i], fix.alice_ep, fix.alice_fn, 3 + i);
    st_task(&other[0], fix.alice_ep2, fix.alice_fn, 9);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, a, 3, NULL, err, sizeof err) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, other, 1, NULL, err, sizeof err) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, b, 2, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 3, msg) == FX_OK);
    CHECK(msg->tasks.count == 3);
    for (uint32_t i = 0; i < msg->tasks.count && i < 3; i++) {
        fx_task_t *t = &msg->tasks.tasks[i];
        CHECK(strcmp(t->task_id, a[i].task_id) == 0);
        CHECK(t->kind == FX_FN_PYTHON && strcmp(t->entry, "double") == 0);
        CHECK(t->attempt == 0 && t->walltime_ms == 1000u * i);
        CHECK(strcmp(t->py_version, "3.11.2") == 0 && strcmp(t->serializer, "pickle") == 0);
        CHECK(zframe_streq(t->body, "def double(x): return 2*x"));
        CHECK(zframe_eq(t->payload, a[i].payload));
        CHECK(st_state(&fix, fix.alice, t->task_id, NULL) == FX_TASK_DISPATCHED);
    }
    /* Re-encodes cleanly: the TASKS message is valid on the wire. */
    int rc = FX_OK;
    zmsg_t *wire = fx_msg_encode(msg, &rc);
    CHECK(wire != NULL && rc == FX_OK);
    zmsg_destroy(&wire);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 10, msg) == FX_OK);
    CHECK(msg->tasks.count == 2);
    CHECK(msg->tasks.count == 2 && strcmp(msg->tasks.tasks[0].task_id, b[0].task_id) == 0 &&
          strcmp(msg->tasks.tasks[1].task_id, b[1].task_id) == 0);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 10, msg) == FX_OK && msg->tasks.count == 0);
    CHECK(st_dispatch(fix.store, fix.alice_ep2, 0, msg) == FX_OK && msg->tasks.count == 0);
    CHECK(st_dispatch(fix.store, fix.alice_ep2, 5, msg) == FX_OK && msg->tasks.count == 1);
    fx_msg_destroy(&msg);
    st_free_tasks(a, 3);
    st_free_tasks(b, 2);
    st_free_tasks(other, 1);
    st_teardown(&fix);
}

static void test_results(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[3], bobs[1];
    for (int i = 0; i < 3; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    st_task(&bobs[0], fix.bob_ep, fix.bob_fn, 0);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 3, NULL, err, sizeof err) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.bob, fix.client, bobs, 1, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 3, msg) == FX_OK && msg->tasks.count == 3);
    fx_msg_destroy(&msg);
    /* Results arrive out of order; one is an error; one is for Bob's task;
       one for an unknown task. */
    fx_result_t res[4];
    fx_id_text_t unknown;
    fx_id_new(unknown);
    st_result(&res[0], tasks[2].task_id, FX_RESULT_OK, "v2");
    st_result(&res[1], tasks[0].task_id, FX_RESULT_ERROR, "");
    st_result(&res[2], bobs[0].task_id, FX_RESULT_OK, "stolen");
    st_result(&res[3], unknown, FX_RESULT_OK, "x");
    fx_store_outcome_t out[4];
    fix.notified = 0;
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, res, 4, out) == FX_OK);
    CHECK(out[0] == FX_STORE_NEW && out[1] == FX_STORE_NEW);
    CHECK(out[2] == FX_STORE_FOREIGN && out[3] == FX_STORE_FOREIGN);
    CHECK(fix.notified == 2);
    CHECK(strcmp(fix.last_owner, fix.alice) == 0 && strcmp(fix.last_client, fix.client) == 0);
    CHECK(st_state(&fix, fix.alice, tasks[2].task_id, NULL) == FX_TASK_DONE);
    CHECK(st_state(&fix, fix.alice, tasks[0].task_id, NULL) == FX_TASK_FAILED);
    CHECK(st_state(&fix, fix.alice, tasks[1].task_id, NULL) == FX_TASK_DISPATCHED);
    CHECK(st_state(&fix, fix.bob, bobs[0].task_id, NULL) == FX_TASK_QUEUED);
    /* Dedup: the same results again change nothing and notify nobody. */
    fix.notified = 0;
    st_free_results(res, 1);
    st_result(&res[0], tasks[2].task_id, FX_RESULT_OK, "second run");
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, res, 2, out) == FX_OK);
    CHECK(out[0] == FX_STORE_DUP && out[1] == FX_STORE_DUP && fix.notified == 0);
    /* Pending, in arrival order, with the first value stored. */
    msg = fx_msg_new(FX_MSG_RESULTS);
    int64_t seqs[FX_BATCH_MAX];
    CHECK(st_pending(fix.store, fix.alice, fix.client, 0, 10, msg, seqs) == FX_OK);
    CHECK(msg->results.count == 2);
    if (msg->results.count == 2) {
        fx_result_t *r = msg->results.results;
        CHECK(strcmp(r[0].task_id, tasks[2].task_id) == 0 && zframe_streq(r[0].value, "v2"));
        CHECK(r[0].status == FX_RESULT_OK && r[0].error_text == NULL);
        CHECK(zframe_streq(r[0].output, "out"));
        CHECK(strcmp(r[1].task_id, tasks[0].task_id) == 0 && r[1].status == FX_RESULT_ERROR);
        CHECK(r[1].error_code == FX_E_WALLTIME && r[1].error_text &&
              strcmp(r[1].error_text, "ran too long") == 0);
        CHECK(seqs[0] < seqs[1]);
        /* The cursor skips what was read; another client id sees nothing. */
        CHECK(st_pending(fix.store, fix.alice, fix.client, seqs[0], 10, msg, seqs) == FX_OK &&
              msg->results.count == 1);
    }
    fx_id_text_t other_client;
    fx_id_new(other_client);
    CHECK(st_pending(fix.store, fix.alice, other_client, 0, 10, msg, seqs) == FX_OK &&
          msg->results.count == 0);
    /* FETCH: owner only. */
    fx_id_text_t ids[3];
    memcpy(ids[0], tasks[2].task_id, sizeof ids[0]);
    memcpy(ids[1], tasks[1].task_id, sizeof ids[1]);
    memcpy(ids[2], unknown, sizeof ids[2]);
    CHECK(st_fetch(fix.store, fix.alice, ids, 3, msg) == FX_OK && msg->results.count == 1);
    CHECK(st_fetch(fix.store, fix.bob, ids, 3, msg) == FX_OK && msg->results.count == 0);
    /* Ack: Bob cannot ack Alice's result; Alice can, once. */
    uint32_t acked = 9;
    CHECK(fx_store_results_ack(fix.store, fix.bob, ids, 1, NULL, &acked) == FX_OK && acked == 0);
    CHECK(fx_store_results_ack(fix.store, fix.alice, ids, 3, NULL, &acked) == FX_OK && acked == 1);
    CHECK(fx_store_results_ack(fix.store, fix.alice, ids, 1, NULL, &acked) == FX_OK && acked == 0);
    CHECK(st_state(&fix, fix.alice, tasks[2].task_id, NULL) == FX_TASK_DELIVERED);
    memcpy(ids[0], tasks[0].task_id, sizeof ids[0]);
    CHECK(fx_store_results_ack(fix.store, fix.alice, ids, 1, NULL, &acked) == FX_OK && acked == 1);
    CHECK(st_state(&fix, fix.alice, tasks[0].task_id, NULL) == FX_TASK_FAILED);
    CHECK(st_pending(fix.store, fix.alice, fix.client, 0, 10, msg, seqs) == FX_OK && msg->results.count == 0);
    /* Purge: delivered results go, with their tasks; the rest stays. */
    uint32_t purged = 0;
    CHECK(fx_store_purge(fix.store, fx_store_wall_ms() - 60000, &purged) == FX_OK && purged == 0);
    CHECK(fx_store_purge(fix.store, fx_store_wall_ms() + 1000, &purged) == FX_OK && purged == 2);
    CHECK(st_state(&fix, fix.alice, tasks[2].task_id, NULL) == FX_TASK_UNKNOWN);
    CHECK(st_state(&fix, fix.alice, tasks[1].task_id, NULL) == FX_TASK_DISPATCHED);
    fx_msg_destroy(&msg);
    st_free_results(res, 4);
    st_free_tasks(tasks, 3);
    st_free_tasks(bobs, 1);
    st_teardown(&fix);
}

/* Endpoint loss requeues without ever failing a task: attempts only count. */
static void test_requeue(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[2];
    for (int i = 0; i < 2; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 2, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    uint32_t requeued = 0, cancelled = 0, attempts = 0;
    /* First loss: back in the queue, in order, attempt 1 next time. */
    CHECK(st_dispatch(fix.store, fix.alice_ep, 1, msg) == FX_OK && msg->tasks.count == 1);
    CHECK(fx_store_requeue(fix.store, fix.alice_ep, &requeued, &cancelled) == FX_OK);
    CHECK(requeued == 1 && cancelled == 0);
    CHECK(st_state(&fix, fix.alice, tasks[0].task_id, &attempts) == FX_TASK_QUEUED && attempts == 1);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 5, msg) == FX_OK && msg->tasks.count == 2);
    CHECK(msg->tasks.count == 2 && strcmp(msg->tasks.tasks[0].task_id, tasks[0].task_id) == 0 &&
          msg->tasks.tasks[0].attempt == 1 && msg->tasks.tasks[1].attempt == 0);
    /* Many more losses: never failed, the counter only informs. */
    fix.notified = 0;
    for (int loss = 0; loss < 10; loss++) {
        CHECK(fx_store_requeue(fix.store, fix.alice_ep, &requeued, &cancelled) == FX_OK);
        CHECK(requeued == 2 && cancelled == 0);
        CHECK(st_dispatch(fix.store, fix.alice_ep, 5, msg) == FX_OK && msg->tasks.count == 2);
    }
    CHECK(fix.notified == 0);
    CHECK(st_state(&fix, fix.alice, tasks[0].task_id, &attempts) == FX_TASK_DISPATCHED && attempts == 12);
    /* A result for a requeued (QUEUED) task still counts, and it is not dispatched again. */
    CHECK(fx_store_requeue(fix.store, fix.alice_ep, &requeued, &cancelled) == FX_OK && requeued == 2);
    fx_result_t late;
    fx_store_outcome_t out;
    st_result(&late, tasks[1].task_id, FX_RESULT_OK, "from the first run");
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, &late, 1, &out) == FX_OK && out == FX_STORE_NEW);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 5, msg) == FX_OK && msg->tasks.count == 1);
    st_free_results(&late, 1);
    fx_msg_destroy(&msg);
    st_free_tasks(tasks, 2);
    st_teardown(&fix);
}

/* retries travels SUBMIT -> store -> TASKS unchanged. */
static void test_retries(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[3];
    uint32_t given[3] = {0, 2, FX_RETRIES_MAX};
    for (int i = 0; i < 3; i++) {
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
        tasks[i].retries = given[i];
    }
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 3, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 5, msg) == FX_OK && msg->tasks.count == 3);
    for (uint32_t i = 0; i < msg->tasks.count && i < 3; i++)
        CHECK(msg->tasks.tasks[i].retries == given[i]);
    fx_task_t bad;
    st_task(&bad, fix.alice_ep, fix.alice_fn, 9);
    bad.retries = FX_RETRIES_MAX + 1;
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &bad, 1, NULL, err, sizeof err) ==
          FX_E_BAD_FIELD);
    CHECK(strstr(err, "retries") != NULL);
    fx_msg_destroy(&msg);
    st_free_tasks(tasks, 3);
    st_free_tasks(&bad, 1);
    st_teardown(&fix);
}

static bool s_online(const char *endpoint_id, void *arg)
{
    return strcmp(endpoint_id, (const char *) arg) == 0;
}

/* CANCEL: queued ends now; dispatched to an online endpoint is marked and
   stays (its loss cancels it); to an offline one ends now; others' tasks
   and finished ones are untouched. */
static void test_cancel(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[5], bobs[1];
    for (int i = 0; i < 5; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    st_task(&bobs[0], fix.bob_ep, fix.bob_fn, 0);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 5, NULL, err, sizeof err) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.bob, fix.client, bobs, 1, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 3, msg) == FX_OK && msg->tasks.count == 3);
    fx_result_t done;
    st_result(&done, tasks[2].task_id, FX_RESULT_OK, "v");
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, &done, 1, NULL) == FX_OK);
    uint64_t unfinished = 0;
    CHECK(fx_store_unfinished(fix.store, fix.alice, &unfinished) == FX_OK && unfinished == 4);
    /* queued_only: only the queued ones (3, 4) end. */
    fx_id_text_t ids[6];
    for (int i = 0; i < 5; i++)
        memcpy(ids[i], tasks[i].task_id, sizeof ids[i]);
    memcpy(ids[5], bobs[0].task_id, sizeof ids[5]);
    fx_task_status_t out[6];
    fix.notified = 0;
    CHECK(fx_store_cancel(fix.store, fix.alice, ids + 3, 1, true, s_online, fix.alice_ep, out) == FX_OK);
    CHECK(out[0].state == FX_TASK_FAILED && fix.notified == 1);
    CHECK(fx_store_cancel(fix.store, fix.alice, ids, 6, true, s_online, fix.alice_ep, out) == FX_OK);
    CHECK(out[0].state == FX_TASK_DISPATCHED && out[1].state == FX_TASK_DISPATCHED);
    CHECK(out[2].state == FX_TASK_DONE && out[3].state == FX_TASK_FAILED && out[4].state == FX_TASK_FAILED);
    CHECK(out[5].state == FX_TASK_UNKNOWN && out[5].endpoint_id[0] == '\0');
    CHECK(st_state(&fix, fix.bob, bobs[0].task_id, NULL) == FX_TASK_QUEUED);
    CHECK(fx_store_unfinished(fix.store, fix.alice, &unfinished) == FX_OK && unfinished == 2);
    /* The cancelled result is an error result, pushed like any other. */
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    CHECK(st_fetch(fix.store, fix.alice, (const fx_id_text_t *) ids[4], 1, res) == FX_OK &&
          res->results.count == 1);
    if (res->results.count == 1) {
        fx_result_t *r = &res->results.results[0];
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_CANCELLED);
        CHECK(r->error_text && strstr(r->error_text, "cancelled before it ran"));
    }
    /* Full cancel, endpoint online: dispatched ones stay, marked. */
    CHECK(fx_store_cancel(fix.store, fix.alice, ids, 1, false, s_online, fix.alice_ep, out) == FX_OK);
    CHECK(out[0].state == FX_TASK_DISPATCHED && strcmp(out[0].endpoint_id, fix.alice_ep) == 0);
    /* Its endpoint is lost: the marked task ends cancelled, the other requeues. */
    uint32_t requeued = 0, cancelled = 0;
    CHECK(fx_store_requeue(fix.store, fix.alice_ep, &requeued, &cancelled) == FX_OK);
    CHECK(requeued == 1 && cancelled == 1);
    CHECK(st_state(&fix, fix.alice, ids[0], NULL) == FX_TASK_FAILED);
    CHECK(st_state(&fix, fix.alice, ids[1], NULL) == FX_TASK_QUEUED);
    /* Offline endpoint (live NULL): a dispatched task ends at once. */
    CHECK(st_dispatch(fix.store, fix.alice_ep, 3, msg) == FX_OK && msg->tasks.count == 1);
    CHECK(fx_store_cancel(fix.store, fix.alice, ids + 1, 1, false, NULL, NULL, out) == FX_OK);
    CHECK(out[0].state == FX_TASK_FAILED);
    CHECK(fx_store_unfinished(fix.store, fix.alice, &unfinished) == FX_OK && unfinished == 0);
    st_free_results(&done, 1);
    fx_msg_destroy(&res);
    fx_msg_destroy(&msg);
    st_free_tasks(tasks, 5);
    st_free_tasks(bobs, 1);
    st_teardown(&fix);
}

/* The per-user cap: a batch that would go over is refused whole; resends
   do not count; results make room; another user is not affected. */
static void test_queue_cap(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_store_set_queue_cap(fix.store, 5);
    fx_task_t tasks[6], bobs[5];
    for (int i = 0; i < 6; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    for (int i = 0; i < 5; i++)
        st_task(&bobs[i], fix.bob_ep, fix.bob_fn, i);
    uint32_t stored = 0;
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 4, &stored, err, sizeof err) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks + 4, 2, &stored, err, sizeof err) ==
          FX_E_LIMIT);
    CHECK(strstr(err, " 4 ") && strstr(err, " 5 "));
    CHECK(st_state(&fix, fix.alice, tasks[4].task_id, NULL) == FX_TASK_UNKNOWN);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 5, &stored, err, sizeof err) == FX_OK);
    CHECK(stored == 1); /* four resent, one new: 5 */
    CHECK(fx_store_submit(fix.store, fix.bob, fix.client, bobs, 5, &stored, err, sizeof err) == FX_OK);
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 1, msg) == FX_OK && msg->tasks.count == 1);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks + 5, 1, &stored, err, sizeof err) ==
          FX_E_LIMIT); /* dispatched still counts */
    fx_result_t r;
    st_result(&r, tasks[0].task_id, FX_RESULT_OK, "v");
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, &r, 1, NULL) == FX_OK);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks + 5, 1, &stored, err, sizeof err) == FX_OK);
    uint64_t unfinished = 0;
    CHECK(fx_store_unfinished(fix.store, fix.alice, &unfinished) == FX_OK && unfinished == 5);
    st_free_results(&r, 1);
    fx_msg_destroy(&msg);
    st_free_tasks(tasks, 6);
    st_free_tasks(bobs, 5);
    st_teardown(&fix);
}

/* A version 1 database (no retries, no cancel) is upgraded in place. */
static void test_migration(void *ctx)
{
    char dir[] = "/tmp/fx_store_mig.XXXXXX", path[300], err[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/fx.db", dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE TABLE tasks (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, owner TEXT NOT "
                       "NULL, client_id TEXT NOT NULL, endpoint TEXT NOT NULL, function TEXT NOT NULL, state "
                       "INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, "
                       "updated INTEGER NOT NULL, py_version TEXT NOT NULL, serializer TEXT NOT NULL, "
                       "walltime_ms INTEGER NOT NULL, payload BLOB NOT NULL);"
                       "INSERT INTO tasks VALUES(1, 'x', 'o', 'c', 'e', 'f', 1, 0, 0, 0, '', '', 0, x'');"
                       "PRAGMA user_version = 1;",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    fx_store_t *store = fx_store_open(dir, err, sizeof err);
    CHECK(store != NULL);
    fx_store_destroy(&store);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT retries, cancel FROM tasks", -1, &st, NULL) == SQLITE_OK);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == FX_RETRIES_DEFAULT &&
          sqlite3_column_int(st, 1) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Closes the fixture's store, runs sql on its database (an older schema
   made from a fresh one) and opens the store again (true if it opened). */
static bool s_reopen_after(st_fix_t *fix, const char *sql)
{
    char path[400], state[300], err[512];
    fx_store_destroy(&fix->store);
    snprintf(path, sizeof path, "%s/state/sub/fx.db", fix->dir);
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    snprintf(state, sizeof state, "%s/state/sub", fix->dir);
    fix->store = fx_store_open(state, err, sizeof err);
    CHECK(fix->store != NULL, "%s", err);
    return fix->store != NULL;
}

/* A version 5 database (no containers) keeps its tasks and versions and
   gains the containers table and the container columns: made here from a
   fresh one with those removed again. */
static void test_migration_5_6(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512], path[400];
    fx_task_t task;
    st_task(&task, fix.alice_ep, fix.alice_fn, 1);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, &task, 1, NULL, err, sizeof err) == FX_OK);
    st_free_tasks(&task, 1);
    snprintf(path, sizeof path, "%s/state/sub/fx.db", fix.dir);
    sqlite3 *db = NULL;
    if (!s_reopen_after(&fix, "DROP TABLE containers; ALTER TABLE tasks DROP COLUMN container;"
                              "ALTER TABLE function_versions DROP COLUMN container;"
                              /* and what version 7 added */
                              "DROP INDEX tasks_outcome; ALTER TABLE tasks DROP COLUMN outcome;"
                              "PRAGMA user_version = 5;")) {
        st_teardown(&fix);
        return;
    }
    uint32_t queued = 0;
    CHECK(fx_store_queued_count(fix.store, fix.alice_ep, &queued) == FX_OK && queued == 1);
    fx_id_text_t c;
    fx_id_new(c);
    CHECK(fx_store_container_register(fix.store, fix.alice, c, "py", "podman", "python:3.11", NULL, NULL, err,
                                      sizeof err) == FX_OK,
          "%s", err);
    fx_msg_t *tasks = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 10, tasks) == FX_OK && tasks->tasks.count == 1 &&
          tasks->tasks.tasks[0].container[0] == '\0');
    fx_msg_destroy(&tasks);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 7);
    sqlite3_finalize(st);
    sqlite3_close(db);
    st_teardown(&fix);
}

/* Containers (SPEC 5.33): registered, the same again a no-op, an update
   says whether the definition changed, another user's id a conflict, bad
   runtimes and images refused; owned checks; a task's own container and
   its version's resolved at dispatch. */
static void test_containers(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_id_text_t c1, c2;
    fx_id_new(c1);
    fx_id_new(c2);
    bool changed = true;
    CHECK(fx_store_container_register(fix.store, fix.alice, c1, "py", "podman", "python:3.11", NULL, &changed,
                                      err, sizeof err) == FX_OK && !changed);
    CHECK(fx_store_container_register(fix.store, fix.alice, c1, "py", "podman", "python:3.11", NULL, &changed,
                                      err, sizeof err) == FX_OK && !changed);
    CHECK(fx_store_container_register(fix.store, fix.alice, c1, "py", "podman", "python:3.11", "doc", &changed,
                                      err, sizeof err) == FX_OK && !changed);
    CHECK(fx_store_container_register(fix.store, fix.alice, c1, "py", "podman", "python:3.12", "doc", &changed,
                                      err, sizeof err) == FX_OK && changed);
    CHECK(fx_store_container_register(fix.store, fix.bob, c1, "py", "podman", "x", NULL, NULL, err, sizeof err) ==
          FX_E_CONFLICT);
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "docker", "", NULL, NULL, err, sizeof err) ==
          FX_E_BAD_FIELD);
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "rkt", "x", NULL, NULL, err, sizeof err) ==
              FX_E_BAD_FIELD &&
          strstr(err, "singularity"));
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "bwrap", "", NULL, NULL, err, sizeof err) ==
          FX_OK);
    char long_image[FX_IMAGE_MAX + 2];
    memset(long_image, 'i', sizeof long_image);
    long_image[FX_IMAGE_MAX] = '\0'; /* the longest an image may be */
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "docker", long_image, NULL, NULL, err,
                                      sizeof err) == FX_OK,
          "%s", err);
    long_image[FX_IMAGE_MAX] = 'i';
    long_image[FX_IMAGE_MAX + 1] = '\0';
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "docker", long_image, NULL, NULL, err,
                                      sizeof err) == FX_E_BAD_FIELD);
    CHECK(fx_store_container_register(fix.store, fix.alice, c2, "b", "bwrap", "", NULL, NULL, err, sizeof err) ==
          FX_OK);
    CHECK(fx_store_container_owned(fix.store, fix.alice, c1, err, sizeof err) == FX_OK);
    CHECK(fx_store_container_owned(fix.store, fix.alice, "", err, sizeof err) == FX_OK);
    CHECK(fx_store_container_owned(fix.store, fix.bob, c1, err, sizeof err) == FX_E_NOT_FOUND);
    fx_container_def_t def;
    CHECK(fx_store_container_get(fix.store, c1, &def) == FX_OK && strcmp(def.image, "python:3.12") == 0 &&
          strcmp(def.runtime, "podman") == 0 && strcmp(def.container_id, c1) == 0);
    fx_store_container_row_t rows[4];
    uint32_t n = 0;
    CHECK(fx_store_list_containers(fix.store, fix.alice, 4, rows, &n) == FX_OK && n == 2 &&
          strcmp(rows[0].def.container_id, c1) == 0 && strcmp(rows[0].description, "doc") == 0 &&
          strcmp(rows[1].def.runtime, "bwrap") == 0);
    CHECK(fx_store_list_containers(fix.store, fix.bob, 4, rows, &n) == FX_OK && n == 0);
    /* a task's own container; Bob's is refused, nothing stored */
    fx_task_t tasks[2];
    st_task(&tasks[0], fix.alice_ep, fix.alice_fn, 0);
    st_task(&tasks[1], fix.alice_ep, fix.alice_fn, 1);
    fx_strlcpy(tasks[0].container, c2, sizeof tasks[0].container);
    fx_id_text_t bobs;
    fx_id_new(bobs);
    CHECK(fx_store_container_register(fix.store, fix.bob, bobs, "b", "bwrap", "", NULL, NULL, err, sizeof err) ==
          FX_OK);
    fx_strlcpy(tasks[1].container, bobs, sizeof tasks[1].container);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 2, NULL, err, sizeof err) == FX_E_NOT_FOUND);
    tasks[1].container[0] = '\0';
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 2, NULL, err, sizeof err) == FX_OK);
    st_free_tasks(tasks, 2);
    fx_msg_t *out = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 10, out) == FX_OK && out->tasks.count == 2 &&
          strcmp(out->tasks.tasks[0].container, c2) == 0 && out->tasks.tasks[1].container[0] == '\0');
    fx_msg_destroy(&out);
    st_teardown(&fix);
}

/* LIST rows: endpoints oldest first with their queued counts; tasks and
   functions newest first; at most max. (The table clients see is made by
   the broker: fx_client_list.c, checked by the wire tests.) */
static void test_list(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[3];
    for (int i = 0; i < 3; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 3, NULL, err, sizeof err) == FX_OK);
    CHECK(fx_store_endpoint_seen(fix.store, fix.alice_ep2, 1700000000000) == FX_OK);
    fx_store_endpoint_row_t eps[4];
    uint32_t n = 0;
    CHECK(fx_store_list_endpoints(fix.store, fix.alice, 4, eps, &n) == FX_OK && n == 2);
    if (n == 2) {
        CHECK(strcmp(eps[0].id, fix.alice_ep) == 0 && strcmp(eps[0].name, "laptop") == 0);
        CHECK(!eps[0].seen && eps[0].queued == 3);
        CHECK(strcmp(eps[1].id, fix.alice_ep2) == 0 && eps[1].seen && eps[1].last_seen_ms == 1700000000000);
        CHECK(eps[1].queued == 0);
    }
    CHECK(fx_store_list_endpoints(fix.store, fix.alice, 1, eps, &n) == FX_OK && n == 1);
    fx_store_task_row_t ts[3];
    fx_store_task_filter_t any;
    fx_store_task_filter_init(&any);
    CHECK(fx_store_list_tasks(fix.store, fix.alice, &any, 2, ts, &n) == FX_OK && n == 2);
    if (n == 2) {
        CHECK(strcmp(ts[0].id, tasks[2].task_id) == 0 && ts[0].state == FX_TASK_QUEUED);
        CHECK(strcmp(ts[0].endpoint_id, fix.alice_ep) == 0 && strcmp(ts[0].function_id, fix.alice_fn) == 0);
        CHECK(strcmp(ts[1].id, tasks[1].task_id) == 0 && ts[1].attempts == 0);
    }
    CHECK(ts[0].cursor > ts[1].cursor && ts[1].cursor > 0);
    CHECK(fx_store_list_tasks(fix.store, fix.bob, &any, 3, ts, &n) == FX_OK && n == 0);
    fx_store_function_row_t fns[2];
    CHECK(fx_store_list_functions(fix.store, fix.bob, 2, fns, &n) == FX_OK && n == 1);
    if (n == 1)
        CHECK(strcmp(fns[0].id, fix.bob_fn) == 0 && strcmp(fns[0].name, "echo") == 0 &&
              fns[0].kind == FX_FN_SHELL);
    st_free_tasks(tasks, 3);
    st_teardown(&fix);
}

/* The WAL's bound (fx_store_wal_bound): commits as the broker makes them
   (deferred sync, a wal hook), back to back; each time the WAL is past
   FX_STORE_WAL_BOUND_PAGES the writer's own checkpoint copies all of it
   and the next commit starts the WAL over, so it never grows much past the
   bound, over many times the bound's worth of commits. */
static void test_wal_bound(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    CHECK(fx_store_defer_sync(fix.store, err, sizeof err) == FX_OK);
    fx_store_set_queue_cap(fix.store, 0);
    int most = 0, bounded = 0, started_over = 0;
    fx_task_t tasks[8];
    for (int batch = 0; batch < 3000; batch++) {
        for (int i = 0; i < 8; i++)
            st_task(&tasks[i], fix.alice_ep, fix.alice_fn, batch * 8 + i);
        int before = fx_store_wal_pages(fix.store);
        uint32_t stored = 0;
        CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 8, &stored, err, sizeof err) == FX_OK);
        st_free_tasks(tasks, 8);
        int pages = fx_store_wal_pages(fix.store);
        started_over += pages < before;
        most = pages > most ? pages : most;
        int rc = fx_store_wal_bound(fix.store, err, sizeof err);
        CHECK(rc >= 0, "%s", err);
        if (rc == 1) {
            bounded++;
            CHECK(pages >= FX_STORE_WAL_BOUND_PAGES);
        }
    }
    printf("  wal: at most %d pages, bounded %d times, started over %d times\n", most, bounded, started_over);
    CHECK(bounded >= 2 && started_over >= bounded);
    CHECK(most < FX_STORE_WAL_BOUND_PAGES + 200); /* one commit's pages past the bound */
    st_teardown(&fix);
}

/* LIST's filters (SPEC 5.16) on three finished tasks (a success, an
   exception, a walltime error) and one queued: each filter's rows. */
static void s_check_outcomes(st_fix_t *fix, const fx_task_t *tasks)
{
    fx_store_task_row_t ts[8];
    uint32_t n = 0;
    fx_store_task_filter_t f;
    fx_store_task_filter_init(&f);
    f.outcome = 0;
    CHECK(fx_store_list_tasks(fix->store, fix->alice, &f, 8, ts, &n) == FX_OK && n == 1 &&
          strcmp(ts[0].id, tasks[0].task_id) == 0);
    f.outcome = 1;
    CHECK(fx_store_list_tasks(fix->store, fix->alice, &f, 8, ts, &n) == FX_OK && n == 2 &&
          strcmp(ts[0].id, tasks[2].task_id) == 0 && strcmp(ts[1].id, tasks[1].task_id) == 0);
    f.state = FX_TASK_FAILED;
    f.error_code = FX_E_WALLTIME;
    CHECK(fx_store_list_tasks(fix->store, fix->alice, &f, 8, ts, &n) == FX_OK && n == 1 &&
          strcmp(ts[0].id, tasks[2].task_id) == 0);
    f.error_code = FX_E_CANCELLED;
    CHECK(fx_store_list_tasks(fix->store, fix->alice, &f, 8, ts, &n) == FX_OK && n == 0);
    fx_store_task_filter_init(&f);
    f.state = FX_TASK_QUEUED;
    CHECK(fx_store_list_tasks(fix->store, fix->alice, &f, 8, ts, &n) == FX_OK && n == 1 &&
          strcmp(ts[0].id, tasks[3].task_id) == 0);
}

/* tasks.outcome is set with each result, and filled from the stored
   results when a version 6 database (which lacks it) is opened. */
static void test_outcome(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    char err[512];
    fx_task_t tasks[4];
    for (int i = 0; i < 4; i++)
        st_task(&tasks[i], fix.alice_ep, fix.alice_fn, i);
    CHECK(fx_store_submit(fix.store, fix.alice, fix.client, tasks, 4, NULL, err, sizeof err) == FX_OK);
    fx_msg_t *out = fx_msg_new(FX_MSG_TASKS);
    CHECK(st_dispatch(fix.store, fix.alice_ep, 3, out) == FX_OK && out->tasks.count == 3);
    fx_msg_destroy(&out);
    fx_result_t r[3];
    st_result(&r[0], tasks[0].task_id, FX_RESULT_OK, "v");
    st_result(&r[1], tasks[1].task_id, FX_RESULT_EXCEPTION, "");
    st_result(&r[2], tasks[2].task_id, FX_RESULT_ERROR, "");
    CHECK(fx_store_results_commit(fix.store, fix.alice_ep, r, 3, NULL) == FX_OK);
    st_free_results(r, 3);
    s_check_outcomes(&fix, tasks);
    if (s_reopen_after(&fix, "DROP INDEX tasks_outcome; DROP INDEX tasks_endpoint; DROP INDEX tasks_function;"
                             "ALTER TABLE tasks DROP COLUMN outcome; PRAGMA user_version = 6;"))
        s_check_outcomes(&fix, tasks);
    st_free_tasks(tasks, 4);
    st_teardown(&fix);
}

/* Each filter alone walks one index newest first: no sort (a "TEMP
   B-TREE"), and the index the store names for it. So a page costs its
   rows, not the owner's tasks. */
static void test_list_plans(void *ctx)
{
    st_fix_t fix;
    st_setup(&fix);
    static const struct {
        const char *what;
        uint8_t state;
        int8_t outcome;
        int error_code;
        int endpoint, function; /* 1: by id, 2: by name */
        const char *index;
    } cases[] = {
        {"no filter", 0, -1, -1, 0, 0, "tasks_owner"},
        {"queued", FX_TASK_QUEUED, -1, -1, 0, 0, "tasks_owner_state"},
        {"dispatched", FX_TASK_DISPATCHED, -1, -1, 0, 0, "tasks_owner_state"},
        {"succeeded", 0, 0, -1, 0, 0, "tasks_outcome"},
        {"failed", 0, 1, -1, 0, 0, "tasks_outcome"},
        {"cancelled", FX_TASK_FAILED, 1, FX_E_CANCELLED, 0, 0, "tasks_outcome"},
        {"endpoint", 0, -1, -1, 1, 0, "tasks_endpoint"},
        {"endpoint and queued", FX_TASK_QUEUED, -1, -1, 1, 0, "tasks_queue"},
        {"function id", 0, -1, -1, 0, 1, "tasks_function"},
        {"function name", 0, -1, -1, 0, 2, "tasks_function"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx_store_task_filter_t f;
        fx_store_task_filter_init(&f);
        f.state = cases[i].state;
        f.outcome = cases[i].outcome;
        f.error_code = cases[i].error_code;
        f.endpoint_id = cases[i].endpoint ? fix.alice_ep : NULL;
        f.function = cases[i].function == 1 ? fix.alice_fn : cases[i].function == 2 ? "double" : NULL;
        f.before = 1000;
        f.since_ms = 1;
        char plan[1024], want[64];
        CHECK(fx_store_list_tasks_plan(fix.store, fix.alice, &f, plan, sizeof plan) == FX_OK);
        snprintf(want, sizeof want, "USING INDEX %s ", cases[i].index);
        CHECK(strstr(plan, want) != NULL, "%s: the plan is not on %s:\n%s", cases[i].what, cases[i].index,
              plan);
        CHECK(strstr(plan, "B-TREE") == NULL, "%s: the plan sorts:\n%s", cases[i].what, plan);
        CHECK(strstr(plan, "<?)") != NULL, "%s: the cursor is not a bound of the index:\n%s", cases[i].what,
              plan);
    }
    st_teardown(&fix);
}

static const fx_scenario_t s_scenarios[] = {
    {"wal_bound", test_wal_bound, false},
    {"schema", test_schema, false},
    {"users", test_users, false},
    {"registry", test_registry, false},
    {"submit", test_submit, false},
    {"dispatch_order", test_dispatch_order, false},
    {"results", test_results, false},
    {"requeue", test_requeue, false},
    {"retries", test_retries, false},
    {"cancel", test_cancel, false},
    {"queue_cap", test_queue_cap, false},
    {"migration", test_migration, false},
    {"migration_5_6", test_migration_5_6, false},
    {"containers", test_containers, false},
    {"list", test_list, false},
    {"outcome", test_outcome, false},
    {"list_plans", test_list_plans, false},
};

int main(int argc, char **argv)
{
    return fx_test_main("fx_store_test", argc - 1, argv + 1, s_scenarios,
                        sizeof s_scenarios / sizeof s_scenarios[0], NULL);
}
