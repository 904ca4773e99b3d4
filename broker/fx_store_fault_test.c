/*  fx_store_fault_test.c: the store when sqlite fails, SQLite-style. A
    failing VFS (fx_fault_vfs.h) makes the n-th write of an operation fail
    with SQLITE_FULL, for n = 0, 1, 2, ... until the operation gets through
    whole. After every failure: the store said FX_E_IO, nothing of the
    operation is visible (not in the database, not in the store's in-memory
    counts, no result hook ran), and what was committed before is there,
    also after the store is closed and opened again. After the fault: the
    same operation on the same store succeeds.

    Scenarios (fx_test_main; all by default): submit, dispatch, results
    (the commit of a RESULTS batch), push (marking results pushed), ack,
    requeue, cancel, register. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_check.h"
#include "fx_fault_vfs.h"
#include "fx_store_testfix.h"
#include "fx_testkit.h"

#define S_N 3

typedef struct {
    st_fix_t fix;
    fx_task_t base[2]; /* committed before the fault */
    fx_task_t tasks[S_N];
    fx_id_text_t ids[S_N];
    fx_result_t results[S_N];
    uint64_t unfinished; /* Alice's unfinished tasks before the operation */
} s_case_t;

static int s_states(s_case_t *c, int state)
{
    int n = 0;
    for (int i = 0; i < S_N; i++)
        n += st_state(&c->fix, c->fix.alice, c->ids[i], NULL) == state;
    return n;
}

static uint64_t s_unfinished(s_case_t *c)
{
    uint64_t n = 0;
    CHECK(fx_store_unfinished(c->fix.store, c->fix.alice, &n) == FX_OK);
    return n;
}

/* Two tasks committed before anything fails; S_N more prepared (submitted
   if `submit`, then dispatched if `dispatch`, then results committed if
   `results`). */
static void s_case_new(s_case_t *c, bool submit, bool dispatch, bool results)
{
    memset(c, 0, sizeof *c);
    st_setup(&c->fix);
    char err[512];
    for (int i = 0; i < 2; i++)
        st_task(&c->base[i], c->fix.alice_ep2, c->fix.alice_fn, i);
    CHECK(fx_store_submit(c->fix.store, c->fix.alice, c->fix.client, c->base, 2, NULL, err, sizeof err) ==
          FX_OK);
    for (int i = 0; i < S_N; i++) {
        st_task(&c->tasks[i], c->fix.alice_ep, c->fix.alice_fn, i);
        memcpy(c->ids[i], c->tasks[i].task_id, sizeof c->ids[i]);
        st_result(&c->results[i], c->ids[i], FX_RESULT_OK, "v");
    }
    if (submit)
        CHECK(fx_store_submit(c->fix.store, c->fix.alice, c->fix.client, c->tasks, S_N, NULL, err,
                              sizeof err) == FX_OK);
    if (dispatch) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
        CHECK(st_dispatch(c->fix.store, c->fix.alice_ep, S_N, msg) == FX_OK && msg->tasks.count == S_N);
        fx_msg_destroy(&msg);
    }
    if (results)
        CHECK(fx_store_results_commit(c->fix.store, c->fix.alice_ep, c->results, S_N, NULL) == FX_OK);
    c->unfinished = s_unfinished(c);
    c->fix.notified = 0;
}

/* What was committed before the fault is all there, in this store and in
   the same file opened again (the WAL replayed, no torn transaction). */
static void s_case_destroy(s_case_t *c)
{
    char dir[300], err[512];
    snprintf(dir, sizeof dir, "%s/state/sub", c->fix.dir);
    fx_store_destroy(&c->fix.store);
    c->fix.store = fx_store_open(dir, err, sizeof err);
    CHECK(c->fix.store != NULL, "reopening after the faults: %s", err);
    for (int i = 0; c->fix.store && i < 2; i++)
        CHECK(st_state(&c->fix, c->fix.alice, c->base[i].task_id, NULL) == FX_TASK_QUEUED);
    st_free_tasks(c->base, 2);
    st_free_tasks(c->tasks, S_N);
    st_free_results(c->results, S_N);
    st_teardown(&c->fix);
}

typedef int (*s_op_fn)(s_case_t *c);
typedef void (*s_check_fn)(s_case_t *c);

/* op with its n-th write failing, n = 0, 1, ...: each failure must be
   FX_E_IO and leave `unchanged` true; then op must have succeeded, with
   the fault not hit (so every write of op was failed once). */
static void s_every_write(s_case_t *c, const char *what, s_op_fn op, s_check_fn unchanged)
{
    int failed = 0;
    for (uint64_t after = 0; after < 1000; after++) {
        uint64_t before = fx_fault_vfs_failures();
        fx_fault_vfs_arm(after, 0);
        int rc = op(c);
        fx_fault_vfs_disarm();
        bool hit = fx_fault_vfs_failures() > before;
        if (rc == FX_OK) {
            CHECK(!hit, "%s: write %llu failed, yet the store said FX_OK", what, (unsigned long long) after);
            break;
        }
        failed++;
        CHECK(rc == FX_E_IO, "%s: write %llu failed: %s, not FX_E_IO", what, (unsigned long long) after,
              fx_errname(rc));
        CHECK(strlen(fx_store_errmsg(c->fix.store)) > 0);
        CHECK(c->fix.notified == 0, "%s: the result hook ran for a failed commit", what);
        unchanged(c);
    }
    printf("%s: failed at each of its first %d writes, then succeeded\n", what, failed);
    CHECK(failed > 0, "%s: no write to fail", what);
}

/* ---------------------------------------------------------------- submit */

static int s_op_submit(s_case_t *c)
{
    char err[512] = "";
    int rc = fx_store_submit(c->fix.store, c->fix.alice, c->fix.client, c->tasks, S_N, NULL, err, sizeof err);
    CHECK(rc == FX_OK || strlen(err) > 0);
    return rc;
}

static void s_unchanged_submit(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_UNKNOWN) == S_N);
    CHECK(s_unfinished(c) == c->unfinished);
}

static void test_submit(void *ctx)
{
    s_case_t c;
    s_case_new(&c, false, false, false);
    s_every_write(&c, "submit", s_op_submit, s_unchanged_submit);
    CHECK(s_states(&c, FX_TASK_QUEUED) == S_N && s_unfinished(&c) == c.unfinished + S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- dispatch */

static int s_op_dispatch(s_case_t *c)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    int rc = st_dispatch(c->fix.store, c->fix.alice_ep, S_N, msg);
    CHECK(rc == FX_OK ? msg->tasks.count == S_N : msg->tasks.count == 0);
    fx_msg_destroy(&msg);
    return rc;
}

static void s_unchanged_dispatch(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_QUEUED) == S_N);
}

static void test_dispatch(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, false, false);
    s_every_write(&c, "dispatch", s_op_dispatch, s_unchanged_dispatch);
    CHECK(s_states(&c, FX_TASK_DISPATCHED) == S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- results */

static int s_op_results(s_case_t *c)
{
    fx_store_outcome_t out[S_N];
    return fx_store_results_commit(c->fix.store, c->fix.alice_ep, c->results, S_N, out);
}

static void s_unchanged_results(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_DISPATCHED) == S_N);
    CHECK(s_unfinished(c) == c->unfinished);
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    CHECK(st_fetch(c->fix.store, c->fix.alice, c->ids, S_N, msg) == FX_OK && msg->results.count == 0);
    fx_msg_destroy(&msg);
}

static void test_results(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, true, false);
    s_every_write(&c, "results", s_op_results, s_unchanged_results);
    CHECK(s_states(&c, FX_TASK_DONE) == S_N && c.fix.notified == S_N);
    CHECK(s_unfinished(&c) == c.unfinished - S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- push */

/* The results waiting to be pushed to Alice's client. */
static uint32_t s_pending(s_case_t *c)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    int64_t seqs[S_N];
    CHECK(st_pending(c->fix.store, c->fix.alice, c->fix.client, 0, S_N, msg, seqs) == FX_OK);
    uint32_t n = msg->results.count;
    fx_msg_destroy(&msg);
    return n;
}

static int s_op_push(s_case_t *c)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    int64_t seqs[S_N];
    CHECK(st_pending(c->fix.store, c->fix.alice, c->fix.client, 0, S_N, msg, seqs) == FX_OK);
    int rc = st_mark_pushed(c->fix.store, msg);
    fx_msg_destroy(&msg);
    return rc;
}

static void s_unchanged_push(s_case_t *c)
{
    CHECK(s_pending(c) == S_N); /* not marked: pushed when the disk is back */
}

static void test_push(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, true, true);
    s_every_write(&c, "push", s_op_push, s_unchanged_push);
    CHECK(s_pending(&c) == 0);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- ack */

static int s_op_ack(s_case_t *c)
{
    uint32_t acked = 0;
    int rc = fx_store_results_ack(c->fix.store, c->fix.alice, c->ids, S_N, NULL, &acked);
    CHECK(rc == FX_OK ? acked == S_N : acked == 0);
    return rc;
}

static void s_unchanged_ack(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_DONE) == S_N);
}

static void test_ack(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, true, true);
    s_every_write(&c, "ack", s_op_ack, s_unchanged_ack);
    CHECK(s_states(&c, FX_TASK_DELIVERED) == S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- requeue */

static int s_op_requeue(s_case_t *c)
{
    uint32_t requeued = 0;
    int rc = fx_store_requeue(c->fix.store, c->fix.alice_ep, &requeued, NULL);
    CHECK(rc != FX_OK || requeued == S_N);
    return rc;
}

static void s_unchanged_requeue(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_DISPATCHED) == S_N);
}

static void test_requeue(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, true, false);
    s_every_write(&c, "requeue", s_op_requeue, s_unchanged_requeue);
    CHECK(s_states(&c, FX_TASK_QUEUED) == S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- cancel */

static int s_op_cancel(s_case_t *c)
{
    fx_task_status_t out[S_N];
    return fx_store_cancel(c->fix.store, c->fix.alice, c->ids, S_N, false, NULL, NULL, out);
}

static void s_unchanged_cancel(s_case_t *c)
{
    CHECK(s_states(c, FX_TASK_QUEUED) == S_N);
    CHECK(s_unfinished(c) == c->unfinished);
}

static void test_cancel(void *ctx)
{
    s_case_t c;
    s_case_new(&c, true, false, false);
    s_every_write(&c, "cancel", s_op_cancel, s_unchanged_cancel);
    CHECK(s_states(&c, FX_TASK_FAILED) == S_N && c.fix.notified == S_N);
    CHECK(s_unfinished(&c) == c.unfinished - S_N);
    s_case_destroy(&c);
}

/* ---------------------------------------------------------------- register */

static fx_id_text_t s_new_fn;

static int s_op_register(s_case_t *c)
{
    char err[512] = "";
    int rc = fx_store_function_register(c->fix.store, c->fix.alice, s_new_fn, "f", FX_FN_SHELL, "", "true", 4,
                                        err, sizeof err);
    CHECK(rc == FX_OK || strstr(err, s_new_fn));
    return rc;
}

static void s_unchanged_register(s_case_t *c)
{
    fx_task_t task;
    char err[512];
    st_task(&task, c->fix.alice_ep, s_new_fn, 0);
    CHECK(fx_store_submit(c->fix.store, c->fix.alice, c->fix.client, &task, 1, NULL, err, sizeof err) ==
          FX_E_NOT_FOUND);
    st_free_tasks(&task, 1);
}

static void test_register(void *ctx)
{
    s_case_t c;
    s_case_new(&c, false, false, false);
    fx_id_new(s_new_fn);
    s_every_write(&c, "register", s_op_register, s_unchanged_register);
    s_case_destroy(&c);
}

static const fx_scenario_t s_scenarios[] = {
    {"submit", test_submit, false}, {"dispatch", test_dispatch, false}, {"results", test_results, false},
    {"push", test_push, false},     {"ack", test_ack, false},           {"requeue", test_requeue, false},
    {"cancel", test_cancel, false}, {"register", test_register, false},
};

int main(int argc, char **argv)
{
    if (fx_fault_vfs_install() != 0) {
        fprintf(stderr, "fx_store_fault_test: cannot register the failing VFS\n");
        return 1;
    }
    return fx_test_main("fx_store_fault_test", argc - 1, argv + 1, s_scenarios,
                        sizeof s_scenarios / sizeof s_scenarios[0], NULL);
}
