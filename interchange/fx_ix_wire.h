/*  fx_ix_wire.h: a message whose payload frames are sent where they are.

    The interchange keeps every task it dispatched (for a requeue, SPEC 8.5)
    and every result until the broker acknowledged it (8.3), frames
    included; sending them must not copy them. fx_ix_wire_send encodes the
    header from the message (whose records carry NULL frames) and sends the
    held frames after it as shared references (zmq_msg_copy through
    ZFRAME_REUSE: a reference count, not a copy of the bytes), in the order
    of SPEC 3.1.2. The frames stay the caller's. */
#ifndef FX_IX_WIRE_H
#define FX_IX_WIRE_H

#include <stddef.h>

#include "fx_msg.h"

/* Send msg (not destroyed: its records may borrow text from the caller)
   on sock, after routing if not NULL, with frames[0..nframes) as its
   payload frames (a NULL frame goes as an empty one). nframes must be what
   msg needs (SPEC 3.1.3). FX_OK, an encode error, or FX_E_IO if the socket
   would not take it (nothing sent then). */
int fx_ix_wire_send(zsock_t *sock, zframe_t *routing, fx_msg_t *msg, zframe_t *const *frames, size_t nframes);

#endif
