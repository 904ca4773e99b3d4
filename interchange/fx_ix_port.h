/*  fx_ix_port.h: the managers' port of the interchange: its ROUTER, the
    ZAP handler that admits only this endpoint's manager key to it, and
    every way a message goes out on it.

    Phase 1 of the loop (ZAP requests) is fx_ix_port_zap. The other phases
    send through fx_ix_port_send, and refuse a manager's message through
    fx_ix_port_refuse, which answers ERROR within the rate of
    proto/fx_errlimit.h per connection (SPEC 10.3) and counts the rest. */
#ifndef FX_IX_PORT_H
#define FX_IX_PORT_H

#include "fx_ix_identity.h"
#include "fx_ix_managers.h"
#include "fx_ix_stats.h"
#include "fx_msg.h"

/* The User-Id the ZAP handler gives an admitted manager. */
#define FX_IX_MANAGER_USER_ID "manager"

typedef struct fx_ix_port_t fx_ix_port_t;

/* Bind the ZAP handler and the ROUTER at want; if want cannot be bound
   and fallback is not NULL (want is the address kept in endpoint.conf),
   fallback instead, a free port (the managers of the earlier run cannot
   come back then). Prints the "fx-endpoint: managers=<bound>" line on
   stdout and keeps the bound address in endpoint.conf. stats (not owned)
   counts refused messages. Caller owns the port; NULL with a sentence in
   err. */
fx_ix_port_t *fx_ix_port_new(fx_ix_identity_t *identity, const char *want, const char *fallback,
                             fx_ix_stats_t *stats, char *err, size_t errlen);
void fx_ix_port_destroy(fx_ix_port_t **self_p);

/* The two sockets, for the loop's poller. */
zsock_t *fx_ix_port_router(fx_ix_port_t *self);
zsock_t *fx_ix_port_zap_socket(fx_ix_port_t *self);

/* The address managers dial: the bound one, with a wildcard host
   (0.0.0.0, *) replaced by loopback. */
const char *fx_ix_port_dial_address(fx_ix_port_t *self);

/* Phase 1: answer the ZAP requests waiting (at most FX_IX_READS_PER_PASS). */
void fx_ix_port_zap(fx_ix_port_t *self);

/* One message from a manager, without waiting; NULL if none. */
zmsg_t *fx_ix_port_recv(fx_ix_port_t *self);

/* Send msg (destroyed) to routing with seq: a reply echoes its request's;
   TASKS, COMMAND, CANCEL, RESULTS_ACK and HEARTBEAT are not requests and
   carry 0 (SPEC 3.6). FX_OK or an error of fx_msg_send. */
int fx_ix_port_send(fx_ix_port_t *self, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq);

/* Refuse a manager's message: count it; if this connection's ERROR budget
   allows (fx_errlimit.h: a broken or hostile peer holding the manager key
   cannot make the interchange spend its loop on error replies and log
   lines), log it and answer ERROR(code) with the message's seq. */
void fx_ix_port_refuse(fx_ix_port_t *self, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Once in a while (every heartbeat): forget connections whose ERROR budget
   is full again, and log how many ERRORs were not sent since the last
   tick. Does nothing when self is NULL. */
void fx_ix_port_tick(fx_ix_port_t *self, int64_t now);

/* HEARTBEAT, or COMMAND(command), to every manager with a session. Does
   nothing when self is NULL (the port is bound only after the broker's
   first WELCOME). */
void fx_ix_port_beat(fx_ix_port_t *self, fx_ix_managers_t *managers);
void fx_ix_port_command(fx_ix_port_t *self, fx_ix_managers_t *managers, int command);

#endif
