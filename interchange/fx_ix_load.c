/*  fx_ix_load.c: fx-ix-load, a load driver for fx-endpoint alone. It plays
    the broker (the tests' harness, fx_endpoint_harness.h) and many managers
    in one process, over the real CurveZMQ sockets, and reads what the
    endpoint costs from /proc: CPU per task, CPU per idle manager, resident
    memory. A benchmark, not a test: it asserts nothing about speed.

        fx-ix-load [--managers N] [--window W] [--tasks T] [--batch B]
                   [--body BYTES] [--payload BYTES] [--heartbeat-ms MS]
                   [--idle-s S] [--flood T] [--prefetch K] [--capacity]

    run    (default) N managers of window W (workers = W); the broker keeps
           what it has sent and not seen answered within the endpoint's
           CREDIT, in TASKS of at most B (default FX_BATCH_MAX), like the
           forwarder; every manager answers each TASKS at once with one
           RESULTS; the broker acks every RESULTS at once. Prints the rate
           and the endpoint's CPU per task.
    idle   --idle-s S: N managers connected, nothing to do, for S seconds:
           the endpoint's CPU per second and per manager (heartbeats).
    flood  --flood T: T tasks sent with no manager (beyond the window; the
           endpoint holds what it is sent): its resident memory per task.

    --capacity: the managers send CAPACITY (SPEC 5.34: window, no cold
    slot, every worker an idle host worker) instead of CREDIT, and again
    after each RESULTS, as fx-manager does when its numbers change: the
    cost of the protocol 2 path for host tasks.

    One line of key=value per run on stdout (ep_cpu_us_per_task,
    ep_rss_kib, ...), for scripts. The endpoint runs with --heartbeat-ms MS
    (default 1000) toward its managers. */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fx_endpoint_harness.h"

typedef struct {
    zsock_t *sock;
    fx_id_text_t id;
    uint32_t seq;
    bool welcomed;
    int64_t next_beat;
} s_mgr_t;

typedef struct {
    int managers, window, batch, body, payload, heartbeat_ms, idle_s, prefetch;
    long tasks, flood;
} s_opts_t;

static uint64_t s_tasks_answered, s_results_at_broker, s_results_msgs_at_broker, s_tasks_msgs_at_mgr;
static uint64_t s_times_bad, s_relost;
static bool s_capacity; /* --capacity */

/* What a manager announces: CREDIT(window), or with --capacity
   CAPACITY(window, 0, [host: window idle]). */
static fx_msg_t *s_announce(uint32_t window)
{
    if (!s_capacity) {
        fx_msg_t *c = fx_msg_new(FX_MSG_CREDIT);
        c->credit.window = window;
        return c;
    }
    fx_msg_t *c = fx_msg_new(FX_MSG_CAPACITY);
    fx_msg_alloc_records(c, 1);
    c->capacity.window = window;
    c->capacity.containers[0].idle = window;
    return c;
}

/* CPU time of every thread of pid, in microseconds (schedstat). */
static int64_t s_cpu_us(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *d = opendir(path);
    int64_t ns = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char file[320];
        snprintf(file, sizeof file, "/proc/%d/task/%s/schedstat", (int) pid, e->d_name);
        FILE *f = fopen(file, "r");
        long long run = 0;
        if (f && fscanf(f, "%lld", &run) == 1)
            ns += run;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return ns / 1000;
}

/* A field of /proc/pid/status in kB (VmRSS, VmHWM), or -1. */
static long s_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            kb = atol(line + klen + 1);
    if (f)
        fclose(f);
    return kb;
}

static void s_mgr_send(s_mgr_t *m, fx_msg_t *msg)
{
    msg->seq = ++m->seq;
    fx_msg_send(&msg, m->sock, NULL);
}

static void s_mgr_hello(s_mgr_t *m, uint32_t workers)
{
    fx_msg_t *h = fx_msg_new(FX_MSG_MANAGER_HELLO);
    memcpy(h->manager_hello.manager_id, m->id, sizeof m->id);
    fx_strlcpy(h->manager_hello.host, "load-host", sizeof h->manager_hello.host);
    h->manager_hello.pid = (uint32_t) getpid();
    h->manager_hello.workers = workers;
    fx_strlcpy(h->manager_hello.version, FX_VERSION, sizeof h->manager_hello.version);
    s_mgr_send(m, h);
}

/* One message at a simulated manager: WELCOME -> CREDIT; TASKS -> one
   RESULTS with every task answered (the task's stamps carried back). */
static void s_mgr_read(s_mgr_t *m, uint32_t window, int64_t now, int heartbeat_ms)
{
    zmsg_t *zmsg = zmsg_recv(m->sock);
    fx_msg_t *msg = NULL;
    if (fx_msg_decode(zmsg, &msg, &(uint32_t){0}, NULL) != FX_OK) {
        zmsg_destroy(&zmsg);
        return;
    }
    zmsg_destroy(&zmsg);
    if (msg->type == FX_MSG_WELCOME) {
        m->welcomed = true;
        m->next_beat = now + heartbeat_ms / 2;
        s_mgr_send(m, s_announce(window));
    }
    else if (msg->type == FX_MSG_ERROR && msg->error.code == FX_E_NO_SESSION && m->welcomed) {
        m->welcomed = false; /* lost by the endpoint: hello again, as fx-manager does */
        s_relost++;
        s_mgr_hello(m, window);
    }
    else if (msg->type == FX_MSG_TASKS) {
        s_tasks_msgs_at_mgr++;
        fx_msg_t *res = fx_msg_new(FX_MSG_RESULTS);
        fx_msg_alloc_records(res, msg->tasks.count);
        for (uint32_t i = 0; i < msg->tasks.count; i++) {
            fx_task_t *t = &msg->tasks.tasks[i];
            fx_result_t *r = &res->results.results[i];
            memcpy(r->task_id, t->task_id, sizeof r->task_id);
            memcpy(r->times, t->times, sizeof r->times);
            s_times_bad += t->times[FX_TIME_IX_RECEIVED] == 0 || t->times[FX_TIME_IX_DISPATCHED] == 0;
            fx_stamp(r->times, FX_TIME_MANAGER_SENT);
            r->status = FX_RESULT_OK;
            r->value = zframe_new("v", 1);
            r->output = zframe_new_empty();
        }
        s_tasks_answered += msg->tasks.count;
        s_mgr_send(m, res);
        if (s_capacity)
            s_mgr_send(m, s_announce(window)); /* its workers are idle again */
        m->next_beat = now + heartbeat_ms / 2;
    }
    fx_msg_destroy(&msg);
}

static void s_usage(void)
{
    fprintf(stderr, "usage: fx-ix-load [--managers N] [--window W] [--tasks T] [--batch B] [--body BYTES]\n"
                    "                  [--payload BYTES] [--heartbeat-ms MS] [--idle-s S] [--flood T]\n"
                    "                  [--prefetch K] [--capacity]\n");
}

static int s_parse(int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t){.managers = 4,
                    .window = 64,
                    .batch = FX_BATCH_MAX,
                    .body = 200,
                    .payload = 40,
                    .heartbeat_ms = 1000,
                    .tasks = 100000,
                    .prefetch = -1};
    static const struct option opts[] = {{"managers", required_argument, NULL, 'm'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"tasks", required_argument, NULL, 't'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"body", required_argument, NULL, 'B'},
                                         {"payload", required_argument, NULL, 'P'},
                                         {"heartbeat-ms", required_argument, NULL, 'h'},
                                         {"idle-s", required_argument, NULL, 'i'},
                                         {"flood", required_argument, NULL, 'f'},
                                         {"prefetch", required_argument, NULL, 'p'},
                                         {"capacity", no_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long v = optarg ? atol(optarg) : 0;
        switch (c) {
        case 'm':
            o->managers = (int) v;
            break;
        case 'w':
            o->window = (int) v;
            break;
        case 't':
            o->tasks = v;
            break;
        case 'b':
            o->batch = (int) v;
            break;
        case 'B':
            o->body = (int) v;
            break;
        case 'P':
            o->payload = (int) v;
            break;
        case 'h':
            o->heartbeat_ms = (int) v;
            break;
        case 'i':
            o->idle_s = (int) v;
            break;
        case 'f':
            o->flood = v;
            break;
        case 'p':
            o->prefetch = (int) v;
            break;
        case 'c':
            s_capacity = true;
            break;
        default:
            s_usage();
            return -1;
        }
    }
    if (o->managers < 0 || o->managers > 8192 || o->window < 1 || o->batch < 1 || o->batch > FX_BATCH_MAX ||
        o->body < 0 || o->payload < 0 || o->heartbeat_ms < 10) {
        s_usage();
        return -1;
    }
    return 0;
}

/* count tasks of the given sizes, ids not kept. */
static fx_msg_t *s_tasks(int count, const char *body, size_t body_len, const char *payload,
                         size_t payload_len)
{
    fx_msg_t *m = fx_msg_new(FX_MSG_TASKS);
    fx_msg_alloc_records(m, (uint32_t) count);
    for (int i = 0; i < count; i++) {
        fx_task_t *t = &m->tasks.tasks[i];
        fx_id_new(t->task_id);
        fx_id_new(t->function_id);
        t->kind = FX_FN_PYTHON;
        fx_strlcpy(t->entry, "noop", sizeof t->entry);
        fx_strlcpy(t->py_version, "3.11.2", sizeof t->py_version);
        fx_strlcpy(t->serializer, "pickle", sizeof t->serializer);
        fx_stamp(t->times, FX_TIME_BROKER_DISPATCHED);
        t->body = zframe_new(body, body_len);
        t->payload = zframe_new(payload, payload_len);
    }
    return m;
}

/* Results at the broker: count them, check stamps, ack each message. */
static void s_broker_results(ept_broker_t *b)
{
    fx_msg_t *r;
    while ((r = ept_take(b->ep_inbox, FX_MSG_RESULTS)) != NULL) {
        s_results_msgs_at_broker++;
        fx_msg_t *ack = fx_msg_new(FX_MSG_RESULTS_ACK);
        fx_msg_alloc_records(ack, r->results.count);
        for (uint32_t i = 0; i < r->results.count; i++) {
            const uint64_t *t = r->results.results[i].times;
            s_times_bad += !(t[FX_TIME_BROKER_DISPATCHED] <= t[FX_TIME_IX_RECEIVED] &&
                             t[FX_TIME_IX_RECEIVED] <= t[FX_TIME_IX_DISPATCHED] &&
                             t[FX_TIME_IX_DISPATCHED] <= t[FX_TIME_MANAGER_SENT] &&
                             t[FX_TIME_MANAGER_SENT] <= t[FX_TIME_IX_RESULT] && t[FX_TIME_IX_RECEIVED] != 0);
            memcpy(ack->ids.ids[i], r->results.results[i].task_id, sizeof ack->ids.ids[i]);
        }
        s_results_at_broker += r->results.count;
        ept_send(b->endpoint, b->ep_routing, ack, &b->seq);
        fx_msg_destroy(&r);
    }
    /* nothing else is of interest here */
    for (fx_msg_t *m; (m = zlistx_first(b->ep_inbox)) != NULL;) {
        zlistx_detach_cur(b->ep_inbox);
        fx_msg_destroy(&m);
    }
}

/* Drains one manager's socket, then beats if due. */
static void s_mgr_serve(s_mgr_t *m, uint32_t window, int64_t now, int heartbeat_ms)
{
    while (zsock_events(m->sock) & ZMQ_POLLIN)
        s_mgr_read(m, window, now, heartbeat_ms);
    if (m->welcomed && now >= m->next_beat) {
        m->next_beat = now + heartbeat_ms / 2;
        s_mgr_send(m, fx_msg_new(FX_MSG_HEARTBEAT));
        while (zsock_events(m->sock) & ZMQ_POLLIN) /* a send can take the fd's signal */
            s_mgr_read(m, window, now, heartbeat_ms);
    }
}

/* One round: wait on the managers' sockets (epoll over their ZMQ_FDs, so
   a round costs what is ready, not what is connected), the broker's side
   through the harness. */
static void s_round(ept_broker_t *b, s_mgr_t *mgrs, int n, int epfd, uint32_t window, int heartbeat_ms,
                    int timeout_ms)
{
    struct epoll_event ev[256];
    zmq_pollitem_t broker = {zsock_resolve(b->endpoint), 0, ZMQ_POLLIN, 0};
    int ready = zmq_poll(&broker, 1, 0) > 0 ? 0 : epoll_wait(epfd, ev, 256, timeout_ms);
    ept_pump(b, 0);
    int64_t now = fx_now_ms();
    for (int i = 0; i < ready; i++)
        if ((int) ev[i].data.u32 < n)
            s_mgr_serve(&mgrs[ev[i].data.u32], window, now, heartbeat_ms);
    /* beats due; and, every 100 ms, every socket: a send can take the
       signal of its ZMQ_FD, so a message may wait unsignalled */
    static int64_t next_sweep;
    bool sweep = now >= next_sweep;
    if (sweep)
        next_sweep = now + 100;
    for (int i = 0; i < n; i++)
        if (sweep || (mgrs[i].welcomed && now >= mgrs[i].next_beat))
            s_mgr_serve(&mgrs[i], window, now, heartbeat_ms);
    s_broker_results(b);
    static int64_t last_report, worst;
    int64_t took = fx_now_ms() - now;
    worst = took > worst ? took : worst;
    if (getenv("FX_IX_LOAD_DEBUG") && now - last_report >= 1000) {
        int welcomed = 0;
        for (int i = 0; i < n; i++)
            welcomed += mgrs[i].welcomed;
        fprintf(stderr,
                "fx-ix-load: %d managers, %d welcomed, window %u, results %llu, slowest round %lld ms\n", n,
                welcomed, b->window, (unsigned long long) s_results_at_broker, (long long) worst);
        last_report = now;
        worst = 0;
    }
}

int main(int argc, char **argv)
{
    s_opts_t o;
    if (s_parse(argc, argv, &o) != 0)
        return 2;
    zsys_set_max_sockets((size_t) o.managers + 64);
    zsys_init();
    zsys_handler_set(NULL);
    ept_broker_t b;
    char hb[16], prefetch[16];
    snprintf(hb, sizeof hb, "%d", o.heartbeat_ms);
    snprintf(prefetch, sizeof prefetch, "%d", o.prefetch);
    int started = ept_broker_start(&b);
    b.hb_ms = 1000; /* the broker's default period: a loaded machine does not make the link re-hello */
    if (started != 0 ||
        ept_endpoint_start(&b, "0", "--heartbeat-ms", hb, o.prefetch >= 0 ? "--prefetch" : NULL, prefetch,
                           NULL) != 0 ||
        !ept_until_ready(&b)) {
        fprintf(stderr, "fx-ix-load: the endpoint did not start (see %s/ep.stderr)\n", b.root);
        ept_broker_stop(&b, true);
        return 1;
    }
    pid_t ep = b.pid;
    char *body = malloc((size_t) o.body + 1), *payload = malloc((size_t) o.payload + 1);
    memset(body, 'b', (size_t) o.body);
    memset(payload, 'p', (size_t) o.payload);
    int rc = 0;
    bool run_line = false;
    char line[2048];
    long rss_before = s_status_kb(ep, "VmRSS");

    if (o.flood > 0) {
        int64_t cpu0 = s_cpu_us(ep);
        for (long sent = 0; sent < o.flood;) {
            int n = (int) (o.flood - sent < o.batch ? o.flood - sent : o.batch);
            ept_send(b.endpoint, b.ep_routing, s_tasks(n, body, (size_t) o.body, payload, (size_t) o.payload),
                     &b.seq);
            sent += n;
            ept_pump(&b, 0);
        }
        /* the stats file counts what was taken: wait for all of it */
        int64_t deadline = fx_test_deadline(120000);
        while (ept_stat(&b, "tasks_received") < o.flood && fx_test_now_ms() < deadline)
            ept_pump(&b, 100);
        long rss = s_status_kb(ep, "VmRSS");
        printf("mode=flood tasks=%ld body=%d payload=%d ep_rss_before_kib=%ld ep_rss_kib=%ld "
               "ep_bytes_per_task=%.0f ep_cpu_us_per_task=%.2f\n",
               o.flood, o.body, o.payload, rss_before, rss,
               (double) (rss - rss_before) * 1024.0 / (double) o.flood,
               (double) (s_cpu_us(ep) - cpu0) / (double) o.flood);
        goto done;
    }

    s_mgr_t *mgrs = calloc((size_t) o.managers + 1, sizeof *mgrs);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    /* the broker's socket wakes the wait too */
    struct epoll_event bev = {.events = EPOLLIN, .data.u32 = (uint32_t) o.managers};
    epoll_ctl(epfd, EPOLL_CTL_ADD, zsock_fd(b.endpoint), &bev);
    fx_keypair_t mkp = ept_manager_key(&b);
    for (int i = 0; i < o.managers; i++) {
        s_mgr_t *m = &mgrs[i];
        m->sock = zsock_new(ZMQ_DEALER);
        if (!m->sock) {
            fprintf(stderr, "fx-ix-load: cannot make manager socket %d\n", i);
            return 1;
        }
        zsock_set_sndhwm(m->sock, 0);
        zsock_set_rcvhwm(m->sock, 0);
        fx_id_new(m->id);
        fx_curve_client(m->sock, &mkp, b.ep_pub);
        zsock_connect(m->sock, "%s", b.managers_addr);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
        epoll_ctl(epfd, EPOLL_CTL_ADD, zsock_fd(m->sock), &ev);
        s_mgr_hello(m, (uint32_t) o.window);
        if (i % 32 == 31) /* the others' handshakes and heartbeats go on meanwhile */
            s_round(&b, mgrs, i + 1, epfd, (uint32_t) o.window, o.heartbeat_ms, 0);
    }
    uint64_t want = (uint64_t) o.managers * (uint64_t) o.window;
    int64_t deadline = fx_test_deadline(60000 + 20 * o.managers);
    while (b.window < want && fx_test_now_ms() < deadline)
        s_round(&b, mgrs, o.managers, epfd, (uint32_t) o.window, o.heartbeat_ms, 20);
    if (b.window < want) {
        fprintf(stderr, "fx-ix-load: the window reached %u of %llu\n", b.window, (unsigned long long) want);
        rc = 1;
        goto stop;
    }
    long rss_connected = s_status_kb(ep, "VmRSS");

    if (o.idle_s > 0) {
        /* settle one heartbeat period, then measure */
        int64_t until = fx_now_ms() + o.heartbeat_ms;
        while (fx_now_ms() < until)
            s_round(&b, mgrs, o.managers, epfd, (uint32_t) o.window, o.heartbeat_ms, 10);
        int64_t cpu0 = s_cpu_us(ep), t0 = fx_now_ms();
        until = t0 + 1000L * o.idle_s;
        while (fx_now_ms() < until)
            s_round(&b, mgrs, o.managers, epfd, (uint32_t) o.window, o.heartbeat_ms, 10);
        double secs = (double) (fx_now_ms() - t0) / 1000.0, cpu = (double) (s_cpu_us(ep) - cpu0);
        printf("mode=idle managers=%d window=%d heartbeat_ms=%d seconds=%.1f ep_cpu_pct=%.3f "
               "ep_cpu_us_per_manager_s=%.2f ep_rss_before_kib=%ld ep_rss_kib=%ld ep_bytes_per_manager=%.0f "
               "lost=%ld\n",
               o.managers, o.window, o.heartbeat_ms, secs, cpu / secs / 1e4,
               o.managers ? cpu / secs / o.managers : 0.0, rss_before, rss_connected,
               o.managers ? (double) (rss_connected - rss_before) * 1024.0 / o.managers : 0.0,
               ept_stat(&b, "managers_lost"));
        goto stop;
    }

    /* run: the broker keeps within the window, the managers answer */
    uint64_t sent = 0, msgs = 0;
    int64_t cpu0 = s_cpu_us(ep), t0 = fx_now_us();
    deadline = fx_test_deadline(600000);
    while (s_results_at_broker < (uint64_t) o.tasks && fx_test_now_ms() < deadline) {
        uint64_t outstanding = sent - s_results_at_broker;
        while (sent < (uint64_t) o.tasks && outstanding < b.window) {
            uint64_t n = b.window - outstanding;
            if (n > (uint64_t) o.batch)
                n = (uint64_t) o.batch;
            if (n > (uint64_t) o.tasks - sent)
                n = (uint64_t) o.tasks - sent;
            ept_send(b.endpoint, b.ep_routing,
                     s_tasks((int) n, body, (size_t) o.body, payload, (size_t) o.payload), &b.seq);
            sent += n;
            outstanding += n;
            msgs++;
        }
        s_round(&b, mgrs, o.managers, epfd, (uint32_t) o.window, o.heartbeat_ms, 10);
    }
    double secs = (double) (fx_now_us() - t0) / 1e6, cpu = (double) (s_cpu_us(ep) - cpu0);
    if (s_results_at_broker < (uint64_t) o.tasks) {
        fprintf(stderr, "fx-ix-load: %llu of %ld results in time\n", (unsigned long long) s_results_at_broker,
                o.tasks);
        rc = 1;
    }
    run_line = true;
    snprintf(
        line, sizeof line,
        "mode=run managers=%d window=%d slots=%llu tasks=%ld batch=%d seconds=%.3f tasks_per_s=%.0f "
        "ep_cpu_us_per_task=%.2f ep_cpu_pct=%.1f ep_rss_kib=%ld ep_hwm_kib=%ld tasks_msgs=%llu "
        "tasks_per_manager_msg=%.1f results_msgs=%llu results_per_broker_msg=%.1f broker_tasks_msgs=%llu "
        "times_bad=%llu managers_relost=%llu",
        o.managers, o.window, (unsigned long long) want, o.tasks, o.batch, secs, (double) o.tasks / secs,
        cpu / (double) o.tasks, cpu / secs / 1e4, s_status_kb(ep, "VmRSS"), s_status_kb(ep, "VmHWM"),
        (unsigned long long) s_tasks_msgs_at_mgr,
        s_tasks_msgs_at_mgr ? (double) s_tasks_answered / (double) s_tasks_msgs_at_mgr : 0.0,
        (unsigned long long) s_results_msgs_at_broker,
        s_results_msgs_at_broker ? (double) s_results_at_broker / (double) s_results_msgs_at_broker : 0.0,
        (unsigned long long) msgs, (unsigned long long) s_times_bad, (unsigned long long) s_relost);
stop:
    for (int i = 0; i < o.managers; i++)
        zsock_destroy(&mgrs[i].sock);
    free(mgrs);
    close(epfd);
done:
    ept_endpoint_stop(&b);
    if (run_line) /* the never-exceed counters, from the stats file written on exit */
        printf("%s max_held=%ld window_at_max_held=%ld held_over_window=%ld\n", line,
               ept_stat(&b, "max_held"), ept_stat(&b, "window_at_max_held"),
               ept_stat(&b, "held_over_window"));
    ept_broker_stop(&b, rc != 0);
    free(body);
    free(payload);
    return rc;
}
