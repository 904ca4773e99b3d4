/*  fx_store_testfix.c: the store tests' fixture (fx_store_testfix.h). */
#include "fx_store_testfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_check.h"
#include "fx_creds.h"

/* The result hook: counts notifications, keeps the last one. */
static void st_hook(const char *owner, const char *client_id, void *arg)
{
    st_fix_t *fix = arg;
    fix->notified++;
    snprintf(fix->last_owner, sizeof fix->last_owner, "%s", owner);
    snprintf(fix->last_client, sizeof fix->last_client, "%s", client_id);
}

void st_key(char out[FX_KEY_LEN + 1])
{
    fx_keypair_t kp;
    fx_keypair_new(&kp);
    memcpy(out, kp.public_key, FX_KEY_LEN + 1);
}

void st_setup(st_fix_t *fix)
{
    memset(fix, 0, sizeof *fix);
    snprintf(fix->dir, sizeof fix->dir, "/tmp/fx_store_test.XXXXXX");
    if (!mkdtemp(fix->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    char err[512], path[300], key[FX_KEY_LEN + 1];
    snprintf(path, sizeof path, "%s/state/sub", fix->dir); /* mkdir -p */
    fix->store = fx_store_open(path, err, sizeof err);
    if (!fix->store) {
        fprintf(stderr, "cannot open store: %s\n", err);
        exit(1);
    }
    fx_store_set_result_hook(fix->store, st_hook, fix);
    st_key(key);
    CHECK(fx_store_user_create(fix->store, "alice", key, fix->alice, err, sizeof err) == FX_OK);
    st_key(key);
    CHECK(fx_store_user_create(fix->store, "bob", key, fix->bob, err, sizeof err) == FX_OK);
    fx_id_new(fix->client);
    fx_id_new(fix->alice_fn);
    fx_id_new(fix->bob_fn);
    CHECK(fx_store_function_register(fix->store, fix->alice, fix->alice_fn, "double", FX_FN_PYTHON, "double",
                                     "def double(x): return 2*x", 25, err, sizeof err) == FX_OK);
    CHECK(fx_store_function_register(fix->store, fix->bob, fix->bob_fn, "echo", FX_FN_SHELL, "", "echo {0}",
                                     8, err, sizeof err) == FX_OK);
    fx_id_new(fix->alice_ep);
    fx_id_new(fix->alice_ep2);
    fx_id_new(fix->bob_ep);
    st_key(key);
    CHECK(fx_store_endpoint_register(fix->store, fix->alice, fix->alice_ep, "laptop", key, err, sizeof err) ==
          FX_OK);
    st_key(key);
    CHECK(fx_store_endpoint_register(fix->store, fix->alice, fix->alice_ep2, "cluster", key, err,
                                     sizeof err) == FX_OK);
    st_key(key);
    CHECK(fx_store_endpoint_register(fix->store, fix->bob, fix->bob_ep, "bobs", key, err, sizeof err) ==
          FX_OK);
}

void st_teardown(st_fix_t *fix)
{
    fx_store_destroy(&fix->store);
    CHECK(fix->store == NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fix->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fix->dir);
}

/* A SUBMIT-style task record; payload "p<n>". */
void st_task(fx_task_t *task, const char *endpoint, const char *function, int n)
{
    memset(task, 0, sizeof *task);
    fx_id_new(task->task_id);
    snprintf(task->endpoint_id, sizeof task->endpoint_id, "%s", endpoint);
    snprintf(task->function_id, sizeof task->function_id, "%s", function);
    snprintf(task->py_version, sizeof task->py_version, "3.11.2");
    snprintf(task->serializer, sizeof task->serializer, "pickle");
    task->walltime_ms = 1000u * (uint32_t) n;
    char payload[16];
    snprintf(payload, sizeof payload, "p%d", n);
    task->payload = zframe_new(payload, strlen(payload));
}

void st_free_tasks(fx_task_t *tasks, int n)
{
    for (int i = 0; i < n; i++)
        zframe_destroy(&tasks[i].payload);
}

int st_state(st_fix_t *fix, const char *owner, const char *task_id, uint32_t *attempts)
{
    fx_id_text_t id;
    fx_task_status_t status;
    memcpy(id, task_id, sizeof id);
    if (fx_store_status(fix->store, owner, (const fx_id_text_t *) &id, 1, &status) != FX_OK)
        return -1;
    if (attempts)
        *attempts = status.attempts;
    return status.state;
}

/* A result record for task_id. */
void st_result(fx_result_t *r, const char *task_id, int status, const char *value)
{
    memset(r, 0, sizeof *r);
    snprintf(r->task_id, sizeof r->task_id, "%s", task_id);
    r->status = (uint8_t) status;
    if (status == FX_RESULT_ERROR) {
        r->error_code = FX_E_WALLTIME;
        fx_result_set_text(r, "ran too long");
    }
    r->value = zframe_new(value, strlen(value));
    r->output = zframe_new("out", 3);
}

void st_free_results(fx_result_t *r, int n)
{
    for (int i = 0; i < n; i++) {
        free(r[i].error_text);
        zframe_destroy(&r[i].value);
        zframe_destroy(&r[i].output);
    }
}

static fx_task_t *s_room(uint32_t n, void *arg)
{
    fx_msg_t *tasks = arg;
    return fx_msg_alloc_records(tasks, n) == FX_OK ? tasks->tasks.tasks : NULL;
}

int st_dispatch(fx_store_t *store, const char *endpoint_id, uint32_t max, fx_msg_t *tasks)
{
    uint32_t n = 0;
    int rc = fx_msg_alloc_records(tasks, 0);
    if (rc == FX_OK)
        rc = fx_store_dispatch(store, endpoint_id, max, s_room, tasks, &n);
    tasks->tasks.count = n;
    return rc;
}

int st_pending(fx_store_t *store, const char *owner, const char *client_id, int64_t after, uint32_t max,
               fx_msg_t *results, int64_t *seqs)
{
    uint32_t n = 0;
    int rc = fx_msg_alloc_records(results, max);
    if (rc == FX_OK)
        rc =
            fx_store_results_pending(store, owner, client_id, after, max, results->results.results, seqs, &n);
    results->results.count = n;
    return rc;
}

int st_fetch(fx_store_t *store, const char *owner, const fx_id_text_t *ids, uint32_t count, fx_msg_t *results)
{
    uint32_t n = 0;
    int rc = fx_msg_alloc_records(results, count);
    if (rc == FX_OK)
        rc = fx_store_results_fetch(store, owner, ids, count, results->results.results, &n);
    results->results.count = n;
    return rc;
}

int st_mark_pushed(fx_store_t *store, const fx_msg_t *results)
{
    return fx_store_results_mark_pushed(store, results->results.results, results->results.count);
}
