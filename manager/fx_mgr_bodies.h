/*  fx_mgr_bodies.h: function bodies by version on the manager (SPEC
    12.1.4).

    The interchange sends a version's body in the first TASKS of a session
    that carries the version and an empty body after; the manager keeps
    the bodies here (fx_bodies_t) and sends each worker a version's body
    only the first time that worker gets the version (fx_seen_t, one per
    worker: the same keys, in the same order, as the worker's own cache,
    fx_runner.py's _by_version, so both forget a version at the same task).
    A body frame on the wire is never copied for this: the store holds the
    one frame, and the worker link sends from it. */
#ifndef FX_MGR_BODIES_H
#define FX_MGR_BODIES_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_msg.h"

/* Versions the manager keeps bodies for, and their bytes in all: past
   either, the one used longest ago goes (its next task without a body then
   ends with FX_E_NOT_FOUND, which the interchange's next session mends by
   sending bodies again). A warm node runs a handful of functions; 1,024
   versions or 256 MiB is far beyond that and bounds what a confused
   interchange can make us hold. */
#define FX_MGR_BODIES_MAX 1024
#define FX_MGR_BODIES_BYTES_MAX (256u << 20)

typedef struct fx_bodies_t fx_bodies_t;

/* An empty store. Caller owns the return value. */
fx_bodies_t *fx_bodies_new(void);
void fx_bodies_destroy(fx_bodies_t **self_p);

/* Keeps *body_p (taken; *body_p set to NULL) as the body of version,
   replacing any kept one. FX_OK or FX_E_NOMEM (*body_p then untouched). */
int fx_bodies_put(fx_bodies_t *self, const char *version, zframe_t **body_p);

/* The body kept for version (the store keeps it), or NULL; marks it used. */
zframe_t *fx_bodies_get(fx_bodies_t *self, const char *version);

/* Versions kept. */
size_t fx_bodies_count(fx_bodies_t *self);

/* The versions one worker process has been sent a body for. */
typedef struct fx_seen_t fx_seen_t;

fx_seen_t *fx_seen_new(void);
void fx_seen_destroy(fx_seen_t **self_p);

/* Forgets everything if the worker is another process than the one it
   was about (pid, and when it started: a pid can be used again): a new
   worker has an empty cache. */
void fx_seen_for(fx_seen_t *self, int pid, int64_t started_ms);

bool fx_seen_has(fx_seen_t *self, const char *version);

/* Notes that the worker was sent version's body; past FX_WLINK_BODIES_MAX
   the oldest is forgotten, as the worker forgets it. */
void fx_seen_add(fx_seen_t *self, const char *version);

#endif
