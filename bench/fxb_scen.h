/*  fxb_scen.h: the scenarios of fx-bench, one function each, and the
    floor every other scenario is compared with. */
#ifndef FXB_SCEN_H
#define FXB_SCEN_H

#include <stdbool.h>

#include "fxb.h"

typedef struct {
    fxb_opts_t opts;
    fxb_report_t *floor;   /* measured in this invocation or read from --floor-from */
} fxb_ctx_t;

/* Floor figures the others use, as "case" and "metric" of the floor table. */
#define FXB_FLOOR_RTT "rtt 64 B"                 /* p50 p90 p99 max, us */
#define FXB_FLOOR_RTT_SYNC "rtt + fdatasync"     /* p50, us: the latency floor */
#define FXB_FLOOR_PIPE "pipelined 64 B"          /* "window N" msgs/s */
#define FXB_FLOOR_BATCH "batched 256 x 64 B"     /* records/s */
#define FXB_FLOOR_SYNC "fdatasync 4 KiB"         /* p50 p99, us */
#define FXB_FLOOR_PAYLOAD "payload"              /* "payload SIZE": "round trip" ms, MB/s */

/* The physical floor; quick: fewer round trips (the short floor another
   scenario runs first). Sets ctx->floor. 0 or 1 (failed). */
int fxb_floor(fxb_ctx_t *ctx, bool quick);
/* ctx->floor, measuring a quick one now if neither this invocation nor
   --floor-from gave one. NULL if that failed. */
const fxb_report_t *fxb_floor_need(fxb_ctx_t *ctx);
/* A floor figure, "case/metric" in name (for the table), its value. */
double fxb_floor_value(fxb_ctx_t *ctx, const char *case_name, const char *metric, char *name, size_t cap);

int fxb_latency(fxb_ctx_t *ctx);
int fxb_throughput(fxb_ctx_t *ctx);
int fxb_payload(fxb_ctx_t *ctx);
int fxb_broker(fxb_ctx_t *ctx);
int fxb_peers(fxb_ctx_t *ctx);
int fxb_scale(fxb_ctx_t *ctx);
int fxb_routing(fxb_ctx_t *ctx);

/* Bytes as "1 KiB", "10 MiB". */
void fxb_size_name(double bytes, char *out, size_t cap);

#endif
