/*  fx_wlink.c: the worker link over a Unix stream socketpair per worker;
    see fx_wlink.h for the framing and why nothing else can connect.

    Each end of a connection is a stream (fx_wstream.h: the framing and
    the buffers). The manager's side keeps many, non-blocking, in an epoll
    set; the worker's side keeps one, blocking, and waits in read(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_errlimit.h"
#include "fx_log.h"
#include "fx_wlink.h"
#include "fx_wstream.h"

#define S_FLAG "--link-fd"

/* ------------------------------------------------ one connection */

/* A worker's connection on the manager's side (the worker's side has one
   stream alone). */
typedef struct {
    fx_wstream_t s;
    fx_wlink_peer_t peer;
    bool want_out; /* registered for EPOLLOUT */
    zframe_t *key; /* names the peer in the ERROR budget */
} s_conn_t;

static s_conn_t *s_conn_new(int fd, fx_wlink_peer_t peer)
{
    s_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->key = zframe_new(&peer, sizeof peer);
    if (fx_wstream_init(&c->s, fd) != 0 || !c->key) {
        c->s.fd = -1; /* the caller closes fd */
        fx_wstream_fini(&c->s);
        zframe_destroy(&c->key);
        free(c);
        return NULL;
    }
    c->peer = peer;
    return c;
}

static void s_conn_destroy(s_conn_t **c_p)
{
    s_conn_t *c = *c_p;
    if (!c)
        return;
    fx_wstream_fini(&c->s);
    zframe_destroy(&c->key);
    free(c);
    *c_p = NULL;
}

/* Decodes a whole message read from the connection (zmsg destroyed). */
static int s_decode(zmsg_t **zmsg_p, fx_msg_t **msg_p, uint32_t *seq_p, const char **detail_p)
{
    int rc = fx_msg_decode(*zmsg_p, msg_p, seq_p, detail_p);
    zmsg_destroy(zmsg_p);
    return rc;
}

/* ------------------------------------------------ the manager's side */

struct fx_wlink_t {
    int epfd;
    s_conn_t **conns; /* by peer - 1 */
    uint32_t nconns;
    fx_wlink_peer_t *ready; /* connections that read something not yet framed */
    uint32_t nready;
    fx_errlimit_t *errors;
};

fx_wlink_t *fx_wlink_new(char *err, size_t errlen)
{
    fx_wlink_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->errors = fx_errlimit_new();
    if (self->epfd < 0 || !self->errors) {
        snprintf(err, errlen, "cannot create the workers' epoll set: %s", strerror(errno));
        fx_wlink_destroy(&self);
        return NULL;
    }
    return self;
}

void fx_wlink_destroy(fx_wlink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_wlink_t *self = *self_p;
    for (uint32_t i = 0; i < self->nconns; i++)
        s_conn_destroy(&self->conns[i]);
    free(self->conns);
    free(self->ready);
    if (self->epfd >= 0)
        close(self->epfd);
    fx_errlimit_destroy(&self->errors);
    free(self);
    *self_p = NULL;
}

int fx_wlink_fd(fx_wlink_t *self)
{
    return self->epfd;
}

static s_conn_t *s_conn_of(fx_wlink_t *self, fx_wlink_peer_t peer)
{
    return peer >= 1 && peer <= self->nconns ? self->conns[peer - 1] : NULL;
}

int fx_wlink_child(fx_wlink_t *self, fx_wlink_child_t *child, char *err, size_t errlen)
{
    memset(child, 0, sizeof *child);
    child->fd = -1;
    uint32_t slot = 0;
    while (slot < self->nconns && self->conns[slot])
        slot++;
    if (slot == self->nconns) {
        uint32_t cap = self->nconns ? 2 * self->nconns : 8;
        s_conn_t **conns = realloc(self->conns, cap * sizeof *conns);
        fx_wlink_peer_t *ready = conns ? realloc(self->ready, cap * sizeof *ready) : NULL;
        if (conns)
            self->conns = conns;
        if (!conns || !ready) {
            snprintf(err, errlen, "out of memory");
            return FX_E_NOMEM;
        }
        self->ready = ready;
        memset(self->conns + self->nconns, 0, (cap - self->nconns) * sizeof *conns);
        self->nconns = cap;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "cannot make a socketpair for a worker: %s", strerror(errno));
        return FX_E_IO;
    }
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    s_conn_t *c = s_conn_new(sv[0], slot + 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = slot + 1};
    if (!c || epoll_ctl(self->epfd, EPOLL_CTL_ADD, sv[0], &ev) != 0) {
        snprintf(err, errlen, "cannot watch a worker's socket: %s", c ? strerror(errno) : "out of memory");
        if (c)
            s_conn_destroy(&c);
        else
            close(sv[0]);
        close(sv[1]);
        return c ? FX_E_IO : FX_E_NOMEM;
    }
    self->conns[slot] = c;
    child->peer = slot + 1;
    child->fd = sv[1];
    child->flag = S_FLAG;
    snprintf(child->value, sizeof child->value, "%d", sv[1]);
    return FX_OK;
}

void fx_wlink_child_keep(const fx_wlink_child_t *child)
{
    fcntl(child->fd, F_SETFD, 0);
}

void fx_wlink_child_keep_as(const fx_wlink_child_t *child, int fd)
{
    if (child->fd == fd)
        fcntl(fd, F_SETFD, 0);
    else
        dup2(child->fd, fd); /* the copy is not close-on-exec; the original is */
}

void fx_wlink_child_started(fx_wlink_child_t *child)
{
    if (child->fd >= 0)
        close(child->fd);
    child->fd = -1;
}

/* Drops peer from the list of connections with input to frame. */
static void s_unready(fx_wlink_t *self, fx_wlink_peer_t peer)
{
    for (uint32_t i = 0; i < self->nready; i++)
        if (self->ready[i] == peer) {
            self->ready[i] = self->ready[--self->nready];
            return;
        }
}

void fx_wlink_child_gone(fx_wlink_t *self, fx_wlink_peer_t peer)
{
    s_conn_t *c = s_conn_of(self, peer);
    if (!c)
        return;
    s_unready(self, peer);
    epoll_ctl(self->epfd, EPOLL_CTL_DEL, c->s.fd, NULL);
    s_conn_destroy(&self->conns[peer - 1]);
}

/* Watches c for EPOLLOUT while it has output waiting, and not after. */
static void s_watch(fx_wlink_t *self, s_conn_t *c)
{
    bool want = fx_wstream_pending(&c->s) && !c->s.closed;
    if (want == c->want_out || c->s.fd < 0)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = c->peer};
    if (epoll_ctl(self->epfd, EPOLL_CTL_MOD, c->s.fd, &ev) == 0)
        c->want_out = want;
}

/* A connection that ended: no more events from it (its process is reaped
   separately, by the pool). */
static void s_close(fx_wlink_t *self, s_conn_t *c)
{
    c->s.closed = true;
    epoll_ctl(self->epfd, EPOLL_CTL_DEL, c->s.fd, NULL);
}

static int s_sent(fx_wlink_t *self, s_conn_t *c, int rc)
{
    if (rc == FX_E_IO)
        s_close(self, c);
    s_watch(self, c);
    return rc;
}

int fx_wlink_send(fx_wlink_t *self, fx_wlink_peer_t peer, fx_msg_t **msg_p)
{
    s_conn_t *c = s_conn_of(self, peer);
    if (!c) {
        fx_msg_destroy(msg_p);
        return FX_E_IO;
    }
    return s_sent(self, c, fx_wstream_send(&c->s, msg_p));
}

int fx_wlink_send_task(fx_wlink_t *self, fx_wlink_peer_t peer, const fx_task_t *task, const zframe_t *body)
{
    s_conn_t *c = s_conn_of(self, peer);
    if (!c)
        return FX_E_IO;
    /* the header of a TASKS whose one record is the task without its
       frames (encoded as two empty ones), then the task's own frames in
       their place: nothing of the task is moved or copied */
    fx_task_t record = *task;
    record.body = record.payload = NULL;
    fx_msg_t msg = {.type = FX_MSG_TASKS, .seq = 0};
    msg.tasks.count = 1;
    msg.tasks.tasks = &record;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(&msg, &rc);
    if (!zmsg)
        return rc;
    zframe_t *header = zmsg_first(zmsg);
    struct iovec parts[3] = {
        {zframe_data(header), zframe_size(header)},
        {body ? zframe_data((zframe_t *) body) : NULL, body ? zframe_size((zframe_t *) body) : 0},
        {task->payload ? zframe_data(task->payload) : NULL, task->payload ? zframe_size(task->payload) : 0},
    };
    rc = s_sent(self, c, fx_wstream_send_parts(&c->s, parts, 3));
    zmsg_destroy(&zmsg);
    return rc;
}

int fx_wlink_send_bytes(fx_wlink_t *self, fx_wlink_peer_t peer, const void *data, size_t len)
{
    s_conn_t *c = s_conn_of(self, peer);
    zmsg_t *zmsg = c ? zmsg_new() : NULL;
    if (!zmsg || zmsg_addmem(zmsg, data, len) != 0) {
        zmsg_destroy(&zmsg);
        return c ? FX_E_NOMEM : FX_E_IO;
    }
    int rc = s_sent(self, c, fx_wstream_send_zmsg(&c->s, zmsg));
    zmsg_destroy(&zmsg);
    return rc;
}

/* ERROR within the budget of key, sent with send(arg, msg). */
static bool s_verror(fx_errlimit_t *errors, zframe_t *key, s_conn_t *c, uint32_t seq, int code,
                     const char *fmt, va_list ap)
{
    if (!fx_errlimit_allow(errors, key, fx_now_ms()))
        return false;
    fx_msg_t *msg = fx_msg_new(FX_MSG_ERROR);
    if (!msg)
        return false;
    char text[FX_TEXT_MAX + 1];
    vsnprintf(text, sizeof text, fmt, ap);
    msg->seq = seq;
    fx_msg_set_error(msg, code, "%s", text);
    return fx_wstream_send(&c->s, &msg) == FX_OK;
}

bool fx_wlink_send_error(fx_wlink_t *self, fx_wlink_peer_t peer, uint32_t seq, int code, const char *fmt, ...)
{
    s_conn_t *c = s_conn_of(self, peer);
    if (!c)
        return false;
    va_list ap;
    va_start(ap, fmt);
    bool sent = s_verror(self->errors, c->key, c, seq, code, fmt, ap);
    va_end(ap);
    s_watch(self, c);
    return sent;
}

void fx_wlink_pump(fx_wlink_t *self)
{
    struct epoll_event evs[64];
    int n = epoll_wait(self->epfd, evs, 64, 0);
    for (int i = 0; i < n; i++) {
        s_conn_t *c = s_conn_of(self, evs[i].data.u32);
        if (!c || c->s.closed)
            continue;
        if (evs[i].events & EPOLLOUT && fx_wstream_flush(&c->s) != FX_OK) {
            s_close(self, c);
            continue;
        }
        s_watch(self, c);
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            ssize_t got = fx_wstream_read(&c->s);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                s_close(self, c); /* the worker is gone; its exit is reaped by the pool */
            else if (got > 0) {
                bool listed = false;
                for (uint32_t k = 0; k < self->nready && !listed; k++)
                    listed = self->ready[k] == c->peer;
                if (!listed)
                    self->ready[self->nready++] = c->peer;
            }
        }
    }
}

void fx_wlink_wait(fx_wlink_t *self, int ms)
{
    struct pollfd p = {self->epfd, POLLIN, 0};
    if (poll(&p, 1, ms) > 0)
        fx_wlink_pump(self);
}

int fx_wlink_recv(fx_wlink_t *self, fx_wlink_peer_t *peer, fx_msg_t **msg_p, uint32_t *seq_p,
                  const char **detail_p)
{
    *msg_p = NULL;
    *seq_p = 0;
    *detail_p = "";
    while (self->nready) {
        fx_wlink_peer_t p = self->ready[0];
        s_conn_t *c = s_conn_of(self, p);
        zmsg_t *zmsg = NULL;
        int rc = c ? fx_wstream_frame(&c->s, &zmsg, detail_p) : FX_OK;
        if (rc != FX_OK) {
            fx_warn("closing the link to a worker (peer %u): %s, so its stream has no known message "
                    "boundary any more",
                    p, *detail_p);
            s_close(self, c);
            s_unready(self, p);
            *peer = p;
            return rc;
        }
        if (zmsg) {
            *peer = p;
            return s_decode(&zmsg, msg_p, seq_p, detail_p);
        }
        s_unready(self, p); /* needs more bytes: the next pump brings them */
    }
    return FX_E_TIMEOUT;
}

uint64_t fx_wlink_tick(fx_wlink_t *self, int64_t now)
{
    return fx_errlimit_tick(self->errors, now);
}

/* ------------------------------------------------ the worker's side */

struct fx_wlink_conn_t {
    s_conn_t *conn; /* its socket blocks: a read waits in the kernel (SO_RCVTIMEO), no poll() first */
    int rcv_ms;     /* SO_RCVTIMEO now */
    fx_errlimit_t *errors;
};

fx_wlink_conn_t *fx_wlink_connect(const char *where, bool in_container, char *err, size_t errlen)
{
    char *end;
    long fd = strtol(where, &end, 10);
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (*end || end == where || fd < 0 || fd > 1 << 20 ||
        getsockopt((int) fd, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_STREAM ||
        (len = sizeof domain, getsockopt((int) fd, SOL_SOCKET, SO_DOMAIN, &domain, &len)) ||
        domain != AF_UNIX) {
        snprintf(err, errlen,
                 "%s \"%s\" is not a Unix stream socket this process holds; fx-worker is started "
                 "by fx-manager, which passes its end of the worker link",
                 S_FLAG, where);
        return NULL;
    }
    struct ucred cred;
    len = sizeof cred;
    if (!in_container && (getsockopt((int) fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
                          cred.pid != getppid() || cred.uid != getuid())) {
        snprintf(err, errlen,
                 "the socket %s %s was not made by our parent process (peer pid %d, parent %d): "
                 "refusing it as the worker link",
                 S_FLAG, where, (int) cred.pid, (int) getppid());
        return NULL;
    }
    fcntl((int) fd, F_SETFD, FD_CLOEXEC); /* no child of ours inherits it */
    fcntl((int) fd, F_SETFL, fcntl((int) fd, F_GETFL) & ~O_NONBLOCK);
    fx_wlink_conn_t *self = calloc(1, sizeof *self);
    if (self) {
        self->conn = s_conn_new((int) fd, 1);
        self->errors = fx_errlimit_new();
    }
    if (!self || !self->conn || !self->errors) {
        snprintf(err, errlen, "out of memory");
        fx_wlink_conn_destroy(&self);
        return NULL;
    }
    return self;
}

void fx_wlink_conn_destroy(fx_wlink_conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_wlink_conn_t *self = *self_p;
    s_conn_destroy(&self->conn);
    fx_errlimit_destroy(&self->errors);
    free(self);
    *self_p = NULL;
}

int fx_wlink_conn_send(fx_wlink_conn_t *self, fx_msg_t **msg_p)
{
    int rc = fx_wstream_send(&self->conn->s, msg_p);
    return rc == FX_OK ? fx_wstream_drain(&self->conn->s) : rc;
}

bool fx_wlink_conn_send_error(fx_wlink_conn_t *self, uint32_t seq, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool sent = s_verror(self->errors, self->conn->key, self->conn, seq, code, fmt, ap);
    va_end(ap);
    return sent && fx_wstream_drain(&self->conn->s) == FX_OK;
}

int fx_wlink_conn_recv(fx_wlink_conn_t *self, int ms, fx_msg_t **msg_p, uint32_t *seq_p,
                       const char **detail_p)
{
    *msg_p = NULL;
    *seq_p = 0;
    *detail_p = "";
    s_conn_t *c = self->conn;
    if (ms < 1)
        ms = 1; /* SO_RCVTIMEO 0 would mean no limit */
    if (ms != self->rcv_ms) {
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        if (setsockopt(c->s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
            self->rcv_ms = ms;
    }
    for (;;) {
        if (c->s.closed)
            return FX_E_IO;
        zmsg_t *zmsg = NULL;
        int rc = fx_wstream_frame(&c->s, &zmsg, detail_p);
        if (rc != FX_OK) {
            c->s.closed = true; /* no known message boundary any more: reported once, then FX_E_IO */
            return rc;
        }
        if (zmsg)
            return s_decode(&zmsg, msg_p, seq_p, detail_p);
        ssize_t got = fx_wstream_read(&c->s); /* waits up to ms for the first byte */
        if (got > 0)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return FX_E_TIMEOUT; /* the time is up, or a signal came */
        c->s.closed = true;
        return FX_E_IO;
    }
}

uint64_t fx_wlink_conn_tick(fx_wlink_conn_t *self, int64_t now)
{
    return fx_errlimit_tick(self->errors, now);
}
