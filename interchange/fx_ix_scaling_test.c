/*  fx_ix_scaling_test.c: the scaling strategy (fx_ix_scaling.h) against a
    scheduler played by the test (a provider whose blocks change state when
    the test says), on a clock the test moves: scale out to demand within
    max_blocks, pending blocks counted (no second submission), a failed
    block backed off and the back-off doubled, a held block cancelled, the
    back-off reset by a hello, idle blocks scaled in down to min_blocks, an
    ended block's managers dropped and their tasks requeued, the window's
    potential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_file.h"
#include "fx_log.h"

#include "fx_ix_scaling.h"

#include "fx_check.h"
#include "fx_testkit.h"

/* ------------------------------------------------------------ the scheduler */

#define S_JOBS 16

typedef struct {
    int submitted, cancelled, polls;
    bool fail_next; /* the next submission fails at once */
    struct {
        fx_id_text_t block;
        fx_ix_block_state_t state; /* what the next poll reports */
        char reason[64];
    } jobs[S_JOBS];
} s_sched_t;

static s_sched_t s_sched;

static void *s_create(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch, char *err,
                      size_t errlen)
{
    (void) conf;
    (void) launch;
    (void) err;
    (void) errlen;
    memset(&s_sched, 0, sizeof s_sched);
    return &s_sched;
}

static void s_destroy(void *impl)
{
    (void) impl;
}

static int s_submit(void *impl, fx_ix_block_t *block, int64_t now)
{
    (void) now;
    s_sched_t *s = impl;
    if (s->fail_next || s->submitted == S_JOBS) {
        s->fail_next = false;
        block->state = FX_IX_BLOCK_FAILED;
        snprintf(block->reason, sizeof block->reason, "sbatch: error: invalid partition");
        return -1;
    }
    int j = s->submitted++;
    memcpy(s->jobs[j].block, block->id, sizeof block->id);
    s->jobs[j].state = FX_IX_BLOCK_PENDING;
    snprintf(block->job_id, sizeof block->job_id, "%d", 100 + j);
    block->state = FX_IX_BLOCK_PENDING;
    return 0;
}

static void s_poll(void *impl, fx_ix_block_t *const *blocks, size_t count, int64_t now)
{
    (void) now;
    s_sched_t *s = impl;
    s->polls++;
    for (size_t i = 0; i < count; i++) {
        int j = atoi(blocks[i]->job_id) - 100;
        if (j < 0 || j >= s->submitted)
            continue;
        blocks[i]->state = s->jobs[j].state;
        snprintf(blocks[i]->reason, sizeof blocks[i]->reason, "%s", s->jobs[j].reason);
    }
}

static void s_cancel(void *impl, fx_ix_block_t *block, int64_t now)
{
    (void) now;
    s_sched_t *s = impl;
    int j = atoi(block->job_id) - 100;
    s->cancelled++;
    if (j >= 0 && j < s->submitted) {
        s->jobs[j].state = FX_IX_BLOCK_DONE;
        snprintf(s->jobs[j].reason, sizeof s->jobs[j].reason, "cancelled");
    }
}

static size_t s_adopt(void *impl, fx_ix_block_t *out, size_t cap)
{
    (void) impl;
    (void) out;
    (void) cap;
    return 0;
}

static void s_stop(void *impl, fx_ix_block_t *const *blocks, size_t count, int timeout_ms)
{
    (void) impl;
    (void) blocks;
    (void) count;
    (void) timeout_ms;
}

static const fx_ix_provider_ops_t s_ops = {"played", s_create, s_destroy, s_submit,
                                           s_poll,   s_cancel, s_adopt,   s_stop};

/* ------------------------------------------------------------ helpers */

static void s_set(int job, fx_ix_block_state_t state, const char *reason)
{
    s_sched.jobs[job].state = state;
    snprintf(s_sched.jobs[job].reason, sizeof s_sched.jobs[job].reason, "%s", reason);
}

static void s_add_tasks(fx_ix_work_t *w, int count)
{
    for (int i = 0; i < count; i++) {
        fx_task_t t;
        memset(&t, 0, sizeof t);
        fx_id_new(t.task_id);
        t.body = zframe_new("b", 1);
        t.payload = zframe_new("p", 1);
        fx_ix_tasks_add(w->tasks, &t);
    }
}

/* Manager index of job j's block says hello, with workers and a window. */
static fx_ix_manager_t *s_hello(fx_ix_work_t *w, int job, uint32_t workers, int64_t now)
{
    fx_msg_t *hello = fx_msg_new(FX_MSG_MANAGER_HELLO);
    fx_ix_block_manager_id(s_sched.jobs[job].block, 0, hello->manager_hello.manager_id);
    snprintf(hello->manager_hello.host, sizeof hello->manager_hello.host, "node%d", job);
    hello->manager_hello.workers = workers;
    char route[8];
    snprintf(route, sizeof route, "r%d", job);
    zframe_t *routing = zframe_new(route, strlen(route));
    fx_ix_manager_t *m = fx_ix_managers_hello(w->managers, routing, hello, now, w->orphans);
    fx_ix_manager_set_window(m, workers + 1);
    zframe_destroy(&routing);
    fx_msg_destroy(&hello);
    return m;
}

static char s_log_path[64];

/* True if the log so far has text. */
static bool s_logged(const char *text)
{
    char *log = NULL;
    size_t len = 0;
    bool found = fx_file_read(s_log_path, 1 << 20, &log, &len) == 0 && strstr(log, text);
    free(log);
    return found;
}

/* ------------------------------------------------------------ scenario */

static void scenario_rules(void *ctx)
{
    (void) ctx;
    snprintf(s_log_path, sizeof s_log_path, "/tmp/fx-scaling-test-%d.log", (int) getpid());
    fx_log_open(s_log_path);
    fx_ix_work_t w = {0};
    w.tasks = fx_ix_tasks_new();
    w.managers = fx_ix_managers_new();
    w.results = fx_ix_results_new();
    w.orphans = zlistx_new();
    fx_ix_provider_conf_t conf = {.kind = FX_IX_PROVIDER_SLURM,
                                  .nodes_per_block = 1,
                                  .init_blocks = 0,
                                  .min_blocks = 1,
                                  .max_blocks = 3};
    fx_ix_launch_t launch = {.workers = 2, .prefetch = 1};
    char err[256] = "";
    fx_ix_scaling_t *s = fx_ix_scaling_new_with(&s_ops, &conf, &launch, 1000, err, sizeof err);
    REQUIRE(s, "made: %s", err);
    CHECK(fx_ix_scaling_potential(s) == 9,
          "potential: 3 blocks x 1 node x (2 workers + 1 prefetch) = 9 (%llu)",
          (unsigned long long) fx_ix_scaling_potential(s));

    int64_t t = 0;
    fx_ix_scaling_tick(s, &w, t, true);
    CHECK(s_sched.submitted == 1, "no task: min_blocks 1 is kept (%d)", s_sched.submitted);
    int polls = s_sched.polls;
    fx_ix_scaling_tick(s, &w, t += 100, true);
    CHECK(s_sched.polls == polls, "evaluated at most every 250 ms (%d polls)", s_sched.polls);

    s_add_tasks(&w, 5);
    fx_ix_scaling_tick(s, &w, t = 250, true);
    CHECK(s_sched.submitted == 3, "5 tasks, 2 per block: 3 blocks, and max_blocks is 3 (%d)",
          s_sched.submitted);
    CHECK(strstr(w.stats.scaling_last, "scale out by 2 block(s) to 3: 5 task(s) outstanding"),
          "the decision says why: %s", w.stats.scaling_last);
    s_add_tasks(&w, 4);
    fx_ix_scaling_tick(s, &w, t = 500, true);
    CHECK(s_sched.submitted == 3 && w.stats.blocks_active == 3, "pending blocks count: none more at max (%d)",
          s_sched.submitted);

    /* a block fails: reported, and replaced only after 1 s; then 2 s */
    s_set(1, FX_IX_BLOCK_FAILED, "NODE_FAIL");
    fx_ix_scaling_tick(s, &w, t = 750, true);
    CHECK(w.stats.blocks_failed == 1 &&
              s_logged("(job 101) failed: NODE_FAIL; a new block, if needed, in 1000 ms"),
          "the failure is reported with its reason and the back-off");
    fx_ix_scaling_tick(s, &w, t = 1000, true);
    fx_ix_scaling_tick(s, &w, t = 1500, true);
    CHECK(s_sched.submitted == 3, "no resubmission within the 1 s back-off (%d)", s_sched.submitted);
    CHECK(strstr(w.stats.scaling_last, "waiting") && strstr(w.stats.scaling_last, "back-off"),
          "the wait is said: %s", w.stats.scaling_last);
    fx_ix_scaling_tick(s, &w, t = 1750, true);
    CHECK(s_sched.submitted == 4, "replaced after the back-off (%d)", s_sched.submitted);
    s_set(3, FX_IX_BLOCK_FAILED, "NODE_FAIL");
    fx_ix_scaling_tick(s, &w, t = 2000, true);
    fx_ix_scaling_tick(s, &w, t = 3750, true);
    CHECK(s_sched.submitted == 4, "second failure in a row: 2 s back-off (%d)", s_sched.submitted);
    fx_ix_scaling_tick(s, &w, t = 4000, true);
    CHECK(s_sched.submitted == 5, "then replaced (%d)", s_sched.submitted);

    /* a held block is cancelled and counted as a failure */
    s_set(4, FX_IX_BLOCK_HELD, "JobHeldAdmin");
    fx_ix_scaling_tick(s, &w, t = 4250, true);
    CHECK(s_sched.cancelled == 1 && s_logged("(job 104) is held: JobHeldAdmin; cancelling it"),
          "held: cancelled and reported");
    fx_ix_scaling_tick(s, &w, t = 4500, true); /* the cancel shows DONE: the block leaves */
    CHECK(w.stats.blocks_active == 2, "two blocks left (%llu)", (unsigned long long) w.stats.blocks_active);

    /* a hello resets the back-off: the next failure waits 1 s again */
    s_set(0, FX_IX_BLOCK_RUNNING, "");
    s_set(2, FX_IX_BLOCK_RUNNING, "");
    fx_ix_manager_t *m0 = s_hello(&w, 0, 2, t);
    s_hello(&w, 2, 2, t);
    fx_ix_scaling_tick(s, &w, t = 8250, true); /* past the held block's 4 s back-off */
    CHECK(s_sched.submitted == 6, "the held block is replaced after its back-off (%d)", s_sched.submitted);
    s_set(5, FX_IX_BLOCK_FAILED, "boot failure");
    fx_ix_scaling_tick(s, &w, t = 8500, true);
    fx_ix_scaling_tick(s, &w, t = 9500, true);
    CHECK(s_sched.submitted == 7, "after a hello, a failure backs off 1 s again (%d)", s_sched.submitted);

    /* a task at a manager of block 0, then block 0 ends (walltime): its
       manager is dropped and the task requeued */
    fx_ix_task_t *task = fx_ix_tasks_pop(w.tasks);
    fx_ix_manager_hold(m0, task);
    zlistx_purge(fx_ix_manager_outbox(m0));
    size_t queued = fx_ix_tasks_queued(w.tasks);
    s_set(0, FX_IX_BLOCK_DONE, "TIMEOUT");
    fx_ix_scaling_tick(s, &w, t = 9750, true);
    CHECK(fx_ix_managers_size(w.managers) == 1 && fx_ix_tasks_queued(w.tasks) == queued + 1,
          "the ended block's manager is dropped and its task requeued (%zu managers, %zu queued)",
          fx_ix_managers_size(w.managers), fx_ix_tasks_queued(w.tasks));
    CHECK(s_sched.submitted == 8, "a block that served and ended is no failure: replaced at once (%d)",
          s_sched.submitted);
    CHECK(s_logged("(job 100) ended: TIMEOUT"), "its end is reported");
    fx_ix_scaling_tick(s, &w, t = 10000, true);
    CHECK(s_sched.submitted == 8, "and only once (%d)", s_sched.submitted);

    /* the tasks are done: idle blocks end after 1 s, down to min_blocks 1 */
    while (fx_ix_tasks_peek(w.tasks)) {
        fx_ix_task_t *done = fx_ix_tasks_pop(w.tasks);
        fx_ix_tasks_done(w.tasks, &done);
    }
    s_set(6, FX_IX_BLOCK_RUNNING, "");
    s_set(7, FX_IX_BLOCK_RUNNING, "");
    fx_ix_scaling_tick(s, &w, t = 10250, true);
    CHECK(s_sched.cancelled == 1, "not idle long enough yet (%d cancelled)", s_sched.cancelled);
    fx_ix_scaling_tick(s, &w, t = 11500, true);
    CHECK(s_sched.cancelled == 3 && w.stats.blocks_active == 1, "idle for 1 s: scaled in to min 1 (%d, %llu)",
          s_sched.cancelled, (unsigned long long) w.stats.blocks_active);
    CHECK(strstr(w.stats.scaling_last, "scale in: ending block"), "said: %s", w.stats.scaling_last);
    fx_ix_scaling_tick(s, &w, t = 13000, true);
    CHECK(s_sched.cancelled == 3 && w.stats.blocks_active == 1, "min_blocks stays");

    /* draining: nothing new */
    s_add_tasks(&w, 6);
    fx_ix_scaling_tick(s, &w, t = 13250, false);
    CHECK(s_sched.submitted == 8, "no submission while draining (%d)", s_sched.submitted);

    fx_ix_scaling_destroy(&s);
    CHECK(s == NULL, "destroyed");
    fx_ix_managers_destroy(&w.managers);
    fx_ix_tasks_destroy(&w.tasks);
    fx_ix_results_destroy(&w.results);
    zlistx_destroy(&w.orphans);
done:
    if (!getenv("FX_TEST_KEEP_LOG"))
        unlink(s_log_path);
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"rules", scenario_rules, false},
    };
    return fx_test_main("fx_ix_scaling_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
