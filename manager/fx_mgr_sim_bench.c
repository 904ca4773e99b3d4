/*  fx_mgr_sim_bench: what fx-manager --simulate costs (fx_mgr_sim.h).

        fx_mgr_sim_bench FX_MANAGER PYTHON [--managers N] [--slots S] [--prefetch K] [--tasks T]
                         [--idle-ms MS]

    A developer's measuring tool, not a test. A fake interchange (the
    manager tests' fx_ixfake.h, serving each SIMULATED manager by its
    routing id, with heartbeats every second) starts one fx-manager
    --simulate N --slots S, WELCOMEs every simulated manager, then:
    idle for MS (heartbeats only) and then T no-op tasks kept within every
    manager's CREDIT window, acknowledged as they come back. It prints the
    simulating process's CPU time (idle: per second; loaded: per task),
    its resident memory once connected and after the tasks, and the rate.
    The fake interchange is in the measuring process, so the rate is the
    fake's as much as the simulator's: the CPU per task is the figure. */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_benchproc.h"
#include "fx_ixfake.h"

#define S_BEAT_MS 1000

typedef struct {
    zframe_t *rid;
    fx_id_text_t id;
    uint32_t window, in_flight;
    bool credited;
} s_peer_t;

typedef struct {
    ix_t *ix;
    s_peer_t *peers;
    uint32_t n, known, credited;
    zhashx_t *by_rid; /* rid as hex -> index + 1 */
    uint64_t sent, done, target;
    zframe_t *body, *payload;
    fx_id_text_t function_id;
    int64_t next_beat;
} s_bench_t;

static void s_rid_key(zframe_t *rid, char *key, size_t cap)
{
    size_t n = zframe_size(rid);
    for (size_t i = 0; i < n && 2 * i + 2 < cap; i++)
        sprintf(key + 2 * i, "%02x", zframe_data(rid)[i]);
}

static s_peer_t *s_peer(s_bench_t *b, zframe_t *rid)
{
    char key[64] = "";
    s_rid_key(rid, key, sizeof key);
    uintptr_t i = (uintptr_t) zhashx_lookup(b->by_rid, key);
    return i ? &b->peers[i - 1] : NULL;
}

/* TASKS filling p's window, up to the target. */
static void s_fill(s_bench_t *b, s_peer_t *p)
{
    while (p->credited && p->in_flight < p->window && b->sent < b->target) {
        uint64_t n = p->window - p->in_flight;
        if (n > b->target - b->sent)
            n = b->target - b->sent;
        if (n > FX_BATCH_MAX)
            n = FX_BATCH_MAX;
        fx_msg_t *msg = fx_msg_new(FX_MSG_TASKS);
        fx_msg_alloc_records(msg, (uint32_t) n);
        for (uint32_t i = 0; i < n; i++) {
            fx_task_t *t = &msg->tasks.tasks[i];
            fx_id_new(t->task_id);
            memcpy(t->function_id, b->function_id, sizeof t->function_id);
            t->kind = FX_FN_PYTHON;
            strcpy(t->entry, "f");
            strcpy(t->serializer, "pickle");
            t->body = zframe_dup(b->body);
            t->payload = zframe_dup(b->payload);
        }
        fx_msg_send(&msg, b->ix->router, p->rid);
        b->sent += n;
        p->in_flight += (uint32_t) n;
    }
}

static void s_welcome(s_bench_t *b, zframe_t *rid, fx_msg_t *hello)
{
    s_peer_t *p = s_peer(b, rid);
    if (!p) {
        if (b->known == b->n)
            return;
        p = &b->peers[b->known++];
        p->rid = zframe_dup(rid);
        char key[64] = "";
        s_rid_key(rid, key, sizeof key);
        zhashx_insert(b->by_rid, key, (void *) (uintptr_t) b->known);
    }
    memcpy(p->id, hello->manager_hello.manager_id, sizeof p->id);
    fx_msg_t *welcome = fx_msg_new(FX_MSG_WELCOME);
    memcpy(welcome->welcome.id, p->id, sizeof p->id);
    fx_strlcpy(welcome->welcome.server_version, FX_VERSION, sizeof welcome->welcome.server_version);
    welcome->welcome.heartbeat_ms = S_BEAT_MS;
    welcome->seq = hello->seq;
    fx_msg_send(&welcome, b->ix->router, rid);
}

/* One pass: ZAP, what the simulated managers sent, heartbeats to all. */
static void s_pump(s_bench_t *b, int ms)
{
    ix_t *ix = b->ix;
    int64_t now = fx_now_ms();
    if (now >= b->next_beat) {
        for (uint32_t i = 0; i < b->known; i++) {
            fx_msg_t *beat = fx_msg_new(FX_MSG_HEARTBEAT);
            fx_msg_send(&beat, ix->router, b->peers[i].rid);
        }
        b->next_beat = now + S_BEAT_MS;
    }
    if (b->next_beat - now < ms)
        ms = (int) (b->next_beat - now);
    zsock_t *which = zpoller_wait(ix->poller, ms > 0 ? ms : 0);
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
        fx_msg_t *msg = NULL;
        uint32_t seq;
        const char *detail;
        int rc = fx_msg_decode(zmsg, &msg, &seq, &detail);
        zmsg_destroy(&zmsg);
        s_peer_t *p = rc == FX_OK && rid ? s_peer(b, rid) : NULL;
        if (rc == FX_OK && msg->type == FX_MSG_MANAGER_HELLO)
            s_welcome(b, rid, msg);
        else if (rc == FX_OK && p && msg->type == FX_MSG_CREDIT) {
            b->credited += !p->credited;
            p->credited = true;
            p->window = msg->credit.window;
            s_fill(b, p);
        }
        else if (rc == FX_OK && p && msg->type == FX_MSG_RESULTS) {
            fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
            fx_msg_alloc_records(ack, msg->results.count);
            for (uint32_t i = 0; i < msg->results.count; i++)
                memcpy(ack->ids.ids[i], msg->results.results[i].task_id, sizeof ack->ids.ids[0]);
            fx_msg_send(&ack, ix->router, rid);
            b->done += msg->results.count;
            p->in_flight -= msg->results.count < p->in_flight ? msg->results.count : p->in_flight;
            s_fill(b, p);
        }
        else if (rc != FX_OK || msg->type != FX_MSG_HEARTBEAT)
            fprintf(stderr, "fx_mgr_sim_bench: unexpected %s (%s)\n",
                    rc == FX_OK ? fx_msg_type_name(msg->type) : fx_strerror(rc), rc == FX_OK ? "" : detail);
        fx_msg_destroy(&msg);
        zframe_destroy(&rid);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fx_mgr_sim_bench FX_MANAGER PYTHON [--managers N] [--slots S] [--prefetch K] "
                        "[--tasks T] [--idle-ms MS]\n");
        return 2;
    }
    uint32_t managers = 64, slots = 128, prefetch = 0, idle_ms = 5000;
    uint64_t tasks = 100000;
    static const struct option options[] = {
        {"managers", required_argument, NULL, 'm'}, {"slots", required_argument, NULL, 's'},
        {"prefetch", required_argument, NULL, 'p'}, {"tasks", required_argument, NULL, 'n'},
        {"idle-ms", required_argument, NULL, 'i'},  {NULL, 0, NULL, 0},
    };
    int opt;
    optind = 3;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            managers = (uint32_t) atoi(optarg);
            break;
        case 's':
            slots = (uint32_t) atoi(optarg);
            break;
        case 'p':
            prefetch = (uint32_t) atoi(optarg);
            break;
        case 'n':
            tasks = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            idle_ms = (uint32_t) atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    ix_t ix_ = {.manager_bin = argv[1], .python = argv[2], .pidfd = -1, .simulate = managers};
    ix_t *ix = &ix_;
    ix->extra[0] = "--stats-ms";
    ix->extra[1] = "0";
    s_bench_t b = {.ix = ix, .n = managers, .by_rid = zhashx_new()};
    b.peers = calloc(managers, sizeof *b.peers);
    const char *body = "def f():\n    return None\n";
    b.body = zframe_new(body, strlen(body));
    b.payload = zframe_new("", 0);
    fx_id_new(b.function_id);
    double load[3] = {0};
    getloadavg(load, 3);
    printf("fx_mgr_sim_bench: %u SIMULATED managers x %u slots, prefetch %u, %ld cores, load %.2f\n",
           managers, slots, prefetch, sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    if (ix_start(ix, slots, prefetch) != 0) {
        fprintf(stderr, "cannot start %s\n", argv[1]);
        return 1;
    }
    double us_per_tick = 1e6 / (double) sysconf(_SC_CLK_TCK);
    int64_t t0 = fx_now_ms(), deadline = t0 + fx_test_ms(600000);
    while (b.credited < managers && fx_now_ms() < deadline)
        s_pump(&b, 100);
    int64_t t1 = fx_now_ms();
    printf("connected: %u of %u managers welcomed and credited in %lld ms; simulator RSS %ld KiB\n",
           b.credited, managers, (long long) (t1 - t0), fx_bench_rss_kib(ix->pid));
    long long c0 = fx_bench_cpu(ix->pid, NULL);
    while (fx_now_ms() < t1 + idle_ms)
        s_pump(&b, 100);
    long long c1 = fx_bench_cpu(ix->pid, NULL);
    printf("idle: %.2f%% of a core over %u ms (heartbeats of %u managers, one a second each way)\n",
           (double) (c1 - c0) * us_per_tick / (idle_ms * 10.0), idle_ms, managers);
    b.target = tasks;
    int64_t t2 = fx_now_ms();
    for (uint32_t i = 0; i < b.known; i++)
        s_fill(&b, &b.peers[i]);
    while (b.done < tasks && fx_now_ms() < deadline)
        s_pump(&b, 100);
    int64_t t3 = fx_now_ms();
    long long c2 = fx_bench_cpu(ix->pid, NULL);
    printf("loaded: %llu tasks in %lld ms: %.0f tasks/s through this fake interchange; simulator %.2f us CPU "
           "per "
           "task; RSS %ld KiB (%.1f KiB per manager)\n",
           (unsigned long long) b.done, (long long) (t3 - t2),
           (double) b.done * 1000.0 / (double) (t3 - t2 > 0 ? t3 - t2 : 1),
           (double) (c2 - c1) * us_per_tick / (double) (b.done ? b.done : 1), fx_bench_rss_kib(ix->pid),
           (double) fx_bench_rss_kib(ix->pid) / managers);
    kill(ix->pid, SIGTERM);
    int status = ix_wait_exit(ix->pid, ix->pidfd, IX_WAIT_MS);
    if (status != -1)
        ix->pid = 0;
    for (uint32_t i = 0; i < b.known; i++)
        zframe_destroy(&b.peers[i].rid);
    free(b.peers);
    zhashx_destroy(&b.by_rid);
    zframe_destroy(&b.body);
    zframe_destroy(&b.payload);
    ix_teardown(ix);
    return b.done >= tasks ? 0 : 1;
}
