/*  fx_mgr_ctr_test: the manager's pools by container (SPEC 12.7) against
    the fake interchange (fx_ixfake.h), with real bubblewrap containers:
    a task that proves it ran inside, warm reuse, failed launches, lru
    evictions, keep, the cap per container, idle retirement, and podman
    where it works (skipped, saying why, where it does not).

    The manager's counters are read from its --stats-file (fx_mgr_pools.c:
    `cold_starts N`, and a line per container); every wait is for a
    counter or a message, with a deadline.

        fx_mgr_ctr_test PATH-TO-fx-manager PATH-TO-python3 [SCENARIO...|all] */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_container.h"
#include "fx_file.h"
#include "fx_ixfake.h"

/* A bwrap template without a pid namespace (so each worker's pid is its
   own, and warm reuse shows as the same pid): the host's root read-only,
   its own /tmp, its own hostname, a marker in its environment; {binds}
   brings fx-worker's folder (the build may live under /tmp). */
#define S_BWRAP_TEMPLATE                                                                                             \
    "bwrap --die-with-parent --unshare-uts --hostname {name} --ro-bind {image} / --dev /dev --proc /proc --tmpfs "   \
    "/tmp {binds} --setenv FX_MARK inside-{name} {env} {command}"

/* f(probe): what the worker sees: "MARK|HOSTNAME|PROBE-VISIBLE|FX_CONTAINER_ID|FX_CONTAINER_NAME|PID". */
static const char s_where[] = "import os, socket\n"
                              "def f(probe):\n"
                              "    e = os.environ\n"
                              "    return '%s|%s|%d|%s|%s|%d' % (e.get('FX_MARK', '-'), socket.gethostname(),\n"
                              "        os.path.exists(probe), e.get('FX_CONTAINER_ID', '-'),\n"
                              "        e.get('FX_CONTAINER_NAME', '-'), os.getpid())\n";

typedef struct {
    char mark[64], host[64], id[64], name[64];
    int probe, pid;
} s_where_t;

typedef struct {
    fx_id_text_t id;
    const char *name, *runtime, *image;
} s_ctr_t;

static char s_stats[160];
static uint32_t s_prefetch; /* --prefetch of the next manager started */

static void s_unlink_stats(void)
{
    if (s_stats[0])
        unlink(s_stats);
}

/* Starts the manager with these flags (NULL-terminated) and a stats file. */
static int s_start(ix_t *ix, uint32_t workers, const char *const *flags)
{
    int n = 0;
    for (; flags && flags[n] && n < 12; n++)
        ix->extra[n] = flags[n];
    ix->extra[n++] = "--stats-file";
    ix->extra[n++] = s_stats;
    ix->extra[n] = NULL;
    ix->capture_stderr = true;
    static int runs;
    if (runs == 0)
        atexit(s_unlink_stats);
    s_unlink_stats();
    snprintf(s_stats, sizeof s_stats, "/tmp/fx-ctrstats-%d-%d", (int) getpid(), runs++);
    int rc = ix_start(ix, workers, s_prefetch);
    return rc == 0 ? ix_handshake(ix) : rc;
}

/* CONTAINERS with these definitions. */
static void s_define(ix_t *ix, s_ctr_t *c, int n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CONTAINERS);
    fx_msg_alloc_records(msg, (uint32_t) n);
    for (int i = 0; i < n; i++) {
        if (!c[i].id[0])
            fx_id_new(c[i].id);
        fx_container_def_t *d = &msg->containers.containers[i];
        fx_strlcpy(d->container_id, c[i].id, sizeof d->container_id);
        fx_strlcpy(d->name, c[i].name, sizeof d->name);
        fx_strlcpy(d->runtime, c[i].runtime, sizeof d->runtime);
        fx_strlcpy(d->image, c[i].image ? c[i].image : "", sizeof d->image);
    }
    CHECK(ix_send(ix, &msg) == FX_OK, "cannot send CONTAINERS");
}

/* One task for container cid ("" = the host); its id in id. */
static void s_send(ix_t *ix, const char *body, const char *args, const char *cid, fx_id_text_t id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(msg, 1);
    ix_task(ix, &msg->tasks.tasks[0], body, args);
    fx_strlcpy(msg->tasks.tasks[0].container, cid, sizeof msg->tasks.tasks[0].container);
    strcpy(id, msg->tasks.tasks[0].task_id);
    CHECK(ix_send(ix, &msg) == FX_OK, "cannot send TASKS");
}

/* The result of task id (the next RESULTS must hold it alone). */
static fx_msg_t *s_result(ix_t *ix, const char *id)
{
    return ix_result(ix, id);
}

/* Runs s_where in container cid; its answer in w; the result's container
   field must be cid. false if it did not come back OK. */
static bool s_run_where(ix_t *ix, const char *cid, s_where_t *w)
{
    char args[256];
    fx_id_text_t id;
    memset(w, 0, sizeof *w);
    snprintf(args, sizeof args, "(('%s/probe',), {})", ix->dir);
    s_send(ix, s_where, args, cid, id);
    fx_msg_t *msg = s_result(ix, id);
    if (!msg)
        return false;
    fx_result_t *r = &msg->results.results[0];
    bool ok = r->status == FX_RESULT_OK;
    CHECK(ok, "task in container '%s': status %d: %s", cid, r->status, r->error_text ? r->error_text : "");
    CHECK(strcmp(r->container, cid) == 0, "result's container is '%s', want '%s'", r->container, cid);
    if (ok) {
        char *repr = ix_repr(ix, r->value);
        int got = sscanf(repr, "'%63[^|]|%63[^|]|%d|%63[^|]|%63[^|]|%d'", w->mark, w->host, &w->probe, w->id, w->name,
                         &w->pid);
        CHECK(got == 6, "cannot read %s", repr);
        ok = got == 6;
        free(repr);
    }
    fx_msg_destroy(&msg);
    return ok;
}

/* A counter of the stats file: a global one (cid NULL) or of container
   cid ("-" = the host); -1 if absent. */
static long s_stat(const char *cid, const char *field)
{
    char *text = NULL;
    size_t len = 0;
    long v = -1;
    if (fx_file_read(s_stats, 1 << 20, &text, &len) != 0)
        return -1;
    char key[96];
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!cid) {
            snprintf(key, sizeof key, "%s ", field);
            if (strncmp(line, key, strlen(key)) == 0)
                v = strtol(line + strlen(key), NULL, 10);
            continue;
        }
        snprintf(key, sizeof key, "container %s ", cid);
        if (strncmp(line, key, strlen(key)) != 0)
            continue;
        snprintf(key, sizeof key, " %s ", field);
        char *at = strstr(line, key);
        if (at)
            v = strtol(at + strlen(key), NULL, 10);
    }
    free(text);
    return v;
}

/* Waits (pumping) until the counter is want; false after the deadline. */
static bool s_wait_stat(ix_t *ix, const char *cid, const char *field, long want)
{
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    while (s_stat(cid, field) != want) {
        if (fx_now_ms() >= deadline)
            return false;
        ix_pump(ix, 20);
    }
    return true;
}

#define WAIT_STAT(ix, cid, field, want)                                                                              \
    CHECK(s_wait_stat(ix, cid, field, want), "stat %s of %s is %ld, want %ld", field, cid ? cid : "the manager",     \
          s_stat(cid, field), (long) (want))

/* Waits until pid has exited (its pidfd is readable then, reaped or not:
   a container worker is its runtime's child, reparented if the runtime
   ends first), pumping the fake while the manager runs. false after the
   deadline. */
static bool s_wait_gone(ix_t *ix, int pid)
{
    int fd = ix_pidfd_open(pid);
    if (fd < 0)
        return true; /* no such process */
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    bool gone = false;
    while (!gone && fx_now_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        gone = poll(&p, 1, ix->pid > 0 ? 0 : 20) > 0;
        if (!gone && ix->pid > 0)
            ix_pump(ix, 20);
    }
    close(fd);
    return gone;
}

static const char *s_template_flag(char *buf, size_t len, const char *name, const char *text)
{
    snprintf(buf, len, "%s=%s", name, text);
    return buf;
}

/* A real bwrap container runs the task: the marker its template set, its
   own hostname, its own /tmp (the probe file the test made in the host's
   /tmp is not there), FX_CONTAINER_ID/NAME; a host task on the same
   manager sees none of that. Consecutive tasks of the container are
   served by one warm worker: the same pid, one cold start. The runtime's
   default template (another container) works too. */
IX_SCENARIO(s_test_bwrap_inside)
{
    char t1[512];
    const char *flags[] = {"--container-template", s_template_flag(t1, sizeof t1, "fxbox", S_BWRAP_TEMPLATE), NULL};
    REQUIRE(s_start(ix, 2, flags) == 0, "setup");
    char probe[160];
    snprintf(probe, sizeof probe, "%s/probe", ix->dir);
    ix_touch(probe);
    s_ctr_t c[2] = {{.name = "fxbox", .runtime = "bwrap", .image = ""}, {.name = "fxdefault", .runtime = "bwrap"}};
    s_define(ix, c, 2);
    s_where_t w, host;
    REQUIRE(s_run_where(ix, c[0].id, &w), "task in fxbox");
    printf("bwrap_inside: inside: mark %s host %s probe %d id %s name %s pid %d\n", w.mark, w.host, w.probe, w.id,
           w.name, w.pid);
    CHECK(strcmp(w.mark, "inside-fxbox") == 0, "marker %s", w.mark);
    CHECK(strcmp(w.host, "fxbox") == 0, "hostname %s", w.host);
    CHECK(w.probe == 0, "the host's /tmp is visible inside");
    CHECK(strcmp(w.id, c[0].id) == 0 && strcmp(w.name, "fxbox") == 0, "FX_CONTAINER_ID %s NAME %s", w.id, w.name);
    REQUIRE(s_run_where(ix, "", &host), "host task");
    char me[256] = "";
    gethostname(me, sizeof me - 1);
    CHECK(strcmp(host.mark, "-") == 0 && strcmp(host.host, me) == 0 && host.probe == 1 && strcmp(host.id, "-") == 0,
          "the host task sees mark %s host %s probe %d id %s", host.mark, host.host, host.probe, host.id);
    for (int i = 0; i < 3; i++) { /* warm reuse */
        s_where_t again;
        REQUIRE(s_run_where(ix, c[0].id, &again), "task %d in fxbox", i);
        CHECK(again.pid == w.pid, "task %d ran in pid %d, the first in %d: not the warm worker", i, again.pid, w.pid);
    }
    WAIT_STAT(ix, c[0].id, "cold_starts", 1);
    CHECK(s_stat(NULL, "cold_starts") == 1, "cold starts %ld", s_stat(NULL, "cold_starts"));
    s_where_t d;
    REQUIRE(s_run_where(ix, c[1].id, &d), "task in fxdefault (the runtime's default template)");
    CHECK(strcmp(d.host, "fxdefault") == 0 && strcmp(d.name, "fxdefault") == 0 && d.probe == 0,
          "default template: host %s name %s probe %d", d.host, d.name, d.probe);
    WAIT_STAT(ix, NULL, "cold_starts", 2);
    unlink(probe);
    const fx_container_capacity_t *cap = ix_cap_of(ix, c[0].id);
    CHECK(cap && cap->idle + cap->busy == 1 && cap->failures == 0, "CAPACITY of fxbox: %s idle %u busy %u",
          cap ? "" : "none", cap ? cap->idle : 0, cap ? cap->busy : 0);
    ix_stop(ix, false);
    CHECK(s_wait_gone(ix, w.pid), "container worker pid %d outlived its manager", w.pid);
done:;
}

/* Counts results of n tasks for cid by their text: *started "could not be
   started", *gave_up "stopped trying"; every one must be FX_E_CONTAINER
   naming the container and the runtime, and must hold want (stderr's). */
static void s_expect_failures(ix_t *ix, int n, const s_ctr_t *c, const char *want, int *started, int *gave_up)
{
    for (int got = 0; got < n;) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        if (!msg) {
            CHECK(0, "only %d of %d results", got, n);
            return;
        }
        for (uint32_t i = 0; i < msg->results.count; i++, got++) {
            fx_result_t *r = &msg->results.results[i];
            const char *text = r->error_text ? r->error_text : "";
            CHECK(r->status == FX_RESULT_ERROR && r->error_code == FX_E_CONTAINER, "status %d code %d: %s", r->status,
                  r->error_code, text);
            CHECK(strstr(text, c->name) && strstr(text, c->id) && strstr(text, c->runtime), "text lacks the container "
                  "or runtime: %s", text);
            CHECK(strstr(text, want), "text lacks \"%s\": %s", want, text);
            CHECK(strcmp(r->container, c->id) == 0, "result's container %s", r->container);
            *started += strstr(text, "could not be started") != NULL && !strstr(text, "stopped trying");
            *gave_up += strstr(text, "stopped trying") != NULL;
        }
        fx_msg_destroy(&msg);
    }
}

/* A template that runs a program that does not exist: each of the first
   FX_LAUNCH_FAILURES_MAX tasks ends with FX_E_CONTAINER naming the
   container, the runtime and the runtime's stderr; then the container is
   given up: the rest end at once saying so, CAPACITY reports the failures,
   and no more launches are made (no loop). The host's tasks go on. */
IX_SCENARIO(s_test_launch_fails)
{
    enum { N = FX_LAUNCH_FAILURES_MAX + 2 };
    char t1[256];
    const char *flags[] = {"--container-template",
                           s_template_flag(t1, sizeof t1, "broken", "fx-no-such-runtime --flag {command}"), NULL};
    REQUIRE(s_start(ix, 1, flags) == 0, "setup");
    s_ctr_t c = {.name = "broken", .runtime = "bwrap"};
    s_define(ix, &c, 1);
    fx_id_text_t ids[N];
    for (int i = 0; i < N; i++)
        s_send(ix, "def f():\n    return 1\n", "((), {})", c.id, ids[i]);
    int started = 0, gave_up = 0;
    s_expect_failures(ix, N, &c, "fx-no-such-runtime (not found on PATH)", &started, &gave_up);
    CHECK(started == FX_LAUNCH_FAILURES_MAX && gave_up == N - FX_LAUNCH_FAILURES_MAX,
          "%d failed launches and %d tasks ended as given up, want %d and %d", started, gave_up,
          FX_LAUNCH_FAILURES_MAX, N - FX_LAUNCH_FAILURES_MAX);
    WAIT_STAT(ix, NULL, "launch_failures", FX_LAUNCH_FAILURES_MAX);
    const fx_container_capacity_t *cap = NULL;
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    while ((!(cap = ix_cap_of(ix, c.id)) || cap->failures != FX_LAUNCH_FAILURES_MAX) && fx_now_ms() < deadline)
        ix_pump(ix, 20);
    CHECK(cap && cap->failures == FX_LAUNCH_FAILURES_MAX, "CAPACITY failures %u", cap ? cap->failures : 0);
    /* given up: one more task ends at once, no launch */
    fx_id_text_t late;
    s_send(ix, "def f():\n    return 1\n", "((), {})", c.id, late);
    started = gave_up = 0;
    s_expect_failures(ix, 1, &c, "stopped trying", &started, &gave_up);
    CHECK(s_stat(NULL, "cold_starts") == FX_LAUNCH_FAILURES_MAX, "cold starts %ld after giving up",
          s_stat(NULL, "cold_starts"));
    /* a bwrap whose image folder does not exist: the runtime's own words */
    s_ctr_t b = {.name = "noimage", .runtime = "bwrap", .image = "/nonexistent-fx-image"};
    s_define(ix, &b, 1);
    fx_id_text_t one;
    s_send(ix, "def f():\n    return 1\n", "((), {})", b.id, one);
    started = gave_up = 0;
    s_expect_failures(ix, 1, &b, "Can't find source path", &started, &gave_up);
    CHECK(started == 1, "the missing image did not fail its launch");
    fx_id_text_t h;
    ix_send_one(ix, "def f():\n    return 7\n", "((), {})", h);
    ix_expect_ok(ix, h);
    ix_stop(ix, false);
done:;
}

/* A launch whose worker never says READY fails at the start timeout. */
IX_SCENARIO(s_test_start_timeout)
{
    char t1[256];
    const char *flags[] = {"--container-template", s_template_flag(t1, sizeof t1, "slow", "sh -c \"sleep 60\" {command}"),
                           "--container-start-timeout-ms", "400", NULL};
    REQUIRE(s_start(ix, 1, flags) == 0, "setup");
    s_ctr_t c = {.name = "slow", .runtime = "bwrap"};
    s_define(ix, &c, 1);
    fx_id_text_t id;
    int64_t t0 = fx_now_ms();
    s_send(ix, "def f():\n    return 1\n", "((), {})", c.id, id);
    int started = 0, gave_up = 0;
    s_expect_failures(ix, 1, &c, "not READY within 400 ms", &started, &gave_up);
    CHECK(started == 1, "no failed launch");
    CHECK(fx_now_ms() - t0 >= 400, "ended after %lld ms, before the timeout", (long long) (fx_now_ms() - t0));
    ix_stop(ix, false);
done:;
}

/* Two slots, three bwrap containers a, b, c under strategy (idle_ms:
   --container-idle-ms, NULL for the default); A's task, then B's: both
   slots hold idle container workers (a's the least recently used). */
static int s_two_warm(ix_t *ix, const char *strategy, const char *idle_ms, s_ctr_t c[3], s_where_t *a, s_where_t *b)
{
    char t[3][512];
    const char *flags[12] = {"--container-strategy", strategy};
    int n = 2;
    if (idle_ms) {
        flags[n++] = "--container-idle-ms";
        flags[n++] = idle_ms;
    }
    for (int i = 0; i < 3; i++) {
        flags[n++] = "--container-template";
        flags[n++] = s_template_flag(t[i], sizeof t[i], c[i].name, S_BWRAP_TEMPLATE);
    }
    flags[n] = NULL;
    if (s_start(ix, 2, flags) != 0)
        return -1;
    s_define(ix, c, 3);
    if (!s_run_where(ix, c[0].id, a) || !s_run_where(ix, c[1].id, b))
        return -1;
    WAIT_STAT(ix, "-", "idle", 0); /* both slots hold container workers now */
    return 0;
}

/* lru: with A and B warm in the two slots, a task for C retires the least
   recently used idle worker (A's), not B's: B's next task runs in the same
   pid. From the counters: one eviction, of A. */
IX_SCENARIO(s_test_lru_evicts)
{
    s_ctr_t c[3] = {{.name = "a", .runtime = "bwrap"}, {.name = "b", .runtime = "bwrap"}, {.name = "c", .runtime = "bwrap"}};
    s_where_t a, b, x;
    REQUIRE(s_two_warm(ix, "lru", NULL, c, &a, &b) == 0, "setup");
    CHECK(s_stat(NULL, "evictions") == 0, "evictions %ld before C", s_stat(NULL, "evictions"));
    REQUIRE(s_run_where(ix, c[2].id, &x), "C");
    WAIT_STAT(ix, NULL, "evictions", 1);
    CHECK(s_stat(c[0].id, "evicted") == 1 && s_stat(c[1].id, "evicted") == 0, "evicted: A %ld B %ld",
          s_stat(c[0].id, "evicted"), s_stat(c[1].id, "evicted"));
    s_where_t b2;
    REQUIRE(s_run_where(ix, c[1].id, &b2), "B again");
    CHECK(b2.pid == b.pid, "B's worker was evicted (pid %d, then %d)", b.pid, b2.pid);
    CHECK(s_stat(c[1].id, "cold_starts") == 1, "B cold starts %ld", s_stat(c[1].id, "cold_starts"));
    printf("lru_evicts: A pid %d, B pid %d (kept), C pid %d; evictions %ld\n", a.pid, b.pid, x.pid,
           s_stat(NULL, "evictions"));
    ix_stop(ix, false);
done:;
}

/* keep: with A and B warm in the two slots, C's task waits (no eviction)
   until idle retirement frees a slot. */
IX_SCENARIO(s_test_keep_waits)
{
    char idle[16]; /* long enough that A stays warm while B starts, even under ASan */
    snprintf(idle, sizeof idle, "%d", (int) fx_test_ms(3000));
    s_ctr_t c[3] = {{.name = "a", .runtime = "bwrap"}, {.name = "b", .runtime = "bwrap"}, {.name = "c", .runtime = "bwrap"}};
    s_where_t a, b, x;
    REQUIRE(s_two_warm(ix, "keep", idle, c, &a, &b) == 0, "setup");
    int64_t t0 = fx_now_ms();
    REQUIRE(s_run_where(ix, c[2].id, &x), "C");
    CHECK(s_stat(NULL, "evictions") == 0, "keep evicted %ld", s_stat(NULL, "evictions"));
    CHECK(s_stat(NULL, "retired_idle") >= 1, "C ran without a retirement (retired %ld)", s_stat(NULL, "retired_idle"));
    printf("keep_waits: C waited %lld ms for an idle retirement\n", (long long) (fx_now_ms() - t0));
    ix_stop(ix, false);
done:;
}

/* One bwrap container `a` (c) with the test template, on a manager of
   `workers` slots with one more flag (NULL: none). */
static int s_start_a(ix_t *ix, uint32_t workers, const char *flag, const char *value, s_ctr_t *c)
{
    char t[512];
    const char *flags[6] = {"--container-template", s_template_flag(t, sizeof t, "a", S_BWRAP_TEMPLATE), flag, value,
                            NULL};
    if (s_start(ix, workers, flags) != 0)
        return -1;
    *c = (s_ctr_t){.name = "a", .runtime = "bwrap", .image = ""};
    s_define(ix, c, 1);
    return 0;
}

/* --max-workers-per-container 1 with three slots: three waiting tasks of A
   at once get one worker, which runs them in turn. */
IX_SCENARIO(s_test_cap)
{
    s_ctr_t c;
    REQUIRE(s_start_a(ix, 3, "--max-workers-per-container", "1", &c) == 0, "setup");
    enum { N = 3 };
    fx_id_text_t ids[N];
    char args[256];
    snprintf(args, sizeof args, "(('%s/probe',), {})", ix->dir);
    for (int i = 0; i < N; i++)
        s_send(ix, s_where, args, c.id, ids[i]);
    int pids[N] = {0};
    for (int got = 0; got < N;) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        REQUIRE(msg, "only %d results", got);
        for (uint32_t i = 0; i < msg->results.count; i++, got++) {
            fx_result_t *r = &msg->results.results[i];
            CHECK(r->status == FX_RESULT_OK, "status %d %s", r->status, r->error_text ? r->error_text : "");
            char *repr = r->status == FX_RESULT_OK ? ix_repr(ix, r->value) : NULL;
            char skip[64];
            if (repr && got < N)
                sscanf(repr, "'%63[^|]|%63[^|]|%*d|%63[^|]|%63[^|]|%d'", skip, skip, skip, skip, &pids[got]);
            free(repr);
        }
        fx_msg_destroy(&msg);
    }
    CHECK(pids[0] && pids[0] == pids[1] && pids[1] == pids[2], "pids %d %d %d: more than one worker", pids[0], pids[1],
          pids[2]);
    CHECK(s_stat(c.id, "cold_starts") == 1, "cold starts %ld with a cap of 1", s_stat(c.id, "cold_starts"));
    ix_stop(ix, false);
done:;
}

/* --container-idle-ms: an idle container worker is retired, its slot
   runs a host worker again, CAPACITY no longer lists the container. */
IX_SCENARIO(s_test_idle_retire)
{
    s_ctr_t c;
    REQUIRE(s_start_a(ix, 1, "--container-idle-ms", "300", &c) == 0, "setup");
    s_where_t a;
    REQUIRE(s_run_where(ix, c.id, &a), "A");
    WAIT_STAT(ix, c.id, "retired_idle", 1);
    WAIT_STAT(ix, "-", "idle", 1); /* the slot is the host's again */
    int64_t deadline = fx_now_ms() + IX_WAIT_MS;
    while (ix_cap_of(ix, c.id) && fx_now_ms() < deadline)
        ix_pump(ix, 20);
    CHECK(!ix_cap_of(ix, c.id), "CAPACITY still lists the retired container");
    CHECK(s_wait_gone(ix, a.pid), "the retired worker pid %d still runs", a.pid);
    s_where_t again;
    REQUIRE(s_run_where(ix, c.id, &again), "A again");
    CHECK(again.pid != a.pid && s_stat(c.id, "cold_starts") == 2, "after retirement: pid %d (was %d), cold starts %ld",
          again.pid, a.pid, s_stat(c.id, "cold_starts"));
    ix_stop(ix, false);
done:;
}

/* lru, one slot held by an idle worker of A: a host task takes the slot
   (an eviction of A), and runs on the host. */
IX_SCENARIO(s_test_host_evicts)
{
    s_ctr_t c;
    REQUIRE(s_start_a(ix, 1, "--container-strategy", "lru", &c) == 0, "setup");
    char probe[160];
    snprintf(probe, sizeof probe, "%s/probe", ix->dir);
    ix_touch(probe); /* seen by the host task only */
    s_where_t a, h;
    REQUIRE(s_run_where(ix, c.id, &a), "A");
    WAIT_STAT(ix, "-", "idle", 0);
    REQUIRE(s_run_where(ix, "", &h), "host task");
    CHECK(strcmp(h.id, "-") == 0 && h.probe == 1, "the host task ran in a container (id %s)", h.id);
    WAIT_STAT(ix, c.id, "evicted", 1);
    CHECK(s_wait_gone(ix, a.pid), "A's worker pid %d was not retired", a.pid);
    unlink(probe);
    ix_stop(ix, false);
done:;
}

/* One slot, a host task running and three more host tasks queued
   behind it, then a task for container A: when the slot frees, A's task
   gets it (a cold start in the idle host worker's slot) before the host
   backlog, which would otherwise keep every slot busy forever. */
IX_SCENARIO(s_test_no_starvation)
{
    s_ctr_t c;
    s_prefetch = 4;
    REQUIRE(s_start_a(ix, 1, "--container-strategy", "lru", &c) == 0, "setup");
    fx_id_text_t w, host[3], a;
    REQUIRE(ix_start_waiter(ix, "w", w), "the host task runs");
    for (int i = 0; i < 3; i++)
        ix_send_one(ix, "def f():\n    return 1\n", "((), {})", host[i]);
    s_send(ix, "def f():\n    return 2\n", "((), {})", c.id, a);
    WAIT_STAT(ix, c.id, "queued", 1); /* all of them are at the manager */
    ix_release(ix, "w");
    int order = 0, a_at = -1, last_host = -1;
    for (int got = 0; got < 5;) {
        fx_msg_t *msg = ix_expect(ix, FX_MSG_RESULTS, IX_WAIT_MS);
        REQUIRE(msg, "only %d of 5 results", got);
        for (uint32_t i = 0; i < msg->results.count; i++, got++, order++) {
            fx_result_t *r = &msg->results.results[i];
            CHECK(r->status == FX_RESULT_OK, "status %d %s", r->status, r->error_text ? r->error_text : "");
            if (strcmp(r->task_id, a) == 0)
                a_at = order;
            for (int h = 0; h < 3; h++)
                if (strcmp(r->task_id, host[h]) == 0)
                    last_host = order;
        }
        fx_msg_destroy(&msg);
    }
    CHECK(a_at >= 0 && a_at < last_host, "A's task came back at %d, the host backlog's last at %d", a_at, last_host);
    ix_stop(ix, false);
done:;
}

/* A container defined again with another image: its warm worker (of the
   old definition) is retired, the next task cold-starts a new one. The
   same definition again changes nothing. */
IX_SCENARIO(s_test_redefine)
{
    s_ctr_t c;
    REQUIRE(s_start_a(ix, 1, NULL, NULL, &c) == 0, "setup");
    s_where_t w1, w2, w3;
    REQUIRE(s_run_where(ix, c.id, &w1), "first");
    s_define(ix, &c, 1); /* the same: nothing */
    REQUIRE(s_run_where(ix, c.id, &w2), "same definition");
    CHECK(w2.pid == w1.pid, "the same definition again replaced the worker (%d, then %d)", w1.pid, w2.pid);
    c.image = "/";
    s_define(ix, &c, 1);
    REQUIRE(s_run_where(ix, c.id, &w3), "new definition");
    CHECK(w3.pid != w1.pid, "the worker of the old definition ran the task (pid %d)", w3.pid);
    CHECK(s_stat(c.id, "cold_starts") == 2, "cold starts %ld", s_stat(c.id, "cold_starts"));
    ix_stop(ix, false);
done:;
}

/* Whether `podman run --rootfs /` works here; why not in why. */
static bool s_podman_works(char *why, size_t len)
{
    char out[512] = "";
    FILE *p = popen("podman run --rm --network none --rootfs / true 2>&1", "r");
    if (!p) {
        snprintf(why, len, "cannot run podman");
        return false;
    }
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    if (status == 0)
        return true;
    out[strcspn(out, "\n")] = '\0';
    snprintf(why, len, "podman run --rootfs / fails here (status %d): %.300s", status, out[0] ? out : "no output");
    return false;
}

/* podman, where it works: the task runs in a podman container (its own
   hostname, FX_CONTAINER_ID passed with -e, the link through
   --preserve-fds). Where it does not, skipped, saying why. */
IX_SCENARIO(s_test_podman_container)
{
    char why[512];
    fx_runtime_t rt = FX_RUNTIME_PODMAN;
    if (!fx_runtime_available(rt, why, sizeof why) || !s_podman_works(why, sizeof why)) {
        printf("podman_container: SKIPPED: %s\n", why);
        fflush(stdout);
        return;
    }
    char t1[512];
    const char *flags[] = {"--container-template",
                           s_template_flag(t1, sizeof t1, "pod",
                                           "podman run --rm --interactive --network none --hostname {name} "
                                           "--preserve-fds {fds} {env} --rootfs {image} {command}"),
                           NULL};
    REQUIRE(s_start(ix, 1, flags) == 0, "setup");
    s_ctr_t c = {.name = "pod", .runtime = "podman", .image = "/"};
    s_define(ix, &c, 1);
    s_where_t w;
    REQUIRE(s_run_where(ix, c.id, &w), "task in podman");
    CHECK(strcmp(w.host, "pod") == 0 && strcmp(w.id, c.id) == 0, "podman: host %s id %s", w.host, w.id);
    ix_stop(ix, false);
done:;
}

static const fx_scenario_t s_scenarios[] = {
    {.name = "bwrap_inside", .run = s_test_bwrap_inside},   {.name = "launch_fails", .run = s_test_launch_fails},
    {.name = "start_timeout", .run = s_test_start_timeout}, {.name = "lru_evicts", .run = s_test_lru_evicts},
    {.name = "keep_waits", .run = s_test_keep_waits},       {.name = "cap", .run = s_test_cap},
    {.name = "idle_retire", .run = s_test_idle_retire},     {.name = "redefine", .run = s_test_redefine},
    {.name = "host_evicts", .run = s_test_host_evicts},   {.name = "no_starvation", .run = s_test_no_starvation},     {.name = "podman_container", .run = s_test_podman_container},
};

int main(int argc, char **argv)
{
    return ix_main(argc, argv, s_scenarios, sizeof s_scenarios / sizeof s_scenarios[0]);
}
