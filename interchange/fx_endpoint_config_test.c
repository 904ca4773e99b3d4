/*  fx_endpoint_config_test.c: the real fx-endpoint run from a config.yaml
    (DIR/config.yaml, found through --dir) against the broker the harness
    plays.

        allowed   allowed_functions: a task for another function ends at the
                  endpoint with FX_E_FORBIDDEN naming the function; a task
                  for an allowed one reaches the manager
        broken    a broken config: exit 2, the file, line and key on stderr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_endpoint_harness.h"

/* The value of key in the endpoint's stats file, or -1. */
static long s_stat(ept_broker_t *b, const char *key)
{
    char path[PATH_MAX + 16], err[256];
    snprintf(path, sizeof path, "%s/ep.stats", b->root);
    fx_kv_t kv;
    if (fx_kv_load(path, &kv, err, sizeof err) != 0)
        return -1;
    const char *v = fx_kv_get(&kv, key);
    return v ? atol(v) : -1;
}

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
    fx_msg_t *answer = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(answer, 1);
    ept_fill_result(answer, 0, ids[0], "v0");
    ept_send(m->sock, NULL, answer, &m->seq);
    r = ept_expect(&b, b.ep_inbox, FX_MSG_RESULTS);
    CHECK(r && ept_has_result(r, ids[0]), "the allowed task's result reaches the broker");
    fx_msg_destroy(&r);
    ept_ack(&b, ids, 2);
    CHECK(ept_endpoint_stop(&b) == 0, "fx-endpoint exits 0 on SIGTERM");
    CHECK(s_stat(&b, "tasks_forbidden") == 1, "stats: tasks_forbidden=1 (%ld)",
          s_stat(&b, "tasks_forbidden"));
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

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"allowed", scenario_allowed, false},
        {"broken", scenario_broken, false},
    };
    return fx_test_main("fx_endpoint_config_test", argc - 1, argv + 1, scenarios,
                        sizeof scenarios / sizeof scenarios[0], NULL);
}
