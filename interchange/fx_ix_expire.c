/*  fx_ix_expire.c: phase 4 of the loop, managers lost. A manager silent
    for --heartbeat-missed periods loses its session (SPEC 6.3, 9.3); its
    tasks go back to the front of the FIFO with attempt + 1 and nothing
    counted against them (only worker deaths count, at the manager). The
    next dispatch gives them to the managers left. */
#include "fx_ix_internal.h"

void fx_ix_expire(fx_ix_work_t *w, int64_t now, int64_t silence_ms)
{
    int lost = fx_ix_managers_expire(w->managers, now, silence_ms, &w->orphans);
    w->stats.managers_lost += (uint64_t) lost;
    w->stats.tasks_requeued += fx_ix_tasks_requeue_all(w->tasks, &w->orphans);
}
