/*  fx_bodies.c: function bodies by version for the endpoint link
    (fx_bodies.h): read from the registry, kept in a bounded cache so that
    a batch of one function reads its body once, not once per task. */
#include "fx_bodies.h"

#include <stdlib.h>

#include "fx_log.h"

struct _fx_bodies_t {
    fx_registry_t *registry; /* not owned */
    zhashx_t *cache;         /* version -> zframe_t */
    size_t bytes;            /* in the cache */
    uint64_t reads;          /* registry reads (misses) */
};

static void s_frame_free(void **item)
{
    zframe_destroy((zframe_t **) item);
}

fx_bodies_t *fx_bodies_new(fx_registry_t *registry)
{
    fx_bodies_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->registry = registry;
    self->cache = zhashx_new();
    if (!self->cache) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->cache, s_frame_free);
    return self;
}

void fx_bodies_destroy(fx_bodies_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->cache);
    free(*self_p);
    *self_p = NULL;
}

zframe_t *fx_bodies_frame(fx_bodies_t *self, const char *version)
{
    zframe_t *cached = zhashx_lookup(self->cache, version);
    if (cached)
        return zframe_dup(cached);
    void *body = NULL;
    size_t len = 0;
    char err[256];
    int rc = fx_registry_get(self->registry, version, &body, &len, err, sizeof err);
    if (rc != 0) {
        fx_error("cannot read function version %s from the registry: %s", version,
                 rc == 1 ? "no such blob" : err);
        return NULL;
    }
    self->reads++;
    zframe_t *frame = zframe_new(body, len);
    free(body);
    if (!frame)
        return NULL;
    if (self->bytes + len > FX_BODIES_CACHE_BYTES) { /* simple and bounded: start over */
        zhashx_purge(self->cache);
        self->bytes = 0;
    }
    zframe_t *keep = len <= FX_BODIES_CACHE_BYTES ? zframe_dup(frame) : NULL;
    if (keep && zhashx_insert(self->cache, version, keep) == 0)
        self->bytes += len;
    else
        zframe_destroy(&keep);
    return frame;
}

uint64_t fx_bodies_reads(const fx_bodies_t *self)
{
    return self->reads;
}
