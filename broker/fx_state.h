/*  fx_state.h: the broker's state directory (--state DIR) as a whole:
    what lives in it, who owns it, and the broker's keypair in it.

        DIR/fx.db        the store (fx_store.h)
        DIR/broker.key   the broker's CurveZMQ keypair
        DIR/broker.lock  held by the one fx-broker serving DIR

    Two brokers on one directory would both serve it (a task submitted
    through one could run through the other and its result never reach
    the client), so a broker takes the lock before anything else and holds
    it for the life of its process: an fcntl write lock on broker.lock,
    which the kernel drops when the process ends, however it ends. The
    file also holds the holder's pid, for people; the pid in the refusal
    comes from the lock itself (F_GETLK). The `fx user create` admin command
    opens the store without the lock: sqlite serialises it with the broker. */
#ifndef FX_STATE_H
#define FX_STATE_H

#include <stddef.h>

#include "fx_creds.h"

#define FX_STATE_DB_FILE "fx.db"
#define FX_STATE_KEY_FILE "broker.key"
#define FX_STATE_LOCK_FILE "broker.lock"

/* mkdir -p state_dir (0700), then takes state_dir/broker.lock. The open
   descriptor, to keep (the lock lasts while it is open), or -1 with a
   sentence in err; for a directory another process holds, the sentence
   names its pid. */
int fx_state_lock(const char *state_dir, char *err, size_t errlen);

/* The broker's keypair (state_dir/broker.key, 0600), made with the
   directory if absent. 0, or -1 with a sentence in err. */
int fx_state_keypair(const char *state_dir, fx_keypair_t *kp, char *err, size_t errlen);

#endif
