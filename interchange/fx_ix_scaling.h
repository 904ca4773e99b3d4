/*  fx_ix_scaling.h: the scaling strategy, phase 5 of the interchange's
    loop: how many blocks (fx_ix_provider.h) this endpoint should have, and
    the provider told so. (fx_ix_strategy.h is the other strategy: which
    manager gets a task.)

    At most every S_PERIOD_MS it polls the provider, ties each connected
    manager to its block by id, and then, with

        outstanding = tasks held here (queued + at managers)
        slots       = workers of a block (nodes_per_block x workers per node)
        active      = blocks submitting, pending or running, not being ended
        capacity    = active x slots + the workers of managers of no block

    applies these rules, each decision logged with its numbers and kept in
    the stats file (scaling_last):

      - at the first evaluation, init_blocks;
      - scale out: while active < clamp(ceil((outstanding - workers of
        managers of no block) / slots), min_blocks, max_blocks), submit
        the difference. Pending blocks count as active, so demand that a
        queued pilot job will serve does not submit a second one;
      - scale in: with nothing queued here, a block whose managers have
        held no task for idle_time is cancelled, while active stays above
        both min_blocks and what the outstanding tasks need;
      - a block that FAILED, or that the scheduler HELD (cancelled then), is
        reported with the scheduler's reason and replaced only after a
        back-off that doubles with each failure in a row (1 s up to 60 s),
        reset once a block's manager says hello;
      - a block that ended (walltime, cancelled from outside, its manager
        killed): its managers' sessions end at once and their tasks go back
        to the front of the queue (not counted against them), then the
        rules above replace it if it is still needed.

    Managers of a block being ended retire (fx_ix_manager_retire): no new
    tasks, out of the window, while they finish what they hold.

    Window (SPEC 7): the interchange sees only the tasks the broker sent
    it, so while the provider can still bring capacity in, the window it
    announces covers max_blocks blocks (fx_ix_scaling_potential), not only
    the managers connected: with max_blocks 2 and no manager yet the broker
    still sends tasks, and those tasks are the demand that starts the
    blocks. What the endpoint holds never exceeds the window it announced.

    Adoption (SPEC 9.7): blocks an earlier run left running are adopted
    first and their managers get the adopt grace to say hello; nothing is
    submitted or cancelled meanwhile; then adopted blocks none of whose
    managers came back are cancelled and the rules take over. */
#ifndef FX_IX_SCALING_H
#define FX_IX_SCALING_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_ix_internal.h"
#include "fx_ix_provider.h"

typedef struct fx_ix_scaling_t fx_ix_scaling_t;

/* conf has no FX_IX_UNSET left in nodes_per_block and the block counts;
   conf and launch outlive the strategy. NULL with a sentence in err (the
   provider could not be made). */
fx_ix_scaling_t *fx_ix_scaling_new(const fx_ix_provider_conf_t *conf, const fx_ix_launch_t *launch,
                                   int64_t idle_ms, char *err, size_t errlen);
/* The same over the given provider (the unit test plays a scheduler). */
fx_ix_scaling_t *fx_ix_scaling_new_with(const fx_ix_provider_ops_t *ops, const fx_ix_provider_conf_t *conf,
                                        const fx_ix_launch_t *launch, int64_t idle_ms, char *err,
                                        size_t errlen);
void fx_ix_scaling_destroy(fx_ix_scaling_t **self_p);

/* Adopt the blocks of an earlier run and wait until now + grace_ms for
   their managers. Returns how many blocks were adopted. */
int fx_ix_scaling_adopt(fx_ix_scaling_t *self, int64_t now, int grace_ms);

/* Phase 5. takes_work false (draining, leaving): nothing new is submitted
   and the adopt grace ends. Cheap when called before fx_ix_scaling_next. */
void fx_ix_scaling_tick(fx_ix_scaling_t *self, fx_ix_work_t *w, int64_t now, bool takes_work);

/* When the next evaluation is due (the loop's poller timeout). */
int64_t fx_ix_scaling_next(const fx_ix_scaling_t *self);

/* The window max_blocks blocks would announce: max_blocks x
   nodes_per_block x (workers + prefetch). 0 for NULL or max_blocks 0. */
uint64_t fx_ix_scaling_potential(const fx_ix_scaling_t *self);

/* The endpoint stops: end every block, waiting at most timeout_ms for
   local managers. */
void fx_ix_scaling_stop(fx_ix_scaling_t *self, int timeout_ms);

#endif
