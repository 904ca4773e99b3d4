/*  fxb_hops.c: the per-hop breakdown of a round trip, from the stamps the
    components record (SPEC 12.5: the `times` field of task and result
    records, read back with the result's provenance). The driver's "hops
    KIND N" makes N sequential round trips and answers, per task, the 16
    stamps relative to stamp 0 in microseconds (-1 for a stamp nobody set);
    this file turns them into one duration per hop. */
#include <stdio.h>

#include "fxb_hops.h"

/* Each hop is the time between two events of SPEC 12.5. The SUBMIT's own
   sync (2 -> 3) is shown apart: dispatch does not wait for it (SPEC 8.1). */
const fxb_hop_t fxb_hops[FXB_HOPS] = {
    {0, 1, "client -> broker"},
    {1, 2, "broker: read -> task written"},
    {2, 4, "broker: written -> TASKS sent"},
    {2, 3, "broker: SUBMIT sync (off the path)"},
    {4, 5, "broker -> interchange"},
    {5, 6, "interchange: in -> out"},
    {6, 7, "interchange -> manager"},
    {7, 8, "manager -> worker, call starts"},
    {8, 9, "execution"},
    {9, 10, "worker -> manager -> RESULTS out"},
    {10, 11, "manager -> interchange -> out"},
    {11, 12, "interchange -> broker"},
    {12, 13, "broker: result read -> durable"},
    {13, 14, "broker: durable -> pushed"},
    {14, 15, "broker -> client"},
    {0, 15, "whole round trip (from stamps)"},
};

int fxb_hops_add(fxb_samples_t per_hop[FXB_HOPS], const fxb_samples_t *stamps)
{
    if (stamps->count % FXB_STAMPS != 0)
        return -1;
    for (size_t t = 0; t < stamps->count; t += FXB_STAMPS) {
        const double *s = stamps->v + t;
        for (int h = 0; h < FXB_HOPS; h++) {
            double from = s[fxb_hops[h].from], to = s[fxb_hops[h].to];
            if (from >= 0 && to >= 0)
                fxb_samples_add(&per_hop[h], to - from);
        }
    }
    return 0;
}
