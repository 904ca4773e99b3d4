/*  fx_ix_strategy.h: which manager runs a task next.

    The strategy sits behind this one function so that a smarter one (warm
    containers first, data locality) can replace it without touching the
    loop. The loop calls it once per task, in FIFO order, and hands the task
    to the manager it names; a manager's free window already counts the
    tasks handed to it earlier in the same pass. */
#ifndef FX_IX_STRATEGY_H
#define FX_IX_STRATEGY_H

#include "fx_ix_managers.h"
#include "fx_ix_tasks.h"

/* The manager that should get task, or NULL if none has room (the task
   stays queued). Simple strategy: the manager with the most free window
   (window - in flight); ties go to the manager that connected first.
   Cost O(managers). */
fx_ix_manager_t *fx_ix_strategy_pick(fx_ix_managers_t *managers, const fx_ix_task_t *task);

#endif
