/*  fx_wlink.h: the worker link (SPEC 1, 2.2.3, 6.4): how a manager and its
    own worker processes reach each other. The one place that knows the
    transport; the manager (its pool and worker code), fx-worker and the
    worker's tests see messages and peers, never sockets.

    The transport is a Unix stream socketpair per worker, made by the
    manager just before it starts the process (fx_wlink_child). The
    worker's end is inherited across exec by that one process only (it is
    close-on-exec everywhere else, and the child keeps it with
    fx_wlink_child_keep between fork and exec); the worker is told its
    number on its command line. There is no address, so nothing but that
    child can speak on the link: this is what admits a worker (SPEC 13 no
    longer lists an unauthenticated worker link). The worker also checks
    with SO_PEERCRED that its end was made by its parent.

    A message is the same header and frames as everywhere else in fx
    (proto/fx_msg.h), framed on the stream as

        u32 n                 frames that follow (1 .. FX_FRAMES_MAX + 1)
        u32 len[n]            each frame's length (each <= the larger of
                              FX_PAYLOAD_MAX and FX_HEADER_MAX; in all at
                              most FX_HEADER_MAX + 2 x FX_PAYLOAD_MAX)
        the n frames' bytes   back to back

    all integers big-endian. A message one side cannot frame (a count or
    length out of bounds) leaves the stream without a known boundary: the
    receiver reports it once, as a decode error, and closes the link. A
    frame that is well framed but not a valid fx message is reported and
    the link goes on (SPEC 10.2).

    No ZeroMQ socket, context or I/O thread is involved: the manager polls
    one epoll descriptor for all its workers (fx_wlink_fd) in its own loop,
    and a message costs one writev and one read. */
#ifndef FX_WLINK_H
#define FX_WLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_msg.h"

/* Bodies a worker keeps by function_version (SPEC 12.1.4): a TASKS on the
   worker link carries the body of its version only the first time that
   worker gets the version, and an empty body after. The worker keeps the
   last FX_WLINK_BODIES_MAX versions it was sent a body for (first in,
   first out: fx_runner.py's _by_version), and the manager a list of the
   same keys in the same order per worker (manager/fx_mgr_bodies.h), so both
   forget a version at the same task and the manager sends the body again
   after that. 256: far more functions than a warm worker runs in turn;
   the manager's list of them costs 256 x 41 bytes per worker. */
#define FX_WLINK_BODIES_MAX 256

/* Names a worker's connection on the manager's side; 0 is none. */
typedef uint32_t fx_wlink_peer_t;

/* ------------------------------------------------ the manager's side */

typedef struct fx_wlink_t fx_wlink_t;

/* An empty set of worker connections. NULL with a sentence in err.
   Caller owns the return value. */
fx_wlink_t *fx_wlink_new(char *err, size_t errlen);

/* Closes every connection. Accepts NULL. */
void fx_wlink_destroy(fx_wlink_t **self_p);

/* A descriptor that is readable whenever fx_wlink_pump has something to
   do (a worker's input, or output waiting to go): poll it in the loop. */
int fx_wlink_fd(fx_wlink_t *self);

/* What a worker process about to start needs to reach the manager: its
   command line gets `flag` and `value` (the number of its end). */
typedef struct {
    fx_wlink_peer_t peer; /* names the process in fx_wlink_send and fx_wlink_recv */
    int fd;               /* the child's end, close-on-exec until fx_wlink_child_keep */
    const char *flag;     /* "--link-fd" */
    char value[16];       /* fd as text */
} fx_wlink_child_t;

/* A new connection for a process about to start. FX_OK, or FX_E_IO /
   FX_E_NOMEM (out of descriptors or memory), with a sentence in err. */
int fx_wlink_child(fx_wlink_t *self, fx_wlink_child_t *child, char *err, size_t errlen);

/* In the child, between fork and exec: lets its end survive exec.
   Async-signal-safe. (A parent that starts no other process before
   fx_wlink_child_started may call it instead, before it forks.) */
void fx_wlink_child_keep(const fx_wlink_child_t *child);

/* As fx_wlink_child_keep, but the end survives exec as descriptor fd (a
   container runtime passes on only the descriptors from 3 up: podman's
   --preserve-fds). Async-signal-safe. */
void fx_wlink_child_keep_as(const fx_wlink_child_t *child, int fd);

/* In the parent, once the process is forked (or could not be): closes the
   parent's copy of the child's end, so that only the child holds it. */
void fx_wlink_child_started(fx_wlink_child_t *child);

/* peer's process is gone (or never started): its connection is closed and
   whatever it had sent and was not yet read is dropped. */
void fx_wlink_child_gone(fx_wlink_t *self, fx_wlink_peer_t peer);

/* Sends msg (destroyed) to peer, without blocking: what the socket does not
   take at once is copied and goes out in later fx_wlink_pump calls. The
   message's frames are not kept after the call. FX_OK, FX_E_IO if the
   connection is closed, or an encode error. */
int fx_wlink_send(fx_wlink_t *self, fx_wlink_peer_t peer, fx_msg_t **msg_p);

/* As fx_wlink_send, for TASKS with this one task, whose frames stay with
   the caller (sent from where they are, copied only if the socket cannot
   take them at once). The body frame sent is `body` (NULL: empty), not the
   task's own: the manager sends a version's body once per worker. */
int fx_wlink_send_task(fx_wlink_t *self, fx_wlink_peer_t peer, const fx_task_t *task, const zframe_t *body);

/* Sends one frame of raw bytes to peer as a message (tests send garbage
   with it). FX_OK or FX_E_IO. */
int fx_wlink_send_bytes(fx_wlink_t *self, fx_wlink_peer_t peer, const void *data, size_t len);

/* ERROR(code, text) with seq to peer, if its ERROR budget (SPEC 10.3)
   allows; true if it was sent. */
bool fx_wlink_send_error(fx_wlink_t *self, fx_wlink_peer_t peer, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Does what the workers' sockets allow now, without blocking: reads what
   they sent (for fx_wlink_recv) and writes what waits to go. One epoll_wait
   and one read per connection with input. Call when fx_wlink_fd is
   readable. */
void fx_wlink_pump(fx_wlink_t *self);

/* The next message already read from a worker (fx_wlink_pump reads; this
   makes no system call): FX_OK with *msg_p (caller destroys) and its peer;
   FX_E_TIMEOUT if none is complete; or a decode error, with peer, *seq_p and
   *detail_p set and no message. */
int fx_wlink_recv(fx_wlink_t *self, fx_wlink_peer_t *peer, fx_msg_t **msg_p, uint32_t *seq_p,
                  const char **detail_p);

/* Waits up to ms for fx_wlink_fd to be readable, then pumps (for tests and
   simple loops). */
void fx_wlink_wait(fx_wlink_t *self, int ms);

/* ERRORs the budget held back since the last call (call about once a
   second, for one log line). */
uint64_t fx_wlink_tick(fx_wlink_t *self, int64_t now);

/* ------------------------------------------------ the worker's side */

typedef struct fx_wlink_conn_t fx_wlink_conn_t;

/* Takes the end named by `where` (the value after the flag of
   fx_wlink_child_t), checks it is a Unix stream socket made by our parent
   (SO_PEERCRED), and makes it close-on-exec so that no process the worker
   starts inherits it. in_container: the worker runs inside a container
   runtime (bwrap, podman) that the manager started, so its parent is the
   runtime and the manager may not even be visible (another pid namespace):
   only the socket's type is checked; holding the inherited end is what
   admits it (SPEC 2.4.2). NULL with a sentence in err. Caller owns the
   return value. */
fx_wlink_conn_t *fx_wlink_connect(const char *where, bool in_container, char *err, size_t errlen);

/* Closes the connection. Accepts NULL. */
void fx_wlink_conn_destroy(fx_wlink_conn_t **self_p);

/* Sends msg (destroyed) to the manager, waiting until the socket took it
   all. FX_OK, FX_E_IO (the manager is gone), or an encode error. */
int fx_wlink_conn_send(fx_wlink_conn_t *self, fx_msg_t **msg_p);

/* ERROR to the manager within the ERROR budget; true if it was sent. */
bool fx_wlink_conn_send_error(fx_wlink_conn_t *self, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Waits up to about ms (each read of a message in parts waits that long)
   for the next message from the manager: FX_OK with *msg_p
   (caller destroys); FX_E_TIMEOUT if none came (or a signal ended the
   wait); FX_E_IO if the manager closed the link; or a decode error with
   *seq_p and *detail_p set. */
int fx_wlink_conn_recv(fx_wlink_conn_t *self, int ms, fx_msg_t **msg_p, uint32_t *seq_p,
                       const char **detail_p);

/* As fx_wlink_tick, for the ERRORs to the manager. */
uint64_t fx_wlink_conn_tick(fx_wlink_conn_t *self, int64_t now);

#endif
