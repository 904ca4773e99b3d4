/*  fx_ix_stats.h: counters of one fx-endpoint run, for tests and benchmarks.

    "held" is what the endpoint holds against the window it announced to
    the broker: tasks queued + tasks in flight to managers + results not yet
    sent. The flow-control invariant is held <= the window announced last;
    max_held and window_at_max_held let a test check it after the fact.
    Written as key=value lines via a temporary file and rename, so a reader
    never sees half a file. There are more rows than fx_kv_load takes:
    read it line by line (the tests' ept_stat, fxharness.read_stats). */
#ifndef FX_IX_STATS_H
#define FX_IX_STATS_H

#include <stdint.h>

typedef struct {
    uint64_t tasks_received;    /* distinct tasks taken from the broker */
    uint64_t tasks_duplicate;   /* tasks refused because already held */
    uint64_t tasks_dispatched;  /* task hand-overs to managers (incl. re-dispatch) */
    uint64_t tasks_requeued;    /* tasks given back by lost or replaced managers */
    uint64_t tasks_cancelled;   /* tasks removed from the queue by CANCEL */
    uint64_t tasks_forbidden;   /* tasks refused: their function is not in allowed_functions */
    uint64_t tasks_waited;      /* tasks that waited for their version's body (fx_ix_fetch.c) */
    uint64_t tasks_not_found;   /* ... and ended FX_E_NOT_FOUND: no such version */
    uint64_t function_fetches;  /* FUNCTION_FETCH messages sent */
    uint64_t versions_fetched;  /* versions asked for in them */
    uint64_t bodies_received;   /* bodies in FUNCTION_BODIES */
    uint64_t bodies_from_tasks; /* TASKS records that carried a body of a version */
    uint64_t tasks_waiting;     /* now: waiting for a body */
    uint64_t bodies_cached;     /* now: versions in the body cache */
    uint64_t bodies_cached_bytes;
    uint64_t bodies_evicted;   /* cache entries dropped by its cap (fx_ix_bodies.h) */
    uint64_t results_received; /* results from managers */
    uint64_t results_sent;     /* results sent to the broker for the first time */
    uint64_t results_resent;   /* ... and again after a re-hello */
    uint64_t results_acked;
    uint64_t acks_to_managers; /* task ids passed on in RESULTS_ACK to the managers that sent them */
    uint64_t acks_skipped;     /* ... not passed on: that manager was gone */
    uint64_t managers_lost;
    uint64_t broker_rehellos;
    uint64_t bad_messages;      /* malformed or refused messages from managers */
    uint64_t capacities;        /* CAPACITY messages from managers */
    uint64_t credits;           /* CREDIT messages from managers */
    uint64_t container_defs;    /* container definitions from the broker (CONTAINERS) */
    uint64_t container_defs_sent; /* ... passed on to managers */
    uint64_t errors_suppressed; /* ERROR replies not sent: over the rate limit */
    uint64_t held;              /* now */
    uint64_t window;            /* announced last */
    uint64_t max_held;
    uint64_t max_window_announced;
    uint64_t window_at_max_held; /* window announced last when max_held was reached */
    uint64_t held_over_window;   /* times held was seen above the window announced last */
    /* blocks (fx_ix_scaling.h): counted since the start, then as of the last evaluation */
    uint64_t blocks_submitted;
    uint64_t blocks_cancelled;    /* scale in, or adopted ones that stayed silent */
    uint64_t blocks_failed;       /* failed or held: retried with back-off */
    uint64_t blocks_ended;        /* every end, the above included */
    uint64_t blocks_active;       /* now: submitting, pending or running, not being ended */
    uint64_t blocks_connected;    /* now: with a manager connected */
    uint64_t scaling_outstanding; /* now: tasks held (queued + at managers) */
    uint64_t scaling_capacity;    /* now: worker slots of active blocks and of managers of no block */
    uint64_t window_potential;    /* the window the blocks could fill (max_blocks of them) */
    char scaling_last[512];       /* the last scaling decision, as logged */
} fx_ix_stats_t;

/* Record the current held count against the window announced last. */
void fx_ix_stats_note_held(fx_ix_stats_t *self, uint64_t held);

/* Record a CREDIT sent to the broker. */
void fx_ix_stats_note_window(fx_ix_stats_t *self, uint64_t window);

/* Write the counters to path, then the rows of extra (NULL: none). 0 or
   -1 (errno). */
int fx_ix_stats_write(const fx_ix_stats_t *self, const char *path, const char *extra);

#endif
