/*  fx_ix_stats.c: the counters of one fx-endpoint run (fx_ix_stats.h): the
    held-against-window bookkeeping, and the stats file as key=value lines
    written atomically (common/fx_file.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "fx_file.h"
#include "fx_ix_batch.h"
#include "fx_ix_stats.h"

void fx_ix_stats_note_held(fx_ix_stats_t *self, uint64_t held)
{
    if (held > self->held && held > self->window)
        self->held_over_window++;
    self->held = held;
    if (held > self->max_held) {
        self->max_held = held;
        self->window_at_max_held = self->window;
    }
}

void fx_ix_stats_note_window(fx_ix_stats_t *self, uint64_t window)
{
    self->window = window;
    if (window > self->max_window_announced)
        self->max_window_announced = window;
}

int fx_ix_stats_write(const fx_ix_stats_t *self, const char *path, const char *extra)
{
    struct {
        const char *key;
        uint64_t value;
    } rows[] = {
        {"tasks_received", self->tasks_received},
        {"tasks_duplicate", self->tasks_duplicate},
        {"tasks_dispatched", self->tasks_dispatched},
        {"tasks_requeued", self->tasks_requeued},
        {"tasks_cancelled", self->tasks_cancelled},
        {"tasks_forbidden", self->tasks_forbidden},
        {"tasks_waited", self->tasks_waited},
        {"tasks_not_found", self->tasks_not_found},
        {"function_fetches", self->function_fetches},
        {"versions_fetched", self->versions_fetched},
        {"bodies_received", self->bodies_received},
        {"bodies_from_tasks", self->bodies_from_tasks},
        {"tasks_waiting", self->tasks_waiting},
        {"bodies_cached", self->bodies_cached},
        {"bodies_cached_bytes", self->bodies_cached_bytes},
        {"bodies_evicted", self->bodies_evicted},
        {"results_received", self->results_received},
        {"results_sent", self->results_sent},
        {"results_resent", self->results_resent},
        {"results_acked", self->results_acked},
        {"acks_to_managers", self->acks_to_managers},
        {"acks_skipped", self->acks_skipped},
        {"managers_lost", self->managers_lost},
        {"broker_rehellos", self->broker_rehellos},
        {"bad_messages", self->bad_messages},
        {"capacities", self->capacities},
        {"credits", self->credits},
        {"container_defs", self->container_defs},
        {"container_defs_sent", self->container_defs_sent},
        {"errors_suppressed", self->errors_suppressed},
        {"held", self->held},
        {"window", self->window},
        {"max_held", self->max_held},
        {"max_window_announced", self->max_window_announced},
        {"window_at_max_held", self->window_at_max_held},
        {"held_over_window", self->held_over_window},
        {"blocks_submitted", self->blocks_submitted},
        {"blocks_cancelled", self->blocks_cancelled},
        {"blocks_failed", self->blocks_failed},
        {"blocks_ended", self->blocks_ended},
        {"blocks_active", self->blocks_active},
        {"blocks_connected", self->blocks_connected},
        {"scaling_outstanding", self->scaling_outstanding},
        {"scaling_capacity", self->scaling_capacity},
        {"window_potential", self->window_potential},
    };
    fx_ix_text_t text = {0};
    fx_ix_text_add(&text, "# fx-endpoint counters; held = queued + at managers + results not yet "
                          "sent; invariant: held <= window announced last\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        fx_ix_text_add(&text, "%s=%" PRIu64 "\n", rows[i].key, rows[i].value);
    if (self->scaling_last[0])
        fx_ix_text_add(&text, "scaling_last=%s\n", self->scaling_last);
    if (extra)
        fx_ix_text_add(&text, "%s", extra);
    if (text.oom) {
        fx_ix_text_free(&text);
        errno = ENOMEM;
        return -1;
    }
    int rc = fx_file_write_atomic(path, text.data, text.len, 0644, 0);
    fx_ix_text_free(&text);
    return rc;
}
