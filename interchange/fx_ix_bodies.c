/*  fx_ix_bodies.c: the body cache (fx_ix_bodies.h): a hash by version id
    (keyed by the entry's own id) that owns the entries, and an intrusive
    LRU list of the entries no task pins, oldest first. */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_bodies.h"
#include "fx_ix_list.h"

struct fx_ix_body_t {
    fx_ix_node_t lru; /* in the LRU list while no task pins it */
    fx_oid_text_t version;
    zframe_t *body;
    size_t pins;
    fx_ix_bodies_t *cache;
};

struct fx_ix_bodies_t {
    zhashx_t *index;  /* version -> fx_ix_body_t *, owns */
    fx_ix_list_t lru; /* unpinned entries, least recently used first */
    size_t max_entries, max_bytes;
    uint64_t bytes;          /* of every body held */
    uint64_t unpinned_bytes; /* of those in the LRU list */
    size_t pinned;
    uint64_t evicted;
};

static void s_entry_free(void **item_p)
{
    fx_ix_body_t *e = *item_p;
    if (e) {
        zframe_destroy(&e->body);
        free(e);
        *item_p = NULL;
    }
}

fx_ix_bodies_t *fx_ix_bodies_new(size_t max_entries, size_t max_bytes)
{
    fx_ix_bodies_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->index = zhashx_new();
    if (!self->index) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_entry_free);
    zhashx_set_key_duplicator(self->index, NULL); /* the key is the entry's own version */
    zhashx_set_key_destructor(self->index, NULL);
    fx_ix_list_init(&self->lru);
    self->max_entries = max_entries;
    self->max_bytes = max_bytes;
    return self;
}

void fx_ix_bodies_destroy(fx_ix_bodies_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->index);
    free(*self_p);
    *self_p = NULL;
}

/* Drops unpinned entries, oldest first, while over the cap. */
static void s_evict(fx_ix_bodies_t *self)
{
    while (self->lru.size > self->max_entries || (self->lru.size && self->unpinned_bytes > self->max_bytes)) {
        fx_ix_body_t *e = FX_IX_RECORD(fx_ix_list_first(&self->lru), fx_ix_body_t, lru);
        fx_ix_list_remove(&self->lru, &e->lru);
        size_t n = zframe_size(e->body);
        self->unpinned_bytes -= n;
        self->bytes -= n;
        self->evicted++;
        fx_oid_text_t key; /* the key lives in the entry the delete frees */
        memcpy(key, e->version, sizeof key);
        zhashx_delete(self->index, key);
    }
}

fx_ix_body_t *fx_ix_bodies_find(fx_ix_bodies_t *self, const char *version)
{
    fx_ix_body_t *e = zhashx_lookup(self->index, version);
    if (e && e->pins == 0)
        fx_ix_list_move_back(&self->lru, &e->lru);
    return e;
}

fx_ix_body_t *fx_ix_bodies_put(fx_ix_bodies_t *self, const char *version, zframe_t **body_p)
{
    fx_ix_body_t *e = zhashx_lookup(self->index, version);
    if (e) {
        zframe_destroy(body_p);
        fx_ix_body_pin(e);
        return e;
    }
    e = calloc(1, sizeof *e);
    zframe_t *body = *body_p ? *body_p : zframe_new_empty();
    if (!e || !body) {
        free(e);
        if (body != *body_p)
            zframe_destroy(&body);
        return NULL;
    }
    fx_strlcpy(e->version, version, sizeof e->version);
    e->cache = self;
    if (zhashx_insert(self->index, e->version, e) != 0) {
        if (body != *body_p)
            zframe_destroy(&body);
        free(e);
        return NULL;
    }
    e->body = body;
    *body_p = NULL;
    self->bytes += zframe_size(body);
    e->pins = 1;
    self->pinned++;
    return e;
}

void fx_ix_body_pin(fx_ix_body_t *e)
{
    if (e->pins++ > 0)
        return;
    fx_ix_bodies_t *self = e->cache;
    fx_ix_list_remove(&self->lru, &e->lru);
    self->unpinned_bytes -= zframe_size(e->body);
    self->pinned++;
}

void fx_ix_body_unpin(fx_ix_body_t **entry_p)
{
    fx_ix_body_t *e = *entry_p;
    if (!e)
        return;
    *entry_p = NULL;
    if (--e->pins > 0)
        return;
    fx_ix_bodies_t *self = e->cache;
    self->pinned--;
    fx_ix_list_push_back(&self->lru, &e->lru);
    self->unpinned_bytes += zframe_size(e->body);
    s_evict(self);
}

zframe_t *fx_ix_body_frame(const fx_ix_body_t *e)
{
    return e->body;
}

size_t fx_ix_bodies_size(const fx_ix_bodies_t *self)
{
    return zhashx_size(self->index);
}
size_t fx_ix_bodies_pinned(const fx_ix_bodies_t *self)
{
    return self->pinned;
}
uint64_t fx_ix_bodies_bytes(const fx_ix_bodies_t *self)
{
    return self->bytes;
}
uint64_t fx_ix_bodies_evicted(const fx_ix_bodies_t *self)
{
    return self->evicted;
}
