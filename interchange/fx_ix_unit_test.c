/*  fx_ix_unit_test.c: the interchange's data structures without sockets or
    processes: task FIFO and index, manager registry, dispatch strategy,
    result store, stats, endpoint.conf's manager_bind, managers.pids. Each check names what broke. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_conf.h"
#include "fx_ix_identity.h"
#include "fx_ix_lifecycle.h"
#include "fx_ix_managers.h"
#include "fx_ix_provider.h"
#include "fx_ix_results.h"
#include "fx_ix_stats.h"
#include "fx_ix_strategy.h"
#include "fx_ix_tasks.h"

#include "fx_check.h"
#include "fx_testkit.h"

static fx_task_t s_task(fx_id_text_t id)
{
    fx_task_t t;
    memset(&t, 0, sizeof t);
    fx_id_new(id);
    memcpy(t.task_id, id, sizeof t.task_id);
    t.body = zframe_new("body", 4);
    t.payload = zframe_new("args", 4);
    return t;
}

static fx_msg_t *s_hello(const char *manager_id)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_MANAGER_HELLO);
    fx_strlcpy(m->manager_hello.manager_id, manager_id, sizeof m->manager_hello.manager_id);
    fx_strlcpy(m->manager_hello.host, "node1", sizeof m->manager_hello.host);
    m->manager_hello.workers = 2;
    return m;
}

static void scenario_fifo_and_requeue(void *ctx)
{
    (void) ctx;
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_id_text_t ids[3];
    for (int i = 0; i < 3; i++) {
        fx_task_t t = s_task(ids[i]);
        CHECK(fx_ix_tasks_add(q, &t) == FX_OK, "add %d", i);
        CHECK(t.body == NULL && t.payload == NULL, "frames moved into the store");
    }
    fx_id_text_t scratch;
    fx_task_t dup = s_task(scratch);
    memcpy(dup.task_id, ids[1], sizeof dup.task_id);
    CHECK(fx_ix_tasks_add(q, &dup) == FX_E_CONFLICT, "a second copy of a held task is refused");
    zframe_destroy(&dup.body);
    zframe_destroy(&dup.payload);
    CHECK(fx_ix_tasks_queued(q) == 3 && fx_ix_tasks_held(q) == 3, "3 queued, 3 held");

    fx_ix_task_t *a = fx_ix_tasks_pop(q), *b = fx_ix_tasks_pop(q);
    CHECK(a && strcmp(a->task.task_id, ids[0]) == 0, "FIFO order: first");
    CHECK(b && strcmp(b->task.task_id, ids[1]) == 0, "FIFO order: second");
    CHECK(fx_ix_tasks_queued(q) == 1 && fx_ix_tasks_held(q) == 3, "popped tasks stay held");
    /* a lost manager gives back a then b: requeued from the back */
    fx_ix_tasks_requeue(q, b);
    fx_ix_tasks_requeue(q, a);
    CHECK(fx_ix_tasks_peek(q) == a && a->task.attempt == 1 && a->requeues == 1,
          "requeued at the front with the next attempt number");
    fx_ix_task_t *c = fx_ix_tasks_find(q, ids[2]);
    CHECK(c != NULL, "find by id");
    fx_ix_tasks_done(q, &c);
    CHECK(c == NULL && fx_ix_tasks_held(q) == 2 && fx_ix_tasks_queued(q) == 2,
          "done on a queued task takes it out of the FIFO");
    fx_task_t copy;
    CHECK(fx_ix_task_copy(a, &copy) == FX_OK && zframe_size(copy.payload) == 4, "copy dups frames");
    zframe_destroy(&copy.body);
    zframe_destroy(&copy.payload);
    fx_ix_tasks_destroy(&q);
    CHECK(q == NULL, "destroy clears the pointer");
}

static void scenario_registry_and_dispatch(void *ctx)
{
    (void) ctx;
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_ix_managers_t *reg = fx_ix_managers_new();
    zlistx_t *orphans = zlistx_new();
    zframe_t *r1 = zframe_new("\x00\x01", 2), *r2 = zframe_new("\x00\x02", 2);
    fx_id_text_t mid1, mid2;
    fx_id_new(mid1);
    fx_id_new(mid2);
    fx_msg_t *h1 = s_hello(mid1), *h2 = s_hello(mid2);
    fx_ix_manager_t *m1 = fx_ix_managers_hello(reg, r1, h1, 1000, orphans);
    fx_ix_manager_t *m2 = fx_ix_managers_hello(reg, r2, h2, 1000, orphans);
    CHECK(m1 && m2 && fx_ix_managers_size(reg) == 2, "two managers");
    fx_ix_manager_t *found = NULL;
    CHECK(fx_ix_managers_session(reg, r2, &found) == FX_IX_SESSION_ACTIVE && found == m2,
          "after MANAGER_HELLO the routing id is ACTIVE, with its record");
    zframe_t *r3 = zframe_new("\x00\x03", 2);
    CHECK(fx_ix_managers_session(reg, r3, &found) == FX_IX_SESSION_NONE && found == NULL,
          "a routing id that said no hello is NONE");
    CHECK(fx_ix_strategy_pick(reg, NULL) == NULL, "no window yet: nobody gets a task");
    fx_ix_manager_set_window(m1, 2);
    fx_ix_manager_set_window(m2, 3);
    CHECK(fx_ix_managers_window(reg) == 5, "window sum");

    fx_id_text_t ids[6];
    for (int i = 0; i < 6; i++) {
        fx_task_t t = s_task(ids[i]);
        fx_ix_tasks_add(q, &t);
    }
    int to_m1 = 0, to_m2 = 0;
    for (fx_ix_task_t *t = fx_ix_tasks_peek(q); t; t = fx_ix_tasks_peek(q)) {
        fx_ix_manager_t *m = fx_ix_strategy_pick(reg, t);
        if (!m)
            break;
        fx_ix_tasks_pop(q);
        fx_ix_manager_hold(m, t);
        if (m == m1)
            to_m1++;
        else
            to_m2++;
    }
    CHECK(to_m1 == 2 && to_m2 == 3, "dispatch fills windows exactly: m1 %d m2 %d", to_m1, to_m2);
    CHECK(fx_ix_tasks_queued(q) == 1, "the sixth task waits");
    CHECK(fx_ix_manager_free(m1) == 0 && fx_ix_manager_in_flight(m2) == 3, "in flight counted");
    CHECK(zlistx_size(fx_ix_manager_outbox(m2)) == 3, "outbox holds the batch");
    CHECK(fx_ix_managers_workers(reg) == 4 && fx_ix_managers_free(reg) == 0,
          "status sums: workers 4, free 0 (got %llu, %llu)", (unsigned long long) fx_ix_managers_workers(reg),
          (unsigned long long) fx_ix_managers_free(reg));
    CHECK(fx_ix_managers_by_id(reg, mid1) == m1 && fx_ix_managers_by_id(reg, "nope") == NULL, "find by id");
    zlistx_purge(fx_ix_manager_outbox(m1));
    zlistx_purge(fx_ix_manager_outbox(m2));

    /* a result frees a slot */
    fx_ix_task_t *first = fx_ix_tasks_find(q, ids[0]);
    fx_ix_manager_t *holder = first->holder;
    fx_ix_manager_release(holder, first);
    fx_ix_tasks_done(q, &first);
    CHECK(fx_ix_manager_free(holder) == 1, "result released a slot");

    CHECK(holder == m2, "the first task went to the manager with the most room");
    /* m2 says hello again on the same connection: its 2 tasks are orphans */
    fx_ix_manager_t *m2b = fx_ix_managers_hello(reg, r2, h2, 2000, orphans);
    CHECK(m2b && fx_ix_managers_size(reg) == 2 && zlistx_size(orphans) == 2,
          "re-hello replaces the record and gives back %zu tasks", zlistx_size(orphans));
    CHECK(fx_ix_manager_window(m2b) == 0, "the new session has no window until CREDIT");
    CHECK(fx_ix_tasks_requeue_all(q, orphans) == 2 && zlistx_size(orphans) == 0,
          "orphans requeued, list emptied");
    CHECK(fx_ix_tasks_queued(q) == 3, "orphans back in the FIFO");

    /* m1 silent: expires */
    fx_ix_manager_heard(m2b, 9000);
    int lost = fx_ix_managers_expire(reg, 9000, 5000, orphans);
    CHECK(lost == 1 && fx_ix_managers_size(reg) == 1 && zlistx_size(orphans) == 2,
          "m1 lost after 5 s of silence with its 2 tasks");
    CHECK(fx_ix_managers_session(reg, r1, &found) == FX_IX_SESSION_NONE,
          "a lost manager's routing id is NONE");
    fx_ix_tasks_requeue_all(q, orphans);
    CHECK(fx_ix_tasks_held(q) == 5 && fx_ix_tasks_queued(q) == 5, "nothing lost: 5 held, 5 queued");

    fx_msg_destroy(&h1);
    fx_msg_destroy(&h2);
    zframe_destroy(&r1);
    zframe_destroy(&r2);
    zframe_destroy(&r3);
    zlistx_destroy(&orphans);
    fx_ix_managers_destroy(&reg);
    fx_ix_tasks_destroy(&q);
}

static fx_result_t s_result(fx_id_text_t id)
{
    fx_result_t r;
    memset(&r, 0, sizeof r);
    fx_id_new(id);
    memcpy(r.task_id, id, sizeof r.task_id);
    r.value = zframe_new("v", 1);
    r.output = zframe_new("", 0);
    fx_result_set_text(&r, "text");
    return r;
}

static void scenario_results(void *ctx)
{
    (void) ctx;
    fx_ix_results_t *rs = fx_ix_results_new();
    fx_id_text_t ids[3];
    for (int i = 0; i < 3; i++) {
        fx_result_t r = s_result(ids[i]);
        CHECK(fx_ix_results_add(rs, &r) == FX_OK, "add result %d", i);
        CHECK(!r.value && !r.output && !r.error_text, "result moved");
    }
    fx_id_text_t scratch;
    fx_result_t dup = s_result(scratch);
    memcpy(dup.task_id, ids[0], sizeof dup.task_id);
    CHECK(fx_ix_results_add(rs, &dup) == FX_E_CONFLICT, "one result per task id");
    free(dup.error_text);
    zframe_destroy(&dup.value);
    zframe_destroy(&dup.output);
    CHECK(fx_ix_results_unsent(rs) == 3, "3 unsent");

    fx_msg_t *batch = fx_ix_results_batch(rs);
    CHECK(batch && batch->results.count == 3 && strcmp(batch->results.results[2].task_id, ids[2]) == 0 &&
              strcmp(batch->results.results[0].error_text, "text") == 0,
          "batch copies results in order");
    fx_msg_destroy(&batch);
    CHECK(fx_ix_results_sent(rs, 3) == 3, "3 sent first time");
    CHECK(fx_ix_results_unsent(rs) == 0 && fx_ix_results_unacked(rs) == 3, "3 unacked");
    CHECK(fx_ix_results_ack(rs, &ids[1], 1) == 1 && fx_ix_results_unacked(rs) == 2, "ack one");
    CHECK(fx_ix_results_ack(rs, &ids[1], 1) == 0, "a second ack is a no-op");
    fx_ix_results_resend_all(rs);
    CHECK(fx_ix_results_pending(rs) == 2 && fx_ix_results_unacked(rs) == 0, "resend: pending again");
    batch = fx_ix_results_batch(rs);
    CHECK(batch && batch->results.count == 2 && strcmp(batch->results.results[0].task_id, ids[0]) == 0,
          "resend keeps order");
    fx_msg_destroy(&batch);
    CHECK(fx_ix_results_sent(rs, 2) == 0, "a resend is not a first send");
    fx_ix_results_destroy(&rs);

    /* senders: the managers a broker ack is passed on to */
    rs = fx_ix_results_new();
    fx_id_text_t tid, m1, m2;
    fx_id_new(m1);
    fx_id_new(m2);
    fx_result_t r = s_result(tid);
    CHECK(fx_ix_results_add_from(rs, &r, m1) == FX_OK, "add from m1");
    fx_result_t again = s_result(scratch);
    memcpy(again.task_id, tid, sizeof again.task_id);
    CHECK(fx_ix_results_add_from(rs, &again, m2) == FX_E_CONFLICT, "a copy from m2: kept once");
    memcpy(again.task_id, tid, sizeof again.task_id);
    CHECK(fx_ix_results_add_from(rs, &again, m1) == FX_E_CONFLICT, "m1 again: still one sender m1");
    free(again.error_text);
    zframe_destroy(&again.value);
    zframe_destroy(&again.output);
    fx_ix_ack_pair_t *pairs = NULL;
    size_t npairs = 0;
    CHECK(fx_ix_results_ack_senders(rs, &tid, 1, &pairs, &npairs) == 1, "acked");
    CHECK(npairs == 2 && strcmp(pairs[0].task_id, tid) == 0 && strcmp(pairs[0].manager_id, m1) == 0 &&
              strcmp(pairs[1].manager_id, m2) == 0,
          "both senders, once each (%zu pairs)", npairs);
    CHECK(fx_ix_results_ack_senders(rs, &tid, 1, &pairs, &npairs) == 0 && npairs == 2,
          "a second ack: nothing");
    free(pairs);
    fx_ix_results_destroy(&rs);
}

static void scenario_stats(void *ctx)
{
    (void) ctx;
    fx_ix_stats_t st = {0};
    fx_ix_stats_note_window(&st, 4);
    fx_ix_stats_note_held(&st, 3);
    fx_ix_stats_note_window(&st, 2);
    fx_ix_stats_note_held(&st, 2);
    CHECK(st.max_held == 3 && st.window_at_max_held == 4 && st.max_window_announced == 4,
          "max held %llu at window %llu", (unsigned long long) st.max_held,
          (unsigned long long) st.window_at_max_held);
    CHECK(st.held_over_window == 0, "never over the window");
    char path[] = "/tmp/fx-ep-stats-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    close(fd);
    CHECK(fx_ix_stats_write(&st, path) == 0, "write stats");
    fx_kv_t kv;
    char err[256];
    CHECK(fx_kv_load(path, &kv, err, sizeof err) == 0, "stats file parses: %s", err);
    const char *v = fx_kv_get(&kv, "max_held");
    CHECK(v && strcmp(v, "3") == 0, "max_held=3 in the file");
    unlink(path);
}

/* manager_bind kept in endpoint.conf; managers.pids written atomically,
   and a pid that is not an fx-manager is not adopted. */
static void scenario_identity_and_pids(void *ctx)
{
    (void) ctx;
    char dir[] = "/tmp/fx-ep-unit-XXXXXX", err[512] = "";
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    fx_ix_identity_t id;
    CHECK(fx_ix_identity_load(&id, dir, "unit", err, sizeof err) == 0, "identity: %s", err);
    CHECK(id.manager_bind[0] == '\0', "no manager_bind before a first bind");
    CHECK(fx_ix_identity_save_bind(&id, "tcp://127.0.0.1:5999", err, sizeof err) == 0, "save_bind: %s", err);
    fx_ix_identity_t again;
    CHECK(fx_ix_identity_load(&again, dir, "unit", err, sizeof err) == 0, "identity again: %s", err);
    CHECK(strcmp(again.manager_bind, "tcp://127.0.0.1:5999") == 0 &&
              strcmp(again.endpoint_id, id.endpoint_id) == 0,
          "manager_bind read back (%s), same id", again.manager_bind);

    char pids[PATH_MAX + 32];
    snprintf(pids, sizeof pids, "%s/managers.pids", dir);
    FILE *f = fopen(pids, "w");
    fprintf(f, "%d\n1\n999999999\n", (int) getpid());
    fclose(f);
    fx_ix_provider_conf_t pc = {.kind = FX_IX_PROVIDER_LOCAL, .nodes_per_block = 1};
    fx_ix_launch_t launch = {.workers = 1};
    snprintf(launch.dir, sizeof launch.dir, "%s", dir);
    snprintf(launch.key_file, sizeof launch.key_file, "%s", again.manager_key_path);
    void *local = fx_ix_provider_local.create(&pc, &launch, err, sizeof err);
    CHECK(local, "the local provider (max_blocks 0: no fx-manager needed): %s", err);
    fx_ix_block_t out[4];
    CHECK(local && fx_ix_provider_local.adopt(local, out, 4) == 0, "neither this test, init nor a dead pid");
    f = fopen(pids, "r");
    int c = f ? fgetc(f) : 0;
    if (f)
        fclose(f);
    CHECK(c == EOF, "managers.pids rewritten empty");
    if (local)
        fx_ix_provider_local.destroy(local);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

/* The lifecycle table, every (state, event) pair, as SPEC 6.5 writes it. */
static void scenario_lifecycle(void *ctx)
{
    (void) ctx;
#define S FX_IX_STARTING
#define G FX_IX_REGISTERING
#define R FX_IX_RUNNING
#define D FX_IX_DRAINING
#define P FX_IX_STOPPING
#define L FX_IX_LEAVING
#define X FX_IX_STOPPED
    /* rows: state; columns: run, welcomed, drain, stop, signal, drained, grace over, fatal */
    /* clang-format off */
    static const fx_ix_life_t want[FX_IX_LIFE_COUNT][FX_IX_EV_COUNT] = {
        [FX_IX_STARTING]    = {G, S, S, S, S, S, S, X},
        [FX_IX_REGISTERING] = {G, R, G, G, X, G, G, X},
        [FX_IX_RUNNING]     = {R, R, D, P, L, R, R, X},
        [FX_IX_DRAINING]    = {D, D, D, P, L, X, D, X},
        [FX_IX_STOPPING]    = {P, P, P, P, L, X, X, X},
        [FX_IX_LEAVING]     = {L, L, L, L, X, X, X, X},
        [FX_IX_STOPPED]     = {X, X, X, X, X, X, X, X},
    };
    /* clang-format on */
    bool works[FX_IX_LIFE_COUNT] = {[G] = true, [R] = true},
         drains[FX_IX_LIFE_COUNT] = {[D] = true, [P] = true, [L] = true};
#undef S
#undef G
#undef R
#undef D
#undef P
#undef L
#undef X
    for (int st = 0; st < FX_IX_LIFE_COUNT; st++)
        for (int ev = 0; ev < FX_IX_EV_COUNT; ev++) {
            fx_ix_life_t got = fx_ix_life_next((fx_ix_life_t) st, (fx_ix_life_event_t) ev);
            CHECK(got == want[st][ev], "%s --%s--> %s, expected %s", fx_ix_life_name((fx_ix_life_t) st),
                  fx_ix_life_event_name((fx_ix_life_event_t) ev), fx_ix_life_name(got),
                  fx_ix_life_name(want[st][ev]));
        }
    for (int st = 0; st < FX_IX_LIFE_COUNT; st++) {
        CHECK(fx_ix_life_takes_work((fx_ix_life_t) st) == works[st] &&
                  fx_ix_life_draining((fx_ix_life_t) st) == drains[st],
              "%s: takes work %d, draining %d", fx_ix_life_name((fx_ix_life_t) st), works[st], drains[st]);
    }
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"fifo_and_requeue", scenario_fifo_and_requeue, false},
        {"registry_and_dispatch", scenario_registry_and_dispatch, false},
        {"results", scenario_results, false},
        {"stats", scenario_stats, false},
        {"identity_and_pids", scenario_identity_and_pids, false},
        {"lifecycle", scenario_lifecycle, false},
    };
    return fx_test_main("fx_ix_unit_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
