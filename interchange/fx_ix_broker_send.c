/*  fx_ix_broker_send.c: phase 7 of the loop, what the interchange says to
    its forwarder: FUNCTION_FETCH for bodies it lacks (fx_ix_fetch.c),
    RESULTS batches, CREDIT and ENDPOINT_STATUS when they changed and with
    every heartbeat, HEARTBEAT; only while the link is ACTIVE. */
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

/* RESULTS batches (FX_BATCH_MAX at most, frames shared) until nothing is
   pending or the socket is full: what came in this pass leaves in it. */
static void s_send_results(fx_ix_link_t *link, fx_ix_work_t *w)
{
    while (fx_ix_results_pending(w->results) > 0) {
        size_t want = fx_ix_results_pending(w->results);
        if (want > FX_BATCH_MAX)
            want = FX_BATCH_MAX;
        if (fx_ix_scratch_reserve(&w->scratch, 0, want) != FX_OK) {
            fx_error("out of memory sending %zu result(s) to the broker; next pass", want);
            return;
        }
        size_t count = fx_ix_results_batch(w->results, w->scratch.results, w->scratch.frames, want,
                                           (uint64_t) fx_wall_us());
        fx_msg_t msg = {.type = FX_MSG_RESULTS,
                        .results = {.count = (uint32_t) count, .results = w->scratch.results}};
        int rc = fx_ix_link_send_shared(link, &msg, FX_IX_SEQ_REQUEST, w->scratch.frames, 2 * count);
        if (rc != FX_OK) {
            if (rc != FX_E_IO)
                fx_error("cannot encode RESULTS for the broker: %s", fx_strerror(rc));
            return; /* the results stay pending: next pass */
        }
        size_t first = fx_ix_results_sent(w->results, count);
        w->stats.results_sent += first;
        w->stats.results_resent += count - first;
    }
}

static void s_send_credit(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_sent_t *sent, uint32_t window, bool beat)
{
    if (sent->credit_sent && window == w->stats.window && !beat)
        return;
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    if (!msg)
        return;
    msg->credit.window = window;
    if (fx_ix_link_send(link, &msg, FX_IX_SEQ_NONE) == FX_OK) {
        fx_ix_stats_note_window(&w->stats, window);
        sent->credit_sent = true;
    }
}

static uint32_t s_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

/* The per-container records of ENDPOINT_STATUS (SPEC 5.25): each
   container with a worker at some manager, summed from their CAPACITY;
   into out (FX_CONTAINERS_MAX at most). */
static uint32_t s_containers(fx_ix_work_t *w, fx_endpoint_container_t *out)
{
    fx_ix_containers_t *cs = fx_ix_managers_containers(w->managers);
    uint32_t n = 0;
    for (uint32_t slot = 0; slot < fx_ix_containers_count(cs) && n < FX_CONTAINERS_MAX; slot++) {
        const fx_ix_container_t *c = fx_ix_containers_at(cs, slot);
        if (!c->managers || (c->id[0] && !fx_id_valid(c->id)))
            continue; /* CAPACITY names ids only: the check is for the encoder's sake */
        fx_endpoint_container_t *r = &out[n++];
        memset(r, 0, sizeof *r);
        fx_strlcpy(r->container_id, c->id, sizeof r->container_id);
        r->managers = s_u32(c->managers);
        r->idle = s_u32(c->idle);
        r->busy = s_u32(c->busy);
        r->starting = s_u32(c->starting);
    }
    return n;
}

/* ENDPOINT_STATUS when managers, workers, free slots or the container
   records changed, and with every heartbeat. The records are made again
   only after a CAPACITY (or a manager gone) changed what they sum. */
static void s_send_status(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_sent_t *sent, bool beat)
{
    uint32_t now[3] = {s_u32(fx_ix_managers_size(w->managers)), s_u32(fx_ix_managers_workers(w->managers)),
                       s_u32(fx_ix_managers_free(w->managers))};
    uint64_t gen = fx_ix_containers_status_gen(fx_ix_managers_containers(w->managers));
    fx_endpoint_container_t records[FX_CONTAINERS_MAX];
    uint32_t n = sent->ncontainers;
    bool changed = false;
    if (gen != sent->containers_gen) {
        n = s_containers(w, records);
        changed = n != sent->ncontainers || memcmp(records, sent->containers, n * sizeof records[0]) != 0;
    }
    else
        memcpy(records, sent->containers, n * sizeof records[0]);
    if (sent->status_sent && memcmp(now, sent->status, sizeof now) == 0 && !changed && !beat) {
        sent->containers_gen = gen;
        return;
    }
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_STATUS);
    if (!msg || (n && fx_msg_alloc_records(msg, n) != FX_OK)) {
        fx_msg_destroy(&msg);
        return;
    }
    msg->endpoint_status.managers = now[0];
    msg->endpoint_status.workers = now[1];
    msg->endpoint_status.free = now[2];
    if (n)
        memcpy(msg->endpoint_status.containers, records, n * sizeof records[0]);
    if (fx_ix_link_send(link, &msg, FX_IX_SEQ_NONE) == FX_OK) {
        memcpy(sent->status, now, sizeof now);
        memcpy(sent->containers, records, n * sizeof records[0]);
        sent->ncontainers = n;
        sent->containers_gen = gen;
        sent->status_sent = true;
    }
}

void fx_ix_broker_send(fx_ix_link_t *link, fx_ix_work_t *w, fx_ix_sent_t *sent, uint32_t window, bool beat)
{
    if (fx_ix_link_state(link) != FX_IX_LINK_ACTIVE)
        return;
    fx_ix_fetch_send(link, w);
    s_send_results(link, w);
    s_send_credit(link, w, sent, window, beat);
    s_send_status(link, w, sent, beat);
    if (beat) {
        fx_msg_t *msg = fx_msg_new(FX_MSG_HEARTBEAT);
        if (msg)
            fx_ix_link_send(link, &msg, FX_IX_SEQ_NONE);
    }
}
