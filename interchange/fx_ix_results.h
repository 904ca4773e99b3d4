/*  fx_ix_results.h: results on their way to the broker.

    A result from a manager is "pending" until a RESULTS message carrying it
    left for the broker, then "unacked" until the broker's RESULTS_ACK names
    it (the broker has committed it). After the link to the broker is
    re-established every unacked result is pending again and is resent; the
    broker deduplicates by task id. One result per task id is kept: a second
    result for a task already here is dropped, but the manager that sent it
    is remembered as a sender too.

    Each result remembers the managers that sent it (none for a result the
    interchange made itself, e.g. a cancellation). When the broker's
    RESULTS_ACK names it, the caller learns those senders and passes the
    ack on to them (SPEC 6.3, 8.3): a manager forgets a result only after
    the broker committed it.

    A result's frames are moved in once and never copied: a RESULTS batch
    borrows them (and the error text), and sends them shared
    (fx_ix_wire.h).

    Cost: O(1) per add, per result sent and per acked id; one allocation
    per result (a second sender of the same result adds one). */
#ifndef FX_IX_RESULTS_H
#define FX_IX_RESULTS_H

#include <stddef.h>

#include "fx_msg.h"

typedef struct fx_ix_results_t fx_ix_results_t;

/* Caller owns the store. NULL only on OOM. */
fx_ix_results_t *fx_ix_results_new(void);
void fx_ix_results_destroy(fx_ix_results_t **self_p);

/* Take a result, moving its text and frames out of *result (left empty).
   FX_OK; FX_E_CONFLICT if a result for this task id is here already (the
   new one is left untouched); FX_E_NOMEM. */
int fx_ix_results_add(fx_ix_results_t *self, fx_result_t *result);

/* The same, for a result that manager_id sent (NULL: none). On
   FX_E_CONFLICT the manager is added to the held result's senders. */
int fx_ix_results_add_from(fx_ix_results_t *self, fx_result_t *result, const char *manager_id);

/* The next batch: up to max of the first pending results, stamped
   FX_TIME_IX_RESULT = stamp (wall-clock us), as records (borrowing the
   error text: do not free them) and their frames (value, output: 2 per
   record, borrowed). Returns how many; after sending them, call
   fx_ix_results_sent with that count (before any other call here). */
size_t fx_ix_results_batch(fx_ix_results_t *self, fx_result_t *records, zframe_t **frames, size_t max,
                           uint64_t stamp);

/* The first count pending results went out: they are unacked now. Returns
   how many of them went out for the first time (not a resend). */
size_t fx_ix_results_sent(fx_ix_results_t *self, size_t count);

/* Called once per sender of each acknowledged result. */
typedef void(fx_ix_results_sender_fn)(void *ctx, const char *task_id, const char *manager_id);

/* The broker acknowledged these ids: those results are forgotten; for
   each sender of each, sender(ctx, task id, manager id) if sender is not
   NULL. Returns how many were held here. */
size_t fx_ix_results_ack(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count,
                         fx_ix_results_sender_fn *sender, void *ctx);

/* Make every unacked result pending again, ahead of the others, in the
   order they were first sent. */
void fx_ix_results_resend_all(fx_ix_results_t *self);

size_t fx_ix_results_pending(fx_ix_results_t *self);
size_t fx_ix_results_unacked(fx_ix_results_t *self);
/* Pending results never sent yet: the ones the broker still counts against
   this endpoint's window. */
size_t fx_ix_results_unsent(fx_ix_results_t *self);

#endif
