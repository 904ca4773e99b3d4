/*  fx_ix_scratch.c: the buffers the phases reuse from one message to the
    next (fx_ix_internal.h), so that a batch costs no allocation once the
    largest batch has been seen. */
#include <stdlib.h>

#include "fx_ix_internal.h"

/* Grows *array to at least want elements of size bytes. */
static int s_grow(void **array, size_t *cap, size_t want, size_t size)
{
    if (want <= *cap)
        return FX_OK;
    size_t n = *cap ? *cap : 16;
    while (n < want)
        n *= 2;
    void *more = realloc(*array, n * size);
    if (!more)
        return FX_E_NOMEM;
    *array = more;
    *cap = n;
    return FX_OK;
}

int fx_ix_scratch_reserve(fx_ix_scratch_t *self, size_t tasks, size_t results)
{
    size_t frames = 2 * (tasks > results ? tasks : results);
    if (s_grow((void **) &self->tasks, &self->tasks_cap, tasks, sizeof *self->tasks) != FX_OK ||
        s_grow((void **) &self->results, &self->results_cap, results, sizeof *self->results) != FX_OK ||
        s_grow((void **) &self->frames, &self->frames_cap, frames, sizeof *self->frames) != FX_OK)
        return FX_E_NOMEM;
    return FX_OK;
}

int fx_ix_scratch_touch(fx_ix_scratch_t *self, fx_ix_manager_t *m)
{
    if (s_grow((void **) &self->touched, &self->touched_cap, self->ntouched + 1, sizeof *self->touched) !=
        FX_OK)
        return FX_E_NOMEM;
    self->touched[self->ntouched++] = m;
    return FX_OK;
}

void fx_ix_scratch_free(fx_ix_scratch_t *self)
{
    free(self->tasks);
    free(self->results);
    free(self->frames);
    free(self->touched);
    *self = (fx_ix_scratch_t){0};
}
