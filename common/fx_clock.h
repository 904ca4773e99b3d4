/*  fx_clock.h: the clocks fx reads.

    Deadlines, heartbeats and rate limits use the monotonic clock (immune to
    the wall clock being set); timestamps that leave the process (logs,
    provenance) use the wall clock. */
#ifndef FX_CLOCK_H
#define FX_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC). */
int64_t fx_now_ms(void);

/* Monotonic microseconds, for timing hops. */
int64_t fx_now_us(void);

/* Wall-clock microseconds since the epoch (CLOCK_REALTIME). */
int64_t fx_wall_us(void);

#endif
