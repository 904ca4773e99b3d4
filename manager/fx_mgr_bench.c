/*  fx_mgr_bench: what a no-op task costs the manager and its workers.

        fx_mgr_bench FX_MANAGER PYTHON [--workers W] [--prefetch P] [--tasks N] [--runs R]
                     [--warmup K] [--container]

    A developer's measuring tool, not a test (it asserts nothing about
    speed). The fake interchange of the manager's tests (fx_ixfake.h)
    starts a real fx-manager with W real fx-workers and keeps its CREDIT
    window full of no-op Python tasks (one function, `return None`, no
    arguments), acknowledging every RESULTS at once as an interchange whose
    broker committed them would. After K tasks of warm-up it runs N more and
    reports, from /proc/PID/stat (utime + stime) of the manager and of each
    of its workers, the CPU microseconds per task of each, and the rate.
    R runs (a fresh manager each) and their medians; the load average is
    printed before each run, since the machine is shared. With --container
    every task names one bubblewrap container (the runtime's default
    template, SPEC 12.7): the same numbers for warm container workers (the
    workers' CPU includes the bwrap processes above them). */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_benchproc.h"
#include "fx_ixfake.h"

#define S_RUNS_MAX 32

typedef struct {
    double rate, mgr_us, wrk_us, mgr_sys, wrk_sys;
    double per_tasks, per_results; /* tasks per TASKS, results per RESULTS */
    double per_capacity;           /* tasks per CAPACITY */
} s_run_t;

typedef struct {
    ix_t *ix;
    zframe_t *body, *payload;
    fx_id_text_t function_id;
    uint32_t window, in_flight;
    uint64_t sent, done;
    uint64_t tasks_msgs, results_msgs; /* messages each way, for the batch sizes */
    uint64_t capacity_msgs;            /* CAPACITY messages (SPEC 5.34) */
    fx_id_text_t container;            /* --container: the container every task names, else "" */
} s_drive_t;

/* One TASKS message filling the window, up to `until` tasks sent in all. */
static void s_fill(s_drive_t *d, uint64_t until)
{
    while (d->sent < until && d->in_flight < d->window) {
        uint64_t n = d->window - d->in_flight;
        if (n > until - d->sent)
            n = until - d->sent;
        if (n > FX_BATCH_MAX)
            n = FX_BATCH_MAX;
        fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
        fx_msg_alloc_records(msg, (uint32_t) n);
        for (uint32_t i = 0; i < n; i++) {
            fx_task_t *t = &msg->tasks.tasks[i];
            fx_id_new(t->task_id);
            memcpy(t->function_id, d->function_id, sizeof t->function_id);
            memcpy(t->container, d->container, sizeof d->container);
            t->kind = FX_FN_PYTHON;
            strcpy(t->entry, "f");
            strcpy(t->py_version, "3.11.2");
            strcpy(t->serializer, "pickle");
            t->body = zframe_dup(d->body);
            t->payload = zframe_dup(d->payload);
        }
        ix_send(d->ix, &msg);
        d->tasks_msgs++;
        d->sent += n;
        d->in_flight += (uint32_t) n;
    }
}

/* Reads what the manager sent: results (acked at once), credit. */
static void s_drain(s_drive_t *d, int ms)
{
    ix_t *ix = d->ix;
    int64_t now = fx_now_ms();
    if (now >= ix->next_beat) {
        fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
        ix_send(ix, &beat);
        ix->next_beat = now + IX_BEAT_MS;
    }
    zsock_t *which = zpoller_wait(ix->poller, ms);
    if (which == ix->zap) {
        fx_zap_request_t req;
        if (fx_zap_recv(ix->zap, &req) == 0)
            fx_zap_reply(ix->zap, &req, true, IX_USER_ID);
        return;
    }
    while (zsock_events(ix->router) & ZMQ_POLLIN) {
        zmsg_t *zmsg = zmsg_recv(ix->router);
        if (!zmsg)
            return;
        zframe_t *rid = zmsg_pop(zmsg);
        zframe_destroy(&rid);
        fx_msg_t *msg = NULL;
        uint32_t seq;
        const char *detail;
        if (fx_msg_decode(zmsg, &msg, &seq, &detail) != FX_OK) {
            fprintf(stderr, "undecodable message from the manager: %s\n", detail);
            zmsg_destroy(&zmsg);
            continue;
        }
        zmsg_destroy(&zmsg);
        if (msg->type == FX_MSG_RESULTS) {
            fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
            fx_msg_alloc_records(ack, msg->results.count);
            for (uint32_t i = 0; i < msg->results.count; i++) {
                memcpy(ack->ids.ids[i], msg->results.results[i].task_id, sizeof ack->ids.ids[0]);
                if (msg->results.results[i].status != FX_RESULT_OK)
                    fprintf(stderr, "task %s: status %d %s\n", msg->results.results[i].task_id,
                            msg->results.results[i].status,
                            msg->results.results[i].error_text ? msg->results.results[i].error_text : "");
            }
            ix_send(ix, &ack);
            d->results_msgs++;
            d->done += msg->results.count;
            d->in_flight -= msg->results.count < d->in_flight ? msg->results.count : d->in_flight;
        }
        else if (msg->type == FX_MSG_CREDIT)
            d->window = msg->credit.window;
        else if (msg->type == FX_MSG_CAPACITY) {
            d->window = msg->capacity.window;
            d->capacity_msgs++;
        }
        fx_msg_destroy(&msg);
    }
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t) n, sizeof *v, s_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int s_one_run(ix_t *ix, uint32_t workers, uint32_t prefetch, uint64_t warmup, uint64_t tasks,
                     bool container, s_run_t *out)
{
    int rc = -1;
    if (ix_start(ix, workers, prefetch) != 0 || ix_handshake(ix) != 0)
        return -1;
    s_drive_t d = {.ix = ix, .window = workers + prefetch};
    if (container) { /* its definition, before the first task naming it (SPEC 5.35) */
        fx_msg_t *defs = fx_msg_new(FX_MSG_CONTAINERS);
        fx_msg_alloc_records(defs, 1);
        fx_id_new(d.container);
        fx_container_def_t *def = &defs->containers.containers[0];
        memcpy(def->container_id, d.container, sizeof d.container);
        strcpy(def->name, "bench");
        strcpy(def->runtime, "bwrap");
        ix_send(ix, &defs);
    }
    const char *body = "def f():\n    return None\n";
    d.body = zframe_new(body, strlen(body));
    d.payload = ix_pickle(ix, "((), {})");
    fx_id_new(d.function_id);
    int64_t deadline = fx_now_ms() + fx_test_ms(600000);
    while (d.done < warmup && fx_now_ms() < deadline) {
        s_fill(&d, warmup);
        s_drain(&d, 100);
    }
    long long ms0 = 0, ws0 = 0, ms1 = 0, ws1 = 0;
    uint64_t tm0 = d.tasks_msgs, rm0 = d.results_msgs, cm0 = d.capacity_msgs;
    long long m0 = fx_bench_cpu(ix->pid, &ms0), w0 = fx_bench_children_cpu(ix->pid, &ws0);
    int64_t t0 = fx_now_ms();
    while (d.done < warmup + tasks && fx_now_ms() < deadline) {
        s_fill(&d, warmup + tasks);
        s_drain(&d, 100);
    }
    int64_t t1 = fx_now_ms();
    long long m1 = fx_bench_cpu(ix->pid, &ms1), w1 = fx_bench_children_cpu(ix->pid, &ws1);
    if (d.done >= warmup + tasks) {
        double us_per_tick = 1e6 / (double) sysconf(_SC_CLK_TCK);
        out->rate = (double) tasks * 1000.0 / (double) (t1 - t0 > 0 ? t1 - t0 : 1);
        out->mgr_us = (double) (m1 - m0) * us_per_tick / (double) tasks;
        out->wrk_us = (double) (w1 - w0) * us_per_tick / (double) tasks;
        out->mgr_sys = (double) (ms1 - ms0) * us_per_tick / (double) tasks;
        out->per_tasks = (double) tasks / (double) (d.tasks_msgs - tm0 ? d.tasks_msgs - tm0 : 1);
        out->per_results = (double) tasks / (double) (d.results_msgs - rm0 ? d.results_msgs - rm0 : 1);
        out->per_capacity = (double) tasks / (double) (d.capacity_msgs - cm0 ? d.capacity_msgs - cm0 : 1);
        out->wrk_sys = (double) (ws1 - ws0) * us_per_tick / (double) tasks;
        rc = 0;
    }
    zframe_destroy(&d.body);
    zframe_destroy(&d.payload);
    ix_stop(ix, false);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fx_mgr_bench FX_MANAGER PYTHON [--workers W] [--prefetch P] [--tasks N] "
                        "[--runs R] [--warmup K]\n");
        return 2;
    }
    uint32_t workers = 2, prefetch = 64, runs = 3;
    uint64_t tasks = 10000, warmup = 1000;
    bool container = false;
    static const struct option options[] = {
        {"workers", required_argument, NULL, 'w'}, {"prefetch", required_argument, NULL, 'p'},
        {"tasks", required_argument, NULL, 'n'},   {"runs", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, 'k'},  {"container", no_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 3;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'w':
            workers = (uint32_t) atoi(optarg);
            break;
        case 'p':
            prefetch = (uint32_t) atoi(optarg);
            break;
        case 'n':
            tasks = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = (uint32_t) atoi(optarg);
            break;
        case 'k':
            warmup = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            container = true;
            break;
        default:
            return 2;
        }
    }
    if (runs < 1 || runs > S_RUNS_MAX || !workers || !tasks)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    double rate[S_RUNS_MAX], mgr[S_RUNS_MAX], wrk[S_RUNS_MAX];
    int ok = 0;
    printf("fx_mgr_bench: %u workers, prefetch %u, %llu no-op Python tasks per run (after %llu warm-up), "
           "%u runs, %ld cores%s\n",
           workers, prefetch, (unsigned long long) tasks, (unsigned long long) warmup, runs,
           sysconf(_SC_NPROCESSORS_ONLN), container ? ", every task in one bwrap container" : "");
    for (uint32_t r = 0; r < runs; r++) {
        double load[3] = {0};
        getloadavg(load, 3);
        ix_t ix = {.manager_bin = argv[1], .python = argv[2], .pidfd = -1};
        s_run_t run;
        if (s_one_run(&ix, workers, prefetch, warmup, tasks, container, &run) == 0) {
            printf("run %u (load %.2f): %.0f tasks/s, manager %.1f us/task (%.1f system), workers %.1f "
                   "us/task (%.1f system); %.1f tasks per TASKS, %.1f results per RESULTS, %.1f tasks per "
                   "CAPACITY\n",
                   r + 1, load[0], run.rate, run.mgr_us, run.mgr_sys, run.wrk_us, run.wrk_sys, run.per_tasks,
                   run.per_results, run.per_capacity);
            rate[ok] = run.rate;
            mgr[ok] = run.mgr_us;
            wrk[ok] = run.wrk_us;
            ok++;
        }
        else
            printf("run %u (load %.2f): failed\n", r + 1, load[0]);
        fflush(stdout);
        ix_teardown(&ix);
    }
    if (!ok)
        return 1;
    printf("median of %d: %.0f tasks/s, manager %.1f us/task, workers %.1f us/task\n", ok, s_median(rate, ok),
           s_median(mgr, ok), s_median(wrk, ok));
    return fx_check_failures ? 1 : 0;
}
