/*  fx_wstream.h: one end of a worker-link connection (fx_wlink.h): a Unix
    stream socket, the framing of messages on it (fx_wlink.h says how), and
    two buffers: what was read and is not yet a whole message, and what was
    to be sent and the socket did not take at once. Used by both sides of
    the link in fx_wlink.c; no other code sees it.

    The struct is open so that a connection can hold it by value; its
    fields are the stream's own: others read `fd` and `closed` only. */
#ifndef FX_WSTREAM_H
#define FX_WSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "fx_msg.h"

typedef struct {
    int fd;
    bool closed; /* EOF, an error, or a stream that cannot be framed */
    /* input: bytes [in_start, in_end) of in are read and not yet framed */
    uint8_t *in;
    size_t in_start, in_end;
    zmsg_t *msg;     /* a message being filled: its frames made, not all filled */
    zframe_t *frame; /* the frame of msg being filled; NULL when msg is whole */
    size_t filled;   /* bytes of frame filled so far */
    /* output the socket has not taken yet */
    uint8_t *out;
    size_t out_start, out_end, out_cap;
} fx_wstream_t;

/* A stream on fd (which it closes in fx_wstream_fini). 0, or -1 (out of
   memory; fd is not closed). */
int fx_wstream_init(fx_wstream_t *c, int fd);
void fx_wstream_fini(fx_wstream_t *c);

/* One read() into the stream's buffers (straight into the frame being
   filled when much of it is missing): the bytes read, 0 at end of file,
   or -1 with errno (EAGAIN on a non-blocking socket with nothing to read). */
ssize_t fx_wstream_read(fx_wstream_t *c);

/* The next whole message from what was read: FX_OK with *out (caller
   destroys), FX_OK with *out NULL while bytes are missing, or an error
   (the count or a length is out of bounds: the stream cannot be framed
   any more; *detail_p says why). Makes no system call. */
int fx_wstream_frame(fx_wstream_t *c, zmsg_t **out, const char **detail_p);

/* Sends n frames (data and length each; not taken) as one message:
   written at once as far as the socket takes it, the rest copied to the
   output buffer. FX_OK, FX_E_IO (the connection is broken), FX_E_NOMEM,
   or FX_E_TOO_LARGE for more frames than the framing allows. */
int fx_wstream_send_parts(fx_wstream_t *c, const struct iovec *parts, size_t n);

/* The same for the frames of zmsg (not taken), and for msg (encoded with
   proto/, destroyed). */
int fx_wstream_send_zmsg(fx_wstream_t *c, zmsg_t *zmsg);
int fx_wstream_send(fx_wstream_t *c, fx_msg_t **msg_p);

/* Output waiting in the buffer? */
bool fx_wstream_pending(const fx_wstream_t *c);

/* Writes what waits, as far as the socket takes it now: FX_OK (some may
   remain) or FX_E_IO. */
int fx_wstream_flush(fx_wstream_t *c);

/* Writes what waits, waiting for the socket as long as it takes: FX_OK or
   FX_E_IO. */
int fx_wstream_drain(fx_wstream_t *c);

#endif
