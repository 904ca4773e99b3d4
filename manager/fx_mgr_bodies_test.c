/*  fx_mgr_bodies_test: function bodies by version through fx-manager
    (SPEC 12.1.4) and the provenance of its results (12.5, 12.6), against
    the fake interchange (fx_ixfake.h) with real fx-workers.

        fx_mgr_bodies_test PATH-TO-fx-manager PATH-TO-python3 [SCENARIO...|all]

    bodies: one version's body comes in the first task only (and again,
    as today's interchange sends it, in a later TASKS); every task of it
    runs, and each worker is sent the body once (counted from the
    manager's log line for each body it sends a worker); a task of an
    unknown version without a body ends with FX_E_NOT_FOUND, and the
    manager goes on.
    provenance: every result names the manager's host, the worker's pid
    and runtime, and carries stamps 7 to 10 in order; the manager's own
    error results name its host and keep the task's stamps. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_ixfake.h"

/* a little work, so that both workers take some */
#define S_BODY "import os, time\ndef f(x):\n    time.sleep(0.05)\n    return (x, os.getpid())\n"

/* A function version id from a seed (40 hex digits). */
static void s_version(char *out, unsigned seed)
{
    for (int i = 0; i < FX_OID_LEN; i++)
        out[i] = "0123456789abcdef"[(seed * 2654435761u + (unsigned) i * 40503u) >> 7 & 15];
    out[FX_OID_LEN] = '\0';
}

/* n tasks of version, f(first + i); with the body only if `body`
   (then in the first task only). Their ids in ids. */
static void s_send(ix_t *ix, const char *version, int first, int n, bool body, fx_id_text_t *ids)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, (uint32_t) n);
    for (int i = 0; i < n; i++) {
        fx_task_t *t = &msg->tasks.tasks[i];
        char args[32];
        snprintf(args, sizeof args, "((%d,), {})", first + i);
        ix_task(ix, t, S_BODY, args);
        fx_strlcpy(t->function_version, version, sizeof t->function_version);
        fx_strlcpy(t->serializer, "source+pickle", sizeof t->serializer);
        if (!body || i > 0) {
            zframe_destroy(&t->body);
            t->body = zframe_new_empty();
        }
        strcpy(ids[i], t->task_id);
    }
    CHECK(ix_send(ix, &msg) == FX_OK, "send TASKS");
}

/* Waits for the results of these n tasks; each OK with (first + i, pid):
   the pids in pids. Checks their provenance if `provenance`. */
static void s_results(ix_t *ix, const fx_id_text_t *ids, int first, int n, int *pids, bool provenance)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    for (int got = 0; got < n;) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        if (!msg) {
            CHECK(0, "only %d of %d results", got, n);
            return;
        }
        for (uint32_t r = 0; r < msg->results.count; r++, got++) {
            fx_result_t *res = &msg->results.results[r];
            int i = 0;
            while (i < n && strcmp(ids[i], res->task_id) != 0)
                i++;
            CHECK(i < n && !pids[i], "unknown or repeated result %s", res->task_id);
            CHECK(res->status == FX_RESULT_OK, "status %d %s", res->status,
                  res->error_text ? res->error_text : "");
            if (i == n || res->status != FX_RESULT_OK)
                continue;
            char *repr = ix_repr(ix, res->value);
            int x = -1;
            sscanf(repr, "(%d, %d)", &x, &pids[i]);
            CHECK(x == first + i, "task %d returned %s", i, repr);
            free(repr);
            if (!provenance)
                continue;
            CHECK(strcmp(res->host, host) == 0, "host %s, want %s", res->host, host);
            CHECK(res->worker_pid == (uint32_t) pids[i], "worker_pid %u, the task ran in %d", res->worker_pid,
                  pids[i]);
            CHECK(strncmp(res->worker_runtime, "python 3.", 9) == 0, "worker_runtime %s",
                  res->worker_runtime);
            CHECK(res->container[0] == '\0', "container %s", res->container);
            const uint64_t *t = res->times;
            CHECK(t[FX_TIME_MANAGER_RECEIVED] && t[FX_TIME_WORKER_STARTED] >= t[FX_TIME_MANAGER_RECEIVED] &&
                      t[FX_TIME_WORKER_FINISHED] >= t[FX_TIME_WORKER_STARTED] &&
                      t[FX_TIME_MANAGER_SENT] >= t[FX_TIME_WORKER_FINISHED],
                  "stamps 7-10: %llu %llu %llu %llu", (unsigned long long) t[7], (unsigned long long) t[8],
                  (unsigned long long) t[9], (unsigned long long) t[10]);
        }
        fx_msg_destroy(&msg);
    }
}

IX_SCENARIO(s_test_bodies)
{
    enum { W = 2, N1 = 8, N2 = 6 };
    ix->capture_stderr = true;
    REQUIRE(ix_start(ix, W, 8) == 0 && ix_handshake(ix) == 0, "setup");
    char v1[FX_OID_LEN + 1], v2[FX_OID_LEN + 1];
    s_version(v1, 11);
    s_version(v2, 12);
    fx_id_text_t ids[N1 + N2];
    int pids[N1 + N2] = {0};
    s_send(ix, v1, 0, N1, true, ids);
    s_results(ix, ids, 0, N1, pids, false);
    /* later TASKS: without the body, and with it again (today's interchange) */
    s_send(ix, v1, N1, N2 / 2, false, ids + N1);
    s_send(ix, v1, N1 + N2 / 2, N2 - N2 / 2, true, ids + N1 + N2 / 2);
    s_results(ix, ids + N1, N1, N2, pids + N1, false); /* the two TASKS' results in any order */
    int distinct = 0;
    for (int i = 0; i < N1 + N2; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++)
            seen = seen || pids[k] == pids[i];
        distinct += !seen && pids[i];
    }
    char line[128];
    snprintf(line, sizeof line, "gets the body of function version %s", v1);
    int sent = ix_log_count(ix, line);
    printf("bodies: %d tasks of one version on %d workers, %d bodies sent to workers\n", N1 + N2, distinct,
           sent);
    CHECK(distinct >= 1 && sent == distinct, "the body went to workers %d times, %d workers ran the tasks",
          sent, distinct);
    /* a version never sent with its body */
    fx_id_text_t unknown;
    s_send(ix, v2, 0, 1, false, &unknown);
    fx_msg_t *msg = ix_result(ix, unknown);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_NOT_FOUND && r->error_text &&
                  strstr(r->error_text, v2),
              "unknown version: status %d code %s text %s", r->status, fx_errname(r->error_code),
              r->error_text ? r->error_text : "");
    }
    fx_msg_destroy(&msg);
    /* and the manager goes on */
    fx_id_text_t after;
    s_send(ix, v1, 100, 1, false, &after);
    int pid = 0;
    s_results(ix, &after, 100, 1, &pid, false);
    ix_stop(ix, false);
done:;
}

IX_SCENARIO(s_test_provenance)
{
    enum { N = 6 };
    REQUIRE(ix_start(ix, 2, 4) == 0 && ix_handshake(ix) == 0, "setup");
    char v[FX_OID_LEN + 1];
    s_version(v, 21);
    fx_id_text_t ids[N];
    int pids[N] = {0};
    s_send(ix, v, 0, N, true, ids);
    s_results(ix, ids, 0, N, pids, true);
    /* the manager's own error results say where, and keep the task's stamps */
    char unknown_v[FX_OID_LEN + 1];
    s_version(unknown_v, 22);
    fx_id_text_t unknown;
    s_send(ix, unknown_v, 0, 1, false, &unknown);
    fx_msg_t *msg = ix_result(ix, unknown);
    if (msg) {
        fx_result_t *r = &msg->results.results[0];
        char host[256] = "";
        gethostname(host, sizeof host - 1);
        CHECK(r->error_code == FX_E_NOT_FOUND && strcmp(r->host, host) == 0 && r->worker_pid == 0 &&
                  r->times[FX_TIME_MANAGER_RECEIVED] && r->times[FX_TIME_MANAGER_SENT],
              "error result: code %s host %s pid %u stamps %llu %llu", fx_errname(r->error_code), r->host,
              r->worker_pid, (unsigned long long) r->times[FX_TIME_MANAGER_RECEIVED],
              (unsigned long long) r->times[FX_TIME_MANAGER_SENT]);
    }
    fx_msg_destroy(&msg);
    ix_stop(ix, false);
done:;
}

static const fx_scenario_t s_tests[] = {
    {.name = "bodies", .run = s_test_bodies},
    {.name = "provenance", .run = s_test_provenance},
};

int main(int argc, char **argv)
{
    return ix_main(argc, argv, s_tests, sizeof s_tests / sizeof s_tests[0]);
}
