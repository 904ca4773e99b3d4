/*  fx_ix_acks.c: RESULTS_ACK from the broker, passed on. The acked results
    are forgotten here, and only now is each manager that sent some of them
    told, in one RESULTS_ACK with their ids (SPEC 5.12, 6.3, 8.3): a manager
    keeps a result until the broker has committed it. A manager no longer
    connected is skipped; it resends after its next WELCOME. */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

static int s_pair_cmp(const void *a, const void *b)
{
    const fx_ix_ack_pair_t *x = a, *y = b;
    return strcmp(x->manager_id, y->manager_id);
}

/* RESULTS_ACK to each manager named in pairs (sorted here), with the task
   ids of its pairs, at most FX_IDS_MAX a message. */
static void s_ack_managers(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_ack_pair_t *pairs, size_t npairs)
{
    qsort(pairs, npairs, sizeof *pairs, s_pair_cmp);
    for (size_t i = 0; i < npairs;) {
        size_t end = i + 1;
        while (end < npairs && end - i < FX_IDS_MAX &&
               strcmp(pairs[end].manager_id, pairs[i].manager_id) == 0)
            end++;
        fx_ix_manager_t *m = fx_ix_managers_by_id(w->managers, pairs[i].manager_id);
        if (!m) {
            /* gone: it resends to whichever interchange welcomes it next */
            w->stats.acks_skipped += end - i;
        }
        else {
            fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS_ACK);
            if (msg && fx_msg_alloc_records(msg, (uint32_t) (end - i)) == FX_OK) {
                for (size_t k = i; k < end; k++)
                    memcpy(msg->ids.ids[k - i], pairs[k].task_id, sizeof msg->ids.ids[0]);
                if (fx_ix_port_send(port, fx_ix_manager_routing(m), &msg, 0) == FX_OK)
                    w->stats.acks_to_managers += end - i;
                else
                    fx_warn("cannot pass RESULTS_ACK of %zu result(s) on to manager %s; it resends "
                            "them after its next WELCOME",
                            end - i, fx_ix_manager_id(m));
            }
            fx_msg_destroy(&msg);
        }
        i = end;
    }
}

void fx_ix_acks(fx_ix_work_t *w, fx_ix_port_t *port, const fx_msg_t *ack)
{
    /* acks answer our RESULTS batches; any id we hold is taken as safe */
    fx_ix_ack_pair_t *pairs = NULL;
    size_t npairs = 0;
    w->stats.results_acked +=
        fx_ix_results_ack_senders(w->results, ack->ids.ids, ack->ids.count, &pairs, &npairs);
    if (port && npairs > 0)
        s_ack_managers(w, port, pairs, npairs);
    free(pairs);
}
