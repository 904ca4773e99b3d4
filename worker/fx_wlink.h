/*  fx_wlink.h: the worker link (SPEC 1, 2.2.3, 6.4): how a manager and its
    own worker processes reach each other. The one place that knows the
    transport; the manager (its pool and worker code), fx-worker and the
    worker's tests see messages and peers, never sockets or addresses.

    Today the transport is ZeroMQ: the manager binds a ROUTER on the
    abstract-namespace socket ipc://@fx-mgr-<manager id> and each worker
    connects a DEALER. An abstract socket has no file permissions, so a
    connection is admitted by its routing id: for each process it starts,
    the manager makes a fresh id here (fx_wlink_child), the process is told
    its id and where to connect, and messages from any other id are refused
    here. Another transport (a socketpair per worker, say) is a change to
    fx_wlink.c alone, plus whatever the child needs before exec
    (fx_wlink_child_t says what it gets). */
#ifndef FX_WLINK_H
#define FX_WLINK_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_msg.h"

/* ------------------------------------------------ the manager's side */

typedef struct fx_wlink_t fx_wlink_t;

/* Listens for the workers of manager `manager_id`; what it reads from is
   added to poller. NULL with a sentence in err. Caller owns the return
   value. */
fx_wlink_t *fx_wlink_listen(const char *manager_id, zpoller_t *poller, char *err, size_t errlen);

/* Closes the link. Does not touch the poller. Accepts NULL. */
void fx_wlink_destroy(fx_wlink_t **self_p);

/* Where workers reach us, for logs. */
const char *fx_wlink_address(fx_wlink_t *self);

/* What a worker process about to start needs to reach the manager: its
   command line gets "--connect" and `connect`, its environment
   env_name=env_value. */
typedef struct {
    fx_id_text_t peer; /* names the process in fx_wlink_send and fx_wlink_recv */
    char connect[96];
    const char *env_name;
    char env_value[FX_ID_LEN + 1];
} fx_wlink_child_t;

/* A new peer, admitted from now on, for a process about to start. */
void fx_wlink_child(fx_wlink_t *self, fx_wlink_child_t *child);

/* peer's process is gone (or never started): it is admitted no more. */
void fx_wlink_child_gone(fx_wlink_t *self, const char *peer);

/* Sends msg (destroyed) to peer. FX_OK, or FX_E_IO if it cannot go (the
   peer is not connected), or an encode error. */
int fx_wlink_send(fx_wlink_t *self, const char *peer, fx_msg_t **msg_p);

/* Sends one frame of raw bytes to peer as a message (tests send garbage
   with it). FX_OK or FX_E_IO. */
int fx_wlink_send_bytes(fx_wlink_t *self, const char *peer, const void *data, size_t len);

/* ERROR(code, text) with seq to peer, if its ERROR budget (SPEC 10.3)
   allows; true if it was sent. */
bool fx_wlink_send_error(fx_wlink_t *self, const char *peer, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The next message from a worker, without waiting: FX_OK with *msg_p
   (caller destroys) and its peer; FX_E_TIMEOUT if none is waiting; or a
   decode error, with peer, *seq_p and *detail_p set and no message. A
   message from a connection that is no admitted peer is answered
   ERROR(FORBIDDEN) here and skipped. */
int fx_wlink_recv(fx_wlink_t *self, fx_id_text_t peer, fx_msg_t **msg_p, uint32_t *seq_p,
                  const char **detail_p);

/* ERRORs the budget held back since the last call (call about once a
   second, for one log line). */
uint64_t fx_wlink_tick(fx_wlink_t *self, int64_t now);

/* ------------------------------------------------ the worker's side */

typedef struct fx_wlink_conn_t fx_wlink_conn_t;

/* Connects to the manager at `connect` (the argument after --connect), as
   the peer its environment names (set by fx_wlink_child; without it, as
   an anonymous peer, which only a test's fake manager admits). NULL with
   a sentence in err. Caller owns the return value. */
fx_wlink_conn_t *fx_wlink_connect(const char *connect, char *err, size_t errlen);

/* Closes the connection. Accepts NULL. */
void fx_wlink_conn_destroy(fx_wlink_conn_t **self_p);

/* Sends msg (destroyed) to the manager. FX_OK, FX_E_IO, or an encode error. */
int fx_wlink_conn_send(fx_wlink_conn_t *self, fx_msg_t **msg_p);

/* ERROR to the manager within the ERROR budget; true if it was sent. */
bool fx_wlink_conn_send_error(fx_wlink_conn_t *self, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Waits up to ms for the next message from the manager: FX_OK with *msg_p
   (caller destroys); FX_E_TIMEOUT if none came (or a signal ended the
   wait); or a decode error with *seq_p and *detail_p set. */
int fx_wlink_conn_recv(fx_wlink_conn_t *self, int ms, fx_msg_t **msg_p, uint32_t *seq_p,
                       const char **detail_p);

/* As fx_wlink_tick, for the ERRORs to the manager. */
uint64_t fx_wlink_conn_tick(fx_wlink_conn_t *self, int64_t now);

#endif
