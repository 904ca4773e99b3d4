/*  fx_ix_lifecycle.h: the endpoint process's own lifecycle (SPEC 6.5), one
    enum and one transition function.

        STARTING     made; nothing on the network yet
        REGISTERING  REGISTER_ENDPOINT on the client port, then ENDPOINT_HELLO
                     until the broker's first WELCOME
        RUNNING      managers' port bound, managers started or adopted;
                     takes tasks and dispatches them
        DRAINING     COMMAND DRAIN: window 0, no dispatch; the results of
                     the tasks at managers go out and are acknowledged;
                     no time bound
        STOPPING     COMMAND STOP: as DRAINING, bounded by --stop-grace-ms
        LEAVING      SIGTERM/SIGINT: as STOPPING; a second signal ends it,
                     and managers of an earlier run are no longer waited
                     for nor replaced
        STOPPED      the loop is over: results at hand go out, the managers
                     get COMMAND STOP and are stopped, the stats file is
                     written, the process exits (0, or 1 after FATAL)

    fx_ix_life_next is pure: the table of SPEC 6.5 and nothing else. What
    entering a state does (log, deadline, COMMAND to the managers, the
    ready line) is in fx_interchange.c, which is the only caller. */
#ifndef FX_IX_LIFECYCLE_H
#define FX_IX_LIFECYCLE_H

#include <stdbool.h>

typedef enum {
    FX_IX_STARTING,
    FX_IX_REGISTERING,
    FX_IX_RUNNING,
    FX_IX_DRAINING,
    FX_IX_STOPPING,
    FX_IX_LEAVING,
    FX_IX_STOPPED,
} fx_ix_life_t;

typedef enum {
    FX_IX_EV_RUN,        /* fx_interchange_run began */
    FX_IX_EV_WELCOMED,   /* the broker's first WELCOME of this run */
    FX_IX_EV_DRAIN,      /* COMMAND DRAIN from the broker */
    FX_IX_EV_STOP,       /* COMMAND STOP from the broker */
    FX_IX_EV_SIGNAL,     /* SIGTERM or SIGINT */
    FX_IX_EV_DRAINED,    /* every task given to a manager has its result acknowledged by the broker */
    FX_IX_EV_GRACE_OVER, /* --stop-grace-ms passed since STOP or the signal */
    FX_IX_EV_FATAL,      /* the broker refused this endpoint for good, it did not answer the
                            registration, or something the endpoint needs failed: exit 1 */
} fx_ix_life_event_t;

#define FX_IX_LIFE_COUNT (FX_IX_STOPPED + 1)
#define FX_IX_EV_COUNT (FX_IX_EV_FATAL + 1)

/* The state after event in state (state itself where the table says
   "-": the event changes nothing there). */
fx_ix_life_t fx_ix_life_next(fx_ix_life_t state, fx_ix_life_event_t event);

/* True in the states that announce a window and dispatch (REGISTERING,
   RUNNING); false from DRAINING on: window 0, no dispatch. */
bool fx_ix_life_takes_work(fx_ix_life_t state);

/* True in DRAINING, STOPPING and LEAVING: the endpoint stops once DRAINED. */
bool fx_ix_life_draining(fx_ix_life_t state);

const char *fx_ix_life_name(fx_ix_life_t state);
const char *fx_ix_life_event_name(fx_ix_life_event_t event);

#endif
