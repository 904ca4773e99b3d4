/*  fx_ix_strategy.c: the "most free window" strategy. */
#include "fx_ix_strategy.h"

fx_ix_manager_t *fx_ix_strategy_pick(fx_ix_managers_t *managers, const fx_ix_task_t *task)
{
    (void) task; /* containers and warm workers will matter here */
    fx_ix_manager_t *best = NULL;
    uint32_t best_free = 0;
    for (fx_ix_manager_t *m = fx_ix_managers_first(managers); m; m = fx_ix_managers_next(managers)) {
        uint32_t free_slots = fx_ix_manager_free(m);
        if (free_slots > best_free) {
            best = m;
            best_free = free_slots;
        }
    }
    return best;
}
