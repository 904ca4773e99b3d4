/*  fx_ix_route.c: the view every routing strategy picks from, and the
    call into the strategy (fx_ix_route.h). Intrusive lists (fx_ix_list.h)
    and one array: every membership change is a few pointer writes. */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_managers.h"

/* Managers a fallback pick looks at, at most, past those that gave up
   starting the task's container. */
#define S_TRIES 4

struct fx_ix_route_t {
    const fx_ix_route_ops_t *ops;
    fx_ix_containers_t *containers; /* not owned */
    fx_ix_list_t room;              /* fx_ix_route_hook_t by .room */
    fx_ix_list_t cold;              /* by .cold */
    fx_ix_manager_t **array;        /* the room list's managers, any order (random) */
    size_t count, cap;
    uint64_t rng; /* xorshift64 state */
};

static const fx_ix_route_ops_t *const s_strategies[] = {&fx_ix_route_warming, &fx_ix_route_random,
                                                        &fx_ix_route_warmwait};

const fx_ix_route_ops_t *fx_ix_route_named(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_strategies / sizeof s_strategies[0]; i++)
        if (strcmp(name, s_strategies[i]->name) == 0)
            return s_strategies[i];
    return NULL;
}

fx_ix_route_t *fx_ix_route_new(const fx_ix_route_ops_t *ops, fx_ix_containers_t *containers)
{
    fx_ix_route_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ops = ops ? ops : &fx_ix_route_warming;
    self->containers = containers;
    fx_ix_list_init(&self->room);
    fx_ix_list_init(&self->cold);
    self->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t) (uintptr_t) self;
    return self;
}

void fx_ix_route_destroy(fx_ix_route_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->array);
    free(*self_p);
    *self_p = NULL;
}

const char *fx_ix_route_name(const fx_ix_route_t *self)
{
    return self->ops->name;
}

const fx_ix_route_ops_t *fx_ix_route_ops(const fx_ix_route_t *self)
{
    return self->ops;
}

bool fx_ix_route_by_container(const fx_ix_route_t *self)
{
    return self->ops->by_container;
}

fx_ix_containers_t *fx_ix_route_containers(fx_ix_route_t *self)
{
    return self->containers;
}

/* ------------------------------------------------------------ the view */

static void s_room_in(fx_ix_route_t *self, fx_ix_route_hook_t *hook, bool in)
{
    if (in == fx_ix_node_linked(&hook->room))
        return;
    if (in) {
        if (self->count == self->cap) {
            size_t cap = self->cap ? 2 * self->cap : 16;
            fx_ix_manager_t **more = realloc(self->array, cap * sizeof *more);
            if (!more)
                return; /* out of memory: it waits for the next update */
            self->array = more;
            self->cap = cap;
        }
        hook->index = self->count;
        self->array[self->count++] = hook->manager;
        fx_ix_list_push_back(&self->room, &hook->room);
        return;
    }
    fx_ix_list_remove(&self->room, &hook->room);
    fx_ix_manager_t *last = self->array[--self->count];
    self->array[hook->index] = last;
    fx_ix_manager_route_hook(last)->index = hook->index;
}

static void s_cold_in(fx_ix_route_t *self, fx_ix_route_hook_t *hook, bool in)
{
    if (in == fx_ix_node_linked(&hook->cold))
        return;
    if (in)
        fx_ix_list_push_back(&self->cold, &hook->cold);
    else
        fx_ix_list_remove(&self->cold, &hook->cold);
}

static void s_warm_in(fx_ix_route_t *self, fx_ix_mc_t *mc, bool room)
{
    fx_ix_container_t *c = fx_ix_containers_at(self->containers, mc->slot);
    if (!c)
        return;
    bool in = room && fx_ix_mc_idle(mc) > 0;
    if (in == fx_ix_node_linked(&mc->warm))
        return; /* keeps its turn */
    if (in)
        fx_ix_list_push_back(&c->warm, &mc->warm);
    else
        fx_ix_list_remove(&c->warm, &mc->warm);
    if (c->warm.size <= 1)
        fx_ix_containers_check(self->containers, c); /* the warm list became, or stopped being, empty */
}

void fx_ix_route_update(fx_ix_route_t *self, fx_ix_manager_t *m, fx_ix_mc_t *mc)
{
    fx_ix_route_hook_t *hook = fx_ix_manager_route_hook(m);
    bool room = fx_ix_manager_free(m) > 0;
    s_room_in(self, hook, room);
    s_cold_in(self, hook, room && fx_ix_manager_cold_free(m) > 0);
    if (mc) {
        s_warm_in(self, mc, room);
        return;
    }
    for (size_t i = 0, n = fx_ix_manager_mc_count(m); i < n; i++)
        s_warm_in(self, fx_ix_manager_mc_at(m, i), room);
}

void fx_ix_route_forget(fx_ix_route_t *self, fx_ix_mc_t *mc)
{
    s_warm_in(self, mc, false);
}

void fx_ix_route_remove(fx_ix_route_t *self, fx_ix_manager_t *m)
{
    fx_ix_route_hook_t *hook = fx_ix_manager_route_hook(m);
    s_room_in(self, hook, false);
    s_cold_in(self, hook, false);
    for (size_t i = 0, n = fx_ix_manager_mc_count(m); i < n; i++)
        s_warm_in(self, fx_ix_manager_mc_at(m, i), false);
}

/* ------------------------------------------------------------ the picks */

fx_ix_pick_t fx_ix_route_choose(fx_ix_route_t *self, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                                uint32_t *room)
{
    *manager_p = NULL;
    *room = 0;
    fx_ix_pick_t pick = self->ops->pick(self, task, manager_p, room);
    if (pick == FX_IX_PICK_SEND && (!*manager_p || *room == 0))
        return FX_IX_PICK_NONE;
    return pick;
}

fx_ix_manager_t *fx_ix_route_pick(fx_ix_route_t *self, const fx_ix_task_t *task, uint32_t *room)
{
    fx_ix_manager_t *m = NULL;
    return fx_ix_route_choose(self, task, &m, room) == FX_IX_PICK_SEND ? m : NULL;
}

static uint32_t s_min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

fx_ix_manager_t *fx_ix_route_warm(fx_ix_route_t *self, uint32_t slot, uint32_t *room)
{
    fx_ix_container_t *c = fx_ix_containers_at(self->containers, slot);
    fx_ix_node_t *node = c ? fx_ix_list_first(&c->warm) : NULL;
    if (!node)
        return NULL;
    fx_ix_mc_t *mc = FX_IX_RECORD(node, fx_ix_mc_t, warm);
    fx_ix_list_move_back(&c->warm, node); /* round robin: the next pick starts with the next one */
    *room = s_min(fx_ix_mc_idle(mc), fx_ix_manager_free(mc->manager));
    return mc->manager;
}

/* The front of list (by the hook's member at offset), moved to the back. */
static fx_ix_manager_t *s_next(fx_ix_list_t *list, size_t offset)
{
    fx_ix_node_t *node = fx_ix_list_first(list);
    if (!node)
        return NULL;
    fx_ix_list_move_back(list, node);
    return ((fx_ix_route_hook_t *) (void *) ((char *) node - offset))->manager;
}

/* Whether m gave up starting slot's container (SPEC 12.7.4). */
static bool s_gave_up(fx_ix_manager_t *m, uint32_t slot)
{
    const fx_ix_mc_t *mc = slot == FX_IX_SLOT_HOST ? NULL : fx_ix_manager_mc(m, slot);
    return mc && mc->failures >= FX_LAUNCH_FAILURES_MAX;
}

/* The next manager of list for slot: one that did not give up on it if
   one of the next few has not (a bounded look, O(1)), else the first. */
static fx_ix_manager_t *s_next_for(fx_ix_list_t *list, size_t offset, uint32_t slot)
{
    fx_ix_manager_t *first = s_next(list, offset);
    fx_ix_manager_t *m = first;
    for (int tries = 1; m && s_gave_up(m, slot) && tries < S_TRIES && (size_t) tries < list->size; tries++)
        m = s_next(list, offset);
    return m && !s_gave_up(m, slot) ? m : first;
}

fx_ix_manager_t *fx_ix_route_fallback(fx_ix_route_t *self, uint32_t slot, uint32_t *room)
{
    fx_ix_manager_t *m = s_next_for(&self->cold, offsetof(fx_ix_route_hook_t, cold), slot);
    if (m) {
        *room = s_min(fx_ix_manager_cold_free(m), fx_ix_manager_free(m));
        return m;
    }
    m = s_next_for(&self->room, offsetof(fx_ix_route_hook_t, room), slot);
    if (m)
        *room = fx_ix_manager_free(m);
    return m;
}

fx_ix_manager_t *fx_ix_route_random_pick(fx_ix_route_t *self, uint32_t *room)
{
    if (!self->count)
        return NULL;
    uint64_t x = self->rng; /* xorshift64: uniform enough to spread tasks, and cheap */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    *room = 1;
    return self->array[x % self->count];
}

bool fx_ix_route_can_cold(const fx_ix_route_t *self)
{
    return self->cold.size > 0;
}

bool fx_ix_route_has_room(const fx_ix_route_t *self)
{
    return self->count > 0;
}
