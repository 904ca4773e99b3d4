/*  fx_ix_wire.c: messages with shared payload frames (fx_ix_wire.h). */
#include "fx_ix_wire.h"

/* One frame, shared; a NULL one as an empty frame. */
static int s_send_shared(void *handle, zframe_t *frame, int more)
{
    if (!frame)
        return zmq_send(handle, "", 0, more ? ZMQ_SNDMORE : 0) == -1 ? -1 : 0;
    return zframe_send(&frame, handle, ZFRAME_REUSE | (more ? ZFRAME_MORE : 0));
}

int fx_ix_wire_send(zsock_t *sock, zframe_t *routing, fx_msg_t *msg, zframe_t *const *frames, size_t nframes)
{
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc); /* NULL frames in msg: empty placeholders */
    if (!zmsg)
        return rc;
    zframe_t *header = zmsg_pop(zmsg);
    size_t placeholders = zmsg_size(zmsg);
    zmsg_destroy(&zmsg);
    if (placeholders != nframes) {
        zframe_destroy(&header);
        return FX_E_BAD_FIELD; /* a programming error: the records need other frames */
    }
    void *handle = zsock_resolve(sock);
    /* a message is taken whole or not at all: only its first frame can be
       refused (a socket that does not block says EAGAIN; a ROUTER drops
       what it cannot route) */
    if (routing && s_send_shared(handle, routing, 1) != 0) {
        zframe_destroy(&header);
        return FX_E_IO;
    }
    if (zframe_send(&header, handle, nframes ? ZFRAME_MORE : 0) != 0) {
        zframe_destroy(&header);
        return FX_E_IO;
    }
    for (size_t i = 0; i < nframes; i++)
        if (s_send_shared(handle, frames[i], i + 1 < nframes) != 0)
            return FX_E_IO; /* cannot happen once the first frame went */
    return FX_OK;
}
