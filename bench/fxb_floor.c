/*  fxb_floor.c: the physical floor of this machine, now. A bare ZeroMQ
    chain as long as fx's path: client -> three forwarding processes
    (zmq_proxy, ROUTER in front, DEALER behind) -> an echo process, CurveZMQ
    on every hop, tcp on 127.0.0.1, 64-byte messages: sequential round
    trips, pipelined throughput by messages in flight, batched records, and
    payload round trips; plus one fdatasync of a 4 KiB write on the broker's
    state disk. Nothing of fx runs here: this is what the hardware, the
    kernel and libzmq allow. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "fx_file.h"
#include "fxb_proc.h"
#include "fxb_scen.h"

#define S_HOPS 3              /* forwarding processes on fx's path: broker, interchange, manager */
#define S_MSG 64
#define S_BATCH_RECORDS 256
#define S_BATCH_WINDOW 8
#define S_HWM 100000

static const int s_windows[] = {1, 4, 16, 64, 256, 1024};
#define S_WINDOWS ((int) (sizeof s_windows / sizeof s_windows[0]))
#define S_REF_WINDOW 256      /* "many in flight": the throughput floor */

typedef struct {
    char pub[41], sec[41];
} s_keys_t;

typedef struct {
    pid_t pid[S_HOPS + 1];
    bool curve;               /* false: plain tcp, to show what CURVE costs */
    char addr[256];           /* the first forwarder's */
    s_keys_t server;          /* the first forwarder's keys */
    s_keys_t client;
} s_chain_t;

static void s_opt(void *sock, int opt, int value) { zmq_setsockopt(sock, opt, &value, sizeof value); }

static void s_curve_server(void *sock, const s_keys_t *k)
{
    if (!k)
        return;
    s_opt(sock, ZMQ_CURVE_SERVER, 1);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->sec, 40);
}

static void s_curve_client(void *sock, const s_keys_t *mine, const char *server_pub)
{
    if (!mine)
        return;
    zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, 40);
    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, mine->pub, 40);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, mine->sec, 40);
}

static void *s_socket(void *zctx, int type)
{
    void *sock = zmq_socket(zctx, type);
    s_opt(sock, ZMQ_SNDHWM, S_HWM);
    s_opt(sock, ZMQ_RCVHWM, S_HWM);
    s_opt(sock, ZMQ_LINGER, 0);
    return sock;
}

/* The child: binds a CURVE ROUTER (plain with mine and client NULL) on a
   free port, reports it on fd, then forwards to next (next_pub its key)
   or, with next NULL, echoes. */
static void s_hop_main(const s_keys_t *mine, const s_keys_t *client, const char *next, const char *next_pub,
                       int fd)
{
    void *zctx = zmq_ctx_new();
    void *front = s_socket(zctx, ZMQ_ROUTER);
    s_curve_server(front, mine);
    char addr[256] = "";
    size_t len = sizeof addr;
    if (zmq_bind(front, "tcp://127.0.0.1:*") != 0 || zmq_getsockopt(front, ZMQ_LAST_ENDPOINT, addr, &len) != 0)
        _exit(1);
    if (write(fd, addr, strlen(addr) + 1) < 0)
        _exit(1);
    close(fd);
    if (next) {
        void *back = s_socket(zctx, ZMQ_DEALER);
        s_curve_client(back, client, next_pub);
        zmq_connect(back, next);
        zmq_proxy(front, back, NULL);
        _exit(0);
    }
    for (;;) {   /* echo every multipart message to where it came from */
        zmq_msg_t part;
        int more = 1;
        while (more) {
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, front, 0) < 0)
                _exit(0);
            more = zmq_msg_more(&part);
            zmq_msg_send(&part, front, more ? ZMQ_SNDMORE : 0);
        }
    }
}

static void s_chain_stop(s_chain_t *c)
{
    for (int i = 0; i <= S_HOPS; i++)
        if (c->pid[i] > 0)
            fxb_stop(c->pid[i], 5);
    memset(c->pid, 0, sizeof c->pid);
}

/* Starts echo, then the forwarders back to front. 0 or -1. */
static int s_chain_start(s_chain_t *c, bool curve)
{
    memset(c, 0, sizeof *c);
    c->curve = curve;
    zmq_curve_keypair(c->client.pub, c->client.sec);
    char next[256] = "", next_pub[41] = "";
    for (int i = S_HOPS; i >= 0; i--) {   /* i == S_HOPS: the echo */
        s_keys_t k;
        zmq_curve_keypair(k.pub, k.sec);
        int fds[2];
        if (pipe(fds) != 0)
            return -1;
        fflush(NULL);
        c->pid[i] = fork();
        if (c->pid[i] == 0) {
            close(fds[0]);
            s_hop_main(curve ? &k : NULL, curve ? &c->client : NULL, i == S_HOPS ? NULL : next, next_pub, fds[1]);
        }
        close(fds[1]);
        fxb_proc_track(c->pid[i]);
        ssize_t n = c->pid[i] > 0 ? read(fds[0], next, sizeof next - 1) : -1;
        close(fds[0]);
        if (n <= 0) {
            s_chain_stop(c);
            return -1;
        }
        next[n] = 0;
        memcpy(next_pub, k.pub, sizeof next_pub);
        c->server = k;
    }
    snprintf(c->addr, sizeof c->addr, "%s", next);
    return 0;
}

/* A client DEALER on the chain, after one round trip (handshakes done). */
static void *s_client(void *zctx, const s_chain_t *c)
{
    void *sock = s_socket(zctx, ZMQ_DEALER);
    s_curve_client(sock, c->curve ? &c->client : NULL, c->server.pub);
    s_opt(sock, ZMQ_RCVTIMEO, 10000);
    zmq_connect(sock, c->addr);
    char buf[S_MSG] = {0};
    if (zmq_send(sock, buf, sizeof buf, 0) < 0 || zmq_recv(sock, buf, sizeof buf, 0) < 0) {
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Sequential round trips of 64 bytes, in us. */
static int s_rtt(void *sock, int count, fxb_samples_t *out)
{
    char buf[S_MSG] = {0};
    for (int i = 0; i < count; i++) {
        double t0 = fxb_now();
        if (zmq_send(sock, buf, sizeof buf, 0) < 0 || zmq_recv(sock, buf, sizeof buf, 0) < 0)
            return -1;
        fxb_samples_add(out, (fxb_now() - t0) * 1e6);
    }
    return 0;
}

/* Messages of size bytes with window in flight for about seconds; returns
   messages per second (-1 on failure). */
static double s_pipelined(void *sock, size_t size, int window, double seconds)
{
    char *buf = calloc(1, size);
    if (!buf)
        return -1;
    long sent = 0, got = 0;
    double t0 = fxb_now(), t_end = t0 + seconds;
    for (; sent < window; sent++)
        zmq_send(sock, buf, size, 0);
    double rate = -1;
    for (;;) {
        if (zmq_recv(sock, buf, size, 0) < 0)
            break;
        got++;
        if (fxb_now() < t_end) {
            zmq_send(sock, buf, size, 0);
            sent++;
        } else if (got == sent) {
            rate = (double) got / (fxb_now() - t0);
            break;
        }
    }
    free(buf);
    return rate;
}

/* Round trips of a payload of size bytes: the median of reps, in ms. */
static double s_payload(void *sock, size_t size, int reps)
{
    char *buf = malloc(size);
    if (!buf)
        return -1;
    memset(buf, 7, size);
    fxb_samples_t t = {0};
    for (int i = 0; i <= reps; i++) {
        double t0 = fxb_now();
        if (zmq_send(sock, buf, size, 0) < 0 || zmq_recv(sock, buf, size, 0) < 0)
            break;
        if (i > 0)   /* the first one warms the buffers */
            fxb_samples_add(&t, (fxb_now() - t0) * 1e3);
    }
    double ms = t.count == (size_t) reps ? fxb_percentile(&t, 50) : -1;
    fxb_samples_free(&t);
    free(buf);
    return ms;
}

/* fdatasync of a 4 KiB write over a preallocated file in dir (a reused
   sqlite WAL is overwritten in place), count times, in us. */
static int s_fdatasync(const char *dir, int count, fxb_samples_t *out)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/fdatasync-probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char block[4096];
    memset(block, 0x5a, sizeof block);
    for (int i = 0; i < 256; i++)
        if (write(fd, block, sizeof block) != (ssize_t) sizeof block)
            break;
    fsync(fd);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        block[0] = (char) i;
        double t0 = fxb_now();
        if (pwrite(fd, block, sizeof block, (off_t) (i % 256) * 4096) != (ssize_t) sizeof block ||
            fdatasync(fd) != 0)
            rc = -1;
        fxb_samples_add(out, (fxb_now() - t0) * 1e6);
    }
    close(fd);
    unlink(path);
    return rc;
}

void fxb_size_name(double bytes, char *out, size_t cap)
{
    if (bytes >= 1024 * 1024 && fmod(bytes, 1024 * 1024) == 0)
        snprintf(out, cap, "%.0f MiB", bytes / (1024 * 1024));
    else if (bytes >= 1024 && fmod(bytes, 1024) == 0)
        snprintf(out, cap, "%.0f KiB", bytes / 1024);
    else
        snprintf(out, cap, "%.0f B", bytes);
}

/* Per-run values of every floor figure. */
typedef struct {
    double rtt[4], rtt_sync, pipe[S_WINDOWS], batch, sync[2], payload_ms[FXB_LIST_MAX];
    double plain_ms[FXB_LIST_MAX];   /* the payloads again without CURVE */
} s_run_t;

/* Round trips of every --sizes payload on a new chain, the median in ms
   of each in ms[]. 0 or -1. */
static int s_payloads(const fxb_opts_t *o, bool curve, double *ms)
{
    s_chain_t chain;
    if (s_chain_start(&chain, curve) != 0)
        return -1;
    void *zctx = zmq_ctx_new();
    void *sock = s_client(zctx, &chain);
    int rc = sock ? 0 : -1;
    for (int i = 0; rc == 0 && i < o->sizes.count; i++) {
        int reps = o->sizes.v[i] >= 4 * 1024 * 1024 ? 3 : 10;
        if ((ms[i] = s_payload(sock, (size_t) o->sizes.v[i], reps)) < 0)
            rc = -1;
    }
    if (sock)
        zmq_close(sock);
    zmq_ctx_term(zctx);
    s_chain_stop(&chain);
    return rc;
}

static int s_one_run(const fxb_opts_t *o, bool quick, s_run_t *r)
{
    s_chain_t chain;
    if (s_chain_start(&chain, true) != 0) {
        fxb_progress("floor: the chain did not start");
        return -1;
    }
    void *zctx = zmq_ctx_new();
    void *sock = s_client(zctx, &chain);
    int rc = sock ? 0 : -1;
    fxb_samples_t s = {0};
    int count = quick ? (o->count < 500 ? o->count : 500) : (o->count > 2000 ? o->count : 2000);
    if (rc == 0 && (rc = s_rtt(sock, count / 10 + 1, &s)) == 0) {   /* warm-up */
        fxb_samples_clear(&s);
        rc = s_rtt(sock, count, &s);
        r->rtt[0] = fxb_percentile(&s, 50);
        r->rtt[1] = fxb_percentile(&s, 90);
        r->rtt[2] = fxb_percentile(&s, 99);
        r->rtt[3] = fxb_percentile(&s, 100);
    }
    double secs = quick ? 0.2 : 0.5;
    for (int w = 0; rc == 0 && w < S_WINDOWS; w++)
        if ((r->pipe[w] = s_pipelined(sock, S_MSG, s_windows[w], secs)) < 0)
            rc = -1;
    if (rc == 0) {
        double b = s_pipelined(sock, S_MSG * S_BATCH_RECORDS, S_BATCH_WINDOW, secs);
        r->batch = b * S_BATCH_RECORDS;
        rc = b < 0 ? -1 : 0;
    }
    if (sock)
        zmq_close(sock);
    zmq_ctx_term(zctx);
    s_chain_stop(&chain);
    if (rc == 0)
        rc = s_payloads(o, true, r->payload_ms);
    if (rc == 0)
        rc = s_payloads(o, false, r->plain_ms);
    fxb_samples_clear(&s);
    if (rc == 0 && s_fdatasync(o->state_dir, quick ? 100 : 300, &s) == 0) {
        r->sync[0] = fxb_percentile(&s, 50);
        r->sync[1] = fxb_percentile(&s, 99);
        r->rtt_sync = r->rtt[0] + r->sync[0];
    } else if (rc == 0) {
        fxb_progress("floor: fdatasync in %s failed: %s", o->state_dir, strerror(errno));
        rc = -1;
    }
    fxb_samples_free(&s);
    return rc;
}

int fxb_floor(fxb_ctx_t *ctx, bool quick)
{
    const fxb_opts_t *o = &ctx->opts;
    if (fx_file_mkdirs(o->state_dir, 0700) != 0) {
        fxb_progress("cannot make %s", o->state_dir);
        return 1;
    }
    s_run_t run[FXB_RUNS_MAX];
    for (int i = 0; i < o->runs; i++) {
        fxb_progress("floor: run %d/%d%s", i + 1, o->runs, quick ? " (short)" : "");
        if (s_one_run(o, quick, &run[i]) != 0)
            return 1;
    }
    fxb_report_t *rep = fxb_report_new("floor");
    double v[FXB_RUNS_MAX];
#define S_COLLECT(expr) for (int i = 0; i < o->runs; i++) v[i] = (expr)
    static const char *const pct[] = {"p50", "p90", "p99", "max"};
    for (int k = 0; k < 4; k++) {
        S_COLLECT(run[i].rtt[k]);
        fxb_report_add(rep, FXB_FLOOR_RTT, pct[k], "us", v, o->runs, NULL, 0);
    }
    S_COLLECT(run[i].sync[0]);
    fxb_report_add(rep, FXB_FLOOR_SYNC, "p50", "us", v, o->runs, NULL, 0);
    S_COLLECT(run[i].sync[1]);
    fxb_report_add(rep, FXB_FLOOR_SYNC, "p99", "us", v, o->runs, NULL, 0);
    S_COLLECT(run[i].rtt_sync);
    fxb_report_add(rep, FXB_FLOOR_RTT_SYNC, "p50", "us", v, o->runs, NULL, 0);
    double curve[S_WINDOWS * 2];
    for (int w = 0; w < S_WINDOWS; w++) {
        char metric[32];
        snprintf(metric, sizeof metric, "window %d", s_windows[w]);
        S_COLLECT(run[i].pipe[w]);
        fxb_report_add(rep, FXB_FLOOR_PIPE, metric, "msgs/s", v, o->runs, NULL, 0);
        curve[2 * w] = s_windows[w];
        curve[2 * w + 1] = fxb_median(v, o->runs);
    }
    S_COLLECT(run[i].batch);
    fxb_report_add(rep, FXB_FLOOR_BATCH, "window 8", "records/s", v, o->runs, NULL, 0);
    for (int k = 0; k < o->sizes.count; k++) {
        char name[64], size[32];
        fxb_size_name(o->sizes.v[k], size, sizeof size);
        snprintf(name, sizeof name, "%s %s", FXB_FLOOR_PAYLOAD, size);
        S_COLLECT(run[i].payload_ms[k]);
        fxb_report_add(rep, name, "round trip", "ms", v, o->runs, NULL, 0);
        S_COLLECT(o->sizes.v[k] / 1e6 / (run[i].payload_ms[k] / 1e3));
        fxb_report_add(rep, name, "MB/s", "MB/s", v, o->runs, NULL, 0);
        snprintf(name, sizeof name, "%s %s no CURVE", FXB_FLOOR_PAYLOAD, size);
        S_COLLECT(run[i].plain_ms[k]);
        fxb_report_add(rep, name, "round trip", "ms", v, o->runs, NULL, 0);
    }
#undef S_COLLECT
    fxb_report_note(rep, "chain: client -> %d zmq_proxy processes -> echo; CurveZMQ on each of the %d tcp hops "
                         "(127.0.0.1); no ZAP handler (a ZAP request costs once per connection only)",
                    S_HOPS, S_HOPS + 1);
    fxb_report_note(rep, "fdatasync: pwrite of 4 KiB over a preallocated file in %s, then fdatasync", o->state_dir);
    fxb_report_note(rep, "payload MB/s = array bytes / round-trip time (the bytes cross the chain twice); "
                         "'no CURVE': the same chain on plain tcp, to show what CURVE costs (fx's worker hop "
                         "is ipc without CURVE, so fx crosses one CURVE hop less than this chain)");
    fxb_report_finish(rep, o);
    static const char *const cols[] = {"in flight", "msgs/s"};
    fxb_curve(o, "floor-pipelined", "bare ZeroMQ chain, 4 CURVE hops: throughput by messages in flight",
              "messages in flight", "round trips per second", cols, 2, curve, S_WINDOWS, true, false);
    fxb_report_destroy(&ctx->floor);
    ctx->floor = rep;
    return 0;
}

const fxb_report_t *fxb_floor_need(fxb_ctx_t *ctx)
{
    if (ctx->floor)
        return ctx->floor;
    if (ctx->opts.floor_from) {
        ctx->floor = fxb_report_load(ctx->opts.floor_from, "floor");
        return ctx->floor;
    }
    fxb_progress("no floor yet: measuring a short one first (--floor-from CSV to reuse one)");
    if (fxb_floor(ctx, true) != 0)
        return NULL;
    return ctx->floor;
}

double fxb_floor_value(fxb_ctx_t *ctx, const char *case_name, const char *metric, char *name, size_t cap)
{
    snprintf(name, cap, "%s/%s", case_name, metric);
    return fxb_report_value(ctx->floor, case_name, metric);
}
