/*  fx_ix_route_stats.c: the routing's rows of the stats file
    (fx_ix_stats.h): the strategy, totals of cold-start routings and of
    warm-wait's held tasks, and per manager and per container how many
    tasks went where. Tests read them with ept_stat. */
#include <inttypes.h>

#include "fx_ix_internal.h"

/* A container's name in a key: its id, "host" for "". */
static const char *s_key(const fx_ix_container_t *c)
{
    return c->id[0] ? c->id : "host";
}

/* Containers whose oldest queued task warm-wait refused a cold start, and
   which still wait. */
static uint64_t s_waiting(fx_ix_containers_t *cs)
{
    fx_ix_list_t *active = fx_ix_containers_active(cs);
    uint64_t n = 0;
    for (fx_ix_node_t *node = fx_ix_list_first(active); node; node = fx_ix_list_next(active, node)) {
        fx_ix_node_t *head = fx_ix_list_first(&FX_IX_RECORD(node, fx_ix_container_t, active)->queue);
        n += head && FX_IX_RECORD(head, fx_ix_task_t, lane)->held_until != 0;
    }
    return n;
}

void fx_ix_stats_routing(fx_ix_text_t *out, fx_ix_managers_t *managers)
{
    fx_ix_containers_t *cs = fx_ix_managers_containers(managers);
    uint64_t cold = 0, held = 0, expired = 0, served = 0;
    for (uint32_t slot = 0; slot < fx_ix_containers_count(cs); slot++) {
        const fx_ix_container_t *c = fx_ix_containers_at(cs, slot);
        cold += c->cold_routed;
        held += c->held_total;
        expired += c->held_expired;
        served += c->held_served;
    }
    fx_ix_text_add(out, "routing=%s\n", fx_ix_route_name(fx_ix_managers_route(managers)));
    fx_ix_text_add(out,
                   "tasks_cold_routed=%" PRIu64 "\ntasks_held=%" PRIu64 "\ntasks_held_now=%" PRIu64
                   "\ntasks_held_expired=%" PRIu64 "\ntasks_held_served=%" PRIu64 "\n",
                   cold, held, s_waiting(cs), expired, served);
    for (uint32_t slot = 0; slot < fx_ix_containers_count(cs); slot++) {
        const fx_ix_container_t *c = fx_ix_containers_at(cs, slot);
        const char *k = s_key(c);
        fx_ix_text_add(out,
                       "container.%s.routed=%" PRIu64 "\ncontainer.%s.cold=%" PRIu64 "\ncontainer.%s.held=%" PRIu64
                       "\ncontainer.%s.held_expired=%" PRIu64 "\ncontainer.%s.workers=%" PRIu64
                       "\ncontainer.%s.run_ms=%.0f\ncontainer.%s.start_ms=%.0f\n",
                       k, c->routed, k, c->cold_routed, k, c->held_total, k, c->held_expired, k, c->workers, k,
                       c->runs ? c->run_ms : -1.0, k, c->starts ? c->start_ms : -1.0);
    }
    for (fx_ix_manager_t *m = fx_ix_managers_first(managers); m; m = fx_ix_managers_next(managers)) {
        const char *id = fx_ix_manager_id(m);
        fx_ix_text_add(out, "manager.%s.routed=%" PRIu64 "\nmanager.%s.cold=%" PRIu64 "\n", id,
                       fx_ix_manager_routed(m), id, fx_ix_manager_cold_routed(m));
        for (size_t i = 0; i < fx_ix_manager_mc_count(m); i++) {
            const fx_ix_mc_t *mc = fx_ix_manager_mc_at(m, i);
            const fx_ix_container_t *c = fx_ix_containers_at(cs, mc->slot);
            if (c && (mc->routed || mc->workers))
                fx_ix_text_add(out, "manager.%s.routed.%s=%" PRIu64 "\n", id, s_key(c), mc->routed);
        }
    }
}
