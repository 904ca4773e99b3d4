/*  fx_ix_identity.h: who this endpoint is, kept in its state directory.

        DIR/endpoint.conf   endpoint_id, name, manager_bind (the managers'
                            address bound by the first start, bound again by
                            later ones so that surviving managers find it)
        DIR/endpoint.key    the endpoint's CurveZMQ keypair (0600); the broker
                            admits this public key on its endpoint port, and
                            the managers' ROUTER serves with it
        DIR/manager.key     the keypair this endpoint's managers present (0600);
                            the managers' ROUTER admits only its public key

    The first start mints all three; later starts read them back, so the
    endpoint keeps its id (and its tasks at the broker) across restarts. */
#ifndef FX_IX_IDENTITY_H
#define FX_IX_IDENTITY_H

#include <limits.h>
#include <stdbool.h>

#include "fx_creds.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fx_msg.h"

typedef struct {
    char dir[PATH_MAX];
    char manager_key_path[PATH_MAX];
    fx_id_text_t endpoint_id;
    char name[FX_NAME_MAX + 1];
    char manager_bind[FX_ADDR_MAX]; /* "" until a first start bound one */
    fx_keypair_t endpoint_kp;
    fx_keypair_t manager_kp;
    bool created; /* true if this start minted the id */
} fx_ix_identity_t;

/* Load the identity from dir, creating dir and its missing parents (0700)
   and any missing file. If endpoint.conf names another name than `name`,
   the new name is stored (the broker learns it at registration). Returns
   0, or -1 with a sentence in err that names the file and what to do. */
int fx_ix_identity_load(fx_ix_identity_t *self, const char *dir, const char *name, char *err, size_t errlen);

/* Take DIR/endpoint.lock (flock, not inherited by children, released by
   the kernel when this process ends, kill -9 included) so that a second
   fx-endpoint on the same --dir refuses to start instead of taking over
   the first one's managers. Returns 0, or -1 with a sentence in err. */
int fx_ix_identity_lock(const fx_ix_identity_t *self, char *err, size_t errlen);

/* Store addr as manager_bind in DIR/endpoint.conf (atomically) if it is
   not the one stored already. Returns 0, or -1 with a sentence in err. */
int fx_ix_identity_save_bind(fx_ix_identity_t *self, const char *addr, char *err, size_t errlen);

#endif
