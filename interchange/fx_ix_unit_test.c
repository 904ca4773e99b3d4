/*  fx_ix_unit_test.c: the interchange's data structures without sockets or
    processes: task FIFO and index, manager registry, routing strategy,
    heartbeat rounds, result store, the body cache and each manager's
    versions seen, stats, endpoint.conf's manager_bind, managers.pids. Each check names what
   broke. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fx_ix_bodies.h"
#include "fx_ix_containers.h"
#include "fx_ix_identity.h"
#include "fx_ix_lifecycle.h"
#include "fx_ix_managers.h"
#include "fx_ix_provider.h"
#include "fx_ix_results.h"
#include "fx_ix_route.h"
#include "fx_ix_stats.h"
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
    fx_strlcpy(t.entry, "noop", sizeof t.entry);
    fx_strlcpy(t.container, "torch", sizeof t.container);
    fx_strlcpy(t.serializer, "pickle", sizeof t.serializer);
    t.times[FX_TIME_BROKER_DISPATCHED] = 44;
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
    CHECK(a && strcmp(a->task_id, ids[0]) == 0, "FIFO order: first");
    CHECK(b && strcmp(b->task_id, ids[1]) == 0, "FIFO order: second");
    CHECK(fx_ix_tasks_queued(q) == 1 && fx_ix_tasks_held(q) == 3, "popped tasks stay held");
    /* a lost manager gives back a then b: requeued from the back */
    fx_ix_tasks_requeue(q, b);
    fx_ix_tasks_requeue(q, a);
    CHECK(fx_ix_tasks_peek(q) == a && a->attempt == 1 && a->requeues == 1,
          "requeued at the front with the next attempt number");
    fx_ix_task_t *c = fx_ix_tasks_find(q, ids[2]);
    CHECK(c != NULL, "find by id");
    fx_ix_tasks_done(q, &c);
    CHECK(c == NULL && fx_ix_tasks_held(q) == 2 && fx_ix_tasks_queued(q) == 2,
          "done on a queued task takes it out of the FIFO");
    fx_task_t copy;
    memset(&copy, 0xff, sizeof copy);
    fx_ix_task_fill(a, &copy);
    CHECK(strcmp(copy.task_id, ids[0]) == 0 && copy.attempt == 1 && strcmp(copy.entry, "noop") == 0 &&
              strcmp(copy.container, "torch") == 0 && strcmp(copy.serializer, "pickle") == 0 &&
              copy.endpoint_id[0] == '\0' && copy.times[FX_TIME_BROKER_DISPATCHED] == 44 && !copy.body &&
              !copy.payload,
          "fill gives back every field, frames left to the caller");
    CHECK(strcmp(fx_ix_task_container(a), "torch") == 0 && zframe_size(a->payload) == 4,
          "the container; the frames stay held");
    fx_ix_tasks_destroy(&q);
    CHECK(q == NULL, "destroy clears the pointer");
}

/* What the dispatch phase does, without sockets: the front of the queue
   to the manager the strategy picks, as many as it has room for. Returns
   how many tasks were handed out; each manager's count in got[]. */
static int s_dispatch(fx_ix_tasks_t *q, fx_ix_managers_t *reg, fx_ix_manager_t **ms, int n, int *got)
{
    int handed = 0;
    for (fx_ix_task_t *t = fx_ix_tasks_peek(q); t; t = fx_ix_tasks_peek(q)) {
        uint32_t room = 0;
        fx_ix_manager_t *m = fx_ix_route_pick(fx_ix_managers_route(reg), t, &room);
        if (!m)
            break;
        CHECK(room >= 1 && room <= fx_ix_manager_free(m), "room %u within the free window %u", room,
              fx_ix_manager_free(m));
        for (uint32_t k = 0; k < room && (t = fx_ix_tasks_pop(q)) != NULL; k++, handed++) {
            fx_ix_manager_hold(m, t);
            for (int i = 0; i < n; i++)
                got[i] += ms[i] == m;
        }
    }
    return handed;
}

static void scenario_registry_and_dispatch(void *ctx)
{
    (void) ctx;
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_ix_managers_t *reg = fx_ix_managers_new(NULL);
    fx_ix_list_t orphans;
    fx_ix_list_init(&orphans);
    zframe_t *r1 = zframe_new("\x00\x01", 2), *r2 = zframe_new("\x00\x02", 2);
    fx_id_text_t mid1, mid2;
    fx_id_new(mid1);
    fx_id_new(mid2);
    fx_msg_t *h1 = s_hello(mid1), *h2 = s_hello(mid2);
    fx_ix_manager_t *m1 = fx_ix_managers_hello(reg, r1, h1, 1000, &orphans);
    fx_ix_manager_t *m2 = fx_ix_managers_hello(reg, r2, h2, 1000, &orphans);
    CHECK(m1 && m2 && fx_ix_managers_size(reg) == 2, "two managers");
    fx_ix_manager_t *found = NULL;
    CHECK(fx_ix_managers_session(reg, r2, &found) == FX_IX_SESSION_ACTIVE && found == m2,
          "after MANAGER_HELLO the routing id is ACTIVE, with its record");
    zframe_t *r3 = zframe_new("\x00\x03", 2);
    CHECK(fx_ix_managers_session(reg, r3, &found) == FX_IX_SESSION_NONE && found == NULL,
          "a routing id that said no hello is NONE");
    uint32_t room = 0;
    CHECK(fx_ix_route_pick(fx_ix_managers_route(reg), NULL, &room) == NULL,
          "no window yet: nobody gets a task");
    fx_ix_manager_set_window(m1, 2);
    fx_ix_manager_set_window(m2, 3);
    CHECK(fx_ix_managers_window(reg) == 5 && fx_ix_managers_free(reg) == 5, "window sum 5, free 5");

    fx_id_text_t ids[6];
    for (int i = 0; i < 6; i++) {
        fx_task_t t = s_task(ids[i]);
        fx_ix_tasks_add(q, &t);
    }
    fx_ix_manager_t *ms[2] = {m1, m2};
    int got[2] = {0};
    CHECK(s_dispatch(q, reg, ms, 2, got) == 5, "five handed out");
    CHECK(got[0] == 2 && got[1] == 3, "dispatch fills windows exactly: m1 %d m2 %d", got[0], got[1]);
    CHECK(fx_ix_tasks_queued(q) == 1, "the sixth task waits");
    CHECK(fx_ix_manager_free(m1) == 0 && fx_ix_manager_in_flight(m2) == 3, "in flight counted");
    CHECK(fx_ix_manager_last(m2) && strcmp(fx_ix_manager_last(m2)->task_id, ids[4]) == 0 &&
              strcmp(fx_ix_manager_before(m2, fx_ix_manager_last(m2))->task_id, ids[3]) == 0,
          "a manager's tasks in the order handed: the batch is their tail");
    CHECK(fx_ix_managers_workers(reg) == 4 && fx_ix_managers_free(reg) == 0,
          "status sums: workers 4, free 0 (got %llu, %llu)", (unsigned long long) fx_ix_managers_workers(reg),
          (unsigned long long) fx_ix_managers_free(reg));
    CHECK(fx_ix_managers_by_id(reg, mid1) == m1 && fx_ix_managers_by_id(reg, "nope") == NULL, "find by id");

    /* a result frees a slot: it is offered at once */
    fx_ix_task_t *first = fx_ix_tasks_find(q, ids[0]);
    fx_ix_manager_t *holder = first->holder;
    CHECK(holder == m1, "the first task went to the first manager with an idle worker");
    fx_ix_manager_release(holder, first);
    fx_ix_tasks_done(q, &first);
    CHECK(fx_ix_manager_free(holder) == 1 && fx_ix_managers_free(reg) == 1, "result released a slot");
    CHECK(fx_ix_route_pick(fx_ix_managers_route(reg), NULL, &room) == m1 && room == 1,
          "the freed worker is offered (room %u)", room);
    fx_ix_manager_retire(m1);
    CHECK(fx_ix_route_pick(fx_ix_managers_route(reg), NULL, &room) == NULL &&
              fx_ix_managers_window(reg) == 3 && fx_ix_managers_free(reg) == 0,
          "a retiring manager gets nothing and counts for nothing");

    /* m2 says hello again on the same connection: its 3 tasks are orphans */
    fx_ix_manager_t *m2b = fx_ix_managers_hello(reg, r2, h2, 2000, &orphans);
    CHECK(m2b && fx_ix_managers_size(reg) == 2 && orphans.size == 3,
          "re-hello replaces the record and gives back %zu tasks", orphans.size);
    CHECK(fx_ix_manager_window(m2b) == 0 && fx_ix_managers_workers(reg) == 4,
          "the new session has no window until CREDIT");
    CHECK(fx_ix_tasks_requeue_all(q, &orphans) == 3 && orphans.size == 0, "orphans requeued, list emptied");
    CHECK(fx_ix_tasks_queued(q) == 4 && strcmp(fx_ix_tasks_peek(q)->task_id, ids[2]) == 0,
          "orphans back at the front of the FIFO in their order");

    /* m1 silent: expires; only the longest silent manager is looked at */
    CHECK(fx_ix_managers_expire_next(reg, 5000) == 6001, "m1, heard at 1000, is lost after 6000 (got %lld)",
          (long long) fx_ix_managers_expire_next(reg, 5000));
    fx_ix_manager_heard(m2b, 9000);
    int lost = fx_ix_managers_expire(reg, 9000, 5000, &orphans);
    CHECK(lost == 1 && fx_ix_managers_size(reg) == 1 && orphans.size == 1,
          "m1 lost after 5 s of silence with its 1 task");
    CHECK(fx_ix_managers_session(reg, r1, &found) == FX_IX_SESSION_NONE && !fx_ix_managers_by_id(reg, mid1),
          "a lost manager's routing id is NONE");
    fx_ix_tasks_requeue_all(q, &orphans);
    CHECK(fx_ix_tasks_held(q) == 5 && fx_ix_tasks_queued(q) == 5, "nothing lost: 5 held, 5 queued");
    CHECK(fx_ix_managers_window(reg) == 0 && fx_ix_managers_workers(reg) == 2 &&
              fx_ix_managers_free(reg) == 0,
          "the sums follow the records");

    fx_msg_destroy(&h1);
    fx_msg_destroy(&h2);
    zframe_destroy(&r1);
    zframe_destroy(&r2);
    zframe_destroy(&r3);
    fx_ix_managers_destroy(&reg);
    fx_ix_tasks_destroy(&q);
}

/* The default strategy gives a short queue to idle workers, round robin
   over the managers, before it fills anyone's prefetch; heartbeats go in
   rounds. */
static void scenario_route_and_beats(void *ctx)
{
    (void) ctx;
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_ix_managers_t *reg = fx_ix_managers_new(&fx_ix_route_warming);
    fx_ix_list_t orphans;
    fx_ix_list_init(&orphans);
    fx_ix_manager_t *ms[3];
    zframe_t *routing[3];
    for (int i = 0; i < 3; i++) {
        fx_id_text_t mid;
        fx_id_new(mid);
        fx_msg_t *h = s_hello(mid); /* 2 workers */
        char r[2] = {0, (char) (i + 1)};
        routing[i] = zframe_new(r, 2);
        ms[i] = fx_ix_managers_hello(reg, routing[i], h, 1000 + 100 * i, &orphans);
        fx_ix_manager_set_window(ms[i], 10); /* 2 workers + 8 prefetch */
        fx_msg_destroy(&h);
    }
    fx_id_text_t id;
    for (int i = 0; i < 3; i++) {
        fx_task_t t = s_task(id);
        fx_ix_tasks_add(q, &t);
    }
    int got[3] = {0};
    s_dispatch(q, reg, ms, 3, got);
    CHECK(got[0] == 2 && got[1] == 1 && got[2] == 0,
          "three tasks: each to an idle worker, a manager's idle "
          "workers at once (%d %d %d)",
          got[0], got[1], got[2]);
    for (int i = 0; i < 3; i++) {
        fx_task_t t = s_task(id);
        fx_ix_tasks_add(q, &t);
    }
    s_dispatch(q, reg, ms, 3, got);
    CHECK(got[0] == 2 && got[1] == 2 && got[2] == 2, "then every idle worker before any prefetch (%d %d %d)",
          got[0], got[1], got[2]);
    for (int i = 0; i < 30; i++) {
        fx_task_t t = s_task(id);
        fx_ix_tasks_add(q, &t);
    }
    CHECK(s_dispatch(q, reg, ms, 3, got) == 24 && got[0] == 10 && got[1] == 10 && got[2] == 10 &&
              fx_ix_tasks_queued(q) == 6,
          "then the prefetch, never beyond the windows (%d %d %d)", got[0], got[1], got[2]);

    /* beats: period 1000, rounds of 250; sent at 1000, 1100, 1200 */
    CHECK(fx_ix_managers_beat_next(reg, 1000, 250) == 1750,
          "first round at 1750 (the grid point after "
          "1000 + 750): %lld",
          (long long) fx_ix_managers_beat_next(reg, 1000, 250));
    CHECK(fx_ix_managers_beat_due(reg, 1749, 1000, 250) == NULL, "nothing due before");
    int beaten = 0;
    for (fx_ix_manager_t *m; (m = fx_ix_managers_beat_due(reg, 2000, 1000, 250)) != NULL; beaten++)
        fx_ix_manager_sent(m, 2000);
    CHECK(beaten == 3, "the round at 2000 beats all three, due before 2250 (%d)", beaten);
    fx_ix_manager_sent(ms[1], 2100); /* something else went to it */
    beaten = 0;
    for (fx_ix_manager_t *m; (m = fx_ix_managers_beat_due(reg, 2750, 1000, 250)) != NULL; beaten++) {
        CHECK(m != ms[1], "a manager sent something since is not beaten");
        fx_ix_manager_sent(m, 2750);
    }
    CHECK(beaten == 2 && fx_ix_managers_beat_next(reg, 1000, 250) == 3000,
          "two beats; next round 3000 (%lld)", (long long) fx_ix_managers_beat_next(reg, 1000, 250));

    for (int i = 0; i < 3; i++)
        zframe_destroy(&routing[i]);
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

/* A sender callback: records (task, manager) pairs. */
typedef struct {
    fx_id_text_t task[4], manager[4];
    int n;
} s_pairs_t;

static void s_pair(void *ctx, const char *task_id, const char *manager_id)
{
    s_pairs_t *p = ctx;
    if (p->n < 4) {
        fx_strlcpy(p->task[p->n], task_id, sizeof p->task[0]);
        fx_strlcpy(p->manager[p->n++], manager_id, sizeof p->manager[0]);
    }
}

static void scenario_results(void *ctx)
{
    (void) ctx;
    fx_ix_results_t *rs = fx_ix_results_new();
    fx_id_text_t ids[3];
    zframe_t *values[3];
    for (int i = 0; i < 3; i++) {
        fx_result_t r = s_result(ids[i]);
        values[i] = r.value;
        r.times[FX_TIME_MANAGER_SENT] = 7;
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

    fx_result_t records[4];
    zframe_t *frames[8];
    CHECK(fx_ix_results_batch(rs, records, frames, 2, 99) == 2, "a batch of at most 2");
    CHECK(fx_ix_results_batch(rs, records, frames, 4, 99) == 3, "a batch of at most 4: all 3");
    CHECK(strcmp(records[2].task_id, ids[2]) == 0 && strcmp(records[0].error_text, "text") == 0 &&
              records[1].times[FX_TIME_MANAGER_SENT] == 7 && records[1].times[FX_TIME_IX_RESULT] == 99 &&
              !records[0].value && frames[2] == values[1] && frames[3] != NULL,
          "the batch borrows the results in order, stamped, their frames the held ones");
    CHECK(fx_ix_results_sent(rs, 3) == 3, "3 sent first time");
    CHECK(fx_ix_results_unsent(rs) == 0 && fx_ix_results_unacked(rs) == 3, "3 unacked");
    CHECK(fx_ix_results_ack(rs, &ids[1], 1, NULL, NULL) == 1 && fx_ix_results_unacked(rs) == 2, "ack one");
    CHECK(fx_ix_results_ack(rs, &ids[1], 1, NULL, NULL) == 0, "a second ack is a no-op");
    fx_ix_results_resend_all(rs);
    CHECK(fx_ix_results_pending(rs) == 2 && fx_ix_results_unacked(rs) == 0, "resend: pending again");
    CHECK(fx_ix_results_batch(rs, records, frames, 4, 100) == 2 && strcmp(records[0].task_id, ids[0]) == 0,
          "resend keeps order");
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
    s_pairs_t pairs = {0};
    CHECK(fx_ix_results_ack(rs, &tid, 1, s_pair, &pairs) == 1, "acked");
    CHECK(pairs.n == 2 && strcmp(pairs.task[0], tid) == 0 && strcmp(pairs.manager[0], m1) == 0 &&
              strcmp(pairs.task[1], tid) == 0 && strcmp(pairs.manager[1], m2) == 0,
          "both senders, once each (%d pairs)", pairs.n);
    CHECK(fx_ix_results_ack(rs, &tid, 1, s_pair, &pairs) == 0 && pairs.n == 2, "a second ack: nothing");
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
    CHECK(fx_ix_stats_write(&st, path, "extra.row=7\n") == 0, "write stats");
    /* more rows than fx_kv_load takes: read as the tests' ept_stat does, line by line */
    char text[8192] = "";
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    text[n] = '\0';
    if (fp)
        fclose(fp);
    CHECK(strstr(text, "\nmax_held=3\n") && strstr(text, "\ntasks_waiting=0\n"),
          "max_held=3 and the cache's rows in the file:\n%s", text);
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

/* CAPACITY and the counts between two of them (SPEC 5.34, 7.9): a task
   sent to an idle warm worker makes it busy, one sent with none idle takes
   a cold slot, results free workers, a new CAPACITY replaces it all; the
   container's sums and the view follow. */
static void scenario_capacity_counts(void *ctx)
{
    (void) ctx;
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_ix_managers_t *reg = fx_ix_managers_new(&fx_ix_route_warming);
    fx_ix_containers_t *cs = fx_ix_managers_containers(reg);
    fx_ix_list_t orphans;
    fx_ix_list_init(&orphans);
    fx_id_text_t mid, ids[4];
    fx_id_new(mid);
    fx_msg_t *h = s_hello(mid);
    zframe_t *r = zframe_new("\x00\x09", 2);
    fx_ix_manager_t *m = fx_ix_managers_hello(reg, r, h, 1000, &orphans);
    fx_msg_t *cap = fx_msg_new(FX_MSG_CAPACITY);
    fx_msg_alloc_records(cap, 1);
    cap->capacity.window = 8;
    cap->capacity.cold_free = 2;
    fx_strlcpy(cap->capacity.containers[0].container_id, "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10",
               sizeof cap->capacity.containers[0].container_id);
    cap->capacity.containers[0].idle = 2;
    fx_ix_manager_capacity(m, cap);
    uint32_t x = fx_ix_containers_slot(cs, "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10", false);
    fx_ix_mc_t *mc = fx_ix_manager_mc(m, x);
    fx_ix_container_t *c = fx_ix_containers_at(cs, x);
    CHECK(mc && fx_ix_mc_idle(mc) == 2 && fx_ix_manager_cold_free(m) == 2 && c->workers == 2 && c->idle == 2 &&
              c->managers == 1,
          "CAPACITY read: 2 idle warm for X, 2 cold slots, the container's sums");
    fx_ix_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        fx_task_t task = s_task(ids[i]);
        fx_strlcpy(task.container, "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10", sizeof task.container);
        fx_ix_tasks_add(q, &task);
        t[i] = fx_ix_tasks_find(q, ids[i]);
        t[i]->slot = x;
    }
    uint32_t room = 0;
    CHECK(fx_ix_route_warm(fx_ix_managers_route(reg), x, &room) == m && room == 2,
          "the view offers its two warm workers (room %u)", room);
    fx_ix_manager_hold(m, fx_ix_tasks_pop(q));
    CHECK(fx_ix_mc_idle(mc) == 1 && !t[0]->cold, "a task to an idle warm worker makes it busy");
    fx_ix_manager_hold(m, fx_ix_tasks_pop(q));
    CHECK(fx_ix_mc_idle(mc) == 0 && fx_ix_route_warm(fx_ix_managers_route(reg), x, &room) == NULL,
          "no idle warm worker left: out of X's warm list");
    fx_ix_manager_hold(m, fx_ix_tasks_pop(q));
    CHECK(t[2]->cold && fx_ix_manager_cold_free(m) == 1 && fx_ix_manager_cold_routed(m) == 1 && c->cold_routed == 1,
          "the third is a cold start: one cold slot left, counted");
    CHECK(c->backlog == 1, "one X task beyond X's workers (%llu)", (unsigned long long) c->backlog);
    fx_ix_manager_release(m, t[0]);
    CHECK(fx_ix_mc_idle(mc) == 0, "a result frees a worker, which the cold task's wait takes: still 0 idle");
    fx_ix_manager_release(m, t[1]);
    CHECK(fx_ix_mc_idle(mc) == 1 && fx_ix_route_warm(fx_ix_managers_route(reg), x, &room) == m && room == 1,
          "a second result: one idle warm worker, back in the warm list");
    cap->capacity.cold_free = 1;
    cap->capacity.containers[0].idle = 0;
    cap->capacity.containers[0].busy = 1;
    cap->capacity.containers[0].starting = 1;
    fx_ix_manager_capacity(m, cap);
    CHECK(fx_ix_mc_idle(mc) == 0 && fx_ix_manager_cold_free(m) == 1 && c->workers == 2 && c->starting == 1 &&
              c->busy == 1 && c->idle == 0,
          "a new CAPACITY replaces the numbers and the counts since");
    fx_ix_manager_set_window(m, 4);
    CHECK(!fx_ix_manager_reports_capacity(m) && c->managers == 0 && fx_ix_manager_cold_free(m) == 0 &&
              fx_ix_manager_mc(m, x) != NULL,
          "CREDIT instead: host workers only, X's record kept while a task of it is in flight");
    fx_ix_manager_release(m, t[2]);
    fx_ix_manager_set_window(m, 4);
    CHECK(fx_ix_manager_mc(m, x) == NULL && c->workers == 0, "and dropped once none is");
    fx_msg_destroy(&cap);
    fx_msg_destroy(&h);
    zframe_destroy(&r);
    fx_ix_managers_destroy(&reg);
    fx_ix_tasks_destroy(&q);
}

/* The local provider starts fx-manager with the containers' flags
   (fx_ix_launch_flags) after its own: a stand-in fx-manager writes its
   arguments to a file. */
static void scenario_local_flags(void *ctx)
{
    (void) ctx;
    char dir[] = "/tmp/fx-ep-flags-XXXXXX", path[PATH_MAX], err[512] = "";
    REQUIRE(mkdtemp(dir), "temp dir");
    fx_ix_launch_t launch = {.workers = 1, .prefetch = 1, .heartbeat_ms = 1000};
    snprintf(launch.dir, sizeof launch.dir, "%s", dir);
    snprintf(launch.fx_manager, sizeof launch.fx_manager, "%s/fx-manager", dir);
    snprintf(path, sizeof path, "printf '%%s\\n' \"$@\" > '%s/args.tmp' && mv '%s/args.tmp' '%s/args'", dir, dir,
             dir);
    char script[PATH_MAX * 4];
    snprintf(script, sizeof script, "#!/bin/sh\n%s\n", path);
    CHECK(fx_file_write_atomic(launch.fx_manager, script, strlen(script), 0755, 0) == 0, "stand-in fx-manager");
    fx_ix_container_conf_t ct = {.name = "torch", .runtime = "bwrap"};
    fx_ix_manager_opts_t opts = {.strategy = "lru", .max_workers_per_container = -1, .idle_ms = 0,
                                 .start_timeout_ms = -1, .containers = &ct, .containers_count = 1};
    launch.flags = fx_ix_launch_flags(&opts, err, sizeof err);
    REQUIRE(launch.flags, "flags: %s", err);
    fx_ix_provider_conf_t pc = {.kind = FX_IX_PROVIDER_LOCAL, .nodes_per_block = 1};
    void *local = fx_ix_provider_local.create(&pc, &launch, err, sizeof err);
    REQUIRE(local, "the local provider: %s", err);
    fx_ix_block_t block = {.managers = 1};
    fx_ix_block_new_id(block.id);
    CHECK(fx_ix_provider_local.submit(local, &block, fx_now_ms()) == 0, "a block submitted: %s", block.reason);
    snprintf(path, sizeof path, "%s/args", dir);
    char *text = NULL;
    size_t len = 0;
    CHECK(fx_test_wait_file(path, 10000), "the stand-in fx-manager wrote %s", path);
    (void) fx_file_read(path, 65536, &text, &len);
    CHECK(text && strstr(text, "--heartbeat-ms\n1000\n") &&
              strstr(text, "--container-strategy\nlru\n--container-idle-ms\n0\n--container-template\ntorch=bwrap "),
          "fx-manager got its own flags and then the containers': %s", text ? text : "(nothing)");
    CHECK(text && !strstr(text, "--max-workers-per-container"), "a key not set passes no flag");
    free(text);
    fx_ix_block_t *blocks[1] = {&block};
    fx_ix_provider_local.stop(local, blocks, 1, 2000);
    fx_ix_provider_local.destroy(local);
    fx_ix_launch_flags_free(&launch.flags);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
done:
    return;
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

/* The body cache: a put pins; unpinned entries are kept up to the cap
   (entries and bytes), least recently used evicted first; a pinned one is
   never evicted. Each manager session sends a version's body once. */
static void scenario_bodies(void *ctx)
{
    (void) ctx;
    fx_ix_bodies_t *c = fx_ix_bodies_new(2, 100);
    REQUIRE(c, "a cache of 2 entries, 100 bytes");
    fx_oid_text_t v[4];
    for (int i = 0; i < 4; i++)
        snprintf(v[i], sizeof v[i], "%040d", i);
    zframe_t *b0 = zframe_new("body zero", 9);
    fx_ix_body_t *e0 = fx_ix_bodies_put(c, v[0], &b0);
    CHECK(e0 && !b0 && fx_ix_bodies_pinned(c) == 1 && fx_ix_bodies_bytes(c) == 9,
          "put: the frame moved in, pinned");
    zframe_t *dup = zframe_new("other", 5);
    fx_ix_body_t *again = fx_ix_bodies_put(c, v[0], &dup);
    CHECK(again == e0 && !dup && zframe_size(fx_ix_body_frame(e0)) == 9,
          "a second put of a version keeps the first body, pins it again");
    fx_ix_body_unpin(&again);
    CHECK(!again && fx_ix_bodies_pinned(c) == 1, "one pin left");
    zframe_t *b1 = zframe_new("one", 3), *b2 = zframe_new("two", 3);
    fx_ix_body_t *e1 = fx_ix_bodies_put(c, v[1], &b1), *e2 = fx_ix_bodies_put(c, v[2], &b2);
    fx_ix_body_unpin(&e1);
    fx_ix_body_unpin(&e2);
    CHECK(fx_ix_bodies_size(c) == 3 && fx_ix_bodies_evicted(c) == 0,
          "two unpinned entries: within the cap, the pinned one apart");
    CHECK(fx_ix_bodies_find(c, v[1]) != NULL, "v1 used: v2 is now the least recently used");
    zframe_t *b3 = zframe_new("three", 5);
    fx_ix_body_t *e3 = fx_ix_bodies_put(c, v[3], &b3);
    fx_ix_body_unpin(&e3);
    CHECK(fx_ix_bodies_size(c) == 3 && fx_ix_bodies_evicted(c) == 1 && !fx_ix_bodies_find(c, v[2]) &&
              fx_ix_bodies_find(c, v[1]) && fx_ix_bodies_find(c, v[3]) && fx_ix_bodies_find(c, v[0]),
          "a third unpinned entry evicts the least recently used (v2); the pinned v0 stays");
    zframe_t *big = zframe_new(NULL, 101);
    fx_oid_text_t vb;
    snprintf(vb, sizeof vb, "%040d", 9);
    fx_ix_body_t *eb = fx_ix_bodies_put(c, vb, &big);
    CHECK(eb && fx_ix_bodies_find(c, vb) == eb, "a body over the byte cap is kept while pinned");
    fx_ix_body_unpin(&eb);
    CHECK(!fx_ix_bodies_find(c, vb) && fx_ix_bodies_bytes(c) == 9,
          "unpinned, 109 bytes over the cap of 100: oldest first, all three go (bytes %llu)",
          (unsigned long long) fx_ix_bodies_bytes(c));
    fx_ix_body_unpin(&e0);
    CHECK(fx_ix_bodies_pinned(c) == 0 && fx_ix_bodies_find(c, v[0]), "the last unpin keeps it, cached");
    fx_ix_bodies_destroy(&c);

    fx_ix_managers_t *reg = fx_ix_managers_new(NULL);
    fx_ix_list_t orphans;
    fx_ix_list_init(&orphans);
    zframe_t *r = zframe_new("\x00\x09", 2);
    fx_id_text_t mid;
    fx_id_new(mid);
    fx_msg_t *h = s_hello(mid);
    fx_ix_manager_t *m = fx_ix_managers_hello(reg, r, h, 1000, &orphans);
    CHECK(fx_ix_manager_first_sight(m, v[0]) && !fx_ix_manager_first_sight(m, v[0]) &&
              fx_ix_manager_first_sight(m, v[1]),
          "a manager session: the body of each version the first time, then not");
    fx_ix_manager_forget_sights(m);
    CHECK(fx_ix_manager_first_sight(m, v[0]), "after a failed send: every body again");
    char many[FX_OID_LEN + 1];
    for (int i = 0; i < FX_IX_MANAGER_SEEN_MAX; i++) {
        snprintf(many, sizeof many, "%040d", 1000 + i);
        fx_ix_manager_first_sight(m, many);
    }
    CHECK(fx_ix_manager_first_sight(m, v[0]), "past FX_IX_MANAGER_SEEN_MAX versions the set starts again");
    m = fx_ix_managers_hello(reg, r, h, 2000, &orphans);
    CHECK(fx_ix_manager_first_sight(m, v[1]), "a new session has seen nothing");
    fx_msg_destroy(&h);
    zframe_destroy(&r);
    fx_ix_managers_destroy(&reg);
done:
    return;
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"fifo_and_requeue", scenario_fifo_and_requeue, false},
        {"registry_and_dispatch", scenario_registry_and_dispatch, false},
        {"route_and_beats", scenario_route_and_beats, false},
        {"results", scenario_results, false},
        {"stats", scenario_stats, false},
        {"bodies", scenario_bodies, false},
        {"identity_and_pids", scenario_identity_and_pids, false},
        {"lifecycle", scenario_lifecycle, false},
        {"local_flags", scenario_local_flags, false},
        {"capacity_counts", scenario_capacity_counts, false},
    };
    return fx_test_main("fx_ix_unit_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
