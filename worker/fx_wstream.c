/*  fx_wstream.c: one end of the worker link's stream and its framing; see
    fx_wstream.h and, for the framing, fx_wlink.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fx_wstream.h"

/* Bounds of the framing (fx_wlink.h): frames per message, bytes per frame
   (what ZMQ_MAXMSGSIZE was on the ZeroMQ link, SPEC 2.1.3), bytes in all (a
   header and one task or result: the most a worker-link message holds). */
#define S_FRAMES_MAX (FX_FRAMES_MAX + 1)
#define S_FRAME_MAX (FX_PAYLOAD_MAX > FX_HEADER_MAX ? FX_PAYLOAD_MAX : FX_HEADER_MAX)
#define S_MSG_MAX ((uint64_t) FX_HEADER_MAX + 2 * (uint64_t) FX_PAYLOAD_MAX)

/* The read buffer: room for the largest frame table (4 + 4 x S_FRAMES_MAX
   bytes) and many small messages; a frame bigger than S_DIRECT_MIN is read
   straight into its own memory instead. */
#define S_INBUF (64 * 1024)
#define S_DIRECT_MIN (16 * 1024)

/* iovecs per writev (well under IOV_MAX). */
#define S_IOV 64

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void s_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

int fx_wstream_init(fx_wstream_t *c, int fd)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->in = malloc(S_INBUF);
    return c->in ? 0 : -1;
}

void fx_wstream_fini(fx_wstream_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    zmsg_destroy(&c->msg);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
}

bool fx_wstream_pending(const fx_wstream_t *c)
{
    return c->out_start < c->out_end;
}

/* Frames what was read into one whole message: FX_OK with *out, FX_OK with
   *out NULL when more bytes are needed, or an error (the stream cannot be
   framed; *detail_p says why). */
int fx_wstream_frame(fx_wstream_t *c, zmsg_t **out, const char **detail_p)
{
    *out = NULL;
    if (!c->msg) {
        size_t avail = c->in_end - c->in_start;
        if (avail < 4)
            return FX_OK;
        const uint8_t *p = c->in + c->in_start;
        uint32_t n = s_be32(p);
        if (n == 0 || n > S_FRAMES_MAX) {
            *detail_p = "frame count out of bounds";
            return n ? FX_E_TOO_LARGE : FX_E_MALFORMED;
        }
        if (avail < 4 + 4 * (size_t) n)
            return FX_OK;
        uint64_t total = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len = s_be32(p + 4 + 4 * i);
            if (len > S_FRAME_MAX) {
                *detail_p = "frame longer than the link allows";
                return FX_E_TOO_LARGE;
            }
            total += len;
        }
        if (total > S_MSG_MAX) {
            *detail_p = "message longer than the link allows";
            return FX_E_TOO_LARGE;
        }
        zmsg_t *msg = zmsg_new();
        for (uint32_t i = 0; msg && i < n; i++) {
            zframe_t *f = zframe_new(NULL, s_be32(p + 4 + 4 * i));
            if (!f || zmsg_append(msg, &f) != 0) {
                zframe_destroy(&f);
                zmsg_destroy(&msg);
            }
        }
        if (!msg) {
            *detail_p = "out of memory";
            return FX_E_NOMEM;
        }
        c->in_start += 4 + 4 * (size_t) n;
        c->msg = msg;
        c->frame = zmsg_first(msg);
        c->filled = 0;
    }
    while (c->frame) {
        size_t need = zframe_size(c->frame) - c->filled;
        size_t avail = c->in_end - c->in_start;
        size_t take = need < avail ? need : avail;
        if (take) {
            memcpy(zframe_data(c->frame) + c->filled, c->in + c->in_start, take);
            c->filled += take;
            c->in_start += take;
        }
        if (c->filled < zframe_size(c->frame))
            return FX_OK;
        c->frame = zmsg_next(c->msg);
        c->filled = 0;
    }
    *out = c->msg;
    c->msg = NULL;
    return FX_OK;
}

/* One read from the socket: into the frame being filled when much of it is
   missing and nothing is buffered, else into the read buffer. Returns the
   bytes read, 0 at EOF, -1 (errno) on an error or EAGAIN. */
ssize_t fx_wstream_read(fx_wstream_t *c)
{
    if (c->in_start == c->in_end)
        c->in_start = c->in_end = 0;
    if (c->frame && c->in_start == c->in_end) {
        size_t need = zframe_size(c->frame) - c->filled;
        if (need >= S_DIRECT_MIN) {
            ssize_t n = read(c->fd, zframe_data(c->frame) + c->filled, need);
            if (n > 0)
                c->filled += (size_t) n;
            return n;
        }
    }
    if (c->in_start > 0 && S_INBUF - c->in_end < S_DIRECT_MIN) {
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    if (c->in_end == S_INBUF) { /* cannot happen: a frame table fits in half the buffer */
        errno = ENOBUFS;
        return -1;
    }
    ssize_t n = read(c->fd, c->in + c->in_end, S_INBUF - c->in_end);
    if (n > 0)
        c->in_end += (size_t) n;
    return n;
}

/* Appends len bytes to what waits to go. */
static int s_queue(fx_wstream_t *c, const void *data, size_t len)
{
    if (c->out_start == c->out_end)
        c->out_start = c->out_end = 0;
    if (c->out_cap - c->out_end < len) {
        size_t used = c->out_end - c->out_start;
        if (c->out_start) {
            memmove(c->out, c->out + c->out_start, used);
            c->out_start = 0;
            c->out_end = used;
        }
        if (c->out_cap - used < len) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap - used < len)
                cap *= 2;
            uint8_t *out = realloc(c->out, cap);
            if (!out)
                return FX_E_NOMEM;
            c->out = out;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_end, data, len);
    c->out_end += len;
    return FX_OK;
}

/* Writes what waits to go, as far as the socket takes it: FX_OK (some may
   remain), or FX_E_IO if the connection is broken. */
int fx_wstream_flush(fx_wstream_t *c)
{
    while (c->out_start < c->out_end) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_end - c->out_start, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return FX_OK;
        if (n <= 0) {
            c->closed = true;
            return FX_E_IO;
        }
        c->out_start += (size_t) n;
    }
    return FX_OK;
}

/* Sends n frames (parts[i]: data, length; not taken) as one framed
   message: written at once as far as the socket takes it, the rest copied
   to the output buffer. FX_OK, FX_E_IO or FX_E_NOMEM. */
int fx_wstream_send_parts(fx_wstream_t *c, const struct iovec *parts, size_t n)
{
    if (c->closed)
        return FX_E_IO;
    if (n == 0 || n > S_FRAMES_MAX)
        return FX_E_TOO_LARGE;
    uint8_t small[4 + 4 * 8];
    uint8_t *table = n <= 8 ? small : malloc(4 + 4 * n);
    if (!table)
        return FX_E_NOMEM;
    s_put_be32(table, (uint32_t) n);
    for (size_t i = 0; i < n; i++)
        s_put_be32(table + 4 + 4 * i, (uint32_t) parts[i].iov_len);
    int rc = FX_OK;
    bool direct = c->out_start == c->out_end; /* nothing queued before us: write at once */
    size_t next = 0;                          /* the next part to put in a round */
    bool first = true;
    while (rc == FX_OK && (first || next < n)) {
        /* one round: up to S_IOV pieces (the table first) */
        struct iovec iov[S_IOV];
        int k = 0;
        if (first)
            iov[k++] = (struct iovec){table, 4 + 4 * n};
        first = false;
        for (; k < S_IOV && next < n; next++)
            if (parts[next].iov_len)
                iov[k++] = parts[next];
        size_t round = 0;
        for (int j = 0; j < k; j++)
            round += iov[j].iov_len;
        size_t done = 0; /* bytes of this round written */
        while (direct && done < round) {
            struct iovec part[S_IOV];
            int m = 0;
            size_t off = done;
            for (int j = 0; j < k; j++) {
                if (off >= iov[j].iov_len) {
                    off -= iov[j].iov_len;
                    continue;
                }
                part[m++] = (struct iovec){(uint8_t *) iov[j].iov_base + off, iov[j].iov_len - off};
                off = 0;
            }
            struct msghdr mh = {.msg_iov = part, .msg_iovlen = (size_t) m};
            ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                direct = false;
                break;
            }
            if (w <= 0) {
                c->closed = true;
                rc = FX_E_IO;
                break;
            }
            done += (size_t) w;
        }
        /* what this round did not write goes to the buffer, in order */
        size_t off = done;
        for (int j = 0; j < k && rc == FX_OK; j++) {
            if (off >= iov[j].iov_len) {
                off -= iov[j].iov_len;
                continue;
            }
            rc = s_queue(c, (uint8_t *) iov[j].iov_base + off, iov[j].iov_len - off);
            off = 0;
        }
    }
    if (table != small)
        free(table);
    return rc;
}

/* Sends the frames of zmsg (not taken) as one message. */
int fx_wstream_send_zmsg(fx_wstream_t *c, zmsg_t *zmsg)
{
    size_t n = zmsg_size(zmsg);
    if (n == 0 || n > S_FRAMES_MAX)
        return FX_E_TOO_LARGE;
    struct iovec small[8];
    struct iovec *parts = n <= 8 ? small : malloc(n * sizeof *parts);
    if (!parts)
        return FX_E_NOMEM;
    size_t i = 0;
    for (zframe_t *f = zmsg_first(zmsg); f; f = zmsg_next(zmsg))
        parts[i++] = (struct iovec){zframe_data(f), zframe_size(f)};
    int rc = fx_wstream_send_parts(c, parts, n);
    if (parts != small)
        free(parts);
    return rc;
}

/* Encodes msg (destroyed) and sends it. */
int fx_wstream_send(fx_wstream_t *c, fx_msg_t **msg_p)
{
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(*msg_p, &rc);
    fx_msg_destroy(msg_p);
    if (!zmsg)
        return rc;
    rc = fx_wstream_send_zmsg(c, zmsg);
    zmsg_destroy(&zmsg);
    return rc;
}

/* Waits until everything queued has gone, or the link breaks (on the
   worker's blocking socket nothing is queued but after a signal). */
int fx_wstream_drain(fx_wstream_t *c)
{
    while (c->out_start < c->out_end) {
        if (fx_wstream_flush(c) != FX_OK)
            return FX_E_IO;
        if (c->out_start < c->out_end) {
            struct pollfd p = {c->fd, POLLOUT, 0};
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                return FX_E_IO;
        }
    }
    return FX_OK;
}
