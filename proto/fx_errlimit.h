/*  fx_errlimit.h: a token bucket per peer for the ERRORs a server sends
    (SPEC 10.3: a broken or hostile peer must not make the broker spend its
    time on error replies or fill its log). Peers are told apart by routing
    id. Used by every server (broker ports, interchange, manager). */
#ifndef FX_ERRLIMIT_H
#define FX_ERRLIMIT_H

#include <czmq.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_limits.h"

/* A peer may get this many ERRORs in a burst, and this many per second
   after that: fx_limits.h. */
#define FX_ERRLIMIT_BURST FX_ERRORS_BURST
#define FX_ERRLIMIT_PER_SECOND FX_ERRORS_PER_SECOND

typedef struct _fx_errlimit_t fx_errlimit_t;

fx_errlimit_t *fx_errlimit_new(void);
void fx_errlimit_destroy(fx_errlimit_t **self_p);

/* May an ERROR go to this peer now (now = fx_now_ms)? Counts the ones that
   may not. */
bool fx_errlimit_allow(fx_errlimit_t *self, zframe_t *routing, int64_t now);

/* Sends ERROR(code, text) with seq to routing on sock if this peer's bucket
   allows it now (the text is only formatted then). True if it was sent. */
bool fx_errlimit_vsend(fx_errlimit_t *self, zsock_t *sock, zframe_t *routing, uint32_t seq, int code,
                       const char *fmt, va_list ap);

/* Forgets peers whose bucket has refilled; returns how many ERRORs were
   suppressed since the last call (for one log line). */
uint64_t fx_errlimit_tick(fx_errlimit_t *self, int64_t now);

#endif
