/*  fx_endpoint_config_test.c: the real fx-endpoint run from a config.yaml
    (DIR/config.yaml, found through --dir) against the broker the harness
    plays.

        allowed   allowed_functions: a task for another function ends at the
                  endpoint with FX_E_FORBIDDEN naming the function; a task
                  for an allowed one reaches the manager
        broken    a broken config: exit 2, the file, line and key on stderr
        replace   (real managers) the local provider replaces a manager
                  killed with kill -9, and its tasks complete
        scale     (real managers) min_blocks 0, max_blocks 2, idle_time 1 s:
                  tasks start blocks, results return, blocks end; twice */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_endpoint_harness.h"

static void scenario_allowed(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    REQUIRE(ept_broker_start(&b) == 0, "fake broker starts");
    fx_id_text_t allowed;
    fx_id_new(allowed);
    char config[256];
    snprintf(config, sizeof config, "# only one function\nallowed_functions:\n  - %s\n", allowed);
    CHECK(ept_write_config(&b, config) == 0, "config written");
    CHECK(ept_endpoint_start(&b, "0", NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto stop;
    fx_keypair_t mkp = ept_manager_key(&b);
    ept_fake_t *m = ept_fake_new(&b, &mkp);
    ept_fake_hello(&b, m, 2);
    CHECK(WAIT_UNTIL(&b, b.window == 2), "window 2 (got %u)", b.window);

    fx_id_text_t ids[2];
    fx_msg_t *tasks =
        ept_tasks(2, ids, FX_FN_SHELL, "echo {0}", "", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN);
    memcpy(tasks->tasks.tasks[0].function_id, allowed, sizeof allowed);
    char other[FX_ID_LEN + 1];
    memcpy(other, tasks->tasks.tasks[1].function_id, sizeof other);
    ept_send(b.endpoint, b.ep_routing, tasks, &b.seq);

    fx_msg_t *r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    REQUIRE(r && r->results.count == 1, "one result at the broker");
    fx_result_t *res = &r->results.results[0];
    CHECK(strcmp(res->task_id, ids[1]) == 0, "for the task of the other function");
    CHECK(res->status == FX_RESULT_ERROR && res->error_code == FX_E_FORBIDDEN,
          "ERROR FX_E_FORBIDDEN (%u, %u)", res->status, res->error_code);
    CHECK(res->error_text && strstr(res->error_text, other) && strstr(res->error_text, "allowed_functions"),
          "naming the function and the key: %s", res->error_text ? res->error_text : "(none)");
    fx_msg_destroy(&r);
    fx_msg_t *t = ept_expect(&b, m->inbox, FX_MSG_TASKS);
    CHECK(t && t->tasks.count == 1 && strcmp(t->tasks.tasks[0].task_id, ids[0]) == 0,
          "the manager got the allowed task only");
    fx_msg_destroy(&t);
    ept_answer(m, ids[0]);
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]), "the allowed task's result reaches the broker");
    fx_msg_destroy(&r);
    ept_ack(&b, ids, 2);
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    CHECK(ept_stat(&b, "tasks_forbidden") == 1, "stats: tasks_forbidden=1 (%ld)",
          ept_stat(&b, "tasks_forbidden"));
stop:
    ept_broker_stop(&b, fx_check_failures > 0);
done:
    return;
}

/* fx-endpoint with this config: exit 2 and stderr holding want. */
static void s_refused(ept_broker_t *b, const char *config, const char *want)
{
    CHECK(ept_write_config(b, config) == 0, "config written");
    CHECK(ept_endpoint_start(b, NULL, NULL) == 0, "fx-endpoint starts");
    CHECK(WAIT_UNTIL(b, b->exit_status != -1), "and exits");
    CHECK(b->exit_status == 2, "with 2 (bad configuration): %d", b->exit_status);
    char path[PATH_MAX + 16], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/ep.stderr", b->root);
    CHECK(fx_file_read(path, 1 << 16, &text, &len) == 0 && strstr(text, want), "stderr says \"%s\": %s", want,
          text ? text : "(nothing)");
    free(text);
}

static void scenario_broken(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    REQUIRE(ept_broker_start(&b) == 0, "fake broker starts");
    s_refused(&b, "provider:\n  type: local\n  max_blocks: two\n",
              "config.yaml:3:15: provider.max_blocks: expected a whole number from 0 to 1024, got \"two\"");
    s_refused(&b, "name: a\n  bad: indent\n", "config.yaml:2:6: not valid YAML");
    s_refused(&b, "credentials: missing.creds\n", "config.yaml:1:14: credentials: cannot read");
    s_refused(&b, "address: 203.0.113.77\n", "config.yaml:1:10: address: no network interface");
    ept_broker_stop(&b, fx_check_failures > 0);
done:
    return;
}

/* ------------------------------------------------------------ real managers */

static const char s_py_nap[] = "import time\n"
                               "def nap(x):\n"
                               "    time.sleep(1)\n"
                               "    return x\n";

/* Python tasks that sleep a second. */
static void s_send_naps(ept_broker_t *b, fx_id_text_t *ids, int count)
{
    ept_send(b->endpoint, b->ep_routing,
             ept_tasks(count, ids, FX_FN_PYTHON, s_py_nap, "nap", ept_shell_payload, EPT_SHELL_PAYLOAD_LEN),
             &b->seq);
}

static bool s_log_has(ept_broker_t *b, const char *text)
{
    char path[PATH_MAX + 16], *log = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/ep.stderr", b->root);
    bool found = fx_file_read(path, 1 << 22, &log, &len) == 0 && strstr(log, text);
    free(log);
    return found;
}

/* The flow-control invariant held all along (SPEC 7). */
static void s_check_window(ept_broker_t *b)
{
    long held = ept_stat(b, "max_held"), win = ept_stat(b, "window_at_max_held"),
         over = ept_stat(b, "held_over_window");
    CHECK(held <= win && over == 0,
          "never held more than the window: max_held %ld, window then %ld, over %ld", held, win, over);
}

/* The local provider replaces a block whose manager was killed with
   kill -9; the tasks it held run again and complete. */
static void scenario_replace(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    REQUIRE(ept_broker_start(&b) == 0, "fake broker starts");
    char key[PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    CHECK(ept_write_config(&b,
                           "workers_per_node: 2\nprefetch: 0\n"
                           "provider: {type: local, init_blocks: 1, min_blocks: 1, max_blocks: 1}\n") == 0,
          "config written");
    CHECK(ept_endpoint_start(&b, NULL, NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto stop;
    CHECK(WAIT_UNTIL(&b, b.window == 2 && b.st_managers == 1 && b.st_free == 2),
          "one manager of 2 workers, free (window %u, managers %u, free %u)", b.window, b.st_managers,
          b.st_free);
    long before[4], after[4];
    REQUIRE(ept_read_pids(&b, before, 4) == 1, "managers.pids lists one manager");
    fx_id_text_t ids[2];
    s_send_naps(&b, ids, 2);
    CHECK(WAIT_UNTIL(&b, b.st_free == 0 && b.st_managers == 1), "both tasks at the manager (free %u)",
          b.st_free);
    kill((pid_t) before[0], SIGKILL);
    CHECK(WAIT_UNTIL(&b, ept_read_pids(&b, after, 4) == 1 && after[0] != before[0]),
          "a new manager replaces the killed one (%ld)", before[0]);
    int ok = 0;
    CHECK(ept_collect_results(&b, ids, 2, &ok) == 2 && ok == 2, "both tasks complete (ok %d)", ok);
    ept_ack(&b, ids, 2);
    CHECK(s_log_has(&b, "was killed by signal 9"), "the log says how the manager ended");
    CHECK(s_log_has(&b, "failed: fx-manager pid"), "and that its block failed, with the back-off");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    CHECK(ept_stat(&b, "blocks_failed") == 1 && ept_stat(&b, "blocks_submitted") == 2,
          "stats: one failed block, two submitted (%ld, %ld)", ept_stat(&b, "blocks_failed"),
          ept_stat(&b, "blocks_submitted"));
    CHECK(ept_stat(&b, "tasks_requeued") == 2, "the two tasks went back to the queue (%ld)",
          ept_stat(&b, "tasks_requeued"));
    s_check_window(&b);
    CHECK(WAIT_UNTIL(&b, !ept_process_with(key)), "no fx-manager left running");
stop:
    ept_broker_stop(&b, fx_check_failures > 0);
done:
    return;
}

/* min_blocks 0, max_blocks 2: no manager at first, yet a window of two
   blocks; tasks make both blocks start (never a third), their results
   return, and after idle_time both blocks end; tasks again bring them
   back. */
static void scenario_scale(void *ctx)
{
    (void) ctx;
    ept_broker_t b;
    REQUIRE(ept_broker_start(&b) == 0, "fake broker starts");
    char key[PATH_MAX + 32], last[512];
    snprintf(key, sizeof key, "%s/ep/manager.key", b.root);
    CHECK(ept_write_config(
              &b, "workers_per_node: 1\nprefetch: 0\nidle_time: 1s\n"
                  "provider:\n  type: local\n  init_blocks: 0\n  min_blocks: 0\n  max_blocks: 2\n") == 0,
          "config written");
    CHECK(ept_endpoint_start(&b, NULL, NULL) == 0, "fx-endpoint starts");
    if (!ept_until_ready(&b))
        goto stop;
    CHECK(WAIT_UNTIL(&b, b.window == 2), "no manager, yet the window covers two blocks (got %u)", b.window);
    long pids[4];
    CHECK(ept_read_pids(&b, pids, 4) == 0 && !ept_process_with(key), "no block started without tasks");
    for (int round = 0; round < 2; round++) {
        fx_id_text_t ids[2];
        s_send_naps(&b, ids, 2);
        CHECK(WAIT_UNTIL(&b, b.st_managers == 2), "round %d: two blocks start for two tasks (managers %u)",
              round, b.st_managers);
        int ok = 0;
        CHECK(ept_collect_results(&b, ids, 2, &ok) == 2 && ok == 2, "round %d: both results (ok %d)", round,
              ok);
        ept_ack(&b, ids, 2);
        CHECK(ept_stat(&b, "blocks_submitted") == 2 * (round + 1),
              "round %d: %d blocks submitted in all (%ld)", round, 2 * (round + 1),
              ept_stat(&b, "blocks_submitted"));
        CHECK(WAIT_UNTIL(&b, !ept_process_with(key) && b.st_managers == 0),
              "round %d: idle for 1 s, both blocks end (managers %u)", round, b.st_managers);
        CHECK(b.window == 2, "round %d: the window still covers two blocks (%u)", round, b.window);
    }
    /* the stats file is rewritten every second: wait for it to catch up */
    CHECK(WAIT_UNTIL(&b, ept_stat(&b, "blocks_cancelled") == 4) && ept_stat(&b, "blocks_failed") == 0,
          "stats: four blocks scaled in, none failed (%ld, %ld)", ept_stat(&b, "blocks_cancelled"),
          ept_stat(&b, "blocks_failed"));
    CHECK(WAIT_UNTIL(&b, (ept_stat_text(&b, "scaling_last", last, sizeof last), strstr(last, "scale in: ending block") &&
                                                                                 strstr(last, "idle for"))),
          "the last decision is in the stats file: %s", last);
    CHECK(s_log_has(&b, "scale out by 2 block(s) to 2: 2 task(s) outstanding"),
          "the scale-out is logged with why");
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    s_check_window(&b);
stop:
    ept_broker_stop(&b, fx_check_failures > 0);
done:
    return;
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"allowed", scenario_allowed, false},
        {"broken", scenario_broken, false},
        {"replace", scenario_replace, true},
        {"scale", scenario_scale, true},
    };
    return fx_test_main("fx_endpoint_config_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
