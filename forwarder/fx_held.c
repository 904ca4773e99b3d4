/*  fx_held.c: the FIFO of messages held until durable (fx_held.h): a ring
    of items that doubles when full. */
#include "fx_held.h"

#include <stdlib.h>
#include <string.h>

struct _fx_held_t {
    fx_held_item_t *ring;
    size_t cap;  /* a power of two, or 0 */
    size_t head; /* index of the oldest item */
    size_t size;
};

fx_held_t *fx_held_new(void)
{
    return calloc(1, sizeof(fx_held_t));
}

void fx_held_destroy(fx_held_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_held_t *self = *self_p;
    fx_held_item_t item;
    while (fx_held_pop(self, UINT64_MAX, &item)) {
        zframe_destroy(&item.routing);
        fx_msg_destroy(&item.msg);
    }
    free(self->ring);
    free(self);
    *self_p = NULL;
}

/* Doubles the ring, keeping the order. 0 or -1. */
static int s_grow(fx_held_t *self)
{
    size_t cap = self->cap ? self->cap * 2 : 64;
    fx_held_item_t *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < self->size; i++)
        ring[i] = self->ring[(self->head + i) & (self->cap - 1)];
    free(self->ring);
    self->ring = ring;
    self->cap = cap;
    self->head = 0;
    return 0;
}

int fx_held_add(fx_held_t *self, uint64_t ticket, zsock_t *sock, zframe_t *routing, fx_msg_t **msg_p)
{
    zframe_t *copy = routing ? zframe_dup(routing) : NULL;
    if ((routing && !copy) || (self->size == self->cap && s_grow(self) != 0)) {
        zframe_destroy(&copy);
        fx_msg_destroy(msg_p);
        return FX_E_NOMEM;
    }
    fx_held_item_t *item = &self->ring[(self->head + self->size) & (self->cap - 1)];
    item->ticket = ticket;
    item->sock = sock;
    item->routing = copy;
    item->msg = *msg_p;
    *msg_p = NULL;
    self->size++;
    return FX_OK;
}

bool fx_held_pop(fx_held_t *self, uint64_t upto, fx_held_item_t *item)
{
    if (self->size == 0 || self->ring[self->head].ticket > upto)
        return false;
    *item = self->ring[self->head];
    self->head = (self->head + 1) & (self->cap - 1);
    self->size--;
    return true;
}

uint32_t fx_held_release(fx_held_t *self, uint64_t upto, fx_held_fn *before, void *arg)
{
    uint32_t sent = 0;
    fx_held_item_t item;
    while (fx_held_pop(self, upto, &item)) {
        if (before)
            before(&item, arg);
        if (item.msg && fx_msg_send(&item.msg, item.sock, item.routing) == FX_OK)
            sent++;
        fx_msg_destroy(&item.msg);
        zframe_destroy(&item.routing);
    }
    return sent;
}

size_t fx_held_size(fx_held_t *self)
{
    return self->size;
}
