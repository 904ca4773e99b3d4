/*  fx_held.h: messages held until what they promise is on disk.

    The broker commits with sqlite's synchronous=NORMAL (no fsync in
    COMMIT) and makes commits durable in groups, off its loop (the syncer,
    broker/fx_syncer.h). Every commit has a ticket, a number that grows by
    one per commit; "durable up to N" covers every commit with ticket <= N.
    A reply that promises durability (SUBMITTED, RESULTS_ACK, a push: SPEC
    8.1, 8.3, 8.6) is not sent when it is made: it is held here with the
    ticket of the newest commit at that moment, and sent when that ticket
    is reported durable. Ticket 0 is durable from the start.

    A FIFO: messages leave in the order they were held. Callers hold with
    tickets that do not decrease (the store's commit count does not);
    one held with a smaller ticket than the one before it waits for the
    one before it. Holding costs no syscall and no allocation once the
    ring has grown to the working set. */
#ifndef FX_HELD_H
#define FX_HELD_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_msg.h"

typedef struct _fx_held_t fx_held_t;

/* One held message: sent on sock to routing (NULL on a socket without
   routing) once ticket is durable. */
typedef struct {
    uint64_t ticket;
    zsock_t *sock;
    zframe_t *routing;
    fx_msg_t *msg;
} fx_held_item_t;

/* An empty FIFO. NULL on OOM. */
fx_held_t *fx_held_new(void);
/* Frees every held message (they are never sent). Accepts NULL. */
void fx_held_destroy(fx_held_t **self_p);

/* Holds *msg_p (taken, *msg_p set NULL) for routing (copied; may be NULL)
   on sock until ticket is durable. FX_OK, or FX_E_NOMEM (the message is
   destroyed: the caller's peer resends, as after any lost reply). */
int fx_held_add(fx_held_t *self, uint64_t ticket, zsock_t *sock, zframe_t *routing, fx_msg_t **msg_p);

/* Takes the oldest held message if its ticket is <= upto: true and *item
   filled (the caller owns item->routing and item->msg after), or false. */
bool fx_held_pop(fx_held_t *self, uint64_t upto, fx_held_item_t *item);

/* Sends every held message whose ticket is <= upto, in order; each is
   handed to `before` first (may be NULL), which may change it (stamps).
   Returns how many were sent. */
typedef void(fx_held_fn)(fx_held_item_t *item, void *arg);
uint32_t fx_held_release(fx_held_t *self, uint64_t upto, fx_held_fn *before, void *arg);

/* Messages held now. */
size_t fx_held_size(fx_held_t *self);

#endif
