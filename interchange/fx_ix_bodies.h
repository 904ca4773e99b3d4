/*  fx_ix_bodies.h: the interchange's cache of function bodies, by version
    id (issue 8, SPEC 5.6 body rule, 5.27, 5.28).

    A version id names one body for good (a git blob id), so a body, once
    here, never goes stale: the broker sends it once per endpoint run, not
    with every task. A body comes in a TASKS record that carries one, or in
    FUNCTION_BODIES after a FUNCTION_FETCH (fx_ix_fetch.c).

    Every held task of a version pins its entry (the task is queued, at a
    manager, or may be requeued: its body must stay); an entry no task pins
    sits in an LRU list, and the least recently used of those go when the
    unpinned entries are more than max_entries or their bodies more than
    max_bytes. So the memory is what the tasks held need (bounded by the
    window, as before the cache, when each task held its own copy) plus at
    most the cap; an evicted body is fetched again when a task needs it.

    Cost: O(1) per find, put, pin and unpin (a hash and an intrusive list);
    an eviction is O(1) per entry evicted. */
#ifndef FX_IX_BODIES_H
#define FX_IX_BODIES_H

#include <stddef.h>
#include <stdint.h>

#include "fx_msg.h"

/* The cap of fx-endpoint's cache on the bodies no task pins: 4,096
   versions or 64 MiB, whichever comes first. A Python function's body is a
   few KiB (source, dill) and FX_BODY_MAX at most; a workflow uses tens of
   versions: the cap keeps every one of them across quiet spells, and
   bounds what a stream of new versions can make the endpoint keep. */
#define FX_IX_BODIES_MAX_ENTRIES 4096
#define FX_IX_BODIES_MAX_BYTES (64u << 20)

typedef struct fx_ix_bodies_t fx_ix_bodies_t;
typedef struct fx_ix_body_t fx_ix_body_t;

/* Caller owns the cache. NULL only on OOM. */
fx_ix_bodies_t *fx_ix_bodies_new(size_t max_entries, size_t max_bytes);
/* Frees every entry, pinned or not. Accepts NULL. */
void fx_ix_bodies_destroy(fx_ix_bodies_t **self_p);

/* The entry of version, or NULL. Counts as a use. */
fx_ix_body_t *fx_ix_bodies_find(fx_ix_bodies_t *self, const char *version);

/* Keeps *body_p (moved: *body_p is NULL after; a NULL body is kept as an
   empty one) as version's body, unless the version is here already (then
   *body_p is destroyed). Returns the entry, pinned once for the caller;
   NULL on OOM (*body_p left to the caller). */
fx_ix_body_t *fx_ix_bodies_put(fx_ix_bodies_t *self, const char *version, zframe_t **body_p);

/* A task holds the entry / no longer does (the last unpin puts it in the
   LRU list, and may evict others, or this one if the cap is 0). */
void fx_ix_body_pin(fx_ix_body_t *entry);
void fx_ix_body_unpin(fx_ix_body_t **entry_p);

/* The body (owned by the entry; sent shared, fx_ix_wire.h). */
zframe_t *fx_ix_body_frame(const fx_ix_body_t *entry);

/* Entries, pinned entries, bytes of every body held, evictions so far. */
size_t fx_ix_bodies_size(const fx_ix_bodies_t *self);
size_t fx_ix_bodies_pinned(const fx_ix_bodies_t *self);
uint64_t fx_ix_bodies_bytes(const fx_ix_bodies_t *self);
uint64_t fx_ix_bodies_evicted(const fx_ix_bodies_t *self);

#endif
