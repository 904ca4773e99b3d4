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

    Cost: O(1) per add and per acked id; a batch is O(its size). */
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

/* A RESULTS message with copies of the first pending results, at most
   FX_BATCH_MAX; NULL if none is pending or on OOM. After sending it, call
   fx_ix_results_sent with its count. */
fx_msg_t *fx_ix_results_batch(fx_ix_results_t *self);

/* The first count pending results went out: they are unacked now. Returns
   how many of them went out for the first time (not a resend). */
size_t fx_ix_results_sent(fx_ix_results_t *self, size_t count);

/* The broker acknowledged these ids. Returns how many were unacked here. */
size_t fx_ix_results_ack(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count);

/* One (task id, manager id) pair: that manager sent the result of that
   task, and the broker has now acknowledged it. */
typedef struct {
    fx_id_text_t task_id;
    fx_id_text_t manager_id;
} fx_ix_ack_pair_t;

/* As fx_ix_results_ack; also appends to *pairs (realloc'd, *npairs
   updated; the caller frees) one pair per sender of each acked result.
   On OOM the pairs are cut short (those managers resend and are acked
   later); the results are forgotten all the same. */
size_t fx_ix_results_ack_senders(fx_ix_results_t *self, const fx_id_text_t *ids, size_t count,
                                 fx_ix_ack_pair_t **pairs, size_t *npairs);

/* Make every unacked result pending again, ahead of the others, in the
   order they were first sent. */
void fx_ix_results_resend_all(fx_ix_results_t *self);

size_t fx_ix_results_pending(fx_ix_results_t *self);
size_t fx_ix_results_unacked(fx_ix_results_t *self);
/* Pending results never sent yet: the ones the broker still counts against
   this endpoint's window. */
size_t fx_ix_results_unsent(fx_ix_results_t *self);

#endif
