/*  fx_endpoint_route_test.c: the routing strategies and the container
    relay of the real fx-endpoint (SPEC 5.34, 5.35, 5.25, 7.9), against a
    broker and managers played by the test (fx_endpoint_harness.h) that
    speak CAPACITY. Where tasks went is read from the endpoint's per-manager
    counters (its stats file) and from what each played manager received.

    warming    two managers, A warm for container X, B with cold slots and
        host workers: a mixed batch splits by container (X to A, host to B);
        X tasks go to A while it has idle warm workers, then as cold starts
        to B; CONTAINERS reach each manager before its first TASKS naming X,
        once per session, and again after the definition changed.
    random     the same managers under routing: random (config key): X tasks
        are spread over both.
    warm_wait  routing: warm-wait: with A's one warm X worker busy and a cold
        start measured at 1.5 s, an X task is held for A instead of a cold
        start at B, and goes to A when A's worker frees; a held task nobody
        frees goes to B as a cold start once it waited a start's time.
        Everything completes.
    credit     managers that send CREDIT only still get and finish every task
        (host and container ones), the container's definition first.
    status     ENDPOINT_STATUS carries per container the sums of the
        managers' CAPACITY records.
    deep       a deep mixed queue (X X X X Z Y Y Y X), A warm for X and B
        warm for Y (two idle workers each, window 2, cold slots): each gets
        its own container's tasks, whatever stands at the FIFO's front, with
        no cold start while warm workers can serve (per-manager counters);
        Z, whose container has no worker anywhere, takes the first room that
        opens (a cold start at B) ahead of the Y task behind it that B's
        warm worker could have run: no container starves.
    gave_up    a manager whose CAPACITY says it stopped trying container X
        (FX_LAUNCH_FAILURES_MAX failures) gets no X task while another
        manager can start X. */
#include <string.h>

#include "fx_endpoint_harness.h"
#include "fx_interchange.h" /* FX_IX_QUEUE_AUTO_DEPTH */

#define CX "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10" /* container X */
#define CY "1c8d1f5f-9a6b-4d4f-8b62-3a2e8d4cae21" /* container Y */
#define CZ "2d9e2a6a-ab7c-4e5a-9c73-4b3f9e5dbf32" /* container Z */

/* count tasks for container ("" for the host), as the broker sends them. */
static void s_send_tasks(ept_broker_t *b, int count, fx_id_text_t *ids, const char *const *containers)
{
    fx_msg_t *m = ept_tasks(count, ids, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN);
    for (int i = 0; i < count; i++)
        fx_strlcpy(m->tasks.tasks[i].container, containers[i], sizeof m->tasks.tasks[i].container);
    ept_send(b->endpoint, b->ep_routing, m, &b->seq);
}

static void s_send_same(ept_broker_t *b, int count, fx_id_text_t *ids, const char *container)
{
    const char *c[64];
    for (int i = 0; i < count && i < 64; i++)
        c[i] = container;
    s_send_tasks(b, count, ids, c);
}

/* The first TASKS or CONTAINERS in f's inbox, in the order they came. */
static fx_msg_t *s_next(ept_broker_t *b, ept_fake_t *f)
{
    fx_msg_t *found = NULL;
    WAIT_UNTIL(b, ({
                   for (fx_msg_t *m = zlistx_first(f->inbox); m && !found; m = zlistx_next(f->inbox))
                       if (m->type == FX_MSG_TASKS || m->type == FX_MSG_CONTAINERS) {
                           found = m;
                           zlistx_detach_cur(f->inbox);
                       }
                   found != NULL;
               }));
    return found;
}

/* Tasks f receives until it has want of them (CONTAINERS in between are
   counted in *defs); their ids into got. */
static int s_take(ept_broker_t *b, ept_fake_t *f, int want, fx_id_text_t *got, int *defs)
{
    int n = 0;
    while (n < want) {
        fx_msg_t *m = s_next(b, f);
        if (!m)
            break;
        if (m->type == FX_MSG_CONTAINERS && defs)
            (*defs)++;
        for (uint32_t i = 0; m->type == FX_MSG_TASKS && i < m->tasks.count; i++)
            if (n < want)
                memcpy(got[n++], m->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
        fx_msg_destroy(&m);
    }
    return n;
}

/* f answers every id. */
static void s_answer_all(ept_fake_t *f, fx_id_text_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        ept_answer(f, ids[i]);
}

/* The results of n tasks reach the broker, which acks them. */
static bool s_results(ept_broker_t *b, fx_id_text_t *ids, int n)
{
    int got = ept_collect_results(b, ids, n, NULL);
    ept_ack(b, ids, n);
    return got == n;
}

/* Nothing more for f: no TASKS or CONTAINERS came before a barrier. */
static bool s_quiet(ept_broker_t *b, ept_fake_t *f)
{
    if (!ept_barrier(b, f))
        return false;
    for (fx_msg_t *m = zlistx_first(f->inbox); m; m = zlistx_next(f->inbox))
        if (m->type == FX_MSG_TASKS || m->type == FX_MSG_CONTAINERS)
            return false;
    return true;
}

/* The stats row manager.<f>.<what>, waiting (the file is rewritten every
   second) until it reads want. */
static long s_manager_stat(ept_broker_t *b, ept_fake_t *f, const char *what, long want)
{
    char key[160];
    snprintf(key, sizeof key, "manager.%s.%s", f->id, what);
    long v = -1;
    WAIT_UNTIL(b, (v = ept_stat(b, key)) == want);
    return v;
}

static long s_stat(ept_broker_t *b, const char *key, long want)
{
    long v = -1;
    WAIT_UNTIL(b, (v = ept_stat(b, key)) == want);
    return v;
}

/* Tasks routed to f in all (-1: no row yet). */
static long s_routed(ept_broker_t *b, ept_fake_t *f)
{
    char key[160];
    snprintf(key, sizeof key, "manager.%s.routed", f->id);
    return ept_stat(b, key);
}

/* Two played managers with the same key, said hello. */
static void s_two(ept_broker_t *b, ept_fake_t **a, ept_fake_t **c, uint32_t window)
{
    fx_keypair_t mkp = ept_manager_key(b);
    *a = ept_fake_new(b, &mkp);
    ept_fake_hello(b, *a, window);
    *c = ept_fake_new(b, &mkp);
    ept_fake_hello(b, *c, window);
}

/* The played broker and fx-endpoint, with config (NULL: none), up to its
   first CREDIT; false (checked) if it did not get there. */
static bool s_start(ept_broker_t *b, const char *config)
{
    CHECK(ept_broker_start(b) == 0, "fake broker starts");
    if (config)
        CHECK(ept_write_config(b, config) == 0, "config written");
    CHECK(ept_endpoint_start(b, "0", NULL) == 0, "fx-endpoint starts");
    return ept_until_ready(b);
}

/* SIGTERM (every result acked before: exit 0), then the broker goes. */
static void s_finish(ept_broker_t *b, bool started)
{
    if (started)
        CHECK(ept_endpoint_stop(b) == 0, "SIGTERM: exit 0");
    ept_broker_stop(b, false);
}

/* A and B say hello (window each) and CAPACITY (cold slots, records);
   the broker defines X. */
static void s_pair(ept_broker_t *b, ept_fake_t **a, ept_fake_t **c, uint32_t window, uint32_t cold_a,
                   const fx_container_capacity_t *ra, uint32_t na, uint32_t cold_b,
                   const fx_container_capacity_t *rb, uint32_t nb)
{
    s_two(b, a, c, window);
    ept_fake_capacity(*a, window, cold_a, ra, na);
    CHECK(ept_barrier(b, *a), "A's CAPACITY read"); /* first: A leads the lists B joins after it */
    ept_fake_capacity(*c, window, cold_b, rb, nb);
    CHECK(ept_barrier(b, *c), "B's CAPACITY read");
    ept_define_container(b, CX, "torch", "bwrap", "");
}

/* ------------------------------------------------------------ scenarios */

static void scenario_warming(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, NULL);
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    /* A: four idle workers warm for X, no cold slot; B: two idle host workers, four cold slots */
    fx_container_capacity_t ax = {.container_id = CX, .idle = 4}, ch = {.container_id = "", .idle = 2};
    s_pair(&b, &a, &c, 8, 0, &ax, 1, 4, &ch, 1);
    char routing[64];
    WAIT_UNTIL(&b, (ept_stat_text(&b, "routing", routing, sizeof routing), strcmp(routing, "warming-aware") == 0));
    CHECK(strcmp(routing, "warming-aware") == 0, "the default strategy is warming-aware (%s)", routing);

    /* a mixed batch splits by container: X to A, the host's to B */
    fx_id_text_t ids[16], at_a[16], at_b[16];
    const char *mixed[4] = {CX, "", CX, ""};
    s_send_tasks(&b, 4, ids, mixed);
    fx_msg_t *first = s_next(&b, a);
    CHECK(first && first->type == FX_MSG_CONTAINERS && first->containers.count == 1 &&
              strcmp(first->containers.containers[0].container_id, CX) == 0 &&
              strcmp(first->containers.containers[0].name, "torch") == 0,
          "A hears CONTAINERS with X's definition before its first TASKS naming X (got %s)",
          first ? fx_msg_type_name(first->type) : "nothing");
    fx_msg_destroy(&first);
    int na = s_take(&b, a, 2, at_a, NULL);
    CHECK(na == 2 && strcmp(at_a[0], ids[0]) == 0 && strcmp(at_a[1], ids[2]) == 0,
          "A got the two X tasks (%d)", na);
    first = s_next(&b, c);
    CHECK(first && first->type == FX_MSG_TASKS, "B gets TASKS with no CONTAINERS: the host needs no definition");
    int nb = 0;
    for (uint32_t i = 0; first && i < first->tasks.count; i++)
        memcpy(at_b[nb++], first->tasks.tasks[i].task_id, sizeof(fx_id_text_t));
    fx_msg_destroy(&first);
    nb += s_take(&b, c, 2 - nb, at_b + nb, NULL);
    CHECK(nb == 2 && strcmp(at_b[0], ids[1]) == 0 && strcmp(at_b[1], ids[3]) == 0, "B got the two host tasks");
    CHECK(s_manager_stat(&b, c, "routed.host", 2) == 2, "counter: two host tasks routed to B");

    /* two more X tasks: A still has two idle warm workers */
    s_send_same(&b, 2, ids + 4, CX);
    int defs = 0;
    na += s_take(&b, a, 2, at_a + 2, &defs);
    CHECK(na == 4 && defs == 0, "A got them, without CONTAINERS again (%d tasks, %d definitions)", na, defs);
    CHECK(s_quiet(&b, c), "B got none of them");
    char key[160];
    snprintf(key, sizeof key, "routed.%s", CX);
    CHECK(s_manager_stat(&b, a, key, 4) == 4, "counter: four X tasks routed to A");
    CHECK(s_manager_stat(&b, a, "cold", 0) == 0, "none of them as a cold start");

    /* A's warm workers are all busy: the next X tasks are cold starts at B */
    s_send_same(&b, 2, ids + 6, CX);
    first = s_next(&b, c);
    CHECK(first && first->type == FX_MSG_CONTAINERS, "B hears X's definition before its first X task (got %s)",
          first ? fx_msg_type_name(first->type) : "nothing");
    fx_msg_destroy(&first);
    nb += s_take(&b, c, 2, at_b + 2, NULL);
    CHECK(nb == 4, "B got the two X tasks (%d)", nb);
    CHECK(s_manager_stat(&b, c, "cold", 2) == 2, "counter: two cold-start routings to B");
    CHECK(s_stat(&b, "tasks_cold_routed", 2) == 2, "two cold starts in all");
    CHECK(s_quiet(&b, a), "A, whose warm workers are busy, got none of them");

    s_answer_all(a, at_a, na);
    s_answer_all(c, at_b, nb);
    CHECK(s_results(&b, ids, 8), "every result reached the broker");

    /* A is idle again: the next X task goes to it, with no definition (once per session) */
    s_send_same(&b, 1, ids + 8, CX);
    first = s_next(&b, a);
    CHECK(first && first->type == FX_MSG_TASKS && first->tasks.count == 1 &&
              strcmp(first->tasks.tasks[0].task_id, ids[8]) == 0,
          "A gets the next X task as TASKS alone (got %s)", first ? fx_msg_type_name(first->type) : "nothing");
    fx_msg_destroy(&first);
    ept_answer(a, ids[8]);

    /* X's definition changes: A is sent it again before its next X task */
    ept_define_container(&b, CX, "torch", "bwrap", "/srv/torch-root");
    s_send_same(&b, 1, ids + 9, CX);
    first = s_next(&b, a);
    CHECK(first && first->type == FX_MSG_CONTAINERS && first->containers.count == 1 &&
              strcmp(first->containers.containers[0].image, "/srv/torch-root") == 0,
          "after a change A hears the new definition first (got %s)",
          first ? fx_msg_type_name(first->type) : "nothing");
    fx_msg_destroy(&first);
    fx_id_text_t last;
    CHECK(s_take(&b, a, 1, &last, NULL) == 1 && strcmp(last, ids[9]) == 0, "then the task");
    ept_answer(a, ids[9]);
    CHECK(s_results(&b, ids + 8, 2), "both results");
    CHECK(s_stat(&b, "container_defs_sent", 3) == 3, "three definitions passed on: A, B, A again");
done:
    s_finish(&b, started);
}

static void scenario_random(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, "routing: random\n");
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    fx_container_capacity_t ax = {.container_id = CX, .idle = 64};
    s_pair(&b, &a, &c, 64, 0, &ax, 1, 64, NULL, 0); /* A warm for X: warming-aware would send it all */
    enum { N = 40 };
    fx_id_text_t ids[N], at_a[N], at_b[N];
    s_send_same(&b, N, ids, CX);
    long ra = -1, rb = -1;
    WAIT_UNTIL(&b, (ra = s_routed(&b, a)) + (rb = s_routed(&b, c)) == N);
    CHECK(ra + rb == N, "all %d routed (A %ld, B %ld)", N, ra, rb);
    /* P(fewer than 5 of 40 fair draws on one side) < 1e-6 */
    CHECK(ra >= 5 && rb >= 5, "random spreads them over both managers: A %ld, B %ld", ra, rb);
    char routing[64];
    ept_stat_text(&b, "routing", routing, sizeof routing);
    CHECK(strcmp(routing, "random") == 0, "the config's routing: random (%s)", routing);
    int na = s_take(&b, a, (int) ra, at_a, NULL), nb = s_take(&b, c, (int) rb, at_b, NULL);
    CHECK(na == ra && nb == rb, "each got what its counter says (%d %d)", na, nb);
    s_answer_all(a, at_a, na);
    s_answer_all(c, at_b, nb);
    CHECK(s_results(&b, ids, N), "every result reached the broker");
done:
    s_finish(&b, started);
}

/* A result of id with the stamps a manager and worker would put in: the
   manager read it at t0 (ms), the worker started it start_ms later and ran
   it run_ms. */
static void s_answer_stamped(ept_fake_t *f, const char *id, uint64_t t0_ms, uint64_t start_ms, uint64_t run_ms)
{
    fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(res, 1);
    fx_result_t *r = ept_fill_result(res, 0, id, "v");
    r->times[FX_TIME_MANAGER_RECEIVED] = t0_ms * 1000;
    r->times[FX_TIME_WORKER_STARTED] = (t0_ms + start_ms) * 1000;
    r->times[FX_TIME_WORKER_FINISHED] = (t0_ms + start_ms + run_ms) * 1000;
    ept_send(f->sock, NULL, res, &f->seq);
}

static void scenario_warm_wait(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, "routing: warm-wait\n");
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    fx_container_capacity_t ax = {.container_id = CX, .idle = 1};
    s_pair(&b, &a, &c, 4, 0, &ax, 1, 2, NULL, 0); /* A: one worker warm for X; B: two cold slots */
    fx_id_text_t ids[8], got;
    uint64_t t0 = (uint64_t) fx_wall_us() / 1000;

    /* nothing measured yet: as warming-aware. t1 to A's warm worker, t2 a cold start at B */
    s_send_same(&b, 1, ids, CX);
    CHECK(s_take(&b, a, 1, &got, NULL) == 1 && strcmp(got, ids[0]) == 0, "t1 to A's idle warm worker");
    s_send_same(&b, 1, ids + 1, CX);
    CHECK(s_take(&b, c, 1, &got, NULL) == 1 && strcmp(got, ids[1]) == 0,
          "t2: nothing measured yet, so a cold start at B");
    s_answer_stamped(c, ids[1], t0, 4000, 10); /* its start took 4 s, its run 10 ms */
    s_answer_stamped(a, ids[0], t0, 0, 10);
    CHECK(s_results(&b, ids, 2), "t1 and t2 done");
    CHECK(s_stat(&b, "container." CX ".start_ms", 4000) == 4000, "the cold start measured: 4000 ms");

    /* t3 keeps A's worker busy; t4 waits for it rather than pay 4 s at B */
    s_send_same(&b, 1, ids + 2, CX);
    CHECK(s_take(&b, a, 1, &got, NULL) == 1 && strcmp(got, ids[2]) == 0, "t3 to A");
    s_send_same(&b, 1, ids + 3, CX);
    CHECK(s_stat(&b, "tasks_held_now", 1) == 1, "t4 is held at the endpoint");
    CHECK(s_quiet(&b, c), "B got no cold start for t4");
    ept_answer(a, ids[2]); /* A's worker frees */
    CHECK(s_take(&b, a, 1, &got, NULL) == 1 && strcmp(got, ids[3]) == 0,
          "t4 went to A's warm worker once it freed");
    CHECK(s_stat(&b, "tasks_held_served", 1) == 1, "counted as served from the hold");

    /* t5 waits for A's worker too, but A never frees it: after a start's
       time it is sent on as a cold start at B, not starved */
    s_send_same(&b, 1, ids + 4, CX);
    CHECK(s_stat(&b, "tasks_held", 2) == 2, "t5 held as well");
    CHECK(s_take(&b, c, 1, &got, NULL) == 1 && strcmp(got, ids[4]) == 0,
          "t5 went on to B once it had waited a cold start's time");
    CHECK(s_stat(&b, "tasks_held_expired", 1) == 1, "counted as a hold that expired");
    CHECK(s_manager_stat(&b, c, "cold", 2) == 2, "B made two cold starts in all (t2, t5)");
    ept_answer(a, ids[3]);
    ept_answer(c, ids[4]);
    CHECK(s_results(&b, ids + 2, 3), "t3, t4, t5 done: nothing lost");
    CHECK(s_stat(&b, "tasks_held_now", 0) == 0, "nothing held at the end");
done:
    s_finish(&b, started);
}

static void scenario_credit(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, NULL);
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    s_two(&b, &a, &c, 2); /* CREDIT(2) each, two workers each */
    CHECK(WAIT_UNTIL(&b, b.window == 4), "CREDIT is the sum of windows: 4 (got %u)", b.window);
    ept_define_container(&b, CX, "torch", "bwrap", "");
    enum { N = 12 };
    fx_id_text_t ids[N];
    const char *mix[N];
    for (int i = 0; i < N; i++)
        mix[i] = i % 3 == 2 ? CX : "";
    s_send_tasks(&b, N, ids, mix);
    int done = 0, defs_a = 0, defs_b = 0;
    int64_t deadline = fx_test_deadline(6 * WAIT_MS);
    bool x_before_def = false;
    while (done < N && fx_test_now_ms() < deadline) {
        ept_pump(&b, 20);
        ept_fake_t *fs[2] = {a, c};
        for (int k = 0; k < 2; k++) {
            fx_msg_t *m;
            while ((m = zlistx_first(fs[k]->inbox)) != NULL) {
                zlistx_detach_cur(fs[k]->inbox);
                int *defs = k ? &defs_b : &defs_a;
                if (m->type == FX_MSG_CONTAINERS)
                    (*defs)++;
                for (uint32_t i = 0; m->type == FX_MSG_TASKS && i < m->tasks.count; i++) {
                    x_before_def |= m->tasks.tasks[i].container[0] && *defs == 0;
                    ept_answer(fs[k], m->tasks.tasks[i].task_id);
                    done++;
                }
                fx_msg_destroy(&m);
            }
        }
    }
    CHECK(done == N, "the CREDIT-only managers got every task (%d of %d)", done, N);
    CHECK(!x_before_def, "an X task never came before X's definition");
    CHECK(defs_a <= 1 && defs_b <= 1, "at most one definition per session (%d %d)", defs_a, defs_b);
    CHECK(s_results(&b, ids, N), "every result reached the broker");
    long ra = -1, rb = -1;
    WAIT_UNTIL(&b, (ra = s_routed(&b, a)) + (rb = s_routed(&b, c)) == N);
    CHECK(ra + rb == N && ra > 0 && rb > 0, "both took part: A %ld, B %ld", ra, rb);
    CHECK(ept_stat(&b, "capacities") == 0 && ept_stat(&b, "credits") >= 2, "CREDIT only, no CAPACITY");
done:
    s_finish(&b, started);
}

/* f got exactly the tasks ids[want[0..n-1]] next (any order within), as
   TASKS (CONTAINERS in between skipped). */
static bool s_got(ept_broker_t *b, ept_fake_t *f, const fx_id_text_t *ids, const int *want, int n)
{
    fx_id_text_t got[16];
    if (s_take(b, f, n, got, NULL) != n)
        return false;
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = strcmp(got[k], ids[want[i]]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static void scenario_deep(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, NULL);
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    /* A: two idle workers warm for X; B: two warm for Y; both could evict them (cold slots 2) */
    fx_container_capacity_t ax = {.container_id = CX, .idle = 2}, by = {.container_id = CY, .idle = 2};
    s_pair(&b, &a, &c, 2, 2, &ax, 1, 2, &by, 1);
    ept_define_container(&b, CY, "jax", "bwrap", "");
    ept_define_container(&b, CZ, "julia", "bwrap", "");
    CHECK(WAIT_UNTIL(&b, b.window == 4 + FX_IX_QUEUE_AUTO_DEPTH),
          "containers named: CREDIT is the windows plus a queue of the endpoint's own (%u)", b.window);
    enum { N = 9 };
    fx_id_text_t ids[N];
    /* 0..3 X, 4 Z, 5..7 Y, 8 X: the front is X, more X than A's warm workers */
    const char *queue[N] = {CX, CX, CX, CX, CZ, CY, CY, CY, CX};
    s_send_tasks(&b, N, ids, queue);
    CHECK(s_got(&b, a, ids, (int[]){0, 1}, 2), "A got the first two X tasks, for its warm workers");
    CHECK(s_got(&b, c, ids, (int[]){5, 6}, 2), "B got two Y tasks from behind the front, for its warm workers");
    CHECK(s_quiet(&b, c), "B got no X task as a cold start (its Y workers would have been evicted)");
    CHECK(s_quiet(&b, a), "A got nothing more: no room");
    char key[160];
    snprintf(key, sizeof key, "routed.%s", CY);
    CHECK(s_manager_stat(&b, c, key, 2) == 2, "counter: two Y tasks routed to B");
    CHECK(s_manager_stat(&b, a, "cold", 0) == 0 && s_manager_stat(&b, c, "cold", 0) == 0,
          "no cold start so far");

    /* A's workers free: the next two X tasks, warm again */
    s_answer_all(a, ids, 2);
    CHECK(s_got(&b, a, ids, (int[]){2, 3}, 2), "A got X tasks 3 and 4 as its workers freed");
    CHECK(s_manager_stat(&b, a, "cold", 0) == 0, "A: still no cold start");

    /* Z is the front now, with no worker anywhere: one of B's Y workers frees
       (room 1) and Z takes it, ahead of Y task 8 that the warm worker could run */
    ept_answer(c, ids[5]);
    CHECK(s_got(&b, c, ids, (int[]){4}, 1), "Z went to B's first free room");
    CHECK(s_manager_stat(&b, c, "cold", 1) == 1, "counter: B's one cold start, for Z");
    CHECK(s_quiet(&b, c), "nothing else for B: its window is full");
    ept_answer(c, ids[6]);
    CHECK(s_got(&b, c, ids, (int[]){7}, 1), "then the last Y task, warm, as B's other Y worker freed");

    s_answer_all(a, ids + 2, 2);
    CHECK(s_got(&b, a, ids, (int[]){8}, 1), "A got the last X task");
    snprintf(key, sizeof key, "routed.%s", CX);
    CHECK(s_manager_stat(&b, a, key, 5) == 5, "counter: all five X tasks routed to A");
    CHECK(s_manager_stat(&b, a, "cold", 0) == 0, "none of them a cold start");
    CHECK(s_stat(&b, "tasks_cold_routed", 1) == 1, "one cold start in all: Z's");
    ept_answer(a, ids[8]);
    ept_answer(c, ids[4]);
    ept_answer(c, ids[7]);
    CHECK(s_results(&b, ids, N), "every result reached the broker");
done:
    s_finish(&b, started);
}

static void scenario_gave_up(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, NULL);
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    fx_container_capacity_t ax = {.container_id = CX, .failures = FX_LAUNCH_FAILURES_MAX};
    s_pair(&b, &a, &c, 4, 4, &ax, 1, 4, NULL, 0); /* A: cold slots, but it gave up starting X */
    fx_id_text_t ids[4], got[4];
    s_send_same(&b, 4, ids, CX);
    CHECK(s_take(&b, c, 4, got, NULL) == 4, "the X tasks went to B");
    CHECK(s_quiet(&b, a), "none to A, which stopped trying X");
    s_answer_all(c, got, 4);
    CHECK(s_results(&b, ids, 4), "every result reached the broker");
done:
    s_finish(&b, started);
}

/* The record of container id in the last ENDPOINT_STATUS, or NULL. */
static const fx_endpoint_container_t *s_status_of(const ept_broker_t *b, const char *id)
{
    for (uint32_t i = 0; i < b->st_ncontainers && i < 8; i++)
        if (strcmp(b->st_containers[i].container_id, id) == 0)
            return &b->st_containers[i];
    return NULL;
}

static void scenario_status(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    bool started = s_start(&b, NULL);
    if (!started)
        goto done;
    ept_fake_t *a, *c;
    s_two(&b, &a, &c, 4);
    fx_container_capacity_t ra[2] = {{.container_id = CX, .idle = 2, .busy = 1}, {.container_id = "", .idle = 1}};
    fx_container_capacity_t rb = {.container_id = CX, .starting = 1};
    ept_fake_capacity(a, 4, 0, ra, 2);
    ept_fake_capacity(c, 4, 1, &rb, 1);
    const fx_endpoint_container_t *x = NULL, *h = NULL;
    bool ok = WAIT_UNTIL(&b, (x = s_status_of(&b, CX)) && (h = s_status_of(&b, "")) && x->managers == 2 &&
                                 x->idle == 2 && x->busy == 1 && x->starting == 1 && h->managers == 1 &&
                                 h->idle == 1 && b.st_ncontainers == 2);
    CHECK(ok, "ENDPOINT_STATUS: X on 2 managers, 2 idle, 1 busy, 1 starting; the host on 1, 1 idle (%u records)",
          b.st_ncontainers);
    ept_fake_capacity(c, 4, 1, NULL, 0); /* B's start gave up */
    ok = WAIT_UNTIL(&b, (x = s_status_of(&b, CX)) && x->managers == 1 && x->starting == 0);
    CHECK(ok, "a new CAPACITY replaces B's records: X on 1 manager, none starting");
    a->beating = false; /* A is lost: its records go */
    ok = WAIT_UNTIL(&b, b.st_managers == 1 && b.st_ncontainers == 0);
    CHECK(ok, "A lost: no container records left (%u)", b.st_ncontainers);
done:
    s_finish(&b, started);
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"warming", scenario_warming, false}, {"random", scenario_random, false},
        {"warm_wait", scenario_warm_wait, false}, {"credit", scenario_credit, false},
        {"status", scenario_status, false}, {"gave_up", scenario_gave_up, false},
        {"deep", scenario_deep, false},
    };
    return fx_test_main("fx_endpoint_route_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
