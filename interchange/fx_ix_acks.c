/*  fx_ix_acks.c: RESULTS_ACK from the broker, passed on. The acked results
    are forgotten here, and only now is each manager that sent some of them
    told, in one RESULTS_ACK with their ids (SPEC 5.12, 6.3, 8.3): a manager
    keeps a result until the broker has committed it. A manager no longer
    connected is skipped; it resends after its next WELCOME.

    Each acked result names its senders by manager id; each is found by id
    (a hash) and gathers the ids in its own scratch, so an ack costs O(1)
    per id, however many managers are connected. */
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

/* One (task, sender) of an acked result: to that manager's ids. */
static void s_gather(void *ctx, const char *task_id, const char *manager_id)
{
    fx_ix_work_t *w = ctx;
    fx_ix_manager_t *m = fx_ix_managers_by_id(w->managers, manager_id);
    if (!m) {
        w->stats.acks_skipped++; /* gone: it resends to whichever interchange welcomes it next */
        return;
    }
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    if (!s->touched) {
        if (fx_ix_scratch_touch(&w->scratch, m) != FX_OK) {
            w->stats.acks_skipped++; /* out of memory: it resends, and is acked then */
            return;
        }
        s->touched = true;
    }
    if (fx_ix_manager_gather(m, task_id) != FX_OK)
        w->stats.acks_skipped++;
}

/* RESULTS_ACK to m with the ids it gathered, at most FX_IDS_MAX a message. */
static void s_ack_manager(fx_ix_work_t *w, fx_ix_port_t *port, fx_ix_manager_t *m)
{
    fx_ix_manager_scratch_t *s = fx_ix_manager_scratch(m);
    for (uint32_t at = 0; at < s->nids;) {
        uint32_t n = s->nids - at > FX_IDS_MAX ? FX_IDS_MAX : s->nids - at;
        fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS_ACK);
        if (msg && fx_msg_alloc_records(msg, n) == FX_OK) {
            memcpy(msg->ids.ids, s->ids + at, n * sizeof *s->ids);
            if (fx_ix_port_send_to(port, m, &msg) == FX_OK)
                w->stats.acks_to_managers += n;
            else
                fx_warn("cannot pass RESULTS_ACK of %u result(s) on to manager %s; it resends "
                        "them after its next WELCOME",
                        n, fx_ix_manager_id(m));
        }
        fx_msg_destroy(&msg);
        at += n;
    }
    s->nids = 0;
    s->touched = false;
}

void fx_ix_acks(fx_ix_work_t *w, fx_ix_port_t *port, const fx_msg_t *ack)
{
    /* acks answer our RESULTS batches; any id we hold is taken as safe */
    w->scratch.ntouched = 0;
    w->stats.results_acked +=
        fx_ix_results_ack(w->results, ack->ids.ids, ack->ids.count, port ? s_gather : NULL, w);
    for (size_t i = 0; i < w->scratch.ntouched; i++)
        s_ack_manager(w, port, w->scratch.touched[i]);
    w->scratch.ntouched = 0;
}
