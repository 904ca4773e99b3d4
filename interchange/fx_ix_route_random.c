/*  fx_ix_route_random.c: the `random` routing strategy (fx_ix_route.h):
    each task to a manager drawn uniformly among those with window room,
    whatever its container (funcX's baseline for warming-aware routing).
    One task per pick, so a batch spreads as single draws do. */
#include "fx_ix_route.h"

static fx_ix_pick_t s_pick(fx_ix_route_t *route, const fx_ix_task_t *task, fx_ix_manager_t **manager_p,
                           uint32_t *room)
{
    (void) task; /* blind to containers, on purpose */
    *manager_p = fx_ix_route_random_pick(route, room);
    return *manager_p ? FX_IX_PICK_SEND : FX_IX_PICK_NONE;
}

const fx_ix_route_ops_t fx_ix_route_random = {.name = "random", .by_container = false, .pick = s_pick};
