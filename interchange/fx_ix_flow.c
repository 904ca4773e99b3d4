/*  fx_ix_flow.c: the interchange's flow control in two numbers (SPEC 7):
    the window it announces to the broker, and what it holds against that
    window. The invariant is held <= the window announced last, as long as
    the broker honours it and no manager shrinks or is lost. The window is
    the managers' windows, or, while the provider can still bring blocks
    in, what max_blocks blocks would announce if that is more
    (fx_ix_scaling.h). */
#include "fx_ix_internal.h"

uint64_t fx_ix_held(const fx_ix_work_t *w)
{
    return fx_ix_tasks_held(w->tasks) - fx_ix_tasks_old(w->tasks) + fx_ix_results_unsent(w->results);
}

uint64_t fx_ix_queue_depth(const fx_ix_work_t *w)
{
    if (w->queue_depth != FX_IX_QUEUE_AUTO)
        return w->queue_depth > 0 ? (uint64_t) w->queue_depth : 0;
    bool named = w->containers_configured || fx_ix_containers_count(fx_ix_managers_containers(w->managers)) > 1;
    return named ? FX_IX_QUEUE_AUTO_DEPTH : 0;
}

uint32_t fx_ix_window(const fx_ix_work_t *w, bool draining, uint64_t potential)
{
    if (draining)
        return 0;
    uint64_t sum = fx_ix_managers_window(w->managers);
    if (potential > sum)
        sum = potential; /* blocks still to come: the broker sends what they will run */
    if (sum > 0)
        sum += fx_ix_queue_depth(w); /* no manager, no blocks to come: nothing to queue for */
    uint64_t old = fx_ix_tasks_old(w->tasks);
    sum = sum > old ? sum - old : 0;
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t) sum;
}
