/*  fx_ep_dispatch.c: the "most free window" strategy. */
#include "fx_ep_dispatch.h"

fx_ep_manager_t *fx_ep_dispatch_pick(fx_ep_managers_t *managers, const fx_ep_task_t *task)
{
    (void) task; /* containers and warm workers will matter here */
    fx_ep_manager_t *best = NULL;
    uint32_t best_free = 0;
    for (fx_ep_manager_t *m = fx_ep_managers_first(managers); m; m = fx_ep_managers_next(managers)) {
        uint32_t free_slots = fx_ep_manager_free(m);
        if (free_slots > best_free) {
            best = m;
            best_free = free_slots;
        }
    }
    return best;
}
