/*  fx_ix_containers.c: container slots (fx_ix_containers.h): an array of
    records, grown by doubling (records are allocated one by one, so the
    lists inside them never move), and a hash from id to record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_containers.h"

/* Weight of a new sample in the moving averages. */
#define S_EWMA 0.125

struct fx_ix_containers_t {
    fx_ix_container_t **slots;
    uint32_t count, cap;
    zhashx_t *by_id; /* id -> fx_ix_container_t *, not owned (the array owns) */
    fx_ix_list_t ready, active;
    uint64_t status_gen;
    double start_ms; /* over every container */
    uint64_t starts;
};

static fx_ix_container_t *s_make(fx_ix_containers_t *self, const char *id)
{
    if (self->count >= FX_IX_SLOTS_MAX)
        return NULL;
    if (self->count == self->cap) {
        uint32_t cap = self->cap ? 2 * self->cap : 8;
        fx_ix_container_t **more = realloc(self->slots, cap * sizeof *more);
        if (!more)
            return NULL;
        self->slots = more;
        self->cap = cap;
    }
    fx_ix_container_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->slot = self->count;
    snprintf(c->id, sizeof c->id, "%s", id);
    fx_ix_list_init(&c->warm);
    fx_ix_list_init(&c->queue);
    if (zhashx_insert(self->by_id, c->id, c) != 0) {
        free(c);
        return NULL;
    }
    self->slots[self->count++] = c;
    return c;
}

fx_ix_containers_t *fx_ix_containers_new(void)
{
    fx_ix_containers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    fx_ix_list_init(&self->ready);
    fx_ix_list_init(&self->active);
    self->by_id = zhashx_new();
    if (!self->by_id || !s_make(self, "")) {
        fx_ix_containers_destroy(&self);
        return NULL;
    }
    return self;
}

void fx_ix_containers_destroy(fx_ix_containers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_containers_t *self = *self_p;
    for (uint32_t i = 0; i < self->count; i++)
        free(self->slots[i]);
    free(self->slots);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

uint32_t fx_ix_containers_slot(fx_ix_containers_t *self, const char *id, bool create)
{
    if (!id || !*id)
        return FX_IX_SLOT_HOST;
    fx_ix_container_t *c = zhashx_lookup(self->by_id, id);
    if (!c && create && strlen(id) <= FX_NAME_MAX)
        c = s_make(self, id);
    return c ? c->slot : FX_IX_SLOT_NONE;
}

fx_ix_container_t *fx_ix_containers_at(fx_ix_containers_t *self, uint32_t slot)
{
    return slot < self->count ? self->slots[slot] : NULL;
}

uint32_t fx_ix_containers_count(const fx_ix_containers_t *self)
{
    return self->count;
}

uint32_t fx_ix_containers_define(fx_ix_containers_t *self, const fx_container_def_t *def)
{
    uint32_t slot = fx_ix_containers_slot(self, def->container_id, true);
    fx_ix_container_t *c = fx_ix_containers_at(self, slot);
    if (!c || slot == FX_IX_SLOT_HOST)
        return FX_IX_SLOT_NONE; /* "" never needs a definition */
    bool same = c->gen > 0 && strcmp(c->def.name, def->name) == 0 &&
                strcmp(c->def.runtime, def->runtime) == 0 && strcmp(c->def.image, def->image) == 0;
    if (!same) {
        c->def = *def;
        c->gen++;
    }
    return slot;
}

void fx_ix_containers_changed(fx_ix_containers_t *self)
{
    self->status_gen++;
}

uint64_t fx_ix_containers_status_gen(const fx_ix_containers_t *self)
{
    return self->status_gen;
}

static void s_average(double *avg, uint64_t *n, double sample)
{
    *avg = *n ? *avg + S_EWMA * (sample - *avg) : sample;
    (*n)++;
}

void fx_ix_containers_measure(fx_ix_containers_t *self, uint32_t slot, double run_ms, double start_ms)
{
    fx_ix_container_t *c = fx_ix_containers_at(self, slot);
    if (!c)
        return;
    if (run_ms >= 0)
        s_average(&c->run_ms, &c->runs, run_ms);
    if (start_ms >= 0) {
        s_average(&c->start_ms, &c->starts, start_ms);
        s_average(&self->start_ms, &self->starts, start_ms);
    }
}

double fx_ix_containers_start_ms(const fx_ix_containers_t *self, uint32_t slot)
{
    const fx_ix_container_t *c = slot < self->count ? self->slots[slot] : NULL;
    if (c && c->starts)
        return c->start_ms;
    return self->starts ? self->start_ms : -1;
}

fx_ix_list_t *fx_ix_containers_ready(fx_ix_containers_t *self)
{
    return &self->ready;
}

fx_ix_list_t *fx_ix_containers_active(fx_ix_containers_t *self)
{
    return &self->active;
}

static void s_member(fx_ix_list_t *list, fx_ix_node_t *node, bool in)
{
    if (in == fx_ix_node_linked(node))
        return; /* keeps its turn */
    if (in)
        fx_ix_list_push_back(list, node);
    else
        fx_ix_list_remove(list, node);
}

void fx_ix_containers_check(fx_ix_containers_t *self, fx_ix_container_t *c)
{
    s_member(&self->active, &c->active, c->queue.size > 0);
    s_member(&self->ready, &c->ready, c->queue.size > 0 && c->warm.size > 0);
}
