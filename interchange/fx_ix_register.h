/*  fx_ix_register.h: make the broker know this endpoint.

    Over the broker's CLIENT port, as the user whose credentials file was
    given: HELLO -> WELCOME, then REGISTER_ENDPOINT(endpoint_id, name, the
    endpoint's public key) -> ENDPOINT_REGISTERED. Done on every start, so a
    renamed endpoint or a broker that lost its store learn it again; the broker
    treats a registration it already holds for the same user as a no-op. The
    socket is closed afterwards: the endpoint's own link uses the ENDPOINT
    port and its own keypair. */
#ifndef FX_IX_REGISTER_H
#define FX_IX_REGISTER_H

#include <stddef.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_file.h"
#include "fx_ix_identity.h"

/* Blocks up to timeout_ms for each answer. Returns 0, or -1 with a sentence
   in err that says what the broker answered (or that it was silent) and what
   to do. */
int fx_ix_register(const fx_creds_t *creds, const fx_ix_identity_t *identity, int timeout_ms, char *err,
                   size_t errlen);

#endif
