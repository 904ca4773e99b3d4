/*  fx_link.h: which message may arrive on which link, and when (SPEC 5.26
    and the "NONE" rows of section 6), as one table and one check.

    Every receiver asks fx_link_admit() before it acts on a decoded message,
    so the rule "a message other than the hello from a peer with no session
    gets FX_E_NO_SESSION; a type this side never receives gets
    FX_E_UNEXPECTED; an ERROR is logged and never answered" is written once,
    in one order, for the broker's two ports, the interchange's manager port,
    the manager's two links and the worker. */
#ifndef FX_LINK_H
#define FX_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "fx_msg.h"

typedef enum {
    FX_LINK_CLIENT = 0, /* client -> broker's client port */
    FX_LINK_ENDPOINT,   /* interchange -> broker's endpoint port */
    FX_LINK_MANAGER,    /* manager -> interchange */
    FX_LINK_WORKER,     /* worker -> manager */
    FX_LINK_COUNT
} fx_link_t;

/* Who sent the message: the side that connects (and says the hello), or
   the side that serves (and answers it with WELCOME). */
typedef enum { FX_FROM_CONNECTING = 0, FX_FROM_SERVING = 1 } fx_link_from_t;

/* What the receiver does with a message. */
typedef enum {
    FX_ADMIT_OK = 0,        /* act on it */
    FX_ADMIT_HELLO,         /* the link's hello (or WELCOME, for the connecting side): act on it */
    FX_ADMIT_REPORT,        /* an ERROR: log it, never answer it */
    FX_ADMIT_NO_SESSION,    /* no session yet: answer ERROR FX_E_NO_SESSION */
    FX_ADMIT_UNEXPECTED,    /* never sent this way on this link: answer ERROR FX_E_UNEXPECTED */
} fx_admit_t;

/* The verdict for a message of `type` that `from` sent on `link`. For a
   serving receiver, in_session is "this routing id has said the hello";
   for a connecting receiver, "the WELCOME has come". */
fx_admit_t fx_link_admit(fx_link_t link, fx_link_from_t from, bool in_session, int type);

/* True if `from` may send `type` on `link` (SPEC 5.26). */
bool fx_link_sends(fx_link_t link, fx_link_from_t from, int type);

/* The hello the connecting side opens `link` with (HELLO, ENDPOINT_HELLO,
   MANAGER_HELLO, READY). */
fx_msg_type_t fx_link_hello(fx_link_t link);

/* "client port", "endpoint port", "manager link", "worker link". */
const char *fx_link_name(fx_link_t link);

/* The ERROR text for a refused verdict (FX_ADMIT_NO_SESSION or
   FX_ADMIT_UNEXPECTED), naming the type, the link and what to do, in buf.
   Returns buf. */
const char *fx_link_refusal(fx_link_t link, fx_link_from_t from, fx_admit_t verdict, int type, char *buf,
                            size_t cap);

/* The error code to answer a refused verdict with (FX_E_NO_SESSION or
   FX_E_UNEXPECTED); FX_OK for the others. */
int fx_link_refusal_code(fx_admit_t verdict);

#endif
