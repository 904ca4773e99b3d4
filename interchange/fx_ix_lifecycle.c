/*  fx_ix_lifecycle.c: the table of the endpoint's lifecycle (SPEC 6.5). */
#include "fx_ix_lifecycle.h"

fx_ix_life_t fx_ix_life_next(fx_ix_life_t state, fx_ix_life_event_t event)
{
    if (state == FX_IX_STOPPED)
        return FX_IX_STOPPED; /* the end: nothing moves it */
    if (event == FX_IX_EV_FATAL)
        return FX_IX_STOPPED; /* from any state: exit 1 */
    switch (state) {
    case FX_IX_STARTING:
        return event == FX_IX_EV_RUN ? FX_IX_REGISTERING : state;
    case FX_IX_REGISTERING:
        if (event == FX_IX_EV_WELCOMED)
            return FX_IX_RUNNING;
        if (event == FX_IX_EV_SIGNAL)
            return FX_IX_STOPPED; /* nothing started yet: exit 0 at once */
        return state;             /* no session, so no COMMAND: nothing else */
    case FX_IX_RUNNING:
    case FX_IX_DRAINING:
        if (event == FX_IX_EV_DRAIN)
            return FX_IX_DRAINING;
        if (event == FX_IX_EV_STOP)
            return FX_IX_STOPPING;
        if (event == FX_IX_EV_SIGNAL)
            return FX_IX_LEAVING;
        if (event == FX_IX_EV_DRAINED && state == FX_IX_DRAINING)
            return FX_IX_STOPPED;
        return state;
    case FX_IX_STOPPING:
        if (event == FX_IX_EV_SIGNAL)
            return FX_IX_LEAVING; /* the signal's own grace, from now */
        if (event == FX_IX_EV_DRAINED || event == FX_IX_EV_GRACE_OVER)
            return FX_IX_STOPPED;
        return state; /* DRAIN, STOP: stopping already */
    case FX_IX_LEAVING:
        if (event == FX_IX_EV_SIGNAL || event == FX_IX_EV_DRAINED || event == FX_IX_EV_GRACE_OVER)
            return FX_IX_STOPPED; /* a second signal stops at once */
        return state;
    case FX_IX_STOPPED:
        break;
    }
    return state;
}

bool fx_ix_life_takes_work(fx_ix_life_t state)
{
    return state == FX_IX_REGISTERING || state == FX_IX_RUNNING;
}

bool fx_ix_life_draining(fx_ix_life_t state)
{
    return state == FX_IX_DRAINING || state == FX_IX_STOPPING || state == FX_IX_LEAVING;
}

const char *fx_ix_life_name(fx_ix_life_t state)
{
    static const char *names[FX_IX_LIFE_COUNT] = {
        [FX_IX_STARTING] = "STARTING", [FX_IX_REGISTERING] = "REGISTERING", [FX_IX_RUNNING] = "RUNNING",
        [FX_IX_DRAINING] = "DRAINING", [FX_IX_STOPPING] = "STOPPING",       [FX_IX_LEAVING] = "LEAVING",
        [FX_IX_STOPPED] = "STOPPED",
    };
    return (unsigned) state < FX_IX_LIFE_COUNT ? names[state] : "?";
}

const char *fx_ix_life_event_name(fx_ix_life_event_t event)
{
    static const char *names[FX_IX_EV_COUNT] = {
        [FX_IX_EV_RUN] = "run",
        [FX_IX_EV_WELCOMED] = "welcomed",
        [FX_IX_EV_DRAIN] = "COMMAND DRAIN",
        [FX_IX_EV_STOP] = "COMMAND STOP",
        [FX_IX_EV_SIGNAL] = "signal",
        [FX_IX_EV_DRAINED] = "drained",
        [FX_IX_EV_GRACE_OVER] = "grace over",
        [FX_IX_EV_FATAL] = "fatal",
    };
    return (unsigned) event < FX_IX_EV_COUNT ? names[event] : "?";
}
