/*  fx_interchange.h: the interchange, the agent a user starts as
    fx-endpoint: its configuration and its one event loop (Parsl HTEX's
    interchange, over fx's protocol). The only header other code includes.

    One zpoller loop serves the broker link, the managers' ROUTER and the
    ZAP handler of that ROUTER. Every pass runs the same phases in order,
    each in its own file (fx_ix_internal.h has the map):

        1. ZAP requests (admit manager.key's public key only)
        2. broker messages   (TASKS into the FIFO, RESULTS_ACK, COMMAND, ...)
        3. manager messages  (MANAGER_HELLO, CAPACITY or CREDIT, RESULTS, HEARTBEAT)
        4. expire managers silent for --heartbeat-missed periods (tasks requeued)
        5. blocks            (the provider polled; scale out and in; ended blocks'
                              managers dropped, their tasks requeued)
        6. dispatch          (FIFO -> managers the routing strategy picks, never
                              beyond a manager's window; CONTAINERS before the
                              first TASKS naming a container)
        7. send              (RESULTS batch, CREDIT, heartbeats, link liveness)

    Flow control: the CREDIT sent to the broker is the sum of the live
    managers' windows, or what max_blocks blocks would announce if that is
    more (the provider can still bring them in); the endpoint holds (queued
    + at managers + results not yet sent) at most that many tasks, as long
    as the broker honours it and no manager shrinks or is lost. */
#ifndef FX_INTERCHANGE_H
#define FX_INTERCHANGE_H

#include "fx_creds.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fx_ix_config.h"
#include "fx_ix_identity.h"
#include "fx_ix_provider.h"

typedef struct {
    const fx_creds_t *creds;
    fx_ix_identity_t *identity;            /* manager_bind is updated after the bind */
    const fx_ix_provider_conf_t *provider; /* the blocks: no FX_IX_UNSET in its counts */
    int64_t idle_ms;                       /* a block idle this long is ended (scale in) */
    int workers;                           /* per manager; FX_IX_WORKERS_AUTO: the node's cores */
    int prefetch;                          /* per manager; FX_IX_PREFETCH_AUTO: 2 x workers, >= 32 */
    const char *manager_bind;              /* ROUTER address for managers (may point into identity) */
    const char *manager_bind_fallback;     /* bound instead if manager_bind cannot be (NULL: none) */
    int heartbeat_ms;
    int heartbeat_missed;                  /* a peer silent this many periods is lost */
    int adopt_grace_ms;                    /* wait this long for adopted managers' hello */
    int stop_grace_ms;                     /* SIGTERM: wait this long for in-flight results */
    const char *stats_file;                /* NULL: no stats file */
    const char *config_path;               /* the config file read, for messages (NULL: none) */
    const fx_id_text_t *allowed_functions; /* NULL: every function may run here */
    size_t allowed_functions_count;
    const char *routing;                   /* the routing strategy (fx_ix_route.h); NULL: warming-aware */
    int queue_depth;                       /* tasks held here beyond the managers' windows, for the routing
                                              to choose from; FX_IX_QUEUE_AUTO: see fx_ix_flow.c */
    fx_ix_manager_opts_t manager_opts;     /* containers: passed on to every manager started */
} fx_interchange_conf_t;

/* queue_depth: 0 while no task, manager or definition has named a
   container, FX_IX_QUEUE_AUTO_DEPTH from then on (fx_ix_flow.c). */
#define FX_IX_QUEUE_AUTO (-1)
#define FX_IX_QUEUE_AUTO_DEPTH 4096

typedef struct fx_interchange_t fx_interchange_t;

/* Caller owns it; conf must outlive it. NULL with a sentence in err. */
fx_interchange_t *fx_interchange_new(const fx_interchange_conf_t *conf, char *err, size_t errlen);
void fx_interchange_destroy(fx_interchange_t **self_p);

/* The lifecycle of SPEC 6.5 (fx_ix_lifecycle.h), from STARTING to STOPPED:
   register the endpoint on the broker's client port, connect its link and
   wait for the WELCOME (prints the ready line), bind the managers' ROUTER,
   adopt or start the local managers, and serve until SIGTERM / SIGINT, a
   STOP command, or the end of a drain; then stop the managers. Returns the
   process exit code: 0 on a clean stop, 1 on a fatal error (already
   printed with what to do). */
int fx_interchange_run(fx_interchange_t *self);

#endif
