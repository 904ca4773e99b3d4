/*  fxb_hops.h: the hops of a round trip, between the events of SPEC 12.5,
    and their durations from the stamps of many tasks. */
#ifndef FXB_HOPS_H
#define FXB_HOPS_H

#include "fxb.h"

#define FXB_STAMPS 16   /* events of SPEC 12.5 (FX_TIMES_MAX) */
#define FXB_HOPS 16

typedef struct {
    int from, to;       /* event indexes */
    const char *name;
} fxb_hop_t;

extern const fxb_hop_t fxb_hops[FXB_HOPS];

/* stamps holds FXB_STAMPS values per task (relative microseconds, -1 =
   not set); adds each hop's duration, where both its stamps are set, to
   per_hop[hop]. 0, or -1 if stamps is not a whole number of tasks. */
int fxb_hops_add(fxb_samples_t per_hop[FXB_HOPS], const fxb_samples_t *stamps);

#endif
