/*  fx_bodies.h: function bodies by version (a version is the id of its
    body's blob in the registry), as the broker sends them to endpoints:
    in TASKS to an endpoint that does not fetch bodies, in FUNCTION_BODIES
    to one that does (SPEC 5.27, 5.28). Reads go to the registry; a cache
    of at most FX_BODIES_CACHE_BYTES keeps the bodies of the versions in
    use. */
#ifndef FX_BODIES_H
#define FX_BODIES_H

#include <czmq.h>
#include <stdint.h>

#include "fx_registry.h"

#define FX_BODIES_CACHE_BYTES (64u << 20)

typedef struct _fx_bodies_t fx_bodies_t;

/* Over registry (not owned). NULL on OOM. */
fx_bodies_t *fx_bodies_new(fx_registry_t *registry);
void fx_bodies_destroy(fx_bodies_t **self_p);

/* A new frame with the body of version, or NULL (no such blob: logged;
   or out of memory). */
zframe_t *fx_bodies_frame(fx_bodies_t *self, const char *version);

/* Registry reads so far (cache misses), for tests and logs. */
uint64_t fx_bodies_reads(const fx_bodies_t *self);

#endif
